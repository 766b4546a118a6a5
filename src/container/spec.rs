//! The typed values a container is made from: what the command line's
//! value parsers produce and what the record and the supervisor's plan
//! keep. Plain data with their parsers and their text forms; nothing here
//! touches the machine.

use crate::net::{NetworkMode, PublishedPort};
use crate::sandbox::CapName;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

pub use crate::sandbox::spec::{Rlimit, RlimitResource};

/// A mount the user asked for (`-v`, `--mount`, `--tmpfs`), checked and
/// made absolute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserMount {
    /// A host path bound into the container.
    Bind {
        /// The host path, absolute, its symlinks resolved.
        source: PathBuf,
        /// Where it appears in the container (absolute, no `..`).
        target: String,
        /// Mounted read-only (`:ro`, `readonly`).
        read_only: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Where it appears in the container (absolute, no `..`).
        target: String,
        /// Its size limit in bytes (`size=`, `tmpfs-size=`); the kernel's
        /// default (half the memory) when `None`.
        size: Option<u64>,
        /// Its root's mode (`mode=`, `tmpfs-mode=`); 1777 when `None`.
        mode: Option<u32>,
    },
    /// A volume under the storage root (`-v NAME:/path`, `-v /path`,
    /// `--mount type=volume`, the image's VOLUME).
    Volume {
        /// Its name; empty in a parsed flag for an anonymous volume, whose
        /// random name is given when the container is made.
        name: String,
        /// Where it appears in the container (absolute, no `..`).
        target: String,
        /// Mounted read-only.
        read_only: bool,
        /// `nocopy`, `volume-nocopy`: an empty volume is not filled from
        /// the image's content at its target.
        #[serde(default)]
        no_copy: bool,
        /// Made for this container alone (`-v /path`, the image's VOLUME):
        /// removed with it by `rm -v` and `--rm`.
        #[serde(default)]
        anonymous: bool,
    },
}

impl UserMount {
    /// Where it appears in the container.
    pub fn target(&self) -> &str {
        match self {
            UserMount::Bind { target, .. }
            | UserMount::Tmpfs { target, .. }
            | UserMount::Volume { target, .. } => target,
        }
    }
}

/// `--restart`: what the supervisor does when the container exits on its
/// own (never after `stop` or `kill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never restart (`no`, the default).
    #[default]
    No,
    /// Restart on a non-zero exit, at most this many times if given.
    OnFailure(Option<u32>),
    /// Always restart.
    Always,
    /// As `Always` while the supervisor lives (burrow has no daemon whose
    /// restart would tell the two apart); kept to be shown as asked.
    UnlessStopped,
}

/// A `--restart` value burrow does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartPolicyError {
    #[error("invalid --restart {0:?}: the count must be a number")]
    Count(String),
    #[error("invalid --restart {0:?}: no, on-failure[:N], always")]
    Unknown(String),
}

impl FromStr for RestartPolicy {
    type Err = RestartPolicyError;
    fn from_str(s: &str) -> Result<Self, RestartPolicyError> {
        match s.split_once(':') {
            None if s == "no" || s.is_empty() => Ok(RestartPolicy::No),
            None if s == "always" => Ok(RestartPolicy::Always),
            None if s == "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            None if s == "on-failure" => Ok(RestartPolicy::OnFailure(None)),
            Some(("on-failure", n)) => n
                .parse()
                .map(|n| RestartPolicy::OnFailure(Some(n)))
                .map_err(|_| RestartPolicyError::Count(s.to_string())),
            _ => Err(RestartPolicyError::Unknown(s.to_string())),
        }
    }
}

impl fmt::Display for RestartPolicy {
    /// As `--restart` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::OnFailure(None) => f.write_str("on-failure"),
            RestartPolicy::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

impl RestartPolicy {
    /// Whether to start again after exit `code` and `restarts` restarts.
    pub fn wants_restart(self, code: i32, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|m| restarts < m),
        }
    }
}

/// `--ulimit NAME=SOFT[:HARD]` that does not parse, in docker's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UlimitError {
    #[error("invalid ulimit argument: {0}")]
    Syntax(String),
    #[error("invalid ulimit type: {0} (core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)")]
    Name(String),
    #[error("invalid ulimit value {0:?}: a number, -1 or unlimited")]
    Value(String),
    #[error("too many limit value arguments - {0}, can only have up to two, `soft[:hard]`")]
    TooMany(String),
    #[error("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")]
    SoftAboveHard { soft: u64, hard: u64 },
}

/// `--ulimit`: `nofile=1024`, `nofile=1024:2048`, `core=-1` (-1 or
/// `unlimited` is no limit); a missing hard limit is the soft one.
pub fn parse_ulimit(s: &str) -> Result<Rlimit, UlimitError> {
    let (name, values) = s
        .split_once('=')
        .ok_or_else(|| UlimitError::Syntax(s.to_string()))?;
    let resource = RlimitResource::ALL
        .into_iter()
        .find(|r| r.name() == name)
        .ok_or_else(|| UlimitError::Name(name.to_string()))?;
    let value = |v: &str| match v {
        "-1" | "unlimited" => Ok(u64::MAX),
        v => v
            .parse::<u64>()
            .map_err(|_| UlimitError::Value(v.to_string())),
    };
    let (soft, hard) = match values.split(':').collect::<Vec<_>>()[..] {
        [soft] => (value(soft)?, value(soft)?),
        [soft, hard] => (value(soft)?, value(hard)?),
        _ => return Err(UlimitError::TooMany(values.to_string())),
    };
    if soft > hard {
        return Err(UlimitError::SoftAboveHard { soft, hard });
    }
    Ok(Rlimit {
        resource,
        soft,
        hard,
    })
}

/// A `--sysctl` burrow does not set, as docker refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysctlError {
    #[error("invalid --sysctl {0:?}: NAME=VALUE")]
    Syntax(String),
    #[error(
        "sysctl '{0}' is not allowed: only namespaced sysctls can be set for a container          (net.*, kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall,          kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced, fs.mqueue.*)"
    )]
    NotNamespaced(String),
    #[error("sysctl '{0}' is not allowed in the host's network namespace (--network {1})")]
    SharedNetwork(String, String),
}

