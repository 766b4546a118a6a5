//! The container's side of `--network user`: a tap device made inside its
//! network namespace, addressed and routed towards burrow's stack, on fds
//! the sandbox child opened there; the tap's fd is all that the
//! supervisor keeps.

use super::netlink::{Netlink, NetlinkError};
use super::{GATEWAY_V4, GATEWAY_V6, GUEST_V4, GUEST_V6, IFNAME, MTU};
use rustix::fd::{AsRawFd, OwnedFd};
use std::net::IpAddr;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// Why the container's tap could not be made or set up.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error(
        "cannot open /dev/net/tun: {0}; check that the tun module is loaded (modprobe tun) \
         and that /dev/net/tun is a character device readable and writable by everyone \
         (mode 0666), or run with --network none"
    )]
    OpenTun(rustix::io::Errno),
    #[error(
        "cannot create a tap device on /dev/net/tun: {0}; the kernel needs CONFIG_TUN and \
         must allow tap devices in user namespaces"
    )]
    MakeTap(std::io::Error),
    /// Addressing or routing the tap.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

/// `/dev/net/tun` opened in the current network namespace, no device made
/// yet (`make_tap` makes it there, from whichever process holds the fd).
/// Non-blocking.
pub fn open_tun() -> Result<OwnedFd, TapError> {
    rustix::fs::open(
        "/dev/net/tun",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .map_err(TapError::OpenTun)
}

/// A tap named `name` made on `tun` (from `open_tun`), in the network
/// namespace `tun` was opened in.
pub fn make_tap(tun: &OwnedFd, name: &str) -> Result<(), TapError> {
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes().take(15)) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads the ifreq we pass and fills in the name.
    if unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF, &mut req) } < 0 {
        return Err(TapError::MakeTap(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The tap made on `/dev/net/tun` (opened in the container's network
/// namespace), addressed and routed towards burrow's stack through `nl`, a
/// route socket of that namespace, with `mac` when given (else the
/// kernel's pick). For `devices::NetDevices::make`.
pub fn setup_tap(tun: &OwnedFd, nl: &mut Netlink, mac: Option<[u8; 6]>) -> Result<(), TapError> {
    make_tap(tun, IFNAME)?;
    let index = nl.index_of(IFNAME)?;
    if let Some(mac) = mac {
        nl.set_mac(index, mac)?;
    }
    nl.link_up(index, MTU)?;
    nl.add_address(index, IpAddr::V4(GUEST_V4), 24)?;
    nl.add_default_route(index, IpAddr::V4(GATEWAY_V4))?;
    // IPv6 may be disabled on the host; the container then has IPv4 only.
    if nl.add_address(index, IpAddr::V6(GUEST_V6), 64).is_ok() {
        let _ = nl.add_default_route(index, IpAddr::V6(GATEWAY_V6));
    }
    Ok(())
}
