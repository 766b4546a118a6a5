//! `burrow load` and `burrow save`: docker-archives and OCI layouts (dir and
//! tar) with their layers kept, whiteouts in overlayfs's native form, file
//! owners mapped through the user's subordinate ids, damaged archives
//! rejected without harm to the store, concurrent loads, and round trips.

mod common;

use common::fixtures::{self, Compression, Entry, ImageSpec, Kind, Layer, LayerBuilder};
use common::{hex_of, path_str, same_ref, strings, Output, TestEnv, TestUser};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The names `load` reported, one `Loaded image: NAME` line each.
fn loaded(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Loaded image: "))
        .map(|s| s.trim().to_string())
        .collect()
}

fn diff_ids_of(inspect: &serde_json::Value) -> Vec<String> {
    strings(&inspect["RootFS"]["Layers"])
        .iter()
        .map(|d| hex_of(d).to_string())
        .collect()
}

fn meta(path: &Path) -> fs::Metadata {
    fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn small_layer(name: &str) -> Layer {
    LayerBuilder::new()
        .dir("layer")
        .file(&format!("layer/{name}"), 0o644, format!("{name}\n"))
        .finish()
}

/// Loads `spec` as a docker-archive and checks the id and layers burrow
/// recorded.
fn load_spec(env: &TestEnv, file: &str, spec: &ImageSpec) -> Output {
    let (archive, _) = env.docker_archive(file, std::slice::from_ref(spec));
    let out = env.load(&archive);
    let inspect = env.inspect(&format!("sha256:{}", spec.image_id()));
    assert_eq!(
        diff_ids_of(&inspect),
        spec.diff_ids(),
        "layers kept in order"
    );
    out
}

#[test]
fn load_docker_archive_keeps_config_id_layers_and_every_tag() {
    let Some(env) = TestEnv::new(
        "load_docker_archive_keeps_config_id_layers_and_every_tag",
        TestUser::Any,
    ) else {
        return;
    };
    let base = fixtures::busybox_rootfs().finish();
    let top = small_layer("top");
    let spec = ImageSpec::new(
        &["busybox:latest", "example.com/team/tool:2"],
        vec![base.clone(), top.clone()],
    );
    let (archive, _) = env.docker_archive("two-tags.tar", std::slice::from_ref(&spec));
    let out = env.load(&archive);

    let names: BTreeSet<String> = loaded(&out).into_iter().collect();
    let want: BTreeSet<String> = [
        "docker.io/library/busybox:latest".to_string(),
        "example.com/team/tool:2".to_string(),
    ]
    .into();
    assert_eq!(
        names, want,
        "one `Loaded image:` line per tag, full names\n{out}"
    );

    let listed = env
        .image_by_id(&spec.image_id())
        .expect("the image id is the sha256 of its config");
    let inspect = env.inspect(&spec.image_id());
    assert_eq!(strings(&inspect["RootFS"]["Layers"]).len(), 2, "{inspect}");
    let listed_names: BTreeSet<String> = strings(&listed["Names"]).into_iter().collect();
    assert_eq!(listed_names, want, "{listed}");

    let inspect = env.inspect("busybox");
    assert_eq!(
        inspect["Id"].as_str(),
        Some(format!("sha256:{}", spec.image_id()).as_str())
    );
    assert_eq!(diff_ids_of(&inspect), vec![base.diff_id(), top.diff_id()]);
    assert_eq!(
        env.layer_ids(),
        [base.diff_id(), top.diff_id()].into_iter().collect()
    );
    assert_eq!(
        fs::read(env.layer_diff(&base.diff_id()).join("bin/busybox")).expect("busybox"),
        fs::read(fixtures::BUSYBOX).expect("host busybox")
    );
    assert_eq!(
        fs::read_to_string(env.layer_diff(&top.diff_id()).join("layer/top")).expect("top"),
        "top\n"
    );
}

/// Layer 1 has the files, layer 2 deletes one file and one directory and
/// makes one directory opaque, layer 3 adds a file.
fn whiteout_image(tags: &[&str]) -> ImageSpec {
    let l1 = fixtures::busybox_rootfs()
        .file("etc/removed.txt", 0o644, "gone in layer 2\n")
        .dir("keep")
        .file("keep/k.txt", 0o644, "k\n")
        .dir("opaque")
        .file("opaque/a.txt", 0o644, "a\n")
        .file("opaque/b.txt", 0o644, "b\n")
        .finish();
    let l2 = LayerBuilder::new()
        .dir("etc")
        .whiteout("etc/removed.txt")
        .whiteout("keep")
        .dir("opaque")
        .opaque("opaque")
        .file("opaque/c.txt", 0o644, "c\n")
        .finish();
    let l3 = LayerBuilder::new()
        .dir("etc")
        .file("etc/new.txt", 0o644, "new\n")
        .finish();
    ImageSpec::compressed(
        tags,
        vec![
            (l1, Compression::Gzip),
            (l2, Compression::Zstd),
            (l3, Compression::None),
        ],
    )
}

fn assert_whiteout(path: &Path) {
    let m = meta(path);
    assert!(
        m.file_type().is_char_device() && m.rdev() == 0,
        "{} is a whiteout: a character device 0:0 (type {:?}, rdev {})",
        path.display(),
        m.file_type(),
        m.rdev()
    );
}

#[test]
fn load_turns_whiteouts_into_char_devices_and_opaque_dirs_into_xattrs() {
    let Some(env) = TestEnv::new(
        "load_turns_whiteouts_into_char_devices_and_opaque_dirs_into_xattrs",
        TestUser::Any,
    ) else {
        return;
    };
    let spec = whiteout_image(&["example.com/fixture/whiteouts:1"]);
    load_spec(&env, "whiteouts.tar", &spec);
    let ids = spec.diff_ids();
    let (l1, l2, l3) = (
        env.layer_diff(&ids[0]),
        env.layer_diff(&ids[1]),
        env.layer_diff(&ids[2]),
    );

    // Layer 1 is as packed: nothing deleted, nothing opaque.
    assert!(meta(&l1.join("etc/removed.txt")).is_file());
    assert!(meta(&l1.join("opaque/a.txt")).is_file());
    assert_eq!(
        common::lgetxattr(&l1.join("opaque"), "user.overlay.opaque"),
        None
    );

    // Layer 2: whiteouts in overlayfs's form, markers gone.
    assert_whiteout(&l2.join("etc/removed.txt"));
    assert_whiteout(&l2.join("keep"));
    for marker in ["etc/.wh.removed.txt", ".wh.keep", "opaque/.wh..wh..opq"] {
        assert!(
            fs::symlink_metadata(l2.join(marker)).is_err(),
            "the marker {marker} is not left in the layer"
        );
    }
    let opaque = l2.join("opaque");
    assert!(meta(&opaque).is_dir());
    assert_eq!(
        common::lgetxattr(&opaque, "user.overlay.opaque").as_deref(),
        Some(&b"y"[..]),
        "the opaque dir carries user.overlay.opaque=y"
    );
    assert_eq!(
        fs::read_to_string(opaque.join("c.txt")).expect("opaque/c.txt"),
        "c\n"
    );
    assert!(fs::symlink_metadata(opaque.join("a.txt")).is_err());
    // A directory that only holds a whiteout is not made opaque.
    assert_eq!(
        common::lgetxattr(&l2.join("etc"), "user.overlay.opaque"),
        None
    );

    // Layer 3.
    assert_eq!(
        fs::read_to_string(l3.join("etc/new.txt")).expect("etc/new.txt"),
        "new\n"
    );
}

#[test]
fn load_keeps_hardlinks_symlinks_modes_mtimes_and_user_xattrs() {
    let Some(env) = TestEnv::new(
        "load_keeps_hardlinks_symlinks_modes_mtimes_and_user_xattrs",
        TestUser::Any,
    ) else {
        return;
    };
    let layer = LayerBuilder::new()
        .entry(
            Entry::new("data", Kind::Dir)
                .mode(0o750)
                .mtime(1_600_000_000),
        )
        .entry(
            Entry::new("data/file", Kind::File)
                .mode(0o644)
                .mtime(1_234_567_890)
                .xattr("user.fixture", b"value")
                .data("content\n"),
        )
        .hardlink("data/hard", "data/file")
        .symlink("data/sym", "file")
        .symlink("data/abs", "/etc/passwd")
        .entry(Entry::new("data/private", Kind::File).mode(0o600).data("p"))
        .entry(Entry::new("data/suid", Kind::File).mode(0o4755).data("s"))
        .entry(Entry::new("data/sgid-dir", Kind::Dir).mode(0o2775))
        .entry(Entry::new("data/sticky", Kind::Dir).mode(0o1777))
        .entry(Entry::new("data/empty", Kind::Dir).mode(0o700))
        .finish();
    let spec = ImageSpec::new(&["example.com/fixture/meta:1"], vec![layer.clone()]);
    load_spec(&env, "meta.tar", &spec);
    let d = env.layer_diff(&layer.diff_id()).join("data");

    let file = meta(&d.join("file"));
    assert_eq!(file.mode() & 0o7777, 0o644);
    assert_eq!(file.mtime(), 1_234_567_890, "file mtime kept");
    assert_eq!(
        fs::read_to_string(d.join("file")).expect("file"),
        "content\n"
    );
    assert_eq!(
        common::lgetxattr(&d.join("file"), "user.fixture").as_deref(),
        Some(&b"value"[..]),
        "user.* xattrs kept"
    );
    let hard = meta(&d.join("hard"));
    assert_eq!(
        hard.ino(),
        file.ino(),
        "data/hard is a hardlink of data/file"
    );
    assert_eq!(file.nlink(), 2);
    assert_eq!(
        fs::read_link(d.join("sym")).expect("sym").to_str(),
        Some("file")
    );
    assert_eq!(
        fs::read_link(d.join("abs")).expect("abs").to_str(),
        Some("/etc/passwd"),
        "an absolute symlink is kept as written (it resolves in the container)"
    );
    for (name, mode) in [
        ("private", 0o600),
        ("suid", 0o4755),
        ("sgid-dir", 0o2775),
        ("sticky", 0o1777),
        ("empty", 0o700),
    ] {
        assert_eq!(
            meta(&d.join(name)).mode() & 0o7777,
            mode,
            "data/{name} keeps mode {mode:o}"
        );
    }
    let dir = meta(&d);
    assert_eq!(dir.mode() & 0o7777, 0o750);
    assert_eq!(
        dir.mtime(),
        1_600_000_000,
        "a directory's mtime is kept, after its content was written"
    );
}

/// A base layer plus a layer with files owned by uid/gid 1000 and 65534,
/// setuid/setgid files, and an edge owner (65536, the last mapped id).
fn ownership_image(tags: &[&str]) -> (ImageSpec, Layer) {
    let owned = LayerBuilder::new()
        .dir("home")
        .dir("bin")
        .entry(Entry::new("home/user", Kind::Dir).owner(1000, 1000))
        .entry(
            Entry::new("home/user/owned", Kind::File)
                .owner(1000, 1000)
                .data("mine\n"),
        )
        .entry(
            Entry::new("bin/suid", Kind::File)
                .mode(0o4755)
                .owner(0, 0)
                .data("#!/bin/sh\n"),
        )
        .entry(
            Entry::new("bin/sgid", Kind::File)
                .mode(0o2755)
                .owner(0, 1000)
                .data("#!/bin/sh\n"),
        )
        .entry(
            Entry::new("bin/suid-user", Kind::File)
                .mode(0o4750)
                .owner(1000, 1000)
                .data("#!/bin/sh\n"),
        )
        .entry(Entry::new("srv", Kind::Dir))
        .entry(
            Entry::new("srv/nobody", Kind::File)
                .owner(65534, 65534)
                .data("n\n"),
        )
        .entry(
            Entry::new("srv/edge", Kind::File)
                .owner(65536, 65536)
                .data("e\n"),
        )
        .finish();
    let spec = ImageSpec::new(
        tags,
        vec![fixtures::busybox_rootfs().finish(), owned.clone()],
    );
    (spec, owned)
}

fn owner(path: &Path) -> (u32, u32) {
    let m = meta(path);
    (m.uid(), m.gid())
}

#[test]
fn load_maps_owners_into_the_subordinate_range_and_keeps_setuid() {
    let Some(env) = TestEnv::new(
        "load_maps_owners_into_the_subordinate_range_and_keeps_setuid",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let a = env.account.clone();
    let (spec, owned) = ownership_image(&["example.com/fixture/owners:1"]);
    let out = load_spec(&env, "owners.tar", &spec);
    assert!(
        out.warnings().is_empty(),
        "every owner is in the range: no warning\n{out}"
    );
    let d = env.layer_diff(&owned.diff_id());
    let base = env.layer_diff(&spec.diff_ids()[0]);

    assert_eq!(
        owner(&base.join("bin/busybox")),
        (a.uid, a.gid),
        "root in the image is the user on the host"
    );
    let user = (a.host_uid(1000), a.host_gid(1000));
    assert_eq!(
        user,
        (
            a.subuid.expect("range").start + 999,
            a.subgid.expect("range").start + 999
        )
    );
    assert_eq!(
        owner(&d.join("home/user")),
        user,
        "uid 1000 is subuid start + 999"
    );
    assert_eq!(owner(&d.join("home/user/owned")), user);
    assert_eq!(
        owner(&d.join("srv/nobody")),
        (a.host_uid(65534), a.host_gid(65534))
    );
    assert_eq!(
        owner(&d.join("srv/edge")),
        (a.host_uid(65536), a.host_gid(65536)),
        "the last id of the range is still mapped"
    );

    assert_eq!(owner(&d.join("bin/suid")), (a.uid, a.gid));
    assert_eq!(
        meta(&d.join("bin/suid")).mode() & 0o7777,
        0o4755,
        "setuid kept"
    );
    assert_eq!(owner(&d.join("bin/sgid")), (a.uid, a.host_gid(1000)));
    assert_eq!(
        meta(&d.join("bin/sgid")).mode() & 0o7777,
        0o2755,
        "setgid kept"
    );
    assert_eq!(owner(&d.join("bin/suid-user")), user);
    assert_eq!(
        meta(&d.join("bin/suid-user")).mode() & 0o7777,
        0o4750,
        "setuid kept on a file whose owner was changed (chown clears it)"
    );
}

#[test]
fn load_without_subordinate_ids_squashes_owners_to_the_user_with_one_warning() {
    let Some(env) = TestEnv::new(
        "load_without_subordinate_ids_squashes_owners_to_the_user_with_one_warning",
        TestUser::NoSubids,
    ) else {
        return;
    };
    let a = env.account.clone();
    let (mut spec, owned) = ownership_image(&["example.com/fixture/owners:1"]);
    // A second layer with other owners: still one warning for the command.
    let more = LayerBuilder::new()
        .entry(Entry::new("opt", Kind::Dir).owner(1000, 1000))
        .entry(
            Entry::new("opt/more", Kind::File)
                .owner(2000, 2000)
                .data("m"),
        )
        .finish();
    spec.layers.push((more.clone(), Compression::None));
    let out = load_spec(&env, "owners.tar", &spec);

    let warnings = out.warnings();
    assert_eq!(
        warnings.len(),
        1,
        "exactly one warning about the single-id map\n{out}"
    );
    let w = warnings[0].to_ascii_lowercase();
    assert!(
        w.contains("subordinate") || w.contains("subuid") || w.contains("single"),
        "the warning says why owners are squashed: {}",
        warnings[0]
    );

    let d = env.layer_diff(&owned.diff_id());
    for f in [
        "home/user",
        "home/user/owned",
        "srv/nobody",
        "srv/edge",
        "bin/suid",
        "bin/sgid",
        "bin/suid-user",
    ] {
        assert_eq!(
            owner(&d.join(f)),
            (a.uid, a.gid),
            "{f} is squashed to the user"
        );
    }
    assert_eq!(
        owner(&env.layer_diff(&more.diff_id()).join("opt/more")),
        (a.uid, a.gid)
    );
    assert_eq!(
        meta(&d.join("bin/suid")).mode() & 0o7777,
        0o4755,
        "setuid kept"
    );
    assert_eq!(
        meta(&d.join("bin/suid-user")).mode() & 0o7777,
        0o4750,
        "setuid kept"
    );
    assert_eq!(
        meta(&d.join("bin/sgid")).mode() & 0o7777,
        0o2755,
        "setgid kept"
    );
}

#[test]
fn load_squashes_an_owner_beyond_the_range_with_a_warning_naming_the_file() {
    let Some(env) = TestEnv::new(
        "load_squashes_an_owner_beyond_the_range_with_a_warning_naming_the_file",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let a = env.account.clone();
    let layer = LayerBuilder::new()
        .dir("opt")
        .entry(
            Entry::new("opt/far-owner", Kind::File)
                .owner(3_000_000, 3_000_000)
                .data("far\n"),
        )
        .entry(
            Entry::new("opt/near-owner", Kind::File)
                .owner(1000, 1000)
                .data("near\n"),
        )
        .finish();
    let spec = ImageSpec::new(&["example.com/fixture/far:1"], vec![layer.clone()]);
    let out = load_spec(&env, "far.tar", &spec);

    assert!(
        out.stderr.contains("opt/far-owner"),
        "a warning names the squashed file\n{out}"
    );
    assert!(
        !out.stderr.contains("opt/near-owner"),
        "a file in range is not warned about\n{out}"
    );
    let d = env.layer_diff(&layer.diff_id());
    assert_eq!(
        owner(&d.join("opt/far-owner")),
        (a.uid, a.gid),
        "an owner beyond the range is squashed to root (the user)"
    );
    assert_eq!(
        owner(&d.join("opt/near-owner")),
        (a.host_uid(1000), a.host_gid(1000))
    );
    assert_eq!(
        fs::read_to_string(d.join("opt/far-owner")).expect("read"),
        "far\n"
    );
}

#[test]
fn load_of_120_layers_keeps_every_layer_in_order() {
    let Some(env) = TestEnv::new(
        "load_of_120_layers_keeps_every_layer_in_order",
        TestUser::Any,
    ) else {
        return;
    };
    let mut layers = vec![fixtures::busybox_rootfs().finish()];
    for i in 1..120 {
        layers.push(
            LayerBuilder::new()
                .dir("layers")
                .file(&format!("layers/{i:03}"), 0o644, format!("{i}\n"))
                .finish(),
        );
    }
    let spec = ImageSpec::new(&["example.com/fixture/many:120"], layers.clone());
    load_spec(&env, "many.tar", &spec);

    assert!(env.image_by_id(&spec.image_id()).is_some(), "listed");
    let inspect = env.inspect(&spec.image_id());
    assert_eq!(strings(&inspect["RootFS"]["Layers"]).len(), 120);
    assert_eq!(env.layer_ids().len(), 120);
    for (i, layer) in layers.iter().enumerate().skip(1) {
        let f = env
            .layer_diff(&layer.diff_id())
            .join(format!("layers/{i:03}"));
        assert_eq!(
            fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())),
            format!("{i}\n")
        );
    }
}

/// Loads a good image, runs `images`, and returns what the store and the
/// world outside it looked like, for a damaged load to be compared with.
struct Before {
    good_id: String,
    store: BTreeSet<PathBuf>,
    outside: common::Listing,
}

fn good_store(env: &TestEnv) -> Before {
    let spec = ImageSpec::new(
        &["example.com/fixture/good:1"],
        vec![fixtures::busybox_rootfs().finish()],
    );
    load_spec(env, "good.tar", &spec);
    env.ok(&["images"]);
    Before {
        good_id: spec.image_id(),
        store: env.store_paths(),
        outside: env.outside_listing(),
    }
}

/// After a failed load and one more command: the store holds exactly what
/// it held before (paths under `allowed` layers excepted: a complete layer
/// may be kept), nothing outside changed, the good image is intact, and a
/// new valid load works.
fn assert_store_recovered(env: &TestEnv, before: &Before, allowed: &[String], what: &str) {
    let images = env.images_json();
    let ids: Vec<&str> = images
        .iter()
        .filter_map(|i| i["ID"].as_str().map(hex_of))
        .collect();
    assert_eq!(
        ids,
        vec![before.good_id.as_str()],
        "{what}: only the good image"
    );

    // Whatever the store keeps for a complete layer names its diff id.
    let keep = |p: &PathBuf| {
        !allowed
            .iter()
            .any(|hex| p.to_string_lossy().contains(hex.as_str()))
    };
    let now: BTreeSet<PathBuf> = env.store_paths().into_iter().filter(keep).collect();
    let then: BTreeSet<PathBuf> = before.store.iter().filter(|p| keep(p)).cloned().collect();
    let added: Vec<_> = now.difference(&then).collect();
    let removed: Vec<_> = then.difference(&now).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "{what}: the store is not as it was once the next command ran\nleft behind: {added:#?}\nlost: {removed:#?}"
    );
    before
        .outside
        .assert_unchanged(&env.outside_listing(), what);

    let next = ImageSpec::new(
        &["example.com/fixture/next:1"],
        vec![fixtures::busybox_rootfs().finish(), small_layer("next")],
    );
    load_spec(env, "next.tar", &next);
    assert_eq!(env.images_json().len(), 2, "{what}: the store still loads");
}

