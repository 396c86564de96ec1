//! Journeys end to end over HTTP with a manual clock.

use crate::helpers::{TestApp, example, json};
use chrono::TimeDelta;
use serde_json::{Value, json};

async fn publish(app: &TestApp, doc: &Value) -> u64 {
    let id = doc["id"].as_str().unwrap();
    let r = app.get(&format!("/v1/workflows/{id}")).await;
    if r.status() == 404 {
        json(app.post("/v1/workflows", doc).await, 201).await;
    } else {
        json(app.put(&format!("/v1/workflows/{id}"), doc).await, 200).await;
    }
    json(app.post(&format!("/v1/workflows/{id}/publish"), &json!({})).await, 201).await["version"].as_u64().unwrap()
}

async fn track(app: &TestApp, user: &str, event: &str, properties: Value, message_id: &str) -> Value {
    let body = json!({ "userId": user, "event": event, "properties": properties, "messageId": message_id });
    json(app.post("/v1/track", &body).await, 200).await
}

async fn messages(app: &TestApp, contact: &str) -> Vec<Value> {
    json(app.get(&format!("/v1/messages?contact={contact}")).await, 200).await["data"].as_array().unwrap().clone()
}

async fn run(app: &TestApp, id: &str) -> Value {
    json(app.get(&format!("/v1/runs/{id}")).await, 200).await
}

