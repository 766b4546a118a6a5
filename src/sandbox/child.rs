//! The child side of `spawn`, from clone to execve, one stage per function,
//! called in order from `main`: id maps, the remaining namespaces, the root
//! mount, the mount list, the terminal, pivot_root, host name, user, init,
//! credentials and capabilities, exec. Every failure goes to the parent as a
//! `SetupError`; nothing here prints or panics on purpose.

use super::caps;
use super::exec::{self, env_value, ExecFailure};
use super::init;
use super::mounts::{apply_mount_ops, JoinedShm};
use super::rootfs::{self, MountedRoot};
use super::spec::MountOp;
use super::spec::{SandboxSpec, User, DEFAULT_PATH};
use super::sync::{Channel, ToChild, ToParent};
use super::sys;
use super::tty::{self, WinSize};
use super::user::{resolve_user, ResolvedUser};
use super::userns;
use super::SetupError;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

/// What the child got from the parent at clone time.
pub(crate) struct ChildContext<'a> {
    pub spec: &'a SandboxSpec,
    pub ops: &'a [MountOp],
    pub channel: Channel,
    pub winsize: Option<WinSize>,
    /// In the shared user namespace of a holder: its maps are written.
    pub shared_userns: bool,
    /// Born in its cgroup (CLONE_INTO_CGROUP): nobody moves it there.
    pub cgroup_at_birth: bool,
    /// A pidfd of the process whose network namespace to enter
    /// (`spec.join`), opened by the parent, which sees its pid.
    pub join: Option<std::os::fd::RawFd>,
    /// The joined container's /dev/shm mount (`HostSide::joined_shm`),
    /// for `MountOp::JoinedShm`.
    pub joined_shm: Option<std::os::fd::RawFd>,
    /// `ToChild::NetReady` came while waiting for another reply.
    pub net_ready: std::cell::Cell<bool>,
    /// `ToChild::Seccomp` came while waiting for another reply.
    pub seccomp: std::cell::RefCell<Option<Prebuilt>>,
}

/// The parent's `ToChild::Seccomp`: the program, packed, or why none.
pub(crate) type Prebuilt = Result<Option<Vec<u64>>, SetupError>;

enum Stop {
    Setup(SetupError),
    Exec(ExecFailure),
    /// The parent is gone: nobody to tell.
    Orphaned,
}

impl From<SetupError> for Stop {
    fn from(e: SetupError) -> Self {
        Stop::Setup(e)
    }
}

fn sys_err(op: &str, path: Option<&Path>, e: Errno) -> SetupError {
    SetupError {
        op: op.into(),
        path: path.map(Path::to_path_buf),
        errno: Some(e.raw_os_error()),
        detail: None,
    }
}

fn nix_err(op: &str, e: nix::Error) -> SetupError {
    SetupError {
        op: op.into(),
        path: None,
        errno: Some(e as i32),
        detail: None,
    }
}

/// Runs the child to execve, or reports why not and exits.
pub(crate) fn main(ctx: ChildContext) -> ! {
    let channel = &ctx.channel;
    let code = match run(&ctx) {
        Err(Stop::Setup(e)) => {
            let _ = channel.send(&ToParent::Failed(e), None);
            125
        }
        Err(Stop::Exec(f)) => {
            let code = f.exit_code();
            let _ = channel.send(&ToParent::ExecFailed(f), None);
            code
        }
        Err(Stop::Orphaned) => 125,
    };
    // SAFETY: _exit skips the atexit handlers and buffers that belong to
    // the parent's copy of this process.
    unsafe { libc::_exit(code) }
}

