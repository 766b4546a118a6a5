//! The life of a container after `create`: starting a detached supervisor,
//! stop, kill, wait, restart, attach, exec, logs, top, rename. Talks to a
//! supervisor over its control socket (every running container has one,
//! foreground or detached), else, for what a killed supervisor left, to
//! the container's pid 1 directly; never trusts a pid without its start
//! time.

use super::images::Context;
use super::log::{self, Frame, LogReader, Stream};
use super::record::{self, Containers, Record, State, Status};
use super::spec::{Attached, DetachKeys};
use super::supervisor::{self as supervise, Plan, Reply, Report, Request};
use super::ContainerError;
use crate::container::error::{Error, Result};
use crate::sandbox::join::{self, ExecSpec};
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn records(ctx: &Context) -> Result<Containers> {
    let store = ctx.store()?;
    Ok(Containers::open(store.root())?)
}

/// Where a container's control socket lives.
pub fn runtime_dir(ctx: &Context, id: &str) -> PathBuf {
    ctx.paths.runtime.join("containers").join(id)
}

fn socket(ctx: &Context, id: &str) -> PathBuf {
    runtime_dir(ctx, id).join(supervise::SOCKET)
}

fn other(msg: String) -> Error {
    Error::Container(ContainerError::Other(msg))
}

/// Starts the supervisor of the container in `dir` and returns once it
/// reports the container started (its pid 1), or its error.
pub fn launch(ctx: &Context, dir: &Path) -> Result<i32> {
    let (child, report) = spawn_supervisor(dir, false)?;
    drop(child);
    read_report(ctx, report)
}

/// As `launch`, attached from the start: the supervisor waits for this
/// attach before it starts the container, so no output is missed.
fn launch_attached(
    ctx: &Context,
    dir: &Path,
    socket: &Path,
    stdin: bool,
    window: Option<(u16, u16)>,
) -> Result<std::os::unix::net::UnixStream> {
    let (mut child, report) = spawn_supervisor(dir, true)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let sock = loop {
        if let Some(s) = supervise::connect(
            socket,
            &Request::Attach {
                stdin,
                close_stdin: true,
                window,
            },
        ) {
            break Some(s);
        }
        if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    drop(child);
    read_report(ctx, report)?;
    sock.ok_or_else(|| other("the supervisor did not accept the attach".into()))
}

fn spawn_supervisor(dir: &Path, hold: bool) -> Result<(std::process::Child, OwnedFd)> {
    // This very binary: when it runs from its sealed copy, no path names it.
    let exe = std::path::PathBuf::from("/proc/self/exe");
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| other(format!("pipe: {e}")))?;
    let wfd = w.as_raw_fd();
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("__supervise")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if hold {
        cmd.arg("attach");
    }
    // SAFETY: between fork and exec only async-signal-safe calls: setsid,
    // dup2 and fcntl.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            if wfd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(wfd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| other(format!("starting the supervisor: {e}")))?;
    drop(w);
    // The supervisor outlives us; it is reparented when we exit.
    Ok((child, r))
}

fn read_report(ctx: &Context, report: OwnedFd) -> Result<i32> {
    let mut data = Vec::new();
    let _ = std::fs::File::from(report).read_to_end(&mut data);
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    match serde_json::from_slice::<Report>(line) {
        Ok(Report::Started { pid }) => {
            if let Some(note) = linger_note(ctx) {
                eprintln!("Note: {note}");
            }
            Ok(pid)
        }
        Ok(Report::Failed { message, code }) => Err(Error::Container(ContainerError::Supervisor {
            message,
            code,
        })),
        Err(_) => Err(other(
            "the supervisor ended without reporting; see `burrow inspect`".into(),
        )),
    }
}

/// When systemd will end this user's processes and runtime dir at logout
/// (no linger), and we were started over ssh: what to do about it.
fn linger_note(ctx: &Context) -> Option<String> {
    std::env::var_os("SSH_CONNECTION")?;
    if !Path::new("/run/systemd/system").exists() || !ctx.paths.runtime.starts_with("/run/user") {
        return None;
    }
    let user = crate::sandbox::userns::current_user_name();
    if Path::new("/var/lib/systemd/linger").join(&user).exists() {
        return None;
    }
    Some(format!(
        "without lingering, systemd removes {} when your last session ends, and may stop \
         this container; `loginctl enable-linger {user}` keeps your user manager and runtime \
         dir across logouts",
        ctx.paths.runtime.display()
    ))
}

