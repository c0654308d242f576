//! docker-format seccomp profiles (`--security-opt seccomp=FILE`) converted to
//! the OCI `linux.seccomp` (oci-spec's typed `LinuxSeccomp`), as moby's
//! profiles/seccomp does: the native architecture's archMap entry, and syscall
//! rules filtered by their includes/excludes (capabilities and architectures).

use super::SpecError;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSyscall,
};
use serde::Deserialize;

const NATIVE_ARCH: &str = "SCMP_ARCH_X86_64";

/// docker's profile format (what berth reads of it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Filter {
    caps: Vec<String>,
    arches: Vec<String>,
}

impl Filter {
    /// Does an includes (`include`) or excludes filter accept this process?
    fn matches(&self, caps: &[String], arches: &[String], include: bool) -> bool {
        if include {
            self.caps.iter().all(|c| caps.contains(c))
                && (self.arches.is_empty() || self.arches.iter().any(|a| arches.contains(a)))
        } else {
            self.caps.iter().any(|c| caps.contains(c))
                || self.arches.iter().any(|a| arches.contains(a))
        }
    }
}

fn bad(why: String) -> SpecError {
    SpecError::Invalid(format!("decoding seccomp profile failed: {why}"))
}

fn arch(name: &str) -> Result<Arch, SpecError> {
    Arch::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name))
        .map_err(|_| bad(format!("unknown architecture {name:?}")))
}

pub fn convert(profile: &str, caps: &[String]) -> Result<LinuxSeccomp, SpecError> {
    let p: Profile = serde_json::from_str(profile).map_err(|e| bad(e.to_string()))?;
    let mut arches: Vec<String> = Vec::new();
    for m in &p.arch_map {
        if m.architecture == NATIVE_ARCH {
            arches.push(NATIVE_ARCH.into());
            arches.extend(m.sub_architectures.iter().cloned());
        }
    }
    if arches.is_empty() {
        arches = p.architectures.clone();
    }
    let mut rules = Vec::new();
    for s in p.syscalls {
        if s.includes
            .as_ref()
            .is_some_and(|f| !f.matches(caps, &arches, true))
        {
            continue;
        }
        if s.excludes
            .as_ref()
            .is_some_and(|f| f.matches(caps, &arches, false))
        {
            continue;
        }
        let mut names = s.names;
        names.extend(s.name);
        if names.is_empty() {
            continue;
        }
        let mut r = LinuxSyscall::default();
        r.set_names(names)
            .set_action(s.action)
            .set_args(s.args.filter(|a| !a.is_empty()))
            .set_errno_ret(s.errno_ret);
        rules.push(r);
    }
    let mut out = LinuxSeccomp::default();
    out.set_default_action(p.default_action)
        .set_default_errno_ret(p.default_errno_ret)
        .set_architectures(Some(
            arches.iter().map(|a| arch(a)).collect::<Result<_, _>>()?,
        ))
        .set_flags(p.flags)
        .set_syscalls(Some(rules));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_docker_profile() {
        let p = r#"{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]},{"architecture":"SCMP_ARCH_AARCH64","subArchitectures":[]}],
          "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
                      {"names":["reboot"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_BOOT"]}},
                      {"names":["chown"],"action":"SCMP_ACT_ERRNO","excludes":{"caps":["CAP_CHOWN"]}}]}"#;
        let v = convert(p, &["CAP_CHOWN".to_string()]).unwrap();
        assert_eq!(
            v.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86][..])
        );
        let s = v.syscalls().as_ref().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].names(), &["mkdir".to_string()]);
        assert_eq!(s[0].errno_ret(), Some(1));
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["syscalls"][0]["errnoRet"], 1);
        assert_eq!(json["defaultAction"], "SCMP_ACT_ALLOW");
        assert!(convert("{}", &[]).is_err());
    }
}
