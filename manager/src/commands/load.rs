//! `berth load`: load images from a docker-archive or OCI-layout tar.

use crate::archive::load::load;
use crate::context::Context;
use crate::image::reference::familiar;
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read from a tar archive file instead of standard input
    #[arg(short = 'i', long = "input")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let input: Box<dyn Read> = match args.input.as_deref() {
        Some(p) if p != "-" => {
            Box::new(std::fs::File::open(p).map_err(|e| anyhow::anyhow!("open {p}: {e}"))?)
        }
        _ => {
            let stdin = std::io::stdin();
            if std::io::IsTerminal::is_terminal(&stdin) {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            Box::new(stdin.lock())
        }
    };
    let from = match args.input.as_deref() {
        Some(p) if p != "-" => p,
        _ => "stdin",
    };
    let loaded =
        load(&ctx.root, input).map_err(|e| anyhow::Error::new(e).context(from.to_string()))?;
    if !args.quiet {
        for l in &loaded {
            if l.names.is_empty() {
                println!("Loaded image ID: {}", l.record.config);
            }
            for n in &l.names {
                println!("Loaded image: {}", familiar(n));
            }
        }
    }
    Ok(0)
}
