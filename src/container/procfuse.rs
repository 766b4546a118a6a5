//! The container's /proc view (see `procview`) served as a FUSE
//! filesystem: a flat directory of the files `FILES` names, each read from
//! the host's file and the container's cgroup at the time of the read and
//! shaped by `procview`'s pure functions. The server is a forked child of
//! the supervisor, in the container's user namespace, that reads nothing
//! but those fixed host files: no name a container sends reaches a path.
//! It never writes, never blocks on the container, and keeps a bounded
//! amount of state however the container opens and reads.

use super::procview::{self, CgroupFiles};
use crate::sandbox::{ProcViewFile, ProcViewHandle, ProcViewServer};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, LockOwner, OpenAccMode,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, Request,
};
use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The files of the view: the filesystem's entry, and where it is bound
/// in the container.
pub const FILES: [(&str, &str); 8] = [
    ("meminfo", "/proc/meminfo"),
    ("cpuinfo", "/proc/cpuinfo"),
    ("stat", "/proc/stat"),
    ("uptime", "/proc/uptime"),
    ("loadavg", "/proc/loadavg"),
    ("swaps", "/proc/swaps"),
    ("diskstats", "/proc/diskstats"),
    ("cpu_online", "/sys/devices/system/cpu/online"),
];

/// At most this many files of the view open at once in one container;
/// more opens fail with ENFILE. Each holds one snapshot of its file.
pub const MAX_OPEN: usize = 4096;

/// At most this many of the cgroup's tasks are looked at for
/// /proc/loadavg's running and total counts.
const MAX_TASKS: usize = 4096;

/// The files of the view as the sandbox binds them.
pub fn files() -> Vec<ProcViewFile> {
    FILES
        .iter()
        .map(|(name, dst)| ProcViewFile {
            name: (*name).into(),
            dst: (*dst).into(),
        })
        .collect()
}

/// Why the view's server stopped or did not start.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum ProcViewError {
    #[error("cannot enter the container's user namespace: {0}")]
    Userns(String),
    #[error("serving /dev/fuse: {0}")]
    Serve(String),
}

/// The server of `SandboxSpec::proc_view` (`sandbox::HostSide::proc_view`):
/// the container's cgroup directory (on the host), if it has one.
pub fn server(cgroup: Option<PathBuf>) -> ProcViewServer {
    ProcViewServer(std::sync::Arc::new(
        move |fuse: OwnedFd,
              userns: BorrowedFd|
              -> Result<ProcViewHandle, crate::sandbox::spec::NetSetupError> {
            let userns = userns.as_raw_fd();
            let cgroup = cgroup.clone();
            let how = crate::forked::Fork::new("the /proc view's server");
            let started = crate::forked::start::<(), (), ProcViewError, _>(how, move |_| {
                serve(fuse, userns, cgroup)
            })?;
            Ok(Box::new(started))
        },
    ))
}

/// The server for `SandboxSpec::sysinfo_server`: sysinfo(2) answered
/// with the numbers the view's files show, read the same way (the
/// container's cgroup directory, if it has one; uptime from the server's
/// start, which is the container's).
pub fn sysinfo_server(cgroup: Option<PathBuf>) -> crate::sandbox::SysinfoServer {
    crate::sandbox::SysinfoServer(std::sync::Arc::new(move || {
        Box::new(SysinfoCalls {
            view: View::new(cgroup.clone()),
        }) as Box<dyn crate::notify::Server>
    }))
}

/// Answers sysinfo(2) on the container's seccomp listener, in the
/// supervisor: the struct is written into the caller's memory only
/// (`Listener::write_to_caller`), at the address it gave.
struct SysinfoCalls {
    view: View,
}

