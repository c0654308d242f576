//! Containers: the record and store (`record`, `store`) and the live state, read
//! from the shim's `status.json` (with fallbacks when the shim is gone).

pub mod record;
pub mod store;

pub use record::{
    Config, ContainerRecord, HealthConfig, HostConfig, MountPoint, MountSpec, RestartPolicy,
};
pub use store::ContainerStore;

use crate::context::Context;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("multiple containers match the id prefix {0:?}; give more of the id")]
    Ambiguous(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is corrupt: {why}")]
    Corrupt { path: PathBuf, why: String },
}

impl From<crate::store::IoFailure> for ContainerError {
    fn from(f: crate::store::IoFailure) -> ContainerError {
        ContainerError::Io {
            op: f.op,
            path: f.path,
            source: f.source,
        }
    }
}

/// The shim's `status.json`.
pub use berth_shim_protocol::Status as ShimStatus;

/// The live state of a container, as docker's inspect `State` reports it.
#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    /// created | running | paused | restarting | exited | dead
    pub status: String,
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
    pub health: Option<serde_json::Value>,
    #[serde(skip)]
    pub restart_count: u32,
    #[serde(skip)]
    pub shim_pid: i32,
    /// Whether a live shim supervises the container.
    #[serde(skip)]
    pub shim_alive: bool,
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

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

/// The live state: the shim's status.json; when the shim is gone, what it left
/// (its last status) corrected by whether the container's init still lives.
pub fn state(ctx: &Context, rec: &ContainerRecord) -> Result<ContainerState, ContainerError> {
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
    let shim_alive = from_shim && pid_alive(st.shim_pid);
    let mut out = ContainerState {
        status: st.status.clone(),
        pid: st.pid,
        exit_code: st.exit_code.unwrap_or(0),
        error: st.error.clone().unwrap_or_default(),
        started_at: st.started_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
        finished_at: st.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
        oom_killed: st.oom_killed,
        restart_count: st.restart_count,
        health: st
            .health
            .as_ref()
            .and_then(|h| serde_json::to_value(h).ok()),
        shim_pid: st.shim_pid,
        shim_alive,
        ..Default::default()
    };
    let active = matches!(out.status.as_str(), "running" | "restarting" | "paused");
    if active && !shim_alive {
        if pid_alive(st.pid) {
            // The shim died (kill -9) but the init lives on: still running,
            // unsupervised; stop/kill/rm go through the runtime directly.
            out.status = "running".into();
        } else {
            out.status = "exited".into();
            if st.exit_code.is_none() {
                out.exit_code = 255;
                out.error = "the container's shim died".into();
            }
        }
    }
    if out.status == "created" && from_shim && !shim_alive && st.shim_pid != 0 {
        // A shim that died before starting the container.
        out.status = "exited".into();
        out.exit_code = st.exit_code.unwrap_or(128);
    }
    if out.status == "running" && paused_marker(ctx, rec).exists() {
        out.status = "paused".into();
    }
    if out.status != "running" && out.status != "paused" && out.status != "restarting" {
        out.pid = 0;
    }
    out.running = matches!(out.status.as_str(), "running" | "paused" | "restarting");
    out.paused = out.status == "paused";
    out.restarting = out.status == "restarting";
    if let Some(h) = out.health.as_ref() {
        if h.is_null() {
            out.health = None;
        }
    }
    Ok(out)
}

/// docker ps's STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago", ...
pub fn human_status(st: &ContainerState) -> String {
    let ago = |t: &str| {
        crate::format::human::duration_since(t).unwrap_or_else(|| "Less than a second".into())
    };
    match st.status.as_str() {
        "running" | "paused" => {
            let mut s = format!("Up {}", ago(&st.started_at));
            if let Some(h) = st.health.as_ref().and_then(|h| h["Status"].as_str()) {
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
        "restarting" => format!("Restarting ({}) {} ago", st.exit_code, ago(&st.finished_at)),
        "exited" if st.finished_at != ZERO_TIME => {
            format!("Exited ({}) {} ago", st.exit_code, ago(&st.finished_at))
        }
        "exited" => format!("Exited ({})", st.exit_code),
        "created" => "Created".into(),
        other => other.to_string(),
    }
}
