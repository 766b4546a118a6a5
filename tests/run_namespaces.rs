//! `run --ipc`, `--uts` and `--pid`, through the real binary as the
//! unprivileged users: what a container sees of the namespaces it shares
//! (another container's, the host's IPC and UTS), the refusals and their
//! words, and what a container in the host's IPC or UTS namespace still
//! cannot do there: read or delete the host's /dev/shm files that are not
//! the user's, rename the host.

mod common;

use common::run_image::{self, PLAIN};
use common::{TestEnv, TestUser};
use std::fs;
use std::os::unix::fs::{chown, OpenOptionsExt};

/// The namespace `kind` of this (the test's) process: the host's.
fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .expect("own namespace")
        .display()
        .to_string()
}

fn env_with_images(test: &str, user: TestUser) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    run_image::load_run_images(&env);
    Some(env)
}

/// A file in the host's /dev/shm, removed when dropped.
struct ShmFile(std::path::PathBuf);

impl ShmFile {
    fn new(name: &str, text: &str, owner: Option<(u32, u32)>) -> ShmFile {
        let path = std::path::PathBuf::from(format!("/dev/shm/{name}-{}", std::process::id()));
        let _ = fs::remove_file(&path);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("a file in /dev/shm");
        std::io::Write::write_all(&mut f, text.as_bytes()).expect("write");
        if let Some((uid, gid)) = owner {
            chown(&path, Some(uid), Some(gid)).expect("chown");
        }
        ShmFile(path)
    }

    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn ipc_host_is_the_hosts_namespace_but_not_its_other_owners_files() {
    let Some(env) = env_with_images(
        "ipc_host_is_the_hosts_namespace_but_not_its_other_owners_files",
        TestUser::WithSubids,
    ) else {
        return;
    };
    if !common::running_as_root() {
        eprintln!("SKIP: needs root to make a host /dev/shm file of another owner");
        return;
    }
    let theirs = ShmFile::new("burrow-ipc-root", "root-secret", None);
    let own = ShmFile::new(
        "burrow-ipc-own",
        "users-own\n",
        Some((env.account.uid, env.account.gid)),
    );
    // A System V segment of the host's root: listed, as docker's --ipc
    // host lists the host's.
    let made = std::process::Command::new("ipcmk")
        .args(["-M", "4096", "-p", "0600"])
        .output()
        .expect("ipcmk (util-linux)");
    let shmid = String::from_utf8_lossy(&made.stdout)
        .split_whitespace()
        .last()
        .expect("ipcmk prints the id")
        .to_string();
    let listed = env.run(&[
        "run",
        "--rm",
        "--ipc",
        "host",
        PLAIN,
        "sh",
        "-c",
        "cat /proc/sysvipc/shm",
    ]);
    let _ = std::process::Command::new("ipcrm")
        .args(["-m", &shmid])
        .status();
    assert!(
        listed
            .stdout_lines()
            .iter()
            .any(|l| l.split_whitespace().nth(1) == Some(shmid.as_str())),
        "the host's segment {shmid} is not listed: {listed}"
    );
    let script = format!(
        "readlink /proc/self/ns/ipc; cat {own}; \
         if cat {theirs}; then echo READ; fi; \
         if rm -f {theirs}; then echo REMOVED; fi; \
         if echo x >> {theirs}; then echo WRITTEN; fi; echo done",
        own = own.name(),
        theirs = theirs.name()
    );
    let out = env.ok(&["run", "--rm", "--ipc", "host", PLAIN, "sh", "-c", &script]);
    let lines = out.stdout_lines();
    assert_eq!(
        lines,
        [host_ns("ipc").as_str(), "users-own", "done"],
        "{out}"
    );
    // The other owner's file is as it was.
    assert_eq!(
        fs::read_to_string(&theirs.0).expect("still there"),
        "root-secret"
    );
    // Without --ipc host: a /dev/shm of its own, which has neither.
    let own_ns = env.run(&[
        "run",
        "--rm",
        PLAIN,
        "sh",
        "-c",
        &format!(
            "readlink /proc/self/ns/ipc; ls /dev/shm; test -e {}",
            own.name()
        ),
    ]);
    assert_eq!(own_ns.code(), Some(1), "{own_ns}");
    assert_ne!(own_ns.stdout_lines()[0], host_ns("ipc"), "{own_ns}");
}

#[test]
fn ipc_none_and_private_and_shareable_are_the_containers_own() {
    let Some(env) = env_with_images(
        "ipc_none_and_private_and_shareable_are_the_containers_own",
        TestUser::Any,
    ) else {
        return;
    };
    let script = "readlink /proc/self/ns/ipc; if grep -q ' /dev/shm ' /proc/mounts; then echo shm; else echo no-shm; fi";
    for (mode, shm) in [("private", "shm"), ("shareable", "shm"), ("none", "no-shm")] {
        let out = env.ok(&["run", "--rm", "--ipc", mode, PLAIN, "sh", "-c", script]);
        let lines = out.stdout_lines();
        assert_ne!(lines[0], host_ns("ipc"), "--ipc {mode}: {out}");
        assert_eq!(lines[1], shm, "--ipc {mode}: {out}");
    }
    let bad = env.fails(&["run", "--rm", "--ipc", "bogus", PLAIN, "true"]);
    assert!(
        bad.stderr
            .contains("invalid --ipc \"bogus\": burrow knows private, shareable, none, host and container:NAME"),
        "{bad}"
    );
}

fn namespaces_of_another_container_are_shared(test: &str, user: TestUser) {
    let Some(env) = env_with_images(test, user) else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--hostname",
        "donorhost",
        PLAIN,
        "sleep",
        "1000",
    ]);
    let ns = "for n in ipc uts pid net; do readlink /proc/self/ns/$n; done";
    let donor = env.ok(&["exec", "donor", "sh", "-c", ns]);
    let donor = donor.stdout_lines();
    // IPC: the same namespace, so the same message queues.
    let out = env.ok(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        PLAIN,
        "sh",
        "-c",
        &format!("{ns}; touch /dev/mqueue/from-joiner"),
    ]);
    let lines = out.stdout_lines();
    assert_eq!(lines[0], donor[0], "ipc: {out}");
    assert_ne!(lines[1], donor[1], "uts was not asked for: {out}");
    assert_ne!(lines[3], donor[3], "net was not asked for: {out}");
    let queues = env.ok(&["exec", "donor", "ls", "/dev/mqueue"]);
    assert_eq!(queues.stdout_lines(), ["from-joiner"], "{queues}");
    // UTS: its host name.
    let out = env.ok(&["run", "--rm", "--uts", "container:donor", PLAIN, "hostname"]);
    assert_eq!(out.stdout_lines(), ["donorhost"], "{out}");
    // pid: its processes, its sleep among them.
    let out = env.ok(&[
        "run",
        "--rm",
        "--pid",
        "container:donor",
        PLAIN,
        "sh",
        "-c",
        &format!("{ns}; ps -o comm"),
    ]);
    let lines = out.stdout_lines();
    assert_eq!(lines[2], donor[2], "pid: {out}");
    assert!(
        lines.contains(&"sleep"),
        "the donor's sleep is not seen: {out}"
    );
    // All three at once, with its network too.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "container:donor",
        "--ipc",
        "container:donor",
        "--uts",
        "container:donor",
        "--pid",
        "container:donor",
        PLAIN,
        "sh",
        "-c",
        ns,
    ]);
    assert_eq!(out.stdout_lines(), donor, "{out}");

    // Refusals: a container that is not there, not running, or a second
    // one.
    let out = env.fails(&["run", "--rm", "--ipc", "container:nosuch", PLAIN, "true"]);
    assert!(
        out.error_line().contains("--ipc container:nosuch: "),
        "{out}"
    );
    env.ok(&["create", "--name", "idle", PLAIN, "true"]);
    let out = env.fails(&["run", "--rm", "--pid", "container:idle", PLAIN, "true"]);
    assert!(
        out.error_line()
            .contains("--pid container:idle: container idle is not running"),
        "{out}"
    );
    env.ok(&["run", "-d", "--name", "other", PLAIN, "sleep", "1000"]);
    let out = env.fails(&[
        "run",
        "--rm",
        "--network",
        "container:donor",
        "--uts",
        "container:other",
        PLAIN,
        "true",
    ]);
    assert!(
        out.error_line()
            .contains("burrow shares the namespaces of one container at most"),
        "{out}"
    );
    // A pod's containers take the namespaces the pod shares.
    env.ok(&["pod", "create", "--name", "pd"]);
    let out = env.fails(&["run", "--rm", "--pod", "pd", "--ipc", "host", PLAIN, "true"]);
    assert!(
        out.error_line()
            .contains("--ipc, --uts and --pid are the pod's to decide"),
        "{out}"
    );
    env.ok(&["pod", "rm", "-f", "pd"]);
    env.ok(&["rm", "-f", "donor", "other", "idle"]);
}

