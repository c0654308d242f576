//! Typed errors of the runtime library. The binary edge (`main.rs`) turns them
//! into runc-shaped messages and exit codes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error(
        "invalid container id {0:?}: ids may only contain letters, digits, '_', '+', '-' and '.'"
    )]
    InvalidId(String),
    #[error("container not running")]
    NotRunning,
    #[error("cannot delete container {id} that is not stopped: {status}")]
    NotStopped { id: String, status: String },
    #[error("cannot start a container that is {0}")]
    CannotStart(String),
    #[error("bundle: {path}: {source}")]
    Bundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Config { path: PathBuf, msg: String },
    #[error("{0}")]
    Invalid(String),
    #[error("container init exited during set-up")]
    InitDied,
    #[error("{0} is not supported: {1}")]
    Unsupported(&'static str, String),
    #[error("unable to start container process: {0}")]
    Init(InitError),
    #[error("error running {kind} hook #{index}: {msg}")]
    Hook {
        kind: &'static str,
        index: usize,
        msg: String,
    },
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("seccomp: {0}")]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    NetDev(#[from] crate::netdev::NetDevError),
    #[error("{ctx}: {source}")]
    Sys {
        ctx: String,
        #[source]
        source: nix::Error,
    },
    #[error("{ctx}: {source}")]
    Io {
        ctx: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong inside the container's init, carried back to `create`
/// over the parent/child channel as a value rather than a string.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct InitError {
    pub kind: InitErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum InitErrorKind {
    /// The executable does not exist (engines map this to exit code 127).
    NotFound,
    /// The executable is not executable (engines map this to 126).
    PermissionDenied,
    Other,
}

impl InitErrorKind {
    /// The name in the JSON log's `kind` field (engines read it instead of the text).
    pub fn name(self) -> &'static str {
        match self {
            InitErrorKind::NotFound => "not-found",
            InitErrorKind::PermissionDenied => "permission-denied",
            InitErrorKind::Other => "other",
        }
    }
}

impl Error {
    /// Why the container's process could not be started, for the log's `kind`.
    pub fn init_kind(&self) -> InitErrorKind {
        match self {
            Error::Init(ie) => ie.kind,
            _ => InitErrorKind::Other,
        }
    }
}

impl InitError {
    pub fn other(message: impl Into<String>) -> Self {
        InitError {
            kind: InitErrorKind::Other,
            message: message.into(),
        }
    }
}

impl From<Error> for InitError {
    fn from(e: Error) -> Self {
        match e {
            Error::Init(ie) => ie,
            other => InitError::other(other.to_string()),
        }
    }
}

/// Attach a context to a nix error.
pub trait SysContext<T> {
    fn ctx<S: Into<String>>(self, ctx: impl FnOnce() -> S) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn ctx<S: Into<String>>(self, ctx: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Sys {
            ctx: ctx().into(),
            source,
        })
    }
}

impl<T> SysContext<T> for std::io::Result<T> {
    fn ctx<S: Into<String>>(self, ctx: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Io {
            ctx: ctx().into(),
            source,
        })
    }
}
