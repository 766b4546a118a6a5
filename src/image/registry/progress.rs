//! Transfer progress on stderr: on a terminal a line per blob with bytes,
//! total and rate, redrawn in place; elsewhere one line when a blob starts
//! and one when it ends; nothing when quiet. Counting is lock-free so the
//! transfer threads never wait on the screen.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProgressMode {
    /// stderr is a terminal: redraw in place.
    Terminal,
    /// Plain lines (a log, a pipe).
    Lines,
    Quiet,
}

impl ProgressMode {
    /// `Terminal` when stderr is one, else `Lines`; `Quiet` when asked.
    pub fn detect(quiet: bool) -> ProgressMode {
        use std::io::IsTerminal;
        if quiet {
            ProgressMode::Quiet
        } else if io::stderr().is_terminal() {
            ProgressMode::Terminal
        } else {
            ProgressMode::Lines
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Waiting,
    Running(Instant),
    Done(String),
}

struct Bar {
    label: String,
    total: u64,
    state: State,
}

pub struct Progress {
    mode: ProgressMode,
    counts: Vec<AtomicU64>,
    bars: Mutex<Vec<Bar>>,
    /// Lines of the block currently on screen (terminal mode).
    drawn: Mutex<usize>,
}

impl Progress {
    /// One bar per `(label, total bytes)`.
    pub fn new(mode: ProgressMode, bars: Vec<(String, u64)>) -> Progress {
        Progress {
            mode,
            counts: bars.iter().map(|_| AtomicU64::new(0)).collect(),
            bars: Mutex::new(
                bars.into_iter()
                    .map(|(label, total)| Bar {
                        label,
                        total,
                        state: State::Waiting,
                    })
                    .collect(),
            ),
            drawn: Mutex::new(0),
        }
    }

    /// A line outside the bars ("Trying to pull ...").
    pub fn message(mode: ProgressMode, text: &str) {
        if mode != ProgressMode::Quiet {
            let _ = writeln!(io::stderr().lock(), "{text}");
        }
    }

    pub fn start(&self, i: usize) {
        self.counts[i].store(0, Ordering::Relaxed);
        let label = {
            let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
            bars[i].state = State::Running(Instant::now());
            bars[i].label.clone()
        };
        if self.mode == ProgressMode::Lines {
            let _ = writeln!(io::stderr().lock(), "{label}");
        }
    }

    pub fn advance(&self, i: usize, n: u64) {
        self.counts[i].fetch_add(n, Ordering::Relaxed);
    }

    /// Ends bar `i` with a word: "done", "skipped: already exists".
    pub fn finish(&self, i: usize, word: &str) {
        let label = {
            let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
            bars[i].state = State::Done(word.to_string());
            bars[i].label.clone()
        };
        if self.mode == ProgressMode::Lines {
            let _ = writeln!(io::stderr().lock(), "{label} {word}");
        }
    }

    /// Redraws the block of bars (terminal mode only).
    pub fn draw(&self) {
        if self.mode != ProgressMode::Terminal {
            return;
        }
        let width = terminal_width().saturating_sub(1).max(20);
        let lines: Vec<String> = {
            let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
            bars.iter()
                .enumerate()
                .map(|(i, b)| {
                    let line = render(b, self.counts[i].load(Ordering::Relaxed), width);
                    line.chars().take(width).collect()
                })
                .collect()
        };
        let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        if *drawn > 0 {
            out.push_str(&format!("\x1b[{}A", *drawn));
        }
        for l in &lines {
            out.push_str("\r\x1b[2K");
            out.push_str(l);
            out.push('\n');
        }
        *drawn = lines.len();
        let _ = io::stderr().lock().write_all(out.as_bytes());
    }
}

fn render(bar: &Bar, done: u64, width: usize) -> String {
    match &bar.state {
        State::Waiting => format!("{} waiting", bar.label),
        State::Done(word) => format!("{} {word}", bar.label),
        State::Running(since) => {
            let secs = since.elapsed().as_secs_f64().max(0.001);
            let rate = done as f64 / secs;
            let stats = format!(
                "{} / {} | {}/s",
                bytes(done),
                bytes(bar.total),
                bytes(rate as u64)
            );
            // The gauge gets what the label and the numbers leave.
            let cells = width
                .saturating_sub(bar.label.chars().count() + stats.chars().count() + 4)
                .min(30);
            if cells < 6 {
                return format!("{} {stats}", bar.label);
            }
            let filled = if bar.total > 0 {
                ((done.min(bar.total) as f64 / bar.total as f64) * cells as f64) as usize
            } else {
                0
            };
            let mut gauge = "=".repeat(filled);
            if filled < cells {
                gauge.push('>');
                gauge.push_str(&"-".repeat(cells - filled - 1));
            }
            format!("{} [{gauge}] {stats}", bar.label)
        }
    }
}

/// Binary units as transfer tools print them.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

fn terminal_width() -> usize {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we own; the
    // fd is stderr, which stays open for the whole call.
    let r = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if r == 0 && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        80
    }
}

/// A reader that counts its bytes into bar `index`.
pub struct Counted<'a, R> {
    pub inner: R,
    pub progress: &'a Progress,
    pub index: usize,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(self.index, n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_show_bytes_total_and_rate() {
        let bar = Bar {
            label: "Copying blob abc".into(),
            total: 10 << 20,
            state: State::Running(Instant::now()),
        };
        let line = render(&bar, 5 << 20, 200);
        assert!(
            line.starts_with("Copying blob abc [===============>"),
            "{line}"
        );
        let narrow = render(&bar, 5 << 20, 50);
        assert!(
            narrow.chars().count() <= 50 && narrow.ends_with("/s"),
            "{narrow}"
        );
        assert!(
            line.contains("5.0 MiB / 10.0 MiB") && line.ends_with("/s"),
            "{line}"
        );
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
