//! cgroup v2 for containers: detection, a delegated subtree (a transient
//! scope from the user's systemd over D-Bus, or the delegated cgroup
//! burrow already runs in), limits, stats, freeze and kill. Knows nothing
//! of images, the CLI or the sandbox: `container` hands it an id, limits
//! and pids. It never writes to a cgroup it did not create, except to move
//! the processes of a delegated cgroup into a leaf of it.

mod bus;
pub mod detect;
mod facts;
pub mod limits;
pub mod stats;
mod systemd;

pub use detect::{probe, Probe};
pub use facts::{v2_path, CgroupFacts, Group, Layout};
pub use limits::{Controller, DeviceRate, Limits, Swap};
pub use stats::Stats;

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The drop-in an admin adds so that systemd delegates every controller
/// burrow can use to users.
pub const DELEGATE_DROP_IN: &str = "/etc/systemd/system/user@.service.d/delegate.conf";
pub const DELEGATE_DROP_IN_TEXT: &str = "[Service]\nDelegate=cpu cpuset io memory pids";

/// Leaf names inside the cgroup burrow makes for a container.
const CONTAINER_LEAF: &str = "container";
const SUPERVISOR_LEAF: &str = "supervisor";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{flag} needs cgroup v2 resource control, which is not available: {why}")]
    Unavailable { flag: &'static str, why: String },

    #[error(
        "{flag} needs the cgroup controller `{controller}`, which is not delegated to you \
         (available in {}: {}); an admin can delegate it with {DELEGATE_DROP_IN} containing \
         \"{}\", then `systemctl daemon-reload` and a new login",
        .cgroup.display(),
        if .available.is_empty() { "none".to_string() } else { .available.join(" ") },
        DELEGATE_DROP_IN_TEXT.replace('\n', "\\n")
    )]
    NotDelegated {
        flag: &'static str,
        controller: Controller,
        cgroup: PathBuf,
        available: Vec<String>,
    },

    #[error(transparent)]
    Limit(#[from] limits::LimitError),

    #[error("{flag}: the kernel offers none of {files} in {}", .cgroup.display())]
    NoSuchFile {
        flag: &'static str,
        files: String,
        cgroup: PathBuf,
    },

    #[error("{flag}: writing {value:?} to {}: {source}", .path.display())]
    Write {
        flag: &'static str,
        path: PathBuf,
        value: String,
        source: io::Error,
    },

    #[error("{op} {}: {source}", .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("asking your systemd for a delegated cgroup: {0}")]
    Systemd(#[from] systemd::SystemdError),

    #[error("systemd put burrow in {}, not in the scope {scope} it asked for", .found.display())]
    WrongScope { scope: String, found: PathBuf },

    #[error("{} did not become {state} within {secs}s", .path.display())]
    Timeout {
        path: PathBuf,
        state: &'static str,
        secs: u64,
    },
}

/// What `create` made.
#[derive(Debug)]
pub enum Setup {
    Ready(Cgroup),
    /// No usable cgroup v2 and no limit asked for: the container runs
    /// without; the reason, for a note.
    Without(String),
}

/// A container's cgroup, as recorded with the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    /// The leaf that holds the container's processes and its limits.
    pub path: PathBuf,
    /// What burrow made for the container and removes with it: the
    /// systemd scope `burrow-<id>.scope`, or `burrow-<id>` inside an
    /// already delegated cgroup.
    pub unit: PathBuf,
    /// The scope's unit name, when systemd made it.
    pub scope: Option<String>,
}

/// Makes the cgroup of container `id`, moves this process (the
/// container's supervisor) into a leaf of it, and writes `limits` to the
/// container's leaf. Without cgroup v2 or delegation this is an error
/// when a limit was asked for, and `Setup::Without` otherwise.
///
/// Call it from the single-threaded supervisor, before the sandbox
/// forks: the D-Bus conversation starts no thread in this process.
pub fn create(id: &str, limits: &Limits) -> Result<Setup, CgroupError> {
    create_with(id, limits, None)
}

