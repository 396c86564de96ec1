//! `/v1/providers`: the workspace's delivery providers (SMTP, email, SMS and push APIs,
//! webhooks), and `/v1/provider-kinds`: what each kind needs.
//!
//! Secrets are write-only: they are accepted on create and update, stored sealed with
//! the workspace key, and never returned — an answer names the secrets that are set.
//! Every change is in force at once on this worker and within seconds on the others.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::JsonObject;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kairos_engine::delivery::ConfigError;
use kairos_engine::delivery::provider::{self, Config, Guarantee, Kind, RateLimit};
use kairos_engine::store::{self, ProviderPatch, ProviderRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_provider_kinds)
        .service(list_providers)
        .service(create_provider)
        .service(get_provider)
        .service(update_provider)
        .service(delete_provider);
}

/// A token bucket: at most `per_second` messages a second on average, `burst` at once.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitDto {
    /// Messages per second on average (above 0; 0.5 is one every two seconds).
    #[schema(example = 100.0)]
    pub per_second: f64,
    /// Most messages at once after a quiet spell (1–2147483647).
    #[schema(example = 20, minimum = 1, maximum = 2147483647)]
    pub burst: u32,
}

impl From<RateLimitDto> for RateLimit {
    fn from(r: RateLimitDto) -> Self {
        RateLimit { per_second: r.per_second, burst: r.burst }
    }
}

impl From<RateLimit> for RateLimitDto {
    fn from(r: RateLimit) -> Self {
        RateLimitDto { per_second: r.per_second, burst: r.burst }
    }
}

/// What a provider promises about duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuaranteeDto {
    /// Retry until delivered, re-sending with the same idempotency key after a crash or a
    /// timeout: right for providers that deduplicate by key.
    #[default]
    AtLeastOnce,
    /// Never send twice: a message whose attempt may have reached the provider becomes
    /// `unknown` (see `GET /v1/outbox?status=unknown`) instead of being retried.
    AtMostOnce,
}

impl From<GuaranteeDto> for Guarantee {
    fn from(g: GuaranteeDto) -> Self {
        match g {
            GuaranteeDto::AtLeastOnce => Guarantee::AtLeastOnce,
            GuaranteeDto::AtMostOnce => Guarantee::AtMostOnce,
        }
    }
}

impl From<Guarantee> for GuaranteeDto {
    fn from(g: Guarantee) -> Self {
        match g {
            Guarantee::AtLeastOnce => GuaranteeDto::AtLeastOnce,
            Guarantee::AtMostOnce => GuaranteeDto::AtMostOnce,
        }
    }
}

