//! Container records: one directory per container under the storage root's
//! `containers/`, holding its configuration, its state and its writable
//! layer. Names are unique (checked under a lock); ids are 64 hex digits and
//! any unique prefix names a container.
//!
//! A record knows its pid 1 by pid and start time, so a dead container is
//! told apart from a reused pid after a crash or a reboot.

use super::spec::{as_text, IpcMode, NsMode, RestartPolicy, UserMount};
use crate::image::Digest;
use crate::lockfile::{self, FileLock, LockKind};
use crate::net::{NetworkMode, PublishedPort};
use crate::sandbox::userns::IdMap;
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("corrupt container record {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("{input:?} matches more than one container ({ids}); give more of the id")]
    Ambiguous { input: String, ids: String },
    #[error("the name {name:?} is already in use by container {id}; remove it (`burrow rm {name}`) or choose another name")]
    NameTaken { name: String, id: String },
    #[error("invalid container name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    #[error(transparent)]
    Lock(#[from] lockfile::LockError),
    #[error("container {0} already has a supervisor")]
    Supervised(String),
}

type Result<T, E = RecordError> = std::result::Result<T, E>;

/// The file in a container's directory its supervisor holds locked (flock,
/// exclusive) for its whole life: a reader tells a live supervisor from a
/// killed one without waiting.
pub const SUPERVISOR_LOCK: &str = "supervisor.lock";

/// How long a live supervisor may take to record pid 1's exit before
/// `state` stops waiting for it (it drains the output first, 2 s at most).
const RECORDS_EXIT_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
    /// Its record cannot be read (a truncated `config.json` or
    /// `state.json`): shown, its name kept, removable with `rm -f`.
    Unknown,
}

/// What changes over a container's life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// Host pid of the container's pid 1, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Its start time (field 22 of /proc/PID/stat), to detect pid reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Which root filesystem driver was used: overlay, fuse-overlayfs, copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_driver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The container's cgroup, when it has one (cgroup v2, delegated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<crate::cgroup::Cgroup>,
    /// The limits it runs with: `run`'s flags, then `update`'s.
    #[serde(default, skip_serializing_if = "crate::cgroup::Limits::is_empty")]
    pub limits: crate::cgroup::Limits,
    /// The kernel's OOM killer killed a process of the container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
    /// The health check's state, when the container has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

impl State {
    /// A container made and not yet started.
    pub fn created() -> State {
        State {
            status: Status::Created,
            pid: None,
            pid_start: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
            rootfs_driver: None,
            error: None,
            cgroup: None,
            limits: Default::default(),
            oom_killed: false,
            health: None,
        }
    }
}

/// What is fixed when a container is created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// Unique among this user's containers; empty only in the stand-in for
    /// a damaged record that lost it.
    pub name: String,
    /// The image it was created from.
    pub image_id: Digest,
    /// The image as the user named it.
    pub image: String,
    /// When it was created: RFC 3339 with nanoseconds, UTC.
    pub created: String,
    /// The process and sandbox settings; `inspect` shows them as `Config`.
    pub config: ContainerConfig,
    /// The id map the container runs with.
    pub id_map: IdMap,
    /// `--rm`: removed when it exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// Where the supervisor's plan is kept when not beside this record: a
    /// foreground --rm container's lives and ends in the runtime dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_dir: Option<PathBuf>,
    /// The pod it belongs to, by id (`run --pod`; a pod's infra container
    /// too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

