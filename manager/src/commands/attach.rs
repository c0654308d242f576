//! `berth attach`: connect the terminal to a running container's stdio through
//! the shim's attach socket (detach keys: ctrl-p,ctrl-q by default).

use crate::container::{self, ContainerStore};
use crate::context::Context;
use crate::shim_client::{Attach, AttachEnd};
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process (accepted)
    #[arg(long, default_value_t = true)]
    pub sig_proxy: bool,
    pub container: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let rec = store.resolve(&args.container)?;
    let st = container::state(ctx, &rec);
    if !st.running || !st.shim_alive {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if st.paused {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let stdin = !args.no_stdin && rec.config.open_stdin;
    let att = Attach::connect(
        &rec.shim_dir(ctx).join("attach.sock"),
        stdin,
        args.detach_keys.as_deref(),
    )?;
    match att.pump(stdin, rec.config.tty)? {
        AttachEnd::Exited(code) => {
            container::on_exit(ctx, &rec.id, Some(st.shim_pid))?;
            Ok(code)
        }
        AttachEnd::Detached => {
            eprintln!("read escape sequence");
            Ok(0)
        }
    }
}
