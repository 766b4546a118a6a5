//! Runs a build: each needed stage's steps in order, each step looked up
//! in the cache by its key first. A step's result is an image in the
//! store (marked intermediate), its key a file under `build/cache/`
//! naming that image. Metadata steps change the config; COPY/ADD write a
//! layer from the context (or another stage) without copying the context
//! anywhere first; RUN is a burrow container on the step's image whose
//! writable layer becomes the new layer. Only the finished image gets the
//! tags: a failed build leaves nothing tagged.

use super::add;
use super::context::{self, ContextIndex, FileEntry, FileKind, Selected};
use super::graph::{Base, Graph, Source, PROXY_ARGS};
use super::ignore::{clean, Ignore};
use super::mounts::{self, Owner, Prepare, SecretSpec};
use super::named::{ContextSource, NamedContext, NamedContextError};
use super::parse::{self, Command, Copy, Instruction, Kind};
use super::progress::{Event, ProgressMode, Screen};
use super::rootfs::{lookup_owner, Layered};
use super::words::{expand, Vars};
use crate::container::images::Context;
use crate::image::store::{AddedLayer, StoreError, TempDir};
use crate::image::tar::{EntryKind, NewEntry, TarWriter};
use crate::image::{Digest, ImageError, Reference};
use crate::{Error, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `burrow build` was asked.
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    pub context: PathBuf,
    /// `-f`: a path, or `-` for stdin.
    pub file: Option<PathBuf>,
    pub tags: Vec<String>,
    pub build_args: Vec<String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub labels: Vec<String>,
    pub iidfile: Option<PathBuf>,
    pub quiet: bool,
    /// `--secret`: values RUN --mount=type=secret can read.
    pub secrets: Vec<SecretSpec>,
    /// `--pull`: when base images are pulled.
    pub pull: PullPolicy,
    /// `--network`: the network of RUN steps without their own --network.
    pub network: BuildNetwork,
    /// `--format`: docker's config (with Healthcheck, Shell, OnBuild) or OCI's.
    pub format: ImageFormat,
    /// `--squash`: the layers the build made become one.
    pub squash: bool,
    /// `--progress`: how steps are shown.
    pub progress: ProgressMode,
    /// `--add-host NAME:IP`: lines of the /etc/hosts of RUN steps.
    pub add_host: Vec<(String, std::net::IpAddr)>,
    /// `--build-context NAME=VALUE`: what FROM NAME, COPY --from=NAME and
    /// RUN --mount=from=NAME read instead of a stage or an image.
    pub contexts: Vec<NamedContext>,
}

/// `--pull`: when FROM and COPY --from images are pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Each build pulls them again (a newer base changes the cache keys).
    Always,
    /// Only those not in the store.
    #[default]
    Missing,
    /// Never: a missing image is an error.
    Never,
}

/// `--network` of the RUN steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildNetwork {
    #[default]
    User,
    None,
    Host,
}

impl BuildNetwork {
    fn mode(self) -> &'static str {
        match self {
            BuildNetwork::User => "user",
            BuildNetwork::None => "none",
            BuildNetwork::Host => "host",
        }
    }
}

/// `--format`: which config fields the image keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageFormat {
    /// docker's: Healthcheck, Shell and OnBuild kept.
    #[default]
    Docker,
    /// OCI's config has no such fields: they are dropped with a warning.
    Oci,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] parse::ParseError),
    #[error(transparent)]
    Context(#[from] context::ContextError),
    /// A step failed: `file:line: INSTRUCTION: why`.
    #[error("{file}:{line}: {instruction}: {message}")]
    Step {
        file: String,
        line: usize,
        instruction: String,
        message: String,
    },
    #[error("{0}")]
    Usage(String),
}

fn berr(e: BuildError) -> Error {
    Error::Usage(e.to_string())
}

fn step_err(file: &str, ins: &Instruction, message: impl Into<String>) -> Error {
    berr(BuildError::Step {
        file: file.to_string(),
        line: ins.line,
        instruction: ins.text(),
        message: message.into(),
    })
}

fn img<E: Into<ImageError>>(e: E) -> Error {
    Error::Image(e.into())
}

/// One stage's state between steps (sent back by the child that built it).
#[derive(serde::Serialize, serde::Deserialize)]
struct StageState {
    /// The image config (docker's JSON), as it stands.
    config: Value,
    /// The image the steps so far made (None: scratch, nothing yet).
    image: Option<Digest>,
    /// Layer directories, base first.
    layers: Vec<PathBuf>,
    /// The cache chain.
    key: String,
    /// ARGs declared in this stage, with their values.
    args: Vars,
    cmd_set: bool,
}

impl StageState {
    fn run_config(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        self.config["config"].as_object_mut().expect("an object")
    }

    fn env(&self) -> Vec<String> {
        self.config["config"]["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// ENV over ARG, for substitution.
    fn vars(&self) -> Vars {
        let mut v = self.args.clone();
        for e in self.env() {
            if let Some((k, val)) = e.split_once('=') {
                v.insert(k.to_string(), val.to_string());
            }
        }
        v
    }

    fn shell(&self) -> Vec<String> {
        self.config["config"]["Shell"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .filter(|v: &Vec<String>| !v.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn workdir(&self) -> String {
        self.config["config"]["WorkingDir"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    fn history(&mut self, created_by: &str, empty_layer: bool) {
        let mut entry = json!({
            "created": crate::time::rfc3339(crate::image::store::now()),
            "created_by": created_by,
            "comment": "buildkit.dockerfile.v0",
        });
        if empty_layer {
            entry["empty_layer"] = json!(true);
        }
        match self.config["history"].as_array_mut() {
            Some(h) => h.push(entry),
            None => self.config["history"] = json!([entry]),
        }
    }

    fn add_layer(&mut self, diff_id: &Digest, dir: PathBuf) {
        if !self.config["rootfs"].is_object() {
            self.config["rootfs"] = json!({"type": "layers", "diff_ids": []});
        }
        match self.config["rootfs"]["diff_ids"].as_array_mut() {
            Some(a) => a.push(json!(diff_id.to_string())),
            None => self.config["rootfs"]["diff_ids"] = json!([diff_id.to_string()]),
        }
        self.layers.push(dir);
    }
}

fn scratch_config() -> Value {
    let (os, arch) = crate::image::archive::host_platform();
    json!({
        "architecture": arch,
        "os": os,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    })
}

fn scratch_state() -> StageState {
    StageState {
        config: scratch_config(),
        image: None,
        layers: Vec::new(),
        key: "scratch".into(),
        args: Vars::new(),
        cmd_set: false,
    }
}

/// Where a `--from=` reads files: a directory (the main context, or a
/// named context's, read alike), or the layers of a stage or an image,
/// with what they add to a step's key.
enum FromTree {
    /// The directory, and the named context's name.
    Dir(PathBuf, Option<String>),
    Layers {
        layers: Vec<PathBuf>,
        key: String,
    },
}

/// A source's error, saying which named context it was looked for in.
fn named_source(message: String, context: &Option<String>) -> String {
    match context {
        Some(name) => format!("{message} (--build-context {name})"),
        None => message,
    }
}

fn kv_list(items: &[String], what: &str) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !s.is_empty() && what == "--build-arg" => {
                // `--build-arg NAME` passes the caller's value, as docker does.
                Ok((s.clone(), std::env::var(s).unwrap_or_default()))
            }
            _ => Err(Error::Usage(format!(
                "invalid {what} {s:?}: expecting KEY=VALUE"
            ))),
        })
        .collect()
}

/// The Containerfile's name (for messages) and text.
fn read_file(spec: &BuildSpec, from_stdin: Option<String>) -> Result<(String, String)> {
    if let Some(text) = from_stdin {
        return Ok(("<stdin>".into(), text));
    }
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))
    };
    match &spec.file {
        Some(f) if f == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::Usage(format!("reading the Containerfile from stdin: {e}")))?;
            Ok(("<stdin>".into(), s))
        }
        Some(f) => Ok((f.display().to_string(), read(f)?)),
        None => {
            for name in ["Containerfile", "Dockerfile"] {
                let p = spec.context.join(name);
                if p.is_file() {
                    return Ok((name.to_string(), read(&p)?));
                }
            }
            Err(Error::Usage(format!(
                "no Containerfile or Dockerfile in {}; give one with -f",
                spec.context.display()
            )))
        }
    }
}

/// Where a stage's steps are told: to the parent that draws them (the
/// stage runs in a forked child), else straight to a plain screen.
struct Progress {
    quiet: bool,
    parent: Option<crate::forked::StepSender<Event>>,
    screen: Option<std::cell::RefCell<Screen>>,
}

impl Progress {
    fn tell(&self, ev: Event, fd: Option<rustix::fd::BorrowedFd>) {
        if self.quiet {
            return;
        }
        if let Some(p) = &self.parent {
            // A parent that went away has nobody to show this to.
            let _ = p.step(&ev, fd);
        } else if let Some(s) = &self.screen {
            s.borrow_mut().event(ev, None);
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP held while a wave of stages runs, read from
/// a signalfd by the process that waits on the stages; a stage's child
/// takes them back as they were.
struct StopSignals {
    fd: nix::sys::signalfd::SignalFd,
    old: nix::sys::signal::SigSet,
}

impl StopSignals {
    fn hold() -> Result<StopSignals> {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        let mut mask = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            mask.add(s);
        }
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old))
            .map_err(|e| Error::Usage(format!("sigprocmask: {e}")))?;
        match SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
            Ok(fd) => Ok(StopSignals { fd, old }),
            Err(e) => {
                let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
                Err(Error::Usage(format!("signalfd: {e}")))
            }
        }
    }

    /// In a stage's child: the signals as they were before `hold`.
    fn release_in_child(&self) {
        let _ = nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&self.old),
            None,
        );
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        // A signal that came as the last stage ended still ends the build.
        let _ = nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&self.old),
            None,
        );
    }
}

/// What a stage's child hands back.
#[derive(serde::Serialize, serde::Deserialize)]
struct StageDone {
    state: StageState,
    used_args: std::collections::BTreeSet<String>,
}

