//! One user namespace per user and id map (the full subordinate map, and
//! keep-id's), kept alive by a small holder process, so that a container
//! enters it with setns
//! instead of running the set-uid newuidmap and newgidmap (a millisecond or
//! more each) for a namespace of its own. Owns the holder's record and lock
//! in a directory the caller names (under the runtime dir); never runs
//! anything of a container, and never outlives its idle time.
//!
//! The record says which process holds which map. A reader trusts it only
//! after opening the namespace: the holder's start time must still match
//! (a reused pid shows another), and the map must be the one asked for (a
//! changed /etc/subuid starts a new holder; the old one sees the record is
//! no longer its own and exits).

use super::join::process_start_time as start_time;
use super::sys;
use super::userns::{self, IdMap};
use crate::lockfile::{self, FileLock, LockKind};
use rustix::fd::{AsRawFd, OwnedFd};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A holder per id map (your default one, and keep-id's): its record is
/// `holder-HASH.json` in the directory, its lock `holder-HASH.lock`, HASH
/// the first 128 bits of the map's SHA-256, the same for every build of
/// burrow. (Records named by older builds, 64-bit names, are never looked
/// up; their holders end when idle, and `system reset` ends them too.)
fn record_path(dir: &Path, map: &IdMap) -> PathBuf {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(serde_json::to_vec(map).unwrap_or_default());
    dir.join(format!("holder-{}.json", hex::encode(&digest[..16])))
}

fn is_record(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("holder-") && n.ends_with(".json"))
}

/// The argument that makes `burrow` the holder (see `main`).
pub const HOLD_ARG: &str = "__userns-holder";

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    pid: i32,
    /// /proc/PID/stat's start time: the pid's identity.
    start: u64,
    map: IdMap,
    /// The holder keeps a network namespace of its own too, for the
    /// user's networks (`hold_network`). A holder without one (an older
    /// build's) is not used: a new one takes its place.
    #[serde(default)]
    net: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HolderError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Userns(#[from] userns::UsernsError),
    #[error(transparent)]
    Lock(#[from] crate::lockfile::LockError),
    #[error("{call}: {}", sys::errno_text(*errno))]
    Sys { call: &'static str, errno: i32 },
    /// The process that starts the holder failed or died.
    #[error(transparent)]
    Helper(#[from] crate::forked::ForkError),
}

/// The starter's answer when it could not make the holder: the errno of
/// clone3(CLONE_NEWUSER), typed across the process boundary.
#[derive(Debug, Serialize, Deserialize)]
struct CloneFailed {
    errno: i32,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> HolderError {
    let path = path.to_path_buf();
    move |source| HolderError::Io { what, path, source }
}

/// An fd of the held user namespace with `map`, for setns; starts a holder
/// (running newuidmap and newgidmap once) when none is alive. `keep_alive`
/// is how long the holder waits for the next container before it exits.
///
/// The caller must be single-threaded: starting a holder forks.
pub fn open(dir: &Path, map: &IdMap, keep_alive: Duration) -> Result<OwnedFd, HolderError> {
    let record = record_path(dir, map);
    if let Some(fd) = open_recorded(&record, map) {
        return Ok(fd);
    }
    // Not recursive: a runtime dir removed meanwhile (a logout, a reset)
    // is not made again just to hold a namespace in it.
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(io("creating", dir)(e))
        }
        _ => {}
    }
    let _lock = lock(&record)?;
    // Another burrow may have started one while this one waited.
    if let Some(fd) = open_recorded(&record, map) {
        return Ok(fd);
    }
    start(&record, map, keep_alive)
}

fn lock(record: &Path) -> Result<FileLock, HolderError> {
    Ok(lockfile::lock_file(
        &record.with_extension("lock"),
        LockKind::Exclusive,
    )?)
}

/// The lock that containers on the user's networks hold shared while
/// they live: the holder does not end while one of them does.
fn net_lock_path(record: &Path) -> PathBuf {
    record.with_extension("net")
}

/// The holder of a map, kept alive for a container on the user's
/// networks: its pidfd (to enter its user and network namespaces) and
/// the shared lock that keeps it from ending while this lives.
pub struct NetworkHold {
    pub pid: i32,
    pub pidfd: OwnedFd,
    _lock: FileLock,
}

/// Holds the holder of `map` (starting one if none is alive) for a
/// container on the user's networks. Single-threaded callers only.
pub fn hold_network(
    dir: &Path,
    map: &IdMap,
    keep_alive: Duration,
) -> Result<NetworkHold, HolderError> {
    let record = record_path(dir, map);
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(io("creating", dir)(e))
        }
        _ => {}
    }
    // Shared, taken before the record is read: a holder that is ending
    // holds it exclusively until it has removed its record.
    let lock = lockfile::lock_file(&net_lock_path(&record), LockKind::Shared)?;
    let _ns = open(dir, map, keep_alive)?;
    let gone = HolderError::Sys {
        call: "find the user-namespace holder",
        errno: libc::ESRCH,
    };
    let rec = read_record(&record).ok_or(gone)?;
    let pidfd = super::join::pidfd_open(rec.pid).map_err(|_| HolderError::Sys {
        call: "pidfd_open the user-namespace holder",
        errno: libc::ESRCH,
    })?;
    // Checked after the pidfd pins the process.
    if start_time(rec.pid) != Some(rec.start) {
        return Err(HolderError::Sys {
            call: "find the user-namespace holder",
            errno: libc::ESRCH,
        });
    }
    Ok(NetworkHold {
        pid: rec.pid,
        pidfd,
        _lock: lock,
    })
}

