//! `berth compose events`: stream the project's container events.

use super::ProjectFlags;
use crate::compose::events;
use crate::context::Context;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output events as a stream of json objects
    #[arg(long)]
    pub json: bool,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    events::watch(ctx, &name, &args.service, |e| {
        let line = if args.json { e.json() } else { e.text() };
        let mut o = std::io::stdout().lock();
        // A closed stdout (the reader went away) ends the stream.
        writeln!(o, "{line}").is_ok() && o.flush().is_ok()
    })?;
    Ok(0)
}
