//! `/v1/workflows`: drafts the editor saves (valid or not), validation, immutable
//! published versions, the live → paused → archived life cycle, the canonical export and
//! per-node statistics for the canvas.
//!
//! A workflow has one editable **draft** (any JSON object with a slug `id` and a `name`,
//! so the editor can autosave half-finished work) and numbered **versions**: publishing
//! validates the draft and stores its canonical text (the bytes `kairos fmt` writes) as
//! version N, which becomes live. Runs stay on the version they started on.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::page_limit;
use crate::routes::templates::library_for;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use kairos_engine::Problem;
use kairos_engine::store::{self, WorkflowInfo, WorkflowRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

/// Register the workflow routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_workflows)
        .service(create_workflow)
        .service(get_workflow)
        .service(update_workflow)
        .service(validate_workflow)
        .service(publish_workflow)
        .service(pause_workflow)
        .service(resume_workflow)
        .service(archive_workflow)
        .service(list_versions)
        .service(get_version)
        .service(export_workflow)
        .service(workflow_stats);
}

// ----- Shared pieces -----

/// The validation problems as response items.
fn problem_items(problems: &[Problem]) -> Vec<ProblemItem> {
    problems.iter().map(ProblemItem::from).collect()
}

/// Where a workflow is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    /// Never published.
    Draft,
    /// Published: new contacts enter the live version.
    Live,
    /// No new entries; runs in flight go on.
    Paused,
    /// Retired: no new entries; runs in flight go on.
    Archived,
}

impl From<store::WorkflowStatus> for WorkflowStatus {
    fn from(s: store::WorkflowStatus) -> Self {
        match s {
            store::WorkflowStatus::Draft => WorkflowStatus::Draft,
            store::WorkflowStatus::Live => WorkflowStatus::Live,
            store::WorkflowStatus::Paused => WorkflowStatus::Paused,
            store::WorkflowStatus::Archived => WorkflowStatus::Archived,
        }
    }
}

impl From<WorkflowStatus> for store::WorkflowStatus {
    fn from(s: WorkflowStatus) -> Self {
        match s {
            WorkflowStatus::Draft => store::WorkflowStatus::Draft,
            WorkflowStatus::Live => store::WorkflowStatus::Live,
            WorkflowStatus::Paused => store::WorkflowStatus::Paused,
            WorkflowStatus::Archived => store::WorkflowStatus::Archived,
        }
    }
}

/// A workflow as lists show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkflowSummary {
    /// The journey's slug id, e.g. `abandoned-cart`.
    pub id: String,
    /// Display name (from the draft).
    pub name: String,
    pub status: WorkflowStatus,
    /// The version new contacts enter (while `live`); `null` if never published.
    pub live_version: Option<u32>,
    /// The most recently published version; `null` if never published.
    pub latest_version: Option<u32>,
    /// Runs still going (active or waiting), on any version.
    pub active_runs: u64,
    pub created_at: DateTime<Utc>,
    /// When the draft or the status last changed.
    pub updated_at: DateTime<Utc>,
}