/// A container's settings as created, in docker's words: serialised with
/// docker's key names, it is both the record's `config` and `inspect`'s
/// `Config`. A key missing from an older record takes its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    /// The command line run as the container's process (entrypoint and
    /// command combined).
    pub cmd: Vec<String>,
    /// Its environment, `NAME=VALUE`, in order.
    pub env: Vec<String>,
    /// Its working directory inside the container.
    pub working_dir: String,
    /// The user it runs as, as given (`-u`, else the image's): a name, a
    /// uid, or `uid:gid`; empty for root.
    pub user: String,
    /// The container's host name.
    pub hostname: String,
    /// `-t`: it has a terminal.
    pub tty: bool,
    /// `-i`: its stdin is kept open.
    pub open_stdin: bool,
    /// docker's AttachStdin, AttachStdout, AttachStderr: the streams a
    /// foreground `run` connected, or `start -a` connects (`-a`, `-i`);
    /// none for `run -d`. A record from before them attached stdout and
    /// stderr.
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// `--init`: burrow's init is pid 1 and the command its child.
    pub init: bool,
    /// `--read-only`: its root filesystem is mounted read-only.
    pub read_only: bool,
    /// `-v`, `--mount`, `--tmpfs`, in the order applied.
    pub mounts: Vec<UserMount>,
    /// `--cap-add`, as given.
    pub cap_add: Vec<String>,
    /// `--cap-drop`, as given.
    pub cap_drop: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `--userns`, as given (`keep-id`); `None` for the default full map.
    pub userns_mode: Option<String>,
    /// `--network`.
    #[serde(with = "as_text")]
    pub network_mode: NetworkMode,
    /// `--ipc`, another container's by its full id (HostConfig).
    #[serde(with = "as_text", skip_serializing_if = "IpcMode::is_private")]
    pub ipc_mode: IpcMode,
    /// `--pid`, another container's by its full id (HostConfig).
    #[serde(with = "as_text", skip_serializing_if = "NsMode::is_private")]
    pub pid_mode: NsMode,
    /// `--uts`, another container's by its full id (HostConfig).
    #[serde(
        with = "as_text",
        rename = "UTSMode",
        skip_serializing_if = "NsMode::is_private"
    )]
    pub uts_mode: NsMode,
    /// The published ports, host ports as bound (a `-P` port's chosen
    /// number filled in).
    pub ports: Vec<PublishedPort>,
    /// `--restart`.
    #[serde(with = "as_text")]
    pub restart_policy: RestartPolicy,
    /// The signal `stop` sends first: the image's StopSignal, as a number.
    pub stop_signal: i32,
    /// The image's labels, then `--label`'s.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The image's EXPOSE, `--expose` and the published container ports,
    /// as docker's `{"80/tcp": {}}`.
    #[serde(
        skip_serializing_if = "std::collections::BTreeSet::is_empty",
        with = "port_set"
    )]
    pub exposed_ports: std::collections::BTreeSet<crate::net::ExposedPort>,
    /// `--ulimit`, one per resource (`inspect` shows it in HostConfig).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<super::spec::Rlimit>,
    /// `--shm-size` in bytes; 64 MiB when `None` (HostConfig).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    /// `--sysctl`, in order (HostConfig).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sysctls: Vec<(String, String)>,
    /// `--log-driver` and `--log-opt` (HostConfig).
    #[serde(skip_serializing_if = "super::spec::LogConfig::is_default")]
    pub log_config: super::spec::LogConfig,
    /// `--group-add`, as given (HostConfig).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// `--detach-keys` of `run`/`create`: what `attach` and `start -a`
    /// take without their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detach_keys: Option<super::spec::DetachKeys>,
    /// `--cgroupns` (HostConfig).
    #[serde(
        with = "as_text",
        skip_serializing_if = "super::spec::CgroupnsMode::is_private"
    )]
    pub cgroupns_mode: super::spec::CgroupnsMode,
    /// `--memory-swappiness`, recorded though not applied (HostConfig).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<u8>,
    /// `--device`, as given (HostConfig).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<super::spec::DeviceMapping>,
    /// `--annotation`s, which `inspect` shows in `HostConfig`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// `--mac-address`, as docker's config shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

impl Default for ContainerConfig {
    fn default() -> ContainerConfig {
        ContainerConfig {
            cmd: Vec::new(),
            env: Vec::new(),
            working_dir: "/".into(),
            user: String::new(),
            hostname: String::new(),
            tty: false,
            open_stdin: false,
            attach_stdin: false,
            attach_stdout: true,
            attach_stderr: true,
            init: false,
            read_only: false,
            mounts: Vec::new(),
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            no_new_privileges: false,
            privileged: false,
            userns_mode: None,
            network_mode: NetworkMode::User,
            ipc_mode: IpcMode::Private,
            pid_mode: NsMode::Private,
            uts_mode: NsMode::Private,
            ports: Vec::new(),
            restart_policy: RestartPolicy::No,
            stop_signal: libc::SIGTERM,
            labels: Default::default(),
            exposed_ports: Default::default(),
            ulimits: Vec::new(),
            shm_size: None,
            sysctls: Vec::new(),
            log_config: Default::default(),
            group_add: Vec::new(),
            detach_keys: None,
            cgroupns_mode: Default::default(),
            memory_swappiness: None,
            devices: Vec::new(),
            annotations: Default::default(),
            mac_address: None,
        }
    }
}

