//! Pseudo-terminals for `-t`: made in the child from the container's own
//! devpts instance, the master handed to the parent (whose relay lives
//! with the supervisor, in `container`).

use super::sys;
use super::SetupError;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use rustix::fs::OFlags;
use rustix::io::Errno;
use std::path::Path;

/// A terminal size, as TIOCGWINSZ gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

fn get_size(fd: i32) -> Option<WinSize> {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the valid pointer.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some(WinSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

fn set_size(fd: BorrowedFd, size: WinSize) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the valid pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r != 0 {
        return Err(Errno::from_raw_os_error(sys::last_errno()));
    }
    Ok(())
}

/// The size of the terminal we run in (stdin, else stdout), if any.
pub(crate) fn terminal_size() -> Option<WinSize> {
    get_size(0).or_else(|| get_size(1))
}

pub(crate) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a new pty from the devpts mounted at /dev/pts under `root`.
pub(crate) fn open_pty(root: BorrowedFd, size: Option<WinSize>) -> Result<Pty, SetupError> {
    let path = Path::new("/dev/pts/ptmx");
    let err = |op: &str, e: Errno| SetupError {
        op: op.into(),
        path: Some(path.into()),
        errno: Some(e.raw_os_error()),
        detail: None,
    };
    let master = sys::open_in_root(root, path, OFlags::RDWR | OFlags::NOCTTY)
        .map_err(|e| err("open a pseudo-terminal at", e))?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(err(
            "unlock the pseudo-terminal",
            Errno::from_raw_os_error(sys::last_errno()),
        ));
    }
    // The peer by fd, not by a /dev/pts/N path someone could swap.
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(err(
            "open the terminal of",
            Errno::from_raw_os_error(sys::last_errno()),
        ));
    }
    // SAFETY: TIOCGPTPEER returned a new fd that we alone own.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some(size) = size {
        set_size(master.as_fd(), size).map_err(|e| err("set the window size of", e))?;
    }
    Ok(Pty { master, slave })
}

/// Makes `slave` the controlling terminal of a new session and the
/// process's stdio.
pub(crate) fn become_terminal_owner(slave: BorrowedFd) -> Result<(), SetupError> {
    let err = |op: &str, e: Errno| SetupError {
        op: op.into(),
        path: None,
        errno: Some(e.raw_os_error()),
        detail: None,
    };
    // Already a session leader when the init made us; fine.
    let _ = rustix::process::setsid();
    rustix::process::ioctl_tiocsctty(slave).map_err(|e| err("take the terminal", e))?;
    for target in 0..3 {
        // SAFETY: dup2 onto the stdio numbers, which we mean to replace.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(err(
                "give the terminal as stdio",
                Errno::from_raw_os_error(sys::last_errno()),
            ));
        }
    }
    Ok(())
}
