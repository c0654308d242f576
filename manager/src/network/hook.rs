//! The networking hook of the container lifecycle (`container::hooks`):
//! `prepare` wires the container's networks before the shim starts and points
//! the spec's network namespace at the result; `release` gives everything
//! back (idempotent: after a crash or a second exit it finds nothing).

use super::endpoint::Prepared;
use super::NsChoice;
use crate::container::hooks::Hook;
use crate::container::{HookError, Locked};
use crate::context::Context;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

pub struct NetworkHook;

impl Hook for NetworkHook {
    fn name(&self) -> &'static str {
        "network"
    }

    fn prepare(&self, ctx: &Context, c: &Locked, spec: &mut Spec) -> Result<(), HookError> {
        let rec = c.record();
        // before anything is made: from here a release must do its work
        let marker = released_marker(ctx, c);
        match std::fs::remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(super::NetworkError::from(crate::store::IoFailure::at(
                    "remove", &marker,
                )(e))
                .into())
            }
        }
        let prepared = super::prepare(ctx, rec, &rec.dir(ctx))?;
        apply_to_spec(&prepared, spec);
        Ok(())
    }

    fn release(&self, ctx: &Context, c: &Locked) -> Result<(), HookError> {
        // `run --rm` releases at the exit and again at the removal: the
        // second finds the marker the first left and skips the network lock,
        // the records and the repair (~1 ms). The marker is written only
        // after a full release and removed before a prepare makes anything
        // (both under the container's lock), so a crash between the two
        // leaves no marker and the next release does the work.
        let marker = released_marker(ctx, c);
        if marker.exists() {
            return Ok(());
        }
        super::release(ctx, &c.record().id)?;
        // no marker (a full directory, a removed container): only the
        // second release's shortcut is lost
        let _ = std::fs::write(&marker, b"");
        Ok(())
    }
}

/// `<root>/containers/<id>/net-released`: the network was given back since
/// the last prepare; it goes with the container's directory.
fn released_marker(ctx: &Context, c: &Locked) -> std::path::PathBuf {
    c.record().dir(ctx).join("net-released")
}

/// The network namespace entry (a path to join, none for the host's, a new
/// one otherwise) and the links' environment, into the typed spec.
fn apply_to_spec(p: &Prepared, spec: &mut Spec) {
    if let Some(linux) = spec.linux_mut() {
        let mut nss: Vec<LinuxNamespace> = linux
            .namespaces()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.typ() != LinuxNamespaceType::Network)
            .collect();
        let mut ns = LinuxNamespace::default();
        ns.set_typ(LinuxNamespaceType::Network);
        match &p.ns {
            NsChoice::Host => {}
            NsChoice::New => nss.push(ns),
            NsChoice::Path(path) => {
                ns.set_path(Some(path.clone()));
                nss.push(ns);
            }
        }
        linux.set_namespaces(Some(nss));
    }
    if !p.env.is_empty() {
        if let Some(process) = spec.process_mut() {
            let mut env = process.env().clone().unwrap_or_default();
            env.extend(p.env.iter().cloned());
            process.set_env(Some(env));
        }
    }
}
