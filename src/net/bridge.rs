//! The kernel side of user-defined networks: one bridge per network in
//! the user's network namespace (kept by the user-namespace holder), and
//! a veth pair per container and network, one end on the bridge, the
//! other in the container. Container to container traffic never leaves
//! the kernel; nothing on the bridges has an address, so the user's
//! namespace itself answers nobody. Never touches the host's network.

use super::netlink::{Netlink, NetlinkError};
use rustix::fd::{AsFd, OwnedFd};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The MTU of every bridge and veth: as large as loopback's, for the
/// same speed between containers.
pub const MTU: u32 = 65520;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("entering the network namespace of the user's networks: {0}")]
    Helper(#[from] crate::forked::ForkError),
    #[error("entering the network namespace of the user's networks: setns: {}", std::io::Error::from_raw_os_error(*.0))]
    Setns(i32),
    #[error("the network helper sent no {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// The filter that keeps a container to its own addresses, failing
    /// for another reason than a kernel without nftables.
    #[error("filtering the container's port (nftables in the kernel, CONFIG_NF_TABLES and CONFIG_NF_TABLES_NETDEV): {0}")]
    Filter(NetlinkError),
    #[error("joining network {network}: {source}")]
    Join {
        network: String,
        source: Box<BridgeError>,
    },
}

/// A route socket in another network namespace, with an fd of that
/// namespace (to move a veth end into it) and a netfilter socket there
/// (for the ports' filters, `portfilter`), unless the kernel has no
/// nftables (`unfiltered` says why).
pub struct NetnsHandle {
    pub route: Netlink,
    pub netns: OwnedFd,
    pub filter: Option<OwnedFd>,
    /// The ports filtered through `filter`, by the names of their tables'
    /// ports: only these are removed again (`remove_filters`).
    pub filtered: Vec<String>,
    /// Why ports go unfiltered: the kernel has no nftables.
    pub unfiltered: Option<NetlinkError>,
}

