//! What `burrow compose` does with a loaded project, through burrow's own
//! library: networks and volumes made, images built or pulled, containers
//! created in dependency order (each after what it waits for), found again
//! by their labels for `ps`, `stop`, `start`, `restart` and `down`.
//! Everything `up` makes carries the project's label before it can fail,
//! so that `down` removes whatever a failed `up` left.

use super::service::{
    ServicePlan, NETWORK_LABEL, ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL, VOLUME_LABEL,
};
use super::{output, start_order, ComposeError, Condition, Project};
use crate::container::health::HealthStatus;
use crate::container::images::Context;
use crate::container::record::{Record, State, Status};
use crate::container::spec::UserMount;
use crate::container::{self as ctr, lifecycle, networks, volumes};
use crate::image::registry::Platform;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, ComposeError>;

/// `up`'s flags.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// The services named (with what they depend on); all when empty.
    pub services: Vec<String>,
    /// Build images even when they exist.
    pub build: bool,
    /// Create the containers, start none.
    pub no_start: bool,
    /// Seconds this `up` may wait, in all, for dependencies and (with
    /// `wait`) for its containers (none: no limit beyond each health
    /// check's verdict).
    pub wait_timeout: Option<u64>,
    /// Return only once every container is running, and healthy when it
    /// has a health check (`--wait`).
    pub wait: bool,
    /// `--scale SERVICE=N`: over the files' `scale` or `deploy.replicas`.
    pub scale: Vec<(String, u32)>,
    /// Leave containers numbered above the count (`run` starting what a
    /// one-off container depends on).
    pub keep_extra: bool,
}

impl UpOptions {
    /// How many containers `service` runs.
    fn replicas(&self, project: &Project, service: &str) -> Result<u32> {
        match self.scale.iter().rev().find(|(s, _)| s == service) {
            Some((_, n)) => Ok(*n),
            None => project.replicas(service),
        }
    }
}

/// The services asked for and everything they depend on, in start order.
pub fn selected(project: &Project, services: &[String]) -> Result<Vec<String>> {
    for s in services {
        if !project.model.services.contains_key(s) {
            return Err(ComposeError::NoService(s.clone()));
        }
    }
    let order = start_order(&project.model)?;
    if services.is_empty() {
        return Ok(order);
    }
    let mut want: Vec<String> = services.to_vec();
    let mut i = 0;
    while i < want.len() {
        for (dep, _) in project.model.services[&want[i]].dependencies() {
            if !want.contains(&dep) {
                want.push(dep);
            }
        }
        i += 1;
    }
    Ok(order.into_iter().filter(|s| want.contains(s)).collect())
}

/// The project's containers (every state), optionally only these
/// services', oldest first.
pub fn containers(
    ctx: &Context,
    project: &Project,
    services: &[String],
) -> Result<Vec<(Record, State)>> {
    let mut found: Vec<(Record, State)> = ctr::list(ctx, true)?
        .into_iter()
        .filter(|(r, _)| label(r, PROJECT_LABEL) == Some(project.name.as_str()))
        .filter(|(r, _)| {
            services.is_empty()
                || label(r, SERVICE_LABEL).is_some_and(|s| services.iter().any(|x| x == s))
        })
        .collect();
    found.reverse();
    Ok(found)
}

pub fn label<'a>(r: &'a Record, key: &str) -> Option<&'a str> {
    r.config.labels.get(key).map(String::as_str)
}

fn project_labels(project: &Project, kind: &str, key: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PROJECT_LABEL.to_string(), project.name.clone()),
        (kind.to_string(), key.to_string()),
    ])
}

/// Makes the networks and named volumes the selected services use, each
/// noted in `made`.
fn make_networks_and_volumes(
    ctx: &Context,
    project: &Project,
    services: &[String],
    made: &mut Made,
) -> Result<()> {
    let mut nets: Vec<String> = Vec::new();
    for s in services {
        for n in project.networks_of(&project.model.services[s]) {
            if !nets.contains(&n) {
                nets.push(n);
            }
        }
    }
    for key in nets {
        let name = project.network_name(&key);
        let top = project.model.networks.get(&key).and_then(Option::as_ref);
        let external = top.is_some_and(|n| n.external == Some(true));
        let found = if project.predefined_network(&key).is_some() {
            // docker's bridge, host or none: always there.
            Some(None)
        } else {
            networks::find(ctx, &name)
                .ok()
                .map(|n| n.labels.get(PROJECT_LABEL).cloned())
        };
        if let Some(owner) = found {
            if !external && owner.as_ref() != Some(&project.name) {
                eprintln!(
                    "Warning: a network with name {name} exists but was not created for this project; set `external: true` to use an existing network"
                );
            }
            continue;
        }
        if external {
            return Err(ComposeError::Model(format!(
                "network {name} is external and does not exist: make it with `burrow network create {name}`"
            )));
        }
        let mut labels = project_labels(project, NETWORK_LABEL, &key);
        if let Some(l) = top.and_then(|n| n.labels.as_ref()) {
            for (k, v) in super::service::key_values(l) {
                labels.insert(k, v.unwrap_or_default());
            }
        }
        println!(" Network {name}  Creating");
        networks::create(
            ctx,
            &crate::net::networks::NetworkSpec {
                name: name.clone(),
                subnets: Vec::new(),
                internal: top.and_then(|n| n.internal).unwrap_or(false),
                labels,
            },
        )?;
        made.networks.push(name);
    }
    // As compose: only the volumes the services mount, not every
    // top-level one (`up base` makes none of the others').
    let mut vols: Vec<String> = Vec::new();
    for s in services {
        for v in project.volumes_of(&project.model.services[s]) {
            if !vols.contains(&v) {
                vols.push(v);
            }
        }
    }
    for key in &vols {
        let Some(top) = project.model.volumes.get(key) else {
            continue;
        };
        let name = project.volume_name(key);
        if volumes::verbs::inspect(ctx, &name).is_ok() {
            continue;
        }
        if top.as_ref().is_some_and(|v| v.external == Some(true)) {
            return Err(ComposeError::Model(format!(
                "volume {name} is external and does not exist: make it with `burrow volume create {name}`"
            )));
        }
        let mut labels = project_labels(project, VOLUME_LABEL, key);
        if let Some(l) = top.as_ref().and_then(|v| v.labels.as_ref()) {
            for (k, v) in super::service::key_values(l) {
                labels.insert(k, v.unwrap_or_default());
            }
        }
        println!(" Volume {name}  Creating");
        volumes::verbs::create(
            ctx,
            &volumes::NewVolume {
                name: Some(name.clone()),
                labels,
                driver: top.as_ref().and_then(|v| v.driver.clone()),
                options: BTreeMap::new(),
            },
        )?;
        made.volumes.push(name);
    }
    Ok(())
}

