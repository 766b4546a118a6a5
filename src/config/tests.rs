use super::paths::expand_path;
use super::probe::NETWORK_FS;
use super::storage::STORE_DIRS;
use super::*;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/test/config.toml"))
}

fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// An environment rooted in a fresh temporary directory: home, /tmp and
/// a usable XDG_RUNTIME_DIR all inside it.
fn sandbox() -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let run = dir.path().join("run");
    let tmp = dir.path().join("tmp");
    for d in [&home, &run, &tmp] {
        fs::create_dir(d).unwrap();
    }
    fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
    let env = Env::new(my_uid(), Some(home))
        .with_tmp(tmp)
        .with_var("XDG_RUNTIME_DIR", run);
    (dir, env)
}

fn write_config(env: &Env, text: &str) -> PathBuf {
    let dir = env.home.as_ref().unwrap().join(".config/burrow");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    fs::write(&file, text).unwrap();
    file
}

#[test]
fn defaults_when_no_file_exists() {
    let (dir, env) = sandbox();
    let (config, paths) = load_with(&env).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.registries.search, ["docker.io"]);
    assert!(!config.storage.allow_network_fs);
    assert!(config.network.host_loopback);
    assert_eq!(config.logs.max_size, ByteSize(10 << 20));
    let home = dir.path().join("home");
    assert_eq!(paths.config_file, home.join(".config/burrow/config.toml"));
    assert_eq!(paths.storage, home.join(".local/share/burrow/storage"));
    assert_eq!(paths.cache, home.join(".cache/burrow"));
    assert_eq!(paths.runtime, dir.path().join("run/burrow"));
    assert!(paths.notes.is_empty(), "{:?}", paths.notes);
    let md = fs::symlink_metadata(&paths.runtime).unwrap();
    assert_eq!(md.mode() & 0o777, 0o700);
}

#[test]
fn a_full_valid_file_sets_every_key() {
    let text = r#"
[storage]
root = "/var/tmp/someone/burrow"
allow_network_fs = true

[registries]
search = ["quay.io", "docker.io"]
insecure = ["registry.lan:5000", "build-host"]

[registries.aliases]
fedora = "registry.fedoraproject.org/fedora"
"tools/thing" = "localhost:5000/tools/thing"

[logs]
max_size = "512k"

[network]
host_loopback = false
"#;
    let c = parse(text).unwrap();
    assert_eq!(
        c.storage.root.as_deref(),
        Some(Path::new("/var/tmp/someone/burrow"))
    );
    assert!(c.storage.allow_network_fs);
    assert_eq!(c.registries.search, ["quay.io", "docker.io"]);
    assert_eq!(
        c.registries.alias("fedora"),
        Some("registry.fedoraproject.org/fedora")
    );
    assert_eq!(
        c.registries.alias("tools/thing"),
        Some("localhost:5000/tools/thing")
    );
    assert_eq!(c.registries.alias("debian"), None);
    assert_eq!(c.logs.max_size, ByteSize(512 * 1024));
    assert!(!c.network.host_loopback);
}

