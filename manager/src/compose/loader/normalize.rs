//! Short syntax to long syntax, per file (so relative paths resolve against
//! the file's own directory), before files are merged: lists of `K=V` become
//! mappings, `"8080:80"` becomes a port mapping, `./data:/data:ro` a bind
//! mount, and so on. The result is the canonical form the merge rules and the
//! typed model work on.

use super::yaml::{Key, Node, Val};
use crate::compose::error::{ComposeError, Pos, Result};
use std::path::{Component, Path, PathBuf};

fn key(name: &str, pos: &Pos) -> Key {
    Key {
        name: name.to_string(),
        pos: pos.clone(),
    }
}

fn entry(name: &str, v: Node) -> (Key, Node) {
    (key(name, &v.pos.clone()), v)
}

/// `a/../b` -> `b`, without touching the filesystem (compose does not
/// resolve symlinks either).
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

pub fn resolve(base: &Path, p: &str) -> String {
    let expanded = if let Some(rest) = p.strip_prefix("~/") {
        match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(rest),
            None => PathBuf::from(p),
        }
    } else {
        PathBuf::from(p)
    };
    let abs = if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    };
    clean(&abs).display().to_string()
}

/// A `K=V` list or a mapping as a mapping. A bare `K` in a list is null
/// (`null_bare`) or "" (labels).
pub fn list_or_map(node: &Node, null_bare: bool) -> Node {
    match &node.val {
        Val::Seq(items) => {
            let mut out: Vec<(Key, Node)> = Vec::new();
            for it in items {
                let text = it.scalar().unwrap_or_default();
                let (k, v) = match text.split_once('=') {
                    Some((k, v)) => (k, Node::str(v, it.pos.clone())),
                    None if null_bare => (text, Node::null(it.pos.clone())),
                    None => (text, Node::str("", it.pos.clone())),
                };
                out.retain(|(ek, _)| ek.name != k);
                out.push((key(k, &it.pos), v));
            }
            Node::map(out, node.pos.clone())
        }
        _ => node.clone(),
    }
}

fn str_list(node: &Node) -> Node {
    match &node.val {
        Val::Scalar { text, .. } => Node::seq(
            vec![Node::str(text.clone(), node.pos.clone())],
            node.pos.clone(),
        ),
        _ => node.clone(),
    }
}

/// A string command is split like a shell would (compose does the same).
fn command(node: &Node, path: &str) -> Result<Node> {
    match &node.val {
        Val::Scalar { text, .. } if !node.is_null() => {
            let words = shlex::split(text).ok_or_else(|| {
                ComposeError::at(&node.pos, path, "unbalanced quotes in command string")
            })?;
            Ok(Node::seq(
                words
                    .into_iter()
                    .map(|w| Node::str(w, node.pos.clone()))
                    .collect(),
                node.pos.clone(),
            ))
        }
        _ => Ok(node.clone()),
    }
}

