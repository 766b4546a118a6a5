//! The supervisor of a detached container (`run -d`, `start`): a small
//! process of its own session that starts the sandbox, holds its stdio
//! (pipes, or the pty master), writes its output to the log, waits on its
//! pidfd, records how it ended, restarts it by policy, and serves the
//! control socket (attach, stop, kill, wait). One thread, one poll loop;
//! it never loads the image store or the CLI's configuration.
//!
//! The container is the supervisor's child and dies with it
//! (PR_SET_PDEATHSIG): a killed supervisor leaves no container nobody
//! watches, and `ps` then shows it exited.

use super::log::{self, LogWriter, Stream};
use super::record::{self, Containers, State, Status};
use crate::image::store::now;
use crate::sandbox::{self, Running, SandboxError, SandboxSpec};
use crate::time::rfc3339;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The supervisor's instructions, `supervise.json` in the container's
/// directory: written when the container is created, read by every
/// supervisor started for it (and by `exec`, for the sandbox's settings).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub sandbox: SandboxSpec,
    pub log_max_size: u64,
    /// Where the control socket lives: the runtime dir's
    /// `burrow/containers/ID`.
    pub runtime_dir: PathBuf,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    /// The image's StopSignal, as a number (SIGTERM by default).
    pub stop_signal: i32,
    /// Keep a pipe on the container's stdin for `attach -i` (`-i`).
    pub interactive: bool,
    /// Resource limits: the supervisor makes the container's cgroup (and
    /// moves itself into it, as the foreground `run` does).
    #[serde(default)]
    pub limits: crate::cgroup::Limits,
    /// The network to bring up at each start (`--network user`, `-p`).
    #[serde(default)]
    pub network: super::network::SupervisedNetwork,
}

/// Why the supervisor could not start the container.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
}

impl StartError {
    fn exit_code(&self) -> i32 {
        match self {
            StartError::Sandbox(e) => e.exit_code(),
            StartError::Cgroup(_) => 125,
        }
    }
}

pub const PLAN_FILE: &str = "supervise.json";
pub const SOCKET: &str = "ctl.sock";

impl Plan {
    /// The plan of the container whose directory is `dir`: beside its
    /// record, or where the record's `plan_dir` says.
    pub fn load(dir: &Path) -> Result<Plan, String> {
        let mut path = dir.join(PLAN_FILE);
        if !path.exists() {
            let moved = super::record::record_in(dir).ok().and_then(|r| r.plan_dir);
            if let Some(d) = moved {
                path = d.join(PLAN_FILE);
            }
        }
        let data = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_slice(&data).map_err(|e| format!("corrupt {}: {e}", path.display()))
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let path = dir.join(PLAN_FILE);
        let tmp = dir.join(".supervise.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(tmp, path)
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join(SOCKET)
    }
}

/// `--restart`: what the supervisor does when the container exits on its
/// own (never after `stop` or `kill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart on a non-zero exit, at most this many times if given.
    OnFailure(Option<u32>),
    Always,
}

impl std::str::FromStr for RestartPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "no" || s.is_empty() => Ok(RestartPolicy::No),
            None if s == "always" || s == "unless-stopped" => Ok(RestartPolicy::Always),
            None if s == "on-failure" => Ok(RestartPolicy::OnFailure(None)),
            Some(("on-failure", n)) => n
                .parse()
                .map(|n| RestartPolicy::OnFailure(Some(n)))
                .map_err(|_| format!("invalid --restart {s:?}: the count must be a number")),
            _ => Err(format!(
                "invalid --restart {s:?}: no, on-failure[:N], always"
            )),
        }
    }
}

impl RestartPolicy {
    /// Whether to start again after exit `code` and `restarts` restarts.
    pub fn wants_restart(self, code: i32, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|m| restarts < m),
        }
    }
}

/// A request on the control socket: one JSON line. After `Attach`, the
/// supervisor sends log frames (and an `Exit` frame at the end) and reads
/// raw stdin bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// `close_stdin`: the client's end of input is the container's too.
    Attach {
        stdin: bool,
        close_stdin: bool,
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
}

/// The answer to `Stop`, `Kill` and `Wait`: one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Exited { code: i32 },
    Failed(String),
}

/// What the supervisor tells the CLI that started it, on fd 3.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Report {
    Started { pid: i32 },
    Failed { message: String, code: i32 },
}

