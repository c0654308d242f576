//! `berth kill`: send a signal to running containers (through their shim).

use crate::container::{self, ContainerRecord, ContainerStore};
use crate::context::Context;
use anyhow::{anyhow, bail};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

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

/// `KILL`, `SIGKILL`, `kill`, `9`, `RTMIN+3`.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal: {s}");
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some((_, n)) = SIGNALS.iter().find(|(k, _)| *k == name) {
        return Ok(*n);
    }
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.trim_start_matches('+')
                .parse()
                .map_err(|_| anyhow!("invalid signal: {s}"))?
        };
        return Ok(libc::SIGRTMIN() + off);
    }
    bail!("invalid signal: {s}")
}

/// Signal the container's init: through the shim, or the runtime when the shim
/// is gone.
pub fn signal_container(ctx: &Context, rec: &ContainerRecord, sig: i32) -> anyhow::Result<()> {
    let st = container::state(ctx, rec)?;
    if !st.running {
        bail!(
            "Cannot kill container: {}: Container {} is not running",
            rec.name,
            rec.id
        );
    }
    if st.shim_alive {
        crate::shim_client::request(
            &rec.shim_dir(ctx),
            &serde_json::json!({"op": "kill", "signal": sig}),
        )?;
    } else {
        super::stop::runtime(ctx, &["kill", &rec.id, &sig.to_string()])?;
    }
    Ok(())
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let sig = parse_signal(&args.signal)?;
    let store = ContainerStore::open(ctx)?;
    Ok(super::for_each_container(&args.containers, |c| {
        let rec = store.resolve(c)?;
        signal_container(ctx, &rec, sig)?;
        Ok(None)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("BOGUS").is_err());
    }
}
