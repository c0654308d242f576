//! `berth compose config`: the project as berth resolved it.

use super::ProjectFlags;
use crate::context::Context;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the profile names, one per line
    #[arg(long)]
    pub profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Format the output: yaml or json
    #[arg(long, default_value = "yaml")]
    pub format: String,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    pub quiet: bool,
    /// Save to file (default to stdout)
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    /// Services to show
    pub service: Vec<String>,
}

pub fn run(_ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let mut project = super::load(flags, &args.service)?;
    if args.quiet {
        return Ok(0);
    }
    if !args.service.is_empty() {
        project.services.retain(|n, _| args.service.contains(n));
    }
    let text = if args.services {
        lines(project.services.keys())
    } else if args.volumes {
        lines(project.volumes.keys())
    } else if args.profiles {
        let mut all: Vec<&String> = project
            .services
            .values()
            .chain(project.disabled.values())
            .flat_map(|s| &s.profiles)
            .collect();
        all.sort();
        all.dedup();
        lines(all.into_iter())
    } else if args.images {
        lines(project.services.iter().map(|(n, s)| {
            s.image
                .clone()
                .unwrap_or_else(|| format!("{}-{n}", project.name))
        }))
    } else {
        match args.format.as_str() {
            "yaml" => crate::compose::output::to_yaml(&project),
            "json" => crate::compose::output::to_json(&project) + "\n",
            f => bail!("unsupported --format {f:?} (yaml or json)"),
        }
    };
    match args.output {
        Some(p) => std::fs::write(&p, text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(0)
}

fn lines<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| format!("{i}\n")).collect()
}
