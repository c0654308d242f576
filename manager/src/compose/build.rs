//! Building services' images through berth's build library: the service's
//! `build:` (context, dockerfile or dockerfile_inline, target, args, labels,
//! secrets, cache_from) becomes the library's
//! `BuildOptions`, the image named as docker compose names it (`image:`, else
//! `project-service`).

use crate::build::{self as lib, BuildOptions, ContextSource, DockerfileSource};
use crate::compose::error::{ComposeError, Result};
use crate::compose::model::Project;
use crate::compose::progress::line as progress;
use crate::context::Context;
use std::path::PathBuf;

/// `build`'s and `up --build`'s flags.
#[derive(Clone, Debug, Default)]
pub struct BuildFlags {
    pub no_cache: bool,
    pub pull: bool,
    pub quiet: bool,
    /// `--build-arg K=V` (K alone: from the environment).
    pub build_args: Vec<String>,
}

/// Whether a service's image must be built before `up` creates its
/// containers: it builds and its image is not stored (or `force`).
pub fn needs_build(ctx: &Context, project: &Project, service: &str, force: bool) -> Result<bool> {
    let Some(s) = project.services.get(service) else {
        return Ok(false);
    };
    if s.build.is_none() {
        return Ok(false);
    }
    if force {
        return Ok(true);
    }
    let image = project.image_of(service, s);
    let found = crate::container::image::find(ctx, &image)
        .map_err(|e| ComposeError::Container(e.to_string()))?;
    Ok(found.is_none())
}

/// Builds one service's image.
pub fn build_service(
    ctx: &Context,
    project: &Project,
    service: &str,
    flags: &BuildFlags,
) -> Result<()> {
    let s = project
        .services
        .get(service)
        .ok_or_else(|| ComposeError::Invalid(format!("no such service: {service}")))?;
    let b = s.build.as_ref().ok_or_else(|| {
        ComposeError::Invalid(format!("services.{service}: has no build section"))
    })?;
    if b.context.contains("://") || b.context.starts_with("git@") {
        return Err(ComposeError::Invalid(format!(
            "services.{service}.build.context: remote build contexts ({}) are not supported by berth",
            b.context
        )));
    }
    let dir = PathBuf::from(&b.context);
    let dockerfile = match (&b.dockerfile, &b.dockerfile_inline) {
        (Some(_), Some(_)) => {
            return Err(ComposeError::Invalid(format!(
                "services.{service}.build: dockerfile and dockerfile_inline are mutually exclusive"
            )))
        }
        (None, Some(text)) => DockerfileSource::Text(text.clone()),
        (Some(d), None) if PathBuf::from(d).is_absolute() => {
            DockerfileSource::Path(PathBuf::from(d))
        }
        (Some(d), None) => DockerfileSource::Path(dir.join(d)),
        (None, None) => DockerfileSource::Default,
    };
    let mut secrets = Vec::new();
    for r in &b.secrets {
        let obj = project.secrets.get(&r.source).ok_or_else(|| {
            ComposeError::Invalid(format!(
                "services.{service}.build.secrets: secret {:?} is not defined in the top-level secrets",
                r.source
            ))
        })?;
        let content = match (&obj.environment, &obj.content) {
            (Some(var), _) => Some(project.environment.get(var).cloned().unwrap_or_default()),
            (None, Some(c)) => Some(c.clone()),
            (None, None) => None,
        };
        if obj.file.is_none() && content.is_none() {
            return Err(ComposeError::Invalid(format!(
                "secrets.{}: a build secret needs file, environment or content",
                r.source
            )));
        }
        secrets.push(lib::Secret {
            id: r.target.clone().unwrap_or_else(|| r.source.clone()),
            src: obj.file.as_ref().map(PathBuf::from),
            env: None,
            content,
        });
    }
    let mut args: Vec<(String, Option<String>)> =
        b.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for a in &flags.build_args {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), std::env::var(a).ok()),
        };
        args.retain(|(x, _)| *x != k);
        args.push((k, v));
    }
    let cache_from = b
        .cache_from
        .iter()
        .map(|c| lib::inline_cache::parse_source(c))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ComposeError::Invalid(format!("services.{service}.build.cache_from: {e}")))?;
    let opts = BuildOptions {
        context: ContextSource::Dir(dir),
        dockerfile,
        tags: vec![project.image_of(service, s)],
        build_args: args,
        target: b.target.clone(),
        no_cache: flags.no_cache,
        pull: flags.pull,
        labels: b
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        platform: s.platform.clone(),
        quiet: flags.quiet,
        secrets,
        cache_from,
        ..BuildOptions::default()
    };
    progress("⠿", &format!("Service {service}"), "Building");
    lib::build(ctx, opts)
        .map_err(|e| ComposeError::Invalid(format!("services.{service}.build: {e}")))?;
    progress("✔", &format!("Service {service}"), "Built");
    Ok(())
}

/// `build` / `up --build`: builds the services' images (all that build when
/// `services` is empty), one after the other.
pub fn build(
    ctx: &Context,
    project: &Project,
    services: &[String],
    flags: &BuildFlags,
) -> Result<()> {
    for (n, s) in &project.services {
        if s.build.is_some() && (services.is_empty() || services.contains(n)) {
            build_service(ctx, project, n, flags)?;
        }
    }
    Ok(())
}
