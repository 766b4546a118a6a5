//! `burrow build` as an unprivileged user: a Containerfile and a context
//! directory become an image in the store, with docker's config fields and
//! history, COPY layers from the context (after .dockerignore), RUN steps
//! as containers, multi-stage COPY --from, the cache, and the errors a
//! user must be able to read.

mod common;

use common::run_image::{self, PLAIN};
use common::{path_str, Output, TestEnv, TestUser};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// A context directory with `files` (path, content), owned by the user.
fn context(env: &TestEnv, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.work.join(name);
    fs::create_dir_all(&dir).unwrap();
    env.give(&dir);
    for (p, data) in files {
        let path = dir.join(p);
        let mut parent = path.parent().unwrap().to_path_buf();
        fs::create_dir_all(&parent).unwrap();
        while parent != dir {
            env.give(&parent);
            parent = parent.parent().unwrap().to_path_buf();
        }
        fs::write(&path, data).unwrap();
        env.give(&path);
    }
    dir
}

fn build(env: &TestEnv, args: &[&str], dir: &Path) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    all.push(path_str(dir));
    env.run(&all)
}

/// The id a successful build printed last.
fn built_id(out: &Output) -> String {
    assert!(out.status.success(), "build failed\n{out}");
    let last = out
        .stdout_lines()
        .last()
        .copied()
        .unwrap_or_default()
        .to_string();
    let hex = last
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("the last line is not an image id\n{out}"));
    assert!(common::is_hex64(hex), "{out}");
    hex.to_string()
}

fn run_in(env: &TestEnv, image: &str, cmd: &[&str]) -> String {
    // As root: the single-id map (no subordinate ids) has no uid 1000 to
    // run the image's USER as.
    let mut args = vec!["run", "--rm", "--network", "none", "--user", "0", image];
    args.extend_from_slice(cmd);
    env.ok(&args).stdout
}

const FULL: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=run/plain
FROM ${BASE}
ARG GREETING=hello
ENV APP_HOME=/srv/app \
    MODE=${GREETING:-none}
LABEL org.example.name="demo app" version=1
EXPOSE 8080 53/udp
VOLUME /data
WORKDIR $APP_HOME
COPY . .
RUN echo "$GREETING from run" > made-by-run.txt && mkdir -p /var/built
USER 1000:1000
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD cat /srv/app/a.txt
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat made-by-run.txt"]
"#;

fn full_context(env: &TestEnv) -> PathBuf {
    context(
        env,
        "ctx",
        &[
            ("Containerfile", FULL),
            ("a.txt", "A\n"),
            ("sub/b.txt", "B\n"),
            ("secret.key", "never copied\n"),
            ("logs/x.log", "never copied\n"),
            ("logs/keep.log", "kept\n"),
            (
                ".dockerignore",
                "secret.key\n/logs\n!logs/keep.log\n.dockerignore\n",
            ),
        ],
    )
}

fn check_full_image(env: &TestEnv, id: &str) {
    let i = env.inspect("demo:1");
    assert_eq!(i["Id"].as_str(), Some(format!("sha256:{id}").as_str()));
    let c = &i["Config"];
    let env_list: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(env_list.contains(&"APP_HOME=/srv/app"), "{c}");
    assert!(
        env_list.contains(&"MODE=hello"),
        "ARG substituted into ENV: {c}"
    );
    assert!(
        !env_list.iter().any(|e| e.starts_with("GREETING=")),
        "ARG is not persisted: {c}"
    );
    assert_eq!(c["Labels"]["org.example.name"], "demo app");
    assert_eq!(c["Labels"]["version"], "1");
    assert_eq!(c["Labels"]["built.by"], "test", "--label applied");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object(), "{c}");
    assert!(c["ExposedPorts"]["53/udp"].is_object(), "{c}");
    assert!(c["Volumes"]["/data"].is_object(), "{c}");
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["StopSignal"], "SIGQUIT");
    assert_eq!(
        c["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "cat /srv/app/a.txt"], "Interval": 30_000_000_000u64, "Timeout": 5_000_000_000u64, "Retries": 2})
    );
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["cat made-by-run.txt"]));
    // History: the base's entries, then one per instruction docker records.
    let history: Vec<&str> = i["History"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["created_by"].as_str())
        .collect();
    let ours: Vec<&str> = history
        .iter()
        .copied()
        .skip_while(|h| !h.starts_with("ENV "))
        .collect();
    assert_eq!(ours[0], "ENV APP_HOME=/srv/app MODE=hello", "{history:?}");
    assert!(ours.contains(&"COPY . . # buildkit"), "{history:?}");
    assert!(
        ours.iter()
            .any(|h| h.starts_with("RUN |1 GREETING=hello /bin/sh -c echo")),
        "{history:?}"
    );
    assert!(
        ours.contains(&"EXPOSE map[53/udp:{} 8080/tcp:{}]"),
        "{history:?}"
    );
    // Layers: the base, the WORKDIR it had to make, COPY and RUN.
    let layers = i["RootFS"]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4, "{i}");

    // The files, as the image runs.
    let out = run_in(env, "demo:1", &[]);
    assert_eq!(out, "hello from run\n");
    let listing = run_in(
        env,
        "demo:1",
        &["cat a.txt sub/b.txt logs/keep.log; ls -a . logs; ls -d /var/built"],
    );
    assert!(listing.starts_with("A\nB\nkept\n"), "{listing}");
    assert!(
        !listing.contains("secret.key"),
        ".dockerignore left it out: {listing}"
    );
    assert!(!listing.contains("x.log"), "{listing}");
    assert!(
        !listing.contains(".dockerignore"),
        "the ignore file matched itself: {listing}"
    );
    assert!(listing.contains("Containerfile"), "{listing}");
    assert!(listing.contains("/var/built"), "{listing}");
}

fn full_build_and_cache(user: TestUser, test: &str) {
    let Some(env) = TestEnv::new(test, user) else {
        return;
    };
    run_image::load_run_images(&env);
    let dir = full_context(&env);
    let out = build(&env, &["-t", "demo:1", "--label", "built.by=test"], &dir);
    let id = built_id(&out);
    assert!(
        !out.stderr.contains("CACHED"),
        "a first build caches nothing\n{out}"
    );
    check_full_image(&env, &id);

    // Nothing changed: every step is CACHED and the image is the same.
    let again = build(&env, &["-t", "demo:1", "--label", "built.by=test"], &dir);
    assert_eq!(built_id(&again), id, "{again}");
    let steps: Vec<&str> = again
        .stderr
        .lines()
        .filter(|l| l.starts_with('[') && !l.contains("] FROM ") && !l.contains("] ARG "))
        .collect();
    assert!(!steps.is_empty(), "{again}");
    assert!(
        steps.iter().all(|l| l.contains("] CACHED ")),
        "every step after FROM is cached\n{again}"
    );
    assert!(
        !again.stderr.contains("  | "),
        "RUN did not run again\n{again}"
    );

    // One context file changed: COPY and what follows run again.
    fs::write(dir.join("sub/b.txt"), "B2\n").unwrap();
    let third = build(&env, &["-t", "demo:2"], &dir);
    let id3 = built_id(&third);
    assert_ne!(id3, id);
    assert!(third.stderr.contains("CACHED WORKDIR"), "{third}");
    assert!(!third.stderr.contains("CACHED COPY"), "{third}");
    assert_eq!(run_in(&env, "demo:2", &["cat sub/b.txt"]), "B2\n");

    // -q prints the id alone; --iidfile writes it.
    let iid = env.work.join("iid");
    let q = build(&env, &["-q", "--iidfile", path_str(&iid)], &dir);
    assert!(q.status.success(), "{q}");
    assert_eq!(q.stdout_lines().len(), 1, "{q}");
    assert_eq!(fs::read_to_string(&iid).unwrap(), format!("sha256:{id3}"));
    // Intermediate images are not listed.
    let names: Vec<Value> = env.images_json();
    assert!(
        names
            .iter()
            .all(|i| !i["Names"].as_array().is_some_and(|n| n.is_empty())
                || i["ID"].as_str() == Some(format!("sha256:{id3}").as_str())),
        "{names:?}"
    );
}

#[test]
fn build_makes_an_image_with_docker_config_history_and_cache() {
    full_build_and_cache(TestUser::WithSubids, "build_full");
}

