//! The sandbox's input: plain data saying what to run and in what root.
//! It holds no file descriptors and does no I/O, so the container layer can
//! build it, store it, and print it in `inspect`.

use super::caps::CapSet;
use super::seccomp::SeccompPolicy;
use super::userns::IdMap;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// Everything the sandbox needs to start one process tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The user namespace's maps. A single-id map is written by the child
    /// itself; a larger one by newuidmap/newgidmap.
    pub id_map: IdMap,
    pub rootfs: Rootfs,
    /// Drivers tried in order for `Rootfs::Overlay`; the first that mounts
    /// wins and is reported in `Running::rootfs`.
    pub rootfs_drivers: Vec<RootfsDriver>,
    /// How the kernel overlay takes its layers on this kernel (see
    /// `probe::overlay_api`).
    #[serde(default)]
    pub overlay_api: OverlayApi,
    /// Mount the root read-only (mounts on top of it stay writable).
    pub read_only: bool,
    /// Extra mounts (volumes, tmpfs), applied in order after the standard
    /// ones (/proc, /sys, /dev, the /etc files).
    pub mounts: Vec<MountOp>,
    /// Host device nodes bound in (`--device`), after `mounts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceNode>,
    /// Host files bound over /etc/hostname, /etc/hosts, /etc/resolv.conf.
    pub etc: EtcFiles,
    /// The UTS name; `None` keeps the host's name in the new namespace.
    pub hostname: Option<String>,
    /// The UTS domain name; `None` keeps the host's in the new namespace.
    #[serde(default)]
    pub domainname: Option<String>,
    /// `KEY=VALUE` entries. PATH and HOME get docker's defaults when absent.
    pub env: Vec<String>,
    /// Working directory inside the root; created if missing.
    pub cwd: PathBuf,
    /// The command; `argv[0]` is looked up in the container's PATH, inside
    /// the new root.
    pub argv: Vec<String>,
    pub user: User,
    /// Capabilities kept (bounding, permitted and effective for root).
    pub capabilities: CapSet,
    pub no_new_privs: bool,
    /// Run a built-in init as pid 1 that reaps zombies and forwards
    /// signals; the command is then pid 2.
    pub init: bool,
    pub namespaces: Namespaces,
    /// Give the command a new pseudo-terminal (the master comes back to the
    /// parent); otherwise stdio is inherited.
    pub tty: bool,
    /// The new terminal's size (rows, columns) from the start: an attached
    /// client's window. None: the size of the terminal we run in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<(u16, u16)>,
    /// Keep stdin: without it the command's stdin is /dev/null and, with a
    /// tty, nothing is relayed into the terminal.
    pub stdin: bool,
    /// Paths hidden from the container: /dev/null over files, an empty
    /// read-only tmpfs over directories. Missing paths are skipped.
    pub masked_paths: Vec<PathBuf>,
    /// Paths bound read-only over themselves. Missing paths are skipped.
    pub readonly_paths: Vec<PathBuf>,
    /// Share another process's user and network namespaces instead of
    /// making them (`namespaces.net` must then be false).
    #[serde(default)]
    pub join: Option<JoinNamespaces>,
    /// The new network namespace's set-up (see `NetSetup`); the fd the
    /// caller's `HostSide::net` makes of it comes back in
    /// `Running::take_net_fd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_setup: Option<NetSetup>,
    /// A cgroup directory the parent moves the child into before the
    /// child goes on: nothing of the container runs outside it, and the
    /// cgroup namespace, made after, has it as its root.
    #[serde(default)]
    pub cgroup: Option<PathBuf>,
    /// cgroup v2 at /sys/fs/cgroup, as the cgroup namespace shows it: the
    /// container's own cgroup as the root (with its limits' files).
    #[serde(default)]
    pub cgroup_fs: CgroupFs,
    /// Written to the child's /proc/self/oom_score_adj before anything
    /// else; without privileges it can only be raised.
    #[serde(default)]
    pub oom_score_adj: Option<i32>,
    /// Enter the user namespace a holder process keeps for this map (one
    /// per user, see `holder`) instead of making one and running
    /// newuidmap/newgidmap for it. Used only with a full id map and no
    /// `join`; without a live holder one is started.
    #[serde(default)]
    pub shared_userns: Option<SharedUserns>,
    /// The writable layer is thrown away when the container ends (`--rm`),
    /// so nothing of it needs to reach the disk: kernel overlayfs may skip
    /// every sync of it (its `volatile` option), so that the end of the
    /// container does not wait for the storage filesystem to write out what
    /// is deleted next; fuse-overlayfs answers the container's fsyncs
    /// without syncing (its `volatile`, which is `fsync=0`).
    #[serde(default)]
    pub volatile_upper: bool,
    /// Send every bind(2) of the container's processes to the parent
    /// through a seccomp listener (`Running::take_socket_notify`), installed
    /// before `init` forks so that the init and the command inherit it;
    /// `exec`'d processes do not. For published ports bound straight on
    /// the host.
    #[serde(default)]
    pub bind_notify: bool,
    /// The same for connect(2) with an IPv4 or IPv6 address (one listener
    /// for both): for connections to the host's loopback made straight on
    /// the host.
    #[serde(default)]
    pub connect_notify: bool,
    /// Root emulation for a single-id map: chown, the set*id family,
    /// setgroups, capset within the bounding set and mknod of devices
    /// succeed, and the owners asked for are sent to the parent through
    /// a seccomp listener (`Running::take_root_notify`) to be recorded.
    /// It takes the one listener a process may have: the socket
    /// notifier is off with it (`bind_notify`, `connect_notify` ignored).
    #[serde(default)]
    pub root_emulation: bool,
    /// The seccomp profile of every process of the sandbox, `exec`'d ones
    /// included (combined with the socket notifier in one program).
    #[serde(default)]
    pub seccomp: SeccompPolicy,
    /// `--userns keep-id`: the caller's account, added to the container's
    /// /etc/passwd and /etc/group (with its home) when the image lacks it.
    #[serde(default)]
    pub account: Option<crate::sandbox::user::Account>,
    /// Resource limits (`--ulimit`), set with setrlimit just before the
    /// command (and `exec`'d ones) start.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// The size of the /dev/shm tmpfs (`--shm-size`); 64 MiB when `None`.
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// What is mounted on /dev/shm.
    #[serde(default)]
    pub dev_shm: DevShm,
    /// Sysctls of the container's own namespaces (`--sysctl`), written
    /// once its network and IPC namespaces exist: dotted names, checked
    /// by the caller to be namespaced.
    #[serde(default)]
    pub sysctls: Vec<(String, String)>,
    /// Hold the namespaces and run nothing: the set-up goes as far as the
    /// command's execve, then pid 1 closes every fd it has and waits for
    /// SIGTERM, SIGINT or SIGHUP to exit 0 (a pod's infra container; no
    /// program of the image runs).
    #[serde(default)]
    pub pause: bool,
    /// The container's own view of /proc files (lxcfs-style): entries of
    /// a FUSE filesystem that the child mounts in its user namespace and
    /// the caller's `HostSide::proc_view` serves, each bound read-only
    /// over its path. Empty: the container sees the host's files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proc_view: Vec<ProcViewFile>,
}

