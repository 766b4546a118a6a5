//! Root without subordinate ids: a user with a single-id map (`burrow-nosub`)
//! runs apt, useradd, su and chown -R on the Debian fixture, and what
//! `commit` writes has the owners and modes the same steps give a user with
//! subordinate ids (`burrow-test`). The emulation never reaches a host file.

mod common;

use common::debian;
use common::layers::{commit_layer, export, last_layer, owner, owner_mode, tar_headers, Headers};
use common::{path_str, TestEnv, TestUser};
use std::io::Read;

/// Builds `containerfile` (its context holds nothing else) as `tag`; the
/// headers of the image's last layer.
fn build_layer(env: &TestEnv, containerfile: &str, tag: &str) -> Headers {
    let dir = env.work.join("ctx");
    std::fs::create_dir(&dir).expect("context dir");
    std::fs::write(dir.join("Containerfile"), containerfile).expect("write the Containerfile");
    env.give(&dir);
    env.give(&dir.join("Containerfile"));
    env.ok(&["build", "-t", tag, path_str(&dir)]);
    tar_headers(&last_layer(env, tag))
}

#[test]
fn apt_useradd_su_and_chown_work_without_subids_and_commit_the_owners_asked_for() {
    let test = "apt_useradd_su_and_chown_work_without_subids_and_commit_the_owners_asked_for";
    let Some(nosub) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let Some(fx) = debian::debian_image(&nosub, test) else {
        return;
    };
    let (said, emulated) = debian::root_steps_and_commit(&nosub, &fx, &[]);
    assert!(
        said.contains("uid=1000(bob) gid=1000(bob)"),
        "su bob -c id:\n{said}"
    );
    // `stat` inside shows root (every file is really the user's); the
    // layer has the owners asked for. uuidd is a system user (100 here),
    // bob the first ordinary one.
    assert_eq!(
        owner_mode(&emulated, "var/lib/libuuid"),
        Some((100, 101, 0o2775)),
        "the maintainer script's chown"
    );
    assert_eq!(owner(&emulated, "data/sub/file"), Some((1000, 1000)));
    assert_eq!(owner(&emulated, "home/bob"), Some((1000, 1000)));

    drop(nosub);
    let Some(full) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    debian::import(&full, &fx);
    let (_, real) = debian::root_steps_and_commit(&full, &fx, &[]);
    // Known gap: `stat` inside shows the squashed owner, so a program that
    // copies an owner it read into a file it does not rename over the
    // original (useradd's backups of /etc/shadow and /etc/gshadow,
    // root:shadow in the image) copies root. /etc/shadow itself, written
    // anew and renamed over, keeps its owner. Everything else must match.
    let copied_from_stat = ["etc/shadow-", "etc/gshadow-"];
    let mut differ = Vec::new();
    for (path, h) in real
        .iter()
        .filter(|(p, _)| !copied_from_stat.contains(&p.as_str()))
    {
        match emulated.get(path) {
            Some(e) if e == h => {}
            other => differ.push(format!("{path}: with subids {h:?}, without {other:?}")),
        }
    }
    for path in emulated.keys().filter(|p| !real.contains_key(*p)) {
        differ.push(format!("{path}: only without subids"));
    }
    assert!(
        differ.is_empty(),
        "the layers differ in owners or modes (uid, gid, mode, type):\n{}",
        differ.join("\n")
    );
}