/// Room for more event sources in the loop (the network stack's tap fd,
/// published-port listeners): each polls its fds and handles them.
pub trait Extension {
    /// The fds to watch now, each with a token of the extension's own.
    fn fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags, u32)>;
    fn ready(&mut self, token: u32, revents: PollFlags);
    /// The latest the loop may sleep before calling `tick`.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    fn tick(&mut self) {}
    /// The container's pid 1 started (again): a network stack joins its
    /// namespace here, through the pidfd.
    fn started(&mut self, _pid: i32, _pidfd: BorrowedFd<'_>) {}
    /// Before each start: what the sandbox must do for this extension
    /// (the saved spec cannot carry functions).
    fn prepare(&self, _spec: &mut SandboxSpec) {}
    /// After each start: the fd the sandbox's network set-up made, for the
    /// extension that asked for it.
    fn take_net(&mut self, _pid: i32, _net: &mut Option<OwnedFd>) {}
    /// After each start, before `take_net`: the listener of the sandbox's
    /// socket notifier (`SandboxSpec::bind_notify`, `connect_notify`), for the extension that
    /// asked for it. Whoever takes it must answer every notification.
    fn take_socket_notify(&mut self, _fd: &mut Option<OwnedFd>) {}
    /// The container exited and will not be restarted by this supervisor:
    /// give back what it holds of the host's (published ports).
    fn release(&mut self) {}
}

/// The extensions a container's plan asks for. Empty until networking
/// lands: the userspace network stack and the published-port listeners
/// are created here, before the container starts.
fn extensions_for(plan: &Plan) -> Result<Vec<Box<dyn Extension>>, String> {
    let mut list: Vec<Box<dyn Extension>> = Vec::new();
    if plan.network.user || !plan.network.ports.is_empty() {
        list.push(Box::new(super::network::SupervisedStack::new(
            plan.network.clone(),
        )?));
    }
    Ok(list)
}

enum ClientKind {
    /// The request line is still coming.
    Pending,
    Attached {
        stdin: bool,
        close_stdin: bool,
    },
    /// Waits for the final exit (`Stop`, `Wait`).
    Waiting,
}

struct Client {
    sock: UnixStream,
    buf: Vec<u8>,
    kind: ClientKind,
    /// The client shut its sending side: not polled for reading again.
    eof: bool,
}

/// Where the container's output comes from.
struct Stdio {
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
}

struct Supervisor {
    plan: Plan,
    containers: Containers,
    running: Option<Running>,
    io: Stdio,
    log: LogWriter,
    listener: UnixListener,
    clients: Vec<Client>,
    extensions: Vec<Box<dyn Extension>>,
    kill_at: Option<Instant>,
    restart_at: Option<Instant>,
    started: Instant,
    user_stopped: bool,
    restarts: u32,
    last_code: i32,
    buf: Vec<u8>,
    /// Made at the first start, kept across restarts, released at the end.
    cgroup: Option<crate::cgroup::Cgroup>,
}