/// The missing host directories of short-syntax bind mounts, made as
/// compose makes them.
fn make_bind_sources(project: &Project, services: &[String]) -> Result<()> {
    for s in services {
        for dir in project.bind_sources(s) {
            if !dir.exists() {
                std::fs::create_dir_all(&dir).map_err(|source| ComposeError::Read {
                    path: dir.clone(),
                    source,
                })?;
            }
        }
    }
    Ok(())
}

/// Builds the images of services with `build` (all of them with
/// `always`, else those not in the store), each after the services whose
/// images its build uses (`additional_contexts` of `service:NAME`), which
/// are built too.
pub fn build(ctx: &Context, project: &Project, services: &[String], always: bool) -> Result<()> {
    let store = ctx.store()?;
    for s in &super::build_order(&project.model, services)? {
        let plan = project.plan(s, 1)?;
        let Some(spec) = plan.build else { continue };
        if !always && ctx.resolve(&store, &plan.spec.image).is_ok() {
            continue;
        }
        println!(" Service {s}  Building");
        crate::build::exec::build(ctx, &spec)?;
    }
    Ok(())
}

/// Pulls the images of services without `build`.
pub fn pull(ctx: &Context, project: &Project, services: &[String]) -> Result<()> {
    let services = if services.is_empty() {
        project.model.services.keys().cloned().collect()
    } else {
        services.to_vec()
    };
    for s in &services {
        let service = project
            .model
            .services
            .get(s)
            .ok_or_else(|| ComposeError::NoService(s.clone()))?;
        let Some(image) = &service.image else {
            continue;
        };
        if service.build.is_some() {
            continue;
        }
        let platform = project.platform_of(s)?;
        println!(" Service {s}  Pulling {image}");
        pull_image(ctx, image, platform)?;
    }
    Ok(())
}

/// Pulls one service's image, for `pull`, `up` and `run`: for the
/// service's platform (none: this machine's), progress bars when stderr
/// is a terminal (else lines), the registry settings of the config.
fn pull_image(ctx: &Context, image: &str, platform: Option<Platform>) -> Result<()> {
    let opts = crate::image::registry::PullOptions {
        platform,
        progress: crate::image::registry::ProgressMode::detect(false),
    };
    ctr::images::pull(ctx, image, &opts, None)?;
    Ok(())
}

/// What an `up` made or started: what it stops and removes when a signal
/// interrupts it.
#[derive(Debug, Default)]
struct Made {
    networks: Vec<String>,
    volumes: Vec<String>,
    /// Containers made (or made again), by name.
    containers: Vec<String>,
    /// Containers started, by name, in the order started.
    started: Vec<String>,
}

/// The end of the waits of one `up` (`--wait-timeout`).
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Instant,
    secs: u64,
}

/// What `up` leaves for attached `up` to follow.
pub struct Started {
    /// The containers' names, in start order.
    pub names: Vec<String>,
    /// SIGINT and SIGTERM, held since `up` began.
    pub interrupt: output::Interrupt,
}

/// `up`: images, networks, volumes, then each service's container in
/// dependency order, started once what it waits for is ready (with
/// `wait`, until every one is running, or healthy). SIGINT and SIGTERM
/// are held from the start and read between steps: one that comes before
/// `up` is done stops and removes what this `up` made (a second kills
/// what it started) and `up` ends with `ComposeError::Interrupted`.
pub fn up(ctx: &Context, project: &Project, opts: &UpOptions) -> Result<Started> {
    let mut interrupt = output::Interrupt::hold(Vec::new())?;
    let mut made = Made::default();
    match up_steps(ctx, project, opts, &mut interrupt, &mut made) {
        Ok(names) => Ok(Started { names, interrupt }),
        Err(e) if matches!(e, ComposeError::Interrupted) || interrupt.came() => {
            undo(ctx, &made, &mut interrupt)?;
            Err(ComposeError::Interrupted)
        }
        Err(e) => Err(e),
    }
}

