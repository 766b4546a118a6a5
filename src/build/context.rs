//! The build context seen without copying it: an index of every path the
//! ignore file leaves in (type, mode, size, mtime, ctime, inode and, for
//! files, a content digest), kept between builds so that an unchanged
//! context costs one `lstat` per path; the selection of COPY sources from
//! it; and the cache key of a step. Symlinks are recorded as links and
//! never followed.

use super::ignore::{clean, Ignore};
use crate::image::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: the path is not UTF-8; burrow build needs UTF-8 names in the context")]
    NotUtf8(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    /// A fifo, socket or device: not copied.
    Other,
}

/// One path of the context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the context root, `/`-separated, no leading `./`.
    pub path: String,
    pub kind: FileKind,
    /// Permission bits (07777).
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub ino: u64,
    pub dev: u64,
    /// sha256 of the content (files) or of the target (symlinks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl FileEntry {
    /// Whether `other` (the last build's entry) still describes the same
    /// content: then its digest is reused without reading the file.
    fn unchanged(&self, other: &FileEntry) -> bool {
        self.kind == other.kind
            && self.size == other.size
            && self.mtime == other.mtime
            && self.mtime_nsec == other.mtime_nsec
            && self.ctime == other.ctime
            && self.ctime_nsec == other.ctime_nsec
            && self.ino == other.ino
            && self.dev == other.dev
    }
}

/// The context as indexed: entries sorted by path.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContextIndex {
    pub entries: Vec<FileEntry>,
    /// Files whose content was read this time (the rest came from the
    /// previous index).
    #[serde(skip)]
    pub hashed: usize,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn entry_of(rel: &str, m: &std::fs::Metadata) -> FileEntry {
    let ft = m.file_type();
    let kind = if ft.is_file() {
        FileKind::File
    } else if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_symlink() {
        FileKind::Symlink
    } else {
        let _ = ft.is_fifo();
        FileKind::Other
    };
    FileEntry {
        path: rel.to_string(),
        kind,
        mode: m.mode() & 0o7777,
        size: if kind == FileKind::File { m.size() } else { 0 },
        mtime: m.mtime(),
        mtime_nsec: m.mtime_nsec(),
        ctime: m.ctime(),
        ctime_nsec: m.ctime_nsec(),
        ino: m.ino(),
        dev: m.dev(),
        digest: None,
        link: None,
    }
}

/// sha256 of a context file, read without following a symlink put in its
/// place since it was stat'ed.
fn hash_file(path: &Path) -> Result<String, ContextError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

impl ContextIndex {
    /// Walks `root`, leaving out what `ignore` excludes, reusing the
    /// digests of `previous` for entries whose stat is unchanged.
    pub fn scan(
        root: &Path,
        ignore: &Ignore,
        previous: Option<&ContextIndex>,
    ) -> Result<ContextIndex, ContextError> {
        let old: BTreeMap<&str, &FileEntry> = previous
            .map(|p| p.entries.iter().map(|e| (e.path.as_str(), e)).collect())
            .unwrap_or_default();
        let mut out = ContextIndex::default();
        let walk_excluded = ignore.has_exceptions();
        let mut todo: Vec<String> = vec![String::new()];
        while let Some(dir) = todo.pop() {
            let full = if dir.is_empty() {
                root.to_path_buf()
            } else {
                root.join(&dir)
            };
            let list = std::fs::read_dir(&full).map_err(io(&full))?;
            for e in list {
                let e = e.map_err(io(&full))?;
                let name = e
                    .file_name()
                    .into_string()
                    .map_err(|_| ContextError::NotUtf8(e.path()))?;
                let rel = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                let path = e.path();
                let m = std::fs::symlink_metadata(&path).map_err(io(&path))?;
                let excluded = ignore.excludes(&rel);
                if m.is_dir() && (!excluded || walk_excluded) {
                    todo.push(rel.clone());
                }
                if excluded {
                    continue;
                }
                let mut entry = entry_of(&rel, &m);
                match entry.kind {
                    FileKind::File => {
                        entry.digest = match old.get(rel.as_str()) {
                            Some(o) if entry.unchanged(o) && o.digest.is_some() => o.digest.clone(),
                            _ => {
                                out.hashed += 1;
                                Some(hash_file(&path)?)
                            }
                        };
                    }
                    FileKind::Symlink => {
                        let target = std::fs::read_link(&path).map_err(io(&path))?;
                        let target = target
                            .into_os_string()
                            .into_string()
                            .map_err(|_| ContextError::NotUtf8(path.clone()))?;
                        entry.digest = Some(hex::encode(Sha256::digest(target.as_bytes())));
                        entry.link = Some(target);
                    }
                    _ => {}
                }
                out.entries.push(entry);
            }
        }
        out.entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Loads the index kept at `path`; a missing or unreadable one is an
    /// empty index (everything is read once more).
    pub fn load(path: &Path) -> Option<ContextIndex> {
        let data = std::fs::read(path).ok()?;
        serde_json::from_slice(&data).ok()
    }

    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The entries at and under `path` (all for `.`), in order.
    pub fn under(&self, path: &str) -> &[FileEntry] {
        if path == "." || path.is_empty() {
            return &self.entries;
        }
        let start = self.entries.partition_point(|e| e.path.as_str() < path);
        let prefix = format!("{path}/");
        let mut end = start;
        while end < self.entries.len()
            && (self.entries[end].path == path || self.entries[end].path.starts_with(&prefix))
        {
            end += 1;
        }
        &self.entries[start..end]
    }
}

/// Where a context's index is kept between builds: named by the context's
/// absolute path, under the store's build directory.
pub fn index_path(build_dir: &Path, context: &Path) -> PathBuf {
    let key = Digest::of_bytes(context.as_os_str().as_encoded_bytes());
    build_dir
        .join("contexts")
        .join(format!("{}.json", key.hex()))
}

/// A COPY/ADD source, as the user wrote it, resolved in the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The matched path in the context (`.` for the root).
    pub path: String,
    pub kind: FileKind,
}

