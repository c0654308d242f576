//! `berth create`: make a container from an image and the flags (the
//! lifecycle's `create`); prints its id.

use crate::cli::container_flags::CreateFlags;
use crate::container;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let (rec, _) = container::create(ctx, args.flags.to_options()?)?;
    args.flags.more.write_cidfile(&rec.id)?;
    println!("{}", rec.id);
    Ok(0)
}
