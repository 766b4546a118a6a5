//! Image archives: a flat rootfs tarball (`import`), docker-archive and OCI
//! layouts (`load`), and writing both (`save`). Archives are read in place
//! (a tar is indexed, then each member read at its offset), layers are
//! unpacked in parallel, and nothing is written outside the store except the
//! file `save` was asked to write.

use super::config::{History, ImageConfig, RootFs, RunConfig};
use super::digest::{Digest, HashingWriter};
use super::reference::Reference;
use super::store::{self, AddedLayer, Store, StoreError};
use super::tar::{self, EntryKind, IndexEntry, TarWriter};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path} is not an image archive burrow knows: {detail}")]
    UnknownFormat { path: PathBuf, detail: String },
    #[error("{0} is empty: import takes a tarball of a root filesystem")]
    EmptyImport(PathBuf),
    #[error("{path}: {member} is missing from the archive")]
    Missing { path: PathBuf, member: String },
    #[error("{path}: invalid {member}: {detail}")]
    Invalid {
        path: PathBuf,
        member: String,
        detail: String,
    },
    #[error("{path}: the image has {layers} layers but its config lists {diff_ids} diff ids")]
    LayerCount {
        path: PathBuf,
        layers: usize,
        diff_ids: usize,
    },
    #[error("{path}: no image for {wanted} in the index (it has: {available})")]
    NoPlatform {
        path: PathBuf,
        wanted: String,
        available: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tar(#[from] tar::TarError),
    #[error(transparent)]
    Reference(#[from] super::reference::ReferenceError),
}

type Result<T, E = ArchiveError> = std::result::Result<T, E>;

/// What a load or import did, for the CLI to print.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    pub images: Vec<LoadedImage>,
    /// Things skipped or changed while unpacking (device nodes, squashed
    /// owners), each once.
    pub notes: Vec<String>,
    /// Entries whose owner was outside the id map.
    pub squashed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadedImage {
    pub id: Digest,
    pub names: Vec<String>,
}

/// Where archive members come from: a directory, or a tar read in place.
enum Source {
    Dir(PathBuf),
    Tar {
        path: PathBuf,
        file: File,
        members: HashMap<String, IndexEntry>,
    },
}

/// A reader of `len` bytes at `offset` of a shared file, so several layers
/// of one tar can be read at once.
struct Slice<'a> {
    file: &'a File,
    offset: u64,
    left: u64,
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.left as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside a member",
            ));
        }
        self.offset += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

impl Source {
    fn open(path: &Path) -> Result<Source> {
        let meta = fs::metadata(path).map_err(|source| ArchiveError::Io {
            what: "opening",
            path: path.into(),
            source,
        })?;
        if meta.is_dir() {
            return Ok(Source::Dir(path.to_path_buf()));
        }
        let file = File::open(path).map_err(|source| ArchiveError::Io {
            what: "opening",
            path: path.into(),
            source,
        })?;
        let mut head = [0u8; 4];
        let n = file.read_at(&mut head, 0).unwrap_or(0);
        if super::compress::Compression::sniff(&head[..n]) != super::compress::Compression::None {
            return Err(ArchiveError::UnknownFormat {
                path: path.into(),
                detail:
                    "it is compressed; decompress it first (docker save and skopeo write plain tar)"
                        .into(),
            });
        }
        let members = tar::index(&file)?
            .into_iter()
            .map(|e| (e.path.clone(), e))
            .collect();
        Ok(Source::Tar {
            path: path.to_path_buf(),
            file,
            members,
        })
    }

    fn path(&self) -> &Path {
        match self {
            Source::Dir(p) => p,
            Source::Tar { path, .. } => path,
        }
    }

    fn has(&self, member: &str) -> bool {
        match self {
            Source::Dir(p) => p.join(member).exists(),
            Source::Tar { members, .. } => members.contains_key(member),
        }
    }

