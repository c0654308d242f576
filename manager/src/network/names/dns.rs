//! The per-network DNS responder (`berth internal dns NETWORK`), like
//! podman's aardvark-dns: one small process per user network, listening on
//! the network's gateway address, port 53, UDP and TCP. It answers A (and
//! AAAA on a network with `--ipv6`) for the names of the network's endpoints
//! (container name, `--network-alias`es, short id; several endpoints under
//! one name in rotating order), PTR for their addresses (in-addr.arpa and
//! ip6.arpa), an empty NOERROR for other types of those names, and
//! forwards every other question to the upstream resolvers (the container's
//! `--dns`, else the ones it was started with).
//!
//! One thread, one `poll` loop: the questions are tiny and local answers are
//! a table lookup; forwarded UDP questions are relayed without waiting (a
//! table of pending ids), so a slow upstream holds up nobody. TCP (rare:
//! truncated answers) is read and answered from the same loop without
//! blocking, its forwarded questions by short-lived threads (`tcp.rs`).
//!
//! The names come from the network store's endpoint files: starting,
//! stopping, renaming, connecting and disconnecting a container all rewrite
//! or remove one endpoint file, so answers follow without a restart or a
//! signal. The responder is told which file changed (`watch.rs`, inotify),
//! re-reads that one and updates its hash maps (`table.rs`): the work of a
//! change and of a question does not grow with the network's size. The
//! responder exits by itself (under the network lock) once its network has
//! no endpoint or no longer exists, so a berth killed before it could stop
//! it leaks nothing.

use super::table::Table;
use super::tcp;
use super::watch::{is_record, Watch};
use crate::network::model::{Endpoint, Subnet};
use crate::network::store::HOST_LOCK;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Answers may change at any time (a container stops): clients should not
/// keep them long.
const TTL: u32 = 5;
/// How long one upstream gets before the next one is asked.
const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(2500);
/// How often the loop wakes to expire questions and check its network.
const TICK: Duration = Duration::from_millis(250);
/// How long the network stays empty before the responder exits: a `run
/// --rm` right after another one finds it still running.
const LINGER: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("{op} {addr}: {source}")]
    Socket {
        op: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("poll: {0}")]
    Poll(nix::Error),
}

/// What the responder serves.
pub struct Config {
    /// `<root>/networks/<id>`: network.json and endpoints/.
    pub net_dir: PathBuf,
    /// The network's endpoint index (`store::read_indexed`): without
    /// inotify, a full read is one file instead of one per endpoint, while
    /// it matches the directory.
    pub index: Option<PathBuf>,
    pub subnet: Subnet,
    pub address: Ipv4Addr,
    pub upstreams: Vec<SocketAddr>,
}

/// Bound sockets, ready to serve (binding first lets the caller report a
/// failure before it tells its parent that it is ready).
pub struct Bound {
    udp: UdpSocket,
    tcp: TcpListener,
    out: UdpSocket,
}

/// How long a bind waits for the address to be let go: a subnet is reused
/// as soon as its network is gone, while the old network's responder may
/// still be on its way out (it looks every `TICK`).
const BIND_PATIENCE: Duration = Duration::from_secs(3);

