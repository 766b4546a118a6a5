//! Compose files to a project: finding the files, `.env`, interpolation,
//! merging several `-f` files, validation (unknown keys named with file,
//! line and a did-you-mean; dependency cycles) and the project's names.
//! It never runs a container: that is `container`'s work.

pub mod interpolate;
pub mod output;
pub mod service;
pub mod verbs;

use serde::Deserialize;
use serde_norway::{Mapping, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The file names looked for, in the compose specification's order.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("no compose file (compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml) in {0} or above")]
    NoFile(PathBuf),
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {key}: {source}")]
    Interpolation {
        path: PathBuf,
        key: String,
        source: interpolate::InterpolationError,
    },
    #[error("dependency cycle between services: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// Services whose builds each need the other's image first
    /// (`additional_contexts: NAME: service:OTHER`).
    #[error("build cycle between services (additional_contexts service:): {}", .0.join(" -> "))]
    BuildCycle(Vec<String>),
    #[error("service {service} depends on {dependency}, which is not a service of this project")]
    UnknownDependency { service: String, dependency: String },
    #[error("{0}")]
    Model(String),
    #[error("no such service: {0}")]
    NoService(String),
    #[error("service {service}: {key}: {why}")]
    Service {
        service: String,
        key: String,
        why: String,
    },
    /// A dependency did not reach the state a `depends_on` waits for.
    #[error("service {service} cannot start: {dependency} ({container}) {why}")]
    Dependency {
        service: String,
        dependency: String,
        container: String,
        why: String,
    },
    /// `up --wait`: a container that did not become running (healthy,
    /// when it has a health check).
    #[error("container {container} {why}")]
    NotReady { container: String, why: String },
    /// A SIGINT (Ctrl-C) or SIGTERM ended `up` before it was done; what
    /// it had made was stopped and removed.
    #[error("interrupted: what this up made was stopped and removed")]
    Interrupted,
    #[error(transparent)]
    Burrow(Box<crate::Error>),
}

impl From<crate::Error> for ComposeError {
    fn from(e: crate::Error) -> ComposeError {
        ComposeError::Burrow(Box::new(e))
    }
}

/// What to load: the `-f` files (none: look for the default names), `-p`,
/// the active profiles.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub profiles: Vec<String>,
    /// `--env-file`: read instead of the project directory's `.env`.
    pub env_files: Vec<PathBuf>,
}

/// A loaded project: its name, directory, the merged and interpolated
/// model (as YAML, for `config`) and the typed one.
#[derive(Debug)]
pub struct Project {
    pub name: String,
    pub dir: PathBuf,
    pub value: Value,
    pub model: Model,
    /// The variables interpolation used (the process's environment over
    /// `.env`): where a secret or config `environment:` is looked up.
    pub environment: HashMap<String, String>,
    /// Where burrow writes the secrets and configs it makes itself (from
    /// `environment:` or `content:`): set by the caller, which knows the
    /// storage root; `down` removes it.
    pub state_dir: Option<PathBuf>,
}

// ---- the typed model: strict, so that a misspelled key is an error -------

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub version: Option<Value>,
    pub name: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<TopVolume>>,
    #[serde(default)]
    pub networks: BTreeMap<String, Option<TopNetwork>>,
    #[serde(default)]
    pub secrets: BTreeMap<String, TopFile>,
    #[serde(default)]
    pub configs: BTreeMap<String, TopFile>,
}

