//! `berth internal` (hidden): callbacks from the shim. `exited <id>` is the
//! shim's exit hook: the lifecycle's `on_exit`.

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Internal,
}

#[derive(clap::Subcommand, Debug)]
pub enum Internal {
    /// The container exited for good (the shim's exit hook)
    Exited { id: String },
    /// Serve a user network's names (its DNS responder; started by berth)
    Dns {
        network: String,
        /// An upstream resolver for other names (IP or IP:PORT)
        #[arg(long = "upstream")]
        upstreams: Vec<String>,
    },
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    match args.command {
        Internal::Exited { id } => {
            // The shim runs its exit hook as its child and waits for it: our
            // parent is the shim that reports the exit. `on_exit` ignores the
            // report when the container has a newer shim meanwhile.
            let shim_pid = crate::sys::process::parent_pid();
            crate::container::on_exit(ctx, &id, Some(shim_pid))?;
            Ok(0)
        }
        Internal::Dns { network, upstreams } => {
            match crate::network::names::responder::run(ctx, &network, &upstreams) {
                Ok(()) => Ok(0),
                Err(e) => {
                    // before "ready", stdout is what the starting berth reads
                    use std::io::Write;
                    let _ = writeln!(std::io::stdout(), "error: {e}");
                    eprintln!("berth internal dns {network}: {e}");
                    Ok(1)
                }
            }
        }
    }
}
