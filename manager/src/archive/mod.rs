//! Image archives: docker-archive and OCI-layout tars (load and save), and
//! import of a root filesystem tarball.

pub mod import;
pub mod load;
pub mod save;

use crate::image::reference::ReferenceError;
use crate::image::ImageError;
use crate::store::{ImageRecord, ImageStore, StoreError};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The io error is the source (not repeated here: tar's errors carry
    /// their cause twice already).
    #[error("reading {what} (not a tar archive, or a truncated or corrupt one?)")]
    Read {
        what: String,
        source: std::io::Error,
    },
    #[error("writing {what}")]
    Write {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Format(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("invalid reference format: {0}")]
    Reference(#[from] ReferenceError),
}

impl ArchiveError {
    pub fn read(what: &str) -> impl Fn(std::io::Error) -> ArchiveError + '_ {
        move |source| ArchiveError::Read {
            what: what.to_string(),
            source,
        }
    }
    pub fn write(what: &str) -> impl Fn(std::io::Error) -> ArchiveError + '_ {
        move |source| ArchiveError::Write {
            what: what.to_string(),
            source,
        }
    }
}

/// Store an image record (see [`ImageStore::put`]: a replaced image stays as a
/// dangling record).
pub fn store_record(root: &Path, record: ImageRecord) -> Result<(), StoreError> {
    ImageStore::open(root)?.put(record)
}
