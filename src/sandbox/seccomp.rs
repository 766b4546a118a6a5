//! The container's seccomp filter: one BPF program per container process
//! tree that applies a profile (docker's default refusals, a docker JSON
//! profile, or none) and sends the bind(2) and connect(2) calls the network
//! asked for to the supervisor (SECCOMP_RET_USER_NOTIF), or, for a
//! single-id map, the calls root emulation answers (`rootemu`). It owns the
//! filter only: what becomes of a notified call is the network's or the
//! emulation's business, and a notified call with nobody listening fails
//! with ENOSYS.
//!
//! The program is generated here rather than by a crate: seccompiler (the
//! pure-Rust generator of rust-vmm) has neither a user-notification action
//! nor more than one action per filter, and both are needed in one program;
//! libseccomp is a C library. The generator is small: a list of blocks, one
//! per (call, rule), tried in the profile's order, each a handful of
//! comparisons, and its output is checked by the interpreter in the tests.
//! System call numbers come from the `syscalls` crate's tables.

use super::caps::{cap_number, CapSet};
use rustix::fd::{FromRawFd, OwnedFd};
use serde::{Deserialize, Serialize};

/// What the kernel does with a call a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    /// Fails the call with this errno.
    Errno(u32),
    KillThread,
    KillProcess,
    /// SIGSYS to the caller.
    Trap,
    /// Allowed, and logged by the kernel.
    Log,
    /// To a ptrace tracer; without one the call fails with ENOSYS.
    Trace(u32),
}

impl Action {
    fn ret(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | (e & libc::SECCOMP_RET_DATA),
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Trace(d) => libc::SECCOMP_RET_TRACE | (d & libc::SECCOMP_RET_DATA),
        }
    }
}

/// A comparison of one argument (64 bits), as docker's profiles write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Ge,
    Gt,
    /// `(arg & value) == value_two`.
    MaskedEq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgCheck {
    pub index: u8,
    pub op: Op,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
}

/// When a rule applies: docker's `includes` (every condition holds) and
/// `excludes` (none does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Capability numbers: includes wants all of them, excludes any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<u8>,
    /// docker's architecture names (`amd64`, `x86`, `arm64`, `arm`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// A kernel at least this (major, minor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<(u32, u32)>,
}

impl Condition {
    fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// One entry of a profile: these calls, when the arguments match, get
/// `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCheck>,
    #[serde(default, skip_serializing_if = "Condition::is_empty")]
    pub includes: Condition,
    #[serde(default, skip_serializing_if = "Condition::is_empty")]
    pub excludes: Condition,
}

/// A seccomp profile: the first rule that matches a call decides, else
/// `default_action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub default_action: Action,
    pub rules: Vec<Rule>,
}

/// Which filter a container's processes run under.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompPolicy {
    /// `Profile::docker_default()`, built for the container's capabilities.
    #[default]
    Default,
    /// No profile (`--security-opt seccomp=unconfined`, `--privileged`):
    /// only the socket notifier, if the network asks for one.
    Unconfined,
    /// A profile of the user's (`--security-opt seccomp=FILE.json`).
    Profile(Profile),
}

/// Why a docker JSON profile was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("not a seccomp profile: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown seccomp action {0:?}")]
    Action(String),
    #[error("unknown seccomp comparison {0:?} (SCMP_CMP_EQ, _NE, _LT, _LE, _GE, _GT, _MASKED_EQ)")]
    Op(String),
    #[error("seccomp argument index {0} is out of range (0-5)")]
    ArgIndex(u32),
    #[error("{0:?}: burrow keeps user notification for itself")]
    Notify(String),
    #[error("unknown capability {0:?} in a seccomp rule")]
    Cap(String),
    #[error("kernel version {0:?} is not MAJOR.MINOR")]
    Kernel(String),
    #[error("the profile has no rule for this machine's architecture {0}")]
    Arch(&'static str),
}

/// Why no program could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("the seccomp program is too long ({0} instructions; the kernel takes 4096)")]
    TooLong(usize),
    #[error("a jump of {0} instructions in the seccomp program (at most 255)")]
    Jump(usize),
}

/// One system-call ABI of this machine: its `AUDIT_ARCH_*` (linux/audit.h,
/// which libc does not define), the names docker's profiles give it, and
/// its table of call numbers.
struct Abi {
    audit: u32,
    names: &'static [&'static str],
    number: fn(&str) -> Option<u32>,
    /// The ABI burrow itself runs in: the only one notified.
    native: bool,
}

#[cfg(target_arch = "x86_64")]
mod abis {
    pub(super) fn x86_64(name: &str) -> Option<u32> {
        syscalls::x86_64::Sysno::from_str(name)
            .ok()
            .map(|s| s.id() as u32)
    }
    pub(super) fn i386(name: &str) -> Option<u32> {
        syscalls::x86::Sysno::from_str(name)
            .ok()
            .map(|s| s.id() as u32)
    }
    use std::str::FromStr;
}

#[cfg(target_arch = "aarch64")]
mod abis {
    pub(super) fn aarch64(name: &str) -> Option<u32> {
        syscalls::aarch64::Sysno::from_str(name)
            .ok()
            .map(|s| s.id() as u32)
    }
    pub(super) fn arm(name: &str) -> Option<u32> {
        syscalls::arm::Sysno::from_str(name)
            .ok()
            .map(|s| s.id() as u32)
    }
    use std::str::FromStr;
}

/// The native ABI first. On x86_64 the i386 ABI (int 0x80) is filtered
/// with its own numbers; x32 calls (the native arch with bit 30 in the
/// number) are refused outright. Other architectures get no filter.
#[cfg(target_arch = "x86_64")]
const ABIS: &[Abi] = &[
    Abi {
        audit: 0xc000_003e,
        names: &["amd64", "x86_64", "SCMP_ARCH_X86_64"],
        number: abis::x86_64,
        native: true,
    },
    Abi {
        audit: 0x4000_0003,
        names: &["x86", "386", "i386", "SCMP_ARCH_X86"],
        number: abis::i386,
        native: false,
    },
];
#[cfg(target_arch = "aarch64")]
const ABIS: &[Abi] = &[
    Abi {
        audit: 0xc000_00b7,
        names: &["arm64", "aarch64", "SCMP_ARCH_AARCH64"],
        number: abis::aarch64,
        native: true,
    },
    Abi {
        audit: 0x4000_0028,
        names: &["arm", "SCMP_ARCH_ARM"],
        number: abis::arm,
        native: false,
    },
];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ABIS: &[Abi] = &[];

/// The x32 ABI's bit in a call number on x86_64.
const X32_BIT: u32 = 0x4000_0000;

/// The namespace flags of clone(2) (CLONE_NEWNS and CLONE_NEWCGROUP to
/// CLONE_NEWNET); unshare(2) also takes CLONE_NEWTIME (0x80), which is
/// clone's exit-signal byte.
const CLONE_NAMESPACES: u64 = 0x7e02_0000;
const UNSHARE_NAMESPACES: u64 = CLONE_NAMESPACES | 0x80;

