//! Volumes: `volumes/NAME/` under the storage root, with `volume.json`
//! (what `volume inspect` shows) and `_data` (what containers mount). A
//! volume appears whole, by one rename of a directory made under `tmp/`,
//! and goes by one rename back out of sight; `volumes/.lock` orders
//! creation, removal and the check that no container uses a volume.
//! `_data` is written by containers: nothing here follows a link in it.

use super::filter::PruneFilter;
use super::record::Containers;
use super::spec::UserMount;
use crate::image::store::Store;
use crate::lockfile::{self, FileLock, LockKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The label docker puts on the volumes it makes for `-v /path` and an
/// image's VOLUME: `volume prune` without `--all` removes only these.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

const RECORD: &str = "volume.json";
const DATA: &str = "_data";

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("No such volume: {0}")]
    NotFound(String),
    #[error("remove {name}: volume is in use - [{}]", .users.join(", "))]
    InUse { name: String, users: Vec<String> },
    #[error(
        "{0:?} includes invalid characters for a local volume name, only \
         \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, \
         use absolute path"
    )]
    BadName(String),
    #[error("volume driver {0:?} is not available: burrow has the local driver only")]
    Driver(String),
    #[error(
        "volume option {0}: burrow's local driver takes type=tmpfs (o=size=,mode=,uid=,gid=) \
         and type=none with o=bind[,ro] and device=/host/dir, as docker's documents them; a \
         device or a network file system needs root to mount"
    )]
    Option(String),
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Lock(#[from] lockfile::LockError),
    #[error("volume {name}: its record {} is damaged: {detail}", .path.display())]
    Corrupt {
        name: String,
        path: PathBuf,
        detail: String,
    },
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
    #[error(transparent)]
    Record(#[from] super::record::RecordError),
    #[error("removing volume {name}: {detail}")]
    Remove { name: String, detail: String },
    #[error("invalid filter: {0}")]
    Filter(String),
}

impl VolumeError {
    /// docker's status: 1 for what the request asked of a volume (missing,
    /// in use, a bad name), 125 for burrow's own failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            VolumeError::NotFound(_)
            | VolumeError::InUse { .. }
            | VolumeError::BadName(_)
            | VolumeError::Driver(_)
            | VolumeError::Option(_)
            | VolumeError::Filter(_) => 1,
            _ => 125,
        }
    }
}

type Result<T, E = VolumeError> = std::result::Result<T, E>;

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> VolumeError {
    let path = path.to_path_buf();
    move |source| VolumeError::Io { what, path, source }
}

/// A volume as `volume inspect` shows it (docker's keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// The host directory containers mount (filled in when read: the
    /// storage root may have moved).
    #[serde(default)]
    pub mountpoint: PathBuf,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub scope: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// How the local driver mounts a volume, from the `-o` options docker's
/// local driver documents (`type`, `device`, `o`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalMount {
    /// No options: the volume's own `_data` under the storage root.
    Dir,
    /// `type=none`, `o=bind[,ro]`, `device=/host/dir`: that host directory.
    Bind { device: PathBuf, read_only: bool },
    /// `type=tmpfs` (`device=tmpfs`), `o=size=SIZE,mode=OCTAL,uid=N,gid=N`:
    /// a tmpfs for each container that mounts it; `uid` and `gid` own its
    /// root, ids of the container (its user namespace's).
    Tmpfs {
        size: Option<u64>,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    },
}

