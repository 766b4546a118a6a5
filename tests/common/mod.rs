//! The integration-test harness: runs the built `burrow` binary as an
//! unprivileged user (`burrow-test` with subordinate ids, `burrow-nosub`
//! without) in a private temporary HOME, and gives tests the paths and
//! listings they need to check the store on disk. Never touches the real
//! user's files; cleans up with `burrow system reset -f`.
//!
//! When the tests are not run as root, burrow runs as the current user, and
//! a test that needs the other kind of user prints `SKIP` and returns. CI
//! runs the suite as root, so both kinds are always tested there.
#![deny(clippy::undocumented_unsafe_blocks)]
#![allow(dead_code)]

pub mod debian;
pub mod fixtures;
pub mod http;
pub mod layers;
pub mod registry;
pub mod run_image;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The user a test needs burrow to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestUser {
    /// Any unprivileged user (`burrow-test` when the tests run as root).
    Any,
    /// A user with subordinate uid/gid ranges (`burrow-test`).
    WithSubids,
    /// A user without subordinate ranges (`burrow-nosub`).
    NoSubids,
}

/// How long one burrow command may take before the test calls it hung.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// The exit status of burrow's own failures (docker's convention).
pub const EXIT_FAILURE: i32 = 125;

/// A subordinate id range from /etc/subuid or /etc/subgid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubRange {
    pub start: u32,
    pub count: u32,
}

/// Who burrow runs as in a test.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub subuid: Option<SubRange>,
    pub subgid: Option<SubRange>,
}

impl Account {
    /// The host uid that a uid inside the image maps to: 0 is the user,
    /// 1.. are the subordinate range.
    pub fn host_uid(&self, container_uid: u32) -> u32 {
        map_id(self.uid, self.subuid, container_uid)
    }
    pub fn host_gid(&self, container_gid: u32) -> u32 {
        map_id(self.gid, self.subgid, container_gid)
    }
}

fn map_id(own: u32, range: Option<SubRange>, id: u32) -> u32 {
    if id == 0 {
        return own;
    }
    let r = range.expect("a user with a subordinate range");
    assert!(id <= r.count, "id {id} is beyond the range {r:?}");
    r.start + id - 1
}

/// The first range for `name` (or its numeric uid) in a subid file, as
/// newuidmap reads it.
pub fn subid_range(file: &str, name: &str, uid: u32) -> Option<SubRange> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let who = parts.next()?;
        let start = parts.next()?.parse().ok()?;
        let count = parts.next()?.parse().ok()?;
        (who == name || who == uid.to_string()).then_some(SubRange { start, count })
    })
}

fn account_named(name: &str) -> Option<Account> {
    let user = nix::unistd::User::from_name(name).ok()??;
    Some(Account {
        name: name.to_string(),
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        subuid: subid_range("/etc/subuid", name, user.uid.as_raw()),
        subgid: subid_range("/etc/subgid", name, user.uid.as_raw()),
    })
}

fn current_account() -> Account {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    Account {
        subuid: subid_range("/etc/subuid", &name, uid.as_raw()),
        subgid: subid_range("/etc/subgid", &name, uid.as_raw()),
        name,
        uid: uid.as_raw(),
        gid: gid.as_raw(),
    }
}

pub fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The binary under test, copied where an unprivileged user can run it
/// (cargo's target dir may sit under a 0700 home). Shared by the tests of
/// this process; removed when the last environment using it is dropped.
struct SharedBinary {
    users: usize,
    dir: Option<PathBuf>,
}

static BINARY: Mutex<SharedBinary> = Mutex::new(SharedBinary {
    users: 0,
    dir: None,
});

fn acquire_binary() -> PathBuf {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_burrow"));
    if !running_as_root() {
        return built;
    }
    let mut shared = BINARY.lock().unwrap_or_else(|e| e.into_inner());
    if shared.dir.is_none() {
        let dir = tempfile::Builder::new()
            .prefix("burrow-it-bin.")
            .tempdir()
            .expect("temp dir for the binary")
            .keep();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod bin dir");
        let dst = dir.join("burrow");
        fs::copy(&built, &dst)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", built.display(), dst.display()));
        fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).expect("chmod binary");
        shared.dir = Some(dir);
    }
    shared.users += 1;
    shared.dir.as_ref().expect("set above").join("burrow")
}

