//! A container's files from outside: `cp` both ways, `diff`, `export` and
//! `commit`. Container paths are resolved beneath the container's root
//! (openat2 RESOLVE_IN_ROOT), so a symlink in the container pointing at
//! `/etc/shadow` or `../../..` never reaches the host's files. All work on
//! files of mapped ids runs inside a user namespace with the container's
//! map: the running container's own, or a new one over a mount of the
//! stopped container's overlay.

use super::images::Context;
use super::record::{Containers, Status};
use super::supervisor::Plan;
use super::ContainerError;
use crate::container::error::{Error, Result};
use crate::image::tar::{EntryKind, NewEntry, TarWriter};
use crate::image::Reference;
use crate::owners::StackOwners;
use crate::sandbox::join;
use crate::sandbox::spec::Rootfs;
use crate::sandbox::{CopyManifest, Recorded, COPY_MANIFEST, COPY_MARKER};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn other(msg: String) -> Error {
    Error::Container(ContainerError::Other(msg))
}

/// Why copying, listing or archiving a container's files failed. Typed
/// across the process it runs in (the container's namespaces, or a user
/// namespace over its stopped root), so it is plain data.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum FilesError {
    /// A path resolved beneath the container's root.
    #[error("{path} in the container: {}", os(*errno))]
    InContainer { path: String, errno: i32 },
    /// A call on a file of the walk failed.
    #[error("{path}: {}", os(*errno))]
    Sys { path: String, errno: i32 },
    /// A host file could not be read or written.
    #[error("{path}: {detail}")]
    Host { path: String, detail: String },
    #[error("reading a directory: {}", os(*errno))]
    ReadDir { errno: i32 },
    #[error("{0}: not a file, directory or symbolic link")]
    NotCopyable(String),
    #[error("{0}: no file name")]
    NoFileName(String),
    /// Writing or reading a tar stream.
    #[error("{0}")]
    Archive(String),
    #[error("writing to standard output: {0}")]
    Stdout(Box<FilesError>),
    /// `cp - CTR:DIR` to a DIR that is not one.
    #[error("{0} (cp - extracts a tar into an existing directory)")]
    ExtractTarget(Box<FilesError>),
    /// The stopped container's root could not be mounted.
    #[error("{0}")]
    Mount(String),
}

fn os(errno: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno)
}

/// `path`'s rustix error.
fn sys(path: impl std::fmt::Display) -> impl FnOnce(rustix::io::Errno) -> FilesError {
    let path = path.to_string();
    move |e| FilesError::Sys {
        path,
        errno: e.raw_os_error(),
    }
}

/// `path`'s std error.
fn host(path: &Path) -> impl FnOnce(std::io::Error) -> FilesError + '_ {
    move |e| FilesError::Host {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

fn archive(e: impl std::fmt::Display) -> FilesError {
    FilesError::Archive(e.to_string())
}

/// Runs `f` with the container's root, as its files are now: through its
/// pid 1 when it runs, else a private mount of its overlay (with its
/// volumes and bind mounts on it when `volumes`: `cp` reaches them, as
/// docker's does; `export` leaves them out).
fn with_root<T, F>(ctx: &Context, input: &str, volumes: bool, f: F) -> Result<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: FnOnce(&OwnedFd) -> std::result::Result<T, FilesError>,
{
    let store = ctx.store()?;
    let c = Containers::open(store.root())?;
    let (r, s) = c.find(input)?;
    let plan = Plan::load(&c.dir_of(&r.id)).map_err(ContainerError::from)?;
    if s.status == Status::Running {
        if let (Some(pid1), Some(start)) = (s.pid, s.pid_start) {
            let fd1 = join::pidfd_open(pid1)?;
            if super::record::process_start_time(pid1) == Some(start) {
                // Through the command when an init is pid 1 (see entry_pid).
                if let Some(pid) = super::record::entry_pid(&r, pid1) {
                    let fd = if pid == pid1 {
                        fd1
                    } else {
                        join::pidfd_open(pid)?
                    };
                    if pid == pid1 || super::record::parent_pid(pid) == Some(pid1) {
                        return Ok(
                            join::with_running_root(pid, fd, f)?.map_err(ContainerError::from)?
                        );
                    }
                }
            }
        }
    }
    let rootfs = plan.sandbox.rootfs.clone();
    let map = plan.sandbox.id_map.clone();
    let api = plan.sandbox.overlay_api;
    let mounts = if volumes {
        plan.sandbox.mounts.clone()
    } else {
        Vec::new()
    };
    crate::sandbox::userns::run_in_userns(&map, move || {
        let root = join::mount_stopped_root_with_volumes(&rootfs, api, &mounts)
            .map_err(|e| FilesError::Mount(e.to_string()))?;
        f(&root)
    })?
    .map_err(|e| Error::Container(e.into()))
}

/// `CTR:/path` or a host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyEnd {
    Host(PathBuf),
    Container { name: String, path: String },
}

impl CopyEnd {
    pub fn parse(s: &str) -> CopyEnd {
        // A host path with a colon must start with / or . to be one.
        if !s.starts_with('/') && !s.starts_with('.') {
            if let Some((name, path)) = s.split_once(':') {
                if !name.is_empty() {
                    return CopyEnd::Container {
                        name: name.into(),
                        path: path.into(),
                    };
                }
            }
        }
        CopyEnd::Host(PathBuf::from(s))
    }
}

