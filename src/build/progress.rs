//! What a build shows while it runs: one line per step with its time or
//! `CACHED`; on a terminal, each running step's header and its last lines
//! of output redrawn in place below the finished lines. Stages run in
//! forked children that send their steps here as `Event`s; this side only
//! draws, and never starts a thread.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

/// `--progress`: how steps are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// tty on a terminal, else plain.
    #[default]
    Auto,
    /// Lines only: each finished step, then its output.
    Plain,
    /// Finished steps as lines, the running ones redrawn in place.
    Tty,
}

/// How many lines of a running step's output a terminal shows.
const TAIL_LINES: usize = 6;
/// How often a terminal's running steps are redrawn.
pub const TICK: Duration = Duration::from_millis(150);

/// One thing a stage said about its steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    /// A step began: `[stage n/total] INSTRUCTION`.
    Begin { stage: usize, header: String },
    /// The running step's output goes to the file sent with this event.
    Output { stage: usize },
    /// The step ended: the line to keep, and its output (plain shows it).
    End {
        stage: usize,
        line: String,
        output: String,
    },
    /// A line to keep that belongs to no step (a warning).
    Note(String),
}

struct Running {
    header: String,
    since: Instant,
    output: Option<File>,
}

/// Draws events on stderr.
pub struct Screen {
    tty: bool,
    quiet: bool,
    running: BTreeMap<usize, Running>,
    /// Lines of the running block now on the screen, to be erased.
    drawn: usize,
}

impl Screen {
    pub fn new(mode: ProgressMode, quiet: bool) -> Screen {
        use std::io::IsTerminal;
        let tty = match mode {
            ProgressMode::Tty => true,
            ProgressMode::Plain => false,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        Screen {
            tty,
            quiet,
            running: BTreeMap::new(),
            drawn: 0,
        }
    }

    /// Whether the screen wants `tick` called while steps run.
    pub fn redraws(&self) -> bool {
        self.tty && !self.quiet && !self.running.is_empty()
    }

    pub fn event(&mut self, ev: Event, fd: Option<rustix::fd::OwnedFd>) {
        if self.quiet {
            return;
        }
        let mut keep = Vec::new();
        match ev {
            Event::Begin { stage, header } => {
                self.running.insert(
                    stage,
                    Running {
                        header,
                        since: Instant::now(),
                        output: None,
                    },
                );
            }
            Event::Output { stage } => {
                if let (Some(r), Some(fd)) = (self.running.get_mut(&stage), fd) {
                    r.output = Some(File::from(fd));
                }
            }
            Event::End {
                stage,
                line,
                output,
            } => {
                self.running.remove(&stage);
                keep.push(line);
                // A terminal showed the output while it ran; plain shows
                // it once the step is done, so a log keeps it whole.
                if !self.tty {
                    keep.extend(output.lines().map(|l| format!("  | {l}")));
                }
            }
            Event::Note(n) => keep.push(n),
        }
        self.draw(&keep);
    }

    /// A stage that ended without its step's end (it failed).
    pub fn forget(&mut self, stage: usize) {
        self.running.remove(&stage);
    }

    /// Redraws the running steps (their time and output so far).
    pub fn tick(&mut self) {
        if self.redraws() {
            self.draw(&[]);
        }
    }

    /// Prints `keep` above the running block, then the block itself
    /// (on a terminal).
    fn draw(&mut self, keep: &[String]) {
        let mut out = String::new();
        if self.tty && self.drawn > 0 {
            // Up to the block's first line, then clear to the screen's end.
            out.push_str(&format!("\x1b[{}A\r\x1b[J", self.drawn));
            self.drawn = 0;
        }
        for l in keep {
            out.push_str(l);
            out.push('\n');
        }
        if self.tty {
            let width = terminal_width();
            for r in self.running.values() {
                let head = format!("{} {:.1}s", r.header, r.since.elapsed().as_secs_f64());
                out.push_str(&cut(&head, width));
                out.push('\n');
                self.drawn += 1;
                if let Some(f) = &r.output {
                    for l in last_lines(f, TAIL_LINES) {
                        // Dim, as a terminal shows what is still moving.
                        out.push_str("\x1b[2m");
                        out.push_str(&cut(&format!("  | {l}"), width));
                        out.push_str("\x1b[0m\n");
                        self.drawn += 1;
                    }
                }
            }
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

fn terminal_width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stderr())
        .map(|w| usize::from(w.ws_col))
        .ok()
        .filter(|w| *w > 10)
        .unwrap_or(80)
}

/// `s` cut to `width` columns (characters; control bytes dropped so a
/// step's output cannot move the cursor of the block).
fn cut(s: &str, width: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .map(|c| if c == '\t' { ' ' } else { c })
        .take(width.saturating_sub(1))
        .collect()
}

/// The last `n` lines of `f` (of its last 16 KiB; a line cut by a
/// carriage return shows what followed it, as a terminal would).
fn last_lines(f: &File, n: usize) -> Vec<String> {
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(16 * 1024);
    let mut buf = vec![0u8; (len - from) as usize];
    let Ok(got) = f.read_at(&mut buf, from) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&buf[..got]);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.rsplit('\r').next().unwrap_or("").to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_steps_output_shows_its_last_lines_without_control_bytes() {
        let mut f = tempfile::tempfile().unwrap();
        for i in 0..20 {
            writeln!(f, "line {i}").unwrap();
        }
        write!(f, "10%\r50%\r100% \x1b[31mdone\x1b[0m\n").unwrap();
        let got = last_lines(&f, 3);
        assert_eq!(got[0], "line 18");
        assert_eq!(got[1], "line 19");
        assert_eq!(cut(&got[2], 80), "100% [31mdone[0m");
        assert_eq!(cut("abcdef", 4), "abc");
    }
}
