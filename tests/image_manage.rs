//! Managing stored images: `images` (table, `-q`, `--digests`, JSON,
//! `--filter` and a repository argument),
//! `image inspect`, `tag`, `rmi` (shared layers stay), `image prune`,
//! references (names, short names, ids, malformed ones), the `image ...`
//! aliases and `system reset`.

mod common;

use common::fixtures::{self, ImageSpec, Layer, LayerBuilder};
use common::{hex_of, is_hex64, path_str, same_ref, strings, TestEnv, TestUser};
use serde_json::json;
use std::collections::BTreeSet;
use std::fs;

fn small_layer(name: &str) -> Layer {
    LayerBuilder::new()
        .dir("layer")
        .file(&format!("layer/{name}"), 0o644, format!("{name}\n"))
        .finish()
}

/// Loads a docker-archive of `spec` and returns the image id (hex).
fn load(env: &TestEnv, spec: &ImageSpec) -> String {
    let file = format!("{}.tar", &spec.image_id()[..12]);
    let (archive, _) = env.docker_archive(&file, std::slice::from_ref(spec));
    env.load(&archive);
    spec.image_id()
}

fn names_of(env: &TestEnv, id: &str) -> BTreeSet<String> {
    let image = env
        .image_by_id(id)
        .unwrap_or_else(|| panic!("images does not list {id}"));
    strings(&image["Names"]).into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn images_json_of_an_empty_store_is_an_empty_array() {
    let Some(env) = TestEnv::new(
        "images_json_of_an_empty_store_is_an_empty_array",
        TestUser::Any,
    ) else {
        return;
    };
    assert!(env.images_json().is_empty());
    let q = env.ok(&["images", "-q"]);
    assert!(q.stdout.trim().is_empty(), "{q}");
}

#[test]
fn images_json_prints_dockers_fields_a_line_per_tag() {
    let Some(env) = TestEnv::new(
        "images_json_prints_dockers_fields_a_line_per_tag",
        TestUser::Any,
    ) else {
        return;
    };
    let spec = ImageSpec::new(
        &["example.com/team/app:1", "example.com/team/app:latest"],
        vec![
            fixtures::busybox_rootfs().finish(),
            small_layer("two"),
            small_layer("three"),
        ],
    );
    let id = load(&env, &spec);
    // docker's `{{json .}}` of its images context: a line per tag, every
    // value a string, the id cut to 12 hex digits.
    let out = env.ok(&["images", "--format", "json"]);
    let lines = common::json_lines(&out.stdout);
    let lines = lines.as_array().expect("lines");
    assert_eq!(lines.len(), 2, "{out}");
    let mut keys: Vec<&str> = lines[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
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
        "{out}"
    );
    let tags: BTreeSet<&str> = lines.iter().filter_map(|l| l["Tag"].as_str()).collect();
    assert_eq!(tags, BTreeSet::from(["1", "latest"]), "{out}");
    for l in lines {
        assert_eq!(l["ID"].as_str(), Some(&id[..12]), "{out}");
        assert_eq!(l["Repository"], "example.com/team/app", "{out}");
        for na in ["Containers", "SharedSize", "UniqueSize"] {
            assert_eq!(l[na], "N/A", "{na}: docker's list does not count it\n{out}");
        }
        let size = l["Size"].as_str().expect("Size");
        assert!(
            size.ends_with("MB") && !size.contains(' '),
            "Size as docker prints it (the unpacked busybox is a megabyte or more): {size}"
        );
        assert!(
            l["CreatedAt"].as_str().is_some_and(|c| c.ends_with(" UTC")),
            "{l}"
        );
        let digest = l["Digest"].as_str().expect("Digest");
        assert!(
            digest == "<none>" || is_hex64(hex_of(digest)),
            "Digest is a sha256 digest or <none>: {digest}"
        );
    }
    // --no-trunc: the whole id, with its algorithm, as docker's.
    let images = env.images_json();
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(
        images[0]["ID"].as_str(),
        Some(format!("sha256:{id}").as_str())
    );
    assert_eq!(
        names_of(&env, &id),
        set(&["example.com/team/app:1", "example.com/team/app:latest"])
    );
    let t = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let shown: BTreeSet<&str> = t.stdout.lines().collect();
    let want = [
        format!("example.com/team/app:1 {}", &id[..12]),
        format!("example.com/team/app:latest {}", &id[..12]),
    ];
    assert_eq!(shown, want.iter().map(String::as_str).collect(), "{t}");
}

#[test]
fn images_table_and_quiet_show_short_ids_and_no_trunc_full_ids() {
    let Some(env) = TestEnv::new(
        "images_table_and_quiet_show_short_ids_and_no_trunc_full_ids",
        TestUser::Any,
    ) else {
        return;
    };
    let base = fixtures::busybox_rootfs().finish();
    let a = load(
        &env,
        &ImageSpec::new(
            &["example.com/team/alpha:1"],
            vec![base.clone(), small_layer("a")],
        ),
    );
    let b = load(
        &env,
        &ImageSpec::new(&["example.com/team/beta:2"], vec![base, small_layer("b")]),
    );

    let q = env.ok(&["images", "-q"]);
    let short: BTreeSet<String> = q
        .stdout_lines()
        .iter()
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(
        short,
        set(&[&a[..12], &b[..12]]),
        "-q prints 12-hex ids\n{q}"
    );

    let q = env.ok(&["images", "-q", "--no-trunc"]);
    let full: BTreeSet<String> = q
        .stdout_lines()
        .iter()
        .map(|l| hex_of(l.trim()).to_string())
        .collect();
    assert_eq!(full, set(&[&a, &b]), "--no-trunc prints full ids\n{q}");

    let table = env.ok(&["images"]);
    for (repo, tag, id) in [
        ("example.com/team/alpha", "1", &a),
        ("example.com/team/beta", "2", &b),
    ] {
        let row = table
            .stdout
            .lines()
            .find(|l| l.contains(repo))
            .unwrap_or_else(|| panic!("no row for {repo}\n{table}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert!(cols.contains(&tag), "row shows tag {tag}: {row}");
        assert!(cols.contains(&&id[..12]), "row shows the short id: {row}");
    }
}

#[test]
fn images_digests_show_the_manifest_digest_of_an_oci_image() {
    let Some(env) = TestEnv::new(
        "images_digests_show_the_manifest_digest_of_an_oci_image",
        TestUser::Any,
    ) else {
        return;
    };
    let spec = ImageSpec::new(
        &["example.com/team/src:1"],
        vec![fixtures::busybox_rootfs().finish()],
    );
    let (archive, _) = env.docker_archive("src.tar", std::slice::from_ref(&spec));
    let dir = env.work.join("layout");
    fixtures::skopeo_to_oci_dir(&archive, &dir, "example.com/team/oci:1");
    let manifest = fixtures::oci_manifest_digest(&dir);
    let id = fixtures::oci_config_digest(&dir);
    env.load(&dir);

    let image = env.image_by_id(&id).expect("listed");
    assert_eq!(
        image["Digest"].as_str().map(hex_of),
        Some(manifest.as_str()),
        "Digest is the manifest's: {image}"
    );
    let table = env.ok(&["images", "--digests"]);
    assert!(
        table.stdout.contains(&format!("sha256:{manifest}")),
        "--digests shows sha256:{manifest}\n{table}"
    );
    let plain = env.ok(&["images"]);
    assert!(
        !plain.stdout.contains(&manifest),
        "without --digests no digest column\n{plain}"
    );
    let inspect = env.inspect("example.com/team/oci:1");
    assert!(
        strings(&inspect["RepoDigests"])
            .iter()
            .any(|d| d == &format!("example.com/team/oci@sha256:{manifest}")),
        "RepoDigests: {inspect}"
    );
}

#[test]
fn image_inspect_shows_the_config_keys() {
    let Some(env) = TestEnv::new("image_inspect_shows_the_config_keys", TestUser::Any) else {
        return;
    };
    let spec = ImageSpec::new(
        &["example.com/team/app:1"],
        vec![fixtures::busybox_rootfs().finish(), small_layer("two")],
    );
    let id = load(&env, &spec);
    let i = env.inspect("example.com/team/app:1");

    assert_eq!(i["Id"].as_str(), Some(format!("sha256:{id}").as_str()));
    assert!(
        strings(&i["RepoTags"])
            .iter()
            .any(|t| same_ref(t, "example.com/team/app:1")),
        "RepoTags: {i}"
    );
    assert_eq!(i["Os"].as_str(), Some("linux"));
    assert_eq!(i["Architecture"].as_str(), Some(fixtures::oci_arch()));
    assert!(
        i["Created"]
            .as_str()
            .is_some_and(|c| c.starts_with("2024-01-02T03:04:05")),
        "Created from the config: {}",
        i["Created"]
    );
    assert!(
        i["Size"].as_u64().is_some_and(|s| s > 0),
        "Size: {}",
        i["Size"]
    );
    assert_eq!(i["RootFS"]["Type"].as_str(), Some("layers"));
    assert_eq!(
        strings(&i["RootFS"]["Layers"]),
        spec.diff_ids()
            .iter()
            .map(|d| format!("sha256:{d}"))
            .collect::<Vec<_>>()
    );

    let c = &i["Config"];
    let want = fixtures::default_run_config();
    for key in [
        "Env",
        "Entrypoint",
        "Cmd",
        "WorkingDir",
        "User",
        "Labels",
        "StopSignal",
    ] {
        assert_eq!(c[key], want[key], "Config.{key}");
    }
    for key in ["ExposedPorts", "Volumes"] {
        let got: BTreeSet<&String> = c[key]
            .as_object()
            .unwrap_or_else(|| panic!("Config.{key} is an object: {c}"))
            .keys()
            .collect();
        let exp: BTreeSet<&String> = want[key].as_object().expect("fixture").keys().collect();
        assert_eq!(got, exp, "Config.{key}");
    }
    assert_eq!(
        c["Labels"],
        json!({"org.example.fixture": "burrow", "version": "1"})
    );
}

#[test]
fn image_inspect_of_two_images_returns_both_in_order() {
    let Some(env) = TestEnv::new(
        "image_inspect_of_two_images_returns_both_in_order",
        TestUser::Any,
    ) else {
        return;
    };
    let a = load(
        &env,
        &ImageSpec::new(&["example.com/t/a:1"], vec![small_layer("a")]),
    );
    let b = load(
        &env,
        &ImageSpec::new(&["example.com/t/b:1"], vec![small_layer("b")]),
    );
    let out = env.ok(&["image", "inspect", "example.com/t/b:1", "example.com/t/a:1"]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    let ids: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|i| i["Id"].as_str())
        .collect();
    assert_eq!(ids, vec![format!("sha256:{b}"), format!("sha256:{a}")]);
}

#[test]
fn image_is_found_by_short_name_full_name_id_and_id_prefix() {
    let Some(env) = TestEnv::new(
        "image_is_found_by_short_name_full_name_id_and_id_prefix",
        TestUser::Any,
    ) else {
        return;
    };
    // `docker save` writes familiar names: fixture:latest is
    // docker.io/library/fixture:latest.
    let id = load(
        &env,
        &ImageSpec::new(&["fixture:latest"], vec![small_layer("found")]),
    );
    let want = format!("sha256:{id}");
    for name in [
        "fixture",
        "fixture:latest",
        "library/fixture",
        "docker.io/library/fixture:latest",
        id.as_str(),
        want.as_str(),
        &id[..12],
    ] {
        let i = env.inspect(name);
        assert_eq!(i["Id"].as_str(), Some(want.as_str()), "found by {name}");
    }
    // A local (imported) image is found by its short name too.
    let tarball = env.fixture("rootfs.tar", &small_layer("local").tar);
    let out = env.ok(&["import", path_str(&tarball), "mine:1"]);
    let local = out.stdout.trim().to_string();
    let i = env.inspect("mine:1");
    assert_eq!(
        i["Id"].as_str(),
        Some(local.as_str()),
        "mine:1 is localhost/mine:1"
    );
}

#[test]
fn tag_then_rmi_of_one_tag_keeps_the_image() {
    let Some(env) = TestEnv::new("tag_then_rmi_of_one_tag_keeps_the_image", TestUser::Any) else {
        return;
    };
    let spec = ImageSpec::new(
        &["example.com/team/app:1"],
        vec![fixtures::busybox_rootfs().finish(), small_layer("app")],
    );
    let id = load(&env, &spec);

    env.ok(&[
        "tag",
        "example.com/team/app:1",
        "example.com/team/app:2",
        "localhost/other:3",
    ]);
    assert_eq!(
        names_of(&env, &id),
        set(&[
            "example.com/team/app:1",
            "example.com/team/app:2",
            "localhost/other:3"
        ])
    );

    let out = env.ok(&["rmi", "example.com/team/app:2"]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("Untagged:") && l.contains("example.com/team/app:2")),
        "{out}"
    );
    assert!(!out.stdout.contains("Deleted:"), "the image stays\n{out}");
    assert_eq!(
        names_of(&env, &id),
        set(&["example.com/team/app:1", "localhost/other:3"])
    );
    assert_eq!(env.layer_ids(), spec.diff_ids().into_iter().collect());

    env.ok(&["rmi", "localhost/other:3"]);
    let out = env.ok(&["rmi", "example.com/team/app:1"]);
    assert!(
        out.stdout.lines().any(|l| l.starts_with("Untagged:")),
        "{out}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.trim() == format!("Deleted: sha256:{id}")),
        "the last name removed deletes the image\n{out}"
    );
    assert!(env.images_json().is_empty());
    assert!(env.layer_ids().is_empty(), "unused layers are removed");
}

#[test]
fn rmi_force_by_id_removes_an_image_with_several_names() {
    let Some(env) = TestEnv::new(
        "rmi_force_by_id_removes_an_image_with_several_names",
        TestUser::Any,
    ) else {
        return;
    };
    let id = load(
        &env,
        &ImageSpec::new(
            &["example.com/t/x:1", "example.com/t/y:2"],
            vec![small_layer("x")],
        ),
    );
    let out = env.ok(&["rmi", "-f", &id]);
    let untagged = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("Untagged:"))
        .count();
    assert_eq!(untagged, 2, "{out}");
    assert!(
        out.stdout.contains(&format!("Deleted: sha256:{id}")),
        "{out}"
    );
    assert!(env.images_json().is_empty());
}

#[test]
fn rmi_keeps_layers_that_another_image_shares() {
    let Some(env) = TestEnv::new("rmi_keeps_layers_that_another_image_shares", TestUser::Any)
    else {
        return;
    };
    let base = fixtures::busybox_rootfs().finish();
    let (la, lb) = (small_layer("a"), small_layer("b"));
    let a = load(
        &env,
        &ImageSpec::new(&["example.com/t/a:1"], vec![base.clone(), la.clone()]),
    );
    let b = load(
        &env,
        &ImageSpec::new(&["example.com/t/b:1"], vec![base.clone(), lb.clone()]),
    );
    assert_eq!(
        env.layer_ids(),
        [base.diff_id(), la.diff_id(), lb.diff_id()].into(),
        "the base layer is stored once"
    );

    let out = env.ok(&["rmi", "example.com/t/a:1"]);
    assert!(
        out.stdout.contains(&format!("Deleted: sha256:{a}")),
        "{out}"
    );
    assert_eq!(
        env.layer_ids(),
        [base.diff_id(), lb.diff_id()].into(),
        "a's own layer went, the shared one stayed"
    );
    assert_eq!(
        fs::read(env.layer_diff(&base.diff_id()).join("bin/busybox")).expect("shared layer"),
        fs::read(fixtures::BUSYBOX).expect("host busybox")
    );
    let i = env.inspect("example.com/t/b:1");
    assert_eq!(i["Id"].as_str(), Some(format!("sha256:{b}").as_str()));

    env.ok(&["rmi", "example.com/t/b:1"]);
    assert!(env.layer_ids().is_empty());
}

#[test]
fn image_prune_removes_dangling_images_and_with_all_every_unused_one() {
    let Some(env) = TestEnv::new(
        "image_prune_removes_dangling_images_and_with_all_every_unused_one",
        TestUser::Any,
    ) else {
        return;
    };
    let base = fixtures::busybox_rootfs().finish();
    let (lt, lu) = (small_layer("tagged"), small_layer("untagged"));
    let tagged = load(
        &env,
        &ImageSpec::new(&["example.com/t/kept:1"], vec![base.clone(), lt.clone()]),
    );
    let untagged = load(&env, &ImageSpec::new(&[], vec![base.clone(), lu.clone()]));
    assert_eq!(env.images_json().len(), 2);

    env.ok(&["image", "prune"]);
    let ids: Vec<String> = env
        .images_json()
        .iter()
        .filter_map(|i| i["ID"].as_str().map(|id| hex_of(id).to_string()))
        .collect();
    assert_eq!(
        ids,
        vec![tagged.clone()],
        "the dangling {untagged} is pruned"
    );
    assert_eq!(env.layer_ids(), [base.diff_id(), lt.diff_id()].into());

    env.ok(&["image", "prune", "-a"]);
    assert!(env.images_json().is_empty(), "-a prunes every unused image");
    assert!(env.layer_ids().is_empty());
}

#[test]
fn malformed_references_are_errors_that_show_the_reference() {
    let Some(env) = TestEnv::new(
        "malformed_references_are_errors_that_show_the_reference",
        TestUser::Any,
    ) else {
        return;
    };
    let tarball = env.fixture("rootfs.tar", &small_layer("x").tar);
    env.ok(&["import", path_str(&tarball), "x"]);
    // The listing but its `CreatedSince`, which moves with the clock.
    let listed = || {
        let mut images = env.images_json();
        for i in &mut images {
            i.as_object_mut().map(|o| o.remove("CreatedSince"));
        }
        images
    };
    let before = listed();

    for args in [
        vec!["tag", "x", "Bad:Name"],
        vec!["tag", "x", "x@sha256:1234"],
        vec!["tag", "x", "name:"],
        vec!["image", "inspect", "a:b:c"],
        vec!["rmi", "UPPER/case"],
    ] {
        let bad = *args.last().expect("reference");
        let out = env.run(&args);
        // No image has such a name: docker's status 1 for inspect and
        // rmi (as for any name not here), burrow's own 125 for tag.
        let want = if args[0] == "tag" { 125 } else { 1 };
        assert_eq!(out.code(), Some(want), "{out}");
        assert!(
            out.error_line().contains(bad),
            "the error shows the reference {bad:?}\n{out}"
        );
    }
    assert_eq!(listed(), before, "nothing changed");
}

#[test]
fn missing_image_is_no_such_image_with_exit_1() {
    let Some(env) = TestEnv::new("missing_image_is_no_such_image_with_exit_1", TestUser::Any)
    else {
        return;
    };
    let saved = env.work.join("never.tar");
    for args in [
        vec!["image", "inspect", "nosuchimage"],
        vec!["rmi", "nosuchimage"],
        vec!["tag", "nosuchimage", "other:1"],
        vec!["save", "-o", path_str(&saved), "nosuchimage"],
        vec!["image", "inspect", "example.com/none/such:1"],
    ] {
        let bad = *args.last().expect("image");
        let bad = if args[0] == "tag" { "nosuchimage" } else { bad };
        let out = env.run(&args);
        assert_eq!(
            out.code(),
            Some(1),
            "docker's status for a missing image\n{out}"
        );
        assert!(
            out.error_line().starts_with("Error: No such image: ")
                && out.error_line().contains(bad),
            "the error names {bad}\n{out}"
        );
    }
    assert!(!saved.exists(), "a failed save leaves no file");
    assert!(env.images_json().is_empty());
}

#[test]
fn image_subcommands_are_aliases_of_the_top_level_ones() {
    let Some(env) = TestEnv::new(
        "image_subcommands_are_aliases_of_the_top_level_ones",
        TestUser::Any,
    ) else {
        return;
    };
    let tarball = env.fixture("rootfs.tar", &fixtures::busybox_rootfs().finish().tar);
    let out = env.ok(&["image", "import", path_str(&tarball), "alias:1"]);
    let id = hex_of(out.stdout.trim()).to_string();
    assert!(is_hex64(&id), "{out}");

    let ls = env.ok(&["image", "ls", "--format", "json"]);
    let v = common::json_lines(&ls.stdout);
    assert_eq!(v.as_array().map(|a| a.len()), Some(1), "{ls}");

    env.ok(&["image", "tag", "alias:1", "localhost/alias:2"]);
    assert_eq!(
        names_of(&env, &id),
        set(&["localhost/alias:1", "localhost/alias:2"])
    );

    let saved = env.work.join("alias.tar");
    env.ok(&["image", "save", "-o", path_str(&saved), "alias:1"]);
    env.ok(&["image", "rm", "alias:1", "alias:2"]);
    assert!(env.images_json().is_empty());

    let out = env.ok(&["image", "load", "-i", path_str(&saved)]);
    assert!(
        out.stdout.contains("Loaded image: localhost/alias:1"),
        "{out}"
    );
    assert_eq!(
        env.images_json()[0]["ID"].as_str().map(hex_of),
        Some(id.as_str())
    );
}

#[test]
fn system_reset_removes_all_images_and_layers() {
    let Some(env) = TestEnv::new("system_reset_removes_all_images_and_layers", TestUser::Any)
    else {
        return;
    };
    load(
        &env,
        &ImageSpec::new(
            &["example.com/t/reset:1"],
            vec![fixtures::busybox_rootfs().finish()],
        ),
    );
    assert_eq!(env.layer_ids().len(), 1);
    env.ok(&["system", "reset", "-f"]);
    assert!(env.layer_ids().is_empty());
    let left: Vec<_> = env
        .store_paths()
        .into_iter()
        .filter(|p| p.starts_with(env.storage()))
        .collect();
    assert!(
        left.is_empty(),
        "nothing left in the storage dir: {left:#?}"
    );
    assert!(
        env.images_json().is_empty(),
        "the store works after a reset"
    );
}

/// The container's id as `run -d` printed it, cut as docker cuts ids.
fn short(id: &str) -> &str {
    &id.trim()[..12]
}

#[test]
fn rmi_of_an_image_containers_use_is_refused_and_force_only_untags_it() {
    let Some(env) = TestEnv::new(
        "rmi_of_an_image_containers_use_is_refused",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let run_config = json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]});
    let mut running = ImageSpec::new(
        &["example.com/t/running:1"],
        vec![fixtures::busybox_rootfs().finish(), small_layer("running")],
    );
    running.run_config = run_config.clone();
    let mut stopped = ImageSpec::new(
        &["example.com/t/stopped:1"],
        vec![fixtures::busybox_rootfs().finish(), small_layer("stopped")],
    );
    stopped.run_config = run_config;
    let running_id = load(&env, &running);
    let stopped_id = load(&env, &stopped);
    let r1 = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "r1",
            "example.com/t/running:1",
            "sleep",
            "1000",
        ])
        .stdout;
    env.ok(&[
        "run",
        "--name",
        "s1",
        "example.com/t/stopped:1",
        "sh",
        "-c",
        "cat /layer/stopped",
    ]);
    let s1 = env.ok(&["inspect", "--type", "container", "s1"]).stdout;
    let s1: serde_json::Value = serde_json::from_str(&s1).expect("inspect is JSON");
    let s1 = s1[0]["Id"].as_str().expect("container id").to_string();

    // Refused as docker refuses, exit 1, and nothing changes.
    let refusals = [
        (
            vec!["rmi", "example.com/t/running:1"],
            format!(
                "Error: conflict: unable to remove repository reference \"example.com/t/running:1\" \
                 (must force) - container {} is using its referenced image {}",
                short(&r1),
                &running_id[..12]
            ),
        ),
        (
            vec!["rmi", &running_id[..12]],
            format!(
                "Error: conflict: unable to delete {} (cannot be forced) - image is being used \
                 by running container {}",
                &running_id[..12],
                short(&r1)
            ),
        ),
        (
            vec!["rmi", "-f", &running_id],
            format!(
                "Error: conflict: unable to delete {} (cannot be forced) - image is being used \
                 by running container {}",
                &running_id[..12],
                short(&r1)
            ),
        ),
        (
            vec!["image", "rm", &stopped_id],
            format!(
                "Error: conflict: unable to delete {} (must be forced) - image is being used \
                 by stopped container {}",
                &stopped_id[..12],
                short(&s1)
            ),
        ),
        (
            vec!["rmi", "example.com/t/stopped:1"],
            format!(
                "Error: conflict: unable to remove repository reference \"example.com/t/stopped:1\" \
                 (must force) - container {} is using its referenced image {}",
                short(&s1),
                &stopped_id[..12]
            ),
        ),
    ];
    let layers = env.layer_ids();
    for (args, message) in &refusals {
        let out = env.run(args);
        assert_eq!(out.code(), Some(1), "{out}");
        assert_eq!(out.stderr.trim(), message, "{out}");
    }
    assert_eq!(
        names_of(&env, &running_id),
        set(&["example.com/t/running:1"])
    );
    assert_eq!(
        names_of(&env, &stopped_id),
        set(&["example.com/t/stopped:1"])
    );
    assert_eq!(env.layer_ids(), layers);

    // prune (dangling or all) skips images in use.
    env.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(env.images_json().len(), 2);

    // With -f, a name goes but the image and its layers stay while a
    // container uses it; the stopped container starts again.
    for (name, id) in [
        ("example.com/t/running:1", &running_id),
        ("example.com/t/stopped:1", &stopped_id),
    ] {
        let out = env.ok(&["rmi", "-f", name]);
        assert_eq!(out.stdout_lines(), [format!("Untagged: {name}")], "{out}");
        assert!(names_of(&env, id).is_empty(), "{name} is untagged");
    }
    env.ok(&["image", "prune"]);
    assert_eq!(env.images_json().len(), 2, "both images are still in use");
    assert_eq!(env.layer_ids(), layers);
    env.ok(&["start", "s1"]);
    assert_eq!(env.ok(&["wait", "s1"]).stdout.trim(), "0");
    // `cat /layer/stopped` exits 0 only where the image's layer is.
    let out = env.ok(&["exec", "r1", "cat", "/layer/running"]);
    assert_eq!(out.stdout, "running\n");

    // rmi --all refuses both, each with its reason, and removes nothing.
    let out = env.run(&["rmi", "--all"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "unable to delete {} (cannot be forced) - image is being used by running container {}",
            &running_id[..12],
            short(&r1)
        )) && out.stderr.contains(&format!(
            "unable to delete {} (must be forced) - image is being used by stopped container {}",
            &stopped_id[..12],
            short(&s1)
        )),
        "{out}"
    );
    assert_eq!(env.images_json().len(), 2);

    // Once no container uses them, prune removes them and their layers.
    env.ok(&["rm", "-f", "r1", "s1"]);
    env.ok(&["image", "prune"]);
    assert!(env.images_json().is_empty());
    assert!(env.layer_ids().is_empty());
}