/// `cp`'s options, as docker's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// `-a`: what is copied keeps its source's uid and gid as the
    /// container's user namespace sees them (the user's own files are
    /// its root's), instead of the copier's.
    pub archive: bool,
    /// `-L`: a symbolic link at SRC_PATH is followed (in the container,
    /// within its root) and its target copied; links below it stay links.
    pub follow_link: bool,
}

impl CopyOptions {
    /// How SRC_PATH's last component is opened.
    fn last(self) -> OFlags {
        if self.follow_link {
            OFlags::empty()
        } else {
            OFlags::NOFOLLOW
        }
    }
}

/// `cp SRC DST`: one end in a container, the other on the host.
pub fn copy(ctx: &Context, src: &CopyEnd, dst: &CopyEnd, opts: CopyOptions) -> Result<()> {
    let abs = |p: &Path| -> Result<PathBuf> {
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| other(format!("the current directory: {e}")))?
                .join(p)
        })
    };
    let stream = |h: &Path| h == Path::new("-");
    match (src, dst) {
        (CopyEnd::Container { name, path }, CopyEnd::Host(host)) if stream(host) => {
            let path = path.clone();
            with_root(ctx, name, true, move |root| {
                tar_out(root, &path, opts, &mut std::io::stdout().lock())
            })
        }
        (CopyEnd::Host(host), CopyEnd::Container { name, path }) if stream(host) => {
            let path = path.clone();
            let notes = with_root(ctx, name, true, move |root| {
                let dir = resolve(root, &path, OFlags::RDONLY | OFlags::DIRECTORY)
                    .map_err(|e| FilesError::ExtractTarget(Box::new(e)))?;
                crate::image::unpack::extract_into(&mut std::io::stdin().lock(), dir)
                    .map_err(archive)
            })?;
            for n in notes {
                eprintln!("Note: {n}");
            }
            Ok(())
        }
        (CopyEnd::Container { name, path }, CopyEnd::Host(host)) => {
            let (path, host) = (path.clone(), abs(host)?);
            with_root(ctx, name, true, move |root| {
                copy_out(root, &path, &host, opts)
            })
        }
        (CopyEnd::Host(host), CopyEnd::Container { name, path }) => {
            let (path, host) = (path.clone(), abs(host)?);
            with_root(ctx, name, true, move |root| {
                copy_in(root, &host, &path, opts)
            })
        }
        _ => Err(Error::Usage(
            "cp copies between a container (CONTAINER:PATH) and the host".into(),
        )),
    }
}

fn resolve(root: &OwnedFd, path: &str, flags: OFlags) -> std::result::Result<OwnedFd, FilesError> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    rustix::fs::openat2(
        root,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| FilesError::InContainer {
        path: path.to_string(),
        errno: e.raw_os_error(),
    })
}

fn base_name(path: &str) -> String {
    Path::new(path.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into())
}

/// `cp CTR:PATH -`: PATH as a tar stream, its entries under PATH's base
/// name (the link itself for a symbolic link, unless `-L`).
fn tar_out(
    root: &OwnedFd,
    path: &str,
    opts: CopyOptions,
    out: &mut dyn Write,
) -> std::result::Result<(), FilesError> {
    let fd = resolve(root, path, OFlags::PATH | opts.last())?;
    let st = rustix::fs::fstat(&fd).map_err(sys(&path))?;
    let name = base_name(path);
    let name = if name.is_empty() || name == "/" {
        ".".to_string()
    } else {
        name
    };
    let mut tar = TarWriter::new(std::io::BufWriter::new(out));
    let mode = st.st_mode & 0o7777;
    let mtime = u64::try_from(st.st_mtime).unwrap_or(0);
    let e = archive;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            let dir = resolve(root, path, OFlags::RDONLY | OFlags::DIRECTORY)?;
            tar.append_dir(&name, mode, mtime).map_err(e)?;
            let owners = StackOwners::new(None, &[]);
            tar_tree(
                &mut tar,
                dir.as_fd(),
                &name,
                st.st_dev,
                &owners,
                &mut |_, _| None,
            )?;
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(&fd, "", Vec::new()).map_err(sys(&path))?;
            tar.append_symlink(&name, &target.to_string_lossy(), mtime)
                .map_err(e)?;
        }
        FileType::RegularFile => {
            let file = resolve(root, path, OFlags::RDONLY | opts.last())?;
            let mut file = std::fs::File::from(file);
            tar.append_file(&name, mode, mtime, st.st_size as u64, &mut file)
                .map_err(e)?;
        }
        _ => return Err(FilesError::NotCopyable(path.to_string())),
    }
    let mut w = tar.finish().map_err(e)?;
    w.flush()
        .map_err(|e| FilesError::Stdout(Box::new(archive(e))))
}

fn copy_out(
    root: &OwnedFd,
    path: &str,
    host: &Path,
    opts: CopyOptions,
) -> std::result::Result<(), FilesError> {
    // The last component is not followed when it is a symlink: the link
    // itself is copied, as tar would; with -L it is followed, within the
    // container's root as every other component.
    let fd = resolve(root, path, OFlags::PATH | opts.last())?;
    let st = rustix::fs::fstat(&fd).map_err(sys(&path))?;
    let target = if host.is_dir() {
        host.join(base_name(path))
    } else {
        host.to_path_buf()
    };
    copy_tree_out(fd.as_fd(), &st, &target, opts.archive)
}

