//! The container's view of /proc and /sys/devices/system/cpu/online (what
//! lxcfs shows): pure functions from the host's files and the container's
//! cgroup files to the text the container reads. Reads nothing itself, so
//! that the server that serves these files (a FUSE filesystem in the user
//! namespace) stays a thin loop and every rule here is tested without a
//! kernel. Never invents a number the cgroup does not give: what it does
//! not know it takes from the host's file unchanged.

use std::fmt::Write as _;

/// The container's cgroup files that shape the view, as read (missing
/// files as `None`: a host without a controller shows the host's value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupFiles {
    /// `memory.max`: bytes or `max`.
    pub memory_max: Option<String>,
    /// `memory.current`: bytes.
    pub memory_current: Option<String>,
    /// `memory.stat`: `key value` lines.
    pub memory_stat: Option<String>,
    /// `memory.swap.max`: bytes or `max`.
    pub swap_max: Option<String>,
    /// `memory.swap.current`: bytes.
    pub swap_current: Option<String>,
    /// `cpu.max`: `QUOTA PERIOD` or `max PERIOD`.
    pub cpu_max: Option<String>,
    /// `cpuset.cpus.effective`: a CPU list (`0-3,6`).
    pub cpuset: Option<String>,
}

/// A CPU list as the kernel writes it (`0-3,6`), sorted and deduplicated;
/// `None` on anything else.
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let text = text.trim();
    let mut cpus = Vec::new();
    if text.is_empty() {
        return Some(cpus);
    }
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 8192 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// The host's CPUs the container sees, in the host's numbering: those of
/// its cpuset (else every CPU online on the host), the first
/// ceil(quota / period) of them when `cpu.max` sets a quota (at least
/// one). Programs size their thread pools by this count.
pub fn visible_cpus(host_online: &[u32], cg: &CgroupFiles) -> Vec<u32> {
    let mut cpus: Vec<u32> = match cg.cpuset.as_deref().and_then(parse_cpu_list) {
        Some(set) if !set.is_empty() => set
            .into_iter()
            .filter(|c| host_online.contains(c))
            .collect(),
        _ => host_online.to_vec(),
    };
    if let Some(n) = cg.cpu_max.as_deref().and_then(quota_cpus) {
        cpus.truncate(n.max(1));
    }
    cpus
}

/// ceil(quota / period) of `cpu.max`, `None` without a quota.
fn quota_cpus(cpu_max: &str) -> Option<usize> {
    let mut f = cpu_max.split_whitespace();
    let quota: u64 = f.next()?.parse().ok()?;
    let period: u64 = f.next().unwrap_or("100000").parse().ok()?;
    if period == 0 {
        return None;
    }
    usize::try_from(quota.div_ceil(period)).ok()
}

/// `/sys/devices/system/cpu/online`: the visible CPUs numbered from 0, as
/// /proc/cpuinfo and /proc/stat number them.
pub fn cpu_online(visible: &[u32]) -> String {
    match visible.len() {
        0 => "\n".to_string(),
        1 => "0\n".to_string(),
        n => format!("0-{}\n", n - 1),
    }
}

