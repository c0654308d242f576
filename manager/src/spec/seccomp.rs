//! docker-format seccomp profiles (`--security-opt seccomp=FILE`) converted to
//! the OCI `linux.seccomp` shape, as moby's profiles/seccomp does: the native
//! architecture's archMap entry, and syscall rules filtered by their
//! includes/excludes (capabilities and architectures).

use super::SpecError;
use serde_json::{json, Value};

const NATIVE_ARCH: &str = "SCMP_ARCH_X86_64";

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Does a rule's includes/excludes filter accept this process?
fn filter_matches(f: &Value, caps: &[String], arches: &[String], include: bool) -> bool {
    let fc = strs(&f["caps"]);
    let fa = strs(&f["arches"]);
    if include {
        fc.iter().all(|c| caps.contains(c))
            && (fa.is_empty() || fa.iter().any(|a| arches.contains(a)))
    } else {
        fc.iter().any(|c| caps.contains(c)) || fa.iter().any(|a| arches.contains(a))
    }
}

pub fn convert(profile: &str, caps: &[String]) -> Result<Value, SpecError> {
    let p: Value = serde_json::from_str(profile)
        .map_err(|e| SpecError::Invalid(format!("decoding seccomp profile failed: {e}")))?;
    let default_action = p["defaultAction"]
        .as_str()
        .ok_or_else(|| SpecError::Invalid("seccomp profile: defaultAction is missing".into()))?;
    let mut arches: Vec<String> = Vec::new();
    if let Some(map) = p["archMap"].as_array() {
        for m in map {
            if m["architecture"] == NATIVE_ARCH {
                arches.push(NATIVE_ARCH.into());
                arches.extend(strs(&m["subArchitectures"]));
            }
        }
    }
    if arches.is_empty() {
        arches = strs(&p["architectures"]);
    }
    let mut rules = Vec::new();
    for s in p["syscalls"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let inc = &s["includes"];
        if inc.is_object() && !filter_matches(inc, caps, &arches, true) {
            continue;
        }
        let exc = &s["excludes"];
        if exc.is_object() && filter_matches(exc, caps, &arches, false) {
            continue;
        }
        let mut names = strs(&s["names"]);
        if let Some(n) = s["name"].as_str() {
            names.push(n.to_string());
        }
        if names.is_empty() {
            continue;
        }
        let mut r = json!({ "names": names, "action": s["action"] });
        if let Some(args) = s["args"].as_array().filter(|a| !a.is_empty()) {
            r["args"] = Value::Array(args.clone());
        }
        if !s["errnoRet"].is_null() {
            r["errnoRet"] = s["errnoRet"].clone();
        }
        rules.push(r);
    }
    let mut out = json!({
        "defaultAction": default_action,
        "architectures": arches,
        "syscalls": rules,
    });
    if !p["defaultErrnoRet"].is_null() {
        out["defaultErrnoRet"] = p["defaultErrnoRet"].clone();
    }
    if let Some(f) = p["flags"].as_array() {
        out["flags"] = Value::Array(f.clone());
    }
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
            v["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        let s = v["syscalls"].as_array().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0]["names"], json!(["mkdir"]));
        assert_eq!(s[0]["errnoRet"], 1);
        assert!(convert("{}", &[]).is_err());
    }
}
