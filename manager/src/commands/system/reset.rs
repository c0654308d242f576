//! `berth system reset [-f]`: remove every container, volume, network (the
//! default bridge too), image and the build cache, the root's cgroup
//! parents, and the root and state directories (manager/src/system/reset.rs).

use crate::context::Context;
use crate::system::reset::{check, reset};
use std::io::{BufRead, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    // Refused (/, a mount point) before asking: nothing to confirm then.
    let targets = check(ctx)?;
    if !args.force && !confirmed(ctx)? {
        return Ok(0);
    }
    let r = reset(ctx, &targets);
    let list = |what: &str, items: &[String]| {
        if !items.is_empty() {
            println!("Deleted {what}:");
            items.iter().for_each(|i| println!("{i}"));
            println!();
        }
    };
    list("Containers", &r.containers);
    list("Networks", &r.networks);
    list("Volumes", &r.volumes);
    list("Images", &r.images);
    if r.cache_objects > 0 {
        println!("Deleted build cache objects: {}\n", r.cache_objects);
    }
    let paths = |p: &[std::path::PathBuf]| -> Vec<String> {
        p.iter().map(|d| d.display().to_string()).collect()
    };
    list("cgroups", &paths(&r.cgroups));
    list("directories", &paths(&r.dirs));
    if !r.left.is_empty() {
        anyhow::bail!(
            "system reset did not remove everything; left:\n  - {}\n\
             (run `berth system reset` again once that is dealt with)",
            r.left.join("\n  - ")
        );
    }
    Ok(0)
}

/// Ask on stdout, read the answer from stdin. As podman does, stdin is read
/// whether it is a terminal or not (`echo y | berth system reset` answers
/// yes; a script wanting no question passes -f), an answer starting with y
/// or Y is yes and any other is no (exit 0, nothing removed). Podman fails
/// when stdin ends before a newline; berth takes a last line without one
/// (`printf y`) as the answer, and fails only when stdin gives nothing at
/// all: no answer is no consent, and silently doing nothing would let a
/// script believe it reset.
fn confirmed(ctx: &Context) -> anyhow::Result<bool> {
    print!(
        "WARNING! This will remove:\n\
         \x20 - all containers (running ones are killed)\n\
         \x20 - all networks (the default bridge too)\n\
         \x20 - all volumes\n\
         \x20 - all images\n\
         \x20 - all build cache\n\
         \x20 - the root directory: {:?}\n\
         \x20 - the state directory: {:?}\n\
         Are you sure you want to continue? [y/N] ",
        ctx.root, ctx.state
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    let n = std::io::stdin().lock().read_line(&mut answer)?;
    if n == 0 {
        anyhow::bail!(
            "system reset: no answer on stdin (it ended); use -f to reset without asking"
        );
    }
    Ok(answer.trim_start().starts_with(['y', 'Y']))
}
