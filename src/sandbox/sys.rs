//! The few system calls the sandbox needs that no crate wraps the way it
//! needs them: clone3 with a pidfd, mount_setattr, path resolution that
//! never leaves the new root, and the new mount API with its kernel log.
//! Nothing here knows what a container is.

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags};
use std::path::{Component, Path, PathBuf};

/// What clone3 returned, fork-style.
pub(crate) enum Forked {
    Child,
    Parent { pid: i32, pidfd: OwnedFd },
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// fork(2) through clone3: the child starts in new namespaces (`flags`
/// holds CLONE_NEW*) and the parent gets a pidfd, which names the child
/// without the races of a pid.
///
/// # Safety
/// The caller must be single-threaded: like fork, the child holds a copy
/// of the calling thread only, and locks held by other threads stay held.
pub(crate) unsafe fn clone3(flags: u64) -> Result<Forked, Errno> {
    // SAFETY: as this function's own contract.
    unsafe { clone3_into(flags, None) }
}

/// linux/sched.h (5.7): the child is born in the cgroup whose directory
/// `clone_args.cgroup` holds open. libc's constant does not fit its type.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3`, with the child born in the cgroup of directory `cgroup`
/// (CLONE_INTO_CGROUP, Linux 5.7) when one is given: it never runs a
/// single instruction outside it, and no one writes its pid to
/// `cgroup.procs` (a migration, which takes the kernel's cgroup-wide lock
/// for writing and waits for an RCU grace period; a fork into a cgroup
/// takes it for reading). The kernel checks the same permissions as for
/// that write. An older kernel refuses the flag (EINVAL, E2BIG): the
/// caller then clones without it and moves the child.
///
/// # Safety
/// As `clone3`.
pub(crate) unsafe fn clone3_into(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
) -> Result<Forked, Errno> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        // With CLONE_PARENT the kernel wants 0 here: the child then ends
        // with the caller's own exit signal.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..Default::default()
    };
    if let Some(dir) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = dir.as_raw_fd() as u64;
    }
    // SAFETY: args is a valid clone_args of the size passed; without a
    // stack the child continues on a copy of ours, as after fork.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        -1 => Err(Errno::from_raw_os_error(last_errno())),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: the kernel stored a new pidfd owned by nobody else.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// fork(2) for processes already inside the sandbox (the init's child).
///
/// # Safety
/// As `clone3`.
pub(crate) unsafe fn fork() -> Result<Option<i32>, Errno> {
    // SAFETY: the caller is single-threaded (see above).
    match unsafe { libc::fork() } {
        -1 => Err(Errno::from_raw_os_error(last_errno())),
        0 => Ok(None),
        pid => Ok(Some(pid)),
    }
}

/// strerror without std's " (os error N)" tail, for one-line messages.
/// A short /proc file (a process's `stat`, `status`) read whole in one read(2)
/// where it fits: `fs::read_to_string` asks its size (0 for /proc files)
/// and reads in growing pieces, six calls or more for one line.
pub(crate) fn read_proc_file(path: &str) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1024];
    let mut got = 0;
    loop {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        // The kernel makes such a file whole at the first read: a read
        // that did not fill the buffer got all of it.
        if got < buf.len() {
            break;
        }
        buf.resize(buf.len() * 2, 0);
    }
    buf.truncate(got);
    String::from_utf8(buf).ok()
}

