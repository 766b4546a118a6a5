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
use crate::container::{self as ctr, lifecycle, networks, volumes};
use std::collections::BTreeMap;
use std::time::Duration;

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
    /// Seconds a `service_healthy` dependency may take (none: no limit
    /// beyond its own health check's verdict).
    pub wait_timeout: Option<u64>,
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

/// Makes the networks and named volumes the selected services use.
fn make_networks_and_volumes(ctx: &Context, project: &Project, services: &[String]) -> Result<()> {
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
        if networks::find(ctx, &name).is_ok() {
            continue;
        }
        if top.is_some_and(|n| n.external == Some(true)) {
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
                name,
                subnets: Vec::new(),
                internal: top.and_then(|n| n.internal).unwrap_or(false),
                labels,
            },
        )?;
    }
    for (key, top) in &project.model.volumes {
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
                name: Some(name),
                labels,
                driver: top.as_ref().and_then(|v| v.driver.clone()),
                options: BTreeMap::new(),
            },
        )?;
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
/// `always`, else those not in the store).
pub fn build(ctx: &Context, project: &Project, services: &[String], always: bool) -> Result<()> {
    let store = ctx.store()?;
    for s in services {
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
        println!(" Service {s}  Pulling {image}");
        ctr::images::pull(
            ctx,
            image,
            &crate::image::registry::PullOptions {
                platform: None,
                progress: crate::image::registry::ProgressMode::detect(false),
            },
            None,
        )?;
    }
    Ok(())
}

/// `up`: networks, volumes, images, then each service's container in
/// dependency order, started once what it waits for is ready. Returns
/// the containers' names.
pub fn up(ctx: &Context, project: &Project, opts: &UpOptions) -> Result<Vec<String>> {
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
    make_networks_and_volumes(ctx, project, &order)?;
    build(ctx, project, &order, opts.build)?;
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
        if s.status == Status::Running {
            println!(" Container {}  Stopping", r.name);
            lifecycle::stop_many(ctx, std::slice::from_ref(&r.id), None)?;
        }
        println!(" Container {}  Removing", r.name);
        ctr::remove(ctx, &r.id, true, false)?;
    }
    let mut names = Vec::new();
    for plan in &plans {
        let current = existing.iter().find(|(r, _)| r.name == plan.container);
        let fresh = current.is_some_and(|(r, _)| {
            label(r, super::service::HASH_LABEL)
                == plan
                    .spec
                    .labels
                    .get(super::service::HASH_LABEL)
                    .map(String::as_str)
        });
        if !fresh {
            if let Some((r, _)) = current {
                println!(" Container {}  Recreating", r.name);
                ctr::remove(ctx, &r.id, true, false)?;
            }
            println!(" Container {}  Creating", plan.container);
            ctr::run::create(ctx, &plan.spec)?;
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
                opts.wait_timeout,
                replicas,
            )?;
        }
        println!(" Container {}  Starting", plan.container);
        lifecycle::start(ctx, &plan.container)?;
    }
    Ok(names)
}

