//! Webhook delivery through the server (`deliver_webhooks`, as `kairos serve
//! --deliver-webhooks`): a failing receiver's message is given up, listed by
//! `GET /v1/outbox?status=failed`, counted in the journey's statistics and shown on the
//! run's timeline, secrets redacted.

use crate::helpers::{TestApp, json, problem};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::TimeDelta;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A receiver on port 0 that answers every request with `status` and records the
/// `Idempotency-Key` of each.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<String>>>, actix_web::dev::ServerHandle) {
    let keys: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = web::Data::from(keys.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new().app_data(seen.clone()).default_service(web::to(
            move |req: HttpRequest, seen: web::Data<Mutex<Vec<String>>>| async move {
                let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
                seen.lock().unwrap().push(key.to_string());
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body("try later")
            },
        ))
    })
    .workers(1)
    .shutdown_timeout(0)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), keys, handle)
}

fn hook(url: &str) -> Value {
    json!({
        "id": "hook", "name": "Hook",
        "trigger": { "type": "api", "next": "notify" },
        "nodes": [
            { "id": "notify", "type": "send",
              "message": { "channel": "webhook", "url": url,
                           "headers": { "Authorization": "Bearer s3cret-token" },
                           "body": { "contact": "{{contact.id}}" } },
              "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

async fn publish_and_start(app: &TestApp, url: &str) -> String {
    json(app.post("/v1/workflows", &hook(url)).await, 201).await;
    json(app.post("/v1/workflows/hook/publish", &json!({})).await, 201).await;
    let run = json(app.post("/v1/workflows/hook/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    run["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_webhook_given_up_after_its_attempts_is_listed_as_failed_and_on_the_timeline() {
    let (url, keys, server) = receiver(503).await;
    let app = TestApp::spawn_with(|s| {
        s.deliver_webhooks = true;
        s.webhook.timeout = std::time::Duration::from_secs(2);
        s.scheduler.max_attempts = 2;
    })
    .await;
    let run = publish_and_start(&app, &url).await;

    app.tick().await;
    let pending = json(app.get("/v1/outbox?status=pending").await, 200).await;
    assert_eq!(pending["data"][0]["attempts"], 1, "{pending}");
    assert!(pending["data"][0]["last_error"].as_str().unwrap().contains("503"), "{pending}");
    app.advance(TimeDelta::minutes(5)).await;
    assert_eq!(keys.lock().unwrap().clone(), [format!("{run}:notify:1"), format!("{run}:notify:1")]);

    let failed = json(app.get("/v1/outbox?status=failed").await, 200).await;
    let entry = &failed["data"][0];
    assert_eq!(failed["data"].as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(entry["status"], "failed");
    assert_eq!(entry["channel"], "webhook");
    assert_eq!(entry["run_id"], run.as_str());
    assert_eq!(entry["attempts"], 2);
    assert!(entry["last_error"].as_str().unwrap().contains("503 Service Unavailable: try later"), "{entry}");
    assert_eq!(entry["message"]["headers"]["Authorization"], "[redacted]");
    assert_eq!(json(app.get("/v1/outbox?status=sent").await, 200).await["data"], json!([]));
    assert_eq!(json(app.get("/v1/messages").await, 200).await["data"], json!([]), "not in the inbox");

    let detail = json(app.get(&format!("/v1/runs/{run}")).await, 200).await;
    let timeline = detail["timeline"].as_array().unwrap();
    let failure = timeline.iter().find(|e| e["type"] == "delivery_failed").expect("the failure is on the timeline");
    assert_eq!(failure["node"], "notify");
    assert_eq!(failure["attempts"], 2);
    assert!(failure["error"].as_str().unwrap().contains("503"));
    assert!(!detail.to_string().contains("s3cret"), "{detail}");

    // The journey's statistics count it on its node.
    let stats = json(app.get("/v1/workflows/hook/stats").await, 200).await;
    assert_eq!(stats["nodes"]["notify"]["failed_deliveries"], 1, "{stats}");
    assert_eq!(stats["nodes"]["done"]["failed_deliveries"], 0, "{stats}");
    let v1 = json(app.get("/v1/workflows/hook/stats?version=1").await, 200).await;
    assert_eq!(v1["nodes"]["notify"]["failed_deliveries"], 1, "{v1}");

    // Erasing the contact erases the error (it may quote the receiver about her) and her outbox.
    assert_eq!(app.delete("/v1/contacts/ann").await.status().as_u16(), 204);
    let detail = json(app.get(&format!("/v1/runs/{run}")).await, 200).await;
    let failure = detail["timeline"].as_array().unwrap().iter().find(|e| e["type"] == "delivery_failed").cloned();
    assert_eq!(failure.expect("still on the timeline")["error"], "(erased)");
    assert_eq!(json(app.get("/v1/outbox").await, 200).await["data"], json!([]));

    problem(app.get("/v1/outbox?status=lost").await, 400, "invalid_query").await;
    problem(app.get("/v1/outbox?limit=0").await, 400, "invalid_query").await;
    server.stop(false).await;
}

#[tokio::test]
async fn without_deliver_webhooks_a_webhook_goes_to_the_inbox_with_its_secrets_redacted() {
    let (url, keys, server) = receiver(200).await;
    let app = TestApp::spawn().await;
    publish_and_start(&app, &url).await;
    app.tick().await;
    assert!(keys.lock().unwrap().is_empty(), "no HTTP call");
    let inbox = json(app.get("/v1/messages").await, 200).await;
    assert_eq!(inbox["data"][0]["channel"], "webhook");
    assert_eq!(inbox["data"][0]["message"]["headers"]["Authorization"], "[redacted]");
    let sent = json(app.get("/v1/outbox?status=sent").await, 200).await;
    assert_eq!(sent["data"][0]["status"], "sent");
    assert_eq!(sent["data"][0]["last_error"], Value::Null);
    server.stop(false).await;
}
