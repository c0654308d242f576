//! Wall-clock timestamps in RFC 3339 with nanoseconds (UTC), written by hand: the only
//! format the shim needs, without pulling a date crate into a 1.5 MiB-RSS process.

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
pub fn now_unix_ns() -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (always 9 fraction digits) into `out` (30 bytes).
pub fn format_rfc3339_nano(unix_ns: i128, out: &mut [u8; 30]) {
    let secs = unix_ns.div_euclid(1_000_000_000) as i64;
    let nanos = unix_ns.rem_euclid(1_000_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    let put = |out: &mut [u8; 30], at: usize, v: u32, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(out, 0, y as u32, 4);
    out[4] = b'-';
    put(out, 5, m, 2);
    out[7] = b'-';
    put(out, 8, d, 2);
    out[10] = b'T';
    put(out, 11, sod / 3600, 2);
    out[13] = b':';
    put(out, 14, sod / 60 % 60, 2);
    out[16] = b':';
    put(out, 17, sod % 60, 2);
    out[19] = b'.';
    put(out, 20, nanos, 9);
    out[29] = b'Z';
}

/// The timestamp as a String.
pub fn rfc3339_nano(unix_ns: i128) -> String {
    let mut b = [0u8; 30];
    format_rfc3339_nano(unix_ns, &mut b);
    String::from_utf8_lossy(&b).into_owned()
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00.000000000Z");
        // 2026-11-23T07:00:00.123456789Z
        let t = 1_795_417_200i128 * 1_000_000_000 + 123_456_789;
        assert_eq!(rfc3339_nano(t), "2026-11-23T07:00:00.123456789Z");
        // leap day
        let t = 951_782_400i128 * 1_000_000_000;
        assert_eq!(rfc3339_nano(t), "2000-02-29T00:00:00.000000000Z");
    }
}
