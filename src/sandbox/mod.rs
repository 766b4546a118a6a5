//! Everything between fork and execve: the user namespace and its id maps,
//! the other namespaces, the root filesystem, and the process that runs in
//! it. Knows nothing of images, the CLI or container records: `container`
//! hands it a `SandboxSpec` of plain data and gets a `Running` back.
//!
//! The path of `spawn` (no re-exec, no threads), in one of two ways:
//! - with the full id map and a live holder (`holder`): a go-between fork
//!   enters the holder's user namespace with setns and clones pid 1 into
//!   new mount and pid namespaces as the parent's own child (CLONE_PARENT),
//!   then exits; no id-map helper runs;
//! - else parent clone3(NEWUSER|NEWNS|NEWPID) -> parent runs newuidmap and
//!   newgidmap side by side (or the child writes its own single-id map).
//!
//! Then the child unshares UTS, IPC and NET and brings up loopback ->
//! cgroup namespace, root mount, mount list, pty, pivot_root, host name,
//! user, [init fork], credentials, capabilities, execve. The child is pid 1
//! of its pid namespace; the parent waits on it through a pidfd, and never
//! leaves its own user namespace (it still talks to systemd as you).

pub mod caps;
mod child;
mod copy;
pub mod exec;
pub mod floor;
mod fuse_daemon;
pub mod holder;
mod init;
pub mod join;
pub mod mounts;
pub mod probe;
pub mod rootemu;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
mod sync;
mod sys;
mod tty;
pub mod user;
pub mod userns;

pub use caps::{cap_number, CapError, CapName, CapSet};
pub use copy::{CopyManifest, Recorded};
pub use exec::ExecFailure;
pub use join::signal_number;
pub use mounts::mount_ops;
pub use rootfs::{DriverFailure, RootfsReport, COPY_MANIFEST, COPY_MARKER};
pub use seccomp::{Profile, ProfileError, SeccompPolicy};
pub use spec::MountOp;
pub use spec::{
    CgroupFs, EtcFiles, InvalidSpec, JoinNamespaces, Namespaces, NetSetup, OverlayApi,
    ProcViewFile, ProcViewHandle, ProcViewServer, Rootfs, RootfsDriver, SandboxSpec, SharedUserns,
    SysinfoServer, User, DEFAULT_MASKED_PATHS, DEFAULT_PATH, DEFAULT_READONLY_PATHS,
};
pub use user::{resolve_user, resolve_user_from, ResolvedUser, UserError};

use crate::setns;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use sync::{Channel, ToChild, ToParent};

/// A step of the container's set-up that failed, as the child reports it:
/// "cannot {op} {path}: {errno} ({detail})".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupError {
    /// What was being done, in words: "mount tmpfs on", "pivot_root into
    /// the new root", "bind-mount /home/me/src on".
    pub op: String,
    /// The path inside the container the step was about, if any.
    pub path: Option<PathBuf>,
    pub errno: Option<i32>,
    /// More context: the kernel's own message, the driver attempts...
    pub detail: Option<String>,
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot {}", self.op)?;
        if let Some(p) = &self.path {
            write!(f, " {}", p.display())?;
        }
        match (self.errno, &self.detail) {
            (Some(e), Some(d)) => write!(f, ": {} ({d})", sys::errno_text(e)),
            (Some(e), None) => write!(f, ": {}", sys::errno_text(e)),
            (None, Some(d)) => write!(f, ": {d}"),
            (None, None) => Ok(()),
        }
    }
}

