//! Loading and validating a bundle's `config.json`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).map_err(|source| Error::Bundle {
            path: dir.to_path_buf(),
            source,
        })?;
        let config_path = dir.join("config.json");
        let data = std::fs::read(&config_path).map_err(|e| Error::Config {
            path: config_path.clone(),
            msg: e.to_string(),
        })?;
        // Unknown fields are ignored, as the runtime spec requires.
        let spec: Spec = parse_lenient(&data, |v| {
            v.get_mut("process")
                .is_some_and(|p| drop_unknown_capabilities(p) | scheduler_flag_names(p))
        })
        .map_err(|e| Error::Config {
            path: config_path.clone(),
            msg: format!("invalid configuration: {e}"),
        })?;
        let bad = |msg: String| Error::Config {
            path: config_path.clone(),
            msg,
        };
        check_version(spec.version()).map_err(&bad)?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| bad("root is required".into()))?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            dir.join(root.path())
        };
        let rootfs = std::fs::canonicalize(&rootfs)
            .map_err(|e| bad(format!("root.path {}: {e}", rootfs.display())))?;
        if !rootfs.is_dir() {
            return Err(bad(format!(
                "root.path {} is not a directory",
                rootfs.display()
            )));
        }
        validate(&spec).map_err(&bad)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Parse `data` as T; only if that fails, retry once after `fix` (which
/// returns whether it changed anything), so the common path parses once.
pub fn parse_lenient<T: serde::de::DeserializeOwned>(
    data: &[u8],
    fix: impl FnOnce(&mut serde_json::Value) -> bool,
) -> serde_json::Result<T> {
    match serde_json::from_slice(data) {
        Ok(t) => Ok(t),
        Err(first) => {
            let mut value: serde_json::Value = serde_json::from_slice(data)?;
            if fix(&mut value) {
                serde_json::from_value(value)
            } else {
                Err(first)
            }
        }
    }
}

/// Like runc, capability names this build does not know are skipped with a
/// warning instead of failing the container: configs may name capabilities
/// newer than the runtime. Returns whether any was dropped.
pub fn drop_unknown_capabilities(process: &mut serde_json::Value) -> bool {
    let mut dropped = false;
    let Some(caps) = process
        .get_mut("capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return false;
    };
    for (set, names) in caps.iter_mut() {
        let Some(list) = names.as_array_mut() else {
            continue;
        };
        list.retain(|n| {
            let known = serde_json::from_value::<oci_spec::runtime::Capability>(n.clone()).is_ok();
            if !known {
                log::warn!("ignoring unknown capability {n} in process.capabilities.{set}");
                dropped = true;
            }
            known
        });
    }
    dropped
}

/// The runtime-spec's names of two scheduler flags, `SCHED_FLAG_RESET_ON_FORK`
/// and `SCHED_FLAG_DL_OVERRUN`, are not the ones oci-spec 0.10 reads
/// (`SCHED_RESET_ON_FORK`, `SCHED_FLAG_D_L_OVERRUN`, from its variant names):
/// rename them so that a config in the spec's words is not refused. Returns
/// whether any was renamed.
pub fn scheduler_flag_names(process: &mut serde_json::Value) -> bool {
    let Some(flags) = process
        .pointer_mut("/scheduler/flags")
        .and_then(|f| f.as_array_mut())
    else {
        return false;
    };
    let mut renamed = false;
    for f in flags {
        let theirs = match f.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *f = serde_json::Value::from(theirs);
        renamed = true;
    }
    renamed
}

/// The runtime implements spec 1.x; any other major version is refused.
fn check_version(v: &str) -> std::result::Result<(), String> {
    let mut parts = v.split(['.', '-', '+']);
    let major = parts.next().unwrap_or("");
    let minor = parts.next().unwrap_or("");
    if major == "1" && !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "unsupported ociVersion {v:?}: this runtime implements runtime-spec 1.x"
        ))
    }
}

