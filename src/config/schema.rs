//! The keys of `config.toml` and their defaults: parsing and checking
//! the file's text. Knows nothing of directories or the environment.

use super::error::{invalid, ConfigError};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Every key of `config.toml`. `packaging/config.toml` documents each one
/// with its default; keep the two in step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub struct Config {
    pub storage: StorageConfig,
    pub registries: RegistriesConfig,
    pub logs: LogsConfig,
    pub network: NetworkConfig,
    pub userns: UsernsConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
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
#[serde(deny_unknown_fields, default, expecting = "a table")]
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

    /// The reference an unqualified `input` (`name[:tag][@digest]`) stands
    /// for through `aliases`, its tag or digest kept: the one alias rule
    /// of pull and of the store's lookup.
    pub fn expand_alias(&self, input: &str) -> Option<String> {
        // The alias table is keyed by the name without tag or digest.
        let name_end = input.find('@').unwrap_or(input.len());
        let name_part = &input[..name_end];
        let (short, tag_part) = match name_part.rfind(':') {
            Some(i) if !name_part[i..].contains('/') => (&name_part[..i], &input[i..]),
            _ => (name_part, &input[name_end..]),
        };
        self.alias(short)
            .map(|target| format!("{target}{tag_part}"))
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
#[serde(deny_unknown_fields, default, expecting = "a table")]
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
#[serde(deny_unknown_fields, default, expecting = "a table")]
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
#[serde(deny_unknown_fields, default, expecting = "a table")]
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
            Err(e) => return Err(invalid(text, path, e, None)),
        };
        let config = toml::from_str::<Config>(text).map_err(|e| {
            let key = e.span().and_then(|s| key_at(doc.get_ref(), s.start, ""));
            invalid(text, path, e, key)
        })?;
        let lists = [
            ("search", &config.registries.search),
            ("insecure", &config.registries.insecure),
        ];
        for (name, list) in lists {
            for (i, entry) in list.iter().enumerate() {
                if let Err(why) = check_registry_entry(entry) {
                    let index = i.to_string();
                    let fault = error_at(text, &["registries", name, &index], &why);
                    let key = format!("registries.{name}[{i}]");
                    return Err(invalid(text, path, fault, Some(key)));
                }
            }
        }
        Ok(config)
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

/// A `toml` error saying `why` at the value at a key path (array elements
/// by index), for faults found after parsing: `toml` places an error its
/// deserializer raises at the value it was reading, so the value is read
/// again by one that refuses it.
pub(super) fn error_at(text: &str, path: &[&str], why: &str) -> toml::de::Error {
    struct Refuse<'a>(&'a str);
    impl<'de> de::Visitor<'de> for Refuse<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Err(E::custom(self.0))
        }
    }
    let value = || {
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
        Some(value.clone())
    };
    match value() {
        Some(v) => match toml::de::ValueDeserializer::from(v).deserialize_any(Refuse(why)) {
            Err(e) => e,
            Ok(()) => de::Error::custom(why),
        },
        None => de::Error::custom(why),
    }
}