fn read_record(record: &Path) -> Option<Record> {
    serde_json::from_slice(&std::fs::read(record).ok()?).ok()
}

/// The namespace of the holder of `map` recorded in `dir`, if it is alive.
pub fn open_live(dir: &Path, map: &IdMap) -> Option<OwnedFd> {
    open_recorded(&record_path(dir, map), map)
}

fn open_recorded(record: &Path, map: &IdMap) -> Option<OwnedFd> {
    let rec = read_record(record)?;
    if rec.map != *map || !rec.net {
        return None;
    }
    let ns = rustix::fs::open(
        format!("/proc/{}/ns/user", rec.pid).as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    // Checked after the open: the fd is the holder's namespace only if
    // the pid still names the holder now.
    if start_time(rec.pid)? != rec.start {
        return None;
    }
    // The holder's idle clock starts again.
    let now = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    let _ = rustix::fs::utimensat(
        rustix::fs::CWD,
        record,
        &rustix::fs::Timestamps {
            last_access: now,
            last_modification: now,
        },
        rustix::fs::AtFlags::empty(),
    );
    Some(ns)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), HolderError> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| HolderError::Sys {
        call: "pipe2",
        errno: e.raw_os_error(),
    })
}

/// Starts a holder: a process in a new user namespace, not a child of
/// this one (an intermediate fork exits at once), so no supervisor or
/// shell ever has to reap it. Its maps are written from here, then the
/// record, then it is let go.
fn start(record: &Path, map: &IdMap, keep_alive: Duration) -> Result<OwnedFd, HolderError> {
    let (go_r, go_w) = pipe()?;
    // The starter (run_forked's child) clones the holder into a new user
    // namespace, answers with its pid and exits, so the holder is nobody's
    // child here. The go pipe lets the holder on once its maps and record
    // are written; the parent's copy of its read end goes with the closure.
    let how = crate::forked::Fork {
        // As before run_forked: `open`'s callers are single-threaded, and
        // the starter's clone3 needs only itself to be.
        single_threaded: false,
        ..crate::forked::Fork::new("the user-namespace holder's starter")
    };
    let go_w_in_child = go_w.as_raw_fd();
    let pid = crate::forked::run_forked(how, move || {
        // SAFETY: the starter's copy of the go pipe's write end, which
        // nothing in the starter uses: the holder must not inherit it, or
        // it would wait for ever when this process drops its end unwritten.
        unsafe { libc::close(go_w_in_child) };
        // SAFETY: the forked starter is single-threaded; the holder runs
        // only `hold_after_maps`, which ends in exec or exit.
        match unsafe { sys::clone3((libc::CLONE_NEWUSER | libc::CLONE_NEWNET) as u64) } {
            Ok(sys::Forked::Child) => hold_after_maps(go_r, record, keep_alive),
            Ok(sys::Forked::Parent { pid, .. }) => Ok(pid),
            Err(e) => Err(CloneFailed {
                errno: e.raw_os_error(),
            }),
        }
    })?
    .map_err(|e| HolderError::Sys {
        call: "clone3 a user namespace for the holder",
        errno: e.errno,
    })?;
    // On any failure below, go_w closes unwritten and the holder exits.
    // A single-id map (no subordinate ids: held for the user's networks)
    // needs no set-uid helper.
    if map.is_single() {
        userns::write_single_map_of(map, nix::unistd::Pid::from_raw(pid))?;
    } else {
        userns::write_maps(map, nix::unistd::Pid::from_raw(pid))?;
    }
    let ns_path = format!("/proc/{pid}/ns/user");
    let ns = rustix::fs::open(
        ns_path.as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io("opening", Path::new(&ns_path))(e.into()))?;
    let start = start_time(pid).ok_or(HolderError::Sys {
        call: "read the holder's start time",
        errno: libc::ESRCH,
    })?;
    let rec = Record {
        pid,
        start,
        map: map.clone(),
        net: true,
    };
    let path = record;
    let tmp = record.with_extension(format!("tmp.{pid}"));
    let text = serde_json::to_vec(&rec).unwrap_or_default();
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io("writing", path)(e)
        })?;
    let _ = rustix::io::write(&go_w, b"g");
    Ok(ns)
}