#[test]
fn load_of_archive_truncated_mid_layer_fails_and_store_stays_usable() {
    let Some(env) = TestEnv::new(
        "load_of_archive_truncated_mid_layer_fails_and_store_stays_usable",
        TestUser::Any,
    ) else {
        return;
    };
    let first = small_layer("first");
    let big = fixtures::bulky_layer("big", 1 << 20, 7);
    let cases = [
        ("cut-plain.tar", Compression::None),
        ("cut-gzip.tar", Compression::Gzip),
    ];
    let mut files = Vec::new();
    for (name, comp) in cases {
        let spec = ImageSpec::compressed(
            &["example.com/fixture/cut:1"],
            vec![(first.clone(), Compression::None), (big.clone(), comp)],
        );
        let (path, layout) = env.docker_archive(name, std::slice::from_ref(&spec));
        let cut = &layout.layer_data[1];
        let bytes = fs::read(&path).expect("read archive");
        fixtures::write_file(
            &path,
            &bytes[..(cut.start + (cut.end - cut.start) / 2) as usize],
        );
        files.push(path);
    }
    let before = good_store(&env);
    for path in &files {
        env.fails(&["load", "-i", path_str(path)]);
        assert!(
            !env.layer_ids().contains(&big.diff_id()),
            "no partial layer for the cut blob"
        );
        if env.layer_ids().contains(&first.diff_id()) {
            assert_eq!(
                fs::read_to_string(env.layer_diff(&first.diff_id()).join("layer/first"))
                    .expect("a kept layer is complete"),
                "first\n"
            );
        }
    }
    assert_store_recovered(&env, &before, &[first.diff_id()], "truncated archive");
}

