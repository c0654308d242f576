//! `berth network rm NAME...`.

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in &args.names {
        match crate::network::remove(ctx, name) {
            Ok(_) => println!("{name}"),
            Err(crate::network::NetworkError::NotFound(_)) if args.force => {}
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
