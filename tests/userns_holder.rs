//! The shared user namespace, as the unprivileged users: containers with
//! the full id map enter one namespace kept by a small holder process
//! (started by the first run, found again by the next), which exits when
//! idle, killed or reset, without harming containers or later runs.

mod common;

use common::run_image::{self, PLAIN};
use common::{TestEnv, TestUser};
use std::path::Path;
use std::time::Duration;

fn setup(test: &str, user: TestUser) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    run_image::load_run_images(&env);
    Some(env)
}

fn config(env: &TestEnv, text: &str) {
    let dir = env.config_home.join("burrow");
    std::fs::create_dir_all(&dir).unwrap();
    env.give(&dir);
    let file = dir.join("config.toml");
    std::fs::write(&file, text).unwrap();
    env.give(&file);
}

/// Live holder processes of this environment (its runtime dir on the
/// command line), as /proc shows them.
fn holders(env: &TestEnv) -> Vec<i32> {
    let dir = env.runtime_dir.join("burrow/userns");
    let want = format!("__userns-holder {}", dir.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let zombie = stat.rsplit(')').next()?.trim_start().starts_with('Z');
            (cmd.contains(&want) && !zombie).then_some(pid)
        })
        .collect()
}

/// The holders' records in this environment's runtime dir.
fn records(env: &TestEnv) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(env.runtime_dir.join("burrow/userns"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default()
}

fn userns_of(pid: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/user"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The user namespace a container sees itself in.
fn container_userns(env: &TestEnv) -> String {
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        PLAIN,
        "readlink",
        "/proc/self/ns/user",
    ]);
    out.stdout.trim().to_string()
}

fn wait_until(what: &str, limit: Duration, f: impl FnMut() -> bool) {
    common::wait_for(limit, what, f);
}

