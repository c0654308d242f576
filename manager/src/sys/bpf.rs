//! bpf(2): maps, program loading, cgroup links and bpffs pins, for the
//! socket redirect of published ports (`network::sockredirect`).
//!
//! By hand, not a crate: aya loads programs only from ELF objects built by a
//! BPF toolchain (clang or bpf-linker, which the build does not have) and
//! keeps its syscall layer private; libbpf-rs links the C libbpf and libelf
//! into berth's static binary. The calls used here are a handful of
//! fixed-layout prefixes of `union bpf_attr`; the runtime's device filter
//! (runtime/src/cgroups/bpf.rs) does the same for its one program.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One eBPF instruction (struct bpf_insn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one (little endian).
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (src << 4) | (dst & 0xf),
            off,
            imm,
        }
    }
}

// bpf(2) commands (linux/bpf.h).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_LINK_CREATE: libc::c_long = 28;

/// `SO_NETNS_COOKIE` (asm-generic/socket.h; Linux 5.14).
const SO_NETNS_COOKIE: libc::c_int = 71;

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    let mut retries = 0;
    loop {
        // SAFETY: attr is a properly sized, initialised #[repr(C)] prefix of
        // union bpf_attr; every pointer in it points to memory that lives
        // for the call; the kernel zero-extends the rest.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr as *mut T as *mut libc::c_void,
                std::mem::size_of::<T>() as libc::c_uint,
            )
        };
        if r >= 0 {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        // The verifier returns EAGAIN when interrupted by a signal.
        if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) && retries < 30 {
            retries += 1;
            continue;
        }
        return Err(e);
    }
}

fn fd_from(r: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(r).map_err(|_| io::Error::other("bpf(2) returned no fd"))?;
    // SAFETY: the kernel returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = b;
    }
    out
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

pub const BPF_MAP_TYPE_HASH: u32 = 1;
pub const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
/// Allocate elements on update, not all at creation.
pub const BPF_F_NO_PREALLOC: u32 = 1;

/// A new map (its fd).
pub fn map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    name: &str,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: flags,
        map_name: name16(name),
        ..Default::default()
    };
    fd_from(sys_bpf(BPF_MAP_CREATE, &mut attr)?)
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// Set `key` to `value` (create or replace).
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        ..Default::default()
    };
    sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// Remove `key`; false when it was not there.
pub fn map_delete(map: BorrowedFd<'_>, key: &[u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        ..Default::default()
    };
    match sys_bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `key`'s value into `value` (its size the map's); false when absent.
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    match sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every key of a map whose keys are `key_size` bytes.
pub fn map_keys(map: BorrowedFd<'_>, key_size: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut next = vec![0u8; key_size];
        let mut attr = MapElemAttr {
            map_fd: map.as_raw_fd() as u32,
            // No key: the first one.
            key: out.last().map_or(0, |k| k.as_ptr() as u64),
            value: next.as_mut_ptr() as u64,
            ..Default::default()
        };
        match sys_bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Ok(_) => out.push(next),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(out),
            Err(e) => return Err(e),
        }
        if out.len() > 1 << 20 {
            return Err(io::Error::other("map keeps growing while listed"));
        }
    }
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

pub const BPF_PROG_TYPE_CGROUP_SOCK_ADDR: u32 = 18;

/// Load a program; a verifier rejection's error carries the verifier log.
pub fn prog_load(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[Insn],
    name: &str,
) -> Result<OwnedFd, (io::Error, String)> {
    // GPL: the helpers used (socket and netns cookies) are available to any
    // licence, but nothing is lost by declaring the kernel's own.
    let license = c"GPL";
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name16(name),
        expected_attach_type,
        ..Default::default()
    };
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return fd_from(fd).map_err(|e| (e, String::new())),
        Err(e)
            if e.raw_os_error() != Some(libc::EINVAL) && e.raw_os_error() != Some(libc::EACCES) =>
        {
            return Err((e, String::new()))
        }
        Err(_) => {}
    }
    // Verifier rejection: load again with a log for the message.
    let mut log = vec![0u8; 64 * 1024];
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => fd_from(fd).map_err(|e| (e, String::new())),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim_end().to_string();
            Err((e, text))
        }
    }
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
}

pub const BPF_CGROUP_INET4_CONNECT: u32 = 10;
pub const BPF_CGROUP_INET4_GETPEERNAME: u32 = 29;

/// Attach `prog` to the cgroup `target` as a link (its fd; the attachment
/// lasts as long as the link is open or pinned).
pub fn link_create(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: target.as_raw_fd() as u32,
        attach_type,
        flags: 0,
    };
    fd_from(sys_bpf(BPF_LINK_CREATE, &mut attr)?)
}

#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

/// Pin `fd` (map, program or link) at `path` in a bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let p = c_path(path)?;
    let mut attr = ObjAttr {
        pathname: p.as_ptr() as u64,
        bpf_fd: fd.as_raw_fd() as u32,
        file_flags: 0,
    };
    sys_bpf(BPF_OBJ_PIN, &mut attr).map(drop)
}

/// Open the object pinned at `path`.
pub fn obj_get(path: &Path) -> io::Result<OwnedFd> {
    let p = c_path(path)?;
    let mut attr = ObjAttr {
        pathname: p.as_ptr() as u64,
        ..Default::default()
    };
    fd_from(sys_bpf(BPF_OBJ_GET, &mut attr)?)
}

/// The cookie of this process's network namespace (what a BPF program's
/// `bpf_get_netns_cookie` returns for a socket of it).
pub fn netns_cookie() -> io::Result<u64> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the socket is open; cookie and len are valid for writes of
    // their sizes for the call.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            &mut cookie as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

/// bpffs's magic (statfs f_type).
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// Whether `dir` is a bpffs mount.
pub fn is_bpffs(dir: &Path) -> bool {
    // f_type's width differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    nix::sys::statfs::statfs(dir).is_ok_and(|s| s.filesystem_type().0 as i64 == BPF_FS_MAGIC)
}

/// Mount a bpffs on `dir` (the host's /sys/fs/bpf when nothing mounted it).
pub fn mount_bpffs(dir: &Path) -> io::Result<()> {
    use nix::mount::MsFlags;
    nix::mount::mount(
        Some("bpf"),
        dir,
        Some("bpf"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0700"),
    )
    .map_err(io::Error::from)
}
