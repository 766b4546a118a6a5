//! The owner a file is meant to have where the user namespace cannot give
//! it (a single-id map, or an id outside the map): the one copy of how it
//! is recorded and read back. Files and directories carry it in the
//! `user.containers.override_stat` xattr (the convention of
//! containers/storage and fuse-overlayfs); entries that cannot carry a
//! user xattr (symbolic links, fifos) are listed in a layer's owners file,
//! which lives beside the layer's files, never among them.
//!
//! Root emulation records here what a container asked for, unpacking what
//! an image says; every writer of a layer (commit, export, build) reads
//! the owner back through `meant_owner`. A container's chowns of entries
//! that cannot carry the xattr go to its writable layer's owners file
//! (`WrittenOwners`), beside the upper directory. It imports nothing of
//! burrow.

use rustix::fd::{AsRawFd, BorrowedFd};
use std::collections::{BTreeMap, HashMap};
use std::ffi::CStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The xattr holding the owner and mode a file is meant to have, in the
/// format of containers/storage and fuse-overlayfs: `UID:GID:0MODE[:TYPE]`.
pub const OVERRIDE_XATTR: &str = "user.containers.override_stat";

/// The name of a layer's owners file, in the layer's directory beside its
/// `diff`.
pub const OWNERS_FILE: &str = "owners";

/// What an override xattr says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverrideStat {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (with set-id and sticky).
    pub mode: u32,
}

impl OverrideStat {
    /// `UID:GID:0MODE`, then `:dir` or `:file`.
    pub fn format(&self, is_dir: bool) -> String {
        format!(
            "{}:{}:0{:03o}:{}",
            self.uid,
            self.gid,
            self.mode & 0o7777,
            if is_dir { "dir" } else { "file" }
        )
    }

    /// Reads `UID:GID:MODE[:TYPE]` (MODE in octal); `None` when it is not
    /// that.
    pub fn parse(v: &[u8]) -> Option<OverrideStat> {
        let text = std::str::from_utf8(v).ok()?;
        let mut parts = text.trim_end_matches('\0').split(':');
        let uid = parts.next()?.parse().ok()?;
        let gid = parts.next()?.parse().ok()?;
        let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
        Some(OverrideStat {
            uid,
            gid,
            mode: mode & 0o7777,
        })
    }
}

/// The owner recorded for the file `fd` (opened on it, any kind, O_PATH
/// included), if any.
pub fn recorded(fd: BorrowedFd) -> Option<OverrideStat> {
    // Through the fd's magic link, followed: to the file itself (the
    // link itself has no such attribute; an O_PATH fd takes no
    // fgetxattr).
    match get_via(&via_fd(fd)) {
        Err(rustix::io::Errno::ACCESS) => recorded_unreadable(fd),
        other => other.ok().and_then(|v| v),
    }
}

/// `recorded`, for a file whose permission bits (`mode`) the caller read
/// a moment ago: one that its owner may not read (dpkg's new files, mode
/// 000 until dpkg's chmod) goes straight to the way that needs no read
/// permission.
pub fn recorded_with_mode(fd: BorrowedFd, mode: u32) -> Option<OverrideStat> {
    if mode & 0o400 == 0 {
        return recorded_unreadable(fd);
    }
    recorded(fd)
}

/// The record of a file its owner (burrow, outside the user namespace)
/// may not read: a `user.` xattr is read only with read permission on the
/// file, but listed without. When there is one, the owner is given read
/// permission for the read (see `with_owner_access`).
fn recorded_unreadable(fd: BorrowedFd) -> Option<OverrideStat> {
    let via = via_fd(fd);
    if !has_record(&via) {
        return None;
    }
    with_owner_access(fd, 0o400, || get_via(&via))
        .ok()
        .and_then(|r| r.ok())
        .flatten()
}