/// The D-Bus connection of a scope, opened to the user's systemd ahead of
/// `create_with`: a foreground `run` opens it first, so that the bus and
/// systemd answer while the image is resolved and the container
/// recorded.
#[derive(Debug)]
pub struct EarlyScope(systemd::Connected);

/// Opens the connection that `create` would ask systemd for a scope through,
/// when it would (a unified hierarchy, a user manager, no delegated cgroup
/// of a system service); `None` otherwise, or when it cannot start (then
/// `create` tries again and reports).
pub fn prepare_scope() -> Option<EarlyScope> {
    let p = probe();
    // As `create_with` decides: a delegated system service's cgroup is
    // used in place, with no D-Bus.
    let in_place = p.own_writable && !p.under_user_manager;
    let asks_systemd =
        p.layout == Layout::Unified && p.own.is_some() && !in_place && p.user_manager.is_some();
    if !asks_systemd {
        return None;
    }
    systemd::Connected::start(&systemd::bus_address(), p.own_writable)
        .ok()
        .map(EarlyScope)
}

impl EarlyScope {
    /// Asks systemd now for the scope of container `id`, with this process
    /// in it, while the caller goes on: `create_with` then only hears the
    /// answer. A process this one starts from now on may be born in the
    /// scope, which `create_with` gathers into its supervisor leaf: only a
    /// process that belongs to this container may be started meanwhile
    /// (never the shared user namespace's holder).
    pub fn start_for(&mut self, id: &str) {
        self.0
            .send(&format!("burrow-{id}.scope"), std::process::id());
    }

    /// Whether `start_for` asked for the scope already.
    pub fn started(&self) -> bool {
        self.0.sent()
    }
}

/// `create`, with the scope's helper started early by `prepare_scope`.
pub fn create_with(
    id: &str,
    limits: &Limits,
    early: Option<EarlyScope>,
) -> Result<Setup, CgroupError> {
    let writes = limits.writes(limits::device_numbers)?;
    let asked = limits.controllers().first().map(|(flag, _)| *flag);
    let unavailable = |why: String| match asked {
        None => Ok(Setup::Without(why)),
        Some(flag) => Err(CgroupError::Unavailable { flag, why }),
    };
    let scope_name = format!("burrow-{id}.scope");
    // A scope asked for early is waited for first, so that the probe sees
    // this process where systemd put it.
    let early = early.map(|EarlyScope(helper)| helper.place(&scope_name, std::process::id()));
    let p = probe();
    if p.layout != Layout::Unified {
        return unavailable(match p.layout {
            Layout::Missing => "no cgroup file system is mounted at /sys/fs/cgroup".into(),
            other => format!("the cgroup layout here is {other}"),
        });
    }
    let Some(own) = p.own.clone() else {
        return unavailable("/proc/self/cgroup names no cgroup v2 path".into());
    };
    let (unit, scope) = if p.own_writable && !p.under_user_manager {
        // A system service with Delegate=yes, a CI job's cgroup: ours.
        (in_place(&own, id)?, None)
    } else if p.user_manager.is_none() {
        return unavailable(format!(
            "your cgroup {} is not delegated to you, and no systemd user manager \
             (user@{}.service) runs for you to ask for one",
            own.display(),
            rustix::process::getuid().as_raw()
        ));
    } else {
        // Inside the user manager a writable cgroup may still be systemd's
        // own; only a unit with Delegate=yes may be used as it is.
        let placed = match early {
            Some(placed) => placed,
            None => systemd::place_in_scope(&scope_name, std::process::id(), p.own_writable),
        };
        match placed {
            Ok(systemd::Placed::AlreadyDelegated) => (in_place(&own, id)?, None),
            Ok(systemd::Placed::InScope) => (in_new_scope(&scope_name)?, Some(scope_name)),
            Err(why) => return unavailable(why.to_string()),
        }
    };
    let cg = Cgroup {
        path: unit.join(CONTAINER_LEAF),
        unit,
        scope,
    };
    match cg.finish(limits, &writes) {
        Ok(()) => Ok(Setup::Ready(cg)),
        Err(e) => {
            cg.discard();
            Err(e)
        }
    }
}

