//! `status.json`: the container's state as the manager reads it, always replaced
//! atomically (temp file + rename) so a reader never sees a torn file.

pub use berth_shim_protocol::{ExecStatus, Status};
use std::path::Path;

/// Exec results kept in the status file (the oldest finished ones are dropped).
pub const MAX_EXECS: usize = 32;

/// The shim's operations on its status.
pub trait StatusExt {
    fn save(&self, dir: &Path) -> std::io::Result<()>;
    fn to_json(&self) -> serde_json::Value;
    fn trim_execs(&mut self);
}

impl StatusExt for Status {
    fn save(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::sys::write_atomic(&dir.join("status.json"), &text)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    fn trim_execs(&mut self) {
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
