//! `berth exec`: run a process in a running container (`container::exec`).

use crate::container::{self, ContainerStore, ExecOptions};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Give extended privileges to the command (accepted; the container's set is used)
    #[arg(long)]
    pub privileged: bool,
    /// Override the key sequence for detaching
    #[arg(long)]
    pub detach_keys: Option<String>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let rec = store.resolve(&args.container)?;
    let opts = ExecOptions {
        command: args.command,
        env: args.env,
        user: args.user,
        workdir: args.workdir,
        tty: args.tty,
        interactive: args.interactive,
        detach: args.detach,
        detach_keys: args.detach_keys,
    };
    Ok(container::exec(ctx, &rec, &opts)?)
}
