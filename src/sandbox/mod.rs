//! Everything between fork and execve: the user namespace and its id maps,
//! the other namespaces, the root filesystem, and the process that runs in
//! it. Knows nothing of images, the CLI or container records: `container`
//! hands it plain data.

pub mod probe;
pub mod userns;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Userns(#[from] userns::UsernsError),
}
