//! The user's systemd manager over the user D-Bus: a transient scope with
//! `Delegate=yes` for a container, whether a unit is delegated, stopping
//! a scope. The scope, on a foreground `run`'s path, is asked for on a
//! connection this process holds itself (`bus`: no thread). The other
//! calls use the D-Bus client zbus, which starts threads of its own while
//! the caller must stay single-threaded to fork the sandbox later, so
//! they happen in a short-lived forked helper process (`crate::forked`)
//! that reports back typed and exits.

use crate::forked::{run_forked, Fork, ForkError};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::time::Duration;
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// How long a whole conversation may take, job included; systemd answers
/// in milliseconds on a real machine, in a second under emulation.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A failed conversation with the user's systemd.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Helper(#[from] ForkError),
}

pub use super::bus::BusError;

fn call(call: impl Into<String>) -> impl FnOnce(zbus::Error) -> BusError {
    let call = call.into();
    move |e| BusError::Call {
        call,
        detail: e.to_string(),
    }
}

/// The user bus: `$DBUS_SESSION_BUS_ADDRESS`, else the socket systemd's
/// user instance listens on.
pub fn bus_address() -> String {
    if let Ok(a) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        if !a.is_empty() {
            return a;
        }
    }
    let runtime = std::env::var("XDG_RUNTIME_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| format!("/run/user/{}", rustix::process::getuid().as_raw()));
    format!("unix:path={runtime}/bus")
}

/// What `place` found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placed {
    /// The process's own unit has `Delegate=yes`: use it as it is.
    AlreadyDelegated,
    /// The process now lives in the new scope.
    InScope,
}

/// Puts `pid` into a new transient scope `name` with `Delegate=yes` and
/// waits for systemd's job to finish. With `reuse_delegated`, first asks
/// whether the unit `pid` is in already has `Delegate=yes` and, if so,
/// leaves it there.
pub fn place_in_scope(name: &str, pid: u32, reuse_delegated: bool) -> Result<Placed, SystemdError> {
    place_in_scope_at(&bus_address(), name, pid, reuse_delegated)
}

fn place_in_scope_at(
    address: &str,
    name: &str,
    pid: u32,
    reuse_delegated: bool,
) -> Result<Placed, SystemdError> {
    Connected::start(address, reuse_delegated)?.place(name, pid)
}

/// The scope asked for with `send`.
#[derive(Debug)]
struct Asked {
    name: String,
    pid: u32,
    /// The serial of its StartTransientUnit, when that went out at once.
    start: Option<u32>,
}

/// A connection to the user's bus, held by this process (`bus::Bus`: no
/// thread, no helper), on which the handshake, `Hello` and the match for
/// systemd's JobRemoved signals went out at once: started
/// early, its answers come while the caller does other work (a
/// foreground `run` resolves its image and writes its record meanwhile),
/// and `place` costs only the scope's job. Dropped unused, the socket is
/// closed and the bus forgets the match.
pub struct Connected {
    bus: super::bus::Bus,
    /// How long `place` waits, from its call (a pull may come between).
    limit: Duration,
    reuse_delegated: bool,
    /// The serial of AddMatch, whose answer is read by `place`.
    add_match: u32,
    asked: Option<Asked>,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected")
            .field("asked", &self.asked)
            .finish()
    }
}

/// A method call to systemd's manager.
fn manager_call<B>(member: &str, body: &B) -> Result<zbus::Message, BusError>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    zbus::Message::method_call(PATH, member)
        .and_then(|b| b.destination(DEST))
        .and_then(|b| b.interface(MANAGER))
        .and_then(|b| b.build(body))
        .map_err(call(member))
}

impl Connected {
    pub fn start(address: &str, reuse_delegated: bool) -> Result<Connected, SystemdError> {
        Connected::start_within(address, reuse_delegated, TIMEOUT)
    }

