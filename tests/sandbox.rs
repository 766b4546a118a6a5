//! The sandbox on a real kernel, as unprivileged users: a busybox root
//! filesystem made in a temporary directory, run through `sandbox::spawn`
//! by `burrow-test` (full id map through newuidmap) and `burrow-nosub`
//! (single-id map). Run as root, each case forks, drops to the user and
//! reports back over a pipe; run as anyone else, it runs as that user.
//!
//! `harness = false`: forking into a user namespace needs a single-threaded
//! process. `cargo test --test sandbox -- NAME` runs the cases matching NAME.
#![deny(clippy::undocumented_unsafe_blocks)]

use burrow::sandbox::userns::IdMap;
use burrow::sandbox::{
    self, ExitStatus, MountOp, Rootfs, RootfsDriver, SandboxError, SandboxSpec, User,
};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Outcome = Result<(), String>;
/// A named case: what it proves, and the proof.
type Case = (&'static str, fn() -> Outcome);

const FULL: &str = "burrow-test";
const SINGLE: &str = "burrow-nosub";

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

// ---------------------------------------------------------------- fixtures

const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "id", "hostname", "ps", "mount", "sleep", "echo", "touch", "rm", "mkdir",
    "wc", "stty", "head", "grep", "true", "false", "test", "awk", "env", "pwd", "kill", "chmod",
    "tr", "sed", "cut", "printf", "stat", "readlink", "tty", "cp",
];

/// A base layer: busybox and its applets in /bin, accounts in /etc.
fn busybox_layer(dir: &Path) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    for d in ["bin", "etc", "root", "tmp", "home/user"] {
        std::fs::create_dir_all(dir.join(d)).map_err(io)?;
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).map_err(io)?;
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(a)).map_err(io)?;
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:User:/home/user:/bin/sh\n",
    )
    .map_err(io)?;
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nuser:x:1000:\nextra:x:2000:user\n",
    )
    .map_err(io)?;
    std::fs::write(dir.join("notexec"), "#!/bin/sh\necho no\n").map_err(io)?;
    std::fs::set_permissions(dir.join("notexec"), std::fs::Permissions::from_mode(0o644))
        .map_err(io)?;
    Ok(())
}

/// A container's directories under `tmp`: one base layer, upper, work.
struct Layers {
    base: PathBuf,
    upper: PathBuf,
    work: PathBuf,
}

fn layers(tmp: &Path) -> Result<Layers, String> {
    let l = Layers {
        base: tmp.join("base"),
        upper: tmp.join("upper"),
        work: tmp.join("work"),
    };
    for d in [&l.base, &l.upper, &l.work] {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    busybox_layer(&l.base)?;
    Ok(l)
}

fn spec_for(l: &Layers, argv: &[&str]) -> Result<SandboxSpec, String> {
    let (map, _) = IdMap::for_current_user().map_err(|e| e.to_string())?;
    Ok(SandboxSpec::new(
        map,
        Rootfs::Overlay {
            lower: vec![l.base.clone()],
            upper: l.upper.clone(),
            work: l.work.clone(),
        },
        argv.iter().map(|s| s.to_string()).collect(),
    ))
}

struct Ran {
    status: ExitStatus,
    out: String,
    driver: RootfsDriver,
    fallbacks: String,
}

/// Runs `spec` with stdout (and stderr) captured in a file.
fn run(spec: &SandboxSpec) -> Result<Result<Ran, SandboxError>, String> {
    let io = |e: std::io::Error| e.to_string();
    let mut file = tempfile::tempfile().map_err(io)?;
    // SAFETY: dup/dup2 on stdio numbers of this single-threaded process.
    let saved = unsafe { (libc::dup(1), libc::dup(2)) };
    // SAFETY: as above; the captured file stays open past the calls.
    unsafe {
        libc::dup2(file.as_raw_fd(), 1);
        libc::dup2(file.as_raw_fd(), 2);
    }
    let result = sandbox::spawn(spec).map(|r| {
        let report = r.rootfs().clone();
        (r.wait_exit(), report)
    });
    // SAFETY: as above.
    unsafe {
        libc::dup2(saved.0, 1);
        libc::dup2(saved.1, 2);
        libc::close(saved.0);
        libc::close(saved.1);
    }
    let mut out = String::new();
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
    file.read_to_string(&mut out).map_err(io)?;
    Ok(result.map(|(status, report)| Ran {
        status,
        out,
        driver: report.driver,
        fallbacks: format!("{:?}", report.fallbacks),
    }))
}

/// Runs and expects the command to have started.
fn run_ok(spec: &SandboxSpec) -> Result<Ran, String> {
    run(spec)?.map_err(|e| format!("spawn failed: {e}"))
}

// ------------------------------------------------------------- user switch

fn user_ids(name: &str) -> Result<(u32, u32), String> {
    let u = nix::unistd::User::from_name(name)
        .map_err(|e| e.to_string())?
        .ok_or(format!("user {name} does not exist"))?;
    Ok((u.uid.as_raw(), u.gid.as_raw()))
}

/// Runs `f` in a forked child as `user` (when we are root) with a fresh
/// temporary directory it owns; removed by root afterwards.
fn as_user(user: &str, f: fn(&Path) -> Outcome) -> Outcome {
    let root = nix::unistd::Uid::effective().is_root();
    let (uid, gid) = if root {
        user_ids(user)?
    } else {
        (
            nix::unistd::Uid::current().as_raw(),
            nix::unistd::Gid::current().as_raw(),
        )
    };
    let tmp = tempfile::Builder::new()
        .prefix("burrow-sandbox-test")
        .tempdir()
        .map_err(|e| e.to_string())?;
    std::os::unix::fs::chown(tmp.path(), Some(uid), Some(gid)).map_err(|e| e.to_string())?;
    let (r, w) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    // SAFETY: this test binary is single-threaded (harness = false).
    match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
        nix::unistd::ForkResult::Child => {
            drop(r);
            // A hung case dies (and its container with it) instead of
            // hanging the suite.
            // SAFETY: alarm takes a number of seconds.
            unsafe { libc::alarm(60) };
            let result = drop_to(root, uid, gid).and_then(|()| f(tmp.path()));
            let text = match result {
                Ok(()) => String::new(),
                Err(e) => format!("FAIL {e}"),
            };
            let mut w = std::fs::File::from(w);
            let _ = w.write_all(text.as_bytes());
            // SAFETY: leave without running the parent's destructors (the
            // temporary directory belongs to the parent).
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut text = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut text);
            let status = nix::sys::wait::waitpid(child, None).map_err(|e| e.to_string())?;
            if let Some(msg) = text.strip_prefix("FAIL ") {
                return Err(format!("[as {user}] {msg}"));
            }
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                other => Err(format!("[as {user}] test process ended: {other:?}")),
            }
        }
    }
}

