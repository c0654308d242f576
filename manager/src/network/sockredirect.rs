//! Published TCP ports reached from the host's 127.0.0.1 without NAT: a
//! cgroup `connect4` BPF program rewrites `connect(127.0.0.1:P)` into
//! `connect(container:port)` at the socket (as Cilium's socket load balancer
//! does), and a `getpeername4` program maps the peer back, so the client
//! still sees 127.0.0.1:P. The connection is then the direct one: no DNAT,
//! no masquerade, no per-packet reroute (docs/networking.md, "iperf3 through
//! a published port").
//!
//! Only sockets of the network namespace berth runs in are rewritten (the
//! map's key holds that namespace's cookie; 127.0.0.1 inside a container is
//! not the host's), only TCP, only sockets not bound to an address or a
//! device beforehand (a source of 127.0.0.1 cannot reach a bridge). The nft
//! (or iptables) rules stay: they serve everything else (UDP, the host's
//! other addresses, other namespaces, hosts without BPF or cgroup2).
//!
//! Per berth root, like its firewall table: `/sys/fs/bpf/berth/<table>/`
//! holds the map `ports` ((netns cookie, 127.0.0.1, port) -> (container
//! address, port)), the map `peers` (socket cookie -> the address connected
//! to and the one it became; an LRU, a closed socket's entry ages out), and
//! the two programs' links, pinned so the attachment outlives berth (no
//! daemon holds it). A host port is host-wide, but the rules, their
//! lifecycle and the sweep of a deleted root are per root: one set per root
//! keeps them together (a root's sync only ever touches its own map), at
//! the price of one more program per root on each connect (a compare and
//! exit for any address other than 127.0.0.1).
//!
//! The entries follow the firewall rules: written from the same wanted rule
//! set by every sync (so the repair that removes a dead container's rules
//! removes its entries), and the whole directory goes when no entry is left
//! or the root's table is removed (the sweep of a deleted root).

use crate::sys::bpf::{self, Insn};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::firewall::Forward;

/// Where the host's bpffs is (mounted by berth when nothing did).
const BPFFS: &str = "/sys/fs/bpf";
/// berth's directory in it.
const BERTH_DIR: &str = "/sys/fs/bpf/berth";

/// The environment switch (`0`/`off`/`false` turns the redirect off, `1`/`on`
/// turns it on), above the configuration file's `socket-redirect`.
pub const ENV: &str = "BERTH_SOCKET_REDIRECT";

const PORTS_KEY: usize = 16;
const PORTS_VALUE: usize = 8;
const PEERS_KEY: usize = 8;
const PEERS_VALUE: usize = 16;
/// One root's published TCP ports on 127.0.0.1 (a port is one entry).
const PORTS_MAX: u32 = 65536;
/// Redirected sockets remembered for getpeername; the oldest are dropped
/// first (a closed socket's entry is never looked up again: socket cookies
/// are not reused). Preallocated by the kernel: ~72 bytes each.
const PEERS_MAX: u32 = 16384;

#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("the kernel refused the {prog} program: {err}\n{log}")]
    Verifier {
        prog: &'static str,
        err: io::Error,
        log: String,
    },
    #[error("no cgroup2 hierarchy is mounted")]
    NoCgroup2,
}

fn sys(what: impl Into<String>) -> impl FnOnce(io::Error) -> RedirectError {
    let what = what.into();
    move |source| RedirectError::Sys { what, source }
}

/// Say once per process why the redirect is not made, unless the host
/// simply lacks it (no cgroup2, no bpf(2), not allowed): the ports work
/// through NAT either way.
pub fn warn_once(e: &RedirectError) {
    static SAID: std::sync::Once = std::sync::Once::new();
    let unsupported = match e {
        RedirectError::NoCgroup2 => true,
        RedirectError::Sys { source, .. } => matches!(
            source.raw_os_error(),
            Some(libc::ENOSYS | libc::EPERM | libc::EOPNOTSUPP)
        ),
        RedirectError::Verifier { .. } => false,
    };
    if !unsupported {
        SAID.call_once(|| {
            eprintln!("berth: warning: published ports on 127.0.0.1 go through NAT: {e}")
        });
    }
}

/// The directory of `table`'s objects.
pub fn dir_of(table: &str) -> PathBuf {
    Path::new(BERTH_DIR).join(table)
}

