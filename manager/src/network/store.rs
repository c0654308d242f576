//! Networks and their endpoints on disk, under `<root>/networks/`:
//!
//!   <id>/network.json                 the network (docker's shape)
//!   <id>/endpoints/<container>.json   one address held by one container
//!
//! Every write is a temp file renamed into place (a kill -9 leaves the old or
//! the new file, never a torn one). Every change happens under one host-wide
//! lock (`/run/berth-network.lock`): bridges, subnets and host ports are the
//! host's, shared by every berth root, and the operations are short.
//!
//! The endpoint index, `<state>/net-index/<id>.json`: a copy of a network's
//! endpoint records in one file, keyed by the endpoints directory's inode and
//! mtime. Every start and exit reads all of a network's endpoints (the repair
//! scan, IPAM, the firewall); with the index that is one read, not one per
//! container, so a start costs about the same with 1 or 100 containers on the
//! network. The records stay the truth: the index is written through by every
//! change made here (under the lock), rebuilt when the directory's key
//! differs (a change made elsewhere, e.g. a record deleted by hand), and
//! ignored by the thorough commands (`network ls`/`prune`/`rm`, see
//! `NetworkStore::distrust_index`). It lives in the state directory, so a
//! reboot starts without one.
//!
//! Its first line is the whole list at a key; each later line one change (a
//! record put or removed) that moves it from the key before to the next, so
//! that a start or exit appends one line instead of serializing and
//! rewriting every endpoint (0.3 ms with 100 on the network); it is rewritten
//! whole every `compact_after` changes. A reader applies the lines in
//! order and uses the result only if every line names the key the one
//! before left and the last key is the directory's: a line torn by a crash,
//! an append to an index rewritten meanwhile, or a change made elsewhere,
//! all mean "read the records".
//!
//! Beside it, `<id>.held`: what a start needs of each endpoint (`Held`: ids,
//! name, addresses, links, ports) as words on a line, the same journal
//! ("=KEY", a "+FIELDS" line per endpoint, then "~PREV KEY +FIELDS" or
//! "~PREV KEY -ID" per change), written after the index and removed before
//! it is rewritten, so it never chains up to a key with content the index
//! does not have. A start reads it (no JSON: parsing the index's 40 KB at
//! 100 endpoints was most of what a start spent on them); without it (a field it cannot hold, an older berth) the
//! index is parsed for those fields only, and the records stay the truth.

use super::model::{Endpoint, Held, Network, PublishedPort};
use super::NetworkError;
use crate::context::Context;
use crate::store::{lock_file, replace_file, IoFailure};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
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
    /// `<state>/net-index` (see the module's doc).
    index: PathBuf,
    /// Whether the index may be used (false: every list is read from the
    /// records, and the index rewritten from them).
    trust_index: std::cell::Cell<bool>,
    /// Endpoints by network as read (and then written) through this store: a
    /// start reads them for the repair scan, IPAM and the firewall; one read
    /// serves all three. A store lives for one operation under the network
    /// lock, so nobody else changes them meanwhile. With each list, the key
    /// of the directory it was read at (None: no directory).
    cache: RefCell<HashMap<String, Listed>>,
    /// The networks as `list` read them (a start asked for them some 10
    /// times: a read of every network.json each), dropped by every change.
    networks: RefCell<Option<Vec<Network>>>,
}

/// A network's endpoints as read: the key of the directory they were read
/// at (None: no directory), the list, and how many change lines the index
/// file holds after its first (None: it is not known to end at that key, so
/// the next change rewrites it whole).
struct Listed {
    key: Option<String>,
    /// The whole records, once asked for (`endpoints`); a start needs only
    /// `held`, read from the index without building them.
    eps: Option<Endpoints>,
    held: HeldList,
    changes: Option<usize>,
}

/// What a start needs of a network's endpoints (see `Held`), shared as
/// `Endpoints` is.
pub type HeldList = std::rc::Rc<Vec<Held>>;

/// A network's endpoints, shared: a start asks for them some five times
/// (scan, IPAM, ports, firewall, its own), and copying 100 records each time
/// was most of what a start spent on them.
pub type Endpoints = std::rc::Rc<Vec<Endpoint>>;

/// The index file as written (borrowing the list).
#[derive(serde::Serialize)]
struct IndexRef<'a> {
    key: &'a str,
    endpoints: &'a [Endpoint],
}

/// The index file's first line (see the module's doc), read as whole
/// records (`Endpoint`) or as what a start needs of them (`Held`).
#[derive(serde::Deserialize)]
struct IndexFile<R> {
    /// `dir_key` of the endpoints directory the list was read at or written to.
    key: String,
    endpoints: Vec<R>,
}

/// A change line as written (see the module's doc).
#[derive(serde::Serialize)]
struct ChangeRef<'a> {
    /// The key the line before left, and the key after this change.
    prev: &'a str,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    put: Option<&'a Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    del: Option<&'a str>,
}

/// A change line as read.
#[derive(serde::Deserialize)]
struct Change<R> {
    prev: String,
    key: String,
    #[serde(default = "Option::default")]
    put: Option<R>,
    /// The container id whose record went.
    #[serde(default)]
    del: Option<String>,
}

