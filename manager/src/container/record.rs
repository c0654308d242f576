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

/// docker's restart policy. Stored as docker's JSON object
/// (`{"Name": "on-failure", "MaximumRetryCount": 3}`), so existing records and
/// `inspect` keep their shape.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(from = "RestartPolicyJson", into = "RestartPolicyJson")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    /// At most this many restarts (0: no limit).
    OnFailure(u32),
    UnlessStopped,
}

impl RestartPolicy {
    /// docker's name (`no`, `always`, `on-failure`, `unless-stopped`), as the
    /// shim's `restart.policy` takes it.
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure(_) => "on-failure",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    pub fn max_retries(self) -> u32 {
        match self {
            RestartPolicy::OnFailure(n) => n,
            _ => 0,
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RestartPolicyJson {
    name: String,
    maximum_retry_count: i64,
}

impl From<RestartPolicyJson> for RestartPolicy {
    fn from(j: RestartPolicyJson) -> RestartPolicy {
        match j.name.as_str() {
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => {
                RestartPolicy::OnFailure(j.maximum_retry_count.clamp(0, u32::MAX as i64) as u32)
            }
            // "", "no", and anything an older berth never wrote
            _ => RestartPolicy::No,
        }
    }
}

impl From<RestartPolicy> for RestartPolicyJson {
    fn from(p: RestartPolicy) -> RestartPolicyJson {
        RestartPolicyJson {
            name: p.name().to_string(),
            maximum_retry_count: p.max_retries() as i64,
        }
    }
}

/// A mount's kind (docker's `Type`: "bind", "volume", "tmpfs").
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    #[default]
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

impl std::fmt::Display for MountKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// docker's `HostConfig.NetworkMode`, stored as its string (`none`, `host`,
/// `bridge`, `default`, `container:<id>`, or a network's name).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(from = "String", into = "String")]
pub enum NetworkMode {
    /// docker's "default" (the bridge); also what an empty string means.
    #[default]
    Default,
    Bridge,
    None,
    Host,
    /// `container:<name or id>`: join that container's network namespace.
    Container(String),
    /// A user-defined network.
    Named(String),
}

impl NetworkMode {
    pub fn is_host(&self) -> bool {
        matches!(self, NetworkMode::Host)
    }
}

impl std::str::FromStr for NetworkMode {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<NetworkMode, Self::Err> {
        Ok(NetworkMode::from(s.to_string()))
    }
}

impl From<String> for NetworkMode {
    fn from(s: String) -> NetworkMode {
        match s.as_str() {
            "" | "default" => NetworkMode::Default,
            "bridge" => NetworkMode::Bridge,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => match s.strip_prefix("container:") {
                Some(c) => NetworkMode::Container(c.to_string()),
                None => NetworkMode::Named(s),
            },
        }
    }
}

impl From<NetworkMode> for String {
    fn from(m: NetworkMode) -> String {
        m.to_string()
    }
}

impl std::fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkMode::Default => f.write_str("default"),
            NetworkMode::Bridge => f.write_str("bridge"),
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Container(c) => write!(f, "container:{c}"),
            NetworkMode::Named(n) => f.write_str(n),
        }
    }
}

/// A `--mount` as given (docker's `HostConfig.Mounts` entry).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    pub r#type: MountKind,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
}

/// docker's `Mount.VolumeOptions` (the part berth supports).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// Do not seed the volume from the image's content at the target.
    pub no_copy: bool,
    /// Mount only this directory of the volume (relative, must exist).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
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
    pub network_mode: NetworkMode,
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
    // docker's resource and process options of `run` (the everyday branch).
    /// The cgroup the container's cgroup is made under (empty: the store's,
    /// `Context::cgroup_parent`).
    pub cgroup_parent: String,
    pub memory_reservation: i64,
    /// Memory plus swap (-1: unlimited swap; 0: docker's default, twice `memory`).
    pub memory_swap: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub blkio_weight: u16,
    pub oom_kill_disable: Option<bool>,
    pub oom_score_adj: i64,
    pub shm_size: i64,
    pub sysctls: BTreeMap<String, String>,
    pub ulimits: Vec<Ulimit>,
    pub devices: Vec<DeviceMapping>,
    pub group_add: Vec<String>,
    pub userns_mode: String,
    pub volumes_from: Vec<String>,
    /// `pid: host` (compose): share the host's pid namespace; empty: the container's own.
    pub pid_mode: String,
    /// `ipc: host` (compose): share the host's IPC namespace and /dev/shm; empty,
    /// `private` or `shareable`: the container's own.
    pub ipc_mode: String,
    /// `--annotation` / compose's `annotations`: OCI annotations on the spec.
    pub annotations: BTreeMap<String, String>,
}

/// docker's `--ulimit NAME=SOFT[:HARD]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// docker's `--device HOST[:CONTAINER[:PERMISSIONS]]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
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

/// docker's `NetworkingConfig`: per network, the endpoint's settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

impl NetworkingConfig {
    pub fn is_empty(&self) -> bool {
        self.endpoints_config.is_empty()
    }
}

/// docker's `EndpointSettings` (the part a client sets).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    pub aliases: Vec<String>,
    #[serde(rename = "IPv4Address", skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    /// `--ip6` on this network.
    #[serde(rename = "IPv6Address", skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// `--mac-address` on this network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

/// A resolved mount (docker's inspect `Mounts` entry).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    pub r#type: MountKind,
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
    /// A volume that is not seeded from the image (`volume-nocopy`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
    /// Only this directory of the volume is mounted (relative to its root).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
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
    /// The networks to join and the endpoint settings in each (for the
    /// networking hook).
    #[serde(skip_serializing_if = "NetworkingConfig::is_empty")]
    pub networking: NetworkingConfig,
    /// `--security-opt seccomp=FILE`: the profile's content, read at create time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<String>,
    /// The config file's `userns-remap`, resolved at create time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_remap: Option<crate::spec::userns::Remap>,
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
            .filter(|m| m.r#type == MountKind::Volume && m.anonymous)
            .map(|m| m.name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_fields_keep_dockers_json() {
        let old = r#"{"id":"x","host_config":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},
            "NetworkMode":"host","Mounts":[{"Type":"tmpfs","Target":"/t"}]},
            "mounts":[{"Type":"bind","Source":"/a","Destination":"/b","RW":true}]}"#;
        let rec: ContainerRecord = serde_json::from_str(old).unwrap();
        assert_eq!(rec.host_config.restart_policy, RestartPolicy::OnFailure(3));
        assert_eq!(rec.host_config.network_mode, NetworkMode::Host);
        assert_eq!(rec.host_config.mounts[0].r#type, MountKind::Tmpfs);
        assert_eq!(rec.mounts[0].r#type, MountKind::Bind);
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["host_config"]["RestartPolicy"]["Name"], "on-failure");
        assert_eq!(v["host_config"]["RestartPolicy"]["MaximumRetryCount"], 3);
        assert_eq!(v["host_config"]["NetworkMode"], "host");
        assert_eq!(v["mounts"][0]["Type"], "bind");
        let empty: ContainerRecord = serde_json::from_str(
            r#"{"host_config":{"RestartPolicy":{"Name":""},"NetworkMode":""}}"#,
        )
        .unwrap();
        assert_eq!(empty.host_config.restart_policy, RestartPolicy::No);
        assert_eq!(empty.host_config.network_mode, NetworkMode::Default);
        assert_eq!(
            NetworkMode::from("container:web".to_string()),
            NetworkMode::Container("web".into())
        );
        assert_eq!(NetworkMode::Named("front".into()).to_string(), "front");
    }
}
