//! The user's systemd manager over the user D-Bus: a transient scope with
//! `Delegate=yes` for a container, whether a unit is delegated, stopping
//! a scope. The D-Bus client (zbus) starts threads of its own, and the
//! caller must stay single-threaded to fork the sandbox later, so every
//! conversation happens in a short-lived forked helper process that
//! reports back over a pipe and exits.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{OwnedObjectPath, Value};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// How long a whole conversation may take, job included; systemd answers
/// in milliseconds on a real machine, in a second under emulation.
const TIMEOUT: Duration = Duration::from_secs(60);

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
pub fn place_in_scope(name: &str, pid: u32, reuse_delegated: bool) -> Result<Placed, String> {
    place_in_scope_at(&bus_address(), name, pid, reuse_delegated)
}

fn place_in_scope_at(
    address: &str,
    name: &str,
    pid: u32,
    reuse_delegated: bool,
) -> Result<Placed, String> {
    let (name, address) = (name.to_string(), address.to_string());
    in_helper(move || {
        let conn = connect(&address)?;
        if reuse_delegated && unit_delegated(&conn, pid)? {
            return Ok(Placed::AlreadyDelegated);
        }
        start_scope(&conn, &name, pid)?;
        Ok(Placed::InScope)
    })
}

/// Stops the scope `name` (systemd kills what is left in it). A scope that
/// no longer exists is no error.
pub fn stop_scope(name: &str) -> Result<(), String> {
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
            Err(e) => Err(format!("StopUnit {name}: {e}")),
        }
    })
}

/// Moves `pid` into `subcgroup` (`/container`) of the unit `unit`. systemd
/// can move a process of this user that the user cannot (its cgroup and
/// the target share no ancestor the user may write).
pub fn attach(unit: &str, subcgroup: &str, pid: u32) -> Result<(), String> {
    let (unit, subcgroup) = (unit.to_string(), subcgroup.to_string());
    in_helper(move || {
        let conn = connect(&bus_address())?;
        let manager = manager(&conn)?;
        manager
            .call::<_, _, ()>(
                "AttachProcessesToUnit",
                &(unit.as_str(), subcgroup.as_str(), vec![pid]),
            )
            .map_err(|e| format!("AttachProcessesToUnit {unit} {subcgroup} {pid}: {e}"))
    })
}

fn connect(address: &str) -> Result<Connection, String> {
    zbus::blocking::connection::Builder::address(address)
        .and_then(|b| b.build())
        .map_err(|e| format!("cannot reach the user D-Bus at {address}: {e}"))
}

fn manager(conn: &Connection) -> Result<Proxy<'_>, String> {
    Proxy::new(conn, DEST, PATH, MANAGER).map_err(|e| e.to_string())
}

fn unit_delegated(conn: &Connection, pid: u32) -> Result<bool, String> {
    let manager = manager(conn)?;
    let unit: OwnedObjectPath = manager
        .call("GetUnitByPID", &(pid,))
        .map_err(|e| format!("GetUnitByPID {pid}: {e}"))?;
    let props = |iface: &'static str| {
        Proxy::new(conn, DEST, unit.clone(), iface).map_err(|e| e.to_string())
    };
    let id: String = props("org.freedesktop.systemd1.Unit")?
        .get_property("Id")
        .map_err(|e| format!("unit of pid {pid}: {e}"))?;
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
        .map_err(|e| format!("Delegate of {id}: {e}"));
    delegated
}

fn start_scope(conn: &Connection, name: &str, pid: u32) -> Result<(), String> {
    let manager = manager(conn)?;
    // Without a subscription the manager may not send job signals; it
    // ends with the connection.
    manager
        .call::<_, _, ()>("Subscribe", &())
        .map_err(|e| format!("Subscribe: {e}"))?;
    // The match is in place before the job exists, so its end is not
    // missed however fast it comes.
    let removed = manager
        .receive_signal("JobRemoved")
        .map_err(|e| format!("JobRemoved: {e}"))?;
    let props: Vec<(&str, Value)> = vec![
        ("Description", Value::from("burrow container")),
        ("PIDs", Value::from(vec![pid])),
        ("Delegate", Value::from(true)),
        // A failed scope is collected too: the name is free again.
        ("CollectMode", Value::from("inactive-or-failed")),
    ];
    let aux: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
    let job: OwnedObjectPath = manager
        .call("StartTransientUnit", &(name, "fail", props, aux))
        .map_err(|e| format!("StartTransientUnit {name}: {e}"))?;
    for msg in removed {
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
                Err(format!("systemd could not start {name}: job {result}"))
            };
        }
    }
    Err(format!("lost the user D-Bus while starting {name}"))
}

/// Runs `work` in a forked child and returns what it returned. The child
/// may start threads; this process gains none.
fn in_helper<T, F>(work: F) -> Result<T, String>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, String>,
{
    let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: fork duplicates only this thread; the child touches nothing
    // a lock held by another thread could guard except the allocator,
    // which glibc resets across fork, and it leaves with _exit.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(format!("fork of the D-Bus helper: {e}")),
        Ok(nix::unistd::ForkResult::Child) => {
            drop(read_end);
            let out: Result<T, String> = work();
            let text = serde_json::to_string(&out).unwrap_or_default();
            let mut f = std::fs::File::from(write_end);
            let code = i32::from(f.write_all(text.as_bytes()).is_err());
            // SAFETY: _exit skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(write_end);
            let text = read_with_deadline(read_end, Instant::now() + TIMEOUT);
            if text.is_none() {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = nix::sys::wait::waitpid(child, None);
            match text {
                None => Err(format!(
                    "no answer from the user's systemd within {}s",
                    TIMEOUT.as_secs()
                )),
                Some(t) if t.is_empty() => Err("the D-Bus helper died without an answer".into()),
                Some(t) => serde_json::from_str::<Result<T, String>>(&t)
                    .map_err(|e| format!("unreadable answer of the D-Bus helper: {e}"))?,
            }
        }
    }
}

/// Reads to EOF, or gives up (None) at the deadline.
fn read_with_deadline(fd: std::os::fd::OwnedFd, deadline: Instant) -> Option<String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut f = std::fs::File::from(fd);
    let mut buf = Vec::new();
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
            Ok(_) => {}
        }
        let mut chunk = [0u8; 4096];
        match f.read(&mut chunk) {
            Ok(0) => return Some(String::from_utf8_lossy(&buf).into_owned()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_runs_in_another_process_and_returns_its_answer() {
        let got: Result<(u32, Vec<u32>), String> = in_helper(|| {
            // A thread started in the helper dies with the helper.
            std::thread::spawn(|| ()).join().map_err(|_| "join")?;
            Ok((std::process::id(), vec![1, 2, 3]))
        });
        let (pid, list) = got.unwrap();
        assert_ne!(pid, std::process::id());
        assert_eq!(list, vec![1, 2, 3]);
        let err: Result<(), String> = in_helper(|| Err("no bus".into()));
        assert_eq!(err, Err("no bus".into()));
    }

    #[test]
    fn an_unreachable_bus_is_an_error_naming_the_address() {
        let address = "unix:path=/nonexistent/burrow-test-bus";
        let err =
            place_in_scope_at(address, "burrow-test.scope", std::process::id(), true).unwrap_err();
        assert!(err.contains("/nonexistent/burrow-test-bus"), "{err}");
    }
}
