//! `burrow import`: a flat root filesystem tarball (what `docker export`
//! writes), plain, gzip or zstd, from a file or from stdin, becomes a
//! one-layer image named `localhost/NAME:TAG`.

mod common;

use common::fixtures::{self, Compression};
use common::{hex_of, is_hex64, path_str, same_ref, strings, Output, TestEnv, TestUser};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// The id `import` printed: one line, `sha256:<64 hex>`.
fn imported_id(out: &Output) -> String {
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 1, "import prints the image id alone\n{out}");
    let id = lines[0]
        .trim()
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("id without sha256: prefix\n{out}"));
    assert!(is_hex64(id), "not a sha256 id\n{out}");
    id.to_string()
}

/// The busybox rootfs fixture, unpacked in the store as it was in the tar.
fn assert_busybox_layer(env: &TestEnv, diff_id: &str) {
    let diff = env.layer_diff(diff_id);
    let busybox = diff.join("bin/busybox");
    let meta =
        fs::symlink_metadata(&busybox).unwrap_or_else(|e| panic!("{}: {e}", busybox.display()));
    assert!(meta.is_file(), "bin/busybox is a regular file");
    assert_eq!(meta.mode() & 0o7777, 0o755, "bin/busybox keeps 0755");
    assert_eq!(
        meta.mtime() as u64,
        fixtures::MTIME,
        "bin/busybox keeps its mtime"
    );
    assert_eq!(
        fs::read(&busybox).expect("read unpacked busybox"),
        fs::read(fixtures::BUSYBOX).expect("read host busybox"),
        "bin/busybox is byte for byte the one packed"
    );
    for applet in fixtures::APPLETS {
        let link = diff.join("bin").join(applet);
        assert_eq!(
            fs::read_link(&link)
                .unwrap_or_else(|e| panic!("{}: {e}", link.display()))
                .to_str(),
            Some("busybox"),
            "bin/{applet} is a symlink to busybox"
        );
    }
    assert_eq!(
        fs::read_to_string(diff.join("etc/passwd")).expect("etc/passwd"),
        fixtures::PASSWD
    );
    assert_eq!(
        fs::read_to_string(diff.join("etc/group")).expect("etc/group"),
        fixtures::GROUP
    );
    let tmp = fs::symlink_metadata(diff.join("tmp")).expect("tmp");
    assert!(tmp.is_dir());
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777, "tmp keeps 1777");
    let root = fs::symlink_metadata(diff.join("root")).expect("root");
    assert_eq!(root.permissions().mode() & 0o7777, 0o700, "root keeps 0700");
}

/// The image `id` has one layer, `diff_id`, and the name `full`.
fn assert_one_layer_image(env: &TestEnv, id: &str, diff_id: &str, full: &str) {
    let listed = env
        .image_by_id(id)
        .unwrap_or_else(|| panic!("images does not list {id}"));
    assert!(
        strings(&listed["Names"]).iter().any(|n| n == full),
        "images names {full}: {listed}"
    );
    let busybox_size = fs::metadata(fixtures::BUSYBOX).expect("busybox").len();
    let inspect = env.inspect(full);
    assert!(
        inspect["Size"].as_u64().is_some_and(|s| s >= busybox_size),
        "Size counts the unpacked bytes: {inspect}"
    );
    assert_eq!(
        inspect["Id"].as_str(),
        Some(format!("sha256:{id}").as_str())
    );
    assert_eq!(
        strings(&inspect["RootFS"]["Layers"]),
        vec![format!("sha256:{diff_id}")],
        "the layer's diff id is the sha256 of the uncompressed tarball"
    );
    assert!(
        strings(&inspect["RepoTags"])
            .iter()
            .any(|t| same_ref(t, full)),
        "RepoTags has {full}: {inspect}"
    );
    assert_eq!(inspect["Os"].as_str(), Some("linux"));
}

