//! burrow's userspace network stack for `--network user`: a NAT gateway on
//! the container's tap device. TCP from the container ends in smoltcp and is
//! carried on by a host socket opened as the user; UDP and ICMP echo are
//! relayed packet by packet through host sockets. Runs in the supervisor,
//! never in the container; holds no thread of its own (the caller decides).

use super::{GATEWAY_V4, GATEWAY_V6, GUEST_V4, RESOLVER_V4, RESOLVER_V6};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, HardwareAddress, Icmpv4Message, Icmpv4Packet,
    Icmpv6Message, Icmpv6Packet, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, IpProtocol,
    Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpPacket, UdpPacket, UdpRepr,
};
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// What the stack needs to know of the host.
#[derive(Debug, Clone)]
pub struct UserNetConfig {
    /// The gateway address (10.0.2.2, fd00::2) reaches the host's loopback.
    pub host_loopback: bool,
    /// Where the resolver address (10.0.2.3) forwards DNS to.
    pub dns_upstreams: Vec<SocketAddr>,
}

/// The gateway's MAC on the container's tap.
pub const GATEWAY_MAC: [u8; 6] = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
const OUR_MAC: EthernetAddress = EthernetAddress(GATEWAY_MAC);
const TCP_BUFFER: usize = 1 << 20;
const UDP_IDLE: Duration = Duration::from_secs(60);
const DNS_IDLE: Duration = Duration::from_secs(5);
const FRAME_MAX: usize = super::MTU as usize + 14;

/// The tap as smoltcp sees it: frames we let through are queued by the
/// stack's own reader, frames out are written straight to the fd.
struct TapDevice {
    fd: RawFd,
    rx: VecDeque<Vec<u8>>,
    /// Reused for every frame out: a fresh 64 KiB buffer per frame costs.
    tx: Vec<u8>,
}

struct RxTok(Vec<u8>);
struct TxTok<'a> {
    fd: RawFd,
    buf: &'a mut Vec<u8>,
}

impl phy::RxToken for RxTok {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let frame = &mut self.buf[..len];
        let r = f(frame);
        write_frame(self.fd, frame);
        r
    }
}

/// One frame to the tap. A full queue drops it, as a wire would; TCP
/// resends.
fn write_frame(fd: RawFd, frame: &[u8]) {
    // SAFETY: writing our own buffer to an fd the stack owns.
    unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
}

impl phy::Device for TapDevice {
    type RxToken<'a> = RxTok;
    type TxToken<'a> = TxTok<'a>;

    fn receive(&mut self, _: SmolInstant) -> Option<(RxTok, TxTok<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((
            RxTok(frame),
            TxTok {
                fd: self.fd,
                buf: &mut self.tx,
            },
        ))
    }