#[test]
fn build_works_without_subordinate_ids() {
    full_build_and_cache(TestUser::NoSubids, "build_full_nosub");
}

#[test]
fn multi_stage_copy_from_and_target() {
    let Some(env) = TestEnv::new("build_multi", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!(
        "FROM {PLAIN} AS builder\nRUN mkdir /out && echo built > /out/artifact && chmod 0750 /out/artifact\n\
         FROM {PLAIN} AS unused\nRUN exit 3\n\
         FROM scratch AS files\nCOPY note.txt /note.txt\n\
         FROM {PLAIN}\nCOPY --from=builder /out/artifact /usr/bin/\nCOPY --from=2 /note.txt /etc/note.txt\n"
    );
    let dir = context(
        &env,
        "multi",
        &[("Containerfile", &file), ("note.txt", "note\n")],
    );
    // The final stage does not need `unused`: its failing RUN never runs.
    let out = build(&env, &["-t", "multi:1"], &dir);
    built_id(&out);
    assert!(!out.stderr.contains("exit 3"), "{out}");
    let got = run_in(
        &env,
        "multi:1",
        &[
            "sh",
            "-c",
            "cat /usr/bin/artifact /etc/note.txt; stat -c %a /usr/bin/artifact",
        ],
    );
    assert_eq!(got, "built\nnote\n750\n");
    // --target builds that stage alone.
    let t = build(&env, &["-t", "files:1", "--target", "files"], &dir);
    built_id(&t);
    assert!(!t.stderr.contains("builder"), "{t}");
    assert_eq!(
        env.inspect("files:1")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let bad = build(&env, &["--target", "nope"], &dir);
    assert!(!bad.status.success());
    assert!(
        bad.stderr
            .contains("target stage \"nope\" could not be found"),
        "{bad}"
    );
}

/// Two stages that each wait for the other's mark in a shared cache
/// mount: they finish only if they run at the same time (one after the
/// other, the first gives up and the build fails).
#[test]
fn independent_stages_run_at_the_same_time() {
    let Some(env) = TestEnv::new("build_parallel", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let meet = |me: &str, other: &str| {
        format!(
            "FROM {PLAIN} AS {me}\n\
             RUN --mount=type=cache,id=meet,target=/m touch /m/{me} && i=0 && \
             while [ ! -e /m/{other} ]; do i=$((i+1)); [ $i -lt 1200 ] || exit 7; sleep 0.1; done && \
             echo {me} > /{me}.txt\n"
        )
    };
    let file = format!(
        "{}{}FROM {PLAIN}\nCOPY --from=left /left.txt /\nCOPY --from=right /right.txt /\n",
        meet("left", "right"),
        meet("right", "left")
    );
    let dir = context(&env, "parallel", &[("Containerfile", &file)]);
    let out = build(&env, &["-t", "parallel:1", "--progress", "plain"], &dir);
    built_id(&out);
    assert_eq!(
        run_in(&env, "parallel:1", &["cat", "/left.txt", "/right.txt"]),
        "left\nright\n"
    );
    // One line per step, with its time; the second build's are CACHED.
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("[left ") && l.contains("RUN --mount") && l.ends_with('s')),
        "{out}"
    );
    let again = build(&env, &["-t", "parallel:1", "--progress", "plain"], &dir);
    built_id(&again);
    assert_eq!(
        again
            .stderr
            .lines()
            .filter(|l| l.contains("] CACHED RUN"))
            .count(),
        2,
        "{again}"
    );
}

/// A failing stage stops the build while another stage still runs: the
/// build fails with the failing step's error, and the other stage's
/// container is gone.
#[test]
fn a_failing_stage_stops_the_stages_running_beside_it() {
    let Some(env) = TestEnv::new("build_parallel_fail", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!(
        "FROM {PLAIN} AS slow\nRUN sleep 600\n\
         FROM {PLAIN} AS bad\nRUN sleep 1 && exit 9\n\
         FROM {PLAIN}\nCOPY --from=slow /etc/passwd /a\nCOPY --from=bad /etc/passwd /b\n"
    );
    let dir = context(&env, "parallel_fail", &[("Containerfile", &file)]);
    let out = build(&env, &["-t", "pfail:1", "--progress", "plain"], &dir);
    assert!(!out.status.success(), "{out}");
    assert!(
        out.stderr.contains("exited with status 9"),
        "the failing step's error\n{out}"
    );
    assert!(!env.run(&["image", "inspect", "pfail:1"]).status.success());
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "no step container left\n{ps}");
}

/// `builder prune` frees the step cache and the cache mounts: the next
/// build runs every step again and finds its cache mount empty; the
/// named image stays.
#[test]
fn builder_prune_and_image_prune_build_cache_free_the_step_cache_and_cache_mounts() {
    let Some(env) = TestEnv::new("build_prune", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!(
        "FROM {PLAIN}\nRUN --mount=type=cache,target=/c ls /c | wc -l > /seen && touch /c/mark\n\
         RUN echo two > /two\n"
    );
    let dir = context(&env, "prune", &[("Containerfile", &file)]);
    built_id(&build(&env, &["-t", "pruned:1"], &dir));
    let again = build(&env, &["-t", "pruned:2"], &dir);
    built_id(&again);
    assert!(again.stderr.contains("CACHED RUN echo two"), "{again}");
    let out = env.ok(&["builder", "prune", "-f"]);
    assert!(out.stdout.starts_with("Total reclaimed space: "), "{out}");
    let fresh = build(&env, &["-t", "pruned:3", "--progress", "plain"], &dir);
    built_id(&fresh);
    assert!(!fresh.stderr.contains("CACHED"), "{fresh}");
    assert_eq!(run_in(&env, "pruned:3", &["cat", "/seen"]).trim(), "0");
    assert_eq!(run_in(&env, "pruned:1", &["cat", "/two"]), "two\n");

    // `image prune --build-cache` frees the same: the next build runs
    // every step again and its cache mount starts empty once more.
    let plain = env.ok(&["image", "prune", "-f"]);
    assert!(!plain.stdout.contains("reclaimed"), "{plain}");
    let cached = build(&env, &["-t", "pruned:4"], &dir);
    assert!(cached.stderr.contains("CACHED RUN echo two"), "{cached}");
    let out = env.ok(&["image", "prune", "--build-cache", "-f"]);
    assert!(out.stdout.contains("Total reclaimed space: "), "{out}");
    let fresh = build(&env, &["-t", "pruned:5", "--progress", "plain"], &dir);
    built_id(&fresh);
    assert!(!fresh.stderr.contains("CACHED"), "{fresh}");
    assert_eq!(run_in(&env, "pruned:5", &["cat", "/seen"]).trim(), "0");
    assert_eq!(run_in(&env, "pruned:4", &["cat", "/two"]), "two\n");
}

#[test]
fn a_failing_run_reports_status_and_output_and_tags_nothing() {
    let Some(env) = TestEnv::new("build_fail", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!("FROM {PLAIN}\nRUN echo first\nRUN echo about to fail; echo on stderr >&2; exit 7\nRUN echo never\n");
    let dir = context(&env, "fail", &[("Containerfile", &file)]);
    let out = build(&env, &["-t", "broken:1"], &dir);
    assert_eq!(out.code(), Some(common::EXIT_FAILURE), "{out}");
    let err = out.error_line();
    assert!(
        err.contains("Containerfile:3: RUN echo about to fail"),
        "{out}"
    );
    assert!(out.stderr.contains("exited with status 7"), "{out}");
    assert!(
        out.stderr.contains("about to fail") && out.stderr.contains("on stderr"),
        "{out}"
    );
    assert!(!out.stderr.contains("never"), "{out}");
    let tagged = env.run(&["image", "inspect", "broken:1"]);
    assert!(
        !tagged.status.success(),
        "nothing half-built is tagged\n{tagged}"
    );
    // No build container is left behind.
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "{ps}");
}

#[test]
fn copy_from_outside_the_context_is_an_error() {
    let Some(env) = TestEnv::new("build_outside", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    fs::write(env.work.join("x"), "outside\n").unwrap();
    let file = format!("FROM {PLAIN}\n\nCOPY ../x /x\n");
    let dir = context(&env, "out", &[("Containerfile", &file)]);
    let out = build(&env, &["-t", "out:1"], &dir);
    assert_eq!(out.code(), Some(common::EXIT_FAILURE), "{out}");
    assert!(
        out.error_line()
            .contains("Containerfile:3: COPY ../x /x: ../x: outside the build context"),
        "{out}"
    );
    let missing = context(
        &env,
        "missing",
        &[(
            "Containerfile",
            &format!("FROM {PLAIN}\nCOPY missing.txt /\n"),
        )],
    );
    let out = build(&env, &[], &missing);
    assert!(
        out.error_line().contains(
            "Containerfile:2: COPY missing.txt /: missing.txt: no such file in the context"
        ),
        "{out}"
    );
    let bad = context(&env, "bad", &[("Dockerfile", "FROM busybox\nBOGUS x\n")]);
    let out = build(&env, &[], &bad);
    assert!(
        out.error_line()
            .contains("Dockerfile:2: unknown instruction: BOGUS"),
        "{out}"
    );
}

#[test]
fn a_context_symlink_pointing_outside_is_copied_as_a_link() {
    let Some(env) = TestEnv::new("build_symlink", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let secret = env.canary.join("secret");
    let file = format!("FROM {PLAIN}\nCOPY . /app/\n");
    let dir = context(&env, "links", &[("Containerfile", &file)]);
    std::os::unix::fs::symlink(&secret, dir.join("escape")).unwrap();
    std::os::unix::fs::symlink("../../../../etc/passwd", dir.join("up")).unwrap();
    env.give(&dir.join("escape"));
    env.give(&dir.join("up"));
    let out = build(&env, &["-t", "links:1"], &dir);
    built_id(&out);
    let got = run_in(
        &env,
        "links:1",
        &[
            "sh",
            "-c",
            "readlink /app/escape; readlink /app/up; cat /app/escape 2>&1 || echo unreadable",
        ],
    );
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], path_str(&secret), "{got}");
    assert_eq!(lines[1], "../../../../etc/passwd", "{got}");
    assert_eq!(
        *lines.last().unwrap(),
        "unreadable",
        "the link was not followed: {got}"
    );
}

#[test]
fn a_build_arg_in_copy_changes_the_cache_key() {
    let Some(env) = TestEnv::new("build_arg_key", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!("FROM {PLAIN}\nARG DEST=/first\nCOPY f.txt $DEST\n");
    let dir = context(
        &env,
        "argkey",
        &[("Containerfile", &file), ("f.txt", "f\n")],
    );
    built_id(&build(&env, &["-t", "argkey:1"], &dir));
    let out = build(
        &env,
        &["-t", "argkey:2", "--build-arg", "DEST=/second"],
        &dir,
    );
    built_id(&out);
    assert!(!out.stderr.contains("CACHED COPY"), "{out}");
    assert_eq!(run_in(&env, "argkey:2", &["cat", "/second"]), "f\n");
    let unused = build(&env, &["--build-arg", "NOPE=1"], &dir);
    assert!(
        unused
            .stderr
            .contains("one or more build-args [NOPE] were not consumed"),
        "{unused}"
    );
}

#[test]
fn heredocs_onbuild_and_entrypoint_reset_run_as_docker_does() {
    let Some(env) = TestEnv::new("build_heredoc", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let parent = format!(
        "FROM {PLAIN}\nCMD [\"from-parent\"]\nONBUILD COPY trigger.txt /trigger.txt\nONBUILD RUN echo onbuild-ran > /onbuild\n"
    );
    let pdir = context(&env, "parent", &[("Containerfile", &parent)]);
    built_id(&build(&env, &["-t", "parent:1"], &pdir));
    assert_eq!(
        env.inspect("parent:1")["Config"]["OnBuild"],
        serde_json::json!([
            "COPY trigger.txt /trigger.txt",
            "RUN echo onbuild-ran > /onbuild"
        ])
    );
    let child = "FROM parent:1\n\
        ARG WHO=heredoc\n\
        RUN <<EOF\n\
        echo \"script by $WHO\" > /script.out\n\
        echo second line >> /script.out\n\
        EOF\n\
        RUN cat <<-'RAW' > /raw.out\n\
        \tkept $WHO literally\n\
        \tRAW\n\
        COPY <<NOTE /etc/note\n\
        note for ${WHO}\n\
        NOTE\n\
        ENTRYPOINT cat /script.out\n";
    let cdir = context(
        &env,
        "child",
        &[("Containerfile", child), ("trigger.txt", "triggered\n")],
    );
    let out = build(&env, &["-t", "child:1"], &cdir);
    built_id(&out);
    let got = run_in(
        &env,
        "child:1",
        &["cat /script.out /raw.out /etc/note /trigger.txt /onbuild"],
    );
    // `run IMAGE CMD` with the image's shell-form ENTRYPOINT: the
    // entrypoint ignores the command, as docker's does.
    assert_eq!(got, "script by heredoc\nsecond line\n", "{out}");
    let all = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "--entrypoint",
        "cat",
        "child:1",
        "/script.out",
        "/raw.out",
        "/etc/note",
        "/trigger.txt",
        "/onbuild",
    ]);
    assert_eq!(
        all.stdout,
        "script by heredoc\nsecond line\nkept $WHO literally\nnote for heredoc\ntriggered\nonbuild-ran\n"
    );
    let c = &env.inspect("child:1")["Config"];
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "cat /script.out"])
    );
    assert!(c["Cmd"].is_null(), "ENTRYPOINT drops the parent's Cmd: {c}");
    assert!(c["OnBuild"].is_null(), "triggers are not inherited: {c}");
}