/// The IPC namespace's sysctls, as docker allows them.
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// `--sysctl NAME=VALUE`: only what the container's own network or IPC
/// namespace holds. A name is dotted words (a `/` form is taken too);
/// nothing in it may climb out of /proc/sys.
pub fn parse_sysctl(s: &str) -> Result<(String, String), SysctlError> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| SysctlError::Syntax(s.to_string()))?;
    let name = name.trim().replace('/', ".");
    let words_ok = name.split('.').all(|w| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !words_ok {
        return Err(SysctlError::Syntax(s.to_string()));
    }
    let namespaced = IPC_SYSCTLS.contains(&name.as_str())
        || name.starts_with("net.")
        || name.starts_with("fs.mqueue.");
    if !namespaced {
        return Err(SysctlError::NotNamespaced(name));
    }
    Ok((name, value.to_string()))
}

/// `--log-driver`: where the container's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    /// burrow's own log file (what `logs` reads), under this name.
    #[default]
    K8sFile,
    /// The same file, named as docker names its default.
    JsonFile,
    /// No log: `logs` has nothing to show (`attach` still relays).
    None,
    /// The container's stdio are the caller's own: a foreground run
    /// without a terminal; no log.
    Passthrough,
}

impl LogDriver {
    pub fn name(self) -> &'static str {
        match self {
            LogDriver::K8sFile => "k8s-file",
            LogDriver::JsonFile => "json-file",
            LogDriver::None => "none",
            LogDriver::Passthrough => "passthrough",
        }
    }

    /// Whether output goes to the log file.
    pub fn writes_log(self) -> bool {
        matches!(self, LogDriver::K8sFile | LogDriver::JsonFile)
    }
}

impl FromStr for LogDriver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "k8s-file" => Ok(LogDriver::K8sFile),
            "json-file" => Ok(LogDriver::JsonFile),
            "none" => Ok(LogDriver::None),
            "passthrough" => Ok(LogDriver::Passthrough),
            _ => Err(format!(
                "--log-driver {s:?}: burrow has k8s-file, json-file, none and passthrough"
            )),
        }
    }
}

/// `--log-opt KEY=VALUE`: the log's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOpt {
    /// `max-size=10m`: the size at which the log rotates.
    MaxSize(u64),
    /// `max-file=N`: how many files of `max-size` the log keeps.
    MaxFile(u32),
}

impl FromStr for LogOpt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("--log-opt {s:?}: {why}");
        match s.split_once('=') {
            Some(("max-size", v)) => crate::cgroup::limits::parse_bytes(v)
                .map(LogOpt::MaxSize)
                .map_err(|e| bad(&e.to_string())),
            Some(("max-file", v)) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(LogOpt::MaxFile(n)),
                _ => Err(bad("max-file must be a number of files, 1 or more")),
            },
            _ => Err(bad("burrow's logs take max-size=SIZE and max-file=N")),
        }
    }
}

/// The log of a container, as `inspect` shows it (`HostConfig.LogConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogConfig {
    pub driver: LogDriver,
    /// `max-size`; the configuration's `logs.max_size` when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// `max-file`: how many files of `max-size` stay; see `files`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file: Option<u32>,
}

impl LogConfig {
    pub fn is_default(&self) -> bool {
        *self == LogConfig::default()
    }

    /// The size at which the log rotates: `max-size`, else the
    /// configuration's `logs.max_size` (0 is no limit).
    pub fn rotate_at(&self, configured: u64) -> u64 {
        self.max_size.unwrap_or(configured)
    }

    /// How many files of the log keep a name, the current one among them:
    /// `max-file`; docker's 1 when only `max-size` is given; without
    /// either, burrow's default of the current file and the one before
    /// (the size then is the configuration's).
    pub fn files(&self) -> u32 {
        match (self.max_file, self.max_size) {
            (Some(n), _) => n.max(1),
            (None, Some(_)) => 1,
            (None, None) => 2,
        }
    }
}

/// One of the container's standard streams, as `-a/--attach` names it
/// (`stdin`, `STDOUT`: any case, as docker takes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin,
    Stdout,
    Stderr,
}

impl FromStr for StdStream {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "stdin" => Ok(StdStream::Stdin),
            "stdout" => Ok(StdStream::Stdout),
            "stderr" => Ok(StdStream::Stderr),
            _ => Err(format!(
                "-a/--attach {s:?}: no such stream; valid streams are STDIN, STDOUT and STDERR"
            )),
        }
    }
}

/// Which of the container's standard streams are connected to the caller's
/// (docker's AttachStdin, AttachStdout, AttachStderr): a foreground `run`'s,
/// or `start -a`'s for a created container. What is not attached still
/// goes to the log; a container's stdin is open only with `-i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Attached {
    /// `run -d`'s: nothing.
    pub const NONE: Attached = Attached {
        stdin: false,
        stdout: false,
        stderr: false,
    };

    /// As docker decides them: the streams `-a` names, else stdout and
    /// stderr; stdin with `-i` whatever `-a` says.
    pub fn of(given: &[StdStream], interactive: bool) -> Attached {
        let named = |s| given.contains(&s);
        Attached {
            stdin: interactive || named(StdStream::Stdin),
            stdout: given.is_empty() || named(StdStream::Stdout),
            stderr: given.is_empty() || named(StdStream::Stderr),
        }
    }

    /// Neither output: `run` prints the container's id, as docker's does.
    pub fn no_output(&self) -> bool {
        !self.stdout && !self.stderr
    }
}

/// `--detach-keys`: the key sequence that leaves an attached terminal,
/// as docker spells it (`ctrl-p,ctrl-q`, `ctrl-@`, `a`, `ctrl-[`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetachKeys(pub Vec<u8>);

impl Default for DetachKeys {
    /// docker's: Ctrl-P then Ctrl-Q.
    fn default() -> Self {
        DetachKeys(vec![0x10, 0x11])
    }
}

impl FromStr for DetachKeys {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |k: &str| {
            format!("--detach-keys {s:?}: invalid key {k:?} (a letter, or ctrl- and one of a-z @ [ \\ ] ^ _)")
        };
        // "" turns detaching off, as podman takes it.
        if s.is_empty() {
            return Ok(DetachKeys(Vec::new()));
        }
        let mut keys = Vec::new();
        for k in s.split(',') {
            let key = match k.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => {
                    let c = c.as_bytes()[0].to_ascii_lowercase();
                    match c {
                        b'a'..=b'z' => c - b'a' + 1,
                        b'@' => 0,
                        b'[' => 27,
                        b'\\' => 28,
                        b']' => 29,
                        b'^' => 30,
                        b'_' => 31,
                        _ => return Err(bad(k)),
                    }
                }
                Some(_) => return Err(bad(k)),
                None if k.len() == 1 => k.as_bytes()[0],
                None => return Err(bad(k)),
            };
            keys.push(key);
        }
        Ok(DetachKeys(keys))
    }
}

