//! `wait_for_event`: wait until the contact performs an event, or time out.

use crate::condition::Condition;
use crate::nodes::Build;
use crate::problem::Kind;
use crate::time::parse_duration;
use chrono::TimeDelta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Wait until the contact performs `event` (with `conditions`), at most `timeout`.
/// The awaited event becomes `event` for later nodes (`event.properties.order_id`).
///
/// ```json
/// { "id": "wait_for_order", "type": "wait_for_event", "event": "order_completed",
///   "conditions": { "left": "event.properties.cart_id", "op": "eq", "right": { "ref": "trigger.properties.cart_id" } },
///   "timeout": "1h", "received": "exit_ordered", "timed_out": "send_reminder" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitForEvent {
    /// Stable, human-readable node id.
    pub id: String,
    /// The event name to wait for.
    pub event: String,
    /// Conditions the event must meet; `event.*` is the candidate event, `trigger.*` the one that started the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Condition>,
    /// How long to wait before giving up (`1h`, `3d`, `PT30M`); more than zero.
    pub timeout: String,
    /// Port: the node to continue with when the event arrives in time.
    pub received: String,
    /// Port: the node to continue with when the timeout passes first.
    pub timed_out: String,
}

/// Runtime form.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub timeout: TimeDelta,
}

impl WaitForEvent {
    pub fn build(&self, cx: &mut Build) -> Option<Compiled> {
        if self.event.trim().is_empty() {
            cx.error(Kind::InvalidValue, "event", "the event name is empty; name the event to wait for");
        }
        if let Some(c) = &self.conditions {
            for p in c.check(&cx.at("conditions")) {
                cx.push(p);
            }
        }
        match parse_duration(&self.timeout) {
            Ok(d) if d > TimeDelta::zero() => Some(Compiled { timeout: d }),
            Ok(_) => {
                cx.error(Kind::InvalidDuration, "timeout", "the timeout must be longer than zero");
                None
            }
            Err(e) => {
                cx.error(Kind::InvalidDuration, "timeout", e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_is_valid() {
        let w: WaitForEvent = serde_json::from_str(
            r#"{ "id": "wait_for_order", "event": "order_completed",
                 "conditions": { "left": "event.properties.cart_id", "op": "eq", "right": { "ref": "trigger.properties.cart_id" } },
                 "timeout": "1h", "received": "exit_ordered", "timed_out": "send_reminder" }"#,
        )
        .unwrap();
        let mut problems = vec![];
        let c = w.build(&mut Build::new("/nodes/0", Some(w.id.clone()), &mut problems)).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.timeout, TimeDelta::hours(1));
    }

    #[test]
    fn zero_timeout_is_refused() {
        let w = WaitForEvent {
            id: "w".into(),
            event: "e".into(),
            conditions: None,
            timeout: "0s".into(),
            received: "a".into(),
            timed_out: "b".into(),
        };
        let mut problems = vec![];
        assert!(w.build(&mut Build::new("/nodes/2", Some("w".into()), &mut problems)).is_none());
        assert_eq!(problems[0].pointer, "/nodes/2/timeout");
    }
}