impl LocalMount {
    /// Reads `options` as docker's local driver does; refuses what burrow
    /// cannot mount without root, naming the option.
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<LocalMount> {
        let bad = |what: String| Err(VolumeError::Option(what));
        if let Some(k) = options
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "device" | "o"))
        {
            return bad(format!("{k:?} is not one of type, device and o"));
        }
        let o: Vec<&str> = options
            .get("o")
            .map(|o| o.split(',').filter(|w| !w.is_empty()).collect())
            .unwrap_or_default();
        let device = options.get("device").map(String::as_str);
        match options.get("type").map(String::as_str) {
            None if options.is_empty() => Ok(LocalMount::Dir),
            None => bad("device and o need type (tmpfs, or none with o=bind)".into()),
            Some("none") => {
                if !o.iter().any(|w| matches!(*w, "bind" | "rbind")) {
                    return bad("type=none needs o=bind (a bind of device's directory)".into());
                }
                let mut read_only = false;
                for w in &o {
                    match *w {
                        "bind" | "rbind" => {}
                        "ro" => read_only = true,
                        "rw" => read_only = false,
                        _ => {
                            return bad(format!(
                                "o={w} with o=bind: a bind takes ro or rw (and bind or rbind)"
                            ))
                        }
                    }
                }
                match device {
                    Some(d) if Path::new(d).is_absolute() => Ok(LocalMount::Bind {
                        device: PathBuf::from(d),
                        read_only,
                    }),
                    Some(d) => bad(format!("device={d:?} must be an absolute host path")),
                    None => bad("o=bind needs device=/host/dir".into()),
                }
            }
            Some("tmpfs") => {
                if let Some(d) = device.filter(|d| *d != "tmpfs") {
                    return bad(format!(
                        "device={d:?}: a tmpfs has no device (device=tmpfs)"
                    ));
                }
                let (mut size, mut mode, mut uid, mut gid) = (None, None, None, None);
                let id = |k: &str, v: &str| {
                    v.parse::<u32>()
                        .ok()
                        .filter(|n| *n != u32::MAX)
                        .ok_or_else(|| {
                            VolumeError::Option(format!(
                                "o={k}={v}: not a numeric id (0 to 4294967294) of the container"
                            ))
                        })
                };
                for w in o {
                    match w.split_once('=') {
                        Some(("size", v)) => match super::spec::parse_size(v) {
                            Some(n) => size = Some(n),
                            None => return bad(format!("o=size={v}: not a size (64m, 1g)")),
                        },
                        Some(("mode", v)) => match u32::from_str_radix(v, 8) {
                            Ok(m) if m <= 0o7777 => mode = Some(m),
                            _ => return bad(format!("o=mode={v}: not an octal mode")),
                        },
                        Some(("uid", v)) => uid = Some(id("uid", v)?),
                        Some(("gid", v)) => gid = Some(id("gid", v)?),
                        _ => {
                            return bad(format!(
                                "o={w}: a tmpfs volume takes size=, mode=, uid= and gid="
                            ))
                        }
                    }
                }
                Ok(LocalMount::Tmpfs {
                    size,
                    mode,
                    uid,
                    gid,
                })
            }
            Some(t) => bad(format!("type={t}")),
        }
    }
}

impl Volume {
    /// How it is mounted (its options were checked when it was made).
    pub fn local_mount(&self) -> Result<LocalMount> {
        LocalMount::from_options(&self.options)
    }

    /// Made for `-v /path` or an image's VOLUME, not named by the user.
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// What `volume create` (or a `-v NAME:` of a missing volume) asks for.
#[derive(Debug, Clone, Default)]
pub struct NewVolume {
    /// `None`: 64 random hex digits.
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `--driver`: `local` (or empty) only.
    pub driver: Option<String>,
    /// `-o KEY=VALUE`: the local driver's `type`, `device` and `o`, read
    /// by `LocalMount::from_options`.
    pub options: BTreeMap<String, String>,
}

/// `volume ls --filter`, parsed at the edge. As docker judges them: the
/// values of `name` and of `driver` are alternatives, every `label` must
/// hold, and `dangling` takes one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeFilter {
    /// `name=TEXT`: names that contain it; `^` and `$` anchor it, as in
    /// docker's regular expression.
    Name(String),
    /// `label=KEY` or `label=KEY=VALUE`.
    Label(String, Option<String>),
    /// `dangling=true|false`: used by no container.
    Dangling(bool),
    /// `driver=local`.
    Driver(String),
}