#[test]
fn load_of_layer_not_matching_its_diff_id_names_both_digests() {
    let Some(env) = TestEnv::new(
        "load_of_layer_not_matching_its_diff_id_names_both_digests",
        TestUser::Any,
    ) else {
        return;
    };
    let first = small_layer("first");
    let second = small_layer("second");
    let claimed = fixtures::sha256_hex(b"not the layer");
    let mut spec = ImageSpec::new(
        &["example.com/fixture/mismatch:1"],
        vec![first.clone(), second.clone()],
    );
    spec.diff_ids_override = Some(vec![first.diff_id(), claimed.clone()]);
    let (archive, _) = env.docker_archive("mismatch.tar", std::slice::from_ref(&spec));
    let before = good_store(&env);

    let out = env.fails(&["load", "-i", path_str(&archive)]);
    let line = out.error_line();
    assert!(
        line.contains(&claimed) && line.contains(&second.diff_id()),
        "the error names the expected ({claimed}) and the actual ({}) digest\n{out}",
        second.diff_id()
    );
    let layers = env.layer_ids();
    assert!(!layers.contains(&claimed) && !layers.contains(&second.diff_id()));
    assert_store_recovered(&env, &before, &[first.diff_id()], "digest mismatch");
}

#[test]
fn load_of_oci_layout_with_a_corrupted_blob_names_both_digests() {
    let Some(env) = TestEnv::new(
        "load_of_oci_layout_with_a_corrupted_blob_names_both_digests",
        TestUser::Any,
    ) else {
        return;
    };
    let layer = small_layer("real");
    let spec = ImageSpec::new(&["example.com/fixture/corrupt:1"], vec![layer.clone()]);
    let (archive, _) = env.docker_archive("src.tar", std::slice::from_ref(&spec));
    let oci = env.work.join("oci");
    fixtures::skopeo_to_oci_dir_with(
        &archive,
        &oci,
        "example.com/fixture/corrupt:1",
        &["--dest-oci-accept-uncompressed-layers"],
    );
    // Change one byte of the file's content in the (uncompressed) layer
    // blob, keeping its name and size: still a valid tar, another digest.
    let named = layer.diff_id();
    let blob = oci.join("blobs/sha256").join(&named);
    let mut bytes = fs::read(&blob).expect("the layer blob is stored uncompressed");
    assert_eq!(bytes, layer.tar);
    let at = 1024; // after the headers of `layer` and `layer/real`
    assert_eq!(&bytes[at..at + 5], b"real\n");
    bytes[at] = b'R';
    let actual = fixtures::sha256_hex(&bytes);
    fixtures::write_file(&blob, &bytes);
    let before = good_store(&env);

    let out = env.fails(&["load", "-i", path_str(&oci)]);
    let line = out.error_line();
    assert!(
        line.contains(&named) && line.contains(&actual),
        "the error names the blob's digest ({named}) and what its content hashes to ({actual})\n{out}"
    );
    assert_store_recovered(&env, &before, &[], "corrupted blob");
}

