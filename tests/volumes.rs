//! Volumes end to end, as the unprivileged users: the `volume` verbs,
//! each way a container mounts one (`-v NAME:`, `-v /path`, the image's
//! VOLUME, `--mount type=volume`, `--volumes-from`), the fill from the
//! image on first use, what `rm -v` and `--rm` remove, and containers
//! that plant links in a volume to reach the host through a later
//! command.

mod common;

use common::fixtures::{busybox_rootfs, Entry, ImageSpec, Kind, LayerBuilder};
use common::{path_str, Listing, TestEnv, TestUser};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;

const IMAGE: &str = "localhost/vol:1";
/// The same image with `/data` a symlink that climbs out of the root.
const ESCAPE: &str = "localhost/vol-escape:1";

/// The image: busybox, and `/data` (its VOLUME) holding files of several
/// owners and modes, an xattr, a symlink and a hard link.
fn env_with_image(test: &str, user: TestUser) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    let base = busybox_rootfs().finish();
    let data = LayerBuilder::new()
        .entry(Entry::new("data", Kind::Dir).owner(33, 44).mode(0o750))
        .entry(
            Entry::new("data/owned", Kind::File)
                .owner(1000, 2000)
                .mode(0o640)
                .data("owned by 1000:2000\n")
                .xattr("user.note", b"kept"),
        )
        .entry(
            Entry::new("data/sub", Kind::Dir)
                .owner(1000, 1000)
                .mode(0o2755),
        )
        .entry(
            Entry::new("data/sub/exec", Kind::File)
                .mode(0o4755)
                .data("#!/bin/sh\n"),
        )
        .symlink("data/link", "owned")
        .hardlink("data/hard", "data/owned")
        .finish();
    let mut image = ImageSpec::new(&[IMAGE], vec![base.clone(), data]);
    image.run_config = json!({
        "Env": ["PATH=/bin"], "Cmd": ["sh"], "Volumes": {"/data": {}}
    });
    // `/data` a link out of the root, to a path that exists on the host.
    let escape_to = format!("../../../../../../..{}", path_str(&env.canary));
    let escape_layer = LayerBuilder::new().symlink("data", &escape_to).finish();
    let mut escape = ImageSpec::new(&[ESCAPE], vec![base, escape_layer]);
    escape.run_config = json!({
        "Env": ["PATH=/bin"], "Cmd": ["sh"], "Volumes": {"/data": {}}
    });
    let (path, _) = env.docker_archive("vol.tar", &[image, escape]);
    env.give(&path);
    env.load(&path).assert_ok();
    Some(env)
}

fn volume_names(env: &TestEnv) -> Vec<String> {
    let out = env.ok(&["volume", "ls", "-q"]);
    out.stdout_lines().iter().map(|s| s.to_string()).collect()
}

fn inspect_volume(env: &TestEnv, name: &str) -> Value {
    let out = env.ok(&["volume", "inspect", name]);
    let v: Value = serde_json::from_str(&out.stdout).expect("volume inspect is JSON");
    v[0].clone()
}

fn sh(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    env.ok(&all).stdout
}

/// `run --rm -v VOLUME... IMAGE sh -c SCRIPT`, which must succeed: its
/// stdout.
fn in_volumes(env: &TestEnv, volumes: &[&str], script: &str) -> String {
    let mut args = Vec::new();
    for v in volumes {
        args.extend(["-v", v]);
    }
    args.extend([IMAGE, "sh", "-c", script]);
    sh(env, &args)
}

