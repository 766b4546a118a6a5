//! The supervisor of one container, foreground or detached: ONE
//! implementation. It starts the sandbox, holds the container's stdio
//! (pipes, or the pty master), writes its output to the log (and, for a
//! foreground `run`, to the terminal or pipes of `run` as well), waits on
//! its pidfd, drives its network (burrow's stack on the tap, published
//! ports, socket notifications), serves the control socket (attach, stop,
//! kill, wait), records every change of state, and restarts it by policy.
//! One thread, one poll loop; it never loads the image store or the CLI's
//! configuration.
//!
//! A foreground `run` runs it in-process (`foreground`); `run -d` and
//! `start` re-execute burrow as `__supervise` (`main`), a process of its
//! own session. The container is the supervisor's child and dies with it
//! (PR_SET_PDEATHSIG): a killed supervisor leaves no container nobody
//! watches, and `ps` then shows it exited.

mod control;
mod hook;
mod network;
pub mod panic;
pub mod terminal;

pub use super::spec::RestartPolicy;
pub use control::{connect, listening, read_reply, Reply, Request, SOCKET};
pub use network::SupervisedNetwork;

use super::health::{HealthCheck, HealthStatus, OnFailure, Probe};
use super::log::{self, LogWriter, Stream};
use super::record::{self, Containers, State, Status};
use crate::image::store::now;
use crate::net::PublishedPort;
use crate::sandbox::spec::DevShm;
use crate::sandbox::{self, Running, SandboxError, SandboxSpec};
use crate::time::rfc3339;
use control::{reply, socket_path, Client, ClientKind};
use network::SupervisedStack;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::unix::net::UnixListener;
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
    /// `--log-driver` and `--log-opt`: whether there is a log at all, and
    /// (passthrough) whether the container has our own stdio.
    #[serde(default)]
    pub log: super::spec::LogConfig,
    /// Where the control socket lives: the runtime dir's
    /// `burrow/containers/ID`.
    pub runtime_dir: PathBuf,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    /// The image's StopSignal, as a number (SIGTERM by default).
    pub stop_signal: i32,
    /// `--stop-timeout`: what `stop` waits without `-t` (10 s when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
    /// Keep a pipe on the container's stdin for `attach -i` (`-i`).
    pub interactive: bool,
    /// Resource limits: the supervisor makes the container's cgroup (and
    /// moves itself into it, as the foreground `run` does).
    #[serde(default)]
    pub limits: crate::cgroup::Limits,
    /// The network to bring up at each start (`--network user`, `-p`).
    #[serde(default)]
    pub network: SupervisedNetwork,
    /// The health check run on schedule while the container runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthCheck>,
    /// The storage root and id of the container whose namespaces this one
    /// joins (`--network container:`, `--pod`): its pid is looked up again
    /// at each start, as it changes when that container starts again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_container: Option<(PathBuf, String)>,
}

pub const PLAN_FILE: &str = "supervise.json";

/// Why a container's plan (`supervise.json`) cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt {}: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Why a container's directory could not be removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveDirError {
    /// Removing it failed, as you or inside its user namespace.
    #[error("removing {}: {detail}", path.display())]
    Failed { path: PathBuf, detail: String },
    /// Its user namespace could not be entered to remove it.
    #[error("removing {}: {source}", path.display())]
    Userns {
        path: PathBuf,
        source: sandbox::userns::UsernsError,
    },
}

impl Plan {
    /// The plan of the container whose directory is `dir`: beside its
    /// record, or where the record's `plan_dir` says.
    pub fn load(dir: &Path) -> Result<Plan, PlanError> {
        let mut path = dir.join(PLAN_FILE);
        // Read first, looked for elsewhere only when it is not there: no
        // statx before every read.
        let mut read = std::fs::read(&path);
        if matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            let moved = super::record::record_in(dir).ok().and_then(|r| r.plan_dir);
            if let Some(d) = moved {
                path = d.join(PLAN_FILE);
                read = std::fs::read(&path);
            }
        }
        let data = match read {
            Ok(data) => data,
            Err(source) => return Err(PlanError::Read { path, source }),
        };
        serde_json::from_slice(&data).map_err(|source| PlanError::Corrupt { path, source })
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

/// Why a supervisor could not start (or go on with) its container.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
    #[error("the container's network: {0}")]
    Network(#[from] crate::net::NetError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Record(#[from] super::record::RecordError),
    #[error("the container directory {} is not in a store", .0.display())]
    NotInStore(PathBuf),
}

impl SupervisorError {
    /// docker's exit status for it: the command's 126 and 127, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            SupervisorError::Sandbox(e) => e.exit_code(),
            _ => 125,
        }
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SupervisorError {
    let path = path.to_path_buf();
    move |source| SupervisorError::Io { what, path, source }
}

/// What the supervisor tells the CLI that started it, on fd 3.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Report {
    Started { pid: i32 },
    Failed { message: String, code: i32 },
}

/// What a foreground `run` hands its in-process supervisor.
pub struct Foreground {
    /// The host ports `run` bound before it created the record (so that a
    /// port in use failed before anything was made).
    pub bound: Vec<(PublishedPort, OwnedFd)>,
    /// Their hold among this user's containers.
    pub reserved: crate::net::PortReservation,
    /// Where the note that containers run without a cgroup is remembered,
    /// so that it is printed once.
    pub cgroup_note: PathBuf,
    /// The container's record as `run` just wrote it (not read back).
    pub record: record::Record,
    /// The scope's D-Bus helper, started before the record was made.
    pub scope: Option<crate::cgroup::EarlyScope>,
    /// The container's `create` event, written while its set-up runs.
    pub created: Option<record::Unannounced>,
    /// `-a`: which of its outputs go to our stdout and stderr (all of
    /// them go to the log).
    pub attached: super::spec::Attached,
}

