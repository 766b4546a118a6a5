//! The completions and man pages in the repository are the ones the clap
//! definitions produce: a CLI change without regenerating them fails here.
//! Regenerate with `cargo run --bin burrow-gen -- .`.

use std::path::Path;
use std::process::Command;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn completions_and_man_pages_are_current() {
    let tmp = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_burrow-gen"))
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(status.success());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["completions", "man"] {
        let want = files(&tmp.path().join(sub));
        let have = files(&repo.join(sub));
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&have),
            names(&want),
            "{sub}/ differs in its files; run `cargo run --bin burrow-gen -- .`"
        );
        for ((name, a), (_, b)) in have.iter().zip(&want) {
            assert!(
                a == b,
                "{sub}/{name} is stale; run `cargo run --bin burrow-gen -- .`"
            );
        }
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a program, or says SKIP (visibly) and gives `None` when it is not
/// installed; .ci/packages.txt installs every one these tests use.
fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Option<std::process::Output> {
    match Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo())
        .output()
    {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIP {program} is not installed");
            None
        }
        Err(e) => panic!("{program}: {e}"),
    }
}

/// PATH with the built burrow first: the completion scripts ask it.
fn path_with_burrow() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_burrow"));
    format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_man_page_renders_without_warnings() {
    let pages = files(&repo().join("man"));
    assert!(pages.iter().any(|(n, _)| n == "burrow-config.5"));
    assert!(pages.iter().any(|(n, _)| n == "burrow-doctor.1"));
    for (name, _) in &pages {
        let path = format!("man/{name}");
        if let Some(out) = run(
            "man",
            &["--warnings", "-l", &path],
            &[("MANWIDTH", "80"), ("MANPAGER", "cat"), ("PAGER", "cat")],
        ) {
            assert!(out.status.success(), "man -l {path}: {}", text(&out.stderr));
            assert_eq!(text(&out.stderr), "", "man --warnings -l {path} warns");
            assert!(!out.stdout.is_empty(), "{path} renders to nothing");
            if name.ends_with(".1") {
                let page = text(&out.stdout);
                for section in ["DESCRIPTION", "EXAMPLES", "EXIT STATUS", "SEE ALSO"] {
                    assert!(
                        page.lines().any(|l| l == section),
                        "{path} has no {section} section:\n{page}"
                    );
                }
            }
        }
        if let Some(out) = run("groff", &["-ww", "-man", "-z", &path], &[]) {
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "groff -ww {path}: {}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn config_man_page_documents_every_key_with_its_default() {
    let Some(out) = run(
        "man",
        &["-l", "man/burrow-config.5"],
        &[("MANWIDTH", "200"), ("MANPAGER", "cat"), ("PAGER", "cat")],
    ) else {
        return;
    };
    let page = text(&out.stdout);
    for table in ["[storage]", "[registries]", "[logs]", "[network]"] {
        assert!(page.contains(table), "{table} missing:\n{page}");
    }
    for (key, default) in [
        ("root", "\"~/.local/share/burrow/storage\""),
        ("allow_network_fs", "false"),
        ("search", "[\"docker.io\"]"),
        ("insecure", "[]"),
        ("aliases", "{}"),
        ("max_size", "\"10m\""),
        ("host_loopback", "true"),
    ] {
        assert!(
            page.contains(&format!("{key} (default: {default})")),
            "{key} missing:\n{page}"
        );
    }
}

#[test]
fn bash_loads_the_completions_and_completes_commands() {
    let Some(out) = run(
        "bash",
        &[
            "-c",
            "set -e; source completions/burrow.bash; complete -p burrow; \
             COMP_WORDS=(burrow doc); COMP_CWORD=1; COMP_LINE='burrow doc'; COMP_POINT=10; \
             _clap_complete_burrow burrow doc burrow; echo \"${COMPREPLY[*]}\"",
        ],
        &[("PATH", &path_with_burrow())],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("-F _clap_complete_burrow burrow"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("doctor"), "{stdout}");
}

#[test]
fn zsh_loads_the_completions_with_compinit() {
    // Sourced after compinit, the file registers itself with compdef.
    let Some(out) = run(
        "zsh",
        &[
            "-fc",
            "autoload -U compinit && compinit -u -D && source completions/_burrow \
             && print -r -- $_comps[burrow]",
        ],
        &[],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout).trim(), "_burrow");
    // And found through fpath, as an installed package provides it.
    let Some(out) = run(
        "zsh",
        &[
            "-fc",
            "fpath=(completions $fpath); autoload -U compinit && compinit -u -D \
             && print -r -- $_comps[burrow]",
        ],
        &[],
    ) else {
        return;
    };
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout).trim(), "_burrow");
}

#[test]
fn fish_loads_the_completions_and_completes_commands() {
    let Some(out) = run(
        "fish",
        &[
            "--no-config",
            "-c",
            "source completions/burrow.fish; complete --do-complete 'burrow doc'",
        ],
        &[("PATH", &path_with_burrow())],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert!(
        text(&out.stdout).starts_with("doctor"),
        "{}",
        text(&out.stdout)
    );
}