/// Runs the build; returns the new image's id.
pub fn build(ctx: &Context, spec: &BuildSpec) -> Result<Digest> {
    // `-`: the context (a tar) or the Containerfile comes on stdin; the
    // directory it is put in lives as long as the build.
    let mut stdin_scratch: Option<TempDir> = None;
    let mut stdin_file = None;
    let mut spec = spec.clone();
    if spec.context == Path::new("-") {
        if spec.file.as_deref() == Some(Path::new("-")) {
            return Err(Error::Usage(
                "the context and the Containerfile cannot both come from stdin (-f - and -)".into(),
            ));
        }
        let store = ctx.store()?;
        let scratch = store.temp_dir("build-context").map_err(img)?;
        stdin_file =
            super::stdin::read_context(scratch.path()).map_err(|e| Error::Usage(e.to_string()))?;
        spec.context = scratch.path().join("context");
        stdin_scratch = Some(scratch);
    }
    let spec = &spec;
    let context_dir = std::path::absolute(&spec.context)
        .map_err(|e| Error::Usage(format!("{}: {e}", spec.context.display())))?;
    if !context_dir.is_dir() {
        return Err(Error::Usage(format!(
            "build context {} is not a directory",
            spec.context.display()
        )));
    }
    let spec = BuildSpec {
        context: context_dir.clone(),
        ..spec.clone()
    };
    let build_args: BTreeMap<String, String> = kv_list(&spec.build_args, "--build-arg")?
        .into_iter()
        .collect();
    let labels = kv_list(&spec.labels, "--label")?;
    let tags: Vec<Reference> = spec
        .tags
        .iter()
        .map(|t| Reference::parse_in(t, "localhost"))
        .collect::<std::result::Result<_, _>>()
        .map_err(img)?;
    let contexts = named_contexts(&spec.contexts)?;
    let (file, text) = read_file(&spec, stdin_file)?;
    let cf = parse::parse(&file, &text).map_err(|e| berr(e.into()))?;
    let names = contexts.keys().cloned().collect();
    let graph = Graph::new(&file, &cf, &build_args, &names).map_err(|e| berr(e.into()))?;
    let target = graph
        .target(spec.target.as_deref())
        .map_err(|e| Error::Usage(e.to_string()))?;
    let needed = graph.needed(target);

    let store = ctx.store()?;
    // Held for the whole build: a garbage collection (`image prune`) waits
    // instead of removing a layer between its step and the step's image.
    let _lock = store.lock_shared().map_err(img)?;
    clean_killed_builds(ctx, &store);
    let build_dir = store.root().join("build");
    for d in ["cache", "contexts"] {
        std::fs::create_dir_all(build_dir.join(d))
            .map_err(|e| Error::Usage(format!("{}: {e}", build_dir.join(d).display())))?;
    }
    let progress = Progress {
        quiet: spec.quiet,
        parent: None,
        screen: None,
    };
    let mut secrets = BTreeMap::new();
    for s in &spec.secrets {
        let value = s.read().map_err(|e| Error::Usage(e.to_string()))?;
        secrets.insert(s.id.clone(), value);
    }
    let mut b = Builder {
        ctx,
        graph: &graph,
        file: file.clone(),
        spec: &spec,
        build_args: &build_args,
        build_dir,
        indexes: BTreeMap::new(),
        contexts,
        results: BTreeMap::new(),
        progress,
        used_args: Default::default(),
        current: 0,
        secrets,
        pulled: Default::default(),
        step_output: Default::default(),
    };
    let total: usize = needed
        .iter()
        .map(|&i| graph.stages[i].instructions.len() + 1)
        .sum();
    let waves = graph.waves(&needed);
    // Each stage's first step number, in the order the waves list them.
    let mut first_step = BTreeMap::new();
    let mut step = 0;
    for &i in waves.iter().flatten() {
        first_step.insert(i, step);
        step += graph.stages[i].instructions.len() + 1;
    }
    let mut screen = Screen::new(spec.progress, spec.quiet);
    for wave in &waves {
        b.run_wave(wave, &first_step, total, &mut screen)?;
    }
    let mut last = b.results.remove(&target).expect("the target stage ran");
    if !labels.is_empty() {
        let text = format!(
            "LABEL {}",
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let key = context::step_key(&last.key, &text, &[]);
        if !b.cached(&key, &mut last)? {
            let rc = last.run_config();
            if !rc.get("Labels").is_some_and(Value::is_object) {
                rc.insert("Labels".into(), json!({}));
            }
            for (k, v) in &labels {
                rc["Labels"][k] = json!(v);
            }
            b.commit(&key, &mut last)?;
        }
    }
    for unused in build_args.keys() {
        if !b.used_args.contains(unused)
            && !PROXY_ARGS.contains(&unused.as_str())
            && !graph.global_args.iter().any(|(k, _)| k == unused)
        {
            eprintln!("Warning: one or more build-args [{unused}] were not consumed");
        }
    }
    if spec.squash {
        let base = b.base_layers(target)?;
        b.squash(&mut last, base)?;
    }
    if spec.format == ImageFormat::Oci {
        for (field, what) in [
            ("Healthcheck", "HEALTHCHECK"),
            ("Shell", "SHELL"),
            ("OnBuild", "ONBUILD"),
        ] {
            if last.run_config().remove(field).is_some() {
                eprintln!(
                    "Warning: {what} is not supported for OCI image format and is left out; use --format docker to keep it"
                );
            }
        }
    }
    let bytes = serde_json::to_vec(&last.config).map_err(|e| Error::Usage(e.to_string()))?;
    let record = store.commit_image(&bytes, None, &tags).map_err(img)?;
    drop(stdin_scratch);
    if let Some(f) = &spec.iidfile {
        write_atomic_file(f, record.id.to_string().as_bytes())?;
    }
    Ok(record.id)
}

/// The `--build-context`s by name (of two with one name the last counts,
/// as with docker), their directories made absolute and checked now.
fn named_contexts(list: &[NamedContext]) -> Result<BTreeMap<String, ContextSource>> {
    let mut out = BTreeMap::new();
    for c in list {
        let fail = |why: String| {
            Error::Usage(
                NamedContextError {
                    spec: c.spec.clone(),
                    why,
                }
                .to_string(),
            )
        };
        let source = match &c.source {
            ContextSource::Dir(d) => {
                let dir = std::path::absolute(d).map_err(|e| fail(e.to_string()))?;
                match std::fs::metadata(&dir) {
                    Ok(m) if m.is_dir() => ContextSource::Dir(dir),
                    Ok(_) => return Err(fail("not a directory".into())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(fail("no such directory".into()))
                    }
                    Err(e) => return Err(fail(e.to_string())),
                }
            }
            other => other.clone(),
        };
        out.insert(c.name.clone(), source);
    }
    Ok(out)
}

/// The pid a build's own name carries (`burrow-build-KEY-PID`,
/// `build-secrets-PID-KEY`, `build-output-PID`), when that build is gone.
fn dead_build_pid(name: &str, prefix: &str, pid_last: bool) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    let pid = if pid_last {
        rest.rsplit('-').next()
    } else {
        rest.split('-').next()
    };
    let Some(pid) = pid
        .and_then(|p| p.parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Err(rustix::io::Errno::SRCH) => true,
        // A killed build's process may wait a while for its reaper (an
        // orphaned stage is reaped by init): a zombie is gone all the same.
        _ => zombie(pid.as_raw_nonzero().get()),
    }
}

/// Whether process `pid` has exited and waits to be reaped.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        // The state follows the command name's closing parenthesis.
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X")
    })
}