/// Spawns `cmd`, trying again while exec(2) says ETXTBSY: the shared copy
/// of the binary is written by this process, and a child another test
/// thread forks at that moment holds the written file open until its own
/// exec, so the copy can read as busy for a moment after it is complete.
fn spawn_retrying(cmd: &mut Command) -> std::io::Result<Child> {
    for _ in 0..100 {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other,
        }
    }
    cmd.spawn()
}

fn release_binary() {
    if !running_as_root() {
        return;
    }
    let mut shared = BINARY.lock().unwrap_or_else(|e| e.into_inner());
    shared.users = shared.users.saturating_sub(1);
    if shared.users == 0 {
        if let Some(dir) = shared.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// The result of one burrow command.
#[derive(Debug)]
pub struct Output {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with everything burrow said unless it exited 0.
    pub fn assert_ok(&self) -> &Output {
        assert!(self.status.success(), "expected success\n{self}");
        self
    }

    /// Panics unless burrow failed the way it must on its own errors: exit
    /// 125 and exactly one stderr line starting with `Error: `.
    pub fn assert_error(&self) -> &Output {
        assert_eq!(self.code(), Some(EXIT_FAILURE), "expected exit 125\n{self}");
        let errors = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("Error: "))
            .count();
        assert_eq!(errors, 1, "expected one `Error: ` line on stderr\n{self}");
        self
    }

    /// The `Error: ` line.
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|l| l.starts_with("Error: "))
            .unwrap_or_else(|| panic!("no `Error: ` line\n{self}"))
    }

    /// stderr lines that are warnings (`warning` in any case).
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.to_ascii_lowercase().contains("warn"))
            .collect()
    }

    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: burrow {}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.status,
            self.stdout,
            self.stderr
        )
    }
}

/// One test's private world: a temporary root holding the user's HOME (with
/// the XDG directories), a work dir for fixtures and outputs, and a canary
/// dir that an escaping layer could write to (it is owned by the user) but
/// never must.
pub struct TestEnv {
    pub account: Account,
    pub root: PathBuf,
    pub home: PathBuf,
    pub data_home: PathBuf,
    pub config_home: PathBuf,
    pub cache_home: PathBuf,
    pub runtime_dir: PathBuf,
    /// Fixtures and outputs (`save -o`): readable and writable by the user.
    pub work: PathBuf,
    /// Owned by the user, holds `secret`; nothing may ever change here.
    pub canary: PathBuf,
    binary: PathBuf,
    as_root: bool,
}

