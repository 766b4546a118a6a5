//! `exec`: a new process inside a running sandbox. The caller joins the
//! namespaces of the sandbox's pid 1 through its pidfd (user first, so the
//! rest is allowed), forks into its pid namespace, and the child takes the
//! sandbox's root, user, capabilities and no_new_privs before execve.
//! No round trip through any supervisor; it must never run threaded.

use super::child;
use super::exec::{self, ExecFailure};
use super::spec::{SandboxSpec, User};
use super::sync::{Channel, ToParent};
use super::sys;
use super::tty;
use super::{Running, SandboxError, SetupError};
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

/// What `exec` runs, on top of the sandbox's own settings.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    pub argv: Vec<String>,
    /// `KEY=VALUE` added to (and winning over) the sandbox's environment.
    pub env: Vec<String>,
    /// The working directory; the sandbox's when `None`.
    pub cwd: Option<PathBuf>,
    /// The user; the sandbox's when `None`.
    pub user: Option<String>,
    pub tty: bool,
    pub stdin: bool,
    /// Nobody waits: stdio goes to /dev/null, so that the caller's pipes
    /// are not held open by the command.
    pub detached: bool,
    /// `exec --privileged`: every capability of the container's user
    /// namespace and no seccomp profile for this command (root
    /// emulation's notifications stay), whatever the container runs with.
    pub privileged: bool,
}

/// A pidfd for `pid`, which stays true to the process even if its number
/// is reused later.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, SandboxError> {
    let pid = rustix::process::Pid::from_raw(pid).ok_or(SandboxError::Sys {
        call: "pidfd_open",
        errno: libc::EINVAL,
    })?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).map_err(|e| {
        SandboxError::Sys {
            call: "pidfd_open",
            errno: e.raw_os_error(),
        }
    })
}

/// Sends `signal` through `pidfd`; the errno when the kernel refuses.
pub fn pidfd_signal(pidfd: &OwnedFd, signal: i32) -> Result<(), i32> {
    crate::setns::pidfd_send_signal(pidfd.as_fd(), signal).map_err(|e| e.raw_os_error())
}

/// What burrow reads of a process's /proc/PID/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The state letter: `R`, `S`, `Z` (a zombie), ...
    pub state: u8,
    /// The parent's pid.
    pub parent: i32,
    /// Clock ticks since boot.
    pub start_time: u64,
}

/// /proc/PID/stat of `pid`, in one read: the kernel writes the whole line
/// (well under the buffer) at the first read, where `read_to_string`
/// takes a statx and six growing reads. `None` when there is no such
/// process.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let fd = rustix::fs::open(
        format!("/proc/{pid}/stat"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 4096];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    parse_proc_stat(&buf[..n])
}

