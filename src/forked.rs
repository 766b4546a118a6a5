//! Work in a forked child, the one way burrow does it: a SOCK_SEQPACKET
//! socketpair carrying one typed message (JSON) per packet with at most one
//! file descriptor (SCM_RIGHTS), and `run_forked`, which runs a closure in
//! a child and hands back its typed result or its typed error.
//!
//! It sits below `sandbox`, `cgroup` and `net`, which all fork helpers, and
//! imports none of them. It never starts a thread.

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::time::{Duration, Instant};

/// A message longer than this goes in several packets: a SEQPACKET
/// packet must fit the socket's send buffer (about 200 KiB by default).
const CHUNK: usize = 60 * 1024;
/// Each packet starts with one byte: more packets of this message follow
/// (1), or this is its last (0).
const MAX_PACKET: usize = CHUNK + 1;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{call}: {source}")]
    Sys {
        call: &'static str,
        source: nix::Error,
    },
    #[error("unreadable message ({0})")]
    Decode(String),
    #[error("unexpected message")]
    Unexpected,
    #[error("no message within {}s", .0.as_secs())]
    Timeout(Duration),
}

/// One end of a parent <-> child socketpair. Both ends are close-on-exec,
/// so a parent reading EOF knows its child exited or exec'd.
#[derive(Debug)]
pub struct Channel(OwnedFd);

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

    pub fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Sends `msg`, with `fd` attached when given (to its first packet).
    pub fn send<T: Serialize>(&self, msg: &T, fd: Option<BorrowedFd>) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg).map_err(|e| ChannelError::Decode(e.to_string()))?;
        let raw = fd.map(|f| [f.as_raw_fd()]);
        let mut chunks = bytes.chunks(CHUNK).peekable();
        let mut first = true;
        let mut packet = Vec::with_capacity(bytes.len().min(CHUNK) + 1);
        while let Some(chunk) = chunks.next() {
            packet.clear();
            packet.push(u8::from(chunks.peek().is_some()));
            packet.extend_from_slice(chunk);
            let cmsgs: Vec<ControlMessage> = match (&raw, first) {
                (Some(r), true) => vec![ControlMessage::ScmRights(r)],
                _ => Vec::new(),
            };
            first = false;
            self.send_packet(&packet, &cmsgs)?;
        }
        Ok(())
    }

    fn send_packet(&self, packet: &[u8], cmsgs: &[ControlMessage]) -> Result<(), ChannelError> {
        let iov = [IoSlice::new(packet)];
        // MSG_NOSIGNAL: a peer that went away is an error, not SIGPIPE.
        loop {
            match sendmsg::<()>(
                self.0.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(source) => {
                    return Err(ChannelError::Sys {
                        call: "sendmsg",
                        source,
                    })
                }
            }
        }
    }

    /// The next message, or `None` at EOF (every writer closed or exec'd),
    /// also when the peer closed without reading all we sent.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<Option<(T, Option<OwnedFd>)>, ChannelError> {
        self.recv_by(None)
    }

    /// As `recv`, giving up with `ChannelError::Timeout` at `deadline`.
    pub fn recv_by<T: DeserializeOwned>(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Option<(T, Option<OwnedFd>)>, ChannelError> {
        if let Some(deadline) = deadline {
            self.wait_readable(deadline)?;
        }
        let mut buf = vec![0u8; MAX_PACKET];
        let mut message = Vec::new();
        let mut fd = None;
        loop {
            let Some(n) = self.recv_packet(&mut buf, &mut fd)? else {
                return Ok(None);
            };
            let Some((&more, payload)) = buf[..n].split_first() else {
                return Err(ChannelError::Decode("empty packet".into()));
            };
            if message.is_empty() && more == 0 {
                // One packet, the usual case: no copy.
                let msg = serde_json::from_slice(payload)
                    .map_err(|e| ChannelError::Decode(e.to_string()))?;
                return Ok(Some((msg, fd)));
            }
            message.extend_from_slice(payload);
            if more == 0 {
                break;
            }
        }
        let msg =
            serde_json::from_slice(&message).map_err(|e| ChannelError::Decode(e.to_string()))?;
        Ok(Some((msg, fd)))
    }

    /// One packet into `buf`: its length, `None` at EOF. An fd riding
    /// along goes to `fd` (the first one wins).
    fn recv_packet(
        &self,
        buf: &mut [u8],
        fd: &mut Option<OwnedFd>,
    ) -> Result<Option<usize>, ChannelError> {
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let (n, truncated) = loop {
            let mut iov = [IoSliceMut::new(buf)];
            match recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
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
                    break (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC));
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
            return Err(ChannelError::Decode("packet too long".into()));
        }
        Ok(Some(n))
    }

    fn wait_readable(&self, deadline: Instant) -> Result<(), ChannelError> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let start = Instant::now();
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or_else(|| ChannelError::Timeout(deadline.saturating_duration_since(start)))?;
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) | Err(nix::Error::EINTR) => continue,
                Ok(_) => return Ok(()),
                Err(source) => {
                    return Err(ChannelError::Sys {
                        call: "poll",
                        source,
                    })
                }
            }
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<OwnedFd> for Channel {
    fn from(fd: OwnedFd) -> Channel {
        Channel(fd)
    }
}

