//! `wait_until`: hold a run until a moment, then continue to `next`. The moment is a
//! fixed timestamp, a date stored on the contact (moved by an offset and optionally
//! put at a local time of day), or the next opening of a weekly local time window.
//!
//! ```json
//! { "id": "wait_renewal", "type": "wait_until", "until": { "type": "attribute", "attribute": "renewal_date", "offset": "-7d", "time_of_day": "09:00" }, "next": "send_reminder" }
//! { "id": "wait_launch", "type": "wait_until", "until": { "type": "timestamp", "at": "2026-12-01T09:00:00Z" }, "next": "x" }
//! { "id": "wait_hours", "type": "wait_until", "until": { "type": "time_window", "start": "09:00", "end": "17:30", "days": ["mon","tue","wed","thu","fri"], "timezone": "Europe/Berlin" }, "next": "x" }
//! ```
//!
//! Local times follow the wall clock across daylight-saving changes: a window that
//! opens at 09:00 opens at 09:00 local on both sides of the change. A local time that
//! does not exist on a day (the hour skipped in spring) means the first instant after
//! the skipped hour; a local time that happens twice (the hour repeated in autumn)
//! means the first of the two.
//!
//! For `attribute`, a plain date (`2026-12-01`) is a day on the contact's calendar, and
//! the offset moves along the contact's wall clock whenever the result is a local time
//! (a plain date, or `time_of_day` set: `-7d` is "a week before, same clock time"); for
//! an exact timestamp without `time_of_day` it is an exact duration.
//!
//! A time window is satisfied at the first instant `t >= now` at which the local clock
//! shows a time in `[start, end)` on an allowed weekday (so a window that opens in the
//! skipped hour opens when that hour ends, and one that includes times of the repeated
//! hour is open during both passes). One exception, as cron does it: if a day's whole
//! window lies in a skipped hour, it is not lost for the week but opens when the
//! skipped hour ends, for its usual length.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contact::Contact;
use crate::nodes::Build;
use crate::problem::Kind;
pub use crate::time::resolve_local;
use crate::time::{
    minutes_to_time, parse_hhmm, parse_signed_duration, parse_timestamp, parse_timezone, timestamp_from_json,
};

/// Example nodes, as they appear in a journey's `nodes` array (with their `type`).
/// They are the examples of the JSON Schema and are checked by the tests.
pub const EXAMPLES: [&str; 3] = [
    r#"{ "id": "wait_renewal", "type": "wait_until", "until": { "type": "attribute", "attribute": "renewal_date", "offset": "-7d", "time_of_day": "09:00" }, "next": "send_reminder" }"#,
    r#"{ "id": "wait_launch", "type": "wait_until", "until": { "type": "timestamp", "at": "2026-12-01T09:00:00Z" }, "next": "x" }"#,
    r#"{ "id": "wait_hours", "type": "wait_until", "until": { "type": "time_window", "start": "09:00", "end": "17:30", "days": ["mon","tue","wed","thu","fri"], "timezone": "Europe/Berlin" }, "next": "x" }"#,
];

fn example(index: usize) -> Value {
    serde_json::from_str(EXAMPLES[index]).unwrap_or_default()
}

/// Wait until a moment, then continue to `next`: a fixed date and time, a date stored
/// on the contact (such as a renewal date), or the next opening of a time window
/// (such as business hours in the contact's time zone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example(0), example = example(1), example = example(2))]
pub struct WaitUntil {
    /// Stable, human-readable node id (lowercase letters, digits, `_`, `-`), e.g. `wait_renewal`.
    pub id: String,
    /// The moment to wait for.
    pub until: Until,
    /// The node to continue with once the moment has come.
    pub next: String,
}

/// The moment a `wait_until` step waits for. If it has already passed, the contact continues right away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Until {
    /// A fixed moment, the same for every contact: a launch, the end of a sale.
    Timestamp {
        /// The moment, with its UTC offset: `2026-12-01T09:00:00Z` or `2026-12-01T09:00:00-05:00`.
        /// A plain date (`2026-12-01`) means midnight UTC.
        #[schemars(example = &"2026-12-01T09:00:00Z")]
        at: String,
    },
    /// A date stored on the contact (a renewal date, the end of a trial, an appointment), optionally
    /// moved by an offset and put at a local time of day in the contact's time zone.
    /// If the contact does not have the attribute, or it is not a date, the contact
    /// continues right away and the reason is recorded.
    Attribute {
        /// The contact attribute holding the date: a name such as `renewal_date`, or a dotted
        /// path into nested attributes such as `subscription.renews_on`. Accepted values: a
        /// timestamp (`2026-12-01T09:00:00Z`), a date (`2026-12-01`, a day on the contact's own
        /// calendar) or a number of seconds since 1970-01-01 UTC (Unix time).
        #[schemars(example = &"renewal_date")]
        attribute: String,
        /// Move the date earlier (`-7d`: a week before) or later (`1d`, `2h`). Units: `m`, `h`,
        /// `d` (days), `w` (weeks); ISO 8601 such as `-P7D` works too. Months and years are not
        /// accepted because their length varies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(example = &"-7d")]
        offset: Option<String>,
        /// A local time of day `HH:MM` (24-hour clock) in the contact's time zone, e.g. `09:00`:
        /// the wait ends at this time on the (moved) date. Without it, the wait ends at the exact
        /// moment of the attribute (midnight for a plain date). The contact's time zone is their
        /// `timezone` attribute when it is a valid IANA name, otherwise the journey's `settings.timezone`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), example = &"09:00")]
        time_of_day: Option<String>,
    },
    /// The next time the contact's local clock is inside a weekly window, e.g. business
    /// hours. A contact who is already inside the window continues right away.
    TimeWindow {
        /// When the window opens each allowed day, `HH:MM` (24-hour clock), e.g. `09:00`.
        #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), example = &"09:00")]
        start: String,
        /// When the window closes, `HH:MM`, later than `start` on the same day; `24:00` means the
        /// end of the day. A window that crosses midnight (`22:00` to `06:00`) is not supported:
        /// use `00:00` to `06:00`, or `22:00` to `24:00`.
        #[schemars(regex(pattern = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"), example = &"17:30")]
        end: String,
        /// The weekdays on which the window is open, each at most once, e.g.
        /// `["mon", "tue", "wed", "thu", "fri"]`.
        #[schemars(length(min = 1), extend("uniqueItems" = true))]
        days: Vec<Weekday>,
        /// IANA time zone of the window, e.g. `Europe/Berlin`, the same for every contact.
        /// Without it, the window is in the contact's time zone: their `timezone` attribute
        /// when it is valid, otherwise the journey's `settings.timezone`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(example = &"Europe/Berlin")]
        timezone: Option<String>,
    },
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday
    Mon,
    /// Tuesday
    Tue,
    /// Wednesday
    Wed,
    /// Thursday
    Thu,
    /// Friday
    Fri,
    /// Saturday
    Sat,
    /// Sunday
    Sun,
}

