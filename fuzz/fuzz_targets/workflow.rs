//! A journey file, as `kairos validate`, `kairos fmt`, the API's publish and the
//! scheduler's rebuild of a published version read it. Any bytes: problems are fine,
//! a panic is a bug. A journey that validates is also built, formatted, validated again
//! from its canonical form and simulated for a day.
#![no_main]

use kairos_engine::simulate::{Scenario, simulate};
use kairos_engine::validate;
use kairos_fuzz::LIBRARY;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    // `kairos fmt`: what parses has a canonical form, and formatting it again changes nothing.
    if let Ok(workflow) = validate::parse(text) {
        let canonical = workflow.to_canonical();
        let again = validate::parse(&canonical).expect("the canonical form of a parsed journey parses");
        assert_eq!(again.to_canonical(), canonical, "formatting is not stable");
    }

    // The API reads the body into a JSON value first; the CLI reads the text.
    let from_value = serde_json::from_str(text).ok().map(|v| validate::validate_value_in(v, &LIBRARY));
    let journey = match validate::validate_in(text, &LIBRARY) {
        Ok(journey) => journey,
        Err(problems) => {
            assert!(!problems.is_empty(), "an invalid journey must say why");
            assert!(from_value.is_none_or(|r| r.is_err()), "the API's path accepts what the CLI's refuses");
            // The scheduler's rebuild of a published version checks less, but never panics.
            let _ = validate::validate_published(text, &LIBRARY);
            return;
        }
    };
    assert!(from_value.is_some_and(|r| r.is_ok()), "the CLI's path accepts what the API's refuses");
    assert!(
        validate::validate_published(text, &LIBRARY).is_ok(),
        "a valid journey cannot be rebuilt as a published version"
    );

    // The runtime journey: every node is there with its runtime form.
    let workflow = journey.workflow();
    for node in &workflow.nodes {
        assert!(journey.node(node.id()).is_some(), "node {} is missing from the runtime journey", node.id());
        assert!(journey.pointer_of(node.id()).is_some());
    }
    let _ = journey.template_pins();

    // Its canonical form is the same journey.
    let canonical = workflow.to_canonical();
    let again = validate::validate_in(&canonical, &LIBRARY)
        .unwrap_or_else(|problems| panic!("the canonical form of a valid journey is invalid: {problems:?}"));
    assert_eq!(again.workflow(), workflow, "the canonical form is another journey");

    // A day of one contact going through it: entered by its trigger event or an API start.
    let trigger = serde_json::to_value(&workflow.trigger).expect("a trigger serializes");
    let mut events = vec![json!({"at": "0s", "api_start": true})];
    if let Some(name) = trigger.get("event").and_then(|e| e.as_str()) {
        events.push(json!({"at": "1s", "name": name, "properties": {"total": 120, "cart_id": "c1"}}));
    }
    let scenario: Scenario = serde_json::from_value(json!({
        "contact": {
            "id": "fuzz",
            "attributes": {"email": "fuzz@example.com", "first_name": "Fay", "plan": "pro", "lead_score": 60},
            "tags": ["vip"]
        },
        "events": events,
        "horizon": "1d"
    }))
    .expect("a valid scenario");
    let _ = simulate(&journey, &scenario, "");
});
