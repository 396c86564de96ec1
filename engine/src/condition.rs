//! Structured conditions: the `if` of branches, filters, goals and exit rules.
//!
//! A condition is plain JSON that a browser editor can build without a string language:
//!
//! ```json
//! {"all": [
//!   {"left": "contact.plan", "op": "in", "right": ["pro", "team"]},
//!   {"not": {"left": "contact.tags", "op": "contains", "right": "churned"}},
//!   {"left": "event.properties.cart_id", "op": "eq", "right": {"ref": "trigger.properties.cart_id"}},
//!   {"left": "contact.signed_up_at", "op": "within_last", "right": "30d"}
//! ]}
//! ```
//!
//! * `{"all": [..]}` is true when every condition is true (an empty list would be true, and
//!   [`Condition::check`] reports it); `{"any": [..]}` when at least one is (an empty list is false);
//!   `{"not": cond}` negates. Evaluation stops at the first condition that decides the result.
//! * A comparison is `{"left": operand, "op": op, "right": value}`; `right` is left out for
//!   `exists` / `not_exists`. `right` is a literal JSON value, or `{"ref": operand}` to compare with
//!   another value of the run (so a literal that is itself an object with the single key `ref` cannot
//!   be written).
//! * Operands: `contact.id`, `contact.tags`, `contact.<attribute>` (dotted path into the attributes,
//!   e.g. `contact.address.city`), `trigger.name`, `trigger.timestamp`, `trigger.properties.<p>`,
//!   `event.name`, `event.timestamp`, `event.properties.<p>` and `now`. `trigger.*` reads the event that
//!   started the run, `event.*` the event being handled (e.g. the one a wait-for-event received);
//!   without such an event they are missing. `contact.tags` is the list of tags, timestamps and `now`
//!   are RFC 3339 text (`2026-03-08T09:00:00Z`).
//!
//! # Evaluation semantics
//!
//! Evaluation never fails and never panics; a comparison that makes no sense is false.
//!
//! * **Missing values**: a missing or `null` left value makes `exists` false, `not_exists` true,
//!   `ne` and `not_in` true, and every other operator false. A missing or `null` right value (e.g. a
//!   `ref` to a property the event does not have) never equals anything.
//! * **`eq` / `ne`**: JSON equality where numbers compare numerically (`1 == 1.0`), and a numeric
//!   text on one side compares as a number with a number on the other (`"42" == 42`, because CDPs
//!   often send numbers as text). Text compares case-sensitively; lists and objects compare item by
//!   item with the same rules. `ne` is exactly `not eq`.
//! * **`gt` / `gte` / `lt` / `lte`**: numbers, with numeric text read as numbers; anything else is false.
//! * **`in` / `not_in`**: `right` must be a list; true when `left` equals (as `eq`) one of its items.
//!   When `left` is itself a list (e.g. `contact.tags`), `in` is true when any of its items is in
//!   `right`. `not_in` is exactly `not in`.
//! * **`contains`**: text contains text, or a list contains an item equal (as `eq`) to `right`.
//! * **`starts_with`**: text starts with text.
//! * **`before` / `after`**: both sides are timestamps: RFC 3339 text, a `YYYY-MM-DD` date (midnight
//!   UTC) or a number of seconds since 1970. Strictly before / after.
//! * **`within_last` / `more_than_ago`**: `left` is a timestamp and `right` a duration (`"30d"`).
//!   `within_last` is true when `now - d <= left <= now`; `more_than_ago` when `left < now - d`.
//!
//! [`Condition::check`] finds comparisons that can never work (a list with `gt`, a duration that cannot
//! be read, ...) before a journey goes live, with messages a marketer can act on.

use crate::contact::{Contact, Event};
use crate::history::{History, Measure, Performed};
use crate::problem::{Kind, Problem, join_pointer};
use crate::time::{parse_duration, timestamp_from_json};
use chrono::{DateTime, SecondsFormat, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// How deep conditions may nest (`all` / `any` / `not` / `where` levels).
pub const MAX_DEPTH: usize = 16;

/// What a condition is evaluated against: the contact, the events of the run and the current time.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The contact (snapshot) the run belongs to; read by `contact.*` operands.
    pub contact: &'a Contact,
    /// The event that started the run; read by `trigger.*` operands (missing when `None`).
    pub trigger: Option<&'a Event>,
    /// The event being handled right now; read by `event.*` operands (missing when `None`).
    pub event: Option<&'a Event>,
    /// The current time; the `now` operand, and the reference of `within_last` / `more_than_ago`.
    pub now: DateTime<Utc>,
    /// The run's own data (a webhook's `save_response`); read by `data.*` operands
    /// (missing when `None`, as outside a run).
    pub data: Option<&'a std::collections::BTreeMap<String, Value>>,
    /// The contact's past events; read by `performed` leaves (false without one). Only
    /// segments and lifecycle rules have one.
    pub history: Option<&'a dyn History>,
}

/// A condition: `{"all": [..]}`, `{"any": [..]}`, `{"not": ..}` or a comparison
/// `{"left": "contact.plan", "op": "eq", "right": "pro"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ConditionRepr")]
pub enum Condition {
    /// True when every condition in the list is true.
    All(Vec<Condition>),
    /// True when at least one condition in the list is true.
    Any(Vec<Condition>),
    /// True when the inner condition is false.
    Not(Box<Condition>),
    /// A single comparison.
    Compare(Comparison),
    /// A measure of the contact's past events (`{"performed": "purchase", ...}`), for
    /// segments and lifecycle rules: see [`crate::history`].
    Performed(Performed),
}

/// A comparison of two values, e.g. `{"left": "contact.lead_score", "op": "gte", "right": 50}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// The value to test, e.g. `contact.plan`, `contact.tags`, `trigger.properties.total`, `event.timestamp`.
    pub left: Operand,
    /// How to compare: `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `in`, `not_in`, `contains`, `starts_with`,
    /// `exists`, `not_exists`, `before`, `after`, `within_last` or `more_than_ago`.
    pub op: Op,
    /// What to compare with: a literal value (`"pro"`, `42`, `["a", "b"]`, `"30d"`, `"2026-01-01"`) or
    /// `{"ref": "trigger.properties.cart_id"}`. Leave it out for `exists` and `not_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "deserialize_some_right")]
    pub right: Option<Right>,
}

/// A value of the run that a condition can read, written as text such as `contact.plan`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Operand {
    /// `contact.id`: the contact's id.
    ContactId,
    /// `contact.tags`: the contact's tags, as a list of text.
    ContactTags,
    /// `contact.<attribute>`: an attribute, with dots going into nested objects (`contact.address.city`).
    ContactAttribute(Vec<String>),
    /// `trigger.name`: the name of the event that started the run.
    TriggerName,
    /// `trigger.timestamp`: when the event that started the run happened.
    TriggerTimestamp,
    /// `trigger.properties.<p>`: a property of the event that started the run (dots go into objects).
    TriggerProperty(Vec<String>),
    /// `event.name`: the name of the event being handled.
    EventName,
    /// `event.timestamp`: when the event being handled happened.
    EventTimestamp,
    /// `event.properties.<p>`: a property of the event being handled (dots go into objects).
    EventProperty(Vec<String>),
    /// `data.<name>`: a value the run saved (a webhook's `save_response`; dots go into objects).
    RunData(Vec<String>),
    /// `now`: the current time.
    Now,
}

/// The right side of a comparison: another operand (`{"ref": "trigger.properties.cart_id"}`) or a literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Right {
    /// `{"ref": "<operand>"}`: compare with another value of the run.
    Ref(Operand),
    /// Any other JSON value, compared as written.
    Value(Value),
}

/// A comparison operator, written in snake_case (`not_in`, `within_last`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal. Numbers compare numerically and numeric text equals the number (`"42"` = `42`); text is case-sensitive.
    Eq,
    /// Not equal (also true when the value is missing).
    Ne,
    /// Greater than (numbers; numeric text is read as a number).
    Gt,
    /// Greater than or equal (numbers; numeric text is read as a number).
    Gte,
    /// Less than (numbers; numeric text is read as a number).
    Lt,
    /// Less than or equal (numbers; numeric text is read as a number).
    Lte,
    /// Equal to one of the values of the `right` list. For a list such as `contact.tags`: has any of them.
    In,
    /// Equal to none of the values of the `right` list (also true when the value is missing).
    NotIn,
    /// Text contains the `right` text, or a list (such as `contact.tags`) contains the `right` item.
    Contains,
    /// Text starts with the `right` text.
    StartsWith,
    /// The value is present and not null. Takes no `right`.
    Exists,
    /// The value is missing or null. Takes no `right`.
    NotExists,
    /// A date strictly before the `right` date (`"2026-01-01"`, `"2026-01-01T09:00:00Z"`, seconds since 1970).
    Before,
    /// A date strictly after the `right` date (`"2026-01-01"`, `"2026-01-01T09:00:00Z"`, seconds since 1970).
    After,
    /// A date within the `right` duration before now (`"30d"`, `"12h"`, `"2w"`).
    WithinLast,
    /// A date longer ago than the `right` duration (`"30d"`, `"12h"`, `"2w"`).
    MoreThanAgo,
}

/// One comparison as it was evaluated, for run timelines: what was compared, with which values, and the outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Compared {
    /// The left operand as written, e.g. `contact.plan`.
    pub left: String,
    /// The operator.
    pub op: Op,
    /// The value the left operand had (`null` when missing).
    pub left_value: Option<Value>,
    /// The value compared with (`null` when missing or not used, as for `exists`).
    pub right_value: Option<Value>,
    /// The outcome of the comparison.
    pub result: bool,
}

// ---------------------------------------------------------------------------------------------
// Op
// ---------------------------------------------------------------------------------------------

impl Op {
    /// Every operator, in documentation order.
    pub const ALL: [Op; 16] = [
        Op::Eq,
        Op::Ne,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::In,
        Op::NotIn,
        Op::Contains,
        Op::StartsWith,
        Op::Exists,
        Op::NotExists,
        Op::Before,
        Op::After,
        Op::WithinLast,
        Op::MoreThanAgo,
    ];

    /// The name as written in JSON, e.g. `not_in`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::Exists => "exists",
            Op::NotExists => "not_exists",
            Op::Before => "before",
            Op::After => "after",
            Op::WithinLast => "within_last",
            Op::MoreThanAgo => "more_than_ago",
        }
    }

    /// Whether the operator compares with a `right` value (all but `exists` and `not_exists`).
    pub fn takes_right(self) -> bool {
        !matches!(self, Op::Exists | Op::NotExists)
    }
}

const OP_NAMES: &[&str] = &[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "exists",
    "not_exists",
    "before",
    "after",
    "within_last",
    "more_than_ago",
];

impl FromStr for Op {
    type Err = String;

    /// Read an operator name such as `not_in`; the error lists every accepted name.
    fn from_str(text: &str) -> Result<Self, String> {
        Op::ALL.into_iter().find(|op| op.as_str() == text).ok_or_else(|| {
            let names: Vec<String> = OP_NAMES.iter().map(|n| format!("`{n}`")).collect();
            format!("unknown operator `{text}`, expected one of {}", names.join(", "))
        })
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OpVisitor;
        impl serde::de::Visitor<'_> for OpVisitor {
            type Value = Op;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an operator such as \"eq\", \"in\" or \"within_last\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Op, E> {
                Op::ALL.into_iter().find(|op| op.as_str() == text).ok_or_else(|| E::unknown_variant(text, OP_NAMES))
            }
        }
        deserializer.deserialize_str(OpVisitor)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Operand
