//! `/v1/segments`: dynamic segments (a condition over contacts and their event history),
//! their members, their size over time, and a preview of a definition's size.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::JsonObject;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, TimeDelta, Utc};
use kairos_engine::audience::Segment;
use kairos_engine::report::Interval;
use kairos_engine::store::{self, SegmentRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_segments)
        .service(preview_segment)
        .service(create_segment)
        .service(get_segment)
        .service(update_segment)
        .service(delete_segment)
        .service(segment_contacts)
        .service(segment_sizes);
}

fn items(problems: &[kairos_engine::Problem]) -> Vec<ProblemItem> {
    problems.iter().map(ProblemItem::from).collect()
}

// ----- DTOs -----

/// A segment: the contacts for whom its condition holds now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SegmentDto {
    /// Stable slug, e.g. `inactive-30`.
    pub id: String,
    pub name: String,
    pub description: String,
    /// The condition (see the journey format's conditions; `performed` measures event history).
    #[schema(value_type = Object)]
    pub condition: Value,
    /// Members now.
    pub size: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn dto(r: SegmentRecord, size: i64) -> SegmentDto {
    SegmentDto {
        condition: serde_json::to_value(&r.segment.condition).unwrap_or(Value::Null),
        id: r.segment.id,
        name: r.segment.name,
        description: r.segment.description,
        size,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Every segment, by id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SegmentList {
    pub segments: Vec<SegmentDto>,
}

/// Body of `POST /v1/segments`: `{"id", "name", "description"?, "condition"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = Object, example = json!({"id": "vip", "name": "VIPs", "condition": {"left": "contact.rfm.score", "op": "eq", "right": "555"}}))]
pub struct SegmentBody(pub Map<String, Value>);

/// Body of `PUT /v1/segments/{id}`: `{"name", "description"?, "condition"}` (the id is the path's).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct SegmentUpdateBody(pub Map<String, Value>);

/// Body of `POST /v1/segments/preview`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SegmentPreviewRequest)]
pub struct PreviewRequest {
    /// The condition to count.
    #[schema(value_type = Object)]
    pub condition: Value,
}

/// How many contacts a condition holds for now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PreviewDto {
    pub size: u64,
    /// Up to 10 of them, by id.
    pub sample: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SegmentPath {
    /// The segment's id.
    id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// At most this many (1–1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// Continue after this contact id (the previous page's `next`).
    after: Option<String>,
}

/// A member of a segment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberDto {
    pub id: String,
    pub entered_at: DateTime<Utc>,
}

/// A page of members, by contact id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberPage {
    pub contacts: Vec<MemberDto>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SizesQuery {
    /// Start (RFC 3339); default 30 days ago.
    from: Option<String>,
    /// End, exclusive (RFC 3339); default now.
    to: Option<String>,
    /// `day` (default) or `week`.
    interval: Option<String>,
}

/// The size at the end of one period (or now), with the entries and exits within it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SizePoint {
    /// The period's start.
    pub at: DateTime<Utc>,
    pub size: i64,
    pub entered: u64,
    pub exited: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SizeSeries {
    pub points: Vec<SizePoint>,
}

// ----- Errors -----

#[derive(Debug, thiserror::Error)]
pub enum ListSegmentsError {
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListSegmentsError {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    fn code(&self) -> &'static str {
        "internal"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SaveSegmentError {
    #[error("the segment is not valid ({} problems); see `errors`", .0.len())]
    Invalid(Vec<kairos_engine::Problem>),
    #[error("there is a segment `{0}` already")]
    Exists(String),
    #[error("there is no segment `{0}`")]
    NotFound(String),
    #[error("the body's id `{body}` is not the path's `{path}`; a segment's id cannot change")]
    IdMismatch { body: String, path: String },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for SaveSegmentError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::IdMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Exists(_) => StatusCode::CONFLICT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_segment",
            Self::IdMismatch { .. } => "id_mismatch",
            Self::Exists(_) => "segment_exists",
            Self::NotFound(_) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(p) => items(p),
            _ => vec![],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GetSegmentError {
    #[error("there is no segment `{0}`")]
    NotFound(String),
    #[error("{0}")]
    BadQuery(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetSegmentError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::BadQuery(_) => "invalid_query",
            Self::Unexpected(_) => "internal",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteSegmentError {
    #[error("there is no segment `{0}`")]
    NotFound(String),
    #[error("the segment `{segment}` starts journeys that are live ({}); pause or change them first", .users.join(", "))]
    InUse { segment: String, users: Vec<String> },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for DeleteSegmentError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InUse { .. } => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InUse { .. } => "segment_in_use",
            Self::Unexpected(_) => "internal",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewSegmentError {
    #[error("the condition is not valid ({} problems); see `errors`", .0.len())]
    Invalid(Vec<kairos_engine::Problem>),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PreviewSegmentError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_condition",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(p) => items(p),
            _ => vec![],
        }
    }
}

crate::problem_response!(ListSegmentsError, SaveSegmentError, GetSegmentError, DeleteSegmentError, PreviewSegmentError);

// ----- Handlers -----

/// List the segments with their sizes.
#[utoipa::path(tag = "segments", responses(
    (status = 200, description = "Every segment", body = SegmentList),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/segments")]
pub async fn list_segments(state: web::Data<AppState>) -> Result<web::Json<SegmentList>, ListSegmentsError> {
    let reader = state.store().reader();
    let sizes = store::segment_sizes(reader).await?;
    let segments = store::list_segments(reader).await?;
    Ok(web::Json(SegmentList {
        segments: segments
            .into_iter()
            .map(|r| {
                let size = sizes.get(&r.segment.id).copied().unwrap_or(0);
                dto(r, size)
            })
            .collect(),
    }))
}

async fn save(state: &AppState, segment: Segment, create: bool) -> Result<SegmentRecord, SaveSegmentError> {
    let now = state.scheduler.now();
    let s = segment.clone();
    let saved = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                if !create && store::get_segment(tx, &s.id).await?.is_none() {
                    return Ok(None);
                }
                if !store::save_segment(tx, &s, create, now).await? {
                    return Ok(Some(false));
                }
                Ok(Some(true))
            })
        })
        .await?;
    match saved {
        None => return Err(SaveSegmentError::NotFound(segment.id)),
        Some(false) => return Err(SaveSegmentError::Exists(segment.id)),
        Some(true) => {}
    }
    tracing::info!(segment = %segment.id, created = create, "Segment saved");
    // Members are worked out in the background: every contact is evaluated again.
    let scheduler = state.scheduler.clone();
    tokio::spawn(async move {
        if let Err(e) = scheduler.reevaluate_all().await {
            tracing::error!(error = %e, "Evaluating contacts for a saved segment failed; the next periodic pass retries");
        }
    });
    store::get_segment(state.store().reader(), &segment.id).await?.ok_or(SaveSegmentError::NotFound(segment.id))
}

/// Create a segment. Its members are worked out in the background (every contact is
/// evaluated); `size` is 0 until then.
#[utoipa::path(tag = "segments", request_body = SegmentBody, responses(
    (status = 201, description = "The segment was created", body = SegmentDto,
        headers(("Location" = String, description = "The segment's URL"))),
    (status = 400, description = "`malformed_json`, `invalid_body`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 409, description = "`segment_exists`: the id is taken", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_segment`: the definition has problems, each with its pointer in `errors`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[post("/segments")]
pub async fn create_segment(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<SegmentBody>>,
) -> Result<HttpResponse, SaveSegmentError> {
    let segment =
        Segment::from_value(Value::Object(body.into_inner().into_inner().0)).map_err(SaveSegmentError::Invalid)?;
    let record = save(&state, segment, true).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/segments/{}", record.segment.id)))
        .json(dto(record, 0)))
}

/// Read a segment with its size.
#[utoipa::path(tag = "segments", params(SegmentPath), responses(
    (status = 200, description = "The segment", body = SegmentDto),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such segment", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/segments/{id}")]
