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
    /// Unpack again, under your current id map, the layers unpacked under another (e.g. before you had subordinate ids).
    Migrate(Migrate),
}

impl SystemCommand {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        match self {
            SystemCommand::Reset(c) => c.exec(ctx),
            SystemCommand::Df(c) => c.exec(ctx),
            SystemCommand::Prune(c) => c.exec(ctx),
            SystemCommand::Migrate(c) => c.exec(ctx),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Migrate {}

impl Migrate {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let r = images::migrate(ctx)?;
        if r.layers == 0 && r.left.is_empty() {
            println!(
                "Nothing to migrate: every layer is unpacked under {}",
                r.map
            );
            return Ok(());
        }
        if r.layers > 0 {
            println!(
                "Unpacked {} layer{} again under {} (images: {})",
                r.layers,
                if r.layers == 1 { "" } else { "s" },
                r.map,
                r.images.join(", ")
            );
        }
        for why in &r.left {
            eprintln!("Not migrated: {why}");
        }
        if r.left.is_empty() {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "{} layer{} left as {} (see above)",
            r.left.len(),
            if r.left.len() == 1 { "" } else { "s" },
            if r.left.len() == 1 {
                "it was"
            } else {
                "they were"
            }
        )))
    }
}

#[derive(clap::Args, Debug)]
pub struct Df {
    /// Output format: table, json, or a Go template (`{{.Type}} {{.Size}}`).
    #[arg(long, default_value = "table", value_parser = super::Format::parse)]
    format: super::Format,
    /// Each image, container and volume with its space, and the build cache.
    #[arg(short, long)]
    verbose: bool,
}

const DF_HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

/// `reclaimable` of `size` as docker words it: `1.2MB (40%)`.
fn reclaimable(part: u64, size: u64) -> String {
    let human = super::format::human_size(part);
    match (part * 100).checked_div(size) {
        Some(pct) => format!("{human} ({pct}%)"),
        None => human,
    }
}

impl Df {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        if self.verbose {
            if self.format != super::Format::Table {
                return Err(Error::Usage(
                    "system df -v prints its tables; --format is for the summary".into(),
                ));
            }
            return verbose(ctx);
        }
        let images = images::disk_use(ctx)?;
        let containers = crate::container::list(ctx, true)?;
        let running = |s: &crate::container::record::State| {
            s.status == crate::container::record::Status::Running
        };
        let records: Vec<_> = containers.iter().map(|(r, _)| r).collect();
        let sizes = crate::container::writable_sizes(ctx, &records)?;
        let (mut ctr_size, mut ctr_free) = (0, 0);
        for ((_, s), size) in containers.iter().zip(sizes) {
            ctr_size += size;
            if !running(s) {
                ctr_free += size;
            }
        }
        let volumes = crate::container::volumes::verbs::disk_use(ctx)?;
        let cache = crate::build::prune::usage(ctx)?;
        let human = super::format::human_size;
        let rows = vec![
            serde_json::json!({
                "Type": "Images", "TotalCount": images.count, "Active": images.active,
                "Size": human(images.size),
                "Reclaimable": reclaimable(images.reclaimable, images.size),
            }),
            serde_json::json!({
                "Type": "Containers", "TotalCount": containers.len(),
                "Active": containers.iter().filter(|(_, s)| running(s)).count(),
                "Size": human(ctr_size), "Reclaimable": reclaimable(ctr_free, ctr_size),
            }),
            serde_json::json!({
                "Type": "Local Volumes", "TotalCount": volumes.count, "Active": volumes.active,
                "Size": human(volumes.size),
                "Reclaimable": reclaimable(volumes.reclaimable, volumes.size),
            }),
            serde_json::json!({
                "Type": "Build Cache", "TotalCount": cache.images, "Active": 0,
                "Size": human(cache.bytes), "Reclaimable": human(cache.bytes),
            }),
        ];
        match &self.format {
            super::Format::Template(t) => t.print(&rows, DF_HEADERS),
            super::Format::Json => {
                for r in &rows {
                    println!("{r}");
                }
                Ok(())
            }
            super::Format::Table => {
                print_rows(DF_HEADERS, &rows);
                Ok(())
            }
        }
    }
}