fn copy_tree_out(
    fd: BorrowedFd,
    st: &rustix::fs::Stat,
    dst: &Path,
    archive: bool,
) -> std::result::Result<(), FilesError> {
    let err = |e: std::io::Error| host(dst)(e);
    let mode = st.st_mode & 0o7777;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            let dir = rustix::fs::openat(
                fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(sys(dst.display()))?;
            match std::fs::create_dir(dst) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dst.is_dir() => {}
                Err(e) => return Err(err(e)),
            }
            for (name, child) in entries(dir.as_fd())? {
                let cst = rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(sys(name.to_string_lossy()))?;
                let cfd = rustix::fs::openat(
                    &dir,
                    &name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(sys(name.to_string_lossy()))?;
                let _ = child;
                copy_tree_out(
                    cfd.as_fd(),
                    &cst,
                    &dst.join(std::ffi::OsStr::from_bytes(name.to_bytes())),
                    archive,
                )?;
            }
            let _ =
                std::fs::set_permissions(dst, std::os::unix::fs::PermissionsExt::from_mode(mode));
        }
        FileType::RegularFile => {
            let src = rustix::fs::openat(fd, ".", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .or_else(|_| reopen(fd))
                .map_err(sys(dst.display()))?;
            let mut src = std::fs::File::from(src);
            let mut out = std::fs::File::create(dst).map_err(err)?;
            std::io::copy(&mut src, &mut out).map_err(err)?;
            let _ = out.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(fd, "", Vec::new()).map_err(sys(dst.display()))?;
            let _ = std::fs::remove_file(dst);
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target.to_bytes()), dst)
                .map_err(err)?;
        }
        // Devices, fifos and sockets are not copied out.
        _ => return Ok(()),
    }
    if archive {
        // The source's ids, as the user namespace this runs in maps them.
        std::os::unix::fs::lchown(dst, Some(st.st_uid), Some(st.st_gid)).map_err(err)?;
    }
    Ok(())
}

