//! Archived runs through the API: after the retention sweep moves a finished run out of
//! the hot tables, its detail, timeline, lists, statistics and re-entry answer as before.

use crate::helpers::{TestApp, json, problem};
use chrono::TimeDelta;
use serde_json::json;

#[tokio::test]
async fn an_archived_run_reads_and_counts_as_before() {
    let app = TestApp::spawn().await;
    let journey = json!({
        "id": "welcome", "name": "Welcome", "trigger": { "type": "api", "next": "wait" },
        "settings": { "reentry": "once", "goal": { "type": "event", "event": "purchased" } },
        "nodes": [
            { "id": "wait", "type": "delay", "duration": "1h", "next": "hello" },
            { "id": "hello", "type": "send", "message": { "channel": "email", "subject": "Hi", "body": "<p>Hi</p>" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    json(app.post("/v1/workflows", &journey).await, 201).await;
    json(app.post("/v1/workflows/welcome/publish", &json!({})).await, 201).await;
    let start = json!({ "contact_id": "ann", "attributes": { "email": "ann@example.com" } });
    let run = json(app.post("/v1/workflows/welcome/runs", &start).await, 201).await;
    let id = run["id"].as_str().unwrap().to_string();
    app.advance(TimeDelta::hours(1)).await;

    let paths = [
        format!("/v1/runs/{id}"),
        "/v1/runs?workflow=welcome".to_string(),
        "/v1/contacts/ann/runs".to_string(),
        "/v1/workflows/welcome/stats".to_string(),
    ];
    let mut before = Vec::new();
    for p in &paths {
        before.push(json(app.get(p).await, 200).await);
    }
    assert_eq!(before[0]["status"], "completed");
    assert_eq!(before[0]["timeline"].as_array().unwrap().len(), 7, "{}", before[0]);

    // An hour after it ended, the sweep moves it.
    app.clock.advance(TimeDelta::hours(1));
    assert_eq!(app.scheduler.sweep_runs().await.unwrap().archived, 1);
    let reader = app.scheduler.store().reader();
    let sizes = kairos_engine::store::retention::table_sizes(reader).await.unwrap();
    assert_eq!((sizes.runs, sizes.run_history, sizes.archived_runs), (0, 0, 1));
    for (p, was) in paths.iter().zip(&before) {
        assert_eq!(&json(app.get(p).await, 200).await, was, "{p}");
    }
    // `once`: still refused.
    problem(app.post("/v1/workflows/welcome/runs", &start).await, 409, "reentry_refused").await;
}
