//! `berth image inspect`: docker-shaped JSON.

use crate::context::Context;
use crate::format::{Style, Template};
use crate::image::view::inspect_json;
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output using a Go-template subset ({{.Id}}, {{json .Config}})
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for name in &args.images {
        match inspect_json(ctx, name) {
            Ok(v) => out.push(v),
            Err(e) => missing.push(format!("{e:#}")),
        }
    }
    match &args.format {
        Some(f) => {
            let t = Template::parse(f, Style::Strict).map_err(anyhow::Error::msg)?;
            for v in &out {
                println!("{}", t.render(v).map_err(anyhow::Error::msg)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(out))?),
    }
    if !missing.is_empty() {
        anyhow::bail!("{}", missing.join("\n"));
    }
    Ok(0)
}