fn run(ctx: &ChildContext) -> Result<std::convert::Infallible, Stop> {
    let spec = ctx.spec;
    // Born of a go-between that was not dumpable (see `go_between`): the
    // set-up below writes this process's own /proc files, which the kernel
    // gives to the host's root while it is not. Nothing in the container
    // runs yet to see it; execve decides again for the command, and an
    // init turns it off again.
    if ctx.shared_userns {
        sys::set_dumpable(true);
    }
    reset_signals();
    // The container must not outlive the process that waits for it.
    // SAFETY: PR_SET_PDEATHSIG takes a signal number, no pointers.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // Our own session: Ctrl-C on the caller's terminal reaches the caller,
    // which forwards it, and not the container behind its back.
    let _ = rustix::process::setsid();
    oom_score_adj(spec)?;

    // While the parent runs newuidmap and newgidmap: namespaces need no
    // ids, only the capabilities the creator of a user namespace holds.
    new_namespaces(spec)?;
    id_maps(ctx)?;
    network(ctx)?;
    cgroup_namespace(spec)?;
    sysctls(spec)?;
    let MountedRoot {
        root,
        staging,
        report,
    } = rootfs::mount_root(
        &spec.rootfs,
        &spec.rootfs_drivers,
        spec.overlay_api,
        spec.volatile_upper,
        &spec.etc.names(),
        Some(&mut |fuse, options| fuse_daemon_from_parent(ctx, fuse, options)),
    )?;
    send(ctx, &ToParent::Rootfs(report), None)?;
    if let Some(shm) = apply_mount_ops(ctx.ops, root.as_fd(), joined_shm(ctx).as_ref())? {
        send(ctx, &ToParent::DevShm, Some(shm.as_fd()))?;
    }
    proc_view(ctx, root.as_fd(), staging.as_fd())?;
    let pty = terminal(ctx, &root)?;
    rootfs::pivot_into(staging.as_fd(), root.as_fd())?;
    drop((root, staging));
    if let (Some(name), true) = (&spec.hostname, spec.namespaces.uts) {
        rustix::system::sethostname(name.as_bytes())
            .map_err(|e| sys_err("set the host name", None, e))?;
    }
    if let (Some(name), true) = (&spec.domainname, spec.namespaces.uts) {
        rustix::system::setdomainname(name.as_bytes())
            .map_err(|e| sys_err("set the domain name", None, e))?;
    }
    if let Some(a) = &spec.account {
        // A read-only root or an image whose /etc files are not regular
        // files keeps its own: the user then has no name, as before.
        let _ = super::user::add_account(Path::new("/etc"), a);
    }
    let user = container_user(spec)?;
    if !spec.stdin && pty.is_none() {
        stdin_from_null()?;
    }
    session_keyring()?;
    seccomp(ctx, spec)?;
    wait_for_network(ctx)?;
    if spec.init {
        start_init(ctx)?;
    }
    if let Some(slave) = &pty {
        tty::become_terminal_owner(slave.as_fd())?;
    }
    drop(pty);
    rlimits(spec)?;
    credentials(spec, &user)?;
    rustix::process::chdir(&spec.cwd).map_err(|e| sys_err("enter", Some(&spec.cwd), e))?;
    let env = environment(spec, &user);
    if spec.pause {
        send(ctx, &ToParent::Executing, None)?;
        pause();
    }
    sys::cloexec_from_3();
    send(ctx, &ToParent::Executing, None)?;
    Err(Stop::Exec(exec::exec(&spec.argv, &env)))
}

/// `SandboxSpec::pause`: holds the namespaces until told to stop. The
/// signals are blocked and waited for: pid 1 of a pid namespace gets no
/// signal its default action would take, but a blocked one is queued.
/// Every fd (the channel with them) is closed first: the parent reads
/// the channel's end as the exec, and nothing of burrow stays open here.
fn pause() -> ! {
    crate::forked::close_fds(3, u32::MAX);
    // No execve replaces burrow's command line and environment (the
    // caller's): a container sharing the pod's pid namespace would read
    // them in /proc/1/cmdline and /proc/1/environ. Zeroed where the
    // kernel reads them from. (It stays dumpable: the pod's containers
    // join its namespaces through a pidfd, which needs that.)
    forget_arguments();
    // SAFETY: sigset_t filled by sigemptyset/sigaddset before use; the
    // calls take pointers to it alone.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            if libc::sigwaitinfo(&set, std::ptr::null_mut()) > 0 {
                libc::_exit(0);
            }
        }
    }
}

/// Zeroes this process's command line and environment strings, the
/// ranges /proc/self/stat gives (arg_start..arg_end, env_start..env_end).
fn forget_arguments() {
    let Some(stat) = sys::read_proc_file("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which may hold spaces; field 3 first.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return;
    };
    let fields: Vec<usize> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    for (start, end) in [(field(48), field(49)), (field(50), field(51))] {
        if start != 0 && end > start {
            // SAFETY: the kernel's own bounds of this process's argument
            // and environment strings, mapped and writable (the initial
            // stack); nothing reads them after this point.
            unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
        }
    }
}

/// A session keyring of the container's own, made while this process is
/// still root in its user namespace and before seccomp refuses keyctl: the
/// command and everything it starts possess it, not the caller's.
pub(crate) fn session_keyring() -> Result<(), SetupError> {
    sys::join_new_session_keyring().map_err(|e| sys_err("join a new session keyring", None, e))
}

