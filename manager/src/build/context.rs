//! The build context (a directory, a tar file, or a tar on stdin), the
//! Dockerfile and `.dockerignore` it comes with, and the build's temporary
//! directories under `<root>/build/tmp/` (named after the build's pid, so the
//! next build or `builder prune` removes what a killed one left).

use super::ignore::Matcher;
use super::{BuildError, ContextSource, DockerfileSource};
use crate::context::Context;
use crate::store::{temp_is_stale, temp_name, TEMP_PREFIX};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// A temporary directory of this build, removed (after unmounting whatever is
/// mounted below it) when dropped.
#[derive(Debug)]
pub struct TmpDir {
    pub path: PathBuf,
}

impl TmpDir {
    pub fn new(ctx: &Context, what: &str) -> Result<TmpDir, BuildError> {
        let base = ctx.root.join("build/tmp");
        std::fs::create_dir_all(&base).map_err(BuildError::io("create", &base))?;
        let path = base.join(temp_name(what));
        std::fs::create_dir(&path).map_err(BuildError::io("create", &path))?;
        Ok(TmpDir { path })
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        remove_dir_safely(&self.path);
    }
}

/// Unmount everything mounted under `dir`, deepest first, then remove it; a
/// directory that still has a mount under it is left alone (removing through
/// a mount would delete what it shows).
pub fn remove_dir_safely(dir: &Path) {
    let mut mounts = crate::sys::mountinfo::mounts_under(dir);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    for m in &mounts {
        let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
    }
    if !crate::sys::mountinfo::mounts_under(dir).is_empty() {
        return;
    }
    let _ = crate::store::remove_tree(dir);
}

/// Remove what killed builds left: RUN steps' containers, directories.
pub fn clean_stale(ctx: &Context) {
    super::runner::remove_stale_containers(ctx);
    let base = ctx.root.join("build/tmp");
    let Ok(rd) = std::fs::read_dir(&base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(TEMP_PREFIX) || !temp_is_stale(&name) {
            continue;
        }
        let dir = e.path();
        remove_dir_safely(&dir);
    }
}

/// An opened context.
pub struct BuildContext {
    /// The context's files (the user's directory, or an extracted archive).
    pub dir: PathBuf,
    pub dockerfile: String,
    pub ignore: Matcher,
    _tmp: Option<TmpDir>,
}

fn read_all(mut r: impl Read, what: &str) -> Result<Vec<u8>, BuildError> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)
        .map_err(|e| BuildError::Context(format!("reading {what}: {e}")))?;
    Ok(v)
}

/// Whether `data` is a tar stream (possibly compressed).
fn is_archive(data: &[u8]) -> bool {
    use crate::image::media::Compression;
    match Compression::sniff(data) {
        Compression::None => data.len() >= 262 && &data[257..262] == b"ustar",
        _ => true,
    }
}

fn extract(data: &[u8], dest: &Path, what: &str) -> Result<(), BuildError> {
    let scope = crate::volume::tree::Scope::in_root(dest).map_err(BuildError::io("open", dest))?;
    let plain = crate::snapshot::extract::decompressor(BufReader::new(data))
        .map_err(|e| BuildError::Context(format!("{what}: {e}")))?;
    crate::volume::tree::extract_tar(
        &scope,
        Path::new("/"),
        plain,
        crate::volume::tree::ExtractOptions {
            same_owner: true,
            root_meta: false,
        },
    )
    .map_err(|e| BuildError::Context(format!("extracting {what}: {e}")))
}

