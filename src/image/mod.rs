//! Images: references and short names, the store (blobs, layers, tags),
//! safe layer unpacking, archive import/export, and registries. Never imports
//! `container`; never runs anything from an image.

pub mod archive;
pub mod chunks;
pub mod compress;
pub mod config;
pub mod digest;
pub mod reference;
pub mod registry;
pub mod store;
pub mod tar;
pub mod tree;
pub mod unpack;

pub use config::ImageConfig;
pub use digest::Digest;
pub use reference::Reference;
pub use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    #[error(transparent)]
    Digest(#[from] digest::DigestError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    #[error(transparent)]
    Unpack(#[from] unpack::UnpackError),
    #[error(transparent)]
    Tar(#[from] tar::TarError),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
}