impl TestEnv {
    /// A fresh environment, or `None` (after printing `SKIP`) when the tests
    /// are not run as root and the current user is not the kind required.
    pub fn new(test: &str, user: TestUser) -> Option<TestEnv> {
        let as_root = running_as_root();
        let account = if as_root {
            let name = match user {
                TestUser::Any | TestUser::WithSubids => "burrow-test",
                TestUser::NoSubids => "burrow-nosub",
            };
            let account = account_named(name).unwrap_or_else(|| {
                panic!("user {name} does not exist (.ci/run creates it; see README)")
            });
            match user {
                TestUser::WithSubids => assert!(
                    account.subuid.is_some() && account.subgid.is_some(),
                    "{name} has no subordinate ranges in /etc/subuid and /etc/subgid"
                ),
                TestUser::NoSubids => assert!(
                    account.subuid.is_none() && account.subgid.is_none(),
                    "{name} must have no subordinate ranges"
                ),
                TestUser::Any => {}
            }
            account
        } else {
            let account = current_account();
            let has = account.subuid.is_some() && account.subgid.is_some();
            let fits = match user {
                TestUser::Any => true,
                TestUser::WithSubids => has,
                TestUser::NoSubids => account.subuid.is_none() && account.subgid.is_none(),
            };
            if !fits {
                // Straight to the fd: libtest captures print! and eprint!,
                // and a skip must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP {test}: needs a user {} subordinate ids and the tests run as {}; \
                     run the suite as root to test both kinds of user",
                    if user == TestUser::WithSubids {
                        "with"
                    } else {
                        "without"
                    },
                    account.name
                );
                return None;
            }
            account
        };
        Some(TestEnv::for_account(account, as_root))
    }

    /// An environment for the user `name` (one a test made itself), when
    /// the tests run as root; `None` after a `SKIP` line otherwise.
    pub fn as_user(test: &str, name: &str) -> Option<TestEnv> {
        if !running_as_root() {
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: needs root (it runs burrow as a user of its own)"
            );
            return None;
        }
        let account = account_named(name).unwrap_or_else(|| panic!("no user {name}"));
        Some(TestEnv::for_account(account, true))
    }

    fn for_account(account: Account, as_root: bool) -> TestEnv {
        let root = tempfile::Builder::new()
            .prefix("burrow-it.")
            .tempdir()
            .expect("temp dir")
            .keep();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod test root");
        let home = root.join("home");
        let env = TestEnv {
            data_home: home.join(".local/share"),
            config_home: home.join(".config"),
            cache_home: home.join(".cache"),
            runtime_dir: root.join("run"),
            work: root.join("work"),
            canary: root.join("canary"),
            home,
            root,
            binary: acquire_binary(),
            account,
            as_root,
        };
        for (dir, mode) in [
            (&env.home, 0o700),
            (&env.home.join(".local"), 0o755),
            (&env.data_home, 0o755),
            (&env.config_home, 0o755),
            (&env.cache_home, 0o755),
            (&env.runtime_dir, 0o700),
            (&env.work, 0o755),
            (&env.canary, 0o755),
        ] {
            fs::create_dir_all(dir).expect("create test dir");
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).expect("chmod test dir");
            env.give(dir);
        }
        let secret = env.canary.join("secret");
        fixtures::write_file(&secret, b"canary\n");
        env.give(&secret);
        env
    }

    /// Makes `path` the test user's (when the tests run as root).
    pub fn give(&self, path: &Path) {
        if self.as_root {
            std::os::unix::fs::lchown(path, Some(self.account.uid), Some(self.account.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// The storage root: `$XDG_DATA_HOME/burrow/storage`.
    pub fn storage(&self) -> PathBuf {
        self.data_home.join("burrow/storage")
    }

    /// The unpacked tree of a layer: `layers/<diffid>/diff`.
    pub fn layer_diff(&self, diff_id: &str) -> PathBuf {
        let hex = diff_id.strip_prefix("sha256:").unwrap_or(diff_id);
        self.storage().join("layers").join(hex).join("diff")
    }

    /// The diff ids (hex) of every layer directory in the store.
    pub fn layer_ids(&self) -> BTreeSet<String> {
        let Ok(rd) = fs::read_dir(self.storage().join("layers")) else {
            return BTreeSet::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_hex64(n))
            .collect()
    }

    /// Everything burrow owns: data, config, cache and runtime dirs.
    pub fn burrow_dirs(&self) -> Vec<PathBuf> {
        vec![
            self.data_home.join("burrow"),
            self.config_home.join("burrow"),
            self.cache_home.join("burrow"),
            self.runtime_dir.join("burrow"),
        ]
    }

    /// A listing of everything in the test root that is not burrow's own
    /// (HOME less burrow's dirs, work, canary), to prove an operation wrote
    /// nothing outside the store.
    pub fn outside_listing(&self) -> Listing {
        Listing::of(&self.root, &self.burrow_dirs())
    }

    /// Paths (relative) under burrow's data and cache dirs: what a failed
    /// command must not leave behind once the next command ran.
    pub fn store_paths(&self) -> BTreeSet<PathBuf> {
        let mut all = BTreeSet::new();
        for dir in [
            self.data_home.join("burrow"),
            self.cache_home.join("burrow"),
        ] {
            for p in Listing::of(&dir, &[]).entries.into_keys() {
                all.insert(dir.join(p));
            }
        }
        all
    }

    /// The burrow binary the tests run (a root-owned copy when the tests
    /// run as root).
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The command that runs `burrow ARGS` as the test user, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(&self.binary, args)
    }

    /// The command that runs `PROGRAM ARGS` as the test user with burrow's
    /// environment (HOME, the XDG dirs): a wrapper around burrow, or
    /// another copy of burrow.
    pub fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("USER", &self.account.name)
            .env("LOGNAME", &self.account.name)
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("XDG_DATA_HOME", &self.data_home)
            .env("XDG_CONFIG_HOME", &self.config_home)
            .env("XDG_CACHE_HOME", &self.cache_home)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env("LANG", "C.UTF-8")
            .current_dir(&self.work);
        if let Ok(bt) = std::env::var("RUST_BACKTRACE") {
            cmd.env("RUST_BACKTRACE", bt);
        }
        if self.as_root {
            // std drops the supplementary groups when uid is set from root.
            cmd.uid(self.account.uid).gid(self.account.gid);
        }
        cmd
    }

    /// Runs `burrow ARGS` as the test user and collects what it printed.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    /// Runs `burrow ARGS` with environment changes: `(NAME, Some(value))`
    /// sets a variable, `(NAME, None)` removes it (as `env -u NAME`).
    pub fn run_env(&self, args: &[&str], vars: &[(&str, Option<&str>)]) -> Output {
        let mut cmd = self.command(args);
        for (name, value) in vars {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = spawn_retrying(&mut cmd)
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.binary.display()));
        wait_output(child, args, None)
    }

    /// Runs `burrow ARGS` with `stdin` fed to it.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let child = spawn_retrying(&mut cmd)
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.binary.display()));
        wait_output(child, args, stdin)
    }

    /// Starts `burrow ARGS` without waiting, in a process group of its own
    /// (so [`kill_group`] reaches burrow's helper processes too); finish it
    /// with [`finish`].
    pub fn spawn(&self, args: &[&str]) -> (Child, Vec<String>) {
        let mut cmd = self.command(args);
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A suite started in the background by a shell without job
        // control inherits SIGINT and SIGQUIT ignored (and SIGHUP under
        // nohup), which a program keeps: a spawned burrow gets the
        // defaults, as a command typed at a terminal has them, so that the
        // tests signalling it test burrow and not how the suite was run.
        // SAFETY: between fork and exec only signal(2), which is
        // async-signal-safe; nothing is allocated.
        unsafe {
            cmd.pre_exec(|| {
                for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
                    libc::signal(sig, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        let child = spawn_retrying(&mut cmd)
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.binary.display()));
        (child, args.iter().map(|s| s.to_string()).collect())
    }

    /// `run` that must succeed.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        out.assert_ok();
        out
    }

    /// `run` that must fail as burrow's own error (exit 125, `Error: `).
    pub fn fails(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        out.assert_error();
        out
    }

    /// Writes a fixture file into the work dir and returns its path.
    pub fn fixture(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.work.join(name);
        fixtures::write_file(&path, data);
        path
    }

    /// Writes a docker-archive fixture into the work dir.
    pub fn docker_archive(
        &self,
        name: &str,
        images: &[fixtures::ImageSpec],
    ) -> (PathBuf, fixtures::ArchiveLayout) {
        let path = self.work.join(name);
        let layout = fixtures::write_docker_archive(&path, images);
        (path, layout)
    }

    /// Loads a busybox image tagged `name` (`/bin/sh` and the `applets`
    /// linked to busybox) with `run_config` (docker's image config: Env,
    /// Cmd, Labels, Healthcheck, ...), as `docker load` would.
    pub fn load_busybox(&self, name: &str, applets: &[&str], run_config: Value) {
        let mut layer = fixtures::busybox_rootfs();
        for applet in applets {
            layer = layer.symlink(&format!("bin/{applet}"), "busybox");
        }
        let mut image = fixtures::ImageSpec::new(&[name], vec![layer.finish()]);
        image.run_config = run_config;
        let file = format!("{}.tar", name.replace(['/', ':'], "_"));
        let (path, _) = self.docker_archive(&file, &[image]);
        self.give(&path);
        self.load(&path);
        fs::remove_file(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }

    /// `burrow load -i PATH`, which must succeed; returns its output.
    pub fn load(&self, path: &Path) -> Output {
        self.ok(&["load", "-i", path_str(path)])
    }

    /// `burrow images --no-trunc --format json`: docker's lines, one per
    /// repository and tag (`ID`, `Repository`, `Tag`, `Digest`, `Size`,
    /// ... all strings), gathered per image: the first line of each image
    /// with `Names`, its `Repository:Tag`s (none for `<none>`), added.
    pub fn images_json(&self) -> Vec<Value> {
        let out = self.ok(&["images", "--no-trunc", "--format", "json"]);
        let mut images: Vec<Value> = Vec::new();
        for line in json_lines(&out.stdout).as_array().expect("json lines") {
            for key in ["ID", "Repository", "Tag", "Digest", "Size", "CreatedAt"] {
                assert!(line[key].is_string(), "{key} is a string: {line}");
            }
            let name = match (line["Repository"].as_str(), line["Tag"].as_str()) {
                (Some("<none>"), _) | (_, Some("<none>")) | (None, _) | (_, None) => None,
                (Some(r), Some(t)) => Some(Value::String(format!("{r}:{t}"))),
            };
            match images.iter_mut().find(|i| i["ID"] == line["ID"]) {
                Some(i) => i["Names"].as_array_mut().expect("names").extend(name),
                None => {
                    let mut i = line.clone();
                    i["Names"] = Value::Array(name.into_iter().collect());
                    images.push(i);
                }
            }
        }
        images
    }

    /// The image `images --format json` lists with the id `id_hex`, if
    /// any (see `images_json`).
    pub fn image_by_id(&self, id_hex: &str) -> Option<Value> {
        let id = format!("sha256:{id_hex}");
        self.images_json()
            .into_iter()
            .find(|i| i["ID"].as_str() == Some(id.as_str()))
    }

    /// `burrow image inspect IMAGE`, the one object of its array.
    pub fn inspect(&self, image: &str) -> Value {
        let out = self.ok(&["image", "inspect", image]);
        let v: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("image inspect is not JSON: {e}\n{out}"));
        let arr = v
            .as_array()
            .unwrap_or_else(|| panic!("image inspect is not an array\n{out}"));
        assert_eq!(arr.len(), 1, "one image asked, one object expected\n{out}");
        arr[0].clone()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let out = self.run(&["system", "reset", "-f"]);
        if !out.status.success() {
            eprintln!("cleanup: `burrow system reset -f` failed\n{out}");
        }
        if let Err(e) = fs::remove_dir_all(&self.root) {
            eprintln!("cleanup: cannot remove {}: {e}", self.root.display());
        }
        release_binary();
    }
}

