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
    // Each script asks burrow itself (dynamic completion), so it completes
    // the names of this user's containers, images and volumes too.
    use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};
    let shells: [(&dyn EnvCompleter, &str); 3] = [
        (&Bash, "burrow.bash"),
        (&Zsh, "_burrow"),
        (&Fish, "burrow.fish"),
    ];
    for (shell, file) in shells {
        let mut buf = Vec::new();
        shell.write_registration(
            burrow::cli::complete::VAR,
            "burrow",
            "burrow",
            "burrow",
            &mut buf,
        )?;
        if file == "_burrow" {
            buf = zsh_autoloadable(&String::from_utf8_lossy(&buf)).into_bytes();
        }
        std::fs::write(completions.join(file), buf)?;
    }
    write_man(&cmd, "burrow", &man)?;
    let config = include_str!("../../packaging/config.toml");
    std::fs::write(man.join("burrow-config.5"), config_man_page(config))
}

/// The zsh script as a file zsh can both source and autoload from $fpath
/// (`#compdef burrow`): its function is `_burrow`, which completes at once
/// when autoloaded and registers itself when sourced.
fn zsh_autoloadable(script: &str) -> String {
    let script = script.replace("_clap_dynamic_completer_burrow", "_burrow");
    let register = "compdef _burrow burrow";
    let tail = "if [ \"$funcstack[1]\" = \"_burrow\" ]; then\n    _burrow \"$@\"\nelse\n    compdef _burrow burrow\nfi";
    script.replacen(register, tail, 1)
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
/// Each has clap's NAME, SYNOPSIS, DESCRIPTION and OPTIONS, the longer
/// description and EXAMPLES of packaging/man-sections.txt, EXIT STATUS
/// and SEE ALSO.
fn write_man(cmd: &clap::Command, name: &str, dir: &Path) -> std::io::Result<()> {
    let sections = Sections::parse(include_str!("../../packaging/man-sections.txt"));
    write_man_page(cmd, name, dir, &sections)
}

fn write_man_page(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    sections: &Sections,
) -> std::io::Result<()> {
    let page = cmd.clone().name(name.to_string());
    let man = clap_mangen::Man::new(page.clone());
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    let key = name.strip_prefix("burrow-").unwrap_or(name);
    let entry = sections.find(key);
    if let Some(e) = entry {
        for p in &e.description {
            buf.extend_from_slice(format!(".PP\n{}\n", roff(p)).as_bytes());
        }
    }
    if page.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut buf)?;
    }
    if page
        .get_subcommands()
        .any(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        man.render_subcommands_section(&mut buf)?;
    }
    buf.extend_from_slice(b".SH EXAMPLES\n");
    let examples = entry.map(|e| e.examples.as_slice()).unwrap_or_default();
    if examples.is_empty() {
        let shown = name.replacen('-', " ", 1).replace('-', " ");
        buf.extend_from_slice(
            format!(
                ".TP\n\\fB{}\\fR\nThe options and arguments this command takes.\n",
                roff(&format!("{shown} --help"))
            )
            .as_bytes(),
        );
    }
    for (command, what) in examples {
        buf.extend_from_slice(format!(".TP\n\\fB{}\\fR\n", roff(command)).as_bytes());
        let what = if what.is_empty() {
            "\\&".to_string()
        } else {
            roff(what)
        };
        buf.extend_from_slice(format!("{what}\n").as_bytes());
    }
    let exit = entry.map(|e| e.exit.as_str()).unwrap_or("common");
    let exit_text = sections
        .find(&format!("exit:{exit}"))
        .and_then(|e| e.description.first())
        .map(String::as_str)
        .unwrap_or_default();
    buf.extend_from_slice(format!(".SH \"EXIT STATUS\"\n{}\n", roff(exit_text)).as_bytes());
    let mut see = Vec::new();
    if name != "burrow" {
        see.push("\\fBburrow\\fR(1)".to_string());
    }
    see.push("\\fBburrow\\-doctor\\fR(1)".into());
    see.push("\\fBburrow\\-config\\fR(5)".into());
    see.retain(|s| !s.contains(&format!("{}\\fR", roff(name))));
    buf.extend_from_slice(format!(".SH \"SEE ALSO\"\n{}\n", see.join(", ")).as_bytes());
    man.render_version_section(&mut buf)?;
    std::fs::write(dir.join(format!("{name}.1")), buf)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_man_page(sub, &format!("{name}-{}", sub.get_name()), dir, sections)?;
    }
    Ok(())
}

/// One `[key]` of packaging/man-sections.txt.
#[derive(Default)]
struct Entry {
    key: String,
    description: Vec<String>,
    examples: Vec<(String, String)>,
    exit: String,
}

struct Sections(Vec<Entry>);

impl Sections {
    fn parse(text: &str) -> Sections {
        let mut out: Vec<Entry> = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some(key) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                out.push(Entry {
                    key: key.to_string(),
                    exit: "common".into(),
                    ..Entry::default()
                });
                continue;
            }
            let Some(e) = out.last_mut() else { continue };
            if let Some(cmd) = line.strip_prefix("$ ") {
                e.examples.push((cmd.to_string(), String::new()));
            } else if let Some(what) = line.strip_prefix("  ") {
                if let Some((_, w)) = e.examples.last_mut() {
                    if !w.is_empty() {
                        w.push(' ');
                    }
                    w.push_str(what.trim());
                }
            } else if let Some(exit) = line.strip_prefix("exit: ") {
                e.exit = exit.trim().to_string();
            } else if !line.trim().is_empty() {
                e.description.push(line.trim().to_string());
            }
        }
        Sections(out)
    }

    /// `container-rm`, else `rm`; `image-ls` and `container-ls` are
    /// `images` and `ps`.
    fn find(&self, key: &str) -> Option<&Entry> {
        let alias = match key {
            "image-ls" => "images",
            "container-ls" => "ps",
            "image-rm" => "rmi",
            "image-build" => "build",
            _ => key,
        };
        let short = alias
            .strip_prefix("container-")
            .or_else(|| alias.strip_prefix("image-"))
            .unwrap_or(alias);
        [key, alias, short]
            .iter()
            .find_map(|k| self.0.iter().find(|e| e.key == *k))
    }
}
