//! The shim's typed errors. Their texts are what the manager and engines show (and
//! some tests match), so they keep the wording of the messages they replace.

use crate::runtime::RuntimeError;
use berth_shim_protocol::StartErrorKind;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The runtime failed (its own message).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("opening the log {path}: {source}")]
    Log { path: PathBuf, source: io::Error },
    /// A setting of shim.json the shim cannot use (`what`: its key).
    #[error("{what}: {source}")]
    Config {
        what: &'static str,
        source: SettingError,
    },
    #[error("setting up the {what}'s stdio: {source}")]
    Stdio {
        what: &'static str,
        source: io::Error,
    },
    #[error("binding {path}: {source}")]
    Bind { path: PathBuf, source: io::Error },
    /// A published port the shim relays could not be opened.
    #[error(transparent)]
    Relay(#[from] crate::relay::RelayError),
    #[error("the runtime did not send the terminal")]
    NoTerminal,
    /// Receiving the terminal's fd from the runtime failed.
    #[error("{0}")]
    ReceiveTerminal(io::Error),
    #[error("the runtime wrote no pid to {0}")]
    NoPid(PathBuf),
    #[error("the runtime wrote no exec pid")]
    NoExecPid,
    #[error("no pid from exec")]
    NoProbePid,
    /// The container is not in a state the request needs ("created", "running").
    #[error("container is {0}, not created")]
    NotCreated(String),
    #[error("container is {0}")]
    NotRunning(String),
    #[error("container is running")]
    Running,
    #[error("no terminal")]
    NoTerminalToResize,
    #[error("exec session {0:?} exists")]
    ExecExists(String),
    #[error("no exec session {0:?}")]
    NoExec(String),
    #[error("exec session {0:?} already started")]
    ExecStarted(String),
    #[error("process: must be an absolute path")]
    ExecProcessPath,
    #[error("sid: must be 1-64 characters of [A-Za-z0-9_.-]")]
    BadSid,
    #[error("reading the bundle's config.json: {0}")]
    ReadBundle(io::Error),
    #[error("bundle config.json: {0}")]
    ParseBundle(serde_json::Error),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    /// Health probe plumbing (pipes, /dev/null).
    #[error("{0}")]
    Io(io::Error),
    #[error("bad request: {0}")]
    BadRequest(serde_json::Error),
    #[error("invalid detach key {0:?}")]
    DetachKey(String),
    /// The attach hello is not valid JSON of its shape.
    #[error("{0}")]
    BadHello(serde_json::Error),
}

/// A shim.json setting that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("invalid retry count in {0:?}")]
    RetryCount(String),
    #[error("unknown policy {0:?} (no, always, on-failure[:N], unless-stopped)")]
    UnknownPolicy(String),
    #[error("must be [\"CMD\", arg...], [\"CMD-SHELL\", \"command\"] or [\"NONE\"]")]
    HealthTest,
}

impl SupervisorError {
    /// Why the runtime could not start a process, when that is what failed.
    pub fn start_kind(&self) -> Option<StartErrorKind> {
        match self {
            SupervisorError::Runtime(RuntimeError::Failed { kind, .. }) => *kind,
            _ => None,
        }
    }

    /// The JSON answer for a failed request: `{"error": msg}` plus the start
    /// error's `kind` when there is one.
    pub fn to_json(&self) -> serde_json::Value {
        let r = berth_shim_protocol::ErrorResponse {
            error: self.to_string(),
            kind: self.start_kind(),
        };
        serde_json::to_value(r).unwrap_or_else(|_| serde_json::json!({ "error": self.to_string() }))
    }
}