/// The seccomp filter: the spec's profile and the socket notifier
/// (`SandboxSpec::bind_notify`, `connect_notify`) in one program,
/// installed while this process still holds CAP_SYS_ADMIN in its user
/// namespace (so no no_new_privs is needed), after every step of its own
/// that could bind or connect or that the profile refuses (the keyring),
/// and before `init` forks so that the init and the command inherit it.
/// The listener goes to the parent and is closed here: neither the init
/// nor the command holds it.
///
/// The parent builds the program while this process mounts its root
/// (`seccomp_program`) and sends it; it is installed as it came.
fn seccomp(ctx: &ChildContext, spec: &SandboxSpec) -> Result<(), Stop> {
    let notify = notified(spec);
    let prebuilt = loop {
        if let Some(p) = ctx.seccomp.borrow_mut().take() {
            break p;
        }
        // Anything else now is out of turn.
        if recv_reply(ctx)?.is_some() {
            return Err(Stop::Orphaned);
        }
    };
    let program = prebuilt?.map(|p| super::seccomp::unpack(&p));
    if let Some(fd) = install_program(spec, notify, program)? {
        // The root emulation's listener carries sysinfo(2) too.
        let msg = if notify.ids || notify.sysinfo {
            ToParent::RootNotify
        } else {
            ToParent::SocketNotify
        };
        send(ctx, &msg, Some(fd.as_fd()))?;
    }
    Ok(())
}

/// What pid 1's filter sends to the supervisor. With root emulation too,
/// the one listener a filter has carries both: the supervisor hands the
/// root emulation's calls on from the network's loop
/// (`Running::take_socket_notify`). sysinfo(2) goes to the caller's
/// `HostSide::sysinfo` (the kernel answers without one).
pub(crate) fn notified(spec: &SandboxSpec) -> super::seccomp::Notified {
    super::seccomp::Notified {
        bind: spec.bind_notify,
        connect: spec.connect_notify,
        ids: spec.root_emulation,
        sysinfo: !spec.proc_view.is_empty(),
    }
}

/// The program pid 1 installs (`seccomp`), for the parent to build and
/// send while pid 1 sets itself up.
pub(crate) fn seccomp_program(spec: &SandboxSpec) -> Prebuilt {
    let program = build_program(spec, &target(spec, notified(spec)))?;
    Ok(program.map(|p| super::seccomp::pack(&p)))
}

/// Installs `spec.seccomp` with `notify` on this process; the listener
/// when there is one. A kernel without user notification (before 5.0)
/// gets the profile alone, and its binds and connects stay in the
/// container.
pub(crate) fn install_seccomp(
    spec: &SandboxSpec,
    notify: super::seccomp::Notified,
) -> Result<Option<OwnedFd>, SetupError> {
    let program = build_program(spec, &target(spec, notify))?;
    install_program(spec, notify, program)
}

fn target(spec: &SandboxSpec, notify: super::seccomp::Notified) -> super::seccomp::Target {
    super::seccomp::Target {
        caps: spec.capabilities,
        kernel: super::seccomp::running_kernel(),
        notify,
    }
}

/// `spec.seccomp`'s program for `target`; none when nothing is filtered.
fn build_program(
    spec: &SandboxSpec,
    target: &super::seccomp::Target,
) -> Result<Option<Vec<libc::sock_filter>>, SetupError> {
    use super::seccomp::{self, Profile, SeccompPolicy};
    let default;
    let profile = match &spec.seccomp {
        SeccompPolicy::Default => {
            default = Profile::docker_default();
            Some(&default)
        }
        SeccompPolicy::Unconfined => None,
        SeccompPolicy::Profile(p) => Some(p),
    };
    seccomp::program(profile, target).map_err(|e| SetupError {
        op: "build the seccomp filter".into(),
        path: None,
        errno: None,
        detail: Some(e.to_string()),
    })
}

/// Installs `program` (`build_program`'s for `notify`) on this process;
/// the listener when there is one. When the kernel refuses a listener
/// (before 5.0), the program without notification is built and installed.
fn install_program(
    spec: &SandboxSpec,
    notify: super::seccomp::Notified,
    program: Option<Vec<libc::sock_filter>>,
) -> Result<Option<OwnedFd>, SetupError> {
    use super::seccomp::{self, Notified};
    let Some(program) = program else {
        return Ok(None);
    };
    let listener = notify.any();
    match seccomp::install(&program, listener) {
        Ok(fd) => Ok(fd),
        Err(_) if listener => match build_program(spec, &target(spec, Notified::default()))? {
            None => Ok(None),
            Some(p) => seccomp::install(&p, false)
                .map_err(|e| sys_err("install the seccomp filter", None, e)),
        },
        Err(e) => Err(sys_err("install the seccomp filter", None, e)),
    }
}