/// How a forked child ended without sending its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Death {
    Exited(i32),
    Killed(i32),
    Unknown,
}

impl std::fmt::Display for Death {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Death::Exited(code) => write!(f, "exited with status {code}"),
            Death::Killed(sig) => match nix::sys::signal::Signal::try_from(*sig) {
                Ok(s) => write!(f, "was killed by {s}"),
                Err(_) => write!(f, "was killed by signal {sig}"),
            },
            Death::Unknown => write!(f, "ended"),
        }
    }
}

/// Why `run_forked` has no answer from its child: what went wrong around
/// the work (the work's own error is the inner `Result`). `what` names the
/// helper in the user's words ("the D-Bus helper").
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    #[error(
        "{what} must be started from a single-threaded process (this one has {threads} threads)"
    )]
    Threaded { what: &'static str, threads: usize },
    #[error("cannot fork {what}: {source}")]
    Fork {
        what: &'static str,
        source: nix::Error,
    },
    #[error("talking to {what}: {source}")]
    Channel {
        what: &'static str,
        source: ChannelError,
    },
    #[error("{what} {how} without an answer")]
    Died { what: &'static str, how: Death },
    #[error("no answer from {what} within {}s", .after.as_secs())]
    Timeout { what: &'static str, after: Duration },
}

/// Child to parent: steps of a conversation, then the answer.
#[derive(Serialize, Deserialize)]
enum FromChild<S, R> {
    Step(S),
    Done(R),
}

/// The child's end of a conversation with its parent.
pub struct ChildSide<'a, S> {
    channel: &'a Channel,
    _step: std::marker::PhantomData<S>,
}

impl<S: Serialize> ChildSide<'_, S> {
    /// Sends a step of the conversation to the parent.
    pub fn step(&self, step: &S, fd: Option<BorrowedFd>) -> Result<(), ChannelError> {
        self.channel.send(&FromChild::<&S, ()>::Step(step), fd)
    }

    /// An owned sender of steps, for work that keeps it in a struct
    /// while the conversation lasts.
    pub fn sender(&self) -> Result<StepSender<S>, ChannelError> {
        let fd = rustix::io::fcntl_dupfd_cloexec(self.channel.0.as_fd(), 3).map_err(|e| {
            ChannelError::Sys {
                call: "dup",
                source: nix::Error::from_raw(e.raw_os_error()),
            }
        })?;
        Ok(StepSender {
            channel: Channel(fd),
            _step: std::marker::PhantomData,
        })
    }

    /// The parent's reply to a step.
    pub fn reply<R: DeserializeOwned>(&self) -> Result<(R, Option<OwnedFd>), ChannelError> {
        self.channel.recv()?.ok_or(ChannelError::Unexpected)
    }

    /// The parent's next message, `None` once the parent is gone: for a
    /// child that serves requests (`Started::tell`) until then.
    pub fn request<R: DeserializeOwned>(
        &self,
    ) -> Result<Option<(R, Option<OwnedFd>)>, ChannelError> {
        self.channel.recv()
    }

    /// The channel's fd, for a child that closes every fd it inherited
    /// but the ones it needs.
    pub fn raw_fd(&self) -> RawFd {
        self.channel.raw_fd()
    }
}

