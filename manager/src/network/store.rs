//! Networks and their endpoints on disk, under `<root>/networks/`:
//!
//!   <id>/network.json                 the network (docker's shape)
//!   <id>/endpoints/<container>.json   one address held by one container
//!
//! Every write is a temp file renamed into place (a kill -9 leaves the old or
//! the new file, never a torn one). Every change happens under one host-wide
//! lock (`/run/berth-network.lock`): bridges, subnets and host ports are the
//! host's, shared by every berth root, and the operations are short.

use super::model::{Endpoint, Network};
use super::NetworkError;
use crate::context::Context;
use crate::store::{lock_file, replace_file, IoFailure};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The host-wide lock of network state (see the module's doc).
pub const HOST_LOCK: &str = "/run/berth-network.lock";

/// A held network lock (flock: released when the holder dies).
pub struct NetLock {
    _file: File,
}

pub fn lock() -> Result<NetLock, NetworkError> {
    Ok(NetLock {
        _file: lock_file(Path::new(HOST_LOCK), libc::LOCK_EX)?,
    })
}

pub struct NetworkStore {
    dir: PathBuf,
    /// Endpoints by network as read (and then written) through this store: a
    /// start reads them for the repair scan, IPAM and the firewall; one read
    /// of the files serves all three. A store lives for one operation under
    /// the network lock, so nobody else changes them meanwhile.
    cache: RefCell<HashMap<String, Vec<Endpoint>>>,
}

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<Option<T>, NetworkError> {
    match std::fs::read(p) {
        Ok(d) => serde_json::from_slice(&d)
            .map(Some)
            .map_err(|e| NetworkError::Corrupt {
                path: p.to_path_buf(),
                why: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoFailure::at("read", p)(e).into()),
    }
}

fn write_json<T: serde::Serialize>(p: &Path, v: &T) -> Result<(), NetworkError> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(IoFailure::at("create", d))?;
    }
    let data = serde_json::to_vec_pretty(v).map_err(|e| NetworkError::Corrupt {
        path: p.to_path_buf(),
        why: e.to_string(),
    })?;
    Ok(replace_file(p, &data, false)?)
}

impl NetworkStore {
    pub fn open(ctx: &Context) -> Result<NetworkStore, NetworkError> {
        let dir = ctx.root.join("networks");
        std::fs::create_dir_all(&dir).map_err(IoFailure::at("create", &dir))?;
        Ok(NetworkStore {
            dir,
            cache: RefCell::default(),
        })
    }

    /// The rules last applied to the firewall (see `endpoint::sync_firewall`).
    pub fn applied_rules_path(&self) -> PathBuf {
        self.dir.join(".firewall-applied")
    }

    /// `<root>/networks/<id>` (what the network's DNS responder watches).
    pub fn network_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn net_file(&self, id: &str) -> PathBuf {
        self.dir.join(id).join("network.json")
    }

    fn ep_dir(&self, net: &str) -> PathBuf {
        self.dir.join(net).join("endpoints")
    }

    /// Every network, by creation order then name.
    pub fn list(&self) -> Result<Vec<Network>, NetworkError> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.dir).map_err(IoFailure::at("read", &self.dir))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(n) = read_json::<Network>(&self.net_file(&name))? {
                out.push(n);
            }
        }
        out.sort_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)));
        Ok(out)
    }

    /// By exact name, full id, or unique id prefix (docker's order).
    pub fn find(&self, key: &str) -> Result<Option<Network>, NetworkError> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(Some(n.clone()));
        }
        let by_prefix: Vec<&Network> = all.iter().filter(|n| n.id.starts_with(key)).collect();
        match by_prefix.as_slice() {
            [one] => Ok(Some((*one).clone())),
            [] => Ok(None),
            _ => Err(NetworkError::Ambiguous(key.into())),
        }
    }

    pub fn get(&self, key: &str) -> Result<Network, NetworkError> {
        self.find(key)?
            .ok_or_else(|| NetworkError::NotFound(key.to_string()))
    }

    pub fn save(&self, n: &Network) -> Result<(), NetworkError> {
        write_json(&self.net_file(&n.id), n)
    }

    pub fn remove(&self, id: &str) -> Result<(), NetworkError> {
        self.cache.borrow_mut().remove(id);
        let d = self.dir.join(id);
        match std::fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoFailure::at("remove", &d)(e).into()),
        }
    }

    pub fn endpoints(&self, net: &str) -> Result<Vec<Endpoint>, NetworkError> {
        if let Some(eps) = self.cache.borrow().get(net) {
            return Ok(eps.clone());
        }
        let eps = self.read_endpoints(net)?;
        self.cache.borrow_mut().insert(net.to_string(), eps.clone());
        Ok(eps)
    }

    fn read_endpoints(&self, net: &str) -> Result<Vec<Endpoint>, NetworkError> {
        let d = self.ep_dir(net);
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(IoFailure::at("read", &d)(e).into()),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") || name.starts_with('.') {
                continue;
            }
            if let Some(ep) = read_json::<Endpoint>(&e.path())? {
                out.push(ep);
            }
        }
        out.sort_by(|a, b| a.container_name.cmp(&b.container_name));
        Ok(out)
    }

    pub fn endpoint(&self, net: &str, container: &str) -> Result<Option<Endpoint>, NetworkError> {
        if let Some(eps) = self.cache.borrow().get(net) {
            return Ok(eps.iter().find(|e| e.container_id == container).cloned());
        }
        read_json(&self.ep_dir(net).join(format!("{container}.json")))
    }

    pub fn save_endpoint(&self, ep: &Endpoint) -> Result<(), NetworkError> {
        write_json(
            &self
                .ep_dir(&ep.network_id)
                .join(format!("{}.json", ep.container_id)),
            ep,
        )?;
        if let Some(eps) = self.cache.borrow_mut().get_mut(&ep.network_id) {
            eps.retain(|e| e.container_id != ep.container_id);
            eps.push(ep.clone());
            eps.sort_by(|a, b| a.container_name.cmp(&b.container_name));
        }
        Ok(())
    }

    pub fn remove_endpoint(&self, net: &str, container: &str) -> Result<(), NetworkError> {
        if let Some(eps) = self.cache.borrow_mut().get_mut(net) {
            eps.retain(|e| e.container_id != container);
        }
        let p = self.ep_dir(net).join(format!("{container}.json"));
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoFailure::at("remove", &p)(e).into()),
        }
    }
}
