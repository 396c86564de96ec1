//! `/v1/api-keys`: list, create and revoke the API keys clients authenticate with. A key
//! is stored hashed and shown only in the answer that creates it.

use crate::problem::ApiProblem;
use crate::routes::JsonObject;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use kairos_engine::store::{self, ApiKeyRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_api_keys).service(create_api_key).service(revoke_api_key);
}

/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// An API key, without its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeySummary {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// When it was revoked; `null` while it works.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for ApiKeySummary {
    fn from(k: ApiKeyRecord) -> Self {
        ApiKeySummary { id: k.id, name: k.name, prefix: k.prefix, created_at: k.created_at, revoked_at: k.revoked_at }
    }
}

/// Every API key, oldest first (revoked ones included).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKeySummary>,
}

/// Errors that only the unexpected can cause.
#[derive(Debug, thiserror::Error)]
pub enum ListApiKeysError {
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListApiKeysError {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    fn code(&self) -> &'static str {
        "internal"
    }
}

/// List the API keys (never their secrets).
#[utoipa::path(
    tag = "api-keys",
    responses(
        (status = 200, description = "The keys", body = ApiKeyList),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/api-keys")]
pub async fn list_api_keys(state: web::Data<AppState>) -> Result<web::Json<ApiKeyList>, ListApiKeysError> {
    let keys = store::list_keys(state.store().reader()).await?;
    Ok(web::Json(ApiKeyList { data: keys.into_iter().map(Into::into).collect() }))
}

// ----- POST /v1/api-keys -----

/// Body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, e.g. `shop backend` (1–100 characters, not blank, no control characters).
    #[schema(
        example = "shop backend",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x1F\x7F-\x9F\s][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
}

/// A key name: not blank, at most [`MAX_NAME_CHARS`] characters, no control characters.
#[derive(Debug, Clone)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(text: &str) -> Result<KeyName, String> {
        let name = text.trim();
        if name.is_empty() {
            return Err("the key needs a name saying what it is for, e.g. `shop backend`".into());
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("a key name has at most {MAX_NAME_CHARS} characters"));
        }
        if name.chars().any(char::is_control) {
            return Err("a key name must not contain control characters".into());
        }
        Ok(KeyName(name.to_string()))
    }
}

/// A new key with its secret, shown only now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// The key itself: send it as `Authorization: Bearer <key>`. It cannot be shown again.
    pub key: String,
}

/// Errors of `POST /v1/api-keys`.
#[derive(Debug, thiserror::Error)]
pub enum CreateApiKeyError {
    #[error("{0}")]
    InvalidName(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for CreateApiKeyError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidName(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidName(_) => "invalid_body",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<crate::problem::ProblemItem> {
        match self {
            Self::InvalidName(message) => vec![crate::problem::ProblemItem {
                pointer: "/name".into(),
                node: None,
                message: message.clone(),
                code: "invalid_value".into(),
            }],
            Self::Unexpected(_) => vec![],
        }
    }
}

/// Create an API key. The answer holds the key itself, the only time it is shown.
#[utoipa::path(
    tag = "api-keys",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; `key` is shown only now", body = CreatedApiKey),
        (status = 400, description = "Not JSON (`malformed_json`), not the expected fields or a bad name (`invalid_body`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<CreateApiKeyRequest>>,
) -> Result<HttpResponse, CreateApiKeyError> {
    let name = KeyName::parse(&body.into_inner().into_inner().name).map_err(CreateApiKeyError::InvalidName)?;
    let secret = store::new_secret();
    let (s, now) = (secret.clone(), state.scheduler.now());
    let key = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::insert_key(tx, &name.0, &s, now).await }))
        .await?;
    tracing::info!(key = %key.id, name = %key.name, "API key created");
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/v1/api-keys/{}", key.id))).json(
        CreatedApiKey { id: key.id, name: key.name, prefix: key.prefix, created_at: key.created_at, key: secret },
    ))
}

// ----- DELETE /v1/api-keys/{id} -----

/// Errors of `DELETE /v1/api-keys/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum RevokeApiKeyError {
    #[error("there is no API key `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for RevokeApiKeyError {
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

/// Revoke an API key: it stops working at once (also the key of this very request).
/// Revoking a revoked key answers the same.
#[utoipa::path(
    tag = "api-keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such key (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[delete("/api-keys/{id}")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, RevokeApiKeyError> {
    let id = path.into_inner();
    let now = state.scheduler.now();
    let i = id.clone();
    // By id only: the store also accepts a prefix, which the CLI uses, but a URL names one key.
    let revoked = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                let exists = store::list_keys(tx).await?.into_iter().any(|k| k.id == i);
                if !exists {
                    return Ok(None);
                }
                store::revoke_key(tx, &i, now).await
            })
        })
        .await?
        .ok_or(RevokeApiKeyError::NotFound(id))?;
    state.keys.clear();
    tracing::info!(key = %revoked.id, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}

crate::problem_response!(ListApiKeysError, CreateApiKeyError, RevokeApiKeyError);
