//! Compose's errors: every one about a file says which file, which line and
//! which key.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a node of a compose file is: the file, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The YAML itself is broken.
    #[error("{pos}: invalid YAML: {msg}")]
    Yaml { pos: Pos, msg: String },
    /// Something at a key of a file: `file:line:col: services.web.image: msg`.
    #[error("{pos}: {key}: {msg}")]
    At { pos: Pos, key: String, msg: String },
    #[error("no configuration file provided: none of {names} found in {dir} or its parents")]
    NoFile { dir: PathBuf, names: String },
    #[error("dependency cycle between services: {0}")]
    Cycle(String),
    #[error("{0}")]
    Invalid(String),
    /// From the container library.
    #[error("{0}")]
    Container(String),
}

impl ComposeError {
    pub fn at(pos: &Pos, key: &str, msg: impl Into<String>) -> Self {
        ComposeError::At {
            pos: pos.clone(),
            key: key.to_string(),
            msg: msg.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ComposeError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = ComposeError> = std::result::Result<T, E>;