/// One redirect: a key of `ports` and its value, in the kernel's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// `sin_port` as the program reads `user_port` (a u32 holding the port in
/// network order in its first two bytes).
fn port_field(p: u16) -> [u8; 4] {
    let b = p.to_be_bytes();
    [b[0], b[1], 0, 0]
}

fn key_of(cookie: u64, host_port: u16) -> [u8; PORTS_KEY] {
    let mut k = [0u8; PORTS_KEY];
    k[..8].copy_from_slice(&cookie.to_ne_bytes());
    k[8..12].copy_from_slice(&Ipv4Addr::LOCALHOST.octets());
    k[12..].copy_from_slice(&port_field(host_port));
    k
}

fn value_of(e: &Entry) -> [u8; PORTS_VALUE] {
    let mut v = [0u8; PORTS_VALUE];
    v[..4].copy_from_slice(&e.container_ip.octets());
    v[4..].copy_from_slice(&port_field(e.container_port));
    v
}

/// The redirects wanted for a root's forwards: TCP published on every
/// address or on 127.0.0.1.
pub fn wanted(forwards: &[Forward]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for f in forwards {
        if f.proto != "tcp" || !(f.host_ip.is_empty() || f.host_ip == "127.0.0.1") {
            continue;
        }
        // One container per host port (the port check refuses a second);
        // the first wins should the store say otherwise.
        if out.iter().any(|e| e.host_port == f.host_port) {
            continue;
        }
        out.push(Entry {
            host_port: f.host_port,
            container_ip: f.container_ip,
            container_port: f.container_port,
        });
    }
    out
}

/// Whether the redirect is on: the environment's switch, else the
/// configuration's, else what `record` says was last chosen for this root (a
/// process without the configuration, like the shim's exit hook, keeps it),
/// else on. An explicit choice is recorded.
pub fn enabled(configured: Option<bool>, record: &Path) -> bool {
    let env = std::env::var(ENV).ok().and_then(|v| match v.as_str() {
        "0" | "off" | "false" | "no" => Some(false),
        "1" | "on" | "true" | "yes" => Some(true),
        _ => None,
    });
    match env.or(configured) {
        Some(on) => {
            let want = if on { "on" } else { "off" };
            if std::fs::read_to_string(record).ok().as_deref() != Some(want) {
                let _ = crate::store::replace_file(record, want.as_bytes(), false);
            }
            on
        }
        None => std::fs::read_to_string(record).ok().as_deref() != Some("off"),
    }
}

/// Make `table`'s redirects `entries` (none: remove them all, and the
/// programs, links and maps with them). On an error what was made is
/// removed, so that nothing redirects to a stale address: the NAT rules
/// serve the port meanwhile.
pub fn sync(table: &str, entries: &[Entry]) -> Result<(), RedirectError> {
    if entries.is_empty() {
        remove(table);
        return Ok(());
    }
    let r = sync_inner(table, entries);
    if r.is_err() {
        remove(table);
    }
    r
}

