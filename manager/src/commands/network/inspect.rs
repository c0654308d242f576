//! `berth network inspect NAME...`: docker's JSON array with the attached
//! containers (or `--format`).

use crate::context::Context;
use crate::format::{Style, Template};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output with a Go-style template ({{.Name}}, {{json .}})
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    crate::network::list(ctx)?; // predefined networks exist, crashes repaired
    let mut found = Vec::new();
    let mut code = 0;
    for name in &args.names {
        match crate::network::get(ctx, name) {
            Ok(n) => found.push(crate::network::network_inspect(ctx, &n)),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    match &args.format {
        Some(f) => {
            let t = Template::parse(f, Style::Row).map_err(anyhow::Error::msg)?;
            for v in &found {
                println!("{}", t.render(v).map_err(anyhow::Error::msg)?);
            }
        }
        None => {
            use serde::Serialize;
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde_json::Value::Array(found).serialize(&mut ser)?;
            println!("{}", String::from_utf8_lossy(&buf));
        }
    }
    Ok(code)
}
