//! Image operations as the CLI asks for them. Whatever creates, reads or
//! deletes layer files (owned by subordinate ids) runs in a forked child
//! inside burrow's user namespace; listing and tagging touch only burrow's
//! own metadata and run here.

use crate::config::{Config, Paths};
use crate::container::error::{Error, Result};
use crate::container::record::Containers;
use crate::image::archive::{self, LoadReport, SaveFormat, SaveItem};
use crate::image::config::RunConfig;
use crate::image::registry::{self, PullOptions, PullReport, PushOptions, PushReport};
use crate::image::store::{ImageEntry, LayerForm, LayerRecord, Store, UnpackMap};
use crate::image::{Digest, Reference};
use crate::sandbox::userns::{self, IdMap};
use std::path::Path;

/// What every command needs: the configuration and where things live.
pub struct Context {
    pub config: Config,
    pub paths: Paths,
    idmap: std::cell::OnceCell<IdMap>,
    storage_checked: std::cell::OnceCell<()>,
}

/// In the store: the single-id map's warning, as last printed.
const SINGLE_MAP_WARNED: &str = "single-map-warned";
/// In the store: the warning that layers were unpacked under another id
/// map, for the change of map it was printed for.
const OTHER_MAP_WARNED: &str = "other-map-warned";

impl Context {
    pub fn new(config: Config, paths: Paths) -> Context {
        for note in &paths.notes {
            eprintln!("Note: {note}");
        }
        Context {
            config,
            paths,
            idmap: std::cell::OnceCell::new(),
            storage_checked: std::cell::OnceCell::new(),
        }
    }

    /// The id map for this user. When it is the single-id map, says why
    /// once per store (and again if the reason changes), not at every
    /// command: the store remembers what it was told.
    pub fn idmap(&self) -> Result<&IdMap> {
        if let Some(m) = self.idmap.get() {
            return Ok(m);
        }
        let (map, reason) = IdMap::for_current_user()?;
        if let Some(reason) = reason {
            self.warn_once(SINGLE_MAP_WARNED, &reason.to_string());
        }
        Ok(self.idmap.get_or_init(|| map))
    }

    /// Prints `Warning: TEXT` unless the store's file `name` says it was
    /// printed already; then remembers it there (written atomically; a
    /// store that cannot be written to just says it again next time).
    fn warn_once(&self, name: &str, text: &str) {
        self.warn_once_for(name, text, text);
    }

