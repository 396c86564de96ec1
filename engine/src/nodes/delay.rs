//! `delay`: wait a fixed duration, then continue.

use crate::nodes::Build;
use crate::problem::Kind;
use crate::time::parse_duration;
use chrono::TimeDelta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Wait a fixed duration, then continue to `next`.
///
/// ```json
/// { "id": "wait_two_days", "type": "delay", "duration": "2d", "next": "send_tips" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Delay {
    /// Stable, human-readable node id (lowercase letters, digits, `_`, `-`).
    pub id: String,
    /// How long to wait: `90s`, `15m`, `2h`, `3d`, `1w`, `1h 30m`, or ISO 8601 `PT2H`. A day is 24 hours.
    pub duration: String,
    /// The node to continue with.
    pub next: String,
}

impl Delay {
    pub fn build(&self, cx: &mut Build) -> Option<TimeDelta> {
        parse_duration(&self.duration).map_err(|e| cx.error(Kind::InvalidDuration, "duration", e)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_is_valid() {
        let d: Delay =
            serde_json::from_str(r#"{ "id": "wait_two_days", "duration": "2d", "next": "send_tips" }"#).unwrap();
        let mut problems = vec![];
        assert_eq!(d.build(&mut Build::new("/nodes/0", Some(d.id.clone()), &mut problems)), Some(TimeDelta::days(2)));
    }

    #[test]
    fn bad_duration_names_the_field() {
        let d = Delay { id: "d".into(), duration: "two days".into(), next: "x".into() };
        let mut problems = vec![];
        assert_eq!(d.build(&mut Build::new("/nodes/1", Some("d".into()), &mut problems)), None);
        assert_eq!(problems[0].pointer, "/nodes/1/duration");
        assert_eq!(problems[0].node.as_deref(), Some("d"));
        assert_eq!(problems[0].code, Kind::InvalidDuration);
    }
}
