//! `berth compose port`: the public port of a service's port binding.

use super::ProjectFlags;
use crate::context::Context;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: u16,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let project = super::load(flags, std::slice::from_ref(&args.service))?;
    let svc = &project.services[&args.service];
    if svc.network_mode.as_deref() == Some("host") {
        // On the host's network the container's port is the host's.
        println!("0.0.0.0:{}", args.private_port);
        return Ok(0);
    }
    let members =
        crate::compose::engine::select(ctx, &project.name, std::slice::from_ref(&args.service))?;
    let Some(m) = members.iter().find(|m| m.number == args.index) else {
        bail!(
            "service \"{}\" is not running container #{}",
            args.service,
            args.index
        );
    };
    let want = format!("{}/{}", args.private_port, args.protocol);
    let found: Vec<String> = crate::network::published(ctx, &m.rec)
        .into_iter()
        .filter(|(cp, _, _)| *cp == want)
        .map(|(_, ip, hp)| format!("{ip}:{hp}"))
        .collect();
    match found.first() {
        Some(f) => {
            println!("{f}");
            Ok(0)
        }
        None => bail!("no port {want} for container {}", m.rec.name),
    }
}
