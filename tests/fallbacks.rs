//! What burrow does where a shared server gives less than it needs,
//! driven end to end: a user without subordinate ids, an image with owners
//! beyond the range, no XDG_RUNTIME_DIR (as after `su`), and a runtime
//! directory someone planted in /tmp. (A storage root on NFS is refused
//! through the statfs seam in the unit tests of config and doctor: this
//! machine cannot mount a network filesystem.)

mod common;

use common::fixtures::{busybox_rootfs, Entry, Kind};
use common::{path_str, running_as_root, TestEnv, TestUser};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

/// A rootfs tarball with `opt/far` owned by 3000000 and `opt/near` by 1000.
fn far_owner_rootfs() -> common::fixtures::Layer {
    busybox_rootfs()
        .dir("opt")
        .entry(
            Entry::new("opt/far", Kind::File)
                .owner(3_000_000, 3_000_000)
                .data("far\n"),
        )
        .entry(
            Entry::new("opt/near", Kind::File)
                .owner(1000, 1000)
                .data("near\n"),
        )
        .finish()
}

#[test]
fn import_squashes_an_owner_beyond_the_range_with_a_note_naming_the_file() {
    let Some(env) = TestEnv::new(
        "import_squashes_an_owner_beyond_the_range_with_a_note_naming_the_file",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let a = env.account.clone();
    let rootfs = far_owner_rootfs();
    let tarball = env.fixture("far.tar", &rootfs.tar);
    let out = env.ok(&["import", path_str(&tarball), "far"]);

    let about_far: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("opt/far"))
        .collect();
    assert_eq!(
        about_far.len(),
        1,
        "one line names the squashed file\n{out}"
    );
    assert!(
        about_far[0].contains("squashed"),
        "it says what happened: {}",
        about_far[0]
    );
    assert!(
        !out.stderr.contains("opt/near"),
        "in-range owners are kept quietly\n{out}"
    );
    let diff = env.layer_diff(&rootfs.diff_id());
    assert_eq!(
        owner(&diff.join("opt/far")),
        (a.uid, a.gid),
        "squashed to root, which is you"
    );
    assert_eq!(
        owner(&diff.join("opt/near")),
        (a.host_uid(1000), a.host_gid(1000)),
        "an owner in range keeps its mapped id"
    );
    assert_eq!(fs::read_to_string(diff.join("opt/far")).unwrap(), "far\n");
}

#[test]
fn import_without_subids_squashes_every_owner_with_one_warning() {
    let Some(env) = TestEnv::new(
        "import_without_subids_squashes_every_owner_with_one_warning",
        TestUser::NoSubids,
    ) else {
        return;
    };
    let a = env.account.clone();
    let rootfs = far_owner_rootfs();
    let tarball = env.fixture("far.tar", &rootfs.tar);
    let out = env.ok(&["import", path_str(&tarball), "far"]);

    let warnings = out.warnings();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for the single-id map\n{out}"
    );
    assert!(
        warnings[0].contains("no subordinate uid range") && warnings[0].contains("usermod"),
        "it says why and what fixes it: {}",
        warnings[0]
    );
    let diff = env.layer_diff(&rootfs.diff_id());
    for f in ["opt/far", "opt/near", "bin/busybox"] {
        assert_eq!(
            owner(&diff.join(f)),
            (a.uid, a.gid),
            "{f} belongs to the user"
        );
    }
}

/// Moves an existing `/tmp/burrow-UID` aside for the test and puts it back
/// after, whatever the test did there.
struct TmpRuntimeDir {
    path: PathBuf,
    saved: Option<PathBuf>,
}

impl TmpRuntimeDir {
    fn take(uid: u32) -> TmpRuntimeDir {
        let path = PathBuf::from(format!("/tmp/burrow-{uid}"));
        let saved = fs::symlink_metadata(&path).is_ok().then(|| {
            let saved = PathBuf::from(format!(
                "/tmp/burrow-{uid}.saved-by-test-{}",
                std::process::id()
            ));
            fs::rename(&path, &saved).expect("move the existing runtime dir aside");
            saved
        });
        TmpRuntimeDir { path, saved }
    }