pub fn bind(cfg: &Config) -> Result<Bound, DnsError> {
    let addr = SocketAddr::new(IpAddr::V4(cfg.address), 53);
    let sock = |op, source| DnsError::Socket { op, addr, source };
    let until = Instant::now() + BIND_PATIENCE;
    let (udp, tcp) = loop {
        let tried = UdpSocket::bind(addr)
            .map_err(|e| sock("bind udp", e))
            .and_then(|u| Ok((u, TcpListener::bind(addr).map_err(|e| sock("bind tcp", e))?)));
        match tried {
            Err(DnsError::Socket { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other?,
        }
    };
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let out = UdpSocket::bind(any).map_err(|e| DnsError::Socket {
        op: "bind",
        addr: any,
        source: e,
    })?;
    for (s, what) in [(&udp, "udp"), (&out, "upstream")] {
        s.set_nonblocking(true).map_err(|e| sock(what, e))?;
    }
    tcp.set_nonblocking(true).map_err(|e| sock("tcp", e))?;
    Ok(Bound { udp, tcp, out })
}

/// `IP` or `IP:PORT` (an upstream; port 53 when not given).
pub fn upstream_addr(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip = s.split('%').next()?.parse::<IpAddr>().ok()?;
    Some(SocketAddr::new(ip, 53))
}

/// A forwarded UDP question waiting for its answer.
struct Pending {
    client: SocketAddr,
    id: u16,
    query: Vec<u8>,
    upstreams: Vec<SocketAddr>,
    tried: usize,
    deadline: Instant,
}

enum Outcome {
    Reply(Message),
    Forward(Vec<SocketAddr>),
}

struct Server {
    cfg: Config,
    table: Table,
    watch: Watch,
    /// `BERTH_TIMING` in the environment it was started from: each reload
    /// and its time go to the log.
    timing: bool,
    /// Per name (and family) with several addresses: where the next
    /// answer starts.
    rotation: HashMap<(String, bool), usize>,
    /// The names of the networks of clients on several (see
    /// `client_networks`), by network directory, each with its watch.
    others: HashMap<PathBuf, (Watch, Table)>,
    pending: HashMap<u16, Pending>,
    next_id: u16,
    empty_since: Option<Instant>,
    /// TCP connections being read or answered.
    tcp: Vec<tcp::Client>,
    /// TCP questions being forwarded (each by a thread).
    forwarding: tcp::Forwarding,
}

/// Serve until the network has had no endpoint for a while or is gone.
/// Returns the network lock, held (none when the network is gone): the caller forgets the responder's
/// record under it (its sockets are closed by then), so a berth command
/// starting a container either sees this responder alive or starts another.
pub fn serve(cfg: Config, b: Bound) -> Result<Option<std::fs::File>, DnsError> {
    // Forwarded ids are not the clients' (two clients may use the same one);
    // start somewhere unpredictable.
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id();
    let watch = Watch::new(&cfg.net_dir, cfg.index.as_deref());
    let mut s = Server {
        cfg,
        table: Table::default(),
        watch,
        timing: std::env::var_os("BERTH_TIMING").is_some_and(|v| v == "1"),
        rotation: HashMap::new(),
        others: HashMap::new(),
        pending: HashMap::new(),
        next_id: seed as u16,
        empty_since: None,
        tcp: Vec::new(),
        forwarding: tcp::Forwarding::default(),
    };
    s.refresh();
    let mut last_check = Instant::now();
    let mut buf = vec![0u8; 65535];
    loop {
        let (udp_ready, tcp_ready, out_ready, changed, clients) = {
            let mut fds = vec![
                PollFd::new(b.udp.as_fd(), PollFlags::POLLIN),
                PollFd::new(b.tcp.as_fd(), PollFlags::POLLIN),
                PollFd::new(b.out.as_fd(), PollFlags::POLLIN),
            ];
            let watch_fd = s.watch.fd();
            if let Some(fd) = watch_fd {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            let first_client = fds.len();
            for c in &s.tcp {
                let wanted = if c.is_writing() {
                    PollFlags::POLLOUT
                } else {
                    PollFlags::POLLIN
                };
                fds.push(PollFd::new(c.conn().as_fd(), wanted));
            }
            let timeout =
                PollTimeout::try_from(TICK.as_millis() as i32).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(DnsError::Poll(e)),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (
                ready(&fds[0]),
                ready(&fds[1]),
                ready(&fds[2]),
                watch_fd.is_some() && ready(&fds[3]),
                fds[first_client..].iter().map(ready).collect::<Vec<_>>(),
            )
        };
        // A change is taken in as it happens (not when a question comes),
        // before the questions that came with it.
        if changed {
            s.refresh();
        }
        if udp_ready {
            while let Ok((n, client)) = b.udp.recv_from(&mut buf) {
                s.on_udp(&b, &buf[..n], client);
            }
        }
        if out_ready {
            while let Ok((n, from)) = b.out.recv_from(&mut buf) {
                s.on_upstream(&b, &mut buf[..n], from);
            }
        }
        s.on_tcp_clients(&clients);
        if tcp_ready {
            while let Ok((conn, client)) = b.tcp.accept() {
                // over the bound, the connection is closed here
                if s.tcp.len() + s.forwarding.count() < tcp::MAX_CLIENTS {
                    s.tcp.extend(tcp::Client::new(conn, client));
                }
            }
        }
        s.expire(&b);
        if last_check.elapsed() >= TICK {
            last_check = Instant::now();
            s.refresh();
            if let Some(lock) = s.finished() {
                drop(b);
                return Ok(lock);
            }
        }
    }
}

impl Server {
    /// Take in what changed since the last look: the records named by the
    /// watch, or all of them when it cannot tell. One syscall when nothing
    /// changed; called before every answer, so that a question asked after
    /// a change (a container started, then its name asked) sees it.
    fn refresh(&mut self) {
        let c = self.watch.changes();
        if c.is_empty() {
            return;
        }
        let t0 = Instant::now();
        if c.rescan {
            self.rescan();
        } else {
            for f in &c.files {
                let key = f.trim_end_matches(".json");
                match read_record(&self.watch.ep_dir().join(f)) {
                    Some(ep) => self.table.put(key, &ep),
                    None => self.table.remove(key),
                }
            }
        }
        if self.timing {
            // one write (stderr is unbuffered)
            let line = format!(
                "dns: {} in {:.3} ms ({} endpoints)\n",
                if c.rescan {
                    "full read".to_string()
                } else {
                    format!("{} record(s) read", c.files.len())
                },
                t0.elapsed().as_secs_f64() * 1e3,
                self.table.endpoints()
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    /// Read every record again. With inotify, from the records themselves:
    /// the watch was set before, so whatever changes after the read is an
    /// event, and whatever changed before is in the files (the index may
    /// lag a second change within one clock tick, which no event would
    /// correct). Without, from the index when it matches the directory (the
    /// watch then compares the index too).
    fn rescan(&mut self) {
        let index = if self.watch.is_precise() {
            None
        } else {
            self.cfg.index.as_deref()
        };
        self.table = read_table(self.watch.ep_dir(), index);
    }

    /// No endpoint left (or the network is gone): exit, under the network
    /// lock so that a container being attached right now is seen first. A
    /// network that is gone needs no lock (nothing can attach to it), and
    /// must not wait for it: whoever holds it may be reusing the subnet and
    /// waiting for this responder's address.
    fn finished(&mut self) -> Option<Option<std::fs::File>> {
        let gone = !self.cfg.net_dir.join("network.json").exists();
        if gone {
            return Some(None);
        }
        if self.table.endpoints() > 0 {
            self.empty_since = None;
            return None;
        }
        let since = *self.empty_since.get_or_insert_with(Instant::now);
        if since.elapsed() < LINGER {
            return None;
        }
        let f = std::fs::File::open(HOST_LOCK).ok()?;
        if crate::sys::fs::flock(&f, crate::sys::fs::Lock::Exclusive, true).is_err() {
            return None; // someone is changing networks: look again later
        }
        // the truth, under the lock: every record
        self.rescan();
        let done = !self.cfg.net_dir.join("network.json").exists() || self.table.endpoints() == 0;
        done.then_some(Some(f))
    }

    fn on_udp(&mut self, b: &Bound, data: &[u8], client: SocketAddr) {
        let Ok(msg) = Message::from_vec(data) else {
            return; // not DNS: no answer, as a resolver would do
        };
        self.refresh();
        match self.decide(&msg, client.ip()) {
            Outcome::Reply(r) => {
                let limit = msg.edns.as_ref().map_or(512, |e| e.max_payload().max(512));
                if let Some(bytes) = encode_fitting(r, limit as usize) {
                    let _ = b.udp.send_to(&bytes, client);
                }
            }
            Outcome::Forward(ups) => {
                let id = self.fresh_id();
                let mut q = data.to_vec();
                q[..2].copy_from_slice(&id.to_be_bytes());
                let p = Pending {
                    client,
                    id: msg.metadata.id,
                    query: q,
                    upstreams: ups,
                    tried: 0,
                    deadline: Instant::now() + UPSTREAM_TIMEOUT,
                };
                let _ = b.out.send_to(&p.query, p.upstreams[0]);
                self.pending.insert(id, p);
            }
        }
    }

    fn on_upstream(&mut self, b: &Bound, data: &mut [u8], from: SocketAddr) {
        if data.len() < 12 {
            return;
        }
        let id = u16::from_be_bytes([data[0], data[1]]);
        let matches = self
            .pending
            .get(&id)
            .is_some_and(|p| p.upstreams.get(p.tried) == Some(&from));
        if !matches {
            return; // late, or not from the upstream we asked
        }
        if let Some(p) = self.pending.remove(&id) {
            data[..2].copy_from_slice(&p.id.to_be_bytes());
            let _ = b.udp.send_to(data, p.client);
        }
    }

    /// Ask the next upstream, or tell the client SERVFAIL.
    fn expire(&mut self, b: &Bound) {
        let now = Instant::now();
        let late: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            let Some(mut p) = self.pending.remove(&id) else {
                continue;
            };
            p.tried += 1;
            if let Some(up) = p.upstreams.get(p.tried) {
                let _ = b.out.send_to(&p.query, *up);
                p.deadline = now + UPSTREAM_TIMEOUT;
                self.pending.insert(id, p);
            } else if let Some(bytes) = servfail(&p.query, p.id) {
                let _ = b.udp.send_to(&bytes, p.client);
            }
        }
    }

    fn fresh_id(&mut self) -> u16 {
        // xorshift: cheap, and never repeats an id still pending
        loop {
            let mut x = self.next_id.max(1);
            x ^= x << 7;
            x ^= x >> 9;
            x ^= x << 8;
            self.next_id = x;
            if !self.pending.contains_key(&x) {
                return x;
            }
        }
    }

    /// Serve the TCP clients whose sockets are ready (`ready`, in the
    /// order of `self.tcp`), and close the ones past their time.
    fn on_tcp_clients(&mut self, ready: &[bool]) {
        let now = Instant::now();
        let clients = std::mem::take(&mut self.tcp);
        for (i, mut c) in clients.into_iter().enumerate() {
            if c.expired(now) {
                continue;
            }
            if !ready.get(i).copied().unwrap_or(false) {
                self.tcp.push(c);
                continue;
            }
            let step = if c.is_writing() { c.write() } else { c.read() };
            match step {
                tcp::Step::Waiting => self.tcp.push(c),
                tcp::Step::Closed => {}
                tcp::Step::Question(data) => self.on_tcp_question(c, data),
            }
        }
    }

    /// One TCP question: answered from the table, or handed on with its
    /// connection to be forwarded.
    fn on_tcp_question(&mut self, mut c: tcp::Client, data: Vec<u8>) {
        let Ok(msg) = Message::from_vec(&data) else {
            return;
        };
        self.refresh();
        match self.decide(&msg, c.peer) {
            Outcome::Reply(r) => {
                if let Some(bytes) = encode_fitting(r, 65535) {
                    if let tcp::Step::Waiting = c.answer(&bytes) {
                        self.tcp.push(c);
                    }
                }
            }
            Outcome::Forward(ups) => {
                let fallback = servfail(&data, msg.metadata.id);
                c.forward(data, ups, fallback, &self.forwarding);
            }
        }
    }

    /// Answer from the table, or forward.
    fn decide(&mut self, msg: &Message, client: IpAddr) -> Outcome {
        let mut r = Message::response(msg.metadata.id, msg.metadata.op_code);
        r.metadata.recursion_desired = msg.metadata.recursion_desired;
        r.metadata.recursion_available = true;
        r.add_queries(msg.queries.iter().cloned());
        let client4 = match client {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        };
        // Only the network's own clients (and the host through the gateway):
        // the gateway address must not make an open resolver.
        if !client4.is_some_and(|a| self.cfg.subnet.contains(a)) {
            r.metadata.response_code = ResponseCode::Refused;
            return Outcome::Reply(r);
        }
        if msg.metadata.message_type != MessageType::Query || msg.metadata.op_code != OpCode::Query
        {
            r.metadata.response_code = ResponseCode::NotImp;
            return Outcome::Reply(r);
        }
        let [q] = msg.queries.as_slice() else {
            r.metadata.response_code = ResponseCode::FormErr;
            return Outcome::Reply(r);
        };
        let mut answers = local(&mut self.rotation, &self.table, q);
        if answers.is_none() {
            // a container on several networks resolves the names of all of
            // them (as with docker) through the first one's responder
            let others = client4.map(|a| self.client_networks(a)).unwrap_or_default();
            for dir in others {
                let Some((_, t)) = self.others.get(&dir) else {
                    continue;
                };
                if let Some(more) = local(&mut self.rotation, t, q) {
                    answers.get_or_insert_with(Vec::new).extend(more);
                }
            }
        }
        if let Some(answers) = answers {
            r.metadata.authoritative = true;
            r.add_answers(answers);
            return Outcome::Reply(r);
        }
        let ups = client4
            .and_then(|a| self.table.dns_of(a).cloned())
            .unwrap_or_else(|| self.cfg.upstreams.clone());
        if ups.is_empty() {
            r.metadata.response_code = ResponseCode::ServFail;
            return Outcome::Reply(r);
        }
        Outcome::Forward(ups)
    }

    /// The client's other networks (their directories, sorted), with their
    /// names in `others`. Asked on a miss only (outside names, or a name of
    /// another network): one stat per network of the root, and a network's
    /// records are read again only when its endpoint directory changed (its
    /// mtime: inotify is kept for the responder's own network).
    fn client_networks(&mut self, client: Ipv4Addr) -> Vec<PathBuf> {
        let Some(cid) = self.table.container(client).map(str::to_string) else {
            return Vec::new();
        };
        let (Some(nets), Some(mine)) = (self.cfg.net_dir.parent(), self.cfg.net_dir.file_name())
        else {
            return Vec::new();
        };
        let Ok(rd) = std::fs::read_dir(nets) else {
            return Vec::new();
        };
        let index_dir = self.cfg.index.as_deref().and_then(Path::parent);
        let mut on = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name();
            if name == mine || name.to_string_lossy().starts_with('.') {
                continue;
            }
            let dir = e.path();
            if !dir.join("endpoints").join(format!("{cid}.json")).exists() {
                continue;
            }
            let index = index_dir.map(|i| i.join(&name).with_extension("json"));
            let (watch, table) = self
                .others
                .entry(dir.clone())
                .or_insert_with(|| (Watch::polled(&dir, index.as_deref()), Table::default()));
            if !watch.changes().is_empty() {
                *table = read_table(watch.ep_dir(), index.as_deref());
            }
            on.push(dir);
        }
        // networks that are gone
        self.others.retain(|d, _| d.exists());
        on.sort();
        on
    }
}

/// The answers for a name of `table`'s network (None: not its).
fn local(
    rotation: &mut HashMap<(String, bool), usize>,
    table: &Table,
    q: &Query,
) -> Option<Vec<Record>> {
    let name = q.name().to_lowercase().to_ascii();
    let key = name.trim_end_matches('.');
    if q.query_type() == RecordType::PTR {
        let net = q.name().parse_arpa_name().ok()?;
        let target = match net.addr() {
            IpAddr::V4(ip) if net.prefix_len() == 32 => table.ptr(ip)?,
            IpAddr::V6(ip) if net.prefix_len() == 128 => table.ptr6(ip)?,
            _ => return None,
        };
        let target = Name::from_ascii(format!("{target}.")).ok()?;
        return Some(vec![Record::from_rdata(
            q.name().clone(),
            TTL,
            RData::PTR(PTR(target)),
        )]);
    }
    let ips = table.v4(key)?;
    if q.query_type() == RecordType::AAAA {
        let Some(ips6) = table.v6(key) else {
            // ours, but no IPv6 address: an empty NOERROR
            return Some(Vec::new());
        };
        let len = ips6.len();
        let start = turn(rotation, key, true, len);
        return Some(
            ips6.cycle()
                .skip(start)
                .take(len)
                .map(|ip| Record::from_rdata(q.name().clone(), TTL, RData::AAAA(AAAA(ip))))
                .collect(),
        );
    }
    if q.query_type() != RecordType::A {
        // ours, but not an address type: an empty NOERROR, not a forward
        // (an upstream would say NXDOMAIN and the client might believe it)
        return Some(Vec::new());
    }
    let len = ips.len();
    let start = turn(rotation, key, false, len);
    Some(
        ips.cycle()
            .skip(start)
            .take(len)
            .map(|ip| Record::from_rdata(q.name().clone(), TTL, RData::A(A(ip))))
            .collect(),
    )
}

/// Round robin: where this question's answer starts in a list of `len`
/// (each question for the name starts one further along). A name with one
/// address has nothing to rotate and takes no entry.
fn turn(rotation: &mut HashMap<(String, bool), usize>, key: &str, v6: bool, len: usize) -> usize {
    if len < 2 {
        return 0;
    }
    let t = rotation.entry((key.to_string(), v6)).or_insert(0);
    let start = *t % len;
    *t = t.wrapping_add(1);
    start
}

/// The names of an endpoints directory: from its network's index when that
/// matches the directory (one file), else from every record.
fn read_table(dir: &Path, index: Option<&Path>) -> Table {
    match index.and_then(|i| crate::network::store::read_indexed(i, dir)) {
        Some(eps) => Table::build(&eps),
        None => {
            let mut t = Table::default();
            for (key, ep) in read_records(dir) {
                t.put(&key, &ep);
            }
            t
        }
    }
}

/// The records of an endpoints directory, with their keys (file names
/// without `.json`).
fn read_records(dir: &Path) -> Vec<(String, Endpoint)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let key = name.strip_suffix(".json").filter(|_| is_record(&name))?;
            Some((key.to_string(), read_record(&e.path())?))
        })
        .collect()
}

/// One record (None: gone or unreadable, so not a name).
fn read_record(path: &Path) -> Option<Endpoint> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The encoded reply; answers dropped and TC set until it fits `limit`
/// (the client then asks again over TCP).
fn encode_fitting(mut r: Message, limit: usize) -> Option<Vec<u8>> {
    loop {
        let bytes = r.to_vec().ok()?;
        if bytes.len() <= limit || r.answers.is_empty() {
            return Some(bytes);
        }
        r.metadata.truncation = true;
        let keep = r.answers.len() / 2;
        r.answers.truncate(keep);
    }
}

fn servfail(query: &[u8], id: u16) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let mut r = Message::error_msg(id, q.metadata.op_code, ResponseCode::ServFail);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.add_queries(q.queries);
    r.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::super::table::tests::ep;
    use super::*;
    use std::net::Ipv6Addr;

    fn server(eps: &[Endpoint]) -> Server {
        server_at(Path::new("/nonexistent"), eps)
    }

    fn server_at(net_dir: &Path, eps: &[Endpoint]) -> Server {
        Server {
            cfg: Config {
                net_dir: net_dir.to_path_buf(),
                index: None,
                subnet: Subnet::parse("10.9.0.0/24").unwrap(),
                address: Ipv4Addr::new(10, 9, 0, 1),
                upstreams: vec![upstream_addr("127.0.0.53").unwrap()],
            },
            table: Table::build(eps),
            watch: Watch::new(net_dir, None),
            timing: false,
            rotation: HashMap::new(),
            others: HashMap::new(),
            pending: HashMap::new(),
            next_id: 7,
            empty_since: None,
            tcp: Vec::new(),
            forwarding: tcp::Forwarding::default(),
        }
    }

    fn ask(s: &mut Server, name: &str, t: RecordType, from: &str) -> Outcome {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        s.decide(&m, from.parse().unwrap())
    }

    /// The A records of a reply, in order.
    fn a_records(r: &Message) -> Vec<Ipv4Addr> {
        r.answers
            .iter()
            .filter_map(|r| match r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    fn a_answers(o: Outcome) -> Vec<Ipv4Addr> {
        match o {
            Outcome::Reply(r) => a_records(&r),
            Outcome::Forward(_) => panic!("forwarded"),
        }
    }

    #[test]
    fn names_aliases_short_ids_round_robin() {
        let eps = [
            ep("web-1", "aaaaaaaaaaaaffff", "10.9.0.2", &["web"]),
            ep("web-2", "bbbbbbbbbbbbffff", "10.9.0.3", &["web"]),
        ];
        let mut s = server(&eps);
        let c = "10.9.0.9";
        assert_eq!(
            a_answers(ask(&mut s, "WEB-1.", RecordType::A, c)),
            [Ipv4Addr::new(10, 9, 0, 2)]
        );
        assert_eq!(
            a_answers(ask(&mut s, "bbbbbbbbbbbb", RecordType::A, c)),
            [Ipv4Addr::new(10, 9, 0, 3)]
        );
        let first = a_answers(ask(&mut s, "web", RecordType::A, c));
        let second = a_answers(ask(&mut s, "web", RecordType::A, c));
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], second[0], "replicas rotate");
        assert!(a_answers(ask(&mut s, "web", RecordType::AAAA, c)).is_empty());
        assert!(matches!(
            ask(&mut s, "example.org", RecordType::A, c),
            Outcome::Forward(_)
        ));
        match ask(&mut s, "web", RecordType::A, "192.168.7.7") {
            Outcome::Reply(r) => assert_eq!(r.metadata.response_code, ResponseCode::Refused),
            Outcome::Forward(_) => panic!("an outside client was served"),
        }
        match ask(&mut s, "3.0.9.10.in-addr.arpa.", RecordType::PTR, c) {
            Outcome::Reply(r) => match &r.answers[0].data {
                RData::PTR(p) => assert_eq!(p.0.to_ascii(), "web-2."),
                other => panic!("{other:?}"),
            },
            Outcome::Forward(_) => panic!("forwarded"),
        }
    }

    #[test]
    fn aaaa_and_ip6_arpa() {
        let mut a = ep("web-1", "aaaaaaaaaaaaffff", "10.9.0.2", &["web"]);
        a.ipv6 = "fd10:9::2".into();
        let b = ep("v4only", "bbbbbbbbbbbbffff", "10.9.0.3", &[]);
        let mut s = server(&[a, b]);
        let c = "10.9.0.9";
        let aaaa = |o: Outcome| -> Vec<Ipv6Addr> {
            match o {
                Outcome::Reply(r) => r
                    .answers
                    .iter()
                    .filter_map(|r| match r.data {
                        RData::AAAA(a) => Some(a.0),
                        _ => None,
                    })
                    .collect(),
                Outcome::Forward(_) => panic!("forwarded"),
            }
        };
        let want: Ipv6Addr = "fd10:9::2".parse().unwrap();
        assert_eq!(aaaa(ask(&mut s, "web-1", RecordType::AAAA, c)), [want]);
        assert_eq!(aaaa(ask(&mut s, "web", RecordType::AAAA, c)), [want]);
        assert_eq!(
            a_answers(ask(&mut s, "web", RecordType::A, c)),
            [Ipv4Addr::new(10, 9, 0, 2)]
        );
        assert!(aaaa(ask(&mut s, "v4only", RecordType::AAAA, c)).is_empty());
        let arpa = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.0.0.0.0.1.d.f.ip6.arpa.";
        match ask(&mut s, arpa, RecordType::PTR, c) {
            Outcome::Reply(r) => match &r.answers[0].data {
                RData::PTR(p) => assert_eq!(p.0.to_ascii(), "web-1."),
                other => panic!("{other:?}"),
            },
            Outcome::Forward(_) => panic!("forwarded"),
        }
    }

    /// Records written, rewritten (a rename) and removed in the network's
    /// directory are answered from the next question on, each change read
    /// by itself.
    #[test]
    fn answers_follow_record_changes() {
        follow_changes(false);
    }

    /// The same without inotify: the directory's mtime, a full read per
    /// change.
    #[test]
    fn answers_follow_record_changes_polled() {
        follow_changes(true);
    }

    fn follow_changes(polled: bool) {
        let net =
            std::env::temp_dir().join(format!("berth-dns-follow-{polled}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&net);
        let eps = net.join("endpoints");
        std::fs::create_dir_all(&eps).unwrap();
        let write = |e: &Endpoint| {
            let p = eps.join(format!("{}.json", e.container_id));
            crate::store::replace_file(&p, &serde_json::to_vec(e).unwrap(), false).unwrap();
        };
        write(&ep("one", "1111", "10.9.0.2", &[]));
        let mut s = server_at(&net, &[]);
        if polled {
            s.watch = Watch::polled(&net, None);
        }
        let c = "10.9.0.9";
        let asked = |s: &mut Server, n: &str| {
            s.refresh();
            match ask(s, n, RecordType::A, c) {
                Outcome::Reply(r) => a_records(&r),
                Outcome::Forward(_) => Vec::new(),
            }
        };
        assert_eq!(asked(&mut s, "one"), [Ipv4Addr::new(10, 9, 0, 2)]);
        write(&ep("two", "2222", "10.9.0.3", &["svc"]));
        write(&ep("three", "3333", "10.9.0.4", &["svc"]));
        assert_eq!(asked(&mut s, "two"), [Ipv4Addr::new(10, 9, 0, 3)]);
        assert_eq!(asked(&mut s, "svc").len(), 2);
        // a rename rewrites the record
        write(&ep("deux", "2222", "10.9.0.3", &["svc"]));
        assert!(asked(&mut s, "two").is_empty(), "the old name goes");
        assert_eq!(asked(&mut s, "deux"), [Ipv4Addr::new(10, 9, 0, 3)]);
        std::fs::remove_file(eps.join("3333.json")).unwrap();
        assert_eq!(asked(&mut s, "svc"), [Ipv4Addr::new(10, 9, 0, 3)]);
        assert_eq!(s.table.endpoints(), 2);
        let _ = std::fs::remove_dir_all(&net);
    }

    /// A client on a second network resolves that network's names through
    /// this responder; they follow that network's changes, and a client
    /// not on it is not told them.
    #[test]
    fn names_of_the_clients_other_networks() {
        let root = std::env::temp_dir().join(format!("berth-dns-others-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let write = |net: &str, e: &Endpoint| {
            let dir = root.join(net).join("endpoints");
            std::fs::create_dir_all(&dir).unwrap();
            let p = dir.join(format!("{}.json", e.container_id));
            crate::store::replace_file(&p, &serde_json::to_vec(e).unwrap(), false).unwrap();
        };
        // "both" is on a and b; "lonely" only on a; "peer" only on b
        write("a", &ep("both", "bbbb", "10.9.0.5", &[]));
        write("a", &ep("lonely", "llll", "10.9.0.6", &[]));
        write("b", &ep("both", "bbbb", "10.8.0.5", &[]));
        write("b", &ep("peer", "pppp", "10.8.0.7", &["svc"]));
        let mut s = server_at(&root.join("a"), &[]);
        s.refresh();
        let ask_a = |s: &mut Server, n: &str, from: &str| match ask(s, n, RecordType::A, from) {
            Outcome::Reply(r) => Some(a_records(&r)),
            Outcome::Forward(_) => None,
        };
        let peer = Ipv4Addr::new(10, 8, 0, 7);
        assert_eq!(ask_a(&mut s, "peer", "10.9.0.5"), Some(vec![peer]));
        assert_eq!(ask_a(&mut s, "peer", "10.9.0.6"), None, "not on b");
        // b changes: a second holder of "svc"
        write("b", &ep("peer2", "qqqq", "10.8.0.8", &["svc"]));
        let svc = ask_a(&mut s, "svc", "10.9.0.5").unwrap_or_default();
        assert_eq!(svc.len(), 2, "{svc:?}");
        // b goes
        std::fs::remove_dir_all(root.join("b")).unwrap();
        assert_eq!(ask_a(&mut s, "peer", "10.9.0.5"), None);
        assert!(s.others.is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn big_answers_truncate() {
        let eps: Vec<Endpoint> = (2..120)
            .map(|i| {
                ep(
                    &format!("r{i}"),
                    &format!("{i:016}"),
                    &format!("10.9.0.{i}"),
                    &["svc"],
                )
            })
            .collect();
        let mut s = server(&eps);
        let Outcome::Reply(r) = ask(&mut s, "svc", RecordType::A, "10.9.0.2") else {
            panic!("forwarded");
        };
        assert_eq!(r.answers.len(), 118);
        let b = encode_fitting(r, 512).unwrap();
        assert!(b.len() <= 512);
        let m = Message::from_vec(&b).unwrap();
        assert!(m.metadata.truncation);
    }
}
