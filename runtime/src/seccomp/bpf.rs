//! The BPF side: exporting libseccomp's program and runc's `-ENOSYS` stub
//! (runc's `patchbpf`).
//!
//! Why the stub: with a deny-by-default profile, a syscall newer than the
//! profile would get the default action (typically EPERM), and libc's
//! fallbacks (clone3 -> clone, faccessat2 -> faccessat, ...) only trigger
//! on ENOSYS. So, per architecture, a syscall number above the largest one
//! the profile names returns ENOSYS; everything else goes to the filter.

use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext, ScmpSyscall};

use super::profile::{arch_name, ARCHES};
use super::{Result, SeccompError};

/// BPF_MAXINSNS: the kernel's limit for one classic BPF program.
pub(super) const MAX_INSNS: usize = 4096;

const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
/// x32 syscalls are x86_64 ones with this bit set in the number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// AUDIT_ARCH_X86_64, shared by x86_64 and x32.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// Reads libseccomp's program for `ctx`.
pub(super) fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    let io_err = |ctx: &str| {
        let ctx = ctx.to_string();
        move |source| SeccompError::Io { ctx, source }
    };
    // SAFETY: plain syscall; the name is a valid C string.
    let fd = unsafe { libc::memfd_create(c"berth-seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io_err("memfd_create")(std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fd we own.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file)
        .map_err(|source| SeccompError::Libseccomp {
            ctx: "export BPF".into(),
            source,
        })?;
    let mut raw = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut raw))
        .map_err(io_err("read exported BPF"))?;
    const INSN: usize = std::mem::size_of::<libc::sock_filter>();
    if raw.is_empty() || raw.len() % INSN != 0 {
        return Err(SeccompError::Io {
            ctx: "read exported BPF".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} bytes is not a BPF program", raw.len()),
            ),
        });
    }
    // Host byte order, as the kernel wants it.
    Ok(raw
        .chunks_exact(INSN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// runc skips the stub for permissive defaults (TRACE counts: a tracer
/// should handle new syscalls itself); ERRNO(ENOSYS) needs none.
pub(super) fn wants_enosys_stub(default: ScmpAction) -> bool {
    !matches!(
        default,
        ScmpAction::Allow
            | ScmpAction::Log
            | ScmpAction::Trace(_)
            | ScmpAction::Errno(libc::ENOSYS)
    )
}

/// The stub's work for one AUDIT_ARCH value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Section {
    Plain {
        audit: u32,
        max: u32,
        /// s390(x) multiplexes unknown large syscalls through number 0.
        s390: bool,
    },
    /// x86_64 and x32 share an AUDIT_ARCH; the number's x32 bit tells them
    /// apart. An ABI that is absent here is left to the filter (which
    /// applies its bad-arch action to it).
    X86_64 {
        amd64: Option<u32>,
        x32: Option<u32>,
    },
}

fn audit_arch(a: ScmpArch) -> Option<u32> {
    match a {
        ScmpArch::X32 | ScmpArch::X8664 => Some(AUDIT_ARCH_X86_64),
        // The spec's arch values are libseccomp's tokens, which are the
        // AUDIT_ARCH values for every arch but x32.
        _ => ARCHES.iter().find(|e| e.2 == a).map(|e| e.1 as u32),
    }
}

/// runc's findLastSyscalls: per configured arch (the native one always
/// included), the largest syscall number the profile names.
pub(super) fn last_syscalls(arches: &[ScmpArch], names: &[String]) -> Result<Vec<Section>> {
    let native = ScmpArch::native();
    let mut set = vec![native];
    for &a in arches {
        let a = if a == ScmpArch::Native { native } else { a };
        if !set.contains(&a) {
            set.push(a);
        }
    }
    let mut sections: Vec<Section> = Vec::new();
    for a in set {
        let audit = audit_arch(a).ok_or_else(|| SeccompError::Unsupported {
            what: format!("architecture {}", arch_name(a)),
            why: "no AUDIT_ARCH value known for it".into(),
        })?;
        // Pseudo numbers (absent on this arch) are negative and ignored.
        let max = names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, a).ok())
            .map(i32::from)
            .filter(|&nr| nr > 0)
            .max();
        let Some(max) = max.map(|m| m as u32) else {
            log::debug!("seccomp: no syscalls for arch {}", arch_name(a));
            continue;
        };
        if audit == AUDIT_ARCH_X86_64 {
            let is_x32 = a == ScmpArch::X32;
            if let Some(Section::X86_64 { amd64, x32 }) = sections
                .iter_mut()
                .find(|s| matches!(s, Section::X86_64 { .. }))
            {
                *(if is_x32 { x32 } else { amd64 }) = Some(max);
            } else {
                sections.push(Section::X86_64 {
                    amd64: (!is_x32).then_some(max),
                    x32: is_x32.then_some(max),
                });
            }
        } else {
            sections.push(Section::Plain {
                audit,
                max,
                s390: matches!(a, ScmpArch::S390 | ScmpArch::S390X),
            });
        }
    }
    Ok(sections)
}

/// A jump target in [`Asm`].
#[derive(Clone, Copy)]
enum To {
    Next,
    Label(usize),
    /// The first instruction after the stub: libseccomp's program.
    Filter,
}

enum Op {
    LdAbs(u32),
    /// Conditional jump against a constant (BPF_JEQ, BPF_JGT, BPF_JSET).
    Jmp {
        cond: u32,
        k: u32,
        jt: To,
        jf: To,
    },
    Ja(To),
    Ret(u32),
    Place(usize),
}

