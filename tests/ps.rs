//! `ps` as a docker user reads it: newest first, `--last N` and `--latest`
//! over every state, statuses in docker's words, and ports shown only
//! while the container runs.

mod common;

use common::{TestEnv, TestUser};

const IMAGE: &str = "ps:latest";

fn env_with_image(test: &str) -> Option<TestEnv> {
    common::env_with_busybox(test, TestUser::Any, IMAGE, common::plain_config())
}

fn names(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ps", "--format", "json"];
    all.extend_from_slice(args);
    let out = env.ok(&all);
    let v = common::json_lines(&out.stdout);
    v.as_array()
        .expect("a list")
        .iter()
        .map(|c| c["Names"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn ps_lists_newest_first_and_last_and_latest_take_every_state() {
    let Some(env) = env_with_image("ps_lists_newest_first_and_last_and_latest_take_every_state")
    else {
        return;
    };
    for name in ["first", "second", "third"] {
        env.ok(&["run", "--network", "none", "--name", name, IMAGE, "true"]);
    }
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "fourth",
        IMAGE,
        "sleep",
        "60",
    ]);
    assert_eq!(names(&env, &["-a"]), ["fourth", "third", "second", "first"]);
    assert_eq!(names(&env, &[]), ["fourth"]);
    assert_eq!(names(&env, &["-n", "2"]), ["fourth", "third"]);
    assert_eq!(names(&env, &["--last", "3"]), ["fourth", "third", "second"]);
    assert_eq!(names(&env, &["-l"]), ["fourth"]);
    env.ok(&["rm", "-f", "fourth"]);
    assert_eq!(names(&env, &["--latest"]), ["third"]);
    let q = env.ok(&["ps", "-q", "-l"]);
    assert_eq!(q.stdout_lines().len(), 1, "{q}");
}

#[test]
fn ps_status_reads_as_dockers_and_ports_show_only_while_running() {
    let Some(env) = env_with_image("ps_status_reads_as_dockers_and_ports_show_only_while_running")
    else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let publish = format!("127.0.0.1:{port}:80");
    env.ok(&[
        "run", "-d", "--name", "web", "-p", &publish, IMAGE, "sleep", "60",
    ]);
    let table = env.ok(&["ps"]);
    let line = table
        .stdout_lines()
        .into_iter()
        .find(|l| l.ends_with("web"))
        .unwrap_or_else(|| panic!("no web in {table}"))
        .to_string();
    // docker: "Up 2 seconds", "Up Less than a second".
    assert!(
        line.contains("Up Less than a second") || line.contains(" second"),
        "{line}"
    );
    assert!(line.contains("->80/tcp"), "{line}");
    env.ok(&["stop", "-t", "1", "web"]);
    env.run(&[
        "run",
        "--network",
        "none",
        "--name",
        "failed",
        IMAGE,
        "sh",
        "-c",
        "exit 3",
    ]);
    let table = env.ok(&["ps", "-a"]);
    let web = table
        .stdout_lines()
        .into_iter()
        .find(|l| l.ends_with("web"))
        .unwrap_or_else(|| panic!("no web in {table}"))
        .to_string();
    assert!(web.contains("Exited ("), "{web}");
    assert!(
        !web.contains("->80/tcp"),
        "a stopped container shows no ports: {web}"
    );
    let failed = table
        .stdout_lines()
        .into_iter()
        .find(|l| l.ends_with("failed"))
        .unwrap_or_else(|| panic!("no failed in {table}"))
        .to_string();
    assert!(failed.contains("Exited (3) "), "{failed}");
    assert!(
        failed.contains("second") && failed.contains(" ago"),
        "{failed}"
    );
}

#[test]
fn ps_names_the_default_network_bridge_as_docker_does() {
    let Some(env) = env_with_image("ps_names_the_default_network_bridge_as_docker_does") else {
        return;
    };
    env.ok(&["create", "--name", "dflt", IMAGE, "true"]);
    env.ok(&[
        "create",
        "--name",
        "onhost",
        "--network",
        "host",
        IMAGE,
        "true",
    ]);
    env.ok(&[
        "create",
        "--name",
        "nonet",
        "--network",
        "none",
        IMAGE,
        "true",
    ]);
    let out = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Networks}}"]);
    assert_eq!(
        out.stdout_lines(),
        ["nonet none", "onhost host", "dflt bridge"],
        "{out}"
    );
    let out = env.ok(&["ps", "-a", "--format", "json"]);
    let v = common::json_lines(&out.stdout);
    let nets: Vec<&str> = v
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["Networks"].as_str())
        .collect();
    assert_eq!(nets, ["none", "host", "bridge"], "{out}");
    let table = env.ok(&["ps", "-a"]);
    let header = &table.stdout_lines()[0];
    assert!(
        !header.contains("NETWORKS"),
        "docker's table has no such column: {table}"
    );
    let out = env.ok(&["ps", "-a", "--format", "table {{.Names}}\t{{.Networks}}"]);
    assert!(out.stdout_lines()[0].contains("NETWORKS"), "{out}");
    assert!(out.stdout.contains("bridge"), "{out}");
}
