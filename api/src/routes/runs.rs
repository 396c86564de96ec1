//! Runs: starting `api`-triggered journeys (`POST /v1/workflows/{id}/runs`), listing and
//! inspecting runs with their timeline, cancelling them, and a contact's runs.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::contacts::ContactId;
use crate::routes::{JsonObject, page_limit};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use kairos_engine::run::{Refusal, Run, Status, Wait};
use kairos_engine::scheduler::StartError;
use kairos_engine::store::{self, RunFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

/// Register the run routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(start_run).service(list_runs).service(get_run).service(cancel_run).service(contact_runs);
}

/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

// ----- DTOs -----

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Entered, not yet stepped.
    Active,
    /// Waiting for a time or an event.
    Waiting,
    /// Reached an exit node.
    Completed,
    /// Ended early: an `exit_when` event, a goal with `exit`, or a safety stop.
    Exited,
    /// Cancelled from outside (API, contact deleted).
    Cancelled,
}

impl From<Status> for RunStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Active => RunStatus::Active,
            Status::Waiting => RunStatus::Waiting,
            Status::Completed => RunStatus::Completed,
            Status::Exited => RunStatus::Exited,
            Status::Cancelled => RunStatus::Cancelled,
        }
    }
}

impl From<RunStatus> for Status {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Active => Status::Active,
            RunStatus::Waiting => Status::Waiting,
            RunStatus::Completed => Status::Completed,
            RunStatus::Exited => Status::Exited,
            RunStatus::Cancelled => Status::Cancelled,
        }
    }
}

/// What a waiting run waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitKind {
    /// A time (`delay`, `wait_until`).
    Timer,
    /// An event (`wait_for_event`), with a timeout.
    Event,
    /// The outcome of a message's delivery (a send with a `failed` port or
    /// `save_response`); delivery wakes the run when it is recorded.
    Delivery,
}

/// A run's current wait.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunWait {
    pub kind: WaitKind,
    /// For `event`: the awaited event's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// For `delivery`: the message's idempotency key (see `GET /v1/outbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_key: Option<String>,
    /// For `timer`: when the wait ends; for `event`: when it times out; for `delivery`:
    /// when the scheduler looks at the message again by itself.
    pub until: DateTime<Utc>,
}

/// A run: one contact's pass through one version of a workflow.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunSummary {
    /// Run id (sortable by start time).
    pub id: String,
    pub workflow_id: String,
    /// The version the run started on and stays on.
    pub version: u32,
    pub contact_id: String,
    /// How many times the contact had entered the workflow, this entry included (1, 2, ...).
    pub entry: u32,
    /// The trigger's correlation value (e.g. the cart id), if the trigger has a correlation key.
    pub correlation: Option<String>,
    pub status: RunStatus,
    /// The node the run is at (waiting at, or ended at).
    pub node: Option<String>,
    /// What the run waits for, while it waits.
    pub wait: Option<RunWait>,
    pub started_at: DateTime<Utc>,
    /// When the run reached the goal, if it did.
    pub converted_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<&Run> for RunSummary {
    fn from(r: &Run) -> Self {
        let wait = r.wait.as_ref().map(|w| match w {
            Wait::Timer { until } => RunWait { kind: WaitKind::Timer, event: None, message_key: None, until: *until },
            Wait::Event { event, timeout_at } => {
                RunWait { kind: WaitKind::Event, event: Some(event.clone()), message_key: None, until: *timeout_at }
            }
            Wait::Delivery { key, check_at, .. } => {
                RunWait { kind: WaitKind::Delivery, event: None, message_key: Some(key.clone()), until: *check_at }
            }
        });
        RunSummary {
            id: r.id.clone(),
            workflow_id: r.journey.clone(),
            version: r.version,
            contact_id: r.contact.clone(),
            entry: r.entry,
            correlation: r.correlation.clone(),
            status: r.status.into(),
            node: r.node.clone(),
            wait,
            started_at: r.started_at,
            converted_at: r.converted_at,
            ended_at: r.ended_at,
        }
    }
}

/// An event as a run saw it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunEvent {
    /// Event name (`api` for runs started through the API).
    pub name: String,
    /// Its properties (for API starts: the `data` given).
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    pub timestamp: DateTime<Utc>,
}

impl From<&kairos_engine::Event> for RunEvent {
    fn from(e: &kairos_engine::Event) -> Self {
        RunEvent { name: e.name.clone(), properties: e.properties.clone(), timestamp: e.timestamp }
    }
}

