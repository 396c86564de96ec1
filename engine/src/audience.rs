//! The audience model: segments (dynamic, defined by a condition), lifecycle stages and
//! the rules that move contacts between them, lead scoring, and RFM scores.
//!
//! Everything here is pure: the store loads a contact and its events, these functions
//! say what the contact's score, stage and segments are now, and the scheduler
//! (`Scheduler::run_audience`) writes the differences, records them and starts the
//! journeys they trigger, in one transaction.

use crate::condition::{Condition, Scope};
use crate::contact::{Contact, Event};
use crate::history::History;
use crate::problem::{Kind, Problem, join_pointer};
use crate::time::parse_duration;
use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// The attribute that holds the lifecycle stage.
pub const STAGE_ATTRIBUTE: &str = crate::nodes::update_contact::LIFECYCLE_ATTRIBUTE;
/// The attribute that holds the RFM scores.
pub const RFM_ATTRIBUTE: &str = "rfm";

/// The default lifecycle stages, in order.
pub const DEFAULT_STAGES: [&str; 8] =
    ["subscriber", "lead", "customer", "repeat_customer", "loyal_advocate", "lapsed", "inactive", "reactivated"];

// ---------------------------------------------------------------------------------------------
// Segments
// ---------------------------------------------------------------------------------------------

/// A dynamic segment: the contacts for whom `condition` holds now.
///
/// ```json
/// { "id": "inactive-30", "name": "Inactive for 30 days",
///   "condition": { "all": [
///     { "left": "contact.email", "op": "exists" },
///     { "performed": "session_started", "measure": "count", "within_last": "30d", "op": "eq", "right": 0 } ] } }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Stable slug (lowercase letters, digits, `-`, `_`), e.g. `inactive-30`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the segment is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Who is in it: a condition over the contact (`contact.*`, including `contact.lifecycle_stage`,
    /// `contact.lead_score` and `contact.rfm.*`) and its event history (`performed`).
    pub condition: Condition,
}

/// Whether `id` is a usable slug.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Segment {
    /// Problems with the definition, with JSON pointers from its root.
    pub fn check(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if !valid_id(&self.id) {
            out.push(Problem::new(
                Kind::InvalidId,
                "/id",
                format!(
                    "`{}` is not a usable segment id; use lowercase letters, digits, `-` and `_` (at most 64)",
                    self.id
                ),
            ));
        } else if self.id == "preview" {
            // `POST /v1/segments/preview` previews a condition; a segment by that id could not be used there.
            out.push(Problem::new(
                Kind::InvalidId,
                "/id",
                "`preview` is reserved (`/v1/segments/preview` previews a condition); choose another segment id",
            ));
        }
        if self.name.trim().is_empty() {
            out.push(Problem::new(Kind::InvalidValue, "/name", "the name is empty; give the segment a name"));
        }
        out.extend(self.condition.check_audience("/condition"));
        out
    }

    /// The event names its condition reads.
    pub fn event_names(&self) -> BTreeSet<String> {
        crate::history::event_names(&self.condition)
    }

    /// Whether the contact is in the segment now.
    pub fn contains(&self, contact: &Contact, history: &dyn History, now: DateTime<Utc>) -> bool {
        self.condition.evaluate(&audience_scope(contact, history, now))
    }
}

/// The scope audience conditions are evaluated in: the contact, its history and the time.
pub fn audience_scope<'a>(contact: &'a Contact, history: &'a dyn History, now: DateTime<Utc>) -> Scope<'a> {
    Scope { contact, trigger: None, event: None, now, data: None, history: Some(history) }
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// The workspace's audience settings: its lifecycle stages and the rules that move contacts
/// between them, lead scoring, and RFM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The lifecycle stages, in order (reports list them in this order).
    #[serde(default = "default_stages")]
    pub stages: Vec<String>,
    /// Rules that change a contact's stage, tried in order; the first that applies wins.
    #[serde(default)]
    pub stage_rules: Vec<StageRule>,
    /// Lead scoring: points per event and per attribute, with optional decay.
    #[serde(default)]
    pub scoring: Option<Scoring>,
    /// RFM scores (recency, frequency, monetary quintiles) from a purchase event.
    #[serde(default)]
    pub rfm: Option<Rfm>,
}

