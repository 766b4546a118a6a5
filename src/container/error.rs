//! The error of a burrow command: one variant per module a command goes
//! through, each carrying that module's typed error. It lives in
//! `container`, the floor that calls all the others, so that nothing below
//! `cli` imports upward; `crate::Error` re-exports it. `main.rs` prints it as
//! one line plus a hint and maps it to docker's exit codes.

use crate::{cgroup, config, container, image, net, sandbox};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error(transparent)]
    Container(#[from] container::ContainerError),
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
    /// The network could not be set up (a published port in use, a helper
    /// that failed): burrow's own failure before the container runs, 125
    /// as docker's. A malformed network flag is `Usage`.
    #[error(transparent)]
    Network(#[from] net::NetError),
    /// A failure reported by burrow's own child process in a user
    /// namespace, already rendered there.
    #[error("{0}")]
    Reported(String),
    #[error("{0}")]
    Usage(String),
    /// The request conflicts with the state of things (an image in use):
    /// exit status 1, as docker's.
    #[error("{0}")]
    Conflict(String),
}

impl Error {
    /// The process exit status for this error, as docker and podman use
    /// them: 125 for burrow's own failure, 126 when the command cannot be
    /// invoked, 127 when it is not found.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Container(e) => e.exit_code(),
            Error::Sandbox(e) => e.exit_code(),
            Error::Conflict(_) => 1,
            // `burrow network`'s refusals (not found, exists, in use,
            // overlaps), as docker's CLI exits on its daemon's errors.
            Error::Network(net::NetError::Networks(_)) => 1,
            // docker's status for an object that does not exist.
            Error::Image(image::ImageError::Store(image::store::StoreError::NoSuchImage(_))) => 1,
            _ => 125,
        }
    }
}

impl From<sandbox::userns::UsernsError> for Error {
    fn from(e: sandbox::userns::UsernsError) -> Error {
        Error::Sandbox(sandbox::SandboxError::Userns(e))
    }
}

impl From<container::volumes::VolumeError> for Error {
    fn from(e: container::volumes::VolumeError) -> Error {
        Error::Container(e.into())
    }
}

impl From<container::kube::KubeError> for Error {
    fn from(e: container::kube::KubeError) -> Error {
        Error::Container(e.into())
    }
}

impl From<container::pods::PodError> for Error {
    fn from(e: container::pods::PodError) -> Error {
        Error::Container(e.into())
    }
}

impl From<container::record::RecordError> for Error {
    fn from(e: container::record::RecordError) -> Error {
        Error::Container(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_set_up_failure_is_its_own_error_and_exits_125_as_docker_does() {
        let addr = "127.0.0.1:8080".parse().unwrap();
        let e = Error::from(net::NetError::Allocated { addr });
        assert!(matches!(e, Error::Network(_)), "{e:?}");
        assert_eq!(e.exit_code(), 125);
        assert_eq!(
            e.to_string(),
            "Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
    }
}
