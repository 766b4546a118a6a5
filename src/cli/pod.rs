//! `burrow pod`: containers that share a network (and IPC and UTS)
//! namespace, as podman's pods do.

use super::format::Format;
use super::values;
use crate::container::images::Context;
use crate::container::pod::{self, PodSpec};
use crate::container::pods::{Pod, Share};
use crate::net::NetworkMode;
use crate::Result;

#[derive(clap::Subcommand, Debug)]
pub enum PodCommand {
    /// Create a pod: its containers share its network, IPC and UTS namespaces and its published ports.
    Create(Create),
    /// List pods.
    #[command(alias = "list", alias = "ps")]
    Ls(List),
    /// Show pods as JSON.
    Inspect(Inspect),
    /// Start pods (the infra container, then every container of the pod).
    Start(Names),
    /// Stop pods (their containers, then the infra container).
    Stop(Stop),
    /// Stop and start pods again.
    Restart(Stop),
    /// Send a signal to every running container of pods.
    Kill(Kill),
    /// Remove pods with their containers (refused while one runs, unless -f).
    #[command(alias = "remove")]
    Rm(Remove),
    /// Exit 0 if the pod exists, 1 if not.
    Exists(Exists),
}

impl PodCommand {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        match self {
            PodCommand::Create(c) => c.exec(ctx),
            PodCommand::Ls(c) => c.exec(ctx),
            PodCommand::Inspect(c) => c.exec(ctx),
            PodCommand::Start(c) => each(&c.pods, |p| pod::start(ctx, p)),
            PodCommand::Stop(c) => each(&c.pods, |p| pod::stop(ctx, p, c.time)),
            PodCommand::Restart(c) => each(&c.pods, |p| pod::restart(ctx, p, c.time)),
            PodCommand::Kill(c) => each(&c.pods, |p| pod::kill(ctx, p, c.signal)),
            PodCommand::Rm(c) => each(&c.pods, |p| pod::remove(ctx, p, c.force)),
            PodCommand::Exists(c) => Ok(if pod::exists(ctx, &c.pod)? { 0 } else { 1 }),
        }
    }
}

/// Runs `f` on every pod named, printing each one's id; the first error
/// is returned after the others were tried.
fn each(pods: &[String], f: impl Fn(&str) -> Result<Pod>) -> Result<i32> {
    let mut first = None;
    for p in pods {
        match f(p) {
            Ok(pod) => println!("{}", pod.id),
            Err(e) if first.is_none() => first = Some(e),
            Err(e) => eprintln!("Error: {e}"),
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

fn label(s: &str) -> std::result::Result<(String, String), String> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.is_empty() {
        return Err(format!("invalid label {s:?}: expected KEY=VALUE"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn share(s: &str) -> std::result::Result<Share, String> {
    Share::parse(s).map_err(|e| e.to_string())
}

#[derive(clap::Args, Debug)]
pub struct Create {
    /// The pod's name (a generated one when none).
    #[arg(long)]
    name: Option<String>,
    /// Publish a port of the pod: [IP:]HOSTPORT:CTRPORT[/tcp|udp], ports may be ranges.
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CTR[/PROTO]", value_parser = values::publish)]
    publish: Vec<values::Publish>,
    /// The pod's network: user (the default), none, or a network made with `burrow network create`.
    #[arg(long, alias = "net", default_value = "user", value_parser = values::network)]
    network: NetworkMode,
    /// The namespaces the pod's containers share: net, ipc, uts, pid.
    #[arg(long, default_value = "net,ipc,uts", value_parser = share)]
    share: Share,
    /// A label (KEY=VALUE).
    #[arg(long, value_parser = label)]
    label: Vec<(String, String)>,
}

impl Create {
    fn exec(self, ctx: &Context) -> Result<i32> {
        if matches!(self.network, NetworkMode::Container(_) | NetworkMode::Host) {
            return Err(crate::Error::Usage(format!(
                "a pod holds a network of its own: --network {} is not one",
                self.network
            )));
        }
        let pod = pod::create(
            ctx,
            &PodSpec {
                name: self.name,
                publish: self.publish.into_iter().flat_map(|p| p.0).collect(),
                network: self.network,
                share: self.share,
                labels: self.label.into_iter().collect(),
            },
        )?;
        println!("{}", pod.id);
        Ok(0)
    }
}

#[derive(clap::Args, Debug)]
pub struct List {
    /// Show only pod ids.
    #[arg(short, long)]
    quiet: bool,
    /// Show full ids.
    #[arg(long)]
    no_trunc: bool,
    /// Output format: table, json, or a Go template (`{{.Name}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
}

impl List {
    fn exec(self, ctx: &Context) -> Result<i32> {
        let short = |id: &str| {
            if self.no_trunc {
                id.to_string()
            } else {
                id.get(..12).unwrap_or(id).to_string()
            }
        };
        let mut items = Vec::new();
        for p in pod::list(ctx)? {
            let members = pod::containers(ctx, &p)?;
            items.push(serde_json::json!({
                "ID": short(&p.id),
                "Name": p.name,
                "Status": pod::status(&members),
                "Created": p.created,
                "InfraID": short(&p.infra),
                "NumContainers": members.len(),
                "Labels": p.labels,
            }));
        }
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if self.quiet {
            for i in &items {
                println!("{}", text(&i["ID"]));
            }
            return Ok(0);
        }
        match &self.format {
            Format::Table => {
                println!(
                    "{:<14}{:<20}{:<10}{:<32}{:<14}# OF CONTAINERS",
                    "POD ID", "NAME", "STATUS", "CREATED", "INFRA ID"
                );
                for i in &items {
                    println!(
                        "{:<14}{:<20}{:<10}{:<32}{:<14}{}",
                        text(&i["ID"]),
                        text(&i["Name"]),
                        text(&i["Status"]),
                        text(&i["Created"]),
                        text(&i["InfraID"]),
                        text(&i["NumContainers"])
                    );
                }
            }
            Format::Json => {
                for i in &items {
                    println!("{i}");
                }
            }
            Format::Template(t) => t.print(
                &items,
                &[
                    ("ID", "POD ID"),
                    ("Name", "NAME"),
                    ("Status", "STATUS"),
                    ("Created", "CREATED"),
                    ("InfraID", "INFRA ID"),
                    ("NumContainers", "# OF CONTAINERS"),
                ],
            )?,
        }
        Ok(0)
    }
}

#[derive(clap::Args, Debug)]
pub struct Inspect {
    /// Output format: json, or a Go template (`{{.State}}`).
    #[arg(short, long, default_value = "json", value_parser = Format::parse)]
    format: Format,
    #[arg(required = true)]
    pods: Vec<String>,
}

impl Inspect {
    fn exec(self, ctx: &Context) -> Result<i32> {
        super::format::inspect_each(&self.pods, &self.format, |name| {
            pod::find(ctx, name).and_then(|p| pod::inspect_json(ctx, &p))
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct Names {
    #[arg(required = true)]
    pods: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct Stop {
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(short = 't', long)]
    time: Option<u64>,
    #[arg(required = true)]
    pods: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct Kill {
    /// The signal (a name or a number).
    #[arg(short, long, default_value = "KILL", value_parser = values::signal)]
    signal: i32,
    #[arg(required = true)]
    pods: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct Remove {
    /// Stop the pod's running containers and remove them too.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    pods: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct Exists {
    pod: String,
}
