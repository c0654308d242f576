//! `berth start`: start created or exited containers; with `-a`, attach to one
//! and return its exit code.

use crate::container::{self, ContainerStore, StartMode};
use crate::context::Context;
use crate::shim_client::{Attach, AttachEnd};
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    if args.attach && args.containers.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    let mut failed = false;
    for name in &args.containers {
        let c = match container::lock_by_name(&store, name) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
                continue;
            }
        };
        if container::state(ctx, &c).running {
            if !args.attach {
                println!("{name}");
            }
            continue;
        }
        if args.attach {
            container::start(ctx, &c, StartMode::CreateOnly)?;
            let att = match Attach::connect(
                &c.shim_dir(ctx).join("attach.sock"),
                args.interactive,
                args.detach_keys.as_deref(),
            ) {
                Ok(a) => a,
                Err(e) => return Err(container::start::abort(ctx, &c, e.to_string()).into()),
            };
            container::start_created(ctx, &c)?;
            let (id, tty) = (c.id.clone(), c.config.tty);
            let shim_pid = container::state(ctx, &c).shim_pid;
            drop(c);
            return match att.pump(args.interactive, tty)? {
                AttachEnd::Exited(code) => {
                    container::on_exit(ctx, &id, Some(shim_pid))?;
                    Ok(code)
                }
                AttachEnd::Detached => Ok(0),
            };
        }
        match container::start(ctx, &c, StartMode::Now) {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
