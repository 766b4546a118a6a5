//! Health checks run by the container's supervisor: the image's
//! HEALTHCHECK and `--health-*`, the state in `inspect` and `ps`,
//! `healthcheck run`, and `--health-on-failure`. Every wait polls for a
//! state with a generous bound; nothing asserts on timing.

mod common;

use common::{TestEnv, TestUser};
use serde_json::{json, Value};
use std::time::Duration;

const IMAGE: &str = "localhost/health:1";

fn env_with_image(test: &str) -> Option<TestEnv> {
    let config = json!({
        "Env": ["PATH=/bin"],
        "Cmd": ["sh"],
        // Healthy once /tmp/ready exists; checked every 200 ms.
        "Healthcheck": {"Test": ["CMD-SHELL", "test -e /tmp/ready && echo ok"], "Interval": 200_000_000u64, "Retries": 1000},
    });
    common::env_with_busybox(test, TestUser::Any, IMAGE, config)
}

fn state(env: &TestEnv, name: &str) -> Value {
    let out = env.ok(&["inspect", "--format", "{{json .State}}", name]);
    serde_json::from_str(out.stdout.trim()).expect("state json")
}

/// Polls `inspect` until `pred` holds (at most a minute).
fn wait_for(env: &TestEnv, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    common::wait_for(
        Duration::from_secs(60),
        &format!("{name} to get {what}"),
        || {
            let s = state(env, name);
            if pred(&s) {
                Ok(s)
            } else {
                Err(format!("{s:#}"))
            }
        },
    )
}

fn health(s: &Value) -> &str {
    s["Health"]["Status"].as_str().unwrap_or_default()
}

#[test]
fn the_images_check_turns_the_container_healthy() {
    let Some(env) = env_with_image("the_images_check_turns_the_container_healthy") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "web",
        IMAGE,
        "sleep",
        "120",
    ]);
    // Not ready yet: the check fails, within its retries it is starting.
    let s = wait_for(&env, "web", "a failed check", |s| {
        s["Health"]["Log"].as_array().is_some_and(|l| !l.is_empty())
    });
    assert_eq!(health(&s), "starting", "{s:#}");
    let ps = env.ok(&["ps", "--format", "{{.Status}}"]);
    assert!(ps.stdout.contains("(health: starting)"), "{ps}");
    let out = env.run(&["healthcheck", "run", "web"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(out.stdout, "starting\n", "{out}");

    env.ok(&["exec", "web", "touch", "/tmp/ready"]);
    let s = wait_for(&env, "web", "healthy", |s| health(s) == "healthy");
    assert_eq!(s["Health"]["FailingStreak"], 0, "{s:#}");
    let last = s["Health"]["Log"]
        .as_array()
        .and_then(|l| l.last())
        .cloned();
    let last = last.expect("a result");
    assert_eq!(last["ExitCode"], 0, "{s:#}");
    assert_eq!(last["Output"], "ok\n", "{s:#}");
    assert!(
        last["Start"].as_str().is_some_and(|t| !t.is_empty()),
        "{s:#}"
    );
    assert!(last["End"].as_str().is_some_and(|t| !t.is_empty()), "{s:#}");
    assert!(
        s["Health"]["Log"].as_array().is_some_and(|l| l.len() <= 5),
        "{s:#}"
    );
    let ps = env.ok(&["ps"]);
    assert!(ps.stdout.contains("(healthy)"), "{ps}");
    let out = env.ok(&["healthcheck", "run", "web"]);
    assert_eq!(out.stdout, "healthy\n", "{out}");

    // --no-healthcheck: the image's check never runs.
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "plain",
        "--no-healthcheck",
        IMAGE,
        "sleep",
        "120",
    ]);
    assert!(state(&env, "plain")["Health"].is_null());
    let out = env.run(&["healthcheck", "run", "plain"]);
    assert_eq!(out.code(), Some(125), "{out}");
    env.ok(&["rm", "-f", "web", "plain"]);
}

#[test]
fn a_failing_check_turns_the_container_unhealthy_after_its_retries() {
    let Some(env) =
        env_with_image("a_failing_check_turns_the_container_unhealthy_after_its_retries")
    else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "sick",
        "--health-cmd",
        "echo bad; exit 3",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        IMAGE,
        "sleep",
        "120",
    ]);
    let s = wait_for(&env, "sick", "unhealthy", |s| health(s) == "unhealthy");
    assert!(s["Health"]["FailingStreak"].as_u64() >= Some(2), "{s:#}");
    let last = &s["Health"]["Log"][0];
    assert_eq!(last["ExitCode"], 3, "{s:#}");
    assert_eq!(last["Output"], "bad\n", "{s:#}");
    // Unhealthy is only a state: it keeps running.
    assert_eq!(s["Status"], "running", "{s:#}");
    let ps = env.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.stdout.contains("(unhealthy)"), "{ps}");
    let out = env.run(&["healthcheck", "run", "sick"]);
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (Some(1), "unhealthy\n"),
        "{out}"
    );
    env.ok(&["rm", "-f", "sick"]);
}

#[test]
fn health_on_failure_kills_or_restarts_the_container() {
    let Some(env) = env_with_image("health_on_failure_kills_or_restarts_the_container") else {
        return;
    };
    for (name, action) in [("killed", "kill"), ("restarted", "restart")] {
        env.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--health-cmd",
            "false",
            "--health-interval",
            "200ms",
            "--health-retries",
            "1",
            "--health-on-failure",
            action,
            IMAGE,
            "sleep",
            "120",
        ]);
    }
    let s = wait_for(&env, "killed", "exited", |s| s["Status"] == "exited");
    assert_eq!(s["ExitCode"], 137, "{s:#}");

    let first = state(&env, "restarted")["StartedAt"].clone();
    let s = wait_for(&env, "restarted", "a restart", |s| {
        s["Status"] == "running" && s["StartedAt"] != first
    });
    // A restarted container starts its checks again.
    assert_ne!(health(&s), "", "{s:#}");
    env.ok(&["rm", "-f", "killed", "restarted"]);
}

/// `--health-start-interval`: in the start period, while the container is
/// starting, checks come at the start interval; once healthy, at the
/// interval (an hour here, so none comes after).
#[test]
fn the_start_interval_paces_checks_until_the_container_is_healthy() {
    let Some(env) =
        env_with_image("the_start_interval_paces_checks_until_the_container_is_healthy")
    else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "slow",
        "--health-cmd",
        "echo x >> /tmp/n; [ $(wc -l < /tmp/n) -ge 3 ]",
        "--health-interval",
        "1h",
        "--health-start-period",
        "1h",
        "--health-start-interval",
        "200ms",
        IMAGE,
        "sleep",
        "120",
    ]);
    // Three checks, none an hour apart: the third succeeds.
    let s = wait_for(&env, "slow", "healthy", |s| health(s) == "healthy");
    assert_eq!(s["Health"]["FailingStreak"], 0, "{s:#}");
    let checks = || {
        env.ok(&["exec", "slow", "sh", "-c", "cat /tmp/n"])
            .stdout
            .lines()
            .count()
    };
    assert_eq!(checks(), 3);
    // Healthy: the next check is an hour away, not 200 ms.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(checks(), 3);
    let config = env.ok(&[
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        "slow",
    ]);
    let config: Value = serde_json::from_str(config.stdout.trim()).unwrap();
    assert_eq!(config["StartInterval"], 200_000_000u64, "{config:#}");
    env.ok(&["rm", "-f", "slow"]);
}