#[test]
fn volume_verbs_create_list_inspect_remove_as_docker_documents_them() {
    let Some(env) = TestEnv::new("volume_verbs", TestUser::Any) else {
        return;
    };
    let out = env.ok(&[
        "volume", "create", "--label", "env=prod", "--label", "tier", "web",
    ]);
    assert_eq!(out.stdout.trim(), "web");
    // Again: the same volume, as docker answers.
    assert_eq!(env.ok(&["volume", "create", "web"]).stdout.trim(), "web");
    let anon = env.ok(&["volume", "create"]).stdout.trim().to_string();
    assert!(common::is_hex64(&anon), "a random 64-hex name: {anon}");
    env.ok(&["volume", "create", "pg"]);

    let v = inspect_volume(&env, "web");
    assert_eq!(v["Name"], "web");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"], json!({"env": "prod", "tier": ""}));
    assert_eq!(v["Options"], json!({}));
    assert!(
        v["CreatedAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    let mountpoint = v["Mountpoint"].as_str().expect("Mountpoint").to_string();
    assert_eq!(
        mountpoint,
        path_str(&env.storage().join("volumes/web/_data"))
    );
    assert!(fs::metadata(&mountpoint).expect("mountpoint").is_dir());
    assert_eq!(
        env.ok(&[
            "volume",
            "inspect",
            "--format",
            "{{.Name}} {{.Labels.env}}",
            "web"
        ])
        .stdout,
        "web prod\n"
    );

    let mut all = volume_names(&env);
    all.sort();
    let mut want = vec![anon.clone(), "pg".to_string(), "web".to_string()];
    want.sort();
    assert_eq!(all, want);
    let table = env.ok(&["volume", "ls"]).stdout;
    assert!(table.starts_with("DRIVER"), "{table}");
    assert!(table.contains("VOLUME NAME"), "{table}");
    let filtered = |f: &str| {
        env.ok(&["volume", "ls", "-q", "--filter", f])
            .stdout_lines()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(filtered("label=env=prod"), vec!["web"]);
    assert_eq!(filtered("label=tier"), vec!["web"]);
    assert_eq!(filtered("name=pg"), vec!["pg"]);
    assert_eq!(filtered("dangling=true").len(), 3);
    assert!(filtered("dangling=false").is_empty());
    assert_eq!(
        env.ok(&[
            "volume",
            "ls",
            "--filter",
            "name=web",
            "--format",
            "{{.Name}}:{{.Driver}}:{{.Labels}}"
        ])
        .stdout,
        "web:local:env=prod,tier=\n"
    );

    assert_eq!(env.run(&["volume", "exists", "web"]).code(), Some(0));
    assert_eq!(env.run(&["volume", "exists", "nope"]).code(), Some(1));
    let missing = env.run(&["volume", "inspect", "nope"]);
    assert_eq!(missing.code(), Some(1), "{missing}");
    assert!(missing.stderr.contains("No such volume: nope"), "{missing}");

    // Names that are paths are refused, and nothing is made for them.
    for bad in ["../x", "a/b", "..", "x"] {
        let out = env.run(&["volume", "create", bad]);
        assert_eq!(out.code(), Some(1), "{bad}: {out}");
        assert!(out.stderr.contains("invalid characters"), "{bad}: {out}");
    }
    assert!(!env.storage().join("x").exists());
    let driver = env.run(&["volume", "create", "--driver", "nfs", "n1"]);
    assert_eq!(driver.code(), Some(1), "{driver}");

    assert_eq!(env.ok(&["volume", "rm", "pg"]).stdout.trim(), "pg");
    let gone = env.run(&["volume", "rm", "pg"]);
    assert_eq!(gone.code(), Some(1), "{gone}");
    assert!(gone.stderr.contains("No such volume"), "{gone}");
    env.ok(&["volume", "rm", "-f", "pg"]);
    // prune: only anonymous ones by default; named ones with -a.
    env.ok(&["volume", "prune", "-f"]);
    assert_eq!(volume_names(&env), vec![anon.clone(), "web".to_string()]);
    let pruned = env.ok(&["volume", "prune", "-f", "-a"]);
    assert!(pruned.stdout.contains("Deleted Volumes:"), "{pruned}");
    assert!(volume_names(&env).is_empty());
    assert!(!std::path::Path::new(&mountpoint).exists());

    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let events = env.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--format",
        "{{.Action}} {{.Actor.ID}}",
    ]);
    assert!(events.stdout.contains("create web\n"), "{events}");
    assert!(events.stdout.contains("destroy pg\n"), "{events}");
}

#[test]
fn volume_ls_inspect_and_prune_read_and_filter_as_docker_s() {
    let Some(env) = env_with_image("volume_docker_shapes", TestUser::Any) else {
        return;
    };
    env.ok(&[
        "volume", "create", "--label", "env=prod", "--label", "tier=web", "web",
    ]);
    env.ok(&["volume", "create", "--label", "env=dev", "db"]);
    env.ok(&["volume", "create", "webcache"]);
    // db is used by a container (stopped): not dangling.
    env.ok(&["create", "--name", "user", "-v", "db:/data", IMAGE]);

    // --format json: docker's volume context, every value a string.
    let out = env.ok(&["volume", "ls", "--format", "json", "--filter", "name=^web$"]);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
    let mountpoint = path_str(&env.storage().join("volumes/web/_data")).to_string();
    assert_eq!(
        v,
        json!({
            "Availability": "N/A", "Driver": "local", "Group": "N/A",
            "Labels": "env=prod,tier=web", "Links": "N/A",
            "Mountpoint": mountpoint, "Name": "web", "Scope": "local",
            "Size": "N/A", "Status": "N/A"
        })
    );
    // The placeholders docker documents, `.Label "KEY"` among them.
    let out = env.ok(&[
        "volume",
        "ls",
        "--filter",
        "name=web",
        "--format",
        "{{.Name}}|{{.Driver}}|{{.Scope}}|{{.Mountpoint}}|{{.Labels}}|{{.Label \"tier\"}}|{{.Label \"none\"}}",
    ]);
    assert_eq!(
        out.stdout,
        format!(
            "web|local|local|{mountpoint}|env=prod,tier=web|web|\nwebcache|local|local|{}|||\n",
            path_str(&env.storage().join("volumes/webcache/_data"))
        )
    );
    // `label!` is volume prune's filter; docker's volume ls refuses it.
    let refused = env.run(&["volume", "ls", "--filter", "label!=env"]);
    assert_eq!(refused.code(), Some(125), "{refused}");
    assert!(
        refused.stderr.contains("invalid filter 'label!'"),
        "{refused}"
    );
    let table = env.ok(&["volume", "ls", "--format", "table {{.Name}}\t{{.Links}}"]);
    assert_eq!(
        table.stdout_lines()[0],
        "VOLUME NAME         LINKS",
        "{table}"
    );

    // inspect: docker's keys in docker's order, and --format.
    let out = env.ok(&["volume", "inspect", "web"]);
    let keys: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix('"')?
                .split_once("\": ")
                .map(|(k, _)| k)
        })
        .filter(|k| !["env", "tier"].contains(k))
        .collect();
    assert_eq!(
        keys,
        [
            "CreatedAt",
            "Driver",
            "Labels",
            "Mountpoint",
            "Name",
            "Options",
            "Scope"
        ],
        "{out}"
    );
    let v = inspect_volume(&env, "web");
    let created = v["CreatedAt"].as_str().expect("CreatedAt");
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339 to the second: {created}"
    );
    for f in ["--format", "-f"] {
        let out = env.ok(&[
            "volume",
            "inspect",
            f,
            "{{.Name}} {{.Mountpoint}} {{json .Labels}}",
            "web",
        ]);
        assert_eq!(
            out.stdout,
            format!("web {mountpoint} {{\"env\":\"prod\",\"tier\":\"web\"}}\n")
        );
    }

    // ls --filter: a key's values are alternatives, different keys and
    // labels must all hold, dangling takes one value.
    let names = |filters: &[&str]| {
        let mut args = vec!["volume", "ls", "-q"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        env.ok(&args).stdout
    };
    assert_eq!(names(&["name=db", "name=^web$"]), "db\nweb\n");
    assert_eq!(names(&["name=web", "label=env"]), "web\n");
    assert_eq!(names(&["label=env", "label=tier=web"]), "web\n");
    assert_eq!(names(&["dangling=false"]), "db\n");
    assert_eq!(names(&["dangling=1", "driver=local"]), "web\nwebcache\n");
    assert_eq!(names(&["driver=nfs"]), "");
    assert_eq!(
        names(&["driver=nfs", "driver=local", "name=cache"]),
        "webcache\n"
    );
    let both = env.run(&[
        "volume",
        "ls",
        "--filter",
        "dangling=true",
        "--filter",
        "dangling=false",
    ]);
    assert_eq!(both.code(), Some(1), "{both}");
    assert!(both.stderr.contains("invalid filter"), "{both}");

    // prune --filter takes docker's label, label! and all; not ls's keys.
    for bad in ["name=web", "dangling=true", "driver=local", "all=maybe"] {
        let out = env.run(&["volume", "prune", "-f", "--filter", bad]);
        assert_ne!(out.code(), Some(0), "{bad}: {out}");
        assert!(out.stderr.contains("invalid"), "{bad}: {out}");
    }
    // Without -a or all=true only anonymous volumes go: these are named.
    env.ok(&["volume", "prune", "-f", "--filter", "label=env"]);
    assert_eq!(names(&[]), "db\nweb\nwebcache\n");
    // all=true is -a; label!= keeps what carries it; db is in use.
    let out = env.ok(&[
        "volume",
        "prune",
        "-f",
        "--filter",
        "all=true",
        "--filter",
        "label!=tier",
    ]);
    assert!(out.stdout.contains("Deleted Volumes:\nwebcache\n"), "{out}");
    assert_eq!(names(&[]), "db\nweb\n");
    env.ok(&["rm", "user"]);
    let out = env.ok(&[
        "volume",
        "prune",
        "-f",
        "--filter",
        "all=1",
        "--filter",
        "label=env=dev",
    ]);
    assert!(out.stdout.contains("Deleted Volumes:\ndb\n"), "{out}");
    assert_eq!(names(&[]), "web\n");
}

