use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use oci_spec::runtime::LinuxNetDevice;

use crate::cli::GlobalOpts;
use crate::container::store::CONFIG_FILE;
use crate::container::{Status, Store};
use crate::error::{Error, Result, SysContext};
use crate::hooks::{self, HookKind};
use crate::sys::pidfd::PidFd;
use crate::sys::procfs;

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
        // "stopped" includes an init still in the kernel's exit (see
        // `ProcStat::is_dead`): its cgroups can go once it has left them.
        Status::Stopped => kill_and_wait(&state, false)?,
        // containerd relies on deleting a created, never started container.
        Status::Created | Status::Creating => kill_and_wait(&state, true)?,
        Status::Running | Status::Paused if force => {
            // Frozen tasks cannot die: thaw before killing.
            if let Some(cg) = &state.cgroup {
                let _ = cg.thaw();
            }
            kill_and_wait(&state, true)?
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
    c.recycle()
}

/// Kill the init (when `kill`, and unless it is already exiting) and wait
/// until it has exited; an init that is gone or a zombie needs neither.
fn kill_and_wait(state: &crate::container::ContainerState, kill: bool) -> Result<()> {
    if state.pid <= 0 {
        return Ok(());
    }
    let fd = match PidFd::open(state.pid) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ESRCH) => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("pidfd_open {}", state.pid)),
    };
    // Checked after opening the pidfd, so a recycled pid is never touched.
    let st = match procfs::stat(state.pid) {
        Some(st) if st.start_time == state.init_start_time && !st.is_zombie() => st,
        _ => return Ok(()),
    };
    if !st.is_exiting() {
        if !kill {
            return Ok(());
        }
        let _ = fd.kill();
    }
    if !fd.wait_exit(Some(Duration::from_secs(10))) {
        return Err(Error::Invalid(format!(
            "container init {} did not exit{}",
            state.pid,
            if kill { " after SIGKILL" } else { "" }
        )));
    }
    Ok(())
}

/// linux.netDevices moved into a network namespace that outlives the
/// container (joined by path) go back to the host; with a namespace of the
/// container's own the kernel already returned (or destroyed) them when the
/// init died. Best effort, as the rest of delete's clean-up after the kill.
fn give_back_net_devices(store: &Store, id: &str) {
    let path = store.root().join(id).join(CONFIG_FILE);
    let Ok(data) = std::fs::read(&path) else {
        return;
    };
    let Some((devs, path)) = saved_net_devices(&data) else {
        return;
    };
    match std::fs::File::open(&path) {
        Ok(f) => {
            if let Err(e) = crate::netdev::move_out(&f.into(), &devs) {
                log::warn!("delete {id}: {e}");
            }
        }
        Err(e) => log::warn!("delete {id}: netDevices: open {}: {e}", path.display()),
    }
}

/// The two fields of the saved config that `delete` needs: deserializing
/// the whole runtime spec (every field of every section into oci-spec's
/// types) only to find them absent was most of a stopped container's
/// `delete` in user space.
#[derive(serde::Deserialize)]
struct SavedSpec {
    linux: Option<SavedLinux>,
}

#[derive(serde::Deserialize)]
struct SavedLinux {
    #[serde(rename = "netDevices")]
    net_devices: Option<HashMap<String, LinuxNetDevice>>,
    namespaces: Option<Vec<SavedNamespace>>,
}

#[derive(serde::Deserialize)]
struct SavedNamespace {
    #[serde(rename = "type")]
    typ: String,
    path: Option<PathBuf>,
}

/// netDevices and the path of the network namespace they were moved into,
/// when both are set (a corrupt config is treated as having none, as a
/// missing one).
fn saved_net_devices(config: &[u8]) -> Option<(HashMap<String, LinuxNetDevice>, PathBuf)> {
    let linux = serde_json::from_slice::<SavedSpec>(config).ok()?.linux?;
    let devs = linux.net_devices.filter(|d| !d.is_empty())?;
    let path = linux
        .namespaces?
        .into_iter()
        .find(|n| n.typ == "network")
        .and_then(|n| n.path)?;
    Some((devs, path))
}

#[cfg(test)]
mod tests {
    use super::saved_net_devices;

    #[test]
    fn net_devices_only_with_a_joined_network_namespace() {
        let with = br#"{"ociVersion":"1.2.0","process":{"args":["x"],"cwd":"/"},
            "linux":{"netDevices":{"dummy0":{"name":"eth1"}},
            "namespaces":[{"type":"pid"},{"type":"network","path":"/run/netns/n1"}]}}"#;
        let (devs, path) = saved_net_devices(with).expect("devices and path");
        assert_eq!(devs.len(), 1);
        assert_eq!(devs["dummy0"].name().as_deref(), Some("eth1"));
        assert_eq!(path, std::path::Path::new("/run/netns/n1"));
        let own_ns = br#"{"linux":{"netDevices":{"dummy0":{}},"namespaces":[{"type":"network"}]}}"#;
        assert!(saved_net_devices(own_ns).is_none());
        let none = br#"{"linux":{"namespaces":[{"type":"network","path":"/x"}]}}"#;
        assert!(saved_net_devices(none).is_none());
        assert!(saved_net_devices(b"{}").is_none());
        assert!(saved_net_devices(b"not json").is_none());
    }
}
