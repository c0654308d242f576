//! `berth build`: a Dockerfile and a context become an ordinary image in the
//! content store.
//!
//! Dockerfile parser (`dockerfile/`) -> stages (`stage`), pruned to what the
//! target needs -> the executor (`executor`) runs each stage's instructions on
//! an image state; every step's result is an untagged image in the content
//! store (a layer written by `layer` for COPY/ADD/RUN, a config and a manifest)
//! and the cache (`cache`) maps the step's key to it. RUN steps go through a
//! `StepRunner` (`runner`): berth-runtime on an overlay of the current layers.
//!
//! Compose calls [`build`] in-process.

pub mod cache;
pub mod context;
pub mod dockerfile;
pub mod executor;
pub mod ignore;
pub mod inline_cache;
pub mod layer;
pub mod progress;
pub mod runner;
pub mod stage;

use crate::context::Context;
use crate::store::Digest;
use std::path::PathBuf;

pub use dockerfile::{ParseError, Pos};
pub use progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An instruction that cannot be carried out, with where it is.
    #[error("Dockerfile line {}: {instr}: {msg}", pos.line)]
    Step {
        pos: Pos,
        instr: String,
        msg: String,
    },
    #[error("Dockerfile line {}: {instr}: the command returned a non-zero code: {code}", pos.line)]
    RunFailed { pos: Pos, instr: String, code: i32 },
    #[error("build context: {0}")]
    Context(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is not supported by berth build")]
    Unsupported(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error("pulling {image}: {source}")]
    Pull {
        image: String,
        source: crate::registry::RegistryError,
    },
}

impl BuildError {
    pub fn io(
        op: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.to_path_buf();
        move |source| BuildError::Io { op, path, source }
    }
}

impl From<crate::store::IoFailure> for BuildError {
    fn from(f: crate::store::IoFailure) -> BuildError {
        BuildError::Io {
            op: f.op,
            path: f.path,
            source: f.source,
        }
    }
}

/// Where the context comes from.
#[derive(Debug, Clone)]
pub enum ContextSource {
    /// A directory.
    Dir(PathBuf),
    /// A tar file (plain, gzip or zstd).
    Tar(PathBuf),
    /// Standard input: a tar, or a Dockerfile alone (then the context is empty).
    Stdin,
}

/// Where the Dockerfile comes from.
#[derive(Debug, Clone, Default)]
pub enum DockerfileSource {
    /// `Dockerfile` in the context.
    #[default]
    Default,
    /// A path (`-f`): on the host for a directory context, inside the archive
    /// for a tar context.
    Path(PathBuf),
    /// `-f -`.
    Stdin,
    /// The text itself (library callers such as compose's inline `dockerfile_inline`).
    Text(String),
}

/// `--secret id=ID,src=PATH` (or `env=VAR`).
#[derive(Debug, Clone)]
pub struct Secret {
    pub id: String,
    pub src: Option<PathBuf>,
    pub env: Option<String>,
    /// The value itself (compose's `environment:` read from the project's
    /// variables, or `content:`).
    pub content: Option<String>,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProgressMode {
    #[default]
    Auto,
    Plain,
    Tty,
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub context: ContextSource,
    pub dockerfile: DockerfileSource,
    /// Names to give the image (`-t`).
    pub tags: Vec<String>,
    /// `--build-arg K=V` (`K` alone: the value of the environment variable).
    pub build_args: Vec<(String, Option<String>)>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// Always pull base images.
    pub pull: bool,
    pub labels: Vec<(String, String)>,
    /// RUN's network: none (the default until berth has networks) or host.
    pub network: Option<String>,
    pub platform: Option<String>,
    pub quiet: bool,
    pub iidfile: Option<PathBuf>,
    pub progress: ProgressMode,
    pub secrets: Vec<Secret>,
    /// `--add-host NAME:IP` for RUN steps.
    pub add_hosts: Vec<String>,
    /// `--ulimit TYPE=SOFT[:HARD]` for RUN steps.
    pub ulimits: Vec<String>,
    /// /dev/shm size of RUN steps, in bytes.
    pub shm_size: Option<i64>,
    /// Images whose inline cache the build may reuse (`--cache-from`).
    pub cache_from: Vec<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            context: ContextSource::Dir(PathBuf::from(".")),
            dockerfile: DockerfileSource::Default,
            tags: Vec::new(),
            build_args: Vec::new(),
            target: None,
            no_cache: false,
            pull: false,
            labels: Vec::new(),
            network: None,
            platform: None,
            quiet: false,
            iidfile: None,
            progress: ProgressMode::Auto,
            secrets: Vec::new(),
            add_hosts: Vec::new(),
            ulimits: Vec::new(),
            shm_size: None,
            cache_from: Vec::new(),
        }
    }
}

