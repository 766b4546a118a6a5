//! What a container run by `burrow run` can see of the host, and what it
//! can change of its image: its own namespaces, only its own processes,
//! only its own mounts, only the image's files and its volumes, and writes
//! that land in its own layer, never in the image's.

mod common;

use common::fixtures;
use common::run_image::{self, CONFIG, PLAIN};
use common::{is_hex64, path_str, Listing, TestEnv, TestUser};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn run_out(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    env.ok(&all).stdout
}

const NAMESPACES: [&str; 7] = ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup"];

#[test]
fn every_namespace_is_new_and_the_network_is_loopback_only() {
    let Some(env) = TestEnv::new(
        "every_namespace_is_new_and_the_network_is_loopback_only",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let script = NAMESPACES
        .iter()
        .map(|n| format!("readlink /proc/self/ns/{n};"))
        .collect::<String>()
        + "ls /sys/class/net; cat /sys/class/net/lo/flags";
    // `--network none`: the default (user) mode adds eth0, tested in net.rs.
    let out = run_out(&env, &["--network", "none", PLAIN, "sh", "-c", &script]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), NAMESPACES.len() + 2, "{out}");
    for (n, inside) in NAMESPACES.iter().zip(&lines) {
        // burrow runs as the test user in the test's own namespaces.
        let host = fs::read_link(format!("/proc/self/ns/{n}")).expect("host ns");
        assert_ne!(Path::new(inside), host, "the {n} namespace is the host's");
        assert!(inside.starts_with(&format!("{n}:[")), "{out}");
    }
    // One interface, loopback, up (IFF_UP | IFF_LOOPBACK).
    assert_eq!(lines[NAMESPACES.len()..], ["lo", "0x9"], "{out}");
}

#[test]
fn the_container_sees_only_its_own_processes() {
    let Some(env) = TestEnv::new("the_container_sees_only_its_own_processes", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    // A host process of the same user that the container must not see.
    let mut sleep = std::process::Command::new("sleep");
    sleep.arg("600");
    if common::running_as_root() {
        std::os::unix::process::CommandExt::uid(&mut sleep, env.account.uid);
    }
    let mut host = sleep.spawn().expect("spawn sleep");
    let out = run_out(&env, &[PLAIN, "ps", "-o", "pid,comm"]);
    let ps: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let script = "for p in /proc/[0-9]*; do echo ${p#/proc/}; done";
    let pids = run_out(&env, &[PLAIN, "sh", "-c", script]);
    let with_init = run_out(&env, &["--init", PLAIN, "ps", "-o", "pid,comm"]);
    let _ = host.kill();
    let _ = host.wait();
    assert_eq!(ps, vec![vec!["PID", "COMMAND"], vec!["1", "ps"]], "{out}");
    // The shell (pid 1) and the processes of its own command substitution
    // and loop are all there is.
    assert_eq!(pids.lines().next(), Some("1"), "{pids}");
    assert!(
        pids.lines().all(|p| p.parse::<u32>().is_ok_and(|n| n < 10)),
        "host pids are visible: {pids}"
    );
    let with_init: Vec<Vec<&str>> = with_init
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        with_init,
        vec![
            vec!["PID", "COMMAND"],
            vec!["1", "burrow-init"],
            vec!["2", "ps"]
        ]
    );
}

#[test]
fn hostname_is_the_containers_and_the_hosts_is_untouched() {
    let Some(env) = TestEnv::new(
        "hostname_is_the_containers_and_the_hosts_is_untouched",
        TestUser::Any,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let host_before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = run_out(
        &env,
        &[
            "--hostname",
            "inside",
            PLAIN,
            "cat",
            "/proc/sys/kernel/hostname",
        ],
    );
    assert_eq!(out, "inside\n");
    let default = run_out(&env, &[PLAIN, "hostname"]);
    let default = default.trim();
    assert!(
        default.len() == 12 && default.bytes().all(|b| b.is_ascii_hexdigit()),
        "default hostname {default:?}"
    );
    assert_ne!(default, host_before.trim());
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_before
    );
}