    /// Follows in-archive symlinks and hardlinks (docker save links repeated
    /// layers) to the member holding the data.
    fn entry(&self, member: &str) -> Result<&IndexEntry> {
        let Source::Tar { path, members, .. } = self else {
            unreachable!("entry() is for tar sources")
        };
        let mut name = normalize(member);
        for _ in 0..16 {
            let e = members.get(&name).ok_or_else(|| ArchiveError::Missing {
                path: path.clone(),
                member: member.into(),
            })?;
            match (e.kind, &e.link) {
                (EntryKind::Regular, _) => return Ok(e),
                (EntryKind::Hardlink, Some(target)) => name = normalize(target),
                (EntryKind::Symlink, Some(target)) => {
                    let base = Path::new(&name).parent().unwrap_or(Path::new(""));
                    name = normalize(&base.join(target).to_string_lossy());
                }
                _ => break,
            }
        }
        Err(ArchiveError::Invalid {
            path: path.clone(),
            member: member.into(),
            detail: "not a regular file".into(),
        })
    }

    fn reader(&self, member: &str) -> Result<Box<dyn Read + Send + '_>> {
        match self {
            Source::Dir(dir) => {
                let p = dir.join(normalize(member));
                let f = File::open(&p).map_err(|source| match source.kind() {
                    io::ErrorKind::NotFound => ArchiveError::Missing {
                        path: dir.clone(),
                        member: member.into(),
                    },
                    _ => ArchiveError::Io {
                        what: "opening",
                        path: p.clone(),
                        source,
                    },
                })?;
                Ok(Box::new(f))
            }
            Source::Tar { file, .. } => {
                let e = self.entry(member)?;
                Ok(Box::new(Slice {
                    file,
                    offset: e.offset,
                    left: e.size,
                }))
            }
        }
    }

    /// Reads a small member (JSON) whole; refuses absurd sizes.
    fn read_small(&self, member: &str) -> Result<Vec<u8>> {
        const LIMIT: u64 = 16 << 20;
        let mut out = Vec::new();
        self.reader(member)?
            .take(LIMIT + 1)
            .read_to_end(&mut out)
            .map_err(|source| ArchiveError::Io {
                what: "reading",
                path: self.path().join(member),
                source,
            })?;
        if out.len() as u64 > LIMIT {
            return Err(ArchiveError::Invalid {
                path: self.path().into(),
                member: member.into(),
                detail: "larger than 16 MiB".into(),
            });
        }
        Ok(out)
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, member: &str) -> Result<T> {
        let data = self.read_small(member)?;
        serde_json::from_slice(&data).map_err(|e| ArchiveError::Invalid {
            path: self.path().into(),
            member: member.into(),
            detail: e.to_string(),
        })
    }
}

fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// One image to unpack from a source.
struct Plan {
    config: Vec<u8>,
    /// Members holding the layer tars, base first, with their blob digest
    /// when the format gives one.
    layers: Vec<(String, Option<Digest>)>,
    manifest_digest: Option<Digest>,
    names: Vec<Reference>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Clone)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
}

/// The host's platform as OCI names it.
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

fn docker_plans(src: &Source) -> Result<Vec<Plan>> {
    let entries: Vec<DockerManifestEntry> = src.json("manifest.json")?;
    entries
        .into_iter()
        .map(|e| {
            let names = e
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse(t))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(Plan {
                config: src.read_small(&e.config)?,
                layers: e.layers.into_iter().map(|l| (l, None)).collect(),
                manifest_digest: None,
                names,
            })
        })
        .collect()
}