/// Normalizes one service definition in place.
pub fn service(svc: &mut Node, name: &str, base: &Path) -> Result<()> {
    let path = format!("services.{name}");
    let Some(entries) = svc.as_map_mut() else {
        return Ok(());
    };
    for (k, v) in entries.iter_mut() {
        let kp = format!("{path}.{}", k.name);
        match k.name.as_str() {
            "build" => build(v, base),
            "command" | "entrypoint" => *v = command(v, &kp)?,
            "environment" => *v = list_or_map(v, true),
            "labels" | "annotations" | "sysctls" => *v = list_or_map(v, false),
            "extra_hosts" => *v = extra_hosts(v),
            "dns" | "dns_search" | "tmpfs" => *v = str_list(v),
            "env_file" => *v = env_file(v, base),
            "ports" => *v = ports(v, &kp)?,
            "volumes" => *v = volumes(v, base, &kp)?,
            "depends_on" => *v = depends_on(v),
            "networks" => *v = networks(v),
            "healthcheck" => {
                if let Some(t) = v.get_mut("test") {
                    if let Val::Scalar { text, .. } = &t.val {
                        let pos = t.pos.clone();
                        *t = Node::seq(
                            vec![
                                Node::str("CMD-SHELL", pos.clone()),
                                Node::str(text.clone(), pos.clone()),
                            ],
                            pos,
                        );
                    }
                }
            }
            "secrets" | "configs" => *v = file_refs(v),
            "devices" => *v = devices(v, &kp)?,
            "ulimits" => ulimits(v),
            "extends" => {
                if let Val::Scalar { text, .. } = &v.val {
                    let pos = v.pos.clone();
                    *v = Node::map(
                        vec![entry("service", Node::str(text.clone(), pos.clone()))],
                        pos,
                    );
                }
                if let Some(f) = v.get_mut("file") {
                    if let Some(t) = f.scalar() {
                        *f = Node::str(resolve(base, t), f.pos.clone());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn build(v: &mut Node, base: &Path) {
    if let Val::Scalar { text, .. } = &v.val {
        let pos = v.pos.clone();
        *v = Node::map(
            vec![entry("context", Node::str(text.clone(), pos.clone()))],
            pos,
        );
    }
    let ctx = match v.get("context").and_then(Node::scalar) {
        Some(c) if c.contains("://") || c.starts_with("git@") => c.to_string(),
        Some(c) => resolve(base, c),
        None => resolve(base, "."),
    };
    let pos = v.pos.clone();
    v.set("context", Node::str(ctx, pos));
    for k in ["args", "labels"] {
        if let Some(a) = v.get_mut(k) {
            *a = list_or_map(a, k == "args");
        }
    }
    if let Some(s) = v.get_mut("secrets") {
        *s = file_refs(s);
    }
}

fn extra_hosts(v: &Node) -> Node {
    match &v.val {
        Val::Map(m) => Node::seq(
            m.iter()
                .map(|(k, val)| {
                    Node::str(
                        format!("{}:{}", k.name, val.scalar().unwrap_or_default()),
                        val.pos.clone(),
                    )
                })
                .collect(),
            v.pos.clone(),
        ),
        // `host=ip` is the newer spelling of `host:ip`.
        Val::Seq(items) => Node::seq(
            items
                .iter()
                .map(|it| {
                    let t = it.scalar().unwrap_or_default();
                    match t.split_once('=') {
                        Some((h, ip)) => Node::str(format!("{h}:{ip}"), it.pos.clone()),
                        None => it.clone(),
                    }
                })
                .collect(),
            v.pos.clone(),
        ),
        _ => v.clone(),
    }
}

fn env_file(v: &Node, base: &Path) -> Node {
    let items = match &v.val {
        Val::Seq(items) => items.clone(),
        _ => vec![v.clone()],
    };
    let out = items
        .into_iter()
        .map(|it| {
            let pos = it.pos.clone();
            let (path, required) = match &it.val {
                Val::Scalar { text, .. } => (text.clone(), Node::plain("true", pos.clone())),
                _ => (
                    it.get("path")
                        .and_then(Node::scalar)
                        .unwrap_or_default()
                        .to_string(),
                    it.get("required")
                        .cloned()
                        .unwrap_or(Node::plain("true", pos.clone())),
                ),
            };
            Node::map(
                vec![
                    entry("path", Node::str(resolve(base, &path), pos.clone())),
                    entry("required", required),
                ],
                pos,
            )
        })
        .collect();
    Node::seq(out, v.pos.clone())
}

/// One short port spec: `[[ip:][published[-end]]:]target[-end][/proto]`.
/// One published port: host IP, published port (or range), target, protocol.
pub type PortSpec = (Option<String>, Option<String>, u16, String);

pub fn parse_port(spec: &str) -> Result<Vec<PortSpec>, String> {
    let bad = || format!("invalid port {spec:?}");
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid protocol {proto:?} in port {spec:?}"));
    }
    // The host IP may be an IPv6 address in brackets.
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, r) = r.split_once("]:").ok_or_else(bad)?;
        (Some(ip.to_string()), r)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (None, rest),
            3 => (Some(parts[0].to_string()), &rest[parts[0].len() + 1..]),
            _ => return Err(bad()),
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((p, t)) => (Some(p), t),
        None => (None, rest),
    };
    let range = |s: &str| -> Result<(u16, u16), String> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a.parse().map_err(|_| bad())?;
        let b: u16 = b.parse().map_err(|_| bad())?;
        if b < a {
            return Err(bad());
        }
        Ok((a, b))
    };
    let (t0, t1) = range(target)?;
    let published = published.filter(|p| !p.is_empty());
    let pub_range = published.map(range).transpose()?;
    let count = (t1 - t0) as usize + 1;
    let mut out = Vec::new();
    for i in 0..count {
        let p = match pub_range {
            None => None,
            Some((p0, p1)) if p1 - p0 == t1 - t0 => Some((p0 + i as u16).to_string()),
            // One target, a range of host ports: docker picks one of them.
            Some((p0, p1)) if count == 1 => Some(if p0 == p1 {
                p0.to_string()
            } else {
                format!("{p0}-{p1}")
            }),
            Some(_) => return Err(format!("port ranges of different sizes in {spec:?}")),
        };
        out.push((
            ip.clone().filter(|i| !i.is_empty()),
            p,
            t0 + i as u16,
            proto.clone(),
        ));
    }
    Ok(out)
}

fn ports(v: &Node, path: &str) -> Result<Node> {
    let mut out = Vec::new();
    for (i, it) in v.as_seq().into_iter().flatten().enumerate() {
        let pos = it.pos.clone();
        match &it.val {
            Val::Scalar { text, .. } => {
                let parsed = parse_port(text)
                    .map_err(|e| ComposeError::at(&pos, &format!("{path}[{i}]"), e))?;
                for (ip, published, target, proto) in parsed {
                    let mut m = vec![entry("mode", Node::str("ingress", pos.clone()))];
                    if let Some(ip) = ip {
                        m.push(entry("host_ip", Node::str(ip, pos.clone())));
                    }
                    m.push(entry(
                        "target",
                        Node::plain(target.to_string(), pos.clone()),
                    ));
                    if let Some(p) = published {
                        m.push(entry("published", Node::str(p, pos.clone())));
                    }
                    m.push(entry("protocol", Node::str(proto, pos.clone())));
                    out.push(Node::map(m, pos.clone()));
                }
            }
            _ => {
                let mut n = it.clone();
                if n.get("protocol").is_none() {
                    n.set("protocol", Node::str("tcp", pos.clone()));
                }
                if n.get("mode").is_none() {
                    n.set("mode", Node::str("ingress", pos.clone()));
                }
                let target = n
                    .get("target")
                    .and_then(Node::scalar)
                    .map(str::parse::<u16>);
                match target {
                    Some(Ok(t)) if t > 0 => {}
                    Some(_) => {
                        return Err(ComposeError::at(
                            &pos,
                            &format!("{path}[{i}].target"),
                            "a port must be between 1 and 65535",
                        ))
                    }
                    None => {
                        return Err(ComposeError::at(
                            &pos,
                            &format!("{path}[{i}]"),
                            "a port needs a target",
                        ))
                    }
                }
                out.push(n);
            }
        }
    }
    Ok(Node::seq(out, v.pos.clone()))
}

fn is_path(src: &str) -> bool {
    src.starts_with('.') || src.starts_with('/') || src.starts_with('~')
}

fn volumes(v: &Node, base: &Path, path: &str) -> Result<Node> {
    let mut out = Vec::new();
    for (i, it) in v.as_seq().into_iter().flatten().enumerate() {
        let pos = it.pos.clone();
        let ip = format!("{path}[{i}]");
        let n = match &it.val {
            Val::Scalar { text, .. } => short_volume(text, base, &pos, &ip)?,
            _ => {
                let mut n = it.clone();
                let ty = n
                    .get("type")
                    .and_then(Node::scalar)
                    .unwrap_or("volume")
                    .to_string();
                if !matches!(ty.as_str(), "bind" | "volume" | "tmpfs") {
                    return Err(ComposeError::at(
                        &pos,
                        &format!("{ip}.type"),
                        format!("unsupported mount type {ty:?} (bind, volume or tmpfs)"),
                    ));
                }
                n.set("type", Node::str(ty.clone(), pos.clone()));
                if n.get("target").and_then(Node::scalar).is_none() {
                    return Err(ComposeError::at(&pos, &ip, "a volume needs a target"));
                }
                if ty == "bind" {
                    let src = n
                        .get("source")
                        .and_then(Node::scalar)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            ComposeError::at(&pos, &ip, "a bind mount needs a source")
                        })?;
                    n.set("source", Node::str(resolve(base, &src), pos.clone()));
                }
                n
            }
        };
        out.push(n);
    }
    Ok(Node::seq(out, v.pos.clone()))
}

