//! Safe layer unpacking: turns a layer's tar stream into a directory that
//! overlayfs takes as a lower layer (whiteouts as 0:0 character devices,
//! opaque directories marked `user.overlay.opaque=y`), and the directory
//! plus its split record back into the identical stream. Runs as root of a
//! user namespace; whatever the tar says, it must never create, change or
//! link anything outside the layer directory.
//!
//! Every entry's parent is opened with `openat2(RESOLVE_BENEATH)` from the
//! layer root and the entry itself is made with `*at` calls on that parent
//! that never follow a final symlink. The split record (see `tar`) is
//! written zstd-compressed; `repack_layer` reads that form.

use super::digest::HashingReader;
use super::tar::{
    CopyError, Entry, EntryKind, Mtime, SplitReader, SplitRecord, SplitWriter, TarError, TarReader,
};
use super::Digest;
use crate::owners::{LayerOwners, OverrideStat, OVERRIDE_XATTR};
use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid,
    XattrFlags,
};
use rustix::io::Errno;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Read and copy size: large enough that a big file costs few syscalls.
const BUF: usize = 256 * 1024;
/// Notes of one kind beyond this are counted, not listed: a single-id map
/// squashes every file of an image.
const NOTE_CAP: u64 = 20;
/// Open parent directories kept for the next entries.
const PARENT_CACHE: usize = 256;
/// Deepest and longest entry path accepted: far beyond any real image, and
/// within what programs in the container can open by path.
const MAX_DEPTH: usize = 1024;
const MAX_PATH: usize = 4095;
/// Symlinks followed to reach one parent directory, as the kernel's limit.
const MAX_SYMLINK_HOPS: u32 = 40;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot open the layer directory {path}: {source}")]
    Dest { path: PathBuf, source: io::Error },
    #[error("layer entry {entry} would land outside the layer: {detail}; the layer is rejected")]
    Escape { entry: String, detail: String },
    #[error(
        "layer entry {entry} is a hardlink to {target}, which {detail}; the layer is rejected"
    )]
    Hardlink {
        entry: String,
        target: String,
        detail: String,
    },
    #[error("layer entry {entry}: {detail}; the layer is rejected")]
    Invalid { entry: String, detail: String },
    #[error("layer entry {entry}: {call} failed: {source}")]
    Sys {
        entry: String,
        call: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    Tar(#[from] TarError),
    #[error("writing the layer's split record: {0}")]
    Split(io::Error),
    #[error("rebuilding the layer's tar stream: {0}")]
    SplitRecord(TarError),
    #[error("rebuilding the layer's tar stream: layer file {path}: {detail}")]
    RepackFile { path: String, detail: String },
    #[error("writing the rebuilt tar stream: {0}")]
    Output(io::Error),
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct UnpackReport {
    /// sha256 of the uncompressed tar stream, read to its end.
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar stream.
    pub size: u64,
    /// One line per thing skipped or changed (device nodes, squashed owners).
    pub notes: Vec<String>,
    /// How many entries had an owner outside the id map (squashed to 0:0).
    pub squashed: u64,
    /// The layer has an opaque whiteout at its root: the layers below it
    /// do not show through.
    #[serde(default)]
    pub opaque_root: bool,
    /// The image's owners of the symbolic links and fifos whose owner was
    /// squashed (files and directories keep theirs in an xattr): the
    /// layer's owners file.
    #[serde(skip)]
    pub owners: LayerOwners,
    /// Regular files hard-linked from the earlier layer given to
    /// [`unpack_layer_sharing`] instead of written (the same bytes and
    /// metadata), and the files written.
    #[serde(default)]
    pub shared: u64,
    #[serde(default)]
    pub written: u64,
    /// Bytes of the regular files written (not linked from the earlier
    /// layer): what this unpacking added to the disk.
    #[serde(default)]
    pub written_bytes: u64,
}

/// Through which ids a layer's owners are given to its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OwnersUnder {
    /// This user namespace's map: an owner it maps is given, any other is
    /// squashed to root and recorded.
    #[default]
    ThisNamespace,
    /// Root alone, whatever this namespace maps: every owner but root is
    /// squashed and recorded, as under the single-id map. The single-id
    /// form of a layer, for a container with that map made by a user who
    /// has subordinate ids.
    RootAlone,
}

/// Unpacks the uncompressed tar stream `tar` into the empty directory
/// `dest`, and writes to `split` the record from which `repack_layer`
/// rebuilds the identical tar stream (zstd-compressed; store it as is).
///
/// Runs as root of the user namespace whose id map the layer's owners are
/// translated through. On error, `dest` holds a partial layer the caller
/// removes; nothing outside `dest` has been touched.
pub fn unpack_layer(
    tar: &mut dyn Read,
    dest: &Path,
    split: &mut dyn Write,
) -> Result<UnpackReport, UnpackError> {
    unpack_layer_sharing(tar, dest, split, None, OwnersUnder::ThisNamespace)
}

/// A directory whose regular files a new layer may hard-link instead of
/// writing them.
#[derive(Debug, Clone, Copy)]
pub enum LinkFrom<'a> {
    /// An unpacked layer (a build step's result from an earlier build),
    /// which nothing ever writes to: only a file whose size, mode, owner,
    /// mtime and (empty) xattrs are already the entry's is linked, and
    /// left as it is.
    Layer(&'a Path),
    /// A directory nothing uses any more, removed once the layer is made
    /// (a build step's writable layer): a file of the entry's size and
    /// bytes, without xattrs, is linked, then given the entry's owner,
    /// mode and mtime as a written file would be.
    Discarded(&'a Path),
}

/// [`unpack_layer`], hard-linking from `from` each regular file at the
/// entry's path that [`LinkFrom`] allows, instead of writing it: the
/// stream is still read and hashed whole, and compared with that file as
/// it comes, so a file that differs in any byte is written. A missing or
/// unreadable `from`, or one on another file system, shares nothing.
/// `under` says through which ids the owners are given.
pub fn unpack_layer_sharing(
    tar: &mut dyn Read,
    dest: &Path,
    split: &mut dyn Write,
    from: Option<LinkFrom>,
    under: OwnersUnder,
) -> Result<UnpackReport, UnpackError> {
    let root = rfs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Dest {
        path: dest.into(),
        source: e.into(),
    })?;
    let mut encoder = zstd::stream::write::Encoder::new(split, 3).map_err(UnpackError::Split)?;
    let input = BufReader::with_capacity(BUF, HashingReader::new(tar));
    let mut reader = TarReader::with_split(
        input,
        SplitWriter::new(&mut encoder).map_err(UnpackError::Split)?,
    );
    let mut layer = Layer::new(root);
    if under == OwnersUnder::RootAlone {
        layer.uids = Some(vec![(0, 1)]);
        layer.gids = Some(vec![(0, 1)]);
    }
    layer.earlier = from.and_then(|from| {
        let (p, adopt) = match from {
            LinkFrom::Layer(p) => (p, false),
            LinkFrom::Discarded(p) => (p, true),
        };
        let fd = rfs::open(
            p,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        Some(Earlier {
            root: fd,
            dir: None,
            buf: vec![0; BUF],
            adopt,
        })
    });
    while let Some(entry) = reader.next_entry()? {
        layer.apply(&mut reader, &entry)?;
    }
    layer.set_dir_times()?;
    let total = reader.position();
    let (input, split) = reader.into_parts();
    if let Some(split) = split {
        split.finish(total).map_err(UnpackError::Split)?;
    }
    encoder.finish().map_err(UnpackError::Split)?;
    let (diff_id, size) = input
        .into_inner()
        .finish()
        .map_err(|source| TarError::Read {
            offset: total,
            source,
        })?;
    Ok(UnpackReport {
        diff_id,
        size,
        squashed: layer.squashed,
        opaque_root: layer.opaque_root,
        owners: layer.owners,
        shared: layer.shared,
        written: layer.written,
        written_bytes: layer.written_bytes,
        notes: layer.notes.finish(),
    })
}

/// Extracts a tar stream (`cp - CTR:DIR`) under the directory `dest`,
/// with the same rules as a layer: every path resolved beneath `dest`,
/// links that leave it refused. Returns the notes (skipped devices,
/// squashed owners).
pub fn extract_into(tar: &mut dyn Read, dest: OwnedFd) -> Result<Vec<String>, UnpackError> {
    let mut reader = TarReader::new(BufReader::with_capacity(BUF, tar));
    let mut layer = Layer::new(dest);
    while let Some(entry) = reader.next_entry()? {
        layer.apply(&mut reader, &entry)?;
    }
    layer.set_dir_times()?;
    Ok(layer.notes.finish())
}

/// Rebuilds a layer's original tar stream from its unpacked directory and
/// its split record (as `unpack_layer` wrote it). Runs where the layer's
/// files are readable: in its user namespace, as `unpack_layer` did. The
/// caller verifies the result against the layer's diff_id.
pub fn repack_layer(
    dir: &Path,
    split: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<(), UnpackError> {
    // The compressed record is small (headers only) and read twice: once to
    // learn which files were replaced within the layer, once to rebuild.
    let mut record = Vec::new();
    split
        .read_to_end(&mut record)
        .map_err(|e| UnpackError::SplitRecord(TarError::SplitRead(e)))?;
    let root = rfs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Dest {
        path: dir.into(),
        source: e.into(),
    })?;
    let open_record = || -> Result<SplitReader<_>, UnpackError> {
        let decoder = zstd::stream::read::Decoder::with_buffer(&record[..])
            .map_err(|e| UnpackError::SplitRecord(TarError::SplitRead(e)))?;
        SplitReader::new(decoder).map_err(UnpackError::SplitRecord)
    };
    let bad = UnpackError::SplitRecord;
    let copy_err = |e: CopyError| match e {
        CopyError::Tar(t) => UnpackError::SplitRecord(t),
        CopyError::Write(w) => UnpackError::Output(w),
    };

    let mut clobbered = HashSet::new();
    let mut r = open_record()?;
    loop {
        match r.next_record().map_err(bad)? {
            SplitRecord::Clobbered { index, .. } => {
                clobbered.insert(index);
            }
            SplitRecord::End { .. } => break,
            _ => {}
        }
    }

    let mut out = Counting { out, count: 0 };
    let mut buf = vec![0u8; BUF];
    let mut r = open_record()?;
    loop {
        match r.next_record().map_err(bad)? {
            SplitRecord::Raw(_) => {
                r.copy_payload(&mut out).map_err(copy_err)?;
            }
            SplitRecord::File { index, path, size } if clobbered.contains(&index) => {
                let mut rs = open_record()?;
                loop {
                    match rs.next_record().map_err(bad)? {
                        SplitRecord::Clobbered { index: i, size: s } if i == index => {
                            if s != size {
                                return Err(UnpackError::SplitRecord(TarError::BadSplit(format!(
                                    "{} has {size} bytes but its saved copy {s}",
                                    lossy(&path)
                                ))));
                            }
                            rs.copy_payload(&mut out).map_err(copy_err)?;
                            break;
                        }
                        SplitRecord::End { .. } => {
                            return Err(UnpackError::SplitRecord(TarError::BadSplit(
                                "a saved copy of a replaced file is missing".into(),
                            )))
                        }
                        _ => {}
                    }
                }
            }
            SplitRecord::File { path, size, .. } => {
                copy_layer_file(&root, &path, size, &mut out, &mut buf)?;
            }
            SplitRecord::Clobbered { .. } => {}
            SplitRecord::End { total } => {
                if out.count != total {
                    return Err(UnpackError::SplitRecord(TarError::BadSplit(format!(
                        "rebuilt {} bytes, the record says {total}",
                        out.count
                    ))));
                }
                break;
            }
        }
    }
    out.flush().map_err(UnpackError::Output)
}

struct Counting<'a> {
    out: &'a mut dyn Write,
    count: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Copies exactly `size` bytes of the regular file at canonical `path`
/// (no symlinks on the way, none at the end) to `out`.
fn copy_layer_file(
    root: &OwnedFd,
    path: &[u8],
    size: u64,
    out: &mut dyn Write,
    buf: &mut [u8],
) -> Result<(), UnpackError> {
    let fail = |detail: String| UnpackError::RepackFile {
        path: lossy(path),
        detail,
    };
    let fd = rfs::openat2(
        root,
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| fail(format!("cannot open it: {}", io::Error::from(e))))?;
    let st = rfs::fstat(&fd).map_err(|e| fail(format!("fstat: {}", io::Error::from(e))))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(fail("it is no longer a regular file".into()));
    }
    if st.st_size as u64 != size {
        return Err(fail(format!(
            "it has {} bytes, the layer had {size}",
            st.st_size
        )));
    }
    let mut file = File::from(fd);
    let mut left = size;
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => return Err(fail(format!("it ended {left} bytes early"))),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(format!("read: {e}"))),
        };
        out.write_all(&buf[..n]).map_err(UnpackError::Output)?;
        left -= n as u64;
    }
    Ok(())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sys<'a>(entry: &'a [u8], call: &'static str) -> impl FnOnce(Errno) -> UnpackError + 'a {
    move |e| UnpackError::Sys {
        entry: lossy(entry),
        call,
        source: e.into(),
    }
}

