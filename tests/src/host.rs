//! Host-listing primitives: what is on the host right now (directory entries,
//! processes, cgroups, bridges, nftables tables), read from the host's side.
//! Both censuses count from these: [`crate::census`] (one live root's
//! leftovers) and [`crate::host_census`] (what gone roots left).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The entry names of `dir`; empty when it cannot be read.
pub fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A command's stdout; empty when it cannot run (a tool the host lacks
/// has nothing to list).
pub fn command_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    crate::sys::proc_stat(pid).is_some_and(|(s, _)| s != 'Z')
}

/// The live (non-zombie) processes on the host.
pub fn live_pids() -> Vec<i32> {
    dir_names(Path::new("/proc"))
        .iter()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|p| alive(*p))
        .collect()
}

/// A process's arguments (the last one empty, from the trailing NUL);
/// None when it is gone.
pub fn argv(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// A process's command line, arguments joined by spaces; empty when gone.
pub fn cmdline(pid: i32) -> String {
    argv(pid)
        .map(|a| a.join(" ").trim().to_string())
        .unwrap_or_default()
}

/// `parent` in every cgroup hierarchy (`/sys/fs/cgroup/<h>/<parent>`),
/// whether it exists or not.
pub fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    dir_names(base)
        .into_iter()
        .map(|h| base.join(h).join(parent))
        .collect()
}

/// The bridges on the host: name -> label (its ifalias, empty when none).
pub fn bridges() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in dir_names(Path::new("/sys/class/net")) {
        let dev = Path::new("/sys/class/net").join(&name);
        if dev.join("bridge").is_dir() {
            let alias = std::fs::read_to_string(dev.join("ifalias")).unwrap_or_default();
            out.insert(name, alias.trim().to_string());
        }
    }
    out
}

/// The interfaces enslaved to `bridge` (none when it does not exist).
pub fn ports_of(bridge: &str) -> Vec<String> {
    dir_names(&Path::new("/sys/class/net").join(bridge).join("brif"))
}

/// Every nftables table on the host: (family, name).
pub fn nft_tables() -> Vec<(String, String)> {
    command_out("nft", &["list", "tables"])
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            ["table", family, name] => Some((family.to_string(), name.to_string())),
            _ => None,
        })
        .collect()
}

/// berth's socket redirects in bpffs: `/sys/fs/bpf/berth/<table>/`.
pub const BPF_REDIRECT_DIR: &str = "/sys/fs/bpf/berth";

/// The tables with socket-redirect objects pinned (`network::sockredirect`).
pub fn bpf_redirect_tables() -> Vec<String> {
    dir_names(Path::new(BPF_REDIRECT_DIR))
}

/// The pins of `table`'s socket redirect (maps and links; empty: none).
pub fn bpf_redirect_pins(table: &str) -> Vec<String> {
    dir_names(&Path::new(BPF_REDIRECT_DIR).join(table))
}

#[repr(C)]
#[derive(Default)]
struct BpfElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> libc::c_long {
    // SAFETY: attr is a #[repr(C)] prefix of union bpf_attr whose pointers
    // point to live buffers for the call.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    }
}

/// The entries of `table`'s redirect map: (host port, container address,
/// container port), read with bpf(2) from the pinned map (empty when there is
/// none). The map's layout is the manager's (sockredirect.rs): key (netns
/// cookie u64, address, port in network order + 2 pad bytes), value
/// (address, port + pad).
pub fn bpf_redirects(table: &str) -> Vec<(u16, std::net::Ipv4Addr, u16)> {
    let path = Path::new(BPF_REDIRECT_DIR).join(table).join("ports");
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return Vec::new();
    };
    #[repr(C)]
    #[derive(Default)]
    struct ObjAttr {
        pathname: u64,
        bpf_fd: u32,
        file_flags: u32,
    }
    let mut get = ObjAttr {
        pathname: c.as_ptr() as u64,
        ..Default::default()
    };
    let fd = sys_bpf(7, &mut get); // BPF_OBJ_GET
    if fd < 0 {
        return Vec::new();
    }
    // SAFETY: a fresh fd from the kernel.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd) as u32;
    let mut out = Vec::new();
    let mut prev: Option<[u8; 16]> = None;
    loop {
        let mut next = [0u8; 16];
        let mut a = BpfElemAttr {
            map_fd: raw,
            key: prev.as_ref().map_or(0, |k| k.as_ptr() as u64),
            value: next.as_mut_ptr() as u64,
            ..Default::default()
        };
        if sys_bpf(4, &mut a) < 0 {
            // BPF_MAP_GET_NEXT_KEY: ENOENT after the last
            break;
        }
        let mut v = [0u8; 8];
        let mut l = BpfElemAttr {
            map_fd: raw,
            key: next.as_ptr() as u64,
            value: v.as_mut_ptr() as u64,
            ..Default::default()
        };
        if sys_bpf(1, &mut l) == 0 {
            out.push((
                u16::from_be_bytes([next[12], next[13]]),
                std::net::Ipv4Addr::new(v[0], v[1], v[2], v[3]),
                u16::from_be_bytes([v[4], v[5]]),
            ));
        }
        prev = Some(next);
        if out.len() > 70000 {
            break;
        }
    }
    out
}

/// A TCP port free on the host's IPv4 addresses now.
pub fn free_port() -> u16 {
    free_port_on("0.0.0.0:0")
}

/// A TCP port free on the host's IPv6 (and, dual-stack, IPv4) addresses now.
pub fn free_port6() -> u16 {
    free_port_on("[::]:0")
}

fn free_port_on(any: &str) -> u16 {
    // The port is released when returned, so the kernel may offer it again to the
    // next caller: tests running in parallel threads would then publish the same
    // port. Each port is handed out once per test process.
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Held while looking, so that each bind gets another port.
    let mut held = Vec::new();
    loop {
        let l = std::net::TcpListener::bind(any).expect("bind an ephemeral port");
        let port = l
            .local_addr()
            .expect("local address of a bound socket")
            .port();
        if given.insert(port) {
            return port;
        }
        held.push(l);
    }
}

/// The host's first global IPv4 address that is not on a bridge of berth's
/// or docker's (what "the host's other address" means in the port tests).
pub fn host_addr() -> String {
    global_addr("-4").expect("a global IPv4 address on the host")
}

/// The host's first global IPv6 address not on a bridge (None: the host has
/// none).
pub fn host_addr6() -> Option<String> {
    global_addr("-6")
}

/// The first global address of `family` (`ip`'s "-4" or "-6") on an
/// interface that is not a bridge of berth's or docker's, nor a veth.
fn global_addr(family: &str) -> Option<String> {
    let text = command_out("ip", &[family, "-o", "addr", "show", "scope", "global"]);
    let inet = if family == "-6" { "inet6" } else { "inet" };
    text.lines()
        .filter(|l| {
            !l.contains(" br-") && !l.contains(" bb") && !l.contains("berth") && !l.contains("veth")
        })
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == inet)?;
            Some(w[i + 1].split('/').next()?.to_string())
        })
}
