//! `berth compose images`: the images the project's containers use.

use super::ProjectFlags;
use crate::compose::observe;
use crate::context::Context;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format the output: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    let members: Vec<observe::Member> = observe::members(ctx, &name)?
        .into_iter()
        .filter(|m| args.service.is_empty() || args.service.contains(&m.service))
        .collect();
    let short = |id: &str| {
        id.trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>()
    };
    if args.quiet {
        let mut ids: Vec<String> = members.iter().map(|m| m.rec.image.clone()).collect();
        ids.sort();
        ids.dedup();
        for i in ids {
            println!("{i}");
        }
        return Ok(0);
    }
    // docker's familiar form: `demo/busybox` and `1.0`, not `docker.io/demo/busybox`.
    let split = |r: &str| crate::image::reference::display_parts(r);
    match args.format.as_str() {
        "table" => {
            let mut rows = vec![["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID"]
                .map(String::from)
                .to_vec()];
            for m in &members {
                let (repo, tag) = split(&m.rec.image_name);
                rows.push(vec![m.rec.name.clone(), repo, tag, short(&m.rec.image)]);
            }
            print!("{}", crate::format::table::tabulate_cells(&rows));
        }
        "json" => {
            let v: Vec<serde_json::Value> = members
                .iter()
                .map(|m| {
                    let (repo, tag) = split(&m.rec.image_name);
                    serde_json::json!({"ID": m.rec.image, "ContainerName": m.rec.name, "Repository": repo, "Tag": tag})
                })
                .collect();
            println!("{}", serde_json::Value::Array(v));
        }
        f => bail!("unsupported --format {f:?} (table or json)"),
    }
    Ok(0)
}
