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
        let volumes = crate::container::volumes::verbs::disk_use(ctx)?;
        let rows = vec![
            serde_json::json!({
                "Type": "Images", "TotalCount": images, "Active": active,
                "Size": super::format::human_size(size), "Reclaimable": "",
            }),
            serde_json::json!({
                "Type": "Containers", "TotalCount": containers.len(), "Active": running,
                "Size": "", "Reclaimable": "",
            }),
            serde_json::json!({
                "Type": "Local Volumes", "TotalCount": volumes.count, "Active": volumes.active,
                "Size": super::format::human_size(volumes.size),
                "Reclaimable": super::format::human_size(volumes.reclaimable),
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
                super::format::print_table(&table);
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
    /// Remove unused anonymous volumes too.
    #[arg(long)]
    volumes: bool,
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
        if self.volumes {
            let (gone, _) = crate::container::volumes::verbs::prune(ctx, false, &[])?;
            if !gone.is_empty() {
                println!("Deleted Volumes:");
                for name in &gone {
                    println!("{name}");
                }
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

/// Show what happened to containers and images (from the event journal).
#[derive(clap::Args, Debug)]
pub struct Events {
    /// Show events since this time: RFC 3339, Unix seconds, or a Go duration before now (10m).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Stop at this time (same forms); without it, new events are followed.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only events that match: type=, event=, container=, image=, label= (repeatable; one key's values are alternatives).
    #[arg(short, long, value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// Output format: the default lines, json, or a Go template (`{{.Action}} {{.Actor.Attributes.name}}`).
    #[arg(long, default_value = "table", value_parser = super::Format::parse)]
    format: super::Format,
}

impl Events {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        use crate::container::events::{Event, Journal};
        use std::io::Write;
        let now_ns = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        };
        let started = now_ns();
        let since = self
            .since
            .as_deref()
            .map(|t| when(t, started))
            .transpose()?;
        let until = self
            .until
            .as_deref()
            .map(|t| when(t, started))
            .transpose()?;
        let mut filters: Vec<(String, Vec<String>)> = Vec::new();
        for f in &self.filter {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| Error::Usage(format!("invalid --filter {f:?}: KEY=VALUE")))?;
            match filters.iter_mut().find(|(key, _)| key == k) {
                Some((_, vs)) => vs.push(v.to_string()),
                None => filters.push((k.to_string(), vec![v.to_string()])),
            }
        }
        let wanted = |e: &Event| {
            since.is_none_or(|s| e.time_nano >= s)
                && until.is_none_or(|u| e.time_nano <= u)
                && filters
                    .iter()
                    .all(|(k, vs)| vs.iter().any(|v| e.matches(k, v)))
        };
        let show = |e: &Event| -> Result<()> {
            let text = match &self.format {
                super::Format::Json => serde_json::to_string(e).unwrap_or_default() + "\n",
                super::Format::Template(t) => {
                    t.render(&[serde_json::to_value(e).unwrap_or_default()], &[])?
                }
                super::Format::Table => {
                    let attrs: Vec<String> = e
                        .actor
                        .attributes
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    format!(
                        "{} {} {} {} ({})\n",
                        crate::time::rfc3339_nanos(e.time_nano),
                        e.kind,
                        e.action,
                        e.id,
                        attrs.join(", ")
                    )
                }
            };
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            Ok(())
        };
        let journal = Journal::at(&ctx.paths.storage);
        // Past events only when asked for (--since), as docker does.
        let mut offset = journal.end();
        if since.is_some() {
            for e in journal.read_all().iter().filter(|e| wanted(e)) {
                show(e)?;
            }
        }
        loop {
            if until.is_some_and(|u| now_ns() > u) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            let (new, next) = journal.read_from(offset);
            offset = next;
            for e in new.iter().filter(|e| wanted(e)) {
                show(e)?;
            }
        }
    }
}

/// `--since`/`--until`: RFC 3339, Unix seconds (with a fraction), or a Go
/// duration before `now`; nanoseconds since the epoch.
fn when(t: &str, now_ns: u64) -> Result<u64> {
    if let Some(ns) = crate::time::parse_rfc3339_nanos(t) {
        return u64::try_from(ns).map_err(|_| Error::Usage(format!("{t}: before 1970")));
    }
    if let Ok(secs) = t.parse::<f64>() {
        if secs >= 0.0 {
            return Ok((secs * 1e9) as u64);
        }
    }
    if let Some(ago) = crate::time::go_duration(t).and_then(|n| u64::try_from(n).ok()) {
        return Ok(now_ns.saturating_sub(ago));
    }
    Err(Error::Usage(format!(
        "invalid time {t:?}: RFC 3339, Unix seconds or a duration such as 10m"
    )))
}