impl NetnsHandle {
    /// Removes the filters this handle put on ports (never another's),
    /// each table by the name it was made with; a port whose filter is
    /// already gone is no error.
    pub fn remove_filters(&mut self) -> Result<(), BridgeError> {
        let Some(filter) = &self.filter else {
            return Ok(());
        };
        for peer in std::mem::take(&mut self.filtered) {
            super::portfilter::remove(filter, &peer).map_err(BridgeError::Filter)?;
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
enum Step {
    Netns,
    Route,
    Filter,
    /// No netfilter socket: the kernel has no nftables (the errno).
    NoFilter(i32),
}

/// Opens a route socket (and the namespace's fd) in the network
/// namespace of the process `pidfd`, entering its user namespace too, in
/// a forked helper (this process stays where it is). `quiet`: the
/// namespace gets no IPv6 of its own (its bridges have no link-local
/// address a container could reach). Single-threaded callers only.
pub fn open_netns(
    pid: i32,
    pidfd: std::os::fd::BorrowedFd<'_>,
    quiet: bool,
) -> Result<NetnsHandle, BridgeError> {
    let mut netns = None;
    let mut route = None;
    let mut filter = None;
    let mut unfiltered = None;
    let how = crate::forked::Fork {
        timeout: Some(std::time::Duration::from_secs(10)),
        ..crate::forked::Fork::new("the network namespace helper")
    };
    crate::forked::converse::<Step, (), i32, _, _>(
        how,
        |side| {
            // SAFETY: prctl on this forked, single-threaded helper. Not
            // dumpable before it joins a user namespace that containers'
            // roots share.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) };
            crate::setns::join(pid, pidfd, libc::CLONE_NEWUSER | libc::CLONE_NEWNET)
                .map_err(|e| e.errno())?;
            if quiet {
                for f in ["default", "all"] {
                    let _ =
                        std::fs::write(format!("/proc/sys/net/ipv6/conf/{f}/disable_ipv6"), "1");
                }
            }
            let ns = std::fs::File::open("/proc/self/ns/net")
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            side.step(&Step::Netns, Some(ns.as_fd()))
                .map_err(|_| libc::EPIPE)?;
            let nl = Netlink::open().map_err(|e| e.errno)?;
            side.step(&Step::Route, Some(nl.fd()))
                .map_err(|_| libc::EPIPE)?;
            match super::portfilter::open_socket() {
                Ok(nf) => side.step(&Step::Filter, Some(nf.as_fd())),
                Err(e) if super::portfilter::nftables_absent(e.errno) => {
                    side.step(&Step::NoFilter(e.errno), None)
                }
                Err(e) => return Err(e.errno),
            }
            .map_err(|_| libc::EPIPE)?;
            Ok(())
        },
        |step, fd, _| {
            match step {
                Step::Netns => netns = fd,
                Step::Route => route = fd,
                Step::Filter => filter = fd,
                Step::NoFilter(errno) => {
                    unfiltered = Some(NetlinkError {
                        what: "open a netfilter socket".into(),
                        errno,
                    })
                }
            }
            Ok(())
        },
    )?
    .map_err(BridgeError::Setns)?;
    Ok(NetnsHandle {
        route: Netlink::from_fd(route.ok_or(BridgeError::Missing("route socket"))?),
        netns: netns.ok_or(BridgeError::Missing("namespace"))?,
        filter: match (filter, &unfiltered) {
            (Some(f), _) => Some(f),
            (None, Some(_)) => None,
            (None, None) => return Err(BridgeError::Missing("netfilter socket")),
        },
        filtered: Vec::new(),
        unfiltered,
    })
}

/// A container's place on one network, as its supervisor sets it up at
/// each start: plain data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The network's name, for messages.
    pub network: String,
    /// The bridge in the user's network namespace.
    pub bridge: String,
    /// The interface in the container (`eth1`, ...).
    pub ifname: String,
    /// The bridge's end, in the user's network namespace.
    pub peer: String,
    pub mac: [u8; 6],
    pub ipv4: Option<(Ipv4Addr, u8)>,
    pub ipv6: Option<(Ipv6Addr, u8)>,
}

/// Makes the attachment: the bridge (if it is not there yet), the veth
/// pair from the container's namespace (`container`, a route socket
/// there) to the user's, its end on the bridge, the container's end up
/// with its addresses (usable at once: no duplicate address detection).
pub fn attach(
    user: &mut NetnsHandle,
    container: &mut Netlink,
    a: &Attachment,
) -> Result<(), BridgeError> {
    user.route.add_bridge(&a.bridge, MTU)?;
    let bridge = user.route.index_of(&a.bridge)?;
    user.route.set_up(bridge)?;
    let made = container.add_veth(&a.ifname, a.mac, MTU, &a.peer, user.netns.as_fd());
    if let Err(e) = made {
        // The end of an earlier start's pair, not yet gone with its
        // namespace: removed, then made again.
        match (e.errno, user.route.index_of(&a.peer)) {
            (libc::EEXIST, Ok(old)) => {
                user.route.delete_link(old)?;
                container.add_veth(&a.ifname, a.mac, MTU, &a.peer, user.netns.as_fd())?;
            }
            _ => return Err(e.into()),
        }
    }
    // Filtered before it is on the bridge: not one forged frame passes.
    // A kernel without nftables gets the port unfiltered (`unfiltered`
    // says why, for a warning); any other failure fails the join.
    if let Some(filter) = &user.filter {
        match super::portfilter::install(
            filter,
            &a.peer,
            a.mac,
            a.ipv4.map(|(ip, _)| ip),
            a.ipv6.map(|(ip, _)| ip),
        ) {
            Ok(()) => {
                if !user.filtered.contains(&a.peer) {
                    user.filtered.push(a.peer.clone());
                }
            }
            Err(e) if super::portfilter::nftables_absent(e.errno) => {
                user.filter = None;
                user.unfiltered = Some(e);
            }
            Err(e) => return Err(BridgeError::Filter(e)),
        }
    }
    let peer = user.route.index_of(&a.peer)?;
    user.route.set_master_up(peer, bridge)?;
    let index = container.index_of(&a.ifname)?;
    // Addresses first, then up with arp_notify: the kernel announces them
    // as the link comes up, so a peer that cached this address with the
    // MAC of the container that had it before (it is given out again once
    // free) reaches this one at once, not after its cache times out.
    // (IPv6 has no netlink switch for its unsolicited advertisement.)
    container.announce_on_up(index)?;
    if let Some((ip, prefix)) = a.ipv4 {
        container.add_address(index, std::net::IpAddr::V4(ip), prefix)?;
    }
    if let Some((ip, prefix)) = a.ipv6 {
        // IPv6 may be disabled on the host: IPv4 only then.
        let _ = container.add_address(index, std::net::IpAddr::V6(ip), prefix);
    }
    container.link_up(index, MTU)?;
    Ok(())
}

/// `ip link del PEER` in the user's namespace: a container leaving a
/// network while it runs (the container's end goes with it).
pub fn detach(user: &mut NetnsHandle, peer: &str) -> Result<(), BridgeError> {
    let index = user.route.index_of(peer)?;
    user.route.delete_link(index)?;
    if let Some(filter) = &user.filter {
        super::portfilter::remove(filter, peer).map_err(BridgeError::Filter)?;
        user.filtered.retain(|p| p != peer);
    }
    Ok(())
}

/// The name of the bridge's end of a container's pair on a network: 15
/// bytes, unique per container and network.
pub fn peer_name(container_id: &str, network_id: &str) -> String {
    format!(
        "v{}{}",
        &container_id[..10.min(container_id.len())],
        &network_id[..4.min(network_id.len())]
    )
}
