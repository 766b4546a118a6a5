//! `burrow pull`, `push`, `login` and `logout` against real registries
//! (Debian's docker-registry) started on 127.0.0.1 by each test: plain
//! HTTP, HTTPS with a CA made at test time, htpasswd basic auth; images
//! uploaded by hand (gzip, zstd and plain layers, indexes, foreign layers)
//! or with skopeo; a proxy that cuts or stalls a download; a front that
//! redirects blobs to "storage" on another port; a server that
//! rate-limits. Nothing here reaches beyond the loopback address.

mod common;

use common::fixtures::{self, Compression, ImageSpec, LayerBuilder};
use common::registry::{
    CannedServer, Proxy, ProxyMode, RegImage, Registry, Security, TestCa, TokenServer, Uploader,
};
use common::{hex_of, kill_group, strings, Output, TestEnv, TestUser};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// busybox (gzip), a small zstd layer and a small plain one.
fn three_layer_spec() -> ImageSpec {
    ImageSpec::compressed(
        &[],
        vec![
            (fixtures::busybox_rootfs().finish(), Compression::Gzip),
            (
                LayerBuilder::new()
                    .dir("etc")
                    .file("etc/zstd-layer", 0o644, "z\n")
                    .finish(),
                Compression::Zstd,
            ),
            (
                LayerBuilder::new()
                    .dir("srv")
                    .file("srv/plain-layer", 0o644, "p\n")
                    .finish(),
                Compression::None,
            ),
        ],
    )
}

/// One big uncompressed layer: a cut or a stall lands inside it.
fn bulky_spec() -> ImageSpec {
    ImageSpec::new(&[], vec![fixtures::bulky_layer("blob", 3 << 20, 7)])
}

/// Writes a file the test user owns under `dir` (also owned by the user),
/// making the parents as the user's.
fn user_file(env: &TestEnv, path: &Path, data: &[u8], mode: u32) {
    let mut missing = Vec::new();
    let mut p = path.parent();
    while let Some(d) = p {
        if d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        p = d.parent();
    }
    for d in missing.iter().rev() {
        fs::create_dir(d).unwrap();
        fs::set_permissions(d, fs::Permissions::from_mode(0o700)).unwrap();
        env.give(d);
    }
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    env.give(path);
}

fn config_toml(env: &TestEnv, text: &str) {
    user_file(
        env,
        &env.config_home.join("burrow/config.toml"),
        text.as_bytes(),
        0o644,
    );
}

/// The printed image id: the last stdout line.
fn pulled_id(out: &Output) -> String {
    out.stdout_lines()
        .last()
        .unwrap_or_else(|| panic!("no id printed\n{out}"))
        .to_string()
}

fn assert_store_has_no_trace(env: &TestEnv, what: &str) {
    assert!(
        env.layer_ids().is_empty(),
        "{what}: layers left: {:?}",
        env.layer_ids()
    );
    assert!(
        env.images_json().is_empty(),
        "{what}: an image was recorded"
    );
}