pub async fn get_segment(
    state: web::Data<AppState>,
    path: web::Path<SegmentPath>,
) -> Result<web::Json<SegmentDto>, GetSegmentError> {
    let id = path.into_inner().id;
    let reader = state.store().reader();
    let record = store::get_segment(reader, &id).await?.ok_or_else(|| GetSegmentError::NotFound(id.clone()))?;
    let size = store::segment_sizes(reader).await?.get(&id).copied().unwrap_or(0);
    Ok(web::Json(dto(record, size)))
}

/// Change a segment's name, description or condition; members are worked out again in the
/// background (entries and exits are recorded, and trigger journeys).
#[utoipa::path(tag = "segments", params(SegmentPath), request_body = SegmentUpdateBody, responses(
    (status = 200, description = "The segment as changed", body = SegmentDto),
    (status = 400, description = "`malformed_json`, `invalid_body`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such segment", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_segment` (each problem with its pointer in `errors`), `id_mismatch`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[put("/segments/{id}")]
pub async fn update_segment(
    state: web::Data<AppState>,
    path: web::Path<SegmentPath>,
    body: web::Json<JsonObject<SegmentUpdateBody>>,
) -> Result<web::Json<SegmentDto>, SaveSegmentError> {
    let id = path.into_inner().id;
    let mut fields = body.into_inner().into_inner().0;
    match fields.get("id") {
        Some(Value::String(b)) if *b != id => return Err(SaveSegmentError::IdMismatch { body: b.clone(), path: id }),
        _ => {}
    }
    fields.insert("id".into(), Value::String(id));
    let segment = Segment::from_value(Value::Object(fields)).map_err(SaveSegmentError::Invalid)?;
    let record = save(&state, segment, false).await?;
    let size = store::segment_sizes(state.store().reader()).await?.get(&record.segment.id).copied().unwrap_or(0);
    Ok(web::Json(dto(record, size)))
}

/// Delete a segment with its members and history. Refused while a live journey's trigger
/// names it.
#[utoipa::path(tag = "segments", params(SegmentPath), responses(
    (status = 204, description = "The segment was deleted"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such segment", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 409, description = "`segment_in_use`: live journeys start from it (they are listed)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[delete("/segments/{id}")]
pub async fn delete_segment(
    state: web::Data<AppState>,
    path: web::Path<SegmentPath>,
) -> Result<HttpResponse, DeleteSegmentError> {
    let id = path.into_inner().id;
    let key = id.clone();
    let outcome = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                let users = store::segment_users(tx, &key).await?;
                if !users.is_empty() {
                    return Ok(Err(users));
                }
                Ok(Ok(store::delete_segment(tx, &key).await?))
            })
        })
        .await?;
    match outcome {
        Err(users) => Err(DeleteSegmentError::InUse { segment: id, users }),
        Ok(false) => Err(DeleteSegmentError::NotFound(id)),
        Ok(true) => {
            tracing::info!(segment = %id, "Segment deleted");
            Ok(HttpResponse::NoContent().finish())
        }
    }
}

/// The members of a segment, by contact id.
#[utoipa::path(tag = "segments", params(SegmentPath, MembersQuery), responses(
    (status = 200, description = "A page of members", body = MemberPage),
    (status = 400, description = "`invalid_query`: `limit` out of range", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such segment", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/segments/{id}/contacts")]
pub async fn segment_contacts(
    state: web::Data<AppState>,
    path: web::Path<SegmentPath>,
    query: web::Query<MembersQuery>,
) -> Result<web::Json<MemberPage>, GetSegmentError> {
    let id = path.into_inner().id;
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(GetSegmentError::BadQuery(format!("`limit` is {limit}; use 1 to 1000")));
    }
    let reader = state.store().reader();
    store::get_segment(reader, &id).await?.ok_or_else(|| GetSegmentError::NotFound(id.clone()))?;
    let mut rows = store::segment_members(reader, &id, query.after.as_deref(), limit + 1).await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.0.clone())
    } else {
        None
    };
    Ok(web::Json(MemberPage {
        contacts: rows.into_iter().map(|(id, entered_at)| MemberDto { id, entered_at }).collect(),
        next,
    }))
}

fn time_param(text: Option<&str>, name: &str, default: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    match text {
        None => Ok(default),
        Some(t) => kairos_engine::time::parse_timestamp(t).ok_or_else(|| {
            format!("`{name}` is `{t}`; expected a time such as `2026-11-01T00:00:00Z` or `2026-11-01`")
        }),
    }
}

/// Parse a report's `from`, `to` and `interval` (at most 3 years apart).
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    interval: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Interval), String> {
    let to = time_param(to, "to", now)?;
    let from = time_param(from, "from", to - TimeDelta::days(30))?;
    if from >= to {
        return Err("`from` must be before `to`".into());
    }
    if to - from > TimeDelta::days(3 * 366) {
        return Err("the range is longer than 3 years; ask for a shorter one".into());
    }
    let interval = Interval::parse(interval.unwrap_or("day"))?;
    Ok((from, to, interval))
}

/// A segment's size over time: per period, the size at its end and who entered and left.
#[utoipa::path(tag = "segments", params(SegmentPath, SizesQuery), responses(
    (status = 200, description = "The sizes", body = SizeSeries),
    (status = 400, description = "`invalid_query`: a bad `from`, `to` or `interval`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such segment", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/segments/{id}/sizes")]
pub async fn segment_sizes(
    state: web::Data<AppState>,
    path: web::Path<SegmentPath>,
    query: web::Query<SizesQuery>,
) -> Result<web::Json<SizeSeries>, GetSegmentError> {
    let id = path.into_inner().id;
    let now = state.scheduler.now();
    let (from, to, interval) = range(query.from.as_deref(), query.to.as_deref(), query.interval.as_deref(), now)
        .map_err(GetSegmentError::BadQuery)?;
    let reader = state.store().reader();
    store::get_segment(reader, &id).await?.ok_or_else(|| GetSegmentError::NotFound(id.clone()))?;
    let size_now = store::segment_sizes(reader).await?.get(&id).copied().unwrap_or(0);
    let changes = store::segment_changes(reader, &id, from, now + TimeDelta::milliseconds(1)).await?;
    let points = kairos_engine::report::sizes(size_now, &changes, from, to, now, interval)
        .into_iter()
        .map(|(at, size, entered, exited)| SizePoint { at, size, entered, exited })
        .collect();
    Ok(web::Json(SizeSeries { points }))
}

/// How many contacts a condition holds for now (and up to 10 of them), without saving it.
#[utoipa::path(tag = "segments", request_body = PreviewRequest, responses(
    (status = 200, description = "The count", body = PreviewDto),
    (status = 400, description = "`malformed_json`, `invalid_body`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_condition`: problems with pointers under `/condition` in `errors`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[post("/segments/preview")]
pub async fn preview_segment(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<PreviewRequest>>,
) -> Result<web::Json<PreviewDto>, PreviewSegmentError> {
    let condition =
        kairos_engine::audience::condition_from_value(body.into_inner().into_inner().condition, "/condition")
            .map_err(PreviewSegmentError::Invalid)?;
    let (size, sample) = state.scheduler.preview_segment(&condition, 10).await?;
    Ok(web::Json(PreviewDto { size, sample }))
}