fn via_fd(fd: BorrowedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// The record at `via` (followed); `Ok(None)` when there is none or it is
/// not one.
fn get_via(via: &str) -> rustix::io::Result<Option<OverrideStat>> {
    let mut buf = [0u8; 64];
    match rustix::fs::getxattr(via, OVERRIDE_XATTR, &mut buf[..]) {
        Ok(n) => Ok(OverrideStat::parse(&buf[..n])),
        Err(rustix::io::Errno::NODATA) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether the file at `via` (followed) carries the record, by the list
/// of its xattr names (which needs no permission on the file).
fn has_record(via: &str) -> bool {
    let mut names = [0u8; 1024];
    match rustix::fs::listxattr(via, &mut names[..]) {
        Ok(n) => names[..n]
            .split(|&b| b == 0)
            .any(|name| name == OVERRIDE_XATTR.as_bytes()),
        // More names than room: read to know.
        Err(rustix::io::Errno::RANGE) => true,
        Err(_) => false,
    }
}

/// Runs `f` on the file `fd` (any kind of fd on it, followed through its
/// magic link) with the owner's permission bits `need` (0o400 to read a
/// `user.` xattr, 0o200 to write or remove one) added when the file lacks
/// them, then puts the mode back, unless someone changed it meanwhile
/// (a chmod of the container's between the two is kept). Only for a file
/// whose owner burrow is: the one the container's call named, through
/// the fd resolved inside its root. Err: the mode could not be read or
/// changed.
pub fn with_owner_access<T>(
    fd: BorrowedFd,
    need: u32,
    f: impl FnOnce() -> T,
) -> rustix::io::Result<T> {
    let via = via_fd(fd);
    let mode_now = || -> rustix::io::Result<u32> {
        let st = rustix::fs::statx(
            fd,
            "",
            rustix::fs::AtFlags::EMPTY_PATH,
            rustix::fs::StatxFlags::MODE,
        )?;
        Ok(u32::from(st.stx_mode) & 0o7777)
    };
    let mode = mode_now()?;
    if mode & need == need {
        return Ok(f());
    }
    let open = mode | need;
    rustix::fs::chmod(&via, rustix::fs::Mode::from_raw_mode(open))?;
    let r = f();
    if mode_now()? == open {
        rustix::fs::chmod(&via, rustix::fs::Mode::from_raw_mode(mode))?;
    }
    Ok(r)
}

/// The owner recorded for `name` in the directory `dir` (never following
/// a symlink), if any.
pub fn recorded_at(dir: BorrowedFd, name: &CStr) -> Option<OverrideStat> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.to_bytes());
    read_xattr(&path)
}

/// The owner recorded for the file at `path` (never following a symlink).
pub fn recorded_at_path(path: &Path) -> Option<OverrideStat> {
    read_xattr(path.as_os_str().as_bytes())
}

fn read_xattr(path: &[u8]) -> Option<OverrideStat> {
    let mut buf = [0u8; 64];
    let path = std::ffi::OsStr::from_bytes(path);
    let n = rustix::fs::lgetxattr(path, OVERRIDE_XATTR, &mut buf[..]).ok()?;
    OverrideStat::parse(&buf[..n])
}

/// Records `o` on the file or directory `fd` (opened on it, not O_PATH).
pub fn record(fd: BorrowedFd, o: OverrideStat, is_dir: bool) -> rustix::io::Result<()> {
    rustix::fs::fsetxattr(
        fd,
        OVERRIDE_XATTR,
        o.format(is_dir).as_bytes(),
        rustix::fs::XattrFlags::empty(),
    )
}

/// The owner (uid, gid) a file is meant to have: the recorded one when
/// there is one (a directory or regular file's xattr, else `listed`, the
/// owners file's entry for it), else the one it has (`st`, as the user
/// namespace sees it). A record is only made on a file that is root's, so
/// on a file that is someone else's (chowned by the kernel since, with a
/// full id map) it is stale and not used.
pub fn meant_owner(
    dir: BorrowedFd,
    name: &CStr,
    st: &rustix::fs::Stat,
    listed: Option<(u32, u32)>,
) -> (u32, u32) {
    use rustix::fs::FileType;
    if (st.st_uid, st.st_gid) != (0, 0) {
        return (st.st_uid, st.st_gid);
    }
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft == FileType::Directory || ft == FileType::RegularFile {
        if let Some(o) = recorded_at(dir, name) {
            return (o.uid, o.gid);
        }
    }
    listed.unwrap_or((st.st_uid, st.st_gid))
}

/// A layer's owners file: the owners of entries (by path in the layer,
/// without a leading slash) that cannot carry the xattr.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LayerOwners {
    by_path: BTreeMap<Vec<u8>, (u32, u32)>,
}

