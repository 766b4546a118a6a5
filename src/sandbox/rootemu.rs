//! Root emulation for a container with a single-id map: answers the
//! seccomp notifications that `seccomp`'s root-emulation blocks send (chown
//! to another owner, mknod of a device, capset). The owner asked for is
//! recorded in the `user.containers.override_stat` xattr of the file in the
//! writable layer (for a symbolic link or fifo, which cannot carry one, in
//! the layer's owners file), which `commit` and `export` write into the
//! layer; the file's real owner does not change (with one id mapped, it
//! cannot).
//!
//! It never acts on a path outside the container's root: a path is read
//! from the caller's memory once, resolved with openat2 inside the
//! caller's own root (RESOLVE_IN_ROOT from /proc/PID/root, no magic links,
//! no crossing of mounts), and only a file on the root filesystem's own
//! mount is touched, through the fd that resolution gave. A symbolic link
//! swapped in meanwhile resolves inside the container like any other.

use crate::notify::{read_memory, Listener, Notification, Ready, Response, Server};
use crate::owners::{OverrideStat, StackOwners, OVERRIDE_XATTR};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// The calls on ids that are answered from the table of emulated ids.
pub(crate) const ID_CALLS: &[&str] = &[
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "setfsgid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
];

/// Notifications answered per round, so the rest of the loop is not
/// starved by a storm of chowns.
const BATCH: usize = 256;

/// The answer to one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The kernel does the call as asked.
    Continue,
    /// Done here: the call returns 0.
    Done,
    /// Done here: the call returns this.
    Value(u64),
    /// The call fails with this errno.
    Failed(i32),
}

impl From<Answer> for Response {
    fn from(a: Answer) -> Response {
        match a {
            Answer::Continue => Response::Continue,
            Answer::Done => Response::Value(0),
            Answer::Value(v) => Response::Value(v as i64),
            Answer::Failed(e) => Response::Failed(e),
        }
    }
}

/// The root emulation's listener and what it keeps.
pub struct RootEmulation {
    /// `None` once every process under the filter is gone.
    listener: Option<Listener>,
    server: ContainerCalls,
}

/// The calls of a container's listener that are not the network's: root
/// emulation's, and sysinfo(2) when a server for it was given (the /proc
/// view's numbers). Each call goes to the server of its number.
pub struct ContainerCalls {
    ids: IdServer,
    sysinfo: Option<Box<dyn Server>>,
}

impl Server for ContainerCalls {
    fn serve(&mut self, listener: &Listener, n: &Notification) -> Response {
        if i64::from(n.data.nr) == libc::SYS_sysinfo {
            return match &mut self.sysinfo {
                Some(s) => s.serve(listener, n),
                None => Response::Continue,
            };
        }
        self.ids.serve(listener, n)
    }
}

/// The calls root emulation answers, with the ids processes asked for:
/// what serves them on a listener of its own (`RootEmulation`) or on one
/// shared with the network's direct ports.
pub struct IdServer {
    creds: CredTable,
    /// `None`: a root that is no overlay (nothing is committed of it).
    layer: Option<WritableLayer>,
    asked_root: AskedRoot,
}

/// How many of the files processes gave root:root are remembered.
const ASKED_ROOT_KEPT: usize = 4096;

/// The files processes gave root:root by chown, newest last: root is the
/// owner `stat` shows for every file, so it is what a program that copies
/// an owner it read asks for (see `carry_owner`).
#[derive(Default)]
struct AskedRoot {
    files: std::collections::VecDeque<Asked>,
    /// How many of `files` each thread gave: a rename by a thread with none
    /// (most renames) needs nothing read.
    by_tid: std::collections::HashMap<u32, u32>,
}

/// One chown to root:root of a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Asked {
    /// (st_dev, st_ino) of the file.
    file: (u64, u64),
    /// The thread that asked.
    tid: u32,
    /// When (CLOCK_BOOTTIME, ns): a thread with that id started later is
    /// another one (see `same_thread`).
    at: u64,
}

impl AskedRoot {
    fn note(&mut self, a: Asked) {
        if self.files.len() >= ASKED_ROOT_KEPT {
            if let Some(old) = self.files.pop_front() {
                self.forget(old.tid);
            }
        }
        *self.by_tid.entry(a.tid).or_default() += 1;
        self.files.push_back(a);
    }

    fn forget(&mut self, tid: u32) {
        if let Some(n) = self.by_tid.get_mut(&tid) {
            *n -= 1;
            if *n == 0 {
                self.by_tid.remove(&tid);
            }
        }
    }

    /// Whether thread `tid` (or an earlier thread with its id) gave any
    /// file root:root.
    fn pending(&self, tid: u32) -> bool {
        self.by_tid.contains_key(&tid)
    }

    /// The last chown to root:root of `file`, when thread `tid` made it;
    /// the file is forgotten either way.
    fn take(&mut self, file: (u64, u64), tid: u32) -> Option<Asked> {
        let i = self.files.iter().rposition(|e| e.file == file)?;
        let a = self.files.remove(i)?;
        self.forget(a.tid);
        (a.tid == tid).then_some(a)
    }
}

/// CLOCK_BOOTTIME in ns: the clock of a thread's start time in
/// /proc/TID/stat.
fn boot_time_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Whether thread `tid`, alive now, is the one that had its id at `at`
/// (CLOCK_BOOTTIME ns): it started no later (a thread's id is its own
/// while it lives; another thread given the id after it ended started
/// after `at`). Start times are in clock ticks (10 ms): an id reused
/// within the tick of the chown, which takes a wrap of every pid, would
/// pass. Read only when a rename would carry an owner, not at each chown.
fn same_thread(tid: u32, at: u64) -> bool {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    start_time(tid).is_some_and(|start| start <= at / (1_000_000_000 / hz).max(1))
}

