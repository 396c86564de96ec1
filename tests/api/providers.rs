//! `/v1/providers`: configured through the API, checked field by field, never returning
//! secrets; send nodes that name a provider are checked at publish; a provider in use
//! cannot be removed; a new default provider takes the channel's messages at once.

use crate::helpers::{TestApp, json, problem};
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

fn journey(provider: Option<&str>, url: &str) -> Value {
    let mut send = json!({ "id": "notify", "type": "send",
        "message": { "channel": "webhook", "url": url, "body": { "contact": "{{contact.id}}" } }, "next": "done" });
    if let Some(p) = provider {
        send["provider"] = json!(p);
    }
    json!({ "id": "hook", "name": "Hook", "trigger": { "type": "api", "next": "notify" },
            "nodes": [send, { "id": "done", "type": "exit" }] })
}

/// A receiver on port 0 counting requests.
async fn receiver() -> (String, Arc<Mutex<u32>>, actix_web::dev::ServerHandle) {
    let hits: Arc<Mutex<u32>> = Arc::default();
    let seen = web::Data::from(hits.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new().app_data(seen.clone()).default_service(web::to(|seen: web::Data<Mutex<u32>>| async move {
            *seen.lock().unwrap() += 1;
            HttpResponse::Ok().finish()
        }))
    })
    .workers(1)
    .shutdown_timeout(0)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), hits, handle)
}

