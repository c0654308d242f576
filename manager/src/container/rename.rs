//! `rename`: a container's new (unique) name. Lock: the container's (so a
//! rename does not interleave with a start or a removal reading the record),
//! and the store's names lock inside `ContainerStore::rename`.

use super::error::LifecycleError;
use super::lock::Locked;

pub fn rename(c: &Locked, new_name: &str) -> Result<(), LifecycleError> {
    c.store().rename(&c.id, new_name)?;
    let mut rec = c.record().clone();
    rec.name = new_name.to_string();
    let old = ("oldName", format!("/{}", c.name));
    crate::events::container_at(&c.store().root(), &rec, "rename", &[old]);
    Ok(())
}
