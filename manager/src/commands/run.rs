//! `berth run`: create and start a container; in the foreground, attach to it
//! and return its exit code (docker's: 125 for berth's own errors, 126/127 when
//! the command cannot be run).

use crate::cli::container_flags::CreateFlags;
use crate::container::{self, ContainerStore, LifecycleError, StartMode};
use crate::context::Context;
use crate::shim_client::{Attach, AttachEnd};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub flags: CreateFlags,
}

/// A failed start (the library already cleaned up and removed a `--rm`
/// container): print the error and return docker's code for it.
fn start_error(e: LifecycleError) -> anyhow::Result<i32> {
    match e {
        LifecycleError::StartFailed { code, msg } if code != 125 => {
            eprintln!("berth: {msg}");
            Ok(code)
        }
        e => Err(e.into()),
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let (rec, image) = container::create(ctx, args.flags.to_options()?)?;
    args.flags.more.write_cidfile(&rec.id)?;
    let store = ContainerStore::open(ctx)?;
    let c = container::lock(&store, &rec.id)?;
    if args.detach {
        return match container::start_with_image(ctx, &c, StartMode::Now, Some(image)) {
            Ok(started) => {
                debug_assert!(started.pid > 0);
                println!("{}", rec.id);
                crate::timing::mark("run: id printed");
                Ok(0)
            }
            Err(e) => start_error(e),
        };
    }
    if let Err(e) = container::start_with_image(ctx, &c, StartMode::CreateOnly, Some(image)) {
        return start_error(e);
    }
    let stdin = args.flags.interactive;
    let att = match Attach::connect(
        &rec.shim_dir(ctx).join("attach.sock"),
        stdin,
        args.detach_keys.as_deref(),
    ) {
        Ok(a) => a,
        Err(e) => return start_error(container::start::abort(ctx, &c, e.to_string())),
    };
    if let Err(e) = container::start_created(ctx, &c) {
        return start_error(e);
    }
    crate::timing::mark("run: started");
    let shim_pid = container::state(ctx, &c).shim_pid;
    // The lock is not held while the container runs: stop, kill and the
    // shim's exit hook take it.
    drop(c);
    match att.pump(stdin, rec.config.tty)? {
        AttachEnd::Exited(code) => {
            crate::timing::mark("run: exited");
            container::on_exit(ctx, &rec.id, Some(shim_pid))?;
            crate::timing::mark("run: on_exit done");
            Ok(code)
        }
        AttachEnd::Detached => Ok(0),
    }
}
