//! `linux.cgroupsPath` resolution: cgroupfs paths (absolute, relative,
//! default) and the systemd driver's "slice:prefix:name" form.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::{CgroupError, Result};
use super::host::{CgroupMode, Layout, Mount};
use super::{Cgroup, Hierarchy};

/// A cleaned cgroup path: '/'-separated components, no leading '/', no
/// "." or ".." (which cannot climb above its base), never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inner {
    /// Below each hierarchy's root.
    Absolute(String),
    /// Below the runtime's own cgroup.
    Relative(String),
}

/// Lexical cleaning, like Go's filepath.Clean on a rooted path.
pub(crate) fn clean(s: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

pub(crate) fn inner_from(cgroups_path: Option<&Path>, id: &str) -> Result<Inner> {
    let raw = match cgroups_path {
        Some(p) if !p.as_os_str().is_empty() => {
            p.to_str().ok_or_else(|| CgroupError::InvalidPath {
                path: p.to_string_lossy().into_owned(),
                reason: "not valid UTF-8".into(),
            })?
        }
        _ => {
            let rel = clean(id);
            if rel.is_empty() {
                return Err(CgroupError::InvalidPath {
                    path: format!("/{id}"),
                    reason: "the container id does not make a cgroup name".into(),
                });
            }
            return Ok(Inner::Absolute(rel));
        }
    };
    let rel = clean(raw);
    if rel.is_empty() {
        let reason = if raw.starts_with('/') {
            "it names the root cgroup"
        } else {
            "it names the runtime's own cgroup"
        };
        return Err(CgroupError::InvalidPath {
            path: raw.to_string(),
            reason: reason.into(),
        });
    }
    Ok(if raw.starts_with('/') {
        Inner::Absolute(rel)
    } else {
        Inner::Relative(rel)
    })
}

/// Join a cleaned relative path (possibly empty) onto `base`.
pub(crate) fn join(base: &Path, rel: &str) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in rel.split('/').filter(|c| !c.is_empty()) {
        p.push(c);
    }
    p
}

/// `own` (from /proc/self/cgroup) relative to the mounted `root` of its
/// hierarchy. A cgroup outside the mounted sub-tree (possible in nested
/// containers without a cgroup namespace) is taken as is.
pub(crate) fn under_root(root: &str, own: &str) -> String {
    let (root, own) = (clean(root), clean(own));
    if root.is_empty() {
        own
    } else if own == root {
        String::new()
    } else if let Some(rest) = own.strip_prefix(&format!("{root}/")) {
        rest.to_string()
    } else {
        own
    }
}

fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// Place `inner` in every hierarchy of `layout`. `own`: /proc/self/cgroup,
/// needed only for relative paths.
pub(crate) fn place(
    layout: &Layout,
    inner: &Inner,
    own: Option<&HashMap<String, String>>,
) -> Cgroup {
    let locate = |m: &Mount, key: &str, parent_of_own: bool| -> PathBuf {
        match inner {
            Inner::Absolute(rel) => join(&m.mountpoint, rel),
            Inner::Relative(rel) => {
                let own_path = own
                    .and_then(|o| o.get(key))
                    .map(String::as_str)
                    .unwrap_or("/");
                let mut base = under_root(&m.root, own_path);
                if parent_of_own {
                    base = parent(&base).to_string();
                }
                join(&join(&m.mountpoint, &base), rel)
            }
        }
    };
    let hierarchies = layout
        .v1
        .iter()
        .map(|m| Hierarchy {
            controllers: m.controllers.clone(),
            mountpoint: m.mountpoint.clone(),
            path: locate(m, &m.controllers[0], false),
        })
        .collect();
    // On pure v2, runc puts relative paths under the *parent* of its own
    // cgroup: the runtime's cgroup holds processes, so it may not also
    // delegate controllers to children ("no internal processes").
    let unified = layout.unified.as_ref().map(|m| Hierarchy {
        controllers: Vec::new(),
        mountpoint: m.mountpoint.clone(),
        path: locate(m, "", layout.mode == CgroupMode::V2),
    });
    Cgroup {
        mode: layout.mode,
        hierarchies,
        unified,
        systemd: None,
    }
}

/// A systemd cgroupsPath, "slice:prefix:name".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SystemdUnit {
    pub slice: String,
    pub prefix: String,
    pub name: String,
}

/// "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice" (systemd's nesting).
pub(crate) fn expand_slice(slice: &str) -> Result<String> {
    let bad = |why: &str| CgroupError::InvalidPath {
        path: slice.to_string(),
        reason: format!("invalid slice name: {why}"),
    };
    let Some(name) = slice.strip_suffix(".slice") else {
        return Err(bad("it must end with \".slice\""));
    };
    if name.is_empty() {
        return Err(bad("empty name"));
    }
    if slice.contains('/') {
        return Err(bad("it must not contain '/'"));
    }
    if name == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for component in name.split('-') {
        if component.is_empty() {
            return Err(bad("empty component between '-'"));
        }
        path.push_str(&format!("/{prefix}{component}.slice"));
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(path)
}

impl SystemdUnit {
    pub fn parse(cgroups_path: Option<&Path>, id: &str) -> Result<SystemdUnit> {
        let raw = match cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => p.to_string_lossy().into_owned(),
            // runc's default: a "runc-<id>.scope" in system.slice.
            _ => {
                return Ok(SystemdUnit {
                    slice: "system.slice".into(),
                    prefix: "runc".into(),
                    name: id.to_string(),
                })
            }
        };
        let parts: Vec<&str> = raw.split(':').collect();
        if parts.len() != 3 {
            return Err(CgroupError::InvalidPath {
                path: raw.clone(),
                reason: "expected the format \"slice:prefix:name\" for systemd cgroups".into(),
            });
        }
        let slice = if parts[0].is_empty() {
            "system.slice"
        } else {
            parts[0]
        };
        expand_slice(slice)?;
        let name = parts[2];
        if name.is_empty() || name.contains('/') {
            return Err(CgroupError::InvalidPath {
                path: raw.clone(),
                reason: "the unit name must be non-empty and contain no '/'".into(),
            });
        }
        if parts[1].contains('/') {
            return Err(CgroupError::InvalidPath {
                path: raw.clone(),
                reason: "the prefix must not contain '/'".into(),
            });
        }
        Ok(SystemdUnit {
            slice: slice.into(),
            prefix: parts[1].into(),
            name: name.into(),
        })
    }

    /// A scope unless the name is itself a slice (as runc).
    pub fn unit_name(&self) -> String {
        if self.name.ends_with(".slice") {
            self.name.clone()
        } else {
            format!("{}-{}.scope", self.prefix, self.name)
        }
    }

    /// The unit's cgroup, relative to the hierarchy root.
    pub fn cgroup_path(&self) -> Result<String> {
        let slice = expand_slice(&self.slice)?;
        Ok(clean(&format!("{slice}/{}", self.unit_name())))
    }
}
