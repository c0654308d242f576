//! The one image resolver of the container lifecycle (run, create, cp, and
//! build later): a reference or an id to a loaded `Image`, pulled first as the
//! pull policy says.

use crate::context::Context;
use crate::image::Image;
use crate::store::{ContentStore, ImageStore, StoreError};

/// docker's `--pull`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull only when nothing stored matches (docker's default).
    #[default]
    Missing,
    Always,
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<PullPolicy, ImageError> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            other => Err(ImageError::BadPullPolicy(other.to_string())),
        }
    }
}

/// Which image a container is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// A name as the user gave it (`busybox`, `reg:5000/app:1`), or an id or
    /// id prefix, pulled as the policy says.
    Ref(String, PullPolicy),
    /// A stored image's id (`sha256:...`): never pulled.
    Id(String),
}

impl ImageSource {
    /// The name the user gave (the record's `Config.Image`).
    pub fn name(&self) -> &str {
        match self {
            ImageSource::Ref(r, _) | ImageSource::Id(r) => r,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("Unable to find image '{0}' locally (pull it first: berth pull {0})")]
    NotFound(String),
    #[error("invalid --pull value {0:?}: use missing, always or never")]
    BadPullPolicy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Pull(#[from] crate::registry::RegistryError),
}

/// An image by name or id, or None when nothing stored matches.
pub fn find(ctx: &Context, name: &str) -> Result<Option<Image>, ImageError> {
    let images = ImageStore::open(&ctx.root)?;
    // Names resolve without the full reference parser (see
    // `reference::fast_normalize`): this is on the path of every `run`.
    let record = match images.resolve(name) {
        Ok(r) => r,
        Err(StoreError::ImageNotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let content = ContentStore::open(&ctx.root)?;
    Ok(Some(Image::load(&content, record)?))
}

/// A stored image by name or id.
pub fn load(ctx: &Context, name: &str) -> Result<Image, ImageError> {
    find(ctx, name)?.ok_or_else(|| ImageError::NotFound(name.to_string()))
}

/// The image of `src`, pulled first as its policy says (`platform`: what to
/// pull, default this host's). Pull progress goes to stderr: stdout belongs to
/// the container or to the id `create` prints.
pub fn resolve(
    ctx: &Context,
    src: &ImageSource,
    platform: Option<&str>,
) -> Result<Image, ImageError> {
    let (name, policy) = match src {
        ImageSource::Id(id) => return load(ctx, id),
        ImageSource::Ref(name, policy) => (name.as_str(), *policy),
    };
    let pull = || -> Result<(), ImageError> {
        let opts = crate::registry::Options {
            platform: platform.map(str::to_string),
            out: crate::registry::Out::Stderr,
            ..Default::default()
        };
        crate::registry::pull(ctx, name, &opts)?;
        Ok(())
    };
    match policy {
        PullPolicy::Never => load(ctx, name),
        PullPolicy::Always => {
            pull()?;
            load(ctx, name)
        }
        PullPolicy::Missing => match find(ctx, name)? {
            Some(found) => Ok(found),
            None => {
                eprintln!("Unable to find image '{name}' locally");
                pull()?;
                load(ctx, name)
            }
        },
    }
}