/// The image id of a build (its config digest).
pub type ImageId = Digest;

/// Build an image. Progress goes to stderr as `opts.progress` says (nothing
/// when `opts.quiet`).
pub fn build(ctx: &Context, opts: BuildOptions) -> Result<ImageId, BuildError> {
    check_progress(opts.progress)?;
    let progress = Progress::stderr(opts.progress, opts.quiet);
    let r = build_with(ctx, &opts, &progress);
    progress.finish();
    r
}

fn check_progress(mode: ProgressMode) -> Result<(), BuildError> {
    use std::io::IsTerminal;
    if mode == ProgressMode::Tty && !std::io::stderr().is_terminal() {
        return Err(BuildError::Invalid(
            "--progress tty needs a terminal on stderr (use plain or auto)".into(),
        ));
    }
    Ok(())
}

/// As [`build`], with the caller's progress sink.
pub fn build_with(
    ctx: &Context,
    opts: &BuildOptions,
    progress: &Progress,
) -> Result<ImageId, BuildError> {
    if let Some(p) = &opts.platform {
        check_platform(p)?;
    }
    check_progress(opts.progress)?;
    if let Some(n) = &opts.network {
        runner::check_network_exists(ctx, &runner::check_network(n)?)?;
    }
    context::clean_stale(ctx);
    let bctx = context::BuildContext::open(ctx, &opts.context, &opts.dockerfile)?;
    let df = dockerfile::parse(&bctx.dockerfile)?;
    // RUN steps go through the container lifecycle library.
    let runner = runner::LifecycleRunner::new(ctx);
    let exec = executor::Executor::new(ctx, opts, &bctx, &df, progress, &runner)?;
    let id = exec.run()?;
    if let Some(p) = &opts.iidfile {
        std::fs::write(p, id.as_str()).map_err(BuildError::io("write", p))?;
    }
    Ok(id)
}

/// This host's platform is the only one berth builds for.
pub fn check_platform(p: &str) -> Result<(), BuildError> {
    let p = p.trim();
    let ok = matches!(
        p,
        "linux/amd64"
            | "linux/x86_64"
            | "amd64"
            | "linux/amd64/v1"
            | "linux/amd64/v2"
            | "linux/amd64/v3"
    );
    if ok {
        Ok(())
    } else {
        Err(BuildError::Unsupported(format!(
            "platform {p:?} (this host builds linux/amd64 only)"
        )))
    }
}

/// `builder prune`: drop the build cache entries `opts` selects (and the
/// leftovers of killed builds; with no filter, the `RUN --mount=type=cache`
/// directories too); the blobs and snapshots only they kept are then removed
/// by the store's gc. Returns how many objects went.
pub fn prune(ctx: &Context, opts: &cache::PruneOptions) -> Result<usize, BuildError> {
    context::clean_stale(ctx);
    let mut n = cache::prune(&ctx.root, opts)?;
    if opts.until.is_none() && opts.keep_storage.is_none() {
        let mounts = ctx.root.join("build/mounts/cache");
        if let Ok(rd) = std::fs::read_dir(&mounts) {
            for e in rd.flatten() {
                let p = e.path();
                crate::store::remove_tree(&p).map_err(BuildError::io("remove", &p))?;
                n += 1;
            }
        }
    }
    Ok(n)
}
