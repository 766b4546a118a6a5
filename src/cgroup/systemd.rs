//! The user's systemd manager over the user D-Bus: a transient scope with
//! `Delegate=yes` for a container, whether a unit is delegated, stopping
//! a scope. The D-Bus client (zbus) starts threads of its own, and the
//! caller must stay single-threaded to fork the sandbox later, so every
//! conversation happens in a short-lived forked helper process
//! (`crate::forked`) that reports back typed and exits.

use crate::forked::{run_forked, start, Fork, ForkError, Heard, Started};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::time::Duration;
use zbus::blocking::{Connection, MessageIterator, Proxy};
use zbus::zvariant::{OwnedObjectPath, Value};

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

/// What the D-Bus helper reports when systemd or the bus said no; it
/// crosses the process boundary as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
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

/// What the helper found out.
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

/// What the parent tells a connected helper: the scope to make and the
/// process to put in it.
#[derive(Debug, Serialize, Deserialize)]
struct Go {
    name: String,
    pid: u32,
}

/// A D-Bus helper that connects to the user's systemd and subscribes to
/// its job signals at once, then waits to be told which scope to make:
/// started early, its connection is made while the caller does other work
/// (a foreground `run` resolves its image and writes its record
/// meanwhile), and `place` costs only the scope's job. Dropped unused,
/// the helper is killed.
pub struct Connected {
    helper: Started<(), Placed, BusError>,
    /// Whether the helper was told its scope (`send`) already.
    sent: bool,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected")
            .field("helper", &self.helper.pid())
            .finish()
    }
}

impl Connected {
    pub fn start(address: &str, reuse_delegated: bool) -> Result<Connected, SystemdError> {
        let address = address.to_string();
        let how = Fork {
            // The child only talks D-Bus and exits; the caller may have threads.
            single_threaded: false,
            ..Fork::new("the D-Bus helper")
        };
        let helper = start(how, move |side| {
            let conn = connect(&address)?;
            let manager = manager(&conn)?;
            // Without a subscription the manager may not send job signals;
            // it ends with the connection.
            manager
                .call::<_, _, ()>("Subscribe", &())
                .map_err(call("Subscribe"))?;
            // The match is in place before the job exists, so its end is
            // not missed however fast it comes.
            let removed = job_removed(&conn)?;
            let Ok((go, _)) = side.reply::<Go>() else {
                return Err(BusError::Lost("a scope nobody asked for".into()));
            };
            if reuse_delegated && unit_delegated(&conn, go.pid)? {
                return Ok(Placed::AlreadyDelegated);
            }
            start_scope(&manager, removed, &go.name, go.pid).map(|()| Placed::InScope)
        })?;
        Ok(Connected {
            helper,
            sent: false,
        })
    }

    /// Tells the helper to make the scope `name` for `pid` now, without
    /// waiting for it: `place` then only hears the answer.
    pub fn send(&mut self, name: &str, pid: u32) {
        let go = Go {
            name: name.to_string(),
            pid,
        };
        // A helper that failed already (no bus) has closed its end: its
        // answer is read all the same, by `place`.
        let _ = self.helper.tell(&go, None);
        self.sent = true;
    }

    /// Whether `send` was called.
    pub fn sent(&self) -> bool {
        self.sent
    }

    /// Puts `pid` into the new scope `name` (or finds its unit delegated,
    /// as `place_in_scope` does) and waits for systemd's job to finish.
    /// After `send`, `name` and `pid` must be those sent.
    pub fn place(mut self, name: &str, pid: u32) -> Result<Placed, SystemdError> {
        if !self.sent {
            self.send(name, pid);
        }
        match self.helper.hear_within(TIMEOUT)? {
            Heard::Done(answer) => Ok(answer?),
            Heard::Step((), _) => Err(BusError::Lost(name.to_string()).into()),
        }
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

fn unit_delegated(conn: &Connection, pid: u32) -> Result<bool, BusError> {
    let manager = manager(conn)?;
    let unit: OwnedObjectPath = manager
        .call("GetUnitByPID", &(pid,))
        .map_err(call(format!("GetUnitByPID {pid}")))?;
    let props = |iface: &'static str| {
        Proxy::new(conn, DEST, unit.clone(), iface).map_err(call(format!("{iface} of {unit}")))
    };
    let id: String = props("org.freedesktop.systemd1.Unit")?
        .get_property("Id")
        .map_err(call(format!("unit of pid {pid}")))?;
    let iface = if id.ends_with(".scope") {
        "org.freedesktop.systemd1.Scope"
    } else if id.ends_with(".service") {
        "org.freedesktop.systemd1.Service"
    } else {
        // Slices and others cannot hold processes with Delegate=.
        return Ok(false);
    };
    let delegated = props(iface)?
        .get_property::<bool>("Delegate")
        .map_err(call(format!("Delegate of {id}")));
    delegated
}

/// The manager's JobRemoved signals, by one AddMatch that names no
/// sender: a proxy's signal stream would also ask the bus who owns
/// systemd's name and watch that owner change, two round trips more
/// before the scope can be asked for. `start_scope` takes only the
/// signals sent by whoever answered its call.
fn job_removed(conn: &Connection) -> Result<MessageIterator, BusError> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .path(PATH)
        .and_then(|b| b.interface(MANAGER))
        .and_then(|b| b.member("JobRemoved"))
        .map_err(call("JobRemoved"))?
        .build();
    MessageIterator::for_match_rule(rule, conn, None).map_err(call("JobRemoved"))
}

fn start_scope(
    manager: &Proxy<'_>,
    removed: MessageIterator,
    name: &str,
    pid: u32,
) -> Result<(), BusError> {
    let props: Vec<(&str, Value)> = vec![
        ("Description", Value::from("burrow container")),
        ("PIDs", Value::from(vec![pid])),
        ("Delegate", Value::from(true)),
        // A failed scope is collected too: the name is free again.
        ("CollectMode", Value::from("inactive-or-failed")),
    ];
    let aux: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
    let started = || call(format!("StartTransientUnit {name}"));
    let reply = manager
        .call_method("StartTransientUnit", &(name, "fail", props, aux))
        .map_err(started())?;
    let job: OwnedObjectPath = reply.body().deserialize().map_err(started())?;
    let systemd = reply.header().sender().map(|s| s.to_owned());
    // The helper exits right after: the bus drops its match then, with no
    // RemoveMatch round trip for the iterator's drop.
    let mut removed = std::mem::ManuallyDrop::new(removed);
    for msg in removed.by_ref() {
        let Ok(msg) = msg else {
            continue;
        };
        if msg.header().sender().map(|s| s.to_owned()) != systemd {
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
    Err(BusError::Lost(name.to_string()))
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

    #[test]
    fn a_connected_helper_dropped_unused_is_ended() {
        // A bus that never answers: the helper waits in its handshake
        // until the run it was started for gives up on it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus");
        let _bus = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let helper = Connected::start(&format!("unix:path={}", path.display()), false).unwrap();
        let pid = helper.helper.pid().unwrap();
        let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists());
        drop(helper);
        assert!(!proc_dir.exists(), "the helper {pid} outlived its drop");
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
