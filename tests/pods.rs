//! Pods end to end, through the real binary as the unprivileged users
//! (with and without subordinate ids): the containers of a pod reach each
//! other on localhost, share one host name and one IPC namespace, a port
//! published on the pod is reached from the host at 127.0.0.1, a pod
//! stopped and started again is whole again; the errors say what; a pod's
//! infra container is removed only with its pod; and a
//! container of one pod reaches nothing of another pod's (its localhost,
//! its namespaces). Every address is loopback inside namespaces burrow
//! makes, or the host's 127.0.0.1.

mod common;

use common::fixtures::busybox_rootfs;
use common::{path_str, TestEnv, TestUser};
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const NET_APPLETS: &[&str] = &["nc", "seq", "hostname", "readlink", "grep"];

fn env_with_image(test: &str, user: TestUser) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    let mut b = busybox_rootfs();
    for a in NET_APPLETS {
        b = b.symlink(&format!("bin/{a}"), "busybox");
    }
    let tarball = env.fixture("netbox.tar", &b.finish().tar);
    env.ok(&["import", path_str(&tarball), "netbox"]);
    Some(env)
}

/// Runs `args` until it exits 0 or 30 s have passed; the last output.
fn until_ok(env: &TestEnv, args: &[&str]) -> common::Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = env.run(args);
        if out.code() == Some(0) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A host port free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    l.local_addr().expect("addr").port()
}

/// What the host reads from 127.0.0.1:`port`, tried for 30 s.
fn read_from_host(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            if !text.is_empty() || Instant::now() > deadline {
                return text;
            }
        } else if Instant::now() > deadline {
            return String::new();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The namespaces a container is in, as `readlink /proc/self/ns/*`.
const NS: &str = "for n in net ipc uts; do readlink /proc/self/ns/$n; done";

fn pod_shares_localhost_host_name_ipc_and_port(test: &str, user: TestUser) {
    let Some(env) = env_with_image(test, user) else {
        return;
    };
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    env.ok(&["pod", "create", "--name", "web", "-p", &publish]);
    env.ok(&["pod", "exists", "web"]);
    env.ok(&[
        "run",
        "-d",
        "--pod",
        "web",
        "--name",
        "srv",
        "netbox",
        "sh",
        "-c",
        "nc -ll -p 8080 -e echo from-srv",
    ]);
    // A second container: the first one's server on localhost, the same
    // host name (the pod's), the same namespaces.
    let client = until_ok(
        &env,
        &[
            "run",
            "--rm",
            "--pod",
            "web",
            "netbox",
            "sh",
            "-c",
            &format!("hostname; {NS}; nc 127.0.0.1 8080 </dev/null | grep from-srv"),
        ],
    );
    assert_eq!(client.code(), Some(0), "{client}");
    let lines = client.stdout_lines();
    assert_eq!(lines.first().copied(), Some("web"), "{client}");
    let theirs = env.ok(&["exec", "srv", "sh", "-c", NS]);
    assert_eq!(
        lines[1..4],
        theirs.stdout_lines()[..],
        "net, ipc and uts namespaces differ between the pod's containers"
    );
    // The pod's port, from the host.
    assert_eq!(read_from_host(port).trim(), "from-srv");

    let ls = env.ok(&["pod", "ls"]);
    assert!(
        ls.stdout.contains("web") && ls.stdout.contains("Running"),
        "{ls}"
    );
    let inspect = env.ok(&["pod", "inspect", "web"]);
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    assert_eq!(v[0]["Name"], "web", "{inspect}");
    assert_eq!(v[0]["NumContainers"], 2, "{inspect}");

    // Stopped and started again, the member joins the new infra's
    // namespaces and the port is served again.
    env.ok(&["pod", "stop", "-t", "1", "web"]);
    env.ok(&["pod", "start", "web"]);
    assert_eq!(read_from_host(port).trim(), "from-srv");
    let again = env.ok(&["exec", "srv", "sh", "-c", NS]);
    let infra_ns = env.ok(&["run", "--rm", "--pod", "web", "netbox", "sh", "-c", NS]);
    assert_eq!(again.stdout, infra_ns.stdout);

    // A running container keeps the pod: rm needs -f.
    let refused = env.run(&["pod", "rm", "web"]);
    assert_eq!(refused.code(), Some(1), "{refused}");
    assert!(refused.stderr.contains("running containers"), "{refused}");
    env.ok(&["pod", "rm", "-f", "web"]);
    assert_eq!(env.run(&["pod", "exists", "web"]).code(), Some(1));
    let ps = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        ps.stdout.trim().is_empty(),
        "the pod's containers remain: {ps}"
    );
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "the pod's port is still served after its removal"
    );
}