impl std::error::Error for SetupError {}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Userns(#[from] userns::UsernsError),
    #[error(transparent)]
    InvalidSpec(#[from] InvalidSpec),
    #[error(
        "containers must be started from a single-threaded process (this one has {0} threads)"
    )]
    Threaded(usize),
    /// A set-up step inside the new namespaces failed.
    #[error(transparent)]
    Setup(SetupError),
    /// The command was not found (127) or could not be run (126).
    #[error(transparent)]
    Exec(ExecFailure),
    #[error("the container's set-up process died before running the command ({0})")]
    Died(ExitStatus),
    #[error("talking to the container's set-up process: {0}")]
    Channel(#[from] crate::forked::ChannelError),
    /// What the set-up process sent out of turn, or did not send.
    #[error("talking to the container's set-up process: {0}")]
    Conversation(&'static str),
    #[error("{call}: {}", sys::errno_text(*errno))]
    Sys { call: &'static str, errno: i32 },
    /// Entering the namespaces of a container's (or a shared) process.
    #[error("entering the container's namespaces: {0}")]
    Join(setns::JoinError),
    /// The running kernel is older than burrow's floor.
    #[error(transparent)]
    KernelTooOld(floor::BelowFloor),
    /// SIGINT, SIGTERM or SIGHUP came while the container was being set up.
    #[error("interrupted by signal {0} while the container was being set up")]
    Interrupted(i32),
    #[error(
        "the container's set-up made no progress for {} seconds; it was stopped",
        SETUP_STEP.as_secs()
    )]
    SetupStalled,
    #[error(transparent)]
    Helper(#[from] crate::forked::ForkError),
}

impl SandboxError {
    /// docker's exit status for this failure: 127 and 126 for the
    /// command, 125 for burrow's own.
    pub fn exit_code(&self) -> i32 {
        match self {
            SandboxError::Exec(f) => f.exit_code(),
            SandboxError::Interrupted(sig) => 128 + sig,
            _ => 125,
        }
    }
}

/// The longest the set-up may go without a word from the child; the
/// slowest step, copying an image's layers when no overlay mounts, stays
/// well under it.
const SETUP_STEP: std::time::Duration = std::time::Duration::from_secs(600);

/// Waits until the child in set-up has something to say (or hung up),
/// for at most `SETUP_STEP`. SIGINT, SIGTERM and SIGHUP end the wait: a
/// foreground run holds them blocked for the container, so they stay
/// pending here, and nothing else would notice them while the set-up
/// hangs. The caller's error path kills and reaps the child.
///
/// The root emulation's notifications are answered meanwhile: the child's
/// own last steps (its capabilities) go through the filter.
fn await_child(
    channel: &Channel,
    mut root: Option<&mut rootemu::RootEmulation>,
) -> Result<(), SandboxError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = std::time::Instant::now() + SETUP_STEP;
    loop {
        // SAFETY: the fd is the channel's, open for the whole call.
        let fd = unsafe { BorrowedFd::borrow_raw(channel.raw_fd()) };
        let mut fds = vec![PollFd::new(fd, PollFlags::POLLIN)];
        if let Some(r) = root.as_ref().and_then(|r| r.fd()) {
            fds.push(PollFd::new(r, PollFlags::POLLIN));
        }
        let polled = poll(&mut fds, PollTimeout::from(100u8));
        let channel_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let root_revents = fds
            .get(1)
            .and_then(|f| f.revents())
            .filter(|r| !r.is_empty());
        let root_ready = root_revents.is_some();
        drop(fds);
        if let (Some(revents), Some(r)) = (root_revents, root.as_mut()) {
            r.serve(crate::notify::Ready::of_revents(revents.bits()));
        }
        match polled {
            Ok(n) if n > 0 && channel_ready => return Ok(()),
            Ok(_) if root_ready => {}
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => {
                return Err(SandboxError::Sys {
                    call: "poll",
                    errno: e as i32,
                })
            }
        }
        if let Some(sig) = pending_stop_signal() {
            return Err(SandboxError::Interrupted(sig));
        }
        if std::time::Instant::now() > deadline {
            return Err(SandboxError::SetupStalled);
        }
    }
}

/// SIGINT, SIGTERM or SIGHUP, if one is pending (blocked and sent).
fn pending_stop_signal() -> Option<i32> {
    // SAFETY: sigpending fills the set it is given, a valid sigset_t.
    let set = unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        if libc::sigpending(&mut set) != 0 {
            return None;
        }
        set
    };
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .into_iter()
        // SAFETY: sigismember reads a set filled by sigpending.
        .find(|&sig| unsafe { libc::sigismember(&set, sig) } == 1)
}

/// How the container's pid 1 ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// The shell's number for it: the code, or 128+N for signal N.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit status {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Starts `spec`'s command in a new sandbox and returns once it has been
/// exec'd (or reports why it was not: a set-up step, 127, 126).
///
/// The caller must be single-threaded (checked): the child is forked, and
/// it must not inherit locks held by threads that do not exist in it. The
/// container gets SIGKILL if the calling thread exits first.
pub fn spawn(spec: &SandboxSpec) -> Result<Running, SandboxError> {
    spawn_shared(spec, None, HostSide::default())
}

/// The caller's code that a spawn runs in the parent beside the spec's
/// data, for the parts of the set-up the sandbox carries out without
/// knowing them. Given to each spawn, never stored in the spec.
#[derive(Default)]
pub struct HostSide<'a> {
    /// Makes the devices of `SandboxSpec::net_setup`'s network namespace
    /// on `/dev/net/tun` and a route socket opened there, while the child
    /// mounts the root; what it returns is `Running::take_net_fd`'s.
    pub net: Option<&'a mut MakeNetDevices<'a>>,
    /// Starts the server of `SandboxSpec::proc_view`; without one the
    /// view is off.
    pub proc_view: Option<ProcViewServer>,
    /// Answers the container's sysinfo(2), which its seccomp filter sends
    /// to the supervisor while the /proc view is on (its memory, swap,
    /// uptime and load instead of the host's); without one the kernel
    /// answers. `exec`'d processes are not sent: theirs is the kernel's.
    pub sysinfo: Option<SysinfoServer>,
    /// The /dev/shm mount of the container whose IPC namespace is joined
    /// (`DevShm::Joined`): what its parent got (`Running::dev_shm`).
    pub joined_shm: Option<OwnedFd>,
}