#[test]
fn a_heredoc_with_a_shebang_runs_as_a_script_that_no_layer_keeps() {
    let Some(env) = TestEnv::new("build_heredoc_shebang", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    const MARK: &str = "only-in-the-script-5e1b";
    let file = format!(
        "FROM {PLAIN}\n\
         ENV GREETING=hello\n\
         ARG WHO=awk\n\
         WORKDIR /work\n\
         RUN <<EOT\n\
         #!/bin/sh -e\n\
         # {MARK}\n\
         echo \"flags=$- pwd=$(pwd) $GREETING\" > /sh.out\n\
         EOT\n\
         RUN <<AWK\n\
         #!/bin/awk -f\n\
         # {MARK}\n\
         BEGIN {{ print ENVIRON[\"GREETING\"] \" from \" ENVIRON[\"WHO\"] > \"awk.out\" }}\n\
         AWK\n\
         RUN <<SH\n\
         echo \"$0 flags=$-\" > /plain.out\n\
         SH\n\
         RUN cat <<TXT > /kept.out\n\
         #!/bin/awk -f\n\
         TXT\n"
    );
    let dir = context(&env, "shebang", &[("Containerfile", &file)]);
    let out = build(&env, &["-t", "shebang:1", "--progress", "plain"], &dir);
    built_id(&out);
    let sh = run_in(&env, "shebang:1", &["cat", "/sh.out"]);
    // `#!/bin/sh -e` ran it: its `-e` is in `$-`, which `sh -c` lacks.
    let flags = sh.split_whitespace().next().unwrap_or("");
    assert!(
        flags.starts_with("flags=") && flags.contains('e'),
        "{sh}\n{out}"
    );
    assert!(sh.ends_with(" pwd=/work hello\n"), "{sh}\n{out}");
    // awk ran the awk script, with the step's ENV, ARG and workdir.
    let awk = run_in(&env, "shebang:1", &["cat", "/work/awk.out"]);
    assert_eq!(awk, "hello from awk\n", "{out}");
    // Without a shebang the heredoc is the shell's script, and a shebang
    // in a heredoc that is not the whole command is the shell's input.
    let plain = run_in(&env, "shebang:1", &["cat", "/plain.out", "/kept.out"]);
    assert!(plain.starts_with("/bin/sh flags="), "{plain}\n{out}");
    assert!(!plain.lines().next().unwrap().contains('e'), "{plain}");
    assert!(plain.ends_with("\n#!/bin/awk -f\n"), "{plain}");
    // No layer the build made has the script or its mount point.
    let base = env.inspect(PLAIN)["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .len();
    let layers = env.inspect("shebang:1")["RootFS"]["Layers"].clone();
    let diffs: Vec<PathBuf> = layers.as_array().unwrap()[base..]
        .iter()
        .map(|l| env.layer_diff(l.as_str().unwrap()))
        .collect();
    assert_eq!(diffs.len(), 5, "{layers}");
    let found = files_containing(&diffs, MARK.as_bytes());
    assert!(found.is_empty(), "the script is in a layer: {found:?}");
    for d in &diffs {
        assert!(!d.join("dev").exists(), "{} has /dev", d.display());
    }
    // The step's key is its text: the same file is all cached.
    let again = build(&env, &["-t", "shebang:2", "--progress", "plain"], &dir);
    built_id(&again);
    assert!(again.stderr.contains("CACHED RUN <<AWK"), "{again}");
}

/// Every file under `dirs` whose bytes contain `needle`.
fn files_containing(dirs: &[PathBuf], needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo: Vec<PathBuf> = dirs.to_vec();
    while let Some(p) = todo.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            if let Ok(rd) = fs::read_dir(&p) {
                todo.extend(rd.flatten().map(|e| e.path()));
            }
        } else if m.is_file() {
            if let Ok(data) = fs::read(&p) {
                if data.windows(needle.len()).any(|w| w == needle) {
                    found.push(p);
                }
            }
        }
    }
    found
}

