//! Facts about cgroups for `burrow doctor`: which hierarchy this host
//! mounts and which controllers systemd delegated to the user. Reads /proc
//! and /sys/fs/cgroup; knows nothing of containers or images.

use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const CGROUP2_MAGIC: u32 = 0x6367_7270;
const TMPFS_MAGIC: u32 = 0x0102_1994;

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Layout {
    /// cgroup v2 alone at /sys/fs/cgroup: what burrow's limits need.
    #[serde(rename = "v2")]
    Unified,
    /// v1 controllers, plus an empty v2 tree at /sys/fs/cgroup/unified.
    #[serde(rename = "hybrid")]
    Hybrid,
    /// v1 only.
    #[serde(rename = "v1")]
    Legacy,
    /// Nothing recognisable at /sys/fs/cgroup.
    #[serde(rename = "none")]
    Missing,
}

impl Layout {
    /// The layout, from the filesystem magic of /sys/fs/cgroup and
    /// /sys/fs/cgroup/unified (`magic` is statfs; `None` where nothing is).
    pub fn detect(magic: &dyn Fn(&Path) -> Option<u32>) -> Layout {
        match magic(Path::new("/sys/fs/cgroup")) {
            Some(CGROUP2_MAGIC) => Layout::Unified,
            Some(TMPFS_MAGIC) => {
                if magic(Path::new("/sys/fs/cgroup/unified")) == Some(CGROUP2_MAGIC) {
                    Layout::Hybrid
                } else {
                    Layout::Legacy
                }
            }
            _ => Layout::Missing,
        }
    }

    /// Where the v2 tree is mounted, if there is one.
    pub fn v2_mount(self) -> Option<&'static Path> {
        match self {
            Layout::Unified => Some(Path::new("/sys/fs/cgroup")),
            Layout::Hybrid => Some(Path::new("/sys/fs/cgroup/unified")),
            Layout::Legacy | Layout::Missing => None,
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Unified => "cgroup v2 (unified)",
            Layout::Hybrid => "hybrid (cgroup v1 controllers, an empty v2 tree)",
            Layout::Legacy => "cgroup v1",
            Layout::Missing => "no cgroup filesystem mounted",
        })
    }
}

/// A v2 cgroup as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The path under the v2 mount: `/user.slice/user-1000.slice/...`.
    pub path: String,
    /// `cgroup.controllers`: what can be enabled for its children.
    pub controllers: Vec<String>,
    /// `cgroup.subtree_control`: what is enabled for them.
    pub subtree_control: Vec<String>,
    /// Whether the user owns the directory, as systemd makes a delegated
    /// unit's cgroup.
    pub owned: bool,
}

/// What `burrow doctor` reports about cgroups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupFacts {
    pub layout: Layout,
    /// This process's own v2 cgroup.
    pub own: Option<Group>,
    /// `user@UID.service`, the cgroup systemd delegates to the user's
    /// manager, where it exists.
    pub user_service: Option<Group>,
}

impl CgroupFacts {
    /// The facts for this process and user `uid`.
    pub fn probe(uid: u32) -> CgroupFacts {
        let layout = Layout::detect(&|p| rustix::fs::statfs(p).ok().map(|s| s.f_type as u32));
        let Some(mount) = layout.v2_mount() else {
            return CgroupFacts {
                layout,
                own: None,
                user_service: None,
            };
        };
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|t| v2_path(&t))
            .and_then(|p| Group::read(mount, &p, uid));
        let service = format!("/user.slice/user-{uid}.slice/user@{uid}.service");
        CgroupFacts {
            layout,
            own,
            user_service: Group::read(mount, &service, uid),
        }
    }

    /// The controllers delegated to the user: those of the delegated
    /// cgroup the user owns (user@UID.service, else its own), empty when
    /// nothing is delegated.
    pub fn delegated(&self) -> &[String] {
        [&self.user_service, &self.own]
            .into_iter()
            .flatten()
            .find(|g| g.owned)
            .map(|g| g.controllers.as_slice())
            .unwrap_or(&[])
    }
}

impl Group {
    fn read(mount: &Path, path: &str, uid: u32) -> Option<Group> {
        let dir: PathBuf = mount.join(path.trim_start_matches('/'));
        let md = std::fs::metadata(&dir).ok()?;
        let list = |file: &str| {
            std::fs::read_to_string(dir.join(file))
                .map(|t| t.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        Some(Group {
            path: path.to_string(),
            controllers: list("cgroup.controllers"),
            subtree_control: list("cgroup.subtree_control"),
            owned: md.uid() == uid,
        })
    }
}

/// The v2 path in a /proc/PID/cgroup text: its `0::PATH` line.
pub fn v2_path(proc_cgroup: &str) -> Option<String> {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_filesystems_mounted() {
        let unified = |p: &Path| (p == Path::new("/sys/fs/cgroup")).then_some(CGROUP2_MAGIC);
        assert_eq!(Layout::detect(&unified), Layout::Unified);
        let hybrid = |p: &Path| {
            Some(if p == Path::new("/sys/fs/cgroup") {
                TMPFS_MAGIC
            } else {
                CGROUP2_MAGIC
            })
        };
        assert_eq!(Layout::detect(&hybrid), Layout::Hybrid);
        let legacy = |p: &Path| (p == Path::new("/sys/fs/cgroup")).then_some(TMPFS_MAGIC);
        assert_eq!(Layout::detect(&legacy), Layout::Legacy);
        assert_eq!(Layout::detect(&|_| None), Layout::Missing);
    }

    #[test]
    fn v2_path_is_the_zero_line() {
        let hybrid =
            "9:name=systemd:/\n4:memory:/x\n0::/user.slice/user-1000.slice/session-2.scope\n";
        assert_eq!(
            v2_path(hybrid).as_deref(),
            Some("/user.slice/user-1000.slice/session-2.scope")
        );
        assert_eq!(v2_path("4:memory:/x\n"), None);
    }

    #[test]
    fn probe_reads_this_hosts_hierarchy() {
        // Whatever the host has, the facts agree with /proc/self/mounts.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        let fstype_at = |dir: &str| {
            mounts.lines().rev().find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(1) == Some(&dir)).then(|| f[2].to_string())
            })
        };
        let facts = CgroupFacts::probe(rustix::process::getuid().as_raw());
        let expected = match fstype_at("/sys/fs/cgroup").as_deref() {
            Some("cgroup2") => Layout::Unified,
            Some("tmpfs") if fstype_at("/sys/fs/cgroup/unified").as_deref() == Some("cgroup2") => {
                Layout::Hybrid
            }
            Some("tmpfs") => Layout::Legacy,
            _ => Layout::Missing,
        };
        assert_eq!(facts.layout, expected);
        if expected.v2_mount().is_some() {
            let own = facts.own.expect("a v2 cgroup for this process");
            assert!(own.path.starts_with('/'), "{own:?}");
        }
    }
}
