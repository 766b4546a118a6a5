//! Health checks: the image's HEALTHCHECK with `--health-*` over it, the
//! state docker shows (`starting`, `healthy`, `unhealthy`, the failing
//! streak, the last five results), and one probe: `burrow exec` of the
//! check's command, run by the container's supervisor on schedule. The
//! judging is pure; the supervisor owns the clock and the processes.

use crate::time::now_ns;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// docker's defaults: every 30 s, 30 s to answer, 3 failures in a row.
const DEFAULT_INTERVAL_NS: u64 = 30_000_000_000;
const DEFAULT_TIMEOUT_NS: u64 = 30_000_000_000;
const DEFAULT_RETRIES: u32 = 3;
/// docker's time between checks in the start period: 5 s.
const DEFAULT_START_INTERVAL_NS: u64 = 5_000_000_000;
/// docker keeps this many results, and this much of each one's output.
const KEPT_RESULTS: usize = 5;
const KEPT_OUTPUT: usize = 4096;

/// What the supervisor does when the container turns unhealthy
/// (`--health-on-failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    None,
    Kill,
    Restart,
    Stop,
}

impl std::str::FromStr for OnFailure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(OnFailure::None),
            "kill" => Ok(OnFailure::Kill),
            "restart" => Ok(OnFailure::Restart),
            "stop" => Ok(OnFailure::Stop),
            _ => Err(format!(
                "invalid --health-on-failure {s:?}: none, kill, restart or stop"
            )),
        }
    }
}

/// `--health-*` as given on the command line (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthFlags {
    pub cmd: Option<String>,
    pub interval_ns: Option<u64>,
    pub timeout_ns: Option<u64>,
    pub start_period_ns: Option<u64>,
    #[serde(default)]
    pub start_interval_ns: Option<u64>,
    pub retries: Option<u32>,
    pub disabled: bool,
    pub on_failure: OnFailure,
}

/// The check a container runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// The command, ready for exec (`CMD-SHELL` as `/bin/sh -c LINE`).
    pub argv: Vec<String>,
    pub interval_ns: u64,
    pub timeout_ns: u64,
    pub start_period_ns: u64,
    /// Time between checks during the start period, while the container
    /// is still `starting` (docker's `StartInterval`; a plan written
    /// before it was kept has none, and gets docker's default).
    #[serde(default = "default_start_interval")]
    pub start_interval_ns: u64,
    pub retries: u32,
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn default_start_interval() -> u64 {
    DEFAULT_START_INTERVAL_NS
}

impl HealthCheck {
    /// The image's `Healthcheck` (docker's JSON: `Test`, nanoseconds,
    /// `Retries`) with the flags over it; `None` when there is no check
    /// (none given, `NONE`, or `--no-healthcheck`).
    pub fn resolve(image: Option<&serde_json::Value>, flags: &HealthFlags) -> Option<HealthCheck> {
        if flags.disabled {
            return None;
        }
        let image = image.filter(|v| v.is_object());
        let num = |k: &str| {
            image
                .and_then(|i| i.get(k))
                .and_then(|v| v.as_u64())
                .filter(|n| *n > 0)
        };
        let argv = match &flags.cmd {
            Some(line) => shell(line),
            None => {
                let test: Vec<String> = image
                    .and_then(|i| i.get("Test"))
                    .and_then(|t| t.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                match test.split_first() {
                    Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
                    Some((kind, [line])) if kind == "CMD-SHELL" => shell(line),
                    _ => return None,
                }
            }
        };
        Some(HealthCheck {
            argv,
            interval_ns: flags
                .interval_ns
                .filter(|n| *n > 0)
                .or(num("Interval"))
                .unwrap_or(DEFAULT_INTERVAL_NS),
            timeout_ns: flags
                .timeout_ns
                .filter(|n| *n > 0)
                .or(num("Timeout"))
                .unwrap_or(DEFAULT_TIMEOUT_NS),
            start_period_ns: flags.start_period_ns.or(num("StartPeriod")).unwrap_or(0),
            start_interval_ns: flags
                .start_interval_ns
                .filter(|n| *n > 0)
                .or(num("StartInterval"))
                .unwrap_or(DEFAULT_START_INTERVAL_NS),
            retries: flags
                .retries
                .filter(|n| *n > 0)
                .or(num("Retries").map(|n| n.min(u64::from(u32::MAX)) as u32))
                .unwrap_or(DEFAULT_RETRIES),
            on_failure: flags.on_failure,
        })
    }

    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns)
    }

    /// The time to the next check, `since_start` after the container
    /// started: the start interval while it is inside its start period and
    /// still `starting`, the interval otherwise, as docker schedules them.
    pub fn next_gap(&self, since_start: Duration, starting: bool) -> Duration {
        if starting && since_start < Duration::from_nanos(self.start_period_ns) {
            Duration::from_nanos(self.start_interval_ns)
        } else {
            self.interval()
        }
    }

    /// docker's `Config.Healthcheck` for `inspect`.
    pub fn docker_json(&self) -> serde_json::Value {
        serde_json::json!({
            "Test": std::iter::once("CMD".to_string()).chain(self.argv.iter().cloned()).collect::<Vec<_>>(),
            "Interval": self.interval_ns,
            "Timeout": self.timeout_ns,
            "StartPeriod": self.start_period_ns,
            "StartInterval": self.start_interval_ns,
            "Retries": self.retries,
        })
    }
}

