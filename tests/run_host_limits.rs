//! `burrow run` on hosts that give less: user namespaces disabled, and an
//! image the kernel overlay cannot stack with `/dev/fuse` unusable. Both
//! are made for real, for burrow alone, by the root test process: a user
//! namespace whose `user.max_user_namespaces` is 0, and a private mount
//! namespace where `/dev/fuse` cannot be opened. burrow itself still runs
//! as the unprivileged test user. Run as another user, these print SKIP.

mod common;

use common::fixtures::{self, ImageSpec, LayerBuilder};
use common::run_image::{self, PLAIN};
use common::{path_str, running_as_root, Output, TestEnv, TestUser};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::Duration;

fn skip(test: &str) -> bool {
    if running_as_root() {
        return false;
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: needs root to build the restricted host around burrow"
    );
    true
}

/// Single-quotes `s` for sh.
fn quote(s: &[u8]) -> String {
    let s = String::from_utf8_lossy(s);
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A shell command that drops from root to the test user and runs
/// `burrow ARGS` with exactly the environment the harness gives it.
fn as_user_line(env: &TestEnv, args: &[&str]) -> String {
    let cmd = env.command(args);
    let mut line = format!(
        "cd {} && exec setpriv --reuid={} --regid={} --clear-groups -- env -i",
        quote(env.work.as_os_str().as_bytes()),
        env.account.uid,
        env.account.gid
    );
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            line.push(' ');
            line.push_str(&quote(&kv));
        }
    }
    line.push(' ');
    line.push_str(&quote(cmd.get_program().as_bytes()));
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(a.as_bytes()));
    }
    line
}

