//! `/v1/workflows/{id}/tests`: the journey's test file (the format of
//! `workflows/<id>.test.json`, described by `/test.schema.json`), kept with the workflow
//! so that the editor can save a case built in its test panel and `kairos pull` can
//! write it beside the journey.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::contacts::ContactId;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, put, web};
use kairos_engine::journey_test::{self, TestFile};
use kairos_engine::store;
use kairos_engine::time::{parse_duration, parse_timestamp};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_tests).service(put_tests);
}

/// A journey test file: `{"$schema"?: "./test.schema.json", "tests": [case, ...]}`, each
/// case with `name`, `contact`, `start`?, `events`, `horizon`? and `expect` (see
/// `/test.schema.json` and the README's "Journey tests").
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestFileDocument {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub tests: Vec<Value>,
}

fn not_found(id: &str) -> String {
    format!("there is no workflow `{id}`")
}

/// Errors of `GET /v1/workflows/{id}/tests`.
#[derive(Debug, thiserror::Error)]
pub enum GetTestsError {
    #[error("{}", not_found(.0))]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetTestsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// The workflow's journey test file (`{"tests": []}` when it has none).
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The test file", body = TestFileDocument),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/workflows/{id}/tests")]
pub async fn get_tests(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, GetTestsError> {
    let id = path.into_inner();
    let reader = state.store().reader();
    if store::get_workflow(reader, &id).await?.is_none() {
        return Err(GetTestsError::NotFound(id));
    }
    let text =
        store::get_journey_tests(reader, &id).await?.map_or_else(|| json!({ "tests": [] }).to_string(), |r| r.text);
    Ok(HttpResponse::Ok().content_type("application/json").body(text))
}

/// Errors of `PUT /v1/workflows/{id}/tests`.
#[derive(Debug, thiserror::Error)]
pub enum PutTestsError {
    #[error("{}", not_found(.0))]
    NotFound(String),
    #[error("the test file has {} problem(s): {}", .0.len(), .0.iter().map(|p| format!("{} {}", p.pointer, p.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ProblemItem>),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PutTestsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Invalid(_) => "invalid_tests",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(items) => items.clone(),
            _ => vec![],
        }
    }
}

/// Check a test file beyond its shape: times, contact ids, and node ids against the
/// journey's nodes (`nodes`: id → type, when the draft has a node list).
pub fn check_test_file(file: &TestFile, nodes: Option<&BTreeMap<String, String>>) -> Vec<ProblemItem> {
    let mut out = Problems(Vec::new());
    for (i, case) in file.tests.iter().enumerate() {
        let at = format!("/tests/{i}");
        if case.name.trim().is_empty() {
            out.add(format!("{at}/name"), "invalid_value", "give the test a name saying what it shows".into());
        }
        if let Err(e) = ContactId::parse(&case.contact.id) {
            out.add(format!("{at}/contact/id"), "invalid_value", e);
        }
        if let Some(start) = &case.start
            && parse_timestamp(start).is_none()
        {
            out.add(format!("{at}/start"), "invalid_value", format!("`{start}` is not an RFC 3339 timestamp"));
        }
        if let Some(h) = &case.horizon {
            out.duration(format!("{at}/horizon"), h);
        }
        for (j, e) in case.events.iter().enumerate() {
            if parse_timestamp(&e.at).is_none() && parse_duration(&e.at).is_err() {
                let message = format!("`{}` is neither an offset such as `2h` nor an RFC 3339 timestamp", e.at);
                out.add(format!("{at}/events/{j}/at"), "invalid_value", message);
            }
            match (&e.name, e.api_start) {
                (None, false) => out.add(
                    format!("{at}/events/{j}"),
                    "missing_field",
                    "give the event a `name`, or set `api_start: true`".into(),
                ),
                (Some(_), true) => out.add(
                    format!("{at}/events/{j}"),
                    "invalid_value",
                    "an entry is either an event (`name`) or an API start (`api_start`), not both".into(),
                ),
                _ => {}
            }
        }
        for (k, s) in case.expect.sends.iter().flatten().enumerate() {
            out.node(nodes, format!("{at}/expect/sends/{k}/node"), &s.node, true);
            if let Some(t) = &s.at {
                out.duration(format!("{at}/expect/sends/{k}/at"), t);
            }
        }
        for (r, run) in case.expect.runs.iter().flatten().enumerate() {
            for (p, id) in run.path.iter().flatten().enumerate() {
                out.node(nodes, format!("{at}/expect/runs/{r}/path/{p}"), id, false);
            }
            if let Some(end) = &run.end {
                if let Some(id) = &end.node {
                    out.node(nodes, format!("{at}/expect/runs/{r}/end/node"), id, false);
                }
                if let Some(by) = &end.by {
                    out.duration(format!("{at}/expect/runs/{r}/end/by"), by);
                }
            }
        }
    }
    out.0
}

