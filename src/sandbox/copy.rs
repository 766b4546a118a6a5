//! The last-resort root filesystem: the image layers copied, base first,
//! into the container's own directory, whiteouts and opaque directories
//! applied as overlayfs would. Works with *at calls and O_NOFOLLOW only, so
//! a symlink in a layer can never make the copy write outside it.

use super::sys::errno_text;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat, Timespec, Timestamps, CWD};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Hard links already copied in the current layer: source (dev, ino) to
/// the copy's path relative to the destination root.
type Links = HashMap<(u64, u64), PathBuf>;

struct Copier {
    root: OwnedFd,
    links: Links,
    /// Copying a merged tree (a volume's fill), not layers: no whiteouts
    /// or opaque directories to apply, and extended attributes kept.
    merged: bool,
}

/// Copies what the directory `src` holds into the empty directory `dst`,
/// and `src`'s own owner, mode, times and xattrs onto `dst`: a volume's
/// fill from the image. Owners, modes, times, xattrs, symlinks and hard
/// links are kept; device nodes that cannot be made are skipped.
pub(crate) fn copy_tree(src: BorrowedFd, dst: BorrowedFd) -> CopyResult {
    let at = |e: Errno| (PathBuf::new(), e);
    let mut c = Copier {
        root: rustix::io::fcntl_dupfd_cloexec(dst, 0).map_err(at)?,
        links: Links::new(),
        merged: true,
    };
    c.copy_dir(src, dst, Path::new(""))?;
    let st = rustix::fs::fstat(src).map_err(at)?;
    copy_xattrs(src, dst).map_err(at)?;
    let (uid, gid) = owner(&st);
    tolerate_unmapped(rustix::fs::fchown(dst, uid, gid)).map_err(at)?;
    rustix::fs::fchmod(dst, Mode::from_raw_mode(st.st_mode & 0o7777)).map_err(at)?;
    rustix::fs::futimens(dst, &times(&st)).map_err(at)
}

/// Copies the extended attributes of one open file to another, but
/// overlayfs's own (`user.overlay.*`); one the kernel refuses here (a
/// `security.*` the namespace may not set) is left behind.
fn copy_xattrs(src: BorrowedFd, dst: BorrowedFd) -> Result<(), Errno> {
    // The kernel's limits: 64 KiB for the list and for one value.
    let mut names = vec![0u8; 1 << 16];
    let n = match rustix::fs::flistxattr(src, &mut names[..]) {
        Ok(n) => n,
        Err(Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut value = vec![0u8; 1 << 16];
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"user.overlay.") {
            continue;
        }
        let Ok(name) = CString::new(name) else {
            continue;
        };
        let got = match rustix::fs::fgetxattr(src, &name, &mut value[..]) {
            Ok(n) => n,
            Err(Errno::NODATA) => continue,
            Err(e) => return Err(e),
        };
        match rustix::fs::fsetxattr(dst, &name, &value[..got], rustix::fs::XattrFlags::empty()) {
            Ok(()) | Err(Errno::PERM | Errno::NOTSUP | Errno::ACCESS | Errno::INVAL) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Why the layers could not be copied: the call, the path and the errno.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CopyError {
    #[error("cannot open {}: {}", .0.display(), errno_text(.1.raw_os_error()))]
    Open(PathBuf, Errno),
    #[error("copying {}: {}", .0.display(), errno_text(.1.raw_os_error()))]
    Copy(PathBuf, Errno),
    #[error("writing the copy's manifest {}: {}", .0.display(), .1)]
    Manifest(PathBuf, std::io::Error),
}

/// Copies `layers` (base first) into `dest`, each over the previous.
pub(crate) fn copy_layers(layers: &[PathBuf], dest: &Path) -> Result<(), CopyError> {
    let open_dir = |p: &Path| {
        rustix::fs::open(
            p,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| CopyError::Open(p.to_path_buf(), e))
    };
    let mut c = Copier {
        root: open_dir(dest)?,
        links: Links::new(),
        merged: false,
    };
    for layer in layers {
        c.links.clear();
        let src = open_dir(layer)?;
        let dst = rustix::io::fcntl_dupfd_cloexec(&c.root, 0)
            .map_err(|e| CopyError::Open(dest.to_path_buf(), e))?;
        c.copy_dir(src.as_fd(), dst.as_fd(), Path::new(""))
            .map_err(|(p, e)| CopyError::Copy(layer.join(p), e))?;
    }
    Ok(())
}

type CopyResult = Result<(), (PathBuf, Errno)>;

fn is_opaque(dir: BorrowedFd) -> bool {
    let mut buf = [0u8; 4];
    matches!(
        rustix::fs::fgetxattr(dir, "user.overlay.opaque", &mut buf[..]),
        Ok(n) if n == 1 && buf[0] == b'y'
    )
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

fn owner(st: &Stat) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    (
        Some(rustix::fs::Uid::from_raw(st.st_uid)),
        Some(rustix::fs::Gid::from_raw(st.st_gid)),
    )
}

/// Ids outside the user namespace's map cannot be given; such files stay
/// owned by the copier, as a single-id map squashes them anyway.
fn tolerate_unmapped(r: Result<(), Errno>) -> Result<(), Errno> {
    match r {
        Err(Errno::INVAL) | Err(Errno::PERM) => Ok(()),
        other => other,
    }
}

/// Removes `name` in `dir`, a directory tree included.
fn remove(dir: BorrowedFd, name: &CStr) -> Result<(), Errno> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::ISDIR) => {
            let sub = rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            clear(sub.as_fd())?;
            rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
        }
        Err(e) => Err(e),
    }
}

