//! `--format` with Go templates over docker's field names, as scripts
//! written for docker use them: `ps`, `images`, `inspect` of containers
//! and images, `version`, `info`; `table` lines up columns under titles.

mod common;

use common::fixtures::{busybox_rootfs, ImageSpec};
use common::{TestEnv, TestUser};
use serde_json::json;

const IMAGE: &str = "localhost/fmt:1.0";

fn env_with_image(test: &str) -> Option<TestEnv> {
    let env = TestEnv::new(test, TestUser::Any)?;
    let mut image = ImageSpec::new(&[IMAGE], vec![busybox_rootfs().finish()]);
    image.run_config = json!({
        "Env": ["PATH=/bin", "MODE=test"],
        "Cmd": ["sh", "-c", "echo hi"],
        "Labels": {"tier": "web", "Owner": "ops"},
    });
    let (path, _) = env.docker_archive("fmt.tar", &[image]);
    env.give(&path);
    env.load(&path);
    Some(env)
}

#[test]
fn templates_read_containers_and_images_by_dockers_field_names() {
    let Some(env) = env_with_image("templates_read_containers_and_images_by_dockers_field_names")
    else {
        return;
    };
    env.ok(&["run", "--network", "none", "--name", "done", IMAGE, "true"]);
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "up",
        IMAGE,
        "sleep",
        "60",
    ]);

    let out = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(out.stdout, "up running\ndone exited\n", "{out}");
    let out = env.ok(&["ps", "--format", "{{.Status}}|{{lower .Names}}"]);
    assert!(out.stdout.starts_with("Up "), "{out}");
    assert!(out.stdout.ends_with("|up\n"), "{out}");

    // A table: a title line from the same template, columns at tabs
    // (typed as backslash-t, as in a shell script's single quotes).
    let out = env.ok(&["ps", "-a", "--format", r"table {{.Names}}\t{{.Image}}"]);
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], format!("{:<20}IMAGE", "NAMES"), "{out}");
    assert_eq!(lines[1], format!("{:<20}{IMAGE}", "up"), "{out}");

    let out = env.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.Name}}",
        "up",
        "done",
    ]);
    assert_eq!(out.stdout, "running up\nexited done\n", "{out}");
    let out = env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "done"]);
    assert_eq!(out.stdout, "0\n", "{out}");
    let out = env.ok(&["inspect", "-f", "{{json .Config.Cmd}}", "up"]);
    assert_eq!(out.stdout, "[\"sleep\",\"60\"]\n", "{out}");

    // An image: json, range over a map (sorted keys, as Go's), index,
    // join, and the slice printed as Go prints one.
    let out = env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        IMAGE,
    ]);
    let labels: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert_eq!(labels, json!({"tier": "web", "Owner": "ops"}), "{out}");
    let out = env.ok(&[
        "inspect",
        "--type",
        "image",
        "--format",
        r#"{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}{{index .Config.Labels "tier"}} {{join .Config.Env ","}} {{.Config.Cmd}}"#,
        IMAGE,
    ]);
    assert_eq!(
        out.stdout, "Owner=ops tier=web web PATH=/bin,MODE=test [sh -c echo hi]\n",
        "{out}"
    );

    let out = env.ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}} {{upper .Tag}}",
    ]);
    assert_eq!(out.stdout, "localhost/fmt:1.0 1.0\n", "{out}");
    let out = env.ok(&["images", "--format", r"table {{.Repository}}\t{{.Tag}}"]);
    assert_eq!(
        out.stdout_lines(),
        [
            format!("{:<20}TAG", "REPOSITORY"),
            format!("{:<20}1.0", "localhost/fmt")
        ],
        "{out}"
    );

    let out = env.ok(&["version", "--format", "{{.Client.Version}}"]);
    assert_eq!(out.stdout.trim(), env!("CARGO_PKG_VERSION"), "{out}");
    let out = env.ok(&["info", "--format", "{{json .}}"]);
    assert!(
        serde_json::from_str::<serde_json::Value>(&out.stdout).is_ok(),
        "{out}"
    );

    // A broken template is the tool's own failure, said before any work.
    let out = env.run(&["ps", "--format", "{{.Names"]);
    assert_eq!(out.code(), Some(common::EXIT_FAILURE), "{out}");
    assert!(out.stderr.contains("template"), "{out}");
    // json stays what it was: an array of objects.
    let out = env.ok(&["ps", "-a", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("ps json");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{out}");
    env.ok(&["rm", "-f", "up", "done"]);
}