fn drop_to(root: bool, uid: u32, gid: u32) -> Outcome {
    if !root {
        return Ok(());
    }
    nix::unistd::setgroups(&[]).map_err(|e| e.to_string())?;
    let g = nix::unistd::Gid::from_raw(gid);
    nix::unistd::setresgid(g, g, g).map_err(|e| e.to_string())?;
    let u = nix::unistd::Uid::from_raw(uid);
    nix::unistd::setresuid(u, u, u).map_err(|e| e.to_string())?;
    // A set-id transition leaves the process undumpable, which makes its
    // /proc files root's: it could not write its own uid_map.
    // SAFETY: PR_SET_DUMPABLE takes an integer.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
    std::env::set_var("HOME", "/tmp");
    Ok(())
}

fn both_users(f: fn(&Path) -> Outcome) -> Outcome {
    as_user(FULL, f)?;
    as_user(SINGLE, f)
}

// ------------------------------------------------------------------ cases

fn exit_status_is_the_commands(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let r = run_ok(&spec_for(&l, &["true"])?)?;
    ensure!(
        r.status == ExitStatus::Exited(0),
        "true: {:?} {}",
        r.status,
        r.out
    );
    let r = run_ok(&spec_for(&l, &["sh", "-c", "exit 3"])?)?;
    ensure!(
        r.status.code() == 3,
        "exit 3 gave {:?}: {}",
        r.status,
        r.out
    );
    Ok(())
}

fn missing_command_is_127_and_not_executable_is_126(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    match run(&spec_for(&l, &["no-such-command"])?)? {
        Err(e @ SandboxError::Exec(_)) => {
            ensure!(e.exit_code() == 127, "code {}", e.exit_code());
            ensure!(
                e.to_string() == "executable file not found in $PATH: no-such-command",
                "message: {e}"
            );
        }
        other => return Err(format!("missing command: {:?}", other.map(|r| r.status))),
    }
    match run(&spec_for(&l, &["/notexec"])?)? {
        Err(e @ SandboxError::Exec(_)) => {
            ensure!(e.exit_code() == 126, "code {} ({e})", e.exit_code())
        }
        other => return Err(format!("non-executable: {:?}", other.map(|r| r.status))),
    }
    Ok(())
}

fn sigkill_gives_137(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let spec = spec_for(&l, &["sleep", "100"])?;
    let running = sandbox::spawn(&spec).map_err(|e| e.to_string())?;
    running.kill(libc::SIGKILL).map_err(|e| e.to_string())?;
    let status = running.wait_exit();
    ensure!(
        status == ExitStatus::Signaled(9) && status.code() == 137,
        "{status:?}"
    );
    Ok(())
}

fn command_is_pid_1_and_host_is_invisible(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let mut spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "echo pid=$$; ls /proc > /tmp/procs; echo procs=$(grep -c '^[0-9]' /tmp/procs); \
             hostname; \
             cat /proc/self/mountinfo; ls /sys/class/net; cat /sys/class/net/lo/operstate",
        ],
    )?;
    spec.hostname = Some("sandbox-test".into());
    let host_name_before = nix::unistd::gethostname().map_err(|e| e.to_string())?;
    let r = run_ok(&spec)?;
    ensure!(r.status.code() == 0, "{:?}: {}", r.status, r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    ensure!(
        lines.first() == Some(&"pid=1"),
        "pid 1 is not the command: {}",
        r.out
    );
    // sh and the ls (pid 2) are all there was.
    ensure!(
        lines.get(1) == Some(&"procs=2"),
        "host processes visible: {}",
        r.out
    );
    ensure!(lines.get(2) == Some(&"sandbox-test"), "hostname: {}", r.out);
    ensure!(
        nix::unistd::gethostname().map_err(|e| e.to_string())? == host_name_before,
        "the host's name changed"
    );
    let mounts: Vec<&str> = lines
        .iter()
        .filter(|l| l.split(' ').count() > 6)
        .map(|l| l.split(' ').nth(4).unwrap_or(""))
        .collect();
    ensure!(mounts.len() < 40, "{} mounts: {mounts:?}", mounts.len());
    let tmp_s = tmp.display().to_string();
    for m in &mounts {
        let known = *m == "/"
            || ["/proc", "/sys", "/dev", "/etc/"]
                .iter()
                .any(|p| m.starts_with(p));
        ensure!(known && !m.contains(&tmp_s), "host mount visible: {m}");
    }
    ensure!(
        lines
            .iter()
            .any(|l| l.split(' ').nth(4) == Some("/proc/sys") && l.contains(" ro,")),
        "/proc/sys is not read-only: {}",
        r.out
    );
    // A network namespace of its own, loopback only, and up.
    let n = lines.len();
    ensure!(
        lines[n - 2] == "lo" && lines[n - 1] == "unknown",
        "network: {:?}",
        &lines[n.saturating_sub(3)..]
    );
    Ok(())
}