/// The problems found in a test file.
struct Problems(Vec<ProblemItem>);

impl Problems {
    fn add(&mut self, pointer: String, code: &str, message: String) {
        self.0.push(ProblemItem { pointer, node: None, message, code: code.into() });
    }

    fn duration(&mut self, pointer: String, text: &str) {
        if let Err(e) = parse_duration(text) {
            self.add(pointer, "invalid_duration", e);
        }
    }

    /// `id` must be a node of the journey (a send node if `send`), when the nodes are known.
    fn node(&mut self, nodes: Option<&BTreeMap<String, String>>, pointer: String, id: &str, send: bool) {
        let Some(nodes) = nodes else { return };
        match nodes.get(id) {
            None => self.add(pointer, "missing_node", format!("the journey has no node `{id}`")),
            Some(kind) if send && kind != "send" => self.0.push(ProblemItem {
                pointer,
                node: Some(id.to_string()),
                message: format!("`{id}` is a {kind} node, not a send node"),
                code: "invalid_value".into(),
            }),
            _ => {}
        }
    }
}

/// The node ids and types of a journey document, if it has a node list.
fn node_types(doc: &Value) -> Option<BTreeMap<String, String>> {
    let nodes = doc.get("nodes")?.as_array()?;
    Some(
        nodes
            .iter()
            .filter_map(|n| {
                let id = n.get("id")?.as_str()?.to_string();
                let kind = n.get("type").and_then(Value::as_str).unwrap_or("unknown").to_string();
                Some((id, kind))
            })
            .collect(),
    )
}

/// Replace the workflow's test file (the editor appends a case and saves the whole file).
/// It must parse as a journey test file, and its times, contact ids and node ids (against
/// the draft's nodes) must make sense; `errors` points at every problem. The text is kept
/// as sent, so `kairos pull` writes back the bytes `kairos push` read.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    request_body(content = TestFileDocument, description = "The whole test file, as `workflows/<id>.test.json`"),
    responses(
        (status = 200, description = "Stored; the file as stored", body = TestFileDocument),
        (status = 400, description = "Not JSON (`malformed_json`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid test file (`invalid_tests`); `errors` has a pointer for each problem", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[put("/workflows/{id}/tests")]
pub async fn put_tests(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Box<RawValue>>,
) -> Result<HttpResponse, PutTestsError> {
    let id = path.into_inner();
    let text = body.into_inner().get().to_string();
    let record = store::get_workflow(state.store().reader(), &id).await?.ok_or(PutTestsError::NotFound(id))?;
    let file = journey_test::parse(&text).map_err(|e| {
        PutTestsError::Invalid(vec![ProblemItem {
            pointer: e.pointer,
            node: None,
            message: e.message,
            code: "invalid_value".into(),
        }])
    })?;
    let problems = check_test_file(&file, node_types(&record.draft).as_ref());
    if !problems.is_empty() {
        return Err(PutTestsError::Invalid(problems));
    }
    let now = state.scheduler.now();
    let wid = record.id;
    let saved = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::save_journey_tests(tx, &wid, &text, now).await }))
        .await?;
    Ok(HttpResponse::Ok().content_type("application/json").body(saved.text))
}

crate::problem_response!(GetTestsError, PutTestsError);
