//! OCI bundle builder: a temp dir with a busybox + checker rootfs and a config.json
//! generated from the embedded `runc spec` template.

use crate::spec_template::RUNC_SPEC_TEMPLATE;
use crate::sys::{self, TempDir};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Busybox applets symlinked into rootfs/bin.
pub const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "id", "sleep", "true", "false", "hostname", "mount", "stat", "env",
    "pwd", "test", "touch", "readlink", "mkdir", "rm", "ln", "grep", "kill", "chmod",
];

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
tester:x:1000:1000:tester:/tmp:/bin/sh\n";

pub const GROUP: &str = "root:x:0:\n\
nobody:x:65534:\n\
tester:x:1000:\n\
extra:x:2000:\n";

/// The name of the env var (`NAME=value`) every bundle's process gets, used to find
/// leaked container processes by scanning /proc/*/environ.
pub const MARKER_VAR: &str = "BERTH_TEST_MARKER";

/// Capability names in bit order (bit N = CAP name at index N).
pub const CAP_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bit mask of a set of capability names, formatted like /proc/self/status.
pub fn cap_mask(names: &[&str]) -> String {
    let mut m: u64 = 0;
    for n in names {
        let bit = CAP_NAMES
            .iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("unknown capability {n}"));
        m |= 1 << bit;
    }
    format!("{m:016x}")
}

/// The capabilities this kernel knows (/proc/sys/kernel/cap_last_cap) that are also in
/// the test process's bounding set (a sandbox may lack some, e.g. CAP_SYS_RESOURCE), so
/// a runtime can actually grant them.
pub fn all_caps() -> Vec<&'static str> {
    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let bnd = host_cap_bounding();
    CAP_NAMES[..=last.min(CAP_NAMES.len() - 1)]
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1u64 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// CapBnd of the test process.
pub fn host_cap_bounding() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

pub struct Bundle {
    dir: TempDir,
    /// The config that [`Bundle::save`] writes to config.json.
    pub config: Value,
    /// When false, the runtime helpers do not (re)write config.json before running
    /// (for tests that write a raw/malformed config.json themselves).
    pub autosave: bool,
    marker: String,
}

impl Bundle {
    /// A new bundle. The config is the `runc spec` template with: terminal false,
    /// root.readonly false, args `/checker report`, a marker env var appended.
    pub fn new(name: &str) -> Bundle {
        crate::init();
        let dir = TempDir::new(name);
        let rootfs = dir.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        sys::set_mode(&rootfs.join("tmp"), 0o1777);
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy /bin/busybox");
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        std::fs::copy(crate::checker_bin(), rootfs.join("checker")).expect("copy checker");
        sys::set_mode(&rootfs.join("checker"), 0o755);
        std::fs::write(rootfs.join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(rootfs.join("etc/group"), GROUP).unwrap();

        let marker = format!("{}-{}-{}", name, std::process::id(), sys::unique());
        let mut config: Value =
            serde_json::from_str(RUNC_SPEC_TEMPLATE).expect("embedded spec template");
        config["process"]["terminal"] = json!(false);
        config["root"]["readonly"] = json!(false);
        config["process"]["args"] = json!(["/checker", "report"]);
        config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(format!("{MARKER_VAR}={marker}")));
        let b = Bundle {
            dir,
            config,
            autosave: true,
            marker,
        };
        b.save();
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// A path inside the bundle directory.
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.dir.join(p)
    }

