//! Test images made at test time from `/bin/busybox`: flat rootfs tarballs,
//! docker-archives with any number of layers, OCI layouts (through skopeo),
//! and hostile layers written with raw tar headers. Never downloads anything
//! and never writes outside the path it is given.

use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::process::Command;

/// mtime of every fixture entry unless one is given: fixed, so that the same
/// layer built twice is byte-identical and keeps its diff id.
pub const MTIME: u64 = 1_700_000_000;

/// Where the test images take their one real program from (busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

/// Applets linked into `bin/` of the rootfs.
pub const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "true", "false", "id", "mkdir", "rm", "touch", "sleep",
];

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    user:x:1000:1000:user:/home/user:/bin/sh\n\
    nobody:x:65534:65534:nobody:/:/bin/false\n";
pub const GROUP: &str = "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n";

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sha256_file(path: &Path) -> String {
    let data = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    sha256_hex(&data)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn compress(self, tar: &[u8]) -> Vec<u8> {
        match self {
            Compression::None => tar.to_vec(),
            Compression::Gzip => {
                let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(tar).expect("gzip into memory");
                enc.finish().expect("gzip into memory")
            }
            Compression::Zstd => zstd::encode_all(tar, 3).expect("zstd into memory"),
        }
    }
}

/// What kind of tar member an [`Entry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

/// One tar member, with its name as raw bytes so that hostile names (`../`,
/// absolute paths, ...) can be written exactly as an attacker would.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Vec<u8>,
    pub device: (u32, u32),
    pub xattrs: Vec<(String, Vec<u8>)>,
    pub data: Vec<u8>,
}

impl Entry {
    pub fn new(name: impl AsRef<[u8]>, kind: Kind) -> Entry {
        let mode = match kind {
            Kind::Dir => 0o755,
            Kind::Symlink => 0o777,
            _ => 0o644,
        };
        Entry {
            name: name.as_ref().to_vec(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: MTIME,
            link: Vec::new(),
            device: (0, 0),
            xattrs: Vec::new(),
            data: Vec::new(),
        }
    }
    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mtime(mut self, mtime: u64) -> Entry {
        self.mtime = mtime;
        self
    }
    pub fn link(mut self, target: impl AsRef<[u8]>) -> Entry {
        self.link = target.as_ref().to_vec();
        self
    }
    pub fn device(mut self, major: u32, minor: u32) -> Entry {
        self.device = (major, minor);
        self
    }
    pub fn xattr(mut self, key: &str, value: &[u8]) -> Entry {
        self.xattrs.push((key.to_string(), value.to_vec()));
        self
    }
    pub fn data(mut self, data: impl AsRef<[u8]>) -> Entry {
        self.data = data.as_ref().to_vec();
        self
    }
}

/// The largest uid a ustar header holds in octal; larger ones go in PAX.
const USTAR_MAX_ID: u64 = 0o7777777;

/// Builds one uncompressed layer tar, entry by entry, in order.
#[derive(Default)]
pub struct LayerBuilder {
    out: Vec<u8>,
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder::default()
    }

    pub fn dir(self, path: &str) -> LayerBuilder {
        self.entry(Entry::new(path, Kind::Dir))
    }
    pub fn dir_mode(self, path: &str, mode: u32) -> LayerBuilder {
        self.entry(Entry::new(path, Kind::Dir).mode(mode))
    }
    pub fn file(self, path: &str, mode: u32, data: impl AsRef<[u8]>) -> LayerBuilder {
        self.entry(Entry::new(path, Kind::File).mode(mode).data(data))
    }
    pub fn symlink(self, path: &str, target: &str) -> LayerBuilder {
        self.entry(Entry::new(path, Kind::Symlink).link(target))
    }
    pub fn hardlink(self, path: &str, target: &str) -> LayerBuilder {
        self.entry(Entry::new(path, Kind::Hardlink).link(target))
    }
    /// An OCI whiteout: `dir/.wh.name` deletes `dir/name` of lower layers.
    pub fn whiteout(self, path: &str) -> LayerBuilder {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        self.file(&format!("{dir}.wh.{name}"), 0o644, b"")
    }
    /// An OCI opaque marker: hides everything lower layers have in `dir`.
    pub fn opaque(self, dir: &str) -> LayerBuilder {
        self.file(&format!("{dir}/.wh..wh..opq"), 0o644, b"")
    }

