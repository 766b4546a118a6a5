//! Resource limits as docker's flags give them, and their translation into
//! cgroup v2 file writes. Pure data and arithmetic: nothing here touches
//! the file system except resolving a device path to its numbers.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// A cgroup v2 controller a limit needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    Cpu,
    Cpuset,
    Io,
    Memory,
    Pids,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuset => "cpuset",
            Controller::Io => "io",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--memory-swap`: docker's total of memory and swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Swap {
    Unlimited,
    /// Memory plus swap, in bytes.
    Total(u64),
}

/// `--device-read-bps /dev/sda:10mb`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRate {
    pub device: PathBuf,
    pub bytes_per_sec: u64,
}

/// `--device-read-iops /dev/sda:1000`: I/O operations a second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIops {
    pub device: PathBuf,
    pub iops: u64,
}

/// `--blkio-weight-device /dev/sda:200`: one disk's relative weight
/// (10-1000, as `--blkio-weight`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceWeight {
    pub device: PathBuf,
    pub weight: u16,
}

/// The limits of one container. `None` and empty mean "not asked for".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub memory: Option<u64>,
    pub memory_reservation: Option<u64>,
    pub memory_swap: Option<Swap>,
    /// Number of CPUs, fractional (`--cpus 1.5`).
    pub cpus: Option<f64>,
    /// `--cpu-period`: the CFS period of `cpu.max`, in µs.
    pub cpu_period: Option<u64>,
    /// `--cpu-quota`: µs of CPU time per period; -1 (or 0) for none.
    pub cpu_quota: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// `Some(None)` is an explicit "unlimited" (`--pids-limit -1`).
    pub pids_limit: Option<Option<u64>>,
    pub blkio_weight: Option<u16>,
    pub device_read_bps: Vec<DeviceRate>,
    pub device_write_bps: Vec<DeviceRate>,
    pub device_read_iops: Vec<DeviceIops>,
    pub device_write_iops: Vec<DeviceIops>,
    pub blkio_weight_device: Vec<DeviceWeight>,
}

/// One write of a limit: the first of `files` that exists gets its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The docker flag it comes from, for error messages.
    pub flag: &'static str,
    pub controller: Controller,
    /// (file, value) alternatives, most preferred first.
    pub files: Vec<(&'static str, String)>,
    /// A write burrow adds on its own (docker's implied swap): skipped
    /// without error when the kernel has no such file.
    pub implied: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("{flag}: {why}")]
    Invalid { flag: &'static str, why: String },
    /// Two flags that set one thing, in docker's words and then burrow's.
    #[error("Conflicting options: {what} ({flags})")]
    Conflict {
        what: &'static str,
        flags: &'static str,
    },
    #[error("{flag} {}: {source}", .device.display())]
    Device {
        flag: &'static str,
        device: PathBuf,
        source: DeviceError,
    },
}

/// Why a path cannot take an io limit; shown after the path.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("{0}")]
    Unreadable(std::io::Error),
    #[error("not a block device")]
    NotBlock,
    #[error("a partition; io limits apply to whole disks only (name the disk)")]
    Partition,
}

/// A flag's value that does not parse; clap prints it after the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("invalid size {0:?}: use a number with k, m, g or t")]
    Size(String),
    #[error("invalid size {0:?}")]
    SizeOutOfRange(String),
    #[error("invalid number of CPUs {0:?}: e.g. 1.5")]
    Cpus(String),
    #[error("invalid CPU quota {0:?}: microseconds per period (at least 1000), or -1 for none")]
    CpuQuota(String),
    #[error("invalid device rate {0:?}: expected DEVICE:RATE, e.g. /dev/sda:10mb")]
    DeviceRate(String),
    #[error("invalid device rate {0:?}: the device must be a path such as /dev/sda")]
    RateDevice(String),
    #[error("invalid device rate {0:?}: expected DEVICE:N, N a whole number of I/O operations a second, e.g. /dev/sda:1000")]
    DeviceIops(String),
    #[error("invalid device weight {0:?}: expected DEVICE:WEIGHT, WEIGHT between 10 and 1000, e.g. /dev/sda:200")]
    DeviceWeight(String),
}

/// The CFS period burrow uses for `--cpus`, and for `--cpu-quota`
/// without `--cpu-period`, as docker does.
pub const CPU_PERIOD_USEC: u64 = 100_000;
/// docker's bounds of `--cpu-period` (1ms to 1s) and `--cpu-quota` (1ms).
pub const CPU_PERIOD_MIN_USEC: u64 = 1000;
pub const CPU_PERIOD_MAX_USEC: u64 = 1_000_000;
pub const CPU_QUOTA_MIN_USEC: i64 = 1000;

impl Limits {
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// Folds `newer` (what `burrow update` was given) into these limits.
    pub fn merge(&mut self, newer: &Limits) {
        macro_rules! take {
            ($($f:ident),*) => {$(
                if newer.$f.is_some() { self.$f = newer.$f.clone(); }
            )*};
        }
        take!(
            memory,
            memory_reservation,
            memory_swap,
            cpus,
            cpu_period,
            cpu_quota,
            cpu_shares,
            cpuset_cpus,
            cpuset_mems,
            pids_limit,
            blkio_weight
        );
        for (mine, theirs) in [
            (&mut self.device_read_bps, &newer.device_read_bps),
            (&mut self.device_write_bps, &newer.device_write_bps),
        ] {
            for rate in theirs {
                mine.retain(|r| r.device != rate.device);
                mine.push(rate.clone());
            }
        }
        for (mine, theirs) in [
            (&mut self.device_read_iops, &newer.device_read_iops),
            (&mut self.device_write_iops, &newer.device_write_iops),
        ] {
            for rate in theirs {
                mine.retain(|r| r.device != rate.device);
                mine.push(rate.clone());
            }
        }
        for w in &newer.blkio_weight_device {
            self.blkio_weight_device.retain(|o| o.device != w.device);
            self.blkio_weight_device.push(w.clone());
        }
    }

    /// The flags given, each with the controller it needs.
    pub fn controllers(&self) -> Vec<(&'static str, Controller)> {
        let mut out = Vec::new();
        let mut need = |on: bool, flag, c| {
            if on {
                out.push((flag, c));
            }
        };
        need(self.memory.is_some(), "--memory", Controller::Memory);
        need(
            self.memory_reservation.is_some(),
            "--memory-reservation",
            Controller::Memory,
        );
        need(
            self.memory_swap.is_some(),
            "--memory-swap",
            Controller::Memory,
        );
        need(self.cpus.is_some(), "--cpus", Controller::Cpu);
        need(self.cpu_period.is_some(), "--cpu-period", Controller::Cpu);
        need(self.cpu_quota.is_some(), "--cpu-quota", Controller::Cpu);
        need(self.cpu_shares.is_some(), "--cpu-shares", Controller::Cpu);
        need(
            self.cpuset_cpus.is_some(),
            "--cpuset-cpus",
            Controller::Cpuset,
        );
        need(
            self.cpuset_mems.is_some(),
            "--cpuset-mems",
            Controller::Cpuset,
        );
        need(self.pids_limit.is_some(), "--pids-limit", Controller::Pids);
        need(
            self.blkio_weight.is_some(),
            "--blkio-weight",
            Controller::Io,
        );
        need(
            !self.device_read_bps.is_empty(),
            "--device-read-bps",
            Controller::Io,
        );
        need(
            !self.device_write_bps.is_empty(),
            "--device-write-bps",
            Controller::Io,
        );
        need(
            !self.device_read_iops.is_empty(),
            "--device-read-iops",
            Controller::Io,
        );
        need(
            !self.device_write_iops.is_empty(),
            "--device-write-iops",
            Controller::Io,
        );
        need(
            !self.blkio_weight_device.is_empty(),
            "--blkio-weight-device",
            Controller::Io,
        );
        out
    }

    /// Checks the combination as docker does.
    pub fn validate(&self) -> Result<(), LimitError> {
        let invalid = |flag, why: &str| {
            Err(LimitError::Invalid {
                flag,
                why: why.to_string(),
            })
        };
        if let Some(m) = self.memory {
            // The kernel accepts less, but a container cannot even start.
            if m < 6 * 1024 * 1024 {
                return invalid("--memory", "the minimum is 6m");
            }
        }
        if let (Some(r), Some(m)) = (self.memory_reservation, self.memory) {
            if r > m {
                return invalid("--memory-reservation", "must be below --memory");
            }
        }
        if let Some(Swap::Total(total)) = self.memory_swap {
            match self.memory {
                None => {
                    return invalid(
                        "--memory-swap",
                        "needs --memory too (it is memory plus swap)",
                    )
                }
                Some(m) if total < m => {
                    return invalid(
                        "--memory-swap",
                        "must be at least --memory (it is memory plus swap); -1 for unlimited swap",
                    )
                }
                _ => {}
            }
        }
        if let Some(c) = self.cpus {
            if c <= 0.0 || !c.is_finite() {
                return invalid("--cpus", "must be a positive number of CPUs");
            }
            if cpu_quota(c) < 1000 {
                return invalid("--cpus", "the minimum is 0.01");
            }
        }
        if self.cpus.is_some() {
            // docker's words: --cpus is a quota over its own period.
            if self.cpu_period.is_some() {
                return Err(LimitError::Conflict {
                    what: "Nano CPUs and CPU Period cannot both be set",
                    flags: "--cpus and --cpu-period",
                });
            }
            if self.cpu_quota.is_some() {
                return Err(LimitError::Conflict {
                    what: "Nano CPUs and CPU Quota cannot both be set",
                    flags: "--cpus and --cpu-quota",
                });
            }
        }
        if let Some(p) = self.cpu_period {
            if !(CPU_PERIOD_MIN_USEC..=CPU_PERIOD_MAX_USEC).contains(&p) {
                return invalid(
                    "--cpu-period",
                    "must be between 1000 and 1000000 microseconds (1ms to 1s)",
                );
            }
        }
        if let Some(q) = self.cpu_quota {
            if q < -1 || (q > 0 && q < CPU_QUOTA_MIN_USEC) {
                return invalid(
                    "--cpu-quota",
                    "the minimum is 1000 microseconds (1ms); -1 for no quota",
                );
            }
        }
        if let Some(s) = self.cpu_shares {
            if !(2..=262_144).contains(&s) {
                return invalid("--cpu-shares", "must be between 2 and 262144");
            }
        }
        if let Some(w) = self.blkio_weight {
            if !(10..=1000).contains(&w) {
                return invalid("--blkio-weight", "must be between 10 and 1000");
            }
        }
        if self
            .blkio_weight_device
            .iter()
            .any(|d| !(10..=1000).contains(&d.weight))
        {
            return invalid("--blkio-weight-device", "must be between 10 and 1000");
        }
        for (flag, list) in [
            ("--cpuset-cpus", &self.cpuset_cpus),
            ("--cpuset-mems", &self.cpuset_mems),
        ] {
            if let Some(list) = list {
                if !valid_cpu_list(list) {
                    return invalid(flag, "expected a list such as 0-3 or 0,2");
                }
            }
        }
        Ok(())
    }

    /// The cgroup v2 writes for these limits, in order. `device` finds a
    /// block device's `MAJ:MIN` (`device_numbers` on a real system).
    pub fn writes(
        &self,
        device: impl Fn(&Path) -> Result<(u32, u32), DeviceError>,
    ) -> Result<Vec<Write>, LimitError> {
        self.validate()?;
        let mut out = Vec::new();
        let one = |flag, controller, file, value: String| Write {
            flag,
            controller,
            files: vec![(file, value)],
            implied: false,
        };
        if let Some(r) = self.memory_reservation {
            out.push(one(
                "--memory-reservation",
                Controller::Memory,
                "memory.low",
                r.to_string(),
            ));
        }
        if let Some(m) = self.memory {
            out.push(one(
                "--memory",
                Controller::Memory,
                "memory.max",
                m.to_string(),
            ));
        }
        match (self.memory_swap, self.memory) {
            (Some(Swap::Unlimited), _) => out.push(one(
                "--memory-swap",
                Controller::Memory,
                "memory.swap.max",
                "max".into(),
            )),
            (Some(Swap::Total(total)), Some(m)) => out.push(one(
                "--memory-swap",
                Controller::Memory,
                "memory.swap.max",
                total.saturating_sub(m).to_string(),
            )),
            // docker: --memory alone allows as much swap again.
            (None, Some(m)) => out.push(Write {
                implied: true,
                ..one(
                    "--memory",
                    Controller::Memory,
                    "memory.swap.max",
                    m.to_string(),
                )
            }),
            (Some(Swap::Total(_)), None) | (None, None) => {}
        }
        if let Some(c) = self.cpus {
            out.push(one(
                "--cpus",
                Controller::Cpu,
                "cpu.max",
                format!("{} {CPU_PERIOD_USEC}", cpu_quota(c)),
            ));
        }
        if self.cpu_period.is_some() || self.cpu_quota.is_some() {
            // cpu.max holds both: one write, whichever flags were given;
            // a period alone keeps no quota ("max"), as docker's does.
            let quota = match self.cpu_quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            let period = self.cpu_period.unwrap_or(CPU_PERIOD_USEC);
            let flag = if self.cpu_quota.is_some() {
                "--cpu-quota"
            } else {
                "--cpu-period"
            };
            out.push(one(
                flag,
                Controller::Cpu,
                "cpu.max",
                format!("{quota} {period}"),
            ));
        }
        if let Some(s) = self.cpu_shares {
            out.push(one(
                "--cpu-shares",
                Controller::Cpu,
                "cpu.weight",
                shares_to_weight(s).to_string(),
            ));
        }
        // cpuset.mems before cpus: both must be set before tasks arrive,
        // and mems is the one a kernel refuses as empty.
        if let Some(m) = &self.cpuset_mems {
            out.push(one(
                "--cpuset-mems",
                Controller::Cpuset,
                "cpuset.mems",
                m.clone(),
            ));
        }
        if let Some(c) = &self.cpuset_cpus {
            out.push(one(
                "--cpuset-cpus",
                Controller::Cpuset,
                "cpuset.cpus",
                c.clone(),
            ));
        }
        if let Some(p) = self.pids_limit {
            let value = p.map_or("max".to_string(), |n| n.to_string());
            out.push(one("--pids-limit", Controller::Pids, "pids.max", value));
        }
        if let Some(w) = self.blkio_weight {
            // bfq takes the blkio range as it is; io.weight (iocost) has
            // its own, 1..10000.
            out.push(Write {
                flag: "--blkio-weight",
                controller: Controller::Io,
                files: vec![
                    ("io.bfq.weight", w.to_string()),
                    ("io.weight", format!("default {}", blkio_to_io_weight(w))),
                ],
                implied: false,
            });
        }
        // Per disk, each an `io.max` key: bytes and operations a second.
        let bps = |l: &[DeviceRate]| -> Vec<(PathBuf, u64)> {
            l.iter()
                .map(|r| (r.device.clone(), r.bytes_per_sec))
                .collect()
        };
        let iops = |l: &[DeviceIops]| -> Vec<(PathBuf, u64)> {
            l.iter().map(|r| (r.device.clone(), r.iops)).collect()
        };
        for (flag, key, list) in [
            ("--device-read-bps", "rbps", bps(&self.device_read_bps)),
            ("--device-write-bps", "wbps", bps(&self.device_write_bps)),
            ("--device-read-iops", "riops", iops(&self.device_read_iops)),
            (
                "--device-write-iops",
                "wiops",
                iops(&self.device_write_iops),
            ),
        ] {
            for (dev, rate) in list {
                let (major, minor) = device(&dev).map_err(|source| LimitError::Device {
                    flag,
                    device: dev.clone(),
                    source,
                })?;
                // 0 would mean "no limit" to docker; the kernel wants max.
                let value = if rate == 0 {
                    "max".to_string()
                } else {
                    rate.to_string()
                };
                out.push(one(
                    flag,
                    Controller::Io,
                    "io.max",
                    format!("{major}:{minor} {key}={value}"),
                ));
            }
        }
        for w in &self.blkio_weight_device {
            let flag = "--blkio-weight-device";
            let (major, minor) = device(&w.device).map_err(|source| LimitError::Device {
                flag,
                device: w.device.clone(),
                source,
            })?;
            // As --blkio-weight: bfq's range as given, io.weight's scaled.
            out.push(Write {
                flag,
                controller: Controller::Io,
                files: vec![
                    ("io.bfq.weight", format!("{major}:{minor} {}", w.weight)),
                    (
                        "io.weight",
                        format!("{major}:{minor} {}", blkio_to_io_weight(w.weight)),
                    ),
                ],
                implied: false,
            });
        }
        Ok(out)
    }
}

/// `--cpus` as a CFS quota per `CPU_PERIOD_USEC`.
pub fn cpu_quota(cpus: f64) -> u64 {
    (cpus * CPU_PERIOD_USEC as f64).round() as u64
}

/// cgroup v1 `cpu.shares` (2..262144, default 1024) to v2 `cpu.weight`
/// (1..10000, default 100), the linear map container runtimes share.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// blkio weight (10..1000) to `io.weight` (1..10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

fn valid_cpu_list(list: &str) -> bool {
    !list.is_empty()
        && list.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            let a = ends.next().unwrap_or("");
            let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            match ends.next() {
                None => ok(a),
                Some(b) => ok(a) && ok(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok(),
            }
        })
}

/// A block device's major and minor number, for io.max. The kernel takes
/// whole disks only: a partition is named as such.
pub fn device_numbers(path: &Path) -> Result<(u32, u32), DeviceError> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).map_err(DeviceError::Unreadable)?;
    if !md.file_type().is_block_device() {
        return Err(DeviceError::NotBlock);
    }
    let rdev = md.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    if Path::new(&format!("/sys/dev/block/{major}:{minor}/partition")).exists() {
        return Err(DeviceError::Partition);
    }
    Ok((major, minor))
}

/// A size as docker reads it: `512`, `10k`, `64m`, `2g`, `1.5g`, `10mb`
/// (binary units, case-insensitive).
pub fn parse_bytes(s: &str) -> Result<u64, ValueError> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(ValueError::Size(s.to_string())),
    };
    let n: f64 = num.parse().map_err(|_| ValueError::Size(s.to_string()))?;
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(ValueError::SizeOutOfRange(s.to_string()));
    }
    Ok(bytes as u64)
}

/// `--memory-swap`: a size, or -1 for unlimited.
pub fn parse_swap(s: &str) -> Result<Swap, ValueError> {
    if s.trim() == "-1" {
        return Ok(Swap::Unlimited);
    }
    parse_bytes(s).map(Swap::Total)
}

/// `--pids-limit`: a count; 0 or -1 for unlimited, as docker has it.
pub fn pids_limit(n: i64) -> Option<u64> {
    u64::try_from(n).ok().filter(|&n| n > 0)
}

/// `--cpus`: a positive decimal.
pub fn parse_cpus(s: &str) -> Result<f64, ValueError> {
    match s.trim().parse::<f64>() {
        Ok(c) if c > 0.0 && c.is_finite() => Ok(c),
        _ => Err(ValueError::Cpus(s.to_string())),
    }
}

/// `--cpu-quota`: microseconds, -1 (or 0) for none. The range is checked
/// with the other limits (`Limits::validate`), so that `update` checks it
/// too.
pub fn parse_cpu_quota(s: &str) -> Result<i64, ValueError> {
    match s.trim().parse::<i64>() {
        Ok(q) if q >= -1 => Ok(q),
        _ => Err(ValueError::CpuQuota(s.to_string())),
    }
}

/// The conflict docker names when `update` gives `--cpus` to a container
/// with a CPU period or quota, or the other way round: `merge` would keep
/// both.
pub fn update_conflict(current: &Limits, newer: &Limits) -> Result<(), LimitError> {
    let conflict = |what, flags| Err(LimitError::Conflict { what, flags });
    if newer.cpus.is_some() {
        if current.cpu_quota.is_some() && newer.cpu_quota.is_none() {
            return conflict(
                "Nano CPUs cannot be updated as CPU Quota has already been set",
                "--cpus over --cpu-quota",
            );
        }
        if current.cpu_period.is_some() && newer.cpu_period.is_none() {
            return conflict(
                "Nano CPUs cannot be updated as CPU Period has already been set",
                "--cpus over --cpu-period",
            );
        }
    }
    if current.cpus.is_some() && newer.cpus.is_none() {
        if newer.cpu_quota.is_some() {
            return conflict(
                "CPU Quota cannot be updated as NanoCPUs has already been set",
                "--cpu-quota over --cpus",
            );
        }
        if newer.cpu_period.is_some() {
            return conflict(
                "CPU Period cannot be updated as NanoCPUs has already been set",
                "--cpu-period over --cpus",
            );
        }
    }
    Ok(())
}

/// `--device-read-bps /dev/sda:10mb`.
pub fn parse_device_rate(s: &str) -> Result<DeviceRate, ValueError> {
    let (dev, rate) = s
        .rsplit_once(':')
        .ok_or_else(|| ValueError::DeviceRate(s.to_string()))?;
    if !dev.starts_with('/') {
        return Err(ValueError::RateDevice(s.to_string()));
    }
    Ok(DeviceRate {
        device: PathBuf::from(dev),
        bytes_per_sec: parse_bytes(rate)?,
    })
}

/// A `DEVICE:VALUE` flag's two halves, the device a path.
fn device_and_value(s: &str) -> Option<(PathBuf, &str)> {
    let (dev, value) = s.rsplit_once(':')?;
    dev.starts_with('/')
        .then(|| (PathBuf::from(dev), value.trim()))
}

/// `--device-read-iops /dev/sda:1000`: a whole number (0 for no limit).
pub fn parse_device_iops(s: &str) -> Result<DeviceIops, ValueError> {
    let (device, n) = device_and_value(s).ok_or_else(|| ValueError::DeviceIops(s.to_string()))?;
    let iops = n
        .parse()
        .map_err(|_| ValueError::DeviceIops(s.to_string()))?;
    Ok(DeviceIops { device, iops })
}

/// `--blkio-weight-device /dev/sda:200`: 10 to 1000, as docker takes it.
pub fn parse_device_weight(s: &str) -> Result<DeviceWeight, ValueError> {
    let bad = || ValueError::DeviceWeight(s.to_string());
    let (device, w) = device_and_value(s).ok_or_else(bad)?;
    let weight: u16 = w.parse().map_err(|_| bad())?;
    if !(10..=1000).contains(&weight) {
        return Err(bad());
    }
    Ok(DeviceWeight { device, weight })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_device(_: &Path) -> Result<(u32, u32), DeviceError> {
        Err(DeviceError::NotBlock)
    }

    fn files(w: &[Write]) -> Vec<(String, String)> {
        w.iter()
            .map(|w| (w.files[0].0.to_string(), w.files[0].1.clone()))
            .collect()
    }

    #[test]
    fn sizes_read_as_docker_reads_them() {
        assert_eq!(parse_bytes("512"), Ok(512));
        assert_eq!(parse_bytes("10m"), Ok(10 << 20));
        assert_eq!(parse_bytes("10MB"), Ok(10 << 20));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("2k"), Ok(2048));
        assert_eq!(parse_bytes("ten"), Err(ValueError::Size("ten".into())));
        assert!(parse_bytes("10x").is_err());
        assert!(parse_bytes("").is_err());
        assert_eq!(parse_swap("-1"), Ok(Swap::Unlimited));
        assert_eq!(pids_limit(-1), None);
        assert_eq!(pids_limit(0), None);
        assert_eq!(pids_limit(200), Some(200));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("-1").is_err());
        assert_eq!(
            parse_device_rate("/dev/vda:1mb"),
            Ok(DeviceRate {
                device: "/dev/vda".into(),
                bytes_per_sec: 1 << 20
            })
        );
        assert_eq!(
            parse_device_rate("vda:1mb").unwrap_err().to_string(),
            "invalid device rate \"vda:1mb\": the device must be a path such as /dev/sda"
        );
        assert!(parse_device_rate("/dev/vda").is_err());
    }

    #[test]
    fn memory_and_swap_follow_docker_semantics() {
        let l = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(Swap::Total(100 << 20)),
            memory_reservation: Some(32 << 20),
            ..Limits::default()
        };
        let w = l.writes(no_device).unwrap();
        assert_eq!(
            files(&w),
            vec![
                ("memory.low".into(), (32u64 << 20).to_string()),
                ("memory.max".into(), (64u64 << 20).to_string()),
                ("memory.swap.max".into(), (36u64 << 20).to_string()),
            ]
        );
        // --memory alone: as much swap again, skipped where there is none.
        let alone = Limits {
            memory: Some(64 << 20),
            ..Limits::default()
        };
        let w = alone.writes(no_device).unwrap();
        assert_eq!(
            w[1].files[0],
            ("memory.swap.max", (64u64 << 20).to_string())
        );
        assert!(w[1].implied);
        let unlimited = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(Swap::Unlimited),
            ..Limits::default()
        };
        assert_eq!(unlimited.writes(no_device).unwrap()[1].files[0].1, "max");
        // swap below memory, swap without memory, tiny memory: refused.
        for bad in [
            Limits {
                memory: Some(64 << 20),
                memory_swap: Some(Swap::Total(32 << 20)),
                ..Limits::default()
            },
            Limits {
                memory_swap: Some(Swap::Total(32 << 20)),
                ..Limits::default()
            },
            Limits {
                memory: Some(1 << 20),
                ..Limits::default()
            },
            Limits {
                memory: Some(64 << 20),
                memory_reservation: Some(128 << 20),
                ..Limits::default()
            },
        ] {
            assert!(bad.writes(no_device).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cpu_limits_convert_to_quota_and_weight() {
        let l = Limits {
            cpus: Some(1.5),
            cpu_shares: Some(1024),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            ..Limits::default()
        };
        assert_eq!(
            files(&l.writes(no_device).unwrap()),
            vec![
                ("cpu.max".into(), "150000 100000".into()),
                ("cpu.weight".into(), "39".into()),
                ("cpuset.mems".into(), "0".into()),
                ("cpuset.cpus".into(), "0-1".into()),
            ]
        );
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 4950);
        for bad in ["", "a", "3-1", "0,,1", "-1"] {
            let l = Limits {
                cpuset_cpus: Some(bad.into()),
                ..Limits::default()
            };
            assert!(l.validate().is_err(), "{bad:?}");
        }
        let tiny = Limits {
            cpus: Some(0.001),
            ..Limits::default()
        };
        assert!(tiny.validate().is_err());
    }

    #[test]
    fn cpu_period_and_quota_write_one_cpu_max() {
        let cpu_max = |period: Option<u64>, quota: Option<i64>| {
            let l = Limits {
                cpu_period: period,
                cpu_quota: quota,
                ..Limits::default()
            };
            let w = l.writes(no_device).unwrap();
            assert_eq!(w.len(), 1, "{w:?}");
            (w[0].flag, w[0].files[0].0, w[0].files[0].1.clone())
        };
        assert_eq!(
            cpu_max(Some(50_000), Some(25_000)),
            ("--cpu-quota", "cpu.max", "25000 50000".into())
        );
        // The quota alone is over docker's default period.
        assert_eq!(cpu_max(None, Some(150_000)).2, "150000 100000");
        // A period alone, or -1/0: no quota.
        assert_eq!(
            cpu_max(Some(20_000), None),
            ("--cpu-period", "cpu.max", "max 20000".into())
        );
        assert_eq!(cpu_max(Some(20_000), Some(-1)).2, "max 20000");
        assert_eq!(cpu_max(None, Some(0)).2, "max 100000");
        assert_eq!(
            Limits {
                cpu_quota: Some(-1),
                ..Limits::default()
            }
            .controllers(),
            vec![("--cpu-quota", Controller::Cpu)]
        );
        assert_eq!(parse_cpu_quota("-1"), Ok(-1));
        assert_eq!(parse_cpu_quota("50000"), Ok(50_000));
        for bad in ["-2", "1.5", "lots", ""] {
            assert!(parse_cpu_quota(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpu_period_and_quota_keep_dockers_bounds_and_conflicts() {
        let err = |l: Limits| l.validate().unwrap_err().to_string();
        for (period, quota, says) in [
            (
                Some(999),
                None,
                "--cpu-period: must be between 1000 and 1000000",
            ),
            (Some(1_000_001), None, "--cpu-period: must be between"),
            (None, Some(999), "--cpu-quota: the minimum is 1000"),
            (None, Some(-2), "--cpu-quota: the minimum is 1000"),
        ] {
            let e = err(Limits {
                cpu_period: period,
                cpu_quota: quota,
                ..Limits::default()
            });
            assert!(e.starts_with(says), "{e}");
        }
        for ok in [(Some(1000), Some(1000)), (Some(1_000_000), Some(-1))] {
            let l = Limits {
                cpu_period: ok.0,
                cpu_quota: ok.1,
                ..Limits::default()
            };
            assert!(l.validate().is_ok(), "{l:?}");
        }
        assert_eq!(
            err(Limits {
                cpus: Some(1.0),
                cpu_period: Some(50_000),
                ..Limits::default()
            }),
            "Conflicting options: Nano CPUs and CPU Period cannot both be set \
             (--cpus and --cpu-period)"
        );
        assert_eq!(
            err(Limits {
                cpus: Some(1.0),
                cpu_quota: Some(50_000),
                ..Limits::default()
            }),
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set \
             (--cpus and --cpu-quota)"
        );
        // update: one way of saying it replaces none of the other.
        let quota = Limits {
            cpu_quota: Some(50_000),
            ..Limits::default()
        };
        let cpus = Limits {
            cpus: Some(1.0),
            ..Limits::default()
        };
        let e = update_conflict(&quota, &cpus).unwrap_err().to_string();
        assert!(
            e.starts_with("Conflicting options: Nano CPUs cannot be updated as CPU Quota"),
            "{e}"
        );
        let e = update_conflict(&cpus, &quota).unwrap_err().to_string();
        assert!(
            e.starts_with("Conflicting options: CPU Quota cannot be updated as NanoCPUs"),
            "{e}"
        );
        assert!(update_conflict(&quota, &quota).is_ok());
        assert!(update_conflict(&cpus, &cpus).is_ok());
        let mut merged = quota.clone();
        merged.merge(&Limits {
            cpu_period: Some(50_000),
            ..Limits::default()
        });
        assert_eq!(
            (merged.cpu_period, merged.cpu_quota),
            (Some(50_000), Some(50_000))
        );
    }

    #[test]
    fn pids_and_io_limits_write_their_files() {
        let l = Limits {
            pids_limit: Some(Some(200)),
            blkio_weight: Some(500),
            device_read_bps: vec![DeviceRate {
                device: "/dev/vda".into(),
                bytes_per_sec: 1 << 20,
            }],
            device_write_bps: vec![DeviceRate {
                device: "/dev/vda".into(),
                bytes_per_sec: 0,
            }],
            ..Limits::default()
        };
        let w = l.writes(|_| Ok((254, 0))).unwrap();
        assert_eq!(w[0].files[0], ("pids.max", "200".into()));
        assert_eq!(
            w[1].files,
            vec![
                ("io.bfq.weight", "500".into()),
                ("io.weight", "default 4950".into())
            ]
        );
        assert_eq!(w[2].files[0], ("io.max", "254:0 rbps=1048576".into()));
        assert_eq!(w[3].files[0], ("io.max", "254:0 wbps=max".into()));
        let err = l.writes(no_device).unwrap_err();
        assert!(err.to_string().contains("/dev/vda"), "{err}");
        assert!(
            matches!(
                err,
                LimitError::Device {
                    source: DeviceError::NotBlock,
                    ..
                }
            ),
            "{err}"
        );
        let unlimited = Limits {
            pids_limit: Some(None),
            ..Limits::default()
        };
        assert_eq!(unlimited.writes(no_device).unwrap()[0].files[0].1, "max");
    }

    #[test]
    fn iops_and_device_weights_write_io_max_and_io_weight() {
        let l = Limits {
            device_read_iops: vec![parse_device_iops("/dev/vda:1000").unwrap()],
            device_write_iops: vec![parse_device_iops("/dev/vda:0").unwrap()],
            blkio_weight_device: vec![parse_device_weight("/dev/vda:500").unwrap()],
            ..Limits::default()
        };
        let w = l.writes(|_| Ok((254, 0))).unwrap();
        assert_eq!(w[0].files, vec![("io.max", "254:0 riops=1000".into())]);
        assert_eq!(w[1].files, vec![("io.max", "254:0 wiops=max".into())]);
        assert_eq!(
            w[2].files,
            vec![
                ("io.bfq.weight", "254:0 500".into()),
                ("io.weight", "254:0 4950".into())
            ]
        );
        assert!(w.iter().all(|w| w.controller == Controller::Io));
        assert_eq!(
            l.controllers(),
            vec![
                ("--device-read-iops", Controller::Io),
                ("--device-write-iops", Controller::Io),
                ("--blkio-weight-device", Controller::Io)
            ]
        );
        let err = l.writes(no_device).unwrap_err().to_string();
        assert_eq!(err, "--device-read-iops /dev/vda: not a block device");
        for bad in [
            "vda:10",
            "/dev/vda",
            "/dev/vda:ten",
            "/dev/vda:-1",
            "/dev/vda:1.5",
        ] {
            assert_eq!(
                parse_device_iops(bad),
                Err(ValueError::DeviceIops(bad.into())),
                "{bad}"
            );
        }
        for bad in ["/dev/vda:5", "/dev/vda:1001", "vda:100", "/dev/vda:x"] {
            assert_eq!(
                parse_device_weight(bad),
                Err(ValueError::DeviceWeight(bad.into())),
                "{bad}"
            );
        }
        // update: one value per disk, the newest.
        let mut merged = l.clone();
        merged.merge(&Limits {
            device_read_iops: vec![parse_device_iops("/dev/vda:20").unwrap()],
            blkio_weight_device: vec![parse_device_weight("/dev/vdb:10").unwrap()],
            ..Limits::default()
        });
        assert_eq!(merged.device_read_iops.len(), 1);
        assert_eq!(merged.device_read_iops[0].iops, 20);
        assert_eq!(merged.blkio_weight_device.len(), 2);
    }

    #[test]
    fn each_flag_names_its_controller() {
        let l = Limits {
            memory: Some(64 << 20),
            cpuset_cpus: Some("0".into()),
            blkio_weight: Some(100),
            ..Limits::default()
        };
        assert_eq!(
            l.controllers(),
            vec![
                ("--memory", Controller::Memory),
                ("--cpuset-cpus", Controller::Cpuset),
                ("--blkio-weight", Controller::Io)
            ]
        );
        assert!(Limits::default().controllers().is_empty());
        assert!(Limits::default().is_empty());
    }

    #[test]
    fn update_merges_over_what_was_set() {
        let mut l = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(Swap::Unlimited),
            pids_limit: Some(Some(10)),
            device_read_bps: vec![DeviceRate {
                device: "/dev/vda".into(),
                bytes_per_sec: 1,
            }],
            ..Limits::default()
        };
        l.merge(&Limits {
            memory: Some(128 << 20),
            device_read_bps: vec![DeviceRate {
                device: "/dev/vda".into(),
                bytes_per_sec: 2,
            }],
            ..Limits::default()
        });
        assert_eq!(l.memory, Some(128 << 20));
        assert_eq!(l.memory_swap, Some(Swap::Unlimited));
        assert_eq!(l.pids_limit, Some(Some(10)));
        assert_eq!(l.device_read_bps.len(), 1);
        assert_eq!(l.device_read_bps[0].bytes_per_sec, 2);
    }
}
