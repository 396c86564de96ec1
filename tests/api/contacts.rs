//! Contacts (`/v1/contacts`) and the inbox (`/v1/messages`).

use crate::helpers::{KEY, TestApp, example, json, problem};
use crate::ingest::{ping_journey, publish, runs_of};
use chrono::TimeDelta;
use kairos_engine::run::Status;
use kairos_engine::store;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn put_creates_then_replaces_attributes_and_tags() {
    let app = TestApp::spawn().await;
    let body = json(
        app.put(
            "/v1/contacts/ann",
            &json!({ "attributes": { "email": "ann@example.com", "plan": "free" }, "tags": ["vip", "beta", "vip"] }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(body["id"], "ann");
    assert_eq!(body["attributes"], json!({ "email": "ann@example.com", "plan": "free" }));
    assert_eq!(body["tags"], json!(["beta", "vip"]), "sorted and unique");
    assert_eq!(body["lifecycle_stage"], Value::Null);
    assert_eq!(body["created_at"], "2026-03-02T10:00:00Z");

    app.clock.advance(TimeDelta::hours(1));
    let body = json(
        app.put(
            "/v1/contacts/ann",
            &json!({ "attributes": { "plan": "pro", "lifecycle_stage": "customer", "gone": null } }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["attributes"], json!({ "plan": "pro", "lifecycle_stage": "customer" }), "replaced, not merged");
    assert_eq!(body["tags"], json!([]), "tags left out are removed");
    assert_eq!(body["lifecycle_stage"], "customer");
    assert_eq!(body["created_at"], "2026-03-02T10:00:00Z");
    assert_eq!(body["updated_at"], "2026-03-02T11:00:00Z");
    assert_eq!(json(app.get("/v1/contacts/ann").await, 200).await, body);

    // An empty body clears the contact.
    let body = json(app.put("/v1/contacts/ann", &json!({})).await, 200).await;
    assert_eq!(body["attributes"], json!({}));
}

#[tokio::test]
async fn patch_merges_and_creates_a_missing_contact() {
    let app = TestApp::spawn().await;
    let body =
        json(app.patch("/v1/contacts/bob", &json!({ "attributes": { "a": 1, "b": 2 }, "tags": ["x"] })).await, 201)
            .await;
    assert_eq!(body["attributes"], json!({ "a": 1, "b": 2 }));

    let body =
        json(app.patch("/v1/contacts/bob", &json!({ "attributes": { "a": null, "c": { "d": true } } })).await, 200)
            .await;
    assert_eq!(body["attributes"], json!({ "b": 2, "c": { "d": true } }), "merged; `null` removed `a`");
    assert_eq!(body["tags"], json!(["x"]), "tags kept when left out");

    let body = json(app.patch("/v1/contacts/bob", &json!({ "tags": ["y", "z"] })).await, 200).await;
    assert_eq!(body["tags"], json!(["y", "z"]), "tags given replace the set");
    assert_eq!(body["attributes"], json!({ "b": 2, "c": { "d": true } }));

    // merge-patch+json is JSON too.
    let r = app
        .raw(
            Method::PATCH,
            "/v1/contacts/bob",
            br#"{"attributes": {"b": 3}}"#.to_vec(),
            "application/merge-patch+json",
            Some(KEY),
        )
        .await;
    assert_eq!(json(r, 200).await["attributes"]["b"], 3);
}

#[tokio::test]
async fn list_pages_through_contacts_by_id() {
    let app = TestApp::spawn().await;
    for id in ["e", "a", "d", "c", "b"] {
        json(app.put(&format!("/v1/contacts/{id}"), &json!({})).await, 201).await;
    }
    let mut seen = Vec::new();
    let mut path = "/v1/contacts?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = json(app.get(&path).await, 200).await;
        pages += 1;
        seen.extend(page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/contacts?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);

    let all = json(app.get("/v1/contacts").await, 200).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 5);
    assert_eq!(all["next"], Value::Null);

    for query in ["limit=0", "limit=501", "limit=-1", "limit=ten", "sort=id"] {
        let body = problem(app.get(&format!("/v1/contacts?{query}")).await, 400, "invalid_query").await;
        assert!(!body["detail"].as_str().unwrap().is_empty());
    }
    let body = problem(app.get("/v1/contacts?sort=id").await, 400, "invalid_query").await;
    assert!(body["detail"].as_str().unwrap().contains("sort"), "{body}");
}

#[tokio::test]
async fn unknown_contacts_are_404() {
    let app = TestApp::spawn().await;
    problem(app.get("/v1/contacts/nobody").await, 404, "not_found").await;
    problem(app.delete("/v1/contacts/nobody").await, 404, "not_found").await;
    let long = "x".repeat(201);
    problem(app.get(&format!("/v1/contacts/{long}")).await, 400, "invalid_contact_id").await;
    problem(app.put(&format!("/v1/contacts/{long}"), &json!({})).await, 400, "invalid_contact_id").await;
    problem(app.get("/v1/contacts/%20").await, 400, "invalid_contact_id").await;
}

#[tokio::test]
async fn delete_erases_the_contact_cancels_its_runs_and_messages() {
    let app = TestApp::spawn().await;
    publish(&app, example("abandoned-cart")).await;
    publish(&app, ping_journey()).await;
    json(
        app.put("/v1/contacts/ann", &json!({ "attributes": { "email": "ann@example.com", "phone": "+15550100" } }))
            .await,
        201,
    )
    .await;
    json(app.put("/v1/contacts/bob", &json!({ "attributes": { "phone": "+15550101" } })).await, 201).await;
    let cart = json!({ "userId": "ann", "event": "cart_updated", "messageId": "c-1",
                       "properties": { "cart_id": "c-1", "item_count": 3 } });
    let started = json(app.post("/v1/track", &cart).await, 200).await;
    let run_id = started["started_runs"][0].as_str().unwrap().to_string();
    json(app.post("/v1/track", &json!({ "userId": "bob", "event": "ping", "properties": { "n": 1 } })).await, 200)
        .await;
    app.advance(TimeDelta::hours(1)).await;

    let ann_messages = json(app.get("/v1/messages?contact=ann").await, 200).await;
    assert_eq!(ann_messages["data"].as_array().unwrap().len(), 1, "the reminder was sent");
    let run = store::get_run(app.scheduler.store().reader(), &run_id).await.unwrap().unwrap().run;
    assert_eq!(run.status, Status::Waiting, "waiting a day for the order");

    let r = app.delete("/v1/contacts/ann").await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());

    problem(app.get("/v1/contacts/ann").await, 404, "not_found").await;
    let left = json(app.get("/v1/messages?contact=ann").await, 200).await;
    assert_eq!(left, json!({ "data": [], "next": null }), "her messages are erased");
    let run = store::get_run(app.scheduler.store().reader(), &run_id).await.unwrap().unwrap().run;
    assert_eq!(run.status, Status::Cancelled);
    assert!(run.trigger.properties.is_empty(), "the run's copy of her event is scrubbed");

    // Nothing more is sent to her when the day is over; bob is untouched.
    app.advance(TimeDelta::days(2)).await;
    assert_eq!(json(app.get("/v1/messages?contact=ann").await, 200).await["data"], json!([]));
    let all = json(app.get("/v1/messages").await, 200).await;
    let contacts: Vec<&str> =
        all["data"].as_array().unwrap().iter().map(|m| m["contact_id"].as_str().unwrap()).collect();
    assert_eq!(contacts, ["bob"]);
    json(app.get("/v1/contacts/bob").await, 200).await;
    assert_eq!(runs_of(&app, "bob").await.len(), 1);

    problem(app.delete("/v1/contacts/ann").await, 404, "not_found").await;

    // A retried event after the erasure is new again (the contact starts over).
    let again = json(app.post("/v1/track", &cart).await, 200).await;
    assert_eq!(again["duplicate"], false);
}

#[tokio::test]
async fn messages_page_by_cursor() {
    let app = TestApp::spawn().await;
    publish(&app, ping_journey()).await;
    json(app.put("/v1/contacts/ann", &json!({ "attributes": { "phone": "+15550100" } })).await, 201).await;
    for n in 1..=5 {
        json(app.post("/v1/track", &json!({ "userId": "ann", "event": "ping", "properties": { "n": n } })).await, 200)
            .await;
    }
    app.tick().await;
    let mut bodies = Vec::new();
    let mut path = "/v1/messages?contact=ann&limit=2".to_string();
    loop {
        let page = json(app.get(&path).await, 200).await;
        for m in page["data"].as_array().unwrap() {
            assert_eq!(m["channel"], "sms");
            assert_eq!(m["message"]["channel"], "sms");
            assert_eq!(m["message"]["to"], "+15550100");
            bodies.push(m["message"]["body"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/messages?contact=ann&limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(bodies, ["pong 1", "pong 2", "pong 3", "pong 4", "pong 5"]);
    for query in ["after=abc", "after=-3", "limit=0", "limit=1000", "contact=ann&page=2"] {
        problem(app.get(&format!("/v1/messages?{query}")).await, 400, "invalid_query").await;
    }
    problem(app.raw(Method::GET, "/v1/messages", vec![], "application/json", None).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn contact_routes_answer_bad_requests_with_problems() {
    let app = TestApp::spawn().await;
    for method in [Method::PUT, Method::PATCH] {
        let send = |body: &'static [u8], content_type: &'static str, key: Option<&'static str>| {
            app.raw(method.clone(), "/v1/contacts/ann", body.to_vec(), content_type, key)
        };
        problem(send(b"{\"attributes\": {", "application/json", Some(KEY)).await, 400, "malformed_json").await;
        problem(send(b"[{}]", "application/json", Some(KEY)).await, 400, "invalid_body").await;
        problem(send(b"{}", "text/plain", Some(KEY)).await, 415, "unsupported_media_type").await;
        problem(send(b"{}", "application/json", None).await, 401, "unauthorized").await;
        problem(send(b"{}", "application/json", Some("nope")).await, 401, "invalid_api_key").await;

        let body =
            problem(send(br#"{"attributes": ["a"]}"#, "application/json", Some(KEY)).await, 400, "invalid_attributes")
                .await;
        assert_eq!(body["errors"][0]["pointer"], "/attributes");
        let body =
            problem(send(br#"{"tags": ["ok", 1, ""]}"#, "application/json", Some(KEY)).await, 400, "invalid_tags")
                .await;
        let pointers: Vec<&str> =
            body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
        assert_eq!(pointers, ["/tags/1", "/tags/2"]);
        problem(send(br#"{"tags": "vip"}"#, "application/json", Some(KEY)).await, 400, "invalid_tags").await;
        let body = problem(
            send(br#"{"attributes": {}, "email": "a@b"}"#, "application/json", Some(KEY)).await,
            400,
            "invalid_body",
        )
        .await;
        assert!(body["detail"].as_str().unwrap().contains("`email`"), "{body}");

        let huge = format!("{{\"attributes\": {{\"blob\": \"{}\"}}}}", "x".repeat(1 << 20));
        let r = app.raw(method.clone(), "/v1/contacts/ann", huge.into_bytes(), "application/json", Some(KEY)).await;
        problem(r, 413, "body_too_large").await;
    }
    for (method, path) in
        [(Method::GET, "/v1/contacts"), (Method::GET, "/v1/contacts/ann"), (Method::DELETE, "/v1/contacts/ann")]
    {
        problem(app.raw(method.clone(), path, vec![], "application/json", None).await, 401, "unauthorized").await;
    }
    problem(app.post("/v1/contacts/ann", &json!({})).await, 405, "method_not_allowed").await;
    problem(app.get("/v1/contacts/ann").await, 404, "not_found").await;
}