    /// `warn_once` for the situation `key`, whatever the text says of it.
    fn warn_once_for(&self, name: &str, key: &str, text: &str) {
        let _ = self.store();
        let seen = self.paths.storage.join(name);
        if std::fs::read_to_string(&seen).is_ok_and(|t| t == key) {
            return;
        }
        eprintln!("Warning: {text}");
        let tmp = self.paths.storage.join(format!(".{name}.tmp"));
        if std::fs::write(&tmp, key).is_ok() && std::fs::rename(&tmp, &seen).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// The id map layers unpacked now are unpacked under, as a layer's
    /// record keeps it.
    pub fn unpack_map(&self) -> Result<UnpackMap> {
        let m = self.idmap()?;
        let lines =
            |r: &[userns::IdRange]| r.iter().map(|r| [r.inside, r.outside, r.count]).collect();
        Ok(UnpackMap::new(lines(&m.uids), lines(&m.gids)))
    }

    /// The map a layer's files were unpacked under, when it differs from
    /// `now`'s. A layer from before burrow recorded maps counts when this
    /// store once ran under the single-id map and now does not (the
    /// single-id map's warning is remembered in the store).
    fn other_map(&self, record: &LayerRecord, now: &UnpackMap) -> Option<UnpackMap> {
        match &record.unpacked_under {
            Some(m) => (m != now).then(|| m.clone()),
            None if !now.is_single() && self.paths.storage.join(SINGLE_MAP_WARNED).exists() => {
                Some(UnpackMap::new(
                    vec![[0, now.uids[0][1], 1]],
                    vec![[0, now.gids[0][1], 1]],
                ))
            }
            None => None,
        }
    }

    /// Before a run of `image`: says (once per store and change of map)
    /// that its layers were unpacked under another id map, and the fix.
    /// `records` are the image's layers' (`Store::layer_records`).
    pub fn warn_other_map(&self, image: &str, records: &[Option<LayerRecord>]) {
        let Ok(now) = self.unpack_map() else { return };
        let Some(then) = (records.iter().flatten()).find_map(|r| self.other_map(r, &now)) else {
            return;
        };
        let key = format!("{then} -> {now}");
        self.warn_once_for(
            OTHER_MAP_WARNED,
            &key,
            &format!(
                "image {image} was unpacked under {then}, and burrow now runs with {now}: \
                 in its containers, files it gives to users other than root are not theirs; \
                 `burrow system migrate` unpacks such layers again under the current map \
                 (or remove the image with `burrow rmi` and pull or load it again)"
            ),
        );
    }

    /// The store, opened here (metadata only).
    pub fn store(&self) -> Result<Store> {
        let root = self.checked_storage()?;
        Ok(Store::open(root).map_err(crate::image::ImageError::from)?)
    }

    /// The storage root, checked as `store` checks it (its owner, its
    /// file system), without making the store's directories: for a
    /// command that only reads what another one made (`exec` reads a
    /// running container's record and plan), and would find nothing in a
    /// store it made.
    pub fn checked_storage(&self) -> Result<&Path> {
        if self.storage_checked.get().is_none() {
            crate::config::check_storage_owner(&self.paths, rustix::process::geteuid().as_raw())?;
            if let Some(warning) = crate::config::check_storage_fs(&self.config, &self.paths)? {
                eprintln!("Warning: {warning}");
            }
            let _ = self.storage_checked.set(());
        }
        Ok(&self.paths.storage)
    }

    /// Runs `f` with the store inside the user namespace.
    pub fn in_userns<T, F>(&self, f: F) -> Result<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce(&Store) -> Result<T>,
    {
        let map = self.idmap()?.clone();
        // Checked and created out here, so its errors need no round trip.
        drop(self.store()?);
        let root = self.paths.storage.clone();
        // The child's error is rendered there: crate::Error holds io errors
        // and more that do not cross a process boundary.
        userns::run_in_userns(&map, move || {
            let store = Store::open(&root)
                .map_err(|e| render(&Error::from(crate::image::ImageError::from(e))))?;
            f(&store).map_err(|e| render(&e))
        })?
        .map_err(Error::Reported)
    }

    pub fn search_registries(&self) -> &[String] {
        &self.config.registries.search
    }

    pub fn resolve(&self, store: &Store, input: &str) -> Result<ImageEntry> {
        Ok(store
            .resolve(input, &self.config.registries)
            .map_err(crate::image::ImageError::from)?)
    }
}

/// What `system migrate` did.
#[derive(Debug, Default)]
pub struct MigrateReport {
    /// The map the layers are now unpacked under.
    pub map: String,
    /// Layers unpacked again.
    pub layers: usize,
    /// The images (their names, else short ids) whose layers they were.
    pub images: Vec<String>,
    /// Layers left as they were, each with why.
    pub left: Vec<String>,
}

/// `system migrate`: unpacks again, under the current id map, every layer
/// unpacked under another (a user who gained subordinate ids, or whose
/// ranges changed). Each layer is replaced in one step (a killed migrate
/// leaves each layer old or new, whole); layers under a running container
/// are left, with why. Nothing to do: nothing is touched.
pub fn migrate(ctx: &Context) -> Result<MigrateReport> {
    let now = ctx.unpack_map()?;
    let store = ctx.store()?;
    let images = store.images().map_err(img)?;
    let mut report = MigrateReport {
        map: now.to_string(),
        ..MigrateReport::default()
    };
    let mut stale = std::collections::BTreeSet::new();
    for e in &images {
        let mine: Vec<Digest> = (e.record.layers.iter())
            .filter(|l| {
                (store.layer_record(l).ok()).is_some_and(|r| ctx.other_map(&r, &now).is_some())
            })
            .cloned()
            .collect();
        if !mine.is_empty() {
            report.images.push(
                (e.names.first().cloned()).unwrap_or_else(|| e.record.id.hex()[..12].to_string()),
            );
        }
        stale.extend(mine);
    }
    // A running container's overlay reads these very directories.
    let running = crate::container::list(ctx, false)?;
    let mut busy = std::collections::BTreeMap::new();
    for (r, _) in &running {
        if let Ok(image) = store.image(&r.image_id) {
            for l in image.layers {
                busy.entry(l).or_insert_with(|| r.name.clone());
            }
        }
    }
    let mut todo = Vec::new();
    for l in stale {
        match busy.get(&l) {
            Some(name) => report.left.push(format!(
                "layer {} is in use by the running container {name}: stop it and migrate again",
                &l.hex()[..12]
            )),
            None => todo.push(l),
        }
    }
    if todo.is_empty() {
        return Ok(report);
    }
    let tried = todo.len();
    let failed: Vec<String> = ctx.in_userns(move |store| {
        let _lock = store.lock_exclusive().map_err(img)?;
        Ok(todo
            .iter()
            .filter_map(|l| {
                archive::reunpack(store, l)
                    .err()
                    .map(|e| format!("layer {}: {e}", &l.hex()[..12]))
            })
            .collect())
    })?;
    report.layers = tried - failed.len();
    report.left.extend(failed);
    if report.left.is_empty() {
        let _ = std::fs::remove_file(ctx.paths.storage.join(OTHER_MAP_WARNED));
    }
    Ok(report)
}

/// The unpacked trees of an image's `layers` that a container whose user
/// namespace has the id map `map` stacks: those made under burrow's own
/// map, or, for a single-id map when burrow's own has subordinate ids
/// (`--userns emulate`), the layers' single-id forms, made here the first
/// time they are needed (inside the user namespace, under the store's
/// shared lock). A container made with them keeps its image, and so them,
/// until it is removed.
pub fn layer_dirs_for(
    ctx: &Context,
    store: &Store,
    layers: &[Digest],
    records: &[Option<LayerRecord>],
    map: &IdMap,
) -> Result<Vec<std::path::PathBuf>> {
    let visible = crate::image::store::visible_of(layers, records);
    if !map.is_single() || ctx.idmap()?.is_single() {
        return Ok(store.layer_dirs_of(visible, LayerForm::OwnMap));
    }
    let missing: Vec<Digest> = (visible.iter())
        .filter(|l| !store.has_single_id_layer(l))
        .cloned()
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "Note: unpacking {} layer{} again in the single-id form (every file yours, owners \
             recorded) for this container's map; once per layer",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" }
        );
        ctx.in_userns(move |store| {
            let _lock = store.lock_shared().map_err(img)?;
            for l in &missing {
                store.add_single_id_layer(l).map_err(img)?;
            }
            Ok(())
        })?;
    }
    Ok(store.layer_dirs_of(visible, LayerForm::SingleId))
}