fn blob_member(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

fn oci_plans(src: &Source) -> Result<Vec<Plan>> {
    let index: Index = src.json("index.json")?;
    let mut plans = Vec::new();
    for desc in &index.manifests {
        let names = oci_names(&desc.annotations)?;
        let (manifest_digest, manifest) = pick_manifest(src, desc, 0)?;
        let config = manifest.config.ok_or_else(|| ArchiveError::Invalid {
            path: src.path().into(),
            member: blob_member(&manifest_digest.to_string()),
            detail: "manifest has no config".into(),
        })?;
        let layers = manifest
            .layers
            .unwrap_or_default()
            .into_iter()
            .map(|l| {
                let d: Digest = l.digest.parse().map_err(|e: super::digest::DigestError| {
                    ArchiveError::Invalid {
                        path: src.path().into(),
                        member: "manifest".into(),
                        detail: e.to_string(),
                    }
                })?;
                Ok((blob_member(&l.digest), Some(d)))
            })
            .collect::<Result<Vec<_>>>()?;
        plans.push(Plan {
            config: src.read_small(&blob_member(&config.digest))?,
            layers,
            manifest_digest: Some(manifest_digest),
            names,
        });
    }
    Ok(plans)
}

fn oci_names(annotations: &BTreeMap<String, String>) -> Result<Vec<Reference>> {
    if let Some(full) = annotations.get("io.containerd.image.name") {
        return Ok(vec![Reference::parse(full)?]);
    }
    match annotations.get("org.opencontainers.image.ref.name") {
        Some(name) => Ok(vec![Reference::parse_in(name, "localhost")?]),
        None => Ok(Vec::new()),
    }
}

/// Follows an index down to the manifest for this host's platform.
fn pick_manifest(src: &Source, desc: &Descriptor, depth: usize) -> Result<(Digest, Index)> {
    let digest: Digest = desc
        .digest
        .parse()
        .map_err(|e: super::digest::DigestError| ArchiveError::Invalid {
            path: src.path().into(),
            member: "index.json".into(),
            detail: e.to_string(),
        })?;
    let member = blob_member(&desc.digest);
    let data = src.read_small(&member)?;
    let actual = Digest::of_bytes(&data);
    if actual != digest {
        return Err(StoreError::DigestMismatch {
            what: member,
            expected: digest,
            actual,
        }
        .into());
    }
    let parsed: Index = serde_json::from_slice(&data).map_err(|e| ArchiveError::Invalid {
        path: src.path().into(),
        member: member.clone(),
        detail: e.to_string(),
    })?;
    let is_index = desc.media_type.contains("index")
        || desc.media_type.contains("manifest.list")
        || parsed
            .media_type
            .as_deref()
            .is_some_and(|m| m.contains("index") || m.contains("manifest.list"))
        || (parsed.config.is_none() && !parsed.manifests.is_empty());
    if !is_index {
        return Ok((digest, parsed));
    }
    if depth > 4 {
        return Err(ArchiveError::Invalid {
            path: src.path().into(),
            member,
            detail: "indexes nested too deep".into(),
        });
    }
    let (os, arch) = host_platform();
    let chosen = parsed.manifests.iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == os && p.architecture == arch)
    });
    match chosen {
        Some(m) => pick_manifest(src, m, depth + 1),
        None => Err(ArchiveError::NoPlatform {
            path: src.path().into(),
            wanted: format!("{os}/{arch}"),
            available: parsed
                .manifests
                .iter()
                .filter_map(|m| m.platform.clone())
                .map(|p| match p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                })
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Loads every image of a docker-archive or OCI layout (directory or tar).
/// Must run inside burrow's user namespace.
pub fn load(store: &Store, path: &Path) -> Result<LoadReport> {
    store.clean_if_idle()?;
    let _lock = store.lock_shared()?;
    let src = Source::open(path)?;
    let plans = if src.has("manifest.json") {
        docker_plans(&src)?
    } else if src.has("index.json") {
        oci_plans(&src)?
    } else {
        return Err(ArchiveError::UnknownFormat {
            path: path.into(),
            detail: "it has neither manifest.json (docker-archive) nor index.json (OCI layout)"
                .into(),
        });
    };
    if plans.is_empty() {
        return Err(ArchiveError::Invalid {
            path: path.into(),
            member: if src.has("manifest.json") {
                "manifest.json".into()
            } else {
                "index.json".into()
            },
            detail: "it lists no image".into(),
        });
    }
    let mut report = LoadReport::default();
    for plan in plans {
        let config = ImageConfig::parse(&plan.config).map_err(|e| ArchiveError::Invalid {
            path: path.into(),
            member: "image config".into(),
            detail: e.to_string(),
        })?;
        if config.rootfs.diff_ids.len() != plan.layers.len() {
            return Err(ArchiveError::LayerCount {
                path: path.into(),
                layers: plan.layers.len(),
                diff_ids: config.rootfs.diff_ids.len(),
            });
        }
        let jobs: Vec<_> = plan
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .map(|((member, blob), diff_id)| (member.as_str(), blob.as_ref(), Some(diff_id)))
            .collect();
        let added = add_layers(store, &src, &jobs)?;
        for a in added {
            merge_notes(&mut report, a);
        }
        let record = store.commit_image(&plan.config, plan.manifest_digest, &plan.names)?;
        report.images.push(LoadedImage {
            id: record.id,
            names: plan.names.iter().map(|n| n.to_string()).collect(),
        });
    }
    Ok(report)
}

fn merge_notes(report: &mut LoadReport, added: AddedLayer) {
    report.squashed += added.squashed;
    for n in added.notes {
        if !report.notes.contains(&n) {
            report.notes.push(n);
        }
    }
}

/// Unpacks layers with as many threads as there are CPUs. The first error
/// stops the others from starting new layers.
fn add_layers(
    store: &Store,
    src: &Source,
    jobs: &[(&str, Option<&Digest>, Option<&Digest>)],
) -> Result<Vec<AddedLayer>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<AddedLayer>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= jobs.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                let (member, blob, diff_id) = jobs[i];
                let result = src.reader(member).and_then(|mut r| {
                    store
                        .add_layer(
                            &mut r,
                            diff_id,
                            blob,
                            &format!("{member} of {}", src.path().display()),
                        )
                        .map_err(Into::into)
                });
                if result.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut out = Vec::new();
    for r in results {
        match r {
            Some(r) => out.push(r?),
            None => continue, // not started because another layer failed; that error comes first
        }
    }
    Ok(out)
}

/// Imports a flat root filesystem tarball (plain, gzip or zstd; `-` is
/// stdin) as a one-layer image named `name`. Must run inside burrow's user
/// namespace.
pub fn import(
    store: &Store,
    path: &Path,
    name: Option<&Reference>,
    message: Option<&str>,
    run_config: RunConfig,
) -> Result<LoadReport> {
    store.clean_if_idle()?;
    let _lock = store.lock_shared()?;
    let input: Box<dyn Read> = if path == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(|source| ArchiveError::Io {
            what: "opening",
            path: path.into(),
            source,
        })?)
    };
    // Nothing at all is no tarball (an empty one still has its end blocks).
    let mut input = io::BufReader::new(input);
    let first = io::BufRead::fill_buf(&mut input).map_err(|source| ArchiveError::Io {
        what: "reading",
        path: path.into(),
        source,
    })?;
    if first.is_empty() {
        return Err(ArchiveError::EmptyImport(if path == Path::new("-") {
            "stdin".into()
        } else {
            path.into()
        }));
    }
    let added = store.add_layer(&mut input, None, None, &path.display().to_string())?;
    let (os, arch) = host_platform();
    let created = crate::time::rfc3339(store::now());
    let config = ImageConfig {
        created: Some(created.clone()),
        architecture: arch.into(),
        os: os.into(),
        config: Some(run_config),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![added.diff_id.clone()],
        },
        history: vec![History {
            created: Some(created),
            created_by: Some(format!("burrow import {}", path.display())),
            comment: message.map(str::to_string),
            empty_layer: false,
        }],
        ..Default::default()
    };
    let bytes = serde_json::to_vec(&config).expect("config serialises");
    let names: Vec<Reference> = name.into_iter().cloned().collect();
    let record = store.commit_image(&bytes, None, &names)?;
    let mut report = LoadReport::default();
    merge_notes(&mut report, added);
    report.images.push(LoadedImage {
        id: record.id,
        names: names.iter().map(|n| n.to_string()).collect(),
    });
    Ok(report)
}