#[test]
fn concurrent_loads_of_the_same_image_both_succeed_and_store_it_once() {
    let Some(env) = TestEnv::new(
        "concurrent_loads_of_the_same_image_both_succeed_and_store_it_once",
        TestUser::Any,
    ) else {
        return;
    };
    let spec = ImageSpec::compressed(
        &["example.com/fixture/race:1"],
        vec![
            (fixtures::busybox_rootfs().finish(), Compression::Gzip),
            (fixtures::bulky_layer("one", 8 << 20, 1), Compression::None),
            (fixtures::bulky_layer("two", 8 << 20, 2), Compression::Zstd),
        ],
    );
    let (archive, _) = env.docker_archive("race.tar", std::slice::from_ref(&spec));
    let a = env.spawn(&["load", "-i", path_str(&archive)]);
    let b = env.spawn(&["load", "-i", path_str(&archive)]);
    let (a, b) = (common::finish(a), common::finish(b));
    for out in [&a, &b] {
        out.assert_ok();
        assert_eq!(
            loaded(out),
            vec!["example.com/fixture/race:1".to_string()],
            "{out}"
        );
    }

    let images = env.images_json();
    assert_eq!(images.len(), 1, "one image: {images:?}");
    assert_eq!(
        images[0]["ID"].as_str().map(hex_of),
        Some(spec.image_id().as_str())
    );
    assert_eq!(
        strings(&images[0]["Names"]),
        vec!["example.com/fixture/race:1".to_string()],
        "the name once"
    );
    assert_eq!(
        env.layer_ids(),
        spec.diff_ids().into_iter().collect(),
        "each layer once"
    );
    for (i, name) in [(1, "one"), (2, "two")] {
        let f = env.layer_diff(&spec.diff_ids()[i]).join("data").join(name);
        assert_eq!(meta(&f).len(), 8 << 20, "{name} complete");
    }
    assert_eq!(
        fs::read(env.layer_diff(&spec.diff_ids()[0]).join("bin/busybox")).expect("busybox"),
        fs::read(fixtures::BUSYBOX).expect("host busybox")
    );
}