impl WorkflowSummary {
    fn new(w: &WorkflowInfo, active_runs: u64) -> Self {
        WorkflowSummary {
            id: w.id.clone(),
            name: w.name.clone(),
            status: w.status.into(),
            live_version: w.live_version,
            latest_version: (w.latest_version > 0).then_some(w.latest_version),
            active_runs,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

fn info_of(r: &WorkflowRecord) -> WorkflowInfo {
    WorkflowInfo {
        id: r.id.clone(),
        name: r.name.clone(),
        status: r.status,
        live_version: r.live_version,
        latest_version: r.latest_version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// The summary of one workflow, with its active run count.
async fn summary_of(state: &AppState, r: &WorkflowRecord) -> Result<WorkflowSummary, store::Error> {
    let active = store::count_active_runs(state.store().reader(), std::slice::from_ref(&r.id)).await?;
    Ok(WorkflowSummary::new(&info_of(r), active.get(&r.id).copied().unwrap_or(0)))
}

/// A workflow with its draft and the draft's current validation problems.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkflowDetail {
    #[serde(flatten)]
    pub summary: WorkflowSummary,
    /// The journey document as last saved (see `/schema.json` for the format). It may
    /// be invalid: `problems` says what to fix before it can be published.
    #[schema(value_type = Object)]
    pub draft: Value,
    /// Whether the draft can be published as it is.
    pub valid: bool,
    /// Every validation problem of the draft, in document order (empty when valid).
    pub problems: Vec<ProblemItem>,
    /// Whether the draft differs from the latest published version (always true before
    /// the first publish).
    pub unpublished_changes: bool,
}

/// Every problem of a draft: the format's, or else the sends naming a topic the
/// workspace does not have.
/// The problems of a draft against the workspace's template library and topics, and
/// the template versions it would pin when it has none.
async fn draft_problems(
    state: &AppState,
    draft: &Value,
) -> Result<(Vec<Problem>, Option<Vec<(String, u32)>>), store::Error> {
    let library = library_for(state, draft).await?;
    match kairos_engine::validate::validate_value_in(draft.clone(), &library) {
        Ok(journey) => Ok((topic_problems(state.store().reader(), &journey).await?, Some(journey.template_pins()))),
        Err(problems) => Ok((problems, None)),
    }
}

/// The sends of `journey` naming a topic the workspace does not have.
async fn topic_problems<C: sea_orm::ConnectionTrait>(
    db: &C,
    journey: &kairos_engine::Journey,
) -> Result<Vec<Problem>, store::Error> {
    let uses_topics =
        journey.workflow().nodes.iter().any(|n| matches!(n, kairos_engine::nodes::Node::Send(s) if s.topic.is_some()));
    if !uses_topics {
        return Ok(vec![]);
    }
    Ok(kairos_engine::consent::unknown_topics(journey, &store::topic_ids(db).await?))
}

async fn detail_of(state: &AppState, r: WorkflowRecord) -> Result<WorkflowDetail, store::Error> {
    let summary = summary_of(state, &r).await?;
    let (problems, pins) = draft_problems(state, &r.draft).await?;
    let problems = problem_items(&problems);
    let latest = match r.latest_version {
        0 => None,
        n => store::get_version(state.store().reader(), &r.id, n).await?,
    };
    // A template edited since the latest version counts: publishing would pin its new version.
    let unpublished_changes = match (latest, kairos_engine::validate::parse(&r.draft.to_string())) {
        (Some(v), Ok(draft)) if draft.to_canonical() == v.definition => match pins {
            Some(pins) => pins != store::get_pins(state.store().reader(), &v.workflow_id, v.version).await?,
            None => false,
        },
        _ => true,
    };
    Ok(WorkflowDetail { summary, draft: r.draft, valid: problems.is_empty(), problems, unpublished_changes })
}

/// A journey document: the JSON format of `workflows/*.json`, described by `/schema.json`.
///
/// Drafts may be incomplete or invalid while they are edited, but every draft must be a
/// JSON object with a slug `id` (lowercase letters, digits, `-`, `_`) and a `name`.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct JourneyDocument(Map<String, Value>);

/// A journey id: what [`kairos_engine::validate::is_slug`] accepts.
const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";

impl utoipa::PartialSchema for JourneyDocument {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        let string = |description: &str, pattern: &str| {
            ObjectBuilder::new().schema_type(Type::String).description(Some(description)).pattern(Some(pattern))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A journey document: the JSON format of `workflows/*.json`, described by `/schema.json`. \
                 Drafts may be incomplete or invalid while they are edited, but every draft must be a JSON \
                 object with a slug `id` and a `name`.",
            ))
            .property("id", string("Stable slug: lowercase letters, digits, `-`, `_`; at most 64.", SLUG_PATTERN))
            .property("name", string("Display name (not blank).", "\\S"))
            .required("id")
            .required("name")
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .build()
            .into()
    }
}

impl ToSchema for JourneyDocument {}

/// A draft that can be stored: a JSON object with a slug id and a name.
#[derive(Debug, Clone)]
pub struct Draft {
    pub id: String,
    pub name: String,
    pub document: Value,
}

/// Why a body cannot be stored as a draft.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the journey document cannot be saved: {}", .0.iter().map(|p| format!("{} {}", p.pointer, p.message)).collect::<Vec<_>>().join("; "))]
pub struct DraftError(Vec<ProblemItem>);

impl TryFrom<JourneyDocument> for Draft {
    type Error = DraftError;

    fn try_from(doc: JourneyDocument) -> Result<Self, Self::Error> {
        let map = doc.0;
        let mut problems = Vec::new();
        let mut item = |pointer: &str, code: &str, message: String| {
            problems.push(ProblemItem { pointer: pointer.into(), node: None, message, code: code.into() })
        };
        let id = match map.get("id") {
            Some(Value::String(id)) if kairos_engine::validate::is_slug(id) => Some(id.clone()),
            Some(Value::String(id)) => {
                item(
                    "/id",
                    "invalid_id",
                    format!(
                        "`{id}` is not a valid journey id; use lowercase letters, digits, `-` and `_` (at most 64), e.g. `abandoned-cart`"
                    ),
                );
                None
            }
            Some(other) => {
                item("/id", "invalid_value", format!("`id` must be a string slug, not {}", kind(other)));
                None
            }
            None => {
                item("/id", "missing_field", "every draft needs an `id`, e.g. `abandoned-cart`".into());
                None
            }
        };
        let name = match map.get("name") {
            Some(Value::String(name)) if !name.trim().is_empty() => Some(name.clone()),
            Some(Value::String(_)) => {
                item(
                    "/name",
                    "invalid_value",
                    "the name is empty; give the journey a name people will recognise".into(),
                );
                None
            }
            Some(other) => {
                item("/name", "invalid_value", format!("`name` must be a string, not {}", kind(other)));
                None
            }
            None => {
                item("/name", "missing_field", "every draft needs a `name`".into());
                None
            }
        };
        match (id, name) {
            (Some(id), Some(name)) => Ok(Draft { id, name, document: Value::Object(map) }),
            _ => Err(DraftError(problems)),
        }
    }
}

/// A JSON type in words.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Query of `GET /v1/workflows`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListWorkflowsQuery {
    /// Only workflows with this status.
    #[param(inline)]
    pub status: Option<WorkflowStatus>,
    /// Cursor: the `next` of the previous page (workflows are ordered by id).
    pub after: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// A page of workflows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkflowPage {
    pub data: Vec<WorkflowSummary>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next: Option<String>,
}

// ----- GET /v1/workflows -----

/// Errors of `GET /v1/workflows`.
#[derive(Debug, thiserror::Error)]
pub enum ListWorkflowsError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListWorkflowsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidQuery(_) => "invalid_query",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// List workflows (by id, paginated), with their status, versions and active run count.
#[utoipa::path(
    tag = "workflows",
    params(ListWorkflowsQuery),
    responses(
        (status = 200, description = "A page of workflows", body = WorkflowPage),
        (status = 400, description = "Bad query (`invalid_query`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/workflows")]
pub async fn list_workflows(
    state: web::Data<AppState>,
    query: web::Query<ListWorkflowsQuery>,
) -> Result<web::Json<WorkflowPage>, ListWorkflowsError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit).map_err(ListWorkflowsError::InvalidQuery)?;
    let reader = state.store().reader();
    let mut rows = store::list_workflow_infos(reader, q.after.as_deref(), q.status.map(Into::into), limit + 1).await?;
    let next = (rows.len() as u64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|w| w.id.clone())
    });
    let ids: Vec<String> = rows.iter().map(|w| w.id.clone()).collect();
    let active = store::count_active_runs(reader, &ids).await?;
    let data = rows.iter().map(|w| WorkflowSummary::new(w, active.get(&w.id).copied().unwrap_or(0))).collect();
    Ok(web::Json(WorkflowPage { data, next: next.flatten() }))
}

