//! The one glibc symbol Debian's `libseccomp.a` needs that musl lacks.
//!
//! The archive (libseccomp-dev) is compiled against glibc with
//! `_FORTIFY_SOURCE`, so its PFC exporter (`gen_pfc.o`, behind
//! `seccomp_export_pfc`, the human-readable dump) prints through glibc's
//! checked `__fprintf_chk`. Everything else it calls (malloc, prctl,
//! syscall, ioctl, `__errno_location`, `__stack_chk_fail`, whose canary
//! both libcs keep at %fs:0x28) musl has under the same ABI. berth only
//! exports BPF (`seccomp_export_bpf_mem`, bpf.rs), never PFC, so this
//! stand-in is never reached; it fails the way a write error would rather
//! than print, so that a future caller sees an error, not silence.
//! Building libseccomp from source with musl-gcc instead would need its
//! source tarball in the build (no network but the package registries).

use std::ffi::{c_char, c_int, c_void};

/// glibc's `int __fprintf_chk(FILE *, int flag, const char *fmt, ...)`.
/// Declared without the variadic tail (Rust cannot define C variadics on
/// stable): on x86-64 the caller passes those in registers and on its own
/// stack, and a callee that does not read them is ABI-correct.
#[no_mangle]
pub extern "C" fn __fprintf_chk(
    _stream: *mut c_void,
    _flag: c_int,
    _format: *const c_char,
) -> c_int {
    nix::errno::Errno::ENOSYS.set();
    -1
}
