//! `berth volume inspect NAME...`: docker's JSON array (or `--format`).

use crate::context::Context;
use crate::format::{Style, Template};
use crate::volume::VolumeStore;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output with a Go-style template ({{.Name}}, {{json .}})
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = VolumeStore::open(ctx)?;
    let mut found = Vec::new();
    let mut code = 0;
    for name in &args.names {
        match store.get(name)? {
            Some(v) => found.push(v.inspect_json()),
            None => {
                eprintln!("Error: No such volume: {name}");
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
        None => println!("{}", pretty(&serde_json::Value::Array(found))),
    }
    Ok(code)
}

/// docker's inspect layout: 4-space indentation.
pub fn pretty(v: &serde_json::Value) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser).expect("JSON serializes");
    String::from_utf8(buf).expect("JSON is UTF-8")
}