// ----- POST /v1/workflows -----

/// Errors of `POST /v1/workflows`.
#[derive(Debug, thiserror::Error)]
pub enum CreateWorkflowError {
    #[error(transparent)]
    InvalidDraft(#[from] DraftError),
    #[error("a workflow with id `{0}` exists already; change its draft with PUT /v1/workflows/{0}")]
    Exists(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for CreateWorkflowError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidDraft(_) => StatusCode::BAD_REQUEST,
            Self::Exists(_) => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidDraft(_) => "invalid_draft",
            Self::Exists(_) => "workflow_exists",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::InvalidDraft(e) => e.0.clone(),
            _ => vec![],
        }
    }
}

/// Create a workflow from a journey document (its first draft). The draft may have
/// validation problems; the response lists them.
#[utoipa::path(
    tag = "workflows",
    request_body(content = JourneyDocument, description = "A journey document (see `/schema.json`); it needs at least a slug `id` and a `name`"),
    responses(
        (status = 201, description = "Created, with the draft's validation problems", body = WorkflowDetail,
            headers(("Location" = String, description = "The workflow's URL"))),
        (status = 400, description = "Not JSON (`malformed_json`), not an object (`invalid_body`), or no slug `id` / `name` (`invalid_draft`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken (`workflow_exists`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/workflows")]
pub async fn create_workflow(
    state: web::Data<AppState>,
    body: web::Json<JourneyDocument>,
) -> Result<HttpResponse, CreateWorkflowError> {
    let draft = Draft::try_from(body.into_inner())?;
    let now = state.scheduler.now();
    let (id, name, document) = (draft.id.clone(), draft.name, draft.document);
    let created = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::create_workflow(tx, &id, &name, &document, now).await }))
        .await?
        .ok_or_else(|| CreateWorkflowError::Exists(draft.id.clone()))?;
    let location = format!("/v1/workflows/{}", created.id);
    let detail = detail_of(&state, created).await?;
    Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(detail))
}

// ----- GET /v1/workflows/{id} -----

/// Errors of `GET /v1/workflows/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum GetWorkflowError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetWorkflowError {
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

/// A workflow with its draft and the draft's validation problems.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The workflow", body = WorkflowDetail),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/workflows/{id}")]
pub async fn get_workflow(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<WorkflowDetail>, GetWorkflowError> {
    let id = path.into_inner();
    let record = store::get_workflow(state.store().reader(), &id).await?.ok_or(GetWorkflowError::NotFound(id))?;
    Ok(web::Json(detail_of(&state, record).await?))
}

// ----- PUT /v1/workflows/{id} -----

/// Errors of `PUT /v1/workflows/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum UpdateWorkflowError {
    #[error(transparent)]
    InvalidDraft(#[from] DraftError),
    #[error(
        "the document's id `{body}` does not match the workflow `{path}` in the URL; a workflow's id cannot change"
    )]
    IdMismatch { path: String, body: String },
    #[error("there is no workflow `{0}`; create it with POST /v1/workflows")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for UpdateWorkflowError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidDraft(_) | Self::IdMismatch { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidDraft(_) => "invalid_draft",
            Self::IdMismatch { .. } => "id_mismatch",
            Self::NotFound(_) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::InvalidDraft(e) => e.0.clone(),
            Self::IdMismatch { path, .. } => vec![ProblemItem {
                pointer: "/id".into(),
                node: None,
                message: format!("must be `{path}`"),
                code: "id_mismatch".into(),
            }],
            _ => vec![],
        }
    }
}

/// Replace the draft (the editor's save). Invalid drafts are kept, with their problems
/// in the response; a rejected request leaves the previous draft as it was.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    request_body(content = JourneyDocument, description = "The whole journey document; its `id` must be the one in the URL"),
    responses(
        (status = 200, description = "Saved, with the draft's validation problems", body = WorkflowDetail),
        (status = 400, description = "Not JSON (`malformed_json`), not an object (`invalid_body`), no slug `id` / `name` (`invalid_draft`), or another id than the URL's (`id_mismatch`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[put("/workflows/{id}")]
pub async fn update_workflow(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JourneyDocument>,
) -> Result<web::Json<WorkflowDetail>, UpdateWorkflowError> {
    let id = path.into_inner();
    let draft = Draft::try_from(body.into_inner())?;
    if draft.id != id {
        return Err(UpdateWorkflowError::IdMismatch { path: id, body: draft.id });
    }
    let now = state.scheduler.now();
    let saved = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move { store::save_draft(tx, &draft.id, &draft.name, &draft.document, now).await })
        })
        .await?
        .ok_or(UpdateWorkflowError::NotFound(id))?;
    Ok(web::Json(detail_of(&state, saved).await?))
}

// ----- POST /v1/workflows/{id}/validate -----

/// The result of validating a draft.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidationReport {
    /// Whether the draft can be published.
    pub valid: bool,
    /// Every problem, in document order, each with its JSON pointer, node and message.
    pub problems: Vec<ProblemItem>,
}

