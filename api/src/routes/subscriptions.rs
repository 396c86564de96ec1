//! `/v1/contacts/{id}/subscriptions`: a contact's subscription status per channel and
//! topic, and whether their email address is suppressed.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::JsonObject;
use crate::routes::contacts::{ContactId, FieldError, FieldErrors, json_kind, pointer_segment};
use crate::routes::suppressions::SuppressionDto;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, put, web};
use chrono::{DateTime, Utc};
use kairos_engine::consent::{Channel, Status};
use kairos_engine::store::{self, ConsentRecord, ConsentScope, ConsentSource};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_subscriptions).service(put_subscriptions);
}

// ----- DTOs -----

/// Whether the contact receives marketing messages there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Receives them (everyone is, until they unsubscribe).
    Subscribed,
    /// Receives only transactional messages there.
    Unsubscribed,
}

impl From<Status> for SubscriptionStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Subscribed => SubscriptionStatus::Subscribed,
            Status::Unsubscribed => SubscriptionStatus::Unsubscribed,
        }
    }
}

/// Who last set a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionSource {
    /// Through this API.
    Api,
    /// The contact, on the unsubscribe page of a message's link.
    UnsubscribePage,
    /// The contact's mail client, by one-click unsubscribe (RFC 8058).
    OneClick,
}

impl From<ConsentSource> for SubscriptionSource {
    fn from(s: ConsentSource) -> Self {
        match s {
            ConsentSource::Api => SubscriptionSource::Api,
            ConsentSource::UnsubscribePage => SubscriptionSource::UnsubscribePage,
            ConsentSource::OneClick => SubscriptionSource::OneClick,
        }
    }
}

/// One channel's or topic's status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionDto {
    pub status: SubscriptionStatus,
    /// Who set it last; `null` when it was never set (subscribed by default).
    pub source: Option<SubscriptionSource>,
    /// When it was set last; `null` when it was never set.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A topic's status for the contact.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TopicSubscriptionDto {
    /// The topic's name.
    pub name: String,
    #[serde(flatten)]
    pub subscription: SubscriptionDto,
}

/// What a contact receives.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionsDto {
    pub contact_id: String,
    /// `email`, `sms` and `push`: marketing messages go only where the contact is subscribed.
    pub channels: BTreeMap<String, SubscriptionDto>,
    /// Every topic of the workspace, by id: marketing messages about a topic go only to
    /// contacts subscribed to it.
    pub topics: BTreeMap<String, TopicSubscriptionDto>,
    /// The suppression of the contact's email address (a hard bounce or a spam
    /// complaint), under which no email goes to it, not even transactional; `null` when
    /// it is not suppressed (`DELETE /v1/suppressions/{address}` lifts it).
    pub email_suppression: Option<SuppressionDto>,
}

/// Body of `PUT /v1/contacts/{id}/subscriptions`: the statuses to set. A channel or topic
/// not listed keeps its status: no subscription is ever changed by leaving it out.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSubscriptionsRequest {
    /// Status by channel (`email`, `sms`, `push`), e.g. `{"email": "unsubscribed"}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!({"email": "unsubscribed"}))]
    channels: Option<Value>,
    /// Status by topic id (topics of `GET /v1/topics`), e.g. `{"newsletter": "unsubscribed"}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!({"newsletter": "subscribed"}))]
    topics: Option<Value>,
}

/// Statuses to set, checked (topic ids are checked against the store on saving).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChanges(pub Vec<(ConsentScope, Status)>);

fn status_of(value: Value, pointer: String, errors: &mut Vec<FieldError>) -> Option<Status> {
    match &value {
        Value::String(s) => match Status::parse(s) {
            Some(status) => Some(status),
            None => {
                errors.push(FieldError::new(
                    pointer,
                    "invalid_status",
                    format!("`{s}` is not a status; use `subscribed` or `unsubscribed`"),
                ));
                None
            }
        },
        other => {
            errors.push(FieldError::new(
                pointer,
                "invalid_status",
                format!("a status is `subscribed` or `unsubscribed`, not {}", json_kind(other)),
            ));
            None
        }
    }
}

