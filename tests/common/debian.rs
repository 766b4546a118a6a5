//! A minimal Debian bookworm image made with `mmdebstrap` (variant minbase,
//! plus ca-certificates and apt), built once per recipe and cached under
//! /var/cache/burrow-test, with a small flat apt repository beside it so that
//! tests run `apt-get update && apt-get install` without any network: the
//! image's only apt source is `file:/srv/repo`, which a test mounts with
//! [`DebianFixture::repo_volume`].
//!
//! The cache entry's name carries a hash of the recipe, so a change of the
//! recipe builds a new one; concurrent test binaries are serialised by a
//! lock file, and an entry appears by an atomic rename once complete.
//! Building needs root (mmdebstrap's root mode) and deb.debian.org; an
//! ordinary user uses a cached entry or SKIPs.

use super::layers::{commit_layer, Headers};
use super::{path_str, running_as_root, TestEnv};
use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where cached test fixtures live (CI keeps it between runs).
pub const CACHE_DIR: &str = "/var/cache/burrow-test";
/// The image name a test's store knows the fixture by.
pub const IMAGE: &str = "localhost/debian-fixture:bookworm";
/// Where the image's apt source expects the fixture's repository.
pub const REPO_IN_CONTAINER: &str = "/srv/repo";
/// A package whose maintainer script creates a system user and group
/// (`uuidd`) and chowns its files to them; with its dependencies in the
/// repository.
pub const PACKAGE_WITH_SYSTEM_USER: &str = "uuid-runtime";

const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// Bump when the recipe changes in a way its text does not show.
const RECIPE_VERSION: u32 = 1;
/// Packages the repository carries (with what they need beyond the image).
const REPO_PACKAGES: &[&str] = &[PACKAGE_WITH_SYSTEM_USER];

/// A built fixture: the root filesystem tarball and the repository.
#[derive(Debug, Clone)]
pub struct DebianFixture {
    pub dir: PathBuf,
    /// Plain tar of the root filesystem (no device nodes).
    pub rootfs: PathBuf,
    /// A flat apt repository: `*.deb` and `Packages`.
    pub repo: PathBuf,
}

impl DebianFixture {
    /// `-v` argument that mounts the repository where the image's apt
    /// source points.
    pub fn repo_volume(&self) -> String {
        format!("{}:{REPO_IN_CONTAINER}:ro", path_str(&self.repo))
    }
}

/// What a fixture is made of: the packages mmdebstrap installs beyond
/// minbase, and whether it carries the flat apt repository.
pub struct Recipe {
    /// The cache entry's prefix (`debian` for the default fixture).
    pub name: &'static str,
    pub include: &'static str,
    pub repo: bool,
}

/// The default fixture: ca-certificates and apt, with the repository.
pub const BASE: Recipe = Recipe {
    name: "debian",
    include: "ca-certificates,apt",
    repo: true,
};

/// The hook commands, with `STAGE` for the directory the repository is
/// copied out to (not part of the cache key).
fn hooks() -> Vec<String> {
    let packages = REPO_PACKAGES.join(" ");
    vec![
        // Only what the repository's packages need beyond the image.
        format!(
            "rm -f \"$1\"/var/cache/apt/archives/*.deb && \
             chroot \"$1\" apt-get install --download-only -y --no-install-recommends {packages}"
        ),
        "mkdir -p STAGE/repo && mv \"$1\"/var/cache/apt/archives/*.deb STAGE/repo/ && \
         cd STAGE/repo && for f in *.deb; do dpkg-deb -f \"$f\"; \
         printf 'Filename: ./%s\\nSize: %s\\nSHA256: %s\\n\\n' \"$f\" \
         \"$(stat -c %s \"$f\")\" \"$(sha256sum \"$f\" | cut -d' ' -f1)\"; \
         done > Packages"
            .to_string(),
        format!(
            "rm -f \"$1\"/etc/apt/sources.list.d/* && \
             echo 'deb [trusted=yes] file:{REPO_IN_CONTAINER} ./' > \"$1\"/etc/apt/sources.list"
        ),
    ]
}