impl Profile {
    /// docker's default refusals, as a profile that allows the rest: each
    /// call below fails with EPERM unless the container holds the
    /// capability that docker's profile lets it through with. clone3
    /// fails with ENOSYS (its flags are behind a pointer, which a filter
    /// cannot read; C libraries then fall back to clone, whose flags it
    /// can). Namespaces (and with them the mount calls) take CAP_SYS_ADMIN.
    pub fn docker_default() -> Profile {
        let eperm = Action::Errno(libc::EPERM as u32);
        let cap = |name: &str| cap_number(name).expect("a capability burrow knows");
        let refuse = |names: &[&str], unless: &[&str]| Rule {
            names: names.iter().map(|n| n.to_string()).collect(),
            action: eperm,
            args: Vec::new(),
            includes: Condition::default(),
            excludes: Condition {
                caps: unless.iter().map(|c| cap(c)).collect(),
                ..Condition::default()
            },
        };
        let namespaces_allowed = |name: &str, mask: u64| Rule {
            names: vec![name.into()],
            action: Action::Allow,
            args: vec![ArgCheck {
                index: 0,
                op: Op::MaskedEq,
                value: mask,
                value_two: 0,
            }],
            includes: Condition::default(),
            excludes: Condition {
                caps: vec![cap("SYS_ADMIN")],
                ..Condition::default()
            },
        };
        let mut clone3 = refuse(&["clone3"], &["SYS_ADMIN"]);
        clone3.action = Action::Errno(libc::ENOSYS as u32);
        let mut ptrace = refuse(&["ptrace"], &["SYS_PTRACE"]);
        // Before 4.8 a tracer could step around seccomp.
        ptrace.excludes.min_kernel = Some((4, 8));
        Profile {
            default_action: Action::Allow,
            rules: vec![
                // Kernel keyrings are not namespaced.
                refuse(&["keyctl", "add_key", "request_key"], &[]),
                refuse(&["userfaultfd"], &[]),
                refuse(
                    &[
                        "acct",
                        "lookup_dcookie",
                        "nfsservctl",
                        "uselib",
                        "_sysctl",
                        "sysfs",
                        "ustat",
                        "vm86",
                        "vm86old",
                        "create_module",
                        "get_kernel_syms",
                        "query_module",
                    ],
                    &[],
                ),
                refuse(&["bpf", "perf_event_open", "fanotify_init"], &["SYS_ADMIN"]),
                refuse(&["kexec_load", "kexec_file_load", "reboot"], &["SYS_BOOT"]),
                refuse(
                    &["init_module", "finit_module", "delete_module"],
                    &["SYS_MODULE"],
                ),
                refuse(
                    &[
                        "clock_settime",
                        "clock_settime64",
                        "settimeofday",
                        "stime",
                        "adjtimex",
                        "clock_adjtime",
                        "clock_adjtime64",
                    ],
                    &["SYS_TIME"],
                ),
                refuse(&["open_by_handle_at"], &["DAC_READ_SEARCH"]),
                refuse(&["iopl", "ioperm"], &["SYS_RAWIO"]),
                refuse(&["syslog"], &["SYSLOG"]),
                refuse(&["kcmp"], &["SYS_PTRACE"]),
                refuse(
                    &[
                        "mbind",
                        "set_mempolicy",
                        "set_mempolicy_home_node",
                        "migrate_pages",
                        "move_pages",
                    ],
                    &["SYS_NICE"],
                ),
                refuse(&["vhangup"], &["SYS_TTY_CONFIG"]),
                ptrace,
                refuse(
                    &[
                        "swapon",
                        "swapoff",
                        "quotactl",
                        "quotactl_fd",
                        "name_to_handle_at",
                        "mount",
                        "umount",
                        "umount2",
                        "pivot_root",
                        "setns",
                        "fsopen",
                        "fsconfig",
                        "fsmount",
                        "fspick",
                        "open_tree",
                        "move_mount",
                        "mount_setattr",
                    ],
                    &["SYS_ADMIN"],
                ),
                namespaces_allowed("clone", CLONE_NAMESPACES),
                refuse(&["clone"], &["SYS_ADMIN"]),
                namespaces_allowed("unshare", UNSHARE_NAMESPACES),
                refuse(&["unshare"], &["SYS_ADMIN"]),
                clone3,
            ],
        }
    }

    /// A profile in docker's JSON format (`defaultAction`, `syscalls` with
    /// `names`, `action`, `args`, `errnoRet`, `includes` and `excludes`;
    /// `architectures` and `archMap` only say which ABIs it is for).
    pub fn from_docker_json(data: &[u8]) -> Result<Profile, ProfileError> {
        let p: DockerProfile = serde_json::from_slice(data)?;
        let default_errno = p.default_errno_ret.unwrap_or(libc::EPERM as u32);
        let default_action = docker_action(&p.default_action, None, default_errno)?;
        // A profile for other machines only is a mistake worth saying.
        let listed: Vec<&String> = p
            .architectures
            .iter()
            .chain(p.arch_map.iter().map(|m| &m.architecture))
            .collect();
        if let Some(native) = ABIS.iter().find(|a| a.native) {
            if !listed.is_empty() && !listed.iter().any(|a| native.names.contains(&a.as_str())) {
                return Err(ProfileError::Arch(native.names[0]));
            }
        }
        let mut rules = Vec::new();
        for s in p.syscalls {
            let mut names = s.names;
            names.extend(s.name);
            let action = docker_action(&s.action, s.errno_ret, default_errno)?;
            let mut args = Vec::new();
            for a in s.args {
                if a.index > 5 {
                    return Err(ProfileError::ArgIndex(a.index));
                }
                args.push(ArgCheck {
                    index: a.index as u8,
                    op: docker_op(&a.op)?,
                    value: a.value,
                    value_two: a.value_two,
                });
            }
            rules.push(Rule {
                names,
                action,
                args,
                includes: s.includes.condition()?,
                excludes: s.excludes.condition()?,
            });
        }
        Ok(Profile {
            default_action,
            rules,
        })
    }

    /// What the profile does with `name` called with any arguments, if
    /// that does not depend on them: the first rule naming it that applies
    /// decides, else the default.
    fn unconditional(&self, name: &str, target: &Target, abi: &Abi) -> Option<Action> {
        for r in &self.rules {
            if r.names.iter().any(|n| n == name) && r.applies(target, abi) {
                return r.args.is_empty().then_some(r.action);
            }
        }
        Some(self.default_action)
    }
}