/// burrow's data and cache dirs as paths relative to the test root, to
/// compare two stores.
fn relative_store_paths(env: &TestEnv) -> BTreeSet<PathBuf> {
    env.store_paths()
        .into_iter()
        .map(|p| {
            p.strip_prefix(&env.root)
                .expect("under the root")
                .to_path_buf()
        })
        .collect()
}

#[test]
fn load_killed_midway_leaves_the_store_usable_and_the_next_load_cleans_up() {
    let test = "load_killed_midway_leaves_the_store_usable_and_the_next_load_cleans_up";
    let spec = ImageSpec::compressed(
        &["example.com/fixture/killed:1"],
        vec![
            (fixtures::busybox_rootfs().finish(), Compression::Gzip),
            (
                fixtures::bulky_layer("one", 16 << 20, 11),
                Compression::None,
            ),
            (
                fixtures::bulky_layer("two", 16 << 20, 12),
                Compression::Zstd,
            ),
            (
                fixtures::bulky_layer("three", 16 << 20, 13),
                Compression::None,
            ),
        ],
    );
    // What the store holds after one clean load.
    let Some(reference) = TestEnv::new(test, TestUser::Any) else {
        return;
    };
    let (built, _) = reference.docker_archive("killed.tar", std::slice::from_ref(&spec));
    reference.load(&built);
    reference.ok(&["images"]);
    let clean = relative_store_paths(&reference);
    let bytes = fs::read(&built).expect("read archive");
    drop(reference);

    // Kills from early (reading the archive) to late (a layer being moved
    // into place or the image committed); a debug build loads this in ~2 s.
    for delay_ms in [10, 100, 400, 1000] {
        let Some(env) = TestEnv::new(test, TestUser::Any) else {
            return;
        };
        let archive = env.fixture("killed.tar", &bytes);
        let mut child = env.spawn(&["load", "-i", path_str(&archive)]);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        common::kill_group(&mut child);

        // The store answers, then the same load completes the image.
        env.ok(&["images"]);
        env.load(&archive);
        let inspect = env.inspect("example.com/fixture/killed:1");
        assert_eq!(
            inspect["Id"].as_str(),
            Some(format!("sha256:{}", spec.image_id()).as_str()),
            "killed after {delay_ms} ms"
        );
        for (i, name) in [(1, "one"), (2, "two"), (3, "three")] {
            let f = env.layer_diff(&spec.diff_ids()[i]).join("data").join(name);
            assert_eq!(
                meta(&f).len(),
                16 << 20,
                "{name} complete after a kill at {delay_ms} ms"
            );
        }
        env.ok(&["images"]);
        let now = relative_store_paths(&env);
        let added: Vec<_> = now.difference(&clean).collect();
        let removed: Vec<_> = clean.difference(&now).collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "killed after {delay_ms} ms: the store differs from a clean load's\nleft behind: {added:#?}\nmissing: {removed:#?}"
        );
    }
}