/// The files of the image's `/data` as the container sees them in a
/// volume: `stat` lines of owner, mode and link count, the xattr, the link.
const LISTING: &str = "cd /data && stat -c '%n %u:%g %a' . owned sub sub/exec hard link \
     && stat -c %h owned && cat owned && readlink link";

fn expected_listing() -> &'static str {
    ". 33:44 750\nowned 1000:2000 640\nsub 1000:1000 2755\nsub/exec 0:0 4755\n\
     hard 1000:2000 640\nlink 0:0 777\n2\nowned by 1000:2000\nowned\n"
}

#[test]
fn a_named_volume_is_filled_from_the_image_once_and_keeps_its_data() {
    let Some(env) = env_with_image("volume_named", TestUser::WithSubids) else {
        return;
    };
    // A name, not a path: the volume is made on first use.
    let out = in_volumes(&env, &["keep:/data"], LISTING);
    assert_eq!(out, expected_listing());
    assert!(volume_names(&env).contains(&"keep".to_string()));
    // On the host: the owners in the subordinate range, the xattr kept.
    // Only root can look: the volume's root belongs to a subordinate id
    // with mode 0750, which the user who runs the suite cannot enter.
    if common::running_as_root() {
        let data = env.storage().join("volumes/keep/_data");
        let owned = fs::symlink_metadata(data.join("owned")).expect("owned copied");
        assert_eq!(
            (owned.uid(), owned.gid()),
            (env.account.host_uid(1000), env.account.host_gid(2000))
        );
        assert_eq!(owned.mode() & 0o7777, 0o640);
        let root = fs::symlink_metadata(&data).expect("_data");
        assert_eq!(
            (root.uid(), root.mode() & 0o7777),
            (env.account.host_uid(33), 0o750),
            "the volume's root takes the image directory's owner and mode"
        );
        let exec = fs::symlink_metadata(data.join("sub/exec")).expect("exec");
        assert_eq!(exec.mode() & 0o7777, 0o4755, "set-id bits kept");
        assert_eq!(
            common::lgetxattr(&data.join("owned"), "user.note").as_deref(),
            Some(&b"kept"[..])
        );
        assert_eq!(
            owned.ino(),
            fs::symlink_metadata(data.join("hard")).unwrap().ino(),
            "a hard link stays one"
        );
    } else {
        let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("SKIP the host-side owner checks of volume_named: the volume's files belong to subordinate ids, which only root can read\n"));
    }

    // Written, removed with its container, read by a new one.
    env.ok(&[
        "run",
        "--name",
        "w",
        "-v",
        "keep:/data",
        IMAGE,
        "sh",
        "-c",
        "echo mine > /data/new && rm /data/owned",
    ]);
    env.ok(&["rm", "w"]);
    let out = in_volumes(&env, &["keep:/data"], "cat /data/new; ls /data");
    assert_eq!(
        out, "mine\nhard\nlink\nnew\nsub\n",
        "not filled again: owned stays deleted"
    );
    assert!(
        volume_names(&env).contains(&"keep".to_string()),
        "--rm never removes a named volume"
    );

    // nocopy: an empty volume stays empty.
    let out = sh(
        &env,
        &["-v", "bare:/data:nocopy", IMAGE, "ls", "-A", "/data"],
    );
    assert_eq!(out, "");
    let out = sh(
        &env,
        &[
            "--mount",
            "type=volume,source=bare2,target=/data,volume-nocopy",
            IMAGE,
            "ls",
            "-A",
            "/data",
        ],
    );
    assert_eq!(out, "");
}

