//! `--userns emulate`: a user with subordinate ids (`burrow-test`) asks for
//! what a user without them (`burrow-nosub`) gets: the single-id map (root
//! inside is the user) with root emulated, on the single-id form of the
//! image's layers. The same steps give both users the same layer in
//! `commit` and the same owners in `export`; without the flag there is no
//! emulation; the second form of the layers lives and dies with the image.

mod common;

use common::debian;
use common::fixtures::{Entry, Kind};
use common::layers::{commit_layer, export, owner, owner_mode, tar_headers, Headers};
use common::{path_str, TestEnv, TestUser};
use std::collections::BTreeSet;

/// An image whose entries belong to several ids (a file of 200 kB among
/// them: a single-id form writes it anew), with the applets the steps use.
fn owners_image() -> Vec<u8> {
    let mut image = common::fixtures::busybox_rootfs();
    for applet in ["chown", "mknod", "stat"] {
        image = image.symlink(&format!("bin/{applet}"), "busybox");
    }
    image
        .entry(Entry::new("data", Kind::Dir).mode(0o2750).owner(1000, 1001))
        .entry(
            Entry::new("data/f", Kind::File)
                .mode(0o640)
                .owner(1234, 5678)
                .data("f\n".repeat(100_000)),
        )
        .entry(Entry::new("data/l", Kind::Symlink).link("f").owner(42, 43))
        .entry(Entry::new("data/p", Kind::Fifo).mode(0o600).owner(7, 8))
        .entry(Entry::new("srv", Kind::Dir).mode(0o750).owner(0, 42))
        .finish()
        .tar
}

/// Who the container is, then chowns of a new file, of a file and a
/// symbolic link the image gives to other ids, and a device node.
const STEPS: &str = "set -e
echo ids $(id -u) $(id -g)
echo map $(cat /proc/self/uid_map)
touch /new && chown 5:5 /new
chown 7:8 /data/f
chown -h 9:9 /data/l
mknod /node c 1 3
echo node $(stat -c %F /node)
";

/// Runs the steps in a container `c` of the image (with `flags`), then
/// commits and exports it: what the steps said, the committed layer's
/// headers and the export's.
fn steps(env: &TestEnv, flags: &[&str]) -> (String, Headers, Headers) {
    let tarball = env.fixture("owners.tar", &owners_image());
    env.ok(&["import", path_str(&tarball), "owners"]);
    let mut args = vec!["run", "--name", "c", "--network", "none"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["owners", "sh", "-c", STEPS]);
    let said = env.ok(&args).stdout;
    let committed = commit_layer(env, "c", "localhost/owners-after:1");
    (said, committed, export(env, "c"))
}

#[test]
fn userns_emulate_gives_a_subid_user_what_a_user_without_subids_gets() {
    let test = "userns_emulate_gives_a_subid_user_what_a_user_without_subids_gets";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let (said, committed, exported) = steps(&env, &["--userns", "emulate"]);
    let uid = env.account.uid;
    assert!(said.contains("ids 0 0"), "{said}");
    assert!(
        said.contains(&format!("map 0 {uid} 1\n")),
        "the single-id map:\n{said}"
    );
    assert!(
        said.contains("node regular empty file"),
        "mknod emulated:\n{said}"
    );
    assert_eq!(
        owner_mode(&committed, "new"),
        Some((5, 5, 0o644)),
        "{committed:?}"
    );
    assert_eq!(owner_mode(&committed, "data/f"), Some((7, 8, 0o640)));
    assert_eq!(owner(&committed, "data/l"), Some((9, 9)));
    assert_eq!(
        owner_mode(&committed, "data"),
        Some((1000, 1001, 0o2750)),
        "the directory copied up on the way keeps the image's owner"
    );
    assert_eq!(owner_mode(&exported, "data/p"), Some((7, 8, 0o600)));
    assert_eq!(owner_mode(&exported, "srv"), Some((0, 42, 0o750)));
    assert_eq!(owner_mode(&exported, "data/f"), Some((7, 8, 0o640)));
    drop(env);

    let Some(nosub) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let (_, nosub_committed, nosub_exported) = steps(&nosub, &[]);
    assert_eq!(
        committed, nosub_committed,
        "the committed layers differ in owners or modes (uid, gid, mode, type)"
    );
    // The image's entries and the steps' (the export also holds the
    // sandbox's mount points, as for any container).
    let given = tar_headers(&owners_image());
    for path in given.keys().chain(committed.keys()) {
        assert_eq!(
            exported.get(path),
            nosub_exported.get(path),
            "{path} in the exports"
        );
    }
}