fn render(e: &Error) -> String {
    e.to_string()
}

fn img<E: Into<crate::image::ImageError>>(e: E) -> Error {
    Error::Image(e.into())
}

/// Prints what unpacking had to say, once each, to stderr. With a
/// single-id map every owner is squashed, which the map's own warning
/// already said; per-file notes are kept for owners beyond a full map.
pub fn print_notes(ctx: &Context, report: &LoadReport) {
    let single = ctx.idmap().map(|m| m.is_single()).unwrap_or(false);
    for note in &report.notes {
        if single && note.contains("squashed") {
            continue;
        }
        eprintln!("Note: {note}");
    }
    if single && report.squashed > 0 {
        let n = report.squashed;
        eprintln!(
            "Note: {n} file{} owned by other ids now belong to root (you), as the single-id map allows",
            if n == 1 { "" } else { "s" }
        );
    }
}

/// `load`: from a file or directory, or (`None`) from standard input,
/// which is kept in the cache directory while it is read (a docker-archive
/// names its manifest last, so the stream is read whole first).
pub fn load(ctx: &Context, input: Option<&Path>) -> Result<LoadReport> {
    let Some(input) = input else {
        std::fs::create_dir_all(&ctx.paths.cache)
            .map_err(|e| Error::Usage(format!("{}: {e}", ctx.paths.cache.display())))?;
        let mut tmp = tempfile_in(&ctx.paths.cache)?;
        std::io::copy(&mut std::io::stdin().lock(), &mut tmp.1).map_err(|e| {
            Error::Usage(format!(
                "reading standard input into {}: {e}",
                tmp.0.display()
            ))
        })?;
        drop(tmp.1);
        let path = tmp.0.clone();
        let loaded = ctx.in_userns(move |store| archive::load(store, &path).map_err(img));
        let _ = std::fs::remove_file(&tmp.0);
        return loaded;
    };
    let input = absolute(input)?;
    ctx.in_userns(move |store| archive::load(store, &input).map_err(img))
}

/// A new private file in `dir`: its path and the open file.
fn tempfile_in(dir: &Path) -> Result<(std::path::PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    for n in 0..100u32 {
        let path = dir.join(format!("load-{}-{n}.tar", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::Usage(format!("{}: {e}", path.display()))),
        }
    }
    Err(Error::Usage(format!(
        "no free temporary name in {}",
        dir.display()
    )))
}

pub fn import(
    ctx: &Context,
    input: &Path,
    name: Option<&str>,
    message: Option<&str>,
    run_config: RunConfig,
) -> Result<LoadReport> {
    let name = name
        .map(|n| Reference::parse_in(n, "localhost"))
        .transpose()
        .map_err(img)?;
    let input = if input == Path::new("-") {
        input.to_path_buf()
    } else {
        absolute(input)?
    };
    ctx.in_userns(move |store| {
        archive::import(store, &input, name.as_ref(), message, run_config).map_err(img)
    })
}

/// `save`: to a file or directory, or (`None`) to standard output.
pub fn save(
    ctx: &Context,
    images: &[String],
    format: SaveFormat,
    out: Option<&Path>,
) -> Result<()> {
    let store = ctx.store()?;
    let mut items = Vec::new();
    for input in images {
        let entry = ctx.resolve(&store, input)?;
        // Saving by name records that name; by id, every name it has.
        let search = ctx.search_registries();
        let names = match entry.names.iter().find(|n| name_matches(input, n, search)) {
            Some(n) => vec![n.clone()],
            None => entry.names.clone(),
        };
        items.push(SaveItem {
            id: entry.record.id.clone(),
            names,
        });
    }
    let Some(out) = out else {
        return ctx.in_userns(move |store| {
            archive::save_to(store, &items, format, std::io::stdout().lock()).map_err(img)
        });
    };
    let out = absolute(out)?;
    ctx.in_userns(move |store| archive::save(store, &items, format, &out).map_err(img))
}

fn looks_like_id(input: &str, id: &Digest) -> bool {
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    hex.len() >= 3 && id.hex().starts_with(hex)
}

/// The images `images` lists: build steps' intermediate images left out.
pub fn list(ctx: &Context) -> Result<Vec<ImageEntry>> {
    let mut all = ctx.store()?.images().map_err(img)?;
    all.retain(|e| !e.record.intermediate || !e.names.is_empty());
    Ok(all)
}

