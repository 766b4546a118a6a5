//! The container's mounts as a list of plain operations: built from the
//! spec by a pure function (printable, testable without a kernel) and
//! applied in order by one function whose every failure names the
//! operation and the path. Targets are resolved inside the new root only.

use super::spec::{CgroupFs, DevShm, DeviceNode, MountOp, SandboxSpec};
use super::sys::{self, FsError};
use super::SetupError;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{OFlags, CWD};
use rustix::io::Errno;
use rustix::mount::MountAttrFlags;
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;

fn tmpfs(dst: &str, size: u64, mode: u32, nodev: bool) -> MountOp {
    MountOp::Tmpfs {
        dst: dst.into(),
        size: Some(size),
        mode: Some(mode),
        uid: None,
        gid: None,
        read_only: false,
        nosuid: true,
        nodev,
        noexec: true,
    }
}

/// The container's mounts, in the order they are applied: the standard
/// tree (/proc, /sys, /dev and its devices, /dev/pts, /dev/shm,
/// /dev/mqueue), the /etc files, the caller's mounts, the working
/// directory, masked and read-only paths, and the read-only root.
pub fn mount_ops(spec: &SandboxSpec) -> Vec<MountOp> {
    let mut ops = vec![
        MountOp::Proc {
            dst: "/proc".into(),
        },
        MountOp::Sysfs { dst: "/sys".into() },
    ];
    match (&spec.cgroup, spec.namespaces.cgroup, spec.cgroup_fs) {
        (_, _, CgroupFs::Absent) => {}
        (_, true, fs) => ops.push(MountOp::Cgroup2 {
            dst: "/sys/fs/cgroup".into(),
            read_only: fs == CgroupFs::ReadOnly,
        }),
        // The host's cgroup namespace (`--cgroupns host`), whose cgroup2
        // only its owner, the host's user namespace, may mount: a bind of
        // the container's own cgroup, never of the host's tree, which a
        // container given CAP_SYS_ADMIN could remount writable and leave
        // its limits for the user's other cgroups by.
        (Some(own), false, fs) => ops.push(MountOp::Bind {
            src: own.clone(),
            dst: "/sys/fs/cgroup".into(),
            read_only: fs == CgroupFs::ReadOnly,
            real: false,
        }),
        (None, false, _) => {}
    }
    ops.push(tmpfs("/dev", 64 * MIB, 0o755, false));
    // mknod is not allowed in a user namespace: the host's nodes are bound.
    for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
        ops.push(MountOp::Bind {
            src: PathBuf::from("/dev").join(dev),
            dst: PathBuf::from("/dev").join(dev),
            read_only: false,
            real: false,
        });
    }
    ops.push(MountOp::DevPts {
        dst: "/dev/pts".into(),
        gid: spec.id_map.host_gid(5).map(|_| 5),
    });
    for (target, link) in [
        ("pts/ptmx", "/dev/ptmx"),
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("/proc/kcore", "/dev/core"),
    ] {
        ops.push(MountOp::Symlink {
            target: target.into(),
            dst: link.into(),
        });
    }
    match spec.dev_shm {
        DevShm::Own => ops.push(tmpfs(
            "/dev/shm",
            spec.shm_size.unwrap_or(64 * MIB),
            0o1777,
            true,
        )),
        DevShm::Host => ops.push(MountOp::Bind {
            src: "/dev/shm".into(),
            dst: "/dev/shm".into(),
            read_only: false,
            real: false,
        }),
        DevShm::Shareable => ops.push(MountOp::ShareableShm {
            dst: "/dev/shm".into(),
            size: spec.shm_size.unwrap_or(64 * MIB),
        }),
        DevShm::Joined => ops.push(MountOp::JoinedShm {
            dst: "/dev/shm".into(),
        }),
        DevShm::Absent => {}
    }
    if spec.namespaces.ipc || spec.join.as_ref().is_some_and(|j| j.ipc) {
        ops.push(MountOp::Mqueue {
            dst: "/dev/mqueue".into(),
        });
    }
    for (src, dst) in [
        (&spec.etc.hostname, "/etc/hostname"),
        (&spec.etc.hosts, "/etc/hosts"),
        (&spec.etc.resolv_conf, "/etc/resolv.conf"),
    ] {
        if let Some(src) = src {
            ops.push(MountOp::Bind {
                src: src.clone(),
                dst: dst.into(),
                read_only: false,
                real: false,
            });
        }
    }
    ops.extend(spec.mounts.iter().cloned());
    // After the caller's mounts, so that a device below one of them (a
    // --tmpfs, a volume) lands in it.
    ops.extend(spec.devices.iter().map(|d| MountOp::Device {
        src: d.src.clone(),
        dst: d.dst.clone(),
        read_only: d.read_only,
    }));
    if spec.cwd != Path::new("/") {
        ops.push(MountOp::Dir {
            dst: spec.cwd.clone(),
        });
    }
    ops.extend(
        spec.masked_paths
            .iter()
            .map(|p| MountOp::Mask { dst: p.clone() }),
    );
    ops.extend(
        spec.readonly_paths
            .iter()
            .map(|p| MountOp::ReadOnly { dst: p.clone() }),
    );
    if spec.read_only {
        ops.push(MountOp::RootReadOnly);
    }
    ops
}