/// `Interrupted` once a signal has come.
fn interrupted(interrupt: &mut output::Interrupt) -> Result<()> {
    if interrupt.came() {
        Err(ComposeError::Interrupted)
    } else {
        Ok(())
    }
}

fn up_steps(
    ctx: &Context,
    project: &Project,
    opts: &UpOptions,
    interrupt: &mut output::Interrupt,
    made: &mut Made,
) -> Result<Vec<String>> {
    let order = selected(project, &opts.services)?;
    for (s, _) in &opts.scale {
        if !project.model.services.contains_key(s) {
            return Err(ComposeError::NoService(s.clone()));
        }
    }
    make_bind_sources(project, &order)?;
    // Every plan first: a bad value fails before anything is made.
    let mut plans: Vec<ServicePlan> = Vec::new();
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for s in &order {
        let n = opts.replicas(project, s)?;
        counts.insert(s.clone(), n);
        for i in 1..=n {
            plans.push(project.plan(s, i)?);
        }
    }
    // Images before anything of the project is made: a build stopped by
    // Ctrl-C leaves nothing to remove.
    interrupted(interrupt)?;
    build(ctx, project, &order, opts.build)?;
    interrupted(interrupt)?;
    pull_missing(ctx, &plans, interrupt)?;
    make_networks_and_volumes(ctx, project, &order, made)?;
    for plan in &mut plans {
        write_files(plan)?;
    }
    let existing = containers(ctx, project, &[])?;
    // Scaled down: the containers numbered above the count go.
    for (r, s) in &existing {
        let (Some(service), Some(number)) = (
            label(r, SERVICE_LABEL),
            label(r, super::service::NUMBER_LABEL).and_then(|n| n.parse::<u32>().ok()),
        ) else {
            continue;
        };
        if opts.keep_extra
            || label(r, ONEOFF_LABEL) == Some("True")
            || counts.get(service).is_none_or(|&n| number <= n)
        {
            continue;
        }
        interrupted(interrupt)?;
        if s.status == Status::Running {
            println!(" Container {}  Stopping", r.name);
            lifecycle::stop_many(ctx, std::slice::from_ref(&r.id), None)?;
        }
        println!(" Container {}  Removing", r.name);
        ctr::remove(ctx, &r.id, true, false)?;
    }
    let deadline = opts.wait_timeout.map(|secs| Deadline {
        at: Instant::now() + Duration::from_secs(secs),
        secs,
    });
    let mut names = Vec::new();
    for plan in &plans {
        interrupted(interrupt)?;
        let current = existing.iter().find(|(r, _)| r.name == plan.container);
        let fresh = current.is_some_and(|(r, _)| {
            label(r, super::service::HASH_LABEL)
                == plan
                    .spec
                    .labels
                    .get(super::service::HASH_LABEL)
                    .map(String::as_str)
        });
        let running = fresh && current.is_some_and(|(_, s)| s.status == Status::Running);
        if !fresh {
            if let Some((r, _)) = current {
                println!(" Container {}  Recreating", r.name);
                ctr::remove(ctx, &r.id, true, false)?;
            }
            println!(" Container {}  Creating", plan.container);
            ctr::run::create(ctx, &plan.spec)?;
            made.containers.push(plan.container.clone());
            for (net, endpoint) in plan.networks.iter().skip(1) {
                networks::connect(ctx, net, &plan.container, endpoint)?;
            }
        }
        names.push(plan.container.clone());
        if opts.no_start {
            continue;
        }
        for (dep, condition) in project.model.services[&plan.service].dependencies() {
            let replicas = counts.get(&dep).copied().unwrap_or(1);
            wait_for(
                ctx,
                project,
                &plan.service,
                &dep,
                condition,
                deadline,
                replicas,
                Some(&mut *interrupt),
            )?;
        }
        interrupted(interrupt)?;
        if !running {
            println!(" Container {}  Starting", plan.container);
            lifecycle::start(ctx, &plan.container)?;
            made.started.push(plan.container.clone());
        }
    }
    if opts.wait && !opts.no_start {
        let all: Vec<(&str, &str)> = plans
            .iter()
            .map(|p| (p.service.as_str(), p.container.as_str()))
            .collect();
        wait_ready(ctx, project, &all, deadline, Some(interrupt))?;
    }
    Ok(names)
}

/// Pulls the images not here of services without `build` (as making
/// their containers would), before anything of the project is made and
/// with SIGINT and SIGTERM let through: a Ctrl-C during a long pull ends
/// `up` at once, with nothing to undo.
fn pull_missing(
    ctx: &Context,
    plans: &[ServicePlan],
    interrupt: &mut output::Interrupt,
) -> Result<()> {
    let missing = missing_images(ctx, plans)?;
    interrupt.released(|| {
        for (image, platform) in missing {
            println!(" Image {image}  Pulling");
            pull_image(ctx, image, platform.cloned())?;
        }
        Ok(())
    })
}

