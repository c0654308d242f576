//! `berth run`: create and start a container; in the foreground, attach to it
//! and return its exit code (docker's: 125 for berth's own errors, 126/127 when
//! the command cannot be run).

use super::create::{create_container, CreateFlags};
use super::start::{attach_and_start, handle_exited, start_container, StartFailed};
use crate::container::{ContainerRecord, ContainerStore};
use crate::context::Context;

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

/// A failed start: remove a `--rm` container, print the error, docker's code.
fn start_error(
    ctx: &Context,
    store: &ContainerStore,
    rec: &ContainerRecord,
    e: anyhow::Error,
) -> anyhow::Result<i32> {
    if rec.host_config.auto_remove {
        let _lock = store.lock(&rec.id)?;
        super::rm::remove_container(ctx, store, rec, true)?;
    }
    match e.downcast_ref::<StartFailed>() {
        Some(f) if f.code != 125 => {
            eprintln!("berth: {}", f.msg);
            Ok(f.code)
        }
        _ => Err(e),
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let (rec, image) = create_container(ctx, &args.flags)?;
    let store = ContainerStore::open(ctx)?;
    let lock = store.lock(&rec.id)?;
    if args.detach {
        let r = start_container(ctx, &rec, Some(image), true);
        drop(lock);
        return match r {
            Ok(s) => {
                debug_assert!(s.pid > 0);
                println!("{}", rec.id);
                Ok(0)
            }
            Err(e) => start_error(ctx, &store, &rec, e),
        };
    }
    let r = start_container(ctx, &rec, Some(image), false);
    drop(lock);
    if let Err(e) = r {
        return start_error(ctx, &store, &rec, e);
    }
    match attach_and_start(
        ctx,
        &rec,
        args.flags.interactive,
        args.detach_keys.as_deref(),
    ) {
        Ok(Some(code)) => {
            handle_exited(ctx, &rec.id, None)?;
            Ok(code)
        }
        Ok(None) => Ok(0),
        Err(e) => start_error(ctx, &store, &rec, e),
    }
}
