//! The docker CLI as scripts type it: `create` then `start`, the
//! `container`/`image` command groups, `ps --filter` and `--size`, `--all`
//! on start/stop/kill/rm, docker's exit statuses and messages for objects
//! that do not exist, and the last value of a repeated option.

mod common;

use common::fixtures::{busybox_rootfs, ImageSpec};
use common::{TestEnv, TestUser};
use serde_json::{json, Value};

const IMAGE: &str = "compat:latest";

fn env_with_image(test: &str, user: TestUser) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    env.load_busybox(
        IMAGE,
        &["id", "whoami", "env", "cat", "ls", "stat", "touch", "sleep"],
        json!({
            "Env": ["PATH=/bin"],
            "Cmd": ["sh"],
            "Labels": {"from": "image"},
        }),
    );
    Some(env)
}

fn wait_for(what: &str, f: impl FnMut() -> bool) {
    common::wait_for(std::time::Duration::from_secs(20), what, f);
}

fn inspect(env: &TestEnv, name: &str) -> Value {
    let out = env.ok(&["inspect", "--type", "container", name]);
    let v: Value = serde_json::from_str(&out.stdout).expect("inspect is JSON");
    v[0].clone()
}

fn names(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let mut a = vec!["ps", "--format", "json"];
    a.extend_from_slice(args);
    let out = env.ok(&a);
    let v = common::json_lines(&out.stdout);
    let mut n: Vec<String> = v
        .as_array()
        .expect("an array")
        .iter()
        .map(|c| c["Names"].as_str().unwrap_or_default().to_string())
        .collect();
    n.sort();
    n
}

#[test]
fn create_makes_a_container_that_start_runs_attached_and_detached() {
    let Some(env) = env_with_image("create_then_start", TestUser::WithSubids) else {
        return;
    };
    let out = env.ok(&[
        "create",
        "--name",
        "c1",
        "-e",
        "GREETING=hello",
        IMAGE,
        "sh",
        "-c",
        "echo $GREETING; exit 4",
    ]);
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "create prints the full id\n{out}");
    assert_eq!(inspect(&env, "c1")["State"]["Status"], "created");
    assert!(env.ok(&["ps", "-a"]).stdout.contains("Created"));
    // start -a: its output, and its exit status as ours.
    let started = env.run(&["start", "-a", "c1"]);
    assert_eq!(started.code(), Some(4), "{started}");
    assert_eq!(started.stdout.trim(), "hello", "{started}");
    assert_eq!(inspect(&env, "c1")["State"]["ExitCode"], 4);

    // The same through the container group, detached this time.
    env.ok(&[
        "container",
        "create",
        "--name",
        "c2",
        IMAGE,
        "sh",
        "-c",
        "exit 6",
    ]);
    let start = env.ok(&["container", "start", "c2"]);
    assert_eq!(start.stdout.trim(), "c2", "{start}");
    assert_eq!(env.ok(&["container", "wait", "c2"]).stdout.trim(), "6");
    let ls = env.ok(&["container", "ls", "-a", "-q", "--no-trunc"]);
    assert!(ls.stdout.contains(&id), "{ls}");
    env.ok(&["container", "rm", "c1", "c2"]);
    assert!(env.ok(&["container", "list", "-a", "-q"]).stdout.is_empty());
    // create --rm: gone once it ran.
    env.ok(&["create", "--rm", "--name", "c3", IMAGE, "true"]);
    env.ok(&["start", "-a", "c3"]);
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.is_empty());
}