/// A tiny forward-only assembler: conditional jumps reach at most 255
/// instructions, so long jumps go through `ja`.
#[derive(Default)]
struct Asm {
    ops: Vec<Op>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }

    fn op(&mut self, op: Op) {
        self.ops.push(op);
    }

    fn finish(self) -> Result<Vec<libc::sock_filter>> {
        let mut at = vec![usize::MAX; self.labels];
        let mut pc = 0;
        for op in &self.ops {
            match op {
                Op::Place(l) => at[*l] = pc,
                _ => pc += 1,
            }
        }
        let end = pc;
        let offset = |pc: usize, to: To| -> usize {
            let target = match to {
                To::Next => pc + 1,
                To::Label(l) => at[l],
                To::Filter => end,
            };
            assert!(target > pc && target <= end, "BPF stub jumps backwards");
            target - (pc + 1)
        };
        let short = |pc: usize, to: To| -> Result<u8> {
            u8::try_from(offset(pc, to)).map_err(|_| SeccompError::Unsupported {
                what: "the -ENOSYS stub".into(),
                why: "conditional jump out of range".into(),
            })
        };
        let insn = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        };
        let mut out = Vec::with_capacity(end);
        for op in &self.ops {
            let pc = out.len();
            out.push(match *op {
                Op::Place(_) => continue,
                Op::LdAbs(off) => insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, off),
                Op::Jmp { cond, k, jt, jf } => insn(
                    libc::BPF_JMP | cond | libc::BPF_K,
                    short(pc, jt)?,
                    short(pc, jf)?,
                    k,
                ),
                Op::Ja(to) => insn(libc::BPF_JMP | libc::BPF_JA, 0, 0, offset(pc, to) as u32),
                Op::Ret(k) => insn(libc::BPF_RET | libc::BPF_K, 0, 0, k),
            });
        }
        Ok(out)
    }
}

/// The stub to put in front of libseccomp's program. Layout:
///
/// ```text
///     ld [arch]
///     jeq ARCH_1, 0, 1 ; ja S_1      (one pair per section)
///     ...
///     ja filter                       (other arches)
/// S_i: ld [nr] ; jgt MAX, enosys ; ja filter ; enosys: ret ERRNO(ENOSYS)
/// filter: ...libseccomp's program
/// ```
pub(super) fn enosys_stub(sections: &[Section]) -> Result<Vec<libc::sock_filter>> {
    if sections.is_empty() {
        return Ok(Vec::new());
    }
    let mut a = Asm::default();
    let starts: Vec<usize> = sections.iter().map(|_| a.label()).collect();
    a.op(Op::LdAbs(OFF_ARCH));
    for (s, &start) in sections.iter().zip(&starts) {
        let audit = match s {
            Section::Plain { audit, .. } => *audit,
            Section::X86_64 { .. } => AUDIT_ARCH_X86_64,
        };
        let skip = a.label();
        a.op(Op::Jmp {
            cond: libc::BPF_JEQ,
            k: audit,
            jt: To::Next,
            jf: To::Label(skip),
        });
        a.op(Op::Ja(To::Label(start)));
        a.op(Op::Place(skip));
    }
    a.op(Op::Ja(To::Filter));

    for (s, &start) in sections.iter().zip(&starts) {
        let enosys = a.label();
        let to_filter = a.label();
        a.op(Op::Place(start));
        a.op(Op::LdAbs(OFF_NR));
        let jgt = |max: u32, jf: To| Op::Jmp {
            cond: libc::BPF_JGT,
            k: max,
            jt: To::Label(enosys),
            jf,
        };
        match *s {
            Section::Plain { max, s390, .. } => {
                if s390 {
                    a.op(Op::Jmp {
                        cond: libc::BPF_JEQ,
                        k: 0,
                        jt: To::Label(enosys),
                        jf: To::Next,
                    });
                }
                a.op(jgt(max, To::Next));
            }
            Section::X86_64 {
                amd64: Some(amd64),
                x32: Some(x32),
            } => {
                let x32_check = a.label();
                a.op(Op::Jmp {
                    cond: libc::BPF_JSET,
                    k: X32_SYSCALL_BIT,
                    jt: To::Label(x32_check),
                    jf: To::Next,
                });
                a.op(jgt(amd64, To::Label(to_filter)));
                a.op(Op::Place(x32_check));
                a.op(jgt(x32, To::Next));
            }
            Section::X86_64 {
                amd64: Some(amd64),
                x32: None,
            } => {
                a.op(Op::Jmp {
                    cond: libc::BPF_JSET,
                    k: X32_SYSCALL_BIT,
                    jt: To::Label(to_filter),
                    jf: To::Next,
                });
                a.op(jgt(amd64, To::Next));
            }
            Section::X86_64 {
                amd64: None,
                x32: Some(x32),
            } => {
                a.op(Op::Jmp {
                    cond: libc::BPF_JSET,
                    k: X32_SYSCALL_BIT,
                    jt: To::Next,
                    jf: To::Label(to_filter),
                });
                a.op(jgt(x32, To::Next));
            }
            Section::X86_64 {
                amd64: None,
                x32: None,
            } => {}
        }
        a.op(Op::Place(to_filter));
        a.op(Op::Ja(To::Filter));
        a.op(Op::Place(enosys));
        a.op(Op::Ret(RET_ENOSYS));
    }
    a.finish()
}
