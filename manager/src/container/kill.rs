//! `kill`: a signal to the container's init, through its shim (or the runtime
//! when the shim is gone). Signal names and numbers are parsed here.

use super::error::LifecycleError;
use super::lock::Locked;
use super::{runtime, state};
use crate::context::Context;
use crate::shim_client::{self, Ack, Request};

/// A signal number (1..=64; real-time signals included, which nix's enum
/// lacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal(i32);

const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

impl Signal {
    pub const KILL: Signal = Signal(libc::SIGKILL);
    pub const TERM: Signal = Signal(libc::SIGTERM);

    /// `KILL`, `SIGKILL`, `kill`, `9`, `RTMIN+3`.
    pub fn parse(s: &str) -> Result<Signal, LifecycleError> {
        let bad = || LifecycleError::Invalid(format!("invalid signal: {s}"));
        if let Ok(n) = s.parse::<i32>() {
            return if (1..=64).contains(&n) {
                Ok(Signal(n))
            } else {
                Err(bad())
            };
        }
        let up = s.to_ascii_uppercase();
        let name = up.strip_prefix("SIG").unwrap_or(&up);
        if let Some((_, n)) = SIGNALS.iter().find(|(k, _)| *k == name) {
            return Ok(Signal(*n));
        }
        if let Some(rest) = name.strip_prefix("RTMIN") {
            let off: i32 = if rest.is_empty() {
                0
            } else {
                rest.trim_start_matches('+').parse().map_err(|_| bad())?
            };
            let n = libc::SIGRTMIN() + off;
            return if (1..=64).contains(&n) {
                Ok(Signal(n))
            } else {
                Err(bad())
            };
        }
        Err(bad())
    }

    pub fn number(self) -> i32 {
        self.0
    }
}

impl std::str::FromStr for Signal {
    type Err = LifecycleError;
    fn from_str(s: &str) -> Result<Signal, LifecycleError> {
        Signal::parse(s)
    }
}

/// Signal the container's init. Lock: the container's (so a kill cannot race
/// a start or a removal).
pub fn kill(ctx: &Context, c: &Locked, signal: Signal) -> Result<(), LifecycleError> {
    let st = state::state(ctx, c);
    if !st.running {
        return Err(LifecycleError::NotRunning(format!(
            "Cannot kill container: {}: Container {} is not running",
            c.name, c.id
        )));
    }
    if st.shim_alive {
        shim_client::request::<Ack>(
            &c.shim_dir(ctx),
            &Request::Kill {
                signal: signal.number(),
                all: false,
            },
        )?;
    } else {
        runtime::run(ctx, &["kill", &c.id, &signal.number().to_string()])?;
    }
    crate::events::container(ctx, c, "kill", &[("signal", signal.number().to_string())]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(Signal::parse("KILL").unwrap().number(), 9);
        assert_eq!(Signal::parse("sigterm").unwrap().number(), 15);
        assert_eq!(Signal::parse("10").unwrap().number(), 10);
        assert_eq!(
            Signal::parse("RTMIN+1").unwrap().number(),
            libc::SIGRTMIN() + 1
        );
        assert!(Signal::parse("BOGUS").is_err());
        assert!(Signal::parse("65").is_err());
    }
}
