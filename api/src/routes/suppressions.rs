//! `/v1/suppressions`: the email addresses nothing more is sent to, because they hard
//! bounced or their owner reported a message as spam (as the email providers' webhooks
//! told: see [`super::email_events`]); and `GET /v1/email-webhooks`, the URLs to give
//! those providers.

use crate::email_events::Provider;
use crate::problem::ApiProblem;
use crate::routes::page_limit;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, web};
use chrono::{DateTime, Utc};
use kairos_engine::store::{self, SuppressionReason, SuppressionRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_suppressions).service(delete_suppression).service(email_webhooks);
}

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReasonDto {
    /// The receiving server refused the address for good.
    HardBounce,
    /// The recipient reported a message as spam.
    SpamComplaint,
}

impl From<SuppressionReason> for SuppressionReasonDto {
    fn from(r: SuppressionReason) -> Self {
        match r {
            SuppressionReason::HardBounce => SuppressionReasonDto::HardBounce,
            SuppressionReason::SpamComplaint => SuppressionReasonDto::SpamComplaint,
        }
    }
}

/// A suppressed address: no email goes to it, transactional or not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SuppressionDto {
    /// The address, in lowercase.
    #[schema(example = "ann@example.com")]
    pub address: String,
    pub reason: SuppressionReasonDto,
    /// The email provider that reported it: `postmark`, `resend` or `sendgrid`.
    pub provider: String,
    /// The provider's description of the bounce or complaint, if it gave one.
    pub detail: Option<String>,
    /// When it was suppressed.
    pub created_at: DateTime<Utc>,
}

impl From<SuppressionRecord> for SuppressionDto {
    fn from(r: SuppressionRecord) -> Self {
        SuppressionDto {
            address: r.address,
            reason: r.reason.into(),
            provider: r.provider,
            detail: r.detail,
            created_at: r.created_at,
        }
    }
}

/// A page of suppressed addresses, in address order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuppressionPage {
    pub data: Vec<SuppressionDto>,
    /// Cursor of the next page (pass it as `after`), or `null` on the last page.
    pub next: Option<String>,
}

/// Query of `GET /v1/suppressions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListSuppressionsQuery {
    /// Cursor: the `next` of the previous page.
    after: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
}

/// The path of one suppression.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SuppressionPath {
    /// The suppressed address (compared in lowercase).
    address: String,
}

/// Where one email provider posts its bounces and complaints.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailWebhookDto {
    /// `postmark`, `resend` or `sendgrid`.
    pub provider: String,
    /// The URL to paste into the provider's webhook settings. Its last segment is a
    /// secret: whoever has the URL can suppress addresses.
    pub url: String,
    /// What to turn on at the provider.
    pub events: String,
}

/// Every provider's webhook URL.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailWebhookList {
    pub data: Vec<EmailWebhookDto>,
}

// ----- Errors -----

#[derive(Debug, thiserror::Error)]
pub enum ListSuppressionsError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListSuppressionsError {
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

#[derive(Debug, thiserror::Error)]
pub enum DeleteSuppressionError {
    #[error("the address `{0}` is not suppressed")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for DeleteSuppressionError {
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

crate::problem_response!(ListSuppressionsError, DeleteSuppressionError);

// ----- Handlers -----

/// List the suppressed addresses, in address order, a page at a time.
#[utoipa::path(tag = "suppressions", params(ListSuppressionsQuery), responses(
    (status = 200, description = "A page of suppressed addresses", body = SuppressionPage),
    (status = 400, description = "`invalid_query`: `limit` out of 1–500, an unknown parameter", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/suppressions")]
pub async fn list_suppressions(
    state: web::Data<AppState>,
    query: web::Query<ListSuppressionsQuery>,
) -> Result<web::Json<SuppressionPage>, ListSuppressionsError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit).map_err(ListSuppressionsError::InvalidQuery)?;
    let mut rows = store::list_suppressions(state.store().reader(), query.after.as_deref(), limit + 1).await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.address.clone())
    } else {
        None
    };
    Ok(web::Json(SuppressionPage { data: rows.into_iter().map(Into::into).collect(), next }))
}

/// Lift a suppression: email may go to the address again (e.g. after the owner fixed
/// their mailbox). A provider that suppressed it on its side must be told separately.
#[utoipa::path(tag = "suppressions", params(SuppressionPath), responses(
    (status = 204, description = "The address is no longer suppressed"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: the address is not suppressed", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[delete("/suppressions/{address}")]
pub async fn delete_suppression(
    state: web::Data<AppState>,
    path: web::Path<SuppressionPath>,
) -> Result<HttpResponse, DeleteSuppressionError> {
    let address = path.into_inner().address;
    let key = address.clone();
    let existed = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::delete_suppression(tx, &key).await }))
        .await?;
    if !existed {
        return Err(DeleteSuppressionError::NotFound(address));
    }
    tracing::info!("Suppression lifted");
    Ok(HttpResponse::NoContent().finish())
}

/// The URL each email provider must post its bounce and complaint events to: hard
/// bounces and spam complaints then suppress the address (soft bounces do not).
#[utoipa::path(tag = "suppressions", responses(
    (status = 200, description = "One URL per provider", body = EmailWebhookList),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/email-webhooks")]
pub async fn email_webhooks(state: web::Data<AppState>) -> web::Json<EmailWebhookList> {
    let links = state.scheduler.links();
    let data = Provider::ALL
        .iter()
        .map(|p| EmailWebhookDto {
            provider: p.name().to_string(),
            url: links.email_events_url(p.name()),
            events: p.events_to_enable().to_string(),
        })
        .collect();
    web::Json(EmailWebhookList { data })
}