fn cache_mount_persists(user: TestUser, test: &str) {
    let Some(env) = TestEnv::new(test, user) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!(
        "FROM {PLAIN}\n\
         RUN --mount=type=cache,target=/var/cache/app,id=appcache,sharing=locked \
         echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /runs\n\
         RUN --mount=type=cache,target=/owned,uid=1000,gid=1000,mode=0700 \
         stat -c '%u:%g %a' /owned > /owned.stat\n\
         RUN --mount=type=tmpfs,target=/scratch,size=1m \
         echo x > /scratch/f && grep -c '^[^ ]* /scratch tmpfs' /proc/mounts > /tmpfs.seen\n"
    );
    let dir = context(&env, "cachemount", &[("Containerfile", &file)]);
    built_id(&build(&env, &["-t", "cm:1"], &dir));
    assert_eq!(run_in(&env, "cm:1", &["cat", "/runs"]).trim(), "1");
    // --no-cache runs the step again: the cache mount kept the first
    // build's file.
    let out = build(&env, &["-t", "cm:2", "--no-cache"], &dir);
    built_id(&out);
    assert_eq!(
        run_in(&env, "cm:2", &["cat", "/runs"]).trim(),
        "2",
        "the cache mount persists across builds\n{out}"
    );
    let got = run_in(
        &env,
        "cm:2",
        &[
            "sh",
            "-c",
            "cat /owned.stat /tmpfs.seen; ls -A /var/cache/app /owned /scratch 2>&1 | wc -l",
        ],
    );
    let lines: Vec<&str> = got.lines().collect();
    if user == TestUser::WithSubids {
        assert_eq!(lines[0], "1000:1000 700", "{got}");
    } else {
        assert!(lines[0].ends_with(" 700"), "{got}");
    }
    assert_eq!(lines[1], "1", "the tmpfs mount was a tmpfs: {got}");
    // Neither the mounts' content nor their mount points are in the image.
    assert!(
        got.lines().last().unwrap().trim() == "3",
        "three `No such file` lines: {got}"
    );
}

#[test]
fn a_cache_mount_persists_across_builds_and_stays_out_of_the_image() {
    cache_mount_persists(TestUser::WithSubids, "build_cache_mount");
}

#[test]
fn a_cache_mount_persists_without_subordinate_ids() {
    cache_mount_persists(TestUser::NoSubids, "build_cache_mount_nosub");
}