/// A fresh environment for `user` (or `None` after a `SKIP`) with the
/// busybox image `name` loaded with `run_config` as its config
/// (`plain_config()` for most tests).
pub fn env_with_busybox(
    test: &str,
    user: TestUser,
    name: &str,
    run_config: Value,
) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    env.load_busybox(name, &[], run_config);
    Some(env)
}

/// The config of most tests' image: `PATH=/bin` and `sh`.
pub fn plain_config() -> Value {
    serde_json::json!({ "Env": ["PATH=/bin"], "Cmd": ["sh"] })
}

/// SIGKILLs a spawned burrow and every process of its group, as a killed
/// terminal would, and reaps it.
pub fn kill_group(child: &mut (Child, Vec<String>)) {
    let pgid = nix::unistd::Pid::from_raw(child.0.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.0.wait();
    // The group's other processes (a build's forked stages, a supervisor)
    // die on their own time: one in the middle of a mount or an unlink can
    // take a while under load. What a test checks after a kill is what the
    // dead left behind, so it waits for them (zombies count as dead).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while group_alive(pgid.as_raw()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Whether a process of process group `pgid` is alive (not a zombie).
fn group_alive(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| {
            // After the command name's closing parenthesis: state, ppid, pgrp.
            let mut f = s.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace();
            let state = f.next();
            let pgrp = f.nth(1).and_then(|p| p.parse::<i32>().ok());
            pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
        })
    })
}