/// Errors of `POST /v1/workflows/{id}/validate`.
#[derive(Debug, thiserror::Error)]
pub enum ValidateWorkflowError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ValidateWorkflowError {
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

/// Validate the current draft: every problem at once (a draft with problems is still a
/// 200; it just cannot be published).
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The validation report", body = ValidationReport),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/workflows/{id}/validate")]
pub async fn validate_workflow(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<ValidationReport>, ValidateWorkflowError> {
    let id = path.into_inner();
    let record = store::get_workflow(state.store().reader(), &id).await?.ok_or(ValidateWorkflowError::NotFound(id))?;
    let problems = problem_items(&draft_problems(&state, &record.draft).await?.0);
    Ok(web::Json(ValidationReport { valid: problems.is_empty(), problems }))
}

// ----- POST /v1/workflows/{id}/publish -----

/// A published version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublishedVersion {
    pub workflow_id: String,
    /// The version number (1, 2, ...); it never changes once published.
    pub version: u32,
    pub published_at: DateTime<Utc>,
}

/// Errors of `POST /v1/workflows/{id}/publish`.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("the draft has {} problem(s); fix them before publishing", .0.len())]
    Invalid(Vec<Problem>),
    #[error("the draft changed while it was being published; publish again")]
    DraftChanged,
    #[error("the template(s) {} were deleted while the journey was being published; publish again", .0.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "))]
    TemplatesDeleted(Vec<String>),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PublishError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::DraftChanged | Self::TemplatesDeleted(_) => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Invalid(_) => "invalid_workflow",
            Self::DraftChanged => "draft_changed",
            Self::TemplatesDeleted(_) => "templates_changed",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(problems) => problem_items(problems),
            _ => vec![],
        }
    }
}

/// Send nodes that name a provider which is not configured, or serves another channel.
pub fn provider_problems(workflow: &kairos_engine::workflow::Workflow, providers: &[(String, String)]) -> Vec<Problem> {
    use kairos_engine::nodes::Node;
    use kairos_engine::problem::Kind;
    let mut problems = Vec::new();
    for (i, node) in workflow.nodes.iter().enumerate() {
        let Node::Send(send) = node else { continue };
        let Some(wanted) = &send.provider else { continue };
        let channel = store::channel_name(send.message.channel());
        let pointer = format!("/nodes/{i}/provider");
        match providers.iter().find(|(id, _)| id == wanted) {
            None => {
                let known: Vec<&str> =
                    providers.iter().filter(|(_, c)| c == channel).map(|(id, _)| id.as_str()).collect();
                let hint = if known.is_empty() {
                    format!("no {channel} provider is configured (Settings → Providers, or POST /v1/providers)")
                } else {
                    format!("the {channel} providers are {}", known.join(", "))
                };
                problems.push(
                    Problem::new(Kind::InvalidValue, pointer, format!("there is no provider `{wanted}`; {hint}"))
                        .at_node(send.id.clone()),
                );
            }
            Some((_, c)) if c != channel => problems.push(
                Problem::new(
                    Kind::InvalidValue,
                    pointer,
                    format!("provider `{wanted}` delivers {c}, but this node sends {channel}"),
                )
                .at_node(send.id.clone()),
            ),
            Some(_) => {}
        }
    }
    problems
}

/// The trigger names a segment the workspace does not have.
async fn segment_problems<C: sea_orm::ConnectionTrait>(
    db: &C,
    journey: &kairos_engine::Journey,
) -> Result<Vec<Problem>, store::Error> {
    let Some(segment) = journey.workflow().trigger.segment() else { return Ok(vec![]) };
    if store::get_segment(db, segment).await?.is_some() {
        return Ok(vec![]);
    }
    Ok(vec![Problem::new(
        kairos_engine::problem::Kind::InvalidValue,
        "/trigger/segment",
        format!("there is no segment `{segment}`; create it on the Segments page (or POST /v1/segments) first"),
    )])
}

/// What publishing did.
enum Publication {
    Missing,
    DraftChanged,
    /// Sends name topics the workspace does not have.
    UnknownTopics(Vec<Problem>),
    /// Templates the journey uses were deleted since it was validated.
    TemplatesDeleted(Vec<String>),
    /// The live version already has exactly this definition.
    Unchanged(store::VersionRecord),
    New(store::VersionRecord),
}

/// Publish the draft as the next immutable version and make it live (also when the
/// workflow was paused or archived). Its canonical text is stored, byte for byte what
/// `kairos fmt` writes, with the template versions it uses pinned: each message template
/// at its `version`, or its latest now, and the latest of each partial and layout.
/// Templates are checked now (missing, wrong kind or channel, not compiling, failing for
/// a sample contact: `invalid_workflow` with the node's pointer), never at send time.
/// Publishing a draft identical to the live version, with the same template versions,
/// creates no new version: the answer is 200 with the live one.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 201, description = "Published as a new version, now live", body = PublishedVersion,
            headers(("Location" = String, description = "The version's URL"))),
        (status = 200, description = "The draft is the live version already", body = PublishedVersion),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The draft was saved again meanwhile (`draft_changed`), or a template it uses was deleted meanwhile (`templates_changed`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The draft is not valid (`invalid_workflow`); `errors` lists every problem", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/workflows/{id}/publish")]