/// Formats of `save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaveFormat {
    DockerArchive,
    OciArchive,
    OciDir,
}

/// One image to save, and the names to record for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaveItem {
    pub id: Digest,
    pub names: Vec<String>,
}

/// Writes images to `out` (a file, or a directory for `OciDir`),
/// atomically: a temp name beside it, renamed when complete. Must run inside
/// burrow's user namespace (layer files belong to mapped ids).
pub fn save(store: &Store, items: &[SaveItem], format: SaveFormat, out: &Path) -> Result<()> {
    let _lock = store.lock_shared()?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let tmp = parent.join(format!(".{file_name}.burrow-tmp-{}", std::process::id()));
    let io_at = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { what, path, source }
    };
    let result = match format {
        SaveFormat::OciDir => {
            fs::create_dir(&tmp).map_err(io_at("creating", &tmp))?;
            write_oci(store, items, &mut DirSink(tmp.clone()))
        }
        SaveFormat::DockerArchive | SaveFormat::OciArchive => {
            let f = File::create(&tmp).map_err(io_at("creating", &tmp))?;
            write_archive(store, items, format, f, &tmp)
                .and_then(|f| f.sync_all().map_err(io_at("syncing", &tmp)))
        }
    };
    let renamed = result.and_then(|_| {
        if format == SaveFormat::OciDir && out.exists() {
            // Replace a directory whole; rename(2) cannot.
            store::remove_tree(out)?;
        }
        fs::rename(&tmp, out).map_err(io_at("renaming into place", out))
    });
    if renamed.is_err() {
        if tmp.is_dir() {
            let _ = store::remove_tree(&tmp);
        } else {
            let _ = fs::remove_file(&tmp);
        }
    }
    renamed
}

