//! A container's resources through its cgroup: placing it in one when it
//! starts (or running without, said once), pause and unpause, `update` of
//! its limits, and the samples `stats` shows. The cgroup work itself is
//! `cgroup`'s; this file only connects it to container records.

use super::images::Context;
use super::record::{Record, State, Status};
use super::ContainerError;
use crate::cgroup::{self, Cgroup, Limits, Setup};
use crate::container::error::Result;
use serde::Serialize;
use std::time::Instant;

/// The cgroup for container `id` with `limits`, made before the sandbox
/// starts. `None` when the machine has no usable cgroup v2 and no limit
/// was asked for; the user hears why once (per runtime directory, that is
/// per login or boot), not on every run.
pub fn place(ctx: &Context, id: &str, limits: &Limits) -> Result<Option<Cgroup>> {
    match cgroup::create(id, limits)? {
        Setup::Ready(cg) => Ok(Some(cg)),
        Setup::Without(why) => {
            let marker = ctx.paths.runtime.join("cgroup-note");
            if !marker.exists() {
                let _ = std::fs::write(&marker, format!("{why}\n"));
                eprintln!("Note: containers run without resource limits or stats: {why}");
            }
            Ok(None)
        }
    }
}

/// After the container's pid 1 has exited: whether the OOM killer struck,
/// read before the cgroup goes; then the cgroup is removed.
pub fn after_exit(cg: &Cgroup) -> bool {
    let oom = cg.oom_killed();
    if let Err(e) = cg.release() {
        eprintln!("Warning: {e}");
    }
    oom
}

/// Whether a running container is paused (its cgroup frozen).
pub fn paused(s: &State) -> bool {
    s.status == Status::Running && s.cgroup.as_ref().is_some_and(Cgroup::frozen)
}

fn running_cgroup(ctx: &Context, input: &str, what: &str) -> Result<(Record, State, Cgroup)> {
    let (r, s) = super::records(ctx)?.find(input)?;
    if s.status != Status::Running {
        return Err(ContainerError::NotRunning(r.name).into());
    }
    let Some(cg) = s.cgroup.clone() else {
        return Err(ContainerError::NoCgroup {
            name: r.name,
            what: what.to_string(),
        }
        .into());
    };
    Ok((r, s, cg))
}

/// `burrow pause`: freezes every process of the container.
pub fn pause(ctx: &Context, input: &str) -> Result<()> {
    let (r, _, cg) = running_cgroup(ctx, input, "paused")?;
    cg.freeze()?;
    event(ctx, &r, "pause");
    Ok(())
}

fn event(ctx: &Context, r: &Record, action: &str) {
    super::events::record(
        &ctx.paths.storage,
        super::events::Event::new(
            "container",
            action,
            &r.id,
            &[("name", &r.name), ("image", &r.image)],
        ),
    );
}

/// `burrow unpause`.
pub fn unpause(ctx: &Context, input: &str) -> Result<()> {
    let (r, _, cg) = running_cgroup(ctx, input, "unpaused")?;
    cg.thaw()?;
    event(ctx, &r, "unpause");
    Ok(())
}

/// `burrow update`: folds `newer` into the container's limits and writes
/// them to its cgroup.
pub fn update(ctx: &Context, input: &str, newer: &Limits) -> Result<()> {
    // What was asked is checked first: a bad value is the error, whatever
    // the container's state.
    let (_, current) = super::records(ctx)?.find(input)?;
    let merged = |current: &Limits| -> Result<Limits> {
        cgroup::limits::update_conflict(current, newer).map_err(cgroup::CgroupError::from)?;
        let mut merged = current.clone();
        merged.merge(newer);
        merged.validate().map_err(cgroup::CgroupError::from)?;
        Ok(merged)
    };
    merged(&current.limits)?;
    let (r, mut s, cg) = running_cgroup(ctx, input, "given new limits")?;
    let merged = merged(&s.limits)?;
    cg.update(&merged)?;
    s.limits = merged;
    super::records(ctx)?.set_state(&r.id, &s)?;
    Ok(())
}

