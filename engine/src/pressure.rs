//! Messaging pressure: quiet hours and frequency caps on marketing sends.
//!
//! - **Quiet hours** are a daily window of the contact's local clock (`21:00` to `08:00`,
//!   possibly across midnight) in which no marketing message goes out. A send that falls
//!   inside either waits at its node until the window ends and is then sent with the same
//!   idempotency key, or is skipped, as configured. The contact's time zone is their
//!   `timezone` attribute when it is a valid IANA name, else the fallback time zone.
//! - **Frequency caps** allow at most `max` marketing messages of a channel per contact
//!   within a rolling `period`, counted across all journeys. A capped send waits until
//!   the oldest counted message leaves the period, or is skipped, as configured.
//!
//! Transactional sends (`"transactional": true`) bypass both and are not counted.
//! The workspace sets both ([`DeliverySettings`], `GET/PUT /v1/settings/delivery`); a
//! journey may replace or turn off the quiet hours and ignore the caps
//! (`settings.quiet_hours`, `settings.frequency_caps`: [`QuietHoursOverride`],
//! [`CapsOverride`]).
//!
//! Everything here is pure: the step function receives the compiled [`Rules`] and the
//! contact's recent marketing sends as inputs ([`Context`]), and [`gate`] decides.

use crate::contact::Contact;
use crate::nodes::send::Channel;
use crate::nodes::wait_until::contact_timezone;
use crate::problem::{Kind, Problem, join_pointer};
use crate::run::What;
use crate::time::{format_duration, minutes_to_time, next_local_time, parse_duration, parse_hhmm, parse_timezone};
use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// Most messages a cap may allow per period.
pub const MAX_CAP: u32 = 1_000;
/// Shortest period of a cap.
pub const MIN_PERIOD: TimeDelta = TimeDelta::minutes(1);
/// Longest period of a cap (the recent sends read for each contact go back this far at most).
pub const MAX_PERIOD: TimeDelta = TimeDelta::days(90);

/// What happens to a marketing message that quiet hours or a frequency cap holds back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// The run waits at the send node until the message may go, then sends it (with the
    /// same idempotency key) and carries on.
    #[default]
    Wait,
    /// The message is not sent: the run's timeline says why and the run carries on.
    Skip,
}

impl Behaviour {
    fn is_wait(&self) -> bool {
        *self == Behaviour::Wait
    }
}

// ----- The workspace's settings -----

/// The workspace's delivery rules for marketing messages: quiet hours and frequency caps.
/// Transactional sends ignore both.
///
/// ```json
/// { "quiet_hours": { "enabled": true, "start": "21:00", "end": "08:00", "timezone": "America/New_York", "behaviour": "wait" },
///   "frequency_caps": { "behaviour": "wait", "limits": [ { "channel": "email", "max": 3, "period": "7d" } ] } }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Quiet hours for every journey that does not set its own (`settings.quiet_hours`).
    #[serde(default)]
    pub quiet_hours: QuietHoursSettings,
    /// Frequency caps, counted across all journeys; a journey may ignore them
    /// (`settings.frequency_caps: "ignore"`).
    #[serde(default)]
    pub frequency_caps: FrequencyCaps,
}

/// The workspace's quiet hours: a daily window of the contact's local clock in which no
/// marketing message is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursSettings {
    /// Whether the quiet hours apply (default: no).
    #[serde(default)]
    pub enabled: bool,
    /// When quiet hours begin, local `HH:MM` (24-hour clock), e.g. `21:00`.
    #[serde(default = "default_start")]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), example = &"21:00")]
    pub start: String,
    /// When they end, local `HH:MM`, e.g. `08:00`. An end earlier than `start` means the
    /// next morning (the window spans midnight); it may not equal `start`.
    #[serde(default = "default_end")]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), example = &"08:00")]
    pub end: String,
    /// IANA time zone for contacts without a valid `timezone` attribute, e.g. `America/New_York`.
    #[serde(default = "default_timezone")]
    #[schemars(example = &"America/New_York")]
    pub timezone: String,
    /// What happens to a message that falls inside: `wait` for the end of the window
    /// (default) or `skip` it.
    #[serde(default)]
    pub behaviour: Behaviour,
}

fn default_start() -> String {
    "21:00".into()
}

fn default_end() -> String {
    "08:00".into()
}

fn default_timezone() -> String {
    "UTC".into()
}

