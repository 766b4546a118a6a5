//! The network as an event source of the supervisor's loop: burrow's stack
//! on the container's tap and its published ports (with the socket
//! notifier's direct paths), both driven without threads, brought up again
//! at each start of the container.

use crate::container::network::{BoundPorts, NetworkPlan};
use crate::net::devices::NetDevices;
use crate::net::{
    self, bridge, PortForwarder, PortReservation, PublishedPort, UserNetConfig, UserNetwork,
};
use crate::sandbox::spec::{NetSetup, SandboxSpec};
use rustix::fd::{AsRawFd, OwnedFd};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// What a supervisor needs to bring the network back up for each start
/// of the container: plain data, saved in its plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SupervisedNetwork {
    /// `--network user`: a tap and burrow's stack.
    pub user: bool,
    pub host_loopback: bool,
    pub ports: Vec<PublishedPort>,
    /// Published TCP ports served directly (`NetworkPlan::direct`).
    #[serde(default)]
    pub direct: bool,
    /// Connections to the host's loopback made directly
    /// (`NetworkPlan::direct_host`).
    #[serde(default)]
    pub direct_host: bool,
    /// Where the host ports are held (`PortReservation`); none in plans
    /// saved before it was.
    #[serde(default)]
    pub ports_dir: Option<std::path::PathBuf>,
    /// On user-defined networks: the storage root whose `networks/`
    /// says which (read at each start: `network connect` and
    /// `disconnect` change them) and the container's id.
    #[serde(default)]
    pub networks: Option<(std::path::PathBuf, String)>,
    /// `--mac-address`: the tap's.
    #[serde(default)]
    pub tap_mac: Option<[u8; 6]>,
}

impl SupervisedNetwork {
    /// The part of `plan` a supervisor carries out, with the ports as bound.
    pub fn of(plan: &NetworkPlan, bound: &BoundPorts) -> SupervisedNetwork {
        SupervisedNetwork {
            user: plan.uplink(),
            host_loopback: plan.host_loopback,
            ports: bound.ports(),
            direct: plan.direct(),
            direct_host: plan.direct_host(),
            ports_dir: Some(bound.dir().to_path_buf()),
            networks: plan.named.as_ref().and_then(|n| n.attached.clone()),
            tap_mac: plan.tap_mac,
        }
    }

    /// Whether the supervisor has anything to run for it.
    pub fn is_active(&self) -> bool {
        self.user || !self.ports.is_empty() || self.networks.is_some()
    }

    /// The sandbox's network set-up for this plan, and the devices to
    /// make for it: the tap, and the links of `links` (in the user's
    /// network namespace `user`).
    fn prepare_with(
        &self,
        sandbox: &mut SandboxSpec,
        links: Vec<bridge::Attachment>,
        user: Option<bridge::NetnsHandle>,
    ) -> Option<StartDevices> {
        let devices = NetDevices {
            tap: self.user,
            tap_mac: self.tap_mac,
            links,
        };
        if devices.is_empty() {
            return None;
        }
        sandbox.namespaces.net = true;
        sandbox.net_setup = Some(NetSetup { allow_ping: true });
        if self.user {
            sandbox.bind_notify = self.direct;
            sandbox.connect_notify = self.direct_host;
        }
        Some(StartDevices { devices, user })
    }
}

/// The devices of the container's network namespace at one start, with
/// the user's network namespace their links go to: what the supervisor
/// makes on the fds the sandbox child hands out (`HostSide::net`).
pub struct StartDevices {
    devices: NetDevices,
    user: Option<bridge::NetnsHandle>,
}

impl StartDevices {
    pub fn make(
        &mut self,
        tun: OwnedFd,
        route: OwnedFd,
    ) -> Result<OwnedFd, net::devices::DeviceError> {
        self.devices.make(tun, route, self.user.as_mut())
    }
}

/// The links of container `id` on its networks, as the records say now.
fn links_of(storage: &std::path::Path, id: &str, tap: bool) -> Vec<bridge::Attachment> {
    let nets = net::networks::Networks::open(storage)
        .of_container(id)
        .unwrap_or_default();
    nets.into_iter()
        .enumerate()
        .map(|(i, (n, e))| bridge::Attachment {
            network: n.name.clone(),
            bridge: n.bridge(),
            ifname: format!("eth{}", i + usize::from(tap)),
            peer: bridge::peer_name(id, &n.id),
            mac: e.mac,
            ipv4: e.ipv4.map(|a| (a, n.prefix_of(std::net::IpAddr::V4(a)))),
            ipv6: e.ipv6.map(|a| (a, n.prefix_of(std::net::IpAddr::V6(a)))),
        })
        .collect()
}

/// Why a container could not be put on its user networks.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("user networks need the shared user namespace ([userns] keep_alive above 0)")]
    NoSharedUserns,
    #[error("the user's network namespace: {0}")]
    Holder(crate::sandbox::holder::HolderError),
    #[error(transparent)]
    Bridge(#[from] bridge::BridgeError),
}

