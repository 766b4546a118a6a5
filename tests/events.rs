//! `events`: the journal every burrow process appends to, read back with
//! `--since`, `--until`, `--filter` and `--format`, followed live, and
//! whole under concurrent writers.

mod common;

use common::fixtures::{self, busybox_rootfs, ImageSpec};
use common::registry::{RegImage, Registry, Security, Uploader};
use common::{TestEnv, TestUser};
use std::io::BufRead;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const IMAGE: &str = "localhost/events:1";

fn env_with_image(test: &str) -> Option<TestEnv> {
    common::env_with_busybox(test, TestUser::Any, IMAGE, common::plain_config())
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

/// Fails unless each of `wanted` is one of the journal's `lines`.
fn assert_has<S: AsRef<str>>(lines: &[String], wanted: &[S]) {
    for want in wanted {
        let want = want.as_ref();
        assert!(lines.iter().any(|l| l == want), "no {want:?} in {lines:#?}");
    }
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
    assert_has(
        &all,
        &[
            "container create pa",
            "container start pa",
            "container die pa",
            "container kill b",
            "container stop c",
            "container health_status: healthy h",
            "image tag localhost/other:2",
            "image untag localhost/other:2",
            "container destroy pa",
        ],
    );
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

/// docker's exec events: `exec_create` and `exec_start` with the command,
/// `exec_die` with its status, the three with one execID.
#[test]
fn exec_is_three_events_that_share_an_exec_id() {
    let Some(env) = env_with_image("exec_is_three_events_that_share_an_exec_id") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "ex",
        IMAGE,
        "sleep",
        "60",
    ]);
    let start = now();
    let out = env.run(&["exec", "ex", "sh", "-c", "exit 4"]);
    assert_eq!(out.code(), Some(4), "{out}");
    let of = |event: &str, format: &str| {
        let filter = format!("event={event}");
        lines(&env, &start, &["--filter", &filter, "--format", format])
    };
    let died = of(
        "exec_die",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.execID}}",
    );
    assert_eq!(died.len(), 1, "{died:?}");
    let id = died[0]
        .strip_prefix("exec_die ex 4 ")
        .expect("exec_die line");
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id:?}"
    );
    let format = "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.execID}}";
    assert_eq!(
        of("exec_create", format),
        [format!("exec_create: sh -c exit 4 ex {id}")]
    );
    assert_eq!(
        of("exec_start", format),
        [format!("exec_start: sh -c exit 4 ex {id}")]
    );
    env.ok(&["rm", "-f", "ex"]);
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

/// A busybox image for the registry whose `/stamp` says `stamp`: two
/// stamps, two images.
fn stamped(stamp: &str) -> RegImage {
    let layer = busybox_rootfs().file("stamp", 0o644, format!("{stamp}\n").as_bytes());
    let spec = ImageSpec::new(&["stamped:1"], vec![layer.finish()]);
    let mut spec = spec;
    spec.run_config = common::plain_config();
    RegImage::from_spec(&spec, fixtures::oci_arch())
}

#[test]
fn pull_untag_and_delete_are_events_and_pull_newer_pulls_only_a_changed_image() {
    let Some(env) = TestEnv::new(
        "pull_untag_and_delete_are_events_and_pull_newer_pulls_only_a_changed_image",
        TestUser::Any,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let first = stamped("first");
    Uploader::new(&reg).image("ev/app", "1", &first);
    let name = format!("{}/ev/app:1", reg.addr());
    let start = now();
    env.ok(&["pull", &name]);
    let pulls = |since: &str| {
        lines(
            &env,
            since,
            &[
                "--filter",
                "event=pull",
                "--format",
                "{{.Actor.ID}} {{.Actor.Attributes.name}}",
            ],
        )
    };
    assert_eq!(
        pulls(&start),
        [format!("sha256:{} {name}", first.id())],
        "one pull event, with the image's id and name"
    );

    // --pull newer with the registry's manifest unchanged: nothing pulled.
    let unchanged = now();
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pull",
        "newer",
        &name,
        "cat",
        "/stamp",
    ]);
    assert_eq!(out.stdout, "first\n", "{out}");
    assert!(
        pulls(&unchanged).is_empty(),
        "the same manifest is not pulled again"
    );
    // A new image under the same tag: pulled, and the new one runs.
    let second = stamped("second");
    Uploader::new(&reg).image("ev/app", "1", &second);
    let changed = now();
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pull",
        "newer",
        &name,
        "cat",
        "/stamp",
    ]);
    assert_eq!(out.stdout, "second\n", "{out}");
    assert_eq!(
        pulls(&changed),
        [format!("sha256:{} {name}", second.id())],
        "the changed manifest is pulled"
    );
    // The registry gone: the image here is used, with a warning.
    drop(reg);
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pull",
        "newer",
        &name,
        "cat",
        "/stamp",
    ]);
    assert_eq!(out.stdout, "second\n", "{out}");

    // The old image lost its name to the new one; prune deletes it. rmi of
    // the new one's last name untags and deletes it.
    let removal = now();
    env.ok(&["image", "prune", "-f"]);
    env.ok(&["rmi", &name]);
    let all = lines(
        &env,
        &removal,
        &[
            "--filter",
            "type=image",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ],
    );
    assert_has(
        &all,
        &[
            format!("delete sha256:{}", first.id()),
            format!("untag sha256:{}", second.id()),
            format!("delete sha256:{}", second.id()),
        ],
    );
}

#[test]
fn pause_unpause_and_an_oom_kill_are_events() {
    let Some(env) = env_with_image("pause_unpause_and_an_oom_kill_are_events") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "p",
        IMAGE,
        "sleep",
        "60",
    ]);
    let start = now();
    let paused = env.run(&["pause", "p"]);
    if paused.code() != Some(0) && paused.stderr.contains("without a cgroup") {
        env.ok(&["rm", "-f", "p"]);
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIP pause_unpause_and_an_oom_kill_are_events: containers here run without a \
              delegated cgroup v2 (pause and --memory need one); tests/vm/cgroup-checks.sh \
              checks these events in the VM\n",
        );
        return;
    }
    paused.assert_ok();
    env.ok(&["unpause", "p"]);
    env.ok(&["rm", "-f", "p"]);
    let out = env.run(&[
        "run",
        "--name",
        "hog",
        "--network",
        "none",
        "--memory",
        "16m",
        IMAGE,
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(out.code(), Some(137), "{out}");
    let all = lines(
        &env,
        &start,
        &["--format", "{{.Action}} {{.Actor.Attributes.name}}"],
    );
    let at = |want: &str| all.iter().position(|l| l == want);
    assert!(
        at("pause p") < at("unpause p") && at("pause p").is_some(),
        "{all:#?}"
    );
    assert!(
        at("oom hog").is_some() && at("oom hog") < at("die hog"),
        "{all:#?}"
    );
    env.ok(&["rm", "hog"]);
}
