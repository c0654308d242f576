//! Containers: the lifecycle every client shares (CLI verbs, compose, build's
//! RUN steps, the shim's exit hook), one file per verb as youki's
//! libcontainer lays it out, over the record and store (`record`, `store`) and
//! the live state (`state`). See docs/lifecycle.md for which lock each call
//! holds, what `on_exit` releases and how a `Hook` plugs in.
//!
//! - `create` (a `CreateOptions`) -> a record, volumes, an empty rootfs dir;
//! - `lock` -> `Locked`: every call that changes a container takes one;
//! - `start` (rootfs, volumes, the typed OCI spec, hooks' `prepare`, the
//!   shim), `start_created`, `stop`, `kill`, `pause`/`unpause`, `rename`,
//!   `remove`;
//! - `wait` (no lock: it only reads); `exec` (a process in a running
//!   container, through the shim's exec sessions);
//! - `on_exit`: the one place a stopped container gives back what `start`
//!   took (hooks' `release`, rootfs, volumes; `--rm` removal).

// The re-exports below are the lifecycle's API for its clients (the verbs now;
// compose, build and networking next): not every item has a user yet.
#![allow(unused_imports)]

pub mod boot;
pub mod commit;
pub mod copy;
pub mod create;
pub mod error;
pub mod exec;
pub mod exit;
pub mod hooks;
pub mod image;
pub mod kill;
pub mod lock;
pub mod logs;
pub mod options;
pub mod pause;
pub mod record;
pub mod remove;
pub mod rename;
pub mod rootfs;
pub mod runtime;
pub mod start;
pub mod state;
pub mod stop;
pub mod store;
pub mod update;
pub mod userns;
pub mod wait;

pub use create::create;
pub use error::{HookError, LifecycleError};
pub use exec::{exec, ExecOptions};
pub use exit::{on_exit, on_exit_locked};
pub use hooks::{hooks, Hook};
pub use image::{ImageSource, PullPolicy};
pub use kill::{kill, Signal};
pub use lock::{lock, lock_by_name, Locked};
pub use options::CreateOptions;
pub use pause::{pause, unpause};
pub use record::{
    Config, ContainerRecord, DeviceMapping, EndpointSettings, HealthConfig, HostConfig, MountKind,
    MountPoint, MountSpec, NetworkMode, NetworkingConfig, RestartPolicy, Ulimit, VolumeOptions,
};
pub use remove::{remove, RemoveOptions};
pub use rename::rename;
pub use start::{start, start_created, start_with_image, StartMode, Started};
pub use state::{human_status, state, ContainerState, ShimStatus, Status};
pub use stop::stop;
pub use store::ContainerStore;
pub use wait::{wait, WaitCondition};

use std::path::{Path, PathBuf};

/// `v` as compact JSON in the file `path` (a config.json, an exec's process),
/// written in place: its reader is started after.
pub(crate) fn write_json_file<T: serde::Serialize>(
    path: &Path,
    v: &T,
) -> Result<(), LifecycleError> {
    let data = serde_json::to_vec(v).map_err(|e| LifecycleError::Io {
        op: "encoding",
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    std::fs::write(path, data).map_err(LifecycleError::io("write", path))
}

/// Errors of the container store.
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