/// One change of a network's records, for the index.
#[derive(Clone, Copy)]
enum Changed<'a> {
    Put(&'a Endpoint),
    Del(&'a str),
}

/// When the index is rewritten whole: after this many change lines (for a
/// network of `len` endpoints). A rewrite costs O(len), so doing it every
/// len/4 changes keeps a change's share constant, while a reader parses at
/// most a quarter more than the list.
fn compact_after(len: usize) -> usize {
    16.max(len / 4)
}

/// A record of the index, whole or as `Held`.
trait Indexed {
    fn container_id(&self) -> &[u8];
    /// What the list is sorted by (as `read_endpoints` makes it).
    fn container_name(&self) -> &[u8];
}

impl Indexed for Endpoint {
    fn container_id(&self) -> &[u8] {
        self.container_id.as_bytes()
    }
    fn container_name(&self) -> &[u8] {
        self.container_name.as_bytes()
    }
}

impl Indexed for Held {
    fn container_id(&self) -> &[u8] {
        self.container_id.as_bytes()
    }
    fn container_name(&self) -> &[u8] {
        self.container_name.as_bytes()
    }
}

/// The order of a network's list (as `read_endpoints` makes it).
fn sort_endpoints<R: Indexed>(eps: &mut [R]) {
    eps.sort_by(|a, b| a.container_name().cmp(b.container_name()));
}

/// An endpoint record as `Held` takes it, its strings borrowed from the
/// index file's buffer; the other fields are skipped, not built.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointView<'a> {
    #[serde(borrow, default)]
    container_id: Cow<'a, str>,
    #[serde(borrow, default)]
    container_name: Cow<'a, str>,
    #[serde(borrow, default)]
    endpoint_id: Cow<'a, str>,
    #[serde(rename = "IPv4Address", borrow, default)]
    ipv4: Cow<'a, str>,
    #[serde(rename = "IPv6Address", borrow, default)]
    ipv6: Cow<'a, str>,
    #[serde(default)]
    links: Option<bool>,
    #[serde(borrow, default)]
    ports: Vec<PortView<'a>>,
}

/// `PublishedPort`, borrowed.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PortView<'a> {
    #[serde(borrow, default)]
    proto: Cow<'a, str>,
    #[serde(borrow, default)]
    host_ip: Cow<'a, str>,
    #[serde(default)]
    host_port: u16,
    #[serde(default)]
    container_port: u16,
}

impl<'de> serde::Deserialize<'de> for Held {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Held, D::Error> {
        let v = EndpointView::deserialize(d)?;
        Ok(Held {
            container_id: v.container_id.into_owned(),
            container_name: v.container_name.into_owned(),
            endpoint_id: v.endpoint_id.into_owned(),
            ipv4: v.ipv4.parse().ok(),
            ipv6: v.ipv6.parse().ok(),
            links: v.links,
            ports: v
                .ports
                .iter()
                .map(|p| PublishedPort {
                    proto: p.proto.to_string(),
                    host_ip: p.host_ip.to_string(),
                    host_port: p.host_port,
                    container_port: p.container_port,
                })
                .collect(),
        })
    }
}