/// One resource limit, as setrlimit takes it. `u64::MAX` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    pub resource: RlimitResource,
    pub soft: u64,
    pub hard: u64,
}

/// The limits `--ulimit` names, by their names there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RlimitResource {
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl RlimitResource {
    pub const ALL: [RlimitResource; 15] = [
        RlimitResource::Core,
        RlimitResource::Cpu,
        RlimitResource::Data,
        RlimitResource::Fsize,
        RlimitResource::Locks,
        RlimitResource::Memlock,
        RlimitResource::Msgqueue,
        RlimitResource::Nice,
        RlimitResource::Nofile,
        RlimitResource::Nproc,
        RlimitResource::Rss,
        RlimitResource::Rtprio,
        RlimitResource::Rttime,
        RlimitResource::Sigpending,
        RlimitResource::Stack,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RlimitResource::Core => "core",
            RlimitResource::Cpu => "cpu",
            RlimitResource::Data => "data",
            RlimitResource::Fsize => "fsize",
            RlimitResource::Locks => "locks",
            RlimitResource::Memlock => "memlock",
            RlimitResource::Msgqueue => "msgqueue",
            RlimitResource::Nice => "nice",
            RlimitResource::Nofile => "nofile",
            RlimitResource::Nproc => "nproc",
            RlimitResource::Rss => "rss",
            RlimitResource::Rtprio => "rtprio",
            RlimitResource::Rttime => "rttime",
            RlimitResource::Sigpending => "sigpending",
            RlimitResource::Stack => "stack",
        }
    }

    /// The kernel's RLIMIT_* number.
    pub fn raw(self) -> libc::__rlimit_resource_t {
        match self {
            RlimitResource::Core => libc::RLIMIT_CORE,
            RlimitResource::Cpu => libc::RLIMIT_CPU,
            RlimitResource::Data => libc::RLIMIT_DATA,
            RlimitResource::Fsize => libc::RLIMIT_FSIZE,
            RlimitResource::Locks => libc::RLIMIT_LOCKS,
            RlimitResource::Memlock => libc::RLIMIT_MEMLOCK,
            RlimitResource::Msgqueue => libc::RLIMIT_MSGQUEUE,
            RlimitResource::Nice => libc::RLIMIT_NICE,
            RlimitResource::Nofile => libc::RLIMIT_NOFILE,
            RlimitResource::Nproc => libc::RLIMIT_NPROC,
            RlimitResource::Rss => libc::RLIMIT_RSS,
            RlimitResource::Rtprio => libc::RLIMIT_RTPRIO,
            RlimitResource::Rttime => libc::RLIMIT_RTTIME,
            RlimitResource::Sigpending => libc::RLIMIT_SIGPENDING,
            RlimitResource::Stack => libc::RLIMIT_STACK,
        }
    }

    /// This process's limit (soft, hard), `u64::MAX` for unlimited.
    pub fn current(self) -> Option<(u64, u64)> {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit into the struct we own.
        if unsafe { libc::getrlimit(self.raw(), &mut r) } != 0 {
            return None;
        }
        Some((r.rlim_cur, r.rlim_max))
    }
}

