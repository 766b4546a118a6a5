//! The checks a storage root must pass before burrow uses it: no other
//! user can change it, and it is not on a network filesystem.

use super::error::ConfigError;
use super::paths::Paths;
use super::probe::{
    network_fs_name, private_gid, storage_fs_with, unsafe_dir, FsProbe, Statfs, FUSE_MAGIC,
};
use super::schema::Config;

/// The directories a store keeps at its top; another user able to write
/// one of them can plant what burrow reads from it.
pub(super) const STORE_DIRS: &[&str] = &[
    "blobs",
    "layers",
    "single-id-layers",
    "images",
    "tmp",
    "locks",
    "containers",
    "volumes",
    "kernels",
];

/// Refuses a storage root that another user made or can change (see
/// [`unsafe_dir`]); burrow creates a missing one with mode 0700.
pub fn check_storage_owner(paths: &Paths, uid: u32) -> Result<(), ConfigError> {
    // The user's private group only excuses a group-writable directory:
    // looked up (passwd and group, through NSS) only when one is found.
    let open = unsafe_dir(&paths.storage, STORE_DIRS, uid, None)
        .and_then(|_| unsafe_dir(&paths.storage, STORE_DIRS, uid, private_gid(uid)));
    match open {
        None => Ok(()),
        Some((culprit, why)) => Err(ConfigError::UnsafeStorage {
            path: paths.storage.clone(),
            culprit,
            why,
            config_file: paths.config_file.clone(),
        }),
    }
}

/// Refuses a storage root on a network filesystem unless
/// `storage.allow_network_fs` is set. `Ok(Some(warning))` for FUSE.
pub fn check_storage_fs(config: &Config, paths: &Paths) -> Result<Option<String>, ConfigError> {
    check_storage_fs_with(&Statfs, config, paths)
}

/// `check_storage_fs` through a given probe. The root may not exist yet:
/// its nearest existing ancestor is probed.
pub fn check_storage_fs_with(
    probe: &dyn FsProbe,
    config: &Config,
    paths: &Paths,
) -> Result<Option<String>, ConfigError> {
    let root = &paths.storage;
    let (probed, magic) = storage_fs_with(probe, root)?;
    if config.storage.allow_network_fs {
        return Ok(None);
    }
    if let Some(fs) = network_fs_name(magic) {
        return Err(ConfigError::NetworkFs {
            fs,
            path: root.clone(),
            probed,
            config_file: paths.config_file.clone(),
        });
    }
    if magic == FUSE_MAGIC {
        return Ok(Some(format!(
            "storage root {} is on a FUSE filesystem; if that is a network filesystem \
             (sshfs, GlusterFS, ...) layers and locks may fail: set storage.root in {} to a \
             local directory, or storage.allow_network_fs = true to silence this",
            root.display(),
            paths.config_file.display()
        )));
    }
    Ok(None)
}