/// An O_PATH fd reopened for reading, through its /proc/self/fd link.
fn reopen(fd: BorrowedFd) -> std::result::Result<OwnedFd, rustix::io::Errno> {
    use std::os::fd::AsRawFd;
    rustix::fs::open(
        format!("/proc/self/fd/{}", fd.as_raw_fd()),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn entries(dir: BorrowedFd) -> std::result::Result<Vec<(std::ffi::CString, FileType)>, FilesError> {
    let read = |e: rustix::io::Errno| FilesError::ReadDir {
        errno: e.raw_os_error(),
    };
    let d = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(read)?;
    let mut out = Vec::new();
    let it = rustix::fs::Dir::read_from(&d).map_err(read)?;
    for e in it {
        let e = e.map_err(read)?;
        let name = e.file_name().to_owned();
        if name.as_bytes() == b"." || name.as_bytes() == b".." {
            continue;
        }
        out.push((name, e.file_type()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn copy_in(
    root: &OwnedFd,
    from: &Path,
    path: &str,
    opts: CopyOptions,
) -> std::result::Result<(), FilesError> {
    // -L: a host symlink at SRC_PATH is followed (the user's own files).
    let meta = if opts.follow_link {
        std::fs::metadata(from)
    } else {
        std::fs::symlink_metadata(from)
    }
    .map_err(host(from))?;
    // Into an existing directory: under the source's name; else as `path`.
    let (parent, name) = match resolve(root, path, OFlags::RDONLY | OFlags::DIRECTORY) {
        Ok(dir) => (
            dir,
            from.file_name()
                .map(|n| n.to_os_string())
                .ok_or_else(|| FilesError::NoFileName(from.display().to_string()))?,
        ),
        Err(_) => {
            let p = Path::new(path.trim_end_matches('/'));
            let parent = p
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into());
            let name = p
                .file_name()
                .ok_or_else(|| FilesError::NoFileName(path.to_string()))?;
            (
                resolve(root, &parent, OFlags::RDONLY | OFlags::DIRECTORY)?,
                name.to_os_string(),
            )
        }
    };
    copy_tree_in(from, &meta, parent.as_fd(), &name, opts.archive)
}

fn copy_tree_in(
    from: &Path,
    meta: &std::fs::Metadata,
    parent: BorrowedFd,
    name: &std::ffi::OsStr,
    archive: bool,
) -> std::result::Result<(), FilesError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let err = |e: rustix::io::Errno| FilesError::InContainer {
        path: name.to_string_lossy().into_owned(),
        errno: e.raw_os_error(),
    };
    let mode = Mode::from_raw_mode(meta.permissions().mode() & 0o7777);
    let ft = meta.file_type();
    if ft.is_dir() {
        match rustix::fs::mkdirat(parent, name, mode) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(err(e)),
        }
        // NOFOLLOW: a symlink planted at `name` is not entered.
        let dir = rustix::fs::openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        let list = std::fs::read_dir(from).map_err(host(from))?;
        for e in list.flatten() {
            let m = e.metadata().map_err(host(&e.path()))?;
            copy_tree_in(&e.path(), &m, dir.as_fd(), &e.file_name(), archive)?;
        }
    } else if ft.is_symlink() {
        let target = std::fs::read_link(from).map_err(host(from))?;
        let _ = rustix::fs::unlinkat(parent, name, AtFlags::empty());
        rustix::fs::symlinkat(target.as_os_str(), parent, name).map_err(err)?;
    } else if ft.is_file() {
        let fd = rustix::fs::openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            mode,
        )
        .map_err(err)?;
        let mut out = std::fs::File::from(fd);
        let mut src = std::fs::File::open(from).map_err(host(from))?;
        std::io::copy(&mut src, &mut out).map_err(host(from))?;
    } else {
        return Ok(());
    }
    if archive {
        // The source's uid and gid as this user namespace sees them (the
        // container's): the user's own files are its root's.
        rustix::fs::chownat(
            parent,
            name,
            Some(rustix::fs::Uid::from_raw(meta.uid())),
            Some(rustix::fs::Gid::from_raw(meta.gid())),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(err)?;
    }
    Ok(())
}

/// One line of `diff`: A added, C changed, D deleted.
pub type Change = (char, String);

/// `diff`: what the writable layer holds, against the image's layers.
pub fn diff(ctx: &Context, input: &str) -> Result<Vec<Change>> {
    let (upper, lower, work) = layers(ctx, input)?;
    ctx.in_userns(move |_| {
        let mut out = match copy_manifest(&work).map_err(ContainerError::from)? {
            Some(manifest) => {
                copy_changes(&upper, &manifest)
                    .map_err(ContainerError::from)?
                    .changes
            }
            None => {
                let mut out = Vec::new();
                walk_upper(&upper, Path::new("/"), &lower, &mut out)
                    .map_err(ContainerError::from)?;
                out
            }
        };
        out.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(out)
    })
}

/// The container's writable layer, its image's layers and its work
/// directory.
fn layers(ctx: &Context, input: &str) -> Result<(PathBuf, Vec<PathBuf>, PathBuf)> {
    let store = ctx.store()?;
    let c = Containers::open(store.root())?;
    let (r, _) = c.find(input)?;
    let plan = Plan::load(&c.dir_of(&r.id)).map_err(ContainerError::from)?;
    match plan.sandbox.rootfs {
        Rootfs::Overlay { lower, upper, work } => Ok((upper, lower, work)),
        Rootfs::Dir(_) => Err(other(format!("container {} has no writable layer", r.name))),
    }
}

/// The copy driver's manifest, when the container runs from a private copy
/// of its layers (its writable layer is that copy, the whole image); a
/// copy made before burrow kept manifests has none and reads as an
/// overlay's writable layer.
fn copy_manifest(work: &Path) -> std::result::Result<Option<CopyManifest>, FilesError> {
    if !work.join(COPY_MARKER).exists() {
        return Ok(None);
    }
    let file = work.join(COPY_MANIFEST);
    CopyManifest::load(&file).map_err(host(&file))
}

/// What a container running from a copy changed, against the manifest
/// made with the copy.
#[derive(Debug, Default)]
struct CopyChanges {
    /// `diff`'s lines, paths from `/`.
    changes: Vec<Change>,
    /// Directories made anew where the copy had another entry: nothing
    /// of the image's is left under them (opaque, in a layer).
    replaced: std::collections::HashSet<String>,
}

/// Compares the copy at `upper` with `manifest`: entries not recorded are
/// added (`A`), entries that differ from their record changed (`C`), and
/// so is a directory with a change beneath; recorded entries that are
/// gone are deleted (`D`), the topmost only (where the directory that
/// held them is still the same one). The sandbox's empty mount points are
/// left out, as for an overlay.
fn copy_changes(
    upper: &Path,
    manifest: &CopyManifest,
) -> std::result::Result<CopyChanges, FilesError> {
    use std::collections::HashSet;
    struct Walk<'a> {
        manifest: &'a CopyManifest,
        seen: HashSet<Vec<u8>>,
        kept_dirs: HashSet<Vec<u8>>,
        out: CopyChanges,
    }
    fn text(rel: &[u8]) -> String {
        format!("/{}", String::from_utf8_lossy(rel))
    }
    // Whether anything under `dir` was listed. `fresh`: `dir` was made
    // anew, so nothing in it is the copy's.
    fn walk(
        w: &mut Walk,
        dir: BorrowedFd,
        rel: &[u8],
        fresh: bool,
    ) -> std::result::Result<bool, FilesError> {
        let mut listed = false;
        for (name, _) in entries(dir)? {
            let mut path = rel.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name.as_bytes());
            let now = match Recorded::at(dir, &name) {
                Ok(r) => r,
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(sys(text(&path))(e)),
            };
            w.seen.insert(path.clone());
            let then = if fresh { None } else { w.manifest.get(&path) };
            let sub = || {
                rustix::fs::openat(
                    dir,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(sys(text(&path)))
            };
            match then {
                None => {
                    let t = text(&path);
                    let empty = if now.is_dir() {
                        entries(sub()?.as_fd())?.is_empty()
                    } else {
                        rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                            .is_ok_and(|st| st.st_size == 0)
                    };
                    if empty && SANDBOX_MOUNT_POINTS.contains(&t.as_str()) {
                        continue;
                    }
                    w.out.changes.push(('A', t));
                    listed = true;
                    if now.is_dir() {
                        walk(w, sub()?.as_fd(), &path, true)?;
                    }
                }
                Some(then) => {
                    let then = *then;
                    let mut changed = !then.unchanged(&now);
                    if now.is_dir() {
                        let same = then.same_dir(&now);
                        if same {
                            w.kept_dirs.insert(path.clone());
                        } else {
                            w.out.replaced.insert(text(&path));
                        }
                        changed |= walk(w, sub()?.as_fd(), &path, !same)?;
                    }
                    if changed {
                        w.out.changes.push(('C', text(&path)));
                        listed = true;
                    }
                }
            }
        }
        Ok(listed)
    }
    let root = rustix::fs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys(upper.display()))?;
    let mut w = Walk {
        manifest,
        seen: HashSet::new(),
        kept_dirs: HashSet::new(),
        out: CopyChanges::default(),
    };
    w.kept_dirs.insert(Vec::new());
    walk(&mut w, root.as_fd(), b"", false)?;
    // Deletions, and the directories that held them, changed by them.
    let mut listed: HashSet<String> = w.out.changes.iter().map(|c| c.1.clone()).collect();
    let mut gone: Vec<&[u8]> = manifest
        .paths()
        .filter(|p| !w.seen.contains(*p))
        .filter(|p| {
            let parent = p
                .iter()
                .rposition(|b| *b == b'/')
                .map_or(&p[..0], |i| &p[..i]);
            w.kept_dirs.contains(parent)
        })
        .collect();
    gone.sort();
    for p in gone {
        w.out.changes.push(('D', text(p)));
        let mut end = p.len();
        while let Some(i) = p[..end].iter().rposition(|b| *b == b'/') {
            let t = text(&p[..i]);
            if listed.insert(t.clone()) {
                w.out.changes.push(('C', t));
            }
            end = i;
        }
    }
    Ok(w.out)
}

/// Made by the sandbox to mount on, not by the container.
const SANDBOX_MOUNT_POINTS: &[&str] = &[
    "/dev",
    "/proc",
    "/sys",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
];

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}

