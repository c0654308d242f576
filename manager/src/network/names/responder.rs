//! Starting, finding and stopping a network's DNS responder (`dns.rs`).
//! `<state>/dns/<network id>.json` names the process (pid and start time:
//! pids are reused), its address and upstreams. It is started by the berth
//! command that attaches a container to a user network when none runs (also
//! after a kill -9: the next start repairs). It exits by itself once its
//! network has been empty for a moment (so a killed berth leaks nothing, and
//! a `run --rm` right after another reuses it); `network rm`/`prune` stop it
//! at once.

use crate::context::Context;
use crate::network::model::Network;
use crate::network::NetworkError;
use crate::sys::process;
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// docker's fallback when the host has no resolver at all.
const FALLBACK_DNS: &[&str] = &["8.8.8.8", "8.8.4.4"];

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct State {
    pub pid: i32,
    pub start: u64,
    pub address: String,
    pub upstreams: Vec<String>,
}

pub fn state_path(ctx: &Context, net_id: &str) -> PathBuf {
    ctx.state.join("dns").join(format!("{net_id}.json"))
}

/// The network's responder, when one runs.
pub fn running(ctx: &Context, net_id: &str) -> Option<State> {
    let s: State = serde_json::from_slice(&std::fs::read(state_path(ctx, net_id)).ok()?).ok()?;
    (process::start_time(s.pid) == Some(s.start) && process::pid_running(s.pid)).then_some(s)
}

/// Where other names go: the config file's `dns` (dockerd's key), else the
/// host's resolvers as they are (the responder runs on the host, so a
/// loopback resolver such as systemd-resolved's 127.0.0.53 works from it).
pub fn upstreams(ctx: &Context) -> Vec<String> {
    if !ctx.settings.dns.is_empty() {
        return ctx.settings.dns.clone();
    }
    let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out: Vec<String> = conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next().map(str::to_string))?
        })
        .collect();
    if out.is_empty() {
        out = FALLBACK_DNS.iter().map(|s| s.to_string()).collect();
    }
    out
}

/// Whether a network gets a responder: user bridge networks (the default
/// bridge has no names but links, as in docker).
pub fn wanted(n: &Network) -> bool {
    n.driver == "bridge" && !n.is_predefined()
}

/// Make sure the network's responder runs with today's upstreams (the
/// caller holds the network lock and the network has an endpoint).
pub fn ensure(ctx: &Context, n: &Network) -> Result<(), NetworkError> {
    match start(ctx, n)? {
        Some(s) => s.ready(),
        None => Ok(()),
    }
}

/// `ensure`'s first half: start the network's responder when none runs (or
/// one with other upstreams), without waiting for it, so that it starts and
/// binds while the caller wires the container; `Starting::ready` is the
/// second half. None: the right one runs already, or none is wanted.
pub fn start(ctx: &Context, n: &Network) -> Result<Option<Starting>, NetworkError> {
    if !wanted(n) {
        return Ok(None);
    }
    let Some((_, gw, _)) = n.subnet4() else {
        return Ok(None);
    };
    let ups = upstreams(ctx);
    if let Some(s) = running(ctx, &n.id) {
        if s.address == gw.to_string() && s.upstreams == ups {
            return Ok(None);
        }
    }
    stop(ctx, &n.id);
    spawn(ctx, n, &ups).map(Some)
}

/// A responder started and not yet known to be ready.
pub struct Starting {
    /// The spawn itself runs in a thread: posix_spawn returns only once the
    /// child has exec'd, milliseconds on a loaded host, which the caller
    /// spends wiring the container instead.
    child: std::thread::JoinHandle<std::io::Result<Child>>,
    log_path: PathBuf,
    network: String,
}

fn spawn(ctx: &Context, n: &Network, ups: &[String]) -> Result<Starting, NetworkError> {
    let dir = ctx.state.join("dns");
    std::fs::create_dir_all(&dir).map_err(crate::store::IoFailure::at("create", &dir))?;
    let log_path = dir.join(format!("{}.log", n.id));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(crate::store::IoFailure::at("open", &log_path))?;
    let mut cmd = Command::new(ctx.self_exe());
    cmd.arg("--root")
        .arg(&ctx.root)
        .arg("--state")
        .arg(&ctx.state)
        .args(["internal", "dns", &n.id]);
    for u in ups {
        cmd.args(["--upstream", u]);
    }
    // Its own process group: a Ctrl-C meant for a foreground `berth run`
    // must not reach it. stdout is only the readiness line; stderr its log.
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .process_group(0);
    let child = std::thread::spawn(move || cmd.spawn());
    Ok(Starting {
        child,
        log_path,
        network: n.name.clone(),
    })
}

