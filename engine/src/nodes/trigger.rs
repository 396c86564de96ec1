//! The trigger: how a contact enters the journey. In the editor it is the first box
//! (its layout key is `trigger`); in the file it is the top-level `trigger` object.

use crate::condition::{Condition, Op, Scope};
use crate::contact::{Contact, Event};
use crate::nodes::Build;
use crate::problem::Kind;
use crate::time::{minutes_to_time, parse_hhmm, parse_timezone, resolve_local, timestamp_from_json};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every trigger type, as written in `type`.
pub const TYPES: &[&str] = &[
    "event",
    "api",
    "segment_entered",
    "segment_exited",
    "schedule",
    "date_property",
    "attribute_changed",
    "stage_changed",
];

/// How contacts enter the journey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A contact performs an event (`track`), optionally with property conditions.
    Event(EventTrigger),
    /// Runs are started explicitly through the API (`POST /v1/workflows/{id}/runs`);
    /// the data passed becomes `trigger.properties`.
    Api(ApiTrigger),
    /// A contact enters a segment (`trigger.properties.segment`).
    SegmentEntered(SegmentTrigger),
    /// A contact leaves a segment.
    SegmentExited(SegmentTrigger),
    /// At each tick of a cron schedule, every member of a segment enters
    /// (`trigger.properties.tick` is the tick's time).
    Schedule(ScheduleTrigger),
    /// Every year (or once) on a date kept in a contact attribute, moved by `offset_days`, at a
    /// local time of day in the contact's time zone: birthdays, signup anniversaries, renewals.
    DateProperty(DateTrigger),
    /// A contact attribute changes (`trigger.properties.attribute`, `.from`, `.to`).
    AttributeChanged(AttributeTrigger),
    /// A contact's lifecycle stage changes (`trigger.properties.from`, `.to`, `.cause`).
    StageChanged(StageTrigger),
}

/// Enter when a contact enters (or leaves) a segment.
///
/// ```json
/// { "type": "segment_entered", "segment": "inactive-30", "next": "send_we_miss_you" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentTrigger {
    /// The segment's id.
    pub segment: String,
    /// The first node.
    pub next: String,
}

/// Enter the members of `segment` at each tick of `cron` in `timezone` (a contact still in
/// the previous tick's run is not entered again; the journey's `reentry` must allow entering
/// again). After downtime only the latest missed tick fires.
///
/// ```json
/// { "type": "schedule", "cron": "0 9 * * MON", "timezone": "Europe/Berlin", "segment": "engaged", "next": "send_digest" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTrigger {
    /// Five fields: minute, hour, day of month, month, day of week (`0 9 * * MON`: Mondays at
    /// 09:00). Local times that do not exist on a spring-forward day fire when the clock jumps
    /// past them; times shown twice in autumn fire once.
    pub cron: String,
    /// The IANA time zone the schedule reads its times in (default `UTC`).
    #[serde(default = "utc")]
    pub timezone: String,
    /// The segment whose members enter at each tick.
    pub segment: String,
    /// The first node.
    pub next: String,
}

fn utc() -> String {
    "UTC".into()
}

/// Enter on a date kept in a contact attribute.
///
/// ```json
/// { "type": "date_property", "attribute": "birthday", "offset_days": 0, "at": "09:00", "repeat": "yearly", "next": "send_gift" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateTrigger {
    /// The contact attribute holding the date (`YYYY-MM-DD`, or a timestamp read on the
    /// contact's local calendar), e.g. `birthday`, `signed_up_at`, `renewal_date`.
    pub attribute: String,
    /// Days after (positive) or before (negative) the date: `-30` is 30 days before a renewal.
    #[serde(default)]
    pub offset_days: i32,
    /// The local time of day (`HH:MM`) in the contact's `timezone` attribute, else the
    /// journey's time zone (default `09:00`).
    #[serde(default = "nine")]
    pub at: String,
    /// `yearly`: every anniversary of the date (29 February falls on 28 February in other
    /// years); `once`: the date itself only.
    #[serde(default)]
    pub repeat: Repeat,
    /// The first node.
    pub next: String,
}