/// Waits for a spawned burrow (see [`TestEnv::spawn`]) and collects its
/// output.
pub fn finish(child: (Child, Vec<String>)) -> Output {
    let args: Vec<&str> = child.1.iter().map(|s| s.as_str()).collect();
    wait_output(child.0, &args, None)
}

pub fn wait_output(mut child: Child, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let feeder = stdin.map(|data| {
        let mut pipe = child.stdin.take().expect("stdin piped");
        let data = data.to_vec();
        std::thread::spawn(move || {
            // burrow may stop reading early on bad input: a broken pipe is
            // its answer, not the test's failure.
            let _ = pipe.write_all(&data);
        })
    });
    let mut out_pipe = child.stdout.take().expect("stdout piped");
    let mut err_pipe = child.stderr.take().expect("stderr piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for burrow") {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "burrow {} did not finish in {COMMAND_TIMEOUT:?}",
                    args.join(" ")
                );
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    Output {
        args: args.iter().map(|s| s.to_string()).collect(),
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// What a listing records of one file: enough to notice it was created,
/// removed, rewritten, re-linked, chmod-ed or chown-ed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u64,
    pub ino: u64,
    pub mtime_ns: i128,
    pub link: Option<PathBuf>,
}

impl FileState {
    pub fn of(path: &Path) -> Option<FileState> {
        let m = fs::symlink_metadata(path).ok()?;
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else {
            "special"
        };
        Some(FileState {
            kind,
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: if ft.is_dir() { 0 } else { m.size() },
            nlink: if ft.is_dir() { 0 } else { m.nlink() },
            ino: m.ino(),
            // A directory's own mtime moves when burrow creates its dirs
            // under XDG_DATA_HOME; its content is listed entry by entry.
            mtime_ns: if ft.is_dir() {
                0
            } else {
                m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128
            },
            link: ft.is_symlink().then(|| fs::read_link(path).ok()).flatten(),
        })
    }
}

/// Every path under a directory (relative to it) with its state, skipping
/// excluded subtrees; a directory the test cannot read is recorded without
/// its content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub entries: BTreeMap<PathBuf, FileState>,
}

