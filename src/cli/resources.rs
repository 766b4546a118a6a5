//! Resource limits and the commands that act on a running container's
//! cgroup: the limit flags `run` and `update` share, `update`, `pause`,
//! `unpause` and `stats`.

use super::Format;
use crate::cgroup::limits::{DeviceIops, DeviceWeight};
use crate::cgroup::{limits, DeviceRate, Limits, Swap};
use crate::container::images::Context;
use crate::container::resources::{self as res, Counters, Sample};
use crate::Result;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Limits on what a container may use (cgroup v2, delegated by systemd).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct LimitFlags {
    /// Memory limit (e.g. 512m, 2g); the OOM killer stops the container beyond it.
    #[arg(short = 'm', long, value_name = "BYTES", value_parser = limits::parse_bytes)]
    memory: Option<u64>,
    /// Memory the container is protected from reclaim below (memory.low).
    #[arg(long, value_name = "BYTES", value_parser = limits::parse_bytes)]
    memory_reservation: Option<u64>,
    /// Memory plus swap (e.g. 1g); -1 for unlimited swap. Default: twice --memory.
    #[arg(long, value_name = "BYTES", value_parser = limits::parse_swap, allow_hyphen_values = true)]
    memory_swap: Option<Swap>,
    /// Number of CPUs the container may use (e.g. 1.5).
    #[arg(long, value_name = "NUMBER", value_parser = limits::parse_cpus)]
    cpus: Option<f64>,
    /// CPU CFS period in microseconds (1000-1000000, default 100000).
    #[arg(long, value_name = "MICROSECONDS")]
    cpu_period: Option<u64>,
    /// CPU CFS quota: microseconds of CPU time per period (at least 1000); -1 for none.
    #[arg(long, value_name = "MICROSECONDS", value_parser = limits::parse_cpu_quota, allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// Relative CPU weight (2-262144, default 1024).
    #[arg(short = 'c', long, value_name = "SHARES")]
    cpu_shares: Option<u64>,
    /// CPUs the container may run on (e.g. 0-3 or 0,2).
    #[arg(long, value_name = "LIST")]
    cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (e.g. 0).
    #[arg(long, value_name = "LIST")]
    cpuset_mems: Option<String>,
    /// Most processes and threads at once; -1 for unlimited.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Relative block I/O weight (10-1000).
    #[arg(long, value_name = "WEIGHT")]
    blkio_weight: Option<u16>,
    /// Read rate limit of a disk (e.g. /dev/sda:10mb); repeatable.
    #[arg(long, value_name = "DEVICE:RATE", value_parser = limits::parse_device_rate)]
    device_read_bps: Vec<DeviceRate>,
    /// Write rate limit of a disk (e.g. /dev/sda:10mb); repeatable.
    #[arg(long, value_name = "DEVICE:RATE", value_parser = limits::parse_device_rate)]
    device_write_bps: Vec<DeviceRate>,
    /// Read rate limit of a disk in I/O operations a second (e.g. /dev/sda:1000); repeatable.
    #[arg(long, value_name = "DEVICE:IOPS", value_parser = limits::parse_device_iops)]
    device_read_iops: Vec<DeviceIops>,
    /// Write rate limit of a disk in I/O operations a second (e.g. /dev/sda:1000); repeatable.
    #[arg(long, value_name = "DEVICE:IOPS", value_parser = limits::parse_device_iops)]
    device_write_iops: Vec<DeviceIops>,
    /// Relative block I/O weight of one disk (e.g. /dev/sda:200, 10-1000); repeatable.
    #[arg(long, value_name = "DEVICE:WEIGHT", value_parser = limits::parse_device_weight)]
    blkio_weight_device: Vec<DeviceWeight>,
}

