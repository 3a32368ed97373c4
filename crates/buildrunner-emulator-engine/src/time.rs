//! ISO-8601 timestamps as Buildkite writes them, without a date library.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-08-01T10:00:05.123Z`
pub fn iso8601(at: SystemTime) -> String {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since_epoch.as_secs();
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60,
        since_epoch.subsec_millis()
    )
}

/// Seconds since the epoch of `2026-08-01T10:00:05Z`, `2026-08-01T10:00:05.123Z` or
/// `2026-08-01` (midnight UTC); `None` for anything else.
pub fn parse_iso8601(text: &str) -> Option<u64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let valid_date = text.get(4..5) == Some("-")
        && text.get(7..8) == Some("-")
        && (1..=12).contains(&month)
        && (1..=31).contains(&day);
    if !valid_date {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let mut secs = days * 86_400;
    if text.len() > 10 {
        let time_ok = text.get(10..11) == Some("T")
            && text.get(13..14) == Some(":")
            && text.get(16..17) == Some(":")
            && text.ends_with('Z');
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        let fraction = text.get(19..text.len().saturating_sub(1))?;
        let fraction_ok = fraction.is_empty()
            || (fraction.starts_with('.') && fraction[1..].bytes().all(|b| b.is_ascii_digit()));
        if !time_ok || !fraction_ok || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        secs += hour * 3600 + minute * 60 + second;
    }
    u64::try_from(secs).ok()
}

/// Howard Hinnant's days-from-civil algorithm.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let at = UNIX_EPOCH + Duration::from_millis(1_431_205_559_874);
        assert_eq!(iso8601(at), "2015-05-09T21:05:59.874Z");
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_208_000);
        assert_eq!(iso8601(leap), "2024-02-29T12:00:00.000Z");
    }

    #[test]
    fn parses_what_it_formats_and_plain_dates() {
        for secs in [0u64, 1_431_205_559, 1_709_208_000, 4_102_444_800] {
            let text = iso8601(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(parse_iso8601(&text), Some(secs), "{text}");
            assert_eq!(
                parse_iso8601(&text.replace(".000", "")),
                Some(secs),
                "{text}"
            );
        }
        assert_eq!(parse_iso8601("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "",
            "2024-13-01",
            "2024-02-29T12:00:00",
            "x024-02-29",
            "2024-02-29T25:00:00Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