/// Why a volume's host source cannot be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindSourceError {
    #[error("the host path {}: {source}", .path.display())]
    Stat {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the host path {} goes through the symbolic link {} -> {}, which leads out of {}; a \
         container can plant such links in a volume, so burrow does not follow them: name the \
         directory itself ({}) if you mean it",
        .named.display(), .link.display(), .target.display(), .holder.display(),
        .resolved.display()
    )]
    LinkLeadsOut {
        /// The path as the user gave it.
        named: PathBuf,
        link: PathBuf,
        target: PathBuf,
        /// The directory holding the link.
        holder: PathBuf,
        resolved: PathBuf,
    },
}

/// The real path (no symbolic links left) of a volume's host source
/// `named`, an absolute path as the user gave it. A symbolic link on the
/// way that is not root's must lead to a place beneath the directory that
/// holds it: a container can plant links in a volume it writes, and a
/// later `-v` of a path through one would otherwise bind whatever host
/// directory the container chose (docker follows them). Root's links are
/// the system's own (`/var/run`, a home moved by the admin) and followed.
pub fn real_bind_source(named: &Path) -> Result<PathBuf, BindSourceError> {
    use std::os::unix::fs::MetadataExt;
    use std::path::Component;
    let mut real = PathBuf::from("/");
    for c in named.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                real.pop();
            }
            Component::Normal(name) => {
                let next = real.join(name);
                let stat = |source| BindSourceError::Stat {
                    path: next.clone(),
                    source,
                };
                let md = std::fs::symlink_metadata(&next).map_err(stat)?;
                if !md.file_type().is_symlink() {
                    real = next;
                    continue;
                }
                let target = std::fs::read_link(&next).unwrap_or_default();
                let resolved = std::fs::canonicalize(&next).map_err(stat)?;
                if md.uid() != 0 && !resolved.starts_with(&real) {
                    return Err(BindSourceError::LinkLeadsOut {
                        named: named.to_path_buf(),
                        link: next,
                        target,
                        holder: real,
                        resolved,
                    });
                }
                real = resolved;
            }
        }
    }
    Ok(real)
}

/// The /dev/shm of the container whose IPC namespace is joined, for
/// `MountOp::JoinedShm`: the mount its parent got from its pid 1 (see
/// `DevShm::Shareable`), and that container's pid 1, whose mount
/// namespace holds it.
pub(crate) struct JoinedShm<'a> {
    /// Its pid in the caller's pid namespace.
    pub pid: i32,
    pub pidfd: BorrowedFd<'a>,
    /// The mount, as fsmount or open_tree gave it over there.
    pub mount: BorrowedFd<'a>,
}

/// Why `--device` cannot bring a host path in, said before anything is
/// made.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// docker's words, so that what searches for them finds them.
    #[error("error gathering device information while adding custom device {:?}: {why}", .path.display().to_string())]
    Gather { path: PathBuf, why: String },
    #[error(
        "--device {}: a rootless container cannot be kept from {doing} {}, which you may {verb} \
         yourself (without root there is no device cgroup, and a read-only mount does not stop \
         writes to a device node); add {letter} to the permissions, or give a node you may not \
         {verb}",
        .given.display(), .node.display()
    )]
    CannotKeep {
        given: PathBuf,
        node: PathBuf,
        doing: &'static str,
        verb: &'static str,
        letter: char,
    },
}