/// The parent's next message: `None` when it was one the parent sends
/// unasked (`ToChild::NetReady`, `ToChild::Seccomp`), which is kept in
/// `ctx`; `Orphaned` when the parent is gone or unreadable.
fn recv_reply(ctx: &ChildContext) -> Result<Option<ToChild>, Stop> {
    match ctx.channel.recv::<ToChild>() {
        Ok(Some((ToChild::NetReady, _))) => {
            ctx.net_ready.set(true);
            Ok(None)
        }
        Ok(Some((ToChild::Seccomp(p), _))) => {
            *ctx.seccomp.borrow_mut() = Some(p);
            Ok(None)
        }
        Ok(Some((other, _))) => Ok(Some(other)),
        _ => Err(Stop::Orphaned),
    }
}

fn send(
    ctx: &ChildContext,
    msg: &ToParent,
    fd: Option<rustix::fd::BorrowedFd>,
) -> Result<(), Stop> {
    ctx.channel.send(msg, fd).map_err(|_| Stop::Orphaned)
}

/// What `MountOp::JoinedShm` clones: the mount the parent passed down, in
/// the mount namespace of the process whose namespaces are joined.
fn joined_shm<'a>(ctx: &'a ChildContext<'_>) -> Option<JoinedShm<'a>> {
    let (Some(pidfd), Some(mount), Some(join)) = (ctx.join, ctx.joined_shm, &ctx.spec.join) else {
        return None;
    };
    // SAFETY: fds the parent opened, which we inherited and which stay
    // open for as long as the context that names them.
    let (pidfd, mount) = unsafe { (BorrowedFd::borrow_raw(pidfd), BorrowedFd::borrow_raw(mount)) };
    Some(JoinedShm {
        pid: join.pid,
        pidfd,
        mount,
    })
}

/// Signal dispositions and mask as a fresh process has them: the caller's
/// handlers are gone after exec, but its ignored signals (SIGPIPE, which
/// Rust ignores) and its mask would be inherited by the command.
fn reset_signals() {
    // Only a signal ignored or caught here differs from the default:
    // /proc/self/status names them, one read instead of a sigaction for
    // each of the 62 (every one, when it cannot be read).
    let touched = touched_signals().unwrap_or(u64::MAX);
    // The kernel's struct sigaction, all zero: SIG_DFL, no flags, no mask.
    // Through the system call itself: glibc's signal() refuses the two
    // signals it reserves (32, 33), which a caller may still ignore.
    let default = [0u64; 4];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || touched & (1u64 << (sig - 1)) == 0 {
            continue;
        }
        // SAFETY: rt_sigaction reads a zeroed struct sigaction (at least
        // as large as the kernel's) and writes no old action (null); the
        // set size is the kernel's 64 signals.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                std::mem::size_of::<u64>(),
            )
        };
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

/// The signals this process ignores or catches (`SigIgn | SigCgt` of
/// /proc/self/status, bit `n - 1` for signal `n`).
fn touched_signals() -> Option<u64> {
    let status = sys::read_proc_file("/proc/self/status")?;
    let field = |name: &str| {
        let line = status.lines().find_map(|l| l.strip_prefix(name))?;
        u64::from_str_radix(line.trim(), 16).ok()
    };
    Some(field("SigIgn:")? | field("SigCgt:")?)
}

/// Become root of the user namespace. A single-id map we write
/// ourselves; a full one comes from the parent's newuidmap/newgidmap.
fn id_maps(ctx: &ChildContext) -> Result<(), Stop> {
    // A shared user namespace has its maps already.
    if ctx.spec.id_map.is_single() && ctx.spec.join.is_none() && !ctx.shared_userns {
        userns::write_own_single_map(&ctx.spec.id_map).map_err(|e| {
            Stop::Setup(SetupError {
                op: "write the single-id map".into(),
                path: None,
                errno: None,
                detail: Some(e.to_string()),
            })
        })?;
    }
    if !ctx.spec.child_waits(ctx.shared_userns, ctx.cgroup_at_birth) {
        return Ok(());
    }
    match ctx.channel.recv::<ToChild>() {
        Ok(Some((ToChild::MapsWritten, _))) => Ok(()),
        _ => Err(Stop::Orphaned),
    }
}