/// Removes what a killed build left behind: its step's container (a
/// record, a writable layer, maybe a process) and its secret files. The
/// store's own scratch is cleaned by the store (its flock is free).
fn clean_killed_builds(ctx: &Context, store: &crate::image::Store) {
    if let Ok(containers) = crate::container::record::Containers::open(store.root()) {
        for (r, _) in containers.list().unwrap_or_default() {
            if dead_build_pid(&r.name, "burrow-build-", true) {
                let _ = crate::container::remove(ctx, &r.id, true, false);
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(&ctx.paths.runtime) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead_build_pid(&name, "build-secrets-", false) {
                let _ = std::fs::remove_dir_all(e.path());
            } else if dead_build_pid(&name, "build-output-", false) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn write_atomic_file(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("burrow-tmp");
    std::fs::write(&tmp, data)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}

struct Builder<'a> {
    ctx: &'a Context,
    graph: &'a Graph,
    file: String,
    spec: &'a BuildSpec,
    build_args: &'a BTreeMap<String, String>,
    build_dir: PathBuf,
    /// The main context's index and the named contexts', by directory.
    indexes: BTreeMap<PathBuf, ContextIndex>,
    /// `--build-context`s by name.
    contexts: BTreeMap<String, ContextSource>,
    results: BTreeMap<usize, StageState>,
    progress: Progress,
    used_args: std::collections::BTreeSet<String>,
    /// The stage being built.
    current: usize,
    /// `--secret` values by id.
    secrets: BTreeMap<String, Vec<u8>>,
    /// References `--pull=always` pulled in this build.
    pulled: std::cell::RefCell<std::collections::BTreeSet<String>>,
    /// The output of the RUN step that just ran, for its progress line.
    step_output: std::cell::RefCell<String>,
}

impl Builder<'_> {
    /// Builds the stages of one wave (none needs another): each in a
    /// forked child, all at once, while this process draws their steps.
    /// With a thread in this process (nothing here starts one, but a fork
    /// then would be unsafe) they run here, one after another.
    fn run_wave(
        &mut self,
        wave: &[usize],
        first_step: &BTreeMap<usize, usize>,
        total: usize,
        screen: &mut Screen,
    ) -> Result<()> {
        use crate::forked::{self, Fork, Heard};
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        if forked::threads() > 1 {
            self.progress.screen = Some(std::cell::RefCell::new(Screen::new(
                ProgressMode::Plain,
                self.spec.quiet,
            )));
            for &i in wave {
                let mut step = first_step[&i];
                let state = self.stage(i, &mut step, total)?;
                self.results.insert(i, state);
            }
            return Ok(());
        }
        // Ctrl-C (or a kill) reaches this process and its stages: this one
        // ends the stages (their running containers die with them) and
        // cleans what they left, so nothing goes on after the build.
        let stop = StopSignals::hold()?;
        let mut running = Vec::new();
        let mut failed: Option<Error> = None;
        for &i in wave {
            let how = Fork::new("a build stage");
            let started = forked::start::<Event, StageDone, String, _>(how, |parent| {
                stop.release_in_child();
                // A build killed outright takes its stages (and so their
                // steps' containers) with it.
                let _ = rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ));
                self.progress.parent = Some(parent.sender().map_err(|e| e.to_string())?);
                let mut step = first_step[&i];
                let state = self.stage(i, &mut step, total).map_err(|e| e.to_string())?;
                Ok(StageDone {
                    state,
                    used_args: std::mem::take(&mut self.used_args),
                })
            });
            match started {
                Ok(s) => running.push((i, s)),
                Err(e) => {
                    failed = Some(Error::Usage(e.to_string()));
                    break;
                }
            }
        }
        let end_all = |running: &Vec<(usize, forked::Started<Event, StageDone, String>)>| {
            for pid in running.iter().filter_map(|(_, s)| s.pid()) {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL);
            }
        };
        while !running.is_empty() {
            let (ready, signalled): (Vec<usize>, bool) = {
                let mut fds: Vec<PollFd> = running
                    .iter()
                    .map(|(_, s)| PollFd::new(s.fd(), PollFlags::POLLIN))
                    .collect();
                fds.push(PollFd::new(
                    rustix::fd::AsFd::as_fd(&stop.fd),
                    PollFlags::POLLIN,
                ));
                let timeout = if screen.redraws() {
                    PollTimeout::from(super::progress::TICK.as_millis() as u16)
                } else {
                    PollTimeout::NONE
                };
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(nix::Error::EINTR) => {}
                    Err(e) => return Err(Error::Usage(format!("poll: {e}"))),
                }
                let signalled = fds
                    .pop()
                    .and_then(|f| f.revents())
                    .is_some_and(|r| !r.is_empty());
                let ready = (fds.iter().enumerate())
                    .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(k, _)| k)
                    .collect();
                (ready, signalled)
            };
            if signalled {
                if let Ok(Some(info)) = stop.fd.read_signal() {
                    if failed.is_none() {
                        end_all(&running);
                        failed = Some(Error::Usage(format!(
                            "the build was stopped by signal {}",
                            info.ssi_signo
                        )));
                    }
                }
            }
            for k in ready.into_iter().rev() {
                let i = running[k].0;
                let error = match running[k].1.hear() {
                    Ok(Heard::Step(ev, fd)) => {
                        screen.event(ev, fd);
                        continue;
                    }
                    Ok(Heard::Done(Ok(done))) => {
                        self.used_args.extend(done.used_args);
                        self.results.insert(i, done.state);
                        None
                    }
                    Ok(Heard::Done(Err(message))) => Some(Error::Reported(message)),
                    Err(e) => Some(Error::Usage(e.to_string())),
                };
                running.remove(k);
                screen.forget(i);
                if let Some(e) = error {
                    if failed.is_none() {
                        // The build fails: the other stages end (a running
                        // step's container dies with its supervisor;
                        // nothing of theirs is committed).
                        end_all(&running);
                        failed = Some(e);
                    }
                }
            }
            screen.tick();
        }
        match failed {
            Some(e) => {
                // What the ended stages left: their steps' containers and
                // secret files.
                if let Ok(store) = self.ctx.store() {
                    clean_killed_builds(self.ctx, &store);
                }
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// The store's image for `reference`, pulled when missing.
    fn image(&self, reference: &str) -> Result<Digest> {
        let store = self.ctx.store()?;
        let pull = || {
            let opts = crate::image::registry::PullOptions {
                platform: None,
                progress: crate::image::registry::ProgressMode::detect(self.spec.quiet),
            };
            crate::container::images::pull(self.ctx, reference, &opts, None).map(drop)
        };
        // --pull=always: once per build for each reference.
        if self.spec.pull == PullPolicy::Always && self.pulled.borrow_mut().insert(reference.into())
        {
            pull()?;
        }
        match self.ctx.resolve(&store, reference) {
            Ok(e) => Ok(e.record.id),
            Err(Error::Image(ImageError::Store(StoreError::NoSuchImage(_))))
                if self.spec.pull == PullPolicy::Never =>
            {
                Err(Error::Usage(format!(
                    "{reference}: no such image in the store, and --pull=never"
                )))
            }
            Err(Error::Image(ImageError::Store(StoreError::NoSuchImage(_)))) => {
                pull()?;
                Ok(self.ctx.resolve(&store, reference)?.record.id)
            }
            Err(e) => Err(e),
        }
    }

    fn state_of_image(&self, id: &Digest) -> Result<StageState> {
        let store = self.ctx.store()?;
        let record = store.image(id).map_err(img)?;
        let raw = store.blob(id).map_err(img)?;
        let config: Value =
            serde_json::from_slice(&raw).map_err(|e| Error::Usage(e.to_string()))?;
        Ok(StageState {
            config,
            image: Some(id.clone()),
            layers: record.layers.iter().map(|l| store.layer_dir(l)).collect(),
            key: format!("image:{id}"),
            args: Vars::new(),
            cmd_set: false,
        })
    }

    /// Looks `key` up; on a hit, `state` becomes the cached image.
    fn cached(&self, key: &str, state: &mut StageState) -> Result<bool> {
        if self.spec.no_cache {
            return Ok(false);
        }
        let Ok(hex) = std::fs::read_to_string(self.build_dir.join("cache").join(key)) else {
            return Ok(false);
        };
        let Ok(id) = Digest::from_hex(hex.trim()) else {
            return Ok(false);
        };
        let store = self.ctx.store()?;
        if store.image(&id).is_err() {
            return Ok(false);
        }
        let mut s = self.state_of_image(&id)?;
        s.key = key.to_string();
        s.args = std::mem::take(&mut state.args);
        s.cmd_set = state.cmd_set;
        *state = s;
        Ok(true)
    }

    /// Records `state.config` as the image of step `key`.
    fn commit(&self, key: &str, state: &mut StageState) -> Result<()> {
        state.config["created"] = json!(crate::time::rfc3339(crate::image::store::now()));
        let bytes = serde_json::to_vec(&state.config).map_err(|e| Error::Usage(e.to_string()))?;
        let store = self.ctx.store()?;
        let record = store.commit_intermediate(&bytes).map_err(img)?;
        store
            .write_atomic(
                &self.build_dir.join("cache").join(key),
                record.id.hex().as_bytes(),
            )
            .map_err(img)?;
        state.image = Some(record.id);
        state.key = key.to_string();
        Ok(())
    }

    fn stage(&mut self, i: usize, step: &mut usize, total: usize) -> Result<StageState> {
        let graph = self.graph;
        self.current = i;
        let stage = &graph.stages[i];
        let label = stage.name.clone().unwrap_or_else(|| format!("stage-{i}"));
        *step += 1;
        let t0 = Instant::now();
        self.progress.tell(
            Event::Begin {
                stage: i,
                header: format!("[{label} {step}/{total}] {}", stage.from.text()),
            },
            None,
        );
        let mut state = match &stage.base {
            Base::Scratch => scratch_state(),
            Base::Context(name) => self.context_base(name, &stage.from)?,
            Base::Stage(s) => {
                let done = &self.results[s];
                let mut st = match &done.image {
                    Some(id) => self.state_of_image(id)?,
                    None => StageState {
                        config: done.config.clone(),
                        image: None,
                        layers: Vec::new(),
                        key: done.key.clone(),
                        args: Vars::new(),
                        cmd_set: false,
                    },
                };
                st.key = done.key.clone();
                st
            }
            Base::Image(r) => {
                let id = self
                    .image(r)
                    .map_err(|e| step_err(&self.file, &stage.from, e.to_string()))?;
                self.state_of_image(&id)?
            }
        };
        // As docker does at every FROM: a base without PATH gets the
        // default one, in the built image's config too.
        if !state
            .env()
            .iter()
            .any(|e| e.split_once('=').is_some_and(|(k, _)| k == "PATH"))
        {
            let path = json!(crate::container::run::DEFAULT_PATH);
            match state
                .run_config()
                .get_mut("Env")
                .and_then(Value::as_array_mut)
            {
                Some(list) => list.push(path),
                None => {
                    state.run_config().insert("Env".into(), json!([path]));
                }
            }
        }
        let line = format!(
            "[{label} {step}/{total}] {} {:.2}s",
            stage.from.text(),
            t0.elapsed().as_secs_f64()
        );
        self.progress.tell(
            Event::End {
                stage: i,
                line,
                output: String::new(),
            },
            None,
        );
        // A base image's ONBUILD triggers run first, then are dropped.
        let mut instructions: Vec<Instruction> = Vec::new();
        if let Some(triggers) = state.config["config"]["OnBuild"].as_array().cloned() {
            for t in triggers.iter().filter_map(Value::as_str) {
                let cf = parse::parse(&format!("{} ONBUILD", self.file), t)
                    .map_err(|e| berr(e.into()))?;
                instructions.extend(cf.instructions.into_iter().map(|mut ins| {
                    ins.line = stage.from.line;
                    ins
                }));
            }
            state.run_config().remove("OnBuild");
        }
        instructions.extend(stage.instructions.iter().cloned());
        for ins in &instructions {
            *step += 1;
            let t0 = Instant::now();
            self.progress.tell(
                Event::Begin {
                    stage: i,
                    header: format!("[{label} {step}/{total}] {}", ins.text()),
                },
                None,
            );
            let cached = self.step(ins, &mut state)?;
            let line = if cached {
                format!("[{label} {step}/{total}] CACHED {}", ins.text())
            } else if matches!(ins.kind, Kind::Arg(_)) {
                // Declares a value: nothing to run or cache.
                format!("[{label} {step}/{total}] {}", ins.text())
            } else {
                format!(
                    "[{label} {step}/{total}] {} {:.2}s",
                    ins.text(),
                    t0.elapsed().as_secs_f64()
                )
            };
            let output = self.step_output.take();
            self.progress.tell(
                Event::End {
                    stage: i,
                    line,
                    output,
                },
                None,
            );
        }
        Ok(state)
    }

    /// Runs one step (or takes it from the cache: returns true).
    fn step(&mut self, ins: &Instruction, state: &mut StageState) -> Result<bool> {
        let vars = state.vars();
        let (file, esc) = (self.file.clone(), self.graph.escape);
        let x = |w: &str| expand(w, esc, &vars).map_err(|e| step_err(&file, ins, e.to_string()));
        // Metadata steps: the new config and the history line.
        let meta = match &ins.kind {
            Kind::Arg(args) => {
                let mut declared = Vec::new();
                for (k, v) in args {
                    let value = match (self.build_args.get(k), v) {
                        (Some(b), _) => Some(b.clone()),
                        (None, Some(d)) => Some(x(d)?),
                        (None, None) => self.graph.global_vars.get(k).cloned(),
                    };
                    declared.push(k.clone());
                    state.args.insert(k.clone(), value.unwrap_or_default());
                }
                self.used_args.extend(declared);
                return Ok(false);
            }
            Kind::From { .. } => return Err(step_err(&self.file, ins, "FROM inside a stage")),
            _ => apply_meta(&file, esc, ins, state)?,
        };
        if let Some(text) = meta {
            // The key is the instruction as substituted; the config
            // change above is what a cache hit replaces.
            let key = context::step_key(&state.key, &text, &[]);
            let mut probe = StageState {
                config: Value::Null,
                image: None,
                layers: Vec::new(),
                key: String::new(),
                args: state.args.clone(),
                cmd_set: state.cmd_set,
            };
            if self.cached(&key, &mut probe)? {
                *state = probe;
                return Ok(true);
            }
            state.history(&text, true);
            self.commit(&key, state)?;
            return Ok(false);
        }
        match &ins.kind {
            Kind::Workdir(w) => {
                let w = x(w)?;
                self.workdir(state, &w)
            }
            Kind::Copy(c) => self.copy(ins, state, c, &vars),
            Kind::Run {
                flags,
                command,
                heredocs,
            } => self.run(ins, state, flags, command, heredocs, &vars),
            _ => Ok(false),
        }
    }

    /// Tries the cache for `key`; keeps `state`'s args either way.
    fn try_cache(&self, key: &str, state: &mut StageState) -> Result<bool> {
        self.cached(key, state)
    }

    fn workdir(&mut self, state: &mut StageState, w: &str) -> Result<bool> {
        let dir = clean(&if w.starts_with('/') {
            w.to_string()
        } else {
            format!("{}/{w}", state.workdir())
        });
        let text = format!("WORKDIR {dir}");
        let key = context::step_key(&state.key, &text, &[]);
        if self.try_cache(&key, state)? {
            return Ok(true);
        }
        state.run_config().insert("WorkingDir".into(), json!(dir));
        // The directory is made when the image lacks it.
        let layers = state.layers.clone();
        let d = dir.clone();
        let added: Option<AddedLayer> = self.ctx.in_userns(move |store| {
            let fs = Layered::new(&layers);
            if fs.is_dir(&d) {
                return Ok(None);
            }
            let mut items = BTreeMap::new();
            items.insert(
                fs.resolve(&d, true),
                Item::Dir {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    mtime: 0,
                },
            );
            write_layer(store, &fs, items, Vec::new(), (0, 0), None).map(Some)
        })?;
        match added {
            Some(a) => {
                let store = self.ctx.store()?;
                state.add_layer(&a.diff_id, store.layer_dir(&a.diff_id));
                state.history(&text, false);
            }
            None => state.history(&text, true),
        }
        self.commit(&key, state)?;
        Ok(false)
    }

    /// How many layers the base image under stage `i` has (0 for scratch).
    fn base_layers(&self, i: usize) -> Result<usize> {
        match &self.graph.stages[i].base {
            Base::Scratch => Ok(0),
            Base::Context(name) => match &self.contexts[name] {
                ContextSource::Image(r) => {
                    let id = self.image(r)?;
                    Ok(self.state_of_image(&id)?.layers.len())
                }
                // The directory's layer is the build's own.
                ContextSource::Dir(_) | ContextSource::Scratch => Ok(0),
            },
            Base::Stage(s) => self.base_layers(*s),
            Base::Image(r) => {
                let id = self.image(r)?;
                Ok(self.state_of_image(&id)?.layers.len())
            }
        }
    }

    /// `--squash`: the layers above the first `base` become one; their
    /// history entries stay, marked empty, and one entry says what
    /// merged them.
    fn squash(&self, state: &mut StageState, base: usize) -> Result<()> {
        let made = state.layers.len().saturating_sub(base);
        if made < 2 {
            return Ok(());
        }
        let layers = state.layers.clone();
        let added: AddedLayer = self.ctx.in_userns(move |store| {
            let scratch = store.temp_dir("build-squash").map_err(img)?;
            let merged = scratch.path().join("merged");
            std::fs::create_dir(&merged)
                .map_err(|e| Error::Usage(format!("{}: {e}", merged.display())))?;
            for l in &layers[base..] {
                super::squash::apply(l, &merged)
                    .map_err(|e| Error::Usage(format!("squashing layer {}: {e}", l.display())))?;
            }
            // Symbolic links and fifos of the merged layers keep the
            // owners their layers list.
            let owners = crate::owners::StackOwners::new(None, &layers[base..]);
            crate::container::files::layer_from_upper(
                store,
                &merged,
                &layers[..base],
                &owners,
                crate::container::files::Upper::Kept,
            )
        })?;
        let store = self.ctx.store()?;
        let mut seen = 0;
        if let Some(h) = state.config["history"].as_array_mut() {
            for e in h.iter_mut() {
                if e["empty_layer"].as_bool() == Some(true) {
                    continue;
                }
                seen += 1;
                if seen > base {
                    e["empty_layer"] = json!(true);
                }
            }
        }
        if let Some(ids) = state.config["rootfs"]["diff_ids"].as_array_mut() {
            ids.truncate(base);
        }
        state.layers.truncate(base);
        state.add_layer(&added.diff_id, store.layer_dir(&added.diff_id));
        let entry = json!({
            "created": crate::time::rfc3339(crate::image::store::now()),
            "created_by": format!("burrow build --squash: {made} layers merged"),
            "comment": "merge",
        });
        match state.config["history"].as_array_mut() {
            Some(h) => h.push(entry),
            None => state.config["history"] = json!([entry]),
        }
        Ok(())
    }

    /// Downloads an ADD URL into the store's scratch.
    fn download(
        &self,
        url: &str,
        n: usize,
        checksum: Option<&str>,
        scratch: &mut Option<TempDir>,
    ) -> std::result::Result<Download, String> {
        if scratch.is_none() {
            let store = self.ctx.store().map_err(|e| e.to_string())?;
            *scratch = Some(store.temp_dir("build-add").map_err(|e| e.to_string())?);
        }
        let path = scratch
            .as_ref()
            .expect("made above")
            .path()
            .join(format!("{n}"));
        let mut f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        match add::download(url, &mut f, checksum) {
            Ok(got) => Ok(Download {
                name: add::url_file_name(url),
                path,
                mtime: got.mtime,
                digest: got.digest,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e.to_string())
            }
        }
    }

    /// The index of the context directory `root` (the main one or a named
    /// one: each after its own ignore file).
    fn index_of(&mut self, root: &Path) -> Result<&ContextIndex> {
        if !self.indexes.contains_key(root) {
            let ignore = ["/.containerignore", "/.dockerignore"]
                .iter()
                .find_map(|n| std::fs::read_to_string(format!("{}{n}", root.display())).ok())
                .map(|t| Ignore::parse(&t))
                .unwrap_or_default();
            let path = context::index_path(&self.build_dir, root);
            let previous = ContextIndex::load(&path);
            let ix =
                ContextIndex::scan(root, &ignore, previous.as_ref()).map_err(|e| berr(e.into()))?;
            let unchanged = previous.as_ref().is_some_and(|p| p.entries == ix.entries);
            if !unchanged {
                if let Ok(data) = serde_json::to_vec(&ix) {
                    let store = self.ctx.store()?;
                    // A lost index only costs reading the context once more.
                    let _ = store.write_atomic(&path, &data);
                }
            }
            self.indexes.insert(root.to_path_buf(), ix);
        }
        Ok(&self.indexes[root])
    }

    /// Where `--from=f` of the current stage reads its files.
    fn source_tree(&self, f: &str, fail: &dyn Fn(String) -> Error) -> Result<FromTree> {
        let image = |r: &str| -> Result<FromTree> {
            let id = self.image(r).map_err(|e| fail(e.to_string()))?;
            Ok(FromTree::Layers {
                layers: self.state_of_image(&id)?.layers,
                key: format!("image:{id}"),
            })
        };
        match (self.graph.resolve_from(self.current, f)).map_err(|e| fail(e.to_string()))? {
            Source::Stage(i) => {
                let s = &self.results[&i];
                Ok(FromTree::Layers {
                    layers: s.layers.clone(),
                    key: format!("stage:{}", s.key),
                })
            }
            Source::Image(r) => image(&r),
            Source::Context(name) => match &self.contexts[&name] {
                ContextSource::Dir(root) => Ok(FromTree::Dir(root.clone(), Some(name))),
                ContextSource::Image(r) => image(r),
                ContextSource::Scratch => Ok(FromTree::Layers {
                    layers: Vec::new(),
                    key: "scratch".into(),
                }),
            },
        }
    }

    /// COPY's `sources` in the context directory `root`; their digest
    /// goes into the step's key.
    fn context_source(
        &mut self,
        root: &Path,
        sources: &[String],
        exclude: &Ignore,
        extra: &mut Vec<String>,
        fail: &dyn Fn(String) -> Error,
    ) -> Result<CopySource> {
        let ix = self.index_of(root)?.clone();
        let mut picked = Vec::new();
        for s in sources {
            picked.extend(context::select(&ix, s).map_err(|e| fail(e.to_string()))?);
        }
        extra.push(context::sources_digest(&ix, &picked, exclude));
        let entries = picked
            .into_iter()
            .map(|p| {
                let under = ix.under(&p.path).to_vec();
                (p, under)
            })
            .collect();
        Ok(CopySource::Context {
            root: root.to_path_buf(),
            entries,
        })
    }

    /// The state of a stage that starts from (or is) named context `name`:
    /// its image, nothing (scratch), or a directory as the root
    /// filesystem: one layer of its files, as `COPY . /` would make it.
    fn context_base(&mut self, name: &str, from: &Instruction) -> Result<StageState> {
        let file = self.file.clone();
        let fail = |m: String| step_err(&file, from, m);
        match self.contexts[name].clone() {
            ContextSource::Image(r) => {
                let id = self.image(&r).map_err(|e| fail(e.to_string()))?;
                self.state_of_image(&id)
            }
            ContextSource::Scratch => Ok(scratch_state()),
            ContextSource::Dir(root) => {
                let mut state = scratch_state();
                let ix = self.index_of(&root)?.clone();
                let all = Selected {
                    path: ".".into(),
                    kind: FileKind::Dir,
                };
                let digest =
                    context::sources_digest(&ix, std::slice::from_ref(&all), &Ignore::default());
                let text = format!("build context {name}");
                let key = context::step_key(&state.key, &text, &[&digest]);
                if self.try_cache(&key, &mut state)? {
                    return Ok(state);
                }
                let job = CopyJob {
                    layers: Vec::new(),
                    source: CopySource::Context {
                        root,
                        entries: vec![(all, ix.entries)],
                    },
                    heredocs: Vec::new(),
                    dest: "/".into(),
                    dest_is_dir: true,
                    chown: None,
                    chmod: None,
                    parents: false,
                    exclude: Ignore::default(),
                    unpack_local: false,
                    unpack_urls: false,
                    downloads: Vec::new(),
                    earlier: None,
                };
                let added = self.ctx.in_userns(move |store| Ok(job.run(store)))?;
                let added = added.map_err(fail)?;
                let store = self.ctx.store()?;
                state.add_layer(&added.diff_id, store.layer_dir(&added.diff_id));
                state.history(&text, false);
                self.commit(&key, &mut state)?;
                Ok(state)
            }
        }
    }

    fn copy(
        &mut self,
        ins: &Instruction,
        state: &mut StageState,
        c: &Copy,
        vars: &Vars,
    ) -> Result<bool> {
        let (file, esc) = (self.file.clone(), self.graph.escape);
        let x = |w: &str| expand(w, esc, vars).map_err(|e| step_err(&file, ins, e.to_string()));
        let fail = |m: String| step_err(&file, ins, m);
        let dest_raw = x(&c.dest)?;
        let dest_is_dir = dest_raw.ends_with('/') || dest_raw.ends_with("/.") || dest_raw == ".";
        let dest = clean(&if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{}/{dest_raw}", state.workdir())
        });
        let chown = c.chown.as_deref().map(&x).transpose()?;
        let chmod = match c.chmod.as_deref().map(&x).transpose()? {
            None => None,
            Some(m) => Some(
                u32::from_str_radix(&m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| fail(format!("--chmod={m}: only octal modes are supported")))?,
            ),
        };
        let excludes: Vec<String> = c.exclude.iter().map(|e| x(e)).collect::<Result<_>>()?;
        let exclude = Ignore::parse(&excludes.join("\n"));
        let sources: Vec<String> = c
            .sources
            .iter()
            .filter(|s| {
                !c.heredocs
                    .iter()
                    .any(|h| **s == format!("<<{}", h.name) || **s == format!("<<-{}", h.name))
            })
            .map(|s| x(s))
            .collect::<Result<_>>()?;
        let mut heredocs = Vec::new();
        for h in &c.heredocs {
            let content = if h.expand {
                x(&h.content)?
            } else {
                h.content.clone()
            };
            heredocs.push((h.name.clone(), content));
        }
        if sources
            .iter()
            .any(|s| s.starts_with("git@") || s.starts_with("git://"))
        {
            return Err(fail(
                "ADD from a git repository is not supported by burrow build yet".into(),
            ));
        }
        let (urls, sources): (Vec<String>, Vec<String>) =
            sources.into_iter().partition(|s| add::is_url(s));
        if !c.add && !urls.is_empty() {
            return Err(fail(format!(
                "{}: COPY cannot take a URL; use ADD",
                urls[0]
            )));
        }
        let checksum = match c.checksum.as_deref().map(&x).transpose()? {
            Some(_) if !sources.is_empty() || urls.is_empty() => {
                return Err(fail(
                    "--checksum can only be given for http(s) sources".into(),
                ))
            }
            Some(cs) => Some(add::parse_checksum(&cs).map_err(|e| fail(e.to_string()))?),
            None => None,
        };
        // Local archives are extracted unless --unpack=false; URLs are not
        // unless --unpack=true.
        let unpack_local = c.add && c.unpack.unwrap_or(true);
        let unpack_urls = c.add && c.unpack.unwrap_or(false);
        let from = c.from.as_deref().map(&x).transpose()?;
        let mut extra: Vec<String> = vec![format!(
            "{chown:?} {chmod:?} {} {excludes:?} {unpack_local} {unpack_urls}",
            c.parents
        )];
        let mut downloads = Vec::new();
        // Flocked while this step lives: no other command's cleaning
        // takes it for a leftover.
        let mut scratch: Option<TempDir> = None;
        for (n, url) in urls.iter().enumerate() {
            match &checksum {
                // The checksum names the content: no download to look
                // the cache up.
                Some(cs) => extra.push(format!("url\0{url}\0{cs}")),
                None => {
                    let d = self.download(url, n, None, &mut scratch).map_err(&fail)?;
                    extra.push(format!("url\0{url}\0{}", d.digest));
                    downloads.push(d);
                }
            }
        }
        let tree = match &from {
            None => FromTree::Dir(self.spec.context.clone(), None),
            Some(f) => self.source_tree(f, &fail)?,
        };
        let source = match tree {
            FromTree::Dir(root, _) if from.is_none() && sources.is_empty() => CopySource::Context {
                root,
                entries: Vec::new(),
            },
            FromTree::Dir(root, name) => {
                let fail = |m: String| fail(named_source(m, &name));
                self.context_source(&root, &sources, &exclude, &mut extra, &fail)?
            }
            FromTree::Layers { layers, key } => {
                extra.push(key);
                CopySource::Rootfs {
                    layers,
                    paths: sources.clone(),
                }
            }
        };
        // The directory the files come from, for the lineage below.
        let source_dir = match &source {
            CopySource::Context { root, .. } => root.to_string_lossy().into_owned(),
            CopySource::Rootfs { .. } => self.spec.context.to_string_lossy().into_owned(),
        };
        for (n, cnt) in &heredocs {
            extra.push(format!("{n}\0{cnt}"));
        }
        let text = format!("{} {}", ins.keyword, ins.args);
        // What the words mean now: the same text with other args is
        // another step.
        extra.push(format!("{from:?}\0{sources:?}\0{dest}\0{dest_is_dir}"));
        let extra_refs: Vec<&str> = extra.iter().map(String::as_str).collect();
        let key = context::step_key(&state.key, &text, &extra_refs);
        if self.try_cache(&key, state)? {
            return Ok(true);
        }
        // The layer the last build of this COPY made, whatever its
        // sources were then: its unchanged files are linked, not written.
        let lineage = context::step_key(
            "copy-lineage",
            &text,
            &[&source_dir, &format!("{from:?}\0{dest}")],
        );
        let lineage_path = self
            .build_dir
            .join("cache")
            .join(format!("layer-of-{lineage}"));
        let earlier = std::fs::read_to_string(&lineage_path)
            .ok()
            .and_then(|hex| Digest::from_hex(hex.trim()).ok());
        if checksum.is_some() {
            for (n, url) in urls.iter().enumerate() {
                downloads.push(
                    self.download(url, n, checksum.as_deref(), &mut scratch)
                        .map_err(&fail)?,
                );
            }
        }
        let job = CopyJob {
            layers: state.layers.clone(),
            source,
            heredocs,
            dest,
            dest_is_dir,
            chown,
            chmod,
            parents: c.parents,
            exclude,
            unpack_local,
            unpack_urls,
            downloads,
            earlier,
        };
        let added: Result<std::result::Result<AddedLayer, String>> =
            self.ctx.in_userns(move |store| Ok(job.run(store)));
        drop(scratch);
        let added = added?;
        let added = added.map_err(fail)?;
        let store = self.ctx.store()?;
        // A lost record only costs writing the files once more.
        let _ = store.write_atomic(&lineage_path, added.diff_id.hex().as_bytes());
        if added.shared > 0 {
            *self.step_output.borrow_mut() = format!(
                "{} files written, {} unchanged files linked from the layer of the last build\n",
                added.written, added.shared
            );
        }
        state.add_layer(&added.diff_id, store.layer_dir(&added.diff_id));
        state.history(&format!("{text} # buildkit"), false);
        self.commit(&key, state)?;
        Ok(false)
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        ins: &Instruction,
        state: &mut StageState,
        flags: &parse::RunFlags,
        command: &Command,
        heredocs: &[parse::Heredoc],
        vars: &Vars,
    ) -> Result<bool> {
        let file = self.file.clone();
        let fail = |m: String| step_err(&file, ins, m);
        let mut planned = self.plan_mounts(ins, state, &flags.mounts, vars)?;
        if flags.security.as_deref() == Some("insecure") {
            return Err(fail("RUN --security=insecure is not supported".into()));
        }
        let shell = state.shell();
        // What the history and the cache key show, when not `argv`: a
        // heredoc script's text, not the path it is bound at.
        let mut shown: Option<String> = None;
        let argv: Vec<String> = match command {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let script: Vec<String> = match heredocs.first() {
                    // `RUN <<EOF`: the heredoc is the script.
                    Some(h)
                        if s.trim() == format!("<<{}", h.name)
                            || s.trim() == format!("<<-{}", h.name) =>
                    {
                        if h.content.starts_with("#!") {
                            // Its own interpreter: the kernel runs it as a
                            // script, bound read-only at a mount point the
                            // layer leaves out.
                            let target = format!("/dev/pipes/{}", h.name);
                            planned.push(PlannedMount {
                                key: format!("heredoc\0{target}"),
                                what: Planned::Secret {
                                    target: Some(target.clone()),
                                    env: None,
                                    data: h.content.clone().into_bytes(),
                                    owner: Owner {
                                        uid: 0,
                                        gid: 0,
                                        mode: 0o755,
                                    },
                                },
                            });
                            shown = Some(format!("{s}\n{}{}", h.content, h.name));
                            vec![target]
                        } else {
                            shell
                                .iter()
                                .cloned()
                                .chain(std::iter::once(h.content.clone()))
                                .collect()
                        }
                    }
                    // Other heredocs are the shell's own: pass them on.
                    _ if !heredocs.is_empty() => {
                        let mut t = s.clone();
                        for h in heredocs {
                            t.push('\n');
                            t.push_str(&h.content);
                            t.push_str(&h.name);
                        }
                        shell.iter().cloned().chain(std::iter::once(t)).collect()
                    }
                    _ => shell
                        .iter()
                        .cloned()
                        .chain(std::iter::once(s.clone()))
                        .collect(),
                };
                script
            }
        };
        // The args this RUN sees: declared ones, and proxies given.
        let env = state.env();
        let mut args: Vec<(String, String)> = state
            .args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for p in PROXY_ARGS {
            if let Some(v) = self.build_args.get(*p) {
                if !state.args.contains_key(*p) {
                    args.push((p.to_string(), v.clone()));
                }
            }
        }
        let recorded: Vec<String> = state.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let created_by = format!(
            "RUN {}{} # buildkit",
            if recorded.is_empty() {
                String::new()
            } else {
                format!("|{} {} ", recorded.len(), recorded.join(" "))
            },
            shown.unwrap_or_else(|| argv.join(" "))
        );
        let network = match flags.network.as_deref() {
            Some("none") => "none",
            Some("host") => "host",
            Some(_) => "user",
            None => self.spec.network.mode(),
        };
        let mut extra = vec![network.to_string()];
        extra.extend(planned.iter().map(|p| p.key.clone()));
        // A RUN step may read its /etc/hosts: other hosts, another step.
        extra.extend((self.spec.add_host.iter()).map(|(name, ip)| format!("add-host {name}={ip}")));
        let extra_refs: Vec<&str> = extra.iter().map(String::as_str).collect();
        let key = context::step_key(&state.key, &created_by, &extra_refs);
        if self.try_cache(&key, state)? {
            return Ok(true);
        }
        let image = state
            .image
            .clone()
            .ok_or_else(|| fail("RUN on an empty scratch stage: there is nothing to run".into()))?;
        let mounts = self.make_mounts(&key, planned).map_err(&fail)?;
        let result =
            self.run_container(ins, state, &key, image, argv, args, &env, network, &mounts);
        self.remove_mounts(mounts);
        if result.is_ok() {
            state.history(&created_by, false);
            self.commit(&key, state)?;
        }
        result.map(|()| false)
    }

    /// Runs a RUN step's container and takes its writable layer.
    #[allow(clippy::too_many_arguments)]
    fn run_container(
        &self,
        ins: &Instruction,
        state: &mut StageState,
        key: &str,
        image: Digest,
        argv: Vec<String>,
        args: Vec<(String, String)>,
        env: &[String],
        network: &str,
        mounts: &StepMounts,
    ) -> Result<()> {
        let file = self.file.clone();
        let fail = |m: String| step_err(&file, ins, m);
        // Two builds of the same step at once must not share a name.
        let name = format!("burrow-build-{}-{}", &key[..12], std::process::id());
        let mut run_env: Vec<String> = args
            .iter()
            .filter(|(k, _)| {
                !env.iter()
                    .any(|e| e.split_once('=').map(|p| p.0) == Some(k))
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        run_env.extend(mounts.env.iter().map(|(k, v)| format!("{k}={v}")));
        // The step's mounts, as `--mount` and `--tmpfs` would give them
        // (their host paths are absolute).
        let typed = |r: std::result::Result<_, crate::container::run::SpecError>| {
            r.map_err(|e| fail(e.to_string()))
        };
        let step_mounts = (mounts.mounts.iter())
            .map(|m| typed(crate::container::run::parse_mount(m, Path::new("/"))))
            .collect::<Result<Vec<_>>>()?;
        let step_tmpfs = (mounts.tmpfs.iter())
            .map(|t| typed(crate::container::run::parse_tmpfs(t)))
            .collect::<Result<Vec<_>>>()?;
        let spec = crate::container::run::RunSpec {
            image: image.to_string(),
            command: argv,
            name: Some(name.clone()),
            entrypoint: Some(String::new()),
            // ENV wins over an ARG of the same name.
            env: run_env,
            network: network
                .parse()
                .map_err(|e: crate::net::NetError| fail(e.to_string()))?,
            mounts: step_mounts,
            tmpfs: step_tmpfs,
            add_host: self.spec.add_host.clone(),
            skip_image_volumes: true,
            ..Default::default()
        };
        let out = output_file(self.ctx)?;
        {
            use rustix::fd::AsFd;
            self.progress.tell(
                Event::Output {
                    stage: self.current,
                },
                Some(out.as_fd()),
            );
        }
        let code = {
            let _redirect = Redirect::to(&out)?;
            crate::container::run::run(self.ctx, &spec)
        };
        let mut text = String::new();
        let mut o = &out;
        let _ = o.rewind();
        let _ = o.read_to_string(&mut text);
        let cleanup = |ctx: &Context| {
            let _ = crate::container::remove(ctx, &name, true, true);
        };
        let code = match code {
            Ok(c) => c,
            Err(e) => {
                cleanup(self.ctx);
                return Err(fail(format!("{e}{}", tail(&text))));
            }
        };
        *self.step_output.borrow_mut() = text.clone();
        if code != 0 {
            cleanup(self.ctx);
            return Err(fail(format!(
                "the command exited with status {code}{}",
                tail(&text)
            )));
        }
        let store = self.ctx.store()?;
        let containers = crate::container::record::Containers::open(store.root())?;
        let (record, _) = containers.find(&name)?;
        let upper = containers.dir_of(&record.id).join("upper");
        let lower = state.layers.clone();
        let stubs = mounts.targets.clone();
        let added = self.ctx.in_userns(move |store| {
            // The mount points made for this step are not its content.
            mounts::remove_stubs(&upper, &Layered::new(&lower), &stubs);
            let owners = crate::owners::StackOwners::new(Some(&upper), &[]);
            // The container has exited and is removed next: the layer
            // takes its files instead of copies.
            crate::container::files::layer_from_upper(
                store,
                &upper,
                &lower,
                &owners,
                crate::container::files::Upper::Discarded,
            )
        });
        cleanup(self.ctx);
        let added = added?;
        state.add_layer(&added.diff_id, store.layer_dir(&added.diff_id));
        Ok(())
    }

    /// A RUN step's mounts as plain data, with what each adds to the
    /// step's cache key. Nothing is made yet: a cache hit needs none.
    fn plan_mounts(
        &mut self,
        ins: &Instruction,
        state: &StageState,
        list: &[parse::Mount],
        vars: &Vars,
    ) -> Result<Vec<PlannedMount>> {
        use parse::MountKind;
        let (file, esc) = (self.file.clone(), self.graph.escape);
        let fail = |m: String| step_err(&file, ins, m);
        let x = |w: &Option<String>| -> Result<Option<String>> {
            w.as_deref()
                .map(|w| expand(w, esc, vars).map_err(|e| step_err(&file, ins, e.to_string())))
                .transpose()
        };
        let mut out = Vec::new();
        for m in list {
            let target = match x(&m.target)? {
                Some(t) if t.contains(',') => {
                    return Err(fail(format!(
                        "--mount target {t:?}: a comma is not allowed"
                    )))
                }
                Some(t) => Some(clean(&if t.starts_with('/') {
                    t
                } else {
                    format!("{}/{t}", state.workdir())
                })),
                None => None,
            };
            if target.as_deref() == Some("/") {
                return Err(fail("--mount cannot be on /".into()));
            }
            let number = |v: Option<String>, radix: u32, what: &str, default: u32| -> Result<u32> {
                match v {
                    None => Ok(default),
                    Some(v) => u32::from_str_radix(&v, radix)
                        .map_err(|_| fail(format!("--mount {what}={v}: not a number"))),
                }
            };
            let default_mode = if m.kind == MountKind::Secret {
                0o400
            } else {
                0o755
            };
            let owner = Owner {
                uid: number(x(&m.uid)?, 10, "uid", 0)?,
                gid: number(x(&m.gid)?, 10, "gid", 0)?,
                mode: number(x(&m.mode)?, 8, "mode", default_mode)? & 0o7777,
            };
            let from = x(&m.from)?;
            let source = x(&m.source)?;
            match m.kind {
                MountKind::Cache => {
                    let target = target.expect("the parser requires a target");
                    if from.is_some() {
                        return Err(fail(
                            "--mount=type=cache,from= is not supported by burrow build yet".into(),
                        ));
                    }
                    let id = x(&m.id)?.unwrap_or_else(|| target.clone());
                    let sharing = match m.sharing.as_deref() {
                        Some("locked") => Sharing::Locked,
                        Some("private") => Sharing::Private,
                        _ => Sharing::Shared,
                    };
                    out.push(PlannedMount {
                        key: format!("cache\0{id}\0{target}\0{:?}\0{}", owner, m.read_only),
                        what: Planned::Cache {
                            dir: mounts::cache_dir(&self.build_dir, &id),
                            target,
                            owner,
                            sharing,
                            read_only: m.read_only,
                        },
                    });
                }
                MountKind::Bind => {
                    let target = target.expect("the parser requires a target");
                    let source = source.unwrap_or_else(|| ".".into());
                    let tree = match &from {
                        None => FromTree::Dir(self.spec.context.clone(), None),
                        Some(f) => self.source_tree(f, &fail)?,
                    };
                    let (prepare, key) = match tree {
                        FromTree::Dir(root, name) => {
                            let ix = self.index_of(&root)?.clone();
                            let sel = context::select(&ix, &source)
                                .map_err(|e| fail(named_source(e.to_string(), &name)))?;
                            let [one] = sel.as_slice() else {
                                return Err(fail(format!(
                                    "--mount source={source}: a bind mount takes one path, not a pattern"
                                )));
                            };
                            let digest = context::sources_digest(&ix, &sel, &Ignore::default());
                            (
                                Prepare::Context {
                                    entries: ix.under(&one.path).to_vec(),
                                    root,
                                    prefix: one.path.clone(),
                                    dest: PathBuf::new(),
                                },
                                format!("context:{digest}"),
                            )
                        }
                        FromTree::Layers { layers, key } => (
                            Prepare::Layers {
                                layers,
                                path: clean(&format!("/{source}")),
                                dest: PathBuf::new(),
                            },
                            key,
                        ),
                    };
                    out.push(PlannedMount {
                        key: format!("bind\0{target}\0{source}\0{key}\0{}", m.read_only),
                        what: Planned::Bind {
                            target,
                            prepare,
                            // With rw, writes go to a copy that is dropped.
                            read_only: m.read_only,
                        },
                    });
                }
                MountKind::Secret => {
                    let id = match x(&m.id)? {
                        Some(id) => id,
                        None => base_name(target.as_deref().unwrap_or_default()),
                    };
                    let Some(data) = self.secrets.get(&id).cloned() else {
                        if m.required {
                            return Err(fail(format!(
                                "secret {id:?} is required but was not given with --secret id={id},src=PATH"
                            )));
                        }
                        continue;
                    };
                    let env = x(&m.env)?;
                    let target = match (&target, &env) {
                        (None, Some(_)) => None,
                        (Some(t), _) => Some(t.clone()),
                        (None, None) => Some(format!("/run/secrets/{id}")),
                    };
                    out.push(PlannedMount {
                        // The id, never the value: a changed secret does
                        // not change the step, as docker does it.
                        key: format!("secret\0{id}\0{target:?}\0{env:?}\0{owner:?}"),
                        what: Planned::Secret {
                            target,
                            env,
                            data,
                            owner,
                        },
                    });
                }
                MountKind::Tmpfs => {
                    let target = target.expect("the parser requires a target");
                    let size = match x(&m.size)? {
                        None => None,
                        Some(s) => {
                            Some(crate::container::run::parse_size(&s).ok_or_else(|| {
                                fail(format!("--mount size={s}: not a size (like 64m)"))
                            })?)
                        }
                    };
                    out.push(PlannedMount {
                        key: format!("tmpfs\0{target}\0{size:?}"),
                        what: Planned::Tmpfs { target, size },
                    });
                }
                MountKind::Ssh => {
                    return Err(fail(
                        "RUN --mount=type=ssh is not supported by burrow build".into(),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Makes what the planned mounts need (copies, secret files, cache
    /// directories, their locks) and says how the step's container mounts it.
    fn make_mounts(
        &self,
        key: &str,
        planned: Vec<PlannedMount>,
    ) -> std::result::Result<StepMounts, String> {
        let mut m = StepMounts::default();
        if planned.is_empty() {
            return Ok(m);
        }
        let store = self.ctx.store().map_err(|e| e.to_string())?;
        let tag = format!("{}-{}", std::process::id(), &key[..12]);
        // Flocked while the step lives: no other command's cleaning takes
        // it for a leftover.
        let held = store.temp_dir("build-mounts").map_err(|e| e.to_string())?;
        let scratch = held.path().to_path_buf();
        m.scratch = Some(held);
        let secrets = self.ctx.paths.runtime.join(format!("build-secrets-{tag}"));
        let mut prepare = Vec::new();
        let bind = |source: &Path, target: &str, ro: bool| {
            format!(
                "type=bind,source={},target={target}{}",
                source.display(),
                if ro { ",readonly" } else { "" }
            )
        };
        for (n, p) in planned.into_iter().enumerate() {
            match p.what {
                Planned::Cache {
                    dir,
                    target,
                    owner,
                    sharing,
                    read_only,
                } => {
                    std::fs::create_dir_all(dir.parent().expect("under build/mounts"))
                        .map_err(|e| format!("{}: {e}", dir.display()))?;
                    let lock_path = dir.with_extension("lock");
                    use crate::lockfile::{lock_file, try_lock_file, LockKind};
                    let locked = |e: crate::lockfile::LockError| e.to_string();
                    let (lock, dir) = match sharing {
                        Sharing::Shared => (
                            Some(lock_file(&lock_path, LockKind::Shared).map_err(locked)?),
                            dir,
                        ),
                        Sharing::Locked => (
                            Some(lock_file(&lock_path, LockKind::Exclusive).map_err(locked)?),
                            dir,
                        ),
                        Sharing::Private => {
                            match try_lock_file(&lock_path, LockKind::Exclusive).map_err(locked)? {
                                Some(lock) => (Some(lock), dir),
                                // Another build uses it: this step gets
                                // a fresh one of its own.
                                None => (None, scratch.join(format!("cache-{n}"))),
                            }
                        }
                    };
                    m.locks.extend(lock);
                    prepare.push(Prepare::CacheDir {
                        path: dir.clone(),
                        owner,
                    });
                    m.mounts.push(bind(&dir, &target, read_only));
                    m.targets.push(target);
                }
                Planned::Bind {
                    target,
                    prepare: what,
                    read_only,
                } => {
                    let dest = scratch.join(format!("bind-{n}"));
                    prepare.push(match what {
                        Prepare::Context {
                            root,
                            entries,
                            prefix,
                            ..
                        } => Prepare::Context {
                            root,
                            entries,
                            prefix,
                            dest: dest.clone(),
                        },
                        Prepare::Layers { layers, path, .. } => Prepare::Layers {
                            layers,
                            path,
                            dest: dest.clone(),
                        },
                        other => other,
                    });
                    m.mounts.push(bind(&dest, &target, read_only));
                    m.targets.push(target);
                }
                Planned::Secret {
                    target,
                    env,
                    data,
                    owner,
                } => {
                    if let Some(var) = env {
                        m.env
                            .push((var, String::from_utf8_lossy(&data).into_owned()));
                    }
                    if let Some(target) = target {
                        let path = secrets.join(format!("{n}"));
                        prepare.push(Prepare::Secret {
                            path: path.clone(),
                            data,
                            owner,
                        });
                        m.mounts.push(bind(&path, &target, true));
                        m.targets.push(target);
                    }
                }
                Planned::Tmpfs { target, size } => {
                    m.tmpfs.push(match size {
                        Some(s) => format!("{target}:size={s}"),
                        None => target.clone(),
                    });
                    m.targets.push(target);
                }
            }
        }
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&secrets)
            .map_err(|e| format!("{}: {e}", secrets.display()))?;
        m.temps = vec![scratch, secrets];
        let made = self
            .ctx
            .in_userns(move |_| mounts::prepare(prepare).map_err(|e| Error::Usage(e.to_string())));
        if let Err(e) = made {
            let temps = std::mem::take(&mut m.temps);
            self.remove_mounts(StepMounts {
                temps,
                ..Default::default()
            });
            return Err(e.to_string());
        }
        Ok(m)
    }

    /// Removes a step's copies and secret files (inside the user
    /// namespace: the step may have left files of other owners).
    fn remove_mounts(&self, m: StepMounts) {
        let temps = m.temps.clone();
        if temps.is_empty() {
            return;
        }
        let _ = self.ctx.in_userns(move |_| {
            for t in &temps {
                let _ = std::fs::remove_dir_all(t);
            }
            Ok(())
        });
        drop(m);
    }
}

/// How a cache mount is shared between builds running at once.
#[derive(Debug, Clone, Copy)]
enum Sharing {
    Shared,
    Locked,
    Private,
}

#[derive(Debug)]
enum Planned {
    Cache {
        dir: PathBuf,
        target: String,
        owner: Owner,
        sharing: Sharing,
        read_only: bool,
    },
    Bind {
        target: String,
        prepare: Prepare,
        read_only: bool,
    },
    Secret {
        target: Option<String>,
        env: Option<String>,
        data: Vec<u8>,
        owner: Owner,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
}

/// One `--mount` of a RUN step, and what it adds to the step's key.
#[derive(Debug)]
struct PlannedMount {
    key: String,
    what: Planned,
}

/// A RUN step's mounts, made: `--mount`/`--tmpfs` for its container, the
/// secrets given as variables, the mount points to take out of its layer,
/// the scratch to remove, and the cache locks held while it runs.
#[derive(Default)]
struct StepMounts {
    mounts: Vec<String>,
    tmpfs: Vec<String>,
    env: Vec<(String, String)>,
    targets: Vec<String>,
    temps: Vec<PathBuf>,
    locks: Vec<crate::lockfile::FileLock>,
    scratch: Option<TempDir>,
}

/// The last lines of a failed RUN's output, for its error.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let from = lines.len().saturating_sub(20);
    format!("; its last output:\n{}", lines[from..].join("\n"))
}

/// An unlinked temp file for a RUN's output.
fn output_file(ctx: &Context) -> Result<std::fs::File> {
    let dir = ctx.paths.runtime.clone();
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("build-output-{}", std::process::id()));
    let f = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

/// stdout and stderr sent to a file while this lives: a RUN container
/// inherits them, so its output lands there to be shown and, on failure,
/// quoted. Restored on drop.
struct Redirect {
    saved: [rustix::fd::OwnedFd; 2],
}

impl Redirect {
    fn to(file: &std::fs::File) -> Result<Redirect> {
        use rustix::fd::AsFd;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let dup = |fd: rustix::fd::BorrowedFd| {
            rustix::io::fcntl_dupfd_cloexec(fd, 3)
                .map_err(|e| Error::Usage(format!("dup of stdio: {e}")))
        };
        let saved = [
            dup(std::io::stdout().as_fd())?,
            dup(std::io::stderr().as_fd())?,
        ];
        for target in [1, 2] {
            // SAFETY: dup2 of a valid open file onto fd 1 or 2, which this
            // process owns; both are put back in drop.
            if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(file), target) } < 0 {
                return Err(Error::Usage(format!(
                    "redirecting output: {}",
                    std::io::Error::last_os_error()
                )));
            }
        }
        Ok(Redirect { saved })
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        for (i, fd) in self.saved.iter().enumerate() {
            // SAFETY: dup2 of the saved stdio fds back onto 1 and 2.
            unsafe {
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(fd), i as i32 + 1);
            }
        }
    }
}

/// The instructions `import --change` and `commit --change` take.
const CHANGE_KEYWORDS: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Parses `--change` values (each one or more Containerfile lines; the
/// Nth value's instructions are `--change:N` in errors). An instruction
/// outside `CHANGE_KEYWORDS`, or a malformed one, is an error.
pub fn parse_changes(changes: &[String]) -> Result<Vec<Instruction>> {
    let mut out = Vec::new();
    for (i, text) in changes.iter().enumerate() {
        let cf = parse::parse("--change", text).map_err(|mut e| {
            e.line = i + 1;
            berr(e.into())
        })?;
        if cf.instructions.is_empty() {
            return Err(Error::Usage(format!(
                "--change:{}: {text:?} holds no instruction",
                i + 1
            )));
        }
        for mut ins in cf.instructions {
            ins.line = i + 1;
            if !CHANGE_KEYWORDS.contains(&ins.keyword.as_str()) {
                return Err(step_err(
                    "--change",
                    &ins,
                    format!(
                        "{} cannot be a change: only {} can",
                        ins.keyword,
                        CHANGE_KEYWORDS.join(", ")
                    ),
                ));
            }
            out.push(ins);
        }
    }
    Ok(out)
}

/// Applies instructions from `parse_changes` to an image config (the
/// whole document), in order, as a Containerfile's steps would: shell
/// forms through the config's SHELL, words substituted from its ENV, a
/// relative WORKDIR against the current one.
pub fn apply_changes(config: &mut Value, changes: &[Instruction]) -> Result<()> {
    let mut state = StageState {
        config: std::mem::take(config),
        image: None,
        layers: Vec::new(),
        key: String::new(),
        args: Vars::new(),
        cmd_set: false,
    };
    let result = changes.iter().try_for_each(|ins| {
        if let Kind::Workdir(w) = &ins.kind {
            let vars = state.vars();
            let w = expand(w, '\\', &vars).map_err(|e| step_err("--change", ins, e.to_string()))?;
            let dir = clean(&if w.starts_with('/') {
                w
            } else {
                format!("{}/{w}", state.workdir())
            });
            state.run_config().insert("WorkingDir".into(), json!(dir));
        } else {
            apply_meta("--change", '\\', ins, &mut state)?;
        }
        Ok(())
    });
    *config = state.config;
    result
}

/// Applies a metadata instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
/// ONBUILD, USER, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, MAINTAINER) to
/// the stage's image config, words substituted from its ENV and ARGs;
/// returns the history text. Other instructions change nothing: None.
fn apply_meta(
    file: &str,
    esc: char,
    ins: &Instruction,
    state: &mut StageState,
) -> Result<Option<String>> {
    let vars = state.vars();
    let x = |w: &str| expand(w, esc, &vars).map_err(|e| step_err(file, ins, e.to_string()));
    let meta: Option<String>;
    match &ins.kind {
        Kind::Env(pairs) => {
            let mut env = state.env();
            let mut text = Vec::new();
            for (k, v) in pairs {
                let v = x(v)?;
                let k = x(k)?;
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |p| p.0) != k);
                env.push(format!("{k}={v}"));
                text.push(format!("{k}={v}"));
            }
            state.run_config().insert("Env".into(), json!(env));
            meta = Some(format!("ENV {}", text.join(" ")));
        }
        Kind::Label(pairs) => {
            let mut text = Vec::new();
            let rc = state.run_config();
            if !rc.get("Labels").is_some_and(Value::is_object) {
                rc.insert("Labels".into(), json!({}));
            }
            for (k, v) in pairs {
                let (k, v) = (x(k)?, x(v)?);
                text.push(format!("{k}={v}"));
                state.run_config()["Labels"][&k] = json!(v);
            }
            meta = Some(format!("LABEL {}", text.join(" ")));
        }
        Kind::Expose(ports) => {
            let mut set = BTreeMap::new();
            for p in ports {
                for port in expose_ports(&x(p)?).map_err(|m| step_err(file, ins, m))? {
                    set.insert(port, json!({}));
                }
            }
            let rc = state.run_config();
            let mut all: serde_json::Map<String, Value> = rc
                .get("ExposedPorts")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let text: Vec<String> = set.keys().map(|k| format!("{k}:{{}}")).collect();
            all.extend(set);
            rc.insert("ExposedPorts".into(), Value::Object(all));
            meta = Some(format!("EXPOSE map[{}]", text.join(" ")));
        }
        Kind::Volume(vols) => {
            let mut text = Vec::new();
            for v in vols {
                let v = x(v)?;
                if v.trim().is_empty() {
                    return Err(step_err(
                        file,
                        ins,
                        "VOLUME specified can not be an empty string",
                    ));
                }
                let rc = state.run_config();
                if !rc.get("Volumes").is_some_and(Value::is_object) {
                    rc.insert("Volumes".into(), json!({}));
                }
                rc["Volumes"][&v] = json!({});
                text.push(v);
            }
            meta = Some(format!("VOLUME [{}]", text.join(" ")));
        }
        Kind::User(u) => {
            let u = x(u)?;
            state.run_config().insert("User".into(), json!(u));
            meta = Some(format!("USER {u}"));
        }
        Kind::Stopsignal(s) => {
            let s = x(s)?;
            if crate::sandbox::signal_number(&s).is_none() {
                return Err(step_err(file, ins, format!("invalid signal {s:?}")));
            }
            state.run_config().insert("StopSignal".into(), json!(s));
            meta = Some(format!("STOPSIGNAL {s}"));
        }
        Kind::Cmd(c) | Kind::Entrypoint(c) => {
            let argv = match c {
                Command::Exec(v) => v.clone(),
                Command::Shell(s) => {
                    let mut v = state.shell();
                    v.push(s.clone());
                    v
                }
            };
            let is_cmd = matches!(ins.kind, Kind::Cmd(_));
            if is_cmd {
                state.cmd_set = true;
                state.run_config().insert("Cmd".into(), json!(argv));
                meta = Some(format!("CMD {}", json!(argv)));
            } else {
                // An ENTRYPOINT drops a Cmd this stage did not set.
                let cmd_set = state.cmd_set;
                let rc = state.run_config();
                rc.insert("Entrypoint".into(), json!(argv));
                if !cmd_set {
                    rc.insert("Cmd".into(), Value::Null);
                }
                meta = Some(format!("ENTRYPOINT {}", json!(argv)));
            }
        }
        Kind::Shell(v) => {
            state.run_config().insert("Shell".into(), json!(v));
            meta = Some(format!("SHELL [{}]", v.join(" ")));
        }
        Kind::Healthcheck(h) => {
            let value = match h {
                None => json!({"Test": ["NONE"]}),
                Some(h) => {
                    let test = match &h.command {
                        Some(Command::Exec(v)) => std::iter::once("CMD".to_string())
                            .chain(v.iter().cloned())
                            .collect(),
                        Some(Command::Shell(s)) => vec!["CMD-SHELL".to_string(), s.clone()],
                        None => vec!["NONE".to_string()],
                    };
                    let mut o = json!({"Test": test});
                    for (name, v) in [
                        ("Interval", &h.interval),
                        ("Timeout", &h.timeout),
                        ("StartPeriod", &h.start_period),
                        ("StartInterval", &h.start_interval),
                    ] {
                        if let Some(v) = v {
                            let ns = go_duration(&x(v)?).ok_or_else(|| {
                                step_err(file, ins, format!("invalid duration {v:?} for {name}"))
                            })?;
                            if ns != 0 {
                                o[name] = json!(ns);
                            }
                        }
                    }
                    if let Some(r) = &h.retries {
                        let n: i64 = x(r)?
                            .parse()
                            .map_err(|_| step_err(file, ins, format!("invalid retries {r:?}")))?;
                        if n < 0 {
                            return Err(step_err(file, ins, "--retries cannot be negative"));
                        }
                        if n != 0 {
                            o["Retries"] = json!(n);
                        }
                    }
                    o
                }
            };
            state.run_config().insert("Healthcheck".into(), value);
            meta = Some(ins.text());
        }
        Kind::Onbuild(inner) => {
            let rc = state.run_config();
            let mut list = rc
                .get("OnBuild")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            list.push(json!(inner.text()));
            rc.insert("OnBuild".into(), Value::Array(list));
            meta = Some(ins.text());
        }
        Kind::Maintainer(m) => {
            state.config["author"] = json!(m);
            meta = Some(format!("MAINTAINER {m}"));
        }
        _ => return Ok(None),
    }
    Ok(meta)
}

/// `80`, `80/udp`, `8000-8002/tcp` to docker's `80/tcp` keys.
fn expose_ports(spec: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let bad = || format!("invalid containerPort: {ports}");
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

pub use crate::time::go_duration;

/// Where COPY reads from.
enum CopySource {
    Context {
        root: PathBuf,
        entries: Vec<(Selected, Vec<FileEntry>)>,
    },
    Rootfs {
        layers: Vec<PathBuf>,
        paths: Vec<String>,
    },
}

/// One member of a COPY layer.
enum Item {
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
        mtime: u64,
    },
    File {
        from: PathBuf,
        mode: u32,
        uid: u32,
        gid: u32,
        mtime: u64,
        size: u64,
    },
    Data {
        data: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Link {
        target: String,
        uid: u32,
        gid: u32,
        mtime: u64,
    },
}

struct CopyJob {
    layers: Vec<PathBuf>,
    source: CopySource,
    heredocs: Vec<(String, String)>,
    dest: String,
    dest_is_dir: bool,
    chown: Option<String>,
    chmod: Option<u32>,
    parents: bool,
    exclude: Ignore,
    /// ADD: local archives named as sources are extracted.
    unpack_local: bool,
    /// ADD --unpack=true: downloaded archives are extracted too.
    unpack_urls: bool,
    /// ADD: the URLs' files, downloaded.
    downloads: Vec<Download>,
    /// The layer an earlier build of this step made, to link unchanged
    /// files from.
    earlier: Option<Digest>,
}

/// An archive ADD extracts: the directory in the image, the file, and
/// the owner `--chown` gives its members.
type Archive = (String, PathBuf, Option<(u32, u32)>);

/// A file ADD downloaded, waiting to be put in the layer.
struct Download {
    name: String,
    path: PathBuf,
    mtime: u64,
    digest: String,
}

fn join(dir: &str, name: &str) -> String {
    clean(&format!("{dir}/{name}"))
}

fn base_name(p: &str) -> String {
    p.rsplit('/').next().unwrap_or(p).to_string()
}

impl CopyJob {
    /// Builds the layer inside the user namespace; a user's error is
    /// returned as text for the step's message.
    fn run(self, store: &crate::image::Store) -> std::result::Result<AddedLayer, String> {
        let fs = Layered::new(&self.layers);
        let (uid, gid) = match &self.chown {
            Some(c) => lookup_owner(&fs, c).map_err(|e| e.to_string())?,
            None => (0, 0),
        };
        let mode = |m: u32| self.chmod.unwrap_or(m);
        // (path in the image, member)
        let mut items: BTreeMap<String, Item> = BTreeMap::new();
        let mut count = self.heredocs.len();
        match &self.source {
            CopySource::Context { entries, .. } => count += entries.len(),
            CopySource::Rootfs { paths, .. } => count += paths.len(),
        }
        count += self.downloads.len();
        let into_dir = self.dest_is_dir || count > 1;
        // ADD's archives: (directory in the image, file); extracted there.
        let mut archives: Vec<(String, PathBuf)> = Vec::new();
        let archive_owner = self.chown.is_some().then_some((uid, gid));
        // A file source's path in the image.
        let file_target = |src: &str| -> String {
            if self.parents {
                join(&self.dest, src)
            } else if into_dir || fs.is_dir(&self.dest) {
                join(&self.dest, &base_name(src))
            } else {
                self.dest.clone()
            }
        };
        for (name, content) in &self.heredocs {
            items.insert(
                file_target(name),
                Item::Data {
                    data: content.clone().into_bytes(),
                    mode: mode(0o644),
                    uid,
                    gid,
                },
            );
        }
        for d in &self.downloads {
            if self.unpack_urls && add::is_archive(&d.path) {
                archives.push((self.dest.clone(), d.path.clone()));
                continue;
            }
            items.insert(
                file_target(&d.name),
                Item::File {
                    from: d.path.clone(),
                    // docker's mode for a downloaded file.
                    mode: mode(0o600),
                    uid,
                    gid,
                    mtime: d.mtime,
                    size: std::fs::metadata(&d.path).map(|m| m.len()).unwrap_or(0),
                },
            );
        }
        match &self.source {
            CopySource::Context { root, entries } => {
                for (sel, under) in entries {
                    if self.unpack_local
                        && sel.kind == FileKind::File
                        && add::is_archive(&root.join(&sel.path))
                    {
                        archives.push((self.dest.clone(), root.join(&sel.path)));
                        continue;
                    }
                    let base = if sel.kind == FileKind::Dir {
                        if self.parents && sel.path != "." {
                            join(&self.dest, &sel.path)
                        } else {
                            self.dest.clone()
                        }
                    } else {
                        String::new()
                    };
                    for e in under {
                        if context::is_excluded(&self.exclude, sel, &e.path) {
                            continue;
                        }
                        let target = if sel.kind == FileKind::Dir {
                            let rel = if sel.path == "." {
                                e.path.as_str()
                            } else {
                                match e.path.strip_prefix(&format!("{}/", sel.path)) {
                                    Some(r) => r,
                                    None => continue, // the directory itself
                                }
                            };
                            join(&base, rel)
                        } else {
                            file_target(&e.path)
                        };
                        let mtime = e.mtime.max(0) as u64;
                        let item = match e.kind {
                            FileKind::Dir => Item::Dir {
                                mode: mode(e.mode),
                                uid,
                                gid,
                                mtime,
                            },
                            FileKind::File => Item::File {
                                from: root.join(&e.path),
                                mode: mode(e.mode),
                                uid,
                                gid,
                                mtime,
                                size: e.size,
                            },
                            FileKind::Symlink => Item::Link {
                                target: e.link.clone().unwrap_or_default(),
                                uid,
                                gid,
                                mtime,
                            },
                            FileKind::Other => continue,
                        };
                        items.insert(target, item);
                    }
                    if sel.kind == FileKind::Dir && !items.contains_key(&base) && base != "/" {
                        items.insert(
                            base.clone(),
                            Item::Dir {
                                mode: 0o755,
                                uid,
                                gid,
                                mtime: 0,
                            },
                        );
                    }
                }
            }
            CopySource::Rootfs { layers, paths } => {
                let src = Layered::new(layers);
                for p in paths {
                    let resolved = src.resolve(p, false);
                    let Some((_, m)) = src.stat(&resolved) else {
                        return Err(format!("{p}: no such file in the source image"));
                    };
                    if m.is_dir() {
                        let base = if self.parents {
                            join(&self.dest, &resolved)
                        } else {
                            self.dest.clone()
                        };
                        walk_rootfs(&src, &resolved, &base, uid, gid, self.chmod, &mut items)?;
                    } else {
                        let target = file_target(&resolved);
                        rootfs_item(&src, &resolved, &target, uid, gid, self.chmod, &mut items);
                    }
                }
            }
        }
        // Targets under a symlinked directory of the image go where the
        // link points, as they would in the running container.
        let mut resolved: BTreeMap<String, Item> = BTreeMap::new();
        for (path, item) in items {
            let parent = path.rsplit_once('/').map(|p| p.0).unwrap_or("");
            let parent = fs.resolve(if parent.is_empty() { "/" } else { parent }, true);
            resolved.insert(join(&parent, &base_name(&path)), item);
        }
        let archives = archives
            .into_iter()
            .map(|(dest, from)| (fs.resolve(&dest, true), from, archive_owner))
            .collect();
        write_layer(
            store,
            &fs,
            resolved,
            archives,
            (uid, gid),
            self.earlier.as_ref(),
        )
        .map_err(|e| e.to_string())
    }
}

fn rootfs_item(
    src: &Layered,
    path: &str,
    target: &str,
    uid: u32,
    gid: u32,
    chmod: Option<u32>,
    items: &mut BTreeMap<String, Item>,
) {
    use std::os::unix::fs::MetadataExt;
    let Some((p, m)) = src.stat(path) else { return };
    let mode = chmod.unwrap_or(m.mode() & 0o7777);
    let mtime = m.mtime().max(0) as u64;
    let item = if m.is_dir() {
        Item::Dir {
            mode,
            uid,
            gid,
            mtime,
        }
    } else if m.file_type().is_symlink() {
        Item::Link {
            target: std::fs::read_link(&p)
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default(),
            uid,
            gid,
            mtime,
        }
    } else if m.is_file() {
        Item::File {
            from: p,
            mode,
            uid,
            gid,
            mtime,
            size: m.len(),
        }
    } else {
        return;
    };
    items.insert(target.to_string(), item);
}

fn walk_rootfs(
    src: &Layered,
    dir: &str,
    target: &str,
    uid: u32,
    gid: u32,
    chmod: Option<u32>,
    items: &mut BTreeMap<String, Item>,
) -> std::result::Result<(), String> {
    rootfs_item(src, dir, target, uid, gid, chmod, items);
    for name in src.read_dir(dir) {
        let p = join(dir, &name);
        let t = join(target, &name);
        match src.stat(&p) {
            Some((_, m)) if m.is_dir() => walk_rootfs(src, &p, &t, uid, gid, chmod, items)?,
            Some(_) => rootfs_item(src, &p, &t, uid, gid, chmod, items),
            None => {}
        }
    }
    Ok(())
}

/// Writes `items` (image paths) as a layer, with every missing parent
/// directory: the image's own metadata when it has the directory (so a
/// COPY into /tmp keeps /tmp's mode), else 0755 and `owner` (as docker
/// gives the directories a `COPY --chown` creates the `--chown` owner).
fn write_layer(
    store: &crate::image::Store,
    fs: &Layered,
    items: BTreeMap<String, Item>,
    archives: Vec<Archive>,
    owner: (u32, u32),
    earlier: Option<&Digest>,
) -> Result<AddedLayer> {
    use std::os::unix::fs::MetadataExt;
    let other = |m: String| Error::Usage(m);
    // No garbage collection removes the layers below (or `earlier`)
    // meanwhile.
    let _lock = store.lock_shared().map_err(img)?;
    let mut all: BTreeMap<String, Item> = BTreeMap::new();
    // An archive's directory is written like a parent of its members.
    let members: Vec<String> = archives
        .iter()
        .map(|(dest, _, _)| format!("{}/-", dest.trim_end_matches('/')))
        .collect();
    for p in items.keys().chain(members.iter()) {
        let mut cur = p.as_str();
        while let Some((parent, _)) = cur.rsplit_once('/') {
            if parent.is_empty() {
                break;
            }
            if !items.contains_key(parent) && !all.contains_key(parent) {
                let item = match fs.stat(parent) {
                    Some((p, m)) if m.is_dir() => {
                        // The image's owner, also where unpacking squashed it.
                        let recorded = (m.uid(), m.gid()) == (0, 0);
                        let (uid, gid) = recorded
                            .then(|| crate::owners::recorded_at_path(&p))
                            .flatten()
                            .map_or((m.uid(), m.gid()), |o| (o.uid, o.gid));
                        Item::Dir {
                            mode: m.mode() & 0o7777,
                            uid,
                            gid,
                            mtime: m.mtime().max(0) as u64,
                        }
                    }
                    _ => Item::Dir {
                        mode: 0o755,
                        uid: owner.0,
                        gid: owner.1,
                        mtime: 0,
                    },
                };
                all.insert(parent.to_string(), item);
            }
            cur = parent;
        }
    }
    all.extend(items);
    // The stream goes straight to the unpacker (which hashes it), from a
    // thread of this short-lived process: never written out whole.
    use crate::image::chunks::{self, Failed};
    let streamed = chunks::stream(
        |out| write_tar(out, &all, &archives),
        |reader| store.add_layer_sharing(reader, None, None, "build step", earlier),
    );
    match streamed {
        Ok((added, ())) => Ok(added),
        Err(Failed::Reader(e)) => Err(img(e)),
        Err(Failed::Writer(e)) => Err(e),
        Err(Failed::WriterPanicked) => Err(other("writing the layer's tar stream panicked".into())),
    }
}

/// The tar stream of a COPY layer: `all` (image paths, parents first),
/// then ADD's archives.
fn write_tar(
    out: crate::image::chunks::ChunkWriter,
    all: &BTreeMap<String, Item>,
    archives: &[Archive],
) -> Result<()> {
    let other = |m: String| Error::Usage(m);
    let mut tar = TarWriter::new(out);
    let terr = |e: crate::image::tar::TarError| other(e.to_string());
    for (p, item) in all {
        let name = p.trim_start_matches('/');
        if name.is_empty() {
            continue;
        }
        match item {
            Item::Dir {
                mode,
                uid,
                gid,
                mtime,
            } => {
                let mut e = NewEntry::new(name.as_bytes(), EntryKind::Directory, *mode, *mtime);
                (e.uid, e.gid) = (*uid as u64, *gid as u64);
                tar.append(&e, &mut std::io::empty()).map_err(terr)?;
            }
            Item::File {
                from,
                mode,
                uid,
                gid,
                mtime,
                size,
            } => {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(from)
                    .map_err(|e| other(format!("{}: {e}", from.display())))?;
                let mut e = NewEntry::new(name.as_bytes(), EntryKind::Regular, *mode, *mtime);
                (e.uid, e.gid) = (*uid as u64, *gid as u64);
                // A file that changed size since it was indexed is copied
                // as indexed: the size in the header is the one read.
                let actual = f.metadata().map(|m| m.len()).unwrap_or(*size);
                e.size = actual;
                tar.append(&e, &mut f.take(actual)).map_err(terr)?;
            }
            Item::Data {
                data,
                mode,
                uid,
                gid,
            } => {
                let mut e = NewEntry::new(name.as_bytes(), EntryKind::Regular, *mode, 0);
                (e.uid, e.gid) = (*uid as u64, *gid as u64);
                e.size = data.len() as u64;
                tar.append(&e, &mut data.as_slice()).map_err(terr)?;
            }
            Item::Link {
                target,
                uid,
                gid,
                mtime,
            } => {
                let mut e = NewEntry::new(name.as_bytes(), EntryKind::Symlink, 0o777, *mtime);
                (e.uid, e.gid) = (*uid as u64, *gid as u64);
                e.link = target.as_bytes();
                tar.append(&e, &mut std::io::empty()).map_err(terr)?;
            }
        }
    }
    for (dest, from, owner) in archives {
        add::append_archive(&mut tar, from, dest, *owner).map_err(|e| other(e.to_string()))?;
    }
    let w = tar.finish().map_err(terr)?;
    w.end().map_err(|e| other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("30s"), Some(30_000_000_000));
        assert_eq!(go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration("500ms"), Some(500_000_000));
        assert_eq!(go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration("0"), Some(0));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("5x"), None);
    }

    #[test]
    fn exposed_ports_as_docker_keys() {
        assert_eq!(expose_ports("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(expose_ports("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(
            expose_ports("8000-8002").unwrap(),
            vec!["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(expose_ports("x").is_err());
        assert!(expose_ports("80/icmp").is_err());
    }
}