/// Removes everything in `dir`.
fn clear(dir: BorrowedFd) -> Result<(), Errno> {
    let names: Vec<CString> = Dir::read_from(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for n in names {
        remove(dir, &n)?;
    }
    Ok(())
}

impl Copier {
    fn copy_dir(&mut self, src: BorrowedFd, dst: BorrowedFd, rel: &Path) -> CopyResult {
        let at = |e: Errno| (rel.to_path_buf(), e);
        if !self.merged && is_opaque(src) {
            clear(dst).map_err(at)?;
        }
        let entries: Vec<CString> = Dir::read_from(src)
            .map_err(at)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_owned())
            .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
            .collect();
        for name in entries {
            let child_rel = rel.join(OsStr::from_bytes(name.as_bytes()));
            self.copy_entry(src, dst, &name, &child_rel)?;
        }
        Ok(())
    }

    fn copy_entry(
        &mut self,
        src: BorrowedFd,
        dst: BorrowedFd,
        name: &CStr,
        rel: &Path,
    ) -> CopyResult {
        let at = |e: Errno| (rel.to_path_buf(), e);
        let st = rustix::fs::statat(src, name, AtFlags::SYMLINK_NOFOLLOW).map_err(at)?;
        let kind = FileType::from_raw_mode(st.st_mode);
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        let (uid, gid) = owner(&st);

        // An overlay whiteout: the name is deleted in this layer.
        if !self.merged && kind == FileType::CharacterDevice && st.st_rdev == 0 {
            return remove(dst, name).map_err(at);
        }
        let existing = rustix::fs::statat(dst, name, AtFlags::SYMLINK_NOFOLLOW).ok();
        let existing_is_dir =
            existing.is_some_and(|e| FileType::from_raw_mode(e.st_mode) == FileType::Directory);
        // A directory merges into a directory; anything else replaces.
        if existing.is_some() && (kind != FileType::Directory || !existing_is_dir) {
            remove(dst, name).map_err(at)?;
        }

        match kind {
            FileType::Directory => {
                if !existing_is_dir {
                    rustix::fs::mkdirat(dst, name, Mode::from_raw_mode(0o700)).map_err(at)?;
                }
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let s = rustix::fs::openat(src, name, flags, Mode::empty()).map_err(at)?;
                let d = rustix::fs::openat(dst, name, flags, Mode::empty()).map_err(at)?;
                self.copy_dir(s.as_fd(), d.as_fd(), rel)?;
                if self.merged {
                    copy_xattrs(s.as_fd(), d.as_fd()).map_err(at)?;
                }
                tolerate_unmapped(rustix::fs::fchown(&d, uid, gid)).map_err(at)?;
                rustix::fs::fchmod(&d, mode).map_err(at)?;
                rustix::fs::futimens(&d, &times(&st)).map_err(at)?;
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        return rustix::fs::linkat(&self.root, first, dst, name, AtFlags::empty())
                            .map_err(at);
                    }
                    self.links.insert(key, rel.to_path_buf());
                }
                let s = rustix::fs::openat(
                    src,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(at)?;
                let d = rustix::fs::openat(
                    dst,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(at)?;
                let mut from = std::fs::File::from(s);
                let mut to = std::fs::File::from(d);
                std::io::copy(&mut from, &mut to)
                    .map_err(|e| at(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
                if self.merged {
                    copy_xattrs(from.as_fd(), to.as_fd()).map_err(at)?;
                }
                // chown before chmod: chown clears set-id bits.
                tolerate_unmapped(rustix::fs::fchown(&to, uid, gid)).map_err(at)?;
                rustix::fs::fchmod(&to, mode).map_err(at)?;
                rustix::fs::futimens(&to, &times(&st)).map_err(at)?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(src, name, Vec::new()).map_err(at)?;
                rustix::fs::symlinkat(target.as_c_str(), dst, name).map_err(at)?;
                self.finish_at(dst, name, &st).map_err(at)?;
            }
            other => {
                match rustix::fs::mknodat(dst, name, other, mode, st.st_rdev) {
                    Ok(()) => {}
                    // Device nodes cannot be made in a user namespace; /dev
                    // is a tmpfs of the sandbox's own anyway.
                    Err(Errno::PERM)
                        if matches!(other, FileType::CharacterDevice | FileType::BlockDevice) =>
                    {
                        return Ok(())
                    }
                    Err(e) => return Err(at(e)),
                }
                self.finish_at(dst, name, &st).map_err(at)?;
            }
        }
        Ok(())
    }

    /// Owner and times of an entry that cannot be opened (symlink, fifo).
    fn finish_at(&self, dir: BorrowedFd, name: &CStr, st: &Stat) -> Result<(), Errno> {
        let (uid, gid) = owner(st);
        tolerate_unmapped(rustix::fs::chownat(
            dir,
            name,
            uid,
            gid,
            AtFlags::SYMLINK_NOFOLLOW,
        ))?;
        rustix::fs::utimensat(dir, name, &times(st), AtFlags::SYMLINK_NOFOLLOW)
    }
}

/// What one entry of the copy was when the copy was made: enough to tell
/// whether the container changed it since. The inode and the change time
/// move with every write, chmod, chown, rename or link, and the container
/// cannot set them back; size and modification time back them up where
/// the filesystem keeps times in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    dir: bool,
    ino: u64,
    /// The birth time: an inode number freed and given to a new file or
    /// directory comes with a new one.
    born: (i64, i64),
    ctime: (i64, i64),
    mtime: (i64, i64),
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    /// A directory's owner kept in the override xattr (root emulation's
    /// chown), which its change time cannot tell apart from its entries'.
    owner: Option<(u32, u32, u32)>,
}

impl Recorded {
    /// `name` in `dir` as it is now (never following a symlink).
    pub fn at(dir: BorrowedFd, name: &CStr) -> Result<Recorded, Errno> {
        use rustix::fs::StatxFlags;
        let st = rustix::fs::statx(
            dir,
            name,
            AtFlags::SYMLINK_NOFOLLOW,
            StatxFlags::BASIC_STATS | StatxFlags::BTIME,
        )?;
        let mode = u32::from(st.stx_mode);
        let is_dir = FileType::from_raw_mode(mode) == FileType::Directory;
        let owner = if is_dir {
            crate::owners::recorded_at(dir, name).map(|o| (o.uid, o.gid, o.mode))
        } else {
            None
        };
        let time = |t: rustix::fs::StatxTimestamp| (t.tv_sec, i64::from(t.tv_nsec));
        // Where the filesystem keeps no birth time, the inode alone.
        let born = if st.stx_mask & StatxFlags::BTIME.bits() != 0 {
            time(st.stx_btime)
        } else {
            (0, 0)
        };
        Ok(Recorded {
            dir: is_dir,
            ino: st.stx_ino,
            born,
            ctime: time(st.stx_ctime),
            mtime: time(st.stx_mtime),
            mode,
            uid: st.stx_uid,
            gid: st.stx_gid,
            size: st.stx_size,
            owner,
        })
    }

    /// A directory now.
    pub fn is_dir(&self) -> bool {
        self.dir
    }

    /// The same directory as the one recorded: not removed and made anew,
    /// nor a file or link in its place.
    pub fn same_dir(&self, now: &Recorded) -> bool {
        self.dir && now.dir && (self.ino, self.born) == (now.ino, now.born)
    }

    /// True when `now` is this entry unchanged. A directory's times and
    /// size follow its entries, which are compared on their own (and the
    /// sandbox's mount points are made in it at each start): only the
    /// directory's own owner and mode count.
    pub fn unchanged(&self, now: &Recorded) -> bool {
        if self.dir || now.dir {
            return self.same_dir(now)
                && (self.mode, self.uid, self.gid, self.owner)
                    == (now.mode, now.uid, now.gid, now.owner);
        }
        self == now
    }

    fn to_line(self, path: &[u8], out: &mut Vec<u8>) {
        let owner = match self.owner {
            Some((u, g, m)) => format!("{u}:{g}:{m}"),
            None => "-".into(),
        };
        let fields = format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {} ",
            u8::from(self.dir),
            self.ino,
            self.born.0,
            self.born.1,
            self.ctime.0,
            self.ctime.1,
            self.mtime.0,
            self.mtime.1,
            self.mode,
            self.uid,
            self.gid,
            self.size,
            owner
        );
        out.extend_from_slice(fields.as_bytes());
        out.extend_from_slice(path);
        out.push(0);
    }

    fn from_line(line: &[u8]) -> Option<(Vec<u8>, Recorded)> {
        let mut parts = line.splitn(14, |b| *b == b' ');
        let mut next = || -> Option<&str> { std::str::from_utf8(parts.next()?).ok() };
        let dir = next()? == "1";
        let mut num = || -> Option<i64> { next()?.parse().ok() };
        let (ino, bs, bn) = (num()?, num()?, num()?);
        let (cs, cn, ms, mn) = (num()?, num()?, num()?, num()?);
        let (mode, uid, gid, size) = (num()?, num()?, num()?, num()?);
        let owner = match next()? {
            "-" => None,
            o => {
                let mut it = o.split(':').map(|n| n.parse::<u32>().ok());
                Some((it.next()??, it.next()??, it.next()??))
            }
        };
        let path = parts.next()?.to_vec();
        let rec = Recorded {
            dir,
            ino: u64::try_from(ino).ok()?,
            born: (bs, bn),
            ctime: (cs, cn),
            mtime: (ms, mn),
            mode: u32::try_from(mode).ok()?,
            uid: u32::try_from(uid).ok()?,
            gid: u32::try_from(gid).ok()?,
            size: u64::try_from(size).ok()?,
            owner,
        };
        Some((path, rec))
    }
}