fn mmdebstrap_args(stage: &Path, rootfs: &Path, recipe: &Recipe) -> Vec<String> {
    let mut args = vec![
        "--mode=root".to_string(),
        "--variant=minbase".to_string(),
        format!("--include={}", recipe.include),
        // Device nodes are the container's /dev, not the image's.
        "--skip=output/dev".to_string(),
    ];
    let hooks = if recipe.repo { hooks() } else { Vec::new() };
    for h in hooks {
        args.push(format!(
            "--customize-hook={}",
            h.replace("STAGE", path_str(stage))
        ));
    }
    args.extend([
        SUITE.to_string(),
        path_str(rootfs).to_string(),
        MIRROR.to_string(),
    ]);
    args
}

/// The cache entry for the current recipe.
fn entry_dir(recipe: &Recipe) -> PathBuf {
    let mut h = Sha256::new();
    h.update(format!("v{RECIPE_VERSION}\n"));
    for a in mmdebstrap_args(Path::new("STAGE"), Path::new("ROOTFS"), recipe) {
        h.update(a.as_bytes());
        h.update(b"\n");
    }
    let key: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    Path::new(CACHE_DIR).join(format!("{}-{SUITE}-{key}", recipe.name))
}

fn skip(test: &str, why: &str) -> Option<DebianFixture> {
    // Straight to the fd: libtest captures eprint!, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
    None
}