#[test]
fn a_volume_without_subordinate_ids_holds_the_image_content_and_is_writable() {
    let Some(env) = env_with_image("volume_nosub", TestUser::NoSubids) else {
        return;
    };
    let out = in_volumes(
        &env,
        &["v1:/data"],
        "cat /data/owned && echo w > /data/w && cat /data/w",
    );
    assert_eq!(out, "owned by 1000:2000\nw\n");
    env.ok(&["volume", "rm", "v1"]);
    assert!(!env.storage().join("volumes/v1").exists());
    // keep-id: you inside can write a new volume too.
    let out = sh(
        &env,
        &[
            "--userns",
            "keep-id",
            "-v",
            "v2:/x",
            IMAGE,
            "sh",
            "-c",
            "echo k > /x/k && cat /x/k",
        ],
    );
    assert_eq!(out, "k\n");
}

#[test]
fn keep_id_containers_write_volumes_as_root_and_as_you() {
    let Some(env) = env_with_image("volume_keepid", TestUser::WithSubids) else {
        return;
    };
    let out = sh(
        &env,
        &[
            "--userns",
            "keep-id",
            "-u",
            "0",
            "-v",
            "kv:/x",
            IMAGE,
            "sh",
            "-c",
            "echo r > /x/r && cat /x/r",
        ],
    );
    assert_eq!(out, "r\n");
    let out = sh(
        &env,
        &[
            "--userns",
            "keep-id",
            "-v",
            "k2:/x",
            IMAGE,
            "sh",
            "-c",
            "echo me > /x/me && cat /x/me",
        ],
    );
    assert_eq!(out, "me\n");
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_with_rm_but_named_ones_stay() {
    let Some(env) = env_with_image("volume_anon", TestUser::Any) else {
        return;
    };
    // The image's VOLUME and `-v /cache`: two fresh anonymous volumes.
    env.ok(&[
        "run",
        "--name",
        "a",
        "-v",
        "/cache",
        "-v",
        "named:/named",
        IMAGE,
        "sh",
        "-c",
        "echo c > /cache/c; cat /data/owned",
    ]);
    let names = volume_names(&env);
    assert_eq!(names.len(), 3, "{names:?}");
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let events = env.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--format",
        "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.destination}}",
    ]);
    for want in [
        "create named /",
        "mount named /named",
        "unmount named /named",
    ] {
        let want = want.trim_end_matches(" /");
        assert!(
            events
                .stdout
                .lines()
                .any(|l| l.trim_end() == want || l.starts_with(&format!("{want} "))),
            "{want}: {events}"
        );
    }
    let anon: Vec<&String> = names.iter().filter(|n| *n != "named").collect();
    for n in &anon {
        assert!(common::is_hex64(n));
        let v = inspect_volume(&env, n);
        assert_eq!(v["Labels"], json!({"com.docker.volume.anonymous": ""}));
    }
    let c: Value = serde_json::from_str(&env.ok(&["inspect", "a"]).stdout).unwrap();
    let mounts = c[0]["Mounts"].as_array().expect("Mounts").clone();
    let by_dst = |d: &str| {
        mounts
            .iter()
            .find(|m| m["Destination"] == d)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_dst("/named")["Type"], "volume");
    assert_eq!(by_dst("/named")["Name"], "named");
    assert_eq!(by_dst("/named")["Driver"], "local");
    assert_eq!(by_dst("/named")["RW"], true);
    assert_eq!(
        by_dst("/named")["Source"],
        path_str(&env.storage().join("volumes/named/_data"))
    );
    assert!(common::is_hex64(
        by_dst("/data")["Name"].as_str().unwrap_or("")
    ));
    assert!(common::is_hex64(
        by_dst("/cache")["Name"].as_str().unwrap_or("")
    ));

    // In use, even stopped: refused with docker's words, status 1.
    let refused = env.run(&["volume", "rm", "named"]);
    assert_eq!(refused.code(), Some(1), "{refused}");
    assert!(refused.stderr.contains("volume is in use"), "{refused}");
    assert!(env.storage().join("volumes/named/_data").exists());
    let pruned = env.ok(&["volume", "prune", "-f", "-a"]);
    assert_eq!(
        volume_names(&env).len(),
        3,
        "prune leaves used volumes: {pruned}"
    );

    // rm -v: its anonymous volumes go, the named one stays.
    env.ok(&["rm", "-v", "a"]);
    assert_eq!(volume_names(&env), vec!["named".to_string()]);

    // rm without -v keeps them.
    env.ok(&["run", "--name", "b", IMAGE, "true"]);
    assert_eq!(volume_names(&env).len(), 2);
    env.ok(&["rm", "b"]);
    assert_eq!(
        volume_names(&env).len(),
        2,
        "rm without -v keeps anonymous volumes"
    );
    env.ok(&["volume", "prune", "-f"]);
    assert_eq!(
        volume_names(&env),
        vec!["named".to_string()],
        "prune takes the anonymous one only"
    );

    // --rm: foreground and detached.
    sh(&env, &["-v", "named:/named", "-v", "/more", IMAGE, "true"]);
    assert_eq!(volume_names(&env), vec!["named".to_string()]);
    env.ok(&["run", "-d", "--rm", "--name", "d", IMAGE, "true"]);
    env.run(&["wait", "d"]);
    common::wait_for(
        std::time::Duration::from_secs(20),
        "the --rm container's anonymous volume to go",
        || {
            let names = volume_names(&env);
            if names == ["named"] {
                Ok(())
            } else {
                Err(format!("{names:?}"))
            }
        },
    );
    env.ok(&["volume", "rm", "named"]);
}