impl LayerOwners {
    pub fn insert(&mut self, path: &[u8], uid: u32, gid: u32) {
        self.by_path.insert(path.to_vec(), (uid, gid));
    }

    pub fn get(&self, path: &[u8]) -> Option<(u32, u32)> {
        self.by_path.get(path).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// Records of `UID:GID:PATH`, each ended by a NUL (a path may hold
    /// any other byte).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, (uid, gid)) in &self.by_path {
            out.extend_from_slice(format!("{uid}:{gid}:").as_bytes());
            out.extend_from_slice(path);
            out.push(0);
        }
        out
    }

    /// Reads what `to_bytes` wrote; a record that is not one is skipped.
    pub fn from_bytes(data: &[u8]) -> LayerOwners {
        let mut out = LayerOwners::default();
        for rec in data.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let mut parts = rec.splitn(3, |&b| b == b':');
            let num = |p: Option<&[u8]>| std::str::from_utf8(p?).ok()?.parse::<u32>().ok();
            if let (Some(uid), Some(gid), Some(path)) =
                (num(parts.next()), num(parts.next()), parts.next())
            {
                out.insert(path, uid, gid);
            }
        }
        out
    }

    /// The owners file of the layer whose files are in `diff` (none, or
    /// unreadable: no entries).
    pub fn of_layer(diff: &Path) -> LayerOwners {
        diff.parent()
            .and_then(|d| std::fs::read(d.join(OWNERS_FILE)).ok())
            .map(|data| LayerOwners::from_bytes(&data))
            .unwrap_or_default()
    }

    /// Writes the owners file into the layer directory `dir` (the one
    /// holding `diff`), when there is anything to write.
    pub fn write_into(&self, dir: &Path) -> io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let mut f = std::fs::File::create(dir.join(OWNERS_FILE))?;
        f.write_all(&self.to_bytes())?;
        f.sync_all()
    }
}

/// What names an entry of a writable layer for as long as it exists,
/// through renames, and never a later entry made at its path: its file
/// handle (`name_to_handle_at`: inode and generation), or where the
/// filesystem gives none, its inode number. `name` in `dir`, never
/// following a symlink.
pub fn entry_key(dir: BorrowedFd, name: &CStr) -> Option<Vec<u8>> {
    const ROOM: usize = libc::MAX_HANDLE_SZ as usize;
    #[repr(C)]
    struct Handle {
        bytes: u32,
        kind: i32,
        data: [u8; ROOM],
    }
    let mut h = Handle {
        bytes: ROOM as u32,
        kind: 0,
        data: [0; ROOM],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `h` is a `struct file_handle` followed by the MAX_HANDLE_SZ
    // bytes its `handle_bytes` promises; `name` is NUL-terminated; both
    // outlive the call. Flags 0: the entry itself, a symlink included.
    let r = unsafe {
        libc::name_to_handle_at(
            dir.as_raw_fd(),
            name.as_ptr(),
            (&mut h as *mut Handle).cast::<libc::file_handle>(),
            &mut mount_id,
            0,
        )
    };
    if r == 0 && (h.bytes as usize) <= ROOM {
        let mut key = format!("h{:x}-", h.kind).into_bytes();
        for b in &h.data[..h.bytes as usize] {
            key.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        return Some(key);
    }
    let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).ok()?;
    Some(format!("i{}", st.st_ino).into_bytes())
}

/// `entry_key` of the entry at `path`.
pub fn entry_key_at_path(path: &Path) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    entry_key(rustix::fs::CWD, &c)
}

