//! The image store under the storage root: content-addressed blobs
//! (configs, manifests), unpacked layers shared by every image that has
//! them, image records and tags. Every write is atomic (temp name in `tmp/`,
//! fsync, rename); concurrent commands are serialised with flock; whatever a
//! killed command left in `tmp/` is removed by the next one that can.
//!
//! Layer directories hold files owned by subordinate ids: the functions that
//! create or delete them must run inside burrow's user namespace.
//!
//! A layer has one unpacked tree made under burrow's id map (`layers/`),
//! and, once a container with the single-id map of a user who has
//! subordinate ids needs it (`--userns emulate`), a second in the
//! single-id form (`single-id-layers/`): every file yours, other owners
//! recorded. The second lives and dies with the first.

use super::config::ImageConfig;
use super::digest::{Digest, HashingReader};
use super::reference::Reference;
use super::unpack::{self, OwnersUnder, UnpackError};
use crate::lockfile::{self, FileLock, LockKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Lock(#[from] lockfile::LockError),
    #[error("corrupt store file {path}: {detail}; remove it, or run `burrow system reset` to start afresh")]
    Corrupt { path: PathBuf, detail: String },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("reading layer {layer}: {source}")]
    Read { layer: String, source: io::Error },
    #[error("unpacking layer {layer}: {source}")]
    Unpack { layer: String, source: UnpackError },
    #[error("No such image: {0}; `burrow images` lists the images here, `burrow pull` or `burrow load` adds one")]
    NoSuchImage(String),
    #[error("{input:?} matches more than one image ({ids}); give more of the id")]
    Ambiguous { input: String, ids: String },
    #[error("image {id} has several names ({names}); remove them one by one, or use -f")]
    MultipleNames { id: String, names: String },
    #[error("blob {0} is not in the store")]
    NoSuchBlob(Digest),
    #[error("layer {0} is not in the store")]
    NoSuchLayer(Digest),
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { what, path, source }
}

/// One image: its config's digest is its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: Digest,
    /// Diff ids (digests of the uncompressed layer tars), base first.
    pub layers: Vec<Digest>,
    /// The registry manifest's digest, when the image came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_digests: Vec<String>,
    /// Bytes of the uncompressed layers.
    pub size: u64,
    /// When it entered this store, seconds since the epoch.
    pub added: u64,
    /// A build step's image, kept for the build cache: not listed by
    /// `images`, removed by `image prune` like any image without a name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub intermediate: bool,
}

/// `Store::visible_layers` from the layers' records, already read
/// (`Store::layer_records`).
pub fn visible_of<'a>(layers: &'a [Digest], records: &[Option<LayerRecord>]) -> &'a [Digest] {
    let from = records
        .iter()
        .rposition(|r| r.as_ref().is_some_and(|r| r.opaque_root))
        .unwrap_or(0);
    &layers[from.min(layers.len())..]
}

/// What the store records of a layer beside its unpacked files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerRecord {
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar.
    pub size: u64,
    /// An opaque whiteout at the layer's root hides every layer below it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opaque_root: bool,
    /// The id map its files were unpacked under (None: a layer unpacked
    /// before burrow recorded it). Its files' owners on disk mean the
    /// image's owners only through this map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpacked_under: Option<UnpackMap>,
    /// A single-id form's: the bytes of its regular files written rather
    /// than linked from the layer's own tree (what it adds to the disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<u64>,
}

/// Which unpacked tree of a layer a container's overlay stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerForm {
    /// The tree unpacked under burrow's id map (`layers/`).
    OwnMap,
    /// The single-id form (`single-id-layers/`, made by
    /// [`Store::add_single_id_layer`]): every file root's (yours), the
    /// image's other owners recorded as without subordinate ids.
    SingleId,
}

/// The uid and gid maps of a user namespace as its `/proc/PID/uid_map` and
/// `gid_map` show them: (inside, outside, count) lines, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpackMap {
    pub uids: Vec<[u32; 3]>,
    pub gids: Vec<[u32; 3]>,
}

impl UnpackMap {
    pub fn new(mut uids: Vec<[u32; 3]>, mut gids: Vec<[u32; 3]>) -> UnpackMap {
        uids.sort_unstable();
        gids.sort_unstable();
        UnpackMap { uids, gids }
    }

    /// The maps this process runs under (inside burrow's user namespace:
    /// the map the layer's owners go through).
    pub fn of_this_process() -> io::Result<UnpackMap> {
        let read = |file: &str| -> io::Result<Vec<[u32; 3]>> {
            let text = fs::read_to_string(format!("/proc/self/{file}"))?;
            text.lines()
                .map(|l| {
                    let n: Vec<u32> = l
                        .split_whitespace()
                        .filter_map(|w| w.parse().ok())
                        .collect();
                    match n[..] {
                        [a, b, c] => Ok([a, b, c]),
                        _ => Err(io::Error::other(format!("/proc/self/{file}: {l:?}"))),
                    }
                })
                .collect()
        };
        Ok(UnpackMap::new(read("uid_map")?, read("gid_map")?))
    }

    /// The single-id map of the same user: root alone, as this map's
    /// root.
    pub fn root_alone(&self) -> UnpackMap {
        let root = |lines: &[[u32; 3]]| -> Vec<[u32; 3]> {
            (lines.iter())
                .filter(|l| l[0] == 0)
                .map(|l| [0, l[1], 1])
                .collect()
        };
        UnpackMap::new(root(&self.uids), root(&self.gids))
    }

    /// The single-id map: one id, you, as root.
    pub fn is_single(&self) -> bool {
        self.uids.len() == 1 && self.uids[0][0] == 0 && self.uids[0][2] == 1
    }
}

impl std::fmt::Display for UnpackMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_single() {
            return write!(f, "the single-id map (you as root, no other ids)");
        }
        let ranges: Vec<String> = (self.uids.iter())
            .filter(|r| r[0] != 0)
            .map(|r| format!("{}-{}", r[1], u64::from(r[1]) + u64::from(r[2]) - 1))
            .collect();
        write!(f, "subordinate uids {}", ranges.join(","))
    }
}