/// The host's device nodes that `--device host:container` brings in:
/// `host` itself when it is one (a link to one followed, as docker
/// does), else, when it is a directory, each device node below it (links
/// below it not followed, files and other kinds left out), at the same
/// place below `container`. Anything else is refused, as is a permission
/// left out (`read`, `write` false) that the kernel would not keep the
/// container from: only a node's own permissions stand between a rootless
/// container and it.
pub fn host_devices(
    host: &Path,
    container: &Path,
    read: bool,
    write: bool,
) -> Result<Vec<DeviceNode>, DeviceError> {
    use std::os::unix::fs::FileTypeExt;
    let gather = |why: String| DeviceError::Gather {
        path: host.to_path_buf(),
        why,
    };
    let md = std::fs::metadata(host).map_err(|e| gather(errno_words(&e)))?;
    let is_device = |t: std::fs::FileType| t.is_char_device() || t.is_block_device();
    let mut nodes = Vec::new();
    if is_device(md.file_type()) {
        nodes.push((host.to_path_buf(), container.to_path_buf()));
    } else if md.is_dir() {
        let real = std::fs::canonicalize(host).map_err(|e| gather(errno_words(&e)))?;
        let mut todo = vec![PathBuf::new()];
        while let Some(rel) = todo.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(real.join(&rel))
                .map_err(|e| gather(errno_words(&e)))?
                .filter_map(|e| e.ok())
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let Ok(t) = e.file_type() else { continue };
                let below = rel.join(e.file_name());
                if t.is_dir() {
                    todo.push(below);
                } else if is_device(t) {
                    nodes.push((real.join(&below), container.join(&below)));
                }
            }
        }
    }
    if nodes.is_empty() {
        return Err(gather("not a device node".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    for (node, _) in &nodes {
        // Its owner may change its mode (and is root inside): whatever
        // is left out could be had.
        let owned = std::os::unix::fs::MetadataExt::uid(
            &std::fs::metadata(node).map_err(|e| gather(errno_words(&e)))?,
        ) == me;
        let may = |access| {
            owned || rustix::fs::accessat(CWD, node, access, rustix::fs::AtFlags::EACCESS).is_ok()
        };
        let refused = if !write && may(rustix::fs::Access::WRITE_OK) {
            Some(("writing to", "write to", 'w'))
        } else if !read && may(rustix::fs::Access::READ_OK) {
            Some(("reading", "read", 'r'))
        } else {
            None
        };
        if let Some((doing, verb, letter)) = refused {
            return Err(DeviceError::CannotKeep {
                given: host.to_path_buf(),
                node: node.clone(),
                doing,
                verb,
                letter,
            });
        }
    }
    Ok(nodes
        .into_iter()
        .map(|(src, dst)| DeviceNode {
            src,
            dst,
            read_only: !write,
        })
        .collect())
}

/// An I/O error as the kernel's words alone, lower-cased as docker
/// prints them: "no such file or directory".
fn errno_words(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut c = text.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => text,
    }
}

/// Applies `ops` in order under the directory `root` (the new root,
/// before pivot_root). Host paths (`src`) resolve in the current root.
/// `joined` is what `MountOp::JoinedShm` clones. Returns the mount of a
/// /dev/shm other containers may share (`MountOp::ShareableShm`,
/// `JoinedShm`), for the parent to hand out.
pub(crate) fn apply_mount_ops(
    ops: &[MountOp],
    root: BorrowedFd,
    joined: Option<&JoinedShm>,
) -> Result<Option<OwnedFd>, SetupError> {
    let mut shared = None;
    for op in ops {
        apply_one(op, root, joined, &mut shared)?;
    }
    Ok(shared)
}

fn apply_one(
    op: &MountOp,
    root: BorrowedFd,
    joined: Option<&JoinedShm>,
    shared: &mut Option<OwnedFd>,
) -> Result<(), SetupError> {
    let dst = op.destination();
    let fail = |errno: Errno, detail: Option<String>| SetupError {
        op: op.describe(),
        path: Some(dst.to_path_buf()),
        errno: Some(errno.raw_os_error()),
        detail,
    };
    let fs_fail = |e: FsError| fail(e.errno, e.log);
    let at = |e: Errno, what: &str| fail(e, Some(what.to_string()));
    let mount_point = || sys::ensure_dir(root, dst).map_err(|e| at(e, "making the mount point"));
    let noexec = MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOEXEC;

    match op {
        MountOp::Proc { .. } => {
            let target = mount_point()?;
            let m = sys::new_fs("proc", &[], noexec).map_err(fs_fail)?;
            sys::attach(m.as_fd(), target.as_fd()).map_err(|e| fail(e, None))
        }
        MountOp::Sysfs { .. } => {
            let target = mount_point()?;
            let m = match sys::new_fs("sysfs", &[], noexec | MountAttrFlags::MOUNT_ATTR_RDONLY) {
                Ok(m) => m,
                // No network namespace of our own: sysfs is refused, the
                // host's tree is the fallback.
                Err(first) => {
                    let m = sys::clone_tree(CWD, Path::new("/sys")).map_err(|e| {
                        fail(
                            e,
                            Some(format!(
                                "sysfs refused ({}), then binding the host's /sys",
                                first.errno
                            )),
                        )
                    })?;
                    return attach_read_only(m.as_fd(), target.as_fd(), true)
                        .map_err(|(e, what)| at(e, &format!("the host's /sys: {what}")));
                }
            };
            sys::attach(m.as_fd(), target.as_fd()).map_err(|e| fail(e, None))
        }
        MountOp::Cgroup2 { read_only, .. } => {
            // On the sysfs just mounted, read-only: the directory is there.
            let target = mount_point()?;
            let mut attrs = noexec;
            if *read_only {
                attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY;
            }
            let m = sys::new_fs("cgroup2", &[], attrs).map_err(fs_fail)?;
            sys::attach(m.as_fd(), target.as_fd()).map_err(|e| fail(e, None))
        }
        MountOp::Tmpfs {
            size,
            mode,
            uid,
            gid,
            read_only,
            nosuid,
            nodev,
            noexec,
            ..
        } => {
            let target = mount_point()?;
            let mut options = Vec::new();
            if let Some(size) = size {
                options.push(("size", Some(size.to_string())));
            }
            if let Some(mode) = mode {
                options.push(("mode", Some(format!("{mode:o}"))));
            }
            // Read by tmpfs in this (the container's) user namespace.
            if let Some(uid) = uid {
                options.push(("uid", Some(uid.to_string())));
            }
            if let Some(gid) = gid {
                options.push(("gid", Some(gid.to_string())));
            }
            let mut attrs = MountAttrFlags::empty();
            for (on, flag) in [
                (*read_only, MountAttrFlags::MOUNT_ATTR_RDONLY),
                (*nosuid, MountAttrFlags::MOUNT_ATTR_NOSUID),
                (*nodev, MountAttrFlags::MOUNT_ATTR_NODEV),
                (*noexec, MountAttrFlags::MOUNT_ATTR_NOEXEC),
            ] {
                if on {
                    attrs |= flag;
                }
            }
            let m = sys::new_fs("tmpfs", &options, attrs).map_err(fs_fail)?;
            sys::attach(m.as_fd(), target.as_fd()).map_err(|e| fail(e, None))
        }
        MountOp::DevPts { gid, .. } => {
            let target = mount_point()?;
            let mut options = vec![
                ("newinstance", None),
                ("ptmxmode", Some("0666".to_string())),
                ("mode", Some("0620".to_string())),
            ];
            if let Some(gid) = gid {
                options.push(("gid", Some(gid.to_string())));
            }
            let attrs = MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NOEXEC;
            let m = sys::new_fs("devpts", &options, attrs).map_err(fs_fail)?;
            sys::attach(m.as_fd(), target.as_fd()).map_err(|e| fail(e, None))
        }
        MountOp::Mqueue { .. } => {
            let target = mount_point()?;
            let m = sys::new_fs("mqueue", &[], noexec).map_err(fs_fail)?;
            sys::attach(m.as_fd(), target.as_fd()).map_err(|e| fail(e, None))
        }
        MountOp::Bind {
            src,
            read_only,
            real,
            ..
        } => {
            let source = if *real {
                open_real(src, OFlags::PATH).map_err(|(e, why)| at(e, &why))?
            } else {
                rustix::fs::open(src, OFlags::PATH | OFlags::CLOEXEC, 0.into())
                    .map_err(|e| at(e, &format!("the source {} is not usable", src.display())))?
            };
            bind(source, *read_only, root, dst).map_err(|(e, why)| fail(e, why))
        }
        MountOp::Device { src, read_only, .. } => {
            // Checked on the node opened: a link or a file swapped in since
            // the container was made is refused, never bound.
            let source = rustix::fs::open(src, OFlags::PATH | OFlags::CLOEXEC, 0.into())
                .map_err(|e| at(e, &format!("the device {} is not usable", src.display())))?;
            let st = rustix::fs::fstat(&source).map_err(|e| fail(e, None))?;
            use rustix::fs::FileType;
            if !matches!(
                FileType::from_raw_mode(st.st_mode),
                FileType::CharacterDevice | FileType::BlockDevice
            ) {
                return Err(at(
                    Errno::NODEV,
                    &format!("{} is not a device node", src.display()),
                ));
            }
            bind(source, *read_only, root, dst).map_err(|(e, why)| fail(e, why))
        }
        MountOp::Volume {
            src,
            read_only,
            copy_up,
            ..
        } => {
            let source = open_real(src, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(|(e, why)| at(e, &why))?;
            if *copy_up {
                fill_volume(source.as_fd(), root, dst).map_err(|(e, why)| at(e, &why))?;
            }
            bind(source, *read_only, root, dst).map_err(|(e, why)| fail(e, why))
        }
        MountOp::Symlink { target, .. } => {
            let (Some(parent), Some(name)) = (dst.parent(), dst.file_name()) else {
                return Err(fail(Errno::INVAL, None));
            };
            let dir = sys::ensure_dir(root, parent).map_err(|e| at(e, "making its directory"))?;
            match rustix::fs::symlinkat(target, &dir, name) {
                Ok(()) | Err(Errno::EXIST) => Ok(()),
                Err(e) => Err(fail(e, None)),
            }
        }
        MountOp::Dir { .. } => mount_point().map(drop),
        MountOp::Mask { .. } => {
            let Some(target) = open_existing(root, dst).map_err(|e| fail(e, None))? else {
                return Ok(());
            };
            let m = if sys::is_dir(target.as_fd()).map_err(|e| fail(e, None))? {
                // Read-only and empty: nothing can be put there to see.
                sys::new_fs("tmpfs", &[], noexec | MountAttrFlags::MOUNT_ATTR_RDONLY)
                    .map_err(fs_fail)?
            } else {
                sys::clone_tree(CWD, Path::new("/dev/null")).map_err(|e| at(e, "/dev/null"))?
            };
            sys::attach(m.as_fd(), target.as_fd()).map_err(|e| fail(e, None))
        }
        MountOp::ReadOnly { .. } => {
            let Some(target) = open_existing(root, dst).map_err(|e| fail(e, None))? else {
                return Ok(());
            };
            let m = sys::clone_tree(target.as_fd(), Path::new("")).map_err(|e| fail(e, None))?;
            attach_read_only(m.as_fd(), target.as_fd(), true).map_err(|(e, what)| at(e, what))
        }
        MountOp::ShareableShm { size, .. } => {
            let target = mount_point()?;
            let options = [
                ("size", Some(size.to_string())),
                ("mode", Some("1777".to_string())),
            ];
            let m = sys::new_fs("tmpfs", &options, noexec).map_err(fs_fail)?;
            sys::attach(m.as_fd(), target.as_fd()).map_err(|e| fail(e, None))?;
            // Still this mount once attached: whatever the container
            // later mounts on /dev/shm or puts there instead, this is the
            // one handed out.
            *shared = Some(m);
            Ok(())
        }
        MountOp::JoinedShm { .. } => {
            let Some(joined) = joined else {
                return Err(fail(
                    Errno::INVAL,
                    Some("the joined container's /dev/shm was not given".into()),
                ));
            };
            let target = mount_point()?;
            let m = clone_joined_shm(joined).map_err(|(e, what)| at(e, &what))?;
            attach_private(m.as_fd(), target.as_fd()).map_err(|(e, what)| at(e, what))?;
            *shared = Some(m);
            Ok(())
        }
        MountOp::RootReadOnly => match sys::set_read_only(root, false) {
            // The root is attached already: the fallback applies as is.
            Err(Errno::NOSYS) => sys::remount_read_only(root, false).map_err(|e| at(e, REMOUNT)),
            other => other.map_err(|e| fail(e, None)),
        },
    }
}

/// A clone of the joined container's /dev/shm mount (`JoinedShm`). The
/// kernel clones a mount only from inside the mount namespace it is
/// attached in: this process enters that container's (its user namespace
/// owns both), clones the mount it was given, by fd, and comes back to its
/// own at once, its root and working directory as they were. Nothing is
/// looked up by path over there, so a /dev/shm the container replaced by a
/// link or mounted over changes nothing; the clone is of that one mount,
/// not of what is mounted below it; and a mount the container unmounted
/// is no longer in its namespace: refused (EINVAL).
fn clone_joined_shm(joined: &JoinedShm) -> Result<OwnedFd, (Errno, String)> {
    let dir = |path: &str| {
        rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            0.into(),
        )
        .map_err(|e| (e, format!("opening {path} to come back to it")))
    };
    let own = rustix::fs::open(
        "/proc/thread-self/ns/mnt",
        OFlags::RDONLY | OFlags::CLOEXEC,
        0.into(),
    )
    .map_err(|e| (e, "opening this process's mount namespace".to_string()))?;
    let (root, cwd) = (dir("/")?, dir(".")?);
    crate::setns::join(joined.pid, joined.pidfd, libc::CLONE_NEWNS).map_err(|e| {
        (
            Errno::from_raw_os_error(e.errno()),
            format!("entering the joined container's mount namespace: {e}"),
        )
    })?;
    let cloned = rustix::mount::open_tree(
        joined.mount,
        "",
        rustix::mount::OpenTreeFlags::OPEN_TREE_CLONE
            | rustix::mount::OpenTreeFlags::OPEN_TREE_CLOEXEC
            | rustix::mount::OpenTreeFlags::AT_EMPTY_PATH,
    );
    // Back before anything else; an error here ends the set-up, which
    // then runs nothing more in the other container's namespace.
    let back = |e: Errno| {
        (
            e,
            "coming back to this container's mount namespace".to_string(),
        )
    };
    rustix::thread::move_into_link_name_space(
        own.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Mount),
    )
    .map_err(back)?;
    rustix::process::fchdir(&root).map_err(back)?;
    rustix::process::chroot(".").map_err(back)?;
    rustix::process::fchdir(&cwd).map_err(back)?;
    cloned.map_err(|e| {
        let why = if e == Errno::INVAL {
            "the joined container unmounted it"
        } else {
            "cloning it"
        };
        (e, why.to_string())
    })
}