/// `images [-a] [--filter ...] [REPOSITORY[:TAG]]`: the images that pass
/// every filter (`all` keeps build steps' intermediate images), each with
/// only the names a `reference` filter matched, as docker lists them.
pub fn list_matching(
    ctx: &Context,
    all: bool,
    filters: &[super::filter::ImageFilter],
) -> Result<Vec<ImageEntry>> {
    use super::filter::{image_matches, reference_matches, ImageFilter, ImageSeen};
    let store = ctx.store()?;
    let mut images = store.images().map_err(img)?;
    if !all {
        images.retain(|e| !e.record.intermediate || !e.names.is_empty());
    }
    if filters.is_empty() {
        return Ok(images);
    }
    let created = |id: &Digest| {
        store
            .config(id)
            .ok()
            .and_then(|(c, _)| c.created)
            .and_then(|c| crate::time::parse_rfc3339_nanos(&c))
    };
    let created_of = |name: &str| {
        ctx.resolve(&store, name)
            .ok()
            .and_then(|e| created(&e.record.id))
    };
    let patterns: Vec<&str> = filters
        .iter()
        .filter_map(|f| match f {
            ImageFilter::Reference(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for mut e in images {
        let config = store.config(&e.record.id).ok().map(|(c, _)| c);
        let labels = config
            .as_ref()
            .and_then(|c| c.config.as_ref())
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let seen = ImageSeen {
            names: &e.names,
            labels: &labels,
            created: config
                .as_ref()
                .and_then(|c| c.created.as_deref())
                .and_then(crate::time::parse_rfc3339_nanos),
        };
        if !image_matches(filters, &seen, &created_of) {
            continue;
        }
        if !patterns.is_empty() {
            e.names
                .retain(|n| patterns.iter().any(|p| reference_matches(p, n)));
        }
        out.push(e);
    }
    Ok(out)
}

pub fn tag(ctx: &Context, source: &str, targets: &[String]) -> Result<()> {
    let store = ctx.store()?;
    let entry = ctx.resolve(&store, source)?;
    for t in targets {
        let r = Reference::parse_in(t, "localhost").map_err(img)?;
        store.tag(&entry.record.id, &r).map_err(img)?;
        image_event(ctx, "tag", &entry.record.id, &r.to_string());
    }
    Ok(())
}

/// One line of `rmi` output.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Removed {
    /// A name, and the image it named.
    Untagged(String, Digest),
    Deleted(Digest),
}

/// What `rmi` did, and what it refused because containers use the image
/// (docker's wording, one message per image refused).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RemoveReport {
    pub removed: Vec<Removed>,
    pub conflicts: Vec<String>,
}

/// The containers made from an image, running ones first, as
/// (short id, running).
fn users_of(containers: &Containers, id: &Digest) -> Result<Vec<(String, bool)>> {
    // Every record says its image (a damaged one too); whether its
    // container runs is read without waiting, under the containers' lock
    // (see `Containers::records_alone`).
    let mut users: Vec<(String, bool)> = containers
        .records_alone()?
        .into_iter()
        .filter(|r| &r.image_id == id)
        .map(|r| {
            let short = r.id.get(..12).unwrap_or(&r.id).to_string();
            let running = containers.running_now(&r.id);
            (short, running)
        })
        .collect();
    users.sort_by_key(|(_, running)| !running);
    Ok(users)
}

/// How `rmi` was asked to remove one image.
enum Asked<'a> {
    /// By one of its names: that name goes (none when named by a digest
    /// reference).
    Name(&'a str, Option<String>),
    /// By id (or `--all`): every name goes, and the image.
    Id { several_names_ok: bool },
}

/// Removes one image as docker's `rmi` does. An image that containers use
/// is refused unless `force`; with `force` its names go but the image (and
/// so its layers) stays while a container uses it, and is removed with
/// `rmi ID` or `image prune` once none does. An image a running container
/// uses cannot be removed by id even with `force`.
fn remove_one(
    store: &Store,
    containers: &Containers,
    entry: &ImageEntry,
    asked: Asked,
    force: bool,
    report: &mut RemoveReport,
) -> Result<()> {
    let id = &entry.record.id;
    let users = users_of(containers, id)?;
    let names_to_drop = match asked {
        Asked::Name(input, name) => {
            let last = entry.names.len() <= usize::from(name.is_some());
            if let Some((ctr, _)) = users.first().filter(|_| !force && last) {
                report.conflicts.push(format!(
                    "conflict: unable to remove repository reference {input:?} (must force) - \
                     container {ctr} is using its referenced image {}",
                    id.short()
                ));
                return Ok(());
            }
            name.into_iter().collect()
        }
        Asked::Id { several_names_ok } => {
            if let Some((ctr, _)) = users.iter().find(|(_, running)| *running) {
                report.conflicts.push(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by \
                     running container {ctr}",
                    id.short()
                ));
                return Ok(());
            }
            if entry.names.len() > 1 && !force && !several_names_ok {
                return Err(img(crate::image::store::StoreError::MultipleNames {
                    id: id.short().to_string(),
                    names: entry.names.join(", "),
                }));
            }
            if let Some((ctr, _)) = users.first().filter(|_| !force) {
                report.conflicts.push(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by \
                     stopped container {ctr}",
                    id.short()
                ));
                return Ok(());
            }
            entry.names.clone()
        }
    };
    for n in &names_to_drop {
        store.untag(n).map_err(img)?;
        report
            .removed
            .push(Removed::Untagged(n.clone(), id.clone()));
    }
    if entry.names.len() == names_to_drop.len() && users.is_empty() {
        store.remove_image(id).map_err(img)?;
        report.removed.push(Removed::Deleted(id.clone()));
    }
    Ok(())
}