// ---------------------------------------------------------------------------------------------

const OPERAND_FORMS: &str = "expected `contact.id`, `contact.tags`, `contact.<attribute>` (such as `contact.plan` or \
     `contact.address.city`), `trigger.name`, `trigger.timestamp`, `trigger.properties.<property>`, `event.name`, \
     `event.timestamp`, `event.properties.<property>`, `data.<name>` (saved from a webhook's response) or `now`";

impl Operand {
    /// The operand's value in `scope`; `None` when it is missing or null.
    pub fn resolve(&self, scope: &Scope) -> Option<Value> {
        self.resolve_cow(scope).map(Cow::into_owned)
    }

    fn resolve_cow<'s>(&self, scope: &Scope<'s>) -> Option<Cow<'s, Value>> {
        let value = match self {
            Operand::ContactId => Cow::Owned(Value::String(scope.contact.id.clone())),
            Operand::ContactTags => {
                Cow::Owned(Value::Array(scope.contact.tags.iter().cloned().map(Value::String).collect()))
            }
            Operand::ContactAttribute(path) => Cow::Borrowed(scope.contact.attribute(path)?),
            Operand::TriggerName => Cow::Owned(Value::String(scope.trigger?.name.clone())),
            Operand::EventName => Cow::Owned(Value::String(scope.event?.name.clone())),
            Operand::TriggerProperty(path) => Cow::Borrowed(scope.trigger?.property(path)?),
            Operand::EventProperty(path) => Cow::Borrowed(scope.event?.property(path)?),
            Operand::RunData(path) => {
                let (first, rest) = path.split_first()?;
                let mut v = scope.data?.get(first)?;
                for segment in rest {
                    v = v.get(segment)?;
                }
                Cow::Borrowed(v)
            }
            Operand::TriggerTimestamp | Operand::EventTimestamp | Operand::Now => {
                Cow::Owned(Value::String(format_time(self.time(scope)?)))
            }
        };
        (!value.is_null()).then_some(value)
    }

    /// The exact time of `now` and the event timestamps (no detour through text).
    fn time(&self, scope: &Scope) -> Option<DateTime<Utc>> {
        match self {
            Operand::Now => Some(scope.now),
            Operand::TriggerTimestamp => Some(scope.trigger?.timestamp),
            Operand::EventTimestamp => Some(scope.event?.timestamp),
            _ => None,
        }
    }

    /// `now`, `trigger.timestamp`, `event.timestamp`: always a date.
    fn is_date(&self) -> bool {
        matches!(self, Operand::Now | Operand::TriggerTimestamp | Operand::EventTimestamp)
    }

    /// Operands that are always a name, id or list, never a date.
    fn never_date(&self) -> bool {
        matches!(self, Operand::ContactTags | Operand::ContactId | Operand::TriggerName | Operand::EventName)
    }

    /// Operands that are never a list.
    fn never_list(&self) -> bool {
        matches!(
            self,
            Operand::ContactId
                | Operand::TriggerName
                | Operand::TriggerTimestamp
                | Operand::EventName
                | Operand::EventTimestamp
                | Operand::Now
        )
    }

    /// A short description for messages: "a date", "a list of tags", ...
    fn kind_words(&self) -> &'static str {
        match self {
            Operand::ContactTags => "a list of tags",
            o if o.is_date() => "a date",
            _ => "a single value",
        }
    }
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, path) = match self {
            Operand::ContactId => return f.write_str("contact.id"),
            Operand::ContactTags => return f.write_str("contact.tags"),
            Operand::TriggerName => return f.write_str("trigger.name"),
            Operand::TriggerTimestamp => return f.write_str("trigger.timestamp"),
            Operand::EventName => return f.write_str("event.name"),
            Operand::EventTimestamp => return f.write_str("event.timestamp"),
            Operand::Now => return f.write_str("now"),
            Operand::ContactAttribute(path) => ("contact", path),
            Operand::TriggerProperty(path) => ("trigger.properties", path),
            Operand::EventProperty(path) => ("event.properties", path),
            Operand::RunData(path) => ("data", path),
        };
        f.write_str(prefix)?;
        for segment in path {
            write!(f, ".{segment}")?;
        }
        Ok(())
    }
}

impl FromStr for Operand {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a value a condition can read; {OPERAND_FORMS}");
        let path = |rest: &str| -> Result<Vec<String>, String> {
            let segments: Vec<String> = rest.split('.').map(str::to_owned).collect();
            if segments.iter().any(String::is_empty) {
                return Err(format!("`{text}` has an empty name between dots; {OPERAND_FORMS}"));
            }
            Ok(segments)
        };
        let properties = |rest: Option<&str>, which: &str| -> Result<Vec<String>, String> {
            match rest {
                Some(rest) => path(rest),
                None => {
                    Err(format!("`{text}` needs a property name, such as `{which}.properties.total`; {OPERAND_FORMS}"))
                }
            }
        };
        match text {
            "now" => return Ok(Operand::Now),
            "contact.id" => return Ok(Operand::ContactId),
            "contact.tags" => return Ok(Operand::ContactTags),
            "trigger.name" => return Ok(Operand::TriggerName),
            "trigger.timestamp" => return Ok(Operand::TriggerTimestamp),
            "event.name" => return Ok(Operand::EventName),
            "event.timestamp" => return Ok(Operand::EventTimestamp),
            _ => {}
        }
        if let Some(rest) = text.strip_prefix("contact.") {
            if rest.starts_with("tags.") {
                return Err(format!(
                    "`{text}`: `contact.tags` is a list of tags without fields; to test for a tag write \
                     {{\"left\": \"contact.tags\", \"op\": \"contains\", \"right\": \"vip\"}}"
                ));
            }
            if rest.starts_with("id.") {
                return Err(format!("`{text}`: `contact.id` is the contact's id and has no fields; {OPERAND_FORMS}"));
            }
            return path(rest).map(Operand::ContactAttribute);
        }
        if let Some(rest) = text.strip_prefix("data.") {
            return path(rest).map(Operand::RunData);
        }
        if text == "data" {
            return Err(format!(
                "`{text}` needs a name, such as `data.crm_id` (saved by a webhook's `save_response`); {OPERAND_FORMS}"
            ));
        }
        for (which, name) in [("trigger", true), ("event", false)] {
            let Some(rest) = text.strip_prefix(which).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            if rest == "properties" || rest.starts_with("properties.") {
                let segments = properties(rest.strip_prefix("properties."), which)?;
                return Ok(if name { Operand::TriggerProperty(segments) } else { Operand::EventProperty(segments) });
            }
            return Err(format!(
                "`{text}` is not part of an event; an event has `{which}.name`, `{which}.timestamp` and \
                 `{which}.properties.<property>`"
            ));
        }
        Err(bad())
    }
}

impl TryFrom<String> for Operand {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Operand> for String {
    fn from(operand: Operand) -> String {
        operand.to_string()
    }
}

impl JsonSchema for Operand {
    fn schema_name() -> Cow<'static, str> {
        "Operand".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A value of the run: `contact.id`, `contact.tags`, `contact.<attribute>` (dots go into \
                nested objects: `contact.address.city`), `trigger.name`, `trigger.timestamp`, \
                `trigger.properties.<property>`, `event.name`, `event.timestamp`, `event.properties.<property>` \
                or `now`. `trigger` is the event that started the run, `event` the event being handled.",
            "pattern": "^(now|contact\\.[^.]+(\\.[^.]+)*|(trigger|event)\\.(name|timestamp|properties(\\.[^.]+)+))$",
            "examples": [
                "contact.plan",
                "contact.tags",
                "contact.address.city",
                "trigger.properties.cart_id",
                "event.timestamp",
                "now"
            ]
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Right
// ---------------------------------------------------------------------------------------------

impl Right {
    /// The value in `scope`: the literal, or the referenced operand's value. `None` when missing or null.
    pub fn resolve(&self, scope: &Scope) -> Option<Value> {
        self.resolve_cow(scope).map(Cow::into_owned)
    }