#[test]
fn unknown_key_is_an_error_naming_file_line_and_key() {
    let text = "[storage]\nallow_network_fs = true\nrooot = \"/x\"\n";
    let e = parse(text).unwrap_err();
    let message = e.message();
    let ConfigError::Invalid {
        line, column, key, ..
    } = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!((*line, *column), (3, 1));
    assert_eq!(key.as_deref(), Some("storage.rooot"));
    assert!(message.contains("unknown field `rooot`"), "{message}");
    // toml's rendering, after the file and the key.
    let shown = e.to_string();
    assert!(
        shown.starts_with(
            "/etc/test/config.toml: storage.rooot: TOML parse error at line 3, column 1\n"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("3 | rooot = \"/x\"\n  | ^^^^^\nunknown field `rooot`"),
        "{shown}"
    );
}

#[test]
fn unknown_table_is_an_error_at_its_header() {
    let e = parse("\n[network]\nhost_loopback = true\n\n[netwrok]\nx = 1\n").unwrap_err();
    let ConfigError::Invalid { line, key, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*line, 5);
    assert_eq!(key.as_deref(), Some("netwrok"));
}

#[test]
fn wrong_type_is_an_error_naming_line_column_and_key() {
    let text = "[storage]\nallow_network_fs = \"yes\"\n";
    let e = parse(text).unwrap_err();
    let message = e.message();
    let ConfigError::Invalid {
        line, column, key, ..
    } = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!((*line, *column), (2, 20));
    assert_eq!(key.as_deref(), Some("storage.allow_network_fs"));
    assert!(message.contains("expected a boolean"), "{message}");
    assert!(
        e.to_string()
            .contains("2 | allow_network_fs = \"yes\"\n  |                    ^^^^^\n"),
        "{e}"
    );
}

#[test]
fn a_value_where_a_table_belongs_is_called_a_table() {
    let e = parse("storage = 5\n").unwrap_err();
    let message = e.message();
    let ConfigError::Invalid { key, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(key.as_deref(), Some("storage"));
    assert_eq!(message, "invalid type: integer `5`, expected a table");
}

#[test]
fn keys_that_need_quotes_are_shown_quoted() {
    let e = parse("[registries]\naliases = { \"a:1\" = \"quay.io/a\" }\n").unwrap_err();
    let ConfigError::Invalid { key, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(key.as_deref(), Some("registries.aliases.\"a:1\""));
}

#[test]
fn bad_list_entry_is_an_error_at_that_entry() {
    let text = "[registries]\nsearch = [\n  \"docker.io\",\n  \"https://quay.io\",\n]\n";
    let e = parse(text).unwrap_err();
    let message = e.message();
    let ConfigError::Invalid { line, key, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*line, 4);
    assert_eq!(key.as_deref(), Some("registries.search[1]"));
    assert!(message.contains("without a scheme"), "{message}");

    let e = parse("[registries]\nsearch = [1]\n").unwrap_err();
    let ConfigError::Invalid { key, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(key.as_deref(), Some("registries.search[0]"));
}

#[test]
fn bad_aliases_and_sizes_are_errors_at_their_line() {
    for (text, line, expected) in [
        (
            "[registries.aliases]\nfedora = \"fedora\"\n",
            2,
            "must name its registry",
        ),
        (
            "[registries.aliases]\n\"f:1\" = \"quay.io/f\"\n",
            2,
            "without a tag or digest",
        ),
        (
            "[registries.aliases]\nf = \"quay.io/f:1\"\n",
            2,
            "must not have a tag",
        ),
        ("[logs]\nmax_size = \"10 parsecs\"\n", 2, "invalid size"),
        ("[logs]\n\nmax_size = -5\n", 3, "negative"),
    ] {
        let e = parse(text).unwrap_err();
        let message = e.message();
        let ConfigError::Invalid { line: l, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*l, line, "{text}");
        assert!(message.contains(expected), "{text}: {message}");
    }
}

#[test]
fn syntax_error_names_line_and_column() {
    let e = parse("[storage]\nroot = \"/x\nallow_network_fs = true\n").unwrap_err();
    let ConfigError::Invalid { line, key, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*line, 2);
    assert_eq!(*key, None);
}

#[test]
fn a_file_that_cannot_be_parsed_is_an_error_from_load() {
    let (_dir, env) = sandbox();
    let file = write_config(&env, "[storage]\nallow_network_fs = 1\n");
    let e = load_with(&env).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}: storage.allow_network_fs: TOML parse error at line 2, column 20",
            file.display()
        )),
        "{e}"
    );
}

#[test]
fn byte_sizes_read_as_docker_reads_log_sizes() {
    assert_eq!("10m".parse(), Ok(ByteSize(10 << 20)));
    assert_eq!("10MB".parse(), Ok(ByteSize(10 << 20)));
    assert_eq!("512k".parse(), Ok(ByteSize(512 << 10)));
    assert_eq!("1g".parse(), Ok(ByteSize(1 << 30)));
    assert_eq!("100".parse(), Ok(ByteSize(100)));
    assert_eq!("0".parse(), Ok(ByteSize(0)));
    assert!("m".parse::<ByteSize>().is_err());
    assert!("10t".parse::<ByteSize>().is_err());
    assert!("99999999999999999999g".parse::<ByteSize>().is_err());
    assert_eq!(ByteSize(10 << 20).to_string(), "10m");
    assert_eq!(ByteSize(1000).to_string(), "1000");
}

