//! `berth rmi`: remove image names; an image whose last name goes is deleted
//! with the blobs and snapshots nothing else uses.

use crate::context::Context;
use crate::image::reference::{familiar, normalize};
use crate::store::images::{dangling_name, is_dangling_name};
use crate::store::{ImageStore, StoreLock};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Force removal of the image (untag it even if a container uses it)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents (accepted for compatibility)
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let lock = StoreLock::exclusive(&ctx.root)?;
    let images = ImageStore::open(&ctx.root)?;
    let used = crate::gc::image_users(&ctx.root);
    let mut errors = Vec::new();
    for arg in &args.images {
        let res = images.update(|all| {
            // Resolved against the list held under the images lock.
            let rec = resolve_in(all, arg)?;
            let by_name = normalize(arg).ok().is_some_and(|n| n == rec.name);
            let same: Vec<usize> = (0..all.len()).filter(|&i| all[i].config == rec.config).collect();
            let mut out = Vec::new();
            let to_remove: Vec<usize> = if by_name {
                vec![all.iter().position(|r| r.name == rec.name).expect("present")]
            } else {
                // By id: every name of the image; several names need -f.
                if same.len() > 1 && !args.force {
                    return Err(crate::store::StoreError::Conflict(format!(
                            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            rec.config.short()
                        )));
                }
                same.clone()
            };
            let remaining = same.len() - to_remove.len();
            if remaining == 0 && !args.force {
                if let Some(user) = used.get(&rec.config) {
                    return Err(crate::store::StoreError::Conflict(format!(
                        "conflict: unable to remove repository reference {arg:?} (must force) - container {} is using its referenced image {}",
                        &user[..user.len().min(12)],
                        rec.config.short()
                    )));
                }
            }
            let mut idx = to_remove;
            idx.sort_unstable_by(|a, b| b.cmp(a));
            for i in idx {
                let r = all.remove(i);
                if !is_dangling_name(&r.name) {
                    out.push(format!("Untagged: {}", familiar(&r.name)));
                }
            }
            if remaining == 0 {
                if used.contains_key(&rec.config) {
                    // Forced: the container keeps its image, now nameless.
                    all.push(crate::store::ImageRecord {
                        name: dangling_name(&rec.config),
                        ..rec
                    });
                } else {
                    out.push(format!("Deleted: {}", rec.config));
                }
            }
            Ok(out)
        });
        match res {
            Ok(lines) => {
                for l in &lines {
                    println!("{l}");
                    let (action, what) = match l.split_once(": ") {
                        Some(("Untagged", n)) => ("untag", n),
                        Some(("Deleted", d)) => ("delete", d),
                        _ => continue,
                    };
                    crate::events::record(
                        &ctx.root,
                        "image",
                        action,
                        what,
                        &[("name", what.to_string())],
                    );
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    crate::gc::collect(&ctx.root, &lock)?;
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(0)
}

fn resolve_in(
    all: &[crate::store::ImageRecord],
    arg: &str,
) -> Result<crate::store::ImageRecord, crate::store::StoreError> {
    if let Ok(n) = normalize(arg) {
        if let Some(r) = all.iter().find(|r| r.name == n) {
            return Ok(r.clone());
        }
    }
    if is_dangling_name(arg) {
        if let Some(r) = all.iter().find(|r| r.name == arg) {
            return Ok(r.clone());
        }
    }
    let hex = arg.strip_prefix("sha256:").unwrap_or(arg);
    if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut ids: Vec<_> = all
            .iter()
            .filter(|r| r.config.hex().starts_with(hex))
            .map(|r| r.config.clone())
            .collect();
        ids.sort();
        ids.dedup();
        match ids.len() {
            0 => {}
            1 => {
                return Ok(all
                    .iter()
                    .find(|r| r.config == ids[0])
                    .expect("found")
                    .clone())
            }
            _ => return Err(crate::store::StoreError::Ambiguous(arg.to_string())),
        }
    }
    Err(crate::store::StoreError::ImageNotFound(arg.to_string()))
}