impl Weekday {
    /// The same day as chrono writes it.
    pub fn to_chrono(self) -> chrono::Weekday {
        match self {
            Weekday::Mon => chrono::Weekday::Mon,
            Weekday::Tue => chrono::Weekday::Tue,
            Weekday::Wed => chrono::Weekday::Wed,
            Weekday::Thu => chrono::Weekday::Thu,
            Weekday::Fri => chrono::Weekday::Fri,
            Weekday::Sat => chrono::Weekday::Sat,
            Weekday::Sun => chrono::Weekday::Sun,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
    }
}

/// The runtime form of a `wait_until` node, built by [`WaitUntil::build`].
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    rule: Rule,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    At(DateTime<Utc>),
    Attribute { name: String, path: Vec<String>, offset: TimeDelta, time_of_day: Option<NaiveTime> },
    Window(Window),
}

/// A weekly window in local time; `start < end`, both measured from local midnight.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    start: TimeDelta,
    end: TimeDelta,
    /// Bit `n` set: open on the weekday `n` days from Monday.
    days: u8,
    timezone: Option<Tz>,
}

/// When a run may continue past a `wait_until` node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Continue at this instant; a time at or before `now` means right away.
    At(DateTime<Utc>),
    /// The contact attribute is absent or not a date: continue right away and record this reason.
    Missing(String),
}

/// How far ahead a time window is searched. Any valid window opens within 7 days (plus
/// at most a daylight-saving shift), so the limit is never reached in practice.
const LOOKAHEAD: TimeDelta = TimeDelta::days(8);

impl WaitUntil {
    /// Check the configuration and parse it into its runtime form. Every problem is
    /// reported to `cx`; returns `None` if there was any.
    pub fn build(&self, cx: &mut Build) -> Option<Compiled> {
        let before = cx.problems.len();
        let rule = match &self.until {
            Until::Timestamp { at: text } => {
                let at = parse_timestamp(text);
                if at.is_none() {
                    cx.error(
                        Kind::InvalidValue,
                        "until/at",
                        format!(
                            "`{text}` is not a timestamp; expected a date and time with its UTC offset, e.g. \
                             `2026-12-01T09:00:00Z` or `2026-12-01T09:00:00-05:00`"
                        ),
                    );
                }
                at.map(Rule::At)
            }
            Until::Attribute { attribute, offset, time_of_day } => {
                let path = parse_attribute_path(attribute);
                if path.is_none() {
                    cx.error(
                        Kind::InvalidValue,
                        "until/attribute",
                        format!(
                            "`{attribute}` is not an attribute name; expected a contact attribute such as \
                             `renewal_date`, or a dotted path such as `subscription.renews_on`"
                        ),
                    );
                }
                let offset = match offset.as_deref().map(parse_signed_duration).transpose() {
                    Ok(offset) => Some(offset.unwrap_or_default()),
                    Err(message) => {
                        cx.error(Kind::InvalidDuration, "until/offset", message);
                        None
                    }
                };
                let time_of_day = match time_of_day.as_deref().map(|t| parse_hhmm(t, false)).transpose() {
                    Ok(t) => Some(t.map(|minutes| minutes_to_time(u32::from(minutes)))),
                    Err(message) => {
                        cx.error(Kind::InvalidValue, "until/time_of_day", message);
                        None
                    }
                };
                match (path, offset, time_of_day) {
                    (Some(path), Some(offset), Some(time_of_day)) => {
                        Some(Rule::Attribute { name: attribute.clone(), path, offset, time_of_day })
                    }
                    _ => None,
                }
            }
            Until::TimeWindow { start, end, days, timezone } => build_window(cx, start, end, days, timezone.as_deref()),
        };
        if cx.problems.len() > before {
            return None;
        }
        rule.map(|rule| Compiled { rule })
    }
}

fn build_window(cx: &mut Build, start: &str, end: &str, days: &[Weekday], timezone: Option<&str>) -> Option<Rule> {
    let start_minutes = parse_hhmm(start, false).map_err(|m| cx.error(Kind::InvalidValue, "until/start", m)).ok();
    let end_minutes = parse_hhmm(end, true).map_err(|m| cx.error(Kind::InvalidValue, "until/end", m)).ok();
    if let (Some(s), Some(e)) = (start_minutes, end_minutes)
        && e <= s
    {
        let message = if e == s {
            format!("the window closes (`{end}`) when it opens (`{start}`); `end` must be later than `start`")
        } else {
            format!(
                "the window closes (`{end}`) before it opens (`{start}`); a window that crosses midnight is not \
                 supported: use `{start}` to `24:00` or `00:00` to `{end}`, or `00:00` to `24:00` for the whole day"
            )
        };
        cx.error(Kind::InvalidValue, "until/end", message);
    }

    let mut mask = 0u8;
    if days.is_empty() {
        cx.error(
            Kind::InvalidValue,
            "until/days",
            "no day is allowed; list at least one, e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
        );
    }
    for (i, day) in days.iter().enumerate() {
        let bit = 1u8 << day.to_chrono().num_days_from_monday();
        if mask & bit != 0 {
            cx.error(Kind::InvalidValue, &format!("until/days/{i}"), format!("`{}` is listed twice", day.name()));
        }
        mask |= bit;
    }

    let timezone = match timezone.map(parse_timezone).transpose() {
        Ok(tz) => Some(tz),
        Err(message) => {
            cx.error(Kind::InvalidTimezone, "until/timezone", message);
            None
        }
    };

    Some(Rule::Window(Window {
        start: TimeDelta::minutes(i64::from(start_minutes?)),
        end: TimeDelta::minutes(i64::from(end_minutes?)),
        days: mask,
        timezone: timezone?,
    }))
}

fn parse_attribute_path(text: &str) -> Option<Vec<String>> {
    let path: Vec<String> = text.split('.').map(str::to_owned).collect();
    path.iter().all(|segment| !segment.trim().is_empty()).then_some(path)
}

