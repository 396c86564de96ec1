//! The journey file: one JSON document per journey (`workflows/*.json`).
//!
//! These types are the single source of truth for the format: `workflows/schema.json`
//! is generated from them (`kairos schema`), and their doc comments are its descriptions.

use crate::condition::Condition;
use crate::nodes::Node;
use crate::nodes::trigger::Trigger;
use crate::pressure::{CapsOverride, QuietHoursOverride};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The `$schema` value the examples use, relative to `workflows/`.
pub const SCHEMA_REF: &str = "./schema.json";

/// A journey: who enters (`trigger`), what happens (`nodes`), the rules of the run
/// (`settings`) and where the editor draws each box (`layout`, kept apart from the logic so
/// moving a box is a separate diff from changing behaviour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Path or URL of the JSON Schema, for editor autocompletion.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Stable slug identifying the journey (lowercase letters, digits, `-`, `_`), e.g. `abandoned-cart`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the journey is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// How contacts enter.
    pub trigger: Trigger,
    /// Re-entry, exit and goal rules, default time zone.
    #[serde(default)]
    pub settings: Settings,
    /// The steps. Order is free; connections are made by the ports.
    pub nodes: Vec<Node>,
    /// Editor positions by node id (`trigger` for the trigger). No effect on behaviour.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layout: BTreeMap<String, Position>,
}

/// Journey-wide rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Whether and when a contact may enter again.
    #[serde(default)]
    pub reentry: Reentry,
    /// Events that end a run wherever it is (a purchase ends the abandoned-cart journey).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_when: Vec<EventMatch>,
    /// What counts as converted; checked on every event (and, for a condition, after every step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    /// Time zone for local-time waits (and the journey's own quiet hours) when the contact
    /// has no valid `timezone` attribute.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Quiet hours for this journey's marketing messages: `inherit` the workspace's
    /// (default), `off`, or a window of its own such as
    /// `{"start": "21:00", "end": "08:00", "behaviour": "wait"}` (`behaviour`: `wait` for
    /// the end of the window, the default, or `skip` the message). Transactional sends
    /// ignore quiet hours.
    #[serde(default, skip_serializing_if = "QuietHoursOverride::is_inherit")]
    pub quiet_hours: QuietHoursOverride,
    /// Whether the workspace's frequency caps hold back this journey's marketing messages:
    /// `apply` (default) or `ignore`. Its messages count towards the caps either way.
    #[serde(default, skip_serializing_if = "CapsOverride::is_apply")]
    pub frequency_caps: CapsOverride,
}

fn default_timezone() -> String {
    "UTC".into()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reentry: Reentry::default(),
            exit_when: vec![],
            goal: None,
            timezone: default_timezone(),
            quiet_hours: QuietHoursOverride::default(),
            frequency_caps: CapsOverride::default(),
        }
    }
}

/// Re-entry rule. With a trigger `correlation_key`, it applies per key value (per cart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reentry {
    /// A contact enters at most once, ever.
    #[default]
    Once,
    /// A contact may enter again once their previous run has ended.
    AfterExit,
    /// A contact may enter every time the trigger fires, even while a run is active.
    /// With a correlation key there is still at most one active run per key value.
    Always,
}

/// An event (with optional conditions) that a rule listens for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventMatch {
    /// Event name.
    pub event: String,
    /// Conditions on the event (`event.*`), the trigger event (`trigger.*`) and the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Condition>,
}

/// The journey's goal (conversion). A run is converted when it reaches the goal while it
/// is still going (a run that has ended no longer listens, so a later goal event or
/// condition does not convert it), and, with `within`, inside the conversion window counted
/// from its entry. Conversion is recorded once per run (`converted_at`, a `converted` entry
/// on its timeline) and is what `GET /v1/workflows/{id}/stats` counts per version and per
/// split variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Goal {
    /// Converted when the contact performs an event.
    Event {
        /// Event name.
        event: String,
        /// Conditions on the event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conditions: Option<Condition>,
        /// End the run when the goal is reached (only when it counts: inside `within`).
        #[serde(default, skip_serializing_if = "is_false")]
        exit: bool,
        /// The conversion window: the goal counts only when reached at most this long
        /// after the run's entry (`7d`, `48h`, `2 weeks`, ISO 8601 `P7D`; more than zero).
        /// A later goal event is not counted and does not end the run (its other effects,
        /// such as a `wait_for_event` for the same event, still happen). Without it, the
        /// goal counts whenever the run reaches it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within: Option<String>,
    },
    /// Converted when a condition on the contact holds (e.g. `contact.lifecycle_stage eq customer`).
    Condition {
        /// The condition.
        condition: Condition,
        /// End the run when the goal is reached (only when it counts: inside `within`).
        #[serde(default, skip_serializing_if = "is_false")]
        exit: bool,
        /// The conversion window: the goal counts only when a step at most this long after
        /// the run's entry finds the condition true (`7d`, `48h`, `2 weeks`, ISO 8601 `P7D`;
        /// more than zero). Without it, whenever a step finds it true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within: Option<String>,
    },
}

impl Goal {
    pub fn exits(&self) -> bool {
        match self {
            Goal::Event { exit, .. } | Goal::Condition { exit, .. } => *exit,
        }
    }

    /// The conversion window as written (`settings.goal.within`), if any. Validation parses
    /// it ([`crate::Journey::goal_window`]).
    pub fn within(&self) -> Option<&str> {
        match self {
            Goal::Event { within, .. } | Goal::Condition { within, .. } => within.as_deref(),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A box's position on the canvas, in whole pixels (fractions are rounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    #[serde(deserialize_with = "rounded")]
    #[schemars(with = "f64")]
    pub x: i64,
    #[serde(deserialize_with = "rounded")]
    #[schemars(with = "f64")]
    pub y: i64,
}

fn rounded<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let f = f64::deserialize(d)?;
    if !f.is_finite() || f.abs() > 1e12 {
        return Err(serde::de::Error::custom(format!("{f} is not a usable position")));
    }
    Ok(f.round() as i64)
}

impl Workflow {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id() == id)
    }

    /// The canonical bytes of this journey: keys in the format's order, two-space
    /// indentation, a trailing newline. `kairos fmt` and the API's export write this.
    pub fn to_canonical(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("a workflow always serializes");
        out.push('\n');
        out
    }
}
