//! `/v1/workflows`: drafts, validation, publishing, versions, the life cycle, export and stats.

use crate::helpers::{TestApp, example, json, problem};
use chrono::TimeDelta;
use kairos_engine::Event;
use kairos_engine::scheduler::Incoming;
use reqwest::Method;
use serde_json::{Value, json};

/// A small `api`-triggered journey with three problems: a bad duration, a port to a
/// node that does not exist, and a node nothing leads to.
fn broken_welcome() -> Value {
    json!({
        "id": "welcome-api",
        "name": "Welcome",
        "trigger": { "type": "api", "next": "send_welcome" },
        "nodes": [
            { "id": "send_welcome", "type": "send",
              "message": { "channel": "email", "subject": "Hi {{contact.first_name}}", "body": "<p>Hi</p>" },
              "next": "wait_a_bit" },
            { "id": "wait_a_bit", "type": "delay", "duration": "soon", "next": "donee" },
            { "id": "done", "type": "exit" }
        ]
    })
}

fn fixed_welcome() -> Value {
    let mut w = broken_welcome();
    w["nodes"][1]["duration"] = json!("2d");
    w["nodes"][1]["next"] = json!("done");
    w
}

fn pointers(body: &Value, field: &str) -> Vec<String> {
    body[field].as_array().unwrap().iter().map(|p| p["pointer"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_draft_goes_from_invalid_to_published_versions() {
    let app = TestApp::spawn().await;

    // An invalid draft is stored, with its problems.
    let r = app.post("/v1/workflows", &broken_welcome()).await;
    assert_eq!(r.headers()["location"], "/v1/workflows/welcome-api");
    let created = json(r, 201).await;
    assert_eq!(created["id"], "welcome-api");
    assert_eq!(created["name"], "Welcome");
    assert_eq!(created["status"], "draft");
    assert_eq!(created["live_version"], Value::Null);
    assert_eq!(created["latest_version"], Value::Null);
    assert_eq!(created["active_runs"], 0);
    assert_eq!(created["valid"], false);
    assert_eq!(pointers(&created, "problems"), ["/nodes/1/duration", "/nodes/1/next", "/nodes/2"]);
    assert_eq!(created["problems"][0]["node"], "wait_a_bit");
    assert_eq!(created["problems"][0]["code"], "invalid_duration");
    assert_eq!(created["draft"], broken_welcome());
    assert_eq!(created["unpublished_changes"], true);

    let got = json(app.get("/v1/workflows/welcome-api").await, 200).await;
    assert_eq!(got, created);
    let report = json(app.post("/v1/workflows/welcome-api/validate", &json!({})).await, 200).await;
    assert_eq!(report["valid"], false);
    assert_eq!(pointers(&report, "problems"), ["/nodes/1/duration", "/nodes/1/next", "/nodes/2"]);

    // Publishing is refused with every problem.
    let refused =
        problem(app.post("/v1/workflows/welcome-api/publish", &json!({})).await, 422, "invalid_workflow").await;
    assert_eq!(pointers(&refused, "errors"), ["/nodes/1/duration", "/nodes/1/next", "/nodes/2"]);
    assert_eq!(refused["errors"][1]["code"], "missing_node");
    assert_eq!(refused["errors"][1]["node"], "wait_a_bit");

    // Fixed, it publishes as version 1.
    let saved = json(app.put("/v1/workflows/welcome-api", &fixed_welcome()).await, 200).await;
    assert_eq!(saved["valid"], true);
    assert_eq!(saved["problems"], json!([]));
    let report = json(app.post("/v1/workflows/welcome-api/validate", &json!({})).await, 200).await;
    assert_eq!(report, json!({ "valid": true, "problems": [] }));
    let r = app.post("/v1/workflows/welcome-api/publish", &json!({})).await;
    assert_eq!(r.headers()["location"], "/v1/workflows/welcome-api/versions/1");
    let v1 = json(r, 201).await;
    assert_eq!(v1["workflow_id"], "welcome-api");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["published_at"], "2026-03-02T10:00:00Z");

    // Publishing the same draft again creates no new version.
    let again = json(app.post("/v1/workflows/welcome-api/publish", &json!({})).await, 200).await;
    assert_eq!(again["version"], 1);

    let got = json(app.get("/v1/workflows/welcome-api").await, 200).await;
    assert_eq!(got["unpublished_changes"], false);
    assert_eq!(
        (got["status"].as_str(), got["live_version"].as_u64(), got["latest_version"].as_u64()),
        (Some("live"), Some(1), Some(1))
    );

    // The version holds the canonical definition.
    let version = json(app.get("/v1/workflows/welcome-api/versions/1").await, 200).await;
    assert_eq!(version["version"], 1);
    assert_eq!(version["live"], true);
    assert_eq!(version["published_at"], "2026-03-02T10:00:00Z");
    let canonical = kairos_engine::validate(&fixed_welcome().to_string()).unwrap().workflow().to_canonical();
    assert_eq!(version["definition"], serde_json::from_str::<Value>(&canonical).unwrap());

    // A change, published later, is version 2; version 1 stays as it was.
    app.clock.advance(TimeDelta::hours(1));
    let mut changed = fixed_welcome();
    changed["name"] = json!("Welcome (new)");
    changed["nodes"][1]["duration"] = json!("3d");
    let saved = json(app.put("/v1/workflows/welcome-api", &changed).await, 200).await;
    assert_eq!(saved["unpublished_changes"], true);
    let v2 = json(app.post("/v1/workflows/welcome-api/publish", &json!({})).await, 201).await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["published_at"], "2026-03-02T11:00:00Z");
    let versions = json(app.get("/v1/workflows/welcome-api/versions").await, 200).await;
    assert_eq!(
        versions,
        json!({ "data": [
            { "version": 1, "published_at": "2026-03-02T10:00:00Z", "live": false },
            { "version": 2, "published_at": "2026-03-02T11:00:00Z", "live": true },
        ], "next": null })
    );
    let page = json(app.get("/v1/workflows/welcome-api/versions?limit=1").await, 200).await;
    assert_eq!((page["data"].as_array().unwrap().len(), &page["next"]), (1, &json!(1)));
    let page = json(app.get("/v1/workflows/welcome-api/versions?after=1&limit=1").await, 200).await;
    assert_eq!((page["data"][0]["version"].as_u64(), &page["next"]), (Some(2), &Value::Null));
    let v1 = json(app.get("/v1/workflows/welcome-api/versions/1").await, 200).await;
    assert_eq!(v1["definition"]["nodes"][1]["duration"], "2d");
    assert_eq!(v1["live"], false);

    let list = json(app.get("/v1/workflows").await, 200).await;
    assert_eq!(list["data"][0]["name"], "Welcome (new)");
    assert_eq!(list["data"][0]["latest_version"], 2);
}

#[tokio::test]
async fn publish_is_refused_with_every_problem_and_keeps_the_live_version() {
    let app = TestApp::spawn().await;
    json(app.post("/v1/workflows", &fixed_welcome()).await, 201).await;
    json(app.post("/v1/workflows/welcome-api/publish", &json!({})).await, 201).await;

    // A worse draft: unknown node type, unknown field, bad template, bad trigger port.
    let mut worse = fixed_welcome();
    worse["trigger"]["next"] = json!("nowhere");
    worse["nodes"][0]["message"]["subject"] = json!("Hi {{#if}}");
    worse["nodes"][1]["colour"] = json!("red");
    worse["nodes"].as_array_mut().unwrap().push(json!({ "id": "teleport", "type": "teleport" }));
    let saved = json(app.put("/v1/workflows/welcome-api", &worse).await, 200).await;
    assert_eq!(saved["valid"], false);
    let refused =
        problem(app.post("/v1/workflows/welcome-api/publish", &json!({})).await, 422, "invalid_workflow").await;
    let got = pointers(&refused, "errors");
    for expected in ["/trigger/next", "/nodes/0/message/subject", "/nodes/1/colour", "/nodes/3/type"] {
        assert!(got.iter().any(|p| p == expected), "{expected} missing from {got:?}");
    }
    assert_eq!(pointers(&saved, "problems"), got, "publish reports what the draft shows");
    for item in refused["errors"].as_array().unwrap() {
        assert!(item["message"].as_str().is_some_and(|m| !m.is_empty()) && item["code"].is_string(), "{item}");
    }

    // Nothing was published: version 1 is still the live one.
    let w = json(app.get("/v1/workflows/welcome-api").await, 200).await;
    assert_eq!(
        (w["live_version"].as_u64(), w["latest_version"].as_u64(), w["status"].as_str()),
        (Some(1), Some(1), Some("live"))
    );
    let versions = json(app.get("/v1/workflows/welcome-api/versions").await, 200).await;
    assert_eq!(versions["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn export_is_byte_identical_to_the_journey_file() {
    let app = TestApp::spawn().await;
    let path = format!("{}/../workflows/abandoned-cart.json", env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::read(path).unwrap();
    // Created from the file as JSON (the server does not keep the bytes or the key order).
    json(app.post("/v1/workflows", &example("abandoned-cart")).await, 201).await;
    let r = app.get("/v1/workflows/abandoned-cart/export").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"abandoned-cart.json\"");
    let exported = r.bytes().await.unwrap();
    assert!(
        exported.as_ref() == file.as_slice(),
        "export differs from workflows/abandoned-cart.json:\n{}",
        String::from_utf8_lossy(&exported)
    );

    // The published version holds the same bytes' content.
    json(app.post("/v1/workflows/abandoned-cart/publish", &json!({})).await, 201).await;
    let v = json(app.get("/v1/workflows/abandoned-cart/versions/1").await, 200).await;
    assert_eq!(v["definition"], serde_json::from_slice::<Value>(&file).unwrap());

    // Every example exports as its file.
    for name in ["welcome-series", "lead-nurture", "post-purchase", "re-engagement", "win-back"] {
        let file = std::fs::read(format!("{}/../workflows/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
        json(app.post("/v1/workflows", &example(name)).await, 201).await;
        let exported = app.get(&format!("/v1/workflows/{name}/export")).await.bytes().await.unwrap();
        assert!(exported.as_ref() == file.as_slice(), "{name}");
    }

    // A draft that is semantically invalid still exports; one whose structure does not parse does not.
    json(app.post("/v1/workflows", &broken_welcome()).await, 201).await;
    let text = app.get("/v1/workflows/welcome-api/export").await.text().await.unwrap();
    assert!(text.ends_with("}\n") && text.contains("\"duration\": \"soon\""), "{text}");
    json(app.post("/v1/workflows", &json!({ "id": "half-done", "name": "Half done" })).await, 201).await;
    let body = problem(app.get("/v1/workflows/half-done/export").await, 422, "invalid_workflow").await;
    let got = pointers(&body, "errors");
    assert!(got.contains(&"/trigger".to_string()) && got.contains(&"/nodes".to_string()), "{got:?}");
}

/// An `api`-triggered journey: wait a day, then exit.
fn api_journey(id: &str, reentry: &str) -> Value {
    json!({
        "id": id,
        "name": "API started",
        "trigger": { "type": "api", "next": "wait_a_day" },
        "settings": { "reentry": reentry },
        "nodes": [
            { "id": "wait_a_day", "type": "delay", "duration": "1d", "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

/// An event-triggered journey (`signed_up`) with the same shape.
fn event_journey() -> Value {
    json!({
        "id": "on-signup",
        "name": "On signup",
        "trigger": { "type": "event", "event": "signed_up", "next": "wait_a_day" },
        "settings": { "reentry": "always" },
        "nodes": [
            { "id": "wait_a_day", "type": "delay", "duration": "1d", "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

fn signed_up(app: &TestApp, contact: &str) -> Incoming {
    Incoming {
        contact_id: contact.into(),
        event: Event {
            name: "signed_up".into(),
            properties: Default::default(),
            timestamp: app.scheduler.now(),
            message_id: None,
        },
    }
}

#[tokio::test]
async fn pause_stops_new_entries_and_resume_restores_them() {
    let app = TestApp::spawn().await;
    json(app.post("/v1/workflows", &api_journey("api-start", "always")).await, 201).await;
    json(app.post("/v1/workflows", &event_journey()).await, 201).await;
    for id in ["api-start", "on-signup"] {
        json(app.post(&format!("/v1/workflows/{id}/publish"), &json!({})).await, 201).await;
    }
    json(app.post("/v1/workflows/api-start/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    let started = app.scheduler.ingest(vec![signed_up(&app, "ann")]).await.unwrap();
    assert_eq!(started[0].started.len(), 1);

    // Paused: no new entries, through the API or events; runs in flight go on.
    for id in ["api-start", "on-signup"] {
        let w = json(app.post(&format!("/v1/workflows/{id}/pause"), &json!({})).await, 200).await;
        assert_eq!((w["status"].as_str(), w["active_runs"].as_u64()), (Some("paused"), Some(1)));
    }
    // Pausing twice changes nothing.
    json(app.post("/v1/workflows/api-start/pause", &json!({})).await, 200).await;
    let body =
        problem(app.post("/v1/workflows/api-start/runs", &json!({ "contact_id": "bob" })).await, 409, "not_live").await;
    assert!(body["detail"].as_str().unwrap().contains("paused"), "{body}");
    let started = app.scheduler.ingest(vec![signed_up(&app, "bob")]).await.unwrap();
    assert!(started[0].started.is_empty());
    let paused = json(app.get("/v1/workflows?status=paused").await, 200).await;
    assert_eq!(paused["data"].as_array().unwrap().len(), 2);
    app.advance(TimeDelta::days(1)).await;
    let done = json(app.get("/v1/runs?status=completed").await, 200).await;
    assert_eq!(done["data"].as_array().unwrap().len(), 2, "runs in flight finish while paused");

    // Resumed: entries again.
    for id in ["api-start", "on-signup"] {
        let w = json(app.post(&format!("/v1/workflows/{id}/resume"), &json!({})).await, 200).await;
        assert_eq!(w["status"], "live");
    }
    json(app.post("/v1/workflows/api-start/runs", &json!({ "contact_id": "bob" })).await, 201).await;
    let started = app.scheduler.ingest(vec![signed_up(&app, "bob")]).await.unwrap();
    assert_eq!(started[0].started.len(), 1);

    // Archived: no entries; resume brings it back.
    let w = json(app.post("/v1/workflows/api-start/archive", &json!({})).await, 200).await;
    assert_eq!(w["status"], "archived");
    problem(app.post("/v1/workflows/api-start/runs", &json!({ "contact_id": "cat" })).await, 409, "not_live").await;
    problem(app.post("/v1/workflows/api-start/pause", &json!({})).await, 409, "archived").await;
    json(app.post("/v1/workflows/api-start/resume", &json!({})).await, 200).await;
    json(app.post("/v1/workflows/api-start/runs", &json!({ "contact_id": "cat" })).await, 201).await;
}

#[tokio::test]
async fn the_life_cycle_needs_a_published_version() {
    let app = TestApp::spawn().await;
    json(app.post("/v1/workflows", &broken_welcome()).await, 201).await;
    let body = problem(app.post("/v1/workflows/welcome-api/pause", &json!({})).await, 409, "not_published").await;
    assert!(body["detail"].as_str().unwrap().contains("never been published"), "{body}");
    problem(app.post("/v1/workflows/welcome-api/resume", &json!({})).await, 409, "not_published").await;
    // A draft can be archived, but not brought to life by resume.
    let w = json(app.post("/v1/workflows/welcome-api/archive", &json!({})).await, 200).await;
    assert_eq!(w["status"], "archived");
    problem(app.post("/v1/workflows/welcome-api/resume", &json!({})).await, 409, "not_published").await;
    for action in ["pause", "resume", "archive", "publish", "validate"] {
        problem(app.post(&format!("/v1/workflows/nope/{action}"), &json!({})).await, 404, "not_found").await;
    }
}

#[tokio::test]
async fn workflows_are_listed_page_by_page() {
    let app = TestApp::spawn().await;
    for id in ["c-flow", "a-flow", "b-flow"] {
        json(app.post("/v1/workflows", &api_journey(id, "once")).await, 201).await;
    }
    json(app.post("/v1/workflows/b-flow/publish", &json!({})).await, 201).await;
    json(app.post("/v1/workflows/b-flow/runs", &json!({ "contact_id": "ann" })).await, 201).await;

    let first = json(app.get("/v1/workflows?limit=2").await, 200).await;
    let ids: Vec<&str> = first["data"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a-flow", "b-flow"]);
    assert_eq!(first["next"], "b-flow");
    assert_eq!(first["data"][1]["active_runs"], 1);
    assert_eq!(first["data"][1]["status"], "live");
    assert_eq!(first["data"][1]["created_at"], "2026-03-02T10:00:00Z");
    assert!(first["data"][0].get("draft").is_none(), "lists carry no drafts");
    let second = json(app.get("/v1/workflows?limit=2&after=b-flow").await, 200).await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], "c-flow");
    assert_eq!(second["next"], Value::Null);
    let live = json(app.get("/v1/workflows?status=live").await, 200).await;
    assert_eq!(live["data"].as_array().unwrap().len(), 1);
    let all = json(app.get("/v1/workflows").await, 200).await;
    assert_eq!((all["data"].as_array().unwrap().len(), &all["next"]), (3, &Value::Null));

    for query in ["limit=0", "limit=501", "limit=-1", "limit=ten", "status=gone", "colour=red"] {
        problem(app.get(&format!("/v1/workflows?{query}")).await, 400, "invalid_query").await;
    }
    json(app.get("/v1/workflows?limit=500").await, 200).await;
}

/// Three runs through a branch: `pro` contacts get an email at once and finish; others
/// wait an hour, then get an SMS. Goal: the `upgraded` event.
fn plans_journey() -> Value {
    json!({
        "id": "plans",
        "name": "Plans",
        "trigger": { "type": "api", "next": "is_pro" },
        "settings": { "reentry": "once", "goal": { "type": "event", "event": "upgraded" } },
        "nodes": [
            { "id": "is_pro", "type": "branch",
              "rules": [ { "name": "pro", "condition": { "left": "contact.plan", "op": "eq", "right": "pro" }, "next": "send_pro" } ],
              "else": "wait_hour" },
            { "id": "send_pro", "type": "send", "message": { "channel": "email", "subject": "Thanks", "body": "<p>Thanks</p>" }, "next": "exit_pro" },
            { "id": "exit_pro", "type": "exit" },
            { "id": "wait_hour", "type": "delay", "duration": "1h", "next": "send_free" },
            { "id": "send_free", "type": "send", "message": { "channel": "sms", "body": "Upgrade?" }, "next": "exit_free" },
            { "id": "exit_free", "type": "exit" }
        ]
    })
}

fn counts(stats: &Value, node: &str) -> [u64; 4] {
    let n = &stats["nodes"][node];
    ["entered", "waiting", "exited", "converted"]
        .map(|k| n[k].as_u64().unwrap_or_else(|| panic!("{node}.{k}: {stats}")))
}

#[tokio::test]
async fn stats_count_each_node() {
    let app = TestApp::spawn().await;
    json(app.post("/v1/workflows", &plans_journey()).await, 201).await;

    // Before any run (never published): every node of the draft, all zeros.
    let stats = json(app.get("/v1/workflows/plans/stats").await, 200).await;
    assert_eq!(stats["nodes"].as_object().unwrap().len(), 6);
    assert_eq!(counts(&stats, "is_pro"), [0, 0, 0, 0]);

    json(app.post("/v1/workflows/plans/publish", &json!({})).await, 201).await;
    let start = |contact: &str, plan: &str| json!({ "contact_id": contact, "attributes": { "plan": plan, "email": format!("{contact}@example.com"), "phone": "+15550100" } });
    json(app.post("/v1/workflows/plans/runs", &start("ann", "pro")).await, 201).await;
    json(app.post("/v1/workflows/plans/runs", &start("bob", "free")).await, 201).await;
    let cat = json(app.post("/v1/workflows/plans/runs", &start("cat", "free")).await, 201).await;

    // ann: is_pro → send_pro → exit_pro (completed). bob, cat: is_pro → wait_hour (waiting).
    let stats = json(app.get("/v1/workflows/plans/stats").await, 200).await;
    assert_eq!(counts(&stats, "is_pro"), [3, 0, 0, 0]);
    assert_eq!(counts(&stats, "send_pro"), [1, 0, 0, 0]);
    assert_eq!(counts(&stats, "exit_pro"), [1, 0, 1, 0]);
    assert_eq!(counts(&stats, "wait_hour"), [2, 2, 0, 0]);
    assert_eq!(counts(&stats, "send_free"), [0, 0, 0, 0]);

    // bob upgrades while waiting (converted at wait_hour); cat is cancelled there.
    let upgraded = Incoming {
        contact_id: "bob".into(),
        event: Event {
            name: "upgraded".into(),
            properties: Default::default(),
            timestamp: app.scheduler.now(),
            message_id: None,
        },
    };
    app.scheduler.ingest(vec![upgraded]).await.unwrap();
    json(app.post(&format!("/v1/runs/{}/cancel", cat["id"].as_str().unwrap()), &json!({})).await, 200).await;
    app.advance(TimeDelta::hours(1)).await;

    // bob: wait_hour → send_free → exit_free (completed).
    let stats = json(app.get("/v1/workflows/plans/stats").await, 200).await;
    assert_eq!(counts(&stats, "is_pro"), [3, 0, 0, 0]);
    assert_eq!(counts(&stats, "send_pro"), [1, 0, 0, 0]);
    assert_eq!(counts(&stats, "exit_pro"), [1, 0, 1, 0]);
    assert_eq!(counts(&stats, "wait_hour"), [2, 0, 1, 1]);
    assert_eq!(counts(&stats, "send_free"), [1, 0, 0, 0]);
    assert_eq!(counts(&stats, "exit_free"), [1, 0, 1, 0]);
    assert_eq!(
        stats["runs"],
        json!({ "started": 3, "active": 0, "waiting": 0, "completed": 2, "exited": 0, "cancelled": 1, "converted": 1 })
    );
    assert_eq!(stats["version"], Value::Null);

    // Of one version: the same here; of a version with no runs: zeros.
    let v1 = json(app.get("/v1/workflows/plans/stats?version=1").await, 200).await;
    assert_eq!(
        (v1["nodes"].clone(), v1["runs"].clone(), v1["version"].clone()),
        (stats["nodes"].clone(), stats["runs"].clone(), json!(1))
    );
    let mut v2 = plans_journey();
    v2["name"] = json!("Plans 2");
    json(app.put("/v1/workflows/plans", &v2).await, 200).await;
    json(app.post("/v1/workflows/plans/publish", &json!({})).await, 201).await;
    let v2 = json(app.get("/v1/workflows/plans/stats?version=2").await, 200).await;
    assert_eq!(counts(&v2, "is_pro"), [0, 0, 0, 0]);
    assert_eq!(v2["runs"]["started"], 0);

    problem(app.get("/v1/workflows/plans/stats?version=9").await, 404, "not_found").await;
    problem(app.get("/v1/workflows/nope/stats").await, 404, "not_found").await;
    for query in ["version=x", "version=-1", "node=is_pro"] {
        problem(app.get(&format!("/v1/workflows/plans/stats?{query}")).await, 400, "invalid_query").await;
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_problem_and_keeps_the_draft() {
    let app = TestApp::spawn().await;
    json(app.post("/v1/workflows", &fixed_welcome()).await, 201).await;
    let raw = |method: Method, path: &'static str, body: &[u8]| {
        app.raw(method, path, body.to_vec(), "application/json", Some(crate::helpers::KEY))
    };

    // Malformed JSON, wrong types, no id or name.
    problem(raw(Method::POST, "/v1/workflows", b"{\"id\": ").await, 400, "malformed_json").await;
    problem(raw(Method::PUT, "/v1/workflows/welcome-api", b"{\"id\": \"welcome-api\",").await, 400, "malformed_json")
        .await;
    problem(app.post("/v1/workflows", &json!([1, 2])).await, 400, "invalid_body").await;
    problem(app.post("/v1/workflows", &json!("journey")).await, 400, "invalid_body").await;
    let body =
        problem(app.post("/v1/workflows", &json!({ "id": 7, "name": "Seven" })).await, 400, "invalid_draft").await;
    assert_eq!(pointers(&body, "errors"), ["/id"]);
    let body = problem(app.post("/v1/workflows", &json!({ "id": "Not A Slug" })).await, 400, "invalid_draft").await;
    assert_eq!(pointers(&body, "errors"), ["/id", "/name"]);
    assert_eq!(body["errors"][0]["code"], "invalid_id");
    problem(app.post("/v1/workflows", &json!({ "id": "x", "name": "  " })).await, 400, "invalid_draft").await;
    problem(app.post("/v1/workflows", &json!({ "name": "No id" })).await, 400, "invalid_draft").await;
    let r = app.raw(Method::POST, "/v1/workflows", b"{}".to_vec(), "text/plain", Some(crate::helpers::KEY)).await;
    problem(r, 415, "unsupported_media_type").await;

    // Taken id, id mismatch, unknown workflow.
    problem(app.post("/v1/workflows", &fixed_welcome()).await, 409, "workflow_exists").await;
    let mut other = fixed_welcome();
    other["id"] = json!("other");
    let body = problem(app.put("/v1/workflows/welcome-api", &other).await, 400, "id_mismatch").await;
    assert_eq!(pointers(&body, "errors"), ["/id"]);
    problem(app.put("/v1/workflows/other", &other).await, 404, "not_found").await;

    // Too large.
    let huge = format!("{{\"id\": \"welcome-api\", \"name\": \"{}\"}}", "x".repeat(1_100_000));
    problem(raw(Method::PUT, "/v1/workflows/welcome-api", huge.as_bytes()).await, 413, "body_too_large").await;

    // Every rejected save left the draft as it was.
    let w = json(app.get("/v1/workflows/welcome-api").await, 200).await;
    assert_eq!(w["draft"], fixed_welcome());

    // Unknown ids and versions.
    for path in [
        "/v1/workflows/nope",
        "/v1/workflows/nope/versions",
        "/v1/workflows/nope/versions/1",
        "/v1/workflows/welcome-api/versions/1",
        "/v1/workflows/nope/export",
        "/v1/workflows/nope/stats",
    ] {
        problem(app.get(path).await, 404, "not_found").await;
    }
    problem(app.get("/v1/workflows/welcome-api/versions/one").await, 400, "invalid_path").await;
    problem(app.get("/v1/workflows/welcome-api/versions?after=x").await, 400, "invalid_query").await;
    problem(app.get("/v1/workflows/welcome-api/versions?limit=0").await, 400, "invalid_query").await;

    // No key, wrong key.
    for (method, path) in [
        (Method::GET, "/v1/workflows"),
        (Method::POST, "/v1/workflows"),
        (Method::GET, "/v1/workflows/welcome-api"),
        (Method::PUT, "/v1/workflows/welcome-api"),
        (Method::POST, "/v1/workflows/welcome-api/publish"),
        (Method::GET, "/v1/workflows/welcome-api/export"),
        (Method::GET, "/v1/workflows/welcome-api/stats"),
    ] {
        problem(app.raw(method.clone(), path, b"{}".to_vec(), "application/json", None).await, 401, "unauthorized")
            .await;
        problem(app.raw(method, path, b"{}".to_vec(), "application/json", Some("wrong")).await, 401, "invalid_api_key")
            .await;
    }
    // A wrong method on a known path.
    problem(app.delete("/v1/workflows/welcome-api/publish").await, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_workflow_and_run_route() {
    let app = TestApp::spawn().await;
    let doc: Value =
        app.client.get(format!("{}/openapi.json", app.address)).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method, statuses) in [
        ("/v1/workflows", "get", &["200", "400", "401", "500"][..]),
        ("/v1/workflows", "post", &["201", "400", "401", "409", "413", "415", "500"]),
        ("/v1/workflows/{id}", "get", &["200", "401", "404", "500"]),
        ("/v1/workflows/{id}", "put", &["200", "400", "401", "404", "413", "415", "500"]),
        ("/v1/workflows/{id}/validate", "post", &["200", "401", "404", "500"]),
        ("/v1/workflows/{id}/publish", "post", &["200", "201", "401", "404", "409", "422", "500"]),
        ("/v1/workflows/{id}/pause", "post", &["200", "401", "404", "409", "500"]),
        ("/v1/workflows/{id}/resume", "post", &["200", "401", "404", "409", "500"]),
        ("/v1/workflows/{id}/archive", "post", &["200", "401", "404", "500"]),
        ("/v1/workflows/{id}/versions", "get", &["200", "400", "401", "404", "500"]),
        ("/v1/workflows/{id}/versions/{version}", "get", &["200", "400", "401", "404", "500"]),
        ("/v1/workflows/{id}/export", "get", &["200", "401", "404", "422", "500"]),
        ("/v1/workflows/{id}/stats", "get", &["200", "400", "401", "404", "500"]),
        ("/v1/workflows/{id}/runs", "post", &["200", "201", "400", "401", "404", "409", "413", "415", "500"]),
        ("/v1/runs", "get", &["200", "400", "401", "500"]),
        ("/v1/runs/{id}", "get", &["200", "401", "404", "500"]),
        ("/v1/runs/{id}/cancel", "post", &["200", "401", "404", "409", "500"]),
        ("/v1/contacts/{id}/runs", "get", &["200", "400", "401", "404", "500"]),
    ] {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"))[method];
        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path}"));
        let mut got: Vec<&str> = responses.keys().map(String::as_str).collect();
        got.sort();
        assert_eq!(got, statuses, "{method} {path}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["WorkflowSummary", "WorkflowDetail", "JourneyDocument", "RunSummary", "RunDetail", "StartRunRequest"] {
        assert!(schemas.contains_key(name), "{name} missing");
    }
    assert_eq!(schemas["JourneyDocument"]["type"], "object");
    let text = doc.to_string();
    assert!(
        !text.contains("sea_orm") && !text.contains("StoredRun") && !text.contains("WorkflowRecord"),
        "no internals"
    );
}
