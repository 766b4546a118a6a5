//! `run --ipc`, `--uts` and `--pid`, through the real binary as the
//! unprivileged users: what a container sees of the namespaces it shares
//! (another container's, its /dev/shm with its IPC namespace, the host's
//! IPC and UTS), the refusals and their words (a donor that is not
//! `shareable` or not running), `inspect`'s `HostConfig` modes, and what a
//! container cannot do through them: read or delete the host's /dev/shm
//! files that are not the user's, rename the host, or hand a container
//! joining its IPC namespace another /dev/shm than its own (a host
//! directory mounted over it or linked in its place).

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
        "--ipc",
        "shareable",
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
    // A private container's UTS and pid namespaces may be shared (docker
    // asks `shareable` of an IPC donor only).
    let out = env.ok(&[
        "run",
        "--rm",
        "--pid",
        "container:other",
        PLAIN,
        "ps",
        "-o",
        "comm",
    ]);
    assert!(out.stdout_lines().contains(&"sleep"), "{out}");
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

/// `burrow exec NAME stat -c %d /dev/shm`: the device of its filesystem,
/// one number for every mount of one tmpfs.
fn shm_device(env: &TestEnv, container: &str) -> String {
    let out = env.ok(&["exec", container, "stat", "-c", "%d", "/dev/shm"]);
    out.stdout.trim().to_string()
}

fn dev_shm_of_a_shareable_container_is_shared(test: &str, user: TestUser) {
    let Some(env) = env_with_images(test, user) else {
        return;
    };
    let tag = format!("burrow-shm-{}", std::process::id());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "--shm-size",
        "8m",
        PLAIN,
        "sleep",
        "1000",
    ]);
    env.ok(&[
        "exec",
        "donor",
        "sh",
        "-c",
        &format!("echo from-donor > /dev/shm/{tag}-donor"),
    ]);
    let donor_dev = shm_device(&env, "donor");
    // A foreground joiner: the donor's tmpfs itself (its device, its
    // size, its files), and what it writes there the donor reads.
    let out = env.ok(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        PLAIN,
        "sh",
        "-c",
        &format!(
            "stat -c %d /dev/shm; cat /dev/shm/{tag}-donor; \
             echo from-joiner > /dev/shm/{tag}-joiner; df -k /dev/shm | tail -1"
        ),
    ]);
    let lines = out.stdout_lines();
    assert_eq!(lines[0], donor_dev, "not the donor's tmpfs: {out}");
    assert_eq!(lines[1], "from-donor", "{out}");
    assert_eq!(
        lines[2].split_whitespace().nth(1),
        Some("8192"),
        "not the donor's 8m tmpfs: {out}"
    );
    let read = env.ok(&["exec", "donor", "cat", &format!("/dev/shm/{tag}-joiner")]);
    assert_eq!(read.stdout_lines(), ["from-joiner"], "{read}");
    // Never the host's /dev/shm.
    for name in ["donor", "joiner"] {
        let on_host = std::path::PathBuf::from(format!("/dev/shm/{tag}-{name}"));
        assert!(!on_host.exists(), "{} is on the host", on_host.display());
    }
    // A detached joiner (a supervisor of its own), and a container that
    // joins it in turn: still the donor's.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "joiner",
        "--ipc",
        "container:donor",
        PLAIN,
        "sleep",
        "1000",
    ]);
    assert_eq!(shm_device(&env, "joiner"), donor_dev);
    let ipc_ns = env.ok(&["exec", "donor", "readlink", "/proc/self/ns/ipc"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--ipc",
        "container:joiner",
        PLAIN,
        "sh",
        "-c",
        &format!("stat -c %d /dev/shm; cat /dev/shm/{tag}-joiner; readlink /proc/self/ns/ipc"),
    ]);
    assert_eq!(
        out.stdout_lines(),
        [donor_dev.as_str(), "from-joiner", ipc_ns.stdout.trim()],
        "{out}"
    );
    // Started again, the donor has a new /dev/shm, which a container
    // joining it now gets.
    env.ok(&["restart", "-t", "0", "donor"]);
    let fresh = shm_device(&env, "donor");
    let out = env.ok(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        PLAIN,
        "sh",
        "-c",
        "stat -c %d /dev/shm; ls -A /dev/shm; echo end",
    ]);
    assert_eq!(out.stdout_lines(), [fresh.as_str(), "end"], "{out}");
    env.ok(&["rm", "-f", "donor", "joiner"]);
}

