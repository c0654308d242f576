//! What docker's daemon reported about itself, read from the stores without
//! one: `info` (the host and the stores' counts) and `df` (disk usage by
//! images, containers and volumes). Both only read records and status files,
//! so they stay fast with many containers.

pub mod prune;
pub mod reset;

use crate::container::{self, ContainerStore};
use crate::context::Context;
use crate::image::view::{all_views, View};
use crate::volume::VolumeStore;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error(transparent)]
    Container(#[from] container::ContainerError),
    #[error(transparent)]
    View(#[from] crate::image::view::ViewError),
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Filter(#[from] prune::FilterError),
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// `PRETTY_NAME` of /etc/os-release.
fn os_name() -> String {
    read_trim("/etc/os-release")
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    read_trim("/proc/meminfo")
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// docker's `info` object (the fields berth has an answer for).
pub fn info(ctx: &Context) -> Result<Value, SystemError> {
    let mut security_options = crate::spec::security_options();
    // docker's order: userns (a daemon-wide remap is on), then cgroupns
    if ctx.settings.userns_remap.is_some() {
        security_options.push("name=userns".to_string());
    }
    security_options.push("name=cgroupns".to_string());
    let store = ContainerStore::open(ctx)?;
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    let recs = store.list()?;
    for rec in &recs {
        let st = container::state(ctx, rec);
        if st.paused {
            paused += 1;
        } else if st.running {
            running += 1;
        } else {
            stopped += 1;
        }
    }
    let images: HashSet<_> = crate::store::ImageStore::open(&ctx.root)
        .and_then(|s| s.list())
        .map(|l| l.into_iter().map(|r| r.config).collect())
        .unwrap_or_default();
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let cgroup2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mut warnings = Vec::new();
    let memory = if cgroup2 {
        read_trim("/sys/fs/cgroup/cgroup.subtree_control")
            .unwrap_or_default()
            .contains("memory")
    } else {
        std::path::Path::new("/sys/fs/cgroup/memory").is_dir()
    };
    if !memory {
        warnings.push("WARNING: No memory limit support".to_string());
    }
    if read_trim("/proc/sys/net/ipv4/ip_forward").as_deref() == Some("0") {
        warnings.push("WARNING: IPv4 forwarding is disabled".to_string());
    }
    Ok(json!({
        "ID": "",
        "Containers": recs.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images.len(),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "overlay"]],
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if cgroup2 { "2" } else { "1" },
        "CgroupParent": ctx.cgroup_parent(),
        "KernelVersion": field(|u| u.release()),
        "OperatingSystem": os_name(),
        "OSType": "linux",
        "Architecture": field(|u| u.machine()),
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": mem_total(),
        "Name": field(|u| u.nodename()),
        "DockerRootDir": ctx.root,
        "StateDir": ctx.state,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "DefaultRuntime": "berth-runtime",
        "Runtimes": {"berth-runtime": {"path": ctx.runtime}},
        "Shim": ctx.shim,
        "SecurityOptions": security_options,
        "RegistryConfig": registry_config(ctx),
        "Warnings": warnings,
    }))
}

/// docker's `RegistryConfig`: the insecure registries and each registry's
/// mirrors from the config file (Docker Hub's also as `Mirrors`).
fn registry_config(ctx: &Context) -> serde_json::Value {
    let url = |m: &crate::config::Mirror| {
        format!(
            "{}://{}/",
            if m.plain_http { "http" } else { "https" },
            m.host
        )
    };
    let mut index = serde_json::Map::new();
    index.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Official": true, "Secure": true,
               "Mirrors": ctx.settings.mirrors_of("docker.io").iter().map(url).collect::<Vec<_>>()}),
    );
    for (reg, ms) in &ctx.settings.mirrors {
        if reg != "docker.io" {
            index.insert(
                reg.clone(),
                json!({"Name": reg, "Official": false,
                       "Secure": !ctx.settings.insecure_registries.contains(reg),
                       "Mirrors": ms.iter().map(url).collect::<Vec<_>>()}),
            );
        }
    }
    json!({
        "IndexConfigs": index,
        "InsecureRegistryCIDRs": ["127.0.0.0/8"],
        "Mirrors": ctx.settings.mirrors_of("docker.io").iter().map(url).collect::<Vec<_>>(),
        "InsecureRegistries": ctx.settings.insecure_registries,
    })
}

/// One row of `df`'s detail.
#[derive(Debug, Clone)]
pub struct Usage {
    pub name: String,
    pub size: u64,
    /// Containers using it (images, volumes); 1 for a running container.
    pub users: usize,
    pub created: String,
    pub extra: Value,
}

#[derive(Debug, Default)]
pub struct Df {
    pub images: Vec<Usage>,
    pub containers: Vec<Usage>,
    pub volumes: Vec<Usage>,
}

/// Disk usage: images (their layers' stored sizes), containers (their upper
/// layers), volumes (their data).
pub fn df(ctx: &Context) -> Result<Df, SystemError> {
    let store = ContainerStore::open(ctx)?;
    let recs = store.list()?;
    let mut image_users: HashMap<String, usize> = HashMap::new();
    let mut volume_users: HashMap<String, usize> = HashMap::new();
    let mut out = Df::default();
    for rec in &recs {
        *image_users
            .entry(rec.image.trim_start_matches("sha256:").to_string())
            .or_default() += 1;
        for m in &rec.mounts {
            if m.r#type == container::MountKind::Volume {
                *volume_users.entry(m.name.clone()).or_default() += 1;
            }
        }
        let st = container::state(ctx, rec);
        let upper = rec.dir(ctx).join("upper");
        out.containers.push(Usage {
            name: rec.name.clone(),
            size: if upper.exists() {
                crate::volume::tree::disk_usage(&upper)
            } else {
                0
            },
            users: usize::from(st.running),
            created: rec.created.clone(),
            extra: json!({"ID": rec.id, "Image": rec.config.image, "Command": rec.path, "Status": container::human_status(&st)}),
        });
    }
    let mut seen = HashSet::new();
    for v in all_views(ctx)? {
        let View {
            record,
            repository,
            tag,
            size,
            created,
            ..
        } = v;
        let id = record.config.hex().to_string();
        if !seen.insert(id.clone()) {
            continue;
        }
        out.images.push(Usage {
            name: format!("{repository}:{tag}"),
            size,
            users: image_users.get(&id).copied().unwrap_or(0),
            created,
            extra: json!({"ID": record.config.to_string(), "Repository": repository, "Tag": tag}),
        });
    }
    let vols = VolumeStore::open(ctx)?;
    for v in vols.list()? {
        out.volumes.push(Usage {
            size: vols.size(&v),
            users: volume_users.get(&v.name).copied().unwrap_or(0),
            created: v.created.clone(),
            extra: json!({"Driver": v.driver}),
            name: v.name,
        });
    }
    Ok(out)
}
