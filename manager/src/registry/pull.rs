//! `pull`: registry -> content store -> image record -> unpacked snapshots.

use super::client::{Access, Client, ConnectOptions, Fetched};
use super::manifest::{self, Descriptor, Index, Kind, Manifest, Platform};
use super::progress::{short, Bar, Progress};
use super::reference::RepoRef;
use super::{tls, Options, RegistryError};
use crate::context::Context;
use crate::image::Image;
use crate::snapshot::SnapshotStore;
use crate::store::{ContentStore, Digest, ImageRecord, ImageStore, StoreError, StoreLock};
use std::io::{Read, Write};

/// Read-side buffer per download.
const BUF: usize = 256 << 10;
/// Tries per blob: a dropped connection resumes from what was written.
const ATTEMPTS: usize = 3;

/// A client for `r`'s repository with `opts`' transport settings (stored
/// credentials, if any, are used).
pub(super) fn connect(
    ctx: &Context,
    r: &RepoRef,
    access: Access,
    opts: &Options,
) -> Result<Client, RegistryError> {
    let mut insecure = tls::insecure_list(&opts.insecure_registries);
    insecure.extend(ctx.settings.insecure_registries.iter().cloned());
    Client::connect(
        &r.registry,
        &r.repository,
        access,
        &ConnectOptions {
            root: &ctx.root,
            insecure: &insecure,
            plain_http: opts.plain_http,
            credentials: None,
        },
    )
}

/// A client for the first of `r`'s mirrors (the config file's
/// `registry-mirrors`, in order) and then `r`'s registry itself that serves
/// the manifest, with that manifest: a mirror that is down, refuses or lacks
/// the image is passed over, as docker does.
fn first_serving(
    ctx: &Context,
    r: &RepoRef,
    opts: &Options,
) -> Result<(Client, Fetched), RegistryError> {
    let mut insecure = tls::insecure_list(&opts.insecure_registries);
    insecure.extend(ctx.settings.insecure_registries.iter().cloned());
    for m in ctx.settings.mirrors_of(&r.registry) {
        let mut insecure = insecure.clone();
        if m.plain_http {
            // The user wrote http:// for this mirror.
            insecure.push(m.host.clone());
        }
        let tried = Client::connect(
            &m.host,
            &r.repository,
            Access::Pull,
            &ConnectOptions {
                root: &ctx.root,
                insecure: &insecure,
                plain_http: m.plain_http,
                credentials: None,
            },
        )
        .and_then(|c| {
            let top = c.get_manifest(&r.manifest_ref())?;
            Ok((c, top))
        });
        if let Ok(found) = tried {
            return Ok(found);
        }
    }
    let client = connect(ctx, r, Access::Pull, opts)?;
    let top = client.get_manifest(&r.manifest_ref())?;
    Ok((client, top))
}