pub async fn publish_workflow(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PublishError> {
    let id = path.into_inner();
    let record =
        store::get_workflow(state.store().reader(), &id).await?.ok_or_else(|| PublishError::NotFound(id.clone()))?;
    // Validate outside the write transaction, then publish only if the draft is still the one validated.
    let library = library_for(&state, &record.draft).await?;
    let journey =
        kairos_engine::validate::validate_value_in(record.draft.clone(), &library).map_err(PublishError::Invalid)?;
    let providers = store::provider_channels(state.store().reader()).await?;
    let mut problems = provider_problems(journey.workflow(), &providers);
    problems.extend(topic_problems(state.store().reader(), &journey).await?);
    problems.extend(segment_problems(state.store().reader(), &journey).await?);
    // In document order: by node, then by field.
    problems.sort_by_key(|p| {
        let node: usize = p.pointer.split('/').nth(2).and_then(|i| i.parse().ok()).unwrap_or(usize::MAX);
        (node, p.pointer.clone())
    });
    if !problems.is_empty() {
        return Err(PublishError::Invalid(problems));
    }
    let canonical = journey.workflow().to_canonical();
    // The template versions it uses now: they stay what this version sends.
    let pins = journey.template_pins();
    let now = state.scheduler.now();
    let (wid, draft) = (id.clone(), record.draft);
    let outcome = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                let Some(current) = store::get_workflow(tx, &wid).await? else { return Ok(Publication::Missing) };
                if current.draft != draft {
                    return Ok(Publication::DraftChanged);
                }
                // Checked where it is written: a topic deleted meanwhile cannot slip through.
                let unknown = topic_problems(tx, &journey).await?;
                if !unknown.is_empty() {
                    return Ok(Publication::UnknownTopics(unknown));
                }
                let mut ids: Vec<String> = pins.iter().map(|(id, _)| id.clone()).collect();
                ids.dedup();
                let deleted = store::missing_templates(tx, &ids).await?;
                if !deleted.is_empty() {
                    return Ok(Publication::TemplatesDeleted(deleted));
                }
                if current.status == store::WorkflowStatus::Live
                    && let Some(live) = current.live_version
                    && let Some(v) = store::get_version(tx, &wid, live).await?
                    && v.definition == canonical
                    && store::get_pins(tx, &wid, live).await? == pins
                {
                    return Ok(Publication::Unchanged(v));
                }
                let Some(n) = store::publish(tx, &wid, &canonical, now).await? else { return Ok(Publication::Missing) };
                store::save_pins(tx, &wid, n, &pins).await?;
                Ok(match store::get_version(tx, &wid, n).await? {
                    Some(v) => Publication::New(v),
                    None => Publication::Missing,
                })
            })
        })
        .await?;
    let (created, v) = match outcome {
        Publication::Missing => return Err(PublishError::NotFound(id)),
        Publication::DraftChanged => return Err(PublishError::DraftChanged),
        Publication::UnknownTopics(problems) => return Err(PublishError::Invalid(problems)),
        Publication::TemplatesDeleted(ids) => return Err(PublishError::TemplatesDeleted(ids)),
        Publication::Unchanged(v) => (false, v),
        Publication::New(v) => (true, v),
    };
    state.scheduler.reload_live().await?;
    let body = PublishedVersion { workflow_id: v.workflow_id, version: v.version, published_at: v.published_at };
    Ok(if created {
        HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/v1/workflows/{id}/versions/{}", body.version)))
            .json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

// ----- pause / resume / archive -----

/// What a status change did.
enum StatusChange {
    Missing,
    /// Not allowed from the workflow's current state.
    Refused(store::WorkflowStatus),
    Done(Box<WorkflowRecord>),
}

/// Move a workflow to `to` if `allowed(current)`, in one transaction, then reload what is live.
async fn change_status(
    state: &AppState,
    id: &str,
    to: store::WorkflowStatus,
    allowed: fn(&WorkflowRecord) -> bool,
) -> Result<StatusChange, store::Error> {
    let now = state.scheduler.now();
    let id = id.to_string();
    let outcome = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                let Some(current) = store::get_workflow(tx, &id).await? else { return Ok(StatusChange::Missing) };
                if current.status == to {
                    return Ok(StatusChange::Done(Box::new(current)));
                }
                if !allowed(&current) {
                    return Ok(StatusChange::Refused(current.status));
                }
                Ok(match store::set_status(tx, &id, to, now).await? {
                    Some(r) => StatusChange::Done(Box::new(r)),
                    None => StatusChange::Missing,
                })
            })
        })
        .await?;
    state.scheduler.reload_live().await?;
    Ok(outcome)
}