impl DetachKeys {
    /// Follows typed input, as docker does: the keys of a sequence being
    /// typed are held back (`held` counts them) until the next key tells
    /// whether the sequence goes on; what goes on to the container is
    /// appended to `out`. True once the whole sequence has been typed
    /// (what came after it in `input` is dropped: we are leaving).
    pub fn filter(&self, held: &mut usize, input: &[u8], out: &mut Vec<u8>) -> bool {
        let keys = &self.0;
        if keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &byte in input {
            let mut typed = keys[..*held].to_vec();
            typed.push(byte);
            // The longest end of what is held that still starts the
            // sequence stays held; what is before it goes on.
            let keep = (0..=typed.len().min(keys.len()))
                .rev()
                .find(|&k| typed[typed.len() - k..] == keys[..k])
                .unwrap_or(0);
            out.extend_from_slice(&typed[..typed.len() - keep]);
            *held = keep;
            if keep == keys.len() {
                *held = 0;
                return true;
            }
        }
        false
    }

    /// The keys held back by `filter` when the input ends: the container
    /// gets them after all.
    pub fn held(&self, held: usize) -> &[u8] {
        &self.0[..held.min(self.0.len())]
    }
}

/// Serde for a value kept as its text form (`Display` out, `FromStr` in):
/// `#[serde(with = "as_text")]`.
pub mod as_text {
    use super::*;

    pub fn serialize<T: fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `--userns`: the id map a container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsernsMode {
    /// The full map of the caller's subordinate ids (no flag, or `""`).
    #[default]
    Default,
    /// `host`: the same full map, as asked (burrow never shares the
    /// host's user namespace); kept to be shown as asked.
    Host,
    /// `keep-id`: the caller's uid and gid inside are theirs outside.
    KeepId,
    /// `emulate`: the single-id map (the caller as root, nobody else) with
    /// root emulated, as a user without subordinate ids gets it, on the
    /// single-id form of the image's layers.
    Emulate,
}

/// A `--userns` value burrow does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported --userns {0:?}: burrow knows keep-id, emulate (and the default, a full id map)"
)]
pub struct UsernsModeError(pub String);

impl FromStr for UsernsMode {
    type Err = UsernsModeError;

    fn from_str(s: &str) -> Result<UsernsMode, UsernsModeError> {
        match s {
            "" => Ok(UsernsMode::Default),
            "host" => Ok(UsernsMode::Host),
            "keep-id" => Ok(UsernsMode::KeepId),
            "emulate" => Ok(UsernsMode::Emulate),
            other => Err(UsernsModeError(other.to_string())),
        }
    }
}

impl UsernsMode {
    /// As `inspect` shows it: as given, `None` for the default.
    pub fn shown(self) -> Option<String> {
        match self {
            UsernsMode::Default => None,
            UsernsMode::Host => Some("host".into()),
            UsernsMode::KeepId => Some("keep-id".into()),
            UsernsMode::Emulate => Some("emulate".into()),
        }
    }
}

/// `--ipc`: docker's IPC modes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IpcMode {
    /// `private` (or no flag): an IPC namespace of the container's own.
    #[default]
    Private,
    /// `shareable`: the same, which other containers may join (`--ipc
    /// container:NAME`), its /dev/shm with it; a `private` one they may
    /// not, as docker has it.
    Shareable,
    /// `none`: an IPC namespace of its own and no /dev/shm.
    None,
    /// `host`: the host's IPC namespace and the host's /dev/shm. The
    /// namespace stays owned by the host's user namespace: its objects
    /// are the container's only as far as the caller's own uid reaches.
    Host,
    /// `container:NAME`: that running container's IPC namespace and its
    /// /dev/shm (a record names it by its full id).
    Container(String),
}

/// `--uts` and `--pid`: a namespace of the container's own, the host's, or
/// that of another running container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NsMode {
    /// No flag (or `private`).
    #[default]
    Private,
    /// `host`.
    Host,
    /// `container:NAME`.
    Container(String),
}

/// An `--ipc`, `--uts` or `--pid` value burrow does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --{flag} {value:?}: burrow knows {known}")]
pub struct NsModeError {
    pub flag: &'static str,
    pub value: String,
    pub known: &'static str,
}

/// `container:NAME`'s name, if `s` is one.
fn container_ref(s: &str) -> Option<Option<String>> {
    s.strip_prefix("container:")
        .map(|n| (!n.is_empty()).then(|| n.to_string()))
}

impl FromStr for IpcMode {
    type Err = NsModeError;

    fn from_str(s: &str) -> Result<IpcMode, NsModeError> {
        let bad = || NsModeError {
            flag: "ipc",
            value: s.to_string(),
            known: "private, shareable, none, host and container:NAME",
        };
        Ok(match s {
            "" | "private" => IpcMode::Private,
            "shareable" => IpcMode::Shareable,
            "none" => IpcMode::None,
            "host" => IpcMode::Host,
            _ => IpcMode::Container(container_ref(s).flatten().ok_or_else(bad)?),
        })
    }
}

impl fmt::Display for IpcMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcMode::Private => f.write_str("private"),
            IpcMode::Shareable => f.write_str("shareable"),
            IpcMode::None => f.write_str("none"),
            IpcMode::Host => f.write_str("host"),
            IpcMode::Container(n) => write!(f, "container:{n}"),
        }
    }
}

impl NsMode {
    /// `--uts` or `--pid` (`flag`) as given.
    pub fn parse(flag: &'static str, s: &str) -> Result<NsMode, NsModeError> {
        let bad = || NsModeError {
            flag,
            value: s.to_string(),
            known: "private, host and container:NAME",
        };
        Ok(match s {
            "" | "private" => NsMode::Private,
            "host" => NsMode::Host,
            _ => NsMode::Container(container_ref(s).flatten().ok_or_else(bad)?),
        })
    }

    /// The container's own, the default.
    pub fn is_private(&self) -> bool {
        *self == NsMode::Private
    }

    /// The container named, for `container:NAME`.
    pub fn container(&self) -> Option<&str> {
        match self {
            NsMode::Container(n) => Some(n),
            _ => None,
        }
    }
}

/// As `NsMode::parse` reads `--uts` and `--pid` (a record's, read back).
impl FromStr for NsMode {
    type Err = NsModeError;

    fn from_str(s: &str) -> Result<NsMode, NsModeError> {
        NsMode::parse("uts or --pid", s)
    }
}

impl IpcMode {
    /// `private`, the default.
    pub fn is_private(&self) -> bool {
        *self == IpcMode::Private
    }

