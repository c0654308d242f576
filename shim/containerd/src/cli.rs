//! The command line containerd gives a shim v2 binary (Go `flag` syntax: `-name value`,
//! `-name=value`, `--name value`), then an action: `start` or `delete`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("flag -{0} needs a value")]
    MissingValue(String),
    #[error("unknown flag {0:?} (containerd-shim-berth-v2 takes -namespace, -address, -publish-binary, -id, -bundle, -debug)")]
    Unknown(String),
    #[error("unknown action {0:?}: expected start or delete")]
    Action(String),
    #[error("no action: containerd runs `containerd-shim-berth-v2 ... start` (which starts the shim daemon) or `... delete`")]
    NoAction,
    #[error("-{0} is required")]
    Required(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Delete,
    Version,
}

#[derive(Debug, Clone)]
pub struct Flags {
    pub namespace: String,
    /// containerd's gRPC address (the ttrpc one comes in $TTRPC_ADDRESS).
    pub address: String,
    pub publish_binary: String,
    pub id: String,
    pub bundle: Option<PathBuf>,
    /// The socket `start` bound for its daemon (removed when the daemon exits); not a
    /// flag: set in the forked daemon.
    pub socket: Option<PathBuf>,
    pub debug: bool,
    pub action: Action,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Flags, CliError> {
    let mut f = Flags {
        namespace: String::new(),
        address: String::new(),
        publish_binary: String::new(),
        id: String::new(),
        bundle: None,
        socket: None,
        debug: false,
        action: Action::Version,
    };
    let mut action = None;
    let mut version = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if !a.starts_with('-') {
            if action.is_some() {
                return Err(CliError::Action(a));
            }
            action = Some(match a.as_str() {
                "start" => Action::Start,
                "delete" => Action::Delete,
                _ => return Err(CliError::Action(a)),
            });
            continue;
        }
        let body = a.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        match name.as_str() {
            "debug" => f.debug = inline.as_deref() != Some("false"),
            "v" | "version" => version = true,
            "namespace" | "address" | "publish-binary" | "id" | "bundle" => {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| CliError::MissingValue(name.clone()))?,
                };
                match name.as_str() {
                    "namespace" => f.namespace = v,
                    "address" => f.address = v,
                    "publish-binary" => f.publish_binary = v,
                    "id" => f.id = v,
                    _ => f.bundle = Some(PathBuf::from(v)),
                }
            }
            _ => return Err(CliError::Unknown(a)),
        }
    }
    if version {
        f.action = Action::Version;
        return Ok(f);
    }
    f.action = action.ok_or(CliError::NoAction)?;
    if f.namespace.is_empty() {
        return Err(CliError::Required("namespace"));
    }
    if f.id.is_empty() {
        return Err(CliError::Required("id"));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Flags, CliError> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn containerd_16_start_line() {
        let f = p("-namespace default -address /run/containerd/containerd.sock -publish-binary /usr/bin/containerd -id c1 -debug start").unwrap();
        assert_eq!(f.action, Action::Start);
        assert_eq!(f.namespace, "default");
        assert_eq!(f.id, "c1");
        assert!(f.debug);
        assert_eq!(f.address, "/run/containerd/containerd.sock");
    }

    #[test]
    fn delete_with_bundle_and_equals() {
        let f = p("--namespace=k8s.io -id=x -bundle /b delete").unwrap();
        assert_eq!(f.action, Action::Delete);
        assert_eq!(f.bundle, Some(PathBuf::from("/b")));
    }

    #[test]
    fn bad_input() {
        assert!(matches!(
            p("-namespace a -id x stop"),
            Err(CliError::Action(_))
        ));
        assert!(matches!(p("-namespace a -frob"), Err(CliError::Unknown(_))));
        assert!(matches!(p("-namespace"), Err(CliError::MissingValue(_))));
        assert!(matches!(p("-namespace a -id x"), Err(CliError::NoAction)));
        assert_eq!(p("-v").unwrap().action, Action::Version);
        assert!(matches!(
            p("-id x start"),
            Err(CliError::Required("namespace"))
        ));
    }
}