/// Pull `reference` and return its image record (printing docker's messages to
/// `opts.out`).
pub fn pull(ctx: &Context, reference: &str, opts: &Options) -> Result<ImageRecord, RegistryError> {
    let r = RepoRef::parse(reference)?;
    let want = match &opts.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let (client, top) = first_serving(ctx, &r, opts)?;
    let content = ContentStore::open(&ctx.root)?;
    let mut progress = Progress::new(opts.out);
    let label = r
        .digest
        .as_ref()
        .map(|d| d.to_string())
        .or_else(|| r.tag.clone())
        .unwrap_or_default();
    progress.line(&format!("{label}: Pulling from {}", r.familiar_repo()));

    // The named manifest: an index (then the platform's manifest) or a manifest.
    let top_digest = verify_manifest(&top, r.digest.as_ref(), &r.manifest_ref())?;
    let (kind, top_type) = manifest::classify(&top.content_type, &top.bytes)?;
    let (fetched, media_type, manifest_digest) = match kind {
        Kind::Manifest => (top, top_type, top_digest.clone()),
        Kind::Index => {
            let index: Index = serde_json::from_slice(&top.bytes)
                .map_err(|e| RegistryError::Protocol(format!("image index {top_digest}: {e}")))?;
            let entry = manifest::select(&index, &want)?;
            let d: Digest = parse_digest(&entry.digest)?;
            let m = client.get_manifest(&entry.digest)?;
            verify_manifest(&m, Some(&d), &entry.digest)?;
            let (kind, mt) = manifest::classify(&m.content_type, &m.bytes)?;
            if !matches!(kind, Kind::Manifest) {
                return Err(RegistryError::Unsupported(format!(
                    "index entry {d} is itself an index"
                )));
            }
            content.put(&top.bytes)?;
            (m, mt, d)
        }
    };
    let m: Manifest = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| RegistryError::Protocol(format!("manifest {manifest_digest}: {e}")))?;
    if m.schema_version != 2 {
        return Err(RegistryError::Unsupported(format!(
            "manifest schema version {}",
            m.schema_version
        )));
    }
    for l in &m.layers {
        manifest::check_layer_type(l)?;
    }
    let config_digest = parse_digest(&m.config.digest)?;

    // The config first (small): its diff_ids name the snapshots, so each layer can
    // be extracted as soon as it has arrived, while the others still download.
    let config_missing = !content.contains(&config_digest);
    if config_missing {
        fetch_blob(&client, &content, &m.config, &Bar::hidden())?;
    }
    let snapshots = SnapshotStore::open(&ctx.root)?;
    let chains = layer_chains(&content, &config_digest, m.layers.len());

    // Layers: in parallel, each fetched at most once.
    let mut jobs: Vec<Job> = Vec::new();
    for (i, l) in m.layers.iter().enumerate() {
        let d = parse_digest(&l.digest)?;
        if content.contains(&d) {
            progress
                .bar(short(&l.digest), "Already exists")
                .finish_quietly();
            continue;
        }
        jobs.push(Job {
            desc: l.clone(),
            digest: d,
            bar: progress.bar(short(&l.digest), "Pulling fs layer"),
            snapshot: chains.as_ref().map(|c| c[i].clone()),
        });
    }
    let downloaded = !jobs.is_empty() || config_missing;
    super::parallel(&jobs, opts.jobs(), |job| {
        let r = fetch_blob(&client, &content, &job.desc, &job.bar).and_then(|()| {
            job.bar.status("Download complete");
            if let Some((diff_id, chain)) = &job.snapshot {
                job.bar.status("Extracting");
                snapshots.unpack_layer(&content, &job.digest, diff_id, chain)?;
            }
            Ok(())
        });
        if r.is_err() {
            job.bar.finish("Pull failed");
        }
        r
    })?;
    content.put(&fetched.bytes)?;

    // Record the name, then extract the layers that are not yet snapshots.
    let name = r.name();
    let previous = ImageStore::open(&ctx.root)?.get(&name)?;
    let record = ImageRecord {
        name: name.clone(),
        manifest: manifest_digest.clone(),
        manifest_media_type: media_type,
        manifest_size: fetched.bytes.len() as u64,
        config: config_digest,
        created: crate::store::now_rfc3339(),
    };
    let up_to_date = !downloaded
        && previous
            .as_ref()
            .is_some_and(|p| p.manifest == record.manifest);
    {
        let _lock = StoreLock::exclusive(&ctx.root)?;
        // Extracts whatever the pipeline did not (layers that were already stored).
        let image = Image::load(&content, record.clone())?;
        snapshots.unpack(&content, &image)?;
        if !up_to_date {
            ImageStore::open(&ctx.root)?.put(record.clone())?;
        }
    }
    for job in &jobs {
        job.bar.finish("Pull complete");
    }
    progress.done();
    progress.line(&format!("Digest: {top_digest}"));
    let familiar = r.familiar();
    crate::events::image(&ctx.root, "pull", &familiar, &familiar);
    if up_to_date {
        progress.line(&format!("Status: Image is up to date for {}", r.familiar()));
        return Ok(previous.unwrap_or(record));
    }
    progress.line(&format!(
        "Status: Downloaded newer image for {}",
        r.familiar()
    ));
    Ok(record)
}

fn parse_digest(s: &str) -> Result<Digest, RegistryError> {
    s.parse::<Digest>()
        .map_err(|e| RegistryError::Protocol(format!("bad digest {s:?}: {e}")))
}

/// Check a manifest's bytes against the digest it was asked by, and against the
/// registry's `Docker-Content-Digest`; return its digest.
fn verify_manifest(
    f: &Fetched,
    expected: Option<&Digest>,
    what: &str,
) -> Result<Digest, RegistryError> {
    let got = Digest::sha256(&f.bytes);
    if let Some(e) = expected {
        if *e != got {
            return Err(RegistryError::Digest {
                what: format!("manifest {what}"),
                expected: e.to_string(),
                got: got.to_string(),
            });
        }
    }
    if let Some(h) = f.digest_header.as_deref() {
        if h.starts_with("sha256:") && h != got.as_str() {
            return Err(RegistryError::Digest {
                what: format!("manifest {what} (Docker-Content-Digest)"),
                expected: h.to_string(),
                got: got.to_string(),
            });
        }
    }
    Ok(got)
}