pub(super) struct SupervisedStack {
    config: SupervisedNetwork,
    /// The host ports bound before the first start; from then on the
    /// forwarder holds them, and hands them to the next one on a restart
    /// (binding again those the container's servers held).
    bound: Vec<(PublishedPort, Option<OwnedFd>)>,
    /// The host ports held for the container until it ends for good.
    reserved: PortReservation,
    stack: Option<UserNetwork>,
    forwarder: Option<PortForwarder>,
    /// The fds to watch, refreshed after every round of work.
    watched: Vec<(RawFd, i16)>,
    deadline: Option<Instant>,
    /// Forked children closing the taps of earlier starts.
    closers: Vec<i32>,
    /// On user networks: the user-namespace holder, whose network
    /// namespace holds their bridges, kept from ending while this lives.
    hold: Option<crate::sandbox::holder::NetworkHold>,
    /// The user's network namespace as the last start left it: the
    /// ports' filters it made, removed when the container ends.
    joined: Option<bridge::NetnsHandle>,
    /// Where the holders keep their records: the warning that ports go
    /// unfiltered is remembered there, once per holder.
    holder_dir: Option<std::path::PathBuf>,
}

/// In the holders' directory: the network namespace (device and inode)
/// whose missing nftables was last warned of.
const UNFILTERED_WARNED: &str = "nftables-absent-warned";

impl SupervisedStack {
    /// Holds and binds the published ports now (unless the caller did:
    /// `bound`), so that a port in use fails the start with a message.
    pub fn new(
        config: SupervisedNetwork,
        bound: Option<(Vec<(PublishedPort, OwnedFd)>, PortReservation)>,
    ) -> Result<SupervisedStack, net::NetError> {
        let (bound, reserved) = match bound {
            Some(b) => b,
            None => {
                // Held before bound: a port another container's server is
                // taking over is free in the kernel for a moment.
                let reserved = match &config.ports_dir {
                    Some(dir) => PortReservation::take(dir, &config.ports)?,
                    None => PortReservation::default(),
                };
                (PortForwarder::bind(&config.ports)?, reserved)
            }
        };
        Ok(SupervisedStack {
            config,
            bound: bound.into_iter().map(|(p, fd)| (p, Some(fd))).collect(),
            reserved,
            stack: None,
            forwarder: None,
            watched: Vec::new(),
            deadline: None,
            closers: Vec::new(),
            hold: None,
            joined: None,
            holder_dir: None,
        })
    }

    /// The sandbox's network set-up for the next start, and the devices
    /// to make for it (`None`: no new network namespace to set up). On user
    /// networks, this takes the holder of the user's namespaces (once)
    /// and enters its network namespace through a forked helper: the
    /// caller must be single-threaded.
    pub fn prepare(
        &mut self,
        sandbox: &mut SandboxSpec,
    ) -> Result<Option<StartDevices>, JoinError> {
        let Some((storage, id)) = &self.config.networks else {
            return Ok(self.config.prepare_with(sandbox, Vec::new(), None));
        };
        let links = links_of(storage, id, self.config.user);
        if links.is_empty() {
            return Ok(self.config.prepare_with(sandbox, links, None));
        }
        // Without subordinate ids too: the single-id map is then held and
        // shared as well (see `SharedUserns::single_map`).
        if let Some(s) = &mut sandbox.shared_userns {
            s.single_map = true;
        }
        if self.hold.is_none() {
            let Some(shared) = &sandbox.shared_userns else {
                return Err(JoinError::NoSharedUserns);
            };
            self.holder_dir = Some(shared.dir.clone());
            let hold = crate::sandbox::holder::hold_network(
                &shared.dir,
                &sandbox.id_map,
                Duration::from_secs(shared.keep_alive_secs),
            )
            .map_err(JoinError::Holder)?;
            self.hold = Some(hold);
        }
        let Some(hold) = &self.hold else {
            return Ok(None);
        };
        use rustix::fd::AsFd;
        let user = bridge::open_netns(hold.pid, hold.pidfd.as_fd(), true)?;
        Ok(self.config.prepare_with(sandbox, links, Some(user)))
    }

    /// The container (re)started on its user networks with `devices`: its
    /// ports' filters are kept to be removed when it ends, and the
    /// warning that they could not be made (no nftables), if it is the
    /// first for this holder, comes back.
    pub fn joined(&mut self, devices: Option<StartDevices>) -> Option<String> {
        let user = devices?.user?;
        let warning = user.unfiltered.as_ref().and_then(|e| {
            let dir = self.holder_dir.as_ref()?;
            let st = rustix::fs::fstat(&user.netns).ok()?;
            let key = format!("{}:{}", st.st_dev, st.st_ino);
            let seen = dir.join(UNFILTERED_WARNED);
            if std::fs::read_to_string(&seen).is_ok_and(|t| t == key) {
                return None;
            }
            let tmp = dir.join(format!(".{UNFILTERED_WARNED}.tmp"));
            if std::fs::write(&tmp, &key).is_ok() && std::fs::rename(&tmp, &seen).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            Some(net::portfilter::absent_warning(e))
        });
        // An earlier start's filters were replaced by this one's (same
        // ports, same tables).
        self.joined = Some(user);
        warning
    }

