//! Facts about the filesystem under a directory: who else can change it
//! or its parents, and which filesystem holds it (`statfs`). Reads only.

use super::error::ConfigError;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why the existing directory `md` describes is open to other users than
/// `uid`, if it is: not theirs (nor root's), or writable by others. A
/// parent of burrow's directory may be writable by others when it is
/// sticky (as /tmp is), since others then cannot rename or remove what is
/// in it; burrow's own directories may not. Group write counts as others'
/// unless the group is `private_gid`, the user's own (user private
/// groups).
fn opened_to_others(
    md: &fs::Metadata,
    uid: u32,
    private_gid: Option<u32>,
    parent: bool,
) -> Option<String> {
    let owner = md.uid();
    if owner != uid && !(parent && owner == 0) {
        return Some(format!(
            "belongs to uid {owner}, not to you (uid {uid}){}",
            if parent { " or root" } else { "" }
        ));
    }
    let mode = md.mode() & 0o7777;
    let group_writes = mode & 0o020 != 0 && Some(md.gid()) != private_gid;
    let others_write = mode & 0o002 != 0 || group_writes;
    let sticky = mode & 0o1000 != 0;
    if others_write && !(parent && sticky) {
        return Some(format!(
            "is writable by other users (mode {mode:04o}{})",
            if parent {
                ", without the sticky bit"
            } else {
                ""
            }
        ));
    }
    None
}

/// The user's primary group when it is a user private group (named as
/// the user), whose write bit lets no one else in.
pub fn private_gid(uid: u32) -> Option<u32> {
    let user = nix::unistd::User::from_uid(uid.into()).ok()??;
    let group = nix::unistd::Group::from_gid(user.gid).ok()??;
    (group.name == user.name).then_some(user.gid.as_raw())
}

/// The first existing parent of `dir` that another user than `uid` can
/// change, and why: each must be `uid`'s or root's and not writable by
/// others unless sticky. Symbolic links are resolved, and the directories
/// holding them are checked too.
pub fn unsafe_parent(dir: &Path, uid: u32, private_gid: Option<u32>) -> Option<(PathBuf, String)> {
    if let Some(parents) = plain_parents(dir) {
        return parents.iter().rev().find_map(|(p, md)| {
            opened_to_others(md, uid, private_gid, true).map(|why| (p.clone(), why))
        });
    }
    let mut parents: Vec<PathBuf> = dir.ancestors().skip(1).map(Path::to_path_buf).collect();
    if let Some(real) = dir.ancestors().find_map(|a| fs::canonicalize(a).ok()) {
        let skip = usize::from(real == dir);
        parents.extend(real.ancestors().skip(skip).map(Path::to_path_buf));
    }
    // Without symbolic links on the way the resolved parents are the same
    // directories: each is looked at once (this runs at every command).
    let mut seen = std::collections::HashSet::new();
    parents.retain(|p| seen.insert(p.clone()));
    parents.iter().rev().find_map(|p| {
        let md = fs::metadata(p).ok()?;
        opened_to_others(&md, uid, private_gid, true).map(|why| (p.clone(), why))
    })
}

/// The existing parents of `dir` and what they are, nearest first, when no
/// symbolic link is on the way (nor at `dir`): then the resolved parents
/// are these same directories, and one lstat of each (this runs at every
/// command) replaces a readlink of each to resolve the path plus a stat of
/// each parent. `None` when the path needs resolving: a link, a `.` or
/// `..`, or a component that cannot be looked at.
fn plain_parents(dir: &Path) -> Option<Vec<(PathBuf, fs::Metadata)>> {
    use std::path::Component;
    if !dir.is_absolute()
        || dir
            .components()
            .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
    {
        return None;
    }
    let mut parents = Vec::new();
    let mut found = false;
    for (i, p) in dir.ancestors().enumerate() {
        match fs::symlink_metadata(p) {
            Ok(md) if md.file_type().is_symlink() => return None,
            Ok(md) => {
                found = true;
                if i > 0 {
                    parents.push((p.to_path_buf(), md));
                }
            }
            // Not made yet: only below the first directory that exists.
            Err(e) if e.kind() == io::ErrorKind::NotFound && !found => {}
            Err(_) => return None,
        }
    }
    Some(parents)
}

