//! Checks the test fixtures themselves with tools that are not burrow
//! (GNU tar, skopeo, umoci), so that a failing image test points at burrow
//! and not at a malformed fixture.

mod common;

use common::fixtures::{self, Compression, Entry, ImageSpec, Kind, LayerBuilder};
use std::fs;
use std::path::Path;

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("burrow-fixture.")
        .tempdir()
        .expect("temp dir")
}

fn gnu_tar_list(path: &Path, extra: &[&str]) -> String {
    let p = path.to_str().expect("utf-8 path");
    let mut args = vec!["--numeric-owner", "-tvf", p];
    args.extend_from_slice(extra);
    fixtures::tool("tar", &args)
}

#[test]
fn busybox_rootfs_tarball_reads_with_gnu_tar_in_every_compression() {
    let dir = scratch();
    let layer = fixtures::busybox_rootfs().finish();
    for (name, comp, flag) in [
        ("rootfs.tar", Compression::None, None),
        ("rootfs.tar.gz", Compression::Gzip, Some("-z")),
        ("rootfs.tar.zst", Compression::Zstd, Some("--zstd")),
    ] {
        let path = dir.path().join(name);
        fixtures::write_file(&path, &comp.compress(&layer.tar));
        let listing = gnu_tar_list(&path, flag.as_slice());
        assert!(listing.contains("bin/busybox"), "{name}:\n{listing}");
        assert!(listing.contains("bin/sh -> busybox"), "{name}:\n{listing}");
        assert!(listing.contains("etc/passwd"), "{name}:\n{listing}");
        assert!(
            listing.contains("drwxrwxrwt"),
            "tmp is 1777 in {name}:\n{listing}"
        );
    }
    // GNU tar extracts it to the same busybox.
    let out = dir.path().join("x");
    fs::create_dir(&out).expect("mkdir");
    fixtures::tool(
        "tar",
        &[
            "-xf",
            dir.path().join("rootfs.tar").to_str().expect("utf-8"),
            "-C",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(
        fs::read(out.join("bin/busybox")).expect("extracted busybox"),
        fs::read(fixtures::BUSYBOX).expect("host busybox")
    );
}

#[test]
fn same_layer_built_twice_has_same_diff_id() {
    let a = fixtures::busybox_rootfs().finish();
    let b = fixtures::busybox_rootfs().finish();
    assert_eq!(a.diff_id(), b.diff_id());
}

#[test]
fn pax_records_carry_long_names_big_owners_and_xattrs() {
    let dir = scratch();
    let long = format!("{}/file", "d".repeat(120));
    let layer = LayerBuilder::new()
        .entry(Entry::new(&long, Kind::File).data("x"))
        .entry(Entry::new("big", Kind::File).owner(3_000_000, 3_000_001))
        .entry(Entry::new("attr", Kind::File).xattr("user.fixture", b"v1"))
        .finish();
    let path = dir.path().join("l.tar");
    fixtures::write_file(&path, &layer.tar);
    let listing = gnu_tar_list(&path, &[]);
    assert!(listing.contains(&long), "{listing}");
    assert!(listing.contains("3000000/3000001"), "{listing}");
    let xattrs = gnu_tar_list(&path, &["--xattrs", "--xattrs-include=user.*", "-v"]);
    assert!(xattrs.contains("attr"), "{xattrs}");
    // Extraction restores the user xattr (tmpfs and ext4 both keep user.*).
    let out = dir.path().join("x");
    fs::create_dir(&out).expect("mkdir");
    fixtures::tool(
        "tar",
        &[
            "--xattrs",
            "--xattrs-include=user.*",
            "-xf",
            path.to_str().expect("utf-8"),
            "-C",
            out.to_str().expect("utf-8"),
            "attr",
        ],
    );
    assert_eq!(
        common::lgetxattr(&out.join("attr"), "user.fixture").as_deref(),
        Some(&b"v1"[..])
    );
}

#[test]
fn hostile_names_are_written_raw() {
    let dir = scratch();
    let layer = LayerBuilder::new()
        .entry(Entry::new("../../escape", Kind::File).data("x"))
        .entry(Entry::new("/abs/file", Kind::File).data("x"))
        .entry(Entry::new("link", Kind::Hardlink).link("/etc/passwd"))
        .entry(Entry::new("dev/null", Kind::CharDevice).device(1, 3))
        .finish();
    let path = dir.path().join("h.tar");
    fixtures::write_file(&path, &layer.tar);
    // -P: show names as stored instead of stripping `/` and `..`.
    let listing = gnu_tar_list(&path, &["-P"]);
    assert!(listing.contains(" ../../escape"), "{listing}");
    assert!(listing.contains(" /abs/file"), "{listing}");
    assert!(listing.contains("link link to /etc/passwd"), "{listing}");
    assert!(
        listing.starts_with('-') && listing.contains("\nc"),
        "{listing}"
    );
}

#[test]
fn docker_archive_fixture_reads_with_skopeo_and_keeps_config_digest() {
    let dir = scratch();
    let base = fixtures::busybox_rootfs().finish();
    let second = LayerBuilder::new().file("second.txt", 0o644, "2").finish();
    let third = LayerBuilder::new().file("third.txt", 0o644, "3").finish();
    let spec = ImageSpec::compressed(
        &["fixture:1"],
        vec![
            (base, Compression::Gzip),
            (second, Compression::Zstd),
            (third, Compression::None),
        ],
    );
    let archive = dir.path().join("a.tar");
    let layout = fixtures::write_docker_archive(&archive, std::slice::from_ref(&spec));
    assert_eq!(layout.layer_data.len(), 3);

    let transport = format!("docker-archive:{}", archive.display());
    let config = fixtures::skopeo_raw_config(&transport);
    assert_eq!(fixtures::sha256_hex(&config), spec.image_id());
    let inspect: serde_json::Value =
        serde_json::from_str(&fixtures::tool("skopeo", &["inspect", &transport]))
            .expect("skopeo inspect JSON");
    assert_eq!(inspect["Layers"].as_array().map(|a| a.len()), Some(3));

    // The recorded ranges point at the blobs: the first starts with gzip's magic.
    let bytes = fs::read(&archive).expect("read archive");
    let first = &layout.layer_data[0];
    assert_eq!(
        &bytes[first.start as usize..first.start as usize + 2],
        &[0x1f, 0x8b]
    );
}

#[test]
fn skopeo_oci_layout_from_fixture_keeps_config_and_layers() {
    let dir = scratch();
    let spec = ImageSpec::compressed(
        &["fixture:1"],
        vec![
            (fixtures::busybox_rootfs().finish(), Compression::Gzip),
            (
                LayerBuilder::new().file("x", 0o644, "x").finish(),
                Compression::Zstd,
            ),
            (
                LayerBuilder::new().file("y", 0o644, "y").finish(),
                Compression::None,
            ),
        ],
    );
    let archive = dir.path().join("a.tar");
    fixtures::write_docker_archive(&archive, std::slice::from_ref(&spec));
    let oci = dir.path().join("oci");
    let tag = "example.com/team/fixture:1";
    fixtures::skopeo_to_oci_dir(&archive, &oci, tag);
    // skopeo rewrites the config, so the OCI image id is the new config's
    // digest, but the layers (diff ids) stay.
    let config = fixtures::skopeo_raw_config(&format!("oci:{}", oci.display()));
    assert_eq!(
        fixtures::sha256_hex(&config),
        fixtures::oci_config_digest(&oci)
    );
    assert_eq!(fixtures::config_diff_ids(&config), spec.diff_ids());
    let index = fs::read_to_string(oci.join("index.json")).expect("index.json");
    assert!(index.contains(tag), "{index}");
    // umoci agrees that it is a valid layout with that tag.
    let stat = fixtures::tool(
        "umoci",
        &["stat", "--image", &format!("{}:{tag}", oci.display())],
    );
    assert!(stat.contains("LAYER"), "{stat}");

    let tar = dir.path().join("oci.tar");
    fixtures::skopeo_to_oci_archive(&archive, &tar, tag);
    let config2 = fixtures::skopeo_raw_config(&format!("oci-archive:{}", tar.display()));
    assert_eq!(config2, config);

    // Kept uncompressed on request: the layer blob is the fixture's tar.
    let raw = dir.path().join("raw");
    fixtures::skopeo_to_oci_dir_with(
        &archive,
        &raw,
        tag,
        &["--dest-oci-accept-uncompressed-layers"],
    );
    let last = spec.layers[2].0.diff_id();
    assert_eq!(
        fs::read(raw.join("blobs/sha256").join(&last)).expect("uncompressed blob"),
        spec.layers[2].0.tar
    );
}

#[test]
fn subid_ranges_of_test_users_are_read() {
    if !common::running_as_root() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIP subid_ranges_of_test_users_are_read: needs root (the CI users)"
        );
        return;
    }
    let r = common::subid_range("/etc/subuid", "burrow-test", 1001).expect("burrow-test range");
    assert!(
        r.count >= 65536,
        "burrow-test needs a full 65536 range: {r:?}"
    );
    assert!(common::subid_range("/etc/subuid", "burrow-nosub", 1002).is_none());
}

/// The shared Debian fixture imports into a store and its apt works from
/// the fixture's own repository: no network, as any user with the full
/// id map.
#[test]
fn debian_fixture_imports_and_apt_reads_its_repository() {
    let test = "debian_fixture_imports_and_apt_reads_its_repository";
    let Some(env) = common::TestEnv::new(test, common::TestUser::WithSubids) else {
        return;
    };
    let Some(fx) = common::debian::debian_image(&env, test) else {
        return;
    };
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &fx.repo_volume(),
        common::debian::IMAGE,
        "sh",
        "-c",
        "cat /etc/debian_version && dpkg -s apt ca-certificates >/dev/null && \
         apt-get update && apt-cache policy uuid-runtime",
    ]);
    assert!(out.stdout.starts_with("12."), "bookworm:\n{out}");
    assert!(
        out.stdout.contains("file:/srv/repo ./ Packages"),
        "the fixture's repository is the candidate's source:\n{out}"
    );
}