/// Errors of `POST /v1/workflows/{id}/pause`.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("workflow `{0}` has never been published; there is nothing to pause")]
    NotPublished(String),
    #[error("workflow `{0}` is archived; resume it to make it live again")]
    Archived(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PauseError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NotPublished(_) | Self::Archived(_) => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotPublished(_) => "not_published",
            Self::Archived(_) => "archived",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// Stop new entries into a live workflow; runs in flight go on. Pausing a paused
/// workflow changes nothing.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Paused", body = WorkflowSummary),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Never published (`not_published`) or archived (`archived`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/workflows/{id}/pause")]
pub async fn pause_workflow(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<WorkflowSummary>, PauseError> {
    let id = path.into_inner();
    match change_status(&state, &id, store::WorkflowStatus::Paused, |w| w.status == store::WorkflowStatus::Live).await?
    {
        StatusChange::Missing => Err(PauseError::NotFound(id)),
        StatusChange::Refused(store::WorkflowStatus::Archived) => Err(PauseError::Archived(id)),
        StatusChange::Refused(_) => Err(PauseError::NotPublished(id)),
        StatusChange::Done(r) => Ok(web::Json(summary_of(&state, &r).await?)),
    }
}

/// Errors of `POST /v1/workflows/{id}/resume`.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("workflow `{0}` has never been published; publish it instead")]
    NotPublished(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ResumeError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NotPublished(_) => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotPublished(_) => "not_published",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// Make a paused or archived workflow live again, on its live version. Resuming a live
/// workflow changes nothing.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Live", body = WorkflowSummary),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Never published (`not_published`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/workflows/{id}/resume")]
pub async fn resume_workflow(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<WorkflowSummary>, ResumeError> {
    let id = path.into_inner();
    match change_status(&state, &id, store::WorkflowStatus::Live, |w| w.live_version.is_some()).await? {
        StatusChange::Missing => Err(ResumeError::NotFound(id)),
        StatusChange::Refused(_) => Err(ResumeError::NotPublished(id)),
        StatusChange::Done(r) => Ok(web::Json(summary_of(&state, &r).await?)),
    }
}

/// Errors of `POST /v1/workflows/{id}/archive`.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ArchiveError {
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

/// Retire a workflow: no new entries; runs in flight go on. Its draft and versions are
/// kept, and `resume` makes it live again.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Archived", body = WorkflowSummary),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/workflows/{id}/archive")]
pub async fn archive_workflow(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<WorkflowSummary>, ArchiveError> {
    let id = path.into_inner();
    match change_status(&state, &id, store::WorkflowStatus::Archived, |_| true).await? {
        StatusChange::Missing | StatusChange::Refused(_) => Err(ArchiveError::NotFound(id)),
        StatusChange::Done(r) => Ok(web::Json(summary_of(&state, &r).await?)),
    }
}

// ----- Versions -----

/// The largest version number there can be (versions are stored as 32-bit integers).
const MAX_VERSION: u32 = i32::MAX as u32;

/// A published version, without its definition.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionSummary {
    pub version: u32,
    pub published_at: DateTime<Utc>,
    /// Whether new contacts enter this version now (it is the live version and the workflow is live).
    pub live: bool,
}

/// A page of versions, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionPage {
    pub data: Vec<VersionSummary>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next: Option<u32>,
}

/// Query of `GET /v1/workflows/{id}/versions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListVersionsQuery {
    /// Cursor: the `next` of the previous page.
    #[param(minimum = 0, maximum = 2147483647)]
    pub after: Option<u32>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// Errors of `GET /v1/workflows/{id}/versions`.
#[derive(Debug, thiserror::Error)]
pub enum ListVersionsError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListVersionsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidQuery(_) => "invalid_query",
            Self::NotFound(_) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// The published versions of a workflow, oldest first.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id"), ListVersionsQuery),
    responses(
        (status = 200, description = "A page of versions", body = VersionPage),
        (status = 400, description = "Bad query (`invalid_query`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/workflows/{id}/versions")]
pub async fn list_versions(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListVersionsQuery>,
) -> Result<web::Json<VersionPage>, ListVersionsError> {
    let id = path.into_inner();
    let q = query.into_inner();
    let limit = page_limit(q.limit).map_err(ListVersionsError::InvalidQuery)?;
    if q.after.is_some_and(|a| a > MAX_VERSION) {
        return Err(ListVersionsError::InvalidQuery(format!("`after` must be at most {MAX_VERSION}")));
    }
    let reader = state.store().reader();
    let w = store::get_workflow(reader, &id).await?.ok_or_else(|| ListVersionsError::NotFound(id.clone()))?;
    let mut rows = store::list_version_infos(reader, &id, q.after, limit + 1).await?;
    let next = (rows.len() as u64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|v| v.version)
    });
    let live = (w.status == store::WorkflowStatus::Live).then_some(w.live_version).flatten();
    let data = rows
        .into_iter()
        .map(|v| VersionSummary { version: v.version, published_at: v.published_at, live: Some(v.version) == live })
        .collect();
    Ok(web::Json(VersionPage { data, next: next.flatten() }))
}

/// A published version with its definition.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionDetail {
    pub workflow_id: String,
    pub version: u32,
    pub published_at: DateTime<Utc>,
    /// Whether new contacts enter this version now.
    pub live: bool,
    /// The journey document as published (see `/schema.json` for the format).
    #[schema(value_type = Object)]
    pub definition: Value,
    /// The template versions this version pinned when it was published: what it sends.
    pub templates: Vec<PinnedTemplate>,
}

/// A library template version a published journey version uses.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PinnedTemplate {
    pub id: String,
    pub version: u32,
}

/// Errors of `GET /v1/workflows/{id}/versions/{version}`.
#[derive(Debug, thiserror::Error)]
pub enum GetVersionError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("workflow `{0}` has no version {1}")]
    VersionNotFound(String, u32),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetVersionError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) | Self::VersionNotFound(..) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) | Self::VersionNotFound(..) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// One published version: the definition as published, and when.
#[utoipa::path(
    tag = "workflows",
    params(
        ("id" = String, Path, description = "Workflow id"),
        ("version" = u32, Path, description = "Version number (1, 2, ...)", minimum = 1, maximum = 2147483647),
    ),
    responses(
        (status = 200, description = "The version", body = VersionDetail),
        (status = 400, description = "The version is not a number (`invalid_path`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow or version (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/workflows/{id}/versions/{version}")]
pub async fn get_version(
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<web::Json<VersionDetail>, GetVersionError> {
    let (id, n) = path.into_inner();
    let reader = state.store().reader();
    let w = store::get_workflow(reader, &id).await?.ok_or_else(|| GetVersionError::NotFound(id.clone()))?;
    let v = store::get_version(reader, &id, n).await?.ok_or_else(|| GetVersionError::VersionNotFound(id, n))?;
    let definition = serde_json::from_str(&v.definition).map_err(|e| store::Error::Corrupt {
        what: "workflow version",
        detail: format!("{} v{}: {e}", v.workflow_id, v.version),
    })?;
    let live = w.status == store::WorkflowStatus::Live && w.live_version == Some(v.version);
    let templates = store::get_pins(reader, &v.workflow_id, v.version)
        .await?
        .into_iter()
        .map(|(id, version)| PinnedTemplate { id, version })
        .collect();
    Ok(web::Json(VersionDetail {
        workflow_id: v.workflow_id,
        version: v.version,
        published_at: v.published_at,
        live,
        definition,
        templates,
    }))
}

// ----- GET /v1/workflows/{id}/export -----

/// Errors of `GET /v1/workflows/{id}/export`.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("the draft cannot be written as a journey file until its structure is fixed ({} problem(s))", .0.len())]
    Unparsable(Vec<Problem>),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ExportError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unparsable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Unparsable(_) => "invalid_workflow",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Unparsable(problems) => problem_items(problems),
            _ => vec![],
        }
    }
}