/// This process's cgroup as the kernel says it now.
fn own_cgroup() -> Result<PathBuf, CgroupError> {
    let path = Path::new("/proc/self/cgroup");
    let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Io {
        op: "read",
        path: path.into(),
        source,
    })?;
    detect::unified_path(&text)
        .map(|rel| detect::join(Path::new(detect::MOUNT), &rel))
        .ok_or_else(|| CgroupError::Io {
            op: "find the cgroup v2 entry in",
            path: path.into(),
            source: io::ErrorKind::NotFound.into(),
        })
}

/// Inside the scope systemd just made for this process: move into a leaf
/// so that the scope itself holds no process (cgroup v2 gives controllers
/// only to the children of a cgroup without processes of its own).
fn in_new_scope(scope_name: &str) -> Result<PathBuf, CgroupError> {
    let scope = own_cgroup()?;
    if scope.file_name().and_then(|n| n.to_str()) != Some(scope_name) {
        return Err(CgroupError::WrongScope {
            scope: scope_name.into(),
            found: scope,
        });
    }
    let leaf = scope.join(SUPERVISOR_LEAF);
    mkdir(&leaf)?;
    let me = std::process::id() as i32;
    write_file(&leaf.join("cgroup.procs"), &me.to_string())?;
    // A scope asked for early (`EarlyScope::start_for`) may also hold what
    // this process started after systemd moved it: this container's own
    // helpers, which belong in the same leaf.
    for pid in read_pids(&scope) {
        if pid != me {
            // Gone meanwhile: nothing to move.
            let _ = write_file(&leaf.join("cgroup.procs"), &pid.to_string());
        }
    }
    Ok(scope)
}

/// In a cgroup already delegated to this process: gather its processes in
/// a leaf (the same rule), and make `burrow-<id>` beside that leaf.
fn in_place(own: &Path, id: &str) -> Result<PathBuf, CgroupError> {
    // A process started from a supervisor leaf burrow made earlier is born
    // there: build beside it, not below it.
    let base = match own.parent() {
        Some(parent)
            if own.file_name().is_some_and(|n| n == SUPERVISOR_LEAF)
                && parent.join("cgroup.subtree_control").exists()
                && read_pids(parent).is_empty() =>
        {
            parent.to_path_buf()
        }
        _ => own.to_path_buf(),
    };
    let procs = read_pids(&base);
    if !procs.is_empty() {
        let leaf = base.join(SUPERVISOR_LEAF);
        mkdir(&leaf)?;
        let me = std::process::id() as i32;
        for pid in procs {
            match write_file(&leaf.join("cgroup.procs"), &pid.to_string()) {
                Ok(()) => {}
                // Gone meanwhile, or not ours to move: the controllers
                // then stay off, which the limit check reports.
                Err(_) if pid != me => {}
                Err(e) => return Err(e),
            }
        }
    }
    enable_controllers(&base);
    let unit = base.join(format!("burrow-{id}"));
    mkdir(&unit)?;
    Ok(unit)
}

/// Turns on in `dir`'s children every controller `dir` has; one at a time,
/// so that one the kernel refuses does not take the others with it.
fn enable_controllers(dir: &Path) {
    let on = detect::read_list(&dir.join("cgroup.subtree_control"));
    for c in detect::controllers(dir) {
        if !on.contains(&c) {
            let _ = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"));
        }
    }
}

impl Cgroup {
    fn finish(&self, limits: &Limits, writes: &[limits::Write]) -> Result<(), CgroupError> {
        enable_controllers(&self.unit);
        let enabled = detect::read_list(&self.unit.join("cgroup.subtree_control"));
        check_delegated(limits, &enabled, &self.unit)?;
        mkdir(&self.path)?;
        apply(&self.path, writes)
    }