impl Rlimit {
    /// Sets it on this process.
    pub fn apply(&self) -> Result<(), std::io::Error> {
        let r = libc::rlimit {
            rlim_cur: self.soft,
            rlim_max: self.hard,
        };
        // SAFETY: setrlimit reads one rlimit from a struct we own.
        if unsafe { libc::setrlimit(self.resource.raw(), &r) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Where the holder of the shared user namespace keeps its record, and
/// how long it waits for the next container before it exits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedUserns {
    pub dir: PathBuf,
    pub keep_alive_secs: u64,
    /// A single-id map is held and shared too (it needs no helper, so
    /// otherwise each container makes its own namespace): for a container
    /// on the user's networks, whose veth ends are moved into the holder's
    /// network namespace, which only a process with rights in the
    /// holder's user namespace may do.
    #[serde(default)]
    pub single_map: bool,
}

impl SandboxSpec {
    /// Whether the container's pid 1 enters the held user namespace
    /// rather than making one.
    pub fn shares_userns(&self) -> bool {
        self.join.is_none()
            && self
                .shared_userns
                .as_ref()
                .is_some_and(|s| !self.id_map.is_single() || s.single_map)
    }
}

/// The process whose user and network namespaces are entered with setns.
///
/// The kernel lets a process enter a network namespace only with
/// CAP_SYS_ADMIN over the user namespace owning it, which a fresh sibling
/// user namespace never has: sharing a network means sharing its user
/// namespace too. The caller of `spawn` enters the user namespace itself
/// (it cannot leave it again); the child enters the network namespace.
/// Both go through one pidfd opened by the caller: /proc/PID/ns/* would
/// need ptrace access to the process, which a pid 1 that is not dumpable
/// (burrow's init) does not give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinNamespaces {
    /// Its pid in the caller's pid namespace.
    pub pid: i32,
    /// Its network namespace (`--network container:`, a pod's); without
    /// it only its user namespace and those named below are entered
    /// (`--ipc`, `--uts`, `--pid container:`), and the network is the
    /// container's own as `namespaces.net` says.
    #[serde(default = "yes")]
    pub net: bool,
    /// Its IPC namespace too (a pod's containers share SysV IPC and POSIX
    /// message queues).
    #[serde(default)]
    pub ipc: bool,
    /// Its UTS namespace too (a pod's one host name).
    #[serde(default)]
    pub uts: bool,
    /// Its pid namespace too: the new pid 1 is then not pid 1, but one
    /// more process beside the other's.
    #[serde(default)]
    pub pid_ns: bool,
}

fn yes() -> bool {
    true
}

/// The set-up of the new network namespace, as data. The child does its
/// own part (`allow_ping`), then opens `/dev/net/tun` and a route socket
/// in the namespace and hands both out; the parent makes the devices on
/// them with the caller's `HostSide::net` while the child mounts the root,
/// and the child goes on to execve only once that is done. The sandbox
/// knows nothing of which devices: the network's own code makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSetup {
    /// `net.ipv4.ping_group_range` over every gid mapped in the user
    /// namespace, so that ping works through ping sockets without
    /// CAP_NET_RAW. Best effort.
    pub allow_ping: bool,
}

/// The network's error, as the sandbox carries it without knowing it.
pub type NetSetupError = Box<dyn std::error::Error + Send + Sync>;

/// A file of the container's /proc view: the FUSE filesystem's entry
/// `name`, bound read-only over `dst` (a path inside the container that
/// must exist: /proc and /sys are mounted by then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcViewFile {
    pub name: String,
    pub dst: PathBuf,
}

/// Starts the server of the container's /proc view on the /dev/fuse fd of
/// the filesystem the child mounted, given an fd of the user namespace of
/// the container's pid 1 (which the server enters); what it returns keeps
/// the server running until dropped. A closure, so that the sandbox knows
/// nothing of what the files show.
#[derive(Clone)]
pub struct ProcViewServer(pub std::sync::Arc<dyn ServeProcView>);

/// What keeps a /proc view's server running: dropped, it is stopped.
pub type ProcViewHandle = Box<dyn std::any::Any>;