/// The fields of a stat line: after the command name, which may hold
/// spaces, parentheses and bytes that are not UTF-8, so read from the
/// last `)`.
fn parse_proc_stat(line: &[u8]) -> Option<ProcStat> {
    let at = line.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&line[at + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let parent = fields.next()?.parse().ok()?;
    // Field 22 of the line; the state was field 3, the parent field 4.
    let start_time = fields.nth(17)?.parse().ok()?;
    Some(ProcStat {
        state,
        parent,
        start_time,
    })
}

/// Start time of a process in clock ticks since boot (field 22 of its stat);
/// `None` for a zombie, which is dead though nobody reaped it yet (its
/// parent, a killed supervisor, is gone).
pub fn process_start_time(pid: i32) -> Option<u64> {
    proc_stat(pid)
        .filter(|s| !matches!(s.state, b'Z' | b'X'))
        .map(|s| s.start_time)
}

/// Starts `exec` in the sandbox whose pid 1 is `pid` (with `pidfd`, opened
/// and checked by the caller), built from `sandbox`. The calling process
/// stays in the sandbox's namespaces afterwards: it should only wait.
pub fn exec(
    pid: i32,
    pidfd: OwnedFd,
    sandbox: &SandboxSpec,
    exec: &ExecSpec,
) -> Result<Running, SandboxError> {
    if exec.argv.is_empty() {
        return Err(SandboxError::InvalidSpec(super::spec::InvalidSpec {
            field: "argv".into(),
            reason: "no command given".into(),
        }));
    }
    let n = crate::forked::threads();
    if n > 1 {
        return Err(SandboxError::Threaded(n));
    }
    let sys_err = |call: &'static str| {
        move |e: Errno| SandboxError::Sys {
            call,
            errno: e.raw_os_error(),
        }
    };
    // The sandbox's root as pid 1 sees it, opened from here before the
    // mount namespace changes under us.
    let root = rustix::fs::open(
        format!("/proc/{pid}/root"),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(sys_err("open the container's root"))?;
    // This process and the child it forks below are burrow processes in
    // the container's namespaces until the command is exec'd: nothing in
    // the container may open their /proc/PID/exe (the burrow binary), mem
    // or fds. execve makes the command dumpable again as its credentials
    // allow.
    sys::set_dumpable(false);
    // Root emulation (a single-id map): the command's chowns and set*id
    // calls go to a server of its own, forked here, before the setns
    // below, so that it sees the command as the supervisor sees the
    // container (the host's /proc and pid numbers). It lives until the
    // last process under the command's filter is gone.
    let root_server = if sandbox.root_emulation {
        Some(start_root_server(&sandbox.rootfs)?)
    } else {
        None
    };

    let mut flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID;
    // A container that shares another's namespaces (`--network
    // container:`, a pod's) is in them too: not the host's.
    let shared = sandbox.join.as_ref();
    for (on, flag) in [
        (
            sandbox.namespaces.uts || shared.is_some_and(|j| j.uts),
            libc::CLONE_NEWUTS,
        ),
        (
            sandbox.namespaces.ipc || shared.is_some_and(|j| j.ipc),
            libc::CLONE_NEWIPC,
        ),
        (
            sandbox.namespaces.net || shared.is_some_and(|j| j.net),
            libc::CLONE_NEWNET,
        ),
        (sandbox.namespaces.cgroup, libc::CLONE_NEWCGROUP),
    ] {
        if on {
            flags |= flag;
        }
    }
    // All at once through the pidfd, the user namespace first; before
    // Linux 5.8 through pid 1's /proc/PID/ns files, checked by the pidfd.
    crate::setns::join(pid, pidfd.as_fd(), flags).map_err(SandboxError::Join)?;
    drop(pidfd);

    let pty = if exec.tty {
        Some(tty::open_pty(root.as_fd(), tty::terminal_size()).map_err(SandboxError::Setup)?)
    } else {
        None
    };
    let (parent_end, child_end) = Channel::pair()?;
    // SAFETY: single-threaded, checked above.
    let forked = unsafe { sys::clone3(0) }.map_err(sys_err("clone3"))?;
    let (child_pid, child_pidfd) = match forked {
        sys::Forked::Child => {
            drop(parent_end);
            let failure = match child_main(
                &root,
                pty.as_ref().map(|p| &p.slave),
                sandbox,
                exec,
                root_server.as_ref(),
            ) {
                Err(Stop::Setup(e)) => ToParent::Failed(e),
                Err(Stop::Exec(f)) => ToParent::ExecFailed(f),
            };
            let code = match &failure {
                ToParent::ExecFailed(f) => f.exit_code(),
                _ => 125,
            };
            let _ = child_end.send(&failure, None);
            // SAFETY: _exit skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(code) }
        }
        sys::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_end);
    // The server hears EOF if the child fails before it sends the
    // listener.
    drop(root_server);
    let mut running = Running {
        pid: child_pid,
        pidfd: child_pidfd,
        pty: pty.map(|p| p.master),
        net: None,
        socket_notify: None,
        root_emulation: None,
        root_serves_sockets: false,
        rootfs: super::RootfsReport {
            driver: super::RootfsDriver::Bind,
            fallbacks: Vec::new(),
        },
        proc_view: None,
        proc_view_off: None,
        born_in_cgroup: false,
        fuse_daemon: None,
        dev_shm: None,
        status: None,
    };
    // EOF (the channel is close-on-exec) means the command was exec'd.
    match parent_end.recv::<ToParent>()? {
        None => Ok(running),
        Some((ToParent::ExecFailed(f), _)) => {
            running.reap();
            Err(SandboxError::Exec(f))
        }
        Some((ToParent::Failed(e), _)) => {
            running.reap();
            Err(SandboxError::Setup(e))
        }
        Some(_) => Err(SandboxError::Conversation("an unexpected message")),
    }
}

enum Stop {
    Setup(SetupError),
    Exec(ExecFailure),
}

fn setup(op: &str, path: Option<&Path>, e: Errno) -> Stop {
    Stop::Setup(SetupError {
        op: op.into(),
        path: path.map(Path::to_path_buf),
        errno: Some(e.raw_os_error()),
        detail: None,
    })
}

/// Forks the process that serves an exec'd command's root emulation:
/// it takes the listener from the command's set-up over the channel
/// returned, answers until the last process under that filter is gone,
/// and exits. Its stdio is /dev/null (it must not hold the caller's pipes
/// open) and it is a session of its own (the terminal's signals are the
/// command's).
fn start_root_server(rootfs: &super::Rootfs) -> Result<Channel, SandboxError> {
    let (ours, theirs) = Channel::pair()?;
    // SAFETY: single-threaded (checked by `exec`); the child only makes
    // system calls and exits.
    match unsafe { sys::fork() } {
        Err(e) => Err(SandboxError::Sys {
            call: "fork the root emulation's server",
            errno: e.raw_os_error(),
        }),
        Ok(Some(_)) => Ok(ours),
        Ok(None) => {
            drop(ours);
            let _ = rustix::process::setsid();
            let _ = null_stdio();
            // Every fd but the channel goes (the caller's locks, pidfds
            // and sockets).
            crate::forked::close_fds_except(3, &[theirs.raw_fd()]);
            if let Ok(Some((ToParent::RootNotify, Some(fd)))) = theirs.recv::<ToParent>() {
                drop(theirs);
                super::rootemu::RootEmulation::new(fd, rootfs, None).serve_until_gone();
            }
            // SAFETY: _exit skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(0) }
        }
    }
}

fn child_main(
    root: &OwnedFd,
    slave: Option<&OwnedFd>,
    sandbox: &SandboxSpec,
    exec: &ExecSpec,
    root_server: Option<&Channel>,
) -> Result<std::convert::Infallible, Stop> {
    rustix::process::fchdir(root).map_err(|e| setup("enter the container's root", None, e))?;
    rustix::process::chroot(".").map_err(|e| setup("enter the container's root", None, e))?;
    let user = match &exec.user {
        Some(u) => User::Lookup {
            spec: u.clone(),
            extra_gids: vec![],
            extra_groups: vec![],
        },
        None => sandbox.user.clone(),
    };
    let mut spec = sandbox.clone();
    spec.user = user;
    spec.tty = exec.tty;
    if exec.privileged {
        spec.capabilities = super::CapSet::all();
        spec.seccomp = super::SeccompPolicy::Unconfined;
    }
    spec.env = merged_env(&sandbox.env, &exec.env);
    let resolved = child::container_user(&spec).map_err(Stop::Setup)?;
    child::session_keyring().map_err(Stop::Setup)?;
    // The container's profile, without the socket notifier: its listener
    // belongs to pid 1's supervisor, and the exec'd command binds in the
    // container. Root emulation's calls go to the server forked for this
    // command, before the credentials below need it.
    let notify = super::seccomp::Notified {
        ids: root_server.is_some(),
        ..Default::default()
    };
    let listener = child::install_seccomp(&spec, notify).map_err(Stop::Setup)?;
    if let (Some(server), Some(l)) = (root_server, listener) {
        server
            .send(&ToParent::RootNotify, Some(l.as_fd()))
            .map_err(|e| {
                Stop::Setup(SetupError {
                    op: "hand the root emulation's listener to its server".into(),
                    path: None,
                    errno: None,
                    detail: Some(e.to_string()),
                })
            })?;
    }
    match slave {
        Some(s) => tty::become_terminal_owner(s.as_fd()).map_err(Stop::Setup)?,
        None => {
            let _ = rustix::process::setsid();
            if exec.detached {
                null_stdio().map_err(|e| setup("open", Some(Path::new("/dev/null")), e))?;
            } else if !exec.stdin {
                child::stdin_from_null().map_err(Stop::Setup)?;
            }
        }
    }
    child::rlimits(&spec).map_err(Stop::Setup)?;
    child::credentials(&spec, &resolved).map_err(Stop::Setup)?;
    let cwd = exec.cwd.as_deref().unwrap_or(&sandbox.cwd);
    rustix::process::chdir(cwd).map_err(|e| setup("enter", Some(cwd), e))?;
    let env = child::environment(&spec, &resolved);
    sys::cloexec_from_3();
    Err(Stop::Exec(exec::exec(&exec.argv, &env)))
}

/// Runs `f` in a forked child that joined only the user namespace of the
/// sandbox whose pid 1 is `pid` (with `pidfd`), with that process's root
/// opened before: the child has the namespace's capabilities over the
/// sandbox's files and sees them through the root fd, while host paths
/// stay where they are. `f`'s answer and its error come back typed; the
/// outer error is the helper's own.
pub fn with_running_root<T, E, F>(
    pid: i32,
    pidfd: OwnedFd,
    f: F,
) -> Result<Result<T, E>, SandboxError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    E: serde::Serialize + serde::de::DeserializeOwned,
    F: FnOnce(&OwnedFd) -> Result<T, E>,
{
    #[derive(serde::Serialize, serde::Deserialize)]
    enum Joined<E> {
        Setup(SetupError),
        Work(E),
    }
    let root = rustix::fs::open(
        format!("/proc/{pid}/root"),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| {
        SandboxError::Setup(SetupError {
            op: format!("open the root of the container's pid 1 ({pid}) at"),
            path: Some(PathBuf::from(format!("/proc/{pid}/root"))),
            errno: Some(e.raw_os_error()),
            detail: None,
        })
    })?;
    let out = crate::forked::run_forked(
        crate::forked::Fork::new("the helper in the container's user namespace"),
        move || {
            // In the container's user namespace, where its root holds
            // every capability: not dumpable first.
            sys::set_dumpable(false);
            crate::setns::join(pid, pidfd.as_fd(), libc::CLONE_NEWUSER).map_err(|e| {
                Joined::Setup(SetupError {
                    op: "join the container's user namespace".into(),
                    path: None,
                    errno: Some(e.errno()),
                    detail: Some(e.to_string()),
                })
            })?;
            f(&root).map_err(Joined::Work)
        },
    )?;
    match out {
        Ok(v) => Ok(Ok(v)),
        Err(Joined::Work(e)) => Ok(Err(e)),
        Err(Joined::Setup(e)) => Err(SandboxError::Setup(e)),
    }
}

/// Mounts a stopped sandbox's root (the kernel overlay of `rootfs`) in a
/// new mount namespace of the calling process, which must be root of a
/// user namespace holding the sandbox's id map; returns the root's fd.
pub fn mount_stopped_root(
    rootfs: &super::spec::Rootfs,
    api: super::OverlayApi,
) -> Result<OwnedFd, SetupError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| SetupError {
        op: "create a mount namespace".into(),
        path: None,
        errno: Some(e as i32),
        detail: None,
    })?;
    let mounted = super::rootfs::mount_root(
        rootfs,
        &[super::RootfsDriver::KernelOverlay],
        api,
        false,
        &[],
        None,
    )?;
    Ok(mounted.root)
}