    /// Undoes a half-made cgroup (this process is in it, in scope mode:
    /// the scope goes when this process exits).
    fn discard(&self) {
        let _ = std::fs::remove_dir(&self.path);
        if self.scope.is_none() {
            let _ = std::fs::remove_dir(&self.unit);
        }
    }

    /// Moves process `pid` into the container's cgroup. From outside the
    /// scope (an `exec` started in the user's terminal) the kernel wants a
    /// writable common ancestor, which only systemd has: it is asked then.
    pub fn join(&self, pid: i32) -> Result<(), CgroupError> {
        match write_file(&self.path.join("cgroup.procs"), &pid.to_string()) {
            Err(CgroupError::Io { source, .. })
                if source.kind() == io::ErrorKind::PermissionDenied && self.scope.is_some() =>
            {
                let scope = self.scope.as_deref().unwrap_or_default();
                systemd::attach(scope, &format!("/{CONTAINER_LEAF}"), pid as u32)
                    .map_err(CgroupError::Systemd)
            }
            other => other,
        }
    }

    /// Writes new limits (`burrow update`).
    pub fn update(&self, limits: &Limits) -> Result<(), CgroupError> {
        let writes = limits.writes(limits::device_numbers)?;
        let enabled = detect::controllers(&self.path);
        check_delegated(limits, &enabled, &self.path)?;
        apply(&self.path, &writes)
    }

    pub fn stats(&self) -> Stats {
        Stats::read(&self.path)
    }

    /// The kernel's OOM killer has killed a process in the container.
    pub fn oom_killed(&self) -> bool {
        let text = std::fs::read_to_string(self.path.join("memory.events")).unwrap_or_default();
        stats::oom_kills(&text) > 0
    }

    pub fn exists(&self) -> bool {
        self.path.join("cgroup.procs").exists()
    }