/// A run with what started it and everything that happened to it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunSummary,
    /// The event that started the run (`trigger.*` in conditions and templates).
    pub trigger: RunEvent,
    /// The most recent event a `wait_for_event` received (`event.*`).
    pub event: Option<RunEvent>,
    /// How many times each node was entered.
    pub visits: BTreeMap<String, u32>,
    /// The timeline, oldest first. Each entry has `at`, `type`, the `node` when it
    /// belongs to one, and the fields of its type: `entered` (`trigger`, `correlation`),
    /// `node_entered` (`node_type`), `decision` (`port`, and `compared`: every comparison
    /// with `left`, `op`, `left_value`, `right_value`, `result`), `variant` (`variant`,
    /// `holdout`), `waiting_until` (`until`), `waiting_for_event` (`event`, `timeout_at`),
    /// `no_wait` (`reason`), `event_received` / `timed_out` (`event`), `sent` (`key`,
    /// `channel`), `send_skipped` (`reason`), `quiet_hours` (`channel`, `until`, `timezone`,
    /// `skipped`: a marketing message fell in quiet hours and waits at the send node until
    /// `until`, or was dropped), `frequency_capped` (`channel`, `max`, `period`, `until`,
    /// `skipped`: a frequency cap held it back), `delivery_failed` (`key`, `channel`, `attempts`,
    /// `error`: the message was given up and stays in `GET /v1/outbox?status=failed`),
    /// `delivery_skipped` (`key`, `channel`, `reason`: before the message went out the
    /// contact unsubscribed or the address was suppressed; `GET /v1/outbox?status=skipped`),
    /// `contact_updated` (`changes`), `converted` (`event`), `completed`, `exited` (`reason`).
    #[schema(value_type = Vec<Object>)]
    pub timeline: Vec<Value>,
}

/// A page of runs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunPage {
    pub data: Vec<RunSummary>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next: Option<String>,
}

// ----- POST /v1/workflows/{id}/runs -----

/// Body of `POST /v1/workflows/{id}/runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRunRequest {
    /// The contact; created if it does not exist. 1–200 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub contact_id: String,
    /// Attributes to set on the contact before the run starts (merged: the given keys
    /// are set, `null` removes one, others are kept).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    /// Data for the run: `trigger.properties.*` in its conditions and templates.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Map<String, Value>>,
}

/// A validated start request.
#[derive(Debug)]
pub struct NewApiRun {
    pub contact_id: String,
    pub attributes: Map<String, Value>,
    pub data: Map<String, Value>,
}

impl TryFrom<StartRunRequest> for NewApiRun {
    type Error = StartRunError;

    fn try_from(r: StartRunRequest) -> Result<Self, Self::Error> {
        let contact_id = ContactId::parse(&r.contact_id).map_err(StartRunError::InvalidContactId)?.into_string();
        Ok(NewApiRun { contact_id, attributes: r.attributes.unwrap_or_default(), data: r.data.unwrap_or_default() })
    }
}

/// The `Idempotency-Key` header, if sent.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, StartRunError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    let bad = |why: &str| StartRunError::InvalidIdempotencyKey(why.to_string());
    let key = value.to_str().map_err(|_| bad("it must be visible ASCII"))?.trim();
    if key.is_empty() {
        return Err(bad("it is empty"));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(bad("it is longer than 255 characters"));
    }
    Ok(Some(key.to_string()))
}

/// Errors of `POST /v1/workflows/{id}/runs`.
#[derive(Debug, thiserror::Error)]
pub enum StartRunError {
    #[error("`contact_id` is not usable: {0}")]
    InvalidContactId(String),
    #[error("the `Idempotency-Key` header is not usable: {0}")]
    InvalidIdempotencyKey(String),
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("workflow `{0}` is not live (it is {1}); publish or resume it first")]
    NotLive(String, &'static str),
    #[error("workflow `{id}` is started by the event `{event}`, not through the API; send that event instead")]
    NotApiTriggered { id: String, event: String },
    #[error("contact `{contact}` may not enter workflow `{workflow}` again: {why}")]
    ReentryRefused { workflow: String, contact: String, why: &'static str },
    #[error(
        "this `Idempotency-Key` already started run {run} for contact `{contact}`; use a new key for another contact"
    )]
    KeyReused { run: String, contact: String },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for StartRunError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidContactId(_) | Self::InvalidIdempotencyKey(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NotLive(..) | Self::NotApiTriggered { .. } | Self::ReentryRefused { .. } | Self::KeyReused { .. } => {
                StatusCode::CONFLICT
            }
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidContactId(_) => "invalid_body",
            Self::InvalidIdempotencyKey(_) => "invalid_idempotency_key",
            Self::NotFound(_) => "not_found",
            Self::NotLive(..) => "not_live",
            Self::NotApiTriggered { .. } => "not_api_triggered",
            Self::ReentryRefused { .. } => "reentry_refused",
            Self::KeyReused { .. } => "idempotency_key_reused",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::InvalidContactId(why) => vec![ProblemItem {
                pointer: "/contact_id".into(),
                node: None,
                message: why.clone(),
                code: "invalid_value".into(),
            }],
            _ => vec![],
        }
    }
}