    fn transmit(&mut self, _: SmolInstant) -> Option<TxTok<'_>> {
        Some(TxTok {
            fd: self.fd,
            buf: &mut self.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_MAX;
        // The kernel's frames carry correct checksums: checking them again
        // costs throughput and finds nothing.
        let mut sums = ChecksumCapabilities::default();
        sums.ipv4 = Checksum::Tx;
        sums.tcp = Checksum::Tx;
        sums.udp = Checksum::Tx;
        sums.icmpv4 = Checksum::Tx;
        sums.icmpv6 = Checksum::Tx;
        caps.checksum = sums;
        caps
    }
}

type FlowKey = (IpEndpoint, IpEndpoint);

enum TcpFlow {
    /// The host connect is under way; the container's SYN waits for it.
    Connecting { host: TcpStream, syn: Vec<u8> },
    Open {
        handle: SocketHandle,
        host: TcpStream,
        host_eof: bool,
        shut_write: bool,
    },
}

struct UdpFlow {
    sock: UdpSocket,
    last: Instant,
}

struct PingFlow {
    sock: OwnedFd,
    ident: u16,
    last: Instant,
}

/// The NAT gateway on one container's tap.
pub struct UserNetwork {
    tap: OwnedFd,
    device: TapDevice,
    iface: Interface,
    sockets: SocketSet<'static>,
    config: UserNetConfig,
    tcp: HashMap<FlowKey, TcpFlow>,
    udp: HashMap<FlowKey, UdpFlow>,
    ping: HashMap<(IpAddr, IpAddr, u16), PingFlow>,
    guest_mac: Option<EthernetAddress>,
    epoch: Instant,
    /// One frame's worth, reused for every read from the tap.
    scratch: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("the user network stack: {call}: {source}")]
pub struct StackError {
    pub call: &'static str,
    pub source: std::io::Error,
}

fn std_ip(ip: IpAddress) -> IpAddr {
    match ip {
        IpAddress::Ipv4(a) => IpAddr::V4(a),
        IpAddress::Ipv6(a) => IpAddr::V6(a),
    }
}

impl UserNetwork {
    /// Takes over the tap fd made by `devices::NetDevices::make`.
    pub fn new(tap: OwnedFd, config: UserNetConfig) -> UserNetwork {
        let mut device = TapDevice {
            fd: tap.as_raw_fd(),
            rx: VecDeque::new(),
            tx: Vec::new(),
        };
        let epoch = Instant::now();
        let mut cfg = Config::new(HardwareAddress::Ethernet(OUR_MAC));
        let mut seed = [0u8; 8];
        let _ = rustix::rand::getrandom(&mut seed, rustix::rand::GetRandomFlags::empty());
        cfg.random_seed = u64::from_ne_bytes(seed);
        let mut iface = Interface::new(cfg, &mut device, SmolInstant::from_millis(0));
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(GATEWAY_V4), 24));
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(RESOLVER_V4), 24));
            let _ = a.push(IpCidr::new(IpAddress::Ipv6(GATEWAY_V6), 64));
            let _ = a.push(IpCidr::new(IpAddress::Ipv6(RESOLVER_V6), 64));
        });
        // Any address: the container's packets to the whole world end here.
        iface.set_any_ip(true);
        let _ = iface.routes_mut().add_default_ipv4_route(GATEWAY_V4);
        let _ = iface.routes_mut().add_default_ipv6_route(GATEWAY_V6);
        UserNetwork {
            tap,
            device,
            iface,
            sockets: SocketSet::new(Vec::new()),
            config,
            tcp: HashMap::new(),
            udp: HashMap::new(),
            ping: HashMap::new(),
            guest_mac: None,
            epoch,
            scratch: vec![0; FRAME_MAX],
        }
    }

    fn now(&self) -> SmolInstant {
        SmolInstant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// Where a connection to `dst` goes on the host: the gateway is the
    /// host's loopback (when allowed), the resolver the host's resolver;
    /// the rest of the container's subnet is nowhere.
    fn host_target(&self, dst: IpEndpoint) -> Option<SocketAddr> {
        let ip = std_ip(dst.addr);
        let gateway = ip == IpAddr::V4(GATEWAY_V4) || ip == IpAddr::V6(GATEWAY_V6);
        let resolver = ip == IpAddr::V4(RESOLVER_V4) || ip == IpAddr::V6(RESOLVER_V6);
        if gateway {
            return self.config.host_loopback.then(|| {
                let lo = match ip {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                };
                SocketAddr::new(lo, dst.port)
            });
        }
        if resolver {
            return (dst.port == 53)
                .then(|| self.config.dns_upstreams.first().copied())
                .flatten();
        }
        let inside = match ip {
            IpAddr::V4(a) => a.octets()[..3] == GUEST_V4.octets()[..3],
            IpAddr::V6(a) => a.segments()[..4] == [0xfd00, 0, 0, 0],
        };
        (!inside && !ip.is_unspecified() && !ip.is_multicast())
            .then_some(SocketAddr::new(ip, dst.port))
    }

    /// The fds the caller's event loop should wait on, with poll events;
    /// call `poll_once` when any is ready or `timeout` has passed.
    pub fn poll_fds(&mut self) -> (Vec<(RawFd, i16)>, Option<Duration>) {
        let mut fds = vec![(self.tap.as_raw_fd(), libc::POLLIN)];
        for flow in self.tcp.values() {
            match flow {
                TcpFlow::Connecting { host, .. } => fds.push((host.as_raw_fd(), libc::POLLOUT)),
                TcpFlow::Open {
                    handle,
                    host,
                    host_eof,
                    ..
                } => {
                    let s = self.sockets.get::<tcp::Socket>(*handle);
                    let mut ev = 0;
                    if !host_eof && s.can_send() {
                        ev |= libc::POLLIN;
                    }
                    if s.can_recv() {
                        ev |= libc::POLLOUT;
                    }
                    fds.push((host.as_raw_fd(), ev));
                }
            }
        }
        for f in self.udp.values() {
            fds.push((f.sock.as_raw_fd(), libc::POLLIN));
        }
        for f in self.ping.values() {
            fds.push((f.sock.as_raw_fd(), libc::POLLIN));
        }
        let now = self.now();
        let delay = self
            .iface
            .poll_delay(now, &self.sockets)
            .map(|d| Duration::from_micros(d.total_micros()));
        // Idle UDP flows are swept once in a while.
        let sweep = Duration::from_secs(2);
        (fds, Some(delay.map_or(sweep, |d| d.min(sweep))))
    }

    /// Runs the stack until `stop` is readable (or hangs up).
    pub fn run_until(&mut self, stop: BorrowedFd<'_>) -> Result<(), StackError> {
        loop {
            let (mut list, timeout) = self.poll_fds();
            list.push((stop.as_raw_fd(), libc::POLLIN));
            let mut pfds: Vec<libc::pollfd> = list
                .iter()
                .map(|&(fd, events)| libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                })
                .collect();
            let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
            // SAFETY: pfds is a valid array of pollfd of the given length.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(StackError {
                    call: "poll",
                    source: e,
                });
            }
            if pfds.last().is_some_and(|p| p.revents != 0) {
                return Ok(());
            }
            self.poll_once();
        }
    }

    /// Does all the work that is ready, without blocking.
    pub fn poll_once(&mut self) {
        self.read_tap();
        let now = self.now();
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        self.pump_tcp();
        self.pump_udp();
        self.pump_ping();
        let now = self.now();
        self.iface.poll(now, &mut self.device, &mut self.sockets);
    }

    fn read_tap(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(FRAME_MAX, 0);
        for _ in 0..512 {
            // SAFETY: reading into our own buffer of the given size.
            let n = unsafe {
                libc::read(
                    self.tap.as_raw_fd(),
                    scratch.as_mut_ptr().cast(),
                    scratch.len(),
                )
            };
            if n <= 0 {
                break;
            }
            let frame = &scratch[..n as usize];
            if self.intercept(frame) {
                continue;
            }
            self.device.rx.push_back(frame.to_vec());
        }
        self.scratch = scratch;
    }

    /// Handles UDP and ICMP echo itself and opens the host side of new TCP
    /// connections; true when the frame is consumed.
    fn intercept(&mut self, frame: &[u8]) -> bool {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return true;
        };
        if self.guest_mac.is_none() && eth.src_addr().is_unicast() {
            self.guest_mac = Some(eth.src_addr());
        }
        let (src, dst, proto, payload): (IpAddress, IpAddress, IpProtocol, &[u8]) =
            match eth.ethertype() {
                EthernetProtocol::Ipv4 => {
                    let Ok(p) = Ipv4Packet::new_checked(eth.payload()) else {
                        return true;
                    };
                    if p.more_frags() || p.frag_offset() != 0 {
                        return false;
                    }
                    let hl = p.header_len() as usize;
                    let total = (p.total_len() as usize).min(eth.payload().len());
                    (
                        IpAddress::Ipv4(p.src_addr()),
                        IpAddress::Ipv4(p.dst_addr()),
                        p.next_header(),
                        &eth.payload()[hl.min(total)..total],
                    )
                }
                EthernetProtocol::Ipv6 => {
                    let Ok(p) = Ipv6Packet::new_checked(eth.payload()) else {
                        return true;
                    };
                    let len = (p.payload_len() as usize).min(eth.payload().len() - 40);
                    (
                        IpAddress::Ipv6(p.src_addr()),
                        IpAddress::Ipv6(p.dst_addr()),
                        p.next_header(),
                        &eth.payload()[40..40 + len],
                    )
                }
                _ => return false,
            };
        match proto {
            IpProtocol::Udp => {
                if let Ok(u) = UdpPacket::new_checked(payload) {
                    let s = IpEndpoint::new(src, u.src_port());
                    let d = IpEndpoint::new(dst, u.dst_port());
                    self.udp_out(s, d, u.payload());
                }
                true
            }
            IpProtocol::Icmp | IpProtocol::Icmpv6 => self.ping_out(src, dst, payload),
            IpProtocol::Tcp => {
                let Ok(t) = TcpPacket::new_checked(payload) else {
                    return true;
                };
                let key = (
                    IpEndpoint::new(src, t.src_port()),
                    IpEndpoint::new(dst, t.dst_port()),
                );
                if !t.syn() || t.ack() {
                    return false;
                }
                if self.tcp.contains_key(&key) {
                    // A resent SYN: smoltcp has it, or the connect is pending.
                    return matches!(self.tcp.get(&key), Some(TcpFlow::Connecting { .. }));
                }
                match self
                    .host_target(key.1)
                    .and_then(|t| connect_nonblocking(t).ok())
                {
                    Some(host) => {
                        self.tcp.insert(
                            key,
                            TcpFlow::Connecting {
                                host,
                                syn: frame.to_vec(),
                            },
                        );
                        true
                    }
                    // No listener: smoltcp answers with a reset.
                    None => false,
                }
            }
            _ => false,
        }
    }

    fn pump_tcp(&mut self) {
        let keys: Vec<FlowKey> = self.tcp.keys().copied().collect();
        for key in keys {
            let Some(flow) = self.tcp.remove(&key) else {
                continue;
            };
            if let Some(flow) = self.step_tcp(key, flow) {
                self.tcp.insert(key, flow);
            }
        }
    }

    /// Moves one connection along; `None` when it is over.
    fn step_tcp(&mut self, key: FlowKey, flow: TcpFlow) -> Option<TcpFlow> {
        match flow {
            TcpFlow::Connecting { host, syn } => {
                match connect_result(&host) {
                    None => Some(TcpFlow::Connecting { host, syn }),
                    Some(Err(_)) => {
                        // Refused: the SYN with no listener gets a reset.
                        self.device.rx.push_back(syn);
                        None
                    }
                    Some(Ok(())) => {
                        let mut s = tcp::Socket::new(
                            tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
                            tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
                        );
                        s.set_nagle_enabled(false);
                        s.set_ack_delay(None);
                        let local = IpListenEndpoint {
                            addr: Some(key.1.addr),
                            port: key.1.port,
                        };
                        if s.listen(local).is_err() {
                            return None;
                        }
                        let handle = self.sockets.add(s);
                        self.device.rx.push_back(syn);
                        Some(TcpFlow::Open {
                            handle,
                            host,
                            host_eof: false,
                            shut_write: false,
                        })
                    }
                }
            }
            TcpFlow::Open {
                handle,
                mut host,
                mut host_eof,
                mut shut_write,
            } => {
                let s = self.sockets.get_mut::<tcp::Socket>(handle);
                // The reset an abort queues goes out with the next poll:
                // the socket must live until then.
                let mut aborted = false;
                // Container to host.
                while s.can_recv() {
                    let r = s.recv(|buf| match host.write(buf) {
                        Ok(n) => (n, Ok(n)),
                        Err(e) => (0, Err(e)),
                    });
                    match r {
                        Ok(Ok(n)) if n > 0 => {}
                        Ok(Err(e)) if e.kind() != std::io::ErrorKind::WouldBlock => {
                            // The host side is gone: so is the connection.
                            s.abort();
                            aborted = true;
                            host_eof = true;
                            shut_write = true;
                            break;
                        }
                        _ => break,
                    }
                }
                if !s.may_recv() && !s.can_recv() && !shut_write && s.state() != tcp::State::Listen
                {
                    let _ = host.shutdown(std::net::Shutdown::Write);
                    shut_write = true;
                }
                // Host to container.
                while !host_eof && s.can_send() {
                    let r = s.send(|buf| {
                        if buf.is_empty() {
                            return (0, Ok(1));
                        }
                        match host.read(buf) {
                            Ok(n) => (n, Ok(n)),
                            Err(e) => (0, Err(e)),
                        }
                    });
                    match r {
                        Ok(Ok(0)) => {
                            host_eof = true;
                            s.close();
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Ok(Err(_)) => {
                            s.abort();
                            aborted = true;
                            host_eof = true;
                            shut_write = true;
                        }
                        Err(_) => break,
                    }
                }
                let over = !aborted
                    && (matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait)
                        || (s.state() == tcp::State::Listen && host_eof));
                if over {
                    self.sockets.remove(handle);
                    return None;
                }
                Some(TcpFlow::Open {
                    handle,
                    host,
                    host_eof,
                    shut_write,
                })
            }
        }
    }

    fn udp_out(&mut self, src: IpEndpoint, dst: IpEndpoint, payload: &[u8]) {
        let key = (src, dst);
        if !self.udp.contains_key(&key) {
            let Some(target) = self.host_target(dst) else {
                return;
            };
            let bind: SocketAddr = match target {
                SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let Ok(sock) = UdpSocket::bind(bind) else {
                return;
            };
            if sock.connect(target).is_err() || sock.set_nonblocking(true).is_err() {
                return;
            }
            self.udp.insert(
                key,
                UdpFlow {
                    sock,
                    last: Instant::now(),
                },
            );
        }
        if let Some(f) = self.udp.get_mut(&key) {
            let _ = f.sock.send(payload);
            f.last = Instant::now();
        }
    }

    fn pump_udp(&mut self) {
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        self.udp.retain(|&(guest, remote), f| {
            while let Ok(n) = f.sock.recv(&mut buf) {
                out.push((remote, guest, buf[..n].to_vec()));
                f.last = Instant::now();
            }
            // A resolver picks a new source port per query: its flows are
            // done after the answer, and must not pile up as open fds.
            let idle = if remote.port == 53 {
                DNS_IDLE
            } else {
                UDP_IDLE
            };
            f.last.elapsed() < idle
        });
        for (from, to, data) in out {
            if let Some(frame) = self.udp_frame(from, to, &data) {
                write_frame(self.tap.as_raw_fd(), &frame);
            }
        }
    }

    /// An Ethernet frame carrying one UDP datagram to the container.
    fn udp_frame(&self, src: IpEndpoint, dst: IpEndpoint, payload: &[u8]) -> Option<Vec<u8>> {
        let mac = self.guest_mac?;
        let udp = UdpRepr {
            src_port: src.port,
            dst_port: dst.port,
        };
        let udp_len = 8 + payload.len();
        let sums = ChecksumCapabilities::default();
        let (ethertype, ip_len) = match (src.addr, dst.addr) {
            (IpAddress::Ipv4(_), IpAddress::Ipv4(_)) => (EthernetProtocol::Ipv4, 20),
            (IpAddress::Ipv6(_), IpAddress::Ipv6(_)) => (EthernetProtocol::Ipv6, 40),
            _ => return None,
        };
        if udp_len + ip_len > super::MTU as usize {
            return None;
        }
        let mut buf = vec![0u8; 14 + ip_len + udp_len];
        let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.set_src_addr(OUR_MAC);
        eth.set_dst_addr(mac);
        eth.set_ethertype(ethertype);
        let ip_payload = match (src.addr, dst.addr) {
            (IpAddress::Ipv4(s), IpAddress::Ipv4(d)) => {
                let repr = Ipv4Repr {
                    src_addr: s,
                    dst_addr: d,
                    next_header: IpProtocol::Udp,
                    payload_len: udp_len,
                    hop_limit: 64,
                };
                let mut p = Ipv4Packet::new_unchecked(eth.payload_mut());
                repr.emit(&mut p, &sums);
                &mut eth.payload_mut()[20..]
            }
            (IpAddress::Ipv6(s), IpAddress::Ipv6(d)) => {
                let repr = Ipv6Repr {
                    src_addr: s,
                    dst_addr: d,
                    next_header: IpProtocol::Udp,
                    payload_len: udp_len,
                    hop_limit: 64,
                };
                let mut p = Ipv6Packet::new_unchecked(eth.payload_mut());
                repr.emit(&mut p);
                &mut eth.payload_mut()[40..]
            }
            _ => return None,
        };
        let mut u = UdpPacket::new_unchecked(ip_payload);
        udp.emit(
            &mut u,
            &src.addr,
            &dst.addr,
            payload.len(),
            |b| b.copy_from_slice(payload),
            &sums,
        );
        Some(buf)
    }

    /// An echo request (ICMP or ICMPv6) to anywhere but the gateway and
    /// the resolver goes out through a ping socket (where
    /// `ping_group_range` on the host allows one); the gateway's own answer
    /// and everything else of ICMPv6 (neighbour discovery) are smoltcp's.
    fn ping_out(&mut self, src: IpAddress, dst: IpAddress, payload: &[u8]) -> bool {
        let ident = match dst {
            IpAddress::Ipv4(d) => {
                if d == GATEWAY_V4 || d == RESOLVER_V4 {
                    return false;
                }
                let Ok(icmp) = Icmpv4Packet::new_checked(payload) else {
                    return true;
                };
                if icmp.msg_type() != Icmpv4Message::EchoRequest {
                    return true;
                }
                icmp.echo_ident()
            }
            IpAddress::Ipv6(d) => {
                if d == GATEWAY_V6 || d == RESOLVER_V6 || d.is_multicast() {
                    return false;
                }
                let Ok(icmp) = Icmpv6Packet::new_checked(payload) else {
                    return false;
                };
                if icmp.msg_type() != Icmpv6Message::EchoRequest {
                    return false;
                }
                icmp.echo_ident()
            }
        };
        let Some(target) = self.host_target(IpEndpoint::new(dst, 0)) else {
            return true;
        };
        let key = (std_ip(src), std_ip(dst), ident);
        if let std::collections::hash_map::Entry::Vacant(slot) = self.ping.entry(key) {
            let (family, proto) = match target {
                SocketAddr::V4(_) => (libc::AF_INET, libc::IPPROTO_ICMP),
                SocketAddr::V6(_) => (libc::AF_INET6, libc::IPPROTO_ICMPV6),
            };
            // SAFETY: plain socket(2); owned right below.
            let fd = unsafe {
                libc::socket(
                    family,
                    libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    proto,
                )
            };
            if fd < 0 {
                return true;
            }
            // SAFETY: a new fd nobody else owns.
            let sock = unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(fd) };
            slot.insert(PingFlow {
                sock,
                ident,
                last: Instant::now(),
            });
        }
        let Some(f) = self.ping.get_mut(&key) else {
            return true;
        };
        f.last = Instant::now();
        let to = nix::sys::socket::SockaddrStorage::from(SocketAddr::new(target.ip(), 0));
        let _ = nix::sys::socket::sendto(
            f.sock.as_raw_fd(),
            payload,
            &to,
            nix::sys::socket::MsgFlags::empty(),
        );
        true
    }

    fn pump_ping(&mut self) {
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        self.ping.retain(|&(guest, remote, _), f| {
            loop {
                // SAFETY: receiving into our own buffer of the given size.
                let n = unsafe {
                    libc::recv(f.sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
                };
                if n <= 0 {
                    break;
                }
                let mut reply = buf[..n as usize].to_vec();
                // The kernel put the socket's own id in; the container
                // waits for its own.
                let fixed = match (remote, guest) {
                    (IpAddr::V4(_), _) => Icmpv4Packet::new_checked(&mut reply[..])
                        .map(|mut p| {
                            p.set_echo_ident(f.ident);
                            p.fill_checksum();
                        })
                        .is_ok(),
                    (IpAddr::V6(r), IpAddr::V6(g)) => Icmpv6Packet::new_checked(&mut reply[..])
                        .map(|mut p| {
                            p.set_echo_ident(f.ident);
                            p.fill_checksum(&r, &g);
                        })
                        .is_ok(),
                    _ => false,
                };
                if fixed {
                    out.push((remote, guest, reply));
                }
                f.last = Instant::now();
            }
            f.last.elapsed() < UDP_IDLE
        });
        for (from, to, data) in out {
            if let Some(frame) = self.icmp_frame(from, to, &data) {
                write_frame(self.tap.as_raw_fd(), &frame);
            }
        }
    }

    fn icmp_frame(&self, src: IpAddr, dst: IpAddr, icmp: &[u8]) -> Option<Vec<u8>> {
        let mac = self.guest_mac?;
        let header = match (src, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => 20,
            (IpAddr::V6(_), IpAddr::V6(_)) => 40,
            _ => return None,
        };
        let mut buf = vec![0u8; 14 + header + icmp.len()];
        let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.set_src_addr(OUR_MAC);
        eth.set_dst_addr(mac);
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                eth.set_ethertype(EthernetProtocol::Ipv4);
                let repr = Ipv4Repr {
                    src_addr: s,
                    dst_addr: d,
                    next_header: IpProtocol::Icmp,
                    payload_len: icmp.len(),
                    hop_limit: 64,
                };
                let mut p = Ipv4Packet::new_unchecked(eth.payload_mut());
                repr.emit(&mut p, &ChecksumCapabilities::default());
                p.payload_mut().copy_from_slice(icmp);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                eth.set_ethertype(EthernetProtocol::Ipv6);
                let repr = Ipv6Repr {
                    src_addr: s,
                    dst_addr: d,
                    next_header: IpProtocol::Icmpv6,
                    payload_len: icmp.len(),
                    hop_limit: 64,
                };
                let mut p = Ipv6Packet::new_unchecked(eth.payload_mut());
                repr.emit(&mut p);
                p.payload_mut().copy_from_slice(icmp);
            }
            _ => return None,
        }
        Some(buf)
    }

    /// The tap fd, for a caller running its own event loop.
    pub fn tap_fd(&self) -> BorrowedFd<'_> {
        self.tap.as_fd()
    }
}

