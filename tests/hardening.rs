//! Holes closed after an attack on burrow as a hostile image, a hostile
//! container and a careless command line would make it: each test here
//! failed before its fix. Records that do not parse, `rm` of several names,
//! volume targets and host names that cannot work.

mod common;

use common::run_image::{self, RunImages, PLAIN};
use common::{is_hex64, Output, TestEnv, TestUser};
use serde_json::Value;
use std::fs;
use std::path::PathBuf;

fn setup(test: &str, user: TestUser) -> Option<(TestEnv, RunImages)> {
    let env = TestEnv::new(test, user)?;
    let images = run_image::load_run_images(&env);
    Some((env, images))
}

/// The container directories in the store (64-hex names).
fn container_dirs(env: &TestEnv) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(env.storage().join("containers")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.file_name().to_str().is_some_and(is_hex64))
        .map(|e| e.path())
        .collect()
}

fn ps_all(env: &TestEnv) -> (Vec<Value>, Output) {
    let out = env.ok(&["ps", "-a", "--format", "json"]);
    let v = common::json_lines(&out.stdout);
    (v.as_array().expect("ps json lines").clone(), out)
}

fn names(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|c| c["Names"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn rm_of_several_names_removes_every_existing_one_and_reports_the_missing() {
    let Some((env, _)) = setup(
        "rm_of_several_names_removes_every_existing_one_and_reports_the_missing",
        TestUser::WithSubids,
    ) else {
        return;
    };
    for (force, code) in [(true, 0), (false, 1)] {
        env.ok(&["run", "--name", "a", PLAIN, "true"]);
        env.ok(&["run", "--name", "c", PLAIN, "true"]);
        let mut args = vec!["rm"];
        if force {
            args.push("-f");
        }
        // The missing name is not hex: "b" would also be a prefix of any
        // id that starts with b, as docker's lookup takes it.
        args.extend(["a", "gone", "c"]);
        let out = env.run(&args);
        assert_eq!(out.code(), Some(code), "{out}");
        assert_eq!(
            out.stderr
                .lines()
                .filter(|l| l.starts_with("Error: "))
                .collect::<Vec<_>>(),
            ["Error: No such container: gone"],
            "{out}"
        );
        assert_eq!(
            out.stdout_lines(),
            ["a", "c"],
            "each removed one as it was typed, as docker echoes it: {out}"
        );
        let (left, _) = ps_all(&env);
        assert!(left.is_empty(), "rm left {:?}\n{out}", names(&left));
        assert!(container_dirs(&env).is_empty());
    }
}

#[test]
fn a_damaged_record_is_listed_keeps_its_name_and_rm_f_removes_it() {
    let Some((env, _)) = setup(
        "a_damaged_record_is_listed_keeps_its_name_and_rm_f_removes_it",
        TestUser::WithSubids,
    ) else {
        return;
    };
    env.ok(&["run", "--name", "cut", PLAIN, "true"]);
    env.ok(&["run", "--name", "lost", PLAIN, "true"]);
    for dir in container_dirs(&env) {
        let config = dir.join("config.json");
        let text = fs::read_to_string(&config).expect("config.json");
        if text.contains("\"cut\"") {
            // Cut short after the name, as a full disk or a power cut
            // without the fsync would leave it.
            let end = text.find("\"cut\"").expect("name") + 10;
            fs::write(&config, &text[..end]).expect("truncate config.json");
        } else {
            fs::write(dir.join("state.json"), "{\"status\": \"exi").expect("state.json");
        }
    }
    let (list, out) = ps_all(&env);
    let mut seen = names(&list);
    seen.sort();
    assert_eq!(seen, ["cut", "lost"], "{out}");
    for c in &list {
        assert_eq!(c["State"], "unknown", "{out}");
        assert_eq!(c["Status"], "Unknown (damaged record)", "{out}");
    }
    for name in ["cut", "lost"] {
        assert!(
            out.stderr
                .contains(&format!("container {name}: its record"))
                && out.stderr.contains("is damaged"),
            "{out}"
        );
        // Its name stays taken.
        let taken = env.fails(&["run", "--name", name, PLAIN, "true"]);
        assert!(taken.error_line().contains("already in use"), "{taken}");
        // Without -f it stays, saying why and what removes it.
        let kept = env.run(&["rm", name]);
        assert_eq!(kept.code(), Some(1), "{kept}");
        assert!(kept.error_line().contains("rm -f"), "{kept}");
    }
    assert_eq!(container_dirs(&env).len(), 2);
    env.ok(&["rm", "-f", "cut", "lost"]);
    let (left, out) = ps_all(&env);
    assert!(left.is_empty(), "{out}");
    assert!(container_dirs(&env).is_empty());
}

#[test]
fn mounts_on_the_root_or_dev_twice_used_targets_and_bad_host_names_are_refused() {
    let Some((env, _)) = setup(
        "mounts_on_the_root_or_dev_twice_used_targets_and_bad_host_names_are_refused",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let work = common::path_str(&env.work).to_string();
    let vol = |target: &str| format!("{work}:{target}");
    for (args, expected) in [
        (vec!["-v", &vol("/")], "cannot be mounted on /"),
        (
            vec!["--mount", &format!("type=bind,source={work},target=//")],
            "cannot be mounted on /",
        ),
        (vec!["-v", &vol("/dev")], "/dev"),
        (
            vec!["-v", &vol("/data"), "-v", &vol("/data/")],
            "/data is mounted twice",
        ),
        (
            vec!["-v", &vol("/t"), "--tmpfs", "/t"],
            "/t is mounted twice",
        ),
        (
            vec!["--hostname", "bad host"],
            "\"bad host\" is not a valid host name",
        ),
        (vec!["--hostname=-lead"], "not a valid host name"),
        (vec!["--hostname", "a..b"], "not a valid host name"),
        (vec!["--hostname", &"x".repeat(65)], "not a valid host name"),
    ] {
        let mut all = vec!["run", "--rm"];
        all.extend(args.iter().copied());
        all.extend([PLAIN, "true"]);
        let out = env.fails(&all);
        assert!(out.error_line().contains(expected), "{expected:?}\n{out}");
        assert!(container_dirs(&env).is_empty(), "{out}");
    }
    // Names as RFC 1123 has them, with docker's tolerance of '_', work.
    let out = env.ok(&[
        "run",
        "--rm",
        "--hostname",
        "web_1.example-2",
        PLAIN,
        "hostname",
    ]);
    assert_eq!(out.stdout.trim(), "web_1.example-2");
    // Below /dev is fine, as are volumes over /dev/shm.
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        &vol("/dev/shm"),
        "-v",
        &vol("/dev/work"),
        PLAIN,
        "sh",
        "-c",
        "test -c /dev/null && ls /dev/work/ >/dev/null && ls /dev/shm >/dev/null && echo ok",
    ]);
    assert_eq!(out.stdout.trim(), "ok", "{out}");
    let (left, out) = ps_all(&env);
    assert!(left.is_empty(), "{out}");
}

/// `doctor --format json`'s check named `name`.
fn doctor_check(env: &TestEnv, name: &str) -> (Value, Output) {
    let out = env.run(&["doctor", "--format", "json"]);
    let v: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("doctor --format json is not JSON: {e}\n{out}"));
    let check = v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no {name} check\n{out}"));
    (check, out)
}