pub(crate) fn errno_text(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `path` inside the root, relative, for *at calls: `/` is `.`.
pub(crate) fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// Opens `path` as seen from `root` taken as `/`: `..` and symlinks,
/// absolute ones included, cannot lead out of it.
pub(crate) fn open_in_root(root: BorrowedFd, path: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
    let rel = relative(path);
    // openat2 refuses a mode without O_CREAT.
    let mode = if flags.contains(OFlags::CREATE) {
        Mode::from_raw_mode(0o644)
    } else {
        Mode::empty()
    };
    let mut tries = 0;
    loop {
        let r = rustix::fs::openat2(
            root,
            &rel,
            flags | OFlags::CLOEXEC,
            mode,
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        );
        // EAGAIN: a rename raced the lookup; the kernel asks us to retry.
        match r {
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            other => return other,
        }
    }
}

/// `mkdir -p` inside the root; returns an O_PATH fd of the directory. A
/// dangling symbolic link on the way (an image's `/data -> /srv/data`, or
/// one climbing out with `..`) is followed inside the root and what it
/// names is made there, as the kernel would resolve it in the container.
pub(crate) fn ensure_dir(root: BorrowedFd, path: &Path) -> Result<OwnedFd, Errno> {
    ensure_dir_within(root, path, &mut 40)
}

fn ensure_dir_within(root: BorrowedFd, path: &Path, links: &mut u32) -> Result<OwnedFd, Errno> {
    let flags = OFlags::PATH | OFlags::DIRECTORY;
    match open_in_root(root, path, flags) {
        Err(Errno::NOENT) => {}
        other => return other,
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Errno::NOENT);
    };
    let pfd = ensure_dir_within(root, parent, links)?;
    match rustix::fs::mkdirat(&pfd, name, Mode::from_raw_mode(0o755)) {
        Ok(()) => return open_in_root(root, path, flags),
        Err(Errno::EXIST) => {}
        Err(e) => return Err(e),
    }
    match open_in_root(root, path, flags) {
        Err(Errno::NOENT) => {}
        other => return other,
    }
    // There, yet not found: a link to a place that does not exist.
    let target = rustix::fs::readlinkat(&pfd, name, Vec::new())?;
    if *links == 0 {
        return Err(Errno::LOOP);
    }
    *links -= 1;
    use std::os::unix::ffi::OsStrExt;
    let target = Path::new(std::ffi::OsStr::from_bytes(target.as_bytes()));
    let mut named = PathBuf::from("/");
    for c in Path::new("/").join(parent).join(target).components() {
        match c {
            Component::Normal(n) => named.push(n),
            // `..` stops at the root, as it does inside it.
            Component::ParentDir => {
                named.pop();
            }
            _ => {}
        }
    }
    ensure_dir_within(root, &named, links)
}

/// `touch` inside the root (parents made as needed; an existing symlink
/// is followed, still inside the root); returns an O_PATH fd.
pub(crate) fn ensure_file(root: BorrowedFd, path: &Path) -> Result<OwnedFd, Errno> {
    match open_in_root(root, path, OFlags::PATH) {
        Err(Errno::NOENT) => {}
        other => return other,
    }
    if let Some(parent) = path.parent() {
        ensure_dir(root, parent)?;
    }
    drop(open_in_root(root, path, OFlags::RDONLY | OFlags::CREATE)?);
    open_in_root(root, path, OFlags::PATH)
}

/// A failure of the new mount API with what the kernel logged about it
/// (overlayfs explains itself there: "failed to set xattr", ...).
#[derive(Debug)]
pub(crate) struct FsError {
    pub errno: Errno,
    pub log: Option<String>,
}

impl From<Errno> for FsError {
    fn from(errno: Errno) -> Self {
        FsError { errno, log: None }
    }
}

/// The messages the kernel queued on an fsopen fd.
pub(crate) fn fs_log(fs: BorrowedFd) -> Option<String> {
    let mut lines = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = rustix::io::read(fs, &mut buf) {
        if n == 0 {
            break;
        }
        let msg = String::from_utf8_lossy(&buf[..n]).trim().to_string();
        // "e ", "w ", "i " prefixes: error, warning, info.
        if !msg.starts_with("i ") {
            lines.push(msg.get(2..).unwrap_or(&msg).to_string());
        }
    }
    (!lines.is_empty()).then(|| lines.join("; "))
}

/// A configured filesystem context, ready to become a mount.
pub(crate) struct FsContext(OwnedFd);

impl FsContext {
    pub fn open(fstype: &str) -> Result<FsContext, FsError> {
        Ok(FsContext(rustix::mount::fsopen(
            fstype,
            FsOpenFlags::FSOPEN_CLOEXEC,
        )?))
    }