impl Default for QuietHoursSettings {
    fn default() -> Self {
        QuietHoursSettings {
            enabled: false,
            start: default_start(),
            end: default_end(),
            timezone: default_timezone(),
            behaviour: Behaviour::Wait,
        }
    }
}

/// Frequency caps: per channel, at most `max` marketing messages to a contact within a
/// rolling `period`, counted across all journeys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCaps {
    /// What happens to a capped message: `wait` until the oldest counted message leaves
    /// the period (default) or `skip` it.
    #[serde(default)]
    pub behaviour: Behaviour,
    /// The caps; none means no cap. A channel may have several (e.g. 1 a day and 3 a week).
    #[serde(default)]
    pub limits: Vec<FrequencyLimit>,
}

/// One cap: at most `max` messages of `channel` within `period`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyLimit {
    /// The channel counted and capped.
    pub channel: Channel,
    /// Most marketing messages of that channel within the period (1 to 1,000).
    #[schemars(range(min = 1, max = 1000))]
    pub max: u32,
    /// The rolling period, e.g. `1d`, `7d`, `24h` (1 minute to 90 days).
    #[schemars(example = &"7d")]
    pub period: String,
}

impl DeliverySettings {
    /// Check the settings and compile them; every problem has its JSON pointer below `base`.
    pub fn compile(&self, base: &str) -> Result<Rules, Vec<Problem>> {
        let mut problems = Vec::new();
        let q = &self.quiet_hours;
        let qbase = join_pointer(base, "quiet_hours");
        let window = window(&q.start, &q.end, &qbase, &mut problems);
        let timezone = parse_timezone(&q.timezone)
            .map_err(|m| problems.push(Problem::new(Kind::InvalidTimezone, join_pointer(&qbase, "timezone"), m)))
            .ok();
        let mut caps: Vec<Cap> = Vec::new();
        let cbase = join_pointer(&join_pointer(base, "frequency_caps"), "limits");
        for (i, limit) in self.frequency_caps.limits.iter().enumerate() {
            let at = join_pointer(&cbase, i);
            let before = problems.len();
            if limit.max == 0 {
                problems.push(Problem::new(
                    Kind::InvalidValue,
                    join_pointer(&at, "max"),
                    "a cap allows at least 1 message per period; remove the cap to allow any number",
                ));
            } else if limit.max > MAX_CAP {
                problems.push(Problem::new(
                    Kind::InvalidValue,
                    join_pointer(&at, "max"),
                    format!("a cap allows at most {MAX_CAP} messages per period; it is {}", limit.max),
                ));
            }
            let period = match parse_duration(&limit.period) {
                Ok(p) if p < MIN_PERIOD || p > MAX_PERIOD => {
                    problems.push(Problem::new(
                        Kind::InvalidValue,
                        join_pointer(&at, "period"),
                        format!(
                            "`{}` is not a usable period; expected 1 minute to 90 days, e.g. `1d` or `7d`",
                            limit.period
                        ),
                    ));
                    None
                }
                Ok(p) => Some(p),
                Err(m) => {
                    problems.push(Problem::new(Kind::InvalidDuration, join_pointer(&at, "period"), m));
                    None
                }
            };
            if let Some(period) = period
                && caps.iter().any(|c| c.channel == limit.channel && c.period == period)
            {
                problems.push(Problem::new(
                    Kind::InvalidValue,
                    at.clone(),
                    format!(
                        "there is already a cap for {} over {}; keep one cap per channel and period",
                        channel_label(limit.channel),
                        format_duration(period)
                    ),
                ));
            }
            if let (Some(period), true) = (period, problems.len() == before) {
                caps.push(Cap { channel: limit.channel, max: limit.max, period });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let quiet_hours = match (q.enabled, window, timezone) {
            (true, Some((start, end)), Some(timezone)) => {
                Some(QuietHours { start, end, timezone, behaviour: q.behaviour })
            }
            _ => None,
        };
        Ok(Rules { quiet_hours, caps, cap_behaviour: self.frequency_caps.behaviour })
    }
}

/// Parse a quiet-hours window, reporting problems at `base/start` and `base/end`.
fn window(start: &str, end: &str, base: &str, problems: &mut Vec<Problem>) -> Option<(NaiveTime, NaiveTime)> {
    let s = parse_hhmm(start, false)
        .map_err(|m| problems.push(Problem::new(Kind::InvalidValue, join_pointer(base, "start"), m)))
        .ok();
    let e = parse_hhmm(end, false)
        .map_err(|m| problems.push(Problem::new(Kind::InvalidValue, join_pointer(base, "end"), m)))
        .ok();
    let (s, e) = (s?, e?);
    if s == e {
        problems.push(Problem::new(
            Kind::InvalidValue,
            join_pointer(base, "end"),
            format!(
                "quiet hours end (`{end}`) when they start (`{start}`); give a window such as `21:00` to `08:00`, \
                 or turn quiet hours off"
            ),
        ));
        return None;
    }
    Some((minutes_to_time(u32::from(s)), minutes_to_time(u32::from(e))))
}

/// The channel as the format writes it (`email`).
fn channel_label(c: Channel) -> String {
    serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

// ----- A journey's override -----

/// A journey's quiet hours: `inherit` the workspace's (default), `off` (this journey's
/// marketing messages go out at any hour), or a window of its own
/// `{"start": "21:00", "end": "08:00", "behaviour": "wait"}` in the contact's time zone
/// (else the journey's `timezone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum QuietHoursOverride {
    /// `inherit` or `off`.
    Mode(QuietHoursMode),
    /// The journey's own window.
    Window(QuietWindow),
}

impl Default for QuietHoursOverride {
    fn default() -> Self {
        QuietHoursOverride::Mode(QuietHoursMode::Inherit)
    }
}

impl QuietHoursOverride {
    pub fn is_inherit(&self) -> bool {
        *self == QuietHoursOverride::Mode(QuietHoursMode::Inherit)
    }
}

/// Whether a journey follows the workspace's quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuietHoursMode {
    /// The workspace's quiet hours apply (default).
    Inherit,
    /// No quiet hours for this journey.
    Off,
}

/// A journey's own quiet hours, in the contact's time zone (else the journey's `timezone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietWindow {
    /// When quiet hours begin, local `HH:MM` (24-hour clock), e.g. `21:00`.
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), example = &"21:00")]
    pub start: String,
    /// When they end, local `HH:MM`, e.g. `08:00`; earlier than `start` means the next
    /// morning. It may not equal `start`.
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), example = &"08:00")]
    pub end: String,
    /// `wait` for the end of the window (default) or `skip` the message.
    #[serde(default, skip_serializing_if = "Behaviour::is_wait")]
    pub behaviour: Behaviour,
}

