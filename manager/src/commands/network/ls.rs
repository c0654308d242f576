//! `berth network ls`: NETWORK ID, NAME, DRIVER, SCOPE.

use super::Filter;
use crate::context::Context;
use crate::format::{tabulate, Style, Template};
use crate::network::model::Network;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: driver=, id=, label=, name=, scope=, type=custom|builtin, dangling=
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Format the output with a Go-style template ("table {{.Name}}", "{{json .}}")
    #[arg(long)]
    pub format: Option<String>,
}

fn row(n: &Network, trunc: bool) -> serde_json::Value {
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    serde_json::json!({
        "ID": if trunc { &n.id[..12.min(n.id.len())] } else { n.id.as_str() },
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope,
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": n.created,
    })
}

fn title(f: &str) -> String {
    match f {
        "ID" => "NETWORK ID".into(),
        "CreatedAt" => "CREATED AT".into(),
        other => other.to_uppercase(),
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let filter = Filter::parse(&args.filters)?;
    let nets: Vec<Network> = crate::network::list(ctx)?
        .into_iter()
        .filter(|n| {
            filter.matches(n, || {
                crate::network::in_use_by(ctx, n).is_ok_and(|u| !u.is_empty())
            })
        })
        .collect();
    let trunc = !args.no_trunc;
    if args.quiet {
        for n in &nets {
            println!("{}", row(n, trunc)["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let format = args
        .format
        .unwrap_or_else(|| "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".to_string());
    let t = Template::parse(&format, Style::Row).map_err(anyhow::Error::msg)?;
    let mut lines = Vec::new();
    if t.is_table() {
        lines.push(t.header(&title));
    }
    for n in &nets {
        lines.push(t.render(&row(n, trunc)).map_err(anyhow::Error::msg)?);
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
