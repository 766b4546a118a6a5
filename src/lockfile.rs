//! burrow's one way to hold a file lock: flock(2) on a lock file (made if
//! missing, mode 0600) or on an entry that exists. Every fd is opened
//! close-on-exec, so no program burrow executes (a container's command
//! above all) inherits a lock. A lock lasts while its `FileLock` lives
//! (and, as flock's do, while a forked child keeps the fd).
//! It imports nothing of burrow: every module may use it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("opening the lock file {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("locking {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
}

/// Shared (many holders) or exclusive (one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// The locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open lock file (its fd holds the lock).
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Takes `kind` on the lock file `path` (made if missing), waiting for
/// whoever holds it.
pub fn lock_file(path: &Path, kind: LockKind) -> Result<FileLock, LockError> {
    let file = open_lock_file(path)?;
    flock(file, path, kind, true).map(|l| l.expect("a blocking lock is taken"))
}

/// As `lock_file`, without waiting: `None` when another holds it.
pub fn try_lock_file(path: &Path, kind: LockKind) -> Result<Option<FileLock>, LockError> {
    let file = open_lock_file(path)?;
    flock(file, path, kind, false)
}

/// Takes `kind` on `path`, a file or directory that must exist (it is
/// opened read-only, not made), without waiting: `None` when another
/// holds it.
pub fn try_lock_existing(path: &Path, kind: LockKind) -> Result<Option<FileLock>, LockError> {
    flock(open_existing(path)?, path, kind, false)
}

/// As `try_lock_existing`, waiting for whoever holds it.
pub fn lock_existing(path: &Path, kind: LockKind) -> Result<FileLock, LockError> {
    flock(open_existing(path)?, path, kind, true).map(|l| l.expect("a blocking lock is taken"))
}

/// Takes `kind` on `file`, already open at `path` (made by the caller),
/// without waiting: `None` when another holds it.
pub fn try_lock_open(
    file: File,
    path: &Path,
    kind: LockKind,
) -> Result<Option<FileLock>, LockError> {
    flock(file, path, kind, false)
}

/// Whether someone holds `path` exclusively now; a missing file is held
/// by no one. Never waits, and makes nothing.
pub fn is_held(path: &Path) -> bool {
    matches!(try_lock_existing(path, LockKind::Shared), Ok(None))
}

/// Whether another open file holds a lock of either kind on `file`'s
/// now (a reader on a file this process writes): an exclusive lock tried
/// without waiting and let go at once. `file` itself must hold none: its
/// own would be converted, and let go. A failure to tell counts as held.
pub fn held_by_others(file: &File) -> bool {
    use rustix::fs::FlockOperation as Op;
    let free = rustix::fs::flock(file, Op::NonBlockingLockExclusive).is_ok();
    if free {
        let _ = rustix::fs::flock(file, Op::Unlock);
    }
    !free
}

/// The error as an I/O error of the same kind, naming the path: for
/// callers that speak `io::Result`.
impl From<LockError> for io::Error {
    fn from(e: LockError) -> io::Error {
        let kind = match &e {
            LockError::Open { source, .. } | LockError::Lock { source, .. } => source.kind(),
        };
        io::Error::new(kind, e)
    }
}

fn open_existing(path: &Path) -> Result<File, LockError> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| LockError::Open {
            path: path.to_path_buf(),
            source,
        })
}

fn open_lock_file(path: &Path) -> Result<File, LockError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| LockError::Open {
            path: path.to_path_buf(),
            source,
        })
}

fn flock(
    file: File,
    path: &Path,
    kind: LockKind,
    wait: bool,
) -> Result<Option<FileLock>, LockError> {
    use rustix::fs::FlockOperation as Op;
    let op = match (kind, wait) {
        (LockKind::Shared, true) => Op::LockShared,
        (LockKind::Shared, false) => Op::NonBlockingLockShared,
        (LockKind::Exclusive, true) => Op::LockExclusive,
        (LockKind::Exclusive, false) => Op::NonBlockingLockExclusive,
    };
    loop {
        match rustix::fs::flock(&file, op) {
            Ok(()) => {
                return Ok(Some(FileLock {
                    file,
                    path: path.to_path_buf(),
                }))
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::WOULDBLOCK) if !wait => return Ok(None),
            Err(e) => {
                return Err(LockError::Lock {
                    path: path.to_path_buf(),
                    source: e.into(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusive_lock_excludes_and_a_shared_one_shares() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x.lock");
        assert!(!is_held(&path), "a missing file is held by no one");
        assert!(!path.exists(), "testing makes nothing");
        let held = lock_file(&path, LockKind::Exclusive).unwrap();
        assert!(is_held(&path));
        assert!(try_lock_file(&path, LockKind::Shared).unwrap().is_none());
        assert!(try_lock_file(&path, LockKind::Exclusive).unwrap().is_none());
        drop(held);
        assert!(!is_held(&path));
        let a = try_lock_file(&path, LockKind::Shared).unwrap().unwrap();
        let b = lock_file(&path, LockKind::Shared).unwrap();
        assert!(!is_held(&path), "shared holders do not read as held");
        assert!(try_lock_file(&path, LockKind::Exclusive).unwrap().is_none());
        drop((a, b));
        let dir = try_lock_existing(d.path(), LockKind::Exclusive)
            .unwrap()
            .unwrap();
        assert!(try_lock_existing(d.path(), LockKind::Exclusive)
            .unwrap()
            .is_none());
        drop(dir);
    }

    #[test]
    fn a_blocking_lock_of_an_existing_file_and_a_probe_of_others_locks() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x.log");
        let e = lock_existing(&path, LockKind::Shared).unwrap_err();
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::NotFound);
        assert!(!path.exists(), "made nothing");
        std::fs::write(&path, b"x").unwrap();
        let writer = File::open(&path).unwrap();
        assert!(!held_by_others(&writer));
        let reader = lock_existing(&path, LockKind::Shared).unwrap();
        assert!(held_by_others(&writer));
        assert!(held_by_others(&writer), "the probe took nothing");
        drop(reader);
        assert!(!held_by_others(&writer));
        // The probe let go of what it took: a reader gets its lock.
        assert!(try_lock_existing(&path, LockKind::Shared)
            .unwrap()
            .is_some());
    }

    #[test]
    fn lock_fds_are_closed_on_exec() {
        let d = tempfile::tempdir().unwrap();
        let held = lock_file(&d.path().join("x.lock"), LockKind::Exclusive).unwrap();
        let flags = rustix::io::fcntl_getfd(held.file()).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    }

    #[test]
    fn errors_name_the_path() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("missing/dir/x.lock");
        let e = lock_file(&path, LockKind::Exclusive).unwrap_err();
        assert!(e.to_string().contains("missing/dir/x.lock"), "{e}");
    }
}
