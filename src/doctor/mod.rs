//! `burrow doctor` and `burrow info`: what this host gives a rootless
//! container tool, and for each missing piece the one command or setting
//! that fixes it. Gathers facts through small probes owned by the modules
//! whose subject they are, then judges them in a pure function. Never
//! changes the host: its namespaces and scratch files die with it.

pub mod render;

use crate::cgroup::{CgroupFacts, Layout};
use crate::config::{self, ConfigError, Env, FsProbe, Statfs};
use crate::net;
use crate::sandbox::probe::{self, FuseFacts};
use crate::sandbox::userns::{
    self, HelperFacts, IdKind, SubidRange, SubidSource, UsernsBlocker, UsernsError,
};
use crate::sandbox::{floor, OverlayApi, RootfsDriver};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Everything `burrow info` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub burrow: BurrowFacts,
    pub host: HostFacts,
    pub user: UserFacts,
    pub userns: UsernsFacts,
    pub subids: SubidFacts,
    pub id_helpers: Vec<HelperFacts>,
    pub overlay: OverlayFacts,
    pub fuse_overlayfs: FuseFacts,
    pub cgroup: CgroupFacts,
    pub session: SessionFacts,
    pub storage: StorageFacts,
    pub network: NetFacts,
}

#[derive(Debug, Clone, Serialize)]
pub struct BurrowFacts {
    pub version: String,
    /// The running binary: the path an AppArmor profile must name.
    pub executable: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostFacts {
    /// `uname -r`.
    pub kernel: String,
    pub arch: String,
    /// PRETTY_NAME of /etc/os-release.
    pub distribution: Option<String>,
    /// ID and ID_LIKE of /etc/os-release, for the install command to give.
    pub distribution_ids: Vec<String>,
    /// Whether systemd is the init system (/run/systemd/system exists).
    pub systemd: bool,
    /// The oldest kernel burrow runs containers on (`5.6`).
    pub kernel_floor: String,
    /// What this kernel lacks that burrow cannot do without, each with
    /// the release that brought it: empty at or above the floor.
    pub kernel_missing: Vec<String>,
    /// What this kernel lacks that burrow works around, and how.
    pub kernel_worked_around: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserFacts {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsernsFacts {
    /// Why creating a user namespace (and mounting in it) failed; `None`
    /// when it worked.
    pub error: Option<String>,
    /// The setting that blocks them, from the sysctls below.
    pub blocked_by: Option<UsernsBlocker>,
    pub max_user_namespaces: Option<String>,
    pub unprivileged_userns_clone: Option<String>,
    pub apparmor_restrict_unprivileged_userns: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubidFacts {
    pub source: SubidSource,
    pub uids: Vec<SubidRange>,
    pub gids: Vec<SubidRange>,
    /// Why the ranges could not be read.
    pub error: Option<String>,
    /// A free 65536-id range to suggest to an admin, from /etc/subuid and
    /// /etc/subgid.
    pub free_range: SubidRange,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverlayFacts {
    /// Where the kernel overlay was tried: under the storage root, or the
    /// nearest directory above it that exists.
    pub tried_in: PathBuf,
    /// How this kernel takes the overlay's layers, when it works.
    pub api: Option<OverlayApi>,
    pub error: Option<String>,
    /// The driver containers get here: the kernel overlay, else
    /// fuse-overlayfs, else a copy.
    pub driver: RootfsDriver,
}

impl OverlayFacts {
    fn of(tried_in: PathBuf, probed: Result<OverlayApi, String>, fuse: &FuseFacts) -> OverlayFacts {
        let driver = match (&probed, fuse.usable()) {
            (Ok(_), _) => RootfsDriver::KernelOverlay,
            (Err(_), true) => RootfsDriver::FuseOverlayfs,
            (Err(_), false) => RootfsDriver::Copy,
        };
        let (api, error) = match probed {
            Ok(api) => (Some(api), None),
            Err(e) => (None, Some(e)),
        };
        OverlayFacts {
            tried_in,
            api,
            error,
            driver,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionFacts {
    pub xdg_runtime_dir: Option<PathBuf>,
    /// Why XDG_RUNTIME_DIR cannot be used, when it is set.
    pub xdg_runtime_dir_problem: Option<String>,
    /// The user's D-Bus: DBUS_SESSION_BUS_ADDRESS, else /run/user/UID/bus
    /// when that socket exists.
    pub user_bus: Option<String>,
    /// /var/lib/systemd/linger/USER exists.
    pub linger: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StorageFacts {
    pub config_file: Option<PathBuf>,
    /// The config could not be loaded (other than for the runtime dir).
    pub config_error: Option<String>,
    pub root: Option<PathBuf>,
    /// The directory whose filesystem was checked (the root, or its
    /// nearest existing parent).
    pub probed: Option<PathBuf>,
    pub filesystem: Option<String>,
    /// Whether that is a network filesystem burrow refuses by default.
    pub network_fs: bool,
    pub allow_network_fs: bool,
    /// The storage check's refusal (a network filesystem), as burrow
    /// prints it.
    pub refused: Option<String>,
    pub warning: Option<String>,
    /// The refusal of a storage root another user made or can change, as
    /// burrow prints it.
    pub unsafe_root: Option<String>,
    pub runtime_dir: Option<PathBuf>,
    /// The note printed when the runtime dir fell back to /tmp.
    pub runtime_note: Option<String>,
    /// Why no runtime dir could be made.
    pub runtime_error: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetFacts {
    /// Why /dev/net/tun cannot be opened read-write.
    pub tun_error: Option<String>,
    pub ip_unprivileged_port_start: Option<u32>,
    pub ping_group_range: Option<(u32, u32)>,
    /// Why a user namespace of this user could not put burrow's port
    /// filter (an nftables table, netdev ingress chain) on a network
    /// namespace of its own; `None` when it could.
    pub nftables_error: Option<String>,
    /// Whether that error says the kernel has no nftables for it (user
    /// networks then run unfiltered, with a warning), not a fault that
    /// fails their joins.
    pub nftables_absent: bool,
}

impl NetFacts {
    /// burrow's port filter tried in a new user and network namespace of
    /// this user (single-id map): (the error, whether it means no
    /// nftables). The caller must be single-threaded.
    fn nftables(uid: u32, gid: u32) -> (Option<String>, bool) {
        let map = userns::IdMap::single(uid, gid);
        match userns::run_in_userns(&map, net::portfilter::probe_in_new_netns) {
            Ok(Ok(())) => (None, false),
            Ok(Err(e)) => (
                Some(e.to_string()),
                net::portfilter::nftables_absent(e.errno),
            ),
            Err(e) => (Some(format!("entering a user namespace: {e}")), false),
        }
    }
}

impl Facts {
    /// Probes this host for the user running burrow. Forks children into
    /// new namespaces: the caller must be single-threaded.
    pub fn gather() -> Facts {
        Facts::gather_with(&Env::from_process(), &Statfs)
    }

    /// `gather` with a given environment and filesystem probe, so a test
    /// can play a storage root on NFS.
    pub fn gather_with(env: &Env, fs: &dyn FsProbe) -> Facts {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let name = userns::current_user_name();
        let storage = StorageFacts::gather(env, fs);
        let overlay_dir = overlay_scratch_parent(&storage);
        let fuse = FuseFacts::probe();
        let (nftables_error, nftables_absent) = NetFacts::nftables(uid, gid);
        Facts {
            burrow: BurrowFacts {
                version: env!("CARGO_PKG_VERSION").to_string(),
                executable: std::env::current_exe()
                    .unwrap_or_else(|_| PathBuf::from("/usr/bin/burrow")),
            },
            host: HostFacts::gather(),
            userns: UsernsFacts::gather(),
            subids: SubidFacts::gather(&name, uid),
            id_helpers: vec![HelperFacts::of("newuidmap"), HelperFacts::of("newgidmap")],
            overlay: OverlayFacts::of(
                overlay_dir.clone(),
                probe::kernel_overlay(&overlay_dir).map_err(|e| e.to_string()),
                &fuse,
            ),
            fuse_overlayfs: fuse,
            cgroup: CgroupFacts::probe(uid),
            session: SessionFacts::gather(env, uid, &name),
            storage,
            network: NetFacts {
                tun_error: probe::open_rw(Path::new("/dev/net/tun"))
                    .err()
                    .map(|e| e.to_string()),
                ip_unprivileged_port_start: userns::read_sysctl(
                    "net.ipv4.ip_unprivileged_port_start",
                )
                .and_then(|v| v.parse().ok()),
                ping_group_range: userns::read_sysctl("net.ipv4.ping_group_range").and_then(|v| {
                    let mut it = v.split_whitespace().map(|n| n.parse::<u32>().ok());
                    Some((it.next()??, it.next()??))
                }),
                nftables_error,
                nftables_absent,
            },
            user: UserFacts { name, uid, gid },
        }
    }
}

impl HostFacts {
    fn gather() -> HostFacts {
        let uname = rustix::system::uname();
        let os = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .unwrap_or_default();
        let os = parse_os_release(&os);
        let get = |k: &str| os.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let mut ids: Vec<String> = get("ID").into_iter().collect();
        ids.extend(
            get("ID_LIKE")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string),
        );
        let kernel = floor::running_release();
        HostFacts {
            kernel_floor: floor::floor_text(),
            kernel_missing: floor::check(&kernel)
                .err()
                .map(|e| e.missing.iter().map(|f| feature_text(f)).collect())
                .unwrap_or_default(),
            kernel_worked_around: worked_around(&kernel),
            kernel,
            arch: uname.machine().to_string_lossy().into_owned(),
            distribution: get("PRETTY_NAME").or_else(|| get("NAME")),
            distribution_ids: ids,
            systemd: Path::new("/run/systemd/system").is_dir(),
        }
    }
}

/// KEY=VALUE lines of os-release(5), quotes removed.
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.replace("\\\"", "\""))
        })
        .collect()
}

impl UsernsFacts {
    fn gather() -> UsernsFacts {
        let error = userns::probe().err().map(|e: UsernsError| e.to_string());
        UsernsFacts {
            blocked_by: error
                .as_ref()
                .and_then(|_| UsernsBlocker::find(&userns::read_sysctl)),
            error,
            max_user_namespaces: userns::read_sysctl("user.max_user_namespaces"),
            unprivileged_userns_clone: userns::read_sysctl("kernel.unprivileged_userns_clone"),
            apparmor_restrict_unprivileged_userns: userns::read_sysctl(
                "kernel.apparmor_restrict_unprivileged_userns",
            ),
        }
    }
}

impl SubidFacts {
    fn gather(name: &str, uid: u32) -> SubidFacts {
        let source = SubidSource::of_system();
        let mut error = None;
        let mut read = |kind| {
            source.ranges(kind, name, uid).unwrap_or_else(|e| {
                error = Some(e.to_string());
                Vec::new()
            })
        };
        let uids = read(IdKind::Uid);
        let gids = read(IdKind::Gid);
        SubidFacts {
            free_range: userns::free_subid_range_of_system(),
            source,
            uids,
            gids,
            error,
        }
    }
}

impl SessionFacts {
    fn gather(env: &Env, uid: u32, name: &str) -> SessionFacts {
        let xdg = env.var("XDG_RUNTIME_DIR").map(PathBuf::from);
        let problem = xdg
            .as_ref()
            .and_then(|d| config::usable_runtime_base(d, uid).err())
            .map(|e| e.to_string());
        let bus_socket = PathBuf::from(format!("/run/user/{uid}/bus"));
        let user_bus = env
            .var("DBUS_SESSION_BUS_ADDRESS")
            .map(|a| a.to_string_lossy().into_owned())
            .or_else(|| {
                use std::os::unix::fs::FileTypeExt;
                std::fs::symlink_metadata(&bus_socket)
                    .is_ok_and(|m| m.file_type().is_socket())
                    .then(|| bus_socket.display().to_string())
            });
        SessionFacts {
            xdg_runtime_dir: xdg,
            xdg_runtime_dir_problem: problem,
            user_bus,
            linger: Path::new("/var/lib/systemd/linger").join(name).exists(),
        }
    }
}

impl StorageFacts {
    fn gather(env: &Env, fs: &dyn FsProbe) -> StorageFacts {
        let mut facts = StorageFacts {
            config_file: None,
            config_error: None,
            root: None,
            probed: None,
            filesystem: None,
            network_fs: false,
            allow_network_fs: false,
            refused: None,
            warning: None,
            unsafe_root: None,
            runtime_dir: None,
            runtime_note: None,
            runtime_error: None,
            notes: Vec::new(),
        };
        let (config, paths) = match config::load_with(env) {
            Ok(loaded) => loaded,
            Err(e @ ConfigError::RuntimeDir { .. }) => {
                facts.runtime_error = Some(e.to_string());
                return facts;
            }
            Err(e) => {
                facts.config_error = Some(e.one_line());
                return facts;
            }
        };
        facts.config_file = Some(paths.config_file.clone());
        facts.root = Some(paths.storage.clone());
        facts.allow_network_fs = config.storage.allow_network_fs;
        facts.runtime_dir = Some(paths.runtime.clone());
        let (fallback, other): (Vec<_>, Vec<_>) = paths
            .notes
            .iter()
            .cloned()
            .partition(|n| n.contains("XDG_RUNTIME_DIR"));
        facts.runtime_note = fallback.into_iter().next();
        facts.notes = other;
        match config::storage_fs_with(fs, &paths.storage) {
            Ok((probed, magic)) => {
                facts.probed = Some(probed);
                facts.filesystem = Some(config::fs_name(magic));
                facts.network_fs = config::network_fs_name(magic).is_some();
            }
            Err(e) => facts.warning = Some(e.to_string()),
        }
        if let Err(e) = config::check_storage_owner(&paths, env.uid()) {
            facts.unsafe_root = Some(e.to_string());
        }
        match config::check_storage_fs_with(fs, &config, &paths) {
            Ok(warning) => facts.warning = facts.warning.take().or(warning),
            Err(e) => facts.refused = Some(e.to_string()),
        }
        facts
    }
}

/// The storage root if it exists, else its nearest existing parent: the
/// overlay test belongs on the filesystem that will hold upper dirs.
fn overlay_scratch_parent(storage: &StorageFacts) -> PathBuf {
    storage
        .root
        .as_ref()
        .and_then(|root| root.ancestors().find(|p| p.is_dir()))
        .filter(|p| rustix::fs::access(*p, rustix::fs::Access::WRITE_OK).is_ok())
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// burrow works around it, with less (no limits, slower storage...).
    Warn,
    /// burrow cannot run containers until it is fixed.
    Fail,
}

/// One line of `burrow doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub fact: String,
    /// The command or setting that fixes it, for warn and fail.
    pub fix: Option<String>,
}

fn ok(name: &'static str, fact: String) -> Check {
    Check {
        name,
        status: Status::Ok,
        fact,
        fix: None,
    }
}

fn warn(name: &'static str, fact: String, fix: impl Into<Option<String>>) -> Check {
    Check {
        name,
        status: Status::Warn,
        fact,
        fix: fix.into(),
    }
}

fn fail(name: &'static str, fact: String, fix: String) -> Check {
    Check {
        name,
        status: Status::Fail,
        fact,
        fix: Some(fix),
    }
}

/// The cgroup v2 controllers burrow's limits use.
const WANTED_CONTROLLERS: [&str; 5] = ["cpu", "cpuset", "io", "memory", "pids"];

/// Judges the facts: one check per subject, in the order a person would
/// fix them.
pub fn evaluate(f: &Facts) -> Vec<Check> {
    let mut out = vec![kernel(f), user_namespaces(f)];
    out.extend(subids(f));
    out.extend(f.id_helpers.iter().map(|h| helper(f, h)));
    out.push(overlay(f));
    out.push(fuse(f));
    out.push(tun(f));
    out.push(nftables(f));
    out.push(cgroups(f));
    out.push(runtime_dir(f));
    out.extend(session(f));
    out.push(storage(f));
    out.push(ports(f));
    out.push(ping(f));
    out
}

/// A kernel feature with the release that brought it.
fn feature_text(f: &floor::Feature) -> String {
    format!("{} (Linux {}.{})", f.name, f.since.0, f.since.1)
}

fn kernel(f: &Facts) -> Check {
    let distro = f
        .host
        .distribution
        .as_deref()
        .unwrap_or("unknown distribution");
    let host = format!("Linux {} ({}), {distro}", f.host.kernel, f.host.arch);
    if let Err(below) = floor::check(&f.host.kernel) {
        return fail(
            "kernel",
            format!("{host}: {below}; containers cannot run here"),
            format!(
                "a kernel {} or later (RHEL 9 has 5.14, Ubuntu 22.04 5.15, Debian 11 5.10)",
                floor::floor_text()
            ),
        );
    }
    let around = worked_around(&f.host.kernel);
    if around.is_empty() {
        return ok("kernel", host);
    }
    ok(
        "kernel",
        format!("{host}; without {}", around.join("; without ")),
    )
}

/// The features kernel `release` lacks that burrow works around, each
/// with its way around.
fn worked_around(release: &str) -> Vec<String> {
    floor::degraded(release)
        .iter()
        .map(|feature| match feature.without {
            floor::Without::Fallback(how) => format!("{}: {how}", feature_text(feature)),
            floor::Without::Required => feature_text(feature),
        })
        .collect()
}

fn user_namespaces(f: &Facts) -> Check {
    let u = &f.userns;
    let Some(error) = &u.error else {
        let mut fact = String::from("unprivileged user namespaces work");
        if let Some(max) = &u.max_user_namespaces {
            fact.push_str(&format!(" (user.max_user_namespaces={max})"));
        }
        if u.apparmor_restrict_unprivileged_userns.as_deref() == Some("1") {
            fact.push_str("; AppArmor restricts them and allows burrow");
        }
        return ok("user namespaces", fact);
    };
    let fix = match u.blocked_by {
        Some(b) => b.fix(&f.burrow.executable),
        None => "an admin enables unprivileged user namespaces: a kernel built with \
                 CONFIG_USER_NS and the sysctl user.max_user_namespaces above 0"
            .into(),
    };
    // The error already carries the fix; the line keeps the first part.
    let fact = error.split("; ").next().unwrap_or(error).to_string();
    fail("user namespaces", fact, fix)
}

fn subids(f: &Facts) -> Vec<Check> {
    let s = &f.subids;
    let user = &f.user.name;
    let free = s.free_range;
    let range = format!(
        "{}-{}",
        free.start,
        free.start as u64 + free.count as u64 - 1
    );
    let fix = format!("sudo usermod --add-subuids {range} --add-subgids {range} {user}");
    let mut out = Vec::new();
    for (name, kind, ranges) in [
        ("subuid", IdKind::Uid, &s.uids),
        ("subgid", IdKind::Gid, &s.gids),
    ] {
        let from = s.source.describe(kind);
        let total: u64 = ranges.iter().map(|r| u64::from(r.count)).sum();
        let listed = ranges
            .iter()
            .map(|r| format!("{}-{}", r.start, r.start as u64 + r.count as u64 - 1))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(if let Some(e) = &s.error {
            warn(
                name,
                format!("cannot read the ranges for {user}: {e}"),
                None,
            )
        } else if ranges.is_empty() {
            warn(
                name,
                format!(
                    "no subordinate {}s for {user} in {from}: burrow runs with a single-id map \
                     (files of other owners in images become yours) and emulates root: chown, \
                     set*id, su, useradd and apt succeed and the owners asked for are written \
                     into commits, but stat inside shows you as every file's owner and there \
                     are no permission checks between users inside (every file is really yours); \
                     for the full model an admin adds a range",
                    if kind == IdKind::Uid { "uid" } else { "gid" }
                ),
                fix.clone(),
            )
        } else if total < 65536 {
            warn(
                name,
                format!(
                    "{user} has {total} subordinate ids ({listed}) in {from}: files owned by ids \
                     above {total} in images are squashed to root"
                ),
                fix.clone(),
            )
        } else {
            ok(name, format!("{user}: {total} ids ({listed}) in {from}"))
        });
    }
    out
}

fn helper(f: &Facts, h: &HelperFacts) -> Check {
    let name = h.program;
    let Some(path) = &h.path else {
        return warn(
            name,
            format!(
                "{name} is not installed: burrow runs with a single-id map and emulates root \
                 (chown, su, useradd and apt succeed and the owners asked for are written into \
                 commits, but every file is really yours: no permission checks between users \
                 inside)"
            ),
            install_command(&f.host.distribution_ids, "uidmap"),
        );
    };
    if h.setuid_root {
        ok(name, format!("{} is setuid root", path.display()))
    } else if h.has_needed_cap {
        ok(
            name,
            format!(
                "{} has file capabilities {}",
                path.display(),
                h.file_caps.as_deref().unwrap_or("")
            ),
        )
    } else {
        warn(
            name,
            format!(
                "{} is neither setuid root nor has {}: it cannot map subordinate ids, so burrow \
                 runs with a single-id map and emulates root (every file is really yours: no \
                 permission checks between users inside)",
                path.display(),
                h.needs
            ),
            format!("sudo setcap {}+ep {}", h.needs, path.display()),
        )
    }
}

fn overlay(f: &Facts) -> Check {
    let o = &f.overlay;
    let Some(error) = &o.error else {
        let how = o
            .api
            .map(|a| format!(", {}", a.describe()))
            .unwrap_or_default();
        return ok(
            "overlay",
            format!(
                "kernel overlayfs works in a user namespace (tried in {}): containers get the \
                 kernel-overlay driver{how}",
                o.tried_in.display()
            ),
        );
    };
    let fallback = if f.fuse_overlayfs.usable() {
        "burrow uses fuse-overlayfs, which is slower"
    } else {
        "without fuse-overlayfs burrow copies each container's layers, which is slow and uses disk"
    };
    let fix = if kernel_before(&f.host.kernel, (5, 11)) {
        "a kernel 5.11 or later, which allows overlayfs in user namespaces".to_string()
    } else {
        match &f.storage.config_file {
            Some(file) => format!(
                "set storage.root in {} to a directory on ext4, xfs or btrfs",
                file.display()
            ),
            None => "keep storage.root on ext4, xfs or btrfs".to_string(),
        }
    };
    warn(
        "overlay",
        format!(
            "kernel overlayfs failed in {}: {error}; {fallback}",
            o.tried_in.display()
        ),
        fix,
    )
}

fn fuse(f: &Facts) -> Check {
    let fo = &f.fuse_overlayfs;
    let kernel_works = f.overlay.error.is_none();
    match (&fo.program, &fo.dev_fuse_error) {
        (Some(p), None) => ok(
            "fuse-overlayfs",
            format!("{} and /dev/fuse are usable", p.display()),
        ),
        (None, _) if kernel_works => ok(
            "fuse-overlayfs",
            "not installed; not needed while kernel overlayfs works".into(),
        ),
        (None, _) => warn(
            "fuse-overlayfs",
            "not installed".into(),
            install_command(&f.host.distribution_ids, "fuse-overlayfs"),
        ),
        (Some(p), Some(e)) if kernel_works => ok(
            "fuse-overlayfs",
            format!(
                "{} is installed but /dev/fuse cannot be opened ({e}); not needed while kernel \
                 overlayfs works",
                p.display()
            ),
        ),
        (Some(_), Some(e)) => warn(
            "fuse-overlayfs",
            format!("/dev/fuse cannot be opened read-write: {e}"),
            "an admin runs `modprobe fuse` and makes /dev/fuse mode 0666".to_string(),
        ),
    }
}

fn tun(f: &Facts) -> Check {
    match &f.network.tun_error {
        None => ok(
            "/dev/net/tun",
            "opens read-write: containers can have their own network".into(),
        ),
        Some(e) => warn(
            "/dev/net/tun",
            format!("cannot be opened read-write ({e}): containers get no network of their own"),
            "an admin runs `modprobe tun` and makes /dev/net/tun mode 0666".to_string(),
        ),
    }
}

/// Whether user networks get their ports' filter (a container kept to its
/// own MAC and addresses), and what an admin does when they do not.
fn nftables(f: &Facts) -> Check {
    const NAME: &str = "nftables";
    let Some(e) = &f.network.nftables_error else {
        return ok(
            NAME,
            "a user namespace can filter its own network's ports (nftables, netdev ingress): \
             containers on user networks keep to their own MAC and addresses"
                .into(),
        );
    };
    if f.userns.error.is_some() {
        return warn(
            NAME,
            format!("not tried: no user namespace ({e})"),
            "fix user namespaces first (above)".to_string(),
        );
    }
    if f.network.nftables_absent {
        return warn(
            NAME,
            format!(
                "a user namespace gets no nftables here ({e}): user networks work, but their \
                 containers are not kept from claiming each other's addresses (MAC, IPv4, \
                 IPv6, ARP, neighbour advertisements); burrow says so once"
            ),
            "an admin loads the module, `sudo modprobe nf_tables`, and keeps it loaded at boot, \
             `echo nf_tables | sudo tee /etc/modules-load.d/nf_tables.conf` (and removes any \
             blacklist of it in /etc/modprobe.d); a kernel without the module needs \
             CONFIG_NF_TABLES and CONFIG_NF_TABLES_NETDEV"
                .to_string(),
        );
    }
    warn(
        NAME,
        format!(
            "the kernel refused burrow's port filter ({e}): containers cannot join user \
             networks (`--network NAME` fails with this error); the default network works"
        ),
        "not a missing module: report it with the output of `burrow info`".to_string(),
    )
}

fn cgroups(f: &Facts) -> Check {
    let c = &f.cgroup;
    let uid = f.user.uid;
    let name = "cgroups";
    match c.layout {
        Layout::Unified => {}
        Layout::Hybrid | Layout::Legacy => {
            return warn(
                name,
                format!(
                    "{}: containers run without resource limits (--memory, --cpus, --pids-limit) \
                     and see no /sys/fs/cgroup",
                    c.layout
                ),
                "an admin boots with systemd.unified_cgroup_hierarchy=1 on the kernel command \
                 line (cgroup v2)"
                    .to_string(),
            )
        }
        Layout::Missing => {
            return warn(
                name,
                "no cgroup filesystem at /sys/fs/cgroup: containers run without resource limits \
                 and see no /sys/fs/cgroup"
                    .into(),
                "an admin mounts cgroup2 at /sys/fs/cgroup".to_string(),
            )
        }
    }
    let delegated = c.delegated();
    let missing: Vec<&str> = WANTED_CONTROLLERS
        .iter()
        .copied()
        .filter(|w| !delegated.iter().any(|d| d == w))
        .collect();
    let dropin = format!(
        "an admin writes /etc/systemd/system/user@.service.d/delegate.conf with \
         `[Service]` and `Delegate={}`, then runs `systemctl daemon-reload` (and you log in again)",
        WANTED_CONTROLLERS.join(" ")
    );
    let own = c.own.as_ref().map(|g| g.path.as_str()).unwrap_or("?");
    if delegated.is_empty() {
        let fix = if f.host.systemd {
            format!(
                "log in through systemd-logind (ssh, a console, or `machinectl shell {}@`) so \
                 user@{uid}.service delegates a cgroup to you",
                f.user.name
            )
        } else {
            "an admin delegates a cgroup v2 subtree to you (chown it and its cgroup.procs, \
             cgroup.subtree_control)"
                .to_string()
        };
        return warn(
            name,
            format!(
                "cgroup v2, but no cgroup is delegated to you (yours is {own}): containers run \
                 without resource limits"
            ),
            fix,
        );
    }
    let list = delegated.join(" ");
    if missing.is_empty() {
        ok(
            name,
            format!(
                "cgroup v2; controllers delegated to you: {list}; containers see their own \
                 cgroup at /sys/fs/cgroup"
            ),
        )
    } else {
        warn(
            name,
            format!(
                "cgroup v2; controllers delegated to you: {list}; not {}, so limits that need \
                 them fail; containers see their own cgroup at /sys/fs/cgroup",
                missing.join(", ")
            ),
            dropin,
        )
    }
}

fn runtime_dir(f: &Facts) -> Check {
    let s = &f.storage;
    let name = "runtime dir";
    let login = format!(
        "log in as {0} directly (ssh, or `machinectl shell {0}@`) instead of su or sudo -u",
        f.user.name
    );
    if let Some(e) = &s.runtime_error {
        return fail(
            name,
            e.clone(),
            format!("remove what the message names, or {login}"),
        );
    }
    match (&s.runtime_note, &s.runtime_dir) {
        (Some(note), _) => warn(name, format!("{note} (private to you, mode 0700)"), login),
        (None, Some(dir)) => ok(name, format!("{} (XDG_RUNTIME_DIR, yours)", dir.display())),
        // The config did not load: the config line says why.
        (None, None) => warn(name, "unknown until the config loads".into(), None),
    }
}

fn session(f: &Facts) -> Vec<Check> {
    let name = &f.user.name;
    if !f.host.systemd {
        return vec![warn(
            "systemd session",
            "systemd is not the init system here (no /run/systemd/system): no user session, \
             no cgroup delegation from systemd, no linger"
                .into(),
            None,
        )];
    }
    let uid = f.user.uid;
    let session = match &f.session.user_bus {
        Some(bus) => ok("systemd session", format!("user bus at {bus}")),
        None => warn(
            "systemd session",
            format!(
                "no systemd user session (no DBUS_SESSION_BUS_ADDRESS, no /run/user/{uid}/bus): \
                 burrow cannot ask systemd for a delegated cgroup"
            ),
            format!("log in as {name} through ssh or `machinectl shell {name}@`, not su"),
        ),
    };
    let linger = if f.session.linger {
        ok(
            "linger",
            format!("enabled for {name}: containers outlive your logins"),
        )
    } else {
        warn(
            "linger",
            format!(
                "not enabled for {name}: containers started with -d stop when your last \
                 session ends"
            ),
            format!("loginctl enable-linger {name}"),
        )
    };
    vec![session, linger]
}

fn storage(f: &Facts) -> Check {
    let s = &f.storage;
    let name = "storage";
    if let Some(e) = &s.config_error {
        return fail(
            "config",
            e.clone(),
            "correct the key the message names, or move the file away to use the defaults".into(),
        );
    }
    let Some(root) = &s.root else {
        return warn(name, "unknown until the runtime dir is fixed".into(), None);
    };
    let file = s
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let fs = s.filesystem.as_deref().unwrap_or("an unknown filesystem");
    let local_fix = format!(
        "set `root = \"/var/tmp/{}/burrow\"` under [storage] in {file}",
        f.user.name
    );
    if let Some(refusal) = &s.unsafe_root {
        // The message ends with its own fix: suggesting another shared
        // place would repeat the mistake.
        let (fact, fix) = refusal.split_once("; ").unwrap_or((refusal, ""));
        return fail(name, fact.into(), fix.into());
    }
    if let Some(refusal) = &s.refused {
        return fail(
            name,
            refusal.split("; ").next().unwrap_or(refusal).into(),
            local_fix,
        );
    }
    if let Some(w) = &s.warning {
        return warn(name, w.clone(), local_fix);
    }
    if s.allow_network_fs && s.network_fs {
        return warn(
            name,
            format!(
                "{} is on {fs}, used because storage.allow_network_fs = true: overlay and locks \
                 may fail there",
                root.display()
            ),
            local_fix,
        );
    }
    let probed = match &s.probed {
        Some(p) if p != root => format!(" (checked at {}: it is not made yet)", p.display()),
        _ => String::new(),
    };
    ok(name, format!("{} on {fs}{probed}", root.display()))
}

fn ports(f: &Facts) -> Check {
    match f.network.ip_unprivileged_port_start {
        Some(0) => ok("ports", "you can publish any host port".into()),
        Some(start) => ok(
            "ports",
            format!(
                "you can publish host ports from {start} up (net.ipv4.ip_unprivileged_port_start); \
                 lower ones need an admin to lower that sysctl"
            ),
        ),
        None => ok(
            "ports",
            "this kernel has no net.ipv4.ip_unprivileged_port_start: host ports from 1024 up"
                .into(),
        ),
    }
}

fn ping(f: &Facts) -> Check {
    let gid = f.user.gid;
    match f.network.ping_group_range {
        Some((lo, hi)) if lo <= gid && gid <= hi => ok(
            "ping",
            format!("gid {gid} may ping (net.ipv4.ping_group_range={lo} {hi})"),
        ),
        Some((lo, hi)) => warn(
            "ping",
            format!(
                "net.ipv4.ping_group_range={lo} {hi} leaves out gid {gid}: ping fails in \
                 containers that share the host's network (their own network is not affected)"
            ),
            "sudo sysctl -w net.ipv4.ping_group_range='0 2147483647'".to_string(),
        ),
        None => ok("ping", "this kernel has no ping sockets setting".into()),
    }
}

/// The command that installs `what` (`uidmap` or `fuse-overlayfs`) on the
/// distribution with these os-release ids.
fn install_command(ids: &[String], what: &str) -> String {
    let has = |names: &[&str]| ids.iter().any(|i| names.contains(&i.as_str()));
    let uidmap = what == "uidmap";
    if has(&["debian", "ubuntu"]) {
        format!("sudo apt install {what}")
    } else if has(&["fedora", "rhel", "centos"]) {
        format!(
            "sudo dnf install {}",
            if uidmap { "shadow-utils" } else { what }
        )
    } else if has(&["arch"]) {
        format!("sudo pacman -S {}", if uidmap { "shadow" } else { what })
    } else if has(&["suse", "opensuse"]) {
        format!(
            "sudo zypper install {}",
            if uidmap { "shadow" } else { what }
        )
    } else if has(&["alpine"]) {
        format!(
            "sudo apk add {}",
            if uidmap { "shadow-uidmap" } else { what }
        )
    } else if uidmap {
        "install newuidmap and newgidmap (shadow's uidmap tools)".into()
    } else {
        "install fuse-overlayfs".into()
    }
}

/// Whether kernel release `release` (`6.1.0-18-amd64`) is older than
/// `(major, minor)`.
fn kernel_before(release: &str, want: (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) < want,
        _ => false,
    }
}

/// The checks that failed, by name, for the exit status.
pub fn failures(checks: &[Check]) -> Vec<&'static str> {
    checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Group;

    /// A host where everything works, as a systemd machine with full
    /// delegation would be.
    fn healthy() -> Facts {
        let group = |path: &str, owned| Group {
            path: path.into(),
            controllers: WANTED_CONTROLLERS.iter().map(|s| s.to_string()).collect(),
            subtree_control: vec![],
            owned,
        };
        Facts {
            burrow: BurrowFacts {
                version: "0.1.0".into(),
                executable: "/usr/bin/burrow".into(),
            },
            host: HostFacts {
                kernel: "6.8.0-45-generic".into(),
                arch: "x86_64".into(),
                distribution: Some("Ubuntu 24.04.1 LTS".into()),
                distribution_ids: vec!["ubuntu".into(), "debian".into()],
                systemd: true,
                kernel_floor: "5.6".into(),
                kernel_missing: vec![],
                kernel_worked_around: vec![],
            },
            user: UserFacts {
                name: "alice".into(),
                uid: 1000,
                gid: 1000,
            },
            userns: UsernsFacts {
                error: None,
                blocked_by: None,
                max_user_namespaces: Some("63000".into()),
                unprivileged_userns_clone: None,
                apparmor_restrict_unprivileged_userns: Some("0".into()),
            },
            subids: SubidFacts {
                source: SubidSource::Files,
                uids: vec![SubidRange {
                    start: 100000,
                    count: 65536,
                }],
                gids: vec![SubidRange {
                    start: 100000,
                    count: 65536,
                }],
                error: None,
                free_range: SubidRange {
                    start: 165536,
                    count: 65536,
                },
            },
            id_helpers: ["newuidmap", "newgidmap"]
                .into_iter()
                .map(|p| HelperFacts {
                    program: p,
                    path: Some(PathBuf::from("/usr/bin").join(p)),
                    setuid_root: true,
                    file_caps: None,
                    needs: "cap_setuid",
                    has_needed_cap: false,
                })
                .collect(),
            overlay: OverlayFacts {
                tried_in: "/home/alice/.local/share/burrow/storage".into(),
                api: Some(OverlayApi::OptionString),
                error: None,
                driver: RootfsDriver::KernelOverlay,
            },
            fuse_overlayfs: FuseFacts {
                program: Some("/usr/bin/fuse-overlayfs".into()),
                dev_fuse_error: None,
            },
            cgroup: CgroupFacts {
                layout: Layout::Unified,
                own: Some(group("/user.slice/user-1000.slice/session-2.scope", false)),
                user_service: Some(group("/user.slice/user-1000.slice/user@1000.service", true)),
            },
            session: SessionFacts {
                xdg_runtime_dir: Some("/run/user/1000".into()),
                xdg_runtime_dir_problem: None,
                user_bus: Some("unix:path=/run/user/1000/bus".into()),
                linger: true,
            },
            storage: StorageFacts {
                config_file: Some("/home/alice/.config/burrow/config.toml".into()),
                config_error: None,
                root: Some("/home/alice/.local/share/burrow/storage".into()),
                probed: Some("/home/alice/.local/share/burrow/storage".into()),
                filesystem: Some("ext4".into()),
                network_fs: false,
                allow_network_fs: false,
                refused: None,
                warning: None,
                unsafe_root: None,
                runtime_dir: Some("/run/user/1000/burrow".into()),
                runtime_note: None,
                runtime_error: None,
                notes: vec![],
            },
            network: NetFacts {
                tun_error: None,
                ip_unprivileged_port_start: Some(1024),
                ping_group_range: Some((0, 2147483647)),
                nftables_error: None,
                nftables_absent: false,
            },
        }
    }

    fn check<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name} in {checks:#?}"))
    }

    #[test]
    fn a_healthy_host_is_all_ok() {
        let checks = evaluate(&healthy());
        let not_ok: Vec<_> = checks.iter().filter(|c| c.status != Status::Ok).collect();
        assert!(not_ok.is_empty(), "{not_ok:#?}");
        assert!(failures(&checks).is_empty());
        assert_eq!(
            check(&checks, "kernel").fact,
            "Linux 6.8.0-45-generic (x86_64), Ubuntu 24.04.1 LTS"
        );
    }

    #[test]
    fn a_kernel_below_the_floor_fails_naming_what_it_lacks() {
        let mut f = healthy();
        f.host.kernel = "4.18.0-553.el8_10.x86_64".into();
        let checks = evaluate(&f);
        let k = check(&checks, "kernel");
        assert_eq!(k.status, Status::Fail);
        assert!(k.fact.contains("older than 5.6"), "{}", k.fact);
        assert!(
            k.fact.contains("openat2 with RESOLVE_IN_ROOT (Linux 5.6)"),
            "{}",
            k.fact
        );
        assert!(k.fix.as_deref().unwrap().contains("5.6 or later"));
        assert_eq!(failures(&checks), ["kernel"]);
        // Above the floor, what is worked around is said, and passes.
        f.host.kernel = "5.10.0-32-amd64".into();
        let k = evaluate(&f)
            .into_iter()
            .find(|c| c.name == "kernel")
            .unwrap();
        assert_eq!(k.status, Status::Ok);
        assert!(
            k.fact
                .contains("without mount_setattr (Linux 5.12): a read-only bind remount"),
            "{}",
            k.fact
        );
    }

    #[test]
    fn apparmor_blocked_userns_fails_with_the_profile() {
        let mut f = healthy();
        f.userns.error = Some(
            "cannot create a user namespace: EACCES: Permission denied; unprivileged user \
             namespaces are disabled here: ..."
                .into(),
        );
        f.userns.blocked_by = Some(UsernsBlocker::AppArmor);
        let checks = evaluate(&f);
        let c = check(&checks, "user namespaces");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.fact,
            "cannot create a user namespace: EACCES: Permission denied"
        );
        let fix = c.fix.as_deref().unwrap();
        assert!(
            fix.contains("sudo apparmor_parser -r /etc/apparmor.d/burrow"),
            "{fix}"
        );
        assert!(
            fix.contains("profile burrow /usr/bin/burrow flags=(unconfined)"),
            "{fix}"
        );
        assert_eq!(failures(&checks), ["user namespaces"]);
    }