impl<'de> Deserialize<'de> for QuietHoursOverride {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        const EXPECTED: &str =
            "`inherit`, `off`, or a window such as {\"start\": \"21:00\", \"end\": \"08:00\", \"behaviour\": \"wait\"}";
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = QuietHoursOverride;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "inherit" => Ok(QuietHoursOverride::Mode(QuietHoursMode::Inherit)),
                    "off" => Ok(QuietHoursOverride::Mode(QuietHoursMode::Off)),
                    other => Err(E::custom(format!("`{other}` is not a quiet-hours setting; expected {EXPECTED}"))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                QuietWindow::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(QuietHoursOverride::Window)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Whether the workspace's frequency caps apply to a journey's marketing messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapsOverride {
    /// The caps apply and this journey's messages count towards them (default).
    #[default]
    Apply,
    /// This journey's marketing messages are never capped; they still count towards the
    /// caps of other journeys' messages.
    Ignore,
}

impl CapsOverride {
    pub fn is_apply(&self) -> bool {
        *self == CapsOverride::Apply
    }
}

/// A journey's delivery rules in their runtime form.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyRules {
    pub quiet_hours: QuietRule,
    /// Whether the workspace's caps apply.
    pub caps: bool,
}

impl Default for JourneyRules {
    /// The workspace's quiet hours and caps apply.
    fn default() -> Self {
        JourneyRules { quiet_hours: QuietRule::Inherit, caps: true }
    }
}

/// Which quiet hours apply to a journey.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum QuietRule {
    /// The workspace's.
    #[default]
    Inherit,
    Off,
    Own(QuietHours),
}

impl JourneyRules {
    /// Compile a journey's `settings.quiet_hours` and `settings.frequency_caps`, reporting
    /// problems at `/settings/quiet_hours/...`. `timezone` is the journey's own (its
    /// window's fallback), `None` when it did not parse.
    pub fn build(
        quiet_hours: &QuietHoursOverride,
        caps: CapsOverride,
        timezone: Option<Tz>,
        problems: &mut Vec<Problem>,
    ) -> JourneyRules {
        let quiet_hours = match quiet_hours {
            QuietHoursOverride::Mode(QuietHoursMode::Inherit) => QuietRule::Inherit,
            QuietHoursOverride::Mode(QuietHoursMode::Off) => QuietRule::Off,
            QuietHoursOverride::Window(w) => {
                match (window(&w.start, &w.end, "/settings/quiet_hours", problems), timezone) {
                    (Some((start, end)), Some(timezone)) => {
                        QuietRule::Own(QuietHours { start, end, timezone, behaviour: w.behaviour })
                    }
                    _ => QuietRule::Off,
                }
            }
        };
        JourneyRules { quiet_hours, caps: caps == CapsOverride::Apply }
    }
}

