//! `burrow volume ...`: create, list, inspect, remove and prune volumes.

use super::Format;
use crate::container::images::Context;
use crate::container::volumes::{self, verbs, NewVolume, Volume, VolumeFilter};
use crate::{Error, Result};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given).
    Create(Create),
    /// List volumes.
    #[command(alias = "list")]
    Ls(List),
    /// Show volumes as JSON.
    Inspect(Inspect),
    /// Remove volumes (refused while a container uses one).
    #[command(alias = "remove")]
    Rm(Remove),
    /// Remove unused anonymous volumes (with -a, every unused volume).
    Prune(Prune),
    /// Exit 0 when a volume exists, 1 when it does not.
    Exists(Exists),
}

impl VolumeCommand {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        match self {
            VolumeCommand::Create(c) => c.exec(ctx).map(|()| 0),
            VolumeCommand::Ls(c) => c.exec(ctx).map(|()| 0),
            VolumeCommand::Inspect(c) => c.exec(ctx),
            VolumeCommand::Rm(c) => c.exec(ctx),
            VolumeCommand::Prune(c) => c.exec(ctx).map(|()| 0),
            VolumeCommand::Exists(c) => c.exec(ctx),
        }
    }
}

fn key_value(s: &str) -> std::result::Result<(String, String), String> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.is_empty() {
        return Err(format!("{s:?}: expected KEY=VALUE"));
    }
    Ok((k.to_string(), v.to_string()))
}

#[derive(clap::Args, Debug)]
pub struct Create {
    /// Set a label on the volume: KEY=VALUE (repeatable).
    #[arg(short, long, value_name = "KEY=VALUE", value_parser = key_value)]
    label: Vec<(String, String)>,
    /// The volume driver: only local.
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// A local driver option (repeatable): type=tmpfs [device=tmpfs]
    /// [o=size=SIZE,mode=OCTAL,uid=N,gid=N] (uid and gid: ids of the
    /// container; each container that mounts the volume gets a tmpfs of its
    /// own), or type=none o=bind[,ro] device=/host/dir.
    ///
    /// A tmpfs volume differs from docker's: docker mounts one tmpfs and
    /// binds it into every container that uses the volume at the same
    /// time; burrow mounts a new, empty tmpfs for each container, so two
    /// containers running at once do not see each other's files, and what
    /// a container wrote goes when it stops. burrow has no daemon to keep a
    /// tmpfs mounted between containers, and one container's tmpfs can be
    /// bound into another only from a user namespace that owns both
    /// containers' mount namespaces, which containers do not share without
    /// subordinate ids or when each has its own namespace.
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE", value_parser = key_value)]
    opt: Vec<(String, String)>,
    /// The volume's name: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
    name: Option<String>,
}

impl Create {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let v = verbs::create(
            ctx,
            &NewVolume {
                name: self.name,
                labels: self.label.into_iter().collect(),
                driver: Some(self.driver),
                options: self.opt.into_iter().collect(),
            },
        )?;
        println!("{}", v.name);
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct List {
    /// Only the names.
    #[arg(short, long)]
    quiet: bool,
    /// Only volumes that match: name=, label=KEY[=VALUE], dangling=true|false, driver= (repeatable).
    #[arg(short, long, value_name = "KEY=VALUE")]
    filter: Vec<VolumeFilter>,
    /// Output format: table, json, or a Go template (`{{.Name}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
}

/// One volume as `volume ls --format` sees it (docker's fields).
fn row(v: &Volume, used: bool) -> serde_json::Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    serde_json::json!({
        "Name": v.name,
        "Driver": v.driver,
        "Scope": v.scope,
        "Mountpoint": v.mountpoint,
        "Labels": labels.join(","),
        "Links": if used { "1" } else { "0" },
        "Size": "N/A",
        "CreatedAt": v.created_at,
    })
}

const HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("CreatedAt", "CREATED"),
];

impl List {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let found = verbs::list(ctx, &self.filter)?;
        if self.quiet {
            for (v, _) in &found {
                println!("{}", v.name);
            }
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = found.iter().map(|(v, u)| row(v, *u)).collect();
        match &self.format {
            Format::Template(t) => t.print(&rows, HEADERS),
            Format::Json => {
                for r in &rows {
                    println!("{r}");
                }
                Ok(())
            }
            Format::Table => {
                let mut table = vec![vec!["DRIVER".to_string(), "VOLUME NAME".to_string()]];
                for (v, _) in &found {
                    table.push(vec![v.driver.clone(), v.name.clone()]);
                }
                super::format::print_table(&table);
                Ok(())
            }
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Inspect {
    /// Output format: json, or a Go template run on each volume (`{{.Mountpoint}}`).
    #[arg(short, long, default_value = "json", value_parser = Format::parse)]
    format: Format,
    /// Volumes, by name.
    #[arg(required = true)]
    names: Vec<String>,
}

impl Inspect {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        super::format::inspect_each(&self.names, &self.format, |name| {
            verbs::inspect(ctx, name).map(|v| serde_json::to_value(&v).expect("volume serialises"))
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct Remove {
    /// A volume that does not exist is no error.
    #[arg(short, long)]
    force: bool,
    /// Volumes, by name.
    #[arg(required = true)]
    names: Vec<String>,
}

impl Remove {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let mut code = 0;
        for n in &self.names {
            match verbs::remove(ctx, n, self.force) {
                Ok(()) => println!("{n}"),
                Err(e) if e.exit_code() == 1 => {
                    eprintln!("Error: {e}");
                    code = 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(code)
    }
}

#[derive(clap::Args, Debug)]
pub struct Prune {
    /// Remove every unused volume, named ones too (without it, only anonymous ones).
    #[arg(short, long)]
    all: bool,
    /// Only volumes that match: label=KEY[=VALUE], name= (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    filter: Vec<VolumeFilter>,
    /// Do not ask for confirmation (burrow never asks; kept for scripts written for docker).
    #[arg(short, long)]
    force: bool,
}

impl Prune {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let _ = self.force;
        if self
            .filter
            .iter()
            .any(|f| matches!(f, VolumeFilter::Dangling(_)))
        {
            return Err(Error::Usage(
                "volume prune takes no dangling= filter: it removes only unused volumes".into(),
            ));
        }
        let (removed, freed) = verbs::prune(ctx, self.all, &self.filter)?;
        if !removed.is_empty() {
            println!("Deleted Volumes:");
            for n in &removed {
                println!("{n}");
            }
            println!();
        }
        println!(
            "Total reclaimed space: {}",
            super::format::human_size(freed)
        );
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Exists {
    /// The volume, by name.
    name: String,
}

impl Exists {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        match verbs::inspect(ctx, &self.name) {
            Ok(_) => Ok(0),
            Err(Error::Container(crate::container::ContainerError::Volume(
                volumes::VolumeError::NotFound(_),
            ))) => Ok(1),
            Err(e) => Err(e),
        }
    }
}