fn nine() -> String {
    "09:00".into()
}

/// How often a date trigger fires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Repeat {
    /// Every year.
    #[default]
    Yearly,
    /// Once.
    Once,
}

/// Enter when a contact attribute changes, optionally only from / to matching values.
///
/// ```json
/// { "type": "attribute_changed", "attribute": "plan", "from": { "op": "in", "right": ["pro", "team"] }, "to": { "op": "eq", "right": "starter" }, "next": "send_offer" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeTrigger {
    /// The attribute (a top-level contact attribute such as `plan` or `lead_score`).
    pub attribute: String,
    /// What the old value must match (missing when the attribute was not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Matcher>,
    /// What the new value must match (missing when the attribute was removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Matcher>,
    /// The first node.
    pub next: String,
}

/// A test of one value: `{"op": "gte", "right": 50}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `in`, `not_in`, `contains`, `starts_with`, `exists` or `not_exists`.
    pub op: Op,
    /// The value to compare with (left out for `exists` / `not_exists`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right: Option<Value>,
}

impl Matcher {
    pub fn test(&self, value: Option<&Value>, now: DateTime<Utc>) -> bool {
        let value = value.filter(|v| !v.is_null());
        crate::condition::apply(self.op, value, self.right.as_ref().filter(|v| !v.is_null()), || None, || None, now)
    }

    fn check(&self, cx: &mut Build, field: &str) {
        // Every operator but the date ones (`before`, `after`, `within_last`, `more_than_ago`).
        if matches!(self.op, Op::Before | Op::After | Op::WithinLast | Op::MoreThanAgo) {
            cx.error(
                Kind::InvalidValue,
                &format!("{field}/op"),
                format!("`{}` does not test a single value here; use eq, ne, gt, gte, lt, lte, in, not_in, contains, starts_with, exists or not_exists", self.op),
            );
            return;
        }
        match (&self.right, self.op.takes_right()) {
            (None, true) => cx.error(
                Kind::MissingField,
                field,
                format!("`{}` needs a `right` value, such as {{\"op\": \"{}\", \"right\": \"pro\"}}", self.op, self.op),
            ),
            (Some(_), false) => cx.error(
                Kind::InvalidValue,
                &format!("{field}/right"),
                format!("`{}` takes no `right`; remove it", self.op),
            ),
            (Some(v), true) if matches!(self.op, Op::In | Op::NotIn) && !v.is_array() => cx.error(
                Kind::IncompatibleTypes,
                &format!("{field}/right"),
                format!("`{}` needs a list of values, such as [\"pro\", \"team\"]", self.op),
            ),
            _ => {}
        }
    }
}

/// Enter when a contact's lifecycle stage changes, optionally only from / to given stages.
///
/// ```json
/// { "type": "stage_changed", "from": ["lapsed", "inactive"], "to": ["reactivated"], "next": "send_welcome_back" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageTrigger {
    /// Only changes from one of these stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<String>>,
    /// Only changes to one of these stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// The first node.
    pub next: String,
}

impl ScheduleTrigger {
    fn parsed(&self) -> Result<(croner::Cron, Tz), String> {
        let tz = parse_timezone(&self.timezone)?;
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse(&self.cron)
            .map_err(|e| {
                format!(
                    "`{}` is not a schedule ({e}); write five fields: minute hour day-of-month month day-of-week, \
                     such as \"0 9 * * MON\" (Mondays at 09:00)",
                    self.cron
                )
            })?;
        Ok((cron, tz))
    }