#[test]
fn containers_share_the_holders_namespace_with_the_full_map() {
    let Some(env) = setup(
        "containers_share_the_holders_namespace_with_the_full_map",
        TestUser::WithSubids,
    ) else {
        return;
    };
    assert!(holders(&env).is_empty(), "no holder before the first run");
    let first = container_userns(&env);
    let held = holders(&env);
    assert_eq!(held.len(), 1, "the first run starts one holder: {held:?}");
    let holder = held[0];
    assert_eq!(
        first,
        userns_of(holder),
        "the container is in the holder's namespace"
    );
    assert_eq!(
        container_userns(&env),
        first,
        "the next run enters it again"
    );
    assert_eq!(holders(&env), vec![holder], "and starts no other holder");

    // The full map is in force: root is you, 1.. are your subordinate ids.
    let out = env.ok(&["run", "--rm", PLAIN, "cat", "/proc/self/uid_map"]);
    let sub = env.account.subuid.as_ref().unwrap();
    let lines: Vec<Vec<u64>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec![0, env.account.uid as u64, 1],
            vec![1, sub.start as u64, sub.count as u64]
        ],
        "{out}"
    );

    // The holder left the caller's session and holds none of its files:
    // the runs above returned, and it is in a session of its own.
    let stat = std::fs::read_to_string(format!("/proc/{holder}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields[3], holder.to_string(), "session leader: {stat}");
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{holder}/fd"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(fds.len() <= 3, "the holder keeps only stdio: {fds:?}");
    assert_eq!(
        std::fs::read_link(format!("/proc/{holder}/cwd")).unwrap(),
        Path::new("/"),
        "the holder keeps no directory busy"
    );

    // `system reset` ends it.
    env.ok(&["system", "reset", "-f"]);
    wait_until("the holder exits on reset", Duration::from_secs(5), || {
        holders(&env).is_empty()
    });
}

#[test]
fn a_killed_holder_is_replaced_and_its_containers_keep_running() {
    let Some(env) = setup(
        "a_killed_holder_is_replaced_and_its_containers_keep_running",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let id = env.ok(&["run", "-d", "--network", "none", PLAIN, "sleep", "60"]);
    let id = id.stdout.trim().to_string();
    let old = holders(&env);
    assert_eq!(old.len(), 1, "{old:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("the holder dies", Duration::from_secs(5), || {
        holders(&env).is_empty()
    });
    // The detached container did not notice: exec still enters it.
    let out = env.ok(&["exec", &id, "echo", "still-here"]);
    assert_eq!(out.stdout.trim(), "still-here");
    // The next run starts a new holder, in a new namespace.
    let ns = container_userns(&env);
    let new = holders(&env);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_ne!(new, old);
    assert_eq!(ns, userns_of(new[0]));
    env.ok(&["rm", "-f", &id]);
}

#[test]
fn an_idle_holder_exits_and_keep_alive_zero_keeps_none() {
    let Some(env) = setup(
        "an_idle_holder_exits_and_keep_alive_zero_keeps_none",
        TestUser::WithSubids,
    ) else {
        return;
    };
    config(
        &env,
        "[registries]\nsearch = []\n[userns]\nkeep_alive = 1\n",
    );
    container_userns(&env);
    assert_eq!(holders(&env).len(), 1);
    wait_until(
        "a holder idle for keep_alive exits",
        Duration::from_secs(10),
        || holders(&env).is_empty(),
    );
    assert!(records(&env).is_empty(), "it removes its record");
    // Runs still work after it went.
    container_userns(&env);

    wait_until("the next holder exits too", Duration::from_secs(10), || {
        holders(&env).is_empty()
    });
    config(
        &env,
        "[registries]\nsearch = []\n[userns]\nkeep_alive = 0\n",
    );
    // Each container now gets a namespace of its own: one kept alive by a
    // detached container differs from the next run's.
    let id = env.ok(&["run", "-d", "--network", "none", PLAIN, "sleep", "60"]);
    let id = id.stdout.trim().to_string();
    let detached = env.ok(&["exec", &id, "readlink", "/proc/self/ns/user"]);
    assert_ne!(detached.stdout.trim(), container_userns(&env));
    assert!(holders(&env).is_empty(), "keep_alive = 0 starts no holder");
    env.ok(&["rm", "-f", &id]);
}

#[test]
fn concurrent_first_runs_start_one_holder() {
    let Some(env) = setup(
        "concurrent_first_runs_start_one_holder",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let runs: Vec<_> = (0..8)
        .map(|_| env.spawn(&["run", "--rm", "--network", "none", PLAIN, "true"]))
        .collect();
    for r in runs {
        common::finish(r).assert_ok();
    }
    let held = holders(&env);
    assert_eq!(held.len(), 1, "one holder for all: {held:?}");
}

#[test]
fn keep_id_gets_a_holder_of_its_own_and_the_single_id_user_none() {
    if let Some(env) = setup(
        "keep_id_gets_a_holder_of_its_own_and_the_single_id_user_none",
        TestUser::WithSubids,
    ) {
        let keep = |args: &[&str]| {
            let mut a = vec![
                "run",
                "--rm",
                "--network",
                "none",
                "--userns",
                "keep-id",
                PLAIN,
            ];
            a.extend(args);
            env.ok(&a).stdout.trim().to_string()
        };
        assert_eq!(keep(&["id", "-u"]), env.account.uid.to_string());
        let keep_ns = keep(&["readlink", "/proc/self/ns/user"]);
        assert_eq!(holders(&env).len(), 1, "keep-id's map has a holder");
        assert_eq!(
            keep(&["readlink", "/proc/self/ns/user"]),
            keep_ns,
            "and runs enter it"
        );
        let default_ns = container_userns(&env);
        let held = holders(&env);
        assert_eq!(held.len(), 2, "the default map another: {held:?}");
        assert_ne!(default_ns, keep_ns, "two maps, two namespaces");
        let mut held_ns: Vec<String> = held.iter().map(|&p| userns_of(p)).collect();
        held_ns.sort();
        let mut want = vec![default_ns, keep_ns];
        want.sort();
        assert_eq!(held_ns, want);
        env.ok(&["system", "reset", "-f"]);
        wait_until("reset ends both", Duration::from_secs(5), || {
            holders(&env).is_empty()
        });
        assert!(records(&env).is_empty());
    }
    if let Some(env) = setup(
        "keep_id_gets_a_holder_of_its_own_and_the_single_id_user_none_nosub",
        TestUser::NoSubids,
    ) {
        env.ok(&["run", "--rm", "--network", "none", PLAIN, "true"]);
        assert!(
            holders(&env).is_empty(),
            "no holder without subordinate ids"
        );
        assert!(records(&env).is_empty());
    }
}