    #[test]
    fn missing_or_small_subid_ranges_warn_with_a_free_range() {
        let mut f = healthy();
        f.subids.uids.clear();
        f.subids.gids[0].count = 1000;
        let checks = evaluate(&f);
        let uid = check(&checks, "subuid");
        assert_eq!(uid.status, Status::Warn);
        assert!(uid
            .fact
            .starts_with("no subordinate uids for alice in /etc/subuid"));
        assert_eq!(
            uid.fix.as_deref(),
            Some("sudo usermod --add-subuids 165536-231071 --add-subgids 165536-231071 alice")
        );
        let gid = check(&checks, "subgid");
        assert_eq!(gid.status, Status::Warn);
        assert!(
            gid.fact.contains("1000 subordinate ids (100000-100999)"),
            "{}",
            gid.fact
        );
        assert!(failures(&checks).is_empty(), "a single-id map still runs");
    }

    #[test]
    fn helpers_without_setuid_or_caps_warn_with_setcap() {
        let mut f = healthy();
        f.id_helpers[0].setuid_root = false;
        f.id_helpers[1].path = None;
        let checks = evaluate(&f);
        assert_eq!(
            check(&checks, "newuidmap").fix.as_deref(),
            Some("sudo setcap cap_setuid+ep /usr/bin/newuidmap")
        );
        assert_eq!(
            check(&checks, "newgidmap").fix.as_deref(),
            Some("sudo apt install uidmap")
        );
    }