#[test]
fn import_plain_tarball_makes_one_layer_localhost_image() {
    let Some(env) = TestEnv::new(
        "import_plain_tarball_makes_one_layer_localhost_image",
        TestUser::Any,
    ) else {
        return;
    };
    let rootfs = fixtures::busybox_rootfs().finish();
    let tarball = env.fixture("rootfs.tar", &rootfs.tar);

    let out = env.ok(&["import", path_str(&tarball), "plain"]);
    let id = imported_id(&out);

    assert_one_layer_image(&env, &id, &rootfs.diff_id(), "localhost/plain:latest");
    assert_busybox_layer(&env, &rootfs.diff_id());
    assert_eq!(
        env.layer_ids().into_iter().collect::<Vec<_>>(),
        vec![rootfs.diff_id()],
        "exactly one layer in the store"
    );
}

#[test]
fn import_gzip_and_zstd_tarballs_share_the_plain_layer() {
    let Some(env) = TestEnv::new(
        "import_gzip_and_zstd_tarballs_share_the_plain_layer",
        TestUser::Any,
    ) else {
        return;
    };
    let rootfs = fixtures::busybox_rootfs().finish();
    let gz = env.fixture("rootfs.tar.gz", &Compression::Gzip.compress(&rootfs.tar));
    let zst = env.fixture("rootfs.tar.zst", &Compression::Zstd.compress(&rootfs.tar));

    let gz_id = imported_id(&env.ok(&["import", path_str(&gz), "gz:1"]));
    let zst_id = imported_id(&env.ok(&["import", path_str(&zst), "zst:2"]));

    assert_one_layer_image(&env, &gz_id, &rootfs.diff_id(), "localhost/gz:1");
    assert_one_layer_image(&env, &zst_id, &rootfs.diff_id(), "localhost/zst:2");
    assert_busybox_layer(&env, &rootfs.diff_id());
    assert_eq!(
        env.layer_ids().into_iter().collect::<Vec<_>>(),
        vec![rootfs.diff_id()],
        "both imports share the one layer, unpacked once"
    );
}

#[test]
fn import_from_stdin_reads_the_tarball() {
    let Some(env) = TestEnv::new("import_from_stdin_reads_the_tarball", TestUser::Any) else {
        return;
    };
    let rootfs = fixtures::busybox_rootfs().finish();
    let gz = Compression::Gzip.compress(&rootfs.tar);

    let out = env.run_with_stdin(&["import", "-", "fromstdin:v2"], Some(&gz));
    out.assert_ok();
    let id = imported_id(&out);

    assert_one_layer_image(&env, &id, &rootfs.diff_id(), "localhost/fromstdin:v2");
    assert_busybox_layer(&env, &rootfs.diff_id());
}

#[test]
fn import_of_gnu_tar_archive_with_dot_slash_names_unpacks_it() {
    let Some(env) = TestEnv::new(
        "import_of_gnu_tar_archive_with_dot_slash_names_unpacks_it",
        TestUser::Any,
    ) else {
        return;
    };
    // A tarball made by GNU tar from a directory, as a person would make
    // one: names start with `./`.
    let tree = env.work.join("tree");
    fs::create_dir_all(tree.join("bin")).expect("mkdir");
    fs::create_dir_all(tree.join("etc")).expect("mkdir");
    fs::copy(fixtures::BUSYBOX, tree.join("bin/busybox")).expect("copy busybox");
    std::os::unix::fs::symlink("busybox", tree.join("bin/sh")).expect("symlink");
    fs::write(tree.join("etc/motd"), "made by gnu tar\n").expect("write");
    let tarball = env.work.join("gnu.tar.zst");
    fixtures::tool(
        "tar",
        &[
            "--zstd",
            "-cf",
            path_str(&tarball),
            "-C",
            path_str(&tree),
            ".",
        ],
    );
    fixtures::make_readable(&tarball);
    let plain = zstd::decode_all(fs::read(&tarball).expect("read").as_slice()).expect("unzstd");

    let id = imported_id(&env.ok(&["import", path_str(&tarball), "gnu"]));
    let inspect = env.inspect("localhost/gnu:latest");
    assert_eq!(
        inspect["Id"].as_str(),
        Some(format!("sha256:{id}").as_str())
    );
    let diff_id = fixtures::sha256_hex(&plain);
    assert_eq!(
        strings(&inspect["RootFS"]["Layers"]),
        vec![format!("sha256:{diff_id}")]
    );
    let diff = env.layer_diff(&diff_id);
    assert_eq!(
        fs::read(diff.join("bin/busybox")).expect("busybox unpacked"),
        fs::read(fixtures::BUSYBOX).expect("host busybox")
    );
    assert_eq!(
        fs::read_link(diff.join("bin/sh")).expect("bin/sh").to_str(),
        Some("busybox")
    );
    assert_eq!(
        fs::read_to_string(diff.join("etc/motd")).expect("etc/motd"),
        "made by gnu tar\n"
    );
}

