//! The template library over HTTP: versions, preview for a contact, publish-time checks,
//! pinned versions and deletes refused while a published journey uses a template.

use crate::helpers::{TestApp, json, problem};
use chrono::TimeDelta;
use serde_json::{Value, json};

fn footer(text: &str) -> Value {
    json!({ "id": "footer", "name": "Footer", "kind": "partial", "content": text })
}

fn welcome(subject: &str) -> Value {
    json!({ "id": "welcome", "name": "Welcome", "kind": "message",
            "message": { "channel": "email", "subject": subject,
                         "body": "<p>Hi {{default contact.first_name \"there\"}}, you joined {{format_date contact.joined_at \"%B %-d, %Y\"}}.</p>{{> footer}}",
                         "layout": "brand" } })
}

fn brand() -> Value {
    json!({ "id": "brand", "name": "Brand", "kind": "layout", "content": "<main>{{> @partial-block}}</main>" })
}

/// An API-started journey: send `message`, wait a day, send it again.
fn journey(message: Value) -> Value {
    json!({
        "id": "greet", "name": "Greet",
        "trigger": { "type": "api", "next": "send" },
        "nodes": [
            { "id": "send", "type": "send", "message": message, "next": "wait" },
            { "id": "wait", "type": "delay", "duration": "1d", "next": "send_again" },
            { "id": "send_again", "type": "send", "message": message, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

async fn create_library(app: &TestApp) {
    for t in [footer("<small>Bye</small>"), brand(), welcome("Welcome, {{contact.first_name}}")] {
        json(app.post("/v1/templates", &t).await, 201).await;
    }
}

async fn identify(app: &TestApp, id: &str) {
    let traits =
        json!({ "email": format!("{id}@example.com"), "first_name": "Ann", "joined_at": "2026-03-01T10:00:00Z" });
    json(app.post("/v1/identify", &json!({ "userId": id, "traits": traits })).await, 200).await;
}

async fn bodies(app: &TestApp, contact: &str) -> Vec<(String, String)> {
    let page = json(app.get(&format!("/v1/messages?contact={contact}")).await, 200).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (m["message"]["subject"].as_str().unwrap().to_string(), m["message"]["body"].as_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test]
async fn every_save_is_a_version_and_each_version_can_be_read() {
    let app = TestApp::spawn().await;
    let created = app.post("/v1/templates", &footer("<small>v1</small>")).await;
    assert_eq!(created.headers()["location"], "/v1/templates/footer");
    let created = json(created, 201).await;
    assert_eq!((created["version"].as_u64(), created["kind"].as_str()), (Some(1), Some("partial")));
    problem(app.post("/v1/templates", &footer("x")).await, 409, "template_exists").await;

    let saved = json(app.put("/v1/templates/footer", &footer("<small>v2</small>")).await, 200).await;
    assert_eq!(saved["version"], 2);
    // Saving the same content again makes no new version.
    let same = json(app.put("/v1/templates/footer", &footer("<small>v2</small>")).await, 200).await;
    assert_eq!(same["version"], 2);

    let versions = json(app.get("/v1/templates/footer/versions").await, 200).await;
    let numbers: Vec<u64> =
        versions["data"].as_array().unwrap().iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2]);
    let v1 = json(app.get("/v1/templates/footer/versions/1").await, 200).await;
    assert_eq!(v1["content"], "<small>v1</small>");
    assert_eq!(json(app.get("/v1/templates/footer").await, 200).await["content"], "<small>v2</small>");
    problem(app.get("/v1/templates/footer/versions/3").await, 404, "not_found").await;
    problem(app.get("/v1/templates/nope").await, 404, "not_found").await;

    let list = json(app.get("/v1/templates?kind=partial").await, 200).await;
    assert_eq!(list["data"][0]["id"], "footer");
    assert_eq!(list["data"][0]["latest_version"], 2);
    assert_eq!(json(app.get("/v1/templates?kind=message").await, 200).await["data"], json!([]));

    // Bad saves: nothing stored, every problem at its pointer.
    let bad = problem(
        app.post(
            "/v1/templates",
            &json!({ "id": "Bad Id", "name": "x", "kind": "message",
            "message": { "channel": "sms", "body": "" }, "colour": 1 }),
        )
        .await,
        422,
        "invalid_template",
    )
    .await;
    let pointers: Vec<&str> =
        bad["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/colour"]);
    let bad = problem(
        app.post("/v1/templates", &json!({ "id": "x", "name": "X", "kind": "message",
            "message": { "channel": "email", "subject": "{{format_number contact.first_name}}", "body": "{{#if a}}" } }))
        .await,
        422,
        "invalid_template",
    )
    .await;
    let errors = bad["errors"].as_array().unwrap();
    assert_eq!(errors[0]["pointer"], "/message/subject");
    assert!(errors[0]["message"].as_str().unwrap().contains("format_number needs a number"), "{bad}");
    assert_eq!(errors[1]["pointer"], "/message/body");
    problem(
        app.put("/v1/templates/footer", &json!({ "id": "other", "name": "F", "kind": "partial", "content": "x" }))
            .await,
        400,
        "id_mismatch",
    )
    .await;
    let as_layout =
        json!({ "id": "footer", "name": "F", "kind": "layout", "content": "<main>{{> @partial-block}}</main>" });
    let kind = problem(app.put("/v1/templates/footer", &as_layout).await, 409, "kind_changed").await;
    assert_eq!(kind["errors"][0]["pointer"], "/kind");
    problem(
        app.put("/v1/templates/nope", &json!({ "id": "nope", "name": "N", "kind": "partial", "content": "x" })).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(json(app.get("/v1/templates/footer").await, 200).await["version"], 2, "nothing changed");
}

#[tokio::test]
async fn preview_renders_for_a_stored_contact_and_names_the_field_that_fails() {
    let app = TestApp::spawn().await;
    create_library(&app).await;
    identify(&app, "ann").await;
    let preview = json(app.post("/v1/templates/welcome/preview", &json!({ "contact_id": "ann" })).await, 200).await;
    assert_eq!(preview["channel"], "email");
    assert_eq!(preview["to"], "ann@example.com");
    assert_eq!(preview["subject"], "Welcome, Ann");
    assert_eq!(preview["body"], "<main><p>Hi Ann, you joined March 1, 2026.</p><small>Bye</small></main>");
    assert_eq!(preview["version"], 1);

    // Inline attributes over the contact's; a partial alone; a layout around a sample body.
    let preview = json(
        app.post(
            "/v1/templates/welcome/preview",
            &json!({ "contact_id": "ann", "attributes": { "first_name": "A&B" } }),
        )
        .await,
        200,
    )
    .await;
    assert!(preview["body"].as_str().unwrap().contains("Hi A&amp;B,"), "{preview}");
    let partial = json(app.post("/v1/templates/footer/preview", &json!({})).await, 200).await;
    assert_eq!((partial["kind"].as_str(), partial["body"].as_str()), (Some("partial"), Some("<small>Bye</small>")));
    let layout = json(app.post("/v1/templates/brand/preview", &json!({})).await, 200).await;
    assert_eq!(layout["body"], "<main><p>The message body goes here.</p></main>");
    // Unsaved edits render without being saved.
    let draft = json(
        app.post(
            "/v1/templates/welcome/preview",
            &json!({ "contact_id": "ann", "template": welcome("Hey {{contact.first_name}}") }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(draft["subject"], "Hey Ann");
    assert_eq!(draft["version"], Value::Null);

    // A value of the wrong type for a helper: a clear error naming the field.
    let failed = problem(
        app.post("/v1/templates/welcome/preview", &json!({ "attributes": { "joined_at": "last week" } })).await,
        422,
        "render_failed",
    )
    .await;
    assert_eq!(failed["errors"][0]["pointer"], "/message/body");
    let message = failed["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("body: ")
            && message.contains("format_date needs a date")
            && message.contains("\"last week\""),
        "{message}"
    );
    // No address: rendered, with a warning.
    let nobody = json(app.post("/v1/templates/welcome/preview", &json!({ "attributes": {} })).await, 200).await;
    assert_eq!(nobody["to"], Value::Null);
    assert!(nobody["warning"].as_str().unwrap().contains("`email`"), "{nobody}");
    problem(
        app.post("/v1/templates/welcome/preview", &json!({ "contact_id": "nobody" })).await,
        422,
        "unknown_contact",
    )
    .await;
    problem(app.post("/v1/templates/nope/preview", &json!({})).await, 404, "not_found").await;
    problem(app.post("/v1/templates/welcome/preview", &json!({ "version": 9 })).await, 404, "not_found").await;
    // A missing partial is named with its place in the template.
    json(app.put("/v1/templates/footer", &footer("{{> social}}")).await, 200).await;
    let broken = problem(app.post("/v1/templates/welcome/preview", &json!({})).await, 422, "invalid_template").await;
    assert_eq!(broken["errors"][0]["pointer"], "/message/body");
    assert!(broken["errors"][0]["message"].as_str().unwrap().contains("the partial `social`"), "{broken}");
}

#[tokio::test]
async fn publishing_rejects_a_missing_template_or_a_broken_partial_at_the_node() {
    let app = TestApp::spawn().await;
    json(app.post("/v1/workflows", &journey(json!({ "channel": "email", "template": "welcome" }))).await, 201).await;
    let refused = problem(app.post("/v1/workflows/greet/publish", &json!({})).await, 422, "invalid_workflow").await;
    let errors = refused["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{refused}");
    assert_eq!(
        (errors[0]["pointer"].as_str(), errors[0]["node"].as_str()),
        (Some("/nodes/0/message/template"), Some("send"))
    );
    assert_eq!(errors[0]["code"], "missing_template");
    assert!(errors[0]["message"].as_str().unwrap().contains("there is no template `welcome`"), "{refused}");
    // The draft says so too.
    let detail = json(app.get("/v1/workflows/greet").await, 200).await;
    assert_eq!(detail["valid"], false);
    assert_eq!(detail["problems"][0]["code"], "missing_template");

    // A footer that uses a partial nobody made: saved (the library may be filled in any
    // order), refused at publish with the node's pointer.
    json(app.post("/v1/templates", &footer("<p>{{> social-links}}</p>")).await, 201).await;
    let inline = json!({ "channel": "email", "subject": "Hi", "body": "<p>Hello</p>{{> footer}}" });
    json(app.put("/v1/workflows/greet", &journey(inline)).await, 200).await;
    let refused = problem(app.post("/v1/workflows/greet/publish", &json!({})).await, 422, "invalid_workflow").await;
    let e = &refused["errors"][0];
    assert_eq!(
        (e["pointer"].as_str(), e["node"].as_str(), e["code"].as_str()),
        (Some("/nodes/0/message/body"), Some("send"), Some("missing_template"))
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("the partial `footer`: `{{> social-links}}` uses the partial `social-links`"),
        "{refused}"
    );
    // `validate` reports the same.
    let report = json(app.post("/v1/workflows/greet/validate", &json!({})).await, 200).await;
    assert_eq!(report["problems"][0]["pointer"], "/nodes/0/message/body");

    // Wrong channel and a version that does not exist, at their fields.
    create_library_rest(&app).await;
    let doc = journey(json!({ "channel": "sms", "template": "welcome", "version": 4 }));
    json(app.put("/v1/workflows/greet", &doc).await, 200).await;
    let refused = problem(app.post("/v1/workflows/greet/publish", &json!({})).await, 422, "invalid_workflow").await;
    assert_eq!(refused["errors"][0]["pointer"], "/nodes/0/message/version");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("has no version 4; its latest is version 1"));
    let doc = journey(json!({ "channel": "sms", "template": "welcome" }));
    json(app.put("/v1/workflows/greet", &doc).await, 200).await;
    let refused = problem(app.post("/v1/workflows/greet/publish", &json!({})).await, 422, "invalid_workflow").await;
    assert_eq!(refused["errors"][0]["pointer"], "/nodes/0/message/channel");
    assert_eq!(json(app.get("/v1/workflows/greet").await, 200).await["live_version"], Value::Null, "nothing published");
}

/// The layout and message template (the footer is made by the test).
async fn create_library_rest(app: &TestApp) {
    json(app.post("/v1/templates", &brand()).await, 201).await;
    json(app.post("/v1/templates", &welcome("Welcome, {{contact.first_name}}")).await, 201).await;
}

#[tokio::test]
async fn a_published_journey_keeps_sending_the_pinned_version_until_it_is_published_again() {
    let app = TestApp::spawn().await;
    create_library(&app).await;
    identify(&app, "ann").await;
    identify(&app, "bob").await;
    json(app.post("/v1/workflows", &journey(json!({ "channel": "email", "template": "welcome" }))).await, 201).await;
    json(app.post("/v1/workflows/greet/publish", &json!({})).await, 201).await;
    let v1 = json(app.get("/v1/workflows/greet/versions/1").await, 200).await;
    assert_eq!(
        v1["templates"],
        json!([{ "id": "brand", "version": 1 }, { "id": "footer", "version": 1 }, { "id": "welcome", "version": 1 }])
    );
    json(app.post("/v1/workflows/greet/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    app.tick().await;

    // The templates change: the live journey does not.
    json(app.put("/v1/templates/welcome", &welcome("NEW subject for {{contact.first_name}}")).await, 200).await;
    json(app.put("/v1/templates/footer", &footer("<small>NEW footer</small>")).await, 200).await;
    let detail = json(app.get("/v1/workflows/greet").await, 200).await;
    assert_eq!(detail["unpublished_changes"], true, "publishing would pin the new versions");
    json(app.post("/v1/workflows/greet/runs", &json!({ "contact_id": "bob" })).await, 201).await;
    app.tick().await;
    // (Every test contact's first name is Ann.)
    assert_eq!(bodies(&app, "bob").await[0].0, "Welcome, Ann", "the pinned subject");
    assert!(bodies(&app, "bob").await[0].1.contains("<small>Bye</small>"), "the pinned footer");

    // Published again: new runs get the new versions; a run in flight stays on its version.
    let published = json(app.post("/v1/workflows/greet/publish", &json!({})).await, 201).await;
    assert_eq!(published["version"], 2);
    assert_eq!(json(app.get("/v1/workflows/greet").await, 200).await["unpublished_changes"], false);
    assert_eq!(json(app.post("/v1/workflows/greet/publish", &json!({})).await, 200).await["version"], 2);
    identify(&app, "cat").await;
    json(app.post("/v1/workflows/greet/runs", &json!({ "contact_id": "cat" })).await, 201).await;
    app.tick().await;
    let cat = bodies(&app, "cat").await;
    assert_eq!(cat[0].0, "NEW subject for Ann");
    assert!(cat[0].1.contains("NEW footer"), "{cat:?}");
    app.advance(TimeDelta::days(1)).await;
    let ann = bodies(&app, "ann").await;
    assert_eq!(ann.len(), 2);
    assert_eq!(ann[1].0, "Welcome, Ann", "ann's run is on version 1");
    assert!(ann[1].1.contains("<small>Bye</small>") && !ann[1].1.contains("NEW"), "{ann:?}");
}

#[tokio::test]
async fn a_template_in_use_cannot_be_deleted_and_its_versions_stay() {
    let app = TestApp::spawn().await;
    create_library(&app).await;
    identify(&app, "ann").await;
    json(app.post("/v1/workflows", &journey(json!({ "channel": "email", "template": "welcome" }))).await, 201).await;
    json(app.post("/v1/workflows/greet/publish", &json!({})).await, 201).await;

    let refused = problem(app.delete("/v1/templates/footer").await, 409, "template_in_use").await;
    assert!(refused["detail"].as_str().unwrap().contains("`greet` version 1 (live)"), "{refused}");
    let detail = json(app.get("/v1/templates/footer").await, 200).await;
    assert_eq!(
        detail["used_by"],
        json!([{ "workflow_id": "greet", "workflow_version": 1, "template_version": 1, "reason": "live" }])
    );

    // Archived, with a run still going: still in use.
    let run = json(app.post("/v1/workflows/greet/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    app.tick().await;
    json(app.post("/v1/workflows/greet/archive", &json!({})).await, 200).await;
    let refused = problem(app.delete("/v1/templates/welcome").await, 409, "template_in_use").await;
    assert!(refused["detail"].as_str().unwrap().contains("1 run(s) still going"), "{refused}");

    // Once the run is over it can go; its versions stay readable, and the run's journey
    // version still compiles with them.
    let run_id = run["id"].as_str().unwrap();
    json(app.post(&format!("/v1/runs/{run_id}/cancel"), &json!({})).await, 200).await;
    let r = app.delete("/v1/templates/welcome").await;
    assert_eq!(r.status(), 204);
    problem(app.get("/v1/templates/welcome").await, 404, "not_found").await;
    problem(app.delete("/v1/templates/welcome").await, 404, "not_found").await;
    assert_eq!(json(app.get("/v1/templates/welcome/versions/1").await, 200).await["message"]["channel"], "email");
    // Publishing a journey that uses it now is refused; creating it again continues its versions.
    json(app.post("/v1/workflows/greet/resume", &json!({})).await, 200).await;
    let detail = json(app.get("/v1/workflows/greet").await, 200).await;
    assert_eq!(detail["problems"][0]["code"], "missing_template");
    let again = json(app.post("/v1/templates", &welcome("Back")).await, 201).await;
    assert_eq!(again["version"], 2);
    identify(&app, "bob").await;
    json(app.post("/v1/workflows/greet/runs", &json!({ "contact_id": "bob" })).await, 201).await;
    app.tick().await;
    assert_eq!(bodies(&app, "bob").await[0].0, "Welcome, Ann", "the resumed version 1 sends what it pinned");
}

#[tokio::test]
async fn the_openapi_document_lists_every_template_route_with_its_errors() {
    let app = TestApp::spawn().await;
    let doc: Value =
        app.client.get(format!("{}/openapi.json", app.address)).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method, statuses) in [
        ("/v1/templates", "get", &["200", "400", "401", "500"][..]),
        ("/v1/templates", "post", &["201", "400", "401", "403", "409", "413", "415", "422", "500"]),
        ("/v1/templates/{id}", "get", &["200", "401", "404", "500"]),
        ("/v1/templates/{id}", "put", &["200", "400", "401", "403", "404", "409", "413", "415", "422", "500"]),
        ("/v1/templates/{id}", "delete", &["204", "401", "403", "404", "409", "500"]),
        ("/v1/templates/{id}/versions", "get", &["200", "400", "401", "404", "500"]),
        ("/v1/templates/{id}/versions/{version}", "get", &["200", "400", "401", "404", "500"]),
        ("/v1/templates/{id}/preview", "post", &["200", "400", "401", "403", "404", "413", "415", "422", "500"]),
    ] {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"))[method];
        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path}"));
        let mut got: Vec<&str> = responses.keys().map(String::as_str).collect();
        got.sort();
        assert_eq!(got, statuses, "{method} {path}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["TemplateDocument", "TemplateDetail", "TemplatePreview", "TemplatePreviewRequest", "TemplatePage"] {
        assert!(schemas.contains_key(name), "{name} missing");
    }
}