#[test]
fn mount_type_volume_and_volumes_from_share_one_volume() {
    let Some(env) = env_with_image("volume_mount_from", TestUser::Any) else {
        return;
    };
    env.ok(&[
        "create",
        "--name",
        "src",
        "-v",
        "shared:/s",
        "--mount",
        "type=volume,source=mv,target=/m",
        IMAGE,
        "true",
    ]);
    in_volumes(&env, &["shared:/s"], "echo from-shared > /s/f");
    let out = sh(
        &env,
        &[
            "--volumes-from",
            "src",
            IMAGE,
            "sh",
            "-c",
            "cat /s/f && echo rw > /s/g && cat /s/g && ls -d /m",
        ],
    );
    assert_eq!(out, "from-shared\nrw\n/m\n");
    let ro = env.run(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        IMAGE,
        "sh",
        "-c",
        "echo no > /s/h",
    ]);
    assert_ne!(ro.code(), Some(0), "read-only through :ro: {ro}");
    let ro = env.run(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=mv,target=/m,readonly",
        IMAGE,
        "sh",
        "-c",
        "echo no > /m/x",
    ]);
    assert_ne!(ro.code(), Some(0), "readonly mount: {ro}");
    let ro = env.run(&["run", "--rm", "-v", "mv:/m:ro", IMAGE, "touch", "/m/x"]);
    assert_ne!(ro.code(), Some(0), ":ro: {ro}");
    // A user mount at the image's VOLUME path wins: no anonymous volume.
    let before = volume_names(&env).len();
    sh(&env, &["-v", "shared:/data", IMAGE, "true"]);
    assert_eq!(volume_names(&env).len(), before);
    env.ok(&["rm", "src"]);
}

