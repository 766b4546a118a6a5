//! `burrow build` against `podman build --format docker` on the same
//! contexts: a corpus of Containerfiles that Debian's podman (4.3, no
//! heredocs) can build, each built by both from the same base image, both
//! images saved as docker archives and compared file by file (path, type,
//! mode, owner, size, link target, after applying each layer's whiteouts)
//! and config field by field (Env, Cmd, Entrypoint, User, WorkingDir,
//! ExposedPorts, Volumes, Labels, StopSignal, Healthcheck, Shell, OnBuild).
//!
//! Left out of the comparison, as what podman adds and docker does not:
//! the mount points buildah leaves in a RUN step's layer (`/dev`, `/proc`,
//! `/sys`, `/run`, empty `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`)
//! when the base image lacks them, and its `io.buildah.version` label.
//! Where podman differs from docker's documented behaviour, burrow
//! follows docker and `PODMAN_ONLY` records the exception and why.
//! Needs podman and runc; SKIPs without them.
//!
//! The corpus holds what this podman (4.3, buildah 1.28) builds: every
//! instruction, multi-stage builds, `RUN --mount=type=cache|bind|tmpfs`
//! and ADD of an http URL (served on 127.0.0.1 by the test). What it
//! cannot build is tested against burrow alone in tests/build.rs:
//! heredocs, `COPY --link`, `--exclude` and `--parents`, and ADD's
//! `--checksum`.

mod common;

use common::run_image;
use common::{path_str, Output, TestEnv, TestUser};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

const BASE: &str = "localhost/corpus/base:latest";

/// What buildah's RUN leaves in a layer that docker's does not.
const PODMAN_RUN_ARTIFACTS: &[&str] = &[
    "dev",
    "proc",
    "sys",
    "run",
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
];

/// Where podman differs from docker's documented behaviour, burrow
/// follows docker: (case, path podman's image has and burrow's does not,
/// why).
const PODMAN_ONLY: &[(&str, &str, &str)] = &[(
    "instructions",
    "data",
    "VOLUME /data: buildah makes the volume's directory in the image; docker's builder \
     (BuildKit) records the volume in the config only",
)];

/// The config fields compared.
const FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "User",
    "WorkingDir",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
];

