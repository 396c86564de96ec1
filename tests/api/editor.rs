//! What the browser editor needs beyond the client API: the catalogs, simulation, send
//! previews, stored journey tests, and the editor's own files at `/`.

use crate::helpers::{TestApp, example, example_tests, json, problem};
use kairos_engine::time::parse_duration;
use reqwest::Method;
use serde_json::{Value, json};

fn case_scenario(case: &Value) -> Value {
    let mut scenario = case.clone();
    let map = scenario.as_object_mut().unwrap();
    map.remove("name");
    map.remove("expect");
    scenario
}

#[tokio::test]
async fn the_catalogs_list_what_was_tracked_and_identified() {
    let app = TestApp::spawn().await;
    let empty = json(app.get("/v1/catalog/events").await, 200).await;
    assert_eq!(empty, json!({ "data": [], "examined": 0 }));

    let identify = json!({ "userId": "ann", "traits": { "email": "ann@example.com", "lead_score": 40,
                           "address": { "city": "Oslo" }, "vip": true } });
    assert!(app.post("/v1/identify", &identify).await.status().is_success());
    let identify = json!({ "userId": "bob", "traits": { "plan": "pro" } });
    assert!(app.post("/v1/identify", &identify).await.status().is_success());
    for (i, (name, properties)) in [
        ("cart_updated", json!({ "cart_id": "c-1", "item_count": 2 })),
        ("cart_updated", json!({ "cart_id": "c-2", "item_count": 3, "items": ["a"] })),
        ("order_completed", json!({ "cart_id": "c-1", "total": 9.5, "shipping": { "country": "NO" } })),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({ "userId": "ann", "event": name, "properties": properties, "messageId": format!("m-{i}") });
        assert!(app.post("/v1/track", &body).await.status().is_success());
    }

    let events = json(app.get("/v1/catalog/events").await, 200).await;
    assert_eq!(events["examined"], 3);
    let names: Vec<&str> = events["data"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cart_updated", "order_completed"]);
    let cart = &events["data"][0];
    assert_eq!(cart["count"], 2);
    assert_eq!(cart["last_seen"], "2026-03-02T10:00:00Z");
    assert_eq!(
        cart["properties"],
        json!([{ "path": "cart_id", "type": "string" }, { "path": "item_count", "type": "number" },
               { "path": "items", "type": "array" }])
    );
    assert_eq!(
        events["data"][1]["properties"],
        json!([{ "path": "cart_id", "type": "string" }, { "path": "shipping", "type": "object" },
               { "path": "shipping.country", "type": "string" }, { "path": "total", "type": "number" }])
    );

    let attributes = json(app.get("/v1/catalog/attributes").await, 200).await;
    assert_eq!(attributes["examined"], 2, "ann (recent events) and bob (by id): {attributes}");
    assert_eq!(
        attributes["data"],
        json!([{ "path": "address", "type": "object" }, { "path": "address.city", "type": "string" },
               { "path": "email", "type": "string" }, { "path": "lead_score", "type": "number" },
               { "path": "plan", "type": "string" }, { "path": "vip", "type": "boolean" }])
    );
    problem(app.anonymous(Method::GET, "/v1/catalog/events").await, 401, "unauthorized").await;
}

#[tokio::test]
async fn simulating_the_abandoned_cart_gives_the_sends_its_tests_expect() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post("/v1/workflows", &example("abandoned-cart")).await.status(), 201);
    let tests = example_tests("abandoned-cart");
    for case in tests["tests"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let result = json(app.post("/v1/workflows/abandoned-cart/simulate", &case_scenario(case)).await, 200).await;
        let sends = result["sends"].as_array().unwrap();
        if let Some(expected) = case["expect"]["sends"].as_array() {
            assert_eq!(sends.len(), expected.len(), "{name}: {sends:?}");
            for (want, got) in expected.iter().zip(sends) {
                assert_eq!(want["node"], got["node"], "{name}");
                if let Some(channel) = want.get("channel") {
                    assert_eq!(channel, &got["channel"], "{name}");
                }
                if let Some(at) = want["at"].as_str() {
                    let offset = got["offset"].as_str().unwrap();
                    assert_eq!(parse_duration(at), parse_duration(offset), "{name}: at {at}, sent at {offset}");
                }
                if let Some(run) = want.get("run") {
                    assert_eq!(run, &got["run"], "{name}");
                }
                if let Some(text) = want["contains"].as_str() {
                    let all = format!("{} {}", got["subject"].as_str().unwrap_or(""), got["body"]);
                    assert!(all.contains(text), "{name}: {text:?} in {got}");
                }
            }
        }
        if let Some(runs) = case["expect"]["runs"].as_array() {
            assert_eq!(result["runs"].as_array().unwrap().len(), runs.len(), "{name}");
            for (want, got) in runs.iter().zip(result["runs"].as_array().unwrap()) {
                if let Some(path) = want.get("path") {
                    assert_eq!(path, &got["path"], "{name}");
                }
                if let Some(end) = want.get("end") {
                    assert_eq!(end["status"], got["status"], "{name}");
                }
                if let Some(converted) = want.get("converted") {
                    assert_eq!(converted, &got["converted"], "{name}");
                }
            }
        }
    }

    // The first case in detail: the timeline has the event, the entry, each node, the decision's values and the sends.
    let case = &tests["tests"][0];
    let result = json(app.post("/v1/workflows/abandoned-cart/simulate", &case_scenario(case)).await, 200).await;
    let timeline = result["timeline"].as_array().unwrap();
    assert_eq!(timeline[0]["kind"], "event");
    assert_eq!(timeline[0]["run"], Value::Null);
    assert_eq!(timeline[0]["at"], "2026-01-05T09:00:00Z");
    assert_eq!(timeline[1]["kind"], "entered");
    assert_eq!(timeline[1]["run"], 1);
    let decision = timeline.iter().find(|t| t["kind"] == "decision").unwrap();
    assert_eq!(decision["node"], "has_phone");
    assert!(decision["detail"].as_str().unwrap().contains("+15555550100"), "{decision}");
    let sent: Vec<&Value> = timeline.iter().filter(|t| t["kind"] == "sent").map(|t| &t["node"]).collect();
    assert_eq!(sent, [&json!("send_reminder"), &json!("send_coupon_sms")]);
    assert_eq!(result["sends"][0]["to"], "ann@example.com");
    assert_eq!(result["sends"][0]["at"], "2026-01-05T10:00:00Z");
    assert_eq!(result["runs"][0]["status"], "completed");
    assert_eq!(result["runs"][0]["node"], "exit_no_order");
}

