//! `config.toml`, its defaults, and where burrow keeps things (XDG).
//! Owns reading and validating the file and resolving directories; the
//! only thing it creates is the private runtime directory, and it never
//! touches the store's contents.

mod error;
mod paths;
mod probe;
mod schema;
mod storage;
#[cfg(test)]
mod tests;

pub use error::ConfigError;
pub use paths::{
    ensure_private_dir, load, load_with, usable_runtime_base, Env, Paths, RuntimeBaseError,
};
pub use probe::{
    fs_name, network_fs_name, private_gid, storage_fs_with, unsafe_dir, unsafe_parent, FsProbe,
    Statfs, FUSE_MAGIC,
};
pub use schema::{
    ByteSize, Config, LogsConfig, NetworkConfig, RegistriesConfig, StorageConfig, UsernsConfig,
};
pub use storage::{check_storage_fs, check_storage_fs_with, check_storage_owner};
