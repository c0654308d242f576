//! `berth search`: repositories of a registry (its catalog) matching a term.

use crate::cli::registry_args::RegistryArgs;
use crate::context::Context;
use crate::format::{tabulate, Style, Template};
use anyhow::anyhow;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Filter output based on conditions provided (not supported: a catalog has no stars)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// HOST[:PORT]/TERM
    pub term: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    if let Some(f) = args.filter.first() {
        anyhow::bail!("search --filter {f:?}: not supported (a registry catalog has no stars or official flags)");
    }
    let term = args.term.clone();
    let opts = args.registry.options(None, true);
    let found = crate::registry::search::search(ctx, &term, args.limit, &opts)?;
    let registry = crate::registry::search::split_term(&term)
        .map(|(r, _)| r)
        .unwrap_or("");
    let rows: Vec<_> = found
        .iter()
        .map(|r| json!({"Name": format!("{registry}/{r}"), "Description": "", "StarCount": 0, "IsOfficial": false, "IsAutomated": false}))
        .collect();
    match args.format.as_deref() {
        Some(f) => {
            let t = Template::parse(f, Style::Go).map_err(|e| anyhow!(e))?;
            for r in &rows {
                println!("{}", t.render(r).map_err(|e| anyhow!(e))?);
            }
        }
        None => {
            let mut lines = vec!["NAME\tDESCRIPTION\tSTARS\tOFFICIAL\tAUTOMATED".to_string()];
            for r in &rows {
                lines.push(format!("{}\t\t0\t\t", r["Name"].as_str().unwrap_or("")));
            }
            print!("{}", tabulate(&lines));
        }
    }
    Ok(0)
}