#[test]
fn ps_filters_by_name_status_exit_label_ancestor_and_creation_order() {
    let Some(env) = env_with_image("ps_filters", TestUser::WithSubids) else {
        return;
    };
    assert_eq!(
        env.run(&["run", "--name", "first", IMAGE, "sh", "-c", "exit 2"])
            .code(),
        Some(2)
    );
    env.ok(&["create", "--name", "second", "--label", "tier=web", IMAGE]);
    env.ok(&["run", "-d", "--name", "third", IMAGE, "sleep", "60"]);
    assert_eq!(names(&env, &[]), ["third"]);
    assert_eq!(
        names(&env, &["-a", "--filter", "name=ir"]),
        ["first", "third"]
    );
    assert_eq!(names(&env, &["-a", "-f", "name=^first$"]), ["first"]);
    // A status filter looks at every container, without -a.
    assert_eq!(names(&env, &["--filter", "status=created"]), ["second"]);
    assert_eq!(
        names(&env, &["-f", "status=exited", "-f", "status=running"]),
        ["first", "third"]
    );
    assert_eq!(names(&env, &["-a", "-f", "exited=2"]), ["first"]);
    assert!(names(&env, &["-a", "-f", "exited=0"]).is_empty());
    assert_eq!(names(&env, &["-a", "-f", "label=tier=web"]), ["second"]);
    // The image's labels are the container's too.
    assert_eq!(
        names(&env, &["-a", "-f", "label=from"]),
        ["first", "second", "third"]
    );
    assert_eq!(
        names(&env, &["-a", "-f", "ancestor=compat"]),
        ["first", "second", "third"]
    );
    assert_eq!(
        names(&env, &["-a", "-f", "since=first"]),
        ["second", "third"]
    );
    assert_eq!(names(&env, &["-a", "-f", "before=second"]), ["first"]);
    let id = inspect(&env, "second")["Id"].as_str().unwrap().to_string();
    assert_eq!(
        names(&env, &["-a", "-f", &format!("id={}", &id[..8])]),
        ["second"]
    );
    // Keys must all match.
    assert!(names(&env, &["-a", "-f", "name=first", "-f", "status=running"]).is_empty());
    let bad = env.run(&["ps", "--filter", "colour=red"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
    assert!(bad.stderr.contains("burrow knows id, name"), "{bad}");
    // --size: a column of the writable layer's size.
    env.ok(&["exec", "third", "sh", "-c", "head -c 3000 /dev/zero > /big"]);
    let sized = env.ok(&["ps", "--size", "--format", "json"]);
    let v = common::json_lines(&sized.stdout);
    // docker's shape: the writable layer's size, then the image's with it.
    let size = v[0]["Size"].as_str().unwrap_or_default();
    let (rw, virt) = size.split_once(" (virtual ").unwrap_or_default();
    assert!(
        rw.ends_with("kB") && rw[..rw.len() - 2].parse::<f64>().unwrap_or(0.0) >= 3.0,
        "{sized}"
    );
    assert!(virt.ends_with("MB)"), "{sized}");
    // Without --size none are counted: docker's 0B.
    let plain = env.ok(&["ps", "--format", "json"]);
    assert_eq!(
        common::json_lines(&plain.stdout)[0]["Size"],
        "0B",
        "{plain}"
    );
    let table = env.ok(&["ps", "-s"]);
    assert!(
        table.stdout.contains("SIZE") && table.stdout.contains("virtual"),
        "{table}"
    );
    env.ok(&["rm", "-f", "--all"]);
}

#[test]
fn ps_filters_by_health_volume_network_published_and_exposed_ports_and_task() {
    let Some(env) = env_with_image("ps_filters_more", TestUser::WithSubids) else {
        return;
    };
    let net_id = env
        .ok(&["network", "create", "front"])
        .stdout
        .trim()
        .to_string();
    for (name, check) in [("fine", "true"), ("sick", "false")] {
        env.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--health-cmd",
            check,
            "--health-interval",
            "1h",
            "--health-retries",
            "1",
            IMAGE,
            "sleep",
            "60",
        ]);
    }
    env.ok(&[
        "create",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "--expose",
        "8001/udp",
        "-v",
        "data:/srv",
        IMAGE,
    ]);
    env.ok(&[
        "create",
        "--name",
        "onnet",
        "--network",
        "front",
        "--tmpfs",
        "/scratch",
        IMAGE,
    ]);
    assert_eq!(names(&env, &["-f", "health=starting"]), ["fine", "sick"]);
    env.ok(&["healthcheck", "run", "fine"]);
    assert_eq!(env.run(&["healthcheck", "run", "sick"]).code(), Some(1));
    assert_eq!(names(&env, &["-f", "health=healthy"]), ["fine"]);
    assert_eq!(names(&env, &["-f", "health=unhealthy"]), ["sick"]);
    assert_eq!(names(&env, &["-a", "-f", "health=none"]), ["onnet", "web"]);
    // A volume by its name or any mount by its destination.
    assert_eq!(names(&env, &["-a", "-f", "volume=data"]), ["web"]);
    assert_eq!(names(&env, &["-a", "-f", "volume=/srv"]), ["web"]);
    assert_eq!(names(&env, &["-a", "-f", "volume=/scratch"]), ["onnet"]);
    assert!(names(&env, &["-a", "-f", "volume=/s"]).is_empty());
    // A network by name or id; bridge is the default network.
    assert_eq!(names(&env, &["-a", "-f", "network=front"]), ["onnet"]);
    assert_eq!(
        names(&env, &["-a", "-f", &format!("network={}", &net_id[..12])]),
        ["onnet"]
    );
    assert_eq!(names(&env, &["-a", "-f", "network=none"]), ["fine", "sick"]);
    assert_eq!(names(&env, &["-a", "-f", "network=bridge"]), ["web"]);
    // publish: a published container port; expose: EXPOSE, --expose and
    // -p's container ports; tcp unless said.
    assert_eq!(names(&env, &["-a", "-f", "publish=80"]), ["web"]);
    assert_eq!(names(&env, &["-a", "-f", "publish=1-100/tcp"]), ["web"]);
    assert!(names(&env, &["-a", "-f", "publish=80/udp"]).is_empty());
    assert!(names(&env, &["-a", "-f", "publish=8001/udp"]).is_empty());
    assert_eq!(names(&env, &["-a", "-f", "expose=8000-8080/udp"]), ["web"]);
    assert_eq!(names(&env, &["-a", "-f", "expose=80"]), ["web"]);
    assert!(names(&env, &["-a", "-f", "expose=8001"]).is_empty());
    // No container of burrow is a swarm task.
    assert!(names(&env, &["-a", "-f", "is-task=true"]).is_empty());
    assert_eq!(
        names(&env, &["-a", "-f", "is-task=false"]),
        ["fine", "onnet", "sick", "web"]
    );
    for bad in ["health=ok", "publish=http", "expose=90-80", "is-task=maybe"] {
        let out = env.run(&["ps", "--filter", bad]);
        assert_eq!(out.code(), Some(125), "{out}");
        assert!(out.stderr.contains(bad.split('=').next().unwrap()), "{out}");
    }
    env.ok(&["rm", "-f", "fine", "sick", "web", "onnet"]);
    env.ok(&["network", "rm", "front"]);
}