#[test]
fn dev_shm_of_a_shareable_container_is_shared_with_subids() {
    dev_shm_of_a_shareable_container_is_shared(
        "dev_shm_of_a_shareable_container_is_shared_with_subids",
        TestUser::WithSubids,
    );
}

#[test]
fn dev_shm_of_a_shareable_container_is_shared_without_subids() {
    dev_shm_of_a_shareable_container_is_shared(
        "dev_shm_of_a_shareable_container_is_shared_without_subids",
        TestUser::NoSubids,
    );
}

#[test]
fn ipc_of_a_container_not_shareable_or_not_running_is_refused() {
    let Some(env) = env_with_images(
        "ipc_of_a_container_not_shareable_or_not_running_is_refused",
        TestUser::Any,
    ) else {
        return;
    };
    env.ok(&["run", "-d", "--name", "dflt", PLAIN, "sleep", "1000"]);
    env.ok(&[
        "run", "-d", "--name", "prv", "--ipc", "private", PLAIN, "sleep", "1000",
    ]);
    env.ok(&[
        "run", "-d", "--name", "nos", "--ipc", "none", PLAIN, "sleep", "1000",
    ]);
    env.ok(&[
        "run", "-d", "--name", "hst", "--ipc", "host", PLAIN, "sleep", "1000",
    ]);
    env.ok(&[
        "create",
        "--name",
        "made",
        "--ipc",
        "shareable",
        PLAIN,
        "true",
    ]);
    env.ok(&[
        "run",
        "--name",
        "ended",
        "--ipc",
        "shareable",
        PLAIN,
        "true",
    ]);
    let before = env.ok(&["ps", "-a", "-q"]).stdout_lines().len();
    for (name, mode) in [("dflt", "private"), ("prv", "private"), ("nos", "none")] {
        let out = env.fails(&[
            "run",
            "--rm",
            "--ipc",
            &format!("container:{name}"),
            PLAIN,
            "true",
        ]);
        assert!(
            out.error_line().contains(&format!(
                "--ipc container:{name}: failed to join IPC namespace: container {name}: \
                 non-shareable IPC (hint: use --ipc shareable for the donor container; \
                 its IPC mode is {mode})"
            )),
            "{out}"
        );
    }
    let out = env.fails(&["create", "--ipc", "container:hst", PLAIN, "true"]);
    assert!(
        out.error_line().contains(
            "container hst: non-shareable IPC (it is in the host's IPC namespace (--ipc host): \
             give this container --ipc host to share it"
        ),
        "{out}"
    );
    for name in ["made", "ended"] {
        let out = env.fails(&[
            "run",
            "--rm",
            "--ipc",
            &format!("container:{name}"),
            PLAIN,
            "true",
        ]);
        assert!(
            out.error_line().contains(&format!(
                "--ipc container:{name}: container {name} is not running"
            )),
            "{out}"
        );
    }
    // Nothing was made of the refused ones.
    let after = env.ok(&["ps", "-a", "-q"]).stdout_lines().len();
    assert_eq!(after, before);
    env.ok(&["rm", "-f", "dflt", "prv", "nos", "hst", "made", "ended"]);
}