#[test]
fn load_of_skopeo_oci_layout_dir_and_tar_keeps_layers() {
    let Some(env) = TestEnv::new(
        "load_of_skopeo_oci_layout_dir_and_tar_keeps_layers",
        TestUser::Any,
    ) else {
        return;
    };
    let spec = whiteout_image(&["example.com/fixture/src:1"]);
    let (archive, _) = env.docker_archive("src.tar", std::slice::from_ref(&spec));
    let dir = env.work.join("layout");
    fixtures::skopeo_to_oci_dir(&archive, &dir, "example.com/fixture/oci:dir");
    let tar = env.work.join("layout.tar");
    fixtures::skopeo_to_oci_archive(&archive, &tar, "example.com/fixture/oci:tar");
    let id = fixtures::oci_config_digest(&dir);

    let out = env.load(&dir);
    assert_eq!(
        loaded(&out),
        vec!["example.com/fixture/oci:dir".to_string()],
        "{out}"
    );
    let inspect = env.inspect("example.com/fixture/oci:dir");
    assert_eq!(
        inspect["Id"].as_str(),
        Some(format!("sha256:{id}").as_str())
    );
    assert_eq!(diff_ids_of(&inspect), spec.diff_ids(), "three layers kept");
    assert_eq!(env.layer_ids(), spec.diff_ids().into_iter().collect());
    assert_whiteout(&env.layer_diff(&spec.diff_ids()[1]).join("etc/removed.txt"));

    let out = env.load(&tar);
    assert_eq!(
        loaded(&out),
        vec!["example.com/fixture/oci:tar".to_string()],
        "{out}"
    );
    let inspect = env.inspect("example.com/fixture/oci:tar");
    assert_eq!(
        inspect["Id"].as_str(),
        Some(format!("sha256:{id}").as_str()),
        "the same config: the same image"
    );
    let images = env.images_json();
    assert_eq!(images.len(), 1, "{images:?}");
    let names: BTreeSet<String> = strings(&images[0]["Names"]).into_iter().collect();
    assert_eq!(
        names,
        [
            "example.com/fixture/oci:dir".to_string(),
            "example.com/fixture/oci:tar".to_string()
        ]
        .into()
    );
    assert_eq!(env.layer_ids().len(), 3, "layers stored once");
}

