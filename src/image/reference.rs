//! Image references as docker parses them. (Skeleton: being written.)

use super::Digest;
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference {input:?}: {why}")]
    Invalid { input: String, why: String },
}

/// `registry/repository[:tag][@digest]`, normalized: `busybox` is
/// `docker.io/library/busybox:latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses with docker's rules; an unqualified name gets `docker.io`.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        Self::parse_in(input, "docker.io")
    }

    /// Parses; an unqualified name gets `default_registry` (`localhost` for
    /// images made here, as podman names them). A tag of `latest` is added
    /// when neither tag nor digest is given.
    pub fn parse_in(_input: &str, _default_registry: &str) -> Result<Reference, ReferenceError> {
        todo!()
    }

    /// Whether `input` names its registry (`host.tld/...`, `host:port/...`,
    /// `localhost/...`).
    pub fn is_qualified(_input: &str) -> bool {
        todo!()
    }

    /// `registry/repository`, no tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}