/// One corpus entry: name, Containerfile, context files (path, content).
type Case = (&'static str, String, Vec<(&'static str, &'static str)>);

/// `url`: a file the test serves over http on 127.0.0.1.
fn corpus(url: &str) -> Vec<Case> {
    vec![
        (
            "instructions",
            format!(
                "ARG BASE={BASE}\n\
                 FROM ${{BASE}}\n\
                 ARG GREETING=hello\n\
                 ENV APP_HOME=/srv/app \\\n    MODE=${{GREETING:-none}}\n\
                 LABEL org.example.name=\"demo app\" version=1\n\
                 MAINTAINER someone@example.org\n\
                 EXPOSE 8080 53/udp\n\
                 VOLUME /data\n\
                 WORKDIR $APP_HOME\n\
                 COPY . .\n\
                 COPY --chown=1000:1000 --chmod=640 a.txt /owned/deep/a.txt\n\
                 RUN echo \"$GREETING from run\" > made-by-run.txt && mkdir -p /var/built \\\n \
                 && chown 123:456 /var/built && chmod 0750 /var/built && rm -f /etc/group\n\
                 USER 1000:1000\n\
                 STOPSIGNAL SIGQUIT\n\
                 HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD cat /srv/app/a.txt\n\
                 SHELL [\"/bin/sh\", \"-ec\"]\n\
                 ONBUILD RUN echo child\n\
                 ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
                 CMD [\"cat made-by-run.txt\"]\n"
            ),
            vec![
                ("a.txt", "A\n"),
                ("sub/b.txt", "B\n"),
                ("secret.key", "never copied\n"),
                ("logs/x.log", "never copied\n"),
                ("logs/keep.log", "kept\n"),
                (".dockerignore", "secret.key\nlogs\n!logs/keep.log\n"),
            ],
        ),
        (
            "multistage",
            format!(
                "FROM {BASE} AS build\n\
                 RUN mkdir -p /out/bin && echo x > /out/x && ln -s x /out/y \\\n \
                 && chmod 4755 /out/x && touch /out/bin/tool && chmod 0700 /out/bin/tool\n\
                 FROM {BASE} AS other\n\
                 RUN echo other > /other\n\
                 FROM {BASE}\n\
                 COPY --from=build /out /app/out\n\
                 COPY --from=other /other /app/\n\
                 COPY --from=build /out/x /app/single\n\
                 ADD files.tar /unpacked/\n\
                 ENTRYPOINT /bin/sh -c 'echo shell form'\n"
            ),
            vec![],
        ),
        (
            "changes",
            format!(
                "FROM {BASE}\n\
                 RUN mkdir -p /work/keep /work/drop && echo 1 > /work/drop/f && echo 2 > /work/keep/f\n\
                 RUN rm -rf /work/drop && rm /work/keep/f && echo 3 > /work/keep/g\n\
                 RUN rm -rf /srv && mkdir /srv && echo fresh > /srv/only\n\
                 USER app\n\
                 RUN mkdir -p /tmp/mine && echo mine > /tmp/mine/f\n\
                 USER root\n\
                 COPY --chown=app:app a.txt /home/app-owned.txt\n\
                 CMD echo shell form cmd\n"
            ),
            vec![("a.txt", "A\n")],
        ),
        (
            "scratch",
            "FROM scratch\nCOPY a.txt sub/ /\nENV A=b\nCMD [\"/a.txt\"]\n".to_string(),
            vec![("a.txt", "A\n"), ("sub/b.txt", "B\n")],
        ),
        // What each RUN saw of its mounts is in the names of the files
        // it left (sizes, not contents, are compared).
        (
            "mounts",
            format!(
                "FROM {BASE} AS tools\n\
                 RUN mkdir -p /opt/tools && echo tool > /opt/tools/t\n\
                 FROM {BASE}\n\
                 RUN --mount=type=cache,target=/srv/cache,id=corpus,uid=1000,gid=1000,mode=0750 \\\n \
                 touch \"/cache-$(stat -c %u-%g-%a /srv/cache)\" && echo kept > /srv/cache/f\n\
                 RUN --mount=type=cache,target=/srv/cache,id=corpus touch \"/cache-has-$(cat /srv/cache/f)\"\n\
                 RUN --mount=type=bind,source=sub,target=/srv/ctx touch \"/bound-$(cat /srv/ctx/b.txt)\" \\\n \
                 && ! touch /srv/ctx/written 2>/dev/null && cp /srv/ctx/b.txt /from-context\n\
                 RUN --mount=type=bind,from=tools,source=/opt/tools,target=/srv/tools cp /srv/tools/t /from-stage\n\
                 RUN --mount=type=tmpfs,target=/srv/scratch echo x > /srv/scratch/f \\\n \
                 && touch \"/tmpfs-$(cat /srv/scratch/f)\"\n"
            ),
            vec![("sub/b.txt", "B\n")],
        ),
        (
            "add-url",
            format!(
                "FROM {BASE}\n\
                 ADD {url} /dl/\n\
                 ADD {url} /dl/renamed.txt\n"
            ),
            vec![],
        ),
    ]
}

fn podman_available(test: &str) -> bool {
    let have = |p: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    for tool in ["podman", "runc"] {
        if !have(tool) {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: {tool} is not installed (the comparison needs podman with runc)"
            );
            return false;
        }
    }
    true
}

/// `podman ARGS` as the test user, with its store under the test's dirs
/// (runc and cgroupfs: crun refuses this machine's hybrid cgroup layout;
/// the overlay driver: podman would pick vfs).
fn podman(env: &TestEnv, args: &[&str]) -> Output {
    let out = podman_command(env, args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run podman");
    let out = Output {
        args: args.iter().map(|a| a.to_string()).collect(),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(out.status.success(), "podman {args:?} failed\n{out}");
    out
}

fn podman_command(env: &TestEnv, args: &[&str]) -> std::process::Command {
    let root = env.work.join("podman-root");
    let runroot = env.runtime_dir.join("podman-run");
    let mut all: Vec<&str> = vec![
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
        "--storage-driver",
        "overlay",
        "--events-backend",
        "file",
        "--root",
        path_str(&root),
        "--runroot",
        path_str(&runroot),
    ];
    all.extend_from_slice(args);
    env.command_of(Path::new("/usr/bin/podman"), &all)
}

/// Removes podman's store when the test ends, passed or not: its files
/// belong to subordinate ids that the user cannot remove from outside
/// podman's user namespace.
struct PodmanStore<'a>(&'a TestEnv);

impl Drop for PodmanStore<'_> {
    fn drop(&mut self) {
        let root = self.0.work.join("podman-root");
        let _ = podman_command(self.0, &["unshare", "rm", "-rf", path_str(&root)]).output();
    }
}

/// One path of a flattened image.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    link: String,
}