fn writes_land_in_upper_and_leave_the_layer_untouched(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "echo hi > /newfile && rm /etc/group && mkdir -p /root/d && rm -r /home",
        ],
    )?;
    let r = run_ok(&spec)?;
    ensure!(r.status.code() == 0, "{:?}: {}", r.status, r.out);
    ensure!(
        r.driver == RootfsDriver::KernelOverlay,
        "driver {:?}: {}",
        r.driver,
        r.fallbacks
    );
    ensure!(
        std::fs::read_to_string(l.upper.join("newfile"))
            .ok()
            .as_deref()
            == Some("hi\n"),
        "newfile not in upper"
    );
    ensure!(!l.base.join("newfile").exists(), "write reached the layer");
    ensure!(l.base.join("etc/group").exists(), "rm reached the layer");
    ensure!(l.base.join("home/user").exists(), "rm -r reached the layer");
    let wh = std::fs::symlink_metadata(l.upper.join("etc/group")).map_err(|e| e.to_string())?;
    ensure!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "no whiteout for /etc/group in upper"
    );
    Ok(())
}

fn many_layers_mount_with_the_kernel_overlay(tmp: &Path) -> Outcome {
    let mut l = layers(tmp)?;
    let mut lower = vec![l.base.clone()];
    for i in 1..120 {
        // Long paths: the legacy option string would overflow a page.
        let dir = tmp.join(format!(
            "layer-with-a-rather-long-name-to-fill-the-page-{i:03}"
        ));
        std::fs::create_dir_all(dir.join("layers")).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("layers").join(i.to_string()), i.to_string())
            .map_err(|e| e.to_string())?;
        std::fs::write(dir.join("top"), i.to_string()).map_err(|e| e.to_string())?;
        lower.push(dir);
    }
    let mut spec = spec_for(&l, &["sh", "-c", "ls /layers | wc -l; cat /top"])?;
    spec.rootfs_drivers = vec![RootfsDriver::KernelOverlay];
    l.base = PathBuf::new();
    spec.rootfs = Rootfs::Overlay {
        lower,
        upper: l.upper.clone(),
        work: l.work.clone(),
    };
    let r = match run(&spec)? {
        Ok(r) => r,
        Err(e) => return Err(format!("the kernel overlay could not be used here: {e}")),
    };
    ensure!(
        r.driver == RootfsDriver::KernelOverlay,
        "driver {:?}",
        r.driver
    );
    // Base first: the last layer is on top.
    ensure!(r.out == "119\n119", "120 layers: {:?}", r.out);
    Ok(())
}

fn read_only_root_refuses_writes_but_not_its_tmpfs(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let mut spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null; echo root=$?; touch /dev/shm/y; echo shm=$?",
        ],
    )?;
    spec.read_only = true;
    let r = run_ok(&spec)?;
    ensure!(r.out == "root=1\nshm=0\n", "read-only root: {:?}", r.out);
    Ok(())
}

fn capabilities_are_dockers_default(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let spec = spec_for(&l, &["grep", "^Cap", "/proc/self/status"])?;
    let r = run_ok(&spec)?;
    let want = "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n\
                CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n\
                CapAmb:\t0000000000000000\n";
    ensure!(r.out == want, "root's capabilities:\n{}", r.out);

    let mut spec = spec_for(&l, &["grep", "^Cap", "/proc/self/status"])?;
    let name = |n: &str| {
        n.parse::<burrow::sandbox::CapName>()
            .map_err(|e| e.to_string())
    };
    spec.capabilities = spec
        .capabilities
        .with_changes(&[name("NET_ADMIN")?], &[name("ALL")?]);
    spec.no_new_privs = true;
    let r = run_ok(&spec)?;
    ensure!(
        r.out.contains("CapBnd:\t0000000000001000") && r.out.contains("CapEff:\t0000000000001000"),
        "cap-drop ALL + cap-add NET_ADMIN:\n{}",
        r.out
    );
    Ok(())
}