// ----- The runtime form -----

/// A quiet-hours window in its runtime form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// For contacts without a valid `timezone` attribute.
    pub timezone: Tz,
    pub behaviour: Behaviour,
}

impl QuietHours {
    /// When the quiet hours that hold `now` end, in `tz`: `None` when the local clock at
    /// `now` is outside `[start, end)` (a window with `end` before `start` spans midnight).
    /// The end is the first instant after `now` at which the local clock reaches `end`:
    /// an `end` in the hour skipped in spring is when the clock jumps past it; an `end`
    /// in the hour repeated in autumn is its first pass (and its second, for a contact
    /// who is in quiet hours again during the repeat).
    pub fn ends(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&tz).time();
        let inside = if self.start < self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        };
        inside.then(|| next_local_time(tz, self.end, now))
    }
}

/// One frequency cap in its runtime form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub channel: Channel,
    pub max: u32,
    pub period: TimeDelta,
}

/// The workspace's rules, compiled ([`DeliverySettings::compile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// `None` when quiet hours are off.
    pub quiet_hours: Option<QuietHours>,
    pub caps: Vec<Cap>,
    pub cap_behaviour: Behaviour,
}

impl Rules {
    /// No quiet hours, no caps.
    pub const NONE: Rules = Rules { quiet_hours: None, caps: Vec::new(), cap_behaviour: Behaviour::Wait };

    /// How far back the recent sends of a contact must go for the caps: the longest
    /// period, `None` without caps.
    pub fn lookback(&self) -> Option<TimeDelta> {
        self.caps.iter().map(|c| c.period).max()
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules::NONE
    }
}

/// A marketing message already handed to delivery for a contact (any journey).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentSend {
    pub channel: Channel,
    /// When it was queued.
    pub at: DateTime<Utc>,
}

/// What the send gate knows beyond the journey and the contact: the workspace's rules and
/// the contact's marketing messages within the longest cap period, across all journeys
/// (including those committed earlier in the same batch).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub rules: &'a Rules,
    pub recent: &'a [RecentSend],
}

impl Context<'static> {
    /// No workspace rules and no earlier sends.
    pub const NONE: Context<'static> = Context { rules: &Rules::NONE, recent: &[] };
}

/// Why a marketing message may not go now.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub reason: Reason,
    pub behaviour: Behaviour,
}

/// The rule that holds a message back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Quiet hours in `timezone` until `until`.
    QuietHours { until: DateTime<Utc>, timezone: Tz },
    /// `cap` is reached until `until` (when enough counted messages have left its period).
    Capped { cap: Cap, until: DateTime<Utc> },
}

impl Hold {
    /// When the message may go at the earliest.
    pub fn until(&self) -> DateTime<Utc> {
        match &self.reason {
            Reason::QuietHours { until, .. } | Reason::Capped { until, .. } => *until,
        }
    }

    /// The timeline entry of this hold for a message of `channel`.
    pub fn entry(&self, channel: Channel) -> What {
        let skipped = self.behaviour == Behaviour::Skip;
        match &self.reason {
            Reason::QuietHours { until, timezone } => {
                What::QuietHours { channel, until: *until, timezone: timezone.name().to_string(), skipped }
            }
            Reason::Capped { cap, until } => What::FrequencyCapped {
                channel,
                max: cap.max,
                period: format_duration(cap.period),
                until: *until,
                skipped,
            },
        }
    }
}

