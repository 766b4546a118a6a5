//! `burrow system ...`: storage-wide commands.

use crate::container::images::{self, Context};
use crate::{Error, Result};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Remove all images, layers and containers of this user.
    Reset(Reset),
    /// Show how much disk images and containers use.
    Df(Df),
    /// Remove stopped containers and images without a name (with -a, every unused image).
    Prune(Prune),
}

impl SystemCommand {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        match self {
            SystemCommand::Reset(c) => c.exec(ctx),
            SystemCommand::Df(c) => c.exec(ctx),
            SystemCommand::Prune(c) => c.exec(ctx),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Df {
    /// Output format: table, json, or a Go template (`{{.Type}} {{.Size}}`).
    #[arg(long, default_value = "table", value_parser = super::Format::parse)]
    format: super::Format,
}

impl Df {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let (images, active, size) = images::disk_use(ctx)?;
        let containers = crate::container::list(ctx, true)?;
        let running = containers
            .iter()
            .filter(|(_, s)| s.status == crate::container::record::Status::Running)
            .count();
        let rows = vec![
            serde_json::json!({
                "Type": "Images", "TotalCount": images, "Active": active,
                "Size": super::image::human_size(size), "Reclaimable": "",
            }),
            serde_json::json!({
                "Type": "Containers", "TotalCount": containers.len(), "Active": running,
                "Size": "", "Reclaimable": "",
            }),
        ];
        const HEADERS: &[(&str, &str)] = &[
            ("Type", "TYPE"),
            ("TotalCount", "TOTAL"),
            ("Active", "ACTIVE"),
            ("Size", "SIZE"),
            ("Reclaimable", "RECLAIMABLE"),
        ];
        match &self.format {
            super::Format::Template(t) => t.print(&rows, HEADERS),
            super::Format::Json => {
                for r in &rows {
                    println!("{r}");
                }
                Ok(())
            }
            super::Format::Table => {
                let mut table = vec![HEADERS.iter().map(|(_, h)| h.to_string()).collect()];
                for r in &rows {
                    table.push(
                        HEADERS
                            .iter()
                            .map(|(k, _)| match &r[k] {
                                serde_json::Value::String(s) => s.clone(),
                                v => v.to_string(),
                            })
                            .collect(),
                    );
                }
                super::image::print_table(&table);
                Ok(())
            }
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Prune {
    /// Remove every image no container uses, not only those without a name.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation (burrow never asks; kept for scripts
    /// written for docker).
    #[arg(short, long)]
    force: bool,
}

impl Prune {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let _ = self.force;
        let containers = crate::container::prune(ctx)?;
        if !containers.is_empty() {
            println!("Deleted Containers:");
            for id in &containers {
                println!("{id}");
            }
        }
        let images = images::prune(ctx, self.all)?;
        if !images.is_empty() {
            println!("Deleted Images:");
            for id in &images {
                println!("deleted: {id}");
            }
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Reset {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

impl Reset {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        if !self.force {
            return Err(Error::Usage(format!(
                "this removes everything under {}; run `burrow system reset --force` to confirm",
                ctx.paths.storage.display()
            )));
        }
        crate::container::lifecycle::stop_all(ctx)?;
        crate::sandbox::holder::stop(&ctx.paths.runtime.join("userns"));
        images::reset(ctx)
    }
}
