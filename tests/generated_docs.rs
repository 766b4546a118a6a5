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