/// The container's layers, for the owners of entries that cannot carry
/// the xattr: recorded in the writable layer's owners file, and read (a
/// chown that keeps the uid or the gid) from there or from the image's.
struct WritableLayer {
    upper: std::path::PathBuf,
    lower: Vec<std::path::PathBuf>,
    /// Read at the first chown of such an entry.
    owners: Option<StackOwners>,
}

impl Server for IdServer {
    fn serve(&mut self, listener: &Listener, n: &Notification) -> Response {
        serve(self, listener, n).into()
    }
}

impl RootEmulation {
    /// Serves the listener `notify` of a container whose root is `rootfs`,
    /// with the server of sysinfo(2) if the filter sends it.
    pub fn new(
        notify: OwnedFd,
        rootfs: &super::Rootfs,
        sysinfo: Option<Box<dyn Server>>,
    ) -> RootEmulation {
        let layer = match rootfs {
            super::Rootfs::Overlay { lower, upper, .. } => Some(WritableLayer {
                upper: upper.clone(),
                lower: lower.clone(),
                owners: None,
            }),
            super::Rootfs::Dir(_) => None,
        };
        RootEmulation {
            listener: Some(Listener::new(notify)),
            server: ContainerCalls {
                ids: IdServer {
                    creds: CredTable::default(),
                    layer,
                    asked_root: AskedRoot::default(),
                },
                sysinfo,
            },
        }
    }

    /// The listener to poll for POLLIN, while there is one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.listener.as_ref().map(|l| l.fd())
    }

    /// Answers the notifications waiting, `polled` being what a poll of
    /// `fd` found just before; forgets the listener once every process
    /// under the filter is gone.
    pub fn serve(&mut self, polled: Ready) {
        if let Some(l) = &self.listener {
            if !l.serve_waiting(&mut self.server, BATCH, polled) {
                self.listener = None;
            }
        }
    }

    /// Serves until every process under the filter is gone (a process of
    /// its own does this for an exec'd command).
    pub fn serve_until_gone(mut self) {
        while let Some(fd) = self.fd() {
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; waits for a call or the hang-up.
            let polled = match unsafe { libc::poll(&mut pfd, 1, -1) } {
                1.. => Ready::of_revents(pfd.revents),
                _ => Ready::Idle,
            };
            self.serve(polled);
        }
    }

    /// The listener and the server, for a loop that serves other calls on
    /// the same listener (the network's binds and connects); `None` once
    /// the listener hung up.
    pub fn into_parts(self) -> Option<(Listener, ContainerCalls)> {
        Some((self.listener?, self.server))
    }
}

/// Whether notification `id` is still waiting (its caller alive and in
/// the call): what was read of the caller before this is then its own.
fn still_waiting(notify: &Listener, id: u64) -> bool {
    notify.still_waiting(id)
}

fn name_of(nr: i32) -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    let s = syscalls::x86_64::Sysno::new(nr as usize)?;
    #[cfg(target_arch = "aarch64")]
    let s = syscalls::aarch64::Sysno::new(nr as usize)?;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    return None;
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    Some(s.name())
}

fn serve(server: &mut IdServer, notify: &Listener, n: &Notification) -> Answer {
    let args = n.data.args;
    let tid = n.pid;
    let Some(name) = name_of(n.data.nr) else {
        return Answer::Continue;
    };
    let table = &mut server.creds;
    let layer = server.layer.as_mut();
    let asked = &mut server.asked_root;
    let (at, cwd) = (|i: usize| args[i] as i32, libc::AT_FDCWD);
    let r = match name {
        // Never fails the call: it only decides an owner.
        "rename" => return rename(asked, notify, n.id, tid, [cwd, cwd], [args[0], args[1]], 0),
        "renameat" => {
            return rename(
                asked,
                notify,
                n.id,
                tid,
                [at(0), at(2)],
                [args[1], args[3]],
                0,
            )
        }
        "renameat2" => {
            let flags = args[4] as u32;
            return rename(
                asked,
                notify,
                n.id,
                tid,
                [at(0), at(2)],
                [args[1], args[3]],
                flags,
            );
        }
        "chown" => chown(
            layer,
            asked,
            notify,
            n.id,
            tid,
            Target::path(libc::AT_FDCWD, args[0], true),
            args[1],
            args[2],
        ),
        "lchown" => chown(
            layer,
            asked,
            notify,
            n.id,
            tid,
            Target::path(libc::AT_FDCWD, args[0], false),
            args[1],
            args[2],
        ),
        "fchown" => chown(
            layer,
            asked,
            notify,
            n.id,
            tid,
            Target::Fd(args[0] as i32),
            args[1],
            args[2],
        ),
        "fchownat" => {
            let flags = args[4] as i32;
            let target = if flags & libc::AT_EMPTY_PATH != 0 && empty_path(tid, args[1]) {
                Target::Fd(args[0] as i32)
            } else {
                Target::path(
                    args[0] as i32,
                    args[1],
                    flags & libc::AT_SYMLINK_NOFOLLOW == 0,
                )
            };
            chown(layer, asked, notify, n.id, tid, target, args[2], args[3])
        }
        "mknod" => mknod(notify, n.id, tid, libc::AT_FDCWD, args[0], args[1] as u32),
        "mknodat" => mknod(notify, n.id, tid, args[0] as i32, args[1], args[2] as u32),
        "capset" => capset(notify, n.id, tid, args[0], args[1]),
        ids if ID_CALLS.contains(&ids) => ids_call(table, notify, n.id, tid, ids, args),
        _ => return Answer::Continue,
    };
    match r {
        Ok(a) => a,
        Err(e) => Answer::Failed(e.raw_os_error()),
    }
}

/// What a chown names.
enum Target {
    /// A path (at this address in the caller) relative to a dirfd of the
    /// caller (or its cwd).
    Path { dirfd: i32, addr: u64, follow: bool },
    /// An open file of the caller.
    Fd(i32),
}