/// The draft as a journey file: the canonical bytes `kairos fmt` writes (key order,
/// two-space indentation, trailing newline), ready to commit as `workflows/<id>.json`.
/// A draft whose structure parses is exported even if it does not validate yet.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The journey file", body = Object, content_type = "application/json",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"<id>.json\"`"))),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The draft's structure does not parse (`invalid_workflow`); `errors` lists the problems", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/workflows/{id}/export")]
pub async fn export_workflow(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ExportError> {
    let id = path.into_inner();
    let record = store::get_workflow(state.store().reader(), &id).await?.ok_or(ExportError::NotFound(id))?;
    let workflow = kairos_engine::validate::parse(&record.draft.to_string()).map_err(ExportError::Unparsable)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}.json\"", record.id)))
        .body(workflow.to_canonical()))
}

// ----- GET /v1/workflows/{id}/stats -----

/// Query of `GET /v1/workflows/{id}/stats`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Only runs of this version (default: every version).
    #[param(minimum = 1, maximum = 2147483647)]
    pub version: Option<u32>,
}

/// Counts for one node, for the editor's canvas overlay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeCounts {
    /// How many times runs arrived at the node (a run that loops counts each time).
    pub entered: u64,
    /// Runs at the node now, still going (waiting there).
    pub waiting: u64,
    /// Runs that ended at the node: completed at an exit, exited early or were cancelled there.
    pub exited: u64,
    /// Runs that reached the goal while at the node.
    pub converted: u64,
    /// Messages of this send node whose delivery was given up (see `GET /v1/outbox?status=failed`).
    pub failed_deliveries: u64,
}

/// Run totals of a workflow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunTotals {
    /// Runs started.
    pub started: u64,
    pub active: u64,
    pub waiting: u64,
    pub completed: u64,
    pub exited: u64,
    pub cancelled: u64,
    /// Runs that reached the goal.
    pub converted: u64,
}

/// A workflow's statistics.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkflowStats {
    pub workflow_id: String,
    /// The version counted; `null` for every version.
    pub version: Option<u32>,
    pub runs: RunTotals,
    /// Counts by node id. Every node of the version (or of the latest version, or of the
    /// draft if never published) is listed, with zeros where nothing happened.
    pub nodes: BTreeMap<String, NodeCounts>,
    /// The goal's conversion window (`settings.goal.within`) of that same version (or
    /// draft), e.g. `7d`; `null` when its goal has none (or it has no goal).
    pub goal_within: Option<String>,
    /// Runs counted and how many converted: reached the goal while still going, inside
    /// the window of the version each run started on.
    pub conversion: Conversion,
    /// Conversion by version, oldest first: every version that has runs (only the one
    /// asked for, with `?version=`).
    pub versions: Vec<VersionConversion>,
    /// Conversion by split node and variant, with the holdout's rate beside each variant
    /// (lift). Every split of the version (or latest version, or draft) is listed with
    /// all its variants, zeros where nobody was assigned; splits and variants that only
    /// older versions had follow.
    pub splits: Vec<SplitConversion>,
}

/// Runs that entered, how many converted, and the rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversion {
    pub entered: u64,
    pub converted: u64,
    /// `converted / entered`, from 0 to 1; `null` when nobody entered. Runs still inside
    /// their conversion window may yet convert.
    pub rate: Option<f64>,
}

impl From<store::Converted> for Conversion {
    fn from(c: store::Converted) -> Self {
        Conversion { entered: c.entered, converted: c.converted, rate: rate(c) }
    }
}

/// The conversion of one version's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionConversion {
    pub version: u32,
    /// Runs started on this version.
    pub entered: u64,
    pub converted: u64,
    /// `converted / entered` (0 to 1); `null` when nobody entered.
    pub rate: Option<f64>,
}

/// The conversion of a split's groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SplitConversion {
    /// The split node's id.
    pub node: String,
    /// The variants, in the split's order.
    pub variants: Vec<VariantConversion>,
    /// The holdout (control) group; `null` when the split has none.
    pub holdout: Option<Conversion>,
}

/// One variant of a split: the runs it was assigned (each run once, even if it passed the
/// split again), how many of them converted, and its lift over the holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VariantConversion {
    pub name: String,
    pub entered: u64,
    pub converted: u64,
    /// `converted / entered` (0 to 1); `null` when nobody was assigned it.
    pub rate: Option<f64>,
    /// Relative lift over the holdout: `(rate - holdout rate) / holdout rate` (0.25: a
    /// quarter more conversions than doing nothing). `null` without a holdout, or when
    /// either rate is `null` or the holdout's is 0.
    pub lift: Option<f64>,
    /// Absolute difference from the holdout, in percentage points: `(rate - holdout
    /// rate) × 100`. `null` without a holdout or when either rate is `null`.
    pub lift_points: Option<f64>,
}

/// `converted / entered`; none when nobody entered.
fn rate(c: store::Converted) -> Option<f64> {
    (c.entered > 0).then(|| c.converted as f64 / c.entered as f64)
}

/// A variant's lift over the holdout: relative (none when the holdout's rate is 0) and in
/// percentage points.
fn lift(variant: Option<f64>, holdout: Option<f64>) -> (Option<f64>, Option<f64>) {
    let (Some(v), Some(h)) = (variant, holdout) else { return (None, None) };
    let relative = (h > 0.0).then(|| (v - h) / h);
    (relative, Some((v - h) * 100.0))
}

/// A split node of a journey document: its id, variant names in order, and whether it
/// has a holdout.
struct SplitShape {
    node: String,
    variants: Vec<String>,
    holdout: bool,
}