/// An image with the names that point at it.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    pub record: ImageRecord,
    pub names: Vec<String>,
}

/// The outcome of `Store::add_layer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddedLayer {
    pub diff_id: Digest,
    pub size: u64,
    /// False when the layer was already in the store.
    pub unpacked: bool,
    pub notes: Vec<String>,
    pub squashed: u64,
    /// Regular files linked from the earlier layer given to
    /// [`Store::add_layer_sharing`], and files written.
    pub shared: u64,
    pub written: u64,
}

pub struct Store {
    root: PathBuf,
}

/// A held flock; released on drop.
pub struct StoreLock {
    _lock: FileLock,
}

const SPLIT_FILE: &str = "tar-split.zst";
/// The directory of the layers' single-id forms.
const SINGLE_ID_LAYERS: &str = "single-id-layers";
const LAYER_FILE: &str = "layer.json";
const TAGS_FILE: &str = "tags.json";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        b = (now() ^ u64::from(std::process::id()) << 32).to_le_bytes();
    }
    hex::encode(b)
}

fn mkdir_private(path: &Path) -> Result<()> {
    make_private_dir(path).map_err(io_err("creating", path))
}

/// Makes a directory (mode 0700) and its missing parents; one that exists
/// is left as it is. Every command opens the store: a recursive create
/// costs a mkdir and then a stat of a directory that exists, where one
/// mkdir answering EEXIST says as much (something that is not a directory
/// there fails the first use of it instead, naming the path).
pub fn make_private_dir(path: &Path) -> std::io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(_) => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path),
    }
}

fn fsync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", path))
}

