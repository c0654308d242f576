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
    // A link map names every function's place even in the stripped release
    // binary: runtime/link/gen-hot-text.py reads it to regenerate the list.
    println!("cargo:rerun-if-env-changed=BERTH_RUNTIME_LINK_MAP");
    if let Ok(map) = std::env::var("BERTH_RUNTIME_LINK_MAP") {
        println!("cargo:rustc-link-arg-bin=berth-runtime=-Wl,-Map={map}");
    }
}
