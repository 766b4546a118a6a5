//! The container's root mount and the switch into it: / made private, the
//! root mounted by the first driver that works (kernel overlayfs with layers
//! passed as file descriptors, fuse-overlayfs, a private copy), and
//! pivot_root with the old root detached. Runs in the sandbox's pid 1.

use super::copy;
use super::spec::{OverlayApi, Rootfs, RootfsDriver};
use super::sys::{self, FsContext};
use super::userns::find_program;
use super::SetupError;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{MountAttrFlags, MountPropagationFlags, MoveMountFlags, UnmountFlags};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which driver mounted the root, and why the ones before it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsReport {
    pub driver: RootfsDriver,
    pub fallbacks: Vec<DriverFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverFailure {
    pub driver: RootfsDriver,
    pub error: String,
}

/// Why one driver could not mount the root (the next one is tried): the
/// words of `DriverFailure::error`, the note a user sees.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DriverError {
    #[error("cannot open {}: {}", .path.display(), text(*.errno))]
    Open { path: PathBuf, errno: Errno },
    /// A step of the driver's own, in words ("attaching the overlay").
    #[error("{what}: {}", text(*.errno))]
    Step { what: &'static str, errno: Errno },
    /// An fsopen/fsconfig step, with what the kernel logged on the
    /// context.
    #[error("{what}: {}", fs_reason(.fs))]
    Fs { what: String, fs: sys::FsError },
    #[error("upper {} and work {} are on different filesystems", .upper.display(), .work.display())]
    Filesystems { upper: PathBuf, work: PathBuf },
    #[error(
        "{layers} layers do not fit in the {} bytes of mount(2) options ({needed} needed)",
        OPTION_PAGE
    )]
    TooManyLayers { layers: usize, needed: usize },
    #[error("a NUL in the options")]
    NulInOptions,
    #[error(
        "mount -t overlay -o userxattr with {layers} layers: {} (the kernel log, dmesg, may say why)",
        text(*.errno)
    )]
    OptionString { layers: usize, errno: Errno },
    /// `lowerdir+` refused, then the option string too.
    #[error("{first}; then with a mount(2) option string: {second}")]
    Retried {
        first: Box<DriverError>,
        second: Box<DriverError>,
    },
    #[error("a directory driver cannot mount layers")]
    NotLayers,
    #[error("fuse-overlayfs not found on PATH")]
    NoFuseOverlayfs,
    /// Nothing outside the container can start the daemon (a stopped
    /// container's root is mounted by the kernel overlay only).
    #[error("no daemon can serve it here")]
    NoFuseDaemon,
    /// The parent could not start the daemon on the connection.
    #[error("starting its daemon: {0}")]
    Daemon(SetupError),
    #[error(transparent)]
    Copy(#[from] copy::CopyError),
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("binding {}: {}", .path.display(), text(*.errno))]
    Bind { path: PathBuf, errno: Errno },
    /// fuse-overlayfs's mount points layer (`layer`) could not be made.
    #[error("the mount points layer {}: {op} {}: {}", .layer.display(), .path.display(), text(*.errno))]
    MountPoints {
        layer: PathBuf,
        op: &'static str,
        path: PathBuf,
        errno: Errno,
    },
}

/// A step of a driver that failed with `errno`.
fn step(what: &'static str) -> impl FnOnce(Errno) -> DriverError {
    move |errno| DriverError::Step { what, errno }
}

/// The completion marker of the copy driver, in the work directory: once
/// a container's layers were copied, it keeps running from the copy.
pub const COPY_MARKER: &str = "burrow-copy-complete";

/// The copy driver's record of what the fresh copy held (a `CopyManifest`),
/// in the work directory beside the marker: what `diff` and `commit`
/// compare the container's root with.
pub const COPY_MANIFEST: &str = "burrow-copy-manifest";

/// The mounted root, before pivot_root, on its staging tmpfs.
pub(crate) struct MountedRoot {
    pub root: OwnedFd,
    pub staging: OwnedFd,
    pub report: RootfsReport,
}

fn op_err(op: &str, path: Option<&Path>, errno: Errno, detail: Option<String>) -> SetupError {
    SetupError {
        op: op.into(),
        path: path.map(Path::to_path_buf),
        errno: Some(errno.raw_os_error()),
        detail,
    }
}

