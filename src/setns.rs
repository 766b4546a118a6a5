//! Joining the namespaces of a running process named by a pidfd: setns on
//! the pidfd itself (Linux 5.8), else, on older kernels, its
//! /proc/PID/ns files, opened all before any is entered, with the pidfd
//! proving afterwards that the pid still named that process. Never joins
//! through a pid that was not checked against its pidfd. It sits below
//! `sandbox` and `net`, which both enter containers' namespaces, and
//! imports neither.

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;

/// The namespaces a pidfd setns takes, in the order the kernel enters
/// them: the user namespace first, so that its capabilities allow the rest.
const ORDER: [(libc::c_int, &str); 7] = [
    (libc::CLONE_NEWUSER, "user"),
    (libc::CLONE_NEWNS, "mnt"),
    (libc::CLONE_NEWUTS, "uts"),
    (libc::CLONE_NEWIPC, "ipc"),
    (libc::CLONE_NEWPID, "pid_for_children"),
    (libc::CLONE_NEWCGROUP, "cgroup"),
    (libc::CLONE_NEWNET, "net"),
];

/// Why the namespaces of a process could not be joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("setns into the namespaces of process {pid}: {errno}")]
    Setns { pid: i32, errno: Errno },
    #[error(
        "open /proc/{pid}/ns/{name} (this kernel cannot setns on a pidfd, which came in \
         Linux 5.8): {errno}"
    )]
    Open {
        pid: i32,
        name: &'static str,
        errno: Errno,
    },
    #[error("process {pid} ended while its namespaces were being joined")]
    Gone { pid: i32 },
    #[error("setns into /proc/{pid}/ns/{name}: {errno}")]
    SetnsFile {
        pid: i32,
        name: &'static str,
        errno: Errno,
    },
}

impl JoinError {
    /// The errno behind the failure, for callers that report one.
    pub fn errno(&self) -> i32 {
        match self {
            JoinError::Setns { errno, .. }
            | JoinError::Open { errno, .. }
            | JoinError::SetnsFile { errno, .. } => errno.raw_os_error(),
            JoinError::Gone { .. } => libc::ESRCH,
        }
    }
}

/// The few calls a join makes: a seam for the kernel's answers that this
/// machine will not give on demand (EINVAL for setns on a pidfd before
/// 5.8, a process gone between the open and the check).
pub(crate) trait NsCalls {
    fn setns(&self, fd: BorrowedFd, kind: libc::c_int) -> Result<(), Errno>;
    fn open_ns(&self, pid: i32, name: &str) -> Result<OwnedFd, Errno>;
    /// Ok while the process of `pidfd` has not exited (signal 0).
    fn alive(&self, pidfd: BorrowedFd) -> Result<(), Errno>;
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Sends `signal` (0: only the check that the process is there) to the
/// process `pidfd` names.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd, signal: i32) -> Result<(), Errno> {
    // SAFETY: pidfd_send_signal with a pidfd and no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == -1 {
        return Err(Errno::from_raw_os_error(last_errno()));
    }
    Ok(())
}

/// The running kernel.
pub(crate) struct Kernel;

impl NsCalls for Kernel {
    fn setns(&self, fd: BorrowedFd, kind: libc::c_int) -> Result<(), Errno> {
        // SAFETY: setns takes an fd and flags, no pointers; the callers are
        // single-threaded (a joined user namespace requires it).
        if unsafe { libc::setns(fd.as_raw_fd(), kind) } < 0 {
            return Err(Errno::from_raw_os_error(last_errno()));
        }
        Ok(())
    }

    fn open_ns(&self, pid: i32, name: &str) -> Result<OwnedFd, Errno> {
        rustix::fs::open(
            format!("/proc/{pid}/ns/{name}"),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
    }

    fn alive(&self, pidfd: BorrowedFd) -> Result<(), Errno> {
        pidfd_send_signal(pidfd, 0)
    }
}

/// Makes `join` take the way of kernels before 5.8 (the /proc/PID/ns
/// files) on any kernel: a seam for tests, which prove that way here.
pub const FILES_ENV: &str = "BURROW_TEST_SETNS_FILES";

/// The running kernel, except that setns on the pidfd `0` answers EINVAL
/// as before Linux 5.8 (`FILES_ENV`).
struct BeforePidfdSetns(i32);

impl NsCalls for BeforePidfdSetns {
    fn setns(&self, fd: BorrowedFd, kind: libc::c_int) -> Result<(), Errno> {
        if fd.as_raw_fd() == self.0 {
            return Err(Errno::INVAL);
        }
        Kernel.setns(fd, kind)
    }

    fn open_ns(&self, pid: i32, name: &str) -> Result<OwnedFd, Errno> {
        Kernel.open_ns(pid, name)
    }