/// The owners a container gave by chown to entries of its writable layer
/// that cannot carry the xattr (symbolic links, fifos), in the file
/// `UPPER.owners` beside the upper directory: records `UID:GID:KEY`, each
/// ended by a NUL, KEY the entry's `entry_key` in the upper directory.
/// Records are only appended (one write each, so the supervisor and the
/// servers of exec'd commands may write at once); the last for a key wins.
#[derive(Debug, Default)]
pub struct WrittenOwners {
    file: PathBuf,
    /// How far the file has been read (to the end of its last record).
    read: u64,
    by_key: HashMap<Vec<u8>, (u32, u32)>,
}

impl WrittenOwners {
    /// The owners file of the writable layer `upper`.
    pub fn file_of(upper: &Path) -> PathBuf {
        upper.with_extension("owners")
    }

    /// What the writable layer `upper`'s owners file holds (none: empty).
    pub fn of_upper(upper: &Path) -> WrittenOwners {
        let mut w = WrittenOwners {
            file: WrittenOwners::file_of(upper),
            ..WrittenOwners::default()
        };
        w.refresh();
        w
    }

    /// Reads the records appended since the last read.
    pub fn refresh(&mut self) {
        use std::io::{Read, Seek};
        let Ok(mut f) = std::fs::File::open(&self.file) else {
            return;
        };
        let mut data = Vec::new();
        if f.seek(io::SeekFrom::Start(self.read)).is_err() || f.read_to_end(&mut data).is_err() {
            return;
        }
        // A record being written meanwhile is read next time.
        let Some(end) = data.iter().rposition(|&b| b == 0) else {
            return;
        };
        self.read += end as u64 + 1;
        for (key, owner) in LayerOwners::from_bytes(&data[..=end]).by_path {
            self.by_key.insert(key, owner);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The owner recorded for the entry `key`.
    pub fn get(&self, key: &[u8]) -> Option<(u32, u32)> {
        self.by_key.get(key).copied()
    }

    /// The owner recorded for the entry at `path` (in the upper directory).
    pub fn at_path(&self, path: &Path) -> Option<(u32, u32)> {
        if self.is_empty() {
            return None;
        }
        self.get(&entry_key_at_path(path)?)
    }

    /// Records `uid`:`gid` for the entry `key`.
    pub fn append(&mut self, key: &[u8], uid: u32, gid: u32) -> io::Result<()> {
        let mut rec = format!("{uid}:{gid}:").into_bytes();
        rec.extend_from_slice(key);
        rec.push(0);
        let mut f = std::fs::File::options()
            .append(true)
            .create(true)
            .open(&self.file)?;
        f.write_all(&rec)?;
        self.by_key.insert(key.to_vec(), (uid, gid));
        Ok(())
    }
}

/// The owners files of a stack of layers, to find the owner of an entry
/// of the merged tree that cannot carry the xattr: the layer that provides
/// the entry (the topmost that has it) says; for the writable layer, what
/// the container recorded there.
pub struct StackOwners {
    /// The writable layer (its entries are as they are), if any.
    upper: Option<PathBuf>,
    /// The writable layer's records.
    written: WrittenOwners,
    /// Layer directories with their owners files, top first; only those
    /// with an owners file.
    top_first: Vec<(PathBuf, LayerOwners)>,
    /// Every layer directory, top first.
    all_top_first: Vec<PathBuf>,
}

impl StackOwners {
    /// `lower`: the layers' `diff` directories, base first.
    pub fn new(upper: Option<&Path>, lower: &[PathBuf]) -> StackOwners {
        let all_top_first: Vec<PathBuf> = lower.iter().rev().cloned().collect();
        let top_first = all_top_first
            .iter()
            .map(|d| (d.clone(), LayerOwners::of_layer(d)))
            .filter(|(_, o)| !o.is_empty())
            .collect();
        StackOwners {
            upper: upper.map(Path::to_path_buf),
            written: upper.map(WrittenOwners::of_upper).unwrap_or_default(),
            top_first,
            all_top_first,
        }
    }

    /// Reads what the container recorded since (see `WrittenOwners`).
    pub fn refresh(&mut self) {
        if self.upper.is_some() {
            self.written.refresh();
        }
    }

    /// The writable layer's records.
    pub fn written(&mut self) -> &mut WrittenOwners {
        &mut self.written
    }

    /// The listed owner of `path` (relative, no leading slash) in the
    /// merged tree, if the layer providing it lists one.
    pub fn listed(&self, path: &str) -> Option<(u32, u32)> {
        let exists = |d: &Path| std::fs::symlink_metadata(d.join(path)).is_ok();
        if let Some(upper) = self.upper.as_deref().filter(|u| exists(u)) {
            return self.written.at_path(&upper.join(path));
        }
        if self.top_first.is_empty() {
            return None;
        }
        let provider = self.all_top_first.iter().find(|d| exists(d))?;
        self.top_first
            .iter()
            .find(|(d, _)| d == provider)
            .and_then(|(_, o)| o.get(path.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_values_read_and_write_as_containers_storage_does() {
        let o = OverrideStat {
            uid: 1000,
            gid: 1011,
            mode: 0o644,
        };
        assert_eq!(o.format(false), "1000:1011:0644:file");
        assert_eq!(
            OverrideStat {
                uid: 0,
                gid: 42,
                mode: 0o2755
            }
            .format(true),
            "0:42:02755:dir"
        );
        assert_eq!(OverrideStat::parse(b"1000:1011:0644:file"), Some(o));
        assert_eq!(OverrideStat::parse(b"1000:1011:644"), Some(o));
        assert_eq!(
            OverrideStat::parse(b"5:6:0600:char-1-3"),
            Some(OverrideStat {
                uid: 5,
                gid: 6,
                mode: 0o600
            })
        );
        for bad in [&b""[..], b"x:1:0644", b"1:2", b"1:2:9", b"-1:2:0644"] {
            assert_eq!(OverrideStat::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_record_counts_only_on_a_file_that_is_roots() {
        let t = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(t.path().join("f")).unwrap();
        let o = OverrideStat {
            uid: 100,
            gid: 101,
            mode: 0o644,
        };
        if record(rustix::fd::AsFd::as_fd(&f), o, false).is_err() {
            eprintln!("SKIP: no user xattrs on {}", t.path().display());
            return;
        }
        // Read through an O_PATH fd, as root emulation opens files.
        let path_fd = rustix::fs::open(
            t.path().join("f"),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        assert_eq!(recorded(rustix::fd::AsFd::as_fd(&path_fd)), Some(o));
        let dir = std::fs::File::open(t.path()).unwrap();
        let dir = rustix::fd::AsFd::as_fd(&dir);
        let name = c"f";
        let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).unwrap();
        let mut root = st;
        (root.st_uid, root.st_gid) = (0, 0);
        assert_eq!(meant_owner(dir, name, &root, None), (100, 101));
        let mut other = st;
        (other.st_uid, other.st_gid) = (5, 0);
        assert_eq!(meant_owner(dir, name, &other, None), (5, 0));
        assert_eq!(meant_owner(dir, name, &other, Some((7, 7))), (5, 0));
    }

    #[test]
    fn owner_access_is_given_for_the_call_and_a_chmod_meanwhile_is_kept() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        std::fs::write(&p, "x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let set = |m: u32| std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m));
        set(0o000).unwrap();
        let fd = rustix::fs::open(
            &p,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let fd = rustix::fd::AsFd::as_fd(&fd);
        let during = with_owner_access(fd, 0o400, || mode(&p)).unwrap();
        assert_eq!((during, mode(&p)), (0o400, 0o000));
        // The container's chmod between the two is not undone.
        with_owner_access(fd, 0o200, || set(0o640).unwrap()).unwrap();
        assert_eq!(mode(&p), 0o640);
        // Nothing to give: no chmod at all.
        set(0o2644).unwrap();
        let during = with_owner_access(fd, 0o600, || mode(&p)).unwrap();
        assert_eq!((during, mode(&p)), (0o2644, 0o2644));
    }

    #[test]
    fn an_owners_file_keeps_any_path_and_skips_what_is_not_a_record() {
        let mut o = LayerOwners::default();
        o.insert(b"usr/bin/awk", 0, 42);
        o.insert(b"odd:name\nwith newline", 7, 8);
        let back = LayerOwners::from_bytes(&o.to_bytes());
        assert_eq!(back, o);
        assert_eq!(back.get(b"odd:name\nwith newline"), Some((7, 8)));
        let mut junk = o.to_bytes();
        junk.extend_from_slice(b"x:1:bad\0-1:2:neg\0");
        assert_eq!(LayerOwners::from_bytes(&junk), o);
    }

    #[test]
    fn a_written_owner_follows_its_entry_through_a_rename_and_not_its_path() {
        let t = tempfile::tempdir().unwrap();
        let upper = t.path().join("upper");
        std::fs::create_dir(&upper).unwrap();
        std::os::unix::fs::symlink("x", upper.join("l")).unwrap();
        let key = entry_key_at_path(&upper.join("l")).unwrap();
        let mut w = WrittenOwners::of_upper(&upper);
        w.append(&key, 5, 5).unwrap();
        std::fs::rename(upper.join("l"), upper.join("m")).unwrap();
        let mut other = WrittenOwners::of_upper(&upper);
        assert_eq!(other.at_path(&upper.join("m")), Some((5, 5)));
        assert_eq!(other.at_path(&upper.join("l")), None);
        // A later record (another writer's) wins once read.
        w.append(&key, 6, 7).unwrap();
        other.refresh();
        assert_eq!(other.at_path(&upper.join("m")), Some((6, 7)));
        if key.starts_with(b"h") {
            // A new entry at the path, even on a reused inode number.
            std::fs::remove_file(upper.join("m")).unwrap();
            std::os::unix::fs::symlink("y", upper.join("m")).unwrap();
            assert_eq!(other.at_path(&upper.join("m")), None);
        }
        let s = StackOwners::new(Some(&upper), &[]);
        assert_eq!(s.listed("m"), other.at_path(&upper.join("m")));
    }

    #[test]
    fn the_topmost_layer_with_the_entry_says_whose_it_is() {
        let t = tempfile::tempdir().unwrap();
        let layer = |n: &str, owners: &[(&str, u32)]| {
            let diff = t.path().join(n).join("diff");
            std::fs::create_dir_all(&diff).unwrap();
            let mut o = LayerOwners::default();
            for (p, id) in owners {
                std::os::unix::fs::symlink("x", diff.join(p)).unwrap();
                o.insert(p.as_bytes(), *id, *id);
            }
            o.write_into(diff.parent().unwrap()).unwrap();
            diff
        };
        let base = layer("base", &[("a", 5), ("b", 6)]);
        let top = layer("top", &[("b", 7)]);
        let upper = t.path().join("upper");
        std::fs::create_dir(&upper).unwrap();
        std::os::unix::fs::symlink("y", upper.join("a")).unwrap();
        let s = StackOwners::new(Some(&upper), &[base.clone(), top.clone()]);
        assert_eq!(s.listed("b"), Some((7, 7)));
        assert_eq!(s.listed("a"), None, "the writable layer's own entry");
        let s = StackOwners::new(None, &[base, top]);
        assert_eq!(s.listed("a"), Some((5, 5)));
        assert_eq!(s.listed("c"), None);
    }
}