#[test]
fn platform_of_run_and_create_is_this_machines_only() {
    let Some(env) = env_with_image("run_platform", TestUser::Any) else {
        return;
    };
    let here = format!("linux/{}", common::fixtures::oci_arch());
    let out = env.ok(&[
        "run",
        "--rm",
        "--platform",
        &here,
        IMAGE,
        "sh",
        "-c",
        "echo ran",
    ]);
    assert_eq!(out.stdout, "ran\n", "{out}");
    env.ok(&["create", "--name", "made", "--platform", &here, IMAGE]);
    let other = if here.ends_with("s390x") {
        "linux/amd64"
    } else {
        "linux/s390x"
    };
    for verb in ["run", "create"] {
        let out = env.run(&[verb, "--platform", other, IMAGE, "true"]);
        assert_eq!(out.code(), Some(125), "{out}");
        assert!(
            out.stderr.contains(other) && out.stderr.contains(&here),
            "{out}"
        );
    }
    assert_eq!(names(&env, &["-a"]), ["made"]);
    env.ok(&["rm", "made"]);
}

/// docker's names for its predefined networks are `--network` modes of
/// burrow's (bridge: the default network), and `network ls` lists the
/// three beside the networks made with `network create` (tests/networks.rs
/// has the rest).
#[test]
fn dockers_network_names_bridge_host_and_none_are_taken_by_run() {
    let Some(env) = env_with_image("docker_network_names", TestUser::Any) else {
        return;
    };
    for (given, mode) in [("bridge", "user"), ("host", "host"), ("none", "none")] {
        env.ok(&["create", "--name", given, "--network", given, IMAGE]);
        assert_eq!(
            inspect(&env, given)["NetworkSettings"]["NetworkMode"],
            mode,
            "{given}"
        );
        assert_eq!(
            names(&env, &["-a", "-f", &format!("network={given}")]),
            [given]
        );
        env.ok(&["rm", given]);
    }
    let ls = env.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert_eq!(ls.stdout, "bridge bridge\nhost host\nnone null\n", "{ls}");
}

#[test]
fn all_flag_starts_stops_kills_and_removes_every_container() {
    let Some(env) = env_with_image("all_flags", TestUser::WithSubids) else {
        return;
    };
    for n in ["a1", "a2"] {
        env.ok(&["create", "--name", n, IMAGE, "sleep", "60"]);
    }
    let started = env.ok(&["start", "--all"]);
    assert_eq!(started.stdout_lines().len(), 2, "{started}");
    assert_eq!(names(&env, &[]), ["a1", "a2"]);
    env.ok(&["stop", "--time", "0", "--all"]);
    assert!(names(&env, &[]).is_empty());
    env.ok(&["start", "a1", "a2"]);
    env.ok(&["kill", "--signal", "KILL", "--all"]);
    wait_for("the containers to die", || names(&env, &[]).is_empty());
    // rm --all without -f leaves a running one, with an error.
    env.ok(&["start", "a1"]);
    let partly = env.run(&["rm", "--all"]);
    assert_eq!(partly.code(), Some(1), "{partly}");
    assert_eq!(names(&env, &["-a"]), ["a1"]);
    env.ok(&["rm", "-f", "-a"]);
    assert!(names(&env, &["-a"]).is_empty());
    // --all with names, or neither, is a usage error.
    env.fails(&["stop", "--all", "a1"]);
    env.fails(&["rm"]);
}

