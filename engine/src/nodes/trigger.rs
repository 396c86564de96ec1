//! The trigger: how a contact enters the journey. In the editor it is the first box
//! (its layout key is `trigger`); in the file it is the top-level `trigger` object.

use crate::condition::{Condition, Scope};
use crate::contact::{Contact, Event};
use crate::nodes::Build;
use crate::problem::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Trigger types that are planned but not built yet; the validator names them so
/// that a file using one gets "not supported yet" rather than "unknown".
pub const PLANNED: &[&str] = &["segment_entered", "segment_exited", "schedule", "date_property", "attribute_changed"];

/// How contacts enter the journey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A contact performs an event (`track`), optionally with property conditions.
    Event(EventTrigger),
    /// Runs are started explicitly through the API (`POST /v1/workflows/{id}/runs`);
    /// the data passed becomes `trigger.properties`.
    Api(ApiTrigger),
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
    /// The journey is started through the API only.
    ApiOnly,
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
        }
    }

    pub fn build(&self, cx: &mut Build) {
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
        let Trigger::Event(t) = self else { return Err(NoMatch::ApiOnly) };
        if event.name != t.event {
            return Err(NoMatch::OtherEvent);
        }
        if let Some(c) = &t.conditions {
            let scope = Scope { contact, trigger: Some(event), event: Some(event), now: event.timestamp, data: None };
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
        assert_eq!(api.matches(&e, &contact), Err(NoMatch::ApiOnly));
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
}
