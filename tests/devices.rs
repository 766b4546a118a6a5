//! `run --device` and `create --device` as the unprivileged users: the
//! host's device nodes bound in where asked (docker's
//! HOST[:CONTAINER][:PERMS]), a directory's nodes below it, docker's
//! errors before anything is made, and what a container or a planted link
//! must never get through them: a device the user cannot open, a regular
//! file or a directory bound in, a path outside the container's root.
//! Also `-q`, which keeps a pull quiet.

mod common;

use common::fixtures::{busybox_rootfs, ImageSpec};
use common::registry::{RegImage, Registry, Security, Uploader};
use common::{path_str, running_as_root, Listing, TestEnv, TestUser};
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const IMAGE: &str = "localhost/dev:1";
/// The image with links planted where a device is asked to go.
const PLANTED: &str = "localhost/dev-planted:1";
const APPLETS: &[&str] = &["stat", "head", "od", "sort", "readlink"];

fn env_with_images(test: &str, user: TestUser) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    let mut base = busybox_rootfs();
    for a in APPLETS {
        base = base.symlink(&format!("bin/{a}"), "busybox");
    }
    let base = base.finish();
    let mut image = ImageSpec::new(&[IMAGE], vec![base.clone()]);
    image.run_config = json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]});
    // `/opt/dir` a link climbing out of the root to the canary directory
    // (which the root lacks), `/opt/node` one climbing to /etc/group,
    // `/opt/abs` an absolute one to /etc/passwd: each resolved on the
    // host, they would reach the host's.
    let up = format!("../../../../../../..{}", path_str(&env.canary));
    let links = common::fixtures::LayerBuilder::new()
        .dir("opt")
        .symlink("opt/dir", &up)
        .symlink("opt/node", "../../../../../../etc/group")
        .symlink("opt/abs", "/etc/passwd")
        .finish();
    let mut planted = ImageSpec::new(&[PLANTED], vec![base, links]);
    planted.run_config = json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]});
    let (path, _) = env.docker_archive("dev.tar", &[image, planted]);
    env.give(&path);
    env.load(&path).assert_ok();
    Some(env)
}

fn sh(env: &TestEnv, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
    env.ok(&args).stdout
}

/// `mknod` as root (the tests' privilege, never burrow's): a node of the
/// kernel's memory devices, with its owner and mode.
fn mknod(path: &Path, minor: u64, mode: u32, owner: Option<u32>) {
    let dev = nix::sys::stat::makedev(1, minor);
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(mode),
        dev,
    )
    .unwrap_or_else(|e| panic!("mknod {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    if let Some(uid) = owner {
        std::os::unix::fs::chown(path, Some(uid), None).unwrap();
    }
}

#[test]
fn devices_appear_where_asked_and_are_the_hosts() {
    for user in [TestUser::WithSubids, TestUser::NoSubids] {
        let Some(env) = env_with_images("device_basic", user) else {
            continue;
        };
        let out = sh(
            &env,
            &[
                "--device",
                "/dev/null:/dev/mynull",
                "--device",
                "/dev/zero:/srv/z:rw",
                "--device",
                "/dev/full",
            ],
            "stat -c '%n %F %t:%T' /dev/mynull /srv/z /dev/full; \
             echo hi > /dev/mynull && echo null-took-it; \
             head -c 4 /srv/z | od -An -tx1; \
             echo x > /dev/full || echo full-refused",
        );
        assert_eq!(
            out,
            "/dev/mynull character special file 1:3\n\
             /srv/z character special file 1:5\n\
             /dev/full character special file 1:7\n\
             null-took-it\n 00 00 00 00\nfull-refused\n",
            "{user:?}"
        );
        // create records them; inspect shows docker's list.
        let id = env
            .ok(&[
                "create",
                "--device",
                "/dev/null:/dev/n:rwm",
                "--device",
                "/dev/zero",
                IMAGE,
                "true",
            ])
            .stdout
            .trim()
            .to_string();
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", &id]).stdout).unwrap();
        assert_eq!(
            v[0]["HostConfig"]["Devices"],
            json!([
                {"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rwm"},
                {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/zero", "CgroupPermissions": "rwm"}
            ])
        );
        assert!(v[0]["Config"].get("Devices").is_none(), "{v}");
        let out = env.ok(&["start", "-a", &id]);
        assert_eq!(out.code(), Some(0), "{out}");
        env.ok(&["rm", &id]);
    }
}

#[test]
fn device_errors_are_docker_s_and_nothing_is_made() {
    let Some(env) = env_with_images("device_errors", TestUser::Any) else {
        return;
    };
    let fails = |flags: &[&str], said: &str| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE, "true"]);
        let out = env.run(&args);
        out.assert_error();
        assert!(out.error_line().contains(said), "{said}\n{out}");
    };
    fails(
        &["--device", "/dev/no-such-node"],
        "error gathering device information while adding custom device \"/dev/no-such-node\": \
         no such file or directory",
    );
    fails(
        &["--device", "/etc/passwd:/dev/p"],
        "error gathering device information while adding custom device \"/etc/passwd\": \
         not a device node",
    );
    fails(
        &["--device", "/dev/null:/dev/n:rx"],
        "bad permissions \"rx\"",
    );
    fails(
        &["--device", "/dev/null:/dev/n:rr"],
        "bad permissions \"rr\"",
    );
    fails(
        &["--device", "/dev/null:dev/n"],
        "dev/n is not an absolute path",
    );
    fails(&["--device", "/dev/null:/dev/../n"], "may not contain ..");
    fails(&["--device", "/dev/null:/a:rw:x"], "too many fields");
    fails(&["--device", "nvidia.com/gpu=all"], "CDI device names");
    fails(
        &["--device-cgroup-rule", "c 1:3 rwm"],
        "--device-cgroup-rule \"c 1:3 rwm\": a rootless container cannot have device cgroup rules",
    );
    // Read-only asked of a node the user may write: no kernel would keep it.
    fails(
        &["--device", "/dev/null:/dev/n:r"],
        "a rootless container cannot be kept from writing to /dev/null",
    );
    let out = env.run(&["create", "--device", "/dev/no-such-node", IMAGE, "true"]);
    out.assert_error();
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "", "no container was made");
}