#[test]
fn missing_objects_exit_1_with_no_such_and_usage_errors_exit_125() {
    let Some(env) = env_with_image("missing_objects", TestUser::NoSubids) else {
        return;
    };
    env.ok(&["create", "--name", "here", IMAGE, "true"]);
    for (args, line) in [
        (vec!["inspect", "nosuch"], "Error: No such object: nosuch"),
        (
            vec!["container", "inspect", "nosuch"],
            "Error: No such container: nosuch",
        ),
        (
            vec!["inspect", "--type", "container", "nosuch"],
            "Error: No such container: nosuch",
        ),
        (vec!["image", "inspect", "nosuch"], "Error: No such image: "),
        (vec!["rmi", "nosuch"], "Error: No such image: "),
        (vec!["stop", "nosuch"], "Error: No such container: nosuch"),
        (vec!["kill", "nosuch"], "Error: No such container: nosuch"),
        (vec!["start", "nosuch"], "Error: No such container: nosuch"),
        (vec!["wait", "nosuch"], "Error: No such container: nosuch"),
        (vec!["logs", "nosuch"], "Error: No such container: nosuch"),
    ] {
        let out = env.run(&args);
        assert_eq!(out.code(), Some(1), "{out}");
        assert!(out.error_line().starts_with(line), "{out}");
    }
    // What exists is still shown (and the status is still 1).
    let both = env.run(&["inspect", "here", "nosuch"]);
    assert_eq!(both.code(), Some(1), "{both}");
    let v: Value = serde_json::from_str(&both.stdout).expect("json");
    assert_eq!(v[0]["Name"], "here", "{both}");
    // Usage errors are burrow's own: 125.
    for args in [
        vec!["run", "--no-such-flag", IMAGE],
        vec!["create"],
        vec!["ps", "--filter", "bogus"],
        vec!["container", "frobnicate"],
    ] {
        assert_eq!(env.run(&args).code(), Some(125), "{args:?}");
    }
    // run of an image that is not here and not pullable: 125, as docker's.
    assert_eq!(
        env.run(&["run", "--rm", "abcdef12", "true"]).code(),
        Some(125)
    );
}

#[test]
fn a_repeated_option_takes_its_last_value() {
    let Some(env) = env_with_image("repeated_option", TestUser::NoSubids) else {
        return;
    };
    let out = env.ok(&[
        "run", "--rm", "--name", "x1", "--name", "x2", "-w", "/tmp", "-w", "/", IMAGE, "sh", "-c",
        "pwd",
    ]);
    assert_eq!(out.stdout.trim(), "/", "{out}");
    env.ok(&["create", "--name", "y1", "--name", "y2", IMAGE]);
    assert_eq!(names(&env, &["-a"]), ["y2"]);
}

#[test]
fn what_follows_the_image_or_container_is_the_commands_as_in_docker() {
    let Some(env) = env_with_image("operand_ends_flags", TestUser::WithSubids) else {
        return;
    };
    // `-c` is also burrow's --cpu-shares, `--help` and `-e` burrow's own.
    let out = env.ok(&["run", "--rm", "--entrypoint", "sh", IMAGE, "-c", "echo hi"]);
    assert_eq!(out.stdout, "hi\n", "{out}");
    let out = env.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        IMAGE,
        "--help",
        "-e",
        "X=1",
        "--",
        "-d",
    ]);
    assert_eq!(out.stdout, "--help -e X=1 -- -d\n", "{out}");
    // Flags before the image are still burrow's.
    let out = env.ok(&["run", "--rm", "-e", "A=1", IMAGE, "sh", "-c", "echo $A"]);
    assert_eq!(out.stdout, "1\n", "{out}");
    env.ok(&[
        "create",
        "--name",
        "c1",
        "--entrypoint",
        "sh",
        IMAGE,
        "-c",
        "echo made",
    ]);
    let out = env.ok(&["start", "-a", "c1"]);
    assert_eq!(out.stdout, "made\n", "{out}");
    env.ok(&["run", "-d", "--name", "s1", IMAGE, "sleep", "60"]);
    let out = env.ok(&["exec", "s1", "sh", "-c", "echo in"]);
    assert_eq!(out.stdout, "in\n", "{out}");
    let out = env.ok(&["exec", "-e", "B=2", "s1", "env", "-u", "PATH"]);
    assert!(out.stdout.contains("B=2\n"), "{out}");
    env.ok(&["rm", "-f", "s1", "c1"]);
}

#[test]
fn wait_returns_when_a_restart_always_container_exits() {
    let Some(env) = env_with_image("wait_restart_always", TestUser::WithSubids) else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        "again",
        IMAGE,
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    // Running when asked: answered at its exit, though it restarts.
    let mut waiting = env.spawn(&["wait", "again"]);
    let returned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        common::wait_for(
            std::time::Duration::from_secs(60),
            "wait to return for a --restart always container that exited",
            || waiting.0.try_wait().expect("try_wait"),
        )
    }));
    if let Err(e) = returned {
        common::kill_group(&mut waiting);
        env.ok(&["rm", "-f", "again"]);
        std::panic::resume_unwind(e);
    }
    let mut out = String::new();
    std::io::Read::read_to_string(waiting.0.stdout.as_mut().expect("stdout"), &mut out)
        .expect("read");
    assert_eq!(out.trim(), "3");
    env.ok(&["rm", "-f", "again"]);
}

#[test]
fn keep_id_gives_the_user_a_name_a_group_and_a_writable_home() {
    let Some(env) = env_with_image("keep_id_account", TestUser::WithSubids) else {
        return;
    };
    let name = env.account.name.clone();
    let out = env.ok(&[
        "run",
        "--rm",
        "--userns",
        "keep-id",
        IMAGE,
        "sh",
        "-c",
        "whoami; id -un; id -gn; echo $HOME; touch $HOME/f && echo writable",
    ]);
    assert_eq!(
        out.stdout_lines(),
        [
            name.as_str(),
            name.as_str(),
            name.as_str(),
            &format!("/home/{name}"),
            "writable"
        ],
        "{out}"
    );
}

