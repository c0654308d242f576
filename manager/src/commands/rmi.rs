//! `berth rmi`: remove image names; an image whose last name goes is deleted
//! with the blobs and snapshots nothing else uses (`image::remove`).

use crate::context::Context;
use crate::image::remove;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Force removal of the image (untag it even if a container uses it)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents (accepted for compatibility)
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let outcome = remove::remove(&ctx.root, &args.images, args.force)?;
    let mut errors = Vec::new();
    for (_, r) in outcome.results {
        match r {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(0)
}
