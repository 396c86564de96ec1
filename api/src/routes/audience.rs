//! `/v1/audience` (lifecycle stages, stage rules, lead scoring, RFM), a contact's stage
//! history, and `/v1/reports/lifecycle`.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::JsonObject;
use crate::routes::segments::range;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use kairos_engine::audience::Settings;
use kairos_engine::store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_audience).service(put_audience).service(contact_stages).service(lifecycle_report);
}

// ----- DTOs -----

/// The audience settings: `stages` (ordered), `stage_rules`, `scoring` and `rfm` (see the
/// README's Audience section for each field).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(value_type = Object, example = json!({"stages": ["subscriber", "lead", "customer"], "stage_rules": [{"to": "customer", "event": "purchase", "from": [null, "subscriber", "lead"]}], "scoring": null, "rfm": {"event": "purchase", "amount_property": "amount"}}))]
pub struct AudienceDto(pub Map<String, Value>);

/// A change of a contact's lifecycle stage.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StageChangeDto {
    /// The stage before (null: none).
    pub from: Option<String>,
    pub to: String,
    pub at: DateTime<Utc>,
    /// What changed it: a stage rule, a journey's node, the API, an identify call.
    pub cause: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StageHistory {
    /// Oldest first.
    pub changes: Vec<StageChangeDto>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ContactPath {
    /// The contact's id.
    id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start (RFC 3339 or `YYYY-MM-DD`); default 30 days before `to`.
    from: Option<String>,
    /// End, exclusive; default now.
    to: Option<String>,
    /// `day` (default) or `week`.
    interval: Option<String>,
    /// The purchase event for retention (default: the RFM event, else `purchase`).
    event: Option<String>,
}

/// Contacts in one stage now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StageCount {
    /// The stage; null for contacts without one.
    pub stage: Option<String>,
    pub contacts: u64,
}

/// Stage changes from `from` to `to` in one period.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransitionCount {
    /// The period's start.
    pub period: DateTime<Utc>,
    pub from: Option<String>,
    pub to: String,
    pub count: u64,
}

/// Contacts whose first purchase fell in one week, and the share purchasing again in each
/// following week.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CohortDto {
    /// The Monday the cohort's week starts on.
    pub week: NaiveDate,
    pub size: u64,
    /// `weeks[0]`: the share purchasing in the week after, and so on.
    pub weeks: Vec<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RetentionDto {
    /// The purchase event.
    pub event: String,
    pub cohorts: Vec<CohortDto>,
}

/// A journey's goal conversion: runs started in the range and how many converted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GoalConversion {
    pub workflow: String,
    pub name: String,
    pub entered: i64,
    pub converted: i64,
    /// `converted / entered` (0 without runs).
    pub rate: f64,
}

/// The lifecycle report.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LifecycleReport {
    /// Contacts per stage now, in the settings' stage order (then contacts without a stage).
    pub stages: Vec<StageCount>,
    pub transitions: Vec<TransitionCount>,
    pub retention: RetentionDto,
    /// Journeys with a goal.
    pub goals: Vec<GoalConversion>,
}

// ----- Errors -----

#[derive(Debug, thiserror::Error)]
pub enum GetAudienceError {
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetAudienceError {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    fn code(&self) -> &'static str {
        "internal"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PutAudienceError {
    #[error("the audience settings are not valid ({} problems); see `errors`", .0.len())]
    Invalid(Vec<kairos_engine::Problem>),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PutAudienceError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_audience_settings",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(p) => p.iter().map(ProblemItem::from).collect(),
            _ => vec![],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContactStagesError {
    #[error("there is no contact `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ContactStagesError {
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

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    BadQuery(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ReportError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::BadQuery(_) => "invalid_query",
            Self::Unexpected(_) => "internal",
        }
    }
}

crate::problem_response!(GetAudienceError, PutAudienceError, ContactStagesError, ReportError);

/// The settings as JSON; absent `scoring` and `rfm` are written as `null`.
fn settings_dto(s: &Settings) -> AudienceDto {
    match serde_json::to_value(s) {
        Ok(Value::Object(m)) => AudienceDto(m),
        _ => AudienceDto(Map::new()),
    }
}

// ----- Handlers -----

/// The audience settings (defaults when never saved: the eight standard stages, no rules,
/// no scoring, no RFM).
#[utoipa::path(tag = "audience", responses(
    (status = 200, description = "The settings", body = AudienceDto),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/audience")]
pub async fn get_audience(state: web::Data<AppState>) -> Result<web::Json<AudienceDto>, GetAudienceError> {
    let s = store::get_audience_settings(state.store().reader()).await?;
    Ok(web::Json(settings_dto(&s)))
}

/// Replace the audience settings. Contacts are evaluated again in the background with the
/// new rules (changes are recorded and trigger journeys as usual).
#[utoipa::path(tag = "audience", request_body = AudienceDto, responses(
    (status = 200, description = "The settings as saved", body = AudienceDto),
    (status = 400, description = "`malformed_json`, `invalid_body`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_audience_settings`: problems, each with its pointer (`/stage_rules/1/to`) in `errors`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[put("/audience")]
pub async fn put_audience(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<AudienceDto>>,
) -> Result<web::Json<AudienceDto>, PutAudienceError> {
    // `null` means "none" for the optional parts, as an absent field does.
    let fields = body.into_inner().into_inner().0;
    let settings = Settings::from_value(Value::Object(fields)).map_err(PutAudienceError::Invalid)?;
    let now = state.scheduler.now();
    let s = settings.clone();
    state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::put_audience_settings(tx, &s, now).await }))
        .await?;
    tracing::info!(stages = settings.stages.len(), rules = settings.stage_rules.len(), "Audience settings saved");
    let scheduler = state.scheduler.clone();
    tokio::spawn(async move {
        if let Err(e) = scheduler.audience_tick().await {
            tracing::error!(error = %e, "Evaluating contacts with new audience settings failed; the next periodic pass retries");
        }
    });
    Ok(web::Json(settings_dto(&settings)))
}

