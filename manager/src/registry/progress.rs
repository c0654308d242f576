//! docker-like progress: one bar per layer (indicatif) on a terminal, plain status
//! lines otherwise (logs, pipes, tests).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};

/// Where the progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Out {
    #[default]
    Stdout,
    /// For `berth run`/`create`, whose stdout belongs to the container.
    Stderr,
    Quiet,
}

impl Out {
    fn print(self, line: &str) {
        match self {
            Out::Stdout => {
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "{line}");
                let _ = o.flush();
            }
            Out::Stderr => eprintln!("{line}"),
            Out::Quiet => {}
        }
    }

    fn is_tty(self) -> bool {
        match self {
            Out::Stdout => std::io::stdout().is_terminal(),
            Out::Stderr => std::io::stderr().is_terminal(),
            Out::Quiet => false,
        }
    }
}

pub struct Progress {
    out: Out,
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(out: Out) -> Progress {
        let multi = out.is_tty().then(|| {
            let target = match out {
                Out::Stdout => ProgressDrawTarget::stdout(),
                _ => ProgressDrawTarget::stderr(),
            };
            MultiProgress::with_draw_target(target)
        });
        Progress { out, multi }
    }

    /// The bars are all finished: later lines go below them, as plain lines.
    pub fn done(&mut self) {
        self.multi = None;
    }

    /// A whole line (above the bars while they are drawn).
    pub fn line(&self, s: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(s);
            }
            None => self.out.print(s),
        }
    }

    /// A bar for one blob, shown with `id` (docker's 12-hex short id).
    pub fn bar(&self, id: &str, status: &str) -> Bar {
        let pb = self.multi.as_ref().map(|m| {
            let pb = m.add(ProgressBar::new(0));
            pb.set_style(text_style());
            pb.set_prefix(id.to_string());
            pb.set_message(status.to_string());
            pb
        });
        if pb.is_none() {
            self.out.print(&format!("{id}: {status}"));
        }
        Bar {
            pb,
            id: id.to_string(),
            out: self.out,
        }
    }
}

fn text_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").expect("a valid template")
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix}: {msg} [{bar:40.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec}",
    )
    .expect("a valid template")
    .progress_chars("=> ")
}

#[derive(Clone)]
pub struct Bar {
    pb: Option<ProgressBar>,
    id: String,
    out: Out,
}

impl Bar {
    /// A bar that shows nothing (blobs docker does not list, like the config).
    pub fn hidden() -> Bar {
        Bar {
            pb: None,
            id: String::new(),
            out: Out::Quiet,
        }
    }

    /// Start showing bytes: `total` bytes, `done` of them already there.
    pub fn start_bytes(&self, status: &str, total: u64, done: u64) {
        match &self.pb {
            Some(pb) => {
                pb.set_style(bar_style());
                pb.set_length(total);
                pb.set_position(done);
                pb.set_message(status.to_string());
            }
            None => {
                if done > 0 {
                    self.out
                        .print(&format!("{}: {status} (resuming at byte {done})", self.id));
                }
            }
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(pb) = &self.pb {
            pb.inc(n);
        }
    }

    /// A new status (a line of its own when not on a terminal).
    pub fn status(&self, status: &str) {
        match &self.pb {
            Some(pb) => {
                pb.set_style(text_style());
                pb.set_message(status.to_string());
            }
            None => self.out.print(&format!("{}: {status}", self.id)),
        }
    }

    /// Leave the bar as it is (its status line was already printed).
    pub fn finish_quietly(&self) {
        if let Some(pb) = &self.pb {
            pb.finish();
        }
    }

    /// The final status.
    pub fn finish(&self, status: &str) {
        match &self.pb {
            Some(pb) => {
                pb.set_style(text_style());
                pb.finish_with_message(status.to_string());
            }
            None => self.out.print(&format!("{}: {status}", self.id)),
        }
    }
}

/// A reader that advances a bar.
pub struct CountingReader<'a, R> {
    pub inner: R,
    pub bar: &'a Bar,
}

impl<R: std::io::Read> std::io::Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// docker's short id of a digest: the first 12 hex digits.
pub fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    &hex[..hex.len().min(12)]
}