enum Clean {
    AboveRoot,
    Nul,
}

/// Resolves `.`, `..`, empty components and a leading `/` the way a chroot
/// would: `/etc/x` is `etc/x` in the layer. `..` above the root is refused.
fn clean(raw: &[u8]) -> Result<Vec<u8>, Clean> {
    if raw.contains(&0) {
        return Err(Clean::Nul);
    }
    let mut out = Vec::with_capacity(raw.len());
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.is_empty() {
                    return Err(Clean::AboveRoot);
                }
                let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(cut);
            }
            _ => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(comp);
            }
        }
    }
    Ok(out)
}

/// Where the rest of a path goes after a symlink in directory `walked`
/// (a canonical path) pointing at `target`: an absolute target starts at
/// the layer root (`..` stops there, as at `/`); a relative one that
/// climbs above the root is `None`.
fn relocate(walked: &[u8], target: &[u8], rest: &[u8]) -> Option<Vec<u8>> {
    let absolute = target.starts_with(b"/");
    let base = if absolute { &b""[..] } else { walked };
    let mut out: Vec<u8> = base.to_vec();
    for comp in target.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." if out.is_empty() => {
                if !absolute {
                    return None;
                }
            }
            b".." => {
                let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(cut);
            }
            _ if comp.contains(&0) => return None,
            _ => out = join(&out, comp),
        }
    }
    if !rest.is_empty() {
        out = join(&out, rest);
    }
    Some(out)
}

/// Why a (cleaned) path is beyond what burrow unpacks: no program could
/// use it, and a tree of it costs one fd per level in naive tools.
fn too_deep(path: &[u8]) -> Option<String> {
    let depth = path.split(|&b| b == b'/').count();
    if depth > MAX_DEPTH {
        return Some(format!(
            "it lies {depth} directories deep, beyond the {MAX_DEPTH} burrow unpacks"
        ));
    }
    if path.len() > MAX_PATH {
        return Some(format!(
            "its path is {} bytes long, beyond the {MAX_PATH} burrow unpacks (PATH_MAX)",
            path.len()
        ));
    }
    None
}

/// A long entry name cut for a message: its start and its end.
fn shorten(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    if chars.len() <= 160 {
        return path.to_string();
    }
    let head: String = chars[..100].iter().collect();
    let tail: String = chars[chars.len() - 40..].iter().collect();
    format!("{head}...{tail}")
}

/// `dir/name` into (`dir`, `name`); a top-level name has an empty dir.
fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b""[..], path),
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dir.len() + name.len() + 1);
    out.extend_from_slice(dir);
    if !dir.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

fn timestamps(m: Mtime) -> Timestamps {
    let t = Timespec {
        tv_sec: m.secs,
        tv_nsec: m.nanos.into(),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// An open directory of the layer and its path from the root without
/// symlinks (where files found through it really are).
struct Parent {
    fd: OwnedFd,
    canon: Vec<u8>,
}

/// Why a parent directory could not be opened.
enum Resolve {
    Outside,
    Missing,
    NotDir,
    /// A symlink leads to a path deeper or longer than the bounds.
    TooDeep(Vec<u8>),
    Sys(Errno),
}

/// The entry being created: its parent, its name there, and paths.
struct Target<'a> {
    entry: &'a Entry,
    /// Cleaned entry path, for messages.
    path: &'a [u8],
    parent: Rc<Parent>,
    base: &'a [u8],
    canon: Vec<u8>,
}

/// Notes for the report, capped per kind.
#[derive(Default)]
struct Notes {
    lines: Vec<String>,
    counts: BTreeMap<&'static str, u64>,
}

impl Notes {
    /// `kind` names the note's group in the summary line ("… more {kind}").
    fn add(&mut self, kind: &'static str, line: impl FnOnce() -> String) {
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        if *n <= NOTE_CAP {
            self.lines.push(line());
        }
    }

    fn finish(mut self) -> Vec<String> {
        for (kind, n) in self.counts {
            if n > NOTE_CAP {
                self.lines
                    .push(format!("... and {} more {kind} ({n} in all)", n - NOTE_CAP));
            }
        }
        self.lines
    }
}

const SQUASHED: &str = "files with owners outside the id map, squashed to root";

/// The ranges of ids (first inside id, count) this user namespace maps.
fn read_id_map(file: &str) -> Option<Vec<(u64, u64)>> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(|line| {
            let mut f = line.split_whitespace();
            let inside = f.next()?.parse().ok()?;
            let _outside: u64 = f.next()?.parse().ok()?;
            let count = f.next()?.parse().ok()?;
            Some((inside, count))
        })
        .collect()
}

fn mapped(map: &Option<Vec<(u64, u64)>>, id: u64) -> bool {
    // u32::MAX is "no change" to chown, never an owner.
    if id >= u64::from(u32::MAX) {
        return false;
    }
    match map {
        Some(ranges) => ranges
            .iter()
            .any(|&(start, count)| id >= start && id - start < count),
        // Unknown map: try, and squash if the kernel says EINVAL.
        None => true,
    }
}

struct Layer {
    root: Rc<Parent>,
    parents: HashMap<Vec<u8>, Rc<Parent>>,
    /// Canonical path of each file whose payload a split F record points
    /// to, with the record's number.
    files: BTreeMap<Vec<u8>, u64>,
    /// Directory mtimes, set at the end: creating children changes them.
    dir_times: BTreeMap<Vec<u8>, Mtime>,
    uids: Option<Vec<(u64, u64)>>,
    gids: Option<Vec<(u64, u64)>>,
    notes: Notes,
    squashed: u64,
    /// Owners squashed on entries that cannot carry the override xattr.
    owners: LayerOwners,
    /// An opaque whiteout at the root: nothing of the layers below shows.
    opaque_root: bool,
    /// The layer unchanged files are linked from.
    earlier: Option<Earlier>,
    shared: u64,
    written: u64,
    written_bytes: u64,
}

/// The directory whose unchanged files a new layer links.
struct Earlier {
    root: OwnedFd,
    /// The directory last opened in it (entries come sorted by path).
    dir: Option<(Vec<u8>, Rc<OwnedFd>)>,
    /// For comparing its files with the stream.
    buf: Vec<u8>,
    /// [`LinkFrom::Discarded`]: its files may take the entry's metadata.
    adopt: bool,
}

/// A file of the earlier layer that may be the same as the entry.
struct Candidate {
    dir: Rc<OwnedFd>,
    file: File,
    ino: u64,
}

/// Takes a regular file's bytes from the stream and compares them with
/// the earlier layer's file; at the first difference the new file is
/// made, given the bytes that matched, and written from there on.
struct Compare<'a> {
    old: &'a mut File,
    buf: &'a mut [u8],
    matched: u64,
    parent: &'a OwnedFd,
    base: &'a [u8],
    written: Option<File>,
}

