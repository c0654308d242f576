//! docker's resource and process options of `run` in the spec: the cgroup
//! parent, memory reservation and swap, the OOM killer, CPU shares, quota
//! and sets, the block-I/O weight, `/dev/shm`'s size, sysctls, ulimits,
//! devices and supplementary groups. Applied to the spec `generate` made.

use super::SpecError;
use crate::container::ContainerRecord;
use oci_spec::runtime::{
    LinuxBlockIo, LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, PosixRlimit,
    PosixRlimitBuilder, PosixRlimitType, Spec,
};
use std::path::{Path, PathBuf};

/// docker's rule for `--sysctl`: only namespaced keys, and `net.*` only with
/// the container's own network namespace.
pub fn check_sysctl(key: &str, host_net: bool) -> Result<(), String> {
    const IPC: [&str; 9] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.domainname",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") || key == "kernel.hostname" {
        return Ok(());
    }
    if key.starts_with("net.") {
        if host_net {
            return Err(format!(
                "sysctl {key:?} not allowed in host network namespace"
            ));
        }
        return Ok(());
    }
    Err(format!(
        "sysctl {key:?} is not allowed: it is not namespaced (only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and net.* are)"
    ))
}

/// The rlimit type for docker's ulimit name (`nofile` -> RLIMIT_NOFILE).
pub fn rlimit_type(name: &str) -> Result<PosixRlimitType, String> {
    let v = serde_json::Value::String(format!("RLIMIT_{}", name.to_ascii_uppercase()));
    serde_json::from_value(v).map_err(|_| format!("invalid ulimit type: {name}"))
}

/// Group names or ids of `--group-add` as gids (names from the rootfs's /etc/group).
fn group_ids(rootfs: &Path, groups: &[String]) -> Result<Vec<u32>, SpecError> {
    let file = super::user::read_in_root(rootfs, "etc/group")?.unwrap_or_default();
    groups
        .iter()
        .map(|g| {
            if let Ok(n) = g.parse::<u32>() {
                return Ok(n);
            }
            file.lines()
                .find_map(|l| {
                    let mut f = l.split(':');
                    (f.next() == Some(g.as_str()))
                        .then(|| f.nth(1).and_then(|id| id.parse().ok()))
                        .flatten()
                })
                .ok_or_else(|| {
                    SpecError::Invalid(format!(
                        "--group-add {g}: no such group in the image's /etc/group"
                    ))
                })
        })
        .collect()
}

fn invalid(e: impl std::fmt::Display) -> SpecError {
    SpecError::Invalid(e.to_string())
}