/// The images not here of services without `build` that making their
/// containers would pull, each once, with the platform its service asks.
fn missing_images<'a>(
    ctx: &Context,
    plans: &'a [ServicePlan],
) -> Result<Vec<(&'a str, Option<&'a Platform>)>> {
    let store = ctx.store()?;
    let mut missing: Vec<(&str, Option<&Platform>)> = Vec::new();
    for p in plans {
        let image = p.spec.image.as_str();
        if p.build.is_none()
            && p.spec.pull == crate::container::run::PullPolicy::Missing
            && !missing.iter().any(|(i, _)| *i == image)
            && ctx.resolve(&store, image).is_err()
        {
            missing.push((image, p.platform.as_ref()));
        }
    }
    Ok(missing)
}

/// After an interrupt: stops what this `up` started (dependants first; a
/// further signal kills them), then removes the containers, networks and
/// volumes it made, newest first. What it found there stays.
fn undo(ctx: &Context, made: &Made, interrupt: &mut output::Interrupt) -> Result<()> {
    println!("Interrupted: stopping and removing what this up made (press Ctrl+C again to force)");
    interrupt.stop_and_wait(made.started.iter().rev().cloned().collect())?;
    for name in made.containers.iter().rev() {
        println!(" Container {name}  Removing");
        match ctr::remove(ctx, name, true, true) {
            Ok(_) => {}
            Err(crate::Error::Container(ctr::ContainerError::Record(
                ctr::record::RecordError::NotFound(_),
            ))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for name in made.networks.iter().rev() {
        println!(" Network {name}  Removing");
        networks::remove(ctx, name)?;
    }
    for name in made.volumes.iter().rev() {
        println!(" Volume {name}  Removing");
        volumes::verbs::remove(ctx, name, false)?;
    }
    Ok(())
}

/// Writes the secrets and configs burrow makes for a service (mode 0444
/// in a directory only the user reads), each only when its content
/// changed, and binds each from its real path.
fn write_files(plan: &mut ServicePlan) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    for f in &plan.files {
        let failed = |source: std::io::Error| ComposeError::Write {
            path: f.path.clone(),
            source,
        };
        let dir = f.path.parent().unwrap_or(Path::new("/"));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed)?;
        if std::fs::read(&f.path).ok().as_deref() != Some(f.content.as_slice()) {
            let name = f.path.file_name().unwrap_or_default().to_string_lossy();
            let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o444)
                .open(&tmp)
                .and_then(|mut file| {
                    file.write_all(&f.content)?;
                    file.sync_all()
                })
                .and_then(|()| std::fs::rename(&tmp, &f.path));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(failed(e));
            }
        }
        let real = crate::sandbox::mounts::real_bind_source(&f.path)
            .map_err(|e| failed(std::io::Error::other(e.to_string())))?;
        for m in &mut plan.spec.volumes {
            if let UserMount::Bind { source, .. } = m {
                if *source == f.path {
                    source.clone_from(&real);
                }
            }
        }
    }
    Ok(())
}

/// What a wait asks of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaited {
    /// What a `depends_on` condition asks.
    Dependency(Condition),
    /// `up --wait`: running, and healthy when it has a health check.
    Ready,
}

impl Awaited {
    fn what(self) -> &'static str {
        match self {
            Awaited::Dependency(Condition::ServiceStarted) => "started",
            Awaited::Dependency(Condition::ServiceHealthy) => "healthy",
            Awaited::Dependency(Condition::ServiceCompletedSuccessfully) => "done",
            Awaited::Ready => "running (and healthy, having a health check)",
        }
    }
}

/// Where a container stands against what is awaited: `Ok(true)` there,
/// `Ok(false)` not yet, `Err(why)` it never will be.
fn judge(s: &State, awaited: Awaited) -> std::result::Result<bool, String> {
    let exited = || {
        s.exit_code
            .map_or("exited".to_string(), |c| format!("exited with status {c}"))
    };
    let unhealthy = || {
        let last = s
            .health
            .as_ref()
            .and_then(|h| h.log.last())
            .map(|l| format!(": its last check said {:?}", l.output.trim()))
            .unwrap_or_default();
        format!("is unhealthy{last}")
    };
    let health = s.health.as_ref().map(|h| h.status);
    match awaited {
        Awaited::Dependency(Condition::ServiceStarted) => Ok(true),
        Awaited::Dependency(Condition::ServiceHealthy) => match (s.status, health) {
            (Status::Running, Some(HealthStatus::Healthy)) => Ok(true),
            (_, Some(HealthStatus::Unhealthy)) => Err(unhealthy()),
            (Status::Running, None) => {
                Err("has no health check, and depends_on waits for service_healthy".into())
            }
            (Status::Exited, _) => Err(format!("{} before it was healthy", exited())),
            _ => Ok(false),
        },
        Awaited::Dependency(Condition::ServiceCompletedSuccessfully) => {
            match (s.status, s.exit_code) {
                (Status::Exited, Some(0)) => Ok(true),
                (Status::Exited, _) => Err(format!(
                    "{}, and depends_on waits for service_completed_successfully",
                    exited()
                )),
                _ => Ok(false),
            }
        }
        Awaited::Ready => match (s.status, health) {
            (Status::Running, None | Some(HealthStatus::Healthy)) => Ok(true),
            (_, Some(HealthStatus::Unhealthy)) => Err(unhealthy()),
            (Status::Exited, _) => Err(exited()),
            _ => Ok(false),
        },
    }
}

