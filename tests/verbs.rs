//! The smaller verbs docker scripts use: `image exists`, `container
//! exists`, `history`, `container prune`, `system df`, `system prune`.

mod common;

use common::fixtures::{busybox_rootfs, ImageSpec};
use common::{TestEnv, TestUser};
use serde_json::json;

const IMAGE: &str = "localhost/verbs:1";

fn env_with_image(test: &str) -> Option<TestEnv> {
    let env = TestEnv::new(test, TestUser::Any)?;
    let mut image = ImageSpec::new(&[IMAGE], vec![busybox_rootfs().finish()]);
    image.run_config = json!({ "Env": ["PATH=/bin"], "Cmd": ["sh"] });
    let (path, _) = env.docker_archive("verbs.tar", &[image]);
    env.give(&path);
    env.load(&path);
    Some(env)
}

#[test]
fn exists_answers_with_the_exit_status() {
    let Some(env) = env_with_image("exists_answers_with_the_exit_status") else {
        return;
    };
    assert_eq!(env.run(&["image", "exists", IMAGE]).code(), Some(0));
    assert_eq!(
        env.run(&["image", "exists", "localhost/nope:1"]).code(),
        Some(1)
    );
    env.ok(&["run", "--network", "none", "--name", "here", IMAGE, "true"]);
    assert_eq!(env.run(&["container", "exists", "here"]).code(), Some(0));
    assert_eq!(env.run(&["container", "exists", "gone"]).code(), Some(1));
    env.ok(&["rm", "here"]);
    assert_eq!(env.run(&["container", "exists", "here"]).code(), Some(1));
}

#[test]
fn history_lists_the_steps_newest_first_with_the_id_on_top() {
    let Some(env) = env_with_image("history_lists_the_steps_newest_first_with_the_id_on_top")
    else {
        return;
    };
    let id = env.inspect(IMAGE)["Id"].as_str().expect("id").to_string();
    let out = env.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedBy}}",
        IMAGE,
    ]);
    let lines = out.stdout_lines();
    assert!(!lines.is_empty(), "{out}");
    assert!(lines[0].starts_with(&format!("{id}|")), "{out}");
    assert!(
        lines[1..].iter().all(|l| l.starts_with("<missing>|")),
        "{out}"
    );
    let out = env.ok(&["image", "history", IMAGE]);
    assert!(out.stdout.starts_with("IMAGE"), "{out}");
    assert!(
        out.stdout_lines()[1].starts_with(&id["sha256:".len()..][..12]),
        "{out}"
    );
}

#[test]
fn prune_removes_what_is_stopped_and_unused_and_df_counts_it() {
    let Some(env) = env_with_image("prune_removes_what_is_stopped_and_unused_and_df_counts_it")
    else {
        return;
    };
    env.ok(&["run", "--network", "none", "--name", "old", IMAGE, "true"]);
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "live",
        IMAGE,
        "sleep",
        "60",
    ]);
    let out = env.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert_eq!(
        out.stdout, "Images 1 1\nContainers 2 1\nLocal Volumes 0 0\n",
        "{out}"
    );
    let out = env.ok(&["container", "prune", "-f"]);
    assert!(out.stdout.starts_with("Deleted Containers:\n"), "{out}");
    assert_eq!(env.run(&["container", "exists", "old"]).code(), Some(1));
    assert_eq!(env.run(&["container", "exists", "live"]).code(), Some(0));
    // The image is in use: system prune -a keeps it while `live` exists.
    env.ok(&["system", "prune", "-a", "-f"]);
    assert_eq!(env.run(&["image", "exists", IMAGE]).code(), Some(0));
    env.ok(&["rm", "-f", "live"]);
    let out = env.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.stdout.contains("Deleted Images:"), "{out}");
    assert_eq!(env.run(&["image", "exists", IMAGE]).code(), Some(1));
    let out = env.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert_eq!(
        out.stdout, "Images 0\nContainers 0\nLocal Volumes 0\n",
        "{out}"
    );
}