fn default_stages() -> Vec<String> {
    DEFAULT_STAGES.iter().map(|s| s.to_string()).collect()
}

impl Default for Settings {
    fn default() -> Self {
        Settings { stages: default_stages(), stage_rules: Vec::new(), scoring: None, rfm: None }
    }
}

/// A rule that moves contacts to stage `to`: when they perform `event` (with `where` true of
/// it), or when `condition` holds (checked whenever the contact changes and on a schedule).
///
/// ```json
/// { "to": "lapsed", "from": ["customer", "repeat_customer"],
///   "condition": { "performed": "purchase", "measure": "last_at", "op": "more_than_ago", "right": "60d" } }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageRule {
    /// The stage the contact moves to.
    pub to: String,
    /// Only contacts in one of these stages move (`null` in the list: contacts without a stage).
    /// Absent: any stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<Option<String>>>,
    /// Move when the contact performs this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// With `event`: a condition over the event (`event.properties.*`) and the contact.
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Condition>,
    /// Move when this condition holds (it may use `performed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

impl StageRule {
    fn applies_from(&self, stage: Option<&str>) -> bool {
        match &self.from {
            None => true,
            Some(list) => list.iter().any(|s| s.as_deref() == stage),
        }
    }

    /// A short description for stage-change causes.
    pub fn describe(&self, index: usize) -> String {
        match (&self.event, &self.condition) {
            (Some(e), _) => format!("stage rule {index}: performed `{e}`"),
            _ => format!("stage rule {index}: condition"),
        }
    }
}

/// Lead scoring: the score is the sum of the points of every rule, kept in `attribute`.
///
/// ```json
/// { "attribute": "lead_score",
///   "rules": [ { "points": 10, "event": "page_viewed" },
///              { "points": 20, "condition": { "left": "contact.job_title", "op": "contains", "right": "VP" } } ],
///   "decay": { "every": "30d", "percent": 50 } }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// The contact attribute that holds the score (default `lead_score`); computed, so
    /// journeys should not set it.
    #[serde(default = "default_score_attribute")]
    pub attribute: String,
    /// The rules.
    pub rules: Vec<ScoreRule>,
    /// Event points lose `percent` of their value every `every` after the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<Decay>,
}

fn default_score_attribute() -> String {
    "lead_score".into()
}

/// Points for each `event` performed (with `where` true of it), or while `condition` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreRule {
    /// Points (negative to subtract).
    #[serde(serialize_with = "whole_if_integral")]
    pub points: f64,
    /// Points for each time the contact performed this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// With `event`: only events for which this condition (`event.properties.*`) holds.
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Condition>,
    /// Points while this condition on the contact holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

/// Score decay: an event's points lose `percent` every `every` (`30d`, 50 → half after 30 days,
/// a quarter after 60).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decay {
    /// The period, such as `30d`.
    pub every: String,
    /// Share lost each period, 1–100.
    #[serde(serialize_with = "whole_if_integral")]
    pub percent: f64,
}

/// RFM scoring from a purchase event: recency (days since the last), frequency (how many) and
/// monetary (sum of `amount_property`) are ranked across contacts into quintiles 1–5 (5 best),
/// kept in the `rfm` attribute as `{"recency", "frequency", "monetary", "score": "545"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rfm {
    /// The purchase event, such as `purchase`.
    pub event: String,
    /// The event property holding the amount, such as `amount`.
    pub amount_property: String,
}

