//! `berth compose ls`: the projects that have containers.

use crate::compose::{observe, planner};
use crate::context::Context;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all stopped compose projects too
    #[arg(short, long)]
    pub all: bool,
    /// Only display project names
    #[arg(short, long)]
    pub quiet: bool,
    /// Format the output: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    for (name, members) in observe::all_projects(ctx)? {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for m in &members {
            *counts.entry(m.state.as_str()).or_default() += 1;
        }
        if !args.all && !counts.contains_key("running") {
            continue;
        }
        let status: Vec<String> = counts.iter().map(|(s, n)| format!("{s}({n})")).collect();
        let files = members
            .iter()
            .find_map(|m| m.label(planner::LABEL_CONFIG_FILES))
            .unwrap_or_default()
            .to_string();
        rows.push((name, status.join(", "), files));
    }
    if args.quiet {
        for (n, _, _) in rows {
            println!("{n}");
        }
        return Ok(0);
    }
    match args.format.as_str() {
        "table" => {
            let mut cells = vec![vec![
                "NAME".to_string(),
                "STATUS".into(),
                "CONFIG FILES".into(),
            ]];
            cells.extend(rows.into_iter().map(|(a, b, c)| vec![a, b, c]));
            print!("{}", crate::format::table::tabulate_cells(&cells));
        }
        "json" => {
            let v: Vec<serde_json::Value> = rows
                .into_iter()
                .map(|(n, s, f)| serde_json::json!({"Name": n, "Status": s, "ConfigFiles": f}))
                .collect();
            println!("{}", serde_json::Value::Array(v));
        }
        f => bail!("unsupported --format {f:?} (table or json)"),
    }
    Ok(0)
}
