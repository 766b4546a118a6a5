//! Archives. (Skeleton: being written.)
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Other(String),
}
