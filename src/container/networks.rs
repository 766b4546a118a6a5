//! `burrow network`: the user's networks as the container layer sees
//! them: which containers exist and run (a network in use is not
//! removed), and containers joining and leaving (at their next start).
//! The records and addresses are `net::networks`'; the links `net::bridge`'s.

use super::images::Context;
use super::record::{Containers, Status};
use crate::container::error::{Error, Result};
use crate::net::networks::{EndpointSpec, Network, NetworkSpec, Networks};

fn networks(ctx: &Context) -> Result<(Networks, Containers)> {
    let store = ctx.store()?;
    Ok((
        Networks::open(store.root()),
        Containers::open(store.root())?,
    ))
}

fn net_err(e: crate::net::networks::NetworksError) -> Error {
    Error::Network(e.into())
}

/// The ids of the containers that exist, and of those running.
fn container_ids(c: &Containers) -> Result<(Vec<String>, Vec<String>)> {
    let all = c.list()?;
    let running = all
        .iter()
        .filter(|(_, s)| s.status == Status::Running)
        .map(|(r, _)| r.id.clone())
        .collect();
    Ok((all.into_iter().map(|(r, _)| r.id).collect(), running))
}

/// `network create`.
pub fn create(ctx: &Context, spec: &NetworkSpec) -> Result<Network> {
    let (nets, _) = networks(ctx)?;
    nets.create(spec).map_err(net_err)
}

/// `network ls`: every network, by name.
pub fn list(ctx: &Context) -> Result<Vec<Network>> {
    let (nets, _) = networks(ctx)?;
    nets.list().map_err(net_err)
}

/// `network inspect`, `network exists`: one network by name or id.
pub fn find(ctx: &Context, name: &str) -> Result<Network> {
    let (nets, _) = networks(ctx)?;
    nets.find(name).map_err(net_err)
}

/// `network rm`: refused while a running container is on it.
pub fn remove(ctx: &Context, name: &str) -> Result<Network> {
    let (nets, c) = networks(ctx)?;
    let (_, running) = container_ids(&c)?;
    nets.remove(name, &|id| running.iter().any(|r| r == id))
        .map_err(net_err)
}

/// `network prune`: the networks no container is on; their names.
pub fn prune(ctx: &Context) -> Result<Vec<String>> {
    let (nets, c) = networks(ctx)?;
    let (all, _) = container_ids(&c)?;
    nets.prune(&|id| all.iter().any(|r| r == id))
        .map_err(net_err)
}

/// `network connect NET CTR`: the container gets an address and its
/// names there; it is linked to the network from its next start.
pub fn connect(ctx: &Context, network: &str, container: &str, want: &EndpointSpec) -> Result<()> {
    let (nets, c) = networks(ctx)?;
    let (r, s) = c.find(container)?;
    if !matches!(r.config.network_mode, crate::net::NetworkMode::Named(_)) {
        return Err(Error::Usage(format!(
            "container {} has --network {}: only a container started on a network made with `burrow network create` joins others",
            r.name, r.config.network_mode
        )));
    }
    let n = nets.find(network).map_err(net_err)?;
    if n.endpoints.contains_key(&r.id) {
        return Err(net_err(
            crate::net::networks::NetworksError::AlreadyConnected {
                container: r.name.clone(),
                network: n.name.clone(),
            },
        ));
    }
    let hosts = r
        .plan_dir
        .clone()
        .unwrap_or_else(|| c.dir_of(&r.id))
        .join("hosts");
    let (all, _) = container_ids(&c)?;
    nets.attach(&n.id, &r.id, &r.name, want, Some(&hosts), &|id| {
        all.iter().any(|x| x == id)
    })
    .map_err(net_err)?;
    if s.status == Status::Running {
        eprintln!(
            "Note: container {} is running: it is linked to network {} when it starts next (`burrow restart {}`); its name resolves there now",
            r.name, n.name, r.name
        );
    }
    Ok(())
}

/// `network disconnect NET CTR`.
pub fn disconnect(ctx: &Context, network: &str, container: &str) -> Result<()> {
    let (nets, c) = networks(ctx)?;
    let (r, _) = c.find(container)?;
    let n = nets.find(network).map_err(net_err)?;
    nets.detach(&n.id, &r.id).map_err(|e| match e {
        crate::net::networks::NetworksError::NotConnected { network, .. } => {
            net_err(crate::net::networks::NetworksError::NotConnected {
                container: r.name.clone(),
                network,
            })
        }
        e => net_err(e),
    })?;
    Ok(())
}