#[test]
fn stop_signal_cidfile_pull_never_group_add_and_label_disable() {
    let Some(env) = env_with_image("run_flags", TestUser::WithSubids) else {
        return;
    };
    // --stop-signal: the trap's status proves which signal stop sent.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "trapped",
        "--stop-signal",
        "USR1",
        "--stop-timeout",
        "30",
        IMAGE,
        "sh",
        "-c",
        "trap 'exit 7' USR1; while true; do sleep 0.1; done",
    ]);
    env.ok(&["stop", "trapped"]);
    assert_eq!(inspect(&env, "trapped")["State"]["ExitCode"], 7);
    // --cidfile: the id, once; a file that exists is refused.
    let cid = env.work.join("cid");
    let cid_arg = cid.to_str().expect("utf-8 path");
    let id = env
        .ok(&["create", "--cidfile", cid_arg, IMAGE])
        .stdout
        .trim()
        .to_string();
    assert_eq!(std::fs::read_to_string(&cid).expect("cidfile"), id);
    env.fails(&["create", "--cidfile", cid_arg, IMAGE]);
    // --pull never: a missing image is an error, nothing is pulled.
    let never = env.run(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "example.invalid/x:1",
        "true",
    ]);
    assert_eq!(never.code(), Some(125), "{never}");
    assert!(!never.stderr.contains("Trying to pull"), "{never}");
    env.fails(&["run", "--rm", "--pull", "sometimes", IMAGE, "true"]);
    // --group-add: another supplementary group.
    let groups = env.ok(&["run", "--rm", "--group-add", "4321", IMAGE, "id", "-G"]);
    assert!(
        groups.stdout.split_whitespace().any(|g| g == "4321"),
        "{groups}"
    );
    env.fails(&["run", "--rm", "--group-add", "wheel", IMAGE, "true"]);
    // label=disable: accepted (burrow applies no SELinux labels).
    env.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "label=disable",
        IMAGE,
        "true",
    ]);
}

#[test]
fn publish_without_a_host_port_binds_a_free_one_shown_by_port_ps_and_inspect() {
    let Some(env) = env_with_image("publish_random_port", TestUser::WithSubids) else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::8080",
        IMAGE,
        "sleep",
        "60",
    ]);
    let out = env.ok(&["port", "web", "8080"]);
    let shown = out.stdout.trim().to_string();
    let port: u16 = shown
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // Not the container's port, as docker: one the kernel picked.
    assert!(port != 8080 && port != 0, "{out}");
    let bound = inspect(&env, "web")["NetworkSettings"]["Ports"]["8080/tcp"][0].clone();
    assert_eq!(bound["HostIp"], "127.0.0.1");
    assert_eq!(bound["HostPort"], port.to_string());
    let ps = env.ok(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.stdout.trim(), format!("127.0.0.1:{port}->8080/tcp"));
    // The port is really held: binding it again fails.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
    env.ok(&["rm", "-f", "web"]);
}

/// This process's (and so burrow's) hard limit of open files.
fn own_nofile_hard() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r.rlim_max
}

#[test]
fn ulimit_sets_soft_and_hard_limits_for_run_and_exec_and_refuses_more_than_yours() {
    let Some(env) = env_with_image("ulimit", TestUser::WithSubids) else {
        return;
    };
    let out = env.ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=1000:2000",
        "--ulimit",
        "core=0",
        IMAGE,
        "sh",
        "-c",
        "ulimit -Sn; ulimit -Hn; ulimit -c",
    ]);
    assert_eq!(out.stdout_lines(), ["1000", "2000", "0"], "{out}");
    // Given twice: the last.
    let out = env.ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=100",
        "--ulimit",
        "nofile=300",
        IMAGE,
        "sh",
        "-c",
        "ulimit -Sn; ulimit -Hn",
    ]);
    assert_eq!(out.stdout_lines(), ["300", "300"], "{out}");
    // exec'd processes get the container's limits too.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--ulimit",
        "nofile=512",
        IMAGE,
        "sleep",
        "60",
    ]);
    let out = env.ok(&["exec", "lim", "sh", "-c", "ulimit -n"]);
    assert_eq!(out.stdout.trim(), "512", "{out}");
    let shown = env.ok(&["inspect", "-f", "{{json .HostConfig.Ulimits}}", "lim"]);
    assert_eq!(
        serde_json::from_str::<Value>(&shown.stdout).expect("json"),
        json!([{"Name": "nofile", "Soft": 512, "Hard": 512}])
    );
    env.ok(&["rm", "-f", "lim"]);
    // Above the caller's own hard limit: refused before anything runs.
    let above = format!("nofile=1024:{}", own_nofile_hard() + 1);
    let out = env.run(&["run", "--rm", "--ulimit", &above, IMAGE, "true"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("above yours"), "{out}");
    for bad in [
        "nofile",
        "nofiles=1",
        "nofile=2:1",
        "nofile=1:2:3",
        "nofile=x",
    ] {
        let out = env.run(&["run", "--rm", "--ulimit", bad, IMAGE, "true"]);
        assert_eq!(out.code(), Some(125), "{bad}: {out}");
    }
}

