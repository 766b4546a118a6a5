//! `burrow doctor` and `burrow info`: they load the config themselves, so
//! that a broken config or runtime dir is reported rather than fatal.

use super::Format;
use crate::doctor::{self, Facts};
use crate::{Error, Result};

/// Check this host for what rootless containers need; print each fix.
#[derive(clap::Args, Debug)]
pub struct Doctor {
    /// Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\t{{.Status}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
}

impl Doctor {
    pub fn exec(self) -> Result<()> {
        let checks = doctor::evaluate(&Facts::gather());
        match self.format {
            Format::Json => println!("{}", json(&serde_json::json!({ "checks": checks }))?),
            Format::Table => print!("{}", doctor::render::table(&checks)),
            Format::Template(t) => {
                let items: Vec<_> = checks
                    .iter()
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .collect();
                t.print(&items, &[])?
            }
        }
        let failed = doctor::failures(&checks);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Reported(format!(
                "{} check{} failed: {}",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                failed.join(", ")
            )))
        }
    }
}

/// Show what burrow found on this host: kernel, namespaces, id ranges,
/// storage, cgroups.
#[derive(clap::Args, Debug)]
pub struct Info {
    /// Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\t{{.Status}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
}

impl Info {
    pub fn exec(self) -> Result<()> {
        let facts = serde_json::to_value(Facts::gather())
            .map_err(|e| Error::Reported(format!("cannot render the facts: {e}")))?;
        match self.format {
            Format::Json => println!("{}", json(&facts)?),
            Format::Template(t) => t.print(std::slice::from_ref(&facts), &[])?,
            Format::Table => {
                let mut out = String::new();
                doctor::render::outline(&facts, 0, &mut out);
                print!("{out}");
            }
        }
        Ok(())
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Reported(format!("cannot write JSON: {e}")))
}

/// Show burrow's version.
#[derive(clap::Args, Debug)]
pub struct Version {
    /// Output format: table, json, or a Go template (`{{.Client.Version}}`).
    #[arg(short, long, default_value = "table", value_parser = Format::parse)]
    format: Format,
}

impl Version {
    pub fn exec(self) -> Result<()> {
        // burrow has no daemon: the engine a script asks about as the
        // "Server" is this same binary.
        let side = serde_json::json!({
            "Version": env!("CARGO_PKG_VERSION"),
            "Os": std::env::consts::OS,
            "Arch": go_arch(),
        });
        let v = serde_json::json!({ "Client": side, "Server": side });
        match self.format {
            Format::Json => println!("{}", json(&v)?),
            Format::Template(t) => t.print(std::slice::from_ref(&v), &[])?,
            Format::Table => {
                for (title, what) in [
                    ("Client", "burrow"),
                    ("Server", "burrow (no daemon: this binary)"),
                ] {
                    println!("{title}: {what}");
                    println!(" Version:  {}", env!("CARGO_PKG_VERSION"));
                    println!(" OS/Arch:  {}/{}", std::env::consts::OS, go_arch());
                }
            }
        }
        Ok(())
    }
}

/// The machine as image platforms name it (`amd64`, `arm64`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
