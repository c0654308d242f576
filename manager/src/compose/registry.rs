//! `pull` and `push` of the services' images, in parallel, through berth's
//! registry library.

use crate::compose::error::{ComposeError, Result};
use crate::compose::model::Project;
use crate::context::Context;
use crate::registry::{self, Options, Out};

/// The services of `names` (all when empty) with what each needs.
fn selected<'a>(
    project: &'a Project,
    names: &'a [String],
) -> impl Iterator<Item = (&'a String, &'a crate::compose::model::Service)> {
    project
        .services
        .iter()
        .filter(move |(n, _)| names.is_empty() || names.contains(n))
}

/// A named job of a parallel pull or push.
type Job<'a> = (
    String,
    Box<dyn FnOnce() -> std::result::Result<(), String> + Send + 'a>,
);

fn run_all(jobs: Vec<Job<'_>>) -> Result<()> {
    let errors: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = jobs.into_iter().map(|(n, f)| (n, s.spawn(f))).collect();
        hs.into_iter()
            .filter_map(|(n, h)| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{n}: {e}")),
                Err(_) => Some(format!("{n}: thread panicked")),
            })
            .collect()
    });
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ComposeError::Invalid(errors.join("\n")))
    }
}

/// Pulls the images of services that have an `image:` (services that only
/// build are skipped, as docker compose does; `ignore_failures` only warns).
pub fn pull(
    ctx: &Context,
    project: &Project,
    names: &[String],
    quiet: bool,
    ignore_failures: bool,
) -> Result<()> {
    let mut jobs: Vec<Job<'_>> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (n, s) in selected(project, names) {
        let Some(img) = s.image.clone() else { continue };
        if s.pull_policy.as_deref() == Some("build")
            || !seen.insert((img.clone(), s.platform.clone()))
        {
            continue;
        }
        let opts = Options {
            platform: s.platform.clone(),
            out: if quiet { Out::Quiet } else { Out::Stderr },
            ..Options::default()
        };
        let name = n.clone();
        jobs.push((
            n.clone(),
            Box::new(move || {
                crate::compose::progress::line("⠿", &name, "Pulling");
                match registry::pull(ctx, &img, &opts) {
                    Ok(_) => {
                        crate::compose::progress::line("✔", &name, "Pulled");
                        Ok(())
                    }
                    Err(e) if ignore_failures => {
                        eprintln!("WARN[0000] {name}: {e}");
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }),
        ));
    }
    run_all(jobs)
}

/// Pushes the images of services that build (their `image:` names the
/// target).
pub fn push(
    ctx: &Context,
    project: &Project,
    names: &[String],
    quiet: bool,
    ignore_failures: bool,
) -> Result<()> {
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for (n, s) in selected(project, names) {
        if s.build.is_none() {
            continue;
        }
        let img = project.image_of(n, s);
        let opts = Options {
            out: if quiet { Out::Quiet } else { Out::Stderr },
            ..Options::default()
        };
        let name = n.clone();
        jobs.push((
            n.clone(),
            Box::new(move || match registry::push(ctx, &img, &opts) {
                Ok(_) => {
                    crate::compose::progress::line("✔", &name, "Pushed");
                    Ok(())
                }
                Err(e) if ignore_failures => {
                    eprintln!("WARN[0000] {name}: {e}");
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }),
        ));
    }
    run_all(jobs)
}