/// An image saved as a docker archive: its config and its files after
/// every layer is applied (OCI whiteouts and opaque directories).
fn flatten(archive: &Path) -> (Value, BTreeMap<String, Node>) {
    let mut members: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut outer = tar::Archive::new(fs::File::open(archive).unwrap());
    for e in outer.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        members.insert(name.trim_start_matches("./").to_string(), data);
    }
    let manifest: Value = serde_json::from_slice(&members["manifest.json"]).unwrap();
    let m = &manifest[0];
    let config: Value = serde_json::from_slice(&members[m["Config"].as_str().unwrap()]).unwrap();
    let mut tree: BTreeMap<String, Node> = BTreeMap::new();
    for layer in m["Layers"].as_array().unwrap() {
        let data = &members[layer.as_str().unwrap()];
        let mut entries = Vec::new();
        for e in tar::Archive::new(data.as_slice()).entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Regular => 'f',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                other => format!("{other:?}").chars().next().unwrap_or('?'),
            };
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let node = Node {
                kind,
                mode: h.mode().unwrap() & 0o7777,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                size: if kind == 'f' { h.size().unwrap() } else { 0 },
                link: if kind == 'l' { link } else { String::new() },
            };
            entries.push((path, node));
        }
        // Whiteouts first: they remove what the layers below had.
        for (path, _) in &entries {
            let (dir, base) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            let prefix = |d: &str| {
                if d.is_empty() {
                    String::new()
                } else {
                    format!("{d}/")
                }
            };
            if base == ".wh..wh..opq" {
                let p = prefix(dir);
                tree.retain(|k, _| !k.starts_with(&p));
            } else if let Some(gone) = base.strip_prefix(".wh.") {
                let gone = format!("{}{gone}", prefix(dir));
                let under = format!("{gone}/");
                tree.retain(|k, _| *k != gone && !k.starts_with(&under));
            }
        }
        for (path, node) in entries {
            let base = path.rsplit('/').next().unwrap_or("");
            if path.is_empty() || base.starts_with(".wh.") {
                continue;
            }
            tree.insert(path, node);
        }
    }
    (config, tree)
}

/// A config field with docker's empty values made absent.
fn field(config: &Value, name: &str) -> Value {
    let v = config["config"][name].clone();
    let mut v = match v {
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        Value::String(s) if s.is_empty() => Value::Null,
        other => other,
    };
    if name == "Labels" {
        if let Some(o) = v.as_object_mut() {
            o.remove("io.buildah.version");
            if o.is_empty() {
                v = Value::Null;
            }
        }
    }
    v
}

