//! Generates shell completions and man pages from burrow's clap
//! definitions, and burrow-config(5) from the commented default config
//! `packaging/config.toml`: `burrow-gen DIR` writes DIR/completions and
//! DIR/man. The checked-in copies are kept current by a test that runs this.

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
    write_man(&cmd, "burrow", &man)?;
    let config = include_str!("../../packaging/config.toml");
    std::fs::write(man.join("burrow-config.5"), config_man_page(config))
}

/// burrow-config(5) from the default config: its opening comment is the
/// description, each `[table]` a section, and each `# key = value` line,
/// with the comment above it, an entry giving the default.
fn config_man_page(text: &str) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut out = format!(
        ".TH burrow-config 5 \"\" \"burrow {version}\" \"File Formats\"\n\
         .SH NAME\n\
         burrow\\-config \\- the configuration file of burrow, config.toml\n\
         .SH SYNOPSIS\n\
         \\fI$XDG_CONFIG_HOME/burrow/config.toml\\fR, or the file \\fI$BURROW_CONFIG\\fR names\n\
         .SH DESCRIPTION\n"
    );
    let mut comment: Vec<&str> = Vec::new();
    let mut in_header = true;
    for line in text
        .lines()
        .skip_while(|l| l.starts_with("# burrow configuration"))
    {
        let line = line.trim_end();
        if let Some(table) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if in_header {
                out.push_str(&paragraphs(&comment, false));
                out.push_str(".SH KEYS\n");
                in_header = false;
            }
            comment.clear();
            out.push_str(&format!(".SS \"[{}]\"\n", roff(table)));
        } else if let Some((key, value)) = line
            .strip_prefix("# ")
            .and_then(|l| l.split_once(" = "))
            .filter(|(k, _)| {
                !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
        {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR (default: \\fB{}\\fR)\n",
                roff(key),
                roff(value)
            ));
            out.push_str(&paragraphs(&comment, true));
            comment.clear();
        } else if let Some(c) = line.strip_prefix('#') {
            comment.push(c.strip_prefix(' ').unwrap_or(c));
        } else if line.is_empty() && !in_header {
            comment.clear();
        }
    }
    out.push_str(
        ".SH FILES\n\
         .TP\n\
         \\fI/usr/share/burrow/config.toml\\fR\n\
         This documented default file, every key commented out.\n\
         .SH SEE ALSO\n\
         \\fBburrow\\fR(1), \\fBburrow\\-doctor\\fR(1)\n",
    );
    out
}

/// Comment lines as roff: blank lines part paragraphs, indented lines are
/// examples kept as written. `inside` continues an indented (.TP) entry.
fn paragraphs(lines: &[&str], inside: bool) -> String {
    let mut out = String::new();
    let mut first = true;
    let mut i = 0;
    let start = |out: &mut String, first: &mut bool| {
        if !*first {
            out.push_str(if inside { ".IP\n" } else { ".PP\n" });
        }
        *first = false;
    };
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        if lines[i].starts_with("  ") {
            start(&mut out, &mut first);
            let end = (i..lines.len())
                .find(|&j| !lines[j].starts_with("  "))
                .unwrap_or(lines.len());
            let block = &lines[i..end];
            let indent = block
                .iter()
                .map(|l| l.len() - l.trim_start().len())
                .min()
                .unwrap_or(0);
            out.push_str(".nf\n");
            for l in block {
                out.push_str(&roff(&l[indent..]));
                out.push('\n');
            }
            out.push_str(".fi\n");
            i = end;
        } else {
            start(&mut out, &mut first);
            while i < lines.len() && !lines[i].trim().is_empty() && !lines[i].starts_with("  ") {
                out.push_str(&roff(lines[i]));
                out.push('\n');
                i += 1;
            }
        }
    }
    out
}

/// Text as roff source: backslashes and minus signs escaped, a leading
/// dot or quote defused, `code` in bold.
fn roff(text: &str) -> String {
    let mut out = String::new();
    let mut bold = false;
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '`' => {
                out.push_str(if bold { "\\fR" } else { "\\fB" });
                bold = !bold;
            }
            _ => out.push(c),
        }
    }
    if bold {
        out.push_str("\\fR");
    }
    if out.starts_with(['.', '\'']) {
        out.insert_str(0, "\\&");
    }
    out
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