/// `mount_stopped_root`, then the sandbox's volumes and bind mounts
/// (from `mounts`, in their order) on it, as a start would mount them: a
/// copy to or from a path below one reaches the volume, not the layer
/// under it. Destinations resolve inside the root, as at a start.
pub fn mount_stopped_root_with_volumes(
    rootfs: &super::spec::Rootfs,
    api: super::OverlayApi,
    mounts: &[super::spec::MountOp],
) -> Result<OwnedFd, SetupError> {
    use super::spec::MountOp;
    let root = mount_stopped_root(rootfs, api)?;
    let volumes: Vec<MountOp> = mounts
        .iter()
        .filter(|m| matches!(m, MountOp::Bind { .. } | MountOp::Volume { .. }))
        .cloned()
        .collect();
    super::mounts::apply_mount_ops(&volumes, root.as_fd(), None)?;
    Ok(root)
}

fn null_stdio() -> Result<(), Errno> {
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    for target in 0..3 {
        // SAFETY: dup2 onto the stdio numbers, which we mean to replace.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } < 0 {
            return Err(Errno::from_raw_os_error(sys::last_errno()));
        }
    }
    Ok(())
}

/// A signal by number or name (`9`, `KILL`, `SIGKILL`, `SIGRTMIN+2`).
pub fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=libc::SIGRTMAX()).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix('+')?.parse().ok()?
        };
        let n = libc::SIGRTMIN() + off;
        return (n <= libc::SIGRTMAX()).then_some(n);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix('-')?.parse().ok()?
        };
        let n = libc::SIGRTMAX() - off;
        return (n >= libc::SIGRTMIN()).then_some(n);
    }
    let sig: nix::sys::signal::Signal = format!("SIG{name}").parse().ok()?;
    Some(sig as i32)
}