impl std::str::FromStr for VolumeFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<VolumeFilter, String> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("bad filter {s:?}: expected KEY=VALUE"))?;
        match k {
            "name" => Ok(VolumeFilter::Name(v.into())),
            "label" => Ok(match v.split_once('=') {
                Some((k, v)) => VolumeFilter::Label(k.into(), Some(v.into())),
                None => VolumeFilter::Label(v.into(), None),
            }),
            // docker's `volume ls` takes no `label!` (its `volume prune`
            // does): refused, as docker refuses it.
            "label!" => Err(format!(
                "invalid filter 'label!' in {s:?}: volume ls filters are name=, label=, dangling= and driver="
            )),
            "dangling" => match v {
                "true" | "1" => Ok(VolumeFilter::Dangling(true)),
                "false" | "0" => Ok(VolumeFilter::Dangling(false)),
                _ => Err(format!("bad filter {s:?}: dangling is true or false")),
            },
            "driver" => Ok(VolumeFilter::Driver(v.into())),
            _ => Err(format!(
                "bad filter {s:?}: volume filters are name=, label=, dangling= and driver="
            )),
        }
    }
}

/// Whether a volume (`used` by a container or not) passes every filter.
pub fn filters_match(filters: &[VolumeFilter], v: &Volume, used: bool) -> bool {
    let has = |k: &String, val: &Option<String>| {
        v.labels
            .get(k)
            .is_some_and(|lv| val.as_ref().is_none_or(|val| val == lv))
    };
    // One of the values of a key that takes alternatives (none: any).
    let one_of = |key: fn(&VolumeFilter) -> Option<&String>, hit: &dyn Fn(&String) -> bool| {
        let mut values = filters.iter().filter_map(key).peekable();
        values.peek().is_none() || values.any(hit)
    };
    one_of(
        |f| match f {
            VolumeFilter::Name(n) => Some(n),
            _ => None,
        },
        &|n| super::filter::name_matches(&v.name, n),
    ) && one_of(
        |f| match f {
            VolumeFilter::Driver(d) => Some(d),
            _ => None,
        },
        &|d| v.driver == *d,
    ) && filters.iter().all(|f| match f {
        VolumeFilter::Label(k, val) => has(k, val),
        VolumeFilter::Dangling(d) => *d != used,
        _ => true,
    })
}

/// Refuses `dangling=true` with `dangling=false`, as docker does.
pub fn check_filters(filters: &[VolumeFilter]) -> Result<()> {
    let dangling: Vec<bool> = filters
        .iter()
        .filter_map(|f| match f {
            VolumeFilter::Dangling(d) => Some(*d),
            _ => None,
        })
        .collect();
    if dangling.contains(&true) && dangling.contains(&false) {
        return Err(VolumeError::Filter(
            "dangling=true and dangling=false at once".into(),
        ));
    }
    Ok(())
}

/// One `volume prune --filter`: docker's `label=`, `label!=` and
/// `all=BOOL` (named volumes too, as `-a`); docker refuses the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumePruneFilter {
    All(bool),
    Label(PruneFilter),
}

impl std::str::FromStr for VolumePruneFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<VolumePruneFilter, String> {
        match s.split_once('=') {
            // Go's strconv.ParseBool, which docker reads it with.
            Some(("all", v)) => match v {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(VolumePruneFilter::All(true)),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(VolumePruneFilter::All(false)),
                _ => Err(format!("invalid filter 'all': {v:?} is not a boolean")),
            },
            Some(("label" | "label!", _)) => PruneFilter::parse(s, 0)
                .map(VolumePruneFilter::Label)
                .map_err(|e| e.to_string()),
            _ => Err(format!(
                "invalid filter {s:?}: volume prune takes label=KEY[=VALUE], \
                 label!=KEY[=VALUE] and all=true|false"
            )),
        }
    }
}

/// Refuses what docker's local driver refuses: a name must be
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so it can never be `..` or hold a `/`.
pub fn check_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::BadName(name.to_string()))
    }
}