fn sync_inner(table: &str, entries: &[Entry]) -> Result<(), RedirectError> {
    let cookie = bpf::netns_cookie().map_err(sys("reading the network namespace's cookie"))?;
    let cgroup = cgroup2_root()?;
    ensure_bpffs()?;
    let dir = dir_of(table);
    std::fs::create_dir_all(&dir).map_err(sys(format!("creating {}", dir.display())))?;
    let (ports, new_ports) = pinned_map(
        &dir.join("ports"),
        bpf::BPF_MAP_TYPE_HASH,
        PORTS_KEY,
        PORTS_VALUE,
        PORTS_MAX,
        bpf::BPF_F_NO_PREALLOC,
    )?;
    let (peers, new_peers) = pinned_map(
        &dir.join("peers"),
        bpf::BPF_MAP_TYPE_LRU_HASH,
        PEERS_KEY,
        PEERS_VALUE,
        PEERS_MAX,
        0,
    )?;
    // A map made now (its pin was lost) is not the one a pinned link's
    // program uses: such links go, and are made again below with these.
    if new_ports || new_peers {
        for name in ["connect4", "getpeername4"] {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
    // The entries first: a link made below finds them in place.
    let want: Vec<([u8; PORTS_KEY], [u8; PORTS_VALUE])> = entries
        .iter()
        .map(|e| (key_of(cookie, e.host_port), value_of(e)))
        .collect();
    let have = bpf::map_keys(ports.as_fd(), PORTS_KEY).map_err(sys("listing the port map"))?;
    for k in have {
        if !want.iter().any(|(w, _)| w[..] == k[..]) {
            bpf::map_delete(ports.as_fd(), &k).map_err(sys("removing a port's redirect"))?;
        }
    }
    for (k, v) in &want {
        let mut cur = [0u8; PORTS_VALUE];
        let same = bpf::map_lookup(ports.as_fd(), k, &mut cur)
            .map_err(sys("reading a redirect"))?
            && cur == *v;
        if !same {
            bpf::map_update(ports.as_fd(), k, v).map_err(sys("writing a port's redirect"))?;
        }
    }
    // A link pinned means its program uses these maps: maps are pinned
    // before links are made, and removed only after the links.
    for (name, attach, prog) in [
        (
            "connect4",
            bpf::BPF_CGROUP_INET4_CONNECT,
            connect4(&ports, &peers),
        ),
        (
            "getpeername4",
            bpf::BPF_CGROUP_INET4_GETPEERNAME,
            getpeername4(&peers),
        ),
    ] {
        let pin = dir.join(name);
        if pin.exists() {
            continue;
        }
        let fd = bpf::prog_load(
            bpf::BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
            attach,
            &prog,
            &format!("berth_{name}"),
        )
        .map_err(|(err, log)| RedirectError::Verifier {
            prog: name,
            err,
            log,
        })?;
        let link = bpf::link_create(fd.as_fd(), cgroup.as_fd(), attach).map_err(sys(format!(
            "attaching the {name} program to the cgroup2 root"
        )))?;
        bpf::obj_pin(link.as_fd(), &pin).map_err(sys(format!("pinning {}", pin.display())))?;
    }
    Ok(())
}

/// Mount the host's bpffs when nothing did. Two berth processes (of two
/// roots) must not both mount it: the second mount would hide the first's
/// pins. So the check and the mount run under a flock of the mount point's
/// directory: a process that opened it before the mount waits, then finds
/// the bpffs; one that opens it after gets the bpffs's root and finds it too.
fn ensure_bpffs() -> Result<(), RedirectError> {
    let dir = Path::new(BPFFS);
    if bpf::is_bpffs(dir) {
        return Ok(());
    }
    let f = std::fs::File::open(dir).map_err(sys(format!("opening {BPFFS}")))?;
    crate::sys::fs::flock(&f, crate::sys::fs::Lock::Exclusive, false)
        .map_err(sys(format!("locking {BPFFS}")))?;
    if !bpf::is_bpffs(dir) {
        bpf::mount_bpffs(dir).map_err(sys(format!("mounting a bpffs on {BPFFS}")))?;
    }
    Ok(())
}

/// The map pinned at `path`, made and pinned when absent (then `true`).
fn pinned_map(
    path: &Path,
    map_type: u32,
    key: usize,
    value: usize,
    max: u32,
    flags: u32,
) -> Result<(OwnedFd, bool), RedirectError> {
    match bpf::obj_get(path) {
        Ok(fd) => return Ok((fd, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(sys(format!("opening {}", path.display()))(e)),
    }
    let name = format!(
        "berth_{}",
        path.file_name()
            .map_or("map".into(), |n| n.to_string_lossy())
    );
    let fd = bpf::map_create(map_type, key as u32, value as u32, max, flags, &name)
        .map_err(sys(format!("creating the map {}", path.display())))?;
    bpf::obj_pin(fd.as_fd(), path).map_err(sys(format!("pinning {}", path.display())))?;
    Ok((fd, true))
}

/// Remove `table`'s links (detaching the programs), then its maps and
/// directory. Nothing there: nothing to do (bpffs is not mounted for it).
pub fn remove(table: &str) {
    let dir = dir_of(table);
    if !dir.is_dir() {
        return;
    }
    for name in ["connect4", "getpeername4", "ports", "peers"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let _ = std::fs::remove_dir(&dir);
    // The last root's directory takes berth's with it.
    let _ = std::fs::remove_dir(BERTH_DIR);
}

/// Remove the redirects of tables that no live root owns: the sweep of a
/// deleted root removes its redirect with its table (`firewall::remove`),
/// but only while a subnet claim or a labelled bridge still names the root;
/// a directory left past that (a redirect made again by a process of the
/// root racing its deletion) would otherwise stay for good. A table is
/// owned while a claim names it (a claim is written before a network's
/// bridge, rules and redirect, and removed after them), or a bridge carries
/// the label of an existing root whose table it is. `own`: the caller's
/// table, never touched here (its own sync keeps it).
pub fn sweep_orphans(own: &str) {
    let Ok(rd) = std::fs::read_dir(BERTH_DIR) else {
        return;
    };
    let tables: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|t| t != own)
        .collect();
    if tables.is_empty() {
        return;
    }
    let mut owned: Vec<String> = Vec::new();
    for e in std::fs::read_dir(super::ipam::CLAIMS)
        .into_iter()
        .flatten()
        .flatten()
    {
        // root, network id, bridge, table
        if let Ok(c) = std::fs::read_to_string(e.path()) {
            if let Some(t) = c.lines().nth(3) {
                owned.push(t.to_string());
            }
        }
    }
    for e in std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(label) = std::fs::read_to_string(e.path().join("ifalias")) else {
            continue;
        };
        if let Some(owner) = label.trim_end().strip_prefix(super::BRIDGE_LABEL) {
            let owner = Path::new(owner);
            if owner.exists() {
                owned.push(super::table_name_of(owner));
            }
        }
    }
    for t in tables {
        if !owned.contains(&t) {
            remove(&t);
        }
    }
}

/// The cgroup2 hierarchy's root (unified on a hybrid host: found from the
/// mount table, not assumed at /sys/fs/cgroup), opened as a directory.
fn cgroup2_root() -> Result<OwnedFd, RedirectError> {
    let text = crate::sys::mountinfo::read().map_err(sys("reading /proc/self/mountinfo"))?;
    // A mount of a sub-tree (a cgroup namespace) would cover only that tree.
    let mnt = crate::sys::mountinfo::entries(&text)
        .find(|e| e.fstype == "cgroup2" && e.root == "/")
        .map(|e| e.point())
        .ok_or(RedirectError::NoCgroup2)?;
    nix::fcntl::open(
        &mnt,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| sys(format!("opening {}", mnt.display()))(e.into()))
}

// The programs, by hand: a few instructions each, assembled here so that
// the build needs no BPF toolchain (see crate::sys::bpf).

// Opcodes: class | size/op | mode/source.
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const LDX_DW: u8 = 0x79; // BPF_LDX | BPF_MEM | BPF_DW
const STX_W: u8 = 0x63; // BPF_STX | BPF_MEM | BPF_W
const STX_DW: u8 = 0x7b; // BPF_STX | BPF_MEM | BPF_DW
const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const ADD64_K: u8 = 0x07; // BPF_ALU64 | BPF_ADD | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
const LD_IMM64: u8 = 0x18; // BPF_LD | BPF_DW | BPF_IMM
const PSEUDO_MAP_FD: u8 = 1;

// Helpers (enum bpf_func_id).
const MAP_LOOKUP_ELEM: i32 = 1;
const MAP_UPDATE_ELEM: i32 = 2;
const GET_SOCKET_COOKIE: i32 = 46;
const GET_NETNS_COOKIE: i32 = 122;

// struct bpf_sock_addr.
const CTX_USER_IP4: i16 = 4;
const CTX_USER_PORT: i16 = 24;
const CTX_TYPE: i16 = 32;
const CTX_PROTOCOL: i16 = 36;
const CTX_SK: i16 = 64;
// struct bpf_sock.
const SK_BOUND_DEV_IF: i16 = 0;
const SK_SRC_IP4: i16 = 24;

const SOCK_STREAM: i32 = 1;
const IPPROTO_TCP: i32 = 6;

fn i(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::new(code, dst, src, off, imm)
}

/// `r{dst} = map` (two instructions).
fn ld_map(dst: u8, map: &OwnedFd) -> [Insn; 2] {
    use std::os::fd::AsRawFd;
    [
        i(LD_IMM64, dst, PSEUDO_MAP_FD, 0, map.as_raw_fd()),
        i(0, 0, 0, 0, 0),
    ]
}

/// A program whose forward jumps name labels: `Jump(index)` placeholders
/// resolved once the code is laid out.
struct Asm {
    code: Vec<Insn>,
    /// (instruction, label) of each jump to patch.
    fixups: Vec<(usize, usize)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn new() -> Asm {
        Asm {
            code: Vec::new(),
            fixups: Vec::new(),
            labels: Vec::new(),
        }
    }
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn here(&mut self, l: usize) {
        self.labels[l] = Some(self.code.len());
    }
    fn op(&mut self, ins: Insn) {
        self.code.push(ins);
    }
    fn ops(&mut self, ins: &[Insn]) {
        self.code.extend_from_slice(ins);
    }
    fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: usize) {
        self.fixups.push((self.code.len(), to));
        self.code.push(i(code, dst, src, 0, imm));
    }
    fn finish(mut self) -> Vec<Insn> {
        for (at, l) in self.fixups {
            // Every label is placed and follows its jumps (forward only),
            // and the programs are a few dozen instructions.
            let target = self.labels[l].unwrap_or(self.code.len());
            self.code[at].off = (target - at - 1) as i16;
        }
        self.code
    }
}

/// connect4: for a TCP socket of any namespace connecting to 127.0.0.1,
/// unbound, look (its netns cookie, 127.0.0.1, port) up in `ports`; found:
/// remember the socket's original peer in `peers` and connect to the
/// container instead. Always returns 1 (allow).
fn connect4(ports: &OwnedFd, peers: &OwnedFd) -> Vec<Insn> {
    let lo = i32::from_ne_bytes(Ipv4Addr::LOCALHOST.octets());
    let mut a = Asm::new();
    let allow = a.label();
    a.op(i(MOV64_X, 6, 1, 0, 0)); // r6 = ctx
    a.op(i(LDX_W, 2, 6, CTX_USER_IP4, 0));
    a.jump(JNE_K, 2, 0, lo, allow);
    a.op(i(LDX_W, 2, 6, CTX_TYPE, 0));
    a.jump(JNE_K, 2, 0, SOCK_STREAM, allow);
    a.op(i(LDX_W, 2, 6, CTX_PROTOCOL, 0));
    a.jump(JNE_K, 2, 0, IPPROTO_TCP, allow);
    // A socket bound to an address (127.0.0.1 cannot reach a bridge) or to
    // a device keeps its destination: NAT serves it.
    a.op(i(LDX_DW, 7, 6, CTX_SK, 0));
    a.op(i(LDX_W, 2, 7, SK_SRC_IP4, 0));
    a.jump(JNE_K, 2, 0, 0, allow);
    a.op(i(LDX_W, 2, 7, SK_BOUND_DEV_IF, 0));
    a.jump(JNE_K, 2, 0, 0, allow);
    // key at fp-16: netns cookie, address, port
    a.op(i(MOV64_X, 1, 6, 0, 0));
    a.op(i(CALL, 0, 0, 0, GET_NETNS_COOKIE));
    a.op(i(STX_DW, 10, 0, -16, 0));
    a.op(i(LDX_W, 2, 6, CTX_USER_IP4, 0));
    a.op(i(STX_W, 10, 2, -8, 0));
    a.op(i(LDX_W, 2, 6, CTX_USER_PORT, 0));
    a.op(i(STX_W, 10, 2, -4, 0));
    a.ops(&ld_map(1, ports));
    a.op(i(MOV64_X, 2, 10, 0, 0));
    a.op(i(ADD64_K, 2, 0, 0, -16));
    a.op(i(CALL, 0, 0, 0, MAP_LOOKUP_ELEM));
    a.jump(JEQ_K, 0, 0, 0, allow);
    a.op(i(MOV64_X, 8, 0, 0, 0)); // r8 = &(container address, port)
                                  // peers[socket cookie] = (127.0.0.1, P, container address, port), at
                                  // fp-24 (key) and fp-40 (value)
    a.op(i(MOV64_X, 1, 6, 0, 0));
    a.op(i(CALL, 0, 0, 0, GET_SOCKET_COOKIE));
    a.op(i(STX_DW, 10, 0, -24, 0));
    a.op(i(LDX_W, 2, 6, CTX_USER_IP4, 0));
    a.op(i(STX_W, 10, 2, -40, 0));
    a.op(i(LDX_W, 2, 6, CTX_USER_PORT, 0));
    a.op(i(STX_W, 10, 2, -36, 0));
    a.op(i(LDX_W, 2, 8, 0, 0));
    a.op(i(STX_W, 10, 2, -32, 0));
    a.op(i(LDX_W, 2, 8, 4, 0));
    a.op(i(STX_W, 10, 2, -28, 0));
    a.ops(&ld_map(1, peers));
    a.op(i(MOV64_X, 2, 10, 0, 0));
    a.op(i(ADD64_K, 2, 0, 0, -24));
    a.op(i(MOV64_X, 3, 10, 0, 0));
    a.op(i(ADD64_K, 3, 0, 0, -40));
    a.op(i(MOV64_K, 4, 0, 0, 0)); // BPF_ANY
    a.op(i(CALL, 0, 0, 0, MAP_UPDATE_ELEM));
    // connect to the container
    a.op(i(LDX_W, 2, 8, 0, 0));
    a.op(i(STX_W, 6, 2, CTX_USER_IP4, 0));
    a.op(i(LDX_W, 2, 8, 4, 0));
    a.op(i(STX_W, 6, 2, CTX_USER_PORT, 0));
    a.here(allow);
    a.op(i(MOV64_K, 0, 0, 0, 1));
    a.op(i(EXIT, 0, 0, 0, 0));
    a.finish()
}

/// getpeername4: a socket that connect4 redirected, still connected to the
/// container it was sent to, shows the address it asked for.
fn getpeername4(peers: &OwnedFd) -> Vec<Insn> {
    let mut a = Asm::new();
    let out = a.label();
    a.op(i(MOV64_X, 6, 1, 0, 0));
    a.op(i(CALL, 0, 0, 0, GET_SOCKET_COOKIE));
    a.op(i(STX_DW, 10, 0, -8, 0));
    a.ops(&ld_map(1, peers));
    a.op(i(MOV64_X, 2, 10, 0, 0));
    a.op(i(ADD64_K, 2, 0, 0, -8));
    a.op(i(CALL, 0, 0, 0, MAP_LOOKUP_ELEM));
    a.jump(JEQ_K, 0, 0, 0, out);
    a.op(i(LDX_W, 2, 0, 8, 0));
    a.op(i(LDX_W, 3, 6, CTX_USER_IP4, 0));
    a.jump(JNE_X, 2, 3, 0, out);
    a.op(i(LDX_W, 2, 0, 12, 0));
    a.op(i(LDX_W, 3, 6, CTX_USER_PORT, 0));
    a.jump(JNE_X, 2, 3, 0, out);
    a.op(i(LDX_W, 2, 0, 0, 0));
    a.op(i(STX_W, 6, 2, CTX_USER_IP4, 0));
    a.op(i(LDX_W, 2, 0, 4, 0));
    a.op(i(STX_W, 6, 2, CTX_USER_PORT, 0));
    a.here(out);
    a.op(i(MOV64_K, 0, 0, 0, 1));
    a.op(i(EXIT, 0, 0, 0, 0));
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_fields_are_network_order() {
        assert_eq!(port_field(5201), [0x14, 0x51, 0, 0]);
        let k = key_of(7, 8080);
        assert_eq!(&k[8..12], &[127, 0, 0, 1]);
        assert_eq!(&k[12..], &[0x1f, 0x90, 0, 0]);
    }

    #[test]
    fn wanted_takes_tcp_on_loopback_or_any() {
        let f = |proto: &str, host_ip: &str, port| Forward {
            proto: proto.into(),
            host_ip: host_ip.into(),
            host_port: port,
            container_ip: Ipv4Addr::new(10, 1, 0, 2),
            container_port: 80,
        };
        let w = wanted(&[
            f("tcp", "", 1),
            f("tcp", "127.0.0.1", 2),
            f("tcp", "192.0.2.1", 3),
            f("udp", "", 4),
            f("tcp", "", 1),
        ]);
        let ports: Vec<u16> = w.iter().map(|e| e.host_port).collect();
        assert_eq!(ports, vec![1, 2]);
    }

    #[test]
    fn the_recorded_choice_holds_without_a_new_one() {
        if std::env::var_os(ENV).is_some() {
            return; // the environment's switch decides over everything here
        }
        let dir = std::env::temp_dir().join(format!("berth-redirect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rec = dir.join(".socket-redirect");
        assert!(enabled(None, &rec), "on by default");
        assert!(!rec.exists(), "no choice made, none recorded");
        assert!(!enabled(Some(false), &rec));
        assert!(!enabled(None, &rec), "the exit hook keeps it off");
        assert!(enabled(Some(true), &rec));
        assert!(enabled(None, &rec));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn jumps_land_on_the_exit() {
        let fd: OwnedFd = std::fs::File::open("/dev/null").map(OwnedFd::from).unwrap();
        for p in [connect4(&fd, &fd), getpeername4(&fd)] {
            let n = p.len();
            assert_eq!(p[n - 1].code, EXIT);
            for (at, ins) in p.iter().enumerate() {
                if matches!(ins.code, JEQ_K | JNE_K | JNE_X) {
                    assert_eq!(at + 1 + ins.off as usize, n - 2, "jump at {at}");
                }
            }
        }
    }
}
