//! `burrow volume ...`: create, list, inspect, remove and prune volumes.

use super::Format;
use crate::container::images::Context;
use crate::container::volumes::{self, verbs, NewVolume, Volume, VolumeFilter, VolumePruneFilter};
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
    /// Only volumes that match: name=, label=KEY[=VALUE], dangling=true|false, driver= (repeatable;
    /// the values of name and of driver are alternatives, every label must hold).
    #[arg(short, long, value_name = "KEY=VALUE")]
    filter: Vec<VolumeFilter>,
    /// Output format: table, json, or a Go template over docker's fields
    /// (`{{.Name}}`, `{{.Driver}}`, `{{.Mountpoint}}`, `{{.Labels}}`, `{{.Label "KEY"}}`, `{{.Scope}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
}

/// One volume as `volume ls --format` sees it: docker's volume context,
/// every value a string. docker's list carries no usage (Links, Size) and
/// a local volume no cluster fields (Group, Availability, Status): "N/A".
fn row(v: &Volume) -> serde_json::Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    serde_json::json!({
        "Availability": "N/A",
        "Driver": v.driver,
        "Group": "N/A",
        "Labels": labels.join(","),
        "Links": "N/A",
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Scope": v.scope,
        "Size": "N/A",
        "Status": "N/A",
    })
}

const HEADERS: &[(&str, &str)] = &[
    ("Availability", "AVAILABILITY"),
    ("Driver", "DRIVER"),
    ("Group", "GROUP"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Name", "VOLUME NAME"),
    ("Scope", "SCOPE"),
    ("Size", "SIZE"),
    ("Status", "STATUS"),
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
        let rows: Vec<serde_json::Value> = found.iter().map(|(v, _)| row(v)).collect();
        match &self.format {
            Format::Template(t) => t.print(&rows, HEADERS),
            Format::Json => {
                super::format::print_json_lines(&rows);
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
    /// Only volumes that match: label=KEY[=VALUE], label!=KEY[=VALUE], all=true|false (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    filter: Vec<VolumePruneFilter>,
    /// Do not ask for confirmation (burrow never asks; kept for scripts written for docker).
    #[arg(short, long)]
    force: bool,
}

impl Prune {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let _ = self.force;
        let mut all_values = Vec::new();
        let mut labels = Vec::new();
        for f in self.filter {
            match f {
                VolumePruneFilter::All(a) if !all_values.contains(&a) => all_values.push(a),
                VolumePruneFilter::All(_) => {}
                VolumePruneFilter::Label(l) => labels.push(l),
            }
        }
        if all_values.len() > 1 {
            return Err(Error::Usage(
                "invalid filter 'all': only one value is expected".into(),
            ));
        }
        let all = self.all || all_values == [true];
        let (removed, freed) = verbs::prune(ctx, all, &labels)?;
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