/// A set of ports as docker's config writes it: `{"80/tcp": {}}`.
mod port_set {
    use crate::net::ExposedPort;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::{BTreeMap, BTreeSet};

    pub fn serialize<S: Serializer>(
        ports: &BTreeSet<ExposedPort>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(ports.iter().map(|p| (p, serde_json::Map::new())))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<ExposedPort>, D::Error> {
        let map: BTreeMap<ExposedPort, serde::de::IgnoredAny> = BTreeMap::deserialize(d)?;
        Ok(map.into_keys().collect())
    }
}

/// A new container's `create` event, not in the journal yet
/// (`Containers::create_unannounced`): written by `announce`, or when it
/// is dropped, so that a start that fails on the way still has it.
#[must_use = "dropped, it is written at once"]
pub struct Unannounced {
    /// The storage root whose journal it goes to, and the event.
    journal: Option<(PathBuf, super::events::Event)>,
}

impl Unannounced {
    /// Writes the event now.
    pub fn announce(mut self) {
        self.write();
    }

    fn write(&mut self) {
        if let Some((root, event)) = self.journal.take() {
            super::events::record(&root, event);
        }
    }
}

impl Drop for Unannounced {
    fn drop(&mut self) {
        self.write();
    }
}

impl std::fmt::Debug for Unannounced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unannounced")
            .field("written", &self.journal.is_none())
            .finish()
    }
}

/// The container store: `containers/` under the storage root.
pub struct Containers {
    dir: PathBuf,
}

/// A held lock on the set of containers (names, creation, removal).
pub struct ContainersLock {
    _lock: FileLock,
}

impl Containers {
    pub fn open(storage_root: &Path) -> Result<Containers> {
        let dir = storage_root.join("containers");
        crate::image::store::make_private_dir(&dir).map_err(|source| RecordError::Io {
            what: "creating",
            path: dir.clone(),
            source,
        })?;
        Ok(Containers { dir })
    }

    /// The records under `storage_root`, without making its containers
    /// directory: a supervisor's (its container's is in it), or a reader's
    /// (`exec`), to which a missing one holds no container.
    pub fn at(storage_root: &Path) -> Containers {
        Containers {
            dir: storage_root.join("containers"),
        }
    }

    pub fn lock(&self) -> Result<ContainersLock> {
        let lock = lockfile::lock_file(&self.dir.join(".lock"), LockKind::Exclusive)?;
        Ok(ContainersLock { _lock: lock })
    }

    /// The storage root these records live under.
    pub fn storage_root(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Creates the record's directory and files. The caller holds `lock()`
    /// and has checked the name with `check_name`.
    pub fn create(&self, record: &Record, state: &State) -> Result<PathBuf> {
        let (dir, created) = self.create_unannounced(record, state)?;
        created.announce();
        Ok(dir)
    }

    /// `create`, with its `create` event returned unwritten, for the
    /// caller to write when it has the time (a foreground run: while the
    /// container's set-up runs, before its `start` event); dropped
    /// unwritten, it is written then.
    pub fn create_unannounced(
        &self,
        record: &Record,
        state: &State,
    ) -> Result<(PathBuf, Unannounced)> {
        let dir = self.dir_of(&record.id);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|source| RecordError::Io {
                what: "creating",
                path: dir.clone(),
                source,
            })?;
        // A container kept after it exits must survive a power cut; one
        // removed when it exits (--rm) is gone after a reboot anyway.
        write_json(&dir.join("config.json"), record, !record.auto_remove)?;
        // No state file says "created": the first state written is then a
        // new file, not one replaced, which ext4 would flush to disk at once.
        if *state != State::created() {
            write_json(&dir.join("state.json"), state, false)?;
        }
        // Stamped now, when the container was made, whenever it is written.
        let created = Unannounced {
            journal: self.dir.parent().map(|root| {
                (
                    root.to_path_buf(),
                    super::events::Event::new(
                        "container",
                        "create",
                        &record.id,
                        &[("name", &record.name), ("image", &record.image)],
                    ),
                )
            }),
        };
        Ok((dir, created))
    }

