//! `burrow network`: user-defined networks (docker's verbs and flags).

use super::format::Format;
use crate::container::images::Context;
use crate::container::networks;
use crate::net::networks::{AnyNetwork, EndpointSpec, NetworkSpec, Subnet};
use crate::{Error, Result};

#[derive(clap::Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network: containers on it reach each other by name.
    Create(Create),
    /// List networks.
    #[command(alias = "list")]
    Ls(List),
    /// Show networks as JSON.
    Inspect(Inspect),
    /// Remove networks (refused while a running container is on one).
    #[command(alias = "remove")]
    Rm(Remove),
    /// Remove every network no container is on.
    Prune(Prune),
    /// Put a container on a network (linked at its next start).
    Connect(Connect),
    /// Take a container off a network.
    Disconnect(Disconnect),
    /// Exit 0 if the network exists, 1 if not.
    Exists(Exists),
}

impl NetworkCommand {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        match self {
            NetworkCommand::Create(c) => c.exec(ctx),
            NetworkCommand::Ls(c) => c.exec(ctx),
            NetworkCommand::Inspect(c) => c.exec(ctx),
            NetworkCommand::Rm(c) => c.exec(ctx),
            NetworkCommand::Prune(c) => c.exec(ctx),
            NetworkCommand::Connect(c) => c.exec(ctx),
            NetworkCommand::Disconnect(c) => c.exec(ctx),
            NetworkCommand::Exists(c) => c.exec(ctx),
        }
    }
}

fn subnet(s: &str) -> std::result::Result<Subnet, String> {
    s.parse()
        .map_err(|e: crate::net::networks::NetworksError| e.to_string())
}

fn label(s: &str) -> std::result::Result<(String, String), String> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.is_empty() {
        return Err(format!("invalid label {s:?}: expected KEY=VALUE"));
    }
    Ok((k.to_string(), v.to_string()))
}

#[derive(clap::Args, Debug)]
pub struct Create {
    /// A subnet in CIDR form (one IPv4 and one IPv6 may be given; a free one of each is picked otherwise).
    #[arg(long, value_parser = subnet)]
    subnet: Vec<Subnet>,
    /// No way out: containers on it reach each other only.
    #[arg(long)]
    internal: bool,
    /// A label (KEY=VALUE).
    #[arg(long, value_parser = label)]
    label: Vec<(String, String)>,
    /// The driver: bridge, the only one.
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Accepted for docker's scripts: IPv6 is always on.
    #[arg(long)]
    ipv6: bool,
    /// The network's name.
    name: String,
}

impl Create {
    fn exec(self, ctx: &Context) -> Result<i32> {
        if self.driver != "bridge" {
            return Err(Error::Usage(format!(
                "plugin \"{}\" not found: burrow's networks use the bridge driver",
                self.driver
            )));
        }
        let n = networks::create(
            ctx,
            &NetworkSpec {
                name: self.name,
                subnets: self.subnet,
                internal: self.internal,
                labels: self.label.into_iter().collect(),
            },
        )?;
        println!("{}", n.id);
        Ok(0)
    }
}

/// A network as `ls` templates see it (docker's field names).
fn ls_fields(n: &AnyNetwork) -> serde_json::Value {
    let labels = n
        .labels()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let subnets = n.subnets();
    // Every value a string, as docker's network context gives them.
    serde_json::json!({
        "ID": n.short_id(),
        "Name": n.name(),
        "Driver": n.driver(),
        "Scope": "local",
        "IPv4": subnets.iter().any(|s| s.addr.is_ipv4()).to_string(),
        "IPv6": subnets.iter().any(|s| s.addr.is_ipv6()).to_string(),
        "Internal": n.internal().to_string(),
        "Labels": labels,
        "CreatedAt": crate::time::docker_date(n.created()),
    })
}

/// Whether `n` passes one `--filter KEY=VALUE` of `network ls`: name (a
/// substring), id (a prefix), label (KEY or KEY=VALUE), driver, scope,
/// type (builtin or custom).
fn passes(n: &AnyNetwork, key: &str, value: &str) -> Result<bool> {
    Ok(match key {
        "name" => n.name().contains(value),
        "id" => n.id().starts_with(value),
        "driver" => n.driver() == value,
        "scope" => value == "local",
        "type" => match value {
            "builtin" => n.builtin(),
            "custom" => !n.builtin(),
            _ => {
                return Err(Error::Usage(format!(
                    "invalid filter: 'type'='{value}': a network's type is builtin or custom"
                )))
            }
        },
        "label" => {
            let labels = n.labels();
            match value.split_once('=') {
                Some((lk, lv)) => labels.get(lk).is_some_and(|x| x == lv),
                None => labels.contains_key(value),
            }
        }
        _ => {
            return Err(Error::Usage(format!(
                "invalid filter '{key}': burrow filters networks by name, id, label, driver, scope and type"
            )))
        }
    })
}