/// `burrow __supervise DIR [attach]`: runs the supervisor of the container
/// in DIR; with `attach`, the first client is accepted before the container
/// starts (`start -a`).
pub fn main(dir: &Path, hold: bool) -> i32 {
    // SAFETY: dispositions set before any thread exists; the terminal's
    // hangup and closed sockets must not end the supervisor.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // Whatever mask the CLI held while it launched us is not ours.
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    // SAFETY: fd 3 is the report pipe the CLI set up, if it is open.
    let report = (unsafe { libc::fcntl(3, libc::F_GETFD) } >= 0).then(|| {
        // SAFETY: fd 3 is open and ours alone from now on.
        unsafe { libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: as above.
        unsafe { OwnedFd::from_raw_fd(3) }
    });
    let send_report = |r: &Report| {
        if let Some(fd) = &report {
            let mut line = serde_json::to_vec(r).unwrap_or_default();
            line.push(b'\n');
            let _ = rustix::io::write(fd, &line);
        }
    };
    let mut sup = match Supervisor::new(dir) {
        Ok(s) => s,
        Err(message) => {
            send_report(&Report::Failed { message, code: 125 });
            return 125;
        }
    };
    if hold {
        sup.accept_first();
    }
    match sup.start() {
        Ok(pid) => send_report(&Report::Started { pid }),
        Err(e) => {
            let code = e.exit_code();
            sup.record_failure(&e);
            send_report(&Report::Failed {
                message: e.to_string(),
                code,
            });
            sup.finish();
            return code;
        }
    }
    drop(report);
    trim_code_pages();
    sup.run();
    sup.finish();
    0
}

fn storage_of(dir: &Path) -> Option<&Path> {
    dir.parent()?.parent()
}

impl Supervisor {
    fn new(dir: &Path) -> Result<Supervisor, String> {
        let plan = Plan::load(dir)?;
        let extensions = extensions_for(&plan)?;
        let root = storage_of(dir).ok_or("the container directory has no parent")?;
        let containers = Containers::open(root).map_err(|e| e.to_string())?;
        let log = LogWriter::open(dir, plan.log_max_size)
            .map_err(|e| format!("opening the log in {}: {e}", dir.display()))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .create(&plan.runtime_dir)
            .map_err(|e| format!("creating {}: {e}", plan.runtime_dir.display()))?;
        let socket = plan.socket();
        let _ = std::fs::remove_file(&socket);
        let listener = socket_path(&plan.runtime_dir, |short| UnixListener::bind(short))
            .map_err(|e| format!("listening on {}: {e}", socket.display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("{}: {e}", socket.display()))?;
        Ok(Supervisor {
            plan,
            containers,
            running: None,
            io: Stdio {
                out: None,
                err: None,
                pty: None,
                stdin: None,
            },
            log,
            listener,
            clients: Vec::new(),
            extensions,
            kill_at: None,
            restart_at: None,
            started: Instant::now(),
            user_stopped: false,
            restarts: 0,
            last_code: 0,
            buf: vec![0u8; 32 * 1024],
            cgroup: None,
        })
    }

    /// Starts the sandbox with stdio on pipes (or a pty) held here.
    fn start(&mut self) -> Result<i32, StartError> {
        let sys = |call: &'static str| {
            move |e: rustix::io::Errno| SandboxError::Sys {
                call,
                errno: e.raw_os_error(),
            }
        };
        // Before the supervisor joins the container's cgroup (at the first
        // start only): a holder started from inside it would pin it.
        let userns = sandbox::open_shared_userns(&self.plan.sandbox, self.cgroup.is_none());
        if self.cgroup.is_none() {
            if let crate::cgroup::Setup::Ready(cg) =
                crate::cgroup::create(&self.plan.id, &self.plan.limits)?
            {
                self.cgroup = Some(cg);
            }
        }
        let mut spec = self.plan.sandbox.clone();
        for ext in &self.extensions {
            ext.prepare(&mut spec);
        }
        spec.cgroup = self.cgroup.as_ref().map(|cg| cg.path.clone());
        let spec = &spec;
        let mut running = if spec.tty {
            let mut r = sandbox::spawn_shared(spec, userns)?;
            self.io.pty = r.take_pty();
            r
        } else {
            let flags = rustix::pipe::PipeFlags::CLOEXEC;
            let (out_r, out_w) = rustix::pipe::pipe_with(flags).map_err(sys("pipe"))?;
            let (err_r, err_w) = rustix::pipe::pipe_with(flags).map_err(sys("pipe"))?;
            let stdin = if self.plan.interactive {
                Some(rustix::pipe::pipe_with(flags).map_err(sys("pipe"))?)
            } else {
                None
            };
            let null = rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(sys("open /dev/null"))?;
            let in_fd = stdin
                .as_ref()
                .map(|(r, _)| r.as_fd())
                .unwrap_or(null.as_fd());
            for (fd, target) in [(in_fd, 0), (out_w.as_fd(), 1), (err_w.as_fd(), 2)] {
                // SAFETY: dup2 onto stdio, which the child inherits.
                unsafe { libc::dup2(fd.as_raw_fd(), target) };
            }
            let r = sandbox::spawn_shared(spec, userns);
            for target in 0..3 {
                // SAFETY: back to /dev/null, so only the container holds
                // the pipes' write ends and their EOF means its end.
                unsafe { libc::dup2(null.as_raw_fd(), target) };
            }
            let r = r?;
            self.io.out = Some(out_r);
            self.io.err = Some(err_r);
            self.io.stdin = stdin.map(|(_, w)| w);
            r
        };
        for fd in [&self.io.out, &self.io.err, &self.io.pty, &self.io.stdin]
            .into_iter()
            .flatten()
        {
            let _ = rustix::fs::fcntl_setfl(fd, rustix::fs::OFlags::NONBLOCK);
        }
        let pid = running.pid();
        let mut net = running.take_net_fd();
        let mut socket_notify = running.take_socket_notify();
        for ext in &mut self.extensions {
            ext.take_socket_notify(&mut socket_notify);
            ext.take_net(pid, &mut net);
            ext.started(pid, running.pidfd());
        }
        let mut state = self.state();
        state.status = Status::Running;
        state.pid = Some(pid);
        state.pid_start = record::process_start_time(pid);
        state.started_at = Some(rfc3339(now()));
        state.finished_at = None;
        state.exit_code = None;
        state.error = None;
        state.rootfs_driver = Some(running.rootfs().driver.name().to_string());
        state.cgroup = self.cgroup.clone();
        state.limits = self.plan.limits.clone();
        state.oom_killed = false;
        let _ = self.containers.set_state(&self.plan.id, &state);
        self.running = Some(running);
        self.started = Instant::now();
        Ok(pid)
    }

    fn state(&self) -> State {
        self.containers
            .state(&self.plan.id)
            .unwrap_or_else(|_| State::created())
    }

    fn record_failure(&self, e: &StartError) {
        let mut state = self.state();
        state.status = Status::Exited;
        state.pid = None;
        state.exit_code = Some(e.exit_code());
        state.error = Some(e.to_string());
        state.finished_at = Some(rfc3339(now()));
        let _ = self.containers.set_state(&self.plan.id, &state);
    }

    fn run(&mut self) {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal};
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGINT);
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
        let signals =
            SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ok();

        loop {
            if self.running.is_none() && self.restart_at.is_none() {
                return;
            }
            // Slots: a fixed order, rebuilt each turn (fds come and go).
            #[derive(Clone, Copy)]
            enum Slot {
                Signal,
                Exit,
                Out,
                Err,
                Pty,
                Listener,
                Client(usize),
                Ext(usize, u32),
            }
            let mut slots = Vec::with_capacity(8 + self.clients.len());
            let mut fds = Vec::with_capacity(8 + self.clients.len());
            let inp = PollFlags::POLLIN;
            if let Some(s) = &signals {
                fds.push(PollFd::new(s.as_fd(), inp));
                slots.push(Slot::Signal);
            }
            if let Some(r) = &self.running {
                fds.push(PollFd::new(r.pidfd(), inp));
                slots.push(Slot::Exit);
            }
            for (fd, slot) in [
                (&self.io.out, Slot::Out),
                (&self.io.err, Slot::Err),
                (&self.io.pty, Slot::Pty),
            ] {
                if let Some(fd) = fd {
                    fds.push(PollFd::new(fd.as_fd(), inp));
                    slots.push(slot);
                }
            }
            fds.push(PollFd::new(self.listener.as_fd(), inp));
            slots.push(Slot::Listener);
            for (i, c) in self.clients.iter().enumerate().filter(|(_, c)| !c.eof) {
                fds.push(PollFd::new(c.sock.as_fd(), inp));
                slots.push(Slot::Client(i));
            }
            for (i, ext) in self.extensions.iter().enumerate() {
                for (fd, flags, token) in ext.fds() {
                    fds.push(PollFd::new(fd, flags));
                    slots.push(Slot::Ext(i, token));
                }
            }
            let deadline = [self.kill_at, self.restart_at]
                .into_iter()
                .flatten()
                .chain(self.extensions.iter().filter_map(|e| e.next_deadline()))
                .min();
            let timeout = match deadline {
                Some(d) => {
                    let ms = d.saturating_duration_since(Instant::now()).as_millis();
                    PollTimeout::from(ms.min(60_000) as u16)
                }
                None => PollTimeout::NONE,
            };
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
            let ready: Vec<(Slot, PollFlags)> = fds
                .iter()
                .zip(&slots)
                .filter_map(|(f, s)| f.revents().filter(|r| !r.is_empty()).map(|r| (*s, r)))
                .collect();
            drop(fds);

            let mut exited = false;
            let mut gone_clients = Vec::new();
            for (slot, revents) in ready {
                match slot {
                    Slot::Signal => {
                        while let Some(Ok(Some(_))) = signals.as_ref().map(|s| s.read_signal()) {
                            let sig = self.plan.stop_signal;
                            self.stop(sig, Duration::from_secs(10));
                        }
                    }
                    Slot::Exit => exited = true,
                    Slot::Out => self.pump(Stream::Stdout),
                    Slot::Err => self.pump(Stream::Stderr),
                    Slot::Pty => self.pump(Stream::Stdout),
                    Slot::Listener => self.accept(),
                    Slot::Client(i) => {
                        if !self.client_readable(i) {
                            gone_clients.push(i);
                        }
                    }
                    Slot::Ext(i, token) => self.extensions[i].ready(token, revents),
                }
            }
            for i in gone_clients.into_iter().rev() {
                self.clients.remove(i);
            }
            for ext in &mut self.extensions {
                if ext.next_deadline().is_some_and(|d| d <= Instant::now()) {
                    ext.tick();
                }
            }
            if self.kill_at.is_some_and(|t| t <= Instant::now()) {
                self.kill_at = None;
                if let Some(r) = &self.running {
                    let _ = r.kill(libc::SIGKILL);
                }
            }
            if exited {
                self.container_exited();
            }
            if self.restart_at.is_some_and(|t| t <= Instant::now()) {
                self.restart_at = None;
                self.restarts += 1;
                if let Err(e) = self.start() {
                    self.record_failure(&e);
                    self.last_code = e.exit_code();
                    self.log.write(
                        Stream::Stderr,
                        format!("burrow: restart failed: {e}\n").as_bytes(),
                    );
                }
            }
        }
    }

    /// Moves what the container wrote to the log and to attached clients.
    fn pump(&mut self, stream: Stream) {
        let fd = match (stream, &self.io.pty) {
            (_, Some(p)) => p,
            (Stream::Stderr, _) => match &self.io.err {
                Some(f) => f,
                None => return,
            },
            _ => match &self.io.out {
                Some(f) => f,
                None => return,
            },
        };
        let mut closed = false;
        // Bounded, so one chatty stream cannot starve the loop.
        for _ in 0..16 {
            match rustix::io::read(fd, &mut self.buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    let data = &self.buf[..n];
                    self.log.write(stream, data);
                    let header = log::encode_header(stream, n, log::now_ns());
                    self.clients.retain_mut(|c| match c.kind {
                        ClientKind::Attached { .. } => send_nonblocking(&mut c.sock, &header, data),
                        _ => true,
                    });
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => break,
                // EIO from a pty: every holder of the terminal is gone.
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            match (stream, self.io.pty.is_some()) {
                (_, true) => self.io.pty = None,
                (Stream::Stderr, _) => self.io.err = None,
                _ => self.io.out = None,
            }
        }
    }

    /// After pid 1 exited: the rest of the output, the status, and either
    /// a restart or the end.
    fn container_exited(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && (self.io.out.is_some() || self.io.err.is_some() || self.io.pty.is_some())
        {
            let mut fds = Vec::new();
            for fd in [&self.io.out, &self.io.err, &self.io.pty]
                .into_iter()
                .flatten()
            {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            if poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) == 0 {
                break;
            }
            drop(fds);
            self.pump(Stream::Stdout);
            self.pump(Stream::Stderr);
        }
        self.io = Stdio {
            out: None,
            err: None,
            pty: None,
            stdin: None,
        };
        let Some(running) = self.running.take() else {
            return;
        };
        let status = running.wait_exit();
        self.kill_at = None;
        self.last_code = status.code();
        let mut state = self.state();
        state.status = Status::Exited;
        state.pid = None;
        state.exit_code = Some(status.code());
        state.finished_at = Some(rfc3339(now()));
        state.oom_killed = self.cgroup.as_ref().is_some_and(|cg| cg.oom_killed());
        let restart = !self.user_stopped
            && self
                .plan
                .restart
                .wants_restart(status.code(), self.restarts);
        // Before the state says so: whoever sees the container exited (a
        // `wait`, a `stop`, then `start`) finds its host ports free.
        if !restart {
            for ext in &mut self.extensions {
                ext.release();
            }
        }
        let _ = self.containers.set_state(&self.plan.id, &state);
        if restart {
            // Backoff: 100 ms doubling per restart, back to the start once
            // the container has run for a while, at most 30 s.
            if self.started.elapsed() > Duration::from_secs(10) {
                self.restarts = 0;
            }
            let wait =
                Duration::from_millis(100u64 << self.restarts.min(9)).min(Duration::from_secs(30));
            self.restart_at = Some(Instant::now() + wait);
        }
    }

    fn stop(&mut self, signal: i32, timeout: Duration) {
        self.user_stopped = true;
        self.restart_at = None;
        if let Some(r) = &self.running {
            let _ = r.kill(signal);
            self.kill_at = Some(Instant::now() + timeout);
        }
    }

    /// Waits (at most 10 s) for one client and its request line.
    fn accept_first(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.clients.is_empty() {
            let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(100u16));
            self.accept();
        }
        while Instant::now() < deadline
            && self
                .clients
                .first()
                .is_some_and(|c| matches!(c.kind, ClientKind::Pending))
        {
            let mut fds = [PollFd::new(self.clients[0].sock.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(100u16));
            if !self.client_readable(0) {
                self.clients.remove(0);
            }
        }
    }

    fn accept(&mut self) {
        while let Ok((sock, _)) = self.listener.accept() {
            let _ = sock.set_nonblocking(true);
            self.clients.push(Client {
                sock,
                buf: Vec::new(),
                kind: ClientKind::Pending,
                eof: false,
            });
        }
    }

    /// Handles what a client sent; false when it is gone.
    fn client_readable(&mut self, i: usize) -> bool {
        let n = match self.clients[i].sock.read(&mut self.buf) {
            // An attached client at the end of its stdin: so is the
            // container (a pipe's EOF; a terminal gets none).
            Ok(0) if matches!(self.clients[i].kind, ClientKind::Attached { .. }) => {
                if matches!(
                    self.clients[i].kind,
                    ClientKind::Attached {
                        stdin: true,
                        close_stdin: true
                    }
                ) {
                    self.io.stdin = None;
                }
                self.clients[i].eof = true;
                return true;
            }
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        };
        match self.clients[i].kind {
            ClientKind::Attached { stdin: true, .. } => {
                let target = self.io.pty.as_ref().or(self.io.stdin.as_ref());
                if let Some(fd) = target {
                    let _ = rustix::io::write(fd, &self.buf[..n]);
                }
                true
            }
            ClientKind::Attached { stdin: false, .. } | ClientKind::Waiting => true,
            ClientKind::Pending => {
                let data = self.buf[..n].to_vec();
                let c = &mut self.clients[i];
                c.buf.extend_from_slice(&data);
                let Some(end) = c.buf.iter().position(|&b| b == b'\n') else {
                    return c.buf.len() < 4096;
                };
                let line: Vec<u8> = c.buf.drain(..=end).collect();
                let rest = std::mem::take(&mut c.buf);
                match serde_json::from_slice::<Request>(&line) {
                    Ok(req) => self.request(i, req, &rest),
                    Err(e) => {
                        reply(&mut self.clients[i].sock, &Reply::Failed(e.to_string()));
                        false
                    }
                }
            }
        }
    }

    fn request(&mut self, i: usize, req: Request, rest: &[u8]) -> bool {
        match req {
            Request::Attach { stdin, close_stdin } => {
                self.clients[i].kind = ClientKind::Attached { stdin, close_stdin };
                if stdin && !rest.is_empty() {
                    if let Some(fd) = self.io.pty.as_ref().or(self.io.stdin.as_ref()) {
                        let _ = rustix::io::write(fd, rest);
                    }
                }
                true
            }
            Request::Kill { signal } => {
                if matches!(
                    signal,
                    libc::SIGKILL | libc::SIGTERM | libc::SIGINT | libc::SIGQUIT
                ) {
                    self.user_stopped = true;
                    self.restart_at = None;
                }
                let r = match &self.running {
                    Some(r) => r
                        .kill(signal)
                        .map(|()| Reply::Done)
                        .unwrap_or_else(|e| Reply::Failed(e.to_string())),
                    None => Reply::Done,
                };
                reply(&mut self.clients[i].sock, &r);
                false
            }
            Request::Stop {
                signal,
                timeout_secs,
            } => {
                self.stop(signal, Duration::from_secs(timeout_secs));
                self.clients[i].kind = ClientKind::Waiting;
                true
            }
            Request::Wait => {
                self.clients[i].kind = ClientKind::Waiting;
                true
            }
        }
    }

    /// The container is gone for good: tell the clients, remove the socket
    /// (and the container with `--rm`).
    fn finish(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.release() {
                self.log
                    .write(Stream::Stderr, format!("burrow: {e}\n").as_bytes());
            }
        }
        let code = self.last_code;
        for c in &mut self.clients {
            match c.kind {
                ClientKind::Waiting => reply(&mut c.sock, &Reply::Exited { code }),
                ClientKind::Attached { .. } => {
                    let _ = c.sock.set_nonblocking(false);
                    let _ = c
                        .sock
                        .write_all(&log::encode_header(Stream::Exit, 4, log::now_ns()));
                    let _ = c.sock.write_all(&code.to_le_bytes());
                }
                ClientKind::Pending => {}
            }
        }
        self.clients.clear();
        let _ = std::fs::remove_file(self.plan.socket());
        let _ = std::fs::remove_dir(&self.plan.runtime_dir);
        if self.plan.auto_remove {
            let dir = self.containers.dir_of(&self.plan.id);
            if let Ok(_lock) = self.containers.lock() {
                if crate::image::store::remove_tree(&dir).is_err() {
                    let d = dir.clone();
                    let _ = sandbox::userns::run_in_userns(&self.plan.sandbox.id_map, move || {
                        crate::image::store::remove_tree(&d).map_err(|e| e.to_string())
                    });
                }
            }
        }
    }
}

