//! The seam to the build library (its own branch): compose models `build:`
//! fully; making the image is the build library's job. Until it lands, a
//! service that needs a build is a clear error.

use crate::compose::error::{ComposeError, Result};
use crate::compose::model::Project;

pub fn not_available() -> ComposeError {
    ComposeError::Invalid("building images is not available yet in berth (services with `build:` need an `image:` that exists)".into())
}

/// The image of a build-only service (`image:` absent).
pub fn image_for(project: &Project, service: &str) -> Result<String> {
    let _ = project.services.get(service);
    Err(ComposeError::Invalid(format!(
        "services.{service}.build: {}",
        not_available()
    )))
}

/// `up --build` / `compose build`: builds the services' images.
pub fn build(project: &Project, services: &[String]) -> Result<()> {
    let wanted: Vec<&String> = project
        .services
        .iter()
        .filter(|(n, s)| s.build.is_some() && (services.is_empty() || services.contains(n)))
        .map(|(n, _)| n)
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    Err(not_available())
}