    /// The ticks in `(after, until]`, oldest first, at most `limit`.
    pub fn ticks(&self, after: DateTime<Utc>, until: DateTime<Utc>, limit: usize) -> Vec<DateTime<Utc>> {
        let Ok((cron, tz)) = self.parsed() else { return Vec::new() };
        let mut out = Vec::new();
        let mut from = after.with_timezone(&tz);
        while out.len() < limit {
            let Ok(next) = cron.find_next_occurrence(&from, false) else { break };
            let utc = next.with_timezone(&Utc);
            if utc > until {
                break;
            }
            // The repeated hour in autumn: the same wall-clock time twice fires once.
            if out.last().is_none_or(|last: &DateTime<Utc>| last.with_timezone(&tz).naive_local() != next.naive_local())
            {
                out.push(utc);
            }
            from = next;
        }
        out
    }
}

impl DateTrigger {
    /// The occurrences that fire in `(after, until]` for `contact`: the date they are the
    /// occurrence of (for de-duplication) and when they fire.
    pub fn due(
        &self,
        contact: &Contact,
        default_tz: Tz,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<(NaiveDate, DateTime<Utc>)> {
        let Ok(minutes) = parse_hhmm(&self.at, false) else { return Vec::new() };
        let tz = crate::nodes::wait_until::contact_timezone(contact, default_tz);
        let Some(value) = contact.attributes.get(&self.attribute).filter(|v| !v.is_null()) else { return Vec::new() };
        let date = match value.as_str().and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()) {
            Some(d) => d,
            None => match timestamp_from_json(value) {
                Some(t) => t.with_timezone(&tz).date_naive(),
                None => return Vec::new(),
            },
        };
        let time = minutes_to_time(u32::from(minutes));
        let years: Vec<i32> = match self.repeat {
            Repeat::Once => vec![date.year()],
            Repeat::Yearly => {
                let y = until.with_timezone(&tz).year();
                (y - 1..=y + 1).filter(|year| *year >= date.year()).collect()
            }
        };
        let mut out = Vec::new();
        for year in years {
            let Some(anniversary) = NaiveDate::from_ymd_opt(year, date.month(), date.day())
                .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), date.day() - 1))
            else {
                continue;
            };
            let Some(day) = anniversary.checked_add_signed(TimeDelta::days(i64::from(self.offset_days))) else {
                continue;
            };
            let fire = resolve_local(tz, day.and_time(time));
            if after < fire && fire <= until {
                out.push((anniversary, fire));
            }
        }
        out
    }
}

impl AttributeTrigger {
    /// Whether a change of `attribute` from `old` to `new` starts a run.
    pub fn matches(&self, attribute: &str, old: Option<&Value>, new: Option<&Value>, now: DateTime<Utc>) -> bool {
        attribute == self.attribute
            && old != new
            && self.from.as_ref().is_none_or(|m| m.test(old, now))
            && self.to.as_ref().is_none_or(|m| m.test(new, now))
    }
}

impl StageTrigger {
    /// Whether a stage change starts a run.
    pub fn matches(&self, from: Option<&str>, to: &str) -> bool {
        self.from.as_ref().is_none_or(|list| from.is_some_and(|f| list.iter().any(|s| s == f)))
            && self.to.as_ref().is_none_or(|list| list.iter().any(|s| s == to))
    }
}

/// Enter when the contact performs `event` and `conditions` hold.
///
/// ```json
/// { "type": "event", "event": "cart_updated", "correlation_key": "cart_id", "next": "wait_for_order" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTrigger {
    /// The event name, e.g. `cart_updated`.
    pub event: String,
    /// Conditions on the event (`trigger.properties.*` / `event.properties.*`) and the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Condition>,
    /// An event property (e.g. `cart_id`) that tells runs of one contact apart: each value
    /// gets its own run, and re-entry rules apply per value. Events without it do not enter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_key: Option<String>,
    /// The first node.
    pub next: String,
}

/// Enter when started through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiTrigger {
    /// The first node.
    pub next: String,
}

/// Why an event does not start a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoMatch {
    /// The journey is not started by events (the API, a segment, a schedule, a date, a change).
    NotEvent,
    /// Another event name.
    OtherEvent,
    /// The trigger's conditions are false.
    Conditions,
    /// The event lacks the correlation property.
    NoCorrelation(String),
}

