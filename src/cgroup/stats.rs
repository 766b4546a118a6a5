//! Reading a cgroup's counters: CPU time, memory, pids, block I/O and the
//! memory events that tell an out-of-memory kill. A file that is missing
//! (its controller not enabled) reads as zero or "no limit".

use serde::Serialize;
use std::path::Path;

/// One sample of a container's cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// CPU time used since the cgroup was made, in microseconds.
    pub cpu_usage_usec: u64,
    /// Periods in which `cpu.max` held the cgroup back.
    pub cpu_nr_throttled: u64,
    /// Memory charged to the cgroup, minus the page cache that can be
    /// dropped at once (what docker shows as usage).
    pub memory_usage: u64,
    pub memory_current: u64,
    /// `memory.max`; None when unlimited.
    pub memory_limit: Option<u64>,
    pub pids_current: u64,
    /// `pids.max`; None when unlimited.
    pub pids_limit: Option<u64>,
    pub io_read_bytes: u64,
    pub io_write_bytes: u64,
    /// Processes the kernel's OOM killer killed in this cgroup.
    pub oom_kills: u64,
}

impl Stats {
    pub fn read(dir: &Path) -> Stats {
        let text = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let number = |f: &str| text(f).trim().parse::<u64>().unwrap_or(0);
        let limit = |f: &str| parse_max(&text(f));
        let cpu = text("cpu.stat");
        let memory_current = number("memory.current");
        let inactive_file = key(&text("memory.stat"), "inactive_file");
        let (io_read_bytes, io_write_bytes) = io_bytes(&text("io.stat"));
        Stats {
            cpu_usage_usec: key(&cpu, "usage_usec"),
            cpu_nr_throttled: key(&cpu, "nr_throttled"),
            memory_usage: memory_current.saturating_sub(inactive_file),
            memory_current,
            memory_limit: limit("memory.max"),
            pids_current: number("pids.current"),
            pids_limit: limit("pids.max"),
            io_read_bytes,
            io_write_bytes,
            oom_kills: oom_kills(&text("memory.events")),
        }
    }
}

/// The value of `name` in a flat-keyed file (`cpu.stat`, `memory.events`).
pub fn key(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or(0)
}

/// `max` is None, a number is that number.
pub fn parse_max(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

pub fn oom_kills(memory_events: &str) -> u64 {
    key(memory_events, "oom_kill")
}

/// Read and written bytes summed over devices, from `io.stat` lines such
/// as `254:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0`.
pub fn io_bytes(io_stat: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for field in io_stat.split_whitespace() {
        if let Some((k, v)) = field.split_once('=') {
            let v: u64 = v.parse().unwrap_or(0);
            match k {
                "rbytes" => r = r.saturating_add(v),
                "wbytes" => w = w.saturating_add(v),
                _ => {}
            }
        }
    }
    (r, w)
}

/// Received and sent bytes over a network namespace's interfaces but
/// loopback, from a `/proc/PID/net/dev` text.
pub fn net_bytes(net_dev: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in net_dev.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let cols: Vec<u64> = rest
            .split_whitespace()
            .map(|c| c.parse().unwrap_or(0))
            .collect();
        if cols.len() >= 9 {
            rx = rx.saturating_add(cols[0]);
            tx = tx.saturating_add(cols[8]);
        }
    }
    (rx, tx)
}

/// CPU use between two samples as docker shows it: 100% is one CPU.
pub fn cpu_percent(before_usec: u64, after_usec: u64, wall: std::time::Duration) -> f64 {
    let wall_usec = wall.as_micros() as f64;
    if wall_usec <= 0.0 {
        return 0.0;
    }
    after_usec.saturating_sub(before_usec) as f64 * 100.0 / wall_usec
}

/// Total memory of the machine, the limit shown for an unlimited cgroup.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_cgroup_files() {
        let dir = tempfile::tempdir().unwrap();
        let w = |f: &str, t: &str| std::fs::write(dir.path().join(f), t).unwrap();
        w(
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 99\n",
        );
        w("memory.current", "10485760\n");
        w(
            "memory.stat",
            "anon 8000000\nfile 2000000\ninactive_file 1048576\n",
        );
        w("memory.max", "max\n");
        w("pids.current", "3\n");
        w("pids.max", "200\n");
        w(
            "io.stat",
            "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=1 rios=1 wios=1\n",
        );
        w(
            "memory.events",
            "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
        );
        let s = Stats::read(dir.path());
        assert_eq!(
            s,
            Stats {
                cpu_usage_usec: 1500,
                cpu_nr_throttled: 4,
                memory_usage: 10485760 - 1048576,
                memory_current: 10485760,
                memory_limit: None,
                pids_current: 3,
                pids_limit: Some(200),
                io_read_bytes: 4097,
                io_write_bytes: 8193,
                oom_kills: 1,
            }
        );
        // A cgroup with no controllers enabled still has cpu.stat only.
        let bare = tempfile::tempdir().unwrap();
        assert_eq!(Stats::read(bare.path()), Stats::default());
    }

    #[test]
    fn network_bytes_leave_out_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    2000      10    0    0    0     0          0         0      300       3    0    0    0     0       0          0\n";
        assert_eq!(net_bytes(text), (2000, 300));
        assert_eq!(net_bytes(""), (0, 0));
    }

    #[test]
    fn cpu_percent_is_relative_to_one_cpu() {
        let sec = std::time::Duration::from_secs(1);
        assert_eq!(cpu_percent(0, 500_000, sec), 50.0);
        assert_eq!(cpu_percent(0, 2_000_000, sec), 200.0);
        assert_eq!(cpu_percent(10, 5, sec), 0.0);
        assert!(host_memory() > 0);
    }
}
