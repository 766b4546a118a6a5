//! The smaller verbs docker scripts use: `image exists`, `container
//! exists`, `history`, `container prune`, `system df`, `system prune`.

mod common;

use common::{TestEnv, TestUser};
use serde_json::json;

const IMAGE: &str = "localhost/verbs:1";

fn env_with_image(test: &str) -> Option<TestEnv> {
    common::env_with_busybox(test, TestUser::Any, IMAGE, common::plain_config())
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
        out.stdout, "Images 1 1\nContainers 2 1\nLocal Volumes 0 0\nBuild Cache 0 0\n",
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
        out.stdout, "Images 0\nContainers 0\nLocal Volumes 0\nBuild Cache 0\n",
        "{out}"
    );
}

#[test]
fn prune_filters_until_and_label_choose_what_goes() {
    let Some(env) = env_with_image("prune_filters_until_and_label_choose_what_goes") else {
        return;
    };
    let create = |name: &str, label: Option<&str>| {
        let mut args = vec!["create", "--network", "none", "--name", name];
        if let Some(l) = label {
            args.extend(["--label", l]);
        }
        args.extend([IMAGE, "true"]);
        env.ok(&args);
    };
    let exists = |name: &str| env.run(&["container", "exists", name]).code() == Some(0);
    create("old", None);
    create("old-kept", Some("keep=yes"));
    let created = |name: &str| {
        env.ok(&["inspect", "-f", "{{.Created}}", name])
            .stdout
            .trim()
            .to_string()
    };
    create("new", None);
    // Created before `new`, and without keep: only `old` goes.
    let until = created("new");
    let out = env.ok(&[
        "container",
        "prune",
        "-f",
        "--filter",
        &format!("until={until}"),
        "--filter",
        "label!=keep",
    ]);
    assert!(out.stdout.contains("Deleted Containers:"), "{out}");
    assert!(
        !exists("old") && exists("old-kept") && exists("new"),
        "{out}"
    );
    // A label filter: only what carries it.
    env.ok(&["container", "prune", "-f", "--filter", "label=keep=yes"]);
    assert!(!exists("old-kept") && exists("new"));
    // A duration: nothing here is an hour old.
    env.ok(&["container", "prune", "-f", "--filter", "until=1h"]);
    assert!(exists("new"));
    env.ok(&["system", "prune", "-f", "--filter", "until=1h"]);
    assert!(exists("new"));
    env.ok(&["system", "prune", "-f", "--filter", "until=0s"]);
    assert!(
        !exists("new"),
        "system prune takes until= as container prune does"
    );
    let bad = env.fails(&["container", "prune", "--filter", "until=soon"]);
    assert!(bad.error_line().contains("until"), "{bad}");
    let bad = env.fails(&["image", "prune", "--filter", "dangling=x"]);
    assert!(bad.error_line().contains("invalid filter"), "{bad}");

    // Images: by their config's labels and creation time.
    env.load_busybox(
        "localhost/labelled:1",
        &[],
        json!({"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": {"stage": "tmp"}}),
    );
    let images = || -> Vec<String> {
        env.ok(&["images", "--format", "{{.Repository}}"])
            .stdout_lines()
            .iter()
            .map(|l| l.to_string())
            .collect()
    };
    // The fixtures' images were made in 2024: an earlier time keeps both.
    env.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=1970-01-02T00:00:00Z",
    ]);
    assert_eq!(images().len(), 2, "{:?}", images());
    env.ok(&["image", "prune", "-a", "-f", "--filter", "label=stage=tmp"]);
    assert_eq!(images(), [IMAGE.split(':').next().unwrap()]);
    env.ok(&["image", "prune", "-a", "-f", "--filter", "label!=stage"]);
    assert!(images().is_empty());

    // Volumes take labels (label!= too), as docker's volume prune does.
    env.ok(&["volume", "create", "--label", "keep=1", "v-kept"]);
    env.ok(&["volume", "create", "v-gone"]);
    env.ok(&["volume", "prune", "-a", "-f", "--filter", "label!=keep"]);
    let vols = env.ok(&["volume", "ls", "-q"]).stdout;
    assert_eq!(vols, "v-kept\n");
    let bad = env.run(&["volume", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
}

/// `system df`'s sizes as `N B` / `N kB`... back to bytes (decimal units).
fn bytes(human: &str) -> u64 {
    let human = human.split(" (").next().unwrap_or(human).trim();
    let (num, unit) = human.split_at(
        human
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(human.len()),
    );
    let mult = match unit.trim() {
        "B" | "" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => panic!("unit {other:?} in {human:?}"),
    };
    (num.parse::<f64>().unwrap_or_else(|_| panic!("{human:?}")) * mult) as u64
}

#[test]
fn system_df_counts_writable_layers_and_the_build_cache_and_v_lists_each() {
    let Some(env) =
        env_with_image("system_df_counts_writable_layers_and_the_build_cache_and_v_lists_each")
    else {
        return;
    };
    let df = |field: &str| -> Vec<(String, String)> {
        env.ok(&[
            "system",
            "df",
            "--format",
            &format!("{{{{.Type}}}}|{{{{{field}}}}}"),
        ])
        .stdout_lines()
        .iter()
        .map(|l| {
            let (t, v) = l.split_once('|').expect("type|value");
            (t.to_string(), v.to_string())
        })
        .collect()
    };
    let of = |rows: &[(String, String)], t: &str| {
        rows.iter()
            .find(|(k, _)| k == t)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {t} in {rows:?}"))
    };
    // 300 kB in a stopped container's writable layer, in a directory its
    // root closes to others (only the user namespace can count it).
    env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "writer",
        IMAGE,
        "sh",
        "-c",
        "mkdir -m 700 /closed && busybox dd if=/dev/zero of=/closed/f bs=1000 count=300",
    ]);
    let size = bytes(&of(&df(".Size"), "Containers"));
    assert!((300_000..400_000).contains(&size), "containers: {size}");
    let free = of(&df(".Reclaimable"), "Containers");
    assert!(
        free.ends_with("(100%)"),
        "a stopped container is reclaimable: {free}"
    );
    let images = of(&df(".Size"), "Images");
    assert!(bytes(&images) > 100_000, "busybox's layer: {images}");
    assert_eq!(of(&df(".Size"), "Build Cache"), "0B");

    // A build's step cache counts as build cache.
    let ctx = env.work.join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Containerfile"),
        format!(
            "FROM {IMAGE}\nRUN busybox dd if=/dev/zero of=/f bs=1000 count=50\nRUN echo two > /g\n"
        ),
    )
    .unwrap();
    env.give(&ctx);
    env.give(&ctx.join("Containerfile"));
    env.ok(&[
        "build",
        "-q",
        "-t",
        "localhost/built:1",
        common::path_str(&ctx),
    ]);
    env.ok(&["rmi", "localhost/built:1"]);
    let cache = bytes(&of(&df(".Size"), "Build Cache"));
    assert!(cache >= 50_000, "the cached steps' layers: {cache}");

    // -v: each image, container and volume with its size.
    env.ok(&["volume", "create", "dfvol"]);
    let out = env.ok(&["system", "df", "-v"]);
    let text = &out.stdout;
    for section in [
        "Images space usage:",
        "Containers space usage:",
        "Local Volumes space usage:",
        "Build cache usage:",
    ] {
        assert!(text.contains(section), "{section}: {out}");
    }
    for header in [
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
        "LOCAL VOLUMES",
        "LINKS",
    ] {
        assert!(text.contains(header), "{header}: {out}");
    }
    let writer = text
        .lines()
        .find(|l| l.ends_with("writer"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(writer.contains("300kB"), "{writer}");
    assert!(text.lines().any(|l| l.starts_with("dfvol ")), "{out}");
    let bad = env.fails(&["system", "df", "-v", "--format", "json"]);
    assert!(bad.error_line().contains("-v"), "{bad}");
}

#[test]
fn image_tree_shows_the_layers_base_first_and_the_images_each_tops() {
    let Some(env) =
        env_with_image("image_tree_shows_the_layers_base_first_and_the_images_each_tops")
    else {
        return;
    };
    use common::fixtures::{busybox_rootfs, ImageSpec, LayerBuilder};
    let base = busybox_rootfs().finish();
    let mut other = ImageSpec::new(
        &["localhost/other:1"],
        vec![
            base.clone(),
            LayerBuilder::new()
                .file("extra", 0o644, vec![b'x'; 3000])
                .finish(),
        ],
    );
    other.run_config = common::plain_config();
    let diff_ids = other.diff_ids();
    let (path, _) = env.docker_archive("other.tar", &[other]);
    env.give(&path);
    env.load(&path);
    let id = env.inspect("localhost/other:1")["Id"]
        .as_str()
        .expect("id")
        .to_string();
    let short = |d: &str| d.strip_prefix("sha256:").unwrap_or(d)[..12].to_string();
    let out = env.ok(&["image", "tree", "localhost/other:1"]);
    let lines = out.stdout_lines();
    assert_eq!(lines[0], format!("Image ID: {}", short(&id)), "{out}");
    assert_eq!(lines[1], "Tags:     [localhost/other:1]", "{out}");
    assert!(lines[2].starts_with("Size:     "), "{out}");
    assert_eq!(lines[3], "Image Layers", "{out}");
    assert!(
        lines[4].starts_with(&format!("├── ID: {} Size: ", short(&diff_ids[0])))
            && lines[4].ends_with(&format!("Top Layer of: [{IMAGE}]")),
        "the base is the other image's top layer: {out}"
    );
    assert_eq!(
        lines[5].trim_start_matches('│').trim(),
        "fixture layer 0",
        "{out}"
    );
    assert!(
        lines[6].starts_with(&format!("└── ID: {} Size: ", short(&diff_ids[1])))
            && lines[6].ends_with("kB Top Layer of: [localhost/other:1]")
            && !lines[6].contains(" kB"),
        "{out}"
    );
    assert_eq!(lines[7].trim(), "fixture layer 1", "{out}");
    let missing = env.run(&["image", "tree", "localhost/nope:1"]);
    assert_ne!(missing.code(), Some(0), "{missing}");
}