fn collect(child: std::process::Child, args: &[&str]) -> Output {
    let out = child.wait_with_output().expect("wait");
    Output {
        args: args.iter().map(|s| s.to_string()).collect(),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `burrow ARGS` as the test user inside a user namespace (made by
/// root, root and the test user mapped to themselves) whose limit of
/// nested user namespaces is 0: the host, for burrow, has them disabled.
fn run_without_user_namespaces(env: &TestEnv, args: &[&str]) -> Output {
    let script = env.work.join("no-userns.sh");
    fixtures::write_file(
        &script,
        format!(
            "echo 0 > /proc/sys/user/max_user_namespaces || exit 99\n{}\n",
            as_user_line(env, args)
        )
        .as_bytes(),
    );
    // The shell waits for its maps, then execs again so that it is root
    // of the namespace with its capabilities.
    let mut child = Command::new("unshare")
        .args(["--user", "--", "sh", "-c", "read go && exec sh \"$0\""])
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare");
    let pid = child.id();
    let ns = format!("/proc/{pid}/ns/user");
    common::wait_for(
        Duration::from_secs(10),
        "unshare to make a user namespace",
        || std::fs::read_link(&ns).ok() != std::fs::read_link("/proc/self/ns/user").ok(),
    );
    let map = format!("0 0 1\n{0} {0} 1\n", env.account.uid);
    std::fs::write(format!("/proc/{pid}/uid_map"), &map).expect("write uid_map");
    let map = format!("0 0 1\n{0} {0} 1\n", env.account.gid);
    std::fs::write(format!("/proc/{pid}/gid_map"), &map).expect("write gid_map");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("release the shell");
    drop(stdin);
    collect(child, args)
}

#[test]
fn disabled_user_namespaces_are_a_clear_error_naming_the_sysctl_and_leave_nothing() {
    let test = "disabled_user_namespaces_are_a_clear_error_naming_the_sysctl_and_leave_nothing";
    if skip(test) {
        return;
    }
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    run_image::load_run_images(&env);
    for args in [
        &["run", "--rm", PLAIN, "true"][..],
        &["run", "--name", "kept", PLAIN, "true"][..],
    ] {
        let out = run_without_user_namespaces(&env, args);
        out.assert_error();
        let line = out.error_line();
        assert!(
            line.contains("cannot create a user namespace")
                && line.contains("user.max_user_namespaces=0")
                && line.contains("sudo sysctl -w user.max_user_namespaces="),
            "{out}"
        );
        let ps = env.ok(&["ps", "-a", "-q"]);
        assert!(ps.stdout.trim().is_empty(), "a record was left\n{ps}");
    }
    let dirs: Vec<_> = std::fs::read_dir(env.storage().join("containers"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(
        dirs,
        vec![std::ffi::OsString::from(".lock")],
        "only the lock file stays"
    );
}

/// Runs `burrow ARGS` as the test user in a private mount namespace where
/// `/dev/fuse` is a file no one may open, as on hosts that keep it root's.
fn run_with_dev_fuse_unusable(env: &TestEnv, args: &[&str]) -> Output {
    let blocker = env.work.join("no-fuse");
    fixtures::write_file(&blocker, b"");
    std::fs::set_permissions(
        &blocker,
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .expect("chmod");
    let line = format!(
        "mount --bind {} /dev/fuse || exit 99\n{}",
        path_str(&blocker),
        as_user_line(env, args)
    );
    let child = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            &line,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare");
    collect(child, args)
}

/// 501 layers: one more than the kernel overlay stacks.
fn too_many_layers_image(env: &TestEnv) -> &'static str {
    const NAME: &str = "run/many:latest";
    let mut layers = vec![run_image::base_layer()];
    for i in 1..=500 {
        layers.push(
            LayerBuilder::new()
                .file(&format!("l{i}"), 0o644, format!("{i}\n"))
                .finish(),
        );
    }
    let mut spec = ImageSpec::new(&[NAME], layers);
    spec.run_config = serde_json::json!({"Cmd": ["sh"]});
    let (archive, _) = env.docker_archive("many.tar", &[spec]);
    env.load(&archive);
    NAME
}

#[test]
fn kernel_overlay_limit_falls_back_to_fuse_and_unusable_dev_fuse_to_a_copy_with_a_note() {
    let test =
        "kernel_overlay_limit_falls_back_to_fuse_and_unusable_dev_fuse_to_a_copy_with_a_note";
    if skip(test) {
        return;
    }
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let image = too_many_layers_image(&env);

    // The kernel refuses 501 layers; fuse-overlayfs takes them.
    let out = env.ok(&["run", "--name", "fuse", image, "cat", "/l1", "/l500"]);
    assert_eq!(out.stdout, "1\n500\n");
    // Driver notes only: a host without cgroup v2 adds its own note once.
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("Note: root filesystem driver"))
        .collect();
    assert!(
        notes.len() == 1 && notes[0].contains("kernel-overlay was not usable"),
        "{out}"
    );
    let i: serde_json::Value =
        serde_json::from_str(env.ok(&["inspect", "fuse"]).stdout.trim()).expect("json");
    assert_eq!(i[0]["RootfsDriver"], "fuse-overlayfs");
    env.ok(&["rm", "fuse"]);

    // Without /dev/fuse as well: the private copy, and a note that says
    // what was wrong with /dev/fuse.
    let args = [
        "run",
        "--name",
        "copy",
        image,
        "sh",
        "-c",
        "cat /l500; echo x > /l1",
    ];
    let out = run_with_dev_fuse_unusable(&env, &args);
    out.assert_ok();
    assert_eq!(out.stdout, "500\n");
    let fuse_note = out
        .stderr
        .lines()
        .find(|l| l.starts_with("Note:") && l.contains("fuse-overlayfs was not usable"))
        .unwrap_or_else(|| panic!("no note about fuse-overlayfs\n{out}"));
    assert!(
        fuse_note.contains("/dev/fuse is not usable") && fuse_note.contains("Permission denied"),
        "{out}"
    );
    let i: serde_json::Value =
        serde_json::from_str(env.ok(&["inspect", "copy"]).stdout.trim()).expect("json");
    assert_eq!(i[0]["RootfsDriver"], "copy");
    env.ok(&["rm", "copy"]);
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "{ps}");
}

#[test]
fn without_dev_fuse_the_proc_view_is_off_with_one_note() {
    let test = "without_dev_fuse_the_proc_view_is_off_with_one_note";
    if skip(test) {
        return;
    }
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    run_image::load_run_images(&env);
    let args = [
        "run",
        "--rm",
        "--proc-view",
        "container",
        PLAIN,
        "sh",
        "-c",
        "cat /proc/uptime; grep -c ' fuse ' /proc/self/mountinfo || true",
    ];
    let out = run_with_dev_fuse_unusable(&env, &args);
    out.assert_ok();
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("/proc/meminfo"))
        .collect();
    assert_eq!(notes.len(), 1, "one note\n{out}");
    assert!(notes[0].contains("/dev/fuse"), "it says why\n{out}");
    let lines = out.stdout_lines();
    let up: f64 = lines[0].split_whitespace().next().unwrap().parse().unwrap();
    assert!(up > 600.0, "the host's /proc/uptime\n{out}");
    assert_eq!(lines[1], "0", "{out}");
}