fn find(ctx: &Context, input: &str) -> Result<(Containers, Record, State)> {
    let c = records(ctx)?;
    let (r, s) = c.find(input)?;
    Ok((c, r, s))
}

fn damaged(r: &Record, s: &State, what: &'static str) -> Error {
    Error::Container(ContainerError::Damaged {
        name: super::shown_name(r),
        what,
        note: s.error.clone().unwrap_or_default(),
    })
}

fn not_running(name: &str) -> Error {
    Error::Container(ContainerError::NotRunning(name.to_string()))
}

/// `start`: a new supervisor over the same writable layer.
pub fn start(ctx: &Context, input: &str) -> Result<Record> {
    let (r, dir) = prepare_start(ctx, input)?;
    if let Some(dir) = dir {
        launch(ctx, &dir)?;
    }
    Ok(r)
}

/// The record, and its directory when it needs a supervisor (it does not
/// run), with the plan brought up to today's configuration.
fn prepare_start(ctx: &Context, input: &str) -> Result<(Record, Option<PathBuf>)> {
    let (c, r, s) = find(ctx, input)?;
    if s.status == Status::Running {
        return Ok((r, None));
    }
    if s.status == Status::Unknown {
        return Err(damaged(&r, &s, "started"));
    }
    // Never a second supervisor: a live one is waiting to restart the
    // container by its policy (docker counts such a container as running
    // and `start` changes nothing; here the restart is brought forward),
    // or it is ending.
    if c.supervised(&r.id) && started_by_its_supervisor(ctx, &c, &r)? {
        return Ok((r, None));
    }
    let dir = c.dir_of(&r.id);
    let mut plan = Plan::load(&dir)
        .map_err(|e| other(format!("container {} cannot be started again: {e}", r.name)))?;
    plan.runtime_dir = runtime_dir(ctx, &r.id);
    plan.log_max_size = plan.log.rotate_at(ctx.config.logs.max_size.bytes());
    plan.save(&dir)
        .map_err(|e| other(format!("writing {}: {e}", dir.display())))?;
    Ok((r, Some(dir)))
}

/// Asks the live supervisor of `r` to start its container now: true once
/// it runs. False when that supervisor was ending (it answers nothing)
/// and is gone now, so a new one may start it.
fn started_by_its_supervisor(ctx: &Context, c: &Containers, r: &Record) -> Result<bool> {
    if let Some(mut sock) = supervise::connect(&socket(ctx, &r.id), &Request::Start) {
        match supervise::read_reply(&mut sock) {
            Some(Reply::Done) => return Ok(true),
            Some(Reply::Failed(message)) => {
                return Err(Error::Container(ContainerError::Supervisor {
                    message,
                    code: 125,
                }))
            }
            _ => {}
        }
    }
    // As long as `Containers::supervise` waits for one that is ending.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if !c.supervised(&r.id) {
            return Ok(false);
        }
        // One about to start it (`start -a`'s, until its client attached).
        if c.state(&r.id)?.status == Status::Running {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Err(record::RecordError::Supervised(r.name.clone()).into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The live process to enter the container through (`record::entry_pid`)
/// and a pidfd of it, checked to be pid 1 or still pid 1's child after
/// opening.
fn entry_alive(r: &Record, s: &State) -> Option<(i32, OwnedFd)> {
    let (pid1, fd1) = pid_alive(s)?;
    let pid = record::entry_pid(r, pid1)?;
    if pid == pid1 {
        return Some((pid1, fd1));
    }
    let fd = join::pidfd_open(pid).ok()?;
    (record::parent_pid(pid) == Some(pid1)).then_some((pid, fd))
}

fn pid_alive(s: &State) -> Option<(i32, OwnedFd)> {
    let (pid, start) = (s.pid?, s.pid_start?);
    let fd = join::pidfd_open(pid).ok()?;
    // Checked after opening: the pidfd now names this very process.
    (record::process_start_time(pid) == Some(start)).then_some((pid, fd))
}

fn signal_pidfd(fd: &OwnedFd, sig: i32) {
    let _ = join::pidfd_signal(fd, sig);
}

fn wait_pidfd(fd: &OwnedFd, timeout: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(60_000) as u16;
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) if n > 0 => return true,
            Err(nix::Error::EINTR) => continue,
            _ if left.is_zero() => return false,
            _ => {}
        }
    }
}

