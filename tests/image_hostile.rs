//! Hostile layers, one per way out of the layer: a `../` path, an absolute
//! path, a write through a symlink, hardlinks to outside and to a host
//! file, a device node. Each is either resolved inside the layer's root (as
//! a chroot would) or rejects the layer with an error naming the entry; in
//! every case nothing outside the store changes, no host file gains a link,
//! and a rejected layer leaves nothing in the store.
//!
//! The escapes aim at the test's canary dir, which the test user owns: an
//! unpacker that followed them would succeed in writing there.

mod common;

use common::fixtures::{self, Entry, ImageSpec, Kind, Layer, LayerBuilder};
use common::{path_str, FileState, Listing, Output, TestEnv, TestUser};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// More `../` than any store path is deep: from wherever burrow unpacks,
/// this climbs to `/`.
const UP: &str = "../../../../../../../../../../../../../../../../../../../../../../../../";

/// The test world before the hostile load.
struct Scene {
    env: TestEnv,
    base: Layer,
    store: BTreeSet<PathBuf>,
    outside: Listing,
    passwd: FileState,
}

impl Scene {
    /// A store holding one good image (whose base layer the hostile image
    /// shares), with one command run after it.
    fn new(test: &str) -> Option<Scene> {
        let env = TestEnv::new(test, TestUser::Any)?;
        let base = fixtures::busybox_rootfs().finish();
        let spec = ImageSpec::new(&["example.com/fixture/base:1"], vec![base.clone()]);
        let (archive, _) = env.docker_archive("base.tar", std::slice::from_ref(&spec));
        env.load(&archive);
        env.ok(&["images"]);
        Some(Scene {
            store: env.store_paths(),
            outside: env.outside_listing(),
            passwd: common::host_file_state("/etc/passwd"),
            env,
            base,
        })
    }

    /// The canary dir as a path relative to `/`, for names that aim at it.
    fn canary_rel(&self) -> String {
        path_str(&self.env.canary)
            .trim_start_matches('/')
            .to_string()
    }

    /// Loads an image of the shared base layer plus `hostile`; the archive
    /// is written before the world was listed, so it is not a change.
    fn load(&mut self, hostile: &Layer) -> Output {
        self.load_layers(std::slice::from_ref(hostile))
    }

    /// [`Scene::load`] with several layers above the base.
    fn load_layers(&mut self, layers: &[Layer]) -> Output {
        let mut all = vec![self.base.clone()];
        all.extend_from_slice(layers);
        let spec = ImageSpec::new(&["example.com/fixture/hostile:1"], all);
        let (archive, _) = self
            .env
            .docker_archive("hostile.tar", std::slice::from_ref(&spec));
        // Writing the fixture changed `work`: list again, still before the load.
        self.outside = self.env.outside_listing();
        let out = self.env.run(&["load", "-i", path_str(&archive)]);
        // Shown with --nocapture or on failure: which way burrow went.
        println!("{out}");
        out
    }

    /// What must hold whatever burrow decided: nothing outside the store
    /// changed, /etc/passwd has no new link, the good image and its layer
    /// are intact.
    fn assert_nothing_escaped(&self, what: &str) {
        self.outside
            .assert_unchanged(&self.env.outside_listing(), what);
        assert_eq!(
            common::host_file_state("/etc/passwd"),
            self.passwd,
            "{what}: /etc/passwd untouched"
        );
        let secret = self.env.canary.join("secret");
        assert_eq!(
            fs::read_to_string(&secret).expect("canary secret"),
            "canary\n"
        );
        assert_eq!(
            FileState::of(&secret).expect("canary").nlink,
            1,
            "{what}: no link to the canary"
        );
        let busybox = self
            .env
            .layer_diff(&self.base.diff_id())
            .join("bin/busybox");
        assert_eq!(
            fs::read(&busybox).expect("shared base layer intact"),
            fs::read(fixtures::BUSYBOX).expect("host busybox"),
            "{what}: the shared base layer is intact"
        );
    }

    /// A rejected layer: exit 125, an error naming the entry, and once the
    /// next command ran the store is exactly as before.
    fn assert_rejected(&self, out: &Output, hostile: &Layer, entry: &str, what: &str) {
        out.assert_error();
        assert!(
            out.error_line().contains(entry),
            "{what}: the error names the entry `{entry}`\n{out}"
        );
        let images = self.env.images_json();
        assert_eq!(images.len(), 1, "{what}: only the good image: {images:?}");
        assert!(
            !self.env.layer_ids().contains(&hostile.diff_id()),
            "{what}: no partial layer"
        );
        let now = self.env.store_paths();
        let added: Vec<_> = now.difference(&self.store).collect();
        let removed: Vec<_> = self.store.difference(&now).collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "{what}: the store is not as it was once the next command ran\nleft behind: {added:#?}\nlost: {removed:#?}"
        );
        self.assert_nothing_escaped(what);
    }

    /// A layer that was accepted: the image is there and `rel` (a path
    /// inside the layer's root) holds `content`.
    fn assert_inside(&self, out: &Output, hostile: &Layer, rel: &Path, content: &str, what: &str) {
        out.assert_ok();
        let f = self.env.layer_diff(&hostile.diff_id()).join(rel);
        assert_eq!(
            fs::read_to_string(&f).unwrap_or_else(|e| panic!(
                "{what}: accepted, so the entry must be inside the layer at {}: {e}\n{out}",
                f.display()
            )),
            content,
            "{what}"
        );
        self.assert_nothing_escaped(what);
    }

    /// Either outcome the issue allows, each checked fully.
    fn assert_rejected_or_inside(
        &self,
        out: &Output,
        hostile: &Layer,
        entry: &str,
        rel: &Path,
        content: &str,
        what: &str,
    ) {
        if out.status.success() {
            self.assert_inside(out, hostile, rel, content, what);
        } else {
            self.assert_rejected(out, hostile, entry, what);
        }
    }
}