/// Start a run of an `api`-triggered workflow for a contact (created or updated with
/// `attributes` first). With an `Idempotency-Key`, repeating the request returns the run
/// the first one started (200) instead of starting another.
#[utoipa::path(
    tag = "runs",
    params(
        ("id" = String, Path, description = "Workflow id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Any unique string (visible ASCII, at most 255 characters): a retried request with the same key returns the same run", min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]{0,253}[!-~])?$"),
    ),
    request_body = StartRunRequest,
    responses(
        (status = 201, description = "Run started", body = RunSummary, headers(("Location" = String, description = "The run's URL"))),
        (status = 200, description = "The Idempotency-Key started this run before", body = RunSummary),
        (status = 400, description = "Bad body (`malformed_json`, `invalid_body`) or `Idempotency-Key` (`invalid_idempotency_key`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not live (`not_live`), started by an event (`not_api_triggered`), re-entry not allowed (`reentry_refused`) or the key started a run for another contact (`idempotency_key_reused`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/workflows/{id}/runs")]
pub async fn start_run(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<JsonObject<StartRunRequest>>,
) -> Result<HttpResponse, StartRunError> {
    let workflow = path.into_inner();
    let new = NewApiRun::try_from(body.into_inner().into_inner())?;
    let key = idempotency_key(&req)?;
    let contact = new.contact_id.clone();
    let started = state.scheduler.start_run(&workflow, &new.contact_id, new.attributes, new.data, key).await.map_err(
        |e| match e {
            StartError::NotFound(id) => StartRunError::NotFound(id),
            StartError::NotLive(id, status) => StartRunError::NotLive(id, status),
            StartError::NotApiTriggered { id, event } => StartRunError::NotApiTriggered { id, event },
            StartError::Refused(r) => StartRunError::ReentryRefused {
                workflow: workflow.clone(),
                contact: contact.clone(),
                why: match r {
                    Refusal::AlreadyEntered => "the workflow lets each contact enter once, and this one has",
                    Refusal::StillActive => "a run of this contact is still active",
                },
            },
            StartError::Store(e) => StartRunError::Unexpected(e),
        },
    )?;
    if started.existing && started.run.contact != contact {
        return Err(StartRunError::KeyReused { run: started.run.id, contact: started.run.contact });
    }
    let body = RunSummary::from(&started.run);
    Ok(if started.existing {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Created().insert_header((header::LOCATION, format!("/v1/runs/{}", body.id))).json(body)
    })
}

// ----- GET /v1/runs -----

/// Query of `GET /v1/runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRunsQuery {
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs of this contact.
    pub contact: Option<String>,
    /// Only runs with this status.
    #[param(inline)]
    pub status: Option<RunStatus>,
    /// Only runs at this node (waiting there, or ended there).
    pub node: Option<String>,
    /// Cursor: the `next` of the previous page (runs are ordered by id, i.e. by start).
    pub after: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// Errors of `GET /v1/runs`.
#[derive(Debug, thiserror::Error)]
pub enum ListRunsError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListRunsError {
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

/// One page of runs matching `filter` (whose limit is the page size).
async fn page(state: &AppState, mut filter: RunFilter) -> Result<RunPage, store::Error> {
    let limit = filter.limit;
    filter.limit = limit + 1;
    let mut runs = store::list_runs(state.store().reader(), &filter).await?;
    let next = (runs.len() as u64 > limit).then(|| {
        runs.truncate(limit as usize);
        runs.last().map(|r| r.run.id.clone())
    });
    Ok(RunPage { data: runs.iter().map(|r| RunSummary::from(&r.run)).collect(), next: next.flatten() })
}

/// List runs, filtered by workflow, contact, status and node, oldest first.
#[utoipa::path(
    tag = "runs",
    params(ListRunsQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "Bad query (`invalid_query`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/runs")]
