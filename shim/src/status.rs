//! `status.json`: the container's state as the manager reads it, always replaced
//! atomically (temp file + rename) so a reader never sees a torn file.

use crate::health::HealthState;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Serialize, Clone, Debug, Default)]
pub struct Status {
    pub id: String,
    /// created | running | restarting | exited
    pub status: &'static str,
    /// The container init's host pid (0 when none).
    pub pid: i32,
    pub shim_pid: i32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    pub restart_count: u32,
    pub user_stopped: bool,
    /// Why the last (re)start failed, if it did.
    pub error: Option<String>,
    pub health: Option<HealthState>,
    pub execs: BTreeMap<String, ExecStatus>,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct ExecStatus {
    pub pid: i32,
    pub running: bool,
    pub exit_code: Option<i32>,
}

/// Exec results kept in the status file (the oldest finished ones are dropped).
pub const MAX_EXECS: usize = 32;

impl Status {
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::sys::write_atomic(&dir.join("status.json"), &text)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn trim_execs(&mut self) {
        while self.execs.len() > MAX_EXECS {
            let Some(k) = self
                .execs
                .iter()
                .find(|(_, e)| !e.running)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.execs.remove(&k);
        }
    }
}