impl Settings {
    /// Problems, with JSON pointers from the settings' root.
    pub fn check(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.stages.is_empty() {
            out.push(Problem::new(Kind::InvalidValue, "/stages", "there are no stages; list at least one"));
        }
        let mut seen = BTreeSet::new();
        for (i, s) in self.stages.iter().enumerate() {
            if !valid_id(s) {
                out.push(Problem::new(
                    Kind::InvalidValue,
                    format!("/stages/{i}"),
                    format!("`{s}` is not a usable stage name; use lowercase letters, digits, `-` and `_`"),
                ));
            } else if !seen.insert(s.as_str()) {
                out.push(Problem::new(Kind::InvalidValue, format!("/stages/{i}"), format!("`{s}` is listed twice")));
            }
        }
        let known = |s: &str| self.stages.iter().any(|x| x == s);
        let names = self.stages.join(", ");
        for (i, rule) in self.stage_rules.iter().enumerate() {
            let at = format!("/stage_rules/{i}");
            if !known(&rule.to) {
                out.push(Problem::new(
                    Kind::InvalidValue,
                    join_pointer(&at, "to"),
                    format!("`{}` is not one of the stages ({names})", rule.to),
                ));
            }
            for (k, from) in rule.from.iter().flatten().enumerate() {
                if let Some(f) = from
                    && !known(f)
                {
                    out.push(Problem::new(
                        Kind::InvalidValue,
                        format!("{at}/from/{k}"),
                        format!("`{f}` is not one of the stages ({names}); `null` means contacts without a stage"),
                    ));
                }
            }
            check_event_or_condition(&at, &rule.event, &rule.filter, &rule.condition, "move contacts", &mut out);
        }
        if let Some(scoring) = &self.scoring {
            if scoring.attribute.trim().is_empty()
                || scoring.attribute == STAGE_ATTRIBUTE
                || scoring.attribute == RFM_ATTRIBUTE
            {
                out.push(Problem::new(
                    Kind::InvalidValue,
                    "/scoring/attribute",
                    format!(
                        "`{}` cannot hold the score; name an attribute such as `lead_score` (not `{STAGE_ATTRIBUTE}` \
                         or `{RFM_ATTRIBUTE}`)",
                        scoring.attribute
                    ),
                ));
            }
            if scoring.rules.is_empty() {
                out.push(Problem::new(Kind::InvalidValue, "/scoring/rules", "scoring has no rules; add at least one"));
            }
            for (i, rule) in scoring.rules.iter().enumerate() {
                let at = format!("/scoring/rules/{i}");
                if !rule.points.is_finite() || rule.points == 0.0 {
                    out.push(Problem::new(
                        Kind::InvalidValue,
                        join_pointer(&at, "points"),
                        "points must be a number other than 0 (negative subtracts)",
                    ));
                }
                check_event_or_condition(&at, &rule.event, &rule.filter, &rule.condition, "give points", &mut out);
                if let Some(c) = &rule.condition
                    && !crate::history::event_names(c).is_empty()
                {
                    out.push(Problem::new(
                        Kind::NotSupported,
                        join_pointer(&at, "condition"),
                        "a scoring condition reads the contact only; to give points for events use `event`",
                    ));
                }
            }
            if let Some(decay) = &scoring.decay {
                match parse_duration(&decay.every) {
                    Ok(d) if d > TimeDelta::zero() => {}
                    Ok(_) => out.push(Problem::new(
                        Kind::InvalidDuration,
                        "/scoring/decay/every",
                        "the decay period must be longer than 0, such as \"30d\"",
                    )),
                    Err(e) => out.push(Problem::new(
                        Kind::InvalidDuration,
                        "/scoring/decay/every",
                        format!("{e}; write a period such as \"30d\""),
                    )),
                }
                if !(decay.percent > 0.0 && decay.percent <= 100.0) {
                    out.push(Problem::new(
                        Kind::InvalidValue,
                        "/scoring/decay/percent",
                        format!("{} is not a share from 1 to 100", decay.percent),
                    ));
                }
            }
        }
        if let Some(rfm) = &self.rfm {
            if rfm.event.trim().is_empty() {
                out.push(Problem::new(
                    Kind::InvalidValue,
                    "/rfm/event",
                    "name the purchase event, such as \"purchase\"",
                ));
            }
            if rfm.amount_property.trim().is_empty() || rfm.amount_property.split('.').any(str::is_empty) {
                out.push(Problem::new(
                    Kind::InvalidValue,
                    "/rfm/amount_property",
                    "name the event property holding the amount, such as \"amount\"",
                ));
            }
        }
        out
    }

