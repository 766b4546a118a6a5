//! `RUN --mount` and `--secret`: what each mount of a RUN step becomes for
//! its container. Cache mounts are directories kept under the store's
//! `build/mounts/`; bind mounts are a private copy of the context (after
//! the ignore file) or of a stage's tree; secrets are private read-only
//! files in the runtime dir; tmpfs is the container's own. A secret's
//! content never enters a cache key, a layer, the history or the config,
//! and the mount points made for a step are taken out of its layer.

use super::context::FileEntry;
use super::rootfs::Layered;
use sha2::{Digest as _, Sha256};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MountError {
    #[error("invalid --secret {spec:?}: {why}")]
    Secret { spec: String, why: String },
    #[error("{path}: {why}")]
    Io { path: PathBuf, why: String },
}

fn io(path: &Path, e: impl std::fmt::Display) -> MountError {
    MountError::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// Where a `--secret`'s value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

/// `--secret id=ID,src=PATH` or `--secret id=ID,env=VAR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub id: String,
    pub source: SecretSource,
}

impl FromStr for SecretSpec {
    type Err = MountError;

    fn from_str(spec: &str) -> Result<SecretSpec, MountError> {
        let err = |why: &str| MountError::Secret {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
        for field in spec.split(',').filter(|f| !f.is_empty()) {
            let Some((k, v)) = field.split_once('=') else {
                return Err(err(&format!("{field:?} is not KEY=VALUE")));
            };
            match k {
                "id" => id = Some(v.to_string()),
                "src" | "source" => src = Some(v.to_string()),
                "env" => env = Some(v.to_string()),
                "type" if v == "file" || v == "env" => kind = Some(v.to_string()),
                _ => return Err(err(&format!("unknown field {k:?} (id, src, env, type)"))),
            }
        }
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| err("id= is required"))?;
        let source = match (src, env, kind.as_deref()) {
            (Some(_), Some(_), _) => return Err(err("give src= or env=, not both")),
            (Some(s), None, Some("env")) | (None, Some(s), _) => SecretSource::Env(s),
            (Some(s), None, _) => SecretSource::File(PathBuf::from(s)),
            // Only an id: the variable of that name, else the file.
            (None, None, Some("file")) => SecretSource::File(PathBuf::from(&id)),
            (None, None, _) => SecretSource::Env(id.clone()),
        };
        Ok(SecretSpec { id, source })
    }
}

impl SecretSpec {
    /// The secret's value, read now.
    pub fn read(&self) -> Result<Vec<u8>, MountError> {
        match &self.source {
            SecretSource::File(p) => std::fs::read(p).map_err(|e| io(p, e)),
            SecretSource::Env(v) => std::env::var_os(v)
                .map(|s| s.into_encoded_bytes())
                .ok_or_else(|| MountError::Secret {
                    spec: format!("id={}", self.id),
                    why: format!("the environment variable {v} is not set"),
                }),
        }
    }
}

/// The directory that keeps cache mount `id` between builds.
pub fn cache_dir(build_dir: &Path, id: &str) -> PathBuf {
    let h = Sha256::digest(id.as_bytes());
    build_dir.join("mounts").join(hex::encode(&h[..16]))
}

/// Owner and mode of a directory or file made for a mount.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// One thing to make before a RUN's container starts; runs inside the
/// user namespace so owners are the image's ids.
#[derive(Debug)]
pub enum Prepare {
    /// A cache mount's directory, when it does not exist yet.
    CacheDir { path: PathBuf, owner: Owner },
    /// A secret's file (its directory is private to the user).
    Secret {
        path: PathBuf,
        data: Vec<u8>,
        owner: Owner,
    },
    /// A copy of context entries under `prefix` (`.` for all).
    Context {
        root: PathBuf,
        entries: Vec<FileEntry>,
        prefix: String,
        dest: PathBuf,
    },
    /// A copy of `path` in a stage's or image's tree.
    Layers {
        layers: Vec<PathBuf>,
        path: String,
        dest: PathBuf,
    },
}