/// A provider, without its secrets' values.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderDto {
    pub id: String,
    pub name: String,
    /// Its kind (see `GET /v1/provider-kinds`).
    pub kind: String,
    /// The channel it delivers: `email`, `sms`, `push`, `webhook`, ...
    pub channel: String,
    /// Whether it is its channel's default: messages whose send node names no provider
    /// go through it.
    pub default: bool,
    /// `null`: no limit.
    pub rate_limit: Option<RateLimitDto>,
    pub guarantee: GuaranteeDto,
    /// The non-secret settings.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// The names of the secrets that are set (their values are never returned).
    pub secrets_set: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ProviderRecord> for ProviderDto {
    fn from(r: ProviderRecord) -> Self {
        ProviderDto {
            channel: store::channel_name(r.kind.channel()).to_string(),
            id: r.id,
            name: r.name,
            kind: r.kind.name().to_string(),
            default: r.is_default,
            rate_limit: r.rate_limit.map(Into::into),
            guarantee: r.guarantee.into(),
            settings: r.settings,
            secrets_set: r.secrets_set,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Every provider, by id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderList {
    pub data: Vec<ProviderDto>,
}

/// A kind of provider and what configuring one takes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderKindDto {
    pub kind: String,
    pub channel: String,
    pub description: String,
    /// Whether it deduplicates by the idempotency key Kairos sends (if not, consider
    /// `at_most_once`).
    pub idempotent: bool,
    /// JSON Schema of `settings`.
    #[schema(value_type = Object)]
    pub settings_schema: Value,
    /// JSON Schema of `secrets`.
    #[schema(value_type = Object)]
    pub secrets_schema: Value,
}

/// Every kind of provider.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderKindList {
    pub data: Vec<ProviderKindDto>,
}

/// A configuration problem as an answer item: `/settings/from`.
fn config_item(e: &ConfigError) -> ProblemItem {
    ProblemItem {
        pointer: format!("/{}", e.field),
        node: None,
        message: e.message.clone(),
        code: "invalid_value".into(),
    }
}

/// Errors only the unexpected can cause.
#[derive(Debug, thiserror::Error)]
pub enum ListProvidersError {
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListProvidersError {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    fn code(&self) -> &'static str {
        "internal"
    }
}

/// What each kind of provider delivers and needs (JSON Schemas of its settings and secrets).
#[utoipa::path(
    tag = "providers",
    responses(
        (status = 200, description = "The kinds", body = ProviderKindList),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/provider-kinds")]
pub async fn list_provider_kinds() -> web::Json<ProviderKindList> {
    let data = Kind::ALL
        .iter()
        .map(|k| {
            let (settings_schema, secrets_schema) = k.schemas();
            ProviderKindDto {
                kind: k.name().to_string(),
                channel: store::channel_name(k.channel()).to_string(),
                description: k.description().to_string(),
                idempotent: k.idempotent(),
                settings_schema,
                secrets_schema,
            }
        })
        .collect();
    web::Json(ProviderKindList { data })
}

/// List the providers (never their secrets).
#[utoipa::path(
    tag = "providers",
    responses(
        (status = 200, description = "The providers", body = ProviderList),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/providers")]
pub async fn list_providers(state: web::Data<AppState>) -> Result<web::Json<ProviderList>, ListProvidersError> {
    let list = store::list_providers(state.store().reader(), &state.secret_key).await?;
    Ok(web::Json(ProviderList { data: list.into_iter().map(Into::into).collect() }))
}

// ----- POST /v1/providers -----

/// Body of `POST /v1/providers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProviderRequest {
    /// Its id, named by send nodes: 1–64 lowercase letters, digits, `-` or `_`.
    #[schema(example = "postmark-main")]
    pub id: String,
    #[schema(example = "Postmark (transactional stream)")]
    pub name: String,
    /// A kind from `GET /v1/provider-kinds`.
    #[schema(example = "webhook")]
    pub kind: String,
    /// Make it its channel's default (the previous default stops being one).
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub rate_limit: Option<RateLimitDto>,
    #[serde(default)]
    pub guarantee: GuaranteeDto,
    /// The kind's settings (its `settings_schema`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Option<Value>,
    /// The kind's secrets (its `secrets_schema`): stored sealed, never returned.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub secrets: Option<Map<String, Value>>,
}

impl TryFrom<CreateProviderRequest> for Config {
    type Error = ConfigError;
    fn try_from(r: CreateProviderRequest) -> Result<Config, ConfigError> {
        provider::check_id(&r.id)?;
        let kind = Kind::parse(&r.kind).ok_or_else(|| {
            let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            ConfigError::new(
                "kind",
                format!("`{}` is not a provider kind; expected one of {}", r.kind, known.join(", ")),
            )
        })?;
        Ok(Config {
            id: r.id,
            name: r.name.trim().to_string(),
            kind,
            is_default: r.default,
            rate_limit: r.rate_limit.map(Into::into),
            guarantee: r.guarantee.into(),
            settings: r.settings.unwrap_or_else(|| Value::Object(Map::new())),
            secrets: r.secrets.unwrap_or_default(),
        })
    }
}

/// Errors of `POST /v1/providers`.
#[derive(Debug, thiserror::Error)]
pub enum CreateProviderError {
    #[error("the provider's configuration is not valid: {0}")]
    Invalid(ConfigError),
    #[error("there is a provider `{0}` already")]
    Exists(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for CreateProviderError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Exists(_) => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_provider",
            Self::Exists(_) => "provider_exists",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(e) => vec![config_item(e)],
            _ => vec![],
        }
    }
}

/// Add a provider. Its settings and secrets are checked against its kind first; its
/// secrets are stored sealed and never returned.
#[utoipa::path(
    tag = "providers",
    request_body = CreateProviderRequest,
    responses(
        (status = 201, description = "Created", body = ProviderDto, headers(("Location" = String, description = "The provider's URL"))),
        (status = 400, description = "Not JSON (`malformed_json`), unknown fields (`invalid_body`), or a configuration that cannot work (`invalid_provider`; the item's pointer names the field, e.g. `/settings/from`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken (`provider_exists`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/providers")]
pub async fn create_provider(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<CreateProviderRequest>>,
) -> Result<HttpResponse, CreateProviderError> {
    let config = Config::try_from(body.into_inner().into_inner()).map_err(CreateProviderError::Invalid)?;
    config.check(state.registry.options()).map_err(CreateProviderError::Invalid)?;
    let (key, now, c) = (state.secret_key.clone(), state.scheduler.now(), config.clone());
    let created = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                if store::provider_exists(tx, &c.id).await? {
                    return Ok(None);
                }
                store::insert_provider(tx, &key, &c, now).await.map(Some)
            })
        })
        .await?
        .ok_or_else(|| CreateProviderError::Exists(config.id.clone()))?;
    state.registry.reload(state.store()).await?;
    tracing::info!(provider = %created.id, kind = created.kind.name(), "Provider added");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/providers/{}", created.id)))
        .json(ProviderDto::from(created)))
}