fn non_root_user_gets_ids_groups_and_no_effective_caps(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let mut spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "id; echo $HOME; grep -E '^Cap(Eff|Bnd)' /proc/self/status",
        ],
    )?;
    spec.user = User::Lookup {
        spec: "user".into(),
        extra_gids: vec![],
        extra_groups: vec![],
    };
    let r = run_ok(&spec)?;
    ensure!(
        r.out.starts_with(
            "uid=1000(user) gid=1000(user) groups=1000(user),2000(extra)\n/home/user\n"
        ),
        "id: {:?}",
        r.out
    );
    ensure!(
        r.out.contains("CapEff:\t0000000000000000") && r.out.contains("CapBnd:\t00000000a80425fb"),
        "caps: {}",
        r.out
    );
    spec.user = User::Lookup {
        spec: "nobody-here".into(),
        extra_gids: vec![],
        extra_groups: vec![],
    };
    match run(&spec)? {
        Err(SandboxError::Setup(e)) => ensure!(
            e.to_string().contains("unable to find user nobody-here"),
            "{e}"
        ),
        other => return Err(format!("unknown user: {:?}", other.map(|r| r.status))),
    }
    Ok(())
}

fn single_map_cannot_become_an_unmapped_user(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let mut spec = spec_for(&l, &["id"])?;
    if !spec.id_map.is_single() && !nix::unistd::Uid::effective().is_root() {
        // Run by an ordinary user who has subordinate ids: there is no
        // single-id user to test with.
        println!("SKIP single_map_cannot_become_an_unmapped_user: needs a user without subordinate ids; run the suite as root to test both kinds of user");
        return Ok(());
    }
    ensure!(spec.id_map.is_single(), "expected a single-id map");
    spec.user = User::Lookup {
        spec: "user".into(),
        extra_gids: vec![],
        extra_groups: vec![],
    };
    match run(&spec)? {
        Err(SandboxError::Setup(e)) => {
            ensure!(
                e.to_string().contains("not mapped in the user namespace"),
                "{e}"
            )
        }
        other => return Err(format!("unmapped user: {:?}", other.map(|r| r.out))),
    }
    spec.user = User::Lookup {
        spec: "root".into(),
        extra_gids: vec![],
        extra_groups: vec![],
    };
    let r = run_ok(&spec)?;
    ensure!(r.out.starts_with("uid=0(root) gid=0(root)"), "{}", r.out);
    Ok(())
}

fn masked_paths_are_masked(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "wc -c < /proc/keys; wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l; \
             ls -A /proc/acpi | wc -l; \
             echo x 2>/dev/null > /proc/sys/kernel/domainname; echo procsys=$?; \
             echo x 2>/dev/null > /sys/kernel/x; echo sys=$?",
        ],
    )?;
    let r = run_ok(&spec)?;
    ensure!(
        r.out == "0\n0\n0\n0\nprocsys=1\nsys=1\n",
        "masks: {:?}",
        r.out
    );
    Ok(())
}

fn init_reaps_orphans_and_forwards_signals(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let shared = tmp.join("shared");
    std::fs::create_dir_all(&shared).map_err(|e| e.to_string())?;
    let mut spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "trap 'echo term > /shared/term; exit 42' TERM; \
             (sleep 0.1 &); echo $$ > /shared/pid; \
             while true; do sleep 0.05; done",
        ],
    )?;
    spec.init = true;
    spec.mounts.push(MountOp::Bind {
        src: shared.clone(),
        dst: "/shared".into(),
        read_only: false,
        real: false,
    });
    let running = sandbox::spawn(&spec).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !shared.join("pid").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = std::fs::read_to_string(shared.join("pid")).unwrap_or_default();
    ensure!(
        pid == "2\n",
        "with --init the command is not pid 2: {pid:?}"
    );
    // The orphaned sleep ends after 0.1 s; the init must have reaped it.
    std::thread::sleep(Duration::from_millis(400));
    let zombies = children_of(running.pid())
        .into_iter()
        .filter(|(_, state)| *state == 'Z')
        .count();
    ensure!(zombies == 0, "{zombies} zombies under the init");
    running.kill(libc::SIGTERM).map_err(|e| e.to_string())?;
    let status = running.wait_exit();
    ensure!(
        status == ExitStatus::Exited(42),
        "after SIGTERM: {status:?}"
    );
    ensure!(shared.join("term").exists(), "the trap did not run");
    Ok(())
}

/// (pid, state) of the processes whose parent is `ppid`, from the host's
/// /proc.
fn children_of(ppid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // After the command name's closing parenthesis: state, ppid.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.trim().to_string()) else {
            continue;
        };
        let mut f = rest.split(' ');
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if f.next().and_then(|p| p.parse::<i32>().ok()) == Some(ppid) {
            out.push((pid, state));
        }
    }
    out
}