#[test]
fn namespaces_of_another_container_are_shared_with_subids() {
    namespaces_of_another_container_are_shared(
        "namespaces_of_another_container_are_shared_with_subids",
        TestUser::WithSubids,
    );
}

#[test]
fn namespaces_of_another_container_are_shared_without_subids() {
    namespaces_of_another_container_are_shared(
        "namespaces_of_another_container_are_shared_without_subids",
        TestUser::NoSubids,
    );
}

#[test]
fn uts_host_has_the_hosts_name_and_cannot_change_it() {
    let Some(env) = env_with_images(
        "uts_host_has_the_hosts_name_and_cannot_change_it",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let out = env.ok(&[
        "run",
        "--rm",
        "--uts",
        "host",
        PLAIN,
        "sh",
        "-c",
        "readlink /proc/self/ns/uts; hostname; cat /etc/hostname; echo $HOSTNAME; \
         if hostname burrow-renamed-the-host; then echo RENAMED; fi; echo done",
    ]);
    assert_eq!(
        out.stdout_lines(),
        [host_ns("uts").as_str(), &host, &host, &host, "done"],
        "{out}"
    );
    let now = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    assert_eq!(now, host, "the container renamed the host");
    let out = env.fails(&[
        "run",
        "--rm",
        "--uts",
        "host",
        "--hostname",
        "box",
        PLAIN,
        "true",
    ]);
    assert!(
        out.error_line()
            .contains("conflicting options: --hostname and --uts host"),
        "{out}"
    );
    let out = env.fails(&[
        "run",
        "--rm",
        "--uts",
        "host",
        "--domainname",
        "example.org",
        PLAIN,
        "true",
    ]);
    assert!(
        out.error_line()
            .contains("conflicting options: --domainname and --uts host"),
        "{out}"
    );
    let out = env.fails(&["run", "--rm", "--uts", "bogus", PLAIN, "true"]);
    assert!(
        out.stderr
            .contains("invalid --uts \"bogus\": burrow knows private, host and container:NAME"),
        "{out}"
    );
}

#[test]
fn pid_host_is_refused_and_says_why() {
    let Some(env) = env_with_images("pid_host_is_refused_and_says_why", TestUser::Any) else {
        return;
    };
    let out = env.fails(&["run", "--rm", "--pid", "host", PLAIN, "true"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(
        out.error_line().contains(
            "--pid host is not supported: a /proc of the host's pid namespace cannot be mounted from a user namespace"
        ),
        "{out}"
    );
    // Nothing was created.
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "{ps}");
}
