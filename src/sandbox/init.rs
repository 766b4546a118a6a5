//! `--init`: a minimal pid 1 that runs the command as its only direct
//! child, forwards the signals it receives to it, reaps every orphan that
//! lands on it, and exits with the command's status (128+N for signal N).
//! It never does anything else, and never outlives the command.

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals that report a fault of the receiver itself: left unblocked so
/// a real fault still kills, and not forwarded.
const SYNCHRONOUS: [Signal; 7] = [
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

/// The signals the init takes over (blocked, then waited for).
pub(crate) fn handled() -> SigSet {
    let mut set = SigSet::all();
    for s in SYNCHRONOUS {
        set.remove(s);
    }
    set
}

/// Blocks the init's signals before the fork, so none is lost between the
/// fork and the wait loop. Returns the previous mask for the command.
pub(crate) fn block_signals() -> Result<SigSet, nix::Error> {
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled()), Some(&mut old))?;
    Ok(old)
}

/// The exit status for a waited-for child, docker's way.
fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// The init's loop; `command` is the pid of the command. Never returns.
pub(crate) fn run(command: Pid) -> ! {
    let set = handled();
    loop {
        let sig = match set.wait() {
            Ok(sig) => sig,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            // The command may have just exited; its reaping comes below.
            let _ = kill(command, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(status) => {
                    if status.pid() == Some(command) {
                        if let Some(code) = exit_code(status) {
                            // SAFETY: _exit ends the process without running
                            // anything of the parent's copied state.
                            unsafe { libc::_exit(code) }
                        }
                    }
                }
                // ECHILD: nothing left at all; the command went unseen.
                Err(nix::Error::ECHILD) => {
                    // SAFETY: as above.
                    unsafe { libc::_exit(0) }
                }
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_deaths_become_128_plus_n() {
        let p = Pid::from_raw(2);
        assert_eq!(exit_code(WaitStatus::Exited(p, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }

    #[test]
    fn faults_are_neither_blocked_nor_forwarded_but_termination_is() {
        let h = handled();
        assert!(!h.contains(Signal::SIGSEGV));
        assert!(h.contains(Signal::SIGTERM) && h.contains(Signal::SIGCHLD));
        assert!(h.contains(Signal::SIGWINCH));
    }
}