/// Attaches `m`, a clone of another container's mount, on `target` out of
/// that mount's peer group: the other container may have made its mount
/// shared, and then what it mounts on or below it (a host directory it was
/// given) would reach the clone, and the clone's mounts it. Private before
/// it is attached where the kernel has mount_setattr (5.12+); else just
/// after, and refused if anything reached it in between.
fn attach_private(m: BorrowedFd, target: BorrowedFd) -> Result<(), (Errno, &'static str)> {
    match sys::set_private(m) {
        Ok(()) => sys::attach(m, target).map_err(|e| (e, "attaching it")),
        Err(Errno::NOSYS) => {
            sys::attach(m, target).map_err(|e| (e, "attaching it"))?;
            sys::make_attached_private(m).map_err(|e| match e {
                Errno::BUSY => (
                    e,
                    "the joined container mounted something on it while it was being attached",
                ),
                e => (
                    e,
                    "making it private (mount(2): no mount_setattr before Linux 5.12)",
                ),
            })
        }
        Err(e) => Err((e, "making it private")),
    }
}

const REMOUNT: &str = "remounting it read-only (mount(2): no mount_setattr before Linux 5.12)";

/// Attaches the detached mount `m` on `target` read-only (with
/// `recursive`, the mounts below it too): by mount_setattr before it is
/// visible where the kernel has it (5.12+), else by a bind remount just
/// after attaching, before anything runs in the container.
fn attach_read_only(
    m: BorrowedFd,
    target: BorrowedFd,
    recursive: bool,
) -> Result<(), (Errno, &'static str)> {
    match sys::set_read_only(m, recursive) {
        Ok(()) => sys::attach(m, target).map_err(|e| (e, "attaching it")),
        Err(Errno::NOSYS) => {
            sys::attach(m, target).map_err(|e| (e, "attaching it"))?;
            sys::remount_read_only(m, recursive).map_err(|e| (e, REMOUNT))
        }
        Err(e) => Err((e, "making it read-only")),
    }
}