impl crate::notify::Server for SysinfoCalls {
    fn serve(
        &mut self,
        listener: &crate::notify::Listener,
        n: &crate::notify::Notification,
    ) -> crate::notify::Response {
        use crate::notify::Response;
        if i64::from(n.data.nr) != libc::SYS_sysinfo {
            return Response::Continue;
        }
        let text = |name: &str| {
            FILES
                .iter()
                .position(|(f, _)| *f == name)
                .map(|i| self.view.render(i))
                .unwrap_or_default()
        };
        let v = procview::sysinfo(&text("meminfo"), &text("uptime"), &text("loadavg"));
        match listener.write_to_caller(n, n.data.args[0], &sysinfo_bytes(&v)) {
            Ok(()) => Response::Value(0),
            Err(errno) => Response::Failed(errno),
        }
    }
}

/// `v` laid out as this architecture's `struct sysinfo` (the native ABI's,
/// the only one notified), `mem_unit` 1 and no high memory.
fn sysinfo_bytes(v: &procview::Sysinfo) -> Vec<u8> {
    use std::mem::{offset_of, size_of};
    type Si = libc::sysinfo;
    let mut out = vec![0u8; size_of::<Si>()];
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    let long = |x: u64| {
        libc::c_long::try_from(x)
            .unwrap_or(libc::c_long::MAX)
            .to_ne_bytes()
    };
    #[allow(clippy::useless_conversion)] // c_ulong is u64 on 64-bit targets
    let ulong = |x: u64| {
        libc::c_ulong::try_from(x)
            .unwrap_or(libc::c_ulong::MAX)
            .to_ne_bytes()
    };
    put(offset_of!(Si, uptime), &long(v.uptime));
    for (i, l) in v.loads.iter().enumerate() {
        put(
            offset_of!(Si, loads) + i * size_of::<libc::c_ulong>(),
            &ulong(*l),
        );
    }
    put(offset_of!(Si, totalram), &ulong(v.totalram));
    put(offset_of!(Si, freeram), &ulong(v.freeram));
    put(offset_of!(Si, sharedram), &ulong(v.sharedram));
    put(offset_of!(Si, bufferram), &ulong(v.bufferram));
    put(offset_of!(Si, totalswap), &ulong(v.totalswap));
    put(offset_of!(Si, freeswap), &ulong(v.freeswap));
    put(offset_of!(Si, procs), &v.procs.to_ne_bytes());
    put(offset_of!(Si, mem_unit), &1u32.to_ne_bytes());
    out
}

/// The server's process: enters the user namespace of the container
/// (`userns`, an fd of its /proc/PID/ns/user), keeps no descriptor but /dev/fuse, and serves until
/// the container's mount of it goes away.
fn serve(fuse: OwnedFd, userns: i32, cgroup: Option<PathBuf>) -> Result<(), ProcViewError> {
    // SAFETY: prctl with plain integers: die with the supervisor, and
    // stay out of reach of ptrace and core dumps of the container's ids.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    // SAFETY: setns with a namespace fd inherited from the parent; this
    // process is single-threaded (forked from the single-threaded supervisor).
    if unsafe { libc::setns(userns, libc::CLONE_NEWUSER) } < 0 {
        return Err(ProcViewError::Userns(
            std::io::Error::last_os_error().to_string(),
        ));
    }
    // Nothing of the supervisor's stays open here: its stdio may be the
    // container's pipes, whose end the supervisor waits for.
    let raw = fuse.into_raw_fd();
    // SAFETY: dup2 and close_range on this process's own table; the fd
    // numbers given up are not used again (the OwnedFd was consumed).
    let fuse = unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        for target in 0..3 {
            libc::dup2(null, target);
        }
        if libc::dup2(raw, 3) < 0 {
            return Err(ProcViewError::Serve(
                std::io::Error::last_os_error().to_string(),
            ));
        }
        crate::forked::close_fds(4, u32::MAX);
        OwnedFd::from_raw_fd(3)
    };
    let notifier = std::sync::Arc::new(std::sync::OnceLock::new());
    let mut view = View::new(cgroup);
    view.notifier = notifier.clone();
    let mut config = fuser::Config::default();
    config.acl = fuser::SessionACL::All;
    let session = fuser::Session::from_fd(view, fuse, fuser::SessionACL::All, config)
        .map_err(|e| ProcViewError::Serve(e.to_string()))?;
    let _ = notifier.set(session.notifier());
    match session.run() {
        Ok(()) => Ok(()),
        // The container's mount went away.
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(ProcViewError::Serve(e.to_string())),
    }
}

