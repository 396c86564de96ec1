//! The step function, node by node, and the rules checked on every event.

use chrono::{DateTime, TimeDelta, Utc};
use kairos_engine::Journey;
use kairos_engine::consent::{Channel, Links, Unsubscribe};
use kairos_engine::contact::{Contact, Event};
use kairos_engine::nodes::send::Rendered;
use kairos_engine::run::{Effect, ExitReason, Input, NewRun, Outcome, Run, Status, Wait, What};
use kairos_engine::step::step;
use kairos_engine::time::parse_timestamp;
use kairos_engine::validate::validate_value;
use serde_json::{Value, json};

fn t0() -> DateTime<Utc> {
    parse_timestamp("2026-03-02T10:00:00Z").unwrap()
}

/// A journey from `nodes` with an `api` trigger to `first`, plus `settings`.
fn journey(first: &str, nodes: Value, settings: Value) -> Journey {
    let doc = json!({ "id": "j", "name": "J", "trigger": { "type": "api", "next": first }, "settings": settings, "nodes": nodes });
    validate_value(doc).unwrap_or_else(|p| panic!("test journey invalid: {p:#?}"))
}

fn contact() -> Contact {
    let mut c = Contact::new("c1");
    c.attributes.insert("email".into(), json!("ann@example.com"));
    c.attributes.insert("first_name".into(), json!("Ann"));
    c
}

fn new_run(j: &Journey, props: Value) -> Run {
    let mut trigger = Event::new("api", t0());
    if let Value::Object(m) = props {
        trigger.properties = m;
    }
    Run::new(
        j.id(),
        NewRun { id: "r1".into(), version: 1, contact: "c1".into(), entry: 1, correlation: None, trigger },
        t0(),
    )
}

fn start(j: &Journey, c: &Contact) -> Outcome {
    step(j, &new_run(j, json!({})), c, Input::Start, t0())
}

fn entered(o: &Outcome) -> Vec<String> {
    o.history.iter().filter(|e| matches!(e.what, What::NodeEntered { .. })).filter_map(|e| e.node.clone()).collect()
}

#[test]
fn delay_waits_then_continues_and_early_timers_do_nothing() {
    let j = journey(
        "wait",
        json!([{ "id": "wait", "type": "delay", "duration": "30d", "next": "done" }, { "id": "done", "type": "exit" }]),
        json!({}),
    );
    let o = start(&j, &contact());
    assert_eq!(o.run.status, Status::Waiting);
    assert_eq!(o.run.wake_at(), Some(t0() + TimeDelta::days(30)));
    let early = step(&j, &o.run, &o.contact, Input::Timer, t0() + TimeDelta::days(29));
    assert!(early.is_noop());
    assert_eq!(early.run, o.run);
    let due = step(&j, &o.run, &o.contact, Input::Timer, t0() + TimeDelta::days(30));
    assert_eq!(due.run.status, Status::Completed);
    assert_eq!(due.run.node.as_deref(), Some("done"));
    assert_eq!(due.run.ended_at, Some(t0() + TimeDelta::days(30)));
}

