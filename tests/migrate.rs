//! An image unpacked before its user had subordinate ids: burrow records
//! the id map each layer was unpacked under, says once (with the fix) when
//! the map in force differs, and `system migrate` unpacks such layers
//! again, after which the image's owners are the container's again.
//! Runs burrow as a user the test makes (and removes), with a subordinate
//! range it adds to /etc/subuid and /etc/subgid (and takes out again).

mod common;

use common::fixtures::{Entry, ImageSpec, Kind, LayerBuilder};
use common::run_image::base_layer;
use common::TestEnv;
use std::process::Command;

/// A range below every other in the test users' files, so that the free
/// range burrow suggests to other tests' users (after every range) does
/// not change while this one is there.
const RANGE: &str = "40000:4000";

/// The test's own user: made by useradd, removed with its processes and
/// its lines in /etc/subuid and /etc/subgid when dropped.
struct OwnUser {
    name: String,
}

impl OwnUser {
    fn make(name: &str) -> OwnUser {
        let _ = Command::new("userdel").arg(name).status();
        let ok = Command::new("useradd")
            // No subordinate ids of useradd's choosing: none until the
            // test gives some.
            .args(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"])
            .args(["--no-create-home", "--shell", "/bin/sh", name])
            .status()
            .expect("run useradd");
        assert!(ok.success(), "useradd {name}");
        let user = OwnUser { name: name.into() };
        user.remove_ranges();
        user
    }

    /// Gives the user the subordinate range, as an admin's usermod would.
    fn add_range(&self) {
        for file in ["/etc/subuid", "/etc/subgid"] {
            edit(file, |lines| lines.push(format!("{}:{RANGE}", self.name)));
        }
    }
}

/// Rewrites a subid file atomically (readers in other tests never see
/// half of it), keeping every line not this test's.
fn edit(file: &str, f: impl FnOnce(&mut Vec<String>)) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    f(&mut lines);
    let tmp = format!("{file}.burrow-migrate-test");
    let mut out = lines.join("\n");
    out.push('\n');
    std::fs::write(&tmp, out).expect("write the subid file");
    std::fs::rename(&tmp, file).expect("replace the subid file");
}

impl OwnUser {
    fn remove_ranges(&self) {
        let prefix = format!("{}:", self.name);
        for file in ["/etc/subuid", "/etc/subgid"] {
            edit(file, |lines| lines.retain(|l| !l.starts_with(&prefix)));
        }
    }
}

impl Drop for OwnUser {
    fn drop(&mut self) {
        self.remove_ranges();
        // What burrow left running as this user (its namespace holders),
        // each by its pid: the user is this test's alone.
        if let Ok(Some(user)) = nix::unistd::User::from_name(&self.name) {
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(meta) = std::fs::metadata(entry.path()) else {
                    continue;
                };
                let owner = std::os::unix::fs::MetadataExt::uid(&meta);
                if owner == user.uid.as_raw() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        let _ = Command::new("userdel").args(["-f", &self.name]).status();
    }
}

#[test]
fn an_image_unpacked_without_subordinate_ids_is_migrated_once_they_come() {
    if !common::running_as_root() {
        eprintln!("SKIP migrate: needs root (it makes a user and gives it subordinate ids)");
        return;
    }
    let user = OwnUser::make("burrow-migrate");
    let Some(env) = TestEnv::as_user("migrate", &user.name) else {
        return;
    };
    let owned = LayerBuilder::new()
        .dir("srv")
        .entry(
            Entry::new("srv/owned", Kind::File)
                .owner(100, 100)
                .data("a user's file\n"),
        )
        .finish();
    let mut spec = ImageSpec::new(&["mig/owned:latest"], vec![base_layer(), owned]);
    spec.run_config = serde_json::json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
    });
    let (archive, _) = env.docker_archive("owned.tar", &[spec]);
    env.load(&archive);
    let stat = [
        "run",
        "--rm",
        "mig/owned",
        "stat",
        "-c",
        "%u:%g",
        "/srv/owned",
    ];
    // Without subordinate ids every file is yours on disk (what the
    // container sees of its owners is root emulation's).
    env.ok(&stat);

    user.add_range();
    let warned = |o: &common::Output| o.stderr.contains("system migrate");
    let run = env.ok(&stat);
    assert!(warned(&run), "no word of the old map with its fix\n{run}");
    assert!(run.stderr.contains("single-id map"), "{run}");
    // Under the full map, the files unpacked single-id are root's.
    assert_eq!(run.stdout.trim(), "0:0", "{run}");
    // Once, not at every command.
    let again = env.ok(&stat);
    assert!(!warned(&again), "said twice\n{again}");

    let migrated = env.ok(&["system", "migrate"]);
    assert!(migrated.stdout.contains("Unpacked"), "{migrated}");
    let after = env.ok(&stat);
    assert_eq!(after.stdout.trim(), "100:100", "{after}");
    assert!(!warned(&after), "{after}");
    // Nothing differs now: a no-op that says so.
    let noop = env.ok(&["system", "migrate"]);
    assert!(noop.stdout.contains("Nothing to migrate"), "{noop}");
    drop(env);
    drop(user);
}