/// Opens a real path (a volume's, see `real_bind_source`) without
/// following any symbolic link: one swapped in after the check fails the
/// mount instead of redirecting it.
fn open_real(src: &Path, flags: OFlags) -> Result<OwnedFd, (Errno, String)> {
    rustix::fs::openat2(
        CWD,
        src,
        flags | OFlags::CLOEXEC,
        0.into(),
        rustix::fs::ResolveFlags::NO_SYMLINKS,
    )
    .map_err(|e| match e {
        Errno::LOOP => (
            e,
            format!(
                "a symbolic link appeared on {} since it was checked",
                src.display()
            ),
        ),
        e => (e, format!("the source {} is not usable", src.display())),
    })
}

/// Binds `source` on `dst` (resolved inside `root`), made to match.
fn bind(
    source: OwnedFd,
    read_only: bool,
    root: BorrowedFd,
    dst: &Path,
) -> Result<(), (Errno, Option<String>)> {
    let making = |e| (e, Some("making the mount point".to_string()));
    let target = if sys::is_dir(source.as_fd()).map_err(|e| (e, None))? {
        sys::ensure_dir(root, dst).map_err(making)?
    } else {
        sys::ensure_file(root, dst).map_err(making)?
    };
    let m = sys::clone_tree(source.as_fd(), Path::new("")).map_err(|e| (e, None))?;
    if read_only {
        return attach_read_only(m.as_fd(), target.as_fd(), true)
            .map_err(|(e, what)| (e, Some(what.to_string())));
    }
    sys::attach(m.as_fd(), target.as_fd()).map_err(|e| (e, None))
}