#[test]
fn layer_with_dotdot_path_is_rejected_or_kept_inside() {
    let Some(mut scene) = Scene::new("layer_with_dotdot_path_is_rejected_or_kept_inside") else {
        return;
    };
    let canary = scene.canary_rel();
    let hostile = LayerBuilder::new()
        .file("benign.txt", 0o644, "benign\n")
        .entry(Entry::new(format!("{UP}{canary}/dotdot-escape"), Kind::File).data("escaped\n"))
        .finish();
    let out = scene.load(&hostile);
    scene.assert_rejected_or_inside(
        &out,
        &hostile,
        "dotdot-escape",
        &Path::new(&canary).join("dotdot-escape"),
        "escaped\n",
        "`../` path",
    );
}

#[test]
fn layer_with_absolute_path_lands_inside_the_layer() {
    let Some(mut scene) = Scene::new("layer_with_absolute_path_lands_inside_the_layer") else {
        return;
    };
    let canary = scene.canary_rel();
    let hostile = LayerBuilder::new()
        .entry(Entry::new("/etc/", Kind::Dir))
        .entry(Entry::new("/etc/absolute.txt", Kind::File).data("abs\n"))
        .entry(Entry::new(format!("/{canary}/abs-escape"), Kind::File).data("escaped\n"))
        .finish();
    let out = scene.load(&hostile);
    scene.assert_inside(
        &out,
        &hostile,
        &Path::new(&canary).join("abs-escape"),
        "escaped\n",
        "absolute path",
    );
    scene.assert_inside(
        &out,
        &hostile,
        Path::new("etc/absolute.txt"),
        "abs\n",
        "absolute path",
    );
}

#[test]
fn layer_writing_through_an_absolute_symlink_is_rejected_or_kept_inside() {
    let Some(mut scene) =
        Scene::new("layer_writing_through_an_absolute_symlink_is_rejected_or_kept_inside")
    else {
        return;
    };
    let canary = scene.canary_rel();
    let hostile = LayerBuilder::new()
        .file("benign.txt", 0o644, "benign\n")
        .symlink("escape", &format!("/{canary}"))
        .file("escape/pwned", 0o644, "pwned\n")
        .finish();
    let out = scene.load(&hostile);
    scene.assert_rejected_or_inside(
        &out,
        &hostile,
        "escape/pwned",
        &Path::new(&canary).join("pwned"),
        "pwned\n",
        "write through an absolute symlink",
    );
    if out.status.success() {
        let link = scene.env.layer_diff(&hostile.diff_id()).join("escape");
        assert_eq!(
            fs::read_link(&link).expect("the symlink stays a symlink"),
            Path::new(&format!("/{canary}"))
        );
    }
}

#[test]
fn layer_writing_through_a_relative_symlink_is_rejected_or_kept_inside() {
    let Some(mut scene) =
        Scene::new("layer_writing_through_a_relative_symlink_is_rejected_or_kept_inside")
    else {
        return;
    };
    let canary = scene.canary_rel();
    let hostile = LayerBuilder::new()
        .file("benign.txt", 0o644, "benign\n")
        .symlink("up", UP.trim_end_matches('/'))
        .file(&format!("up/{canary}/pwned-rel"), 0o644, "pwned\n")
        .finish();
    let out = scene.load(&hostile);
    scene.assert_rejected_or_inside(
        &out,
        &hostile,
        "pwned-rel",
        &Path::new(&canary).join("pwned-rel"),
        "pwned\n",
        "write through a relative symlink",
    );
}

#[test]
fn layer_with_hardlink_to_outside_is_rejected() {
    let Some(mut scene) = Scene::new("layer_with_hardlink_to_outside_is_rejected") else {
        return;
    };
    let canary = scene.canary_rel();
    // Resolved inside the layer the target does not exist either: rejected
    // whichever way burrow reads it.
    let hostile = LayerBuilder::new()
        .file("benign.txt", 0o644, "benign\n")
        .entry(Entry::new("hl-outside", Kind::Hardlink).link(format!("{UP}{canary}/secret")))
        .finish();
    let out = scene.load(&hostile);
    scene.assert_rejected(&out, &hostile, "hl-outside", "hardlink to outside");
}