#[test]
fn import_of_a_file_that_is_not_a_tarball_fails_and_stores_nothing() {
    let Some(env) = TestEnv::new(
        "import_of_a_file_that_is_not_a_tarball_fails_and_stores_nothing",
        TestUser::Any,
    ) else {
        return;
    };
    let junk = env.fixture("junk.tar", "this is not a tarball\n".repeat(100).as_bytes());
    env.fails(&["import", path_str(&junk), "junk"]);
    assert!(env.images_json().is_empty(), "no image from junk");
    assert!(env.layer_ids().is_empty(), "no layer from junk");

    let missing = env.work.join("no-such-file.tar");
    let out = env.fails(&["import", path_str(&missing), "missing"]);
    assert!(
        out.error_line().contains("no-such-file.tar"),
        "the error names the file\n{out}"
    );
    assert!(env.images_json().is_empty());
}

#[test]
fn import_twice_under_one_name_moves_the_name_to_the_new_image() {
    let Some(env) = TestEnv::new(
        "import_twice_under_one_name_moves_the_name_to_the_new_image",
        TestUser::Any,
    ) else {
        return;
    };
    let first = fixtures::busybox_rootfs().finish();
    let second = fixtures::busybox_rootfs()
        .file("etc/second", 0o644, "2\n")
        .finish();
    let a = env.fixture("a.tar", &first.tar);
    let b = env.fixture("b.tar", &second.tar);
    let id_a = imported_id(&env.ok(&["import", path_str(&a), "same:1"]));
    let id_b = imported_id(&env.ok(&["import", path_str(&b), "same:1"]));
    assert_ne!(id_a, id_b);
    let inspect = env.inspect("localhost/same:1");
    assert_eq!(
        hex_of(inspect["Id"].as_str().expect("Id")),
        id_b,
        "the name follows the newest import"
    );
}

/// `--format` of `inspect` on one image, trimmed.
fn inspect_format(env: &TestEnv, image: &str, format: &str) -> String {
    env.ok(&["inspect", "--format", format, image])
        .stdout
        .trim()
        .to_string()
}

