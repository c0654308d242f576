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