pub fn apply(rec: &ContainerRecord, rootfs: &Path, spec: &mut Spec) -> Result<(), SpecError> {
    let hc = &rec.host_config;
    let host_net = hc.network_mode.is_host();
    let gids = group_ids(rootfs, &hc.group_add)?;
    if let Some(p) = spec.process_mut() {
        if !gids.is_empty() {
            let mut all = p.user().additional_gids().clone().unwrap_or_default();
            all.extend(gids);
            p.user_mut().set_additional_gids(Some(all));
        }
        if hc.oom_score_adj != 0 {
            p.set_oom_score_adj(Some(hc.oom_score_adj as i32));
        }
        if !hc.ulimits.is_empty() {
            let mut limits: Vec<PosixRlimit> = p.rlimits().clone().unwrap_or_default();
            for u in &hc.ulimits {
                let typ = rlimit_type(&u.name).map_err(invalid)?;
                limits.retain(|l| l.typ() != typ);
                // -1 is unlimited, as docker takes it.
                let v = |n: i64| if n < 0 { u64::MAX } else { n as u64 };
                limits.push(
                    PosixRlimitBuilder::default()
                        .typ(typ)
                        .soft(v(u.soft))
                        .hard(v(u.hard))
                        .build()
                        .map_err(invalid)?,
                );
            }
            p.set_rlimits(Some(limits));
        }
    }
    if !rec.config.domainname.is_empty() {
        spec.set_domainname(Some(rec.config.domainname.clone()));
    }
    if hc.shm_size > 0 {
        if let Some(mounts) = spec.mounts_mut() {
            for m in mounts.iter_mut() {
                // Not the host's /dev/shm that `ipc: host` binds.
                if m.destination() == Path::new("/dev/shm") && m.typ().as_deref() == Some("tmpfs") {
                    let mut o = m.options().clone().unwrap_or_default();
                    o.retain(|x| !x.starts_with("size="));
                    o.push(format!("size={}", hc.shm_size));
                    m.set_options(Some(o));
                }
            }
        }
    }
    let Some(linux) = spec.linux_mut() else {
        return Ok(());
    };
    let parent = if hc.cgroup_parent.is_empty() {
        "/berth"
    } else {
        hc.cgroup_parent.as_str()
    };
    let parent = format!("/{}", parent.trim_matches('/'));
    linux.set_cgroups_path(Some(PathBuf::from(format!("{parent}/{}", rec.id))));
    if !hc.sysctls.is_empty() {
        let mut sys = linux.sysctl().clone().unwrap_or_default();
        for (k, v) in &hc.sysctls {
            check_sysctl(k, host_net).map_err(invalid)?;
            sys.insert(k.clone(), v.clone());
        }
        linux.set_sysctl(Some(sys));
    }
    let mut devices = linux.devices().clone().unwrap_or_default();
    let mut res = linux.resources().clone().unwrap_or_default();
    let mut rules = res.devices().clone().unwrap_or_default();
    for d in &hc.devices {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let md = std::fs::metadata(&d.path_on_host)
            .map_err(|e| invalid(format!("--device {}: {e}", d.path_on_host)))?;
        let typ = if md.file_type().is_char_device() {
            LinuxDeviceType::C
        } else if md.file_type().is_block_device() {
            LinuxDeviceType::B
        } else {
            return Err(invalid(format!(
                "--device {}: not a device node",
                d.path_on_host
            )));
        };
        let (major, minor) = (libc::major(md.rdev()) as i64, libc::minor(md.rdev()) as i64);
        devices.push(
            LinuxDeviceBuilder::default()
                .path(PathBuf::from(&d.path_in_container))
                .typ(typ)
                .major(major)
                .minor(minor)
                .file_mode(md.mode() & 0o777)
                .uid(0u32)
                .gid(0u32)
                .build()
                .map_err(invalid)?,
        );
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(typ)
                .major(major)
                .minor(minor)
                .access(d.cgroup_permissions.clone())
                .build()
                .map_err(invalid)?,
        );
    }
    if !hc.devices.is_empty() {
        linux.set_devices(Some(devices));
        res.set_devices(Some(rules));
    }
    let mut mem = res.memory().unwrap_or_default();
    if hc.memory_reservation > 0 {
        mem.set_reservation(Some(hc.memory_reservation));
    }
    if hc.memory_swap != 0 {
        mem.set_swap(Some(hc.memory_swap));
    }
    if hc.oom_kill_disable == Some(true) {
        mem.set_disable_oom_killer(Some(true));
    }
    if hc.memory_reservation > 0 || hc.memory_swap != 0 || hc.oom_kill_disable == Some(true) {
        res.set_memory(Some(mem));
    }
    let mut cpu = res.cpu().clone().unwrap_or_default();
    let mut cpu_set = false;
    if hc.cpu_shares > 0 {
        cpu.set_shares(Some(hc.cpu_shares as u64));
        cpu_set = true;
    }
    if hc.cpu_period > 0 {
        cpu.set_period(Some(hc.cpu_period as u64));
        cpu_set = true;
    }
    if hc.cpu_quota > 0 {
        cpu.set_quota(Some(hc.cpu_quota));
        cpu_set = true;
    }
    if !hc.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(hc.cpuset_cpus.clone()));
        cpu_set = true;
    }
    if !hc.cpuset_mems.is_empty() {
        cpu.set_mems(Some(hc.cpuset_mems.clone()));
        cpu_set = true;
    }
    if cpu_set {
        res.set_cpu(Some(cpu));
    }
    if hc.blkio_weight > 0 {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(hc.blkio_weight));
        res.set_block_io(Some(b));
    }
    linux.set_resources(Some(res));
    Ok(())
}
