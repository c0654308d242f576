//! `berth compose exec`: run a command in a service's running container.

use super::ProjectFlags;
use crate::compose::oneoff::{self, ExecOptions};
use crate::container;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Run the command as this user
    #[arg(short, long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Disable pseudo-TTY allocation (default: a TTY when stdin is one)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Give extended privileges to the process (accepted; the container's set is used)
    #[arg(long)]
    pub privileged: bool,
    pub service: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    let term = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let opts = ExecOptions {
        exec: container::ExecOptions {
            command: args.command,
            env: args.env,
            user: args.user,
            workdir: args.workdir,
            tty: !args.no_tty && !args.detach && term,
            interactive: !args.detach,
            detach: args.detach,
            detach_keys: None,
        },
        index: args.index,
    };
    Ok(oneoff::exec(ctx, &name, &args.service, &opts)?)
}