fn cart_journey() -> Journey {
    journey(
        "wait_order",
        json!([
            { "id": "wait_order", "type": "wait_for_event", "event": "order_completed",
              "conditions": { "left": "event.properties.cart_id", "op": "eq", "right": { "ref": "trigger.properties.cart_id" } },
              "timeout": "1h", "received": "thanks", "timed_out": "remind" },
            { "id": "thanks", "type": "send", "message": { "channel": "email", "subject": "Order {{event.properties.order_id}}", "body": "Thanks" }, "next": "done" },
            { "id": "remind", "type": "send", "message": { "channel": "email", "subject": "Cart {{trigger.properties.cart_id}}", "body": "Come back" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]),
        json!({}),
    )
}

#[test]
fn wait_for_event_matches_by_condition_and_exposes_the_event() {
    let j = cart_journey();
    let c = contact();
    let o = step(&j, &new_run(&j, json!({ "cart_id": "k1" })), &c, Input::Start, t0());
    assert!(
        matches!(&o.run.wait, Some(Wait::Event { event, timeout_at }) if event == "order_completed" && *timeout_at == t0() + TimeDelta::hours(1))
    );

    let other_cart = Event::new("order_completed", t0()).with_property("cart_id", "k2");
    assert!(step(&j, &o.run, &o.contact, Input::Event(&other_cart), t0() + TimeDelta::minutes(5)).is_noop());

    let order = Event::new("order_completed", t0()).with_property("cart_id", "k1").with_property("order_id", "o-9");
    let got = step(&j, &o.run, &o.contact, Input::Event(&order), t0() + TimeDelta::minutes(10));
    assert_eq!(entered(&got), ["thanks", "done"]);
    assert_eq!(got.run.event.as_ref().map(|e| e.name.as_str()), Some("order_completed"));
    let Effect::Send { message: Rendered::Email { subject, .. }, .. } = &got.effects[0] else {
        panic!("{:?}", got.effects)
    };
    assert_eq!(subject, "Order o-9");
}

#[test]
fn wait_for_event_times_out() {
    let j = cart_journey();
    let o = step(&j, &new_run(&j, json!({ "cart_id": "k1" })), &contact(), Input::Start, t0());
    let late = step(&j, &o.run, &o.contact, Input::Timer, t0() + TimeDelta::hours(1));
    assert!(late.history.iter().any(|e| matches!(&e.what, What::TimedOut { event } if event == "order_completed")));
    assert_eq!(entered(&late), ["remind", "done"]);
    let Effect::Send { message: Rendered::Email { subject, .. }, .. } = &late.effects[0] else { panic!() };
    assert_eq!(subject, "Cart k1");
    // After the timeout, the order no longer matters to this run.
    let order = Event::new("order_completed", t0()).with_property("cart_id", "k1");
    assert!(step(&j, &late.run, &late.contact, Input::Event(&order), t0() + TimeDelta::hours(2)).is_noop());
}

#[test]
fn branch_takes_the_first_rule_that_holds_and_records_values() {
    let j = journey(
        "score",
        json!([
            { "id": "score", "type": "branch", "rules": [
                { "name": "promoter", "condition": { "left": "trigger.properties.score", "op": "gte", "right": 9 }, "next": "p" },
                { "name": "detractor", "condition": { "left": "trigger.properties.score", "op": "lte", "right": 6 }, "next": "d" } ],
              "else": "n" },
            { "id": "p", "type": "exit" }, { "id": "d", "type": "exit" }, { "id": "n", "type": "exit" }
        ]),
        json!({}),
    );
    for (score, end, port) in [(10, "p", "promoter"), (3, "d", "detractor"), (7, "n", "else")] {
        let o = step(&j, &new_run(&j, json!({ "score": score })), &contact(), Input::Start, t0());
        assert_eq!(o.run.node.as_deref(), Some(end), "score {score}");
        let decision = o.history.iter().find_map(|e| match &e.what {
            What::Decision { port, compared } => Some((port.clone(), compared.clone())),
            _ => None,
        });
        let (taken, compared) = decision.unwrap();
        assert_eq!(taken, port);
        assert_eq!(compared[0].left_value, Some(json!(score)), "the compared value is recorded");
    }
}

#[test]
fn split_records_the_variant_and_is_deterministic() {
    let j = journey(
        "ab",
        json!([
            { "id": "ab", "type": "split", "variants": [ { "name": "a", "weight": 50, "next": "x" }, { "name": "b", "weight": 40, "next": "x" } ],
              "holdout": { "weight": 10, "next": "x" } },
            { "id": "x", "type": "exit" }
        ]),
        json!({}),
    );
    let first = start(&j, &contact());
    let again = start(&j, &contact());
    assert_eq!(first, again);
    assert!(first.history.iter().any(
        |e| matches!(&e.what, What::Variant { variant, .. } if ["a", "b", "holdout"].contains(&variant.as_str()))
    ));
}

#[test]
fn send_has_a_deterministic_key_and_skips_contacts_without_an_address() {
    let j = journey(
        "hello",
        json!([
            { "id": "hello", "type": "send", "message": { "channel": "email", "subject": "Hi {{contact.first_name}}", "body": "<b>{{journey.name}}</b>" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]),
        json!({}),
    );
    let o = start(&j, &contact());
    let Effect::Send { key, node, message, transactional: false, topic: None, .. } = &o.effects[0] else { panic!() };
    assert_eq!((key.as_str(), node.as_str()), ("r1:hello:1", "hello"));
    // A marketing email carries its unsubscribe link (offline here: no server signed it).
    let link = j.links().unsubscribe_url(&Unsubscribe { contact: "c1".into(), channel: Channel::Email, topic: None });
    assert!(link.starts_with("https://kairos.invalid/unsubscribe/"), "{link}");
    assert_eq!(
        message,
        &Rendered::Email {
            to: "ann@example.com".into(),
            subject: "Hi Ann".into(),
            body: "<b>J</b>".into(),
            from: None,
            reply_to: None,
            text: None,
            headers: Default::default(),
            unsubscribe_url: Some(link),
        }
    );

    let no_email = Contact::new("c2");
    let o = start(&j, &no_email);
    assert!(o.effects.is_empty());
    assert!(o.history.iter().any(|e| matches!(&e.what, What::SendSkipped { reason } if reason.contains("email"))));
    assert_eq!(o.run.status, Status::Completed, "a skipped send does not stop the run");
}

#[test]
fn update_contact_changes_what_later_nodes_see() {
    let j = journey(
        "score",
        json!([
            { "id": "score", "type": "update_contact", "updates": [ { "op": "increment", "attribute": "lead_score", "by": 20 }, { "op": "add_tag", "tag": "hot" } ], "next": "check" },
            { "id": "check", "type": "branch", "rules": [ { "name": "sales_ready", "condition": { "left": "contact.lead_score", "op": "gte", "right": 50 }, "next": "ready" } ], "else": "later" },
            { "id": "ready", "type": "exit" }, { "id": "later", "type": "exit" }
        ]),
        json!({}),
    );
    let mut c = contact();
    c.attributes.insert("lead_score".into(), json!(35));
    let o = start(&j, &c);
    assert_eq!(o.contact.attributes["lead_score"], json!(55));
    assert!(o.contact.tags.contains("hot"));
    assert_eq!(o.run.node.as_deref(), Some("ready"));
    assert!(matches!(&o.effects[0], Effect::UpdateContact { node, changes } if node == "score" && changes.len() == 2));
}

#[test]
fn wait_until_a_timestamp() {
    let j = journey(
        "launch",
        json!([
            { "id": "launch", "type": "wait_until", "until": { "type": "timestamp", "at": "2026-03-05T09:00:00Z" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]),
        json!({}),
    );
    let o = start(&j, &contact());
    assert_eq!(o.run.wake_at(), parse_timestamp("2026-03-05T09:00:00Z"));
    let later =
        step(&j, &new_run(&j, json!({})), &contact(), Input::Start, parse_timestamp("2026-04-01T00:00:00Z").unwrap());
    assert_eq!(later.run.status, Status::Completed, "a time already past does not wait");
    assert!(later.history.iter().any(|e| matches!(e.what, What::NoWait { .. })));
}

fn journey_with_rules(settings: Value) -> Journey {
    journey(
        "wait",
        json!([
            { "id": "wait", "type": "delay", "duration": "7d", "next": "mail" },
            { "id": "mail", "type": "send", "message": { "channel": "email", "subject": "s", "body": "b" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]),
        settings,
    )
}

#[test]
fn exit_when_ends_a_run_wherever_it_is() {
    let j = journey_with_rules(
        json!({ "exit_when": [ { "event": "purchase", "conditions": { "left": "event.properties.amount", "op": "gt", "right": 0 } } ] }),
    );
    let o = start(&j, &contact());
    let refund = Event::new("purchase", t0()).with_property("amount", 0);
    assert!(step(&j, &o.run, &o.contact, Input::Event(&refund), t0()).is_noop());
    let purchase = Event::new("purchase", t0()).with_property("amount", 30);
    let ended = step(&j, &o.run, &o.contact, Input::Event(&purchase), t0() + TimeDelta::days(1));
    assert_eq!(ended.run.status, Status::Exited);
    assert!(
        ended
            .history
            .iter()
            .any(|e| matches!(&e.what, What::Exited { reason: ExitReason::ExitWhen { event } } if event == "purchase"))
    );
    assert_eq!(ended.run.wait, None);
    // An ended run ignores everything, including its old timer.
    assert!(step(&j, &ended.run, &ended.contact, Input::Timer, t0() + TimeDelta::days(8)).is_noop());
}

#[test]
fn an_event_goal_converts_and_optionally_exits() {
    let j = journey_with_rules(json!({ "goal": { "type": "event", "event": "purchase" } }));
    let o = start(&j, &contact());
    let purchase = Event::new("purchase", t0());
    let converted = step(&j, &o.run, &o.contact, Input::Event(&purchase), t0() + TimeDelta::days(2));
    assert_eq!(converted.run.converted_at, Some(t0() + TimeDelta::days(2)));
    assert_eq!(converted.run.status, Status::Waiting, "without `exit` the run goes on");
    let twice = step(&j, &converted.run, &converted.contact, Input::Event(&purchase), t0() + TimeDelta::days(3));
    assert!(twice.is_noop(), "a goal is recorded once");

    let j = journey_with_rules(json!({ "goal": { "type": "event", "event": "purchase", "exit": true } }));
    let o = start(&j, &contact());
    let exited = step(&j, &o.run, &o.contact, Input::Event(&purchase), t0());
    assert_eq!(exited.run.status, Status::Exited);
    assert!(exited.history.iter().any(|e| matches!(e.what, What::Exited { reason: ExitReason::Goal })));
}

#[test]
fn a_condition_goal_is_checked_after_every_step() {
    let j = journey(
        "tag",
        json!([
            { "id": "tag", "type": "update_contact", "updates": [ { "op": "set_lifecycle_stage", "stage": "customer" } ], "next": "wait" },
            { "id": "wait", "type": "delay", "duration": "1d", "next": "done" },
            { "id": "done", "type": "exit" }
        ]),
        json!({ "goal": { "type": "condition", "condition": { "left": "contact.lifecycle_stage", "op": "eq", "right": "customer" }, "exit": true } }),
    );
    let o = start(&j, &contact());
    assert_eq!(o.run.converted_at, Some(t0()));
    assert_eq!(o.run.status, Status::Exited);
}

#[test]
fn an_event_goal_counts_only_inside_its_window_from_entry() {
    let purchase = Event::new("purchase", t0());
    let j = journey_with_rules(json!({ "goal": { "type": "event", "event": "purchase", "within": "3d" } }));
    assert_eq!(j.goal_window(), Some(TimeDelta::days(3)));
    let o = start(&j, &contact());

    let inside = step(&j, &o.run, &o.contact, Input::Event(&purchase), t0() + TimeDelta::days(2));
    assert_eq!(inside.run.converted_at, Some(t0() + TimeDelta::days(2)));
    assert!(inside.history.iter().any(|e| matches!(e.what, What::Converted { .. })));

    let last_instant = step(&j, &o.run, &o.contact, Input::Event(&purchase), t0() + TimeDelta::days(3));
    assert_eq!(last_instant.run.converted_at, Some(t0() + TimeDelta::days(3)), "the window's end is inside");

    let late = t0() + TimeDelta::days(3) + TimeDelta::seconds(1);
    let outside = step(&j, &o.run, &o.contact, Input::Event(&purchase), late);
    assert_eq!(outside.run.converted_at, None);
    assert!(outside.is_noop(), "a goal after the window leaves no trace: {:?}", outside.history);
    assert_eq!(outside.run.status, Status::Waiting);
}

#[test]
fn a_goal_with_exit_ends_the_run_only_inside_its_window() {
    let purchase = Event::new("purchase", t0());
    let j =
        journey_with_rules(json!({ "goal": { "type": "event", "event": "purchase", "exit": true, "within": "48h" } }));
    let o = start(&j, &contact());

    let inside = step(&j, &o.run, &o.contact, Input::Event(&purchase), t0() + TimeDelta::hours(47));
    assert_eq!(inside.run.status, Status::Exited);
    assert!(inside.history.iter().any(|e| matches!(e.what, What::Exited { reason: ExitReason::Goal })));

    let outside = step(&j, &o.run, &o.contact, Input::Event(&purchase), t0() + TimeDelta::hours(49));
    assert_eq!(outside.run.status, Status::Waiting, "a goal outside the window does not end the run");
    assert_eq!(outside.run.converted_at, None);
    // The run goes on as if nothing happened: the delay ends and the email is sent.
    let done = step(&j, &outside.run, &outside.contact, Input::Timer, t0() + TimeDelta::days(7));
    assert_eq!(done.run.status, Status::Completed);
    assert_eq!(done.effects.len(), 1);
    assert_eq!(done.run.converted_at, None);
}

#[test]
fn a_goal_event_outside_the_window_still_moves_a_wait_for_that_event() {
    let j = journey(
        "wait",
        json!([
            { "id": "wait", "type": "wait_for_event", "event": "purchase", "timeout": "30d", "received": "bought", "timed_out": "gave_up" },
            { "id": "bought", "type": "exit" },
            { "id": "gave_up", "type": "exit" }
        ]),
        json!({ "goal": { "type": "event", "event": "purchase", "within": "7d" } }),
    );
    let o = start(&j, &contact());
    let purchase = Event::new("purchase", t0());
    let late = step(&j, &o.run, &o.contact, Input::Event(&purchase), t0() + TimeDelta::days(10));
    assert_eq!(entered(&late), ["bought"]);
    assert_eq!(late.run.status, Status::Completed);
    assert_eq!(late.run.converted_at, None, "reached, but after the window");
}

#[test]
fn a_condition_goal_counts_only_when_a_step_inside_the_window_finds_it() {
    let build = |within: &str| {
        journey(
            "wait",
            json!([
                { "id": "wait", "type": "delay", "duration": "2d", "next": "tag" },
                { "id": "tag", "type": "update_contact", "updates": [ { "op": "set_lifecycle_stage", "stage": "customer" } ], "next": "done" },
                { "id": "done", "type": "exit" }
            ]),
            json!({ "goal": { "type": "condition", "condition": { "left": "contact.lifecycle_stage", "op": "eq", "right": "customer" }, "within": within } }),
        )
    };
    for (within, converted) in [("3d", true), ("1d", false)] {
        let j = build(within);
        let o = start(&j, &contact());
        assert_eq!(o.run.converted_at, None);
        let after = step(&j, &o.run, &o.contact, Input::Timer, t0() + TimeDelta::days(2));
        assert_eq!(after.contact.attributes.get("lifecycle_stage"), Some(&json!("customer")));
        assert_eq!(after.run.converted_at.is_some(), converted, "within {within}");
    }
}

#[test]
fn an_unreadable_or_empty_window_is_refused_at_its_pointer() {
    for within in ["soon", "0s", "-1d", "P1M", ""] {
        let doc = json!({ "id": "j", "name": "J", "trigger": { "type": "api", "next": "done" },
                          "settings": { "goal": { "type": "event", "event": "purchase", "within": within } },
                          "nodes": [ { "id": "done", "type": "exit" } ] });
        let problems = validate_value(doc).expect_err(within);
        assert_eq!(problems.len(), 1, "{within}: {problems:?}");
        assert_eq!(problems[0].pointer, "/settings/goal/within", "{within}");
        assert_eq!(problems[0].code, kairos_engine::problem::Kind::InvalidDuration, "{within}");
        assert!(problems[0].message.contains("conversion window"), "{within}: {}", problems[0].message);
    }
    let doc = json!({ "id": "j", "name": "J", "trigger": { "type": "api", "next": "done" },
                      "settings": { "goal": { "type": "condition", "condition": { "left": "contact.plan", "op": "exists" }, "within": "2 weeks" } },
                      "nodes": [ { "id": "done", "type": "exit" } ] });
    assert_eq!(validate_value(doc).unwrap().goal_window(), Some(TimeDelta::days(14)));
}

#[test]
fn loops_with_a_wait_send_once_per_visit() {
    let j = journey(
        "ping",
        json!([
            { "id": "ping", "type": "send", "message": { "channel": "email", "subject": "s", "body": "b" }, "next": "pause" },
            { "id": "pause", "type": "delay", "duration": "1d", "next": "ping" }
        ]),
        json!({}),
    );
    let mut o = start(&j, &contact());
    let mut keys = vec![];
    for day in 1..=3 {
        keys.extend(o.effects.iter().map(|e| match e {
            Effect::Send { key, .. } => key.clone(),
            _ => unreachable!(),
        }));
        o = step(&j, &o.run, &o.contact, Input::Timer, t0() + TimeDelta::days(day));
    }
    assert_eq!(keys, ["r1:ping:1", "r1:ping:2", "r1:ping:3"]);
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    fn examples() -> Vec<Journey> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../workflows");
        let mut out = vec![];
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if name.ends_with(".json") && !name.ends_with(".test.json") && !name.ends_with("schema.json") {
                let library =
                    kairos_engine::library::read_folder(&std::path::Path::new(dir).join("templates")).unwrap().library;
                out.push(
                    kairos_engine::validate::validate_in(&std::fs::read_to_string(&path).unwrap(), &library).unwrap(),
                );
            }
        }
        assert!(!out.is_empty());
        out
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "[a-z0-9:-]{0,12}".prop_map(Value::from),
            Just(json!("2026-03-08T02:30:00Z")),
            Just(json!(["a", 1])),
        ]
    }

    /// An event (name and properties) or, when `None`, a timer; and seconds to advance.
    type AnyInput = (Option<(String, Vec<(String, Value)>)>, i64);

    fn any_input() -> impl Strategy<Value = AnyInput> {
        let names = prop_oneof![
            Just("order_completed".to_string()),
            Just("purchase".to_string()),
            Just("cart_updated".to_string()),
            Just("email_opened".to_string()),
            Just("nps_submitted".to_string()),
            "[a-z_]{1,10}",
        ];
        let keys = prop_oneof![
            Just("cart_id".to_string()),
            Just("score".to_string()),
            Just("amount".to_string()),
            "[a-z_]{1,8}"
        ];
        let event = (names, prop::collection::vec((keys, any_value()), 0..4));
        (prop::option::of(event), -100_000i64..40_000_000)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
        #[test]
        fn no_input_sequence_panics_and_states_stay_consistent(
            attrs in prop::collection::vec(("[a-z_]{1,8}", any_value()), 0..5),
            trigger_props in prop::collection::vec((prop_oneof![Just("cart_id".to_string()), Just("item_count".to_string()), "[a-z]{1,6}"], any_value()), 0..4),
            inputs in prop::collection::vec(any_input(), 0..25),
        ) {
            for j in examples() {
                let mut c = Contact::new("c1");
                c.attributes.extend(attrs.iter().cloned());
                let mut trigger = Event::new("trigger", t0());
                trigger.properties.extend(trigger_props.iter().cloned());
                let run = Run::new(j.id(), NewRun { id: "r".into(), version: 1, contact: "c1".into(), entry: 1, correlation: None, trigger }, t0());
                let mut o = step(&j, &run, &c, Input::Start, t0());
                let mut now = t0();
                for (event, secs) in &inputs {
                    now += TimeDelta::seconds(secs.abs());
                    o = match event {
                        Some((name, props)) => {
                            let mut e = Event::new(name.clone(), now);
                            e.properties.extend(props.iter().cloned());
                            step(&j, &o.run, &o.contact, Input::Event(&e), now)
                        }
                        None => step(&j, &o.run, &o.contact, Input::Timer, now),
                    };
                    let r = &o.run;
                    prop_assert_eq!(r.status == Status::Waiting, r.wait.is_some(), "{:?}", r);
                    prop_assert_eq!(r.status.is_ended(), r.ended_at.is_some());
                    prop_assert!(r.status != Status::Active, "a stepped run waits or has ended");
                    if event.is_none() && let Some(w) = r.wake_at() {
                        prop_assert!(w > now, "after its timer a run never waits for a time already past: {:?}", r);
                    }
                }
            }
        }
    }
}

// ----- Consent -----

/// Three sends in a row: marketing email, transactional email, marketing SMS about `topic`.
fn consent_journey() -> Journey {
    journey(
        "promo",
        json!([
            { "id": "promo", "type": "send", "message": { "channel": "email", "subject": "Sale", "body": "<a href=\"{{unsubscribe_url}}\">Unsubscribe</a>" }, "next": "receipt" },
            { "id": "receipt", "type": "send", "transactional": true, "message": { "channel": "email", "subject": "Receipt", "body": "Thanks {{unsubscribe_url}}" }, "next": "tips" },
            { "id": "tips", "type": "send", "topic": "tips", "message": { "channel": "sms", "body": "Tip! Stop: {{unsubscribe_url}}" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]),
        json!({}),
    )
}

fn with_subscriptions(subscriptions: Value) -> Contact {
    let mut c = contact();
    c.attributes.insert("phone".into(), json!("+15550100"));
    c.subscriptions = serde_json::from_value(subscriptions).unwrap();
    c
}

fn sent_nodes(o: &Outcome) -> Vec<&str> {
    o.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { node, .. } => Some(node.as_str()),
            _ => None,
        })
        .collect()
}

fn skips(o: &Outcome) -> Vec<(String, String)> {
    o.history
        .iter()
        .filter_map(|e| match &e.what {
            What::SendSkipped { reason } => Some((e.node.clone().unwrap_or_default(), reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_subscribed_contact_gets_every_send() {
    let o = start(&consent_journey(), &with_subscriptions(json!({})));
    assert_eq!(sent_nodes(&o), ["promo", "receipt", "tips"]);
    assert!(skips(&o).is_empty());
}

#[test]
fn marketing_sends_skip_a_contact_unsubscribed_from_the_channel_and_transactional_ones_do_not() {
    let o = start(&consent_journey(), &with_subscriptions(json!({ "channels": { "email": "unsubscribed" } })));
    assert_eq!(sent_nodes(&o), ["receipt", "tips"], "the SMS channel is still subscribed");
    let skipped = skips(&o);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, "promo");
    assert!(skipped[0].1.contains("unsubscribed from email"), "{skipped:?}");
    assert_eq!(o.run.status, Status::Completed, "the run carries on past a skipped send");
}

#[test]
fn a_topic_opt_out_skips_only_that_topics_marketing_sends() {
    let o = start(
        &consent_journey(),
        &with_subscriptions(json!({ "topics": { "tips": "unsubscribed", "other": "subscribed" } })),
    );
    assert_eq!(sent_nodes(&o), ["promo", "receipt"]);
    assert_eq!(skips(&o), [("tips".to_string(), "the contact opted out of the topic `tips`".to_string())]);
}

#[test]
fn a_suppressed_address_gets_no_email_not_even_transactional() {
    let o = start(&consent_journey(), &with_subscriptions(json!({ "email_suppressed": true })));
    assert_eq!(sent_nodes(&o), ["tips"]);
    let skipped = skips(&o);
    assert_eq!(skipped.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["promo", "receipt"]);
    assert!(skipped.iter().all(|s| s.1.contains("suppressed")), "{skipped:?}");
}

#[test]
fn unsubscribe_links_are_signed_per_contact_channel_and_topic() {
    let links = Links::new("https://kairos.example.com", kairos_engine::secrets::Key::generate());
    let j = consent_journey().with_links(links.clone());
    let o = start(&j, &with_subscriptions(json!({})));
    let sends: Vec<(&str, &Rendered, bool, Option<&str>)> = o
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { node, message, transactional, topic, .. } => {
                Some((node.as_str(), message, *transactional, topic.as_deref()))
            }
            _ => None,
        })
        .collect();
    let token_in = |text: &str| {
        let at = text.find("https://kairos.example.com/unsubscribe/").expect("a link") + 39;
        text[at..].split(['"', ' ']).next().unwrap().to_string()
    };
    // The marketing email: the link in the body, and for List-Unsubscribe.
    let (_, Rendered::Email { body, unsubscribe_url, .. }, false, None) = sends[0] else { panic!("{sends:?}") };
    let token = token_in(body);
    assert_eq!(unsubscribe_url.as_deref(), Some(format!("https://kairos.example.com/unsubscribe/{token}").as_str()));
    assert_eq!(
        links.verify_unsubscribe(&token),
        Some(Unsubscribe { contact: "c1".into(), channel: Channel::Email, topic: None })
    );
    // The transactional email renders the link but has no List-Unsubscribe.
    let (_, Rendered::Email { body, unsubscribe_url: None, .. }, true, None) = sends[1] else { panic!("{sends:?}") };
    assert!(links.verify_unsubscribe(&token_in(body)).is_some());
    // The SMS about a topic: its link opts out of that topic.
    let (_, Rendered::Sms { body, .. }, false, Some("tips")) = sends[2] else { panic!("{sends:?}") };
    assert_eq!(
        links.verify_unsubscribe(&token_in(body)),
        Some(Unsubscribe { contact: "c1".into(), channel: Channel::Sms, topic: Some("tips".into()) })
    );
    // Recomputing the step renders the very same messages.
    assert_eq!(start(&j, &with_subscriptions(json!({}))).effects, o.effects);
}

#[test]
fn a_topic_must_be_an_id_on_a_marketing_message_to_the_contact() {
    let doc = |send: Value| {
        json!({ "id": "j", "name": "J", "trigger": { "type": "api", "next": "s" },
                "nodes": [ send, { "id": "done", "type": "exit" } ] })
    };
    let cases = [
        (
            json!({ "id": "s", "type": "send", "topic": "Big News", "message": { "channel": "sms", "body": "x" }, "next": "done" }),
            "not a topic id",
        ),
        (
            json!({ "id": "s", "type": "send", "topic": "news", "message": { "channel": "webhook", "url": "https://x.test" }, "next": "done" }),
            "webhook",
        ),
        (
            json!({ "id": "s", "type": "send", "topic": "news", "transactional": true, "message": { "channel": "sms", "body": "x" }, "next": "done" }),
            "transactional",
        ),
    ];
    for (send, words) in cases {
        let problems = validate_value(doc(send)).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].pointer.as_str(), problems[0].node.as_deref()), ("/nodes/0/topic", Some("s")));
        assert!(problems[0].message.contains(words), "{}", problems[0].message);
    }
}