/// `HostSide::net`: on the tun fd and the route socket, the fd that
/// comes back.
pub type MakeNetDevices<'a> =
    dyn FnMut(OwnedFd, OwnedFd) -> Result<OwnedFd, spec::NetSetupError> + 'a;

/// The shared user namespace `spec.shared_userns` asks for, opened, for
/// `spawn_shared`; `None` when the spec does not ask for one, when no holder
/// is alive and `may_start` is false, or when one cannot be started (the
/// container then gets a namespace of its own, as without a holder).
///
/// Call it before this process joins a container's cgroup: a holder
/// started here lives on in the cgroup of the process that starts it.
/// Single-threaded callers only (starting a holder forks).
pub fn open_shared_userns(spec: &SandboxSpec, may_start: bool) -> Option<OwnedFd> {
    let s = spec.shared_userns.as_ref()?;
    if !spec.shares_userns() {
        return None;
    }
    let dir = &s.dir;
    if may_start {
        holder::open(
            dir,
            &spec.id_map,
            std::time::Duration::from_secs(s.keep_alive_secs),
        )
        .ok()
    } else {
        holder::open_live(dir, &spec.id_map)
    }
}

/// `spawn`, entering the user namespace `shared` (from
/// `open_shared_userns`) instead of making one, when given, with the
/// caller's `host` side of the set-up.
pub fn spawn_shared(
    spec: &SandboxSpec,
    shared: Option<OwnedFd>,
    host: HostSide,
) -> Result<Running, SandboxError> {
    start_shared(spec, shared, host)?.finish()
}

/// A sandbox whose pid 1 is forked and busy with its set-up (namespaces,
/// mounts), which this process has not waited for yet: the caller's own
/// work can go here, while the child works, before `finish` follows the
/// set-up to the command's execve. Dropped unfinished, it kills and reaps
/// the child.
pub struct Starting<'s, 'h> {
    spec: &'s SandboxSpec,
    host: HostSide<'h>,
    parent_end: Channel,
    running: Running,
    /// Sending `MapsWritten`: a child that failed early has closed its
    /// end, and what it sent before says why, better than the broken pipe.
    sent: Result<(), crate::forked::ChannelError>,
}

impl std::fmt::Debug for Starting<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Starting")
            .field("pid", &self.running.pid)
            .finish()
    }
}