/// The copy driver's record of what the copy held when it was made, by
/// path relative to the root (`etc/passwd`): `diff` and `commit` compare
/// the container's root with it, since the copy itself holds the whole
/// image and no layer to compare with.
#[derive(Debug, Default)]
pub struct CopyManifest {
    entries: HashMap<Vec<u8>, Recorded>,
}

impl CopyManifest {
    /// Records every entry under the directory `root` (the fresh copy) in
    /// `file`, atomically (a temp file, synced, then renamed).
    pub(crate) fn write(root: &Path, file: &Path) -> Result<(), CopyError> {
        let dir = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| CopyError::Open(root.to_path_buf(), e))?;
        let mut out = Vec::new();
        record_dir(dir.as_fd(), &mut Vec::new(), &mut out)
            .map_err(|(p, e)| CopyError::Copy(root.join(OsStr::from_bytes(&p)), e))?;
        let tmp = file.with_extension("tmp");
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &out)?;
            f.sync_all()?;
            std::fs::rename(&tmp, file)
        })();
        written.map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            CopyError::Manifest(file.to_path_buf(), source)
        })
    }

    /// The manifest in `file`; `None` when there is none (a copy made
    /// before burrow kept one).
    pub fn load(file: &Path) -> std::io::Result<Option<CopyManifest>> {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut entries = HashMap::new();
        for line in data.split(|b| *b == 0).filter(|l| !l.is_empty()) {
            let (path, rec) = Recorded::from_line(line).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "a damaged record")
            })?;
            entries.insert(path, rec);
        }
        Ok(Some(CopyManifest { entries }))
    }

    /// What the copy held at `path` (relative to the root).
    pub fn get(&self, path: &[u8]) -> Option<&Recorded> {
        self.entries.get(path)
    }

    /// Every path recorded.
    pub fn paths(&self) -> impl Iterator<Item = &[u8]> {
        self.entries.keys().map(|k| k.as_slice())
    }
}