    /// Fails when `name` is taken or malformed.
    pub fn check_name(&self, name: &str) -> Result<()> {
        let ok = name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '_' | '.' | '-')));
        if name.is_empty() || !ok || name.len() > 128 {
            return Err(RecordError::BadName(name.to_string()));
        }
        if let Some((_, id)) = self.names()?.into_iter().find(|(n, _)| n == name) {
            return Err(RecordError::NameTaken {
                name: name.to_string(),
                id: id.get(..12).unwrap_or(&id).to_string(),
            });
        }
        Ok(())
    }

    /// A free name like docker's: adjective_noun.
    pub fn generate_name(&self) -> Result<String> {
        const ADJ: &[&str] = &[
            "brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry",
            "nimble", "proud", "quiet", "rapid", "sharp", "tidy", "vivid", "witty", "zesty",
            "bold", "crisp",
        ];
        const NOUN: &[&str] = &[
            "badger", "otter", "mole", "rabbit", "vole", "fox", "marmot", "hedgehog", "shrew",
            "wombat", "meerkat", "gopher", "ferret", "lemming", "dormouse", "chipmunk", "aardvark",
            "pangolin",
        ];
        let taken: Vec<String> = self.names()?.into_iter().map(|(n, _)| n).collect();
        for attempt in 0..64u32 {
            let r = random_u64();
            let mut name = format!(
                "{}_{}",
                ADJ[(r % ADJ.len() as u64) as usize],
                NOUN[((r >> 16) % NOUN.len() as u64) as usize]
            );
            if attempt >= 32 {
                name.push_str(&format!("{}", (r >> 32) % 100));
            }
            if !taken.contains(&name) {
                return Ok(name);
            }
        }
        Ok(format!("burrow_{}", &new_id()[..12]))
    }

    /// All records with their current state, oldest first.
    pub fn list(&self) -> Result<Vec<(Record, State)>> {
        let mut out = Vec::new();
        for record in self.records()? {
            match record {
                Ok(record) => {
                    let Ok(state) = self.state(&record.id) else {
                        continue;
                    };
                    out.push((record, state));
                }
                Err((record, note)) => {
                    let state = damaged(self, &record.id, note);
                    out.push((record, state));
                }
            }
        }
        Ok(out)
    }

    /// Every record's name and id, oldest first, with no state read (a
    /// damaged record's name stays taken): what `check_name` and
    /// `generate_name` need, under the containers' lock (see
    /// `records_alone`).
    pub fn names(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .records_alone()?
            .into_iter()
            .map(|r| (r.name, r.id))
            .collect())
    }

    /// Every record, oldest first, with no state read (a damaged one as
    /// salvaged): for a caller under the containers' lock that needs names
    /// or images alone. A state can wait (`state`) for a supervisor that
    /// waits for that lock to remove its `--rm` container.
    pub fn records_alone(&self) -> Result<Vec<Record>> {
        Ok(self
            .records()?
            .into_iter()
            .map(|l| match l {
                Ok(r) | Err((r, _)) => r,
            })
            .collect())
    }

    /// Whether `id`'s pid 1 runs now, by its recorded state and pid,
    /// without waiting for a supervisor to record an exit (a pid 1 that
    /// ended does not run); a state that cannot be read counts as running.
    /// For a caller under the containers' lock, as `records_alone`.
    pub fn running_now(&self, id: &str) -> bool {
        match self.read_state(id) {
            Ok((state, _)) => state.status == Status::Running,
            Err(_) => true,
        }
    }

    /// Every record, oldest first; one whose `config.json` does not parse
    /// as what `salvage` keeps of it, with the note saying why. A record
    /// being created or removed may lack its files (both are written by
    /// rename): it is skipped. A damaged one is listed, so that its name
    /// stays taken and `rm -f` can remove it.
    fn records(&self) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            // Never made (`Containers::at`): no container yet.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(RecordError::Io {
                    what: "listing",
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            match record_in(&e.path()) {
                Ok(record) => out.push(Ok(record)),
                Err(RecordError::Corrupt { path, detail }) => {
                    out.push(Err(salvage(&name, &path, &detail)))
                }
                Err(_) => continue,
            }
        }
        out.sort_by(|a, b| {
            let (a, b) = (listed(a), listed(b));
            a.created.cmp(&b.created).then(a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// Finds a container by name, full id or unique id prefix.
    pub fn find(&self, input: &str) -> Result<(Record, State)> {
        let all = self.list()?;
        let hit = pick(&all, input, |(r, _)| r)?;
        Ok(hit.clone())
    }

    /// `find`, with the state as recorded, not corrected, and no other
    /// container's state read: for a caller that checks pid 1 itself
    /// through a pidfd (`exec`), so that /proc is read once, or one under
    /// the containers' lock (`rename`, see `records_alone`). A damaged
    /// record reads as `Unknown`, as in `list`.
    pub fn find_recorded(&self, input: &str) -> Result<(Record, State)> {
        let all = self.records()?;
        match pick(&all, input, listed)? {
            Ok(r) => Ok((r.clone(), self.state_now(&r.id)?)),
            Err((r, note)) => Ok((r.clone(), damaged(self, &r.id, note.clone()))),
        }
    }

    /// The recorded state, corrected by what is really there: a "running"
    /// container whose pid 1 is gone (or is another process now) exited.
    /// A state file that does not parse reads as `Unknown`, saying why.
    pub fn state(&self, id: &str) -> Result<State> {
        let (state, lost) = self.read_state(id)?;
        if !lost {
            return Ok(state);
        }
        // pid 1 is gone and no exit is recorded. Lost only when its
        // supervisor is gone too: a live one reaps pid 1 and records the
        // exit a moment later (after the last of the output), and is
        // waited for. One that does not record it soon (stopped, stuck)
        // is not called lost either.
        let deadline = std::time::Instant::now() + RECORDS_EXIT_WITHIN;
        loop {
            if !self.supervised(id) {
                // It may have recorded the exit just before it ended.
                return Ok(self.read_state(id)?.0);
            }
            if std::time::Instant::now() >= deadline {
                let mut state = state;
                state.error = Some(
                    "its pid 1 ended; its supervisor (still alive) has not recorded the exit status yet"
                        .into(),
                );
                return Ok(state);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            let (now, lost) = self.read_state(id)?;
            if !lost {
                return Ok(now);
            }
        }
    }

    /// The lock the supervisor of `id` holds for its whole life.
    pub fn supervisor_lock_path(&self, id: &str) -> PathBuf {
        self.dir_of(id).join(SUPERVISOR_LOCK)
    }

    /// Whether a supervisor of `id` is alive now (its lock is held).
    /// Never waits.
    pub fn supervised(&self, id: &str) -> bool {
        lockfile::is_held(&self.supervisor_lock_path(id))
    }

    /// The lock that says a supervisor of `id` lives, taken for the
    /// supervisor's whole life; waits (at most `within`) for one that is
    /// ending (`restart`: the last one answered `stop`, then leaves).
    /// Its fd is close-on-exec, and the sandbox closes every fd past stdio
    /// before the container's command: no process of the container holds
    /// it.
    pub fn supervise(&self, id: &str, within: std::time::Duration) -> Result<FileLock> {
        let path = self.supervisor_lock_path(id);
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(lock) = lockfile::try_lock_file(&path, LockKind::Exclusive)? {
                return Ok(lock);
            }
            if std::time::Instant::now() >= deadline {
                return Err(RecordError::Supervised(id.get(..12).unwrap_or(id).into()));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The state as recorded, read once and not corrected: for the
    /// supervisor itself, the one that records pid 1's exit (to it, a
    /// reaped pid 1 is not a lost container).
    pub fn state_now(&self, id: &str) -> Result<State> {
        let path = self.dir_of(id).join("state.json");
        match read_json(&path) {
            Err(RecordError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(State::created())
            }
            Err(RecordError::Corrupt { path, detail }) => {
                let mut state = State::created();
                state.status = Status::Unknown;
                state.error = Some(damage_note(&path, &detail));
                Ok(state)
            }
            other => other,
        }
    }

    /// The recorded state, corrected as `state` says; true with it when the
    /// container was found lost (running, its pid 1 gone, no exit code).
    fn read_state(&self, id: &str) -> Result<(State, bool)> {
        let mut state = self.state_now(id)?;
        let mut lost = false;
        if state.status == Status::Running {
            let alive = match (state.pid, state.pid_start) {
                (Some(pid), Some(start)) => process_start_time(pid) == Some(start),
                _ => false,
            };
            if !alive {
                state.status = Status::Exited;
                state.pid = None;
                if state.exit_code.is_none() {
                    lost = true;
                    // A note its supervisor left (its panic) says why.
                    state.error = Some(match state.error.take() {
                        Some(why) => format!("burrow lost track of the container: {why}"),
                        None => "burrow lost track of the container (its supervisor was killed, or the machine rebooted)".into(),
                    });
                }
            }
        }
        Ok((state, lost))
    }

    /// Replaces the state atomically (no reader sees half a file), but
    /// without an fsync: it describes processes, which a crash ends, and
    /// `state()` corrects what a crash left behind. Paying for an fsync
    /// three times per run would be a good part of `run`'s start-up.
    pub fn set_state(&self, id: &str, state: &State) -> Result<()> {
        write_json(&self.dir_of(id).join("state.json"), state, false)
    }

    /// Rewrites a record (`rename`); the caller holds `lock()`.
    pub fn set_record(&self, record: &Record) -> Result<()> {
        write_json(&self.dir_of(&record.id).join("config.json"), record, true)
    }

    pub fn record(&self, id: &str) -> Result<Record> {
        record_in(&self.dir_of(id))
    }
}

/// What `ps` and `inspect` say of a record file that does not parse.
fn damage_note(path: &Path, detail: &str) -> String {
    format!(
        "its record {} is damaged ({detail}); `burrow rm -f` removes the container",
        path.display()
    )
}

/// A record as listed: read, or salvaged with the note saying why.
type Listed = std::result::Result<Record, (Record, String)>;

fn listed(l: &Listed) -> &Record {
    match l {
        Ok(r) | Err((r, _)) => r,
    }
}

/// The state of a record that does not parse: `Unknown`, saying why.
fn damaged(c: &Containers, id: &str, note: String) -> State {
    let mut state = c.state(id).unwrap_or_else(|_| State::created());
    state.status = Status::Unknown;
    state.error = Some(note);
    state
}

/// The one of `all` that `input` names: by name or full id first, else by
/// a unique id prefix.
fn pick<'a, T>(all: &'a [T], input: &str, record: impl Fn(&T) -> &Record) -> Result<&'a T> {
    if let Some(hit) = all
        .iter()
        .find(|t| record(t).name == input || record(t).id == input)
    {
        return Ok(hit);
    }
    let hits: Vec<&T> = all
        .iter()
        .filter(|t| !input.is_empty() && record(t).id.starts_with(input))
        .collect();
    match hits.as_slice() {
        [] => Err(RecordError::NotFound(input.to_string())),
        [one] => Ok(one),
        _ => Err(RecordError::Ambiguous {
            input: input.to_string(),
            ids: hits
                .iter()
                .map(|t| record(t).id[..12].to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A stand-in for the record of container `id` whose `config.json` (at
/// `path`) does not parse, with what can still be read of it, and the note
/// saying why. A truncated file keeps its first keys, and the record's
/// first keys are its name and image (serialised in field order, before
/// the nested settings), so the name stays reserved.
fn salvage(id: &str, path: &Path, detail: &str) -> (Record, String) {
    let text = fs::read(path).unwrap_or_default();
    let field = |key: &str| -> Option<String> {
        let needle = format!("\"{key}\":");
        let at = text
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())?;
        let rest = &text[at + needle.len()..];
        serde_json::Deserializer::from_slice(rest)
            .into_iter::<String>()
            .next()?
            .ok()
    };
    let record = Record {
        id: id.to_string(),
        name: field("name").unwrap_or_default(),
        image_id: field("image_id")
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| Digest::of_bytes(b"")),
        image: field("image").unwrap_or_default(),
        created: field("created").unwrap_or_default(),
        config: ContainerConfig::default(),
        id_map: IdMap {
            uids: Vec::new(),
            gids: Vec::new(),
        },
        auto_remove: false,
        plan_dir: None,
        pod: None,
    };
    (record, damage_note(path, detail))
}

/// The record of the container whose directory is `dir`.
pub fn record_in(dir: &Path) -> Result<Record> {
    read_json(&dir.join("config.json"))
}

/// Writes `value` to a temporary name and renames it over `path`; with
/// `durable`, fsyncs it first so that the rename never exposes an empty
/// file after a power cut.
fn write_json<T: Serialize>(path: &Path, value: &T, durable: bool) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let data = serde_json::to_vec_pretty(value).expect("record serialises");
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        io::Write::write_all(&mut f, &data)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    res.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        RecordError::Io {
            what: "writing",
            path: path.to_path_buf(),
            source,
        }
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let data = fs::read(path).map_err(|source| RecordError::Io {
        what: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|e| RecordError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

pub use crate::sandbox::join::process_start_time;

/// The process through which a running container is entered (`exec`,
/// `cp`, `top`, `--network container:`): its pid 1, or under `--init` the
/// command, pid 1's child. burrow's init is not dumpable, and the kernel
/// lets only a holder of CAP_SYS_PTRACE over the host enter a namespace or
/// a root through such a process (pidfd or /proc/PID alike). `None` when
/// an init has no child left.
pub fn entry_pid(r: &Record, pid1: i32) -> Option<i32> {
    if !r.config.init {
        return Some(pid1);
    }
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_pid(pid) == Some(pid1))
        .min()
}

/// The parent's pid of `pid`, from /proc/PID/stat.
pub fn parent_pid(pid: i32) -> Option<i32> {
    crate::sandbox::join::proc_stat(pid).map(|s| s.parent)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty());
    u64::from_le_bytes(b)
}

/// A new container id: 64 random hex digits.
pub fn new_id() -> String {
    let mut b = [0u8; 32];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        return Digest::of_bytes(seed.as_bytes()).hex().to_string();
    }
    hex::encode(b)
}

/// Records written before the record was typed still load.
#[cfg(test)]
#[path = "testdata/record_compat.rs"]
mod compat;

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str) -> Record {
        Record {
            plan_dir: None,
            pod: None,
            id: id.into(),
            name: name.into(),
            image_id: Digest::of_bytes(b"x"),
            image: "img".into(),
            created: "2026-01-01T00:00:00Z".into(),
            config: ContainerConfig::default(),
            id_map: IdMap::single(1000, 1000),
            auto_remove: false,
        }
    }

    fn created() -> State {
        State::created()
    }

    #[test]
    fn namespace_modes_are_kept_in_dockers_words_and_default_to_the_containers_own() {
        let config = ContainerConfig {
            ipc_mode: IpcMode::Container("db-id".into()),
            pid_mode: NsMode::Container("db-id".into()),
            uts_mode: NsMode::Host,
            ..ContainerConfig::default()
        };
        let v = serde_json::to_value(&config).unwrap();
        assert_eq!(v["IpcMode"], "container:db-id");
        assert_eq!(v["PidMode"], "container:db-id");
        assert_eq!(v["UTSMode"], "host");
        let back: ContainerConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, config);
        // A record from before the modes were kept: the container's own.
        let old: ContainerConfig = serde_json::from_str(r#"{"Cmd": ["sh"]}"#).unwrap();
        assert_eq!(old.ipc_mode, IpcMode::Private);
        assert_eq!(
            (old.pid_mode, old.uts_mode),
            (NsMode::Private, NsMode::Private)
        );
    }

    #[test]
    fn names_are_unique_and_prefixes_resolve() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::open(d.path()).unwrap();
        let a = format!("abc{}", "0".repeat(61));
        let b = format!("abd{}", "1".repeat(61));
        c.create(&record(&a, "one"), &created()).unwrap();
        c.create(&record(&b, "two"), &created()).unwrap();
        assert!(matches!(
            c.check_name("one"),
            Err(RecordError::NameTaken { .. })
        ));
        assert!(matches!(c.check_name("-x"), Err(RecordError::BadName(_))));
        c.check_name("three").unwrap();
        assert_eq!(c.find("two").unwrap().0.id, b);
        assert_eq!(c.find("abc").unwrap().0.name, "one");
        assert!(matches!(c.find("ab"), Err(RecordError::Ambiguous { .. })));
        assert!(matches!(c.find("zzz"), Err(RecordError::NotFound(_))));
        assert_eq!(c.find_recorded("two").unwrap().0.id, b);
        assert_eq!(c.find_recorded("abc").unwrap().0.name, "one");
        assert!(matches!(
            c.find_recorded("ab"),
            Err(RecordError::Ambiguous { .. })
        ));
        assert!(matches!(
            c.find_recorded("zzz"),
            Err(RecordError::NotFound(_))
        ));
        let name = c.generate_name().unwrap();
        c.check_name(&name).unwrap();
    }

    #[test]
    fn a_new_record_has_no_state_file_and_reads_as_created() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::open(d.path()).unwrap();
        let id = new_id();
        let dir = c.create(&record(&id, "fresh"), &State::created()).unwrap();
        assert!(!dir.join("state.json").exists());
        assert_eq!(c.state(&id).unwrap(), State::created());
        // Listed, so its name is taken.
        assert_eq!(c.list().unwrap().len(), 1);
        assert!(matches!(
            c.check_name("fresh"),
            Err(RecordError::NameTaken { .. })
        ));
        let mut running = State::created();
        running.status = Status::Running;
        c.set_state(&id, &running).unwrap();
        assert!(dir.join("state.json").exists());
        // A corrupt state is unknown, not "created".
        std::fs::write(dir.join("state.json"), b"{").unwrap();
        let broken = c.state(&id).unwrap();
        assert_eq!(broken.status, Status::Unknown);
        assert!(broken.error.unwrap().contains("state.json is damaged"));
    }

    #[test]
    fn running_state_with_a_dead_pid_reads_as_exited() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::open(d.path()).unwrap();
        let id = new_id();
        c.create(&record(&id, "x"), &created()).unwrap();
        let me = std::process::id() as i32;
        let mut s = created();
        s.status = Status::Running;
        s.pid = Some(me);
        s.pid_start = process_start_time(me);
        c.set_state(&id, &s).unwrap();
        assert_eq!(c.state(&id).unwrap().status, Status::Running);
        s.pid_start = Some(s.pid_start.unwrap() + 1); // same pid, another process
        c.set_state(&id, &s).unwrap();
        let seen = c.state(&id).unwrap();
        assert_eq!(seen.status, Status::Exited);
        assert!(seen.error.is_some());
    }

    #[test]
    fn a_dead_pid_1_is_lost_only_once_its_supervisor_is_gone() {
        let d = tempfile::tempdir().unwrap();
        let c = std::sync::Arc::new(Containers::open(d.path()).unwrap());
        let id = new_id();
        c.create(&record(&id, "x"), &created()).unwrap();
        let me = std::process::id() as i32;
        let mut s = created();
        s.status = Status::Running;
        s.pid = Some(me);
        s.pid_start = process_start_time(me).map(|t| t + 1); // pid 1 is gone
        c.set_state(&id, &s).unwrap();
        // A live supervisor: the reader waits for the exit it records.
        let alive = c.supervise(&id, std::time::Duration::ZERO).unwrap();
        // The supervisor reads what it recorded, uncorrected, and so does
        // `exec`, which checks pid 1 itself.
        assert_eq!(c.state_now(&id).unwrap(), s);
        assert_eq!(c.find_recorded("x").unwrap().1, s);
        assert!(c.supervised(&id));
        assert!(matches!(
            c.supervise(&id, std::time::Duration::ZERO),
            Err(RecordError::Supervised(_))
        ));
        let writer = {
            let (c, id, mut s) = (c.clone(), id.clone(), s.clone());
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(700));
                s.status = Status::Exited;
                s.pid = None;
                s.exit_code = Some(137);
                c.set_state(&id, &s).unwrap();
            })
        };
        let seen = c.state(&id).unwrap();
        writer.join().unwrap();
        assert_eq!((seen.status, seen.exit_code), (Status::Exited, Some(137)));
        assert_eq!(seen.error, None);
        // Its supervisor gone with nothing recorded: lost at once.
        c.set_state(&id, &s).unwrap();
        drop(alive);
        // A flock goes with the last copy of its open file: a child that
        // another test of this process forks at the wrong moment holds a
        // copy until it exits (close-on-exec does not apply to a fork
        // without exec), so the release is waited for, not assumed.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while c.supervised(&id) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!c.supervised(&id));
        let seen = c.state(&id).unwrap();
        assert_eq!((seen.status, seen.exit_code), (Status::Exited, None));
        assert!(seen.error.unwrap().contains("lost track"));
    }
}