#[test]
fn a_secret_is_readable_in_run_and_never_stored() {
    let Some(env) = TestEnv::new("build_secret", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    const VALUE: &str = "s3cr3t-value-8d41";
    let secret = env.work.join("token.txt");
    fs::write(&secret, VALUE).unwrap();
    env.give(&secret);
    let file = format!(
        "FROM {PLAIN}\n\
         RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -c1-64 > /found && \
         stat -c '%a' /run/secrets/tok > /mode\n\
         RUN --mount=type=secret,id=tok,env=TOKEN,required printf %s \"$TOKEN\" | sha256sum | cut -c1-64 > /found-env\n\
         RUN --mount=type=secret,id=absent ls /run/secrets > /listing 2>&1 || true\n\
         RUN --mount=type=bind,source=sub,target=/src cat /src/b.txt > /bound && \
         (touch /src/new 2>/dev/null && echo writable || echo read-only) >> /bound\n"
    );
    let dir = context(
        &env,
        "secret",
        &[("Containerfile", &file), ("sub/b.txt", "bound file\n")],
    );
    let out = build(
        &env,
        &[
            "-t",
            "sec:1",
            "--secret",
            &format!("id=tok,src={}", path_str(&secret)),
        ],
        &dir,
    );
    built_id(&out);
    let got = run_in(
        &env,
        "sec:1",
        &[
            "sh",
            "-c",
            "cat /found /mode /found-env /bound; ls -A /run/secrets 2>&1 | wc -l",
        ],
    );
    let sum = common::fixtures::sha256_hex(VALUE.as_bytes());
    assert_eq!(
        got,
        format!("{sum}\n400\n{sum}\nbound file\nread-only\n1\n"),
        "the secret was readable in RUN (file and env), the bind mount read-only\n{out}"
    );
    // The secret's value is nowhere burrow keeps anything: not in a
    // layer, the image config with its history, the build cache or the
    // runtime dir.
    let found = files_containing(&env.burrow_dirs(), VALUE.as_bytes());
    assert!(found.is_empty(), "the secret was stored in {found:?}");
    let inspect = env.ok(&["image", "inspect", "sec:1"]);
    assert!(!inspect.stdout.contains(VALUE), "{inspect}");
    // A required secret not given is an error naming it.
    let req = context(
        &env,
        "required",
        &[(
            "Containerfile",
            &format!("FROM {PLAIN}\nRUN --mount=type=secret,id=nope,required true\n"),
        )],
    );
    let out = build(&env, &[], &req);
    assert!(
        out.error_line()
            .contains("Containerfile:2: RUN --mount=type=secret,id=nope,required true: secret \"nope\" is required"),
        "{out}"
    );
}

#[test]
fn add_extracts_local_archives_and_downloads_urls_with_a_checksum() {
    use common::fixtures::{Compression, Entry, Kind, LayerBuilder};
    let Some(env) = TestEnv::new("build_add", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let tar = LayerBuilder::new()
        .dir("pkg")
        .file("pkg/a.txt", 0o640, "from tar\n")
        .symlink("pkg/link", "/etc/passwd")
        .entry(Entry::new("../../escape.txt", Kind::File).data("climbed\n"))
        .finish()
        .tar;
    let served = env.work.join("served");
    fs::create_dir_all(&served).unwrap();
    fs::write(served.join("dl.txt"), "downloaded\n").unwrap();
    let server = common::http::HttpServer::serve(&served);
    let sum = common::fixtures::sha256_hex(b"downloaded\n");
    let url = format!("http://127.0.0.1:{}/dl.txt", server.port);
    let file = format!(
        "FROM {PLAIN}\n\
         ADD plain.tar /x/plain/\n\
         ADD gz.tar.gz /x/gz\n\
         ADD z.tar.zst /x/zst/\n\
         ADD bz.tar.bz2 /x/bz/\n\
         ADD xz.tar.xz /x/xz/\n\
         ADD notar.gz /x/\n\
         ADD --unpack=false raw.tar /x/raw.tar\n\
         ADD --chown=1000:1000 --chmod=0751 a.txt /x/owned\n\
         COPY --link --exclude=*.md docs /x/docs\n\
         COPY --parents docs/keep.txt /x/p/\n\
         ADD --checksum=sha256:{sum} {url} /x/dl/\n"
    );
    let dir = context(
        &env,
        "add",
        &[
            ("Containerfile", &file),
            ("a.txt", "A\n"),
            ("docs/keep.txt", "kept\n"),
            ("docs/skip.md", "skipped\n"),
        ],
    );
    for (name, data) in [
        ("plain.tar", tar.clone()),
        ("raw.tar", tar.clone()),
        ("gz.tar.gz", Compression::Gzip.compress(&tar)),
        ("z.tar.zst", Compression::Zstd.compress(&tar)),
        ("bz.tar.bz2", {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            std::io::Write::write_all(&mut e, &tar).unwrap();
            e.finish().unwrap()
        }),
        ("xz.tar.xz", {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            std::io::Write::write_all(&mut e, &tar).unwrap();
            e.finish().unwrap()
        }),
        ("notar.gz", Compression::Gzip.compress(b"just text\n")),
    ] {
        fs::write(dir.join(name), data).unwrap();
        env.give(&dir.join(name));
    }
    let out = build(&env, &["-t", "add:1"], &dir);
    built_id(&out);
    let got = run_in(
        &env,
        "add:1",
        &[
            "sh",
            "-c",
            "cat /x/plain/pkg/a.txt /x/gz/pkg/a.txt /x/zst/pkg/a.txt /x/bz/pkg/a.txt /x/xz/pkg/a.txt /x/plain/escape.txt; \
             stat -c '%a' /x/plain/pkg/a.txt; readlink /x/zst/pkg/link; \
             test -f /x/notar.gz && test -f /x/raw.tar && echo files; \
             test -e /escape.txt -o -e /x/escape.txt || echo contained; \
             stat -c '%u:%g %a' /x/owned; ls /x/docs; \
             cat /x/dl/dl.txt; stat -c '%a' /x/dl/dl.txt; cat /x/p/docs/keep.txt",
        ],
    );
    let owner = if env.account.subuid.is_some() {
        "1000:1000 751"
    } else {
        // A single-id map has no uid 1000: the owner is squashed to root.
        "0:0 751"
    };
    assert_eq!(
        got,
        format!(
            "from tar\nfrom tar\nfrom tar\nfrom tar\nfrom tar\nclimbed\n640\n/etc/passwd\nfiles\ncontained\n{owner}\nkeep.txt\ndownloaded\n600\nkept\n"
        ),
        "{out}"
    );
    // A wrong checksum fails the step and names both sums.
    let bad = format!(
        "FROM {PLAIN}\nADD --checksum=sha256:{} {url} /dl\n",
        "0".repeat(64)
    );
    fs::write(dir.join("Containerfile"), bad).unwrap();
    let out = build(&env, &[], &dir);
    assert!(
        out.error_line().contains("Containerfile:2: ADD")
            && out
                .stderr
                .contains(&format!("the checksum is sha256:{sum}")),
        "{out}"
    );
    drop(server);
}

#[test]
fn stdin_context_pull_network_and_format() {
    use common::fixtures::{Compression, LayerBuilder};
    let Some(env) = TestEnv::new("build_stdin", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    // -f -: the Containerfile on stdin, the context a directory.
    let dir = context(&env, "fstdin", &[("f.txt", "from the dir\n")]);
    let file = format!("FROM {PLAIN}\nCOPY f.txt /f.txt\n");
    let out = env.run_with_stdin(
        &["build", "-t", "fstdin:1", "-f", "-", path_str(&dir)],
        Some(file.as_bytes()),
    );
    built_id(&out);
    assert_eq!(
        run_in(&env, "fstdin:1", &["cat", "/f.txt"]),
        "from the dir\n"
    );

    // `-`: a gzipped tar of the context on stdin.
    let tar = LayerBuilder::new()
        .file(
            "Containerfile",
            0o644,
            format!("FROM {PLAIN}\nCOPY t.txt /t.txt\n"),
        )
        .file("t.txt", 0o644, "from the tar\n")
        .finish()
        .tar;
    let out = env.run_with_stdin(
        &["build", "-t", "tarctx:1", "-"],
        Some(&Compression::Gzip.compress(&tar)),
    );
    built_id(&out);
    assert_eq!(
        run_in(&env, "tarctx:1", &["cat", "/t.txt"]),
        "from the tar\n"
    );

    // `-` with a Containerfile alone: an empty context; --network none
    // gives RUN only a loopback, --network host the host's interfaces.
    let host_ifaces = fs::read_to_string("/proc/net/dev").unwrap().lines().count();
    let file = format!(
        "FROM {PLAIN}\nRUN ls -A / | wc -l > /n && wc -l < /proc/net/dev > /ifaces\n\
         HEALTHCHECK CMD true\nSHELL [\"/bin/sh\", \"-ec\"]\n"
    );
    let out = env.run_with_stdin(
        &["build", "-t", "none:1", "--network", "none", "-"],
        Some(file.as_bytes()),
    );
    built_id(&out);
    assert_eq!(
        run_in(&env, "none:1", &["cat", "/ifaces"]).trim(),
        "3",
        "two header lines and lo\n{out}"
    );
    let c = &env.inspect("none:1")["Config"];
    assert!(
        !c["Healthcheck"].is_null() && !c["Shell"].is_null(),
        "docker format: {c}"
    );
    let out = env.run_with_stdin(
        &[
            "build",
            "-t",
            "host:1",
            "--network",
            "host",
            "--format",
            "oci",
            "-",
        ],
        Some(file.as_bytes()),
    );
    built_id(&out);
    assert_eq!(
        run_in(&env, "host:1", &["cat", "/ifaces"]).trim(),
        host_ifaces.to_string(),
        "{out}"
    );
    let c = &env.inspect("host:1")["Config"];
    assert!(
        c["Healthcheck"].is_null() && c["Shell"].is_null(),
        "oci format: {c}"
    );
    assert!(
        out.stderr
            .contains("HEALTHCHECK is not supported for OCI image format"),
        "{out}"
    );

    // --pull=never: a base not in the store is an error, nothing is pulled.
    let out = env.run_with_stdin(
        &["build", "--pull=never", "-"],
        Some(b"FROM localhost/not/here:1\nRUN true\n"),
    );
    assert!(
        out.error_line()
            .contains("localhost/not/here:1: no such image in the store, and --pull=never"),
        "{out}"
    );
    // Both from stdin: refused.
    let out = env.run_with_stdin(&["build", "-f", "-", "-"], Some(b"FROM scratch\n"));
    assert!(
        out.error_line().contains("cannot both come from stdin"),
        "{out}"
    );
}

/// Flags scripts written for docker pass: `--rm`, `--force-rm`, buildx's
/// `--load`, `--pull` as a boolean, and `--platform` naming this machine
/// build as without them; another platform is refused, not built wrongly.
#[test]
fn dockers_build_flags_for_this_machine_are_taken() {
    let Some(env) = TestEnv::new("build_docker_flags", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!("FROM {PLAIN}\nRUN echo built > /b\n");
    let here = format!("linux/{}", common::fixtures::oci_arch());
    let out = env.run_with_stdin(
        &[
            "build",
            "--rm",
            "--force-rm",
            "--load",
            "--pull=false",
            "--platform",
            &here,
            "-t",
            "flags:1",
            "-",
        ],
        Some(file.as_bytes()),
    );
    built_id(&out);
    assert_eq!(run_in(&env, "flags:1", &["cat", "/b"]), "built\n");
    // --pull=true is --pull=always: the base, only in this store, is
    // looked for in its registry and is not there.
    let pulled = env.run_with_stdin(&["build", "--pull=true", "-"], Some(file.as_bytes()));
    let always = env.run_with_stdin(&["build", "--pull=always", "-"], Some(file.as_bytes()));
    assert_eq!(
        pulled.error_line(),
        always.error_line(),
        "{pulled}\n{always}"
    );
    assert!(pulled.error_line().contains(PLAIN), "{pulled}");
    let other = if here.ends_with("s390x") {
        "linux/amd64"
    } else {
        "linux/s390x"
    };
    let out = env.run_with_stdin(
        &["build", "--platform", other, "-t", "other:1", "-"],
        Some(file.as_bytes()),
    );
    out.assert_error();
    assert!(
        out.error_line().contains(other) && out.error_line().contains(&here),
        "{out}"
    );
    assert!(env.run(&["image", "exists", "other:1"]).code() == Some(1));
}

/// `--add-host` lines are in the /etc/hosts of RUN steps (and in the
/// step's cache key: another entry runs the step again); `--cache-from`
/// is taken and the local cache used.
#[test]
fn add_host_reaches_run_steps_and_cache_from_is_taken() {
    let Some(env) = TestEnv::new("build_add_host", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!("FROM {PLAIN}\nRUN cat /etc/hosts > /hosts\n");
    let build = |host: &str| {
        let out = env.run_with_stdin(
            &[
                "build",
                "--network",
                "none",
                "--add-host",
                host,
                "--cache-from",
                "type=registry,ref=example.com/cache",
                "-t",
                "hosts:1",
                "-",
            ],
            Some(file.as_bytes()),
        );
        built_id(&out);
        run_in(&env, "hosts:1", &["cat", "/hosts"])
    };
    let first = build("db.example:10.1.2.3");
    assert!(
        first
            .lines()
            .any(|l| l.starts_with("10.1.2.3") && l.split_whitespace().any(|w| w == "db.example")),
        "{first}"
    );
    let second = build("db.example:10.9.8.7");
    assert!(second.contains("10.9.8.7"), "{second}");
    assert!(
        !second.contains("10.1.2.3"),
        "not the first build's step\n{second}"
    );
    let bad = env.run_with_stdin(
        &["build", "--add-host", "nocolon", "-"],
        Some(file.as_bytes()),
    );
    assert_eq!(bad.code(), Some(125), "{bad}");
}

/// What useradd copies from `stat` of the file it replaces (root:shadow in
/// the image): with a single-id map `stat` shows root, so these four are
/// root's in a layer built without subordinate ids (documented gap).
const OWNER_COPIED_FROM_STAT: &[&str] =
    &["etc/shadow", "etc/shadow-", "etc/gshadow", "etc/gshadow-"];

/// A Debian base made with mmdebstrap; `apt-get update && apt-get
/// install` in RUN from the fixture's flat repository, bind-mounted from
/// the context (no network), then `COPY --chown` by name (the maintainer
/// script's user) and by number: the package, its system user and the
/// owners it gave its files are in the image, and so are the COPY owners.
/// Returns the headers of the layers the build made (base excluded).
fn apt_install_in_run(user: TestUser, test: &str) -> Option<Vec<common::layers::Headers>> {
    use common::debian;
    let env = TestEnv::new(test, user)?;
    let fixture = debian::debian_image(&env, test)?;
    let file = format!(
        "FROM {}\n\
         RUN --mount=type=bind,source=repo,target={} \
         apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*\n\
         COPY --chown=uuidd:uuidd note.txt /var/lib/libuuid/note.txt\n\
         COPY --chown=1234:5678 tree /srv/tree/\n",
        debian::IMAGE,
        debian::REPO_IN_CONTAINER,
        debian::PACKAGE_WITH_SYSTEM_USER
    );
    let dir = context(
        &env,
        "apt",
        &[
            ("Containerfile", &file),
            ("note.txt", "a note\n"),
            ("tree/sub/file", "data\n"),
        ],
    );
    let repo = dir.join("repo");
    fs::create_dir(&repo).unwrap();
    env.give(&repo);
    for e in fs::read_dir(&fixture.repo).unwrap().flatten() {
        let to = repo.join(e.file_name());
        fs::copy(e.path(), &to).unwrap();
        env.give(&to);
    }
    let out = build(&env, &["-t", "apt:1"], &dir);
    built_id(&out);
    let got = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "apt:1",
        "sh",
        "-c",
        "uuidgen | wc -c; getent passwd uuidd | cut -d: -f1; stat -c %U:%G /var/lib/libuuid; \
         ls /var/lib/apt/lists | wc -l; test -e /srv/repo/Packages && echo leaked || echo clean",
    ]);
    // With one id mapped, `stat` inside shows every file as root's (the
    // owners are in the layers, checked below).
    let owner = if user == TestUser::NoSubids {
        "root:root"
    } else {
        "uuidd:uuidd"
    };
    assert_eq!(
        got.stdout,
        format!("37\nuuidd\n{owner}\n0\nclean\n"),
        "the package runs, its system user exists; the repository mount is not in the image\n{out}"
    );
    let base = common::layers::saved_layers(&env, debian::IMAGE).len();
    let made: Vec<_> = common::layers::saved_layers(&env, "apt:1")[base..]
        .iter()
        .map(|l| common::layers::tar_headers(l))
        .collect();
    assert_eq!(made.len(), 3, "RUN, COPY, COPY");
    // uuidd is a system user (100) with its own group (101).
    let at = |layer: usize, path: &str| made[layer].get(path).map(|h| (h.0, h.1, h.2));
    assert_eq!(
        at(0, "var/lib/libuuid"),
        Some((100, 101, 0o2775)),
        "the maintainer script's chown and chmod"
    );
    assert_eq!(at(1, "var/lib/libuuid/note.txt"), Some((100, 101, 0o644)));
    // The directory on the way keeps the owner the RUN layer gave it
    // (with one id mapped: the record unpacking the layer kept).
    assert_eq!(at(1, "var/lib/libuuid"), Some((100, 101, 0o2775)));
    assert_eq!(at(2, "srv/tree/sub/file"), Some((1234, 5678, 0o644)));
    assert_eq!(at(2, "srv/tree/sub"), Some((1234, 5678, 0o755)));
    Some(made)
}

#[test]
fn apt_get_install_in_run_on_a_debian_base() {
    apt_install_in_run(TestUser::WithSubids, "build_apt");
}

/// The user without subordinate ids: apt's drop to `_apt`, the maintainer
/// script's `useradd` and dpkg's chown go through root emulation, and the
/// owners they asked for are in the RUN layer; then the same build by the
/// user with subordinate ids gives layers with the same owners and modes
/// for every entry (tar headers), but for what useradd copies from `stat`.
#[test]
fn apt_get_install_in_run_without_subordinate_ids_gives_the_same_owners() {
    let test = "build_apt_nosub";
    let Some(emulated) = apt_install_in_run(TestUser::NoSubids, test) else {
        return;
    };
    let Some(real) = apt_install_in_run(TestUser::WithSubids, test) else {
        return;
    };
    let mut differ = Vec::new();
    for (i, (e, r)) in emulated.iter().zip(&real).enumerate() {
        for (path, h) in r
            .iter()
            .filter(|(p, _)| !OWNER_COPIED_FROM_STAT.contains(&p.as_str()))
        {
            match e.get(path) {
                Some(got) if got == h => {}
                other => differ.push(format!(
                    "layer {i} {path}: with subids {h:?}, without {other:?}"
                )),
            }
        }
        for path in e.keys().filter(|p| !r.contains_key(*p)) {
            differ.push(format!("layer {i} {path}: only without subids"));
        }
    }
    assert!(
        differ.is_empty(),
        "the built layers differ in owners or modes (uid, gid, mode, type):\n{}",
        differ.join("\n")
    );
}

/// Copies the files of `from` (one level) into a new directory `to`,
/// given to the test user.
fn copy_flat(env: &TestEnv, from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    env.give(to);
    for e in fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        fs::copy(e.path(), &dest).unwrap();
        env.give(&dest);
    }
}

/// `pip install` in RUN on the mmdebstrap Debian base: apt installs
/// Debian's pip from a flat repository, then pip resolves the project
/// through a PEP 503 index (a wheel fetched from PyPI when the fixture was
/// made) and installs it, both mounted from the context (no network in
/// the test); the package imports in the image from where pip put it,
/// pip knows it, and neither the index nor pip's download cache is in the
/// image.
#[test]
fn pip_install_in_run_on_a_debian_base() {
    use common::debian;
    let test = "build_pip";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let Some(base) = debian::fixture(test) else {
        return;
    };
    let Some(pip) = debian::pip_fixture(test, &base) else {
        return;
    };
    debian::import(&env, &base);
    let project = debian::WHEEL_PROJECT;
    let version = debian::WHEEL_VERSION;
    let file = format!(
        "FROM {image}\n\
         RUN --mount=type=bind,source=repo,target={repo} \
         apt-get update && apt-get install -y --no-install-recommends {package} \
         && rm -rf /var/lib/apt/lists/*\n\
         RUN --mount=type=bind,source=pypi,target={pypi} \
         pip install --no-cache-dir --break-system-packages \
         --index-url file://{pypi}/simple {project}=={version}\n",
        image = debian::IMAGE,
        repo = debian::REPO_IN_CONTAINER,
        package = debian::PIP_PACKAGE,
        pypi = debian::PYPI_IN_CONTAINER,
    );
    let dir = context(&env, "pip", &[("Containerfile", &file)]);
    copy_flat(&env, &pip.repo, &dir.join("repo"));
    fs::create_dir_all(dir.join("pypi/simple")).unwrap();
    env.give(&dir.join("pypi"));
    env.give(&dir.join("pypi/simple"));
    copy_flat(
        &env,
        &pip.pypi.join("simple").join(project),
        &dir.join("pypi/simple").join(project),
    );
    let out = build(&env, &["-t", "pip:1", "--progress", "plain"], &dir);
    built_id(&out);
    assert!(
        out.stderr
            .contains(&format!("Successfully installed {project}-{version}")),
        "pip said what it installed\n{out}"
    );
    let got = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "pip:1",
        "sh",
        "-c",
        &format!(
            "python3 -c 'import {project}; print({project}.__version__, {project}.__file__)'; \
             pip show {project} 2>/dev/null | grep -E '^(Name|Version|Location):'; \
             test -e {pypi} && echo leaked || echo clean; \
             ls /root/.cache/pip 2>/dev/null | wc -l",
            pypi = debian::PYPI_IN_CONTAINER
        ),
    ]);
    assert_eq!(
        got.stdout,
        format!(
            "{version} /usr/local/lib/python3.11/dist-packages/{project}.py\n\
             Name: {project}\nVersion: {version}\n\
             Location: /usr/local/lib/python3.11/dist-packages\n\
             clean\n0\n"
        ),
        "the package imports from where pip put it; the index is not in the image\n{out}"
    );
}

