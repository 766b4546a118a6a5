//! User namespaces and id maps: who burrow is inside (root) and which host
//! ids stand behind the ids inside. Reads /etc/subuid and /etc/subgid,
//! writes maps with newuidmap/newgidmap, or a single-id map without them.
//! Never needs privileges of its own.

use crate::forked::{self, Fork, ForkError};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{Gid, Pid, Uid, User};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("cannot read {path}: {source}")]
    ReadSubid {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create a user namespace: {0}{hint}", hint = userns_hint(*.0))]
    Unshare(nix::Error),
    #[error("{program} failed for pid {pid}: {detail}")]
    MapHelper {
        program: &'static str,
        pid: i32,
        detail: String,
    },
    #[error(
        "writing the single-id map of the user namespace ({file}): {source}{hint}",
        hint = restricted_hint(source.raw_os_error().map(nix::Error::from_raw))
    )]
    WriteMap {
        file: &'static str,
        source: std::io::Error,
    },
    #[error("{call} failed: {source}")]
    Sys {
        call: &'static str,
        source: nix::Error,
    },
    #[error("cannot run getsubids for {user}: {detail}")]
    Getsubids { user: String, detail: String },
    #[error(transparent)]
    Helper(#[from] ForkError),
    #[error(transparent)]
    Probe(#[from] ProbeStep),
}

fn userns_hint(err: nix::Error) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/bin/burrow"));
    unshare_hint(err, &read_sysctl, &exe)
}

/// The setting that keeps unprivileged users from creating user
/// namespaces on this host, from the sysctls that control it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsernsBlocker {
    /// Ubuntu 23.10 and later: `kernel.apparmor_restrict_unprivileged_userns=1`.
    AppArmor,
    /// `user.max_user_namespaces=0`.
    MaxUserNamespaces,
    /// Debian's and Arch's older `kernel.unprivileged_userns_clone=0`.
    UnprivilegedClone,
}

impl UsernsBlocker {
    /// Which setting blocks user namespaces, reading sysctls (by their
    /// dotted names) through `sysctl`.
    pub fn find(sysctl: &dyn Fn(&str) -> Option<String>) -> Option<UsernsBlocker> {
        if sysctl("kernel.apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
            Some(UsernsBlocker::AppArmor)
        } else if sysctl("user.max_user_namespaces").as_deref() == Some("0") {
            Some(UsernsBlocker::MaxUserNamespaces)
        } else if sysctl("kernel.unprivileged_userns_clone").as_deref() == Some("0") {
            Some(UsernsBlocker::UnprivilegedClone)
        } else {
            None
        }
    }

    /// What an admin does about it, for burrow installed at `exe`.
    pub fn fix(self, exe: &Path) -> String {
        match self {
            UsernsBlocker::AppArmor => format!(
                "an admin installs this AppArmor profile as /etc/apparmor.d/burrow and loads it \
                 with `sudo apparmor_parser -r /etc/apparmor.d/burrow` (burrow's packages ship \
                 it), or sets the sysctl kernel.apparmor_restrict_unprivileged_userns=0, which \
                 lifts the restriction for every program:\n\n{}",
                apparmor_profile(exe)
            ),
            UsernsBlocker::MaxUserNamespaces => "an admin sets the sysctl \
                user.max_user_namespaces to a value above 0 (`sudo sysctl -w \
                user.max_user_namespaces=28633`, and the same line in /etc/sysctl.d/ to keep it)"
                .into(),
            UsernsBlocker::UnprivilegedClone => "an admin sets the sysctl \
                kernel.unprivileged_userns_clone=1 (`sudo sysctl -w \
                kernel.unprivileged_userns_clone=1`, and the same line in /etc/sysctl.d/ to keep it)"
                .into(),
        }
    }

    /// The sysctl and its value, as the user sees it.
    pub fn setting(self) -> &'static str {
        match self {
            UsernsBlocker::AppArmor => {
                "AppArmor restricts them (kernel.apparmor_restrict_unprivileged_userns=1)"
            }
            UsernsBlocker::MaxUserNamespaces => "user.max_user_namespaces=0",
            UsernsBlocker::UnprivilegedClone => "kernel.unprivileged_userns_clone=0",
        }
    }
}