fn volumes_and_tmpfs_mounts(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let vol = tmp.join("vol");
    std::fs::create_dir_all(&vol).map_err(|e| e.to_string())?;
    std::fs::write(vol.join("in"), "from host\n").map_err(|e| e.to_string())?;
    let mut spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "cat /data/in; echo out > /data/out; echo x 2>/dev/null > /ro/x; echo ro=$?; \
             echo t > /scratch/t && grep -c ' /scratch .*size=1024k' /proc/self/mountinfo",
        ],
    )?;
    spec.mounts = vec![
        MountOp::Bind {
            src: vol.clone(),
            dst: "/data".into(),
            read_only: false,
            real: false,
        },
        MountOp::Bind {
            src: vol.clone(),
            dst: "/ro".into(),
            read_only: true,
            real: false,
        },
        MountOp::Tmpfs {
            dst: "/scratch".into(),
            size: Some(1 << 20),
            mode: None,
            uid: None,
            gid: None,
            read_only: false,
            nosuid: true,
            nodev: true,
            noexec: true,
        },
    ];
    let r = run_ok(&spec)?;
    ensure!(r.out == "from host\nro=1\n1\n", "volumes: {:?}", r.out);
    ensure!(
        std::fs::read_to_string(vol.join("out")).ok().as_deref() == Some("out\n"),
        "write through the volume missing"
    );
    ensure!(!vol.join("x").exists(), "read-only volume was written");

    spec.mounts = vec![MountOp::Bind {
        src: tmp.join("does-not-exist"),
        dst: "/data".into(),
        read_only: false,
        real: false,
    }];
    match run(&spec)? {
        Err(SandboxError::Setup(e)) => {
            let msg = e.to_string();
            ensure!(
                msg.contains("does-not-exist")
                    && msg.contains("/data")
                    && msg.contains("No such file"),
                "{msg}"
            )
        }
        other => {
            return Err(format!(
                "missing volume source: {:?}",
                other.map(|r| r.status)
            ))
        }
    }

    // A volume's source was checked as a real path; a symbolic link swapped
    // in on the way since (by a container writing there) fails the mount.
    let swapped = tmp.join("swapped");
    std::os::unix::fs::symlink(&vol, &swapped).map_err(|e| e.to_string())?;
    spec.mounts = vec![MountOp::Bind {
        src: swapped.join("."),
        dst: "/data".into(),
        read_only: false,
        real: true,
    }];
    match run(&spec)? {
        Err(SandboxError::Setup(e)) => {
            let msg = e.to_string();
            ensure!(msg.contains("a symbolic link appeared"), "{msg}")
        }
        other => {
            return Err(format!(
                "a swapped-in link was followed: {:?}",
                other.map(|r| r.status)
            ))
        }
    }
    Ok(())
}

fn environment_workdir_and_etc_files(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let hosts = tmp.join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost box\n").map_err(|e| e.to_string())?;
    let mut spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "echo $HOME $FOO; pwd; cat /etc/hosts; cat; echo stdin-done",
        ],
    )?;
    spec.env.push("FOO=bar".into());
    spec.cwd = "/work/dir".into();
    spec.stdin = false;
    spec.etc.hosts = Some(hosts);
    let r = run_ok(&spec)?;
    ensure!(
        r.out == "/root bar\n/work/dir\n127.0.0.1 localhost box\nstdin-done\n",
        "env/cwd/etc: {:?}",
        r.out
    );
    Ok(())
}

fn fuse_overlayfs_driver_mounts_the_layers(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let mut spec = spec_for(&l, &["sh", "-c", "cat /etc/passwd | wc -l; echo f > /f"])?;
    spec.rootfs_drivers = vec![RootfsDriver::FuseOverlayfs];
    let r = match run(&spec)? {
        Ok(r) => r,
        Err(e) => return Err(format!("fuse-overlayfs could not be used here: {e}")),
    };
    ensure!(
        r.driver == RootfsDriver::FuseOverlayfs,
        "driver {:?}",
        r.driver
    );
    ensure!(r.out == "2\n", "{:?}", r.out);
    ensure!(l.upper.join("f").exists(), "write not in upper");
    ensure!(!l.base.join("f").exists(), "write reached the layer");
    Ok(())
}

fn copy_driver_copies_once_and_sticks(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let mut spec = spec_for(&l, &["sh", "-c", "rm /etc/group; echo c > /c"])?;
    spec.rootfs_drivers = vec![RootfsDriver::Copy];
    let r = run_ok(&spec)?;
    ensure!(r.driver == RootfsDriver::Copy, "driver {:?}", r.driver);
    ensure!(l.upper.join("bin/busybox").exists(), "no copy in upper");
    ensure!(l.base.join("etc/group").exists(), "the layer was changed");
    // Later starts keep the copy whatever the preference.
    spec.rootfs_drivers = RootfsDriver::preferred();
    spec.argv = vec![
        "sh".into(),
        "-c".into(),
        "cat /c; test -e /etc/group; echo $?".into(),
    ];
    let r = run_ok(&spec)?;
    ensure!(
        r.driver == RootfsDriver::Copy,
        "second start used {:?}",
        r.driver
    );
    ensure!(r.out == "c\n1\n", "{:?}", r.out);
    Ok(())
}

fn fallback_is_reported_when_the_kernel_overlay_fails(tmp: &Path) -> Outcome {
    let mut l = layers(tmp)?;
    // upper and work on different filesystems: overlayfs refuses.
    l.work = PathBuf::from("/dev/shm").join(format!("burrow-test-{}", std::process::id()));
    std::fs::create_dir_all(&l.work).map_err(|e| e.to_string())?;
    let mut spec = spec_for(&l, &["true"])?;
    spec.rootfs_drivers = vec![RootfsDriver::KernelOverlay, RootfsDriver::Copy];
    let r = run(&spec);
    let _ = std::fs::remove_dir_all(&l.work);
    let r = r?.map_err(|e| e.to_string())?;
    ensure!(r.driver == RootfsDriver::Copy, "driver {:?}", r.driver);
    ensure!(
        r.fallbacks.contains("KernelOverlay"),
        "fallbacks {}",
        r.fallbacks
    );
    Ok(())
}