/// A table of `rows` under `headers` (field, title).
fn print_rows(headers: &[(&str, &str)], rows: &[serde_json::Value]) {
    let mut table = vec![headers.iter().map(|(_, h)| h.to_string()).collect()];
    for r in rows {
        table.push(
            headers
                .iter()
                .map(|(k, _)| match &r[k] {
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect(),
        );
    }
    super::format::print_table(&table);
}

/// `system df -v`: docker's four sections.
fn verbose(ctx: &Context) -> Result<()> {
    let human = super::format::human_size;
    let usage = images::image_use(ctx)?;
    let store = ctx.store()?;
    let mut rows = Vec::new();
    for e in images::list(ctx)? {
        let u = usage.get(&e.record.id).copied().unwrap_or_default();
        let created = store
            .config(&e.record.id)
            .ok()
            .and_then(|(c, _)| c.created)
            .unwrap_or_default();
        let names = if e.names.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            e.names.clone()
        };
        for n in names {
            let (repo, tag) = match n.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (n.clone(), "<none>".into()),
            };
            rows.push(serde_json::json!({
                "Repository": repo, "Tag": tag, "ID": e.record.id.short().to_string(),
                "CreatedSince": crate::time::ago(&created, crate::image::store::now()),
                "Size": human(e.record.size), "SharedSize": human(u.shared),
                "UniqueSize": human(u.unique), "Containers": u.containers,
            }));
        }
    }
    println!("Images space usage:\n");
    print_rows(
        &[
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("Size", "SIZE"),
            ("SharedSize", "SHARED SIZE"),
            ("UniqueSize", "UNIQUE SIZE"),
            ("Containers", "CONTAINERS"),
        ],
        &rows,
    );

    let mut rows = Vec::new();
    let containers = crate::container::list(ctx, true)?;
    let records: Vec<_> = containers.iter().map(|(r, _)| r).collect();
    let sizes = crate::container::writable_sizes(ctx, &records)?;
    for ((r, s), size) in containers.iter().zip(sizes) {
        let volumes = r
            .config
            .mounts
            .iter()
            .filter(|m| matches!(m, crate::container::spec::UserMount::Volume { .. }))
            .count();
        rows.push(serde_json::json!({
            "ID": &r.id[..12], "Image": r.image,
            "Command": format!("\"{}\"", crate::container::command_line(r)),
            "LocalVolumes": volumes,
            "Size": human(size),
            "RunningFor": crate::time::ago(&r.created, crate::image::store::now()),
            "Status": crate::container::status_text(s), "Names": r.name,
        }));
    }
    println!("\nContainers space usage:\n");
    print_rows(
        &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("LocalVolumes", "LOCAL VOLUMES"),
            ("Size", "SIZE"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Names", "NAMES"),
        ],
        &rows,
    );

    let volumes = crate::container::volumes::verbs::list(ctx, &[])?;
    let users = crate::container::volumes::verbs::users(ctx)?;
    let sizes = crate::container::tree_sizes(
        ctx,
        volumes.iter().map(|(v, _)| v.mountpoint.clone()).collect(),
    )?;
    let rows: Vec<_> = volumes
        .iter()
        .zip(sizes)
        .map(|((v, _), size)| {
            serde_json::json!({
                "Name": v.name,
                "Links": users.get(&v.name).map_or(0, Vec::len),
                "Size": human(size),
            })
        })
        .collect();
    println!("\nLocal Volumes space usage:\n");
    print_rows(
        &[
            ("Name", "VOLUME NAME"),
            ("Links", "LINKS"),
            ("Size", "SIZE"),
        ],
        &rows,
    );
    let cache = crate::build::prune::usage(ctx)?;
    println!("\nBuild cache usage: {}", human(cache.bytes));
    Ok(())
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
    /// Only what matches: until=TIME (RFC 3339, Unix seconds or a duration
    /// such as 24h; not for volumes), label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long, value_name = "FILTER", value_parser = super::values::prune_filter)]
    filter: Vec<crate::container::filter::PruneFilter>,
}

impl Prune {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let _ = self.force;
        let containers = crate::container::prune(ctx, &self.filter)?;
        if !containers.is_empty() {
            println!("Deleted Containers:");
            for id in &containers {
                println!("{id}");
            }
        }
        if self.volumes {
            // Labels only: an until holds for every volume, which has no
            // creation time to judge here.
            let (gone, _) = crate::container::volumes::verbs::prune(ctx, false, &self.filter)?;
            if !gone.is_empty() {
                println!("Deleted Volumes:");
                for name in &gone {
                    println!("{name}");
                }
            }
        }
        // The build cache goes too, as docker's system prune frees it.
        crate::build::prune::prune(ctx)?;
        let images = images::prune(ctx, self.all, &self.filter)?;
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
    crate::time::point(t, now_ns).ok_or_else(|| {
        Error::Usage(format!(
            "invalid time {t:?}: RFC 3339, Unix seconds or a duration such as 10m"
        ))
    })
}
