//! Durations, timestamps and time zones as the format writes them.

use chrono::{DateTime, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{GapInfo, Tz};
use jiff::{Span, SpanRelativeTo, Unit};

/// Parse a non-negative duration: friendly (`90s`, `2h`, `3d`, `1h 30m`, `2 weeks`)
/// or ISO 8601 (`PT2H`, `P3D`, `P1W`). Days are 24 hours, weeks 7 days; months and
/// years are rejected because their length is not fixed.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let d = parse_signed_duration(text)?;
    if d < TimeDelta::zero() {
        return Err(format!("`{text}` is negative; a duration must be zero or more"));
    }
    Ok(d)
}

/// Like [`parse_duration`], but a leading `-` is allowed (offsets such as `-7d`).
pub fn parse_signed_duration(text: &str) -> Result<TimeDelta, String> {
    let trimmed = text.trim();
    let expected = "expected a duration such as `90s`, `15m`, `2h`, `3d`, `1w`, `1h 30m` or ISO 8601 `PT2H`";
    if trimmed.is_empty() {
        return Err(format!("the duration is empty; {expected}"));
    }
    let span: Span = trimmed.parse().map_err(|_| format!("`{text}` is not a duration; {expected}"))?;
    if span.get_months() != 0 || span.get_years() != 0 {
        return Err(format!("`{text}` uses months or years, whose length varies; use days or weeks instead"));
    }
    let seconds = span
        .total((Unit::Millisecond, SpanRelativeTo::days_are_24_hours()))
        .map_err(|e| format!("`{text}` cannot be converted to a fixed duration: {e}"))?;
    if !seconds.is_finite() || seconds.abs() > 3.2e13 {
        return Err(format!("`{text}` is too long; at most about 1,000 years"));
    }
    Ok(TimeDelta::milliseconds(seconds.round() as i64))
}

/// Parse an IANA time zone name such as `Europe/Berlin`.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!(
            "`{name}` is not a time zone; expected an IANA name such as `America/New_York`, `Europe/Berlin` or `UTC`"
        )
    })
}

/// Parse a timestamp: RFC 3339 (`2026-03-08T09:00:00Z`, `2026-03-08T09:00:00-05:00`)
/// or a plain date `YYYY-MM-DD`, read as midnight UTC.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|dt| dt.and_utc())
}

/// A timestamp from a JSON value: a string as [`parse_timestamp`] reads it, or a
/// number of seconds since the Unix epoch.
pub fn timestamp_from_json(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    match value {
        serde_json::Value::String(s) => parse_timestamp(s),
        serde_json::Value::Number(n) => {
            let secs = n.as_f64()?;
            DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
        }
        _ => None,
    }
}

const HHMM: &str = "expected `HH:MM` on a 24-hour clock, e.g. `09:00` or `17:30`";

/// `HH:MM` → minutes since midnight. `24:00` (1440) only when `allow_end_of_day`.
pub fn parse_hhmm(text: &str, allow_end_of_day: bool) -> Result<u16, String> {
    let bytes = text.as_bytes();
    let well_formed = bytes.len() == 5 && bytes[2] == b':' && [0, 1, 3, 4].iter().all(|&i| bytes[i].is_ascii_digit());
    if !well_formed {
        return Err(format!("`{text}` is not a time of day; {HHMM}"));
    }
    let digit = |i: usize| u16::from(bytes[i] - b'0');
    let (hours, minutes) = (digit(0) * 10 + digit(1), digit(3) * 10 + digit(4));
    if allow_end_of_day && hours == 24 && minutes == 0 {
        return Ok(24 * 60);
    }
    if hours > 23 || minutes > 59 {
        let range = if allow_end_of_day {
            "`00:00` to `23:59`, or `24:00` for the end of the day"
        } else {
            "`00:00` to `23:59`"
        };
        return Err(format!("`{text}` is not a time of day; expected {range}"));
    }
    Ok(hours * 60 + minutes)
}

pub fn minutes_to_time(minutes: u32) -> NaiveTime {
    NaiveTime::from_num_seconds_from_midnight_opt(minutes * 60, 0).unwrap_or(NaiveTime::MIN)
}