fn write_context(env: &TestEnv, dir: &Path, file: &str, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("Containerfile"), file).unwrap();
    for (p, data) in files {
        let path = dir.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).unwrap();
    }
    // ADD's local archive: a directory, a file with an odd mode and owner,
    // and a symlink.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(7);
    h.set_gid(8);
    h.set_size(0);
    b.append_data(&mut h, "t/", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o604);
    h.set_uid(9);
    h.set_gid(10);
    h.set_size(5);
    b.append_data(&mut h, "t/f", &b"tar!\n"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "t/l", "f").unwrap();
    fs::write(dir.join("files.tar"), b.into_inner().unwrap()).unwrap();
    if common::running_as_root() {
        let owner = format!("{}:{}", env.account.uid, env.account.gid);
        let ok = std::process::Command::new("chown")
            .args(["-R", &owner])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "chown the context");
    }
}

#[test]
fn the_corpus_builds_like_podman_file_by_file_and_field_by_field() {
    let test = "build_podman";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    if !podman_available(test) {
        return;
    }
    let _store = PodmanStore(&env);
    let images = run_image::load_run_images(&env);
    env.ok(&["tag", run_image::PLAIN, BASE]);
    podman(
        &env,
        &[
            "load",
            "-q",
            "-i",
            path_str(&env.work.join("run-images.tar")),
        ],
    );
    podman(&env, &["tag", &images.plain_id, BASE]);
    let (_, base_tree) = {
        let a = env.work.join("base.tar");
        env.ok(&["save", "-o", path_str(&a), BASE]);
        flatten(&a)
    };

    // ADD's URL: both download it from here.
    let served = env.work.join("served");
    fs::create_dir_all(&served).unwrap();
    fs::write(served.join("dl.txt"), "downloaded over http\n").unwrap();
    let server = common::http::HttpServer::serve(&served);

    let mut failures = Vec::new();
    for (name, file, files) in corpus(&server.url("dl.txt")) {
        let dir: PathBuf = env.work.join(format!("ctx-{name}"));
        write_context(&env, &dir, &file, &files);
        let tag = format!("localhost/corpus/{name}:1");
        let out = env.run(&[
            "build",
            "-q",
            "--format",
            "docker",
            "-t",
            &tag,
            path_str(&dir),
        ]);
        assert!(out.status.success(), "burrow build {name}\n{out}");
        podman(
            &env,
            &[
                "build",
                "-q",
                "--format",
                "docker",
                "-t",
                &tag,
                path_str(&dir),
            ],
        );

        let ours = env.work.join(format!("{name}-burrow.tar"));
        let theirs = env.work.join(format!("{name}-podman.tar"));
        env.ok(&["save", "-o", path_str(&ours), &tag]);
        podman(
            &env,
            &[
                "save",
                "--format",
                "docker-archive",
                "-o",
                path_str(&theirs),
                &tag,
            ],
        );
        let (c1, t1) = flatten(&ours);
        let (c2, t2) = flatten(&theirs);

        let paths: std::collections::BTreeSet<&String> = t1.keys().chain(t2.keys()).collect();
        for p in paths {
            let (a, b) = (t1.get(p), t2.get(p));
            if a.is_none()
                && !base_tree.contains_key(p)
                && PODMAN_RUN_ARTIFACTS.contains(&p.as_str())
            {
                continue;
            }
            let docker_differs = PODMAN_ONLY
                .iter()
                .any(|(case, path, _)| *case == name && path == p);
            if a.is_none() && docker_differs {
                continue;
            }
            if a != b {
                failures.push(format!("{name}: /{p}: burrow {a:?}, podman {b:?}"));
            }
        }
        for f in FIELDS {
            let (a, b) = (field(&c1, f), field(&c2, f));
            if a != b {
                failures.push(format!("{name}: config {f}: burrow {a}, podman {b}"));
            }
        }
        // Both ran: the corpus means something only if the files are there.
        assert!(
            t1.iter().any(|(p, n)| base_tree.get(p) != Some(n)),
            "{name}: burrow's image has nothing the base image does not"
        );
    }
    assert!(
        failures.is_empty(),
        "burrow's images differ from podman's:\n{}",
        failures.join("\n")
    );
}
