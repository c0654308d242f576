//! `berth network create NAME`: a user bridge network.

use crate::context::Context;
use crate::network::CreateRequest;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub name: String,
    /// Driver to manage the Network (bridge)
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment (one IPv4
    /// and, with --ipv6, one IPv6)
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long)]
    pub ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Enable manual container attachment (accepted; every berth network is)
    #[arg(long)]
    pub attachable: bool,
    /// Set driver specific options (mtu=N, com.docker.network.bridge.name=NAME)
    #[arg(short = 'o', long = "opt")]
    pub opts: Vec<String>,
    /// Set metadata on a network
    #[arg(long = "label")]
    pub labels: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let (subnet, subnet6) = crate::network::split_families("--subnet", &args.subnet)?;
    let (gateway, gateway6) = crate::network::split_families("--gateway", &args.gateway)?;
    let (ip_range, ip_range6) = crate::network::split_families("--ip-range", &args.ip_range)?;
    let n = crate::network::create(
        ctx,
        CreateRequest {
            name: args.name,
            driver: args.driver,
            subnet,
            gateway,
            ip_range,
            subnet6,
            gateway6,
            ip_range6,
            internal: args.internal,
            ipv6: args.ipv6,
            attachable: args.attachable,
            options: super::key_values(&args.opts),
            labels: super::key_values(&args.labels),
        },
    )?;
    println!("{}", n.id);
    Ok(0)
}
