//! The devices of a container's network namespace, as plain data, and the
//! one function that makes them on the fds its sandbox child hands out
//! (`/dev/net/tun` and a route socket opened in that namespace). Runs in
//! the supervisor; knows nothing of the sandbox that carries the fds.

use super::bridge::{self, Attachment, BridgeError, NetnsHandle};
use super::netlink::Netlink;
use super::tap::{self, TapError};
use rustix::fd::OwnedFd;
use serde::{Deserialize, Serialize};

/// What a container's network namespace gets at one start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetDevices {
    /// burrow's tap (`eth0`), addressed and routed towards its userspace
    /// stack: `--network user`.
    pub tap: bool,
    /// `--mac-address`: the tap's MAC (else the kernel's pick).
    #[serde(default)]
    pub tap_mac: Option<[u8; 6]>,
    /// A veth on each user network's bridge, in the order of their
    /// interface names.
    pub links: Vec<Attachment>,
}

/// Why a device of the container's network could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Tap(#[from] TapError),
    /// A user network's link (the network named inside).
    #[error(transparent)]
    Bridge(#[from] BridgeError),
}

impl NetDevices {
    /// Nothing to make.
    pub fn is_empty(&self) -> bool {
        !self.tap && self.links.is_empty()
    }

    /// Makes them on `tun` and `route` (opened in the container's network
    /// namespace); the links' bridges are in the user's network namespace
    /// `user` (without it, no link is made). The tun fd is what comes
    /// back: with `tap`, the tap's.
    pub fn make(
        &self,
        tun: OwnedFd,
        route: OwnedFd,
        user: Option<&mut NetnsHandle>,
    ) -> Result<OwnedFd, DeviceError> {
        let mut nl = Netlink::from_fd(route);
        if self.tap {
            tap::setup_tap(&tun, &mut nl, self.tap_mac)?;
        }
        if let Some(user) = user {
            for link in &self.links {
                bridge::attach(user, &mut nl, link).map_err(|e| BridgeError::Join {
                    network: link.network.clone(),
                    source: Box::new(e),
                })?;
            }
        }
        Ok(tun)
    }
}