/// Whether `s` has a Go `filepath.Match` wildcard.
pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Why a source cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("{0}: outside the build context; COPY and ADD read only what is under the context directory")]
    Outside(String),
    #[error("{0}: no such file in the context")]
    Missing(String),
    #[error("{0}: no source files were specified (the pattern matches nothing)")]
    NoMatch(String),
}

/// The context paths one source names: itself, or what its wildcard
/// matches (within one path component per `*`, as Go's `filepath.Match`).
pub fn select(index: &ContextIndex, source: &str) -> Result<Vec<Selected>, SourceError> {
    let cleaned = clean(source);
    let rel = cleaned.trim_start_matches('/');
    if cleaned == ".." || cleaned.starts_with("../") {
        return Err(SourceError::Outside(source.to_string()));
    }
    let rel = if rel.is_empty() { "." } else { rel };
    if rel == "." {
        return Ok(vec![Selected {
            path: ".".into(),
            kind: FileKind::Dir,
        }]);
    }
    if !has_wildcard(rel) {
        return match index.get(rel) {
            Some(e) => Ok(vec![Selected {
                path: e.path.clone(),
                kind: e.kind,
            }]),
            None => Err(SourceError::Missing(source.to_string())),
        };
    }
    let depth = rel.matches('/').count();
    let ig = Ignore::parse(rel);
    let out: Vec<Selected> = index
        .entries
        .iter()
        .filter(|e| e.path.matches('/').count() == depth && ig.excludes(&e.path))
        .map(|e| Selected {
            path: e.path.clone(),
            kind: e.kind,
        })
        .collect();
    if out.is_empty() {
        return Err(SourceError::NoMatch(source.to_string()));
    }
    Ok(out)
}

/// Whether `--exclude` patterns drop `path`, an entry at or under the
/// source `sel`: a pattern matches the path in the context or the path
/// inside the source directory (`--exclude=*.md docs` drops `docs/x.md`).
pub fn is_excluded(excluded: &Ignore, sel: &Selected, path: &str) -> bool {
    if excluded.is_empty() {
        return false;
    }
    if excluded.excludes(path) {
        return true;
    }
    match path.strip_prefix(&format!("{}/", sel.path)) {
        Some(inner) if sel.kind == FileKind::Dir && sel.path != "." => excluded.excludes(inner),
        _ => false,
    }
}

