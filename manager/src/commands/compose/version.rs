//! `berth compose version`.

use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output: pretty or json
    #[arg(short, long, default_value = "pretty")]
    pub format: String,
    /// Show only the version number
    #[arg(long)]
    pub short: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let v = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{v}");
    } else {
        match args.format.as_str() {
            "pretty" => println!(
                "berth compose version v{v} (compose file format of docker compose v{})",
                crate::compose::planner::COMPOSE_VERSION
            ),
            "json" => println!("{}", serde_json::json!({ "version": format!("v{v}") })),
            f => bail!("unsupported --format {f:?} (pretty or json)"),
        }
    }
    Ok(0)
}