    fn clear(&self) {
        match fs::symlink_metadata(&self.path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&self.path).expect("remove runtime dir"),
            Ok(_) => fs::remove_file(&self.path).expect("remove planted file"),
            Err(_) => {}
        }
    }
}

impl Drop for TmpRuntimeDir {
    fn drop(&mut self) {
        self.clear();
        if let Some(saved) = &self.saved {
            let _ = fs::rename(saved, &self.path);
        }
    }
}

#[test]
fn without_xdg_runtime_dir_burrow_uses_a_private_tmp_dir_and_refuses_planted_ones() {
    let Some(env) = TestEnv::new(
        "without_xdg_runtime_dir_burrow_uses_a_private_tmp_dir_and_refuses_planted_ones",
        TestUser::Any,
    ) else {
        return;
    };
    let uid = env.account.uid;
    let dir = TmpRuntimeDir::take(uid);
    let unset = [("XDG_RUNTIME_DIR", None)];

    // As after `su`: no XDG_RUNTIME_DIR. A private dir, and a note.
    let out = env.run_env(&["images"], &unset);
    out.assert_ok();
    let note = format!(
        "Note: XDG_RUNTIME_DIR is not set; using {}",
        dir.path.display()
    );
    assert_eq!(
        out.stderr.lines().filter(|l| *l == note).count(),
        1,
        "one note names the fallback\n{out}"
    );
    let md = fs::symlink_metadata(&dir.path).expect("the fallback dir exists");
    assert!(md.is_dir());
    assert_eq!(md.uid(), uid, "owned by the user");
    assert_eq!(md.mode() & 0o7777, 0o700, "private to the user");
    // Doctor says the same, as a warning with its fix.
    let doc = env.run_env(&["doctor"], &unset);
    doc.assert_ok();
    assert!(
        doc.stdout
            .lines()
            .any(|l| l.starts_with("warn  runtime dir")
                && l.contains(&format!("using {}", dir.path.display()))),
        "{doc}"
    );

    // XDG_RUNTIME_DIR left pointing at another user's directory.
    let foreign = [("XDG_RUNTIME_DIR", Some("/"))];
    let out = env.run_env(&["images"], &foreign);
    out.assert_ok();
    assert!(
        out.stderr.contains(&format!(
            "Note: XDG_RUNTIME_DIR=/ belongs to uid 0, not to you (uid {uid}); using {}",
            dir.path.display()
        )) || uid == 0,
        "{out}"
    );

    // Planted with mode 0755 (by the user, or anyone who made it theirs).
    dir.clear();
    fs::create_dir(&dir.path).unwrap();
    fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o755)).unwrap();
    env.give(&dir.path);
    let out = env.run_env(&["images"], &unset);
    out.assert_error();
    assert!(
        out.error_line().contains(&format!(
            "runtime directory {}: has mode 0755, open to other users",
            dir.path.display()
        )),
        "{out}"
    );
    let doc = env.run_env(&["doctor"], &unset);
    doc.assert_error();
    assert_eq!(doc.error_line(), "Error: 1 check failed: runtime dir");
    assert!(doc.stdout.contains("FAIL  runtime dir"), "{doc}");

    // Planted as a symlink to a directory of the user's.
    dir.clear();
    std::os::unix::fs::symlink(&env.work, &dir.path).unwrap();
    if running_as_root() {
        std::os::unix::fs::lchown(&dir.path, Some(uid), Some(env.account.gid)).unwrap();
    }
    let out = env.run_env(&["images"], &unset);
    out.assert_error();
    assert!(out.error_line().contains("is a symbolic link"), "{out}");

    if !running_as_root() {
        eprintln!("SKIP the planted dir of another user: needs root to make one");
        return;
    }
    // Planted by another user (root here), private to them.
    dir.clear();
    fs::create_dir(&dir.path).unwrap();
    fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o700)).unwrap();
    let out = env.run_env(&["images"], &unset);
    out.assert_error();
    assert!(
        out.error_line().contains(&format!(
            "runtime directory {}: belongs to uid 0, not to you (uid {uid})",
            dir.path.display()
        )),
        "{out}"
    );
}