#[test]
fn shm_size_sysctl_and_group_add_by_name() {
    let Some(env) = env_with_image("shm_sysctl_group", TestUser::WithSubids) else {
        return;
    };
    let mounts = env.ok(&[
        "run",
        "--rm",
        "--shm-size",
        "1m",
        IMAGE,
        "cat",
        "/proc/mounts",
    ]);
    let shm = mounts
        .stdout
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/dev/shm"))
        .unwrap_or_else(|| panic!("{mounts}"))
        .to_string();
    assert!(shm.contains("size=1024k"), "{shm}");
    // Namespaced sysctls are the container's own; the host's stay.
    let ttl = "/proc/sys/net/ipv4/ip_default_ttl";
    let host_ttl = std::fs::read_to_string(ttl).expect("host ttl");
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--sysctl",
        "net.ipv4.ip_default_ttl=42",
        "--sysctl",
        "kernel.shmmni=1234",
        IMAGE,
        "cat",
        ttl,
        "/proc/sys/kernel/shmmni",
    ]);
    assert_eq!(out.stdout_lines(), ["42", "1234"], "{out}");
    assert_eq!(std::fs::read_to_string(ttl).expect("host ttl"), host_ttl);
    let shown = env.ok(&[
        "create",
        "--name",
        "sys",
        "--sysctl",
        "fs.mqueue.msg_max=20",
        IMAGE,
    ]);
    assert!(!shown.stdout.trim().is_empty());
    let sysctls = env.ok(&["inspect", "-f", "{{json .HostConfig.Sysctls}}", "sys"]);
    assert_eq!(sysctls.stdout.trim(), r#"{"fs.mqueue.msg_max":"20"}"#);
    // Not namespaced, the host's network, or a path out of /proc/sys.
    for (args, says) in [
        (vec!["--sysctl", "kernel.hostname=x"], "is not allowed"),
        (vec!["--sysctl", "vm.swappiness=1"], "is not allowed"),
        (
            vec!["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
            "host",
        ),
        (
            vec!["--sysctl", "net.ipv4/../../kernel/core_pattern=x"],
            "invalid --sysctl",
        ),
        (vec!["--sysctl", "net..ipv4=1"], "invalid --sysctl"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(args.iter().copied());
        a.extend([IMAGE, "true"]);
        let out = env.run(&a);
        assert_eq!(out.code(), Some(125), "{a:?}: {out}");
        assert!(out.stderr.contains(says), "{a:?}: {out}");
    }
    // --group-add by name, from the image's /etc/group; with a number.
    let out = env.ok(&[
        "run",
        "--rm",
        "--group-add",
        "user",
        "--group-add",
        "777",
        IMAGE,
        "id",
        "-G",
    ]);
    let groups: Vec<&str> = out.stdout.split_whitespace().collect();
    assert!(groups.contains(&"1000") && groups.contains(&"777"), "{out}");
    let out = env.run(&["run", "--rm", "--group-add", "nosuch", IMAGE, "true"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("unable to find group nosuch"), "{out}");
    env.ok(&["rm", "sys"]);
}

#[test]
fn log_drivers_none_passthrough_and_log_opt_limits() {
    let Some(env) = env_with_image("log_drivers", TestUser::WithSubids) else {
        return;
    };
    // none: output goes nowhere; `logs` says there is no log.
    env.ok(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        IMAGE,
        "sh",
        "-c",
        "echo hi",
    ]);
    let out = env.fails(&["logs", "quiet"]);
    assert!(out.stderr.contains("no log"), "{out}");
    let t = env.ok(&["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "quiet"]);
    assert_eq!(t.stdout.trim(), "none");
    // passthrough: the container's stdout is the very file ours is.
    let file = env.work.join("passthrough.out");
    std::fs::write(&file, "").expect("create");
    env.give(&file);
    let status = env
        .command(&[
            "run",
            "--rm",
            "--log-driver",
            "passthrough",
            IMAGE,
            "stat",
            "-L",
            "-c",
            "%i",
            "/proc/self/fd/1",
        ])
        .stdout(std::fs::File::create(&file).expect("open"))
        .status()
        .expect("run");
    assert!(status.success());
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&file).expect("stat"));
    let shown = std::fs::read_to_string(&file).expect("read");
    assert_eq!(shown.trim(), inode.to_string());
    for with in ["-d", "-t"] {
        let out = env.run(&["run", with, "--log-driver", "passthrough", IMAGE, "true"]);
        assert_eq!(out.code(), Some(125), "{with}: {out}");
    }
    env.fails(&["run", "--rm", "--log-driver", "syslog", IMAGE, "true"]);
    // json-file with max-size: the log keeps a bounded tail.
    let script = "i=0; while [ $i -lt 3000 ]; do \
                  echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done";
    env.ok(&[
        "run",
        "--name",
        "small",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=8k",
        "--log-opt",
        "max-file=2",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    let out = env.ok(&["logs", "small"]);
    assert!(out
        .stdout
        .ends_with("line-2999-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"));
    assert!(!out.stdout.contains("line-0-"), "the log kept everything");
    assert!(
        out.stdout.len() <= 17 * 1024,
        "{} bytes kept",
        out.stdout.len()
    );
    let opts = env.ok(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", "small"]);
    assert_eq!(
        serde_json::from_str::<Value>(&opts.stdout).expect("json"),
        json!({"Type": "json-file", "Config": {"max-size": "8192", "max-file": "2"}})
    );
    env.ok(&["rm", "quiet", "small"]);
}

#[test]
fn log_opt_max_file_keeps_as_many_sizes_of_output_as_files_it_names() {
    let Some(env) = env_with_image(
        "log_opt_max_file_keeps_as_many_sizes_of_output_as_files_it_names",
        TestUser::Any,
    ) else {
        return;
    };
    // 3000 lines of 60 bytes: far more than 6 files of 8k hold.
    let script = "i=0; while [ $i -lt 3000 ]; do \
                  echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done";
    let kept = |files: &str| -> usize {
        let name = format!("files{files}");
        env.ok(&[
            "run",
            "--network",
            "none",
            "--name",
            &name,
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=8k",
            "--log-opt",
            &format!("max-file={files}"),
            IMAGE,
            "sh",
            "-c",
            script,
        ]);
        let out = env.ok(&["logs", &name]);
        assert!(out
            .stdout
            .ends_with("line-2999-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"));
        assert!(
            !out.stdout.contains("line-0-"),
            "max-file={files} kept everything"
        );
        assert!(
            out.stdout.len() <= files.parse::<usize>().unwrap() * 8192,
            "max-file={files}: {} bytes kept, more than {files} files of 8k",
            out.stdout.len()
        );
        env.ok(&["rm", &name]);
        out.stdout.lines().count()
    };
    // Between N/2 and N files' worth is kept: 6 files keep at least half
    // as much again as 2 (at least 3 sizes against at most 2).
    let (two, six) = (kept("2"), kept("6"));
    assert!(
        six * 2 >= two * 3,
        "max-file=6 kept {six} lines, max-file=2 {two}"
    );
}

/// A shell script written for docker, run unchanged with `docker` on PATH
/// being burrow (a symlink, as `alias docker=burrow` would have it).
const DOCKER_SCRIPT: &str = r#"
set -eux
img=compat:latest
docker version --format '{{.Client.Version}}' >/dev/null

# create, then start; wait, inspect --format, logs by stream
cid=$(docker create --name job -e GREETING=hello --label app=demo "$img" \
    sh -c 'echo "$GREETING"; echo oops >&2; exit 3')
test "$(docker inspect --format '{{.State.Status}}' job)" = created
test "$(docker inspect -f '{{.Id}}' job)" = "$cid"
test "$(docker ps -a --filter label=app=demo --format '{{.Names}}')" = job
docker start job >/dev/null
test "$(docker wait job)" = 3
test "$(docker inspect --format '{{.State.ExitCode}} {{.Config.Labels.app}}' job)" = "3 demo"
test "$(docker logs job 2>/dev/null)" = hello
test "$(docker logs job 2>&1 >/dev/null)" = oops

# a service: exec, cp both ways, ps, stop
docker run -d --name svc "$img" sleep 60 >/dev/null
docker exec svc sh -c 'echo inside > /tmp/f'
docker cp svc:/tmp/f ./f.txt
grep -qx inside f.txt
echo host > h.txt
docker cp h.txt svc:/tmp/h.txt
test "$(docker exec svc cat /tmp/h.txt)" = host
test "$(docker ps --format '{{.Names}} {{.State}}')" = "svc running"
docker stop -t 1 svc >/dev/null
test "$(docker inspect -f '{{.State.Running}}' svc)" = false

# save | gzip, load from a pipe
docker tag "$img" mine:1
docker save mine:1 | gzip > mine.tar.gz
docker rmi mine:1 >/dev/null
if docker image inspect mine:1 >/dev/null 2>&1; then exit 10; fi
gunzip -c mine.tar.gz | docker load >/dev/null
docker image inspect --format '{{.Id}}' mine:1 >/dev/null

# a named volume outlives the containers that use it
docker volume create data >/dev/null
docker run --rm -v data:/data "$img" sh -c 'echo kept > /data/f'
test "$(docker run --rm -v data:/data:ro "$img" cat /data/f)" = kept
docker volume ls --format '{{.Name}}' | grep -qx data
test "$(docker volume inspect --format '{{.Name}}' data)" = data
docker create --name user -v data:/data "$img" true >/dev/null
test "$(docker ps -a --filter name=user --format '{{.Mounts}} {{.LocalVolumes}}')" = "data 1"
docker rm -v user >/dev/null
docker volume rm data >/dev/null
if docker volume inspect data >/dev/null 2>&1; then exit 11; fi

# events of what happened
docker events --since 0 --until "$(date +%s)" --filter container=job \
    --format '{{.Action}}' > events.txt
grep -qx create events.txt
grep -qx start events.txt
grep -qx die events.txt

# clean up as scripts do
docker rm job svc >/dev/null
docker rm -f nosuch
docker rmi mine:1 >/dev/null
test -z "$(docker ps -aq)"
echo script-done
"#;

#[test]
fn a_script_written_for_docker_runs_unchanged_against_burrow() {
    let Some(env) = env_with_image("docker_script", TestUser::WithSubids) else {
        return;
    };
    let bin = env.work.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::os::unix::fs::symlink(env.binary(), bin.join("docker")).expect("symlink");
    let script = env.work.join("script.sh");
    std::fs::write(&script, DOCKER_SCRIPT).expect("write the script");
    env.give(&script);
    let out = env
        .command_of(
            std::path::Path::new("/bin/sh"),
            &[script.to_str().expect("utf-8 path")],
        )
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .output()
        .expect("run the script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("script-done"),
        "the script failed ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ps_ancestor_takes_descendants_and_templates_show_size_mounts_and_label() {
    let Some(env) = env_with_image("ps_ancestor_and_placeholders", TestUser::WithSubids) else {
        return;
    };
    // A child image (committed on top of compat) and an unrelated one.
    env.ok(&["run", "--name", "maker", IMAGE, "touch", "/made"]);
    env.ok(&["commit", "maker", "localhost/child:1"]);
    let (other, _) = env.docker_archive(
        "other.tar",
        &[ImageSpec::new(
            &["other:1"],
            vec![busybox_rootfs().finish()],
        )],
    );
    env.give(&other);
    env.load(&other);
    env.ok(&["create", "--name", "kid", "localhost/child:1", "true"]);
    env.ok(&["create", "--name", "stranger", "other:1", "true"]);
    assert_eq!(
        names(&env, &["-a", "--filter", &format!("ancestor={IMAGE}")]),
        ["kid", "maker"]
    );
    assert_eq!(
        names(&env, &["-a", "--filter", "ancestor=localhost/child:1"]),
        ["kid"]
    );
    assert_eq!(
        names(&env, &["-a", "--filter", "ancestor=other:1"]),
        ["stranger"]
    );
    // .Label "key", .Mounts (bind sources, cut as docker's), .Size
    // without --size.
    let src = env.work.join("a-rather-long-directory-name");
    std::fs::create_dir_all(&src).expect("mkdir");
    env.give(&src);
    env.ok(&[
        "create",
        "--name",
        "labelled",
        "--label",
        "tier=web",
        "-v",
        &format!("{}:/data", src.display()),
        IMAGE,
        "true",
    ]);
    let out = env.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=labelled",
        "--format",
        "{{.Label \"tier\"}}|{{.Label \"none\"}}|{{.Mounts}}|{{.Size}}",
    ]);
    let fields: Vec<&str> = out.stdout.trim().split('|').collect();
    assert_eq!(fields[0], "web", "{out}");
    assert_eq!(fields[1], "", "{out}");
    let shown: String = src.display().to_string().chars().take(14).collect();
    assert_eq!(fields[2], format!("{shown}…"), "{out}");
    assert!(fields[3].contains("(virtual "), "{out}");
    let full = env.ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        "name=labelled",
        "--format",
        "{{.Mounts}}",
    ]);
    assert_eq!(full.stdout.trim(), src.display().to_string());
    env.ok(&["rm", "maker", "kid", "stranger", "labelled"]);
}

#[test]
fn lifecycle_verbs_echo_each_container_as_it_was_typed() {
    let Some(env) = env_with_image("echo_as_typed", TestUser::WithSubids) else {
        return;
    };
    let run = env.ok(&["run", "-d", "--name", "echoer", IMAGE, "sleep", "60"]);
    let id = run.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id\n{run}");
    env.ok(&["create", "--name", "other", IMAGE, "sleep", "60"]);
    // As docker's: a name, an id prefix, whatever was typed, in order.
    for (args, want) in [
        (vec!["restart", "-t", "1", &id[..8]], vec![&id[..8]]),
        (vec!["start", "other"], vec!["other"]),
        (
            vec!["stop", "-t", "1", &id[..10], "other"],
            vec![&id[..10], "other"],
        ),
        (vec!["start", &id[..12]], vec![&id[..12]]),
        (vec!["kill", "echoer"], vec!["echoer"]),
        (vec!["rm", "-f", &id[..6], "other"], vec![&id[..6], "other"]),
    ] {
        let out = env.ok(&args);
        assert_eq!(out.stdout_lines(), want, "{args:?}\n{out}");
    }
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.is_empty());
}
