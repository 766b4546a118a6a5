//! `config.toml`, its defaults, and where burrow keeps things (XDG).
//! Owns reading and validating the file and resolving directories; the
//! only thing it creates is the private runtime directory, and it never
//! touches the store's contents.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error("BURROW_CONFIG points at {}, which does not exist", .0.display())]
    MissingExplicit(PathBuf),

    /// A syntax error, an unknown key, a wrong type or a bad value, at a
    /// place in the file. Displays as one line plus the line of the file
    /// with a caret under the fault.
    #[error("{}:{line}:{column}: {}{message}\n{excerpt}", .path.display(), key_prefix(.key))]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        /// `storage.root`, `registries.search[1]`: the key at fault, when
        /// the fault is in a value or a key rather than in the syntax.
        key: Option<String>,
        message: String,
        excerpt: String,
    },

    #[error("cannot find your home directory: HOME is not set and uid {uid} has no passwd entry")]
    NoHome { uid: u32 },

    #[error("runtime directory {}: {why}", .path.display())]
    RuntimeDir { path: PathBuf, why: String },

    #[error(
        "storage root {} is on {fs}, a network filesystem that cannot hold overlay upper \
         directories or lock reliably{}; set storage.root in {} to a local directory, e.g. \
         `root = \"/var/tmp/$USER/burrow\"` under [storage] (or one under $XDG_RUNTIME_DIR, \
         which is emptied at logout), or set storage.allow_network_fs = true to use it anyway",
        .path.display(), probed_suffix(.path, .probed), .config_file.display()
    )]
    NetworkFs {
        fs: &'static str,
        /// The storage root.
        path: PathBuf,
        /// The nearest existing directory at or above it, which was probed.
        probed: PathBuf,
        config_file: PathBuf,
    },

    #[error("cannot find the filesystem of {} (statfs): {source}", .path.display())]
    Statfs { path: PathBuf, source: io::Error },

    /// A storage root another user could have prepared or can still
    /// change: its layers would run as your containers' root.
    #[error(
        "storage root {} is not safe: {} {why}, so another user could plant or swap images          and layers there; {}",
        .path.display(), .culprit.display(), unsafe_fix(.culprit, .path, .config_file)
    )]
    UnsafeStorage {
        path: PathBuf,
        /// The directory at fault: the root, one of its own directories,
        /// or a parent.
        culprit: PathBuf,
        why: String,
        config_file: PathBuf,
    },
}

fn unsafe_fix(culprit: &Path, root: &Path, config_file: &Path) -> String {
    let moved = format!(
        "or set storage.root in {} to a directory only you can change (burrow makes it, \
         mode 0700)",
        config_file.display()
    );
    if culprit.starts_with(root) {
        format!(
            "if it is yours, `chmod go-w {}`; if not, have it removed, {moved}",
            culprit.display()
        )
    } else {
        moved
    }
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default()
}

fn probed_suffix(path: &Path, probed: &Path) -> String {
    if path == probed {
        String::new()
    } else {
        format!(
            " (found at {}, its nearest existing parent)",
            probed.display()
        )
    }
}

/// Every key of `config.toml`. `packaging/config.toml` documents each one
/// with its default; keep the two in step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub storage: StorageConfig,
    pub registries: RegistriesConfig,
    pub logs: LogsConfig,
    pub network: NetworkConfig,
    pub userns: UsernsConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where images, layers and containers live (default
    /// `$XDG_DATA_HOME/burrow/storage`). `~` and `$VARIABLE`s are expanded
    /// when the paths are resolved; the result must be absolute. As read,
    /// before expansion: use `Paths::storage` for the directory.
    pub root: Option<PathBuf>,
    /// Use a storage root on a network filesystem (NFS, SMB, Lustre, ...)
    /// instead of refusing it. Off by default: overlay upper directories
    /// and file locks do not work reliably there.
    pub allow_network_fs: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistriesConfig {
    /// Registries tried, in order, for an unqualified image name
    /// (`host` or `host:port`, no scheme, no path).
    pub search: Vec<String>,
    /// Registries reached over plain HTTP instead of HTTPS. Loopback
    /// registries (`localhost`, `127.0.0.0/8`, `[::1]`) always are. An
    /// entry without a port matches every port of that host.
    pub insecure: Vec<String>,
    /// Short name -> fully-qualified repository, used before `search`:
    /// `fedora = "registry.fedoraproject.org/fedora"`. The tag or digest
    /// the user gives is kept.
    #[serde(deserialize_with = "alias_table")]
    pub aliases: BTreeMap<String, String>,
}

impl Default for RegistriesConfig {
    fn default() -> Self {
        RegistriesConfig {
            search: vec!["docker.io".into()],
            insecure: Vec::new(),
            aliases: BTreeMap::new(),
        }
    }
}

impl RegistriesConfig {
    /// Whether `registry` (`host`, `host:port`, `[v6]:port`) may be reached
    /// over plain HTTP: a loopback host, or one listed in `insecure`.
    pub fn allows_plain_http(&self, registry: &str) -> bool {
        let (host, has_port) = registry_host(registry);
        is_loopback(host)
            || self.insecure.iter().any(|entry| {
                entry == registry || (!registry_host(entry).1 && has_port && entry == host)
            })
    }

    /// The repository a short name is an alias for.
    pub fn alias(&self, short: &str) -> Option<&str> {
        self.aliases.get(short).map(String::as_str)
    }
}

/// The host of a registry without brackets, and whether it has a port.
fn registry_host(registry: &str) -> (&str, bool) {
    if let Some(after) = registry.strip_prefix('[') {
        if let Some((host, rest)) = after.split_once(']') {
            return (host, rest.starts_with(':'));
        }
    }
    match registry.split_once(':') {
        Some((host, _)) => (host, true),
        None => (registry, false),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Size a container's log file is kept under, older output going
    /// first: `"10m"`, `"512k"`, `"1g"` (binary units) or a number of
    /// bytes; `0` means no limit. A `logs -f` that falls behind holds the
    /// rotation back, up to 8 times this (at least 1 GiB), so that it
    /// loses nothing; past that it is told how many bytes it missed.
    pub max_size: ByteSize,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            max_size: ByteSize(10 << 20),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Let containers reach services listening on the host's loopback
    /// interface through the network's gateway address.
    pub host_loopback: bool,
    /// Give a container's TCP server on a published port the host port
    /// itself (its bind(2) is answered with a socket of the host's), so
    /// that no relay carries the data. Needs `host_loopback`.
    pub direct_ports: bool,
    /// Make a container's TCP connections to the host's loopback (the
    /// gateway address) with a socket of the host's (its connect(2) is
    /// answered with one already connected), so that no userspace stack
    /// carries the data. Needs `host_loopback`.
    pub direct_host: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            host_loopback: true,
            direct_ports: true,
            direct_host: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsernsConfig {
    /// Seconds the holder of your shared user namespace waits for the
    /// next container before it exits; 0 keeps no holder (every container
    /// then runs newuidmap and newgidmap for a namespace of its own).
    pub keep_alive: u64,
}

impl Default for UsernsConfig {
    fn default() -> Self {
        UsernsConfig { keep_alive: 600 }
    }
}

/// A size in bytes, written in config as `"10m"`, `"512k"`, `"1g"`
/// (powers of 1024, as docker reads log sizes) or as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, shift) in [("g", 30), ("m", 20), ("k", 10)] {
            if self.0 != 0 && self.0.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<ByteSize, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let bad = || {
            format!("invalid size {s:?}: expected a number with an optional unit k, m or g, as in \"10m\"")
        };
        if digits.is_empty() {
            return Err(bad());
        }
        let shift = match unit.trim_start().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        n.checked_mul(1 << shift)
            .map(ByteSize)
            .ok_or_else(|| format!("size {s:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"10m\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("size {n} is negative")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A registry written as `host` or `host:port`. Checked after parsing: the
/// parser gives an array's elements no place of their own.
fn check_registry_entry(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("a registry cannot be empty".into());
    }
    if s.contains("://") {
        return Err(format!(
            "registry {s:?}: write it as host or host:port, without a scheme"
        ));
    }
    if s.contains('/') {
        return Err(format!(
            "registry {s:?}: write it as host or host:port, without a path"
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '@' | '#'))
    {
        return Err(format!("registry {s:?} contains {c:?}"));
    }
    Ok(())
}

/// An alias's short name: a repository path without registry, tag or
/// digest.
struct AliasName(String);

impl<'de> Deserialize<'de> for AliasName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() || s.contains([':', '@']) || s.contains(char::is_whitespace) {
            return Err(de::Error::custom(format!(
                "alias {s:?}: a short name is a repository name without a tag or digest, such as \"fedora\""
            )));
        }
        Ok(AliasName(s))
    }
}

/// An alias's target: a repository that names its registry.
struct AliasTarget(String);

impl<'de> Deserialize<'de> for AliasTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let qualified = s.split_once('/').is_some_and(|(first, rest)| {
            !rest.is_empty() && (first.contains(['.', ':']) || first == "localhost")
        });
        if !qualified {
            return Err(de::Error::custom(format!(
                "alias target {s:?} must name its registry, as in \"quay.io/fedora/fedora\""
            )));
        }
        if s.contains('@') || s.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            return Err(de::Error::custom(format!(
                "alias target {s:?} must not have a tag or digest: the one the user gives is used"
            )));
        }
        Ok(AliasTarget(s))
    }
}