/// A container of a user without subordinate ids chowns through a symlink
/// to a host path, through a path swapped between a directory and such a
/// symlink in a race, a file of a volume and a host file it was given as
/// stdin: no host file gains the override xattr or changes at all.
#[test]
fn root_emulation_never_touches_a_host_file() {
    let test = "root_emulation_never_touches_a_host_file";
    let Some(env) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let Some(_fx) = debian::debian_image(&env, test) else {
        return;
    };
    let secret = env.canary.join("secret");
    let canary = path_str(&env.canary);
    let before = env.outside_listing();
    let script = format!(
        "ln -s {canary}/secret /link
         chown 1000:1000 /link; chown -h 1000 /link
         ln -s / /rootlink; chown 1000 /rootlink{canary}/secret
         mkdir -p /race
         ( i=0; while [ $i -lt 3000 ]; do
             rm -rf /race/d; ln -s {canary} /race/d; rm -f /race/d; mkdir /race/d
             touch /race/d/secret; i=$((i+1)); done ) &
         i=0; while [ $i -lt 3000 ]; do chown 1000:1000 /race/d/secret 2>/dev/null
             chown -h 1001 /race/d 2>/dev/null; i=$((i+1)); done
         wait
         chown 1000:1000 /vol/secret && echo volume-chown-ok
         perl -e 'chown 1000, 1000, \\*STDIN or die \"fchown: $!\"' && echo stdin-chown-ok
         mknod /vol/dev c 1 3 && echo volume-mknod-ok"
    );
    let stdin = std::fs::File::open(&secret).expect("open canary");
    let mut cmd = env.command(&[
        "run",
        "--rm",
        "-i",
        "--network",
        "none",
        "-v",
        &format!("{canary}:/vol"),
        debian::IMAGE,
        "sh",
        "-c",
        &script,
    ]);
    let out = cmd.stdin(stdin).output().expect("run burrow");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("volume-chown-ok"), "{said}");
    assert!(said.contains("stdin-chown-ok"), "{said}");
    assert_eq!(
        common::lgetxattr(&secret, "user.containers.override_stat"),
        None,
        "the host file got the override xattr"
    );
    // The volume's mknod made an empty regular file there (the container
    // may write its volume); nothing else changed.
    let dev = env.canary.join("dev");
    let meta = std::fs::symlink_metadata(&dev).expect("mknod made a file in the volume");
    assert!(meta.is_file() && meta.len() == 0, "{meta:?}");
    std::fs::remove_file(&dev).expect("remove it");
    before.assert_unchanged(&env.outside_listing(), "root emulation");
}

/// The emulation is for single-id maps only: with subordinate ids a device
/// node cannot be made (the kernel's EPERM), without them it becomes an
/// empty regular file.
#[test]
fn root_emulation_is_absent_with_subids() {
    let test = "root_emulation_is_absent_with_subids";
    let script = "mknod /node c 1 3 && stat -c %F /node";
    if let Some(env) = TestEnv::new(test, TestUser::WithSubids) {
        if debian::debian_image(&env, test).is_some() {
            let out = env.run(&[
                "run",
                "--rm",
                "--network",
                "none",
                debian::IMAGE,
                "sh",
                "-c",
                script,
            ]);
            assert!(!out.status.success(), "{out}");
            assert!(out.stderr.contains("Operation not permitted"), "{out}");
        }
    }
    if let Some(env) = TestEnv::new(test, TestUser::NoSubids) {
        if debian::debian_image(&env, test).is_some() {
            let out = env.ok(&[
                "run",
                "--rm",
                "--network",
                "none",
                debian::IMAGE,
                "sh",
                "-c",
                script,
            ]);
            assert_eq!(out.stdout.trim(), "regular empty file", "{out}");
        }
    }
}

/// `exec` into a container of a user without subordinate ids gets the
/// emulation too: useradd, su and chown succeed in an exec'd shell, a
/// detached exec's chown is still answered after the `exec` command has
/// returned, and `commit` keeps the owners both asked for.
#[test]
fn exec_d_processes_are_emulated_and_their_owners_committed() {
    let test = "exec_d_processes_are_emulated_and_their_owners_committed";
    let Some(env) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let Some(_fx) = debian::debian_image(&env, test) else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--network",
        "none",
        debian::IMAGE,
        "sleep",
        "600",
    ]);
    let out = env.ok(&[
        "exec",
        "box",
        "sh",
        "-c",
        "set -e; useradd -m carol; su carol -c id; \
         echo x > /ex; chown carol:carol /ex; echo exec-chown-ok",
    ]);
    assert!(out.stdout.contains("uid=1000(carol)"), "{out}");
    assert!(out.stdout.contains("exec-chown-ok"), "{out}");
    // Detached: nobody waits for it, its server still answers.
    env.ok(&[
        "exec",
        "-d",
        "box",
        "sh",
        "-c",
        "sleep 1; echo y > /late; chown 1234:4321 /late && touch /late-done",
    ]);
    common::wait_for(
        std::time::Duration::from_secs(60),
        "the detached exec's chown to finish",
        || {
            env.run(&["exec", "box", "test", "-e", "/late-done"])
                .status
                .success()
        },
    );
    let layer = commit_layer(&env, "box", "localhost/after-exec:1");
    env.ok(&["rm", "-f", "box"]);
    assert_eq!(owner(&layer, "ex"), Some((1000, 1000)));
    assert_eq!(owner(&layer, "late"), Some((1234, 4321)));
    assert_eq!(owner(&layer, "home/carol"), Some((1000, 1000)));
}