    /// A path inside the rootfs (`rel` may start with '/').
    pub fn rootfs_path(&self, rel: &str) -> PathBuf {
        self.rootfs().join(rel.trim_start_matches('/'))
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// `BERTH_TEST_MARKER=<unique>`, present in the process env unless a test replaced it.
    pub fn marker_env(&self) -> String {
        format!("{MARKER_VAR}={}", self.marker)
    }

    /// Write config.json.
    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).unwrap();
        std::fs::write(self.config_path(), text).expect("write config.json");
    }

    /// Write raw text as config.json and turn autosave off.
    pub fn write_raw_config(&mut self, text: &str) {
        self.autosave = false;
        std::fs::write(self.config_path(), text).expect("write config.json");
    }

    pub fn keep(&mut self) {
        self.dir.keep();
    }

    // ---- rootfs content helpers

    pub fn write_file(&self, rel: &str, content: &str, mode: u32) -> PathBuf {
        let p = self.rootfs_path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        sys::set_mode(&p, mode);
        p
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.rootfs_path(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn symlink(&self, target: &str, rel: &str) {
        let p = self.rootfs_path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::os::unix::fs::symlink(target, p).unwrap();
    }

    // ---- config editing helpers (chainable)

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Args for the checker: `checker_args(&["sleep", "30"])` → `/checker sleep 30`.
    pub fn checker(&mut self, args: &[&str]) -> &mut Self {
        let mut v = vec!["/checker"];
        v.extend_from_slice(args);
        self.args(&v)
    }

    /// Replace the env entirely (the leak marker is kept at the end).
    pub fn env(&mut self, env: &[&str]) -> &mut Self {
        let mut v: Vec<String> = env.iter().map(|s| s.to_string()).collect();
        v.push(self.marker_env());
        self.config["process"]["env"] = json!(v);
        self
    }

    pub fn add_env(&mut self, kv: &str) -> &mut Self {
        self.config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(kv));
        self
    }

    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.config["process"]["cwd"] = json!(cwd);
        self
    }

    pub fn user(&mut self, uid: u32, gid: u32, additional: &[u32]) -> &mut Self {
        let mut u = json!({"uid": uid, "gid": gid});
        if !additional.is_empty() {
            u["additionalGids"] = json!(additional);
        }
        self.config["process"]["user"] = u;
        self
    }

    pub fn umask(&mut self, umask: u32) -> &mut Self {
        self.config["process"]["user"]["umask"] = json!(umask);
        self
    }

    /// Set all five capability sets (bounding, effective, permitted, inheritable, ambient).
    pub fn caps_all_sets(&mut self, caps: &[&str]) -> &mut Self {
        self.config["process"]["capabilities"] = json!({
            "bounding": caps, "effective": caps, "permitted": caps,
            "inheritable": caps, "ambient": caps,
        });
        self
    }

    /// Set one capability set ("bounding", "effective", ...).
    pub fn cap_set(&mut self, set: &str, caps: &[&str]) -> &mut Self {
        self.config["process"]["capabilities"][set] = json!(caps);
        self
    }

    pub fn rlimits(&mut self, limits: &[(&str, u64, u64)]) -> &mut Self {
        let v: Vec<Value> = limits
            .iter()
            .map(|(t, soft, hard)| json!({"type": t, "soft": soft, "hard": hard}))
            .collect();
        self.config["process"]["rlimits"] = json!(v);
        self
    }

    pub fn no_new_privileges(&mut self, on: bool) -> &mut Self {
        self.config["process"]["noNewPrivileges"] = json!(on);
        self
    }

    pub fn terminal(&mut self, on: bool) -> &mut Self {
        self.config["process"]["terminal"] = json!(on);
        self
    }

    pub fn hostname(&mut self, h: &str) -> &mut Self {
        self.config["hostname"] = json!(h);
        self
    }

    pub fn domainname(&mut self, d: &str) -> &mut Self {
        self.config["domainname"] = json!(d);
        self
    }

    pub fn readonly_root(&mut self, ro: bool) -> &mut Self {
        self.config["root"]["readonly"] = json!(ro);
        self
    }

    pub fn namespaces(&self) -> Vec<Value> {
        self.config["linux"]["namespaces"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Add (or replace) a namespace; `path` joins an existing one.
    pub fn add_namespace(&mut self, ty: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(ty);
        let mut ns = json!({"type": ty});
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(ns);
        self
    }

    pub fn remove_namespace(&mut self, ty: &str) -> &mut Self {
        if let Some(a) = self.config["linux"]["namespaces"].as_array_mut() {
            a.retain(|n| n["type"] != ty);
        }
        self
    }

    pub fn uid_mappings(&mut self, container: u32, host: u32, size: u32) -> &mut Self {
        self.config["linux"]["uidMappings"] =
            json!([{"containerID": container, "hostID": host, "size": size}]);
        self.config["linux"]["gidMappings"] =
            json!([{"containerID": container, "hostID": host, "size": size}]);
        self
    }

    /// Append a mount.
    pub fn add_mount(&mut self, dest: &str, ty: &str, source: &str, options: &[&str]) -> &mut Self {
        let mut m = json!({"destination": dest, "source": source, "options": options});
        if !ty.is_empty() {
            m["type"] = json!(ty);
        }
        self.config["mounts"].as_array_mut().unwrap().push(m);
        self
    }

    /// A bind mount of a host path.
    pub fn add_bind(&mut self, dest: &str, source: &Path, options: &[&str]) -> &mut Self {
        let mut opts = vec!["bind"];
        if options.contains(&"rbind") {
            opts.clear();
        }
        opts.extend_from_slice(options);
        self.add_mount(dest, "bind", &source.to_string_lossy(), &opts)
    }

    pub fn remove_mount(&mut self, dest: &str) -> &mut Self {
        if let Some(a) = self.config["mounts"].as_array_mut() {
            a.retain(|m| m["destination"] != dest);
        }
        self
    }

    /// Add a hook: `kind` is prestart, createRuntime, createContainer, startContainer,
    /// poststart or poststop.
    pub fn add_hook(&mut self, kind: &str, hook: Value) -> &mut Self {
        if !self.config["hooks"].is_object() {
            self.config["hooks"] = json!({});
        }
        if !self.config["hooks"][kind].is_array() {
            self.config["hooks"][kind] = json!([]);
        }
        self.config["hooks"][kind]
            .as_array_mut()
            .unwrap()
            .push(hook);
        self
    }

    pub fn set_linux(&mut self, key: &str, v: Value) -> &mut Self {
        self.config["linux"][key] = v;
        self
    }

    pub fn set_process(&mut self, key: &str, v: Value) -> &mut Self {
        self.config["process"][key] = v;
        self
    }

    /// Marker-based check for leaked container processes of this bundle.
    pub fn leaked_pids(&self) -> Vec<i32> {
        sys::pids_with_env(&self.marker_env())
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Kill any process still running with this bundle's marker (its container leaked).
        for pid in self.leaked_pids() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            sys::wait_pid_gone(pid, std::time::Duration::from_secs(2));
        }
        // TempDir's drop unmounts leftovers and removes the directory.
    }
}
