//! Generates shell completions and man pages from burrow's clap
//! definitions: `burrow-gen DIR` writes DIR/completions and DIR/man. The
//! checked-in copies are kept current by a test that runs this.

use burrow::cli::Cli;
use clap::CommandFactory;
use std::path::{Path, PathBuf};

fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    if let Err(e) = generate(&out) {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
}

fn generate(out: &Path) -> std::io::Result<()> {
    let completions = out.join("completions");
    let man = out.join("man");
    std::fs::create_dir_all(&completions)?;
    std::fs::create_dir_all(&man)?;
    let mut cmd = Cli::command();
    cmd.build();
    for (shell, file) in [
        (clap_complete::Shell::Bash, "burrow.bash"),
        (clap_complete::Shell::Zsh, "_burrow"),
        (clap_complete::Shell::Fish, "burrow.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "burrow", &mut buf);
        std::fs::write(completions.join(file), buf)?;
    }
    write_man(&cmd, "burrow", &man)
}

/// burrow(1), then one page per command and subcommand: burrow-image-ls(1).
fn write_man(cmd: &clap::Command, name: &str, dir: &Path) -> std::io::Result<()> {
    let page = cmd.clone().name(name.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page).render(&mut buf)?;
    std::fs::write(dir.join(format!("{name}.1")), buf)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_man(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