/// Waits until each of `dep`'s containers (`replicas` of them) is as
/// `condition` asks: started, healthy (by its health check's verdict) or
/// exited with status 0.
fn wait_for(
    ctx: &Context,
    project: &Project,
    service: &str,
    dep: &str,
    condition: Condition,
    timeout: Option<u64>,
    replicas: u32,
) -> Result<()> {
    for i in 1..=replicas {
        let container = project.plan(dep, i)?.container;
        wait_for_one(ctx, service, dep, &container, condition, timeout)?;
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

fn wait_for_one(
    ctx: &Context,
    service: &str,
    dep: &str,
    container: &str,
    condition: Condition,
    timeout: Option<u64>,
) -> Result<()> {
    let container = container.to_string();
    let fail = |why: String| ComposeError::Dependency {
        service: service.to_string(),
        dependency: dep.to_string(),
        container: container.clone(),
        why,
    };
    let started = std::time::Instant::now();
    if condition != Condition::ServiceStarted {
        println!(" Container {container}  Waiting");
    }
    loop {
        let (_, s) = ctr::list(ctx, true)?
            .into_iter()
            .find(|(r, _)| r.name == container)
            .ok_or_else(|| fail("does not exist".into()))?;
        let exited = || {
            s.exit_code
                .map_or("exited".to_string(), |c| format!("exited with status {c}"))
        };
        match condition {
            Condition::ServiceStarted => return Ok(()),
            Condition::ServiceHealthy => match (s.status, s.health.as_ref().map(|h| h.status)) {
                (_, Some(HealthStatus::Healthy)) if s.status == Status::Running => {
                    println!(" Container {container}  Healthy");
                    return Ok(());
                }
                (_, Some(HealthStatus::Unhealthy)) => {
                    let last = s
                        .health
                        .as_ref()
                        .and_then(|h| h.log.last())
                        .map(|l| format!(": its last check said {:?}", l.output.trim()))
                        .unwrap_or_default();
                    return Err(fail(format!("is unhealthy{last}")));
                }
                (Status::Running, None) => {
                    return Err(fail(
                        "has no health check, and depends_on waits for service_healthy".into(),
                    ))
                }
                (Status::Exited, _) => {
                    return Err(fail(format!("{} before it was healthy", exited())))
                }
                _ => {}
            },
            Condition::ServiceCompletedSuccessfully => match (s.status, s.exit_code) {
                (Status::Exited, Some(0)) => return Ok(()),
                (Status::Exited, _) => {
                    return Err(fail(format!(
                        "{}, and depends_on waits for service_completed_successfully",
                        exited()
                    )))
                }
                _ => {}
            },
        }
        if timeout.is_some_and(|t| started.elapsed() > Duration::from_secs(t)) {
            return Err(fail(format!(
                "was not {} within {}s",
                if condition == Condition::ServiceHealthy {
                    "healthy"
                } else {
                    "done"
                },
                timeout.unwrap_or_default()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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
pub fn start(ctx: &Context, project: &Project, services: &[String]) -> Result<()> {
    let order = selected(project, services)?;
    let list = containers(ctx, project, &order)?;
    for service in &order {
        for (r, s) in list.iter().filter(|(r, _)| {
            label(r, SERVICE_LABEL) == Some(service) && label(r, ONEOFF_LABEL) != Some("True")
        }) {
            if s.status == Status::Running {
                continue;
            }
            for (dep, condition) in project.model.services[service].dependencies() {
                let replicas = existing_replicas(&list, &dep);
                wait_for(ctx, project, service, &dep, condition, None, replicas)?;
            }
            println!(" Container {}  Starting", r.name);
            lifecycle::start(ctx, &r.id)?;
        }
    }
    Ok(())
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
    /// No terminal (`-T`).
    pub no_tty: bool,
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
    if !deps.is_empty() {
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
    make_networks_and_volumes(ctx, project, &[service.to_string()])?;
    build(ctx, project, &[service.to_string()], false)?;
    let list = containers(ctx, project, &[])?;
    for (dep, condition) in project.model.services[service].dependencies() {
        let replicas = existing_replicas(&list, &dep);
        wait_for(ctx, project, service, &dep, condition, None, replicas)?;
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
    s.remove = opts.remove;
    s.detach = opts.detach;
    use std::io::IsTerminal;
    let terminal = !opts.detach && !opts.no_tty && std::io::stdin().is_terminal();
    s.tty = terminal;
    s.interactive = !opts.detach;
    Ok(ctr::run::run(ctx, s)?)
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
    output::print_logs(&list, args, None, &mut |_, _| {})
}

/// Attached `up`: the containers' output, prefixed, until they have all
/// exited; a SIGINT or SIGTERM stops them (dependants first), a second
/// kills them. Returns 0, or 130 when they were killed.
pub fn attach(ctx: &Context, project: &Project, names: &[String], no_prefix: bool) -> Result<i32> {
    let list: Vec<(String, String)> = containers(ctx, project, &[])?
        .into_iter()
        .filter(|(r, _)| names.contains(&r.name))
        .map(|(r, _)| (r.name.clone(), output::shown_name(&r)))
        .collect();
    let mut stop_order: Vec<String> = list.iter().map(|(n, _)| n.clone()).collect();
    stop_order.reverse();
    let mut interrupt = output::Interrupt::hold(stop_order)?;
    let shown: Vec<String> = list.iter().map(|(_, s)| s.clone()).collect();
    println!("Attaching to {}", shown.join(", "));
    output::print_logs(
        &list,
        &output::LogArgs {
            follow: true,
            no_prefix,
            ..Default::default()
        },
        Some(&mut interrupt),
        &mut |name, shown| {
            let code = ctr::list(ctx, true)
                .ok()
                .and_then(|l| l.into_iter().find(|(r, _)| r.name == name))
                .and_then(|(_, s)| s.exit_code);
            match code {
                Some(c) => println!("{shown} exited with code {c}"),
                None => println!("{shown} exited"),
            }
        },
    )?;
    Ok(if interrupt.forced() { 130 } else { 0 })
}