/// What changes whenever an entry of `dir` is added, removed or replaced
/// (each write renames a temp file into it): its inode and mtime. None when
/// it does not exist. (The mtime has the clock tick's granularity: a change
/// by hand within the tick of berth's last one can go unseen until the next
/// change or thorough command; berth's own changes all go through the lock
/// and write the index through.)
fn dir_key(dir: &Path) -> Option<String> {
    let m = std::fs::metadata(dir).ok()?;
    Some(format!("{}:{}.{:09}", m.ino(), m.mtime(), m.mtime_nsec()))
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

/// Write one of the network code's caches (the endpoint index, `net-live`,
/// `net-claims-swept`): a temp file renamed into place after the old one is
/// removed. Not atomic like `replace_file` -- a reader may find no file,
/// which for a cache means "work it out from the records" -- but a rename
/// that replaces a file makes ext4 (auto_da_alloc) start writing the new
/// file's data back at once: 4-30 ms measured here under load, on every
/// start, where a rename onto a free name costs microseconds.
pub(super) fn write_cache(path: &Path, data: &[u8]) -> Result<(), IoFailure> {
    let tmp = path.with_file_name(format!(
        ".{}.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let res = std::fs::write(&tmp, data)
        .map_err(IoFailure::at("write", &tmp))
        .and_then(|_| match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(IoFailure::at("remove", path)(e))
            }
            _ => std::fs::rename(&tmp, path).map_err(IoFailure::at("rename", path)),
        });
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// A word of a held line: "-" for an empty string; None for what cannot be
/// written so (a space, a newline, a separator, "-" itself).
fn held_word(s: &str, out: &mut String) -> Option<()> {
    if s == "-"
        || s.bytes()
            .any(|b| b.is_ascii_whitespace() || b == b',' || b == b'/')
    {
        return None;
    }
    out.push_str(if s.is_empty() { "-" } else { s });
    Some(())
}

fn from_word(w: &str) -> &str {
    if w == "-" {
        ""
    } else {
        w
    }
}

/// An endpoint as a held line's fields: "CONTAINER-ID ENDPOINT-ID NAME IPV4
/// IPV6 LINKS(y|n|-) PORTS" (PORTS "-" or "PROTO/HOST-IP/HOST-PORT/PORT,...").
/// None when a field cannot be written so (see `held_word`).
fn held_fields(e: &Endpoint, out: &mut String) -> Option<()> {
    use std::fmt::Write;
    for w in [
        &e.container_id,
        &e.endpoint_id,
        &e.container_name,
        &e.ipv4,
        &e.ipv6,
    ] {
        held_word(w, out)?;
        out.push(' ');
    }
    out.push_str(match e.links {
        Some(true) => "y ",
        Some(false) => "n ",
        None => "- ",
    });
    if e.ports.is_empty() {
        out.push('-');
    }
    for (i, p) in e.ports.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        held_word(&p.proto, out)?;
        out.push('/');
        held_word(&p.host_ip, out)?;
        let _ = write!(out, "/{}/{}", p.host_port, p.container_port);
    }
    Some(())
}

/// `held_fields` read back.
fn parse_held(line: &str) -> Option<Held> {
    let mut f = line.split(' ');
    let mut id = || f.next().map(|w| from_word(w).to_string());
    let (container_id, endpoint_id, container_name) = (id()?, id()?, id()?);
    let ipv4 = f.next()?.parse().ok();
    let ipv6 = f.next()?.parse().ok();
    let links = match f.next()? {
        "y" => Some(true),
        "n" => Some(false),
        "-" => None,
        _ => return None,
    };
    let ports = match f.next()? {
        "-" => Vec::new(),
        list => list
            .split(',')
            .map(|p| {
                let mut q = p.split('/');
                let proto = from_word(q.next()?).to_string();
                let host_ip = from_word(q.next()?).to_string();
                let host_port = q.next()?.parse().ok()?;
                let container_port = q.next()?.parse().ok()?;
                q.next().is_none().then_some(PublishedPort {
                    proto,
                    host_ip,
                    host_port,
                    container_port,
                })
            })
            .collect::<Option<Vec<_>>>()?,
    };
    f.next().is_none().then_some(Held {
        container_id,
        container_name,
        endpoint_id,
        ipv4,
        ipv6,
        links,
        ports,
    })
}

/// One change line of a journal (the index's JSON or the held file's
/// words), as `replay` applies it: from key `prev` to key `key`.
struct Step<S, R> {
    prev: S,
    key: S,
    op: Op<S, R>,
}

enum Op<S, R> {
    Put(R),
    /// The container id whose record went.
    Del(S),
}

/// The list at the first line's key `at`, changed by `steps` in order:
/// the list at `key` if every step starts where the last one ended and the
/// last ends at `key` (a None step: a line that cannot be read), with the
/// number of steps.
fn replay<S, R>(
    mut eps: Vec<R>,
    mut at: S,
    key: &str,
    steps: impl Iterator<Item = Option<Step<S, R>>>,
) -> Option<(Vec<R>, usize)>
where
    S: AsRef<str>,
    R: Indexed,
{
    let mut changes = 0;
    for step in steps {
        let step = step?;
        if step.prev.as_ref() != at.as_ref() {
            return None;
        }
        match step.op {
            Op::Put(ep) => {
                eps.retain(|e| e.container_id() != ep.container_id());
                eps.push(ep);
            }
            Op::Del(id) => eps.retain(|e| e.container_id() != id.as_ref().as_bytes()),
        }
        at = step.key;
        changes += 1;
    }
    if at.as_ref() != key {
        return None;
    }
    if changes > 0 {
        sort_endpoints(&mut eps);
    }
    Some((eps, changes))
}

/// The list in held `file` (see the module's doc) if its lines chain up to
/// `key`, with the number of change lines: no JSON.
fn read_held_at(file: &Path, key: &str) -> Option<(Vec<Held>, usize)> {
    let text = std::fs::read_to_string(file).ok()?;
    // a last line without its newline was torn
    let mut lines = text.strip_suffix('\n')?.split('\n').peekable();
    let at = lines.next()?.strip_prefix('=')?;
    let mut held: Vec<Held> = Vec::new();
    while let Some(f) = lines.peek().and_then(|l| l.strip_prefix('+')) {
        held.push(parse_held(f)?);
        lines.next();
    }
    // then only change lines (a "+" line among them does not parse)
    let steps = lines.map(|line| {
        let (prev, rest) = line.strip_prefix('~')?.split_once(' ')?;
        let (key, op) = rest.split_once(' ')?;
        let op = match op.strip_prefix('+') {
            Some(f) => Op::Put(parse_held(f)?),
            None => Op::Del(from_word(op.strip_prefix('-')?)),
        };
        Some(Step { prev, key, op })
    });
    replay(held, at, key, steps)
}

/// The list in index `file` if its lines chain up to `key`, with the number
/// of change lines (see the module's doc).
fn read_index_at<R>(file: &Path, key: &str) -> Option<(Vec<R>, usize)>
where
    R: Indexed + serde::de::DeserializeOwned,
{
    let data = std::fs::read(file).ok()?;
    // the writer ends every line with a newline: a last line without one
    // was torn (and cannot be whole JSON anyway)
    let mut lines = data.strip_suffix(b"\n")?.split(|b| *b == b'\n');
    let f: IndexFile<R> = serde_json::from_slice(lines.next()?).ok()?;
    let steps = lines.map(|line| {
        let c: Change<R> = serde_json::from_slice(line).ok()?;
        let op = match (c.put, c.del) {
            (Some(ep), None) => Op::Put(ep),
            (None, Some(id)) => Op::Del(id),
            _ => return None,
        };
        Some(Step {
            prev: c.prev,
            key: c.key,
            op,
        })
    });
    replay(f.endpoints, f.key, key, steps)
}

/// The endpoints in `ep_dir` from the index `file` if it matches the
/// directory as it is now (None: read the records). For readers without the
/// lock (the DNS responder): an index is replaced whole, by rename.
pub fn read_indexed(file: &Path, ep_dir: &Path) -> Option<Vec<Endpoint>> {
    read_index_at(file, &dir_key(ep_dir)?).map(|(eps, _)| eps)
}

impl NetworkStore {
    pub fn open(ctx: &Context) -> Result<NetworkStore, NetworkError> {
        let dir = ctx.root.join("networks");
        std::fs::create_dir_all(&dir).map_err(IoFailure::at("create", &dir))?;
        Ok(NetworkStore {
            dir,
            index: ctx.state.join("net-index"),
            trust_index: std::cell::Cell::new(true),
            cache: RefCell::default(),
            networks: RefCell::default(),
        })
    }

    /// From now on, read every network's endpoints from their records (and
    /// rewrite the index from them): the thorough commands' repair, so that
    /// whatever the index could miss is found there.
    pub fn distrust_index(&self) {
        self.trust_index.set(false);
        self.cache.borrow_mut().clear();
        self.networks.borrow_mut().take();
    }

    /// `net`'s index file (also read by its DNS responder, see
    /// `read_indexed`).
    pub fn index_file(&self, net: &str) -> PathBuf {
        self.index.join(format!("{net}.json"))
    }

    /// The index's list for `net` if it was made at `key`, with its number
    /// of change lines.
    fn read_index(&self, net: &str, key: &str) -> Option<(Vec<Endpoint>, usize)> {
        read_index_at(&self.index_file(net), key)
    }

    /// Record `eps` as `net`'s endpoints at `key` (None: drop the index).
    /// Best effort: a failed write leaves no index or the old one, whose key
    /// no longer matches. Whether the index now holds `eps` at `key`.
    fn write_index(&self, net: &str, key: Option<&str>, eps: &[Endpoint]) -> bool {
        let p = self.index_file(net);
        // the held file first: it is never left beside an index it does
        // not match (a crash below leaves none)
        let hp = self.held_file(net);
        let _ = std::fs::remove_file(&hp);
        let Some(key) = key else {
            let _ = std::fs::remove_file(&p);
            return false;
        };
        let f = IndexRef {
            key,
            endpoints: eps,
        };
        let Ok(mut data) = serde_json::to_vec(&f) else {
            let _ = std::fs::remove_file(&p);
            return false;
        };
        data.push(b'\n');
        if std::fs::create_dir_all(&self.index).is_err() || write_cache(&p, &data).is_err() {
            let _ = std::fs::remove_file(&p);
            return false;
        }
        let mut held = format!("={key}\n");
        let encoded = eps.iter().all(|e| {
            held.push('+');
            let ok = held_fields(e, &mut held).is_some();
            held.push('\n');
            ok
        });
        if encoded {
            // best effort: without it, `held` parses the index
            let _ = write_cache(&hp, held.as_bytes());
        }
        true
    }

    /// `net`'s held file (see the module's doc).
    fn held_file(&self, net: &str) -> PathBuf {
        self.index.join(format!("{net}.held"))
    }

    /// Append one change to `net`'s index, which ends at `prev`, moving it
    /// to `key`. Best effort as `write_index` (a torn or lost line breaks
    /// the chain, and the next reader reads the records). A single `write`
    /// of one line under O_APPEND: a reader without the lock (the DNS
    /// responder) sees the line whole or not at all, or a torn one it
    /// refuses.
    fn append_index(&self, net: &str, prev: &str, key: &str, change: Changed) -> bool {
        use std::io::Write;
        let p = self.index_file(net);
        let (put, del) = match change {
            Changed::Put(ep) => (Some(ep), None),
            Changed::Del(id) => (None, Some(id)),
        };
        let line = ChangeRef {
            prev,
            key,
            put,
            del,
        };
        let ok = serde_json::to_vec(&line).ok().is_some_and(|mut data| {
            data.push(b'\n');
            std::fs::OpenOptions::new()
                .append(true)
                .open(&p)
                .and_then(|mut f| f.write_all(&data))
                .is_ok()
        });
        // the held file follows (after the index: a crash in between
        // leaves it a change behind, so not used)
        let hp = self.held_file(net);
        let mut held = format!("~{prev} {key} ");
        let encoded = match change {
            Changed::Put(ep) => {
                held.push('+');
                held_fields(ep, &mut held)
            }
            Changed::Del(id) => {
                held.push('-');
                held_word(id, &mut held)
            }
        };
        held.push('\n');
        let held_ok = ok
            && encoded.is_some()
            && std::fs::OpenOptions::new()
                .append(true)
                .open(&hp)
                .and_then(|mut f| f.write_all(held.as_bytes()))
                .is_ok();
        if !held_ok {
            let _ = std::fs::remove_file(&hp);
        }
        if !ok {
            let _ = std::fs::remove_file(&p);
        }
        ok
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
        if let Some(nets) = self.networks.borrow().as_ref() {
            return Ok(nets.clone());
        }
        let nets = self.read_list()?;
        *self.networks.borrow_mut() = Some(nets.clone());
        Ok(nets)
    }

    fn read_list(&self) -> Result<Vec<Network>, NetworkError> {
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
        self.networks.borrow_mut().take();
        write_json(&self.net_file(&n.id), n)
    }

    pub fn remove(&self, id: &str) -> Result<(), NetworkError> {
        self.networks.borrow_mut().take();
        self.cache.borrow_mut().remove(id);
        self.write_index(id, None, &[]);
        let d = self.dir.join(id);
        match std::fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoFailure::at("remove", &d)(e).into()),
        }
    }

    /// `net`'s endpoints, whole (`network inspect`, the thorough commands;
    /// a start needs only `held`).
    pub fn endpoints(&self, net: &str) -> Result<Endpoints, NetworkError> {
        if let Some(eps) = self.cache.borrow().get(net).and_then(|l| l.eps.clone()) {
            return Ok(eps);
        }
        // Read in full, from the index as the directory is now (a list of
        // only `held` read before was kept in step with it by every change
        // made through this store), or from the records.
        self.cache.borrow_mut().remove(net);
        // the key first: a change while the records are read gives the
        // index an older key than the directory's, so the next read redoes it
        let key = dir_key(&self.ep_dir(net));
        let indexed = match &key {
            Some(k) if self.trust_index.get() => self.read_index(net, k),
            _ => None,
        };
        let (eps, changes) = match indexed {
            Some((eps, changes)) => (eps, Some(changes)),
            None => {
                let eps = self.read_endpoints(net)?;
                let written = self.write_index(net, key.as_deref(), &eps);
                (eps, written.then_some(0))
            }
        };
        let held = HeldList::new(eps.iter().map(Held::from).collect());
        let eps = Endpoints::new(eps);
        self.cache.borrow_mut().insert(
            net.to_string(),
            Listed {
                key,
                eps: Some(eps.clone()),
                held,
                changes,
            },
        );
        Ok(eps)
    }

    /// What a start needs of each of `net`'s endpoints (`Held`): from the
    /// index without building the records (a dozen strings each), or, when
    /// the index cannot be used, from the records as `endpoints` reads them.
    pub fn held(&self, net: &str) -> Result<HeldList, NetworkError> {
        if let Some(l) = self.cache.borrow().get(net) {
            return Ok(l.held.clone());
        }
        let key = dir_key(&self.ep_dir(net));
        // the held file, else the index (parsed for what `Held` takes)
        let indexed = match &key {
            Some(k) if self.trust_index.get() => read_held_at(&self.held_file(net), k)
                .or_else(|| read_index_at(&self.index_file(net), k)),
            _ => None,
        };
        let Some((held, changes)) = indexed else {
            self.endpoints(net)?;
            return Ok(self
                .cache
                .borrow()
                .get(net)
                .map(|l| l.held.clone())
                .unwrap_or_default());
        };
        let held = HeldList::new(held);
        self.cache.borrow_mut().insert(
            net.to_string(),
            Listed {
                key,
                eps: None,
                held: held.clone(),
                changes: Some(changes),
            },
        );
        Ok(held)
    }

    /// After `change` of `net`'s records made through this store: the cached
    /// list (already changed) goes to the index, keyed by the directory as
    /// it is now, if the directory was as the list was read before the
    /// change (`before`): one line appended, or the whole list when the
    /// index is not known to end at `before` or is due for a rewrite.
    /// Otherwise the index goes, to be rebuilt.
    fn write_through(&self, net: &str, before: Option<String>, change: Changed) {
        let after = dir_key(&self.ep_dir(net));
        let mut cache = self.cache.borrow_mut();
        let Some(l) = cache.get_mut(net) else {
            self.write_index(net, None, &[]);
            return;
        };
        if l.key != before {
            self.write_index(net, None, &[]);
            // the cached list may miss what changed meanwhile
            drop(cache);
            self.cache.borrow_mut().remove(net);
            return;
        }
        l.changes = match (&before, &after, l.changes) {
            (Some(b), Some(a), Some(n)) if n < compact_after(l.held.len()) => {
                self.append_index(net, b, a, change).then_some(n + 1)
            }
            _ => {
                if l.eps.is_none() {
                    // only `held` was read: the whole list is the index as
                    // it was before the change, changed
                    l.eps = before.as_deref().and_then(|b| self.read_index(net, b)).map(
                        |(mut eps, _)| {
                            match change {
                                Changed::Put(ep) => {
                                    eps.retain(|e| e.container_id != ep.container_id);
                                    eps.push(ep.clone());
                                    sort_endpoints(&mut eps);
                                }
                                Changed::Del(id) => eps.retain(|e| e.container_id != id),
                            }
                            Endpoints::new(eps)
                        },
                    );
                }
                match &l.eps {
                    Some(eps) => self.write_index(net, after.as_deref(), eps).then_some(0),
                    None => {
                        // not known: the next reader reads the records
                        self.write_index(net, None, &[]);
                        None
                    }
                }
            }
        };
        l.key = after;
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
        sort_endpoints(&mut out);
        Ok(out)
    }

    pub fn endpoint(&self, net: &str, container: &str) -> Result<Option<Endpoint>, NetworkError> {
        if let Some(l) = self.cache.borrow().get(net) {
            if let Some(eps) = &l.eps {
                return Ok(eps.iter().find(|e| e.container_id == container).cloned());
            }
            if !l.held.iter().any(|h| h.container_id == container) {
                return Ok(None);
            }
        }
        read_json(&self.ep_dir(net).join(format!("{container}.json")))
    }

    pub fn save_endpoint(&self, ep: &Endpoint) -> Result<(), NetworkError> {
        let net = &ep.network_id;
        // the list, to keep the index in step (usually read already)
        self.held(net)?;
        let before = dir_key(&self.ep_dir(net));
        let res = write_json(
            &self.ep_dir(net).join(format!("{}.json", ep.container_id)),
            ep,
        );
        if let Some(l) = self.cache.borrow_mut().get_mut(net) {
            let held = std::rc::Rc::make_mut(&mut l.held);
            held.retain(|h| h.container_id != *ep.container_id);
            if res.is_ok() {
                held.push(Held::from(ep));
                sort_endpoints(held);
            }
            if let Some(eps) = l.eps.as_mut() {
                let eps = std::rc::Rc::make_mut(eps);
                eps.retain(|e| e.container_id != ep.container_id);
                if res.is_ok() {
                    eps.push(ep.clone());
                    sort_endpoints(eps);
                }
            }
        }
        match res {
            Ok(()) => self.write_through(net, before, Changed::Put(ep)),
            // the record may or may not be there: read it again next time
            Err(_) => {
                self.cache.borrow_mut().remove(net);
                self.write_index(net, None, &[]);
            }
        }
        res
    }

    pub fn remove_endpoint(&self, net: &str, container: &str) -> Result<(), NetworkError> {
        self.held(net)?;
        let before = dir_key(&self.ep_dir(net));
        let p = self.ep_dir(net).join(format!("{container}.json"));
        let res = match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoFailure::at("remove", &p)(e).into()),
        };
        match res {
            Ok(()) => {
                if let Some(l) = self.cache.borrow_mut().get_mut(net) {
                    std::rc::Rc::make_mut(&mut l.held).retain(|h| h.container_id != container);
                    if let Some(eps) = l.eps.as_mut() {
                        std::rc::Rc::make_mut(eps).retain(|e| e.container_id != container);
                    }
                }
                self.write_through(net, before, Changed::Del(container));
            }
            Err(_) => {
                self.cache.borrow_mut().remove(net);
                self.write_index(net, None, &[]);
            }
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(tag: &str) -> (PathBuf, Context) {
        let tmp = std::env::temp_dir().join(format!("berth-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let ctx = Context::new(tmp.join("root"), tmp.join("state"));
        (tmp, ctx)
    }

    fn ep(net: &str, id: &str, ip: &str) -> Endpoint {
        Endpoint {
            container_id: id.into(),
            container_name: id.into(),
            network_id: net.into(),
            ipv4: ip.into(),
            ..Default::default()
        }
    }

    fn ips(eps: &[Endpoint]) -> Vec<String> {
        eps.iter().map(|e| e.ipv4.clone()).collect()
    }

    /// Changes through the store write the index through: a new store
    /// reads the list from it (one file), the records stay the truth for a
    /// thorough reader, and a record removed by hand is seen at once.
    #[test]
    fn endpoint_index_follows_changes() {
        let (tmp, ctx) = fixture("index");
        let st = NetworkStore::open(&ctx).unwrap();
        st.save_endpoint(&ep("n1", "a", "10.0.0.2")).unwrap();
        st.save_endpoint(&ep("n1", "b", "10.0.0.3")).unwrap();
        st.save_endpoint(&ep("n1", "c", "10.0.0.4")).unwrap();
        st.remove_endpoint("n1", "b").unwrap();
        assert!(st.index_file("n1").is_file());

        // an edit in place changes no directory entry, so the index (which
        // still says .4) is what a new store reads: proof that it is used
        let rec = ctx.root.join("networks/n1/endpoints/c.json");
        let edited = serde_json::to_vec(&ep("n1", "c", "10.0.0.9")).unwrap();
        std::fs::write(&rec, edited).unwrap();
        let st = NetworkStore::open(&ctx).unwrap();
        assert_eq!(ips(&st.endpoints("n1").unwrap()), ["10.0.0.2", "10.0.0.4"]);
        // a thorough reader reads the records, and rewrites the index
        let st = NetworkStore::open(&ctx).unwrap();
        st.distrust_index();
        assert_eq!(ips(&st.endpoints("n1").unwrap()), ["10.0.0.2", "10.0.0.9"]);
        let st = NetworkStore::open(&ctx).unwrap();
        assert_eq!(ips(&st.endpoints("n1").unwrap()), ["10.0.0.2", "10.0.0.9"]);

        // a record removed by hand changes the directory: the index is
        // rebuilt (wait a clock tick first, the mtime's granularity)
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::remove_file(ctx.root.join("networks/n1/endpoints/a.json")).unwrap();
        let st = NetworkStore::open(&ctx).unwrap();
        assert_eq!(ips(&st.endpoints("n1").unwrap()), ["10.0.0.9"]);

        // a network removed takes its index along
        st.remove("n1").unwrap();
        assert!(!st.index_file("n1").exists());
        assert!(NetworkStore::open(&ctx)
            .unwrap()
            .endpoints("n1")
            .unwrap()
            .is_empty());
        let _ = std::fs::remove_dir_all(tmp);
    }

    /// A change appends one line to the index (no rewrite of the list)
    /// until `compact_after` changes, then the index is rewritten whole; a
    /// new store reads the same list from it as the records give.
    #[test]
    fn index_appends_changes_then_compacts() {
        let (tmp, ctx) = fixture("append");
        let st = NetworkStore::open(&ctx).unwrap();
        for i in 0..10 {
            st.save_endpoint(&ep("n1", &format!("c{i:02}"), &format!("10.0.0.{}", i + 2)))
                .unwrap();
        }
        let lines = |st: &NetworkStore| std::fs::read(st.index_file("n1")).unwrap();
        let count = |d: &[u8]| d.iter().filter(|b| **b == b'\n').count();
        // the first save (which made the directory) wrote the list, then
        // one line per change
        let first = lines(&st);
        assert_eq!(count(&first), 10);
        st.remove_endpoint("n1", "c03").unwrap();
        let after = lines(&st);
        assert_eq!(count(&after), 11);
        assert!(after.starts_with(&first), "a change rewrote the index");
        let want = ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.6", "10.0.0.7"];
        let listed = NetworkStore::open(&ctx).unwrap().endpoints("n1").unwrap();
        assert_eq!(ips(&listed)[..5], want);
        assert_eq!(listed.len(), 9);
        // the list read from the records is the same, in the same order
        let thorough = NetworkStore::open(&ctx).unwrap();
        thorough.distrust_index();
        assert_eq!(*thorough.endpoints("n1").unwrap(), *listed);
        // (the thorough read rewrote it whole) a store that read the index
        // keeps appending to it, then compacts
        let st = NetworkStore::open(&ctx).unwrap();
        let n = compact_after(9);
        for i in 0..n {
            st.save_endpoint(&ep("n1", "c00", &format!("10.0.1.{i}")))
                .unwrap();
        }
        assert_eq!(count(&lines(&st)), 1 + n);
        st.save_endpoint(&ep("n1", "c00", &format!("10.0.1.{n}")))
            .unwrap();
        assert_eq!(count(&lines(&st)), 1, "not compacted");
        let last = format!("10.0.1.{n}");
        let listed = NetworkStore::open(&ctx).unwrap().endpoints("n1").unwrap();
        assert_eq!(listed[0].ipv4, last);
        assert_eq!(listed.len(), 9);
        let _ = std::fs::remove_dir_all(tmp);
    }

    /// A torn last line, or a line that does not follow the one before (an
    /// append to an index rewritten meanwhile), makes the reader read the
    /// records.
    #[test]
    fn broken_index_chain_is_ignored() {
        let (tmp, ctx) = fixture("chain");
        let st = NetworkStore::open(&ctx).unwrap();
        st.save_endpoint(&ep("n1", "a", "10.0.0.2")).unwrap();
        st.save_endpoint(&ep("n1", "b", "10.0.0.3")).unwrap();
        let dir = ctx.root.join("networks/n1/endpoints");
        let file = st.index_file("n1");
        let whole = std::fs::read(&file).unwrap();
        assert!(read_indexed(&file, &dir).is_some());
        // torn: the last line cut short
        std::fs::write(&file, &whole[..whole.len() - 3]).unwrap();
        assert!(read_indexed(&file, &dir).is_none());
        // whole again, but with the last line's "prev" changed: no chain
        let text = String::from_utf8(whole.clone()).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        let last = lines
            .pop()
            .unwrap()
            .replacen("\"prev\":\"", "\"prev\":\"9", 1);
        lines.push(&last);
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        assert!(read_indexed(&file, &dir).is_none());
        // a reader falls back to the records, and rebuilds the index
        let st = NetworkStore::open(&ctx).unwrap();
        assert_eq!(ips(&st.endpoints("n1").unwrap()), ["10.0.0.2", "10.0.0.3"]);
        assert_eq!(
            ips(&read_indexed(&file, &dir).unwrap()),
            ["10.0.0.2", "10.0.0.3"]
        );
        let _ = std::fs::remove_dir_all(tmp);
    }

    fn held_of(eps: &[Endpoint]) -> Vec<Held> {
        eps.iter().map(Held::from).collect()
    }

    /// A start reads `held` from the index (change lines included) without
    /// building the records, and it says what the records say.
    #[test]
    fn held_is_read_from_the_index_alone() {
        let (tmp, ctx) = fixture("held");
        let st = NetworkStore::open(&ctx).unwrap();
        for (id, ip) in [("b", "10.0.0.3"), ("a", "10.0.0.2"), ("c", "10.0.0.4")] {
            st.save_endpoint(&ep("n1", id, ip)).unwrap();
        }
        let mut with_ports = ep("n1", "d", "10.0.0.5");
        with_ports.ipv6 = "fd00::5".into();
        with_ports.endpoint_id = "e".repeat(64);
        with_ports.container_id = "d".repeat(70);
        with_ports.links = Some(true);
        with_ports.ports = vec![PublishedPort {
            proto: "tcp".into(),
            host_ip: "127.0.0.1".into(),
            host_port: 8080,
            container_port: 80,
        }];
        st.save_endpoint(&with_ports).unwrap();
        st.remove_endpoint("n1", "b").unwrap();

        let st = NetworkStore::open(&ctx).unwrap();
        let held = st.held("n1").unwrap();
        assert!(
            st.cache.borrow()["n1"].eps.is_none(),
            "held built the records"
        );
        let thorough = NetworkStore::open(&ctx).unwrap();
        thorough.distrust_index();
        let whole = thorough.endpoints("n1").unwrap();
        assert_eq!(*held, held_of(&whole));
        assert_eq!(held[2].ipv6, Some("fd00::5".parse().unwrap()));
        assert_eq!(held[2].ports[0].host_port, 8080);
        assert_eq!(*held[2].container_id, *"d".repeat(70));
        // the whole list asked for after `held` is the records'
        assert_eq!(*st.endpoints("n1").unwrap(), *whole);
        // a lookup by id after `held` reads that one record
        let st = NetworkStore::open(&ctx).unwrap();
        st.held("n1").unwrap();
        assert_eq!(st.endpoint("n1", "c").unwrap().unwrap().ipv4, "10.0.0.4");
        assert!(st.endpoint("n1", "b").unwrap().is_none());
        let _ = std::fs::remove_dir_all(tmp);
    }

    /// The held file goes with the index: a start reads it (not the
    /// index), a broken chain or a field it cannot hold sends the reader to
    /// the index, and every way it ends reads what the records say.
    #[test]
    fn held_file_follows_the_index() {
        let (tmp, ctx) = fixture("heldfile");
        let st = NetworkStore::open(&ctx).unwrap();
        let mut p = ep("n1", "p", "10.0.0.9");
        p.ports = vec![
            PublishedPort {
                proto: "udp".into(),
                host_ip: String::new(),
                host_port: 53,
                container_port: 5353,
            },
            PublishedPort {
                proto: "tcp".into(),
                host_ip: "::1".into(),
                host_port: 80,
                container_port: 8080,
            },
        ];
        p.ipv6 = "fd00::9".into();
        p.links = None;
        for e in [ep("n1", "a", "10.0.0.2"), p, ep("n1", "b", "10.0.0.3")] {
            st.save_endpoint(&e).unwrap();
        }
        st.remove_endpoint("n1", "a").unwrap();
        let dir = ctx.root.join("networks/n1/endpoints");
        let key = dir_key(&dir).unwrap();
        let hf = st.held_file("n1");
        let records = || {
            let t = NetworkStore::open(&ctx).unwrap();
            t.distrust_index();
            held_of(&t.endpoints("n1").unwrap())
        };
        let (from_file, changes) = read_held_at(&hf, &key).unwrap();
        assert_eq!(changes, 3);
        // (as they are: the thorough read below rewrites them whole)
        let index = std::fs::read(st.index_file("n1")).unwrap();
        let held_text = std::fs::read_to_string(&hf).unwrap();
        assert_eq!(from_file, records());
        assert_eq!(from_file[1].ports.len(), 2);

        // the index unreadable, the held file whole: a start still reads
        // the list (from the held file)
        std::fs::write(&hf, &held_text).unwrap();
        std::fs::write(st.index_file("n1"), b"{}\n").unwrap();
        let st2 = NetworkStore::open(&ctx).unwrap();
        assert_eq!(*st2.held("n1").unwrap(), from_file);
        // a broken chain in the held file: the index is read instead
        std::fs::write(st.index_file("n1"), &index).unwrap();
        let broken = held_text.replacen("~", "~9", 1);
        std::fs::write(&hf, &broken).unwrap();
        assert!(read_held_at(&hf, &key).is_none());
        let st3 = NetworkStore::open(&ctx).unwrap();
        assert_eq!(*st3.held("n1").unwrap(), from_file);
        // a torn last line too
        std::fs::write(&hf, &held_text[..held_text.len() - 2]).unwrap();
        assert!(read_held_at(&hf, &key).is_none());

        // a whole rewrite (the thorough read) writes it again; a name it
        // cannot hold leaves none, and the index serves
        assert_eq!(records().len(), 2);
        assert!(read_held_at(&hf, &dir_key(&dir).unwrap()).is_some());
        let st = NetworkStore::open(&ctx).unwrap();
        let mut odd = ep("n1", "c", "10.0.0.4");
        odd.container_name = "a b".into();
        st.save_endpoint(&odd).unwrap();
        assert!(!hf.exists());
        let st = NetworkStore::open(&ctx).unwrap();
        assert_eq!(*st.held("n1").unwrap(), records());
        assert_eq!(records().len(), 3);
        let _ = std::fs::remove_dir_all(tmp);
    }

    /// A store that read only `held` keeps the index in step: change lines,
    /// then, when one is due, the whole list rewritten from the index and
    /// the change; a new store reads the same list as the records give.
    #[test]
    fn held_only_store_appends_and_compacts() {
        let (tmp, ctx) = fixture("heldcompact");
        let st = NetworkStore::open(&ctx).unwrap();
        for i in 0..6 {
            st.save_endpoint(&ep("n1", &format!("c{i}"), &format!("10.0.0.{}", i + 2)))
                .unwrap();
        }
        let count = |st: &NetworkStore| {
            std::fs::read(st.index_file("n1"))
                .unwrap()
                .iter()
                .filter(|b| **b == b'\n')
                .count()
        };
        let thorough = || {
            let t = NetworkStore::open(&ctx).unwrap();
            t.distrust_index();
            held_of(&t.endpoints("n1").unwrap())
        };
        // rewritten whole by a thorough read: one line
        assert_eq!(thorough().len(), 6);
        let st = NetworkStore::open(&ctx).unwrap();
        st.held("n1").unwrap();
        let n = compact_after(6);
        for i in 0..n {
            st.save_endpoint(&ep("n1", "c0", &format!("10.0.1.{i}")))
                .unwrap();
            st.remove_endpoint("n1", "c5").unwrap_or(());
        }
        assert!(st.cache.borrow()["n1"].eps.is_some(), "never compacted");
        assert!(count(&st) < 1 + 2 * n, "{} lines", count(&st));
        let fresh = NetworkStore::open(&ctx).unwrap();
        assert_eq!(*fresh.held("n1").unwrap(), thorough());
        assert_eq!(*st.held("n1").unwrap(), thorough());
        assert_eq!(thorough().len(), 5);
        let _ = std::fs::remove_dir_all(tmp);
    }

    /// A torn or foreign index is never used: the records are read.
    #[test]
    fn torn_index_is_ignored() {
        let (tmp, ctx) = fixture("torn");
        let st = NetworkStore::open(&ctx).unwrap();
        st.save_endpoint(&ep("n1", "a", "10.0.0.2")).unwrap();
        std::fs::write(st.index_file("n1"), b"{\"key\":").unwrap();
        let st = NetworkStore::open(&ctx).unwrap();
        assert_eq!(ips(&st.endpoints("n1").unwrap()), ["10.0.0.2"]);
        // and the read rebuilt it
        let dir = ctx.root.join("networks/n1/endpoints");
        let indexed = read_indexed(&st.index_file("n1"), &dir).unwrap();
        assert_eq!(ips(&indexed), ["10.0.0.2"]);
        let _ = std::fs::remove_dir_all(tmp);
    }
}
