//! The send node under quiet hours and frequency caps: a held marketing message waits at
//! its node (same visit, same idempotency key) or is skipped; transactional ones go.

use chrono::{DateTime, TimeDelta, Utc};
use kairos_engine::Journey;
use kairos_engine::contact::{Contact, Event};
use kairos_engine::nodes::send::Channel;
use kairos_engine::pressure::{Context, DeliverySettings, RecentSend, Rules};
use kairos_engine::run::{Effect, Input, NewRun, Outcome, Run, Status, Wait, What};
use kairos_engine::step::{step, step_with};
use kairos_engine::time::parse_timestamp;
use kairos_engine::validate::validate_value;
use serde_json::{Value, json};

fn at(text: &str) -> DateTime<Utc> {
    parse_timestamp(text).unwrap()
}

/// An `api`-triggered journey: `send` (email) then `done`, with `settings`.
fn journey(send: Value, settings: Value) -> Journey {
    let mut node = json!({ "id": "hello", "type": "send",
        "message": { "channel": "email", "subject": "Hi", "body": "Hello" }, "next": "done" });
    node.as_object_mut().unwrap().extend(send.as_object().unwrap().clone());
    let doc = json!({ "id": "j", "name": "J", "trigger": { "type": "api", "next": "hello" }, "settings": settings,
        "nodes": [ node, { "id": "done", "type": "exit" } ] });
    validate_value(doc).unwrap_or_else(|p| panic!("test journey invalid: {p:#?}"))
}

fn contact(tz: Option<&str>) -> Contact {
    let mut c = Contact::new("c1");
    c.attributes.insert("email".into(), json!("ann@example.com"));
    if let Some(tz) = tz {
        c.attributes.insert("timezone".into(), json!(tz));
    }
    c
}

fn new_run(j: &Journey, now: DateTime<Utc>) -> Run {
    let trigger = Event::new("api", now);
    Run::new(
        j.id(),
        NewRun { id: "r1".into(), version: 1, contact: "c1".into(), entry: 1, correlation: None, trigger },
        now,
    )
}

fn rules(settings: Value) -> Rules {
    serde_json::from_value::<DeliverySettings>(settings).unwrap().compile("").unwrap()
}

