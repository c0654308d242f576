//! `berth compose ps`: the project's containers.

use super::ProjectFlags;
use crate::compose::observe;
use crate::context::Context;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all stopped containers too
    #[arg(short, long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display services
    #[arg(long)]
    pub services: bool,
    /// Format the output: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Filter services by a property (status=running)
    #[arg(long)]
    pub filter: Option<String>,
    /// Filter services by status (created, restarting, running, removing, paused, exited, dead)
    #[arg(long)]
    pub status: Vec<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    let mut statuses = args.status.clone();
    if let Some(f) = &args.filter {
        match f.split_once('=') {
            Some(("status", v)) => statuses.push(v.to_string()),
            _ => bail!("unsupported filter {f:?} (status=...)"),
        }
    }
    let members: Vec<observe::Member> = observe::members(ctx, &name)?
        .into_iter()
        .filter(|m| !m.oneoff)
        .filter(|m| args.all || !statuses.is_empty() || m.running)
        .filter(|m| statuses.is_empty() || statuses.contains(&m.state))
        .filter(|m| args.service.is_empty() || args.service.contains(&m.service))
        .collect();
    if args.services {
        let mut s: Vec<&str> = members.iter().map(|m| m.service.as_str()).collect();
        s.dedup();
        for x in s {
            println!("{x}");
        }
        return Ok(0);
    }
    if args.quiet {
        for m in &members {
            println!("{}", m.rec.id);
        }
        return Ok(0);
    }
    let command = |m: &observe::Member| {
        let mut words = vec![m.rec.path.clone()];
        words.extend(m.rec.args.iter().cloned());
        let c = format!("\"{}\"", words.join(" "));
        if args.no_trunc || c.chars().count() <= 20 {
            c
        } else {
            format!("{}…\"", c.chars().take(19).collect::<String>())
        }
    };
    match args.format.as_str() {
        "table" => {
            let mut rows = vec![[
                "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
            ]
            .map(String::from)
            .to_vec()];
            for m in &members {
                rows.push(vec![
                    m.rec.name.clone(),
                    image(m),
                    command(m),
                    m.service.clone(),
                    crate::format::human::since(&m.rec.created),
                    m.status.clone(),
                    crate::network::ports_column(ctx, &m.rec, m.running),
                ]);
            }
            print!("{}", crate::format::table::tabulate_cells(&rows));
        }
        "json" => {
            // One object per line, as docker compose v2 prints them.
            for m in &members {
                let v = serde_json::json!({
                    "ID": m.rec.id,
                    "Name": m.rec.name,
                    "Image": image(m),
                    "Command": command(m).trim_matches('"'),
                    "Project": name,
                    "Service": m.service,
                    "Created": m.rec.created,
                    "State": m.state,
                    "Status": m.status,
                    "Health": m.health.clone().unwrap_or_default(),
                    "ExitCode": m.exit_code,
                    "Publishers": crate::network::published(ctx, &m.rec)
                        .into_iter()
                        .map(|(cp, ip, hp)| {
                            let (port, proto) = cp.split_once('/').unwrap_or((cp.as_str(), "tcp"));
                            serde_json::json!({
                                "URL": ip,
                                "TargetPort": port.parse::<u16>().unwrap_or(0),
                                "PublishedPort": hp,
                                "Protocol": proto,
                            })
                        })
                        .collect::<Vec<_>>(),
                    "Labels": m.rec.config.labels,
                });
                println!("{v}");
            }
        }
        f => bail!("unsupported --format {f:?} (table or json)"),
    }
    Ok(0)
}

/// The image as the compose file names it (`demo/busybox:1.0`, docker's
/// Config.Image), else the stored name in docker's familiar form.
fn image(m: &crate::compose::observe::Member) -> String {
    if m.rec.config.image.is_empty() {
        crate::image::reference::familiar(&m.rec.image_name)
    } else {
        m.rec.config.image.clone()
    }
}