    /// Appends one member exactly as described: raw name bytes, with a PAX
    /// record for what a ustar header cannot hold (long names, big ids,
    /// xattrs).
    pub fn entry(mut self, e: Entry) -> LayerBuilder {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        if e.name.len() > 100 {
            pax.push(("path".into(), e.name.clone()));
        }
        if e.link.len() > 100 {
            pax.push(("linkpath".into(), e.link.clone()));
        }
        if e.uid > USTAR_MAX_ID {
            pax.push(("uid".into(), e.uid.to_string().into_bytes()));
        }
        if e.gid > USTAR_MAX_ID {
            pax.push(("gid".into(), e.gid.to_string().into_bytes()));
        }
        for (k, v) in &e.xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        if !pax.is_empty() {
            let mut records = Vec::new();
            for (k, v) in &pax {
                records.extend_from_slice(&pax_record(k, v));
            }
            let mut h = tar::Header::new_ustar();
            set_raw(&mut h.as_old_mut().name, b"PaxHeaders/entry");
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_mode(0o644);
            h.set_mtime(e.mtime);
            h.set_size(records.len() as u64);
            h.set_cksum();
            self.push(&h, &records);
        }

        let mut h = tar::Header::new_ustar();
        set_raw(&mut h.as_old_mut().name, &e.name);
        if !e.link.is_empty() {
            set_raw(&mut h.as_old_mut().linkname, &e.link);
        }
        h.set_entry_type(match e.kind {
            Kind::File => tar::EntryType::Regular,
            Kind::Dir => tar::EntryType::Directory,
            Kind::Symlink => tar::EntryType::Symlink,
            Kind::Hardlink => tar::EntryType::Link,
            Kind::CharDevice => tar::EntryType::Char,
            Kind::BlockDevice => tar::EntryType::Block,
            Kind::Fifo => tar::EntryType::Fifo,
        });
        h.set_mode(e.mode);
        h.set_uid(e.uid.min(USTAR_MAX_ID));
        h.set_gid(e.gid.min(USTAR_MAX_ID));
        h.set_mtime(e.mtime);
        h.set_device_major(e.device.0)
            .expect("ustar header has device fields");
        h.set_device_minor(e.device.1)
            .expect("ustar header has device fields");
        let data: &[u8] = if e.kind == Kind::File { &e.data } else { &[] };
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.push(&h, data);
        self
    }

    fn push(&mut self, h: &tar::Header, data: &[u8]) {
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let padded = self.out.len().div_ceil(512) * 512;
        self.out.resize(padded, 0);
    }

    /// The finished uncompressed tar: the two zero blocks that end it added.
    pub fn finish(mut self) -> Layer {
        self.out.resize(self.out.len() + 1024, 0);
        Layer::new(self.out)
    }
}

/// Copies `src` into a NUL-padded fixed header field; a longer name is cut
/// (its full form then travels in a PAX record).
fn set_raw(field: &mut [u8], src: &[u8]) {
    field.fill(0);
    let n = src.len().min(field.len());
    field[..n].copy_from_slice(&src[..n]);
}

/// One PAX record, `"<len> key=value\n"`, where len counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    assert_eq!(rec.len(), len);
    rec
}

/// An uncompressed layer tar.
#[derive(Debug, Clone)]
pub struct Layer {
    pub tar: Vec<u8>,
    /// Hashed once: debug builds of sha2 are slow on big layers.
    diff_id: String,
}

impl Layer {
    pub fn new(tar: Vec<u8>) -> Layer {
        let diff_id = sha256_hex(&tar);
        Layer { tar, diff_id }
    }

    /// sha256 hex of the uncompressed tar: the layer's diff id.
    pub fn diff_id(&self) -> String {
        self.diff_id.clone()
    }
}

/// The busybox root filesystem: `bin/busybox`, applet symlinks, `/etc/passwd`
/// and `/etc/group`, the usual directories.
pub fn busybox_rootfs() -> LayerBuilder {
    let busybox = fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("{BUSYBOX}: {e} (install busybox-static: the tests build images from it)")
    });
    let mut b = LayerBuilder::new()
        .dir("bin")
        .dir("etc")
        .dir("home")
        .dir_mode("root", 0o700)
        .dir_mode("tmp", 0o1777)
        .dir("usr")
        .dir("usr/bin")
        .dir("var")
        .file("bin/busybox", 0o755, busybox);
    for applet in APPLETS {
        b = b.symlink(&format!("bin/{applet}"), "busybox");
    }
    b.file("etc/passwd", 0o644, PASSWD)
        .file("etc/group", 0o644, GROUP)
        .file("etc/hostname", 0o644, "fixture\n")
}