impl Target {
    fn path(dirfd: i32, addr: u64, follow: bool) -> Target {
        Target::Path {
            dirfd,
            addr,
            follow,
        }
    }
}

/// Reads a NUL-terminated path of at most PATH_MAX bytes at `addr` in
/// thread `tid`, page by page (a string may end just before an unmapped
/// page).
fn read_path(tid: u32, addr: u64) -> Result<Vec<u8>, Errno> {
    if addr == 0 {
        return Err(Errno::FAULT);
    }
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < libc::PATH_MAX as usize {
        let room = 4096 - (at % 4096) as usize;
        let chunk = read_memory(tid, at, room).ok_or(Errno::FAULT)?;
        if let Some(end) = chunk.iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk);
        at += room as u64;
    }
    Err(Errno::NAMETOOLONG)
}

fn empty_path(tid: u32, addr: u64) -> bool {
    read_path(tid, addr).is_ok_and(|p| p.is_empty())
}

fn open_proc(tid: u32, what: &str, dir: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if dir {
        flags |= OFlags::DIRECTORY;
    }
    rustix::fs::open(format!("/proc/{tid}/{what}"), flags, Mode::empty())
}

/// The root directory of thread `tid` (O_PATH).
fn open_root(tid: u32) -> Result<OwnedFd, Errno> {
    open_proc(tid, "root", true)
}

/// Resolves `path` as thread `tid` would, from `dirfd` (AT_FDCWD: its
/// cwd), never leaving its root (`root`, from `open_root`), nor crossing
/// a mount unless `cross_mounts`, to an O_PATH fd of the file (of a
/// symlink itself unless `follow`).
fn resolve(
    root: &OwnedFd,
    tid: u32,
    dirfd: i32,
    path: &[u8],
    follow: bool,
    cross_mounts: bool,
) -> Result<OwnedFd, Errno> {
    if path.is_empty() {
        return Err(Errno::NOENT);
    }
    let mut oflags = OFlags::PATH | OFlags::CLOEXEC;
    if !follow {
        oflags |= OFlags::NOFOLLOW;
    }
    let mut stay = ResolveFlags::NO_MAGICLINKS;
    if !cross_mounts {
        stay |= ResolveFlags::NO_XDEV;
    }
    let in_root = |p: &[u8]| {
        rustix::fs::openat2(root, p, oflags, Mode::empty(), stay | ResolveFlags::IN_ROOT)
    };
    if path[0] == b'/' {
        return in_root(path);
    }
    let base_name = if dirfd == libc::AT_FDCWD {
        "cwd".to_string()
    } else if dirfd >= 0 {
        format!("fd/{dirfd}")
    } else {
        return Err(Errno::BADF);
    };
    let base = open_proc(tid, &base_name, true)?;
    // Below the base: the usual case (a name in a directory).
    match rustix::fs::openat2(
        &base,
        path,
        oflags,
        Mode::empty(),
        stay | ResolveFlags::BENEATH,
    ) {
        Err(Errno::XDEV) => {}
        other => return other,
    }
    // `..` or an absolute symlink: from the base's path inside the root.
    let prefix = rustix::fs::readlink(format!("/proc/{tid}/{base_name}"), Vec::new())?;
    let prefix = prefix.to_bytes();
    if prefix.first() != Some(&b'/') {
        return Err(Errno::NOENT);
    }
    let mut full = prefix.to_vec();
    full.push(b'/');
    full.extend_from_slice(path);
    in_root(&full)
}

fn mount_id(fd: BorrowedFd) -> Result<u64, Errno> {
    let st = rustix::fs::statx(
        fd,
        "",
        rustix::fs::AtFlags::EMPTY_PATH,
        rustix::fs::StatxFlags::MNT_ID,
    )?;
    Ok(st.stx_mnt_id)
}

/// What the handlers need of a file, from one statx.
struct Facts {
    kind: rustix::fs::FileType,
    /// Permission bits, set-id and sticky included.
    mode: u32,
    /// (device, inode): the file while it exists.
    file: (u64, u64),
    mount: u64,
}

fn facts(fd: BorrowedFd) -> Result<Facts, Errno> {
    use rustix::fs::StatxFlags;
    let st = rustix::fs::statx(
        fd,
        "",
        rustix::fs::AtFlags::EMPTY_PATH,
        StatxFlags::TYPE | StatxFlags::MODE | StatxFlags::INO | StatxFlags::MNT_ID,
    )?;
    let mode = u32::from(st.stx_mode);
    let dev = (u64::from(st.stx_dev_major) << 32) | u64::from(st.stx_dev_minor);
    Ok(Facts {
        kind: rustix::fs::FileType::from_raw_mode(mode),
        mode: mode & 0o7777,
        file: (dev, st.stx_ino),
        mount: st.stx_mnt_id,
    })
}

