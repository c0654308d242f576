//! Pulling and pushing images over the OCI distribution API.
//!
//! * [`pull`]: manifest (or index, with platform selection), then config and layers in
//!   parallel into the content store (skipping blobs already there, resuming partial
//!   ingests with HTTP Range), every digest verified; then the image record and the
//!   layer snapshots, so `berth run` starts at once.
//! * [`push`]: blobs the registry lacks (HEAD first), then the manifest.
//! * [`auth`]: credentials (`berth login`/`logout`) and authentication challenges.
//!
//! See docs/registry.md for the transport rules (TLS, custom CAs, plain HTTP).

pub mod auth;
pub mod client;
pub mod manifest;
pub mod progress;
mod pull;
mod push;
pub mod reference;
pub mod search;
pub mod tls;

pub use client::{Access, Client, ConnectOptions};
pub use progress::Out;
pub use pull::pull;
pub use push::push;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid reference format: {0}")]
    Reference(String),
    #[error(
        "refusing plain HTTP to {0}: only loopback registries and those marked insecure \
         (--insecure-registry or BERTH_INSECURE_REGISTRIES={0}) may be reached without TLS"
    )]
    PlainHttpRefused(String),
    #[error("{0}")]
    Transport(String),
    /// The server answered plain HTTP with "this is an HTTPS server".
    #[error("the server speaks HTTPS, not plain HTTP")]
    NotHttp,
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{url}: HTTP {status}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
    },
    #[error("registry protocol: {0}")]
    Protocol(String),
    #[error("digest mismatch for {what}: expected {expected}, got {got}")]
    Digest {
        what: String,
        expected: String,
        got: String,
    },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{0}")]
    Platform(String),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("{0}")]
    NoSuchImage(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// How `pull` and `push` reach registries and report progress.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `os/arch[/variant]` (pull only; default: this host's).
    pub platform: Option<String>,
    /// Registries allowed over plain HTTP / with any certificate, in addition to
    /// `$BERTH_INSECURE_REGISTRIES` and loopback addresses.
    pub insecure_registries: Vec<String>,
    /// Use plain HTTP without trying HTTPS (refused for a registry not allowed it).
    pub plain_http: bool,
    /// Where progress goes.
    pub out: Out,
    /// Parallel blob transfers (0: the default, 3 as docker).
    pub jobs: usize,
}

impl Options {
    fn jobs(&self) -> usize {
        if self.jobs == 0 {
            3
        } else {
            self.jobs
        }
    }
}

/// Run `f` over `items` on `workers` threads. The first error stops the others
/// from starting new items and is returned.
fn parallel<T: Sync>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<(), RegistryError> + Sync,
) -> Result<(), RegistryError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: std::sync::Mutex<Option<RegistryError>> = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers.max(1).min(items.len()) {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                if let Err(e) = f(item) {
                    failed.store(true, Ordering::Relaxed);
                    first_error.lock().unwrap().get_or_insert(e);
                    return;
                }
            });
        }
    });
    match first_error.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