/// A layer to download, and the snapshot (diff_id, chain id) to extract it as.
struct Job {
    desc: Descriptor,
    digest: Digest,
    bar: Bar,
    snapshot: Option<(Digest, Digest)>,
}

/// (diff_id, chain id) of each layer from the stored config; None when the config
/// does not match the manifest (the final unpack then reports it).
fn layer_chains(
    content: &ContentStore,
    config: &Digest,
    layers: usize,
) -> Option<Vec<(Digest, Digest)>> {
    let bytes = content.read(config).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let diff_ids: Vec<Digest> = v
        .get("rootfs")?
        .get("diff_ids")?
        .as_array()?
        .iter()
        .map(|d| d.as_str()?.parse().ok())
        .collect::<Option<_>>()?;
    if diff_ids.len() != layers {
        return None;
    }
    let chains = crate::image::chain_ids(&diff_ids);
    Some(diff_ids.into_iter().zip(chains).collect())
}

/// One blob into the content store: resume a partial ingest with a Range request,
/// stream into the verifying writer, commit (size and digest checked there).
fn fetch_blob(
    client: &Client,
    content: &ContentStore,
    desc: &Descriptor,
    bar: &Bar,
) -> Result<(), RegistryError> {
    let digest = parse_digest(&desc.digest)?;
    let mut last_err = None;
    for _ in 0..ATTEMPTS {
        let mut w = content.writer(&digest, Some(desc.size))?;
        let offset = w.offset();
        if offset >= desc.size {
            return w.commit().map_err(|e| blob_error(&digest, e));
        }
        let resp = client.get_blob(&desc.digest, offset)?;
        // A server that ignores Range sends the whole blob: skip what we have.
        let skip = if resp.status() == 200 { offset } else { 0 };
        bar.start_bytes("Downloading", desc.size, offset);
        let mut body = resp.into_body().into_reader();
        let result = copy_body(&mut body, &mut w, skip, desc.size - offset, bar);
        match result {
            Ok(()) => match w.commit() {
                Ok(()) => return Ok(()),
                // A resumed ingest whose old part was bad: the writer deleted it,
                // so one more try starts from zero.
                Err(StoreError::DigestMismatch { .. }) if offset > 0 => {
                    last_err = Some(RegistryError::Protocol(format!(
                        "{digest}: the resumed download did not verify; downloading again"
                    )));
                }
                // Short (the connection ended early): resume from what arrived.
                Err(StoreError::SizeMismatch { expected, got, .. }) if got < expected => {
                    last_err = Some(RegistryError::Transport(format!(
                        "downloading {digest}: the connection ended after {got} of {expected} bytes"
                    )));
                }
                Err(e) => return Err(blob_error(&digest, e)),
            },
            Err(e) => {
                // Keep the partial ingest: the next try (or the next pull) resumes.
                let _ = w.flush();
                last_err = Some(RegistryError::Transport(format!(
                    "downloading {digest}: {e}"
                )));
            }
        }
    }
    Err(last_err.expect("an error after failed attempts"))
}

fn copy_body(
    body: &mut dyn Read,
    w: &mut dyn Write,
    mut skip: u64,
    want: u64,
    bar: &Bar,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUF];
    // One byte more than wanted, so an overlong blob shows as a size error.
    let mut left = want + 1;
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let mut chunk = &buf[..n];
        if skip > 0 {
            let s = skip.min(chunk.len() as u64) as usize;
            chunk = &chunk[s..];
            skip -= s as u64;
        }
        let take = (chunk.len() as u64).min(left) as usize;
        w.write_all(&chunk[..take])?;
        bar.inc(take as u64);
        left -= take as u64;
        if left == 0 {
            return Ok(());
        }
    }
}

fn blob_error(digest: &Digest, e: StoreError) -> RegistryError {
    match e {
        StoreError::DigestMismatch { expected, got, .. } => RegistryError::Digest {
            what: format!("blob {digest}"),
            expected: expected.to_string(),
            got: got.to_string(),
        },
        e => RegistryError::Store(e),
    }
}