/// The hint after a failed `unshare(CLONE_NEWUSER)`: the setting that
/// blocks it and its fix. `sysctl` reads a sysctl by its dotted name; `exe`
/// is the burrow binary an AppArmor profile must name.
pub fn unshare_hint(
    err: nix::Error,
    sysctl: &dyn Fn(&str) -> Option<String>,
    exe: &Path,
) -> String {
    match err {
        nix::Error::EINVAL => " (the process has threads; burrow forks before starting any)".into(),
        nix::Error::EPERM | nix::Error::ENOSPC | nix::Error::EACCES => {
            let mut hint = String::from("; unprivileged user namespaces are disabled here");
            if let Some(blocker) = UsernsBlocker::find(sysctl) {
                hint.push_str(&format!(": {}; {}", blocker.setting(), blocker.fix(exe)));
            }
            hint
        }
        _ => String::new(),
    }
}

/// The AppArmor profile that lets burrow at `exe` create user namespaces
/// and confines nothing else. `packaging/apparmor/burrow` is this profile
/// for `/usr/bin/burrow`.
pub fn apparmor_profile(exe: &Path) -> String {
    let exe = exe.to_string_lossy();
    let exe = if exe.contains(|c: char| c.is_whitespace() || c == '"') {
        format!("\"{}\"", exe.replace('"', "\\\""))
    } else {
        exe.into_owned()
    };
    format!(
        "# burrow creates user namespaces without privileges of its own. Where\n\
         # kernel.apparmor_restrict_unprivileged_userns=1 (Ubuntu 23.10 and later)\n\
         # this profile allows it, and confines nothing else.\n\
         # Install as /etc/apparmor.d/burrow, then: sudo apparmor_parser -r /etc/apparmor.d/burrow\n\
         \n\
         abi <abi/4.0>,\n\
         include <tunables/global>\n\
         \n\
         profile burrow {exe} flags=(unconfined) {{\n\
         \x20 userns,\n\
         \n\
         \x20 # Site-specific additions and overrides. See local/README for details.\n\
         \x20 include if exists <local/burrow>\n\
         }}\n"
    )
}

/// After an EPERM or EACCES inside a new user namespace: the AppArmor fix
/// when AppArmor's restriction is on (it lets `unshare` succeed and then
/// denies the namespace its capabilities), else nothing.
pub fn restricted_hint(err: Option<nix::Error>) -> String {
    if !matches!(err, Some(nix::Error::EPERM | nix::Error::EACCES)) {
        return String::new();
    }
    match UsernsBlocker::find(&read_sysctl) {
        Some(b @ UsernsBlocker::AppArmor) => {
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/bin/burrow"));
            format!("; {}; {}", b.setting(), b.fix(&exe))
        }
        _ => String::new(),
    }
}

/// A sysctl by its dotted name (`user.max_user_namespaces`), trimmed;
/// `None` where this kernel has no such sysctl.
pub fn read_sysctl(name: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// One line of a uid_map or gid_map: `count` ids from `inside` onward are
/// host ids from `outside` onward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The uid and gid maps of a user namespace burrow creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

/// Why burrow fell back to a single-id map, for the one warning it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleMapReason {
    NoSubuid { user: String },
    NoSubgid { user: String },
    NoHelper { program: &'static str },
}

impl std::fmt::Display for SingleMapReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SingleMapReason::NoSubuid { user } => write!(
                f,
                "no subordinate uid range for {user} in /etc/subuid; burrow runs with a single-id map \
                 (files owned by other ids are squashed to root); ask an admin for \
                 `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}`"
            ),
            SingleMapReason::NoSubgid { user } => write!(
                f,
                "no subordinate gid range for {user} in /etc/subgid; burrow runs with a single-id map \
                 (files owned by other ids are squashed to root); ask an admin for \
                 `usermod --add-subgids 100000-165535 {user}`"
            ),
            SingleMapReason::NoHelper { program } => write!(
                f,
                "{program} not found; burrow runs with a single-id map (files owned by other ids \
                 are squashed to root); install the `uidmap` package for full id maps"
            ),
        }
    }
}

impl IdMap {
    /// You are root inside, and nobody else exists.
    pub fn single(uid: u32, gid: u32) -> IdMap {
        IdMap {
            uids: vec![IdRange {
                inside: 0,
                outside: uid,
                count: 1,
            }],
            gids: vec![IdRange {
                inside: 0,
                outside: gid,
                count: 1,
            }],
        }
    }

    /// The map for the user running burrow: uid 0 inside is you, 1..=N are
    /// your subordinate ids. Falls back to the single-id map, with the
    /// reason, when ranges or helpers are missing.
    pub fn for_current_user() -> Result<(IdMap, Option<SingleMapReason>), UsernsError> {
        let uid = Uid::current().as_raw();
        let gid = Gid::current().as_raw();
        let name = current_user_name();
        let source = SubidSource::of_system();
        let uranges = source.ranges(IdKind::Uid, &name, uid)?;
        let granges = source.ranges(IdKind::Gid, &name, uid)?;
        Self::from_ranges(uid, gid, &name, uranges, granges, find_program)
    }