/// The sandbox's environment with `extra` on top, later names winning.
pub fn merged_env(base: &[String], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = base.to_vec();
    for e in extra {
        let name = e.split_once('=').map(|(n, _)| n).unwrap_or(e);
        out.retain(|o| o.split_once('=').map(|(n, _)| n).unwrap_or(o) != name);
        out.push(e.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("KILL"), Some(9));
        assert_eq!(signal_number("sigterm"), Some(15));
        assert_eq!(signal_number("SIGRTMIN+1"), Some(libc::SIGRTMIN() + 1));
        assert_eq!(signal_number("NOPE"), None);
        assert_eq!(signal_number("0"), None);
    }

    #[test]
    fn stat_lines_are_read_after_the_last_parenthesis() {
        let mut line = b"4242 (a) b (c\xff) S 17 4242 4242 0 -1 4194560 80 0 0 0 0 0 0 0 20 0 1 0 \
                          6984525 2322432 348 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1\n"
            .to_vec();
        let want = ProcStat {
            state: b'S',
            parent: 17,
            start_time: 6984525,
        };
        assert_eq!(parse_proc_stat(&line), Some(want));
        line[16] = b'Z';
        assert_eq!(parse_proc_stat(&line).map(|s| s.state), Some(b'Z'));
        assert_eq!(parse_proc_stat(b"4242 (cut"), None);
        assert_eq!(parse_proc_stat(b"4242 (short) S 1 2 3"), None);
    }

    #[test]
    fn this_process_reads_as_itself() {
        let me = proc_stat(std::process::id() as i32).unwrap();
        assert_eq!(me.parent as u32, std::os::unix::process::parent_id());
        // The main thread's state: it waits for this test's thread.
        assert!(matches!(me.state, b'R' | b'S'), "{}", me.state as char);
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let at = text.rfind(')').unwrap();
        let start: u64 = text[at + 2..].split(' ').nth(19).unwrap().parse().unwrap();
        assert_eq!(me.start_time, start);
        assert_eq!(process_start_time(std::process::id() as i32), Some(start));
    }

    #[test]
    fn exec_env_overrides_the_containers() {
        let base = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let out = merged_env(&base, &["A=2".into(), "B=3".into()]);
        assert_eq!(out, vec!["PATH=/bin", "A=2", "B=3"]);
    }
}