/// Whether a message of `channel` may go to `contact` at `now`; `None` when it may.
///
/// Transactional messages always may. A marketing message is held by the quiet hours
/// that apply (the journey's own, else the workspace's unless the journey turned them
/// off), then by every cap of its channel (unless the journey ignores caps): a cap holds
/// when `max` messages of the channel are in `(now - period, now]` among `ctx.recent`
/// and `own` (the sends of this very step), until enough of them leave the period.
pub fn gate(
    journey: &JourneyRules,
    ctx: &Context<'_>,
    own: &[RecentSend],
    channel: Channel,
    transactional: bool,
    contact: &Contact,
    now: DateTime<Utc>,
) -> Option<Hold> {
    if transactional {
        return None;
    }
    let quiet = match &journey.quiet_hours {
        QuietRule::Inherit => ctx.rules.quiet_hours.as_ref(),
        QuietRule::Off => None,
        QuietRule::Own(q) => Some(q),
    };
    if let Some(q) = quiet {
        let tz = contact_timezone(contact, q.timezone);
        if let Some(until) = q.ends(now, tz) {
            return Some(Hold { reason: Reason::QuietHours { until, timezone: tz }, behaviour: q.behaviour });
        }
    }
    if !journey.caps {
        return None;
    }
    let mut held: Option<(Cap, DateTime<Utc>)> = None;
    for cap in ctx.rules.caps.iter().filter(|c| c.channel == channel) {
        let since = now - cap.period;
        let mut counted: Vec<DateTime<Utc>> =
            ctx.recent.iter().chain(own).filter(|s| s.channel == channel && s.at > since).map(|s| s.at).collect();
        let max = cap.max as usize;
        if counted.len() < max {
            continue;
        }
        counted.sort();
        // Below the cap again once all but `max - 1` of them have left the period.
        let until = counted[counted.len() - max] + cap.period;
        if held.is_none_or(|(_, u)| until > u) {
            held = Some((*cap, until));
        }
    }
    held.map(|(cap, until)| Hold { reason: Reason::Capped { cap, until }, behaviour: ctx.rules.cap_behaviour })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;
    use serde_json::json;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn quiet(start: &str, end: &str, tz: Tz) -> QuietHours {
        let mut problems = vec![];
        let (start, end) = window(start, end, "", &mut problems).unwrap();
        QuietHours { start, end, timezone: tz, behaviour: Behaviour::Wait }
    }

    #[test]
    fn a_window_across_midnight_holds_the_evening_and_the_early_morning() {
        let q = quiet("21:00", "08:00", chrono_tz::UTC);
        let tz = chrono_tz::UTC;
        assert_eq!(q.ends(utc("2026-01-05T20:59:59Z"), tz), None);
        assert_eq!(q.ends(utc("2026-01-05T21:00:00Z"), tz), Some(utc("2026-01-06T08:00:00Z")));
        assert_eq!(q.ends(utc("2026-01-05T23:59:00Z"), tz), Some(utc("2026-01-06T08:00:00Z")));
        assert_eq!(q.ends(utc("2026-01-06T00:00:00Z"), tz), Some(utc("2026-01-06T08:00:00Z")));
        assert_eq!(q.ends(utc("2026-01-06T07:59:59Z"), tz), Some(utc("2026-01-06T08:00:00Z")));
        assert_eq!(q.ends(utc("2026-01-06T08:00:00Z"), tz), None, "the end is not inside");
        assert_eq!(q.ends(utc("2026-01-06T12:00:00Z"), tz), None);
    }

    #[test]
    fn a_window_within_a_day() {
        let q = quiet("12:00", "14:30", chrono_tz::UTC);
        let tz = chrono_tz::UTC;
        assert_eq!(q.ends(utc("2026-01-05T11:59:00Z"), tz), None);
        assert_eq!(q.ends(utc("2026-01-05T12:00:00Z"), tz), Some(utc("2026-01-05T14:30:00Z")));
        assert_eq!(q.ends(utc("2026-01-05T14:30:00Z"), tz), None);
        assert_eq!(q.ends(utc("2026-01-05T23:00:00Z"), tz), None);
    }

    #[test]
    fn new_york_mornings_at_eight_across_both_changes() {
        let q = quiet("21:00", "08:00", New_York);
        // Spring: 22:30 EST on Saturday 7 March; the clocks go forward that night, so
        // 08:00 on Sunday is EDT (UTC-4), one hour earlier in UTC than the day before.
        assert_eq!(q.ends(utc("2026-03-08T03:30:00Z"), New_York), Some(utc("2026-03-08T12:00:00Z")));
        assert_eq!(q.ends(utc("2026-03-07T03:30:00Z"), New_York), Some(utc("2026-03-07T13:00:00Z")));
        // In the small hours, after the change (03:30 EDT).
        assert_eq!(q.ends(utc("2026-03-08T07:30:00Z"), New_York), Some(utc("2026-03-08T12:00:00Z")));
        // Autumn: 22:30 EDT on Saturday 31 October; 08:00 on Sunday is EST (UTC-5).
        assert_eq!(q.ends(utc("2026-11-01T02:30:00Z"), New_York), Some(utc("2026-11-01T13:00:00Z")));
        // During the repeated hour (01:30 EST, the second pass).
        assert_eq!(q.ends(utc("2026-11-01T06:30:00Z"), New_York), Some(utc("2026-11-01T13:00:00Z")));
    }

    #[test]
    fn berlin_mornings_at_eight_across_both_changes() {
        let q = quiet("21:00", "08:00", Berlin);
        // Spring: 22:30 CET on Saturday 28 March; Sunday 08:00 is CEST (UTC+2).
        assert_eq!(q.ends(utc("2026-03-28T21:30:00Z"), Berlin), Some(utc("2026-03-29T06:00:00Z")));
        // Autumn: 22:30 CEST on Saturday 24 October; Sunday 08:00 is CET (UTC+1).
        assert_eq!(q.ends(utc("2026-10-24T20:30:00Z"), Berlin), Some(utc("2026-10-25T07:00:00Z")));
        // 20:30 CEST is before the window.
        assert_eq!(q.ends(utc("2026-10-24T18:30:00Z"), Berlin), None);
    }

    #[test]
    fn an_end_in_the_skipped_hour_is_when_the_clock_jumps_past_it() {
        let q = quiet("22:00", "02:30", New_York);
        // 01:30 EST on 8 March; at 02:00 EST the clock jumps to 03:00 EDT (07:00 UTC).
        assert_eq!(q.ends(utc("2026-03-08T06:30:00Z"), New_York), Some(utc("2026-03-08T07:00:00Z")));
        assert_eq!(q.ends(utc("2026-03-08T07:00:00Z"), New_York), None, "03:00 EDT is outside");
    }

    #[test]
    fn an_end_in_the_repeated_hour_counts_on_each_pass() {
        let q = quiet("22:00", "01:30", New_York);
        // 01:15 EDT (first pass): ends at 01:30 EDT.
        assert_eq!(q.ends(utc("2026-11-01T05:15:00Z"), New_York), Some(utc("2026-11-01T05:30:00Z")));
        // 01:45 EDT is outside; the clock then falls back to 01:00 EST, inside again.
        assert_eq!(q.ends(utc("2026-11-01T05:45:00Z"), New_York), None);
        assert_eq!(q.ends(utc("2026-11-01T06:15:00Z"), New_York), Some(utc("2026-11-01T06:30:00Z")));
    }

    #[test]
    fn the_contact_time_zone_wins_over_the_fallback() {
        let rules = Rules { quiet_hours: Some(quiet("21:00", "08:00", chrono_tz::UTC)), ..Rules::NONE };
        let ctx = Context { rules: &rules, recent: &[] };
        let mut contact = Contact::new("ann");
        let now = utc("2026-03-08T03:30:00Z"); // 22:30 in New York, 03:30 in UTC
        let hold = gate(&JourneyRules::default(), &ctx, &[], Channel::Email, false, &contact, now).unwrap();
        assert_eq!(hold.until(), utc("2026-03-08T08:00:00Z"));
        contact.attributes.insert("timezone".into(), json!("America/New_York"));
        let hold = gate(&JourneyRules::default(), &ctx, &[], Channel::Email, false, &contact, now).unwrap();
        assert_eq!(hold.reason, Reason::QuietHours { until: utc("2026-03-08T12:00:00Z"), timezone: New_York });
        assert_eq!(
            hold.entry(Channel::Email),
            What::QuietHours {
                channel: Channel::Email,
                until: utc("2026-03-08T12:00:00Z"),
                timezone: "America/New_York".into(),
                skipped: false
            }
        );
        // Transactional messages and journeys with quiet hours off are never held.
        assert_eq!(gate(&JourneyRules::default(), &ctx, &[], Channel::Email, true, &contact, now), None);
        let off = JourneyRules { quiet_hours: QuietRule::Off, caps: true };
        assert_eq!(gate(&off, &ctx, &[], Channel::Email, false, &contact, now), None);
        // A journey's own window replaces the workspace's.
        let own = JourneyRules { quiet_hours: QuietRule::Own(quiet("23:00", "07:00", Berlin)), caps: true };
        assert_eq!(gate(&own, &ctx, &[], Channel::Email, false, &contact, now), None, "22:30 is before 23:00");
    }

    fn sent(channel: Channel, at: &str) -> RecentSend {
        RecentSend { channel, at: utc(at) }
    }

    #[test]
    fn a_cap_counts_the_channel_within_the_period_and_waits_for_the_oldest_to_leave() {
        let rules = Rules {
            caps: vec![Cap { channel: Channel::Email, max: 2, period: TimeDelta::days(1) }],
            cap_behaviour: Behaviour::Skip,
            ..Rules::NONE
        };
        let recent = [
            sent(Channel::Email, "2026-01-04T09:00:00Z"), // more than a day ago
            sent(Channel::Email, "2026-01-05T08:00:00Z"),
            sent(Channel::Sms, "2026-01-05T08:30:00Z"), // another channel
        ];
        let ctx = Context { rules: &rules, recent: &recent };
        let (j, c, now) = (JourneyRules::default(), Contact::new("ann"), utc("2026-01-05T10:00:00Z"));
        assert_eq!(gate(&j, &ctx, &[], Channel::Email, false, &c, now), None, "one email in the last day");
        assert_eq!(gate(&j, &ctx, &[], Channel::Sms, false, &c, now), None, "sms has no cap");
        // A second email earlier in the same step reaches the cap.
        let own = [sent(Channel::Email, "2026-01-05T10:00:00Z")];
        let hold = gate(&j, &ctx, &own, Channel::Email, false, &c, now).unwrap();
        assert_eq!(hold.until(), utc("2026-01-06T08:00:00Z"), "when the 08:00 email leaves the day");
        assert_eq!(hold.behaviour, Behaviour::Skip);
        assert_eq!(
            hold.entry(Channel::Email),
            What::FrequencyCapped {
                channel: Channel::Email,
                max: 2,
                period: "1d".into(),
                until: utc("2026-01-06T08:00:00Z"),
                skipped: true
            }
        );
        // Transactional messages and journeys that ignore caps pass.
        assert_eq!(gate(&j, &ctx, &own, Channel::Email, true, &c, now), None);
        let ignore = JourneyRules { caps: false, ..JourneyRules::default() };
        assert_eq!(gate(&ignore, &ctx, &own, Channel::Email, false, &c, now), None);
        // Exactly a period later the oldest no longer counts.
        assert_eq!(gate(&j, &ctx, &own, Channel::Email, false, &c, utc("2026-01-06T08:00:00Z")), None);
    }

    #[test]
    fn over_the_cap_waits_until_enough_have_left_and_the_strictest_cap_wins() {
        let rules = Rules {
            caps: vec![
                Cap { channel: Channel::Push, max: 1, period: TimeDelta::hours(1) },
                Cap { channel: Channel::Push, max: 2, period: TimeDelta::days(1) },
            ],
            ..Rules::NONE
        };
        let recent = [
            sent(Channel::Push, "2026-01-05T01:00:00Z"),
            sent(Channel::Push, "2026-01-05T02:00:00Z"),
            sent(Channel::Push, "2026-01-05T09:30:00Z"),
        ];
        let ctx = Context { rules: &rules, recent: &recent };
        let hold = gate(
            &JourneyRules::default(),
            &ctx,
            &[],
            Channel::Push,
            false,
            &Contact::new("a"),
            utc("2026-01-05T10:00:00Z"),
        )
        .unwrap();
        // Hourly: free at 10:30. Daily: 3 counted, max 2, so two must leave: 02:00 + 1d.
        assert_eq!(hold.until(), utc("2026-01-06T02:00:00Z"));
        let Reason::Capped { cap, .. } = hold.reason else { panic!() };
        assert_eq!(cap.period, TimeDelta::days(1));
    }

    #[test]
    fn quiet_hours_come_before_caps() {
        let rules = Rules {
            quiet_hours: Some(quiet("21:00", "08:00", chrono_tz::UTC)),
            caps: vec![Cap { channel: Channel::Sms, max: 1, period: TimeDelta::days(1) }],
            cap_behaviour: Behaviour::Wait,
        };
        let recent = [sent(Channel::Sms, "2026-01-05T20:00:00Z")];
        let ctx = Context { rules: &rules, recent: &recent };
        let hold = gate(
            &JourneyRules::default(),
            &ctx,
            &[],
            Channel::Sms,
            false,
            &Contact::new("a"),
            utc("2026-01-05T22:00:00Z"),
        )
        .unwrap();
        assert!(matches!(hold.reason, Reason::QuietHours { .. }));
    }

    #[test]
    fn settings_compile_and_every_problem_names_its_field() {
        let ok: DeliverySettings = serde_json::from_value(json!({
            "quiet_hours": { "enabled": true, "start": "21:00", "end": "08:00", "timezone": "America/New_York", "behaviour": "skip" },
            "frequency_caps": { "limits": [ { "channel": "email", "max": 3, "period": "7d" }, { "channel": "email", "max": 1, "period": "1d" } ] }
        }))
        .unwrap();
        let rules = ok.compile("").unwrap();
        assert_eq!(rules.quiet_hours.unwrap().timezone, New_York);
        assert_eq!(rules.quiet_hours.unwrap().behaviour, Behaviour::Skip);
        assert_eq!(rules.caps.len(), 2);
        assert_eq!(rules.lookback(), Some(TimeDelta::days(7)));
        // Disabled quiet hours compile to none; the defaults are what GET shows first.
        assert_eq!(DeliverySettings::default().compile("").unwrap(), Rules::NONE);

        let bad: DeliverySettings = serde_json::from_value(json!({
            "quiet_hours": { "enabled": false, "start": "9pm", "end": "25:00", "timezone": "Mars/Olympus" },
            "frequency_caps": { "behaviour": "skip", "limits": [
                { "channel": "email", "max": 0, "period": "1d" },
                { "channel": "sms", "max": 2, "period": "1 fortnight" },
                { "channel": "sms", "max": 2, "period": "1mo" },
                { "channel": "push", "max": 5, "period": "30s" },
                { "channel": "push", "max": 5000, "period": "1d" },
                { "channel": "sms", "max": 3, "period": "24h" },
                { "channel": "sms", "max": 4, "period": "1d" }
            ] }
        }))
        .unwrap();
        let problems = bad.compile("").unwrap_err();
        let got: Vec<(&str, Kind)> = problems.iter().map(|p| (p.pointer.as_str(), p.code)).collect();
        assert_eq!(
            got,
            [
                ("/quiet_hours/start", Kind::InvalidValue),
                ("/quiet_hours/end", Kind::InvalidValue),
                ("/quiet_hours/timezone", Kind::InvalidTimezone),
                ("/frequency_caps/limits/0/max", Kind::InvalidValue),
                ("/frequency_caps/limits/1/period", Kind::InvalidDuration),
                ("/frequency_caps/limits/2/period", Kind::InvalidDuration),
                ("/frequency_caps/limits/3/period", Kind::InvalidValue),
                ("/frequency_caps/limits/4/max", Kind::InvalidValue),
                ("/frequency_caps/limits/6", Kind::InvalidValue),
            ]
        );
        assert!(problems[8].message.contains("already a cap for sms over 1d"), "{}", problems[8].message);
        let same: DeliverySettings =
            serde_json::from_value(json!({ "quiet_hours": { "start": "08:00", "end": "08:00" } })).unwrap();
        let problems = same.compile("/delivery").unwrap_err();
        assert_eq!(problems[0].pointer, "/delivery/quiet_hours/end");
        assert!(problems[0].message.contains("when they start"), "{}", problems[0].message);
    }

    #[test]
    fn a_journey_override_reads_and_writes_each_form() {
        let read = |v: serde_json::Value| serde_json::from_value::<QuietHoursOverride>(v);
        assert!(read(json!("inherit")).unwrap().is_inherit());
        assert_eq!(read(json!("off")).unwrap(), QuietHoursOverride::Mode(QuietHoursMode::Off));
        let w = read(json!({ "start": "22:00", "end": "07:00" })).unwrap();
        assert_eq!(serde_json::to_value(&w).unwrap(), json!({ "start": "22:00", "end": "07:00" }));
        let w = read(json!({ "start": "22:00", "end": "07:00", "behaviour": "skip" })).unwrap();
        assert_eq!(serde_json::to_value(&w).unwrap(), json!({ "start": "22:00", "end": "07:00", "behaviour": "skip" }));
        assert_eq!(serde_json::to_value(QuietHoursOverride::default()).unwrap(), json!("inherit"));
        let err = read(json!("sometimes")).unwrap_err().to_string();
        assert!(err.contains("`sometimes` is not a quiet-hours setting"), "{err}");
        assert!(
            read(json!({ "start": "22:00", "end": "07:00", "days": [] })).unwrap_err().to_string().contains("days")
        );
        assert!(read(json!(3)).unwrap_err().to_string().contains("inherit"));
    }
}