/// `/proc/cpuinfo` with the blocks of the visible CPUs only, renumbered
/// from 0 (`processor : N`).
pub fn cpuinfo(host: &str, visible: &[u32]) -> String {
    let mut out = String::new();
    let mut next = 0u32;
    for block in host.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let Some(cpu) = block.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "processor").then(|| v.trim().parse::<u32>().ok())?
        }) else {
            continue;
        };
        if !visible.contains(&cpu) {
            continue;
        }
        for line in block.lines() {
            match line.split_once(':') {
                Some((k, _)) if k.trim() == "processor" => {
                    let _ = writeln!(out, "{k}: {next}");
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out.push('\n');
        next += 1;
    }
    out
}

/// `/proc/stat` with the `cpuN` lines of the visible CPUs only, renumbered
/// from 0, and the `cpu` line their sum; the rest as the host's.
pub fn stat(host: &str, visible: &[u32]) -> String {
    let mut total: Vec<u64> = Vec::new();
    let mut cpus = Vec::new();
    let mut rest = Vec::new();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("cpu") => {}
            Some(name) if name.starts_with("cpu") => {
                let Ok(n) = name[3..].parse::<u32>() else {
                    rest.push(line);
                    continue;
                };
                if !visible.contains(&n) {
                    continue;
                }
                let values: Vec<u64> = f.filter_map(|v| v.parse().ok()).collect();
                if total.len() < values.len() {
                    total.resize(values.len(), 0);
                }
                for (t, v) in total.iter_mut().zip(&values) {
                    *t = t.saturating_add(*v);
                }
                cpus.push(values);
            }
            _ => rest.push(line),
        }
    }
    let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    let mut out = format!("cpu  {}\n", join(&total));
    for (i, values) in cpus.iter().enumerate() {
        let _ = writeln!(out, "cpu{i} {}", join(values));
    }
    for line in rest {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A byte count of a cgroup file; `max` and missing files as `None`.
fn bytes(v: &Option<String>) -> Option<u64> {
    v.as_deref()?.trim().parse().ok()
}

/// One `key value` of `memory.stat`, in bytes.
fn memory_stat(cg: &CgroupFiles, key: &str) -> Option<u64> {
    cg.memory_stat.as_deref()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// `/proc/meminfo` with the container's memory: MemTotal is its limit
/// (the host's total when lower or unlimited), MemFree what its usage
/// leaves, MemAvailable that plus its reclaimable page cache, Cached and
/// the swap lines from its cgroup. Other lines as the host's. Sizes in
/// kB, as the kernel writes them.
pub fn meminfo(host: &str, cg: &CgroupFiles) -> String {
    let host_kb = |key: &str| -> Option<u64> {
        host.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == key).then(|| v.split_whitespace().next()?.parse().ok())?
        })
    };
    let Some(host_total) = host_kb("MemTotal") else {
        return host.to_string();
    };
    let Some(limit) = bytes(&cg.memory_max).map(|b| b / 1024) else {
        return host.to_string();
    };
    let total = limit.min(host_total);
    let used = bytes(&cg.memory_current).map_or(0, |b| b / 1024).min(total);
    let free = total - used;
    let kb = |key| memory_stat(cg, key).map_or(0, |b| b / 1024);
    let cached = kb("file");
    let shmem = kb("shmem");
    let reclaimable = kb("inactive_file") + kb("slab_reclaimable");
    let available = (free + reclaimable).min(total);
    let swap_total = match (bytes(&cg.swap_max), host_kb("SwapTotal")) {
        (Some(max), Some(host)) => (max / 1024).min(host),
        (Some(_), None) => 0,
        (None, host) => host.unwrap_or(0),
    };
    let swap_used = bytes(&cg.swap_current).map_or(0, |b| b / 1024);
    let swap_free = swap_total.saturating_sub(swap_used);
    let mine = |key: &str| -> Option<u64> {
        Some(match key {
            "MemTotal" => total,
            "MemFree" => free,
            "MemAvailable" => available,
            "Buffers" => 0,
            "Cached" => cached.saturating_sub(shmem),
            "Shmem" => shmem,
            "Active(file)" => kb("active_file"),
            "Inactive(file)" => kb("inactive_file"),
            "Active(anon)" => kb("active_anon"),
            "Inactive(anon)" => kb("inactive_anon"),
            "SReclaimable" => kb("slab_reclaimable"),
            "SUnreclaim" => kb("slab_unreclaimable"),
            "Slab" => kb("slab_reclaimable") + kb("slab_unreclaimable"),
            "SwapTotal" => swap_total,
            "SwapFree" => swap_free,
            "SwapCached" => 0,
            _ => return None,
        })
    };
    let mut out = String::new();
    for line in host.lines() {
        match line.split_once(':') {
            Some((k, _)) if mine(k).is_some() => {
                let value = mine(k).unwrap_or(0);
                // The kernel's layout: the key and colon padded to 16,
                // the number right-aligned in 8.
                let _ = writeln!(out, "{:<16}{value:>8} kB", format!("{k}:"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// `/proc/swaps`: the header, and a line for the container's swap when
/// its cgroup allows any (the host's devices are not its business).
pub fn swaps(cg: &CgroupFiles, host_meminfo: &str) -> String {
    let mut out = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n".to_string();
    let info = meminfo(host_meminfo, cg);
    let kb = |key: &str| -> u64 {
        info.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k == key).then(|| v.split_whitespace().next()?.parse().ok())?
            })
            .unwrap_or(0)
    };
    let (total, free) = (kb("SwapTotal"), kb("SwapFree"));
    if total > 0 {
        let _ = writeln!(
            out,
            "none\t\t\t\t\tvirtual\t\t{total}\t\t{}\t\t0",
            total - free.min(total)
        );
    }
    out
}

/// `/proc/uptime`: seconds since the container started, and the idle time
/// of its `visible` CPUs over that span, at the host's idle share per CPU
/// (`host_cpus` of them) since boot.
pub fn uptime(container_secs: f64, host_uptime: &str, host_cpus: usize, visible: usize) -> String {
    let mut f = host_uptime.split_whitespace();
    let host_up: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let host_idle: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let up = container_secs.max(0.0);
    let idle = if host_up > 0.0 && host_cpus > 0 {
        let share = (host_idle / host_up / host_cpus as f64).clamp(0.0, 1.0);
        share * up * visible as f64
    } else {
        0.0
    };
    format!("{up:.2} {idle:.2}\n")
}

/// `/proc/loadavg` of the container: the three averages as the supervisor
/// computes them from its cgroup's runnable tasks (the kernel keeps none
/// per cgroup), the running and total tasks of its cgroup, and the last
/// pid of its pid namespace.
pub fn loadavg(avg: [f64; 3], running: usize, total: usize, last_pid: u32) -> String {
    format!(
        "{:.2} {:.2} {:.2} {running}/{total} {last_pid}\n",
        avg[0], avg[1], avg[2]
    )
}

/// One step of the kernel's exponential load average, for `runnable`
/// tasks on average over the last `interval_secs`: 1, 5 and 15 minutes.
pub fn loadavg_step(avg: [f64; 3], runnable: f64, interval_secs: f64) -> [f64; 3] {
    let mut next = avg;
    let runnable = if runnable.is_finite() {
        runnable.max(0.0)
    } else {
        0.0
    };
    for (a, minutes) in next.iter_mut().zip([1.0f64, 5.0, 15.0]) {
        let decay = libm::exp(-interval_secs / (minutes * 60.0));
        *a = *a * decay + runnable * (1.0 - decay);
    }
    next
}

/// What sysinfo(2) tells the container: the numbers of its own
/// /proc/meminfo, /proc/uptime and /proc/loadavg as the view renders them,
/// so that busybox `free` and `uptime` (which call sysinfo) agree with
/// procps (which reads the files). Sizes in bytes (`mem_unit` 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sysinfo {
    /// Whole seconds, rounded up as the kernel does.
    pub uptime: u64,
    /// The load averages in the kernel's fixed point (1 << 16 is 1.0).
    pub loads: [u64; 3],
    pub totalram: u64,
    pub freeram: u64,
    pub sharedram: u64,
    pub bufferram: u64,
    pub totalswap: u64,
    pub freeswap: u64,
    /// Tasks, at most u16::MAX as the field holds.
    pub procs: u16,
}

/// `Sysinfo` from the texts of the view's `meminfo`, `uptime` and
/// `loadavg` (a number a text lacks is 0).
pub fn sysinfo(meminfo: &str, uptime: &str, loadavg: &str) -> Sysinfo {
    let bytes = |key: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k == key).then(|| v.split_whitespace().next()?.parse::<u64>().ok())?
            })
            .unwrap_or(0)
            .saturating_mul(1024)
    };
    let up: f64 = uptime
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .unwrap_or(0.0);
    let mut f = loadavg.split_whitespace();
    let mut loads = [0u64; 3];
    for l in &mut loads {
        let avg: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        *l = if avg.is_finite() && avg > 0.0 {
            (avg * 65536.0).round() as u64
        } else {
            0
        };
    }
    let procs = f
        .next()
        .and_then(|rt| rt.split_once('/'))
        .and_then(|(_, total)| total.parse::<u64>().ok())
        .map_or(0, |t| t.min(u64::from(u16::MAX)) as u16);
    Sysinfo {
        uptime: up.ceil() as u64,
        loads,
        totalram: bytes("MemTotal"),
        freeram: bytes("MemFree"),
        sharedram: bytes("Shmem"),
        bufferram: bytes("Buffers"),
        totalswap: bytes("SwapTotal"),
        freeswap: bytes("SwapFree"),
        procs,
    }
}