#[test]
fn a_storage_root_another_user_prepared_is_refused_and_doctor_says_so() {
    let Some((env, _)) = setup(
        "a_storage_root_another_user_prepared_is_refused_and_doctor_says_so",
        TestUser::WithSubids,
    ) else {
        return;
    };
    if !common::running_as_root() {
        eprintln!(
            "SKIP a_storage_root_another_user_prepared_is_refused_and_doctor_says_so: \
             only root can prepare a directory as another user"
        );
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mallory = nix::unistd::User::from_name("burrow-nosub")
        .ok()
        .flatten()
        .expect("user burrow-nosub (.ci/run creates it)");
    let chmod = |p: &std::path::Path, mode| {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod")
    };
    let shared = tempfile::Builder::new()
        .prefix("burrow-it-shared.")
        .tempdir()
        .expect("temp dir");
    chmod(shared.path(), 0o1777);
    // As the issue saw it: another user made x/$USER/burrow/layers open
    // to everyone before the user first ran burrow with its root there.
    let x = shared.path().join("x");
    let root = x.join(&env.account.name).join("burrow");
    fs::create_dir_all(root.join("layers")).expect("mkdir");
    for d in [&x, &x.join(&env.account.name), &root, &root.join("layers")] {
        std::os::unix::fs::chown(d, Some(mallory.uid.as_raw()), Some(mallory.gid.as_raw()))
            .expect("chown");
        chmod(d, 0o777);
    }
    let config_dir = env.config_home.join("burrow");
    fs::create_dir_all(&config_dir).expect("mkdir config");
    env.give(&config_dir);
    let config = config_dir.join("config.toml");
    let use_root = |root: &std::path::Path| {
        fs::write(
            &config,
            format!("[storage]\nroot = \"{}\"\n", root.display()),
        )
        .expect("config");
        env.give(&config);
    };
    use_root(&root);
    for args in [&["images"][..], &["run", "--rm", PLAIN, "true"]] {
        let out = env.fails(args);
        let line = out.error_line();
        assert!(
            line.contains(&format!("storage root {} is not safe", root.display()))
                && line.contains(&format!("{} belongs to uid {}", x.display(), mallory.uid))
                && line.contains("set storage.root in"),
            "{out}"
        );
    }
    assert!(
        !root.join("blobs").exists(),
        "burrow wrote into the planted root"
    );
    let (check, out) = doctor_check(&env, "storage");
    assert_eq!(check["status"], "fail", "{out}");
    assert!(
        check["fact"]
            .as_str()
            .unwrap_or_default()
            .contains("belongs to uid"),
        "{out}"
    );
    assert!(
        check["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("set storage.root"),
        "{out}"
    );

    // Parents of the user's own but open to everyone without the sticky
    // bit, and a root of the user's open to everyone, are refused too.
    let open = shared.path().join("open");
    let mine = open.join("burrow");
    fs::create_dir_all(&mine).expect("mkdir");
    for (dir, mode) in [(&open, 0o777), (&mine, 0o700)] {
        env.give(dir);
        chmod(dir, mode);
    }
    use_root(&mine);
    let out = env.fails(&["images"]);
    assert!(
        out.error_line().contains(&format!(
            "{} is writable by other users (mode 0777, without the sticky bit)",
            open.display()
        )),
        "{out}"
    );
    chmod(&open, 0o755);
    chmod(&mine, 0o777);
    let out = env.fails(&["images"]);
    assert!(
        out.error_line().contains(&format!(
            "{} is writable by other users (mode 0777)",
            mine.display()
        )),
        "{out}"
    );
    // A root burrow makes itself under a sticky shared directory is fine,
    // and private.
    let fresh = shared.path().join(&env.account.name).join("burrow");
    use_root(&fresh);
    env.ok(&["images"]);
    for d in [
        fresh.parent().expect("parent"),
        &fresh,
        &fresh.join("layers"),
    ] {
        let md = fs::metadata(d).expect("made");
        assert_eq!(md.mode() & 0o7777, 0o700, "{}", d.display());
        assert_eq!(md.uid(), env.account.uid);
    }
    let (check, out) = doctor_check(&env, "storage");
    assert_eq!(check["status"], "ok", "{out}");
    env.ok(&["system", "reset", "-f"]);
    fs::remove_file(&config).expect("rm config");
}

/// Runs `burrow ARGS`; a run still going after a minute is hung: it is
/// killed (with its helpers) and the test fails.
fn run_or_hang(env: &TestEnv, args: &[&str]) -> Output {
    let mut child = env.spawn(args);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.0.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            common::kill_group(&mut child);
            panic!("burrow {} hung", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    common::finish(child)
}

#[test]
fn a_fifo_or_device_at_the_images_etc_passwd_or_group_fails_run_u_at_once() {
    use common::fixtures::{Entry, Kind, LayerBuilder};
    let Some((env, _)) = setup(
        "a_fifo_or_device_at_the_images_etc_passwd_or_group_fails_run_u_at_once",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let base = run_image::base_layer();
    let hostile = [
        (
            "hostile/fifo-passwd",
            Entry::new("etc/passwd", Kind::Fifo),
            "passwd is a FIFO",
        ),
        (
            "hostile/fifo-group",
            Entry::new("etc/group", Kind::Fifo),
            "group is a FIFO",
        ),
        (
            "hostile/tty-passwd",
            Entry::new("etc/passwd", Kind::Symlink).link("/dev/tty"),
            "passwd is a character device",
        ),
        (
            "hostile/zero-passwd",
            Entry::new("etc/passwd", Kind::Symlink).link("../../../../dev/zero"),
            "passwd is a character device",
        ),
    ];
    let specs: Vec<_> = hostile
        .iter()
        .map(|(tag, entry, _)| {
            let top = LayerBuilder::new().dir("etc").entry(entry.clone()).finish();
            let mut spec = common::fixtures::ImageSpec::new(&[tag], vec![base.clone(), top]);
            spec.run_config = serde_json::json!({"Cmd": ["sh"]});
            spec
        })
        .collect();
    let (archive, _) = env.docker_archive("hostile.tar", &specs);
    env.load(&archive);
    for (tag, _, expected) in &hostile {
        for args in [
            vec!["run", "--rm", "-u", "app", tag, "true"],
            vec!["run", "-u", "app:app", tag, "true"],
            vec!["run", "-d", "--rm", "-u", "app", tag, "true"],
        ] {
            let out = run_or_hang(&env, &args);
            out.assert_error();
            assert!(
                out.error_line().contains(expected)
                    && out.error_line().contains("not a regular file"),
                "{out}"
            );
            assert!(container_dirs(&env).is_empty(), "a record stayed\n{out}");
        }
        // Numbers need no names: the run goes on as that uid.
        // (`id` would read the FIFO itself: the status file names no one.)
        let out = run_or_hang(
            &env,
            &[
                "run",
                "--rm",
                "-u",
                "1000:1000",
                tag,
                "grep",
                "^Uid:",
                "/proc/self/status",
            ],
        );
        assert!(out.stdout.starts_with("Uid:\t1000\t"), "{out}");
    }
}

#[test]
fn a_symlink_a_container_plants_in_a_volume_is_not_followed_by_a_later_volume() {
    let Some((env, _)) = setup(
        "a_symlink_a_container_plants_in_a_volume_is_not_followed_by_a_later_volume",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let vol = env.work.join("vol");
    fs::create_dir(&vol).expect("mkdir vol");
    env.give(&vol);
    let vol_s = common::path_str(&vol).to_string();
    let canary = common::path_str(&env.canary).to_string();
    // The container knows (or guesses) where the user keeps things.
    env.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol_s}:/vol"),
        PLAIN,
        "sh",
        "-c",
        &format!(
            "ln -s {canary} /vol/abs && ln -s ../../canary /vol/rel && mkdir /vol/sub && \
             echo inside > /vol/sub/f && ln -s sub /vol/inside && ln -s /vol/sub /vol/meant"
        ),
    ]);
    for link in ["abs", "rel"] {
        let named = format!("{vol_s}/{link}");
        for flag in [
            vec!["-v".to_string(), format!("{named}:/x")],
            vec![
                "--mount".to_string(),
                format!("type=bind,source={named},target=/x"),
            ],
        ] {
            let mut args = vec!["run", "--rm"];
            args.extend(flag.iter().map(String::as_str));
            args.extend([PLAIN, "cat", "/x/secret"]);
            let out = env.run(&args);
            assert!(
                !out.stdout.contains("canary"),
                "the planted link was followed\n{out}"
            );
            out.assert_error();
            assert!(
                out.error_line()
                    .contains(&format!("goes through the symbolic link {named} -> "))
                    && out.error_line().contains("leads out of"),
                "{out}"
            );
        }
        // Through a link further down the path too.
        let out = env.fails(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol_s}/{link}/.:/x"),
            PLAIN,
            "true",
        ]);
        assert!(out.error_line().contains("leads out of"), "{out}");
    }
    // A link that stays inside the directory holding it is followed.
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol_s}/inside:/x"),
        PLAIN,
        "cat",
        "/x/f",
    ]);
    assert_eq!(out.stdout.trim(), "inside");
    // An absolute link is refused even when it points back into the
    // volume as the container saw it: on the host it leads elsewhere.
    env.fails(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol_s}/meant:/x"),
        PLAIN,
        "true",
    ]);
    // Named by its real path, the canary is the user's to share.
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{canary}:/x:ro"),
        PLAIN,
        "cat",
        "/x/secret",
    ]);
    assert_eq!(out.stdout.trim(), "canary");
    assert!(container_dirs(&env).is_empty());
}