/// Drops the resident pages of read-only file mappings touched while
/// starting (the sandbox set-up, JSON, the dynamic loader's work): the loop
/// needs few of them, and they fault back in from the page cache when used.
/// Only mappings that are not writable and hold no private (written) page
/// are dropped, so nothing is lost; most of the supervisor's resident
/// memory is such pages.
fn trim_code_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut current: Option<(usize, usize)> = None;
    let drop_now = |range: Option<(usize, usize)>| {
        if let Some((start, end)) = range {
            // SAFETY: a read-only private file mapping without anonymous
            // pages: MADV_DONTNEED only unmaps pages, which fault back in
            // unchanged from the file.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                let perms = f.next().unwrap_or_default();
                let file_backed = f.nth(3).is_some_and(|p| p.starts_with('/'));
                current =
                    (file_backed && (perms == "r-xp" || perms == "r--p")).then_some((start, end));
                continue;
            }
        }
        // Anonymous: the mapping's copied-on-write pages; it comes after
        // Rss in each block. Decided once per mapping.
        if first == "Anonymous:" {
            let anon = f.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(1);
            if anon == 0 {
                drop_now(current.take());
            }
            current = None;
        }
    }
}

fn reply(sock: &mut UnixStream, r: &Reply) {
    let _ = sock.set_nonblocking(false);
    let mut line = serde_json::to_vec(r).unwrap_or_default();
    line.push(b'\n');
    let _ = sock.write_all(&line);
}

