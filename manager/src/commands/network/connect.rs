//! `berth network connect NETWORK CONTAINER`.

use crate::container::ContainerStore;
use crate::container::EndpointSettings;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub network: String,
    pub container: String,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// Add a link to another container (accepted as an alias on user networks)
    #[arg(long)]
    pub link: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    if let Some(ip) = &args.ip {
        ip.parse::<std::net::Ipv4Addr>()
            .map_err(|_| anyhow::anyhow!("invalid IPv4 address: {ip}"))?;
    }
    if let Some(ip) = &args.ip6 {
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| anyhow::anyhow!("invalid IPv6 address: {ip}"))?;
    }
    let store = ContainerStore::open(ctx)?;
    let rec = store.resolve(&args.container)?;
    let _lock = store.lock(&rec.id)?;
    let mut rec = store.load(&rec.id)?;
    let mut aliases = args.alias.clone();
    aliases.extend(
        args.link
            .iter()
            .filter_map(|l| l.split_once(':').map(|(_, a)| a.to_string())),
    );
    crate::network::connect(
        ctx,
        &mut rec,
        &args.network,
        EndpointSettings {
            aliases,
            ipv4_address: args.ip,
            ipv6_address: args.ip6,
            mac_address: None,
        },
    )?;
    Ok(0)
}
