//! The parent <-> child channel: a SOCK_SEQPACKET socketpair carrying one
//! JSON message per packet, with at most one file descriptor attached
//! (SCM_RIGHTS). Both ends are close-on-exec, so the parent reading EOF
//! after `Executing` knows the command was exec'd.

use super::exec::ExecFailure;
use super::rootfs::RootfsReport;
use super::SetupError;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};

/// Child (the container's pid 1 or the command) to parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToParent {
    /// The root is mounted; which driver did it.
    Rootfs(RootfsReport),
    /// The pty master rides along as the attached fd.
    Pty,
    /// What `SandboxSpec::net_setup` made rides along.
    Net,
    /// The socket notifier's seccomp listener rides along.
    SocketNotify,
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
}

const MAX_PACKET: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ChannelError {
    #[error("{call}: {source}")]
    Sys {
        call: &'static str,
        source: nix::Error,
    },
    #[error("unreadable message ({0})")]
    Decode(String),
}

pub(crate) struct Channel(OwnedFd);

impl Channel {
    pub fn pair() -> Result<(Channel, Channel), ChannelError> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|source| ChannelError::Sys {
            call: "socketpair",
            source,
        })?;
        Ok((Channel(a), Channel(b)))
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }

    pub fn send<T: Serialize>(&self, msg: &T, fd: Option<BorrowedFd>) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg).map_err(|e| ChannelError::Decode(e.to_string()))?;
        let iov = [IoSlice::new(&bytes)];
        let raw = fd.map(|f| [f.as_raw_fd()]);
        let cmsgs: Vec<ControlMessage> = raw
            .as_ref()
            .map(|r| vec![ControlMessage::ScmRights(r)])
            .unwrap_or_default();
        // MSG_NOSIGNAL: a parent that went away is an error, not SIGPIPE.
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|source| ChannelError::Sys {
            call: "sendmsg",
            source,
        })?;
        Ok(())
    }

    /// The next message, or `None` at EOF (every writer closed or exec'd),
    /// also when the peer closed without reading all we sent.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<Option<(T, Option<OwnedFd>)>, ChannelError> {
        let mut buf = vec![0u8; MAX_PACKET];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (n, fd, truncated) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    let mut fd = None;
                    if let Ok(cmsgs) = msg.cmsgs() {
                        for c in cmsgs {
                            if let ControlMessageOwned::ScmRights(fds) = c {
                                for raw in fds {
                                    // SAFETY: the kernel just installed this
                                    // fd in our table; nobody else owns it.
                                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                                    fd.get_or_insert(owned);
                                }
                            }
                        }
                    }
                    break (msg.bytes, fd, msg.flags.contains(MsgFlags::MSG_TRUNC));
                }
                Err(nix::Error::EINTR) => continue,
                // The peer closed with something we sent still unread (a
                // child that failed before reading `MapsWritten`): the
                // kernel reports that once, ahead of the messages the
                // peer sent before closing. They, then EOF, come next.
                Err(nix::Error::ECONNRESET) => continue,
                Err(source) => {
                    return Err(ChannelError::Sys {
                        call: "recvmsg",
                        source,
                    })
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        if truncated {
            return Err(ChannelError::Decode("message too long".into()));
        }
        let msg =
            serde_json::from_slice(&buf[..n]).map_err(|e| ChannelError::Decode(e.to_string()))?;
        Ok(Some((msg, fd)))
    }
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
