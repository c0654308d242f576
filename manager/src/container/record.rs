//! The container record (`<root>/containers/<id>/container.json`): what the user
//! asked for, merged with the image's config at create time. `Config` and
//! `HostConfig` use docker's field names so `inspect` prints them as they are.

use crate::context::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// docker's healthcheck config (durations in nanoseconds).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

/// docker's container `Config`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// "80/tcp" -> {} (the image's EXPOSE and `--expose`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// A `--mount` as given (docker's `HostConfig.Mounts` entry).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    pub r#type: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    pub size_bytes: i64,
    pub mode: u32,
}

/// docker's `HostConfig` (the subset berth supports).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Vec<String>,
    pub mounts: Vec<MountSpec>,
    pub tmpfs: BTreeMap<String, String>,
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    pub readonly_rootfs: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub restart_policy: RestartPolicy,
    pub init: Option<bool>,
    pub auto_remove: bool,
    pub network_mode: String,
    pub log_config: LogConfig,
    /// `-p`: "80/tcp" -> host bindings.
    pub port_bindings: crate::network::model::PortMap,
    /// `-P`: publish every exposed port on a random host port.
    pub publish_all_ports: bool,
    #[serde(rename = "Dns")]
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host NAME:IP` (IP may be `host-gateway`).
    pub extra_hosts: Vec<String>,
    /// `--link NAME:ALIAS`.
    pub links: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    pub r#type: String,
    pub config: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            r#type: "json-file".into(),
            config: BTreeMap::new(),
        }
    }
}

/// A resolved mount (docker's inspect `Mounts` entry).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// volume | bind | tmpfs
    pub r#type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
    /// tmpfs mount options ("size=...,mode=..."), berth's own field.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub options: String,
    /// An anonymous volume (removed by `rm -v`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// `<root>/containers/<id>/container.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct ContainerRecord {
    /// 64 hex.
    pub id: String,
    /// Unique, without the leading '/'.
    pub name: String,
    /// The image id (config digest "sha256:...").
    pub image: String,
    /// The image name as the user gave it, normalized.
    pub image_name: String,
    /// RFC 3339.
    pub created: String,
    /// The process: Entrypoint ++ Cmd resolved at create time (docker's Path/Args).
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    pub host_config: HostConfig,
    pub mounts: Vec<MountPoint>,
    /// `--security-opt seccomp=FILE`: the profile's content, read at create time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<String>,
    /// The networks to join and each one's options (docker's NetworkingConfig).
    pub networking_config: crate::network::model::NetworkingConfig,
}

impl ContainerRecord {
    /// `<root>/containers/<id>`.
    pub fn dir(&self, ctx: &Context) -> PathBuf {
        ctx.root.join("containers").join(&self.id)
    }

    /// `<root>/containers/<id>/bundle`.
    pub fn bundle(&self, ctx: &Context) -> PathBuf {
        self.dir(ctx).join("bundle")
    }

    /// `<root>/containers/<id>/bundle/rootfs` (the overlay mountpoint).
    pub fn rootfs(&self, ctx: &Context) -> PathBuf {
        self.bundle(ctx).join("rootfs")
    }

    /// `<state>/containers/<id>`: the shim's directory. Its sockets must fit in
    /// sun_path (108 bytes): under a long `--state` the directory is named by the
    /// first 16 hex digits of the id instead (the same rule for every caller).
    pub fn shim_dir(&self, ctx: &Context) -> PathBuf {
        let full = ctx.state.join("containers").join(&self.id);
        // the longest socket name the shim uses: exec-<16 hex sid>.sock
        if full.as_os_str().len() + "/exec-0123456789abcdef.sock".len() < 104 {
            full
        } else {
            ctx.state
                .join("containers")
                .join(&self.id[..self.id.len().min(16)])
        }
    }

    /// `<root>/containers/<id>/<id>-json.log`.
    pub fn log_path(&self, ctx: &Context) -> PathBuf {
        self.dir(ctx).join(format!("{}-json.log", self.id))
    }

    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// Names of the anonymous volumes this container created.
    pub fn anonymous_volumes(&self) -> Vec<String> {
        self.mounts
            .iter()
            .filter(|m| m.r#type == "volume" && m.anonymous)
            .map(|m| m.name.clone())
            .collect()
    }
}
