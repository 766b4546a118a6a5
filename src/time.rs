//! Timestamps as burrow writes them (RFC 3339 in UTC: image configs,
//! container records, `logs -t`) and reads them (RFC 3339 with any offset),
//! on the `jiff` crate. Pure functions of seconds or nanoseconds since the
//! epoch; reading the clock stays with the caller.

use jiff::Timestamp;

/// Seconds since the epoch as RFC 3339 UTC (`2026-11-22T10:11:12Z`), as
/// image configs write time.
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or(Timestamp::MAX)
        .to_string()
}

/// Nanoseconds since the epoch as RFC 3339 UTC with all nine digits of the
/// fraction (`2026-11-22T10:11:12.000000042Z`), as `logs -t` prints it.
pub fn rfc3339_nanos(ns: u64) -> String {
    let ts = Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::MAX);
    format!("{ts:.9}")
}

/// Seconds since the epoch of an RFC 3339 time, whatever its offset
/// (`Z`, `+02:00`); the fraction is dropped. `None` for anything else and
/// for times before the epoch.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let ts: Timestamp = s.parse().ok()?;
    u64::try_from(ts.as_second()).ok()
}

/// "3 days ago" from an RFC 3339 time, as seen at `now` (seconds since the
/// epoch); "unknown" when empty, the text itself if it cannot be read.
pub fn ago(rfc3339: &str, now: u64) -> String {
    let Some(then) = parse_rfc3339(rfc3339) else {
        return if rfc3339.is_empty() {
            "unknown".into()
        } else {
            rfc3339.into()
        };
    };
    let d = now.saturating_sub(then);
    let (n, unit) = match d {
        0..=59 => return "Less than a minute ago".into(),
        60..=3599 => (d / 60, "minute"),
        3600..=86_399 => (d / 3600, "hour"),
        86_400..=2_591_999 => (d / 86_400, "day"),
        2_592_000..=31_535_999 => (d / 2_592_000, "month"),
        _ => (d / 31_536_000, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_305_600), "2026-11-22T00:00:00Z");
        assert_eq!(
            rfc3339_nanos(1_795_305_600_000_000_042),
            "2026-11-22T00:00:00.000000042Z"
        );
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn parse_inverts_format() {
        for t in [0, 951_782_400, 1_795_305_600] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2026-11-22T10:11:12.123456789Z"),
            Some(1_795_305_600 + 36_672)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339(""), None);
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
    }

    #[test]
    fn parse_honours_the_offset() {
        // 10:11:12 at +02:00 is 08:11:12 UTC; at -05:30 it is 15:41:12.
        assert_eq!(
            parse_rfc3339("2026-11-22T10:11:12+02:00"),
            Some(1_795_305_600 + 8 * 3600 + 11 * 60 + 12)
        );
        assert_eq!(
            parse_rfc3339("2026-11-22T10:11:12.5-05:30"),
            Some(1_795_305_600 + 15 * 3600 + 41 * 60 + 12)
        );
    }

    #[test]
    fn ago_reads_like_docker() {
        let now = 1_795_305_600;
        assert_eq!(ago(&rfc3339(now - 30), now), "Less than a minute ago");
        assert_eq!(ago(&rfc3339(now - 60), now), "1 minute ago");
        assert_eq!(ago(&rfc3339(now - 3 * 86_400), now), "3 days ago");
        assert_eq!(ago("", now), "unknown");
        assert_eq!(ago("last week", now), "last week");
    }
}