    /// The container (re)started with pid 1 `pid`, its tap (in `user`
    /// mode) and its socket notifier's listener, if any, with the server
    /// of the listener's other calls (root emulation's, when one filter
    /// notifies both). The supervisor is single-threaded: the port helper
    /// forks here.
    pub fn started(
        &mut self,
        pid: i32,
        tap: Option<OwnedFd>,
        socket_notify: Option<crate::notify::Listener>,
        others: Option<Box<dyn crate::notify::Server>>,
    ) -> Result<(), net::NetError> {
        self.reap_closers();
        if let Some(old) = self.stack.take() {
            self.closers.extend(close_later(old));
        }
        let mut bound = match self.forwarder.take() {
            Some(f) => f.into_bound(),
            None => std::mem::take(&mut self.bound),
        };
        // A forwarder that could not start lost its sockets: bound anew.
        if bound.is_empty() {
            bound = self
                .config
                .ports
                .iter()
                .map(|p| (p.clone(), None))
                .collect();
        }
        if let (true, Some(tap)) = (self.config.user, tap) {
            self.stack = Some(UserNetwork::new(
                tap,
                UserNetConfig {
                    host_loopback: self.config.host_loopback,
                    dns_upstreams: net::dns::host_upstreams(),
                },
            ));
        }
        // The notifier's listener needs a reader even with no port.
        if !bound.is_empty() || socket_notify.is_some() {
            self.forwarder = Some(PortForwarder::attach(bound, pid, socket_notify, others)?);
        }
        self.refresh();
        Ok(())
    }

    /// Does what is ready, then notes what to watch next.
    pub fn work(&mut self) {
        if let Some(s) = &mut self.stack {
            s.poll_once();
        }
        if let Some(f) = &mut self.forwarder {
            f.poll_once();
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        self.watched.clear();
        let mut deadline = None;
        if let Some(s) = &mut self.stack {
            let (fds, timeout) = s.poll_fds();
            self.watched.extend(fds);
            deadline = timeout.map(|t| Instant::now() + t);
        }
        if let Some(f) = &self.forwarder {
            self.watched.extend(f.poll_fds());
            let sweep = Instant::now() + Duration::from_secs(5);
            deadline = Some(deadline.map_or(sweep, |d: Instant| d.min(sweep)));
        }
        self.deadline = deadline;
    }

    /// The fds to watch now, with poll events.
    pub fn watched(&self) -> &[(RawFd, i16)] {
        &self.watched
    }

    /// The latest the loop may sleep before calling `work`.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The container exited and will not be restarted: the host's ports
    /// are given back now (whoever sees it exited finds them free). The
    /// stack's tap is closed when this is dropped, after the supervisor's
    /// last word.
    pub fn released(&mut self) {
        // Its own ports' tables only, by the names it made them with;
        // best effort: they go with the holder's namespace anyway.
        if let Some(mut user) = self.joined.take() {
            let _ = user.remove_filters();
        }
        self.forwarder = None;
        self.bound.clear();
        self.reserved = PortReservation::default();
        self.refresh();
    }

    /// Reaps the tap closers that are done.
    fn reap_closers(&mut self) {
        self.closers.retain(|&pid| {
            // SAFETY: waitpid on our own child, without blocking.
            let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
            r == 0
        });
    }
}

impl Drop for SupervisedStack {
    fn drop(&mut self) {
        if let Some(old) = self.stack.take() {
            close_later(old);
        }
    }
}

/// Drops the stack with its tap closed by a forked child nobody waits for:
/// the last close of a tap unregisters its device, which waits for the
/// kernel's RCU grace periods (tens of milliseconds) that neither the user
/// of a foreground `run` nor a supervisor's loop should wait for. The
/// child closes its copy only once ours is closed (the end of a pipe
/// tells it), so that the last close, the slow one, is always its own:
/// were it first, ours would be the last. And it closes everything else
/// it inherited first, in calls of their own: the kernel finishes the
/// closes of one call in no set order, and a caller reading our stdout
/// to its end must not wait for the tap. The child's pid, to reap;
/// `None` if the fork failed (the close was then made here).
fn close_later(stack: UserNetwork) -> Option<i32> {
    let Ok((ours_closed, ours)) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) else {
        drop(stack);
        return None;
    };
    let tap = stack.tap_fd().as_raw_fd() as u32;
    // SAFETY: the supervisor is single-threaded; the child makes system
    // calls only and exits without running anything of the parent's.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: the child's own copies: its write end first, so that
        // the read below ends when the parent's is closed; then every fd
        // but the tap, then the tap, its last reference.
        unsafe {
            libc::close(ours.as_raw_fd());
            let mut byte = 0u8;
            while libc::read(ours_closed.as_raw_fd(), (&raw mut byte).cast(), 1) < 0
                && *libc::__errno_location() == libc::EINTR
            {}
            crate::forked::close_fds_except(0, &[tap as i32]);
            libc::close(tap as i32);
            libc::_exit(0)
        }
    }
    // Not the last reference any more where the fork worked; then the
    // child may close its copy.
    drop(stack);
    drop(ours);
    (pid > 0).then_some(pid)
}