// ----- GET /v1/providers/{id} -----

/// Errors of `GET /v1/providers/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum GetProviderError {
    #[error("there is no provider `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetProviderError {
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

/// One provider (never its secrets).
#[utoipa::path(
    tag = "providers",
    params(("id" = String, Path, description = "The provider's id")),
    responses(
        (status = 200, description = "The provider", body = ProviderDto),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such provider (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/providers/{id}")]
pub async fn get_provider(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<ProviderDto>, GetProviderError> {
    let id = path.into_inner();
    let p = store::get_provider(state.store().reader(), &state.secret_key, &id)
        .await?
        .ok_or(GetProviderError::NotFound(id))?;
    Ok(web::Json(p.into()))
}

// ----- PATCH /v1/providers/{id} -----

/// Body of `PATCH /v1/providers/{id}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProviderRequest {
    pub name: Option<String>,
    pub default: Option<bool>,
    /// A new limit, or `null` to remove it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<RateLimitDto>)]
    pub rate_limit: Option<Option<RateLimitDto>>,
    pub guarantee: Option<GuaranteeDto>,
    /// The whole new settings.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// Secrets to change: each one given replaces the stored value (`null` removes it);
    /// those not given are kept.
    #[schema(value_type = Option<Object>)]
    pub secrets: Option<Map<String, Value>>,
}

fn double_option<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl From<UpdateProviderRequest> for ProviderPatch {
    fn from(r: UpdateProviderRequest) -> Self {
        ProviderPatch {
            name: r.name.map(|n| n.trim().to_string()),
            is_default: r.default,
            rate_limit: r.rate_limit.map(|o| o.map(Into::into)),
            guarantee: r.guarantee.map(Into::into),
            settings: r.settings,
            secrets: r.secrets.unwrap_or_default(),
        }
    }
}

/// Errors of `PATCH /v1/providers/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum UpdateProviderError {
    #[error("there is no provider `{0}`")]
    NotFound(String),
    #[error("the provider's configuration is not valid: {0}")]
    Invalid(ConfigError),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for UpdateProviderError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Invalid(_) => "invalid_provider",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(e) => vec![config_item(e)],
            _ => vec![],
        }
    }
}