#[test]
fn layer_with_hardlink_to_host_etc_passwd_is_rejected() {
    let Some(mut scene) = Scene::new("layer_with_hardlink_to_host_etc_passwd_is_rejected") else {
        return;
    };
    let hostile = LayerBuilder::new()
        .file("benign.txt", 0o644, "benign\n")
        .entry(Entry::new("passwd-link", Kind::Hardlink).link("/etc/passwd"))
        .finish();
    let out = scene.load(&hostile);
    scene.assert_rejected(&out, &hostile, "passwd-link", "hardlink to /etc/passwd");
}

#[test]
fn layer_with_device_nodes_loads_without_them_and_says_so() {
    let Some(mut scene) = Scene::new("layer_with_device_nodes_loads_without_them_and_says_so")
    else {
        return;
    };
    let hostile = LayerBuilder::new()
        .dir("dev")
        .entry(Entry::new("dev/fixture-null", Kind::CharDevice).device(1, 3))
        .entry(Entry::new("dev/fixture-sda", Kind::BlockDevice).device(8, 0))
        .file("after.txt", 0o644, "after\n")
        .finish();
    let out = scene.load(&hostile);
    out.assert_ok();
    for name in ["dev/fixture-null", "dev/fixture-sda"] {
        assert!(
            out.stderr.contains(name),
            "a note names the skipped device {name}\n{out}"
        );
        assert!(
            fs::symlink_metadata(scene.env.layer_diff(&hostile.diff_id()).join(name)).is_err(),
            "{name} is not created"
        );
    }
    scene.assert_inside(
        &out,
        &hostile,
        Path::new("after.txt"),
        "after\n",
        "device nodes",
    );
}

#[test]
fn layer_replacing_a_symlink_to_outside_with_a_file_does_not_write_through_it() {
    let Some(mut scene) =
        Scene::new("layer_replacing_a_symlink_to_outside_with_a_file_does_not_write_through_it")
    else {
        return;
    };
    let secret = format!("{}/secret", path_str(&scene.env.canary));
    // A later entry of the same name replaces the earlier one; it must
    // never open the symlink's target.
    let hostile = LayerBuilder::new()
        .symlink("overwrite-me", &secret)
        .file("overwrite-me", 0o644, "replaced\n")
        .finish();
    let out = scene.load(&hostile);
    scene.assert_rejected_or_inside(
        &out,
        &hostile,
        "overwrite-me",
        Path::new("overwrite-me"),
        "replaced\n",
        "file over a symlink to outside",
    );
    if out.status.success() {
        let f = scene
            .env
            .layer_diff(&hostile.diff_id())
            .join("overwrite-me");
        assert!(
            FileState::of(&f).expect("overwrite-me").kind == "file",
            "the symlink was replaced by the file"
        );
    }
}

#[test]
fn layer_hardlink_to_a_symlink_pointing_outside_links_the_symlink_itself() {
    let Some(mut scene) =
        Scene::new("layer_hardlink_to_a_symlink_pointing_outside_links_the_symlink_itself")
    else {
        return;
    };
    let secret = format!("{}/secret", path_str(&scene.env.canary));
    let hostile = LayerBuilder::new()
        .symlink("to-secret", &secret)
        .hardlink("hl-to-symlink", "to-secret")
        .file("after.txt", 0o644, "after\n")
        .finish();
    let out = scene.load(&hostile);
    if out.status.success() {
        let d = scene.env.layer_diff(&hostile.diff_id());
        let link = FileState::of(&d.join("to-secret")).expect("to-secret");
        let hard = FileState::of(&d.join("hl-to-symlink")).expect("hl-to-symlink");
        assert_eq!(
            hard.kind, "symlink",
            "the hardlink is to the symlink, not its target"
        );
        assert_eq!(hard.ino, link.ino);
        scene.assert_inside(
            &out,
            &hostile,
            Path::new("after.txt"),
            "after\n",
            "hardlink to a symlink",
        );
    } else {
        scene.assert_rejected(&out, &hostile, "hl-to-symlink", "hardlink to a symlink");
    }
}

#[test]
fn symlink_in_a_lower_layer_does_not_redirect_an_upper_layers_write() {
    let Some(mut scene) =
        Scene::new("symlink_in_a_lower_layer_does_not_redirect_an_upper_layers_write")
    else {
        return;
    };
    let canary = path_str(&scene.env.canary).to_string();
    let lower = LayerBuilder::new().symlink("evil", &canary).finish();
    let upper = LayerBuilder::new()
        .dir("evil")
        .file("evil/pwned", 0o644, "pwned\n")
        .finish();
    let out = scene.load_layers(&[lower.clone(), upper.clone()]);
    // Each layer is its own tree: the upper layer's `evil` is a directory
    // of its own, and overlayfs decides at mount time which one shows.
    scene.assert_inside(
        &out,
        &upper,
        Path::new("evil/pwned"),
        "pwned\n",
        "lower symlink",
    );
    let link = scene.env.layer_diff(&lower.diff_id()).join("evil");
    assert_eq!(
        std::fs::read_link(&link).expect("the lower layer keeps its symlink"),
        Path::new(&canary)
    );
}
