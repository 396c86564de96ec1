//! `GET /v1/messages`: the built-in inbox, the messages journeys have delivered.

use crate::problem::ApiProblem;
use crate::routes::page_limit;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use kairos_engine::nodes::send::Rendered;
use kairos_engine::store::{self, MessageRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_messages);
}

/// A delivered message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageDto {
    /// The message's id (increasing in delivery order).
    pub id: i64,
    /// Idempotency key `<run id>:<node id>:<visit>`: one message at most per key.
    pub key: String,
    /// The run that sent it.
    pub run_id: String,
    /// The journey (workflow) of that run.
    pub workflow_id: String,
    /// The recipient contact.
    pub contact_id: String,
    /// The `send` node that rendered it.
    pub node: String,
    /// `email`, `sms`, `push`, `webhook` or `slack`.
    pub channel: String,
    /// The rendered content, by channel: email `{channel, to, subject, body, from?, reply_to?}`,
    /// sms `{channel, to, body}`, push `{channel, to, title, body, url?}`, webhook
    /// `{channel, method, url, headers, body?}` (the values of secret headers such as
    /// `Authorization` and a password in the URL show as `[redacted]`), slack
    /// `{channel, text, blocks?}`.
    #[schema(value_type = Object)]
    pub message: Rendered,
    /// When it was delivered to the inbox (RFC 3339).
    pub created_at: DateTime<Utc>,
}

impl From<MessageRecord> for MessageDto {
    fn from(m: MessageRecord) -> Self {
        MessageDto {
            id: m.id,
            key: m.key,
            run_id: m.run_id,
            workflow_id: m.workflow_id,
            contact_id: m.contact_id,
            node: m.node,
            channel: store::channel_name(m.message.channel()).to_string(),
            message: kairos_engine::delivery::redacted(&m.message),
            created_at: m.created_at,
        }
    }
}

/// A page of messages, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageList {
    /// The messages of this page, in delivery order.
    pub data: Vec<MessageDto>,
    /// Cursor of the next page (pass it as `after`), or `null` on the last page.
    pub next: Option<String>,
}

/// Query of `GET /v1/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// Only the messages sent to this contact.
    contact: Option<String>,
    /// Only the messages sent by this run.
    run: Option<String>,
    /// Cursor: the `next` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    after: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
}

/// A checked [`ListMessagesQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFilter {
    pub contact: Option<String>,
    pub run: Option<String>,
    pub after: Option<i64>,
    pub limit: u64,
}

impl TryFrom<ListMessagesQuery> for MessageFilter {
    type Error = ListMessagesError;

    fn try_from(q: ListMessagesQuery) -> Result<Self, Self::Error> {
        let limit = page_limit(q.limit).map_err(ListMessagesError::InvalidQuery)?;
        let after = q
            .after
            .map(|a| {
                a.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    ListMessagesError::InvalidQuery(format!("`after` must be the `next` of a previous page, not `{a}`"))
                })
            })
            .transpose()?;
        Ok(MessageFilter { contact: q.contact, run: q.run, after, limit })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ListMessagesError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error("listing messages failed")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListMessagesError {
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

crate::problem_response!(ListMessagesError);

/// The inbox: messages delivered by journeys, oldest first, optionally for one contact
/// or one run.
#[utoipa::path(tag = "messages", params(ListMessagesQuery), responses(
    (status = 200, description = "A page of messages", body = MessageList),
    (status = 400, description = "`invalid_query`: `limit` out of 1–500, a bad `after` cursor, an unknown or malformed parameter", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/messages")]
pub async fn list_messages(
    state: web::Data<AppState>,
    query: web::Query<ListMessagesQuery>,
) -> Result<web::Json<MessageList>, ListMessagesError> {
    let f = MessageFilter::try_from(query.into_inner())?;
    let mut rows =
        store::list_messages(state.store().reader(), f.contact.as_deref(), f.run.as_deref(), f.after, f.limit + 1)
            .await?;
    let next = if rows.len() as u64 > f.limit {
        rows.truncate(f.limit as usize);
        rows.last().map(|m| m.id.to_string())
    } else {
        None
    };
    Ok(web::Json(MessageList { data: rows.into_iter().map(MessageDto::from).collect(), next }))
}