/// A string, a number or a boolean where compose takes any scalar.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Str(s) => f.write_str(s),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A count where compose takes a whole number: an integer, or a string
/// of digits (what `${RETRIES:-3}` interpolates to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        let v = Scalar::deserialize(d)?;
        let n = match &v {
            Scalar::Int(i) => u32::try_from(*i).ok(),
            Scalar::Str(s) => s.trim().parse().ok(),
            Scalar::Float(_) | Scalar::Bool(_) => None,
        };
        n.map(Count).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{:?} is not a whole number (0 or more)",
                v.to_string()
            ))
        })
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum StrOrList {
    Str(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum ListOrMap {
    List(Vec<String>),
    Map(BTreeMap<String, Option<Scalar>>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub image: Option<String>,
    pub build: Option<Build>,
    pub command: Option<StrOrList>,
    pub entrypoint: Option<StrOrList>,
    pub environment: Option<ListOrMap>,
    pub env_file: Option<StrOrList>,
    pub ports: Option<Vec<Port>>,
    pub expose: Option<Vec<Scalar>>,
    pub volumes: Option<Vec<ServiceVolume>>,
    pub depends_on: Option<DependsOn>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: Option<String>,
    pub networks: Option<ServiceNetworks>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub labels: Option<ListOrMap>,
    pub profiles: Option<Vec<String>>,
    pub deploy: Option<Deploy>,
    pub container_name: Option<String>,
    pub hostname: Option<String>,
    pub init: Option<bool>,
    pub tty: Option<bool>,
    pub stdin_open: Option<bool>,
    pub read_only: Option<bool>,
    pub stop_signal: Option<String>,
    pub stop_grace_period: Option<String>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub extra_hosts: Option<ListOrMap>,
    pub pull_policy: Option<String>,
    pub platform: Option<String>,
    pub network_mode: Option<String>,
    pub scale: Option<Scalar>,
    pub secrets: Option<Vec<FileRef>>,
    pub configs: Option<Vec<FileRef>>,
}

/// A top-level secret or config: where its content comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopFile {
    pub file: Option<String>,
    pub environment: Option<String>,
    pub content: Option<String>,
    pub external: Option<bool>,
    pub name: Option<String>,
    pub labels: Option<ListOrMap>,
    pub template_driver: Option<String>,
}

/// A service's use of a secret or config: its name, or where and how.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FileRef {
    Short(String),
    Long(FileRefSpec),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRefSpec {
    pub source: String,
    pub target: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub mode: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Build {
    Context(String),
    Full(BuildSpec),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    pub context: Option<String>,
    pub dockerfile: Option<String>,
    pub args: Option<ListOrMap>,
    pub target: Option<String>,
    /// Named contexts (`NAME=VALUE` or a map): a directory relative to
    /// the project directory, `docker-image://REF`, or `service:NAME`
    /// (the image built for that service, which is built first).
    pub additional_contexts: Option<ListOrMap>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Port {
    Short(Scalar),
    Long(PortSpec),
}

impl Port {
    /// The entry in `run --publish`'s form: `[IP:][HOST:]CONTAINER[/PROTO]`.
    pub fn text(&self) -> String {
        match self {
            Port::Short(v) => v.to_string(),
            Port::Long(l) => {
                let mut t = String::new();
                if let Some(ip) = &l.host_ip {
                    t.push_str(ip);
                    t.push(':');
                }
                if let Some(p) = &l.published {
                    t.push_str(&p.to_string());
                    t.push(':');
                }
                t.push_str(&l.target.to_string());
                if let Some(proto) = &l.protocol {
                    t.push('/');
                    t.push_str(proto);
                }
                t
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    pub target: Scalar,
    pub published: Option<Scalar>,
    pub host_ip: Option<String>,
    pub protocol: Option<String>,
    pub mode: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ServiceVolume {
    Short(String),
    Long(Box<VolumeSpec>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: Option<bool>,
    pub bind: Option<Value>,
    pub volume: Option<Value>,
    pub tmpfs: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DependsOn {
    List(Vec<String>),
    Map(BTreeMap<String, Dependency>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    #[serde(default)]
    pub condition: Condition,
    pub restart: Option<bool>,
    pub required: Option<bool>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    pub test: Option<StrOrList>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<Count>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub disable: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ServiceNetworks {
    List(Vec<String>),
    Map(BTreeMap<String, Option<ServiceNetwork>>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    pub aliases: Option<Vec<String>>,
    pub ipv4_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub resources: Option<Resources>,
    pub replicas: Option<Scalar>,
    pub restart_policy: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub limits: Option<Limits>,
    pub reservations: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub cpus: Option<Scalar>,
    pub memory: Option<Scalar>,
    pub pids: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopVolume {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub driver_opts: Option<BTreeMap<String, Scalar>>,
    pub external: Option<bool>,
    pub labels: Option<ListOrMap>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopNetwork {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub driver_opts: Option<BTreeMap<String, Scalar>>,
    pub external: Option<bool>,
    pub internal: Option<bool>,
    pub labels: Option<ListOrMap>,
    pub ipam: Option<Value>,
}

// ---- loading --------------------------------------------------------------

/// Finds the compose files: the `-f` ones, else the first default name in
/// `dir` or a parent directory.
pub fn find_files(opts: &Options, dir: &Path) -> Result<Vec<PathBuf>, ComposeError> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| dir.join(f)).collect());
    }
    for d in dir.ancestors() {
        for name in DEFAULT_FILES {
            let p = d.join(name);
            if p.is_file() {
                return Ok(vec![p]);
            }
        }
    }
    Err(ComposeError::NoFile(dir.to_path_buf()))
}

/// A project name as compose normalises one: lower case, only
/// `[a-z0-9_-]`, starting with a letter or digit.
pub fn normalise_name(s: &str) -> String {
    let lowered: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    lowered
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Reads a `.env` file: `KEY=VALUE` lines, `#` comments, optional quotes
/// and `export `.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            // An unquoted value ends at ` #`.
            v.split(" #").next().unwrap_or(v).trim_end()
        };
        out.push((k.trim().to_string(), v.to_string()));
    }
    out
}

/// Loads a project from `dir` (the working directory) and `env` (the
/// process's environment, which wins over `.env`).
pub fn load(
    opts: &Options,
    dir: &Path,
    env: &HashMap<String, String>,
) -> Result<Project, ComposeError> {
    let files = find_files(opts, dir)?;
    let project_dir = files[0]
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf());
    let mut vars: HashMap<String, String> = HashMap::new();
    let env_files = if opts.env_files.is_empty() {
        let dot_env = project_dir.join(".env");
        if dot_env.is_file() {
            vec![dot_env]
        } else {
            Vec::new()
        }
    } else {
        opts.env_files.iter().map(|f| dir.join(f)).collect()
    };
    for path in env_files {
        let text = std::fs::read_to_string(&path).map_err(|source| ComposeError::Read {
            path: path.clone(),
            source,
        })?;
        vars.extend(parse_env_file(&text));
    }
    vars.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut merged = Value::Mapping(Mapping::new());
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Read {
            path: path.clone(),
            source,
        })?;
        let value = parse_one(path, &text, &vars)?;
        merged = merge(merged, value);
    }
    let mut model: Model = serde_norway::from_value(strip_extensions(merged.clone()))
        .map_err(|e| ComposeError::Model(e.to_string()))?;

    let name = opts
        .project_name
        .clone()
        .or_else(|| model.name.clone())
        .or_else(|| vars.get("COMPOSE_PROJECT_NAME").cloned())
        .unwrap_or_else(|| {
            project_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let name = normalise_name(&name);
    if name.is_empty() {
        return Err(ComposeError::Model(
            "the project name is empty once normalised: give one with -p".into(),
        ));
    }

    // Profiles: a service with profiles runs only when one is active.
    let mut profiles = opts.profiles.clone();
    if profiles.is_empty() {
        if let Some(p) = vars.get("COMPOSE_PROFILES") {
            profiles = p.split(',').map(|s| s.trim().to_string()).collect();
        }
    }
    let inactive: Vec<String> = model
        .services
        .iter()
        .filter(|(_, s)| {
            s.profiles
                .as_ref()
                .is_some_and(|ps| !ps.iter().any(|p| profiles.contains(p) || p == "*"))
        })
        .map(|(n, _)| n.clone())
        .collect();
    let mut value = merged;
    for n in &inactive {
        model.services.remove(n);
        if let Some(Value::Mapping(s)) = value.get_mut("services") {
            s.remove(n.as_str());
        }
    }
    if let Value::Mapping(m) = &mut value {
        m.insert("name".into(), Value::String(name.clone()));
    }
    check_dependencies(&model)?;
    Ok(Project {
        name,
        dir: project_dir,
        value,
        model,
        environment: vars,
        state_dir: None,
    })
}

/// Parses one file, interpolates it, and checks it against the strict
/// model (and for a host port published twice by one service), so that an
/// unknown key or a value of the wrong kind is reported with this file's
/// line. Checked once interpolated: `retries: ${RETRIES:-3}` is a number.
fn parse_one(
    path: &Path,
    text: &str,
    vars: &HashMap<String, String>,
) -> Result<Value, ComposeError> {
    let invalid = |line: usize, message: String| ComposeError::Invalid {
        path: path.to_path_buf(),
        line,
        message,
    };
    let value: Value = serde_norway::from_str(text)
        .map_err(|e| invalid(e.location().map_or(0, |l| l.line()), e.to_string()))?;
    let mut value = match value {
        Value::Null => Value::Mapping(Mapping::new()),
        v => v,
    };
    // `<<: *anchor` merge keys, as compose files use them with x- blocks.
    value
        .apply_merge()
        .map_err(|e| invalid(e.location().map_or(0, |l| l.line()), e.to_string()))?;
    let value = interpolate_value(path, "", value, vars)?;
    let stripped = strip_extensions(value.clone());
    let model = serde_norway::from_value::<Model>(stripped.clone());
    if let Err(e) = model {
        let (path, message) = locate(&stripped).unwrap_or_else(|| (Vec::new(), e.to_string()));
        let line = path_line(text, &path);
        let message = match unknown_field(&message) {
            Some((key, expected)) => {
                let hint = did_you_mean(&key, &expected)
                    .map(|s| format!(" (did you mean {s:?}?)"))
                    .unwrap_or_default();
                let at = path[..path.len().saturating_sub(1)].join(".");
                let at = if at.is_empty() {
                    "top level".into()
                } else {
                    at
                };
                format!("{at}: unknown key {key:?}{hint}")
            }
            None if path.is_empty() => message,
            None => format!("{}: {message}", path.join(".")),
        };
        return Err(invalid(line, message));
    }
    if let Ok(model) = model {
        for (name, service) in &model.services {
            if let Some(why) = published_twice(service.ports.iter().flatten()) {
                let at = ["services", name.as_str(), "ports"].map(String::from);
                return Err(invalid(
                    path_line(text, &at),
                    format!("{}: {why}", at.join(".")),
                ));
            }
        }
    }
    Ok(value)
}

/// The first host port that two of `ports` publish (on one address, or
/// one of them on every address, for one protocol), saying which entries;
/// ports left for the kernel to choose and entries that do not parse
/// (refused when the service is run) are not compared.
fn published_twice<'a>(ports: impl Iterator<Item = &'a Port>) -> Option<String> {
    let mut seen: Vec<(crate::net::ports::PublishedPort, String)> = Vec::new();
    for port in ports {
        let text = port.text();
        for p in crate::net::ports::parse_publish(&text)
            .into_iter()
            .flatten()
        {
            if p.host_port == 0 {
                continue;
            }
            let clash = seen.iter().find(|(q, _)| {
                q.host_port == p.host_port
                    && q.proto == p.proto
                    && (q.host_ip.is_none() || p.host_ip.is_none() || q.host_ip == p.host_ip)
            });
            if let Some((_, first)) = clash {
                return Some(format!(
                    "host port {}/{} is published twice ({first:?} and {text:?})",
                    p.host_port, p.proto
                ));
            }
            seen.push((p, text.clone()));
        }
    }
    None
}

/// The key path of what the strict model refuses in `value`, and why:
/// each key of the top level, and of each service, volume, network,
/// secret and config, is checked alone against its type.
fn locate(value: &Value) -> Option<(Vec<String>, String)> {
    use serde::de::DeserializeOwned;
    fn alone<T: DeserializeOwned>(k: &Value, v: &Value) -> Option<String> {
        let mut m = Mapping::new();
        m.insert(k.clone(), v.clone());
        serde_norway::from_value::<T>(Value::Mapping(m))
            .err()
            .map(|e| e.to_string())
    }
    fn entries<T: DeserializeOwned>(section: &str, v: &Value) -> Option<(Vec<String>, String)> {
        let Value::Mapping(m) = v else { return None };
        for (name, entry) in m {
            let name = key_text(name);
            match entry {
                Value::Mapping(keys) => {
                    for (k, x) in keys {
                        if let Some(e) = alone::<T>(k, x) {
                            let mut path = vec![section.into(), name, key_text(k)];
                            let inner = (section == "services")
                                .then(|| long_form(&key_text(k), x))
                                .flatten();
                            return Some(match inner {
                                Some((sub, e)) => {
                                    path.extend(sub);
                                    (path, e)
                                }
                                None => (path, e),
                            });
                        }
                    }
                }
                Value::Null => {}
                other => {
                    if let Err(e) = serde_norway::from_value::<T>(other.clone()) {
                        return Some((vec![section.into(), name], e.to_string()));
                    }
                }
            }
        }
        None
    }
    /// The key at fault in a mapping of type `T`: an unknown one, else
    /// the first whose value `T` refuses (a key that is only missing is
    /// not one: the mapping's own error says so).
    fn fault<T: DeserializeOwned>(v: &Value) -> Option<(Vec<String>, String)> {
        let Value::Mapping(m) = v else { return None };
        let whole = serde_norway::from_value::<T>(v.clone()).err()?.to_string();
        if let Some((key, _)) = unknown_field(&whole) {
            return Some((vec![key], whole));
        }
        m.iter()
            .find_map(|(k, x)| {
                alone::<T>(k, x)
                    .filter(|e| !e.contains("missing field"))
                    .map(|e| (vec![key_text(k)], e))
            })
            .or(Some((Vec::new(), whole)))
    }
    /// Inside a service's key whose value has a long form (an untagged
    /// enum, whose own error names no key: "did not match any variant"),
    /// the key of the long form at fault and why.
    fn long_form(key: &str, v: &Value) -> Option<(Vec<String>, String)> {
        let items = || v.as_sequence().into_iter().flatten();
        let values = || v.as_mapping().into_iter().flat_map(|m| m.values());
        match key {
            "build" => fault::<BuildSpec>(v),
            "healthcheck" => fault::<Healthcheck>(v),
            "deploy" => fault::<Deploy>(v),
            "ports" => items().find_map(fault::<PortSpec>),
            "volumes" => items().find_map(fault::<VolumeSpec>),
            "secrets" | "configs" => items().find_map(fault::<FileRefSpec>),
            "depends_on" => values().find_map(fault::<Dependency>),
            "networks" => values().find_map(fault::<ServiceNetwork>),
            _ => None,
        }
    }
    let Value::Mapping(top) = value else {
        return Some((Vec::new(), "the file is not a mapping of keys".into()));
    };
    for (k, v) in top {
        let found = match k.as_str() {
            Some("services") => entries::<Service>("services", v),
            Some("volumes") => entries::<TopVolume>("volumes", v),
            Some("networks") => entries::<TopNetwork>("networks", v),
            Some("secrets") => entries::<TopFile>("secrets", v),
            Some("configs") => entries::<TopFile>("configs", v),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
        if let Some(e) = alone::<Model>(k, v) {
            return Some((vec![key_text(k)], e));
        }
    }
    None
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// The 1-based line of a key path in a file's text: each key looked for
/// within the block of the one before (a line indented more than it), as
/// a block key, else inside a flow mapping on one line; 0 when not found.
fn path_line(text: &str, path: &[String]) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let blank = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
    let (mut from, mut parent, mut found) = (0usize, None::<usize>, 0usize);
    for key in path {
        // The parent's block: from `from` to the first line back at or
        // before the parent's indentation.
        let end = lines
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, l)| !blank(l) && parent.is_some_and(|p| indent(l) <= p))
            .map_or(lines.len(), |(i, _)| i);
        let block = from..end;
        let as_key = block.clone().find(|&i| {
            let t = lines[i].trim_start().trim_start_matches("- ");
            let t = t.trim_start_matches(['"', '\'']);
            t.strip_prefix(key.as_str())
                .is_some_and(|r| r.trim_start_matches(['"', '\'']).starts_with(':'))
        });
        match as_key {
            Some(i) => {
                found = i + 1;
                parent = Some(indent(lines[i]));
                from = i + 1;
            }
            None => {
                if let Some(i) = block.clone().find(|&i| {
                    lines[i].contains(&format!("{{{key}:"))
                        || lines[i].contains(&format!(" {key}:"))
                }) {
                    found = i + 1;
                }
                break;
            }
        }
    }
    found
}

/// Removes `x-*` extension keys, which the specification allows anywhere
/// at the top level and in a service.
fn strip_extensions(mut value: Value) -> Value {
    fn strip(m: &mut Mapping) {
        m.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
    }
    if let Value::Mapping(m) = &mut value {
        strip(m);
        if let Some(Value::Mapping(services)) = m.get_mut("services") {
            for (_, s) in services.iter_mut() {
                if let Value::Mapping(s) = s {
                    strip(s);
                }
            }
        }
    }
    value
}

/// From serde's "unknown field `x`, expected one of `a`, `b`", the key
/// and the keys expected.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.split("unknown field `").nth(1)?;
    let (key, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((key.to_string(), expected))
}

fn did_you_mean(key: &str, expected: &[String]) -> Option<String> {
    expected
        .iter()
        .map(|e| (strsim::jaro_winkler(key, e), e))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, e)| e.clone())
}

/// Interpolates every string value (never a key) of the tree.
fn interpolate_value(
    path: &Path,
    at: &str,
    value: Value,
    vars: &HashMap<String, String>,
) -> Result<Value, ComposeError> {
    let lookup = |k: &str| vars.get(k).cloned();
    Ok(match value {
        Value::String(s) => {
            Value::String(interpolate::interpolate(&s, &lookup).map_err(|source| {
                ComposeError::Interpolation {
                    path: path.to_path_buf(),
                    key: at.trim_start_matches('.').to_string(),
                    source,
                }
            })?)
        }
        Value::Sequence(seq) => Value::Sequence(
            seq.into_iter()
                .enumerate()
                .map(|(i, v)| interpolate_value(path, &format!("{at}[{i}]"), v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            for (k, v) in m {
                let name = k.as_str().map(str::to_string).unwrap_or_default();
                out.insert(
                    k,
                    interpolate_value(path, &format!("{at}.{name}"), v, vars)?,
                );
            }
            Value::Mapping(out)
        }
        other => other,
    })
}

/// Keys whose lists a later file replaces instead of extending.
const REPLACED: [&str; 5] = ["command", "entrypoint", "test", "profiles", "env_file"];
/// Keys given as a list of `K=V` or a map, merged as maps.
const MAP_LIKE: [&str; 5] = [
    "environment",
    "labels",
    "args",
    "extra_hosts",
    "additional_contexts",
];

/// Merges a later file over an earlier one as compose does: mappings key by
/// key, `environment`/`labels`/`args` as maps, `command`/`entrypoint`/
/// `test` replaced, `ports` appended, `volumes` by target, other lists
/// appended without duplicates.
pub fn merge(base: Value, over: Value) -> Value {
    merge_at("", base, over)
}

fn merge_at(key: &str, base: Value, over: Value) -> Value {
    if MAP_LIKE.contains(&key) {
        let mut m = as_map(base);
        for (k, v) in as_map(over) {
            m.insert(k, v);
        }
        return Value::Mapping(m);
    }
    match (base, over) {
        (Value::Mapping(mut b), Value::Mapping(o)) => {
            for (k, v) in o {
                let name = k.as_str().unwrap_or_default().to_string();
                let merged = match b.remove(&k) {
                    Some(old) => merge_at(&name, old, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            Value::Mapping(b)
        }
        (Value::Sequence(b), Value::Sequence(o)) if !REPLACED.contains(&key) => {
            let mut out = b;
            for v in o {
                if key == "volumes" {
                    let t = volume_target(&v);
                    out.retain(|old| t.is_none() || volume_target(old) != t);
                }
                if key == "ports" || !out.contains(&v) {
                    out.push(v);
                }
            }
            Value::Sequence(out)
        }
        (_, over) => over,
    }
}

fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => s.split(':').nth(1).map(str::to_string),
        Value::Mapping(m) => m.get("target").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// A list of `K=V` (or `K`) or a map, as a map.
fn as_map(v: Value) -> Mapping {
    match v {
        Value::Mapping(m) => m,
        Value::Sequence(seq) => seq
            .into_iter()
            .filter_map(|item| {
                let s = item.as_str()?.to_string();
                Some(match s.split_once('=') {
                    Some((k, v)) => (Value::String(k.into()), Value::String(v.into())),
                    None => (Value::String(s), Value::Null),
                })
            })
            .collect(),
        _ => Mapping::new(),
    }
}

impl Service {
    /// The services this one depends on, with the condition awaited; the
    /// service whose network it shares (`network_mode: service:NAME`) too.
    pub fn dependencies(&self) -> Vec<(String, Condition)> {
        let mut deps: Vec<(String, Condition)> = match &self.depends_on {
            None => Vec::new(),
            Some(DependsOn::List(l)) => l
                .iter()
                .map(|n| (n.clone(), Condition::ServiceStarted))
                .collect(),
            Some(DependsOn::Map(m)) => m.iter().map(|(n, d)| (n.clone(), d.condition)).collect(),
        };
        if let Some(net) = self
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("service:"))
        {
            if !deps.iter().any(|(d, _)| d == net) {
                deps.push((net.to_string(), Condition::ServiceStarted));
            }
        }
        deps
    }

    /// The services whose images this one's build uses, with the
    /// context's name: `additional_contexts` given as `service:NAME`.
    pub fn build_services(&self) -> Vec<(String, String)> {
        let Some(Build::Full(b)) = &self.build else {
            return Vec::new();
        };
        b.additional_contexts
            .as_ref()
            .map(service::key_values)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, value)| {
                let other = value?.strip_prefix("service:")?.to_string();
                Some((name, other))
            })
            .collect()
    }
}

/// Every dependency names a service, and there is no cycle; nor among
/// the services whose images builds use (`service:` contexts).
fn check_dependencies(model: &Model) -> Result<(), ComposeError> {
    for (name, s) in &model.services {
        for (dep, _) in s.dependencies() {
            if !model.services.contains_key(&dep) {
                return Err(ComposeError::UnknownDependency {
                    service: name.clone(),
                    dependency: dep,
                });
            }
        }
        for (context, other) in s.build_services() {
            if !model.services.contains_key(&other) {
                return Err(ComposeError::Service {
                    service: name.clone(),
                    key: "build.additional_contexts".into(),
                    why: format!(
                        "{context}=service:{other}: {other:?} is not a service of this project"
                    ),
                });
            }
        }
    }
    start_order(model)?;
    let all: Vec<String> = model.services.keys().cloned().collect();
    ordered(model, &all, |s| {
        s.build_services().into_iter().map(|(_, o)| o).collect()
    })
    .map_err(|e| match e {
        ComposeError::Cycle(c) => ComposeError::BuildCycle(c),
        e => e,
    })?;
    Ok(())
}

/// The services in an order that starts each after its dependencies.
pub fn start_order(model: &Model) -> Result<Vec<String>, ComposeError> {
    let all: Vec<String> = model.services.keys().cloned().collect();
    ordered(model, &all, |s| {
        s.dependencies().into_iter().map(|(d, _)| d).collect()
    })
}

/// The services `services` build on, and those, each before the service
/// whose build uses its image (a `service:` context): the order in which
/// they are built.
pub fn build_order(model: &Model, services: &[String]) -> Result<Vec<String>, ComposeError> {
    ordered(model, services, |s| {
        s.build_services().into_iter().map(|(_, o)| o).collect()
    })
    .map_err(|e| match e {
        ComposeError::Cycle(c) => ComposeError::BuildCycle(c),
        e => e,
    })
}

/// `roots` and what `edges` reaches from them, each after what it
/// reaches (depth first, in the order given); a cycle is an error naming
/// its path.
fn ordered(
    model: &Model,
    roots: &[String],
    edges: impl Fn(&Service) -> Vec<String>,
) -> Result<Vec<String>, ComposeError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    struct Walk<'a, F> {
        model: &'a Model,
        edges: F,
        marks: HashMap<String, Mark>,
        stack: Vec<String>,
        out: Vec<String>,
    }
    impl<F: Fn(&Service) -> Vec<String>> Walk<'_, F> {
        fn visit(&mut self, name: &str) -> Result<(), ComposeError> {
            match self.marks.get(name) {
                Some(Mark::Done) => return Ok(()),
                Some(Mark::Visiting) => {
                    let from = self.stack.iter().position(|s| s == name).unwrap_or(0);
                    let mut cycle = self.stack[from..].to_vec();
                    cycle.push(name.to_string());
                    return Err(ComposeError::Cycle(cycle));
                }
                None => {}
            }
            self.marks.insert(name.to_string(), Mark::Visiting);
            self.stack.push(name.to_string());
            let next = self.model.services.get(name).map(&self.edges);
            for dep in next.into_iter().flatten() {
                self.visit(&dep)?;
            }
            self.stack.pop();
            self.marks.insert(name.to_string(), Mark::Done);
            self.out.push(name.to_string());
            Ok(())
        }
    }
    let mut walk = Walk {
        model,
        edges,
        marks: HashMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for name in roots {
        walk.stack.clear();
        walk.visit(name)?;
    }
    Ok(walk.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn load_in(dir: &Path, files: &[&str], env: &[(&str, &str)]) -> Result<Project, ComposeError> {
        let opts = Options {
            files: files.iter().map(PathBuf::from).collect(),
            ..Options::default()
        };
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(&opts, dir, &env)
    }

    #[test]
    fn a_misspelled_key_is_named_with_file_line_and_a_suggestion() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "compose.yaml",
            "services:\n  web:\n    image: x\n    enviroment:\n      A: 1\n",
        );
        let e = load_in(d.path(), &[], &[]).unwrap_err().to_string();
        assert!(e.contains("compose.yaml:4:"), "{e}");
        assert!(e.contains("\"enviroment\""), "{e}");
        assert!(e.contains("did you mean \"environment\""), "{e}");
    }

    #[test]
    fn a_wrong_type_is_named_with_its_key_path_and_the_line_of_that_service() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "compose.yaml",
            "services:\n  a:\n    image: x\n    ports: [\"80:80\"]\n  b:\n    image: x\n    ports: 80\n",
        );
        let e = load_in(d.path(), &[], &[]).unwrap_err().to_string();
        assert!(e.contains("compose.yaml:7: services.b.ports: "), "{e}");
        write(
            d.path(),
            "compose.yaml",
            "services:\n  a: {image: x}\nvolumes:\n  data:\n    drivr: local\nservces: {}\n",
        );
        let e = load_in(d.path(), &[], &[]).unwrap_err().to_string();
        assert!(
            e.contains(
                "compose.yaml:6: top level: unknown key \"servces\" (did you mean \"services\"?)"
            ) || e.contains(
                "compose.yaml:5: volumes.data: unknown key \"drivr\" (did you mean \"driver\"?)"
            ),
            "{e}"
        );
    }

    #[test]
    fn extension_keys_are_allowed() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "compose.yaml",
            "x-common: &c {image: x}\nservices:\n  web:\n    x-note: hi\n    image: y\n",
        );
        load_in(d.path(), &[], &[]).unwrap();
    }

    #[test]
    fn dot_env_and_the_environment_are_interpolated_and_the_environment_wins() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), ".env", "TAG=1.0\nPORT=80 # comment\n");
        write(
            d.path(),
            "compose.yaml",
            "services:\n  web:\n    image: \"app:${TAG}\"\n    ports: [\"${PORT}:${INNER:-8080}\"]\n    command: echo $$HOME\n",
        );
        let p = load_in(d.path(), &[], &[("TAG", "2.0")]).unwrap();
        let web = &p.value["services"]["web"];
        assert_eq!(web["image"].as_str(), Some("app:2.0"));
        assert_eq!(web["ports"][0].as_str(), Some("80:8080"));
        assert_eq!(web["command"].as_str(), Some("echo $HOME"));
    }

    #[test]
    fn a_bad_interpolation_names_file_and_key() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "compose.yaml",
            "services:\n  db:\n    image: \"${DB_IMAGE:?set DB_IMAGE}\"\n",
        );
        let e = load_in(d.path(), &[], &[]).unwrap_err().to_string();
        assert!(e.contains("services.db.image"), "{e}");
        assert!(e.contains("set DB_IMAGE"), "{e}");
    }

    #[test]
    fn files_merge_as_compose_merges_them() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "a.yaml",
            "services:\n  web:\n    image: a\n    command: [x, y]\n    environment: [A=1, B=2]\n    ports: [\"80:80\"]\n    volumes: [\"d:/data\", \"/h:/h\"]\n",
        );
        write(
            d.path(),
            "b.yaml",
            "services:\n  web:\n    command: [z]\n    environment: {B: 3, C: 4}\n    ports: [\"81:81\"]\n    volumes: [\"e:/data\"]\n",
        );
        let p = load_in(d.path(), &["a.yaml", "b.yaml"], &[]).unwrap();
        let web = &p.value["services"]["web"];
        assert_eq!(web["image"].as_str(), Some("a"));
        assert_eq!(
            web["command"],
            serde_norway::from_str::<Value>("[z]").unwrap()
        );
        assert_eq!(web["environment"]["A"].as_str(), Some("1"));
        assert_eq!(web["environment"]["B"].as_u64(), Some(3));
        assert_eq!(web["ports"].as_sequence().unwrap().len(), 2);
        let vols: Vec<_> = web["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(vols, ["/h:/h", "e:/data"]);
    }

    #[test]
    fn a_dependency_cycle_is_refused_with_its_path() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "compose.yaml",
            "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: {c: {condition: service_healthy}}}\n  c: {image: x, depends_on: [a]}\n",
        );
        let e = load_in(d.path(), &[], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dependency cycle between services: a -> b -> c -> a"
        );
    }

    #[test]
    fn start_order_puts_dependencies_first_and_profiles_hide_services() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "compose.yaml",
            "services:\n  web: {image: x, depends_on: {db: {condition: service_healthy}}}\n  db: {image: y}\n  debug: {image: z, profiles: [dev]}\n",
        );
        let p = load_in(d.path(), &[], &[]).unwrap();
        assert_eq!(start_order(&p.model).unwrap(), ["db", "web"]);
        assert_eq!(
            p.model.services["web"].dependencies(),
            [("db".to_string(), Condition::ServiceHealthy)]
        );
        let p = load_in(d.path(), &[], &[("COMPOSE_PROFILES", "dev")]).unwrap();
        assert!(p.model.services.contains_key("debug"));
    }

    #[test]
    fn the_project_name_defaults_to_the_directory_normalised() {
        assert_eq!(normalise_name("My App.v2"), "myappv2");
        assert_eq!(normalise_name("_-x_y"), "x_y");
    }
}
