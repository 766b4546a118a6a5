//! `burrow build --build-context NAME=VALUE` as an unprivileged user: a
//! named directory (read after its own .dockerignore, its symlinks never
//! followed out of it) or image that COPY --from, RUN --mount=from= and
//! FROM read instead of a stage or an image of that name; the cache that
//! sees a change in its files; the errors that name the flag and value.

mod common;

use common::run_image::{self, CONFIG, CONFIG_WORKDIR, PLAIN};
use common::{path_str, Output, TestEnv, TestUser};
use std::fs;
use std::path::{Path, PathBuf};

/// A directory under the work dir with `files` (path, content), owned by
/// the user.
fn dir_with(env: &TestEnv, name: &str, files: &[(&str, &str)]) -> PathBuf {
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
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    all.push(path_str(dir));
    env.run(&all)
}

fn built(out: &Output) {
    assert!(out.status.success(), "build failed\n{out}");
}

fn run_in(env: &TestEnv, image: &str, script: &str) -> String {
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "--entrypoint",
        "",
        image,
        "sh",
        "-c",
        script,
    ])
    .stdout
}

/// The directory of an image's last layer in the store.
fn last_layer(env: &TestEnv, image: &str) -> PathBuf {
    let layers = env.inspect(image)["RootFS"]["Layers"].clone();
    let last = layers.as_array().unwrap().last().unwrap().as_str().unwrap();
    env.layer_diff(last)
}