impl Trigger {
    /// The first node's id.
    pub fn next(&self) -> &str {
        match self {
            Trigger::Event(t) => &t.next,
            Trigger::Api(t) => &t.next,
            Trigger::SegmentEntered(t) | Trigger::SegmentExited(t) => &t.next,
            Trigger::Schedule(t) => &t.next,
            Trigger::DateProperty(t) => &t.next,
            Trigger::AttributeChanged(t) => &t.next,
            Trigger::StageChanged(t) => &t.next,
        }
    }

    /// The `type` as written.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Event(_) => "event",
            Trigger::Api(_) => "api",
            Trigger::SegmentEntered(_) => "segment_entered",
            Trigger::SegmentExited(_) => "segment_exited",
            Trigger::Schedule(_) => "schedule",
            Trigger::DateProperty(_) => "date_property",
            Trigger::AttributeChanged(_) => "attribute_changed",
            Trigger::StageChanged(_) => "stage_changed",
        }
    }

    /// The segment the trigger reads, if any.
    pub fn segment(&self) -> Option<&str> {
        match self {
            Trigger::SegmentEntered(t) | Trigger::SegmentExited(t) => Some(&t.segment),
            Trigger::Schedule(t) => Some(&t.segment),
            _ => None,
        }
    }

    /// The event a run of this trigger starts with (the trigger's own data as properties),
    /// for triggers that are not an event.
    pub fn entry_event(&self, properties: serde_json::Map<String, Value>, at: DateTime<Utc>) -> Event {
        Event { name: self.kind().into(), properties, timestamp: at, message_id: None }
    }

    pub fn build(&self, cx: &mut Build) {
        let segment_id = |cx: &mut Build, id: &str| {
            if !crate::audience::valid_id(id) {
                cx.error(
                    Kind::InvalidValue,
                    "segment",
                    format!("`{id}` is not a segment id; name a segment such as `inactive-30`"),
                );
            }
        };
        match self {
            Trigger::SegmentEntered(t) | Trigger::SegmentExited(t) => segment_id(cx, &t.segment),
            Trigger::Schedule(t) => {
                segment_id(cx, &t.segment);
                if let Err(e) = parse_timezone(&t.timezone) {
                    cx.error(Kind::InvalidTimezone, "timezone", e);
                } else if let Err(e) = t.parsed() {
                    cx.error(Kind::InvalidValue, "cron", e);
                }
            }
            Trigger::DateProperty(t) => {
                if t.attribute.trim().is_empty() || t.attribute.contains('.') {
                    cx.error(
                        Kind::InvalidValue,
                        "attribute",
                        "name the contact attribute holding the date, such as `birthday` (a top-level attribute)",
                    );
                }
                if !(-365..=365).contains(&t.offset_days) {
                    cx.error(
                        Kind::InvalidValue,
                        "offset_days",
                        format!("{} days is too far; use -365 to 365", t.offset_days),
                    );
                }
                if let Err(e) = parse_hhmm(&t.at, false) {
                    cx.error(Kind::InvalidValue, "at", e);
                }
            }
            Trigger::AttributeChanged(t) => {
                if t.attribute.trim().is_empty() || t.attribute.contains('.') {
                    cx.error(
                        Kind::InvalidValue,
                        "attribute",
                        "name a top-level contact attribute, such as `plan` or `lead_score`",
                    );
                }
                if t.attribute == crate::audience::STAGE_ATTRIBUTE {
                    cx.error(
                        Kind::InvalidValue,
                        "attribute",
                        "the lifecycle stage has its own trigger: use `stage_changed` with `from` / `to` stages",
                    );
                }
                for (field, m) in [("from", &t.from), ("to", &t.to)] {
                    if let Some(m) = m {
                        m.check(cx, field);
                    }
                }
            }
            Trigger::StageChanged(t) => {
                for (field, list) in [("from", &t.from), ("to", &t.to)] {
                    match list {
                        Some(l) if l.is_empty() => cx.error(
                            Kind::InvalidValue,
                            field,
                            format!("`{field}` lists no stage; list stages or remove `{field}` to accept any"),
                        ),
                        Some(l) => {
                            for (i, s) in l.iter().enumerate() {
                                if !crate::audience::valid_id(s) {
                                    cx.error(
                                        Kind::InvalidValue,
                                        &format!("{field}/{i}"),
                                        format!("`{s}` is not a stage name"),
                                    );
                                }
                            }
                        }
                        None => {}
                    }
                }
            }
            Trigger::Event(_) | Trigger::Api(_) => {}
        }
        if let Trigger::Event(t) = self {
            if t.event.trim().is_empty() {
                cx.error(
                    Kind::InvalidValue,
                    "event",
                    "the event name is empty; name the event that starts the journey",
                );
            }
            if let Some(key) = &t.correlation_key
                && key.trim().is_empty()
            {
                cx.error(
                    Kind::InvalidValue,
                    "correlation_key",
                    "the correlation key is empty; name an event property such as `cart_id`, or remove it",
                );
            }
            if let Some(c) = &t.conditions {
                for p in c.check(&cx.at("conditions")) {
                    cx.push(p);
                }
            }
        }
    }

    /// Whether `event` starts a run, and with which correlation value.
    pub fn matches(&self, event: &Event, contact: &Contact) -> Result<Option<String>, NoMatch> {
        let Trigger::Event(t) = self else { return Err(NoMatch::NotEvent) };
        if event.name != t.event {
            return Err(NoMatch::OtherEvent);
        }
        if let Some(c) = &t.conditions {
            let scope = Scope {
                contact,
                trigger: Some(event),
                event: Some(event),
                now: event.timestamp,
                data: None,
                history: None,
            };
            if !c.evaluate(&scope) {
                return Err(NoMatch::Conditions);
            }
        }
        match &t.correlation_key {
            None => Ok(None),
            Some(key) => match event.properties.get(key) {
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                _ => Err(NoMatch::NoCorrelation(key.clone())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn example_is_valid_and_correlates() {
        let t: Trigger = serde_json::from_str(
            r#"{ "type": "event", "event": "cart_updated", "correlation_key": "cart_id", "next": "wait_for_order" }"#,
        )
        .unwrap();
        let mut problems = vec![];
        t.build(&mut Build::new("/trigger", None, &mut problems));
        assert!(problems.is_empty(), "{problems:?}");
        let contact = Contact::new("c1");
        let e = Event::new("cart_updated", Utc::now()).with_property("cart_id", "k1");
        assert_eq!(t.matches(&e, &contact), Ok(Some("k1".into())));
        assert_eq!(
            t.matches(&Event::new("cart_updated", Utc::now()), &contact),
            Err(NoMatch::NoCorrelation("cart_id".into()))
        );
        assert_eq!(t.matches(&Event::new("other", Utc::now()), &contact), Err(NoMatch::OtherEvent));
        let api: Trigger = serde_json::from_str(r#"{ "type": "api", "next": "a" }"#).unwrap();
        assert_eq!(api.matches(&e, &contact), Err(NoMatch::NotEvent));
    }

    #[test]
    fn empty_names_are_reported() {
        let t: Trigger =
            serde_json::from_str(r#"{ "type": "event", "event": " ", "correlation_key": "", "next": "a" }"#).unwrap();
        let mut problems = vec![];
        t.build(&mut Build::new("/trigger", None, &mut problems));
        let pointers: Vec<_> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, ["/trigger/event", "/trigger/correlation_key"]);
    }

    fn problems_of(json: serde_json::Value) -> Vec<String> {
        let t: Trigger = serde_json::from_value(json).unwrap();
        let mut problems = vec![];
        t.build(&mut Build::new("/trigger", None, &mut problems));
        problems.iter().map(|p| p.pointer.clone()).collect()
    }

    #[test]
    fn examples_of_every_trigger_are_valid() {
        for example in [
            r#"{ "type": "segment_entered", "segment": "inactive-30", "next": "send_we_miss_you" }"#,
            r#"{ "type": "segment_exited", "segment": "vip", "next": "a" }"#,
            r#"{ "type": "schedule", "cron": "0 9 * * MON", "timezone": "Europe/Berlin", "segment": "engaged", "next": "send_digest" }"#,
            r#"{ "type": "date_property", "attribute": "birthday", "offset_days": 0, "at": "09:00", "repeat": "yearly", "next": "send_gift" }"#,
            r#"{ "type": "attribute_changed", "attribute": "plan", "from": { "op": "in", "right": ["pro", "team"] }, "to": { "op": "eq", "right": "starter" }, "next": "send_offer" }"#,
            r#"{ "type": "stage_changed", "from": ["lapsed", "inactive"], "to": ["reactivated"], "next": "send_welcome_back" }"#,
        ] {
            assert!(problems_of(serde_json::from_str(example).unwrap()).is_empty(), "{example}");
        }
    }

    #[test]
    fn bad_fields_are_named() {
        use serde_json::json;
        assert_eq!(
            problems_of(
                json!({"type": "schedule", "cron": "0 9 * *", "timezone": "Europe/Berlin", "segment": "Bad Id", "next": "a"})
            ),
            ["/trigger/segment", "/trigger/cron"]
        );
        assert_eq!(
            problems_of(
                json!({"type": "schedule", "cron": "0 0 9 * * MON", "timezone": "Mars/Base", "segment": "s", "next": "a"})
            ),
            ["/trigger/timezone"]
        );
        // Six fields (seconds) are refused: the schedule is minutes.
        assert_eq!(
            problems_of(json!({"type": "schedule", "cron": "0 0 9 * * MON", "segment": "s", "next": "a"})),
            ["/trigger/cron"]
        );
        assert_eq!(
            problems_of(
                json!({"type": "date_property", "attribute": "", "offset_days": 400, "at": "9am", "next": "a"})
            ),
            ["/trigger/attribute", "/trigger/offset_days", "/trigger/at"]
        );
        assert_eq!(
            problems_of(
                json!({"type": "attribute_changed", "attribute": "plan", "from": {"op": "in", "right": "pro"}, "to": {"op": "gt"}, "next": "a"})
            ),
            ["/trigger/from/right", "/trigger/to"]
        );
        assert_eq!(
            problems_of(json!({"type": "stage_changed", "from": [], "to": ["Big Fan"], "next": "a"})),
            ["/trigger/from", "/trigger/to/0"]
        );
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn schedule_ticks_follow_local_time_across_dst() {
        let t = ScheduleTrigger {
            cron: "30 2 * * *".into(),
            timezone: "Europe/Berlin".into(),
            segment: "s".into(),
            next: "a".into(),
        };
        // Spring forward on 2026-03-29: 02:30 does not exist, it fires when the clock jumps to 03:00 (01:00Z).
        let ticks = t.ticks(at("2026-03-27T12:00:00Z"), at("2026-03-30T12:00:00Z"), 10);
        assert_eq!(ticks, [at("2026-03-28T01:30:00Z"), at("2026-03-29T01:00:00Z"), at("2026-03-30T00:30:00Z")]);
        // Fall back on 2026-10-25: 02:30 happens twice, it fires once.
        let ticks = t.ticks(at("2026-10-24T12:00:00Z"), at("2026-10-26T12:00:00Z"), 10);
        assert_eq!(ticks.len(), 2, "{ticks:?}");
        assert_eq!(ticks[1], at("2026-10-26T01:30:00Z"));
        assert!(ticks[0] == at("2026-10-25T00:30:00Z") || ticks[0] == at("2026-10-25T01:30:00Z"), "{ticks:?}");
        // Mondays at 09:00 Berlin: 08:00Z in winter, 07:00Z in summer.
        let weekly = ScheduleTrigger { cron: "0 9 * * MON".into(), ..t };
        assert_eq!(
            weekly.ticks(at("2026-03-20T00:00:00Z"), at("2026-04-07T00:00:00Z"), 10),
            [at("2026-03-23T08:00:00Z"), at("2026-03-30T07:00:00Z"), at("2026-04-06T07:00:00Z")]
        );
    }

    #[test]
    fn date_property_in_the_contacts_time_zone() {
        let t: DateTrigger = serde_json::from_value(serde_json::json!(
            {"attribute": "birthday", "at": "09:00", "next": "a"}
        ))
        .unwrap();
        let mut c = Contact::new("c");
        c.attributes.insert("birthday".into(), "1990-05-12".into());
        c.attributes.insert("timezone".into(), "America/Los_Angeles".into());
        // 09:00 in Los Angeles on 12 May 2026 is 16:00Z.
        let due = t.due(&c, chrono_tz::UTC, at("2026-05-12T00:00:00Z"), at("2026-05-12T16:00:00Z"));
        assert_eq!(due, [(NaiveDate::from_ymd_opt(2026, 5, 12).unwrap(), at("2026-05-12T16:00:00Z"))]);
        assert!(t.due(&c, chrono_tz::UTC, at("2026-05-12T00:00:00Z"), at("2026-05-12T15:59:00Z")).is_empty());
        // 30 days before a renewal, once.
        let renewal: DateTrigger = serde_json::from_value(serde_json::json!(
            {"attribute": "renewal_date", "offset_days": -30, "at": "08:00", "repeat": "once", "next": "a"}
        ))
        .unwrap();
        c.attributes.insert("renewal_date".into(), "2026-07-01".into());
        let due = renewal.due(&c, chrono_tz::UTC, at("2026-05-01T00:00:00Z"), at("2026-07-01T00:00:00Z"));
        assert_eq!(due, [(NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(), at("2026-06-01T15:00:00Z"))]);
        assert!(renewal.due(&c, chrono_tz::UTC, at("2027-05-01T00:00:00Z"), at("2027-07-01T00:00:00Z")).is_empty());
        // 29 February falls on 28 February in other years.
        c.attributes.insert("birthday".into(), "2000-02-29".into());
        c.attributes.remove("timezone");
        let due = t.due(&c, chrono_tz::UTC, at("2027-02-01T00:00:00Z"), at("2027-03-01T00:00:00Z"));
        assert_eq!(due, [(NaiveDate::from_ymd_opt(2027, 2, 28).unwrap(), at("2027-02-28T09:00:00Z"))]);
    }

    #[test]
    fn attribute_and_stage_matchers() {
        let now = Utc::now();
        let t: AttributeTrigger = serde_json::from_value(serde_json::json!(
            {"attribute": "lead_score", "from": {"op": "lt", "right": 50}, "to": {"op": "gte", "right": 50}, "next": "a"}
        ))
        .unwrap();
        let v = |n: i64| serde_json::json!(n);
        assert!(t.matches("lead_score", Some(&v(45)), Some(&v(55)), now));
        assert!(!t.matches("lead_score", Some(&v(55)), Some(&v(60)), now));
        assert!(!t.matches("lead_score", None, Some(&v(60)), now));
        assert!(!t.matches("plan", Some(&v(45)), Some(&v(55)), now));
        let any: AttributeTrigger =
            serde_json::from_value(serde_json::json!({"attribute": "plan", "next": "a"})).unwrap();
        assert!(any.matches("plan", None, Some(&"pro".into()), now));
        assert!(!any.matches("plan", Some(&"pro".into()), Some(&"pro".into()), now));
        let s: StageTrigger =
            serde_json::from_value(serde_json::json!({"from": ["lapsed"], "to": ["reactivated"], "next": "a"}))
                .unwrap();
        assert!(s.matches(Some("lapsed"), "reactivated"));
        assert!(!s.matches(None, "reactivated"));
        assert!(!s.matches(Some("lead"), "reactivated"));
    }
}