/// The CPU architecture as OCI names it.
pub fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The `config` section every fixture image carries unless a test sets its
/// own: one value for each key burrow must keep.
pub fn default_run_config() -> Value {
    json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FIXTURE=yes"],
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo hello"],
        "WorkingDir": "/srv",
        "User": "1000:1000",
        "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
        "Volumes": {"/data": {}},
        "Labels": {"org.example.fixture": "burrow", "version": "1"},
        "StopSignal": "SIGQUIT"
    })
}

pub const CREATED: &str = "2024-01-02T03:04:05Z";

/// One image of a docker-archive.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// `RepoTags` as `docker save` writes them (`name:tag`, familiar form).
    pub tags: Vec<String>,
    pub layers: Vec<(Layer, Compression)>,
    pub run_config: Value,
    /// Overrides the diff ids written in the config (to make a mismatch).
    pub diff_ids_override: Option<Vec<String>>,
}

impl ImageSpec {
    pub fn new(tags: &[&str], layers: Vec<Layer>) -> ImageSpec {
        ImageSpec {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            layers: layers.into_iter().map(|l| (l, Compression::None)).collect(),
            run_config: default_run_config(),
            diff_ids_override: None,
        }
    }
    pub fn compressed(tags: &[&str], layers: Vec<(Layer, Compression)>) -> ImageSpec {
        ImageSpec {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            layers,
            run_config: default_run_config(),
            diff_ids_override: None,
        }
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|(l, _)| l.diff_id()).collect()
    }

    /// The image config JSON, byte for byte as it is written; its sha256
    /// is the image id.
    pub fn config_bytes(&self) -> Vec<u8> {
        let diff_ids = self
            .diff_ids_override
            .clone()
            .unwrap_or_else(|| self.diff_ids());
        let history: Vec<Value> = (0..self.layers.len())
            .map(|i| json!({"created": CREATED, "created_by": format!("fixture layer {i}")}))
            .collect();
        let config = json!({
            "architecture": oci_arch(),
            "os": "linux",
            "created": CREATED,
            "config": self.run_config,
            "rootfs": {
                "type": "layers",
                "diff_ids": diff_ids.iter().map(|d| format!("sha256:{d}")).collect::<Vec<_>>(),
            },
            "history": history,
        });
        serde_json::to_vec(&config).expect("config serializes")
    }

    /// sha256 hex of the config: the image id burrow must report.
    pub fn image_id(&self) -> String {
        sha256_hex(&self.config_bytes())
    }
}

/// Where the members of a written docker-archive lie, so a test can cut it.
#[derive(Debug, Clone, Default)]
pub struct ArchiveLayout {
    /// Byte range of each written layer blob's data, in image then layer
    /// order (a blob shared by two images appears once).
    pub layer_data: Vec<Range<u64>>,
}

/// Writes a docker-archive (what `docker save` writes: `manifest.json`, the
/// config and the layer blobs under `blobs/sha256/`). The manifest and
/// configs come first so that cutting the file inside a layer leaves them
/// readable.
pub fn write_docker_archive(path: &Path, images: &[ImageSpec]) -> ArchiveLayout {
    let mut out = LayerBuilder::new();
    let mut layout = ArchiveLayout::default();
    let mut manifest = Vec::new();
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut configs: Vec<(String, Vec<u8>)> = Vec::new();
    for img in images {
        let config = img.config_bytes();
        let config_name = format!("blobs/sha256/{}", sha256_hex(&config));
        let mut layer_names = Vec::new();
        for (layer, comp) in &img.layers {
            let blob = comp.compress(&layer.tar);
            let name = format!("blobs/sha256/{}", sha256_hex(&blob));
            if !blobs.iter().any(|(n, _)| *n == name) {
                blobs.push((name.clone(), blob));
            }
            layer_names.push(name);
        }
        manifest.push(json!({
            "Config": config_name,
            "RepoTags": if img.tags.is_empty() { Value::Null } else { json!(img.tags) },
            "Layers": layer_names,
        }));
        if !configs.iter().any(|(n, _)| *n == config_name) {
            configs.push((config_name, config));
        }
    }
    let manifest = serde_json::to_vec(&manifest).expect("manifest serializes");
    out = out
        .dir("blobs")
        .dir("blobs/sha256")
        .file("manifest.json", 0o644, manifest);
    for (name, data) in configs {
        out = out.file(&name, 0o644, data);
    }
    for (name, data) in blobs {
        let start = out.out.len() as u64 + 512;
        let len = data.len() as u64;
        out = out.file(&name, 0o644, data);
        layout.layer_data.push(start..start + len);
    }
    let bytes = out.finish().tar;
    write_file(path, &bytes);
    layout
}