/// fuse-overlayfs makes each new directory opaque with a file named as
/// OCI's opaque marker, `.wh..wh..opq`, and a whiteout of `.wh..opq`
/// beside it (which reads as that marker again): not the container's
/// files, the directory is listed itself.
fn is_fuse_opaque_marker(name: &std::ffi::OsStr) -> bool {
    name == ".wh..wh..opq" || name == ".wh..opq"
}

fn walk_upper(
    dir: &Path,
    rel: &Path,
    lower: &[PathBuf],
    out: &mut Vec<Change>,
) -> std::result::Result<(), FilesError> {
    let list = std::fs::read_dir(dir).map_err(host(dir))?;
    for e in list.flatten() {
        if is_fuse_opaque_marker(&e.file_name()) {
            continue;
        }
        let path = rel.join(e.file_name());
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        let inner = path.strip_prefix("/").unwrap_or(&path);
        let in_lower = lower
            .iter()
            .any(|l| l.join(inner).symlink_metadata().is_ok());
        let text = path.to_string_lossy().into_owned();
        if is_whiteout(&m) {
            out.push(('D', text));
            continue;
        }
        // The sandbox's own mount points, empty in the writable layer
        // (but for fuse-overlayfs's opaque markers).
        let empty = m.len() == 0
            || (m.is_dir()
                && std::fs::read_dir(e.path())
                    .is_ok_and(|d| d.flatten().all(|c| is_fuse_opaque_marker(&c.file_name()))));
        if !in_lower && empty && SANDBOX_MOUNT_POINTS.contains(&text.as_str()) {
            continue;
        }
        out.push((if in_lower { 'C' } else { 'A' }, text));
        if m.is_dir() {
            walk_upper(&e.path(), &path, lower, out)?;
        }
    }
    Ok(())
}

/// `export`: the container's whole filesystem as a tar file at `out`.
/// `export`: the container's filesystem as a tar, to `out` (atomically)
/// or, with `None`, to standard output.
pub fn export(ctx: &Context, input: &str, out: Option<&Path>) -> Result<()> {
    // Symbolic links and fifos of the image keep the owners its layers'
    // owners files list (squashed ids); files carry theirs in an xattr.
    let stack = layers(ctx, input).ok();
    let write = move |w: &mut dyn Write, root: &OwnedFd| -> std::result::Result<(), FilesError> {
        let owners = match &stack {
            Some((upper, lower, _)) => StackOwners::new(Some(upper), lower),
            None => StackOwners::new(None, &[]),
        };
        let mut tar = TarWriter::new(std::io::BufWriter::new(w));
        let dev = rustix::fs::fstat(root).map_err(sys("/"))?.st_dev;
        tar_tree(&mut tar, root.as_fd(), "", dev, &owners, &mut |_, _| None)?;
        let mut w = tar.finish().map_err(archive)?;
        w.flush().map_err(archive)
    };
    let Some(out) = out else {
        return with_root(ctx, input, false, move |root| {
            write(&mut std::io::stdout().lock(), root).map_err(|e| FilesError::Stdout(Box::new(e)))
        });
    };
    let out = out.to_path_buf();
    let tmp = out.with_extension("burrow-export.tmp");
    let t = tmp.clone();
    with_root(ctx, input, false, move |root| {
        let mut file = std::fs::File::create(&t).map_err(host(&t))?;
        write(&mut file, root)
    })?;
    std::fs::rename(&tmp, &out).map_err(|e| other(format!("{}: {e}", out.display())))
}

