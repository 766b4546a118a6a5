//! A blocking D-Bus connection held by this process itself, for the
//! conversation on a foreground `run`'s path (its scope). zbus's own
//! connection starts threads (its executor and reader), which a process
//! that forks the sandbox later may not have, so it needs a helper
//! process of its own, and under emulation that fork and zbus's start-up
//! cost more than systemd's job. This one only writes messages built by
//! zbus's `Message` and reads replies in order from a unix socket: no
//! thread, no fork, and the handshake, `Hello` and the calls before the
//! scope go out in one write without waiting for their answers.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use zbus::message::{Message, Type};
use zbus::zvariant::{serialized::Context, serialized::Data, Endian};

/// What systemd or the bus said no with; a D-Bus helper's report
/// crosses the process boundary as it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach the user D-Bus at {address}: {detail}")]
    Unreachable { address: String, detail: String },
    /// A method call or property read failed: `call` names it with its
    /// arguments ("StopUnit burrow-1.scope").
    #[error("{call}: {detail}")]
    Call { call: String, detail: String },
    #[error("systemd could not start {unit}: job {result}")]
    Job { unit: String, result: String },
    #[error("lost the user D-Bus while starting {0}")]
    Lost(String),
}

/// The fixed part of a message's header: endianness, type, flags,
/// version, body length, serial, length of the header fields.
const FIXED: usize = 16;
/// The spec's limit on a whole message.
const MAX_MESSAGE: usize = 128 * 1024 * 1024;

/// The peer a message goes to or comes from, and what it says.
pub struct Bus {
    stream: UnixStream,
    /// Bytes read and not yet taken as a message.
    buf: Vec<u8>,
    /// When a reply not yet arrived is given up.
    deadline: Instant,
    /// Messages read while waiting for another reply, in order.
    pending: Vec<Message>,
    /// Whether the daemon's answer to the handshake was read.
    authenticated: bool,
}

