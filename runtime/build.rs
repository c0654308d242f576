//! Link berth-runtime with the functions its common commands run placed
//! together (runtime/link/hot-text.ld): the kernel maps 64 KiB of the binary
//! around each page fault, so scattered hot code makes most of the text
//! resident (peak RSS of `create`, docs/runtime.md "Memory"). The script only
//! adds an output section (INSERT), which GNU ld and lld both accept.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let script = format!("{dir}/link/hot-text.ld");
    println!("cargo:rerun-if-changed=link/hot-text.ld");
    println!("cargo:rustc-link-arg-bin=berth-runtime=-Wl,-T,{script}");
    // Segments congruent with their file offsets modulo 64 KiB: the page
    // cache holds a file written by `write` (cp, install, a package
    // manager) in folios of up to 64 KiB aligned in the file, and a fault
    // maps its whole folio; with the text one page off, each 64 KiB window
    // touched mapped two folios (docs/runtime.md, "Memory"). No file
    // padding: only the addresses move.
    println!("cargo:rustc-link-arg-bin=berth-runtime=-Wl,-z,max-page-size=65536");
    // Link with lld, the linker rustc uses by default for the glibc target
    // (rust-lld, through the `gcc-ld` wrapper directory of the toolchain)
    // but not for musl, where the system's `cc` would run GNU ld. The
    // layout work above was measured with lld, and GNU ld's output measured
    // 2788 KiB of peak RSS for `create` while the linker-written file was in
    // the page cache, against 1764 KiB for a copy of it (docs/runtime.md,
    // "The C library"). A toolchain without rust-lld keeps GNU ld.
    println!("cargo:rerun-if-env-changed=RUSTC");
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl") {
        if let Some(dir) = rust_lld_dir() {
            println!("cargo:rustc-link-arg-bin=berth-runtime=-B{}", dir.display());
            println!("cargo:rustc-link-arg-bin=berth-runtime=-fuse-ld=lld");
        }
    }
    // A link map names every function's place even in the stripped release
    // binary: runtime/link/gen-hot-text.py reads it to regenerate the list.
    println!("cargo:rerun-if-env-changed=BERTH_RUNTIME_LINK_MAP");
    if let Ok(map) = std::env::var("BERTH_RUNTIME_LINK_MAP") {
        println!("cargo:rustc-link-arg-bin=berth-runtime=-Wl,-Map={map}");
    }
}

/// The toolchain's `gcc-ld` directory (an `ld.lld` that runs rust-lld), if
/// it has one.
fn rust_lld_dir() -> Option<std::path::PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8(out.stdout).ok()?;
    let host = std::env::var("HOST").ok()?;
    let dir = std::path::Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/gcc-ld");
    dir.join("ld.lld").is_file().then_some(dir)
}
