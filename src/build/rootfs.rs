//! An image's root filesystem read straight from its unpacked layers, as
//! overlayfs would merge them (whiteouts are 0:0 character devices, opaque
//! directories carry `user.overlay.opaque=y`), without mounting anything.
//! Symlinks are resolved inside the image's root, never on the host.
//! Runs inside burrow's user namespace, where layer owners read as the
//! image's own ids.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A `--chown` owner the image's /etc/passwd or /etc/group does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

pub struct Layered {
    /// Top layer first.
    top_first: Vec<PathBuf>,
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    let mut buf = [0u8; 4];
    rustix::fs::lgetxattr(dir, "user.overlay.opaque", &mut buf).is_ok_and(|n| &buf[..n] == b"y")
}

fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

impl Layered {
    /// `layers` as the store lists them: base first.
    pub fn new(layers: &[PathBuf]) -> Layered {
        Layered {
            top_first: layers.iter().rev().cloned().collect(),
        }
    }

    /// The file at `rel` (no symlink resolution): the layer path that
    /// provides it and its metadata.
    fn find(&self, rel: &[&str]) -> Option<(PathBuf, std::fs::Metadata)> {
        'layers: for layer in &self.top_first {
            // A whiteout, a non-directory or an opaque directory on the way
            // hides everything below in lower layers.
            let mut p = layer.clone();
            for (i, c) in rel.iter().enumerate() {
                p.push(c);
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if is_whiteout(&m) => return None,
                    Ok(m) if i + 1 == rel.len() => return Some((p, m)),
                    Ok(m) if !m.is_dir() => return None,
                    Ok(_) => {
                        if is_opaque(&p) {
                            // The rest is looked up in this layer only.
                            let mut q = p.clone();
                            for c in &rel[i + 1..] {
                                q.push(c);
                            }
                            return std::fs::symlink_metadata(&q)
                                .ok()
                                .filter(|m| !is_whiteout(m))
                                .map(|m| (q, m));
                        }
                    }
                    Err(_) => continue 'layers,
                }
            }
            if rel.is_empty() {
                return std::fs::symlink_metadata(layer)
                    .ok()
                    .map(|m| (layer.clone(), m));
            }
        }
        None
    }

    /// `path` with every symlink resolved inside the image's root (the last
    /// component too when `follow_last`), as a clean absolute path.
    pub fn resolve(&self, path: &str, follow_last: bool) -> String {
        let mut done: Vec<String> = Vec::new();
        let mut todo: Vec<String> = components(path)
            .into_iter()
            .rev()
            .map(str::to_string)
            .collect();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            let last = todo.is_empty();
            if last && !follow_last {
                break;
            }
            let parts: Vec<&str> = done.iter().map(String::as_str).collect();
            if let Some((p, m)) = self.find(&parts) {
                if m.file_type().is_symlink() && hops < 40 {
                    hops += 1;
                    let target = std::fs::read_link(&p).unwrap_or_default();
                    let target = target.to_string_lossy().into_owned();
                    done.pop();
                    if target.starts_with('/') {
                        done.clear();
                    }
                    for t in components(&target).into_iter().rev() {
                        todo.push(t.to_string());
                    }
                }
            }
        }
        format!("/{}", done.join("/"))
    }

    /// Metadata of `path` after resolving symlinks on the way (the last
    /// component itself is not followed).
    pub fn stat(&self, path: &str) -> Option<(PathBuf, std::fs::Metadata)> {
        let r = self.resolve(path, false);
        self.find(&components(&r))
    }

    /// Whether `path` is a directory, following symlinks.
    pub fn is_dir(&self, path: &str) -> bool {
        let r = self.resolve(path, true);
        self.find(&components(&r)).is_some_and(|(_, m)| m.is_dir())
    }

    /// Names in directory `path` (resolved), merged over the layers.
    pub fn read_dir(&self, path: &str) -> Vec<String> {
        let r = self.resolve(path, true);
        let rel = components(&r);
        let mut names = std::collections::BTreeMap::new();
        for layer in &self.top_first {
            let mut p = layer.clone();
            let mut hidden = false;
            for c in &rel {
                p.push(c);
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if m.is_dir() => {}
                    _ => {
                        hidden = true;
                        break;
                    }
                }
            }
            if hidden {
                // Missing here, or replaced: lower layers may still show it,
                // unless something in this layer hid it.
                if std::fs::symlink_metadata(&p).is_ok() {
                    break;
                }
                continue;
            }
            if let Ok(list) = std::fs::read_dir(&p) {
                for e in list.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let wh = e.metadata().map(|m| is_whiteout(&m)).unwrap_or(false);
                    names.entry(n).or_insert(!wh);
                }
            }
            if is_opaque(&p) {
                break;
            }
        }
        names
            .into_iter()
            .filter(|(_, v)| *v)
            .map(|(k, _)| k)
            .collect()
    }
}