/// The split nodes of a journey document, as far as they can be read.
fn split_shapes(doc: &Value) -> Vec<SplitShape> {
    let Some(nodes) = doc.get("nodes").and_then(Value::as_array) else { return vec![] };
    nodes
        .iter()
        .filter(|n| n.get("type").and_then(Value::as_str) == Some("split"))
        .filter_map(|n| {
            let variants = n
                .get("variants")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().filter_map(|v| v.get("name")?.as_str().map(str::to_string)).collect());
            Some(SplitShape {
                node: n.get("id")?.as_str()?.to_string(),
                variants: variants.unwrap_or_default(),
                holdout: n.get("holdout").is_some_and(Value::is_object),
            })
        })
        .collect()
}

/// The splits' conversions: the document's splits first (every variant, zeros where
/// nobody was assigned), then what only older versions had.
fn split_conversions(
    shapes: Vec<SplitShape>,
    mut counted: BTreeMap<String, BTreeMap<String, store::Converted>>,
) -> Vec<SplitConversion> {
    let holdout_name = kairos_engine::nodes::split::HOLDOUT;
    let mut order: Vec<SplitShape> = shapes;
    for (node, groups) in &counted {
        match order.iter_mut().find(|s| &s.node == node) {
            Some(shape) => {
                for name in groups.keys().filter(|n| *n != holdout_name) {
                    if !shape.variants.contains(name) {
                        shape.variants.push(name.clone());
                    }
                }
                shape.holdout |= groups.contains_key(holdout_name);
            }
            None => order.push(SplitShape {
                node: node.clone(),
                variants: groups.keys().filter(|n| *n != holdout_name).cloned().collect(),
                holdout: groups.contains_key(holdout_name),
            }),
        }
    }
    order
        .into_iter()
        .map(|shape| {
            let mut groups = counted.remove(&shape.node).unwrap_or_default();
            let holdout = shape.holdout.then(|| Conversion::from(groups.remove(holdout_name).unwrap_or_default()));
            let holdout_rate = holdout.as_ref().and_then(|h| h.rate);
            let variants = shape
                .variants
                .into_iter()
                .map(|name| {
                    let c = groups.remove(&name).unwrap_or_default();
                    let rate = rate(c);
                    let (lift, lift_points) = lift(rate, holdout_rate);
                    VariantConversion { name, entered: c.entered, converted: c.converted, rate, lift, lift_points }
                })
                .collect();
            SplitConversion { node: shape.node, variants, holdout }
        })
        .collect()
}

/// Errors of `GET /v1/workflows/{id}/stats`.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("workflow `{0}` has no version {1}")]
    VersionNotFound(String, u32),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for StatsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) | Self::VersionNotFound(..) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) | Self::VersionNotFound(..) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// Node ids of a journey document, as far as they can be read.
fn node_ids(doc: &Value) -> Vec<String> {
    doc.get("nodes")
        .and_then(Value::as_array)
        .map(|nodes| nodes.iter().filter_map(|n| n.get("id")?.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Per-node counts (entered, waiting, exited, converted, failed deliveries) and run totals, for the editor's
/// canvas overlay, and conversion: overall, per version and per split variant with its
/// lift over the holdout; of one version or of all.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id"), StatsQuery),
    responses(
        (status = 200, description = "The statistics", body = WorkflowStats),
        (status = 400, description = "Bad query (`invalid_query`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow or version (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/workflows/{id}/stats")]
pub async fn workflow_stats(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<StatsQuery>,
) -> Result<web::Json<WorkflowStats>, StatsError> {
    let id = path.into_inner();
    let version = query.into_inner().version;
    let reader = state.store().reader();
    let w = store::get_workflow(reader, &id).await?.ok_or_else(|| StatsError::NotFound(id.clone()))?;
    let shown = match version {
        Some(n) => {
            Some(store::get_version(reader, &id, n).await?.ok_or_else(|| StatsError::VersionNotFound(id.clone(), n))?)
        }
        None if w.latest_version > 0 => store::get_version(reader, &id, w.latest_version).await?,
        None => None,
    };
    let doc = match &shown {
        Some(v) => serde_json::from_str(&v.definition).unwrap_or_default(),
        None => w.draft.clone(),
    };
    let ids = node_ids(&doc);
    let mut nodes: BTreeMap<String, NodeCounts> = ids.into_iter().map(|n| (n, NodeCounts::default())).collect();
    for (node, s) in store::node_stats(reader, &id, version).await? {
        nodes.insert(
            node,
            NodeCounts {
                entered: s.entered,
                waiting: s.waiting,
                exited: s.ended,
                converted: s.converted,
                failed_deliveries: s.failed_deliveries,
            },
        );
    }
    let counts = store::count_runs(reader, &id, version).await?;
    let n = |s: &str| counts.by_status.get(s).copied().unwrap_or(0);
    let runs = RunTotals {
        started: counts.by_status.values().sum(),
        active: n("active"),
        waiting: n("waiting"),
        completed: n("completed"),
        exited: n("exited"),
        cancelled: n("cancelled"),
        converted: counts.converted,
    };
    let conversions = store::conversions(reader, &id, version).await?;
    let conversion = Conversion::from(conversions.total());
    let versions = conversions
        .versions
        .iter()
        .map(|(&version, &c)| VersionConversion { version, entered: c.entered, converted: c.converted, rate: rate(c) })
        .collect();
    let splits = split_conversions(split_shapes(&doc), conversions.variants);
    let goal_within = doc.pointer("/settings/goal/within").and_then(Value::as_str).map(str::to_string);
    Ok(web::Json(WorkflowStats { workflow_id: id, version, runs, nodes, goal_within, conversion, versions, splits }))
}

crate::problem_response!(
    ListWorkflowsError,
    CreateWorkflowError,
    GetWorkflowError,
    UpdateWorkflowError,
    ValidateWorkflowError,
    PublishError,
    PauseError,
    ResumeError,
    ArchiveError,
    ListVersionsError,
    GetVersionError,
    ExportError,
    StatsError,
);