/// Sends steps to the parent, as `ChildSide::step` does.
pub struct StepSender<S> {
    channel: Channel,
    _step: std::marker::PhantomData<fn(S)>,
}

impl<S: Serialize> StepSender<S> {
    pub fn step(&self, step: &S, fd: Option<BorrowedFd>) -> Result<(), ChannelError> {
        self.channel.send(&FromChild::<&S, ()>::Step(step), fd)
    }
}

/// The parent's end of a conversation with its child.
pub struct ParentSide<'a> {
    channel: &'a Channel,
    pub pid: Pid,
}

impl ParentSide<'_> {
    pub fn reply<R: Serialize>(&self, msg: &R, fd: Option<BorrowedFd>) -> Result<(), ChannelError> {
        self.channel.send(msg, fd)
    }
}

/// How `run_forked` runs its child.
#[derive(Debug, Clone, Copy)]
pub struct Fork {
    /// The helper in the user's words, for errors: "the D-Bus helper".
    pub what: &'static str,
    /// Refuse to fork from a process with threads: the child must be able
    /// to enter namespaces (a threaded process cannot join a user
    /// namespace) and its memory must hold no lock another thread held.
    pub single_threaded: bool,
    /// Kill the child when it has not answered by then.
    pub timeout: Option<Duration>,
}

impl Fork {
    pub const fn new(what: &'static str) -> Fork {
        Fork {
            what,
            single_threaded: true,
            timeout: None,
        }
    }
}

/// Runs `work` in a forked child and returns what it returned: `T` or
/// its error `E`, both sent back typed over a `Channel`. The outer error is
/// the helper's own failure (fork, death, timeout). The child may start
/// threads; this process gains none.
pub fn run_forked<T, E, F>(how: Fork, work: F) -> Result<Result<T, E>, ForkError>
where
    T: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, E>,
{
    converse::<(), T, E, _, _>(how, |_| work(), |_, _, _| Ok(()))
}

/// `run_forked` with a conversation: the child may send steps (`S`, each
/// with an optional fd) and wait for the parent's replies; `on_step` runs
/// in the parent for each step. An error from `on_step` ends the child
/// (SIGKILL) and is returned as the work's error.
pub fn converse<S, T, E, C, P>(
    how: Fork,
    child: C,
    mut on_step: P,
) -> Result<Result<T, E>, ForkError>
where
    S: Serialize + DeserializeOwned,
    T: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned,
    C: FnOnce(&ChildSide<S>) -> Result<T, E>,
    P: FnMut(S, Option<OwnedFd>, &ParentSide) -> Result<(), E>,
{
    let what = how.what;
    let (ours, pid) = fork_child::<S, T, E, C>(how, child)?;
    let deadline = how.timeout.map(|t| Instant::now() + t);
    let reaper = Reaper { pid, done: false };
    let side = ParentSide {
        channel: &ours,
        pid,
    };
    let answer = loop {
        match ours.recv_by::<FromChild<S, Result<T, E>>>(deadline) {
            Ok(Some((FromChild::Step(s), fd))) => {
                if let Err(e) = on_step(s, fd, &side) {
                    break Ok(Err(e));
                }
            }
            Ok(Some((FromChild::Done(r), _))) => break Ok(r),
            Ok(None) => break Err(None),
            Err(ChannelError::Timeout(_)) => {
                break Err(Some(ForkError::Timeout {
                    what,
                    after: how.timeout.unwrap_or_default(),
                }))
            }
            Err(source) => break Err(Some(ForkError::Channel { what, source })),
        }
    };
    drop(ours);
    // A child that answered Ok is on its way out; any other is ended.
    let death = reaper.finish(!matches!(answer, Ok(Ok(_))));
    match answer {
        Ok(r) => Ok(r),
        Err(Some(e)) => Err(e),
        Err(None) => Err(ForkError::Died { what, how: death }),
    }
}