fn tmp_entries(env: &TestEnv) -> Vec<String> {
    fs::read_dir(env.storage().join("tmp"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pull_streams_gzip_zstd_and_plain_layers_into_the_store() {
    let Some(env) = TestEnv::new(
        "pull_streams_gzip_zstd_and_plain_layers_into_the_store",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = three_layer_spec();
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    let manifest = Uploader::new(&reg).image("test/app", "1", &img);
    let name = format!("{}/test/app:1", reg.addr());

    let out = env.ok(&["pull", &name]);
    assert_eq!(pulled_id(&out), img.id(), "{out}");
    assert!(
        out.stderr.contains(&format!("Trying to pull {name}...")),
        "{out}"
    );
    assert_eq!(
        out.stderr.matches(" done").count(),
        4,
        "three layers and the config\n{out}"
    );
    assert!(
        !out.stderr.contains('\x1b'),
        "no terminal, no escape sequences\n{out}"
    );
    let want: std::collections::BTreeSet<String> = spec.diff_ids().into_iter().collect();
    assert_eq!(env.layer_ids(), want);
    let inspect = env.inspect(&name);
    assert_eq!(inspect["Id"], format!("sha256:{}", img.id()));
    let repo_digest = format!("{}/test/app@{manifest}", reg.addr());
    assert!(
        strings(&inspect["RepoDigests"]).contains(&repo_digest),
        "{inspect}"
    );
    // The pulled files are there, owned as the image says (root -> you).
    let busybox = env.layer_diff(&spec.diff_ids()[0]).join("bin/busybox");
    assert_eq!(fs::metadata(&busybox).unwrap().uid(), env.account.uid);

    // Again: nothing is fetched.
    let again = env.ok(&["pull", &name]);
    assert_eq!(
        again.stderr.matches("skipped: already exists").count(),
        3,
        "{again}"
    );
    assert_eq!(pulled_id(&again), img.id());

    // By digest: verified, and found again by that digest.
    let by_digest = env.ok(&["pull", "-q", &repo_digest]);
    assert_eq!(by_digest.stdout.trim(), img.id(), "{by_digest}");
    assert!(
        !by_digest.stderr.contains("Copying"),
        "-q prints no progress\n{by_digest}"
    );
    assert_eq!(env.inspect(&repo_digest)["Id"], inspect["Id"]);
    assert!(tmp_entries(&env).is_empty(), "{:?}", tmp_entries(&env));
}

#[test]
fn skopeo_pushed_image_pulls_with_its_id() {
    let Some(env) = TestEnv::new("skopeo_pushed_image_pulls_with_its_id", TestUser::Any) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = ImageSpec::new(&["test/sk:1"], vec![fixtures::busybox_rootfs().finish()]);
    let (archive, _) = env.docker_archive("sk.tar", std::slice::from_ref(&spec));
    reg.skopeo_push(&archive, "test/sk:1", &[]);
    let out = env.ok(&["pull", &format!("{}/test/sk:1", reg.addr())]);
    assert_eq!(pulled_id(&out), spec.image_id(), "{out}");
    let run = env.inspect(&format!("{}/test/sk:1", reg.addr()));
    assert_eq!(run["Config"]["Cmd"][0], "echo hello");
}

#[test]
fn push_then_pull_elsewhere_gives_the_same_image() {
    let Some(env) = TestEnv::new(
        "push_then_pull_elsewhere_gives_the_same_image",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = ImageSpec::new(
        &["test/pushme:1"],
        vec![
            fixtures::busybox_rootfs().finish(),
            LayerBuilder::new()
                .dir("app")
                .file("app/data", 0o600, "pushed\n")
                .finish(),
        ],
    );
    let (archive, _) = env.docker_archive("p.tar", std::slice::from_ref(&spec));
    env.load(&archive);
    let dest = format!("{}/pushed/me:v1", reg.addr());
    let out = env.ok(&["push", "test/pushme:1", &dest]);
    assert!(out.stderr.contains(&format!("Pushed {dest}")), "{out}");
    assert_eq!(
        out.stderr.matches(" done").count(),
        3,
        "two layers and the config\n{out}"
    );

    // The registry has it as a normal image.
    let raw = fixtures::tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--config",
            "--raw",
            &format!("docker://{dest}"),
        ],
    );
    assert_eq!(fixtures::sha256_hex(raw.as_bytes()), spec.image_id());

    // Pushing again uploads no layer.
    let again = env.ok(&["push", "test/pushme:1", &dest]);
    assert_eq!(
        again.stderr.matches("skipped: already exists").count(),
        2,
        "{again}"
    );

    // Without a destination it goes to its own name.
    let own = format!("{}/own/name:2", reg.addr());
    env.ok(&["tag", "test/pushme:1", &own]);
    env.ok(&["push", "-q", &own]);

    let Some(other) = TestEnv::new(
        "push_then_pull_elsewhere_gives_the_same_image (puller)",
        TestUser::WithSubids,
    ) else {
        return;
    };
    for name in [&dest, &own] {
        let pulled = other.ok(&["pull", name]);
        assert_eq!(pulled_id(&pulled), spec.image_id(), "{pulled}");
    }
    let data = other.layer_diff(&spec.diff_ids()[1]).join("app/data");
    assert_eq!(fs::read_to_string(data).unwrap(), "pushed\n");
}

#[test]
fn index_gives_the_host_platform_and_platform_flag_picks_another() {
    let Some(env) = TestEnv::new(
        "index_gives_the_host_platform_and_platform_flag_picks_another",
        TestUser::Any,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let host = fixtures::oci_arch();
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    let spec = ImageSpec::new(&[], vec![fixtures::busybox_rootfs().finish()]);
    let (mine, theirs) = (
        RegImage::from_spec(&spec, host),
        RegImage::from_spec(&spec, other),
    );
    assert_ne!(mine.id(), theirs.id());
    Uploader::new(&reg).index(
        "multi/app",
        "1",
        &[(&mine, "linux", host), (&theirs, "linux", other)],
    );
    let name = format!("{}/multi/app:1", reg.addr());

    assert_eq!(pulled_id(&env.ok(&["pull", &name])), mine.id());
    let out = env.ok(&["pull", "--platform", &format!("linux/{other}"), &name]);
    assert_eq!(pulled_id(&out), theirs.id(), "{out}");
    assert_eq!(env.inspect(&name)["Architecture"], other);

    let out = env.fails(&["pull", "--platform", "linux/s390x", &name]);
    let line = out.error_line();
    for want in [
        "linux/s390x",
        &format!("linux/{host}"),
        &format!("linux/{other}"),
        "--platform",
    ] {
        assert!(line.contains(want), "{want:?} missing\n{out}");
    }
    env.fails(&["pull", "--platform", "linux", &name]);

    // A single-platform image for another machine is taken, with a note.
    Uploader::new(&reg).image("single/other", "1", &theirs);
    let out = env.ok(&["pull", &format!("{}/single/other:1", reg.addr())]);
    assert_eq!(pulled_id(&out), theirs.id());
    assert!(
        out.stderr
            .contains(&format!("for linux/{other}, not linux/{host}")),
        "{out}"
    );
}

#[test]
fn https_registry_needs_its_ca_or_tls_verify_false() {
    let Some(env) = TestEnv::new(
        "https_registry_needs_its_ca_or_tls_verify_false",
        TestUser::Any,
    ) else {
        return;
    };
    let ca = TestCa::new();
    let reg = Registry::start(Security::Tls(&ca));
    let spec = ImageSpec::new(&["t/tls:1"], vec![fixtures::busybox_rootfs().finish()]);
    let (archive, _) = env.docker_archive("tls.tar", std::slice::from_ref(&spec));
    reg.skopeo_push(&archive, "t/tls:1", &[]);
    let name = format!("{}/t/tls:1", reg.addr());

    let out = env.fails(&["pull", &name]);
    let line = out.error_line();
    for want in [
        "TLS",
        "certs.d",
        "registries.insecure",
        "--tls-verify=false",
    ] {
        assert!(line.contains(want), "{want:?} missing\n{out}");
    }
    assert_store_has_no_trace(&env, "untrusted TLS");

    let out = env.ok(&["pull", "--tls-verify=false", &name]);
    assert_eq!(pulled_id(&out), spec.image_id());
    env.ok(&["rmi", &name]);

    // With the CA in the user's certs.d, verified HTTPS works.
    let ca_file = env
        .config_home
        .join(format!("burrow/certs.d/{}/ca.crt", reg.addr()));
    user_file(&env, &ca_file, &fs::read(ca.ca_cert()).unwrap(), 0o644);
    assert_eq!(pulled_id(&env.ok(&["pull", &name])), spec.image_id());
    env.ok(&["rmi", &name]);

    // So does listing it as insecure.
    fs::remove_file(&ca_file).unwrap();
    config_toml(
        &env,
        &format!("[registries]\ninsecure = [\"{}\"]\n", reg.addr()),
    );
    assert_eq!(pulled_id(&env.ok(&["pull", &name])), spec.image_id());
    // --tls-verify=true overrides the config.
    env.ok(&["rmi", &name]);
    let out = env.fails(&["pull", "--tls-verify=true", &name]);
    assert!(out.error_line().contains("TLS"), "{out}");
}

#[test]
fn basic_auth_needs_login_and_logout_forgets() {
    let Some(env) = TestEnv::new("basic_auth_needs_login_and_logout_forgets", TestUser::Any) else {
        return;
    };
    let reg = Registry::start(Security::Auth("alice", "s3cret"));
    let spec = ImageSpec::new(&[], vec![fixtures::busybox_rootfs().finish()]);
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    Uploader::new(&reg)
        .with_basic("alice", "s3cret")
        .image("priv/app", "1", &img);
    let name = format!("{}/priv/app:1", reg.addr());

    let out = env.fails(&["pull", &name]);
    assert!(
        out.error_line()
            .contains(&format!("burrow login {}", reg.addr())),
        "{out}"
    );
    assert!(out.error_line().contains("401"), "{out}");

    let out = env.fails(&["login", "-u", "alice", "-p", "wrong", &reg.addr()]);
    assert!(out.error_line().contains("refused"), "{out}");
    // From stdin too: the registry refused what was typed, no file is named.
    let out = env.run_with_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.addr()],
        Some(b"wrong\n"),
    );
    out.assert_error();
    assert!(
        out.error_line()
            .contains("refused the username and password given for alice")
            && !out.error_line().contains(".json"),
        "{out}"
    );
    let auth_file = env.config_home.join("burrow/auth.json");
    assert!(!auth_file.exists(), "a refused login writes nothing");

    let out = env.run_with_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.addr()],
        Some(b"s3cret\n"),
    );
    out.assert_ok();
    assert!(out.stdout.contains("Login Succeeded"), "{out}");
    let meta = fs::metadata(&auth_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), env.account.uid);
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&auth_file).unwrap()).unwrap();
    assert!(doc["auths"][reg.addr()]["auth"].is_string(), "{doc}");

    assert_eq!(pulled_id(&env.ok(&["pull", &name])), img.id());

    env.ok(&["logout", &reg.addr()]);
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&auth_file).unwrap()).unwrap();
    assert!(doc["auths"].get(reg.addr()).is_none(), "{doc}");
    env.fails(&["pull", &name]);
    let out = env.fails(&["logout", &reg.addr()]);
    assert!(out.error_line().contains("not logged in"), "{out}");

    // Credentials of the other tools are read, never written.
    let entry = format!(
        "{{\"auths\":{{\"{}\":{{\"auth\":\"{}\"}}}}}}",
        reg.addr(),
        "YWxpY2U6czNjcmV0" // alice:s3cret
    );
    let containers = env.runtime_dir.join("containers/auth.json");
    user_file(&env, &containers, entry.as_bytes(), 0o600);
    assert_eq!(pulled_id(&env.ok(&["pull", &name])), img.id());
    let out = env.fails(&["logout", &reg.addr()]);
    assert!(out.error_line().contains("containers/auth.json"), "{out}");
    fs::remove_file(&containers).unwrap();
    let docker = env.home.join(".docker/config.json");
    user_file(
        &env,
        &docker,
        entry
            .replace(&reg.addr(), &format!("http://{}", reg.addr()))
            .as_bytes(),
        0o600,
    );
    assert_eq!(pulled_id(&env.ok(&["pull", &name])), img.id());
}