/// Does `steps`, in order. Inside the user namespace.
pub fn prepare(steps: Vec<Prepare>) -> Result<(), MountError> {
    for s in steps {
        match s {
            Prepare::CacheDir { path, owner } => {
                if path.is_dir() {
                    continue;
                }
                // Made aside and renamed: two builds at once see one dir.
                let tmp = path.with_extension(format!("new-{}", std::process::id()));
                std::fs::DirBuilder::new()
                    .mode(owner.mode)
                    .create(&tmp)
                    .map_err(|e| io(&tmp, e))?;
                set_owner(&tmp, owner)?;
                if std::fs::rename(&tmp, &path).is_err() {
                    let _ = std::fs::remove_dir(&tmp);
                }
            }
            Prepare::Secret { path, data, owner } => {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| io(&path, e))?;
                f.write_all(&data).map_err(|e| io(&path, e))?;
                set_owner(&path, owner)?;
            }
            Prepare::Context {
                root,
                entries,
                prefix,
                dest,
            } => copy_context(&root, &entries, &prefix, &dest)?,
            Prepare::Layers { layers, path, dest } => {
                let fs = Layered::new(&layers);
                let resolved = fs.resolve(&path, true);
                if fs.stat(&resolved).is_none() {
                    return Err(io(Path::new(&path), "no such file in the source stage"));
                }
                copy_layered(&fs, &resolved, &dest)?;
            }
        }
    }
    Ok(())
}

/// chown then chmod (chown clears set-id bits). An owner the id map
/// lacks (a single-id map) keeps the namespace's root.
fn set_owner(path: &Path, owner: Owner) -> Result<(), MountError> {
    match std::os::unix::fs::lchown(path, Some(owner.uid), Some(owner.gid)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        Err(e) => return Err(io(path, e)),
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(owner.mode))
        .map_err(|e| io(path, e))
}

fn copy_context(
    root: &Path,
    entries: &[FileEntry],
    prefix: &str,
    dest: &Path,
) -> Result<(), MountError> {
    use super::context::FileKind;
    if prefix == "." {
        std::fs::create_dir(dest).map_err(|x| io(dest, x))?;
    }
    for e in entries {
        let rel = if prefix == "." {
            e.path.as_str()
        } else if e.path == prefix {
            ""
        } else {
            match e.path.strip_prefix(&format!("{prefix}/")) {
                Some(r) => r,
                None => continue,
            }
        };
        let to = if rel.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(rel)
        };
        let from = root.join(&e.path);
        match e.kind {
            FileKind::Dir => {
                if !to.is_dir() {
                    std::fs::create_dir(&to).map_err(|x| io(&to, x))?;
                }
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(e.mode))
                    .map_err(|x| io(&to, x))?;
            }
            FileKind::File => {
                copy_file(&from, &to, e.mode)?;
            }
            FileKind::Symlink => {
                // As a link, never followed out of the context.
                std::os::unix::fs::symlink(e.link.clone().unwrap_or_default(), &to)
                    .map_err(|x| io(&to, x))?;
            }
            FileKind::Other => {}
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path, mode: u32) -> Result<(), MountError> {
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(from)
        .map_err(|e| io(from, e))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(|e| io(to, e))?;
    std::io::copy(&mut src, &mut dst).map_err(|e| io(to, e))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).map_err(|e| io(to, e))
}

fn copy_layered(fs: &Layered, path: &str, dest: &Path) -> Result<(), MountError> {
    let Some((p, m)) = fs.stat(path) else {
        return Ok(());
    };
    let own = |to: &Path| {
        let _ = std::os::unix::fs::lchown(to, Some(m.uid()), Some(m.gid()));
    };
    if m.is_dir() {
        if !dest.is_dir() {
            std::fs::create_dir(dest).map_err(|e| io(dest, e))?;
        }
        for name in fs.read_dir(path) {
            let child = format!("{}/{name}", path.trim_end_matches('/'));
            copy_layered(fs, &child, &dest.join(&name))?;
        }
        own(dest);
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(|e| io(dest, e))?;
    } else if m.file_type().is_symlink() {
        if dest.is_dir() {
            let _ = std::fs::remove_dir(dest);
        }
        let target = std::fs::read_link(&p).map_err(|e| io(&p, e))?;
        std::os::unix::fs::symlink(target, dest).map_err(|e| io(dest, e))?;
        own(dest);
    } else if m.is_file() {
        if dest.is_dir() {
            let _ = std::fs::remove_dir(dest);
        }
        copy_file(&p, dest, m.mode() & 0o777)?;
        own(dest);
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(|e| io(dest, e))?;
    }
    Ok(())
}

