//! The persisted state of one container and the status derived from it.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};

use crate::sys::procfs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `state.json` holds. Written once by `create` (temp file + rename);
/// the status is never stored, it is computed on every read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// /proc/PID/stat start time of the init, to recognise a recycled pid.
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// Whether the container has its own pid namespace (then killing the
    /// init kills every process in it).
    #[serde(default)]
    pub own_pid_ns: bool,
    /// The container's cgroup in every hierarchy.
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::Cgroup>,
}

/// runc's `state` output, with its key order.
#[derive(Serialize)]
pub struct StateOutput<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: &'a std::path::Path,
    pub rootfs: &'a std::path::Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
    pub owner: &'a str,
}

impl ContainerState {
    /// Whether the init recorded here still runs (same pid, same start
    /// time, not a zombie).
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match procfs::stat(self.pid) {
            Some(st) => !st.is_dead() && st.start_time == self.init_start_time,
            None => false,
        }
    }

    pub fn output<'a>(&'a self, status: Status, owner: &'a str) -> StateOutput<'a> {
        StateOutput {
            oci_version: &self.oci_version,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            annotations: &self.annotations,
            owner,
        }
    }

    /// The state document the runtime spec hands to hooks on stdin.
    pub fn hook_state(&self, status: Status) -> String {
        let mut v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status.as_str(),
            "bundle": self.bundle,
        });
        if status != Status::Stopped && self.pid > 0 {
            v["pid"] = self.pid.into();
        }
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::to_value(&self.annotations).unwrap_or_default();
        }
        v.to_string()
    }
}