fn keys(o: &Outcome) -> Vec<String> {
    o.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

fn whats(o: &Outcome) -> Vec<&What> {
    o.history.iter().map(|e| &e.what).collect()
}

#[test]
fn a_marketing_send_in_quiet_hours_waits_at_its_node_and_sends_the_same_visit_in_the_morning() {
    let j =
        journey(json!({}), json!({ "quiet_hours": { "start": "21:00", "end": "08:00" }, "timezone": "Europe/Berlin" }));
    // 22:30 in New York on the evening before the clocks go forward.
    let evening = at("2026-03-08T03:30:00Z");
    let c = contact(Some("America/New_York"));
    let o = step(&j, &new_run(&j, evening), &c, Input::Start, evening);
    let morning = at("2026-03-08T12:00:00Z"); // 08:00 EDT
    assert_eq!(o.run.status, Status::Waiting);
    assert_eq!(o.run.node.as_deref(), Some("hello"));
    assert_eq!(o.run.wait, Some(Wait::Timer { until: morning }));
    assert!(o.effects.is_empty());
    assert_eq!(
        o.history.last().unwrap().what,
        What::QuietHours {
            channel: Channel::Email,
            until: morning,
            timezone: "America/New_York".into(),
            skipped: false
        }
    );
    assert_eq!(o.run.visits["hello"], 1);

    assert!(step(&j, &o.run, &o.contact, Input::Timer, morning - TimeDelta::seconds(1)).is_noop());
    let sent = step(&j, &o.run, &o.contact, Input::Timer, morning);
    assert_eq!(keys(&sent), ["r1:hello:1"], "the same visit, the same idempotency key");
    assert_eq!(sent.run.visits["hello"], 1);
    assert_eq!(sent.run.status, Status::Completed);
    assert!(
        !sent.history.iter().any(|e| matches!(e.what, What::NodeEntered { .. }) && e.node.as_deref() == Some("hello")),
        "the send node is not entered again"
    );
    assert!(matches!(sent.history[0].what, What::Sent { .. }));

    // Without a `timezone` attribute, the journey's time zone: 22:30 CET is 21:30 UTC.
    let berlin_evening = at("2026-03-28T21:30:00Z");
    let o = step(&j, &new_run(&j, berlin_evening), &contact(None), Input::Start, berlin_evening);
    assert_eq!(o.run.wake_at(), Some(at("2026-03-29T06:00:00Z")), "08:00 CEST");
}

#[test]
fn a_transactional_send_ignores_quiet_hours_and_skip_behaviour_carries_on() {
    let settings = json!({ "quiet_hours": { "start": "21:00", "end": "08:00" } });
    let night = at("2026-01-05T23:00:00Z");
    let j = journey(json!({ "transactional": true }), settings.clone());
    let o = step(&j, &new_run(&j, night), &contact(None), Input::Start, night);
    assert_eq!(keys(&o), ["r1:hello:1"]);
    let Effect::Send { transactional, .. } = &o.effects[0] else { panic!() };
    assert!(transactional);
    assert_eq!(o.marketing_sends(night).count(), 0, "transactional sends do not count towards caps");

    let j = journey(json!({}), json!({ "quiet_hours": { "start": "21:00", "end": "08:00", "behaviour": "skip" } }));
    let o = step(&j, &new_run(&j, night), &contact(None), Input::Start, night);
    assert!(o.effects.is_empty());
    assert_eq!(o.run.status, Status::Completed, "the run carries on without the message");
    assert!(whats(&o).contains(&&What::QuietHours {
        channel: Channel::Email,
        until: at("2026-01-06T08:00:00Z"),
        timezone: "UTC".into(),
        skipped: true
    }));
}

#[test]
fn the_workspace_quiet_hours_apply_unless_the_journey_turns_them_off() {
    let workspace = rules(
        json!({ "quiet_hours": { "enabled": true, "start": "20:00", "end": "09:00", "timezone": "Europe/Berlin" } }),
    );
    let ctx = Context { rules: &workspace, recent: &[] };
    let evening = at("2026-01-05T20:00:00Z"); // 21:00 in Berlin
    let inherit = journey(json!({}), json!({}));
    let o = step_with(&inherit, &new_run(&inherit, evening), &contact(None), Input::Start, evening, &ctx);
    assert_eq!(o.run.wake_at(), Some(at("2026-01-06T08:00:00Z")), "09:00 in Berlin, the workspace's fallback zone");
    // Plain `step` has no workspace rules.
    assert_eq!(keys(&step(&inherit, &new_run(&inherit, evening), &contact(None), Input::Start, evening)).len(), 1);

    let off = journey(json!({}), json!({ "quiet_hours": "off" }));
    let o = step_with(&off, &new_run(&off, evening), &contact(None), Input::Start, evening, &ctx);
    assert_eq!(keys(&o), ["r1:hello:1"]);
    // A journey's own window replaces the workspace's.
    let own = journey(json!({}), json!({ "quiet_hours": { "start": "22:00", "end": "06:00" } }));
    let o = step_with(&own, &new_run(&own, evening), &contact(None), Input::Start, evening, &ctx);
    assert_eq!(keys(&o), ["r1:hello:1"], "20:00 UTC is before the journey's 22:00");
}

#[test]
fn a_capped_send_waits_until_the_oldest_counted_message_leaves_the_period() {
    let workspace =
        rules(json!({ "frequency_caps": { "limits": [ { "channel": "email", "max": 2, "period": "1d" } ] } }));
    let now = at("2026-01-05T12:00:00Z");
    let recent = [
        RecentSend { channel: Channel::Email, at: at("2026-01-05T09:00:00Z") },
        RecentSend { channel: Channel::Email, at: at("2026-01-05T10:00:00Z") },
    ];
    let ctx = Context { rules: &workspace, recent: &recent };
    let j = journey(json!({}), json!({}));
    let o = step_with(&j, &new_run(&j, now), &contact(None), Input::Start, now, &ctx);
    let free = at("2026-01-06T09:00:00Z");
    assert!(o.effects.is_empty());
    assert_eq!(o.run.wait, Some(Wait::Timer { until: free }));
    assert_eq!(
        o.history.last().unwrap().what,
        What::FrequencyCapped { channel: Channel::Email, max: 2, period: "1d".into(), until: free, skipped: false }
    );
    // When the timer fires, the 09:00 message has left the day: the same visit sends.
    let sent = step_with(&j, &o.run, &o.contact, Input::Timer, free, &ctx);
    assert_eq!(keys(&sent), ["r1:hello:1"]);
    assert_eq!(sent.run.status, Status::Completed);

    // A journey that ignores caps, and a transactional send, go at once.
    let ignore = journey(json!({}), json!({ "frequency_caps": "ignore" }));
    let o = step_with(&ignore, &new_run(&ignore, now), &contact(None), Input::Start, now, &ctx);
    assert_eq!(keys(&o).len(), 1);
    let receipt = journey(json!({ "transactional": true }), json!({}));
    let o = step_with(&receipt, &new_run(&receipt, now), &contact(None), Input::Start, now, &ctx);
    assert_eq!(keys(&o).len(), 1);

    // With `skip`, the capped message is dropped and the run carries on.
    let skipping = rules(
        json!({ "frequency_caps": { "behaviour": "skip", "limits": [ { "channel": "email", "max": 2, "period": "1d" } ] } }),
    );
    let ctx = Context { rules: &skipping, recent: &recent };
    let o = step_with(&j, &new_run(&j, now), &contact(None), Input::Start, now, &ctx);
    assert!(o.effects.is_empty());
    assert_eq!(o.run.status, Status::Completed);
    assert!(matches!(
        o.history
            .iter()
            .find(|e| e.node.as_deref() == Some("hello") && !matches!(e.what, What::NodeEntered { .. }))
            .unwrap()
            .what,
        What::FrequencyCapped { skipped: true, .. }
    ));
}

#[test]
fn sends_earlier_in_the_same_step_count_towards_the_cap() {
    let doc = json!({ "id": "j", "name": "J", "trigger": { "type": "api", "next": "first" }, "nodes": [
        { "id": "first", "type": "send", "message": { "channel": "sms", "body": "One" }, "next": "second" },
        { "id": "second", "type": "send", "message": { "channel": "sms", "body": "Two" }, "next": "done" },
        { "id": "done", "type": "exit" } ] });
    let j = validate_value(doc).unwrap();
    let workspace =
        rules(json!({ "frequency_caps": { "limits": [ { "channel": "sms", "max": 1, "period": "1h" } ] } }));
    let now = at("2026-01-05T12:00:00Z");
    let mut c = contact(None);
    c.attributes.insert("phone".into(), json!("+15555550100"));
    let o = step_with(&j, &new_run(&j, now), &c, Input::Start, now, &Context { rules: &workspace, recent: &[] });
    assert_eq!(keys(&o), ["r1:first:1"]);
    assert_eq!(o.run.node.as_deref(), Some("second"));
    assert_eq!(o.run.wake_at(), Some(now + TimeDelta::hours(1)));
    let marketing: Vec<RecentSend> = o.marketing_sends(now).collect();
    assert_eq!(marketing, [RecentSend { channel: Channel::Sms, at: now }]);
    // An hour later, with that message on record, the second goes.
    let later = now + TimeDelta::hours(1);
    let o = step_with(&j, &o.run, &o.contact, Input::Timer, later, &Context { rules: &workspace, recent: &marketing });
    assert_eq!(keys(&o), ["r1:second:1"]);
}

#[test]
fn an_exit_event_ends_a_run_waiting_for_the_end_of_quiet_hours() {
    let j = journey(
        json!({}),
        json!({ "quiet_hours": { "start": "21:00", "end": "08:00" }, "exit_when": [ { "event": "unsubscribed" } ] }),
    );
    let night = at("2026-01-05T22:00:00Z");
    let o = step(&j, &new_run(&j, night), &contact(None), Input::Start, night);
    assert_eq!(o.run.status, Status::Waiting);
    let ended = step(&j, &o.run, &o.contact, Input::Event(&Event::new("unsubscribed", night)), night);
    assert_eq!(ended.run.status, Status::Exited);
    assert!(step(&j, &ended.run, &ended.contact, Input::Timer, at("2026-01-06T08:00:00Z")).is_noop());
}

#[test]
fn a_journey_override_that_is_not_valid_names_its_pointer() {
    let doc = |settings: Value| {
        json!({ "id": "j", "name": "J", "trigger": { "type": "api", "next": "done" }, "settings": settings,
                "nodes": [ { "id": "done", "type": "exit" } ] })
    };
    let problems = |settings: Value| {
        validate_value(doc(settings))
            .unwrap_err()
            .into_iter()
            .map(|p| (p.pointer, p.code.code().to_string(), p.message))
            .collect::<Vec<_>>()
    };
    let got = problems(json!({ "quiet_hours": { "start": "9pm", "end": "08:00" } }));
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("/settings/quiet_hours/start", "invalid_value"));
    let got = problems(json!({ "quiet_hours": { "start": "08:00", "end": "08:00" } }));
    assert_eq!(got[0].0, "/settings/quiet_hours/end");
    let got = problems(json!({ "quiet_hours": "sometimes" }));
    assert_eq!(got[0].0, "/settings/quiet_hours");
    assert!(got[0].2.contains("expected `inherit`, `off`"), "{}", got[0].2);
    let got = problems(json!({ "quiet_hours": { "start": "21:00", "end": "08:00", "behaviour": "later" } }));
    assert_eq!(got[0].0, "/settings/quiet_hours/behaviour");
    let got = problems(json!({ "quiet_hours": { "start": "21:00", "end": "08:00", "days": ["mon"] } }));
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("/settings/quiet_hours/days", "unknown_field"));
    let got = problems(json!({ "frequency_caps": "sometimes" }));
    assert_eq!(got[0].0, "/settings/frequency_caps");
    assert!(got[0].2.contains("`apply`"), "{}", got[0].2);
    // The canonical form leaves the defaults out and keeps what was set.
    let j = validate_value(doc(json!({ "quiet_hours": "off", "frequency_caps": "ignore" }))).unwrap();
    let text = j.workflow().to_canonical();
    assert!(text.contains("\"quiet_hours\": \"off\"") && text.contains("\"frequency_caps\": \"ignore\""), "{text}");
    let j = validate_value(doc(json!({ "quiet_hours": "inherit", "frequency_caps": "apply" }))).unwrap();
    assert!(!j.workflow().to_canonical().contains("quiet_hours"));
}
