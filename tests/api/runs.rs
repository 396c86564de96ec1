//! Runs: API starts, idempotency, re-entry, the timeline, cancelling, lists.

use crate::helpers::{KEY, TestApp, json, problem};
use chrono::TimeDelta;
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// An `api`-triggered journey: wait a day, then email pro contacts and SMS the others.
fn nudge(reentry: &str) -> Value {
    json!({
        "id": "nudge",
        "name": "Nudge",
        "trigger": { "type": "api", "next": "wait_a_day" },
        "settings": { "reentry": reentry },
        "nodes": [
            { "id": "wait_a_day", "type": "delay", "duration": "1d", "next": "is_pro" },
            { "id": "is_pro", "type": "branch",
              "rules": [ { "name": "pro", "condition": { "left": "contact.plan", "op": "eq", "right": "pro" }, "next": "email_pro" } ],
              "else": "sms_others" },
            { "id": "email_pro", "type": "send",
              "message": { "channel": "email", "subject": "Hello {{contact.first_name}}", "body": "<p>Order {{trigger.properties.order_id}}</p>" },
              "next": "done" },
            { "id": "sms_others", "type": "send", "message": { "channel": "sms", "body": "Hello" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

async fn publish(app: &TestApp, journey: &Value) {
    json(app.post("/v1/workflows", journey).await, 201).await;
    let id = journey["id"].as_str().unwrap();
    json(app.post(&format!("/v1/workflows/{id}/publish"), &json!({})).await, 201).await;
}

/// `POST /v1/workflows/{id}/runs` with an `Idempotency-Key`.
async fn start_with_key(app: &TestApp, workflow: &str, body: &Value, key: &str) -> Response {
    app.client
        .post(format!("{}/v1/workflows/{workflow}/runs", app.address))
        .bearer_auth(KEY)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_run_started_through_the_api_waits_then_branches() {
    let app = TestApp::spawn().await;
    publish(&app, &nudge("once")).await;
    let body = json!({
        "contact_id": "ann",
        "attributes": { "email": "ann@example.com", "first_name": "Ann", "plan": "pro" },
        "data": { "order_id": "o-17" }
    });
    let r = app.post("/v1/workflows/nudge/runs", &body).await;
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let run = json(r, 201).await;
    let id = run["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/runs/{id}"));
    assert_eq!(run["workflow_id"], "nudge");
    assert_eq!(run["version"], 1);
    assert_eq!(run["contact_id"], "ann");
    assert_eq!(run["entry"], 1);
    assert_eq!(run["status"], "waiting");
    assert_eq!(run["node"], "wait_a_day");
    assert_eq!(run["wait"], json!({ "kind": "timer", "until": "2026-03-03T10:00:00Z" }));
    assert_eq!(run["started_at"], "2026-03-02T10:00:00Z");
    assert_eq!(run["ended_at"], Value::Null);

    app.advance(TimeDelta::days(1)).await;
    let run = json(app.get(&format!("/v1/runs/{id}")).await, 200).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["node"], "done");
    assert_eq!(run["wait"], Value::Null);
    assert_eq!(run["ended_at"], "2026-03-03T10:00:00Z");
    assert_eq!(run["trigger"]["name"], "api");
    assert_eq!(run["trigger"]["properties"], json!({ "order_id": "o-17" }));
    assert_eq!(run["visits"], json!({ "wait_a_day": 1, "is_pro": 1, "email_pro": 1, "done": 1 }));

    // The timeline: every node, the wait, the decision with the values compared, the send, the end.
    let timeline = run["timeline"].as_array().unwrap();
    let kinds: Vec<(&str, Option<&str>)> =
        timeline.iter().map(|e| (e["type"].as_str().unwrap(), e["node"].as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("entered", None),
            ("node_entered", Some("wait_a_day")),
            ("waiting_until", Some("wait_a_day")),
            ("node_entered", Some("is_pro")),
            ("decision", Some("is_pro")),
            ("node_entered", Some("email_pro")),
            ("sent", Some("email_pro")),
            ("node_entered", Some("done")),
            ("completed", Some("done")),
        ]
    );
    assert_eq!(timeline[0]["at"], "2026-03-02T10:00:00Z");
    assert_eq!(timeline[0]["trigger"], "api");
    assert_eq!(timeline[2]["until"], "2026-03-03T10:00:00Z");
    let decision = &timeline[4];
    assert_eq!(decision["at"], "2026-03-03T10:00:00Z");
    assert_eq!(decision["port"], "pro");
    assert_eq!(
        decision["compared"],
        json!([{ "left": "contact.plan", "op": "eq", "left_value": "pro", "right_value": "pro", "result": true }])
    );
    assert_eq!(timeline[6]["channel"], "email");
    assert_eq!(timeline[6]["key"], format!("{id}:email_pro:1"));
    assert_eq!(timeline[8]["at"], "2026-03-03T10:00:00Z");
}

#[tokio::test]
async fn the_same_idempotency_key_starts_one_run() {
    let app = TestApp::spawn().await;
    publish(&app, &nudge("always")).await;
    let body = json!({ "contact_id": "ann" });
    let first = json(start_with_key(&app, "nudge", &body, "order-17").await, 201).await;
    let again = json(start_with_key(&app, "nudge", &body, "order-17").await, 200).await;
    assert_eq!(first["id"], again["id"]);
    let runs = json(app.get("/v1/runs?workflow=nudge").await, 200).await;
    assert_eq!(ids(&runs), [first["id"].as_str().unwrap()]);

    // Another key is another run (re-entry `always`); the key used for another contact is refused.
    let other = json(start_with_key(&app, "nudge", &body, "order-18").await, 201).await;
    assert_ne!(other["id"], first["id"]);
    assert_eq!(other["entry"], 2);
    let body = problem(
        start_with_key(&app, "nudge", &json!({ "contact_id": "bob" }), "order-17").await,
        409,
        "idempotency_key_reused",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("ann"), "{body}");
    let runs = json(app.get("/v1/runs?workflow=nudge").await, 200).await;
    assert_eq!(runs["data"].as_array().unwrap().len(), 2);

    // Unusable keys.
    problem(
        start_with_key(&app, "nudge", &json!({ "contact_id": "ann" }), &"k".repeat(256)).await,
        400,
        "invalid_idempotency_key",
    )
    .await;
    problem(start_with_key(&app, "nudge", &json!({ "contact_id": "ann" }), "  ").await, 400, "invalid_idempotency_key")
        .await;
}

#[tokio::test]
async fn reentry_is_refused_with_409() {
    let app = TestApp::spawn().await;
    publish(&app, &nudge("once")).await;
    json(app.post("/v1/workflows/nudge/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    let body =
        problem(app.post("/v1/workflows/nudge/runs", &json!({ "contact_id": "ann" })).await, 409, "reentry_refused")
            .await;
    assert!(body["detail"].as_str().unwrap().contains("ann"), "{body}");
    // Still refused after the run ended (`once`).
    app.advance(TimeDelta::days(2)).await;
    problem(app.post("/v1/workflows/nudge/runs", &json!({ "contact_id": "ann" })).await, 409, "reentry_refused").await;
    // Another contact may enter.
    json(app.post("/v1/workflows/nudge/runs", &json!({ "contact_id": "bob" })).await, 201).await;

    // `after_exit`: refused while the first run is going, allowed once it ended.
    let mut after_exit = nudge("after_exit");
    after_exit["id"] = json!("nudge-again");
    publish(&app, &after_exit).await;
    json(app.post("/v1/workflows/nudge-again/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    problem(app.post("/v1/workflows/nudge-again/runs", &json!({ "contact_id": "ann" })).await, 409, "reentry_refused")
        .await;
    app.advance(TimeDelta::days(1)).await;
    let second = json(app.post("/v1/workflows/nudge-again/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    assert_eq!(second["entry"], 2);
}

#[tokio::test]
async fn starting_a_run_needs_a_live_api_triggered_workflow() {
    let app = TestApp::spawn().await;
    let ann = json!({ "contact_id": "ann" });
    problem(app.post("/v1/workflows/nope/runs", &ann).await, 404, "not_found").await;
    json(app.post("/v1/workflows", &nudge("once")).await, 201).await;
    let body = problem(app.post("/v1/workflows/nudge/runs", &ann).await, 409, "not_live").await;
    assert!(body["detail"].as_str().unwrap().contains("draft"), "{body}");
    let on_event = json!({
        "id": "on-signup",
        "name": "On signup",
        "trigger": { "type": "event", "event": "signed_up", "next": "done" },
        "nodes": [ { "id": "done", "type": "exit" } ]
    });
    publish(&app, &on_event).await;
    let body = problem(app.post("/v1/workflows/on-signup/runs", &ann).await, 409, "not_api_triggered").await;
    assert!(body["detail"].as_str().unwrap().contains("signed_up"), "{body}");
}

#[tokio::test]
async fn bad_start_requests_are_400() {
    let app = TestApp::spawn().await;
    publish(&app, &nudge("always")).await;
    let raw = |body: &'static [u8]| {
        app.raw(Method::POST, "/v1/workflows/nudge/runs", body.to_vec(), "application/json", Some(KEY))
    };
    problem(raw(b"{\"contact_id\": \"ann\"").await, 400, "malformed_json").await;
    problem(raw(b"").await, 400, "malformed_json").await;
    for body in [
        json!({}),
        json!({ "contact_id": 7 }),
        json!({ "contact_id": "ann", "attributes": "pro" }),
        json!({ "contact_id": "ann", "data": [1] }),
        json!({ "contact_id": "ann", "colour": "red" }),
        json!(["ann"]),
    ] {
        let r = app.post("/v1/workflows/nudge/runs", &body).await;
        assert_eq!(r.status(), 400, "{body}");
        problem(r, 400, "invalid_body").await;
    }
    for contact in ["", "   ", "a\u{0}b"] {
        let body =
            problem(app.post("/v1/workflows/nudge/runs", &json!({ "contact_id": contact })).await, 400, "invalid_body")
                .await;
        assert_eq!(body["errors"][0]["pointer"], "/contact_id");
    }
    let long = "x".repeat(257);
    problem(app.post("/v1/workflows/nudge/runs", &json!({ "contact_id": long })).await, 400, "invalid_body").await;
    let huge = format!("{{\"contact_id\": \"ann\", \"data\": {{\"x\": \"{}\"}}}}", "x".repeat(1_100_000));
    let r = app.raw(Method::POST, "/v1/workflows/nudge/runs", huge.into_bytes(), "application/json", Some(KEY)).await;
    problem(r, 413, "body_too_large").await;
    let r = app
        .raw(
            Method::POST,
            "/v1/workflows/nudge/runs",
            b"contact_id=ann".to_vec(),
            "application/x-www-form-urlencoded",
            Some(KEY),
        )
        .await;
    problem(r, 415, "unsupported_media_type").await;
    // Nothing was started by any of them.
    let runs = json(app.get("/v1/runs").await, 200).await;
    assert!(ids(&runs).is_empty());
    // `null` attributes and data are the same as none.
    json(
        app.post("/v1/workflows/nudge/runs", &json!({ "contact_id": "ann", "attributes": null, "data": null })).await,
        201,
    )
    .await;
}

#[tokio::test]
async fn a_cancelled_run_sends_nothing_more() {
    let app = TestApp::spawn().await;
    publish(&app, &nudge("always")).await;
    let ann = json!({ "contact_id": "ann", "attributes": { "phone": "+15550100" } });
    let run = json(app.post("/v1/workflows/nudge/runs", &ann).await, 201).await;
    let id = run["id"].as_str().unwrap().to_string();
    app.advance(TimeDelta::hours(1)).await;

    let cancelled = json(app.post(&format!("/v1/runs/{id}/cancel"), &json!({})).await, 200).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["node"], "wait_a_day");
    assert_eq!(cancelled["ended_at"], "2026-03-02T11:00:00Z");
    assert_eq!(cancelled["wait"], Value::Null);
    // Cancelling again changes nothing.
    let again = json(app.post(&format!("/v1/runs/{id}/cancel"), &json!({})).await, 200).await;
    assert_eq!(again["ended_at"], "2026-03-02T11:00:00Z");

    app.advance(TimeDelta::days(2)).await;
    let run = json(app.get(&format!("/v1/runs/{id}")).await, 200).await;
    assert_eq!(run["status"], "cancelled");
    let timeline = run["timeline"].as_array().unwrap();
    let last = timeline.last().unwrap();
    assert_eq!((last["type"].as_str(), last["reason"]["kind"].as_str()), (Some("exited"), Some("cancelled")));
    assert!(timeline.iter().all(|e| e["type"] != "sent" && e["node"] != "is_pro"), "{timeline:?}");

    // A completed run cannot be cancelled; an unknown one is 404.
    let done = json(app.post("/v1/workflows/nudge/runs", &ann).await, 201).await;
    app.advance(TimeDelta::days(1)).await;
    let body = problem(
        app.post(&format!("/v1/runs/{}/cancel", done["id"].as_str().unwrap()), &json!({})).await,
        409,
        "run_ended",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("completed"), "{body}");
    problem(app.post("/v1/runs/nope/cancel", &json!({})).await, 404, "not_found").await;
}

#[tokio::test]
async fn runs_are_listed_filtered_and_paginated() {
    let app = TestApp::spawn().await;
    publish(&app, &nudge("always")).await;
    let mut started = Vec::new();
    for contact in ["ann", "bob", "cat", "ann"] {
        let run = json(app.post("/v1/workflows/nudge/runs", &json!({ "contact_id": contact })).await, 201).await;
        started.push(run["id"].as_str().unwrap().to_string());
    }
    json(app.post(&format!("/v1/runs/{}/cancel", started[2]), &json!({})).await, 200).await;

    // Pages of two, in start order.
    let first = json(app.get("/v1/runs?limit=2").await, 200).await;
    assert_eq!(ids(&first), started[..2]);
    assert_eq!(first["next"], started[1].as_str());
    let second = json(app.get(&format!("/v1/runs?limit=2&after={}", started[1])).await, 200).await;
    assert_eq!(ids(&second), started[2..]);
    assert_eq!(second["next"], Value::Null);

    // Filters.
    let ann = json(app.get("/v1/runs?contact=ann").await, 200).await;
    assert_eq!(ids(&ann), [started[0].clone(), started[3].clone()]);
    let cancelled = json(app.get("/v1/runs?status=cancelled").await, 200).await;
    assert_eq!(ids(&cancelled), [started[2].clone()]);
    let waiting = json(app.get("/v1/runs?workflow=nudge&status=waiting&node=wait_a_day").await, 200).await;
    assert_eq!(waiting["data"].as_array().unwrap().len(), 3);
    assert!(ids(&json(app.get("/v1/runs?workflow=other").await, 200).await).is_empty());
    assert!(ids(&json(app.get("/v1/runs?node=is_pro").await, 200).await).is_empty());

    // A contact's runs.
    let page = json(app.get("/v1/contacts/ann/runs?limit=1").await, 200).await;
    assert_eq!(ids(&page), [started[0].clone()]);
    let page = json(app.get(&format!("/v1/contacts/ann/runs?after={}", started[0])).await, 200).await;
    assert_eq!((ids(&page), &page["next"]), (vec![started[3].clone()], &Value::Null));
    let page = json(app.get("/v1/contacts/cat/runs?status=cancelled&workflow=nudge").await, 200).await;
    assert_eq!(ids(&page), [started[2].clone()]);
    problem(app.get("/v1/contacts/nobody/runs").await, 404, "not_found").await;

    for query in ["limit=0", "limit=501", "limit=x", "status=sleeping", "colour=red", "limit=2.5"] {
        problem(app.get(&format!("/v1/runs?{query}")).await, 400, "invalid_query").await;
        problem(app.get(&format!("/v1/contacts/ann/runs?{query}")).await, 400, "invalid_query").await;
    }
    problem(app.get("/v1/contacts/ann/runs?node=wait_a_day").await, 400, "invalid_query").await;
}

#[tokio::test]
async fn run_routes_need_a_key_and_known_ids() {
    let app = TestApp::spawn().await;
    problem(app.get("/v1/runs/nope").await, 404, "not_found").await;
    for (method, path) in [
        (Method::GET, "/v1/runs"),
        (Method::GET, "/v1/runs/nope"),
        (Method::POST, "/v1/runs/nope/cancel"),
        (Method::POST, "/v1/workflows/nudge/runs"),
        (Method::GET, "/v1/contacts/ann/runs"),
    ] {
        problem(app.raw(method.clone(), path, b"{}".to_vec(), "application/json", None).await, 401, "unauthorized")
            .await;
        problem(app.raw(method, path, b"{}".to_vec(), "application/json", Some("wrong")).await, 401, "invalid_api_key")
            .await;
    }
    problem(app.delete("/v1/runs/nope").await, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn runs_of_a_deleted_contact_still_read() {
    let app = TestApp::spawn().await;
    publish(&app, &nudge("always")).await;
    let body = json!({ "contact_id": "ann", "attributes": { "plan": "pro" }, "data": { "order_id": "o-1" } });
    let done = json(app.post("/v1/workflows/nudge/runs", &body).await, 201).await;
    app.advance(TimeDelta::days(1)).await;
    let going = json(app.post("/v1/workflows/nudge/runs", &body).await, 201).await;
    // Through the store: the contacts routes are another family.
    let now = app.scheduler.now();
    app.scheduler
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { kairos_engine::store::delete_contact(tx, "ann", now).await }))
        .await
        .unwrap();

    // Personal data is erased (trigger data, decision values), but both runs still read.
    let run = json(app.get(&format!("/v1/runs/{}", done["id"].as_str().unwrap())).await, 200).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["trigger"]["properties"], json!({}));
    let decision = run["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "decision").unwrap();
    assert_eq!(decision["node"], "is_pro");
    assert_eq!(decision["compared"], json!([]), "the compared values are erased: {decision}");
    let run = json(app.get(&format!("/v1/runs/{}", going["id"].as_str().unwrap())).await, 200).await;
    assert_eq!(run["status"], "cancelled");
    let kinds: Vec<&str> = run["timeline"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["entered", "node_entered", "waiting_until", "exited"]);
    let page = json(app.get("/v1/contacts/ann/runs").await, 200).await;
    assert_eq!(ids(&page), [done["id"].as_str().unwrap(), going["id"].as_str().unwrap()]);
}
