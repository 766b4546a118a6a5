//! The small things a new user meets in the first hour (issue 18), each
//! through the real binary: a typo'd image name.

mod common;

use common::run_image;
use common::{TestEnv, TestUser};

#[test]
fn a_missing_image_is_said_first_with_the_closest_local_name_before_the_registry_error() {
    let Some(env) = TestEnv::new("a_missing_image_is_said_first", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let local = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(local.stdout.contains("run/plain"), "{local}");
    // A typo of run/plain, on a registry at 127.0.0.1:1 where nothing
    // listens: the registry's error comes, after the note.
    let out = env.fails(&["run", "--rm", "localhost:1/run/plian", "true"]);
    let first = out.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("no image localhost:1/run/plian here (did you mean ")
            && first.contains("run/plain"),
        "the first line names the missing image and the local one\n{out}"
    );
    assert!(
        out.stderr.lines().skip(1).any(|l| l.starts_with("Error:")),
        "then the registry's error\n{out}"
    );
    // Nothing local comes close: no guess.
    let out = env.fails(&["run", "--rm", "localhost:1/quite/different", "true"]);
    let first = out.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first, "no image localhost:1/quite/different here; pulling it",
        "{out}"
    );
}

#[test]
fn the_single_id_map_warning_is_said_once_per_store() {
    let Some(env) = TestEnv::new("the_single_id_map_warning_once", TestUser::NoSubids) else {
        return;
    };
    let warned = |o: &common::Output| {
        o.warnings()
            .iter()
            .filter(|w| w.contains("single-id map"))
            .count()
    };
    // A pull works in the user namespace (so with the id map) before it
    // asks the registry, here one on 127.0.0.1:1 where nothing listens.
    let pull = || env.fails(&["pull", "localhost:1/some/image"]);
    let first = pull();
    assert_eq!(warned(&first), 1, "the first command says it\n{first}");
    let again = pull();
    assert_eq!(warned(&again), 0, "the next one does not\n{again}");
    // A new store is told again.
    env.ok(&["system", "reset", "--force"]);
    let fresh = pull();
    assert_eq!(warned(&fresh), 1, "a new store is told\n{fresh}");
}