/// `ProcViewServer`'s closure: on the /dev/fuse connection and an fd of
/// the container's user namespace (its /proc/PID/ns/user).
pub trait ServeProcView:
    Fn(rustix::fd::OwnedFd, rustix::fd::BorrowedFd) -> Result<ProcViewHandle, NetSetupError>
    + Send
    + Sync
{
}

impl<F> ServeProcView for F where
    F: Fn(rustix::fd::OwnedFd, rustix::fd::BorrowedFd) -> Result<ProcViewHandle, NetSetupError>
        + Send
        + Sync
{
}

impl std::fmt::Debug for ProcViewServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcViewServer")
    }
}

/// Makes the server of the container's sysinfo(2) calls (a
/// `notify::Server` that answers `SYS_sysinfo` and lets the rest go on),
/// once the listener exists. A closure, as `ProcViewServer`.
#[derive(Clone)]
pub struct SysinfoServer(
    pub std::sync::Arc<dyn Fn() -> Box<dyn crate::notify::Server> + Send + Sync>,
);

impl std::fmt::Debug for SysinfoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SysinfoServer")
    }
}

/// Where the root filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rootfs {
    /// Image layers under a writable layer. `lower` lists the layers BASE
    /// FIRST, the order of an OCI manifest: the last entry is the top.
    /// `upper` and `work` are empty directories on one filesystem, owned
    /// by the container (`work` also holds burrow's copy-driver marker).
    Overlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
    },
    /// A ready directory, bound as it is (writes go to it).
    Dir(PathBuf),
}

/// How the root filesystem was (or may be) mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootfsDriver {
    /// The kernel's overlayfs, mounted inside the user namespace.
    KernelOverlay,
    /// `fuse-overlayfs`, found on PATH; its daemon runs in the container's
    /// user namespace, outside its pid and mount namespaces, and ends with
    /// it (`fuse_daemon`).
    FuseOverlayfs,
    /// The layers copied into the upper directory once, then bound.
    Copy,
    /// `Rootfs::Dir`, bound as it is.
    Bind,
}

impl RootfsDriver {
    pub fn name(self) -> &'static str {
        match self {
            RootfsDriver::KernelOverlay => "kernel-overlay",
            RootfsDriver::FuseOverlayfs => "fuse-overlayfs",
            RootfsDriver::Copy => "copy",
            RootfsDriver::Bind => "bind",
        }
    }

    /// The order burrow prefers: fast and cheap first.
    pub fn preferred() -> Vec<RootfsDriver> {
        vec![
            RootfsDriver::KernelOverlay,
            RootfsDriver::FuseOverlayfs,
            RootfsDriver::Copy,
        ]
    }
}

impl std::fmt::Display for RootfsDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the container sees cgroup v2 at /sys/fs/cgroup. Only where the
/// host's cgroups are v2 alone (a hybrid host's v2 tree holds no
/// controllers): cgroup2 mounted in the container's own cgroup namespace,
/// else (the host's namespace) a bind of its own cgroup, `cgroup`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CgroupFs {
    #[default]
    Absent,
    /// As docker mounts it for a container.
    ReadOnly,
    /// As docker mounts it for a `--privileged` one.
    ReadWrite,
}

/// How the kernel overlay is given its layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverlayApi {
    /// `fsopen` + `fsconfig` `lowerdir+` with one fd per layer (Linux
    /// 6.8+): no limit but the kernel's 500 layers.
    #[default]
    LowerdirPlus,
    /// `mount(2)` with an option string (Linux 5.11+ in a user namespace):
    /// layers named by their fds' numbers, relative to /proc/self/fd, so
    /// the one page the kernel takes holds the kernel's 500 layers.
    OptionString,
}

impl OverlayApi {
    pub fn name(self) -> &'static str {
        match self {
            OverlayApi::LowerdirPlus => "lowerdir-plus",
            OverlayApi::OptionString => "option-string",
        }
    }

    /// The way to say it to a user.
    pub fn describe(self) -> &'static str {
        match self {
            OverlayApi::LowerdirPlus => "layers passed by fd with fsconfig lowerdir+ (Linux 6.8+)",
            OverlayApi::OptionString => {
                "layers named in a mount(2) option string (Linux 5.11+; fsconfig lowerdir+ needs 6.8)"
            }
        }
    }
}

/// A name `OverlayApi::from_str` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown overlay api {0:?} (lowerdir-plus or option-string)")]
pub struct UnknownOverlayApi(pub String);

impl std::str::FromStr for OverlayApi {
    type Err = UnknownOverlayApi;
    fn from_str(s: &str) -> Result<Self, UnknownOverlayApi> {
        match s {
            "lowerdir-plus" => Ok(OverlayApi::LowerdirPlus),
            "option-string" => Ok(OverlayApi::OptionString),
            _ => Err(UnknownOverlayApi(s.to_string())),
        }
    }
}