    fn start_within(
        address: &str,
        reuse_delegated: bool,
        limit: Duration,
    ) -> Result<Connected, SystemdError> {
        let mut bus = super::bus::Bus::open(address, limit)?;
        // No `Subscribe`: systemd sends a job's JobNew and JobRemoved to
        // the bus whenever the client that asked for the job is still
        // connected (it tracks the sender with the job), subscribed or
        // not. A subscriber would also have systemd build and send every
        // unit's PropertiesChanged, UnitNew and UnitRemoved while it is
        // connected: work for the user manager at each run, for nothing.
        // The match is in place before the job exists, so its end is not
        // missed however fast it comes. It names no sender: `place` takes
        // only the signals sent by whoever answered its call.
        let rule = format!("type='signal',path='{PATH}',interface='{MANAGER}',member='JobRemoved'");
        let add_match = zbus::Message::method_call("/org/freedesktop/DBus", "AddMatch")
            .and_then(|b| b.destination("org.freedesktop.DBus"))
            .and_then(|b| b.interface("org.freedesktop.DBus"))
            .and_then(|b| b.build(&(rule.as_str(),)))
            .map_err(call("AddMatch JobRemoved"))?;
        let add_match = bus.send(&add_match, "AddMatch JobRemoved")?;
        Ok(Connected {
            bus,
            limit,
            reuse_delegated,
            add_match,
            asked: None,
        })
    }

    /// Asks systemd for the scope `name` for `pid` now, without waiting:
    /// `place` then only hears the answer. (When a delegated unit may be
    /// used as it is, that is asked first, by `place`.)
    pub fn send(&mut self, name: &str, pid: u32) {
        let start = if self.reuse_delegated {
            None
        } else {
            // A failed write (the bus went away) is found again by
            // `place`, which then sends it once more and reports.
            start_scope_call(name, pid)
                .and_then(|m| self.bus.send(&m, "StartTransientUnit"))
                .ok()
        };
        self.asked = Some(Asked {
            name: name.to_string(),
            pid,
            start,
        });
    }

    /// Whether `send` was called.
    pub fn sent(&self) -> bool {
        self.asked.is_some()
    }

    /// Puts `pid` into the new scope `name` (or finds its unit delegated,
    /// as `place_in_scope` does) and waits for systemd's job to finish.
    /// After `send`, `name` and `pid` must be those sent.
    pub fn place(mut self, name: &str, pid: u32) -> Result<Placed, SystemdError> {
        let asked = match self.asked.take() {
            Some(a) => a,
            None => Asked {
                name: name.to_string(),
                pid,
                start: None,
            },
        };
        self.bus.wait_at_most(self.limit);
        self.bus.reply(self.add_match, "AddMatch JobRemoved")?;
        if self.reuse_delegated && unit_delegated(&mut self.bus, asked.pid)? {
            return Ok(Placed::AlreadyDelegated);
        }
        let start = match asked.start {
            Some(serial) => serial,
            None => {
                let msg = start_scope_call(&asked.name, asked.pid)?;
                self.bus.send(&msg, "StartTransientUnit")?
            }
        };
        wait_scope(&mut self.bus, start, &asked.name)?;
        Ok(Placed::InScope)
    }
}

/// Stops the scope `name` (systemd kills what is left in it). A scope that
/// no longer exists is no error.
pub fn stop_scope(name: &str) -> Result<(), SystemdError> {
    let name = name.to_string();
    in_helper(move || {
        let conn = connect(&bus_address())?;
        let manager = manager(&conn)?;
        match manager.call::<_, _, OwnedObjectPath>("StopUnit", &(name.as_str(), "replace")) {
            Ok(_) => Ok(()),
            Err(zbus::Error::MethodError(err, _, _))
                if err.as_str() == "org.freedesktop.systemd1.NoSuchUnit" =>
            {
                Ok(())
            }
            Err(e) => Err(call(format!("StopUnit {name}"))(e)),
        }
    })
}