    #[test]
    fn storage_on_nfs_fails_naming_the_key_and_a_local_path() {
        // The real load and storage check, with statfs reporting NFS.
        struct Nfs;
        impl FsProbe for Nfs {
            fn magic(&self, path: &Path) -> std::io::Result<u32> {
                std::fs::symlink_metadata(path)?;
                Ok(0x6969)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let run = dir.path().join("run");
        std::fs::create_dir(&home).unwrap();
        std::fs::create_dir(&run).unwrap();
        let env = Env::new(rustix::process::geteuid().as_raw(), Some(home.clone()))
            .with_var("XDG_RUNTIME_DIR", &run)
            .with_tmp(dir.path());
        let mut f = healthy();
        f.storage = StorageFacts::gather(&env, &Nfs);
        assert_eq!(f.storage.filesystem.as_deref(), Some("NFS"));
        let checks = evaluate(&f);
        let c = check(&checks, "storage");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.fact,
            format!(
                "storage root {} is on NFS, a network filesystem that cannot hold overlay upper \
                 directories or lock reliably (found at {}, its nearest existing parent)",
                home.join(".local/share/burrow/storage").display(),
                home.display()
            )
        );
        assert_eq!(
            c.fix.as_deref(),
            Some(
                format!(
                    "set `root = \"/var/tmp/alice/burrow\"` under [storage] in {}",
                    home.join(".config/burrow/config.toml").display()
                )
                .as_str()
            )
        );
        assert_eq!(failures(&checks), ["storage"]);

        // Allowed in the config: used, with a warning.
        let cfg = home.join(".config/burrow");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(
            cfg.join("config.toml"),
            "[storage]\nallow_network_fs = true\n",
        )
        .unwrap();
        f.storage = StorageFacts::gather(&env, &Nfs);
        let checks = evaluate(&f);
        let c = check(&checks, "storage");
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c
            .fact
            .contains("used because storage.allow_network_fs = true"));
    }

