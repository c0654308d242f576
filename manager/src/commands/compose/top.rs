//! `berth compose top`: the processes of the services' containers.

use super::ProjectFlags;
use crate::compose::{engine, top};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    for m in engine::select(ctx, &name, &args.service)? {
        let st = crate::container::state(ctx, &m.rec);
        if !st.running || st.pid <= 0 {
            continue;
        }
        println!("{}", m.rec.name);
        print!("{}", top::ps(&top::container_pids(st.pid)?)?);
        println!();
    }
    Ok(0)
}