#[allow(clippy::too_many_arguments)]
fn chown(
    layer: Option<&mut WritableLayer>,
    asked: &mut AskedRoot,
    notify: &Listener,
    id: u64,
    tid: u32,
    target: Target,
    uid: u64,
    gid: u64,
) -> Result<Answer, Errno> {
    // Everything is read first and checked once (`still_waiting`) before
    // anything is written: reads of a caller that is gone change nothing.
    let (file, root_mount) = match target {
        Target::Path {
            dirfd,
            addr,
            follow,
        } => {
            let path = read_path(tid, addr)?;
            let root = open_root(tid)?;
            match resolve(&root, tid, dirfd, &path, follow, false) {
                // Across a mount (/proc, /dev, a volume): nothing to record
                // there, and nothing a chown to another id could do.
                Err(Errno::XDEV) => return Ok(Answer::Done),
                other => (other?, mount_id(root.as_fd())?),
            }
        }
        Target::Fd(fd) => {
            if fd < 0 {
                return Err(Errno::BADF);
            }
            // The root's mount without opening it: one call, not three.
            let root = rustix::fs::statx(
                rustix::fs::CWD,
                format!("/proc/{tid}/root"),
                rustix::fs::AtFlags::empty(),
                rustix::fs::StatxFlags::MNT_ID,
            )?;
            (open_proc(tid, &format!("fd/{fd}"), false)?, root.stx_mnt_id)
        }
    };
    // Only the container's own root filesystem keeps owners: never a file
    // of the host reached through a volume or an inherited fd.
    let f = facts(file.as_fd())?;
    if f.mount != root_mount {
        return Ok(Answer::Done);
    }
    let is_dir = f.kind == rustix::fs::FileType::Directory;
    if !is_dir && f.kind != rustix::fs::FileType::RegularFile {
        if !still_waiting(notify, id) {
            return Err(Errno::NOENT);
        }
        // Symbolic links, fifos, sockets cannot carry user.* xattrs.
        return chown_unlabelled(layer, &file, uid, gid);
    }
    // A file its owner may not read (dpkg's, mode 000 until its chmod)
    // is read another way, at no cost where it has no record.
    let before = crate::owners::recorded_with_mode(file.as_fd(), f.mode);
    let (new_uid, new_gid) = owner_asked(before.map_or((0, 0), |o| (o.uid, o.gid)), uid, gid);
    if (new_uid, new_gid) == (0, 0) {
        // The owner every file really has: no record, and the kernel does
        // the rest of a chown (the set-id bits) itself. A file with no
        // other recorded (dpkg's every file) needs nothing written, so no
        // check that the caller still waits.
        if before.is_some() {
            if !still_waiting(notify, id) {
                return Err(Errno::NOENT);
            }
            let via = format!("/proc/self/fd/{}", file.as_raw_fd());
            crate::owners::with_owner_access(file.as_fd(), 0o200, || {
                rustix::fs::removexattr(&via, OVERRIDE_XATTR)
            })??;
        }
        if !is_dir {
            asked.note(Asked {
                file: f.file,
                tid,
                at: boot_time_ns(),
            });
        }
        return Ok(Answer::Continue);
    }
    if !still_waiting(notify, id) {
        return Err(Errno::NOENT);
    }
    let via = format!("/proc/self/fd/{}", file.as_raw_fd());
    // As the kernel does for any chown of a non-directory: set-user-id
    // goes, and set-group-id with group execute.
    let mut mode = f.mode;
    if !is_dir {
        let mut kept = mode & !libc::S_ISUID;
        if mode & libc::S_IXGRP != 0 {
            kept &= !libc::S_ISGID;
        }
        if kept != mode {
            rustix::fs::chmod(&via, Mode::from_raw_mode(kept))?;
            mode = kept;
        }
    }
    let value = OverrideStat {
        uid: new_uid,
        gid: new_gid,
        mode,
    }
    .format(is_dir);
    // Written as the file's owner may write it (0444 or 000 included).
    crate::owners::with_owner_access(file.as_fd(), 0o200, || {
        rustix::fs::setxattr(
            &via,
            OVERRIDE_XATTR,
            value.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
    })??;
    Ok(Answer::Done)
}

/// rename(2), renameat(2) and renameat2(2) (`dirs` and `paths`: old, then
/// new): when the call replaces a regular file whose recorded owner is not
/// root by a regular file with no record that the renaming process itself
/// (the same thread) was the last to give root:root, the renamed file takes the replaced
/// one's owner (keeping its own mode), and burrow renames it (see
/// `rename_as_caller`): a rename that fails leaves no owner given; else
/// the kernel renames. That
/// process wrote a new copy of the file and gave it the owner `stat`
/// showed, root, as useradd does rewriting /etc/shadow and `sed -i` any
/// file; had it meant root, a file it replaced would have shown it root
/// too. Flags (no replacing, an exchange) leave the owners as they are.
fn rename(
    asked: &mut AskedRoot,
    notify: &Listener,
    id: u64,
    tid: u32,
    dirs: [i32; 2],
    paths: [u64; 2],
    flags: u32,
) -> Answer {
    if flags == 0 {
        // A failure here changes nothing; the kernel's call says the rest.
        if let Ok(a) = carry_owner(asked, notify, id, tid, dirs, paths) {
            return a;
        }
    }
    Answer::Continue
}

/// The directory and last name of `path`, when the name is a plain one
/// (not `.`, `..`, nor followed by a slash).
fn split_last(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let (dir, name): (&[u8], &[u8]) = match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b".", path),
    };
    (!name.is_empty() && name != b"." && name != b"..").then_some((dir, name))
}

/// renames `old` to `new` (each a directory fd of thread `tid` or
/// AT_FDCWD, and a path) as the caller asked, after checking that the
/// names still are the files `expect` (old, new) checked before: the
/// kernel's answer, `Ok(None)` where burrow may not do what the caller
/// may (a directory only the container's root could write: the kernel
/// renames then, and no owner is carried).
fn rename_as_caller(
    root: &OwnedFd,
    tid: u32,
    dirs: [i32; 2],
    paths: [&[u8]; 2],
    expect: [(u64, u64); 2],
) -> Result<Option<Answer>, Errno> {
    let mut at = Vec::with_capacity(2);
    for i in 0..2 {
        let (dir, name) = split_last(paths[i]).ok_or(Errno::INVAL)?;
        let dir = resolve(root, tid, dirs[i], dir, true, false)?;
        let name = std::ffi::CString::new(name).map_err(|_| Errno::INVAL)?;
        let f = rustix::fs::statx(
            &dir,
            &name,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            rustix::fs::StatxFlags::INO,
        )?;
        let dev = (u64::from(f.stx_dev_major) << 32) | u64::from(f.stx_dev_minor);
        if (dev, f.stx_ino) != expect[i] {
            return Err(Errno::AGAIN);
        }
        at.push((dir, name));
    }
    match rustix::fs::renameat(&at[0].0, &at[0].1, &at[1].0, &at[1].1) {
        Ok(()) => Ok(Some(Answer::Done)),
        Err(Errno::ACCESS | Errno::PERM) => Ok(None),
        Err(e) => Ok(Some(Answer::Failed(e.raw_os_error()))),
    }
}