    #[test]
    fn an_invalid_config_fails_and_a_missing_runtime_dir_warns() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let cfg = home.join(".config/burrow");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("config.toml"), "[storage]\nrooot = 1\n").unwrap();
        let env =
            Env::new(rustix::process::geteuid().as_raw(), Some(home.clone())).with_tmp(dir.path());
        let mut f = healthy();
        f.storage = StorageFacts::gather(&env, &Statfs);
        let checks = evaluate(&f);
        let c = check(&checks, "config");
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.fact
                .contains("config.toml:2:1: storage.rooot: unknown field"),
            "{}",
            c.fact
        );

        std::fs::remove_file(cfg.join("config.toml")).unwrap();
        f.storage = StorageFacts::gather(&env, &Statfs);
        let checks = evaluate(&f);
        let c = check(&checks, "runtime dir");
        assert_eq!(c.status, Status::Warn);
        let uid = rustix::process::geteuid().as_raw();
        assert!(
            c.fact.starts_with(&format!(
                "XDG_RUNTIME_DIR is not set; using {}",
                dir.path().join(format!("burrow-{uid}")).display()
            )),
            "{}",
            c.fact
        );
        assert!(c
            .fix
            .as_deref()
            .unwrap()
            .contains("machinectl shell alice@"));
        assert!(failures(&checks).is_empty());
    }

    #[test]
    fn cgroup_layouts_and_missing_controllers() {
        let mut f = healthy();
        f.cgroup.user_service.as_mut().unwrap().controllers =
            vec!["cpu".into(), "memory".into(), "pids".into()];
        let checks = evaluate(&f);
        let c = check(&checks, "cgroups");
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.fact
                .contains("not cpuset, io, so limits that need them fail; containers see"),
            "{}",
            c.fact
        );
        assert!(c
            .fix
            .as_deref()
            .unwrap()
            .contains("Delegate=cpu cpuset io memory pids"));

        f.cgroup.user_service = None;
        let checks = evaluate(&f);
        assert!(check(&checks, "cgroups")
            .fact
            .contains("no cgroup is delegated to you"));

        f.cgroup.layout = Layout::Hybrid;
        let checks = evaluate(&f);
        let c = check(&checks, "cgroups");
        assert!(c.fact.starts_with("hybrid"), "{}", c.fact);
        assert!(c.fact.ends_with("and see no /sys/fs/cgroup"), "{}", c.fact);
        assert!(c
            .fix
            .as_deref()
            .unwrap()
            .contains("systemd.unified_cgroup_hierarchy=1"));
    }

    #[test]
    fn overlay_failure_falls_back_and_says_which() {
        let mut f = healthy();
        f.overlay.error = Some("mount -t overlay -o userxattr: EINVAL".into());
        let checks = evaluate(&f);
        let c = check(&checks, "overlay");
        assert_eq!(c.status, Status::Warn);
        assert!(c
            .fact
            .ends_with("burrow uses fuse-overlayfs, which is slower"));
        f.fuse_overlayfs.program = None;
        f.host.kernel = "5.10.0-30-amd64".into();
        let checks = evaluate(&f);
        assert!(check(&checks, "overlay")
            .fact
            .contains("copies each container's layers"));
        assert!(check(&checks, "overlay")
            .fix
            .as_deref()
            .unwrap()
            .contains("5.11"));
        assert_eq!(check(&checks, "fuse-overlayfs").status, Status::Warn);
    }

    #[test]
    fn overlay_says_which_driver_and_which_way_this_kernel_takes_layers() {
        let f = healthy();
        let checks = evaluate(&f);
        let c = check(&checks, "overlay");
        assert_eq!(c.status, Status::Ok);
        assert!(
            c.fact
                .contains("kernel-overlay driver, layers named in a mount(2) option string"),
            "{}",
            c.fact
        );
        let fuse = FuseFacts {
            program: Some("/usr/bin/fuse-overlayfs".into()),
            dev_fuse_error: None,
        };
        let o = OverlayFacts::of("/s".into(), Err("EPERM".into()), &fuse);
        assert_eq!((o.driver, o.api), (RootfsDriver::FuseOverlayfs, None));
        let no_fuse = FuseFacts {
            program: None,
            dev_fuse_error: None,
        };
        let o = OverlayFacts::of("/s".into(), Err("EPERM".into()), &no_fuse);
        assert_eq!(o.driver, RootfsDriver::Copy);
        let o = OverlayFacts::of("/s".into(), Ok(OverlayApi::LowerdirPlus), &no_fuse);
        assert_eq!(o.driver, RootfsDriver::KernelOverlay);
    }

    #[test]
    fn no_systemd_is_one_line_and_ping_range_is_checked() {
        let mut f = healthy();
        f.host.systemd = false;
        f.network.ping_group_range = Some((1, 0));
        let checks = evaluate(&f);
        assert!(checks.iter().all(|c| c.name != "linger"));
        assert_eq!(check(&checks, "systemd session").status, Status::Warn);
        let p = check(&checks, "ping");
        assert_eq!(p.status, Status::Warn);
        assert!(p.fact.contains("leaves out gid 1000"));
    }

    #[test]
    fn no_nftables_warns_with_modprobe_and_a_refusal_is_told_apart() {
        let mut f = healthy();
        assert_eq!(check(&evaluate(&f), "nftables").status, Status::Ok);
        f.network.nftables_error =
            Some("netlink apply the netfilter batch: Operation not supported (os error 95)".into());
        f.network.nftables_absent = true;
        let checks = evaluate(&f);
        let c = check(&checks, "nftables");
        assert_eq!(c.status, Status::Warn);
        assert!(c
            .fact
            .contains("not kept from claiming each other's addresses"));
        assert!(c.fact.contains("Operation not supported"));
        let fix = c.fix.as_deref().unwrap();
        assert!(fix.contains("sudo modprobe nf_tables"), "{fix}");
        assert!(fix.contains("/etc/modules-load.d/"), "{fix}");
        assert!(failures(&checks).is_empty());
        // Refused for another reason: joins fail, and the fix says it is
        // not the module.
        f.network.nftables_absent = false;
        let c = check(&evaluate(&f), "nftables").clone();
        assert!(c.fact.contains("cannot join user networks"), "{c:?}");
        assert!(!c.fix.unwrap().contains("modprobe"));
        // No user namespace: not tried, and the fix points there.
        f.userns.error = Some("EPERM".into());
        let c = check(&evaluate(&f), "nftables").clone();
        assert!(c.fact.starts_with("not tried"), "{c:?}");
    }

    #[test]
    fn os_release_and_kernel_versions_parse() {
        let os = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n# c\nID_LIKE='rhel fedora'\n",
        );
        assert_eq!(os[0].1, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(os[2], ("ID_LIKE".to_string(), "rhel fedora".to_string()));
        assert!(kernel_before("5.10.0-30-amd64", (5, 11)));
        assert!(!kernel_before("6.1.0", (5, 11)));
        assert!(!kernel_before("junk", (5, 11)));
    }

    #[test]
    fn gather_reports_this_host() {
        // A private /tmp, in case the runtime dir falls back to it.
        let tmp = tempfile::tempdir().unwrap();
        let f = Facts::gather_with(&Env::from_process().with_tmp(tmp.path()), &Statfs);
        let uname = rustix::system::uname();
        assert_eq!(f.host.kernel, uname.release().to_string_lossy());
        // The test machine has unprivileged user namespaces and overlay.
        assert_eq!(f.userns.error, None);
        assert_eq!(
            f.overlay.error,
            None,
            "tried in {}",
            f.overlay.tried_in.display()
        );
        // 6.18: fsconfig lowerdir+.
        assert_eq!(f.overlay.api, Some(OverlayApi::LowerdirPlus));
        let checks = evaluate(&f);
        assert_eq!(check(&checks, "user namespaces").status, Status::Ok);
        // This kernel has nftables built in (the networks tests' filters).
        assert_eq!(f.network.nftables_error, None);
    }
}