fn shell(line: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), line.into()]
}

/// `State.Health` as docker shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

/// One run of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    /// The command's status; -1 when it timed out or could not be run.
    pub exit_code: i32,
    pub output: String,
}

impl Health {
    /// Takes one result in, as docker judges it: a success is healthy; a
    /// failure within the start period does not count; `retries` failures
    /// in a row are unhealthy. Returns the new status when it changed.
    pub fn record(
        &mut self,
        result: HealthResult,
        in_start_period: bool,
        retries: u32,
    ) -> Option<HealthStatus> {
        let before = self.status;
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !in_start_period {
            self.failing_streak += 1;
            if self.failing_streak >= retries.max(1) {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(result);
        let extra = self.log.len().saturating_sub(KEPT_RESULTS);
        self.log.drain(..extra);
        (self.status != before).then_some(self.status)
    }
}

/// One check under way: `burrow exec` of its command, its output (both
/// streams) on one pipe.
pub struct Probe {
    child: Child,
    output: std::fs::File,
    kept: Vec<u8>,
    started_at: String,
    deadline: Instant,
}

impl Probe {
    /// Starts `exe exec ID ARGV...`; `exe` is burrow itself.
    pub fn start(exe: &std::path::Path, id: &str, check: &HealthCheck) -> std::io::Result<Probe> {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let _ = rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::NONBLOCK);
        let w2 = w.try_clone()?;
        let child = Command::new(exe)
            .arg("exec")
            .arg(id)
            .args(&check.argv)
            .stdin(Stdio::null())
            .stdout(Stdio::from(w))
            .stderr(Stdio::from(w2))
            .spawn()?;
        Ok(Probe {
            child,
            output: std::fs::File::from(r),
            kept: Vec::new(),
            started_at: crate::time::rfc3339_nanos(now_ns()),
            deadline: Instant::now() + check.timeout(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.output.as_fd()
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Reads what the pipe has (keeping the first 4096 bytes).
    pub fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.output.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = KEPT_OUTPUT.saturating_sub(self.kept.len());
            self.kept.extend_from_slice(&buf[..n.min(room)]);
        }
    }

    /// The result once the command exited, or timed out (then killed);
    /// `None` while it runs.
    pub fn poll(&mut self) -> Option<HealthResult> {
        self.drain();
        let code = match self.child.try_wait() {
            Ok(Some(status)) => status.code().unwrap_or(-1),
            Ok(None) if Instant::now() < self.deadline => return None,
            Ok(None) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.kept = format!(
                    "Health check exceeded timeout ({:?})",
                    self.deadline.saturating_duration_since(Instant::now())
                )
                .into_bytes();
                -1
            }
            Err(e) => {
                self.kept = format!("running the health check: {e}").into_bytes();
                -1
            }
        };
        Some(HealthResult {
            start: self.started_at.clone(),
            end: crate::time::rfc3339_nanos(now_ns()),
            exit_code: code,
            output: String::from_utf8_lossy(&self.kept).into_owned(),
        })
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(code: i32) -> HealthResult {
        HealthResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn flags_override_the_image_and_none_disables() {
        let image = json!({"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5_000_000_000u64, "Retries": 2});
        let c = HealthCheck::resolve(Some(&image), &HealthFlags::default()).unwrap();
        assert_eq!(c.argv, ["/bin/sh", "-c", "curl -f localhost"]);
        assert_eq!(
            (c.interval_ns, c.timeout_ns, c.retries),
            (5_000_000_000, DEFAULT_TIMEOUT_NS, 2)
        );
        let flags = HealthFlags {
            cmd: Some("true".into()),
            retries: Some(7),
            ..Default::default()
        };
        let c = HealthCheck::resolve(Some(&image), &flags).unwrap();
        assert_eq!(
            (c.argv.last().unwrap().as_str(), c.retries, c.interval_ns),
            ("true", 7, 5_000_000_000)
        );
        let exec = json!({"Test": ["CMD", "/bin/check", "-q"]});
        assert_eq!(
            HealthCheck::resolve(Some(&exec), &HealthFlags::default())
                .unwrap()
                .argv,
            ["/bin/check", "-q"]
        );
        assert!(
            HealthCheck::resolve(Some(&json!({"Test": ["NONE"]})), &HealthFlags::default())
                .is_none()
        );
        let off = HealthFlags {
            disabled: true,
            ..Default::default()
        };
        assert!(HealthCheck::resolve(Some(&image), &off).is_none());
        assert!(HealthCheck::resolve(None, &HealthFlags::default()).is_none());
    }

    #[test]
    fn the_start_interval_paces_checks_only_while_starting_in_the_start_period() {
        let image = json!({"Test": ["CMD", "true"], "Interval": 30_000_000_000u64,
                           "StartPeriod": 60_000_000_000u64, "StartInterval": 2_000_000_000u64});
        let c = HealthCheck::resolve(Some(&image), &HealthFlags::default()).unwrap();
        let s = Duration::from_secs;
        assert_eq!(c.next_gap(s(0), true), s(2));
        assert_eq!(c.next_gap(s(59), true), s(2));
        // Healthy already, or past the start period: the interval.
        assert_eq!(c.next_gap(s(10), false), s(30));
        assert_eq!(c.next_gap(s(60), true), s(30));
        // The flag over the image; docker's 5 s when neither gives one.
        let flags = HealthFlags {
            start_interval_ns: Some(1_000_000_000),
            ..Default::default()
        };
        let c = HealthCheck::resolve(Some(&image), &flags).unwrap();
        assert_eq!(c.next_gap(s(0), true), s(1));
        let plain = json!({"Test": ["CMD", "true"], "StartPeriod": 60_000_000_000u64});
        let c = HealthCheck::resolve(Some(&plain), &HealthFlags::default()).unwrap();
        assert_eq!(c.next_gap(s(0), true), s(5));
        // Without a start period there is none to pace.
        let none = json!({"Test": ["CMD", "true"]});
        let c = HealthCheck::resolve(Some(&none), &HealthFlags::default()).unwrap();
        assert_eq!(c.next_gap(s(0), true), s(30));
        // A plan kept before the start interval was: docker's default.
        let mut kept = serde_json::to_value(&c).unwrap();
        kept.as_object_mut().unwrap().remove("start_interval_ns");
        let kept: HealthCheck = serde_json::from_value(kept).unwrap();
        assert_eq!(kept.start_interval_ns, DEFAULT_START_INTERVAL_NS);
    }

    #[test]
    fn retries_failures_in_a_row_turn_unhealthy_and_the_start_period_forgives() {
        let mut h = Health::default();
        assert_eq!(h.record(result(1), true, 2), None);
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.record(result(1), false, 2), None);
        assert_eq!(h.record(result(1), false, 2), Some(HealthStatus::Unhealthy));
        assert_eq!(h.failing_streak, 2);
        assert_eq!(h.record(result(0), false, 2), Some(HealthStatus::Healthy));
        assert_eq!(h.failing_streak, 0);
        for _ in 0..10 {
            h.record(result(0), false, 2);
        }
        assert_eq!(h.log.len(), KEPT_RESULTS);
    }
}
