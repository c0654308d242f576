//! AppArmor and SELinux labels for the user process, applied on exec.
//! Asking for a label on a host without that LSM is an error, never a
//! silent pass.

use crate::error::{Error, Result, SysContext};

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
}

pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Check before any work is done, so `create` fails cleanly.
pub fn check(apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    if apparmor.is_some_and(|p| !p.is_empty()) && !apparmor_enabled() {
        return Err(Error::Unsupported(
            "apparmorProfile",
            format!(
                "profile {:?} requested but AppArmor is not enabled on this host",
                apparmor.unwrap_or("")
            ),
        ));
    }
    if selinux.is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        return Err(Error::Unsupported(
            "selinuxLabel",
            format!(
                "label {:?} requested but SELinux is not enabled on this host",
                selinux.unwrap_or("")
            ),
        ));
    }
    Ok(())
}

pub fn apply_apparmor(profile: &str) -> Result<()> {
    let new = "/proc/self/attr/apparmor/exec";
    let path = if std::path::Path::new(new).exists() {
        new
    } else {
        "/proc/self/attr/exec"
    };
    std::fs::write(path, format!("exec {profile}"))
        .ctx(|| format!("apply AppArmor profile {profile:?}"))
}

pub fn apply_selinux(label: &str) -> Result<()> {
    std::fs::write("/proc/self/attr/exec", label).ctx(|| format!("set SELinux label {label:?}"))
}