/// Moves `pid` into `subcgroup` (`/container`) of the unit `unit`. systemd
/// can move a process of this user that the user cannot (its cgroup and
/// the target share no ancestor the user may write).
pub fn attach(unit: &str, subcgroup: &str, pid: u32) -> Result<(), SystemdError> {
    let (unit, subcgroup) = (unit.to_string(), subcgroup.to_string());
    in_helper(move || {
        let conn = connect(&bus_address())?;
        let manager = manager(&conn)?;
        manager
            .call::<_, _, ()>(
                "AttachProcessesToUnit",
                &(unit.as_str(), subcgroup.as_str(), vec![pid]),
            )
            .map_err(call(format!(
                "AttachProcessesToUnit {unit} {subcgroup} {pid}"
            )))
    })
}

fn connect(address: &str) -> Result<Connection, BusError> {
    zbus::blocking::connection::Builder::address(address)
        .and_then(|b| b.build())
        .map_err(|e| BusError::Unreachable {
            address: address.to_string(),
            detail: e.to_string(),
        })
}

fn manager(conn: &Connection) -> Result<Proxy<'_>, BusError> {
    Proxy::new(conn, DEST, PATH, MANAGER).map_err(call(MANAGER))
}

/// Whether the unit that holds `pid` is a scope or service with
/// `Delegate=yes`.
fn unit_delegated(bus: &mut super::bus::Bus, pid: u32) -> Result<bool, BusError> {
    let what = format!("GetUnitByPID {pid}");
    let serial = bus.send(&manager_call("GetUnitByPID", &(pid,))?, &what)?;
    let unit: OwnedObjectPath = bus
        .reply(serial, &what)?
        .body()
        .deserialize()
        .map_err(call(what))?;
    let mut property = |iface: &str, name: &str| -> Result<OwnedValue, BusError> {
        let what = format!("{name} of {unit}");
        let msg = zbus::Message::method_call(unit.as_str(), "Get")
            .and_then(|b| b.destination(DEST))
            .and_then(|b| b.interface("org.freedesktop.DBus.Properties"))
            .and_then(|b| b.build(&(iface, name)))
            .map_err(call(what.clone()))?;
        let serial = bus.send(&msg, &what)?;
        bus.reply(serial, &what)?
            .body()
            .deserialize::<OwnedValue>()
            .map_err(call(what))
    };
    let id = String::try_from(property("org.freedesktop.systemd1.Unit", "Id")?)
        .map_err(|e| call(format!("unit of pid {pid}"))(e.into()))?;
    let iface = if id.ends_with(".scope") {
        "org.freedesktop.systemd1.Scope"
    } else if id.ends_with(".service") {
        "org.freedesktop.systemd1.Service"
    } else {
        // Slices and others cannot hold processes with Delegate=.
        return Ok(false);
    };
    bool::try_from(property(iface, "Delegate")?)
        .map_err(|e| call(format!("Delegate of {id}"))(e.into()))
}

/// The StartTransientUnit call of the scope `name` holding `pid`.
fn start_scope_call(name: &str, pid: u32) -> Result<zbus::Message, BusError> {
    let props: Vec<(&str, Value)> = vec![
        ("Description", Value::from("burrow container")),
        ("PIDs", Value::from(vec![pid])),
        ("Delegate", Value::from(true)),
        // A failed scope is collected too: the name is free again.
        ("CollectMode", Value::from("inactive-or-failed")),
    ];
    let aux: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
    manager_call("StartTransientUnit", &(name, "fail", props, aux))
        .map_err(|e| retitle(e, format!("StartTransientUnit {name}")))
}

fn retitle(e: BusError, title: String) -> BusError {
    match e {
        BusError::Call { detail, .. } => BusError::Call {
            call: title,
            detail,
        },
        other => other,
    }
}

