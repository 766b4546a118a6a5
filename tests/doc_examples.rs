//! Every shell example in docs/ runs, so none rots: each ```sh block of a
//! page is run by bash (`-e -u -o pipefail`) as the unprivileged test
//! user, with the real burrow first on PATH, in the order the page gives
//! them and in one store per page. The store starts with the busybox test
//! image under the names the pages use (`busybox`, `alpine`), so nothing
//! is pulled. Blocks marked ```sh admin are what an administrator runs
//! (root, and they change the machine): they are checked for syntax only.

mod common;

use common::{run_image, TestEnv, TestUser};
use std::path::Path;

/// The fenced blocks of a Markdown text: (info string, body).
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((info.trim().to_string(), indent, String::new()));
                }
            }
            Some((info, ind, body)) => {
                if trimmed.starts_with("```") {
                    out.push((std::mem::take(info), std::mem::take(body)));
                    open = None;
                } else {
                    body.push_str(line.get(*ind..).unwrap_or(trimmed));
                    body.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    out
}

fn pages() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut pages: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

#[test]
fn fenced_blocks_are_found_with_their_info_string() {
    let blocks = fenced_blocks("a\n```sh\nburrow ps\n```\n  ```sh admin\n  sudo x\n  ```\n");
    assert_eq!(
        blocks,
        [
            ("sh".to_string(), "burrow ps\n".to_string()),
            ("sh admin".to_string(), "sudo x\n".to_string())
        ]
    );
}

#[test]
fn the_docs_cover_the_topics_a_user_asks_about() {
    let names: Vec<String> = pages()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for page in [
        "throwaway.md",
        "shared-servers.md",
        "networking.md",
        "building.md",
        "compose.md",
        "kubernetes.md",
    ] {
        assert!(names.iter().any(|n| n == page), "docs/{page} missing");
    }
}

#[test]
fn every_shell_example_in_docs_runs() {
    let Some(env) = TestEnv::new("every_shell_example_in_docs_runs", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let bin_dir = env.binary().parent().unwrap().to_str().unwrap().to_string();
    let mut ran = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        // A store of the page's own, with the names the pages use.
        env.run(&["system", "reset", "--force"]);
        run_image::load_run_images(&env);
        for alias in ["busybox", "alpine"] {
            env.ok(&["tag", run_image::PLAIN, alias]);
        }
        for (i, (info, body)) in fenced_blocks(&text).into_iter().enumerate() {
            let (program, args): (&str, Vec<&str>) = match info.as_str() {
                "sh" => ("bash", vec!["-euo", "pipefail", "-c", &body]),
                "sh admin" => ("bash", vec!["-n", "-c", &body]),
                "bash" | "console" | "shell" => {
                    panic!("docs/{name} block {i}: use ```sh or ```sh admin")
                }
                _ => continue,
            };
            let mut cmd = env.command_of(Path::new(program), &args);
            cmd.env("PATH", format!("{bin_dir}:/usr/local/bin:/usr/bin:/bin"));
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "docs/{name}, block {i} ({info}) failed ({}):\n{body}\n--- stdout\n{}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
        // What a page left running does not reach the next.
        let ps = env.run(&["ps", "-aq"]);
        for id in ps.stdout.split_whitespace() {
            env.run(&["rm", "-f", id]);
        }
    }
    assert!(ran >= 10, "only {ran} examples ran");
}