fn alias_table<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let m = BTreeMap::<AliasName, AliasTarget>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k.0, v.0)).collect())
}

// BTreeMap keys need an order; the short name is the key.
impl PartialEq for AliasName {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for AliasName {}
impl PartialOrd for AliasName {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for AliasName {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

impl Config {
    /// Parses the text of a config file; `path` is only for messages. An
    /// unknown key, a wrong type or a bad value is an error at its line.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let doc = match toml::de::DeTable::parse(text) {
            Ok(doc) => doc,
            Err(e) => return Err(invalid(text, path, e.span(), None, e.message())),
        };
        let config = toml::from_str::<Config>(text).map_err(|e| {
            let key = e.span().and_then(|s| key_at(doc.get_ref(), s.start, ""));
            invalid(text, path, e.span(), key, e.message())
        })?;
        let lists = [
            ("search", &config.registries.search),
            ("insecure", &config.registries.insecure),
        ];
        for (name, list) in lists {
            for (i, entry) in list.iter().enumerate() {
                if let Err(why) = check_registry_entry(entry) {
                    let index = i.to_string();
                    let span = value_span(text, &["registries", name, &index]);
                    let key = format!("registries.{name}[{i}]");
                    return Err(invalid(text, path, span, Some(key), &why));
                }
            }
        }
        Ok(config)
    }
}

/// An error at a byte span of the file, with its line, column and excerpt.
fn invalid(
    text: &str,
    path: &Path,
    span: Option<std::ops::Range<usize>>,
    key: Option<String>,
    message: &str,
) -> ConfigError {
    let span = span.unwrap_or(0..0);
    let (line, column, excerpt) = locate(text, span);
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        key,
        message: plain_message(message),
        excerpt,
    }
}

/// serde names Rust types (`expected struct StorageConfig`); a user
/// writes tables.
fn plain_message(message: &str) -> String {
    let message = message.trim();
    match message.find("expected struct ") {
        Some(i) => format!("{}expected a table", &message[..i]),
        None => message.to_string(),
    }
}

/// A key as TOML would write it: bare when it can be, else quoted.
fn toml_key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

/// 1-based line and column (in characters) of a byte span, and the line
/// with carets under the span.
fn locate(text: &str, span: std::ops::Range<usize>) -> (usize, usize, String) {
    let floor = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(span.start);
    let end = floor(span.end.max(start));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text[line_start..line_end].trim_end_matches('\r');
    let before = &text[line_start..start];
    let column = before.chars().count() + 1;
    let width = text[start..end.min(line_end)].chars().count().max(1);
    let pad: String = before
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let gutter = " ".repeat(line_no.to_string().len());
    let excerpt = format!("{line_no} | {line}\n{gutter} | {pad}{}", "^".repeat(width));
    (line_no, column, excerpt)
}

/// The dotted key (`registries.search[1]`) whose key or value holds byte
/// `pos`, the deepest one when tables nest.
fn key_at(table: &toml::de::DeTable<'_>, pos: usize, prefix: &str) -> Option<String> {
    for (k, v) in table.iter() {
        let name = if prefix.is_empty() {
            toml_key(k.get_ref())
        } else {
            format!("{prefix}.{}", toml_key(k.get_ref()))
        };
        if let Some(deeper) = value_key_at(v, pos, &name) {
            return Some(deeper);
        }
        if k.span().contains(&pos) || v.span().contains(&pos) {
            return Some(name);
        }
    }
    None
}

fn value_key_at(
    v: &toml::Spanned<toml::de::DeValue<'_>>,
    pos: usize,
    name: &str,
) -> Option<String> {
    match v.get_ref() {
        toml::de::DeValue::Table(t) => key_at(t, pos, name),
        toml::de::DeValue::Array(a) => a.iter().enumerate().find_map(|(i, item)| {
            let item_name = format!("{name}[{i}]");
            value_key_at(item, pos, &item_name)
                .or_else(|| item.span().contains(&pos).then_some(item_name))
        }),
        _ => None,
    }
}