fn carry_owner(
    asked: &mut AskedRoot,
    notify: &Listener,
    id: u64,
    tid: u32,
    dirs: [i32; 2],
    paths: [u64; 2],
) -> Result<Answer, Errno> {
    // Cheapest first: most renames are by threads that gave nothing
    // root:root (a compiler's output, python's .pyc files), and most of
    // the rest make a new name (dpkg unpacking) or replace a file with no
    // owner recorded.
    if !asked.pending(tid) {
        return Ok(Answer::Continue);
    }
    // Only read until the rename: the check that the caller still waits
    // comes once, before it.
    let new_path = read_path(tid, paths[1])?;
    let root = open_root(tid)?;
    let replaced = resolve(&root, tid, dirs[1], &new_path, false, false)?;
    let Some(owner) =
        crate::owners::recorded(replaced.as_fd()).filter(|o| (o.uid, o.gid) != (0, 0))
    else {
        return Ok(Answer::Continue);
    };
    let root_mount = mount_id(root.as_fd())?;
    let regular_on_root = |fd: &OwnedFd| -> Result<Option<Facts>, Errno> {
        let f = facts(fd.as_fd())?;
        Ok((f.kind == rustix::fs::FileType::RegularFile && f.mount == root_mount).then_some(f))
    };
    if regular_on_root(&replaced)?.is_none() {
        return Ok(Answer::Continue);
    }
    let old_path = read_path(tid, paths[0])?;
    if !still_waiting(notify, id) {
        return Err(Errno::NOENT);
    }
    let renamed = resolve(&root, tid, dirs[0], &old_path, false, false)?;
    let Some(f) = regular_on_root(&renamed)? else {
        return Ok(Answer::Continue);
    };
    let Some(chowned) = asked.take(f.file, tid) else {
        return Ok(Answer::Continue);
    };
    if !same_thread(tid, chowned.at) || crate::owners::recorded(renamed.as_fd()).is_some() {
        return Ok(Answer::Continue);
    }
    // Renamed here, so that the owner is given only when the rename is
    // done (to the inode, by the fd held: wherever it now is).
    let old_file = f.file;
    let new_file = facts(replaced.as_fd())?.file;
    let Some(answer) = rename_as_caller(
        &root,
        tid,
        dirs,
        [&old_path, &new_path],
        [old_file, new_file],
    )?
    else {
        return Ok(Answer::Continue);
    };
    if answer == Answer::Done {
        let value = OverrideStat {
            uid: owner.uid,
            gid: owner.gid,
            mode: f.mode,
        }
        .format(false);
        // The rename is done: a record that cannot be written is lost.
        let via = format!("/proc/self/fd/{}", renamed.as_raw_fd());
        let _ = crate::owners::with_owner_access(renamed.as_fd(), 0o200, || {
            rustix::fs::setxattr(
                &via,
                OVERRIDE_XATTR,
                value.as_bytes(),
                rustix::fs::XattrFlags::empty(),
            )
        });
    }
    Ok(answer)
}

/// The owner a chown of a file owned by `old` asks for (-1 keeps).
fn owner_asked(old: (u32, u32), uid: u64, gid: u64) -> (u32, u32) {
    let keep = |v: u64, old: u32| if v as u32 == u32::MAX { old } else { v as u32 };
    (keep(uid, old.0), keep(gid, old.1))
}

