//! What `features` reports under `linux.seccomp`, probed from this
//! libseccomp build and the running kernel rather than listed from the spec.

use libseccomp::{ScmpAction, ScmpFilterContext, ScmpVersion};
use oci_spec::runtime::LinuxSeccompFilterFlag;

use super::profile::{flag_name, flag_supported, ARCHES};

/// In runc's order (`runc features` prints them unsorted).
const FLAGS: [LinuxSeccompFilterFlag; 4] = [
    LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
];

/// Actions a profile may use here, sorted. libseccomp's API level says what
/// the kernel takes: KILL_PROCESS and LOG need 3, NOTIFY needs 6 (as
/// [`super::build`] requires).
pub fn supported_actions() -> Vec<&'static str> {
    let api = libseccomp::get_api();
    let mut v = vec!["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL"];
    if api >= 3 {
        v.push("SCMP_ACT_KILL_PROCESS");
    }
    v.push("SCMP_ACT_KILL_THREAD");
    if api >= 3 {
        v.push("SCMP_ACT_LOG");
    }
    if api >= 6 {
        v.push("SCMP_ACT_NOTIFY");
    }
    v.extend(["SCMP_ACT_TRACE", "SCMP_ACT_TRAP"]);
    v
}

/// Sorted, like runc.
pub fn supported_operators() -> Vec<&'static str> {
    vec![
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_LE",
        "SCMP_CMP_LT",
        "SCMP_CMP_MASKED_EQ",
        "SCMP_CMP_NE",
    ]
}

/// Architectures libseccomp can put in a filter for this host, sorted:
/// this libseccomp must know the arch, and it must have the host's
/// endianness (libseccomp refuses to mix byte orders in one filter).
pub fn supported_archs() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = ARCHES
        .iter()
        .filter(|e| {
            ScmpFilterContext::new(ScmpAction::Allow)
                .and_then(|mut ctx| ctx.add_arch(e.2).map(|_| ()))
                .is_ok()
        })
        .map(|e| e.0)
        .collect();
    v.sort_unstable();
    v
}

/// Every flag the runtime knows (runc's `knownFlags`).
pub fn known_flags() -> Vec<&'static str> {
    FLAGS.iter().map(|f| flag_name(*f)).collect()
}

/// The flags libseccomp and the kernel support here (runc's
/// `supportedFlags`). WAIT_KILLABLE_RECV needs libseccomp >= 2.6.
pub fn supported_flags() -> Vec<&'static str> {
    FLAGS
        .iter()
        .filter(|f| flag_supported(**f))
        .map(|f| flag_name(*f))
        .collect()
}

/// For the `io.github.seccomp.libseccomp.version` annotation.
pub fn libseccomp_version() -> Option<String> {
    ScmpVersion::current().ok().map(|v| v.to_string())
}