impl Compiled {
    /// When the run may continue. `default_tz` is the journey's `settings.timezone`. The
    /// contact's time zone is the contact attribute `timezone` (an IANA name) when present
    /// and valid, else `default_tz`; a per-node `timezone` on `time_window` overrides both.
    ///
    /// Returns a time `<= now` when the run may continue immediately (e.g. already inside
    /// the window, or the timestamp has passed).
    pub fn target(&self, now: DateTime<Utc>, contact: &Contact, default_tz: Tz) -> Target {
        match &self.rule {
            Rule::At(at) => Target::At(*at),
            Rule::Attribute { name, path, offset, time_of_day } => {
                attribute_target(contact, name, path, *offset, *time_of_day, contact_timezone(contact, default_tz))
            }
            Rule::Window(window) => {
                let tz = window.timezone.unwrap_or_else(|| contact_timezone(contact, default_tz));
                Target::At(window.next_open(now, tz))
            }
        }
    }
}

/// The contact's time zone: their `timezone` attribute when it is a valid IANA name, else `default_tz`.
pub fn contact_timezone(contact: &Contact, default_tz: Tz) -> Tz {
    contact
        .attributes
        .get("timezone")
        .and_then(Value::as_str)
        .and_then(|name| parse_timezone(name.trim()).ok())
        .unwrap_or(default_tz)
}

fn attribute_target(
    contact: &Contact,
    name: &str,
    path: &[String],
    offset: TimeDelta,
    time_of_day: Option<NaiveTime>,
    tz: Tz,
) -> Target {
    let Some(value) = contact.attribute(path).filter(|v| !v.is_null()) else {
        return Target::Missing(format!("contact attribute `{name}` is missing"));
    };
    let out_of_range = || Target::Missing(format!("contact attribute `{name}` moved by the offset is out of range"));
    // A plain date is a day on the contact's own calendar: local midnight, moved along the wall clock.
    if let Some(date) = value.as_str().and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()) {
        let Some(local) = date.and_time(NaiveTime::MIN).checked_add_signed(offset) else {
            return out_of_range();
        };
        let local = time_of_day.map_or(local, |t| local.date().and_time(t));
        return Target::At(resolve_local(tz, local));
    }
    let Some(instant) = timestamp_from_json(value) else {
        return Target::Missing(format!(
            "contact attribute `{name}` is not a date: {}; expected a timestamp such as `2026-12-01T09:00:00Z`, \
             a date such as `2026-12-01` or Unix seconds",
            preview(value)
        ));
    };
    match time_of_day {
        None => instant.checked_add_signed(offset).map_or_else(out_of_range, Target::At),
        // The local calendar date of the moved moment, at that time of day.
        Some(t) => match instant.with_timezone(&tz).naive_local().checked_add_signed(offset) {
            Some(local) => Target::At(resolve_local(tz, local.date().and_time(t))),
            None => out_of_range(),
        },
    }
}

/// A short rendering of a JSON value for messages.
fn preview(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 60 {
        format!("`{text}`")
    } else {
        format!("`{}…`", text.chars().take(57).collect::<String>())
    }
}

impl Window {
    fn allows(&self, date: NaiveDate) -> bool {
        self.days & (1 << date.weekday().num_days_from_monday()) != 0
    }

    fn opens(&self, date: NaiveDate) -> NaiveDateTime {
        date.and_time(NaiveTime::MIN) + self.start
    }

    fn closes(&self, date: NaiveDate) -> NaiveDateTime {
        date.and_time(NaiveTime::MIN) + self.end
    }

    /// The first instant `>= now` at which the window is open in `tz`: the local clock shows
    /// a time in `[start, end)` on an allowed day, or a day's window lay entirely in a skipped
    /// hour and is open for its usual length from the end of that hour.
    fn next_open(&self, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let horizon = now.checked_add_signed(LOOKAHEAD).unwrap_or(DateTime::<Utc>::MAX_UTC);
        // Start a day back: a window swallowed by a skipped hour may have opened before `now`.
        let since = now.checked_sub_signed(TimeDelta::days(1)).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let segments = offset_segments(tz, since, horizon);
        for (i, &(from, offset)) in segments.iter().enumerate() {
            let until = segments.get(i + 1).map_or(horizon, |s| s.0);
            let shift = TimeDelta::seconds(offset);
            // The clock jumps forward at `from`: is a whole window in the skipped time?
            if let Some(&(_, previous)) = i.checked_sub(1).and_then(|p| segments.get(p))
                && previous < offset
            {
                let (gap_from, gap_to) = (from.naive_utc() + TimeDelta::seconds(previous), from.naive_utc() + shift);
                let swallowed = dates(gap_from, gap_to)
                    .any(|d| self.allows(d) && gap_from <= self.opens(d) && self.closes(d) <= gap_to);
                if swallowed && from + (self.end - self.start) > now {
                    return from.max(now);
                }
            }
            // Local times shown during this segment: [lo, hi).
            let (lo, hi) = (from.naive_utc() + shift, until.naive_utc() + shift);
            for date in dates(lo, hi).filter(|&d| self.allows(d)) {
                let (open, close) = (self.opens(date).max(lo), self.closes(date).min(hi));
                if open < close && (close - shift).and_utc() > now {
                    return (open - shift).and_utc().max(now);
                }
            }
        }
        horizon
    }
}

/// Every calendar date from `from`'s to `to`'s, inclusive.
fn dates(from: NaiveDateTime, to: NaiveDateTime) -> impl Iterator<Item = NaiveDate> {
    let last = to.date();
    from.date().iter_days().take_while(move |d| *d <= last)
}

/// The UTC offset of `tz` at a Unix second, in seconds.
fn offset_at(tz: Tz, second: i64) -> i64 {
    DateTime::from_timestamp(second, 0)
        .map_or(0, |t| tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc().into())
}