/// A chown of an entry that cannot carry the xattr (a symbolic link, a
/// fifo), `file` on the container's root: copied up into the writable
/// layer, where its owner is recorded in the layer's owners file.
fn chown_unlabelled(
    layer: Option<&mut WritableLayer>,
    file: &OwnedFd,
    uid: u64,
    gid: u64,
) -> Result<Answer, Errno> {
    let Some(layer) = layer else {
        return Ok(Answer::Done);
    };
    // The kernel's name for it, from the root of its mount: the
    // container's root, whose entries the upper directory mirrors.
    let name = rustix::fs::readlink(format!("/proc/self/fd/{}", file.as_raw_fd()), Vec::new())?;
    let name = name.to_bytes();
    let Some(rel) = name.strip_prefix(b"/") else {
        return Ok(Answer::Done);
    };
    if rel.is_empty() || name.ends_with(b" (deleted)") {
        return Ok(Answer::Done);
    }
    let owners = layer
        .owners
        .get_or_insert_with(|| StackOwners::new(Some(&layer.upper), &layer.lower));
    owners.refresh();
    // Before the copy-up: the image's owner where the entry is still its.
    let before = std::str::from_utf8(rel)
        .ok()
        .and_then(|p| owners.listed(p))
        .unwrap_or((0, 0));
    // Overlay copies an entry up at any change of its attributes; a chown
    // to nobody in particular changes only its ctime.
    rustix::fs::chownat(file, c"", None, None, rustix::fs::AtFlags::EMPTY_PATH)?;
    let (parent, leaf) = match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&b"."[..], rel),
    };
    let upper = rustix::fs::open(
        &layer.upper,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let dir = rustix::fs::openat2(
        &upper,
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?;
    let leaf = std::ffi::CString::new(leaf).map_err(|_| Errno::INVAL)?;
    let Some(key) = crate::owners::entry_key(dir.as_fd(), &leaf) else {
        return Ok(Answer::Done);
    };
    let new = owner_asked(before, uid, gid);
    let written = owners.written();
    // What a commit would write without a new record.
    if written.get(&key).unwrap_or((0, 0)) != new {
        written
            .append(&key, new.0, new.1)
            .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
    }
    Ok(Answer::Done)
}

/// The umask of thread `tid` ("Umask:" in its status).
fn umask_of(tid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// A device node asked for becomes an empty regular file of its
/// permissions: what a program that makes /dev entries in an image needs
/// to go on, and nothing a container could open as a device.
fn mknod(
    notify: &Listener,
    id: u64,
    tid: u32,
    dirfd: i32,
    addr: u64,
    mode: u32,
) -> Result<Answer, Errno> {
    let path = read_path(tid, addr)?;
    if !still_waiting(notify, id) {
        return Err(Errno::NOENT);
    }
    let trimmed = {
        let mut p = path.as_slice();
        while p.len() > 1 && p.ends_with(b"/") {
            p = &p[..p.len() - 1];
        }
        p
    };
    let (parent, name): (&[u8], &[u8]) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &trimmed[1..]),
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (b".", trimmed),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return Err(Errno::EXIST);
    }
    let dir = resolve(&open_root(tid)?, tid, dirfd, parent, true, true)?;
    let perms = mode & 0o7777 & !umask_of(tid);
    // O_EXCL: never through an existing name, a symlink included.
    let dir = rustix::fs::openat(
        &dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::fs::openat(
        &dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(perms),
    )?;
    Ok(Answer::Done)
}

const CAP_V1: u32 = 0x1998_0330;
const CAP_V2: u32 = 0x2007_1026;
const CAP_V3: u32 = 0x2008_0522;

/// A capability set of thread `tid` from its status ("CapPrm:", "CapBnd:").
fn caps_of(tid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// capset within what the kernel allows is done by the kernel; asking for
/// more than the process holds, but within its bounding set, succeeds
/// without effect (a program that dropped root by a setuid that did
/// nothing then raises capabilities it still has); beyond the bounding
/// set it fails as it would.
fn capset(notify: &Listener, id: u64, tid: u32, hdr: u64, data: u64) -> Result<Answer, Errno> {
    let Some(h) = read_memory(tid, hdr, 8) else {
        return Ok(Answer::Continue);
    };
    let version = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]);
    let pid = i32::from_ne_bytes([h[4], h[5], h[6], h[7]]);
    let words = match version {
        CAP_V1 => 1,
        CAP_V2 | CAP_V3 => 2,
        _ => return Ok(Answer::Continue),
    };
    if (pid != 0 && pid as u32 != tid) || data == 0 {
        return Ok(Answer::Continue);
    }
    let Some(d) = read_memory(tid, data, 12 * words) else {
        return Ok(Answer::Continue);
    };
    if !still_waiting(notify, id) {
        return Err(Errno::NOENT);
    }
    let word = |i: usize| u32::from_ne_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]) as u64;
    let mut asked = 0u64;
    for w in 0..words {
        // effective, permitted, inheritable
        for k in 0..3 {
            asked |= word(12 * w + 4 * k) << (32 * w);
        }
    }
    let (Some(permitted), Some(bounding)) = (caps_of(tid, "CapPrm:"), caps_of(tid, "CapBnd:"))
    else {
        return Ok(Answer::Continue);
    };
    if asked & !permitted == 0 {
        Ok(Answer::Continue)
    } else if asked & !(bounding | permitted) == 0 {
        Ok(Answer::Done)
    } else {
        Err(Errno::PERM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Creds {
        Creds {
            uid: [0; 4],
            gid: [0; 4],
            groups: vec![0],
        }
    }

    #[test]
    fn apts_drop_to_its_sandbox_user_holds_and_root_cannot_be_regained() {
        let mut c = root();
        let apt = 42;
        let nogroup = 65534;
        c.set("setresgid", [nogroup; 3]).unwrap();
        c.set("setresuid", [apt; 3]).unwrap();
        assert_eq!(c.uid, [apt; 4]);
        assert_eq!(c.gid, [nogroup; 4]);
        assert_eq!(c.set("setuid", [0, 0, 0]), Err(Errno::PERM));
        assert_eq!(c.set("setgid", [0, 0, 0]), Err(Errno::PERM));
        assert_eq!(
            c.set("setresuid", [UNCHANGED, 0, UNCHANGED]),
            Err(Errno::PERM)
        );
        // setfsuid returns the old value, and changes nothing it may not.
        assert_eq!(c.set("setfsuid", [0, 0, 0]), Ok(apt as u64));
        assert_eq!(c.uid[3], apt);
    }

    #[test]
    fn only_the_last_chowner_of_a_file_to_root_may_carry_an_owner_to_it() {
        let mut a = AskedRoot::default();
        let asked = |file, tid| Asked { file, tid, at: 1 };
        assert!(!a.pending(7), "a thread that chowned nothing");
        a.note(asked((1, 2), 7));
        a.note(asked((1, 3), 7));
        assert!(a.pending(7) && !a.pending(8));
        // Another thread's later chown of the file is the one that counts;
        // a take forgets the file either way.
        a.note(asked((1, 2), 8));
        assert_eq!(a.take((1, 2), 7), None);
        assert_eq!(a.take((1, 2), 7), Some(asked((1, 2), 7)));
        assert_eq!(a.take((1, 2), 7), None);
        assert!(a.pending(7) && !a.pending(8));
        assert_eq!(a.take((1, 3), 7), Some(asked((1, 3), 7)));
        assert!(!a.pending(7));
        // The oldest are forgotten beyond what is kept, with their counts.
        for i in 0..=ASKED_ROOT_KEPT as u64 {
            a.note(asked((2, i), 9 + (i == 0) as u32));
        }
        assert!(!a.pending(10));
        assert_eq!(a.take((2, 0), 10), None);
        assert_eq!(a.take((2, 1), 9), Some(asked((2, 1), 9)));
    }

    #[test]
    fn burrow_renames_only_a_plain_last_name() {
        assert_eq!(
            split_last(b"/etc/nshadow"),
            Some((&b"/etc"[..], &b"nshadow"[..]))
        );
        assert_eq!(split_last(b"/g"), Some((&b"/"[..], &b"g"[..])));
        assert_eq!(split_last(b"g"), Some((&b"."[..], &b"g"[..])));
        assert_eq!(split_last(b"a/../g"), Some((&b"a/.."[..], &b"g"[..])));
        for odd in [&b"/etc/"[..], b"/", b"", b".", b"a/..", b"a/."] {
            assert_eq!(split_last(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn a_thread_is_the_one_that_had_its_id_only_if_it_started_before() {
        let me = rustix::thread::gettid().as_raw_nonzero().get() as u32;
        assert!(same_thread(me, boot_time_ns()));
        // Booted before this thread started: another thread then.
        assert!(!same_thread(me, 0));
    }

    #[test]
    fn asking_for_the_ids_a_process_has_leaves_the_table_empty() {
        let null = rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .expect("open /dev/null");
        // Not a listener: the set*id calls never ask it anything.
        let l = Listener::new(null);
        let me = rustix::thread::gettid().as_raw_nonzero().get() as u32;
        let own = true_creds(me).expect("this thread's ids");
        let mut t = CredTable::default();
        let same = [own.uid[0], own.uid[1], own.uid[2]].map(u64::from);
        let args = [same[0], same[1], same[2], 0, 0, 0];
        assert_eq!(
            ids_call(&mut t, &l, 0, me, "setresuid", args),
            Ok(Answer::Value(0))
        );
        assert!(t.by_process.is_empty(), "an entry for the ids it had");
        assert_eq!(
            ids_call(&mut t, &l, 0, me, "getuid", [0; 6]),
            Ok(Answer::Continue)
        );
        // Another id is kept, and the get*id calls are answered from it.
        assert_eq!(
            ids_call(&mut t, &l, 0, me, "setresuid", [42, 42, 42, 0, 0, 0]),
            Ok(Answer::Value(0))
        );
        assert_eq!(
            ids_call(&mut t, &l, 0, me, "getuid", [0; 6]),
            Ok(Answer::Value(42))
        );
    }

    #[test]
    fn a_saved_id_lets_a_process_go_back_as_credentials_7_says() {
        let mut c = root();
        c.set("setreuid", [UNCHANGED, 1000, 0]).unwrap();
        // The effective id changed to one that is not the real one: saved
        // follows it.
        assert_eq!(c.uid, [0, 1000, 1000, 1000]);
        c.set("setresuid", [UNCHANGED, 0, UNCHANGED]).unwrap();
        assert_eq!(c.uid[1], 0);
        let mut d = root();
        d.set("setresuid", [0, 1000, 0]).unwrap();
        assert_eq!(d.uid, [0, 1000, 0, 1000]);
        d.set("setuid", [0, 0, 0]).unwrap();
        assert_eq!(d.uid, [0, 0, 0, 0]);
    }
}

/// The ids a process of the container believes it has: what it asked of
/// the set*id family, which the kernel cannot give with one id mapped. A
/// process never seen has its true ids (the kernel answers it); one that
/// changed its ids is answered from here, and its children inherit them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Creds {
    /// Real, effective, saved, filesystem.
    pub uid: [u32; 4],
    pub gid: [u32; 4],
    pub groups: Vec<u32>,
}

const UNCHANGED: u32 = u32::MAX;
/// What an unmapped id reads as (/proc/sys/kernel/overflowuid).
const OVERFLOW_ID: u32 = 65534;

impl Creds {
    fn privileged(&self) -> bool {
        self.uid[1] == 0
    }

    /// One of the set*id calls, as credentials(7) says (root being
    /// effective uid 0); the new ids, or EPERM.
    pub(crate) fn set(&mut self, call: &str, a: [u32; 3]) -> Result<u64, Errno> {
        let privileged = self.privileged();
        let (ids, is_uid) = match call {
            c if c.contains("uid") => (self.uid, true),
            _ => (self.gid, false),
        };
        let [r, e, s, fs] = ids;
        let may = |v: u32| privileged || v == r || v == e || v == s;
        let new = match call {
            "setuid" | "setgid" => {
                if privileged {
                    [a[0]; 4]
                } else if a[0] == r || a[0] == s {
                    [r, a[0], s, a[0]]
                } else {
                    return Err(Errno::PERM);
                }
            }
            "setreuid" | "setregid" => {
                let nr = if a[0] == UNCHANGED { r } else { a[0] };
                let ne = if a[1] == UNCHANGED { e } else { a[1] };
                if !privileged && ((a[0] != UNCHANGED && a[0] != r && a[0] != e) || !may(ne)) {
                    return Err(Errno::PERM);
                }
                let ns = if a[0] != UNCHANGED || (a[1] != UNCHANGED && ne != r) {
                    ne
                } else {
                    s
                };
                [nr, ne, ns, ne]
            }
            "setresuid" | "setresgid" => {
                if a.iter().any(|&v| v != UNCHANGED && !may(v)) {
                    return Err(Errno::PERM);
                }
                let pick = |v: u32, old: u32| if v == UNCHANGED { old } else { v };
                let ne = pick(a[1], e);
                [pick(a[0], r), ne, pick(a[2], s), ne]
            }
            "setfsuid" | "setfsgid" => {
                // Returns the old value whatever happens.
                if a[0] != UNCHANGED && (privileged || may(a[0]) || a[0] == fs) {
                    let mut n = ids;
                    n[3] = a[0];
                    self.store(is_uid, n);
                }
                return Ok(fs as u64);
            }
            _ => return Err(Errno::NOSYS),
        };
        self.store(is_uid, new);
        Ok(0)
    }

    fn store(&mut self, is_uid: bool, ids: [u32; 4]) {
        if is_uid {
            self.uid = ids;
        } else {
            self.gid = ids;
        }
    }
}

/// Reads "Uid:", "Gid:" and "Groups:" of /proc/TID/status, which show
/// the ids as this (the parent's) namespace sees them: with one id mapped,
/// ours is the container's 0 and any other is the overflow id.
fn true_creds(tid: u32) -> Option<Creds> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let (own_uid, own_gid) = (
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    );
    let inside = |v: u32, own: u32| if v == own { 0 } else { OVERFLOW_ID };
    let four = |field: &str, own: u32| -> Option<[u32; 4]> {
        let v: Vec<u32> = text
            .lines()
            .find_map(|l| l.strip_prefix(field))?
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .map(|x| inside(x, own))
            .collect();
        v.try_into().ok()
    };
    let groups = text
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .map(|x| inside(x, own_gid))
                .collect()
        })
        .unwrap_or_default();
    let (uid, gid) = (four("Uid:", own_uid)?, four("Gid:", own_gid)?);
    Some(Creds { uid, gid, groups })
}

/// A process's identity for the table: its thread group id and start time
/// (field 22 of /proc/PID/stat), so that a reused pid is a new process.
fn process_of(tid: u32) -> Option<(u32, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let tgid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))?
        .trim()
        .parse()
        .ok()?;
    Some((tgid, start_time(tgid)?))
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, which may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn parent_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse()
        .ok()
}

