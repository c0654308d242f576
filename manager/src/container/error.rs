//! The lifecycle's typed errors.

use super::ContainerError;
use std::path::PathBuf;

/// An error of a hook (networking, ...): its own message, typed by the hook.
pub type HookError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    /// The operation needs a running container (the message is docker's for it).
    #[error("{0}")]
    NotRunning(String),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    /// Asked of a container in the wrong state (paused, not paused, running
    /// without `force`), docker's message.
    #[error("{0}")]
    Conflict(String),
    /// Options that cannot make a container (docker's message).
    #[error("{0}")]
    Invalid(String),
    /// The option is valid for docker but berth does not do it (yet).
    // (networking, its last user, is supported now; kept for the next one)
    #[allow(dead_code)]
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Image(#[from] super::image::ImageError),
    /// Starting failed; `code` is docker's exit status for it: 127 (command
    /// not found), 126 (not executable) or 125 (anything else).
    #[error("{msg}")]
    StartFailed { code: i32, msg: String },
    #[error("{hook}: {source}")]
    Hook {
        hook: &'static str,
        source: HookError,
    },
    #[error("{0}")]
    Timeout(String),
    /// berth-runtime failed (its stderr).
    #[error("{bin} {args}: {msg}")]
    Runtime {
        bin: PathBuf,
        args: String,
        msg: String,
    },
    #[error(transparent)]
    Shim(#[from] crate::shim_client::ShimError),
    #[error(transparent)]
    Store(ContainerError),
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<ContainerError> for LifecycleError {
    fn from(e: ContainerError) -> LifecycleError {
        match e {
            ContainerError::NotFound(n) => LifecycleError::NotFound(n),
            ContainerError::NameInUse { name, id } => LifecycleError::NameInUse { name, id },
            e => LifecycleError::Store(e),
        }
    }
}

impl LifecycleError {
    pub(crate) fn io(
        op: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| LifecycleError::Io { op, path, source }
    }

    /// docker's exit status for this error when it ends a `run` or `start`:
    /// the typed start failure's own code, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            LifecycleError::StartFailed { code, .. } => *code,
            _ => 125,
        }
    }
}