/// The `run` process's own stdio, for a foreground container.
struct Host {
    /// `-i`: our stdin goes to the container until its end.
    stdin_open: bool,
    /// `-a`: the container's stdout (or terminal) goes to ours, its
    /// stderr to ours.
    stdout: bool,
    stderr: bool,
    /// With `-t` on a terminal: ours in raw mode while the container runs.
    raw: Option<terminal::RawMode>,
    /// Where the note about a missing cgroup is remembered.
    cgroup_note: PathBuf,
    /// The scope's D-Bus helper, connected early (`Foreground::scope`).
    scope: Option<crate::cgroup::EarlyScope>,
    /// `Foreground::created`, until it is written.
    created: Option<record::Unannounced>,
    /// The plan is to be saved in the log's directory (once, while the
    /// container's set-up runs): `run` did not write it.
    save_plan: bool,
}

/// The container's side of its stdio, as the supervisor holds it.
struct Stdio {
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    /// The window size an attached client gave, for the pty.
    window: Option<(u16, u16)>,
}

impl Stdio {
    fn none() -> Stdio {
        Stdio {
            out: None,
            err: None,
            pty: None,
            stdin: None,
            window: None,
        }
    }
}

struct Supervisor {
    /// Held for the supervisor's whole life (`Containers::supervise`).
    _alive: crate::lockfile::FileLock,
    plan: Plan,
    containers: Containers,
    running: Option<Running>,
    io: Stdio,
    /// The log and the control socket, made by `open_io` (a foreground
    /// run's while the container's set-up runs).
    log: Option<LogWriter>,
    log_dir: PathBuf,
    listener: Option<UnixListener>,
    clients: Vec<Client>,
    net: Option<SupervisedStack>,
    /// Root emulation's listener (a single-id map), served in the loop.
    root_emulation: Option<sandbox::rootemu::RootEmulation>,
    /// `None` for a detached supervisor.
    host: Option<Host>,
    kill_at: Option<Instant>,
    restart_at: Option<Instant>,
    started: Instant,
    user_stopped: bool,
    restarts: u32,
    last_code: i32,
    buf: Vec<u8>,
    /// Made at the first start, kept across restarts, released at the end.
    cgroup: Option<crate::cgroup::Cgroup>,
    cgroup_made: bool,
    /// The open-files limit the container starts with, before the
    /// supervisor raises its own for the network's sockets.
    nofile: Option<(u64, u64)>,
    /// When the next health check runs (while the container runs).
    next_check: Option<Instant>,
    /// The health check under way.
    probe: Option<Probe>,
    /// The unhealthy container is being restarted by `--health-on-failure`.
    health_restart: bool,
    /// The storage root, whose event journal this supervisor appends to,
    /// and the container's name and image as events name them.
    storage: PathBuf,
    name: String,
    image: String,
    /// The container's mounts, whose anonymous volumes go with it (--rm).
    mounts: Vec<super::spec::UserMount>,
}

/// `burrow __supervise DIR [attach]`: runs the supervisor of the container
/// in DIR, detached; with `attach`, the first client is accepted before
/// the container starts (`start -a`).
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
    let plan = Plan::load(dir);
    // Its stdio is /dev/null: a panic is written where `logs` and
    // `inspect` show it.
    let _panic_hook = plan
        .as_ref()
        .ok()
        .and_then(|plan| panic_record(dir, dir, plan))
        .map(panic::install);
    let sup = plan
        .map_err(SupervisorError::Plan)
        .and_then(|plan| Supervisor::new(dir, dir, plan, None, None, None))
        .and_then(|mut sup| sup.open_io().map(|()| sup));
    let mut sup = match sup {
        Ok(s) => s,
        Err(e) => {
            send_report(&Report::Failed {
                message: e.to_string(),
                code: 125,
            });
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
            sup.finish(true);
            return code;
        }
    }
    drop(report);
    trim_code_pages();
    if let Err(e) = sup.run() {
        sup.log_write(Stream::Stderr, format!("burrow: {e}\n").as_bytes());
    }
    sup.finish(true);
    0
}

/// Runs the container of `dir` in this process, in the foreground: its
/// output goes to our stdout and stderr (or our terminal, with `-t`) as
/// well as to its log in `log_dir`, the signals a terminal sends us go to
/// it, and its exit status comes back. Until then it takes `attach`,
/// `logs`, `stop`, `kill` and `wait` like any other. A container that
/// could not start leaves its record for the caller to remove.
pub fn foreground(
    dir: &Path,
    log_dir: &Path,
    plan: Plan,
    fg: Foreground,
) -> Result<i32, SupervisorError> {
    // As a detached supervisor's: a panic leaves the container's state
    // (and the terminal, out of raw mode) as it would there.
    let _panic_hook = panic_record(dir, log_dir, &plan).map(panic::install);
    let host = Host {
        // -i attaches stdin whatever -a says, as docker's.
        stdin_open: plan.interactive,
        stdout: fg.attached.stdout,
        stderr: fg.attached.stderr,
        raw: None,
        cgroup_note: fg.cgroup_note,
        scope: fg.scope,
        created: fg.created,
        save_plan: true,
    };
    let bound = Some((fg.bound, fg.reserved));
    let mut sup = Supervisor::new(dir, log_dir, plan, bound, Some(host), Some(fg.record))?;
    if let Err(e) = sup.start() {
        sup.finish(false);
        return Err(e);
    }
    let ran = sup.run();
    sup.finish(true);
    ran.map(|()| sup.last_code)
}

fn storage_of(dir: &Path) -> Option<&Path> {
    dir.parent()?.parent()
}

/// Where a panic of the supervisor of the container in `dir` (its log in
/// `log_dir`) is written; `None` for a directory outside a store.
fn panic_record(dir: &Path, log_dir: &Path, plan: &Plan) -> Option<panic::PanicRecord> {
    Some(panic::PanicRecord {
        dir: dir.to_path_buf(),
        id: plan.id.clone(),
        storage: storage_of(dir)?.to_path_buf(),
        log_dir: plan.log.driver.writes_log().then(|| log_dir.to_path_buf()),
    })
}

