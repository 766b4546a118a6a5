//! The image store. (Skeleton: being written.)
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Other(String),
}
pub struct Store;