pub async fn list_runs(
    state: web::Data<AppState>,
    query: web::Query<ListRunsQuery>,
) -> Result<web::Json<RunPage>, ListRunsError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit).map_err(ListRunsError::InvalidQuery)?;
    let filter = RunFilter {
        workflow: q.workflow,
        contact: q.contact,
        status: q.status.map(Into::into),
        node: q.node,
        after: q.after,
        limit,
    };
    Ok(web::Json(page(&state, filter).await?))
}

// ----- GET /v1/runs/{id} -----

/// Errors of `GET /v1/runs/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum GetRunError {
    #[error("there is no run `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetRunError {
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

/// A run with its timeline: every node entered, every decision with the values it
/// compared, waits, sends, the goal and the end, each with its time.
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run and its timeline", body = RunDetail),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such run (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{id}")]
pub async fn get_run(state: web::Data<AppState>, path: web::Path<String>) -> Result<web::Json<RunDetail>, GetRunError> {
    let id = path.into_inner();
    let reader = state.store().reader();
    let stored = store::get_run(reader, &id).await?.ok_or_else(|| GetRunError::NotFound(id.clone()))?;
    let timeline = store::timeline(reader, &id).await?;
    let r = &stored.run;
    Ok(web::Json(RunDetail {
        run: RunSummary::from(r),
        trigger: RunEvent::from(&r.trigger),
        event: r.event.as_ref().map(RunEvent::from),
        visits: r.visits.clone(),
        timeline,
    }))
}

// ----- POST /v1/runs/{id}/cancel -----

/// Errors of `POST /v1/runs/{id}/cancel`.
#[derive(Debug, thiserror::Error)]
pub enum CancelRunError {
    #[error("there is no run `{0}`")]
    NotFound(String),
    #[error("run {0} has already ended ({1}); only a run that is still going can be cancelled")]
    Ended(String, &'static str),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for CancelRunError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Ended(..) => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Ended(..) => "run_ended",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// Cancel a run wherever it is: it sends nothing more. Cancelling a cancelled run
/// changes nothing.
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "Cancelled", body = RunSummary),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such run (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The run had completed or exited (`run_ended`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/runs/{id}/cancel")]
pub async fn cancel_run(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<RunSummary>, CancelRunError> {
    let id = path.into_inner();
    // A step committing at the same moment makes the cancel stale: try again on the new state.
    for _ in 0..5 {
        let run = state.scheduler.cancel_run(&id).await?.ok_or_else(|| CancelRunError::NotFound(id.clone()))?;
        match run.status {
            Status::Cancelled => return Ok(web::Json(RunSummary::from(&run))),
            Status::Completed => return Err(CancelRunError::Ended(id, "completed")),
            Status::Exited => return Err(CancelRunError::Ended(id, "exited")),
            Status::Active | Status::Waiting => continue,
        }
    }
    Err(CancelRunError::Unexpected(store::Error::Corrupt {
        what: "run",
        detail: format!("run {id} could not be cancelled: every attempt was overtaken by a step"),
    }))
}

// ----- GET /v1/contacts/{id}/runs -----

/// Query of `GET /v1/contacts/{id}/runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactRunsQuery {
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs with this status.
    #[param(inline)]
    pub status: Option<RunStatus>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// Errors of `GET /v1/contacts/{id}/runs`.
#[derive(Debug, thiserror::Error)]
pub enum ContactRunsError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error("there is no contact `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ContactRunsError {
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

/// A contact's runs, oldest first (also after the contact was deleted: its runs are kept,
/// cancelled).
#[utoipa::path(
    tag = "runs",
    params(("id" = String, Path, description = "Contact id"), ContactRunsQuery),
    responses(
        (status = 200, description = "A page of the contact's runs", body = RunPage),
        (status = 400, description = "Bad query (`invalid_query`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such contact, and no runs (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/contacts/{id}/runs")]
pub async fn contact_runs(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ContactRunsQuery>,
) -> Result<web::Json<RunPage>, ContactRunsError> {
    let contact = path.into_inner();
    let q = query.into_inner();
    let limit = page_limit(q.limit).map_err(ContactRunsError::InvalidQuery)?;
    let reader = state.store().reader();
    if store::get_contact(reader, &contact).await?.is_none() && !store::contact_has_runs(reader, &contact).await? {
        return Err(ContactRunsError::NotFound(contact));
    }
    let filter = RunFilter {
        workflow: q.workflow,
        contact: Some(contact),
        status: q.status.map(Into::into),
        node: None,
        after: q.after,
        limit,
    };
    Ok(web::Json(page(&state, filter).await?))
}

crate::problem_response!(StartRunError, ListRunsError, GetRunError, CancelRunError, ContactRunsError);
