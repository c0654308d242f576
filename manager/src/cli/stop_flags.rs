//! The flags `stop` and `restart` share (docker's), and what they mean for
//! the lifecycle's stop.

use crate::container::{stop::timeout_from_secs, Signal};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct StopFlags {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
}

impl StopFlags {
    /// The timeout and signal for `container::stop` (none given: the
    /// container's own).
    pub fn resolve(&self) -> anyhow::Result<(Option<Duration>, Option<Signal>)> {
        let signal = self.signal.as_deref().map(Signal::parse).transpose()?;
        Ok((self.time.map(timeout_from_secs), signal))
    }
}
