//! `burrow doctor` and `burrow info`: they load the config themselves, so
//! that a broken config or runtime dir is reported rather than fatal.

use super::Format;
use crate::doctor::{self, Facts};
use crate::{Error, Result};

/// Check this host for what rootless containers need; print each fix.
#[derive(clap::Args, Debug)]
pub struct Doctor {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Doctor {
    pub fn exec(self) -> Result<()> {
        let checks = doctor::evaluate(&Facts::gather());
        match self.format {
            Format::Json => println!("{}", json(&serde_json::json!({ "checks": checks }))?),
            Format::Table => print!("{}", doctor::render::table(&checks)),
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
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Info {
    pub fn exec(self) -> Result<()> {
        let facts = serde_json::to_value(Facts::gather())
            .map_err(|e| Error::Reported(format!("cannot render the facts: {e}")))?;
        match self.format {
            Format::Json => println!("{}", json(&facts)?),
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
