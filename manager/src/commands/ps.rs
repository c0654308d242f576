//! `berth ps`: list containers (records + the shims' status files; no runtime
//! calls, so it stays fast with many containers).

use crate::container::{self, ContainerRecord, ContainerState, ContainerStore};
use crate::context::Context;
use crate::format::{tabulate, Style, Template};
use anyhow::{anyhow, bail};
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Pretty-print containers using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Filter output based on conditions provided (name=, status=, label=, id=)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Show the n last created containers (includes all states)
    #[arg(short = 'n', long = "last", allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Display total file sizes (not supported)
    #[arg(short, long)]
    pub size: bool,
}

fn command_of(rec: &ContainerRecord, trunc: bool) -> String {
    let mut s = rec.path.clone();
    for a in &rec.args {
        s.push(' ');
        s.push_str(a);
    }
    if trunc && s.chars().count() > 20 {
        s = s.chars().take(19).collect::<String>() + "…";
    }
    format!("\"{s}\"")
}

fn matches(rec: &ContainerRecord, st: &ContainerState, filters: &[(String, String)]) -> bool {
    // docker: values of the same key are ORed, different keys ANDed
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    keys.iter().all(|k| {
        filters
            .iter()
            .filter(|(fk, _)| fk == k)
            .any(|(_, v)| match *k {
                "name" => rec.name.contains(v.trim_start_matches('/')),
                "id" => rec.id.starts_with(v.as_str()),
                "status" => st.status.as_str() == v.as_str(),
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => rec.config.labels.get(lk).is_some_and(|x| x == lv),
                    None => rec.config.labels.contains_key(v.as_str()),
                },
                "ancestor" => rec.config.image == *v || rec.image_name == *v,
                _ => false,
            })
    })
}

/// An RFC 3339 time as (seconds, nanoseconds), to order containers by
/// creation (the strings do not sort: their fractions' trailing zeros are cut).
fn created_key(t: &str) -> (i64, u32) {
    let secs = crate::store::parse_rfc3339(t).unwrap_or(0);
    let nanos = t
        .split_once('.')
        .map(|(_, f)| format!("{:0<9}", f.trim_end_matches('Z')))
        .and_then(|f| f.get(..9)?.parse().ok())
        .unwrap_or(0);
    (secs, nanos)
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let mut filters = Vec::new();
    for f in &args.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
        if !matches!(k, "name" | "id" | "status" | "label" | "ancestor") {
            bail!("invalid filter '{k}'");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    if args.size {
        bail!("ps: --size is not supported");
    }
    // docker: -l is -n 1; a negative -n is no limit; either lists all states.
    let last = match (args.latest, args.last) {
        (true, _) => Some(1),
        (false, Some(n)) if n >= 0 => Some(n as usize),
        _ => None,
    };
    let all = args.all || last.is_some() || filters.iter().any(|(k, _)| k == "status");
    let template = args
        .format
        .as_deref()
        .filter(|f| !f.is_empty() && *f != "table")
        .map(|f| Template::parse(f, Style::Go))
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let store = ContainerStore::open(ctx)?;
    let mut rows = Vec::new();
    for rec in store.list()? {
        let st = container::state(ctx, &rec);
        if !all && !st.running {
            continue;
        }
        if !matches(&rec, &st, &filters) {
            continue;
        }
        rows.push((rec, st));
    }
    // Newest first, as docker lists them.
    rows.sort_by_key(|r| std::cmp::Reverse(created_key(&r.0.created)));
    if let Some(n) = last {
        rows.truncate(n);
    }
    let mut out = String::new();
    if args.quiet {
        for (rec, _) in &rows {
            out.push_str(if args.no_trunc {
                &rec.id
            } else {
                rec.short_id()
            });
            out.push('\n');
        }
        print!("{out}");
        return Ok(0);
    }
    let row_json = |rec: &ContainerRecord, st: &ContainerState| -> Value {
        let labels = rec
            .config
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        json!({
            "ID": if args.no_trunc { rec.id.clone() } else { rec.short_id().to_string() },
            "Names": rec.name,
            "Image": rec.config.image,
            "Command": command_of(rec, !args.no_trunc),
            "CreatedAt": rec.created,
            "RunningFor": crate::format::since(&rec.created),
            "Status": container::human_status(st),
            "State": st.status,
            "Ports": crate::network::ports_column(ctx, rec, st.running),
            "Labels": labels,
            "Mounts": rec.mounts.iter().map(|m| if m.name.is_empty() { m.source.clone() } else { m.name.clone() }).collect::<Vec<_>>().join(","),
            "Networks": rec.host_config.network_mode,
            "Size": "",
            "LocalVolumes": rec.mounts.iter().filter(|m| m.r#type == container::MountKind::Volume).count().to_string(),
        })
    };
    match template {
        Some(t) => {
            let mut lines = Vec::new();
            if t.is_table() {
                lines.push(t.header(&|f| match f {
                    "ID" => "CONTAINER ID".into(),
                    "RunningFor" => "CREATED".into(),
                    "CreatedAt" => "CREATED AT".into(),
                    other => other.to_ascii_uppercase(),
                }));
            }
            for (rec, st) in &rows {
                lines.push(t.render(&row_json(rec, st)).map_err(|e| anyhow!(e))?);
            }
            if t.is_table() {
                out = tabulate(&lines);
            } else {
                for l in lines {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
        }
        None => {
            let mut lines =
                vec!["CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES".to_string()];
            for (rec, st) in &rows {
                let r = row_json(rec, st);
                lines.push(format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r["ID"].as_str().unwrap_or(""),
                    r["Image"].as_str().unwrap_or(""),
                    r["Command"].as_str().unwrap_or(""),
                    r["RunningFor"].as_str().unwrap_or(""),
                    r["Status"].as_str().unwrap_or(""),
                    r["Ports"].as_str().unwrap_or(""),
                    r["Names"].as_str().unwrap_or(""),
                ));
            }
            out = tabulate(&lines);
        }
    }
    print!("{out}");
    Ok(0)
}
