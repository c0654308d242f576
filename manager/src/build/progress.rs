//! Build progress: plain lines (`#3 [2/4] RUN make`, its output as `#3 ...`,
//! `#3 CACHED`, `#3 DONE 0.4s`) for logs and pipes, or BuildKit's tty display
//! through indicatif: a `[+] Building 1.2s (3/5)` header, one line per step
//! updating in place with its elapsed time, and under a running step the last
//! lines of its output.

use super::ProgressMode;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many output lines a running step shows in the tty display (BuildKit's 6).
const TAIL: usize = 6;
/// Output lines are cut to this many characters in the tty display.
const TAIL_WIDTH: usize = 100;

pub struct Progress {
    sink: Sink,
}

enum Sink {
    Quiet,
    Plain {
        out: Mutex<Box<dyn Write + Send>>,
        started: Mutex<HashMap<usize, Instant>>,
    },
    Tty(Tty),
}

struct Tty {
    multi: MultiProgress,
    header: ProgressBar,
    start: Instant,
    steps: Mutex<HashMap<usize, TtyStep>>,
    /// (steps started, steps finished)
    counts: Mutex<(usize, usize)>,
}

struct TtyStep {
    bar: ProgressBar,
    title: String,
    tail: VecDeque<String>,
    /// The output's last line while it has no newline yet.
    partial: String,
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template(" => {prefix} {secs}{msg}")
        .expect("a valid template")
        .with_key("secs", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&secs(s.elapsed()));
        })
}

fn header_style() -> ProgressStyle {
    ProgressStyle::with_template("[+] Building {secs} {msg}")
        .expect("a valid template")
        .with_key("secs", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&secs(s.elapsed()));
        })
}

fn fixed_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").expect("a valid template")
}

impl Progress {
    /// Plain lines into `out` (a sink that shows nothing when `quiet`).
    pub fn new(out: Box<dyn Write + Send>, quiet: bool) -> Progress {
        if quiet {
            return Progress { sink: Sink::Quiet };
        }
        Progress {
            sink: Sink::Plain {
                out: Mutex::new(out),
                started: Mutex::new(HashMap::new()),
            },
        }
    }