/// Split `[from, to)` into stretches of constant UTC offset: `(start, offset seconds)`.
/// Transitions are found by probing every hour and bisecting to the second (tzdb
/// transitions fall on whole seconds and are far more than an hour apart).
fn offset_segments(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(DateTime<Utc>, i64)> {
    let mut current = offset_at(tz, from.timestamp());
    let mut segments = vec![(from, current)];
    let (mut second, end) = (from.timestamp(), to.timestamp());
    while second < end {
        let probe = (second + 3600).min(end);
        if offset_at(tz, probe) == current {
            second = probe;
            continue;
        }
        // offset_at(lo) == current, offset_at(hi) != current
        let (mut lo, mut hi) = (second, probe);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if offset_at(tz, mid) == current { lo = mid } else { hi = mid }
        }
        current = offset_at(tz, hi);
        segments.push((DateTime::from_timestamp(hi, 0).unwrap_or(to), current));
        second = hi;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Problem;
    use chrono::{MappedLocalTime, Timelike};
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;
    use proptest::prelude::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// Deserialize a node the way the caller does (dropping `type`) and build it at `/nodes/4`.
    fn build_node(json: &str) -> (Option<Compiled>, Vec<Problem>) {
        let mut value: Value = serde_json::from_str(json).unwrap();
        value.as_object_mut().unwrap().remove("type");
        let node: WaitUntil = serde_json::from_value(value).unwrap();
        let mut problems = Vec::new();
        let compiled = node.build(&mut Build::new("/nodes/4", Some("w".into()), &mut problems));
        (compiled, problems)
    }

    fn build_until(until: Value) -> (Option<Compiled>, Vec<Problem>) {
        build_node(&serde_json::json!({ "id": "w", "type": "wait_until", "until": until, "next": "x" }).to_string())
    }

    fn compiled(until: Value) -> Compiled {
        let (compiled, problems) = build_until(until);
        assert!(problems.is_empty(), "{problems:?}");
        compiled.unwrap()
    }

    fn window(start: &str, end: &str, days: &[&str]) -> Compiled {
        compiled(serde_json::json!({ "type": "time_window", "start": start, "end": end, "days": days }))
    }

    const ALL: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];

    fn at(target: Target) -> DateTime<Utc> {
        match target {
            Target::At(t) => t,
            Target::Missing(reason) => panic!("missing: {reason}"),
        }
    }

    fn contact_with(attributes: Value) -> Contact {
        let mut contact = Contact::new("c1");
        contact.attributes = attributes.as_object().unwrap().clone();
        contact
    }

    fn nobody() -> Contact {
        Contact::new("c1")
    }

    // ---- configuration ----

    #[test]
    fn examples_deserialize_and_build() {
        for json in EXAMPLES {
            let (compiled, problems) = build_node(json);
            assert!(problems.is_empty(), "{json}: {problems:?}");
            assert!(compiled.is_some(), "{json}");
        }
    }

    #[test]
    fn module_doc_examples_are_the_schema_examples() {
        let doc: Vec<&str> =
            include_str!("wait_until.rs").lines().filter_map(|line| line.strip_prefix("//! {")).collect();
        assert_eq!(doc.len(), EXAMPLES.len());
        for (doc, example) in doc.iter().zip(EXAMPLES) {
            let doc: Value = serde_json::from_str(&format!("{{{doc}")).unwrap();
            assert_eq!(doc, serde_json::from_str::<Value>(example).unwrap());
        }
    }

    #[test]
    fn serialization_round_trips_without_defaults() {
        for json in EXAMPLES {
            let mut value: Value = serde_json::from_str(json).unwrap();
            value.as_object_mut().unwrap().remove("type");
            let node: WaitUntil = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&node).unwrap(), value);
        }
        let node: WaitUntil = serde_json::from_value(serde_json::json!({
            "id": "w", "until": { "type": "attribute", "attribute": "renewal_date" }, "next": "x"
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"{"id":"w","until":{"type":"attribute","attribute":"renewal_date"},"next":"x"}"#
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        for json in [
            r#"{"id":"w","until":{"type":"timestamp","at":"2026-12-01T09:00:00Z","foo":1},"next":"x"}"#,
            r#"{"id":"w","until":{"type":"timestamp","at":"2026-12-01T09:00:00Z"},"next":"x","foo":1}"#,
            r#"{"id":"w","until":{"type":"time_window","start":"09:00","end":"17:00","days":["mon"],"tz":"UTC"},"next":"x"}"#,
            r#"{"id":"w","until":{"type":"attribute","attribute":"a","time":"09:00"},"next":"x"}"#,
        ] {
            let err = serde_json::from_str::<WaitUntil>(json).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{json}: {err}");
        }
        // Unknown variant and unknown day are refused too.
        assert!(serde_json::from_str::<WaitUntil>(r#"{"id":"w","until":{"type":"soon"},"next":"x"}"#).is_err());
        let monday =
            r#"{"id":"w","until":{"type":"time_window","start":"09:00","end":"17:00","days":["monday"]},"next":"x"}"#;
        assert!(serde_json::from_str::<WaitUntil>(monday).is_err());
    }

    #[test]
    fn schema_documents_every_variant() {
        let schema = serde_json::to_value(schemars::schema_for!(WaitUntil)).unwrap();
        let text = schema.to_string();
        for needle in ["\"timestamp\"", "\"attribute\"", "\"time_window\"", "uniqueItems", "minItems", "24:00"] {
            assert!(text.contains(needle), "schema lacks {needle}: {text}");
        }
        assert_eq!(schema["examples"].as_array().unwrap().len(), 3);
        let until = &schema["$defs"]["Until"]["oneOf"];
        for variant in until.as_array().unwrap() {
            assert!(variant["description"].is_string(), "{variant}");
            for (name, property) in variant["properties"].as_object().unwrap() {
                assert!(name == "type" || property["description"].is_string(), "{name}: {property}");
            }
        }
    }

    #[test]
    fn every_bad_configuration_names_its_field() {
        let cases = [
            (serde_json::json!({ "type": "timestamp", "at": "next tuesday" }), "/until/at", Kind::InvalidValue),
            (serde_json::json!({ "type": "timestamp", "at": "2026-13-01T09:00:00Z" }), "/until/at", Kind::InvalidValue),
            (serde_json::json!({ "type": "attribute", "attribute": "" }), "/until/attribute", Kind::InvalidValue),
            (serde_json::json!({ "type": "attribute", "attribute": "a..b" }), "/until/attribute", Kind::InvalidValue),
            (
                serde_json::json!({ "type": "attribute", "attribute": "d", "offset": "a week" }),
                "/until/offset",
                Kind::InvalidDuration,
            ),
            (
                serde_json::json!({ "type": "attribute", "attribute": "d", "offset": "-1 month" }),
                "/until/offset",
                Kind::InvalidDuration,
            ),
            (
                serde_json::json!({ "type": "attribute", "attribute": "d", "time_of_day": "9am" }),
                "/until/time_of_day",
                Kind::InvalidValue,
            ),
            (
                serde_json::json!({ "type": "attribute", "attribute": "d", "time_of_day": "24:00" }),
                "/until/time_of_day",
                Kind::InvalidValue,
            ),
            (
                serde_json::json!({ "type": "time_window", "start": "9:00", "end": "17:00", "days": ALL }),
                "/until/start",
                Kind::InvalidValue,
            ),
            (
                serde_json::json!({ "type": "time_window", "start": "24:00", "end": "24:00", "days": ALL }),
                "/until/start",
                Kind::InvalidValue,
            ),
            (
                serde_json::json!({ "type": "time_window", "start": "09:00", "end": "17:60", "days": ALL }),
                "/until/end",
                Kind::InvalidValue,
            ),
            (
                serde_json::json!({ "type": "time_window", "start": "22:00", "end": "06:00", "days": ALL }),
                "/until/end",
                Kind::InvalidValue,
            ),
            (
                serde_json::json!({ "type": "time_window", "start": "09:00", "end": "09:00", "days": ALL }),
                "/until/end",
                Kind::InvalidValue,
            ),
            (
                serde_json::json!({ "type": "time_window", "start": "09:00", "end": "17:00", "days": [] }),
                "/until/days",
                Kind::InvalidValue,
            ),
            (
                serde_json::json!({ "type": "time_window", "start": "09:00", "end": "17:00", "days": ["mon", "tue", "mon"] }),
                "/until/days/2",
                Kind::InvalidValue,
            ),
            (
                serde_json::json!({ "type": "time_window", "start": "09:00", "end": "17:00", "days": ALL, "timezone": "Mars/Olympus" }),
                "/until/timezone",
                Kind::InvalidTimezone,
            ),
        ];
        for (until, pointer, kind) in cases {
            let (compiled, problems) = build_until(until.clone());
            assert!(compiled.is_none(), "{until}");
            assert_eq!(problems.len(), 1, "{until}: {problems:?}");
            let problem = &problems[0];
            assert_eq!(problem.pointer, format!("/nodes/4{pointer}"), "{until}");
            assert_eq!(problem.code, kind, "{until}");
            assert_eq!(problem.node.as_deref(), Some("w"));
            assert!(!problem.message.is_empty());
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let (compiled, problems) = build_until(serde_json::json!({
            "type": "time_window", "start": "9", "end": "25:00", "days": ["sat", "sat"], "timezone": "Nowhere"
        }));
        assert!(compiled.is_none());
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/nodes/4/until/start", "/nodes/4/until/end", "/nodes/4/until/days/1", "/nodes/4/until/timezone"]
        );
        let (_, problems) = build_until(serde_json::json!({
            "type": "attribute", "attribute": ".x", "offset": "soon", "time_of_day": "noon"
        }));
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, ["/nodes/4/until/attribute", "/nodes/4/until/offset", "/nodes/4/until/time_of_day"]);
    }

    #[test]
    fn crossing_midnight_message_suggests_a_fix() {
        let (_, problems) = build_until(serde_json::json!({
            "type": "time_window", "start": "22:00", "end": "06:00", "days": ALL
        }));
        assert!(problems[0].message.contains("crosses midnight"), "{}", problems[0].message);
        assert!(problems[0].message.contains("`22:00` to `24:00`"), "{}", problems[0].message);
    }

    // ---- timestamp ----

    #[test]
    fn timestamp_is_the_fixed_instant_even_when_past() {
        let c = compiled(serde_json::json!({ "type": "timestamp", "at": "2026-12-01T10:00:00+01:00" }));
        assert_eq!(at(c.target(utc("2026-01-01T00:00:00Z"), &nobody(), Berlin)), utc("2026-12-01T09:00:00Z"));
        assert_eq!(at(c.target(utc("2027-01-01T00:00:00Z"), &nobody(), Berlin)), utc("2026-12-01T09:00:00Z"));
        let c = compiled(serde_json::json!({ "type": "timestamp", "at": "2026-12-01" }));
        assert_eq!(at(c.target(utc("2026-01-01T00:00:00Z"), &nobody(), Berlin)), utc("2026-12-01T00:00:00Z"));
    }

    // ---- attribute ----

    fn renewal(offset: Option<&str>, time_of_day: Option<&str>) -> Compiled {
        let mut until = serde_json::json!({ "type": "attribute", "attribute": "renewal_date" });
        if let Some(offset) = offset {
            until["offset"] = offset.into();
        }
        if let Some(t) = time_of_day {
            until["time_of_day"] = t.into();
        }
        compiled(until)
    }

    const NOW: &str = "2026-01-01T00:00:00Z";

    #[test]
    fn attribute_with_negative_offset() {
        let c = renewal(Some("-7d"), None);
        let contact = contact_with(serde_json::json!({ "renewal_date": "2026-06-15T12:00:00Z" }));
        assert_eq!(at(c.target(utc(NOW), &contact, New_York)), utc("2026-06-08T12:00:00Z"));
        // No offset: the attribute itself.
        let c = renewal(None, None);
        assert_eq!(at(c.target(utc(NOW), &contact, New_York)), utc("2026-06-15T12:00:00Z"));
    }

    #[test]
    fn attribute_at_time_of_day_in_the_contact_zone() {
        let c = renewal(Some("-7d"), Some("09:00"));
        // A plain date is a day on the contact's calendar.
        let contact =
            contact_with(serde_json::json!({ "renewal_date": "2026-06-15", "timezone": "America/Los_Angeles" }));
        assert_eq!(at(c.target(utc(NOW), &contact, Berlin)), utc("2026-06-08T16:00:00Z"));
        // Without a contact zone, the journey's zone.
        let contact = contact_with(serde_json::json!({ "renewal_date": "2026-06-15" }));
        assert_eq!(at(c.target(utc(NOW), &contact, Berlin)), utc("2026-06-08T07:00:00Z"));
        // A timestamp is first put on the contact's calendar: 03:00Z on the 15th is the 14th in Los Angeles.
        let contact = contact_with(
            serde_json::json!({ "renewal_date": "2026-06-15T03:00:00Z", "timezone": "America/Los_Angeles" }),
        );
        assert_eq!(at(c.target(utc(NOW), &contact, Berlin)), utc("2026-06-07T16:00:00Z"));
        // A week before a date just after the spring change is still 09:00 local (EST, not EDT).
        let contact = contact_with(serde_json::json!({ "renewal_date": "2026-03-10" }));
        assert_eq!(at(c.target(utc(NOW), &contact, New_York)), utc("2026-03-03T14:00:00Z"));
        let contact = contact_with(serde_json::json!({ "renewal_date": "2026-03-10T04:30:00Z" })); // 00:30 EDT
        assert_eq!(at(c.target(utc(NOW), &contact, New_York)), utc("2026-03-03T14:00:00Z"));
    }

    #[test]
    fn attribute_plain_date_without_time_is_local_midnight() {
        let c = renewal(None, None);
        let contact = contact_with(serde_json::json!({ "renewal_date": "2026-06-15", "timezone": "Europe/Berlin" }));
        assert_eq!(at(c.target(utc(NOW), &contact, New_York)), utc("2026-06-14T22:00:00Z"));
    }

    #[test]
    fn attribute_time_of_day_follows_dst_rules() {
        // 02:30 does not exist on 2026-03-08 in New York: 03:00 EDT.
        let c = renewal(None, Some("02:30"));
        let contact = contact_with(serde_json::json!({ "renewal_date": "2026-03-08" }));
        assert_eq!(at(c.target(utc(NOW), &contact, New_York)), utc("2026-03-08T07:00:00Z"));
        // 01:30 happens twice on 2026-11-01 in New York: the first (EDT).
        let c = renewal(None, Some("01:30"));
        let contact = contact_with(serde_json::json!({ "renewal_date": "2026-11-01" }));
        assert_eq!(at(c.target(utc(NOW), &contact, New_York)), utc("2026-11-01T05:30:00Z"));
        // Berlin: 02:30 skipped on 2026-03-29, repeated on 2026-10-25.
        let c = renewal(None, Some("02:30"));
        let contact = contact_with(serde_json::json!({ "renewal_date": "2026-03-29" }));
        assert_eq!(at(c.target(utc(NOW), &contact, Berlin)), utc("2026-03-29T01:00:00Z"));
        let contact = contact_with(serde_json::json!({ "renewal_date": "2026-10-25" }));
        assert_eq!(at(c.target(utc(NOW), &contact, Berlin)), utc("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn attribute_epoch_seconds_and_nested_paths() {
        let c = renewal(Some("1d"), None);
        let contact = contact_with(serde_json::json!({ "renewal_date": 1_781_524_800 }));
        assert_eq!(
            at(c.target(utc(NOW), &contact, Berlin)),
            DateTime::from_timestamp(1_781_524_800 + 86_400, 0).unwrap()
        );
        let c = compiled(
            serde_json::json!({ "type": "attribute", "attribute": "subscription.renews_on", "offset": "-2h" }),
        );
        let contact = contact_with(serde_json::json!({ "subscription": { "renews_on": "2026-06-15T12:00:00Z" } }));
        assert_eq!(at(c.target(utc(NOW), &contact, Berlin)), utc("2026-06-15T10:00:00Z"));
    }

    #[test]
    fn missing_or_non_date_attribute_continues_with_a_reason() {
        let c = renewal(Some("-7d"), Some("09:00"));
        for contact in [nobody(), contact_with(serde_json::json!({ "renewal_date": null }))] {
            assert_eq!(
                c.target(utc(NOW), &contact, Berlin),
                Target::Missing("contact attribute `renewal_date` is missing".into())
            );
        }
        for value in [serde_json::json!("soon"), serde_json::json!(true), serde_json::json!({ "day": 1 })] {
            let contact = contact_with(serde_json::json!({ "renewal_date": value }));
            let Target::Missing(reason) = c.target(utc(NOW), &contact, Berlin) else { panic!("{value}") };
            assert!(reason.starts_with("contact attribute `renewal_date` is not a date"), "{reason}");
        }
        let long = "x".repeat(500);
        let contact = contact_with(serde_json::json!({ "renewal_date": long }));
        let Target::Missing(reason) = c.target(utc(NOW), &contact, Berlin) else { panic!() };
        assert!(reason.len() < 250, "{reason}");
    }

    // ---- time window ----

    /// (zone, Saturday evening before the change (UTC), Monday 09:00 local, Sunday 09:00 local)
    const DST_WEEKENDS: [(Tz, &str, &str, &str); 4] = [
        // US spring forward 2026-03-08: EST (-5) on Saturday, EDT (-4) from Sunday.
        (New_York, "2026-03-08T01:00:00Z", "2026-03-09T13:00:00Z", "2026-03-08T13:00:00Z"),
        // US fall back 2026-11-01: EDT on Saturday, EST from Sunday.
        (New_York, "2026-11-01T00:00:00Z", "2026-11-02T14:00:00Z", "2026-11-01T14:00:00Z"),
        // EU spring forward 2026-03-29: CET (+1) on Saturday, CEST (+2) from Sunday.
        (Berlin, "2026-03-28T19:00:00Z", "2026-03-30T07:00:00Z", "2026-03-29T07:00:00Z"),
        // EU fall back 2026-10-25: CEST on Saturday, CET from Sunday.
        (Berlin, "2026-10-24T18:00:00Z", "2026-10-26T08:00:00Z", "2026-10-25T08:00:00Z"),
    ];

    #[test]
    fn window_over_dst_weekends_opens_at_local_nine() {
        for (tz, saturday_evening, monday, sunday) in DST_WEEKENDS {
            let now = utc(saturday_evening);
            assert_eq!(now.with_timezone(&tz).format("%a %H:%M").to_string(), "Sat 20:00");
            let weekdays = window("09:00", "17:00", &WEEKDAYS);
            assert_eq!(at(weekdays.target(now, &nobody(), tz)), utc(monday), "{tz} {saturday_evening}");
            let every_day = window("09:00", "17:00", &ALL);
            assert_eq!(at(every_day.target(now, &nobody(), tz)), utc(sunday), "{tz} {saturday_evening}");
        }
        // Before the US change the same window opened at 14:00 UTC.
        let friday_evening = utc("2026-03-07T01:00:00Z");
        assert_eq!(
            at(window("09:00", "17:00", &ALL).target(friday_evening, &nobody(), New_York)),
            utc("2026-03-07T14:00:00Z")
        );
    }

    #[test]
    fn window_start_in_spring_gap_opens_when_the_gap_ends() {
        // 02:30 does not exist: 03:00 local.
        let c = window("02:30", "17:00", &["sun"]);
        assert_eq!(at(c.target(utc("2026-03-08T01:00:00Z"), &nobody(), New_York)), utc("2026-03-08T07:00:00Z"));
        assert_eq!(at(c.target(utc("2026-03-28T19:00:00Z"), &nobody(), Berlin)), utc("2026-03-29T01:00:00Z"));
        // A window entirely inside the skipped hour opens when it ends (as cron does), for its usual 30 minutes...
        let c = window("02:10", "02:40", &["sun"]);
        assert_eq!(at(c.target(utc("2026-03-08T01:00:00Z"), &nobody(), New_York)), utc("2026-03-08T07:00:00Z"));
        assert_eq!(at(c.target(utc("2026-03-08T07:00:00Z"), &nobody(), New_York)), utc("2026-03-08T07:00:00Z"));
        assert_eq!(at(c.target(utc("2026-03-08T07:29:59Z"), &nobody(), New_York)), utc("2026-03-08T07:29:59Z"));
        // ...and after that, next week.
        assert_eq!(at(c.target(utc("2026-03-08T07:30:00Z"), &nobody(), New_York)), utc("2026-03-15T06:10:00Z"));
        // A window that starts in the gap and ends after it closes at its usual time.
        let c = window("02:30", "03:15", &["sun"]);
        assert_eq!(at(c.target(utc("2026-03-08T07:14:00Z"), &nobody(), New_York)), utc("2026-03-08T07:14:00Z"));
        assert_eq!(at(c.target(utc("2026-03-08T07:15:00Z"), &nobody(), New_York)), utc("2026-03-15T06:30:00Z"));
    }

    #[test]
    fn window_start_in_autumn_overlap_opens_at_the_first() {
        let c = window("01:30", "17:00", &["sun"]);
        assert_eq!(at(c.target(utc("2026-11-01T00:00:00Z"), &nobody(), New_York)), utc("2026-11-01T05:30:00Z"));
        let c = window("02:30", "17:00", &["sun"]);
        assert_eq!(at(c.target(utc("2026-10-24T18:00:00Z"), &nobody(), Berlin)), utc("2026-10-25T00:30:00Z"));
        // Inside during the first pass, and still inside during the second.
        assert_eq!(at(c.target(utc("2026-10-25T00:45:00Z"), &nobody(), Berlin)), utc("2026-10-25T00:45:00Z"));
        assert_eq!(at(c.target(utc("2026-10-25T01:45:00Z"), &nobody(), Berlin)), utc("2026-10-25T01:45:00Z"));
    }

    #[test]
    fn window_reopens_when_the_clock_falls_back_into_it() {
        // 01:00–01:45 on 2026-11-01 New York; at 01:50 EDT the clock will show 01:00 again at 06:00Z.
        let c = window("01:00", "01:45", &["sun"]);
        assert_eq!(at(c.target(utc("2026-11-01T05:50:00Z"), &nobody(), New_York)), utc("2026-11-01T06:00:00Z"));
        // Falling back into the middle of a window: 00:30–01:30, at 01:45 EDT → 01:00 EST.
        let c = window("00:30", "01:30", &["sun"]);
        assert_eq!(at(c.target(utc("2026-11-01T05:45:00Z"), &nobody(), New_York)), utc("2026-11-01T06:00:00Z"));
    }

    #[test]
    fn contact_timezone_overrides_default_and_node_timezone_overrides_both() {
        let c = window("09:00", "17:00", &WEEKDAYS);
        let monday_early = utc("2026-06-15T03:00:00Z");
        let berlin = contact_with(serde_json::json!({ "timezone": "Europe/Berlin" }));
        assert_eq!(at(c.target(monday_early, &berlin, New_York)), utc("2026-06-15T07:00:00Z"));
        assert_eq!(at(c.target(monday_early, &nobody(), New_York)), utc("2026-06-15T13:00:00Z"));
        for bad in [serde_json::json!("Mars/Olympus"), serde_json::json!(""), serde_json::json!(5)] {
            let contact = contact_with(serde_json::json!({ "timezone": bad }));
            assert_eq!(at(c.target(monday_early, &contact, New_York)), utc("2026-06-15T13:00:00Z"), "{bad}");
        }
        let tokyo = compiled(serde_json::json!({
            "type": "time_window", "start": "09:00", "end": "17:00", "days": WEEKDAYS, "timezone": "Asia/Tokyo"
        }));
        // 03:00Z Monday is 12:00 in Tokyo: inside.
        assert_eq!(at(tokyo.target(monday_early, &berlin, New_York)), monday_early);
    }

    #[test]
    fn inside_the_window_continues_now() {
        let c = window("09:00", "17:30", &WEEKDAYS);
        let now = utc("2026-06-17T15:29:59.500Z"); // Wednesday 17:29:59.5 Berlin
        assert_eq!(at(c.target(now, &nobody(), Berlin)), now);
        let at_close = utc("2026-06-17T15:30:00Z");
        assert_eq!(at(c.target(at_close, &nobody(), Berlin)), utc("2026-06-18T07:00:00Z"));
        let at_open = utc("2026-06-17T07:00:00Z");
        assert_eq!(at(c.target(at_open, &nobody(), Berlin)), at_open);
    }

    #[test]
    fn weekend_only_window() {
        let c = window("10:00", "14:00", &["sat", "sun"]);
        let wednesday = utc("2026-06-17T12:00:00Z");
        assert_eq!(at(c.target(wednesday, &nobody(), Berlin)), utc("2026-06-20T08:00:00Z"));
        let sunday_evening = utc("2026-06-21T18:00:00Z");
        assert_eq!(at(c.target(sunday_evening, &nobody(), Berlin)), utc("2026-06-27T08:00:00Z"));
        // Friday evening in New York is already Saturday in Berlin but not in New York.
        let friday = utc("2026-06-19T23:00:00Z");
        assert_eq!(at(c.target(friday, &nobody(), New_York)), utc("2026-06-20T14:00:00Z"));
    }

    #[test]
    fn window_until_end_of_day() {
        let c = window("22:00", "24:00", &ALL);
        let late = utc("2026-06-17T21:59:59Z"); // 23:59:59 Berlin
        assert_eq!(at(c.target(late, &nobody(), Berlin)), late);
        let after_midnight = utc("2026-06-17T22:10:00Z"); // 00:10 Berlin
        assert_eq!(at(c.target(after_midnight, &nobody(), Berlin)), utc("2026-06-18T20:00:00Z"));
        let whole_day = window("00:00", "24:00", &["wed"]);
        let tuesday = utc("2026-06-16T12:00:00Z");
        assert_eq!(at(whole_day.target(tuesday, &nobody(), Berlin)), utc("2026-06-16T22:00:00Z"));
    }

    #[test]
    fn window_a_week_away() {
        let c = window("09:00", "09:01", &["mon"]);
        let just_missed = utc("2026-06-15T07:01:00Z"); // Monday 09:01 Berlin
        assert_eq!(at(c.target(just_missed, &nobody(), Berlin)), utc("2026-06-22T07:00:00Z"));
    }

    // ---- properties ----

    const ZONES: [Tz; 7] = [
        chrono_tz::UTC,
        New_York,
        Berlin,
        chrono_tz::Australia::Lord_Howe, // 30-minute DST
        chrono_tz::America::Santiago,    // changes at midnight
        chrono_tz::Asia::Kolkata,
        chrono_tz::Pacific::Chatham, // +12:45 / +13:45
    ];

    fn inside(window: &Window, tz: Tz, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&tz).naive_local();
        let since_midnight = local - local.date().and_time(NaiveTime::MIN);
        window.allows(local.date()) && window.start <= since_midnight && since_midnight < window.end
    }

    fn in_gap(tz: Tz, local: NaiveDateTime) -> bool {
        matches!(tz.from_local_datetime(&local), MappedLocalTime::None)
    }

    /// Test oracle for a window swallowed by a skipped hour: open for its usual length from the end of the gap.
    fn swallowed(window: &Window, tz: Tz, t: DateTime<Utc>) -> bool {
        let today = t.with_timezone(&tz).date_naive();
        [today, today.pred_opt().unwrap(), today.pred_opt().unwrap().pred_opt().unwrap()].into_iter().any(|d| {
            let (open, close) = (window.opens(d), window.closes(d));
            if !window.allows(d) || !in_gap(tz, open) {
                return false;
            }
            let gap_end = resolve_local(tz, open);
            let whole = in_gap(tz, close) || close == gap_end.with_timezone(&tz).naive_local();
            whole && gap_end <= t && t < gap_end + (window.end - window.start)
        })
    }

    fn open_at(window: &Window, tz: Tz, t: DateTime<Utc>) -> bool {
        inside(window, tz, t) || swallowed(window, tz, t)
    }

    /// The properties every window target has; see the proptests.
    fn check_window(now: DateTime<Utc>, window: Window, tz: Tz) -> Result<(), TestCaseError> {
        let target = at(Compiled { rule: Rule::Window(window) }.target(now, &nobody(), tz));
        prop_assert!(target >= now);
        prop_assert!(target - now <= LOOKAHEAD);
        if open_at(&window, tz, now) {
            prop_assert_eq!(target, now);
        }
        // The target is on an allowed day with its local time in [start, end), or in a
        // swallowed window (which starts at the first instant after the gap).
        prop_assert!(open_at(&window, tz, target), "{} → {} ({})", now, target, target.with_timezone(&tz));
        // Nothing earlier is open: that only changes on whole minutes (windows, zone offsets
        // and transitions are all whole minutes), so checking those suffices.
        let mut t = now;
        let mut next_minute =
            DateTime::from_timestamp(now.timestamp() - now.timestamp().rem_euclid(60) + 60, 0).unwrap();
        while t < target {
            prop_assert!(!open_at(&window, tz, t), "{} is open but target is {}", t, target);
            t = next_minute;
            next_minute += TimeDelta::minutes(1);
        }
        Ok(())
    }

    fn make_window(start: u16, length: u16, days: u8) -> Window {
        let end = (start + length).min(1440);
        Window { start: TimeDelta::minutes(start.into()), end: TimeDelta::minutes(end.into()), days, timezone: None }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(160))]

        #[test]
        fn window_target_is_the_first_instant_inside(
            seconds in 946_684_800i64..4_102_444_800,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
            start in 0u16..1440,
            length in 1u16..1440,
            days in 1u8..128,
            zone in 0usize..ZONES.len(),
        ) {
            let now = DateTime::from_timestamp(seconds, nanos).unwrap();
            check_window(now, make_window(start, length, days), ZONES[zone])?;
        }

        /// The same, with `now` in the days before a daylight-saving change and windows
        /// near the hours that are skipped or repeated.
        #[test]
        fn window_target_around_dst_changes(
            zone in 1usize..5,
            year in 2000i32..2100,
            transition in 0usize..2,
            before in prop_oneof![-(8 * 86_400i64)..86_400, -3600i64..7200],
            start in prop_oneof![0u16..1440, 0u16..240],
            length in prop_oneof![1u16..1440, 1u16..90],
            days in prop_oneof![1u8..128, Just(127u8), (0u8..7).prop_map(|d| 1 << d)],
        ) {
            let tz = ZONES[zone];
            let from = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
            let changes = offset_segments(tz, from, from + TimeDelta::days(366));
            prop_assume!(changes.len() > transition + 1);
            let now = changes[transition + 1].0 + TimeDelta::seconds(before);
            check_window(now, make_window(start, length, days), tz)?;
        }

        /// Windows in or across the hour skipped in spring, asked about close to the change.
        #[test]
        fn window_target_around_skipped_hours(
            zone in 1usize..5,
            year in 2000i32..2100,
            which in 0usize..2,
            into_gap in 0i64..120,
            length in prop_oneof![1u16..60, 1u16..600],
            around in -7200i64..7200,
            other_days in 0u8..128,
        ) {
            let tz = ZONES[zone];
            let from = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
            let segments = offset_segments(tz, from, from + TimeDelta::days(366));
            let springs: Vec<_> = segments.windows(2).filter(|w| w[0].1 < w[1].1).map(|w| (w[1].0, w[0].1)).collect();
            prop_assume!(which < springs.len());
            let (change, before_offset) = springs[which];
            let gap_from = change.naive_utc() + TimeDelta::seconds(before_offset);
            let start = gap_from.time().num_seconds_from_midnight() as i64 / 60 + into_gap;
            prop_assume!(start + i64::from(length) <= 1440);
            let day = 1u8 << gap_from.date().weekday().num_days_from_monday();
            let window = make_window(start as u16, length, day | (other_days & 127));
            check_window(change + TimeDelta::seconds(around), window, tz)?;
        }
    }
}
