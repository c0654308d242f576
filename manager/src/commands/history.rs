//! `berth history`: an image's layers, from its config's history.

use crate::context::Context;
use crate::format::{human_size, since, tabulate_cells, Style, Template};
use crate::image::view::View;
use crate::store::{ContentStore, ImageStore};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output: a Go-template subset over ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let template = args
        .format
        .as_deref()
        .map(|f| Template::parse(f, Style::Strict))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let content = ContentStore::open(&ctx.root)?;
    let rec = ImageStore::open(&ctx.root)?.resolve(&args.image)?;
    let view = View::load(&content, rec)?;
    let sizes: Vec<u64> = view.manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["size"].as_u64().unwrap_or(0))
        .collect();
    let hist = view.config["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // History entries map onto layers in order, skipping empty_layer ones.
    let mut layer = 0usize;
    let mut entries = Vec::new();
    for h in &hist {
        let empty = h["empty_layer"].as_bool().unwrap_or(false);
        let size = if empty {
            0
        } else {
            let s = sizes.get(layer).copied().unwrap_or(0);
            layer += 1;
            s
        };
        entries.push((h.clone(), size));
    }
    entries.reverse();
    let mut rows = vec![vec![
        "IMAGE".to_string(),
        "CREATED".into(),
        "CREATED BY".into(),
        "SIZE".into(),
        "COMMENT".into(),
    ]];
    for (i, (h, size)) in entries.iter().enumerate() {
        let id = if i == 0 {
            if args.no_trunc {
                view.id().to_string()
            } else {
                view.id().short().to_string()
            }
        } else {
            "<missing>".to_string()
        };
        if args.quiet {
            println!("{id}");
            continue;
        }
        let created = h["created"].as_str().unwrap_or("");
        let mut by = h["created_by"].as_str().unwrap_or("").to_string();
        if !args.no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        let (created_s, size_s) = if args.human {
            (since(created), human_size(*size))
        } else {
            (created.to_string(), size.to_string())
        };
        let comment = h["comment"].as_str().unwrap_or("").to_string();
        if let Some(t) = &template {
            let v = json!({
                "ID": id, "CreatedSince": created_s, "CreatedAt": created,
                "CreatedBy": by, "Size": size_s, "Comment": comment,
            });
            println!("{}", t.render(&v).map_err(anyhow::Error::msg)?);
            continue;
        }
        rows.push(vec![id, created_s, by, size_s, comment]);
    }
    if !args.quiet && args.format.is_none() {
        print!("{}", tabulate_cells(&rows));
    }
    Ok(0)
}