const ROOT: u64 = 1;
/// Attributes are asked for at each stat: the size changes with the text.
const TTL: Duration = Duration::ZERO;

/// A file of `FILES` by its inode number (2 and up).
fn file_of(ino: INodeNo) -> Option<usize> {
    let i = usize::try_from(ino.0.checked_sub(2)?).ok()?;
    (i < FILES.len()).then_some(i)
}

/// The attributes of inode `ino`, a file of `size` bytes (its text now).
///
/// The size is the text's, not /proc's 0: from Linux 6.5 a splice from a
/// FUSE file (busybox `cat` uses sendfile) goes through the page cache
/// even with direct I/O, and ends at the size the kernel last heard.
fn attr(ino: u64, size: u64) -> FileAttr {
    let dir = ino == ROOT;
    let t = SystemTime::now();
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: 0,
        atime: t,
        mtime: t,
        ctime: t,
        crtime: t,
        kind: if dir {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: if dir { 0o555 } else { 0o444 },
        nlink: if dir { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

/// The open files: a snapshot of the file's text each, taken at open and
/// again at each read from offset 0 after the first (`top` rereads one
/// open file).
#[derive(Default)]
struct Open {
    next: u64,
    files: HashMap<u64, Snapshot>,
}

struct Snapshot {
    file: usize,
    text: Vec<u8>,
    read: bool,
}

/// The container's load average, advanced at each read of any file from
/// the CPU time its cgroup used since the last (`cpu.stat`): the average
/// number of its tasks on a CPU.
#[derive(Default)]
struct Load {
    avg: [f64; 3],
    last: Option<(Instant, u64)>,
}

struct View {
    cgroup: Option<PathBuf>,
    started: Instant,
    open: Mutex<Open>,
    load: Mutex<Load>,
    /// Tells the kernel a file's size at open (see `open`).
    notifier: std::sync::Arc<std::sync::OnceLock<fuser::Notifier>>,
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn host(path: &str) -> String {
    read(Path::new(path)).unwrap_or_default()
}

impl View {
    /// The view of the container in `cgroup`, started now.
    fn new(cgroup: Option<PathBuf>) -> View {
        View {
            cgroup,
            started: Instant::now(),
            open: Mutex::new(Open::default()),
            load: Mutex::new(Load::default()),
            notifier: Default::default(),
        }
    }

    fn cg(&self, file: &str) -> Option<String> {
        read(&self.cgroup.as_ref()?.join(file))
    }

    fn cgroup_files(&self) -> CgroupFiles {
        CgroupFiles {
            memory_max: self.cg("memory.max"),
            memory_current: self.cg("memory.current"),
            memory_stat: self.cg("memory.stat"),
            swap_max: self.cg("memory.swap.max"),
            swap_current: self.cg("memory.swap.current"),
            cpu_max: self.cg("cpu.max"),
            cpuset: self.cg("cpuset.cpus.effective"),
        }
    }

    fn host_cpus() -> Vec<u32> {
        procview::parse_cpu_list(&host("/sys/devices/system/cpu/online")).unwrap_or_default()
    }

    /// The CPU time (µs) the container's cgroup has used.
    fn usage_usec(&self) -> Option<u64> {
        self.cg("cpu.stat")?.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == "usage_usec").then(|| v.trim().parse().ok())?
        })
    }

    /// Advances the load average to now.
    fn sample_load(&self) -> [f64; 3] {
        let Ok(mut load) = self.load.lock() else {
            return [0.0; 3];
        };
        let now = Instant::now();
        let Some(usage) = self.usage_usec() else {
            return load.avg;
        };
        match load.last {
            Some((at, before)) => {
                let secs = now.duration_since(at).as_secs_f64();
                if secs >= 1.0 {
                    let busy = usage.saturating_sub(before) as f64 / 1e6 / secs;
                    load.avg = procview::loadavg_step(load.avg, busy, secs);
                    load.last = Some((now, usage));
                }
            }
            None => load.last = Some((now, usage)),
        }
        load.avg
    }

    /// Running and total tasks of the cgroup, and the newest pid of the
    /// container's pid namespace among them.
    fn tasks(&self) -> Option<(usize, usize, u32)> {
        let threads = self.cg("cgroup.threads")?;
        let (mut running, mut total, mut last) = (0, 0, 0u32);
        for tid in threads.lines().take(MAX_TASKS) {
            let Ok(tid) = tid.trim().parse::<u32>() else {
                continue;
            };
            total += 1;
            let stat = host(&format!("/proc/{tid}/stat"));
            if let Some((_, rest)) = stat.rsplit_once(')') {
                if rest.trim_start().starts_with('R') {
                    running += 1;
                }
            }
            let status = host(&format!("/proc/{tid}/status"));
            if let Some(ns) = status.lines().find_map(|l| l.strip_prefix("NSpid:")) {
                if let Some(pid) = ns.split_whitespace().last().and_then(|p| p.parse().ok()) {
                    last = last.max(pid);
                }
            }
        }
        Some((running, total, last))
    }

    /// The text of `FILES[i]` now.
    fn render(&self, i: usize) -> String {
        let load = self.sample_load();
        let cg = self.cgroup_files();
        let host_cpus = Self::host_cpus();
        let visible = procview::visible_cpus(&host_cpus, &cg);
        match FILES[i].0 {
            "meminfo" => procview::meminfo(&host("/proc/meminfo"), &cg),
            "cpuinfo" => procview::cpuinfo(&host("/proc/cpuinfo"), &visible),
            "stat" => procview::stat(&host("/proc/stat"), &visible),
            "uptime" => procview::uptime(
                self.started.elapsed().as_secs_f64(),
                &host("/proc/uptime"),
                host_cpus.len(),
                visible.len(),
            ),
            "loadavg" => match (self.usage_usec(), self.tasks()) {
                (Some(_), Some((running, total, last))) => {
                    procview::loadavg(load, running, total, last)
                }
                // No cgroup to count from: the host's.
                _ => host("/proc/loadavg"),
            },
            "swaps" => procview::swaps(&cg, &host("/proc/meminfo")),
            "diskstats" => match self.cg("io.stat") {
                Some(io) => procview::diskstats(&host("/proc/diskstats"), &io),
                None => host("/proc/diskstats"),
            },
            _ => procview::cpu_online(&visible),
        }
    }
}

impl fuser::Filesystem for View {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent.0 != ROOT {
            return reply.error(Errno::ENOTDIR);
        }
        match FILES.iter().position(|(n, _)| OsStr::new(n) == name) {
            Some(i) => {
                let size = self.render(i).len() as u64;
                reply.entry(&TTL, &attr(i as u64 + 2, size), Generation(0))
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino.0 == ROOT {
            return reply.attr(&TTL, &attr(ROOT, 0));
        }
        let Some(i) = file_of(ino) else {
            return reply.error(Errno::ENOENT);
        };
        // fstat of an open file: the size of what it reads.
        let held = fh.and_then(|fh| {
            let open = self.open.lock().ok()?;
            open.files.get(&fh.0).map(|s| s.text.len())
        });
        let size = held.unwrap_or_else(|| self.render(i).len());
        reply.attr(&TTL, &attr(ino.0, size as u64))
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let Some(i) = file_of(ino) else {
            return reply.error(Errno::EISDIR);
        };
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EACCES);
        }
        let Ok(mut open) = self.open.lock() else {
            return reply.error(Errno::EIO);
        };
        if open.files.len() >= MAX_OPEN {
            return reply.error(Errno::ENFILE);
        }
        let text = self.render(i).into_bytes();
        // The kernel's idea of the size may be older and shorter than
        // this text: a store of nothing at its end makes it at least as
        // long (a short read then sets it exactly). Without the call
        // (kernels before FUSE 7.15) splices may end early.
        if let Some(n) = self.notifier.get() {
            let _ = n.store(ino, text.len() as u64, &[]);
        }
        open.next += 1;
        let fh = open.next;
        open.files.insert(
            fh,
            Snapshot {
                file: i,
                text,
                read: false,
            },
        );
        // Reads come here, not from a cache (but see `attr`).
        reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO)
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Ok(mut open) = self.open.lock() else {
            return reply.error(Errno::EIO);
        };
        let Some(snap) = open.files.get_mut(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        // The first read gives the text of the open, whose size the
        // kernel was told; a later read from 0 is a reader starting over.
        if offset == 0 && snap.read {
            snap.text = self.render(snap.file).into_bytes();
        }
        snap.read = true;
        let text = &snap.text;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(text.len());
        let end = start.saturating_add(size as usize).min(text.len());
        reply.data(&text[start..end])
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if let Ok(mut open) = self.open.lock() {
            open.files.remove(&fh.0);
        }
        reply.ok()
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if ino.0 == ROOT {
            reply.opened(FileHandle(0), FopenFlags::empty())
        } else {
            reply.error(Errno::ENOTDIR)
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if ino.0 != ROOT {
            return reply.error(Errno::ENOTDIR);
        }
        let entries = [
            (ROOT, FileType::Directory, "."),
            (ROOT, FileType::Directory, ".."),
        ]
        .into_iter()
        .chain(
            FILES
                .iter()
                .enumerate()
                .map(|(i, (n, _))| (i as u64 + 2, FileType::RegularFile, *n)),
        );
        for (k, (ino, kind, name)) in entries.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), k as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysinfo_is_laid_out_as_the_kernels_struct() {
        let v = procview::Sysinfo {
            uptime: 11,
            loads: [1, 2, 3],
            totalram: 64 << 20,
            freeram: 48 << 20,
            sharedram: 5,
            bufferram: 6,
            totalswap: 7,
            freeswap: 8,
            procs: 9,
        };
        let bytes = sysinfo_bytes(&v);
        assert_eq!(bytes.len(), std::mem::size_of::<libc::sysinfo>());
        // SAFETY: `bytes` holds size_of::<sysinfo>() bytes, and every bit
        // pattern is a valid sysinfo (integers only); read_unaligned
        // needs no alignment.
        let si: libc::sysinfo = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
        assert_eq!(si.uptime, 11);
        assert_eq!(si.loads, [1, 2, 3]);
        assert_eq!((si.totalram, si.freeram), (64 << 20, 48 << 20));
        assert_eq!((si.sharedram, si.bufferram), (5, 6));
        assert_eq!((si.totalswap, si.freeswap), (7, 8));
        assert_eq!((si.procs, si.mem_unit), (9, 1));
        assert_eq!((si.totalhigh, si.freehigh), (0, 0));
    }

    #[test]
    fn every_file_has_its_own_inode_and_no_other_name_resolves() {
        for i in 0..FILES.len() {
            assert_eq!(file_of(INodeNo(i as u64 + 2)), Some(i));
        }
        assert_eq!(file_of(INodeNo(ROOT)), None);
        assert_eq!(file_of(INodeNo(0)), None);
        assert_eq!(file_of(INodeNo(FILES.len() as u64 + 2)), None);
        assert_eq!(file_of(INodeNo(u64::MAX)), None);
        assert_eq!(attr(2, 10).perm, 0o444);
    }
}