/// The containers `stats` shows: those named, else all running ones.
pub fn stats_targets(ctx: &Context, names: &[String]) -> Result<Vec<(Record, State)>> {
    let c = super::records(ctx)?;
    if names.is_empty() {
        let mut all = c.list()?;
        all.retain(|(_, s)| s.status == Status::Running);
        return Ok(all);
    }
    names
        .iter()
        .map(|n| c.find(n).map_err(Into::into))
        .collect()
}

/// The raw counters of one container at one moment.
#[derive(Debug, Clone)]
pub struct Counters {
    pub at: Instant,
    pub cgroup: Option<cgroup::Stats>,
    pub net: (u64, u64),
}

impl Counters {
    pub fn read(s: &State) -> Counters {
        let running = s.status == Status::Running;
        let net = s
            .pid
            .filter(|_| running)
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok())
            .map(|t| cgroup::stats::net_bytes(&t))
            .unwrap_or((0, 0));
        Counters {
            at: Instant::now(),
            cgroup: s.cgroup.as_ref().filter(|_| running).map(|cg| {
                let mut st = cg.stats();
                if st.pids_current == 0 {
                    // pids not enabled: count the processes instead.
                    st.pids_current = cg.pids().len() as u64;
                }
                st
            }),
            net,
        }
    }
}

/// One row of `stats`: what docker shows, as numbers. What comes from the
/// container's cgroup is `None` for a container that runs without one: it
/// is unknown, not zero.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sample {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub running: bool,
    pub paused: bool,
    /// 100 is one CPU busy.
    #[serde(rename = "CPUPercent")]
    pub cpu_percent: Option<f64>,
    pub memory_usage: Option<u64>,
    /// The cgroup's limit, or the machine's memory when unlimited.
    pub memory_limit: Option<u64>,
    pub memory_percent: Option<f64>,
    pub net_input: u64,
    pub net_output: u64,
    pub block_input: Option<u64>,
    pub block_output: Option<u64>,
    #[serde(rename = "PIDs")]
    pub pids: Option<u64>,
}

impl Sample {
    /// The row for `now`, with CPU use over the time since `before`.
    pub fn between(r: &Record, s: &State, before: Option<&Counters>, now: &Counters) -> Sample {
        let running = s.status == Status::Running;
        let Some(st) = now.cgroup.clone() else {
            return Sample {
                id: r.id.clone(),
                name: r.name.clone(),
                running,
                paused: paused(s),
                cpu_percent: None,
                memory_usage: None,
                memory_limit: None,
                memory_percent: None,
                net_input: now.net.0,
                net_output: now.net.1,
                block_input: None,
                block_output: None,
                pids: None,
            };
        };
        let cpu_percent = match before.and_then(|b| b.cgroup.as_ref().map(|c| (b.at, c))) {
            Some((at, prev)) => cgroup::stats::cpu_percent(
                prev.cpu_usage_usec,
                st.cpu_usage_usec,
                now.at.saturating_duration_since(at),
            ),
            None => 0.0,
        };
        let memory_limit = st.memory_limit.unwrap_or_else(cgroup::stats::host_memory);
        let memory_percent = if memory_limit == 0 {
            0.0
        } else {
            st.memory_usage as f64 * 100.0 / memory_limit as f64
        };
        let two_places = |x: f64| (x * 100.0).round() / 100.0;
        Sample {
            id: r.id.clone(),
            name: r.name.clone(),
            running,
            paused: paused(s),
            cpu_percent: Some(two_places(cpu_percent)),
            memory_usage: Some(st.memory_usage),
            memory_limit: Some(memory_limit),
            memory_percent: Some(two_places(memory_percent)),
            net_input: now.net.0,
            net_output: now.net.1,
            block_input: Some(st.io_read_bytes),
            block_output: Some(st.io_write_bytes),
            pids: Some(st.pids_current),
        }
    }

    /// A running container whose cgroup numbers are unknown.
    pub fn without_cgroup_data(&self) -> bool {
        self.running && self.pids.is_none()
    }
}