/// The first half of `spawn_shared`: forks pid 1 and gives it what it
/// waits for from this process (its id maps, its cgroup), and returns at
/// once; `Starting::finish` is the second half.
pub fn start_shared<'s, 'h>(
    spec: &'s SandboxSpec,
    shared: Option<OwnedFd>,
    host: HostSide<'h>,
) -> Result<Starting<'s, 'h>, SandboxError> {
    floor::check_running().map_err(SandboxError::KernelTooOld)?;
    spec.validate()?;
    if spec.net_setup.is_some() && host.net.is_none() {
        return Err(InvalidSpec {
            field: "net_setup".into(),
            reason: "nothing makes the network's devices".into(),
        }
        .into());
    }
    let n = crate::forked::threads();
    if n > 1 {
        return Err(SandboxError::Threaded(n));
    }
    let ops = mount_ops(spec);
    let winsize = match (spec.tty, spec.window) {
        (false, _) => None,
        (true, Some((rows, cols))) => Some(tty::WinSize { rows, cols }),
        (true, None) => tty::terminal_size(),
    };
    let (parent_end, child_end) = Channel::pair()?;

    let shared = shared.filter(|_| spec.shares_userns());
    // The container's cgroup, held open for pid 1 to be born in. Not
    // opened: it is moved there after its birth, as on a kernel without
    // CLONE_INTO_CGROUP, and that write says what is wrong.
    let cgroup_dir = spec.cgroup.as_deref().and_then(|dir| {
        rustix::fs::open(
            dir,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()
    });
    let into_cgroup = cgroup_dir.as_ref().map(|fd| fd.as_fd());
    // In a shared namespace, a go-between enters it and forks pid 1 as our
    // child; it fails over to a namespace of the container's own.
    let mut entered = None;
    let mut ends = Some(child_end);
    if let Some(ns) = &shared {
        let theirs = parent_end.raw_fd();
        let mut pid1 = |cgroup_at_birth: bool| {
            let Some(channel) = ends.take() else {
                // SAFETY: ends this process (never reached: called once).
                unsafe { libc::_exit(125) }
            };
            // SAFETY: closing this process's copy of the parent's end.
            unsafe { libc::close(theirs) };
            child::main(child::ChildContext {
                spec,
                ops: &ops,
                channel,
                winsize,
                shared_userns: true,
                cgroup_at_birth,
                join: None,
                joined_shm: None,
                net_ready: std::cell::Cell::new(false),
                seccomp: std::cell::RefCell::new(None),
            })
        };
        // SAFETY: single-threaded, checked above.
        entered = unsafe { fork_in_shared_userns(ns, into_cgroup, &mut pid1) }.ok();
    }
    // Only pid 1, in its own copy of memory, took the child's end.
    let Some(child_end) = ends.take() else {
        return Err(SandboxError::Conversation("the child's end went missing"));
    };
    drop(shared);
    let shared_userns = entered.is_some();
    let mut join_pidfd = None;
    let joined_shm = host.joined_shm.as_ref().map(|fd| fd.as_raw_fd());
    let (pid, pidfd, cgroup_at_birth) = match entered {
        Some(p) => p,
        None => {
            // Only what must exist at birth: the other namespaces are made
            // by the child while the parent writes the id maps.
            let mut flags = (libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID) as u64;
            if let Some(join) = &spec.join {
                let fd = join::pidfd_open(join.pid)?;
                enter_namespace(join.pid, &fd, libc::CLONE_NEWUSER)?;
                flags &= !(libc::CLONE_NEWUSER as u64);
                // The children of this process are born in that pid
                // namespace from now on (this process stays in its own).
                if join.pid_ns {
                    enter_namespace(join.pid, &fd, libc::CLONE_NEWPID)?;
                    flags &= !(libc::CLONE_NEWPID as u64);
                }
                join_pidfd = Some(fd);
            }
            // SAFETY: single-threaded, checked above.
            let (forked, cgroup_at_birth) = unsafe { clone_into(flags, into_cgroup) };
            match forked {
                Ok(sys::Forked::Child) => {
                    drop(parent_end);
                    child::main(child::ChildContext {
                        spec,
                        ops: &ops,
                        channel: child_end,
                        winsize,
                        shared_userns: false,
                        cgroup_at_birth,
                        join: join_pidfd.as_ref().map(|fd| fd.as_raw_fd()),
                        joined_shm,
                        net_ready: std::cell::Cell::new(false),
                        seccomp: std::cell::RefCell::new(None),
                    })
                }
                Ok(sys::Forked::Parent { pid, pidfd }) => (pid, pidfd, cgroup_at_birth),
                Err(e) => {
                    use rustix::io::Errno;
                    return Err(match e {
                        Errno::PERM | Errno::NOSPC | Errno::ACCESS | Errno::USERS => {
                            userns::UsernsError::Unshare(nix::Error::from_raw(e.raw_os_error()))
                                .into()
                        }
                        other => SandboxError::Sys {
                            call: "clone3",
                            errno: other.raw_os_error(),
                        },
                    });
                }
            }
        }
    };
    drop(child_end);
    drop(cgroup_dir);
    // From here on, dropping `running` on an error path kills and reaps.
    let running = Running {
        pid,
        pidfd,
        pty: None,
        net: None,
        socket_notify: None,
        root_emulation: None,
        root_serves_sockets: false,
        rootfs: RootfsReport {
            driver: RootfsDriver::Bind,
            fallbacks: Vec::new(),
        },
        proc_view: None,
        proc_view_off: None,
        born_in_cgroup: cgroup_at_birth,
        fuse_daemon: None,
        dev_shm: None,
        status: None,
    };
    if !spec.id_map.is_single() && spec.join.is_none() && !shared_userns {
        userns::write_maps(&spec.id_map, nix::unistd::Pid::from_raw(pid))?;
    }
    if let Some(dir) = spec.cgroup.as_ref().filter(|_| !cgroup_at_birth) {
        join_cgroup(dir, pid)?;
    }
    // A child that failed early has closed its end: what it sent before
    // says why, better than the broken pipe.
    let sent = if spec.child_waits(shared_userns, cgroup_at_birth) {
        parent_end.send(&ToChild::MapsWritten, None)
    } else {
        Ok(())
    };
    // pid 1's seccomp program, built here while it mounts its root (it
    // installs it near its end). A child that failed meanwhile has said
    // why: read on.
    let _ = parent_end.send(&ToChild::Seccomp(child::seccomp_program(spec)), None);
    Ok(Starting {
        spec,
        host,
        parent_end,
        running,
        sent,
    })
}

impl Starting<'_, '_> {
    /// pid 1, as this process's pid namespace numbers it.
    pub fn pid(&self) -> i32 {
        self.running.pid
    }

    /// Follows the set-up to the command's execve: the sandbox running,
    /// or why the command did not start (a set-up step, 127, 126).
    pub fn finish(self) -> Result<Running, SandboxError> {
        let Starting {
            spec,
            mut host,
            parent_end,
            running,
            sent,
        } = self;
        follow_setup(spec, &mut host, &parent_end, running, sent)
    }
}

/// `Starting::finish`: answers the child's messages until it execs.
fn follow_setup(
    spec: &SandboxSpec,
    host: &mut HostSide,
    parent_end: &Channel,
    mut running: Running,
    sent: Result<(), crate::forked::ChannelError>,
) -> Result<Running, SandboxError> {
    let mut executing = false;
    let mut tun = None;
    // The container's user namespace for the servers that run in it.
    let mut userns = None;
    while let Some((msg, fd)) = {
        await_child(parent_end, running.root_emulation.as_mut())?;
        parent_end.recv::<ToParent>()?
    } {
        match msg {
            ToParent::Rootfs(report) => running.rootfs = report,
            ToParent::Pty => running.pty = fd,
            ToParent::NetTun => tun = fd,
            // The child mounts its root meanwhile.
            ToParent::NetRoute => {
                let (Some(make), Some(tun), Some(route)) = (host.net.as_mut(), tun.take(), fd)
                else {
                    running.reap_killed();
                    return Err(SandboxError::Conversation(
                        "the network's descriptors did not come",
                    ));
                };
                match make(tun, route) {
                    Ok(net) => running.net = Some(net),
                    Err(detail) => {
                        running.reap_killed();
                        return Err(SandboxError::Setup(SetupError {
                            op: "set up the network".into(),
                            path: None,
                            errno: None,
                            detail: Some(detail.to_string()),
                        }));
                    }
                }
                // A child that failed meanwhile has said why: read on.
                let _ = parent_end.send(&ToChild::NetReady, None);
            }
            ToParent::SocketNotify => running.socket_notify = fd.map(crate::notify::Listener::new),
            ToParent::RootNotify => {
                let sysinfo = host.sysinfo.as_ref().map(|s| (s.0)());
                running.root_emulation =
                    fd.map(|fd| rootemu::RootEmulation::new(fd, &spec.rootfs, sysinfo));
                // One filter, one listener: it carries the binds and
                // connects too (see `child::seccomp`).
                running.root_serves_sockets = spec.bind_notify || spec.connect_notify;
            }
            ToParent::ProcView => {
                let served = match (fd, &host.proc_view) {
                    (Some(fuse), Some(server)) => match container_userns(&mut userns, &running)
                        .map_err(|e| e.to_string())
                        .and_then(|ns| (server.0)(fuse, ns).map_err(|e| e.to_string()))
                    {
                        Ok(handle) => {
                            running.proc_view = Some(handle);
                            true
                        }
                        Err(e) => {
                            running.proc_view_off = Some(format!("its server did not start: {e}"));
                            false
                        }
                    },
                    _ => {
                        running.proc_view_off = Some("nothing serves it".into());
                        false
                    }
                };
                // A child that failed meanwhile has said why: read on.
                let _ = parent_end.send(&ToChild::ProcViewServed(served), None);
            }
            ToParent::ProcViewOff(why) => running.proc_view_off = Some(why.to_string()),
            ToParent::DevShm => running.dev_shm = fd,
            ToParent::FuseRoot(options) => {
                let served = match fd {
                    Some(fuse) => container_userns(&mut userns, &running)
                        .map_err(|e| SetupError {
                            op: "open the container's user namespace for fuse-overlayfs".into(),
                            path: None,
                            errno: Some(e.errno()),
                            detail: Some(e.to_string()),
                        })
                        .and_then(|ns| fuse_daemon::start(fuse, &options, ns))
                        .map(|daemon| running.fuse_daemon = Some(daemon)),
                    None => Err(SetupError {
                        op: "receive the fuse connection".into(),
                        path: None,
                        errno: None,
                        detail: None,
                    }),
                };
                // A child that failed meanwhile has said why: read on.
                let _ = parent_end.send(&ToChild::FuseServed(served), None);
            }
            ToParent::Executing => executing = true,
            ToParent::Failed(e) => {
                running.reap();
                return Err(SandboxError::Setup(e));
            }
            ToParent::ExecFailed(f) => {
                running.reap();
                return Err(SandboxError::Exec(f));
            }
        }
    }
    sent?;
    if !executing {
        return Err(SandboxError::Died(running.reap()));
    }
    if spec.tty && running.pty.is_none() {
        return Err(SandboxError::Conversation("no terminal came back"));
    }
    Ok(running)
}

/// clone3 of pid 1 into the cgroup `into` when there is one (see
/// `sys::clone3_into`), else or when the kernel refuses that, a plain one:
/// and whether pid 1 was born in its cgroup.
///
/// # Safety
/// As `sys::clone3`.
unsafe fn clone_into(
    flags: u64,
    into: Option<BorrowedFd<'_>>,
) -> (Result<sys::Forked, rustix::io::Errno>, bool) {
    if into.is_some() {
        // SAFETY: as this function's own contract.
        let forked = unsafe { sys::clone3_into(flags, into) };
        if forked.is_ok() {
            return (forked, true);
        }
    }
    // SAFETY: as this function's own contract.
    (unsafe { sys::clone3(flags) }, false)
}

/// What the go-between works from: it shares this process's memory.
struct GoBetween<'a, 'c> {
    ns: std::os::fd::RawFd,
    report: std::os::fd::RawFd,
    /// The cgroup pid 1 is to be born in.
    into: Option<BorrowedFd<'c>>,
    /// Set by the go-between: pid 1 was born in `into`.
    at_birth: bool,
    /// pid 1's work, told whether it was born in its cgroup.
    pid1: &'a mut dyn FnMut(bool),
}

/// The go-between, on its own stack in this process's memory (the parent
/// is suspended meanwhile): system calls only, until the clone, after which
/// pid 1 runs in a copy of that memory and never returns here.
extern "C" fn go_between(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the GoBetween that `fork_in_shared_userns` keeps
    // alive while it is suspended (CLONE_VFORK).
    let g = unsafe { &mut *arg.cast::<GoBetween>() };
    let report = |v: i32| {
        // SAFETY: a write of 4 bytes from a local to a pipe we hold.
        unsafe { libc::write(g.report, (&v as *const i32).cast(), 4) };
    };
    // In a user namespace that other containers' roots share: not dumpable
    // before it joins. The flag belongs to the memory this process borrows
    // from the caller, which sets it back once the go-between is gone;
    // pid 1 gets a copy and sets its own.
    sys::set_dumpable(false);
    // SAFETY: setns with an fd this process holds; single-threaded, and
    // CLONE_VFORK without CLONE_FS leaves our fs struct unshared.
    if unsafe { libc::setns(g.ns, libc::CLONE_NEWUSER) } < 0 {
        report(-sys::last_errno());
        return 0;
    }
    let flags = (libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_PARENT) as u64;
    // SAFETY: single-threaded; the new process gets its own copy of memory.
    let (forked, at_birth) = unsafe { clone_into(flags, g.into) };
    match forked {
        Ok(sys::Forked::Child) => {
            (g.pid1)(at_birth);
            // SAFETY: ends pid 1 if it ever came back (it execs or exits).
            unsafe { libc::_exit(125) }
        }
        Ok(sys::Forked::Parent { pid, .. }) => {
            g.at_birth = at_birth;
            report(pid)
        }
        Err(e) => report(-e.raw_os_error()),
    }
    0
}

/// Starts the container's pid 1 in the held user namespace `ns`, with new
/// mount and pid namespaces, running `pid1`: a go-between enters `ns`
/// (this process stays where it is: it still talks to systemd and the host
/// as you) and clones pid 1 as a child of this process, then exits. The
/// go-between borrows this process's memory (CLONE_VM|CLONE_VFORK) instead
/// of copying it: a fork less to copy and tear down at each start.
///
/// # Safety
/// The caller must be single-threaded.
unsafe fn fork_in_shared_userns(
    ns: &OwnedFd,
    into: Option<BorrowedFd<'_>>,
    pid1: &mut dyn FnMut(bool),
) -> Result<(i32, OwnedFd, bool), SandboxError> {
    let (report_r, report_w) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| {
            SandboxError::Sys {
                call: "pipe2",
                errno: e.raw_os_error(),
            }
        })?;
    // pid 1 runs its whole set-up on a copy of this stack: room to spare,
    // taken from memory only as it is touched, a guard page below.
    const STACK: usize = 8 << 20;
    // SAFETY: a fresh private anonymous mapping, unmapped below.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(SandboxError::Sys {
            call: "mmap a stack",
            errno: sys::last_errno(),
        });
    }
    // SAFETY: the lowest page of the mapping just made.
    unsafe { libc::mprotect(stack, 4096, libc::PROT_NONE) };
    let mut g = GoBetween {
        ns: ns.as_raw_fd(),
        report: report_w.as_raw_fd(),
        into,
        at_birth: false,
        pid1,
    };
    // SAFETY: the stack top is the end of the mapping (16-byte aligned);
    // `g` outlives the go-between, which this call waits for (VFORK).
    let middle = unsafe {
        libc::clone(
            go_between,
            stack.cast::<u8>().add(STACK).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut g as *mut GoBetween).cast(),
        )
    };
    let clone_errno = sys::last_errno();
    sys::set_dumpable(true);
    // SAFETY: the mapping made above; the go-between is gone, and pid 1
    // has its own copy.
    unsafe { libc::munmap(stack, STACK) };
    drop(report_w);
    if middle < 0 {
        return Err(SandboxError::Sys {
            call: "clone the go-between",
            errno: clone_errno,
        });
    }
    let report = holder::read_report(report_r);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(middle), None);
    let pid = report.map_err(|errno| SandboxError::Sys {
        call: "enter the shared user namespace",
        errno,
    })?;
    // pid 1 is our child (not reaped yet), so the pid cannot name another
    // process.
    match join::pidfd_open(pid) {
        Ok(pidfd) => Ok((pid, pidfd, g.at_birth)),
        Err(e) => {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            Err(e)
        }
    }
}

