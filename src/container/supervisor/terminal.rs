//! The caller's side of a container's terminal and stdio: the real
//! terminal put in raw mode (restored on every way out), its window size
//! passed on, bytes written whole to a non-blocking fd, and the foreground
//! wait of `exec` (signals forwarded, its pty relayed). The sandbox makes
//! the container's pty; everything after execve is here.

use crate::sandbox::{ExitStatus, Running, SandboxError};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd};
use rustix::io::Errno;

/// Signals a foreground container or `exec` takes from the caller.
pub const FORWARDED: [nix::sys::signal::Signal; 6] = [
    nix::sys::signal::Signal::SIGINT,
    nix::sys::signal::Signal::SIGTERM,
    nix::sys::signal::Signal::SIGHUP,
    nix::sys::signal::Signal::SIGQUIT,
    nix::sys::signal::Signal::SIGUSR1,
    nix::sys::signal::Signal::SIGUSR2,
];

/// The real terminal in raw mode while it lives, so that Ctrl-C, Ctrl-Z
/// and friends travel as bytes to the container's terminal, which turns
/// them into signals for the container's foreground job. Whoever holds
/// it (a foreground `run`, `exec -t`, `attach`, `start -a`), a panic of
/// the thread that entered it puts the terminal back first: a release
/// build aborts, and no destructor runs.
pub struct RawMode {
    fd: std::os::fd::RawFd,
    saved: nix::sys::termios::Termios,
    /// Dropped after `drop` has put the settings back.
    _on_panic: super::hook::Armed,
}

/// The terminal and settings the live `RawMode` replaced, for a panic to
/// put back (`restore_after_panic`): a release build aborts on a panic,
/// and no destructor runs.
static SAVED: std::sync::Mutex<Option<(std::os::fd::RawFd, libc::termios)>> =
    std::sync::Mutex::new(None);

impl RawMode {
    /// `None` when stdin is not a terminal.
    pub fn enter() -> Option<RawMode> {
        Self::enter_on(std::io::stdin().as_raw_fd())
    }

    /// Raw mode on the terminal `fd` (stdin, but for a test's pty).
    pub(super) fn enter_on(fd: std::os::fd::RawFd) -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        // SAFETY: `fd` stays open while the RawMode lives (stdin, or the
        // test's pty).
        let term = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = tcgetattr(term).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(term, SetArg::TCSANOW, &raw).ok()?;
        if let Ok(mut s) = SAVED.lock() {
            *s = Some((fd, saved.clone().into()));
        }
        Some(RawMode {
            fd,
            saved,
            _on_panic: super::hook::on_panic(|_| restore_after_panic()),
        })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        if let Ok(mut s) = SAVED.lock() {
            *s = None;
        }
        // SAFETY: as in `enter_on`: the fd outlives the RawMode.
        let term = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = tcsetattr(term, SetArg::TCSANOW, &self.saved);
    }
}

/// Puts back the terminal settings a live `RawMode` replaced: for the
/// panic hooks, which run before an abort. Never waits and never panics.
pub fn restore_after_panic() {
    let Ok(saved) = SAVED.try_lock() else {
        return;
    };
    if let Some((fd, termios)) = *saved {
        // SAFETY: tcsetattr reads one termios from a valid pointer; `fd`
        // is the terminal a live RawMode holds.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &termios) };
    }
}

fn get_size(fd: i32) -> Option<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the valid pointer.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some(ws)
}

/// Copies the real terminal's size (stdin's, else stdout's) onto the
/// container's.
pub fn follow_size(master: BorrowedFd) {
    if let Some(ws) = get_size(0).or_else(|| get_size(1)) {
        // SAFETY: TIOCSWINSZ reads one winsize from the valid pointer.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
}

/// Sets the container's terminal to `rows` x `cols` (an attached client's
/// window); the kernel tells its foreground job with SIGWINCH.
pub fn set_size(master: BorrowedFd, (rows, cols): (u16, u16)) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the valid pointer.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

/// The size of the terminal on `fd`, as (rows, cols).
pub fn size_of(fd: BorrowedFd) -> Option<(u16, u16)> {
    get_size(fd.as_raw_fd()).map(|ws| (ws.ws_row, ws.ws_col))
}

/// Writes all of `buf` to `fd`, waiting out a full non-blocking fd.
pub fn write_all(fd: BorrowedFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
                let mut pfd = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut pfd, PollTimeout::NONE);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The forwarded signals blocked and read from a signalfd while this lives
/// (SIGWINCH too, with `winch`); the old mask comes back on drop.
pub struct SignalsIn {
    pub fd: nix::sys::signalfd::SignalFd,
    old: nix::sys::signal::SigSet,
}

/// The signals a foreground `run` passes on to its container, as docker's
/// `--sig-proxy` does: every one a process can catch (the real-time ones
/// too) but docker's exceptions, SIGCHLD, SIGPIPE and SIGURG, and the
/// faults a process raises on itself (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
/// SIGTRAP, SIGSYS): blocked, they would hide a crash of burrow's own.
pub fn proxied_signals() -> nix::sys::signal::SigSet {
    const KEPT: [i32; 11] = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGCHLD,
        libc::SIGPIPE,
        libc::SIGURG,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGSYS,
    ];
    // SAFETY: a zeroed sigset_t is a valid value to empty and fill.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t this function owns.
    unsafe { libc::sigemptyset(&mut set) };
    // Between the standard signals and SIGRTMIN() are the C library's own
    // (its threads' cancellation and set*id), never ours to take.
    let standard = 1..32;
    let real_time = libc::SIGRTMIN()..=libc::SIGRTMAX();
    for sig in standard.chain(real_time).filter(|s| !KEPT.contains(s)) {
        // SAFETY: as above; a signal number the kernel knows.
        unsafe { libc::sigaddset(&mut set, sig) };
    }
    // SAFETY: `set` was made by sigemptyset and sigaddset.
    unsafe { nix::sys::signal::SigSet::from_sigset_t_unchecked(set) }
}