impl Rule {
    fn applies(&self, t: &Target, abi: &Abi) -> bool {
        let arch = |c: &Condition| c.arches.iter().any(|a| abi.names.contains(&a.as_str()));
        let kernel = |c: &Condition| c.min_kernel.is_some_and(|min| t.kernel >= min);
        let inc = &self.includes;
        let exc = &self.excludes;
        inc.caps.iter().all(|&c| t.caps.contains(c))
            && (inc.arches.is_empty() || arch(inc))
            && (inc.min_kernel.is_none() || kernel(inc))
            && !exc.caps.iter().any(|&c| t.caps.contains(c))
            && !arch(exc)
            && !kernel(exc)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerProfile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    architectures: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    arch_map: Vec<DockerArchMap>,
    #[serde(default, deserialize_with = "null_as_default")]
    syscalls: Vec<DockerSyscall>,
}

#[derive(Deserialize)]
struct DockerArchMap {
    architecture: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerSyscall {
    #[serde(default, deserialize_with = "null_as_default")]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default, deserialize_with = "null_as_default")]
    args: Vec<DockerArg>,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    includes: DockerFilter,
    #[serde(default, deserialize_with = "null_as_default")]
    excludes: DockerFilter,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerFilter {
    #[serde(default, deserialize_with = "null_as_default")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

impl DockerFilter {
    fn condition(self) -> Result<Condition, ProfileError> {
        let caps = self
            .caps
            .iter()
            .map(|c| cap_number(c).map_err(|_| ProfileError::Cap(c.clone())))
            .collect::<Result<_, _>>()?;
        let min_kernel = match self.min_kernel {
            None => None,
            Some(k) => Some(kernel_version(&k).ok_or(ProfileError::Kernel(k))?),
        };
        Ok(Condition {
            caps,
            arches: self.arches,
            min_kernel,
        })
    }
}

/// docker's profiles write `null` for empty lists.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn docker_action(s: &str, errno: Option<u32>, default_errno: u32) -> Result<Action, ProfileError> {
    Ok(match s {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(default_errno)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(0)),
        "SCMP_ACT_NOTIFY" => return Err(ProfileError::Notify(s.into())),
        other => return Err(ProfileError::Action(other.into())),
    })
}

fn docker_op(s: &str) -> Result<Op, ProfileError> {
    Ok(match s {
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_LT" => Op::Lt,
        "SCMP_CMP_LE" => Op::Le,
        "SCMP_CMP_GE" => Op::Ge,
        "SCMP_CMP_GT" => Op::Gt,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEq,
        other => return Err(ProfileError::Op(other.into())),
    })
}

/// `MAJOR.MINOR[.anything]` -> (major, minor).
fn kernel_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some((major, minor))
}

/// This kernel's (major, minor); (0, 0) if uname says nothing usable.
pub(crate) fn running_kernel() -> (u32, u32) {
    let uname = rustix::system::uname();
    kernel_version(&uname.release().to_string_lossy()).unwrap_or((0, 0))
}

/// Which calls the notifier sends to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Notified {
    pub bind: bool,
    pub connect: bool,
    /// Root emulation for a single-id map (see `ROOT_FAKED` and
    /// `root_emulation`): the set*id family succeeds without effect, and
    /// chown to another owner, mknod of a device and capset go to the
    /// supervisor.
    pub ids: bool,
    /// sysinfo(2), answered from the container's own memory and uptime
    /// when its /proc view is on (`SandboxSpec::sysinfo_server`); the
    /// native ABI only (another ABI's struct has another layout).
    pub sysinfo: bool,
}

impl Notified {
    pub(crate) fn any(self) -> bool {
        self.bind || self.connect || self.ids || self.sysinfo
    }
}

/// The set*id family under root emulation: with one id mapped there is no
/// other id to become. Natively the supervisor keeps what a process asked
/// for and answers its get*id calls from it (`rootemu::ID_CALLS`); the
/// calls of another ABI succeed without effect.
const ROOT_FAKED: &[&str] = &[
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "setfsgid",
    "setuid32",
    "setgid32",
    "setreuid32",
    "setregid32",
    "setresuid32",
    "setresgid32",
    "setgroups32",
    "setfsuid32",
    "setfsgid32",
];

/// The chown family, 32-bit forms included.
const CHOWN_CALLS: &[&str] = &[
    "chown", "lchown", "fchown", "fchownat", "chown32", "lchown32", "fchown32",
];

/// The rename family: the supervisor may carry a replaced file's recorded
/// owner to the file renamed over it (see `rootemu::rename`); the kernel
/// then renames.
const RENAME_CALLS: &[&str] = &["rename", "renameat", "renameat2"];

/// mknod-like calls: (call, index of the mode argument).
const MKNOD_CALLS: &[(&str, u8)] = &[("mknod", 1), ("mknodat", 2)];

/// `(arg & 0xffffffff) == v`: an id or a mode, 32 bits whatever the
/// caller left in the high half.
fn low_word_is(index: u8, v: u32) -> ArgCheck {
    ArgCheck {
        index,
        op: Op::MaskedEq,
        value: 0xffff_ffff,
        value_two: v as u64,
    }
}

/// The root-emulation blocks of one ABI's section.
fn root_emulation(e: &mut Section, abi: &Abi, allowed: &dyn Fn(&str) -> bool) {
    let success = libc::SECCOMP_RET_ERRNO;
    let notify = libc::SECCOMP_RET_USER_NOTIF;
    for name in ROOT_FAKED {
        if let Some(nr) = (abi.number)(name).filter(|_| allowed(name)) {
            // Natively, the supervisor keeps the ids asked for and answers
            // the get*id family from them (apt checks that it dropped to
            // `_apt`); another ABI's calls just succeed.
            let ret = if abi.native { notify } else { success };
            e.block(nr, &[], ret);
        }
    }
    if abi.native {
        for name in super::rootemu::ID_CALLS
            .iter()
            .filter(|n| n.starts_with("get"))
        {
            if let Some(nr) = (abi.number)(name).filter(|_| allowed(name)) {
                e.block(nr, &[], notify);
            }
        }
    }
    for &name in CHOWN_CALLS {
        let Some(nr) = (abi.number)(name) else {
            continue;
        };
        if !abi.native {
            // Only the native ABI is notified: another one's paths and
            // fds are read the same way, but its numbers are not served.
            e.block(nr, &[], success);
            continue;
        }
        if !allowed(name) {
            continue;
        }
        // Every one, to root too: a file given to another owner before
        // must lose that record when it goes back to root.
        e.block(nr, &[], notify);
    }
    if !abi.native {
        return;
    }
    for &name in RENAME_CALLS {
        if let Some(nr) = (abi.number)(name).filter(|_| allowed(name)) {
            e.block(nr, &[], notify);
        }
    }
    for &(name, mode) in MKNOD_CALLS {
        let Some(nr) = (abi.number)(name) else {
            continue;
        };
        if !allowed(name) {
            continue;
        }
        for kind in [libc::S_IFCHR, libc::S_IFBLK] {
            let check = ArgCheck {
                index: mode,
                op: Op::MaskedEq,
                value: libc::S_IFMT as u64,
                value_two: kind as u64,
            };
            if kind == libc::S_IFCHR {
                // 0:0 is overlay's whiteout, which the kernel makes.
                e.block(
                    nr,
                    &[check, low_word_is(mode + 1, 0)],
                    libc::SECCOMP_RET_ALLOW,
                );
            }
            e.block(nr, &[check], notify);
        }
    }
    if allowed("capset") {
        if let Some(nr) = (abi.number)("capset") {
            e.block(nr, &[], notify);
        }
    }
}