fn nodes(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|m| m["node"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn abandoned_cart_over_http_reminds_then_an_order_in_time_ends_it() {
    let app = TestApp::spawn().await;
    publish(&app, &example("abandoned-cart")).await;
    json(
        app.post(
            "/v1/identify",
            &json!({ "userId": "ann", "traits": { "email": "ann@example.com", "phone": "+15555550100" } }),
        )
        .await,
        200,
    )
    .await;
    json(
        app.post(
            "/v1/identify",
            &json!({ "userId": "bob", "traits": { "email": "bob@example.com", "phone": "+15555550101" } }),
        )
        .await,
        200,
    )
    .await;

    let ann = track(&app, "ann", "cart_updated", json!({ "cart_id": "a-1", "item_count": 2 }), "m-1").await;
    let bob = track(&app, "bob", "cart_updated", json!({ "cart_id": "b-1", "item_count": 1 }), "m-2").await;
    let (ann_run, bob_run) = (ann["started_runs"][0].as_str().unwrap(), bob["started_runs"][0].as_str().unwrap());

    // Bob orders within the hour: his run ends, nothing is sent to him.
    app.advance(TimeDelta::minutes(40)).await;
    let order = track(&app, "bob", "order_completed", json!({ "cart_id": "b-1" }), "m-3").await;
    assert_eq!(order["delivered_to"], 1);
    let bob_state = run(&app, bob_run).await;
    assert_eq!((bob_state["status"].as_str(), bob_state["node"].as_str()), (Some("completed"), Some("exit_ordered")));
    assert!(bob_state["converted_at"].is_string());

    // Ann does not: the reminder at one hour, the SMS a day later, each once.
    app.advance(TimeDelta::minutes(20)).await;
    assert_eq!(nodes(&messages(&app, "ann").await), ["send_reminder"]);
    app.advance(TimeDelta::hours(24)).await;
    app.advance(TimeDelta::hours(1)).await;
    let ann_messages = messages(&app, "ann").await;
    assert_eq!(nodes(&ann_messages), ["send_reminder", "send_coupon_sms"]);
    assert_eq!(ann_messages[1]["message"]["to"], "+15555550100");
    assert_eq!(run(&app, ann_run).await["status"], "completed");
    assert!(messages(&app, "bob").await.is_empty());
}

fn race_journey() -> Value {
    json!({
        "id": "race", "name": "Race",
        "trigger": { "type": "event", "event": "cart_updated", "next": "wait" },
        "settings": { "reentry": "always" },
        "nodes": [
            { "id": "wait", "type": "wait_for_event", "event": "order_completed", "timeout": "1h", "received": "ordered", "timed_out": "remind" },
            { "id": "remind", "type": "send", "message": { "channel": "webhook", "url": "https://example.com/{{contact.id}}" }, "next": "done" },
            { "id": "ordered", "type": "exit" },
            { "id": "done", "type": "exit" }
        ]
    })
}

#[tokio::test]
async fn an_event_at_the_timeout_wins_if_it_commits_first_and_loses_otherwise() {
    let app = TestApp::spawn().await;
    publish(&app, &race_journey()).await;
    let first =
        track(&app, "c1", "cart_updated", json!({}), "a").await["started_runs"][0].as_str().unwrap().to_string();
    let second =
        track(&app, "c2", "cart_updated", json!({}), "b").await["started_runs"][0].as_str().unwrap().to_string();

    // The timeout is due for both; c1's order commits before the scheduler steps it.
    app.clock.advance(TimeDelta::hours(1));
    assert_eq!(track(&app, "c1", "order_completed", json!({}), "c").await["delivered_to"], 1);
    app.tick().await;
    // c2's order comes after the timeout was committed: the wait is over.
    assert_eq!(track(&app, "c2", "order_completed", json!({}), "d").await["delivered_to"], 0);
    app.tick().await;

    assert_eq!(run(&app, &first).await["node"], "ordered");
    assert!(messages(&app, "c1").await.is_empty());
    assert_eq!(run(&app, &second).await["node"], "done");
    assert_eq!(nodes(&messages(&app, "c2").await), ["remind"]);
}

#[tokio::test]
async fn racing_an_event_against_its_timeout_takes_exactly_one_path() {
    let app = TestApp::spawn().await;
    publish(&app, &race_journey()).await;
    let mut runs = vec![];
    for i in 0..20 {
        runs.push(
            track(&app, &format!("r{i}"), "cart_updated", json!({}), &format!("s{i}")).await["started_runs"][0]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    app.clock.advance(TimeDelta::hours(1));
    // The scheduler steps the timeouts while the orders arrive.
    let orders = async {
        for i in 0..20 {
            track(&app, &format!("r{i}"), "order_completed", json!({}), &format!("o{i}")).await;
        }
    };
    tokio::join!(app.tick(), orders);
    app.tick().await;
    for (i, id) in runs.iter().enumerate() {
        let state = run(&app, id).await;
        let sent = messages(&app, &format!("r{i}")).await;
        match state["node"].as_str() {
            Some("ordered") => assert!(sent.is_empty(), "r{i} received the order and must not be reminded"),
            Some("done") => assert_eq!(nodes(&sent), ["remind"], "r{i} timed out and is reminded once"),
            other => panic!("r{i} ended at {other:?}"),
        }
        assert_eq!(state["status"], "completed");
    }
}

#[tokio::test]
async fn exit_when_ends_a_waiting_run_and_reentry_follows_the_rule() {
    let app = TestApp::spawn().await;
    let doc = json!({
        "id": "nurture", "name": "Nurture",
        "trigger": { "type": "event", "event": "signed_up", "next": "wait" },
        "settings": { "reentry": "after_exit", "exit_when": [ { "event": "purchase" } ] },
        "nodes": [
            { "id": "wait", "type": "delay", "duration": "3d", "next": "tip" },
            { "id": "tip", "type": "send", "message": { "channel": "webhook", "url": "https://example.com/tip" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    publish(&app, &doc).await;
    let first = track(&app, "c", "signed_up", json!({}), "1").await;
    assert_eq!(first["started_runs"].as_array().unwrap().len(), 1);
    // after_exit: no second run while the first is active.
    assert_eq!(track(&app, "c", "signed_up", json!({}), "2").await["started_runs"], json!([]));
    app.advance(TimeDelta::days(1)).await;
    assert_eq!(track(&app, "c", "purchase", json!({}), "3").await["delivered_to"], 1);
    let ended = run(&app, first["started_runs"][0].as_str().unwrap()).await;
    assert_eq!((ended["status"].as_str(), ended["node"].as_str()), (Some("exited"), Some("wait")));
    // Now it has ended, the contact may enter again.
    assert_eq!(track(&app, "c", "signed_up", json!({}), "4").await["started_runs"].as_array().unwrap().len(), 1);
    app.advance(TimeDelta::days(3)).await;
    assert_eq!(nodes(&messages(&app, "c").await), ["tip"], "only the second run sends");
}

#[tokio::test]
async fn runs_in_flight_finish_on_the_version_they_started_on() {
    let app = TestApp::spawn().await;
    let mut doc = json!({
        "id": "versions", "name": "Versions",
        "trigger": { "type": "api", "next": "wait" },
        "settings": { "reentry": "always" },
        "nodes": [
            { "id": "wait", "type": "delay", "duration": "1d", "next": "hello" },
            { "id": "hello", "type": "send", "message": { "channel": "webhook", "url": "https://example.com/v1" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    assert_eq!(publish(&app, &doc).await, 1);
    let old = json(app.post("/v1/workflows/versions/runs", &json!({ "contact_id": "a" })).await, 201).await;
    doc["nodes"][1]["message"]["url"] = json!("https://example.com/v2");
    doc["nodes"][0]["duration"] = json!("2d");
    assert_eq!(publish(&app, &doc).await, 2);
    let new = json(app.post("/v1/workflows/versions/runs", &json!({ "contact_id": "b" })).await, 201).await;
    assert_eq!((old["version"].as_u64(), new["version"].as_u64()), (Some(1), Some(2)));

    app.advance(TimeDelta::days(1)).await;
    let a = messages(&app, "a").await;
    assert_eq!(a.len(), 1, "the v1 run keeps its 1-day delay");
    assert_eq!(a[0]["message"]["url"], "https://example.com/v1");
    assert!(messages(&app, "b").await.is_empty(), "the v2 run waits 2 days");
    app.advance(TimeDelta::days(1)).await;
    assert_eq!(messages(&app, "b").await[0]["message"]["url"], "https://example.com/v2");
}

#[tokio::test]
async fn a_thirty_day_delay_resolves_by_advancing_the_clock() {
    let app = TestApp::spawn().await;
    let doc = json!({
        "id": "month", "name": "A month",
        "trigger": { "type": "api", "next": "wait" },
        "nodes": [
            { "id": "wait", "type": "delay", "duration": "30d", "next": "hello" },
            { "id": "hello", "type": "send", "message": { "channel": "webhook", "url": "https://example.com/month" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    publish(&app, &doc).await;
    let started = json(app.post("/v1/workflows/month/runs", &json!({ "contact_id": "m" })).await, 201).await;
    app.advance(TimeDelta::days(30) - TimeDelta::milliseconds(1)).await;
    assert!(messages(&app, "m").await.is_empty());
    app.advance(TimeDelta::milliseconds(1)).await;
    assert_eq!(messages(&app, "m").await.len(), 1);
    assert_eq!(run(&app, started["id"].as_str().unwrap()).await["status"], "completed");
}