/// Host files the container sees at the fixed /etc paths; `None` leaves
/// the image's file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcFiles {
    pub hostname: Option<PathBuf>,
    pub hosts: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
}

impl EtcFiles {
    /// The names under /etc that get a file bound over them.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (&self.hostname, "hostname"),
            (&self.hosts, "hosts"),
            (&self.resolv_conf, "resolv.conf"),
        ]
        .into_iter()
        .filter_map(|(f, name)| f.as_ref().map(|_| name))
        .collect()
    }
}

/// Who the command runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum User {
    /// Already resolved by the caller.
    Id {
        uid: u32,
        gid: u32,
        additional_gids: Vec<u32>,
    },
    /// `name`, `uid`, `uid:gid`, `name:group`..., resolved from the
    /// image's /etc/passwd and /etc/group inside the new root, after
    /// pivot_root (see `resolve_user`). `extra_gids` are added to the
    /// supplementary groups (`--group-add`).
    Lookup {
        spec: String,
        extra_gids: Vec<u32>,
        /// `--group-add NAME`: groups looked up by name in the image's
        /// /etc/group, added after `extra_gids`.
        #[serde(default)]
        extra_groups: Vec<String>,
    },
}

/// What the container's /dev/shm is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DevShm {
    /// A tmpfs of its own (`shm_size`).
    #[default]
    Own,
    /// Nothing (`--ipc none`).
    Absent,
    /// The host's /dev/shm, bound (`--ipc host`, whose POSIX shared
    /// memory is there).
    Host,
    /// A tmpfs of its own (`shm_size`) that the containers joining its
    /// IPC namespace share (`--ipc shareable`): its mount is handed to
    /// the parent (`Running::dev_shm`), which serves it to them.
    Shareable,
    /// The /dev/shm of the container whose IPC namespace is joined
    /// (`join.ipc`, `--ipc container:NAME`): the very mount its parent
    /// holds (`HostSide::joined_shm`), cloned, never a path resolved in
    /// it. Handed on to the parent as `Shareable`'s, for the containers
    /// that join this one in turn.
    Joined,
}

impl DevShm {
    /// Whether the mount is handed to the parent for others to share.
    pub fn shared(self) -> bool {
        matches!(self, DevShm::Shareable | DevShm::Joined)
    }
}

/// The namespaces besides user, mount and pid, which are always new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    pub uts: bool,
    pub ipc: bool,
    /// A new network namespace with only loopback, brought up.
    pub net: bool,
    pub cgroup: bool,
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces {
            uts: true,
            ipc: true,
            net: true,
            cgroup: true,
        }
    }
}

