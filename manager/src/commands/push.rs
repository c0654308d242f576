//! `berth push`: upload an image to a registry.

use crate::context::Context;
use crate::registry::{self, Options, Out};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Allow plain HTTP and any certificate for this registry (host:port; repeatable;
    /// also $BERTH_INSECURE_REGISTRIES, comma-separated)
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Use plain HTTP without trying HTTPS (loopback and insecure registries only)
    #[arg(long)]
    pub plain_http: bool,
    /// Suppress the progress output
    #[arg(short, long)]
    pub quiet: bool,
    /// Image name: NAME[:TAG] (give a local image this name first with `berth tag`)
    pub name: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let opts = Options {
        platform: None,
        insecure_registries: args.insecure_registry,
        plain_http: args.plain_http,
        out: if args.quiet { Out::Quiet } else { Out::Stdout },
        jobs: 0,
    };
    registry::push(ctx, &args.name, &opts)?;
    Ok(0)
}