/// Processes that changed their ids, by (tgid, start time).
#[derive(Default)]
pub(crate) struct CredTable {
    by_process: std::collections::HashMap<u32, (u64, Creds)>,
}

impl CredTable {
    /// The emulated ids of `tid`'s process, or of its nearest ancestor
    /// that has some; `None`: its true ids.
    fn lookup(&self, tid: u32) -> Option<(u32, u64, Option<Creds>)> {
        let (tgid, start) = process_of(tid)?;
        let mut pid = tgid;
        for _ in 0..64 {
            if let Some((st, c)) = self.by_process.get(&pid) {
                if start_time(pid) == Some(*st) {
                    return Some((tgid, start, Some(c.clone())));
                }
            }
            match parent_of(pid) {
                Some(p) if p > 1 && p != pid => pid = p,
                _ => break,
            }
        }
        Some((tgid, start, None))
    }

    fn insert(&mut self, tgid: u32, start: u64, c: Creds) {
        if self.by_process.len() >= 4096 {
            self.by_process
                .retain(|pid, (st, _)| start_time(*pid) == Some(*st));
        }
        self.by_process.insert(tgid, (start, c));
    }
}

fn write_memory(tid: u32, addr: u64, data: &[u8]) -> Result<(), Errno> {
    if crate::notify::write_memory(tid, addr, data) {
        Ok(())
    } else {
        Err(Errno::FAULT)
    }
}