/// A contact's lifecycle stage changes, oldest first, with their causes.
#[utoipa::path(tag = "audience", params(ContactPath), responses(
    (status = 200, description = "The changes", body = StageHistory),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such contact", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/contacts/{id}/stages")]
pub async fn contact_stages(
    state: web::Data<AppState>,
    path: web::Path<ContactPath>,
) -> Result<web::Json<StageHistory>, ContactStagesError> {
    let id = path.into_inner().id;
    let reader = state.store().reader();
    store::get_contact(reader, &id).await?.ok_or_else(|| ContactStagesError::NotFound(id.clone()))?;
    let changes = store::stage_changes_of(reader, &id).await?;
    Ok(web::Json(StageHistory {
        changes: changes
            .into_iter()
            .map(|c| StageChangeDto { from: c.from, to: c.to, at: c.at, cause: c.cause })
            .collect(),
    }))
}

/// The lifecycle report: contacts per stage now; stage transitions per day or week; purchase
/// retention by first-purchase week; goal conversion per journey (runs started in the range).
#[utoipa::path(tag = "reports", params(ReportQuery), responses(
    (status = 200, description = "The report", body = LifecycleReport),
    (status = 400, description = "`invalid_query`: a bad `from`, `to` or `interval`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/reports/lifecycle")]
pub async fn lifecycle_report(
    state: web::Data<AppState>,
    query: web::Query<ReportQuery>,
) -> Result<web::Json<LifecycleReport>, ReportError> {
    let now = state.scheduler.now();
    let (from, to, interval) = range(query.from.as_deref(), query.to.as_deref(), query.interval.as_deref(), now)
        .map_err(ReportError::BadQuery)?;
    let reader = state.store().reader();
    let settings = store::get_audience_settings(reader).await?;
    let mut counts = store::stage_counts(reader).await?;
    let mut stages: Vec<StageCount> = settings
        .stages
        .iter()
        .map(|s| StageCount { stage: Some(s.clone()), contacts: counts.remove(&Some(s.clone())).unwrap_or(0) })
        .collect();
    // Stages no longer listed, then contacts without one.
    let none = counts.remove(&None);
    stages.extend(counts.into_iter().map(|(stage, contacts)| StageCount { stage, contacts }));
    if let Some(n) = none {
        stages.push(StageCount { stage: None, contacts: n });
    }
    let changes: Vec<(DateTime<Utc>, Option<String>, String)> =
        store::stage_changes_between(reader, from, to).await?.into_iter().map(|c| (c.at, c.from, c.to)).collect();
    let transitions = kairos_engine::report::transitions(&changes, interval)
        .into_iter()
        .map(|(period, from, to, count)| TransitionCount { period, from, to, count })
        .collect();
    let event = query
        .event
        .clone()
        .or_else(|| settings.rfm.as_ref().map(|r| r.event.clone()))
        .unwrap_or_else(|| "purchase".into());
    let purchases = store::event_times(reader, &event).await?;
    let cohorts = kairos_engine::report::retention(&purchases, from, to)
        .into_iter()
        .map(|c| CohortDto { week: c.week, size: c.size, weeks: c.weeks })
        .collect();
    let conversions = store::goal_conversions(reader, from, to).await?;
    let mut goals = Vec::new();
    for w in store::list_workflows(reader).await? {
        let has_goal = w.draft.get("settings").and_then(|s| s.get("goal")).is_some_and(|g| !g.is_null());
        if !has_goal {
            continue;
        }
        let c = conversions.get(&w.id).copied().unwrap_or_default();
        let (entered, converted) = (c.entered as i64, c.converted as i64);
        let rate = if entered > 0 { converted as f64 / entered as f64 } else { 0.0 };
        goals.push(GoalConversion { workflow: w.id, name: w.name, entered, converted, rate });
    }
    Ok(web::Json(LifecycleReport { stages, transitions, retention: RetentionDto { event, cohorts }, goals }))
}