fn object(value: Option<Value>, pointer: &str, errors: &mut Vec<FieldError>) -> Map<String, Value> {
    match value {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            errors.push(FieldError::new(
                pointer,
                "invalid_body",
                format!("`{}` must be an object of statuses, not {}", &pointer[1..], json_kind(&other)),
            ));
            Map::new()
        }
    }
}

impl TryFrom<PutSubscriptionsRequest> for SubscriptionChanges {
    type Error = FieldErrors;

    fn try_from(body: PutSubscriptionsRequest) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        let mut changes = Vec::new();
        for (name, value) in object(body.channels, "/channels", &mut errors) {
            let pointer = format!("/channels/{}", pointer_segment(&name));
            let channel = Channel::parse(&name);
            if channel.is_none() {
                errors.push(FieldError::new(
                    pointer.clone(),
                    "unknown_channel",
                    format!("`{name}` is not a channel contacts subscribe to; use `email`, `sms` or `push`"),
                ));
            }
            if let (Some(c), Some(s)) = (channel, status_of(value, pointer, &mut errors)) {
                changes.push((ConsentScope::Channel(c), s));
            }
        }
        for (topic, value) in object(body.topics, "/topics", &mut errors) {
            let pointer = format!("/topics/{}", pointer_segment(&topic));
            if let Some(s) = status_of(value, pointer, &mut errors) {
                changes.push((ConsentScope::Topic(topic), s));
            }
        }
        if errors.is_empty() { Ok(SubscriptionChanges(changes)) } else { Err(FieldErrors(errors)) }
    }
}

/// The path of a contact's subscriptions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SubscriptionsPath {
    /// The contact's id.
    id: String,
}

// ----- Errors -----

#[derive(Debug, thiserror::Error)]
pub enum GetSubscriptionsError {
    #[error("{0}")]
    InvalidId(String),
    #[error("there is no contact `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetSubscriptionsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidId(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidId(_) => "invalid_contact_id",
            Self::NotFound(_) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PutSubscriptionsError {
    #[error("{0}")]
    InvalidId(String),
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("there is no contact `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PutSubscriptionsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidId(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidId(_) => "invalid_contact_id",
            Self::Invalid(e) => e.code(),
            Self::NotFound(_) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(e) => e.items(),
            _ => vec![],
        }
    }
}

crate::problem_response!(GetSubscriptionsError, PutSubscriptionsError);

// ----- Handlers -----

/// What the contact stands, read in one go: their statuses, the topics and their address's suppression.
async fn read(state: &AppState, id: &str) -> Result<Option<SubscriptionsDto>, store::Error> {
    let reader = state.store().reader();
    let Some(contact) = store::get_contact(reader, id).await? else { return Ok(None) };
    let records = store::consents(reader, id).await?;
    let set = |scope: &ConsentScope| -> SubscriptionDto {
        match records.iter().find(|r: &&ConsentRecord| &r.scope == scope) {
            Some(r) => SubscriptionDto {
                status: r.status.into(),
                source: Some(r.source.into()),
                updated_at: Some(store::from_millis(store::millis(r.updated_at))),
            },
            None => SubscriptionDto { status: SubscriptionStatus::Subscribed, source: None, updated_at: None },
        }
    };
    let channels = Channel::ALL.iter().map(|c| (c.name().to_string(), set(&ConsentScope::Channel(*c)))).collect();
    let topics = store::list_topics(reader)
        .await?
        .into_iter()
        .map(|t| {
            let subscription = set(&ConsentScope::Topic(t.id.clone()));
            (t.id, TopicSubscriptionDto { name: t.name, subscription })
        })
        .collect();
    let email_suppression = match contact.contact.attributes.get("email").and_then(Value::as_str) {
        Some(email) if contact.contact.subscriptions.email_suppressed => {
            store::get_suppression(reader, email).await?.map(SuppressionDto::from)
        }
        _ => None,
    };
    Ok(Some(SubscriptionsDto { contact_id: id.to_string(), channels, topics, email_suppression }))
}