/// The set*id and get*id families against the table.
fn ids_call(
    table: &mut CredTable,
    notify: &Listener,
    id: u64,
    tid: u32,
    name: &str,
    args: [u64; 6],
) -> Result<Answer, Errno> {
    let is_get = name.starts_with("get");
    if is_get && table.by_process.is_empty() {
        // No process changed its ids: every answer is the kernel's, and
        // nothing need be read of the caller (most programs ask at start).
        return Ok(Answer::Continue);
    }
    let Some((tgid, start, known)) = table.lookup(tid) else {
        return Ok(Answer::Continue);
    };
    let inherited = known.is_some();
    let Some(mut creds) = known.or_else(|| (!is_get).then(|| true_creds(tid)).flatten()) else {
        // Never changed: the kernel's answer is the true one.
        return Ok(Answer::Continue);
    };
    // A process with no emulated ancestor that asks for the ids it has
    // (burrow's own set-up of the container's first process does) keeps
    // the kernel's answers: no entry, so the table stays empty and the
    // get*id calls of every later process need nothing read.
    let before = creds.clone();
    let keep = |table: &mut CredTable, creds: Creds| {
        if inherited || creds != before {
            table.insert(tgid, start, creds);
        }
    };
    let a = |i: usize| args[i] as u32;
    let value = match name {
        "getuid" => creds.uid[0] as u64,
        "geteuid" => creds.uid[1] as u64,
        "getgid" => creds.gid[0] as u64,
        "getegid" => creds.gid[1] as u64,
        "getresuid" | "getresgid" => {
            let ids = if name == "getresuid" {
                creds.uid
            } else {
                creds.gid
            };
            for (i, v) in ids[..3].iter().enumerate() {
                write_memory(tid, args[i], &v.to_ne_bytes())?;
            }
            0
        }
        "getgroups" => {
            let size = a(0) as usize;
            let n = creds.groups.len();
            if size != 0 {
                if size < n {
                    return Err(Errno::INVAL);
                }
                let bytes: Vec<u8> = creds.groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
                write_memory(tid, args[1], &bytes)?;
            }
            n as u64
        }
        "setgroups" => {
            if !creds.privileged() {
                return Err(Errno::PERM);
            }
            let n = a(0) as usize;
            if n > 65536 {
                return Err(Errno::INVAL);
            }
            let raw = if n == 0 {
                Vec::new()
            } else {
                read_memory(tid, args[1], 4 * n).ok_or(Errno::FAULT)?
            };
            creds.groups = raw
                .chunks_exact(4)
                .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if !still_waiting(notify, id) {
                return Err(Errno::NOENT);
            }
            keep(table, creds);
            0
        }
        set => {
            let r = creds.set(set, [a(0), a(1), a(2)])?;
            keep(table, creds);
            r
        }
    };
    Ok(Answer::Value(value))
}