    #[cfg(test)]
    fn from_files(
        uid: u32,
        gid: u32,
        name: &str,
        subuid: &Path,
        subgid: &Path,
        find: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<(IdMap, Option<SingleMapReason>), UsernsError> {
        let uranges = read_subid(subuid, name, uid)?;
        let granges = read_subid(subgid, name, uid)?;
        Self::from_ranges(uid, gid, name, uranges, granges, find)
    }

    fn from_ranges(
        uid: u32,
        gid: u32,
        name: &str,
        uranges: Vec<SubidRange>,
        granges: Vec<SubidRange>,
        find: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<(IdMap, Option<SingleMapReason>), UsernsError> {
        let single = |reason| Ok((IdMap::single(uid, gid), Some(reason)));
        if uranges.is_empty() {
            return single(SingleMapReason::NoSubuid { user: name.into() });
        }
        if granges.is_empty() {
            return single(SingleMapReason::NoSubgid { user: name.into() });
        }
        for program in ["newuidmap", "newgidmap"] {
            if find(program).is_none() {
                return single(SingleMapReason::NoHelper { program });
            }
        }
        let stack = |own: u32, ranges: Vec<SubidRange>| {
            let mut out = vec![IdRange {
                inside: 0,
                outside: own,
                count: 1,
            }];
            let mut next = 1u32;
            for r in ranges {
                out.push(IdRange {
                    inside: next,
                    outside: r.start,
                    count: r.count,
                });
                next = next.saturating_add(r.count);
            }
            out
        };
        Ok((
            IdMap {
                uids: stack(uid, uranges),
                gids: stack(gid, granges),
            },
            None,
        ))
    }

    pub fn is_single(&self) -> bool {
        self.uids.len() == 1 && self.uids[0].count == 1
    }

    /// Host uid behind `inside`, if mapped.
    pub fn host_uid(&self, inside: u32) -> Option<u32> {
        lookup(&self.uids, inside)
    }

    pub fn host_gid(&self, inside: u32) -> Option<u32> {
        lookup(&self.gids, inside)
    }
}

fn lookup(ranges: &[IdRange], inside: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| inside >= r.inside && inside - r.inside < r.count)
        .map(|r| r.outside + (inside - r.inside))
}

/// The name of the user running burrow, or its uid when it has no passwd
/// entry.
pub fn current_user_name() -> String {
    User::from_uid(Uid::current())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| Uid::current().as_raw().to_string())
}

/// A subordinate id range: `count` ids from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubidRange {
    pub start: u32,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Uid,
    Gid,
}

/// Where newuidmap and newgidmap find subordinate ranges: /etc/subuid and
/// /etc/subgid, or the NSS module on the `subid:` line of
/// /etc/nsswitch.conf (sss, ldap...), which `getsubids` queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubidSource {
    Files,
    Nss { module: String },
}

impl SubidSource {
    /// This system's source, from /etc/nsswitch.conf.
    pub fn of_system() -> SubidSource {
        let text = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
        SubidSource::from_nsswitch(&text)
    }

    /// The source an nsswitch.conf names: shadow reads one module from the
    /// `subid:` line, and files when there is none.
    pub fn from_nsswitch(text: &str) -> SubidSource {
        let module = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter_map(|l| l.strip_prefix("subid:"))
            .filter_map(|rest| rest.split_whitespace().next())
            .next_back();
        match module {
            None | Some("files") => SubidSource::Files,
            Some(m) => SubidSource::Nss {
                module: m.to_string(),
            },
        }
    }

    /// The user's ranges of one kind, in the order newuidmap reads them.
    pub fn ranges(
        &self,
        kind: IdKind,
        name: &str,
        uid: u32,
    ) -> Result<Vec<SubidRange>, UsernsError> {
        match self {
            SubidSource::Files => read_subid(Path::new(self.file(kind)), name, uid),
            SubidSource::Nss { .. } => getsubids(kind, name),
        }
    }

    /// Where the ranges come from, for messages: `/etc/subuid`, or
    /// `getsubids (nsswitch subid: sss)`.
    pub fn describe(&self, kind: IdKind) -> String {
        match self {
            SubidSource::Files => self.file(kind).to_string(),
            SubidSource::Nss { module } => format!(
                "getsubids{} (nsswitch subid: {module})",
                if kind == IdKind::Gid { " -g" } else { "" }
            ),
        }
    }