#[test]
fn xdg_variables_and_burrow_config_override_the_defaults() {
    let (dir, env) = sandbox();
    let p = dir.path();
    let custom = p.join("elsewhere.toml");
    fs::write(&custom, "[storage]\nroot = \"$SCRATCH/${USER}/store\"\n").unwrap();
    let env = env
        .with_var("XDG_CONFIG_HOME", p.join("cfg"))
        .with_var("XDG_DATA_HOME", p.join("data"))
        .with_var("XDG_CACHE_HOME", p.join("cache"))
        .with_var("BURROW_CONFIG", &custom)
        .with_var("SCRATCH", "/scratch")
        .with_var("USER", "alice");
    let (_, paths) = load_with(&env).unwrap();
    assert_eq!(paths.config_file, custom);
    assert_eq!(paths.storage, Path::new("/scratch/alice/store"));
    assert_eq!(paths.cache, p.join("cache/burrow"));

    // Without BURROW_CONFIG the file is under XDG_CONFIG_HOME and the
    // storage default under XDG_DATA_HOME.
    let mut env = env;
    env.vars.remove("BURROW_CONFIG");
    let (_, paths) = load_with(&env).unwrap();
    assert_eq!(paths.config_file, p.join("cfg/burrow/config.toml"));
    assert_eq!(paths.storage, p.join("data/burrow/storage"));

    // A relative XDG value is ignored, with a note.
    let env = env.with_var("XDG_DATA_HOME", "rel/data");
    let (_, paths) = load_with(&env).unwrap();
    assert_eq!(paths.storage, p.join("home/.local/share/burrow/storage"));
    assert!(paths
        .notes
        .iter()
        .any(|n| n.contains("XDG_DATA_HOME=rel/data")));
}

#[test]
fn a_missing_burrow_config_file_is_an_error() {
    let (dir, env) = sandbox();
    let env = env.with_var("BURROW_CONFIG", dir.path().join("nope.toml"));
    let e = load_with(&env).unwrap_err();
    assert!(matches!(e, ConfigError::MissingExplicit(_)), "{e}");
}

#[test]
fn storage_root_expands_home_and_refuses_what_it_cannot_expand() {
    let (dir, env) = sandbox();
    write_config(&env, "[storage]\nroot = \"~/store\"\n");
    let (_, paths) = load_with(&env).unwrap();
    assert_eq!(paths.storage, dir.path().join("home/store"));

    for (root, expected) in [
        (
            "$NOT_SET_ANYWHERE/x",
            "uses $NOT_SET_ANYWHERE, which is not set",
        ),
        ("relative/dir", "must be an absolute path"),
        ("~bob/x", "not ~user"),
        ("/a/$/b", "'$' must start a variable name"),
        ("/a/${X", "without a closing"),
    ] {
        write_config(&env, &format!("[storage]\n\nroot = \"{root}\"\n"));
        let e = load_with(&env).unwrap_err();
        let message = e.message();
        let ConfigError::Invalid { line, key, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*line, 3, "{root}");
        assert_eq!(key.as_deref(), Some("storage.root"));
        assert!(message.contains(expected), "{root}: {message}");
    }
}

#[test]
fn unset_runtime_dir_falls_back_to_a_private_tmp_dir_with_a_note() {
    let (dir, mut env) = sandbox();
    env.vars.remove("XDG_RUNTIME_DIR");
    let (_, paths) = load_with(&env).unwrap();
    let expected = dir.path().join(format!("tmp/burrow-{}", my_uid()));
    assert_eq!(paths.runtime, expected);
    let md = fs::symlink_metadata(&expected).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.mode() & 0o777, 0o700);
    assert_eq!(
        paths.notes,
        [format!(
            "XDG_RUNTIME_DIR is not set; using {}",
            expected.display()
        )]
    );
    // A second run reuses it quietly apart from the same note.
    let (_, again) = load_with(&env).unwrap();
    assert_eq!(again.runtime, expected);
}