impl Listing {
    pub fn of(root: &Path, exclude: &[PathBuf]) -> Listing {
        let mut listing = Listing::default();
        walk(root, root, exclude, &mut listing.entries);
        listing
    }

    /// Panics, listing every difference, unless `self` and `after` match.
    pub fn assert_unchanged(&self, after: &Listing, what: &str) {
        let mut diffs = Vec::new();
        for (p, s) in &self.entries {
            match after.entries.get(p) {
                None => diffs.push(format!("removed: {}", p.display())),
                Some(a) if a != s => diffs.push(format!(
                    "changed: {}\n  before {s:?}\n  after  {a:?}",
                    p.display()
                )),
                Some(_) => {}
            }
        }
        for p in after.entries.keys() {
            if !self.entries.contains_key(p) {
                diffs.push(format!("added: {}", p.display()));
            }
        }
        assert!(
            diffs.is_empty(),
            "{what}: files outside the store changed:\n{}",
            diffs.join("\n")
        );
    }
}

fn walk(root: &Path, dir: &Path, exclude: &[PathBuf], out: &mut BTreeMap<PathBuf, FileState>) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names {
        if exclude.contains(&path) {
            continue;
        }
        let Some(state) = FileState::of(&path) else {
            continue;
        };
        let is_dir = state.kind == "dir";
        let rel = path.strip_prefix(root).expect("under root").to_path_buf();
        out.insert(rel, state);
        if is_dir {
            walk(root, &path, exclude, out);
        }
    }
}

/// A host file's state, to prove a test left it alone (`/etc/passwd`).
pub fn host_file_state(path: &str) -> FileState {
    FileState::of(Path::new(path)).unwrap_or_else(|| panic!("{path} exists"))
}

/// `user.*` (or any) extended attribute of a path, not following symlinks.
pub fn lgetxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cpath = CString::new(path.as_os_str().as_bytes()).ok()?;
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated and live across the call; the
    // buffer is valid for `buf.len()` bytes and the kernel writes at most
    // that many.
    let n = unsafe {
        libc::lgetxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

/// Strips `sha256:` if present.
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Whether `got` names the same image reference as the fully qualified
/// `full` (docker's familiar forms accepted: `busybox:1` for
/// `docker.io/library/busybox:1`).
pub fn same_ref(got: &str, full: &str) -> bool {
    if got == full {
        return true;
    }
    if let Some(rest) = full.strip_prefix("docker.io/") {
        if got == rest {
            return true;
        }
        if let Some(short) = rest.strip_prefix("library/") {
            return got == short;
        }
    }
    false
}

/// The strings of a JSON array (or nothing when it is null or absent).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// What a [`wait_for`] probe answers: ready (with a value) or not yet
/// (with what it saw, for the message if time runs out).
pub trait Probe {
    type Value;
    fn ready(self) -> Result<Self::Value, String>;
}

impl Probe for bool {
    type Value = ();
    fn ready(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err(String::new())
        }
    }
}

impl<T> Probe for Option<T> {
    type Value = T;
    fn ready(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

impl<T, E: std::fmt::Display> Probe for Result<T, E> {
    type Value = T;
    fn ready(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Polls `probe` every 50 ms until it is ready and returns its value;
/// panics naming `what` (and the last thing the probe saw) once `timeout`
/// has passed. The one polling loop of the suite: a test waits for a state,
/// never for a time.
pub fn wait_for<P: Probe>(timeout: Duration, what: &str, mut probe: impl FnMut() -> P) -> P::Value {
    let deadline = Instant::now() + timeout;
    loop {
        match probe().ready() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                if last.is_empty() {
                    panic!("timed out after {timeout:?} waiting for {what}");
                }
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A list command's `--format json` (docker's JSON Lines: one object a
/// line), gathered into one array; a line that is not one JSON object
/// fails the test.
pub fn json_lines(stdout: &str) -> Value {
    Value::Array(
        stdout
            .lines()
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(v) if v.is_object() => v,
                other => panic!("not one JSON object a line: {other:?}: {l:?}\n{stdout}"),
            })
            .collect(),
    )
}
