//! `berth cp`: copy files between a container and the host (`container::copy`,
//! docker's semantics).

use crate::container::copy::{self, CopyOptions};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow a symbolic link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output (berth prints none)
    #[arg(short, long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, a host path, or - (a tar stream on stdin)
    pub src: String,
    /// CONTAINER:DEST_PATH, a host path, or - (a tar stream to stdout)
    pub dest: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let src = copy::parse_endpoint(&args.src);
    let dst = copy::parse_endpoint(&args.dest);
    let opts = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
        src: args.src,
        dest: args.dest,
    };
    copy::copy(ctx, &src, &dst, &opts)?;
    Ok(0)
}