#[tokio::test]
async fn simulating_an_invalid_definition_lists_its_problems_by_node() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post("/v1/workflows", &example("abandoned-cart")).await.status(), 201);
    let mut broken = example("abandoned-cart");
    broken["nodes"][0]["timeout"] = json!("soon");
    broken["nodes"][1]["next"] = json!("nowhere");
    let scenario = json!({ "definition": broken, "contact": { "id": "ann" },
                           "events": [ { "at": "0s", "name": "cart_updated", "properties": { "cart_id": "c-1", "item_count": 1 } } ] });
    let body =
        problem(app.post("/v1/workflows/abandoned-cart/simulate", &scenario).await, 422, "invalid_workflow").await;
    // Exactly what validate reports: every problem with its pointer and node (here also the nodes cut off).
    let errors: Vec<(&str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["pointer"].as_str().unwrap(), e["node"].as_str().unwrap()))
        .collect();
    assert_eq!(errors[..2], [("/nodes/0/timeout", "wait_for_order"), ("/nodes/1/next", "send_reminder")], "{body}");
    assert_eq!(body["errors"][0]["code"], "invalid_duration");
    assert_eq!(body["errors"][1]["code"], "missing_node");

    // The given definition is simulated rather than the draft.
    let mut quicker = example("abandoned-cart");
    quicker["nodes"][0]["timeout"] = json!("2h");
    let scenario = json!({ "definition": quicker, "contact": { "id": "ann", "attributes": { "email": "a@example.com" } },
                           "events": [ { "at": "0s", "name": "cart_updated", "properties": { "cart_id": "c-1", "item_count": 1 } } ],
                           "horizon": "3h" });
    let result = json(app.post("/v1/workflows/abandoned-cart/simulate", &scenario).await, 200).await;
    assert_eq!(result["sends"][0]["offset"], "2h");
    assert_eq!(result["runs"][0]["status"], "waiting", "the horizon ends it while it waits");
}

