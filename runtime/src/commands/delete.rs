use std::time::Duration;

use crate::cli::GlobalOpts;
use crate::container::{Status, Store};
use crate::error::{Error, Result};
use crate::hooks::{self, HookKind};

use super::kill::init_pidfd;

pub fn run(g: &GlobalOpts, id: &str, force: bool) -> Result<()> {
    log::debug!("delete {id} (force: {force})");
    let store = Store::new(&g.root);
    let c = match store.load(id) {
        Ok(c) => c,
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some(state) = c.state.clone() else {
        // A create that died before recording its init: remove what it
        // may have made (its cgroup, found through the saved config).
        if let Ok(spec) = store.read_config(id) {
            let path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
            if let Ok(cg) = crate::cgroups::Cgroup::resolve(path.as_deref(), id, g.systemd_cgroup) {
                if cg.exists() {
                    cg.kill_all(libc::SIGKILL)?;
                    cg.destroy()?;
                }
            }
        }
        return c.destroy();
    };
    let status = c.status();
    match status {
        Status::Stopped => {}
        // containerd relies on deleting a created, never started container.
        Status::Created | Status::Creating => kill_and_wait(&state)?,
        Status::Running | Status::Paused if force => {
            // Frozen tasks cannot die: thaw before killing.
            if let Some(cg) = &state.cgroup {
                let _ = cg.thaw();
            }
            kill_and_wait(&state)?
        }
        s => {
            return Err(Error::NotStopped {
                id: id.to_string(),
                status: s.to_string(),
            })
        }
    }
    give_back_net_devices(&store, id);
    if let Some(cg) = &state.cgroup {
        // Processes that outlived the init (no pid namespace of its own)
        // go with the container.
        cg.kill_all(libc::SIGKILL)?;
        cg.destroy()?;
    }
    crate::sys::fault::crash_point("runtime:delete-cgroup-gone");
    hooks::run_all_warn(
        state.hooks.as_ref(),
        HookKind::Poststop,
        &state.hook_state(Status::Stopped),
    );
    c.destroy()
}

fn kill_and_wait(state: &crate::container::ContainerState) -> Result<()> {
    if let Some(fd) = init_pidfd(state)? {
        let _ = fd.kill();
        if !fd.wait_exit(Some(Duration::from_secs(10))) {
            return Err(Error::Invalid(format!(
                "container init {} did not exit after SIGKILL",
                state.pid
            )));
        }
    }
    Ok(())
}

/// linux.netDevices moved into a network namespace that outlives the
/// container (joined by path) go back to the host; with a namespace of the
/// container's own the kernel already returned (or destroyed) them when the
/// init died. Best effort, as the rest of delete's clean-up after the kill.
fn give_back_net_devices(store: &Store, id: &str) {
    let Ok(spec) = store.read_config(id) else {
        return;
    };
    let Some(linux) = spec.linux().as_ref() else {
        return;
    };
    let Some(devs) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return;
    };
    let path = linux.namespaces().iter().flatten().find_map(|n| {
        (n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
            .then(|| n.path().clone())
            .flatten()
    });
    let Some(path) = path else {
        return;
    };
    match std::fs::File::open(&path) {
        Ok(f) => {
            if let Err(e) = crate::netdev::move_out(&f.into(), devs) {
                log::warn!("delete {id}: {e}");
            }
        }
        Err(e) => log::warn!("delete {id}: netDevices: open {}: {e}", path.display()),
    }
}