/// A contact's subscription status per channel and per topic, and their email address's suppression.
#[utoipa::path(tag = "contacts", params(SubscriptionsPath), responses(
    (status = 200, description = "The contact's subscriptions", body = SubscriptionsDto),
    (status = 400, description = "`invalid_contact_id`: the id is empty, too long or has control characters", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such contact", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/contacts/{id}/subscriptions")]
pub async fn get_subscriptions(
    state: web::Data<AppState>,
    path: web::Path<SubscriptionsPath>,
) -> Result<web::Json<SubscriptionsDto>, GetSubscriptionsError> {
    let id = ContactId::parse(&path.id).map_err(GetSubscriptionsError::InvalidId)?;
    let dto = read(&state, id.as_str()).await?.ok_or_else(|| GetSubscriptionsError::NotFound(id.into_string()))?;
    Ok(web::Json(dto))
}

/// Set a contact's status for some channels and topics (those not listed keep theirs).
/// Marketing messages already queued for a channel or topic the contact leaves are not
/// delivered; transactional ones still are.
#[utoipa::path(tag = "contacts", params(SubscriptionsPath), request_body = PutSubscriptionsRequest, responses(
    (status = 200, description = "The contact's subscriptions after the change", body = SubscriptionsDto),
    (status = 400, description = "`invalid_contact_id`, `unknown_channel`, `unknown_topic`, `invalid_status` (each with its pointer in `errors`), `malformed_json`, `invalid_body`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such contact", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[put("/contacts/{id}/subscriptions")]
pub async fn put_subscriptions(
    state: web::Data<AppState>,
    path: web::Path<SubscriptionsPath>,
    body: web::Json<JsonObject<PutSubscriptionsRequest>>,
) -> Result<web::Json<SubscriptionsDto>, PutSubscriptionsError> {
    let id = ContactId::parse(&path.id).map_err(PutSubscriptionsError::InvalidId)?;
    let changes =
        SubscriptionChanges::try_from(body.into_inner().into_inner()).map_err(PutSubscriptionsError::Invalid)?;
    let now = state.scheduler.now();
    let key = id.as_str().to_string();
    // The contact and the topics are checked in the transaction that writes.
    let outcome = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                if store::get_contact(tx, &key).await?.is_none() {
                    return Ok(Err(None));
                }
                let known = store::topic_ids(tx).await?;
                let unknown: Vec<FieldError> = changes
                    .0
                    .iter()
                    .filter_map(|(scope, _)| match scope {
                        ConsentScope::Topic(t) if !known.contains(t) => Some(FieldError::new(
                            format!("/topics/{}", pointer_segment(t)),
                            "unknown_topic",
                            format!("there is no topic `{t}`; `GET /v1/topics` lists them"),
                        )),
                        _ => None,
                    })
                    .collect();
                if !unknown.is_empty() {
                    return Ok(Err(Some(FieldErrors(unknown))));
                }
                store::set_consents(tx, &key, &changes.0, ConsentSource::Api, now).await?;
                Ok(Ok(()))
            })
        })
        .await?;
    match outcome {
        Err(None) => return Err(PutSubscriptionsError::NotFound(id.into_string())),
        Err(Some(errors)) => return Err(PutSubscriptionsError::Invalid(errors)),
        Ok(()) => {}
    }
    tracing::info!(contact = %id.as_str(), "Subscriptions changed through the API");
    let dto = read(&state, id.as_str()).await?.ok_or_else(|| PutSubscriptionsError::NotFound(id.into_string()))?;
    Ok(web::Json(dto))
}