fn tty_session_through_a_real_pseudo_terminal(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let mut spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "trap 'echo size:$(stty size)' WINCH; stty size; tty; \
             test /dev/console -ef /dev/pts/0 && echo console-ok; read line; \
             echo \"got:$line\"; while true; do sleep 0.05; done",
        ],
    )?;
    spec.tty = true;
    spec.init = true;
    let pty = nix::pty::openpty(
        Some(&nix::pty::Winsize {
            ws_row: 33,
            ws_col: 77,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }),
        None,
    )
    .map_err(|e| e.to_string())?;
    let (master, slave) = (pty.master, pty.slave);
    let (r, w) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    // SAFETY: single-threaded.
    match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
        nix::unistd::ForkResult::Child => {
            drop(r);
            drop(master);
            let code = supervise_on_terminal(&spec, slave);
            let _ = std::fs::File::from(w).write_all(code.as_bytes());
            // SAFETY: leave without the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            drop(slave);
            let mut seen = String::new();
            let step = |seen: &mut String, want: &str| -> Outcome {
                read_until(&master, seen, want, Duration::from_secs(10))
            };
            let result = step(&mut seen, "33 77")
                .and_then(|()| step(&mut seen, "/dev/pts/0"))
                .and_then(|()| step(&mut seen, "console-ok"))
                .and_then(|()| {
                    nix::unistd::write(&master, b"hello\r").map_err(|e| e.to_string())?;
                    step(&mut seen, "got:hello")
                })
                .and_then(|()| {
                    // The real terminal shrinks: the supervisor gets
                    // SIGWINCH and passes the size on.
                    let ws = libc::winsize {
                        ws_row: 20,
                        ws_col: 50,
                        ws_xpixel: 0,
                        ws_ypixel: 0,
                    };
                    // SAFETY: TIOCSWINSZ reads one winsize.
                    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
                    step(&mut seen, "size:20 50")
                })
                .and_then(|()| {
                    // Ctrl-C, as a byte: the container's terminal makes it
                    // SIGINT for its foreground job.
                    nix::unistd::write(&master, b"\x03").map_err(|e| e.to_string())
                });
            if result.is_err() {
                // The container dies with its supervisor (PDEATHSIG).
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            }
            let mut report = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut report);
            let _ = nix::sys::wait::waitpid(child, None);
            result?;
            ensure!(
                report == "status=130 restored=true",
                "supervisor: {report:?}; terminal said {seen:?}"
            );
            Ok(())
        }
    }
}

/// The supervisor's side of the tty test: `slave` becomes its terminal.
fn supervise_on_terminal(spec: &SandboxSpec, slave: OwnedFd) -> String {
    let _ = nix::unistd::setsid();
    // SAFETY: TIOCSCTTY and dup2 on fds this process owns.
    unsafe {
        libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0);
        for fd in 0..3 {
            libc::dup2(slave.as_raw_fd(), fd);
        }
    }
    let before = nix::sys::termios::tcgetattr(slave.as_fd()).ok();
    let status = match sandbox::spawn(spec) {
        Ok(r) => match burrow::container::supervisor::terminal::wait_foreground(r, spec.stdin) {
            Ok(s) => s.code().to_string(),
            Err(e) => format!("wait: {e}"),
        },
        Err(e) => format!("spawn: {e}"),
    };
    let after = nix::sys::termios::tcgetattr(slave.as_fd()).ok();
    let restored = match (before, after) {
        (Some(b), Some(a)) => b.local_flags == a.local_flags && b.input_flags == a.input_flags,
        _ => false,
    };
    format!("status={status} restored={restored}")
}

fn read_until(master: &OwnedFd, seen: &mut String, want: &str, limit: Duration) -> Outcome {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    while !seen.contains(want) {
        let left = deadline.saturating_duration_since(Instant::now());
        ensure!(!left.is_zero(), "terminal never showed {want:?}: {seen:?}");
        let mut fds = [nix::poll::PollFd::new(
            master.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => match nix::unistd::read(master.as_fd(), &mut buf) {
                Ok(0) | Err(_) => return Err(format!("terminal closed before {want:?}: {seen:?}")),
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            },
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

fn host_network_gets_a_read_only_bind_of_the_host_sys(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let mut spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "grep -c ' /sys .* ro,' /proc/self/mountinfo; \
             echo x 2>/dev/null > /sys/kernel/x; echo sys=$?; ls /sys/class/net | grep -c .",
        ],
    )?;
    spec.namespaces.net = false;
    let r = run_ok(&spec)?;
    let host_ifaces = std::fs::read_dir("/sys/class/net")
        .map_err(|e| e.to_string())?
        .count();
    ensure!(
        r.out == format!("1\nsys=1\n{host_ifaces}\n"),
        "host /sys: {:?} (host has {host_ifaces} interfaces)",
        r.out
    );
    Ok(())
}

/// Kernels before 5.12 have no mount_setattr: read-only mounts come from a
/// bind remount after attaching, which must repeat the flags the kernel
/// locked on the host's mounts (the host's /sys is nosuid,nodev,noexec)
/// and reach the mounts below (/sys/fs/cgroup...). The seam makes
/// mount_setattr answer ENOSYS here; tests/vm proves it on 5.10.
fn read_only_mounts_without_mount_setattr(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let vol = tmp.join("vol");
    std::fs::create_dir(&vol).map_err(|e| e.to_string())?;
    let mut spec = spec_for(
        &l,
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null; echo root=$?; echo x 2>/dev/null > /ro/x; echo vol=$?; \
             echo x 2>/dev/null > /sys/kernel/x; echo sys=$?; \
             echo 1 2>/dev/null > /proc/sys/kernel/ns_last_pid; echo procsys=$?; \
             grep -E ' /sys[ /]' /proc/self/mountinfo | cut -d' ' -f5,6",
        ],
    )?;
    spec.read_only = true;
    spec.namespaces.net = false;
    spec.mounts = vec![MountOp::Bind {
        src: vol.clone(),
        dst: "/ro".into(),
        read_only: true,
        real: false,
    }];
    let host_sys: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| e.to_string())?
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| p == "/sys" || p.starts_with("/sys/"))
        .collect();
    std::env::set_var("BURROW_TEST_NO_MOUNT_SETATTR", "1");
    let r = run_ok(&spec);
    std::env::remove_var("BURROW_TEST_NO_MOUNT_SETATTR");
    let r = r?;
    let (denied, mounts) = r.out.split_at(r.out.find("/sys").unwrap_or(r.out.len()));
    ensure!(
        denied == "root=1\nvol=1\nsys=1\nprocsys=1\n",
        "writes through read-only mounts: {:?}",
        r.out
    );
    for point in &host_sys {
        ensure!(
            mounts
                .lines()
                .any(|l| l.split(' ').next() == Some(point.as_str())),
            "the host's {point} is missing: {mounts}"
        );
    }
    ensure!(
        mounts.lines().all(|l| l.contains(" ro,")),
        "a mount at or below /sys is writable: {mounts}"
    );
    ensure!(!vol.join("x").exists(), "read-only volume was written");
    Ok(())
}

