//! Image removal (`rmi`, compose's `down --rmi`): untag names; an image whose
//! last name goes is deleted, with the blobs and snapshots nothing else uses
//! (the store's garbage collection).

use crate::image::reference::{familiar, normalize};
use crate::store::images::{dangling_name, is_dangling_name};
use crate::store::{Digest, ImageRecord, ImageStore, StoreError, StoreLock};
use std::path::Path;

/// What one removal did, in docker's words (`Untagged: NAME`, `Deleted: ID`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(Digest),
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Removed::Untagged(n) => write!(f, "Untagged: {n}"),
            Removed::Deleted(d) => write!(f, "Deleted: {d}"),
        }
    }
}

/// The outcome for each name asked, in order, then the garbage collection's.
pub struct Outcome {
    pub results: Vec<(String, Result<Vec<Removed>, StoreError>)>,
}

/// Remove each of `images` (a name, or a full or short id). An id with several
/// names, or an image a container uses, needs `force` (a used image then stays,
/// nameless, for its container). One name's failure does not stop the others.
pub fn remove(root: &Path, images: &[String], force: bool) -> Result<Outcome, StoreError> {
    let lock = StoreLock::exclusive(root)?;
    let store = ImageStore::open(root)?;
    let used = crate::gc::image_users(root);
    let results: Vec<_> = images
        .iter()
        .map(|arg| {
            let r = store.update(|all| remove_in(all, arg, force, &used));
            (arg.clone(), r)
        })
        .collect();
    // What happened goes to the event log (`berth events`).
    for removed in results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
    {
        let (action, what) = match removed {
            Removed::Untagged(n) => ("untag", n.clone()),
            Removed::Deleted(d) => ("delete", d.to_string()),
        };
        crate::events::record(root, "image", action, &what, &[("name", what.clone())]);
    }
    crate::gc::collect(root, &lock)?;
    Ok(Outcome { results })
}

/// One removal on the list held under the images lock.
fn remove_in(
    all: &mut Vec<ImageRecord>,
    arg: &str,
    force: bool,
    used: &std::collections::HashMap<Digest, String>,
) -> Result<Vec<Removed>, StoreError> {
    let rec = resolve_in(all, arg)?;
    let by_name = normalize(arg).ok().is_some_and(|n| n == rec.name);
    let same: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].config == rec.config)
        .collect();
    let to_remove: Vec<usize> = if by_name {
        all.iter()
            .position(|r| r.name == rec.name)
            .into_iter()
            .collect()
    } else {
        // By id: every name of the image; several names need -f.
        if same.len() > 1 && !force {
            return Err(StoreError::Conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                rec.config.short()
            )));
        }
        same.clone()
    };
    let remaining = same.len() - to_remove.len();
    if remaining == 0 && !force {
        if let Some(user) = used.get(&rec.config) {
            return Err(StoreError::Conflict(format!(
                "conflict: unable to remove repository reference {arg:?} (must force) - container {} is using its referenced image {}",
                &user[..user.len().min(12)],
                rec.config.short()
            )));
        }
    }
    let mut out = Vec::new();
    let mut idx = to_remove;
    idx.sort_unstable_by(|a, b| b.cmp(a));
    for i in idx {
        let r = all.remove(i);
        if !is_dangling_name(&r.name) {
            out.push(Removed::Untagged(familiar(&r.name)));
        }
    }
    if remaining == 0 {
        if used.contains_key(&rec.config) {
            // Forced: the container keeps its image, now nameless.
            all.push(ImageRecord {
                name: dangling_name(&rec.config),
                ..rec
            });
        } else {
            out.push(Removed::Deleted(rec.config));
        }
    }
    Ok(out)
}

/// By name, by a dangling image's placeholder name, else by full or short id.
fn resolve_in(all: &[ImageRecord], arg: &str) -> Result<ImageRecord, StoreError> {
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
        let mut ids: Vec<&Digest> = all
            .iter()
            .filter(|r| r.config.hex().starts_with(hex))
            .map(|r| &r.config)
            .collect();
        ids.sort();
        ids.dedup();
        match ids.as_slice() {
            [] => {}
            [id] => {
                if let Some(r) = all.iter().find(|r| &r.config == *id) {
                    return Ok(r.clone());
                }
            }
            _ => return Err(StoreError::Ambiguous(arg.to_string())),
        }
    }
    Err(StoreError::ImageNotFound(arg.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::images::tests::rec;
    use std::collections::HashMap;

    #[test]
    fn untag_then_delete() {
        let mut all = vec![rec("a:1", b"x"), rec("b:1", b"x"), rec("c:1", b"y")];
        let none = HashMap::new();
        let out = remove_in(&mut all, "a:1", false, &none).unwrap();
        assert_eq!(out, [Removed::Untagged("a:1".into())]);
        let out = remove_in(&mut all, "b:1", false, &none).unwrap();
        assert_eq!(
            out,
            [
                Removed::Untagged("b:1".into()),
                Removed::Deleted(Digest::sha256(b"x"))
            ]
        );
        assert_eq!(all.len(), 1);
    }

    #[test]
    fn by_id_with_several_names_needs_force() {
        let mut all = vec![rec("a:1", b"x"), rec("b:1", b"x")];
        let id = Digest::sha256(b"x").hex()[..12].to_string();
        let none = HashMap::new();
        let e = remove_in(&mut all, &id, false, &none).unwrap_err();
        assert!(e.to_string().contains("must be forced"), "{e}");
        let out = remove_in(&mut all, &id, true, &none).unwrap();
        assert_eq!(out.len(), 3);
        assert!(all.is_empty());
    }

    #[test]
    fn an_image_in_use_needs_force_and_stays_nameless() {
        let mut all = vec![rec("a:1", b"x")];
        let user = "0123456789abcdef".repeat(4);
        let used: HashMap<Digest, String> = [(Digest::sha256(b"x"), user)].into();
        let e = remove_in(&mut all, "a:1", false, &used).unwrap_err();
        assert!(e.to_string().starts_with("conflict: "), "{e}");
        assert!(
            e.to_string().contains("container 0123456789ab is using"),
            "{e}"
        );
        remove_in(&mut all, "a:1", true, &used).unwrap();
        assert_eq!(all.len(), 1);
        assert!(is_dangling_name(&all[0].name));
        assert!(matches!(
            remove_in(&mut all, "nothing:1", false, &used),
            Err(StoreError::ImageNotFound(_))
        ));
    }
}