/// What a program is built for: the container's capabilities (for
/// docker's `includes`/`excludes`), the kernel, the calls to notify.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub caps: CapSet,
    pub kernel: (u32, u32),
    pub notify: Notified,
}

#[derive(Clone, Copy)]
enum To {
    Next,
    Label(usize),
}

enum Ins {
    Load(u32),
    And(u32),
    Jump { op: u32, k: u32, t: To, f: To },
    Always(usize),
    Ret(u32),
    Label(usize),
}

const LOAD: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
const JGT: u32 = libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K;
const JGE: u32 = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;

fn nr_offset() -> u32 {
    std::mem::offset_of!(libc::seccomp_data, nr) as u32
}

/// The low and high 32 bits of argument `i` (the targets are
/// little-endian).
fn arg_words(i: u8) -> (u32, u32) {
    let low = (std::mem::offset_of!(libc::seccomp_data, args) + 8 * i as usize) as u32;
    (low, low + 4)
}

/// Call `nr`, when every check holds, gets `ret`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    nr: u32,
    checks: Vec<ArgCheck>,
    ret: u32,
}

/// One ABI's blocks in the order they are tried: for a call, the first
/// of its blocks whose checks hold decides.
#[derive(Debug, Default)]
struct Section {
    blocks: Vec<Block>,
}

impl Section {
    fn block(&mut self, nr: u32, checks: &[ArgCheck], ret: u32) {
        self.blocks.push(Block {
            nr,
            checks: checks.to_vec(),
            ret,
        });
    }
}

#[derive(Default)]
struct Emitter {
    code: Vec<Ins>,
    labels: usize,
}

impl Emitter {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }

    fn jump(&mut self, op: u32, k: u32, t: To, f: To) {
        self.code.push(Ins::Jump { op, k, t, f });
    }

    /// One argument check; falls through when it holds, else jumps to
    /// `fail`.
    fn check(&mut self, c: &ArgCheck, fail: usize) {
        let (lo, hi) = arg_words(c.index);
        let (vlo, vhi) = (c.value as u32, (c.value >> 32) as u32);
        let fail = To::Label(fail);
        let ok = self.label();
        let hold = To::Label(ok);
        use Ins::{And, Load};
        match c.op {
            Op::Eq => {
                self.code.push(Load(hi));
                self.jump(JEQ, vhi, To::Next, fail);
                self.code.push(Load(lo));
                self.jump(JEQ, vlo, To::Next, fail);
            }
            Op::Ne => {
                self.code.push(Load(hi));
                self.jump(JEQ, vhi, To::Next, hold);
                self.code.push(Load(lo));
                self.jump(JEQ, vlo, fail, To::Next);
            }
            Op::MaskedEq => {
                let (wlo, whi) = (c.value_two as u32, (c.value_two >> 32) as u32);
                self.code.push(Load(hi));
                self.code.push(And(vhi));
                self.jump(JEQ, whi, To::Next, fail);
                self.code.push(Load(lo));
                self.code.push(And(vlo));
                self.jump(JEQ, wlo, To::Next, fail);
            }
            Op::Gt | Op::Ge => {
                self.code.push(Load(hi));
                self.jump(JGT, vhi, hold, To::Next);
                self.jump(JEQ, vhi, To::Next, fail);
                self.code.push(Load(lo));
                let op = if c.op == Op::Gt { JGT } else { JGE };
                self.jump(op, vlo, To::Next, fail);
            }
            Op::Lt | Op::Le => {
                self.code.push(Load(hi));
                self.jump(JGT, vhi, fail, To::Next);
                self.jump(JEQ, vhi, To::Next, hold);
                self.code.push(Load(lo));
                let op = if c.op == Op::Lt { JGE } else { JGT };
                self.jump(op, vlo, fail, To::Next);
            }
        }
        self.code.push(Ins::Label(ok));
    }

    /// One ABI's blocks, then `default` for every call none of them
    /// decides. Expects the call number loaded.
    ///
    /// The blocks of one call are tried in their order; those of different
    /// calls never both match, so the calls are found by a binary search
    /// on the number rather than tried one after the other. The kernel
    /// runs the program once per call number when the filter is attached
    /// (to cache the calls it always allows) and at every call the cache
    /// does not answer: a linear list of about 70 calls costs about 70
    /// comparisons each time, the search about 12.
    fn section(&mut self, section: &Section, default: u32) {
        let mut calls: std::collections::BTreeMap<u32, Vec<&Block>> = Default::default();
        for b in &section.blocks {
            calls.entry(b.nr).or_default().push(b);
        }
        let calls: Vec<(u32, Vec<&Block>)> = calls.into_iter().collect();
        let otherwise = self.label();
        self.search(&calls, otherwise);
        self.code.push(Ins::Label(otherwise));
        self.code.push(Ins::Ret(default));
    }

    /// Halves `calls` (sorted by number) until a leaf is small enough to
    /// compare one by one. Each halving is a comparison whose far side is
    /// an unconditional jump, so that no conditional jump spans a subtree.
    fn search(&mut self, calls: &[(u32, Vec<&Block>)], otherwise: usize) {
        const LEAF: usize = 8;
        if calls.len() <= LEAF {
            return self.leaf(calls, otherwise);
        }
        let (low, high) = calls.split_at(calls.len() / 2);
        let (low_label, high_label) = (self.label(), self.label());
        self.jump(JGE, high[0].0, To::Next, To::Label(low_label));
        self.code.push(Ins::Always(high_label));
        self.code.push(Ins::Label(low_label));
        self.search(low, otherwise);
        self.code.push(Ins::Label(high_label));
        self.search(high, otherwise);
    }

    /// A few calls compared one by one. A call decided by one block
    /// without conditions jumps to a return its leaf shares with the
    /// others of the same action; the others jump (far, unconditionally)
    /// to their blocks, tried in order, then `otherwise`.
    fn leaf(&mut self, calls: &[(u32, Vec<&Block>)], otherwise: usize) {
        let mut returns: Vec<(u32, usize)> = Vec::new();
        let mut bodies: Vec<(usize, &[&Block])> = Vec::new();
        for (nr, blocks) in calls {
            match blocks.as_slice() {
                [b] if b.checks.is_empty() => {
                    let at = match returns.iter().find(|(ret, _)| *ret == b.ret) {
                        Some(&(_, at)) => at,
                        None => {
                            let at = self.label();
                            returns.push((b.ret, at));
                            at
                        }
                    };
                    self.jump(JEQ, *nr, To::Label(at), To::Next);
                }
                _ => {
                    let (body, skip) = (self.label(), self.label());
                    self.jump(JEQ, *nr, To::Next, To::Label(skip));
                    self.code.push(Ins::Always(body));
                    self.code.push(Ins::Label(skip));
                    bodies.push((body, blocks));
                }
            }
        }
        self.code.push(Ins::Always(otherwise));
        for (ret, at) in returns {
            self.code.push(Ins::Label(at));
            self.code.push(Ins::Ret(ret));
        }
        for (body, blocks) in bodies {
            self.code.push(Ins::Label(body));
            for b in blocks {
                let fail = self.label();
                for c in &b.checks {
                    self.check(c, fail);
                }
                self.code.push(Ins::Ret(b.ret));
                self.code.push(Ins::Label(fail));
                if b.checks.is_empty() {
                    // Nothing after it is ever reached.
                    break;
                }
            }
            self.code.push(Ins::Always(otherwise));
        }
    }

    fn finish(self) -> Result<Vec<libc::sock_filter>, CompileError> {
        let mut at = vec![0usize; self.labels];
        let mut n = 0;
        for i in &self.code {
            match i {
                Ins::Label(l) => at[*l] = n,
                _ => n += 1,
            }
        }
        if n > 4096 {
            return Err(CompileError::TooLong(n));
        }
        let mut out = Vec::with_capacity(n);
        for i in &self.code {
            let pc = out.len();
            let off = |to: To| -> Result<u8, CompileError> {
                let d = match to {
                    To::Next => 0,
                    To::Label(l) => at[l] - pc - 1,
                };
                u8::try_from(d).map_err(|_| CompileError::Jump(d))
            };
            let f = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
                code: code as u16,
                jt,
                jf,
                k,
            };
            out.push(match *i {
                Ins::Label(_) => continue,
                Ins::Load(k) => f(LOAD, 0, 0, k),
                Ins::And(k) => f(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, 0, 0, k),
                Ins::Jump { op, k, t, f: no } => f(op, off(t)?, off(no)?, k),
                Ins::Always(l) => f(libc::BPF_JMP | libc::BPF_JA, 0, 0, (at[l] - pc - 1) as u32),
                Ins::Ret(k) => f(libc::BPF_RET | libc::BPF_K, 0, 0, k),
            });
        }
        Ok(out)
    }
}

