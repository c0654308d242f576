//! `berth compose cp`: copy files between a service's container and the host.

use super::ProjectFlags;
use crate::context::Context;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    pub source: String,
    pub destination: String,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    // SERVICE:PATH names the service's replica; berth cp does the copy once
    // the copy code moves from its verb into a library.
    let service_of = |s: &str| s.split_once(':').map(|(a, _)| a.to_string());
    let svc = service_of(&args.source).or_else(|| service_of(&args.destination));
    let Some(svc) = svc else {
        bail!("cp: one of SOURCE and DESTINATION must be SERVICE:PATH");
    };
    let members = crate::compose::engine::select(ctx, &name, std::slice::from_ref(&svc))?;
    let c = members
        .iter()
        .find(|m| m.number == args.index)
        .map(|m| m.rec.name.clone())
        .unwrap_or_else(|| format!("{name}-{svc}-{}", args.index));
    bail!("berth compose cp is not supported yet: run `berth cp` with the container's name ({c})")
}