/// `--oom-score-adj`. The kernel lets an unprivileged process lower the
/// value only as far as a privileged one once set it: say so.
fn oom_score_adj(spec: &SandboxSpec) -> Result<(), SetupError> {
    let Some(adj) = spec.oom_score_adj else {
        return Ok(());
    };
    let file = Path::new("/proc/self/oom_score_adj");
    let now = std::fs::read_to_string(file).unwrap_or_default();
    std::fs::write(file, adj.to_string()).map_err(|e| SetupError {
        op: "set oom_score_adj in".into(),
        path: Some(file.into()),
        errno: e.raw_os_error(),
        detail: (e.kind() == std::io::ErrorKind::PermissionDenied).then(|| {
            format!(
                "{adj} is below what you may set (now {}); without privileges it can only be raised",
                now.trim()
            )
        }),
    })
}

/// `--sysctl`: written through the host's /proc, still mounted here,
/// whose /proc/sys shows the namespaces of the process that opens it: the
/// container's new network and IPC namespaces, which its root owns.
fn sysctls(spec: &SandboxSpec) -> Result<(), SetupError> {
    for (name, value) in &spec.sysctls {
        let path = PathBuf::from("/proc/sys").join(name.replace('.', "/"));
        std::fs::write(&path, value).map_err(|e| SetupError {
            op: format!("set the sysctl {name}={value} in"),
            path: Some(path.clone()),
            errno: e.raw_os_error(),
            detail: None,
        })?;
    }
    Ok(())
}

/// `--ulimit`: set last, before the command, so nothing of burrow's own
/// set-up runs under them. Raising a hard limit needs a privilege the
/// container never has; the caller checked it against its own.
pub(crate) fn rlimits(spec: &SandboxSpec) -> Result<(), SetupError> {
    for r in &spec.rlimits {
        r.apply().map_err(|e| SetupError {
            op: format!(
                "set the resource limit {}={}:{}",
                r.resource.name(),
                r.soft,
                r.hard
            ),
            path: None,
            errno: e.raw_os_error(),
            detail: None,
        })?;
    }
    Ok(())
}

/// The UTS, IPC and network namespaces (a network namespace
/// takes the kernel a while to make: better here, in parallel with the
/// parent's id-map helpers, than in clone), and loopback up.
fn new_namespaces(spec: &SandboxSpec) -> Result<(), SetupError> {
    use nix::sched::CloneFlags;
    let mut flags = CloneFlags::empty();
    for (on, flag) in [
        (spec.namespaces.uts, CloneFlags::CLONE_NEWUTS),
        (spec.namespaces.ipc, CloneFlags::CLONE_NEWIPC),
        (spec.namespaces.net, CloneFlags::CLONE_NEWNET),
    ] {
        if on {
            flags |= flag;
        }
    }
    if !flags.is_empty() {
        nix::sched::unshare(flags).map_err(|e| nix_err("create the namespaces", e))?;
    }
    if spec.namespaces.net {
        loopback_up().map_err(|e| sys_err("bring up the loopback interface", None, e))?;
    }
    Ok(())
}

/// Enters the shared network namespace, or does the child's part of
/// `SandboxSpec::net_setup` in the new one and hands the parent what it
/// makes the devices on.
fn network(ctx: &ChildContext) -> Result<(), Stop> {
    let spec = ctx.spec;
    if let (Some(pidfd), Some(join)) = (ctx.join, &spec.join) {
        for (on, kind, what) in [
            (
                join.net,
                libc::CLONE_NEWNET,
                "enter the network namespace to share",
            ),
            (
                join.ipc,
                libc::CLONE_NEWIPC,
                "enter the IPC namespace to share",
            ),
            (
                join.uts,
                libc::CLONE_NEWUTS,
                "enter the UTS namespace to share",
            ),
        ] {
            if !on {
                continue;
            }
            // SAFETY: the pidfd the parent opened, which we inherited and
            // which stays open for as long as this borrow.
            let pidfd = unsafe { BorrowedFd::borrow_raw(pidfd) };
            crate::setns::join(join.pid, pidfd, kind).map_err(|e| {
                Stop::from(SetupError {
                    op: what.into(),
                    path: None,
                    errno: Some(e.errno()),
                    detail: Some(e.to_string()),
                })
            })?;
        }
    }
    if let Some(setup) = &spec.net_setup {
        if setup.allow_ping {
            allow_ping();
        }
        // The device itself is made and configured by the parent, on these,
        // while this process mounts the root (`wait_for_network`).
        let tun = rustix::fs::open(
            "/dev/net/tun",
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NONBLOCK,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| sys_err("open", Some(Path::new("/dev/net/tun")), e))?;
        // SAFETY: plain socket(2); the fd is owned right below.
        let route = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if route < 0 {
            let e = Errno::from_raw_os_error(sys::last_errno());
            return Err(sys_err("open a route socket", None, e).into());
        }
        // SAFETY: a new fd nobody else owns.
        let route = unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(route) };
        send(ctx, &ToParent::NetTun, Some(tun.as_fd()))?;
        send(ctx, &ToParent::NetRoute, Some(route.as_fd()))?;
    }
    Ok(())
}