/// Replaces an entry of `tar_tree` by (path, is a directory) entries.
type EntryHook<'a> = dyn FnMut(&str, &rustix::fs::Stat) -> Option<Vec<(String, bool)>> + 'a;

/// Writes the tree under `dir` (named `prefix` in the archive) to `tar`;
/// `hook` may replace an entry (whiteouts for `commit`). Does not cross into
/// other mounts (/proc, /sys, /dev of a running container).
fn tar_tree<W: Write>(
    tar: &mut TarWriter<W>,
    dir: BorrowedFd,
    prefix: &str,
    dev: u64,
    owners: &StackOwners,
    hook: &mut EntryHook,
) -> std::result::Result<(), FilesError> {
    for (name, _) in entries(dir)? {
        let name_s = String::from_utf8_lossy(name.to_bytes()).into_owned();
        let path = if prefix.is_empty() {
            name_s.clone()
        } else {
            format!("{prefix}/{name_s}")
        };
        let st = rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW).map_err(sys(&path))?;
        let mtime = st.st_mtime.max(0) as u64;
        let mode = st.st_mode & 0o7777;
        let ft = FileType::from_raw_mode(st.st_mode);
        if let Some(replaced) = hook(&path, &st) {
            for (p, is_dir) in replaced {
                if is_dir {
                    dir_entry(tar, &p, &st, owner(dir, &name, &st, &path, owners))?;
                } else {
                    let e = NewEntry::new(p.as_bytes(), EntryKind::Regular, 0o644, mtime);
                    tar.append(&e, &mut std::io::empty()).map_err(archive)?;
                }
            }
            if ft != FileType::Directory {
                continue;
            }
        } else if ft == FileType::Directory {
            dir_entry(tar, &path, &st, owner(dir, &name, &st, &path, owners))?;
        }
        let mut e = NewEntry::new(path.as_bytes(), EntryKind::Regular, mode, mtime);
        let (uid, gid) = owner(dir, &name, &st, &path, owners);
        e.uid = uid;
        e.gid = gid;
        match ft {
            FileType::Directory => {
                if st.st_dev != dev {
                    continue;
                }
                let sub = rustix::fs::openat(
                    dir,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(sys(&path))?;
                tar_tree(tar, sub.as_fd(), &path, dev, owners, hook)?;
            }
            FileType::RegularFile => {
                let f = rustix::fs::openat(
                    dir,
                    &name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(sys(&path))?;
                e.size = st.st_size as u64;
                let mut r = std::fs::File::from(f).take(e.size);
                tar.append(&e, &mut r).map_err(archive)?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, &name, Vec::new()).map_err(sys(&path))?;
                e.kind = EntryKind::Symlink;
                e.mode = 0o777;
                e.link = target.to_bytes();
                tar.append(&e, &mut std::io::empty()).map_err(archive)?;
            }
            FileType::CharacterDevice | FileType::BlockDevice => {
                e.kind = if ft == FileType::CharacterDevice {
                    EntryKind::CharDevice
                } else {
                    EntryKind::BlockDevice
                };
                e.dev_major = rustix::fs::major(st.st_rdev);
                e.dev_minor = rustix::fs::minor(st.st_rdev);
                tar.append(&e, &mut std::io::empty()).map_err(archive)?;
            }
            FileType::Fifo => {
                e.kind = EntryKind::Fifo;
                tar.append(&e, &mut std::io::empty()).map_err(archive)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The owner a file is meant to have: the one recorded where the id map
/// could not give it (root emulation's chown, an image's owner squashed at
/// unpacking), else its own.
fn owner(
    dir: BorrowedFd,
    name: &std::ffi::CStr,
    st: &rustix::fs::Stat,
    path: &str,
    owners: &StackOwners,
) -> (u64, u64) {
    let ft = FileType::from_raw_mode(st.st_mode);
    let listed = if ft == FileType::Directory || ft == FileType::RegularFile {
        None
    } else {
        owners.listed(path)
    };
    let (uid, gid) = crate::owners::meant_owner(dir, name, st, listed);
    (uid as u64, gid as u64)
}

fn dir_entry<W: Write>(
    tar: &mut TarWriter<W>,
    path: &str,
    st: &rustix::fs::Stat,
    (uid, gid): (u64, u64),
) -> std::result::Result<(), FilesError> {
    let mut e = NewEntry::new(
        path.as_bytes(),
        EntryKind::Directory,
        st.st_mode & 0o7777,
        st.st_mtime.max(0) as u64,
    );
    e.uid = uid;
    e.gid = gid;
    tar.append(&e, &mut std::io::empty()).map_err(archive)
}

/// `commit`: the writable layer as a new image layer on top of the
/// container's image; returns the new image's id. `change` edits the new
/// config (the `--change` instructions) before anything is stored, so a
/// change that fails stores nothing.
/// `commit -m` and `-a`: the new step's comment and the image's author.
#[derive(Debug, Clone, Default)]
pub struct CommitNote {
    pub message: Option<String>,
    pub author: Option<String>,
}

pub fn commit(
    ctx: &Context,
    input: &str,
    name: Option<&str>,
    note: CommitNote,
    change: impl FnOnce(&mut serde_json::Value) -> Result<()>,
) -> Result<String> {
    let (upper, _, work) = layers(ctx, input)?;
    let store = ctx.store()?;
    let c = Containers::open(store.root())?;
    let (r, _) = c.find(input)?;
    let reference = name
        .map(|n| Reference::parse_in(n, "localhost"))
        .transpose()
        .map_err(|e| Error::Usage(format!("invalid image name: {e}")))?;
    let parent = r.image_id.clone();
    let created_by = format!("burrow commit {}", r.name);
    ctx.in_userns(move |store| {
        // Also keeps a garbage collection from removing the parent's layers
        // meanwhile, and cleans what killed commits left.
        let _lock = store.lock_shared().map_err(|e| Error::Image(e.into()))?;
        let (_, raw) = store.config(&parent).map_err(|e| Error::Image(e.into()))?;
        let mut config: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| other(e.to_string()))?;
        change(&mut config)?;
        // Symbolic links and fifos the container chowned keep the owners
        // it recorded in the writable layer's owners file.
        let owners = StackOwners::new(Some(&upper), &[]);
        let added = match copy_manifest(&work).map_err(ContainerError::from)? {
            Some(manifest) => layer_from_copy(store, &upper, &manifest, &owners)?,
            // The container may run on (or again): its files are copied.
            None => layer_from_upper(store, &upper, &[], &owners, Upper::Kept)?,
        };
        let now = crate::time::rfc3339(crate::image::store::now());
        config["created"] = now.clone().into();
        if let Some(ids) = config["rootfs"]["diff_ids"].as_array_mut() {
            ids.push(added.diff_id.to_string().into());
        }
        let mut entry = serde_json::json!({"created": now, "created_by": created_by});
        if let Some(m) = note.message {
            entry["comment"] = m.into();
        }
        if let Some(a) = note.author {
            entry["author"] = a.clone().into();
            config["author"] = a.into();
        }
        match config["history"].as_array_mut() {
            Some(h) => h.push(entry),
            None => config["history"] = serde_json::json!([entry]),
        }
        let bytes = serde_json::to_vec(&config).map_err(|e| other(e.to_string()))?;
        let names: Vec<Reference> = reference.into_iter().collect();
        let rec = store
            .commit_image(&bytes, None, &names)
            .map_err(|e| Error::Image(e.into()))?;
        Ok(rec.id.to_string())
    })
}

/// What becomes of the directory a layer is made from, once it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upper {
    /// It stays in use (a container that may run again, or runs): the
    /// layer gets copies of its files.
    Kept,
    /// Nothing writes to it any more and it is removed next (a build
    /// step's exited container): the layer takes its unchanged regular
    /// files as hard links instead of copies, so their bytes are written
    /// (and synced) once, not three times.
    Discarded,
}

/// A container's writable layer (an overlay upper dir) as a new layer in
/// the store, overlay's whiteouts turned into OCI ones. With `lower` (the
/// container's image layers), the empty mount points the sandbox made for
/// /proc, /dev, /etc/hosts and the like are left out, as `diff` leaves them
/// out. `owners` lists the owners of symbolic links and fifos that cannot
/// carry the override xattr (the writable layer's records when it is
/// `upper`'s; the unpacked layers' for a squash). The tar stream goes
/// straight to the unpacker, on a thread of this process: run it in one
/// that forks no more, inside burrow's user namespace.
pub fn layer_from_upper(
    store: &crate::image::Store,
    upper: &Path,
    lower: &[PathBuf],
    owners: &StackOwners,
    after: Upper,
) -> Result<crate::image::store::AddedLayer> {
    // Overlay's whiteouts back to OCI form: a 0:0 device is `.wh.NAME`,
    // an opaque directory gets `.wh..wh..opq` inside.
    let upper_dir = upper.to_path_buf();
    let mut hook = |path: &str, st: &rustix::fs::Stat| -> Option<Vec<(String, bool)>> {
        let ft = FileType::from_raw_mode(st.st_mode);
        if !lower.is_empty() && SANDBOX_MOUNT_POINTS.contains(&format!("/{path}").as_str()) {
            let in_lower = lower
                .iter()
                .any(|l| l.join(path).symlink_metadata().is_ok());
            let empty = (ft == FileType::RegularFile && st.st_size == 0)
                || (ft == FileType::Directory
                    && std::fs::read_dir(upper_dir.join(path))
                        .is_ok_and(|mut d| d.next().is_none()));
            if !in_lower && empty {
                return Some(vec![]);
            }
        }
        if ft == FileType::CharacterDevice && st.st_rdev == 0 {
            let p = Path::new(path);
            let wh = format!(".wh.{}", p.file_name()?.to_string_lossy());
            let full = match p.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(parent) => format!("{}/{wh}", parent.display()),
                None => wh,
            };
            return Some(vec![(full, false)]);
        }
        if ft == FileType::Directory {
            let mut buf = [0u8; 8];
            let opaque =
                rustix::fs::lgetxattr(upper_dir.join(path), "user.overlay.opaque", &mut buf)
                    .is_ok_and(|n| &buf[..n] == b"y");
            if opaque {
                return Some(vec![
                    (path.to_string(), true),
                    (format!("{path}/.wh..wh..opq"), false),
                ]);
            }
        }
        None
    };
    let link_from =
        (after == Upper::Discarded).then_some(crate::image::unpack::LinkFrom::Discarded(upper));
    write_layer(store, upper, &[], owners, &mut hook, link_from)
}

/// A container's changes to its private copy of the layers (the copy
/// driver) as a new layer in the store: what `diff` lists against the
/// copy's manifest, deletions as OCI whiteouts, directories made anew as
/// opaque ones. Must run inside burrow's user namespace.
fn layer_from_copy(
    store: &crate::image::Store,
    upper: &Path,
    manifest: &CopyManifest,
    owners: &StackOwners,
) -> Result<crate::image::store::AddedLayer> {
    use std::collections::{HashMap, HashSet};
    let found = copy_changes(upper, manifest).map_err(ContainerError::from)?;
    let mut listed = HashSet::new();
    // Whiteouts by the directory that holds them ("" for the root).
    let mut gone: HashMap<String, Vec<String>> = HashMap::new();
    for (kind, path) in &found.changes {
        let path = path.trim_start_matches('/');
        if *kind != 'D' {
            listed.insert(path.to_string());
            continue;
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        gone.entry(dir.to_string())
            .or_default()
            .push(format!(".wh.{name}"));
    }
    let in_dir = |dir: &str, name: &str| {
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    };
    let root_whiteouts = gone.remove("").unwrap_or_default();
    let mut hook = |path: &str, st: &rustix::fs::Stat| -> Option<Vec<(String, bool)>> {
        if !listed.contains(path) {
            return Some(vec![]);
        }
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return None;
        }
        let mut entries = vec![(path.to_string(), true)];
        if found.replaced.contains(&format!("/{path}")) {
            entries.push((in_dir(path, ".wh..wh..opq"), false));
        }
        for wh in gone.get(path).into_iter().flatten() {
            entries.push((in_dir(path, wh), false));
        }
        Some(entries)
    };
    write_layer(store, upper, &root_whiteouts, owners, &mut hook, None)
}

/// The tree at `upper` as a layer in the store, through `hook` (see
/// `tar_tree`), after the empty files `first` (the root's whiteouts).
/// The tar stream goes straight to the unpacker, on a thread of this
/// process: run it in one that forks no more. `link_from`: where the
/// unpacker may take unchanged files from instead of writing them.
fn write_layer(
    store: &crate::image::Store,
    upper: &Path,
    first: &[String],
    owners: &StackOwners,
    hook: &mut EntryHook,
    link_from: Option<crate::image::unpack::LinkFrom>,
) -> Result<crate::image::store::AddedLayer> {
    let dirfd = rustix::fs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| other(format!("{}: {e}", upper.display())))?;
    let st = rustix::fs::fstat(&dirfd).map_err(|e| other(e.to_string()))?;
    let (out, mut reader) = crate::image::chunks::channel();
    // Set by the unpacker before it lets go of its end: a writer that
    // then fails on the closed stream was stopped by the unpacker's error.
    let unpacker_failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let unpacker = scope.spawn(|| {
            let added =
                store.add_layer_linking(&mut reader, None, None, "container changes", link_from);
            unpacker_failed.store(added.is_err(), std::sync::atomic::Ordering::SeqCst);
            drop(reader);
            added
        });
        let failed = || unpacker_failed.load(std::sync::atomic::Ordering::SeqCst);
        let mut tar = TarWriter::new(out);
        let walked = (first.iter())
            .try_for_each(|name| {
                let e = NewEntry::new(
                    name.as_bytes(),
                    EntryKind::Regular,
                    0o644,
                    st.st_mtime.max(0) as u64,
                );
                tar.append(&e, &mut std::io::empty()).map_err(archive)
            })
            .and_then(|()| tar_tree(&mut tar, dirfd.as_fd(), "", st.st_dev, owners, hook));
        // Dropped unended on an error: the unpacker then fails too.
        let (written, stopped) = match walked {
            Ok(()) => {
                let done = (tar.finish().map_err(archive)).and_then(|w| w.end().map_err(archive));
                (done, failed())
            }
            Err(e) => {
                let stopped = failed();
                drop(tar);
                (Err(e), stopped)
            }
        };
        let added = unpacker
            .join()
            .map_err(|_| other("unpacking the layer panicked".into()))?;
        match written {
            Err(e) if !stopped => Err(ContainerError::from(e).into()),
            _ => added.map_err(|e| Error::Image(e.into())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ends_parse_as_docker_does() {
        assert_eq!(
            CopyEnd::parse("web:/etc/hosts"),
            CopyEnd::Container {
                name: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(CopyEnd::parse("./a:b"), CopyEnd::Host("./a:b".into()));
        assert_eq!(CopyEnd::parse("/x:y"), CopyEnd::Host("/x:y".into()));
        assert_eq!(CopyEnd::parse("plain"), CopyEnd::Host("plain".into()));
    }
}