fn short_volume(spec: &str, base: &Path, pos: &Pos, path: &str) -> Result<Node> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => {
            return Err(ComposeError::at(
                pos,
                path,
                format!("invalid volume {spec:?}"),
            ))
        }
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err(ComposeError::at(
            pos,
            path,
            format!("invalid volume {spec:?}: the target must be an absolute path"),
        ));
    }
    let mut m = Vec::new();
    let mut read_only = false;
    let mut nocopy = false;
    let mut propagation = None;
    for opt in mode.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "nocopy" => nocopy = true,
            "z" | "Z" => {}
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                propagation = Some(opt)
            }
            _ => {
                return Err(ComposeError::at(
                    pos,
                    path,
                    format!("invalid volume option {opt:?} in {spec:?}"),
                ))
            }
        }
    }
    match src {
        None => {
            m.push(entry("type", Node::str("volume", pos.clone())));
            m.push(entry("target", Node::str(target, pos.clone())));
        }
        Some(s) if is_path(s) => {
            m.push(entry("type", Node::str("bind", pos.clone())));
            m.push(entry("source", Node::str(resolve(base, s), pos.clone())));
            m.push(entry("target", Node::str(target, pos.clone())));
            let mut b = vec![entry("create_host_path", Node::plain("true", pos.clone()))];
            if let Some(p) = propagation {
                b.push(entry("propagation", Node::str(p, pos.clone())));
            }
            m.push(entry("bind", Node::map(b, pos.clone())));
        }
        Some(s) => {
            m.push(entry("type", Node::str("volume", pos.clone())));
            m.push(entry("source", Node::str(s, pos.clone())));
            m.push(entry("target", Node::str(target, pos.clone())));
        }
    }
    if read_only {
        m.push(entry("read_only", Node::plain("true", pos.clone())));
    }
    if nocopy {
        m.push(entry(
            "volume",
            Node::map(
                vec![entry("nocopy", Node::plain("true", pos.clone()))],
                pos.clone(),
            ),
        ));
    }
    Ok(Node::map(m, pos.clone()))
}