/// `rmi`: a name removes that name, and the image with its last name; an
/// id removes the image, which needs `force` when it has several names.
/// With `all`, every image, as by id. Images in use are refused (see
/// `remove_one`); the others are removed all the same.
pub fn remove(ctx: &Context, inputs: &[String], force: bool, all: bool) -> Result<RemoveReport> {
    let report = remove_in_userns(ctx, inputs, force, all)?;
    for r in &report.removed {
        match r {
            // As docker's: about the image, the name an attribute.
            Removed::Untagged(name, id) => image_event(ctx, "untag", id, name),
            Removed::Deleted(id) => image_event(ctx, "delete", id, ""),
        }
    }
    Ok(report)
}

fn remove_in_userns(
    ctx: &Context,
    inputs: &[String],
    force: bool,
    all: bool,
) -> Result<RemoveReport> {
    let search = ctx.search_registries().to_vec();
    let registries = ctx.config.registries.clone();
    let inputs = inputs.to_vec();
    ctx.in_userns(move |store| {
        let _lock = store.lock_exclusive().map_err(img)?;
        let containers = Containers::open(store.root())?;
        // No container is made from an image while it is judged unused.
        let _made = containers.lock()?;
        let mut report = RemoveReport::default();
        if all {
            for entry in store.images().map_err(img)? {
                let asked = Asked::Id {
                    several_names_ok: true,
                };
                remove_one(store, &containers, &entry, asked, force, &mut report)?;
            }
            return Ok(report);
        }
        for input in &inputs {
            // A name that is not here is reported; the others go, as docker's.
            let entry = match store.resolve(input, &registries) {
                Ok(e) => e,
                Err(e @ crate::image::store::StoreError::NoSuchImage(_)) => {
                    report.conflicts.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(img(e)),
            };
            let named = entry
                .names
                .iter()
                .find(|n| name_matches(input, n, &search))
                .cloned();
            let asked = if named.is_none() && looks_like_id(input, &entry.record.id) {
                Asked::Id {
                    several_names_ok: false,
                }
            } else {
                Asked::Name(input, named)
            };
            remove_one(store, &containers, &entry, asked, force, &mut report)?;
        }
        Ok(report)
    })
}

fn name_matches(input: &str, name: &str, search: &[String]) -> bool {
    let mut all: Vec<Reference> = std::iter::once("localhost")
        .chain(search.iter().map(String::as_str))
        .filter_map(|r| Reference::parse_in(input, r).ok())
        .collect();
    if let Ok(r) = Reference::parse(input) {
        all.push(r);
    }
    all.iter().any(|r| r.to_string() == name)
}

/// Removes images with no name (or, with `all`, every image) and what only
/// they used; images that containers use, running or stopped, are kept.
pub fn prune(
    ctx: &Context,
    all: bool,
    filters: &[super::filter::PruneFilter],
) -> Result<Vec<Digest>> {
    let removed: Vec<Digest> = prune_in_userns(ctx, all, filters.to_vec())?;
    for id in &removed {
        image_event(ctx, "delete", id, "");
    }
    Ok(removed)
}

fn prune_in_userns(
    ctx: &Context,
    all: bool,
    filters: Vec<super::filter::PruneFilter>,
) -> Result<Vec<Digest>> {
    ctx.in_userns(move |store| {
        let _lock = store.lock_exclusive().map_err(img)?;
        let containers = Containers::open(store.root())?;
        let _made = containers.lock()?;
        let used: std::collections::BTreeSet<Digest> = containers
            .records_alone()?
            .into_iter()
            .map(|r| r.image_id)
            .collect();
        let mut removed = Vec::new();
        for entry in store.images().map_err(img)? {
            // The image's creation and labels, from its config, only when
            // a filter asks.
            let judged = || {
                if filters.is_empty() {
                    return true;
                }
                let config = store.config(&entry.record.id).ok().map(|(c, _)| c);
                let created = config
                    .as_ref()
                    .and_then(|c| c.created.as_deref())
                    .and_then(crate::time::parse_rfc3339_nanos)
                    .and_then(|n| u64::try_from(n).ok());
                let labels = config
                    .and_then(|c| c.config)
                    .and_then(|c| c.labels)
                    .unwrap_or_default();
                super::filter::prune_matches(&filters, created, &labels)
            };
            // A build step's unnamed image is the build cache's: freed by
            // `builder prune` (or `image prune --build-cache`), as docker
            // keeps its build cache apart from its images.
            let cache = entry.record.intermediate && entry.names.is_empty();
            if (all || entry.names.is_empty())
                && !cache
                && !used.contains(&entry.record.id)
                && judged()
            {
                for n in &entry.names {
                    store.untag(n).map_err(img)?;
                }
                store.remove_image(&entry.record.id).map_err(img)?;
                removed.push(entry.record.id);
            }
        }
        Ok(removed)
    })
}

/// Removes all of burrow's storage.
pub fn reset(ctx: &Context) -> Result<()> {
    ctx.in_userns(|store| {
        let root = store.root().to_path_buf();
        Store::open(&root).and_then(|s| s.reset()).map_err(img)
    })
}

/// `image inspect`: docker's shape.
/// The images built on `id` (its descendants, as `ps --filter ancestor=`
/// takes them): those whose layers and history begin with all of its own,
/// so an image merely sharing a base is not one. `id` itself is not listed.
pub fn descendants(store: &Store, id: &Digest) -> Vec<Digest> {
    let steps = |c: &crate::image::config::ImageConfig| -> Vec<(Option<String>, Option<String>)> {
        c.history
            .iter()
            .map(|h| (h.created.clone(), h.created_by.clone()))
            .collect()
    };
    let (Ok(base), Ok((base_config, _))) = (store.image(id), store.config(id)) else {
        return Vec::new();
    };
    let base_steps = steps(&base_config);
    store
        .images()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.record.id != *id && e.record.layers.starts_with(&base.layers))
        .filter(|e| {
            store.config(&e.record.id).is_ok_and(|(c, _)| {
                let own = steps(&c);
                own.len() > base_steps.len() && own.starts_with(&base_steps)
            })
        })
        .map(|e| e.record.id)
        .collect()
}