/// Unescapes a D-Bus address value (`%2f` for `/`).
fn unescape(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Connects to the first unix-socket address of `address` (`unix:path=`
/// or `unix:abstract=`, as a session bus address names it).
fn connect(address: &str) -> Result<UnixStream, BusError> {
    use std::os::unix::ffi::OsStrExt;
    let unreachable = |detail: String| BusError::Unreachable {
        address: address.to_string(),
        detail,
    };
    for entry in address.split(';') {
        let Some(keys) = entry.strip_prefix("unix:") else {
            continue;
        };
        for pair in keys.split(',') {
            match pair.split_once('=') {
                Some(("path", p)) => {
                    let path = std::ffi::OsStr::from_bytes(&unescape(p)).to_owned();
                    return UnixStream::connect(&path).map_err(|e| unreachable(e.to_string()));
                }
                Some(("abstract", name)) => {
                    use std::os::linux::net::SocketAddrExt;
                    let addr = std::os::unix::net::SocketAddr::from_abstract_name(unescape(name))
                        .map_err(|e| unreachable(e.to_string()))?;
                    return UnixStream::connect_addr(&addr).map_err(|e| unreachable(e.to_string()));
                }
                _ => {}
            }
        }
    }
    Err(unreachable(
        "no unix:path= or unix:abstract= address in it".into(),
    ))
}

impl Bus {
    /// Connects to `address` and sends the handshake (EXTERNAL, as this
    /// user) and `Hello`; their answers are read with the first reply
    /// waited for. Every later wait ends at `limit` from now.
    pub fn open(address: &str, limit: Duration) -> Result<Bus, BusError> {
        let stream = connect(address)?;
        let uid = rustix::process::getuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let mut bus = Bus {
            stream,
            buf: Vec::new(),
            deadline: Instant::now() + limit,
            pending: Vec::new(),
            authenticated: false,
        };
        let hello = Message::method_call("/org/freedesktop/DBus", "Hello")
            .and_then(|b| b.destination("org.freedesktop.DBus"))
            .and_then(|b| b.interface("org.freedesktop.DBus"))
            .and_then(|b| b.build(&()))
            .map_err(|e| call_error("Hello", e))?;
        let mut first = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").into_bytes();
        first.extend_from_slice(hello.data());
        bus.write(&first, "Hello")?;
        Ok(bus)
    }

    /// Every later wait ends at `limit` from now.
    pub fn wait_at_most(&mut self, limit: Duration) {
        self.deadline = Instant::now() + limit;
    }

    /// Sends `msg` without waiting for its reply; returns its serial.
    pub fn send(&mut self, msg: &Message, what: &str) -> Result<u32, BusError> {
        self.write(msg.data(), what)?;
        Ok(msg.primary_header().serial_num().get())
    }

    fn write(&mut self, bytes: &[u8], what: &str) -> Result<(), BusError> {
        self.stream.write_all(bytes).map_err(|e| BusError::Call {
            call: what.to_string(),
            detail: e.to_string(),
        })
    }

    /// The reply to the call of serial `serial`: its body's message, or
    /// the error the peer answered, as `what`'s error. Whatever is read
    /// meanwhile is kept: the signals for `next_signal`, other replies for
    /// their own `reply` (the bus may answer its own calls before
    /// an earlier call to another peer, such as systemd).
    pub fn reply(&mut self, serial: u32, what: &str) -> Result<Message, BusError> {
        let matches = |m: &Message| {
            m.message_type() != Type::Signal
                && m.header().reply_serial().map(|s| s.get()) == Some(serial)
        };
        if let Some(i) = self.pending.iter().position(matches) {
            return answer(self.pending.remove(i), what);
        }
        loop {
            let msg = self.read_message(what)?;
            if matches(&msg) {
                return answer(msg, what);
            }
            self.pending.push(msg);
        }
    }

    /// The next signal, read before or after the replies taken.
    pub fn next_signal(&mut self, what: &str) -> Result<Message, BusError> {
        if let Some(i) = self
            .pending
            .iter()
            .position(|m| m.message_type() == Type::Signal)
        {
            return Ok(self.pending.remove(i));
        }
        loop {
            let msg = self.read_message(what)?;
            if msg.message_type() == Type::Signal {
                return Ok(msg);
            }
        }
    }

    /// Reads until `buf` holds at least `n` bytes.
    fn fill(&mut self, n: usize, what: &str) -> Result<(), BusError> {
        let mut chunk = [0u8; 4096];
        while self.buf.len() < n {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BusError::Call {
                    call: what.to_string(),
                    detail: "no answer in time".into(),
                });
            }
            // A zero timeout would mean none: at least a millisecond.
            let _ = self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(BusError::Lost(what.to_string())),
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    return Err(BusError::Call {
                        call: what.to_string(),
                        detail: e.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// The daemon's answer to the handshake, a line before any message.
    fn read_auth(&mut self, what: &str) -> Result<(), BusError> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                if line.starts_with("OK ") {
                    self.authenticated = true;
                    return Ok(());
                }
                return Err(BusError::Unreachable {
                    address: "the user bus".into(),
                    detail: format!("authentication refused: {line}"),
                });
            }
            let n = self.buf.len() + 1;
            self.fill(n, what)?;
        }
    }

    fn read_message(&mut self, what: &str) -> Result<Message, BusError> {
        if !self.authenticated {
            self.read_auth(what)?;
        }
        self.fill(FIXED, what)?;
        let endian = match self.buf[0] {
            b'l' => Endian::Little,
            b'B' => Endian::Big,
            other => return Err(garbled(what, format!("endianness byte {other:#x}"))),
        };
        let word = |at: usize, buf: &[u8]| {
            let b = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
            let n = match endian {
                Endian::Little => u32::from_le_bytes(b),
                Endian::Big => u32::from_be_bytes(b),
            };
            n as usize
        };
        let body = word(4, &self.buf);
        let fields = word(12, &self.buf);
        let total = (FIXED + fields).next_multiple_of(8) + body;
        if total > MAX_MESSAGE {
            return Err(garbled(what, format!("a message of {total} bytes")));
        }
        self.fill(total, what)?;
        let bytes: Vec<u8> = self.buf.drain(..total).collect();
        // SAFETY: `bytes` is one whole message as the bus daemon framed
        // it (the daemon checks every message it passes on); zbus parses
        // its header and body with checks of its own, and it carries no
        // file descriptors.
        unsafe { Message::from_bytes(Data::new(bytes, Context::new_dbus(endian, 0))) }
            .map_err(|e| garbled(what, e.to_string()))
    }
}

fn garbled(what: &str, detail: String) -> BusError {
    BusError::Call {
        call: what.to_string(),
        detail: format!("unreadable answer from the bus: {detail}"),
    }
}

pub fn call_error(what: &str, e: zbus::Error) -> BusError {
    BusError::Call {
        call: what.to_string(),
        detail: e.to_string(),
    }
}

/// A method return as it is, an error reply as `what`'s error.
fn answer(msg: Message, what: &str) -> Result<Message, BusError> {
    if msg.message_type() != Type::Error {
        return Ok(msg);
    }
    let name = msg
        .header()
        .error_name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let text: String = msg.body().deserialize().unwrap_or_default();
    Err(BusError::Call {
        call: what.to_string(),
        detail: if text.is_empty() {
            name
        } else {
            format!("{name}: {text}")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_values_are_unescaped() {
        assert_eq!(unescape("/run/user/1000/bus"), b"/run/user/1000/bus");
        assert_eq!(unescape("%2frun%2Fbus"), b"/run/bus");
        assert_eq!(unescape("a%2"), b"a%2");
    }
}