#[test]
fn load_of_untagged_archive_prints_the_image_id() {
    let Some(env) = TestEnv::new(
        "load_of_untagged_archive_prints_the_image_id",
        TestUser::Any,
    ) else {
        return;
    };
    let spec = ImageSpec::new(&[], vec![small_layer("untagged")]);
    let (archive, _) = env.docker_archive("untagged.tar", std::slice::from_ref(&spec));
    let out = env.load(&archive);
    assert_eq!(
        loaded(&out),
        vec![format!("sha256:{}", spec.image_id())],
        "{out}"
    );
    let listed = env.image_by_id(&spec.image_id()).expect("listed");
    assert!(strings(&listed["Names"]).is_empty(), "no names: {listed}");
}

/// Loads the whiteout image (with a metadata layer) into `env`, saves it
/// in `format` to `out`, checks the saved file with skopeo, loads it into a
/// fresh store and returns the id there.
fn save_and_reload(test: &str, format: Option<&str>, out_name: &str, transport: &str) {
    let Some(env) = TestEnv::new(test, TestUser::Any) else {
        return;
    };
    let mut spec = whiteout_image(&["example.com/fixture/roundtrip:1"]);
    spec.layers.push((
        LayerBuilder::new()
            .entry(
                Entry::new("meta", Kind::File)
                    .mode(0o4755)
                    .mtime(1_234_567_890)
                    .xattr("user.fixture", b"kept")
                    .data("m"),
            )
            .hardlink("meta-link", "meta")
            .entry(Entry::new("owned", Kind::File).owner(1000, 1000).data("o"))
            .finish(),
        Compression::Gzip,
    ));
    load_spec(&env, "roundtrip.tar", &spec);
    let id = spec.image_id();

    let saved = env.work.join(out_name);
    let mut args = vec!["save", "-o", path_str(&saved)];
    if let Some(f) = format {
        args.extend(["--format", f]);
    }
    args.push("example.com/fixture/roundtrip:1");
    env.ok(&args);

    // An outside reader finds the same config in what burrow wrote. An OCI
    // tar is unpacked with GNU tar first (skopeo run by a user other than
    // root cannot unpack one whose entries are owned by root).
    let config = if transport == "oci-archive" {
        let dir = env.work.join("saved-oci-unpacked");
        fs::create_dir(&dir).expect("mkdir");
        fixtures::tool(
            "tar",
            &[
                "--no-same-owner",
                "-xf",
                path_str(&saved),
                "-C",
                path_str(&dir),
            ],
        );
        if common::running_as_root() {
            let direct = fixtures::skopeo_raw_config(&format!("oci-archive:{}", saved.display()));
            assert_eq!(fixtures::sha256_hex(&direct), id);
        }
        fixtures::skopeo_raw_config(&format!("oci:{}", dir.display()))
    } else {
        fixtures::skopeo_raw_config(&format!("{transport}:{}", saved.display()))
    };
    assert_eq!(
        fixtures::sha256_hex(&config),
        id,
        "the saved config is byte for byte the loaded one"
    );
    assert_eq!(fixtures::config_diff_ids(&config), spec.diff_ids());

    let Some(fresh) = TestEnv::new(test, TestUser::Any) else {
        return;
    };
    let copy = fresh.work.join(out_name);
    fixtures::tool("cp", &["-a", path_str(&saved), path_str(&copy)]);
    fixtures::make_readable(&copy);
    let out = fresh.load(&copy);
    assert!(
        loaded(&out)
            .iter()
            .any(|n| same_ref(n, "example.com/fixture/roundtrip:1")),
        "{out}"
    );
    let inspect = fresh.inspect("example.com/fixture/roundtrip:1");
    assert_eq!(
        inspect["Id"].as_str(),
        Some(format!("sha256:{id}").as_str()),
        "save then load gives the same image id"
    );
    assert_eq!(diff_ids_of(&inspect), spec.diff_ids());
    assert_eq!(fresh.layer_ids(), spec.diff_ids().into_iter().collect());
    assert_whiteout(
        &fresh
            .layer_diff(&spec.diff_ids()[1])
            .join("etc/removed.txt"),
    );
    let meta_file = fresh.layer_diff(&spec.diff_ids()[3]).join("meta");
    assert_eq!(meta(&meta_file).mode() & 0o7777, 0o4755);
    assert_eq!(
        common::lgetxattr(&meta_file, "user.fixture").as_deref(),
        Some(&b"kept"[..])
    );
}