/// Fills an empty volume (`volume`, its `_data` opened) with a copy of
/// what the root holds at `dst`, found inside the root (a link on the way,
/// even one pointing out, stays inside it). A volume with anything in it
/// is left alone: that is how docker tells a new volume, and a container
/// that planted links in it gets nothing copied through them. A lock on
/// the directory keeps two containers starting at once from both filling
/// it.
fn fill_volume(volume: BorrowedFd, root: BorrowedFd, dst: &Path) -> Result<(), (Errno, String)> {
    let locked = |e| (e, "locking the volume to fill it".to_string());
    let dir = rustix::fs::openat(
        volume,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        0.into(),
    )
    .map_err(locked)?;
    rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive).map_err(locked)?;
    let empty = rustix::fs::Dir::read_from(&dir)
        .map_err(|e| (e, "reading the volume".to_string()))?
        .filter_map(|e| e.ok())
        .all(|e| matches!(e.file_name().to_bytes(), b"." | b".."));
    if !empty {
        return Ok(());
    }
    let from = match sys::open_in_root(root, dst, OFlags::RDONLY | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        // Nothing (or no directory) there in the image: nothing to copy.
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(()),
        Err(e) => return Err((e, format!("opening {} in the image", dst.display()))),
    };
    super::copy::copy_tree(from.as_fd(), dir.as_fd()).map_err(|(p, e)| {
        (
            e,
            format!("copying {} into the volume", dst.join(p).display()),
        )
    })
}