#[test]
fn links_planted_in_a_volume_never_lead_a_later_command_out_of_it() {
    let Some(env) = env_with_image("volume_links", TestUser::WithSubids) else {
        return;
    };
    let canary = path_str(&env.canary).to_string();
    let before = Listing::of(&env.canary, &[]);
    // The container plants links to the host's canary, absolute and by `..`.
    in_volumes(&env, &["trap:/data"], &format!(
        "rm -rf /data/*; ln -s {canary} /data/abs; ln -s ../../../../../../../../..{canary} /data/up; \
         ln -s {canary}/secret /data/file; mkdir /data/d; ln -s {canary} /data/d/deep"
    ));
    // Another container mounts a volume through the planted links: it lands
    // inside that container's root, never on the host's canary.
    in_volumes(
        &env,
        &["trap:/data", "other:/data/abs"],
        "echo x > /data/abs/planted",
    );
    in_volumes(
        &env,
        &["trap:/data", "other2:/data/up/y"],
        "echo x > /data/up/y/planted",
    );
    // An image volume below the planted link: its fill and its mount stay
    // inside the root too.
    sh(
        &env,
        &[
            "-v",
            "trap:/data/abs",
            "--mount",
            "type=volume,target=/data/abs/sub",
            IMAGE,
            "true",
        ],
    );
    // cp out of a container through the links reads the container's view.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "cpy",
        "-v",
        "trap:/data",
        IMAGE,
        "sleep",
        "60",
    ]);
    let got = env.run(&["cp", "cpy:/data/file", "-"]);
    // A tar of the link itself: never the host file's content.
    assert!(
        !got.stdout.contains("canary\n"),
        "cp read the host's file: {got}"
    );
    let got = env.run(&[
        "cp",
        "cpy:/data/abs/secret",
        path_str(&env.work.join("out")),
    ]);
    let _ = got;
    assert!(
        fs::read(env.work.join("out"))
            .map(|d| d != b"canary\n")
            .unwrap_or(true),
        "cp copied the host's secret"
    );
    env.ok(&["rm", "-f", "cpy"]);
    // Removing the volume removes the links, not what they point at.
    env.ok(&["volume", "rm", "trap"]);
    let after = Listing::of(&env.canary, &[]);
    before.assert_unchanged(&after, "the canary");
    assert_eq!(fs::read(env.canary.join("secret")).unwrap(), b"canary\n");
}

#[test]
fn an_image_volume_that_is_a_link_out_of_the_root_stays_inside_it() {
    let Some(env) = env_with_image("volume_escape", TestUser::WithSubids) else {
        return;
    };
    let before = Listing::of(&env.canary, &[]);
    let out = sh(
        &env,
        &[
            ESCAPE,
            "sh",
            "-c",
            "echo x > /data/planted; cat /data/planted",
        ],
    );
    assert_eq!(out, "x\n");
    let out = sh(
        &env,
        &[
            "-v",
            "esc:/data",
            ESCAPE,
            "sh",
            "-c",
            "ls /data; echo y > /data/y",
        ],
    );
    assert_eq!(out, "", "nothing of the host's is copied in");
    before.assert_unchanged(&Listing::of(&env.canary, &[]), "the canary");
    assert!(env.storage().join("volumes/esc/_data/y").exists());
}

#[test]
fn system_df_counts_volumes_and_system_prune_volumes_takes_anonymous_ones() {
    let Some(env) = env_with_image("volume_system", TestUser::Any) else {
        return;
    };
    env.ok(&["create", "--name", "user", "-v", "kept:/k", IMAGE, "true"]);
    in_volumes(&env, &["kept:/k"], "head -c 5000 /dev/zero > /k/z");
    env.ok(&["run", "--name", "gone", "-v", "/anon", IMAGE, "true"]);
    env.ok(&["rm", "gone"]);
    env.ok(&["volume", "create", "idle"]);
    // kept (used), idle, the image's /data of `user`, and gone's two.
    let df = env.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}",
    ]);
    assert!(df.stdout.contains("Local Volumes|5|2\n"), "{df}");
    let ps = env.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=user",
        "--format",
        "{{.Mounts}}",
    ]);
    assert!(
        ps.stdout.starts_with("kept,"),
        "volumes by name in ps: {ps}"
    );

    let out = env.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.stdout.contains("Deleted Volumes:"), "{out}");
    // `user` went with the containers; its anonymous /data volume and
    // gone's are unused and anonymous: pruned. kept and idle are named.
    let mut left = volume_names(&env);
    left.sort();
    assert_eq!(left, vec!["idle".to_string(), "kept".to_string()], "{out}");
    let out = env.ok(&["system", "prune", "-f"]);
    assert!(!out.stdout.contains("Deleted Volumes"), "{out}");
}

#[test]
fn a_build_step_writes_below_a_volume_path_into_its_layer() {
    let Some(env) = env_with_image("volume_build", TestUser::Any) else {
        return;
    };
    let ctx = env.work.join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Containerfile"),
        format!("FROM {IMAGE}\nRUN echo built > /data/new\n"),
    )
    .unwrap();
    env.give(&ctx);
    env.give(&ctx.join("Containerfile"));
    env.ok(&["build", "-q", "-t", "localhost/vol-built:1", path_str(&ctx)]);
    assert!(volume_names(&env).is_empty(), "a build leaves no volume");
    let out = sh(&env, &["localhost/vol-built:1", "cat", "/data/new"]);
    assert_eq!(out, "built\n");
}