#[test]
fn pod_containers_share_localhost_host_name_ipc_and_published_port() {
    pod_shares_localhost_host_name_ipc_and_port(
        "pod_containers_share_localhost_host_name_ipc_and_published_port",
        TestUser::WithSubids,
    );
}

#[test]
fn pod_containers_share_localhost_without_subordinate_ids() {
    pod_shares_localhost_host_name_ipc_and_port(
        "pod_containers_share_localhost_without_subordinate_ids",
        TestUser::NoSubids,
    );
}

#[test]
fn pod_errors_say_what() {
    let Some(env) = env_with_image("pod_errors_say_what", TestUser::WithSubids) else {
        return;
    };
    let out = env.fails(&["run", "--rm", "--pod", "nosuch", "netbox", "true"]);
    assert!(out.stderr.contains("no such pod: nosuch"), "{out}");
    let out = env.run(&["pod", "inspect", "nosuch"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("no such pod: nosuch"), "{out}");
    assert_eq!(env.run(&["pod", "exists", "nosuch"]).code(), Some(1));
    env.ok(&["pod", "create", "--name", "one"]);
    let out = env.run(&["pod", "create", "--name", "one"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("already in use"), "{out}");
    let out = env.fails(&[
        "run", "--rm", "--pod", "one", "-p", "8080", "netbox", "true",
    ]);
    assert!(out.stderr.contains("pod create"), "{out}");
    let out = env.run(&["pod", "create", "--share", "net,cgroup"]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(out.stderr.contains("cgroup"), "{out}");
    env.ok(&["pod", "rm", "-f", "one"]);
}

/// A pod's infra container holds the namespaces its containers join: `rm`
/// (with -f too, and `container rm`) refuses it naming the pod and `pod
/// rm`, `rm --all` and `container prune` pass it by, and `pod rm` removes
/// it with the pod.
#[test]
fn a_pods_infra_container_goes_only_with_its_pod() {
    let Some(env) = env_with_image(
        "a_pods_infra_container_goes_only_with_its_pod",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let id = env.ok(&["pod", "create", "--name", "keep"]).stdout;
    let infra = format!("{}-infra", &id.trim()[..12]);
    for rm in [
        &["rm", infra.as_str()][..],
        &["rm", "-f", infra.as_str()],
        &["container", "rm", "-f", infra.as_str()],
    ] {
        let out = env.run(rm);
        assert_eq!(out.code(), Some(1), "{rm:?}: {out}");
        assert!(
            out.stderr
                .contains(&format!("{infra} is the infra container of pod keep"))
                && out.stderr.contains("burrow pod rm keep"),
            "{rm:?}: {out}"
        );
    }
    env.ok(&["rm", "-af"]);
    env.ok(&["pod", "stop", "keep"]);
    env.ok(&["container", "prune", "-f"]);
    env.ok(&["container", "exists", &infra]);
    // The pod is whole: it starts again and a container joins it.
    env.ok(&["pod", "start", "keep"]);
    env.ok(&["run", "--rm", "--pod", "keep", "netbox", "true"]);
    env.ok(&["pod", "rm", "-f", "keep"]);
    assert_eq!(env.run(&["container", "exists", &infra]).code(), Some(1));
    assert_eq!(env.run(&["pod", "exists", "keep"]).code(), Some(1));
}

#[test]
fn a_container_of_one_pod_reaches_nothing_of_another_pod() {
    let Some(env) = env_with_image(
        "a_container_of_one_pod_reaches_nothing_of_another_pod",
        TestUser::WithSubids,
    ) else {
        return;
    };
    env.ok(&["pod", "create", "--name", "a"]);
    env.ok(&["pod", "create", "--name", "b"]);
    env.ok(&[
        "run",
        "-d",
        "--pod",
        "a",
        "--name",
        "secret",
        "netbox",
        "sh",
        "-c",
        "nc -ll -p 7000 -e echo secret-of-a",
    ]);
    // Reached from its own pod: the server is up.
    let own = until_ok(
        &env,
        &[
            "run",
            "--rm",
            "--pod",
            "a",
            "netbox",
            "sh",
            "-c",
            "nc 127.0.0.1 7000 </dev/null | grep secret-of-a",
        ],
    );
    assert_eq!(own.code(), Some(0), "{own}");
    // From the other pod: nothing on localhost, other namespaces, another
    // host name.
    let other = env.run(&[
        "run",
        "--rm",
        "--pod",
        "b",
        "netbox",
        "sh",
        "-c",
        &format!("hostname; {NS}; nc 127.0.0.1 7000 </dev/null; echo done"),
    ]);
    assert_eq!(other.code(), Some(0), "{other}");
    assert!(!other.stdout.contains("secret-of-a"), "{other}");
    let lines = other.stdout_lines();
    assert_eq!(lines.first().copied(), Some("b"), "{other}");
    let theirs = env.ok(&["exec", "secret", "sh", "-c", NS]);
    for (mine, theirs) in lines[1..4].iter().zip(theirs.stdout_lines()) {
        assert_ne!(*mine, theirs, "pods a and b share a namespace");
    }
    env.ok(&["pod", "rm", "-f", "a", "b"]);
}

#[test]
fn kube_generate_output_plays_back_as_a_pod_and_comes_down() {
    let Some(env) = env_with_image(
        "kube_generate_output_plays_back_as_a_pod_and_comes_down",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    env.ok(&["pod", "create", "--name", "kpod", "-p", &publish]);
    env.ok(&[
        "run",
        "-d",
        "--pod",
        "kpod",
        "--name",
        "kpod-web",
        "-e",
        "GREETING=hello-from-kube",
        "netbox",
        "sh",
        "-c",
        "nc -ll -p 8080 -e sh -c 'echo $GREETING'",
    ]);
    assert_eq!(read_from_host(port).trim(), "hello-from-kube");
    let yaml = env.ok(&["kube", "generate", "kpod"]).stdout;
    assert!(yaml.contains("kind: Pod"), "{yaml}");
    assert!(yaml.contains("kind: Service"), "{yaml}");
    assert!(yaml.contains(&format!("hostPort: {port}")), "{yaml}");
    let file = env.fixture("kpod.yaml", yaml.as_bytes());
    env.ok(&["pod", "rm", "-f", "kpod"]);
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());

    // Played back: the same pod, its container named POD-NAME, the same
    // command, environment and published port.
    env.ok(&["kube", "play", path_str(&file)]);
    env.ok(&["pod", "exists", "kpod"]);
    let ps = env.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(ps.stdout.lines().any(|l| l == "kpod-web"), "{ps}");
    assert_eq!(read_from_host(port).trim(), "hello-from-kube");
    env.ok(&["kube", "down", path_str(&file)]);
    assert_eq!(env.run(&["pod", "exists", "kpod"]).code(), Some(1));

    // A Deployment of one replica plays as a pod named NAME-pod.
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dep\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: dep}}\n  template:\n    metadata:\n      labels: {{app: dep}}\n    spec:\n      containers:\n      - name: web\n        image: netbox\n        command: [sh, -c]\n        args: [\"nc -ll -p 8080 -e echo from-deployment\"]\n        ports:\n        - containerPort: 8080\n          hostPort: {port}\n          hostIP: 127.0.0.1\n"
    );
    let dep = env.fixture("dep.yaml", deployment.as_bytes());
    env.ok(&["kube", "play", path_str(&dep)]);
    env.ok(&["pod", "exists", "dep-pod"]);
    assert_eq!(read_from_host(port).trim(), "from-deployment");
    env.ok(&["kube", "down", path_str(&dep)]);
    assert_eq!(env.run(&["pod", "exists", "dep-pod"]).code(), Some(1));
}

/// The peer check: Debian's podman (as root, in a store of the test's
/// own) takes `kube generate`'s YAML and makes the same pod from it, its
/// container named POD-NAME with the command, environment and published
/// port. The containers are created, not started: this machine's root
/// may not raise the limits podman's runtime sets.
#[test]
fn kube_generate_output_is_taken_by_podman_kube_play() {
    let Some(env) = env_with_image(
        "kube_generate_output_is_taken_by_podman_kube_play",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let podman = std::path::Path::new("/usr/bin/podman");
    if !common::running_as_root() || !podman.exists() {
        println!("SKIP kube_generate_output_is_taken_by_podman_kube_play: needs root and Debian's podman (.ci/packages.txt)");
        return;
    }
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    env.ok(&["pod", "create", "--name", "peer", "-p", &publish]);
    env.ok(&[
        "run",
        "-d",
        "--pod",
        "peer",
        "--name",
        "peer-web",
        "-e",
        "GREETING=hi",
        "netbox",
        "sh",
        "-c",
        "nc -ll -p 8080 -e echo hi",
    ]);
    let yaml = env.ok(&["kube", "generate", "peer"]).stdout;
    env.ok(&["pod", "rm", "-f", "peer"]);
    let file = env.fixture("peer.yaml", yaml.as_bytes());
    let store = env.work.join("podman");
    let tarball = env.work.join("netbox.tar");
    let podman_cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(podman);
        c.args([
            "--root",
            path_str(&store.join("root")),
            "--runroot",
            path_str(&store.join("run")),
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
            "--storage-driver",
            "overlay",
            "--events-backend",
            "file",
        ])
        .args(args);
        let out = c.output().expect("podman");
        (
            out.status.success(),
            format!(
                "podman {args:?}: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = podman_cmd(&["import", path_str(&tarball), "localhost/netbox:latest"]);
    assert!(ok, "{out}");
    let (played, play_out) = podman_cmd(&[
        "kube",
        "play",
        "--start=false",
        "--network",
        "slirp4netns",
        path_str(&file),
    ]);
    let (_, ps) = podman_cmd(&["ps", "-a", "--format", "{{.Names}}"]);
    let (_, pod) = podman_cmd(&["pod", "inspect", "peer"]);
    let (_, ctr) = podman_cmd(&["inspect", "peer-web"]);
    podman_cmd(&["kube", "down", path_str(&file)]);
    podman_cmd(&["rmi", "-a", "-f"]);
    assert!(played, "{play_out}");
    assert!(ps.contains("peer-web"), "{ps}");
    assert!(ctr.contains("nc -ll -p 8080"), "{ctr}");
    assert!(ctr.contains("GREETING=hi"), "{ctr}");
    assert!(pod.contains(&port.to_string()), "{pod}");
}

#[test]
fn a_pod_sharing_its_pid_namespace_shows_each_container_the_others() {
    let Some(env) = env_with_image(
        "a_pod_sharing_its_pid_namespace_shows_each_container_the_others",
        TestUser::WithSubids,
    ) else {
        return;
    };
    env.ok(&[
        "pod",
        "create",
        "--name",
        "pids",
        "--share",
        "net,ipc,uts,pid",
    ]);
    env.ok(&["pod", "create", "--name", "nopids"]);
    env.ok(&[
        "run", "-d", "--pod", "pids", "--name", "sleeper", "netbox", "sleep", "1000",
    ]);
    env.ok(&[
        "run", "-d", "--pod", "nopids", "--name", "other", "netbox", "sleep", "1001",
    ]);
    let seen = env.ok(&[
        "run",
        "--rm",
        "--pod",
        "pids",
        "netbox",
        "cat",
        "/proc/2/cmdline",
    ]);
    assert!(
        seen.stdout.contains("sleep") && seen.stdout.contains("1000"),
        "{seen}"
    );
    // Its pid 1 is the pod's infra: burrow's command line and your
    // environment are not there to read.
    let infra = env.ok(&[
        "run",
        "--rm",
        "--pod",
        "pids",
        "netbox",
        "sh",
        "-c",
        "cat /proc/1/cmdline /proc/1/environ; echo end",
    ]);
    assert_eq!(
        infra.stdout.trim_matches(char::from(0)).trim(),
        "end",
        "{infra}"
    );
    // Without --share pid, each container is its own pid 1.
    let own = env.ok(&[
        "run",
        "--rm",
        "--pod",
        "nopids",
        "netbox",
        "cat",
        "/proc/1/cmdline",
    ]);
    assert!(own.stdout.starts_with("cat"), "{own}");
    env.ok(&["pod", "rm", "-f", "pids", "nopids"]);
}

/// kube play's volumes: a hostPath bound (read-only where the mount says
/// so), an emptyDir the pod's two containers share, made empty by each
/// play and removed by down, and a claim that is a named volume kept by
/// down.
#[test]
fn kube_play_mounts_host_paths_empty_dirs_and_claims() {
    let Some(env) = env_with_image(
        "kube_play_mounts_host_paths_empty_dirs_and_claims",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let host = env.work.join("shared-in");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("greeting"), "from the host\n").unwrap();
    env.give(&host);
    env.give(&host.join("greeting"));
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: vols\nspec:\n  volumes:\n  - name: hostdir\n    hostPath: {{path: {}}}\n  - name: scratch\n    emptyDir: {{}}\n  - name: keep\n    persistentVolumeClaim: {{claimName: vols-keep}}\n  containers:\n  - name: writer\n    image: netbox\n    command: [sh, -c]\n    args: [\"echo shared > /scratch/note; echo run >> /keep/runs; cat /in/greeting > /scratch/copy; echo evil > /in/greeting || echo refused > /scratch/ro; sleep 300\"]\n    volumeMounts:\n    - {{name: hostdir, mountPath: /in, readOnly: true}}\n    - {{name: scratch, mountPath: /scratch}}\n    - {{name: keep, mountPath: /keep}}\n  - name: reader\n    image: netbox\n    command: [sleep, \"300\"]\n    volumeMounts:\n    - {{name: scratch, mountPath: /seen}}\n    - {{name: keep, mountPath: /keep}}\n",
        host.display()
    );
    let file = env.fixture("vols.yaml", manifest.as_bytes());
    env.ok(&["kube", "play", path_str(&file)]);
    let both = until_ok(
        &env,
        &[
            "exec",
            "vols-reader",
            "sh",
            "-c",
            "cat /seen/note /seen/copy /seen/ro /keep/runs",
        ],
    );
    assert_eq!(
        both.stdout, "shared\nfrom the host\nrefused\nrun\n",
        "{both}"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("greeting")).unwrap(),
        "from the host\n"
    );
    env.ok(&["kube", "down", path_str(&file)]);
    let vols = env.ok(&["volume", "ls", "-q"]);
    assert!(
        vols.stdout.lines().any(|l| l == "vols-keep")
            && !vols.stdout.lines().any(|l| l == "vols-scratch"),
        "the claim is kept, the emptyDir is not\n{vols}"
    );
    // Played again: the claim still holds the first run's line.
    env.ok(&["kube", "play", path_str(&file)]);
    let runs = until_ok(
        &env,
        &[
            "exec",
            "vols-reader",
            "sh",
            "-c",
            "grep -c run /keep/runs | grep -q 2 && cat /keep/runs",
        ],
    );
    assert_eq!(runs.stdout, "run\nrun\n", "{runs}");
    env.ok(&["kube", "down", path_str(&file)]);
    env.ok(&["volume", "rm", "vols-keep"]);
}

/// PyPI's `kubernetes-validate` (Kubernetes' own OpenAPI schemas as JSON
/// schemas), in a virtual environment cached under /var/cache/burrow-test
/// (~/.cache/burrow-test when the tests do not run as root); why not,
/// when it cannot be had (PyPI unreachable).
fn kubernetes_validate() -> Result<std::path::PathBuf, String> {
    const VERSION: &str = "1.37.0";
    let cache = if common::running_as_root() {
        std::path::PathBuf::from(common::debian::CACHE_DIR)
    } else {
        std::path::PathBuf::from(std::env::var("HOME").map_err(|e| format!("HOME: {e}"))?)
            .join(".cache/burrow-test")
    };
    let venv = cache.join(format!("kubernetes-validate-{VERSION}"));
    let bin = venv.join("bin/kubernetes-validate");
    let done = venv.join(".installed");
    if done.exists() {
        return Ok(bin);
    }
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let run = |program: &std::path::Path, args: &[&str]| -> Result<(), String> {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {args:?}: {}\n{}",
                program.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    run(
        std::path::Path::new("/usr/bin/python3"),
        &["-m", "venv", path_str(&venv)],
    )?;
    run(
        &venv.join("bin/pip"),
        &[
            "install",
            "-q",
            "--disable-pip-version-check",
            "--timeout",
            "30",
            &format!("kubernetes-validate=={VERSION}"),
        ],
    )?;
    std::fs::write(&done, b"").map_err(|e| format!("{}: {e}", done.display()))?;
    Ok(bin)
}

/// kubectl on PATH with an API server of its own: the stand-in of
/// tests/fixtures/kube-apiserver.py on 127.0.0.1 (discovery, and Kubernetes'
/// schemas from `validate`'s package as OpenAPI v2 for kubectl's own strict
/// validation), a kubeconfig and a cache naming it; why not, when there is
/// no kubectl.
struct Kubectl {
    program: std::path::PathBuf,
    config: std::path::PathBuf,
    cache: std::path::PathBuf,
    /// `strict` (kubectl 1.25 and later) or `true` (before, where it meant
    /// the same: fields checked against the server's schemas).
    validate: &'static str,
    server: std::process::Child,
}

impl Kubectl {
    /// `kubectl apply --dry-run=client` of `file`, validating.
    fn apply(&self, file: &str) -> std::process::Output {
        std::process::Command::new(&self.program)
            .env("KUBECONFIG", &self.config)
            .env("HOME", self.cache.parent().expect("cache dir's parent"))
            .args([
                "apply",
                "--dry-run=client",
                &format!("--validate={}", self.validate),
                "--cache-dir",
                path_str(&self.cache),
                "-f",
                file,
            ])
            .output()
            .expect("kubectl")
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn kubectl_with_schemas(env: &TestEnv, validate: &std::path::Path) -> Result<Kubectl, String> {
    use std::io::BufRead;
    let program = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .ok_or("no kubectl in /usr/bin or /usr/local/bin")?;
    let version = std::process::Command::new(&program)
        .args(["version", "--client", "-o", "json"])
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let version: serde_json::Value = serde_json::from_slice(&version.stdout)
        .map_err(|e| format!("kubectl version --client -o json: {e}"))?;
    let minor: u32 = version["clientVersion"]["minor"]
        .as_str()
        .map(|m| m.trim_end_matches('+'))
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| {
            format!("kubectl version --client -o json: no minor version in {version}")
        })?;
    // kubernetes-validate's schemas: the release of kubectl's, else the
    // nearest one.
    let venv = validate.parent().and_then(|b| b.parent()).expect("venv");
    let package = std::fs::read_dir(venv.join("lib"))
        .map_err(|e| format!("{}: {e}", venv.display()))?
        .filter_map(|e| e.ok())
        .map(|e| {
            e.path()
                .join("site-packages/kubernetes_validate/kubernetes-json-schema")
        })
        .find(|p| p.is_dir())
        .ok_or("kubernetes-validate ships no kubernetes-json-schema")?;
    let releases: Vec<u32> = std::fs::read_dir(&package)
        .map_err(|e| format!("{}: {e}", package.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("v1.")?
                .strip_suffix(".0-local")?
                .parse()
                .ok()
        })
        .collect();
    let release = releases
        .iter()
        .copied()
        .min_by_key(|r| r.abs_diff(minor))
        .ok_or("kubernetes-validate ships no schemas")?;
    let definitions = package.join(format!("v1.{release}.0-local/_definitions.json"));
    let script = env.fixture(
        "kube-apiserver.py",
        include_str!("fixtures/kube-apiserver.py").as_bytes(),
    );
    let mut server = std::process::Command::new("/usr/bin/python3")
        .args([path_str(&script), path_str(&definitions)])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    let mut port = String::new();
    std::io::BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut port)
        .expect("the stand-in API server's port");
    let port: u16 = port.trim().parse().unwrap_or_else(|_| {
        let _ = server.kill();
        panic!("the stand-in API server printed no port: {port:?}")
    });
    println!(
        "kubectl 1.{minor} against a stand-in API server on 127.0.0.1:{port} \
         serving Kubernetes 1.{release}'s schemas (from kubernetes-validate) as OpenAPI v2"
    );
    let config = env.fixture(
        "kubeconfig",
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             contexts:\n- name: local\n  context:\n    cluster: local\n    user: nobody\n    namespace: default\n\
             current-context: local\nusers:\n- name: nobody\n  user: {{}}\n"
        )
        .as_bytes(),
    );
    Ok(Kubectl {
        program,
        cache: {
            let home = env.work.join("kube");
            std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
            home.join("cache")
        },
        config,
        validate: if minor >= 25 { "strict" } else { "true" },
        server,
    })
}

/// Every document `kube generate` writes, for a container with published
/// ports (TCP and UDP), environment, a bind mount, a named volume, an
/// anonymous volume and a tmpfs, and for a pod of two, is valid under
/// Kubernetes' schemas strictly (an unknown field is an error), and
/// `kubectl apply --dry-run=client` with strict validation takes each (a
/// Pod and a Service, "created (dry run)") from an API server on loopback
/// that has Kubernetes' schemas and no objects; the same kubectl refuses the
/// container's YAML with a misspelled field or a word for a port, so the
/// check can fail. The container's YAML played back mounts the same volumes.
#[test]
fn kube_generate_output_is_valid_under_the_kubernetes_schemas() {
    const TEST: &str = "kube_generate_output_is_valid_under_the_kubernetes_schemas";
    let Some(env) = env_with_image(TEST, TestUser::WithSubids) else {
        return;
    };
    let validate = match kubernetes_validate() {
        Ok(v) => v,
        Err(e) => {
            println!("SKIP {TEST}: PyPI's kubernetes-validate could not be installed (is PyPI reachable?): {e}");
            return;
        }
    };
    let host = env.work.join("host-in");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("greeting"), "from the host\n").unwrap();
    env.give(&host);
    env.give(&host.join("greeting"));
    env.ok(&["volume", "create", "kdata"]);
    let (tcp, udp, pod_port) = (free_port(), free_port(), free_port());
    env.ok(&[
        "create",
        "--name",
        "kweb",
        "-p",
        &format!("127.0.0.1:{tcp}:8080"),
        "-p",
        &format!("127.0.0.1:{udp}:5353/udp"),
        "-e",
        "GREETING=hello",
        "-e",
        "EMPTY=",
        "-v",
        "kdata:/data",
        "-v",
        &format!("{}:/in:ro", host.display()),
        "-v",
        "/scratch",
        "--tmpfs",
        "/fast",
        "-w",
        "/data",
        "netbox",
        "sh",
        "-c",
        "echo kept > /data/note; sleep 300",
    ]);
    env.ok(&[
        "pod",
        "create",
        "--name",
        "kpair",
        "-p",
        &format!("127.0.0.1:{pod_port}:80"),
    ]);
    env.ok(&[
        "create",
        "--pod",
        "kpair",
        "--name",
        "kpair-a",
        "-v",
        "kdata:/shared",
        "netbox",
        "sleep",
        "300",
    ]);
    env.ok(&[
        "create",
        "--pod",
        "kpair",
        "--name",
        "kpair-b",
        "-e",
        "ROLE=b",
        "-v",
        "kdata:/shared:ro",
        "netbox",
        "sleep",
        "300",
    ]);

    let mut files = Vec::new();
    for what in ["kweb", "kpair"] {
        let yaml = env.ok(&["kube", "generate", what]).stdout;
        for kind in ["kind: Pod", "kind: Service"] {
            assert!(yaml.contains(kind), "{what}: no {kind}\n{yaml}");
        }
        let file = env.fixture(&format!("{what}.yaml"), yaml.as_bytes());
        let out = std::process::Command::new(&validate)
            .args(["--strict", path_str(&file)])
            .output()
            .expect("kubernetes-validate");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "kubernetes-validate --strict {what}.yaml: {}\n{said}",
            out.status
        );
        assert!(
            out.status.success() && !said.contains("ERROR") && !said.contains("WARN"),
            "{what}: Kubernetes' schemas refuse it\n{said}\n{yaml}"
        );
        files.push((what, file, yaml));
    }
    let (_, _, kweb) = &files[0];
    for want in [
        "persistentVolumeClaim",
        "claimName: kdata",
        "hostPath",
        "emptyDir",
        "medium: Memory",
        "mountPath: /in",
        "readOnly: true",
        "protocol: UDP",
    ] {
        assert!(kweb.contains(want), "no {want}\n{kweb}");
    }
    let (_, _, kpair) = &files[1];
    assert_eq!(
        kpair.matches("claimName: kdata").count(),
        1,
        "the pod's two containers share one volume\n{kpair}"
    );

    // kubectl itself, against the stand-in API server.
    match kubectl_with_schemas(&env, &validate) {
        Err(why) => println!("SKIP {TEST} (kubectl part): {why}"),
        Ok(kubectl) => {
            for (what, file, yaml) in &files {
                let out = kubectl.apply(path_str(file));
                println!(
                    "kubectl apply --dry-run=client --validate={} -f {what}.yaml: {}\n{}{}",
                    kubectl.validate,
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                let said = String::from_utf8_lossy(&out.stdout);
                let documents =
                    yaml.matches("\nkind: ").count() + usize::from(yaml.starts_with("kind: "));
                assert!(
                    out.status.success()
                        && said.contains("pod/")
                        && said.contains("service/")
                        && said.matches("created (dry run)").count() == documents,
                    "kubectl refuses {what}.yaml\n{}{said}\n{yaml}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            // The check can fail: a misspelled field and a port that is not
            // a number, each put into the container's YAML, are refused.
            let (_, _, kweb) = &files[0];
            for (bad, from, to, refusal) in [
                (
                    "misspelled",
                    "    image: ",
                    "    imagee: ",
                    "unknown field \"imagee\"",
                ),
                (
                    "port-word",
                    "containerPort: 8080",
                    "containerPort: eighty",
                    "containerPort: got \"string\", expected \"integer\"",
                ),
            ] {
                assert!(kweb.contains(from), "no {from:?}\n{kweb}");
                let file = env.fixture(
                    &format!("kweb-{bad}.yaml"),
                    kweb.replacen(from, to, 1).as_bytes(),
                );
                let out = kubectl.apply(path_str(&file));
                let said = String::from_utf8_lossy(&out.stderr);
                println!(
                    "kubectl apply --dry-run=client of kweb with {to:?}: {}\n{said}",
                    out.status
                );
                assert!(
                    !out.status.success()
                        && said.contains("ValidationError")
                        && said.contains(refusal),
                    "kubectl took kweb with {to:?}\n{said}{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
        }
    }

    // Played back, the container mounts the same volumes.
    env.ok(&["rm", "-f", "kweb"]);
    env.ok(&["pod", "rm", "-f", "kpair"]);
    let (_, file, _) = &files[0];
    env.ok(&["kube", "play", path_str(file)]);
    let seen = until_ok(
        &env,
        &[
            "exec",
            "kweb-pod-kweb",
            "sh",
            "-c",
            "cat /in/greeting /data/note && test -d /scratch && grep -q ' /fast tmpfs' /proc/mounts && echo $GREETING",
        ],
    );
    assert_eq!(seen.stdout, "from the host\nkept\nhello\n", "{seen}");
    env.ok(&["kube", "down", path_str(file)]);
    env.ok(&["volume", "rm", "kdata"]);
}
