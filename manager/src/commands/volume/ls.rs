//! `berth volume ls`: DRIVER and VOLUME NAME.

use super::Filter;
use crate::context::Context;
use crate::format::{tabulate, Style, Template};
use crate::volume::{users, Volume, VolumeStore};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter: dangling=true|false, name=..., label=key[=value], driver=local
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Format the output with a Go-style template ("table {{.Name}}", "{{json .}}")
    #[arg(long)]
    pub format: Option<String>,
}

/// The fields a `--format` template sees (docker's names).
pub fn row(v: &Volume) -> serde_json::Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, l)| format!("{k}={l}")).collect();
    serde_json::json!({
        "Name": v.name,
        "Driver": v.driver,
        "Scope": "local",
        "Mountpoint": v.mountpoint.to_string_lossy(),
        "Labels": labels.join(","),
        "CreatedAt": v.created,
        "Size": "N/A",
        "Availability": "N/A",
        "Group": "N/A",
        "Status": "N/A",
        "Links": "N/A",
    })
}

fn title(field: &str) -> String {
    match field {
        "Name" => "VOLUME NAME".into(),
        "Mountpoint" => "MOUNTPOINT".into(),
        "CreatedAt" => "CREATED".into(),
        other => other.to_uppercase(),
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let filter = Filter::parse(&args.filters)?;
    let store = VolumeStore::open(ctx)?;
    let vols: Vec<Volume> = store
        .list()?
        .into_iter()
        .filter(|v| {
            let in_use = !filter.has("dangling") || !users(ctx, &v.name).is_empty();
            filter.matches(v, in_use)
        })
        .collect();
    if args.quiet {
        for v in &vols {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    let format = args
        .format
        .unwrap_or_else(|| "table {{.Driver}}\t{{.Name}}".to_string());
    let t = Template::parse(&format, Style::Row).map_err(anyhow::Error::msg)?;
    let mut lines = Vec::new();
    if t.is_table() {
        lines.push(t.header(&title));
    }
    for v in &vols {
        lines.push(t.render(&row(v)).map_err(anyhow::Error::msg)?);
    }
    if t.is_table() {
        print!("{}", tabulate(&lines));
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(0)
}
