use std::os::unix::fs::MetadataExt;
use std::str::FromStr;

use nix::sys::signal::Signal;

use crate::cli::GlobalOpts;
use crate::container::{ContainerState, Status, Store};
use crate::error::{Error, Result, SysContext};
use crate::sys::pidfd::PidFd;
use crate::sys::procfs;

/// `9`, `KILL`, `SIGKILL`, `kill`: numeric or named, with or without SIG.
/// `0` probes, as kill(2) and runc: nothing is sent, but a container that is
/// gone is "not running". Anything else is an "unknown signal" (runc's words).
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (0..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Invalid(format!("unknown signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    if let Some(rt) = name.strip_prefix("SIGRTMIN") {
        let base = libc::SIGRTMIN();
        let off: i32 = if rt.is_empty() {
            0
        } else {
            rt.trim_start_matches('+').parse().unwrap_or(-1)
        };
        if off >= 0 && base + off <= libc::SIGRTMAX() {
            return Ok(base + off);
        }
    }
    Signal::from_str(&name)
        .map(|s| s as i32)
        .map_err(|_| Error::Invalid(format!("unknown signal {s:?}")))
}

pub fn run(g: &GlobalOpts, id: &str, signal: &str, all: bool) -> Result<()> {
    let sig = parse_signal(signal)?;
    log::debug!("kill {id}: signal {sig} (all: {all})");
    let store = Store::new(&g.root);
    let (state, status) = store.read(id)?;
    if status == Status::Stopped {
        return if all { Ok(()) } else { Err(Error::NotRunning) };
    }
    let sent = if all && sig == 0 {
        // A probe of every process is a probe of the container, done above.
        Ok(())
    } else if all {
        signal_all(&state, sig)
    } else {
        signal_init(&state, sig)
    };
    if sent.is_ok() && status == Status::Paused && sig == libc::SIGKILL {
        // A frozen task dies only once thawed (cgroup v1): SIGKILL of a
        // paused container thaws it, as runc does; other signals wait for
        // `resume` (runc 1.2's rule; 1.1 thawed for every `kill --all`).
        if let Some(cg) = &state.cgroup {
            if let Err(e) = cg.thaw() {
                log::warn!("kill {id}: thaw after SIGKILL: {e}");
            }
        }
    }
    sent
}

/// Open a pidfd for the init, checking the start time after opening so a
/// recycled pid is never signalled.
pub fn init_pidfd(state: &ContainerState) -> Result<Option<PidFd>> {
    let fd = match PidFd::open(state.pid) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ESRCH) => return Ok(None),
        Err(e) => return Err(e).ctx(|| format!("pidfd_open {}", state.pid)),
    };
    Ok(state.init_alive().then_some(fd))
}

fn signal_init(state: &ContainerState, sig: i32) -> Result<()> {
    match init_pidfd(state)? {
        Some(fd) => match fd.signal(sig) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::ESRCH) => Err(Error::NotRunning),
            Err(e) => Err(e).ctx(|| format!("signal {sig} to pid {}", state.pid)),
        },
        None => Err(Error::NotRunning),
    }
}

/// Every process of the container: those sharing its pid namespace (or,
/// when it has none of its own, its mount namespace).
fn signal_all(state: &ContainerState, sig: i32) -> Result<()> {
    if let Some(cg) = &state.cgroup {
        for pid in cg.pids()? {
            if let Ok(fd) = PidFd::open(pid) {
                let _ = fd.signal(sig);
            }
        }
        return Ok(());
    }
    let ns = if state.own_pid_ns { "pid" } else { "mnt" };
    let ino = match std::fs::metadata(format!("/proc/{}/ns/{ns}", state.pid)) {
        Ok(m) => m.ino(),
        Err(_) => return Ok(()),
    };
    let host = std::fs::metadata(format!("/proc/self/ns/{ns}"))
        .map(|m| m.ino())
        .ok();
    if host == Some(ino) {
        // Sharing the host's namespace: only the init is known to be ours.
        return signal_init(state, sig).or_else(|e| match e {
            Error::NotRunning => Ok(()),
            e => Err(e),
        });
    }
    for pid in members(ns, ino) {
        if let Ok(fd) = PidFd::open(pid) {
            let _ = fd.signal(sig);
        }
    }
    Ok(())
}

pub fn members(ns: &str, ino: u64) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/{ns}"))
                .map(|m| m.ino() == ino)
                .unwrap_or(false)
        })
        .filter(|pid| procfs::stat(*pid).is_some_and(|s| !s.is_dead()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("SIGRTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert!(parse_signal("-1").is_err());
        assert!(parse_signal("65").is_err());
    }
}