/// Polls `container` until it is as awaited: its state, or why it never
/// will be (gone, failed, or not by the deadline); `Interrupted` when a
/// signal comes meanwhile.
fn wait_until(
    ctx: &Context,
    container: &str,
    awaited: Awaited,
    deadline: Option<Deadline>,
    mut interrupt: Option<&mut output::Interrupt>,
) -> Result<std::result::Result<State, String>> {
    loop {
        let Some((_, s)) = ctr::list(ctx, true)?
            .into_iter()
            .find(|(r, _)| r.name == container)
        else {
            return Ok(Err("does not exist".into()));
        };
        match judge(&s, awaited) {
            Ok(true) => return Ok(Ok(s)),
            Ok(false) => {}
            Err(why) => return Ok(Err(why)),
        }
        if let Some(d) = deadline.filter(|d| Instant::now() > d.at) {
            return Ok(Err(format!(
                "was not {} within {}s",
                awaited.what(),
                d.secs
            )));
        }
        match interrupt.as_deref_mut() {
            Some(i) => {
                if i.came_within(Duration::from_millis(100)) {
                    return Err(ComposeError::Interrupted);
                }
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Waits until each of `dep`'s containers (`replicas` of them) is as
/// `condition` asks: started, healthy (by its health check's verdict) or
/// exited with status 0.
#[allow(clippy::too_many_arguments)]
fn wait_for(
    ctx: &Context,
    project: &Project,
    service: &str,
    dep: &str,
    condition: Condition,
    deadline: Option<Deadline>,
    replicas: u32,
    mut interrupt: Option<&mut output::Interrupt>,
) -> Result<()> {
    if condition == Condition::ServiceStarted {
        return Ok(());
    }
    for i in 1..=replicas {
        let container = project.plan(dep, i)?.container;
        println!(" Container {container}  Waiting");
        let awaited = Awaited::Dependency(condition);
        match wait_until(ctx, &container, awaited, deadline, interrupt.as_deref_mut())? {
            Ok(_) if condition == Condition::ServiceHealthy => {
                println!(" Container {container}  Healthy")
            }
            Ok(_) => {}
            Err(why) => {
                return Err(ComposeError::Dependency {
                    service: service.to_string(),
                    dependency: dep.to_string(),
                    container,
                    why,
                })
            }
        }
    }
    Ok(())
}

/// `up --wait`, `start --wait`: every container (service, name) is
/// running, and healthy when it has a health check; one that another
/// service waits for to complete successfully may have exited with
/// status 0.
fn wait_ready(
    ctx: &Context,
    project: &Project,
    containers: &[(&str, &str)],
    deadline: Option<Deadline>,
    mut interrupt: Option<&mut output::Interrupt>,
) -> Result<()> {
    let completes: Vec<String> = project
        .model
        .services
        .values()
        .flat_map(|s| s.dependencies())
        .filter(|(_, c)| *c == Condition::ServiceCompletedSuccessfully)
        .map(|(d, _)| d)
        .collect();
    for &(service, container) in containers {
        let awaited = if completes.iter().any(|c| c == service) {
            Awaited::Dependency(Condition::ServiceCompletedSuccessfully)
        } else {
            Awaited::Ready
        };
        println!(" Container {container}  Waiting");
        match wait_until(ctx, container, awaited, deadline, interrupt.as_deref_mut())? {
            Ok(s) => println!(
                " Container {}  {}",
                container,
                match (s.status, &s.health) {
                    (Status::Exited, _) => "Exited",
                    (_, Some(_)) => "Healthy",
                    _ => "Running",
                }
            ),
            Err(why) => {
                return Err(ComposeError::NotReady {
                    container: container.to_string(),
                    why,
                })
            }
        }
    }
    Ok(())
}

/// How many containers of `service` there are (one at least: a missing
/// one is waited for, and said to be missing).
fn existing_replicas(list: &[(Record, State)], service: &str) -> u32 {
    let n = list
        .iter()
        .filter(|(r, _)| {
            label(r, SERVICE_LABEL) == Some(service) && label(r, ONEOFF_LABEL) != Some("True")
        })
        .count();
    u32::try_from(n).unwrap_or(u32::MAX).max(1)
}

/// `down`: the project's containers stopped and removed (with
/// `remove_orphans`, those of services no longer in the files too), then
/// its networks, and with `volumes` its named volumes.
pub fn down(ctx: &Context, project: &Project, volumes: bool, remove_orphans: bool) -> Result<()> {
    let mut list = containers(ctx, project, &[])?;
    let orphans: Vec<String> = list
        .iter()
        .filter(|(r, _)| {
            !label(r, SERVICE_LABEL).is_some_and(|s| project.model.services.contains_key(s))
        })
        .map(|(r, _)| r.name.clone())
        .collect();
    if !remove_orphans && !orphans.is_empty() {
        eprintln!(
            "Warning: containers of services not in this project's files: {}; remove them with --remove-orphans",
            orphans.join(", ")
        );
        list.retain(|(r, _)| !orphans.contains(&r.name));
    }
    // Newest first: dependants stop before what they depend on.
    list.reverse();
    let running: Vec<String> = list
        .iter()
        .filter(|(_, s)| s.status == Status::Running)
        .map(|(r, _)| r.name.clone())
        .collect();
    if !running.is_empty() {
        for n in &running {
            println!(" Container {n}  Stopping");
        }
        lifecycle::stop_many(ctx, &running, None)?;
    }
    for (r, _) in &list {
        println!(" Container {}  Removing", r.name);
        match ctr::remove(ctx, &r.id, true, true) {
            Ok(_) => {}
            Err(crate::Error::Container(ctr::ContainerError::Record(
                ctr::record::RecordError::NotFound(_),
            ))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for n in networks::list(ctx)? {
        if n.labels.get(PROJECT_LABEL) == Some(&project.name) {
            println!(" Network {}  Removing", n.name);
            networks::remove(ctx, &n.name)?;
        }
    }
    // The secrets and configs burrow wrote for the project.
    if let Some(dir) = project.state_dir.as_ref().filter(|d| d.exists()) {
        std::fs::remove_dir_all(dir).map_err(|source| ComposeError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    if volumes {
        for (v, _) in volumes::verbs::list(ctx, &[])? {
            if v.labels.get(PROJECT_LABEL) == Some(&project.name) {
                println!(" Volume {}  Removing", v.name);
                volumes::verbs::remove(ctx, &v.name, false)?;
            }
        }
    }
    Ok(())
}

/// `stop`: the services' running containers, dependants first.
pub fn stop(
    ctx: &Context,
    project: &Project,
    services: &[String],
    timeout: Option<u64>,
) -> Result<()> {
    let mut list = containers(ctx, project, services)?;
    list.reverse();
    let running: Vec<String> = list
        .into_iter()
        .filter(|(_, s)| s.status == Status::Running)
        .map(|(r, _)| r.name)
        .collect();
    if !running.is_empty() {
        lifecycle::stop_many(ctx, &running, timeout)?;
    }
    Ok(())
}

/// `start`: the services' stopped containers, in dependency order, each
/// after what it waits for.
pub fn start(
    ctx: &Context,
    project: &Project,
    services: &[String],
    opts: &StartOptions,
) -> Result<()> {
    let order = selected(project, services)?;
    let list = containers(ctx, project, &order)?;
    let deadline = opts.wait_timeout.map(|secs| Deadline {
        at: Instant::now() + Duration::from_secs(secs),
        secs,
    });
    let mut all: Vec<(&str, &str)> = Vec::new();
    for service in &order {
        for (r, s) in list.iter().filter(|(r, _)| {
            label(r, SERVICE_LABEL) == Some(service) && label(r, ONEOFF_LABEL) != Some("True")
        }) {
            all.push((service, &r.name));
            if s.status == Status::Running {
                continue;
            }
            for (dep, condition) in project.model.services[service].dependencies() {
                let replicas = existing_replicas(&list, &dep);
                wait_for(
                    ctx, project, service, &dep, condition, deadline, replicas, None,
                )?;
            }
            println!(" Container {}  Starting", r.name);
            lifecycle::start(ctx, &r.id)?;
        }
    }
    if opts.wait {
        wait_ready(ctx, project, &all, deadline, None)?;
    }
    Ok(())
}

/// `start`'s options.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// `--wait`: return once every container runs (healthy, having a
    /// health check), as `up --wait`.
    pub wait: bool,
    /// `--wait-timeout`: seconds to wait, in all, for dependencies and
    /// (with `wait`) the containers.
    pub wait_timeout: Option<u64>,
}

/// `run`: a one-off container of a service (`project-service-run-ID`),
/// after its dependencies are up; its exit status.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub command: Vec<String>,
    pub detach: bool,
    pub remove: bool,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<String>,
    pub name: Option<String>,
    /// Publish the service's ports (compose's `--service-ports`).
    pub service_ports: bool,
    /// `-p`: these ports in place of the service's.
    pub publish: Vec<crate::net::PublishedPort>,
    /// `-v`: mounts besides the service's.
    pub volumes: Vec<ctr::spec::UserMount>,
    /// `-l`: labels added to (or over) the service's.
    pub labels: Vec<(String, String)>,
    /// `--no-deps`: start no dependency and wait for none.
    pub no_deps: bool,
    /// No terminal (`-T`).
    pub no_tty: bool,
    /// `--cap-add`: over the service's `cap_add`, and taken out of its
    /// `cap_drop`.
    pub cap_add: Vec<crate::sandbox::caps::CapName>,
    /// `--cap-drop`: over the service's `cap_drop`, and taken out of its
    /// `cap_add`.
    pub cap_drop: Vec<crate::sandbox::caps::CapName>,
    /// `--use-aliases`: the service's name and network aliases on each of
    /// its networks (without, the one-off container is known there by its
    /// own name only, as docker compose's).
    pub use_aliases: bool,
}

pub fn run(ctx: &Context, project: &Project, service: &str, opts: &RunOptions) -> Result<i32> {
    let deps: Vec<String> = project
        .model
        .services
        .get(service)
        .ok_or_else(|| ComposeError::NoService(service.to_string()))?
        .dependencies()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    if !deps.is_empty() && !opts.no_deps {
        up(
            ctx,
            project,
            &UpOptions {
                services: deps,
                keep_extra: true,
                ..UpOptions::default()
            },
        )?;
    }
    make_bind_sources(project, &[service.to_string()])?;
    let mut plan = project.plan(service, 1)?;
    build(ctx, project, &[service.to_string()], false)?;
    // Pulled here for the service's platform, not by the run.
    for (image, platform) in missing_images(ctx, std::slice::from_ref(&plan))? {
        pull_image(ctx, image, platform.cloned())?;
    }
    make_networks_and_volumes(ctx, project, &[service.to_string()], &mut Made::default())?;
    write_files(&mut plan)?;
    if !opts.no_deps {
        let list = containers(ctx, project, &[])?;
        for (dep, condition) in project.model.services[service].dependencies() {
            let replicas = existing_replicas(&list, &dep);
            wait_for(ctx, project, service, &dep, condition, None, replicas, None)?;
        }
    }
    // A short random suffix, as compose's one-off containers have.
    let id: String = {
        use sha2::{Digest, Sha256};
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        hex::encode(&Sha256::digest(seed.as_bytes())[..6])
    };
    let s = &mut plan.spec;
    s.name = Some(
        opts.name
            .clone()
            .unwrap_or_else(|| format!("{}-{service}-run-{id}", project.name)),
    );
    s.labels.insert(ONEOFF_LABEL.into(), "True".into());
    if !opts.command.is_empty() {
        s.command = opts.command.clone();
    }
    if let Some(e) = &opts.entrypoint {
        s.entrypoint = Some(e.clone());
    }
    s.env.extend(opts.env.iter().cloned());
    if opts.user.is_some() {
        s.user = opts.user.clone();
    }
    if opts.workdir.is_some() {
        s.workdir = opts.workdir.clone();
    }
    if !opts.service_ports {
        s.publish.clear();
    }
    if !opts.publish.is_empty() {
        s.publish = opts.publish.clone();
    }
    s.volumes.extend(opts.volumes.iter().cloned());
    s.labels.extend(opts.labels.iter().cloned());
    // The flags win over the file: a capability added is no longer
    // dropped, one dropped no longer added.
    for c in &opts.cap_add {
        s.cap_drop.retain(|d| !d.same(c));
        s.cap_add.push(c.clone());
    }
    for c in &opts.cap_drop {
        s.cap_add.retain(|a| !a.same(c));
        s.cap_drop.push(c.clone());
    }
    if !opts.use_aliases {
        s.network_endpoint.aliases.clear();
        for (_, endpoint) in &mut plan.networks {
            endpoint.aliases.clear();
        }
    }
    let s = &mut plan.spec;
    s.remove = opts.remove;
    s.detach = opts.detach;
    use std::io::IsTerminal;
    let terminal = !opts.detach && !opts.no_tty && std::io::stdin().is_terminal();
    s.tty = terminal;
    s.interactive = !opts.detach;
    if plan.networks.len() < 2 {
        return Ok(ctr::run::run(ctx, s)?);
    }
    // Its other networks are joined before it starts, as `up` joins them.
    let id = ctr::run::create(ctx, s)?;
    let joined = plan
        .networks
        .iter()
        .skip(1)
        .try_for_each(|(net, endpoint)| networks::connect(ctx, net, &id, endpoint));
    if let Err(e) = joined {
        let _ = ctr::remove(ctx, &id, true, false);
        return Err(e.into());
    }
    if opts.detach {
        lifecycle::start(ctx, &id)?;
        println!("{id}");
        return Ok(0);
    }
    Ok(lifecycle::start_attached(ctx, &id, s.interactive, None)?)
}

/// `logs`: the services' containers' output, each line prefixed with its
/// container's shown name (`web-1  | `) unless `args.no_prefix`.
pub fn logs(
    ctx: &Context,
    project: &Project,
    services: &[String],
    args: &output::LogArgs,
) -> Result<()> {
    let list: Vec<(String, String)> = containers(ctx, project, services)?
        .into_iter()
        .map(|(r, _)| (r.name.clone(), output::shown_name(&r)))
        .collect();
    output::print_logs(&list, args, None, &mut |_, _| false)
}

/// How attached `up` follows its containers.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Print the lines without the container's name before each.
    pub no_prefix: bool,
    /// `--abort-on-container-exit`: when one container exits, stop the
    /// others.
    pub abort_on_exit: bool,
    /// `--abort-on-container-failure`: when one container exits with a
    /// status other than 0, stop the others.
    pub abort_on_failure: bool,
    /// `--attach SERVICE`s: follow only their containers (all, when
    /// empty).
    pub attach: Vec<String>,
    /// `--no-attach SERVICE`s: do not follow their containers.
    pub no_attach: Vec<String>,
    /// `--exit-code-from SERVICE`: whose exit status `up` returns (by
    /// default, on an abort, the status of the container that caused it).
    pub exit_code_from: Option<String>,
}

/// `--exit-code-from SERVICE`: a service that this `up` runs.
pub fn check_exit_code_from(project: &Project, services: &[String], service: &str) -> Result<()> {
    if selected(project, services)?.iter().any(|s| s == service) {
        Ok(())
    } else {
        Err(ComposeError::NoService(service.to_string()))
    }
}

/// Whether attached `up` follows a container of `service`.
fn followed(opts: &AttachOptions, service: Option<&str>) -> bool {
    let named = |list: &[String]| service.is_some_and(|s| list.iter().any(|l| l == s));
    (opts.attach.is_empty() || named(&opts.attach)) && !named(&opts.no_attach)
}

/// `--attach` and `--no-attach`: each `--attach` service one that this
/// `up` runs, and some service left to follow (an attached `up` returns
/// when the containers it follows have exited).
pub fn check_attach(
    project: &Project,
    services: &[String],
    attach: &[String],
    no_attach: &[String],
) -> Result<()> {
    let run = selected(project, services)?;
    if let Some(s) = attach.iter().find(|s| !run.contains(s)) {
        return Err(ComposeError::NoService(s.clone()));
    }
    let followed = run
        .iter()
        .any(|s| (attach.is_empty() || attach.contains(s)) && !no_attach.contains(s));
    if followed {
        Ok(())
    } else {
        Err(ComposeError::Model(
            "--attach and --no-attach leave no service to follow; use -d to start them in the background".into(),
        ))
    }
}

/// Attached `up`: the output of the containers it follows (`attach`,
/// `no_attach`), prefixed, until they have all exited; a SIGINT or
/// SIGTERM stops every container it started (dependants first), a second
/// kills them; with `abort_on_exit`, the first to exit stops the others,
/// with `abort_on_failure` the first to exit with a status other than 0.
/// Returns 130 when they were killed; else, on an abort or with
/// `exit_code_from`, the exit status of the `exit_code_from` service's
/// container (by default that of the container that caused the abort);
/// else 0.
pub fn attach(
    ctx: &Context,
    project: &Project,
    started: Started,
    opts: &AttachOptions,
) -> Result<i32> {
    let Started {
        names,
        mut interrupt,
    } = started;
    let found: Vec<(Record, State)> = containers(ctx, project, &[])?
        .into_iter()
        .filter(|(r, _)| names.contains(&r.name))
        .collect();
    let list: Vec<(String, String)> = found
        .iter()
        .filter(|(r, _)| followed(opts, label(r, SERVICE_LABEL)))
        .map(|(r, _)| (r.name.clone(), output::shown_name(r)))
        .collect();
    let service_of = |name: &str| {
        found
            .iter()
            .find(|(r, _)| r.name == name)
            .and_then(|(r, _)| label(r, SERVICE_LABEL))
            .map(str::to_string)
    };
    // A signal or an abort stops every container `up` started, followed
    // or not.
    let mut stop_order: Vec<String> = found.iter().map(|(r, _)| r.name.clone()).collect();
    stop_order.reverse();
    interrupt.set_containers(stop_order);
    let shown: Vec<String> = list.iter().map(|(_, s)| s.clone()).collect();
    println!("Attaching to {}", shown.join(", "));
    let mut code_from = opts.exit_code_from.clone();
    let mut code: Option<i32> = None;
    let mut aborted = false;
    output::print_logs(
        &list,
        &output::LogArgs {
            follow: true,
            no_prefix: opts.no_prefix,
            ..Default::default()
        },
        Some(&mut interrupt),
        &mut |name, shown| {
            let exit = ctr::list(ctx, true)
                .ok()
                .and_then(|l| l.into_iter().find(|(r, _)| r.name == name))
                .and_then(|(_, s)| s.exit_code);
            match exit {
                Some(c) => println!("{shown} exited with code {c}"),
                None => println!("{shown} exited"),
            }
            let service = service_of(name);
            let abort = opts.abort_on_exit || (opts.abort_on_failure && exit != Some(0));
            if abort && !aborted {
                aborted = true;
                if code_from.is_none() {
                    code_from.clone_from(&service);
                }
            }
            if code.is_none() && service.is_some() && service == code_from {
                code = exit;
            }
            abort
        },
    )?;
    Ok(if interrupt.forced() {
        130
    } else if opts.abort_on_exit || aborted || opts.exit_code_from.is_some() {
        // A container whose status could not be read has not succeeded.
        code.unwrap_or(1)
    } else {
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::health::Health;

    fn state(status: Status, exit_code: Option<i32>, health: Option<HealthStatus>) -> State {
        State {
            status,
            exit_code,
            health: health.map(|status| Health {
                status,
                failing_streak: 0,
                log: Vec::new(),
            }),
            ..State::created()
        }
    }

    #[test]
    fn up_wait_is_satisfied_by_running_or_healthy_and_fails_on_exit_or_unhealthy() {
        let ready = Awaited::Ready;
        assert_eq!(judge(&state(Status::Running, None, None), ready), Ok(true));
        let healthy = Some(HealthStatus::Healthy);
        assert_eq!(
            judge(&state(Status::Running, None, healthy), ready),
            Ok(true)
        );
        let starting = Some(HealthStatus::Starting);
        assert_eq!(
            judge(&state(Status::Running, None, starting), ready),
            Ok(false)
        );
        assert_eq!(judge(&state(Status::Created, None, None), ready), Ok(false));
        let sick = Some(HealthStatus::Unhealthy);
        assert_eq!(
            judge(&state(Status::Running, None, sick), ready),
            Err("is unhealthy".into())
        );
        assert_eq!(
            judge(&state(Status::Exited, Some(3), None), ready),
            Err("exited with status 3".into())
        );
        // What a dependency waits for is judged as before.
        let done = Awaited::Dependency(Condition::ServiceCompletedSuccessfully);
        assert_eq!(judge(&state(Status::Exited, Some(0), None), done), Ok(true));
        let healthy_dep = Awaited::Dependency(Condition::ServiceHealthy);
        assert!(judge(&state(Status::Running, None, None), healthy_dep)
            .unwrap_err()
            .contains("has no health check"));
    }
}