/// Appends the records of what `dir` (at `rel`) holds to `out`.
fn record_dir(
    dir: BorrowedFd,
    rel: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), (Vec<u8>, Errno)> {
    let at = |rel: &[u8], e: Errno| (rel.to_vec(), e);
    let names: Vec<CString> = Dir::read_from(dir)
        .map_err(|e| at(rel, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        let len = rel.len();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        let rec = Recorded::at(dir, &name).map_err(|e| at(rel, e))?;
        rec.to_line(rel, out);
        if rec.dir {
            let sub = rustix::fs::openat(
                dir,
                &name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| at(rel, e))?;
            record_dir(sub.as_fd(), rel, out)?;
        }
        rel.truncate(len);
    }
    Ok(())
}

/// True when `path` exists; for the copy driver's completion marker.
pub(crate) fn exists(path: &Path) -> bool {
    rustix::fs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn layers_overwrite_and_symlinks_do_not_escape() {
        let d = tempfile::tempdir().unwrap();
        let (l1, l2, dest, outside) = (
            d.path().join("l1"),
            d.path().join("l2"),
            d.path().join("dest"),
            d.path().join("outside"),
        );
        for p in [&l1, &l2, &dest, &outside] {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::create_dir_all(l1.join("etc")).unwrap();
        std::fs::write(l1.join("etc/a"), "one").unwrap();
        std::fs::write(l1.join("etc/keep"), "keep").unwrap();
        std::fs::hard_link(l1.join("etc/a"), l1.join("etc/a-link")).unwrap();
        // Layer 1 makes `x` a symlink out of the tree; layer 2 makes it a
        // directory with a file: the file must land in dest, not outside.
        std::os::unix::fs::symlink(&outside, l1.join("x")).unwrap();
        std::fs::create_dir_all(l2.join("x")).unwrap();
        std::fs::write(l2.join("x/f"), "in").unwrap();
        std::fs::create_dir_all(l2.join("etc")).unwrap();
        std::fs::write(l2.join("etc/a"), "two").unwrap();

        copy_layers(&[l1.clone(), l2.clone()], &dest).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("etc/a")).unwrap(), "two");
        assert_eq!(
            std::fs::read_to_string(dest.join("etc/keep")).unwrap(),
            "keep"
        );
        assert_eq!(std::fs::read_to_string(dest.join("x/f")).unwrap(), "in");
        assert!(!outside.join("f").exists());
        // The hard link of layer 1 was a link, until layer 2 replaced `a`.
        assert_eq!(
            std::fs::read_to_string(dest.join("etc/a-link")).unwrap(),
            "one"
        );
        assert!(std::fs::symlink_metadata(dest.join("x")).unwrap().is_dir());
        assert_eq!(
            std::fs::metadata(dest.join("etc/keep")).unwrap().mtime(),
            std::fs::metadata(l1.join("etc/keep")).unwrap().mtime()
        );
    }

    /// The manifest tells the copy's own entries from what changed since:
    /// a write of the same size, a chmod, a file or directory made anew
    /// in place, but not a directory that only gained an entry.
    #[test]
    fn the_manifest_tells_the_copys_entries_from_the_containers_changes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        for dir in ["root/etc", "root/var", "root/home/app"] {
            std::fs::create_dir_all(d.path().join(dir)).unwrap();
        }
        for f in ["etc/a", "etc/b", "etc/same", "home/app/x"] {
            std::fs::write(root.join(f), "same size").unwrap();
        }
        let file = d.path().join("manifest");
        CopyManifest::write(&root, &file).unwrap();
        let m = CopyManifest::load(&file).unwrap().unwrap();
        assert_eq!(m.paths().count(), 8);

        std::fs::write(root.join("etc/a"), "SAME SIZE").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o600);
        std::fs::set_permissions(root.join("etc/b"), mode).unwrap();
        std::fs::write(root.join("etc/new"), "").unwrap();
        std::fs::remove_dir_all(root.join("home/app")).unwrap();
        std::fs::create_dir(root.join("home/app")).unwrap();
        let now = |p: &str| {
            let (dir, name) = p.rsplit_once('/').unwrap_or(("", p));
            let dir = std::fs::File::open(root.join(dir)).unwrap();
            Recorded::at(dir.as_fd(), &CString::new(name).unwrap()).unwrap()
        };
        let unchanged = |p: &str| m.get(p.as_bytes()).unwrap().unchanged(&now(p));
        assert!(!unchanged("etc/a"), "a write of the same size");
        assert!(!unchanged("etc/b"), "a chmod");
        assert!(unchanged("etc/same"));
        assert!(unchanged("etc"), "a directory that gained an entry");
        assert!(!unchanged("home/app"), "a directory made anew");
        assert!(!m.get(b"home/app").unwrap().same_dir(&now("home/app")));
        assert!(m.get(b"etc/new").is_none());
        assert!(CopyManifest::load(&d.path().join("none"))
            .unwrap()
            .is_none());
        std::fs::write(&file, "1 2 3\0").unwrap();
        assert!(CopyManifest::load(&file).is_err(), "a damaged record");
    }

    #[test]
    fn whiteouts_delete_and_opaque_directories_hide_lower_content() {
        let d = tempfile::tempdir().unwrap();
        let (l1, l2, dest) = (
            d.path().join("l1"),
            d.path().join("l2"),
            d.path().join("dest"),
        );
        for p in [&l1, &l2, &dest] {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::write(l1.join("gone"), "x").unwrap();
        std::fs::create_dir_all(l1.join("dir/sub")).unwrap();
        std::fs::write(l1.join("dir/old"), "x").unwrap();
        std::fs::create_dir_all(l2.join("dir")).unwrap();
        std::fs::write(l2.join("dir/new"), "y").unwrap();
        let l2fd = std::fs::File::open(&l2).unwrap();
        // The overlay whiteout format: a 0:0 character device (burrow's
        // tests run as root, or in a user namespace, where this works).
        rustix::fs::mknodat(&l2fd, "gone", FileType::CharacterDevice, Mode::empty(), 0).unwrap();
        let dirfd = std::fs::File::open(l2.join("dir")).unwrap();
        rustix::fs::fsetxattr(
            &dirfd,
            "user.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();

        copy_layers(&[l1, l2], &dest).unwrap();
        assert!(!dest.join("gone").exists());
        assert!(dest.join("dir/new").exists());
        assert!(!dest.join("dir/old").exists());
        assert!(!dest.join("dir/sub").exists());
    }
}