impl Store {
    /// Opens (creating if needed) the store at `root`. The root is private
    /// (0700): layers may hold setuid files owned by your ids.
    pub fn open(root: &Path) -> Result<Store> {
        for sub in ["", "blobs/sha256", "layers", "images", "tmp", "locks"] {
            mkdir_private(&root.join(sub))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock_file(&self, name: &str, kind: LockKind) -> Result<StoreLock> {
        let path = self.root.join("locks").join(name);
        Ok(StoreLock {
            _lock: lockfile::lock_file(&path, kind)?,
        })
    }

    /// Held by every command that adds to the store while it works: a
    /// garbage collection (exclusive) never removes what a load is about to
    /// reference. Removes what killed commands left in `tmp/` (inside the
    /// user namespace; outside it, what this user can).
    pub fn lock_shared(&self) -> Result<StoreLock> {
        let lock = self.lock_file("store.lock", LockKind::Shared)?;
        self.clean_stale_temps();
        Ok(lock)
    }

    /// `lock_shared` for a command outside burrow's user namespace, which
    /// cleans nothing (leftovers hold files of mapped ids): `run` holds it
    /// from finding its image until its container is recorded, so that an
    /// `rmi` never removes an image a container is being made from.
    pub fn hold_shared(&self) -> Result<StoreLock> {
        self.lock_file("store.lock", LockKind::Shared)
    }

    /// Held by commands that remove layers; cleans `tmp/` as
    /// `lock_shared` does.
    pub fn lock_exclusive(&self) -> Result<StoreLock> {
        let lock = self.lock_file("store.lock", LockKind::Exclusive)?;
        self.clean_stale_temps();
        Ok(lock)
    }

    /// `clean_tmp` whose failure does not fail the command that asked: a
    /// leftover that cannot be removed now is tried again by the next one.
    fn clean_stale_temps(&self) {
        if let Err(e) = self.clean_tmp() {
            eprintln!("Warning: cleaning what killed commands left in the store: {e}");
        }
    }

    fn try_lock_exclusive(&self) -> Result<Option<StoreLock>> {
        let path = self.root.join("locks").join("store.lock");
        Ok(lockfile::try_lock_file(&path, LockKind::Exclusive)?.map(|l| StoreLock { _lock: l }))
    }

    /// Serialises read-modify-write of the tag table and image records.
    fn lock_meta(&self) -> Result<StoreLock> {
        self.lock_file("meta.lock", LockKind::Exclusive)
    }

    /// A new private directory under `tmp/`, flocked while this process
    /// lives: a killed command's leftovers are recognisable by their lock
    /// being free.
    pub fn temp_dir(&self, kind: &str) -> Result<TempDir> {
        let (path, lock) = self.claim_temp(kind, |path| {
            fs::DirBuilder::new().mode(0o700).create(path)?;
            File::open(path)
        })?;
        Ok(TempDir {
            path: Some(path),
            _lock: lock,
        })
    }

    /// Makes a new entry of `tmp/` with `make` and flocks it. Another
    /// command's cleaning may take a just-made entry for a leftover (its
    /// lock is free until taken here) and remove it: then another name is
    /// tried.
    fn claim_temp(
        &self,
        kind: &str,
        make: impl Fn(&Path) -> io::Result<File>,
    ) -> Result<(PathBuf, FileLock)> {
        use std::os::unix::fs::MetadataExt;
        let mut tries = 0;
        loop {
            tries += 1;
            let path = self
                .root
                .join("tmp")
                .join(format!("{kind}-{}", random_suffix()));
            let file = match make(&path) {
                Ok(f) => f,
                Err(e) if tries < 8 && e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("creating", &path)(e)),
            };
            let lock = match lockfile::try_lock_open(file, &path, LockKind::Exclusive)? {
                Some(lock) => lock,
                None if tries < 8 => continue,
                None => {
                    return Err(StoreError::Io {
                        what: "locking",
                        path,
                        source: io::ErrorKind::WouldBlock.into(),
                    })
                }
            };
            let ours = match (lock.file().metadata(), fs::symlink_metadata(&path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if ours {
                return Ok((path, lock));
            }
            if tries >= 8 {
                return Err(StoreError::Io {
                    what: "creating",
                    path,
                    source: io::Error::other("removed by another command as soon as made"),
                });
            }
        }
    }

    /// Writes `data` to `path` atomically: a temp file in `tmp/`, fsync,
    /// rename, fsync of the directory.
    pub fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        let (tmp, lock) = self.claim_temp("file", |p| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(p)
        })?;
        let mut f = lock.file();
        let written = f.write_all(data).and_then(|_| f.sync_all());
        if let Err(e) = written.and_then(|_| fs::rename(&tmp, path)) {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::Io {
                what: "writing",
                path: path.to_path_buf(),
                source: e,
            });
        }
        fsync_dir(path.parent().unwrap_or(&self.root))
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn put_blob(&self, data: &[u8]) -> Result<Digest> {
        let d = Digest::of_bytes(data);
        let path = self.blob_path(&d);
        if !path.exists() {
            self.write_atomic(&path, data)?;
        }
        Ok(d)
    }

    /// Reads a blob and checks it still has its digest.
    pub fn blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        let data = match fs::read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchBlob(d.clone()))
            }
            Err(e) => {
                return Err(StoreError::Io {
                    what: "reading",
                    path,
                    source: e,
                })
            }
        };
        let actual = Digest::of_bytes(&data);
        if &actual != d {
            return Err(StoreError::DigestMismatch {
                what: path.display().to_string(),
                expected: d.clone(),
                actual,
            });
        }
        Ok(data)
    }

    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    /// The unpacked files of a layer, for an overlay's lowerdir.
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layer_path(diff_id).join("diff")
    }

    /// The directories of an image's layers that make its root filesystem,
    /// base first (see `visible_layers`).
    pub fn image_layer_dirs(&self, layers: &[Digest]) -> Vec<PathBuf> {
        self.image_layer_dirs_in(layers, LayerForm::OwnMap)
    }

    /// `image_layer_dirs` of one form of the layers.
    pub fn image_layer_dirs_in(&self, layers: &[Digest], form: LayerForm) -> Vec<PathBuf> {
        self.layer_dirs_of(self.visible_layers(layers), form)
    }

    /// The directories of `layers` (already the visible ones) in `form`.
    pub fn layer_dirs_of(&self, layers: &[Digest], form: LayerForm) -> Vec<PathBuf> {
        (layers.iter())
            .map(|l| match form {
                LayerForm::OwnMap => self.layer_dir(l),
                LayerForm::SingleId => self.single_id_layer_dir(l),
            })
            .collect()
    }

    /// The layers of an image that make its root filesystem, base first: a
    /// layer with an opaque whiteout at its root hides the ones below
    /// (overlayfs would merge them: a root is never opaque to it).
    pub fn visible_layers<'a>(&self, layers: &'a [Digest]) -> &'a [Digest] {
        visible_of(layers, &self.layer_records(layers))
    }

    /// The records of `layers`, in their order (`None` for one that does
    /// not read): read once for everything a caller asks of them.
    pub fn layer_records(&self, layers: &[Digest]) -> Vec<Option<LayerRecord>> {
        layers.iter().map(|l| self.layer_record(l).ok()).collect()
    }

    /// Where a layer's single-id form is (see [`LayerForm::SingleId`]).
    pub fn single_id_layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join(SINGLE_ID_LAYERS).join(diff_id.hex())
    }

    /// The files of a layer's single-id form, for an overlay's lowerdir.
    pub fn single_id_layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.single_id_layer_path(diff_id).join("diff")
    }

    /// Complete when its directory exists: it is renamed into place whole.
    pub fn has_single_id_layer(&self, diff_id: &Digest) -> bool {
        self.single_id_layer_path(diff_id).join(LAYER_FILE).exists()
    }

    /// What `system df` counts of a layer: its tar's bytes, and those its
    /// single-id form (if made) writes of its own. 0 for a layer not here.
    pub fn counted_bytes(&self, diff_id: &Digest) -> u64 {
        let own = self.layer_record(diff_id).map_or(0, |r| r.size);
        let single = (self.single_id_layer_record(diff_id).ok())
            .and_then(|r| r.bytes_written)
            .unwrap_or(0);
        own + single
    }

    pub fn single_id_layer_record(&self, diff_id: &Digest) -> Result<LayerRecord> {
        read_record(&self.single_id_layer_path(diff_id).join(LAYER_FILE), || {
            StoreError::NoSuchLayer(diff_id.clone())
        })
    }

    /// Makes the single-id form of the layer `diff_id` unless the store
    /// has it: the layer's tar, rebuilt from its own tree and split record
    /// (and checked against its diff id as it is read), unpacked again
    /// with root alone mapped (`OwnersUnder::RootAlone`), as a user without
    /// subordinate ids unpacks it. Root's regular files are linked from
    /// the layer's own tree, not written again (layers are never written
    /// once unpacked). Made in `tmp/` and renamed into place whole; returns
    /// whether it was made here. Must run inside burrow's user namespace,
    /// under `lock_shared` (no collection removes the layer meanwhile).
    pub fn add_single_id_layer(&self, diff_id: &Digest) -> Result<bool> {
        if self.has_single_id_layer(diff_id) {
            return Ok(false);
        }
        if !self.has_layer(diff_id) {
            return Err(StoreError::NoSuchLayer(diff_id.clone()));
        }
        let own = self.layer_dir(diff_id);
        let label = format!("{diff_id} (its single-id form)");
        let (reader, writer) = io::pipe().map_err(io_err("making a pipe to rebuild", &own))?;
        let (unpacked, rebuilt) = std::thread::scope(|s| {
            let own = &own;
            let rebuilder = s.spawn(move || -> Result<()> {
                let mut split = self.layer_split(diff_id)?;
                let mut out = io::BufWriter::with_capacity(1 << 20, writer);
                unpack::repack_layer(own, &mut split, &mut out).map_err(|source| {
                    StoreError::Unpack {
                        layer: diff_id.to_string(),
                        source,
                    }
                })?;
                out.flush().map_err(io_err("rebuilding the tar of", own))
            });
            let mut reader = reader;
            let unpacked = self.unpack_to_temp(
                &mut reader,
                Some(diff_id),
                None,
                &label,
                Some(unpack::LinkFrom::Layer(own)),
                OwnersUnder::RootAlone,
            );
            // Read to the end whatever is left: the rebuilder never
            // writes into a closed pipe.
            let _ = io::copy(&mut reader, &mut io::sink());
            drop(reader);
            let rebuilt = rebuilder.join().unwrap_or_else(|_| {
                Err(io_err("rebuilding the tar of", own)(io::Error::other(
                    "the rebuilding thread panicked",
                )))
            });
            (unpacked, rebuilt)
        });
        // A failed rebuild explains a cut stream better than the unpacker.
        rebuilt?;
        let (tmp, _) = unpacked?;
        let dir = self.root.join(SINGLE_ID_LAYERS);
        mkdir_private(&dir)?;
        let final_path = self.single_id_layer_path(diff_id);
        let _layer_lock = self.lock_file(
            &format!("layer-{}.lock", diff_id.hex()),
            LockKind::Exclusive,
        )?;
        if self.has_single_id_layer(diff_id) {
            return Ok(false); // made by another command meanwhile
        }
        let src = tmp.persist();
        fs::rename(&src, &final_path).map_err(io_err("renaming into place", &final_path))?;
        fsync_dir(&dir)?;
        Ok(true)
    }

    /// A layer is complete when its directory exists: it is renamed into
    /// place whole.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_path(diff_id).join(LAYER_FILE).exists()
    }

    pub fn layer_record(&self, diff_id: &Digest) -> Result<LayerRecord> {
        read_record(&self.layer_path(diff_id).join(LAYER_FILE), || {
            StoreError::NoSuchLayer(diff_id.clone())
        })
    }

    /// The split record from which the layer's original tar is rebuilt.
    pub fn layer_split(&self, diff_id: &Digest) -> Result<impl Read> {
        let path = self.layer_path(diff_id).join(SPLIT_FILE);
        // Already compressed by the unpacker.
        File::open(&path).map_err(io_err("opening", &path))
    }

    /// Unpacks one layer from `raw` (gzip, zstd or plain) unless the store
    /// has it. `expected` is the diff id the image config names, checked
    /// after unpacking; `blob` is the digest of the raw stream, when known.
    /// Must run inside burrow's user namespace.
    pub fn add_layer(
        &self,
        raw: &mut dyn Read,
        expected: Option<&Digest>,
        blob: Option<&Digest>,
        label: &str,
    ) -> Result<AddedLayer> {
        self.add_layer_sharing(raw, expected, blob, label, None)
    }

    /// [`Store::add_layer`], with the unchanged regular files of the
    /// layer `earlier` (when the store has it) hard-linked into the new
    /// one instead of written: a build step made again after a small
    /// change writes only what changed. Layers are never written once
    /// unpacked, so the two share those inodes safely. The caller holds
    /// the store's lock (no collection removes `earlier` meanwhile).
    pub fn add_layer_sharing(
        &self,
        raw: &mut dyn Read,
        expected: Option<&Digest>,
        blob: Option<&Digest>,
        label: &str,
        earlier: Option<&Digest>,
    ) -> Result<AddedLayer> {
        let earlier = earlier
            .filter(|d| self.has_layer(d))
            .map(|d| self.layer_dir(d));
        let from = earlier.as_deref().map(unpack::LinkFrom::Layer);
        self.add_layer_linking(raw, expected, blob, label, from)
    }

    /// [`Store::add_layer`], with the regular files of the directory
    /// `from` that the stream holds unchanged hard-linked into the new
    /// layer instead of written (see [`unpack::LinkFrom`]: an unpacked
    /// layer, or a build step's writable layer that is removed next).
    pub fn add_layer_linking(
        &self,
        raw: &mut dyn Read,
        expected: Option<&Digest>,
        blob: Option<&Digest>,
        label: &str,
        from: Option<unpack::LinkFrom>,
    ) -> Result<AddedLayer> {
        if let Some(d) = expected {
            if self.has_layer(d) {
                let record = self.layer_record(d)?;
                return Ok(AddedLayer {
                    diff_id: d.clone(),
                    size: record.size,
                    unpacked: false,
                    notes: vec![],
                    squashed: 0,
                    shared: 0,
                    written: 0,
                });
            }
        }
        let (tmp, report) =
            self.unpack_to_temp(raw, expected, blob, label, from, OwnersUnder::ThisNamespace)?;
        let final_path = self.layer_path(&report.diff_id);
        let _layer_lock = self.lock_file(
            &format!("layer-{}.lock", report.diff_id.hex()),
            LockKind::Exclusive,
        )?;
        let unpacked = if self.has_layer(&report.diff_id) {
            false // someone else unpacked it meanwhile; ours is dropped
        } else {
            let src = tmp.persist();
            fs::rename(&src, &final_path).map_err(io_err("renaming into place", &final_path))?;
            fsync_dir(&self.root.join("layers"))?;
            true
        };
        Ok(AddedLayer {
            diff_id: report.diff_id,
            size: report.size,
            unpacked,
            notes: report.notes,
            squashed: report.squashed,
            shared: report.shared,
            written: report.written,
        })
    }

    /// Unpacks `raw` into a new directory of `tmp/` with its split record
    /// and `layer.json`, synced, checked against `expected` and `blob`.
    /// `under`: through which ids its owners are given (a single-id form
    /// keeps no split record: the layer's own rebuilds its tar).
    fn unpack_to_temp(
        &self,
        raw: &mut dyn Read,
        expected: Option<&Digest>,
        blob: Option<&Digest>,
        label: &str,
        earlier: Option<unpack::LinkFrom>,
        under: OwnersUnder,
    ) -> Result<(TempDir, unpack::UnpackReport)> {
        let tmp = self.temp_dir("layer")?;
        let diff = tmp.path().join("diff");
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&diff)
            .map_err(io_err("creating", &diff))?;
        let split_path = tmp.path().join(SPLIT_FILE);
        // The unpacker compresses the record itself.
        let mut split = match under {
            OwnersUnder::ThisNamespace => Some(io::BufWriter::new(
                File::create(&split_path).map_err(io_err("creating", &split_path))?,
            )),
            OwnersUnder::RootAlone => None,
        };

        let mut unpack_from = |input: &mut dyn Read| -> Result<unpack::UnpackReport> {
            let (_, mut tar) =
                super::compress::decompressed(input).map_err(|source| StoreError::Read {
                    layer: label.to_string(),
                    source,
                })?;
            let mut sink = io::sink();
            let split: &mut dyn Write = match split.as_mut() {
                Some(w) => w,
                None => &mut sink,
            };
            unpack::unpack_layer_sharing(&mut tar, &diff, split, earlier, under).map_err(|source| {
                StoreError::Unpack {
                    layer: label.to_string(),
                    source,
                }
            })
        };
        // The stream is hashed as it comes only when a blob digest is to
        // be checked: the unpacker hashes the uncompressed tar anyway, and
        // a layer a build writes is 200 MB read once, not twice.
        let (report, blob_actual) = if blob.is_some() {
            let mut hashed = HashingReader::new(raw);
            let report = unpack_from(&mut hashed)?;
            let (d, _) = hashed
                .finish()
                .map_err(io_err("reading", Path::new(label)))?;
            (report, Some(d))
        } else {
            let report = unpack_from(&mut *raw)?;
            io::copy(raw, &mut io::sink()).map_err(io_err("reading", Path::new(label)))?;
            (report, None)
        };
        if let (Some(b), Some(blob_actual)) = (blob, blob_actual) {
            if &blob_actual != b {
                return Err(StoreError::DigestMismatch {
                    what: format!("layer blob {label}"),
                    expected: b.clone(),
                    actual: blob_actual,
                });
            }
        }
        if let Some(d) = expected {
            if &report.diff_id != d {
                return Err(StoreError::DigestMismatch {
                    what: format!("uncompressed layer {label}"),
                    expected: d.clone(),
                    actual: report.diff_id.clone(),
                });
            }
        }
        if let Some(split) = split {
            split
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .map_err(io_err("writing", &split_path))?;
        }
        let this_map = UnpackMap::of_this_process().ok();
        let record = match under {
            OwnersUnder::ThisNamespace => LayerRecord {
                diff_id: report.diff_id.clone(),
                size: report.size,
                opaque_root: report.opaque_root,
                unpacked_under: this_map,
                bytes_written: None,
            },
            OwnersUnder::RootAlone => LayerRecord {
                diff_id: report.diff_id.clone(),
                size: report.size,
                opaque_root: report.opaque_root,
                unpacked_under: this_map.map(|m| m.root_alone()),
                bytes_written: Some(report.written_bytes),
            },
        };
        report
            .owners
            .write_into(tmp.path())
            .map_err(io_err("writing the owners file in", tmp.path()))?;
        let record_path = tmp.path().join(LAYER_FILE);
        let json = serde_json::to_vec(&record).expect("layer record serialises");
        fs::write(&record_path, json).map_err(io_err("writing", &record_path))?;
        // One syncfs for the whole layer instead of an fsync per file.
        let dir = File::open(tmp.path()).map_err(io_err("opening", tmp.path()))?;
        rustix::fs::syncfs(dir.as_fd()).map_err(|e| StoreError::Io {
            what: "syncfs",
            path: tmp.path().to_path_buf(),
            source: e.into(),
        })?;

        Ok((tmp, report))
    }

    /// Puts a new unpacking of the layer `diff_id` from `tar` (its
    /// uncompressed tar) in place of the one in the store, in one step:
    /// the two directories are exchanged, so a killed command leaves one
    /// whole layer or the other, and the old one is removed from `tmp/`
    /// (by the next command if not by this one). For a layer whose files
    /// were unpacked under another id map. Must run inside burrow's user
    /// namespace.
    pub fn replace_layer(&self, tar: &mut dyn Read, diff_id: &Digest) -> Result<AddedLayer> {
        let label = diff_id.to_string();
        let (tmp, report) = self.unpack_to_temp(
            tar,
            Some(diff_id),
            None,
            &label,
            None,
            OwnersUnder::ThisNamespace,
        )?;
        let final_path = self.layer_path(diff_id);
        let _layer_lock = self.lock_file(
            &format!("layer-{}.lock", diff_id.hex()),
            LockKind::Exclusive,
        )?;
        let exchanged = rustix::fs::renameat_with(
            rustix::fs::CWD,
            tmp.path(),
            rustix::fs::CWD,
            &final_path,
            rustix::fs::RenameFlags::EXCHANGE,
        );
        match exchanged {
            Ok(()) => {}
            // A file system without the exchange: aside, then in place
            // (a command killed between the two leaves the layer missing,
            // and the image asks for a pull again).
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                let aside = self.temp_dir("layer-old")?;
                let old = aside.path().join("layer");
                fs::rename(&final_path, &old).map_err(io_err("moving aside", &final_path))?;
                fs::rename(tmp.path(), &final_path)
                    .map_err(io_err("renaming into place", &final_path))?;
                drop(aside);
            }
            Err(e) => return Err(io_err("exchanging with", &final_path)(e.into())),
        }
        fsync_dir(&self.root.join("layers"))?;
        // `tmp` now names the old layer: dropped, it is removed.
        drop(tmp);
        Ok(AddedLayer {
            diff_id: report.diff_id,
            size: report.size,
            unpacked: true,
            notes: report.notes,
            squashed: report.squashed,
            shared: report.shared,
            written: report.written,
        })
    }

    fn image_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    pub fn image(&self, id: &Digest) -> Result<ImageRecord> {
        read_record(&self.image_path(id), || {
            StoreError::NoSuchImage(id.to_string())
        })
    }

    /// Records an image whose layers are in the store, and points `names`
    /// at it (moving each name from any image it named before).
    pub fn commit_image(
        &self,
        config: &[u8],
        manifest_digest: Option<Digest>,
        names: &[Reference],
    ) -> Result<ImageRecord> {
        self.record_image(config, manifest_digest, names, false)
    }

    /// Records a build step's image (see `ImageRecord::intermediate`); an
    /// image already recorded as a real one stays one.
    pub fn commit_intermediate(&self, config: &[u8]) -> Result<ImageRecord> {
        self.record_image(config, None, &[], true)
    }

    fn record_image(
        &self,
        config: &[u8],
        manifest_digest: Option<Digest>,
        names: &[Reference],
        intermediate: bool,
    ) -> Result<ImageRecord> {
        let parsed = ImageConfig::parse(config).map_err(|e| StoreError::Corrupt {
            path: PathBuf::from("image config"),
            detail: e.to_string(),
        })?;
        let mut size = 0;
        for l in &parsed.rootfs.diff_ids {
            size += self.layer_record(l)?.size;
        }
        let id = self.put_blob(config)?;
        let _meta = self.lock_meta()?;
        let mut record = ImageRecord {
            id: id.clone(),
            layers: parsed.rootfs.diff_ids.clone(),
            manifest_digest: manifest_digest.clone(),
            repo_digests: Vec::new(),
            size,
            added: now(),
            intermediate,
        };
        if let Ok(old) = self.image(&id) {
            record.intermediate = intermediate && old.intermediate;
            record.added = old.added;
            record.repo_digests = old.repo_digests;
            record.manifest_digest = manifest_digest.or(old.manifest_digest);
        }
        if let Some(md) = &record.manifest_digest {
            for n in names {
                let rd = format!("{}@{md}", n.name());
                if !record.repo_digests.contains(&rd) {
                    record.repo_digests.push(rd);
                }
            }
        }
        let json = serde_json::to_vec_pretty(&record).expect("image record serialises");
        self.write_atomic(&self.image_path(&id), &json)?;
        if !names.is_empty() {
            let mut tags = self.read_tags()?;
            for n in names {
                tags.insert(n.to_string(), id.hex().to_string());
            }
            self.write_tags(&tags)?;
        }
        Ok(record)
    }

    fn read_tags(&self) -> Result<BTreeMap<String, String>> {
        let path = self.root.join(TAGS_FILE);
        match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| StoreError::Corrupt {
                path,
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(StoreError::Io {
                what: "reading",
                path,
                source: e,
            }),
        }
    }

    fn write_tags(&self, tags: &BTreeMap<String, String>) -> Result<()> {
        let json = serde_json::to_vec_pretty(tags).expect("tags serialise");
        self.write_atomic(&self.root.join(TAGS_FILE), &json)
    }

    /// Every image with its names, newest first.
    pub fn images(&self) -> Result<Vec<ImageEntry>> {
        let tags = self.read_tags()?;
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
            let entry = entry.map_err(io_err("listing", &dir))?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(id) = Digest::from_hex(hex) else {
                continue;
            };
            let record = self.image(&id)?;
            let names = tags
                .iter()
                .filter(|(_, v)| v.as_str() == hex)
                .map(|(k, _)| k.clone())
                .collect();
            out.push(ImageEntry { record, names });
        }
        out.sort_by(|a, b| {
            b.record
                .added
                .cmp(&a.record.added)
                .then(a.record.id.cmp(&b.record.id))
        });
        Ok(out)
    }

    /// Finds an image by name (short names tried against `localhost` and
    /// each of `search`), by full id, or by an id prefix.
    pub fn resolve(
        &self,
        input: &str,
        registries: &crate::config::RegistriesConfig,
    ) -> Result<ImageEntry> {
        let images = self.images()?;
        let wanted = input.strip_prefix("sha256:").unwrap_or(input);
        if wanted.len() >= 3 && wanted.len() <= 64 && wanted.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let hits: Vec<_> = images
                .iter()
                .filter(|i| i.record.id.hex().starts_with(wanted))
                .collect();
            match hits.len() {
                1 => return Ok(hits[0].clone()),
                0 => {}
                _ if !Reference::is_qualified(input) => {
                    return Err(StoreError::Ambiguous {
                        input: input.to_string(),
                        ids: hits
                            .iter()
                            .map(|i| i.record.id.short().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
                _ => {}
            }
        }
        for candidate in candidates(input, registries)? {
            let key = candidate.to_string();
            if let Some(img) = images.iter().find(|i| i.names.contains(&key)) {
                return Ok(img.clone());
            }
            if let Some(d) = &candidate.digest {
                let name = candidate.name();
                if let Some(img) = images.iter().find(|i| {
                    i.record.manifest_digest.as_ref() == Some(d)
                        && i.record.repo_digests.iter().any(|r| r.starts_with(&name))
                }) {
                    return Ok(img.clone());
                }
            }
        }
        Err(StoreError::NoSuchImage(input.to_string()))
    }

    /// Points `name` at image `id`.
    pub fn tag(&self, id: &Digest, name: &Reference) -> Result<()> {
        let _meta = self.lock_meta()?;
        self.image(id)?;
        let mut tags = self.read_tags()?;
        tags.insert(name.to_string(), id.hex().to_string());
        self.write_tags(&tags)
    }

    /// Removes a name; returns the image it named.
    pub fn untag(&self, name: &str) -> Result<Option<Digest>> {
        let _meta = self.lock_meta()?;
        let mut tags = self.read_tags()?;
        let Some(hex) = tags.remove(name) else {
            return Ok(None);
        };
        self.write_tags(&tags)?;
        Ok(Digest::from_hex(&hex).ok())
    }

    /// Removes an image record and its names, then every layer and blob no
    /// other image uses. Must run inside burrow's user namespace, under
    /// `lock_exclusive`. Returns the layers removed.
    pub fn remove_image(&self, id: &Digest) -> Result<Vec<Digest>> {
        {
            let _meta = self.lock_meta()?;
            let mut tags = self.read_tags()?;
            tags.retain(|_, v| v != id.hex());
            self.write_tags(&tags)?;
            let path = self.image_path(id);
            fs::remove_file(&path).map_err(io_err("removing", &path))?;
            fsync_dir(&self.root.join("images"))?;
        }
        self.collect_garbage()
    }

    /// Removes layers and blobs no image references, and the leftovers of
    /// killed commands in `tmp/`. Needs `lock_exclusive` (or holds it
    /// itself via `clean_if_idle`).
    fn collect_garbage(&self) -> Result<Vec<Digest>> {
        self.clean_tmp()?;
        let images = self.images()?;
        let mut used_layers = BTreeSet::new();
        let mut used_blobs = BTreeSet::new();
        for i in &images {
            used_layers.extend(i.record.layers.iter().map(|d| d.hex().to_string()));
            used_blobs.insert(i.record.id.hex().to_string());
            if let Some(m) = &i.record.manifest_digest {
                used_blobs.insert(m.hex().to_string());
            }
        }
        let mut removed = Vec::new();
        let layers = self.root.join("layers");
        for entry in fs::read_dir(&layers).map_err(io_err("listing", &layers))? {
            let entry = entry.map_err(io_err("listing", &layers))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if used_layers.contains(&name) {
                continue;
            }
            // Out of sight first, then delete: a half-deleted layer is never
            // visible under its name.
            let doomed = self
                .root
                .join("tmp")
                .join(format!("gone-{}", random_suffix()));
            fs::rename(entry.path(), &doomed).map_err(io_err("moving aside", &entry.path()))?;
            remove_tree(&doomed)?;
            if let Ok(d) = Digest::from_hex(&name) {
                removed.push(d);
            }
        }
        // A layer's single-id form goes with it (its name is the layer's).
        let single = self.root.join(SINGLE_ID_LAYERS);
        let forms = match fs::read_dir(&single) {
            Ok(dir) => Some(dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("listing", &single)(e)),
        };
        for entry in forms.into_iter().flatten() {
            let entry = entry.map_err(io_err("listing", &single))?;
            if used_layers.contains(&*entry.file_name().to_string_lossy()) {
                continue;
            }
            let doomed = self
                .root
                .join("tmp")
                .join(format!("gone-{}", random_suffix()));
            fs::rename(entry.path(), &doomed).map_err(io_err("moving aside", &entry.path()))?;
            remove_tree(&doomed)?;
        }
        let blobs = self.root.join("blobs/sha256");
        for entry in fs::read_dir(&blobs).map_err(io_err("listing", &blobs))? {
            let entry = entry.map_err(io_err("listing", &blobs))?;
            if !used_blobs.contains(&*entry.file_name().to_string_lossy()) {
                fs::remove_file(entry.path()).map_err(io_err("removing", &entry.path()))?;
            }
        }
        Ok(removed)
    }

    /// Removes what killed commands left behind, if no other command is
    /// working on the store right now. Cheap when there is nothing to do.
    /// Must run inside burrow's user namespace.
    pub fn clean_if_idle(&self) -> Result<()> {
        let tmp = self.root.join("tmp");
        let has_leftovers = fs::read_dir(&tmp)
            .map_err(io_err("listing", &tmp))?
            .next()
            .is_some();
        if !has_leftovers {
            return Ok(());
        }
        if let Some(_lock) = self.try_lock_exclusive()? {
            self.collect_garbage()?;
        }
        Ok(())
    }

    /// Removes entries of `tmp/` whose owner is gone (their flock is free).
    /// One leftover that cannot be removed does not keep the others.
    fn clean_tmp(&self) -> Result<()> {
        let tmp = self.root.join("tmp");
        let mut first_error = None;
        for entry in fs::read_dir(&tmp).map_err(io_err("listing", &tmp))? {
            let entry = entry.map_err(io_err("listing", &tmp))?;
            let path = entry.path();
            let removed = match lockfile::try_lock_existing(&path, LockKind::Exclusive) {
                Ok(Some(held)) if held.file().metadata().is_ok_and(|m| m.is_dir()) => {
                    remove_tree(&path)
                }
                Ok(Some(_held)) => match fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        Err(io_err("removing", &path)(e))
                    }
                    _ => Ok(()),
                },
                // In use by a live command, or gone meanwhile.
                Ok(None) | Err(_) => Ok(()),
            };
            if let Err(e) = removed {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Removes the whole store. Must run inside burrow's user namespace.
    pub fn reset(self) -> Result<()> {
        let _lock = self.lock_exclusive()?;
        remove_tree(&self.root)
    }

    /// The parsed config of an image, and its raw bytes.
    pub fn config(&self, id: &Digest) -> Result<(ImageConfig, Vec<u8>)> {
        let raw = self.blob(id)?;
        let parsed = ImageConfig::parse(&raw).map_err(|e| StoreError::Corrupt {
            path: self.blob_path(id),
            detail: e.to_string(),
        })?;
        Ok((parsed, raw))
    }
}

/// Reads a JSON record of the store; a missing file is `missing()`.
fn read_record<T: for<'de> Deserialize<'de>>(
    path: &Path,
    missing: impl FnOnce() -> StoreError,
) -> Result<T> {
    let data = fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => missing(),
        _ => StoreError::Io {
            what: "reading",
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    serde_json::from_slice(&data).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// The references a user's `input` may mean, most likely first.
fn candidates(input: &str, registries: &crate::config::RegistriesConfig) -> Result<Vec<Reference>> {
    if Reference::is_qualified(input) {
        return Ok(vec![
            Reference::parse(input).map_err(|e| StoreError::NoSuchImage(e.to_string()))?
        ]);
    }
    // An alias means what it means to pull: its target alone.
    if let Some(target) = registries.expand_alias(input) {
        return Ok(vec![
            Reference::parse(&target).map_err(|e| StoreError::NoSuchImage(e.to_string()))?
        ]);
    }
    let search = &registries.search;
    let mut out = vec![Reference::parse_in(input, "localhost")
        .map_err(|e| StoreError::NoSuchImage(e.to_string()))?];
    for registry in search {
        if let Ok(r) = Reference::parse_in(input, registry) {
            out.push(r);
        }
    }
    if !search.iter().any(|s| s == "docker.io") {
        out.push(Reference::parse(input).map_err(|e| StoreError::NoSuchImage(e.to_string()))?);
    }
    Ok(out)
}

/// rm -rf that also clears read-only directories (images have them), with
/// one directory fd open at a time whatever the depth.
pub fn remove_tree(path: &Path) -> Result<()> {
    super::tree::remove(path).map_err(|e| StoreError::Io {
        what: "removing",
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// A directory under the store's `tmp/`, removed on drop unless persisted.
pub struct TempDir {
    path: Option<PathBuf>,
    _lock: FileLock,
}

impl TempDir {
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("temp dir not yet persisted")
    }

    /// Keeps the directory: the caller renames it into place.
    pub fn persist(mut self) -> PathBuf {
        self.path.take().expect("temp dir not yet persisted")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = remove_tree(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_leaves_no_temp_behind() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let target = d.path().join("x.json");
        store.write_atomic(&target, b"one").unwrap();
        store.write_atomic(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn blob_roundtrip_and_corruption_is_named() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let id = store.put_blob(b"{\"rootfs\":{}}").unwrap();
        assert_eq!(store.blob(&id).unwrap(), b"{\"rootfs\":{}}");
        fs::write(store.blob_path(&id), b"tampered").unwrap();
        let err = store.blob(&id).unwrap_err().to_string();
        assert!(
            err.contains(&id.to_string()) && err.contains("digest mismatch"),
            "{err}"
        );
    }

    /// A layer's single-id form: every entry root's (in the namespace it
    /// is made in), the image's other owners recorded (a file's in its
    /// xattr, a symbolic link's in the owners file), root's files linked
    /// from the layer's own tree, no split record of its own; made once,
    /// and removed with its layer, leaving no directory behind.
    #[test]
    fn a_single_id_form_records_owners_shares_roots_files_and_goes_with_its_layer() {
        use crate::image::tar::{EntryKind, NewEntry, TarWriter};
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        let mut w = TarWriter::new(Vec::new());
        let mut add = |path: &'static [u8], kind, mode, owner: (u64, u64), data: &[u8]| {
            let mut e = NewEntry::new(path, kind, mode, 5);
            (e.uid, e.gid) = owner;
            e.size = data.len() as u64;
            if kind == EntryKind::Symlink {
                e.link = b"f";
                e.size = 0;
            }
            w.append(&e, &mut &data[..]).unwrap();
        };
        add(b"f", EntryKind::Regular, 0o640, (1000, 1001), b"f\n");
        add(b"r", EntryKind::Regular, 0o755, (0, 0), b"r\n");
        add(b"l", EntryKind::Symlink, 0o777, (42, 43), b"");
        let tar = w.finish().unwrap();
        let body = move || -> Result<(), String> {
            let ensure = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
            let e = |e: StoreError| e.to_string();
            let store = Store::open(&root).map_err(e)?;
            let id = store
                .add_layer(&mut &tar[..], None, None, "test")
                .map_err(e)?
                .diff_id;
            ensure(store.add_single_id_layer(&id).map_err(e)?, "made")?;
            ensure(!store.add_single_id_layer(&id).map_err(e)?, "made once")?;
            let single = store.single_id_layer_dir(&id);
            let f = fs::symlink_metadata(single.join("f")).map_err(|e| e.to_string())?;
            ensure(
                (f.uid(), f.gid(), f.mode() & 0o7777) == (0, 0, 0o640),
                "f is root's",
            )?;
            let recorded = crate::owners::recorded_at_path(&single.join("f"));
            ensure(
                recorded.is_some_and(|o| (o.uid, o.gid, o.mode) == (1000, 1001, 0o640)),
                "f's owner recorded",
            )?;
            let l = fs::symlink_metadata(single.join("l")).map_err(|e| e.to_string())?;
            ensure(l.uid() == 0, "l is root's")?;
            let listed = crate::owners::LayerOwners::of_layer(&single).get(b"l");
            ensure(listed == Some((42, 43)), "l's owner listed")?;
            let ino = |dir: &Path| fs::metadata(dir.join("r")).map(|m| m.ino()).ok();
            ensure(ino(&single) == ino(&store.layer_dir(&id)), "r linked")?;
            let record = store.single_id_layer_record(&id).map_err(e)?;
            ensure(record.bytes_written == Some(2), "f alone written")?;
            ensure(
                !store.single_id_layer_path(&id).join(SPLIT_FILE).exists(),
                "no split record",
            )?;
            let config = serde_json::json!({
                "rootfs": {"type": "layers", "diff_ids": [id.to_string()]}
            });
            let image = store
                .commit_image(&serde_json::to_vec(&config).unwrap(), None, &[])
                .map_err(e)?;
            store.remove_image(&image.id).map_err(e)?;
            for dir in ["layers", SINGLE_ID_LAYERS, "tmp"] {
                let left = fs::read_dir(root.join(dir)).map_or(0, |d| d.count());
                ensure(left == 0, &format!("{dir} left behind"))?;
            }
            Ok(())
        };
        let outcome = if rustix::process::geteuid().is_root() {
            body()
        } else {
            let (map, _) = crate::sandbox::userns::IdMap::for_current_user().unwrap();
            crate::sandbox::userns::run_in_userns(&map, body).unwrap()
        };
        outcome.unwrap();
    }

    #[test]
    fn stale_temp_dirs_are_cleaned_but_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let live = store.temp_dir("layer").unwrap();
        let stale = d.path().join("tmp/layer-stale");
        fs::create_dir_all(stale.join("diff/sub")).unwrap();
        store.clean_if_idle().unwrap();
        assert!(!stale.exists());
        assert!(live.path().exists());
    }
}