/// `net.ipv4.ping_group_range` over every gid mapped here, so that `ping`
/// works through ping sockets without CAP_NET_RAW. Best effort.
fn allow_ping() {
    let Ok(map) = std::fs::read_to_string("/proc/self/gid_map") else {
        return;
    };
    let top = map
        .lines()
        .filter_map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 3 && f[2] > 0).then(|| f[0] + f[2] - 1)
        })
        .max();
    if let Some(top) = top {
        let top = top.min(u32::MAX as u64 - 1);
        let _ = std::fs::write("/proc/sys/net/ipv4/ping_group_range", format!("0 {top}"));
    }
}

/// Waits for the parent's half of `SandboxSpec::net_setup`: the command
/// finds its network ready.
fn wait_for_network(ctx: &ChildContext) -> Result<(), Stop> {
    if ctx.spec.net_setup.is_none() {
        return Ok(());
    }
    while !ctx.net_ready.get() {
        if recv_reply(ctx)?.is_some() {
            return Err(Stop::Orphaned);
        }
    }
    Ok(())
}

/// The container's /proc view (`SandboxSpec::proc_view`): a FUSE
/// filesystem of this user namespace, made detached (read-only, nosuid,
/// nodev, noexec, `allow_other` for this namespace only, the kernel
/// checking the 0444 modes), its /dev/fuse fd handed to the parent, which
/// starts the server; then each of its files bound over its path, by fd
/// inside the new root. No usable /dev/fuse, or FUSE mounts refused: off,
/// and the parent hears why; the container then sees the host's files.
///
/// The files are cloned from the filesystem attached on the staging
/// tmpfs (dropped with it at pivot_root): kernels before 6.15 clone
/// nothing of a detached mount (EINVAL).
fn proc_view(
    ctx: &ChildContext,
    root: rustix::fd::BorrowedFd,
    staging: rustix::fd::BorrowedFd,
) -> Result<(), Stop> {
    let files = &ctx.spec.proc_view;
    if files.is_empty() {
        return Ok(());
    }
    let (fuse, mnt) = match fuse_mount() {
        Ok(m) => m,
        Err(e) => return send(ctx, &ToParent::ProcViewOff(e), None),
    };
    send(ctx, &ToParent::ProcView, Some(fuse.as_fd()))?;
    // Only the server holds the connection: if it ends, reads fail
    // (ENOTCONN) rather than wait.
    drop(fuse);
    loop {
        match recv_reply(ctx)? {
            None => {}
            Some(ToChild::ProcViewServed(true)) => break,
            // Nothing serves it: the detached mount goes with `mnt`.
            Some(ToChild::ProcViewServed(false)) => return Ok(()),
            Some(_) => return Err(Stop::Orphaned),
        }
    }
    let at = |e: Errno, what: &str| SetupError {
        op: "attach the /proc view's filesystem on the staging tmpfs".into(),
        path: None,
        errno: Some(e.raw_os_error()),
        detail: Some(what.into()),
    };
    rustix::fs::mkdirat(staging, "proc-view", rustix::fs::Mode::from_raw_mode(0o700))
        .map_err(|e| at(e, "making its directory"))?;
    let dir = rustix::fs::openat(
        staging,
        "proc-view",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| at(e, "opening its directory"))?;
    sys::attach(mnt.as_fd(), dir.as_fd()).map_err(|e| at(e, "attaching it"))?;
    for f in files {
        let fail = |e: Errno, what: &str| SetupError {
            op: format!("bind the /proc view's {} on", f.name),
            path: Some(f.dst.clone()),
            errno: Some(e.raw_os_error()),
            detail: Some(what.into()),
        };
        let tree =
            sys::clone_tree(mnt.as_fd(), Path::new(&f.name)).map_err(|e| fail(e, "cloning it"))?;
        let target = sys::open_in_root(root, &f.dst, rustix::fs::OFlags::PATH)
            .map_err(|e| fail(e, "opening the target"))?;
        sys::attach(tree.as_fd(), target.as_fd()).map_err(|e| fail(e, "attaching it"))?;
    }
    Ok(())
}

