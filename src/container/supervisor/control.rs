//! The control socket of a supervisor: one JSON request line from a client
//! (`attach`, `stop`, `kill`, `wait`, `start`), a JSON reply line or a stream of log
//! frames back. The client side (`connect`, `read_reply`) is what
//! `lifecycle` uses; the server side lives in the supervisor's loop.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub const SOCKET: &str = "ctl.sock";

/// A request on the control socket: one JSON line. After `Attach`, the
/// supervisor sends log frames (and an `Exit` frame at the end) and reads
/// raw stdin bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// `close_stdin`: the client's end of input is the container's too.
    Attach {
        stdin: bool,
        close_stdin: bool,
        /// The client's terminal (rows, cols), for the container's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<(u16, u16)>,
    },
    /// An attached client's terminal changed size (rows, cols).
    Resize {
        rows: u16,
        cols: u16,
    },
    Stop {
        signal: i32,
        timeout_secs: u64,
    },
    Kill {
        signal: i32,
    },
    /// Answered when the container has exited for good.
    Wait,
    /// Run the health check now; answered with its result.
    Healthcheck,
    /// `start` of a container this supervisor waits to restart: the
    /// restart is brought forward and answered (`Done`, or `Failed` with
    /// why it did not start) once it is made. `Done` at once when the
    /// container runs; no answer from a supervisor that is ending.
    Start,
    /// The mount of the container's /dev/shm, for a container joining its
    /// IPC namespace (`sandbox::Running::dev_shm`): answered `DevShm`
    /// with it attached (SCM_RIGHTS), or `Failed` with why not.
    DevShm,
}

/// The answer to `Stop`, `Kill` and `Wait`: one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Exited {
        code: i32,
    },
    Failed(String),
    /// A health check's result and the status it left.
    Health {
        status: crate::container::health::HealthStatus,
        exit_code: i32,
        output: String,
    },
    /// The answer to `Request::DevShm`: the mount rides along.
    DevShm,
}

/// Why a request went unanswered: the supervisor that got it is older
/// than the burrow that sent it, and does not know it.
pub const OLDER_SUPERVISOR: &str =
    "the container's supervisor is from an older burrow; stop and start the container";

/// A request line as the supervisor reads it, or the reply that refuses
/// it. JSON that is no request this supervisor knows comes from a newer
/// burrow (requests are only ever added), and is answered so.
pub(super) fn parse_request(line: &[u8]) -> Result<Request, Reply> {
    serde_json::from_slice(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Reply::Failed(OLDER_SUPERVISOR.into()),
        _ => Reply::Failed(format!("a request that is not JSON: {e}")),
    })
}

pub(super) enum ClientKind {
    /// The request line is still coming.
    Pending,
    Attached {
        stdin: bool,
        close_stdin: bool,
    },
    /// Waits for the final exit (`Stop`).
    Waiting,
    /// Waits for the container's next exit, a restart to come or not
    /// (`Wait`, as docker's `wait` answers when the container stops).
    WaitingExit,
    /// Waits for the health check under way (`Healthcheck`).
    Health,
    /// Waits for the restart it brought forward (`Start`).
    Starting,
}

/// The most output an attached client may leave untaken (whole frames
/// its socket has no room for yet); past it, the client is dropped.
pub(super) const CLIENT_QUEUE_MAX: usize = 1 << 20;

pub(super) struct Client {
    pub sock: UnixStream,
    pub buf: Vec<u8>,
    /// Output frames its socket had no room for, oldest first.
    pub queued: VecDeque<u8>,
    pub kind: ClientKind,
    /// The client shut its sending side: not polled for reading again.
    pub eof: bool,
    /// Closed, or a write to it failed: dropped at the start of the next
    /// turn of the loop, so a turn's `Slot::Client(i)` keeps naming the
    /// client it was polled for.
    pub gone: bool,
}

pub(super) fn reply(sock: &mut UnixStream, r: &Reply) {
    let _ = sock.set_nonblocking(false);
    let mut line = serde_json::to_vec(r).unwrap_or_default();
    line.push(b'\n');
    let _ = sock.write_all(&line);
}