    /// Progress on stderr: the tty display for `tty`, and for `auto` when
    /// stderr is a terminal; plain lines otherwise.
    pub fn stderr(mode: ProgressMode, quiet: bool) -> Progress {
        let tty = match mode {
            ProgressMode::Tty => true,
            ProgressMode::Plain => false,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        if quiet || !tty {
            return Progress::new(Box::new(std::io::stderr()), quiet);
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(header_style());
        header.enable_steady_tick(Duration::from_millis(100));
        Progress {
            sink: Sink::Tty(Tty {
                multi,
                header,
                start: Instant::now(),
                steps: Mutex::new(HashMap::new()),
                counts: Mutex::new((0, 0)),
            }),
        }
    }

    /// A line that belongs to no step (warnings, the result).
    pub fn line(&self, s: &str) {
        match &self.sink {
            Sink::Quiet => {}
            Sink::Plain { out, .. } => {
                if let Ok(mut o) = out.lock() {
                    let _ = writeln!(o, "{s}");
                }
            }
            Sink::Tty(t) => {
                let _ = t.multi.println(s);
            }
        }
    }

    /// Step `n` starts: `title` is `[stage 2/4] RUN make`.
    pub fn step(&self, n: usize, title: &str) {
        match &self.sink {
            Sink::Quiet => {}
            Sink::Plain { started, .. } => {
                if let Ok(mut s) = started.lock() {
                    s.insert(n, Instant::now());
                }
                self.line(&format!("#{n} {title}"));
            }
            Sink::Tty(t) => {
                let bar = t.multi.add(ProgressBar::new_spinner());
                bar.set_style(running_style());
                bar.set_prefix(title.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Ok(mut s) = t.steps.lock() {
                    s.insert(
                        n,
                        TtyStep {
                            bar,
                            title: title.to_string(),
                            tail: VecDeque::new(),
                            partial: String::new(),
                        },
                    );
                }
                t.count(1, 0);
            }
        }
    }

    /// Step `n`'s result came from the cache.
    pub fn cached(&self, n: usize) {
        match &self.sink {
            Sink::Quiet => {}
            Sink::Plain { started, .. } => {
                if let Ok(mut s) = started.lock() {
                    s.remove(&n);
                }
                self.line(&format!("#{n} CACHED"));
            }
            Sink::Tty(t) => t.end(n, |title, _| format!(" => CACHED {title}"), false),
        }
    }

    /// Step `n` is done (nothing when it was CACHED).
    pub fn done(&self, n: usize) {
        match &self.sink {
            Sink::Quiet => {}
            Sink::Plain { started, .. } => {
                let t = started.lock().ok().and_then(|mut s| s.remove(&n));
                if let Some(t) = t {
                    self.line(&format!("#{n} DONE {}", secs(t.elapsed())));
                }
            }
            Sink::Tty(t) => t.end(n, |title, d| format!(" => {title} {}", secs(d)), false),
        }
    }

    /// Step `n` failed: the tty display keeps its last output lines.
    pub fn failed(&self, n: usize) {
        match &self.sink {
            Sink::Quiet => {}
            Sink::Plain { started, .. } => {
                let t = started.lock().ok().and_then(|mut s| s.remove(&n));
                if let Some(t) = t {
                    self.line(&format!("#{n} ERROR {}", secs(t.elapsed())));
                }
            }
            Sink::Tty(t) => t.end(n, |title, d| format!(" => ERROR {title} {}", secs(d)), true),
        }
    }

    /// Raw output of step `n` (a RUN).
    pub fn output(&self, n: usize, data: &[u8]) {
        match &self.sink {
            Sink::Quiet => {}
            Sink::Plain { out, .. } => {
                if let Ok(mut o) = out.lock() {
                    for l in String::from_utf8_lossy(data).lines() {
                        let _ = writeln!(o, "#{n} {l}");
                    }
                }
            }
            Sink::Tty(t) => {
                let Ok(mut steps) = t.steps.lock() else {
                    return;
                };
                let Some(s) = steps.get_mut(&n) else {
                    return;
                };
                s.partial.push_str(&String::from_utf8_lossy(data));
                while let Some(i) = s.partial.find('\n') {
                    let line: String = s.partial[..i].trim_end_matches('\r').to_string();
                    s.partial.drain(..=i);
                    s.tail.push_back(line);
                    if s.tail.len() > TAIL {
                        s.tail.pop_front();
                    }
                }
                s.bar.set_message(s.tail_text());
            }
        }
    }

    /// The build is over: the tty display's header shows the total.
    pub fn finish(&self) {
        if let Sink::Tty(t) = &self.sink {
            if t.header.is_finished() {
                return;
            }
            let (started, finished) = t.counts.lock().map(|c| *c).unwrap_or((0, 0));
            t.header.set_style(fixed_style());
            t.header.finish_with_message(format!(
                "[+] Building {} ({finished}/{started}) FINISHED",
                secs(t.start.elapsed())
            ));
            // Steps a failure left running end as they are.
            if let Ok(mut steps) = t.steps.lock() {
                for (_, s) in steps.drain() {
                    s.bar.abandon();
                }
            }
        }
    }
}

impl TtyStep {
    fn tail_text(&self) -> String {
        let mut m = String::new();
        for l in &self.tail {
            let cut: String = l.chars().take(TAIL_WIDTH).collect();
            let _ = write!(m, "\n => => # {cut}");
        }
        m
    }
}

impl Tty {
    fn count(&self, started: usize, finished: usize) {
        if let Ok(mut c) = self.counts.lock() {
            c.0 += started;
            c.1 += finished;
            self.header.set_message(format!("({}/{})", c.1, c.0));
        }
    }

    /// Replace step `n`'s line with its final text (and, with `keep_tail`,
    /// its last output lines).
    fn end(&self, n: usize, text: impl Fn(&str, Duration) -> String, keep_tail: bool) {
        let Some(s) = self.steps.lock().ok().and_then(|mut s| s.remove(&n)) else {
            return;
        };
        let mut msg = text(&s.title, s.bar.elapsed());
        if keep_tail {
            msg.push_str(&s.tail_text());
        }
        s.bar.set_style(fixed_style());
        s.bar.finish_with_message(msg);
        self.count(0, 1);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