    /// Every event name a rule or score reads (what the store loads per contact).
    pub fn event_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for r in &self.stage_rules {
            out.extend(r.event.iter().cloned());
            for c in r.condition.iter().chain(&r.filter) {
                out.extend(crate::history::event_names(c));
            }
        }
        if let Some(s) = &self.scoring {
            for r in &s.rules {
                out.extend(r.event.iter().cloned());
            }
        }
        out
    }

    /// The score `contact` has now, given its events.
    pub fn score(&self, contact: &Contact, history: &dyn History, now: DateTime<Utc>) -> Option<f64> {
        let scoring = self.scoring.as_ref()?;
        let decay = scoring.decay.as_ref().and_then(|d| Some((parse_duration(&d.every).ok()?, d.percent)));
        let mut total = 0.0;
        for rule in &scoring.rules {
            if let Some(name) = &rule.event {
                for e in history.events(name) {
                    if e.timestamp > now {
                        continue;
                    }
                    if let Some(f) = &rule.filter
                        && !f.evaluate(&Scope {
                            contact,
                            trigger: None,
                            event: Some(e),
                            now,
                            data: None,
                            history: None,
                        })
                    {
                        continue;
                    }
                    let factor = match decay {
                        Some((every, percent)) if every > TimeDelta::zero() => {
                            let periods = ((now - e.timestamp).num_milliseconds() / every.num_milliseconds()) as i32;
                            (1.0 - percent / 100.0).powi(periods)
                        }
                        _ => 1.0,
                    };
                    total += rule.points * factor;
                }
            } else if let Some(c) = &rule.condition
                && c.evaluate(&audience_scope(contact, history, now))
            {
                total += rule.points;
            }
        }
        Some((total * 100.0).round() / 100.0)
    }

    /// The stage `contact` moves to, if any, and the rule's index: `events` are the events
    /// that just arrived (in order); condition rules are tried after them.
    pub fn next_stage(
        &self,
        contact: &Contact,
        history: &dyn History,
        events: &[&Event],
        now: DateTime<Utc>,
    ) -> Option<(String, usize)> {
        let stage = stage_of(contact);
        for e in events {
            for (i, rule) in self.stage_rules.iter().enumerate() {
                if rule.event.as_deref() != Some(e.name.as_str()) || !rule.applies_from(stage.as_deref()) {
                    continue;
                }
                if stage.as_deref() == Some(rule.to.as_str()) {
                    continue;
                }
                let scope = Scope { contact, trigger: None, event: Some(e), now, data: None, history: Some(history) };
                if rule.filter.as_ref().is_none_or(|f| f.evaluate(&scope)) {
                    return Some((rule.to.clone(), i));
                }
            }
        }
        for (i, rule) in self.stage_rules.iter().enumerate() {
            let Some(c) = &rule.condition else { continue };
            if stage.as_deref() == Some(rule.to.as_str()) || !rule.applies_from(stage.as_deref()) {
                continue;
            }
            if c.evaluate(&audience_scope(contact, history, now)) {
                return Some((rule.to.clone(), i));
            }
        }
        None
    }

    /// Whether any stage rule depends on time (re-checked on a schedule).
    pub fn has_time_rules(&self) -> bool {
        self.stage_rules.iter().any(|r| r.condition.as_ref().is_some_and(crate::history::is_time_relative))
    }
}

