//! Orchestration: turns what the CLI parsed into calls of `image`,
//! `sandbox`, `cgroup` and `net`, and owns container records. Store
//! operations that create or delete files owned by mapped ids run here,
//! inside a user namespace.

pub mod doctor;
pub mod images;
pub mod record;
pub mod run;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Record(#[from] record::RecordError),
    #[error("{0}")]
    Other(String),
}

impl ContainerError {
    pub fn exit_code(&self) -> i32 {
        125
    }
}