/// Writes a docker-archive or an OCI archive of `items` to `out` (`what`
/// names it in errors) and hands `out` back.
fn write_archive<W: Write>(
    store: &Store,
    items: &[SaveItem],
    format: SaveFormat,
    out: W,
    what: &Path,
) -> Result<W> {
    let mut sink = TarSink(TarWriter::new(io::BufWriter::with_capacity(1 << 20, out)));
    if format == SaveFormat::DockerArchive {
        write_docker(store, items, &mut sink)?;
    } else {
        write_oci(store, items, &mut sink)?;
    }
    let w = sink.0.finish()?;
    w.into_inner().map_err(|e| ArchiveError::Io {
        what: "writing",
        path: what.to_path_buf(),
        source: e.into_error(),
    })
}

/// `save` to a stream (stdout piped to `gzip`, a file by `>`): the archive
/// formats only, written as they are made.
pub fn save_to<W: Write>(
    store: &Store,
    items: &[SaveItem],
    format: SaveFormat,
    out: W,
) -> Result<()> {
    let _lock = store.lock_shared()?;
    if format == SaveFormat::OciDir {
        return Err(ArchiveError::Io {
            what: "writing an oci-dir to",
            path: PathBuf::from("standard output"),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "a directory cannot be a stream; use -o DIR",
            ),
        });
    }
    let mut w = write_archive(store, items, format, out, Path::new("standard output"))?;
    w.flush().map_err(|source| ArchiveError::Io {
        what: "writing",
        path: PathBuf::from("standard output"),
        source,
    })
}

/// Where `save` puts members: a tar, or a directory.
trait Sink {
    fn small(&mut self, path: &str, data: &[u8]) -> Result<()>;
    /// A layer tar rebuilt from the store, `size` bytes.
    fn layer(&mut self, store: &Store, path: &str, diff_id: &Digest, size: u64) -> Result<()>;
}