/// `user[:group]` to ids, through the image's /etc/passwd and /etc/group
/// when they are names.
pub fn lookup_owner(fs: &Layered, spec: &str) -> Result<(u32, u32), OwnerError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let read = |file: &str| -> String {
        fs.stat(file)
            .filter(|(_, m)| m.is_file())
            .and_then(|(p, _)| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let find = |db: &str, name: &str| -> Option<(u32, u32)> {
        db.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && f[0] == name).then(|| {
                (
                    f[2].parse().unwrap_or(0),
                    f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
                )
            })
        })
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(u) => (u, None),
        Err(_) => {
            let (u, g) = find(&read("/etc/passwd"), user)
                .ok_or_else(|| OwnerError::NoUser(user.to_string()))?;
            (u, Some(g))
        }
    };
    let gid = match group {
        None => primary.unwrap_or(uid),
        Some(g) => match g.parse::<u32>() {
            Ok(g) => g,
            Err(_) => find(&read("/etc/group"), g)
                .map(|(gid, _)| gid)
                .ok_or_else(|| OwnerError::NoGroup(g.to_string()))?,
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn layers_merge_with_whiteouts_symlinks_and_owner_lookup() {
        let d = tempfile::tempdir().unwrap();
        let (l0, l1) = (d.path().join("0"), d.path().join("1"));
        fs::create_dir_all(l0.join("usr/bin")).unwrap();
        fs::create_dir_all(l0.join("etc")).unwrap();
        fs::create_dir_all(l0.join("gone/sub")).unwrap();
        fs::write(l0.join("usr/bin/x"), "x").unwrap();
        fs::write(
            l0.join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
        )
        .unwrap();
        fs::write(l0.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        std::os::unix::fs::symlink("usr/bin", l0.join("bin")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", l0.join("usr/esc")).unwrap();
        fs::create_dir_all(l1.join("usr/bin")).unwrap();
        fs::write(l1.join("usr/bin/y"), "y").unwrap();
        fs::write(l1.join("gone"), "now a file").unwrap();
        let fs_ = Layered::new(&[l0.clone(), l1.clone()]);
        assert_eq!(fs_.resolve("/bin/x", true), "/usr/bin/x");
        assert_eq!(
            fs_.resolve("/usr/esc/passwd", true),
            "/etc/passwd",
            "scoped in the root"
        );
        assert!(fs_.is_dir("/bin"));
        assert!(!fs_.is_dir("/gone"));
        assert!(fs_.stat("/gone/sub").is_none(), "hidden by a file above");
        assert_eq!(fs_.read_dir("/bin"), vec!["x", "y"]);
        assert_eq!(lookup_owner(&fs_, "app").unwrap(), (1000, 1001));
        assert_eq!(lookup_owner(&fs_, "app:staff").unwrap(), (1000, 50));
        assert_eq!(lookup_owner(&fs_, "5:6").unwrap(), (5, 6));
        assert_eq!(lookup_owner(&fs_, "7").unwrap(), (7, 7));
        assert_eq!(
            lookup_owner(&fs_, "nobody").unwrap_err().to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
    }
}