fn rootfs_dir_and_setup_errors_name_the_path(tmp: &Path) -> Outcome {
    let l = layers(tmp)?;
    let mut spec = spec_for(&l, &["cat", "/etc/passwd"])?;
    spec.rootfs = Rootfs::Dir(l.base.clone());
    let r = run_ok(&spec)?;
    ensure!(
        r.driver == RootfsDriver::Bind && r.out.starts_with("root:x:0:0"),
        "{:?}",
        r.out
    );
    spec.rootfs = Rootfs::Dir(tmp.join("no-root-here"));
    match run(&spec)? {
        Err(SandboxError::Setup(e)) => ensure!(
            e.to_string().contains("no-root-here"),
            "error does not name the path: {e}"
        ),
        other => return Err(format!("missing root: {:?}", other.map(|r| r.status))),
    }
    Ok(())
}

// ------------------------------------------------------------------- main

// ------------------------------------------------------- cgroup at birth

/// Where cgroup v2 is mounted on this host (/sys/fs/cgroup, or
/// /sys/fs/cgroup/unified in a hybrid layout).
fn cgroup2_mount() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next() == Some("cgroup2"))
            .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// Runs `f` as `user` in a cgroup tree delegated to that user, made by
/// root as systemd delegates one: `BASE/sup` holds the test process,
/// `BASE/container` is where pid 1 goes, named to `f` by
/// BURROW_TEST_CGROUP. Skips without root or cgroup v2.
fn in_delegated_cgroup(user: &str, f: fn(&Path) -> Outcome) -> Outcome {
    if !nix::unistd::Uid::effective().is_root() {
        println!("SKIP pid_1_is_born_in_its_cgroup: making a delegated cgroup needs root");
        return Ok(());
    }
    let Some(mount) = cgroup2_mount() else {
        println!("SKIP pid_1_is_born_in_its_cgroup: no cgroup v2 mounted here");
        return Ok(());
    };
    let (uid, gid) = user_ids(user)?;
    let base = mount.join(format!("burrow-sandbox-test-{}", std::process::id()));
    let io = |what: &str, p: &Path| {
        let p = p.to_path_buf();
        let what = what.to_string();
        move |e: std::io::Error| format!("{what} {}: {e}", p.display())
    };
    let own = |p: &Path| std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(io("chown", p));
    let container = base.join("container");
    let sup = base.join("sup");
    for d in [&base, &sup, &container] {
        std::fs::create_dir(d).map_err(io("mkdir", d))?;
        own(d)?;
        for f in ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"] {
            own(&d.join(f))?;
        }
    }
    let me = std::process::id().to_string();
    let moved = std::fs::write(sup.join("cgroup.procs"), &me).map_err(io("write", &sup));
    std::env::set_var("BURROW_TEST_CGROUP", &container);
    let result = moved.and_then(|()| as_user(user, f));
    std::env::remove_var("BURROW_TEST_CGROUP");
    let back = std::fs::write(mount.join("cgroup.procs"), &me).map_err(io("write", &mount));
    for d in [&container, &sup, &base] {
        let _ = std::fs::remove_dir(d);
    }
    result.and(back)
}