/// One seccomp listener serves root emulation and direct ports together:
/// for a user without subordinate ids, a chown to another owner succeeds
/// and a published TCP server still listens on the host itself (no relay
/// of burrow's holds the port).
#[test]
fn root_emulation_and_direct_ports_share_one_listener() {
    let test = "root_emulation_and_direct_ports_share_one_listener";
    let Some(env) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let image = common::fixtures::busybox_rootfs()
        .symlink("bin/nc", "busybox")
        .finish();
    let tarball = env.fixture("ncbox.tar", &image.tar);
    env.ok(&["import", path_str(&tarball), "ncbox"]);
    let port = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        l.local_addr().expect("addr").port()
    };
    let publish = format!("127.0.0.1:{port}:8080");
    let ctr = env.spawn(&[
        "run",
        "--rm",
        "-p",
        &publish,
        "ncbox",
        "sh",
        "-c",
        "touch /f && chown 7:8 /f && echo chown-ok; echo reply-from-inside | nc -l -p 8080",
    ]);
    // The host's listening socket on the port is the container's nc's
    // own (burrow's relay holds the port until the server binds it).
    common::wait_for(
        std::time::Duration::from_secs(120),
        &format!("port {port} to be served directly by nc"),
        || {
            let holders = listener_holders(port);
            if holders.iter().any(|c| c == "nc") {
                Ok(())
            } else {
                Err(format!("held by {holders:?}"))
            }
        },
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // nc ends when both its stdin and the connection have ended.
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut said = String::new();
    s.read_to_string(&mut said).expect("read the reply");
    drop(s);
    let out = common::finish(ctr);
    assert!(out.stdout.contains("chown-ok"), "{out}");
    assert_eq!(said.trim(), "reply-from-inside");
}

/// The command names of the processes holding the host's listening TCP
/// socket on `port`.
fn listener_holders(port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local == Some(port) && f.get(3) == Some(&"0A") {
                if let Some(i) = f.get(9) {
                    inodes.push(format!("socket:[{i}]"));
                }
            }
        }
    }
    let mut out = Vec::new();
    if inodes.is_empty() {
        return out;
    }
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|t| inodes.iter().any(|i| t.as_os_str() == i.as_str()))
        });
        if holds {
            if let Ok(comm) = std::fs::read_to_string(p.path().join("comm")) {
                out.push(comm.trim().to_string());
            }
        }
    }
    out
}