/// The /proc and /sys paths docker masks.
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// The /proc paths docker makes read-only.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// PATH when the environment has none (docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl SandboxSpec {
    /// A spec with docker's defaults: root in the container, docker's
    /// capabilities, all namespaces, masked paths, stdin kept, no tty.
    pub fn new(id_map: IdMap, rootfs: Rootfs, argv: Vec<String>) -> SandboxSpec {
        SandboxSpec {
            id_map,
            rootfs,
            rootfs_drivers: RootfsDriver::preferred(),
            overlay_api: OverlayApi::default(),
            read_only: false,
            mounts: Vec::new(),
            etc: EtcFiles::default(),
            hostname: None,
            domainname: None,
            env: vec![format!("PATH={DEFAULT_PATH}")],
            cwd: PathBuf::from("/"),
            argv,
            // As docker without `-u`: root, with root's groups from the
            // image's /etc/group.
            user: User::Lookup {
                spec: "0".into(),
                extra_gids: Vec::new(),
                extra_groups: Vec::new(),
            },
            capabilities: CapSet::docker_default(),
            no_new_privs: false,
            init: false,
            namespaces: Namespaces::default(),
            tty: false,
            window: None,
            stdin: true,
            masked_paths: DEFAULT_MASKED_PATHS.iter().map(PathBuf::from).collect(),
            readonly_paths: DEFAULT_READONLY_PATHS.iter().map(PathBuf::from).collect(),
            join: None,
            net_setup: None,
            cgroup: None,
            cgroup_fs: CgroupFs::default(),
            oom_score_adj: None,
            shared_userns: None,
            volatile_upper: false,
            bind_notify: false,
            connect_notify: false,
            root_emulation: false,
            seccomp: SeccompPolicy::Default,
            account: None,
            devices: Vec::new(),
            rlimits: Vec::new(),
            shm_size: None,
            dev_shm: DevShm::Own,
            sysctls: Vec::new(),
            pause: false,
            proc_view: Vec::new(),
        }
    }

    /// Whether the child waits for the parent before its cgroup
    /// namespace: for the id maps (none to write in a shared user
    /// namespace), or to be put in its cgroup (unless it was born there).
    pub(crate) fn child_waits(&self, shared_userns: bool, cgroup_at_birth: bool) -> bool {
        (!self.id_map.is_single() && !shared_userns) || (self.cgroup.is_some() && !cgroup_at_birth)
    }

    /// Checks what the child would otherwise trip over half-way.
    pub fn validate(&self) -> Result<(), InvalidSpec> {
        let bad = |field: &str, reason: String| {
            Err(InvalidSpec {
                field: field.into(),
                reason,
            })
        };
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return bad("argv", "no command given".into());
        }
        if let Some(a) = self.argv.iter().find(|a| a.contains('\0')) {
            return bad("argv", format!("{a:?} contains a NUL byte"));
        }
        if let Some(e) = self
            .env
            .iter()
            .find(|e| !e.contains('=') || e.contains('\0'))
        {
            return bad("env", format!("{e:?} is not KEY=VALUE"));
        }
        check_container_path("cwd", &self.cwd)?;
        for (field, what, name) in [
            ("hostname", "a host name", &self.hostname),
            ("domainname", "a domain name", &self.domainname),
        ] {
            let Some(name) = name else { continue };
            if !self.namespaces.uts {
                return bad(field, format!("{what} needs a UTS namespace"));
            }
            check_hostname(name).map_err(|e| InvalidSpec {
                field: field.into(),
                reason: e.to_string(),
            })?;
        }
        if self.dev_shm == DevShm::Joined && !self.join.as_ref().is_some_and(|j| j.ipc) {
            return bad(
                "dev_shm",
                "the /dev/shm of a joined container needs its IPC namespace joined".into(),
            );
        }
        if let Some(j) = &self.join {
            if (j.ipc && self.namespaces.ipc) || (j.uts && self.namespaces.uts) {
                return bad(
                    "join",
                    "a shared IPC or UTS namespace cannot also be a new one".into(),
                );
            }
        }
        if self.join.as_ref().is_some_and(|j| j.net)
            && (self.namespaces.net || self.net_setup.is_some())
        {
            return bad(
                "join",
                "a shared network namespace cannot also be a new one".into(),
            );
        }
        if self.net_setup.is_some() && !self.namespaces.net {
            return bad(
                "net_setup",
                "network set-up needs a new network namespace".into(),
            );
        }
        if self.rootfs_drivers.is_empty() {
            return bad("rootfs_drivers", "no driver allowed".into());
        }
        if let Rootfs::Overlay { lower, .. } = &self.rootfs {
            if lower.is_empty() {
                return bad("rootfs", "an overlay needs at least one lower layer".into());
            }
            // fuse-overlayfs takes layers as one `:`-separated option.
            if let Some(p) = lower
                .iter()
                .find(|p| p.to_string_lossy().contains([':', ',']))
            {
                return bad(
                    "rootfs",
                    format!("layer path {} contains ':' or ','", p.display()),
                );
            }
        }
        let mut targets = std::collections::HashSet::new();
        for m in &self.mounts {
            let dst = m.destination();
            check_container_path("mounts", dst)?;
            // A mount on the root would be put under the root it covers;
            // one on /dev would hide the devices the container and its
            // set-up need (docker then leaves /dev without them).
            if dst == Path::new("/") {
                return bad("mounts", "a volume cannot be mounted on / (the container's root filesystem); mount it on a directory below it".into());
            }
            if dst == Path::new("/dev") {
                return bad("mounts", "a volume cannot be mounted on /dev: it would hide /dev/null, /dev/pts and the other devices every container needs; mount it below, as on /dev/NAME".into());
            }
            // Path equality compares components: /a and /a/ are one target.
            if !targets.insert(dst) {
                return bad(
                    "mounts",
                    format!(
                        "{} is mounted twice; give each volume a target of its own",
                        dst.components().collect::<PathBuf>().display()
                    ),
                );
            }
        }
        for d in &self.devices {
            check_container_path("devices", &d.dst)?;
            if d.dst == Path::new("/") || d.dst == Path::new("/dev") {
                return bad(
                    "devices",
                    format!(
                        "a device node cannot be bound on {}: it is a directory the container \
                         needs; give the device a path below it",
                        d.dst.display()
                    ),
                );
            }
        }
        for p in self.masked_paths.iter().chain(&self.readonly_paths) {
            check_container_path("masked/readonly paths", p)?;
        }
        Ok(())
    }
}

/// A name the kernel or RFC 1123 would not take as a host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a valid host name: use at most 64 letters, digits, '-' and '_' in \
     dot-separated labels that do not start or end with '-'"
)]
pub struct BadHostname(pub String);

