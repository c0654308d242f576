//! `on_exit`: the one place where a container that stopped for good gives back
//! what `start` took. Every exit reaches it: the shim's exit hook (`berth
//! internal exited`), a foreground `run`/`start -a`/`attach` seeing the exit,
//! `stop`, and (through `release`) a failed start and `remove`.

use super::error::LifecycleError;
use super::hooks::hooks;
use super::lock::{self, Locked};
use super::state::{self, read_shim_status, ShimStatus};
use super::store::{write_json, ContainerStore};
use super::{remove, rootfs};
use crate::context::Context;

/// The container `id` exited and will not restart: under its lock, release
/// every hook, unmount its rootfs and volumes, keep its last status in the
/// record directory, and remove it when it is `--rm`. Idempotent; a container
/// already removed is not an error. `shim_pid` is the pid of the shim that
/// reports the exit (the exit hook's parent): when the container has a newer
/// shim meanwhile, the report is stale and nothing is done.
pub fn on_exit(ctx: &Context, id: &str, shim_pid: Option<i32>) -> Result<(), LifecycleError> {
    let store = ContainerStore::open(ctx)?;
    let c = match lock::lock(&store, id) {
        Ok(c) => c,
        Err(LifecycleError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    on_exit_locked(ctx, &c, shim_pid)
}

/// `on_exit` for a caller that holds the lock. After it the container may be
/// gone (`--rm`): the caller must not use `c` to change it again.
pub fn on_exit_locked(
    ctx: &Context,
    c: &Locked,
    shim_pid: Option<i32>,
) -> Result<(), LifecycleError> {
    let live = read_shim_status(ctx, c);
    if let (Some(pid), Some(s)) = (shim_pid, &live) {
        if s.shim_pid != 0 && s.shim_pid != pid {
            return Ok(());
        }
    }
    if state::state(ctx, c).running {
        return Ok(());
    }
    release(ctx, c)?;
    if let Some(s) = live {
        // One `die` per exit: on_exit runs more than once for one (stop, then
        // the shim's exit hook); the exit already kept is not reported again.
        let last = c.dir(ctx).join("last-status.json");
        let kept: Option<ShimStatus> = std::fs::read(&last)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok());
        let seen = kept.is_some_and(|k| k.shim_pid == s.shim_pid && k.finished_at == s.finished_at);
        if !seen && s.status != "created" {
            let code = s.exit_code.unwrap_or(0).to_string();
            crate::events::container(ctx, c, "die", &[("exitCode", code)]);
        }
        let _ = write_json(&last, &s);
    }
    if c.host_config.auto_remove {
        remove::remove_stopped(ctx, c, true)?;
    }
    Ok(())
}

/// Give back what a start took: each hook's `release` (in reverse order), and
/// the rootfs and volumes. Every step runs even when one fails; the first
/// error is returned.
pub fn release(ctx: &Context, c: &Locked) -> Result<(), LifecycleError> {
    let mut first: Option<LifecycleError> = None;
    // The two halves share nothing (the hooks' resources are not in the
    // rootfs), and both wait mostly in the kernel: each unmount (the overlay,
    // a network namespace's pin) waits for an RCU grace period, and waits
    // that overlap share one. So the rootfs goes in a thread of its own.
    let unmounted = std::thread::scope(|s| {
        let rootfs = s.spawn(|| {
            let r = rootfs::unmount(ctx, c);
            crate::timing::mark("exit: rootfs unmounted");
            r
        });
        for h in hooks().iter().rev() {
            if let Err(source) = h.release(ctx, c) {
                first.get_or_insert(LifecycleError::Hook {
                    hook: h.name(),
                    source,
                });
            }
        }
        crate::timing::mark("exit: hooks released");
        rootfs.join()
    });
    match unmounted {
        Ok(Err(e)) => {
            first.get_or_insert(e);
        }
        Ok(Ok(())) => {}
        // a panic in the thread is a bug: report it as the panic it is
        Err(p) => std::panic::resume_unwind(p),
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::ContainerRecord;
    use crate::container::state::ShimStatus;

    /// A late exit hook of an older shim does nothing; the current shim's (or
    /// an unchecked caller's) releases and keeps the last status.
    #[test]
    fn stale_exit_report_is_ignored() {
        let root = std::env::temp_dir().join(format!("berth-onexit-{}", std::process::id()));
        let ctx = Context::new(root.clone(), root.join("state"));
        let store = ContainerStore::open(&ctx).unwrap();
        let mut rec = ContainerRecord {
            name: "web".into(),
            ..Default::default()
        };
        store.create(&mut rec, |_| Ok(())).unwrap();
        let shim_dir = rec.shim_dir(&ctx);
        std::fs::create_dir_all(&shim_dir).unwrap();
        let st = ShimStatus {
            status: "exited".into(),
            shim_pid: 4_000_000, // no such process: the shim has gone
            exit_code: Some(3),
            ..Default::default()
        };
        write_json(&shim_dir.join("status.json"), &st).unwrap();
        let last = rec.dir(&ctx).join("last-status.json");
        on_exit(&ctx, &rec.id, Some(4_000_001)).unwrap();
        assert!(!last.exists(), "a stale report released the container");
        on_exit(&ctx, &rec.id, Some(4_000_000)).unwrap();
        assert!(last.exists());
        // idempotent, and a removed container is not an error
        on_exit(&ctx, &rec.id, None).unwrap();
        store.remove(&rec).unwrap();
        on_exit(&ctx, &rec.id, None).unwrap();
        // ... and a late report (the shim's exit hook after `rm -f`) leaves
        // nothing: no record, directory or lock file comes back
        on_exit(&ctx, &rec.id, Some(4_000_000)).unwrap();
        assert!(!store.exists(&rec.id));
        assert!(!store.dir(&rec.id).exists(), "a late exit hook made a dir");
        assert_eq!(store.lock_files(), 0, "a late exit hook left a lock file");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// The exit hook arriving while `rm -f` holds the container's lock (the
    /// shim reports the exit `rm` caused): it waits for the lock, finds the
    /// record gone and backs off, bringing back nothing.
    #[test]
    fn exit_hook_waiting_on_rm_backs_off() {
        let root = std::env::temp_dir().join(format!("berth-onexit-rm-{}", std::process::id()));
        let ctx = Context::new(root.clone(), root.join("state"));
        let store = ContainerStore::open(&ctx).unwrap();
        let mut rec = ContainerRecord {
            name: "gone".into(),
            ..Default::default()
        };
        store.create(&mut rec, |_| Ok(())).unwrap();
        let c = lock::lock(&store, &rec.id).unwrap();
        let hook = std::thread::spawn({
            let (ctx, id) = (ctx.clone(), rec.id.clone());
            move || on_exit(&ctx, &id, Some(4_000_002))
        });
        // the hook is blocked on the lock while the removal goes on
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!hook.is_finished(), "on_exit did not wait for the lock");
        store.remove(c.record()).unwrap();
        drop(c);
        hook.join().unwrap().unwrap();
        assert!(
            !store.dir(&rec.id).exists(),
            "the exit hook brought the dir back"
        );
        assert!(store.list().unwrap().is_empty());
        assert_eq!(store.lock_files(), 0);
        let _ = std::fs::remove_dir_all(&root);
    }
}
