//! `/v1/settings/delivery`: the workspace's quiet hours and frequency caps for marketing
//! messages. Stored in the database with a version: every worker sharing the database
//! reads them again for its next batch, so a change applies without a restart.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::JsonObject;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, put, web};
use chrono::{DateTime, Utc};
use kairos_engine::nodes::send::Channel;
use kairos_engine::pressure::{Behaviour, DeliverySettings, FrequencyCaps, FrequencyLimit, QuietHoursSettings};
use kairos_engine::store::{self, DeliveryRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_delivery_settings).service(put_delivery_settings);
}

// ----- DTOs -----

/// What happens to a marketing message that quiet hours or a cap holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BehaviourDto {
    /// The run waits at the send node until the message may go, then sends it (same
    /// idempotency key).
    Wait,
    /// The message is dropped; the run's timeline says why and the run carries on.
    Skip,
}

impl From<BehaviourDto> for Behaviour {
    fn from(b: BehaviourDto) -> Self {
        match b {
            BehaviourDto::Wait => Behaviour::Wait,
            BehaviourDto::Skip => Behaviour::Skip,
        }
    }
}

impl From<Behaviour> for BehaviourDto {
    fn from(b: Behaviour) -> Self {
        match b {
            Behaviour::Wait => BehaviourDto::Wait,
            Behaviour::Skip => BehaviourDto::Skip,
        }
    }
}

/// Quiet hours: a daily window of the contact's local clock in which no marketing
/// message is sent (transactional ones are).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursDto {
    /// Whether quiet hours apply.
    pub enabled: bool,
    /// When they begin, local `HH:MM` (24-hour clock).
    #[schema(example = "21:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// When they end, local `HH:MM`; earlier than `start` means the next morning. Not equal to `start`.
    #[schema(example = "08:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end: String,
    /// IANA time zone for contacts without a valid `timezone` attribute.
    #[schema(example = "America/New_York")]
    pub timezone: String,
    /// `wait` for the end of the window or `skip` the message.
    pub behaviour: BehaviourDto,
}

/// One cap: at most `max` marketing messages of `channel` per contact within `period`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyLimitDto {
    /// The channel: `email`, `sms`, `push` or `webhook`.
    #[schema(value_type = String, example = "email")]
    pub channel: Channel,
    /// Most messages within the period (1 to 1,000).
    #[schema(example = 3, minimum = 1, maximum = 1000)]
    pub max: u32,
    /// The rolling period: `1d`, `7d`, `24h`, ... (1 minute to 90 days).
    #[schema(example = "7d")]
    pub period: String,
}

/// Frequency caps, counted per contact across all journeys.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCapsDto {
    /// `wait` until the oldest counted message leaves the period, or `skip` the message.
    pub behaviour: BehaviourDto,
    /// The caps (none: no cap); a channel may have several with different periods.
    pub limits: Vec<FrequencyLimitDto>,
}

/// The workspace's delivery settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliverySettingsResponse {
    pub quiet_hours: QuietHoursDto,
    pub frequency_caps: FrequencyCapsDto,
    /// Bumped by every change; 0 until first saved. Send it back with `PUT` to be told
    /// (409) when someone else saved meanwhile.
    pub version: i64,
    /// When they were last changed; `null` until first saved.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Body of `PUT /v1/settings/delivery`: every field (the settings are replaced).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutDeliverySettingsRequest {
    pub quiet_hours: QuietHoursDto,
    pub frequency_caps: FrequencyCapsDto,
    /// The version these changes were made to (from `GET`): the save is refused with 409
    /// if the stored settings have changed since. Without it, the save always applies.
    #[serde(default)]
    pub version: Option<i64>,
}

fn quiet_dto(q: QuietHoursSettings) -> QuietHoursDto {
    QuietHoursDto {
        enabled: q.enabled,
        start: q.start,
        end: q.end,
        timezone: q.timezone,
        behaviour: q.behaviour.into(),
    }
}

impl From<DeliveryRecord> for DeliverySettingsResponse {
    fn from(r: DeliveryRecord) -> Self {
        let caps = r.settings.frequency_caps;
        DeliverySettingsResponse {
            quiet_hours: quiet_dto(r.settings.quiet_hours),
            frequency_caps: FrequencyCapsDto {
                behaviour: caps.behaviour.into(),
                limits: caps
                    .limits
                    .into_iter()
                    .map(|l| FrequencyLimitDto { channel: l.channel, max: l.max, period: l.period })
                    .collect(),
            },
            version: r.version,
            updated_at: r.updated_at,
        }
    }
}

/// Delivery settings that passed every check, and the version they were edited from.
#[derive(Debug, Clone)]
pub struct ValidDeliverySettings {
    pub settings: DeliverySettings,
    pub expected_version: Option<i64>,
}

impl TryFrom<PutDeliverySettingsRequest> for ValidDeliverySettings {
    type Error = Vec<ProblemItem>;