/// Removes a container's directory: as you when its files are all yours
/// (the common case, and fast), else inside its user namespace.
pub fn remove_dir(
    dir: &Path,
    id_map: &crate::sandbox::userns::IdMap,
) -> Result<(), RemoveDirError> {
    // overlayfs leaves its work/work with mode 000 (and as ours): opened
    // up first, the walk below succeeds the first time instead of failing,
    // chmod-ing everything and walking again.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(
        dir.join("work/work"),
        std::fs::Permissions::from_mode(0o700),
    );
    if crate::image::store::remove_tree(dir).is_ok() {
        return Ok(());
    }
    let d = dir.to_path_buf();
    match sandbox::userns::run_in_userns(id_map, move || {
        crate::image::store::remove_tree(&d).map_err(|e| e.to_string())
    }) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(detail)) => Err(RemoveDirError::Failed {
            path: dir.to_path_buf(),
            detail,
        }),
        Err(source) => Err(RemoveDirError::Userns {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

impl Supervisor {
    fn new(
        dir: &Path,
        log_dir: &Path,
        plan: Plan,
        bound: Option<(Vec<(PublishedPort, OwnedFd)>, crate::net::PortReservation)>,
        host: Option<Host>,
        record: Option<record::Record>,
    ) -> Result<Supervisor, SupervisorError> {
        let root = storage_of(dir).ok_or_else(|| SupervisorError::NotInStore(dir.to_path_buf()))?;
        // The directory holds the container's own: no need to make it.
        let containers = Containers::at(root);
        // First: from here on, a reader that finds pid 1 dead waits for
        // this supervisor to record the exit instead of calling the
        // container lost.
        let alive = containers.supervise(&plan.id, Duration::from_secs(10))?;
        let net = if plan.network.is_active() {
            Some(SupervisedStack::new(plan.network.clone(), bound)?)
        } else {
            None
        };
        // Read once: what events name the container by, and its mounts
        // (set at its creation) for the removal of its anonymous volumes.
        let record = record.or_else(|| record::record_in(dir).ok());
        Ok(Supervisor {
            _alive: alive,
            plan,
            containers,
            running: None,
            io: Stdio::none(),
            log: None,
            log_dir: log_dir.to_path_buf(),
            listener: None,
            clients: Vec::new(),
            net,
            root_emulation: None,
            host,
            kill_at: None,
            restart_at: None,
            started: Instant::now(),
            user_stopped: false,
            restarts: 0,
            last_code: 0,
            buf: vec![0u8; 32 * 1024],
            cgroup: None,
            cgroup_made: false,
            nofile: None,
            next_check: None,
            probe: None,
            health_restart: false,
            storage: root.to_path_buf(),
            name: record.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
            image: record.as_ref().map(|r| r.image.clone()).unwrap_or_default(),
            mounts: record.map(|r| r.config.mounts).unwrap_or_default(),
        })
    }

    /// Opens the log and listens on the control socket, once: a detached
    /// supervisor before anything else, a foreground one while its
    /// container's set-up runs (nothing of the container needs them
    /// before its command runs).
    fn open_io(&mut self) -> Result<(), SupervisorError> {
        let plan = &self.plan;
        if self.log.is_none() {
            let log_dir = &self.log_dir;
            let mut log = LogWriter::open(log_dir, plan.log_max_size, plan.log.files())
                .map_err(io_err("opening the log in", log_dir))?;
            if !plan.log.driver.writes_log() {
                log = log.discarding();
            }
            self.log = Some(log);
        }
        if self.listener.is_some() {
            return Ok(());
        }
        // A foreground --rm run made it already (its /etc files are there).
        match std::fs::create_dir(&plan.runtime_dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&plan.runtime_dir)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
        .map_err(io_err("creating", &plan.runtime_dir))?;
        let socket = plan.socket();
        let bind = || socket_path(&plan.runtime_dir, |short| UnixListener::bind(short));
        // A socket left by a supervisor before this one is replaced.
        let listener = match bind() {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let _ = std::fs::remove_file(&socket);
                bind()
            }
            other => other,
        }
        .map_err(io_err("listening on", &socket))?;
        listener
            .set_nonblocking(true)
            .map_err(io_err("listening on", &socket))?;
        self.listener = Some(listener);
        Ok(())
    }

    /// Writes to the container's log (once it is open).
    fn log_write(&mut self, stream: Stream, data: &[u8]) {
        if let Some(log) = &mut self.log {
            log.write(stream, data);
        }
    }

    /// What a foreground supervisor does while its container's set-up
    /// runs, the first time: the log and the control socket, the plan
    /// that `exec` and `start` read, the `create` event (before `start`'s).
    fn meanwhile(&mut self) -> Result<(), SupervisorError> {
        self.open_io()?;
        let Some(host) = &mut self.host else {
            return Ok(());
        };
        if std::mem::take(&mut host.save_plan) {
            self.plan
                .save(&self.log_dir)
                .map_err(io_err("writing", &self.log_dir))?;
        }
        if let Some(created) = host.created.take() {
            created.announce();
        }
        Ok(())
    }

    /// The container's cgroup, made at the first start.
    fn make_cgroup(&mut self) -> Result<(), SupervisorError> {
        self.cgroup_made = true;
        let early = self.host.as_mut().and_then(|h| h.scope.take());
        match crate::cgroup::create_with(&self.plan.id, &self.plan.limits, early)? {
            crate::cgroup::Setup::Ready(cg) => self.cgroup = Some(cg),
            crate::cgroup::Setup::Without(why) => {
                if let Some(host) = &self.host {
                    if !host.cgroup_note.exists() {
                        let _ = std::fs::write(&host.cgroup_note, format!("{why}\n"));
                        eprintln!("Note: containers run without resource limits or stats: {why}");
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts the sandbox with its stdio on pipes (or a pty) held here.
    fn start(&mut self) -> Result<i32, SupervisorError> {
        let sys = |call: &'static str| {
            move |e: rustix::io::Errno| SandboxError::Sys {
                call,
                errno: e.raw_os_error(),
            }
        };
        // Before the supervisor joins the container's cgroup (at the first
        // start only): a holder started from inside it would pin it.
        let mut spec = self.plan.sandbox.clone();
        if let (Some((storage, id)), Some(join)) = (&self.plan.join_container, &mut spec.join) {
            join.pid = super::network::running_pid(storage, id).ok_or_else(|| {
                SandboxError::Setup(crate::sandbox::SetupError {
                    op: format!(
                        "join the namespaces of container {}",
                        id.get(..12).unwrap_or(id)
                    ),
                    path: None,
                    errno: None,
                    detail: Some("it is not running (start it, or its pod, first)".into()),
                })
            })?;
        }
        // `--ipc container:`'s /dev/shm: the very mount that container's
        // supervisor holds, asked for at each start as that container
        // gets a new one when it starts again.
        let joined_shm = match (&self.plan.join_container, spec.dev_shm) {
            (Some((_, id)), DevShm::Joined) => {
                let socket = self.plan.runtime_dir.with_file_name(id).join(SOCKET);
                Some(control::dev_shm(&socket).map_err(|why| {
                    SandboxError::Setup(crate::sandbox::SetupError {
                        op: format!(
                            "share the /dev/shm of container {}",
                            id.get(..12).unwrap_or(id)
                        ),
                        path: None,
                        errno: None,
                        detail: Some(why),
                    })
                })?)
            }
            _ => None,
        };
        // The attached client's window, on the terminal from its start:
        // set after, it would reach the command as a SIGWINCH mid-way.
        spec.window = spec.window.or(self.io.window);
        // A user network's set-up holds the holder of the user's
        // namespaces first (starting it if need be), then the namespace
        // below is that holder's.
        let mut devices = None;
        if let Some(net) = &mut self.net {
            devices = net.prepare(&mut spec).map_err(|e| {
                SandboxError::Setup(crate::sandbox::SetupError {
                    op: "set up the network".into(),
                    path: None,
                    errno: None,
                    detail: Some(e.to_string()),
                })
            })?;
        }
        // With its scope asked for early, this process may be in it
        // already: a holder that went away meanwhile is not started again
        // from here (the container then makes its own user namespace).
        let early = self
            .host
            .as_ref()
            .and_then(|h| h.scope.as_ref())
            .is_some_and(|s| s.started());
        let userns = sandbox::open_shared_userns(&spec, !self.cgroup_made && !early);
        if !self.cgroup_made {
            self.make_cgroup()?;
        }
        spec.cgroup = self.cgroup.as_ref().map(|cg| cg.path.clone());
        if let Some(limit) = self.nofile {
            let _ = nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_NOFILE,
                limit.0,
                limit.1,
            );
        }
        let spec = &spec;
        let mut make_devices = devices.as_mut().map(|d| {
            move |tun, route| -> Result<OwnedFd, sandbox::spec::NetSetupError> {
                Ok(d.make(tun, route)?)
            }
        });
        let host = sandbox::HostSide {
            net: make_devices
                .as_mut()
                .map(|m| m as &mut sandbox::MakeNetDevices),
            proc_view: (!spec.proc_view.is_empty())
                .then(|| super::procfuse::server(spec.cgroup.clone())),
            sysinfo: (!spec.proc_view.is_empty())
                .then(|| super::procfuse::sysinfo_server(spec.cgroup.clone())),
            joined_shm,
        };
        let passthrough = self.plan.log.driver == super::spec::LogDriver::Passthrough;
        // The container's stdio as we hold it: the pipes' other ends
        // (none with -t, whose pty comes from the child; none for
        // passthrough, where the container writes and reads our own).
        let mut pipes: [Option<OwnedFd>; 3] = [None, None, None];
        let starting = if spec.tty || passthrough {
            sandbox::start_shared(spec, userns, host)?
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
            // Our own stdio while the child is made: kept aside (a
            // foreground `run`'s are the user's), given back after.
            let saved: Vec<Option<OwnedFd>> = (0..3)
                .map(|fd| {
                    // SAFETY: 0, 1 and 2 are borrowed only to duplicate them.
                    let b = unsafe { BorrowedFd::borrow_raw(fd) };
                    rustix::io::fcntl_dupfd_cloexec(b, 3).ok()
                })
                .collect();
            for (fd, target) in [(in_fd, 0), (out_w.as_fd(), 1), (err_w.as_fd(), 2)] {
                // SAFETY: dup2 onto stdio, which the child inherits.
                unsafe { libc::dup2(fd.as_raw_fd(), target) };
            }
            let r = sandbox::start_shared(spec, userns, host);
            for (target, fd) in saved.iter().enumerate() {
                let from = fd.as_ref().map_or(null.as_raw_fd(), |f| f.as_raw_fd());
                // SAFETY: our stdio back (or /dev/null), so only the
                // container holds the pipes' write ends and their EOF
                // means its end.
                unsafe { libc::dup2(from, target as i32) };
            }
            let r = r?;
            pipes = [Some(out_r), Some(err_r), stdin.map(|(_, w)| w)];
            r
        };
        // pid 1 is setting itself up (namespaces, mounts) and needs
        // nothing more of us until it reports: what this process has to do
        // before the command runs is done meanwhile. An error kills pid 1
        // (dropping `starting`).
        for fd in pipes.iter().flatten() {
            let _ = rustix::fs::fcntl_setfl(fd, rustix::fs::OFlags::NONBLOCK);
        }
        // Its start time is the process's, the same after its execve.
        let pid_start = record::process_start_time(starting.pid());
        let state = self.state();
        self.meanwhile()?;
        let mut running = starting.finish()?;
        let [out, err, stdin] = pipes;
        (self.io.out, self.io.err, self.io.stdin) = (out, err, stdin);
        if spec.tty {
            self.io.pty = running.take_pty();
            if let Some(pty) = &self.io.pty {
                let _ = rustix::fs::fcntl_setfl(pty, rustix::fs::OFlags::NONBLOCK);
            }
        }
        if let (Some(window), Some(pty)) = (self.io.window, &self.io.pty) {
            terminal::set_size(pty.as_fd(), window);
        }
        if let (Some(host), Some(pty)) = (&mut self.host, &self.io.pty) {
            terminal::follow_size(pty.as_fd());
            if host.raw.is_none() {
                host.raw = terminal::RawMode::enter();
            }
        }
        for f in &running.rootfs().fallbacks {
            let note = format!(
                "Note: root filesystem driver {} was not usable: {}\n",
                f.driver, f.error
            );
            match self.host {
                Some(_) => eprint!("{note}"),
                None => self.log_write(Stream::Stderr, note.as_bytes()),
            }
        }
        if let Some(why) = running.proc_view_off() {
            let note = format!(
                "Note: the container sees the host's /proc/meminfo, cpuinfo and the like \
                 (--proc-view host to say so): {why}\n"
            );
            match self.host {
                Some(_) => eprint!("{note}"),
                None => self.log_write(Stream::Stderr, note.as_bytes()),
            }
        }
        let pid = running.pid();
        if let Some(warning) = self.net.as_mut().and_then(|n| n.joined(devices)) {
            let warning = format!("Warning: {warning}\n");
            match self.host {
                Some(_) => eprint!("{warning}"),
                None => self.log_write(Stream::Stderr, warning.as_bytes()),
            }
        }
        if let Some(net) = &mut self.net {
            // One fd per connection and flow on both sides: the soft limit
            // of 1024 is too few for a busy container; the hard limit is
            // ours to take (and the container's own limit is put back
            // before the next start).
            if let Ok(limit) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            {
                self.nofile.get_or_insert(limit);
                let _ = nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_NOFILE,
                    limit.1,
                    limit.1,
                );
            }
            let (socket_notify, others) = running.take_socket_notify();
            net.started(pid, running.take_net_fd(), socket_notify, others)?;
        }
        self.root_emulation = running.take_root_emulation();
        let mut state = state;
        state.status = Status::Running;
        state.pid = Some(pid);
        state.pid_start = pid_start;
        state.started_at = Some(rfc3339(now()));
        state.finished_at = None;
        state.exit_code = None;
        state.error = None;
        state.rootfs_driver = Some(running.rootfs().driver.name().to_string());
        state.cgroup = self.cgroup.clone();
        state.limits = self.plan.limits.clone();
        state.oom_killed = false;
        state.health = self
            .plan
            .health
            .as_ref()
            .map(|_| super::health::Health::default());
        self.next_check = self
            .plan
            .health
            .as_ref()
            .map(|h| Instant::now() + h.next_gap(Duration::ZERO, true));
        self.health_restart = false;
        let _ = self.containers.set_state(&self.plan.id, &state);
        self.volume_events("mount");
        self.event("start", &[]);
        self.running = Some(running);
        self.started = Instant::now();
        Ok(pid)
    }

    /// Records a container event in the journal.
    fn event(&self, action: &str, extra: &[(&str, &str)]) {
        let mut attributes = vec![("name", self.name.as_str()), ("image", self.image.as_str())];
        attributes.extend_from_slice(extra);
        super::events::record(
            &self.storage,
            super::events::Event::new("container", action, &self.plan.id, &attributes),
        );
    }

    /// docker's `volume mount` and `unmount` events, one per volume the
    /// container mounts (its name is the directory above `_data`).
    fn volume_events(&self, action: &str) {
        for op in &self.plan.sandbox.mounts {
            if let crate::sandbox::MountOp::Volume {
                src,
                dst,
                read_only,
                ..
            } = op
            {
                let name = src
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let rw = (!read_only).to_string();
                let dst = dst.display().to_string();
                super::events::record(
                    &self.storage,
                    super::events::Event::new(
                        "volume",
                        action,
                        &name,
                        &[
                            ("container", self.plan.id.as_str()),
                            ("destination", dst.as_str()),
                            ("driver", "local"),
                            ("read/write", rw.as_str()),
                        ],
                    ),
                );
            }
        }
    }

    fn state(&self) -> State {
        self.containers
            .state_now(&self.plan.id)
            .unwrap_or_else(|_| State::created())
    }

    fn record_failure(&self, e: &SupervisorError) {
        let mut state = self.state();
        state.status = Status::Exited;
        state.pid = None;
        state.exit_code = Some(e.exit_code());
        state.error = Some(e.to_string());
        state.finished_at = Some(rfc3339(now()));
        let _ = self.containers.set_state(&self.plan.id, &state);
    }

    /// The loop, until the container is gone for good.
    fn run(&mut self) -> Result<(), SupervisorError> {
        use nix::sys::signal::Signal;
        let signals = match &self.host {
            // A foreground container takes the signals `run` gets, as
            // docker's --sig-proxy passes them on (a run without it is
            // not a foreground one: see `run::run`).
            Some(_) => terminal::SignalsIn::proxied()?,
            None => terminal::SignalsIn::of(&[Signal::SIGTERM, Signal::SIGINT], false)?,
        };
        let stdin = std::io::stdin();
        loop {
            if self.running.is_none() && self.restart_at.is_none() {
                return Ok(());
            }
            // Clients found gone last turn go now, between turns: within
            // one, a slot's index must keep naming the same client.
            self.clients.retain(|c| !c.gone);
            // Slots: a fixed order, rebuilt each turn (fds come and go).
            #[derive(Clone, Copy)]
            enum Slot {
                Signal,
                Exit,
                Out,
                Err,
                Pty,
                HostIn,
                Listener,
                Client(usize),
                Net,
                Probe,
                RootEmulation,
            }
            let mut slots = Vec::with_capacity(8 + self.clients.len());
            let mut fds = Vec::with_capacity(8 + self.clients.len());
            let inp = PollFlags::POLLIN;
            fds.push(PollFd::new(signals.fd.as_fd(), inp));
            slots.push(Slot::Signal);
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
            if self.host.as_ref().is_some_and(|h| h.stdin_open) {
                fds.push(PollFd::new(stdin.as_fd(), inp));
                slots.push(Slot::HostIn);
            }
            if let Some(l) = &self.listener {
                fds.push(PollFd::new(l.as_fd(), inp));
                slots.push(Slot::Listener);
            }
            for (i, c) in (self.clients.iter().enumerate()).filter(|(_, c)| !c.gone) {
                // Read until its end; written to while output waits for it.
                let mut events = PollFlags::empty();
                if !c.eof {
                    events |= inp;
                }
                if !c.queued.is_empty() {
                    events |= PollFlags::POLLOUT;
                }
                if !events.is_empty() {
                    fds.push(PollFd::new(c.sock.as_fd(), events));
                    slots.push(Slot::Client(i));
                }
            }
            if let Some(p) = &self.probe {
                fds.push(PollFd::new(p.fd(), inp));
                slots.push(Slot::Probe);
            }
            if let Some(net) = &self.net {
                for &(fd, events) in net.watched() {
                    // SAFETY: every fd listed is owned by the stack or the
                    // forwarder, which outlive this turn of the loop.
                    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                    fds.push(PollFd::new(fd, PollFlags::from_bits_truncate(events)));
                    slots.push(Slot::Net);
                }
            }
            if let Some(fd) = self.root_emulation.as_ref().and_then(|r| r.fd()) {
                fds.push(PollFd::new(fd, inp));
                slots.push(Slot::RootEmulation);
            }
            // A probe is looked at often: its exit has no fd here.
            let probe_tick = self
                .probe
                .as_ref()
                .map(|p| p.deadline().min(Instant::now() + Duration::from_millis(50)));
            let check_at = self
                .next_check
                .filter(|_| self.probe.is_none() && self.running.is_some());
            let deadline = [self.kill_at, self.restart_at, probe_tick, check_at]
                .into_iter()
                .flatten()
                .chain(self.net.as_ref().and_then(|n| n.deadline()))
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
            let mut net_ready = false;
            for (slot, revents) in ready {
                match slot {
                    Slot::Signal => {
                        while let Ok(Some(info)) = signals.fd.read_signal() {
                            self.signalled(info.ssi_signo as i32)?;
                        }
                    }
                    Slot::Exit => exited = true,
                    Slot::Out => self.pump(Stream::Stdout),
                    Slot::Err => self.pump(Stream::Stderr),
                    Slot::Pty => self.pump(Stream::Stdout),
                    Slot::HostIn => self.host_input(),
                    Slot::Listener => self.accept(),
                    Slot::Client(i) => {
                        // (Output pumped earlier this turn may have found
                        // it gone.)
                        let c = &mut self.clients[i];
                        if !c.gone && !c.queued.is_empty() && !c.flush() {
                            c.gone = true;
                        }
                        let readable = revents.intersects(
                            PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR,
                        );
                        if readable
                            && !self.clients[i].eof
                            && !self.clients[i].gone
                            && !self.client_readable(i)
                        {
                            self.clients[i].gone = true;
                        }
                    }
                    Slot::Net => net_ready = true,
                    Slot::Probe => {
                        if let Some(p) = &mut self.probe {
                            p.drain();
                        }
                    }
                    Slot::RootEmulation => {
                        if let Some(r) = &mut self.root_emulation {
                            r.serve(crate::notify::Ready::of_revents(revents.bits()));
                        }
                    }
                }
            }
            if let Some(net) = &mut self.net {
                if net_ready || net.deadline().is_some_and(|d| d <= Instant::now()) {
                    net.work();
                }
            }
            if self.kill_at.is_some_and(|t| t <= Instant::now()) {
                self.kill_at = None;
                if let Some(r) = &self.running {
                    let _ = r.kill(libc::SIGKILL);
                }
            }
            self.health_work();
            if exited {
                self.container_exited();
            }
            if self.restart_at.is_some_and(|t| t <= Instant::now()) {
                self.restart_at = None;
                self.restarts += 1;
                let started = self.start();
                if let Err(e) = &started {
                    self.record_failure(e);
                    self.last_code = e.exit_code();
                    self.log_write(
                        Stream::Stderr,
                        format!("burrow: restart failed: {e}\n").as_bytes(),
                    );
                }
                // The `start`s that brought it forward learn how it went.
                let answer = match &started {
                    Ok(_) => Reply::Done,
                    Err(e) => Reply::Failed(e.to_string()),
                };
                for c in &mut self.clients {
                    if matches!(c.kind, ClientKind::Starting) {
                        reply(&mut c.sock, &answer);
                        c.gone = true;
                    }
                }
            }
        }
    }

    /// A signal to the supervisor: a foreground one passes it on (the
    /// window size, with a terminal); a detached one stops the container
    /// with its stop signal.
    fn signalled(&mut self, signo: i32) -> Result<(), SupervisorError> {
        match (&self.host, &self.io.pty) {
            (Some(_), Some(pty)) if signo == libc::SIGWINCH => terminal::follow_size(pty.as_fd()),
            (Some(_), _) => {
                if let Some(r) = &self.running {
                    r.kill(signo)?;
                }
            }
            (None, _) => {
                let sig = self.plan.stop_signal;
                self.stop(sig, Duration::from_secs(10));
            }
        }
        Ok(())
    }

    /// Our stdin (a foreground `-i`) to the container.
    fn host_input(&mut self) {
        let stdin = std::io::stdin();
        let target = self.io.pty.as_ref().or(self.io.stdin.as_ref());
        let ok = match rustix::io::read(stdin.as_fd(), &mut self.buf) {
            Ok(0) => false,
            Ok(n) => {
                target.is_some_and(|fd| terminal::write_all(fd.as_fd(), &self.buf[..n]).is_ok())
            }
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => true,
            Err(_) => false,
        };
        if !ok {
            if let Some(h) = &mut self.host {
                h.stdin_open = false;
            }
            // The end of our input is the end of the container's (a pipe's
            // EOF; a terminal gets none).
            self.io.stdin = None;
        }
    }

    /// Moves what the container wrote to the log, to attached clients and,
    /// in the foreground, to our own stdout or stderr.
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
                    let ours = match (&self.host, stream) {
                        (Some(h), Stream::Stderr) => h.stderr.then_some(2),
                        (Some(h), _) => h.stdout.then_some(1),
                        (None, _) => None,
                    };
                    if let Some(to) = ours {
                        // SAFETY: our stdout or stderr, borrowed for a write.
                        let to = unsafe { BorrowedFd::borrow_raw(to) };
                        let _ = terminal::write_all(to, data);
                    }
                    if let Some(log) = &mut self.log {
                        log.write(stream, data);
                    }
                    let header = log::encode_header(stream, n, log::now_ns());
                    // Marked, not removed: the loop's slots index clients.
                    for c in &mut self.clients {
                        if matches!(c.kind, ClientKind::Attached { .. })
                            && !c.gone
                            && !c.send(&header, data)
                        {
                            c.gone = true;
                        }
                    }
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
        self.io = Stdio::none();
        if let Some(h) = &mut self.host {
            h.raw = None;
        }
        let Some(running) = self.running.take() else {
            return;
        };
        let status = running.wait_exit();
        self.kill_at = None;
        self.last_code = status.code();
        // A foreground container is not restarted: `run` returns its status.
        self.probe = None;
        self.next_check = None;
        let restart = self.host.is_none()
            && !self.user_stopped
            && (self.health_restart
                || self
                    .plan
                    .restart
                    .wants_restart(status.code(), self.restarts));
        // Before the state says so: whoever sees the container exited (a
        // `wait`, a `stop`, then `start`) finds its host ports free.
        if !restart {
            if let Some(net) = &mut self.net {
                net.released();
            }
        }
        let oom_killed = self.cgroup.as_ref().is_some_and(|cg| cg.oom_killed());
        // A --rm container's record is removed next: its last state is
        // news for no one (and not even read).
        if !self.plan.auto_remove {
            let mut state = self.state();
            state.status = Status::Exited;
            state.pid = None;
            state.exit_code = Some(status.code());
            state.finished_at = Some(rfc3339(now()));
            state.oom_killed = oom_killed;
            let _ = self.containers.set_state(&self.plan.id, &state);
        }
        if oom_killed {
            self.event("oom", &[]);
        }
        self.event("die", &[("exitCode", &status.code().to_string())]);
        self.volume_events("unmount");
        if restart {
            // `wait` is answered now: a restart policy does not hold it.
            let code = self.last_code;
            self.clients.retain_mut(|c| match c.kind {
                ClientKind::WaitingExit => {
                    reply(&mut c.sock, &Reply::Exited { code });
                    false
                }
                _ => true,
            });
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
            let Some(listener) = &self.listener else {
                return;
            };
            let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
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
        let Some(listener) = &self.listener else {
            return;
        };
        while let Ok((sock, _)) = listener.accept() {
            let _ = sock.set_nonblocking(true);
            self.clients.push(Client::new(sock));
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
            ClientKind::Attached { stdin: false, .. }
            | ClientKind::Waiting
            | ClientKind::WaitingExit
            | ClientKind::Health
            | ClientKind::Starting => true,
            ClientKind::Pending => {
                let data = self.buf[..n].to_vec();
                let c = &mut self.clients[i];
                c.buf.extend_from_slice(&data);
                let Some(end) = c.buf.iter().position(|&b| b == b'\n') else {
                    return c.buf.len() < 4096;
                };
                let line: Vec<u8> = c.buf.drain(..=end).collect();
                let rest = std::mem::take(&mut c.buf);
                match control::parse_request(&line) {
                    Ok(req) => self.request(i, req, &rest),
                    Err(refused) => {
                        reply(&mut self.clients[i].sock, &refused);
                        false
                    }
                }
            }
        }
    }

    fn request(&mut self, i: usize, req: Request, rest: &[u8]) -> bool {
        match req {
            Request::Attach {
                stdin,
                close_stdin,
                window,
            } => {
                self.clients[i].kind = ClientKind::Attached { stdin, close_stdin };
                if window.is_some() {
                    self.io.window = window;
                    if let (Some(w), Some(pty)) = (window, &self.io.pty) {
                        terminal::set_size(pty.as_fd(), w);
                    }
                }
                if stdin && !rest.is_empty() {
                    if let Some(fd) = self.io.pty.as_ref().or(self.io.stdin.as_ref()) {
                        let _ = rustix::io::write(fd, rest);
                    }
                }
                true
            }
            Request::Resize { rows, cols } => {
                self.io.window = Some((rows, cols));
                if let Some(pty) = &self.io.pty {
                    terminal::set_size(pty.as_fd(), (rows, cols));
                }
                reply(&mut self.clients[i].sock, &Reply::Done);
                false
            }
            Request::Kill { signal } => {
                self.event("kill", &[("signal", &signal.to_string())]);
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
                self.event("stop", &[]);
                self.stop(signal, Duration::from_secs(timeout_secs));
                self.clients[i].kind = ClientKind::Waiting;
                true
            }
            Request::Wait => {
                // Between two runs of a restarting container: it has exited.
                if self.running.is_none() {
                    let code = self.last_code;
                    reply(&mut self.clients[i].sock, &Reply::Exited { code });
                    return false;
                }
                self.clients[i].kind = ClientKind::WaitingExit;
                true
            }
            Request::Start => {
                if self.running.is_some() {
                    reply(&mut self.clients[i].sock, &Reply::Done);
                    return false;
                }
                // Not waiting to restart it: this supervisor is ending
                // (after a `stop`). Unanswered, the client starts the
                // container anew once it is gone.
                if self.restart_at.is_none() {
                    return false;
                }
                self.restart_at = Some(Instant::now());
                self.clients[i].kind = ClientKind::Starting;
                true
            }
            Request::DevShm => {
                let sock = &mut self.clients[i].sock;
                match self.running.as_ref().map(|r| r.dev_shm()) {
                    Some(Some(fd)) => control::reply_with_fd(sock, &Reply::DevShm, fd),
                    Some(None) => {
                        reply(sock, &Reply::Failed("its /dev/shm is not shareable".into()))
                    }
                    None => reply(sock, &Reply::Failed("it is not running".into())),
                }
                false
            }
            Request::Healthcheck => {
                if self.plan.health.is_none() || self.running.is_none() {
                    let why = if self.running.is_none() {
                        "the container is not running"
                    } else {
                        "the container has no health check"
                    };
                    reply(&mut self.clients[i].sock, &Reply::Failed(why.into()));
                    return false;
                }
                // The check under way answers, or one started now.
                if self.probe.is_none() {
                    self.next_check = Some(Instant::now());
                }
                self.clients[i].kind = ClientKind::Health;
                true
            }
        }
    }

    /// Starts the health check when it is due; takes its result in when
    /// it ended: the state, the clients asking, and `--health-on-failure`.
    fn health_work(&mut self) {
        let Some(check) = self.plan.health.clone() else {
            return;
        };
        if self.running.is_none() {
            return;
        }
        if self.probe.is_none() && self.next_check.is_some_and(|t| t <= Instant::now()) {
            let exe = Path::new("/proc/self/exe");
            match Probe::start(exe, &self.plan.id, &check) {
                Ok(p) => self.probe = Some(p),
                Err(e) => self.log_write(
                    Stream::Stderr,
                    format!("burrow: starting the health check: {e}\n").as_bytes(),
                ),
            }
            let starting = self
                .state()
                .health
                .is_none_or(|h| h.status == HealthStatus::Starting);
            self.next_check =
                Some(Instant::now() + check.next_gap(self.started.elapsed(), starting));
        }
        let Some(result) = self.probe.as_mut().and_then(Probe::poll) else {
            return;
        };
        self.probe = None;
        let in_start_period = self.started.elapsed() < Duration::from_nanos(check.start_period_ns);
        let mut state = self.state();
        let health = state.health.get_or_insert_with(Default::default);
        let (code, output) = (result.exit_code, result.output.clone());
        let changed = health.record(result, in_start_period, check.retries);
        let status = health.status;
        let _ = self.containers.set_state(&self.plan.id, &state);
        // As docker's: the next check is counted from the end of this
        // one, and a check that made the container healthy ends the start
        // interval at once.
        self.next_check = Some(
            Instant::now()
                + check.next_gap(self.started.elapsed(), status == HealthStatus::Starting),
        );
        if changed.is_some() {
            self.event(&format!("health_status: {status}"), &[]);
        }
        for c in &mut self.clients {
            if matches!(c.kind, ClientKind::Health) {
                reply(
                    &mut c.sock,
                    &Reply::Health {
                        status,
                        exit_code: code,
                        output: output.clone(),
                    },
                );
                c.eof = true;
                c.kind = ClientKind::Pending;
            }
        }
        self.clients
            .retain(|c| !(c.eof && matches!(c.kind, ClientKind::Pending)));
        if changed == Some(HealthStatus::Unhealthy) {
            match check.on_failure {
                OnFailure::None => {}
                OnFailure::Kill => {
                    if let Some(r) = &self.running {
                        let _ = r.kill(libc::SIGKILL);
                    }
                }
                OnFailure::Restart => {
                    self.health_restart = true;
                    if let Some(r) = &self.running {
                        let _ = r.kill(libc::SIGKILL);
                    }
                }
                OnFailure::Stop => {
                    let sig = self.plan.stop_signal;
                    self.stop(sig, Duration::from_secs(10));
                }
            }
        }
    }

    /// The container is gone for good: tell the clients, remove the socket
    /// (and, with `remove`, the container if it is `--rm`).
    fn finish(&mut self, remove: bool) {
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.release() {
                match self.host {
                    Some(_) => eprintln!("Warning: {e}"),
                    None => self.log_write(Stream::Stderr, format!("burrow: {e}\n").as_bytes()),
                }
            }
        }
        let code = self.last_code;
        for c in &mut self.clients {
            match c.kind {
                ClientKind::Waiting | ClientKind::WaitingExit => {
                    reply(&mut c.sock, &Reply::Exited { code })
                }
                ClientKind::Attached { .. } => {
                    let mut last = log::encode_header(Stream::Exit, 4, log::now_ns()).to_vec();
                    last.extend_from_slice(&code.to_le_bytes());
                    c.finish(&last, Duration::from_secs(5));
                }
                // A `start` that finds no answer starts it anew.
                ClientKind::Pending | ClientKind::Starting => {}
                ClientKind::Health => reply(
                    &mut c.sock,
                    &Reply::Failed("the container exited before its health check ended".into()),
                ),
            }
        }
        self.clients.clear();
        let _ = std::fs::remove_file(self.plan.socket());
        let _ = std::fs::remove_dir(&self.plan.runtime_dir);
        if remove && self.plan.auto_remove {
            let dir = self.containers.dir_of(&self.plan.id);
            // As read at the start, while the record is still there (one
            // removed meanwhile by `rm -f` took its volumes' fate with it).
            let mounts = match dir.join("config.json").exists() {
                true => std::mem::take(&mut self.mounts),
                false => Vec::new(),
            };
            if let Ok(_lock) = self.containers.lock() {
                if let Err(e) = remove_dir(&dir, &self.plan.sandbox.id_map) {
                    if self.host.is_some() {
                        eprintln!(
                            "Warning: {e}; `burrow rm {}` removes the rest",
                            self.plan.id
                        );
                    }
                }
            }
            // Its anonymous volumes go with it, as docker's --rm does;
            // named ones stay.
            let map = &self.plan.sandbox.id_map;
            let gone =
                super::volumes::remove_anonymous(self.containers.storage_root(), &mounts, &|p| {
                    remove_dir(p, map).map_err(|e| e.to_string())
                });
            if let (Err(e), true) = (gone, self.host.is_some()) {
                eprintln!("Warning: {e}; `burrow volume prune` removes the rest");
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
