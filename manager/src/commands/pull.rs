//! `berth pull`: download an image from a registry.

use crate::context::Context;
use crate::registry::{self, Options, Out};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pull this platform of a multi-platform image (os/arch[/variant]; default: this host's)
    #[arg(long)]
    pub platform: Option<String>,
    /// Allow plain HTTP and any certificate for this registry (host:port; repeatable;
    /// also $BERTH_INSECURE_REGISTRIES, comma-separated)
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Use plain HTTP without trying HTTPS (loopback and insecure registries only)
    #[arg(long)]
    pub plain_http: bool,
    /// Suppress the progress output (print only the image name)
    #[arg(short, long)]
    pub quiet: bool,
    /// Image name: NAME[:TAG|@DIGEST]
    pub name: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let opts = Options {
        platform: args.platform,
        insecure_registries: args.insecure_registry,
        plain_http: args.plain_http,
        out: if args.quiet { Out::Quiet } else { Out::Stdout },
        jobs: 0,
    };
    let record = registry::pull(ctx, &args.name, &opts)?;
    println!("{}", record.name);
    Ok(0)
}
