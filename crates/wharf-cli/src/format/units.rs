//! Human-readable sizes and durations, re-implemented from docker's `go-units`
//! (`HumanSizeWithPrecision`, `HumanDuration`) so tables read exactly like docker's.

use std::time::{SystemTime, UNIX_EPOCH};

const DECIMAL_ABBRS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_ABBRS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// go-units `HumanSize`: decimal units, 4 significant digits ("1.982MB").
pub fn human_size(size: f64) -> String {
    human_size_with_precision(size, 4)
}

/// go-units `HumanSizeWithPrecision`: `fmt.Sprintf("%.*g%s", precision, size, unit)`.
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (v, unit) = size_and_unit(size, 1000.0, &DECIMAL_ABBRS);
    format!("{}{}", format_g(v, precision), unit)
}

/// go-units `BytesSize`: binary units, `%.4g` ("23.54GiB").
pub fn bytes_size(size: f64) -> String {
    let (v, unit) = size_and_unit(size, 1024.0, &BINARY_ABBRS);
    format!("{}{}", format_g(v, 4), unit)
}

fn size_and_unit(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// Go's `%.{prec}g`: `prec` significant digits, no trailing zeros, exponent form when the
/// exponent is < -4 or >= prec (Go prints at least two exponent digits: "1e+03").
pub fn format_g(v: f64, prec: usize) -> String {
    let prec = prec.max(1);
    if v == 0.0 {
        return "0".to_string();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_fraction_zeros(mant);
        format!(
            "{}e{}{:02}",
            mant,
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_fraction_zeros(&format!("{v:.decimals$}"))
    }
}

fn trim_fraction_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// go-units `HumanDuration` for a duration in seconds.
pub fn human_duration(secs: f64) -> String {
    let seconds = secs as i64;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // time.Duration.Round(time.Hour): halves round away from zero.
    let hours = (secs / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (secs / 3600.0) as i64 / 24 / 365)
}

/// Seconds since the epoch, now.
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// "2 weeks ago" for a unix timestamp, relative to `now`.
pub fn since(created: i64, now: f64) -> String {
    format!("{} ago", human_duration(now - created as f64))
}

/// Go's `time.Unix(t, 0).String()` in UTC: "2024-01-02 15:04:05 +0000 UTC".
pub fn go_time_string(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(dt) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
            dt.year(),
            dt.month() as u8,
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        ),
        Err(_) => String::new(),
    }
}

/// Go's `time.Time.String()` of an RFC 3339 time as the daemon sends it
/// ("2024-01-02T15:04:05.1234Z" → "2024-01-02 15:04:05.1234 +0000 UTC"): fractional seconds
/// without trailing zeros, the offset, then the zone name. Go names a "Z" (or zero-offset) time
/// "UTC" and any other offset only by its number ("+0200 +0200"), as for a client running in
/// UTC. An empty or unparsable value is Go's zero time.
pub fn go_time_string_rfc3339(s: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let Ok(dt) = time::OffsetDateTime::parse(s, &Rfc3339) else {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    };
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let nanos = dt.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let off = dt.offset();
    if off.is_utc() {
        out.push_str(" +0000 UTC");
    } else {
        let secs = off.whole_seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let abs = secs.unsigned_abs();
        let num = format!("{sign}{:02}{:02}", abs / 3600, (abs % 3600) / 60);
        out.push_str(&format!(" {num} {num}"));
    }
    out
}

/// RFC 3339 in UTC, as Go's `time.Unix(t, 0).Format(time.RFC3339)` with TZ=UTC.
pub fn rfc3339(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(dt) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            dt.year(),
            dt.month() as u8,
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        ),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size_with_precision(0.0, 3), "0B");
        assert_eq!(human_size_with_precision(1982256.0, 3), "1.98MB");
        assert_eq!(human_size(1982256.0), "1.982MB");
        assert_eq!(human_size_with_precision(4_260_000.0, 3), "4.26MB");
        assert_eq!(human_size_with_precision(1_200_000_000.0, 3), "1.2GB");
        assert_eq!(human_size_with_precision(850_000.0, 3), "850kB");
        assert_eq!(human_size_with_precision(999.0, 3), "999B");
        assert_eq!(human_size_with_precision(999_999.0, 3), "1e+03kB");
        assert_eq!(human_size_with_precision(1000.0, 3), "1kB");
        assert_eq!(human_size_with_precision(12.5, 3), "12.5B");
        assert_eq!(bytes_size(23.54 * 1024.0 * 1024.0 * 1024.0), "23.54GiB");
    }

    #[test]
    fn format_g_small_numbers() {
        assert_eq!(format_g(0.00001234, 3), "1.23e-05");
        assert_eq!(format_g(0.5, 3), "0.5");
        assert_eq!(format_g(123.0, 3), "123");
    }

    #[test]
    fn durations_match_go_units() {
        assert_eq!(human_duration(0.2), "Less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(47.0), "47 seconds");
        assert_eq!(human_duration(60.0), "About a minute");
        assert_eq!(human_duration(119.0), "About a minute");
        assert_eq!(human_duration(120.0), "2 minutes");
        assert_eq!(human_duration(3600.0), "About an hour");
        assert_eq!(human_duration(5400.0), "2 hours");
        assert_eq!(human_duration(47.0 * 3600.0), "47 hours");
        assert_eq!(human_duration(3.0 * 86400.0), "3 days");
        assert_eq!(human_duration(15.0 * 86400.0), "2 weeks");
        assert_eq!(human_duration(70.0 * 86400.0), "2 months");
        assert_eq!(human_duration(800.0 * 86400.0), "2 years");
    }

    #[test]
    fn go_times() {
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(rfc3339(86400 + 61), "1970-01-02T00:01:01Z");
        assert_eq!(
            go_time_string_rfc3339("2024-05-01T10:20:30.123456780Z"),
            "2024-05-01 10:20:30.12345678 +0000 UTC"
        );
        assert_eq!(
            go_time_string_rfc3339("2024-05-01T10:20:30+02:00"),
            "2024-05-01 10:20:30 +0200 +0200"
        );
        assert_eq!(go_time_string_rfc3339(""), "0001-01-01 00:00:00 +0000 UTC");
    }
}