fn pid_1_is_born_in_its_cgroup(tmp: &Path) -> Outcome {
    let dir = PathBuf::from(std::env::var_os("BURROW_TEST_CGROUP").ok_or("no test cgroup")?);
    let l = layers(tmp)?;
    // pid 1 waits on its stdin, a pipe, while its cgroup is read from
    // outside.
    let mut spec = spec_for(&l, &["sh", "-c", "read x; cat /proc/self/cgroup"])?;
    spec.namespaces.cgroup = true;
    spec.cgroup = Some(dir.clone());
    let (stdin_r, stdin_w) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let mut file = tempfile::tempfile().map_err(|e| e.to_string())?;
    // SAFETY: dup/dup2 on stdio numbers of this single-threaded process.
    let saved = unsafe { (libc::dup(0), libc::dup(1)) };
    // SAFETY: as above.
    unsafe {
        libc::dup2(stdin_r.as_raw_fd(), 0);
        libc::dup2(file.as_raw_fd(), 1);
    }
    let spawned = sandbox::spawn(&spec);
    // SAFETY: as above.
    unsafe {
        libc::dup2(saved.0, 0);
        libc::dup2(saved.1, 1);
        libc::close(saved.0);
        libc::close(saved.1);
    }
    drop(stdin_r);
    let running = spawned.map_err(|e| format!("spawn failed: {e}"))?;
    let outside = std::fs::read_to_string(format!("/proc/{}/cgroup", running.pid()))
        .map_err(|e| e.to_string())?;
    let born = running.born_in_cgroup();
    std::fs::File::from(stdin_w)
        .write_all(b"go\n")
        .map_err(|e| e.to_string())?;
    let status = running.wait_exit();
    let mut inside = String::new();
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| e.to_string())?;
    file.read_to_string(&mut inside)
        .map_err(|e| e.to_string())?;
    let rel = dir
        .strip_prefix(cgroup2_mount().ok_or("no cgroup v2")?)
        .map_err(|e| e.to_string())?;
    ensure!(
        born,
        "pid 1 was moved into {} after its birth, not born there (CLONE_INTO_CGROUP)",
        dir.display()
    );
    ensure!(
        outside
            .lines()
            .any(|l| l == format!("0::/{}", rel.display())),
        "seen from outside, pid 1 is in its cgroup: {outside:?}"
    );
    ensure!(
        status == ExitStatus::Exited(0) && inside.lines().any(|l| l == "0::/"),
        "inside, its cgroup is the root of its cgroup namespace: {status:?} {inside:?}"
    );
    Ok(())
}

fn main() {
    let cases: &[Case] = &[
        ("exit_status_is_the_commands", || {
            both_users(exit_status_is_the_commands)
        }),
        ("missing_command_is_127_and_not_executable_is_126", || {
            both_users(missing_command_is_127_and_not_executable_is_126)
        }),
        ("sigkill_gives_137", || both_users(sigkill_gives_137)),
        ("command_is_pid_1_and_host_is_invisible", || {
            both_users(command_is_pid_1_and_host_is_invisible)
        }),
        ("writes_land_in_upper_and_leave_the_layer_untouched", || {
            both_users(writes_land_in_upper_and_leave_the_layer_untouched)
        }),
        ("many_layers_mount_with_the_kernel_overlay", || {
            both_users(many_layers_mount_with_the_kernel_overlay)
        }),
        ("read_only_root_refuses_writes_but_not_its_tmpfs", || {
            as_user(FULL, read_only_root_refuses_writes_but_not_its_tmpfs)
        }),
        ("capabilities_are_dockers_default", || {
            both_users(capabilities_are_dockers_default)
        }),
        (
            "non_root_user_gets_ids_groups_and_no_effective_caps",
            || as_user(FULL, non_root_user_gets_ids_groups_and_no_effective_caps),
        ),
        ("single_map_cannot_become_an_unmapped_user", || {
            as_user(SINGLE, single_map_cannot_become_an_unmapped_user)
        }),
        ("masked_paths_are_masked", || {
            both_users(masked_paths_are_masked)
        }),
        ("init_reaps_orphans_and_forwards_signals", || {
            both_users(init_reaps_orphans_and_forwards_signals)
        }),
        ("volumes_and_tmpfs_mounts", || {
            as_user(FULL, volumes_and_tmpfs_mounts)
        }),
        ("environment_workdir_and_etc_files", || {
            as_user(SINGLE, environment_workdir_and_etc_files)
        }),
        ("fuse_overlayfs_driver_mounts_the_layers", || {
            both_users(fuse_overlayfs_driver_mounts_the_layers)
        }),
        ("copy_driver_copies_once_and_sticks", || {
            both_users(copy_driver_copies_once_and_sticks)
        }),
        ("fallback_is_reported_when_the_kernel_overlay_fails", || {
            as_user(FULL, fallback_is_reported_when_the_kernel_overlay_fails)
        }),
        ("tty_session_through_a_real_pseudo_terminal", || {
            as_user(FULL, tty_session_through_a_real_pseudo_terminal)
        }),
        ("rootfs_dir_and_setup_errors_name_the_path", || {
            as_user(SINGLE, rootfs_dir_and_setup_errors_name_the_path)
        }),
        ("host_network_gets_a_read_only_bind_of_the_host_sys", || {
            as_user(FULL, host_network_gets_a_read_only_bind_of_the_host_sys)
        }),
        ("read_only_mounts_without_mount_setattr", || {
            as_user(FULL, read_only_mounts_without_mount_setattr)
        }),
        ("pid_1_is_born_in_its_cgroup", || {
            in_delegated_cgroup(FULL, pid_1_is_born_in_its_cgroup)?;
            in_delegated_cgroup(SINGLE, pid_1_is_born_in_its_cgroup)
        }),
    ];
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, case) in cases {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let t = Instant::now();
        match case() {
            Ok(()) => println!("test {name} ... ok ({:?})", t.elapsed()),
            Err(e) => {
                println!("test {name} ... FAILED\n    {e}");
                failed.push(*name);
            }
        }
    }
    println!(
        "\nsandbox tests: {} passed, {} failed",
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