pub fn inspect(ctx: &Context, inputs: &[String]) -> Result<Vec<serde_json::Value>> {
    let store = ctx.store()?;
    let mut out = Vec::new();
    for input in inputs {
        let entry = ctx.resolve(&store, input)?;
        let (config, _) = store.config(&entry.record.id).map_err(img)?;
        out.push(serde_json::json!({
            "Id": entry.record.id.to_string(),
            "Digest": entry.record.manifest_digest.as_ref().map(|d| d.to_string()),
            "RepoTags": entry.names,
            "RepoDigests": entry.record.repo_digests,
            "Created": config.created,
            "Author": config.author,
            "Architecture": config.architecture,
            "Os": config.os,
            "Variant": config.variant,
            "Config": config.config.unwrap_or_default(),
            "RootFS": {"Type": config.rootfs.kind, "Layers": config.rootfs.diff_ids},
            "Size": entry.record.size,
            "History": config.history,
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "LowerDirs": store.image_layer_dirs(&entry.record.layers).iter().rev()
                        .map(|d| d.display().to_string()).collect::<Vec<_>>(),
                },
            },
        }));
    }
    Ok(out)
}

fn absolute(p: &Path) -> Result<std::path::PathBuf> {
    std::path::absolute(p).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))
}

/// What the registry client needs from this user's configuration:
/// `tls_verify` is the command's `--tls-verify`, if given.
pub fn registry_settings(ctx: &Context, tls_verify: Option<bool>) -> registry::Settings {
    let auth = registry::auth::AuthFiles::for_user();
    let config_dir = auth.own().and_then(Path::parent).map(Path::to_path_buf);
    registry::Settings {
        registries: ctx.config.registries.clone(),
        tls_verify,
        certs_dirs: registry::Settings::default_certs_dirs(config_dir.as_deref()),
        auth,
        blob_cache: Some(ctx.paths.cache.join("blob-digests.json")),
    }
}

/// `search TERM` or `search REGISTRY/TERM`: repositories from the
/// registry's catalog, else from each of `registries.search`. A registry
/// that cannot be searched is a warning while another answers.
pub fn search(
    ctx: &Context,
    term: &str,
    limit: usize,
    tls_verify: Option<bool>,
) -> Result<Vec<registry::search::Found>> {
    let settings = registry_settings(ctx, tls_verify);
    let named = term
        .split_once('/')
        .filter(|(host, _)| host.contains('.') || host.contains(':') || *host == "localhost");
    if let Some((host, rest)) = named {
        return registry::search::search(&settings, host, rest, limit)
            .map_err(|e| crate::image::ImageError::from(e).into());
    }
    let mut found = Vec::new();
    let mut last_error = None;
    for reg in &ctx.config.registries.search {
        match registry::search::search(&settings, reg, term, limit) {
            Ok(f) => found.extend(f),
            Err(e) => {
                eprintln!("Warning: {e}");
                last_error = Some(e);
            }
        }
    }
    match last_error {
        Some(e) if found.is_empty() => Err(crate::image::ImageError::from(e).into()),
        _ => {
            found.truncate(limit);
            Ok(found)
        }
    }
}

/// Pulls `reference` (a full reference or a short name) into the store.
/// `burrow run` calls this for an image it does not have.
pub fn pull(
    ctx: &Context,
    reference: &str,
    opts: &PullOptions,
    tls_verify: Option<bool>,
) -> Result<PullReport> {
    let settings = registry_settings(ctx, tls_verify);
    let reference = reference.to_string();
    let opts = opts.clone();
    let report: PullReport = ctx
        .in_userns(move |store| registry::pull(store, &settings, &reference, &opts).map_err(img))?;
    image_event(ctx, "pull", &report.id, &report.reference);
    Ok(report)
}

/// The digest of the manifest the registry holds for `reference` now
/// (what a pull would fetch), without fetching a blob.
pub fn remote_digest(ctx: &Context, reference: &str, tls_verify: Option<bool>) -> Result<Digest> {
    let settings = registry_settings(ctx, tls_verify);
    let reference = reference.to_string();
    ctx.in_userns(move |_| registry::remote_digest(&settings, &reference, None).map_err(img))
}

/// Records an image event (`pull`, `tag`, `untag`, `delete`).
fn image_event(ctx: &Context, action: &str, id: &Digest, name: &str) {
    super::events::record(
        &ctx.paths.storage,
        super::events::Event::new("image", action, &id.to_string(), &[("name", name)]),
    );
}

