//! The live state of a container, read from the shim's `status.json` (with
//! fallbacks when the shim is gone); no lock is needed to read it.

use super::record::ContainerRecord;
use crate::context::Context;
use crate::sys::process::{pid_running, start_time};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The shim's `status.json`.
pub use berth_shim_protocol::Status as ShimStatus;

/// docker's container status (its JSON strings in inspect and ps).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// The shim's status word (created | running | restarting | exited); an
    /// unknown word is a dead container.
    pub fn from_shim(s: &str) -> Status {
        match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "exited" => Status::Exited,
            _ => Status::Dead,
        }
    }

    /// Running, paused or restarting: the container has (or will again have)
    /// processes.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The live state of a container, as docker's inspect `State` reports it.
#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    pub status: Status,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<berth_shim_protocol::Health>,
    #[serde(skip)]
    pub restart_count: u32,
    #[serde(skip)]
    pub shim_pid: i32,
    /// Whether a live shim supervises the container.
    #[serde(skip)]
    pub shim_alive: bool,
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The shim's status file, if any.
pub fn read_shim_status(ctx: &Context, rec: &ContainerRecord) -> Option<ShimStatus> {
    let data = std::fs::read(rec.shim_dir(ctx).join("status.json")).ok()?;
    serde_json::from_slice(&data).ok()
}

