//! `berth system boot`: start the containers whose restart policy brings them
//! back after a reboot (`always`; `unless-stopped` unless a user stopped
//! them). Run once at boot by integration/boot/'s systemd unit or init script.

use crate::container::boot::boot;
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(ctx: &Context, _args: Args) -> anyhow::Result<i32> {
    let mut code = 0;
    for b in boot(ctx)? {
        match b.result {
            Ok(()) => println!("{}", b.name),
            Err(e) => {
                eprintln!("berth: {}: {e}", b.name);
                code = 1;
            }
        }
    }
    Ok(code)
}