/// Pushes `image` to `dest`, or to the name `image` was given by.
pub fn push(
    ctx: &Context,
    image: &str,
    dest: Option<&str>,
    opts: &PushOptions,
    tls_verify: Option<bool>,
) -> Result<PushReport> {
    let store = ctx.store()?;
    let entry = ctx.resolve(&store, image)?;
    let dest = match dest {
        Some(d) => d.strip_prefix("docker://").unwrap_or(d).to_string(),
        None => match entry
            .names
            .iter()
            .find(|n| name_matches(image, n, ctx.search_registries()))
            .or(if entry.names.len() == 1 {
                entry.names.first()
            } else {
                None
            }) {
            Some(n) => n.clone(),
            None => {
                return Err(Error::Usage(format!(
                    "{image} has no single name to push to; give a destination: burrow push {image} REGISTRY/REPOSITORY:TAG"
                )))
            }
        },
    };
    let dest = Reference::parse(&dest).map_err(img)?;
    let settings = registry_settings(ctx, tls_verify);
    let id = entry.record.id.clone();
    let opts = opts.clone();
    ctx.in_userns(move |store| registry::push(store, &settings, &id, &dest, &opts).map_err(img))
}

/// Checks the credentials against the registry, then records them in
/// burrow's auth file; returns that file.
pub fn login(
    ctx: &Context,
    registry_name: &str,
    username: &str,
    password: &str,
    tls_verify: Option<bool>,
) -> Result<std::path::PathBuf> {
    let key = registry::registry_key(registry_name).map_err(img)?;
    let settings = registry_settings(ctx, tls_verify);
    registry::login(&settings, &key, username, password).map_err(img)
}

/// Removes the credentials for a registry from burrow's auth file.
pub fn logout(ctx: &Context, registry_name: &str) -> Result<()> {
    let key = registry::registry_key(registry_name).map_err(img)?;
    let settings = registry_settings(ctx, None);
    let auth_err = |e| img(registry::RegistryError::Auth(e));
    if settings.auth.remove(&key).map_err(auth_err)? {
        return Ok(());
    }
    match settings.auth.lookup(&key).map_err(auth_err)? {
        Some(c) => Err(Error::Usage(format!(
            "not logged in to {key} with burrow; the credentials for it in {} belong to another tool and are left alone",
            c.source.display()
        ))),
        None => Err(Error::Usage(format!("not logged in to {key}"))),
    }
}

/// Whether `input` names an image in the store (`image exists`).
pub fn exists(ctx: &Context, input: &str) -> Result<bool> {
    let store = ctx.store()?;
    Ok(ctx.resolve(&store, input).is_ok())
}

/// `history`: the image's build steps, newest first, as docker's template
/// fields (`ID`, `CreatedSince`, `CreatedAt`, `CreatedBy`, `Size`,
/// `Comment`); the id shows on the newest step only, `<missing>` on the
/// rest, as docker shows a pulled image's.
pub fn history(ctx: &Context, input: &str, now: u64) -> Result<Vec<serde_json::Value>> {
    let store = ctx.store()?;
    let entry = ctx.resolve(&store, input)?;
    let (config, _) = store.config(&entry.record.id).map_err(img)?;
    let mut layers = entry.record.layers.iter();
    let mut rows = Vec::new();
    for h in &config.history {
        let size = if h.empty_layer {
            0
        } else {
            layers
                .next()
                .and_then(|d| store.layer_record(d).ok())
                .map_or(0, |l| l.size)
        };
        let created = h.created.clone().unwrap_or_default();
        rows.push(serde_json::json!({
            "ID": "<missing>",
            "CreatedSince": crate::time::ago(&created, now),
            // docker's history shows RFC 3339 to the second here.
            "CreatedAt": crate::time::parse_rfc3339(&created)
                .map_or_else(|| created.clone(), crate::time::rfc3339),
            "CreatedBy": h.created_by.clone().unwrap_or_default(),
            "Size": size,
            "Comment": h.comment.clone().unwrap_or_default(),
        }));
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top["ID"] = entry.record.id.to_string().into();
    }
    Ok(rows)
}

/// `image tree`: an image's layers, base first, as podman's `image tree`
/// shows them.
#[derive(Debug, Clone)]
pub struct ImageTree {
    pub id: Digest,
    pub names: Vec<String>,
    pub size: u64,
    pub layers: Vec<TreeLayer>,
}

#[derive(Debug, Clone)]
pub struct TreeLayer {
    pub diff_id: Digest,
    pub size: u64,
    /// The history step that made it, when the config says.
    pub created_by: Option<String>,
    /// Images (by their names, else their short ids) whose top layer this is.
    pub top_of: Vec<String>,
}

pub fn tree(ctx: &Context, image: &str) -> Result<ImageTree> {
    let store = ctx.store()?;
    let entry = ctx.resolve(&store, image)?;
    let steps: Vec<Option<String>> = store
        .config(&entry.record.id)
        .map(|(c, _)| {
            c.history
                .into_iter()
                .filter(|h| !h.empty_layer)
                .map(|h| h.created_by)
                .collect()
        })
        .unwrap_or_default();
    let all = store.images().map_err(img)?;
    let layers = entry
        .record
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| TreeLayer {
            diff_id: l.clone(),
            size: store.layer_record(l).map_or(0, |r| r.size),
            created_by: steps.get(i).cloned().flatten(),
            top_of: all
                .iter()
                .filter(|e| e.record.layers.last() == Some(l))
                .flat_map(|e| {
                    if e.names.is_empty() {
                        vec![e.record.id.short().to_string()]
                    } else {
                        e.names.clone()
                    }
                })
                .collect(),
        })
        .collect();
    Ok(ImageTree {
        id: entry.record.id.clone(),
        names: entry.names.clone(),
        size: entry.record.size,
        layers,
    })
}