/// Opens /dev/fuse and makes a detached FUSE mount on it: the fd and the
/// mount.
fn fuse_mount() -> Result<(OwnedFd, OwnedFd), SetupError> {
    let dev = Path::new("/dev/fuse");
    let fuse = rustix::fs::open(
        dev,
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| sys_err("open", Some(dev), e))?;
    let attrs = rustix::mount::MountAttrFlags::MOUNT_ATTR_RDONLY
        | rustix::mount::MountAttrFlags::MOUNT_ATTR_NOSUID
        | rustix::mount::MountAttrFlags::MOUNT_ATTR_NODEV
        | rustix::mount::MountAttrFlags::MOUNT_ATTR_NOEXEC;
    let mnt = sys::new_fuse_fs(fuse.as_fd(), "burrow-proc", None, "40555", attrs).map_err(|e| {
        SetupError {
            op: "mount a FUSE filesystem".into(),
            path: None,
            errno: Some(e.errno.raw_os_error()),
            detail: e.log,
        }
    })?;
    Ok((fuse, mnt))
}

/// The cgroup namespace, once the parent has had its say, so that
/// a parent placing us in a cgroup first gets it as our cgroup root.
fn cgroup_namespace(spec: &SandboxSpec) -> Result<(), SetupError> {
    if spec.namespaces.cgroup {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| nix_err("create the cgroup namespace", e))?;
    }
    Ok(())
}

fn loopback_up() -> Result<(), Errno> {
    let last = || Errno::from_raw_os_error(sys::last_errno());
    // SAFETY: plain socket(2); the fd is owned right below.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(last());
    }
    // SAFETY: s is a new fd nobody else owns.
    let sock = unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(s) };
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the ioctls read and write the ifreq we pass.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(last());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(last());
        }
    }
    Ok(())
}

/// The container's terminal, from its own devpts; the master goes
/// to the parent.
fn terminal(ctx: &ChildContext, root: &OwnedFd) -> Result<Option<OwnedFd>, Stop> {
    if !ctx.spec.tty {
        return Ok(None);
    }
    let pty = tty::open_pty(root.as_fd(), ctx.winsize)?;
    // /dev/console is the container's terminal too, as in docker.
    let console = Path::new("/dev/console");
    let bind = |e: Errno| sys_err("bind the terminal on", Some(console), e);
    let target = sys::ensure_file(root.as_fd(), console).map_err(bind)?;
    let m = sys::clone_tree(pty.slave.as_fd(), Path::new("")).map_err(bind)?;
    sys::attach(m.as_fd(), target.as_fd()).map_err(bind)?;
    send(ctx, &ToParent::Pty, Some(pty.master.as_fd()))?;
    Ok(Some(pty.slave))
}

/// The user to become, resolved from the container's own files.
pub(crate) fn container_user(spec: &SandboxSpec) -> Result<ResolvedUser, SetupError> {
    let etc = Path::new("/etc");
    match &spec.user {
        User::Lookup {
            spec: s,
            extra_gids,
            extra_groups,
        } => {
            let failed = |e: super::UserError| SetupError {
                op: "resolve the user".into(),
                path: None,
                errno: None,
                detail: Some(e.to_string()),
            };
            let mut gids = extra_gids.clone();
            if !extra_groups.is_empty() {
                gids.extend(super::user::group_ids(etc, extra_groups).map_err(failed)?);
            }
            resolve_user(etc, s, &gids).map_err(failed)
        }
        User::Id {
            uid,
            gid,
            additional_gids,
        } => Ok(ResolvedUser {
            uid: *uid,
            gid: *gid,
            additional_gids: additional_gids.clone(),
            // Only HOME comes from passwd here, and only if it is there.
            home: resolve_user(etc, &uid.to_string(), &[])
                .map(|u| u.home)
                .unwrap_or_else(|_| "/".into()),
        }),
    }
}

pub(crate) fn stdin_from_null() -> Result<(), SetupError> {
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| sys_err("open", Some(Path::new("/dev/null")), e))?;
    // SAFETY: dup2 onto fd 0, which we mean to replace.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(sys_err(
            "redirect stdin from",
            Some(Path::new("/dev/null")),
            Errno::from_raw_os_error(sys::last_errno()),
        ));
    }
    Ok(())
}