/// Waits (briefly) for the recorded state to leave "running", as whoever
/// waits for pid 1 writes it.
fn settled(c: &Containers, id: &str) -> Result<State> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = c.state(id)?;
        if s.status != Status::Running || Instant::now() > deadline {
            return Ok(s);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The stop signal for this container (the image's StopSignal or
/// `--stop-signal`, SIGTERM if none) and its `--stop-timeout`.
fn stop_settings(dir: &Path) -> (i32, Option<u64>) {
    Plan::load(dir)
        .map(|p| (p.stop_signal, p.stop_timeout))
        .unwrap_or((libc::SIGTERM, None))
}

/// `stop`: the stop signal, then SIGKILL after `timeout`. Returns the exit
/// status (None when it was not running).
pub fn stop(ctx: &Context, input: &str, timeout: Option<u64>) -> Result<Option<i32>> {
    Ok(stop_many(ctx, &[input.to_string()], timeout)?
        .into_iter()
        .next()
        .flatten())
}

/// `stop` of several containers at once: every stop signal goes out first,
/// so N containers that ignore it take one timeout, not N.
pub fn stop_many(
    ctx: &Context,
    inputs: &[String],
    timeout: Option<u64>,
) -> Result<Vec<Option<i32>>> {
    stop_many_with(ctx, inputs, timeout, None)
}

/// `stop_many` with `stop -s`: `signal` instead of each container's own
/// stop signal.
pub fn stop_many_with(
    ctx: &Context,
    inputs: &[String],
    timeout: Option<u64>,
    signal: Option<i32>,
) -> Result<Vec<Option<i32>>> {
    enum Pending {
        NotRunning,
        Supervised(Containers, String, std::os::unix::net::UnixStream),
        Direct(Containers, String, Option<OwnedFd>),
    }
    let mut longest = 0;
    let mut pending = Vec::new();
    for input in inputs {
        let (c, r, s) = find(ctx, input)?;
        // A supervisor waiting to restart it is stopped too.
        if s.status != Status::Running && !supervise::listening(&socket(ctx, &r.id)) {
            pending.push(Pending::NotRunning);
            continue;
        }
        let (own_signal, own_timeout) = stop_settings(&c.dir_of(&r.id));
        let signal = signal.unwrap_or(own_signal);
        // `-t` first, else the container's --stop-timeout, else 10 s.
        let timeout = timeout.or(own_timeout).unwrap_or(10);
        longest = longest.max(timeout);
        let req = Request::Stop {
            signal,
            timeout_secs: timeout,
        };
        match supervise::connect(&socket(ctx, &r.id), &req) {
            Some(sock) => pending.push(Pending::Supervised(c, r.id, sock)),
            None => {
                let fd = pid_alive(&s).map(|(_, fd)| fd);
                if let Some(fd) = &fd {
                    signal_pidfd(fd, signal);
                }
                pending.push(Pending::Direct(c, r.id, fd));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(longest);
    let mut out = Vec::new();
    for p in pending {
        out.push(match p {
            Pending::NotRunning => None,
            Pending::Supervised(c, id, mut sock) => match supervise::read_reply(&mut sock) {
                Some(Reply::Exited { code }) => Some(code),
                _ => settled(&c, &id)?.exit_code,
            },
            Pending::Direct(c, id, fd) => {
                if let Some(fd) = fd {
                    if !wait_pidfd(&fd, deadline.saturating_duration_since(Instant::now())) {
                        signal_pidfd(&fd, libc::SIGKILL);
                        wait_pidfd(&fd, Duration::from_secs(10));
                    }
                }
                settled(&c, &id)?.exit_code
            }
        });
    }
    Ok(out)
}

/// `kill -s SIG`.
pub fn kill(ctx: &Context, input: &str, signal: i32) -> Result<()> {
    let (_, r, s) = find(ctx, input)?;
    if s.status != Status::Running {
        return Err(not_running(&r.name));
    }
    if let Some(mut sock) = supervise::connect(&socket(ctx, &r.id), &Request::Kill { signal }) {
        return match supervise::read_reply(&mut sock) {
            Some(Reply::Failed(e)) => Err(other(e)),
            _ => Ok(()),
        };
    }
    match pid_alive(&s) {
        Some((_, fd)) => {
            signal_pidfd(&fd, signal);
            Ok(())
        }
        None => Err(not_running(&r.name)),
    }
}

/// `wait`: blocks until the container exits; its status.
pub fn wait(ctx: &Context, input: &str) -> Result<i32> {
    let (c, r, s) = find(ctx, input)?;
    if s.status == Status::Running {
        if let Some(mut sock) = supervise::connect(&socket(ctx, &r.id), &Request::Wait) {
            if let Some(Reply::Exited { code }) = supervise::read_reply(&mut sock) {
                return Ok(code);
            }
        } else if let Some((_, fd)) = pid_alive(&s) {
            while !wait_pidfd(&fd, Duration::from_secs(3600)) {}
        }
    }
    // `state` waits for a live supervisor to record the exit of a pid 1
    // that has just died: without a code, the container was lost.
    let s = settled(&c, &r.id)?;
    Ok(s.exit_code.unwrap_or(-1))
}

/// `attach`: the container's output, live, on our stdout and stderr (and
/// our stdin to it with `stdin`); returns its exit status when it exits.
pub fn attach(ctx: &Context, input: &str, stdin: bool, keys: Option<&DetachKeys>) -> Result<i32> {
    let (_, r, s) = find(ctx, input)?;
    if s.status != Status::Running {
        return Err(not_running(&r.name));
    }
    let sock = supervise::connect(
        &socket(ctx, &r.id),
        &Request::Attach {
            stdin,
            close_stdin: false,
            window: our_window(r.config.tty, stdin),
        },
    )
        .ok_or_else(|| {
            other(format!(
                "container {} has no supervisor to attach to (it was killed); `burrow rm -f {}` cleans up",
                r.name, r.name
            ))
        })?;
    let sock_path = socket(ctx, &r.id);
    // docker's `attach` shows both outputs, whatever `-a` the run had.
    let outputs = Attached {
        stdin,
        stdout: true,
        stderr: true,
    };
    relay_on_terminal(sock, &sock_path, outputs, r.config.tty, keys_of(&r, keys))
}

/// Our terminal's size, when it is the container's terminal's input.
fn our_window(tty: bool, stdin: bool) -> Option<(u16, u16)> {
    use std::io::IsTerminal;
    let input = std::io::stdin();
    (tty && stdin && input.is_terminal())
        .then(|| supervise::terminal::size_of(input.as_fd()))
        .flatten()
}

/// The detach keys: those given, else the container's own (`run
/// --detach-keys`), else docker's.
fn keys_of(r: &Record, given: Option<&DetachKeys>) -> DetachKeys {
    given
        .or(r.config.detach_keys.as_ref())
        .cloned()
        .unwrap_or_default()
}

/// Relays, the terminal raw while a container's terminal takes our
/// input; the detach keys work only there, as docker's.
fn relay_on_terminal(
    sock: std::os::unix::net::UnixStream,
    socket: &Path,
    streams: Attached,
    tty: bool,
    keys: DetachKeys,
) -> Result<i32> {
    let stdin = streams.stdin;
    let _raw = (tty && stdin)
        .then(supervise::terminal::RawMode::enter)
        .flatten();
    // Our window's changes follow to the container's terminal.
    let resize = our_window(tty, stdin).is_some().then_some(socket);
    relay_attached_keys(sock, streams, tty.then_some(&keys), resize)
}

/// Tells the supervisor on `socket` our terminal's new size.
fn send_window(socket: &Path) {
    if let Some((rows, cols)) = our_window(true, true) {
        if let Some(mut sock) = supervise::connect(socket, &Request::Resize { rows, cols }) {
            let _ = supervise::read_reply(&mut sock);
        }
    }
}

/// Relays until the container exits (its status) or, with `detach_keys`
/// (a terminal), until they are typed (0, the container runs on).
fn relay_attached_keys(
    mut sock: std::os::unix::net::UnixStream,
    streams: Attached,
    detach_keys: Option<&DetachKeys>,
    resize: Option<&Path>,
) -> Result<i32> {
    // SIGWINCH, read from a signalfd, with a terminal to follow.
    let winch = match resize {
        Some(_) => Some(
            supervise::terminal::SignalsIn::of(&[], true)
                .map_err(|e| other(format!("watching the window size: {e}")))?,
        ),
        None => None,
    };
    // Detach keys typed so far, held back from the container.
    let mut held = 0;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut buf = vec![0u8; 32 * 1024];
    let mut pending = Vec::new();
    let mut stdin_open = streams.stdin;
    let input = std::io::stdin();
    loop {
        let mut fds = vec![PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(input.as_fd(), PollFlags::POLLIN));
        }
        if let Some(w) = &winch {
            fds.push(PollFd::new(w.fd.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(other(format!("poll: {e}"))),
            Ok(_) => {}
        }
        let sock_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let in_ready = stdin_open && fds[1].revents().is_some_and(|r| !r.is_empty());
        let winch_ready = winch.is_some()
            && fds
                .last()
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty());
        drop(fds);
        if let (true, Some(w), Some(socket)) = (winch_ready, &winch, resize) {
            while let Ok(Some(_)) = w.fd.read_signal() {}
            send_window(socket);
        }
        if in_ready {
            match rustix::io::read(input.as_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    // Keys held back as a sequence's start are input too.
                    if let Some(keys) = detach_keys {
                        let _ = sock.write_all(keys.held(held));
                    }
                    let _ = sock.shutdown(std::net::Shutdown::Write);
                }
                Ok(n) => {
                    let mut to_send = Vec::with_capacity(n);
                    let detached = match detach_keys {
                        Some(keys) => keys.filter(&mut held, &buf[..n], &mut to_send),
                        None => {
                            to_send.extend_from_slice(&buf[..n]);
                            false
                        }
                    };
                    if !to_send.is_empty() && sock.write_all(&to_send).is_err() {
                        stdin_open = false;
                    }
                    if detached {
                        eprintln!("\r\nDetached; the container runs on.\r");
                        return Ok(0);
                    }
                }
            }
        }
        if sock_ready {
            let n = match sock.read(&mut buf) {
                Ok(0) => return Ok(-1),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(other(format!("reading from the supervisor: {e}"))),
            };
            pending.extend_from_slice(&buf[..n]);
            let mut frames = Vec::new();
            let used = log::decode_all(&pending, &mut frames);
            pending.drain(..used);
            for f in frames {
                // An output not attached (`-a`) is in the log only.
                let shown = match f.stream {
                    Stream::Stdout => streams.stdout,
                    Stream::Stderr => streams.stderr,
                    Stream::Mark | Stream::Exit => true,
                };
                if !shown {
                    continue;
                }
                match f.stream {
                    Stream::Stdout => {
                        let mut o = std::io::stdout().lock();
                        let _ = o.write_all(&f.data);
                        let _ = o.flush();
                    }
                    Stream::Stderr => {
                        let _ = std::io::stderr().write_all(&f.data);
                    }
                    Stream::Mark => {}
                    Stream::Exit => {
                        let mut b = [0u8; 4];
                        b.copy_from_slice(f.data.get(..4).unwrap_or(&[0, 0, 0, 0]));
                        return Ok(i32::from_le_bytes(b));
                    }
                }
            }
        }
    }
}

/// `start -a`: start attached, and relay until it exits.
pub fn start_attached(
    ctx: &Context,
    input: &str,
    stdin: bool,
    keys: Option<&DetachKeys>,
) -> Result<i32> {
    let (r, dir) = prepare_start(ctx, input)?;
    match dir {
        Some(dir) => {
            let sock_path = socket(ctx, &r.id);
            let window = our_window(r.config.tty, stdin);
            let sock = launch_attached(ctx, &dir, &sock_path, stdin, window)?;
            // The outputs `create -a` named (docker's AttachStdout and
            // AttachStderr); both for a container that records neither
            // (made by `run -d`, or `create -a stdin`), as docker's
            // `start -a` shows both.
            let (stdout, stderr) = match (r.config.attach_stdout, r.config.attach_stderr) {
                (false, false) => (true, true),
                named => named,
            };
            let streams = Attached {
                stdin,
                stdout,
                stderr,
            };
            let code =
                relay_on_terminal(sock, &sock_path, streams, r.config.tty, keys_of(&r, keys))?;
            if r.auto_remove {
                wait_removed(ctx, &r, &dir);
            }
            Ok(code)
        }
        None => attach(ctx, &r.id, stdin, keys),
    }
}

/// docker's `start -a` of a container made with `--rm` returns once the
/// container is removed, not only ended (its CLI waits for "removed"), so
/// that the next command no longer finds it. Its supervisor removes it
/// after pid 1's end; this waits for that, at most 10 s (a supervisor that
/// cannot remove it leaves it to `rm`), and not at all for a container
/// left running by the detach keys.
fn wait_removed(ctx: &Context, r: &Record, dir: &Path) {
    let Ok(storage) = ctx.checked_storage() else {
        return;
    };
    let c = Containers::at(storage);
    let until = Instant::now() + Duration::from_secs(10);
    while dir.exists() && Instant::now() < until {
        match c.find_recorded(&r.id) {
            Ok((rec, s)) if s.status == Status::Running && entry_alive(&rec, &s).is_some() => {
                return
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return,
        }
    }
}

/// `exec`: runs a command in the running container, straight into its
/// namespaces; the command's exit status (or the detached pid).
pub fn exec(ctx: &Context, input: &str, spec: &ExecSpec, detach: bool) -> Result<i32> {
    // The state as recorded: `entry_alive` checks pid 1 through its pidfd,
    // which is the check that counts (a correction here would read /proc
    // once more), and no other container's state is read. The store is
    // checked, not made: a container to run in is there already.
    let c = Containers::at(ctx.checked_storage()?);
    let (r, s) = c.find_recorded(input)?;
    let not_running = || Error::Container(ContainerError::ExecNotRunning(r.name.clone()));
    if s.status != Status::Running {
        return Err(not_running());
    }
    let (pid, pidfd) = entry_alive(&r, &s).ok_or_else(not_running)?;
    // Where the record says the plan lives (a foreground --rm container's
    // is under the runtime dir), without reading the record again.
    let dir = r.plan_dir.clone().unwrap_or_else(|| c.dir_of(&r.id));
    let plan = Plan::load(&dir).map_err(ContainerError::from)?;
    // Into the container's cgroup first: the command forked below inherits
    // it, so its limits and `stats` cover what exec runs too.
    if let Some(cg) = &s.cgroup {
        cg.join(std::process::id() as i32).map_err(Error::Cgroup)?;
    }
    // docker's exec_create, exec_start and exec_die. The journal is opened
    // out here: joining the container leaves the host's files behind. One
    // open and two writes for the three events (a failure writes none).
    let mut journal = super::events::Journal::at(c.storage_root()).appender().ok();
    let exec_id = exec_id();
    let event = |action: String, extra: &[(&str, &str)]| {
        let mut attributes = vec![
            ("name", r.name.as_str()),
            ("image", r.image.as_str()),
            ("execID", exec_id.as_str()),
        ];
        attributes.extend_from_slice(extra);
        super::events::Event::new("container", &action, &r.id, &attributes)
    };
    let running = crate::sandbox::join::exec(pid, pidfd, &plan.sandbox, spec)?;
    let command = spec.argv.join(" ");
    if let Some(j) = journal.as_mut() {
        let _ = j.append(&[
            event(format!("exec_create: {command}"), &[]),
            event(format!("exec_start: {command}"), &[]),
        ]);
    }
    if detach {
        // Nobody waits for a detached exec (its Drop would kill it), so
        // nobody sees it end: no exec_die.
        std::mem::forget(running);
        return Ok(0);
    }
    let code = supervise::terminal::wait_foreground(running, spec.stdin)?.code();
    if let Some(j) = journal.as_mut() {
        let _ = j.append(&[event("exec_die".into(), &[("exitCode", &code.to_string())])]);
    }
    Ok(code)
}

/// An exec's id, as docker's: 64 hex digits, random.
fn exec_id() -> String {
    let mut b = [0u8; 32];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b[..16].copy_from_slice(&t.to_le_bytes());
        b[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    hex::encode(b)
}

/// What `logs` prints.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    /// Lines from this time on (nanoseconds since the epoch).
    pub since_ns: Option<u64>,
    /// Lines before this time; a follow stops there.
    pub until_ns: Option<u64>,
    pub timestamps: bool,
}

/// A line (or the unfinished end) of one stream, with the time it began.
struct Line {
    stream: Stream,
    time_ns: u64,
    data: Vec<u8>,
}

/// Splits frames into lines per stream; the unfinished tails stay in
/// `partial` until their newline comes.
fn lines(frames: Vec<Frame>, partial: &mut [Option<Line>; 2], out: &mut Vec<Line>) {
    for f in frames {
        let slot = match f.stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
            Stream::Exit | Stream::Mark => continue,
        };
        let mut rest = &f.data[..];
        while !rest.is_empty() {
            let cut = rest.iter().position(|&b| b == b'\n').map(|i| i + 1);
            let (piece, tail) = rest.split_at(cut.unwrap_or(rest.len()));
            let line = partial[slot].get_or_insert_with(|| Line {
                stream: f.stream,
                time_ns: f.time_ns,
                data: Vec::new(),
            });
            line.data.extend_from_slice(piece);
            if cut.is_some() {
                if let Some(l) = partial[slot].take() {
                    out.push(l);
                }
            }
            rest = tail;
        }
    }
}

/// Prints `l`: stdout lines through `out` (buffered: one write per line
/// cannot keep up with a container's burst), stderr ones after what
/// `out` holds.
fn print_line(out: &mut impl Write, l: &Line, timestamps: bool) {
    let stamp = timestamps.then(|| format!("{} ", crate::time::rfc3339_nanos(l.time_ns)));
    let stamp = stamp.as_deref().unwrap_or("").as_bytes();
    let _ = match l.stream {
        Stream::Stderr => {
            let _ = out.flush();
            let mut text = stamp.to_vec();
            text.extend_from_slice(&l.data);
            std::io::stderr().write_all(&text)
        }
        _ => out.write_all(stamp).and_then(|()| out.write_all(&l.data)),
    };
}

/// `logs`: stdout to stdout, stderr to stderr.
pub fn logs(ctx: &Context, input: &str, opts: &LogOptions) -> Result<()> {
    let (c, r, _) = find(ctx, input)?;
    let driver = r.config.log_config.driver;
    if !driver.writes_log() {
        return Err(other(format!(
            "container {} has no log: it runs with --log-driver {} (only k8s-file and json-file \
             keep one)",
            r.name,
            driver.name()
        )));
    }
    // A foreground --rm container's log lives with its plan, under the
    // runtime dir.
    let dir = r.plan_dir.clone().unwrap_or_else(|| c.dir_of(&r.id));
    let mut reader = LogReader::new(&dir);
    let frames = reader
        .read_all()
        .map_err(|e| other(format!("reading the log of {}: {e}", r.name)))?;
    let lost = reader.take_dropped();
    if lost > 0 {
        eprintln!(
            "Warning: {lost} bytes of {}'s output were rotated out of its log while it was read",
            r.name
        );
    }
    let mut partial: [Option<Line>; 2] = [None, None];
    let mut all = Vec::new();
    lines(frames, &mut partial, &mut all);
    if !opts.follow {
        all.extend(partial.iter_mut().filter_map(Option::take));
        all.sort_by_key(|l| l.time_ns);
    }
    let in_span = |l: &Line| {
        opts.since_ns.is_none_or(|s| l.time_ns >= s) && opts.until_ns.is_none_or(|u| l.time_ns < u)
    };
    all.retain(in_span);
    if let Some(n) = opts.tail {
        let skip = all.len().saturating_sub(n);
        all.drain(..skip);
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    for l in &all {
        print_line(&mut out, l, opts.timestamps);
    }
    let _ = out.flush();
    if !opts.follow {
        return Ok(());
    }
    let sock = socket(ctx, &r.id);
    loop {
        // docker's --until ends a follow at that time.
        if opts.until_ns.is_some_and(|u| super::log::now_ns() >= u) {
            let _ = out.flush();
            return Ok(());
        }
        let alive = c
            .state(&r.id)
            .map(|s| s.status == Status::Running)
            .unwrap_or(false)
            || supervise::listening(&sock);
        let mut frames = Vec::new();
        let caught_up = reader
            .poll(&mut frames)
            .map_err(|e| other(format!("reading the log of {}: {e}", r.name)))?;
        let got = !frames.is_empty();
        let mut done = Vec::new();
        lines(frames, &mut partial, &mut done);
        for l in done.iter().filter(|l| in_span(l)) {
            print_line(&mut out, l, opts.timestamps);
        }
        // What rotation took lies after these frames (`poll` stops at a
        // gap): the lines it cut end here, and the reader is told.
        let lost = reader.take_dropped();
        if lost > 0 {
            for l in partial.iter_mut().filter_map(Option::take) {
                print_line(&mut out, &l, opts.timestamps);
            }
            let _ = out.flush();
            eprintln!(
                "Warning: {lost} bytes of {}'s output were rotated out of its log before they \
                 could be read here (this reader fell behind by more than the log may grow)",
                r.name
            );
        }
        let _ = out.flush();
        if !alive && !got && caught_up {
            for l in partial.iter_mut().filter_map(Option::take) {
                print_line(&mut out, &l, opts.timestamps);
            }
            let _ = out.flush();
            return Ok(());
        }
        if !got {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One process of a container, as `top` lists it.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub cpu_ticks: u64,
    pub command: String,
}

/// `top`: the host's processes in the container's pid namespace.
pub fn top(ctx: &Context, input: &str) -> Result<Vec<Process>> {
    let (_, r, s) = find(ctx, input)?;
    let (pid, _fd) = entry_alive(&r, &s).ok_or_else(|| not_running(&r.name))?;
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .map_err(|e| other(format!("reading the pid namespace of {pid}: {e}")))?;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").map_err(|e| other(format!("/proc: {e}")))? {
        let Ok(e) = e else { continue };
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{p}/ns/pid"))
            .ok()
            .as_ref()
            != Some(&ns)
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ppid = fields.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        let ticks = fields
            .get(11)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        let uid = std::fs::read_to_string(format!("/proc/{p}/status"))
            .ok()
            .and_then(|st| {
                st.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let mut command = cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        if command.is_empty() {
            command = format!("[{}]", &stat[stat.find('(').map_or(0, |i| i + 1)..close]);
        }
        out.push(Process {
            pid: p,
            ppid,
            uid,
            cpu_ticks: ticks,
            command,
        });
    }
    out.sort_by_key(|p| p.pid);
    Ok(out)
}

/// `rename`.
pub fn rename(ctx: &Context, input: &str, new_name: &str) -> Result<()> {
    let c = records(ctx)?;
    let _lock = c.lock()?;
    // Records alone under the lock: see `Containers::records_alone`.
    let (mut r, s) = c.find_recorded(input)?;
    if s.status == Status::Unknown {
        return Err(damaged(&r, &s, "renamed"));
    }
    c.check_name(new_name)?;
    r.name = new_name.to_string();
    c.set_record(&r)?;
    Ok(())
}

/// Stops every running container, for `system reset`.
pub fn stop_all(ctx: &Context) -> Result<()> {
    let c = records(ctx)?;
    for (r, s) in c.list()? {
        if s.status == Status::Running {
            if let Some(mut sock) = supervise::connect(
                &socket(ctx, &r.id),
                &Request::Kill {
                    signal: libc::SIGKILL,
                },
            ) {
                let _ = supervise::read_reply(&mut sock);
            }
            if let Some((_, fd)) = pid_alive(&s) {
                signal_pidfd(&fd, libc::SIGKILL);
                wait_pidfd(&fd, Duration::from_secs(10));
            }
            let _ = settled(&c, &r.id);
        }
    }
    Ok(())
}

/// `healthcheck run`: the container's supervisor runs its health check
/// now (the one under way, if any); its status after that result, the
/// command's exit status and output.
pub fn healthcheck(
    ctx: &Context,
    input: &str,
) -> Result<(super::health::HealthStatus, i32, String)> {
    let (_, r, s) = find(ctx, input)?;
    if s.status != Status::Running {
        return Err(other(format!("container {} is not running", r.name)));
    }
    let mut sock = supervise::connect(&socket(ctx, &r.id), &Request::Healthcheck)
        .ok_or_else(|| other(format!("container {}: no supervisor answers", r.name)))?;
    match supervise::read_reply(&mut sock) {
        Some(supervise::Reply::Health {
            status,
            exit_code,
            output,
        }) => Ok((status, exit_code, output)),
        Some(supervise::Reply::Failed(why)) => Err(other(format!("container {}: {why}", r.name))),
        _ => Err(other(format!(
            "container {}: the supervisor ended before the health check did",
            r.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_lines_per_stream() {
        let f = |s, t, d: &str| Frame {
            stream: s,
            time_ns: t,
            data: d.as_bytes().to_vec(),
        };
        let mut partial = [None, None];
        let mut out = Vec::new();
        lines(
            vec![
                f(Stream::Stdout, 1, "a\nb"),
                f(Stream::Stderr, 2, "e\n"),
                f(Stream::Stdout, 3, "c\n"),
            ],
            &mut partial,
            &mut out,
        );
        let got: Vec<_> = out
            .iter()
            .map(|l| {
                (
                    l.stream,
                    l.time_ns,
                    String::from_utf8_lossy(&l.data).into_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, 1, "a\n".to_string()),
                (Stream::Stderr, 2, "e\n".to_string()),
                (Stream::Stdout, 1, "bc\n".to_string()),
            ]
        );
    }
}
