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

/// Seconds since the epoch of an HTTP date (`Sun, 06 Nov 1994 08:49:37
/// GMT`, RFC 9110's IMF-fixdate), as servers send Last-Modified.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let ts = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(s)
        .ok()?;
    u64::try_from(ts.as_second()).ok()
}

/// Nanoseconds since the epoch of an RFC 3339 time, whatever its offset:
/// for ordering times that may fall in one second.
pub fn parse_rfc3339_nanos(s: &str) -> Option<i128> {
    let ts: Timestamp = s.parse().ok()?;
    Some(ts.as_nanosecond())
}

/// An RFC 3339 time as docker's `CreatedAt` fields print it
/// (`2026-11-22 10:11:12 +0000 UTC`); the text itself if it cannot be read.
pub fn docker_date(rfc3339: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// A Go duration (`1m30s`, `500ms`, `2h`) in nanoseconds.
pub fn go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += num * mult;
    }
    Some(total as i64)
}

/// Now, in nanoseconds since the epoch (0 for a clock set before it).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A point in time as docker's `--since`, `--until` and `until=` filters
/// take it: RFC 3339, Unix seconds (with a fraction), or a Go duration
/// before `now_ns`; in nanoseconds since the epoch. `None` for anything
/// else and for times before the epoch.
pub fn point(t: &str, now_ns: u64) -> Option<u64> {
    if let Some(ns) = parse_rfc3339_nanos(t) {
        return u64::try_from(ns).ok();
    }
    if let Ok(secs) = t.parse::<f64>() {
        return (secs >= 0.0).then_some((secs * 1e9) as u64);
    }
    go_duration(t)
        .and_then(|n| u64::try_from(n).ok())
        .map(|ago| now_ns.saturating_sub(ago))
}

/// "3 days ago" from an RFC 3339 time, as seen at `now` (seconds since the
/// epoch); "unknown" when empty, the text itself if it cannot be read.
pub fn ago(rfc3339: &str, now: u64) -> String {
    match since(rfc3339, now) {
        Some(d) => format!("{} ago", human_duration(d)),
        None if rfc3339.is_empty() => "unknown".into(),
        None => rfc3339.into(),
    }
}

/// Seconds from an RFC 3339 time to `now`; `None` if it cannot be read.
pub fn since(rfc3339: &str, now: u64) -> Option<u64> {
    parse_rfc3339(rfc3339).map(|then| now.saturating_sub(then))
}

/// A span of seconds as docker's CLI words it in `ps` and `images`
/// ("Up 5 seconds", "About a minute", "3 hours", "2 weeks").
pub fn human_duration(secs: u64) -> String {
    let minutes = secs / 60;
    // docker rounds hours to the nearest.
    let hours = (secs + 1800) / 3600;
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{secs} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", secs / 3600 / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_a_date_unix_seconds_or_a_duration_before_now() {
        const S: u64 = 1_000_000_000;
        assert_eq!(point("1000", 5000 * S), Some(1000 * S));
        assert_eq!(point("1000.5", 5000 * S), Some(1000 * S + S / 2));
        assert_eq!(point("10s", 5000 * S), Some(4990 * S));
        assert_eq!(point("1m30s", 5000 * S), Some(4910 * S));
        assert_eq!(point("1970-01-01T00:16:40Z", 5000 * S), Some(1000 * S));
        assert_eq!(point("soon", 5000 * S), None);
        assert_eq!(point("-5", 5000 * S), None);
    }

    #[test]
    fn docker_date_is_utc_with_its_zone_spelled_out() {
        assert_eq!(
            docker_date("2026-11-22T10:11:12+02:00"),
            "2026-11-22 08:11:12 +0000 UTC"
        );
        assert_eq!(docker_date("garbage"), "garbage");
    }

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
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("06/11/1994"), None);
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
        assert_eq!(ago(&rfc3339(now - 30), now), "30 seconds ago");
        assert_eq!(ago(&rfc3339(now - 60), now), "About a minute ago");
        assert_eq!(ago(&rfc3339(now - 3 * 86_400), now), "3 days ago");
        assert_eq!(ago("", now), "unknown");
        assert_eq!(ago("last week", now), "last week");
    }

    #[test]
    fn durations_read_as_docker_words_them() {
        for (secs, text) in [
            (0, "Less than a second"),
            (1, "1 second"),
            (5, "5 seconds"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (119, "About a minute"),
            (120, "2 minutes"),
            (3599, "59 minutes"),
            (3600, "About an hour"),
            (5399, "About an hour"),
            (5400, "2 hours"),
            (47 * 3600, "47 hours"),
            (48 * 3600, "2 days"),
            (13 * 86_400, "13 days"),
            (14 * 86_400, "2 weeks"),
            (59 * 86_400, "8 weeks"),
            (60 * 86_400, "2 months"),
            (729 * 86_400, "24 months"),
            (730 * 86_400, "2 years"),
        ] {
            assert_eq!(human_duration(secs), text, "{secs} s");
        }
        assert_eq!(ago("1970-01-01T00:00:00Z", 5), "5 seconds ago");
        assert_eq!(ago("", 5), "unknown");
    }
}
