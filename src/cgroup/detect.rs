//! What this machine and this process offer: which cgroup hierarchy is
//! mounted, where the process sits in it, whether that place is a
//! writable (delegated) subtree, and what the user's systemd manager has.
//! Reads only; creates nothing.

use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the unified hierarchy lives on a systemd machine.
pub const MOUNT: &str = "/sys/fs/cgroup";

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const TMPFS_MAGIC: i64 = 0x0102_1994;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hierarchy {
    /// cgroup v2 alone at /sys/fs/cgroup: what burrow needs.
    Unified,
    /// v1 controllers with an empty v2 tree beside them (systemd's
    /// hybrid layout): no v2 controllers to delegate.
    Hybrid,
    /// cgroup v1 only.
    Legacy,
    /// Nothing mounted at /sys/fs/cgroup.
    Missing,
}

impl Hierarchy {
    pub fn describe(self) -> &'static str {
        match self {
            Hierarchy::Unified => "cgroup v2",
            Hierarchy::Hybrid => "a hybrid cgroup v1/v2 layout (controllers on v1)",
            Hierarchy::Legacy => "cgroup v1",
            Hierarchy::Missing => "no cgroup file system at /sys/fs/cgroup",
        }
    }
}

/// What `probe` found.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub hierarchy: Hierarchy,
    /// This process's cgroup, absolute (`/sys/fs/cgroup/...`), on v2.
    pub own: Option<PathBuf>,
    /// This process may create cgroups below its own and move processes
    /// in it: the cgroup is delegated to it (or it owns the machine).
    pub own_writable: bool,
    /// Controllers available in the own cgroup.
    pub own_controllers: Vec<String>,
    /// The user's systemd manager, `.../user@UID.service`, if it runs.
    pub user_manager: Option<PathBuf>,
    /// Controllers systemd delegates to the user (`cgroup.controllers` of
    /// the user manager).
    pub user_controllers: Vec<String>,
    /// The own cgroup is inside the user manager's tree: only systemd may
    /// say whether it is delegated there.
    pub under_user_manager: bool,
}

/// Looks at /sys/fs/cgroup and /proc/self/cgroup.
pub fn probe() -> Probe {
    probe_at(Path::new(MOUNT), rustix::process::getuid().as_raw())
}

pub(crate) fn probe_at(mount: &Path, uid: u32) -> Probe {
    let hierarchy = hierarchy(mount);
    let mut p = Probe {
        hierarchy,
        own: None,
        own_writable: false,
        own_controllers: Vec::new(),
        user_manager: None,
        user_controllers: Vec::new(),
        under_user_manager: false,
    };
    if hierarchy != Hierarchy::Unified {
        return p;
    }
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| unified_path(&text))
        .map(|rel| join(mount, &rel));
    if let Some(own) = &own {
        p.own_writable = writable_subtree(own, uid);
        p.own_controllers = controllers(own);
    }
    let manager = mount.join(format!("user.slice/user-{uid}.slice/user@{uid}.service"));
    if manager.is_dir() {
        p.user_controllers = controllers(&manager);
        p.under_user_manager = own.as_ref().is_some_and(|o| o.starts_with(&manager));
        p.user_manager = Some(manager);
    }
    p.own = own;
    p
}

fn hierarchy(mount: &Path) -> Hierarchy {
    // f_type is i64 here but narrower on other targets.
    #[allow(clippy::unnecessary_cast)]
    let magic = |p: &Path| rustix::fs::statfs(p).ok().map(|s| s.f_type as i64);
    match magic(mount) {
        Some(CGROUP2_SUPER_MAGIC) => Hierarchy::Unified,
        Some(TMPFS_MAGIC) => {
            if magic(&mount.join("unified")) == Some(CGROUP2_SUPER_MAGIC) {
                Hierarchy::Hybrid
            } else {
                Hierarchy::Legacy
            }
        }
        Some(_) if mount.join("cpu").exists() || mount.join("memory").exists() => Hierarchy::Legacy,
        _ => Hierarchy::Missing,
    }
}

/// The v2 entry (`0::/path`) of a /proc/PID/cgroup text.
pub fn unified_path(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end().to_string())
        // A process whose cgroup was removed under it reads "/... (deleted)".
        .filter(|p| p.starts_with('/') && !p.ends_with(" (deleted)"))
}

/// `mount` + an absolute cgroup path.
pub fn join(mount: &Path, rel: &str) -> PathBuf {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    }
}

/// The names in a `cgroup.controllers` (or `subtree_control`) file.
pub fn controllers(dir: &Path) -> Vec<String> {
    read_list(&dir.join("cgroup.controllers"))
}

pub(crate) fn read_list(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .map(|t| t.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A delegated subtree: the directory and the files that move processes
/// and enable controllers are ours to write (systemd chowns exactly these
/// for `Delegate=yes`).
fn writable_subtree(dir: &Path, uid: u32) -> bool {
    ["", "cgroup.procs", "cgroup.subtree_control"]
        .iter()
        .all(|f| {
            let p = if f.is_empty() {
                dir.to_path_buf()
            } else {
                dir.join(f)
            };
            match std::fs::metadata(&p) {
                Ok(md) if uid == 0 => md.mode() & 0o200 != 0,
                Ok(md) => md.uid() == uid && md.mode() & 0o200 != 0,
                Err(_) => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unified_entry_is_read_from_proc_self_cgroup() {
        let hybrid = "9:name=systemd:/\n4:memory:/x\n0::/\n";
        assert_eq!(unified_path(hybrid).as_deref(), Some("/"));
        let v2 = "0::/user.slice/user-1000.slice/session-1.scope\n";
        assert_eq!(
            unified_path(v2).as_deref(),
            Some("/user.slice/user-1000.slice/session-1.scope")
        );
        assert_eq!(unified_path("1:cpu:/\n"), None);
        assert_eq!(unified_path("0::/gone (deleted)\n"), None);
        assert_eq!(
            join(Path::new("/sys/fs/cgroup"), "/"),
            Path::new("/sys/fs/cgroup")
        );
        assert_eq!(
            join(Path::new("/sys/fs/cgroup"), "/a/b"),
            Path::new("/sys/fs/cgroup/a/b")
        );
    }

    #[test]
    fn a_directory_owned_by_someone_else_is_not_a_delegated_subtree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cgroup.procs"), "").unwrap();
        std::fs::write(dir.path().join("cgroup.subtree_control"), "").unwrap();
        let me = rustix::process::getuid().as_raw();
        assert!(writable_subtree(dir.path(), me));
        if me == 0 {
            // root may write anything writable at all
            return;
        }
        assert!(!writable_subtree(dir.path(), me + 1));
    }

    #[test]
    fn this_host_is_probed_without_error() {
        // Whatever the machine, probing must not panic, and the own
        // cgroup is only looked for on v2.
        let p = probe();
        if p.hierarchy != Hierarchy::Unified {
            assert!(p.own.is_none());
        }
    }
}