/// The byte span of the value at a key path (array elements by index),
/// for errors found after parsing.
fn value_span(text: &str, path: &[&str]) -> Option<std::ops::Range<usize>> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let (first, rest) = path.split_first()?;
    let mut value = doc.get_ref().get(*first)?;
    for p in rest {
        value = match value.get_ref() {
            toml::de::DeValue::Table(t) => t.get(*p)?,
            toml::de::DeValue::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value.span())
}

/// What `load_with` reads from the process: environment, home, uid, and
/// where a private runtime directory goes when `XDG_RUNTIME_DIR` cannot be
/// used. Tests build one by hand, so they never touch the real environment.
#[derive(Debug, Clone)]
pub struct Env {
    vars: HashMap<String, OsString>,
    home: Option<PathBuf>,
    uid: u32,
    tmp: PathBuf,
}

impl Env {
    /// The real process: its environment, `$HOME` or the passwd entry, its
    /// effective uid, and `/tmp`.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
                .collect(),
            home: directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()),
            uid: rustix::process::geteuid().as_raw(),
            tmp: PathBuf::from("/tmp"),
        }
    }

    /// An empty environment for `uid` with the given home.
    pub fn new(uid: u32, home: Option<PathBuf>) -> Env {
        Env {
            vars: HashMap::new(),
            home,
            uid,
            tmp: PathBuf::from("/tmp"),
        }
    }

    /// Sets an environment variable.
    pub fn with_var(mut self, name: &str, value: impl Into<OsString>) -> Env {
        self.vars.insert(name.to_string(), value.into());
        self
    }

    /// Where the fallback runtime directory `burrow-<uid>` is made.
    pub fn with_tmp(mut self, tmp: impl Into<PathBuf>) -> Env {
        self.tmp = tmp.into();
        self
    }

    /// The user burrow runs as.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// A variable's value; an empty one counts as unset, as the XDG
    /// specification has it.
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .get(name)
            .map(OsString::as_os_str)
            .filter(|v| !v.is_empty())
    }

    fn home(&self) -> Result<&Path, ConfigError> {
        self.home
            .as_deref()
            .ok_or(ConfigError::NoHome { uid: self.uid })
    }
}

/// Resolved locations.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    /// The storage root: images, layers, containers.
    pub storage: PathBuf,
    /// Locks, pids, sockets; private to the user.
    pub runtime: PathBuf,
    /// Download scratch.
    pub cache: PathBuf,
    /// Things the user should hear once, such as the runtime directory
    /// falling back to `/tmp`; the CLI prints them.
    pub notes: Vec<String>,
}

/// Loads `config.toml` (if any) and resolves the paths.
pub fn load() -> Result<(Config, Paths), ConfigError> {
    load_with(&Env::from_process())
}

/// `load` for a given environment: reads `$BURROW_CONFIG` or
/// `$XDG_CONFIG_HOME/burrow/config.toml` (a missing default file means
/// defaults), resolves the directories and makes the runtime directory.
pub fn load_with(env: &Env) -> Result<(Config, Paths), ConfigError> {
    let mut notes = Vec::new();
    let explicit = env.var("BURROW_CONFIG").map(PathBuf::from);
    let config_file = match &explicit {
        Some(p) => p.clone(),
        None => xdg_dir(env, "XDG_CONFIG_HOME", ".config", &mut notes)?.join("burrow/config.toml"),
    };
    let (config, text) = match fs::read_to_string(&config_file) {
        Ok(text) => (Config::parse(&text, &config_file)?, text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match explicit {
            Some(p) => return Err(ConfigError::MissingExplicit(p)),
            None => (Config::default(), String::new()),
        },
        Err(source) => {
            return Err(ConfigError::Read {
                path: config_file,
                source,
            })
        }
    };

    let storage = match &config.storage.root {
        Some(raw) => expand_path(raw, env).map_err(|why| {
            let span = value_span(&text, &["storage", "root"]);
            invalid(&text, &config_file, span, Some("storage.root".into()), &why)
        })?,
        None => xdg_dir(env, "XDG_DATA_HOME", ".local/share", &mut notes)?.join("burrow/storage"),
    };
    let cache = xdg_dir(env, "XDG_CACHE_HOME", ".cache", &mut notes)?.join("burrow");
    let (runtime, note) = runtime_dir(env)?;
    notes.extend(note);

    Ok((
        config,
        Paths {
            config_file,
            storage,
            runtime,
            cache,
            notes,
        },
    ))
}

/// An XDG base directory: the variable when it is an absolute path, else
/// the default under home.
fn xdg_dir(
    env: &Env,
    var: &str,
    default: &str,
    notes: &mut Vec<String>,
) -> Result<PathBuf, ConfigError> {
    if let Some(v) = env.var(var) {
        if Path::new(v).is_absolute() {
            return Ok(PathBuf::from(v));
        }
        notes.push(format!(
            "{var}={} is not an absolute path; ignoring it as the XDG specification says",
            Path::new(v).display()
        ));
    }
    Ok(env.home()?.join(default))
}

/// Expands a leading `~` and `$NAME` / `${NAME}`; the result must be
/// absolute.
fn expand_path(raw: &Path, env: &Env) -> Result<PathBuf, String> {
    let Some(s) = raw.to_str() else {
        return Err("the path is not valid UTF-8".into());
    };
    let mut out = OsString::new();
    let mut rest = s;
    if rest == "~" || rest.starts_with("~/") {
        out.push(env.home().map_err(|e| e.to_string())?);
        rest = &rest[1..];
    } else if rest.starts_with('~') {
        return Err(format!(
            "{s:?}: only ~ (your home) is expanded, not ~user; write the full path"
        ));
    }
    while let Some(i) = rest.find('$') {
        out.push(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            match braced.split_once('}') {
                Some((name, tail)) => (name, tail),
                None => return Err(format!("{s:?}: '${{' without a closing '}}'")),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            after.split_at(end)
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "{s:?}: '$' must start a variable name, as in $USER or ${{USER}}"
            ));
        }
        match env.var(name) {
            Some(v) => out.push(v),
            None => return Err(format!("{s:?} uses ${name}, which is not set")),
        }
        rest = tail;
    }
    out.push(rest);
    let path = PathBuf::from(out);
    if !path.is_absolute() {
        return Err(format!(
            "{s:?} must be an absolute path (after expanding ~ and $VARIABLES)"
        ));
    }
    Ok(path)
}