    fn resolve_cow<'s>(&'s self, scope: &Scope<'s>) -> Option<Cow<'s, Value>> {
        match self {
            Right::Ref(operand) => operand.resolve_cow(scope),
            Right::Value(Value::Null) => None,
            Right::Value(value) => Some(Cow::Borrowed(value)),
        }
    }
}

impl Serialize for Right {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Right::Ref(operand) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("ref", &operand.to_string())?;
                map.end()
            }
            Right::Value(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Right {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value {
            Value::Object(map) if map.len() == 1 && map.contains_key("ref") => match &map["ref"] {
                Value::String(text) => text.parse().map(Right::Ref).map_err(D::Error::custom),
                other => Err(D::Error::custom(format!(
                    "`ref` must name a value of the run as text, such as \"trigger.properties.cart_id\", not {}",
                    describe(other)
                ))),
            },
            value => Ok(Right::Value(value)),
        }
    }
}

/// `right: null` is kept as the literal `null` (so it round-trips and `check` can explain it).
fn deserialize_some_right<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Right>, D::Error> {
    Right::deserialize(deserializer).map(Some)
}

impl JsonSchema for Right {
    fn schema_name() -> Cow<'static, str> {
        "Right".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let operand = generator.subschema_for::<Operand>();
        json_schema!({
            "description": "What to compare with: a literal value (`\"pro\"`, `42`, `[\"a\", \"b\"]`, `\"30d\"`, \
                `\"2026-01-01\"`) or `{\"ref\": \"trigger.properties.cart_id\"}` for another value of the run.",
            "anyOf": [
                {
                    "type": "object",
                    "description": "Compare with another value of the run.",
                    "properties": { "ref": operand },
                    "required": ["ref"],
                    "additionalProperties": false
                },
                {
                    "description": "A literal value: text, a number, true/false, a list or an object.",
                    "not": { "type": "object", "required": ["ref"], "maxProperties": 1 }
                }
            ]
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Condition: serde and schema
// ---------------------------------------------------------------------------------------------

const CONDITION_SHAPES: &str = "a condition needs exactly one of `all`, `any`, `not`, or `left` with `op`, such as \
     {\"left\": \"contact.plan\", \"op\": \"eq\", \"right\": \"pro\"}";

/// The JSON object of a condition as written; checked and turned into a [`Condition`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a condition: an object with `all`, `any`, `not`, or `left` and `op`")]
struct ConditionRepr {
    all: Option<Vec<Condition>>,
    any: Option<Vec<Condition>>,
    not: Option<Box<Condition>>,
    left: Option<Operand>,
    op: Option<Op>,
    #[serde(default, deserialize_with = "deserialize_some_right")]
    right: Option<Right>,
    performed: Option<String>,
    measure: Option<Measure>,
    property: Option<String>,
    within_last: Option<String>,
    #[serde(rename = "where")]
    filter: Option<Box<Condition>>,
}

impl TryFrom<ConditionRepr> for Condition {
    type Error = String;

    fn try_from(repr: ConditionRepr) -> Result<Self, String> {
        let ConditionRepr { all, any, not, left, op, right, performed, measure, property, within_last, filter } = repr;
        if let Some(performed) = performed {
            if all.is_some() || any.is_some() || not.is_some() || left.is_some() {
                return Err("a `performed` condition measures events and stands alone: put it next to other \
                     conditions inside `all` or `any`, without `left`"
                    .into());
            }
            let Some(measure) = measure else {
                return Err(format!(
                    "the `performed` condition on `{performed}` needs a `measure`: `count`, `sum`, `avg`, `min`, \
                     `max`, `first_at` or `last_at`"
                ));
            };
            let Some(op) = op else {
                return Err(format!(
                    "the `performed` condition on `{performed}` needs an `op`, such as \"op\": \"gte\", \"right\": 3"
                ));
            };
            return Ok(Condition::Performed(Performed {
                performed,
                measure,
                property,
                within_last,
                filter,
                op,
                right,
            }));
        }
        if let Some(field) = [
            ("measure", measure.is_some()),
            ("property", property.is_some()),
            ("within_last", within_last.is_some()),
            ("where", filter.is_some()),
        ]
        .into_iter()
        .find_map(|(name, is)| is.then_some(name))
        {
            return Err(format!(
                "`{field}` belongs to a `performed` condition (such as {{\"performed\": \"purchase\", \"measure\": \
                 \"count\", \"op\": \"gte\", \"right\": 3}}); add `performed` or remove `{field}`"
            ));
        }
        let mut present: Vec<&str> = Vec::new();
        for (name, is) in [("all", all.is_some()), ("any", any.is_some()), ("not", not.is_some())] {
            if is {
                present.push(name);
            }
        }
        let comparison = left.is_some() || op.is_some() || right.is_some();
        if comparison {
            present.push("left");
        }
        if present.len() > 1 {
            let found: Vec<String> = present.iter().map(|k| format!("`{k}`")).collect();
            return Err(format!("{CONDITION_SHAPES}; found {} together", found.join(" and ")));
        }
        if let Some(list) = all {
            return Ok(Condition::All(list));
        }
        if let Some(list) = any {
            return Ok(Condition::Any(list));
        }
        if let Some(inner) = not {
            return Ok(Condition::Not(inner));
        }
        match (left, op) {
            (Some(left), Some(op)) => Ok(Condition::Compare(Comparison { left, op, right })),
            (None, Some(op)) => Err(format!(
                "the comparison has no `left`: add the value to test with `{op}`, such as \"left\": \"contact.plan\""
            )),
            (Some(left), None) => Err(format!(
                "the comparison has no `op`: add how to compare `{left}`, one of {}",
                Op::ALL.iter().map(|op| format!("`{op}`")).collect::<Vec<_>>().join(", ")
            )),
            (None, None) => Err(CONDITION_SHAPES.to_string()),
        }
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Condition::All(list) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("all", list)?;
                map.end()
            }
            Condition::Any(list) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("any", list)?;
                map.end()
            }
            Condition::Not(inner) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("not", inner)?;
                map.end()
            }
            Condition::Compare(comparison) => comparison.serialize(serializer),
            Condition::Performed(performed) => performed.serialize(serializer),
        }
    }
}

/// A condition: a comparison, or `all` / `any` / `not` combining other conditions.
#[derive(JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
#[allow(dead_code)]
enum ConditionSchema {
    /// True when every condition in the list is true.
    All {
        /// The conditions that must all be true.
        #[schemars(length(min = 1))]
        all: Vec<Condition>,
    },
    /// True when at least one condition in the list is true.
    Any {
        /// The conditions of which at least one must be true.
        #[schemars(length(min = 1))]
        any: Vec<Condition>,
    },
    /// True when the inner condition is false.
    Not {
        /// The condition to negate.
        not: Box<Condition>,
    },
    /// Compare a value of the run with a literal or another value.
    Compare(Comparison),
    /// Measure the contact's past events (segments and lifecycle rules only).
    Performed(Performed),
}

impl JsonSchema for Condition {
    fn schema_name() -> Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        ConditionSchema::json_schema(generator)
    }
}

impl From<Comparison> for Condition {
    fn from(comparison: Comparison) -> Self {
        Condition::Compare(comparison)
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

impl Condition {
    /// Whether the condition holds in `scope`. Never fails: see the module documentation for the rules.
    pub fn evaluate(&self, scope: &Scope) -> bool {
        self.eval(scope, &mut None)
    }

    /// Like [`Condition::evaluate`], and appends every comparison it evaluated (with the values it compared)
    /// to `trace`, in order. Comparisons skipped because the result was already decided are not recorded.
    pub fn evaluate_traced(&self, scope: &Scope, trace: &mut Vec<Compared>) -> bool {
        self.eval(scope, &mut Some(trace))
    }

    fn eval(&self, scope: &Scope, trace: &mut Option<&mut Vec<Compared>>) -> bool {
        match self {
            Condition::All(list) => list.iter().all(|c| c.eval(scope, trace)),
            Condition::Any(list) => list.iter().any(|c| c.eval(scope, trace)),
            Condition::Not(inner) => !inner.eval(scope, trace),
            Condition::Compare(comparison) => comparison.eval(scope, trace),
            Condition::Performed(performed) => {
                let (result, left_value, right_value) = performed.eval(scope);
                if let Some(trace) = trace {
                    trace.push(Compared {
                        left: performed.describe(),
                        op: performed.op,
                        left_value,
                        right_value,
                        result,
                    });
                }
                result
            }
        }
    }

    /// Calls `f` with every `performed` leaf.
    pub fn visit_performed(&self, f: &mut dyn FnMut(&Performed)) {
        match self {
            Condition::All(list) | Condition::Any(list) => list.iter().for_each(|c| c.visit_performed(f)),
            Condition::Not(inner) => inner.visit_performed(f),
            Condition::Compare(_) => {}
            Condition::Performed(p) => f(p),
        }
    }

    /// Whether a comparison depends on the current time (`now`, `within_last`, `more_than_ago`).
    pub fn uses_now(&self) -> bool {
        match self {
            Condition::All(list) | Condition::Any(list) => list.iter().any(Condition::uses_now),
            Condition::Not(inner) => inner.uses_now(),
            Condition::Compare(c) => {
                matches!(c.op, Op::WithinLast | Op::MoreThanAgo)
                    || c.left == Operand::Now
                    || matches!(&c.right, Some(Right::Ref(Operand::Now)))
            }
            Condition::Performed(_) => true,
        }
    }

    /// Like [`Condition::check`], for segments and lifecycle rules: `performed` leaves are allowed.
    pub fn check_audience(&self, pointer: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        self.check_into_with(pointer, &mut problems, true);
        problems
    }

    /// Static checks of comparisons that can never work. `pointer` is this condition's JSON pointer (such as
    /// `/nodes/2/rules/0/condition`); problems inside point further in (`.../all/1/right`).
    pub fn check(&self, pointer: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        self.check_into_with(pointer, &mut problems, false);
        problems
    }

    /// The first place, below `pointer`, where conditions nest deeper than [`MAX_DEPTH`].
    fn too_deep(&self, pointer: &str, depth: usize) -> Option<String> {
        if depth > MAX_DEPTH {
            return Some(pointer.to_string());
        }
        match self {
            Condition::All(list) | Condition::Any(list) => {
                let key = if matches!(self, Condition::All(_)) { "all" } else { "any" };
                let at = join_pointer(pointer, key);
                list.iter().enumerate().find_map(|(i, c)| c.too_deep(&join_pointer(&at, i), depth + 1))
            }
            Condition::Not(inner) => inner.too_deep(&join_pointer(pointer, "not"), depth + 1),
            Condition::Compare(_) => None,
            Condition::Performed(p) => {
                p.filter.as_ref().and_then(|f| f.too_deep(&join_pointer(pointer, "where"), depth + 1))
            }
        }
    }

    /// Static checks into `out`; `history` allows `performed` leaves.
    pub(crate) fn check_into_with(&self, pointer: &str, out: &mut Vec<Problem>, history: bool) {
        if let Some(at) = self.too_deep(pointer, 1) {
            out.push(Problem::new(
                Kind::InvalidValue,
                at,
                format!(
                    "conditions nest at most {MAX_DEPTH} levels deep (`all`, `any`, `not`, `where`); flatten this one"
                ),
            ));
            return;
        }
        self.check_inner(pointer, out, history);
    }

    fn check_inner(&self, pointer: &str, out: &mut Vec<Problem>, history: bool) {
        match self {
            Condition::All(list) | Condition::Any(list) => {
                let key = if matches!(self, Condition::All(_)) { "all" } else { "any" };
                let list_pointer = join_pointer(pointer, key);
                if list.is_empty() {
                    out.push(Problem::new(
                        Kind::InvalidValue,
                        list_pointer.clone(),
                        format!("`{key}` has no conditions; add at least one condition"),
                    ));
                }
                for (i, condition) in list.iter().enumerate() {
                    condition.check_inner(&join_pointer(&list_pointer, i), out, history);
                }
            }
            Condition::Not(inner) => inner.check_inner(&join_pointer(pointer, "not"), out, history),
            Condition::Compare(comparison) => comparison.check_into(pointer, out),
            Condition::Performed(performed) if history => performed.check_into(pointer, out),
            Condition::Performed(performed) => out.push(Problem::new(
                Kind::NotSupported,
                join_pointer(pointer, "performed"),
                format!(
                    "event-history conditions (`performed`: `{}`) work in segments and lifecycle rules, not inside \
                     a journey; define a segment with it and start the journey with a `segment_entered` trigger",
                    performed.performed
                ),
            )),
        }
    }
}

impl Comparison {
    fn eval(&self, scope: &Scope, trace: &mut Option<&mut Vec<Compared>>) -> bool {
        let left = self.left.resolve_cow(scope);
        let right = if self.op.takes_right() { self.right.as_ref().and_then(|r| r.resolve_cow(scope)) } else { None };
        let left_time = || self.left.time(scope).or_else(|| timestamp_from_json(left.as_deref()?));
        let right_time = || match &self.right {
            Some(Right::Ref(operand)) if operand.is_date() => operand.time(scope),
            _ => timestamp_from_json(right.as_deref()?),
        };
        let result = apply(self.op, left.as_deref(), right.as_deref(), left_time, right_time, scope.now);
        if let Some(trace) = trace {
            trace.push(Compared {
                left: self.left.to_string(),
                op: self.op,
                left_value: left.map(Cow::into_owned),
                right_value: right.map(Cow::into_owned),
                result,
            });
        }
        result
    }
}

/// Apply `op` to the two sides (`None`: missing); the times are asked for only by the date operators.
pub(crate) fn apply(
    op: Op,
    l: Option<&Value>,
    r: Option<&Value>,
    left_time: impl FnOnce() -> Option<DateTime<Utc>>,
    right_time: impl FnOnce() -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    match op {
        Op::Exists => l.is_some(),
        Op::NotExists => l.is_none(),
        Op::Eq => both(l, r, loose_eq),
        Op::Ne => !both(l, r, loose_eq),
        Op::In => both(l, r, is_in),
        Op::NotIn => !both(l, r, is_in),
        Op::Gt => compare(l, r, Ordering::is_gt),
        Op::Gte => compare(l, r, Ordering::is_ge),
        Op::Lt => compare(l, r, Ordering::is_lt),
        Op::Lte => compare(l, r, Ordering::is_le),
        Op::Contains => both(l, r, contains),
        Op::StartsWith => match (l, r) {
            (Some(Value::String(l)), Some(Value::String(r))) => l.starts_with(r.as_str()),
            _ => false,
        },
        Op::Before | Op::After if l.is_none() || r.is_none() => false,
        Op::Before | Op::After => match (left_time(), right_time()) {
            (Some(l), Some(r)) => {
                if op == Op::Before {
                    l < r
                } else {
                    l > r
                }
            }
            _ => false,
        },
        Op::WithinLast | Op::MoreThanAgo if l.is_none() => false,
        Op::WithinLast | Op::MoreThanAgo => {
            let threshold = match r {
                Some(Value::String(text)) => parse_duration(text).ok().and_then(|d| now.checked_sub_signed(d)),
                _ => None,
            };
            match (left_time(), threshold) {
                (Some(t), Some(threshold)) if op == Op::WithinLast => threshold <= t && t <= now,
                (Some(t), Some(threshold)) => t < threshold,
                _ => false,
            }
        }
    }
}

fn both(l: Option<&Value>, r: Option<&Value>, f: impl Fn(&Value, &Value) -> bool) -> bool {
    match (l, r) {
        (Some(l), Some(r)) => f(l, r),
        _ => false,
    }
}

fn compare(l: Option<&Value>, r: Option<&Value>, accept: fn(Ordering) -> bool) -> bool {
    match (l.and_then(as_number), r.and_then(as_number)) {
        (Some(l), Some(r)) => l.cmp_with(r).is_some_and(accept),
        _ => false,
    }
}

/// A number read from JSON: exact integers when possible, else a float.
#[derive(Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    fn cmp_with(self, other: Number) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// A number, or a text that is a number (`"42"`, `" 3.5 "`); `None` otherwise.
fn as_number(value: &Value) -> Option<Number> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Number::Int(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Some(Number::Int(i128::from(u)))
            } else {
                n.as_f64().filter(|f| f.is_finite()).map(Number::Float)
            }
        }
        Value::String(text) => {
            let text = text.trim();
            if let Ok(i) = text.parse::<i128>() {
                return Some(Number::Int(i));
            }
            // Rust also reads `inf` and `NaN`; only finite numbers count.
            text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Number::Float)
        }
        _ => None,
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (as_number(a), as_number(b)) {
        (Some(a), Some(b)) => a.cmp_with(b) == Some(Ordering::Equal),
        _ => false,
    }
}