/// What `images` and `system df -v` show of an image beyond its size, as
/// docker names it: `SharedSize` (bytes of its layers another image has
/// too), `UniqueSize` (bytes of the layers only it has) and `Containers`
/// (how many containers use it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageUse {
    pub shared: u64,
    pub unique: u64,
    pub containers: usize,
}

/// `ImageUse` of every image of `images` (id and layers), judged against
/// each other: `size` gives a layer's bytes, `used_by` the image id of
/// each container.
pub fn judge_use(
    images: &[(Digest, Vec<Digest>)],
    size: &dyn Fn(&Digest) -> u64,
    used_by: &[Digest],
) -> std::collections::BTreeMap<Digest, ImageUse> {
    let mut holders: std::collections::BTreeMap<&Digest, std::collections::BTreeSet<&Digest>> =
        Default::default();
    for (id, layers) in images {
        for l in layers {
            holders.entry(l).or_default().insert(id);
        }
    }
    images
        .iter()
        .map(|(id, layers)| {
            let mut u = ImageUse {
                containers: used_by.iter().filter(|c| *c == id).count(),
                ..ImageUse::default()
            };
            let mut seen = std::collections::BTreeSet::new();
            for l in layers.iter().filter(|l| seen.insert(*l)) {
                if holders.get(l).is_some_and(|h| h.len() > 1) {
                    u.shared += size(l);
                } else {
                    u.unique += size(l);
                }
            }
            (id.clone(), u)
        })
        .collect()
}

/// `judge_use` over the store's images (build steps' too: their layers
/// are shared) and containers; a layer counts with what its single-id
/// form writes of its own (`Store::counted_bytes`).
pub fn image_use(ctx: &Context) -> Result<std::collections::BTreeMap<Digest, ImageUse>> {
    let store = ctx.store()?;
    let images: Vec<(Digest, Vec<Digest>)> = store
        .images()
        .map_err(img)?
        .into_iter()
        .map(|e| (e.record.id, e.record.layers))
        .collect();
    let used_by: Vec<Digest> = Containers::open(store.root())?
        .list()?
        .into_iter()
        .map(|(r, _)| r.image_id)
        .collect();
    let size = |l: &Digest| store.counted_bytes(l);
    Ok(judge_use(&images, &size, &used_by))
}

/// `system df`'s image line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImagesDiskUse {
    pub count: usize,
    /// Images a container uses.
    pub active: usize,
    /// Bytes of their layers, each layer once, with the files a layer's
    /// single-id form (`--userns emulate`) has of its own.
    pub size: u64,
    /// Bytes of the layers no image in use has: what `image prune -a`
    /// would free.
    pub reclaimable: u64,
}

/// `system df`'s image line: the listed images (named, or not a build
/// step's).
pub fn disk_use(ctx: &Context) -> Result<ImagesDiskUse> {
    let store = ctx.store()?;
    let images = list(ctx)?;
    let used: std::collections::BTreeSet<Digest> = Containers::open(store.root())?
        .list()?
        .into_iter()
        .map(|(r, _)| r.image_id)
        .collect();
    let in_use: std::collections::BTreeSet<&Digest> = images
        .iter()
        .filter(|e| used.contains(&e.record.id))
        .flat_map(|e| &e.record.layers)
        .collect();
    let mut u = ImagesDiskUse {
        count: images.len(),
        active: images
            .iter()
            .filter(|e| used.contains(&e.record.id))
            .count(),
        ..ImagesDiskUse::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    for e in &images {
        for l in &e.record.layers {
            if seen.insert(l.clone()) {
                let size = store.counted_bytes(l);
                u.size += size;
                if !in_use.contains(l) {
                    u.reclaimable += size;
                }
            }
        }
    }
    Ok(u)
}

#[cfg(test)]
mod use_tests {
    use super::*;

    fn d(n: u8) -> Digest {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .expect("digest")
    }

    #[test]
    fn shared_and_unique_sizes_count_layers_other_images_hold() {
        // a: base + own; b: base + own2; c: nothing shared.
        let images = vec![
            (d(1), vec![d(10), d(11)]),
            (d(2), vec![d(10), d(12)]),
            (d(3), vec![d(13), d(13)]),
        ];
        let size = |l: &Digest| match l {
            l if *l == d(10) => 100,
            l if *l == d(11) => 5,
            l if *l == d(12) => 7,
            _ => 1000,
        };
        let u = judge_use(&images, &size, &[d(1), d(1), d(3)]);
        assert_eq!(
            u[&d(1)],
            ImageUse {
                shared: 100,
                unique: 5,
                containers: 2
            }
        );
        assert_eq!(
            u[&d(2)],
            ImageUse {
                shared: 100,
                unique: 7,
                containers: 0
            }
        );
        // A layer listed twice by one image is one layer, not shared.
        assert_eq!(
            u[&d(3)],
            ImageUse {
                shared: 0,
                unique: 1000,
                containers: 1
            }
        );
    }
}