/// An image whose entries belong to several ids (a directory, files, a
/// hard link, a symbolic link, a fifo, a group outside the map), unpacked
/// by a user without subordinate ids, where every entry is really the
/// user's: `export` of a container of it gives back the image's owners and
/// modes for every entry of its layer; a file the container changed keeps
/// its owner in `commit`, and so does one a RUN step of `build` changed,
/// with the directories on their way.
#[test]
fn image_owners_survive_a_single_id_map_in_export_commit_and_build() {
    use common::fixtures::{Entry, Kind};
    let test = "image_owners_survive_a_single_id_map_in_export_commit_and_build";
    let Some(env) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let image = common::fixtures::busybox_rootfs()
        .entry(Entry::new("data", Kind::Dir).mode(0o2750).owner(1000, 1001))
        .entry(
            Entry::new("data/f", Kind::File)
                .mode(0o640)
                .owner(1234, 5678)
                .data("f\n"),
        )
        .entry(
            Entry::new("data/keep", Kind::File)
                .owner(33, 33)
                .data("k\n"),
        )
        .entry(
            Entry::new("data/h", Kind::Hardlink)
                .link("data/f")
                .owner(1234, 5678),
        )
        .entry(Entry::new("data/l", Kind::Symlink).link("f").owner(42, 43))
        .entry(Entry::new("data/p", Kind::Fifo).mode(0o600).owner(7, 8))
        .entry(Entry::new("srv", Kind::Dir).mode(0o750).owner(0, 42))
        .entry(
            Entry::new("srv/l", Kind::Symlink)
                .link("/data")
                .owner(0, 42),
        )
        .finish();
    let tarball = env.fixture("owners.tar", &image.tar);
    env.ok(&["import", path_str(&tarball), "owners"]);
    let given = tar_headers(&image.tar);

    env.ok(&[
        "run",
        "--name",
        "c",
        "--network",
        "none",
        "owners",
        "sh",
        "-c",
        "echo more >> /data/f",
    ]);
    let exported = export(&env, "c");
    let mut differ = Vec::new();
    for (path, want) in &given {
        // A hard link is exported as the file it links: its owner, the
        // file's mode.
        let same = |got: &(u64, u64, u32, u8)| {
            if want.3 == b'1' {
                (got.0, got.1) == (want.0, want.1)
            } else {
                got == want
            }
        };
        match exported.get(path) {
            Some(got) if same(got) => {}
            other => differ.push(format!("{path}: image {want:?}, export {other:?}")),
        }
    }
    assert!(
        differ.is_empty(),
        "export lost the image's owners (uid, gid, mode, type):\n{}",
        differ.join("\n")
    );

    let committed = commit_layer(&env, "c", "localhost/owners-commit:1");
    assert_eq!(
        owner_mode(&committed, "data/f"),
        Some((1234, 5678, 0o640)),
        "the changed file\n{committed:?}"
    );
    assert_eq!(
        owner_mode(&committed, "data"),
        Some((1000, 1001, 0o2750)),
        "its directory"
    );

    let built = build_layer(
        &env,
        "FROM owners\nRUN echo more >> /data/keep && ln -sf /data/f /srv/new\n",
        "localhost/owners-built:1",
    );
    assert_eq!(
        owner_mode(&built, "data/keep"),
        Some((33, 33, 0o644)),
        "the file the RUN step changed\n{built:?}"
    );
    assert_eq!(owner_mode(&built, "data"), Some((1000, 1001, 0o2750)));
    assert_eq!(
        owner_mode(&built, "srv"),
        Some((0, 42, 0o750)),
        "a directory whose group the map lacks"
    );
}

/// Symbolic links and fifos cannot carry the override xattr: a chown of
/// one by a user without subordinate ids is recorded in the writable
/// layer's owners file, and `commit`, `export` and `build` write it. The
/// record follows its entry through a rename, is not given to a new entry
/// made at its path, and a link of the image chowned inside gets the
/// owner asked for.
#[test]
fn chowned_symlinks_and_fifos_keep_their_owners_in_commit_export_and_build() {
    let test = "chowned_symlinks_and_fifos_keep_their_owners_in_commit_export_and_build";
    let Some(env) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let mut image = common::fixtures::busybox_rootfs();
    for applet in ["ln", "chown", "mkfifo", "mv"] {
        image = image.symlink(&format!("bin/{applet}"), "busybox");
    }
    let image = image.finish();
    let tarball = env.fixture("links.tar", &image.tar);
    env.ok(&["import", path_str(&tarball), "links"]);
    env.ok(&[
        "run",
        "--name",
        "c",
        "--network",
        "none",
        "links",
        "sh",
        "-c",
        "set -e
         ln -s x /l && chown -h 5:5 /l
         mkfifo /f && chown 6:6 /f
         ln -s y /m && chown -h 7:7 /m && mv /m /moved
         ln -s z /re && chown -h 8:8 /re && rm /re && ln -s z2 /re
         chown -h 11:12 /bin/true",
    ]);
    let want = [
        ("l", (5, 5)),
        ("f", (6, 6)),
        ("moved", (7, 7)),
        ("re", (0, 0)),
        ("bin/true", (11, 12)),
    ];
    let owners = |h: &Headers| -> Vec<(&str, Option<(u64, u64)>)> {
        want.iter().map(|(p, _)| (*p, owner(h, p))).collect()
    };
    let wanted: Vec<(&str, Option<(u64, u64)>)> =
        want.iter().map(|(p, o)| (*p, Some(*o))).collect();

    let committed = commit_layer(&env, "c", "localhost/links-commit:1");
    assert_eq!(owners(&committed), wanted, "commit\n{committed:?}");
    assert_eq!(committed.get("f").map(|h| h.3), Some(b'6'), "a fifo");

    let exported = export(&env, "c");
    assert_eq!(owners(&exported), wanted, "export");

    let built = build_layer(
        &env,
        "FROM links\nRUN ln -s x /bl && chown -h 5:6 /bl && mkfifo /bf && chown 7:8 /bf\n",
        "localhost/links-built:1",
    );
    assert_eq!(
        (owner(&built, "bl"), owner(&built, "bf")),
        (Some((5, 6)), Some((7, 8))),
        "build\n{built:?}"
    );
}

