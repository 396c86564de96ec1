//! Event-history conditions: the `performed` leaf of a condition, which measures a
//! contact's past events ("performed `purchase` at least 3 times in the last 90 days",
//! "sum of `purchase.amount` ≥ 500", "last `login` more than 30 days ago").
//!
//! ```json
//! {"performed": "purchase", "measure": "count", "within_last": "90d", "op": "gte", "right": 3}
//! ```
//!
//! They are evaluated over the contact's stored events, so they are allowed where the
//! store can supply them: segment definitions and lifecycle/scoring rules. Inside a
//! journey's nodes [`crate::condition::Condition::check`] reports them.
//!
//! * `measure`: `count` (events), `sum` / `avg` / `min` / `max` (of the number at
//!   `property`, events without a number there are left out), `first_at` / `last_at` (when
//!   the first / latest such event happened).
//! * `within_last` (a duration such as `90d`) counts only events of that recent period;
//!   `where` (a condition over `event.properties.*`) only events for which it holds.
//! * No matching event: `count` and `sum` are 0, the other measures are missing (so
//!   `last_at more_than_ago 30d` is false for someone who never logged in; to include them,
//!   write `count` within the last `30d` `eq 0`).

use crate::condition::{Condition, Op, Right, Scope};
use crate::contact::Event;
use crate::problem::{Kind, Problem, join_pointer};
use crate::time::{parse_duration, timestamp_from_json};
use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// A contact's past events, as conditions with `performed` read them.
pub trait History: std::fmt::Debug {
    /// The contact's events called `name`, in any order.
    fn events(&self, name: &str) -> &[Event];
}

/// Events in memory, by name: what the store loads for one contact.
#[derive(Debug, Default, Clone)]
pub struct Events {
    by_name: HashMap<String, Vec<Event>>,
}

impl Events {
    pub fn push(&mut self, event: Event) {
        self.by_name.entry(event.name.clone()).or_default().push(event);
    }
}

impl FromIterator<Event> for Events {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> Self {
        let mut events = Events::default();
        for e in iter {
            events.push(e);
        }
        events
    }
}

impl History for Events {
    fn events(&self, name: &str) -> &[Event] {
        self.by_name.get(name).map(Vec::as_slice).unwrap_or_default()
    }
}

/// What to measure over the matching events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// How many events.
    Count,
    /// The sum of the number at `property` (0 without events).
    Sum,
    /// The average of the number at `property`.
    Avg,
    /// The smallest number at `property`.
    Min,
    /// The largest number at `property`.
    Max,
    /// When the first event happened.
    FirstAt,
    /// When the latest event happened.
    LastAt,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Count => "count",
            Measure::Sum => "sum",
            Measure::Avg => "avg",
            Measure::Min => "min",
            Measure::Max => "max",
            Measure::FirstAt => "first_at",
            Measure::LastAt => "last_at",
        }
    }

    /// Whether the measure reads a number at `property`.
    pub fn needs_property(self) -> bool {
        matches!(self, Measure::Sum | Measure::Avg | Measure::Min | Measure::Max)
    }

    /// Whether the measure is a time (compared with `before`, `after`, `within_last`, ...).
    pub fn is_time(self) -> bool {
        matches!(self, Measure::FirstAt | Measure::LastAt)
    }

    fn ops(self) -> &'static [Op] {
        if self.is_time() {
            &[Op::Before, Op::After, Op::WithinLast, Op::MoreThanAgo, Op::Exists, Op::NotExists]
        } else {
            &[Op::Eq, Op::Ne, Op::Gt, Op::Gte, Op::Lt, Op::Lte]
        }
    }
}