    fn file(&self, kind: IdKind) -> &'static str {
        match kind {
            IdKind::Uid => "/etc/subuid",
            IdKind::Gid => "/etc/subgid",
        }
    }
}

/// Ranges from `getsubids [-g] NAME`, whose lines read `0: NAME START COUNT`.
fn getsubids(kind: IdKind, name: &str) -> Result<Vec<SubidRange>, UsernsError> {
    let mut cmd = Command::new("getsubids");
    if kind == IdKind::Gid {
        cmd.arg("-g");
    }
    let out = cmd.arg(name).output().map_err(|e| UsernsError::Getsubids {
        user: name.to_string(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        // getsubids fails for a user without ranges, as it does for an
        // unreachable directory: both mean no full map for now.
        return Ok(Vec::new());
    }
    Ok(parse_getsubids(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_getsubids(text: &str) -> Vec<SubidRange> {
    text.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(':')?;
            let mut f = rest.split_whitespace();
            let (_name, start, count) = (f.next()?, f.next()?, f.next()?);
            let (start, count) = (start.parse().ok()?, count.parse().ok()?);
            (count > 0).then_some(SubidRange { start, count })
        })
        .collect()
}

/// Ranges of /etc/subuid-style `file` for a user, by name or by uid, in
/// file order. A missing file means no ranges.
pub fn read_subid(file: &Path, name: &str, uid: u32) -> Result<Vec<SubidRange>, UsernsError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(UsernsError::ReadSubid {
                path: file.into(),
                source,
            })
        }
    };
    let uid_s = uid.to_string();
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut f = line.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            if who != name && who != uid_s {
                return None;
            }
            let (start, count) = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
            (count > 0).then_some(SubidRange { start, count })
        })
        .collect())
}

/// What makes newuidmap or newgidmap able to write another process's map:
/// setuid root, or the file capability it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelperFacts {
    pub program: &'static str,
    /// Where `which` finds it; `None` when it is not installed.
    pub path: Option<PathBuf>,
    pub setuid_root: bool,
    /// Its file capabilities as getcap shows them (`cap_setuid=ep`), if any.
    pub file_caps: Option<String>,
    /// The capability it needs when not setuid root.
    pub needs: &'static str,
    /// Whether the needed capability is in its permitted set.
    pub has_needed_cap: bool,
}

impl HelperFacts {
    /// newuidmap or newgidmap as found on PATH.
    pub fn of(program: &'static str) -> HelperFacts {
        HelperFacts::at(program, find_program(program))
    }

    fn at(program: &'static str, path: Option<PathBuf>) -> HelperFacts {
        use std::os::unix::fs::MetadataExt;
        let (needs, bit) = if program == "newgidmap" {
            ("cap_setgid", CAP_SETGID)
        } else {
            ("cap_setuid", CAP_SETUID)
        };
        let mut facts = HelperFacts {
            program,
            path: path.clone(),
            setuid_root: false,
            file_caps: None,
            needs,
            has_needed_cap: false,
        };
        let Some(path) = path else {
            return facts;
        };
        if let Ok(md) = std::fs::metadata(&path) {
            facts.setuid_root = md.uid() == 0 && md.mode() & 0o4000 != 0;
        }
        let mut buf = [0u8; 64];
        if let Ok(n) = rustix::fs::getxattr(&path, "security.capability", &mut buf[..]) {
            if let Some(caps) = FileCaps::parse(&buf[..n]) {
                facts.has_needed_cap = caps.permitted & (1 << bit) != 0;
                facts.file_caps = Some(caps.to_string());
            }
        }
        facts
    }

    /// Whether it can write maps of subordinate ids.
    pub fn usable(&self) -> bool {
        self.path.is_some() && (self.setuid_root || self.has_needed_cap)
    }
}

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

/// A `security.capability` extended attribute (struct vfs_cap_data, v1 to
/// v3): the permitted set and whether it is raised to effective at exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCaps {
    pub permitted: u64,
    pub effective: bool,
}

impl FileCaps {
    pub fn parse(raw: &[u8]) -> Option<FileCaps> {
        let word = |i: usize| -> Option<u32> {
            let b = raw.get(i * 4..i * 4 + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let magic = word(0)?;
        let effective = magic & 1 != 0;
        let permitted = match magic & 0xFF00_0000 {
            0x0100_0000 => u64::from(word(1)?),
            0x0200_0000 | 0x0300_0000 => u64::from(word(1)?) | u64::from(word(3)?) << 32,
            _ => return None,
        };
        Some(FileCaps {
            permitted,
            effective,
        })
    }
}

impl std::fmt::Display for FileCaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = (0..64)
            .filter(|bit| self.permitted & (1u64 << bit) != 0)
            .map(|bit| match super::caps::cap_name(bit) {
                Some(n) => format!("cap_{}", n.to_ascii_lowercase()),
                None => format!("cap_{bit}"),
            })
            .collect();
        write!(
            f,
            "{}={}",
            names.join(","),
            if self.effective { "ep" } else { "p" }
        )
    }
}