/// A COPY whose sources are unchanged hits the cache and makes no layer;
/// made again after one of its files changed, it links the unchanged
/// files from the layer the last build of it made (the same inodes: not
/// written again), writes the changed one, and says so in `--progress
/// plain`. Each image keeps its own content, and removing the first
/// leaves the second whole.
#[test]
fn a_copy_made_again_writes_only_the_files_that_changed() {
    use std::os::unix::fs::MetadataExt;
    let Some(env) = TestEnv::new("build_copy_again", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!("FROM {PLAIN}\nCOPY data /data\n");
    let big = "x".repeat(100_000);
    let dir = context(
        &env,
        "again",
        &[
            ("Containerfile", &file),
            ("data/big.bin", &big),
            ("data/sub/b.txt", "B\n"),
            ("data/c.txt", "C\n"),
        ],
    );
    let copy_layer = |image: &str| -> PathBuf {
        let layers = env.inspect(image)["RootFS"]["Layers"].clone();
        let last = layers.as_array().unwrap().last().unwrap().as_str().unwrap();
        env.layer_diff(last)
    };
    let first = build(&env, &["-t", "again:1", "--progress", "plain"], &dir);
    built_id(&first);
    let layers = env.layer_ids();
    let cached = build(&env, &["-t", "again:2", "--progress", "plain"], &dir);
    built_id(&cached);
    assert!(cached.stderr.contains("CACHED COPY data /data"), "{cached}");
    assert_eq!(env.layer_ids(), layers, "a cached COPY makes no layer");

    fs::write(dir.join("data/c.txt"), "changed\n").unwrap();
    let again = build(&env, &["-t", "again:3", "--progress", "plain"], &dir);
    built_id(&again);
    assert!(!again.stderr.contains("CACHED COPY"), "{again}");
    assert!(
        again
            .stderr
            .contains("1 files written, 2 unchanged files linked from the layer of the last build"),
        "{again}"
    );
    let (old, new) = (copy_layer("again:1"), copy_layer("again:3"));
    assert_ne!(old, new);
    let ino = |p: PathBuf| fs::symlink_metadata(&p).unwrap().ino();
    for unchanged in ["data/big.bin", "data/sub/b.txt"] {
        assert_eq!(
            ino(old.join(unchanged)),
            ino(new.join(unchanged)),
            "{unchanged} is the last build's file, not a new copy"
        );
    }
    assert_ne!(ino(old.join("data/c.txt")), ino(new.join("data/c.txt")));
    assert_eq!(run_in(&env, "again:1", &["cat", "/data/c.txt"]), "C\n");
    env.ok(&["rmi", "again:1", "again:2"]);
    env.ok(&["builder", "prune", "-f"]);
    assert_eq!(
        run_in(
            &env,
            "again:3",
            &[
                "sh",
                "-c",
                "cat /data/c.txt /data/sub/b.txt; wc -c < /data/big.bin"
            ]
        ),
        "changed\nB\n100000\n"
    );
}

/// A RUN step's layer takes the files its container wrote (hard links
/// from the step's writable layer, which is removed next) instead of
/// copies, whose bytes would be written and synced again: each such file
/// was made before the layer's directory was (a copy is made after), and
/// is linked from nowhere else once the build is done. A file of the
/// image the step changed, and one it removed, are in the layer as ever.
#[test]
fn a_run_steps_files_become_its_layer_without_a_copy() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Some(env) = TestEnv::new("build_run_linked", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!(
        "FROM {PLAIN}\n\
         RUN head -c 100000 /dev/zero > /big && echo small > /small && mkdir /d \\\n \
         && echo in > /d/f && echo changed >> /etc/passwd && rm /etc/image-file\n"
    );
    let dir = context(&env, "linked", &[("Containerfile", &file)]);
    let out = build(&env, &["-t", "linked:1"], &dir);
    built_id(&out);
    let layers = env.inspect("linked:1")["RootFS"]["Layers"].clone();
    let last = layers.as_array().unwrap().last().unwrap().as_str().unwrap();
    let diff = env.layer_diff(last);
    let born = |p: &Path| {
        fs::symlink_metadata(p)
            .unwrap()
            .created()
            .unwrap_or_else(|e| panic!("{}: no birth time: {e}", p.display()))
    };
    for f in ["big", "small", "d/f"] {
        let path = diff.join(f);
        assert!(
            born(&path) < born(&diff),
            "{f} was written again into the layer instead of taken from the step's container"
        );
        assert_eq!(fs::symlink_metadata(&path).unwrap().nlink(), 1, "{f}");
    }
    let whiteout = fs::symlink_metadata(diff.join("etc/image-file")).unwrap();
    assert!(
        whiteout.file_type().is_char_device() && whiteout.rdev() == 0,
        "the removed file's whiteout, in overlay's form"
    );
    assert_eq!(
        run_in(
            &env,
            "linked:1",
            &[
                "sh",
                "-c",
                "wc -c < /big; cat /small /d/f; tail -n 1 /etc/passwd; \
                 test -e /etc/image-file || echo removed"
            ]
        ),
        "100000\nsmall\nin\nchanged\nremoved\n"
    );
}

/// A context of 50,000 files in 100 directories: the image has every one
/// with its content (the listing and the digest of all contents, in path
/// order, agree with the context's); an unchanged rebuild hits the cache,
/// and after one file changed the rebuilt image has the new content.
#[test]
fn a_context_of_fifty_thousand_files_is_copied_whole() {
    use sha2::{Digest, Sha256};
    let Some(env) = TestEnv::new("build_50k", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    const FILES: usize = 50_000;
    let file = format!(
        "FROM {PLAIN}\nCOPY data /data\n\
         RUN find /data -type f | wc -l > /count && \
         find /data -type f | sort | xargs cat | sha256sum | cut -d' ' -f1 > /digest\n"
    );
    let dir = context(&env, "big", &[("Containerfile", &file)]);
    let data = dir.join("data");
    let mut paths = Vec::with_capacity(FILES);
    for i in 0..FILES {
        let sub = data.join(format!("d{:02}", i % 100));
        if i < 100 {
            fs::create_dir_all(&sub).unwrap();
        }
        let path = sub.join(format!("f{i:05}"));
        fs::write(&path, format!("file {i}\n")).unwrap();
        paths.push(path);
    }
    if common::running_as_root() {
        let status = std::process::Command::new("chown")
            .args(["-R", &format!("{}:{}", env.account.uid, env.account.gid)])
            .arg(&data)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let digest_of = |paths: &mut Vec<PathBuf>| {
        paths.sort();
        let mut h = Sha256::new();
        for p in paths.iter() {
            h.update(fs::read(p).unwrap());
        }
        format!("{:x}", h.finalize())
    };
    let expected = digest_of(&mut paths);
    let out = build(&env, &["-t", "big:1"], &dir);
    built_id(&out);
    assert_eq!(
        run_in(&env, "big:1", &["cat", "/count", "/digest"]),
        format!("{FILES}\n{expected}\n"),
        "every file of the context is in the image with its content"
    );
    let again = build(&env, &["-t", "big:2"], &dir);
    built_id(&again);
    assert!(again.stderr.contains("CACHED COPY"), "{again}");

    fs::write(&paths[12_345], "changed\n").unwrap();
    let changed = digest_of(&mut paths);
    assert_ne!(changed, expected);
    let out = build(&env, &["-t", "big:3"], &dir);
    built_id(&out);
    assert!(!out.stderr.contains("CACHED COPY"), "{out}");
    assert_eq!(
        run_in(&env, "big:3", &["cat", "/count", "/digest"]),
        format!("{FILES}\n{changed}\n"),
        "the changed file's new content is in the rebuilt image"
    );
}

/// Polls until `burrow ps -a -q` lists a container (a RUN step started).
fn wait_for_step_container(env: &TestEnv) {
    for _ in 0..600 {
        if !env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no RUN step container appeared");
}

#[test]
fn a_build_killed_mid_run_leaves_the_store_consistent() {
    let Some(env) = TestEnv::new("build_killed", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let images_before = env.images_json().len();
    let layers_before = env.layer_ids();
    let secret = env.work.join("s.txt");
    fs::write(&secret, "kill-secret-0xfeed").unwrap();
    env.give(&secret);
    let file = format!(
        "FROM {PLAIN}\nCOPY a.txt /a.txt\n\
         RUN --mount=type=secret,id=s --mount=type=cache,target=/c touch /c/x && sleep 600\n"
    );
    let dir = context(
        &env,
        "killed",
        &[("Containerfile", &file), ("a.txt", "a\n")],
    );
    let secret_arg = format!("id=s,src={}", path_str(&secret));
    let mut child = env.spawn(&[
        "build",
        "-t",
        "killed:1",
        "--secret",
        &secret_arg,
        path_str(&dir),
    ]);
    wait_for_step_container(&env);
    common::kill_group(&mut child);

    // The store answers, lists no new image and has no tag for the build.
    assert_eq!(env.images_json().len(), images_before);
    assert!(!env.run(&["image", "inspect", "killed:1"]).status.success());
    // The next build works, removes the killed step's container and secret
    // files, and the killed step left no layer behind.
    fs::write(
        dir.join("Containerfile"),
        format!("FROM {PLAIN}\nCOPY a.txt /a.txt\nRUN echo done > /done\n"),
    )
    .unwrap();
    let out = build(&env, &["-t", "after:1"], &dir);
    built_id(&out);
    assert!(
        out.stderr.contains("CACHED COPY"),
        "the finished COPY step is reused\n{out}"
    );
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(
        ps.stdout.trim().is_empty(),
        "the killed step's container is gone\n{ps}\n{}\n{out}",
        env.ok(&["ps", "-a"])
    );
    let leftovers = files_containing(
        std::slice::from_ref(&env.runtime_dir),
        b"kill-secret-0xfeed",
    );
    assert!(leftovers.is_empty(), "secret files left: {leftovers:?}");
    let new_layers: Vec<String> = env
        .layer_ids()
        .difference(&layers_before)
        .cloned()
        .collect();
    assert_eq!(
        new_layers.len(),
        2,
        "the COPY and the last RUN: no layer of the killed step\n{new_layers:?}"
    );
    assert_eq!(
        run_in(&env, "after:1", &["cat", "/done", "/a.txt"]),
        "done\na\n"
    );
    let tmp: Vec<_> = fs::read_dir(env.storage().join("tmp"))
        .unwrap()
        .flatten()
        .collect();
    assert!(tmp.is_empty(), "store scratch left: {tmp:?}");
}

#[test]
fn a_hostile_containerfile_stays_inside_the_context() {
    let Some(env) = TestEnv::new("build_hostile", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let canary = env.canary.join("secret");
    let dir = context(&env, "hostile", &[("Containerfile", "FROM scratch\n")]);
    std::os::unix::fs::symlink(&canary, dir.join("escape")).unwrap();
    env.give(&dir.join("escape"));
    let cases: &[(&str, &str)] = &[
        ("COPY ../../etc/passwd /p", "outside the build context"),
        ("ADD ../../../../etc/shadow /p", "outside the build context"),
        ("COPY /etc/passwd /p", "no such file in the context"),
        (
            "RUN --mount=type=bind,source=../../etc,target=/m cat /m/passwd",
            "outside the build context",
        ),
        // A bind of a context symlink that leads out is refused, never
        // followed to the host file.
        (
            "RUN --mount=type=bind,source=escape,target=/m cat /m",
            "symbolic link",
        ),
    ];
    for (line, why) in cases {
        fs::write(dir.join("Containerfile"), format!("FROM {PLAIN}\n{line}\n")).unwrap();
        let out = build(&env, &[], &dir);
        assert!(!out.status.success(), "{line}\n{out}");
        assert!(
            out.error_line()
                .contains(&format!("Containerfile:2: {line}"))
                && out.stderr.contains(why),
            "{line}: expected {why:?}\n{out}"
        );
        assert!(
            !out.stdout.contains("canary") && !out.stderr.contains("canary\n"),
            "{out}"
        );
    }
}

/// An ADD archive whose member climbs out through a symlink it brought
/// (`l -> ../../..`, then `l/evil`) is refused by the unpacker, and the
/// build says so, naming the member: not the "broken pipe" the layer's
/// writer meets when the unpacker stops reading with megabytes of the
/// archive still to write.
#[test]
fn an_add_archive_the_unpacker_refuses_reports_the_refused_member() {
    use common::fixtures::{Compression, LayerBuilder};
    let Some(env) = TestEnv::new("build_add_refused", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let tar = LayerBuilder::new()
        .symlink("l", "../../..")
        .file("l/evil", 0o644, "out\n")
        .file("tail", 0o644, vec![0u8; 8 << 20])
        .finish()
        .tar;
    let file = format!("FROM {PLAIN}\nADD evil.tar.gz /x/\n");
    let dir = context(&env, "refused", &[("Containerfile", &file)]);
    fs::write(dir.join("evil.tar.gz"), Compression::Gzip.compress(&tar)).unwrap();
    env.give(&dir.join("evil.tar.gz"));
    let out = build(&env, &["-t", "refused:1"], &dir);
    assert!(!out.status.success(), "{out}");
    let error = out.error_line();
    assert!(
        error.contains("Containerfile:2: ADD")
            && error.contains("x/l/evil")
            && error.contains("outside the layer"),
        "{out}"
    );
    assert!(!out.stderr.to_lowercase().contains("broken pipe"), "{out}");
    assert!(env.run(&["image", "inspect", "refused:1"]).code() != Some(0));
}

#[test]
fn squash_merges_the_built_layers_into_one() {
    let Some(env) = TestEnv::new("build_squash", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let base_layers = env.inspect(PLAIN)["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .len();
    let file = format!(
        "FROM {PLAIN}\n\
         RUN echo 1 > /one && mkdir /d && echo x > /d/x\n\
         RUN rm /one && echo 2 > /two\n\
         COPY f.txt /d/f\n\
         RUN rm /etc/group\n"
    );
    let dir = context(
        &env,
        "squash",
        &[("Containerfile", &file), ("f.txt", "f\n")],
    );
    built_id(&build(&env, &["-t", "sq:1", "--squash"], &dir));
    let i = env.inspect("sq:1");
    let layers = i["RootFS"]["Layers"].as_array().unwrap().len();
    assert_eq!(layers, base_layers + 1, "{i}");
    let got = run_in(
        &env,
        "sq:1",
        &[
            "sh",
            "-c",
            "cat /two /d/x /d/f; test -e /one || echo no-one; test -e /etc/group || echo no-group",
        ],
    );
    assert_eq!(got, "2\nx\nf\nno-one\nno-group\n");
    // Without --squash: one layer per step.
    built_id(&build(&env, &["-t", "sq:2"], &dir));
    let layers = env.inspect("sq:2")["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(layers, base_layers + 4);
}
