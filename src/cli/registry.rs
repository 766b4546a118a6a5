//! Registry commands: pull, push, login, logout.

use crate::container::images::{self, Context};
use crate::image::archive::LoadReport;
use crate::image::registry::{Platform, ProgressMode, PullOptions, PushOptions};
use crate::{Error, Result};
use std::io::{BufRead, Write};

/// `--tls-verify[=BOOL]`: false skips certificate checks and allows plain
/// HTTP for the registries of this command.
#[derive(clap::Args, Debug)]
pub struct TlsVerify {
    /// Check the registry's TLS certificate (--tls-verify=false also allows plain HTTP).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tls_verify: Option<bool>,
}

/// `search`: repositories of a registry with a catalog.
#[derive(clap::Args, Debug)]
pub struct Search {
    /// Show at most this many results.
    #[arg(long, default_value_t = 25)]
    limit: usize,
    /// Do not cut descriptions.
    #[arg(long)]
    no_trunc: bool,
    /// Output format: table, json, or a Go template (`{{.Name}}`, `{{.Description}}`, `{{.StarCount}}`, `{{.IsOfficial}}`).
    #[arg(long, default_value = "table", value_parser = super::Format::parse)]
    format: super::Format,
    #[command(flatten)]
    tls: TlsVerify,
    /// TERM, or REGISTRY/TERM to search that registry (else each of registries.search).
    term: String,
}

/// `search`'s fields, as docker names them, and their column titles.
const SEARCH_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
];

impl Search {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let found = images::search(ctx, &self.term, self.limit, self.tls.tls_verify)?;
        // A catalog has no descriptions, stars or official marks. Strings,
        // as docker's search fields are: an official mark is `[OK]` in a
        // template and `true` in json, and nothing or `false` without one.
        let official = if self.format == super::Format::Json {
            "false"
        } else {
            ""
        };
        let items: Vec<serde_json::Value> = found
            .iter()
            .map(|f| {
                serde_json::json!({
                    "Name": f.name,
                    "Description": "",
                    "StarCount": "0",
                    "IsOfficial": official,
                })
            })
            .collect();
        let _ = self.no_trunc;
        match &self.format {
            super::Format::Json => {
                super::format::print_json_lines(&items);
                Ok(())
            }
            super::Format::Template(t) => t.print(&items, SEARCH_HEADERS),
            super::Format::Table => {
                let mut rows = vec![vec!["NAME".to_string(), "DESCRIPTION".to_string()]];
                rows.extend(found.iter().map(|f| vec![f.name.clone(), String::new()]));
                super::format::print_table(&rows);
                Ok(())
            }
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Pull {
    /// Print no progress (the image id is still printed).
    #[arg(short, long)]
    quiet: bool,
    /// Pull the image for this platform instead of this machine's: OS/ARCH[/VARIANT].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    #[command(flatten)]
    tls: TlsVerify,
    /// NAME[:TAG|@DIGEST]; a short name is looked up in registries.aliases, then each of registries.search.
    image: String,
}

impl Pull {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let platform = self
            .platform
            .as_deref()
            .map(Platform::parse)
            .transpose()
            .map_err(|e| Error::Usage(e.to_string()))?;
        let opts = PullOptions {
            platform,
            progress: ProgressMode::detect(self.quiet),
        };
        let report = images::pull(ctx, &self.image, &opts, self.tls.tls_verify)?;
        if !self.quiet {
            images::print_notes(
                ctx,
                &LoadReport {
                    images: vec![],
                    notes: report.notes.clone(),
                    squashed: report.squashed,
                },
            );
        }
        println!("{}", report.id.hex());
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Push {
    /// Print no progress.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    tls: TlsVerify,
    /// The image to push (a name or an id).
    image: String,
    /// Where to: REGISTRY/REPOSITORY[:TAG] (default: the image's name).
    destination: Option<String>,
}

impl Push {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let opts = PushOptions {
            progress: ProgressMode::detect(self.quiet),
        };
        let report = images::push(
            ctx,
            &self.image,
            self.destination.as_deref(),
            &opts,
            self.tls.tls_verify,
        )?;
        if !self.quiet {
            eprintln!("Pushed {} ({})", report.reference, report.manifest_digest);
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Login {
    /// User name (asked for when not given).
    #[arg(short, long)]
    username: Option<String>,
    /// Password (visible to other users in the process list; prefer --password-stdin).
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    tls: TlsVerify,
    /// The registry: host[:port].
    registry: String,
}

impl Login {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let username = match self.username {
            Some(u) => u,
            None => prompt("Username: ", true)?,
        };
        let password = if self.password_stdin {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                Error::Usage(format!("reading the password from standard input: {e}"))
            })?;
            line.trim_end_matches(['\n', '\r']).to_string()
        } else if let Some(p) = self.password {
            eprintln!("Warning: a password given with -p can be seen by other users; prefer --password-stdin");
            p
        } else {
            prompt("Password: ", false)?
        };
        if username.is_empty() || password.is_empty() {
            return Err(Error::Usage(
                "login needs a user name and a password".into(),
            ));
        }
        images::login(
            ctx,
            &self.registry,
            &username,
            &password,
            self.tls.tls_verify,
        )?;
        println!("Login Succeeded!");
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Logout {
    /// The registry: host[:port].
    registry: String,
}

impl Logout {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        images::logout(ctx, &self.registry)?;
        println!("Removed login credentials for {}", self.registry);
        Ok(())
    }
}

/// Asks on the terminal (not stdin, which may be a pipe); with `echo`
/// false the answer is not shown.
fn prompt(question: &str, echo: bool) -> Result<String> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    let no_tty = |e: std::io::Error| {
        Error::Usage(format!(
            "no terminal to ask for the {} ({e}); give -u and --password-stdin",
            question.trim_end_matches([':', ' ']).to_lowercase()
        ))
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(no_tty)?;
    let saved = if echo {
        None
    } else {
        let saved = termios::tcgetattr(&tty).map_err(|e| no_tty(e.into()))?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        termios::tcsetattr(&tty, SetArg::TCSANOW, &quiet).map_err(|e| no_tty(e.into()))?;
        Some(saved)
    };
    let mut w = &tty;
    let _ = w.write_all(question.as_bytes());
    let _ = w.flush();
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    if let Some(saved) = saved {
        let _ = termios::tcsetattr(&tty, SetArg::TCSANOW, &saved);
        let _ = w.write_all(b"\n");
    }
    read.map_err(no_tty)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