/// [`unsafe_parent`], then `dir` itself if it exists and `own` below it:
/// those must be `uid`'s and writable by no one else.
pub fn unsafe_dir(
    dir: &Path,
    own: &[&str],
    uid: u32,
    private_gid: Option<u32>,
) -> Option<(PathBuf, String)> {
    unsafe_parent(dir, uid, private_gid).or_else(|| {
        std::iter::once(dir.to_path_buf())
            .chain(own.iter().map(|d| dir.join(d)))
            .find_map(|p| {
                let md = fs::metadata(&p).ok()?;
                opened_to_others(&md, uid, private_gid, false).map(|why| (p, why))
            })
    })
}

/// Network filesystems by `statfs` magic: storage there cannot hold
/// overlay upper directories and its locks are unreliable.
pub(super) const NETWORK_FS: &[(u32, &str)] = &[
    (0x6969, "NFS"),
    (0x517B, "SMB"),
    (0xFF53_4D42, "CIFS"),
    (0xFE53_4D42, "SMB2"),
    (0x0BD0_0BD0, "Lustre"),
    (0x4750_4653, "GPFS"),
    (0x00C3_6400, "CephFS"),
    (0x5346_414F, "AFS"),
    (0x6B41_4653, "AFS"),
    (0x1983_0326, "BeeGFS"),
    (0xAAD7_AAEA, "PanFS"),
    (0x0102_1997, "9p"),
];

/// FUSE carries both local and network filesystems (sshfs, GlusterFS):
/// only a warning.
pub const FUSE_MAGIC: u32 = 0x6573_5546;

/// The name of the network filesystem with this `statfs` magic, if it is
/// one.
pub fn network_fs_name(magic: u32) -> Option<&'static str> {
    NETWORK_FS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

/// The one syscall the storage check needs, so a test can report a
/// network filesystem that this machine cannot mount.
pub trait FsProbe {
    /// The `f_type` magic of the filesystem holding `path`.
    fn magic(&self, path: &Path) -> io::Result<u32>;
}

/// `statfs(2)`.
pub struct Statfs;

impl FsProbe for Statfs {
    fn magic(&self, path: &Path) -> io::Result<u32> {
        let st = rustix::fs::statfs(path)?;
        // f_type is a 32-bit magic in a signed word whose width varies by
        // architecture; truncating recovers it on all of them.
        Ok(st.f_type as u32)
    }
}

/// The filesystem under `root`, which may not exist yet: the nearest
/// existing directory at or above it, and its `statfs` magic.
pub fn storage_fs_with(probe: &dyn FsProbe, root: &Path) -> Result<(PathBuf, u32), ConfigError> {
    let mut probed = root;
    loop {
        match probe.magic(probed) {
            Ok(m) => return Ok((probed.to_path_buf(), m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match probed.parent() {
                Some(parent) => probed = parent,
                None => {
                    return Err(ConfigError::Statfs {
                        path: root.to_path_buf(),
                        source: e,
                    })
                }
            },
            Err(source) => {
                return Err(ConfigError::Statfs {
                    path: probed.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// A filesystem's name from its `statfs` magic, for messages:
/// network filesystems by the names above, common local ones by theirs,
/// others as hex.
pub fn fs_name(magic: u32) -> String {
    const LOCAL: &[(u32, &str)] = &[
        (0xEF53, "ext4"),
        (0x5846_5342, "xfs"),
        (0x9123_683E, "btrfs"),
        (0x0102_1994, "tmpfs"),
        (0x2FC1_2FC1, "zfs"),
        (0xF2F5_2010, "f2fs"),
        (0xCA45_1A4E, "bcachefs"),
        (0x794C_7630, "overlay"),
        (0x4D44, "vfat"),
        (0x5346_544E, "ntfs"),
        (0x6573_5546, "FUSE"),
        (0x7371_7368, "squashfs"),
        (0xE0F5_E1E2, "erofs"),
    ];
    network_fs_name(magic)
        .or_else(|| LOCAL.iter().find(|(m, _)| *m == magic).map(|(_, n)| *n))
        .map(str::to_string)
        .unwrap_or_else(|| format!("filesystem 0x{magic:x}"))
}