#[tokio::test]
async fn providers_are_created_listed_changed_and_removed_with_their_kinds_documented() {
    let app = TestApp::spawn().await;
    let kinds = json(app.get("/v1/provider-kinds").await, 200).await;
    let webhook = kinds["data"].as_array().unwrap().iter().find(|k| k["kind"] == "webhook").unwrap().clone();
    assert_eq!(webhook["channel"], "webhook");
    assert!(webhook["settings_schema"].is_object() && webhook["secrets_schema"].is_object());

    let created = json(
        app.post(
            "/v1/providers",
            &json!({ "id": "hooks", "name": "Hooks", "kind": "webhook", "default": true,
                                            "rate_limit": { "per_second": 50.0, "burst": 10 } }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["channel"], "webhook");
    assert_eq!(created["default"], true);
    assert_eq!(created["guarantee"], "at_least_once");
    assert_eq!(created["rate_limit"], json!({ "per_second": 50.0, "burst": 10 }));
    problem(
        app.post("/v1/providers", &json!({ "id": "hooks", "name": "Again", "kind": "webhook" })).await,
        409,
        "provider_exists",
    )
    .await;

    let changed = json(
        app.patch(
            "/v1/providers/hooks",
            &json!({ "name": "Team hooks", "guarantee": "at_most_once", "rate_limit": null }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (changed["name"].clone(), changed["guarantee"].clone(), changed["rate_limit"].clone()),
        (json!("Team hooks"), json!("at_most_once"), Value::Null)
    );
    let list = json(app.get("/v1/providers").await, 200).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(json(app.get("/v1/providers/hooks").await, 200).await["name"], "Team hooks");

    assert_eq!(app.delete("/v1/providers/hooks").await.status(), 204);
    problem(app.get("/v1/providers/hooks").await, 404, "not_found").await;
    problem(app.delete("/v1/providers/hooks").await, 404, "not_found").await;
}

#[tokio::test]
async fn bad_provider_configurations_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({ "id": "Bad Id", "name": "x", "kind": "webhook" }), "/id"),
        (json!({ "id": "p", "name": "x", "kind": "carrier_pigeon" }), "/kind"),
        (json!({ "id": "p", "name": " ", "kind": "webhook" }), "/name"),
        (json!({ "id": "p", "name": "x", "kind": "webhook", "settings": { "timeout": 5 } }), "/settings"),
        (json!({ "id": "p", "name": "x", "kind": "webhook", "secrets": { "token": "abc" } }), "/secrets"),
        (
            json!({ "id": "p", "name": "x", "kind": "webhook", "rate_limit": { "per_second": 0, "burst": 1 } }),
            "/rate_limit/per_second",
        ),
        (
            json!({ "id": "p", "name": "x", "kind": "webhook", "rate_limit": { "per_second": 1, "burst": 0 } }),
            "/rate_limit/burst",
        ),
        // Stored as a 32-bit integer: it was cut to 2147483647 without a word (found by schemathesis).
        (
            json!({ "id": "p", "name": "x", "kind": "webhook", "rate_limit": { "per_second": 1, "burst": 2147483648u64 } }),
            "/rate_limit/burst",
        ),
    ];
    for (body, pointer) in cases {
        let p = problem(app.post("/v1/providers", &body).await, 400, "invalid_provider").await;
        let got = p["errors"][0]["pointer"].as_str().unwrap().to_string();
        assert!(got.starts_with(pointer), "{body}: {p}");
        assert!(!p.to_string().contains("abc"), "a secret is echoed: {p}");
    }
    problem(
        app.post("/v1/providers", &json!({ "id": "p", "name": "x", "kind": "webhook", "extra": 1 })).await,
        400,
        "invalid_body",
    )
    .await;
    assert!(json(app.get("/v1/providers").await, 200).await["data"].as_array().unwrap().is_empty(), "nothing stored");
}

#[tokio::test]
async fn publishing_checks_the_providers_send_nodes_name_and_a_provider_in_use_stays() {
    let app = TestApp::spawn().await;
    json(app.post("/v1/workflows", &journey(Some("crm"), "https://hooks.example.com/x")).await, 201).await;
    let p = problem(app.post("/v1/workflows/hook/publish", &json!({})).await, 422, "invalid_workflow").await;
    assert_eq!(p["errors"][0]["pointer"], "/nodes/0/provider", "{p}");
    assert_eq!(p["errors"][0]["node"], "notify");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("no provider `crm`"), "{p}");

    json(app.post("/v1/providers", &json!({ "id": "crm", "name": "CRM", "kind": "webhook" })).await, 201).await;
    json(app.post("/v1/workflows/hook/publish", &json!({})).await, 201).await;
    let p = problem(app.delete("/v1/providers/crm").await, 409, "provider_in_use").await;
    assert!(p["detail"].as_str().unwrap().contains("hook v1"), "{p}");
    // Paused, the version is no longer live, but a message for the provider is queued.
    json(app.post("/v1/workflows/hook/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    assert_eq!(app.post("/v1/workflows/hook/pause", &json!({})).await.status(), 200);
    let p = problem(app.delete("/v1/providers/crm").await, 409, "provider_in_use").await;
    assert!(p["detail"].as_str().unwrap().contains("1 message(s) queued"), "{p}");
    assert_eq!(json(app.get("/v1/providers/crm").await, 200).await["id"], "crm", "still there");
}

#[tokio::test]
async fn a_new_default_provider_takes_its_channels_messages_at_once() {
    let app = TestApp::spawn().await;
    let (url, hits, server) = receiver().await;
    json(app.post("/v1/workflows", &journey(None, &url)).await, 201).await;
    json(app.post("/v1/workflows/hook/publish", &json!({})).await, 201).await;

    // No provider: the webhook goes to the built-in inbox.
    json(app.post("/v1/workflows/hook/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    app.tick().await;
    assert_eq!(*hits.lock().unwrap(), 0);
    assert_eq!(json(app.get("/v1/messages").await, 200).await["data"].as_array().unwrap().len(), 1);

    // A default webhook provider: the next one is sent over HTTP.
    json(
        app.post("/v1/providers", &json!({ "id": "hooks", "name": "Hooks", "kind": "webhook", "default": true })).await,
        201,
    )
    .await;
    json(app.post("/v1/workflows/hook/runs", &json!({ "contact_id": "bob" })).await, 201).await;
    app.tick().await;
    assert_eq!(*hits.lock().unwrap(), 1);
    let sent = json(app.get("/v1/outbox?status=sent").await, 200).await;
    assert_eq!(sent["data"].as_array().unwrap().len(), 2);
    server.stop(false).await;
}

#[tokio::test]
async fn an_email_providers_secret_is_write_only_and_kept_when_other_fields_change() {
    let app = TestApp::spawn().await;
    let token = "pm-secret-0123456789";
    let created = json(
        app.post(
            "/v1/providers",
            &json!({ "id": "postmark", "name": "Postmark", "kind": "postmark", "default": true,
                                            "settings": { "from": "Acme <news@acme.example>" },
                                            "secrets": { "server_token": token } }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!((created["channel"].clone(), created["secrets_set"].clone()), (json!("email"), json!(["server_token"])));
    for body in [
        created.to_string(),
        app.get("/v1/providers").await.text().await.unwrap(),
        app.get("/v1/providers/postmark").await.text().await.unwrap(),
    ] {
        assert!(!body.contains(token), "a secret came back: {body}");
    }
    // Changing the settings keeps the stored token; a missing required secret is refused by field.
    let changed =
        json(app.patch("/v1/providers/postmark", &json!({ "settings": { "from": "news@acme.example" } })).await, 200)
            .await;
    assert_eq!(changed["secrets_set"], json!(["server_token"]));
    let p = problem(
        app.patch("/v1/providers/postmark", &json!({ "secrets": { "server_token": null } })).await,
        400,
        "invalid_provider",
    )
    .await;
    assert!(p["errors"][0]["pointer"].as_str().unwrap().starts_with("/secrets"), "{p}");
    let p = problem(
        app.post("/v1/providers", &json!({ "id": "pm2", "name": "x", "kind": "postmark", "settings": {}, "secrets": { "server_token": "t" } }))
            .await,
        400,
        "invalid_provider",
    )
    .await;
    assert!(p["errors"][0]["pointer"].as_str().unwrap().starts_with("/settings"), "{p}");
    // Every built kind is offered, each with its channel.
    let kinds = json(app.get("/v1/provider-kinds").await, 200).await;
    let names: Vec<(String, String)> = kinds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kind"].as_str().unwrap().to_string(), k["channel"].as_str().unwrap().to_string()))
        .collect();
    for (kind, channel) in [
        ("smtp", "email"),
        ("postmark", "email"),
        ("resend", "email"),
        ("sendgrid", "email"),
        ("twilio", "sms"),
        ("vonage", "sms"),
        ("fcm", "push"),
        ("slack", "slack"),
        ("webhook", "webhook"),
    ] {
        assert!(names.contains(&(kind.to_string(), channel.to_string())), "{kind}: {names:?}");
    }
}