/// `reply`, with `fd` attached to the line (SCM_RIGHTS).
pub(super) fn reply_with_fd(sock: &mut UnixStream, r: &Reply, fd: BorrowedFd) {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let _ = sock.set_nonblocking(false);
    let mut line = serde_json::to_vec(r).unwrap_or_default();
    line.push(b'\n');
    let fds = [fd.as_raw_fd()];
    let sent = loop {
        match sendmsg::<()>(
            sock.as_raw_fd(),
            &[std::io::IoSlice::new(&line)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::Error::EINTR) => continue,
            other => break other,
        }
    };
    // The fd went with the first byte; the rest of a short write follows.
    if let Ok(n) = sent {
        let _ = sock.write_all(&line[n..]);
    }
}

impl Client {
    pub fn new(sock: UnixStream) -> Client {
        Client {
            sock,
            buf: Vec::new(),
            queued: VecDeque::new(),
            kind: ClientKind::Pending,
            eof: false,
            gone: false,
        }
    }

    /// Sends one frame without blocking the loop: what the socket has no
    /// room for waits in the client's queue, sent when it has (`flush`).
    /// False when the client must be dropped: gone, or slower than
    /// `CLIENT_QUEUE_MAX` allows.
    pub fn send(&mut self, header: &[u8], data: &[u8]) -> bool {
        let total = header.len() + data.len();
        let mut sent = 0;
        if self.queued.is_empty() {
            let iov = [std::io::IoSlice::new(header), std::io::IoSlice::new(data)];
            match self.sock.write_vectored(&iov) {
                Ok(n) if n == total => return true,
                Ok(n) => sent = n,
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.queued.len() + (total - sent) > CLIENT_QUEUE_MAX {
            return false;
        }
        let rest = header.iter().chain(data).skip(sent);
        self.queued.extend(rest);
        true
    }

    /// Sends what is queued, as far as the socket takes it without
    /// blocking; false when the client is gone.
    pub fn flush(&mut self) -> bool {
        while !self.queued.is_empty() {
            let (a, b) = self.queued.as_slices();
            let iov = [std::io::IoSlice::new(a), std::io::IoSlice::new(b)];
            match self.sock.write_vectored(&iov) {
                Ok(0) => return false,
                Ok(n) => {
                    self.queued.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        true
    }

    /// The queue and `last`, blocking (at most `timeout` per write): the
    /// client's last frame, at the container's end.
    pub fn finish(&mut self, last: &[u8], timeout: Duration) {
        let _ = self.sock.set_nonblocking(false);
        let _ = self.sock.set_write_timeout(Some(timeout));
        let queued: Vec<u8> = self.queued.drain(..).collect();
        if self.sock.write_all(&queued).is_ok() {
            let _ = self.sock.write_all(last);
        }
    }
}

/// Calls `f` with a short name for `dir`/ctl.sock: a socket's path is
/// limited to 107 bytes, and a runtime dir under /tmp plus a container id
/// can be longer. The name goes through an fd of the directory.
pub(super) fn socket_path<T>(
    dir: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    f(Path::new(&format!(
        "/proc/self/fd/{}/{SOCKET}",
        fd.as_raw_fd()
    )))
}

/// Sends a request to the supervisor of the container whose control socket
/// is `socket`; `None` when no supervisor listens there.
pub fn connect(socket: &Path, req: &Request) -> Option<UnixStream> {
    let dir = socket.parent()?;
    let mut sock = socket_path(dir, |short| UnixStream::connect(short)).ok()?;
    let mut line = serde_json::to_vec(req).ok()?;
    line.push(b'\n');
    sock.write_all(&line).ok()?;
    Some(sock)
}

/// Whether a supervisor listens on `socket` (it may be waiting to restart
/// a container that is not running).
pub fn listening(socket: &Path) -> bool {
    socket
        .parent()
        .is_some_and(|dir| socket_path(dir, |short| UnixStream::connect(short)).is_ok())
}

/// Reads the one-line reply to a request.
pub fn read_reply(sock: &mut UnixStream) -> Option<Reply> {
    let mut data = Vec::new();
    let mut b = [0u8; 256];
    loop {
        match sock.read(&mut b) {
            Ok(0) => break,
            Ok(n) => {
                data.extend_from_slice(&b[..n]);
                if data.contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    serde_json::from_slice(&data[..end]).ok().map(said_plainly)
}

/// The mount of the /dev/shm of the container whose supervisor listens on
/// `socket` (`Request::DevShm`), or why there is none.
pub fn dev_shm(socket: &Path) -> Result<OwnedFd, String> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let sock = connect(socket, &Request::DevShm)
        .ok_or_else(|| "its supervisor does not answer (is it running?)".to_string())?;
    let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
    let mut data = Vec::new();
    let mut fd = None;
    let mut b = [0u8; 256];
    while !data.contains(&b'\n') {
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut b)];
        let got = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                for c in msg.cmsgs().into_iter().flatten() {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        for raw in fds {
                            // SAFETY: the kernel just installed this fd in
                            // our table; nobody else owns it.
                            let owned =
                                unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
                            fd.get_or_insert(owned);
                        }
                    }
                }
                msg.bytes
            }
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(format!("reading its supervisor's answer: {e}")),
        };
        if got == 0 {
            break;
        }
        data.extend_from_slice(&b[..got]);
    }
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    match serde_json::from_slice(&data[..end]).map(said_plainly) {
        Ok(Reply::DevShm) => fd.ok_or_else(|| "its supervisor sent no mount".to_string()),
        Ok(Reply::Failed(why)) => Err(why),
        Ok(other) => Err(format!("its supervisor answered {other:?}")),
        Err(_) => Err("its supervisor did not answer".to_string()),
    }
}

/// Supervisors of burrows before `parse_request` answered a request they
/// did not know with the parser's words ("unknown variant `Start`,
/// expected one of ..."): what they mean, said plainly.
fn said_plainly(reply: Reply) -> Reply {
    match reply {
        Reply::Failed(why) if why.starts_with("unknown variant `") => {
            Reply::Failed(OLDER_SUPERVISOR.into())
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// What a supervisor of the burrow before `Request::Start` (2dd12f1)
    /// answered `start`'s request, byte for byte.
    const OLD_ANSWER_TO_START: &[u8] = b"{\"Failed\":\"unknown variant `Start`, expected one of \
        `Attach`, `Resize`, `Stop`, `Kill`, `Wait`, `Healthcheck` at line 1 column 7\"}\n";

    #[test]
    fn an_older_supervisors_answer_to_a_request_it_does_not_know_says_what_to_do() {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(OLD_ANSWER_TO_START).unwrap();
        match read_reply(&mut ours) {
            Some(Reply::Failed(why)) => assert_eq!(why, OLDER_SUPERVISOR),
            other => panic!("{other:?}"),
        }
    }

    /// A supervisor's answers to `DevShm`: the fd it holds, which comes
    /// out as the same file, or why it has none, said as such.
    #[test]
    fn dev_shm_comes_back_as_the_supervisors_fd_or_as_why_not() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join(SOCKET);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let held = tempfile::tempfile().unwrap();
        let want = held.metadata().unwrap().ino();
        let server = std::thread::spawn(move || {
            for answer in [Some(held.as_fd()), None] {
                let (mut sock, _) = listener.accept().unwrap();
                let mut line = Vec::new();
                let mut b = [0u8; 1];
                while sock.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
                    line.push(b[0]);
                }
                assert!(matches!(parse_request(&line), Ok(Request::DevShm)));
                match answer {
                    Some(fd) => reply_with_fd(&mut sock, &Reply::DevShm, fd),
                    None => reply(&mut sock, &Reply::Failed("it is not running".into())),
                }
            }
        });
        let fd = dev_shm(&socket).unwrap();
        let got = std::fs::File::from(fd).metadata().unwrap().ino();
        assert_eq!(got, want);
        assert_eq!(dev_shm(&socket).unwrap_err(), "it is not running");
        server.join().unwrap();
        drop(dir);
        assert_eq!(
            dev_shm(&socket).unwrap_err(),
            "its supervisor does not answer (is it running?)"
        );
    }

    #[test]
    fn a_request_this_supervisor_does_not_know_is_answered_as_from_a_newer_burrow() {
        let newer = parse_request(b"{\"Checkpoint\":{\"leave_running\":true}}\n");
        assert!(
            matches!(&newer, Err(Reply::Failed(why)) if why == OLDER_SUPERVISOR),
            "{newer:?}"
        );
        let garbage = parse_request(b"{\"Stop\n");
        assert!(
            matches!(&garbage, Err(Reply::Failed(why)) if why.starts_with("a request that is not JSON")),
            "{garbage:?}"
        );
        let line = serde_json::to_vec(&Request::Start).unwrap();
        assert!(matches!(parse_request(&line), Ok(Request::Start)));
    }
}