#[test]
fn dropped_connection_is_retried_then_reported_and_store_stays_whole() {
    let Some(env) = TestEnv::new(
        "dropped_connection_is_retried_then_reported_and_store_stays_whole",
        TestUser::Any,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = bulky_spec();
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    Uploader::new(&reg).image("big/app", "1", &img);
    let proxy = Proxy::start(
        reg.port,
        ProxyMode::Cut {
            after: 400_000,
            times: 1,
        },
    );
    let name = format!("{}/big/app:1", proxy.addr());

    // One cut: the layer is fetched again and the pull succeeds.
    assert_eq!(pulled_id(&env.ok(&["pull", &name])), img.id());
    assert_eq!(proxy.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    env.ok(&["rmi", &name]);
    assert!(env.layer_ids().is_empty());

    // Every try cut: a clear error, and nothing half in the store.
    proxy.set(ProxyMode::Cut {
        after: 400_000,
        times: 100,
    });
    let out = env.fails(&["pull", &name]);
    let line = out.error_line();
    assert!(
        line.contains("downloading layer") && line.contains(&img.layer_digest(0)),
        "{out}"
    );
    assert_store_has_no_trace(&env, "cut download");

    proxy.set(ProxyMode::Pass);
    assert_eq!(pulled_id(&env.ok(&["pull", &name])), img.id());
    assert!(tmp_entries(&env).is_empty(), "{:?}", tmp_entries(&env));
}

#[test]
fn killed_pull_leaves_no_layer_and_next_pull_succeeds() {
    let Some(env) = TestEnv::new(
        "killed_pull_leaves_no_layer_and_next_pull_succeeds",
        TestUser::Any,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = bulky_spec();
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    Uploader::new(&reg).image("big/app", "1", &img);
    let proxy = Proxy::start(reg.port, ProxyMode::Stall { after: 600_000 });
    let name = format!("{}/big/app:1", proxy.addr());

    let mut child = env.spawn(&["pull", &name]);
    common::wait_for(
        Duration::from_secs(60),
        "the pull to reach the stall",
        || proxy.hits.load(std::sync::atomic::Ordering::SeqCst) > 0,
    );
    std::thread::sleep(Duration::from_millis(300));
    kill_group(&mut child);
    assert_store_has_no_trace(&env, "killed pull");

    proxy.set(ProxyMode::Pass);
    assert_eq!(pulled_id(&env.ok(&["pull", &name])), img.id());
    assert!(
        tmp_entries(&env).is_empty(),
        "the next pull cleaned up: {:?}",
        tmp_entries(&env)
    );
}

#[test]
fn corrupt_blob_is_rejected_naming_both_digests() {
    let Some(env) = TestEnv::new(
        "corrupt_blob_is_rejected_naming_both_digests",
        TestUser::Any,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = bulky_spec();
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    Uploader::new(&reg).image("bad/app", "1", &img);
    let name = format!("{}/bad/app:1", reg.addr());
    let blob = reg.blob_file(&img.layer_digest(0));
    let good = fs::read(&blob).unwrap();
    let mut bad = good.clone();
    // Inside the file's data, so the tar still reads.
    bad[1 << 20] ^= 0xff;
    fs::write(&blob, &bad).unwrap();

    let out = env.fails(&["pull", &name]);
    let line = out.error_line();
    let actual = format!("sha256:{}", fixtures::sha256_hex(&bad));
    assert!(line.contains("digest mismatch"), "{out}");
    assert!(
        line.contains(&img.layer_digest(0)) && line.contains(&actual),
        "{out}"
    );
    assert_store_has_no_trace(&env, "corrupt blob");

    fs::write(&blob, &good).unwrap();
    assert_eq!(pulled_id(&env.ok(&["pull", &name])), img.id());
}

#[test]
fn missing_tag_repository_and_blob_are_named() {
    let Some(env) = TestEnv::new("missing_tag_repository_and_blob_are_named", TestUser::Any) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = three_layer_spec();
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    Uploader::new(&reg).image("test/app", "1", &img);
    let a = reg.addr();

    let out = env.fails(&["pull", &format!("{a}/test/app:nope")]);
    assert!(
        out.error_line().contains(&format!("{a}/test/app:nope"))
            && out.error_line().contains("not found"),
        "{out}"
    );
    let out = env.fails(&["pull", &format!("{a}/test/none:1")]);
    assert!(
        out.error_line().contains(&format!("{a}/test/none:1"))
            && out.error_line().contains("not found"),
        "{out}"
    );

    fs::remove_file(reg.blob_file(&img.layer_digest(1))).unwrap();
    let out = env.fails(&["pull", &format!("{a}/test/app:1")]);
    let line = out.error_line();
    assert!(
        line.contains(&format!("blob {}", img.layer_digest(1))) && line.contains("not found"),
        "{out}"
    );
    assert!(env.images_json().is_empty());
}

#[test]
fn refused_connection_and_rate_limit_say_what_happened() {
    let Some(env) = TestEnv::new(
        "refused_connection_and_rate_limit_say_what_happened",
        TestUser::Any,
    ) else {
        return;
    };
    let port = common::registry::free_port();
    let out = env.fails(&["pull", &format!("127.0.0.1:{port}/x/y:1")]);
    assert!(
        out.error_line().contains("refused")
            && out.error_line().contains(&format!("127.0.0.1:{port}")),
        "{out}"
    );

    let server = CannedServer::start("429 Too Many Requests", &[("Retry-After", "42")]);
    let out = env.fails(&["pull", &format!("127.0.0.1:{}/x/y:1", server.port)]);
    let line = out.error_line();
    assert!(line.contains("429") && line.contains("42 seconds"), "{out}");
}

#[test]
fn short_names_follow_aliases_then_search_order() {
    let Some(env) = TestEnv::new(
        "short_names_follow_aliases_then_search_order",
        TestUser::Any,
    ) else {
        return;
    };
    let (empty, full) = (
        Registry::start(Security::Plain),
        Registry::start(Security::Plain),
    );
    let spec = ImageSpec::new(&[], vec![fixtures::busybox_rootfs().finish()]);
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    Uploader::new(&full).image("tools/app", "1", &img);
    config_toml(
        &env,
        &format!(
            "[registries]\nsearch = [\"{}\", \"{}\"]\n[registries.aliases]\nshortcut = \"{}/tools/app\"\n",
            empty.addr(),
            full.addr(),
            full.addr()
        ),
    );
    let out = env.ok(&["pull", "tools/app:1"]);
    let first = out
        .stderr
        .find(&format!("Trying to pull {}/tools/app:1", empty.addr()));
    let second = out
        .stderr
        .find(&format!("Trying to pull {}/tools/app:1", full.addr()));
    assert!(
        first.is_some() && second.is_some() && first < second,
        "{out}"
    );
    assert_eq!(pulled_id(&out), img.id());
    // Found again locally by the short name.
    assert_eq!(
        env.inspect("tools/app:1")["Id"],
        format!("sha256:{}", img.id())
    );

    let out = env.ok(&["pull", "shortcut:1"]);
    assert!(
        !out.stderr.contains(&empty.addr()),
        "an alias goes straight to its target\n{out}"
    );
    assert_eq!(pulled_id(&out), img.id());

    let out = env.fails(&["pull", "nothing/here:1"]);
    assert!(
        out.error_line().contains(&empty.addr()) && out.error_line().contains(&full.addr()),
        "{out}"
    );
}

#[test]
fn run_of_an_alias_pulls_its_target_and_runs_it() {
    let Some(env) = TestEnv::new(
        "run_of_an_alias_pulls_its_target_and_runs_it",
        TestUser::Any,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = ImageSpec::new(&[], vec![fixtures::busybox_rootfs().finish()]);
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    Uploader::new(&reg).image("tools/app", "1", &img);
    config_toml(
        &env,
        &format!(
            "[registries]\nsearch = []\n[registries.aliases]\nshortcut = \"{}/tools/app\"\n",
            reg.addr()
        ),
    );
    // Pulled on first use, then run: not "image not known" after the pull.
    let out = env.ok(&["run", "--rm", "shortcut:1", "echo ran"]);
    assert_eq!(out.stdout.trim(), "ran", "{out}");
    // The store finds it by the alias as pull does, with no second pull.
    assert_eq!(
        env.inspect("shortcut:1")["Id"],
        format!("sha256:{}", img.id())
    );
    let again = env.ok(&["run", "--rm", "shortcut:1", "true"]);
    assert!(!again.stderr.contains("Trying to pull"), "{again}");
}

#[test]
fn foreign_layer_is_fetched_from_its_url() {
    let Some(env) = TestEnv::new("foreign_layer_is_fetched_from_its_url", TestUser::Any) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = ImageSpec::compressed(
        &[],
        vec![(fixtures::busybox_rootfs().finish(), Compression::Gzip)],
    );
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    let up = Uploader::new(&reg);
    // The blob lives elsewhere (another repository, reached by URL); the
    // image's repository never holds it.
    let layer = up.blob("elsewhere", &img.layers[0].0);
    let config = up.blob("foreign/app", &img.config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": common::registry::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": img.config.len()},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "digest": layer, "size": img.layers[0].0.len(),
            "urls": [format!("{}/v2/elsewhere/blobs/{layer}", reg.url())],
        }],
    });
    up.manifest(
        "foreign/app",
        "1",
        common::registry::OCI_MANIFEST,
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let out = env.ok(&["pull", &format!("{}/foreign/app:1", reg.addr())]);
    assert_eq!(pulled_id(&out), img.id(), "{out}");
    assert_eq!(
        env.layer_ids().into_iter().collect::<Vec<_>>(),
        [hex_of(&spec.diff_ids()[0]).to_string()]
    );
}

#[test]
fn unknown_host_is_named_without_touching_the_network() {
    let Some(env) = TestEnv::new(
        "unknown_host_is_named_without_touching_the_network",
        TestUser::Any,
    ) else {
        return;
    };
    if !common::running_as_root() {
        eprintln!("SKIP unknown_host_is_named_without_touching_the_network: needs root to make an empty network namespace");
        return;
    }
    // In a network namespace of its own (no interface up), the name lookup
    // fails at once and no packet leaves this machine.
    let cmd = env.command(&["pull", "no-such-registry.invalid/x/y:1"]);
    let (uid, gid) = (env.account.uid.to_string(), env.account.gid.to_string());
    let mut wrapped = std::process::Command::new("unshare");
    wrapped
        .args([
            "--net",
            "--",
            "setpriv",
            "--reuid",
            &uid,
            "--regid",
            &gid,
            "--clear-groups",
            "--",
        ])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    let out = wrapped.output().expect("run unshare");
    let out = Output {
        args: vec!["pull".into(), "no-such-registry.invalid/x/y:1".into()],
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    out.assert_error();
    let line = out.error_line();
    assert!(
        line.contains("cannot resolve registry host no-such-registry.invalid"),
        "{out}"
    );
}

#[test]
fn bearer_tokens_serve_anonymous_pulls_and_logged_in_ones() {
    let Some(env) = TestEnv::new(
        "bearer_tokens_serve_anonymous_pulls_and_logged_in_ones",
        TestUser::Any,
    ) else {
        return;
    };
    let tokens = TokenServer::start("bob", "tok3n");
    let reg = Registry::start(Security::Token(&tokens));
    let public = ImageSpec::new(&["public/app:1"], vec![fixtures::busybox_rootfs().finish()]);
    let private = ImageSpec::new(
        &["priv/app:1"],
        vec![LayerBuilder::new()
            .dir("p")
            .file("p/secret", 0o644, "s\n")
            .finish()],
    );
    for (spec, name) in [(&public, "public/app:1"), (&private, "priv/app:1")] {
        let (archive, _) = env.docker_archive("a.tar", std::slice::from_ref(spec));
        reg.skopeo_push(&archive, name, &["--dest-creds", "bob:tok3n"]);
    }
    let a = reg.addr();

    // Anonymous: a token without credentials, enough for public/.
    let out = env.ok(&["pull", &format!("{a}/public/app:1")]);
    assert_eq!(pulled_id(&out), public.image_id(), "{out}");
    let seen = tokens.requests.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(t, valid)| !valid && t.contains("public%2Fapp")),
        "no anonymous token request for public/app: {seen:?}"
    );

    let out = env.fails(&["pull", &format!("{a}/priv/app:1")]);
    assert!(
        out.error_line().contains(&format!("burrow login {a}")),
        "{out}"
    );
    let out = env.fails(&["login", "-u", "bob", "-p", "nope", &a]);
    assert!(out.error_line().contains("refused"), "{out}");

    let out = env.run_with_stdin(
        &["login", "-u", "bob", "--password-stdin", &a],
        Some(b"tok3n\n"),
    );
    out.assert_ok();
    assert_eq!(
        pulled_id(&env.ok(&["pull", &format!("{a}/priv/app:1")])),
        private.image_id()
    );
    env.ok(&[
        "push",
        &format!("{a}/priv/app:1"),
        &format!("{a}/priv/copy:2"),
    ]);
    let seen = tokens.requests.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(t, valid)| *valid && t.contains("priv%2Fcopy") && t.contains("push")),
        "no push token with credentials: {seen:?}"
    );
}