impl BuildContext {
    pub fn open(
        ctx: &Context,
        source: &ContextSource,
        dockerfile: &DockerfileSource,
    ) -> Result<BuildContext, BuildError> {
        let mut stdin_used = false;
        let (dir, tmp, mut inline_df) = match source {
            ContextSource::Dir(d) => {
                let md = std::fs::metadata(d).map_err(|e| {
                    BuildError::Context(format!(
                        "unable to prepare context: path {:?} not found: {e}",
                        d
                    ))
                })?;
                if !md.is_dir() {
                    return Err(BuildError::Context(format!(
                        "{} is not a directory (give a directory, a tar file or -)",
                        d.display()
                    )));
                }
                (d.clone(), None, None)
            }
            ContextSource::Tar(p) => {
                let f = std::fs::File::open(p).map_err(BuildError::io("open", p))?;
                let data = read_all(f, &p.display().to_string())?;
                if !is_archive(&data) {
                    return Err(BuildError::Context(format!(
                        "{} is not a tar archive",
                        p.display()
                    )));
                }
                let t = TmpDir::new(ctx, "context")?;
                extract(&data, &t.path, &p.display().to_string())?;
                (t.path.clone(), Some(t), None)
            }
            ContextSource::Stdin => {
                stdin_used = true;
                let data = read_all(std::io::stdin().lock(), "standard input")?;
                if data.is_empty() {
                    return Err(BuildError::Context(
                        "standard input is empty: expected a tar archive or a Dockerfile".into(),
                    ));
                }
                let t = TmpDir::new(ctx, "context")?;
                if is_archive(&data) {
                    extract(&data, &t.path, "the context on standard input")?;
                    (t.path.clone(), Some(t), None)
                } else {
                    // `berth build - < Dockerfile`: no context at all.
                    let text = String::from_utf8(data).map_err(|_| {
                        BuildError::Context(
                            "standard input is neither a tar archive nor a Dockerfile".into(),
                        )
                    })?;
                    (t.path.clone(), Some(t), Some(text))
                }
            }
        };
        let mut df_path: Option<PathBuf> = None;
        match dockerfile {
            DockerfileSource::Text(t) => inline_df = Some(t.clone()),
            DockerfileSource::Stdin => {
                if stdin_used {
                    return Err(BuildError::Invalid(
                        "the context and the Dockerfile cannot both be read from standard input"
                            .into(),
                    ));
                }
                let data = read_all(std::io::stdin().lock(), "the Dockerfile on standard input")?;
                inline_df = Some(String::from_utf8_lossy(&data).into_owned());
            }
            DockerfileSource::Path(p) if inline_df.is_none() => {
                df_path = Some(if tmp.is_some() {
                    dir.join(super::ignore::clean(&p.to_string_lossy()))
                } else {
                    p.clone()
                });
            }
            // A Dockerfile alone on stdin: it is the Dockerfile.
            DockerfileSource::Default if inline_df.is_some() => {}
            DockerfileSource::Default => {
                df_path = Some(dir.join("Dockerfile"));
            }
            DockerfileSource::Path(_) => {
                return Err(BuildError::Invalid(
                    "-f PATH cannot be used when the Dockerfile comes on standard input".into(),
                ))
            }
        }
        let text = match (&inline_df, &df_path) {
            (Some(t), _) => t.clone(),
            (None, Some(p)) => std::fs::read_to_string(p).map_err(|e| {
                BuildError::Context(format!("failed to read Dockerfile {}: {e}", p.display()))
            })?,
            (None, None) => unreachable_df()?,
        };
        // `<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's.
        let mut ignore_text = None;
        if let Some(p) = &df_path {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let specific = p.with_file_name(format!("{name}.dockerignore"));
            ignore_text = std::fs::read_to_string(specific).ok();
        }
        if ignore_text.is_none() {
            ignore_text = std::fs::read_to_string(dir.join(".dockerignore")).ok();
        }
        Ok(BuildContext {
            dir,
            dockerfile: text,
            ignore: Matcher::parse(ignore_text.as_deref().unwrap_or("")),
            _tmp: tmp,
        })
    }
}

fn unreachable_df() -> Result<String, BuildError> {
    Err(BuildError::Invalid("no Dockerfile".into()))
}

/// Whether `data` (the first bytes of a file) starts a tar archive ADD extracts.
pub fn looks_like_archive(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut r = BufReader::new(f);
    let Ok(head) = r.fill_buf() else {
        return false;
    };
    use crate::image::media::Compression;
    match Compression::sniff(head) {
        Compression::None => head.len() >= 262 && &head[257..262] == b"ustar",
        // A compressed file is an archive when what it holds is a tar.
        _ => {
            let Ok(mut d) = crate::snapshot::extract::decompressor(r) else {
                return false;
            };
            let mut buf = [0u8; 512];
            let mut n = 0;
            while n < buf.len() {
                match d.read(&mut buf[n..]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
            n >= 262 && &buf[257..262] == b"ustar"
        }
    }
}
