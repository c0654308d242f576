//! `remove`: a container and what it holds (shim, runtime state, hooks'
//! resources, rootfs, volumes with `volumes`). Lock: the container's, given up
//! by value (the container is gone after), plus the store's names lock inside
//! `ContainerStore::remove`.

use super::error::LifecycleError;
use super::kill::Signal;
use super::lock::Locked;
use super::pause::set_paused;
use super::state::{self, ShimStatus};
use super::{exit, runtime};
use crate::context::Context;
use crate::shim_client::{self, Request};
use crate::volume::VolumeStore;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, Default)]
pub struct RemoveOptions {
    /// Kill a running container first (docker's `rm -f`).
    pub force: bool,
    /// Also remove its anonymous volumes (`rm -v`).
    pub volumes: bool,
}

pub fn remove(ctx: &Context, c: Locked, opts: RemoveOptions) -> Result<(), LifecycleError> {
    // A client killed while its shim was creating the container (berth run
    // under kill -9) left the shim running `berth-runtime create`: let the
    // launch end (it is short), then stop or remove what it made. Removing
    // the bundle and killing the shim under a running create would leave the
    // runtime's container and the shim orphaned.
    wait_launched(ctx, &c, Duration::from_secs(30));
    let st = state::state(ctx, &c);
    if st.running {
        if !opts.force {
            return Err(LifecycleError::Conflict(format!(
                "You cannot remove a {} container {}. Stop the container before attempting removal or force remove",
                st.status, c.id
            )));
        }
        if st.paused {
            let _ = set_paused(ctx, &c, false);
        }
        if st.shim_alive {
            // the shim must not restart it: stop (user_stopped) with no grace
            let _ = shim_client::request::<ShimStatus>(
                &c.shim_dir(ctx),
                &Request::Stop {
                    signal: Signal::KILL.number(),
                    timeout_s: 0,
                },
            );
        } else {
            let _ = runtime::run(ctx, &["kill", "--all", &c.id, "9"]);
        }
        wait_stopped(ctx, &c, Duration::from_secs(10))?;
    }
    remove_stopped(ctx, &c, opts.volumes)
}

/// `rm` of a name, id or id prefix. With `force`, a container whose record is
/// corrupt is removed too (with a stand-in record: see `lock_broken`); without
/// it, the error names the broken file.
pub fn remove_by_name(
    ctx: &Context,
    store: &super::ContainerStore,
    name: &str,
    opts: RemoveOptions,
) -> Result<(), LifecycleError> {
    match super::lock::lock_by_name(store, name) {
        Ok(c) => remove(ctx, c, opts),
        Err(LifecycleError::Store(super::ContainerError::Corrupt { path, why })) if opts.force => {
            let id = path
                .parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            eprintln!(
                "berth: removing container {id}, whose record is unreadable ({}: {why})",
                path.display()
            );
            let c = super::lock::lock_broken(store, &id)?;
            remove(
                ctx,
                c,
                RemoveOptions {
                    force: true,
                    volumes: false,
                },
            )
        }
        Err(e) => Err(e),
    }
}

/// Wait (up to `timeout`) while a shim is still launching the container.
fn wait_launched(ctx: &Context, c: &Locked, timeout: Duration) {
    let end = Instant::now() + timeout;
    while state::launching_shim(ctx, c).is_some() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_stopped(ctx: &Context, c: &Locked, timeout: Duration) -> Result<(), LifecycleError> {
    let end = Instant::now() + timeout;
    while state::state(ctx, c).running {
        if Instant::now() >= end {
            return Err(LifecycleError::Timeout(format!(
                "container {} did not stop",
                c.id
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Remove a container that is not running (the caller holds its lock).
pub(crate) fn remove_stopped(
    ctx: &Context,
    c: &Locked,
    volumes: bool,
) -> Result<(), LifecycleError> {
    let st = state::state(ctx, c);
    if st.shim_alive && st.shim_pid > 0 {
        // only a finishing shim can be alive here (its container exited)
        let _ = crate::sys::process::kill(st.shim_pid, libc::SIGKILL);
    }
    runtime::delete_force(ctx, &c.id);
    crate::sys::fault::crash_point("rm:runtime-deleted");
    exit::release(ctx, c)?;
    crate::sys::fault::crash_point("rm:released");
    remove_shim_dir(&c.shim_dir(ctx));
    c.store().remove(c)?;
    crate::timing::mark("rm: record removed");
    crate::sys::fault::crash_point("rm:record-removed");
    crate::events::container(ctx, c, "destroy", &[]);
    if volumes {
        let anon = c.anonymous_volumes();
        if !anon.is_empty() {
            let vs = VolumeStore::open(ctx)?;
            for name in anon {
                let users = crate::volume::users(ctx, &name);
                if let Err(e) = vs.remove(&name, &users) {
                    // another container mounts it too: docker keeps it, quietly
                    // for the user of this one, but say why
                    eprintln!("berth: keeping volume {name}: {e}");
                }
            }
        }
    }
    Ok(())
}

/// Remove a shim's directory. A `berth-runtime create` orphaned by a killed
/// shim can still be writing its log there while the tree is removed (the
/// directory then is not empty when its turn comes): try again, briefly.
pub(crate) fn remove_shim_dir(dir: &Path) {
    for _ in 0..10 {
        if !dir.exists() || std::fs::remove_dir_all(dir).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Remove the shim directories (`<state>/containers/<id>`) that no container
/// record owns any more and no live shim uses: what a kill -9 between the
/// removal of a container's record and of its directory left (`system prune`,
/// `container prune`). Each is checked under the container's lock, so a
/// container being created or removed at the same time is left alone.
pub fn sweep_orphan_shim_dirs(ctx: &Context, store: &super::store::ContainerStore) {
    let base = ctx.state.join("containers");
    let Ok(rd) = std::fs::read_dir(&base) else {
        return;
    };
    let ids = store.ids().unwrap_or_default();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // a directory is named by the full id, or its first 16 characters
        if name.starts_with('.') || ids.iter().any(|id| id.starts_with(&name)) {
            continue;
        }
        let Ok(_lock) = store.lock(&name) else {
            continue;
        };
        if store
            .ids()
            .unwrap_or_default()
            .iter()
            .any(|id| id.starts_with(&name))
            || state::live_shim_pid(&e.path()).is_some()
        {
            continue;
        }
        remove_shim_dir(&e.path());
        store.forget_lock(&name);
    }
}