pub fn write_file(path: &Path, data: &[u8]) {
    fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Runs an outside tool (skopeo, umoci, GNU tar) and returns its stdout;
/// panics with its stderr when it fails.
pub fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (is it installed?)"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Converts a docker-archive into an OCI image layout directory with skopeo
/// (`oci:DIR:TAG`), the way a user would make one.
pub fn skopeo_to_oci_dir(archive: &Path, dir: &Path, tag: &str) {
    skopeo_to_oci_dir_with(archive, dir, tag, &[]);
}

/// [`skopeo_to_oci_dir`] with more `skopeo copy` options.
pub fn skopeo_to_oci_dir_with(archive: &Path, dir: &Path, tag: &str, options: &[&str]) {
    let src = format!("docker-archive:{}", archive.display());
    let dst = format!("oci:{}:{tag}", dir.display());
    let mut args = vec!["--insecure-policy", "copy", "--quiet"];
    args.extend_from_slice(options);
    args.extend([src.as_str(), dst.as_str()]);
    tool("skopeo", &args);
    make_readable(dir);
}

/// Converts a docker-archive into an OCI layout tar (`oci-archive:`).
pub fn skopeo_to_oci_archive(archive: &Path, out: &Path, tag: &str) {
    let src = format!("docker-archive:{}", archive.display());
    let dst = format!("oci-archive:{}:{tag}", out.display());
    tool(
        "skopeo",
        &["--insecure-policy", "copy", "--quiet", &src, &dst],
    );
    make_readable(out);
}

/// The image config of an archive or layout as skopeo reads it, raw bytes
/// (`transport` is e.g. `docker-archive:/x.tar` or `oci:/dir`).
pub fn skopeo_raw_config(transport: &str) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "inspect",
            "--config",
            "--raw",
            transport,
        ])
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect --config {transport} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The manifest digest (hex) that an OCI layout's index.json names first.
pub fn oci_manifest_digest(dir: &Path) -> String {
    let index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).expect("index"))
        .expect("index.json parses");
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("index.json names a manifest");
    digest
        .strip_prefix("sha256:")
        .expect("sha256 digest")
        .to_string()
}

/// The config digest (hex) of the first manifest of an OCI layout dir:
/// the image id an OCI load must report (skopeo rewrites the config when it
/// converts, so it differs from the docker-archive's).
pub fn oci_config_digest(dir: &Path) -> String {
    let manifest = dir.join("blobs/sha256").join(oci_manifest_digest(dir));
    let manifest: Value = serde_json::from_slice(&fs::read(&manifest).expect("manifest blob"))
        .expect("manifest parses");
    manifest["config"]["digest"]
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
        .expect("manifest names a sha256 config")
        .to_string()
}

/// The diff ids (hex) an image config lists.
pub fn config_diff_ids(config: &[u8]) -> Vec<String> {
    let config: Value = serde_json::from_slice(config).expect("config parses");
    config["rootfs"]["diff_ids"]
        .as_array()
        .expect("rootfs.diff_ids")
        .iter()
        .map(|d| {
            d.as_str()
                .and_then(|d| d.strip_prefix("sha256:"))
                .expect("sha256 diff id")
                .to_string()
        })
        .collect()
}

/// chmod a+rX over a tree, so the unprivileged test user can read what a
/// root-run tool wrote.
pub fn make_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if meta.file_type().is_symlink() {
        return;
    }
    let mode = meta.permissions().mode() & 0o7777;
    let add = if meta.is_dir() || mode & 0o111 != 0 {
        0o555
    } else {
        0o444
    };
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode | add));
    if meta.is_dir() {
        if let Ok(rd) = fs::read_dir(path) {
            for e in rd.flatten() {
                make_readable(&e.path());
            }
        }
    }
}

/// A layer of `n` bytes of incompressible-looking data in one file, so that
/// unpacking it takes measurable time (for the race test).
pub fn bulky_layer(name: &str, n: usize, seed: u64) -> Layer {
    let mut data = Vec::with_capacity(n);
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    while data.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(n);
    LayerBuilder::new()
        .dir("data")
        .file(&format!("data/{name}"), 0o644, data)
        .finish()
}