fn check_event_or_condition(
    at: &str,
    event: &Option<String>,
    filter: &Option<Condition>,
    condition: &Option<Condition>,
    verb: &str,
    out: &mut Vec<Problem>,
) {
    match (event, condition) {
        (Some(_), Some(_)) => out.push(Problem::new(
            Kind::InvalidValue,
            at,
            "a rule has either `event` or `condition`, not both: split it into two rules",
        )),
        (None, None) => out.push(Problem::new(
            Kind::MissingField,
            at,
            format!("say when to {verb}: `event` (an event name) or `condition`"),
        )),
        (Some(e), None) if e.trim().is_empty() => {
            out.push(Problem::new(Kind::InvalidValue, join_pointer(at, "event"), "the event name is empty"))
        }
        _ => {}
    }
    if let Some(f) = filter {
        if event.is_none() {
            out.push(Problem::new(
                Kind::InvalidValue,
                join_pointer(at, "where"),
                "`where` filters the rule's `event`; add `event` or move the test into `condition`",
            ));
        }
        out.extend(f.check(&join_pointer(at, "where")));
    }
    if let Some(c) = condition {
        out.extend(c.check_audience(&join_pointer(at, "condition")));
    }
}

/// The contact's lifecycle stage, if it has one.
pub fn stage_of(contact: &Contact) -> Option<String> {
    contact.attributes.get(STAGE_ATTRIBUTE).and_then(Value::as_str).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Read `value` as a `T`, a failure as a problem with a pointer below `base`.
pub fn parse<T: serde::de::DeserializeOwned>(value: Value, base: &str) -> Result<T, Problem> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| crate::validate::serde_problem(base, None, e))
}

/// `10`, not `10.0`, for whole numbers (as people write them in the files).
fn whole_if_integral<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 { s.serialize_i64(*v as i64) } else { s.serialize_f64(*v) }
}

/// A document as `kairos fmt` writes it: keys in the format's order, two-space
/// indentation, a trailing newline.
fn canonical<T: Serialize>(value: &T) -> String {
    let mut out = serde_json::to_string_pretty(value).expect("audience documents always serialize");
    out.push('\n');
    out
}

impl Segment {
    /// The canonical bytes of the segment's file (`audience/segments/<id>.json`).
    pub fn to_canonical(&self) -> String {
        canonical(self)
    }

    /// A segment from JSON, checked: every problem with its pointer.
    pub fn from_value(value: Value) -> Result<Segment, Vec<Problem>> {
        let segment: Segment = parse(value, "").map_err(|p| vec![p])?;
        let problems = segment.check();
        if problems.is_empty() { Ok(segment) } else { Err(problems) }
    }
}

impl Settings {
    /// The canonical bytes of `audience/settings.json`.
    pub fn to_canonical(&self) -> String {
        canonical(self)
    }

    /// Settings from JSON, checked: every problem with its pointer.
    pub fn from_value(value: Value) -> Result<Settings, Vec<Problem>> {
        let settings: Settings = parse(value, "").map_err(|p| vec![p])?;
        let problems = settings.check();
        if problems.is_empty() { Ok(settings) } else { Err(problems) }
    }
}

/// A condition for a segment from JSON (a preview), checked; pointers start at `base`.
pub fn condition_from_value(value: Value, base: &str) -> Result<Condition, Vec<Problem>> {
    let condition: Condition = parse(value, base).map_err(|p| vec![p])?;
    let problems = condition.check_audience(base);
    if problems.is_empty() { Ok(condition) } else { Err(problems) }
}

// ---------------------------------------------------------------------------------------------
// RFM
// ---------------------------------------------------------------------------------------------

/// One contact's purchase figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchases {
    pub last: DateTime<Utc>,
    pub count: u64,
    pub amount: f64,
}

