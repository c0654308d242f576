//! Restart policy decisions and docker's backoff.

use crate::config::RestartPolicy;
use crate::error::SettingError;
use std::time::Duration;

const FIRST: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(60);
/// A container that ran at least this long resets the backoff (docker).
const RESET_AFTER: Duration = Duration::from_secs(10);

/// `no` (or empty), `always`, `unless-stopped`, `on-failure` (with
/// `max_retries`) or `on-failure:N`: shim.json's policy, and the policy of a
/// `set_restart` request (`berth update --restart` on a running container).
pub fn parse(policy: &str, max_retries: u32) -> Result<RestartPolicy, SettingError> {
    Ok(match policy {
        "" | "no" => RestartPolicy::No,
        "always" => RestartPolicy::Always,
        "unless-stopped" => RestartPolicy::UnlessStopped,
        "on-failure" => RestartPolicy::OnFailure(max_retries),
        _ => match policy.strip_prefix("on-failure:") {
            Some(n) => RestartPolicy::OnFailure(
                n.parse()
                    .map_err(|_| SettingError::RetryCount(policy.to_string()))?,
            ),
            None => return Err(SettingError::UnknownPolicy(policy.to_string())),
        },
    })
}

/// Whether a container that exited with `exit_code` is restarted.
pub fn should_restart(
    policy: RestartPolicy,
    exit_code: i32,
    restart_count: u32,
    user_stopped: bool,
) -> bool {
    if user_stopped {
        return false;
    }
    match policy {
        RestartPolicy::No => false,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure(max) => exit_code != 0 && (max == 0 || restart_count < max),
    }
}

/// 100 ms doubled after each restart, capped at one minute, reset when the container
/// ran for at least 10 s.
#[derive(Debug, Default)]
pub struct Backoff {
    delay: Duration,
}

impl Backoff {
    pub fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RESET_AFTER {
            self.delay = Duration::ZERO;
        }
        self.delay = if self.delay.is_zero() {
            FIRST
        } else {
            (self.delay * 2).min(CAP)
        };
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_policies() {
        assert_eq!(parse("", 0).unwrap(), RestartPolicy::No);
        assert_eq!(parse("always", 0).unwrap(), RestartPolicy::Always);
        assert_eq!(parse("on-failure", 3).unwrap(), RestartPolicy::OnFailure(3));
        assert_eq!(
            parse("on-failure:2", 0).unwrap(),
            RestartPolicy::OnFailure(2)
        );
        assert!(parse("on-failure:x", 0).is_err());
        assert!(parse("sometimes", 0).is_err());
    }

    #[test]
    fn policies() {
        use RestartPolicy::*;
        assert!(!should_restart(No, 1, 0, false));
        assert!(should_restart(Always, 0, 5, false));
        assert!(!should_restart(Always, 0, 5, true));
        assert!(should_restart(UnlessStopped, 0, 0, false));
        assert!(!should_restart(OnFailure(2), 0, 0, false));
        assert!(should_restart(OnFailure(2), 1, 1, false));
        assert!(!should_restart(OnFailure(2), 1, 2, false));
        assert!(should_restart(OnFailure(0), 1, 100, false));
    }

    #[test]
    fn backoff() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(5);
        let got: Vec<u64> = (0..12).map(|_| b.next(quick).as_millis() as u64).collect();
        assert_eq!(&got[..4], &[100, 200, 400, 800]);
        assert_eq!(*got.last().unwrap(), 60_000);
        assert_eq!(b.next(Duration::from_secs(10)), FIRST);
    }
}