fn complete(dir: &Path) -> Option<DebianFixture> {
    dir.join("ok").is_file().then(|| DebianFixture {
        dir: dir.to_path_buf(),
        rootfs: dir.join("rootfs.tar"),
        repo: dir.join("repo"),
    })
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The fixture for the current recipe: the cached one, or built now (as
/// root). `None` after printing `SKIP` when it can be neither.
pub fn fixture(test: &str) -> Option<DebianFixture> {
    fixture_of(test, &BASE)
}

/// The fixture of `recipe`: cached, or built now (as root).
pub fn fixture_of(test: &str, recipe: &Recipe) -> Option<DebianFixture> {
    let dir = entry_dir(recipe);
    if let Some(f) = complete(&dir) {
        return Some(f);
    }
    if !running_as_root() {
        return skip(
            test,
            &format!(
                "the Debian fixture is not cached at {} and building it needs root \
                 (mmdebstrap --mode=root); run the suite as root once",
                dir.display()
            ),
        );
    }
    if !have("mmdebstrap") {
        return skip(test, "mmdebstrap is not installed (.ci/packages.txt)");
    }
    fs::create_dir_all(CACHE_DIR).unwrap_or_else(|e| panic!("create {CACHE_DIR}: {e}"));
    fs::set_permissions(CACHE_DIR, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {CACHE_DIR}: {e}"));
    let lock_path = Path::new(CACHE_DIR).join(".debian.lock");
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("open {}: {e}", lock_path.display()));
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("lock {}: {e}", lock_path.display()));
    // Another test binary may have built it while this one waited.
    if let Some(f) = complete(&dir) {
        return Some(f);
    }
    Some(build(&dir, recipe))
}

fn build(dir: &Path, recipe: &Recipe) -> DebianFixture {
    let stage = Path::new(CACHE_DIR).join(format!(
        ".build-{}-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("debian"),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&stage);
    fs::create_dir_all(&stage).unwrap_or_else(|e| panic!("create {}: {e}", stage.display()));
    let rootfs = stage.join("rootfs.tar");
    let log = stage.join("mmdebstrap.log");
    let log_file =
        fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
    let status = Command::new("mmdebstrap")
        .args(mmdebstrap_args(&stage, &rootfs, recipe))
        .stdout(log_file.try_clone().expect("dup log fd"))
        .stderr(log_file)
        .status()
        .unwrap_or_else(|e| panic!("run mmdebstrap: {e}"));
    if !status.success() {
        let text = fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let _ = fs::remove_dir_all(&stage);
        panic!(
            "mmdebstrap failed ({status}) building the Debian fixture:\n{}",
            tail.join("\n")
        );
    }
    // Readable by the unprivileged test users.
    fs::create_dir_all(stage.join("repo")).expect("create repo dir");
    for p in [&stage, &stage.join("repo")] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
    }
    for entry in fs::read_dir(stage.join("repo"))
        .expect("read repo dir")
        .flatten()
    {
        fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", entry.path().display()));
    }
    fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", rootfs.display()));
    super::fixtures::write_file(&stage.join("ok"), b"");
    fs::rename(&stage, dir)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", stage.display(), dir.display()));
    complete(dir).expect("just built")
}

/// Imports the fixture's root filesystem into `env`'s store as [`IMAGE`].
pub fn import(env: &TestEnv, fixture: &DebianFixture) {
    env.ok(&["import", path_str(&fixture.rootfs), IMAGE]);
}

/// The fixture (built or cached) imported into `env`'s store; `None` after
/// printing `SKIP` when it cannot be had.
pub fn debian_image(env: &TestEnv, test: &str) -> Option<DebianFixture> {
    let f = fixture(test)?;
    import(env, &f);
    Some(f)
}

/// The steps of issue 17: a package whose maintainer script makes a
/// system user and chowns to it, a user of our own, su to it, chown -R.
pub const ROOT_STEPS: &str = "set -e
echo ids $(id -u) $(id -g)
apt-get update -q
apt-get install -y -q uuid-runtime
useradd -m bob
su bob -c id
mkdir -p /data/sub
echo data > /data/sub/file
chown -R bob:bob /data
";

/// Runs [`ROOT_STEPS`] in a container `steps` of the fixture (with
/// `flags`) and commits it: what the steps said, the committed layer's
/// headers.
pub fn root_steps_and_commit(
    env: &TestEnv,
    fx: &DebianFixture,
    flags: &[&str],
) -> (String, Headers) {
    let volume = fx.repo_volume();
    let mut args = vec!["run", "--name", "steps", "--network", "none", "-v", &volume];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[IMAGE, "sh", "-c", ROOT_STEPS]);
    let said = env.ok(&args).stdout;
    (said, commit_layer(env, "steps", "localhost/after-steps:1"))
}

/// The Debian package that brings pip (with python3).
pub const PIP_PACKAGE: &str = "python3-pip";
/// Where a test mounts the pip fixture's package index.
pub const PYPI_IN_CONTAINER: &str = "/srv/pypi";
/// The one project the index holds: PyPI's wheel, checked by its sha256.
pub const WHEEL_PROJECT: &str = "six";
pub const WHEEL_VERSION: &str = "1.16.0";
const WHEEL_FILE: &str = "six-1.16.0-py2.py3-none-any.whl";
const WHEEL_SHA256: &str = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254";

/// What `pip install` in RUN needs beside the base fixture: a flat apt
/// repository with [`PIP_PACKAGE`] and what it needs beyond the base
/// image (mounted at [`REPO_IN_CONTAINER`] in place of the base's), and a
/// package index in PyPI's "simple" form (PEP 503) holding one wheel
/// downloaded from PyPI, so that pip resolves and installs through an
/// index with no network.
#[derive(Debug, Clone)]
pub struct PipFixture {
    pub dir: PathBuf,
    /// A flat apt repository: `*.deb` and `Packages`.
    pub repo: PathBuf,
    /// `simple/PROJECT/index.html` and the wheel.
    pub pypi: PathBuf,
}

/// Made by the host's apt (its own configuration, state and cache under
/// the stage: the host's apt is not touched) resolving [`PIP_PACKAGE`]
/// against the base image's dpkg status, and curl for the wheel: a
/// minute's download, no second mmdebstrap.
const PIP_SCRIPT: &str = r##"set -e
cd "$STAGE"
mkdir -p apt/etc/apt.conf.d apt/etc/preferences.d apt/etc/sources.list.d \
  apt/state/lists/partial apt/cache/archives/partial repo "pypi/simple/$PROJECT"
tar -xOf "$ROOTFS" ./var/lib/dpkg/status > apt/status
cat > apt/apt.conf <<CONF
Dir::Etc "$STAGE/apt/etc/";
Dir::Etc::Parts "$STAGE/apt/etc/apt.conf.d/";
Dir::Etc::main "$STAGE/apt/etc/apt.conf";
Dir::State "$STAGE/apt/state/";
Dir::State::status "$STAGE/apt/status";
Dir::Cache "$STAGE/apt/cache/";
APT::Install-Recommends "false";
APT::Sandbox::User "root";
Debug::NoLocking "true";
CONF
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" \
  > apt/etc/sources.list
export APT_CONFIG="$STAGE/apt/apt.conf"
apt-get -q update
apt-get -q -y --download-only install "$PACKAGE"
mv apt/cache/archives/*.deb repo/
rm -rf apt
cd repo
for f in *.deb; do dpkg-deb -f "$f"; printf 'Filename: ./%s\nSize: %s\nSHA256: %s\n\n' \
  "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"; done > Packages
cd "../pypi/simple/$PROJECT"
url=$(curl -fsSL "https://pypi.org/simple/$PROJECT/" | grep -o "https://files.pythonhosted.org/[^\"#]*/$WHEEL" | head -n 1)
curl -fsSL -o "$WHEEL" "$url"
echo "$SHA256  $WHEEL" | sha256sum -c -
printf '<html><body><a href="%s#sha256=%s">%s</a></body></html>\n' "$WHEEL" "$SHA256" "$WHEEL" > index.html
"##;

/// The pip fixture beside `base`: cached, or made now (as root). `None`
/// after printing `SKIP` when it can be neither.
pub fn pip_fixture(test: &str, base: &DebianFixture) -> Option<PipFixture> {
    // Named by the script and the base it was resolved against.
    let mut h = Sha256::new();
    for part in [
        PIP_SCRIPT,
        PIP_PACKAGE,
        WHEEL_FILE,
        WHEEL_SHA256,
        SUITE,
        MIRROR,
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.update(base.dir.as_os_str().as_encoded_bytes());
    if let Ok(m) = fs::metadata(&base.rootfs) {
        use std::os::unix::fs::MetadataExt;
        h.update(format!("\n{} {}", m.size(), m.mtime()));
    }
    let key: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = Path::new(CACHE_DIR).join(format!("pip-{SUITE}-{key}"));
    let complete = |dir: &Path| {
        dir.join("ok").is_file().then(|| PipFixture {
            dir: dir.to_path_buf(),
            repo: dir.join("repo"),
            pypi: dir.join("pypi"),
        })
    };
    if let Some(f) = complete(&dir) {
        return Some(f);
    }
    if !running_as_root() {
        let _ = skip(
            test,
            &format!(
                "the pip fixture is not cached at {} and making it needs root; \
                 run the suite as root once",
                dir.display()
            ),
        );
        return None;
    }
    for tool in ["apt-get", "curl"] {
        if !have(tool) {
            let _ = skip(test, &format!("{tool} is not installed (.ci/packages.txt)"));
            return None;
        }
    }
    let lock_path = Path::new(CACHE_DIR).join(".debian.lock");
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("open {}: {e}", lock_path.display()));
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("lock {}: {e}", lock_path.display()));
    if let Some(f) = complete(&dir) {
        return Some(f);
    }
    let stage = Path::new(CACHE_DIR).join(format!(".build-pip-{}", std::process::id()));
    let _ = fs::remove_dir_all(&stage);
    fs::create_dir_all(&stage).unwrap_or_else(|e| panic!("create {}: {e}", stage.display()));
    let log = stage.join("make.log");
    let log_file =
        fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
    let status = Command::new("sh")
        .args(["-c", PIP_SCRIPT])
        .env("STAGE", &stage)
        .env("ROOTFS", &base.rootfs)
        .env("MIRROR", MIRROR)
        .env("SUITE", SUITE)
        .env("PACKAGE", PIP_PACKAGE)
        .env("PROJECT", WHEEL_PROJECT)
        .env("WHEEL", WHEEL_FILE)
        .env("SHA256", WHEEL_SHA256)
        .stdout(log_file.try_clone().expect("dup log fd"))
        .stderr(log_file)
        .status()
        .unwrap_or_else(|e| panic!("run sh: {e}"));
    if !status.success() {
        let text = fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let _ = fs::remove_dir_all(&stage);
        panic!(
            "making the pip fixture failed ({status}):\n{}",
            tail.join("\n")
        );
    }
    // Readable by the unprivileged test users.
    let index = stage.join("pypi/simple").join(WHEEL_PROJECT);
    for d in [
        stage.clone(),
        stage.join("repo"),
        stage.join("pypi"),
        stage.join("pypi/simple"),
        index.clone(),
    ] {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", d.display()));
    }
    for entry in (fs::read_dir(stage.join("repo")).expect("read the repo dir"))
        .chain(fs::read_dir(&index).expect("read the index dir"))
        .flatten()
    {
        fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", entry.path().display()));
    }
    super::fixtures::write_file(&stage.join("ok"), b"");
    fs::rename(&stage, &dir)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", stage.display(), dir.display()));
    complete(&dir)
}