/// The holder, before it is let go: waits for its maps and its record,
/// leaves the caller's session and files, and becomes `burrow
/// __userns-holder` (a small, clearly named process); if that exec fails
/// it holds as it is.
fn hold_after_maps(go: OwnedFd, record: &Path, keep_alive: Duration) -> ! {
    let mut b = [0u8; 1];
    if !matches!(rustix::io::read(&go, &mut b), Ok(1)) {
        // SAFETY: ends this forked process.
        unsafe { libc::_exit(1) }
    }
    let _ = rustix::process::setsid();
    // It must not keep the directory it was started from busy (a mount
    // its owner wants to unmount).
    let _ = rustix::process::chdir("/");
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    // SAFETY: opening /dev/null and moving it over stdio, in this forked
    // process whose stdio nothing here uses.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
        }
    }
    // Every other fd: a pipe someone waits to see closed must not stay
    // open here.
    crate::forked::close_fds(3, u32::MAX);
    let args = [
        std::ffi::CString::new("burrow").ok(),
        std::ffi::CString::new(HOLD_ARG).ok(),
        std::ffi::CString::new(record.as_os_str().as_encoded_bytes()).ok(),
        std::ffi::CString::new(keep_alive.as_secs().to_string()).ok(),
    ];
    if let [Some(a0), Some(a1), Some(a2), Some(a3)] = &args {
        let argv = [
            a0.as_ptr(),
            a1.as_ptr(),
            a2.as_ptr(),
            a3.as_ptr(),
            std::ptr::null(),
        ];
        // SAFETY: a NUL-terminated argv of valid C strings; the
        // environment is passed on as it is.
        unsafe { libc::execv(c"/proc/self/exe".as_ptr(), argv.as_ptr()) };
    }
    std::process::exit(hold(record, keep_alive))
}

/// The holder's life: it exits once its record is gone or names another
/// process (checked at least every 30 s), or nobody has entered its
/// namespace for `keep_alive`.
/// Containers already running in the namespace are not affected.
pub fn hold(record: &Path, keep_alive: Duration) -> i32 {
    let me = std::process::id() as i32;
    let path = record;
    loop {
        let mine = read_record(record).is_some_and(|r| r.pid == me);
        if !mine {
            return 0;
        }
        let idle = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        if idle >= keep_alive {
            // Not while a container is on one of the user's networks: their
            // bridges live in this process's network namespace. The lock
            // stays taken until the end, so that no container comes
            // to use the namespace meanwhile (see `hold_network`).
            let net_lock = lockfile::try_lock_file(&net_lock_path(record), LockKind::Exclusive);
            if let Ok(Some(_net_lock)) = net_lock {
                // Under the lock, so a run that just found the record has
                // its fd already (the namespace outlives the holder
                // through it).
                if let Ok(_lock) = lock(record) {
                    if read_record(record).is_some_and(|r| r.pid == me) {
                        let _ = std::fs::remove_file(path);
                    }
                }
                return 0;
            }
            std::thread::sleep(Duration::from_secs(5));
            continue;
        }
        // Awake at least twice a minute, so that a record removed with its
        // runtime dir (a logout, a reset) ends it soon.
        std::thread::sleep(
            (keep_alive - idle + Duration::from_secs(1)).min(Duration::from_secs(30)),
        );
    }
}

/// Ends every holder recorded in `dir` (`system reset`).
pub fn stop(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()).filter(|p| is_record(p)) {
        stop_one(&path);
    }
}