struct TarSink<W: Write>(TarWriter<W>);
struct DirSink(PathBuf);

const SAVE_MTIME: u64 = 0;

impl<W: Write> Sink for TarSink<W> {
    fn small(&mut self, path: &str, data: &[u8]) -> Result<()> {
        self.0
            .append_file(path, 0o644, SAVE_MTIME, data.len() as u64, &mut &data[..])?;
        Ok(())
    }

    fn layer(&mut self, store: &Store, path: &str, diff_id: &Digest, size: u64) -> Result<()> {
        // The rebuilt tar flows from a thread into the archive, so a layer
        // is never held whole in memory or on disk. A rebuild that fails
        // is the cause of a short member; an archive that cannot be
        // written stops the rebuild, whose "broken pipe" is not reported.
        use super::chunks::{self, Failed};
        let streamed = chunks::stream(
            |mut out| {
                repack_verified(store, diff_id, &mut out)?;
                out.end().map_err(|source| ArchiveError::Io {
                    what: "rebuilding the layer from",
                    path: store.layer_path(diff_id),
                    source,
                })
            },
            |rebuilt| {
                self.0
                    .append_file(path, 0o644, SAVE_MTIME, size, rebuilt)
                    .map_err(ArchiveError::from)
            },
        );
        match streamed {
            Ok(_) => Ok(()),
            Err(Failed::Reader(e) | Failed::Writer(e)) => Err(e),
            Err(Failed::WriterPanicked) => Err(ArchiveError::Invalid {
                path: store.layer_path(diff_id),
                member: diff_id.to_string(),
                detail: "rebuilding the layer panicked".into(),
            }),
        }
    }
}

impl Sink for DirSink {
    fn small(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let p = self.0.join(path);
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).map_err(|source| ArchiveError::Io {
                what: "creating",
                path: dir.into(),
                source,
            })?;
        }
        fs::write(&p, data).map_err(|source| ArchiveError::Io {
            what: "writing",
            path: p,
            source,
        })
    }

    fn layer(&mut self, store: &Store, path: &str, diff_id: &Digest, _size: u64) -> Result<()> {
        let p = self.0.join(path);
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).map_err(|source| ArchiveError::Io {
                what: "creating",
                path: dir.into(),
                source,
            })?;
        }
        let f = File::create(&p).map_err(|source| ArchiveError::Io {
            what: "creating",
            path: p.clone(),
            source,
        })?;
        let mut w = io::BufWriter::with_capacity(1 << 20, f);
        repack_verified(store, diff_id, &mut w)?;
        w.flush().map_err(|source| ArchiveError::Io {
            what: "writing",
            path: p,
            source,
        })
    }
}

/// Rebuilds a layer's tar into `out` and checks it is byte for byte the
/// layer that was unpacked.
pub fn repack_verified(store: &Store, diff_id: &Digest, out: impl Write) -> Result<()> {
    let mut split = store.layer_split(diff_id)?;
    let mut hashed = HashingWriter::new(out);
    super::unpack::repack_layer(&store.layer_dir(diff_id), &mut split, &mut hashed).map_err(
        |source| StoreError::Unpack {
            layer: diff_id.to_string(),
            source,
        },
    )?;
    let (_, actual, _) = hashed.finish();
    if &actual != diff_id {
        return Err(StoreError::DigestMismatch {
            what: format!(
                "layer rebuilt from {} (its files were changed on disk)",
                store.layer_dir(diff_id).display()
            ),
            expected: diff_id.clone(),
            actual,
        }
        .into());
    }
    Ok(())
}