    fn alive(&self, pidfd: BorrowedFd) -> Result<(), Errno> {
        Kernel.alive(pidfd)
    }
}

/// Enters the namespaces `kinds` (CLONE_NEW* flags) of the process `pid`,
/// which `pidfd` names. The caller must be single-threaded.
pub(crate) fn join(pid: i32, pidfd: BorrowedFd, kinds: libc::c_int) -> Result<(), JoinError> {
    if std::env::var_os(FILES_ENV).is_some() {
        return join_with(&BeforePidfdSetns(pidfd.as_raw_fd()), pid, pidfd, kinds);
    }
    join_with(&Kernel, pid, pidfd, kinds)
}

pub(crate) fn join_with(
    calls: &dyn NsCalls,
    pid: i32,
    pidfd: BorrowedFd,
    kinds: libc::c_int,
) -> Result<(), JoinError> {
    match calls.setns(pidfd, kinds) {
        Ok(()) => return Ok(()),
        // Before 5.8 a pidfd is no namespace fd: EINVAL.
        Err(Errno::INVAL) => {}
        Err(errno) => return Err(JoinError::Setns { pid, errno }),
    }
    let mut files = Vec::new();
    for (kind, name) in ORDER {
        if kinds & kind != 0 {
            files.push((kind, name, open_checked(calls, pid, pidfd, name)?));
        }
    }
    // Opened before the check: the files are the pidfd's process's, not
    // those of a process that took its pid since.
    calls.alive(pidfd).map_err(|_| JoinError::Gone { pid })?;
    for (kind, name, fd) in &files {
        calls
            .setns(fd.as_fd(), *kind)
            .map_err(|errno| JoinError::SetnsFile { pid, name, errno })?;
    }
    Ok(())
}

/// /proc/PID/ns/user of the process `pidfd` names, checked to be that
/// process's (not a later one's with the same pid): an fd any kernel can
/// setns into, for a process started later (the fuse-overlayfs daemon).
pub(crate) fn user_namespace(pid: i32, pidfd: BorrowedFd) -> Result<OwnedFd, JoinError> {
    user_namespace_with(&Kernel, pid, pidfd)
}

pub(crate) fn user_namespace_with(
    calls: &dyn NsCalls,
    pid: i32,
    pidfd: BorrowedFd,
) -> Result<OwnedFd, JoinError> {
    let fd = open_checked(calls, pid, pidfd, "user")?;
    calls.alive(pidfd).map_err(|_| JoinError::Gone { pid })?;
    Ok(fd)
}

/// A missing /proc/PID is a process gone, said as such.
fn open_checked(
    calls: &dyn NsCalls,
    pid: i32,
    pidfd: BorrowedFd,
    name: &'static str,
) -> Result<OwnedFd, JoinError> {
    calls.open_ns(pid, name).map_err(|errno| {
        if errno == Errno::NOENT && calls.alive(pidfd).is_err() {
            JoinError::Gone { pid }
        } else {
            JoinError::Open { pid, name, errno }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A kernel that answers setns on `pidfd` with `on_pidfd`, records
    /// every call, and hands out /dev/null for the namespace files.
    struct Fake {
        pidfd: i32,
        on_pidfd: Result<(), Errno>,
        alive: Result<(), Errno>,
        open: Result<(), Errno>,
        opened: RefCell<HashMap<i32, String>>,
        calls: RefCell<Vec<String>>,
    }

    impl Fake {
        fn new(pidfd: &OwnedFd, on_pidfd: Result<(), Errno>) -> Fake {
            Fake {
                pidfd: pidfd.as_raw_fd(),
                on_pidfd,
                alive: Ok(()),
                open: Ok(()),
                opened: RefCell::default(),
                calls: RefCell::default(),
            }
        }
    }

    impl NsCalls for Fake {
        fn setns(&self, fd: BorrowedFd, kind: libc::c_int) -> Result<(), Errno> {
            let fd = fd.as_raw_fd();
            if fd == self.pidfd {
                self.calls
                    .borrow_mut()
                    .push(format!("setns pidfd {kind:#x}"));
                return self.on_pidfd;
            }
            let name = self.opened.borrow()[&fd].clone();
            self.calls.borrow_mut().push(format!("setns {name}"));
            Ok(())
        }

        fn open_ns(&self, pid: i32, name: &str) -> Result<OwnedFd, Errno> {
            self.calls.borrow_mut().push(format!("open {pid}/{name}"));
            self.open?;
            let fd = rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
            self.opened
                .borrow_mut()
                .insert(fd.as_raw_fd(), name.to_string());
            Ok(fd)
        }

        fn alive(&self, _pidfd: BorrowedFd) -> Result<(), Errno> {
            self.calls.borrow_mut().push("alive".into());
            self.alive
        }
    }

    fn some_fd() -> OwnedFd {
        rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap()
    }

    #[test]
    fn a_kernel_with_setns_on_a_pidfd_is_asked_once() {
        let pidfd = some_fd();
        let fake = Fake::new(&pidfd, Ok(()));
        let kinds = libc::CLONE_NEWUSER | libc::CLONE_NEWNET;
        join_with(&fake, 42, pidfd.as_fd(), kinds).unwrap();
        assert_eq!(*fake.calls.borrow(), [format!("setns pidfd {kinds:#x}")]);
    }

    #[test]
    fn einval_on_the_pidfd_opens_every_file_checks_the_pid_then_joins_user_first() {
        let pidfd = some_fd();
        let fake = Fake::new(&pidfd, Err(Errno::INVAL));
        let kinds = libc::CLONE_NEWNET
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWUSER
            | libc::CLONE_NEWCGROUP;
        join_with(&fake, 42, pidfd.as_fd(), kinds).unwrap();
        assert_eq!(
            *fake.calls.borrow(),
            [
                format!("setns pidfd {kinds:#x}"),
                "open 42/user".into(),
                "open 42/mnt".into(),
                "open 42/pid_for_children".into(),
                "open 42/cgroup".into(),
                "open 42/net".into(),
                "alive".into(),
                "setns user".into(),
                "setns mnt".into(),
                "setns pid_for_children".into(),
                "setns cgroup".into(),
                "setns net".into(),
            ]
        );
    }

    #[test]
    fn a_process_gone_before_the_check_joins_nothing() {
        let pidfd = some_fd();
        let mut fake = Fake::new(&pidfd, Err(Errno::INVAL));
        fake.alive = Err(Errno::SRCH);
        let kinds = libc::CLONE_NEWUSER | libc::CLONE_NEWNET;
        let e = join_with(&fake, 42, pidfd.as_fd(), kinds).unwrap_err();
        assert_eq!(e, JoinError::Gone { pid: 42 });
        assert_eq!(e.errno(), libc::ESRCH);
        assert!(!fake
            .calls
            .borrow()
            .iter()
            .any(|c| c.starts_with("setns ") && !c.starts_with("setns pidfd")));
        // A missing /proc/PID with the process gone says so too.
        fake.open = Err(Errno::NOENT);
        let e = join_with(&fake, 42, pidfd.as_fd(), kinds).unwrap_err();
        assert_eq!(e, JoinError::Gone { pid: 42 });
    }

    #[test]
    fn other_errors_are_not_retried_and_name_the_step() {
        let pidfd = some_fd();
        let fake = Fake::new(&pidfd, Err(Errno::PERM));
        let e = join_with(&fake, 7, pidfd.as_fd(), libc::CLONE_NEWUSER).unwrap_err();
        assert_eq!(
            e,
            JoinError::Setns {
                pid: 7,
                errno: Errno::PERM
            }
        );
        assert_eq!(fake.calls.borrow().len(), 1);
        let mut fake = Fake::new(&pidfd, Err(Errno::INVAL));
        fake.open = Err(Errno::ACCESS);
        let e = join_with(&fake, 7, pidfd.as_fd(), libc::CLONE_NEWUSER).unwrap_err();
        assert!(e.to_string().contains("/proc/7/ns/user"), "{e}");
        assert!(e.to_string().contains("5.8"), "{e}");
        assert_eq!(e.errno(), libc::EACCES);
    }

    #[test]
    fn the_user_namespace_file_is_checked_after_it_is_opened() {
        let pidfd = some_fd();
        let mut fake = Fake::new(&pidfd, Ok(()));
        user_namespace_with(&fake, 9, pidfd.as_fd()).unwrap();
        assert_eq!(*fake.calls.borrow(), ["open 9/user", "alive"]);
        fake.alive = Err(Errno::SRCH);
        assert_eq!(
            user_namespace_with(&fake, 9, pidfd.as_fd()).unwrap_err(),
            JoinError::Gone { pid: 9 }
        );
    }

    #[test]
    fn the_kernels_calls_open_check_and_enter_a_namespace_file() {
        // The real kernel, through the fallback's steps: this process
        // enters its own network namespace through /proc/PID/ns/net.
        let me = std::process::id() as i32;
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(me).unwrap(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        let fd = Kernel.open_ns(me, "net").unwrap();
        Kernel.alive(pidfd.as_fd()).unwrap();
        // Entering needs CAP_SYS_ADMIN over the namespace's owner: root
        // enters its own, an ordinary user is refused by the kernel.
        let entered = Kernel.setns(fd.as_fd(), libc::CLONE_NEWNET);
        if rustix::process::geteuid().is_root() {
            assert_eq!(entered, Ok(()));
        } else {
            assert_eq!(entered, Err(Errno::PERM));
        }
        // A file of another kind is refused by the kernel.
        assert_eq!(
            Kernel.setns(fd.as_fd(), libc::CLONE_NEWUTS),
            Err(Errno::INVAL)
        );
    }
}