/// `{"performed": "purchase", "measure": "count", "within_last": "90d", "op": "gte", "right": 3}`:
/// a measure of the contact's past events compared with a value (segments and lifecycle rules only).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Performed {
    /// The event name.
    pub performed: String,
    /// What to measure.
    pub measure: Measure,
    /// The event property read by `sum`, `avg`, `min` and `max` (dots go into objects: `order.total`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// Only events of this recent period count (`"90d"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_last: Option<String>,
    /// How to compare the measure.
    pub op: Op,
    /// What to compare the measure with (left out for `exists` / `not_exists`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right: Option<Right>,
    /// Only events for which this condition (over `event.properties.*`) holds count.
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<Box<Condition>>,
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl Performed {
    /// The measure's value in `scope` (`None` when missing, or without a history).
    pub fn measure_value(&self, scope: &Scope) -> Option<Value> {
        let history = scope.history?;
        let since = match &self.within_last {
            Some(d) => Some(scope.now.checked_sub_signed(parse_duration(d).ok()?)?),
            None => None,
        };
        let path: Option<Vec<String>> = self.property.as_ref().map(|p| p.split('.').map(str::to_owned).collect());
        let matching = history.events(&self.performed).iter().filter(|e| {
            e.timestamp <= scope.now
                && since.is_none_or(|s| e.timestamp >= s)
                && self.filter.as_ref().is_none_or(|c| {
                    c.evaluate(&Scope { event: Some(e), trigger: None, history: None, data: None, ..*scope })
                })
        });
        let number = |e: &Event| -> Option<f64> {
            let v = e.property(path.as_ref()?)?;
            match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            }
        };
        let num = |f: f64| serde_json::Number::from_f64(f).map(Value::Number);
        match self.measure {
            Measure::Count => Some(Value::from(matching.count() as u64)),
            Measure::Sum => num(matching.filter_map(number).sum()),
            Measure::Avg => {
                let values: Vec<f64> = matching.filter_map(number).collect();
                if values.is_empty() { None } else { num(values.iter().sum::<f64>() / values.len() as f64) }
            }
            Measure::Min => matching.filter_map(number).reduce(f64::min).and_then(num),
            Measure::Max => matching.filter_map(number).reduce(f64::max).and_then(num),
            Measure::FirstAt => matching.map(|e| e.timestamp).min().map(|t| Value::String(format_time(t))),
            Measure::LastAt => matching.map(|e| e.timestamp).max().map(|t| Value::String(format_time(t))),
        }
    }

    /// Whether the comparison holds, and the values compared (for traces).
    pub fn eval(&self, scope: &Scope) -> (bool, Option<Value>, Option<Value>) {
        let left = self.measure_value(scope);
        let right = if self.op.takes_right() { self.right.as_ref().and_then(|r| r.resolve(scope)) } else { None };
        let result = crate::condition::apply(
            self.op,
            left.as_ref(),
            right.as_ref(),
            || timestamp_from_json(left.as_ref()?),
            || timestamp_from_json(right.as_ref()?),
            scope.now,
        );
        (result, left, right)
    }

    /// The text shown for the left side in traces: `purchase.count (90d)`.
    pub fn describe(&self) -> String {
        let mut out = format!("{}.{}", self.performed, self.measure.as_str());
        if let Some(p) = &self.property {
            out = format!("{}.{}({p})", self.performed, self.measure.as_str());
        }
        if let Some(w) = &self.within_last {
            out.push_str(&format!(" within {w}"));
        }
        out
    }

    /// Static checks; `pointer` is this leaf's JSON pointer.
    pub fn check_into(&self, pointer: &str, out: &mut Vec<Problem>) {
        let at = |field: &str| join_pointer(pointer, field);
        if self.performed.trim().is_empty() {
            out.push(Problem::new(
                Kind::InvalidValue,
                at("performed"),
                "the event name is empty; name the event to measure, such as \"purchase\"",
            ));
        }
        match (&self.property, self.measure.needs_property()) {
            (None, true) => out.push(Problem::new(
                Kind::MissingField,
                pointer,
                format!(
                    "`{}` adds up a number of each event: name it with `property`, such as \"property\": \"amount\"",
                    self.measure.as_str()
                ),
            )),
            (Some(_), false) => out.push(Problem::new(
                Kind::InvalidValue,
                at("property"),
                format!("`{}` does not read a property; remove `property`", self.measure.as_str()),
            )),
            (Some(p), true) if p.split('.').any(str::is_empty) => out.push(Problem::new(
                Kind::InvalidValue,
                at("property"),
                format!(
                    "`{p}` has an empty name between dots; write a property path such as `amount` or `order.total`"
                ),
            )),
            _ => {}
        }
        if let Some(w) = &self.within_last
            && let Err(e) = parse_duration(w)
        {
            out.push(Problem::new(
                Kind::InvalidDuration,
                at("within_last"),
                format!("{e}; write a period such as \"90d\""),
            ));
        }
        if let Some(filter) = &self.filter {
            filter.check_into_with(&at("where"), out, false);
        }
        if !self.measure.ops().contains(&self.op) {
            let names: Vec<String> = self.measure.ops().iter().map(|o| format!("`{o}`")).collect();
            out.push(Problem::new(
                Kind::IncompatibleTypes,
                at("op"),
                format!(
                    "`{}` is {} and cannot be compared with `{}`; use one of {}",
                    self.measure.as_str(),
                    if self.measure.is_time() { "a date" } else { "a number" },
                    self.op,
                    names.join(", ")
                ),
            ));
            return;
        }
        match (&self.right, self.op.takes_right()) {
            (None, true) => out.push(Problem::new(
                Kind::MissingField,
                pointer,
                format!("`{}` needs a `right` value to compare `{}` with", self.op, self.describe()),
            )),
            (Some(_), false) => out.push(Problem::new(
                Kind::InvalidValue,
                at("right"),
                format!("`{}` takes no `right` value; remove `right`", self.op),
            )),
            (Some(Right::Value(v)), true) => {
                let ok = match self.op {
                    Op::WithinLast | Op::MoreThanAgo => v.as_str().is_some_and(|s| parse_duration(s).is_ok()),
                    Op::Before | Op::After => timestamp_from_json(v).is_some(),
                    _ => match v {
                        Value::Number(_) => true,
                        Value::String(s) => s.trim().parse::<f64>().is_ok(),
                        _ => false,
                    },
                };
                if !ok {
                    let expected = match self.op {
                        Op::WithinLast | Op::MoreThanAgo => "a duration such as \"30d\"",
                        Op::Before | Op::After => "a date such as \"2026-01-01\"",
                        _ => "a number such as 3",
                    };
                    out.push(Problem::new(
                        Kind::IncompatibleTypes,
                        at("right"),
                        format!("`{}` with `{}` needs {expected}, not {v}", self.describe(), self.op),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Every event name the `performed` leaves of `condition` read.
pub fn event_names(condition: &Condition) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    condition.visit_performed(&mut |p| {
        out.insert(p.performed.clone());
    });
    out
}

/// Whether `condition` depends on the passing of time (a `performed` leaf, `within_last`,
/// `more_than_ago`, `now`): such conditions are re-evaluated on a schedule, not only when
/// the contact changes.
pub fn is_time_relative(condition: &Condition) -> bool {
    let mut relative = false;
    condition.visit_performed(&mut |_| relative = true);
    relative || condition.uses_now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::Contact;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn events() -> Events {
        [
            Event::new("purchase", at("2026-01-01T00:00:00Z")).with_property("amount", 100),
            Event::new("purchase", at("2026-05-01T00:00:00Z")).with_property("amount", 250.5),
            Event::new("purchase", at("2026-06-10T00:00:00Z")).with_property("amount", "150"),
            Event::new("purchase", at("2026-06-20T00:00:00Z")).with_property("channel", "web"),
            Event::new("login", at("2026-05-01T00:00:00Z")),
            // In the future of `now`: never counted.
            Event::new("purchase", at("2026-08-01T00:00:00Z")).with_property("amount", 1000),
        ]
        .into_iter()
        .collect()
    }

    fn eval(condition: Value) -> bool {
        let c: Condition = serde_json::from_value(condition).unwrap();
        assert!(c.check_audience("").is_empty(), "{:?}", c.check_audience(""));
        let contact = Contact::new("c");
        let history = events();
        let scope = Scope {
            contact: &contact,
            trigger: None,
            event: None,
            now: at("2026-07-01T00:00:00Z"),
            data: None,
            history: Some(&history),
        };
        c.evaluate(&scope)
    }

    #[test]
    fn measures() {
        let count_90 = |op: &str, n: u32| {
            eval(json!({"performed": "purchase", "measure": "count", "within_last": "90d", "op": op, "right": n}))
        };
        // 2026-04-02 .. 2026-07-01: three purchases (May 1, June 10, June 20).
        assert!(count_90("gte", 3));
        assert!(!count_90("gte", 4));
        assert!(eval(json!({"performed": "purchase", "measure": "count", "op": "eq", "right": 4})));
        assert!(eval(
            json!({"performed": "purchase", "measure": "sum", "property": "amount", "op": "eq", "right": 500.5})
        ));
        assert!(eval(
            json!({"performed": "purchase", "measure": "max", "property": "amount", "op": "eq", "right": 250.5})
        ));
        assert!(eval(
            json!({"performed": "purchase", "measure": "min", "property": "amount", "op": "eq", "right": 100})
        ));
        assert!(eval(
            json!({"performed": "purchase", "measure": "avg", "property": "amount", "op": "gt", "right": 166})
        ));
        assert!(eval(json!({"performed": "login", "measure": "last_at", "op": "more_than_ago", "right": "30d"})));
        assert!(!eval(json!({"performed": "login", "measure": "last_at", "op": "more_than_ago", "right": "90d"})));
        // Never performed: the time is missing, but the count is 0.
        assert!(!eval(json!({"performed": "signup", "measure": "last_at", "op": "more_than_ago", "right": "30d"})));
        assert!(eval(json!({"performed": "signup", "measure": "count", "within_last": "30d", "op": "eq", "right": 0})));
        assert!(eval(json!({"performed": "signup", "measure": "sum", "property": "amount", "op": "eq", "right": 0})));
        assert!(eval(json!({"performed": "signup", "measure": "first_at", "op": "not_exists"})));
        assert!(eval(json!({"performed": "purchase", "measure": "first_at", "op": "before", "right": "2026-01-02"})));
        assert!(eval(json!({"performed": "purchase", "measure": "count", "op": "eq", "right": 1,
            "where": {"left": "event.properties.channel", "op": "eq", "right": "web"}})));
        // Combines like any comparison.
        assert!(eval(json!({"all": [
            {"performed": "purchase", "measure": "count", "op": "gte", "right": 2},
            {"not": {"performed": "login", "measure": "count", "within_last": "30d", "op": "gt", "right": 0}}
        ]})));
    }

    #[test]
    fn round_trips() {
        let text = r#"{"performed":"purchase","measure":"sum","property":"amount","within_last":"90d","op":"gte","right":500,"where":{"left":"event.properties.channel","op":"eq","right":"web"}}"#;
        let c: Condition = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), text);
    }

    fn problems(condition: Value) -> Vec<(String, String)> {
        let c: Condition = serde_json::from_value(condition).unwrap();
        c.check_audience("/condition").into_iter().map(|p| (p.pointer, p.message)).collect()
    }

    #[test]
    fn checks_name_the_place() {
        let p = problems(json!({"performed": "purchase", "measure": "sum", "op": "gte", "right": 5}));
        assert_eq!(p[0].0, "/condition");
        assert!(p[0].1.contains("property"), "{p:?}");
        let p = problems(json!({"performed": "purchase", "measure": "count", "op": "before", "right": "2026-01-01"}));
        assert_eq!(p[0].0, "/condition/op");
        let p = problems(json!({"performed": "login", "measure": "last_at", "op": "more_than_ago", "right": 30}));
        assert_eq!(p[0].0, "/condition/right");
        assert!(p[0].1.contains("duration"), "{p:?}");
        let p = problems(
            json!({"any": [{"performed": "x", "measure": "count", "within_last": "soon", "op": "gt", "right": 0}]}),
        );
        assert_eq!(p[0].0, "/condition/any/0/within_last");
        let p = problems(json!({"performed": "", "measure": "count", "op": "gt", "right": 0}));
        assert_eq!(p[0].0, "/condition/performed");
        // Not allowed inside a journey.
        let c: Condition =
            serde_json::from_value(json!({"performed": "purchase", "measure": "count", "op": "gt", "right": 0}))
                .unwrap();
        let p = c.check("/nodes/0/rules/0/condition");
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("segment"), "{p:?}");
        // A bad measure is a parse error that names the choices.
        let e =
            serde_json::from_value::<Condition>(json!({"performed": "x", "measure": "total", "op": "gt", "right": 0}))
                .unwrap_err()
                .to_string();
        assert!(e.contains("count") && e.contains("last_at"), "{e}");
    }
}