/// The instant a local date and time means in `tz`: the earlier one when the clock shows it
/// twice (autumn), the first instant after the gap when it does not exist (spring).
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        MappedLocalTime::Single(t) => t.with_timezone(&Utc),
        MappedLocalTime::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        MappedLocalTime::None => {
            let gap = GapInfo::new(&local, &tz);
            gap.as_ref()
                .and_then(|g| g.end)
                .map(|end| end.with_timezone(&Utc))
                .or_else(|| {
                    // The transition is when the clock reaches the start of the gap.
                    let (begin, offset) = gap.as_ref()?.begin?;
                    let utc = begin.checked_sub_signed(TimeDelta::seconds(offset.fix().local_minus_utc().into()))?;
                    Some(utc.and_utc())
                })
                .unwrap_or_else(|| local.and_utc())
        }
    }
}

/// The first instant strictly after `after` at which the local clock in `tz` reaches
/// `time`. On a day the clock shows `time` twice (the hour repeated in autumn), each of
/// the two counts; on a day it skips it (the hour skipped in spring), the instant the
/// clock jumps past it does.
pub fn next_local_time(tz: Tz, time: NaiveTime, after: DateTime<Utc>) -> DateTime<Utc> {
    let today = after.with_timezone(&tz).date_naive();
    // From the day before: a local date can start before or after the UTC one.
    let mut day = today.pred_opt().unwrap_or(today);
    for _ in 0..4 {
        let local = day.and_time(time);
        let mut candidates = match tz.from_local_datetime(&local) {
            MappedLocalTime::Single(t) => vec![t.with_timezone(&Utc)],
            MappedLocalTime::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
            MappedLocalTime::None => vec![resolve_local(tz, local)],
        };
        candidates.sort();
        if let Some(t) = candidates.into_iter().find(|t| *t > after) {
            return t;
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    // Only at the end of chrono's calendar.
    after + TimeDelta::days(1)
}

/// Format a duration the way people write them (`1d 2h`, `90s`, `0s`).
pub fn format_duration(d: TimeDelta) -> String {
    let mut ms = d.num_milliseconds();
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    let units = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut parts = Vec::new();
    for (name, size) in units {
        if ms >= size {
            parts.push(format!("{}{name}", ms / size));
            ms %= size;
        }
    }
    if parts.is_empty() {
        parts.push("0s".into());
    }
    out.push_str(&parts.join(" "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_accepted_form() {
        for (text, secs) in [
            ("90s", 90),
            ("2h", 7200),
            ("3d", 259_200),
            ("1w", 604_800),
            ("1h 30m", 5400),
            ("1h30m", 5400),
            ("PT2H", 7200),
            ("P3D", 259_200),
            ("PT1H30M", 5400),
            ("P1W", 604_800),
            ("2 hours", 7200),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration(text).unwrap(), TimeDelta::seconds(secs), "{text}");
        }
        assert_eq!(parse_signed_duration("-7d").unwrap(), TimeDelta::days(-7));
    }

    #[test]
    fn bad_durations_say_what_is_expected() {
        for text in ["", "soon", "3 fortnights", "2x", "P1M", "1y", "-5m"] {
            let err = parse_duration(text).unwrap_err();
            assert!(!err.is_empty(), "{text}");
        }
        assert!(parse_duration("P1M").unwrap_err().contains("months"));
        assert!(parse_duration("-5m").unwrap_err().contains("negative"));
    }

    #[test]
    fn timestamps_and_zones() {
        assert_eq!(parse_timestamp("2026-03-08").unwrap().to_rfc3339(), "2026-03-08T00:00:00+00:00");
        assert_eq!(parse_timestamp("2026-03-08T09:00:00-05:00").unwrap().to_rfc3339(), "2026-03-08T14:00:00+00:00");
        assert!(parse_timestamp("yesterday").is_none());
        assert!(parse_timezone("Europe/Berlin").is_ok());
        assert!(parse_timezone("Mars/Olympus").unwrap_err().contains("Mars/Olympus"));
        assert_eq!(format_duration(TimeDelta::seconds(93_600)), "1d 2h");
    }
}