/// The user namespace of pid 1 as an fd of its /proc/PID/ns/user, opened
/// once (while pid 1 waits in its set-up, dumpable) and checked against
/// its pidfd: a server started in it with setns needs no setns on a pidfd
/// (Linux 5.8).
fn container_userns<'a>(
    userns: &'a mut Option<OwnedFd>,
    running: &Running,
) -> Result<BorrowedFd<'a>, setns::JoinError> {
    if userns.is_none() {
        *userns = Some(setns::user_namespace(running.pid, running.pidfd.as_fd())?);
    }
    Ok(userns.as_ref().map(|fd| fd.as_fd()).expect("opened above"))
}

/// setns into the namespace `kind` of the process to share, `pid` with
/// `pidfd`.
fn enter_namespace(pid: i32, pidfd: &OwnedFd, kind: i32) -> Result<(), SandboxError> {
    setns::join(pid, pidfd.as_fd(), kind).map_err(SandboxError::Join)
}

/// Moves the waiting child into the cgroup `dir` (a delegated one: the
/// parent may write its `cgroup.procs`).
fn join_cgroup(dir: &std::path::Path, pid: i32) -> Result<(), SandboxError> {
    let procs = dir.join("cgroup.procs");
    std::fs::write(&procs, pid.to_string()).map_err(|e| {
        SandboxError::Setup(SetupError {
            op: "move the container into its cgroup through".into(),
            path: Some(procs),
            errno: e.raw_os_error(),
            detail: None,
        })
    })
}

