//! Quiet hours and frequency caps end to end: `/v1/settings/delivery`, the real server,
//! the scheduler and the inbox, on a manual clock.

use crate::helpers::{TestApp, json, problem};
use chrono::TimeDelta;
use kairos_engine::time::parse_timestamp;
use serde_json::{Value, json};

async fn publish(app: &TestApp, doc: &Value) {
    json(app.post("/v1/workflows", doc).await, 201).await;
    let id = doc["id"].as_str().unwrap();
    json(app.post(&format!("/v1/workflows/{id}/publish"), &json!({})).await, 201).await;
}

async fn messages(app: &TestApp, contact: &str) -> Vec<Value> {
    json(app.get(&format!("/v1/messages?contact={contact}")).await, 200).await["data"].as_array().unwrap().clone()
}

fn nodes(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|m| m["node"].as_str().unwrap()).collect()
}

async fn run(app: &TestApp, id: &str) -> Value {
    json(app.get(&format!("/v1/runs/{id}")).await, 200).await
}

/// The timeline entries of `kind`.
fn entries(run: &Value, kind: &str) -> Vec<Value> {
    run["timeline"].as_array().unwrap().iter().filter(|e| e["type"] == kind).cloned().collect()
}

fn settings(quiet_hours: Value, frequency_caps: Value) -> Value {
    json!({ "quiet_hours": quiet_hours, "frequency_caps": frequency_caps })
}

fn new_york_nights(behaviour: &str) -> Value {
    settings(
        json!({ "enabled": true, "start": "21:00", "end": "08:00", "timezone": "America/New_York", "behaviour": behaviour }),
        json!({ "behaviour": "wait", "limits": [] }),
    )
}

fn no_quiet_hours() -> Value {
    json!({ "enabled": false, "start": "21:00", "end": "08:00", "timezone": "UTC", "behaviour": "wait" })
}