fn depends_on(v: &Node) -> Node {
    let pos = v.pos.clone();
    let mut out = Vec::new();
    let full = |p: &Pos, cond: Option<&Node>| -> Node {
        let mut m = match cond {
            Some(c) if !c.is_null() => c.clone(),
            _ => Node::map(Vec::new(), p.clone()),
        };
        if m.get("condition").is_none() {
            m.set("condition", Node::str("service_started", p.clone()));
        }
        if m.get("required").is_none() {
            m.set("required", Node::plain("true", p.clone()));
        }
        m
    };
    match &v.val {
        Val::Seq(items) => {
            for it in items {
                let name = it.scalar().unwrap_or_default();
                out.push((key(name, &it.pos), full(&it.pos, None)));
            }
        }
        Val::Map(m) => {
            for (k, c) in m {
                out.push((k.clone(), full(&k.pos, Some(c))));
            }
        }
        _ => return v.clone(),
    }
    Node::map(out, pos)
}

fn networks(v: &Node) -> Node {
    match &v.val {
        Val::Seq(items) => Node::map(
            items
                .iter()
                .map(|it| {
                    (
                        key(it.scalar().unwrap_or_default(), &it.pos),
                        Node::null(it.pos.clone()),
                    )
                })
                .collect(),
            v.pos.clone(),
        ),
        _ => v.clone(),
    }
}

fn file_refs(v: &Node) -> Node {
    match &v.val {
        Val::Seq(items) => Node::seq(
            items
                .iter()
                .map(|it| match &it.val {
                    Val::Scalar { text, .. } => Node::map(
                        vec![entry("source", Node::str(text.clone(), it.pos.clone()))],
                        it.pos.clone(),
                    ),
                    _ => it.clone(),
                })
                .collect(),
            v.pos.clone(),
        ),
        _ => v.clone(),
    }
}

fn devices(v: &Node, path: &str) -> Result<Node> {
    let mut out = Vec::new();
    for (i, it) in v.as_seq().into_iter().flatten().enumerate() {
        let pos = it.pos.clone();
        match &it.val {
            Val::Scalar { text, .. } => {
                let parts: Vec<&str> = text.split(':').collect();
                let (s, t, p) = match parts.as_slice() {
                    [s] => (*s, *s, "rwm"),
                    [s, t] if t.starts_with('/') => (*s, *t, "rwm"),
                    [s, p] => (*s, *s, *p),
                    [s, t, p] => (*s, *t, *p),
                    _ => {
                        return Err(ComposeError::at(
                            &pos,
                            &format!("{path}[{i}]"),
                            format!("invalid device {text:?}"),
                        ))
                    }
                };
                out.push(Node::map(
                    vec![
                        entry("source", Node::str(s, pos.clone())),
                        entry("target", Node::str(t, pos.clone())),
                        entry("permissions", Node::str(p, pos.clone())),
                    ],
                    pos,
                ));
            }
            _ => out.push(it.clone()),
        }
    }
    Ok(Node::seq(out, v.pos.clone()))
}