#[test]
fn inspect_shows_the_ipc_pid_and_uts_modes_as_docker_does() {
    let Some(env) = env_with_images(
        "inspect_shows_the_ipc_pid_and_uts_modes_as_docker_does",
        TestUser::Any,
    ) else {
        return;
    };
    let modes = |name: &str| {
        let out = env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.IpcMode}}|{{.HostConfig.PidMode}}|{{.HostConfig.UTSMode}}",
            name,
        ]);
        out.stdout.trim_end().to_string()
    };
    for (name, flags, shown) in [
        ("dflt", &[][..], "private||"),
        ("shr", &["--ipc", "shareable"][..], "shareable||"),
        ("nos", &["--ipc", "none"][..], "none||"),
        ("hst", &["--ipc", "host", "--uts", "host"][..], "host||host"),
    ] {
        let mut args = vec!["create", "--name", name];
        args.extend_from_slice(flags);
        args.extend([PLAIN, "true"]);
        env.ok(&args);
        assert_eq!(modes(name), shown, "{flags:?}");
    }
    env.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        PLAIN,
        "sleep",
        "1000",
    ]);
    env.ok(&["exec", "donor", "touch", "/dev/shm/donors"]);
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "donor"]);
    let id = id.stdout.trim();
    assert_eq!(id.len(), 64, "{id}");
    // Named by name or by id prefix: recorded by full id, as docker shows
    // the container it joins.
    env.ok(&[
        "create",
        "--name",
        "joiner",
        "--ipc",
        "container:donor",
        "--pid",
        "container:donor",
        "--uts",
        &format!("container:{}", &id[..12]),
        PLAIN,
        "ls",
        "/dev/shm",
    ]);
    let by_id = format!("container:{id}");
    assert_eq!(modes("joiner"), format!("{by_id}|{by_id}|{by_id}"));
    let json = env.ok(&["inspect", "joiner"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("inspect is JSON");
    let v = &v[0];
    assert_eq!(v["HostConfig"]["IpcMode"], by_id.as_str(), "{json}");
    assert_eq!(v["HostConfig"]["PidMode"], by_id.as_str(), "{json}");
    assert_eq!(v["HostConfig"]["UTSMode"], by_id.as_str(), "{json}");
    // HostConfig's, not Config's, as docker has them.
    for key in ["IpcMode", "PidMode", "UTSMode"] {
        assert!(v["Config"].get(key).is_none(), "Config.{key}: {json}");
    }
    // Created, then started: the donor's /dev/shm, found by that id.
    let out = env.ok(&["start", "-a", "joiner"]);
    assert_eq!(out.stdout_lines(), ["donors"], "{out}");
    env.ok(&["rm", "-f", "dflt", "shr", "nos", "hst", "donor", "joiner"]);
}

/// A donor with every privilege over its own mount namespace mounts a
/// host directory it was given over its /dev/shm, then unmounts its
/// /dev/shm and links that directory in its place: a container joining
/// its IPC namespace gets the donor's tmpfs in the first case and a clear
/// refusal in the second, never the host directory.
fn a_donor_cannot_hand_a_joiner_another_dev_shm(test: &str, user: TestUser) {
    let Some(env) = env_with_images(test, user) else {
        return;
    };
    let host_dir = env.work.join("host-dir");
    fs::create_dir(&host_dir).expect("mkdir");
    env.give(&host_dir);
    let host_file = host_dir.join("host-file");
    fs::write(&host_file, "host-secret\n").expect("write");
    env.give(&host_file);
    let volume = format!("{}:/data", host_dir.display());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--privileged",
        "--ipc",
        "shareable",
        "-v",
        &volume,
        PLAIN,
        "sleep",
        "1000",
    ]);
    // Its /dev/shm made shared first: a mount of the donor's there would
    // reach the mounts in its peer group, which a clone of it joins.
    env.ok(&["exec", "donor", "mount", "--make-shared", "/dev/shm"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "early",
        "--ipc",
        "container:donor",
        PLAIN,
        "sleep",
        "1000",
    ]);
    // The same where the kernel has no mount_setattr (before 5.12).
    let out = env.run_env(
        &[
            "run",
            "-d",
            "--name",
            "early-old",
            "--ipc",
            "container:donor",
            PLAIN,
            "sleep",
            "1000",
        ],
        &[("BURROW_TEST_NO_MOUNT_SETATTR", Some("1"))],
    );
    out.assert_ok();
    // The donor's own view changes: the attack is real.
    let out = env.ok(&[
        "exec",
        "donor",
        "sh",
        "-c",
        "echo donors > /dev/shm/own && mount --bind /data /dev/shm && ls -A /dev/shm",
    ]);
    assert_eq!(out.stdout_lines(), ["host-file"], "{out}");
    // Neither the container that joined before nor one joining now sees
    // it.
    for early in ["early", "early-old"] {
        let out = env.ok(&["exec", early, "ls", "-A", "/dev/shm"]);
        assert_eq!(out.stdout_lines(), ["own"], "{out}");
    }
    let out = env.ok(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        PLAIN,
        "sh",
        "-c",
        "ls -A /dev/shm; cat /dev/shm/own; echo planted > /dev/shm/planted",
    ]);
    assert_eq!(out.stdout_lines(), ["own", "donors"], "{out}");
    // Unmounted (lazily: the tmpfs is busy) and replaced by a link.
    let out = env.ok(&[
        "exec",
        "donor",
        "sh",
        "-c",
        "umount /dev/shm && umount -l /dev/shm && rmdir /dev/shm && ln -s /data /dev/shm \
         && ls -A /dev/shm/",
    ]);
    assert_eq!(out.stdout_lines(), ["host-file"], "{out}");
    let out = env.fails(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        PLAIN,
        "sh",
        "-c",
        "ls -A /dev/shm/; echo planted > /dev/shm/planted",
    ]);
    assert!(
        out.error_line()
            .contains("mount the joined container's /dev/shm on /dev/shm")
            && out
                .error_line()
                .contains("the joined container unmounted it"),
        "{out}"
    );
    assert!(!out.stdout.contains("host-file"), "{out}");
    // The host directory is as it was.
    let mut names: Vec<String> = fs::read_dir(&host_dir)
        .expect("read the host directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["host-file"]);
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "host-secret\n");
    env.ok(&["rm", "-f", "donor", "early", "early-old"]);
}

