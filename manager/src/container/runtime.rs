//! berth-runtime's CLI, for what the lifecycle does without a shim (a shim
//! that died, pause/resume, delete).

use super::error::LifecycleError;
use crate::context::Context;

/// Run `berth-runtime --root <state>/runtime <args>`; its stdout, or its stderr
/// as the error.
pub fn run(ctx: &Context, args: &[&str]) -> Result<String, LifecycleError> {
    let out = std::process::Command::new(&ctx.runtime)
        .arg("--root")
        .arg(ctx.runtime_root())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(LifecycleError::io("running", &ctx.runtime))?;
    if !out.status.success() {
        return Err(LifecycleError::Runtime {
            bin: ctx.runtime.clone(),
            args: args.join(" "),
            msg: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the runtime still has state for this container.
pub fn has(ctx: &Context, id: &str) -> bool {
    ctx.runtime_root().join(id).exists()
}

/// Forget the container in the runtime (killing what is left), when it has
/// state. Best effort: used to clean up before a start and at removal.
pub fn delete_force(ctx: &Context, id: &str) {
    if has(ctx, id) {
        let _ = run(ctx, &["delete", "--force", id]);
    }
}