/// `stat` shows every file as root's, so a program that rewrites a file
/// by a new copy given the owner it read (`sed -i` here, useradd for
/// /etc/shadow) asks for root. When that same process renames its copy
/// over a file with another recorded owner, the copy takes that owner;
/// a file chowned to root by one process and renamed by another, one
/// never chowned, and a chown back to root keep root. A host file on a
/// volume, with an owner recorded there, rewritten the same way gains
/// nothing.
#[test]
fn a_rewritten_copy_renamed_over_a_file_keeps_that_files_owner() {
    let test = "a_rewritten_copy_renamed_over_a_file_keeps_that_files_owner";
    let Some(env) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let mut image = common::fixtures::busybox_rootfs();
    for applet in ["chown", "chmod", "mv", "sed"] {
        image = image.symlink(&format!("bin/{applet}"), "busybox");
    }
    let image = image.finish();
    let tarball = env.fixture("rewrite.tar", &image.tar);
    env.ok(&["import", path_str(&tarball), "rewrite"]);
    let vol = env.work.join("vol");
    let host_file = vol.join("hostf");
    std::fs::create_dir(&vol).expect("volume dir");
    std::fs::write(&host_file, "a\n").expect("host file");
    rustix::fs::setxattr(
        &host_file,
        "user.containers.override_stat",
        b"5:6:0644:file",
        rustix::fs::XattrFlags::empty(),
    )
    .expect("an owner recorded on the host file");
    env.give(&vol);
    env.give(&host_file);
    env.ok(&[
        "run",
        "--name",
        "c",
        "--network",
        "none",
        "-v",
        &format!("{}:/vol", path_str(&vol)),
        "rewrite",
        "sh",
        "-c",
        "set -e
         echo a > /f && chown 5:6 /f && chmod 640 /f && sed -i s/a/b/ /f
         echo a > /g && chown 5:6 /g && echo n > /n && chown 0:0 /n && mv /n /g
         echo a > /h && chown 5:6 /h && echo n > /n2 && mv /n2 /h
         echo a > /r && chown 5:6 /r && chown 0:0 /r
         sed -i s/a/b/ /vol/hostf",
    ]);
    assert_eq!(
        std::fs::read_to_string(&host_file).expect("read the host file"),
        "b\n"
    );
    assert_eq!(
        common::lgetxattr(&host_file, "user.containers.override_stat"),
        None,
        "the volume's file was given an owner"
    );
    let layer = commit_layer(&env, "c", "localhost/rewrite:1");
    let got: Vec<_> = ["f", "g", "h", "r"]
        .iter()
        .map(|p| (*p, owner_mode(&layer, p)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("f", Some((5, 6, 0o640))),
            ("g", Some((0, 0, 0o644))),
            ("h", Some((0, 0, 0o644))),
            ("r", Some((0, 0, 0o644))),
        ]
    );
}