    /// The container named, for `container:NAME`.
    pub fn container(&self) -> Option<&str> {
        match self {
            IpcMode::Container(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for NsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NsMode::Private => f.write_str("private"),
            NsMode::Host => f.write_str("host"),
            NsMode::Container(n) => write!(f, "container:{n}"),
        }
    }
}

/// `--cgroupns`: the cgroup namespace a container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CgroupnsMode {
    /// A cgroup namespace of its own, rooted at its cgroup (docker's
    /// default on cgroup v2): it sees its cgroup as `/`.
    #[default]
    Private,
    /// The cgroup namespace burrow runs in: the container sees its cgroup
    /// paths as the host shows them. Its /sys/fs/cgroup is still its own
    /// cgroup alone (see `sandbox::mount_ops`).
    Host,
}

impl CgroupnsMode {
    /// The default, which a record need not write.
    pub fn is_private(&self) -> bool {
        *self == CgroupnsMode::Private
    }
}

impl FromStr for CgroupnsMode {
    type Err = NsModeError;

    fn from_str(s: &str) -> Result<CgroupnsMode, NsModeError> {
        match s {
            "" | "private" => Ok(CgroupnsMode::Private),
            "host" => Ok(CgroupnsMode::Host),
            _ => Err(NsModeError {
                flag: "cgroupns",
                value: s.to_string(),
                known: "private and host",
            }),
        }
    }
}

impl fmt::Display for CgroupnsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupnsMode::Private => "private",
            CgroupnsMode::Host => "host",
        })
    }
}

/// One `--security-opt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityOpt {
    /// `no-new-privileges[:true|:false]` (`=` also).
    NoNewPrivileges(bool),
    /// `label=disable`: burrow applies no SELinux labels, so there is
    /// nothing to disable.
    LabelDisable,
    /// `seccomp=unconfined` or `seccomp=FILE.json` (docker's format, read
    /// when the flag is parsed).
    Seccomp(crate::sandbox::SeccompPolicy),
}

/// A `--security-opt` burrow does not know or cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityOptError {
    #[error(
        "unsupported --security-opt {0:?}: burrow knows no-new-privileges, seccomp=unconfined and seccomp=PROFILE.json"
    )]
    Unknown(String),
    #[error("--security-opt seccomp={path}: {why}")]
    Profile { path: String, why: String },
}

impl FromStr for SecurityOpt {
    type Err = SecurityOptError;

    fn from_str(s: &str) -> Result<SecurityOpt, SecurityOptError> {
        match s {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                return Ok(SecurityOpt::NoNewPrivileges(true))
            }
            "no-new-privileges:false" | "no-new-privileges=false" => {
                return Ok(SecurityOpt::NoNewPrivileges(false))
            }
            "label=disable" | "label:disable" => return Ok(SecurityOpt::LabelDisable),
            _ => {}
        }
        let Some(value) = s
            .strip_prefix("seccomp=")
            .or_else(|| s.strip_prefix("seccomp:"))
        else {
            return Err(SecurityOptError::Unknown(s.to_string()));
        };
        use crate::sandbox::{Profile, SeccompPolicy};
        if value == "unconfined" {
            return Ok(SecurityOpt::Seccomp(SeccompPolicy::Unconfined));
        }
        let bad = |why: String| SecurityOptError::Profile {
            path: value.to_string(),
            why,
        };
        let data = std::fs::read(value).map_err(|e| bad(e.to_string()))?;
        let profile = Profile::from_docker_json(&data).map_err(|e| bad(e.to_string()))?;
        Ok(SecurityOpt::Seccomp(SeccompPolicy::Profile(profile)))
    }
}

impl SecurityOpt {
    /// What a list of `--security-opt` asks for, the last of each kind
    /// winning: no_new_privs, and the seccomp policy.
    pub fn resolve(opts: &[SecurityOpt]) -> (bool, crate::sandbox::SeccompPolicy) {
        let mut nnp = false;
        let mut seccomp = crate::sandbox::SeccompPolicy::Default;
        for o in opts {
            match o {
                SecurityOpt::NoNewPrivileges(on) => nnp = *on,
                SecurityOpt::LabelDisable => {}
                SecurityOpt::Seccomp(p) => seccomp = p.clone(),
            }
        }
        (nnp, seccomp)
    }
}