#[test]
fn unusable_runtime_dir_falls_back_with_the_reason() {
    let (dir, env) = sandbox();
    let gone = dir.path().join("run/user/4242");
    let env = env.with_var("XDG_RUNTIME_DIR", &gone);
    let (_, paths) = load_with(&env).unwrap();
    let fallback = dir.path().join(format!("tmp/burrow-{}", my_uid()));
    assert_eq!(paths.runtime, fallback);
    assert_eq!(
        paths.notes,
        [format!(
            "XDG_RUNTIME_DIR={} does not exist; using {}",
            gone.display(),
            fallback.display()
        )]
    );
}

#[test]
fn runtime_dir_of_another_user_is_not_usable() {
    // As after `su`: XDG_RUNTIME_DIR still names the other user's
    // directory. Asking as another uid makes ours foreign.
    let (dir, _) = sandbox();
    let run = dir.path().join("run");
    let other = my_uid().wrapping_add(1);
    let why = usable_runtime_base(&run, other).unwrap_err();
    assert!(
        matches!(why, RuntimeBaseError::NotYours { owner, uid } if owner == my_uid() && uid == other),
        "{why}"
    );
    assert_eq!(
        why.to_string(),
        format!("belongs to uid {}, not to you (uid {other})", my_uid())
    );
    usable_runtime_base(&run, my_uid()).unwrap();
    assert!(matches!(
        usable_runtime_base(Path::new("run/user/1"), my_uid()),
        Err(RuntimeBaseError::NotAbsolute)
    ));
}