fn ulimits(v: &mut Node) {
    if let Some(m) = v.as_map_mut() {
        for (_, val) in m.iter_mut() {
            if let Val::Scalar { text, .. } = &val.val {
                let pos = val.pos.clone();
                let t = text.clone();
                *val = Node::map(
                    vec![
                        entry("soft", Node::plain(t.clone(), pos.clone())),
                        entry("hard", Node::plain(t, pos.clone())),
                    ],
                    pos,
                );
            }
        }
    }
}

/// Top-level networks/volumes/secrets/configs: null becomes `{}`, legacy
/// `external: {name: x}` becomes `external: true` + `name: x`, file paths are
/// resolved.
pub fn resource(v: &mut Node, kind: &str, base: &Path) {
    if v.is_null() {
        *v = Node::map(Vec::new(), v.pos.clone());
    }
    let pos = v.pos.clone();
    if let Some(ext) = v.get("external").cloned() {
        if let Some(name) = ext.get("name").and_then(Node::scalar) {
            v.set("name", Node::str(name, pos.clone()));
            v.set("external", Node::plain("true", ext.pos.clone()));
        }
    }
    if let Some(l) = v.get_mut("labels") {
        *l = list_or_map(l, false);
    }
    if matches!(kind, "secrets" | "configs") {
        if let Some(f) = v.get_mut("file") {
            if let Some(t) = f.scalar() {
                *f = Node::str(resolve(base, t), f.pos.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        assert_eq!(
            parse_port("80").unwrap(),
            vec![(None, None, 80, "tcp".into())]
        );
        assert_eq!(
            parse_port("8080:80/udp").unwrap(),
            vec![(None, Some("8080".into()), 80, "udp".into())]
        );
        assert_eq!(
            parse_port("127.0.0.1:8000-8001:80-81").unwrap(),
            vec![
                (
                    Some("127.0.0.1".into()),
                    Some("8000".into()),
                    80,
                    "tcp".into()
                ),
                (
                    Some("127.0.0.1".into()),
                    Some("8001".into()),
                    81,
                    "tcp".into()
                )
            ]
        );
        assert_eq!(
            parse_port("[::1]:53:53").unwrap(),
            vec![(Some("::1".into()), Some("53".into()), 53, "tcp".into())]
        );
        assert_eq!(
            parse_port("9000-9010:80").unwrap()[0].1.as_deref(),
            Some("9000-9010")
        );
        assert!(parse_port("a:b").is_err());
        assert!(parse_port("80/xyz").is_err());
        assert!(parse_port("1-3:1-2").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(resolve(Path::new("/p/d"), "./data"), "/p/d/data");
        assert_eq!(resolve(Path::new("/p/d"), "../x/./y"), "/p/x/y");
        assert_eq!(resolve(Path::new("/p/d"), "/abs"), "/abs");
    }

    #[test]
    fn short_volumes() {
        let p = Pos::default();
        let n = short_volume("./d:/data:ro", Path::new("/proj"), &p, "v").unwrap();
        assert_eq!(
            n.to_json(),
            serde_json::json!({"type":"bind","source":"/proj/d","target":"/data","bind":{"create_host_path":true},"read_only":true})
        );
        let n = short_volume("db:/var/lib/db:nocopy", Path::new("/proj"), &p, "v").unwrap();
        assert_eq!(
            n.to_json(),
            serde_json::json!({"type":"volume","source":"db","target":"/var/lib/db","volume":{"nocopy":true}})
        );
        let n = short_volume("/cache", Path::new("/proj"), &p, "v").unwrap();
        assert_eq!(
            n.to_json(),
            serde_json::json!({"type":"volume","target":"/cache"})
        );
        assert!(short_volume("a:b", Path::new("/"), &p, "v").is_err());
        assert!(short_volume("a:/b:bogus", Path::new("/"), &p, "v").is_err());
    }
}