/// The last status saved into the record directory when the shim finished (so
/// the exit code survives a reboot that empties the state dir).
pub fn read_last_status(ctx: &Context, rec: &ContainerRecord) -> Option<ShimStatus> {
    let data = std::fs::read(rec.dir(ctx).join("last-status.json")).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Whether `pause` left a marker (the shim does not track the freezer).
pub fn paused_marker(ctx: &Context, rec: &ContainerRecord) -> PathBuf {
    rec.shim_dir(ctx).join("paused")
}

/// The pid of a shim that is still launching the container: it wrote
/// `shim.pid` ("PID STARTTIME") before anything else, and writes status.json
/// only once `berth-runtime create` returns. The start time guards against a
/// reused pid.
pub fn launching_shim(ctx: &Context, rec: &ContainerRecord) -> Option<i32> {
    let dir = rec.shim_dir(ctx);
    if dir.join("status.json").exists() {
        return None;
    }
    live_shim_pid(&dir)
}

/// The pid of the shim whose `shim.pid` ("PID STARTTIME", written for the
/// shim's whole life) is in `dir`, if that process still lives (the start
/// time guards against a reused pid).
pub fn live_shim_pid(dir: &Path) -> Option<i32> {
    live_shim(dir).map(|(pid, _)| pid)
}

/// `live_shim_pid` with the shim's start time: the pair names that process
/// for as long as it lives (`process::running_since` checks it again).
pub fn live_shim(dir: &Path) -> Option<(i32, u64)> {
    let text = std::fs::read_to_string(dir.join("shim.pid")).ok()?;
    let mut it = text.split_whitespace();
    let pid: i32 = it.next()?.parse().ok()?;
    let start: u64 = it.next()?.parse().ok()?;
    crate::sys::process::running_since(pid, start).then_some((pid, start))
}

/// The live state: the shim's status.json; when the shim is gone, what it left
/// (its last status) corrected by whether the container's init still lives.
pub fn state(ctx: &Context, rec: &ContainerRecord) -> ContainerState {
    let live = read_shim_status(ctx, rec);
    let (st, from_shim) = match live {
        Some(s) => (s, true),
        None => match read_last_status(ctx, rec) {
            Some(s) => (s, false),
            None => (
                ShimStatus {
                    status: "created".into(),
                    ..Default::default()
                },
                false,
            ),
        },
    };
    // A zombie (killed, not yet reaped by its parent) counts as gone.
    let mut shim_alive = from_shim && pid_running(st.shim_pid);
    let mut st = st;
    if !from_shim {
        // A shim still creating the container (no status.json yet) is alive:
        // removing the container must wait for it, not leave it orphaned.
        if let Some(pid) = launching_shim(ctx, rec) {
            st.status = "created".into();
            st.shim_pid = pid;
            shim_alive = true;
        }
    }
    let mut out = ContainerState {
        status: Status::from_shim(&st.status),
        pid: st.pid,
        exit_code: st.exit_code.unwrap_or(0),
        error: st.error.clone().unwrap_or_default(),
        started_at: st.started_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
        finished_at: st.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
        oom_killed: st.oom_killed,
        restart_count: st.restart_count,
        health: st.health.clone(),
        shim_pid: st.shim_pid,
        shim_alive,
        ..Default::default()
    };
    if out.status.is_active() && !shim_alive {
        if pid_running(st.pid) {
            // The shim died (kill -9) but the init lives on: still running,
            // unsupervised; stop/kill/rm go through the runtime directly.
            out.status = Status::Running;
        } else {
            out.status = Status::Exited;
            if st.exit_code.is_none() {
                out.exit_code = 255;
                out.error = "the container's shim died".into();
            }
        }
    }
    if out.status == Status::Created && from_shim && !shim_alive && st.shim_pid != 0 {
        // A shim that died before starting the container.
        out.status = Status::Exited;
        out.exit_code = st.exit_code.unwrap_or(128);
    }
    if out.status == Status::Running && paused_marker(ctx, rec).exists() {
        out.status = Status::Paused;
    }
    if !out.status.is_active() {
        out.pid = 0;
    }
    out.running = out.status.is_active();
    out.paused = out.status == Status::Paused;
    out.restarting = out.status == Status::Restarting;
    out
}

/// docker ps's STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago", ...
pub fn human_status(st: &ContainerState) -> String {
    let ago = |t: &str| {
        crate::format::human::duration_since(t).unwrap_or_else(|| "Less than a second".into())
    };
    match st.status {
        Status::Running | Status::Paused => {
            let mut s = format!("Up {}", ago(&st.started_at));
            if let Some(h) = st.health.as_ref().map(|h| h.status.as_str()) {
                if h == "starting" {
                    s.push_str(" (health: starting)");
                } else if !h.is_empty() && h != "none" {
                    s.push_str(&format!(" ({h})"));
                }
            }
            if st.paused {
                s.push_str(" (Paused)");
            }
            s
        }
        Status::Restarting => {
            format!("Restarting ({}) {} ago", st.exit_code, ago(&st.finished_at))
        }
        Status::Exited if st.finished_at != ZERO_TIME => {
            format!("Exited ({}) {} ago", st.exit_code, ago(&st.finished_at))
        }
        Status::Exited => format!("Exited ({})", st.exit_code),
        Status::Created => "Created".into(),
        Status::Dead => "Dead".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A scratch root and state dir, and a record (id: 64 × `c`) whose shim
    /// directory exists: (scratch dir, context, record, shim dir).
    fn fixture(tag: &str, c: char) -> (PathBuf, Context, ContainerRecord, PathBuf) {
        let tmp = std::env::temp_dir().join(format!("berth-{tag}-{}", std::process::id()));
        let ctx = Context::new(tmp.join("root"), tmp.join("state"));
        let rec = ContainerRecord {
            id: c.to_string().repeat(64),
            ..Default::default()
        };
        let dir = rec.shim_dir(&ctx);
        std::fs::create_dir_all(&dir).unwrap();
        (tmp, ctx, rec, dir)
    }

    /// A killed container whose init (and shim) are zombies not yet reaped:
    /// exited, not running.
    #[test]
    fn a_zombie_init_is_not_running() {
        let Ok(mut child) = std::process::Command::new("true").spawn() else {
            return;
        };
        let pid = child.id() as i32;
        let (tmp, ctx, rec, dir) = fixture("state", 'a');
        let st = ShimStatus {
            status: "running".into(),
            pid,
            shim_pid: pid,
            ..Default::default()
        };
        std::fs::write(dir.join("status.json"), serde_json::to_vec(&st).unwrap()).unwrap();
        // Wait for the exit, without reaping: the child stays a zombie.
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z"))
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = state(&ctx, &rec);
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&tmp);
        assert_eq!(out.status, Status::Exited);
        assert!(!out.running && !out.shim_alive);
        assert_eq!(out.pid, 0);
    }

    /// A shim that wrote shim.pid but no status.json yet (still creating the
    /// container) is alive: rm must wait for it rather than orphan it.
    #[test]
    fn a_launching_shim_is_alive() {
        let (tmp, ctx, rec, dir) = fixture("launch", 'b');
        let me = std::process::id() as i32;
        let start = start_time(me).unwrap();
        std::fs::write(dir.join("shim.pid"), format!("{me} {start}\n")).unwrap();
        let out = state(&ctx, &rec);
        assert_eq!(launching_shim(&ctx, &rec), Some(me));
        // another process's start time: a reused pid, not the shim
        std::fs::write(dir.join("shim.pid"), format!("{me} {}\n", start + 1)).unwrap();
        let reused = launching_shim(&ctx, &rec);
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(out.shim_alive && out.shim_pid == me, "{out:?}");
        assert_eq!(out.status, Status::Created);
        assert_eq!(reused, None);
    }
}