    /// Check every field; each problem names its pointer (`/frequency_caps/limits/0/period`).
    fn try_from(dto: PutDeliverySettingsRequest) -> Result<Self, Self::Error> {
        let limits = dto
            .frequency_caps
            .limits
            .into_iter()
            .map(|l| FrequencyLimit { channel: l.channel, max: l.max, period: l.period })
            .collect();
        let q = dto.quiet_hours;
        let settings = DeliverySettings {
            quiet_hours: QuietHoursSettings {
                enabled: q.enabled,
                start: q.start,
                end: q.end,
                timezone: q.timezone,
                behaviour: q.behaviour.into(),
            },
            frequency_caps: FrequencyCaps { behaviour: dto.frequency_caps.behaviour.into(), limits },
        };
        match settings.compile("") {
            Ok(_) => Ok(ValidDeliverySettings { settings, expected_version: dto.version }),
            Err(problems) => Err(problems.iter().map(ProblemItem::from).collect()),
        }
    }
}

/// A JSON object read as `T`, or the problem with its pointer.
pub fn read_body<T: serde::de::DeserializeOwned>(body: Map<String, Value>, base: &str) -> Result<T, ProblemItem> {
    serde_path_to_error::deserialize::<_, T>(Value::Object(body)).map_err(|e| {
        let pointer = kairos_engine::problem::path_pointer(base, e.path());
        let message = e.inner().to_string();
        let code = if message.starts_with("unknown field") {
            "unknown_field"
        } else if message.starts_with("missing field") {
            "missing_field"
        } else {
            "invalid_value"
        };
        ProblemItem { pointer, node: None, message, code: code.into() }
    })
}

// ----- GET /v1/settings/delivery -----

/// Errors that only the unexpected can cause.
#[derive(Debug, thiserror::Error)]
pub enum GetDeliverySettingsError {
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetDeliverySettingsError {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    fn code(&self) -> &'static str {
        "internal"
    }
}

/// The workspace's quiet hours and frequency caps (the defaults, version 0, until first
/// saved: quiet hours off, no caps).
#[utoipa::path(
    tag = "settings",
    responses(
        (status = 200, description = "The settings", body = DeliverySettingsResponse),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/settings/delivery")]
pub async fn get_delivery_settings(
    state: web::Data<AppState>,
) -> Result<web::Json<DeliverySettingsResponse>, GetDeliverySettingsError> {
    let record = store::get_delivery_settings(state.store().reader()).await?;
    Ok(web::Json(record.into()))
}

// ----- PUT /v1/settings/delivery -----

/// Errors of `PUT /v1/settings/delivery`.
#[derive(Debug, thiserror::Error)]
pub enum PutDeliverySettingsError {
    #[error("the body does not have the expected shape: {}", .0.message)]
    InvalidBody(ProblemItem),
    #[error("the settings are not valid: {}", .0.iter().map(|p| format!("{} {}", p.pointer, p.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ProblemItem>),
    #[error(
        "the settings were changed meanwhile (version {expected} was edited, version {current} is stored); load them again and redo the change"
    )]
    Conflict { expected: i64, current: i64 },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PutDeliverySettingsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidBody(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody(_) => "invalid_body",
            Self::Invalid(_) => "invalid_settings",
            Self::Conflict { .. } => "version_conflict",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::InvalidBody(item) => vec![item.clone()],
            Self::Invalid(items) => items.clone(),
            _ => vec![],
        }
    }
}

/// Replace the workspace's quiet hours and frequency caps. They apply to sends from the
/// next batch on, on every worker; runs already waiting for quiet hours or a cap are
/// checked again when their timer fires.
#[utoipa::path(
    tag = "settings",
    request_body = PutDeliverySettingsRequest,
    responses(
        (status = 200, description = "Saved; the settings as stored, with their new version", body = DeliverySettingsResponse),
        (status = 400, description = "Not JSON (`malformed_json`), a field missing, unknown or of the wrong type (`invalid_body`), or a value that is not valid (`invalid_settings`); `errors` names each field by its JSON pointer", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "`version` is not the stored one: someone else saved meanwhile (`version_conflict`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[put("/settings/delivery")]
pub async fn put_delivery_settings(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<Map<String, Value>>>,
) -> Result<web::Json<DeliverySettingsResponse>, PutDeliverySettingsError> {
    let request: PutDeliverySettingsRequest =
        read_body(body.into_inner().into_inner(), "").map_err(PutDeliverySettingsError::InvalidBody)?;
    let ValidDeliverySettings { settings, expected_version: expected } =
        request.try_into().map_err(PutDeliverySettingsError::Invalid)?;
    let now = state.scheduler.now();
    let saved = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::put_delivery_settings(tx, &settings, expected, now).await }))
        .await?
        .map_err(|c| PutDeliverySettingsError::Conflict {
            expected: expected.unwrap_or_default(),
            current: c.current,
        })?;
    tracing::info!(
        version = saved.version,
        quiet_hours = saved.settings.quiet_hours.enabled,
        caps = saved.settings.frequency_caps.limits.len(),
        "Delivery settings saved"
    );
    Ok(web::Json(saved.into()))
}

crate::problem_response!(GetDeliverySettingsError, PutDeliverySettingsError);