impl SignalsIn {
    pub fn forwarded(winch: bool) -> Result<SignalsIn, SandboxError> {
        Self::of(&FORWARDED, winch)
    }

    /// `proxied_signals()` (SIGWINCH among them: the window's change
    /// with a terminal, else passed on too).
    pub fn proxied() -> Result<SignalsIn, SandboxError> {
        Self::with_mask(proxied_signals())
    }

    pub fn of(
        signals: &[nix::sys::signal::Signal],
        winch: bool,
    ) -> Result<SignalsIn, SandboxError> {
        use nix::sys::signal::{SigSet, Signal};
        let mut mask = SigSet::empty();
        signals.iter().for_each(|&s| mask.add(s));
        if winch {
            mask.add(Signal::SIGWINCH);
        }
        Self::with_mask(mask)
    }

    fn with_mask(mask: nix::sys::signal::SigSet) -> Result<SignalsIn, SandboxError> {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        let err = |call: &'static str| {
            move |e: nix::Error| SandboxError::Sys {
                call,
                errno: e as i32,
            }
        };
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old))
            .map_err(err("sigprocmask"))?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(err("signalfd"));
        match fd {
            Ok(fd) => Ok(SignalsIn { fd, old }),
            Err(e) => {
                let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
                Err(e)
            }
        }
    }
}

impl Drop for SignalsIn {
    fn drop(&mut self) {
        let _ = nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&self.old),
            None,
        );
    }
}

/// Waits for an `exec`'d process in the foreground: the forwarded signals
/// go to it; with its pty, the real terminal is put in raw mode (restored
/// on return) and relayed, window size included, stdin only with
/// `relay_stdin`.
pub fn wait_foreground(
    mut running: Running,
    relay_stdin: bool,
) -> Result<ExitStatus, SandboxError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let sys_err = |call: &'static str| {
        move |e: nix::Error| SandboxError::Sys {
            call,
            errno: e as i32,
        }
    };
    let pty = running.take_pty();
    let signals = SignalsIn::forwarded(pty.is_some())?;
    let master = pty.as_ref().map(|m| m.as_fd());
    let _raw = match master {
        Some(m) => {
            let _ = rustix::fs::fcntl_setfl(m, rustix::fs::OFlags::NONBLOCK);
            follow_size(m);
            RawMode::enter()
        }
        None => None,
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut stdin_open = master.is_some() && relay_stdin;
    let mut master_open = master.is_some();
    let mut exited = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if exited && !master_open {
            break;
        }
        let mut fds = vec![PollFd::new(signals.fd.as_fd(), PollFlags::POLLIN)];
        let pid_slot = (!exited).then(|| {
            fds.push(PollFd::new(running.pidfd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let in_slot = stdin_open.then(|| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let m_slot = match (master_open, master) {
            (true, Some(m)) => {
                fds.push(PollFd::new(m, PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        // After the exit, what the terminal still holds is drained, but
        // not waited for forever.
        let timeout = if exited {
            PollTimeout::from(200u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) => break,
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(sys_err("poll")(e)),
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, pid_ready, in_ready, m_ready) = (
            ready(Some(0)),
            ready(pid_slot),
            ready(in_slot),
            ready(m_slot),
        );
        drop(fds);
        if sig_ready {
            while let Ok(Some(info)) = signals.fd.read_signal() {
                let signo = info.ssi_signo as i32;
                match (signo == libc::SIGWINCH, master) {
                    (true, Some(m)) => follow_size(m),
                    _ => running.kill(signo)?,
                }
            }
        }
        if pid_ready {
            exited = true;
        }
        if let (true, Some(m)) = (in_ready, master) {
            match rustix::io::read(stdin.as_fd(), &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => {
                    if write_all(m, &buf[..n]).is_err() {
                        stdin_open = false;
                    }
                }
                Err(Errno::INTR) | Err(Errno::AGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
        if let (true, Some(m)) = (m_ready, master) {
            loop {
                match rustix::io::read(m, &mut buf) {
                    Ok(0) => {
                        master_open = false;
                        break;
                    }
                    Ok(n) => {
                        let _ = write_all(stdout.as_fd(), &buf[..n]);
                    }
                    Err(Errno::INTR) => {}
                    Err(Errno::AGAIN) => break,
                    // EIO: every holder of the terminal is gone.
                    Err(_) => {
                        master_open = false;
                        break;
                    }
                }
            }
        }
    }
    Ok(running.wait_exit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn run_passes_on_what_docker_proxies_and_keeps_the_faults() {
        let set = proxied_signals();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGALRM,
            Signal::SIGWINCH,
            Signal::SIGTSTP,
            Signal::SIGCONT,
        ] {
            assert!(set.contains(s), "{s} is passed on");
        }
        for s in [
            Signal::SIGCHLD,
            Signal::SIGPIPE,
            Signal::SIGURG,
            Signal::SIGSEGV,
            Signal::SIGBUS,
            Signal::SIGKILL,
        ] {
            assert!(!set.contains(s), "{s} is not");
        }
        let member = |n| {
            // SAFETY: a valid set, read only.
            unsafe { libc::sigismember(set.as_ref(), n) == 1 }
        };
        assert!(member(libc::SIGRTMIN()) && member(libc::SIGRTMAX()));
        // The C library's own, below SIGRTMIN().
        assert!(!member(libc::SIGRTMIN() - 1));
    }
}