#[test]
fn import_with_changes_sets_the_config_as_containerfile_instructions_would() {
    let Some(env) = TestEnv::new("import_with_changes_sets_the_config", TestUser::WithSubids)
    else {
        return;
    };
    let rootfs = fixtures::busybox_rootfs().finish();
    let tarball = env.fixture("rootfs.tar", &rootfs.tar);
    let out = env.ok(&[
        "import",
        "-c",
        r#"CMD ["/bin/sh", "-c", "echo $X"]"#,
        "-c",
        "ENV X=1 PATH=/bin",
        "--change",
        "ENV Y=${X}2",
        "-c",
        "WORKDIR /srv",
        "-c",
        "WORKDIR app",
        "-c",
        "EXPOSE 8080 53/udp",
        "-c",
        r#"LABEL a=b "c d"=e"#,
        "-c",
        "USER 1000:1000",
        "-c",
        "VOLUME /data",
        "-c",
        "STOPSIGNAL SIGUSR1",
        "-c",
        "ONBUILD RUN true",
        "-m",
        "with changes",
        path_str(&tarball),
        "changed",
    ]);
    imported_id(&out);
    let image = "localhost/changed";
    assert_eq!(
        inspect_format(&env, image, "{{json .Config.Cmd}}"),
        r#"["/bin/sh","-c","echo $X"]"#,
        "exec form, no substitution"
    );
    assert_eq!(
        inspect_format(&env, image, "{{json .Config.Env}}"),
        r#"["X=1","PATH=/bin","Y=12"]"#,
        "ENV substitutes from the env set before it"
    );
    assert_eq!(
        inspect_format(&env, image, "{{.Config.WorkingDir}}"),
        "/srv/app",
        "a relative WORKDIR goes under the one before"
    );
    assert_eq!(
        inspect_format(&env, image, "{{json .Config.ExposedPorts}}"),
        r#"{"53/udp":{},"8080/tcp":{}}"#
    );
    assert_eq!(
        inspect_format(&env, image, "{{json .Config.Labels}}"),
        r#"{"a":"b","c d":"e"}"#
    );
    assert_eq!(inspect_format(&env, image, "{{.Config.User}}"), "1000:1000");
    assert_eq!(
        inspect_format(&env, image, "{{json .Config.Volumes}}"),
        r#"{"/data":{}}"#
    );
    assert_eq!(
        inspect_format(&env, image, "{{.Config.StopSignal}}"),
        "SIGUSR1"
    );
    assert_eq!(
        inspect_format(&env, image, "{{json .Config.OnBuild}}"),
        r#"["RUN true"]"#
    );
    let history = env.ok(&["history", "--no-trunc", image]).stdout;
    assert!(
        history.contains("with changes"),
        "-m is the comment\n{history}"
    );

    // The shell form goes through /bin/sh -c, as in a Containerfile; an
    // ENTRYPOINT drops a CMD the changes did not set.
    env.ok(&[
        "import",
        "-c",
        "ENTRYPOINT echo hi",
        path_str(&tarball),
        "shellform",
    ]);
    assert_eq!(
        inspect_format(&env, "localhost/shellform", "{{json .Config.Entrypoint}}"),
        r#"["/bin/sh","-c","echo hi"]"#
    );
    assert_eq!(
        inspect_format(&env, "localhost/shellform", "{{json .Config.Cmd}}"),
        "null"
    );
}

#[test]
fn import_refuses_a_change_it_cannot_apply_and_stores_nothing() {
    let Some(env) = TestEnv::new(
        "import_refuses_a_change_it_cannot_apply",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let rootfs = fixtures::busybox_rootfs().finish();
    let tarball = env.fixture("rootfs.tar", &rootfs.tar);
    for (change, says) in [
        ("RUN x", "RUN cannot be a change"),
        ("FROM scratch", "FROM cannot be a change"),
        ("COPY a b", "COPY cannot be a change"),
        ("BOGUS x", "unknown instruction"),
        ("ENV", "ENV"),
        ("EXPOSE 80/xyz", "invalid proto"),
        ("", "no instruction"),
    ] {
        let out = env.run(&[
            "import",
            "-c",
            "CMD sh",
            "-c",
            change,
            path_str(&tarball),
            "refused",
        ]);
        assert_eq!(
            out.code(),
            Some(common::EXIT_FAILURE),
            "-c {change:?}\n{out}"
        );
        assert!(
            out.error_line().contains(says),
            "-c {change:?} says {says:?}\n{out}"
        );
        assert!(env.images_json().is_empty(), "no image after -c {change:?}");
        assert!(env.layer_ids().is_empty(), "no layer after -c {change:?}");
    }
}