#[test]
fn cp_reaches_a_stopped_containers_volumes_and_binds_never_the_host_through_links() {
    let Some(env) = env_with_image("volume_cp_stopped", TestUser::Any) else {
        return;
    };
    let bound = env.work.join("bound");
    fs::create_dir(&bound).unwrap();
    env.give(&bound);
    let file = env.fixture("in.txt", b"from the host\n");
    env.give(&file);
    // Created, never started: its volume and bind are mounted for the copy.
    env.ok(&[
        "create",
        "--name",
        "c",
        "-v",
        "cpvol:/vol",
        "-v",
        &format!("{}:/bind", path_str(&bound)),
        IMAGE,
        "true",
    ]);
    env.ok(&["cp", path_str(&file), "c:/vol/in.txt"]);
    env.ok(&["cp", path_str(&file), "c:/bind/in.txt"]);
    assert_eq!(
        fs::read(bound.join("in.txt")).expect("the copy in the bound dir"),
        b"from the host\n"
    );
    // The volume holds it: another container reads it there.
    assert_eq!(
        in_volumes(&env, &["cpvol:/vol"], "cat /vol/in.txt"),
        "from the host\n"
    );
    // And out of it: what another container wrote in the volume.
    in_volumes(&env, &["cpvol:/vol"], "echo back > /vol/back");
    env.ok(&["cp", "c:/vol/back", path_str(&env.work.join("back"))]);
    assert_eq!(fs::read(env.work.join("back")).unwrap(), b"back\n");
    let tar = env.ok(&["cp", "c:/vol/back", "-"]);
    assert!(tar.stdout.contains("back\n"), "{tar}");
    // Run and stopped: the same.
    env.ok(&["start", "-a", "c"]);
    env.ok(&["cp", path_str(&file), "c:/vol/again.txt"]);
    assert_eq!(
        in_volumes(&env, &["cpvol:/vol"], "cat /vol/again.txt"),
        "from the host\n"
    );
    // A read-only volume is refused, as docker refuses it.
    env.ok(&["create", "--name", "r", "-v", "cpvol:/ro:ro", IMAGE, "true"]);
    env.fails(&["cp", path_str(&file), "r:/ro/no.txt"]);
    assert_eq!(
        in_volumes(&env, &["cpvol:/vol"], "ls /vol"),
        "again.txt\nback\nin.txt\n"
    );

    // Links a container planted in the volume lead nowhere on the host:
    // the copy resolves them inside the container's root.
    let canary = path_str(&env.canary).to_string();
    let before = Listing::of(&env.canary, &[]);
    in_volumes(
        &env,
        &["cpvol:/vol"],
        &format!(
            "ln -s {canary} /vol/abs; ln -s ../../../../../../../..{canary} /vol/up; \
             ln -s {canary}/secret /vol/secret"
        ),
    );
    for dst in ["c:/vol/abs/x", "c:/vol/up/x", "c:/vol/secret"] {
        let _ = env.run(&["cp", path_str(&file), dst]);
    }
    // Out through a link to a directory: the container's view, never the
    // host's file. (A link itself is copied as a link, as docker's cp does.)
    let leak = env.work.join("leak");
    let out = env.run(&["cp", "c:/vol/abs/secret", path_str(&leak)]);
    assert!(
        fs::read(&leak).map(|d| d != b"canary\n").unwrap_or(true),
        "cp read the host's secret through the volume: {out}"
    );
    let out = env.run(&["cp", "c:/vol/secret", path_str(&leak)]);
    let copied = fs::symlink_metadata(&leak);
    assert!(
        copied.as_ref().map_or(true, |m| m.file_type().is_symlink())
            || fs::read(&leak).map_or(true, |d| d != b"canary\n"),
        "cp copied the host's secret through the volume's link: {out}"
    );
    before.assert_unchanged(&Listing::of(&env.canary, &[]), "the canary");
    env.ok(&["rm", "c", "r"]);
}

