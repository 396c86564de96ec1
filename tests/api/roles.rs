//! `kairos serve --role api|worker|all`: an API process runs no loops, a worker serves only
//! health and metrics and runs the loops. Both share one database.

use crate::helpers::{TestApp, json, problem};
use chrono::TimeDelta;
use kairos::startup::Role;
use serde_json::{Value, json};
use std::time::Duration;

/// A journey that waits a minute, then tags the contact.
fn journey() -> Value {
    json!({"id": "wait-then-tag", "name": "Wait then tag", "trigger": {"type": "api", "next": "wait"},
        "nodes": [
            {"id": "wait", "type": "delay", "duration": "1m", "next": "tag"},
            {"id": "tag", "type": "update_contact", "updates": [{"op": "add_tag", "tag": "done"}], "next": "end"},
            {"id": "end", "type": "exit"}]})
}

/// Start a run, move the clock past its delay, and give the loops (if any) up to 1 s: they
/// wake on the clock's move and step it within milliseconds.
async fn run_past_delay(app: &TestApp) -> Value {
    json(app.post("/v1/workflows", &journey()).await, 201).await;
    json(app.post("/v1/workflows/wait-then-tag/publish", &json!({})).await, 201).await;
    let run = json(app.post("/v1/workflows/wait-then-tag/runs", &json!({"contact_id": "ann"})).await, 201).await;
    app.clock.advance(TimeDelta::minutes(2));
    let id = run["id"].as_str().unwrap().to_string();
    for _ in 0..10 {
        let r = json(app.get(&format!("/v1/runs/{id}")).await, 200).await;
        if r["status"] == "completed" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    json(app.get(&format!("/v1/runs/{id}")).await, 200).await
}

#[tokio::test]
async fn role_all_steps_runs_in_the_background_and_role_api_does_not() {
    let all = TestApp::spawn_with(|s| s.background = true).await;
    assert_eq!(run_past_delay(&all).await["status"], "completed");

    let api = TestApp::spawn_with(|s| {
        s.background = true;
        s.role = Role::Api;
    })
    .await;
    let run = run_past_delay(&api).await;
    assert_eq!(run["status"], "waiting", "an API process steps nothing: {run}");
    // A worker would: here the test steps it by hand, as a worker's loop does.
    api.tick().await;
    let id = run["id"].as_str().unwrap();
    assert_eq!(json(api.get(&format!("/v1/runs/{id}")).await, 200).await["status"], "completed");
}

#[tokio::test]
async fn a_worker_serves_health_and_metrics_only() {
    let worker = TestApp::spawn_with(|s| s.role = Role::Worker).await;
    assert_eq!(worker.get("/healthz").await.status().as_u16(), 200);
    assert_eq!(worker.get("/readyz").await.status().as_u16(), 200);
    assert_eq!(worker.get("/metrics").await.status().as_u16(), 200);
    let body = problem(worker.get("/v1/workflows").await, 404, "not_found").await;
    assert!(body["detail"].as_str().unwrap().contains("--role worker"), "{body}");
}
