//! A container as the runtime keeps it between invocations: its directory
//! under `--root`, its persisted state and its computed status.

pub mod state;
pub mod store;

pub use state::{ContainerState, Status};
pub use store::{Container, Store};

use crate::error::{Error, Result};

/// runc's rule for ids: `[A-Za-z0-9_+.-]+`, and never `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_id;

    #[test]
    fn ids() {
        for good in ["a", "A-b_c+d.e", "0123456789abcdef"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "a\nb", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
