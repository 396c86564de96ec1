//! Health, metrics, the OpenAPI document, auth and fallback routes.

use crate::helpers::{TestApp, problem};
use reqwest::Method;

#[tokio::test]
async fn health_readiness_metrics_and_docs_need_no_key() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs/"] {
        let r = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kairos_outbox_backlog 0"), "{metrics}");
    assert!(metrics.contains("kairos_scheduler_lag_seconds"), "{metrics}");
    let docs = app.client.get(format!("{}/docs/", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(!docs.contains("cdn") && !docs.contains("unpkg"), "the docs load nothing from the internet");
}

#[tokio::test]
async fn v1_needs_a_valid_key() {
    let app = TestApp::spawn().await;
    problem(app.raw(Method::GET, "/v1/contacts", vec![], "application/json", None).await, 401, "unauthorized").await;
    problem(
        app.raw(Method::GET, "/v1/contacts", vec![], "application/json", Some("wrong")).await,
        401,
        "invalid_api_key",
    )
    .await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = TestApp::spawn().await;
    // Outside `/v1` unknown pages are the editor's (see editor.rs); under it they are 404.
    problem(app.get("/v1/nowhere").await, 404, "not_found").await;
    let r = app.client.delete(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    problem(r, 405, "method_not_allowed").await;
    // A concrete path is not the templated one beside it: `/v1/segments/preview` is not a segment.
    let r = app.call(Method::OPTIONS, "/v1/segments/preview", None).await;
    assert_eq!(r.headers()["allow"], "POST");
    problem(r, 405, "method_not_allowed").await;
    let r = app.call(Method::PATCH, "/v1/segments/vip", None).await;
    assert_eq!(r.headers()["allow"], "DELETE, GET, PUT");
    problem(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_documents_errors() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value =
        app.client.get(format!("{}/openapi.json", app.address)).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["components"]["schemas"]["ProblemDetails"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    // Each body has its own schema: the workflow preview's was the segment preview's, both
    // being `PreviewRequest` (found by schemathesis).
    let body = |path: &str| {
        let r = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].clone();
        let name = r.as_str().unwrap().rsplit('/').next().unwrap().to_string();
        doc["components"]["schemas"][name].clone()
    };
    assert!(body("/v1/workflows/{id}/preview")["properties"]["node"].is_object());
    assert!(body("/v1/segments/preview")["properties"]["condition"].is_object());
}
