//! `burrow network`: the user's networks as the container layer sees
//! them: which containers exist and run (a network in use is not
//! removed), and containers joining and leaving (at their next start);
//! docker's predefined networks, whose members are the containers of
//! their `--network` mode.
//! The records and addresses are `net::networks`'; the links `net::bridge`'s.

use super::images::Context;
use super::record::{Containers, Status};
use crate::container::error::{Error, Result};
use crate::net::networks::{
    AnyNetwork, EndpointSpec, Network, NetworkSpec, Networks, NetworksError, Predefined,
};
use crate::net::NetworkMode;

fn networks(ctx: &Context) -> Result<(Networks, Containers)> {
    let store = ctx.store()?;
    Ok((
        Networks::open(store.root()),
        Containers::open(store.root())?,
    ))
}

fn net_err(e: NetworksError) -> Error {
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

/// `network inspect`, `network exists` of a user network: one by name or id.
pub fn find(ctx: &Context, name: &str) -> Result<Network> {
    let (nets, _) = networks(ctx)?;
    nets.find(name).map_err(net_err)
}

/// `network ls`: docker's predefined networks and the user's, by name.
pub fn list_all(ctx: &Context) -> Result<Vec<AnyNetwork>> {
    let (nets, _) = networks(ctx)?;
    nets.list_all().map_err(net_err)
}

/// `network exists`: a predefined network or the user's, by name or id.
pub fn find_any(ctx: &Context, name: &str) -> Result<AnyNetwork> {
    let (nets, _) = networks(ctx)?;
    nets.find_any(name).map_err(net_err)
}

/// `network inspect`: docker's object for a predefined network (the
/// running containers whose `--network` mode it is) or a user's.
pub fn inspect(ctx: &Context, name: &str) -> Result<serde_json::Value> {
    let (nets, c) = networks(ctx)?;
    Ok(match nets.find_any(name).map_err(net_err)? {
        AnyNetwork::User(n) => n.inspect_json(),
        AnyNetwork::Predefined(p) => {
            let members: Vec<(String, String)> = c
                .list()?
                .into_iter()
                .filter(|(r, s)| s.status == Status::Running && r.config.network_mode == p.mode())
                .map(|(r, _)| (r.id, r.name))
                .collect();
            p.inspect_json(&members)
        }
    })
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
    let mode = &r.config.network_mode;
    let n = match nets.find_any(network).map_err(net_err)? {
        AnyNetwork::Predefined(p) => {
            return Err(net_err(refuse_predefined_connect(p, mode, &r.name)))
        }
        AnyNetwork::User(n) => n,
    };
    match mode {
        NetworkMode::Named(_) => {}
        NetworkMode::Host | NetworkMode::Container(_) => {
            return Err(net_err(NetworksError::SharedNetwork))
        }
        NetworkMode::None => return Err(net_err(NetworksError::NoNetwork)),
        NetworkMode::User => {
            return Err(net_err(NetworksError::NotOnUserNetwork {
                container: r.name.clone(),
                mode: mode.to_string(),
            }))
        }
    }
    if n.endpoints.contains_key(&r.id) {
        return Err(net_err(NetworksError::AlreadyConnected {
            container: r.name.clone(),
            network: n.name.clone(),
        }));
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
    let n = match nets.find_any(network).map_err(net_err)? {
        AnyNetwork::Predefined(p) => {
            return Err(net_err(refuse_predefined_disconnect(
                p,
                &r.config.network_mode,
                &r.name,
            )))
        }
        AnyNetwork::User(n) => n,
    };
    nets.detach(&n.id, &r.id).map_err(|e| match e {
        NetworksError::NotConnected { network, .. } => net_err(NetworksError::NotConnected {
            container: r.name.clone(),
            network,
        }),
        e => net_err(e),
    })?;
    Ok(())
}

/// What docker answers `network connect P CTR` for a predefined network
/// `P` and a container of `mode` (its daemon's checks, in its order).
/// burrow never joins one: a predefined network is a container's
/// `--network` mode, so a container on it is already there.
fn refuse_predefined_connect(p: Predefined, mode: &NetworkMode, container: &str) -> NetworksError {
    let on = Predefined::of_mode(mode);
    if p == Predefined::Host && on != Some(Predefined::Host) {
        return NetworksError::HostNetwork;
    }
    if on == Some(p) {
        return NetworksError::AlreadyConnected {
            container: container.to_string(),
            network: p.name().to_string(),
        };
    }
    match (mode, p) {
        (NetworkMode::Host | NetworkMode::Container(_), _) => NetworksError::SharedNetwork,
        (NetworkMode::None, _) | (_, Predefined::None) => NetworksError::NoNetwork,
        _ => NetworksError::JoinsWhenMade {
            container: container.to_string(),
            network: p.name().to_string(),
        },
    }
}

/// What `network disconnect P CTR` answers for a predefined network:
/// docker's words off the host's network; a container's own predefined
/// network is its mode, which burrow does not change.
fn refuse_predefined_disconnect(
    p: Predefined,
    mode: &NetworkMode,
    container: &str,
) -> NetworksError {
    match Predefined::of_mode(mode) {
        Some(Predefined::Host) if p == Predefined::Host => NetworksError::HostNetwork,
        Some(on) if on == p => NetworksError::ModeFixed {
            container: container.to_string(),
            network: p.name().to_string(),
        },
        _ => NetworksError::NotConnected {
            container: container.to_string(),
            network: p.name().to_string(),
        },
    }
}