/// `$XDG_RUNTIME_DIR/burrow`, or `<tmp>/burrow-<uid>` with a note saying
/// why when that variable is unset or unusable (after `su` or `sudo -u` it
/// is often missing or still names the other user's directory).
fn runtime_dir(env: &Env) -> Result<(PathBuf, Option<String>), ConfigError> {
    let why = match env.var("XDG_RUNTIME_DIR") {
        None => "XDG_RUNTIME_DIR is not set".to_string(),
        Some(v) => {
            let base = Path::new(v);
            match usable_runtime_base(base, env.uid) {
                Ok(()) => {
                    let dir = base.join("burrow");
                    ensure_private_dir(&dir, env.uid)?;
                    return Ok((dir, None));
                }
                Err(why) => format!("XDG_RUNTIME_DIR={} {why}", base.display()),
            }
        }
    };
    let dir = env.tmp.join(format!("burrow-{}", env.uid));
    if let Some((culprit, why)) = unsafe_parent(&dir, env.uid, None) {
        return Err(ConfigError::RuntimeDir {
            path: dir,
            why: format!(
                "sits in {}, which {why}: another user could swap burrow's locks and sockets; \
                 set XDG_RUNTIME_DIR to a private directory of yours",
                culprit.display()
            ),
        });
    }
    ensure_private_dir(&dir, env.uid)?;
    let note = format!("{why}; using {}", dir.display());
    Ok((dir, Some(note)))
}

/// Why `base` cannot serve as `XDG_RUNTIME_DIR` for `uid`, if it cannot:
/// it must be an absolute directory of theirs that they can write.
pub fn usable_runtime_base(base: &Path, uid: u32) -> Result<(), String> {
    if !base.is_absolute() {
        return Err("is not an absolute path".into());
    }
    let md = match fs::metadata(base) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err("does not exist".into()),
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    if !md.is_dir() {
        return Err("is not a directory".into());
    }
    if md.uid() != uid {
        return Err(format!(
            "belongs to uid {}, not to you (uid {uid})",
            md.uid()
        ));
    }
    if md.mode() & 0o300 != 0o300 {
        return Err("is not writable by you".into());
    }
    if let Some((culprit, why)) = unsafe_dir(base, &[], uid, None) {
        return Err(if culprit == base {
            why
        } else {
            format!("sits in {}, which {why}", culprit.display())
        });
    }
    Ok(())
}

/// Makes `path` a directory private to `uid`, or checks that the one there
/// is. In a shared `/tmp` another user could have made it first, as a
/// directory of theirs or a symlink, to read or swap burrow's locks and
/// sockets; since `/tmp` is sticky, an entry we own cannot be replaced by
/// anyone else after this check.
pub fn ensure_private_dir(path: &Path, uid: u32) -> Result<(), ConfigError> {
    let fail = |why: String| ConfigError::RuntimeDir {
        path: path.to_path_buf(),
        why,
    };
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(format!("cannot create it: {e}"))),
    }
    let md = fs::symlink_metadata(path).map_err(|e| fail(format!("cannot inspect it: {e}")))?;
    if md.file_type().is_symlink() {
        return Err(fail(
            "is a symbolic link, which someone may have planted to redirect burrow's locks \
             and sockets; remove it"
                .into(),
        ));
    }
    if !md.is_dir() {
        return Err(fail("exists and is not a directory; remove it".into()));
    }
    if md.uid() != uid {
        return Err(fail(format!(
            "belongs to uid {}, not to you (uid {uid}); someone else may have made it to \
             intercept burrow's locks and sockets: have it removed, or set XDG_RUNTIME_DIR to \
             a private directory of yours",
            md.uid()
        )));
    }
    let mode = md.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "has mode {mode:04o}, open to other users; remove it so burrow makes a private \
             one, or run `chmod 700 {}`",
            path.display()
        )));
    }
    Ok(())
}

/// The directories a store keeps at its top; another user able to write
/// one of them can plant what burrow reads from it.
const STORE_DIRS: &[&str] = &[
    "blobs",
    "layers",
    "images",
    "tmp",
    "locks",
    "containers",
    "volumes",
];

/// Why the existing directory `md` describes is open to other users than
/// `uid`, if it is: not theirs (nor root's), or writable by others. A
/// parent of burrow's directory may be writable by others when it is
/// sticky (as /tmp is), since others then cannot rename or remove what is
/// in it; burrow's own directories may not. Group write counts as others'
/// unless the group is `private_gid`, the user's own (user private
/// groups).
fn opened_to_others(
    md: &fs::Metadata,
    uid: u32,
    private_gid: Option<u32>,
    parent: bool,
) -> Option<String> {
    let owner = md.uid();
    if owner != uid && !(parent && owner == 0) {
        return Some(format!(
            "belongs to uid {owner}, not to you (uid {uid}){}",
            if parent { " or root" } else { "" }
        ));
    }
    let mode = md.mode() & 0o7777;
    let group_writes = mode & 0o020 != 0 && Some(md.gid()) != private_gid;
    let others_write = mode & 0o002 != 0 || group_writes;
    let sticky = mode & 0o1000 != 0;
    if others_write && !(parent && sticky) {
        return Some(format!(
            "is writable by other users (mode {mode:04o}{})",
            if parent {
                ", without the sticky bit"
            } else {
                ""
            }
        ));
    }
    None
}

/// The user's primary group when it is a user private group (named as
/// the user), whose write bit lets no one else in.
pub fn private_gid(uid: u32) -> Option<u32> {
    let user = nix::unistd::User::from_uid(uid.into()).ok()??;
    let group = nix::unistd::Group::from_gid(user.gid).ok()??;
    (group.name == user.name).then_some(user.gid.as_raw())
}

/// The first existing parent of `dir` that another user than `uid` can
/// change, and why: each must be `uid`'s or root's and not writable by
/// others unless sticky. Symbolic links are resolved, and the directories
/// holding them are checked too.
pub fn unsafe_parent(dir: &Path, uid: u32, private_gid: Option<u32>) -> Option<(PathBuf, String)> {
    let mut parents: Vec<PathBuf> = dir.ancestors().skip(1).map(Path::to_path_buf).collect();
    if let Some(real) = dir.ancestors().find_map(|a| fs::canonicalize(a).ok()) {
        let skip = usize::from(real == dir);
        parents.extend(real.ancestors().skip(skip).map(Path::to_path_buf));
    }
    parents.iter().rev().find_map(|p| {
        let md = fs::metadata(p).ok()?;
        opened_to_others(&md, uid, private_gid, true).map(|why| (p.clone(), why))
    })
}

/// [`unsafe_parent`], then `dir` itself if it exists and `own` below it:
/// those must be `uid`'s and writable by no one else.
pub fn unsafe_dir(
    dir: &Path,
    own: &[&str],
    uid: u32,
    private_gid: Option<u32>,
) -> Option<(PathBuf, String)> {
    unsafe_parent(dir, uid, private_gid).or_else(|| {
        std::iter::once(dir.to_path_buf())
            .chain(own.iter().map(|d| dir.join(d)))
            .find_map(|p| {
                let md = fs::metadata(&p).ok()?;
                opened_to_others(&md, uid, private_gid, false).map(|why| (p, why))
            })
    })
}

