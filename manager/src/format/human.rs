//! docker's human formats (go-units): sizes and "3 minutes ago".

/// `units.HumanSizeWithPrecision(n, 3)`: decimal units, 3 significant digits
/// ("856B", "1.24MB").
pub fn human_size(n: u64) -> String {
    scaled(n, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB"], 3)
}

/// `units.BytesSize`: binary units, 4 significant digits ("1.5MiB").
pub fn bytes_size(n: u64) -> String {
    scaled(
        n,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
        4,
    )
}

fn scaled(n: u64, base: f64, units: &[&str], digits: usize) -> String {
    let mut v = n as f64;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", sig(v, digits), units[i])
}

/// Go's `%.{digits}g` for the magnitudes sizes have: `digits` significant
/// digits, trailing zeros dropped.
fn sig(v: f64, digits: usize) -> String {
    let int_digits = if v >= 1.0 {
        (v.log10().floor() as usize) + 1
    } else {
        1
    };
    let dec = digits.saturating_sub(int_digits);
    let mut s = format!("{v:.dec$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s
}

/// go-units `HumanDuration` of `secs` seconds ("Less than a second",
/// "About a minute", "3 hours", ...).
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let minutes = s / 60;
    let hours = (s as f64 / 3600.0).round() as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", s / 3600 / 24 / 365)
    }
}

/// Seconds since the epoch, now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The human duration from an RFC 3339 time until now ("3 minutes"); None
/// when the time cannot be parsed.
pub fn duration_since(rfc3339: &str) -> Option<String> {
    crate::store::parse_rfc3339(rfc3339).map(|t| human_duration(now() - t))
}

/// "3 minutes ago" for an RFC 3339 time; empty when it cannot be parsed.
pub fn since(rfc3339: &str) -> String {
    duration_since(rfc3339)
        .map(|d| format!("{d} ago"))
        .unwrap_or_default()
}

/// Go's `time.Time.String()` for an RFC 3339 UTC time: `2024-01-02 03:04:05 +0000 UTC`.
pub fn go_time(rfc3339: &str) -> String {
    match crate::store::parse_rfc3339(rfc3339) {
        Some(t) => {
            let s = crate::store::rfc3339(t, 0);
            format!("{} +0000 UTC", s.trim_end_matches('Z').replace('T', " "))
        }
        None => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(856), "856B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1500), "1.5kB");
        assert_eq!(human_size(12_345), "12.3kB");
        assert_eq!(human_size(1_240_000), "1.24MB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(12_000_000), "12MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(120_000_000), "120MB");
        assert_eq!(human_size(99_960), "100kB");
        assert_eq!(bytes_size(64 << 20), "64MiB");
        assert_eq!(bytes_size(1536 * 1024), "1.5MiB");
        assert_eq!(bytes_size(0), "0B");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(-5), "Less than a second");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(65), "About a minute");
        assert_eq!(human_duration(70), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(21 * 86400), "3 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
        assert_eq!(since("not a time"), "");
    }
}