fn stop_one(record: &Path) {
    let Some(rec) = read_record(record) else {
        let _ = std::fs::remove_file(record);
        return;
    };
    if let Ok(pidfd) = super::join::pidfd_open(rec.pid) {
        // Checked after the pidfd pins the process: the pid is the holder.
        if start_time(rec.pid) == Some(rec.start) {
            let _ = super::join::pidfd_signal(&pidfd, libc::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(record);
}

/// What the go-between of `spawn` reported: the container's pid, or the
/// errno of the step that failed.
pub(crate) fn read_report(report: OwnedFd) -> Result<i32, i32> {
    let mut buf = [0u8; 4];
    match std::fs::File::from(report).read_exact(&mut buf) {
        Ok(()) => match i32::from_ne_bytes(buf) {
            pid if pid > 0 => Ok(pid),
            e => Err(-e),
        },
        Err(_) => Err(libc::EIO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn write_record(dir: &Path, pid: i32, start: u64, map: &IdMap) {
        let rec = Record {
            pid,
            start,
            map: map.clone(),
            net: true,
        };
        std::fs::write(record_path(dir, map), serde_json::to_vec(&rec).unwrap()).unwrap();
    }

    fn me() -> (i32, u64) {
        let pid = std::process::id() as i32;
        (pid, start_time(pid).expect("own start time"))
    }

    #[test]
    fn a_record_is_trusted_only_for_its_live_process_and_its_map() {
        let d = tempfile::tempdir().unwrap();
        let map = IdMap::single(1000, 1000);
        let (pid, start) = me();

        write_record(d.path(), pid, start, &map);
        let fd = open_live(d.path(), &map).expect("our own record is live");
        let ours = std::fs::metadata("/proc/self/ns/user").unwrap().ino();
        assert_eq!(rustix::fs::fstat(&fd).unwrap().st_ino as u64, ours);

        assert!(
            open_live(d.path(), &IdMap::single(1000, 1001)).is_none(),
            "another map"
        );
        write_record(d.path(), pid, start + 1, &map);
        assert!(open_live(d.path(), &map).is_none(), "a reused pid");
        let child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id() as i32;
        let mut child = child;
        child.wait().unwrap();
        write_record(d.path(), gone, start, &map);
        assert!(open_live(d.path(), &map).is_none(), "a dead pid");
        std::fs::write(record_path(d.path(), &map), b"{\"pid\": \"no\"").unwrap();
        assert!(open_live(d.path(), &map).is_none(), "a torn record");
        assert!(read_record(&record_path(d.path(), &map)).is_none());
    }

    #[test]
    fn hold_ends_when_the_record_names_another_or_it_sat_idle() {
        let d = tempfile::tempdir().unwrap();
        let map = IdMap::single(1000, 1000);
        let (pid, start) = me();
        let rec = record_path(d.path(), &map);
        // Another holder's record: this one is not needed.
        write_record(d.path(), pid + 1, start, &map);
        assert_eq!(hold(&rec, Duration::from_secs(3600)), 0);
        assert!(rec.exists(), "not its record to remove");

        // Its own record, untouched for longer than keep_alive.
        write_record(d.path(), pid, start, &map);
        let old = rustix::fs::Timespec {
            tv_sec: std::time::SystemTime::now()
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                - 7200,
            tv_nsec: 0,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            rec.clone(),
            &rustix::fs::Timestamps {
                last_access: old,
                last_modification: old,
            },
            rustix::fs::AtFlags::empty(),
        )
        .unwrap();
        assert_eq!(hold(&rec, Duration::from_secs(3600)), 0);
        assert!(!rec.exists(), "an idle holder removes its record");
    }

    #[test]
    fn record_names_are_the_same_for_every_build() {
        // The map's JSON, SHA-256, first 128 bits: no hasher that may
        // change between Rust releases names a file on disk.
        let d = Path::new("/run/user/1000/burrow");
        assert_eq!(
            record_path(d, &IdMap::single(1000, 1000)),
            d.join("holder-c7cbb317fd95ff20d3aee92c27c15132.json")
        );
    }

    #[test]
    fn a_record_named_by_an_older_build_is_never_used_and_stop_clears_it() {
        let d = tempfile::tempdir().unwrap();
        let map = IdMap::single(1000, 1000);
        let (pid, start) = me();
        let old = d.path().join("holder-0123456789abcdef.json");
        let rec = Record {
            pid,
            start,
            map: map.clone(),
            net: true,
        };
        std::fs::write(&old, serde_json::to_vec(&rec).unwrap()).unwrap();
        assert!(open_live(d.path(), &map).is_none());
        // Its process is this test: stop must not kill a live non-holder
        // whose record is stale, so point it at a dead pid first.
        let dead = Record {
            pid: i32::MAX - 3,
            start: 1,
            map,
            net: true,
        };
        std::fs::write(&old, serde_json::to_vec(&dead).unwrap()).unwrap();
        stop(d.path());
        assert!(!old.exists());
    }

    #[test]
    fn each_map_has_its_own_record_and_stop_clears_them_all() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (IdMap::single(1000, 1000), IdMap::single(1001, 1001));
        assert_ne!(record_path(d.path(), &a), record_path(d.path(), &b));
        assert_eq!(record_path(d.path(), &a), record_path(d.path(), &a.clone()));
        // Records naming dead processes: stop removes them, kills nothing.
        write_record(d.path(), i32::MAX - 1, 1, &a);
        write_record(d.path(), i32::MAX - 2, 1, &b);
        std::fs::write(d.path().join("other.json"), b"{}").unwrap();
        stop(d.path());
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("other.json")]);
    }
}