/// A started sandbox: its pid 1 (the command, or the init).
pub struct Running {
    pid: i32,
    pidfd: OwnedFd,
    pty: Option<OwnedFd>,
    net: Option<OwnedFd>,
    socket_notify: Option<crate::notify::Listener>,
    root_emulation: Option<rootemu::RootEmulation>,
    /// The root emulation's listener carries the socket notifier's calls.
    root_serves_sockets: bool,
    rootfs: RootfsReport,
    /// The /proc view's server, while it runs: held for its Drop, which
    /// stops it.
    #[allow(dead_code)]
    proc_view: Option<ProcViewHandle>,
    /// Why the /proc view the spec asked for is off.
    proc_view_off: Option<String>,
    /// pid 1 was born in its cgroup.
    born_in_cgroup: bool,
    /// The daemon of a fuse-overlayfs root: dropped after the container
    /// (fields drop after `Drop::drop` reaped it), which ends it.
    #[allow(dead_code)]
    fuse_daemon: Option<fuse_daemon::FuseDaemon>,
    /// The mount of its /dev/shm when others may share it
    /// (`DevShm::shared`).
    dev_shm: Option<OwnedFd>,
    status: Option<ExitStatus>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("pid", &self.pid)
            .field("rootfs", &self.rootfs)
            .field("tty", &self.pty.is_some())
            .finish()
    }
}