/// The target if it exists (missing masked paths are normal: not every
/// kernel has /proc/timer_stats).
fn open_existing(root: BorrowedFd, path: &Path) -> Result<Option<OwnedFd>, Errno> {
    match sys::open_in_root(root, path, OFlags::PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::spec::{EtcFiles, Rootfs};
    use crate::sandbox::userns::IdMap;

    fn spec(map: IdMap) -> SandboxSpec {
        SandboxSpec::new(map, Rootfs::Dir("/r".into()), vec!["sh".into()])
    }

    fn full_map() -> IdMap {
        IdMap::with_subids(1001, 1001, 100000, 65536)
    }

    fn dsts(ops: &[MountOp]) -> Vec<String> {
        ops.iter()
            .map(|o| o.destination().display().to_string())
            .collect()
    }

    #[test]
    fn standard_tree_comes_first_in_dependency_order() {
        let ops = mount_ops(&spec(full_map()));
        let d = dsts(&ops);
        let pos = |p: &str| d.iter().position(|x| x == p).unwrap();
        assert_eq!(&d[..3], &["/proc", "/sys", "/dev"]);
        assert!(pos("/dev") < pos("/dev/null") && pos("/dev/null") < pos("/dev/pts"));
        assert!(pos("/dev/pts") < pos("/dev/ptmx"));
        assert!(pos("/proc") < pos("/proc/kcore") && pos("/proc/kcore") < pos("/proc/sys"));
        assert!(ops.contains(&MountOp::Mqueue {
            dst: "/dev/mqueue".into()
        }));
        assert!(!ops.contains(&MountOp::RootReadOnly));
        assert!(ops.contains(&MountOp::Mask {
            dst: "/sys/firmware".into()
        }));
        assert!(ops.contains(&MountOp::ReadOnly {
            dst: "/proc/sys".into()
        }));
    }

    #[test]
    fn cgroup2_follows_sysfs_when_asked_and_the_cgroup_namespace_is_the_containers() {
        let cgroup = |s: &SandboxSpec| {
            let ops = mount_ops(s);
            let at = ops
                .iter()
                .position(|o| matches!(o, MountOp::Cgroup2 { .. }));
            at.map(|i| (dsts(&ops)[i - 1].clone(), ops[i].clone()))
        };
        let mut s = spec(full_map());
        assert_eq!(cgroup(&s), None, "absent unless asked for");
        s.cgroup_fs = CgroupFs::ReadOnly;
        assert_eq!(
            cgroup(&s),
            Some((
                "/sys".to_string(),
                MountOp::Cgroup2 {
                    dst: "/sys/fs/cgroup".into(),
                    read_only: true
                }
            ))
        );
        s.cgroup_fs = CgroupFs::ReadWrite;
        assert!(matches!(
            cgroup(&s),
            Some((
                _,
                MountOp::Cgroup2 {
                    read_only: false,
                    ..
                }
            ))
        ));
        // The host's tree must never be the one shown: in the host's
        // cgroup namespace, the container's own cgroup is bound, and
        // nothing without one.
        s.namespaces.cgroup = false;
        assert_eq!(cgroup(&s), None);
        let bound = |s: &SandboxSpec| {
            mount_ops(s)
                .into_iter()
                .filter(|o| o.destination() == Path::new("/sys/fs/cgroup"))
                .collect::<Vec<_>>()
        };
        assert_eq!(bound(&s), []);
        s.cgroup = Some("/sys/fs/cgroup/user.slice/burrow-x.scope/container".into());
        s.cgroup_fs = CgroupFs::ReadOnly;
        assert_eq!(
            bound(&s),
            [MountOp::Bind {
                src: "/sys/fs/cgroup/user.slice/burrow-x.scope/container".into(),
                dst: "/sys/fs/cgroup".into(),
                read_only: true,
                real: false,
            }]
        );
        s.cgroup_fs = CgroupFs::Absent;
        assert_eq!(bound(&s), []);
    }

    #[test]
    fn dev_shm_is_own_absent_or_the_hosts_and_mqueue_needs_own_ipc() {
        let shm = |s: &SandboxSpec| {
            mount_ops(s)
                .into_iter()
                .filter(|o| o.destination() == Path::new("/dev/shm"))
                .collect::<Vec<_>>()
        };
        let mut s = spec(full_map());
        assert!(matches!(shm(&s)[..], [MountOp::Tmpfs { .. }]));
        s.dev_shm = DevShm::Absent;
        assert!(shm(&s).is_empty());
        s.dev_shm = DevShm::Host;
        s.namespaces.ipc = false;
        assert_eq!(
            shm(&s),
            [MountOp::Bind {
                src: "/dev/shm".into(),
                dst: "/dev/shm".into(),
                read_only: false,
                real: false,
            }]
        );
        // The host's IPC namespace is not the container's to mount
        // an mqueue of.
        assert!(!mount_ops(&s)
            .iter()
            .any(|o| matches!(o, MountOp::Mqueue { .. })));
        // Shared: a tmpfs of the spec's size handed out, or the joined
        // container's, in the place of the container's own.
        s.namespaces.ipc = true;
        s.dev_shm = DevShm::Shareable;
        s.shm_size = Some(8 << 20);
        assert_eq!(
            shm(&s),
            [MountOp::ShareableShm {
                dst: "/dev/shm".into(),
                size: 8 << 20,
            }]
        );
        s.dev_shm = DevShm::Joined;
        assert_eq!(
            shm(&s),
            [MountOp::JoinedShm {
                dst: "/dev/shm".into(),
            }]
        );
        assert!(DevShm::Joined.shared() && DevShm::Shareable.shared());
        assert!(!DevShm::Own.shared() && !DevShm::Host.shared());
    }

    /// `MountOp::JoinedShm` with nothing to clone fails, naming what is
    /// missing, before it looks at the root or enters any namespace.
    #[test]
    fn a_joined_dev_shm_without_the_joined_mount_is_refused() {
        let root = rustix::fs::open("/", OFlags::PATH | OFlags::CLOEXEC, 0.into()).unwrap();
        let op = MountOp::JoinedShm {
            dst: "/dev/shm".into(),
        };
        let e = apply_mount_ops(&[op], root.as_fd(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot mount the joined container's /dev/shm on /dev/shm: Invalid argument \
             (the joined container's /dev/shm was not given)"
        );
    }

    #[test]
    fn devpts_gets_the_tty_group_only_when_it_is_mapped() {
        let gid = |ops: Vec<MountOp>| {
            ops.into_iter().find_map(|o| match o {
                MountOp::DevPts { gid, .. } => Some(gid),
                _ => None,
            })
        };
        assert_eq!(gid(mount_ops(&spec(full_map()))), Some(Some(5)));
        assert_eq!(gid(mount_ops(&spec(IdMap::single(1002, 1002)))), Some(None));
    }

    #[test]
    fn caller_mounts_follow_etc_files_and_read_only_root_is_last() {
        let mut s = spec(full_map());
        s.read_only = true;
        s.cwd = "/work".into();
        s.namespaces.ipc = false;
        s.etc = EtcFiles {
            hostname: Some("/h/hostname".into()),
            hosts: Some("/h/hosts".into()),
            resolv_conf: None,
        };
        s.mounts.push(MountOp::Bind {
            src: "/home/me/src".into(),
            dst: "/src".into(),
            read_only: true,
            real: false,
        });
        let ops = mount_ops(&s);
        let d = dsts(&ops);
        let pos = |p: &str| d.iter().position(|x| x == p).unwrap();
        assert!(pos("/etc/hosts") < pos("/src"));
        assert!(pos("/src") < pos("/work"));
        assert!(!d.contains(&"/etc/resolv.conf".to_string()));
        assert!(!d.contains(&"/dev/mqueue".to_string()));
        assert_eq!(ops.last(), Some(&MountOp::RootReadOnly));
    }

    #[test]
    fn bind_sources_follow_only_links_that_stay_beneath_their_directory() {
        let d = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(real.join("vol/sub")).unwrap();
        std::fs::create_dir(real.join("secret")).unwrap();
        std::os::unix::fs::symlink("sub", real.join("vol/in")).unwrap();
        std::os::unix::fs::symlink("../secret", real.join("vol/up")).unwrap();
        std::os::unix::fs::symlink(real.join("secret"), real.join("vol/abs")).unwrap();
        assert_eq!(
            real_bind_source(&real.join("vol/in")).unwrap(),
            real.join("vol/sub")
        );
        assert_eq!(
            real_bind_source(&real.join("vol/sub/../in/.")).unwrap(),
            real.join("vol/sub")
        );
        let uid = rustix::process::geteuid().as_raw();
        for link in ["up", "abs"] {
            let r = real_bind_source(&real.join("vol").join(link));
            if uid == 0 {
                // Root's own links are the system's, and followed.
                assert_eq!(r.unwrap(), real.join("secret"));
            } else {
                let e = r.unwrap_err();
                assert!(
                    matches!(&e, BindSourceError::LinkLeadsOut { link: l, .. }
                        if *l == real.join("vol").join(link)),
                    "{e}"
                );
                assert!(e.to_string().contains("leads out of"), "{link}");
            }
        }
        let e = real_bind_source(&real.join("vol/none")).unwrap_err();
        assert!(
            matches!(&e, BindSourceError::Stat { path, .. } if *path == real.join("vol/none")),
            "{e}"
        );
    }

    #[test]
    fn devices_follow_the_callers_mounts() {
        let mut s = spec(full_map());
        s.mounts.push(MountOp::Tmpfs {
            dst: "/srv".into(),
            size: None,
            mode: None,
            uid: None,
            gid: None,
            read_only: false,
            nosuid: true,
            nodev: true,
            noexec: false,
        });
        s.devices.push(DeviceNode {
            src: "/dev/zero".into(),
            dst: "/srv/z".into(),
            read_only: true,
        });
        let ops = mount_ops(&s);
        let d = dsts(&ops);
        let pos = |p: &str| d.iter().position(|x| x == p).unwrap();
        assert!(pos("/srv") < pos("/srv/z"));
        assert!(ops.contains(&MountOp::Device {
            src: "/dev/zero".into(),
            dst: "/srv/z".into(),
            read_only: true,
        }));
    }

    #[test]
    fn host_devices_are_nodes_and_never_files_or_directories() {
        let to = Path::new("/dev/n");
        let nodes = host_devices(Path::new("/dev/null"), to, true, true).unwrap();
        assert_eq!(
            nodes,
            [DeviceNode {
                src: "/dev/null".into(),
                dst: to.into(),
                read_only: false
            }]
        );
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("file"), "x").unwrap();
        std::os::unix::fs::symlink("/dev/null", d.path().join("link")).unwrap();
        for host in [d.path().to_path_buf(), d.path().join("file")] {
            let e = host_devices(&host, to, true, true).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "error gathering device information while adding custom device {:?}: not a \
                     device node",
                    host.display().to_string()
                )
            );
        }
        // A link as the host path is followed to its node.
        let nodes = host_devices(&d.path().join("link"), to, true, true).unwrap();
        assert_eq!(nodes[0].src, d.path().join("link"));
        let e = host_devices(&d.path().join("none"), to, true, true).unwrap_err();
        assert!(
            e.to_string().ends_with(": no such file or directory"),
            "{e}"
        );
        // Anyone may write /dev/null: read-only cannot be kept.
        let e = host_devices(Path::new("/dev/null"), to, true, false).unwrap_err();
        assert!(
            matches!(e, DeviceError::CannotKeep { letter: 'w', .. }),
            "{e}"
        );
        let e = host_devices(Path::new("/dev/null"), to, false, true).unwrap_err();
        assert!(
            matches!(e, DeviceError::CannotKeep { letter: 'r', .. }),
            "{e}"
        );
    }

    #[test]
    fn ops_print_as_tagged_json() {
        let op = MountOp::Bind {
            src: "/a".into(),
            dst: "/b".into(),
            read_only: true,
            real: false,
        };
        assert_eq!(
            serde_json::to_string(&op).unwrap(),
            r#"{"type":"bind","src":"/a","dst":"/b","read_only":true}"#
        );
        assert_eq!(op.describe(), "bind-mount /a on");
    }
}