/// RFM quintiles for every contact with purchases: `{"recency", "frequency", "monetary",
/// "score"}`, 5 the best (most recent, most frequent, highest spend). Equal figures get
/// the same quintile (the lowest position of that figure decides).
pub fn rfm_scores(purchases: &HashMap<String, Purchases>) -> HashMap<String, Value> {
    fn quintiles(values: Vec<(&String, f64)>) -> HashMap<&String, u8> {
        let mut sorted = values;
        sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
        let n = sorted.len();
        let mut out = HashMap::with_capacity(n);
        let mut first_of_value = 0;
        for (i, (id, v)) in sorted.iter().enumerate() {
            if i > 0 && sorted[i - 1].1 != *v {
                first_of_value = i;
            }
            out.insert(*id, (first_of_value * 5 / n) as u8 + 1);
        }
        out
    }
    let r = quintiles(purchases.iter().map(|(id, p)| (id, p.last.timestamp_millis() as f64)).collect());
    let f = quintiles(purchases.iter().map(|(id, p)| (id, p.count as f64)).collect());
    let m = quintiles(purchases.iter().map(|(id, p)| (id, p.amount)).collect());
    purchases
        .keys()
        .map(|id| {
            let (r, f, m) = (r[id], f[id], m[id]);
            (
                id.clone(),
                serde_json::json!({"recency": r, "frequency": f, "monetary": m, "score": format!("{r}{f}{m}")}),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Events;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn example_segment_is_valid() {
        let s: Segment = serde_json::from_value(json!({ "id": "inactive-30", "name": "Inactive for 30 days",
          "condition": { "all": [
            { "left": "contact.email", "op": "exists" },
            { "performed": "session_started", "measure": "count", "within_last": "30d", "op": "eq", "right": 0 } ] } }))
        .unwrap();
        assert!(s.check().is_empty(), "{:?}", s.check());
        let mut c = Contact::new("a");
        c.attributes.insert("email".into(), json!("a@example.com"));
        let now = at("2026-03-01T00:00:00Z");
        let recent: Events = [Event::new("session_started", at("2026-02-20T00:00:00Z"))].into_iter().collect();
        let old: Events = [Event::new("session_started", at("2026-01-20T00:00:00Z"))].into_iter().collect();
        assert!(!s.contains(&c, &recent, now));
        assert!(s.contains(&c, &old, now));
        assert!(!s.contains(&Contact::new("no-email"), &old, now));
    }

    fn settings(value: Value) -> Settings {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn settings_checks_name_the_place() {
        let s = settings(json!({"stages": ["lead", "customer", "lead"],
            "stage_rules": [{"to": "vip", "event": "purchase"}, {"to": "customer"}, {"to": "lead", "from": ["nobody"], "event": "x"}],
            "scoring": {"rules": [{"points": 0, "event": "x"}, {"points": 5, "condition": {"performed": "x", "measure": "count", "op": "gt", "right": 0}}],
                        "decay": {"every": "soon", "percent": 120}},
            "rfm": {"event": "purchase", "amount_property": ""}}));
        let pointers: Vec<String> = s.check().into_iter().map(|p| p.pointer).collect();
        assert_eq!(
            pointers,
            [
                "/stages/2",
                "/stage_rules/0/to",
                "/stage_rules/1",
                "/stage_rules/2/from/0",
                "/scoring/rules/0/points",
                "/scoring/rules/1/condition",
                "/scoring/decay/every",
                "/scoring/decay/percent",
                "/rfm/amount_property"
            ]
        );
        assert!(Settings::default().check().is_empty());
    }

    #[test]
    fn score_with_decay_and_attribute_rules() {
        let s = settings(json!({"scoring": {"rules": [
            {"points": 10, "event": "page_viewed", "where": {"left": "event.properties.path", "op": "starts_with", "right": "/pricing"}},
            {"points": 20, "condition": {"left": "contact.job_title", "op": "contains", "right": "VP"}}],
            "decay": {"every": "30d", "percent": 50}}}));
        assert!(s.check().is_empty(), "{:?}", s.check());
        let now = at("2026-03-31T00:00:00Z");
        let events: Events = [
            Event::new("page_viewed", at("2026-03-30T00:00:00Z")).with_property("path", "/pricing"), // 10
            Event::new("page_viewed", at("2026-02-20T00:00:00Z")).with_property("path", "/pricing/team"), // 39 days: 5
            Event::new("page_viewed", at("2026-01-20T00:00:00Z")).with_property("path", "/pricing"), // 70 days: 2.5
            Event::new("page_viewed", at("2026-03-30T00:00:00Z")).with_property("path", "/blog"),    // filtered out
        ]
        .into_iter()
        .collect();
        let mut c = Contact::new("a");
        assert_eq!(s.score(&c, &events, now), Some(17.5));
        c.attributes.insert("job_title".into(), json!("VP Sales"));
        assert_eq!(s.score(&c, &events, now), Some(37.5));
        assert_eq!(Settings::default().score(&c, &events, now), None);
    }

    #[test]
    fn stage_rules_in_order() {
        let s = settings(json!({"stage_rules": [
            {"to": "customer", "event": "purchase", "from": [null, "subscriber", "lead"]},
            {"to": "reactivated", "event": "purchase", "from": ["lapsed", "inactive"]},
            {"to": "repeat_customer", "from": ["customer"], "condition": {"performed": "purchase", "measure": "count", "op": "gte", "right": 2}},
            {"to": "lapsed", "from": ["customer", "repeat_customer", "reactivated"],
             "condition": {"performed": "purchase", "measure": "last_at", "op": "more_than_ago", "right": "60d"}}]}));
        assert!(s.check().is_empty(), "{:?}", s.check());
        let now = at("2026-06-01T00:00:00Z");
        let p1 = Event::new("purchase", at("2026-03-01T00:00:00Z"));
        let p2 = Event::new("purchase", at("2026-06-01T00:00:00Z"));
        let mut c = Contact::new("a");
        let one: Events = [p1.clone()].into_iter().collect();
        // First purchase: no stage yet → customer.
        assert_eq!(s.next_stage(&c, &one, &[&p1], at("2026-03-01T00:00:00Z")), Some(("customer".into(), 0)));
        c.attributes.insert(STAGE_ATTRIBUTE.into(), json!("customer"));
        // 92 days later without purchase → lapsed (condition rule).
        assert_eq!(s.next_stage(&c, &one, &[], now), Some(("lapsed".into(), 3)));
        c.attributes.insert(STAGE_ATTRIBUTE.into(), json!("lapsed"));
        assert_eq!(s.next_stage(&c, &one, &[], now), None);
        // Purchase while lapsed → reactivated.
        let two: Events = [p1.clone(), p2.clone()].into_iter().collect();
        assert_eq!(s.next_stage(&c, &two, &[&p2], now), Some(("reactivated".into(), 1)));
        c.attributes.insert(STAGE_ATTRIBUTE.into(), json!("customer"));
        assert_eq!(s.next_stage(&c, &two, &[], now), Some(("repeat_customer".into(), 2)));
    }

    #[test]
    fn rfm_quintiles() {
        let base = at("2026-01-01T00:00:00Z");
        let purchases: HashMap<String, Purchases> = (0..10)
            .map(|i| {
                (
                    format!("c{i}"),
                    Purchases { last: base + TimeDelta::days(i), count: (i / 2 + 1) as u64, amount: 10.0 * i as f64 },
                )
            })
            .collect();
        let scores = rfm_scores(&purchases);
        // c9: the most recent, most frequent, biggest spender.
        assert_eq!(scores["c9"], json!({"recency": 5, "frequency": 5, "monetary": 5, "score": "555"}));
        assert_eq!(scores["c0"], json!({"recency": 1, "frequency": 1, "monetary": 1, "score": "111"}));
        // Equal counts share a quintile: c4 and c5 both made 3 purchases.
        assert_eq!(scores["c4"]["frequency"], scores["c5"]["frequency"]);
        assert_eq!(scores["c5"]["recency"], json!(3));
    }
}