/// Mount points a container has whatever it runs.
const STANDARD_MOUNTS: &[&str] = &[
    "/",
    "/proc",
    "/sys",
    "/dev",
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
];

#[test]
fn only_the_containers_own_mounts_are_visible() {
    let Some(env) = TestEnv::new(
        "only_the_containers_own_mounts_are_visible",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let vol = env.work.join("vol");
    fs::create_dir(&vol).unwrap();
    env.give(&vol);
    let out = run_out(
        &env,
        &[
            "-v",
            &format!("{}:/data", vol.display()),
            PLAIN,
            "cut",
            "-d",
            " ",
            "-f",
            "5",
            "/proc/self/mountinfo",
        ],
    );
    let inside: Vec<&str> = out.lines().collect();
    let unique: BTreeSet<&str> = inside.iter().copied().collect();
    assert_eq!(unique.len(), inside.len(), "a mount point twice: {out}");
    for m in STANDARD_MOUNTS.iter().chain(&["/data"]) {
        assert!(unique.contains(m), "{m} is not mounted: {out}");
    }
    // Everything else is a mask over /proc or /sys.
    let extra: Vec<&&str> = unique
        .iter()
        .filter(|m| !STANDARD_MOUNTS.contains(m) && **m != "/data")
        .filter(|m| !(m.starts_with("/proc/") || m.starts_with("/sys/")))
        .collect();
    assert!(
        extra.is_empty(),
        "mounts that are not the container's: {extra:?}\n{out}"
    );
    // No mount point of the host that the container does not have itself.
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in host.lines() {
        let point = line.split(' ').nth(4).unwrap_or("");
        if !STANDARD_MOUNTS.contains(&point) {
            assert!(
                !unique.contains(point),
                "host mount {point} is visible: {out}"
            );
        }
    }
}

#[test]
fn host_files_outside_volumes_are_invisible() {
    let Some(env) = TestEnv::new(
        "host_files_outside_volumes_are_invisible",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let vol = env.work.join("vol");
    fs::create_dir(&vol).unwrap();
    env.give(&vol);
    fixtures::write_file(&vol.join("shared"), b"shared\n");
    let secret = env.canary.join("secret");
    let script = format!(
        "ls /; echo --; ls /data; echo --; cat /etc/passwd; echo --; \
         for p in {secret} {home} {work} /data/../work /proc/1/root{secret}; do \
           test -e $p && echo visible $p; done; echo end",
        secret = path_str(&secret),
        home = path_str(&env.home),
        work = path_str(&env.work),
    );
    let out = run_out(
        &env,
        &[
            "-v",
            &format!("{}:/data", vol.display()),
            PLAIN,
            "sh",
            "-c",
            &script,
        ],
    );
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(parts.len(), 4, "{out}");
    // The image's directories and the mount points burrow made; nothing else.
    let root: BTreeSet<&str> = parts[0].lines().collect();
    let want: BTreeSet<&str> = [
        "bin", "data", "dev", "etc", "home", "proc", "root", "srv", "sys", "tmp", "usr", "var",
    ]
    .into();
    assert_eq!(root, want, "{out}");
    assert_eq!(parts[1], "shared\n", "{out}");
    assert_eq!(
        parts[2],
        run_image::PASSWD,
        "the host's /etc/passwd is visible"
    );
    assert_eq!(parts[3], "end\n", "{out}");
    // The container could not reach the canary either.
    assert_eq!(fs::read(&secret).unwrap(), b"canary\n");
}

#[test]
fn proc_and_sys_are_masked_and_read_only_where_docker_makes_them() {
    let Some(env) = TestEnv::new(
        "proc_and_sys_are_masked_and_read_only_where_docker_makes_them",
        TestUser::Any,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let out = run_out(
        &env,
        &[
            PLAIN,
            "sh",
            "-c",
            "wc -c < /proc/keys; ls /sys/firmware | wc -l; \
             touch /sys/x 2>/dev/null; echo sys=$?; \
             echo 1 2>/dev/null > /proc/sys/kernel/domainname; echo procsys=$?; \
             ls -a /dev | tr '\\n' ' '",
        ],
    );
    assert_eq!(
        out,
        "0\n0\nsys=1\nprocsys=1\n. .. core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
    );
}

#[test]
fn writes_inside_leave_the_images_layers_untouched() {
    let Some(env) = TestEnv::new(
        "writes_inside_leave_the_images_layers_untouched",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let layers: Vec<_> = env.layer_ids().into_iter().collect();
    assert_eq!(layers.len(), 2, "base and config layers");
    let before: Vec<Listing> = layers
        .iter()
        .map(|l| Listing::of(&env.layer_diff(l), &[]))
        .collect();
    assert!(before[0].entries.len() > 100, "the base layer is listed");
    // As root, in both layers: new files, appends (copy-up), deletions
    // (whiteouts), a directory replaced, modes and owners changed.
    let changes = "set -e; echo new > /new; echo more >> /etc/image-file; rm /etc/not-executable; \
                   rm -r /home/app; mkdir -p /srv/app/x; chmod 700 /etc; chown 1000 /bin/busybox; \
                   echo >> /bin/entry; echo done";
    let as_root = ["-u", "0", "--entrypoint", "", CONFIG, "sh", "-c", changes];
    let mut args = vec!["run", "--name", "w"];
    args.extend_from_slice(&as_root);
    let out = env.ok(&args);
    assert_eq!(out.stdout, "done\n");
    let out = run_out(&env, &as_root);
    assert_eq!(out, "done\n");
    for (l, b) in layers.iter().zip(&before) {
        b.assert_unchanged(&Listing::of(&env.layer_diff(l), &[]), &format!("layer {l}"));
    }
    // A new container sees the image as it was.
    let fresh = run_out(
        &env,
        &[
            PLAIN,
            "sh",
            "-c",
            "cat /etc/image-file; test -e /new; echo new=$?; ls -d /home/app /etc/not-executable; \
             stat -c '%a %u' /etc /bin/busybox",
        ],
    );
    assert_eq!(
        fresh,
        "from the image\nnew=1\n/etc/not-executable\n/home/app\n755 0\n755 0\n"
    );
    // The changes are the container's own, in its directory.
    let i: serde_json::Value =
        serde_json::from_str(env.ok(&["inspect", "w"]).stdout.trim()).expect("json");
    let id = i[0]["Id"].as_str().expect("id");
    assert!(is_hex64(id));
    let dir = Path::new(i[0]["Path"].as_str().expect("Path"));
    assert_eq!(fs::read_to_string(dir.join("upper/new")).unwrap(), "new\n");
    assert_eq!(
        fs::read_to_string(dir.join("upper/etc/image-file")).unwrap(),
        "from the image\nmore\n"
    );
    env.ok(&["rm", "w"]);
    assert!(!dir.exists(), "rm left {}", dir.display());
}

/// The command starts with no signal ignored and none blocked, whatever
/// the caller of burrow ignored or blocked (`nohup`, a shell's background
/// job): pid 1 resets what it inherited before the command runs.
#[test]
fn signals_the_caller_ignored_or_blocked_are_reset_for_the_command() {
    let Some(env) = TestEnv::new(
        "signals_the_caller_ignored_or_blocked_are_reset_for_the_command",
        TestUser::Any,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let mut cmd = env.command(&[
        "run",
        "--rm",
        "--network",
        "none",
        PLAIN,
        "cat",
        "/proc/self/status",
    ]);
    // SAFETY: only async-signal-safe calls between fork and exec: signal
    // dispositions and the signal mask of the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            for sig in [
                libc::SIGHUP,
                libc::SIGQUIT,
                libc::SIGUSR1,
                libc::SIGTTOU,
                40,
            ] {
                libc::signal(sig, libc::SIG_IGN);
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::sigaddset(&mut set, libc::SIGWINCH);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let out = cmd.output().expect("spawn burrow");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{status}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for field in ["SigIgn:", "SigBlk:"] {
        let value = status.lines().find_map(|l| l.strip_prefix(field));
        assert_eq!(
            value.map(str::trim),
            Some("0000000000000000"),
            "{field} of the command:\n{status}"
        );
    }
}
