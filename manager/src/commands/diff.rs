//! `berth diff`: the files a container changed (`C`), added (`A`) and
//! deleted (`D`) against its image.

use crate::container::{commit, ContainerStore};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub container: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let rec = store.resolve(&args.container)?;
    let mut out = String::new();
    for c in commit::changes(ctx, &rec)? {
        out.push(c.kind.letter());
        out.push(' ');
        out.push_str(&c.path);
        out.push('\n');
    }
    print!("{out}");
    Ok(0)
}