/// Sends one frame without blocking the loop; a client too slow to take
/// it is dropped (false).
fn send_nonblocking(sock: &mut UnixStream, header: &[u8], data: &[u8]) -> bool {
    let iov = [std::io::IoSlice::new(header), std::io::IoSlice::new(data)];
    match sock.write_vectored(&iov) {
        Ok(n) if n == header.len() + data.len() => true,
        Ok(n) => {
            // Partial: finish it blocking, briefly, so the stream stays framed.
            let _ = sock.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = sock.set_nonblocking(false);
            let mut all = header.to_vec();
            all.extend_from_slice(data);
            let ok = sock.write_all(&all[n..]).is_ok();
            let _ = sock.set_nonblocking(true);
            ok
        }
        Err(_) => false,
    }
}

/// Calls `f` with a short name for `dir`/ctl.sock: a socket's path is
/// limited to 107 bytes, and a runtime dir under /tmp plus a container id
/// can be longer. The name goes through an fd of the directory.
fn socket_path<T>(dir: &Path, f: impl FnOnce(&Path) -> std::io::Result<T>) -> std::io::Result<T> {
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
    serde_json::from_slice(&data[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_and_decide() {
        assert_eq!("no".parse::<RestartPolicy>(), Ok(RestartPolicy::No));
        assert_eq!("always".parse::<RestartPolicy>(), Ok(RestartPolicy::Always));
        assert_eq!(
            "on-failure:3".parse::<RestartPolicy>(),
            Ok(RestartPolicy::OnFailure(Some(3)))
        );
        assert!("on-failure:x".parse::<RestartPolicy>().is_err());
        assert!("sometimes".parse::<RestartPolicy>().is_err());
        let p = RestartPolicy::OnFailure(Some(2));
        assert!(p.wants_restart(1, 0));
        assert!(p.wants_restart(1, 1));
        assert!(!p.wants_restart(1, 2));
        assert!(!p.wants_restart(0, 0));
        assert!(RestartPolicy::Always.wants_restart(0, 100));
        assert!(!RestartPolicy::No.wants_restart(1, 0));
    }
}
