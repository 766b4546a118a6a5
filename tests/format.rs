//! `--format` with Go templates over docker's field names, as scripts
//! written for docker use them: `ps`, `images`, `inspect` of containers
//! and images, `version`, `info`; `table` lines up columns under titles.

mod common;

use common::fixtures::{busybox_rootfs, ImageSpec, LayerBuilder};
use common::{TestEnv, TestUser};
use serde_json::json;

const IMAGE: &str = "localhost/fmt:1.0";

fn env_with_image(test: &str) -> Option<TestEnv> {
    let config = json!({
        "Env": ["PATH=/bin", "MODE=test"],
        "Cmd": ["sh", "-c", "echo hi"],
        "Labels": {"tier": "web", "Owner": "ops"},
    });
    common::env_with_busybox(test, TestUser::Any, IMAGE, config)
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
    // json is docker's: one object a line, not an array.
    let out = env.ok(&["ps", "-a", "--format", "json"]);
    let v = common::json_lines(&out.stdout);
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{out}");
    env.ok(&["rm", "-f", "up", "done"]);
}

#[test]
fn every_placeholder_docker_documents_for_images_and_ps_is_filled() {
    let Some(env) =
        env_with_image("every_placeholder_docker_documents_for_images_and_ps_is_filled")
    else {
        return;
    };
    // A second name for the image and a second image sharing its layer.
    env.ok(&["tag", IMAGE, "localhost/fmt:two"]);
    let mut other = ImageSpec::new(
        &["localhost/other:1"],
        vec![
            busybox_rootfs().finish(),
            LayerBuilder::new()
                .file("extra", 0o644, vec![b'x'; 5000])
                .finish(),
        ],
    );
    other.run_config = json!({"Cmd": ["sh"]});
    let (path, _) = env.docker_archive("other.tar", &[other]);
    env.give(&path);
    env.load(&path);
    let id = env.inspect(IMAGE)["Id"].as_str().expect("id").to_string();
    let out = env.ok(&[
        "images",
        "--format",
        "{{.ID}}|{{.Repository}}|{{.Tag}}|{{.Digest}}|{{.CreatedSince}}|{{.CreatedAt}}|{{.Size}}|\
         {{.VirtualSize}}|{{.SharedSize}}|{{.UniqueSize}}|{{.Containers}}",
    ]);
    let rows: Vec<Vec<&str>> = out
        .stdout_lines()
        .iter()
        .map(|l| l.split('|').collect())
        .collect();
    let row = |repo: &str, tag: &str| {
        rows.iter()
            .find(|r| r[1] == repo && r[2] == tag)
            .unwrap_or_else(|| panic!("no {repo}:{tag} in {out}"))
            .clone()
    };
    let fmt = row("localhost/fmt", "1.0");
    assert_eq!(fmt[0], &id["sha256:".len()..][..12]);
    assert_eq!(fmt[3], "<none>", "loaded, not pulled: no digest");
    assert!(fmt[4].ends_with(" ago"), "{fmt:?}");
    assert_eq!(fmt[5], "2024-01-02 03:04:05 +0000 UTC");
    assert!(fmt[6].ends_with("MB") || fmt[6].ends_with("kB"), "{fmt:?}");
    assert_eq!(fmt[6], fmt[7], "VirtualSize is Size");
    // The busybox layer is the other image's too: all of it shared.
    assert_eq!(fmt[8], fmt[6], "{fmt:?}");
    assert_eq!(fmt[9], "0B", "{fmt:?}");
    assert_eq!(fmt[10], "0", "{fmt:?}");
    let two = row("localhost/fmt", "two");
    assert_eq!(
        (two[0], &two[3..]),
        (fmt[0], &fmt[3..]),
        "one image, two names"
    );
    // The other image has a layer of its own: its unique size.
    let other = row("localhost/other", "1");
    assert_eq!(other[8], fmt[6], "{other:?}");
    assert!(
        other[9].ends_with("kB") && !other[9].contains(' '),
        "docker's shape, no space: {other:?}"
    );

    // ps: each placeholder, with a label, a bind, a volume and --size.
    let bind = env.work.join("b");
    std::fs::create_dir(&bind).unwrap();
    env.give(&bind);
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "web",
        "--label",
        "tier=front",
        "-v",
        &format!("{}:/b", common::path_str(&bind)),
        "-v",
        "psvol:/v",
        IMAGE,
        "sh",
        "-c",
        "echo 12345 > /f; sleep 60",
    ]);
    common::wait_for(
        std::time::Duration::from_secs(30),
        "web to write /f",
        || env.run(&["exec", "web", "sh", "-c", "test -e /f"]).code() == Some(0),
    );
    let images = env.ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.Containers}}",
    ]);
    assert!(images.stdout.contains("localhost/fmt:1.0 1\n"), "{images}");
    let out = env.ok(&[
        "ps",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.Image}}|{{.Command}}|{{.CreatedAt}}|{{.RunningFor}}|{{.Ports}}|{{.State}}|\
         {{.Status}}|{{.Size}}|{{.Names}}|{{.Labels}}|{{.Label \"tier\"}}|{{.Mounts}}|{{.Networks}}",
    ]);
    let f: Vec<&str> = out.stdout.trim_end().split('|').collect();
    assert_eq!(f.len(), 14, "{out}");
    assert!(common::is_hex64(f[0]), "{out}");
    assert_eq!(f[1], IMAGE);
    assert_eq!(f[2], "\"sh -c echo 12345 > /f; sleep 60\"");
    assert!(f[3].ends_with(" +0000 UTC"), "{out}");
    assert!(f[4].ends_with(" ago"), "{out}");
    assert_eq!(f[5], "", "no published ports");
    assert_eq!(f[6], "running");
    assert!(f[7].starts_with("Up "), "{out}");
    // The template shows .Size: computed as with --size.
    assert!(f[8].starts_with("6B (virtual "), "{out}");
    assert_eq!(f[9], "web");
    assert!(f[10].contains("tier=front"), "{out}");
    assert_eq!(f[11], "front");
    assert_eq!(f[12], format!("{},psvol", common::path_str(&bind)));
    assert_eq!(f[13], "none");
    let sized = env.ok(&["ps", "--size"]);
    assert!(sized.stdout_lines()[0].ends_with("SIZE"), "{sized}");
    assert!(sized.stdout.contains("6B (virtual "), "{sized}");
    env.ok(&["rm", "-f", "web"]);
}