/// Change a provider: the fields given replace the stored ones; secrets not given are
/// kept. The result is checked against the kind before it is stored.
#[utoipa::path(
    tag = "providers",
    params(("id" = String, Path, description = "The provider's id")),
    request_body = UpdateProviderRequest,
    responses(
        (status = 200, description = "Changed", body = ProviderDto),
        (status = 400, description = "Not JSON (`malformed_json`), unknown fields (`invalid_body`), or a configuration that cannot work (`invalid_provider`; the item's pointer names the field)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such provider (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[patch("/providers/{id}")]
pub async fn update_provider(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<UpdateProviderRequest>>,
) -> Result<web::Json<ProviderDto>, UpdateProviderError> {
    let id = path.into_inner();
    let patch = ProviderPatch::from(body.into_inner().into_inner());
    let stored = store::get_provider_config(state.store().reader(), &state.secret_key, &id)
        .await?
        .ok_or_else(|| UpdateProviderError::NotFound(id.clone()))?;
    let config = store::patched(stored, patch);
    config.check(state.registry.options()).map_err(UpdateProviderError::Invalid)?;
    let (key, now, c) = (state.secret_key.clone(), state.scheduler.now(), config.clone());
    let updated = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                if !store::provider_exists(tx, &c.id).await? {
                    return Ok(None);
                }
                store::replace_provider(tx, &key, &c, now).await.map(Some)
            })
        })
        .await?
        .ok_or(UpdateProviderError::NotFound(id))?;
    state.registry.reload(state.store()).await?;
    tracing::info!(provider = %updated.id, "Provider changed");
    Ok(web::Json(updated.into()))
}

// ----- DELETE /v1/providers/{id} -----

/// Errors of `DELETE /v1/providers/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum DeleteProviderError {
    #[error("there is no provider `{0}`")]
    NotFound(String),
    #[error("provider `{provider}` is used by the published journey(s) {}: change their send nodes first (a version with unfinished runs counts until they end)", .journeys.join(", "))]
    InUse { provider: String, journeys: Vec<String> },
    #[error("provider `{provider}` still has {queued} message(s) queued: delete it once they are delivered")]
    Queued { provider: String, queued: u64 },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for DeleteProviderError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InUse { .. } | Self::Queued { .. } => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InUse { .. } | Self::Queued { .. } => "provider_in_use",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// Remove a provider. Refused while a published journey version that is live or has
/// unfinished runs names it, or while messages for it are queued.
#[utoipa::path(
    tag = "providers",
    params(("id" = String, Path, description = "The provider's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such provider (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "A live journey version, or one with unfinished runs, sends through it, or messages for it are queued (`provider_in_use`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[delete("/providers/{id}")]
pub async fn delete_provider(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, DeleteProviderError> {
    let id = path.into_inner();
    let pid = id.clone();
    // Checked where it is deleted: a run or message cannot start using it in between.
    let (deleted, journeys, queued) = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                let (journeys, queued) = store::provider_uses(tx, &pid).await?;
                if !journeys.is_empty() || queued > 0 {
                    return Ok((false, journeys, queued));
                }
                Ok((store::delete_provider(tx, &pid).await?, journeys, queued))
            })
        })
        .await?;
    if !journeys.is_empty() {
        return Err(DeleteProviderError::InUse { provider: id, journeys });
    }
    if queued > 0 {
        return Err(DeleteProviderError::Queued { provider: id, queued });
    }
    if !deleted {
        return Err(DeleteProviderError::NotFound(id));
    }
    state.registry.reload(state.store()).await?;
    tracing::info!(provider = %id, "Provider removed");
    Ok(HttpResponse::NoContent().finish())
}

crate::problem_response!(
    ListProvidersError,
    CreateProviderError,
    GetProviderError,
    UpdateProviderError,
    DeleteProviderError
);