impl Write for Compare<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.written.is_none() {
            let mut same = true;
            for chunk in data.chunks(self.buf.len()) {
                let old = &mut self.buf[..chunk.len()];
                if self.old.read_exact(old).is_err() || old != chunk {
                    same = false;
                    break;
                }
            }
            if same {
                self.matched += data.len() as u64;
                return Ok(data.len());
            }
            let fd = rfs::openat(
                self.parent,
                self.base,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let mut new = File::from(fd);
            self.old.rewind()?;
            io::copy(&mut (&mut *self.old).take(self.matched), &mut new)?;
            self.written = Some(new);
        }
        let new = self.written.as_mut().expect("made above");
        new.write_all(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Layer {
    fn new(root: OwnedFd) -> Layer {
        Layer {
            root: Rc::new(Parent {
                fd: root,
                canon: Vec::new(),
            }),
            parents: HashMap::new(),
            files: BTreeMap::new(),
            dir_times: BTreeMap::new(),
            uids: read_id_map("/proc/self/uid_map"),
            gids: read_id_map("/proc/self/gid_map"),
            notes: Notes::default(),
            squashed: 0,
            owners: LayerOwners::default(),
            opaque_root: false,
            earlier: None,
            shared: 0,
            written: 0,
            written_bytes: 0,
        }
    }

    fn apply<R: BufRead>(
        &mut self,
        reader: &mut TarReader<R>,
        e: &Entry,
    ) -> Result<(), UnpackError> {
        let path = clean(&e.path).map_err(|why| match why {
            Clean::AboveRoot => UnpackError::Escape {
                entry: e.display_path(),
                detail: "its `..` climbs above the layer root".into(),
            },
            Clean::Nul => UnpackError::Invalid {
                entry: e.display_path(),
                detail: "its name contains a NUL byte".into(),
            },
        })?;
        if path.is_empty() {
            return self.root_entry(e);
        }
        if let Some(detail) = too_deep(&path) {
            return Err(UnpackError::Invalid {
                entry: shorten(&e.display_path()),
                detail,
            });
        }
        let (dir, base) = split_last(&path);
        // No directory may have a whiteout's name (OCI image spec), so
        // nothing can lie beneath one; AUFS kept its bookkeeping in
        // `.wh..wh.*` directories, which are skipped.
        if let Some(wh) = dir.split(|&b| b == b'/').find(|c| c.starts_with(b".wh.")) {
            if wh.starts_with(b".wh..wh.") && wh != b".wh..wh..opq" {
                self.notes.add("AUFS metadata entries skipped", || {
                    format!("skipped AUFS metadata entry {}", lossy(&path))
                });
                return Ok(());
            }
            return Err(UnpackError::Invalid {
                entry: lossy(&path),
                detail: format!(
                    "it lies beneath {}, a whiteout name that no directory may have \
                     (OCI image spec)",
                    lossy(wh)
                ),
            });
        }
        if let Some(name) = base.strip_prefix(b".wh.") {
            return self.whiteout(reader, e, &path, dir, name);
        }
        let parent = self.parent(dir, &path)?;
        let t = Target {
            entry: e,
            path: &path,
            canon: join(&parent.canon, base),
            parent,
            base,
        };
        match e.kind {
            EntryKind::Directory => self.directory(reader, &t),
            EntryKind::Regular => self.regular(reader, &t),
            EntryKind::Symlink => self.symlink(reader, &t),
            EntryKind::Hardlink => self.hardlink(reader, &t),
            EntryKind::Fifo => self.fifo(reader, &t),
            EntryKind::CharDevice if e.dev_major == 0 && e.dev_minor == 0 => {
                // Already overlayfs's whiteout form.
                self.create(reader, &t, "mknodat", whiteout_node)
            }
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                let kind = if e.kind == EntryKind::CharDevice {
                    "char"
                } else {
                    "block"
                };
                self.notes.add("device nodes skipped", || {
                    format!(
                        "skipped device node {} ({kind} {}:{}): device nodes cannot be created \
                         without privileges",
                        lossy(&path),
                        e.dev_major,
                        e.dev_minor
                    )
                });
                Ok(())
            }
        }
    }

    /// The layer's root directory itself (`./` in many tars).
    fn root_entry(&mut self, e: &Entry) -> Result<(), UnpackError> {
        if e.kind != EntryKind::Directory {
            return Err(UnpackError::Invalid {
                entry: e.display_path(),
                detail: "an entry that is not a directory would replace the layer root".into(),
            });
        }
        let root = self.root.clone();
        self.fd_metadata(root.fd.as_fd(), e, b".")?;
        self.dir_times.insert(Vec::new(), e.mtime);
        Ok(())
    }

    fn whiteout<R: BufRead>(
        &mut self,
        reader: &mut TarReader<R>,
        e: &Entry,
        path: &[u8],
        dir: &[u8],
        name: &[u8],
    ) -> Result<(), UnpackError> {
        if name == b".wh..opq" {
            // The root cannot be opaque to overlayfs (it merges the roots of
            // all layers): the store drops the layers below this one.
            self.opaque_root |= dir.is_empty();
            let parent = self.parent(dir, path)?;
            return rfs::fsetxattr(&parent.fd, "user.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(sys(path, "fsetxattr(user.overlay.opaque)"));
        }
        if name.starts_with(b".wh.") {
            // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): no meaning here.
            self.notes.add("AUFS metadata entries skipped", || {
                format!("skipped AUFS metadata entry {}", lossy(path))
            });
            return Ok(());
        }
        if name.is_empty() || name == b"." || name == b".." {
            return Err(UnpackError::Invalid {
                entry: lossy(path),
                detail: "a whiteout that names no file".into(),
            });
        }
        let parent = self.parent(dir, path)?;
        let t = Target {
            entry: e,
            path,
            canon: join(&parent.canon, name),
            parent,
            base: name,
        };
        self.create(reader, &t, "mknodat", whiteout_node)
    }

    /// Opens the parent directory `dir` (a cleaned path), creating missing
    /// directories.
    fn parent(&mut self, dir: &[u8], entry: &[u8]) -> Result<Rc<Parent>, UnpackError> {
        if dir.is_empty() {
            return Ok(self.root.clone());
        }
        if let Some(p) = self.parents.get(dir) {
            return Ok(p.clone());
        }
        let p = Rc::new(self.resolve(dir, true).map_err(|r| match r {
            Resolve::Outside => UnpackError::Escape {
                entry: lossy(entry),
                detail: format!(
                    "its parent {} resolves outside the layer through a symlink",
                    lossy(dir)
                ),
            },
            Resolve::NotDir | Resolve::Missing => UnpackError::Invalid {
                entry: lossy(entry),
                detail: format!(
                    "its parent {} is not a directory (or is a symlink to nothing)",
                    lossy(dir)
                ),
            },
            Resolve::TooDeep(to) => UnpackError::Invalid {
                entry: shorten(&lossy(entry)),
                detail: format!(
                    "its parent leads through symlinks to {}, and {}",
                    shorten(&lossy(&to)),
                    too_deep(&to).unwrap_or_default()
                ),
            },
            Resolve::Sys(errno) => sys(entry, "openat2")(errno),
        })?);
        self.remember(dir.to_vec(), p.clone());
        Ok(p)
    }

    fn remember(&mut self, dir: Vec<u8>, p: Rc<Parent>) {
        if self.parents.len() >= PARENT_CACHE {
            self.parents.clear();
        }
        self.parents.insert(dir, p);
    }

    /// Opens `path` beneath the root without following any symlink.
    fn open_beneath(&self, path: &[u8]) -> Result<OwnedFd, Errno> {
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_SYMLINKS;
        let mut tries = 0;
        loop {
            match rfs::openat2(
                &self.root.fd,
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                how,
            ) {
                // EAGAIN: a concurrent rename; nothing renames here, but
                // the kernel may say so anyway.
                Err(Errno::AGAIN) if tries < 8 => tries += 1,
                r => return r,
            }
        }
    }

    /// Opens directory `dir` beneath the root, one component at a time,
    /// creating what is missing when `create`. A symlink on the way is
    /// followed as it would be with the layer as `/`: an absolute target
    /// starts again at the layer root; a relative one that climbs above the
    /// root is an escape.
    fn resolve(&mut self, dir: &[u8], create: bool) -> Result<Parent, Resolve> {
        let map = |e: Errno| match e {
            Errno::XDEV => Resolve::Outside,
            Errno::NOENT => Resolve::Missing,
            Errno::NOTDIR => Resolve::NotDir,
            other => Resolve::Sys(other),
        };
        match self.open_beneath(dir) {
            Ok(fd) => {
                return Ok(Parent {
                    fd,
                    canon: dir.to_vec(),
                })
            }
            Err(Errno::LOOP) => {}
            Err(Errno::NOENT) if create => {}
            Err(e) => return Err(map(e)),
        }
        let mut path = dir.to_vec();
        let mut hops = 0;
        'walk: loop {
            // `walked` has no symlinks in it: the canonical path of `fd`.
            let mut walked: Vec<u8> = Vec::new();
            let mut fd: Option<OwnedFd> = None;
            let mut start = 0;
            while start < path.len() {
                let end = path[start..]
                    .iter()
                    .position(|&b| b == b'/')
                    .map_or(path.len(), |i| start + i);
                let comp = &path[start..end];
                let at = fd.as_ref().unwrap_or(&self.root.fd);
                // One plain name (cleaned paths hold no `..`) from a
                // directory already beneath the root.
                let step = rfs::openat2(
                    at,
                    comp,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
                );
                let next = match step {
                    Ok(f) => f,
                    Err(Errno::LOOP) => {
                        hops += 1;
                        if hops > MAX_SYMLINK_HOPS {
                            return Err(Resolve::Sys(Errno::LOOP));
                        }
                        let target = rfs::readlinkat(at, comp, Vec::new())
                            .map_err(|e| match e {
                                // Not a symlink after all: a magic link or
                                // a race; neither is followed.
                                Errno::INVAL => Resolve::NotDir,
                                e => map(e),
                            })?
                            .into_bytes();
                        let rest = &path[(end + 1).min(path.len())..];
                        path = relocate(&walked, &target, rest).ok_or(Resolve::Outside)?;
                        if too_deep(&path).is_some() {
                            return Err(Resolve::TooDeep(path));
                        }
                        continue 'walk;
                    }
                    Err(Errno::NOENT) if create => {
                        match rfs::mkdirat(at, comp, Mode::from_raw_mode(0o755)) {
                            Ok(()) | Err(Errno::EXIST) => {}
                            Err(e) => return Err(map(e)),
                        }
                        let f = rfs::openat(
                            at,
                            comp,
                            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(|e| match e {
                            Errno::LOOP => Resolve::NotDir,
                            e => map(e),
                        })?;
                        // Whatever the umask, implied directories are 0755.
                        rfs::fchmod(&f, Mode::from_raw_mode(0o755)).map_err(map)?;
                        f
                    }
                    Err(e) => return Err(map(e)),
                };
                walked = join(&walked, comp);
                fd = Some(next);
                start = end + 1;
            }
            let fd = match fd {
                Some(fd) => fd,
                // A symlink to the root itself.
                None => rfs::openat(
                    &self.root.fd,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(map)?,
            };
            return Ok(Parent { fd, canon: walked });
        }
    }

    /// Runs `op` to create `t`; if something is already there, removes it
    /// (never following a symlink) and runs `op` again.
    fn create<R: BufRead, T>(
        &mut self,
        reader: &mut TarReader<R>,
        t: &Target,
        call: &'static str,
        mut op: impl FnMut(&OwnedFd, &[u8]) -> Result<T, Errno>,
    ) -> Result<T, UnpackError> {
        match op(&t.parent.fd, t.base) {
            Err(Errno::EXIST) => {
                self.remove(reader, t)?;
                op(&t.parent.fd, t.base).map_err(sys(t.path, call))
            }
            r => r.map_err(sys(t.path, call)),
        }
    }

    /// Removes what is at `t` (a duplicate name in the tar). Payloads of
    /// files the split points to are saved into the split first.
    fn remove<R: BufRead>(
        &mut self,
        reader: &mut TarReader<R>,
        t: &Target,
    ) -> Result<(), UnpackError> {
        let st = match rfs::statat(&t.parent.fd, t.base, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(sys(t.path, "fstatat")(e)),
        };
        // Any cached parent may live under what goes away.
        self.parents.clear();
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind == FileType::Directory {
            let mut lo = t.canon.clone();
            lo.push(b'/');
            let mut hi = t.canon.clone();
            hi.push(b'/' + 1);
            let under: Vec<(Vec<u8>, u64)> = self
                .files
                .range(lo.clone()..hi.clone())
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            for (path, index) in under {
                self.files.remove(&path);
                let fd = rfs::openat2(
                    &self.root.fd,
                    &path,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
                )
                .map_err(sys(t.path, "openat2"))?;
                save_clobbered(reader, fd, index, t.path)?;
            }
            self.dir_times.remove(&t.canon);
            let gone: Vec<Vec<u8>> = self
                .dir_times
                .range(lo..hi)
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                self.dir_times.remove(&k);
            }
            super::tree::remove_at(t.parent.fd.as_fd(), t.base)
                .map_err(sys(t.path, "remove directory"))
        } else {
            if kind == FileType::RegularFile {
                if let Some(index) = self.files.remove(&t.canon) {
                    let fd = rfs::openat(
                        &t.parent.fd,
                        t.base,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(sys(t.path, "openat"))?;
                    save_clobbered(reader, fd, index, t.path)?;
                }
            }
            rfs::unlinkat(&t.parent.fd, t.base, AtFlags::empty()).map_err(sys(t.path, "unlinkat"))
        }
    }

    fn directory<R: BufRead>(
        &mut self,
        reader: &mut TarReader<R>,
        t: &Target,
    ) -> Result<(), UnpackError> {
        let p = &t.parent.fd;
        match rfs::mkdirat(p, t.base, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = rfs::statat(p, t.base, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(sys(t.path, "fstatat"))?;
                // A directory over a directory keeps it (and its children).
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    self.remove(reader, t)?;
                    rfs::mkdirat(p, t.base, Mode::from_raw_mode(0o700))
                        .map_err(sys(t.path, "mkdirat"))?;
                }
            }
            Err(e) => return Err(sys(t.path, "mkdirat")(e)),
        }
        let fd = rfs::openat(
            p,
            t.base,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys(t.path, "openat"))?;
        self.fd_metadata(fd.as_fd(), t.entry, t.path)?;
        self.dir_times.insert(t.canon.clone(), t.entry.mtime);
        let parent = Rc::new(Parent {
            fd,
            canon: t.canon.clone(),
        });
        self.remember(t.path.to_vec(), parent);
        Ok(())
    }

    /// The earlier layer's file at `t`'s path when its metadata is what
    /// unpacking the entry would give (so only the bytes remain to be
    /// compared): a regular file, not a link out of the layer, of the
    /// same size, mode, owner (mapped here: nothing squashed or
    /// recorded) and mtime, without xattrs; and nothing at `t` yet. From
    /// a directory to adopt files from, the size is enough (the metadata
    /// is set once linked).
    fn candidate(&mut self, t: &Target) -> Option<Candidate> {
        let e = t.entry;
        if e.size == 0
            || !e.xattrs.is_empty()
            || !mapped(&self.uids, e.uid)
            || !mapped(&self.gids, e.gid)
        {
            return None;
        }
        let earlier = self.earlier.as_mut()?;
        if !matches!(
            rfs::statat(&t.parent.fd, t.base, AtFlags::SYMLINK_NOFOLLOW),
            Err(Errno::NOENT)
        ) {
            return None;
        }
        let (dir, base) = split_last(&t.canon);
        let dir_fd = match &earlier.dir {
            Some((path, fd)) if path == dir => fd.clone(),
            _ => {
                let fd = rfs::openat2(
                    &earlier.root,
                    if dir.is_empty() { &b"."[..] } else { dir },
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
                )
                .ok()?;
                let fd = Rc::new(fd);
                earlier.dir = Some((dir.to_vec(), fd.clone()));
                fd
            }
        };
        let fd = rfs::openat(
            &*dir_fd,
            base,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let st = rfs::fstat(&fd).ok()?;
        let adopt = earlier.adopt;
        let same = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
            && st.st_size as u64 == e.size
            && (adopt
                || (st.st_mode & 0o7777 == e.mode & 0o7777
                    && (u64::from(st.st_uid), u64::from(st.st_gid)) == (e.uid, e.gid)
                    && st.st_mtime as i64 == e.mtime.secs
                    && st.st_mtime_nsec as i64 == i64::from(e.mtime.nanos)));
        if !same {
            return None;
        }
        let mut names = [0u8; 1];
        match rfs::flistxattr(&fd, &mut names[..]) {
            Ok(0) | Err(Errno::NOTSUP) => {}
            _ => return None,
        }
        Some(Candidate {
            dir: dir_fd,
            file: File::from(fd),
            ino: st.st_ino,
        })
    }

    fn regular<R: BufRead>(
        &mut self,
        reader: &mut TarReader<R>,
        t: &Target,
    ) -> Result<(), UnpackError> {
        if let Some(c) = self.candidate(t) {
            return self.regular_from_earlier(reader, t, c);
        }
        self.written += 1;
        self.written_bytes += t.entry.size;
        let fd = self.create(reader, t, "openat", |p, b| {
            rfs::openat(
                p,
                b,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        })?;
        let mut file = File::from(fd);
        let copied = reader.copy_data(&t.canon, &mut file);
        self.copied(t, copied)?;
        self.fd_metadata(file.as_fd(), t.entry, t.path)?;
        rfs::futimens(&file, &timestamps(t.entry.mtime)).map_err(sys(t.path, "futimens"))
    }

    /// What a regular file's `copy_data` came to: where its payload is in
    /// a split layer (noted), or the entry's error.
    fn copied(
        &mut self,
        t: &Target,
        copied: Result<Option<u64>, CopyError>,
    ) -> Result<(), UnpackError> {
        match copied {
            Ok(Some(index)) => {
                self.files.insert(t.canon.clone(), index);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(CopyError::Tar(e)) => Err(e.into()),
            Err(CopyError::Write(e)) => Err(UnpackError::Sys {
                entry: lossy(t.path),
                call: "write",
                source: e,
            }),
        }
    }

    /// A regular file that may be unchanged since the earlier layer:
    /// linked from there when every byte of the stream matched, else
    /// written (from the first byte that differed).
    fn regular_from_earlier<R: BufRead>(
        &mut self,
        reader: &mut TarReader<R>,
        t: &Target,
        mut c: Candidate,
    ) -> Result<(), UnpackError> {
        let mut buf = std::mem::take(&mut self.earlier.as_mut().expect("a candidate's").buf);
        let mut cmp = Compare {
            old: &mut c.file,
            buf: &mut buf,
            matched: 0,
            parent: &t.parent.fd,
            base: t.base,
            written: None,
        };
        let copied = reader.copy_data(&t.canon, &mut cmp);
        let written = cmp.written.take();
        let matched = cmp.matched;
        if let Some(e) = self.earlier.as_mut() {
            e.buf = buf;
        }
        self.copied(t, copied)?;
        let (_, base) = split_last(&t.canon);
        let file = match written {
            Some(f) => f,
            None if matched == t.entry.size => {
                match rfs::linkat(&*c.dir, base, &t.parent.fd, t.base, AtFlags::empty()) {
                    // The name still holds the compared file: nothing
                    // writes in the earlier layer.
                    Ok(())
                        if rfs::statat(&t.parent.fd, t.base, AtFlags::SYMLINK_NOFOLLOW)
                            .is_ok_and(|st| st.st_ino == c.ino) =>
                    {
                        self.shared += 1;
                        if self.earlier.as_ref().is_some_and(|e| e.adopt) {
                            // Ours now: the metadata a written file gets.
                            self.fd_metadata(c.file.as_fd(), t.entry, t.path)?;
                            rfs::futimens(&c.file, &timestamps(t.entry.mtime))
                                .map_err(sys(t.path, "futimens"))?;
                        }
                        return Ok(());
                    }
                    Ok(()) => {
                        rfs::unlinkat(&t.parent.fd, t.base, AtFlags::empty())
                            .map_err(sys(t.path, "unlinkat"))?;
                    }
                    // Too many links, another file system: a copy.
                    Err(_) => {}
                }
                let fd = rfs::openat(
                    &t.parent.fd,
                    t.base,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(sys(t.path, "openat"))?;
                let mut new = File::from(fd);
                let copy = c
                    .file
                    .rewind()
                    .and_then(|()| io::copy(&mut c.file, &mut new));
                copy.map_err(|e| UnpackError::Sys {
                    entry: lossy(t.path),
                    call: "write",
                    source: e,
                })?;
                new
            }
            None => {
                return Err(UnpackError::Invalid {
                    entry: lossy(t.path),
                    detail: "the stream ended inside the file".into(),
                })
            }
        };
        self.written += 1;
        self.written_bytes += t.entry.size;
        self.fd_metadata(file.as_fd(), t.entry, t.path)?;
        rfs::futimens(&file, &timestamps(t.entry.mtime)).map_err(sys(t.path, "futimens"))
    }

    fn symlink<R: BufRead>(
        &mut self,
        reader: &mut TarReader<R>,
        t: &Target,
    ) -> Result<(), UnpackError> {
        if t.entry.link.is_empty() {
            return Err(UnpackError::Invalid {
                entry: lossy(t.path),
                detail: "a symlink with an empty target".into(),
            });
        }
        // Any target text is fine: it is never followed here.
        self.create(reader, t, "symlinkat", |p, b| {
            rfs::symlinkat(&t.entry.link[..], p, b)
        })?;
        self.path_metadata(t, false)
    }

    fn fifo<R: BufRead>(
        &mut self,
        reader: &mut TarReader<R>,
        t: &Target,
    ) -> Result<(), UnpackError> {
        self.create(reader, t, "mknodat", |p, b| {
            rfs::mknodat(p, b, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
        })?;
        self.path_metadata(t, true)
    }

    fn hardlink<R: BufRead>(
        &mut self,
        reader: &mut TarReader<R>,
        t: &Target,
    ) -> Result<(), UnpackError> {
        let reject = |detail: &str| UnpackError::Hardlink {
            entry: lossy(t.path),
            target: lossy(&t.entry.link),
            detail: detail.into(),
        };
        let target = match clean(&t.entry.link) {
            Ok(p) if p.is_empty() => return Err(reject("is the layer root")),
            Ok(p) => p,
            Err(Clean::AboveRoot) => return Err(reject("is outside the layer")),
            Err(Clean::Nul) => return Err(reject("contains a NUL byte")),
        };
        let missing = "does not exist in the layer";
        if target == t.path {
            // GNU tar writes a file listed twice as a link to itself.
            return match rfs::statat(&t.parent.fd, t.base, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => Ok(()),
                Err(_) => Err(reject(missing)),
            };
        }
        let (tdir, tbase) = split_last(&target);
        let tparent = if tdir.is_empty() {
            self.root.clone()
        } else if let Some(p) = self.parents.get(tdir) {
            p.clone()
        } else {
            Rc::new(self.resolve(tdir, false).map_err(|r| match r {
                Resolve::Outside => reject("resolves outside the layer through a symlink"),
                Resolve::Missing | Resolve::NotDir => reject(missing),
                Resolve::TooDeep(_) => reject("lies beyond the depth burrow unpacks"),
                Resolve::Sys(e) => sys(t.path, "openat2")(e),
            })?)
        };
        // Without AT_SYMLINK_FOLLOW: a symlink target gets linked itself,
        // and the target's parent lies beneath the root, so the inode is
        // the layer's own.
        let link = |p: &OwnedFd, b: &[u8]| rfs::linkat(&tparent.fd, tbase, p, b, AtFlags::empty());
        match link(&t.parent.fd, t.base) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                self.remove(reader, t)?;
                link(&t.parent.fd, t.base).map_err(|e| link_error(e, t, &reject))
            }
            Err(e) => Err(link_error(e, t, &reject)),
        }
    }

    /// Owner, mode and xattrs through an open fd (files and directories).
    fn fd_metadata(&mut self, fd: BorrowedFd, e: &Entry, path: &[u8]) -> Result<(), UnpackError> {
        let (uid, gid) = self.owner(e, path);
        match rfs::fchown(fd, Some(uid), Some(gid)) {
            Ok(()) => {}
            Err(Errno::INVAL) => {
                self.squash_refused(e, path);
                rfs::fchown(fd, Some(Uid::ROOT), Some(Gid::ROOT)).map_err(sys(path, "fchown"))?;
            }
            Err(err) => return Err(sys(path, "fchown")(err)),
        }
        // After chown, which clears setuid and setgid.
        rfs::fchmod(fd, Mode::from_raw_mode(e.mode & 0o7777)).map_err(sys(path, "fchmod"))?;
        for (name, value) in &e.xattrs {
            self.xattr(fd, path, name, value);
        }
        if let Some(o) = Self::squashed_owner(e, fd) {
            let is_dir = e.kind == EntryKind::Directory || path == b".";
            if let Err(err) = crate::owners::record(fd, o, is_dir) {
                self.notes.add("owners not recorded", || {
                    format!(
                        "could not record the owner {}:{} of {} in {OVERRIDE_XATTR}: {}",
                        o.uid,
                        o.gid,
                        lossy(path),
                        io::Error::from(err)
                    )
                });
            }
        }
        Ok(())
    }

    /// The image's owner of an entry when the namespace gave it another
    /// (`fd`: the entry as made), for the record that commit and export
    /// read back.
    fn squashed_owner(e: &Entry, fd: BorrowedFd) -> Option<OverrideStat> {
        let (uid, gid) = (u32::try_from(e.uid).ok()?, u32::try_from(e.gid).ok()?);
        if uid == u32::MAX || gid == u32::MAX {
            return None;
        }
        // In the namespace a mapped id reads as itself.
        let st = rfs::fstat(fd).ok()?;
        if (st.st_uid, st.st_gid) == (uid, gid) {
            return None;
        }
        Some(OverrideStat {
            uid,
            gid,
            mode: e.mode & 0o7777,
        })
    }

    /// Owner, mode (fifos) and mtime by name, never following a symlink.
    fn path_metadata(&mut self, t: &Target, chmod: bool) -> Result<(), UnpackError> {
        let p = &t.parent.fd;
        let (uid, gid) = self.owner(t.entry, t.path);
        let nofollow = AtFlags::SYMLINK_NOFOLLOW;
        match rfs::chownat(p, t.base, Some(uid), Some(gid), nofollow) {
            Ok(()) => {}
            Err(Errno::INVAL) => {
                self.squash_refused(t.entry, t.path);
                rfs::chownat(p, t.base, Some(Uid::ROOT), Some(Gid::ROOT), nofollow)
                    .map_err(sys(t.path, "fchownat"))?;
            }
            Err(e) => return Err(sys(t.path, "fchownat")(e)),
        }
        let e = t.entry;
        let squashed = rfs::statat(p, t.base, nofollow)
            .is_ok_and(|st| (st.st_uid as u64, st.st_gid as u64) != (e.uid, e.gid));
        if let (true, Ok(uid), Ok(gid)) = (squashed, u32::try_from(e.uid), u32::try_from(e.gid)) {
            self.owners.insert(&t.canon, uid, gid);
        }
        if chmod {
            // The name was just made as a fifo by this process; nothing
            // else writes in the layer, so following is not a risk.
            rfs::chmodat(
                p,
                t.base,
                Mode::from_raw_mode(t.entry.mode & 0o7777),
                AtFlags::empty(),
            )
            .map_err(sys(t.path, "fchmodat"))?;
        }
        if !t.entry.xattrs.is_empty() {
            self.notes.add("xattrs skipped", || {
                format!(
                    "skipped the xattrs of {}: only files and directories carry them",
                    lossy(t.path)
                )
            });
        }
        rfs::utimensat(p, t.base, &timestamps(t.entry.mtime), nofollow)
            .map_err(sys(t.path, "utimensat"))
    }

    /// The owner to give an entry: its own, or root for ids the namespace
    /// does not map.
    fn owner(&mut self, e: &Entry, path: &[u8]) -> (Uid, Gid) {
        let uid_ok = mapped(&self.uids, e.uid);
        let gid_ok = mapped(&self.gids, e.gid);
        if !(uid_ok && gid_ok) {
            self.squashed += 1;
            self.notes.add(SQUASHED, || {
                format!(
                    "squashed the owner of {} ({}:{}) to root: {} outside the user namespace's \
                     id map",
                    lossy(path),
                    e.uid,
                    e.gid,
                    match (uid_ok, gid_ok) {
                        (false, true) => "its uid is",
                        (true, false) => "its gid is",
                        _ => "its uid and gid are",
                    }
                )
            });
        }
        let uid = if uid_ok { e.uid as u32 } else { 0 };
        let gid = if gid_ok { e.gid as u32 } else { 0 };
        (Uid::from_raw(uid), Gid::from_raw(gid))
    }

    /// The kernel refused an owner the map seemed to allow.
    fn squash_refused(&mut self, e: &Entry, path: &[u8]) {
        if mapped(&self.uids, e.uid) && mapped(&self.gids, e.gid) {
            self.squashed += 1;
            self.notes.add(SQUASHED, || {
                format!(
                    "squashed the owner of {} ({}:{}) to root: the kernel refused it (not mapped)",
                    lossy(path),
                    e.uid,
                    e.gid
                )
            });
        }
    }

    /// Sets one xattr from the tar, or notes why not. Never fatal: a file
    /// system without room or support for an xattr still gets the file.
    fn xattr(&mut self, fd: BorrowedFd, path: &[u8], name: &str, value: &[u8]) {
        if name == OVERRIDE_XATTR {
            // The owner an image's entry has is in its header: a record
            // of another would hide it from commit and export.
            self.notes.add("override xattrs refused", || {
                format!(
                    "skipped xattr {name} of {}: the entry's owner is in its header",
                    lossy(path)
                )
            });
        } else if name.starts_with("user.overlay.") {
            // An image must not forge overlayfs metadata (redirects,
            // opaque markers other than its own whiteout entries).
            self.notes.add("overlay xattrs refused", || {
                format!(
                    "skipped xattr {name} of {}: overlay metadata cannot come from a layer",
                    lossy(path)
                )
            });
        } else if name.starts_with("user.") || name == "security.capability" {
            if let Err(e) = rfs::fsetxattr(fd, name, value, XattrFlags::empty()) {
                self.notes.add("xattrs not set", || {
                    format!(
                        "could not set xattr {name} of {}: {}",
                        lossy(path),
                        io::Error::from(e)
                    )
                });
            }
        } else {
            self.notes.add("xattrs skipped", || {
                format!(
                    "skipped xattr {name} of {}: only user.* and security.capability are kept",
                    lossy(path)
                )
            });
        }
    }

    /// Sets directory mtimes, deepest first, now that no child will be
    /// created in them any more.
    fn set_dir_times(&mut self) -> Result<(), UnpackError> {
        let mut dirs: Vec<(Vec<u8>, Mtime)> =
            std::mem::take(&mut self.dir_times).into_iter().collect();
        let depth =
            |p: &[u8]| p.iter().filter(|&&b| b == b'/').count() + usize::from(!p.is_empty());
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(depth(p)));
        self.parents.clear();
        for (path, mtime) in dirs {
            let times = timestamps(mtime);
            if path.is_empty() {
                rfs::futimens(&self.root.fd, &times).map_err(sys(b".", "futimens"))?;
                continue;
            }
            let fd = rfs::openat2(
                &self.root.fd,
                &path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            )
            .map_err(sys(&path, "openat2"))?;
            rfs::futimens(&fd, &times).map_err(sys(&path, "futimens"))?;
        }
        Ok(())
    }
}

fn whiteout_node(p: &OwnedFd, name: &[u8]) -> Result<(), Errno> {
    rfs::mknodat(
        p,
        name,
        FileType::CharacterDevice,
        Mode::empty(),
        rfs::makedev(0, 0),
    )
}

fn link_error(e: Errno, t: &Target, reject: &dyn Fn(&str) -> UnpackError) -> UnpackError {
    match e {
        Errno::NOENT => reject("does not exist in the layer"),
        Errno::PERM => reject("is a directory"),
        e => sys(t.path, "linkat")(e),
    }
}

/// Copies a file that is about to be replaced into the split record.
fn save_clobbered<R: BufRead>(
    reader: &mut TarReader<R>,
    fd: OwnedFd,
    index: u64,
    entry: &[u8],
) -> Result<(), UnpackError> {
    let size = rfs::fstat(&fd).map_err(sys(entry, "fstat"))?.st_size as u64;
    if let Some(split) = reader.split_mut() {
        split
            .clobbered(index, size, &mut File::from(fd))
            .map_err(UnpackError::Split)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tar::{NewEntry, TarWriter};
    use crate::sandbox::userns::{run_in_userns, IdMap};
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::process::Command;

    fn map() -> IdMap {
        IdMap::single(
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        )
    }

    /// Unpacks `tar` into `dest` as root of a single-id user namespace.
    fn unpack(tar: &[u8], dest: &Path) -> Result<UnpackReport, String> {
        run_in_userns(&map(), || {
            let mut split = Vec::new();
            unpack_layer(&mut &tar[..], dest, &mut split).map_err(|e| e.to_string())
        })
        .map_err(|e| e.to_string())?
    }

    /// Unpacks, then rebuilds the stream from the directory and the split.
    fn unpack_and_repack(tar: &[u8], dest: &Path) -> (UnpackReport, Vec<u8>) {
        run_in_userns(&map(), || {
            let mut split = Vec::new();
            let report =
                unpack_layer(&mut &tar[..], dest, &mut split).map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            repack_layer(dest, &mut &split[..], &mut out).map_err(|e| e.to_string())?;
            Ok::<_, String>((report, out))
        })
        .unwrap()
        .unwrap()
    }

    struct Layer {
        w: TarWriter<Vec<u8>>,
    }

    impl Layer {
        fn new() -> Layer {
            Layer {
                w: TarWriter::new(Vec::new()),
            }
        }
        fn entry(&mut self, e: NewEntry, data: &[u8]) -> &mut Self {
            let mut e = e;
            e.size = data.len() as u64;
            self.w.append(&e, &mut &data[..]).unwrap();
            self
        }
        fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> &mut Self {
            self.entry(
                NewEntry::new(path.as_bytes(), EntryKind::Regular, mode, 1000),
                data,
            )
        }
        fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
            self.entry(
                NewEntry::new(path.as_bytes(), EntryKind::Directory, mode, 1000),
                b"",
            )
        }
        fn link(&mut self, kind: EntryKind, path: &str, target: &str) -> &mut Self {
            let mut e = NewEntry::new(path.as_bytes(), kind, 0o777, 1000);
            e.link = target.as_bytes();
            self.entry(e, b"")
        }
        fn finish(&mut self) -> Vec<u8> {
            std::mem::replace(&mut self.w, TarWriter::new(Vec::new()))
                .finish()
                .unwrap()
        }
    }

    fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 256];
        let n = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Unpacked with an earlier layer, a layer links the files whose bytes
    /// and metadata are the same there and writes the others (one byte
    /// changed at the end of a large file, a mode, an mtime, a new
    /// file); it repacks to its own stream, and the earlier layer's
    /// files are untouched.
    #[test]
    fn unchanged_files_are_linked_from_an_earlier_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
        std::fs::create_dir(&old).unwrap();
        std::fs::create_dir(&new).unwrap();
        let big: Vec<u8> = (0..1_000_003u32).map(|i| (i % 241) as u8).collect();
        let mut big2 = big.clone();
        *big2.last_mut().unwrap() ^= 1;
        let timed = |mtime| NewEntry::new(b"t", EntryKind::Regular, 0o644, mtime);
        let first = Layer::new()
            .file("a", 0o644, b"same")
            .file("big", 0o644, &big)
            .file("m", 0o644, b"mode")
            .entry(timed(1000), b"time")
            .dir("d", 0o755)
            .file("d/x", 0o600, b"x")
            .finish();
        let second = Layer::new()
            .file("a", 0o644, b"same")
            .file("big", 0o644, &big2)
            .file("m", 0o600, b"mode")
            .entry(timed(2000), b"time")
            .dir("d", 0o755)
            .file("d/x", 0o600, b"x")
            .file("n", 0o644, b"new")
            .finish();
        unpack(&first, &old).unwrap();
        let (report, repacked) = run_in_userns(&map(), || {
            let mut split = Vec::new();
            let report = unpack_layer_sharing(
                &mut &second[..],
                &new,
                &mut split,
                Some(LinkFrom::Layer(&old)),
                OwnersUnder::ThisNamespace,
            )
            .map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            repack_layer(&new, &mut &split[..], &mut out).map_err(|e| e.to_string())?;
            Ok::<_, String>((report, out))
        })
        .unwrap()
        .unwrap();
        assert_eq!((report.shared, report.written), (2, 4));
        assert!(repacked == second, "the layer repacks to its own stream");
        let ino = |d: &Path, p: &str| std::fs::metadata(d.join(p)).unwrap().ino();
        for p in ["a", "d/x"] {
            assert_eq!(ino(&old, p), ino(&new, p), "{p} is linked");
        }
        for p in ["big", "m", "t"] {
            assert_ne!(ino(&old, p), ino(&new, p), "{p} is written");
        }
        assert!(std::fs::read(new.join("big")).unwrap() == big2);
        assert!(std::fs::read(old.join("big")).unwrap() == big);
        let mode = |d: &Path, p: &str| std::fs::metadata(d.join(p)).unwrap().mode() & 0o7777;
        assert_eq!((mode(&old, "m"), mode(&new, "m")), (0o644, 0o600));
        let mtime = |d: &Path| std::fs::metadata(d.join("t")).unwrap().mtime();
        assert_eq!((mtime(&old), mtime(&new)), (1000, 2000));
    }

    /// From a discarded directory (a build step's writable layer), a file
    /// with the entry's bytes is linked whatever its mode and mtime, then
    /// given the entry's; one with other bytes, or with an xattr, is
    /// written. The layer repacks to its own stream.
    #[test]
    fn files_of_a_discarded_directory_are_adopted() {
        let tmp = tempfile::tempdir().unwrap();
        let (upper, new) = (tmp.path().join("upper"), tmp.path().join("new"));
        std::fs::create_dir_all(upper.join("d")).unwrap();
        std::fs::create_dir(&new).unwrap();
        for (p, data, mode) in [
            ("a", &b"same"[..], 0o600),
            ("d/x", b"x", 0o644),
            ("other", b"not the same", 0o644),
            ("tagged", b"tag", 0o644),
        ] {
            std::fs::write(upper.join(p), data).unwrap();
            std::fs::set_permissions(upper.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        rustix::fs::setxattr(
            upper.join("tagged"),
            "user.note",
            b"v",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let timed = |name: &'static [u8], mode| NewEntry::new(name, EntryKind::Regular, mode, 1234);
        let layer = Layer::new()
            .entry(timed(b"a", 0o755), b"same")
            .dir("d", 0o755)
            .entry(timed(b"d/x", 0o640), b"x")
            .entry(timed(b"other", 0o644), b"not the sam!")
            .entry(timed(b"tagged", 0o644), b"tag")
            .finish();
        let (report, repacked) = run_in_userns(&map(), || {
            let mut split = Vec::new();
            let from = Some(LinkFrom::Discarded(&upper));
            let report = unpack_layer_sharing(
                &mut &layer[..],
                &new,
                &mut split,
                from,
                OwnersUnder::ThisNamespace,
            )
            .map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            repack_layer(&new, &mut &split[..], &mut out).map_err(|e| e.to_string())?;
            Ok::<_, String>((report, out))
        })
        .unwrap()
        .unwrap();
        assert_eq!((report.shared, report.written), (2, 2));
        assert!(repacked == layer, "the layer repacks to its own stream");
        let meta = |d: &Path, p: &str| std::fs::metadata(d.join(p)).unwrap();
        for (p, mode) in [("a", 0o755), ("d/x", 0o640)] {
            assert_eq!(meta(&upper, p).ino(), meta(&new, p).ino(), "{p} is linked");
            assert_eq!(meta(&new, p).mode() & 0o7777, mode, "{p}: the entry's mode");
            assert_eq!(meta(&new, p).mtime(), 1234, "{p}: the entry's mtime");
        }
        for p in ["other", "tagged"] {
            assert_ne!(meta(&upper, p).ino(), meta(&new, p).ino(), "{p} is written");
        }
        assert_eq!(std::fs::read(new.join("other")).unwrap(), b"not the sam!");
    }

    #[test]
    fn files_dirs_links_modes_times_and_user_xattrs_survive() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let big: Vec<u8> = (0..1_000_003u32).map(|i| (i % 241) as u8).collect();
        let value: &[u8] = b"\0binary\nvalue";
        let xattrs: &[(&str, &[u8])] = &[
            ("user.note", value),
            ("user.overlay.redirect", b"/elsewhere"),
            ("trusted.secret", b"x"),
        ];
        let mut conf = NewEntry::new(b"etc/conf", EntryKind::Regular, 0o640, 2000);
        conf.xattrs = xattrs;
        let mut fifo = NewEntry::new(b"run/fifo", EntryKind::Fifo, 0o620, 3000);
        fifo.uid = 0;
        let tar = Layer::new()
            .dir("etc", 0o751)
            .entry(conf, b"key=value\n")
            .file("bin/su", 0o4755, b"#!setuid")
            .file("usr/bin/sg", 0o2711, b"#!setgid")
            .dir("tmp", 0o1777)
            .file("big", 0o644, &big)
            .link(EntryKind::Symlink, "etc/link", "/does/not/exist")
            .link(EntryKind::Hardlink, "etc/hard", "etc/conf")
            .entry(fifo, b"")
            .finish();
        let report = unpack(&tar, &dest).unwrap();

        assert_eq!(report.diff_id, Digest::of_bytes(&tar));
        assert_eq!(report.size, tar.len() as u64);
        assert_eq!(
            std::fs::read(dest.join("etc/conf")).unwrap(),
            b"key=value\n"
        );
        assert_eq!(std::fs::read(dest.join("big")).unwrap(), big);
        let mode = |p: &str| std::fs::symlink_metadata(dest.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode("etc"), 0o751);
        assert_eq!(mode("etc/conf"), 0o640);
        assert_eq!(mode("bin/su"), 0o4755);
        assert_eq!(mode("usr/bin/sg"), 0o2711);
        assert_eq!(mode("tmp"), 0o1777);
        assert_eq!(mode("bin"), 0o755, "implied directories are 0755");
        assert_eq!(mode("run/fifo"), 0o620);
        assert!(std::fs::symlink_metadata(dest.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        let mtime = |p: &str| std::fs::symlink_metadata(dest.join(p)).unwrap().mtime();
        assert_eq!(
            mtime("etc"),
            1000,
            "directory mtimes are set after their children"
        );
        assert_eq!(mtime("etc/conf"), 2000);
        assert_eq!(mtime("etc/link"), 1000);
        assert_eq!(mtime("run/fifo"), 3000);
        assert_eq!(
            std::fs::read_link(dest.join("etc/link")).unwrap(),
            Path::new("/does/not/exist")
        );
        let ino = |p: &str| std::fs::metadata(dest.join(p)).unwrap().ino();
        assert_eq!(ino("etc/hard"), ino("etc/conf"));
        assert_eq!(
            xattr(&dest.join("etc/conf"), "user.note").as_deref(),
            Some(value)
        );
        assert_eq!(xattr(&dest.join("etc/conf"), "user.overlay.redirect"), None);
        let notes = report.notes.join("\n");
        assert!(
            notes.contains("skipped xattr user.overlay.redirect of etc/conf"),
            "{notes}"
        );
        assert!(
            notes.contains("skipped xattr trusted.secret of etc/conf"),
            "{notes}"
        );
        assert_eq!(report.squashed, 0);
    }

    #[test]
    fn whiteouts_become_char_0_0_and_opaque_dirs_get_the_overlay_xattr() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let mut dev = NewEntry::new(b"native", EntryKind::CharDevice, 0, 0);
        dev.dev_major = 0;
        let tar = Layer::new()
            .dir("a", 0o755)
            .file("a/.wh.gone", 0o644, b"")
            .file("a/.wh..wh..opq", 0o644, b"")
            .file("b/.wh..wh.plnk", 0o644, b"")
            .file("c/d/.wh.deleted", 0o644, b"")
            .entry(dev, b"")
            .finish();
        let report = unpack(&tar, &dest).unwrap();
        for p in ["a/gone", "c/d/deleted", "native"] {
            let m = std::fs::symlink_metadata(dest.join(p)).unwrap();
            assert!(m.file_type().is_char_device(), "{p}");
            assert_eq!(m.rdev(), 0, "{p}");
        }
        assert_eq!(
            xattr(&dest.join("a"), "user.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(listing(&dest.join("a")), ["gone"]);
        assert!(!dest.join("b/.wh..wh.plnk").exists());
        assert!(report.notes.iter().any(|n| n.contains("b/.wh..wh.plnk")));
    }

    #[test]
    fn device_nodes_are_skipped_with_a_note() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let mut null = NewEntry::new(b"dev/null", EntryKind::CharDevice, 0o666, 0);
        (null.dev_major, null.dev_minor) = (1, 3);
        let mut sda = NewEntry::new(b"dev/sda", EntryKind::BlockDevice, 0o660, 0);
        (sda.dev_major, sda.dev_minor) = (8, 0);
        let tar = Layer::new()
            .dir("dev", 0o755)
            .entry(null, b"")
            .entry(sda, b"")
            .finish();
        let report = unpack(&tar, &dest).unwrap();
        assert!(listing(&dest.join("dev")).is_empty());
        assert_eq!(
            report.notes,
            [
                "skipped device node dev/null (char 1:3): device nodes cannot be created without \
                 privileges",
                "skipped device node dev/sda (block 8:0): device nodes cannot be created without \
                 privileges",
            ]
        );
    }

    #[test]
    fn owners_outside_a_single_id_map_are_squashed_with_capped_notes() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let mut layer = Layer::new();
        let names: Vec<String> = (0..50).map(|i| format!("home/user/f{i:02}")).collect();
        for name in &names {
            let mut e = NewEntry::new(name.as_bytes(), EntryKind::Regular, 0o4750, 5);
            (e.uid, e.gid) = (1000, 1000);
            layer.entry(e, b"data");
        }
        let tar = layer.finish();
        let report = unpack(&tar, &dest).unwrap();
        assert_eq!(report.squashed, 50);
        assert!(
            report.notes[0].contains("home/user/f00 (1000:1000)"),
            "{}",
            report.notes[0]
        );
        assert_eq!(report.notes.len(), 21);
        assert_eq!(
            report.notes[20],
            "... and 30 more files with owners outside the id map, squashed to root (50 in all)"
        );
        let m = std::fs::metadata(dest.join("home/user/f07")).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (map().uids[0].outside, map().gids[0].outside)
        );
        assert_eq!(m.mode() & 0o7777, 0o4750, "setuid survives the chown");
    }

    /// Meaningful where the user has subordinate ids (CI's test user);
    /// elsewhere there is no full map to test.
    #[test]
    fn owners_keep_their_subordinate_ids_under_a_full_map() {
        let (full, reason) = IdMap::for_current_user().unwrap();
        if let Some(reason) = reason {
            eprintln!("skipped, no full id map here: {reason}");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let mut layer = Layer::new();
        for (name, id) in [("owned", 1000), ("beyond", 4_000_000)] {
            let mut e = NewEntry::new(name.as_bytes(), EntryKind::Regular, 0o644, 5);
            (e.uid, e.gid) = (id, id);
            layer.entry(e, b"data");
        }
        let tar = layer.finish();
        let report = run_in_userns(&full, || {
            unpack_layer(&mut &tar[..], &dest, &mut io::sink()).map_err(|e| e.to_string())
        })
        .unwrap()
        .unwrap();
        let m = std::fs::metadata(dest.join("owned")).unwrap();
        assert_eq!(
            (Some(m.uid()), Some(m.gid())),
            (full.host_uid(1000), full.host_gid(1000))
        );
        let m = std::fs::metadata(dest.join("beyond")).unwrap();
        assert_eq!(
            (Some(m.uid()), Some(m.gid())),
            (full.host_uid(0), full.host_gid(0))
        );
        assert_eq!(report.squashed, 1);
        assert!(
            report.notes[0].contains("beyond (4000000:4000000)"),
            "{:?}",
            report.notes
        );
    }

    #[test]
    fn absolute_paths_land_inside_the_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let name = format!("burrow-canary-{}", std::process::id());
        let tar = Layer::new()
            .file(&format!("/etc/{name}"), 0o644, b"inside")
            .file("./a/./b/../c", 0o644, b"cleaned")
            .finish();
        unpack(&tar, &dest).unwrap();
        assert_eq!(
            std::fs::read(dest.join("etc").join(&name)).unwrap(),
            b"inside"
        );
        assert_eq!(std::fs::read(dest.join("a/c")).unwrap(), b"cleaned");
        assert!(!Path::new("/etc").join(&name).exists());
    }

    #[test]
    fn parents_through_symlinks_inside_the_layer_resolve_there() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let tar = Layer::new()
            .dir("usr/lib", 0o755)
            .link(EntryKind::Symlink, "lib", "usr/lib")
            .link(EntryKind::Symlink, "usr/lib/self", "../lib")
            .file("lib/libc.so", 0o755, b"elf")
            .file("lib/self/deeper/x", 0o644, b"implied dir under a symlink")
            .link(EntryKind::Hardlink, "hard", "lib/libc.so")
            .finish();
        let (_, rebuilt) = unpack_and_repack(&tar, &dest);
        assert_eq!(std::fs::read(dest.join("usr/lib/libc.so")).unwrap(), b"elf");
        assert!(std::fs::symlink_metadata(dest.join("lib"))
            .unwrap()
            .is_symlink());
        assert_eq!(
            std::fs::read(dest.join("usr/lib/deeper/x")).unwrap(),
            b"implied dir under a symlink"
        );
        let ino = |p: &str| std::fs::metadata(dest.join(p)).unwrap().ino();
        assert_eq!(ino("hard"), ino("usr/lib/libc.so"));
        assert!(rebuilt == tar, "split records point at the real paths");
    }

    #[test]
    fn escaping_entries_reject_the_layer_and_touch_nothing_outside() {
        let canary = format!("burrow-escape-{}", std::process::id());
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "dotdot",
                Layer::new()
                    .file(&format!("../{canary}"), 0o644, b"x")
                    .finish(),
                "climbs above",
            ),
            (
                "inner dotdot",
                Layer::new()
                    .file(&format!("a/../../{canary}"), 0o644, b"x")
                    .finish(),
                "climbs above",
            ),
            (
                "symlink up from a symlinked dir",
                Layer::new()
                    .link(EntryKind::Symlink, "abs", "/sub")
                    .link(EntryKind::Symlink, "sub/up", "../..")
                    .file(&format!("abs/up/{canary}"), 0o644, b"x")
                    .finish(),
                "resolves outside the layer through a symlink",
            ),
            (
                "whiteout-named directory",
                Layer::new()
                    .dir("a/.wh..wh..opq", 0o755)
                    .file("a/.wh..wh..opq/kept", 0o644, b"x")
                    .finish(),
                "lies beneath .wh..wh..opq, a whiteout name",
            ),
            (
                "symlink up",
                Layer::new()
                    .link(EntryKind::Symlink, "link", "../..")
                    .file(&format!("link/{canary}"), 0o644, b"x")
                    .finish(),
                "resolves outside the layer through a symlink",
            ),
            (
                "symlink dir then whiteout",
                Layer::new()
                    .link(EntryKind::Symlink, "link", "../outside")
                    .file("link/.wh.secret", 0o644, b"")
                    .finish(),
                "resolves outside the layer through a symlink",
            ),
            (
                "hardlink up",
                Layer::new()
                    .link(EntryKind::Hardlink, "h", "../outside/secret")
                    .finish(),
                "is outside the layer",
            ),
            (
                "hardlink absolute",
                Layer::new()
                    .link(EntryKind::Hardlink, "h", "/etc/passwd")
                    .finish(),
                "does not exist in the layer",
            ),
            (
                "hardlink through symlink",
                Layer::new()
                    .link(EntryKind::Symlink, "l", "../outside")
                    .link(EntryKind::Hardlink, "h", "l/secret")
                    .finish(),
                "resolves outside the layer through a symlink",
            ),
        ];
        for (what, tar, reason) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let dest = tmp.path().join("layer");
            let outside = tmp.path().join("outside");
            std::fs::create_dir(&dest).unwrap();
            std::fs::create_dir(&outside).unwrap();
            std::fs::write(outside.join("secret"), b"host file").unwrap();
            let err = unpack(&tar, &dest).unwrap_err();
            assert!(err.contains(reason), "{what}: {err}");
            assert!(err.contains("the layer is rejected"), "{what}: {err}");
            assert_eq!(listing(tmp.path()), ["layer", "outside"], "{what}");
            assert_eq!(listing(&outside), ["secret"], "{what}");
            let m = std::fs::metadata(outside.join("secret")).unwrap();
            assert_eq!(m.nlink(), 1, "{what}: the host file gained a link");
            assert!(m.file_type().is_file(), "{what}");
            assert!(!Path::new("/tmp").join(&canary).exists(), "{what}");
            assert!(
                !tmp.path().parent().unwrap().join(&canary).exists(),
                "{what}"
            );
        }
    }