#[test]
fn planted_runtime_dirs_are_refused() {
    let (dir, _) = sandbox();
    let uid = my_uid();

    let open = dir.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
    let e = ensure_private_dir(&open, uid).unwrap_err();
    assert!(e.to_string().contains("has mode 0755"), "{e}");
    assert!(e.to_string().contains(&open.display().to_string()), "{e}");

    let target = dir.path().join("target");
    fs::create_dir(&target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let e = ensure_private_dir(&link, uid).unwrap_err();
    assert!(e.to_string().contains("is a symbolic link"), "{e}");

    let foreign = dir.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::set_permissions(&foreign, fs::Permissions::from_mode(0o700)).unwrap();
    let e = ensure_private_dir(&foreign, uid.wrapping_add(1)).unwrap_err();
    assert!(
        e.to_string().contains(&format!("belongs to uid {uid}")),
        "{e}"
    );

    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let e = ensure_private_dir(&file, uid).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");

    // And the fallback itself refuses a planted directory.
    let (_d, mut env) = sandbox();
    env.vars.remove("XDG_RUNTIME_DIR");
    let planted = env.tmp.join(format!("burrow-{uid}"));
    fs::create_dir(&planted).unwrap();
    fs::set_permissions(&planted, fs::Permissions::from_mode(0o777)).unwrap();
    let e = load_with(&env).unwrap_err();
    assert!(
        matches!(&e, ConfigError::RuntimeDir { path, .. } if path == &planted),
        "{e}"
    );
}

#[test]
fn a_storage_root_others_made_or_can_change_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let uid = my_uid();
    let root = dir.path().join("store");
    let chmod = |p: &Path, mode| fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    // Not made yet, under parents of ours: fine.
    assert_eq!(unsafe_dir(&root, STORE_DIRS, uid, None), None);
    fs::create_dir_all(root.join("layers")).unwrap();
    chmod(&root, 0o700);
    chmod(&root.join("layers"), 0o755);
    assert_eq!(unsafe_dir(&root, STORE_DIRS, uid, None), None);
    // One of its directories open to everyone.
    chmod(&root.join("layers"), 0o777);
    let (culprit, why) = unsafe_dir(&root, STORE_DIRS, uid, None).unwrap();
    assert_eq!(culprit, root.join("layers"));
    assert_eq!(why, "is writable by other users (mode 0777)");
    // Group write is others' write unless the group is the user's own.
    chmod(&root.join("layers"), 0o770);
    assert!(unsafe_dir(&root, STORE_DIRS, uid, None).is_some());
    let gid = fs::metadata(&root).unwrap().gid();
    assert_eq!(unsafe_dir(&root, STORE_DIRS, uid, Some(gid)), None);
    chmod(&root.join("layers"), 0o700);
    // A parent open to everyone: refused, unless sticky like /tmp.
    chmod(dir.path(), 0o777);
    let (culprit, why) = unsafe_dir(&root, STORE_DIRS, uid, None).unwrap();
    assert_eq!(culprit, dir.path());
    assert!(why.contains("without the sticky bit"), "{why}");
    chmod(dir.path(), 0o1777);
    assert_eq!(unsafe_dir(&root, STORE_DIRS, uid, None), None);
    // Reached through a symbolic link in an open directory: the
    // directory holding the link counts.
    let open = dir.path().join("open");
    fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    std::os::unix::fs::symlink(&root, open.join("link")).unwrap();
    let (culprit, _) = unsafe_dir(&open.join("link"), STORE_DIRS, uid, None).unwrap();
    assert_eq!(culprit, open);
    // The link itself in a safe directory, its target in the open one:
    // the target's parents count too (a path is taken as it is only
    // when nothing on it, itself included, is a link).
    let safe = dir.path().join("safe");
    fs::create_dir(&safe).unwrap();
    chmod(&safe, 0o700);
    fs::create_dir(open.join("store2")).unwrap();
    std::os::unix::fs::symlink(open.join("store2"), safe.join("link")).unwrap();
    let (culprit, _) = unsafe_parent(&safe.join("link"), uid, None).unwrap();
    assert_eq!(culprit, open);
    assert_eq!(unsafe_parent(&safe.join("store"), uid, None), None);
    // Someone else's: asking as another uid makes ours foreign.
    chmod(dir.path(), 0o700);
    let other = uid.wrapping_add(1);
    let (_, why) = unsafe_dir(&root, STORE_DIRS, other, None).unwrap();
    assert!(why.starts_with(&format!("belongs to uid {uid}")), "{why}");
    // The error names the directory, why, and the fix.
    let mut paths = paths_with_storage(root.clone());
    paths.config_file = dir.path().join("config.toml");
    let e = check_storage_owner(&paths, other).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("storage root {} is not safe: ", root.display())),
        "{e}"
    );
    assert!(e.contains("set storage.root in"), "{e}");
}

#[test]
fn a_storage_root_writable_by_the_users_private_group_is_accepted() {
    let uid = my_uid();
    let Some(own) = private_gid(uid) else {
        println!("SKIP: uid {uid}'s primary group is not a private group of its name");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    fs::create_dir_all(root.join("layers")).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(root.join("layers"), fs::Permissions::from_mode(0o770)).unwrap();
    let paths = paths_with_storage(root.clone());
    // Its group is the one it was made with: the user's own (as root,
    // `root`), whose write bit lets no one else in.
    assert_eq!(fs::metadata(root.join("layers")).unwrap().gid(), own);
    check_storage_owner(&paths, uid).unwrap();
    // Another group's write bit does.
    let other = own.wrapping_add(1);
    std::os::unix::fs::chown(root.join("layers"), None, Some(other)).ok();
    if fs::metadata(root.join("layers")).unwrap().gid() == other {
        let e = check_storage_owner(&paths, uid).unwrap_err().to_string();
        assert!(e.contains("is writable by other users (mode 0770)"), "{e}");
    }
}

/// Reports a fixed magic for every existing path.
struct FakeFs(u32);
impl FsProbe for FakeFs {
    fn magic(&self, path: &Path) -> io::Result<u32> {
        fs::symlink_metadata(path)?;
        Ok(self.0)
    }
}

fn paths_with_storage(storage: PathBuf) -> Paths {
    Paths {
        config_file: PathBuf::from("/home/alice/.config/burrow/config.toml"),
        storage,
        runtime: PathBuf::from("/run/user/1000/burrow"),
        cache: PathBuf::from("/home/alice/.cache/burrow"),
        notes: Vec::new(),
    }
}

#[test]
fn storage_on_nfs_is_refused_naming_the_key_and_a_local_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("not/yet/made");
    let paths = paths_with_storage(root.clone());
    let e = check_storage_fs_with(&FakeFs(0x6969), &Config::default(), &paths).unwrap_err();
    let ConfigError::NetworkFs { fs, probed, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*fs, "NFS");
    assert_eq!(
        probed,
        dir.path(),
        "the nearest existing ancestor is probed"
    );
    let msg = e.to_string();
    for part in [
        &format!("storage root {} is on NFS", root.display()),
        "storage.root in /home/alice/.config/burrow/config.toml",
        "/var/tmp/$USER/burrow",
        "$XDG_RUNTIME_DIR",
        "storage.allow_network_fs = true",
    ] {
        assert!(msg.contains(part), "{part:?} missing from {msg}");
    }
}