#[test]
fn images_filters_and_a_repository_argument_choose_the_rows_as_dockers_do() {
    let Some(env) = TestEnv::new(
        "images_filters_and_a_repository_argument_choose_the_rows_as_dockers_do",
        TestUser::Any,
    ) else {
        return;
    };
    // Made in 2024 (the fixtures' date), three names.
    let old = load(
        &env,
        &ImageSpec::new(
            &[
                "example.com/team/app:1",
                "example.com/team/app:2",
                "busybox:uclibc",
            ],
            vec![fixtures::busybox_rootfs().finish(), small_layer("old")],
        ),
    );
    // Made now: one unnamed, one named and labelled.
    let tar = env.fixture("rootfs.tar", &fixtures::busybox_rootfs().finish().tar);
    let unnamed = env
        .ok(&["import", path_str(&tar)])
        .stdout
        .trim()
        .to_string();
    let web = env.ok(&["import", "-c", "LABEL tier=web", path_str(&tar), "web"]);
    let web = web.stdout.trim().to_string();
    let (old, unnamed, web) = (&old[..12], &hex_of(&unnamed)[..12], &hex_of(&web)[..12]);

    let ids = |args: &[&str]| -> BTreeSet<String> {
        let mut a = vec!["images", "-q"];
        a.extend_from_slice(args);
        env.ok(&a)
            .stdout_lines()
            .iter()
            .map(|l| l.to_string())
            .collect()
    };
    let rows = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        a.extend_from_slice(args);
        let mut r: Vec<String> = env
            .ok(&a)
            .stdout_lines()
            .iter()
            .map(|l| l.to_string())
            .collect();
        r.sort();
        r
    };
    assert_eq!(ids(&["-f", "dangling=true"]), set(&[unnamed]));
    assert_eq!(ids(&["--filter=dangling=false"]), set(&[old, web]));
    assert_eq!(ids(&["-f", "label=tier=web"]), set(&[web]));
    assert_eq!(ids(&["-f", "label=tier"]), set(&[web]));
    assert!(ids(&["-f", "label=tier=db"]).is_empty());
    assert_eq!(
        ids(&["-f", "before=web", "-f", "dangling=false"]),
        set(&[old])
    );
    assert_eq!(
        ids(&["-f", &format!("since={old}"), "-f", "dangling=false"]),
        set(&[web])
    );
    // The argument and `reference` keep the image and only the names that
    // match: docker's familiar names, or ours for images made here.
    assert_eq!(
        rows(&["example.com/team/app"]),
        ["example.com/team/app:1", "example.com/team/app:2"]
    );
    assert_eq!(
        rows(&["example.com/team/app:2"]),
        ["example.com/team/app:2"]
    );
    assert_eq!(rows(&["busybox"]), ["docker.io/library/busybox:uclibc"]);
    assert_eq!(
        rows(&["-f", "reference=busy*:*libc"]),
        ["docker.io/library/busybox:uclibc"]
    );
    assert_eq!(rows(&["web"]), ["localhost/web:latest"]);
    assert_eq!(
        rows(&["-f", "reference=web", "-f", "reference=*/*/app:1"]),
        ["example.com/team/app:1", "localhost/web:latest"]
    );
    assert!(rows(&["nosuch"]).is_empty());
    assert_eq!(ids(&["-a"]), set(&[old, unnamed, web]));
    let bad = env.run(&["images", "-f", "colour=red"]);
    assert_eq!(bad.code(), Some(common::EXIT_FAILURE), "{bad}");
    assert!(bad.stderr.contains("colour"), "{bad}");
}
