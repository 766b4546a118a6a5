//! Layers and archives at the edges of what burrow accepts: a tree nested
//! deeper than any fd limit, opaque whiteouts at a layer's root, directories
//! with whiteout names, absolute symlinks inside one layer, a last entry
//! without its padding, archives with nothing in them, and what killed
//! commands leave in the store.
#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::fixtures::{self, Compression, ImageSpec, Layer, LayerBuilder};
use common::{path_str, Output, TestEnv, TestUser};
use serde_json::json;
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;

const IMAGE: &str = "edges/base:1";

fn busybox_image(tag: &str, layers: Vec<Layer>) -> ImageSpec {
    let mut spec = ImageSpec::new(&[tag], layers);
    spec.run_config = json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]});
    spec
}

/// Loads `specs` from one docker-archive named `file`; returns the output.
fn load(env: &TestEnv, file: &str, specs: &[ImageSpec]) -> Output {
    let (archive, _) = env.docker_archive(file, specs);
    env.give(&archive);
    env.run(&["load", "-i", path_str(&archive)])
}

/// `burrow ARGS` with at most 1024 open files, the usual default of
/// `ulimit -n`.
fn run_with_fd_limit(env: &TestEnv, args: &[&str]) -> Output {
    let mut cmd = env.command(args);
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run burrow");
    Output {
        args: args.iter().map(|s| s.to_string()).collect(),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Entries of the store's `tmp/`.
fn temps(env: &TestEnv) -> Vec<String> {
    fs::read_dir(env.storage().join("tmp"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_layer_nested_too_deep_fails_clearly_and_the_store_still_works() {
    let Some(env) = TestEnv::new(
        "a_layer_nested_too_deep_fails_clearly",
        TestUser::WithSubids,
    ) else {
        return;
    };
    load(
        &env,
        "base.tar",
        &[busybox_image(
            IMAGE,
            vec![fixtures::busybox_rootfs().finish()],
        )],
    )
    .assert_ok();

    // 10,000 nested directories: a path of 20,000 bytes at the bottom.
    let mut deep = LayerBuilder::new();
    let mut path = String::new();
    for _ in 0..10_000 {
        path.push_str("d/");
        deep = deep.dir(&path);
    }
    let spec = ImageSpec::compressed(&["edges/deep:1"], vec![(deep.finish(), Compression::Zstd)]);
    let (archive, _) = env.docker_archive("deep.tar", &[spec]);
    env.give(&archive);
    let out = run_with_fd_limit(&env, &["load", "-i", path_str(&archive)]);
    println!("{out}");
    out.assert_error();
    let err = out.error_line();
    assert!(
        err.contains("deep.tar") && err.contains("blobs/sha256/"),
        "the error names the layer\n{out}"
    );
    assert!(
        err.contains("d/d/d/") && err.contains("1025 directories deep, beyond the 1024"),
        "the error names the entry and the bound\n{out}"
    );
    assert!(err.len() < 600, "the 2 KB entry name is shortened\n{out}");
    assert_eq!(temps(&env), Vec::<String>::new(), "no temporary layer left");
    assert_eq!(env.images_json().len(), 1);

    // The store still imports and runs.
    let rootfs = env.fixture("rootfs.tar", &fixtures::busybox_rootfs().finish().tar);
    env.give(&rootfs);
    env.ok(&["import", path_str(&rootfs), "edges/imported:1"]);
    let out = env.ok(&["run", "--rm", IMAGE, "echo", "still runs"]);
    assert_eq!(out.stdout.trim(), "still runs");

    // A container may nest its own files as deep as it likes: removing it,
    // and resetting a store that holds such a tree, needs no fd per level.
    // Built from the bottom up, so that no path is ever longer than
    // PATH_MAX: 1,501 levels, more than the fd limit, 50 levels a step (a
    // chain of 49 made at once, the tree moved to its bottom, the chain
    // renamed), so that it takes 90 commands, not 4,500 (a step per level
    // took more than the harness's 300 s on fuse-overlayfs under software
    // emulation).
    let nest = "c=d; i=1; while [ $i -lt 49 ]; do c=$c/d; i=$((i+1)); done; mkdir d; i=0; \
                while [ $i -lt 30 ]; do mkdir -p t/$c && mv d t/$c/ && mv t d || exit 1; \
                i=$((i+1)); done; cd d; i=1; while cd d 2>/dev/null; do i=$((i+1)); done; \
                echo levels $i";
    let out = env.ok(&["run", "--name", "nest1", IMAGE, "sh", "-c", nest]);
    assert_eq!(out.stdout.trim(), "levels 1501", "{out}");
    env.ok(&["run", "--name", "nest2", IMAGE, "sh", "-c", nest]);
    run_with_fd_limit(&env, &["rm", "nest1"]).assert_ok();
    assert_eq!(temps(&env), Vec::<String>::new(), "rm left nothing behind");
    let out = run_with_fd_limit(&env, &["system", "reset", "--force"]);
    out.assert_ok();
    assert!(
        !env.storage().exists() || fs::read_dir(env.storage()).unwrap().next().is_none(),
        "reset removed everything\n{out}"
    );
    assert!(
        env.images_json().is_empty(),
        "the store works after a reset"
    );
}

#[test]
fn an_opaque_whiteout_at_a_layers_root_hides_every_lower_layer() {
    let Some(env) = TestEnv::new("an_opaque_whiteout_at_a_layers_root", TestUser::WithSubids)
    else {
        return;
    };
    let base = fixtures::busybox_rootfs()
        .file("old-file", 0o644, "from below\n")
        .finish();
    let middle = LayerBuilder::new()
        .file("middle-file", 0o644, "middle\n")
        .finish();
    // The top layer brings its own shell: nothing below shows through.
    let top = fixtures::busybox_rootfs()
        .file(".wh..wh..opq", 0o644, "")
        .file("new-file", 0o644, "from the top\n")
        .finish();
    load(
        &env,
        "opaque.tar",
        &[busybox_image("edges/opaque:1", vec![base, middle, top])],
    )
    .assert_ok();
    let out = env.ok(&[
        "run",
        "--rm",
        "edges/opaque:1",
        "sh",
        "-c",
        "for f in /old-file /middle-file /new-file /.wh..wh..opq; do \
         if [ -e $f ]; then echo \"$f shows\"; else echo \"$f hidden\"; fi; done",
    ]);
    assert_eq!(
        out.stdout_lines(),
        [
            "/old-file hidden",
            "/middle-file hidden",
            "/new-file shows",
            "/.wh..wh..opq hidden"
        ],
        "{out}"
    );

    // No directory may have a whiteout's name (OCI image spec): a layer
    // with files beneath one is refused, naming the entry.
    let named = LayerBuilder::new()
        .dir("a")
        .dir("a/.wh..wh..opq")
        .file("a/.wh..wh..opq/kept", 0o644, "x\n")
        .finish();
    let out = load(
        &env,
        "named.tar",
        &[busybox_image(
            "edges/named:1",
            vec![fixtures::busybox_rootfs().finish(), named],
        )],
    );
    out.assert_error();
    assert!(
        out.error_line().contains("a/.wh..wh..opq/kept")
            && out.error_line().contains("whiteout name"),
        "{out}"
    );
}

#[test]
fn paths_through_an_absolute_symlink_of_the_same_layer_resolve_inside_it() {
    let Some(env) = TestEnv::new("paths_through_an_absolute_symlink", TestUser::Any) else {
        return;
    };
    let canary = path_str(&env.canary).trim_start_matches('/').to_string();
    let layer = LayerBuilder::new()
        .dir("var")
        .symlink("var/run", "/run")
        .file("var/run/x", 0o644, "in run\n")
        // An absolute link naming the canary dir: inside the layer, it
        // names the layer's own copy of that path.
        .symlink("aim", &format!("/{canary}"))
        .file("aim/planted", 0o644, "inside\n")
        .finish();
    let diff = env.layer_diff(&layer.diff_id());
    let out = load(
        &env,
        "abs.tar",
        &[busybox_image(
            "edges/abs:1",
            vec![fixtures::busybox_rootfs().finish(), layer],
        )],
    );
    out.assert_ok();
    assert_eq!(fs::read_to_string(diff.join("run/x")).unwrap(), "in run\n");
    assert_eq!(
        fs::read_to_string(diff.join(&canary).join("planted")).unwrap(),
        "inside\n"
    );
    assert!(!env.canary.join("planted").exists(), "nothing outside");
    assert!(fs::symlink_metadata(diff.join("var/run"))
        .unwrap()
        .is_symlink());

    // A relative link that climbs out is still refused.
    let escape = LayerBuilder::new()
        .symlink("abs", "/sub")
        .dir("sub")
        .symlink("sub/up", "../..")
        .file("abs/up/escaped", 0o644, "x\n")
        .finish();
    let out = load(
        &env,
        "escape.tar",
        &[busybox_image(
            "edges/escape:1",
            vec![fixtures::busybox_rootfs().finish(), escape],
        )],
    );
    out.assert_error();
    assert!(
        out.error_line().contains("abs/up/escaped")
            && out.error_line().contains("outside the layer"),
        "{out}"
    );
}

#[test]
fn a_last_entry_without_its_padding_or_end_blocks_is_accepted() {
    let Some(env) = TestEnv::new("a_last_entry_without_its_padding", TestUser::Any) else {
        return;
    };
    let full = LayerBuilder::new()
        .dir("etc")
        .file("etc/last", 0o644, "no padding after me\n")
        .finish()
        .tar;
    // Two headers and 20 bytes of data: cut right after the data, as some
    // tools write it.
    let cut = Layer::new(full[..512 + 512 + 20].to_vec());
    let diff = env.layer_diff(&cut.diff_id());
    load(&env, "cut.tar", &[busybox_image("edges/cut:1", vec![cut])]).assert_ok();
    assert_eq!(
        fs::read_to_string(diff.join("etc/last")).unwrap(),
        "no padding after me\n"
    );
    // Saved again byte for byte (the stream's digest is checked).
    env.ok(&[
        "save",
        "-o",
        path_str(&env.work.join("again.tar")),
        "edges/cut:1",
    ]);

    // Cut inside the data: still an error.
    let short = Layer::new(full[..512 + 512 + 10].to_vec());
    let out = load(
        &env,
        "short.tar",
        &[busybox_image("edges/short:1", vec![short])],
    );
    out.assert_error();
    assert!(out.error_line().contains("truncated tar"), "{out}");
}

#[test]
fn archives_with_no_image_and_an_empty_import_are_errors() {
    let Some(env) = TestEnv::new("archives_with_no_image", TestUser::Any) else {
        return;
    };
    let layout = env.work.join("empty-oci");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(
        layout.join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    for p in [
        layout.clone(),
        layout.join("blobs"),
        layout.join("blobs/sha256"),
        layout.join("oci-layout"),
        layout.join("index.json"),
    ] {
        env.give(&p);
    }
    let out = env.fails(&["load", "-i", path_str(&layout)]);
    assert!(
        out.error_line().contains("index.json") && out.error_line().contains("lists no image"),
        "{out}"
    );
    let empty_docker = env.fixture(
        "empty-docker.tar",
        &LayerBuilder::new()
            .file("manifest.json", 0o644, "[]")
            .finish()
            .tar,
    );
    env.give(&empty_docker);
    let out = env.fails(&["load", "-i", path_str(&empty_docker)]);
    assert!(out.error_line().contains("lists no image"), "{out}");

    let out = env.fails(&["import", "/dev/null", "edges/nothing:1"]);
    assert!(out.error_line().contains("/dev/null is empty"), "{out}");
    let out = env.run_with_stdin(&["import", "-"], Some(b""));
    out.assert_error();
    assert!(env.images_json().is_empty(), "no image was made");
    assert!(env.layer_ids().is_empty(), "no layer was made");
}

#[test]
fn what_a_killed_command_left_is_cleaned_by_the_next_that_locks_the_store() {
    let Some(env) = TestEnv::new("what_a_killed_command_left", TestUser::Any) else {
        return;
    };
    load(
        &env,
        "base.tar",
        &[busybox_image(
            IMAGE,
            vec![fixtures::busybox_rootfs().finish()],
        )],
    )
    .assert_ok();
    // What a commit killed while it unpacked its layer leaves: a temporary
    // layer (no process holds its lock) and a half-written file.
    let tmp = env.storage().join("tmp");
    let layer = tmp.join("layer-0123456789abcdef");
    fs::create_dir_all(layer.join("diff/usr/lib")).unwrap();
    fs::write(layer.join("diff/usr/lib/half"), "partial").unwrap();
    fs::write(layer.join("tar-split.zst"), "partial").unwrap();
    fs::write(tmp.join("file-fedcba9876543210"), "{\"half\":").unwrap();
    for p in [
        layer.clone(),
        layer.join("diff"),
        layer.join("diff/usr"),
        layer.join("diff/usr/lib"),
        layer.join("diff/usr/lib/half"),
        layer.join("tar-split.zst"),
        tmp.join("file-fedcba9876543210"),
    ] {
        env.give(&p);
    }
    assert_eq!(temps(&env).len(), 2);
    // `save` only reads the store, under its lock: that is enough.
    env.ok(&["save", "-o", path_str(&env.work.join("saved.tar")), IMAGE]);
    assert_eq!(temps(&env), Vec::<String>::new(), "leftovers removed");
    assert!(!Path::new(&layer).exists());
}

/// The root line of a /proc/self/mountinfo text: its mount options.
fn root_mount_line(mountinfo: &str) -> Option<&str> {
    mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
}

#[test]
fn a_130_layer_image_runs_on_the_kernel_overlay_through_a_mount_option_string() {
    let Some(env) = TestEnv::new(
        "a_130_layer_image_runs_on_the_kernel_overlay_through_a_mount_option_string",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let mut version = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    if (version.next(), version.next()) < (Some(5), Some(11)) {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP a_130_layer_image_runs_on_the_kernel_overlay_through_a_mount_option_string: \
             kernel {release} allows no overlayfs in a user namespace (5.11+)"
        );
        return;
    }
    // 130 layers: the base, 128 that add a file each and replace /top,
    // and one that deletes a directory of the one below it.
    let mut layers = vec![fixtures::busybox_rootfs()
        .dir("gone")
        .file("gone/file", 0o644, "lower\n")
        .finish()];
    for i in 1..=128 {
        layers.push(
            LayerBuilder::new()
                .dir("layers")
                .file(&format!("layers/{i}"), 0o644, i.to_string())
                .file("top", 0o644, format!("{i}\n"))
                .finish(),
        );
    }
    layers.push(
        LayerBuilder::new()
            .whiteout("layers/128")
            .file("etc/mine", 0o644, "image\n")
            .finish(),
    );
    assert_eq!(layers.len(), 130);
    load(&env, "tall.tar", &[busybox_image("edges/tall:1", layers)]).assert_ok();

    // What a classic kernel (5.11 to 6.7) gets: the option string, forced
    // through the test seam on this one.
    let script = "ls /layers | wc -l; cat /top; cat /etc/mine; cat /etc/hostname; \
                  rm -r /gone && echo removed; echo w > /etc/new && cat /etc/new; \
                  cat /proc/self/mountinfo";
    let out = env.run_env(
        &[
            "run",
            "--name",
            "tall",
            "--hostname",
            "tall-host",
            "edges/tall:1",
            "sh",
            "-c",
            script,
        ],
        &[("BURROW_TEST_OVERLAY_API", Some("option-string"))],
    );
    out.assert_ok();
    let lines = out.stdout_lines();
    assert_eq!(
        lines[..6],
        ["127", "128", "image", "tall-host", "removed", "w"],
        "every layer is seen, the top one last, /etc's mount points work and \
         a directory of a lower layer can be removed\n{out}"
    );
    assert!(
        !out.stderr.contains("was not usable"),
        "no fallback from the kernel overlay\n{out}"
    );
    let root = root_mount_line(&out.stdout).unwrap_or_else(|| panic!("no root mount\n{out}"));
    assert!(
        root.contains(" - overlay burrow ")
            && root.contains("lowerdir=")
            && root.contains("userxattr"),
        "the root is a kernel overlay mounted with an option string: {root}"
    );
    assert!(!root.contains("lowerdir+"), "not by lowerdir+: {root}");
    let inspect = env.ok(&["inspect", "tall"]);
    assert!(
        inspect
            .stdout
            .contains("\"RootfsDriver\": \"kernel-overlay\""),
        "{inspect}"
    );

    // Without the seam this kernel (6.8+) takes lowerdir+, and the probe's
    // answer is kept under the storage root, named by `uname -r`.
    let out = env.ok(&["run", "--rm", "edges/tall:1", "cat", "/proc/self/mountinfo"]);
    let root = root_mount_line(&out.stdout).unwrap_or_else(|| panic!("no root mount\n{out}"));
    let kept = fs::read_to_string(
        env.storage()
            .join("kernels")
            .join(format!("{release}.json")),
    )
    .expect("the probe's answer for this kernel");
    assert!(kept.contains(&release), "{kept}");
    if kept.contains("lowerdir-plus") {
        assert!(root.contains("lowerdir+"), "by lowerdir+: {root}");
    }
}
