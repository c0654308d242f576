//! `berth import`: create an image from a rootfs tarball.

use crate::archive::import::{import_rootfs, ImportOptions};
use crate::context::Context;
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, ...)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set the history comment
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Set platform (os/arch) of the image
    #[arg(long)]
    pub platform: Option<String>,
    /// The tarball (plain, gzip or zstd); `-` reads standard input
    pub file: String,
    /// Name of the new image
    pub reference: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let (os, arch) = match args.platform.as_deref() {
        Some(p) => {
            let mut it = p.split('/');
            (it.next().map(String::from), it.next().map(String::from))
        }
        None => (None, None),
    };
    let opts = ImportOptions {
        changes: args.change,
        message: args.message,
        source: if args.file == "-" {
            "-".into()
        } else {
            args.file.clone()
        },
        platform_os: os,
        platform_arch: arch,
    };
    let input: Box<dyn Read> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .map_err(|e| anyhow::anyhow!("open {}: {e}", args.file))?,
        )
    };
    let rec = import_rootfs(&ctx.root, input, args.reference.as_deref(), &opts)
        .map_err(|e| anyhow::Error::new(e).context(args.file.clone()))?;
    println!("{}", rec.config);
    Ok(0)
}