/// `--init`: fork; the parent becomes the init and never
/// returns, the child (pid 2) goes on to exec the command.
fn start_init(ctx: &ChildContext) -> Result<(), SetupError> {
    let old = init::block_signals().map_err(|e| nix_err("block signals in the init", e))?;
    // Named before the fork: the command, once it runs, must see its init
    // as such in `ps` (the command's own exec renames it).
    // SAFETY: PR_SET_NAME takes a pointer to a NUL-terminated name.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"burrow-init".as_ptr(), 0, 0, 0) };
    // SAFETY: the sandbox's processes are single-threaded.
    match unsafe { sys::fork() }.map_err(|e| sys_err("fork the command from the init", None, e))? {
        None => {
            let _ = nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&old),
                None,
            );
            Ok(())
        }
        Some(command) => {
            // The init stays a burrow process for the container's life, in
            // its pid namespace: its /proc/1/exe is the burrow binary.
            sys::set_dumpable(false);
            // The init keeps nothing the parent or the terminal waits on:
            // the parent's EOF and the terminal's hangup follow the command.
            // Nor anything else it inherited past stdio: it never execs, so
            // close-on-exec would leave it the caller's fds (published
            // ports' host sockets, which a direct port must be the only
            // holder of and which the container's root could take from it).
            // The init uses no fd past stdio, and nothing else refers to
            // them here.
            crate::forked::close_fds(3, u32::MAX);
            let keep = ctx.spec.capabilities;
            let _ = caps::drop_bounding_set(keep);
            let _ = caps::set_process_caps(keep, 0);
            init::run(nix::unistd::Pid::from_raw(command))
        }
    }
}

/// Groups, gid, uid, then capabilities and no_new_privs. The
/// bounding set shrinks first, while we still hold CAP_SETPCAP.
pub(crate) fn credentials(spec: &SandboxSpec, user: &ResolvedUser) -> Result<(), SetupError> {
    caps::drop_bounding_set(spec.capabilities).map_err(|(cap, e)| SetupError {
        op: "drop from the bounding set capability".into(),
        path: None,
        errno: Some(e.raw_os_error()),
        detail: Some(format!("capability {cap}")),
    })?;
    // A single-id map denies setgroups: the host's groups stay, unmapped.
    if !spec.id_map.is_single() {
        let gids: Vec<nix::unistd::Gid> = user
            .additional_gids
            .iter()
            .map(|&g| nix::unistd::Gid::from_raw(g))
            .collect();
        nix::unistd::setgroups(&gids).map_err(|e| SetupError {
            detail: Some(format!("groups {:?}", user.additional_gids)),
            ..nix_err("set the supplementary groups", e)
        })?;
    }
    let gid = nix::unistd::Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(unmapped("gid", user.gid))?;
    let uid = nix::unistd::Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(unmapped("uid", user.uid))?;
    caps::set_process_caps(spec.capabilities, user.uid)
        .map_err(|e| sys_err("set the capabilities", None, e))?;
    if spec.no_new_privs {
        rustix::thread::set_no_new_privs(true).map_err(|e| sys_err("set no_new_privs", None, e))?;
    }
    Ok(())
}

fn unmapped(what: &'static str, id: u32) -> impl Fn(nix::Error) -> SetupError {
    move |e| SetupError {
        detail: Some(format!(
            "{what} {id}{}",
            if e == nix::Error::EINVAL {
                " is not mapped in the user namespace"
            } else {
                ""
            }
        )),
        ..nix_err(&format!("switch to {what}"), e)
    }
}

/// The command's environment: the spec's, plus docker's defaults for PATH,
/// HOME and (with a terminal) TERM when missing.
pub(crate) fn environment(spec: &SandboxSpec, user: &ResolvedUser) -> Vec<String> {
    let mut env = spec.env.clone();
    if env_value(&env, "PATH").is_none() {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if env_value(&env, "HOME").is_none() {
        env.push(format!("HOME={}", user.home));
    }
    if spec.tty && env_value(&env, "TERM").is_none() {
        env.push("TERM=xterm".into());
    }
    env
}

/// Hands a fuse-overlayfs root's connection to the parent, which starts
/// its daemon outside the container's pid namespace (`fuse_daemon`), and
/// waits for its word.
fn fuse_daemon_from_parent(
    ctx: &ChildContext,
    fuse: rustix::fd::BorrowedFd,
    options: &str,
) -> Result<(), SetupError> {
    let orphaned = || SetupError {
        op: "hand the fuse connection to the parent".into(),
        path: None,
        errno: None,
        detail: None,
    };
    send(ctx, &ToParent::FuseRoot(options.into()), Some(fuse)).map_err(|_| orphaned())?;
    loop {
        match recv_reply(ctx) {
            Ok(None) => {}
            Ok(Some(ToChild::FuseServed(served))) => return served,
            _ => return Err(orphaned()),
        }
    }
}
