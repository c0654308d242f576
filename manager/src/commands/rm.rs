//! `berth rm`: remove containers (`-f` kills a running one first, `-v` removes
//! its anonymous volumes). Also repairs what a killed `berth` left: a rootfs
//! still mounted, runtime state without a shim, a stray shim.

use crate::container::{self, ContainerRecord, ContainerStore};
use crate::context::Context;
use crate::volume::VolumeStore;
use anyhow::bail;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Remove a container that is not running (the caller holds its lock).
pub fn remove_container(
    ctx: &Context,
    store: &ContainerStore,
    rec: &ContainerRecord,
    volumes: bool,
) -> anyhow::Result<()> {
    let st = container::state(ctx, rec)?;
    if st.shim_alive && st.shim_pid > 0 {
        // only a finishing shim can be alive here (its container exited)
        unsafe { libc::kill(st.shim_pid, libc::SIGKILL) };
    }
    if super::start::runtime_has(ctx, &rec.id) {
        let _ = super::stop::runtime(ctx, &["delete", "--force", &rec.id]);
    }
    if let Err(e) = crate::network::release(ctx, &rec.id) {
        eprintln!("berth: releasing the network of {}: {e}", rec.id);
    }
    super::start::unmount_rootfs(ctx, rec)?;
    let shim_dir = rec.shim_dir(ctx);
    if shim_dir.exists() {
        let _ = std::fs::remove_dir_all(&shim_dir);
    }
    store.remove(rec)?;
    if volumes {
        let anon = rec.anonymous_volumes();
        if !anon.is_empty() {
            let vs = VolumeStore::open(ctx)?;
            for name in anon {
                let users = crate::volume::users(ctx, &name);
                if let Err(e) = vs.remove(&name, &users) {
                    eprintln!("berth: keeping volume {name}: {e}");
                }
            }
        }
    }
    Ok(())
}

fn wait_stopped(ctx: &Context, rec: &ContainerRecord, timeout: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + timeout;
    loop {
        let st = container::state(ctx, rec)?;
        if !st.running {
            return Ok(());
        }
        if Instant::now() >= end {
            bail!("container {} did not stop", rec.id);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn rm_one(
    ctx: &Context,
    store: &ContainerStore,
    name: &str,
    force: bool,
    volumes: bool,
) -> anyhow::Result<()> {
    let rec = store.resolve(name)?;
    let _lock = store.lock(&rec.id)?;
    let rec = store.load(&rec.id)?;
    let st = container::state(ctx, &rec)?;
    if st.running {
        if !force {
            bail!(
                "You cannot remove a {} container {}. Stop the container before attempting removal or force remove",
                st.status,
                rec.id
            );
        }
        if st.paused {
            let _ = super::pause::set_paused(ctx, &rec, false);
        }
        if st.shim_alive {
            // the shim must not restart it: stop (user_stopped) with no grace
            let _ = crate::shim_client::request(
                &rec.shim_dir(ctx),
                &serde_json::json!({"op": "stop", "signal": libc::SIGKILL, "timeout_s": 0}),
            );
        } else {
            let _ = super::stop::runtime(ctx, &["kill", "--all", &rec.id, "9"]);
        }
        wait_stopped(ctx, &rec, Duration::from_secs(10))?;
    }
    remove_container(ctx, store, &rec, volumes)
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    Ok(super::for_each_container(&args.containers, |c| {
        rm_one(ctx, &store, c, args.force, args.volumes)?;
        Ok(None)
    }))
}