/// Everything `burrow run` was asked, parsed by the command line's value
/// parsers: what a flag names is typed here, never re-parsed below.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// The image as the user named it (a reference or an id prefix).
    pub image: String,
    /// The command and its arguments after the image (empty: the image's).
    pub command: Vec<String>,
    /// `--name`; a generated one when `None`.
    pub name: Option<String>,
    /// `--rm`.
    pub remove: bool,
    /// `-i`.
    pub interactive: bool,
    /// `-t`.
    pub tty: bool,
    /// `-e NAME[=VALUE]`, in order (applied after `--env-file`).
    pub env: Vec<String>,
    /// `--env-file`, read when the container is made.
    pub env_files: Vec<PathBuf>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`: a name, uid, or uid:gid, looked up in the image.
    pub user: Option<String>,
    /// `--entrypoint` (`Some("")` clears the image's).
    pub entrypoint: Option<String>,
    /// `-v HOST:CONTAINER[:ro]`, checked.
    pub volumes: Vec<UserMount>,
    /// `--mount`, checked.
    pub mounts: Vec<UserMount>,
    /// `--tmpfs`, checked.
    pub tmpfs: Vec<UserMount>,
    /// `-H`; the first 12 digits of the id when `None`.
    pub hostname: Option<String>,
    /// `--domainname`: the UTS domain name (the kernel's "(none)" when
    /// `None`).
    pub domainname: Option<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--init`.
    pub init: bool,
    /// `--userns`.
    pub userns: UsernsMode,
    /// `--security-opt`, each parsed (a seccomp profile's file read) by
    /// the CLI.
    pub security_opt: Vec<SecurityOpt>,
    /// `--privileged`: every capability of the user namespace, no seccomp
    /// profile, no masked or read-only paths.
    pub privileged: bool,
    /// `--cap-add`.
    pub cap_add: Vec<CapName>,
    /// `--cap-drop`.
    pub cap_drop: Vec<CapName>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--ipc`.
    pub ipc: IpcMode,
    /// `--uts`.
    pub uts: NsMode,
    /// `--pid`.
    pub pid: NsMode,
    /// `--cgroupns`.
    pub cgroupns: CgroupnsMode,
    /// `--network-alias`, `--ip`, `--ip6`: on a user-defined network.
    pub network_endpoint: crate::net::networks::EndpointSpec,
    /// `-p`, each range expanded to its ports.
    pub publish: Vec<PublishedPort>,
    /// `-P`: the exposed ports (the image's and `--expose`'s) on random
    /// host ports.
    pub publish_all: bool,
    /// `--expose`, each range expanded to its ports.
    pub expose: Vec<crate::net::ExposedPort>,
    /// `--dns`.
    pub dns: Vec<IpAddr>,
    /// `--dns-search`: the search domains of /etc/resolv.conf (instead of
    /// the host's; `.` alone for none).
    pub dns_search: Vec<String>,
    /// `--dns-option`: the options of /etc/resolv.conf (instead of the
    /// host's).
    pub dns_options: Vec<String>,
    /// `--add-host NAME:IP`.
    pub add_host: Vec<(String, IpAddr)>,
    /// Resource limits (--memory, --cpus, ...), applied through cgroup v2.
    pub limits: crate::cgroup::Limits,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i32>,
    /// `--memory-swappiness` (0-100; -1 is `None`): accepted and recorded,
    /// never applied, as cgroup v2 has no per-cgroup swappiness.
    pub memory_swappiness: Option<u8>,
    /// `-d`: a supervisor runs the container; `run` prints its id.
    pub detach: bool,
    /// `-a/--attach`, as given: empty attaches stdout and stderr (and
    /// stdin with `-i`), see `Attached::of`.
    pub attach: Vec<StdStream>,
    /// `--sig-proxy=false`: a foreground run does not pass the signals it
    /// gets on to the container (which then outlives it).
    pub no_sig_proxy: bool,
    /// `--restart`.
    pub restart: RestartPolicy,
    /// `--health-*` and `--no-healthcheck`.
    pub health: super::health::HealthFlags,
    /// `--label` and `--label-file`, over the image's labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--annotation KEY=VALUE`: kept in the record for `inspect`.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// `--stop-signal`, over the image's StopSignal.
    pub stop_signal: Option<i32>,
    /// `--stop-timeout`: seconds `stop` waits before SIGKILL (10).
    pub stop_timeout: Option<u64>,
    /// `--pull`.
    pub pull: PullPolicy,
    /// `--cidfile`: the id is written there (a file that exists is refused).
    pub cidfile: Option<PathBuf>,
    /// `--group-add`: more supplementary groups, by number or by name in
    /// the image's /etc/group.
    pub group_add: Vec<String>,
    /// `--ulimit`, one per resource.
    pub ulimits: Vec<Rlimit>,
    /// `--shm-size` in bytes.
    pub shm_size: Option<u64>,
    /// `--proc-view`.
    pub proc_view: ProcViewMode,
    /// `--sysctl`, checked to be namespaced.
    pub sysctls: Vec<(String, String)>,
    /// `--log-driver`, `--log-opt`.
    pub log: LogConfig,
    /// `--detach-keys`: kept for `attach` and `start -a`.
    pub detach_keys: Option<DetachKeys>,
    /// `--volumes-from`.
    pub volumes_from: Vec<VolumesFrom>,
    /// No anonymous volumes for the image's VOLUME paths: a build's RUN
    /// step writes there into its layer, as BuildKit's do.
    pub skip_image_volumes: bool,
    /// `--pod NAME`: the pod's network, and its IPC, UTS and pid
    /// namespaces as it shares them (its infra container is started if
    /// need be).
    pub pod: Option<String>,
    /// The pod (by id) whose infra container this is: it runs nothing
    /// and holds the pod's namespaces (`SandboxSpec::pause`).
    pub infra_of: Option<String>,
    /// `--device`, parsed; the host's nodes are looked up when the
    /// container is made.
    pub devices: Vec<DeviceMapping>,
    /// `-q`: no pull progress.
    pub quiet: bool,
}

/// `--device HOST[:CONTAINER][:PERMS]`: a host device node (or a
/// directory of them) and where it appears in the container, as docker
/// keeps it in `HostConfig.Devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    /// Absolute; followed when it is a link, at each start.
    pub path_on_host: PathBuf,
    /// Absolute, no `..`; the host path when not given.
    pub path_in_container: PathBuf,
    /// A subset of `rwm` as given (`rwm` when not).
    pub cgroup_permissions: String,
}

impl DeviceMapping {
    pub fn may_read(&self) -> bool {
        self.cgroup_permissions.contains('r')
    }

    pub fn may_write(&self) -> bool {
        self.cgroup_permissions.contains('w')
    }
}

/// Whether `s` is a device permission set as docker takes it: one to
/// three of `r`, `w` and `m`, none twice.
fn device_permissions(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 3
        && s.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        && s.chars().enumerate().all(|(i, c)| !s[i + 1..].contains(c))
}

/// `--device HOST[:CONTAINER][:PERMS]`, a relative host path taken from
/// `cwd`. With two fields the second is the permissions when it reads as
/// such, else the container path, as docker reads them.
pub fn parse_device(spec: &str, cwd: &std::path::Path) -> Result<DeviceMapping, SpecError> {
    let err = |why: String| SpecError::Device {
        spec: spec.to_string(),
        why,
    };
    let fields: Vec<&str> = spec.split(':').collect();
    let (host, container, perms) = match fields[..] {
        [host] => (host, "", "rwm"),
        [host, p] if device_permissions(p) => (host, "", p),
        [host, container] => (host, container, "rwm"),
        [host, container, p] => {
            if !device_permissions(p) {
                return Err(err(format!(
                    "bad permissions {p:?}: one to three of r (read), w (write) and m (mknod)"
                )));
            }
            (host, container, p)
        }
        _ => {
            return Err(err(
                "too many fields: HOST[:CONTAINER][:PERMS] (PERMS a subset of rwm)".into(),
            ))
        }
    };
    if host.is_empty() {
        return Err(err("no host path: HOST[:CONTAINER][:PERMS]".into()));
    }
    if !host.starts_with(['/', '.']) && host.contains('=') {
        return Err(err(
            "CDI device names (vendor.com/class=name) are not supported: give the device node's path"
                .into(),
        ));
    }
    let path_on_host = cwd.join(host);
    let path_in_container = if container.is_empty() {
        path_on_host.clone()
    } else {
        PathBuf::from(container)
    };
    let shown = path_in_container.to_string_lossy();
    if !shown.starts_with('/') {
        return Err(err(format!("{shown} is not an absolute path")));
    }
    if shown.split('/').any(|c| c == "..") {
        return Err(err(format!(
            "the container path {shown:?} may not contain .."
        )));
    }
    Ok(DeviceMapping {
        path_on_host,
        path_in_container,
        cgroup_permissions: perms.to_string(),
    })
}

