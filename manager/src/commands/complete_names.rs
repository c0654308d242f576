//! `berth __complete KIND` (hidden): the names the completion scripts offer,
//! one a line, read from the store: `containers` (names and short ids),
//! `running`/`stopped` (names of those only), `images` (repository:tag and
//! repository), `volumes`, `networks`. Never an error for the shell to show:
//! a store that cannot be read completes nothing.

use crate::container::{self, ContainerStore};
use crate::context::Context;
use crate::network::store::NetworkStore;
use crate::store::ImageStore;
use crate::volume::VolumeStore;
use std::collections::BTreeSet;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// containers, running, stopped, images, volumes or networks
    pub kind: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let mut names = BTreeSet::new();
    match args.kind.as_str() {
        "containers" | "running" | "stopped" => {
            let want_running = match args.kind.as_str() {
                "running" => Some(true),
                "stopped" => Some(false),
                _ => None,
            };
            for rec in ContainerStore::open(ctx)
                .and_then(|s| s.list())
                .unwrap_or_default()
            {
                if let Some(w) = want_running {
                    if container::state::state(ctx, &rec).running != w {
                        continue;
                    }
                }
                names.insert(rec.name.clone());
            }
        }
        "images" => {
            for img in ImageStore::open(&ctx.root)
                .and_then(|s| s.list())
                .unwrap_or_default()
            {
                let familiar = crate::image::reference::familiar(&img.name);
                if let Some((repo, _)) = familiar.rsplit_once(':').filter(|(_, t)| !t.contains('/'))
                {
                    names.insert(repo.to_string());
                }
                names.insert(familiar);
            }
        }
        "volumes" => {
            for v in VolumeStore::open(ctx)
                .and_then(|s| s.list())
                .unwrap_or_default()
            {
                names.insert(v.name);
            }
        }
        "networks" => {
            // The store as it is (network::list would also repair endpoints
            // and the firewall: too much for a key press), and the
            // predefined networks every store has.
            names.extend(["bridge", "host", "none"].map(String::from));
            for n in NetworkStore::open(ctx)
                .and_then(|s| s.list())
                .unwrap_or_default()
            {
                names.insert(n.name);
            }
        }
        other => anyhow::bail!(
            "__complete {other:?}: containers, running, stopped, images, volumes or networks"
        ),
    }
    for n in names {
        println!("{n}");
    }
    Ok(0)
}