#[test]
fn volume_create_options_bind_a_host_dir_or_mount_a_tmpfs_as_the_local_driver_does() {
    let Some(env) = env_with_image("volume_options", TestUser::Any) else {
        return;
    };
    // type=none, o=bind, device: the user's own host directory.
    let host = env.work.join("hostdir");
    fs::create_dir(&host).unwrap();
    env.give(&host);
    env.ok(&[
        "volume",
        "create",
        "-d",
        "local",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &format!("device={}", path_str(&host)),
        "bound",
    ]);
    assert_eq!(
        inspect_volume(&env, "bound")["Options"],
        json!({"type": "none", "o": "bind", "device": path_str(&host)})
    );
    in_volumes(&env, &["bound:/b"], "echo from-inside > /b/f");
    assert_eq!(fs::read(host.join("f")).unwrap(), b"from-inside\n");
    fs::write(host.join("g"), b"from-the-host\n").unwrap();
    env.give(&host.join("g"));
    assert_eq!(
        in_volumes(&env, &["bound:/b"], "cat /b/g"),
        "from-the-host\n"
    );
    // Removing the volume leaves the host directory and its files.
    env.ok(&["volume", "rm", "bound"]);
    assert!(host.join("f").exists());
    // o=bind,ro: read, never written, whatever `-v` says.
    env.ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind,ro",
        "-o",
        &format!("device={}", path_str(&host)),
        "boundro",
    ]);
    assert_eq!(
        in_volumes(
            &env,
            &["boundro:/b:rw"],
            "cat /b/g; echo no > /b/h || echo refused"
        ),
        "from-the-host\nrefused\n"
    );
    assert!(!host.join("h").exists());
    env.ok(&["volume", "rm", "boundro"]);

    // type=tmpfs with size and mode.
    env.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m,mode=1770",
        "tm",
    ]);
    let out = in_volumes(
        &env,
        &["tm:/t"],
        "grep ' /t ' /proc/mounts | cut -d' ' -f3; stat -c %a /t; echo x > /t/x && cat /t/x",
    );
    assert_eq!(out, "tmpfs\n1770\nx\n");
    let full = env.run(&[
        "run",
        "--rm",
        "-v",
        "tm:/t",
        IMAGE,
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/t/big",
        "bs=1M",
        "count=2",
    ]);
    assert_ne!(full.code(), Some(0), "size=1m holds no 2 MB: {full}");

    // What the local driver cannot do without root, or that does not
    // parse, is refused with docker's status for a bad request (1).
    for bad in [
        &[
            "-o",
            "type=nfs",
            "-o",
            "o=addr=127.0.0.1",
            "-o",
            "device=:/x",
        ][..],
        &[
            "-o",
            "type=none",
            "-o",
            &format!("device={}", path_str(&host)),
        ],
        &[
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            "device=/no/such/dir",
        ],
        &[
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            "device=relative/dir",
        ],
        &["-o", "type=tmpfs", "-o", "o=size=lots"],
        &["-o", "type=tmpfs", "-o", "o=uid=alice"],
        &["-o", "type=tmpfs", "-o", "o=size=1m,gid=-5"],
        &["-o", "type=none", "-o", "o=bind,exec", "-o", "device=/tmp"],
        &["-o", "device=/dev/sda1"],
    ] {
        let mut args = vec!["volume", "create"];
        args.extend_from_slice(bad);
        args.push("refused");
        let out = env.run(&args);
        assert_eq!(out.code(), Some(1), "{out}");
        assert!(out.stderr.contains("volume option"), "{out}");
    }
    assert!(!volume_names(&env).contains(&"refused".to_string()));

    // A link a container planted in a volume does not make a bind-typed
    // volume through it reach the host: the mount is refused.
    let before = Listing::of(&env.canary, &[]);
    in_volumes(
        &env,
        &["trap:/trapdir"],
        &format!("ln -s {} /trapdir/out", path_str(&env.canary)),
    );
    let through = env.storage().join("volumes/trap/_data/out");
    env.ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &format!("device={}", path_str(&through)),
        "evil",
    ]);
    let out = env.run(&[
        "run",
        "--rm",
        "-v",
        "evil:/x",
        IMAGE,
        "sh",
        "-c",
        "echo x > /x/planted",
    ]);
    assert_ne!(out.code(), Some(0), "bound through the planted link: {out}");
    assert!(out.stderr.contains("symbolic link"), "{out}");
    before.assert_unchanged(&Listing::of(&env.canary, &[]), "the canary");
}

#[test]
fn a_tmpfs_volume_with_uid_and_gid_options_is_owned_by_those_ids_of_the_container() {
    let Some(env) = env_with_image("volume_tmpfs_owner", TestUser::WithSubids) else {
        return;
    };
    // docker's own example, with a gid and a mode that lets only the
    // owner write.
    env.ok(&[
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=100m,uid=1000,gid=1001,mode=755",
        "owned",
    ]);
    assert_eq!(
        inspect_volume(&env, "owned")["Options"]["o"],
        "size=100m,uid=1000,gid=1001,mode=755"
    );
    let out = sh(
        &env,
        &[
            "--user",
            "1000:1000",
            "-v",
            "owned:/t",
            IMAGE,
            "sh",
            "-c",
            "stat -c %u:%g:%a /t; echo x > /t/f && stat -c %u:%g /t/f",
        ],
    );
    assert_eq!(out, "1000:1001:755\n1000:1000\n", "the root is 1000's");
    // Another user of the container may not write there.
    let other = env.run(&[
        "run",
        "--rm",
        "--user",
        "1002",
        "-v",
        "owned:/t",
        IMAGE,
        "sh",
        "-c",
        "echo x > /t/g",
    ]);
    assert_ne!(other.code(), Some(0), "{other}");

    // An id the container's user namespace does not map (it maps 65536):
    // the volume is made (the id is a number), a container using it is
    // refused before it runs, with burrow's own status.
    env.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "o=uid=70000",
        "far",
    ]);
    let out = env.run(&["run", "--rm", "-v", "far:/t", IMAGE, "true"]);
    assert_eq!(out.code(), Some(common::EXIT_FAILURE), "{out}");
    assert!(
        out.stderr
            .contains("volume far: o=uid=70000 is no id of the container"),
        "{out}"
    );
    let out = env.run(&["create", "-v", "far:/t", IMAGE, "true"]);
    assert_eq!(out.code(), Some(common::EXIT_FAILURE), "{out}");
}