/// docker's rule for `network ls --filter`: the values of one key are
/// alternatives (`-f type=custom -f type=builtin` lists both), except
/// labels, which must all be there; different keys must all hold.
fn matches(n: &AnyNetwork, filters: &[(String, String)]) -> Result<bool> {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let results = filters
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| passes(n, key, v))
            .collect::<Result<Vec<bool>>>()?;
        let ok = if key == "label" {
            results.iter().all(|r| *r)
        } else {
            results.iter().any(|r| *r)
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[derive(clap::Args, Debug)]
pub struct List {
    /// Show only network ids.
    #[arg(short, long)]
    quiet: bool,
    /// Show full ids.
    #[arg(long)]
    no_trunc: bool,
    /// Filter (name=, id=, label=, driver=, scope=, type=builtin|custom).
    #[arg(short, long, value_parser = label)]
    filter: Vec<(String, String)>,
    /// Output format: table, json, or a Go template (`{{.Name}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
}

impl List {
    fn exec(self, ctx: &Context) -> Result<i32> {
        let mut shown = Vec::new();
        for n in networks::list_all(ctx)? {
            if matches(&n, &self.filter)? {
                shown.push(n);
            }
        }
        let id = |n: &AnyNetwork| {
            if self.no_trunc {
                n.id().to_string()
            } else {
                n.short_id().to_string()
            }
        };
        if self.quiet {
            for n in &shown {
                println!("{}", id(n));
            }
            return Ok(0);
        }
        let mut items: Vec<serde_json::Value> = shown.iter().map(ls_fields).collect();
        if self.no_trunc {
            for (item, n) in items.iter_mut().zip(&shown) {
                item["ID"] = serde_json::Value::String(n.id().to_string());
            }
        }
        match &self.format {
            Format::Table => {
                println!("{:<14}{:<24}{:<10}SCOPE", "NETWORK ID", "NAME", "DRIVER");
                for n in &shown {
                    println!("{:<14}{:<24}{:<10}local", id(n), n.name(), n.driver());
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
                    ("ID", "NETWORK ID"),
                    ("Name", "NAME"),
                    ("Driver", "DRIVER"),
                    ("Scope", "SCOPE"),
                    ("IPv4", "IPV4"),
                    ("IPv6", "IPV6"),
                    ("Internal", "INTERNAL"),
                    ("Labels", "LABELS"),
                    ("CreatedAt", "CREATED AT"),
                ],
            )?,
        }
        Ok(0)
    }
}

#[derive(clap::Args, Debug)]
pub struct Inspect {
    /// Output format: json, or a Go template (`{{.IPAM.Config}}`).
    #[arg(short, long, default_value = "json", value_parser = Format::parse)]
    format: Format,
    #[arg(required = true)]
    networks: Vec<String>,
}

impl Inspect {
    fn exec(self, ctx: &Context) -> Result<i32> {
        super::format::inspect_each(&self.networks, &self.format, |name| {
            networks::inspect(ctx, name)
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct Remove {
    /// Do not fail on a network that does not exist.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    networks: Vec<String>,
}

impl Remove {
    fn exec(self, ctx: &Context) -> Result<i32> {
        let mut code = 0;
        for name in &self.networks {
            match networks::remove(ctx, name) {
                Ok(_) => println!("{name}"),
                Err(Error::Network(crate::net::NetError::Networks(
                    crate::net::networks::NetworksError::NotFound(_),
                ))) if self.force => {}
                Err(e) => {
                    eprintln!("Error: {e}");
                    code = e.exit_code();
                }
            }
        }
        Ok(code)
    }
}

#[derive(clap::Args, Debug)]
pub struct Prune {
    /// Do not ask (burrow never asks).
    #[arg(short, long)]
    force: bool,
}

impl Prune {
    fn exec(self, ctx: &Context) -> Result<i32> {
        let gone = networks::prune(ctx)?;
        if !gone.is_empty() {
            println!("Deleted Networks:");
            for n in gone {
                println!("{n}");
            }
        }
        Ok(0)
    }
}

#[derive(clap::Args, Debug)]
pub struct Connect {
    /// Another name for the container on this network.
    #[arg(long)]
    alias: Vec<String>,
    /// Its IPv4 address there.
    #[arg(long, value_name = "ADDR")]
    ip: Option<std::net::Ipv4Addr>,
    /// Its IPv6 address there.
    #[arg(long, value_name = "ADDR")]
    ip6: Option<std::net::Ipv6Addr>,
    network: String,
    container: String,
}

impl Connect {
    fn exec(self, ctx: &Context) -> Result<i32> {
        networks::connect(
            ctx,
            &self.network,
            &self.container,
            &EndpointSpec {
                aliases: self.alias,
                ipv4: self.ip,
                ipv6: self.ip6,
                mac: None,
            },
        )?;
        Ok(0)
    }
}

#[derive(clap::Args, Debug)]
pub struct Disconnect {
    /// Accepted for docker's scripts.
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

impl Disconnect {
    fn exec(self, ctx: &Context) -> Result<i32> {
        networks::disconnect(ctx, &self.network, &self.container)?;
        Ok(0)
    }
}

#[derive(clap::Args, Debug)]
pub struct Exists {
    network: String,
}

impl Exists {
    fn exec(self, ctx: &Context) -> Result<i32> {
        Ok(match networks::find_any(ctx, &self.network) {
            Ok(_) => 0,
            Err(_) => 1,
        })
    }
}