#[test]
fn save_docker_archive_then_load_gives_the_same_image_id() {
    save_and_reload(
        "save_docker_archive_then_load_gives_the_same_image_id",
        None,
        "saved.tar",
        "docker-archive",
    );
}

#[test]
fn save_oci_archive_then_load_gives_the_same_image_id() {
    save_and_reload(
        "save_oci_archive_then_load_gives_the_same_image_id",
        Some("oci-archive"),
        "saved-oci.tar",
        "oci-archive",
    );
}

#[test]
fn save_oci_dir_then_load_gives_the_same_image_id() {
    save_and_reload(
        "save_oci_dir_then_load_gives_the_same_image_id",
        Some("oci-dir"),
        "saved-oci-dir",
        "oci",
    );
}

#[test]
fn save_of_two_images_into_one_archive_loads_both() {
    let Some(env) = TestEnv::new(
        "save_of_two_images_into_one_archive_loads_both",
        TestUser::Any,
    ) else {
        return;
    };
    let base = fixtures::busybox_rootfs().finish();
    let a = ImageSpec::new(
        &["example.com/fixture/a:1"],
        vec![base.clone(), small_layer("a")],
    );
    let b = ImageSpec::new(&["example.com/fixture/b:1"], vec![base, small_layer("b")]);
    let (archive, _) = env.docker_archive("ab.tar", &[a.clone(), b.clone()]);
    let out = env.load(&archive);
    assert_eq!(loaded(&out).len(), 2, "{out}");

    let saved = env.work.join("both.tar");
    env.ok(&[
        "save",
        "-o",
        path_str(&saved),
        "example.com/fixture/a:1",
        "example.com/fixture/b:1",
    ]);
    let listing = fixtures::tool("tar", &["-tf", path_str(&saved)]);
    assert!(listing.lines().any(|l| l == "manifest.json"), "{listing}");

    let Some(fresh) = TestEnv::new(
        "save_of_two_images_into_one_archive_loads_both",
        TestUser::Any,
    ) else {
        return;
    };
    let copy = fresh.work.join("both.tar");
    fs::copy(&saved, &copy).expect("copy");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o644)).expect("chmod");
    fresh.load(&copy);
    let ids: BTreeSet<String> = fresh
        .images_json()
        .iter()
        .filter_map(|i| i["ID"].as_str().map(|id| hex_of(id).to_string()))
        .collect();
    assert_eq!(ids, [a.image_id(), b.image_id()].into());
    assert_eq!(fresh.layer_ids().len(), 3, "the shared base layer once");
}