/// Waits for the end of the job that StartTransientUnit (of serial
/// `start`) answered with, by the JobRemoved signal its sender sends.
fn wait_scope(bus: &mut super::bus::Bus, start: u32, name: &str) -> Result<(), BusError> {
    let what = format!("StartTransientUnit {name}");
    let reply = bus.reply(start, &what)?;
    let job: OwnedObjectPath = reply.body().deserialize().map_err(call(what))?;
    let systemd = reply.header().sender().map(|s| s.to_string());
    loop {
        let msg = bus.next_signal(name)?;
        let header = msg.header();
        if header.sender().map(|s| s.to_string()) != systemd
            || header.member().map(|m| m.as_str()) != Some("JobRemoved")
        {
            continue;
        }
        let Ok((_, path, _, result)) = msg
            .body()
            .deserialize::<(u32, OwnedObjectPath, String, String)>()
        else {
            continue;
        };
        if path == job {
            return if result == "done" {
                Ok(())
            } else {
                Err(BusError::Job {
                    unit: name.to_string(),
                    result,
                })
            };
        }
    }
}

/// Runs `work` in a forked child and returns what it returned. The child
/// may start threads; this process gains none.
fn in_helper<T, F>(work: F) -> Result<T, SystemdError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, BusError>,
{
    let how = Fork {
        // The child only talks D-Bus and exits; the caller may have threads.
        single_threaded: false,
        timeout: Some(TIMEOUT),
        ..Fork::new("the D-Bus helper")
    };
    Ok(run_forked(how, work)??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_runs_in_another_process_and_returns_its_answer() {
        let got = in_helper(|| {
            // A thread started in the helper dies with the helper.
            std::thread::spawn(|| ()).join().unwrap();
            Ok((std::process::id(), vec![1, 2, 3]))
        });
        let (pid, list) = got.unwrap();
        assert_ne!(pid, std::process::id());
        assert_eq!(list, vec![1, 2, 3]);
        let err = in_helper::<(), _>(|| Err(BusError::Lost("x.scope".into()))).unwrap_err();
        assert!(
            matches!(&err, SystemdError::Bus(BusError::Lost(s)) if s == "x.scope"),
            "{err:?}"
        );
    }

    /// One message read from `stream` as a bus daemon reads it.
    fn read_message(stream: &mut std::os::unix::net::UnixStream) -> Option<zbus::Message> {
        use std::io::Read;
        let mut fixed = [0u8; 16];
        stream.read_exact(&mut fixed).ok()?;
        let word = |at: usize| u32::from_le_bytes(fixed[at..at + 4].try_into().unwrap()) as usize;
        let total = (16 + word(12)).next_multiple_of(8) + word(4);
        let mut bytes = fixed.to_vec();
        bytes.resize(total, 0);
        stream.read_exact(&mut bytes[16..]).ok()?;
        let ctxt = zbus::zvariant::serialized::Context::new_dbus(zbus::zvariant::Endian::Little, 0);
        // SAFETY: a whole message as zbus built it in this test's client.
        unsafe { zbus::Message::from_bytes(zbus::zvariant::serialized::Data::new(bytes, ctxt)) }
            .ok()
    }

    /// A user bus with systemd on it, as far as a scope goes: it answers
    /// the handshake and every call, AddMatch only after the call sent
    /// after it (replies need not come in the order of the calls),
    /// StartTransientUnit with job 7, whose JobRemoved it then sends,
    /// first as another client (which must be ignored) with `done`, then
    /// as systemd with `result`.
    /// Returns the bus's address and the names of the calls it heard.
    fn fake_systemd(
        dir: &std::path::Path,
        result: &'static str,
    ) -> (String, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{Read, Write};
        let path = dir.join("bus");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let thread = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut auth = Vec::new();
            while !auth.ends_with(b"BEGIN\r\n") {
                let mut b = [0u8; 1];
                s.read_exact(&mut b).unwrap();
                auth.push(b[0]);
            }
            assert!(auth.starts_with(b"\0AUTH EXTERNAL "), "{auth:?}");
            s.write_all(b"OK 0123456789abcdef0123456789abcdef\r\n")
                .unwrap();
            let mut heard = Vec::new();
            let mut held: Option<zbus::Message> = None;
            loop {
                // A held answer goes out with the next call's, or by
                // itself when no call comes soon (`place` without an
                // early `send` waits for it before asking for the scope).
                if let Some(late) = held.take() {
                    use std::os::fd::AsFd;
                    let mut fds = [nix::poll::PollFd::new(
                        s.as_fd(),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    if nix::poll::poll(&mut fds, 100u16).unwrap() == 0 {
                        s.write_all(late.data()).unwrap();
                    } else {
                        held = Some(late);
                    }
                }
                let Some(call) = read_message(&mut s) else {
                    break;
                };
                let member = call.header().member().unwrap().to_string();
                heard.push(member.clone());
                let reply = zbus::Message::method_return(&call.header())
                    .and_then(|b| b.sender(":1.0"))
                    .unwrap();
                let job = OwnedObjectPath::try_from("/org/freedesktop/systemd1/job/7").unwrap();
                let reply = match member.as_str() {
                    "Hello" => reply.build(&(":1.5",)),
                    "StartTransientUnit" => reply.build(&(job.clone(),)),
                    _ => reply.build(&()),
                }
                .unwrap();
                if member == "AddMatch" {
                    held = Some(reply);
                    continue;
                }
                s.write_all(reply.data()).unwrap();
                if let Some(late) = held.take() {
                    s.write_all(late.data()).unwrap();
                }
                if member == "StartTransientUnit" {
                    type Props = Vec<(String, OwnedValue)>;
                    let (name, ..): (String, String, Props, Vec<(String, Props)>) =
                        call.body().deserialize().unwrap();
                    for (sender, result) in [(":1.9", "done"), (":1.0", result)] {
                        let signal = zbus::Message::signal(PATH, MANAGER, "JobRemoved")
                            .and_then(|b| b.sender(sender))
                            .and_then(|b| b.build(&(7u32, job.clone(), name.as_str(), result)))
                            .unwrap();
                        s.write_all(signal.data()).unwrap();
                    }
                }
            }
            heard
        });
        (format!("unix:path={}", path.display()), thread)
    }

    #[test]
    fn a_scope_is_asked_for_on_a_connection_of_this_process_and_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let (address, bus) = fake_systemd(dir.path(), "done");
        let mut conn = Connected::start(&address, false).unwrap();
        assert!(!conn.sent());
        conn.send("burrow-x.scope", 42);
        assert!(conn.sent());
        assert_eq!(conn.place("burrow-x.scope", 42).unwrap(), Placed::InScope);
        assert_eq!(
            bus.join().unwrap(),
            ["Hello", "AddMatch", "StartTransientUnit"]
        );
    }

    #[test]
    fn a_failed_job_is_its_error_and_another_clients_signal_is_ignored() {
        // The fake bus first sends a JobRemoved "done" for the same job
        // from another sender: taking it would report success.
        let dir = tempfile::tempdir().unwrap();
        let (address, bus) = fake_systemd(dir.path(), "failed");
        let err = place_in_scope_at(&address, "burrow-y.scope", 43, false).unwrap_err();
        assert!(
            matches!(&err, SystemdError::Bus(BusError::Job { unit, result })
                if unit == "burrow-y.scope" && result == "failed"),
            "{err:?}"
        );
        drop(bus.join().unwrap());
    }

    #[test]
    fn a_bus_that_never_answers_is_given_up_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus");
        let _bus = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let address = format!("unix:path={}", path.display());
        let conn = Connected::start_within(&address, false, Duration::from_millis(200)).unwrap();
        let err = conn.place("burrow-z.scope", 44).unwrap_err();
        assert!(
            matches!(&err, SystemdError::Bus(BusError::Call { call, detail })
                if call == "AddMatch JobRemoved" && detail.contains("no answer")),
            "{err:?}"
        );
    }

    #[test]
    fn an_unreachable_bus_is_an_error_naming_the_address() {
        let address = "unix:path=/nonexistent/burrow-test-bus";
        let err =
            place_in_scope_at(address, "burrow-test.scope", std::process::id(), true).unwrap_err();
        assert!(
            matches!(&err, SystemdError::Bus(BusError::Unreachable { address: a, .. })
                if a == address),
            "{err:?}"
        );
        assert!(err.to_string().contains("/nonexistent/burrow-test-bus"));
    }
}