/// JSON equality where numbers compare numerically and numeric text equals a number.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_) | Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            numbers_equal(a, b)
        }
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Null, Value::Null) => true,
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| loose_eq(a, b)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| loose_eq(v, w)))
        }
        _ => false,
    }
}

fn is_in(left: &Value, right: &Value) -> bool {
    let Value::Array(options) = right else {
        return false;
    };
    match left {
        Value::Array(items) => items.iter().any(|item| options.iter().any(|o| loose_eq(item, o))),
        single => options.iter().any(|o| loose_eq(single, o)),
    }
}

fn contains(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::String(haystack), Value::String(needle)) => haystack.contains(needle.as_str()),
        (Value::Array(items), needle) => items.iter().any(|item| loose_eq(item, needle)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Static checks
// ---------------------------------------------------------------------------------------------

/// A value described for messages: `the number 5`, `the text "abc"`, `a list`, ...
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text \"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl Comparison {
    fn check_into(&self, pointer: &str, out: &mut Vec<Problem>) {
        let (left, op) = (&self.left, self.op);
        let left_pointer = join_pointer(pointer, "left");
        let op_pointer = join_pointer(pointer, "op");
        let right_pointer = join_pointer(pointer, "right");
        let mut problem = |kind: Kind, at: &str, message: String| out.push(Problem::new(kind, at, message));

        match (&self.right, op.takes_right()) {
            (None, true) => {
                let example = match op {
                    Op::Gt | Op::Gte | Op::Lt | Op::Lte => "10",
                    Op::In | Op::NotIn => "[\"pro\", \"team\"]",
                    Op::Before | Op::After => "\"2026-01-01\"",
                    Op::WithinLast | Op::MoreThanAgo => "\"30d\"",
                    _ => "\"pro\"",
                };
                problem(
                    Kind::MissingField,
                    pointer,
                    format!("`{op}` needs a `right` value to compare `{left}` with, such as \"right\": {example}"),
                );
            }
            (Some(_), false) => problem(
                Kind::InvalidValue,
                &right_pointer,
                format!("`{op}` only looks at `{left}` and takes no `right` value; remove `right`"),
            ),
            (Some(Right::Value(Value::Null)), true) => problem(
                Kind::InvalidValue,
                &right_pointer,
                format!(
                    "`right` is null, which never matches; to test whether `{left}` is missing or present use \
                     `not_exists` or `exists` (without `right`)"
                ),
            ),
            _ => {}
        }

        if *left == Operand::ContactTags
            && !matches!(op, Op::Contains | Op::In | Op::NotIn | Op::Exists | Op::NotExists)
        {
            problem(
                Kind::IncompatibleTypes,
                &op_pointer,
                format!(
                    "`contact.tags` is a list of tags and cannot be used with `{op}`; use `contains` (has a tag), \
                     `in` / `not_in` (has any / none of the listed tags), `exists` or `not_exists`"
                ),
            );
            return;
        }

        let literal = match &self.right {
            Some(Right::Value(value)) if !value.is_null() => Some(value),
            _ => None,
        };
        let reference = match &self.right {
            Some(Right::Ref(operand)) => Some(operand),
            _ => None,
        };

        match op {
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                if left.is_date() {
                    problem(
                        Kind::IncompatibleTypes,
                        &op_pointer,
                        format!(
                            "`{left}` is a date and `{op}` compares numbers; use `before` or `after` to compare \
                             dates, or `within_last` / `more_than_ago` with a duration such as \"30d\""
                        ),
                    );
                } else if let Some(value) = literal.filter(|v| as_number(v).is_none()) {
                    let hint = if timestamp_from_json(value).is_some() {
                        "; to compare dates use `before` or `after`"
                    } else {
                        ""
                    };
                    problem(
                        Kind::IncompatibleTypes,
                        &right_pointer,
                        format!(
                            "`{op}` compares numbers, but `right` is {}; use a number such as 10{hint}",
                            describe(value)
                        ),
                    );
                } else if let Some(other) = reference.filter(|o| o.is_date() || **o == Operand::ContactTags) {
                    problem(
                        Kind::IncompatibleTypes,
                        &right_pointer,
                        format!(
                            "`{other}` is {} and `{op}` compares numbers; use `before` or `after` to compare dates",
                            other.kind_words()
                        ),
                    );
                }
            }
            Op::In | Op::NotIn => {
                if let Some(value) = literal.filter(|v| !v.is_array()) {
                    problem(
                        Kind::IncompatibleTypes,
                        &right_pointer,
                        format!(
                            "`{op}` needs a list of values, such as [\"pro\", \"team\"], but `right` is {}; to \
                             compare with a single value use `{}`",
                            describe(value),
                            if op == Op::In { "eq" } else { "ne" }
                        ),
                    );
                } else if let Some(other) = reference.filter(|o| o.never_list()) {
                    problem(
                        Kind::IncompatibleTypes,
                        &right_pointer,
                        format!(
                            "`{op}` needs a list of values, but `{other}` is a single value; use `{}` to compare \
                             with it",
                            if op == Op::In { "eq" } else { "ne" }
                        ),
                    );
                }
            }
            Op::Contains => {
                if let Some(value) = literal.filter(|v| v.is_array() || v.is_object()) {
                    problem(
                        Kind::IncompatibleTypes,
                        &right_pointer,
                        format!(
                            "`contains` looks for one piece of text in a text, or one item in a list, but `right` \
                             is {}; to match any of several values use `in`",
                            describe(value)
                        ),
                    );
                } else if reference == Some(&Operand::ContactTags) {
                    problem(
                        Kind::IncompatibleTypes,
                        &right_pointer,
                        "`contains` looks for one value, but `contact.tags` is a list; to test whether a value is \
                         one of the tags, put `contact.tags` on the right of `in`"
                            .to_string(),
                    );
                }
            }
            Op::StartsWith => {
                if let Some(value) = literal.filter(|v| !v.is_string()) {
                    problem(
                        Kind::IncompatibleTypes,
                        &right_pointer,
                        format!("`starts_with` needs text, such as \"https://\", but `right` is {}", describe(value)),
                    );
                }
            }
            Op::Before | Op::After => {
                if left.never_date() {
                    problem(
                        Kind::IncompatibleTypes,
                        &left_pointer,
                        format!(
                            "`{left}` is never a date, so `{op}` cannot compare it; use a date such as \
                             `contact.signed_up_at`, `trigger.timestamp`, `event.timestamp` or `now`"
                        ),
                    );
                }
                if let Some(value) = literal.filter(|v| timestamp_from_json(v).is_none()) {
                    problem(
                        Kind::IncompatibleTypes,
                        &right_pointer,
                        format!(
                            "`{op}` needs a date, such as \"2026-01-01\", \"2026-01-01T09:00:00Z\" or a number of \
                             seconds since 1970, but `right` is {}; to compare with a time relative to now use \
                             `within_last` or `more_than_ago` with a duration such as \"30d\"",
                            describe(value)
                        ),
                    );
                } else if let Some(other) = reference.filter(|o| o.never_date()) {
                    problem(
                        Kind::IncompatibleTypes,
                        &right_pointer,
                        format!("`{op}` needs a date, but `{other}` is never a date"),
                    );
                }
            }
            Op::WithinLast | Op::MoreThanAgo => {
                if left.never_date() {
                    problem(
                        Kind::IncompatibleTypes,
                        &left_pointer,
                        format!(
                            "`{left}` is never a date, so `{op}` cannot compare it; use a date such as \
                             `contact.signed_up_at`, `trigger.timestamp` or `event.timestamp`"
                        ),
                    );
                }
                match &self.right {
                    Some(Right::Ref(other)) => problem(
                        Kind::InvalidValue,
                        &right_pointer,
                        format!(
                            "`{op}` needs a duration written in the condition, such as \"30d\", \"12h\" or \"2w\", \
                             not a reference to `{other}`"
                        ),
                    ),
                    Some(Right::Value(Value::String(text))) => {
                        if let Err(message) = parse_duration(text) {
                            problem(Kind::InvalidDuration, &right_pointer, message);
                        }
                    }
                    Some(Right::Value(value)) if !value.is_null() => problem(
                        Kind::InvalidDuration,
                        &right_pointer,
                        format!(
                            "`{op}` needs a duration as text with a unit, such as \"30d\", \"12h\" or \"2w\", but \
                             `right` is {}",
                            describe(value)
                        ),
                    ),
                    _ => {}
                }
            }
            Op::Eq | Op::Ne | Op::Exists | Op::NotExists => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        crate::time::parse_timestamp(text).unwrap()
    }

    fn now() -> DateTime<Utc> {
        at("2026-03-08T12:00:00Z")
    }

    fn contact() -> Contact {
        let mut c = Contact::new("u_42");
        let attributes = json!({
            "plan": "pro",
            "lead_score": 72,
            "score_text": "42",
            "ratio": 1.0,
            "email": "ada@example.com",
            "address": {"city": "Berlin", "zip": "10115"},
            "signed_up_at": "2026-03-01T08:00:00Z",
            "trial_ends": "2026-04-01",
            "last_seen_epoch": 1_772_000_000,
            "nothing": null,
            "interests": ["shoes", "hats"],
            "beta": true
        });
        c.attributes = attributes.as_object().unwrap().clone();
        c.tags = ["vip", "newsletter"].into_iter().map(String::from).collect();
        c
    }

    fn trigger() -> Event {
        Event::new("cart_updated", at("2026-03-08T11:00:00Z"))
            .with_property("cart_id", "c_1")
            .with_property("total", 99.5)
            .with_property("items", json!({"count": 3}))
    }

    fn event() -> Event {
        Event::new("checkout_completed", at("2026-03-08T11:30:00Z")).with_property("cart_id", "c_1")
    }

    fn cond(value: Value) -> Condition {
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{value}: {e}"))
    }

    /// Found by the `condition` fuzz target: serde_json's default number parsing read
    /// `1.711111e+67` one unit off in the last place, so a literal written out (by
    /// `kairos fmt`, or an export) came back as another number. Numbers read exactly now.
    #[test]
    fn number_literals_read_back_exactly() {
        let text = r#"{"left": "event.timestamp", "op": "after", "right": 17111110000000000000000000000000000000000000000000000000001971165357}"#;
        let read: Condition = serde_json::from_str(text).unwrap();
        let written = serde_json::to_string(&read).unwrap();
        assert!(written.contains("1.711111e+67"), "{written}");
        assert_eq!(serde_json::from_str::<Condition>(&written).unwrap(), read);
        let Condition::Compare(Comparison { right: Some(Right::Value(right)), .. }) = read else { panic!("{read:?}") };
        assert_eq!(right.as_f64(), Some(1.711111e67));
    }

    fn eval(value: Value) -> bool {
        let (c, t, e) = (contact(), trigger(), event());
        cond(value).evaluate(&Scope {
            contact: &c,
            trigger: Some(&t),
            event: Some(&e),
            now: now(),
            data: None,
            history: None,
        })
    }

    fn cmp(left: &str, op: &str, right: Value) -> bool {
        eval(json!({"left": left, "op": op, "right": right}))
    }

    fn unary(left: &str, op: &str) -> bool {
        eval(json!({"left": left, "op": op}))
    }

    fn problems(value: Value) -> Vec<Problem> {
        cond(value).check("/c")
    }

    fn one_problem(value: Value) -> Problem {
        let mut found = problems(value.clone());
        assert_eq!(found.len(), 1, "{value}: {found:?}");
        found.remove(0)
    }

    #[test]
    fn operands_resolve() {
        let (c, t, e) = (contact(), trigger(), event());
        let scope = Scope { contact: &c, trigger: Some(&t), event: Some(&e), now: now(), data: None, history: None };
        let get = |text: &str| text.parse::<Operand>().unwrap().resolve(&scope);
        assert_eq!(get("contact.id"), Some(json!("u_42")));
        assert_eq!(get("contact.tags"), Some(json!(["newsletter", "vip"])));
        assert_eq!(get("contact.plan"), Some(json!("pro")));
        assert_eq!(get("contact.address.city"), Some(json!("Berlin")));
        assert_eq!(get("contact.address.country"), None);
        assert_eq!(get("contact.plan.x"), None);
        assert_eq!(get("contact.nothing"), None, "null counts as missing");
        assert_eq!(get("trigger.name"), Some(json!("cart_updated")));
        assert_eq!(get("trigger.timestamp"), Some(json!("2026-03-08T11:00:00Z")));
        assert_eq!(get("trigger.properties.items.count"), Some(json!(3)));
        assert_eq!(get("event.name"), Some(json!("checkout_completed")));
        assert_eq!(get("event.timestamp"), Some(json!("2026-03-08T11:30:00Z")));
        assert_eq!(get("event.properties.cart_id"), Some(json!("c_1")));
        assert_eq!(get("now"), Some(json!("2026-03-08T12:00:00Z")));

        let no_events = Scope { contact: &c, trigger: None, event: None, now: now(), data: None, history: None };
        for text in ["trigger.name", "trigger.timestamp", "trigger.properties.cart_id", "event.name", "event.timestamp"]
        {
            assert_eq!(text.parse::<Operand>().unwrap().resolve(&no_events), None, "{text}");
        }
        let right: Right = serde_json::from_value(json!({"ref": "contact.plan"})).unwrap();
        assert_eq!(right.resolve(&scope), Some(json!("pro")));
        assert_eq!(Right::Value(json!(5)).resolve(&scope), Some(json!(5)));
        assert_eq!(Right::Value(Value::Null).resolve(&scope), None);
    }

    #[test]
    fn operand_text_round_trips_and_bad_forms_explain() {
        for text in [
            "contact.id",
            "contact.tags",
            "contact.plan",
            "contact.address.city",
            "contact.identity",
            "trigger.name",
            "trigger.timestamp",
            "trigger.properties.cart_id",
            "trigger.properties.a.b",
            "event.name",
            "event.timestamp",
            "event.properties.x",
            "data.crm_id",
            "data.account.tier",
            "now",
        ] {
            assert_eq!(text.parse::<Operand>().unwrap().to_string(), text);
        }
        for text in [
            "",
            "plan",
            "contact",
            "contact.",
            "contact..x",
            "contact.plan.",
            "contact.tags.vip",
            "contact.id.x",
            "trigger",
            "trigger.properties",
            "trigger.properties.",
            "trigger.total",
            "event.props.x",
            "events.name",
            "data",
            "data.",
            "data..x",
            "Now",
        ] {
            let err = text.parse::<Operand>().unwrap_err();
            assert!(err.contains(&format!("`{text}`")), "{text}: {err}");
        }
        assert!("contact.plna".parse::<Operand>().is_ok(), "any attribute name is allowed");
        assert!("foo".parse::<Operand>().unwrap_err().contains("`contact.<attribute>`"));
        assert!("contact.tags.vip".parse::<Operand>().unwrap_err().contains("contains"));
        assert!("trigger.total".parse::<Operand>().unwrap_err().contains("trigger.properties.<property>"));
    }

    #[test]
    fn eq_and_ne() {
        assert!(cmp("contact.plan", "eq", json!("pro")));
        assert!(!cmp("contact.plan", "eq", json!("Pro")), "case-sensitive");
        assert!(!cmp("contact.plan", "eq", json!("free")));
        assert!(cmp("contact.lead_score", "eq", json!(72.0)), "1 == 1.0");
        assert!(cmp("contact.ratio", "eq", json!(1)));
        assert!(cmp("contact.score_text", "eq", json!(42)), "numeric text equals the number");
        assert!(cmp("contact.lead_score", "eq", json!("72")));
        assert!(cmp("contact.lead_score", "eq", json!(" 72 ")));
        assert!(!cmp("contact.score_text", "eq", json!("42.0")), "two texts compare as text");
        assert!(!cmp("contact.plan", "eq", json!(0)));
        assert!(cmp("contact.beta", "eq", json!(true)));
        assert!(!cmp("contact.beta", "eq", json!("true")));
        assert!(cmp("contact.address", "eq", json!({"zip": 10115, "city": "Berlin"})), "deep, numeric");
        assert!(cmp("contact.interests", "eq", json!(["shoes", "hats"])));
        assert!(!cmp("contact.interests", "eq", json!(["hats", "shoes"])));
        assert!(!cmp("contact.missing", "eq", json!("pro")));
        assert!(!cmp("contact.nothing", "eq", json!("pro")));
        assert!(!cmp("contact.plan", "eq", Value::Null), "null never matches");

        assert!(cmp("contact.plan", "ne", json!("free")));
        assert!(!cmp("contact.plan", "ne", json!("pro")));
        assert!(!cmp("contact.score_text", "ne", json!(42)));
        assert!(cmp("contact.missing", "ne", json!("pro")), "missing is not equal");
        assert!(cmp("contact.nothing", "ne", json!("pro")));
        assert!(cmp("contact.id", "eq", json!("u_42")));
        assert!(cmp("trigger.name", "eq", json!("cart_updated")));
        assert!(cmp("event.name", "ne", json!("cart_updated")));
    }

    #[test]
    fn numeric_ordering() {
        assert!(cmp("contact.lead_score", "gt", json!(50)));
        assert!(!cmp("contact.lead_score", "gt", json!(72)));
        assert!(cmp("contact.lead_score", "gte", json!(72)));
        assert!(!cmp("contact.lead_score", "gte", json!(72.5)));
        assert!(cmp("contact.lead_score", "lt", json!(72.5)));
        assert!(!cmp("contact.lead_score", "lt", json!(72)));
        assert!(cmp("contact.lead_score", "lte", json!("72")), "numeric text on the right");
        assert!(!cmp("contact.lead_score", "lte", json!(71)));
        assert!(cmp("contact.score_text", "gt", json!(9)), "numeric text on the left");
        assert!(cmp("trigger.properties.total", "gte", json!(99.5)));
        assert!(!cmp("contact.plan", "gt", json!(1)), "not a number");
        assert!(!cmp("contact.lead_score", "gt", json!("abc")));
        assert!(!cmp("contact.lead_score", "gt", json!("NaN")));
        assert!(!cmp("contact.lead_score", "lt", json!("inf")));
        assert!(!cmp("contact.lead_score", "gt", json!([1])));
        assert!(!cmp("contact.missing", "gt", json!(1)));
        assert!(!cmp("contact.missing", "lte", json!(1)));
        // Large integers compare exactly.
        let big = eval(json!({"left": "trigger.properties.total", "op": "lt", "right": 9_007_199_254_740_993_u64}));
        assert!(big);
        let c = Contact {
            attributes: json!({"n": 9_007_199_254_740_993_u64}).as_object().unwrap().clone(),
            ..Contact::new("x")
        };
        let scope = Scope { contact: &c, trigger: None, event: None, now: now(), data: None, history: None };
        assert!(!cond(json!({"left": "contact.n", "op": "eq", "right": 9_007_199_254_740_992_u64})).evaluate(&scope));
        assert!(cond(json!({"left": "contact.n", "op": "gt", "right": "9007199254740992"})).evaluate(&scope));
    }

    #[test]
    fn in_and_not_in() {
        assert!(cmp("contact.plan", "in", json!(["pro", "team"])));
        assert!(!cmp("contact.plan", "in", json!(["free", "team"])));
        assert!(cmp("contact.lead_score", "in", json!(["72", 1])), "as eq");
        assert!(cmp("contact.tags", "in", json!(["vip", "other"])), "any tag in the list");
        assert!(!cmp("contact.tags", "in", json!(["other"])));
        assert!(!cmp("contact.plan", "in", json!("pro")), "right must be a list");
        assert!(!cmp("contact.missing", "in", json!(["pro"])));
        assert!(!cmp("contact.plan", "in", json!([])));

        assert!(cmp("contact.plan", "not_in", json!(["free", "team"])));
        assert!(!cmp("contact.plan", "not_in", json!(["pro"])));
        assert!(!cmp("contact.tags", "not_in", json!(["vip"])));
        assert!(cmp("contact.tags", "not_in", json!(["churned"])));
        assert!(cmp("contact.missing", "not_in", json!(["pro"])), "missing is in no list");
        assert!(cmp("contact.nothing", "not_in", json!(["pro"])));
        assert!(
            !cmp("event.properties.cart_id", "in", json!({"ref": "trigger.properties.cart_id"})),
            "a single value is not a list"
        );
        assert!(cmp("contact.plan", "not_in", json!({"ref": "contact.interests"})));
        assert!(eval(json!({"left": "event.properties.tag", "op": "not_in", "right": {"ref": "contact.tags"}})));
    }

    #[test]
    fn contains_and_starts_with() {
        assert!(cmp("contact.email", "contains", json!("@example")));
        assert!(!cmp("contact.email", "contains", json!("@EXAMPLE")));
        assert!(cmp("contact.tags", "contains", json!("vip")));
        assert!(!cmp("contact.tags", "contains", json!("churned")));
        assert!(cmp("contact.interests", "contains", json!("hats")));
        assert!(!cmp("contact.lead_score", "contains", json!("7")), "a number is not text");
        assert!(!cmp("contact.email", "contains", json!(1)));
        assert!(!cmp("contact.missing", "contains", json!("a")));
        assert!(!cmp("contact.address", "contains", json!("city")));

        assert!(cmp("contact.email", "starts_with", json!("ada@")));
        assert!(!cmp("contact.email", "starts_with", json!("bob@")));
        assert!(!cmp("contact.lead_score", "starts_with", json!("7")));
        assert!(!cmp("contact.tags", "starts_with", json!("v")));
        assert!(!cmp("contact.email", "starts_with", json!(1)));
        assert!(!cmp("contact.missing", "starts_with", json!("a")));
    }

    #[test]
    fn exists_and_not_exists() {
        assert!(unary("contact.plan", "exists"));
        assert!(!unary("contact.plan", "not_exists"));
        assert!(!unary("contact.missing", "exists"));
        assert!(unary("contact.missing", "not_exists"));
        assert!(!unary("contact.nothing", "exists"), "null counts as missing");
        assert!(unary("contact.nothing", "not_exists"));
        assert!(unary("contact.tags", "exists"));
        assert!(unary("trigger.properties.cart_id", "exists"));
        let c = contact();
        let scope = Scope { contact: &c, trigger: None, event: None, now: now(), data: None, history: None };
        assert!(cond(json!({"left": "event.name", "op": "not_exists"})).evaluate(&scope));
        assert!(!cond(json!({"left": "trigger.timestamp", "op": "exists"})).evaluate(&scope));
    }

    #[test]
    fn before_and_after() {
        assert!(cmp("contact.signed_up_at", "before", json!("2026-03-02")));
        assert!(!cmp("contact.signed_up_at", "before", json!("2026-03-01")));
        assert!(cmp("contact.signed_up_at", "after", json!("2026-03-01")));
        assert!(!cmp("contact.signed_up_at", "after", json!("2026-03-01T08:00:00Z")), "strictly");
        assert!(cmp("contact.trial_ends", "after", json!({"ref": "now"})));
        assert!(cmp("contact.last_seen_epoch", "before", json!("2026-03-01")));
        assert!(cmp("contact.signed_up_at", "after", json!(1_772_000_000)), "epoch seconds on the right");
        assert!(cmp("trigger.timestamp", "before", json!({"ref": "event.timestamp"})));
        assert!(cmp("event.timestamp", "after", json!("2026-03-08T12:00:00+01:00")), "offsets");
        assert!(cmp("now", "after", json!({"ref": "contact.signed_up_at"})));
        assert!(!cmp("contact.plan", "before", json!("2026-03-02")));
        assert!(!cmp("contact.signed_up_at", "before", json!("tomorrow")));
        assert!(!cmp("contact.missing", "before", json!("2026-03-02")));
        assert!(!cmp("contact.missing", "after", json!("2026-03-02")));
        assert!(!cmp("contact.signed_up_at", "after", json!({"ref": "contact.missing"})));
    }

    #[test]
    fn within_last_and_more_than_ago() {
        // now = 2026-03-08T12:00Z, signed up 2026-03-01T08:00Z: 7 days 4 hours ago.
        assert!(cmp("contact.signed_up_at", "within_last", json!("8d")));
        assert!(!cmp("contact.signed_up_at", "within_last", json!("7d")));
        assert!(cmp("contact.signed_up_at", "more_than_ago", json!("7d")));
        assert!(!cmp("contact.signed_up_at", "more_than_ago", json!("1w 1d")));
        assert!(cmp("trigger.timestamp", "within_last", json!("PT1H")), "boundary is inclusive");
        assert!(!cmp("trigger.timestamp", "more_than_ago", json!("1h")));
        assert!(!cmp("contact.trial_ends", "within_last", json!("365d")), "a future date is not in the past");
        assert!(!cmp("contact.trial_ends", "more_than_ago", json!("1d")));
        assert!(cmp("now", "within_last", json!("0s")));
        assert!(!cmp("contact.signed_up_at", "within_last", json!("soon")));
        assert!(!cmp("contact.signed_up_at", "within_last", json!(30)));
        assert!(!cmp("contact.signed_up_at", "more_than_ago", json!("P1M")));
        assert!(!cmp("contact.plan", "within_last", json!("30d")));
        assert!(!cmp("contact.missing", "within_last", json!("30d")));
        assert!(!cmp("contact.missing", "more_than_ago", json!("30d")));
    }

    #[test]
    fn ref_right_side() {
        let rule =
            json!({"left": "event.properties.cart_id", "op": "eq", "right": {"ref": "trigger.properties.cart_id"}});
        assert!(eval(rule.clone()));
        let (c, t) = (contact(), trigger());
        let other = Event::new("checkout_completed", now()).with_property("cart_id", "c_2");
        let scope =
            Scope { contact: &c, trigger: Some(&t), event: Some(&other), now: now(), data: None, history: None };
        assert!(!cond(rule.clone()).evaluate(&scope));
        let scope = Scope { contact: &c, trigger: None, event: Some(&other), now: now(), data: None, history: None };
        assert!(!cond(rule).evaluate(&scope), "a missing reference equals nothing");
        assert!(cmp("contact.lead_score", "lt", json!({"ref": "trigger.properties.total"})));
        assert!(!cmp("contact.tags", "contains", json!({"ref": "contact.tags"})), "a list is not an item");
    }

    #[test]
    fn nested_all_any_not() {
        let c = json!({"all": [
            {"left": "contact.plan", "op": "eq", "right": "pro"},
            {"any": [
                {"left": "contact.lead_score", "op": "gt", "right": 90},
                {"left": "contact.tags", "op": "contains", "right": "vip"}
            ]},
            {"not": {"left": "contact.tags", "op": "contains", "right": "churned"}}
        ]});
        assert!(eval(c));
        assert!(!eval(json!({"all": [
            {"left": "contact.plan", "op": "eq", "right": "pro"},
            {"not": {"left": "contact.tags", "op": "contains", "right": "vip"}}
        ]})));
        assert!(eval(json!({"any": [
            {"left": "contact.plan", "op": "eq", "right": "free"},
            {"not": {"not": {"left": "contact.id", "op": "exists"}}}
        ]})));
        assert!(!eval(json!({"any": []})));
        assert!(eval(json!({"all": []})));
    }

    #[test]
    fn traced_evaluation_records_values() {
        let (c, t, e) = (contact(), trigger(), event());
        let scope = Scope { contact: &c, trigger: Some(&t), event: Some(&e), now: now(), data: None, history: None };
        let condition = cond(json!({"all": [
            {"left": "contact.plan", "op": "in", "right": ["pro", "team"]},
            {"left": "event.properties.cart_id", "op": "eq", "right": {"ref": "trigger.properties.cart_id"}},
            {"any": [
                {"left": "contact.missing", "op": "exists"},
                {"left": "contact.lead_score", "op": "gt", "right": 50},
                {"left": "contact.email", "op": "exists"}
            ]}
        ]}));
        let mut trace = Vec::new();
        assert!(condition.evaluate_traced(&scope, &mut trace));
        assert_eq!(
            trace,
            vec![
                Compared {
                    left: "contact.plan".into(),
                    op: Op::In,
                    left_value: Some(json!("pro")),
                    right_value: Some(json!(["pro", "team"])),
                    result: true
                },
                Compared {
                    left: "event.properties.cart_id".into(),
                    op: Op::Eq,
                    left_value: Some(json!("c_1")),
                    right_value: Some(json!("c_1")),
                    result: true
                },
                Compared {
                    left: "contact.missing".into(),
                    op: Op::Exists,
                    left_value: None,
                    right_value: None,
                    result: false
                },
                Compared {
                    left: "contact.lead_score".into(),
                    op: Op::Gt,
                    left_value: Some(json!(72)),
                    right_value: Some(json!(50)),
                    result: true
                },
            ],
            "the third comparison of `any` is not needed"
        );
        assert_eq!(
            serde_json::to_value(&trace[2]).unwrap(),
            json!({"left": "contact.missing", "op": "exists", "left_value": null, "right_value": null, "result": false})
        );
        assert_eq!(
            serde_json::to_value(&trace[0]).unwrap(),
            json!({"left": "contact.plan", "op": "in", "left_value": "pro", "right_value": ["pro", "team"], "result": true})
        );
        let back: Compared = serde_json::from_value(serde_json::to_value(&trace[0]).unwrap()).unwrap();
        assert_eq!(back, trace[0]);
    }

    #[test]
    fn serde_round_trips_every_form() {
        for value in [
            json!({"all": [{"left": "contact.plan", "op": "eq", "right": "pro"}]}),
            json!({"any": [{"left": "contact.lead_score", "op": "gte", "right": 42}, {"left": "contact.id", "op": "exists"}]}),
            json!({"not": {"left": "contact.tags", "op": "contains", "right": "vip"}}),
            json!({"left": "contact.plan", "op": "in", "right": ["a", "b"]}),
            json!({"left": "contact.signed_up_at", "op": "within_last", "right": "30d"}),
            json!({"left": "contact.signed_up_at", "op": "before", "right": "2026-01-01T00:00:00Z"}),
            json!({"left": "event.properties.cart_id", "op": "eq", "right": {"ref": "trigger.properties.cart_id"}}),
            json!({"left": "contact.address.city", "op": "not_exists"}),
            json!({"left": "now", "op": "after", "right": {"ref": "trigger.timestamp"}}),
            json!({"left": "contact.meta", "op": "eq", "right": {"a": 1, "ref": "x"}}),
            json!({"left": "contact.plan", "op": "ne", "right": null}),
            json!({"all": []}),
        ] {
            let parsed = cond(value.clone());
            assert_eq!(serde_json::to_value(&parsed).unwrap(), value);
            let text = serde_json::to_string(&parsed).unwrap();
            assert_eq!(serde_json::from_str::<Condition>(&text).unwrap(), parsed);
        }
        assert_eq!(
            cond(json!({"left": "trigger.properties.x", "op": "eq", "right": {"ref": "contact.id"}})),
            Condition::Compare(Comparison {
                left: Operand::TriggerProperty(vec!["x".into()]),
                op: Op::Eq,
                right: Some(Right::Ref(Operand::ContactId)),
            })
        );
        assert_eq!(
            cond(json!({"left": "contact.plan", "op": "ne", "right": null})),
            Condition::Compare(Comparison {
                left: Operand::ContactAttribute(vec!["plan".into()]),
                op: Op::Ne,
                right: Some(Right::Value(Value::Null)),
            })
        );
        assert_eq!(OP_NAMES, Op::ALL.map(Op::as_str));
        assert!("equals".parse::<Op>().unwrap_err().contains("`more_than_ago`"));
        for op in Op::ALL {
            assert_eq!(op.as_str().parse::<Op>().unwrap(), op);
            assert_eq!(serde_json::to_value(op).unwrap(), json!(op.as_str()));
            assert_eq!(serde_json::from_value::<Op>(json!(op.to_string())).unwrap(), op);
        }
        let comparison: Comparison = serde_json::from_value(json!({"left": "now", "op": "exists"})).unwrap();
        assert_eq!(comparison.right, None);
    }

    fn path_error(value: Value) -> (String, String) {
        let text = value.to_string();
        let de = &mut serde_json::Deserializer::from_str(&text);
        let err = serde_path_to_error::deserialize::<_, Condition>(de).unwrap_err();
        (err.path().to_string(), err.inner().to_string())
    }

    #[test]
    fn deserialization_errors_keep_path_and_explain() {
        let (path, message) = path_error(json!({"all": [{"left": "contact.plan", "op": "equals", "right": 1}]}));
        assert_eq!(path, "all[0].op");
        assert!(
            message.contains("`equals`") && message.contains("`eq`") && message.contains("`within_last`"),
            "{message}"
        );

        let (path, message) = path_error(json!({"any": [{"not": {"left": "contact.tags.vip", "op": "exists"}}]}));
        assert_eq!(path, "any[0].not.left");
        assert!(message.contains("contains"), "{message}");

        let (path, message) =
            path_error(json!({"all": [{"left": "contact.plan", "op": "eq", "right": {"ref": "plan"}}]}));
        assert_eq!(path, "all[0].right");
        assert!(message.contains("`contact.<attribute>`"), "{message}");

        let (path, message) = path_error(json!({"all": [{"left": "contact.plan", "op": "eq", "right": {"ref": 3}}]}));
        assert_eq!(path, "all[0].right");
        assert!(message.contains("ref"), "{message}");

        let (path, message) = path_error(json!({"all": [{"all": [], "left": "contact.plan", "op": "exists"}]}));
        assert_eq!(path, "all[0]");
        assert!(message.contains("exactly one of") && message.contains("`all` and `left`"), "{message}");

        let (path, message) = path_error(json!({"all": [{}]}));
        assert_eq!(path, "all[0]");
        assert!(message.contains("exactly one of"), "{message}");

        let (path, message) = path_error(json!({"not": {"left": "contact.plan"}}));
        assert_eq!(path, "not");
        assert!(message.contains("no `op`") && message.contains("`starts_with`"), "{message}");

        let (path, message) = path_error(json!({"not": {"op": "eq", "right": 1}}));
        assert_eq!(path, "not");
        assert!(message.contains("no `left`"), "{message}");

        let (path, message) = path_error(json!({"all": [{"left": "contact.plan", "op": "eq", "rigth": 1}]}));
        assert_eq!(path, "all[0].rigth");
        assert!(message.contains("unknown field `rigth`") && message.contains("`right`"), "{message}");

        let (path, _) = path_error(json!({"all": {"left": "contact.plan", "op": "exists"}}));
        assert_eq!(path, "all");
        let (path, _) = path_error(json!({"all": [{"left": 5, "op": "exists"}]}));
        assert_eq!(path, "all[0].left");
        let (path, message) = path_error(json!({"all": [{"left": "contact.plan", "op": 5}]}));
        assert_eq!(path, "all[0].op");
        assert!(message.contains("an operator such as"), "{message}");
        let (path, message) = path_error(json!("contact.plan eq pro"));
        assert_eq!(path, ".");
        assert!(message.contains("a condition: an object with `all`"), "{message}");
    }

    #[test]
    fn works_inside_internally_tagged_enums() {
        // Node configs and `update_contact` put conditions and right sides inside `#[serde(tag = ...)]` enums,
        // which buffer the input before deserializing it.
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Holder {
            Goal { condition: Condition, value: Right },
        }
        let holder: Holder = serde_json::from_value(json!({
            "type": "goal",
            "condition": {"any": [{"left": "contact.plan", "op": "not_in", "right": ["free"]}]},
            "value": {"ref": "event.properties.plan"}
        }))
        .unwrap();
        assert_eq!(
            holder,
            Holder::Goal {
                condition: cond(json!({"any": [{"left": "contact.plan", "op": "not_in", "right": ["free"]}]})),
                value: Right::Ref(Operand::EventProperty(vec!["plan".into()])),
            }
        );
        let err = serde_json::from_value::<Holder>(json!({
            "type": "goal",
            "condition": {"left": "contact.plan", "op": "equals", "right": 1},
            "value": 1
        }))
        .unwrap_err();
        assert!(err.to_string().contains("`equals`"), "{err}");
    }

    #[test]
    fn json_schema_describes_the_five_shapes() {
        let schema = serde_json::to_value(schemars::schema_for!(Condition)).unwrap();
        let text = schema.to_string();
        let shapes = schema["anyOf"].as_array().expect("anyOf at the root");
        assert_eq!(shapes.len(), 5, "{schema:#}");
        assert_eq!(schema["$defs"]["Performed"]["required"], json!(["performed", "measure", "op"]), "{schema:#}");
        assert!(shapes.iter().all(|s| s.get("description").is_some()), "{schema:#}");
        assert!(text.contains("\"minItems\":1"), "{text}");
        assert!(text.contains("\"Operand\"") && text.contains("\"Right\"") && text.contains("within_last"));
        let defs = &schema["$defs"];
        assert_eq!(defs["Operand"]["type"], "string");
        assert!(defs["Comparison"]["properties"]["right"].is_object(), "{schema:#}");
        assert_eq!(defs["Comparison"]["required"], json!(["left", "op"]), "{schema:#}");
        let compared = serde_json::to_value(schemars::schema_for!(Compared)).unwrap();
        assert!(compared["properties"]["left_value"].is_object());
    }

    #[test]
    fn conditions_nest_at_most_max_depth_levels() {
        let leaf = json!({"left": "contact.plan", "op": "eq", "right": "pro"});
        let nest = |levels: usize| (0..levels).fold(leaf.clone(), |c, _| json!({"not": c}));
        assert!(cond(nest(MAX_DEPTH - 1)).check("/c").is_empty());
        let problems = cond(nest(MAX_DEPTH)).check("/c");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].pointer, format!("/c{}", "/not".repeat(MAX_DEPTH)));
        assert!(problems[0].message.contains("16 levels"), "{problems:?}");
    }

    #[test]
    fn check_accepts_good_conditions() {
        let value = json!({"all": [
            {"left": "contact.plan", "op": "in", "right": ["pro", "team"]},
            {"left": "contact.tags", "op": "contains", "right": "vip"},
            {"left": "contact.tags", "op": "not_in", "right": ["churned"]},
            {"left": "contact.tags", "op": "exists"},
            {"left": "contact.lead_score", "op": "gt", "right": "50"},
            {"left": "contact.lead_score", "op": "lte", "right": {"ref": "trigger.properties.total"}},
            {"left": "contact.signed_up_at", "op": "within_last", "right": "30d"},
            {"left": "event.timestamp", "op": "more_than_ago", "right": "PT2H"},
            {"left": "trigger.timestamp", "op": "before", "right": "2026-01-01"},
            {"left": "contact.birthday", "op": "after", "right": 1_700_000_000},
            {"left": "now", "op": "after", "right": {"ref": "contact.trial_ends"}},
            {"left": "contact.email", "op": "starts_with", "right": "ada"},
            {"left": "event.properties.cart_id", "op": "eq", "right": {"ref": "trigger.properties.cart_id"}},
            {"left": "event.properties.tag", "op": "in", "right": {"ref": "contact.tags"}},
            {"not": {"any": [{"left": "contact.plan", "op": "ne", "right": "free"}]}}
        ]});
        assert_eq!(problems(value), vec![]);
    }

    #[test]
    fn check_missing_and_extra_right() {
        let p = one_problem(json!({"left": "contact.plan", "op": "eq"}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::MissingField, "/c"));
        assert!(p.message.contains("`eq` needs a `right`"), "{}", p.message);
        let p = one_problem(json!({"left": "contact.signed_up_at", "op": "within_last"}));
        assert!(p.message.contains("\"30d\""), "{}", p.message);

        let p = one_problem(json!({"left": "contact.plan", "op": "exists", "right": "pro"}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::InvalidValue, "/c/right"));
        assert!(p.message.contains("remove `right`"));
        let p = one_problem(json!({"left": "contact.plan", "op": "not_exists", "right": null}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::InvalidValue, "/c/right"));

        let p = one_problem(json!({"left": "contact.plan", "op": "eq", "right": null}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::InvalidValue, "/c/right"));
        assert!(p.message.contains("not_exists"));
    }

    #[test]
    fn check_numeric_comparisons() {
        let p = one_problem(json!({"left": "contact.lead_score", "op": "gt", "right": "high"}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::IncompatibleTypes, "/c/right"));
        assert!(p.message.contains("compares numbers") && p.message.contains("the text \"high\""), "{}", p.message);
        let p = one_problem(json!({"left": "contact.lead_score", "op": "lte", "right": [1]}));
        assert!(p.message.contains("a list"));
        let p = one_problem(json!({"left": "contact.signed_up_at", "op": "lt", "right": "2026-01-01"}));
        assert!(p.message.contains("`before` or `after`"), "{}", p.message);
        for left in ["now", "trigger.timestamp", "event.timestamp"] {
            let p = one_problem(json!({"left": left, "op": "gte", "right": "2026-01-01"}));
            assert_eq!((p.code, p.pointer.as_str()), (Kind::IncompatibleTypes, "/c/op"));
            assert!(p.message.contains("`before` or `after`"), "{}", p.message);
        }
        let p = one_problem(json!({"left": "contact.lead_score", "op": "gt", "right": {"ref": "now"}}));
        assert_eq!(p.pointer, "/c/right");
    }

    #[test]
    fn check_lists_text_and_contains() {
        let p = one_problem(json!({"left": "contact.plan", "op": "in", "right": "pro"}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::IncompatibleTypes, "/c/right"));
        assert!(p.message.contains("list of values") && p.message.contains("`eq`"), "{}", p.message);
        let p = one_problem(json!({"left": "contact.plan", "op": "not_in", "right": {"a": 1}}));
        assert!(p.message.contains("`ne`"));
        let p = one_problem(json!({"left": "contact.plan", "op": "in", "right": {"ref": "trigger.name"}}));
        assert_eq!(p.pointer, "/c/right");

        let p = one_problem(json!({"left": "contact.email", "op": "starts_with", "right": 4}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::IncompatibleTypes, "/c/right"));
        assert!(p.message.contains("needs text"));

        let p = one_problem(json!({"left": "contact.tags", "op": "contains", "right": ["a", "b"]}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::IncompatibleTypes, "/c/right"));
        assert!(p.message.contains("`in`"));
        let p = one_problem(json!({"left": "contact.email", "op": "contains", "right": {"a": 1}}));
        assert!(p.message.contains("an object"));
        let p = one_problem(json!({"left": "contact.interests", "op": "contains", "right": {"ref": "contact.tags"}}));
        assert_eq!(p.pointer, "/c/right");
    }

    #[test]
    fn check_dates_and_durations() {
        let p = one_problem(json!({"left": "contact.signed_up_at", "op": "before", "right": "next week"}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::IncompatibleTypes, "/c/right"));
        assert!(p.message.contains("\"2026-01-01\""), "{}", p.message);
        let p = one_problem(json!({"left": "contact.signed_up_at", "op": "after", "right": true}));
        assert_eq!(p.pointer, "/c/right");
        for left in ["contact.tags", "contact.id", "trigger.name", "event.name"] {
            let found = problems(json!({"left": left, "op": "after", "right": "2026-01-01"}));
            assert_eq!(found.len(), 1, "{left}: {found:?}");
            let expected = if left == "contact.tags" { "/c/op" } else { "/c/left" };
            assert_eq!((found[0].code, found[0].pointer.as_str()), (Kind::IncompatibleTypes, expected), "{left}");
            let found = problems(json!({"left": left, "op": "within_last", "right": "1d"}));
            assert_eq!(found.len(), 1, "{left}: {found:?}");
            assert_eq!(found[0].pointer, expected);
        }
        let p = one_problem(json!({"left": "now", "op": "before", "right": {"ref": "event.name"}}));
        assert_eq!(p.pointer, "/c/right");

        let p = one_problem(json!({"left": "contact.signed_up_at", "op": "within_last", "right": "a month"}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::InvalidDuration, "/c/right"));
        assert!(p.message.contains("`a month` is not a duration"), "{}", p.message);
        let p = one_problem(json!({"left": "contact.signed_up_at", "op": "more_than_ago", "right": "P1M"}));
        assert!(p.message.contains("months"));
        let p = one_problem(json!({"left": "contact.signed_up_at", "op": "more_than_ago", "right": 30}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::InvalidDuration, "/c/right"));
        assert!(p.message.contains("\"30d\""));
        let p = one_problem(
            json!({"left": "contact.signed_up_at", "op": "within_last", "right": {"ref": "contact.window"}}),
        );
        assert_eq!((p.code, p.pointer.as_str()), (Kind::InvalidValue, "/c/right"));
        let found = problems(json!({"left": "event.name", "op": "within_last", "right": "soon"}));
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn check_tags_ops() {
        for op in ["eq", "ne", "gt", "starts_with", "before", "more_than_ago"] {
            let p = one_problem(json!({"left": "contact.tags", "op": op, "right": "vip"}));
            assert_eq!((p.code, p.pointer.as_str()), (Kind::IncompatibleTypes, "/c/op"), "{op}");
            assert!(p.message.contains("`contains`") && p.message.contains(&format!("`{op}`")), "{}", p.message);
        }
    }

    #[test]
    fn check_empty_lists_and_nested_pointers() {
        let p = one_problem(json!({"any": []}));
        assert_eq!((p.code, p.pointer.as_str()), (Kind::InvalidValue, "/c/any"));
        assert!(p.message.contains("add at least one condition"));
        let found = cond(json!({"all": [
            {"left": "contact.plan", "op": "eq", "right": "pro"},
            {"not": {"any": [
                {"left": "contact.tags", "op": "eq", "right": "vip"},
                {"all": []}
            ]}},
            {"left": "contact.plan", "op": "in", "right": "pro"}
        ]}))
        .check("/nodes/2/rules/0/condition");
        let pointers: Vec<&str> = found.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/nodes/2/rules/0/condition/all/1/not/any/0/op",
                "/nodes/2/rules/0/condition/all/1/not/any/1/all",
                "/nodes/2/rules/0/condition/all/2/right",
            ]
        );
    }

    // ---- property tests -------------------------------------------------------------------

    const KEYS: [&str; 6] = ["plan", "score", "signed_up_at", "address", "items", "x"];

    const TEXTS: [&str; 24] = [
        "pro",
        "vip",
        "42",
        " 7.5 ",
        "1e400",
        "NaN",
        "-0",
        "30d",
        "PT1H",
        "P1M",
        "-5m",
        "2026-03-01",
        "2025-06-01",
        "2024-01-01T00:00:00+02:00",
        "2026-03-08T11:59:59Z",
        "+20000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "",
        "contact.plan",
        "é",
        "1000d",
        "36500d",
        "0s",
        "2w",
    ];

    fn arb_key() -> impl Strategy<Value = String> {
        prop_oneof![4 => prop::sample::select(&KEYS[..]).prop_map(String::from), 1 => "[a-z_]{1,5}"]
    }

    fn arb_path() -> impl Strategy<Value = Vec<String>> {
        prop_oneof![3 => arb_key().prop_map(|k| vec![k]), 1 => prop::collection::vec(arb_key(), 2..4)]
    }

    fn arb_operand() -> impl Strategy<Value = Operand> {
        prop_oneof![
            1 => Just(Operand::ContactId),
            1 => Just(Operand::ContactTags),
            3 => arb_path()
                .prop_filter("reserved", |p| p[0] != "id" && p[0] != "tags")
                .prop_map(Operand::ContactAttribute),
            1 => Just(Operand::TriggerName),
            1 => Just(Operand::TriggerTimestamp),
            2 => arb_path().prop_map(Operand::TriggerProperty),
            1 => Just(Operand::EventName),
            1 => Just(Operand::EventTimestamp),
            2 => arb_path().prop_map(Operand::EventProperty),
            1 => Just(Operand::Now),
        ]
    }

    fn arb_text() -> impl Strategy<Value = String> {
        prop_oneof![4 => prop::sample::select(&TEXTS[..]).prop_map(String::from), 1 => ".{0,8}"]
    }

    /// A JSON value that is not a list or object; `exact` keeps floats exact in short decimal text.
    fn arb_scalar(exact: bool) -> impl Strategy<Value = Value> {
        let float = if exact {
            any::<i32>().prop_map(|i| json!(f64::from(i) / 8.0)).boxed()
        } else {
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)).boxed()
        };
        prop_oneof![
            1 => Just(Value::Null),
            1 => any::<bool>().prop_map(Value::Bool),
            1 => any::<i64>().prop_map(|i| json!(i)),
            1 => any::<u64>().prop_map(|i| json!(i)),
            3 => (-3i64..100).prop_map(|i| json!(i)),
            1 => (1_700_000_000i64..1_800_000_000).prop_map(|i| json!(i)),
            1 => float,
            6 => arb_text().prop_map(Value::String),
        ]
    }

    fn arb_json(exact: bool) -> impl Strategy<Value = Value> {
        let nested = arb_scalar(exact).prop_recursive(3, 16, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((arb_key(), inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        });
        prop_oneof![3 => arb_scalar(exact), 1 => nested]
    }

    /// A right side, biased towards values that make sense for `op` so that every branch gets exercised.
    fn arb_right(op: Op, exact: bool) -> impl Strategy<Value = Right> {
        let literal = match op {
            Op::In | Op::NotIn => prop_oneof![
                3 => prop::collection::vec(arb_scalar(exact), 0..4).prop_map(Value::Array),
                1 => arb_json(exact),
            ]
            .boxed(),
            Op::WithinLast | Op::MoreThanAgo => prop_oneof![
                3 => prop::sample::select(&["30d", "365d", "1000d", "36500d", "0s", "PT1H", "2w", "P1M", "soon"][..])
                    .prop_map(|d| json!(d)),
                1 => arb_json(exact),
            ]
            .boxed(),
            _ => arb_json(exact).boxed(),
        };
        prop_oneof![
            1 => arb_operand().prop_map(Right::Ref),
            4 => literal
                .prop_filter("a single `ref` key reads as a reference", |v| {
                    !v.as_object().is_some_and(|m| m.len() == 1 && m.contains_key("ref"))
                })
                .prop_map(Right::Value),
        ]
    }

    fn arb_comparison(exact: bool) -> impl Strategy<Value = Comparison> {
        prop::sample::select(&Op::ALL[..]).prop_flat_map(move |op| {
            (arb_operand(), prop::option::weighted(0.9, arb_right(op, exact)))
                .prop_map(move |(left, right)| Comparison { left, op, right })
        })
    }

    fn arb_condition(exact: bool) -> impl Strategy<Value = Condition> {
        arb_comparison(exact).prop_map(Condition::Compare).prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Condition::All),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Condition::Any),
                inner.prop_map(|c| Condition::Not(Box::new(c))),
            ]
        })
    }

    fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            4 => 1_700_000_000i64..1_800_000_000,
            1 => -9_000_000_000_000i64..9_000_000_000_000,
        ]
        .prop_map(|secs| DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::UNIX_EPOCH))
    }

    fn arb_object() -> impl Strategy<Value = serde_json::Map<String, Value>> {
        prop::collection::vec((arb_key(), arb_json(false)), 0..6).prop_map(|entries| entries.into_iter().collect())
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        (prop::sample::select(&["cart_updated", "order_completed", "42"][..]), arb_object(), arb_time())
            .prop_map(|(name, properties, timestamp)| Event { properties, ..Event::new(name, timestamp) })
    }

    fn arb_contact() -> impl Strategy<Value = Contact> {
        (arb_text(), arb_object(), prop::collection::btree_set(arb_text(), 0..4))
            .prop_map(|(id, attributes, tags)| Contact { id, attributes, tags, ..Contact::default() })
    }

    fn arb_world() -> impl Strategy<Value = (Contact, Option<Event>, Option<Event>, DateTime<Utc>)> {
        (arb_contact(), prop::option::weighted(0.8, arb_event()), prop::option::weighted(0.8, arb_event()), arb_time())
    }

    proptest! {
        #[test]
        fn evaluate_never_panics_and_trace_agrees(condition in arb_condition(false), world in arb_world()) {
            let (contact, trigger, event, now) = world;
            let scope = Scope { contact: &contact, trigger: trigger.as_ref(), event: event.as_ref(), now, data: None, history: None };
            let result = condition.evaluate(&scope);
            let mut trace = Vec::new();
            prop_assert_eq!(condition.evaluate_traced(&scope, &mut trace), result);
            let _ = condition.check("/c");
        }

        #[test]
        fn boolean_laws(condition in arb_condition(false), other in arb_condition(false), world in arb_world()) {
            let (contact, trigger, event, now) = world;
            let scope = Scope { contact: &contact, trigger: trigger.as_ref(), event: event.as_ref(), now, data: None, history: None };
            let c = condition.evaluate(&scope);
            let o = other.evaluate(&scope);
            prop_assert_eq!(Condition::Not(Box::new(condition.clone())).evaluate(&scope), !c);
            prop_assert_eq!(Condition::All(vec![condition.clone()]).evaluate(&scope), c);
            prop_assert_eq!(Condition::Any(vec![condition.clone()]).evaluate(&scope), c);
            prop_assert!(!Condition::Any(vec![]).evaluate(&scope));
            prop_assert!(Condition::All(vec![]).evaluate(&scope));
            prop_assert_eq!(Condition::All(vec![condition.clone(), other.clone()]).evaluate(&scope), c && o);
            prop_assert_eq!(Condition::Any(vec![condition, other]).evaluate(&scope), c || o);
        }

        #[test]
        fn serde_round_trip_is_identity(condition in arb_condition(false)) {
            let value = serde_json::to_value(&condition).unwrap();
            let back: Condition = serde_json::from_value(value.clone()).unwrap();
            prop_assert_eq!(&back, &condition);
        }

        #[test]
        fn text_round_trip_is_identity(condition in arb_condition(true)) {
            let text = serde_json::to_string(&condition).unwrap();
            let back: Condition = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&text))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            prop_assert_eq!(&back, &condition);
        }

        #[test]
        fn operand_text_round_trip(operand in arb_operand()) {
            prop_assert_eq!(operand.to_string().parse::<Operand>().unwrap(), operand);
        }
    }
}
