//! `berth logout`: remove stored credentials for a registry from berth's
//! `<root>/auth.json` (docker's own config.json is never written).

use crate::context::Context;
use crate::registry::auth;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Registry (host[:port]; default docker.io)
    pub registry: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let registry = crate::registry::auth::registry_name(args.registry.as_deref());
    if auth::remove(&ctx.root, &registry)? {
        println!("Removing login credentials for {registry}");
    } else if let Some(f) = auth::in_docker_config(&registry) {
        println!(
            "Not logged in to {registry} with berth; the credentials in {} are docker's and were left alone",
            f.display()
        );
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(0)
}