/// Tries what burrow does first on every run: a child process unshares a
/// user namespace, writes its single-id map and mounts a tmpfs in a new
/// mount namespace. The error carries the setting to change when the
/// kernel or AppArmor refuses. The caller must be single-threaded.
pub fn probe() -> Result<(), UsernsError> {
    use nix::mount::{mount, MsFlags};
    let map = IdMap::single(Uid::current().as_raw(), Gid::current().as_raw());
    run_in_userns(&map, || {
        let fail = |step: &str| {
            let step = step.to_string();
            move |e: nix::Error| ProbeStep {
                step,
                errno: e as i32,
            }
        };
        unshare(CloneFlags::CLONE_NEWNS).map_err(fail("unshare(CLONE_NEWNS)"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(fail("making / private in the new mount namespace"))?;
        // The tmpfs hides /tmp in this child's mount namespace only.
        mount(
            Some("tmpfs"),
            "/tmp",
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=64k"),
        )
        .map_err(fail("mounting a tmpfs in the new namespace"))?;
        Ok::<(), ProbeStep>(())
    })??;
    Ok(())
}

/// A step of `probe` that failed in the namespace, with its errno.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error(
    "{step}: {}{}",
    nix::Error::from_raw(*errno),
    restricted_hint(Some(nix::Error::from_raw(*errno)))
)]
pub struct ProbeStep {
    pub step: String,
    pub errno: i32,
}