fn connect_nonblocking(target: SocketAddr) -> std::io::Result<TcpStream> {
    let family = match target {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2); owned right below.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new fd nobody else owns.
    let fd = unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(fd) };
    let _ = nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::TcpNoDelay, &true);
    let addr = nix::sys::socket::SockaddrStorage::from(target);
    match nix::sys::socket::connect(fd.as_raw_fd(), &addr) {
        Ok(()) | Err(nix::Error::EINPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(std::io::Error::from_raw_os_error(e as i32)),
    }
}

/// `None` while a non-blocking connect is under way.
fn connect_result(s: &TcpStream) -> Option<std::io::Result<()>> {
    let mut p = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    if unsafe { libc::poll(&mut p, 1, 0) } <= 0 {
        return None;
    }
    match s.take_error() {
        Ok(None) => Some(Ok(())),
        Ok(Some(e)) | Err(e) => Some(Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::UdpPacket;

    /// A DNS query from the container to 10.0.2.3 reaches the upstream on
    /// the host's loopback, and the answer comes back as a frame from
    /// 10.0.2.3:53 with correct checksums. A datagram socketpair stands in
    /// for the tap: one frame per message, as the tap gives them.
    #[test]
    fn udp_to_the_resolver_is_forwarded_and_answered_from_its_address() {
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        upstream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (ours, guest) = std::os::unix::net::UnixDatagram::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut net = UserNetwork::new(
            OwnedFd::from(ours),
            UserNetConfig {
                host_loopback: true,
                dns_upstreams: vec![upstream.local_addr().unwrap()],
            },
        );
        let guest_mac = EthernetAddress([0x02, 0, 0, 0, 0, 0x64]);
        let (src, dst) = (
            IpEndpoint::new(IpAddress::Ipv4(GUEST_V4), 40000),
            IpEndpoint::new(IpAddress::Ipv4(RESOLVER_V4), 53),
        );
        net.guest_mac = Some(guest_mac);
        let mut query = net.udp_frame(src, dst, b"query").unwrap();
        // The same frame as the container would send it: from its MAC.
        EthernetFrame::new_unchecked(&mut query[..]).set_src_addr(guest_mac);
        guest.send(&query).unwrap();
        net.poll_once();

        let mut buf = [0u8; 100];
        let (n, from) = upstream.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"query");
        upstream.send_to(b"answer", from).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        net.poll_once();

        let mut frame = [0u8; 200];
        let n = guest.recv(&mut frame).unwrap();
        let eth = EthernetFrame::new_checked(&frame[..n]).unwrap();
        assert_eq!(eth.dst_addr(), guest_mac);
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr(), RESOLVER_V4);
        assert_eq!(ip.dst_addr(), GUEST_V4);
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(udp.verify_checksum(&IpAddress::Ipv4(RESOLVER_V4), &IpAddress::Ipv4(GUEST_V4)));
        assert_eq!((udp.src_port(), udp.dst_port()), (53, 40000));
        assert_eq!(udp.payload(), b"answer");
    }

    #[test]
    fn the_gateway_is_the_host_loopback_only_when_allowed() {
        let (ours, _guest) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let mut cfg = UserNetConfig {
            host_loopback: true,
            dns_upstreams: vec!["127.0.0.53:53".parse().unwrap()],
        };
        let net = UserNetwork::new(OwnedFd::from(ours), cfg.clone());
        let ep = |ip: Ipv4Addr, port| IpEndpoint::new(IpAddress::Ipv4(ip), port);
        assert_eq!(
            net.host_target(ep(GATEWAY_V4, 8080)),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            net.host_target(ep(RESOLVER_V4, 53)),
            Some("127.0.0.53:53".parse().unwrap())
        );
        assert_eq!(net.host_target(ep(RESOLVER_V4, 80)), None);
        assert_eq!(net.host_target(ep(Ipv4Addr::new(10, 0, 2, 9), 80)), None);
        assert_eq!(
            net.host_target(ep(Ipv4Addr::new(198, 51, 100, 1), 443)),
            Some("198.51.100.1:443".parse().unwrap())
        );
        cfg.host_loopback = false;
        let (ours, _guest) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let net = UserNetwork::new(OwnedFd::from(ours), cfg);
        assert_eq!(net.host_target(ep(GATEWAY_V4, 8080)), None);
    }
}