impl RunSpec {
    /// The streams a run connects to the caller's (docker's Attach*).
    pub fn attached(&self) -> Attached {
        Attached::of(&self.attach, self.interactive)
    }

    /// Whether a foreground run passes the signals it gets on to the
    /// container: `--sig-proxy`, which docker ignores with `-t` (the
    /// terminal delivers them).
    pub fn proxies_signals(&self) -> bool {
        self.tty || !self.no_sig_proxy
    }
}

/// `--volumes-from CONTAINER[:ro|rw]`: that container's volumes and bind
/// mounts, at the same places, read-only or not as there unless said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    pub container: String,
    pub read_only: Option<bool>,
}

impl std::str::FromStr for VolumesFrom {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<VolumesFrom, String> {
        let (container, read_only) = match s.rsplit_once(':') {
            Some((c, "ro")) => (c, Some(true)),
            Some((c, "rw")) => (c, Some(false)),
            Some((_, o)) => {
                return Err(format!("--volumes-from {s:?}: unknown mode {o:?} (ro, rw)"))
            }
            None => (s, None),
        };
        if container.is_empty() {
            return Err(format!("--volumes-from {s:?}: no container named"));
        }
        Ok(VolumesFrom {
            container: container.into(),
            read_only,
        })
    }
}

/// `--pull`: when the image is pulled before the container is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only when it is not here (the default).
    #[default]
    Missing,
    /// Every time.
    Always,
    /// Never: a missing image is an error.
    Never,
    /// When the registry has a newer one; when it cannot be reached, the
    /// image here is used.
    Newer,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<PullPolicy, String> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            "newer" => Ok(PullPolicy::Newer),
            _ => Err(format!("--pull {s:?}: always, missing, never or newer")),
        }
    }
}

/// `--proc-view`: what /proc/meminfo, /proc/cpuinfo, /proc/stat and the
/// like show inside the container (see `procview`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProcViewMode {
    /// The container's own view when it has memory or CPU limits, else
    /// the host's (the default).
    #[default]
    Auto,
    /// The container's own view, limits or not (its own uptime and load).
    Container,
    /// The host's files, as the kernel shows them.
    Host,
}

impl ProcViewMode {
    /// Whether a container with `limits` gets its own view.
    pub fn on(self, limits: &crate::cgroup::Limits) -> bool {
        match self {
            ProcViewMode::Auto => {
                limits.memory.is_some()
                    || limits.memory_swap.is_some()
                    || limits.cpus.is_some()
                    || limits.cpu_quota.is_some_and(|q| q > 0)
                    || limits.cpuset_cpus.is_some()
            }
            ProcViewMode::Container => true,
            ProcViewMode::Host => false,
        }
    }
}

impl std::str::FromStr for ProcViewMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<ProcViewMode, String> {
        match s {
            "auto" => Ok(ProcViewMode::Auto),
            "container" => Ok(ProcViewMode::Container),
            "host" => Ok(ProcViewMode::Host),
            _ => Err(format!("--proc-view {s:?}: auto, container or host")),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error(
        "no command specified: the image has no Entrypoint or Cmd; give one after the image name"
    )]
    NoCommand,
    #[error("invalid volume {spec:?}: {why}")]
    Volume { spec: String, why: String },
    #[error("invalid VOLUME {path:?} in the image config: {why}")]
    ImageVolume { path: String, why: String },
    #[error(
        "volume {name}: o={key}={id} is no id of the container: its user namespace does not map \
         it{why}"
    )]
    VolumeOwner {
        name: String,
        key: &'static str,
        id: u32,
        /// Why, when the map is the single-id one.
        why: &'static str,
    },
    #[error("invalid --device {spec:?}: {why}")]
    Device { spec: String, why: String },
    #[error(transparent)]
    HostDevice(#[from] crate::sandbox::mounts::DeviceError),
    #[error(
        "--device-cgroup-rule {0:?}: a rootless container cannot have device cgroup rules (the \
         kernel loads a cgroup's device program only for root); give each device with --device"
    )]
    DeviceCgroupRule(String),
    #[error("invalid --mount {spec:?}: {why}")]
    Mount { spec: String, why: String },
    #[error("invalid --tmpfs {spec:?}: {why}")]
    Tmpfs { spec: String, why: String },
    #[error("reading --env-file {path}: {why}")]
    EnvFile { path: PathBuf, why: String },
    #[error("invalid environment variable {0:?}: the name is empty")]
    Env(String),
    #[error("--rm and --restart {0} conflict: a container removed when it exits cannot restart")]
    RemoveAndRestart(RestartPolicy),
    #[error("invalid StopSignal {0:?} in the image config")]
    StopSignal(String),
    #[error("invalid --stop-signal {0:?}: a signal name (SIGTERM, TERM) or number")]
    StopSignalFlag(String),
    #[error("--cidfile {0}: the file exists; remove it or name another")]
    CidfileExists(PathBuf),
    #[error(
        "--ulimit {name}: the hard limit {asked} is above yours ({own}); only a privileged \
         process can raise a hard limit (see `ulimit -H`, or ask an admin for limits.conf)"
    )]
    UlimitAboveYours {
        name: &'static str,
        asked: String,
        own: String,
    },
    #[error("{0}")]
    NamespaceFlags(&'static str),
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    #[error("--log-driver passthrough {0}")]
    Passthrough(&'static str),
    #[error(
        "--group-add {0}: with --userns keep-id and no --user, give the group by number (a gid)"
    )]
    GroupAddName(String),
}

