//! `berth compose down` (and `berth down`): stop and remove the project's
//! containers (dependents first), and with `-v` its volumes.

use super::ProjectFlags;
use crate::compose::engine::{self, DownOptions};
use crate::context::Context;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove images used by services ("local"|"all")
    #[arg(long)]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    // The files are optional for down: without them, the project is found by
    // its name (-p or COMPOSE_PROJECT_NAME) and its containers' labels.
    let project = match super::load(flags, &[]) {
        Ok(p) => Some(p),
        Err(e)
            if flags.project_name.is_some()
                || std::env::var_os("COMPOSE_PROJECT_NAME").is_some() =>
        {
            eprintln!("WARN[0000] {e:#}; removing the project's containers by their labels");
            None
        }
        Err(e) => return Err(e),
    };
    let name = match &project {
        Some(p) => p.name.clone(),
        None => super::project_name(flags)?,
    };
    let opts = DownOptions {
        volumes: args.volumes,
        remove_orphans: args.remove_orphans,
        timeout: super::up::timeout(args.timeout),
        rmi: args.rmi.clone(),
    };
    engine::down(ctx, &name, project.as_ref(), &opts)?;
    Ok(0)
}