/// Each object of a list command's `--format json`, one a line (docker's
/// JSON Lines), with the keys it must have; returns the objects.
fn json_lines_with(
    env: &TestEnv,
    args: &[&str],
    n: usize,
    keys: &[&str],
) -> Vec<serde_json::Value> {
    let out = env.ok(args);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), n, "{args:?}: one line an object\n{out}");
    let mut objects = Vec::new();
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{args:?}: a line is not JSON: {e}\n{out}"));
        for k in keys {
            assert!(v.get(k).is_some(), "{args:?}: no {k} in {line}");
        }
        objects.push(v);
    }
    objects
}

/// The keys of `v` in order, and that every value is a string, as in
/// docker's `{{json .}}` of its list contexts.
fn string_keys(v: &serde_json::Value) -> Vec<&str> {
    let o = v.as_object().expect("an object");
    for (k, x) in o {
        assert!(x.is_string(), "{k} is a string, as docker's: {v}");
    }
    let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn list_commands_print_one_json_object_a_line() {
    let Some(env) = env_with_image("list_commands_print_one_json_object_a_line") else {
        return;
    };
    env.ok(&["volume", "create", "va"]);
    env.ok(&["volume", "create", "vb"]);
    env.ok(&["network", "create", "na"]);
    env.ok(&["tag", IMAGE, "localhost/fmt:2.0"]);
    env.ok(&["create", "--network", "none", "--name", "c1", IMAGE]);
    env.ok(&["create", "--network", "none", "--name", "c2", IMAGE]);
    let vol_keys = [
        "Availability",
        "Driver",
        "Group",
        "Labels",
        "Links",
        "Mountpoint",
        "Name",
        "Scope",
        "Size",
        "Status",
    ];
    for v in json_lines_with(&env, &["volume", "ls", "--format", "json"], 2, &[]) {
        assert_eq!(string_keys(&v), vol_keys, "docker volume ls's keys: {v}");
    }
    let nets = env.ok(&["network", "ls", "-q"]).stdout.lines().count();
    assert!(nets >= 1, "na is listed");
    let net_keys = [
        "CreatedAt",
        "Driver",
        "ID",
        "IPv4",
        "IPv6",
        "Internal",
        "Labels",
        "Name",
        "Scope",
    ];
    for n in json_lines_with(&env, &["network", "ls", "--format", "json"], nets, &[]) {
        assert_eq!(string_keys(&n), net_keys, "docker network ls's keys: {n}");
        if n["Name"] == "na" {
            assert_eq!(
                (&n["Internal"], &n["IPv4"]),
                (&json!("false"), &json!("true"))
            );
        }
    }
    let ps = json_lines_with(&env, &["ps", "-a", "--format", "json"], 2, &[]);
    for c in &ps {
        assert_eq!(
            string_keys(c),
            [
                "Command",
                "CreatedAt",
                "HealthStatus",
                "ID",
                "Image",
                "Labels",
                "LocalVolumes",
                "Mounts",
                "Names",
                "Networks",
                "Ports",
                "RunningFor",
                "Size",
                "State",
                "Status"
            ],
            "docker ps's keys: {c}"
        );
        assert_eq!(c["Size"], "0B", "not counted unless asked: {c}");
        assert_eq!(c["State"], "created", "{c}");
        assert_eq!(c["Status"], "Created", "{c}");
        assert_eq!(c["Networks"], "none", "{c}");
    }
    // One string of names, newest first, as the templates show them.
    let names: Vec<&str> = ps.iter().filter_map(|c| c["Names"].as_str()).collect();
    assert_eq!(names, ["c2", "c1"]);
    let ids = env.ok(&["ps", "-a", "--format", "{{.ID}}"]);
    let json_ids: Vec<&str> = ps.iter().filter_map(|c| c["ID"].as_str()).collect();
    assert_eq!(ids.stdout_lines(), json_ids, "{ids}");
    let images = json_lines_with(&env, &["images", "--format", "json"], 2, &[]);
    for i in &images {
        assert_eq!(
            string_keys(i),
            [
                "Containers",
                "CreatedAt",
                "CreatedSince",
                "Digest",
                "ID",
                "Repository",
                "SharedSize",
                "Size",
                "Tag",
                "UniqueSize",
                "VirtualSize"
            ],
            "docker images's keys: {i}"
        );
    }
    let tags: Vec<&str> = images.iter().filter_map(|i| i["Tag"].as_str()).collect();
    assert!(
        tags.contains(&"1.0") && tags.contains(&"2.0"),
        "a line a tag: {images:?}"
    );
    let hist = ["ID", "CreatedBy", "Size", "Comment"];
    let steps = env.ok(&["history", "-q", IMAGE]).stdout.lines().count();
    for h in json_lines_with(&env, &["history", "--format", "json", IMAGE], steps, &hist) {
        assert_eq!(
            string_keys(&h),
            [
                "Comment",
                "CreatedAt",
                "CreatedBy",
                "CreatedSince",
                "ID",
                "Size"
            ],
            "docker history's keys: {h}"
        );
        // RFC 3339 to the second, as docker's history shows it.
        assert_eq!(h["CreatedAt"], "2024-01-02T03:04:05Z", "{h}");
    }
    let df = ["Type", "TotalCount", "Size", "Reclaimable"];
    json_lines_with(&env, &["system", "df", "--format", "json"], 4, &df);
    // inspect alone stays one array.
    let out = env.ok(&["inspect", "c1", "c2"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("inspect json");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{out}");
}