/// Takes the mount points made for a step out of its upper directory:
/// each target, then its parents, while the entry is empty, was made in
/// this step (not in `lower`) and no symlink is on the way. Inside the
/// user namespace, after the step's container is gone.
pub fn remove_stubs(upper: &Path, lower: &Layered, targets: &[String]) {
    for t in targets {
        let mut parts: Vec<&str> = t
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        // No component of the upper path may be a symlink the step made.
        let mut p = upper.to_path_buf();
        let mut safe = true;
        for c in &parts {
            p.push(c);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    safe = false;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if !safe {
            continue;
        }
        while !parts.is_empty() {
            let rel = parts.join("/");
            let here = upper.join(&rel);
            let Ok(m) = std::fs::symlink_metadata(&here) else {
                parts.pop();
                continue;
            };
            if lower.stat(&format!("/{rel}")).is_some() {
                break;
            }
            let removed = if m.is_dir() {
                std::fs::remove_dir(&here).is_ok()
            } else if m.is_file() && m.len() == 0 {
                std::fs::remove_file(&here).is_ok()
            } else {
                false
            };
            if !removed {
                break;
            }
            parts.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_specs() {
        let s: SecretSpec = "id=tok,src=/run/tok".parse().unwrap();
        assert_eq!(s.source, SecretSource::File("/run/tok".into()));
        let s: SecretSpec = "id=tok,env=TOKEN".parse().unwrap();
        assert_eq!(s.source, SecretSource::Env("TOKEN".into()));
        let s: SecretSpec = "id=TOKEN".parse().unwrap();
        assert_eq!(s.source, SecretSource::Env("TOKEN".into()));
        let s: SecretSpec = "id=a,type=file".parse().unwrap();
        assert_eq!(s.source, SecretSource::File("a".into()));
        assert!("src=/x".parse::<SecretSpec>().is_err());
        assert!("id=a,src=/x,env=B".parse::<SecretSpec>().is_err());
        assert!("id=a,colour=red".parse::<SecretSpec>().is_err());
    }

    #[test]
    fn cache_dirs_are_named_by_a_hash_of_the_id() {
        let b = Path::new("/s/build");
        assert_eq!(
            cache_dir(b, "../../x").parent(),
            Some(Path::new("/s/build/mounts"))
        );
        assert_ne!(cache_dir(b, "a"), cache_dir(b, "b"));
    }

    #[test]
    fn stubs_made_for_a_step_are_removed_and_others_kept() {
        let d = tempfile::tempdir().unwrap();
        let (upper, lower) = (d.path().join("upper"), d.path().join("lower"));
        std::fs::create_dir_all(upper.join("run/secrets")).unwrap();
        std::fs::write(upper.join("run/secrets/tok"), b"").unwrap();
        std::fs::create_dir_all(upper.join("cache/kept")).unwrap();
        std::fs::create_dir_all(upper.join("mnt")).unwrap();
        std::fs::create_dir_all(lower.join("run")).unwrap();
        std::fs::create_dir_all(lower.join("mnt")).unwrap();
        let fs = Layered::new(&[lower]);
        remove_stubs(
            &upper,
            &fs,
            &["/run/secrets/tok".into(), "/cache".into(), "/mnt".into()],
        );
        assert!(!upper.join("run/secrets").exists());
        assert!(upper.join("run").is_dir(), "in the lower layer: kept");
        assert!(upper.join("cache/kept").is_dir(), "not empty: kept");
        assert!(upper.join("mnt").is_dir());
    }
}
