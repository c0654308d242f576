//! `push`: the blobs the registry lacks, then the manifest.

use super::client::{Access, Client};
use super::manifest::{Descriptor, Manifest};
use super::progress::{short, Bar, CountingReader, Progress};
use super::reference::RepoRef;
use super::{Options, RegistryError};
use crate::context::Context;
use crate::store::{ContentStore, Digest, ImageStore};

/// Blobs up to this size go up in one `PUT`; bigger ones as a streamed `PATCH`
/// followed by a closing `PUT` (docker's way for layers).
const MONOLITHIC_MAX: u64 = 1 << 20;

/// Push the local image `name` to its registry; returns the manifest digest.
pub fn push(ctx: &Context, name: &str, opts: &Options) -> Result<Digest, RegistryError> {
    let r = RepoRef::parse(name)?;
    if r.digest.is_some() {
        return Err(RegistryError::Reference(format!(
            "{name}: cannot push a digest reference; push a tag"
        )));
    }
    let tag = r.tag.clone().unwrap_or_else(|| "latest".to_string());
    let record = ImageStore::open(&ctx.root)?.get(&r.name())?.ok_or_else(|| {
        RegistryError::NoSuchImage(format!(
            "An image does not exist locally with the tag: {} (name the image with `berth tag IMAGE {}` first)",
            r.familiar(),
            r.familiar()
        ))
    })?;
    let content = ContentStore::open(&ctx.root)?;
    let bytes = content.read(&record.manifest)?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        RegistryError::Protocol(format!("stored manifest {}: {e}", record.manifest))
    })?;
    let mut progress = Progress::new(opts.out);
    progress.line(&format!(
        "The push refers to repository [{}]",
        r.repo_name()
    ));

    let client = super::pull::connect(ctx, &r, Access::Push, opts)?;
    // docker lists the layers top-most first; the config goes without a line.
    let mut jobs: Vec<(Descriptor, Bar)> = m
        .layers
        .iter()
        .rev()
        .map(|l| (l.clone(), progress.bar(short(&l.digest), "Preparing")))
        .collect();
    jobs.push((m.config.clone(), Bar::hidden()));
    super::parallel(&jobs, opts.jobs(), |(desc, bar)| {
        push_blob(&client, &content, desc, bar)
    })?;

    progress.done();
    let reported = client.put_manifest(&tag, &record.manifest_media_type, &bytes)?;
    if let Some(d) = reported.filter(|d| d.starts_with("sha256:")) {
        if d != record.manifest.as_str() {
            return Err(RegistryError::Digest {
                what: format!("pushed manifest {}", r.familiar()),
                expected: record.manifest.to_string(),
                got: d,
            });
        }
    }
    progress.line(&format!(
        "{tag}: digest: {} size: {}",
        record.manifest,
        bytes.len()
    ));
    let familiar = r.familiar();
    crate::events::image(&ctx.root, "push", &familiar, &familiar);
    Ok(record.manifest)
}

fn push_blob(
    client: &Client,
    content: &ContentStore,
    desc: &Descriptor,
    bar: &Bar,
) -> Result<(), RegistryError> {
    let digest: Digest = desc
        .digest
        .parse()
        .map_err(|e| RegistryError::Protocol(format!("bad digest {:?}: {e}", desc.digest)))?;
    if client.blob_exists(&desc.digest)? {
        bar.finish("Layer already exists");
        return Ok(());
    }
    let file = content.open_blob(&digest)?;
    let size = file
        .metadata()
        .map_err(|e| RegistryError::Io {
            what: format!("stat of blob {digest}"),
            source: e,
        })?
        .len();
    if size != desc.size {
        return Err(RegistryError::Protocol(format!(
            "blob {digest} is {size} bytes in the store but the manifest says {}",
            desc.size
        )));
    }
    bar.start_bytes("Pushing", size, 0);
    let mut reader = CountingReader {
        inner: std::io::BufReader::with_capacity(256 << 10, file),
        bar,
    };
    client.upload_blob(&desc.digest, size, &mut reader, size > MONOLITHIC_MAX)?;
    bar.finish("Pushed");
    Ok(())
}