/// A size as tmpfs takes it: 64m, 1g, 4096.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        'b' => (&s[..s.len() - 1], 1),
        _ => (&s[..], 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_as_docker_reads_them() {
        let cwd = std::path::Path::new("/home/me");
        let d = |s: &str| {
            let m = parse_device(s, cwd).unwrap();
            (
                m.path_on_host.display().to_string(),
                m.path_in_container.display().to_string(),
                m.cgroup_permissions,
            )
        };
        let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(d("/dev/sda"), t("/dev/sda", "/dev/sda", "rwm"));
        assert_eq!(d("/dev/sda:/dev/xvdc"), t("/dev/sda", "/dev/xvdc", "rwm"));
        // Two fields: permissions when they read as such.
        assert_eq!(d("/dev/sda:r"), t("/dev/sda", "/dev/sda", "r"));
        assert_eq!(d("/dev/sda:mw"), t("/dev/sda", "/dev/sda", "mw"));
        assert_eq!(d("/dev/sda:/dev/x:rw"), t("/dev/sda", "/dev/x", "rw"));
        assert_eq!(d("/dev/sda::r"), t("/dev/sda", "/dev/sda", "r"));
        assert_eq!(d("node"), t("/home/me/node", "/home/me/node", "rwm"));
        let m = parse_device("/dev/a:/b:wm", cwd).unwrap();
        assert!(m.may_write() && !m.may_read());
        for (bad, why) in [
            ("/dev/sda:/x:rx", "bad permissions"),
            ("/dev/sda:/x:rrw", "bad permissions"),
            ("/dev/sda:/x:rwmr", "bad permissions"),
            ("/dev/sda:/x:", "bad permissions"),
            ("/dev/sda:x", "x is not an absolute path"),
            ("/dev/sda:/x/../y", "may not contain .."),
            ("/a:/b:r:w", "too many fields"),
            (":/b", "no host path"),
            ("vendor.com/gpu=0", "CDI"),
        ] {
            let e = parse_device(bad, cwd).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn ulimits_parse_as_docker_reads_them() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!(
            (u.resource, u.soft, u.hard),
            (RlimitResource::Nofile, 1024, 2048)
        );
        let u = parse_ulimit("nproc=50").unwrap();
        assert_eq!((u.soft, u.hard), (50, 50));
        let u = parse_ulimit("core=-1").unwrap();
        assert_eq!((u.soft, u.hard), (u64::MAX, u64::MAX));
        let u = parse_ulimit("memlock=64:unlimited").unwrap();
        assert_eq!((u.soft, u.hard), (64, u64::MAX));
        assert_eq!(
            parse_ulimit("nofile=2:1").unwrap_err().to_string(),
            "ulimit soft limit must be less than or equal to hard limit: 2 > 1"
        );
        for bad in ["nofile", "files=1", "nofile=1:2:3", "nofile=x", "nofile=-2"] {
            assert!(parse_ulimit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_namespaced_sysctls_with_plain_names_are_taken() {
        assert_eq!(
            parse_sysctl("net.ipv4.ip_forward=1").unwrap(),
            ("net.ipv4.ip_forward".to_string(), "1".to_string())
        );
        assert_eq!(
            parse_sysctl("net/ipv4/ip_forward=1").unwrap().0,
            "net.ipv4.ip_forward"
        );
        assert!(parse_sysctl("kernel.shm_rmid_forced=1").is_ok());
        assert!(parse_sysctl("fs.mqueue.queues_max=10").is_ok());
        assert!(parse_sysctl("net.ipv4.conf.eth0-1.forwarding=1").is_ok());
        for bad in [
            "kernel.hostname=x",
            "kernel.core_pattern=x",
            "vm.overcommit_memory=1",
            "fs.file-max=1",
            "kernel.shm=1",
        ] {
            assert!(
                matches!(parse_sysctl(bad), Err(SysctlError::NotNamespaced(_))),
                "{bad}"
            );
        }
        for bad in [
            "net.ipv4",
            "net..x=1",
            "net.ipv4/../../kernel/core_pattern=x",
            "net.a b=1",
            "=1",
        ] {
            assert!(
                matches!(parse_sysctl(bad), Err(SysctlError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn attach_streams_are_docker_s_whatever_their_case_and_i_attaches_stdin() {
        use StdStream::*;
        for (text, want) in [("stdin", Stdin), ("STDOUT", Stdout), ("StdErr", Stderr)] {
            assert_eq!(text.parse::<StdStream>(), Ok(want));
        }
        let bad = "stdfoo".parse::<StdStream>().unwrap_err();
        assert!(bad.contains("\"stdfoo\"") && bad.contains("STDIN, STDOUT and STDERR"));
        let a = |stdin, stdout, stderr| Attached {
            stdin,
            stdout,
            stderr,
        };
        // None named: both outputs, stdin with -i only.
        assert_eq!(Attached::of(&[], false), a(false, true, true));
        assert_eq!(Attached::of(&[], true), a(true, true, true));
        // Named: those alone, but -i attaches stdin in any case.
        assert_eq!(Attached::of(&[Stdout], false), a(false, true, false));
        assert_eq!(Attached::of(&[Stdout], true), a(true, true, false));
        assert_eq!(Attached::of(&[Stdin], false), a(true, false, false));
        assert!(Attached::of(&[Stdin], false).no_output());
        assert!(!Attached::of(&[Stderr], false).no_output());
    }

    #[test]
    fn sig_proxy_is_ignored_with_a_terminal() {
        let spec = |tty, no_sig_proxy| RunSpec {
            tty,
            no_sig_proxy,
            ..Default::default()
        };
        assert!(spec(false, false).proxies_signals());
        assert!(!spec(false, true).proxies_signals());
        assert!(spec(true, true).proxies_signals());
    }

    #[test]
    fn detach_keys_parse_and_match_typed_input() {
        assert_eq!(
            "ctrl-p,ctrl-q".parse::<DetachKeys>().unwrap(),
            DetachKeys::default()
        );
        assert_eq!("ctrl-a,x".parse::<DetachKeys>().unwrap().0, vec![1, b'x']);
        assert_eq!(
            "ctrl-@,ctrl-[,ctrl-_".parse::<DetachKeys>().unwrap().0,
            vec![0, 27, 31]
        );
        assert!("".parse::<DetachKeys>().unwrap().0.is_empty());
        for bad in ["ctrl-", "ctrl-pp", "ab", "ctrl-1", "x,,y"] {
            assert!(bad.parse::<DetachKeys>().is_err(), "{bad}");
        }
        // docker's keys: a Ctrl-P is held until the next key; one that is
        // not Ctrl-Q sends both on.
        let keys = DetachKeys::default();
        let (mut held, mut out) = (0, Vec::new());
        assert!(!keys.filter(&mut held, b"a\x10", &mut out));
        assert_eq!((out.as_slice(), held), (&b"a"[..], 1));
        assert!(!keys.filter(&mut held, b"b\x10", &mut out));
        assert_eq!((out.as_slice(), held), (&b"a\x10b"[..], 1));
        assert_eq!(keys.held(held), b"\x10");
        // Split over reads as a person types them; what follows is dropped.
        assert!(!keys.filter(&mut held, b"\x10", &mut out));
        assert!(keys.filter(&mut held, b"\x11after", &mut out));
        assert_eq!((out.as_slice(), held), (&b"a\x10b\x10"[..], 0));
        // A sequence that repeats its first key: a,a,b after a,a,a,b.
        let keys: DetachKeys = "a,a,b".parse().unwrap();
        let (mut held, mut out) = (0, Vec::new());
        assert!(keys.filter(&mut held, b"xaaab", &mut out));
        assert_eq!(out, b"xa");
        let none = DetachKeys(Vec::new());
        let mut out = Vec::new();
        assert!(!none.filter(&mut 0, b"\x10\x11", &mut out));
        assert_eq!(out, b"\x10\x11");
    }

    #[test]
    fn log_options_parse_and_max_file_sets_the_rotation() {
        assert_eq!(
            "max-size=10m".parse::<LogOpt>(),
            Ok(LogOpt::MaxSize(10 << 20))
        );
        assert_eq!("max-file=3".parse::<LogOpt>(), Ok(LogOpt::MaxFile(3)));
        for bad in ["max-file=0", "max-size=x", "compress=true", "tag"] {
            assert!(bad.parse::<LogOpt>().is_err(), "{bad}");
        }
        let c = LogConfig {
            driver: LogDriver::JsonFile,
            max_size: Some(1000),
            max_file: Some(4),
        };
        assert_eq!(c.rotate_at(5), 1000);
        assert_eq!(c.files(), 4);
        assert_eq!(LogConfig::default().rotate_at(5), 5);
        assert_eq!(LogConfig::default().files(), 2);
        let size_only = LogConfig {
            max_file: None,
            ..c.clone()
        };
        assert_eq!(size_only.files(), 1, "docker's default max-file");
        assert!(!LogDriver::None.writes_log() && LogDriver::JsonFile.writes_log());
        assert!("syslog".parse::<LogDriver>().is_err());
    }

    #[test]
    fn cgroupns_modes_parse_as_docker_writes_them() {
        assert_eq!("private".parse(), Ok(CgroupnsMode::Private));
        assert_eq!("".parse(), Ok(CgroupnsMode::Private));
        assert_eq!("host".parse(), Ok(CgroupnsMode::Host));
        assert_eq!(CgroupnsMode::Host.to_string(), "host");
        assert_eq!(
            "container:a"
                .parse::<CgroupnsMode>()
                .unwrap_err()
                .to_string(),
            "invalid --cgroupns \"container:a\": burrow knows private and host"
        );
    }

    #[test]
    fn ipc_uts_and_pid_modes_parse_as_docker_writes_them() {
        for (text, mode) in [
            ("private", IpcMode::Private),
            ("", IpcMode::Private),
            ("shareable", IpcMode::Shareable),
            ("none", IpcMode::None),
            ("host", IpcMode::Host),
            ("container:db", IpcMode::Container("db".into())),
        ] {
            assert_eq!(text.parse::<IpcMode>().unwrap(), mode);
        }
        assert_eq!(IpcMode::Container("db".into()).to_string(), "container:db");
        for bad in ["container:", "hots", "container"] {
            assert!(bad.parse::<IpcMode>().is_err(), "{bad}");
            assert!(NsMode::parse("pid", bad).is_err(), "{bad}");
        }
        assert_eq!(NsMode::parse("uts", "host").unwrap(), NsMode::Host);
        assert_eq!(
            NsMode::parse("pid", "container:a").unwrap().container(),
            Some("a")
        );
        assert_eq!(
            NsMode::parse("pid", "shareable").unwrap_err().to_string(),
            "invalid --pid \"shareable\": burrow knows private, host and container:NAME"
        );
    }

    #[test]
    fn userns_and_security_opts_parse_at_the_edge() {
        assert_eq!("".parse(), Ok(UsernsMode::Default));
        assert_eq!("keep-id".parse(), Ok(UsernsMode::KeepId));
        assert_eq!("emulate".parse(), Ok(UsernsMode::Emulate));
        assert_eq!(UsernsMode::Emulate.shown().as_deref(), Some("emulate"));
        assert_eq!(
            "host".parse::<UsernsMode>().unwrap().shown().as_deref(),
            Some("host")
        );
        assert_eq!(
            "nomap".parse::<UsernsMode>().unwrap_err().to_string(),
            "unsupported --userns \"nomap\": burrow knows keep-id, emulate (and the default, a \
             full id map)"
        );
        let opts: Vec<SecurityOpt> = ["no-new-privileges", "label=disable", "seccomp=unconfined"]
            .iter()
            .map(|o| o.parse().unwrap())
            .collect();
        assert_eq!(
            SecurityOpt::resolve(&opts),
            (true, crate::sandbox::SeccompPolicy::Unconfined)
        );
        let off: SecurityOpt = "no-new-privileges=false".parse().unwrap();
        assert!(!SecurityOpt::resolve(&[opts[0].clone(), off]).0);
        assert!(matches!(
            "apparmor=x".parse::<SecurityOpt>(),
            Err(SecurityOptError::Unknown(_))
        ));
        let missing = "seccomp=/no/such/profile.json".parse::<SecurityOpt>();
        assert!(
            matches!(&missing, Err(SecurityOptError::Profile { path, .. }) if path == "/no/such/profile.json"),
            "{missing:?}"
        );
    }

    #[test]
    fn restart_policies_parse_and_print_as_given() {
        assert_eq!("no".parse::<RestartPolicy>(), Ok(RestartPolicy::No));
        assert_eq!("".parse::<RestartPolicy>(), Ok(RestartPolicy::No));
        assert_eq!("always".parse::<RestartPolicy>(), Ok(RestartPolicy::Always));
        assert_eq!(
            "on-failure:3".parse::<RestartPolicy>(),
            Ok(RestartPolicy::OnFailure(Some(3)))
        );
        for text in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:3",
        ] {
            let p: RestartPolicy = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
        }
        assert_eq!(
            "on-failure:x"
                .parse::<RestartPolicy>()
                .unwrap_err()
                .to_string(),
            "invalid --restart \"on-failure:x\": the count must be a number"
        );
        assert_eq!(
            "sometimes"
                .parse::<RestartPolicy>()
                .unwrap_err()
                .to_string(),
            "invalid --restart \"sometimes\": no, on-failure[:N], always"
        );
        let p = RestartPolicy::OnFailure(Some(2));
        assert!(p.wants_restart(1, 0));
        assert!(p.wants_restart(1, 1));
        assert!(!p.wants_restart(1, 2));
        assert!(!p.wants_restart(0, 0));
        assert!(RestartPolicy::Always.wants_restart(0, 100));
        assert!(RestartPolicy::UnlessStopped.wants_restart(0, 100));
        assert!(!RestartPolicy::No.wants_restart(1, 0));
    }
}
