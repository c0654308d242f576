//! `berth images`: list images.

use crate::context::Context;
use crate::format::human::go_time;
use crate::format::{human_size, since, tabulate_cells, Style, Template};
use crate::image::reference::{familiar, normalize};
use crate::image::view::{all_views, View};
use crate::store::images::is_dangling_name;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show all images (no intermediate images exist; accepted for compatibility)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output: dangling=true|false, reference=PATTERN
    #[arg(long)]
    pub filter: Vec<String>,
    /// Format output: `json`, `{{json .}}`, `table ...` or a Go-template subset
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository[:tag]
    pub reference: Option<String>,
}

/// `*` matches any run of characters (docker's reference filter is a path glob).
fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, tail)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len())
                    .any(|i| s.is_char_boundary(head.len() + i) && glob(tail, &s[head.len() + i..]))
        }
    }
}

fn matches(v: &View, args: &Args) -> anyhow::Result<bool> {
    let dangling = is_dangling_name(&v.record.name);
    if let Some(r) = &args.reference {
        if dangling {
            return Ok(false);
        }
        let full = if r.contains(':') && !r.rsplit(':').next().unwrap_or("").contains('/') {
            normalize(r)?
        } else {
            // A repository without tag matches all of its tags.
            let n = normalize(r)?;
            let repo = n.rsplit_once(':').map(|p| p.0).unwrap_or(&n).to_string();
            if v.record.name.rsplit_once(':').map(|p| p.0) == Some(repo.as_str()) {
                return Ok(true);
            }
            return Ok(false);
        };
        if v.record.name != full {
            return Ok(false);
        }
    }
    for f in &args.filter {
        let (k, val) = f.split_once('=').unwrap_or((f.as_str(), ""));
        match k {
            "dangling" => {
                let want = matches!(val, "true" | "1");
                if want != dangling {
                    return Ok(false);
                }
            }
            "reference" => {
                if dangling {
                    return Ok(false);
                }
                let fam = familiar(&v.record.name);
                let repo = fam.rsplit_once(':').map(|p| p.0).unwrap_or(&fam);
                if !glob(val, &fam) && !glob(val, repo) {
                    return Ok(false);
                }
            }
            other => anyhow::bail!("invalid filter '{other}'"),
        }
    }
    Ok(true)
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let mut views = Vec::new();
    for v in all_views(ctx)? {
        if matches(&v, &args)? {
            views.push(v);
        }
    }
    let id = |v: &View| {
        if args.no_trunc {
            v.id().to_string()
        } else {
            v.id().short().to_string()
        }
    };
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for v in &views {
            if seen.insert(v.id().clone()) {
                println!("{}", id(v));
            }
        }
        return Ok(0);
    }
    let obj = |v: &View| {
        json!({
            "Containers": "N/A",
            "CreatedAt": go_time(&v.created),
            "CreatedSince": since(&v.created),
            "Digest": if args.digests && !is_dangling_name(&v.record.name) { v.record.manifest.to_string() } else { "<none>".to_string() },
            "ID": id(v),
            "Repository": v.repository,
            "SharedSize": "N/A",
            "Size": human_size(v.size),
            "Tag": v.tag,
            "UniqueSize": "N/A",
            "VirtualSize": human_size(v.size),
        })
    };
    if args.format.as_deref() == Some("json") {
        for v in &views {
            println!("{}", obj(v));
        }
        return Ok(0);
    }
    let template = args
        .format
        .as_deref()
        .map(|f| Template::parse(f, Style::Strict))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let render = |t: &Template, v: &serde_json::Value| t.render(v).map_err(anyhow::Error::msg);
    match template {
        Some(t) if !t.is_table() => {
            for v in &views {
                println!("{}", render(&t, &obj(v))?);
            }
        }
        Some(t) => {
            let header = json!({
                "Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED",
                "Digest": "DIGEST", "ID": "IMAGE ID", "Repository": "REPOSITORY",
                "SharedSize": "SHARED SIZE", "Size": "SIZE", "Tag": "TAG",
                "UniqueSize": "UNIQUE SIZE", "VirtualSize": "SIZE",
            });
            let mut rows = vec![render(&t, &header)?];
            for v in &views {
                rows.push(render(&t, &obj(v))?);
            }
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| r.split('\t').map(String::from).collect())
                .collect();
            print!("{}", tabulate_cells(&cells));
        }
        None => {
            let mut header = vec!["REPOSITORY", "TAG"];
            if args.digests {
                header.push("DIGEST");
            }
            header.extend(["IMAGE ID", "CREATED", "SIZE"]);
            let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
            for v in &views {
                let mut r = vec![v.repository.clone(), v.tag.clone()];
                if args.digests {
                    r.push(if is_dangling_name(&v.record.name) {
                        "<none>".into()
                    } else {
                        v.record.manifest.to_string()
                    });
                }
                r.extend([id(v), since(&v.created), human_size(v.size)]);
                rows.push(r);
            }
            print!("{}", tabulate_cells(&rows));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn globs() {
        assert!(super::glob("busy*", "busybox"));
        assert!(super::glob("*:latest", "busybox:latest"));
        assert!(!super::glob("alp*", "busybox"));
    }
}
