//! The per-container lock as a type: an operation that changes a container
//! takes `&Locked` (or `Locked`), so holding the lock is proven by the caller's
//! having one.

use super::error::LifecycleError;
use super::record::ContainerRecord;
use super::store::{ContainerStore, Lock};

/// A container's flock, held while this lives, with its record as read under
/// it. Derefs to the record.
pub struct Locked<'a> {
    store: &'a ContainerStore,
    rec: ContainerRecord,
    _lock: Lock,
}

/// Take the lock of container `id` (a full id) and read its record under it
/// (so a container removed meanwhile is `NotFound`). Blocks while another
/// berth holds it.
pub fn lock<'a>(store: &'a ContainerStore, id: &str) -> Result<Locked<'a>, LifecycleError> {
    let lock = store.lock(id)?;
    let rec = match store.load(id) {
        Ok(rec) => rec,
        Err(e) => {
            // Taking the lock created its file: a container that is gone (an
            // exit hook or a foreground run arriving after a `--rm` removal)
            // must not leave one behind for ever. Unlinking under the lock is
            // safe: whoever waits on the old file finds the record gone too.
            if matches!(e, super::ContainerError::NotFound(_)) {
                store.forget_lock(id);
            }
            return Err(e.into());
        }
    };
    crate::sys::fault::crash_point("container-locked");
    Ok(Locked {
        store,
        rec,
        _lock: lock,
    })
}

/// Lock container `id` whose record cannot be read (corrupt), with a stand-in
/// record that knows only its id and name: enough for `remove`, whose
/// resources (shim, runtime state, hooks' and rootfs) are all found by id.
pub fn lock_broken<'a>(store: &'a ContainerStore, id: &str) -> Result<Locked<'a>, LifecycleError> {
    let lock = store.lock(id)?;
    let rec = ContainerRecord {
        id: id.to_string(),
        name: store.name_of(id).unwrap_or_default(),
        ..Default::default()
    };
    Ok(Locked {
        store,
        rec,
        _lock: lock,
    })
}

/// Resolve a name, id or id prefix and lock that container.
pub fn lock_by_name<'a>(
    store: &'a ContainerStore,
    name_or_id: &str,
) -> Result<Locked<'a>, LifecycleError> {
    let rec = store.resolve(name_or_id)?;
    lock(store, &rec.id)
}

impl Locked<'_> {
    pub fn record(&self) -> &ContainerRecord {
        &self.rec
    }

    pub fn store(&self) -> &ContainerStore {
        self.store
    }
}

impl std::ops::Deref for Locked<'_> {
    type Target = ContainerRecord;
    fn deref(&self) -> &ContainerRecord {
        &self.rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    /// A lock taken on a container removed meanwhile (the exit hook after a
    /// `--rm` removal) leaves no lock file behind.
    #[test]
    fn no_lock_file_outlives_its_container() {
        let root = std::env::temp_dir().join(format!("berth-locks-{}", std::process::id()));
        let ctx = Context::new(root.clone(), root.join("state"));
        let s = ContainerStore::open(&ctx).unwrap();
        for i in 0..3 {
            let mut r = ContainerRecord {
                name: format!("c{i}"),
                ..Default::default()
            };
            s.create(&mut r, |_| Ok(())).unwrap();
            let c = lock(&s, &r.id).unwrap();
            assert_eq!(s.lock_files(), 1);
            s.remove(c.record()).unwrap();
            drop(c);
            assert_eq!(s.lock_files(), 0);
            // The late exit hook.
            assert!(lock(&s, &r.id).is_err());
            assert_eq!(s.lock_files(), 0, "lock file left after a late lock");
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
