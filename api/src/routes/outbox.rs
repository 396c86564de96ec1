//! `GET /v1/outbox`: every message handed to delivery with where it stands: pending (with
//! its next attempt), sent, failed (the dead letters, with their last error), unknown (an
//! at-most-once provider's uncertain attempt), or skipped (consent changed before it went
//! out, with the reason).

use crate::problem::ApiProblem;
use crate::routes::page_limit;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use kairos_engine::nodes::send::Rendered;
use kairos_engine::store::{self, OutboxRecord, OutboxStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_outbox);
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry (`next_attempt_at`).
    Pending,
    /// Delivered (to its channel's provider, or to the built-in inbox).
    Sent,
    /// Given up after a permanent failure or too many attempts; `last_error` says why.
    Failed,
    /// An at-most-once provider's message that may or may not have been delivered (an
    /// attempt timed out or vanished in a crash): not sent again; `last_error` says why.
    Unknown,
    /// Not delivered: before it went out, the contact unsubscribed (or opted out of its
    /// topic) or the address was suppressed; `last_error` says which.
    Skipped,
}

impl From<OutboxStatus> for DeliveryStatus {
    fn from(s: OutboxStatus) -> Self {
        match s {
            OutboxStatus::Pending => DeliveryStatus::Pending,
            OutboxStatus::Sent => DeliveryStatus::Sent,
            OutboxStatus::Failed => DeliveryStatus::Failed,
            OutboxStatus::Unknown => DeliveryStatus::Unknown,
            OutboxStatus::Skipped => DeliveryStatus::Skipped,
        }
    }
}

/// A message in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutboxEntryDto {
    /// The entry's id (increasing in the order messages were queued).
    pub id: i64,
    /// Idempotency key `<run id>:<node id>:<visit>`, sent as `Idempotency-Key` to webhooks.
    pub key: String,
    pub run_id: String,
    pub workflow_id: String,
    pub contact_id: String,
    /// The `send` node that rendered it.
    pub node: String,
    /// `email`, `sms`, `push`, `webhook` or `slack`.
    pub channel: String,
    pub status: DeliveryStatus,
    /// A transactional message: delivered despite marketing opt-outs (never to a
    /// suppressed address).
    pub transactional: bool,
    /// The topic of a marketing message.
    pub topic: Option<String>,
    /// Attempts so far.
    pub attempts: u32,
    /// When a pending message is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The error of the latest failed attempt (`null` once sent), or why it was skipped.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// The rendered content, as in `GET /v1/messages` (secret header values and URL
    /// passwords show as `[redacted]`).
    #[schema(value_type = Object)]
    pub message: Rendered,
}

impl From<OutboxRecord> for OutboxEntryDto {
    fn from(r: OutboxRecord) -> Self {
        OutboxEntryDto {
            id: r.id,
            key: r.key,
            run_id: r.run_id,
            workflow_id: r.workflow_id,
            contact_id: r.contact_id,
            node: r.node,
            channel: store::channel_name(r.message.channel()).to_string(),
            status: r.status.into(),
            transactional: r.transactional,
            topic: r.topic,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
            message: kairos_engine::delivery::redacted(&r.message),
        }
    }
}

/// A page of outbox entries, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OutboxPage {
    pub data: Vec<OutboxEntryDto>,
    /// Cursor of the next page (pass it as `after`), or `null` on the last page.
    pub next: Option<String>,
}

/// Query of `GET /v1/outbox`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListOutboxQuery {
    /// Only entries in this state: `pending`, `sent`, `failed`, `unknown` or `skipped`.
    #[param(inline)]
    status: Option<DeliveryStatus>,
    /// Only the messages to this contact.
    contact: Option<String>,
    /// Only the messages of this run.
    run: Option<String>,
    /// Cursor: the `next` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    after: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListOutboxError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error("listing the outbox failed")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListOutboxError {
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

crate::problem_response!(ListOutboxError);

/// The outbox: every message journeys handed to delivery, oldest first, with its status,
/// attempts and last error. `?status=failed` lists the dead letters.
#[utoipa::path(tag = "messages", params(ListOutboxQuery), responses(
    (status = 200, description = "A page of outbox entries", body = OutboxPage),
    (status = 400, description = "`invalid_query`: an unknown `status`, `limit` out of 1–500, a bad `after` cursor, an unknown or malformed parameter", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/outbox")]
pub async fn list_outbox(
    state: web::Data<AppState>,
    query: web::Query<ListOutboxQuery>,
) -> Result<web::Json<OutboxPage>, ListOutboxError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit).map_err(ListOutboxError::InvalidQuery)?;
    let after = q
        .after
        .map(|a| {
            a.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ListOutboxError::InvalidQuery(format!("`after` must be the `next` of a previous page, not `{a}`"))
            })
        })
        .transpose()?;
    let status = q.status.map(|s| match s {
        DeliveryStatus::Pending => OutboxStatus::Pending,
        DeliveryStatus::Sent => OutboxStatus::Sent,
        DeliveryStatus::Failed => OutboxStatus::Failed,
        DeliveryStatus::Unknown => OutboxStatus::Unknown,
        DeliveryStatus::Skipped => OutboxStatus::Skipped,
    });
    let mut rows =
        store::list_outbox(state.store().reader(), status, q.contact.as_deref(), q.run.as_deref(), after, limit + 1)
            .await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|m| m.id.to_string())
    } else {
        None
    };
    Ok(web::Json(OutboxPage { data: rows.into_iter().map(OutboxEntryDto::from).collect(), next }))
}