    #[test]
    fn absolute_symlinks_made_earlier_resolve_inside_the_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let canary = format!("burrow-abs-{}", std::process::id());
        let tar = Layer::new()
            .dir("var", 0o755)
            .link(EntryKind::Symlink, "var/run", "/run")
            .file("var/run/x", 0o644, b"in run")
            .link(EntryKind::Symlink, "root-link", "/")
            .file(&format!("root-link/tmp/{canary}"), 0o644, b"in tmp")
            .link(EntryKind::Symlink, "clamped", "/../../etc")
            .file("clamped/y", 0o644, b"in etc")
            .link(EntryKind::Hardlink, "hard", "var/run/x")
            .finish();
        let (_, rebuilt) = unpack_and_repack(&tar, &dest);
        assert_eq!(std::fs::read(dest.join("run/x")).unwrap(), b"in run");
        assert_eq!(
            std::fs::read(dest.join("tmp").join(&canary)).unwrap(),
            b"in tmp"
        );
        assert_eq!(std::fs::read(dest.join("etc/y")).unwrap(), b"in etc");
        assert_eq!(std::fs::read(dest.join("hard")).unwrap(), b"in run");
        assert!(std::fs::symlink_metadata(dest.join("var/run"))
            .unwrap()
            .is_symlink());
        assert!(!Path::new("/tmp").join(&canary).exists());
        assert!(rebuilt == tar, "split records point at the real paths");
    }

    #[test]
    fn an_opaque_whiteout_at_the_root_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        for (tar, opaque) in [
            (Layer::new().file(".wh..wh..opq", 0o644, b"").finish(), true),
            (
                Layer::new().file("./.wh..wh..opq", 0o644, b"").finish(),
                true,
            ),
            (
                Layer::new().file("a/.wh..wh..opq", 0o644, b"").finish(),
                false,
            ),
        ] {
            let dest = tmp.path().join(format!("layer-{}", opaque as u8));
            let _ = std::fs::remove_dir_all(&dest);
            std::fs::create_dir(&dest).unwrap();
            assert_eq!(unpack(&tar, &dest).unwrap().opaque_root, opaque);
            assert!(listing(&dest).iter().all(|n| !n.starts_with(".wh.")));
        }
    }

    #[test]
    fn entries_nested_too_deep_are_refused_naming_them_briefly() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let mut layer = Layer::new();
        let mut path = String::new();
        for _ in 0..MAX_DEPTH + 5 {
            path.push_str("d/");
            layer.dir(&path, 0o755);
        }
        let err = unpack(&layer.finish(), &dest).unwrap_err();
        assert!(
            err.contains("directories deep, beyond the 1024 burrow unpacks"),
            "{err}"
        );
        assert!(err.contains("d/d/d/...d/d/"), "{err}");
        assert!(err.len() < 400, "the entry is shortened: {err}");
        // A long path within the depth bound is refused by its length.
        let dest2 = tmp.path().join("layer2");
        std::fs::create_dir(&dest2).unwrap();
        let long = format!("{}/f", "n".repeat(250)).repeat(20);
        let err = unpack(&Layer::new().file(&long, 0o644, b"").finish(), &dest2).unwrap_err();
        assert!(err.contains("bytes long, beyond the 4095"), "{err}");
    }

    #[test]
    fn duplicate_names_replace_the_old_entry_without_following_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&dest).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"host file").unwrap();
        let tar = Layer::new()
            .link(EntryKind::Symlink, "f", "../outside/secret")
            .file("f", 0o644, b"replaced the symlink")
            .link(EntryKind::Symlink, "d", "../outside")
            .dir("d", 0o755)
            .dir("keep", 0o755)
            .file("keep/child", 0o644, b"stays")
            .dir("keep", 0o700)
            .dir("gone", 0o755)
            .file("gone/inner", 0o644, b"removed")
            .file("gone", 0o644, b"now a file")
            .finish();
        let (_, rebuilt) = unpack_and_repack(&tar, &dest);
        assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"host file");
        assert_eq!(listing(&outside), ["secret"]);
        assert_eq!(
            std::fs::read(dest.join("f")).unwrap(),
            b"replaced the symlink"
        );
        assert!(std::fs::symlink_metadata(dest.join("d")).unwrap().is_dir());
        assert_eq!(std::fs::read(dest.join("keep/child")).unwrap(), b"stays");
        assert_eq!(
            std::fs::metadata(dest.join("keep"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o700
        );
        assert_eq!(std::fs::read(dest.join("gone")).unwrap(), b"now a file");
        assert!(
            rebuilt == tar,
            "the replaced file's payload is kept in the split"
        );
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let tar = Layer::new()
            .file("a", 0o644, b"complete")
            .file("b", 0o644, &[1u8; 10_000])
            .finish();
        let err = unpack(&tar[..4000], &dest).unwrap_err();
        assert_eq!(
            err,
            "truncated tar: entry b ends at byte 11776 but the stream ended at 4000"
        );
    }

    #[test]
    fn digest_covers_bytes_after_the_end_blocks() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let mut tar = Layer::new().file("a", 0o644, b"x").finish();
        tar.extend_from_slice(&[0u8; 8192]);
        tar.extend_from_slice(b"junk");
        let (report, rebuilt) = unpack_and_repack(&tar, &dest);
        assert_eq!(report.diff_id, Digest::of_bytes(&tar));
        assert_eq!(report.size, tar.len() as u64);
        assert!(rebuilt == tar);
    }

    /// A tree with every kind of entry GNU tar writes that a layer holds.
    fn gnu_fixture(root: &Path) {
        use std::os::unix::fs::symlink;
        let w = |p: &str, data: &[u8]| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        };
        w("etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
        w("usr/bin/tool", &vec![0x7f; 70_000]);
        w(
            &format!("usr/share/{}/{}", "n".repeat(80), "m".repeat(80)),
            b"long",
        );
        w("empty", b"");
        w("exact", &[3u8; 1024]);
        w("old/.wh.removed", b"");
        w("opq/.wh..wh..opq", b"");
        w("sub/inner", b"inner file");
        std::fs::hard_link(root.join("etc/passwd"), root.join("etc/passwd-")).unwrap();
        symlink("../etc/passwd", root.join("usr/passwd")).unwrap();
        symlink("/absolute/target", root.join("abs")).unwrap();
        std::fs::set_permissions(
            root.join("usr/bin/tool"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        rustix::fs::setxattr(
            root.join("etc/passwd"),
            "user.kind",
            b"a\0b",
            XattrFlags::empty(),
        )
        .unwrap();
    }

    fn tar_in(dir: &Path, args: &[&str]) {
        let st = Command::new("tar")
            .arg("-C")
            .arg(dir)
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "tar {args:?}");
    }

    #[test]
    fn repack_rebuilds_a_gnu_tar_layer_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        gnu_fixture(&tree);
        let archive = tmp.path().join("layer.tar");
        let a = archive.to_str().unwrap();
        tar_in(
            &tree,
            &["--format=posix", "--xattrs", "--sort=name", "-cf", a, "."],
        );
        // Later members with earlier names: a file replaced, a directory
        // replaced by a file.
        std::fs::write(tree.join("etc/passwd"), b"second version\n").unwrap();
        std::fs::remove_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("sub"), b"sub is a file now").unwrap();
        tar_in(&tree, &["--format=gnu", "-rf", a, "./etc/passwd", "./sub"]);
        let tar = std::fs::read(&archive).unwrap();

        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let (report, rebuilt) = unpack_and_repack(&tar, &dest);
        assert_eq!(Digest::of_bytes(&rebuilt), Digest::of_bytes(&tar));
        assert_eq!(report.diff_id, Digest::of_bytes(&tar));
        assert_eq!(
            std::fs::read(dest.join("etc/passwd")).unwrap(),
            b"second version\n"
        );
        assert_eq!(
            std::fs::read(dest.join("sub")).unwrap(),
            b"sub is a file now"
        );
        assert!(std::fs::symlink_metadata(dest.join("old/removed"))
            .unwrap()
            .file_type()
            .is_char_device());
        assert_eq!(
            xattr(&dest.join("opq"), "user.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(
            std::fs::metadata(dest.join("usr/bin/tool")).unwrap().mode() & 0o7777,
            0o4755
        );
    }

    #[test]
    fn repack_refuses_a_changed_layer_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let tar = Layer::new().file("a", 0o644, b"original").finish();
        let err = run_in_userns(&map(), || {
            let mut split = Vec::new();
            unpack_layer(&mut &tar[..], &dest, &mut split).map_err(|e| e.to_string())?;
            std::fs::write(dest.join("a"), b"longer than before").map_err(|e| e.to_string())?;
            repack_layer(&dest, &mut &split[..], &mut io::sink()).map_err(|e| e.to_string())
        })
        .unwrap()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rebuilding the layer's tar stream: layer file a: it has 18 bytes, the layer had 8"
        );
    }
}