#[test]
fn storage_on_nfs_is_used_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths_with_storage(dir.path().to_path_buf());
    let mut config = Config::default();
    config.storage.allow_network_fs = true;
    assert_eq!(
        check_storage_fs_with(&FakeFs(0x6969), &config, &paths).unwrap(),
        None
    );
}

#[test]
fn every_listed_network_fs_is_refused_and_fuse_only_warned() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths_with_storage(dir.path().to_path_buf());
    for &(magic, name) in NETWORK_FS {
        let e = check_storage_fs_with(&FakeFs(magic), &Config::default(), &paths).unwrap_err();
        assert!(e.to_string().contains(&format!("is on {name}")), "{e}");
    }
    let warning = check_storage_fs_with(&FakeFs(FUSE_MAGIC), &Config::default(), &paths).unwrap();
    assert!(warning.is_some_and(|w| w.contains("FUSE")));
}

#[test]
fn local_storage_passes_the_real_statfs_check() {
    // The temporary directory is on a local disk or tmpfs here.
    let dir = tempfile::tempdir().unwrap();
    let paths = paths_with_storage(dir.path().join("storage"));
    let magic = Statfs.magic(dir.path()).unwrap();
    assert_eq!(
        network_fs_name(magic),
        None,
        "the test machine's /tmp is local"
    );
    assert_eq!(check_storage_fs(&Config::default(), &paths).unwrap(), None);
}

#[test]
fn plain_http_only_for_loopback_and_listed_registries() {
    let r = RegistriesConfig {
        insecure: vec!["registry.lan:5000".into(), "build-host".into()],
        ..Default::default()
    };
    for yes in [
        "localhost",
        "localhost:5000",
        "127.0.0.1:5000",
        "127.1.2.3",
        "[::1]:5000",
        "registry.lan:5000",
        "build-host",
        "build-host:8080",
    ] {
        assert!(r.allows_plain_http(yes), "{yes}");
    }
    for no in [
        "docker.io",
        "registry.lan",
        "registry.lan:5001",
        "build-host.evil.com",
        "[::2]:5000",
    ] {
        assert!(!r.allows_plain_http(no), "{no}");
    }
}

#[test]
fn shipped_default_config_documents_every_key_with_its_default() {
    let shipped = include_str!("../../packaging/config.toml");
    // As shipped (everything commented) it means the defaults.
    assert_eq!(parse(shipped).unwrap(), Config::default());
    // Uncommenting every `# key = value` line gives the defaults too,
    // so the documented values cannot drift from the code.
    let uncommented: String = shipped
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                }) =>
            {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut c = parse(&uncommented).unwrap();
    let keys = uncommented
        .lines()
        .filter(|l| l.contains(" = ") && !l.starts_with('#'))
        .count();
    assert_eq!(
        keys, 10,
        "every key appears once, uncommented:\n{uncommented}"
    );
    // The documented root is the default for a home without
    // XDG_DATA_HOME.
    let (dir, env) = sandbox();
    let root = c.storage.root.take().unwrap();
    assert_eq!(
        expand_path(&root, &env).unwrap(),
        dir.path().join("home/.local/share/burrow/storage")
    );
    assert_eq!(c, Config::default());
}