/// Refuses a storage root that another user made or can change (see
/// [`unsafe_dir`]); burrow creates a missing one with mode 0700.
pub fn check_storage_owner(paths: &Paths, uid: u32) -> Result<(), ConfigError> {
    match unsafe_dir(&paths.storage, STORE_DIRS, uid, private_gid(uid)) {
        None => Ok(()),
        Some((culprit, why)) => Err(ConfigError::UnsafeStorage {
            path: paths.storage.clone(),
            culprit,
            why,
            config_file: paths.config_file.clone(),
        }),
    }
}

/// Network filesystems by `statfs` magic: storage there cannot hold
/// overlay upper directories and its locks are unreliable.
const NETWORK_FS: &[(u32, &str)] = &[
    (0x6969, "NFS"),
    (0x517B, "SMB"),
    (0xFF53_4D42, "CIFS"),
    (0xFE53_4D42, "SMB2"),
    (0x0BD0_0BD0, "Lustre"),
    (0x4750_4653, "GPFS"),
    (0x00C3_6400, "CephFS"),
    (0x5346_414F, "AFS"),
    (0x6B41_4653, "AFS"),
    (0x1983_0326, "BeeGFS"),
    (0xAAD7_AAEA, "PanFS"),
    (0x0102_1997, "9p"),
];

/// FUSE carries both local and network filesystems (sshfs, GlusterFS):
/// only a warning.
pub const FUSE_MAGIC: u32 = 0x6573_5546;

/// The name of the network filesystem with this `statfs` magic, if it is
/// one.
pub fn network_fs_name(magic: u32) -> Option<&'static str> {
    NETWORK_FS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

/// The one syscall the storage check needs, so a test can report a
/// network filesystem that this machine cannot mount.
pub trait FsProbe {
    /// The `f_type` magic of the filesystem holding `path`.
    fn magic(&self, path: &Path) -> io::Result<u32>;
}

/// `statfs(2)`.
pub struct Statfs;

impl FsProbe for Statfs {
    fn magic(&self, path: &Path) -> io::Result<u32> {
        let st = rustix::fs::statfs(path)?;
        // f_type is a 32-bit magic in a signed word whose width varies by
        // architecture; truncating recovers it on all of them.
        Ok(st.f_type as u32)
    }
}

