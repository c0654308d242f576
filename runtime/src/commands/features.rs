//! `features`: the runtime-spec features document, describing what this
//! build supports on this host (engines read it to decide what to use).

use serde_json::json;

use crate::cgroups::{self, CgroupMode};
use crate::init::lsm;
use crate::seccomp;

const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

fn capabilities() -> Vec<String> {
    caps::all()
        .into_iter()
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

pub fn document() -> serde_json::Value {
    let host = cgroups::host_info();
    let (v1, v2) = match host.mode {
        Some(CgroupMode::V2) => (false, true),
        Some(CgroupMode::Hybrid) => (true, true),
        Some(CgroupMode::V1) => (true, false),
        None => (false, false),
    };
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": capabilities(),
            "cgroup": {
                "v1": v1,
                "v2": v2,
                // True only when the driver reaches systemd (a D-Bus
                // connection is tried only where /run/systemd/system says
                // systemd runs). No user-manager driver: systemdUser false.
                "systemd": host.systemd_running && cgroups::systemd_reachable(),
                "systemdUser": false,
                "rdma": host.controllers.iter().any(|c| c == "rdma"),
            },
            "seccomp": {
                "enabled": true,
                "actions": seccomp::supported_actions(),
                "operators": seccomp::supported_operators(),
                "archs": seccomp::supported_archs(),
                "knownFlags": seccomp::known_flags(),
                "supportedFlags": seccomp::supported_flags(),
            },
            "apparmor": {"enabled": lsm::apparmor_enabled()},
            "selinux": {"enabled": lsm::selinux_enabled()},
            // Refused with an error naming resctrl (see bundle.rs).
            "intelRdt": {"enabled": false},
            "netDevices": {"enabled": true},
            // Every mode and flag init::sched::apply_memory_policy maps.
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_PREFERRED", "MPOL_BIND", "MPOL_INTERLEAVE",
                          "MPOL_LOCAL", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"],
            },
            // containerd enables user-namespaced pods only with idmap mounts:
            // implemented (rootfs/idmap.rs) wherever the kernel has mount_setattr.
            "mountExtensions": {"idmap": {"enabled": crate::rootfs::idmap::kernel_supports_idmap()}},
        },
        "annotations": {
            "io.github.berth.runtime.version": env!("CARGO_PKG_VERSION"),
            "io.github.berth.runtime.libseccomp.version": seccomp::libseccomp_version().unwrap_or_default(),
        }
    })
}

pub fn run() -> crate::error::Result<()> {
    let s = serde_json::to_string_pretty(&document())
        .map_err(|e| crate::error::Error::Invalid(e.to_string()))?;
    println!("{s}");
    Ok(())
}