/// The volumes under one storage root.
pub struct Volumes {
    dir: PathBuf,
}

/// The directory containers mount of volume `name` in the volumes'
/// directory `dir`.
pub fn data_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(name).join(DATA)
}

/// The held lock on the set of volumes.
pub struct VolumesLock {
    _lock: FileLock,
}

impl Volumes {
    pub fn open(storage_root: &Path) -> Result<Volumes> {
        let dir = storage_root.join("volumes");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("creating", &dir))?;
        Ok(Volumes { dir })
    }

    pub fn lock(&self) -> Result<VolumesLock> {
        let lock = lockfile::lock_file(&self.dir.join(".lock"), LockKind::Exclusive)?;
        Ok(VolumesLock { _lock: lock })
    }

    fn dir_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The volumes' directory by its real path (the sandbox opens a
    /// volume following no link; the storage root may be reached through
    /// one).
    pub fn real_dir(&self) -> PathBuf {
        fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone())
    }

    /// The directory containers mount.
    pub fn data_of(&self, name: &str) -> PathBuf {
        self.dir_of(name).join(DATA)
    }

    /// The volume `name`, if it exists.
    pub fn get(&self, name: &str) -> Result<Volume> {
        check_name(name).map_err(|_| VolumeError::NotFound(name.to_string()))?;
        let path = self.dir_of(name).join(RECORD);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound(name.to_string()))
            }
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        let mut v: Volume = serde_json::from_slice(&data).map_err(|e| VolumeError::Corrupt {
            name: name.to_string(),
            path: path.clone(),
            detail: e.to_string(),
        })?;
        v.mountpoint = self.data_of(name);
        Ok(v)
    }

    /// Every volume, by name. A damaged record is listed by its name alone
    /// (so that `volume rm` can remove it), never fatal to the listing.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)
            .map_err(io_err("listing", &self.dir))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if check_name(&name).is_err() {
                continue;
            }
            match self.get(&name) {
                Ok(v) => out.push(v),
                Err(VolumeError::NotFound(_)) => {}
                Err(_) => out.push(Volume {
                    mountpoint: self.data_of(&name),
                    name,
                    driver: "local".into(),
                    created_at: String::new(),
                    labels: BTreeMap::new(),
                    scope: "local".into(),
                    options: BTreeMap::new(),
                }),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates a volume; the caller holds `lock()`. A name that exists is
    /// that volume, as docker's `volume create` answers.
    pub fn create(&self, store: &Store, new: &NewVolume) -> Result<Volume> {
        match new.driver.as_deref() {
            None | Some("") | Some("local") => {}
            Some(d) => return Err(VolumeError::Driver(d.to_string())),
        }
        if let LocalMount::Bind { device, .. } = LocalMount::from_options(&new.options)? {
            // As docker's: the directory must be there (it is checked
            // again, links and all, at each mount).
            if !device.is_dir() {
                return Err(VolumeError::Option(format!(
                    "device={}: no such directory",
                    device.display()
                )));
            }
        }
        let name = match &new.name {
            Some(n) => {
                check_name(n)?;
                if let Ok(v) = self.get(n) {
                    return Ok(v);
                }
                n.clone()
            }
            None => super::record::new_id(),
        };
        let volume = Volume {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: PathBuf::new(),
            created_at: crate::time::rfc3339(crate::image::store::now()),
            labels: new.labels.clone(),
            scope: "local".into(),
            options: new.options.clone(),
        };
        let tmp = store.temp_dir("volume")?;
        let data = tmp.path().join(DATA);
        // The container's root is the owner (you, or in keep-id's map an
        // id with power over yours): it can write here, as docker's root
        // can in its `_data`.
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&data)
            .map_err(io_err("creating", &data))?;
        let record = tmp.path().join(RECORD);
        let json = serde_json::to_vec_pretty(&volume).expect("volume serialises");
        (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&record)?;
            f.write_all(&json)?;
            f.sync_all()?;
            File::open(tmp.path())?.sync_all()
        })()
        .map_err(io_err("writing", &record))?;
        let dest = self.dir_of(&name);
        fs::rename(tmp.path(), &dest).map_err(io_err("creating", &dest))?;
        tmp.persist();
        super::events::record(
            self.dir.parent().unwrap_or(&self.dir),
            super::events::Event::new("volume", "create", &name, &[("driver", "local")]),
        );
        self.get(&name)
    }

    /// The names of volumes each container uses, by container id: from
    /// the records alone, no state read. Under the volumes' lock a state
    /// could wait (up to 5 s each) for a `run --rm`'s supervisor that has
    /// reaped pid 1 and waits for that lock to remove its anonymous
    /// volumes (`Containers::records_alone`).
    pub fn users(&self, containers: &Containers) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in containers.records_alone()? {
            for m in &r.config.mounts {
                if let UserMount::Volume { name, .. } = m {
                    let ids = out.entry(name.clone()).or_default();
                    if !ids.contains(&r.id) {
                        ids.push(r.id.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Removes the volume `name`, refused while a container (running or
    /// not) uses it; the caller holds `lock()`. It leaves `volumes/` in one
    /// rename into the store's `tmp/` (a killed removal is cleaned with the
    /// store's other leftovers); `remove_tree` then deletes it, as the
    /// owner of its files (inside the user namespace).
    pub fn remove(
        &self,
        name: &str,
        containers: &Containers,
        remove_tree: &dyn Fn(&Path) -> Result<(), String>,
    ) -> Result<()> {
        let dir = self.dir_of(name);
        if check_name(name).is_err() || fs::symlink_metadata(&dir).is_err() {
            return Err(VolumeError::NotFound(name.to_string()));
        }
        if let Some(users) = self.users(containers)?.remove(name) {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                users,
            });
        }
        let root = self.dir.parent().unwrap_or(&self.dir);
        let doomed = root.join("tmp").join(format!(
            "gone-volume-{name}-{}",
            &super::record::new_id()[..8]
        ));
        fs::rename(&dir, &doomed).map_err(io_err("removing", &dir))?;
        // Held while it is removed: the store's cleaning takes only an
        // unlocked entry of `tmp/` for a killed command's leftover.
        let _held = lockfile::try_lock_existing(&doomed, LockKind::Exclusive);
        remove_tree(&doomed).map_err(|detail| VolumeError::Remove {
            name: name.to_string(),
            detail,
        })?;
        super::events::record(
            root,
            super::events::Event::new("volume", "destroy", name, &[("driver", "local")]),
        );
        Ok(())
    }
}

/// The bytes under a volume's `_data` that this user can see (what
/// `system df` and `volume prune` report).
pub fn size_of(v: &Volume) -> u64 {
    bytes_under(&v.mountpoint)
}

/// The bytes of the regular files under `dir` that can be read from
/// here (what cannot is counted as nothing).
pub(super) fn bytes_under(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => bytes_under(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

/// `volume ls`: every volume that passes `filters`, with whether a
/// container uses it.
pub fn list_filtered(
    volumes: &Volumes,
    containers: &Containers,
    filters: &[VolumeFilter],
) -> Result<Vec<(Volume, bool)>> {
    check_filters(filters)?;
    let users = volumes.users(containers)?;
    Ok(volumes
        .list()?
        .into_iter()
        .map(|v| {
            let used = users.contains_key(&v.name);
            (v, used)
        })
        .filter(|(v, used)| filters_match(filters, v, *used))
        .collect())
}

/// `volume prune`: removes the unused volumes whose labels pass
/// `filters` (judged as docker's prune judges them; an `until` holds for
/// every volume), only anonymous ones unless `all`. Returns their names
/// and the bytes freed.
pub fn prune(
    volumes: &Volumes,
    containers: &Containers,
    all: bool,
    filters: &[PruneFilter],
    remove_tree: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<(Vec<String>, u64)> {
    let _lock = volumes.lock()?;
    let mut removed = Vec::new();
    let mut freed = 0;
    for (v, used) in list_filtered(volumes, containers, &[])? {
        if used
            || !(all || v.is_anonymous())
            || !super::filter::prune_matches(filters, None, &v.labels)
        {
            continue;
        }
        let size = size_of(&v);
        match volumes.remove(&v.name, containers, remove_tree) {
            Ok(()) => {
                removed.push(v.name);
                freed += size;
            }
            // Taken by a container made since the listing.
            Err(VolumeError::InUse { .. } | VolumeError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((removed, freed))
}

/// Removes the anonymous volumes among `mounts` that no other container
/// uses (`rm -v`, `run --rm`): named ones are never removed this way.
/// The container itself must be gone from the records already.
pub fn remove_anonymous(
    storage_root: &Path,
    mounts: &[UserMount],
    remove_tree: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<()> {
    let names: Vec<&str> = mounts
        .iter()
        .filter_map(|m| match m {
            UserMount::Volume {
                name,
                anonymous: true,
                ..
            } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let volumes = Volumes::open(storage_root)?;
    let containers = Containers::open(storage_root)?;
    let _lock = volumes.lock()?;
    for name in names {
        match volumes.remove(name, &containers, remove_tree) {
            Ok(()) | Err(VolumeError::NotFound(_) | VolumeError::InUse { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What the `volume` verbs call: the store opened through `ctx` (its
/// checks), removal done as the owner of the files.
pub mod verbs {
    use super::*;
    use crate::container::images::Context;

    fn open(ctx: &Context) -> crate::container::error::Result<(Store, Volumes, Containers)> {
        let store = ctx.store()?;
        let volumes = Volumes::open(store.root())?;
        let containers = Containers::open(store.root())?;
        Ok((store, volumes, containers))
    }

    /// `volume create`.
    pub fn create(ctx: &Context, new: &NewVolume) -> crate::container::error::Result<Volume> {
        let (store, volumes, _) = open(ctx)?;
        let _lock = volumes.lock()?;
        Ok(volumes.create(&store, new)?)
    }

    /// `volume inspect`.
    pub fn inspect(ctx: &Context, name: &str) -> crate::container::error::Result<Volume> {
        Ok(open(ctx)?.1.get(name)?)
    }

    /// `volume ls`.
    pub fn list(
        ctx: &Context,
        filters: &[VolumeFilter],
    ) -> crate::container::error::Result<Vec<(Volume, bool)>> {
        let (_, volumes, containers) = open(ctx)?;
        Ok(list_filtered(&volumes, &containers, filters)?)
    }

    /// The containers that use each volume, by volume name.
    pub fn users(ctx: &Context) -> crate::container::error::Result<BTreeMap<String, Vec<String>>> {
        let (_, volumes, containers) = open(ctx)?;
        Ok(volumes.users(&containers)?)
    }

    /// `volume rm`: with `force`, a missing volume is no error.
    pub fn remove(ctx: &Context, name: &str, force: bool) -> crate::container::error::Result<()> {
        let (_, volumes, containers) = open(ctx)?;
        let _lock = volumes.lock()?;
        match volumes.remove(name, &containers, &|p| {
            super::super::remove_as_owner(ctx, p).map_err(|e| e.to_string())
        }) {
            Err(VolumeError::NotFound(_)) if force => Ok(()),
            other => Ok(other?),
        }
    }

    /// What `system df` counts of volumes.
    pub struct DiskUse {
        pub count: usize,
        /// Used by a container.
        pub active: usize,
        /// Bytes under every volume's `_data` that you can see.
        pub size: u64,
        /// Of those, the bytes of unused volumes.
        pub reclaimable: u64,
    }

    /// `system df`'s volume line.
    pub fn disk_use(ctx: &Context) -> crate::container::error::Result<DiskUse> {
        let mut u = DiskUse {
            count: 0,
            active: 0,
            size: 0,
            reclaimable: 0,
        };
        let all = list(ctx, &[])?;
        let sizes =
            super::super::tree_sizes(ctx, all.iter().map(|(v, _)| v.mountpoint.clone()).collect())?;
        for ((_, used), size) in all.into_iter().zip(sizes) {
            u.count += 1;
            u.size += size;
            if used {
                u.active += 1;
            } else {
                u.reclaimable += size;
            }
        }
        Ok(u)
    }

    /// `volume prune`.
    pub fn prune(
        ctx: &Context,
        all: bool,
        filters: &[PruneFilter],
    ) -> crate::container::error::Result<(Vec<String>, u64)> {
        let (_, volumes, containers) = open(ctx)?;
        Ok(super::prune(&volumes, &containers, all, filters, &|p| {
            super::super::remove_as_owner(ctx, p).map_err(|e| e.to_string())
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_driver_options_are_read_as_docker_documents_them() {
        let o = |kv: &[(&str, &str)]| {
            let m: BTreeMap<String, String> = kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            LocalMount::from_options(&m)
        };
        assert_eq!(o(&[]).unwrap(), LocalMount::Dir);
        assert_eq!(
            o(&[("type", "none"), ("o", "bind"), ("device", "/srv/x")]).unwrap(),
            LocalMount::Bind {
                device: "/srv/x".into(),
                read_only: false
            }
        );
        assert_eq!(
            o(&[("type", "none"), ("o", "bind,ro"), ("device", "/srv/x")]).unwrap(),
            LocalMount::Bind {
                device: "/srv/x".into(),
                read_only: true
            }
        );
        assert_eq!(
            o(&[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=64m,mode=1770")
            ])
            .unwrap(),
            LocalMount::Tmpfs {
                size: Some(64 << 20),
                mode: Some(0o1770),
                uid: None,
                gid: None
            }
        );
        // docker's own example.
        assert_eq!(
            o(&[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=100m,uid=1000")
            ])
            .unwrap(),
            LocalMount::Tmpfs {
                size: Some(100 << 20),
                mode: None,
                uid: Some(1000),
                gid: None
            }
        );
        assert_eq!(
            o(&[("type", "tmpfs"), ("o", "uid=0,gid=44")]).unwrap(),
            LocalMount::Tmpfs {
                size: None,
                mode: None,
                uid: Some(0),
                gid: Some(44)
            }
        );
        for bad in [
            &[("type", "nfs"), ("device", ":/x")][..],
            &[("type", "none"), ("device", "/srv/x")],
            &[("type", "none"), ("o", "bind"), ("device", "rel/x")],
            &[("type", "none"), ("o", "bind,uid=3"), ("device", "/srv/x")],
            &[("type", "tmpfs"), ("o", "size=lots")],
            &[("type", "tmpfs"), ("o", "uid=alice")],
            &[("type", "tmpfs"), ("o", "gid=-1")],
            &[("type", "tmpfs"), ("o", "uid=4294967295")],
            &[("type", "tmpfs"), ("o", "uid=99999999999")],
            &[("type", "tmpfs"), ("o", "nr_inodes=5")],
            &[("type", "none"), ("o", "bind,noexec"), ("device", "/srv/x")],
            &[("type", "tmpfs"), ("device", "/dev/sda1")],
            &[("device", "/srv/x")],
            &[("colour", "red")],
        ] {
            assert!(o(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_docker_local_driver_names_and_never_paths() {
        for good in ["data", "my-vol_1.x", "a1", "0abc"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "../x", "a/b", "..", ".x", "-x", "x", "", "a b", "/abs", "a\0b",
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.to_string().contains("invalid characters"), "{bad}: {e}");
        }
    }

    #[test]
    fn filters_parse_and_match_as_docker_documents_them() {
        let v = Volume {
            name: "webdata".into(),
            driver: "local".into(),
            mountpoint: PathBuf::new(),
            created_at: String::new(),
            labels: [("env".to_string(), "prod".to_string())].into(),
            scope: "local".into(),
            options: BTreeMap::new(),
        };
        let f = |s: &str| s.parse::<VolumeFilter>().unwrap();
        let m = |fs: &[&str], used: bool| {
            let fs: Vec<VolumeFilter> = fs.iter().map(|s| f(s)).collect();
            filters_match(&fs, &v, used)
        };
        assert!(m(&[], false));
        assert!(m(&["name=web"], false));
        assert!(m(&["name=^web"], false));
        assert!(m(&["name=data$"], false));
        assert!(!m(&["name=^data"], false));
        assert!(!m(&["name=db"], false));
        // A key's values are alternatives...
        assert!(m(&["name=db", "name=web"], false));
        assert!(m(&["driver=nfs", "driver=local"], false));
        assert!(!m(&["driver=nfs"], false));
        // ...but every label must hold, and different keys all.
        assert!(m(&["label=env"], false));
        assert!(m(&["label=env=prod"], false));
        assert!(!m(&["label=env=dev"], false));
        assert!(!m(&["label=env", "label=tier"], false));
        assert!(!m(&["name=web", "driver=nfs"], false));
        // `label!` is volume prune's, not volume ls's, as in docker.
        assert!("label!=env".parse::<VolumeFilter>().is_err());
        assert!(m(&["dangling=true"], false));
        assert!(!m(&["dangling=true"], true));
        assert!(m(&["dangling=0"], true));
        assert!(check_filters(&[f("dangling=true"), f("dangling=1")]).is_ok());
        assert!(check_filters(&[f("dangling=true"), f("dangling=false")]).is_err());
        assert!("dangling=maybe".parse::<VolumeFilter>().is_err());
        assert!("colour=red".parse::<VolumeFilter>().is_err());
    }

    #[test]
    fn prune_filters_are_docker_s_label_label_not_and_all() {
        let p = |s: &str| s.parse::<VolumePruneFilter>();
        assert_eq!(p("all=true"), Ok(VolumePruneFilter::All(true)));
        assert_eq!(p("all=1"), Ok(VolumePruneFilter::All(true)));
        assert_eq!(p("all=False"), Ok(VolumePruneFilter::All(false)));
        assert_eq!(
            p("label=a=b"),
            Ok(VolumePruneFilter::Label(PruneFilter::Label(
                "a".into(),
                Some("b".into())
            )))
        );
        assert_eq!(
            p("label!=a"),
            Ok(VolumePruneFilter::Label(PruneFilter::NotLabel(
                "a".into(),
                None
            )))
        );
        for bad in [
            "all=yes",
            "until=1h",
            "name=x",
            "dangling=true",
            "driver=local",
            "all",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_is_whole_or_absent_and_remove_refuses_a_volume_in_use() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let vols = Volumes::open(d.path()).unwrap();
        let containers = Containers::open(d.path()).unwrap();
        let v = vols
            .create(
                &store,
                &NewVolume {
                    name: Some("data".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(v.mountpoint, d.path().join("volumes/data/_data"));
        assert!(v.mountpoint.is_dir());
        let anon = vols.create(&store, &NewVolume::default()).unwrap();
        assert_eq!(anon.name.len(), 64);
        assert_eq!(vols.list().unwrap().len(), 2);
        // Nothing left in tmp/ by a creation.
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
        let rm = |p: &Path| crate::image::store::remove_tree(p).map_err(|e| e.to_string());
        vols.remove("data", &containers, &rm).unwrap();
        assert!(matches!(vols.get("data"), Err(VolumeError::NotFound(_))));
        assert!(matches!(
            vols.remove("data", &containers, &rm),
            Err(VolumeError::NotFound(_))
        ));
        assert!(matches!(
            vols.create(
                &store,
                &NewVolume {
                    name: Some("../x".into()),
                    ..Default::default()
                }
            ),
            Err(VolumeError::BadName(_))
        ));
    }
}