fn validate(spec: &Spec) -> std::result::Result<(), String> {
    let process = spec.process().as_ref().ok_or("process is required")?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err("process.args must not be empty".into());
    }
    if !process.cwd().is_absolute() {
        return Err(format!(
            "process.cwd {:?} must be an absolute path",
            process.cwd()
        ));
    }
    // CPU lists are checked here, so a bad one fails before anything exists.
    if let Some(a) = process.exec_cpu_affinity() {
        for list in [a.initial(), a.cpu_affinity_final()].into_iter().flatten() {
            crate::init::sched::parse_cpu_list(list).map_err(|e| e.to_string())?;
        }
    }
    let linux = spec.linux().as_ref();
    let namespaces = linux
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut seen = Vec::new();
    for ns in &namespaces {
        if seen.contains(&ns.typ()) {
            return Err(format!("namespace {} is listed twice", ns.typ()));
        }
        seen.push(ns.typ());
    }
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err("unable to set hostname without a private UTS namespace".into());
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err("unable to set domainname without a private UTS namespace".into());
    }
    let user_new = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if let Some(l) = linux {
        let has_maps = l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            && l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if user_new && !has_maps {
            return Err("user namespace enabled, but no uid/gid mappings found".into());
        }
        if !has(LinuxNamespaceType::User)
            && (l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
                || l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty()))
        {
            return Err("uid/gid mappings require a user namespace".into());
        }
        if l.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
            && !namespaces
                .iter()
                .any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none())
        {
            return Err("timeOffsets require a new time namespace".into());
        }
        if let Some(devs) = l.net_devices().as_ref().filter(|d| !d.is_empty()) {
            // runc: devices can only go into a namespace of the container's own.
            if !has(LinuxNamespaceType::Network) {
                return Err(
                    "netDevices requires a network namespace of the container's own (linux.namespaces has no network)".into(),
                );
            }
            crate::netdev::validate(devs).map_err(|e| e.to_string())?;
        }
        if l.intel_rdt().is_some() && !std::path::Path::new("/sys/fs/resctrl/info").exists() {
            return Err(
                "linux.intelRdt requires the kernel's resctrl filesystem (Intel RDT / AMD QoS), which is not mounted at /sys/fs/resctrl on this host".into(),
            );
        }
        if l.intel_rdt().is_some() {
            return Err("linux.intelRdt is not implemented by this build of berth-runtime".into());
        }
        for key in l
            .sysctl()
            .as_ref()
            .map(|m| m.keys().collect())
            .unwrap_or(Vec::<&String>::new())
        {
            validate_sysctl(key, &has)?;
        }
    } else if user_new {
        return Err("user namespace enabled, but no uid/gid mappings found".into());
    }
    if let Some(m) = spec.mounts() {
        for mnt in m {
            if !mnt.destination().is_absolute() {
                return Err(format!(
                    "mount destination {:?} must be an absolute path",
                    mnt.destination()
                ));
            }
        }
    }
    Ok(())
}

/// runc's rule: a sysctl may only be set where the container has the
/// namespace that scopes it, otherwise it would change the host.
fn validate_sysctl(
    key: &str,
    has: &dyn Fn(LinuxNamespaceType) -> bool,
) -> std::result::Result<(), String> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        if has(LinuxNamespaceType::Ipc) {
            return Ok(());
        }
        return Err(format!(
            "sysctl {key:?} is not allowed: the container has no private IPC namespace"
        ));
    }
    if key.starts_with("net.") {
        if has(LinuxNamespaceType::Network) {
            return Ok(());
        }
        return Err(format!(
            "sysctl {key:?} is not allowed: the container has no private network namespace"
        ));
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if has(LinuxNamespaceType::Uts) {
            return Ok(());
        }
        return Err(format!(
            "sysctl {key:?} is not allowed: the container has no private UTS namespace"
        ));
    }
    Err(format!(
        "sysctl {key:?} is not in a separate kernel namespace"
    ))
}

#[cfg(test)]
mod tests {
    use super::{check_version, drop_unknown_capabilities, parse_lenient, scheduler_flag_names};

    #[test]
    fn scheduler_flags_in_the_specs_words() {
        use oci_spec::runtime::LinuxSchedulerFlag as F;
        let data = br#"{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0},
            "scheduler":{"policy":"SCHED_DEADLINE","flags":["SCHED_FLAG_RESET_ON_FORK",
            "SCHED_FLAG_DL_OVERRUN","SCHED_FLAG_RECLAIM"]}}"#;
        let p: oci_spec::runtime::Process = parse_lenient(data, scheduler_flag_names).unwrap();
        let flags = p.scheduler().as_ref().unwrap().flags().clone().unwrap();
        assert_eq!(
            flags,
            [
                F::SchedResetOnFork,
                F::SchedFlagDLOverrun,
                F::SchedFlagReclaim
            ]
        );
        // An unknown flag stays an error.
        let bad = br#"{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0},
            "scheduler":{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_X"]}}"#;
        let r: serde_json::Result<oci_spec::runtime::Process> =
            parse_lenient(bad, scheduler_flag_names);
        assert!(r.is_err());
    }

    #[test]
    fn unknown_capabilities_are_dropped_not_fatal() {
        let data = br#"{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0},
            "capabilities":{"bounding":["CAP_CHOWN","CAP_TEST"],"effective":["CAP_TEST"]}}"#;
        let p: oci_spec::runtime::Process = parse_lenient(data, drop_unknown_capabilities).unwrap();
        let caps = p.capabilities().as_ref().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        assert!(caps.effective().as_ref().unwrap().is_empty());
    }

    #[test]
    fn other_errors_stay_errors() {
        let r: serde_json::Result<oci_spec::runtime::Spec> = parse_lenient(b"[1, 2]", |v| {
            v.get_mut("process").is_some_and(drop_unknown_capabilities)
        });
        assert!(r.is_err());
        let r: serde_json::Result<oci_spec::runtime::Process> =
            parse_lenient(br#"{"args": 5}"#, drop_unknown_capabilities);
        assert!(r.is_err());
    }

    #[test]
    fn versions() {
        for ok in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.1", "1.3.0+dev"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "2.0.0", "0.1.0", "1", "abc", "1.x"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