#[test]
fn a_donor_cannot_hand_a_joiner_another_dev_shm_with_subids() {
    a_donor_cannot_hand_a_joiner_another_dev_shm(
        "a_donor_cannot_hand_a_joiner_another_dev_shm_with_subids",
        TestUser::WithSubids,
    );
}

#[test]
fn a_donor_cannot_hand_a_joiner_another_dev_shm_without_subids() {
    a_donor_cannot_hand_a_joiner_another_dev_shm(
        "a_donor_cannot_hand_a_joiner_another_dev_shm_without_subids",
        TestUser::NoSubids,
    );
}

/// What a container sees of cgroups, in sections: its cgroup namespace,
/// its /proc/self/cgroup, the subdirectories of its /sys/fs/cgroup, the
/// options of that mount (if any), and a cgroup it tried to make there.
const CGROUP_VIEW: &str =
    "readlink /proc/self/ns/cgroup; echo ---; cat /proc/self/cgroup; echo ---; \
     for d in /sys/fs/cgroup/*/; do if [ -d \"$d\" ]; then basename \"$d\"; fi; done; echo ---; \
     grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f6; echo ---; \
     if mkdir /sys/fs/cgroup/escape 2>/dev/null; then echo MADE; fi; echo done";

fn sections(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .split("---\n")
        .map(|s| s.lines().map(String::from).collect())
        .collect()
}