/// `api`-triggered: a transactional receipt, then a marketing offer.
fn order_followup() -> Value {
    json!({
        "id": "order-followup", "name": "Order follow-up",
        "trigger": { "type": "api", "next": "receipt" },
        "nodes": [
            { "id": "receipt", "type": "send", "transactional": true,
              "message": { "channel": "email", "subject": "Your receipt", "body": "<p>Thanks</p>" }, "next": "offer" },
            { "id": "offer", "type": "send",
              "message": { "channel": "email", "subject": "10% off your next order", "body": "<p>Come back</p>" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

async fn start(app: &TestApp, contact: &str) -> String {
    let body = json!({ "contact_id": contact,
        "attributes": { "email": format!("{contact}@example.com"), "timezone": "America/New_York" } });
    let r = json(app.post("/v1/workflows/order-followup/runs", &body).await, 201).await;
    r["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn delivery_settings_are_read_saved_versioned_and_validated_by_field() {
    let app = TestApp::spawn().await;
    let got = json(app.get("/v1/settings/delivery").await, 200).await;
    assert_eq!(
        got,
        json!({ "quiet_hours": { "enabled": false, "start": "21:00", "end": "08:00", "timezone": "UTC", "behaviour": "wait" },
                "frequency_caps": { "behaviour": "wait", "limits": [] }, "version": 0, "updated_at": null })
    );

    let mut body = settings(
        json!({ "enabled": true, "start": "22:00", "end": "07:30", "timezone": "Europe/Berlin", "behaviour": "skip" }),
        json!({ "behaviour": "wait", "limits": [ { "channel": "email", "max": 3, "period": "7d" }, { "channel": "sms", "max": 1, "period": "1d" } ] }),
    );
    body["version"] = json!(0);
    let saved = json(app.put("/v1/settings/delivery", &body).await, 200).await;
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["updated_at"], "2026-03-02T10:00:00Z");
    assert_eq!(saved["quiet_hours"]["timezone"], "Europe/Berlin");
    assert_eq!(json(app.get("/v1/settings/delivery").await, 200).await, saved);

    // Someone else saved meanwhile: an edit of version 0 is refused, nothing is lost.
    let conflict = problem(app.put("/v1/settings/delivery", &body).await, 409, "version_conflict").await;
    assert!(conflict["detail"].as_str().unwrap().contains("version 1"), "{conflict}");
    assert_eq!(json(app.get("/v1/settings/delivery").await, 200).await, saved);

    // Every bad value is named by its pointer.
    let bad = settings(
        json!({ "enabled": true, "start": "9pm", "end": "25:00", "timezone": "Mars/Olympus", "behaviour": "wait" }),
        json!({ "behaviour": "skip", "limits": [
            { "channel": "email", "max": 0, "period": "1 fortnight" },
            { "channel": "sms", "max": 2, "period": "1d" },
            { "channel": "sms", "max": 3, "period": "24h" } ] }),
    );
    let p = problem(app.put("/v1/settings/delivery", &bad).await, 400, "invalid_settings").await;
    let got: Vec<(&str, &str)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["pointer"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("/quiet_hours/start", "invalid_value"),
            ("/quiet_hours/end", "invalid_value"),
            ("/quiet_hours/timezone", "invalid_timezone"),
            ("/frequency_caps/limits/0/max", "invalid_value"),
            ("/frequency_caps/limits/0/period", "invalid_duration"),
            ("/frequency_caps/limits/2", "invalid_value"),
        ]
    );
    // Shape problems too: a missing field, an unknown one, a wrong type.
    let mut missing = saved.clone();
    missing.as_object_mut().unwrap().remove("updated_at");
    missing["quiet_hours"].as_object_mut().unwrap().remove("end");
    let p = problem(app.put("/v1/settings/delivery", &missing).await, 400, "invalid_body").await;
    assert_eq!(p["errors"][0]["pointer"], "/quiet_hours", "{p}");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("`end`"), "{p}");
    let mut unknown = body.clone();
    unknown["quiet_hours"]["days"] = json!(["mon"]);
    let p = problem(app.put("/v1/settings/delivery", &unknown).await, 400, "invalid_body").await;
    assert_eq!(p["errors"][0]["pointer"], "/quiet_hours/days", "{p}");
    let mut wrong = body.clone();
    wrong["frequency_caps"]["limits"][0]["max"] = json!("three");
    let p = problem(app.put("/v1/settings/delivery", &wrong).await, 400, "invalid_body").await;
    assert_eq!(p["errors"][0]["pointer"], "/frequency_caps/limits/0/max", "{p}");
    let mut fax = body.clone();
    fax["frequency_caps"]["limits"][1]["channel"] = json!("fax");
    let p = problem(app.put("/v1/settings/delivery", &fax).await, 400, "invalid_body").await;
    assert_eq!(p["errors"][0]["pointer"], "/frequency_caps/limits/1/channel", "{p}");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("`email`"), "{p}");
    assert_eq!(json(app.get("/v1/settings/delivery").await, 200).await, saved, "nothing bad was stored");

    // The OpenAPI document describes both operations.
    let spec = json(app.get("/openapi.json").await, 200).await;
    let path = &spec["paths"]["/v1/settings/delivery"];
    assert!(path["get"].is_object() && path["put"].is_object(), "{path}");
    assert!(path["put"]["responses"]["409"].is_object());
}

/// The evening before the clocks go forward in New York: a marketing email at 22:30 local
/// waits for 08:00 local, which is 12:00 UTC (EDT), not 13:00 (EST); the transactional
/// receipt goes at once; with `skip`, the offer is dropped.
#[tokio::test]
async fn quiet_hours_hold_a_marketing_email_until_eight_local_across_the_dst_change() {
    let app = TestApp::spawn().await;
    json(app.put("/v1/settings/delivery", &new_york_nights("wait")).await, 200).await;
    publish(&app, &order_followup()).await;
    let evening = parse_timestamp("2026-03-08T03:30:00Z").unwrap(); // Saturday 7 March, 22:30 EST
    app.clock.set(evening);

    let id = start(&app, "ann").await;
    app.tick().await;
    assert_eq!(nodes(&messages(&app, "ann").await), ["receipt"], "the transactional receipt goes at once");
    let r = run(&app, &id).await;
    assert_eq!((r["status"].as_str(), r["node"].as_str()), (Some("waiting"), Some("offer")));
    assert_eq!(r["wait"], json!({ "kind": "timer", "until": "2026-03-08T12:00:00Z" }));
    assert_eq!(
        entries(&r, "quiet_hours"),
        [json!({ "at": "2026-03-08T03:30:00Z", "node": "offer", "type": "quiet_hours", "channel": "email",
                 "until": "2026-03-08T12:00:00Z", "timezone": "America/New_York", "skipped": false })]
    );

    app.clock.set(parse_timestamp("2026-03-08T11:59:59Z").unwrap());
    app.tick().await;
    assert_eq!(nodes(&messages(&app, "ann").await), ["receipt"], "07:59:59 EDT is still quiet");
    app.advance(TimeDelta::seconds(1)).await;
    let sent = messages(&app, "ann").await;
    assert_eq!(nodes(&sent), ["receipt", "offer"]);
    assert_eq!(sent[1]["key"], format!("{id}:offer:1"), "the visit did not advance");
    assert_eq!(sent[1]["created_at"], "2026-03-08T12:00:00Z", "08:00 EDT");
    let r = run(&app, &id).await;
    assert_eq!(r["status"], "completed");
    assert_eq!(r["ended_at"], "2026-03-08T12:00:00Z");
    assert_eq!(r["visits"]["offer"], 1);
    let offer_sent: Vec<Value> = entries(&r, "sent").into_iter().filter(|e| e["node"] == "offer").collect();
    assert_eq!(offer_sent[0]["at"], "2026-03-08T12:00:00Z");

    // `skip`: the next evening (Sunday 22:30 EDT) the offer is dropped and the run carries on.
    json(app.put("/v1/settings/delivery", &new_york_nights("skip")).await, 200).await;
    app.clock.set(parse_timestamp("2026-03-09T02:30:00Z").unwrap());
    let id = start(&app, "bob").await;
    app.tick().await;
    let r = run(&app, &id).await;
    assert_eq!(r["status"], "completed");
    let quiet = entries(&r, "quiet_hours");
    assert_eq!((quiet[0]["skipped"].as_bool(), quiet[0]["until"].as_str()), (Some(true), Some("2026-03-09T12:00:00Z")));
    app.advance(TimeDelta::days(1)).await;
    assert_eq!(nodes(&messages(&app, "bob").await), ["receipt"]);
}

fn browse_journeys() -> (Value, Value) {
    let email = |subject: &str| json!({ "channel": "email", "subject": subject, "body": "<p>Hi</p>" });
    let welcome = json!({
        "id": "browse-welcome", "name": "Browse welcome",
        "trigger": { "type": "event", "event": "browsed", "next": "first" },
        "nodes": [
            { "id": "first", "type": "send", "message": email("Welcome"), "next": "pause" },
            { "id": "pause", "type": "delay", "duration": "10m", "next": "second" },
            { "id": "second", "type": "send", "message": email("Our best sellers"), "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    let reminder = json!({
        "id": "browse-reminder", "name": "Browse reminder",
        "trigger": { "type": "event", "event": "browsed", "next": "wait" },
        "nodes": [
            { "id": "wait", "type": "delay", "duration": "1h", "next": "remind" },
            { "id": "remind", "type": "send", "message": email("Still looking?"), "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    (welcome, reminder)
}

async fn browse(app: &TestApp, contact: &str, message_id: &str) -> Vec<String> {
    json(
        app.post(
            "/v1/identify",
            &json!({ "userId": contact, "traits": { "email": format!("{contact}@example.com") } }),
        )
        .await,
        200,
    )
    .await;
    let body = json!({ "userId": contact, "event": "browsed", "messageId": message_id });
    let r = json(app.post("/v1/track", &body).await, 200).await;
    r["started_runs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// The run of `workflow` among `runs`.
async fn run_of(app: &TestApp, runs: &[String], workflow: &str) -> Value {
    for id in runs {
        let r = run(app, id).await;
        if r["workflow_id"] == workflow {
            return r;
        }
    }
    panic!("no run of {workflow}")
}

/// Two journeys email the same contact; the cap is 2 emails a day across both: the third
/// email waits (on the timeline) and goes when the first leaves the day; with `skip`, it
/// is dropped.
#[tokio::test]
async fn a_frequency_cap_across_two_journeys_holds_the_third_email_for_a_day() {
    let app = TestApp::spawn().await;
    let caps = |behaviour: &str| {
        settings(
            no_quiet_hours(),
            json!({ "behaviour": behaviour, "limits": [ { "channel": "email", "max": 2, "period": "1d" } ] }),
        )
    };
    json(app.put("/v1/settings/delivery", &caps("wait")).await, 200).await;
    let (welcome, reminder) = browse_journeys();
    publish(&app, &welcome).await;
    publish(&app, &reminder).await;
    let t0 = parse_timestamp("2026-03-02T10:00:00Z").unwrap();

    let runs = browse(&app, "ann", "m-1").await;
    assert_eq!(runs.len(), 2);
    app.tick().await;
    app.advance(TimeDelta::minutes(10)).await;
    assert_eq!(nodes(&messages(&app, "ann").await), ["first", "second"]);
    app.advance(TimeDelta::minutes(50)).await;
    assert_eq!(nodes(&messages(&app, "ann").await), ["first", "second"], "the third email is capped");
    let r = run_of(&app, &runs, "browse-reminder").await;
    let until = "2026-03-03T10:00:00Z"; // when the first email leaves the day
    assert_eq!((r["status"].as_str(), r["node"].as_str()), (Some("waiting"), Some("remind")));
    assert_eq!(r["wait"]["until"], until);
    assert_eq!(
        entries(&r, "frequency_capped"),
        [json!({ "at": "2026-03-02T11:00:00Z", "node": "remind", "type": "frequency_capped", "channel": "email",
                 "max": 2, "period": "1d", "until": until, "skipped": false })]
    );

    app.clock.set(t0 + TimeDelta::days(1) - TimeDelta::seconds(1));
    app.tick().await;
    assert_eq!(messages(&app, "ann").await.len(), 2);
    app.advance(TimeDelta::seconds(1)).await;
    let sent = messages(&app, "ann").await;
    assert_eq!(nodes(&sent), ["first", "second", "remind"]);
    let reminder_run = r["id"].as_str().unwrap();
    assert_eq!(sent[2]["key"], format!("{reminder_run}:remind:1"));
    assert_eq!(sent[2]["created_at"], until);
    assert_eq!(run(&app, reminder_run).await["status"], "completed");

    // `skip`: bob's third email is dropped and his run carries on.
    json(app.put("/v1/settings/delivery", &caps("skip")).await, 200).await;
    let runs = browse(&app, "bob", "m-2").await;
    app.tick().await;
    app.advance(TimeDelta::minutes(10)).await;
    app.advance(TimeDelta::minutes(50)).await;
    let r = run_of(&app, &runs, "browse-reminder").await;
    assert_eq!(r["status"], "completed");
    assert_eq!(entries(&r, "frequency_capped")[0]["skipped"], true);
    app.advance(TimeDelta::days(2)).await;
    assert_eq!(nodes(&messages(&app, "bob").await), ["first", "second"]);
}

/// The editor's test panel simulates with the workspace's stored settings, or those given.
#[tokio::test]
async fn a_simulation_uses_the_stored_delivery_settings_unless_given_others() {
    let app = TestApp::spawn().await;
    json(app.put("/v1/settings/delivery", &new_york_nights("wait")).await, 200).await;
    json(app.post("/v1/workflows", &order_followup()).await, 201).await;
    let scenario = json!({
        "contact": { "id": "ann", "attributes": { "email": "ann@example.com", "timezone": "America/New_York" } },
        "start": "2026-03-08T03:30:00Z"
    });
    let sim = json(app.post("/v1/workflows/order-followup/simulate", &scenario).await, 200).await;
    let sends: Vec<(&str, &str)> = sim["sends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["node"].as_str().unwrap(), s["at"].as_str().unwrap()))
        .collect();
    assert_eq!(sends, [("receipt", "2026-03-08T03:30:00Z"), ("offer", "2026-03-08T12:00:00Z")]);
    let quiet: Vec<&Value> =
        sim["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "quiet_hours").collect();
    assert_eq!(quiet.len(), 1);
    assert!(quiet[0]["detail"].as_str().unwrap().contains("08:00 EDT"), "{}", quiet[0]["detail"]);

    let mut given = scenario.clone();
    given["delivery"] = settings(no_quiet_hours(), json!({ "behaviour": "wait", "limits": [] }));
    let sim = json(app.post("/v1/workflows/order-followup/simulate", &given).await, 200).await;
    assert_eq!(sim["sends"][1]["at"], "2026-03-08T03:30:00Z");

    given["delivery"]["quiet_hours"]["start"] = json!("late");
    let p = problem(app.post("/v1/workflows/order-followup/simulate", &given).await, 400, "invalid_scenario").await;
    assert_eq!(p["errors"][0]["pointer"], "/delivery/quiet_hours/start");
}
