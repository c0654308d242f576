//! `berth compose run`: a one-off container of a service.

use super::ProjectFlags;
use crate::compose::engine::{self, UpFlags};
use crate::compose::oneoff::{self, RunOptions};
use crate::compose::planner::{self, UpOptions};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Bind mount a volume
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(long)]
    pub service_ports: bool,
    /// Override the entrypoint of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Run as specified username or uid
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Add or override a label
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Disable pseudo-TTY allocation
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let project = super::load(flags, std::slice::from_ref(&args.service))?;
    if !args.no_deps {
        let mut deps: Vec<String> =
            planner::with_dependencies(&project, std::slice::from_ref(&args.service))
                .into_iter()
                .collect();
        deps.retain(|d| d != &args.service);
        if !deps.is_empty() {
            let up = UpFlags {
                plan: UpOptions {
                    services: deps,
                    ..UpOptions::default()
                },
                ..UpFlags::default()
            };
            engine::up(ctx, &project, &up)?;
        }
    }
    let interactive_tty = std::io::IsTerminal::is_terminal(&std::io::stdin())
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let opts = RunOptions {
        command: args.command,
        entrypoint: args
            .entrypoint
            .map(|e| shlex::split(&e).unwrap_or_else(|| vec![e])),
        env: args.env,
        volumes: args.volume,
        user: args.user,
        workdir: args.workdir,
        name: args.name,
        remove: args.rm,
        detach: args.detach,
        tty: !args.no_tty && !args.detach && interactive_tty,
        interactive: (args.interactive || interactive_tty) && !args.detach,
        labels: args.label,
        service_ports: args.service_ports,
        publish: args.publish,
    };
    Ok(oneoff::run(ctx, &project, &args.service, &opts)?)
}
