//! `berth network create NAME`: a user bridge network.

use crate::context::Context;
use crate::network::CreateRequest;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub name: String,
    /// Driver to manage the Network (bridge)
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// Allocate container ip from a sub-range
    #[arg(long)]
    pub ip_range: Option<String>,
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
    let n = crate::network::create(
        ctx,
        CreateRequest {
            name: args.name,
            driver: args.driver,
            subnet: args.subnet,
            gateway: args.gateway,
            ip_range: args.ip_range,
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
