//! `berth volume rm [-f] NAME...`.

use crate::context::Context;
use crate::volume::{users, VolumeError, VolumeStore};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not fail on a missing volume
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = VolumeStore::open(ctx)?;
    let mut code = 0;
    for name in &args.names {
        // A volume in use stays even with -f, as in docker.
        match store.remove(name, &users(ctx, name)) {
            Ok(()) => println!("{name}"),
            Err(VolumeError::NotFound(_)) if args.force => {}
            Err(e) => {
                eprintln!("berth: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