#[test]
fn a_named_directory_is_read_after_its_own_ignore_file_and_cached_by_content() {
    let Some(env) = TestEnv::new("bctx_dir", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!(
        "FROM {PLAIN}\n\
         COPY --from=docs . /docs/\n\
         RUN --mount=type=bind,from=docs,target=/m cat /m/a.txt /m/sub/b.txt > /from-mount\n\
         COPY main.txt /\n"
    );
    // The main context's ignore file leaves out `sub`; the named one's own
    // leaves out its logs and nothing else.
    let main = dir_with(
        &env,
        "main",
        &[
            ("Containerfile", &file),
            ("main.txt", "main\n"),
            (".dockerignore", "sub\n"),
        ],
    );
    let docs = dir_with(
        &env,
        "docs",
        &[
            ("a.txt", "A\n"),
            ("sub/b.txt", "B\n"),
            ("x.log", "left out\n"),
            (".dockerignore", "*.log\n"),
        ],
    );
    // A relative directory is taken from the current directory.
    let args = ["-t", "bctx:1", "--build-context", "docs=docs"];
    let first = build(&env, &args, &main);
    built(&first);
    assert_eq!(
        run_in(
            &env,
            "bctx:1",
            "ls -A /docs; cat /docs/sub/b.txt /from-mount /main.txt"
        ),
        ".dockerignore\na.txt\nsub\nB\nA\nB\nmain\n"
    );

    // Unchanged, or changed only in what its ignore file leaves out:
    // every step is cached.
    fs::write(docs.join("x.log"), "still left out\n").unwrap();
    let again = build(&env, &args, &main);
    built(&again);
    for step in [
        "CACHED COPY --from=docs . /docs/",
        "CACHED RUN --mount=type=bind,from=docs",
        "CACHED COPY main.txt /",
    ] {
        assert!(again.stderr.contains(step), "{step}\n{again}");
    }

    // A changed file of the named context runs the steps that read it.
    fs::write(docs.join("sub/b.txt"), "B2\n").unwrap();
    let changed = build(
        &env,
        &["-t", "bctx:2", "--build-context", "docs=docs"],
        &main,
    );
    built(&changed);
    assert!(
        !changed.stderr.contains("CACHED COPY --from=docs"),
        "{changed}"
    );
    assert!(!changed.stderr.contains("CACHED RUN"), "{changed}");
    assert_eq!(
        run_in(&env, "bctx:2", "cat /docs/sub/b.txt /from-mount"),
        "B2\nA\nB2\n"
    );
}

#[test]
fn a_named_context_replaces_a_stage_or_an_image_and_without_it_they_are_used() {
    let Some(env) = TestEnv::new("bctx_replace", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let file = format!(
        "FROM {PLAIN} AS gen\n\
         RUN echo from the stage > /out.txt\n\
         FROM base\n\
         COPY --from=gen /out.txt /out.txt\n"
    );
    let main = dir_with(&env, "main", &[("Containerfile", &file)]);
    dir_with(&env, "gen", &[("out.txt", "from the directory\n")]);

    // Neither name given (another is): the stage runs, `base` is an image.
    env.ok(&["tag", PLAIN, "base:latest"]);
    let plain = build(&env, &["-t", "r:1", "--build-context", "other=gen"], &main);
    built(&plain);
    assert_eq!(run_in(&env, "r:1", "cat /out.txt"), "from the stage\n");

    // Both given: the stage is the directory (its RUN never runs) and
    // FROM base is another image, whose config the build keeps.
    let replaced = build(
        &env,
        &[
            "-t",
            "r:2",
            "--build-context",
            "gen=gen",
            "--build-context",
            &format!("base=docker-image://{CONFIG}"),
        ],
        &main,
    );
    built(&replaced);
    assert!(
        !replaced.stderr.contains("echo from the stage"),
        "{replaced}"
    );
    assert_eq!(
        env.inspect("r:2")["Config"]["WorkingDir"].as_str(),
        Some(CONFIG_WORKDIR)
    );
    assert_eq!(run_in(&env, "r:2", "cat /out.txt"), "from the directory\n");

    // FROM a named directory: its files are the root filesystem.
    let tree = dir_with(&env, "tree", &[("Containerfile", "FROM gen\n")]);
    let out = build(&env, &["-t", "r:3", "--build-context", "gen=gen"], &tree);
    built(&out);
    let layer = last_layer(&env, "r:3");
    assert_eq!(
        fs::read_to_string(layer.join("out.txt")).unwrap(),
        "from the directory\n"
    );
    assert_eq!(
        env.inspect("r:3")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // docker-image://scratch: nothing.
    let out = build(
        &env,
        &["-t", "r:4", "--build-context", "gen=docker-image://scratch"],
        &tree,
    );
    built(&out);
    assert!(env.inspect("r:4")["RootFS"]["Layers"]
        .as_array()
        .is_none_or(|l| l.is_empty()));
}

#[test]
fn a_bad_build_context_is_an_error_naming_the_flag_and_the_value() {
    let Some(env) = TestEnv::new("bctx_errors", TestUser::Any) else {
        return;
    };
    let main = dir_with(&env, "main", &[("Containerfile", "FROM scratch\n")]);
    for (value, why) in [
        ("foo=bar", "no such directory"),
        ("foo=main/Containerfile", "not a directory"),
        (
            "src=https://example.com/repo.git",
            "burrow build fetches no context from the network",
        ),
        (
            "src=git@example.com:o/repo.git",
            "burrow build fetches no context from the network",
        ),
        ("img=oci-layout:///tmp/layout", "an OCI layout is not read"),
        ("nonsense", "expecting NAME=VALUE"),
    ] {
        let out = build(&env, &["--build-context", value], &main);
        assert!(!out.status.success(), "{value}\n{out}");
        assert!(
            out.stderr
                .contains(&format!("--build-context {value}: {why}")),
            "{value}\n{out}"
        );
    }
}

/// A named context's symbolic links are copied as links: never followed
/// to the host files they name, by COPY, by a bind mount, or by FROM.
#[test]
fn a_named_contexts_symlinks_never_reach_host_files() {
    let Some(env) = TestEnv::new("bctx_links", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let secret = env.canary.join("secret");
    let main = dir_with(&env, "main", &[("Containerfile", "FROM scratch\n")]);
    let evil = dir_with(&env, "evil", &[("plain.txt", "plain\n")]);
    for (link, target) in [
        ("s", path_str(&secret)),
        ("d", path_str(&env.canary)),
        ("up", "../../../../../../.."),
    ] {
        std::os::unix::fs::symlink(target, evil.join(link)).unwrap();
        env.give(&evil.join(link));
    }
    let flag = ["--build-context", "evil=evil"];
    let refused: &[(&str, &str)] = &[
        (
            "COPY --from=evil d/secret /x",
            "d/secret: no such file in the context (--build-context evil)",
        ),
        (
            "COPY --from=evil up/etc/passwd /x",
            "no such file in the context (--build-context evil)",
        ),
        (
            "COPY --from=evil ../canary/secret /x",
            "outside the build context",
        ),
        (
            "RUN --mount=type=bind,from=evil,target=/m cat /m/s /m/d/secret",
            "exited with status",
        ),
        (
            "RUN --mount=type=bind,from=evil,source=d,target=/m cat /m/secret",
            "symbolic link",
        ),
    ];
    for (line, why) in refused {
        fs::write(
            main.join("Containerfile"),
            format!("FROM {PLAIN}\n{line}\n"),
        )
        .unwrap();
        let out = build(&env, &flag, &main);
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

    fs::write(
        main.join("Containerfile"),
        format!("FROM {PLAIN}\nCOPY --from=evil . /e/\n"),
    )
    .unwrap();
    let out = build(&env, &["-t", "links:1", flag[0], flag[1]], &main);
    built(&out);
    let got = run_in(
        &env,
        "links:1",
        "readlink /e/s; readlink /e/d; cat /e/s /e/d/secret 2>/dev/null || echo unreadable",
    );
    assert_eq!(
        got,
        format!(
            "{}\n{}\nunreadable\n",
            path_str(&secret),
            path_str(&env.canary)
        )
    );

    // As a root filesystem, the links stay links.
    fs::write(main.join("Containerfile"), "FROM evil\n").unwrap();
    let out = build(&env, &["-t", "links:2", flag[0], flag[1]], &main);
    built(&out);
    let layer = last_layer(&env, "links:2");
    for link in ["s", "d", "up"] {
        let m = fs::symlink_metadata(layer.join(link)).unwrap();
        assert!(m.file_type().is_symlink(), "{link}");
    }
    assert_eq!(
        fs::read_to_string(layer.join("plain.txt")).unwrap(),
        "plain\n"
    );
}