/// Why `name` cannot be a host name, if it cannot: dot-separated labels
/// of letters, digits and '-' (RFC 1123), none empty or longer than 63
/// bytes nor starting or ending with '-', at most 64 bytes in all (the
/// kernel's limit). '_' is allowed in a label, as docker allows it since
/// refusing it broke its users.
pub fn check_hostname(name: &str) -> Result<(), BadHostname> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.len() <= 64 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(BadHostname(name.to_string()))
    }
}

/// A container path must be absolute and must not climb with `..`: it is
/// resolved inside the new root, and `..` would only hide intent.
fn check_container_path(field: &str, p: &Path) -> Result<(), InvalidSpec> {
    let ok = p.is_absolute()
        && !p.components().any(|c| matches!(c, Component::ParentDir))
        && !p.as_os_str().as_encoded_bytes().contains(&0);
    if ok {
        Ok(())
    } else {
        Err(InvalidSpec {
            field: field.into(),
            reason: format!(
                "{} must be an absolute path without `..` inside the container",
                p.display()
            ),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sandbox spec ({field}): {reason}")]
pub struct InvalidSpec {
    pub field: String,
    pub reason: String,
}

/// A host device node (`--device`): where it is on the host (followed at
/// each start when a link) and where it appears in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNode {
    pub src: PathBuf,
    pub dst: PathBuf,
    /// Bound read-only (`--device ...:r`).
    pub read_only: bool,
}

/// One step of building the container's file tree. Destinations are
/// paths inside the container; `src` paths are on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MountOp {
    /// A procfs of the new pid namespace.
    Proc {
        dst: PathBuf,
    },
    /// Read-only sysfs of the new network namespace; without one (the
    /// kernel refuses), a read-only recursive bind of the host's /sys.
    Sysfs {
        dst: PathBuf,
    },
    /// cgroup v2 of the container's cgroup namespace: its own cgroup is
    /// the root.
    Cgroup2 {
        dst: PathBuf,
        read_only: bool,
    },
    Tmpfs {
        dst: PathBuf,
        /// Bytes; `None` is the kernel's default (half of RAM).
        size: Option<u64>,
        mode: Option<u32>,
        /// The owner of its root (the tmpfs `uid=`/`gid=` options), ids
        /// of the container's user namespace.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gid: Option<u32>,
        read_only: bool,
        nosuid: bool,
        nodev: bool,
        noexec: bool,
    },
    /// A new devpts instance; `gid` owns new terminals (tty, 5) when
    /// that group is mapped.
    DevPts {
        dst: PathBuf,
        gid: Option<u32>,
    },
    Mqueue {
        dst: PathBuf,
    },
    /// A recursive bind of a host file or directory (which must exist);
    /// the destination is made to match.
    Bind {
        src: PathBuf,
        dst: PathBuf,
        read_only: bool,
        /// `src` is a real path (a volume's, see `real_bind_source`):
        /// opened without following any symbolic link, so that one swapped
        /// in after the check fails the mount instead of redirecting it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        real: bool,
    },
    /// A host device node bound on `dst` (made as a file inside the
    /// root): `src` is followed when it is a link, and what it opens must
    /// be a character or block device, checked on the open node itself.
    Device {
        src: PathBuf,
        dst: PathBuf,
        read_only: bool,
    },
    /// A volume's directory bound like `Bind` with `real` (its path is
    /// opened without following any link). With `copy_up`, an empty
    /// volume first gets a copy of what the root holds at `dst` (owners,
    /// modes, times, xattrs, links), as docker fills a new volume.
    Volume {
        src: PathBuf,
        dst: PathBuf,
        read_only: bool,
        copy_up: bool,
    },
    Symlink {
        target: PathBuf,
        dst: PathBuf,
    },
    Dir {
        dst: PathBuf,
    },
    /// /dev/null over a file, an empty read-only tmpfs over a directory;
    /// nothing when missing.
    Mask {
        dst: PathBuf,
    },
    /// The path bound read-only over itself; nothing when missing.
    ReadOnly {
        dst: PathBuf,
    },
    /// The root mount (not the mounts on it) made read-only. Last, since
    /// mount points are made in the root before.
    RootReadOnly,
    /// `DevShm::Shareable`'s /dev/shm: a tmpfs of `size` bytes (mode
    /// 1777, nosuid, nodev, noexec) whose mount is handed to the parent.
    ShareableShm {
        dst: PathBuf,
        size: u64,
    },
    /// `DevShm::Joined`'s /dev/shm: the joined container's mount, cloned
    /// (see `mounts::JoinedShm`), and handed to the parent in turn.
    JoinedShm {
        dst: PathBuf,
    },
}

impl MountOp {
    pub fn destination(&self) -> &Path {
        match self {
            MountOp::Proc { dst }
            | MountOp::Sysfs { dst }
            | MountOp::Cgroup2 { dst, .. }
            | MountOp::Tmpfs { dst, .. }
            | MountOp::DevPts { dst, .. }
            | MountOp::Mqueue { dst }
            | MountOp::Bind { dst, .. }
            | MountOp::Device { dst, .. }
            | MountOp::Volume { dst, .. }
            | MountOp::Symlink { dst, .. }
            | MountOp::Dir { dst }
            | MountOp::Mask { dst }
            | MountOp::ReadOnly { dst }
            | MountOp::ShareableShm { dst, .. }
            | MountOp::JoinedShm { dst } => dst,
            MountOp::RootReadOnly => Path::new("/"),
        }
    }

    /// What the operation does, in words for an error: "cannot {it}".
    pub fn describe(&self) -> String {
        match self {
            MountOp::Proc { .. } => "mount proc on".into(),
            MountOp::Sysfs { .. } => "mount sysfs on".into(),
            MountOp::Cgroup2 { .. } => "mount cgroup2 on".into(),
            MountOp::Tmpfs { .. } | MountOp::ShareableShm { .. } => "mount tmpfs on".into(),
            MountOp::JoinedShm { .. } => "mount the joined container's /dev/shm on".into(),
            MountOp::DevPts { .. } => "mount devpts on".into(),
            MountOp::Mqueue { .. } => "mount mqueue on".into(),
            MountOp::Bind { src, .. } => format!("bind-mount {} on", src.display()),
            MountOp::Device { src, .. } => format!("bind the device {} on", src.display()),
            MountOp::Volume { src, .. } => format!("mount the volume {} on", src.display()),
            MountOp::Symlink { target, .. } => format!("make a symlink to {} at", target.display()),
            MountOp::Dir { .. } => "make directory".into(),
            MountOp::Mask { .. } => "mask".into(),
            MountOp::ReadOnly { .. } => "make read-only".into(),
            MountOp::RootReadOnly => "make read-only the root".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandboxSpec {
        SandboxSpec::new(
            IdMap::single(1000, 1000),
            Rootfs::Dir("/tmp/root".into()),
            vec!["true".into()],
        )
    }

    #[test]
    fn a_joined_dev_shm_needs_the_ipc_namespace_joined() {
        let mut s = spec();
        s.dev_shm = DevShm::Joined;
        let e = s.validate().unwrap_err();
        assert_eq!(e.field, "dev_shm", "{e}");
        s.namespaces.ipc = false;
        s.join = Some(JoinNamespaces {
            pid: 42,
            net: false,
            ipc: true,
            uts: false,
            pid_ns: false,
        });
        assert!(s.validate().is_ok());
    }

    #[test]
    fn default_spec_is_valid_and_round_trips_through_json() {
        let s = spec();
        s.validate().unwrap();
        let text = serde_json::to_string(&s).unwrap();
        let back: SandboxSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert!(text.contains("\"kernel-overlay\""), "{text}");
    }

    /// The spec is data through and through: what the network and the
    /// /proc view need crosses a save and a load whole (a detached
    /// supervisor runs a spec it loaded).
    #[test]
    fn a_spec_with_a_network_and_a_proc_view_round_trips_whole() {
        let mut s = spec();
        s.net_setup = Some(NetSetup { allow_ping: true });
        s.proc_view = vec![ProcViewFile {
            name: "meminfo".into(),
            dst: "/proc/meminfo".into(),
        }];
        s.validate().unwrap();
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            text.contains(r#""net_setup":{"allow_ping":true}"#),
            "{text}"
        );
        let back: SandboxSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn host_names_follow_rfc_1123_labels_with_underscores() {
        for ok in [
            "a",
            "web_1",
            "a-b.example.org",
            "0123456789ab",
            &"x".repeat(63),
        ] {
            assert_eq!(check_hostname(ok), Ok(()), "{ok}");
        }
        let long = format!("{}.{}", "a".repeat(40), "b".repeat(30));
        for bad in [
            "", "bad host", "-a", "a-", "a..b", ".a", "a/b", "a\0", &long,
        ] {
            assert_eq!(check_hostname(bad), Err(BadHostname(bad.to_string())));
        }
    }

    #[test]
    fn relative_or_climbing_container_paths_are_rejected() {
        let mut s = spec();
        s.cwd = "work".into();
        assert_eq!(s.validate().unwrap_err().field, "cwd");
        let mut s = spec();
        s.mounts.push(MountOp::Tmpfs {
            dst: "/a/../../etc".into(),
            size: None,
            mode: None,
            uid: None,
            gid: None,
            read_only: false,
            nosuid: true,
            nodev: true,
            noexec: true,
        });
        assert_eq!(s.validate().unwrap_err().field, "mounts");
    }

    #[test]
    fn empty_command_and_bad_env_are_rejected() {
        let mut s = spec();
        s.argv.clear();
        assert_eq!(s.validate().unwrap_err().field, "argv");
        let mut s = spec();
        s.env.push("NOEQUALS".into());
        assert_eq!(s.validate().unwrap_err().field, "env");
    }
}