/// Without the flag a user with subordinate ids has the full map and no
/// emulation: a device node cannot be made (the kernel's EPERM), and a
/// file of another id is chowned for real.
#[test]
fn without_userns_emulate_a_subid_user_has_no_emulation() {
    let test = "without_userns_emulate_a_subid_user_has_no_emulation";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let tarball = env.fixture("owners.tar", &owners_image());
    env.ok(&["import", path_str(&tarball), "owners"]);
    let out = env.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "owners",
        "sh",
        "-c",
        "cat /proc/self/uid_map; chown 7:8 /data/f && stat -c %u:%g /data/f; mknod /node c 1 3",
    ]);
    assert!(!out.status.success(), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    assert!(out.stdout.contains("7:8"), "{out}");
    assert!(out.stdout.lines().count() > 2, "a full map:\n{out}");
    assert!(
        !env.storage().join("single-id-layers").exists(),
        "no single-id form made for a container that does not need it"
    );
}

/// The directories under `dir` of the store.
fn entries(env: &TestEnv, dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(env.storage().join(dir))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// An image an emulate container was made from is not removed under it
/// (by `rmi`, forced or not, or `image prune`), and the container still
/// starts; once the container is gone, `rmi` removes both forms of its
/// layers and leaves no directory behind.
#[test]
fn rmi_keeps_an_emulate_containers_image_then_removes_both_forms() {
    let test = "rmi_keeps_an_emulate_containers_image_then_removes_both_forms";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let tarball = env.fixture("owners.tar", &owners_image());
    env.ok(&["import", path_str(&tarball), "owners"]);
    let layers = env.layer_ids();
    assert_eq!(layers.len(), 1, "{layers:?}");
    let images_size = || {
        let out = env.ok(&["system", "df", "--format", "json"]).stdout;
        let row = (out.lines())
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
            .find(|v| v["Type"] == "Images")
            .expect("the images line");
        row["Size"].as_str().expect("a size").to_string()
    };
    let before = images_size();
    env.ok(&[
        "create", "--name", "c", "--userns", "emulate", "owners", "true",
    ]);
    assert_ne!(
        images_size(),
        before,
        "system df counts the 200 kB the single-id form wrote"
    );
    assert_eq!(entries(&env, "single-id-layers"), layers);
    let single = env.storage().join("single-id-layers");
    let diff = single.join(layers.first().expect("a layer")).join("diff");
    // The single-id form: every file the user's, the image's owner kept.
    let f = common::FileState::of(&diff.join("data/f")).expect("data/f");
    assert_eq!((f.uid, f.gid), (env.account.uid, env.account.gid));
    assert_eq!(
        common::lgetxattr(&diff.join("data/f"), "user.containers.override_stat").as_deref(),
        Some(&b"1234:5678:0640:file"[..])
    );

    let out = env.run(&["rmi", "owners"]);
    assert!(!out.status.success(), "{out}");
    assert!(out.stderr.contains("container"), "{out}");
    assert_eq!(env.layer_ids(), layers);
    assert_eq!(entries(&env, "single-id-layers"), layers);

    // A second container shares the form made for the first.
    env.ok(&["run", "--rm", "--userns", "emulate", "owners", "true"]);
    assert_eq!(entries(&env, "single-id-layers"), layers);

    // Forced, the name goes; the image and both forms stay for the
    // container, and `image prune` does not take them.
    let id = env.inspect("owners")["Id"]
        .as_str()
        .expect("the image's id")
        .to_string();
    env.ok(&["rmi", "-f", "owners"]);
    env.ok(&["image", "prune", "-f"]);
    assert_eq!(env.layer_ids(), layers);
    assert_eq!(entries(&env, "single-id-layers"), layers);
    env.ok(&["start", "-a", "c"]);

    env.ok(&["rm", "c"]);
    env.ok(&["rmi", &id]);
    assert_eq!(env.layer_ids(), BTreeSet::new());
    assert_eq!(entries(&env, "single-id-layers"), BTreeSet::new());
    assert_eq!(entries(&env, "tmp"), BTreeSet::new(), "nothing left aside");
}

/// Emulate containers of a user with subordinate ids have user networks:
/// two on one network reach each other by name. (Containers with another
/// map, the default one or keep-id's, sit on that network in the network
/// namespace of their own map's holder: they do not reach these.)
#[test]
fn emulate_containers_reach_each_other_on_a_user_network() {
    let test = "emulate_containers_reach_each_other_on_a_user_network";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let image = common::fixtures::busybox_rootfs()
        .symlink("bin/nc", "busybox")
        .finish();
    let tarball = env.fixture("netbox.tar", &image.tar);
    env.ok(&["import", path_str(&tarball), "netbox"]);
    env.ok(&["network", "create", "emunet"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--userns",
        "emulate",
        "--network",
        "emunet",
        "netbox",
        "nc",
        "-ll",
        "-p",
        "80",
        "-e",
        "echo",
        "from-srv",
    ]);
    let out = common::wait_for(std::time::Duration::from_secs(30), "srv to answer", || {
        let out = env.run(&[
            "run",
            "--rm",
            "--userns",
            "emulate",
            "--network",
            "emunet",
            "netbox",
            "nc",
            "-w",
            "5",
            "srv",
            "80",
        ]);
        if out.stdout.contains("from-srv") {
            Ok(out)
        } else {
            Err(out.to_string())
        }
    });
    assert!(out.stdout.contains("from-srv"), "{out}");
    env.ok(&["rm", "-f", "srv"]);
}

/// apt (its `_apt` sandbox: setgroups, set*id, chown of its partial
/// directory), a maintainer script's system user and chown, useradd, su
/// and chown -R work in an emulate container of a user with subordinate
/// ids, and `commit` keeps the owners asked for. (The same steps without
/// subordinate ids are in root_emulation.rs; the layers of the two users
/// are compared on a smaller image above, to keep the suite short.)
#[test]
fn apt_and_useradd_work_under_userns_emulate_and_commit_their_owners() {
    let test = "apt_and_useradd_work_under_userns_emulate_and_commit_their_owners";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let Some(fx) = debian::debian_image(&env, test) else {
        return;
    };
    let (said, layer) = debian::root_steps_and_commit(&env, &fx, &["--userns", "emulate"]);
    assert!(said.contains("ids 0 0"), "{said}");
    assert!(said.contains("uid=1000(bob) gid=1000(bob)"), "{said}");
    assert_eq!(
        owner_mode(&layer, "var/lib/libuuid"),
        Some((100, 101, 0o2775)),
        "the maintainer script's chown"
    );
    assert_eq!(owner(&layer, "data/sub/file"), Some((1000, 1000)));
    assert_eq!(owner(&layer, "home/bob"), Some((1000, 1000)));
    // No owner the namespace could not show (the overflow id).
    let overflow: Vec<&String> = (layer.iter())
        .filter(|(_, h)| h.0 == 65534 || h.1 == 65534)
        .map(|(p, _)| p)
        .collect();
    assert!(overflow.is_empty(), "{overflow:?}");
}

/// `exec` into an emulate container is emulated too: it is root of the
/// single-id map, its chown succeeds and `commit` keeps the owner.
#[test]
fn exec_into_an_emulate_container_is_emulated() {
    let test = "exec_into_an_emulate_container_is_emulated";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let tarball = env.fixture("owners.tar", &owners_image());
    env.ok(&["import", path_str(&tarball), "owners"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--userns",
        "emulate",
        "--network",
        "none",
        "owners",
        "sleep",
        "600",
    ]);
    let out = env.ok(&[
        "exec",
        "box",
        "sh",
        "-c",
        "set -e; echo map $(cat /proc/self/uid_map); chown 3:4 /data/f; mknod /n c 1 3; \
         echo node $(stat -c %F /n)",
    ]);
    let uid = env.account.uid;
    assert!(out.stdout.contains(&format!("map 0 {uid} 1\n")), "{out}");
    assert!(out.stdout.contains("node regular empty file"), "{out}");
    let layer = commit_layer(&env, "box", "localhost/after-exec:1");
    env.ok(&["rm", "-f", "box"]);
    assert_eq!(owner_mode(&layer, "data/f"), Some((3, 4, 0o640)));
}