#[tokio::test]
async fn bad_scenarios_are_400_problems_naming_the_place() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post("/v1/workflows", &example("abandoned-cart")).await.status(), 201);
    let path = "/v1/workflows/abandoned-cart/simulate";
    let scenario = json!({ "contact": { "id": "ann" }, "start": "monday",
                           "events": [ { "at": "soon", "name": "cart_updated" }, { "at": "1h" } ] });
    let body = problem(app.post(path, &scenario).await, 400, "invalid_scenario").await;
    let pointers: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/start", "/events/0/at", "/events/1"], "{body}");
    let body = problem(app.post(path, &json!({ "contact": { "id": " " } })).await, 400, "invalid_scenario").await;
    assert_eq!(body["errors"][0]["pointer"], "/contact/id");
    // Unknown fields and wrong types.
    for scenario in [
        json!({ "contact": { "id": "ann" }, "expect": {} }),
        json!({ "contact": { "id": "ann", "attributes": [] } }),
        json!({ "contact": "ann" }),
        json!({ "events": [] }),
    ] {
        problem(app.post(path, &scenario).await, 400, "invalid_body").await;
    }
    let r = app.raw(Method::POST, path, b"{\"contact\":".to_vec(), "application/json", Some(crate::helpers::KEY)).await;
    problem(r, 400, "malformed_json").await;
    problem(app.post("/v1/workflows/nope/simulate", &json!({ "contact": { "id": "ann" } })).await, 404, "not_found")
        .await;
}

