//! The daemon of a fuse-overlayfs root, started by the sandbox's parent on
//! the connection the container's pid 1 mounted: in the container's user
//! namespace (its owners and capabilities), never in its pid or mount
//! namespace, so the container can neither see, signal nor trace it, nor
//! reach the host's files through its `/proc/PID/root`.

use super::userns::find_program;
use super::SetupError;
use rustix::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command, Stdio};

/// A running fuse-overlayfs: killed and reaped when dropped, which the
/// sandbox does once the container has ended, so that it never outlives
/// the container (it also dies with its parent, PR_SET_PDEATHSIG).
pub(crate) struct FuseDaemon(Child);

impl Drop for FuseDaemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `fuse-overlayfs -f -o OPTIONS /dev/fd/N` serving `fuse` (libfuse
/// takes such a mount point as a connection already mounted), in the user
/// namespace `userns` (an fd of a /proc/PID/ns/user file, which any kernel
/// takes in setns, unlike a pidfd before Linux 5.8), with this process's other
/// namespaces: its mount namespace sees the layers' paths, and it holds no
/// mount of the container's.
pub(crate) fn start(
    fuse: OwnedFd,
    options: &str,
    userns: BorrowedFd,
) -> Result<FuseDaemon, SetupError> {
    let failed = |op: &str, errno: Option<i32>, detail: Option<String>| SetupError {
        op: op.into(),
        path: None,
        errno,
        detail,
    };
    let program = find_program("fuse-overlayfs")
        .ok_or_else(|| failed("find fuse-overlayfs on PATH", None, None))?;
    let userns = userns.as_raw_fd();
    let connection = fuse.as_raw_fd();
    let mut command = Command::new(&program);
    command
        .arg("-f")
        .arg("-o")
        .arg(options)
        .arg(format!("/dev/fd/{connection}"))
        // Nothing of the supervisor's: its stdio may be the container's
        // pipes, whose end it waits for.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec, which is
    // single-threaded there, and makes only async-signal-safe system calls
    // on fds the parent keeps open until spawn returns.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            if libc::setns(userns, libc::CLONE_NEWUSER) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // After setns, which resets it.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) < 0
                || libc::fcntl(connection, libc::F_SETFD, 0) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| SetupError {
        op: "start".into(),
        path: Some(program.clone()),
        errno: e.raw_os_error(),
        detail: Some("in the container's user namespace".into()),
    })?;
    drop(fuse);
    Ok(FuseDaemon(child))
}
