//! Where the shim keeps things on the host.

use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The runtime's `--root` is `<this>/<namespace>` (runc's shim uses /run/containerd/runc).
pub const RUNTIME_ROOT: &str = "/run/containerd/berth";
/// Per-container work directories of the supervisors (short: the console socket's path
/// must fit a sockaddr_un; containerd's bundle paths do not).
pub const WORK_ROOT: &str = "/run/berth-containerd";
/// Shim sockets, beside containerd's runc shims'.
pub const SOCKET_DIR: &str = "/run/containerd/s";
/// In the bundle: the runtime, its root and the work directory, for `delete`.
pub const PLACEMENT_FILE: &str = "berth-shim.json";

fn hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn workdir(namespace: &str, id: &str) -> PathBuf {
    let h = hex(format!("{namespace}/{id}").as_bytes());
    PathBuf::from(WORK_ROOT).join(&h[..24])
}

/// The shim socket for a group (a pod, or one container) of a containerd.
pub fn socket_path(address: &str, namespace: &str, group: &str) -> PathBuf {
    let h = hex(format!("berth:{address}/{namespace}/{group}").as_bytes());
    PathBuf::from(SOCKET_DIR).join(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_short_and_distinct() {
        let a = workdir("k8s.io", &"x".repeat(64));
        assert!(a.join("console.sock").as_os_str().len() < 100);
        assert_ne!(workdir("a", "b"), workdir("a", "c"));
        assert!(
            socket_path("/run/containerd/containerd.sock", "default", "c")
                .as_os_str()
                .len()
                < 100
        );
    }
}
