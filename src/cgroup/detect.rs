//! What this machine and this process offer: which cgroup hierarchy is
//! mounted, where the process sits in it, whether that place is a
//! writable (delegated) subtree, and what the user's systemd manager has.
//! Reads only; creates nothing.

use super::facts::Layout;
use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the unified hierarchy lives on a systemd machine.
pub const MOUNT: &str = "/sys/fs/cgroup";

/// What `probe` found.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub layout: Layout,
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

/// How this host mounts cgroups (two statfs calls).
pub fn layout() -> Layout {
    // f_type is i64 here but narrower on other targets.
    #[allow(clippy::unnecessary_cast)]
    Layout::detect(&|p| rustix::fs::statfs(p).ok().map(|s| s.f_type as u32))
}

fn probe_at(mount: &Path, uid: u32) -> Probe {
    let layout = layout();
    let mut p = Probe {
        layout,
        own: None,
        own_writable: false,
        own_controllers: Vec::new(),
        user_manager: None,
        user_controllers: Vec::new(),
        under_user_manager: false,
    };
    // The v2 tree of a hybrid layout has no controllers to delegate.
    if layout != Layout::Unified {
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

/// The v2 entry (`0::/path`) of a /proc/PID/cgroup text.
pub fn unified_path(text: &str) -> Option<String> {
    super::facts::v2_path(text)
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
        if p.layout != Layout::Unified {
            assert!(p.own.is_none());
        }
    }
}
