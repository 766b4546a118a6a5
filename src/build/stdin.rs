//! `burrow build -`: the context as a tar on stdin (plain, gzip or zstd),
//! or a Containerfile alone (then the context is empty), told apart by
//! content as docker does. A tar is extracted into a private directory
//! without following any link: `..` and absolute names stay inside, and a
//! member under a symlink the tar made is refused.

use super::ignore::clean;
use crate::image::tar::{EntryKind, TarReader};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StdinError {
    #[error("reading the build context from stdin: {0}")]
    Read(std::io::Error),
    #[error("the context tar on stdin: {0}")]
    Tar(String),
    #[error("the context tar on stdin: {member}: {why}")]
    Member { member: String, why: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StdinError + '_ {
    move |source| StdinError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads stdin into `scratch`; makes `scratch/context` the context.
/// Returns the Containerfile's text when stdin was one rather than a tar.
pub fn read_context(scratch: &Path) -> Result<Option<String>, StdinError> {
    let raw = scratch.join("stdin");
    let mut f = std::fs::File::create(&raw).map_err(io(&raw))?;
    std::io::copy(&mut std::io::stdin().lock(), &mut f).map_err(StdinError::Read)?;
    f.flush().map_err(io(&raw))?;
    drop(f);
    let context = scratch.join("context");
    std::fs::create_dir(&context).map_err(io(&context))?;
    if super::add::is_archive(&raw) {
        extract(&raw, &context)?;
        let _ = std::fs::remove_file(&raw);
        return Ok(None);
    }
    let text = std::fs::read(&raw).map_err(io(&raw))?;
    let _ = std::fs::remove_file(&raw);
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}

/// Makes the parent directories of `rel` under `root`; refuses a symlink
/// on the way (the tar may have made it).
fn parents(root: &Path, rel: &str, member: &str) -> Result<(), StdinError> {
    let mut p = root.to_path_buf();
    let comps: Vec<&str> = rel.split('/').collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(StdinError::Member {
                    member: member.to_string(),
                    why: "it lies under a symbolic link; burrow does not follow links in a context"
                        .into(),
                })
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(StdinError::Member {
                    member: member.to_string(),
                    why: "a parent is not a directory".into(),
                })
            }
            Err(_) => std::fs::create_dir(&p).map_err(io(&p))?,
        }
    }
    Ok(())
}

/// Removes whatever is at `p` that is not a directory.
fn clear(p: &Path) -> Result<(), StdinError> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if !m.is_dir() => std::fs::remove_file(p).map_err(io(p)),
        _ => Ok(()),
    }
}

fn extract(archive: &Path, root: &Path) -> Result<(), StdinError> {
    let f = std::fs::File::open(archive).map_err(io(archive))?;
    let (_, r) = crate::image::compress::decompressed(f).map_err(StdinError::Read)?;
    let mut reader = TarReader::new(BufReader::new(r));
    let mut dirs: Vec<(PathBuf, u32)> = Vec::new();
    while let Some(e) = reader
        .next_entry()
        .map_err(|e| StdinError::Tar(e.to_string()))?
    {
        let member = e.display_path();
        let rel = clean(&format!("/{}", crate::image::tar::normalize(&e.path)));
        let rel = rel.trim_start_matches('/').to_string();
        if rel.is_empty() {
            continue;
        }
        parents(root, &rel, &member)?;
        let to = root.join(&rel);
        match e.kind {
            EntryKind::Directory => {
                clear(&to)?;
                if !to.is_dir() {
                    std::fs::create_dir(&to).map_err(io(&to))?;
                }
                // Writable by the user while members go in; its own mode
                // once all are in.
                dirs.push((to, e.mode));
            }
            EntryKind::Regular => {
                clear(&to)?;
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&to)
                    .map_err(io(&to))?;
                std::io::copy(&mut (&mut reader).take(e.size), &mut out).map_err(io(&to))?;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(e.mode & 0o777))
                    .map_err(io(&to))?;
            }
            EntryKind::Symlink => {
                clear(&to)?;
                let target = String::from_utf8_lossy(&e.link).into_owned();
                std::os::unix::fs::symlink(target, &to).map_err(io(&to))?;
            }
            EntryKind::Hardlink => {
                let target = clean(&format!("/{}", crate::image::tar::normalize(&e.link)));
                let target = target.trim_start_matches('/');
                parents(root, &format!("{target}/x"), &member)?;
                let from = root.join(target);
                match std::fs::symlink_metadata(&from) {
                    Ok(m) if m.is_file() => {}
                    _ => {
                        return Err(StdinError::Member {
                            member,
                            why: "a hard link to something that is not a file of the tar".into(),
                        })
                    }
                }
                clear(&to)?;
                std::fs::hard_link(&from, &to).map_err(io(&to))?;
            }
            // Devices and fifos have no place in a context.
            _ => {}
        }
    }
    for (d, mode) in dirs.into_iter().rev() {
        let _ =
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode((mode & 0o777) | 0o700));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tar::TarWriter;

    #[test]
    fn a_hostile_tar_stays_inside_and_refuses_links() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let root = d.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let tar = d.path().join("t.tar");
        let mut w = TarWriter::new(std::fs::File::create(&tar).unwrap());
        w.append_file("../../up.txt", 0o644, 0, 2, &mut &b"u\n"[..])
            .unwrap();
        w.append_symlink("link", outside.to_str().unwrap(), 0)
            .unwrap();
        w.append_file("link/evil", 0o644, 0, 2, &mut &b"e\n"[..])
            .unwrap();
        w.finish().unwrap();
        let err = extract(&tar, &root).unwrap_err();
        assert!(err.to_string().contains("link/evil"), "{err}");
        assert_eq!(std::fs::read(root.join("up.txt")).unwrap(), b"u\n");
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
    }
}
