//! Streams through real pipes, as shell scripts use them: `save | gzip`,
//! `load` from a pipe, `export` to stdout, `import -`, `cp CTR:PATH -` and
//! `cp - CTR:PATH`, `logs` to a pipe; and no archive written to a terminal.

mod common;

use common::fixtures::{busybox_rootfs, ImageSpec};
use common::{TestEnv, TestUser};
use serde_json::json;
use std::path::Path;

const IMAGE: &str = "localhost/streams:1";

fn env_with_image(test: &str) -> Option<TestEnv> {
    let env = TestEnv::new(test, TestUser::Any)?;
    let mut image = ImageSpec::new(&[IMAGE], vec![busybox_rootfs().finish()]);
    image.run_config = json!({ "Env": ["PATH=/bin"], "Cmd": ["sh"] });
    let (path, _) = env.docker_archive("streams.tar", &[image]);
    env.give(&path);
    env.load(&path);
    Some(env)
}

/// Runs a shell pipeline as the test user; `$B` is burrow.
fn sh(env: &TestEnv, script: &str) -> std::process::Output {
    let out = env
        .command_of(Path::new("/bin/sh"), &["-c", script])
        .env("B", env.binary())
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn save_and_load_go_through_pipes() {
    let Some(env) = env_with_image("save_and_load_go_through_pipes") else {
        return;
    };
    sh(&env, &format!("\"$B\" save {IMAGE} | gzip -c > img.tar.gz"));
    sh(&env, &format!("\"$B\" save {IMAGE} > img.tar"));
    let listing = text(&sh(&env, "gzip -dc img.tar.gz | tar -t"));
    assert!(listing.lines().any(|l| l == "manifest.json"), "{listing}");
    assert_eq!(
        text(&sh(
            &env,
            "gzip -dc img.tar.gz | cmp - img.tar && echo same"
        )),
        "same\n"
    );
    env.ok(&["rmi", IMAGE]);
    let out = sh(&env, "gzip -dc img.tar.gz | \"$B\" load");
    assert_eq!(text(&out), format!("Loaded image: {IMAGE}\n"));
    env.ok(&["rmi", IMAGE]);
    let out = sh(&env, "\"$B\" load < img.tar");
    assert_eq!(text(&out), format!("Loaded image: {IMAGE}\n"));
    let out = env.ok(&["run", "--rm", "--network", "none", IMAGE, "echo", "back"]);
    assert_eq!(out.stdout, "back\n", "{out}");
    // Nothing is left of the stream in the cache.
    let left: Vec<_> = std::fs::read_dir(env.cache_home.join("burrow"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !left
            .iter()
            .any(|n| n.to_string_lossy().starts_with("load-")),
        "{left:?}"
    );
}

#[test]
fn save_and_export_refuse_to_write_to_a_terminal() {
    let Some(env) = env_with_image("save_and_export_refuse_to_write_to_a_terminal") else {
        return;
    };
    let pty = nix::pty::openpty(None, None).expect("openpty");
    if env.account.uid != nix::unistd::getuid().as_raw() {
        nix::unistd::fchown(
            &pty.slave,
            Some(nix::unistd::Uid::from_raw(env.account.uid)),
            None,
        )
        .expect("chown the pty");
    }
    env.ok(&["run", "--network", "none", "--name", "c", IMAGE, "true"]);
    for args in [vec!["save", IMAGE], vec!["export", "c"]] {
        let out = env
            .command(&args)
            .stdout(std::fs::File::from(pty.slave.try_clone().expect("dup")))
            .output()
            .expect("burrow");
        assert_eq!(out.status.code(), Some(125), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("terminal"), "{args:?}: {err}");
    }
    env.ok(&["rm", "c"]);
}

/// `save` to an output that refuses to be written (/dev/full) reports
/// the output's error while its layer is still being rebuilt: burrow is not
/// killed by SIGPIPE from the rebuild, nor says "broken pipe".
#[test]
fn save_to_a_full_output_reports_it_and_is_not_killed_by_sigpipe() {
    use common::fixtures::{Entry, Kind};
    use std::os::unix::process::ExitStatusExt;
    let test = "save_to_a_full_output_reports_it_and_is_not_killed_by_sigpipe";
    let Some(env) = TestEnv::new(test, TestUser::Any) else {
        return;
    };
    // A layer far larger than the archive's buffer and the stream's.
    let layer = busybox_rootfs()
        .entry(Entry::new("big", Kind::File).data(vec![1u8; 16 << 20]))
        .finish();
    let (path, _) = env.docker_archive("big.tar", &[ImageSpec::new(&[IMAGE], vec![layer])]);
    env.give(&path);
    env.load(&path);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let out = env
        .command(&["save", IMAGE])
        .stdout(full)
        .output()
        .expect("burrow");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), None, "{:?}: {err}", out.status);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.to_lowercase().contains("broken pipe"), "{err}");
}

#[test]
fn export_import_cp_and_logs_go_through_pipes() {
    let Some(env) = env_with_image("export_import_cp_and_logs_go_through_pipes") else {
        return;
    };
    env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "src",
        IMAGE,
        "sh",
        "-c",
        "echo hello > /greeting; mkdir -p /d/e; echo deep > /d/e/f; echo out; echo err >&2",
    ]);
    // export to stdout, import from stdin: a new image with the change.
    let listing = text(&sh(&env, "\"$B\" export src | tar -t"));
    assert!(listing.lines().any(|l| l == "greeting"), "{listing}");
    sh(&env, "\"$B\" export src | \"$B\" import - localhost/flat:1");
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/flat:1",
        "/bin/cat",
        "/greeting",
    ]);
    assert_eq!(out.stdout, "hello\n", "{out}");

    // cp CTR:PATH -: a tar of the file, or of the directory under its name.
    let out = sh(&env, "\"$B\" cp src:/greeting - | tar -xO greeting");
    assert_eq!(text(&out), "hello\n");
    let out = sh(&env, "\"$B\" cp src:/d - | tar -t | sort");
    assert_eq!(text(&out), "d/\nd/e/\nd/e/f\n");
    // cp - CTR:DIR: a tar from a pipe extracted into the directory.
    sh(
        &env,
        "mkdir -p in/sub && echo piped > in/sub/file && tar -C in -c sub | \"$B\" cp - src:/d",
    );
    let out = sh(&env, "\"$B\" cp src:/d/sub/file - | tar -xO file");
    assert_eq!(text(&out), "piped\n");
    // A tar whose entry climbs out of the directory is refused.
    let mut evil = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_gnu_mut().expect("gnu").name[..9].copy_from_slice(b"../escape");
    h.set_cksum();
    evil.append(&h, &b"evil"[..]).expect("append");
    let evil = env.fixture("evil.tar", &evil.into_inner().expect("tar"));
    let out = env
        .command(&["cp", "-", "src:/d"])
        .stdin(std::fs::File::open(&evil).expect("evil"))
        .output()
        .expect("burrow");
    assert!(!out.status.success(), "{out:?}");
    let out = env.ok(&["diff", "src"]);
    assert!(!out.stdout.contains("escape"), "{out}");

    // logs to a pipe: stdout through it, stderr on its own stream.
    let out = sh(&env, "\"$B\" logs src 2>/dev/null | cat");
    assert!(text(&out).starts_with("out\n"), "{}", text(&out));
    env.ok(&["rm", "-f", "src"]);
    env.ok(&["rmi", "localhost/flat:1"]);
}