/// `which`: the first executable `program` on PATH.
pub fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Writes `map` for process `pid`, which has just unshared its user
/// namespace. Called by the parent.
pub fn write_maps(map: &IdMap, pid: Pid) -> Result<(), UsernsError> {
    // The two set-uid helpers take a millisecond or more each to start and
    // do not depend on each other: they run side by side.
    let mut helpers = Vec::new();
    for (program, ranges) in [("newuidmap", &map.uids), ("newgidmap", &map.gids)] {
        let mut cmd = Command::new(program);
        cmd.arg(pid.as_raw().to_string());
        for r in ranges {
            cmd.args([
                r.inside.to_string(),
                r.outside.to_string(),
                r.count.to_string(),
            ]);
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        helpers.push((program, cmd.spawn()));
    }
    let mut first_error = None;
    for (program, spawned) in helpers {
        let failed = |detail: String| UsernsError::MapHelper {
            program,
            pid: pid.as_raw(),
            detail,
        };
        let outcome = match spawned.and_then(|child| child.wait_with_output()) {
            Err(e) => Err(failed(e.to_string())),
            Ok(out) if !out.status.success() => Err(failed(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            )),
            Ok(_) => Ok(()),
        };
        if let Err(e) = outcome {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Writes a single-id map from inside the new namespace: allowed without
/// helpers because it maps only our own ids (setgroups must be denied first).
pub fn write_own_single_map(map: &IdMap) -> Result<(), UsernsError> {
    let write = |file: &'static str, data: String| {
        std::fs::write(file, data).map_err(|source| UsernsError::WriteMap { file, source })
    };
    write("/proc/self/setgroups", "deny".into())?;
    let line = |r: &IdRange| format!("{} {} {}\n", r.inside, r.outside, r.count);
    write("/proc/self/uid_map", map.uids.iter().map(line).collect())?;
    write("/proc/self/gid_map", map.gids.iter().map(line).collect())?;
    Ok(())
}

/// A failure of the helper child on its way into the namespace, sent typed
/// across the fork and turned back into a `UsernsError` in the parent.
#[derive(Debug, Serialize, Deserialize)]
enum EnterFailure {
    Unshare {
        errno: i32,
    },
    WriteMap {
        file: MapFile,
        errno: Option<i32>,
        detail: String,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum MapFile {
    Setgroups,
    Uid,
    Gid,
}

impl MapFile {
    fn path(self) -> &'static str {
        match self {
            MapFile::Setgroups => "/proc/self/setgroups",
            MapFile::Uid => "/proc/self/uid_map",
            MapFile::Gid => "/proc/self/gid_map",
        }
    }

    fn of(path: &str) -> MapFile {
        match path {
            "/proc/self/uid_map" => MapFile::Uid,
            "/proc/self/gid_map" => MapFile::Gid,
            _ => MapFile::Setgroups,
        }
    }
}

impl From<EnterFailure> for UsernsError {
    fn from(e: EnterFailure) -> UsernsError {
        match e {
            EnterFailure::Unshare { errno } => UsernsError::Unshare(nix::Error::from_raw(errno)),
            EnterFailure::WriteMap {
                file,
                errno,
                detail,
            } => UsernsError::WriteMap {
                file: file.path(),
                source: match errno {
                    Some(n) => std::io::Error::from_raw_os_error(n),
                    None => std::io::Error::other(detail),
                },
            },
        }
    }
}

/// The helper's side of the conversation, and `f`'s answer.
#[derive(Debug, Serialize, Deserialize)]
enum Crossed<E> {
    /// The child could not enter the namespace.
    Entering(EnterFailure),
    /// The parent could not write the maps (the error stays there).
    Maps,
    Work(E),
}

/// The child has unshared and asks for its maps.
#[derive(Debug, Serialize, Deserialize)]
struct Unshared;

/// The parent wrote them.
#[derive(Debug, Serialize, Deserialize)]
struct MapsWritten;

/// Runs `f` in a forked child that is root of a new user namespace with
/// `map`, and returns what `f` returned, its error typed as `f` made it.
/// The outer error is the helper's own: the namespace could not be made or
/// mapped, or the child died. Work that creates or removes files owned by
/// mapped ids (unpacking and deleting layers) runs here.
///
/// The child is single-threaded (fork copies the calling thread only), so
/// it can enter the new namespace even when the caller has threads.
pub fn run_in_userns<T, E, F>(map: &IdMap, f: F) -> Result<Result<T, E>, UsernsError>
where
    T: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, E>,
{
    let mut maps_failed = None;
    let how = Fork {
        single_threaded: false,
        ..Fork::new("the user-namespace helper")
    };
    let out = forked::converse::<Unshared, T, Crossed<E>, _, _>(
        how,
        |parent| {
            enter(map).map_err(Crossed::Entering)?;
            // Without the parent's answer the maps are not there: the
            // child must not go on as nobody.
            parent
                .step(&Unshared, None)
                .and_then(|()| parent.reply::<MapsWritten>())
                .map_err(|_| Crossed::Maps)?;
            f().map_err(Crossed::Work)
        },
        |Unshared, _, child| {
            // A single-id map was written by the child itself.
            if !map.is_single() {
                if let Err(e) = write_maps(map, child.pid) {
                    maps_failed = Some(e);
                    return Err(Crossed::Maps);
                }
            }
            child.reply(&MapsWritten, None).map_err(|_| Crossed::Maps)
        },
    )?;
    match out {
        Ok(v) => Ok(Ok(v)),
        Err(Crossed::Work(e)) => Ok(Err(e)),
        Err(Crossed::Entering(e)) => Err(e.into()),
        Err(Crossed::Maps) => Err(maps_failed.unwrap_or(UsernsError::Helper(ForkError::Died {
            what: how.what,
            how: forked::Death::Unknown,
        }))),
    }
}

/// In the child: a new user namespace, with its single-id map written here.
fn enter(map: &IdMap) -> Result<(), EnterFailure> {
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| EnterFailure::Unshare { errno: e as i32 })?;
    if map.is_single() {
        write_own_single_map(map).map_err(|e| match e {
            UsernsError::WriteMap { file, source } => EnterFailure::WriteMap {
                file: MapFile::of(file),
                errno: source.raw_os_error(),
                detail: source.to_string(),
            },
            other => EnterFailure::WriteMap {
                file: MapFile::Setgroups,
                errno: None,
                detail: other.to_string(),
            },
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_tmp(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn full_map_stacks_subordinate_ranges_after_own_id() {
        let d = tempfile::tempdir().unwrap();
        let su = write_tmp(
            d.path(),
            "subuid",
            "bob:100000:65536\nalice:200000:1000\n1001:300000:10\n",
        );
        let sg = write_tmp(d.path(), "subgid", "alice:400000:65536\n");
        let (map, reason) =
            IdMap::from_files(1001, 1001, "alice", &su, &sg, |p| Some(PathBuf::from(p))).unwrap();
        assert_eq!(reason, None);
        assert_eq!(
            map.uids,
            vec![
                IdRange {
                    inside: 0,
                    outside: 1001,
                    count: 1
                },
                IdRange {
                    inside: 1,
                    outside: 200000,
                    count: 1000
                },
                IdRange {
                    inside: 1001,
                    outside: 300000,
                    count: 10
                },
            ]
        );
        assert_eq!(map.host_uid(1000), Some(200999));
        assert_eq!(map.host_uid(1005), Some(300004));
        assert_eq!(map.host_uid(2000), None);
        assert_eq!(map.host_gid(0), Some(1001));
    }

    #[test]
    fn missing_ranges_or_helpers_fall_back_to_single_map() {
        let d = tempfile::tempdir().unwrap();
        let su = write_tmp(d.path(), "subuid", "bob:100000:65536\n");
        let sg = write_tmp(d.path(), "subgid", "alice:100000:65536\n");
        let (map, reason) = IdMap::from_files(1001, 1002, "alice", &su, &sg, |_| None).unwrap();
        assert!(map.is_single());
        assert_eq!(map.host_gid(0), Some(1002));
        assert_eq!(
            reason,
            Some(SingleMapReason::NoSubuid {
                user: "alice".into()
            })
        );

        let su = write_tmp(d.path(), "subuid", "alice:100000:65536\n");
        let (_, reason) = IdMap::from_files(1001, 1002, "alice", &su, &sg, |_| None).unwrap();
        assert_eq!(
            reason,
            Some(SingleMapReason::NoHelper {
                program: "newuidmap"
            })
        );

        let missing = d.path().join("nope");
        let (_, reason) = IdMap::from_files(1001, 1002, "alice", &su, &missing, |_| None).unwrap();
        assert_eq!(
            reason,
            Some(SingleMapReason::NoSubgid {
                user: "alice".into()
            })
        );
    }

    #[test]
    fn single_map_child_is_root_inside() {
        let map = IdMap::single(Uid::current().as_raw(), Gid::current().as_raw());
        let (uid, gid) = run_in_userns(&map, || {
            Ok::<_, ProbeStep>((Uid::current().as_raw(), Gid::current().as_raw()))
        })
        .unwrap()
        .unwrap();
        assert_eq!((uid, gid), (0, 0));
        // The work's own error arrives as the work made it.
        let err = run_in_userns::<u32, _, _>(&map, || {
            Err(ProbeStep {
                step: "mounting".into(),
                errno: libc::ENOSPC,
            })
        })
        .unwrap()
        .unwrap_err();
        assert_eq!(
            err,
            ProbeStep {
                step: "mounting".into(),
                errno: libc::ENOSPC
            }
        );
        assert_eq!(err.to_string(), "mounting: ENOSPC: No space left on device");
    }

    /// A host where only the given sysctls exist.
    fn sysctls(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn apparmor_restriction_prints_the_profile_to_install() {
        let host = sysctls(&[
            ("kernel.apparmor_restrict_unprivileged_userns", "1"),
            ("user.max_user_namespaces", "63000"),
        ]);
        let exe = Path::new("/home/alice/.cargo/bin/burrow");
        let hint = unshare_hint(nix::Error::EACCES, &host, exe);
        assert!(
            hint.starts_with(
                "; unprivileged user namespaces are disabled here: AppArmor restricts them \
                 (kernel.apparmor_restrict_unprivileged_userns=1); an admin installs this \
                 AppArmor profile as /etc/apparmor.d/burrow"
            ),
            "{hint}"
        );
        assert!(hint.contains("`sudo apparmor_parser -r /etc/apparmor.d/burrow`"));
        assert!(hint.contains("kernel.apparmor_restrict_unprivileged_userns=0"));
        // The profile names the binary that runs, not the packaged path.
        assert!(hint.ends_with(&apparmor_profile(exe)), "{hint}");
        assert!(hint.contains(
            "profile burrow /home/alice/.cargo/bin/burrow flags=(unconfined) {\n  userns,\n"
        ));
        assert!(hint.contains("\nabi <abi/4.0>,\n"));
        let shown = UsernsError::Unshare(nix::Error::EACCES).to_string();
        assert!(shown.starts_with("cannot create a user namespace: EACCES"));
    }

    #[test]
    fn shipped_apparmor_profile_is_the_one_the_error_prints() {
        assert_eq!(
            include_str!("../../packaging/apparmor/burrow"),
            apparmor_profile(Path::new("/usr/bin/burrow"))
        );
        let spaced = apparmor_profile(Path::new("/opt/my tools/burrow"));
        assert!(spaced.contains("profile burrow \"/opt/my tools/burrow\" flags"));
    }

    #[test]
    fn each_blocking_sysctl_gets_its_own_fix() {
        let exe = Path::new("/usr/bin/burrow");
        let max = unshare_hint(
            nix::Error::ENOSPC,
            &sysctls(&[("user.max_user_namespaces", "0")]),
            exe,
        );
        assert!(
            max.contains("user.max_user_namespaces=0; an admin sets"),
            "{max}"
        );
        let clone = unshare_hint(
            nix::Error::EPERM,
            &sysctls(&[
                ("user.max_user_namespaces", "100"),
                ("kernel.unprivileged_userns_clone", "0"),
            ]),
            exe,
        );
        assert!(
            clone.contains("sudo sysctl -w kernel.unprivileged_userns_clone=1"),
            "{clone}"
        );
        // Nothing known blocks it: the errno alone, no invented fix.
        let unknown = unshare_hint(nix::Error::EPERM, &sysctls(&[]), exe);
        assert_eq!(unknown, "; unprivileged user namespaces are disabled here");
        assert_eq!(
            UsernsBlocker::find(&sysctls(&[("user.max_user_namespaces", "5")])),
            None
        );
    }

    #[test]
    fn nsswitch_subid_line_selects_the_source() {
        assert_eq!(
            SubidSource::from_nsswitch("passwd: files\n"),
            SubidSource::Files
        );
        assert_eq!(
            SubidSource::from_nsswitch("passwd: files\nsubid:   files\n"),
            SubidSource::Files
        );
        assert_eq!(
            SubidSource::from_nsswitch("# subid: ldap\nsubid: sss # from IPA\n"),
            SubidSource::Nss {
                module: "sss".into()
            }
        );
        assert_eq!(
            SubidSource::Nss {
                module: "sss".into()
            }
            .describe(IdKind::Gid),
            "getsubids -g (nsswitch subid: sss)"
        );
        assert_eq!(
            parse_getsubids("0: alice 100000 65536\n1: alice 300000 10\nbad line\n"),
            [
                SubidRange {
                    start: 100000,
                    count: 65536
                },
                SubidRange {
                    start: 300000,
                    count: 10
                }
            ]
        );
    }

    #[test]
    fn file_capabilities_parse_from_every_xattr_version() {
        // v2, cap_setuid permitted and effective.
        let mut v2 = vec![];
        for w in [0x0200_0001u32, 1 << 7, 0, 0, 0] {
            v2.extend_from_slice(&w.to_le_bytes());
        }
        let caps = FileCaps::parse(&v2).unwrap();
        assert_eq!(caps.permitted, 1 << 7);
        assert_eq!(caps.to_string(), "cap_setuid=ep");
        // v3 carries a root uid after the v2 words; v1 has one word.
        let mut v3 = vec![];
        for w in [0x0300_0000u32, (1 << 6) | (1 << 7), 0, 1 << 31, 0, 0] {
            v3.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(
            FileCaps::parse(&v3).unwrap().to_string(),
            "cap_setgid,cap_setuid,cap_63=p"
        );
        let mut v1 = vec![];
        for w in [0x0100_0000u32, 1 << 6, 0] {
            v1.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(FileCaps::parse(&v1).unwrap().permitted, 1 << 6);
        assert_eq!(FileCaps::parse(&[1, 2]), None);
        assert_eq!(FileCaps::parse(&[0; 20]), None);
    }

    #[test]
    fn helper_facts_read_setuid_and_file_capabilities() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let plain = write_tmp(d.path(), "newuidmap", "");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        let facts = HelperFacts::at("newuidmap", Some(plain.clone()));
        assert!(!facts.setuid_root && !facts.has_needed_cap && !facts.usable());
        assert!(!HelperFacts::at("newuidmap", None).usable());

        if !Uid::effective().is_root() {
            eprintln!("SKIP setuid and file-capability part: needs root");
            return;
        }
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o4755)).unwrap();
        assert!(HelperFacts::at("newuidmap", Some(plain.clone())).usable());
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        // What `setcap cap_setgid+ep` writes: a v2 vfs_cap_data.
        let mut xattr = vec![];
        for w in [0x0200_0001u32, 1 << 6, 0, 0, 0] {
            xattr.extend_from_slice(&w.to_le_bytes());
        }
        rustix::fs::setxattr(
            &plain,
            "security.capability",
            &xattr,
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let gid = HelperFacts::at("newgidmap", Some(plain.clone()));
        assert_eq!(gid.file_caps.as_deref(), Some("cap_setgid=ep"));
        assert!(gid.usable());
        // cap_setgid is not what newuidmap needs.
        assert!(!HelperFacts::at("newuidmap", Some(plain)).usable());
    }

    #[test]
    fn probe_creates_a_namespace_and_mounts_in_it() {
        probe().unwrap();
    }
}