/// A copy that would take the owner of the file it replaces gets none
/// when the rename fails: here the target's directory is read-only to a
/// root without CAP_DAC_OVERRIDE (EACCES), and the copy stays where it
/// was, root's. The same process's rename in a writable directory still
/// carries the owner, and the copy is gone from its old name.
#[test]
fn a_rename_that_fails_carries_no_owner() {
    let test = "a_rename_that_fails_carries_no_owner";
    let Some(env) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let Some(_fx) = debian::debian_image(&env, test) else {
        return;
    };
    let perl = r#"
        open(F, ">", "/a/n") or die; close F; chown 0, 0, "/a/n" or die;
        print rename("/a/n", "/b/g") ? "renamed\n" : "failed: $!\n";
        open(F, ">", "/a/m") or die; close F; chmod 0600, "/a/m"; chown 0, 0, "/a/m" or die;
        print rename("/a/m", "/a/g") ? "renamed\n" : "failed: $!\n";"#;
    let out = env.ok(&[
        "run",
        "--name",
        "c",
        "--network",
        "none",
        "--cap-drop",
        "DAC_OVERRIDE",
        debian::IMAGE,
        "sh",
        "-c",
        &format!(
            "set -e; mkdir /a /b; echo a > /b/g; chown 5:6 /b/g; chmod 555 /b
             echo a > /a/g; chown 7:8 /a/g; perl -e '{perl}'"
        ),
    ]);
    assert_eq!(
        out.stdout, "failed: Permission denied\nrenamed\n",
        "{out:?}"
    );
    let layer = commit_layer(&env, "c", "localhost/failed-rename:1");
    let got: Vec<_> = ["a/n", "b/g", "a/g", "a/m"]
        .iter()
        .map(|p| (*p, owner_mode(&layer, p)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a/n", Some((0, 0, 0o644))),
            ("b/g", Some((5, 6, 0o644))),
            ("a/g", Some((7, 8, 0o600))),
            ("a/m", None),
        ]
    );
}

/// A file or directory its owner cannot read or write (mode 000, 0444:
/// /etc/shadow on some distributions, private keys, dpkg's files before
/// their chmod) keeps its recorded owner like any other: a chown to
/// another owner is recorded, a chown back to root drops the record, a
/// chown passing -1 keeps the recorded half, and `commit` writes the
/// recorded owner; the modes stay as the container set them.
#[test]
fn owners_of_files_their_owner_cannot_read_are_recorded_and_committed() {
    let test = "owners_of_files_their_owner_cannot_read_are_recorded_and_committed";
    let Some(env) = TestEnv::new(test, TestUser::NoSubids) else {
        return;
    };
    let Some(_fx) = debian::debian_image(&env, test) else {
        return;
    };
    let out = env.ok(&[
        "run",
        "--name",
        "c",
        "--network",
        "none",
        debian::IMAGE,
        "sh",
        "-c",
        "set -e
         for f in back grp uid kept late ro; do echo a > /$f; done
         chown 5:6 /back /grp /uid /kept; chmod 000 /back /grp /uid /kept
         chown 0:0 /back; chown :7 /grp; chown 8 /uid
         chmod 000 /late; chown 5:6 /late
         chmod 444 /ro; chown 5:6 /ro
         mkdir /d; chmod 000 /d; chown 5:6 /d
         stat -c '%n %a' /back /grp /uid /kept /late /ro /d",
    ]);
    assert_eq!(
        out.stdout, "/back 0\n/grp 0\n/uid 0\n/kept 0\n/late 0\n/ro 444\n/d 0\n",
        "{out:?}"
    );
    let layer = commit_layer(&env, "c", "localhost/mode-000:1");
    let got: Vec<_> = ["back", "grp", "uid", "kept", "late", "ro", "d"]
        .iter()
        .map(|p| (*p, owner_mode(&layer, p)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("back", Some((0, 0, 0))),
            ("grp", Some((5, 7, 0))),
            ("uid", Some((8, 6, 0))),
            ("kept", Some((5, 6, 0))),
            ("late", Some((5, 6, 0))),
            ("ro", Some((5, 6, 0o444))),
            ("d", Some((5, 6, 0))),
        ]
    );
}
