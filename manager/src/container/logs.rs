//! Reading a container's log: docker's json-file format as berth-shim writes
//! it, one JSON object a line (`{"log":"...","stream":"stdout","time":"..."}`).
//! Shared by the `logs` verb and compose's interleaved logs.

/// One line of the json-file log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    pub stderr: bool,
    /// RFC 3339 with nanoseconds, as the shim stamped it.
    pub time: String,
    /// The text, with its trailing newline.
    pub log: String,
}

/// A `--since`/`--until` value that is none of the accepted forms.
#[derive(Debug, thiserror::Error)]
#[error("invalid time {0:?}")]
pub struct InvalidTime(pub String);

/// One log line; None for a line that is not JSON (e.g. torn by a crash).
pub fn parse_line(line: &str) -> Option<LogEntry> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(LogEntry {
        stderr: v["stream"] == "stderr",
        time: v["time"].as_str().unwrap_or("").to_string(),
        log: v["log"].as_str().unwrap_or("").to_string(),
    })
}

/// RFC 3339 to Unix seconds (with the fraction).
pub fn time_secs(s: &str) -> Option<f64> {
    let whole = crate::store::parse_rfc3339(s)? as f64;
    let frac = s
        .split_once('.')
        .map(|(_, r)| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|d| format!("0.{d}").parse::<f64>().ok())
        .unwrap_or(0.0);
    Some(whole + frac)
}

/// `--since`/`--until`: RFC 3339, Unix seconds, or a duration before now
/// (10m, 1h30m). Callers word the error for their own flags.
pub fn parse_since(s: &str) -> Result<f64, InvalidTime> {
    if let Some(t) = time_secs(s) {
        return Ok(t);
    }
    if let Ok(n) = s.parse::<f64>() {
        return Ok(n);
    }
    let ns = super::options::parse_duration_ns(s).map_err(|_| InvalidTime(s.to_string()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    Ok(now - ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_line_reads_stream_time_and_text() {
        let e = parse_line(r#"{"log":"hi\n","stream":"stderr","time":"2024-01-02T03:04:05.5Z"}"#)
            .unwrap();
        assert_eq!(
            e,
            LogEntry {
                stderr: true,
                time: "2024-01-02T03:04:05.5Z".into(),
                log: "hi\n".into(),
            }
        );
        let out = parse_line(r#"{"log":"x","stream":"stdout","time":""}"#).unwrap();
        assert!(!out.stderr);
        assert!(parse_line("not json").is_none());
    }

    #[test]
    fn parse_since_accepts_rfc3339_seconds_and_durations() {
        assert_eq!(parse_since("1970-01-01T00:01:40.25Z").unwrap(), 100.25);
        assert_eq!(parse_since("1700000000").unwrap(), 1_700_000_000.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let t = parse_since("10m").unwrap();
        assert!((now - 600.0 - t).abs() < 5.0, "{t} vs {now}");
        assert!(parse_since("yesterday").is_err());
    }
}
