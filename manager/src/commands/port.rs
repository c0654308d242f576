//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the container's published
//! ports, as docker prints them.

use crate::container::{self, ContainerStore};
use crate::context::Context;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let rec = store.resolve(&args.container)?;
    let st = container::state(ctx, &rec);
    if !st.running {
        return Ok(0);
    }
    let ports = crate::network::published(ctx, &rec);
    match &args.port {
        Some(p) => {
            let key = if p.contains('/') {
                p.clone()
            } else {
                format!("{p}/tcp")
            };
            let found: Vec<_> = ports.iter().filter(|(k, _, _)| *k == key).collect();
            if found.is_empty() {
                bail!("No public port '{key}' published for {}", rec.name);
            }
            for (_, ip, port) in found {
                println!("{ip}:{port}");
            }
        }
        None => {
            for (k, ip, port) in &ports {
                println!("{k} -> {ip}:{port}");
            }
        }
    }
    Ok(0)
}
