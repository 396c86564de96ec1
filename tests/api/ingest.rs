//! Segment-compatible ingestion: `/v1/identify`, `/v1/track`, `/v1/batch`.

use crate::helpers::{KEY, TestApp, example, json, problem};
use chrono::TimeDelta;
use kairos_engine::store::{self, RunFilter};
use reqwest::Method;
use serde_json::{Value, json};

/// Publish a journey straight through the store (the workflow routes are not used here)
/// and make it live.
pub async fn publish(app: &TestApp, definition: Value) {
    let journey = kairos_engine::validate(&definition.to_string()).expect("the journey is valid");
    let wf = journey.workflow().clone();
    let canonical = wf.to_canonical();
    let draft: Value = serde_json::from_str(&canonical).unwrap();
    let now = app.scheduler.now();
    app.scheduler
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                store::create_workflow(tx, &wf.id, &wf.name, &draft, now).await?;
                store::publish(tx, &wf.id, &canonical, now).await
            })
        })
        .await
        .unwrap()
        .expect("the workflow exists");
    app.scheduler.reload_live().await.unwrap();
}

/// A journey that answers every `ping` with an SMS at once, as often as it comes.
pub fn ping_journey() -> Value {
    json!({
        "$schema": "./schema.json",
        "id": "ping-reply",
        "name": "Ping reply",
        "trigger": { "type": "event", "event": "ping", "next": "reply" },
        "settings": { "reentry": "always" },
        "nodes": [
            { "id": "reply", "type": "send", "message": { "channel": "sms", "body": "pong {{trigger.properties.n}}" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

/// Runs of a contact, straight from the store.
pub async fn runs_of(app: &TestApp, contact: &str) -> Vec<kairos_engine::run::Run> {
    let filter = RunFilter { contact: Some(contact.into()), limit: 100, ..Default::default() };
    store::list_runs(app.scheduler.store().reader(), &filter).await.unwrap().into_iter().map(|s| s.run).collect()
}

async fn messages_of(app: &TestApp, contact: &str) -> Vec<Value> {
    let page = json(app.get(&format!("/v1/messages?contact={contact}")).await, 200).await;
    page["data"].as_array().unwrap().clone()
}

// ----- identify -----

#[tokio::test]
async fn identify_creates_merges_and_removes_traits() {
    let app = TestApp::spawn().await;
    let body = json(
        app.post(
            "/v1/identify",
            &json!({
                "type": "identify",
                "userId": "ann",
                "traits": { "email": "ann@example.com", "plan": "free", "lifecycle_stage": "lead" },
                "messageId": "m-1",
                "timestamp": "2026-03-02T09:59:00Z",
                // Segment's common fields are accepted and ignored.
                "anonymousId": "anon-1",
                "context": { "ip": "203.0.113.7", "library": { "name": "analytics.js" } },
                "integrations": { "All": true },
                "sentAt": "2026-03-02T09:59:01Z",
                "receivedAt": "2026-03-02T09:59:02Z",
                "originalTimestamp": "2026-03-02T09:59:00Z",
                "channel": "server",
                "version": 2,
                "writeKey": "wk"
            }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["created"], true);
    assert_eq!(body["contact"]["id"], "ann");
    assert_eq!(
        body["contact"]["attributes"],
        json!({ "email": "ann@example.com", "plan": "free", "lifecycle_stage": "lead" })
    );
    assert_eq!(body["contact"]["lifecycle_stage"], "lead");
    assert_eq!(body["contact"]["created_at"], "2026-03-02T10:00:00Z");

    app.clock.advance(TimeDelta::minutes(5));
    let body = json(
        app.post(
            "/v1/identify",
            &json!({ "userId": "ann", "traits": { "plan": "pro", "email": null, "first_name": "Ann" } }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["created"], false);
    let expected = json!({ "plan": "pro", "first_name": "Ann", "lifecycle_stage": "lead" });
    assert_eq!(body["contact"]["attributes"], expected, "merged, and `null` removed `email`");
    assert_eq!(body["contact"]["created_at"], "2026-03-02T10:00:00Z");
    assert_eq!(body["contact"]["updated_at"], "2026-03-02T10:05:00Z");

    let stored = json(app.get("/v1/contacts/ann").await, 200).await;
    assert_eq!(stored["attributes"], expected);

    // Segment allows numeric user ids: they become text.
    let body = json(app.post("/v1/identify", &json!({ "userId": 42, "traits": {} })).await, 200).await;
    assert_eq!(body["contact"]["id"], "42");
    json(app.get("/v1/contacts/42").await, 200).await;
}

#[tokio::test]
async fn identify_rejects_bad_input_naming_the_field() {
    let app = TestApp::spawn().await;
    let body = problem(
        app.post("/v1/identify", &json!({ "anonymousId": "anon-1", "traits": {} })).await,
        400,
        "user_id_required",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/userId");
    assert!(body["detail"].as_str().unwrap().contains("anonymousId"), "{body}");

    let body = problem(app.post("/v1/identify", &json!({ "userId": "" })).await, 400, "invalid_user_id").await;
    assert_eq!(body["errors"][0]["pointer"], "/userId");
    problem(app.post("/v1/identify", &json!({ "userId": "x".repeat(201) })).await, 400, "invalid_user_id").await;
    problem(app.post("/v1/identify", &json!({ "userId": true })).await, 400, "invalid_user_id").await;

    // Every problem is reported at once; the code is the first one's.
    let body = problem(
        app.post("/v1/identify", &json!({ "userId": "ann", "traits": "vip", "timestamp": "yesterday" })).await,
        400,
        "invalid_traits",
    )
    .await;
    let pointers: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/traits", "/timestamp"]);
    assert_eq!(body["errors"][1]["code"], "invalid_timestamp");

    problem(app.post("/v1/identify", &json!({ "type": "track", "userId": "ann" })).await, 400, "type_mismatch").await;
    problem(app.post("/v1/identify", &json!({ "userId": "ann", "messageId": 7 })).await, 400, "invalid_message_id")
        .await;

    let body =
        problem(app.post("/v1/identify", &json!({ "userId": "ann", "favourite": 1 })).await, 400, "invalid_body").await;
    assert!(body["detail"].as_str().unwrap().contains("`favourite`"), "{body}");

    // Nothing was stored by any of these.
    let list = json(app.get("/v1/contacts").await, 200).await;
    assert_eq!(list["data"], json!([]));
}

// ----- track -----

#[tokio::test]
async fn track_deduplicates_by_message_id() {
    let app = TestApp::spawn().await;
    publish(&app, ping_journey()).await;
    json(app.post("/v1/identify", &json!({ "userId": "ann", "traits": { "phone": "+15550100" } })).await, 200).await;

    let ping = json!({ "userId": "ann", "event": "ping", "properties": { "n": 1 }, "messageId": "m-1" });
    let first = json(app.post("/v1/track", &ping).await, 200).await;
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["started_runs"].as_array().unwrap().len(), 1);
    let second = json(app.post("/v1/track", &ping).await, 200).await;
    assert_eq!(second, json!({ "duplicate": true, "started_runs": [], "delivered_to": 0 }));

    // Another message id is another event (the journey re-enters every time).
    let other = json!({ "userId": "ann", "event": "ping", "properties": { "n": 2 }, "messageId": "m-2" });
    assert_eq!(json(app.post("/v1/track", &other).await, 200).await["duplicate"], false);

    app.tick().await;
    assert_eq!(runs_of(&app, "ann").await.len(), 2, "the retried event started nothing");
    let bodies: Vec<Value> = messages_of(&app, "ann").await.iter().map(|m| m["message"]["body"].clone()).collect();
    assert_eq!(bodies, [json!("pong 1"), json!("pong 2")]);
}

#[tokio::test]
async fn track_starts_a_run_whose_message_appears_after_an_hour() {
    let app = TestApp::spawn().await;
    publish(&app, example("abandoned-cart")).await;
    json(app.post("/v1/identify", &json!({ "userId": "ann", "traits": { "email": "ann@example.com" } })).await, 200)
        .await;
    let body = json(
        app.post(
            "/v1/track",
            &json!({ "type": "track", "userId": "ann", "event": "cart_updated",
                     "properties": { "cart_id": "c-1", "item_count": 2 }, "messageId": "e-1" }),
        )
        .await,
        200,
    )
    .await;
    let runs = body["started_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run_id = runs[0].as_str().unwrap().to_string();
    assert_eq!(body["delivered_to"], 0);

    app.advance(TimeDelta::minutes(59)).await;
    assert!(messages_of(&app, "ann").await.is_empty(), "nothing before the hour");
    app.advance(TimeDelta::minutes(1)).await;
    let messages = messages_of(&app, "ann").await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m["run_id"], run_id);
    assert_eq!(m["workflow_id"], "abandoned-cart");
    assert_eq!(m["contact_id"], "ann");
    assert_eq!(m["node"], "send_reminder");
    assert_eq!(m["channel"], "email");
    assert_eq!(m["key"], format!("{run_id}:send_reminder:1"));
    assert_eq!(m["message"]["to"], "ann@example.com");
    assert!(m["message"]["body"].as_str().unwrap().contains("2 item(s)"));
    assert_eq!(m["created_at"], "2026-03-02T11:00:00Z");

    // The same message through the run filter; another run's filter is empty.
    let by_run = json(app.get(&format!("/v1/messages?run={run_id}")).await, 200).await;
    assert_eq!(by_run["data"].as_array().unwrap().len(), 1);
    let none = json(app.get("/v1/messages?run=nope").await, 200).await;
    assert_eq!(none, json!({ "data": [], "next": null }));

    // The order is delivered to the waiting run, which ends.
    let body = json(
        app.post(
            "/v1/track",
            &json!({ "userId": "ann", "event": "order_completed", "properties": { "cart_id": "c-1" } }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body, json!({ "duplicate": false, "started_runs": [], "delivered_to": 1 }));
    let runs = runs_of(&app, "ann").await;
    assert!(runs[0].status.is_ended(), "{:?}", runs[0].status);
}

#[tokio::test]
async fn track_creates_an_unknown_contact_and_defaults_the_time() {
    let app = TestApp::spawn().await;
    json(app.post("/v1/track", &json!({ "userId": "zed", "event": "visited" })).await, 200).await;
    let contact = json(app.get("/v1/contacts/zed").await, 200).await;
    assert_eq!(contact["attributes"], json!({}));
}

#[tokio::test]
async fn track_rejects_bad_input_naming_the_field() {
    let app = TestApp::spawn().await;
    problem(app.post("/v1/track", &json!({ "event": "ping" })).await, 400, "user_id_required").await;
    let body = problem(app.post("/v1/track", &json!({ "userId": "ann" })).await, 400, "event_required").await;
    assert_eq!(body["errors"][0]["pointer"], "/event");
    problem(app.post("/v1/track", &json!({ "userId": "ann", "event": "" })).await, 400, "invalid_event").await;
    problem(app.post("/v1/track", &json!({ "userId": "ann", "event": "e".repeat(201) })).await, 400, "invalid_event")
        .await;
    problem(app.post("/v1/track", &json!({ "userId": "ann", "event": 5 })).await, 400, "invalid_event").await;
    let body = problem(
        app.post("/v1/track", &json!({ "userId": "ann", "event": "ping", "properties": [1] })).await,
        400,
        "invalid_properties",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/properties");
    problem(
        app.post("/v1/track", &json!({ "userId": "ann", "event": "ping", "timestamp": "2026-13-01" })).await,
        400,
        "invalid_timestamp",
    )
    .await;
    problem(
        app.post("/v1/track", &json!({ "type": "identify", "userId": "ann", "event": "ping" })).await,
        400,
        "type_mismatch",
    )
    .await;
    let body = problem(
        app.post("/v1/track", &json!({ "userId": "ann", "event": "ping", "traits": {} })).await,
        400,
        "invalid_body",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("`traits`"), "{body}");
    assert!(runs_of(&app, "ann").await.is_empty());
}

// ----- batch -----

#[tokio::test]
async fn batch_ingests_valid_calls_and_rejects_invalid_ones_with_their_pointer() {
    let app = TestApp::spawn().await;
    publish(&app, example("abandoned-cart")).await;
    let body = json(
        app.post(
            "/v1/batch",
            &json!({
                "batch": [
                    { "type": "identify", "userId": "bob", "traits": { "email": "bob@example.com" } },
                    { "type": "track", "userId": "bob", "event": "cart_updated", "messageId": "b-1",
                      "properties": { "cart_id": "c-9", "item_count": 1 } },
                    { "type": "track", "anonymousId": "anon-3", "event": "cart_updated" },
                    { "type": "page", "userId": "bob", "name": "Home" },
                    { "type": "identify", "userId": "cy", "favourite": "tea" },
                    { "type": "track", "userId": "bob", "event": "cart_updated", "messageId": "b-1",
                      "properties": { "cart_id": "c-9", "item_count": 1 } },
                    "not an object",
                    { "type": "identify", "userId": 7, "traits": { "plan": "pro" } }
                ],
                "context": { "library": { "name": "analytics-node" } },
                "sentAt": "2026-03-02T10:00:00Z"
            }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["accepted"], 3, "{body}");
    assert_eq!(body["duplicates"], 1, "{body}");
    assert_eq!(body["rejected"], 4, "{body}");
    let results = body["results"].as_array().unwrap();
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        ["accepted", "accepted", "rejected", "rejected", "rejected", "duplicate", "rejected", "accepted"]
    );
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i);
    }
    assert_eq!(results[1]["started_runs"].as_array().unwrap().len(), 1);
    assert_eq!(results[2]["error"]["pointer"], "/batch/2/userId");
    assert_eq!(results[2]["error"]["code"], "user_id_required");
    assert_eq!(results[3]["error"]["pointer"], "/batch/3/type");
    assert_eq!(results[3]["error"]["code"], "unsupported_type");
    assert_eq!(results[4]["error"]["pointer"], "/batch/4/favourite");
    assert_eq!(results[4]["error"]["code"], "unknown_field");
    assert_eq!(results[6]["error"]["pointer"], "/batch/6");
    assert!(results[0].get("error").is_none());

    // Rejected calls stored nothing; accepted ones did.
    problem(app.get("/v1/contacts/cy").await, 404, "not_found").await;
    assert_eq!(json(app.get("/v1/contacts/7").await, 200).await["attributes"]["plan"], "pro");
    assert_eq!(runs_of(&app, "bob").await.len(), 1, "the duplicate started nothing");

    // The track saw the traits identified before it in the same batch.
    app.advance(TimeDelta::hours(1)).await;
    let messages = messages_of(&app, "bob").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["message"]["to"], "bob@example.com");
}

#[tokio::test]
async fn batch_size_is_checked() {
    let app = TestApp::spawn().await;
    let item = json!({ "type": "identify", "userId": "u" });
    let body =
        problem(app.post("/v1/batch", &json!({ "batch": vec![item.clone(); 1001] })).await, 413, "batch_too_large")
            .await;
    assert!(body["detail"].as_str().unwrap().contains("1001"), "{body}");
    problem(app.post("/v1/batch", &json!({ "batch": [] })).await, 400, "empty_batch").await;
    problem(app.post("/v1/batch", &json!({})).await, 400, "batch_required").await;
    let body =
        problem(app.post("/v1/batch", &json!({ "batch": { "type": "identify" } })).await, 400, "invalid_batch").await;
    assert_eq!(body["errors"][0]["pointer"], "/batch");
    problem(app.post("/v1/batch", &json!({ "batch": [item], "metadata": 1 })).await, 400, "invalid_body").await;
    assert_eq!(json(app.get("/v1/contacts").await, 200).await["data"], json!([]), "nothing was stored");

    // Exactly 1000 calls are fine, and all land.
    let items: Vec<Value> = (0..1000).map(|i| json!({ "type": "identify", "userId": format!("u{i:04}") })).collect();
    let body = json(app.post("/v1/batch", &json!({ "batch": items })).await, 200).await;
    assert_eq!(body["accepted"], 1000);
    let page = json(app.get("/v1/contacts?limit=500&after=u0499").await, 200).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 500);
    assert_eq!(page["next"], Value::Null);
}

// ----- bad requests on every ingestion route -----

#[tokio::test]
async fn ingestion_routes_answer_bad_requests_with_problems() {
    let app = TestApp::spawn().await;
    for path in ["/v1/identify", "/v1/track", "/v1/batch"] {
        let r = app.raw(Method::POST, path, b"{\"userId\": ".to_vec(), "application/json", Some(KEY)).await;
        problem(r, 400, "malformed_json").await;
        let r = app.raw(Method::POST, path, b"[1, 2]".to_vec(), "application/json", Some(KEY)).await;
        problem(r, 400, "invalid_body").await;
        let r = app.raw(Method::POST, path, b"{}".to_vec(), "text/plain", Some(KEY)).await;
        problem(r, 415, "unsupported_media_type").await;
        let huge = format!("{{\"userId\": \"{}\"}}", "x".repeat(1 << 20));
        let r = app.raw(Method::POST, path, huge.into_bytes(), "application/json", Some(KEY)).await;
        problem(r, 413, "body_too_large").await;
        let r = app.raw(Method::POST, path, b"{}".to_vec(), "application/json", None).await;
        problem(r, 401, "unauthorized").await;
        let r = app.raw(Method::POST, path, b"{}".to_vec(), "application/json", Some("not-a-key")).await;
        problem(r, 401, "invalid_api_key").await;
        let r = app.get(path).await;
        problem(r, 405, "method_not_allowed").await;
    }
    // Wrong types name the field.
    let body = problem(app.post("/v1/identify", &json!({ "userId": ["a"] })).await, 400, "invalid_user_id").await;
    assert!(body["detail"].as_str().unwrap().contains("userId"), "{body}");
    let body = problem(app.post("/v1/batch", &json!({ "batch": "all" })).await, 400, "invalid_batch").await;
    assert!(body["detail"].as_str().unwrap().contains("batch"), "{body}");
}

#[tokio::test]
async fn ingestion_is_documented_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let doc: Value =
        app.client.get(format!("{}/openapi.json", app.address)).send().await.unwrap().json().await.unwrap();
    for path in ["/v1/identify", "/v1/track", "/v1/batch"] {
        let op = &doc["paths"][path]["post"];
        for status in ["200", "400", "401", "413", "415", "500"] {
            assert!(op["responses"][status].is_object(), "{path} documents {status}");
        }
    }
    let track = &doc["components"]["schemas"]["TrackRequest"];
    let required: Vec<&str> = track["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(required.contains(&"userId") && required.contains(&"event"), "{track}");
    assert!(doc["components"]["schemas"]["BatchResponse"].is_object());
}
