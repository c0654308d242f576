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
    let rec = store.load(id)?;
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