/// The program for `profile` (none: allow all) and `target.notify`;
/// `None` when there is nothing to filter (no profile, no notification)
/// or no ABI table for this architecture.
///
/// Layout: the architecture picks a section (one per ABI; an unknown one
/// kills the process, as a call whose numbers mean something else must not
/// pass); in each section, the notified calls first (only where the profile
/// allows them whatever their arguments: a profile that refuses bind keeps
/// it refused), then a block per (rule, call) in the profile's order, then
/// the default; the blocks of each call keep that order, and the calls are
/// found by a binary search on their number (`Emitter::section`).
pub(crate) fn program(
    profile: Option<&Profile>,
    target: &Target,
) -> Result<Option<Vec<libc::sock_filter>>, CompileError> {
    let notifying = target.notify.any();
    if ABIS.is_empty() || (profile.is_none() && !notifying) {
        return Ok(None);
    }
    let allow_all = Profile {
        default_action: Action::Allow,
        rules: Vec::new(),
    };
    let profile = profile.unwrap_or(&allow_all);
    let mut e = Emitter::default();
    let sections: Vec<usize> = ABIS.iter().map(|_| e.label()).collect();
    e.code.push(Ins::Load(
        std::mem::offset_of!(libc::seccomp_data, arch) as u32
    ));
    for (abi, &label) in ABIS.iter().zip(&sections) {
        let skip = e.label();
        e.jump(JEQ, abi.audit, To::Next, To::Label(skip));
        e.code.push(Ins::Always(label));
        e.code.push(Ins::Label(skip));
    }
    e.code.push(Ins::Ret(libc::SECCOMP_RET_KILL_PROCESS));
    for (abi, &label) in ABIS.iter().zip(&sections) {
        e.code.push(Ins::Label(label));
        e.code.push(Ins::Load(nr_offset()));
        if abi.native && cfg!(target_arch = "x86_64") {
            let native = e.label();
            e.jump(JGE, X32_BIT, To::Next, To::Label(native));
            e.code
                .push(Ins::Ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
            e.code.push(Ins::Label(native));
        }
        e.section(&section(profile, target, abi), profile.default_action.ret());
    }
    e.finish().map(Some)
}

/// The blocks of `abi`'s section, in the order they are tried.
fn section(profile: &Profile, target: &Target, abi: &Abi) -> Section {
    let mut s = Section::default();
    let allowed = |name: &str| profile.unconditional(name, target, abi) == Some(Action::Allow);
    if target.notify.ids {
        root_emulation(&mut s, abi, &allowed);
    }
    if abi.native {
        let notify = libc::SECCOMP_RET_USER_NOTIF;
        if target.notify.sysinfo && allowed("sysinfo") {
            if let Some(nr) = (abi.number)("sysinfo") {
                s.block(nr, &[], notify);
            }
        }
        if target.notify.bind && allowed("bind") {
            if let Some(nr) = (abi.number)("bind") {
                s.block(nr, &[], notify);
            }
        }
        if target.notify.connect && allowed("connect") {
            if let Some(nr) = (abi.number)("connect") {
                // The address length (an int: the kernel ignores the
                // high bits) of a sockaddr_in or a sockaddr_in6, so
                // that unix sockets' connects mostly skip the trip.
                for len in [
                    std::mem::size_of::<libc::sockaddr_in>(),
                    std::mem::size_of::<libc::sockaddr_in6>(),
                ] {
                    let check = ArgCheck {
                        index: 2,
                        op: Op::MaskedEq,
                        value: 0xffff_ffff,
                        value_two: len as u64,
                    };
                    s.block(nr, &[check], notify);
                }
            }
        }
    }
    for rule in profile.rules.iter().filter(|r| r.applies(target, abi)) {
        for name in &rule.names {
            // A call this ABI does not have: nothing to match.
            if let Some(nr) = (abi.number)(name) {
                s.block(nr, &rule.args, rule.action.ret());
            }
        }
    }
    s
}

/// `program` as plain numbers, one per instruction, to cross the sandbox's
/// channel (`unpack` reads them back).
pub(crate) fn pack(program: &[libc::sock_filter]) -> Vec<u64> {
    program
        .iter()
        .map(|i| {
            u64::from(i.code) << 48 | u64::from(i.jt) << 40 | u64::from(i.jf) << 32 | u64::from(i.k)
        })
        .collect()
}

/// The instructions `pack` made.
pub(crate) fn unpack(packed: &[u64]) -> Vec<libc::sock_filter> {
    packed
        .iter()
        .map(|&v| libc::sock_filter {
            code: (v >> 48) as u16,
            jt: (v >> 40) as u8,
            jf: (v >> 32) as u8,
            k: v as u32,
        })
        .collect()
}

/// Installs `program` on this process (its children and the programs it
/// runs inherit it); with `listener`, returns the notification listener
/// (close-on-exec). Needs CAP_SYS_ADMIN in the current user namespace (or
/// no_new_privs).
pub(crate) fn install(
    program: &[libc::sock_filter],
    listener: bool,
) -> Result<Option<OwnedFd>, rustix::io::Errno> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    let flags = if listener {
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        0
    };
    // SAFETY: seccomp(2) reads the program through `prog`, which points at
    // `program`; both outlive the call. The kernel copies the program.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(rustix::io::Errno::from_raw_os_error(
            super::sys::last_errno(),
        ));
    }
    if !listener {
        return Ok(None);
    }
    // SAFETY: the kernel just made this fd (close-on-exec) for us.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's evaluation, for the instructions the generator uses.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        steps(prog, arch, nr, args).0
    }

    /// What `run` returns, and how many instructions it took.
    fn steps(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
        let (mut pc, mut acc) = (0usize, 0u32);
        let args_at = std::mem::offset_of!(libc::seccomp_data, args) as u32;
        for taken in 1.. {
            let i = prog[pc];
            pc += 1;
            let code = i.code as u32;
            if code == LOAD {
                acc = match i.k {
                    0 => nr,
                    4 => arch,
                    k if k >= args_at && k < args_at + 48 => {
                        let a = args[((k - args_at) / 8) as usize];
                        if (k - args_at).is_multiple_of(8) {
                            a as u32
                        } else {
                            (a >> 32) as u32
                        }
                    }
                    k => panic!("load of offset {k}"),
                };
            } else if code == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K {
                acc &= i.k;
            } else if code == libc::BPF_JMP | libc::BPF_JA {
                pc += i.k as usize;
            } else if code == JEQ || code == JGT || code == JGE {
                let hit = match code {
                    JEQ => acc == i.k,
                    JGT => acc > i.k,
                    _ => acc >= i.k,
                };
                pc += if hit { i.jt } else { i.jf } as usize;
            } else if code == libc::BPF_RET | libc::BPF_K {
                return (i.k, taken);
            } else {
                panic!("instruction {code:#x}");
            }
        }
        unreachable!()
    }

    /// Whether `c` holds for `args`, as docker's profiles mean it.
    fn holds(c: &ArgCheck, args: &[u64; 6]) -> bool {
        let a = args[c.index as usize];
        match c.op {
            Op::Eq => a == c.value,
            Op::Ne => a != c.value,
            Op::Lt => a < c.value,
            Op::Le => a <= c.value,
            Op::Ge => a >= c.value,
            Op::Gt => a > c.value,
            Op::MaskedEq => a & c.value == c.value_two,
        }
    }

    /// Every ABI's section with the targets the tests use.
    fn cases() -> Vec<(Profile, Target)> {
        let all = Notified {
            bind: true,
            connect: true,
            ids: true,
            sysinfo: true,
        };
        let json = br#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
            {"names": ["read", "write", "exit_group", "mmap"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_NE"},
                      {"index": 2, "value": 9, "op": "SCMP_CMP_LE"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97},
            {"names": ["mmap"], "action": "SCMP_ACT_KILL"}]}"#;
        let json = Profile::from_docker_json(json).expect("a profile");
        vec![
            (
                Profile::docker_default(),
                target(CapSet::docker_default(), Notified::default()),
            ),
            (
                Profile::docker_default(),
                target(CapSet::docker_default(), all),
            ),
            (Profile::docker_default(), target(CapSet::all(), all)),
            (
                Profile {
                    default_action: Action::Allow,
                    rules: Vec::new(),
                },
                target(CapSet::empty(), all),
            ),
            (json, target(CapSet::docker_default(), all)),
        ]
    }

    #[test]
    fn every_call_gets_what_its_first_matching_block_says() {
        for (profile, t) in cases() {
            let p = program(Some(&profile), &t)
                .expect("compiles")
                .expect("a program");
            for abi in ABIS {
                let blocks = section(&profile, &t, abi).blocks;
                // The arguments that make each check hold, or just not.
                let mut values = vec![0u64, u64::MAX];
                for c in blocks.iter().flat_map(|b| &b.checks) {
                    for v in [c.value, c.value_two] {
                        values.extend([v, v.wrapping_add(1), v.wrapping_sub(1), v | 1 << 32]);
                    }
                    values.push(c.value_two | !c.value);
                }
                values.sort_unstable();
                values.dedup();
                for nr in 0..1024u32 {
                    let mine: Vec<&Block> = blocks.iter().filter(|b| b.nr == nr).collect();
                    let mut argsets = vec![[0u64; 6]];
                    if mine.iter().any(|b| !b.checks.is_empty()) {
                        for &v in &values {
                            argsets.push([v; 6]);
                            for i in 0..6 {
                                let mut a = [0u64; 6];
                                a[i] = v;
                                argsets.push(a);
                            }
                        }
                    }
                    for args in argsets {
                        let want = mine
                            .iter()
                            .find(|b| b.checks.iter().all(|c| holds(c, &args)))
                            .map_or(profile.default_action.ret(), |b| b.ret);
                        assert_eq!(
                            run(&p, abi.audit, nr, args),
                            want,
                            "{} nr {nr} {args:x?}",
                            abi.names[0]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_call_is_found_in_a_few_instructions() {
        // The kernel runs the program for every call number when the
        // filter is attached, and at each call it has not cached: a call
        // is found by a search, not after every other call's comparison.
        for (profile, t) in cases() {
            let p = program(Some(&profile), &t)
                .expect("compiles")
                .expect("a program");
            for abi in ABIS {
                let longest = (0..1024u32)
                    .map(|nr| steps(&p, abi.audit, nr, [0; 6]).1)
                    .max()
                    .unwrap_or(0);
                assert!(longest <= 48, "{}: {longest} instructions", abi.names[0]);
            }
        }
    }

    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;

    fn native() -> &'static Abi {
        &ABIS[0]
    }

    fn nr(name: &str) -> u32 {
        (native().number)(name).unwrap_or_else(|| panic!("no {name}"))
    }

    fn target(caps: CapSet, notify: Notified) -> Target {
        Target {
            caps,
            kernel: (6, 1),
            notify,
        }
    }

    fn default_program(t: &Target) -> Vec<libc::sock_filter> {
        program(Some(&Profile::docker_default()), t)
            .expect("compiles")
            .expect("a program")
    }

    /// The program pid 1 gets from its parent (`pack`ed, sent, `unpack`ed)
    /// is the one built, instruction for instruction.
    #[test]
    fn a_packed_program_unpacks_to_the_same_instructions() {
        let t = target(CapSet::docker_default(), Notified::default());
        let p = default_program(&t);
        let back = unpack(&pack(&p));
        assert_eq!(back.len(), p.len());
        let fields = |i: &libc::sock_filter| (i.code, i.jt, i.jf, i.k);
        for (a, b) in p.iter().zip(&back) {
            assert_eq!(fields(a), fields(b));
        }
        // Every field at its widest crosses too.
        let wide = libc::sock_filter {
            code: 0xffff,
            jt: 0xfe,
            jf: 0xfd,
            k: 0xffff_fffc,
        };
        assert_eq!(
            fields(&unpack(&pack(&[wide]))[0]),
            (0xffff, 0xfe, 0xfd, 0xffff_fffc)
        );
    }

    #[test]
    fn the_default_profile_refuses_dockers_calls_and_allows_the_rest() {
        let t = target(CapSet::docker_default(), Notified::default());
        let p = default_program(&t);
        let a = native().audit;
        for name in [
            "keyctl",
            "add_key",
            "request_key",
            "bpf",
            "perf_event_open",
            "userfaultfd",
            "kexec_load",
            "kexec_file_load",
            "open_by_handle_at",
            "init_module",
            "finit_module",
            "delete_module",
            "clock_settime",
            "settimeofday",
            "adjtimex",
            "swapon",
            "swapoff",
            "mount",
            "umount2",
            "setns",
        ] {
            assert_eq!(run(&p, a, nr(name), [0; 6]), EPERM, "{name}");
        }
        for name in [
            "read", "write", "openat", "execve", "bind", "connect", "ptrace", "wait4",
        ] {
            assert_eq!(run(&p, a, nr(name), [0; 6]), ALLOW, "{name}");
        }
        // clone: threads and forks pass, new namespaces do not; clone3
        // sends the C library back to clone.
        let clone = nr("clone");
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert_eq!(run(&p, a, clone, [thread, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(
            run(&p, a, clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
            ALLOW
        );
        for ns in [libc::CLONE_NEWUSER, libc::CLONE_NEWNS, libc::CLONE_NEWNET] {
            let flags = ns as u64 | libc::SIGCHLD as u64;
            assert_eq!(run(&p, a, clone, [flags, 0, 0, 0, 0, 0]), EPERM);
            assert_eq!(run(&p, a, nr("unshare"), [ns as u64, 0, 0, 0, 0, 0]), EPERM);
        }
        assert_eq!(
            run(&p, a, nr("unshare"), [libc::CLONE_FS as u64, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(run(&p, a, nr("clone3"), [0; 6]), ENOSYS);
        // Another ABI is filtered with its own numbers, or not at all.
        #[cfg(target_arch = "x86_64")]
        {
            let i386 = ABIS[1].audit;
            assert_eq!(run(&p, i386, 288, [0; 6]), EPERM, "i386 keyctl");
            assert_eq!(run(&p, i386, 3, [0; 6]), ALLOW, "i386 read");
            assert_eq!(run(&p, a, X32_BIT | nr("keyctl"), [0; 6]), ENOSYS, "x32");
        }
        assert_eq!(run(&p, 0x1234, 0, [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);
    }

    #[test]
    fn capabilities_and_the_kernel_lift_what_docker_lifts() {
        let mut caps = CapSet::docker_default();
        caps.insert(cap_number("SYS_ADMIN").unwrap());
        let p = default_program(&target(caps, Notified::default()));
        let a = native().audit;
        let newuser = libc::CLONE_NEWUSER as u64 | libc::SIGCHLD as u64;
        assert_eq!(run(&p, a, nr("clone"), [newuser, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&p, a, nr("clone3"), [0; 6]), ALLOW);
        assert_eq!(run(&p, a, nr("mount"), [0; 6]), ALLOW);
        assert_eq!(run(&p, a, nr("keyctl"), [0; 6]), EPERM);
        let mut old = target(CapSet::docker_default(), Notified::default());
        old.kernel = (4, 4);
        assert_eq!(run(&default_program(&old), a, nr("ptrace"), [0; 6]), EPERM);
    }

    #[test]
    fn notified_calls_come_first_unless_the_profile_refuses_them() {
        let both = Notified {
            bind: true,
            connect: true,
            ..Default::default()
        };
        let a = native().audit;
        let (bind, connect) = (nr("bind"), nr("connect"));
        for p in [
            program(None, &target(CapSet::empty(), both))
                .unwrap()
                .unwrap(),
            default_program(&target(CapSet::docker_default(), both)),
        ] {
            assert_eq!(run(&p, a, bind, [3, 0, 16, 0, 0, 0]), NOTIFY);
            assert_eq!(run(&p, a, connect, [3, 0, 16, 0, 0, 0]), NOTIFY);
            assert_eq!(run(&p, a, connect, [3, 0, 28, 0, 0, 0]), NOTIFY);
            // High bits the kernel ignores; unix sockets' lengths.
            assert_eq!(run(&p, a, connect, [3, 0, (1 << 32) | 16, 0, 0, 0]), NOTIFY);
            assert_eq!(run(&p, a, connect, [3, 0, 110, 0, 0, 0]), ALLOW);
            assert_eq!(run(&p, a, nr("read"), [0; 6]), ALLOW);
        }
        let bind_only = Notified {
            bind: true,
            ..Default::default()
        };
        let p = program(None, &target(CapSet::empty(), bind_only))
            .unwrap()
            .unwrap();
        assert_eq!(run(&p, a, connect, [3, 0, 16, 0, 0, 0]), ALLOW);
        assert_eq!(run(&p, a, bind, [3, 0, 16, 0, 0, 0]), NOTIFY);
        assert_eq!(run(&p, a, nr("sysinfo"), [0; 6]), ALLOW);
        // sysinfo(2) of the native ABI alone, under the default profile too.
        let sysinfo = Notified {
            sysinfo: true,
            ..Default::default()
        };
        let p = default_program(&target(CapSet::docker_default(), sysinfo));
        assert_eq!(run(&p, a, nr("sysinfo"), [0x1000, 0, 0, 0, 0, 0]), NOTIFY);
        assert_eq!(run(&p, a, bind, [3, 0, 16, 0, 0, 0]), ALLOW);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            run(&p, 0x4000_0003, 116, [0x1000, 0, 0, 0, 0, 0]),
            ALLOW,
            "i386's sysinfo (116) has another struct layout: the kernel answers it"
        );
        // Nothing to filter: no program at all.
        assert!(program(None, &target(CapSet::empty(), Notified::default()))
            .unwrap()
            .is_none());
        let no_bind = Profile::from_docker_json(
            br#"{"defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [{"names": ["bind"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
        )
        .unwrap();
        let p = program(Some(&no_bind), &target(CapSet::empty(), both))
            .unwrap()
            .unwrap();
        assert_eq!(
            run(&p, a, bind, [3, 0, 16, 0, 0, 0]),
            libc::SECCOMP_RET_ERRNO | 13
        );
        assert_eq!(run(&p, a, connect, [3, 0, 16, 0, 0, 0]), NOTIFY);
    }

    #[test]
    fn root_emulation_notifies_owners_and_ids_and_fakes_other_abis() {
        let ids = Notified {
            ids: true,
            ..Notified::default()
        };
        let p = default_program(&target(CapSet::docker_default(), ids));
        let a = native().audit;
        for name in [
            "chown",
            "fchown",
            "lchown",
            "fchownat",
            "setuid",
            "setresuid",
            "setgroups",
            "setfsgid",
            "getuid",
            "getegid",
            "getgroups",
            "capset",
            "renameat",
            "renameat2",
        ] {
            assert_eq!(run(&p, a, nr(name), [0, 5, 5, 5, 0, 0]), NOTIFY, "{name}");
        }
        // Devices are notified (to become files); 0:0 (a whiteout), fifos
        // and files are the kernel's.
        let mknod = nr("mknod");
        let chr = libc::S_IFCHR as u64 | 0o644;
        assert_eq!(run(&p, a, mknod, [0, chr, 0x103, 0, 0, 0]), NOTIFY);
        assert_eq!(
            run(&p, a, mknod, [0, libc::S_IFBLK as u64, 0x801, 0, 0, 0]),
            NOTIFY
        );
        assert_eq!(run(&p, a, mknod, [0, chr, 0, 0, 0, 0]), ALLOW);
        assert_eq!(
            run(&p, a, mknod, [0, libc::S_IFIFO as u64, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(run(&p, a, nr("mknodat"), [0, 0, chr, 0x103, 0, 0]), NOTIFY);
        assert_eq!(run(&p, a, nr("read"), [0; 6]), ALLOW);
        assert_eq!(run(&p, a, nr("keyctl"), [0; 6]), EPERM);
        #[cfg(target_arch = "x86_64")]
        {
            let i386 = ABIS[1].audit;
            // setuid32 and chown32 of i386 succeed without effect.
            assert_eq!(
                run(&p, i386, 213, [5, 0, 0, 0, 0, 0]),
                libc::SECCOMP_RET_ERRNO
            );
            assert_eq!(
                run(&p, i386, 212, [0, 5, 5, 0, 0, 0]),
                libc::SECCOMP_RET_ERRNO
            );
            // Its renames are the kernel's: never faked.
            assert_eq!(run(&p, i386, 38, [0; 6]), ALLOW);
        }
        // Without it, none of that.
        let p = default_program(&target(CapSet::docker_default(), Notified::default()));
        for name in ["chown", "setuid", "getuid", "capset", "mknod", "renameat2"] {
            assert_eq!(run(&p, a, nr(name), [0, chr, 5, 0, 0, 0]), ALLOW, "{name}");
        }
    }

    #[test]
    fn argument_comparisons_are_64_bit_and_unsigned() {
        let values = [0u64, 1, 5, 0xffff_ffff, 1 << 32, (1 << 32) | 5, u64::MAX, 6];
        let ops = [
            (Op::Eq, "SCMP_CMP_EQ"),
            (Op::Ne, "SCMP_CMP_NE"),
            (Op::Lt, "SCMP_CMP_LT"),
            (Op::Le, "SCMP_CMP_LE"),
            (Op::Ge, "SCMP_CMP_GE"),
            (Op::Gt, "SCMP_CMP_GT"),
        ];
        let a = native().audit;
        for (op, name) in ops {
            for &v in &values {
                let json = format!(
                    r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["getpid"],
                       "action": "SCMP_ACT_ERRNO", "args": [{{"index": 1, "value": {v}, "op": "{name}"}}]}}]}}"#
                );
                let prof = Profile::from_docker_json(json.as_bytes()).unwrap();
                let p = program(Some(&prof), &target(CapSet::empty(), Notified::default()))
                    .unwrap()
                    .unwrap();
                for &x in &values {
                    let want = match op {
                        Op::Eq => x == v,
                        Op::Ne => x != v,
                        Op::Lt => x < v,
                        Op::Le => x <= v,
                        Op::Ge => x >= v,
                        Op::Gt => x > v,
                        Op::MaskedEq => unreachable!(),
                    };
                    let got = run(&p, a, nr("getpid"), [0, x, 0, 0, 0, 0]);
                    assert_eq!(got == EPERM, want, "{x:#x} {name} {v:#x}");
                    assert_eq!(run(&p, a, nr("getppid"), [0, x, 0, 0, 0, 0]), ALLOW);
                }
            }
        }
        let masked = Profile::from_docker_json(
            br#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["personality"],
                 "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967295,
                 "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]}]}"#,
        )
        .unwrap();
        let p = program(Some(&masked), &target(CapSet::empty(), Notified::default()))
            .unwrap()
            .unwrap();
        let personality = nr("personality");
        assert_eq!(run(&p, a, personality, [8, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(
            run(&p, a, personality, [(7 << 32) | 8, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(run(&p, a, personality, [9, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(run(&p, a, nr("read"), [0; 6]), EPERM);
    }

    #[test]
    fn docker_json_profiles_parse_with_their_conditions() {
        let p = Profile::from_docker_json(
            br#"{
              "defaultAction": "SCMP_ACT_ERRNO",
              "defaultErrnoRet": 1,
              "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                          {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": null}],
              "syscalls": [
                {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW", "args": null,
                 "comment": "", "includes": {}, "excludes": {}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["not_a_call_here"], "action": "SCMP_ACT_ALLOW"}
              ]}"#,
        )
        .unwrap();
        assert_eq!(p.default_action, Action::Errno(1));
        let t = target(CapSet::docker_default(), Notified::default());
        let prog = program(Some(&p), &t).unwrap().unwrap();
        let a = native().audit;
        assert_eq!(run(&prog, a, nr("read"), [0; 6]), ALLOW);
        assert_eq!(run(&prog, a, nr("ptrace"), [0; 6]), ALLOW);
        assert_eq!(run(&prog, a, nr("mount"), [0; 6]), EPERM);
        assert_eq!(run(&prog, a, nr("clone3"), [0; 6]), ENOSYS);
        assert_eq!(run(&prog, a, nr("getpid"), [0; 6]), EPERM);
        for bad in [
            &br#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#[..],
            br#"{"defaultAction": "SCMP_ACT_WHAT"}"#,
            br#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
                "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
            br#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
                "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_LIKE"}]}]}"#,
            br#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"]}"#,
            b"not json",
        ] {
            assert!(Profile::from_docker_json(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn kernel_versions_read_as_uname_and_docker_write_them() {
        assert_eq!(kernel_version("6.18.44-fc-v1300"), Some((6, 18)));
        assert_eq!(kernel_version("4.8"), Some((4, 8)));
        assert_eq!(kernel_version("5.10.0-rc1"), Some((5, 10)));
        assert_eq!(kernel_version("x"), None);
    }
}