/// The digest of what a set of sources would copy: paths below each
/// source, types, modes, sizes, link targets and content digests. Owners
/// and times are left out (COPY sets the owner; docker's cache ignores
/// times too).
pub fn sources_digest(index: &ContextIndex, selected: &[Selected], excluded: &Ignore) -> String {
    let mut h = Sha256::new();
    for s in selected {
        h.update(s.path.as_bytes());
        h.update([0]);
        for e in index.under(&s.path) {
            if is_excluded(excluded, s, &e.path) {
                continue;
            }
            let line = format!(
                "{}\0{:?}\0{:o}\0{}\0{}\0{}\n",
                e.path,
                e.kind,
                e.mode,
                e.size,
                e.link.as_deref().unwrap_or(""),
                e.digest.as_deref().unwrap_or("")
            );
            h.update(line.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// A step's cache key: its parent's key, the instruction with its
/// arguments substituted, and whatever else decides its result (source
/// digests for COPY/ADD, the args RUN sees).
pub fn step_key(parent: &str, instruction: &str, extra: &[&str]) -> String {
    let mut h = Sha256::new();
    // v2: a FROM without PATH gets docker's default one, and the
    // directories COPY --chown creates its owner.
    h.update(b"burrow-build-step-v2\0");
    h.update(parent.as_bytes());
    h.update([0]);
    h.update(instruction.as_bytes());
    for e in extra {
        h.update([0]);
        h.update(e.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn ctx() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("src/sub")).unwrap();
        fs::write(d.path().join("a.txt"), "a").unwrap();
        fs::write(d.path().join("b.md"), "b").unwrap();
        fs::write(d.path().join("src/main.rs"), "fn main() {}").unwrap();
        fs::write(d.path().join("src/sub/x"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("out")).unwrap();
        d
    }

    #[test]
    fn scan_records_links_without_following_and_skips_ignored() {
        let d = ctx();
        let ix = ContextIndex::scan(d.path(), &Ignore::parse("*.md\n"), None).unwrap();
        let paths: Vec<&str> = ix.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec!["a.txt", "out", "src", "src/main.rs", "src/sub", "src/sub/x"]
        );
        let out = ix.get("out").unwrap();
        assert_eq!(out.kind, FileKind::Symlink);
        assert_eq!(out.link.as_deref(), Some("/etc/passwd"));
        assert_eq!(out.size, 0, "the link's target is never read");
        assert_eq!(
            ix.get("a.txt").unwrap().digest.as_deref(),
            Some(hex::encode(Sha256::digest(b"a")).as_str())
        );
        assert_eq!(ix.hashed, 3);
    }

    #[test]
    fn an_unchanged_context_is_not_read_again() {
        let d = ctx();
        let first = ContextIndex::scan(d.path(), &Ignore::default(), None).unwrap();
        let again = ContextIndex::scan(d.path(), &Ignore::default(), Some(&first)).unwrap();
        assert_eq!(again.hashed, 0);
        assert_eq!(again.entries, first.entries);
        // A change of content (and so of size or ctime) is read.
        fs::write(d.path().join("src/sub/x"), "changed").unwrap();
        let third = ContextIndex::scan(d.path(), &Ignore::default(), Some(&again)).unwrap();
        assert_eq!(third.hashed, 1);
        assert_ne!(
            third.get("src/sub/x").unwrap().digest,
            first.get("src/sub/x").unwrap().digest
        );
    }

    #[test]
    fn a_forged_stale_digest_is_not_trusted_when_the_stat_differs() {
        let d = ctx();
        let mut first = ContextIndex::scan(d.path(), &Ignore::default(), None).unwrap();
        for e in &mut first.entries {
            e.ino += 1;
            e.digest = Some("0".repeat(64));
        }
        let again = ContextIndex::scan(d.path(), &Ignore::default(), Some(&first)).unwrap();
        assert_eq!(again.hashed, 4);
    }

    #[test]
    fn sources_are_selected_in_the_context_only() {
        let d = ctx();
        let ix = ContextIndex::scan(d.path(), &Ignore::default(), None).unwrap();
        assert_eq!(select(&ix, "./src/../a.txt").unwrap()[0].path, "a.txt");
        assert_eq!(select(&ix, "/a.txt").unwrap()[0].path, "a.txt");
        assert_eq!(select(&ix, ".").unwrap()[0].path, ".");
        assert_eq!(
            select(&ix, "../x").unwrap_err(),
            SourceError::Outside("../x".into())
        );
        assert_eq!(
            select(&ix, "src/../../x").unwrap_err(),
            SourceError::Outside("src/../../x".into())
        );
        assert_eq!(
            select(&ix, "missing.txt").unwrap_err(),
            SourceError::Missing("missing.txt".into())
        );
        let w: Vec<String> = select(&ix, "*.txt")
            .unwrap()
            .into_iter()
            .map(|s| s.path)
            .collect();
        assert_eq!(w, vec!["a.txt"]);
        let w: Vec<String> = select(&ix, "src/*")
            .unwrap()
            .into_iter()
            .map(|s| s.path)
            .collect();
        assert_eq!(w, vec!["src/main.rs", "src/sub"]);
        assert!(matches!(
            select(&ix, "*.none"),
            Err(SourceError::NoMatch(_))
        ));
        assert_eq!(ix.under("src").len(), 4);
        assert_eq!(ix.under("src/sub").len(), 2);
    }

    #[test]
    fn keys_change_with_content_mode_and_parent_but_not_mtime() {
        let d = ctx();
        let key = |d: &Path| {
            let ix = ContextIndex::scan(d, &Ignore::default(), None).unwrap();
            let sel = select(&ix, "src").unwrap();
            step_key(
                "parent",
                "COPY src /src",
                &[&sources_digest(&ix, &sel, &Ignore::default())],
            )
        };
        let k1 = key(d.path());
        assert_eq!(k1, key(d.path()));
        let f = d.path().join("src/main.rs");
        let t = fs::File::options().write(true).open(&f).unwrap();
        t.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(k1, key(d.path()), "mtime is not part of the key");
        fs::write(&f, "fn main() { }").unwrap();
        let k2 = key(d.path());
        assert_ne!(k1, k2);
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&f, fs::Permissions::from_mode(0o700)).unwrap();
        assert_ne!(k2, key(d.path()));
        assert_ne!(step_key("p1", "x", &[]), step_key("p2", "x", &[]));
        assert_ne!(step_key("p", "x", &["a"]), step_key("p", "x", &["b"]));
    }
}