#[tokio::test]
async fn an_api_triggered_journey_is_entered_at_the_start_of_a_simulation() {
    let app = TestApp::spawn().await;
    let journey = json!({
        "id": "hello", "name": "Hello",
        "trigger": { "type": "api", "next": "say_hi" },
        "nodes": [
            { "id": "say_hi", "type": "send", "message": { "channel": "sms", "body": "Hi {{contact.first_name}}" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    assert_eq!(app.post("/v1/workflows", &journey).await.status(), 201);
    let scenario = json!({ "contact": { "id": "ann", "attributes": { "phone": "+1555", "first_name": "Ann" } } });
    let result = json(app.post("/v1/workflows/hello/simulate", &scenario).await, 200).await;
    assert_eq!(
        result["sends"],
        json!([{ "run": 1, "node": "say_hi", "channel": "sms", "to": "+1555", "subject": null,
        "title": null, "url": null, "body": "Hi Ann", "at": "2026-01-05T09:00:00Z", "offset": "0s" }])
    );
}

#[tokio::test]
async fn a_preview_renders_the_send_node_for_a_contact_like_a_real_send() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post("/v1/workflows", &example("abandoned-cart")).await.status(), 201);
    let ann = json!({ "attributes": { "email": "ann@example.com", "first_name": "Ann <3" } });
    assert!(app.put("/v1/contacts/ann", &ann).await.status().is_success());
    let path = "/v1/workflows/abandoned-cart/preview";

    let body = json!({ "node": "send_reminder", "contact_id": "ann",
                "trigger": { "properties": { "cart_id": "c-9", "item_count": "<2>" } } });
    let preview = json(app.post(path, &body).await, 200).await;
    assert_eq!(preview["channel"], "email");
    assert_eq!(preview["to"], "ann@example.com");
    assert!(preview["subject"].as_str().unwrap().contains("Ann <3"), "subjects are text: {preview}");
    assert!(preview["body"].as_str().unwrap().contains("with &lt;2&gt; item(s)"), "bodies are escaped HTML: {preview}");
    assert!(preview["body"].as_str().unwrap().contains("/cart/c-9"), "{preview}");
    assert_eq!(preview["warning"], Value::Null);

    // Attributes alone (no stored contact): no email, so a real send would be skipped; the text still renders.
    let body = json!({ "node": "send_coupon_sms", "attributes": { "first_name": "Bo" } });
    let preview = json(app.post(path, &body).await, 200).await;
    assert_eq!(preview["channel"], "sms");
    assert_eq!(preview["to"], Value::Null);
    assert!(preview["warning"].as_str().unwrap().contains("phone"), "{preview}");

    // Attributes over the stored contact.
    let body = json!({ "node": "send_reminder", "contact_id": "ann", "attributes": { "first_name": "Annie" } });
    assert!(json(app.post(path, &body).await, 200).await["subject"].as_str().unwrap().contains("Annie"));

    // A definition being edited: only the node previewed has to be valid.
    let mut edited = example("abandoned-cart");
    edited["nodes"][0]["timeout"] = json!("soon");
    edited["nodes"][1]["message"]["subject"] = json!("Still thinking, {{contact.first_name}}?");
    let body = json!({ "definition": edited, "node": "send_reminder", "contact_id": "ann" });
    assert_eq!(json(app.post(path, &body).await, 200).await["subject"], "Still thinking, Ann <3?");
    // An email's extra headers are rendered too; a name the email sets itself is refused.
    edited["nodes"][1]["message"]["headers"] = json!({ "X-Campaign": "cart-{{contact.first_name}}" });
    let body = json!({ "definition": edited, "node": "send_reminder", "contact_id": "ann" });
    assert_eq!(json(app.post(path, &body).await, 200).await["headers"], json!({ "X-Campaign": "cart-Ann <3" }));
    edited["nodes"][1]["message"]["headers"] = json!({ "Reply-To": "x@example.com" });
    let body = json!({ "definition": edited, "node": "send_reminder" });
    let refused = problem(app.post(path, &body).await, 422, "invalid_workflow").await;
    assert_eq!(refused["errors"][0]["pointer"], "/nodes/1/message/headers/Reply-To");
    edited["nodes"][1]["message"].as_object_mut().unwrap().remove("headers");
    edited["nodes"][1]["message"]["subject"] = json!("{{#if contact.vip}}VIP");
    let body = json!({ "definition": edited, "node": "send_reminder" });
    let refused = problem(app.post(path, &body).await, 422, "invalid_workflow").await;
    assert_eq!(refused["errors"][0]["pointer"], "/nodes/1/message/subject");
    assert_eq!(refused["errors"][0]["node"], "send_reminder");

    problem(app.post(path, &json!({ "node": "nope" })).await, 422, "unknown_node").await;
    problem(app.post(path, &json!({ "node": "has_phone" })).await, 422, "not_a_send_node").await;
    problem(app.post(path, &json!({ "node": "send_reminder", "contact_id": "zed" })).await, 422, "unknown_contact")
        .await;
    problem(app.post(path, &json!({ "node": "send_reminder", "contact": "ann" })).await, 400, "invalid_body").await;
    problem(app.post(path, &json!({ "node": 3 })).await, 400, "invalid_body").await;
}

#[tokio::test]
async fn journey_tests_are_stored_per_workflow_and_validated() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post("/v1/workflows", &example("abandoned-cart")).await.status(), 201);
    let path = "/v1/workflows/abandoned-cart/tests";
    assert_eq!(json(app.get(path).await, 200).await, json!({ "tests": [] }));

    let file = example_tests("abandoned-cart");
    assert_eq!(json(app.put(path, &file).await, 200).await, file);
    assert_eq!(json(app.get(path).await, 200).await, file);

    // The editor appends a case and saves the whole file, with the cookie and the CSRF token.
    let session = app.sign_in().await;
    let mut more = file.clone();
    let mut case = file["tests"][1].clone();
    case["name"] = json!("built in the test panel");
    more["tests"].as_array_mut().unwrap().push(case);
    let r = app.as_user(Method::PUT, path, Some(&more), &session, true).await;
    assert_eq!(json(r, 200).await["tests"].as_array().unwrap().len(), file["tests"].as_array().unwrap().len() + 1);

    // Not a test file: the first problem of its shape, with its pointer.
    let mut bad = file.clone();
    bad["tests"][0]["expect"]["sendz"] = json!([]);
    let body = problem(app.put(path, &bad).await, 422, "invalid_tests").await;
    assert_eq!(body["errors"][0]["pointer"], "/tests/0/expect/sendz");
    let body = problem(app.put(path, &json!({ "cases": [] })).await, 422, "invalid_tests").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");

    // A test file of the right shape whose times and nodes do not make sense: every problem.
    let mut bad = file.clone();
    bad["tests"][0]["events"][0]["at"] = json!("later");
    bad["tests"][0]["expect"]["sends"][0]["node"] = json!("send_nothing");
    bad["tests"][0]["expect"]["sends"][1]["node"] = json!("has_phone");
    bad["tests"][0]["expect"]["runs"][0]["path"][1] = json!("gone");
    bad["tests"][1]["expect"]["runs"][0]["end"]["by"] = json!("eventually");
    let body = problem(app.put(path, &bad).await, 422, "invalid_tests").await;
    let pointers: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(
        pointers,
        [
            "/tests/0/events/0/at",
            "/tests/0/expect/sends/0/node",
            "/tests/0/expect/sends/1/node",
            "/tests/0/expect/runs/0/path/1",
            "/tests/1/expect/runs/0/end/by",
        ],
        "{body}"
    );
    // Rejected files leave the stored one as it was.
    assert_eq!(json(app.get(path).await, 200).await, more);

    let r = app.raw(Method::PUT, path, b"{\"tests\": [".to_vec(), "application/json", Some(crate::helpers::KEY)).await;
    problem(r, 400, "malformed_json").await;
    problem(app.get("/v1/workflows/nope/tests").await, 404, "not_found").await;
    problem(app.put("/v1/workflows/nope/tests", &file).await, 404, "not_found").await;
}

#[tokio::test]
async fn the_editor_is_served_at_the_root_with_client_routes_and_assets() {
    let app = TestApp::spawn().await;
    for page in ["/", "/login", "/journeys/x", "/settings"] {
        let r = app.anonymous(Method::GET, page).await;
        assert_eq!(r.status(), 200, "{page}");
        assert_eq!(r.headers()["content-type"], "text/html", "{page}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{page}");
        let text = r.text().await.unwrap();
        assert!(text.to_lowercase().starts_with("<!doctype html>"), "{page}: {text}");
    }
    // The assets index.html refers to are served, cached for good.
    let index = app.anonymous(Method::GET, "/").await.text().await.unwrap();
    for asset in index.split('"').filter(|s| s.starts_with("/assets/")) {
        let r = app.anonymous(Method::GET, asset).await;
        assert_eq!(r.status(), 200, "{asset}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
        let expected = if asset.ends_with(".js") { "text/javascript" } else { "text/css" };
        if asset.ends_with(".js") || asset.ends_with(".css") {
            assert_eq!(r.headers()["content-type"], expected, "{asset}");
        }
    }
    // A missing file is a 404 problem, not the editor page.
    problem(app.anonymous(Method::GET, "/assets/missing-0000.js").await, 404, "not_found").await;
    problem(app.anonymous(Method::GET, "/favicon-missing.ico").await, 404, "not_found").await;
    // `/v1` keeps its own answers.
    problem(app.get("/v1/nothing-here").await, 404, "not_found").await;
    problem(app.get("/v1").await, 404, "not_found").await;
    let r = app.call(Method::PATCH, "/v1/workflows", None).await;
    assert_eq!(r.status(), 405);
    // Other methods outside `/v1` are not the editor's.
    problem(app.anonymous(Method::POST, "/journeys/x").await, 404, "not_found").await;
    // The API's own pages are still there.
    assert_eq!(app.anonymous(Method::GET, "/healthz").await.status(), 200);
    assert_eq!(app.anonymous(Method::GET, "/openapi.json").await.status(), 200);
}
