//! The typed values a container is made from: what the command line's
//! value parsers produce and what the record and the supervisor's plan
//! keep. Plain data with their parsers and their text forms; nothing here
//! touches the machine.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

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

#[cfg(test)]
mod tests {
    use super::*;

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