/// The subdirectories of the host's /sys/fs/cgroup (its hierarchies on
/// a v1 or hybrid host, its slices on v2).
fn host_cgroup_dirs() -> Vec<String> {
    fs::read_dir("/sys/fs/cgroup")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn cgroupns_host_is_the_hosts_and_reaches_no_host_cgroup(test: &str, user: TestUser) {
    let Some(env) = env_with_images(test, user) else {
        return;
    };
    let own_cgroups = fs::read_to_string("/proc/self/cgroup").expect("own cgroups");
    let private = env.ok(&["run", "--rm", PLAIN, "sh", "-c", CGROUP_VIEW]);
    let p = sections(&private.stdout);
    assert_eq!(p.len(), 5, "{private}");
    assert_ne!(p[0], [host_ns("cgroup")], "private: {private}");
    // Its own namespace, rooted at its cgroup: every path is `/`.
    assert!(
        !p[1].is_empty() && p[1].iter().all(|l| l.ends_with(":/")),
        "private: {private}"
    );
    let explicit = env.ok(&[
        "run",
        "--rm",
        "--cgroupns",
        "private",
        PLAIN,
        "sh",
        "-c",
        CGROUP_VIEW,
    ]);
    assert_ne!(
        sections(&explicit.stdout)[0],
        [host_ns("cgroup")],
        "{explicit}"
    );

    let host = env.ok(&[
        "run",
        "--rm",
        "--cgroupns",
        "host",
        PLAIN,
        "sh",
        "-c",
        CGROUP_VIEW,
    ]);
    let h = sections(&host.stdout);
    assert_eq!(h.len(), 5, "{host}");
    assert_eq!(
        h[0],
        [host_ns("cgroup")],
        "the host's cgroup namespace: {host}"
    );
    // The v1 hierarchies (a hybrid host's), where burrow moves nothing,
    // show the paths the host shows for this test's own processes.
    for line in own_cgroups.lines().filter(|l| !l.starts_with("0::")) {
        assert!(h[1].iter().any(|l| l == line), "{line:?} not seen: {host}");
    }
    // Attack: nothing of the host's cgroup tree is reachable, and what
    // /sys/fs/cgroup shows (the container's own cgroup, where it has one)
    // is read-only.
    let dirs = host_cgroup_dirs();
    for seen in &h[2] {
        assert!(
            !dirs.contains(seen),
            "the host's {seen} is reachable: {host}"
        );
    }
    for opts in &h[3] {
        assert!(opts.starts_with("ro"), "/sys/fs/cgroup is {opts}: {host}");
    }
    assert_eq!(h[4], ["done"], "a cgroup was made: {host}");

    // exec joins the container's namespaces, and so stays in the host's
    // cgroup namespace.
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "cgh",
        "--cgroupns",
        "host",
        PLAIN,
        "sleep",
        "60",
    ]);
    assert!(!id.stdout.trim().is_empty(), "{id}");
    let exec = env.ok(&["exec", "cgh", "readlink", "/proc/self/ns/cgroup"]);
    assert_eq!(exec.stdout_lines(), [host_ns("cgroup").as_str()], "{exec}");
    let shown = env.ok(&["inspect", "-f", "{{.HostConfig.CgroupnsMode}}", "cgh"]);
    assert_eq!(shown.stdout.trim(), "host", "{shown}");
    env.ok(&["rm", "-f", "cgh"]);
    env.ok(&["create", "--name", "cgp", PLAIN, "true"]);
    let shown = env.ok(&["inspect", "-f", "{{.HostConfig.CgroupnsMode}}", "cgp"]);
    assert_eq!(
        shown.stdout.trim(),
        "private",
        "docker's default on cgroup v2: {shown}"
    );
    env.ok(&["rm", "cgp"]);

    let bad = env.fails(&["run", "--rm", "--cgroupns", "container:x", PLAIN, "true"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
    assert!(
        bad.stderr
            .contains("invalid --cgroupns \"container:x\": burrow knows private and host"),
        "{bad}"
    );
}

#[test]
fn cgroupns_host_is_the_hosts_and_reaches_no_host_cgroup_with_subids() {
    cgroupns_host_is_the_hosts_and_reaches_no_host_cgroup(
        "cgroupns_host_is_the_hosts_and_reaches_no_host_cgroup_with_subids",
        TestUser::WithSubids,
    );
}

#[test]
fn cgroupns_host_is_the_hosts_and_reaches_no_host_cgroup_without_subids() {
    cgroupns_host_is_the_hosts_and_reaches_no_host_cgroup(
        "cgroupns_host_is_the_hosts_and_reaches_no_host_cgroup_without_subids",
        TestUser::NoSubids,
    );
}
