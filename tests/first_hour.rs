//! The small things a new user meets in the first hour (issue 18), each
//! through the real binary: a typo'd image name, the single-id map's
//! warning, completion of names in each shell.

mod common;

use common::run_image;
use common::{TestEnv, TestUser};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

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
    // It suggests a range no user in /etc/subuid or /etc/subgid has (the
    // test users' files list burrow-test at 200000:65536).
    let warning = first
        .warnings()
        .into_iter()
        .find(|w| w.contains("single-id map"))
        .unwrap_or_default();
    let range = warning
        .split("--add-subuids ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no range suggested\n{first}"));
    let (lo, hi) = range.split_once('-').expect("FIRST-LAST");
    let (lo, hi): (u64, u64) = (lo.parse().unwrap(), hi.parse().unwrap());
    assert_eq!(hi - lo + 1, 65536, "{warning}");
    for file in ["/etc/subuid", "/etc/subgid"] {
        for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
            let f: Vec<&str> = line.split(':').collect();
            let (Some(Ok(start)), Some(Ok(count))) = (
                f.get(1).map(|v| v.parse::<u64>()),
                f.get(2).map(|v| v.parse::<u64>()),
            ) else {
                continue;
            };
            assert!(
                hi < start || lo >= start + count,
                "{range} overlaps {file}'s {line}\n{warning}"
            );
        }
    }
    let again = pull();
    assert_eq!(warned(&again), 0, "the next one does not\n{again}");
    // A new store is told again.
    env.ok(&["system", "reset", "--force"]);
    let fresh = pull();
    assert_eq!(warned(&fresh), 1, "a new store is told\n{fresh}");
}

/// The shell's completions of `burrow start bo<TAB>`-style lines, through
/// each shell's completion script as shipped (which asks the real binary,
/// found on PATH as `burrow`). None, after a SKIP line, where the shell is
/// not installed.
fn shell_completes(env: &TestEnv, shell: &str, line: &str) -> Option<Vec<String>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    if Command::new(shell).arg("-c").arg("true").output().is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP completion through {shell}: {shell} is not installed (.ci/packages.txt lists it)"
        );
        return None;
    }
    // The script, where the test user can read it.
    let file = match shell {
        "bash" => "burrow.bash",
        "zsh" => "_burrow",
        _ => "burrow.fish",
    };
    let script = env.fixture(
        file,
        &std::fs::read(repo.join("completions").join(file)).unwrap(),
    );
    let bin_dir = env.binary().parent().unwrap().to_str().unwrap().to_string();
    let words: Vec<&str> = line.split(' ').collect();
    let current = words.last().copied().unwrap_or_default();
    let program = match shell {
        "bash" => format!(
            "source {script}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             COMP_LINE='{line}'; COMP_POINT={point}; COMP_TYPE=9; \
             _clap_complete_burrow burrow '{current}' '{prev}'; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script = script.display(),
            words = words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            cword = words.len() - 1,
            point = line.len(),
            prev = words[words.len() - 2],
        ),
        // zsh completes only in its line editor: an interactive zsh in a
        // pseudo-terminal (zpty) types the line and TAB, then a widget
        // prints the edited line.
        "zsh" => format!(
            "zmodload zsh/zpty || exit 3; \
             zpty z zsh -f -i; \
             zpty -w z 'fpath=({dir} $fpath); autoload -U compinit; compinit -u -D; \
                 show() {{ print -r -- \"<<$BUFFER>>\" }}; zle -N show; bindkey \"^T\" show; PS1=\"\"'; \
             zpty -w -n z $'{line}\\t\\x14'; \
             zpty -r z out '*<<burrow*>>*' || exit 4; \
             print -r -- \"${{${{out##*<<}}%%>>*}}\"; zpty -d z",
            dir = script.parent().unwrap().display(),
        ),
        _ => format!(
            "source {script}; complete --do-complete '{line}'",
            script = script.display()
        ),
    };
    let mut cmd = env.command_of(Path::new(shell), &["-c", &program]);
    cmd.env("PATH", format!("{bin_dir}:/usr/local/bin:/usr/bin:/bin"))
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shell}: {program}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

#[test]
fn each_shell_completes_container_image_and_volume_names_from_the_store() {
    let Some(env) = TestEnv::new("each_shell_completes_names", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    env.ok(&["create", "--name", "box1", run_image::PLAIN, "true"]);
    env.ok(&["volume", "create", "vol1"]);
    for shell in ["bash", "zsh", "fish"] {
        // zsh edits the line in place: a unique candidate is completed.
        let Some(got) = shell_completes(&env, shell, "burrow start bo") else {
            continue;
        };
        let want = if shell == "zsh" {
            "burrow start box1"
        } else {
            "box1"
        };
        assert!(got.iter().any(|c| c == want), "{shell}: start bo: {got:?}");
        let Some(got) = shell_completes(&env, shell, "burrow rmi run/pl") else {
            continue;
        };
        let want = if shell == "zsh" {
            "burrow rmi run/plain:latest"
        } else {
            "run/plain:latest"
        };
        assert!(
            got.iter().any(|c| c == want),
            "{shell}: rmi run/pl: {got:?}"
        );
        let Some(got) = shell_completes(&env, shell, "burrow volume rm vo") else {
            continue;
        };
        let want = if shell == "zsh" {
            "burrow volume rm vol1"
        } else {
            "vol1"
        };
        assert!(
            got.iter().any(|c| c == want),
            "{shell}: volume rm vo: {got:?}"
        );
        // A container's name is not offered where an image is wanted.
        let Some(got) = shell_completes(&env, shell, "burrow run bo") else {
            continue;
        };
        assert!(
            !got.iter().any(|c| c.contains("box1")),
            "{shell}: run bo: {got:?}"
        );
    }
}
