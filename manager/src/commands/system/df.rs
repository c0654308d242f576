//! `berth system df`: disk usage by images, containers and volumes.

use crate::context::Context;
use crate::format::{human_size, since, tabulate};
use crate::system::Usage;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Pretty-print using a Go template
    #[arg(long)]
    pub format: Option<String>,
}

fn summary(kind: &str, rows: &[Usage], reclaimable: impl Fn(&Usage) -> bool) -> String {
    let total: u64 = rows.iter().map(|u| u.size).sum();
    let active = rows.iter().filter(|u| u.users > 0).count();
    let rec: u64 = rows.iter().filter(|u| reclaimable(u)).map(|u| u.size).sum();
    let pct = (rec * 100).checked_div(total).unwrap_or(0);
    format!(
        "{kind}\t{}\t{active}\t{}\t{} ({pct}%)",
        rows.len(),
        human_size(total),
        human_size(rec)
    )
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    if let Some(f) = &args.format {
        anyhow::bail!("system df --format {f:?}: not supported");
    }
    let df = crate::system::df(ctx)?;
    let unused = |u: &Usage| u.users == 0;
    if !args.verbose {
        let lines = vec![
            "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string(),
            summary("Images", &df.images, unused),
            summary("Containers", &df.containers, unused),
            summary("Local Volumes", &df.volumes, unused),
            "Build Cache\t0\t0\t0B\t0B".to_string(),
        ];
        print!("{}", tabulate(&lines));
        return Ok(0);
    }
    let mut o = String::from("Images space usage:\n\n");
    let mut lines = vec!["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tCONTAINERS".to_string()];
    for u in &df.images {
        let id = u.extra["ID"].as_str().unwrap_or("");
        let id = id.trim_start_matches("sha256:");
        lines.push(format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            u.extra["Repository"].as_str().unwrap_or(""),
            u.extra["Tag"].as_str().unwrap_or(""),
            &id[..id.len().min(12)],
            since(&u.created),
            human_size(u.size),
            u.users
        ));
    }
    o.push_str(&tabulate(&lines));
    o.push_str("\nContainers space usage:\n\n");
    let mut lines = vec![
        "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES".to_string(),
    ];
    for u in &df.containers {
        let id = u.extra["ID"].as_str().unwrap_or("");
        lines.push(format!(
            "{}\t{}\t\"{}\"\t\t{}\t{}\t{}\t{}",
            &id[..id.len().min(12)],
            u.extra["Image"].as_str().unwrap_or(""),
            u.extra["Command"].as_str().unwrap_or(""),
            human_size(u.size),
            since(&u.created),
            u.extra["Status"].as_str().unwrap_or(""),
            u.name
        ));
    }
    o.push_str(&tabulate(&lines));
    o.push_str("\nLocal Volumes space usage:\n\n");
    let mut lines = vec!["VOLUME NAME\tLINKS\tSIZE".to_string()];
    for u in &df.volumes {
        lines.push(format!("{}\t{}\t{}", u.name, u.users, human_size(u.size)));
    }
    o.push_str(&tabulate(&lines));
    o.push_str("\nBuild cache usage: 0B\n");
    print!("{o}");
    Ok(0)
}
