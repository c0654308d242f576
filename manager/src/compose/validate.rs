//! The compose schema as berth knows it: every key of every section, its type,
//! and whether berth supports it. An unknown key is an error that suggests
//! the nearest valid one; a key of the spec that berth does not implement is
//! an error naming it (never silently ignored).

use crate::compose::error::{ComposeError, Result};
use crate::compose::loader::yaml::{parse_bool, parse_int, Node, Val};

#[derive(Debug)]
pub enum Ty {
    /// Any scalar (numbers and bools are taken as their text).
    Str,
    Int,
    Bool,
    /// A number, possibly fractional (`cpus: 0.5`).
    Num,
    /// A Go duration (`1m30s`, `500ms`).
    Duration,
    /// A byte size (`512m`, `1gb`, 1048576).
    Bytes,
    /// A string or a list of strings.
    StrOrList,
    /// A list of `K=V` strings or a mapping of scalars (null allowed).
    ListOrMap,
    List(&'static Ty),
    /// A mapping with free keys, each value of the type.
    MapOf(&'static Ty),
    Obj(&'static [F]),
    /// The first alternative whose shape (scalar / list / mapping) fits.
    OneOf(&'static [Ty]),
    /// Null or the type.
    Opt(&'static Ty),
    /// Anything (extensions, driver options).
    Any,
}

/// A key of a section: name, type, supported by berth.
#[derive(Debug)]
pub struct F(pub &'static str, pub Ty, pub bool);

const Y: bool = true;
const N: bool = false;

static STR_LIST: Ty = Ty::List(&Ty::Str);

static SERVICE_NETWORK: &[F] = &[
    F("aliases", Ty::List(&Ty::Str), Y),
    F("ipv4_address", Ty::Str, Y),
    F("ipv6_address", Ty::Str, N),
    F("link_local_ips", Ty::List(&Ty::Str), N),
    F("mac_address", Ty::Str, N),
    F("priority", Ty::Int, N),
    F("gw_priority", Ty::Int, N),
    F("driver_opts", Ty::Any, N),
    F("interface_name", Ty::Str, N),
];

static DEPENDS_ON: &[F] = &[
    F("condition", Ty::Str, Y),
    F("restart", Ty::Bool, Y),
    F("required", Ty::Bool, Y),
];

static PORT: &[F] = &[
    F("target", Ty::Int, Y),
    F("published", Ty::Str, Y),
    F("host_ip", Ty::Str, Y),
    F("protocol", Ty::Str, Y),
    F("mode", Ty::Str, Y),
    F("name", Ty::Str, Y),
    F("app_protocol", Ty::Str, Y),
];

static VOLUME_BIND: &[F] = &[
    F("propagation", Ty::Str, Y),
    F("create_host_path", Ty::Bool, Y),
    F("selinux", Ty::Str, N),
    F("recursive", Ty::Str, N),
];
static VOLUME_VOLUME: &[F] = &[F("nocopy", Ty::Bool, Y), F("subpath", Ty::Str, Y)];
static VOLUME_TMPFS: &[F] = &[F("size", Ty::Bytes, Y), F("mode", Ty::Int, Y)];
static SERVICE_VOLUME: &[F] = &[
    F("type", Ty::Str, Y),
    F("source", Ty::Str, Y),
    F("target", Ty::Str, Y),
    F("read_only", Ty::Bool, Y),
    F("consistency", Ty::Str, Y),
    F("bind", Ty::Obj(VOLUME_BIND), Y),
    F("volume", Ty::Obj(VOLUME_VOLUME), Y),
    F("tmpfs", Ty::Obj(VOLUME_TMPFS), Y),
    F("image", Ty::Any, N),
];

static FILE_REF: &[F] = &[
    F("source", Ty::Str, Y),
    F("target", Ty::Str, Y),
    F("uid", Ty::Str, Y),
    F("gid", Ty::Str, Y),
    F("mode", Ty::Int, Y),
];

static BUILD: &[F] = &[
    F("context", Ty::Str, Y),
    F("dockerfile", Ty::Str, Y),
    F("target", Ty::Str, Y),
    F("args", Ty::ListOrMap, Y),
    F("labels", Ty::ListOrMap, Y),
    F("dockerfile_inline", Ty::Str, Y),
    F("cache_from", Ty::List(&Ty::Str), Y),
    F("cache_to", Ty::List(&Ty::Str), N),
    F("additional_contexts", Ty::ListOrMap, N),
    F("entitlements", Ty::List(&Ty::Str), N),
    F("extra_hosts", Ty::ListOrMap, N),
    F("isolation", Ty::Str, N),
    F("network", Ty::Str, N),
    F("no_cache", Ty::Bool, N),
    F("platforms", Ty::List(&Ty::Str), N),
    F("privileged", Ty::Bool, N),
    F("pull", Ty::Bool, N),
    F(
        "secrets",
        Ty::List(&Ty::OneOf(&[Ty::Str, Ty::Obj(FILE_REF)])),
        Y,
    ),
    F("shm_size", Ty::Bytes, N),
    F("ssh", Ty::Any, N),
    F("tags", Ty::List(&Ty::Str), N),
    F("ulimits", Ty::Any, N),
];

static HEALTHCHECK: &[F] = &[
    F("test", Ty::StrOrList, Y),
    F("interval", Ty::Duration, Y),
    F("timeout", Ty::Duration, Y),
    F("retries", Ty::Int, Y),
    F("start_period", Ty::Duration, Y),
    F("start_interval", Ty::Duration, Y),
    F("disable", Ty::Bool, Y),
];

static LOGGING: &[F] = &[
    F("driver", Ty::Str, Y),
    F("options", Ty::Opt(&Ty::MapOf(&Ty::Opt(&Ty::Str))), Y),
];

static RESOURCE: &[F] = &[
    F("cpus", Ty::Num, Y),
    F("memory", Ty::Bytes, Y),
    F("pids", Ty::Int, Y),
    F("devices", Ty::Any, N),
    F("generic_resources", Ty::Any, N),
];
static RESOURCES: &[F] = &[
    F("limits", Ty::Obj(RESOURCE), Y),
    F("reservations", Ty::Obj(RESOURCE), Y),
];
static RESTART_POLICY: &[F] = &[
    F("condition", Ty::Str, Y),
    F("delay", Ty::Duration, Y),
    F("max_attempts", Ty::Int, Y),
    F("window", Ty::Duration, Y),
];
static DEPLOY: &[F] = &[
    F("replicas", Ty::Int, Y),
    F("resources", Ty::Obj(RESOURCES), Y),
    F("restart_policy", Ty::Obj(RESTART_POLICY), Y),
    F("mode", Ty::Str, Y),
    F("labels", Ty::ListOrMap, N),
    F("placement", Ty::Any, N),
    F("update_config", Ty::Any, N),
    F("rollback_config", Ty::Any, N),
    F("endpoint_mode", Ty::Str, N),
];

static ULIMIT: &[F] = &[F("soft", Ty::Int, Y), F("hard", Ty::Int, Y)];

static EXTENDS: &[F] = &[F("service", Ty::Str, Y), F("file", Ty::Str, Y)];

static DEVICE: &[F] = &[
    F("source", Ty::Str, Y),
    F("target", Ty::Str, Y),
    F("permissions", Ty::Str, Y),
];

static ENV_FILE: &[F] = &[
    F("path", Ty::Str, Y),
    F("required", Ty::Bool, Y),
    F("format", Ty::Str, N),
];

pub static SERVICE: &[F] = &[
    F("annotations", Ty::ListOrMap, Y),
    F("build", Ty::OneOf(&[Ty::Str, Ty::Obj(BUILD)]), Y),
    F("cap_add", Ty::List(&Ty::Str), Y),
    F("cap_drop", Ty::List(&Ty::Str), Y),
    F("command", Ty::Opt(&Ty::StrOrList), Y),
    F(
        "configs",
        Ty::List(&Ty::OneOf(&[Ty::Str, Ty::Obj(FILE_REF)])),
        Y,
    ),
    F("container_name", Ty::Str, Y),
    F("cpu_shares", Ty::Int, Y),
    F("cpus", Ty::Num, Y),
    F(
        "depends_on",
        Ty::OneOf(&[
            Ty::List(&Ty::Str),
            Ty::MapOf(&Ty::Opt(&Ty::Obj(DEPENDS_ON))),
        ]),
        Y,
    ),
    F("deploy", Ty::Obj(DEPLOY), Y),
    F(
        "devices",
        Ty::List(&Ty::OneOf(&[Ty::Str, Ty::Obj(DEVICE)])),
        Y,
    ),
    F("dns", Ty::StrOrList, Y),
    F("dns_search", Ty::StrOrList, Y),
    F("domainname", Ty::Str, Y),
    F("entrypoint", Ty::Opt(&Ty::StrOrList), Y),
    F(
        "env_file",
        Ty::OneOf(&[Ty::Str, Ty::List(&Ty::OneOf(&[Ty::Str, Ty::Obj(ENV_FILE)]))]),
        Y,
    ),
    F("environment", Ty::ListOrMap, Y),
    F("expose", Ty::List(&Ty::Str), Y),
    F("extends", Ty::OneOf(&[Ty::Str, Ty::Obj(EXTENDS)]), Y),
    F("external_links", Ty::List(&Ty::Str), Y),
    F("extra_hosts", Ty::ListOrMap, Y),
    F("healthcheck", Ty::Obj(HEALTHCHECK), Y),
    F("hostname", Ty::Str, Y),
    F("image", Ty::Str, Y),
    F("init", Ty::Bool, Y),
    F("ipc", Ty::Str, Y),
    F("labels", Ty::ListOrMap, Y),
    F("links", Ty::List(&Ty::Str), Y),
    F("logging", Ty::Obj(LOGGING), Y),
    F("mem_limit", Ty::Bytes, Y),
    F("mem_reservation", Ty::Bytes, Y),
    F("network_mode", Ty::Str, Y),
    F(
        "networks",
        Ty::OneOf(&[
            Ty::List(&Ty::Str),
            Ty::MapOf(&Ty::Opt(&Ty::Obj(SERVICE_NETWORK))),
        ]),
        Y,
    ),
    F("pid", Ty::Str, Y),
    F("userns_mode", Ty::Str, Y),
    F("pids_limit", Ty::Int, Y),
    F("platform", Ty::Str, Y),
    F("ports", Ty::List(&Ty::OneOf(&[Ty::Str, Ty::Obj(PORT)])), Y),
    F("privileged", Ty::Bool, Y),
    F("profiles", Ty::List(&Ty::Str), Y),
    F("pull_policy", Ty::Str, Y),
    F("read_only", Ty::Bool, Y),
    F("restart", Ty::Str, Y),
    F("scale", Ty::Int, Y),
    F(
        "secrets",
        Ty::List(&Ty::OneOf(&[Ty::Str, Ty::Obj(FILE_REF)])),
        Y,
    ),
    F("security_opt", Ty::List(&Ty::Str), Y),
    F("shm_size", Ty::Bytes, Y),
    F("stdin_open", Ty::Bool, Y),
    F("stop_grace_period", Ty::Duration, Y),
    F("stop_signal", Ty::Str, Y),
    F("sysctls", Ty::ListOrMap, Y),
    F("tmpfs", Ty::StrOrList, Y),
    F("tty", Ty::Bool, Y),
    F(
        "ulimits",
        Ty::MapOf(&Ty::OneOf(&[Ty::Int, Ty::Obj(ULIMIT)])),
        Y,
    ),
    F("user", Ty::Str, Y),
    F(
        "volumes",
        Ty::List(&Ty::OneOf(&[Ty::Str, Ty::Obj(SERVICE_VOLUME)])),
        Y,
    ),
    F("volumes_from", Ty::List(&Ty::Str), Y),
    F("working_dir", Ty::Str, Y),
    // The spec's keys berth does not implement.
    F("attach", Ty::Bool, N),
    F("blkio_config", Ty::Any, N),
    F("cgroup", Ty::Str, N),
    F("cgroup_parent", Ty::Str, N),
    F("cpu_count", Ty::Int, N),
    F("cpu_percent", Ty::Int, N),
    F("cpu_period", Ty::Int, N),
    F("cpu_quota", Ty::Int, N),
    F("cpu_rt_period", Ty::Str, N),
    F("cpu_rt_runtime", Ty::Str, N),
    F("cpuset", Ty::Str, N),
    F("credential_spec", Ty::Any, N),
    F("develop", Ty::Any, N),
    F("device_cgroup_rules", Ty::Any, N),
    F("dns_opt", Ty::Any, N),
    F("gpus", Ty::Any, N),
    F("group_add", Ty::Any, N),
    F("isolation", Ty::Str, N),
    F("label_file", Ty::Any, N),
    F("mac_address", Ty::Str, N),
    F("mem_swappiness", Ty::Int, N),
    F("memswap_limit", Ty::Any, N),
    F("models", Ty::Any, N),
    F("oom_kill_disable", Ty::Bool, N),
    F("oom_score_adj", Ty::Int, N),
    F("post_start", Ty::Any, N),
    F("pre_stop", Ty::Any, N),
    F("provider", Ty::Any, N),
    F("runtime", Ty::Str, N),
    F("storage_opt", Ty::Any, N),
    F("use_api_socket", Ty::Bool, N),
    F("uts", Ty::Str, N),
    F("volume_driver", Ty::Str, N),
];

static IPAM_CONFIG: &[F] = &[
    F("subnet", Ty::Str, Y),
    F("ip_range", Ty::Str, Y),
    F("gateway", Ty::Str, Y),
    F("aux_addresses", Ty::MapOf(&Ty::Str), Y),
];
static IPAM: &[F] = &[
    F("driver", Ty::Str, Y),
    F("config", Ty::List(&Ty::Obj(IPAM_CONFIG)), Y),
    F("options", Ty::MapOf(&Ty::Str), Y),
];

pub static NETWORK: &[F] = &[
    F("driver", Ty::Str, Y),
    F("driver_opts", Ty::MapOf(&Ty::Str), Y),
    F("ipam", Ty::Obj(IPAM), Y),
    F("internal", Ty::Bool, Y),
    F("external", EXTERNAL_REF, Y),
    F("name", Ty::Str, Y),
    F("labels", Ty::ListOrMap, Y),
    F("attachable", Ty::Bool, Y),
    F("enable_ipv4", Ty::Bool, N),
    F("enable_ipv6", Ty::Bool, N),
];

// `external: true` or the legacy `external: {name: x}`.
const EXTERNAL_REF: Ty = Ty::OneOf(&[Ty::Bool, Ty::Obj(&[F("name", Ty::Str, Y)])]);

pub static VOLUME: &[F] = &[
    F("driver", Ty::Str, Y),
    F("driver_opts", Ty::MapOf(&Ty::Str), Y),
    F("external", EXTERNAL_REF, Y),
    F("name", Ty::Str, Y),
    F("labels", Ty::ListOrMap, Y),
];

pub static SECRET: &[F] = &[
    F("file", Ty::Str, Y),
    F("environment", Ty::Str, Y),
    F("content", Ty::Str, Y),
    F("name", Ty::Str, Y),
    F("labels", Ty::ListOrMap, Y),
    F("external", EXTERNAL_REF, N),
    F("driver", Ty::Str, N),
    F("driver_opts", Ty::Any, N),
    F("template_driver", Ty::Str, N),
];

static INCLUDE: &[F] = &[
    F("path", Ty::StrOrList, Y),
    F("project_directory", Ty::Str, Y),
    F("env_file", Ty::StrOrList, Y),
];

pub static TOP: &[F] = &[
    F("version", Ty::Str, Y),
    F("name", Ty::Str, Y),
    F(
        "include",
        Ty::List(&Ty::OneOf(&[Ty::Str, Ty::Obj(INCLUDE)])),
        Y,
    ),
    F("services", Ty::MapOf(&Ty::Opt(&Ty::Obj(SERVICE))), Y),
    F("networks", Ty::MapOf(&Ty::Opt(&Ty::Obj(NETWORK))), Y),
    F("volumes", Ty::MapOf(&Ty::Opt(&Ty::Obj(VOLUME))), Y),
    F("secrets", Ty::MapOf(&Ty::Obj(SECRET)), Y),
    F("configs", Ty::MapOf(&Ty::Obj(SECRET)), Y),
    F("models", Ty::Any, N),
];

/// The nearest of `names` to `got`, when near enough to be a likely typo.
pub fn suggest<'a>(got: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names
        .map(|n| (strsim::damerau_levenshtein(got, n), n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 4) && *d < n.len().max(got.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks `node` against `ty` and gives its scalars the type's form (a
/// `Str` becomes a string even when written `8080`, an `Int` a number even when
/// written `"3"`, a `Bytes` a number of bytes); `path` names it in errors.
pub fn check(node: &mut Node, ty: &Ty, path: &str) -> Result<()> {
    let bad = |node: &Node, want: &str| -> Result<()> {
        Err(ComposeError::at(
            &node.pos,
            path,
            format!("must be {want}, not {}", node.kind()),
        ))
    };
    let is_scalar = matches!(node.val, Val::Scalar { .. });
    let text = node.scalar().map(|t| t.trim().to_string());
    match ty {
        Ty::Any => Ok(()),
        Ty::Opt(inner) => {
            if node.is_null() {
                Ok(())
            } else {
                check(node, inner, path)
            }
        }
        Ty::Str => {
            if !is_scalar || node.is_null() {
                return bad(node, "a string");
            }
            set_scalar(node, None, false);
            Ok(())
        }
        Ty::Int => match text.as_deref().and_then(parse_int) {
            Some(i) => {
                set_scalar(node, Some(i.to_string()), true);
                Ok(())
            }
            None => bad(node, "an integer"),
        },
        Ty::Num => match text.as_deref().map(str::parse::<f64>) {
            Some(Ok(f)) if f.is_finite() => {
                set_scalar(node, None, true);
                Ok(())
            }
            _ => bad(node, "a number"),
        },
        Ty::Bool => match text.as_deref().and_then(parse_bool) {
            Some(b) => {
                set_scalar(node, Some(b.to_string()), true);
                Ok(())
            }
            _ => bad(node, "a boolean (true or false)"),
        },
        Ty::Duration => match &text {
            Some(t) if !node.is_null() => {
                let d = crate::compose::units::parse_duration(t)
                    .map_err(|e| ComposeError::at(&node.pos, path, e))?;
                set_scalar(node, Some(crate::compose::units::format_duration(d)), false);
                Ok(())
            }
            _ => bad(node, "a duration (like 1m30s)"),
        },
        Ty::Bytes => match &text {
            Some(t) if !node.is_null() => {
                let b = crate::compose::units::parse_bytes(t)
                    .map_err(|e| ComposeError::at(&node.pos, path, e))?;
                set_scalar(node, Some(b.to_string()), true);
                Ok(())
            }
            _ => bad(node, "a size (like 512m)"),
        },
        Ty::StrOrList => match &node.val {
            Val::Scalar { .. } if !node.is_null() => check(node, &Ty::Str, path),
            Val::Seq(_) => check(node, &STR_LIST, path),
            _ => bad(node, "a string or a list of strings"),
        },
        Ty::ListOrMap => match &mut node.val {
            Val::Seq(items) => {
                for (i, it) in items.iter_mut().enumerate() {
                    check(it, &Ty::Str, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            Val::Map(m) => {
                for (k, v) in m.iter_mut() {
                    if !matches!(v.val, Val::Scalar { .. }) {
                        return Err(ComposeError::at(
                            &v.pos,
                            &join(path, &k.name),
                            format!(
                                "must be a string, a number, a boolean or null, not {}",
                                v.kind()
                            ),
                        ));
                    }
                    if !v.is_null() {
                        set_scalar(v, None, false);
                    }
                }
                Ok(())
            }
            _ => bad(node, "a list of KEY=VALUE strings or a mapping"),
        },
        Ty::List(inner) => match &mut node.val {
            Val::Seq(items) => {
                for (i, it) in items.iter_mut().enumerate() {
                    check(it, inner, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            _ => bad(node, "a list"),
        },
        Ty::MapOf(inner) => match &mut node.val {
            Val::Map(m) => {
                for (k, v) in m.iter_mut() {
                    let kp = join(path, &k.name);
                    check(v, inner, &kp)?;
                }
                Ok(())
            }
            _ => bad(node, "a mapping"),
        },
        Ty::Obj(fields) => match &mut node.val {
            Val::Map(m) => {
                for (k, v) in m.iter_mut() {
                    let kp = join(path, &k.name);
                    if k.name.starts_with("x-") {
                        continue;
                    }
                    let Some(f) = fields.iter().find(|f| f.0 == k.name) else {
                        let hint =
                            match suggest(&k.name, fields.iter().filter(|f| f.2).map(|f| f.0)) {
                                Some(s) => format!("unknown key; did you mean `{s}`?"),
                                None => "unknown key".to_string(),
                            };
                        return Err(ComposeError::at(&k.pos, &kp, hint));
                    };
                    if !f.2 {
                        return Err(ComposeError::at(
                            &k.pos,
                            &kp,
                            "berth does not support this key yet",
                        ));
                    }
                    check(v, &f.1, &kp)?;
                }
                Ok(())
            }
            _ => bad(node, "a mapping"),
        },
        Ty::OneOf(alts) => {
            for alt in alts.iter() {
                if shape_fits(node, alt) {
                    return check(node, alt, path);
                }
            }
            let want: Vec<&str> = alts.iter().map(shape_name).collect();
            bad(node, &want.join(" or "))
        }
    }
}

fn set_scalar(node: &mut Node, text: Option<String>, as_plain: bool) {
    if let Val::Scalar { text: t, plain } = &mut node.val {
        if let Some(new) = text {
            *t = new;
        }
        *plain = as_plain;
    }
}

fn shape_fits(node: &Node, ty: &Ty) -> bool {
    match ty {
        Ty::List(_) => matches!(node.val, Val::Seq(_)),
        Ty::Obj(_) | Ty::MapOf(_) => matches!(node.val, Val::Map(_)),
        Ty::Bool => matches!(&node.val, Val::Scalar { text, .. } if parse_bool(text).is_some()),
        Ty::Int => matches!(&node.val, Val::Scalar { text, .. } if parse_int(text).is_some()),
        Ty::Opt(inner) => node.is_null() || shape_fits(node, inner),
        _ => matches!(node.val, Val::Scalar { .. }) && !node.is_null(),
    }
}

fn shape_name(ty: &Ty) -> &'static str {
    match ty {
        Ty::List(_) => "a list",
        Ty::Obj(_) | Ty::MapOf(_) => "a mapping",
        Ty::Bool => "a boolean",
        Ty::Int => "an integer",
        _ => "a string",
    }
}

/// Checks a whole file's top level.
pub fn check_file(root: &mut Node) -> Result<()> {
    check(root, &Ty::Obj(TOP), "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::loader::yaml::parse;
    use std::sync::Arc;

    fn err(src: &str) -> String {
        let mut n = parse(src, &Arc::from("c.yaml")).unwrap();
        check_file(&mut n).unwrap_err().to_string()
    }

    #[test]
    fn unknown_key_suggests_nearest() {
        assert_eq!(
            err("services:\n  web:\n    images: nginx\n"),
            "c.yaml:3:5: services.web.images: unknown key; did you mean `image`?"
        );
        assert_eq!(
            err("services:\n  web:\n    image: x\n    healthcheck:\n      intervall: 1s\n"),
            "c.yaml:5:7: services.web.healthcheck.intervall: unknown key; did you mean `interval`?"
        );
        assert_eq!(
            err("servises: {}\n"),
            "c.yaml:1:1: servises: unknown key; did you mean `services`?"
        );
        assert_eq!(
            err("services:\n  a:\n    zzzzqqq: 1\n"),
            "c.yaml:3:5: services.a.zzzzqqq: unknown key"
        );
    }

    #[test]
    fn unsupported_key_is_named() {
        assert_eq!(
            err("services:\n  a:\n    image: x\n    gpus: all\n"),
            "c.yaml:4:5: services.a.gpus: berth does not support this key yet"
        );
    }

    #[test]
    fn type_errors() {
        assert_eq!(
            err("services:\n  a:\n    ports: 80\n"),
            "c.yaml:3:12: services.a.ports: must be a list, not a number"
        );
        assert_eq!(
            err("services:\n  a:\n    tty: maybe\n"),
            "c.yaml:3:10: services.a.tty: must be a boolean (true or false), not a string"
        );
        assert_eq!(
            err("services:\n  a:\n    environment:\n      A: [1]\n"),
            "c.yaml:4:10: services.a.environment.A: must be a string, a number, a boolean or null, not a list"
        );
        assert!(err("services:\n  a:\n    stop_grace_period: 10 sec\n")
            .contains("services.a.stop_grace_period"));
        assert!(
            err("services:\n  a:\n    depends_on: db\n").contains("must be a list or a mapping")
        );
    }

    #[test]
    fn extensions_and_version_pass() {
        let mut n = parse(
            "version: '3.8'\nx-a: {b: 1}\nservices:\n  w:\n    image: x\n    x-foo: [1]\n",
            &Arc::from("c"),
        )
        .unwrap();
        check_file(&mut n).unwrap();
    }

    #[test]
    fn suggestion_needs_similarity() {
        assert_eq!(
            suggest("images", ["image", "command"].into_iter()),
            Some("image")
        );
        assert_eq!(
            suggest("enviroment", ["environment", "entrypoint"].into_iter()),
            Some("environment")
        );
        assert_eq!(suggest("q", ["image"].into_iter()), None);
    }
}
