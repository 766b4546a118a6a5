//! Pod records (`burrow pod`): `pods/ID.json` under the storage root,
//! written atomically (temp file, fsync, rename) under one lock, as the
//! container records are. A pod is a name, the namespaces its containers
//! share and its infra container, which holds those namespaces and the
//! pod's published ports; its members are the containers whose record
//! names the pod. Nothing here starts or stops a process (`pod` does).

use crate::lockfile::{self, FileLock, LockKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Why a pod record cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("no such pod: {0}")]
    NotFound(String),
    #[error("the pod name {name:?} is already in use by pod {id}; remove it or pick another name")]
    NameInUse { name: String, id: String },
    #[error("{0:?} is not a valid pod name: letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    #[error("pod {0} has running containers; stop them first, or remove the pod with -f")]
    Running(String),
    #[error("container {container} is the infra container of pod {pod} and is removed only with it: `burrow pod rm {pod}`")]
    Infra { container: String, pod: String },
    #[error(
        "unknown namespace {0:?} for --share: a pod shares net, ipc, uts and (when asked) pid"
    )]
    BadShare(String),
    #[error("a container of pod {pod} takes the pod's network: {flag} is for `burrow pod create`")]
    MemberFlag { pod: String, flag: &'static str },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] lockfile::LockError),
    #[error("pod record {} is damaged: {source}", path.display())]
    Damaged {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl PodError {
    /// docker's status for an object that does not exist or is in use: 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            PodError::NotFound(_)
            | PodError::NameInUse { .. }
            | PodError::Running(_)
            | PodError::Infra { .. } => 1,
            _ => 125,
        }
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PodError {
    let path = path.to_path_buf();
    move |source| PodError::Io { what, path, source }
}

/// The namespaces a pod's containers share (`--share`). The network is
/// always shared: it is what makes a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub ipc: bool,
    pub uts: bool,
    pub pid: bool,
}

impl Default for Share {
    fn default() -> Self {
        Share {
            ipc: true,
            uts: true,
            pid: false,
        }
    }
}

impl Share {
    /// `--share net,ipc,uts[,pid]`, as podman takes it: the list names
    /// every namespace shared (net is shared whether named or not).
    pub fn parse(s: &str) -> Result<Share, PodError> {
        let mut share = Share {
            ipc: false,
            uts: false,
            pid: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "net" => {}
                "ipc" => share.ipc = true,
                "uts" => share.uts = true,
                "pid" => share.pid = true,
                other => return Err(PodError::BadShare(other.to_string())),
            }
        }
        Ok(share)
    }

    /// The names, as `pod inspect` shows them.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = vec!["net"];
        for (on, n) in [(self.ipc, "ipc"), (self.uts, "uts"), (self.pid, "pid")] {
            if on {
                v.push(n);
            }
        }
        v
    }
}

/// One pod, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// RFC 3339 with nanoseconds, UTC.
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub share: Share,
    /// The infra container's id.
    pub infra: String,
}

/// The pod store: `pods/` under the storage root.
pub struct Pods {
    dir: PathBuf,
}

/// A held lock on the set of pods (names, creation, removal).
pub struct PodsLock {
    _lock: FileLock,
}

/// Whether `name` may name a pod (docker's rule for container names).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Pods {
    pub fn open(storage_root: &Path) -> Pods {
        Pods {
            dir: storage_root.join("pods"),
        }
    }

    fn ensure_dir(&self) -> Result<(), PodError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io("creating", &self.dir))
    }

    pub fn lock(&self) -> Result<PodsLock, PodError> {
        self.ensure_dir()?;
        let lock = lockfile::lock_file(&self.dir.join(".lock"), LockKind::Exclusive)?;
        Ok(PodsLock { _lock: lock })
    }

    /// Every pod, oldest first.
    pub fn list(&self) -> Result<Vec<Pod>, PodError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("reading", &self.dir)(e)),
        };
        let mut pods = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let text = match fs::read(&path) {
                Ok(t) => t,
                // Removed meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("reading", &path)(e)),
            };
            let pod: Pod = serde_json::from_slice(&text)
                .map_err(|source| PodError::Damaged { path, source })?;
            pods.push(pod);
        }
        pods.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(pods)
    }

    /// A pod by its name, its id or a unique prefix of its id.
    pub fn find(&self, input: &str) -> Result<Pod, PodError> {
        let pods = self.list()?;
        if let Some(p) = pods.iter().find(|p| p.name == input || p.id == input) {
            return Ok(p.clone());
        }
        let by_prefix: Vec<&Pod> =
            if input.len() >= 3 && input.chars().all(|c| c.is_ascii_hexdigit()) {
                pods.iter().filter(|p| p.id.starts_with(input)).collect()
            } else {
                Vec::new()
            };
        match by_prefix.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(PodError::NotFound(input.to_string())),
        }
    }

    /// The pod whose infra container `container` (an id) is, if any.
    pub fn infra_of(&self, container: &str) -> Result<Option<Pod>, PodError> {
        Ok(self.list()?.into_iter().find(|p| p.infra == container))
    }

    /// Refuses a name in use (the caller holds `lock()`).
    pub fn check_name(&self, name: &str) -> Result<(), PodError> {
        if !valid_name(name) {
            return Err(PodError::BadName(name.to_string()));
        }
        match self.list()?.into_iter().find(|p| p.name == name) {
            Some(p) => Err(PodError::NameInUse {
                name: name.to_string(),
                id: p.id[..12].to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Writes the record (the caller holds `lock()`).
    pub fn save(&self, pod: &Pod) -> Result<(), PodError> {
        self.ensure_dir()?;
        let path = self.dir.join(format!("{}.json", pod.id));
        let tmp = self.dir.join(format!(".{}.tmp", pod.id));
        let text = serde_json::to_vec_pretty(pod).unwrap_or_default();
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io("writing", &path)(e)
        })
    }

    /// Removes the record (the caller holds `lock()`).
    pub fn remove(&self, id: &str) -> Result<(), PodError> {
        let path = self.dir.join(format!("{id}.json"));
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("removing", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_lists_parse_as_podman_takes_them() {
        let s = Share::parse("net,ipc,uts,pid").unwrap();
        assert_eq!(
            s,
            Share {
                ipc: true,
                uts: true,
                pid: true
            }
        );
        assert_eq!(Share::parse("net").unwrap().names(), vec!["net"]);
        assert!(matches!(
            Share::parse("net,cgroup"),
            Err(PodError::BadShare(n)) if n == "cgroup"
        ));
    }

    #[test]
    fn pods_are_found_by_name_id_and_prefix_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let pods = Pods::open(dir.path());
        assert!(matches!(pods.find("web"), Err(PodError::NotFound(_))));
        let pod = Pod {
            id: "ab".repeat(32),
            name: "web".into(),
            created: "2026-01-01T00:00:00.000000000Z".into(),
            labels: BTreeMap::new(),
            share: Share::default(),
            infra: "cd".repeat(32),
        };
        let _l = pods.lock().unwrap();
        pods.save(&pod).unwrap();
        assert_eq!(pods.find("web").unwrap(), pod);
        assert_eq!(pods.find("abab").unwrap(), pod);
        assert!(matches!(
            pods.check_name("web"),
            Err(PodError::NameInUse { .. })
        ));
        assert!(matches!(pods.check_name("-x"), Err(PodError::BadName(_))));
        pods.remove(&pod.id).unwrap();
        assert!(pods.list().unwrap().is_empty());
    }
}
