//! The messages between the sandbox's parent and its child, on
//! `crate::forked`'s channel (typed messages and fds over a SEQPACKET
//! socketpair). Both ends are close-on-exec, so the parent reading EOF
//! after `Executing` knows the command was exec'd.

use super::exec::ExecFailure;
use super::rootfs::RootfsReport;
use super::SetupError;
pub(crate) use crate::forked::Channel;
use serde::{Deserialize, Serialize};

/// Child (the container's pid 1 or the command) to parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToParent {
    /// The root is mounted; which driver did it.
    Rootfs(RootfsReport),
    /// The pty master rides along as the attached fd.
    Pty,
    /// For `SandboxSpec::net_setup`: `/dev/net/tun`, opened in the new
    /// network namespace, rides along.
    NetTun,
    /// Then a route socket of that namespace; the parent sets it up now.
    NetRoute,
    /// The socket notifier's seccomp listener rides along.
    SocketNotify,
    /// The root emulation's seccomp listener rides along.
    RootNotify,
    /// The /proc view's FUSE filesystem is mounted (detached): its
    /// /dev/fuse fd rides along for the parent to serve.
    ProcView,
    /// A fuse-overlayfs root is mounted (detached) with these `-o`
    /// options: its /dev/fuse fd rides along for the parent to serve.
    FuseRoot(String),
    /// The mount of a /dev/shm other containers may share
    /// (`DevShm::shared`) rides along, for the parent to hand out.
    DevShm,
    /// The /proc view is off: FUSE is not usable here (why).
    ProcViewOff(SetupError),
    /// The next thing is execve: EOF now means it worked.
    Executing,
    Failed(SetupError),
    ExecFailed(ExecFailure),
}

/// Parent to child.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToChild {
    /// newuidmap and newgidmap are done (the child is root inside), and
    /// the child is in its cgroup if it has one.
    MapsWritten,
    /// `HostSide::net` made the devices: the network is ready for the
    /// command.
    NetReady,
    /// The daemon of `ToParent::FuseRoot` was started, or why not.
    FuseServed(Result<(), SetupError>),
    /// The /proc view's server runs (`true`), or could not be started.
    ProcViewServed(bool),
    /// The seccomp program for pid 1 to install (`seccomp::pack`ed; none
    /// when nothing is filtered), built by the parent while pid 1 mounts
    /// its root, or why it could not be built.
    Seccomp(Result<Option<Vec<u64>>, SetupError>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::AsFd;

    #[test]
    fn messages_and_fds_cross_and_eof_follows_close() {
        let (a, b) = Channel::pair().unwrap();
        let file = tempfile::tempfile().unwrap();
        a.send(&ToChild::MapsWritten, Some(file.as_fd())).unwrap();
        a.send(
            &ToParent::Failed(SetupError {
                op: "mount proc on".into(),
                path: Some("/proc".into()),
                errno: Some(1),
                detail: None,
            }),
            None,
        )
        .unwrap();
        let (m, fd) = b.recv::<ToChild>().unwrap().unwrap();
        assert!(matches!(m, ToChild::MapsWritten));
        assert!(fd.is_some());
        let (m, fd) = b.recv::<ToParent>().unwrap().unwrap();
        assert!(fd.is_none());
        match m {
            ToParent::Failed(e) => {
                assert_eq!(
                    e.to_string(),
                    "cannot mount proc on /proc: Operation not permitted"
                )
            }
            other => panic!("{other:?}"),
        }
        drop(a);
        assert!(b.recv::<ToParent>().unwrap().is_none());
    }

    /// A child that fails before it reads the parent's `MapsWritten` and
    /// exits with it unread: the kernel flags the parent's end with
    /// ECONNRESET, and its next recvmsg says that before it gives the
    /// queued `Failed`. The failure must still arrive, then EOF.
    #[test]
    fn a_failure_sent_before_closing_on_an_unread_message_arrives() {
        let (parent, child) = Channel::pair().unwrap();
        child
            .send(
                &ToParent::Failed(SetupError {
                    op: "set oom_score_adj in".into(),
                    path: Some("/proc/self/oom_score_adj".into()),
                    errno: Some(libc::EACCES),
                    detail: None,
                }),
                None,
            )
            .unwrap();
        parent.send(&ToChild::MapsWritten, None).unwrap();
        drop(child);
        match parent.recv::<ToParent>() {
            Ok(Some((ToParent::Failed(e), None))) => assert_eq!(e.errno, Some(libc::EACCES)),
            other => panic!("{other:?}"),
        }
        assert!(parent.recv::<ToParent>().unwrap().is_none());
    }
}