/// `/proc/diskstats` of the container: the host's lines of the devices its
/// cgroup did I/O on (`io.stat`), with the container's reads and writes
/// (completed, sectors) in place of the host's and the timings zero; the
/// host's other devices are left out.
pub fn diskstats(host: &str, io_stat: &str) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        let dev = format!("{}:{}", f[0], f[1]);
        let Some(stats) = io_stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some(dev.as_str()))
        else {
            continue;
        };
        let get = |key: &str| -> u64 {
            stats
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
                .unwrap_or(0)
        };
        let _ = writeln!(
            out,
            "{:>4} {:>7} {} {} 0 {} 0 {} 0 {} 0 0 0",
            f[0],
            f[1],
            f[2],
            get("rios"),
            get("rbytes") / 512,
            get("wios"),
            get("wbytes") / 512,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "\
MemTotal:       24683772 kB
MemFree:        10000000 kB
MemAvailable:   20000000 kB
Buffers:          100000 kB
Cached:          5000000 kB
SwapCached:            0 kB
Shmem:             20000 kB
SReclaimable:     300000 kB
SwapTotal:       1048572 kB
SwapFree:        1048572 kB
HugePages_Total:       0
";

    fn limited(max: &str, current: &str) -> CgroupFiles {
        CgroupFiles {
            memory_max: Some(format!("{max}\n")),
            memory_current: Some(format!("{current}\n")),
            memory_stat: Some(
                "anon 10485760\nfile 4194304\nshmem 1048576\ninactive_file 2097152\n\
                 slab_reclaimable 1048576\n"
                    .into(),
            ),
            swap_max: Some("0\n".into()),
            ..Default::default()
        }
    }

    fn kb(text: &str, key: &str) -> u64 {
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k == key).then(|| v.split_whitespace().next()?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
    }

    #[test]
    fn meminfo_shows_the_memory_limit_and_usage_as_free_reads_them() {
        // --memory 64m, 16 MiB in use.
        let out = meminfo(MEMINFO, &limited("67108864", "16777216"));
        assert_eq!(kb(&out, "MemTotal"), 65536);
        assert_eq!(kb(&out, "MemFree"), 65536 - 16384);
        // Free plus inactive file pages and reclaimable slab.
        assert_eq!(kb(&out, "MemAvailable"), 65536 - 16384 + 2048 + 1024);
        assert_eq!(kb(&out, "Buffers"), 0);
        assert_eq!(kb(&out, "Cached"), 4096 - 1024);
        assert_eq!(kb(&out, "SwapTotal"), 0, "memory.swap.max 0: no swap");
        assert_eq!(kb(&out, "SwapFree"), 0);
        assert!(out.contains("HugePages_Total:       0\n"), "the rest kept");
        assert!(
            out.contains("MemTotal:          65536 kB\n"),
            "the kernel's layout: {out}"
        );
    }

    #[test]
    fn sysinfo_gives_the_numbers_of_the_views_files() {
        // --memory 64m, 16 MiB in use: free's total and free.
        let mem = meminfo(MEMINFO, &limited("67108864", "16777216"));
        let up = uptime(10.25, "1000.00 3000.00\n", 4, 2);
        let v = sysinfo(&mem, &up, &loadavg([0.5, 1.0, 2.0], 1, 3, 42));
        assert_eq!(v.totalram, 64 << 20);
        assert_eq!(v.freeram, 48 << 20);
        assert_eq!(v.sharedram, 1 << 20);
        assert_eq!(v.bufferram, 0);
        assert_eq!((v.totalswap, v.freeswap), (0, 0));
        assert_eq!(v.uptime, 11, "rounded up, as the kernel's");
        assert_eq!(v.loads, [32768, 65536, 131072]);
        assert_eq!(v.procs, 3);
        // Nothing readable: zeros, never a panic.
        assert_eq!(sysinfo("", "", ""), Sysinfo::default());
        assert_eq!(
            sysinfo("MemTotal: x kB", "-5 1", "nan inf 1e999 9/99999999"),
            Sysinfo {
                procs: u16::MAX,
                ..Sysinfo::default()
            }
        );
    }

    #[test]
    fn meminfo_without_a_limit_or_above_the_host_is_the_hosts() {
        assert_eq!(meminfo(MEMINFO, &limited("max", "1")), MEMINFO);
        assert_eq!(meminfo(MEMINFO, &CgroupFiles::default()), MEMINFO);
        let out = meminfo(MEMINFO, &limited("999999999999999", "0"));
        assert_eq!(kb(&out, "MemTotal"), 24683772);
    }

    #[test]
    fn cpus_come_from_the_cpuset_then_the_quota() {
        let host: Vec<u32> = (0..8).collect();
        let cg = |cpuset: Option<&str>, max: Option<&str>| CgroupFiles {
            cpuset: cpuset.map(String::from),
            cpu_max: max.map(String::from),
            ..Default::default()
        };
        assert_eq!(visible_cpus(&host, &cg(None, None)), host);
        assert_eq!(visible_cpus(&host, &cg(None, Some("max 100000\n"))), host);
        // --cpus 1, --cpus 1.5, --cpus 0.1
        assert_eq!(visible_cpus(&host, &cg(None, Some("100000 100000\n"))), [0]);
        assert_eq!(
            visible_cpus(&host, &cg(None, Some("150000 100000"))),
            [0, 1]
        );
        assert_eq!(visible_cpus(&host, &cg(None, Some("10000 100000"))), [0]);
        // --cpu-period 50000 --cpu-quota 150000: three CPUs' worth, by
        // the period cpu.max holds, not docker's default one.
        assert_eq!(
            visible_cpus(&host, &cg(None, Some("150000 50000\n"))),
            [0, 1, 2]
        );
        assert_eq!(visible_cpus(&host, &cg(None, Some("max 50000\n"))), host);
        assert_eq!(visible_cpus(&host, &cg(Some("2-3,6\n"), None)), [2, 3, 6]);
        assert_eq!(
            visible_cpus(&host, &cg(Some("2-3,6"), Some("100000 100000"))),
            [2]
        );
        // A CPU of the set that the host has offline is not shown.
        assert_eq!(visible_cpus(&host, &cg(Some("7-9"), None)), [7]);
        assert_eq!(cpu_online(&[2, 3, 6]), "0-2\n");
        assert_eq!(cpu_online(&[5]), "0\n");
    }

    #[test]
    fn cpu_lists_that_are_not_lists_are_refused() {
        assert_eq!(parse_cpu_list("0-2,1,7"), Some(vec![0, 1, 2, 7]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("0-4000000000"), None);
        assert_eq!(parse_cpu_list("a"), None);
    }

    #[test]
    fn cpuinfo_and_stat_keep_the_visible_cpus_renumbered() {
        let host = "processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: X\n\n\
                    processor\t: 2\nmodel name\t: X\n\n";
        let out = cpuinfo(host, &[1, 2]);
        assert_eq!(
            out,
            "processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: X\n\n"
        );
        let host = "cpu  6 6 6\ncpu0 1 1 1\ncpu1 2 2 2\ncpu2 3 3 3\nintr 5\nbtime 7\n";
        assert_eq!(
            stat(host, &[0, 2]),
            "cpu  4 4 4\ncpu0 1 1 1\ncpu1 3 3 3\nintr 5\nbtime 7\n"
        );
    }

    #[test]
    fn uptime_is_the_containers_and_swaps_its_own() {
        // A 4-CPU host up 1000 s, idle 3000 s: 75% idle per CPU.
        assert_eq!(uptime(10.0, "1000.00 3000.00\n", 4, 2), "10.00 15.00\n");
        let no_swap = limited("67108864", "0");
        assert_eq!(swaps(&no_swap, MEMINFO).lines().count(), 1);
        let mut swap = no_swap.clone();
        swap.swap_max = Some("1048576\n".into());
        swap.swap_current = Some("0\n".into());
        let out = swaps(&swap, MEMINFO);
        assert!(
            out.lines().nth(1).unwrap().contains("virtual\t\t1024\t\t0"),
            "{out}"
        );
    }

    #[test]
    fn loadavg_follows_the_runnable_tasks() {
        let mut avg = [0.0; 3];
        for _ in 0..(60 * 60 / 5) {
            avg = loadavg_step(avg, 2.0, 5.0);
        }
        assert!(
            (avg[0] - 2.0).abs() < 0.01 && (avg[2] - 2.0).abs() < 0.1,
            "{avg:?}"
        );
        assert_eq!(loadavg(avg, 1, 3, 42).split(' ').nth(3), Some("1/3"));
        // One step over a long quiet spell is the same as many small ones.
        let long = loadavg_step([2.0; 3], 0.0, 600.0);
        let mut short = [2.0; 3];
        for _ in 0..120 {
            short = loadavg_step(short, 0.0, 5.0);
        }
        for (a, b) in long.iter().zip(short) {
            assert!((a - b).abs() < 1e-9, "{long:?} {short:?}");
        }
    }

    #[test]
    fn diskstats_shows_the_containers_io_on_its_devices_only() {
        let host = "   8       0 sda 100 0 800 50 200 0 1600 60 0 70 110 0 0 0 0\n \
                    8       1 sda1 1 0 8 5 2 0 16 6 0 7 11 0 0 0 0\n";
        let io = "8:0 rbytes=4096 wbytes=8192 rios=2 wios=3 dbytes=0 dios=0\n";
        let out = diskstats(host, io);
        assert_eq!(out.lines().count(), 1, "{out}");
        let f: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(
            &f[..10],
            ["8", "0", "sda", "2", "0", "8", "0", "3", "0", "16"]
        );
    }
}