/// The filesystem under `root`, which may not exist yet: the nearest
/// existing directory at or above it, and its `statfs` magic.
pub fn storage_fs_with(probe: &dyn FsProbe, root: &Path) -> Result<(PathBuf, u32), ConfigError> {
    let mut probed = root;
    loop {
        match probe.magic(probed) {
            Ok(m) => return Ok((probed.to_path_buf(), m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match probed.parent() {
                Some(parent) => probed = parent,
                None => {
                    return Err(ConfigError::Statfs {
                        path: root.to_path_buf(),
                        source: e,
                    })
                }
            },
            Err(source) => {
                return Err(ConfigError::Statfs {
                    path: probed.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// A filesystem's name from its `statfs` magic, for messages:
/// network filesystems by the names above, common local ones by theirs,
/// others as hex.
pub fn fs_name(magic: u32) -> String {
    const LOCAL: &[(u32, &str)] = &[
        (0xEF53, "ext4"),
        (0x5846_5342, "xfs"),
        (0x9123_683E, "btrfs"),
        (0x0102_1994, "tmpfs"),
        (0x2FC1_2FC1, "zfs"),
        (0xF2F5_2010, "f2fs"),
        (0xCA45_1A4E, "bcachefs"),
        (0x794C_7630, "overlay"),
        (0x4D44, "vfat"),
        (0x5346_544E, "ntfs"),
        (0x6573_5546, "FUSE"),
        (0x7371_7368, "squashfs"),
        (0xE0F5_E1E2, "erofs"),
    ];
    network_fs_name(magic)
        .or_else(|| LOCAL.iter().find(|(m, _)| *m == magic).map(|(_, n)| *n))
        .map(str::to_string)
        .unwrap_or_else(|| format!("filesystem 0x{magic:x}"))
}

/// Refuses a storage root on a network filesystem unless
/// `storage.allow_network_fs` is set. `Ok(Some(warning))` for FUSE.
pub fn check_storage_fs(config: &Config, paths: &Paths) -> Result<Option<String>, ConfigError> {
    check_storage_fs_with(&Statfs, config, paths)
}

/// `check_storage_fs` through a given probe. The root may not exist yet:
/// its nearest existing ancestor is probed.
pub fn check_storage_fs_with(
    probe: &dyn FsProbe,
    config: &Config,
    paths: &Paths,
) -> Result<Option<String>, ConfigError> {
    let root = &paths.storage;
    let (probed, magic) = storage_fs_with(probe, root)?;
    if config.storage.allow_network_fs {
        return Ok(None);
    }
    if let Some(fs) = network_fs_name(magic) {
        return Err(ConfigError::NetworkFs {
            fs,
            path: root.clone(),
            probed,
            config_file: paths.config_file.clone(),
        });
    }
    if magic == FUSE_MAGIC {
        return Ok(Some(format!(
            "storage root {} is on a FUSE filesystem; if that is a network filesystem \
             (sshfs, GlusterFS, ...) layers and locks may fail: set storage.root in {} to a \
             local directory, or storage.allow_network_fs = true to silence this",
            root.display(),
            paths.config_file.display()
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/test/config.toml"))
    }

    fn my_uid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    /// An environment rooted in a fresh temporary directory: home, /tmp and
    /// a usable XDG_RUNTIME_DIR all inside it.
    fn sandbox() -> (tempfile::TempDir, Env) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let run = dir.path().join("run");
        let tmp = dir.path().join("tmp");
        for d in [&home, &run, &tmp] {
            fs::create_dir(d).unwrap();
        }
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
        let env = Env::new(my_uid(), Some(home))
            .with_tmp(tmp)
            .with_var("XDG_RUNTIME_DIR", run);
        (dir, env)
    }

    fn write_config(env: &Env, text: &str) -> PathBuf {
        let dir = env.home.as_ref().unwrap().join(".config/burrow");
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        fs::write(&file, text).unwrap();
        file
    }

    #[test]
    fn defaults_when_no_file_exists() {
        let (dir, env) = sandbox();
        let (config, paths) = load_with(&env).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.registries.search, ["docker.io"]);
        assert!(!config.storage.allow_network_fs);
        assert!(config.network.host_loopback);
        assert_eq!(config.logs.max_size, ByteSize(10 << 20));
        let home = dir.path().join("home");
        assert_eq!(paths.config_file, home.join(".config/burrow/config.toml"));
        assert_eq!(paths.storage, home.join(".local/share/burrow/storage"));
        assert_eq!(paths.cache, home.join(".cache/burrow"));
        assert_eq!(paths.runtime, dir.path().join("run/burrow"));
        assert!(paths.notes.is_empty(), "{:?}", paths.notes);
        let md = fs::symlink_metadata(&paths.runtime).unwrap();
        assert_eq!(md.mode() & 0o777, 0o700);
    }

    #[test]
    fn a_full_valid_file_sets_every_key() {
        let text = r#"
[storage]
root = "/var/tmp/someone/burrow"
allow_network_fs = true

[registries]
search = ["quay.io", "docker.io"]
insecure = ["registry.lan:5000", "build-host"]

[registries.aliases]
fedora = "registry.fedoraproject.org/fedora"
"tools/thing" = "localhost:5000/tools/thing"

[logs]
max_size = "512k"

[network]
host_loopback = false
"#;
        let c = parse(text).unwrap();
        assert_eq!(
            c.storage.root.as_deref(),
            Some(Path::new("/var/tmp/someone/burrow"))
        );
        assert!(c.storage.allow_network_fs);
        assert_eq!(c.registries.search, ["quay.io", "docker.io"]);
        assert_eq!(
            c.registries.alias("fedora"),
            Some("registry.fedoraproject.org/fedora")
        );
        assert_eq!(
            c.registries.alias("tools/thing"),
            Some("localhost:5000/tools/thing")
        );
        assert_eq!(c.registries.alias("debian"), None);
        assert_eq!(c.logs.max_size, ByteSize(512 * 1024));
        assert!(!c.network.host_loopback);
    }

    #[test]
    fn unknown_key_is_an_error_naming_file_line_and_key() {
        let text = "[storage]\nallow_network_fs = true\nrooot = \"/x\"\n";
        let e = parse(text).unwrap_err();
        let ConfigError::Invalid {
            line,
            column,
            key,
            message,
            ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!((*line, *column), (3, 1));
        assert_eq!(key.as_deref(), Some("storage.rooot"));
        assert!(message.contains("unknown field `rooot`"), "{message}");
        let shown = e.to_string();
        assert!(
            shown.starts_with("/etc/test/config.toml:3:1: storage.rooot: unknown field `rooot`"),
            "{shown}"
        );
        assert!(shown.ends_with("3 | rooot = \"/x\"\n  | ^^^^^"), "{shown}");
    }

    #[test]
    fn unknown_table_is_an_error_at_its_header() {
        let e = parse("\n[network]\nhost_loopback = true\n\n[netwrok]\nx = 1\n").unwrap_err();
        let ConfigError::Invalid { line, key, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*line, 5);
        assert_eq!(key.as_deref(), Some("netwrok"));
    }

    #[test]
    fn wrong_type_is_an_error_naming_line_column_and_key() {
        let text = "[storage]\nallow_network_fs = \"yes\"\n";
        let e = parse(text).unwrap_err();
        let ConfigError::Invalid {
            line,
            column,
            key,
            message,
            excerpt,
            ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!((*line, *column), (2, 20));
        assert_eq!(key.as_deref(), Some("storage.allow_network_fs"));
        assert!(message.contains("expected a boolean"), "{message}");
        assert_eq!(
            excerpt,
            "2 | allow_network_fs = \"yes\"\n  |                    ^^^^^"
        );
    }

    #[test]
    fn a_value_where_a_table_belongs_is_called_a_table() {
        let e = parse("storage = 5\n").unwrap_err();
        let ConfigError::Invalid { key, message, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(key.as_deref(), Some("storage"));
        assert_eq!(message, "invalid type: integer `5`, expected a table");
    }

    #[test]
    fn keys_that_need_quotes_are_shown_quoted() {
        let e = parse("[registries]\naliases = { \"a:1\" = \"quay.io/a\" }\n").unwrap_err();
        let ConfigError::Invalid { key, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(key.as_deref(), Some("registries.aliases.\"a:1\""));
    }

    #[test]
    fn bad_list_entry_is_an_error_at_that_entry() {
        let text = "[registries]\nsearch = [\n  \"docker.io\",\n  \"https://quay.io\",\n]\n";
        let e = parse(text).unwrap_err();
        let ConfigError::Invalid {
            line, key, message, ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(*line, 4);
        assert_eq!(key.as_deref(), Some("registries.search[1]"));
        assert!(message.contains("without a scheme"), "{message}");

        let e = parse("[registries]\nsearch = [1]\n").unwrap_err();
        let ConfigError::Invalid { key, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(key.as_deref(), Some("registries.search[0]"));
    }

    #[test]
    fn bad_aliases_and_sizes_are_errors_at_their_line() {
        for (text, line, expected) in [
            (
                "[registries.aliases]\nfedora = \"fedora\"\n",
                2,
                "must name its registry",
            ),
            (
                "[registries.aliases]\n\"f:1\" = \"quay.io/f\"\n",
                2,
                "without a tag or digest",
            ),
            (
                "[registries.aliases]\nf = \"quay.io/f:1\"\n",
                2,
                "must not have a tag",
            ),
            ("[logs]\nmax_size = \"10 parsecs\"\n", 2, "invalid size"),
            ("[logs]\n\nmax_size = -5\n", 3, "negative"),
        ] {
            let e = parse(text).unwrap_err();
            let ConfigError::Invalid {
                line: l, message, ..
            } = &e
            else {
                panic!("{e:?}")
            };
            assert_eq!(*l, line, "{text}");
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let e = parse("[storage]\nroot = \"/x\nallow_network_fs = true\n").unwrap_err();
        let ConfigError::Invalid { line, key, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*line, 2);
        assert_eq!(*key, None);
    }

    #[test]
    fn a_file_that_cannot_be_parsed_is_an_error_from_load() {
        let (_dir, env) = sandbox();
        let file = write_config(&env, "[storage]\nallow_network_fs = 1\n");
        let e = load_with(&env).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "{}:2:20: storage.allow_network_fs:",
                file.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn byte_sizes_read_as_docker_reads_log_sizes() {
        assert_eq!("10m".parse(), Ok(ByteSize(10 << 20)));
        assert_eq!("10MB".parse(), Ok(ByteSize(10 << 20)));
        assert_eq!("512k".parse(), Ok(ByteSize(512 << 10)));
        assert_eq!("1g".parse(), Ok(ByteSize(1 << 30)));
        assert_eq!("100".parse(), Ok(ByteSize(100)));
        assert_eq!("0".parse(), Ok(ByteSize(0)));
        assert!("m".parse::<ByteSize>().is_err());
        assert!("10t".parse::<ByteSize>().is_err());
        assert!("99999999999999999999g".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(10 << 20).to_string(), "10m");
        assert_eq!(ByteSize(1000).to_string(), "1000");
    }

    #[test]
    fn xdg_variables_and_burrow_config_override_the_defaults() {
        let (dir, env) = sandbox();
        let p = dir.path();
        let custom = p.join("elsewhere.toml");
        fs::write(&custom, "[storage]\nroot = \"$SCRATCH/${USER}/store\"\n").unwrap();
        let env = env
            .with_var("XDG_CONFIG_HOME", p.join("cfg"))
            .with_var("XDG_DATA_HOME", p.join("data"))
            .with_var("XDG_CACHE_HOME", p.join("cache"))
            .with_var("BURROW_CONFIG", &custom)
            .with_var("SCRATCH", "/scratch")
            .with_var("USER", "alice");
        let (_, paths) = load_with(&env).unwrap();
        assert_eq!(paths.config_file, custom);
        assert_eq!(paths.storage, Path::new("/scratch/alice/store"));
        assert_eq!(paths.cache, p.join("cache/burrow"));

        // Without BURROW_CONFIG the file is under XDG_CONFIG_HOME and the
        // storage default under XDG_DATA_HOME.
        let mut env = env;
        env.vars.remove("BURROW_CONFIG");
        let (_, paths) = load_with(&env).unwrap();
        assert_eq!(paths.config_file, p.join("cfg/burrow/config.toml"));
        assert_eq!(paths.storage, p.join("data/burrow/storage"));

        // A relative XDG value is ignored, with a note.
        let env = env.with_var("XDG_DATA_HOME", "rel/data");
        let (_, paths) = load_with(&env).unwrap();
        assert_eq!(paths.storage, p.join("home/.local/share/burrow/storage"));
        assert!(paths
            .notes
            .iter()
            .any(|n| n.contains("XDG_DATA_HOME=rel/data")));
    }

    #[test]
    fn a_missing_burrow_config_file_is_an_error() {
        let (dir, env) = sandbox();
        let env = env.with_var("BURROW_CONFIG", dir.path().join("nope.toml"));
        let e = load_with(&env).unwrap_err();
        assert!(matches!(e, ConfigError::MissingExplicit(_)), "{e}");
    }

    #[test]
    fn storage_root_expands_home_and_refuses_what_it_cannot_expand() {
        let (dir, env) = sandbox();
        write_config(&env, "[storage]\nroot = \"~/store\"\n");
        let (_, paths) = load_with(&env).unwrap();
        assert_eq!(paths.storage, dir.path().join("home/store"));

        for (root, expected) in [
            (
                "$NOT_SET_ANYWHERE/x",
                "uses $NOT_SET_ANYWHERE, which is not set",
            ),
            ("relative/dir", "must be an absolute path"),
            ("~bob/x", "not ~user"),
            ("/a/$/b", "'$' must start a variable name"),
            ("/a/${X", "without a closing"),
        ] {
            write_config(&env, &format!("[storage]\n\nroot = \"{root}\"\n"));
            let e = load_with(&env).unwrap_err();
            let ConfigError::Invalid {
                line, key, message, ..
            } = &e
            else {
                panic!("{e:?}")
            };
            assert_eq!(*line, 3, "{root}");
            assert_eq!(key.as_deref(), Some("storage.root"));
            assert!(message.contains(expected), "{root}: {message}");
        }
    }

    #[test]
    fn unset_runtime_dir_falls_back_to_a_private_tmp_dir_with_a_note() {
        let (dir, mut env) = sandbox();
        env.vars.remove("XDG_RUNTIME_DIR");
        let (_, paths) = load_with(&env).unwrap();
        let expected = dir.path().join(format!("tmp/burrow-{}", my_uid()));
        assert_eq!(paths.runtime, expected);
        let md = fs::symlink_metadata(&expected).unwrap();
        assert!(md.is_dir());
        assert_eq!(md.mode() & 0o777, 0o700);
        assert_eq!(
            paths.notes,
            [format!(
                "XDG_RUNTIME_DIR is not set; using {}",
                expected.display()
            )]
        );
        // A second run reuses it quietly apart from the same note.
        let (_, again) = load_with(&env).unwrap();
        assert_eq!(again.runtime, expected);
    }

    #[test]
    fn unusable_runtime_dir_falls_back_with_the_reason() {
        let (dir, env) = sandbox();
        let gone = dir.path().join("run/user/4242");
        let env = env.with_var("XDG_RUNTIME_DIR", &gone);
        let (_, paths) = load_with(&env).unwrap();
        let fallback = dir.path().join(format!("tmp/burrow-{}", my_uid()));
        assert_eq!(paths.runtime, fallback);
        assert_eq!(
            paths.notes,
            [format!(
                "XDG_RUNTIME_DIR={} does not exist; using {}",
                gone.display(),
                fallback.display()
            )]
        );
    }

    #[test]
    fn runtime_dir_of_another_user_is_not_usable() {
        // As after `su`: XDG_RUNTIME_DIR still names the other user's
        // directory. Asking as another uid makes ours foreign.
        let (dir, _) = sandbox();
        let run = dir.path().join("run");
        let other = my_uid().wrapping_add(1);
        let why = usable_runtime_base(&run, other).unwrap_err();
        assert_eq!(
            why,
            format!("belongs to uid {}, not to you (uid {other})", my_uid())
        );
        assert_eq!(usable_runtime_base(&run, my_uid()), Ok(()));
        assert_eq!(
            usable_runtime_base(Path::new("run/user/1"), my_uid()),
            Err("is not an absolute path".to_string())
        );
    }

    #[test]
    fn planted_runtime_dirs_are_refused() {
        let (dir, _) = sandbox();
        let uid = my_uid();

        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        let e = ensure_private_dir(&open, uid).unwrap_err();
        assert!(e.to_string().contains("has mode 0755"), "{e}");
        assert!(e.to_string().contains(&open.display().to_string()), "{e}");

        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = ensure_private_dir(&link, uid).unwrap_err();
        assert!(e.to_string().contains("is a symbolic link"), "{e}");

        let foreign = dir.path().join("foreign");
        fs::create_dir(&foreign).unwrap();
        fs::set_permissions(&foreign, fs::Permissions::from_mode(0o700)).unwrap();
        let e = ensure_private_dir(&foreign, uid.wrapping_add(1)).unwrap_err();
        assert!(
            e.to_string().contains(&format!("belongs to uid {uid}")),
            "{e}"
        );

        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let e = ensure_private_dir(&file, uid).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");

        // And the fallback itself refuses a planted directory.
        let (_d, mut env) = sandbox();
        env.vars.remove("XDG_RUNTIME_DIR");
        let planted = env.tmp.join(format!("burrow-{uid}"));
        fs::create_dir(&planted).unwrap();
        fs::set_permissions(&planted, fs::Permissions::from_mode(0o777)).unwrap();
        let e = load_with(&env).unwrap_err();
        assert!(
            matches!(&e, ConfigError::RuntimeDir { path, .. } if path == &planted),
            "{e}"
        );
    }

    #[test]
    fn a_storage_root_others_made_or_can_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let uid = my_uid();
        let root = dir.path().join("store");
        let chmod =
            |p: &Path, mode| fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
        // Not made yet, under parents of ours: fine.
        assert_eq!(unsafe_dir(&root, STORE_DIRS, uid, None), None);
        fs::create_dir_all(root.join("layers")).unwrap();
        chmod(&root, 0o700);
        chmod(&root.join("layers"), 0o755);
        assert_eq!(unsafe_dir(&root, STORE_DIRS, uid, None), None);
        // One of its directories open to everyone.
        chmod(&root.join("layers"), 0o777);
        let (culprit, why) = unsafe_dir(&root, STORE_DIRS, uid, None).unwrap();
        assert_eq!(culprit, root.join("layers"));
        assert_eq!(why, "is writable by other users (mode 0777)");
        // Group write is others' write unless the group is the user's own.
        chmod(&root.join("layers"), 0o770);
        assert!(unsafe_dir(&root, STORE_DIRS, uid, None).is_some());
        let gid = fs::metadata(&root).unwrap().gid();
        assert_eq!(unsafe_dir(&root, STORE_DIRS, uid, Some(gid)), None);
        chmod(&root.join("layers"), 0o700);
        // A parent open to everyone: refused, unless sticky like /tmp.
        chmod(dir.path(), 0o777);
        let (culprit, why) = unsafe_dir(&root, STORE_DIRS, uid, None).unwrap();
        assert_eq!(culprit, dir.path());
        assert!(why.contains("without the sticky bit"), "{why}");
        chmod(dir.path(), 0o1777);
        assert_eq!(unsafe_dir(&root, STORE_DIRS, uid, None), None);
        // Reached through a symbolic link in an open directory: the
        // directory holding the link counts.
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        chmod(&open, 0o777);
        std::os::unix::fs::symlink(&root, open.join("link")).unwrap();
        let (culprit, _) = unsafe_dir(&open.join("link"), STORE_DIRS, uid, None).unwrap();
        assert_eq!(culprit, open);
        // Someone else's: asking as another uid makes ours foreign.
        chmod(dir.path(), 0o700);
        let other = uid.wrapping_add(1);
        let (_, why) = unsafe_dir(&root, STORE_DIRS, other, None).unwrap();
        assert!(why.starts_with(&format!("belongs to uid {uid}")), "{why}");
        // The error names the directory, why, and the fix.
        let mut paths = paths_with_storage(root.clone());
        paths.config_file = dir.path().join("config.toml");
        let e = check_storage_owner(&paths, other).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("storage root {} is not safe: ", root.display())),
            "{e}"
        );
        assert!(e.contains("set storage.root in"), "{e}");
    }

    /// Reports a fixed magic for every existing path.
    struct FakeFs(u32);
    impl FsProbe for FakeFs {
        fn magic(&self, path: &Path) -> io::Result<u32> {
            fs::symlink_metadata(path)?;
            Ok(self.0)
        }
    }

    fn paths_with_storage(storage: PathBuf) -> Paths {
        Paths {
            config_file: PathBuf::from("/home/alice/.config/burrow/config.toml"),
            storage,
            runtime: PathBuf::from("/run/user/1000/burrow"),
            cache: PathBuf::from("/home/alice/.cache/burrow"),
            notes: Vec::new(),
        }
    }

    #[test]
    fn storage_on_nfs_is_refused_naming_the_key_and_a_local_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("not/yet/made");
        let paths = paths_with_storage(root.clone());
        let e = check_storage_fs_with(&FakeFs(0x6969), &Config::default(), &paths).unwrap_err();
        let ConfigError::NetworkFs { fs, probed, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*fs, "NFS");
        assert_eq!(
            probed,
            dir.path(),
            "the nearest existing ancestor is probed"
        );
        let msg = e.to_string();
        for part in [
            &format!("storage root {} is on NFS", root.display()),
            "storage.root in /home/alice/.config/burrow/config.toml",
            "/var/tmp/$USER/burrow",
            "$XDG_RUNTIME_DIR",
            "storage.allow_network_fs = true",
        ] {
            assert!(msg.contains(part), "{part:?} missing from {msg}");
        }
    }

    #[test]
    fn storage_on_nfs_is_used_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths_with_storage(dir.path().to_path_buf());
        let mut config = Config::default();
        config.storage.allow_network_fs = true;
        assert_eq!(
            check_storage_fs_with(&FakeFs(0x6969), &config, &paths).unwrap(),
            None
        );
    }

    #[test]
    fn every_listed_network_fs_is_refused_and_fuse_only_warned() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths_with_storage(dir.path().to_path_buf());
        for &(magic, name) in NETWORK_FS {
            let e = check_storage_fs_with(&FakeFs(magic), &Config::default(), &paths).unwrap_err();
            assert!(e.to_string().contains(&format!("is on {name}")), "{e}");
        }
        let warning =
            check_storage_fs_with(&FakeFs(FUSE_MAGIC), &Config::default(), &paths).unwrap();
        assert!(warning.is_some_and(|w| w.contains("FUSE")));
    }

    #[test]
    fn local_storage_passes_the_real_statfs_check() {
        // The temporary directory is on a local disk or tmpfs here.
        let dir = tempfile::tempdir().unwrap();
        let paths = paths_with_storage(dir.path().join("storage"));
        let magic = Statfs.magic(dir.path()).unwrap();
        assert_eq!(
            network_fs_name(magic),
            None,
            "the test machine's /tmp is local"
        );
        assert_eq!(check_storage_fs(&Config::default(), &paths).unwrap(), None);
    }

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let r = RegistriesConfig {
            insecure: vec!["registry.lan:5000".into(), "build-host".into()],
            ..Default::default()
        };
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "registry.lan:5000",
            "build-host",
            "build-host:8080",
        ] {
            assert!(r.allows_plain_http(yes), "{yes}");
        }
        for no in [
            "docker.io",
            "registry.lan",
            "registry.lan:5001",
            "build-host.evil.com",
            "[::2]:5000",
        ] {
            assert!(!r.allows_plain_http(no), "{no}");
        }
    }

    #[test]
    fn shipped_default_config_documents_every_key_with_its_default() {
        let shipped = include_str!("../packaging/config.toml");
        // As shipped (everything commented) it means the defaults.
        assert_eq!(parse(shipped).unwrap(), Config::default());
        // Uncommenting every `# key = value` line gives the defaults too,
        // so the documented values cannot drift from the code.
        let uncommented: String = shipped
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    }) =>
                {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut c = parse(&uncommented).unwrap();
        let keys = uncommented
            .lines()
            .filter(|l| l.contains(" = ") && !l.starts_with('#'))
            .count();
        assert_eq!(
            keys, 10,
            "every key appears once, uncommented:\n{uncommented}"
        );
        // The documented root is the default for a home without
        // XDG_DATA_HOME.
        let (dir, env) = sandbox();
        let root = c.storage.root.take().unwrap();
        assert_eq!(
            expand_path(&root, &env).unwrap(),
            dir.path().join("home/.local/share/burrow/storage")
        );
        assert_eq!(c, Config::default());
    }
}
