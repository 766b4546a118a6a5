//! `events`: the journal every burrow process appends to, read back with
//! `--since`, `--until`, `--filter` and `--format`, followed live, and
//! whole under concurrent writers.

mod common;

use common::fixtures::{busybox_rootfs, ImageSpec};
use common::{TestEnv, TestUser};
use serde_json::json;
use std::io::BufRead;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const IMAGE: &str = "localhost/events:1";

fn env_with_image(test: &str) -> Option<TestEnv> {
    let env = TestEnv::new(test, TestUser::Any)?;
    let mut image = ImageSpec::new(&[IMAGE], vec![busybox_rootfs().finish()]);
    image.run_config = json!({ "Env": ["PATH=/bin"], "Cmd": ["sh"] });
    let (path, _) = env.docker_archive("events.tar", &[image]);
    env.give(&path);
    env.load(&path);
    Some(env)
}

fn now() -> String {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

fn lines(env: &TestEnv, since: &str, extra: &[&str]) -> Vec<String> {
    let until = now();
    let mut args = vec!["events", "--since", since, "--until", &until];
    args.extend_from_slice(extra);
    env.ok(&args)
        .stdout_lines()
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn events_tell_what_happened_to_containers_and_images() {
    let Some(env) = env_with_image("events_tell_what_happened_to_containers_and_images") else {
        return;
    };
    let start = now();
    let out = env.run(&[
        "run",
        "--network",
        "none",
        "--name",
        "pa",
        IMAGE,
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.code(), Some(3), "{out}");
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "b",
        IMAGE,
        "sleep",
        "60",
    ]);
    env.ok(&["kill", "b"]);
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "c",
        IMAGE,
        "sleep",
        "60",
    ]);
    env.ok(&["stop", "-t", "0", "c"]);
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "h",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        IMAGE,
        "sleep",
        "60",
    ]);
    common::wait_for(Duration::from_secs(60), "h to turn healthy", || {
        let s = env.ok(&["inspect", "-f", "{{.State.Health.Status}}", "h"]);
        if s.stdout == "healthy\n" {
            Ok(())
        } else {
            Err(s.stdout)
        }
    });
    env.ok(&["tag", IMAGE, "localhost/other:2"]);
    env.ok(&["rmi", "localhost/other:2"]);
    env.ok(&["rm", "-f", "pa", "b", "c", "h"]);

    let all = lines(
        &env,
        &start,
        &[
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    for want in [
        "container create pa",
        "container start pa",
        "container die pa",
        "container kill b",
        "container stop c",
        "container health_status: healthy h",
        "image tag localhost/other:2",
        "image untag localhost/other:2",
        "container destroy pa",
    ] {
        assert!(all.iter().any(|l| l == want), "no {want:?} in {all:#?}");
    }
    let a = |action: &str| {
        all.iter()
            .position(|l| l == &format!("container {action} pa"))
    };
    assert!(
        a("create") < a("start") && a("start") < a("die") && a("die") < a("destroy"),
        "{all:#?}"
    );

    // Filters: one key's values are alternatives, keys all apply. The name
    // is not hex: `container=` also matches id prefixes, as docker's does,
    // and `a` would match any container whose id starts with it.
    let died = lines(
        &env,
        &start,
        &[
            "--filter",
            "event=die",
            "--filter",
            "container=pa",
            "--filter",
            "container=zz",
            "--format",
            "{{.Actor.Attributes.exitCode}}",
        ],
    );
    assert_eq!(died, ["3"]);
    // The default lines: time, type, action, id, attributes.
    let plain = lines(
        &env,
        &start,
        &["--filter", "event=die", "--filter", "container=pa"],
    );
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert!(
        plain[0].contains(" container die ") && plain[0].contains("exitCode=3"),
        "{plain:?}"
    );
    // Nothing before --since.
    assert!(lines(&env, &now(), &[]).is_empty());
}

#[test]
fn events_follow_new_ones_and_stay_whole_under_concurrent_writers() {
    let Some(env) =
        env_with_image("events_follow_new_ones_and_stay_whole_under_concurrent_writers")
    else {
        return;
    };
    let start = now();
    let mut follow = env
        .command(&[
            "events",
            "--since",
            &start,
            "--filter",
            "event=tag",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("events");
    let writers: Vec<_> = (0..8)
        .map(|i| {
            env.command(&["tag", IMAGE, &format!("localhost/many:{i}")])
                .spawn()
                .expect("tag")
        })
        .collect();
    for mut w in writers {
        assert!(w.wait().expect("tag").success());
    }
    // Followed: all eight arrive without --until.
    let mut seen = Vec::new();
    let mut out = std::io::BufReader::new(follow.stdout.take().expect("stdout"));
    while seen.len() < 8 {
        let mut line = String::new();
        if out.read_line(&mut line).expect("read") == 0 {
            break;
        }
        seen.push(line.trim().to_string());
    }
    let _ = follow.kill();
    let _ = follow.wait();
    seen.sort();
    let want: Vec<String> = (0..8).map(|i| format!("localhost/many:{i}")).collect();
    assert_eq!(seen, want);
    // Every line of the journal reads as one event.
    for l in lines(&env, &start, &["--format", "json"]) {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(v["Type"], "image", "{l}");
    }
}