    fn fail(&self, errno: Errno) -> FsError {
        FsError {
            errno,
            log: fs_log(self.0.as_fd()),
        }
    }

    pub fn flag(&self, key: &str) -> Result<(), FsError> {
        rustix::mount::fsconfig_set_flag(&self.0, key).map_err(|e| self.fail(e))
    }

    pub fn string(&self, key: &str, value: &str) -> Result<(), FsError> {
        rustix::mount::fsconfig_set_string(&self.0, key, value).map_err(|e| self.fail(e))
    }

    /// A directory given by fd (overlay's `lowerdir+`, `upperdir`...).
    /// Kernels before 6.13 take only paths there, so the fd is then passed
    /// as its /proc/self/fd name, which stays short however many layers.
    pub fn dir_fd(&self, key: &str, dir: BorrowedFd) -> Result<(), FsError> {
        match rustix::mount::fsconfig_set_fd(&self.0, key, dir) {
            Ok(()) => Ok(()),
            Err(Errno::INVAL) => {
                // Drop the log of the refused attempt.
                let _ = fs_log(self.0.as_fd());
                let name = format!("/proc/self/fd/{}", dir.as_raw_fd());
                self.string(key, &name)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Creates the superblock and returns a detached mount of it.
    pub fn mount(self, attrs: MountAttrFlags) -> Result<OwnedFd, FsError> {
        rustix::mount::fsconfig_create(&self.0).map_err(|e| self.fail(e))?;
        rustix::mount::fsmount(&self.0, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
            .map_err(|e| self.fail(e))
    }
}

/// A new filesystem of `fstype`, detached; `options` are `key=value`
/// strings or bare flags.
pub(crate) fn new_fs(
    fstype: &str,
    options: &[(&str, Option<String>)],
    attrs: MountAttrFlags,
) -> Result<OwnedFd, FsError> {
    let ctx = FsContext::open(fstype)?;
    for (k, v) in options {
        match v {
            Some(v) => ctx.string(k, v)?,
            None => ctx.flag(k)?,
        }
    }
    ctx.mount(attrs)
}

/// A new FUSE filesystem, detached, on the connection `fuse` (an open
/// /dev/fuse), with the options a FUSE daemon mounts with itself: the
/// kernel checks modes and owners (`default_permissions`), and every user
/// of the namespace may enter (`allow_other`), root's (0) in the user
/// namespace the mount is made in.
pub(crate) fn new_fuse_fs(
    fuse: BorrowedFd,
    source: &str,
    subtype: Option<&str>,
    rootmode: &str,
    attrs: MountAttrFlags,
) -> Result<OwnedFd, FsError> {
    let mut options: Vec<(&str, Option<String>)> = vec![("source", Some(source.into()))];
    if let Some(subtype) = subtype {
        options.push(("subtype", Some(subtype.into())));
    }
    options.extend([
        ("fd", Some(fuse.as_raw_fd().to_string())),
        ("rootmode", Some(rootmode.into())),
        ("user_id", Some("0".into())),
        ("group_id", Some("0".into())),
        ("allow_other", None),
        ("default_permissions", None),
    ]);
    new_fs("fuse", &options, attrs)
}

/// A detached copy of the mount tree at `path` (relative to `dir`, or
/// `dir` itself when `path` is empty), submounts included: a bind mount
/// waiting to be attached.
pub(crate) fn clone_tree(dir: BorrowedFd, path: &Path) -> Result<OwnedFd, Errno> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_RECURSIVE;
    if path.as_os_str().is_empty() {
        flags |= OpenTreeFlags::AT_EMPTY_PATH;
    }
    rustix::mount::open_tree(dir, path, flags)
}

/// Attaches detached mount `mnt` on the directory or file `target`.
pub(crate) fn attach(mnt: BorrowedFd, target: BorrowedFd) -> Result<(), Errno> {
    rustix::mount::move_mount(
        mnt,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// mount_attr's propagation: mount(2)'s MS_PRIVATE.
const MS_PRIVATE: u64 = 1 << 18;

/// Makes the mount `mnt` (and with `recursive` its submounts) read-only.
/// Unlike a remount, this leaves the flags the kernel locked (nosuid,
/// nodev...) as they are, which a user namespace may not clear.
pub(crate) fn set_read_only(mnt: BorrowedFd, recursive: bool) -> Result<(), Errno> {
    if !mount_setattr_allowed() {
        return Err(Errno::NOSYS);
    }
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is a valid empty C string, attr a valid mount_attr
    // of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r == -1 {
        return Err(Errno::from_raw_os_error(last_errno()));
    }
    Ok(())
}

/// Takes the detached mount `mnt` out of its peer group (private), so
/// that no mount made on or below the mount it was cloned from reaches it,
/// and none of its own reaches that one. ENOSYS where the kernel has no
/// mount_setattr (before 5.12), as `set_read_only`.
pub(crate) fn set_private(mnt: BorrowedFd) -> Result<(), Errno> {
    if !mount_setattr_allowed() {
        return Err(Errno::NOSYS);
    }
    let attr = MountAttr {
        attr_set: 0,
        attr_clr: 0,
        propagation: MS_PRIVATE,
        userns_fd: 0,
    };
    // SAFETY: the path is a valid empty C string, attr a valid mount_attr
    // of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r == -1 {
        return Err(Errno::from_raw_os_error(last_errno()));
    }
    Ok(())
}

/// The fallback of `set_private` for kernels without mount_setattr: the
/// ATTACHED mount `mnt` made private by mount(2), then refused (EBUSY)
/// when anything reached it from its peer group before: a mount on it or
/// below it.
pub(crate) fn make_attached_private(mnt: BorrowedFd) -> Result<(), Errno> {
    let name = format!("/proc/self/fd/{}", mnt.as_raw_fd());
    rustix::mount::mount_change(name.as_str(), rustix::mount::MountPropagationFlags::PRIVATE)?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
    if !submounts(&mountinfo, mount_id(mnt)?).is_empty() {
        return Err(Errno::BUSY);
    }
    Ok(())
}

/// A seam for tests: makes `set_read_only` (and `set_private`) answer
/// ENOSYS as kernels before 5.12 do, so that the fallback runs on any
/// kernel. The fallback
/// itself is the real mount(2); tests/vm proves it on 5.10.
pub const NO_MOUNT_SETATTR_ENV: &str = "BURROW_TEST_NO_MOUNT_SETATTR";

/// Whether `set_read_only` may be tried at all (see the seam above).
pub(crate) fn mount_setattr_allowed() -> bool {
    std::env::var_os(NO_MOUNT_SETATTR_ENV).is_none()
}

/// The flags of the mount `mnt` that a remount must repeat: in a user
/// namespace the kernel locks nosuid, nodev, noexec (and read-only) of
/// mounts it copied from a more privileged namespace, and a remount that
/// would clear one is refused (EPERM). Access times need no repeating: a
/// remount that names none keeps the mount's own.
fn kept_flags(mnt: BorrowedFd) -> Result<rustix::mount::MountFlags, Errno> {
    use rustix::fs::StatVfsMountFlags as St;
    use rustix::mount::MountFlags as Ms;
    let have = rustix::fs::fstatvfs(mnt)?.f_flag;
    let mut keep = Ms::empty();
    for (st, ms) in [
        (St::NOSUID, Ms::NOSUID),
        (St::NODEV, Ms::NODEV),
        (St::NOEXEC, Ms::NOEXEC),
    ] {
        if have.contains(st) {
            keep |= ms;
        }
    }
    Ok(keep)
}

/// Read-only by a classic bind remount of the one attached mount `mnt`
/// (named by its /proc/self/fd link), keeping its other flags.
fn remount_one_read_only(mnt: BorrowedFd) -> Result<(), Errno> {
    use rustix::mount::MountFlags as Ms;
    let flags = Ms::BIND | Ms::RDONLY | kept_flags(mnt)?;
    let name = format!("/proc/self/fd/{}", mnt.as_raw_fd());
    rustix::mount::mount_remount(name.as_str(), flags, "")
}

/// The mount id of the mount `fd` is on (statx, Linux 5.8+).
fn mount_id(fd: BorrowedFd) -> Result<u64, Errno> {
    let st = rustix::fs::statx(
        fd,
        "",
        rustix::fs::AtFlags::EMPTY_PATH,
        rustix::fs::StatxFlags::MNT_ID,
    )?;
    Ok(st.stx_mnt_id)
}

/// A mount point as /proc/self/mountinfo writes it: space, tab, newline
/// and backslash in octal escapes.
fn unescape_mountinfo(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            let s = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(s, 8).ok()
        });
        match (b[i], octal) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// The mounts below mount `top` (its submounts, theirs and so on), parents
/// first, each with its mount point relative to `top`'s, read from
/// `mountinfo`. Relative, because the container's tree is not reachable
/// by path from our root before pivot_root (it sits on a mount stacked
/// over `/`): it is walked from `top`'s fd instead.
fn submounts(mountinfo: &str, top: u64) -> Vec<(u64, PathBuf)> {
    let entries: Vec<(u64, u64, PathBuf)> = mountinfo
        .lines()
        .filter_map(|line| {
            let mut f = line.split(' ');
            let id = f.next()?.parse().ok()?;
            let parent = f.next()?.parse().ok()?;
            let point = f.nth(2)?;
            Some((id, parent, unescape_mountinfo(point)))
        })
        .collect();
    let Some((_, _, top_point)) = entries.iter().find(|(id, _, _)| *id == top) else {
        return Vec::new();
    };
    let mut ids = vec![top];
    let mut found = Vec::new();
    // A child can be listed before its parent after moves: repeat until
    // nothing new turns up.
    loop {
        let before = found.len();
        for (id, parent, point) in &entries {
            if ids.contains(parent) && !ids.contains(id) {
                if let Ok(rel) = point.strip_prefix(top_point) {
                    ids.push(*id);
                    found.push((*id, rel.to_path_buf()));
                }
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// The fallback of `set_read_only` for kernels without mount_setattr
/// (before 5.12): a bind remount of the ATTACHED mount `mnt` (a detached
/// one is in no namespace, which remount refuses) and, with `recursive`,
/// of every mount below it, each keeping its locked flags.
pub(crate) fn remount_read_only(mnt: BorrowedFd, recursive: bool) -> Result<(), Errno> {
    remount_one_read_only(mnt)?;
    if !recursive {
        return Ok(());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
    for (id, rel) in submounts(&mountinfo, mount_id(mnt)?) {
        // Walked down from `mnt` through the mounts on the way; a symbolic
        // link there would mean the tree changed since the kernel listed it.
        let fd = rustix::fs::openat2(
            mnt,
            relative(&rel),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH,
        )?;
        if mount_id(fd.as_fd())? != id {
            // Overmounted or moved: not the mount listed.
            return Err(Errno::STALE);
        }
        remount_one_read_only(fd.as_fd())?;
    }
    Ok(())
}

/// True when `fd` is a directory.
pub(crate) fn is_dir(fd: BorrowedFd) -> Result<bool, Errno> {
    let st = rustix::fs::fstat(fd)?;
    Ok(rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory)
}

/// Closes every fd from 3 up at the next execve, whatever the parent
/// leaked into us; the container starts with stdio only.
pub(crate) fn cloexec_from_3() {
    // SAFETY: close_range takes plain integers; with CLOSE_RANGE_CLOEXEC
    // it only sets flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == -1 {
        // Older kernels: mark the open fds one by one.
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&fd| fd >= 3)
                .collect();
            for fd in fds {
                // SAFETY: F_SETFD on an fd number; a closed one gives EBADF.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
    }
}

/// PR_SET_DUMPABLE: a process that is not dumpable has its /proc/PID
/// files owned by the host's root, so that nothing in a container (not
/// even its root, whose capabilities stop at its user namespace) can open
/// its /proc/PID/exe, mem or fds. fork copies the setting; execve
/// recomputes it.
pub(crate) fn set_dumpable(on: bool) {
    // SAFETY: PR_SET_DUMPABLE takes 0 or 1, no pointers.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong, 0, 0, 0) };
}

/// Replaces the caller's session keyring with a new, empty one of its own
/// (keyctl KEYCTL_JOIN_SESSION_KEYRING with no name). Keyrings are not
/// namespaced: a process that kept the caller's session keyring would
/// possess, read and change every key of the user's login session. A
/// kernel built without keys (ENOSYS) has nothing to leak.
pub(crate) fn join_new_session_keyring() -> Result<(), Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING, NULL) reads no memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    match r {
        -1 if last_errno() == libc::ENOSYS => Ok(()),
        -1 => Err(Errno::from_raw_os_error(last_errno())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submounts_are_found_below_the_top_only_and_parents_first() {
        let info = "\
20 1 0:5 / / rw - ext4 /dev/vda rw
30 20 0:6 / /r/sys ro,nosuid - sysfs sysfs rw
32 31 0:8 / /r/sys/fs/cgroup/x\\040y rw - tmpfs t rw
31 30 0:7 / /r/sys/fs/cgroup rw - cgroup2 c rw
40 20 0:9 / /r/sysx rw - tmpfs t rw
";
        assert_eq!(
            submounts(info, 30),
            vec![
                (31, PathBuf::from("fs/cgroup")),
                (32, PathBuf::from("fs/cgroup/x y")),
            ]
        );
        assert_eq!(submounts(info, 40), vec![]);
        assert_eq!(submounts(info, 99), vec![]);
    }

    #[test]
    fn container_paths_become_relative_without_climbing() {
        assert_eq!(relative(Path::new("/")), PathBuf::from("."));
        assert_eq!(relative(Path::new("/dev/null")), PathBuf::from("dev/null"));
        assert_eq!(relative(Path::new("//a/./b/")), PathBuf::from("a/b"));
    }

    #[test]
    fn ensure_dir_and_file_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root_dir = d.path().join("root");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&root_dir).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // An absolute symlink that would escape if followed on the host.
        std::os::unix::fs::symlink(&outside, root_dir.join("esc")).unwrap();
        let root = std::fs::File::open(&root_dir).unwrap();
        // Dangling inside the root: what it names is made inside the
        // root, nothing outside.
        ensure_dir(root.as_fd(), Path::new("/esc/made")).unwrap();
        assert!(!outside.join("made").exists());
        let inside = root_dir.join(outside.strip_prefix("/").unwrap());
        assert!(inside.join("made").is_dir());
        // Climbing out with `..` stops at the root.
        std::os::unix::fs::symlink("../../../../../up", root_dir.join("climb")).unwrap();
        ensure_dir(root.as_fd(), Path::new("/climb/x")).unwrap();
        assert!(root_dir.join("up/x").is_dir());
        assert!(!d.path().join("up").exists());
        // A loop of links ends.
        std::os::unix::fs::symlink("/loop2", root_dir.join("loop1")).unwrap();
        std::os::unix::fs::symlink("/loop1", root_dir.join("loop2")).unwrap();
        assert!(ensure_dir(root.as_fd(), Path::new("/loop1/x")).is_err());
        // An absolute symlink to a directory of the root is followed there.
        std::fs::create_dir(root_dir.join("inside")).unwrap();
        std::os::unix::fs::symlink("/inside", root_dir.join("in")).unwrap();
        ensure_dir(root.as_fd(), Path::new("/in/made/here")).unwrap();
        assert!(root_dir.join("inside/made/here").is_dir());
        std::os::unix::fs::symlink("../../../hosts-x", root_dir.join("f")).unwrap();
        ensure_file(root.as_fd(), Path::new("/f")).unwrap();
        assert!(root_dir.join("hosts-x").is_file());
    }
}