/// Makes every mount private, then mounts the root on a staging tmpfs laid
/// over `/`. The staging is reachable only through its fd, so host paths
/// (layers, volume sources, /dev nodes) keep resolving as on the host
/// until pivot_root, wherever they are.
///
/// `etc_points` names files of /etc that will get bind mounts: the kernel
/// overlay gets them (empty) from a small top layer on the staging tmpfs,
/// so that making the mount points writes nothing to the container's
/// writable layer (no copy-up of /etc, no files made on the storage
/// filesystem for every start).
pub(crate) fn mount_root(
    rootfs: &Rootfs,
    drivers: &[RootfsDriver],
    api: OverlayApi,
    volatile: bool,
    etc_points: &[&str],
    mut serve_fuse: Option<&mut ServeFuse<'_>>,
) -> Result<MountedRoot, SetupError> {
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(|e| op_err("make private the mounts of", Some(Path::new("/")), e, None))?;
    let staging = sys::new_fs(
        "tmpfs",
        &[
            ("mode", Some("0755".into())),
            ("size", Some("65536".into())),
        ],
        MountAttrFlags::empty(),
    )
    .map_err(|e| op_err("mount the staging tmpfs", None, e.errno, e.log))?;
    rustix::fs::mkdirat(&staging, "root", Mode::from_raw_mode(0o755))
        .map_err(|e| op_err("make the staging directory", None, e, None))?;
    rustix::mount::move_mount(
        &staging,
        "",
        CWD,
        "/",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| {
        op_err(
            "attach the staging tmpfs over",
            Some(Path::new("/")),
            e,
            None,
        )
    })?;
    let target = rustix::fs::openat(
        &staging,
        "root",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| op_err("open the staging directory", None, e, None))?;

    let (lower, upper, work) = match rootfs {
        Rootfs::Dir(dir) => {
            let m = sys::clone_tree(CWD, dir)
                .map_err(|e| op_err("bind the root directory", Some(dir), e, None))?;
            sys::attach(m.as_fd(), target.as_fd())
                .map_err(|e| op_err("attach the root directory", Some(dir), e, None))?;
            return Ok(MountedRoot {
                root: m,
                staging,
                report: RootfsReport {
                    driver: RootfsDriver::Bind,
                    fallbacks: Vec::new(),
                },
            });
        }
        Rootfs::Overlay { lower, upper, work } => (lower, upper, work),
    };

    // A container that once ran from a copy must not see its layers again.
    let copied = copy::exists(&work.join(COPY_MARKER));
    let order: &[RootfsDriver] = if copied {
        &[RootfsDriver::Copy]
    } else {
        drivers
    };
    let points = if etc_points.is_empty() || !order.contains(&RootfsDriver::KernelOverlay) {
        None
    } else {
        Some(mount_points_layer(staging.as_fd(), etc_points)?)
    };
    let mut fallbacks = Vec::new();
    for &driver in order {
        let attempt = match driver {
            RootfsDriver::KernelOverlay => {
                OverlayLayers::open(lower, upper, work, points.as_ref().map(|p| p.as_fd()))
                    .and_then(|layers| kernel_overlay(api, &layers, volatile, target.as_fd()))
                    .and_then(|()| {
                        // Looked up by name: the new mount on top, not the
                        // directory under it that `target` holds.
                        rustix::fs::openat(
                            &staging,
                            "root",
                            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(step("opening the overlay"))
                    })
            }
            RootfsDriver::FuseOverlayfs => match serve_fuse.as_deref_mut() {
                None => Err(DriverError::NoFuseDaemon),
                Some(serve) => fuse_points_layer(lower, work, etc_points)
                    .and_then(|points| {
                        fuse_overlayfs(points.as_deref(), lower, upper, work, volatile, serve)
                    })
                    .and_then(|mnt| {
                        sys::attach(mnt.as_fd(), target.as_fd())
                            .map_err(step("attaching the fuse mount"))?;
                        Ok(mnt)
                    }),
            },
            RootfsDriver::Copy => private_copy(lower, upper, work).and_then(|m| {
                sys::attach(m.as_fd(), target.as_fd()).map_err(step("attaching the copy"))?;
                Ok(m)
            }),
            RootfsDriver::Bind => Err(DriverError::NotLayers),
        };
        match attempt {
            Ok(root) => {
                return Ok(MountedRoot {
                    root,
                    staging,
                    report: RootfsReport { driver, fallbacks },
                })
            }
            Err(error) => fallbacks.push(DriverFailure {
                driver,
                error: error.to_string(),
            }),
        }
    }
    let detail = fallbacks
        .iter()
        .map(|f| format!("{}: {}", f.driver, f.error))
        .collect::<Vec<_>>()
        .join("; ");
    Err(SetupError {
        op: "mount the root filesystem".into(),
        path: None,
        errno: None,
        detail: Some(detail),
    })
}

fn open_dir(p: &Path) -> Result<OwnedFd, DriverError> {
    rustix::fs::open(
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| DriverError::Open {
        path: p.to_path_buf(),
        errno,
    })
}

fn explain(what: impl Into<String>) -> impl FnOnce(sys::FsError) -> DriverError {
    let what = what.into();
    move |fs| DriverError::Fs { what, fs }
}

fn text(e: Errno) -> String {
    sys::errno_text(e.raw_os_error())
}

/// The kernel's answer to an fsconfig step, with its log if it wrote one.
fn fs_reason(e: &sys::FsError) -> String {
    match &e.log {
        Some(log) => format!("{} ({log})", text(e.errno)),
        None => format!("{} (the kernel log, dmesg, may say why)", text(e.errno)),
    }
}

/// The kernel overlay mounted on `target` the way `api` says. A refused
/// `lowerdir+` (the kernel changed since the choice was made) tries the
/// option string before giving up. `userxattr` is what makes it work in a
/// user namespace; `volatile` skips the sync of the whole upper filesystem
/// that the overlay's unmount would otherwise wait for.
pub(crate) fn kernel_overlay(
    api: OverlayApi,
    layers: &OverlayLayers,
    volatile: bool,
    target: BorrowedFd,
) -> Result<(), DriverError> {
    let first = match mount_overlay(api, layers, volatile, target) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if api == OverlayApi::OptionString {
        return Err(first);
    }
    mount_overlay(OverlayApi::OptionString, layers, volatile, target).map_err(|second| {
        DriverError::Retried {
            first: Box::new(first),
            second: Box::new(second),
        }
    })
}

/// The kernel overlay mounted on `target` by `api` alone.
pub(crate) fn mount_overlay(
    api: OverlayApi,
    layers: &OverlayLayers,
    volatile: bool,
    target: BorrowedFd,
) -> Result<(), DriverError> {
    match api {
        OverlayApi::LowerdirPlus => {
            let m = by_fsconfig(layers, volatile)?;
            sys::attach(m.as_fd(), target).map_err(step("attaching the overlay"))
        }
        OverlayApi::OptionString => by_option_string(layers, volatile, target),
    }
}

/// The directories of a kernel overlay, opened: the layers top first.
pub(crate) struct OverlayLayers {
    /// Top first, each with the path it was opened from (for errors).
    lower: Vec<(OwnedFd, PathBuf)>,
    upper: (OwnedFd, PathBuf),
    work: (OwnedFd, PathBuf),
}

impl OverlayLayers {
    /// Opens `lower` (bottom first, as images list them) below the
    /// optional `points` layer, and the upper and work directories.
    pub(crate) fn open(
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        points: Option<BorrowedFd>,
    ) -> Result<OverlayLayers, DriverError> {
        let mut top_first = Vec::with_capacity(lower.len() + 1);
        if let Some(p) = points {
            let fd = rustix::io::fcntl_dupfd_cloexec(p, 3)
                .map_err(step("dup of the mount points layer"))?;
            top_first.push((fd, PathBuf::from("(the mount points layer)")));
        }
        for layer in lower.iter().rev() {
            top_first.push((open_dir(layer)?, layer.clone()));
        }
        let up = open_dir(upper)?;
        let wk = open_dir(work)?;
        // The kernel says this one only in its log, which users may not read.
        let dev = |fd: &OwnedFd| rustix::fs::fstat(fd).map(|st| st.st_dev).ok();
        if dev(&up) != dev(&wk) {
            return Err(DriverError::Filesystems {
                upper: upper.to_path_buf(),
                work: work.to_path_buf(),
            });
        }
        Ok(OverlayLayers {
            lower: top_first,
            upper: (up, upper.to_path_buf()),
            work: (wk, work.to_path_buf()),
        })
    }
}

/// fsopen/fsconfig: one `lowerdir+` per layer by fd, so no option string
/// limits the number of layers (the kernel's own limit is 500).
fn by_fsconfig(layers: &OverlayLayers, volatile: bool) -> Result<OwnedFd, DriverError> {
    let ctx = FsContext::open("overlay").map_err(explain("fsopen(overlay)"))?;
    ctx.string("source", "burrow").map_err(explain("source"))?;
    ctx.flag("userxattr").map_err(explain("userxattr"))?;
    if volatile {
        ctx.flag("volatile").map_err(explain("volatile"))?;
    }
    // lowerdir+ appends below the layers given so far: top first.
    for (fd, path) in &layers.lower {
        ctx.dir_fd("lowerdir+", fd.as_fd())
            .map_err(explain(format!("lower layer {}", path.display())))?;
    }
    let (up, upper) = &layers.upper;
    let (wk, work) = &layers.work;
    ctx.dir_fd("upperdir", up.as_fd())
        .map_err(explain(format!("upper {}", upper.display())))?;
    ctx.dir_fd("workdir", wk.as_fd())
        .map_err(explain(format!("work {}", work.display())))?;
    ctx.mount(MountAttrFlags::empty())
        .map_err(explain("mounting overlay"))
}

/// What mount(2) copies of its options: one page.
const OPTION_PAGE: usize = 4096;

/// The options of `by_option_string`: every directory named by its fd's
/// number, a name relative to /proc/self/fd, so that 500 layers take
/// about 2.5 KiB of the one page the kernel reads (full paths fit 30).
fn option_string(
    lower: &[i32],
    upper: i32,
    work: i32,
    volatile: bool,
) -> Result<String, DriverError> {
    let names: Vec<String> = lower.iter().map(i32::to_string).collect();
    let mut options = format!(
        "lowerdir={},upperdir={upper},workdir={work},userxattr",
        names.join(":")
    );
    if volatile {
        options.push_str(",volatile");
    }
    if options.len() >= OPTION_PAGE {
        return Err(DriverError::TooManyLayers {
            layers: lower.len(),
            needed: options.len() + 1,
        });
    }
    Ok(options)
}

/// The classic mount(2) of an overlay (Linux 5.11+ in a user namespace),
/// made from /proc/self/fd as working directory so that each directory is
/// named by its fd's number.
fn by_option_string(
    layers: &OverlayLayers,
    volatile: bool,
    target: BorrowedFd,
) -> Result<(), DriverError> {
    let lower: Vec<i32> = layers.lower.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
    let options = option_string(
        &lower,
        layers.upper.0.as_raw_fd(),
        layers.work.0.as_raw_fd(),
        volatile,
    )?;
    let options = std::ffi::CString::new(options).map_err(|_| DriverError::NulInOptions)?;
    rustix::process::chdir("/proc/self/fd").map_err(step("entering /proc/self/fd"))?;
    let mounted = rustix::mount::mount(
        "burrow",
        target.as_raw_fd().to_string().as_str(),
        "overlay",
        rustix::mount::MountFlags::empty(),
        Some(options.as_c_str()),
    );
    let _ = rustix::process::chdir("/");
    mounted.map_err(|errno| DriverError::OptionString {
        layers: lower.len(),
        errno,
    })
}

/// `points/etc/NAME`, empty, on the staging tmpfs: the top layer of the
/// overlay that gives /etc's bind mounts their targets. Its /etc is root's
/// and 0755, as images have it.
fn mount_points_layer(staging: BorrowedFd, names: &[&str]) -> Result<OwnedFd, SetupError> {
    let err = |op: &str, e| op_err(op, None, e, None);
    rustix::fs::mkdirat(staging, "points", Mode::from_raw_mode(0o755))
        .map_err(|e| err("make the mount points layer", e))?;
    let points = rustix::fs::openat(
        staging,
        "points",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open the mount points layer", e))?;
    fill_points_layer(points.as_fd(), names, &[])
        .map_err(|(op, path, e)| op_err(op, path.as_deref(), e, None))?;
    Ok(points)
}

/// What the sandbox mounts on in an image's top directory: made in the
/// fuse-overlayfs mount points layer when the image lacks them, as
/// fuse-overlayfs makes each new directory opaque with a marker file
/// (`.wh..wh..opq`) that would otherwise land in the writable layer.
const TOP_MOUNT_POINTS: [&str; 3] = ["dev", "proc", "sys"];

/// The mount points layer's entries in `points`: `etc/NAME` empty files
/// (0644) and the directories `dirs` (0755), both root's; what is there
/// already is kept.
fn fill_points_layer(
    points: BorrowedFd,
    etc_names: &[&str],
    dirs: &[&str],
) -> Result<(), (&'static str, Option<PathBuf>, Errno)> {
    let mkdir = |name: &str| match rustix::fs::mkdirat(points, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(("make a mount point in", Some(Path::new("/").join(name)), e)),
    };
    for dir in dirs {
        mkdir(dir)?;
    }
    if etc_names.is_empty() {
        return Ok(());
    }
    mkdir("etc")?;
    for name in etc_names {
        match rustix::fs::openat(
            points,
            format!("etc/{name}").as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        ) {
            Ok(_) | Err(Errno::EXIST) => {}
            Err(e) => {
                return Err((
                    "make a mount point in",
                    Some(Path::new("/etc").join(name)),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// The name of fuse-overlayfs's mount points layer in the container's work
/// directory (fuse-overlayfs and the kernel overlay use only `work/work`
/// and `work/index` there).
const FUSE_POINTS: &str = "burrow-points";

/// fuse-overlayfs's mount points layer, `work/burrow-points`: the /etc
/// files of `etc_points` and the top directories of `TOP_MOUNT_POINTS`
/// that no layer has, so that mounting on them writes nothing to the
/// writable layer. On the storage filesystem, not on the staging tmpfs:
/// fuse-overlayfs resolves each layer's path (realpath) before it opens
/// it, and the staging has no path. Made once per container, out of the
/// container's reach; `None` when there is nothing to put in it.
fn fuse_points_layer(
    lower: &[PathBuf],
    work: &Path,
    etc_points: &[&str],
) -> Result<Option<PathBuf>, DriverError> {
    let dirs: Vec<&str> = TOP_MOUNT_POINTS
        .into_iter()
        .filter(|d| !lower.iter().any(|l| l.join(d).symlink_metadata().is_ok()))
        .collect();
    if dirs.is_empty() && etc_points.is_empty() {
        return Ok(None);
    }
    let layer = work.join(FUSE_POINTS);
    let failed = |op: &'static str, path: PathBuf, errno: Errno| DriverError::MountPoints {
        layer: layer.clone(),
        op,
        path,
        errno,
    };
    let work_dir = open_dir(work)?;
    match rustix::fs::mkdirat(&work_dir, FUSE_POINTS, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(failed("make the directory", PathBuf::from("/"), e)),
    }
    let points = rustix::fs::openat(
        &work_dir,
        FUSE_POINTS,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| failed("open the directory", PathBuf::from("/"), e))?;
    fill_points_layer(points.as_fd(), etc_points, &dirs)
        .map_err(|(op, p, e)| failed(op, p.unwrap_or_default(), e))?;
    Ok(Some(layer))
}

/// What starts the daemon of a fuse-overlayfs root outside the
/// container (the sandbox's parent, see `fuse_daemon`): given the
/// connection's /dev/fuse fd and the daemon's `-o` options.
pub(crate) type ServeFuse<'a> = dyn FnMut(BorrowedFd<'_>, &str) -> Result<(), SetupError> + 'a;

/// A fuse-overlayfs root, with `points` (the mount points layer) on top of
/// the layers: the FUSE filesystem mounted here, detached, its connection
/// handed to `serve`, whose daemon lives in this user namespace but not in
/// this pid or mount namespace (the container can neither see it nor
/// reach the host's files through it). Its option string is not passed to
/// the kernel, so its only limit is an argument's (128 KiB).
fn fuse_overlayfs(
    points: Option<&Path>,
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    volatile: bool,
    serve: &mut ServeFuse<'_>,
) -> Result<OwnedFd, DriverError> {
    find_program("fuse-overlayfs").ok_or(DriverError::NoFuseOverlayfs)?;
    let fuse = rustix::fs::open("/dev/fuse", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .map_err(step("/dev/fuse is not usable"))?;
    let lowerdir = points
        .into_iter()
        .chain(lower.iter().rev().map(PathBuf::as_path))
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mut options = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    // fuse-overlayfs's name for fsync=0 (1.3 and later; older ones ignore
    // it): a sync of the throwaway writable layer returns at once.
    if volatile {
        options.push_str(",volatile");
    }
    // Mounted as fuse-overlayfs would mount it itself.
    let mnt = sys::new_fuse_fs(
        fuse.as_fd(),
        "fuse-overlayfs",
        Some("fuse-overlayfs"),
        "40000",
        MountAttrFlags::MOUNT_ATTR_NODEV | MountAttrFlags::MOUNT_ATTR_NOATIME,
    )
    .map_err(explain("mounting the fuse filesystem"))?;
    serve(fuse.as_fd(), &options).map_err(DriverError::Daemon)?;
    // Only the daemon holds the connection now: if it ends, the
    // connection ends with it.
    drop(fuse);
    // The first request waits for the daemon's answer to the kernel's
    // INIT; a daemon that failed has ended the connection (ENOTCONN).
    rustix::fs::openat(
        &mnt,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(step("fuse-overlayfs did not serve the root"))?;
    Ok(mnt)
}

/// The layers copied into the upper directory once, then bound as root.
fn private_copy(lower: &[PathBuf], upper: &Path, work: &Path) -> Result<OwnedFd, DriverError> {
    let marker = work.join(COPY_MARKER);
    if !copy::exists(&marker) {
        copy::copy_layers(lower, upper)?;
        // Before the sandbox makes its mount points in the copy: those
        // are not the container's changes.
        copy::CopyManifest::write(upper, &work.join(COPY_MANIFEST))?;
        std::fs::write(&marker, b"").map_err(|source| DriverError::Write {
            path: marker.clone(),
            source,
        })?;
    }
    sys::clone_tree(CWD, upper).map_err(|errno| DriverError::Bind {
        path: upper.to_path_buf(),
        errno,
    })
}

/// Makes `root` the root of the mount namespace and detaches the old root
/// and the staging tmpfs. Two pivots: the staging tmpfs lies over the old
/// root, so a single pivot would leave the old root under it, and the lazy
/// unmount, which takes the topmost mount, would drop only the staging.
pub(crate) fn pivot_into(staging: BorrowedFd, root: BorrowedFd) -> Result<(), SetupError> {
    let e = |op: &str, errno| op_err(op, None, errno, None);
    for (dir, what) in [(staging, "the staging tmpfs"), (root, "the new root")] {
        rustix::process::fchdir(dir).map_err(|x| e(&format!("enter {what}"), x))?;
        // pivot_root(".", "."): the old root is mounted over the new one,
        // so no directory is needed to hold it, and a lazy unmount of "."
        // drops it with everything mounted on it.
        rustix::process::pivot_root(".", ".")
            .map_err(|x| e(&format!("pivot_root into {what}"), x))?;
        rustix::mount::unmount(".", UnmountFlags::DETACH)
            .map_err(|x| e(&format!("detach what was the root before {what}"), x))?;
    }
    rustix::process::chdir("/").map_err(|x| e("enter /", x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver's error is the note a user reads: the step, the kernel's
    /// words, and where more may be said.
    #[test]
    fn driver_errors_read_as_the_notes_users_see() {
        let e = DriverError::Retried {
            first: Box::new(DriverError::Fs {
                what: "lower layer /l/1".into(),
                fs: sys::FsError {
                    errno: Errno::INVAL,
                    log: Some("overlayfs: too many lower layers".into()),
                },
            }),
            second: Box::new(DriverError::OptionString {
                layers: 501,
                errno: Errno::INVAL,
            }),
        };
        assert_eq!(
            e.to_string(),
            "lower layer /l/1: Invalid argument (overlayfs: too many lower layers); \
             then with a mount(2) option string: mount -t overlay -o userxattr with 501 \
             layers: Invalid argument (the kernel log, dmesg, may say why)"
        );
        assert_eq!(
            step("/dev/fuse is not usable")(Errno::ACCESS).to_string(),
            "/dev/fuse is not usable: Permission denied"
        );
        assert_eq!(
            open_dir(Path::new("/nonexistent/burrow-layer"))
                .unwrap_err()
                .to_string(),
            "cannot open /nonexistent/burrow-layer: No such file or directory"
        );
    }

    #[test]
    fn the_option_string_names_fds_and_holds_the_kernels_500_layers() {
        let o = option_string(&[7, 8, 9], 10, 11, true).unwrap();
        assert_eq!(
            o,
            "lowerdir=7:8:9,upperdir=10,workdir=11,userxattr,volatile"
        );
        // fds as a process of 500 layers has them: 3 to 505.
        let lower: Vec<i32> = (3..503).collect();
        let o = option_string(&lower, 503, 504, true).unwrap();
        assert!(o.len() < 2500, "{}", o.len());
        let too_many: Vec<i32> = (10_000..11_000).collect();
        let e = option_string(&too_many, 3, 4, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("1000 layers do not fit in the 4096 bytes"),
            "{e}"
        );
    }
}