/// Forks a child that runs `child` and sends its answer (`FromChild::Done`)
/// over the channel; returns the parent's end and the child's pid.
fn fork_child<S, T, E, C>(how: Fork, child: C) -> Result<(Channel, Pid), ForkError>
where
    S: Serialize,
    T: Serialize,
    E: Serialize,
    C: FnOnce(&ChildSide<S>) -> Result<T, E>,
{
    let what = how.what;
    if how.single_threaded {
        let threads = threads();
        if threads > 1 {
            return Err(ForkError::Threaded { what, threads });
        }
    }
    let (ours, theirs) = Channel::pair().map_err(|source| ForkError::Channel { what, source })?;
    // SAFETY: without `single_threaded` the child still touches nothing a
    // lock of another thread could guard but the allocator, which glibc
    // resets across fork; with it there is no other thread. The child
    // leaves through _exit only.
    let pid = match unsafe { nix::unistd::fork() } {
        Err(source) => return Err(ForkError::Fork { what, source }),
        Ok(ForkResult::Child) => {
            drop(ours);
            let side = ChildSide {
                channel: &theirs,
                _step: std::marker::PhantomData,
            };
            // A panic must not unwind into the parent's copy of the stack.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child(&side)));
            let code = match out {
                Ok(out) => {
                    let failed = out.is_err();
                    let sent = theirs.send(&FromChild::<(), _>::Done(out), None);
                    i32::from(failed || sent.is_err())
                }
                Err(_) => 101,
            };
            // SAFETY: _exit skips atexit handlers and stdio buffers that
            // belong to the parent's copy of the process.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(theirs);
    Ok((ours, pid))
}

/// A child started by `start` for a parent that waits on several at once
/// (polling each `fd`, without a thread): its steps and then its answer
/// arrive through `hear`. Dropped before its answer, the child is killed
/// and reaped.
pub struct Started<S, T, E> {
    what: &'static str,
    channel: Channel,
    reaper: Option<Reaper>,
    _answer: std::marker::PhantomData<Answer<S, T, E>>,
}

/// What a `Started` child sends, as a type that owns none of it.
type Answer<S, T, E> = fn() -> (S, T, E);

/// What a started child said.
pub enum Heard<S, R> {
    Step(S, Option<OwnedFd>),
    Done(R),
}

/// Forks `child` as `run_forked` does, but returns at once: the parent
/// hears it through `Started::hear` when its `fd` is readable.
pub fn start<S, T, E, C>(how: Fork, child: C) -> Result<Started<S, T, E>, ForkError>
where
    S: Serialize + DeserializeOwned,
    T: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned,
    C: FnOnce(&ChildSide<S>) -> Result<T, E>,
{
    let (channel, pid) = fork_child::<S, T, E, C>(how, child)?;
    Ok(Started {
        what: how.what,
        channel,
        reaper: Some(Reaper { pid, done: false }),
        _answer: std::marker::PhantomData,
    })
}

impl<S: DeserializeOwned, T: DeserializeOwned, E: DeserializeOwned> Started<S, T, E> {
    /// What to poll: readable when the child said something or ended.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.channel.as_fd()
    }

    /// The child's pid while it has not been reaped.
    pub fn pid(&self) -> Option<Pid> {
        self.reaper.as_ref().map(|r| r.pid)
    }

    /// Sends the child a message (`ChildSide::request` or `reply` reads
    /// it); its answer comes through `hear`.
    pub fn tell<M: Serialize>(&self, msg: &M, fd: Option<BorrowedFd>) -> Result<(), ForkError> {
        self.channel
            .send(msg, fd)
            .map_err(|source| ForkError::Channel {
                what: self.what,
                source,
            })
    }

    /// The child's next message (blocks until there is one); after its
    /// answer the child is reaped.
    pub fn hear(&mut self) -> Result<Heard<S, Result<T, E>>, ForkError> {
        self.hear_by(None)
    }

    /// `hear`, the child ended when it has said nothing within `limit`.
    pub fn hear_within(&mut self, limit: Duration) -> Result<Heard<S, Result<T, E>>, ForkError> {
        self.hear_by(Some(limit))
    }

    fn hear_by(&mut self, limit: Option<Duration>) -> Result<Heard<S, Result<T, E>>, ForkError> {
        let what = self.what;
        let deadline = limit.map(|l| Instant::now() + l);
        match self.channel.recv_by::<FromChild<S, Result<T, E>>>(deadline) {
            Ok(Some((FromChild::Step(s), fd))) => Ok(Heard::Step(s, fd)),
            Ok(Some((FromChild::Done(r), _))) => {
                self.reap(r.is_err());
                Ok(Heard::Done(r))
            }
            Ok(None) => Err(ForkError::Died {
                what,
                how: self.reap(true),
            }),
            Err(ChannelError::Timeout(_)) => {
                self.reap(true);
                Err(ForkError::Timeout {
                    what,
                    after: limit.unwrap_or_default(),
                })
            }
            Err(source) => {
                self.reap(true);
                Err(ForkError::Channel { what, source })
            }
        }
    }

    fn reap(&mut self, kill: bool) -> Death {
        self.reaper
            .take()
            .map_or(Death::Unknown, |r| r.finish(kill))
    }
}

/// Reaps the child however the parent's side ends; kills it first unless
/// it answered (it is then on its way out).
struct Reaper {
    pid: Pid,
    done: bool,
}

impl Reaper {
    fn finish(mut self, kill: bool) -> Death {
        self.done = true;
        reap(self.pid, kill)
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if !self.done {
            reap(self.pid, true);
        }
    }
}

fn reap(pid: Pid, kill: bool) -> Death {
    if kill {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Death::Exited(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Death::Killed(sig as i32),
            Err(nix::Error::EINTR) => continue,
            _ => return Death::Unknown,
        }
    }
}

/// Threads of this process: procfs counts them in the link count of
/// /proc/self/task (2 plus one per thread), so one statx answers where
/// listing the directory takes five calls.
pub fn threads() -> usize {
    use rustix::fs::{statx, AtFlags, StatxFlags, CWD};
    statx(CWD, "/proc/self/task", AtFlags::empty(), StatxFlags::NLINK)
        .map(|s| (s.stx_nlink as usize).saturating_sub(2).max(1))
        .unwrap_or(1)
}

/// Closes this process's fds from `first` up, except those in `keep`:
/// what a forked helper does before it serves, so that nothing it
/// inherited (a pipe someone waits to see closed, a published port's
/// socket) stays open there. Allocates nothing.
pub fn close_fds_except(first: u32, keep: &[RawFd]) {
    let mut from = first;
    loop {
        // The lowest fd kept at or after `from`.
        let next = keep
            .iter()
            .filter_map(|&k| u32::try_from(k).ok())
            .filter(|&k| k >= from)
            .min();
        match next {
            Some(k) => {
                if k > from {
                    close_fds(from, k - 1);
                }
                from = k + 1;
            }
            None => return close_fds(from, u32::MAX),
        }
    }
}

/// Closes fds `first..=last` of this process: close_range (Linux 5.9),
/// else each fd /proc/self/fd lists in the range. Allocates nothing.
pub fn close_fds(first: u32, last: u32) {
    close_fds_with(first, last, |first, last| {
        // SAFETY: close_range takes plain integers and closes fds of this
        // process only; the callers use none of them afterwards.
        let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        if r == 0 {
            Ok(())
        } else {
            Err(rustix::io::Errno::from_raw_os_error(
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            ))
        }
    })
}

/// `close_fds` with its close_range given: a seam for the ENOSYS of
/// kernels before 5.9.
fn close_fds_with(
    first: u32,
    last: u32,
    close_range: impl Fn(u32, u32) -> Result<(), rustix::io::Errno>,
) {
    if first > last || close_range(first, last).is_ok() {
        return;
    }
    let Ok(dir) = rustix::fs::open(
        c"/proc/self/fd",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        // No /proc: every number up to the limit of open files.
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(1 << 20)
            .min(u64::from(last));
        for fd in u64::from(first)..=limit {
            // SAFETY: closing an fd number of this process; EBADF when free.
            unsafe { libc::close(fd as RawFd) };
        }
        return;
    };
    let skip = dir.as_raw_fd();
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    // The listing goes by fd number: closing one already listed moves
    // nothing that follows.
    let mut entries = rustix::fs::RawDir::new(&dir, &mut buf);
    while let Some(Ok(entry)) = entries.next() {
        let Some(fd) = std::str::from_utf8(entry.file_name().to_bytes())
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if (first..=last).contains(&fd) && fd as RawFd != skip {
            // SAFETY: as above, an fd number of this process in the range.
            unsafe { libc::close(fd as RawFd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a forked child (whose fd table is its own): /dev/null at fds
    /// 900..906, `close` run on them, then which are still open.
    fn still_open_after(close: fn()) -> Vec<bool> {
        run_forked::<Vec<bool>, String, _>(fork("a close test"), move || {
            let null = rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDONLY,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| e.to_string())?;
            for fd in 900..906 {
                // SAFETY: dup2 onto numbers this child does not use.
                if unsafe { libc::dup2(null.as_raw_fd(), fd) } != fd {
                    return Err("dup2".into());
                }
            }
            close();
            // SAFETY: F_GETFD on fd numbers, no pointers.
            Ok((900..906)
                .map(|fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0)
                .collect())
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn without_close_range_the_listed_fds_in_the_range_are_closed() {
        let out = still_open_after(|| {
            close_fds_with(901, 901, |_, _| Err(rustix::io::Errno::NOSYS));
            close_fds_with(903, 904, |_, _| Err(rustix::io::Errno::NOSYS));
        });
        assert_eq!(out, [true, false, true, false, false, true]);
        // The answer of close_range is taken when it has one.
        let out = still_open_after(|| close_fds_with(900, 905, |_, _| Ok(())));
        assert_eq!(out, [true; 6]);
    }

    #[test]
    fn the_fds_kept_split_the_ranges_closed() {
        let out = still_open_after(|| close_fds_except(901, &[904, 902, 2]));
        assert_eq!(out, [true, false, true, false, true, false]);
    }

    #[test]
    fn threads_are_counted_as_procfs_lists_them() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let held = std::thread::spawn(move || rx.recv());
        // Other tests' threads come and go between the two reads: the
        // counts must agree on some try, and never be below two here.
        let agreed = (0..200).any(|_| {
            let n = threads();
            assert!(n >= 2, "{n} threads with one held");
            let listed = std::fs::read_dir("/proc/self/task").unwrap().count();
            n == listed
        });
        drop(tx);
        let _ = held.join();
        assert!(agreed, "the link count never matched the listing");
    }

    #[test]
    fn messages_and_fds_cross_and_eof_follows_close() {
        let (a, b) = Channel::pair().unwrap();
        let file = tempfile::tempfile().unwrap();
        a.send(&"with an fd", Some(file.as_fd())).unwrap();
        a.send(&(1u8, "two".to_string()), None).unwrap();
        let (m, fd) = b.recv::<String>().unwrap().unwrap();
        assert_eq!(m, "with an fd");
        assert!(fd.is_some());
        let (m, fd) = b.recv::<(u8, String)>().unwrap().unwrap();
        assert_eq!(m, (1, "two".into()));
        assert!(fd.is_none());
        drop(a);
        assert!(b.recv::<String>().unwrap().is_none());
    }

    #[test]
    fn a_message_larger_than_a_packet_crosses_whole() {
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let got = run_forked(fork("the test helper"), || Ok::<_, WorkError>(big.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(got, big);
    }

    /// An error of the work, as a module would define it.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
    enum WorkError {
        #[error("cannot {op} {path}: errno {errno}")]
        Setup {
            op: String,
            path: String,
            errno: i32,
        },
    }

    fn fork(what: &'static str) -> Fork {
        // libtest runs tests on threads.
        Fork {
            single_threaded: false,
            ..Fork::new(what)
        }
    }

    #[test]
    fn the_answer_and_the_typed_error_cross_the_process_boundary() {
        let got: (u32, Vec<u32>) = run_forked(fork("the test helper"), || {
            // A thread started in the child dies with it.
            std::thread::spawn(|| ()).join().unwrap();
            Ok::<_, WorkError>((std::process::id(), vec![1, 2, 3]))
        })
        .unwrap()
        .unwrap();
        assert_ne!(got.0, std::process::id());
        assert_eq!(got.1, vec![1, 2, 3]);

        let err = run_forked::<(), _, _>(fork("the test helper"), || {
            Err(WorkError::Setup {
                op: "mount proc on".into(),
                path: "/proc".into(),
                errno: 1,
            })
        })
        .unwrap()
        .unwrap_err();
        assert_eq!(
            err,
            WorkError::Setup {
                op: "mount proc on".into(),
                path: "/proc".into(),
                errno: 1
            }
        );
        assert_eq!(err.to_string(), "cannot mount proc on /proc: errno 1");
    }

    #[test]
    fn a_child_that_dies_is_reported_with_how() {
        let err = run_forked::<(), WorkError, _>(fork("the test helper"), || {
            // SAFETY: ending this forked child at once, as a crash would.
            unsafe { libc::_exit(7) }
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the test helper exited with status 7 without an answer"
        );
        let err = run_forked::<(), WorkError, _>(fork("the test helper"), || {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            Ok(())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the test helper was killed by SIGKILL without an answer"
        );
    }

    #[test]
    fn a_conversation_passes_steps_replies_and_fds() {
        let got = converse::<String, String, WorkError, _, _>(
            fork("the test helper"),
            |side| {
                let file = tempfile::tempfile().unwrap();
                side.step(&"here is a file".to_string(), Some(file.as_fd()))
                    .unwrap();
                let (answer, _) = side.reply::<String>().unwrap();
                Ok(format!("parent said {answer}"))
            },
            |step, fd, parent| {
                assert_eq!(step, "here is a file");
                assert!(fd.is_some());
                parent.reply(&"thanks".to_string(), None).unwrap();
                Ok(())
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(got, "parent said thanks");

        // The parent's side fails: the child is ended, the error returned.
        let err = converse::<(), (), WorkError, _, _>(
            fork("the test helper"),
            |side| {
                side.step(&(), None).unwrap();
                // Never answered: waits until killed.
                let _ = side.reply::<()>();
                Ok(())
            },
            |_, _, _| {
                Err(WorkError::Setup {
                    op: "write the id map of".into(),
                    path: "pid".into(),
                    errno: 13,
                })
            },
        )
        .unwrap()
        .unwrap_err();
        assert!(matches!(err, WorkError::Setup { errno: 13, .. }));
    }

    #[test]
    fn a_started_child_answers_each_request_it_is_told_with_its_fd() {
        let mut started = start::<u32, (), WorkError, _>(fork("the test helper"), |side| {
            while let Some((n, _)) = side.request::<u32>().unwrap() {
                let file = tempfile::tempfile().unwrap();
                side.step(&(n * 2), Some(file.as_fd())).unwrap();
            }
            Ok(())
        })
        .unwrap();
        for n in [1u32, 21] {
            started.tell(&n, None).unwrap();
            match started.hear().unwrap() {
                Heard::Step(m, Some(_)) => assert_eq!(m, n * 2),
                Heard::Step(m, None) => panic!("{m} came without its fd"),
                Heard::Done(r) => panic!("the child ended: {r:?}"),
            }
        }
    }

    #[test]
    fn a_child_that_does_not_answer_in_time_is_killed() {
        let err = run_forked::<(), WorkError, _>(
            Fork {
                timeout: Some(Duration::from_millis(50)),
                ..fork("the test helper")
            },
            || loop {
                nix::unistd::pause();
            },
        )
        .unwrap_err();
        assert!(matches!(err, ForkError::Timeout { .. }), "{err:?}");
    }
}
