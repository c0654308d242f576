//! `berth save`: save images to a docker-archive or OCI-layout tar.

use crate::archive::save::{names_for, save, Format, Item};
use crate::context::Context;
use crate::store::{ContentStore, ImageStore, StoreLock};
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to a file instead of standard output
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    /// docker-archive (default) or oci-archive
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let format = match args.format.as_str() {
        "docker-archive" | "docker" => Format::DockerArchive,
        "oci-archive" | "oci" => Format::OciArchive,
        other => anyhow::bail!("unknown format {other:?}: use docker-archive or oci-archive"),
    };
    let _lock = StoreLock::shared(&ctx.root)?;
    let content = ContentStore::open(&ctx.root)?;
    let images = ImageStore::open(&ctx.root)?;
    let all = images.list()?;
    let mut items: Vec<Item> = Vec::new();
    for a in &args.images {
        let rec = images.resolve(a)?;
        let names = names_for(a, &rec, &all);
        if let Some(it) = items.iter_mut().find(|i| i.record.config == rec.config) {
            for n in names {
                if !it.names.contains(&n) {
                    it.names.push(n);
                }
            }
        } else {
            items.push(Item { record: rec, names });
        }
    }
    let scratch = content.ingest_dir().to_path_buf();
    match args.output.as_deref() {
        Some(path) if path != "-" => {
            let path = std::path::Path::new(path);
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(crate::store::temp_name(&name));
            let res = (|| -> anyhow::Result<()> {
                let f = std::fs::File::create(&tmp)
                    .map_err(|e| anyhow::anyhow!("create {}: {e}", tmp.display()))?;
                let w = save(
                    &content,
                    &items,
                    format,
                    &scratch,
                    std::io::BufWriter::with_capacity(1 << 20, f),
                )?;
                let f = w
                    .into_inner()
                    .map_err(|e| anyhow::anyhow!("write {}: {}", path.display(), e.error()))?;
                f.sync_all()?;
                std::fs::rename(&tmp, path)
                    .map_err(|e| anyhow::anyhow!("rename to {}: {e}", path.display()))?;
                Ok(())
            })();
            if res.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            res?;
        }
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            let out = std::io::stdout().lock();
            let mut w = save(
                &content,
                &items,
                format,
                &scratch,
                std::io::BufWriter::with_capacity(1 << 20, out),
            )?;
            w.flush()?;
        }
    }
    for it in &items {
        let name = it
            .names
            .first()
            .map(|n| crate::image::reference::familiar(n))
            .unwrap_or_else(|| it.record.config.to_string());
        crate::events::image(&ctx.root, "save", it.record.config.as_str(), &name);
    }
    Ok(0)
}