impl LimitFlags {
    pub fn limits(&self) -> Limits {
        Limits {
            memory: self.memory,
            memory_reservation: self.memory_reservation,
            memory_swap: self.memory_swap,
            cpus: self.cpus,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            pids_limit: self.pids_limit.map(limits::pids_limit),
            blkio_weight: self.blkio_weight,
            device_read_bps: self.device_read_bps.clone(),
            device_write_bps: self.device_write_bps.clone(),
            device_read_iops: self.device_read_iops.clone(),
            device_write_iops: self.device_write_iops.clone(),
            blkio_weight_device: self.blkio_weight_device.clone(),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Update {
    #[command(flatten)]
    limits: LimitFlags,
    /// Running containers, by name or id.
    #[arg(required = true)]
    containers: Vec<String>,
}

impl Update {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let limits = self.limits.limits();
        if limits.is_empty() {
            return Err(crate::Error::Usage(
                "no limit given; see `burrow update --help`".into(),
            ));
        }
        for c in &self.containers {
            res::update(ctx, c, &limits)?;
            println!("{c}");
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Pause {
    /// Running containers, by name or id.
    #[arg(required = true)]
    containers: Vec<String>,
}

impl Pause {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        for c in &self.containers {
            res::pause(ctx, c)?;
            println!("{c}");
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Unpause {
    /// Paused containers, by name or id.
    #[arg(required = true)]
    containers: Vec<String>,
}

impl Unpause {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        for c in &self.containers {
            res::unpause(ctx, c)?;
            println!("{c}");
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Stats {
    /// Print one sample and exit.
    #[arg(long)]
    no_stream: bool,
    /// Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\t{{.Status}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
    /// Containers, by name or id (default: all running).
    containers: Vec<String>,
}

/// How often a streaming `stats` refreshes; `--no-stream` measures CPU
/// use over half of it.
const REFRESH: Duration = Duration::from_secs(1);

impl Stats {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let mut before: HashMap<String, Counters> = HashMap::new();
        let in_place = !self.no_stream && std::io::stdout().is_terminal();
        let mut first = true;
        let mut noted = false;
        loop {
            let targets = res::stats_targets(ctx, &self.containers)?;
            if first {
                // CPU use needs two readings.
                for (r, s) in &targets {
                    before.insert(r.id.clone(), Counters::read(s));
                }
                std::thread::sleep(REFRESH / 2);
                first = false;
            }
            let mut samples = Vec::new();
            for (r, s) in &targets {
                let now = Counters::read(s);
                samples.push(Sample::between(r, s, before.get(&r.id), &now));
                before.insert(r.id.clone(), now);
            }
            // docker's `.Container`: what was typed, else the full id.
            let typed = |i: usize, s: &Sample| {
                self.containers
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| s.id.clone())
            };
            let text = match &self.format {
                // One object a line, a line per container, with the
                // template's fields (`{{json .}}`), as docker prints it.
                Format::Json => samples
                    .iter()
                    .enumerate()
                    .map(|(i, s)| stats_row(s, typed(i, s)).to_string() + "\n")
                    .collect(),
                Format::Table => table(&samples),
                Format::Template(t) => {
                    let items: Vec<_> = samples
                        .iter()
                        .enumerate()
                        .map(|(i, s)| stats_row(s, typed(i, s)))
                        .collect();
                    t.render(&items, STATS_HEADERS)?
                }
            };
            let mut out = std::io::stdout().lock();
            // Home and clear, then the table: it refreshes in place.
            let clear = if in_place { "\x1b[H\x1b[2J" } else { "" };
            let _ = write!(out, "{clear}{text}");
            let _ = out.flush();
            drop(out);
            if !noted {
                noted = true;
                let without: Vec<&str> = samples
                    .iter()
                    .filter(|s| s.without_cgroup_data())
                    .map(|s| s.name.as_str())
                    .collect();
                if !without.is_empty() {
                    eprintln!(
                        "Note: no cgroup data for {}: it runs without a cgroup on this host, so CPU, \
                         memory, block I/O and PIDS show -- (`burrow doctor` says why)",
                        without.join(", ")
                    );
                }
            }
            let any_running = samples.iter().any(|s| s.running);
            if self.no_stream || (!self.containers.is_empty() && !any_running) {
                return Ok(());
            }
            std::thread::sleep(REFRESH);
        }
    }
}

/// `stats`'s template fields, as docker names them, and their titles.
const STATS_HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// One sample as docker's template fields: the strings its table shows.
fn stats_row(s: &Sample, container: String) -> serde_json::Value {
    let cells = table_cells(s);
    let mut row = serde_json::json!({ "Container": container });
    for (i, field) in [
        "ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs",
    ]
    .iter()
    .enumerate()
    {
        row[*field] = cells[i].clone().into();
    }
    row
}

/// A sample's cells in the default table's order: `--` for what is not
/// known (a stopped container, or one without a cgroup).
fn table_cells(s: &Sample) -> Vec<String> {
    let dash = || "--".to_string();
    let mut row = vec![s.id[..12.min(s.id.len())].to_string(), s.name.clone()];
    if !s.running {
        row.extend(std::iter::repeat_with(dash).take(6));
        return row;
    }
    let pair = |a: Option<u64>, b: Option<u64>, f: fn(u64) -> String| match (a, b) {
        (Some(a), Some(b)) => format!("{} / {}", f(a), f(b)),
        _ => dash(),
    };
    let percent = |p: Option<f64>| p.map_or_else(dash, |p| format!("{p:.2}%"));
    row.extend([
        percent(s.cpu_percent),
        pair(s.memory_usage, s.memory_limit, binary_size),
        percent(s.memory_percent),
        format!(
            "{} / {}",
            decimal_size(s.net_input),
            decimal_size(s.net_output)
        ),
        pair(s.block_input, s.block_output, decimal_size),
        s.pids.map_or_else(dash, |p| p.to_string()),
    ]);
    row
}

fn table(samples: &[Sample]) -> String {
    let mut rows = vec![[
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ]
    .map(String::from)
    .to_vec()];
    rows.extend(samples.iter().map(table_cells));
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// Memory as docker's stats shows it: binary units.
fn binary_size(bytes: u64) -> String {
    scaled(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB"])
}

/// Network and disk traffic as docker's stats shows it: decimal units.
fn decimal_size(bytes: u64) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB"])
}

fn scaled(bytes: u64, step: f64, units: &[&str]) -> String {
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= step && i + 1 < units.len() {
        v /= step;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}", v = (v * 100.0).round() / 100.0)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_prints_in_binary_units() {
        assert_eq!(binary_size(512), "512B");
        assert_eq!(binary_size(3 << 29), "1.5GiB");
        assert_eq!(binary_size(10 << 20), "10MiB");
        assert_eq!(decimal_size(0), "0B");
        assert_eq!(decimal_size(1_234), "1.23kB");
        assert_eq!(decimal_size(648), "648B");
    }

    #[test]
    fn a_stopped_container_shows_dashes() {
        let s = Sample {
            id: "0123456789abcdef".into(),
            name: "web".into(),
            running: false,
            paused: false,
            cpu_percent: None,
            memory_usage: None,
            memory_limit: None,
            memory_percent: None,
            net_input: 0,
            net_output: 0,
            block_input: None,
            block_output: None,
            pids: None,
        };
        let t = table(std::slice::from_ref(&s));
        let line = t.lines().nth(1).unwrap();
        assert!(line.starts_with("0123456789ab   web"), "{t}");
        assert!(line.ends_with("--"), "{t}");
        // Running without a cgroup: only the network counters are known.
        let running = Sample {
            running: true,
            net_input: 648,
            ..s
        };
        assert!(running.without_cgroup_data());
        let cells = table_cells(&running);
        assert_eq!(
            cells[2..],
            ["--", "--", "--", "648B / 0B", "--", "--"].map(String::from),
            "{cells:?}"
        );
    }
}