#[test]
fn a_device_the_user_cannot_open_stays_unopenable_inside() {
    if !running_as_root() {
        eprintln!(
            "SKIP a_device_the_user_cannot_open_stays_unopenable_inside: needs root to mknod"
        );
        return;
    }
    for user in [TestUser::WithSubids, TestUser::NoSubids] {
        let Some(env) = env_with_images("device_closed", user) else {
            continue;
        };
        let dir = env.work.join("nodes");
        fs::create_dir(&dir).unwrap();
        // The same kernel device (null) twice: open to all, and root's
        // alone; and a zero only root may write.
        mknod(&dir.join("open"), 3, 0o666, None);
        mknod(&dir.join("secret"), 3, 0o600, None);
        mknod(&dir.join("zero-ro"), 5, 0o644, None);
        let arg = |name: &str, to: &str| format!("{}:{to}", path_str(&dir.join(name)));
        let out = sh(
            &env,
            &[
                "--device",
                &arg("open", "/dev/open"),
                "--device",
                &arg("secret", "/dev/secret"),
                "--device",
                &arg("zero-ro", "/dev/zro:r"),
            ],
            "echo x > /dev/open && echo open-ok; \
             (echo x > /dev/secret) 2>/dev/null || echo secret-write-refused; \
             (cat /dev/secret) 2>/dev/null || echo secret-read-refused; \
             head -c 2 /dev/zro | od -An -tx1; \
             (echo x > /dev/zro) 2>/dev/null || echo zero-write-refused",
        );
        assert_eq!(
            out, "open-ok\nsecret-write-refused\nsecret-read-refused\n 00 00\nzero-write-refused\n",
            "{user:?}"
        );
        // A node the user owns could be made writable by them: read-only
        // cannot be kept, and is refused.
        let own = dir.join("own");
        mknod(&own, 3, 0o400, Some(env.account.uid));
        let out = env.run(&[
            "run",
            "--rm",
            "--device",
            &arg("own", "/dev/o:r"),
            IMAGE,
            "true",
        ]);
        out.assert_error();
        assert!(
            out.error_line().contains("cannot be kept from writing"),
            "{out}"
        );
    }
}

#[test]
fn a_directory_brings_its_device_nodes_and_never_its_files() {
    let Some(env) = env_with_images("device_dir", TestUser::WithSubids) else {
        return;
    };
    // A directory of links to device nodes, a file and a link to the
    // canary's secret: only nodes come in, and links below it are not
    // followed.
    let dir = env.work.join("devdir");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("file"), "host file\n").unwrap();
    std::os::unix::fs::symlink(env.canary.join("secret"), dir.join("sub/secret")).unwrap();
    std::os::unix::fs::symlink("/dev/null", dir.join("linked-null")).unwrap();
    for p in ["devdir", "devdir/sub", "devdir/file"] {
        env.give(&env.work.join(p));
    }
    let d = format!("{}:/dev/d", path_str(&dir));
    let out = env.run(&["run", "--rm", "--device", &d, IMAGE, "true"]);
    out.assert_error();
    assert!(out.error_line().contains("not a device node"), "{out}");
    if running_as_root() {
        mknod(&dir.join("null"), 3, 0o666, None);
        mknod(&dir.join("sub/zero"), 5, 0o666, None);
        let out = sh(
            &env,
            &["--device", &d],
            "cd /dev/d && ls -R . | sort; echo x > null && head -c 1 sub/zero | od -An -tx1",
        );
        assert_eq!(out, "\n./sub:\n.:\nnull\nsub\nzero\n 00\n");
    }
    // The system's own directory of nodes, as docker's /dev/snd example.
    if Path::new("/dev/net/tun").exists() {
        let out = sh(
            &env,
            &["--device", "/dev/net"],
            "stat -c '%n %t:%T' /dev/net/tun",
        );
        assert_eq!(out, "/dev/net/tun a:c8\n");
    }
}