impl Starting {
    /// Wait for the responder's "ready" line (its sockets are bound); a
    /// responder that failed is reaped and its reason returned.
    pub fn ready(self) -> Result<(), NetworkError> {
        let spawned = self
            .child
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the spawning thread panicked")));
        let mut child = spawned.map_err(|e| {
            NetworkError::Dns(format!(
                "starting the DNS responder of {}: {e}",
                self.network
            ))
        })?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        if line.trim() == "ready" {
            return Ok(());
        }
        let _ = child.kill();
        let _ = child.wait();
        let why = line.trim().trim_start_matches("error: ").to_string();
        Err(NetworkError::Dns(format!(
            "the DNS responder of network {} did not start: {}",
            self.network,
            if why.is_empty() {
                format!("see {}", self.log_path.display())
            } else {
                why
            }
        )))
    }
}

/// Stop the network's responder (if it runs) and forget it.
pub fn stop(ctx: &Context, net_id: &str) {
    if let Some(s) = running(ctx, net_id) {
        let _ = process::kill(s.pid, libc::SIGTERM);
        let until = Instant::now() + Duration::from_secs(1);
        while process::pid_running(s.pid) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        if process::pid_running(s.pid) && process::start_time(s.pid) == Some(s.start) {
            let _ = process::kill(s.pid, libc::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(state_path(ctx, net_id));
}

/// Record ourselves as the network's responder (the responder, once bound).
pub fn record_self(
    ctx: &Context,
    net_id: &str,
    address: &str,
    ups: &[String],
) -> Result<(), NetworkError> {
    let pid = std::process::id() as i32;
    let s = State {
        pid,
        start: process::start_time(pid).unwrap_or(0),
        address: address.to_string(),
        upstreams: ups.to_vec(),
    };
    let p = state_path(ctx, net_id);
    let data = serde_json::to_vec(&s).map_err(|e| NetworkError::Corrupt {
        path: p.clone(),
        why: e.to_string(),
    })?;
    Ok(crate::store::replace_file(&p, &data, false)?)
}

/// Forget ourselves, unless another responder replaced us meanwhile.
pub fn forget_self(ctx: &Context, net_id: &str) {
    let p = state_path(ctx, net_id);
    let mine = std::fs::read(&p)
        .ok()
        .and_then(|d| serde_json::from_slice::<State>(&d).ok())
        .is_some_and(|s| s.pid == std::process::id() as i32);
    if mine {
        let _ = std::fs::remove_file(p);
    }
}

/// `berth internal dns NETWORK`: bind, say "ready" on stdout, serve until
/// the network is empty or gone.
pub fn run(ctx: &Context, net_id: &str, ups: &[String]) -> Result<(), NetworkError> {
    use std::io::Write;
    process::close_inherited_fds();
    let st = crate::network::store::NetworkStore::open(ctx)?;
    let n = st.get(net_id)?;
    let (subnet, gw, _) = n
        .subnet4()
        .ok_or_else(|| NetworkError::Invalid(format!("network {} has no IPv4 subnet", n.name)))?;
    let upstreams = ups
        .iter()
        .map(|u| {
            super::dns::upstream_addr(u)
                .ok_or_else(|| NetworkError::Invalid(format!("dns: {u:?} is not an IP address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = super::dns::Config {
        net_dir: st.network_dir(&n.id),
        index: Some(st.index_file(&n.id)),
        subnet,
        address: gw,
        upstreams,
    };
    let bound = super::dns::bind(&cfg).map_err(|e| NetworkError::Dns(e.to_string()))?;
    record_self(ctx, &n.id, &gw.to_string(), ups)?;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready").and_then(|_| out.flush());
    let served = super::dns::serve(cfg, bound);
    forget_self(ctx, &n.id);
    // the network lock (held when it finished) goes with `served`
    served
        .map(drop)
        .map_err(|e| NetworkError::Dns(e.to_string()))
}
