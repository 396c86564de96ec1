//! A condition and the scope it is evaluated in, as one JSON document:
//! `{"condition": …, "contact": {"id", "attributes", "tags"}, "trigger": event,
//! "event": event, "now": time, "data": {…}, "history": [event, …]}` where an event is
//! `{"name", "properties", "timestamp"}`. Everything but `condition` is read leniently.
//!
//! Reading may fail (with a message), checking may report problems; evaluating never
//! fails, and the documented rules hold: `ne` is `not eq`, `not_in` is `not in`, and the
//! traced evaluation agrees with the plain one.
#![no_main]

use kairos_engine::condition::{Condition, Op, Scope};
use kairos_engine::history::{Events, event_names, is_time_relative};
use kairos_fuzz::{contact, default_now, event, run_data, time};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else { return };
    let Some(written) = input.get("condition") else { return };

    // As validation reads it (from the document's value, with the path of an error) and
    // as the text of a segment file is read: both agree.
    let read: Result<Condition, _> = serde_path_to_error::deserialize(written.clone());
    let from_text = serde_json::from_str::<Condition>(&written.to_string());
    let condition = match (read, from_text) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "reading from a value and from text disagree");
            a
        }
        (Err(e), Err(_)) => {
            assert!(!e.to_string().is_empty());
            return;
        }
        (a, b) => panic!("reading from a value and from text disagree: {:?} / {:?}", a.err(), b.err()),
    };

    // It writes back as the same condition.
    let written_back = serde_json::to_value(&condition).expect("a condition serializes");
    let reread: Condition = serde_json::from_value(written_back.clone())
        .unwrap_or_else(|e| panic!("{written_back} does not read back: {e}"));
    assert_eq!(reread, condition, "the condition does not round-trip through {written_back}");

    // The static checks, for journeys and for segments.
    let _ = condition.check("/condition");
    let _ = condition.check_audience("/condition");
    let _ = condition.uses_now();
    let _ = event_names(&condition);
    let _ = is_time_relative(&condition);

    let now = time(input.get("now"), default_now());
    let contact = contact(input.get("contact").unwrap_or(&Value::Null));
    let trigger = input.get("trigger").map(|e| event(e, now));
    let current = input.get("event").map(|e| event(e, now));
    let saved = run_data(&input);
    let history: Option<Events> =
        input.get("history").and_then(Value::as_array).map(|list| list.iter().map(|e| event(e, now)).collect());
    let scope = Scope {
        contact: &contact,
        trigger: trigger.as_ref(),
        event: current.as_ref(),
        now,
        data: saved.as_ref(),
        history: history.as_ref().map(|h| h as &dyn kairos_engine::history::History),
    };

    let result = condition.evaluate(&scope);
    let mut trace = Vec::new();
    assert_eq!(condition.evaluate_traced(&scope, &mut trace), result, "the traced evaluation disagrees");
    assert_eq!(Condition::Not(Box::new(condition.clone())).evaluate(&scope), !result);

    // The documented complements, for a comparison.
    if let Condition::Compare(comparison) = &condition {
        let with = |op: Op| {
            let mut c = comparison.clone();
            c.op = op;
            Condition::Compare(c).evaluate(&scope)
        };
        for (op, complement) in [(Op::Eq, Op::Ne), (Op::In, Op::NotIn), (Op::Exists, Op::NotExists)] {
            assert_eq!(with(op), !with(complement), "`{complement}` is not `not {op}`");
        }
    }
});