    /// Freezes every process of the container and waits until the kernel
    /// says they are.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    pub fn frozen(&self) -> bool {
        events(&self.path).get("frozen") == Some(&1)
    }

    fn set_frozen(&self, on: bool) -> Result<(), CgroupError> {
        let freeze = self.path.join("cgroup.freeze");
        if !on {
            write_file(&freeze, "0")?;
            return self.wait_for("frozen", 0, "thawed", Duration::from_secs(10));
        }
        // A process waiting for its vfork child to exec cannot freeze
        // until the child runs, and a frozen child never does: such a
        // cgroup never reads as frozen. Thawing for a moment lets the
        // child get on; then freeze again, for up to 10 s in all.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            write_file(&freeze, "1")?;
            let attempt = self.wait_for("frozen", 1, "frozen", Duration::from_millis(500));
            if attempt.is_ok() || Instant::now() >= deadline {
                return attempt.map_err(|_| CgroupError::Timeout {
                    path: self.path.clone(),
                    state: "frozen",
                    secs: 10,
                });
            }
            write_file(&freeze, "0")?;
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every process in the container's cgroup and below.
    pub fn pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        let mut dirs = vec![self.path.clone()];
        while let Some(d) = dirs.pop() {
            out.extend(read_pids(&d));
            dirs.extend(subdirs(&d));
        }
        out
    }

    /// SIGKILL to every process of the container, frozen or not.
    pub fn kill(&self) -> Result<(), CgroupError> {
        let file = self.path.join("cgroup.kill");
        if file.exists() {
            return write_file(&file, "1");
        }
        // Before Linux 5.14: freeze, so nothing forks between the list
        // and the kill, then kill each and thaw so they can die.
        let _ = self.freeze();
        for pid in self.pids() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        self.thaw()
    }

    /// After the container has exited: removes its leaf (and, outside a
    /// scope, the unit). A scope goes by itself when its last process,
    /// the supervisor, exits.
    pub fn release(&self) -> Result<(), CgroupError> {
        if self.path.exists() {
            remove_tree(&self.path)?;
        }
        if self.scope.is_none() && self.unit.exists() {
            remove_tree(&self.unit)?;
        }
        Ok(())
    }

    /// `burrow rm`: kills what is left, removes the cgroups and stops the
    /// scope if its supervisor did not end it.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        if self.exists() {
            self.kill()?;
            self.wait_for("populated", 0, "empty", Duration::from_secs(10))?;
        }
        self.release()?;
        if let Some(scope) = &self.scope {
            let deadline = Instant::now() + Duration::from_secs(3);
            while self.unit.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let mine = own_cgroup().is_ok_and(|own| own.starts_with(&self.unit));
            if self.unit.exists() && !mine {
                systemd::stop_scope(scope).map_err(CgroupError::Systemd)?;
            }
        }
        Ok(())
    }

    fn wait_for(
        &self,
        key: &str,
        value: u64,
        state: &'static str,
        limit: Duration,
    ) -> Result<(), CgroupError> {
        let deadline = Instant::now() + limit;
        loop {
            let ev = events(&self.path);
            // A leaf removed meanwhile is empty, and nothing in it is frozen.
            if ev.get(key).copied().unwrap_or(0) == value {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(CgroupError::Timeout {
                    path: self.path.clone(),
                    state,
                    secs: limit.as_secs().max(1),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn check_delegated(limits: &Limits, enabled: &[String], cgroup: &Path) -> Result<(), CgroupError> {
    for (flag, controller) in limits.controllers() {
        if !enabled.iter().any(|c| c == controller.name()) {
            return Err(CgroupError::NotDelegated {
                flag,
                controller,
                cgroup: cgroup.to_path_buf(),
                available: enabled.to_vec(),
            });
        }
    }
    Ok(())
}

fn apply(leaf: &Path, writes: &[limits::Write]) -> Result<(), CgroupError> {
    for w in writes {
        let mut there = w.files.iter().filter(|(f, _)| leaf.join(f).exists());
        let Some(first) = there.next() else {
            if w.implied {
                continue;
            }
            return Err(CgroupError::NoSuchFile {
                flag: w.flag,
                files: w
                    .files
                    .iter()
                    .map(|(f, _)| *f)
                    .collect::<Vec<_>>()
                    .join(" or "),
                cgroup: leaf.to_path_buf(),
            });
        };
        // A disk's own weight is taken by the file of the policy that
        // disk runs (bfq's or iocost's): the next is tried when one
        // refuses, and the first refusal is the error.
        let write = |(file, value): &(&str, String)| {
            let path = leaf.join(file);
            std::fs::write(&path, value).map_err(|source| CgroupError::Write {
                flag: w.flag,
                path,
                value: value.clone(),
                source,
            })
        };
        if let Err(e) = write(first) {
            if !there.any(|alt| write(alt).is_ok()) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// `cgroup.events` as key → value.
fn events(dir: &Path) -> std::collections::HashMap<String, u64> {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn read_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// rmdir of a cgroup and the cgroups the container made below it, deepest
/// first (cgroup directories hold no files to delete).
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    for sub in subdirs(dir) {
        remove_tree(&sub)?;
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(CgroupError::Io {
            op: "remove the cgroup",
            path: dir.into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn mkdir(dir: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(CgroupError::Io {
            op: "create the cgroup",
            path: dir.into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|source| CgroupError::Io {
        op: "write",
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_controller_is_named_with_the_admins_fix() {
        let limits = Limits {
            cpuset_cpus: Some("0".into()),
            ..Limits::default()
        };
        let err = check_delegated(
            &limits,
            &["cpu".into(), "memory".into(), "pids".into()],
            Path::new("/sys/fs/cgroup/x"),
        )
        .unwrap_err();
        let msg = err.to_string();
        for part in [
            "--cpuset-cpus",
            "`cpuset`",
            "cpu memory pids",
            DELEGATE_DROP_IN,
            "Delegate=cpu cpuset io memory pids",
        ] {
            assert!(msg.contains(part), "{part:?} missing in {msg}");
        }
        assert!(check_delegated(&limits, &["cpuset".into()], Path::new("/")).is_ok());
    }

    #[test]
    fn limits_go_to_the_first_file_the_kernel_has() {
        let leaf = tempfile::tempdir().unwrap();
        std::fs::write(leaf.path().join("io.weight"), "").unwrap();
        std::fs::write(leaf.path().join("memory.max"), "").unwrap();
        let limits = Limits {
            memory: Some(64 << 20),
            blkio_weight: Some(1000),
            ..Limits::default()
        };
        let writes = limits
            .writes(|_| Err(limits::DeviceError::NotBlock))
            .unwrap();
        // memory.swap.max is missing: implied by --memory, so skipped.
        apply(leaf.path(), &writes).unwrap();
        let read = |f: &str| std::fs::read_to_string(leaf.path().join(f)).unwrap();
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("io.weight"), "default 10000");
        // An explicit --memory-swap where the kernel has no swap file.
        let swap = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(Swap::Unlimited),
            ..Limits::default()
        };
        let err = apply(
            leaf.path(),
            &swap.writes(|_| Err(limits::DeviceError::NotBlock)).unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("memory.swap.max"), "{err}");
    }

    #[test]
    fn a_disks_weight_goes_to_the_next_file_when_the_first_refuses_it() {
        let leaf = tempfile::tempdir().unwrap();
        // bfq's file is there but refuses (a directory: EISDIR), as the
        // kernel's does for a disk bfq does not schedule.
        std::fs::create_dir(leaf.path().join("io.bfq.weight")).unwrap();
        std::fs::write(leaf.path().join("io.weight"), "").unwrap();
        let limits = Limits {
            blkio_weight_device: vec![limits::parse_device_weight("/dev/vda:1000").unwrap()],
            ..Limits::default()
        };
        let writes = limits.writes(|_| Ok((254, 0))).unwrap();
        apply(leaf.path(), &writes).unwrap();
        let read = std::fs::read_to_string(leaf.path().join("io.weight")).unwrap();
        assert_eq!(read, "254:0 10000");
        // Neither takes it: the first refusal, naming the flag and file.
        std::fs::remove_file(leaf.path().join("io.weight")).unwrap();
        std::fs::create_dir(leaf.path().join("io.weight")).unwrap();
        let err = apply(leaf.path(), &writes).unwrap_err().to_string();
        assert!(err.contains("--blkio-weight-device"), "{err}");
        assert!(err.contains("io.bfq.weight"), "{err}");
    }

    #[test]
    fn in_place_gathers_processes_in_a_leaf_and_builds_beside_it_later() {
        // A stand-in for a delegated cgroup: plain files, so only the
        // directory layout is checked here (the VM suite does it for real).
        let tmp = tempfile::tempdir().unwrap();
        let svc = tmp.path().join("run-u0.service");
        std::fs::create_dir(&svc).unwrap();
        std::fs::write(svc.join("cgroup.procs"), "4242\n").unwrap();
        std::fs::write(svc.join("cgroup.subtree_control"), "").unwrap();
        let unit = in_place(&svc, "abc").unwrap();
        assert_eq!(unit, svc.join("burrow-abc"));
        let moved = std::fs::read_to_string(svc.join("supervisor/cgroup.procs")).unwrap();
        assert_eq!(moved, "4242");
        // The next run starts in that leaf; the service has no process left.
        std::fs::write(svc.join("cgroup.procs"), "").unwrap();
        let unit = in_place(&svc.join("supervisor"), "def").unwrap();
        assert_eq!(unit, svc.join("burrow-def"));
        assert!(!svc.join("supervisor/supervisor").exists());
    }

    #[test]
    fn without_cgroup_v2_no_limit_means_running_without() {
        if probe().layout == Layout::Unified {
            eprintln!("SKIP: this machine has cgroup v2; the VM suite covers it");
            return;
        }
        match create("0123456789ab", &Limits::default()) {
            Ok(Setup::Without(why)) => assert!(why.contains("cgroup"), "{why}"),
            other => panic!("{other:?}"),
        }
        let err = create(
            "0123456789ab",
            &Limits {
                memory: Some(10 << 20),
                ..Limits::default()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("--memory needs cgroup v2"),
            "{err}"
        );
    }
}