impl Running {
    /// The container's pid 1, as this process's pid namespace numbers it
    /// (what `exec` will setns into).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// A pidfd of pid 1: readable when it exits, immune to pid reuse.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The driver that mounted the root, and the fallbacks on the way.
    pub fn rootfs(&self) -> &RootfsReport {
        &self.rootfs
    }

    /// Why the /proc view that `SandboxSpec::proc_view` asked for is off
    /// (the container sees the host's files), for a note.
    pub fn proc_view_off(&self) -> Option<&str> {
        self.proc_view_off.as_deref()
    }

    /// The mount of the container's /dev/shm, when `SandboxSpec::dev_shm`
    /// lets others share it: what a container joining its IPC namespace
    /// gets (`HostSide::joined_shm`). It stays this mount, whatever the
    /// container mounts over its /dev/shm.
    pub fn dev_shm(&self) -> Option<BorrowedFd<'_>> {
        self.dev_shm.as_ref().map(|fd| fd.as_fd())
    }

    /// Whether pid 1 was born in `SandboxSpec::cgroup` (CLONE_INTO_CGROUP)
    /// rather than moved there after its birth.
    pub fn born_in_cgroup(&self) -> bool {
        self.born_in_cgroup
    }

    /// The pty master, for the supervisor (or `exec`) to relay.
    pub fn take_pty(&mut self) -> Option<OwnedFd> {
        self.pty.take()
    }

    /// What `SandboxSpec::net_setup` made inside the container.
    pub fn take_net_fd(&mut self) -> Option<OwnedFd> {
        self.net.take()
    }

    /// The listener of the socket notifier `SandboxSpec::bind_notify` or
    /// `connect_notify` asked for (none where the kernel or the
    /// architecture has none). Whoever takes it must answer every
    /// notification: while nobody reads it, the container's notified calls
    /// wait, and once it is closed they fail with ENOSYS.
    ///
    /// With root emulation too, the filter has one listener for both: it
    /// comes here with the root emulation's server for its other calls
    /// (and `take_root_emulation` then has nothing).
    pub fn take_socket_notify(
        &mut self,
    ) -> (
        Option<crate::notify::Listener>,
        Option<Box<dyn crate::notify::Server>>,
    ) {
        if let Some(l) = self.socket_notify.take() {
            return (Some(l), None);
        }
        if !self.root_serves_sockets {
            return (None, None);
        }
        match self.root_emulation.take().and_then(|r| r.into_parts()) {
            Some((l, server)) => (Some(l), Some(Box::new(server))),
            None => (None, None),
        }
    }

    /// The root emulation (`SandboxSpec::root_emulation`; none where the
    /// kernel has no user notification): keep serving it, or the
    /// container's chowns to other owners wait.
    pub fn take_root_emulation(&mut self) -> Option<rootemu::RootEmulation> {
        self.root_emulation.take()
    }

    /// Sends `signal` to pid 1. A pid 1 without a handler ignores all but
    /// SIGKILL (and SIGSTOP), as in any pid namespace: that is what
    /// `init` is for. Signalling an exited container is not an error.
    pub fn kill(&self, signal: i32) -> Result<(), SandboxError> {
        if self.status.is_some() {
            return Ok(());
        }
        match join::pidfd_signal(&self.pidfd, signal) {
            Err(errno) if errno != libc::ESRCH => Err(SandboxError::Sys {
                call: "pidfd_send_signal",
                errno,
            }),
            _ => Ok(()),
        }
    }

    /// The exit status if pid 1 has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, SandboxError> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        use nix::sys::wait::{waitpid, WaitPidFlag};
        match waitpid(
            nix::unistd::Pid::from_raw(self.pid),
            Some(WaitPidFlag::WNOHANG),
        ) {
            Ok(st) => Ok(self.record(st)),
            Err(e) => Err(SandboxError::Sys {
                call: "waitpid",
                errno: e as i32,
            }),
        }
    }

    fn record(&mut self, st: nix::sys::wait::WaitStatus) -> Option<ExitStatus> {
        use nix::sys::wait::WaitStatus;
        let s = match st {
            WaitStatus::Exited(_, c) => ExitStatus::Exited(c),
            WaitStatus::Signaled(_, sig, _) => ExitStatus::Signaled(sig as i32),
            _ => return None,
        };
        self.status = Some(s);
        Some(s)
    }

    /// Kills pid 1 and reaps it.
    fn reap_killed(&mut self) -> ExitStatus {
        let _ = self.kill(libc::SIGKILL);
        self.reap()
    }

    /// Blocks until pid 1 exits and reaps it.
    fn reap(&mut self) -> ExitStatus {
        loop {
            if let Some(s) = self.status {
                return s;
            }
            match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None) {
                Ok(st) => {
                    self.record(st);
                }
                Err(nix::Error::EINTR) => {}
                // Reaped elsewhere (a SIGCHLD set to SIG_IGN): unknown.
                Err(_) => {
                    self.status = Some(ExitStatus::Exited(125));
                }
            }
        }
    }

    /// Waits for pid 1 to exit without relaying or forwarding anything.
    pub fn wait_exit(mut self) -> ExitStatus {
        self.reap()
    }
}

impl Drop for Running {
    /// A container nobody waits for is killed and reaped, so that an
    /// error path leaves no process behind.
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.kill(libc::SIGKILL);
            self.reap();
        }
    }
}
