//! Removing a directory tree of any depth with one directory fd open at a
//! time: layers and writable layers may nest deeper than `ulimit -n`
//! allows fds, and a tree burrow cannot remove wedges the store. Never
//! follows a symlink; climbs back with `..`, checked against the device
//! and inode it came down from.

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// One directory on the way down: its name in its parent, the parent's
/// identity (to check the climb back), and its subdirectories not yet
/// removed.
struct Level {
    name: Vec<u8>,
    parent_id: (u64, u64),
    pending: Vec<Vec<u8>>,
}

fn open_dir(at: BorrowedFd, name: &[u8]) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rfs::openat(at, name, flags, Mode::empty()) {
        // A directory without read or search permission: ours to change.
        Err(Errno::ACCESS) => {
            rfs::chmodat(at, name, Mode::from_raw_mode(0o700), AtFlags::empty())?;
            rfs::openat(at, name, flags, Mode::empty())
        }
        r => r,
    }
}

fn identity(fd: BorrowedFd) -> Result<(u64, u64), Errno> {
    let st = rfs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// Unlinks every entry of `dir` that is not a directory and returns the
/// names of its subdirectories. Makes `dir` writable first when it is not.
fn clear_files(dir: &OwnedFd) -> Result<Vec<Vec<u8>>, Errno> {
    let st = rfs::fstat(dir)?;
    if st.st_mode & 0o700 != 0o700 {
        rfs::fchmod(dir, Mode::from_raw_mode((st.st_mode & 0o7777) | 0o700))?;
    }
    let mut subdirs = Vec::new();
    let mut listing = rfs::Dir::read_from(dir)?;
    while let Some(entry) = listing.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if entry.file_type() == FileType::Directory {
            subdirs.push(name.to_vec());
            continue;
        }
        match rfs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            // The listing did not know the type.
            Err(Errno::ISDIR) => subdirs.push(name.to_vec()),
            Err(e) => return Err(e),
        }
    }
    Ok(subdirs)
}

/// Removes `name` in `dir` and everything under it, never following a
/// symlink, with at most two directory fds open at once whatever the
/// depth. A missing `name` is not an error.
pub fn remove_at(dir: BorrowedFd, name: &[u8]) -> Result<(), Errno> {
    match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::NOTEMPTY) | Err(Errno::EXIST) | Err(Errno::ACCESS) | Err(Errno::PERM) => {}
        // Not a directory: a plain unlink.
        Err(Errno::NOTDIR) => return rfs::unlinkat(dir, name, AtFlags::empty()),
        Err(e) => return Err(e),
    }
    let top_parent = identity(dir)?;
    let mut cur = open_dir(dir, name)?;
    let mut stack = vec![Level {
        name: name.to_vec(),
        parent_id: top_parent,
        pending: clear_files(&cur)?,
    }];
    loop {
        let depth = stack.len();
        let level = stack.last_mut().expect("the stack holds the top level");
        if let Some(child) = level.pending.pop() {
            match rfs::unlinkat(&cur, &child[..], AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => continue,
                Err(Errno::NOTEMPTY) | Err(Errno::EXIST) | Err(Errno::ACCESS) => {}
                Err(e) => return Err(e),
            }
            let here = identity(cur.as_fd())?;
            let down = match open_dir(cur.as_fd(), &child) {
                Ok(fd) => fd,
                // Removed meanwhile by another cleaner of the same leftovers.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e),
            };
            // The parent's fd is closed here: one level open at a time.
            cur = down;
            let pending = clear_files(&cur)?;
            stack.push(Level {
                name: child,
                parent_id: here,
                pending,
            });
            continue;
        }
        // Everything under this level is gone: climb and remove it.
        let done = stack.pop().expect("non-empty");
        if depth == 1 {
            drop(cur);
            return match rfs::unlinkat(dir, &done.name[..], AtFlags::REMOVEDIR) {
                Err(Errno::NOENT) => Ok(()),
                r => r,
            };
        }
        let up = rfs::openat(
            &cur,
            "..",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        if identity(up.as_fd())? != done.parent_id {
            // Moved while we worked in it: stop rather than guess.
            return Err(Errno::STALE);
        }
        cur = up;
        match rfs::unlinkat(&cur, &done.name[..], AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e),
        }
    }
}

/// [`remove_at`] for a path; a missing path is not an error.
pub fn remove(path: &Path) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(Errno::INVAL);
    };
    let dir = match rfs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(d) => d,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    remove_at(dir.as_fd(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn removes_a_tree_deeper_than_the_fd_limit_with_read_only_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("deep");
        fs::create_dir(&top).unwrap();
        // Built with relative steps: the full path is far beyond PATH_MAX.
        let mut cur = rfs::open(&top, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        for i in 0..3000 {
            rfs::mkdirat(&cur, "d", Mode::from_raw_mode(0o755)).unwrap();
            if i % 100 == 0 {
                let f = rfs::openat(
                    &cur,
                    "f",
                    OFlags::WRONLY | OFlags::CREATE,
                    Mode::from_raw_mode(0o644),
                )
                .unwrap();
                drop(f);
                rfs::symlinkat("/", &cur, "to-root").unwrap();
            }
            let next =
                rfs::openat(&cur, "d", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
            if i % 500 == 0 {
                rfs::fchmod(&cur, Mode::from_raw_mode(0o555)).unwrap();
            }
            cur = next;
        }
        drop(cur);
        fs::set_permissions(&top, fs::Permissions::from_mode(0o500)).unwrap();
        // In a child with an fd limit far below the depth, where one fd
        // per level would fail with EMFILE.
        // SAFETY: the child only removes the tree and exits; glibc's
        // malloc is usable after fork.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let lim = rustix::process::Rlimit {
                    current: Some(64),
                    maximum: Some(64),
                };
                let ok = rustix::process::setrlimit(rustix::process::Resource::Nofile, lim).is_ok()
                    && remove(&top).is_ok();
                // SAFETY: leaves the forked test process at once.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
        assert!(!top.exists());
        // A missing path is fine; a file is unlinked.
        remove(&top).unwrap();
        fs::write(&top, b"x").unwrap();
        remove(&top).unwrap();
        assert!(!top.exists());
    }
}