/// Unpacks the layer `diff_id` again under the id map this process runs
/// under: its tar is rebuilt from the store (checked against its diff
/// id, into a file in `tmp/`) and unpacked in place of the old files in
/// one step (`Store::replace_layer`). Must run inside burrow's user
/// namespace, with the store locked exclusively.
pub fn reunpack(store: &Store, diff_id: &Digest) -> Result<AddedLayer> {
    let scratch = store.temp_dir("remap")?;
    let path = scratch.path().join("layer.tar");
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { what, path, source }
    };
    let file = File::create(&path).map_err(io("creating", &path))?;
    let mut w = io::BufWriter::with_capacity(1 << 20, file);
    repack_verified(store, diff_id, &mut w)?;
    w.flush().map_err(io("writing", &path))?;
    drop(w);
    let mut tar = io::BufReader::new(File::open(&path).map_err(io("opening", &path))?);
    Ok(store.replace_layer(&mut tar, diff_id)?)
}

fn write_docker(store: &Store, items: &[SaveItem], sink: &mut dyn Sink) -> Result<()> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        config: String,
        repo_tags: Vec<String>,
        layers: Vec<String>,
    }
    let mut manifest = Vec::new();
    let mut written = std::collections::HashSet::new();
    for item in items {
        let record = store.image(&item.id)?;
        let (_, raw) = store.config(&item.id)?;
        let config_name = format!("{}.json", item.id.hex());
        if written.insert(config_name.clone()) {
            sink.small(&config_name, &raw)?;
        }
        let mut layers = Vec::new();
        for l in &record.layers {
            let name = format!("{}/layer.tar", l.hex());
            if written.insert(name.clone()) {
                sink.layer(store, &name, l, store.layer_record(l)?.size)?;
            }
            layers.push(name);
        }
        manifest.push(Entry {
            config: config_name,
            repo_tags: item.names.clone(),
            layers,
        });
    }
    sink.small(
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("manifest serialises"),
    )
}

fn write_oci(store: &Store, items: &[SaveItem], sink: &mut dyn Sink) -> Result<()> {
    sink.small("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut index = Vec::new();
    let mut written = std::collections::HashSet::new();
    for item in items {
        let record = store.image(&item.id)?;
        let (config, raw) = store.config(&item.id)?;
        let mut layers = Vec::new();
        for l in &record.layers {
            let size = store.layer_record(l)?.size;
            if written.insert(l.clone()) {
                sink.layer(store, &blob_member(&l.to_string()), l, size)?;
            }
            layers.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": l.to_string(),
                "size": size,
            }));
        }
        if written.insert(item.id.clone()) {
            sink.small(&blob_member(&item.id.to_string()), &raw)?;
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": item.id.to_string(),
                "size": raw.len(),
            },
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
        let manifest_digest = Digest::of_bytes(&manifest_bytes);
        if written.insert(manifest_digest.clone()) {
            sink.small(&blob_member(&manifest_digest.to_string()), &manifest_bytes)?;
        }
        let names: Vec<Option<&String>> = if item.names.is_empty() {
            vec![None]
        } else {
            item.names.iter().map(Some).collect()
        };
        for name in names {
            let mut desc = serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest.to_string(),
                "size": manifest_bytes.len(),
                "platform": {"architecture": config.architecture, "os": config.os},
            });
            if let Some(n) = name {
                let tag = Reference::parse(n)
                    .ok()
                    .and_then(|r| r.tag)
                    .unwrap_or_else(|| "latest".into());
                desc["annotations"] = serde_json::json!({
                    "io.containerd.image.name": n,
                    "org.opencontainers.image.ref.name": tag,
                });
            }
            index.push(desc);
        }
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index});
    sink.small(
        "index.json",
        &serde_json::to_vec(&index).expect("index serialises"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_keeps_paths_inside_the_archive() {
        assert_eq!(normalize("./abc/../def/layer.tar"), "def/layer.tar");
        assert_eq!(normalize("/../../x"), "x");
        assert_eq!(normalize("blobs//sha256/./a"), "blobs/sha256/a");
    }
}
