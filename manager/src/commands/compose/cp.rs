//! `berth compose cp`: copy files between a service's container and the host.

use super::ProjectFlags;
use crate::container::copy::{self, CopyOptions, Endpoint};
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
    let src = copy::parse_endpoint(&args.source);
    let dst = copy::parse_endpoint(&args.destination);
    // SERVICE:PATH names the service's replica `--index`; the copy is the
    // container library's, as for `berth cp`.
    let svc = match (&src, &dst) {
        (Endpoint::Container(..), Endpoint::Container(..)) => {
            bail!("copying between services is not supported")
        }
        (Endpoint::Container(s, _), _) | (_, Endpoint::Container(s, _)) => s.clone(),
        _ => bail!("cp: one of SOURCE and DESTINATION must be SERVICE:PATH"),
    };
    let members = crate::compose::engine::select(ctx, &name, std::slice::from_ref(&svc))?;
    let Some(m) = members.iter().find(|m| m.number == args.index) else {
        bail!("service {svc:?} has no container with index {}", args.index);
    };
    let in_container = |e: Endpoint| match e {
        Endpoint::Container(_, p) => Endpoint::Container(m.rec.name.clone(), p),
        e => e,
    };
    let opts = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
        src: args.source.clone(),
        dest: args.destination.clone(),
    };
    copy::copy(ctx, &in_container(src), &in_container(dst), &opts)?;
    Ok(0)
}