#[test]
fn links_never_bind_a_file_and_targets_stay_inside_the_root() {
    let Some(env) = env_with_images("device_links", TestUser::WithSubids) else {
        return;
    };
    let before = Listing::of(&env.canary, &[]);
    // A link to a device node is followed, as docker follows it; one to
    // a file or to a directory of files is refused before anything runs.
    let link = |name: &str, to: &Path| {
        let p = env.work.join(name);
        std::os::unix::fs::symlink(to, &p).unwrap();
        env.give(&p);
        p
    };
    let to_null = link("to-null", Path::new("/dev/null"));
    let to_secret = link("to-secret", &env.canary.join("secret"));
    let to_canary = link("to-canary", &env.canary);
    let out = sh(
        &env,
        &["--device", &format!("{}:/dev/l", path_str(&to_null))],
        "stat -c '%F %t:%T' /dev/l",
    );
    assert_eq!(out, "character special file 1:3\n");
    for bad in [&to_secret, &to_canary] {
        let out = env.run(&[
            "run",
            "--rm",
            "--device",
            &format!("{}:/dev/l", path_str(bad)),
            IMAGE,
            "sh",
            "-c",
            "echo planted > /dev/l",
        ]);
        out.assert_error();
        assert!(out.error_line().contains("not a device node"), "{out}");
    }
    // Swapped after `create`: each start checks the node it binds.
    let swap = link("swap", Path::new("/dev/null"));
    let id = env
        .ok(&[
            "create",
            "--device",
            &format!("{}:/dev/s", path_str(&swap)),
            IMAGE,
            "sh",
            "-c",
            "echo planted > /dev/s; cat /dev/s",
        ])
        .stdout
        .trim()
        .to_string();
    fs::remove_file(&swap).unwrap();
    std::os::unix::fs::symlink(env.canary.join("secret"), &swap).unwrap();
    env.give(&swap);
    let out = env.run(&["start", "-a", &id]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(out.stderr.contains("not a device node"), "{out}");
    // The image's links at or above the container path lead nowhere
    // outside the root.
    let out = env.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/opt/dir/n",
        "--device",
        "/dev/zero:/opt/node",
        "--device",
        "/dev/full:/opt/abs",
        PLANTED,
        "sh",
        "-c",
        "echo x > /opt/dir/n && head -c 1 /etc/group | od -An -tx1 && \
         stat -c '%t:%T' /etc/passwd && stat -c '%t:%T' /opt/dir/n && \
         readlink /opt/dir",
    ]);
    assert_eq!(
        out.stdout,
        format!(
            " 00\n1:7\n1:3\n{}\n",
            "../../../../../../..".to_string() + path_str(&env.canary)
        ),
        "{out}"
    );
    assert_eq!(fs::read(env.canary.join("secret")).unwrap(), b"canary\n");
    assert!(fs::metadata("/etc/passwd").unwrap().is_file());
    before.assert_unchanged(&Listing::of(&env.canary, &[]), "the canary");
    assert_eq!(fs::read(env.canary.join("secret")).unwrap(), b"canary\n");
}

#[test]
fn quiet_run_and_create_pull_without_progress() {
    let Some(env) = TestEnv::new("device_quiet", TestUser::Any) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let mut spec = ImageSpec::new(&["x"], vec![busybox_rootfs().finish()]);
    spec.run_config = json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]});
    let img = RegImage::from_spec(&spec, common::fixtures::oci_arch());
    Uploader::new(&reg).image("test/q", "1", &img);
    let name = format!("{}/test/q:1", reg.addr());
    let loud = env.ok(&["run", "--rm", "--pull", "always", &name, "echo", "ran"]);
    assert!(loud.stderr.contains("Trying to pull"), "{loud}");
    assert_eq!(loud.stdout, "ran\n");
    for cmd in [
        vec![
            "run", "--rm", "-q", "--pull", "always", &name, "echo", "ran",
        ],
        vec!["create", "--quiet", "--pull", "always", &name],
    ] {
        let out = env.ok(&cmd);
        assert!(!out.stderr.contains("Trying to pull"), "{out}");
        assert!(!out.stderr.contains("Copying"), "{out}");
        assert_eq!(out.stderr, "", "{out}");
        if cmd[0] == "run" {
            assert_eq!(out.stdout, "ran\n");
        }
    }
}