/// One request as a test server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// Reads an HTTP/1.1 head; returns it (up to the blank line) and the bytes
/// read past it.
fn read_head(conn: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use std::io::Read;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end + 2]).into_owned();
            return Some((head, data[end + 4..].to_vec()));
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
        // burrow tries TLS first on 127.0.0.1: answer a ClientHello the way
        // the registry does, so it falls back to HTTP at once.
        if data.first() == Some(&0x16) {
            use std::io::Write;
            let _ = conn.write_all(
                b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
            );
            return None;
        }
    }
}

fn seen_of(head: &str) -> Seen {
    let mut words = head.lines().next().unwrap_or("").split(' ');
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let authorization = head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_string())
    });
    Seen {
        method,
        path,
        authorization,
    }
}

/// The head with `Connection: close`, so one request ends each connection.
fn closing(head: &str) -> String {
    let mut out = String::new();
    for l in head.lines() {
        if l.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

/// A blob digest at the end of a `/v2/<repo>/blobs/<digest>` path.
fn blob_digest(path: &str) -> Option<&str> {
    let (repo_part, digest) = path.rsplit_once("/blobs/")?;
    (repo_part.starts_with("/v2/") && digest.starts_with("sha256:")).then_some(digest)
}

/// Accepts connections on 127.0.0.1 and gives each to `handle` on its own
/// thread until `stop` is set.
fn serve(
    stop: Arc<AtomicBool>,
    handle: impl Fn(std::net::TcpStream) + Send + Sync + 'static,
) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((conn, _)) => {
                    let _ = conn.set_nonblocking(false);
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                    let h = handle.clone();
                    std::thread::spawn(move || h(conn));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    port
}

/// A front in front of a registry that turns every successful blob GET
/// into a redirect (`status`) to "blob storage": another server on another
/// 127.0.0.1 port that serves the blob from the registry's storage
/// directory, or, for digests in `looping`, redirects back to the front.
/// Both record the requests they get.
struct BlobRedirect {
    front: u16,
    storage: u16,
    front_seen: Arc<Mutex<Vec<Seen>>>,
    storage_seen: Arc<Mutex<Vec<Seen>>>,
    looping: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl BlobRedirect {
    fn start(reg: &Registry, status: u16) -> BlobRedirect {
        use std::io::Write;
        let stop = Arc::new(AtomicBool::new(false));
        let front_seen = Arc::new(Mutex::new(Vec::new()));
        let storage_seen = Arc::new(Mutex::new(Vec::new()));
        let looping = Arc::new(Mutex::new(Vec::<String>::new()));
        let front_port = Arc::new(AtomicUsize::new(0));

        // blob_file is <root>/<2 hex>/<hex>/data.
        let blobs = reg
            .blob_file("sha256:00")
            .ancestors()
            .nth(3)
            .unwrap()
            .to_path_buf();
        let (seen, lp, fp) = (storage_seen.clone(), looping.clone(), front_port.clone());
        let storage = serve(stop.clone(), move |mut conn| {
            let Some((head, _)) = read_head(&mut conn) else {
                return;
            };
            let s = seen_of(&head);
            seen.lock().unwrap().push(s.clone());
            let original = s.path.strip_prefix("/store").unwrap_or("");
            let answer = match blob_digest(original) {
                Some(d) if lp.lock().unwrap().iter().any(|l| l == d) => format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{}{original}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    fp.load(Ordering::SeqCst)
                )
                .into_bytes(),
                Some(d) => {
                    let hex = d.trim_start_matches("sha256:");
                    match fs::read(blobs.join(&hex[..2]).join(hex).join("data")) {
                        Ok(data) => {
                            let mut a = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                data.len()
                            )
                            .into_bytes();
                            a.extend_from_slice(&data);
                            a
                        }
                        Err(_) => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    }
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = conn.write_all(&answer);
        });

        let (seen, upstream) = (front_seen.clone(), reg.port);
        let front = serve(stop.clone(), move |mut conn| {
            let Some((head, rest)) = read_head(&mut conn) else {
                return;
            };
            let s = seen_of(&head);
            seen.lock().unwrap().push(s.clone());
            let Ok(mut server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            if server.write_all(closing(&head).as_bytes()).is_err()
                || server.write_all(&rest).is_err()
            {
                return;
            }
            let Some((resp, body)) = read_head(&mut server) else {
                return;
            };
            let ok = resp.split(' ').nth(1) == Some("200");
            if s.method == "GET" && ok && blob_digest(&s.path).is_some() {
                let reason = if status == 307 {
                    "Temporary Redirect"
                } else {
                    "Found"
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} {reason}\r\nLocation: http://127.0.0.1:{storage}/store{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    s.path
                );
            } else if conn.write_all(format!("{resp}\r\n").as_bytes()).is_ok()
                && conn.write_all(&body).is_ok()
            {
                let _ = std::io::copy(&mut server, &mut conn);
            }
            let _ = conn.shutdown(std::net::Shutdown::Both);
            let _ = server.shutdown(std::net::Shutdown::Both);
        });
        front_port.store(front as usize, Ordering::SeqCst);
        BlobRedirect {
            front,
            storage,
            front_seen,
            storage_seen,
            looping,
            stop,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.front)
    }

    /// The digests storage served or bounced, sorted, without repeats.
    fn storage_digests(&self) -> BTreeSet<String> {
        self.storage_seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|s| blob_digest(s.path.strip_prefix("/store")?).map(String::from))
            .collect()
    }
}

impl Drop for BlobRedirect {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The config's and the layers' digests of `img` as pushed.
fn blob_digests(img: &RegImage) -> BTreeSet<String> {
    let mut all: BTreeSet<String> = (0..img.layers.len()).map(|i| img.layer_digest(i)).collect();
    all.insert(format!("sha256:{}", img.id()));
    all
}

#[test]
fn blobs_redirected_to_another_host_with_307_or_302_pull_the_same_image() {
    let Some(env) = TestEnv::new(
        "blobs_redirected_to_another_host_with_307_or_302_pull_the_same_image",
        TestUser::Any,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let img = RegImage::from_spec(&three_layer_spec(), fixtures::oci_arch());
    Uploader::new(&reg).image("cdn/app", "1", &img);
    let direct = pulled_id(&env.ok(&["pull", &format!("{}/cdn/app:1", reg.addr())]));
    assert_eq!(direct, img.id());

    for status in [307, 302] {
        env.ok(&["rmi", &format!("{}/cdn/app:1", reg.addr())]);
        assert!(env.layer_ids().is_empty());
        let redirect = BlobRedirect::start(&reg, status);
        let name = format!("{}/cdn/app:1", redirect.addr());
        let out = env.ok(&["pull", &name]);
        assert_eq!(pulled_id(&out), direct, "{status}: {out}");
        // Every blob came from storage, none straight from the front.
        assert_eq!(redirect.storage_digests(), blob_digests(&img), "{status}");
        env.ok(&["rmi", &name]);
        env.ok(&["pull", &format!("{}/cdn/app:1", reg.addr())]);
    }
    assert!(tmp_entries(&env).is_empty(), "{:?}", tmp_entries(&env));
}

#[test]
fn redirect_to_another_port_drops_the_registry_credentials() {
    let Some(env) = TestEnv::new(
        "redirect_to_another_port_drops_the_registry_credentials",
        TestUser::Any,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Auth("alice", "s3cret"));
    let img = RegImage::from_spec(&three_layer_spec(), fixtures::oci_arch());
    Uploader::new(&reg)
        .with_basic("alice", "s3cret")
        .image("priv/app", "1", &img);
    let redirect = BlobRedirect::start(&reg, 307);
    env.run_with_stdin(
        &["login", "-u", "alice", "--password-stdin", &redirect.addr()],
        Some(b"s3cret\n"),
    )
    .assert_ok();

    let out = env.ok(&["pull", &format!("{}/priv/app:1", redirect.addr())]);
    assert_eq!(pulled_id(&out), img.id(), "{out}");
    assert_eq!(redirect.storage_digests(), blob_digests(&img));
    let storage = redirect.storage_seen.lock().unwrap().clone();
    assert!(
        storage.iter().all(|s| s.authorization.is_none()),
        "storage on 127.0.0.1:{} got credentials: {storage:?}",
        redirect.storage
    );
    // The registry itself got them on every manifest and blob request
    // (it would have refused the blobs otherwise; the front only redirects
    // what the registry answered with 200).
    let front = redirect.front_seen.lock().unwrap().clone();
    let to_registry: Vec<_> = front
        .iter()
        .filter(|s| s.path.contains("/manifests/") || s.path.contains("/blobs/"))
        .collect();
    assert!(to_registry.len() > blob_digests(&img).len(), "{front:?}");
    assert!(
        to_registry
            .iter()
            .all(|s| s.authorization.as_deref() == Some("Basic YWxpY2U6czNjcmV0")),
        "{front:?}"
    );
}

#[test]
fn redirect_loop_ends_with_too_many_redirects_and_a_clean_store() {
    let Some(env) = TestEnv::new(
        "redirect_loop_ends_with_too_many_redirects_and_a_clean_store",
        TestUser::Any,
    ) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let img = RegImage::from_spec(&three_layer_spec(), fixtures::oci_arch());
    Uploader::new(&reg).image("loop/app", "1", &img);
    let redirect = BlobRedirect::start(&reg, 302);
    // The config comes through; every layer bounces between the front and
    // storage forever.
    *redirect.looping.lock().unwrap() =
        (0..img.layers.len()).map(|i| img.layer_digest(i)).collect();
    let name = format!("{}/loop/app:1", redirect.addr());

    let out = env.fails(&["pull", &name]);
    let line = out.error_line();
    assert!(line.contains("too many redirects"), "{out}");
    assert!(
        (0..img.layers.len()).any(|i| line.contains(&img.layer_digest(i))),
        "the error names the blob: {out}"
    );
    assert_store_has_no_trace(&env, "redirect loop");
    assert!(tmp_entries(&env).is_empty(), "{:?}", tmp_entries(&env));

    redirect.looping.lock().unwrap().clear();
    assert_eq!(pulled_id(&env.ok(&["pull", &name])), img.id());
}

#[test]
fn search_lists_the_catalogs_repositories_that_hold_the_term() {
    let Some(env) = TestEnv::new("search_catalog", TestUser::Any) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let spec = ImageSpec::new(&["x:1"], vec![LayerBuilder::new().dir("etc").finish()]);
    let img = RegImage::from_spec(&spec, fixtures::oci_arch());
    let up = Uploader::new(&reg);
    for repo in ["test/app", "test/web", "other/db", "apps/tool"] {
        up.image(repo, "1", &img);
    }
    let a = reg.addr();
    let out = env.ok(&["search", "--format", "{{.Name}}", &format!("{a}/app")]);
    assert_eq!(
        out.stdout_lines(),
        [format!("{a}/apps/tool"), format!("{a}/test/app")],
        "{out}"
    );
    let out = env.ok(&[
        "search",
        "--limit",
        "2",
        "--format",
        "{{.Name}}",
        &format!("{a}/"),
    ]);
    assert_eq!(
        out.stdout_lines(),
        [format!("{a}/apps/tool"), format!("{a}/other/db")],
        "{out}"
    );
    let table = env.ok(&["search", "--no-trunc", &format!("{a}/web")]);
    assert_eq!(
        table.stdout_lines()[0]
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["NAME", "DESCRIPTION"]
    );
    assert_eq!(table.stdout_lines()[1].trim(), format!("{a}/test/web"));
    // Without a registry: each of registries.search.
    config_toml(&env, &format!("[registries]\nsearch = [\"{a}\"]\n"));
    let out = env.ok(&["search", "--format", "json", "db"]);
    let v = common::json_lines(&out.stdout);
    assert_eq!(v[0]["Name"], format!("{a}/other/db"));
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    // docker's values: strings, `false` for an image not official.
    assert_eq!(
        (
            &v[0]["StarCount"],
            &v[0]["IsOfficial"],
            &v[0]["Description"]
        ),
        (
            &serde_json::json!("0"),
            &serde_json::json!("false"),
            &serde_json::json!("")
        ),
        "{out}"
    );
    let out = env.ok(&["search", "--format", "{{.Name}}|{{.IsOfficial}}", "db"]);
    assert_eq!(out.stdout, format!("{a}/other/db|\n"), "{out}");
    // Nothing listens there: an error that names the registry.
    let out = env.fails(&["search", "127.0.0.1:1/x"]);
    assert!(out.stderr.contains("127.0.0.1:1"), "{out}");
}
