//! Ingestion compatible with the Segment HTTP API, so CDP pipelines can point at Kairos:
//! `POST /v1/identify`, `POST /v1/track` and `POST /v1/batch`.
//!
//! Segment's common fields (`anonymousId`, `context`, `integrations`, `sentAt`,
//! `receivedAt`, `originalTimestamp`, `channel`, `version`, `writeKey`) are accepted and
//! ignored; `type`, when given, must match the call. Any other field is refused by name.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::JsonObject;
use crate::routes::contacts::{
    CONTACT_ID_PATTERN, ContactDto, ContactId, FieldError, FieldErrors, MAX_ID_CHARS, is_blank, json_kind, object_field,
};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{post, web};
use chrono::{DateTime, Utc};
use kairos_engine::contact::Event;
use kairos_engine::scheduler::{Incoming, IngestItem, IngestOutcome};
use kairos_engine::store;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(identify).service(track).service(batch);
}

/// Most calls in one batch.
pub const MAX_BATCH: usize = 1000;

// ----- Request DTOs -----
//
// Fields that need checking are read as JSON values so that a wrong type is reported
// with the field's name and pointer; the `TryFrom` impls turn them into domain values.

/// A Segment `identify` call: create or update a contact.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdentifyRequest {
    /// The contact's id: a non-empty string of at most 200 characters (a number is
    /// accepted and used as its decimal text). Required.
    #[serde(default)]
    #[schema(value_type = UserId, required = true)]
    user_id: Option<Value>,
    /// Traits merged into the contact's attributes: the others are kept, and a `null`
    /// trait removes that attribute.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    traits: Option<Value>,
    /// The sender's unique id of the call (at most 200 characters). Accepted; identify
    /// is idempotent, so a retried call changes nothing more.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    message_id: Option<Value>,
    /// When the call was made (RFC 3339). Checked, otherwise informational.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    timestamp: Option<Value>,
    /// `identify` when given.
    #[serde(default, rename = "type")]
    #[schema(value_type = Option<IdentifyType>)]
    kind: Option<Value>,
    /// Segment's anonymous id: accepted and ignored (a `userId` is still required).
    #[serde(default)]
    #[schema(value_type = Value)]
    anonymous_id: Option<Value>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    context: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    integrations: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    sent_at: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    received_at: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    original_timestamp: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    channel: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    version: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    write_key: Option<IgnoredAny>,
}

/// A Segment `track` call: an event performed by a contact. It is stored, delivered to
/// the runs waiting for it and starts the live journeys it triggers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrackRequest {
    /// The contact's id: a non-empty string of at most 200 characters (a number is
    /// accepted and used as its decimal text). Required. An unknown contact is created.
    #[serde(default)]
    #[schema(value_type = UserId, required = true)]
    user_id: Option<Value>,
    /// The event's name: a non-empty string of at most 200 characters. Required.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200, pattern = r"\S")]
    event: Option<Value>,
    /// The event's properties.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    properties: Option<Value>,
    /// The sender's unique id of the event (at most 200 characters): an event whose
    /// `messageId` was seen before is reported as a duplicate and does nothing.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    message_id: Option<Value>,
    /// When the event happened (RFC 3339); default: when it is received.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    timestamp: Option<Value>,
    /// `track` when given.
    #[serde(default, rename = "type")]
    #[schema(value_type = Option<TrackType>)]
    kind: Option<Value>,
    /// Segment's anonymous id: accepted and ignored (a `userId` is still required).
    #[serde(default)]
    #[schema(value_type = Value)]
    anonymous_id: Option<Value>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    context: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    integrations: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    sent_at: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    received_at: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    original_timestamp: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    channel: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    version: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    write_key: Option<IgnoredAny>,
}

/// The `type` of an identify call.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Only documents the accepted value.
pub enum IdentifyType {
    Identify,
}

/// The `type` of a track call.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Only documents the accepted value.
pub enum TrackType {
    Track,
}

/// How `userId` is documented: a string (1–200 characters, not only spaces, no control
/// characters) or a number, used as its decimal text.
pub struct UserId;

impl utoipa::PartialSchema for UserId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_ID_CHARS))
                    .pattern(Some(CONTACT_ID_PATTERN)),
            )
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some(
                "The contact's id: a string of 1–200 characters (not only spaces, no control characters), \
                 or a number, used as its decimal text.",
            ))
            .into()
    }
}

impl ToSchema for UserId {}

/// A Segment batch: several identify and track calls. Each call is checked on its own
/// (an invalid one is rejected and reported, the others go on); the valid ones are all
/// ingested in one transaction, in order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchRequest {
    /// The calls, 1–1000 (more is refused with 413 `batch_too_large`: split the batch).
    /// Each is an identify call (as `IdentifyRequest`) or a track call (as
    /// `TrackRequest`) with `type` set to `identify` or `track`. Items are checked one by
    /// one: an invalid item is rejected in the response, it does not fail the request.
    #[serde(default)]
    #[schema(value_type = Vec<Value>, required = true, min_items = 1)]
    batch: Option<Value>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    context: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    integrations: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    sent_at: Option<IgnoredAny>,
    /// Segment field, accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Value)]
    #[allow(dead_code)]
    write_key: Option<IgnoredAny>,
}

// ----- Response DTOs -----

/// What an identify did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentifyResponse {
    /// The contact as stored now.
    pub contact: ContactDto,
    /// True when this call created the contact.
    pub created: bool,
}

/// What a track did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrackResponse {
    /// The `messageId` was seen before: nothing was done again.
    pub duplicate: bool,
    /// Ids of the runs the event started.
    pub started_runs: Vec<String>,
    /// How many waiting runs the event was delivered to (and moved on).
    pub delivered_to: usize,
}

/// What became of one call of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchItemStatus {
    /// Ingested.
    Accepted,
    /// A track whose `messageId` was seen before: nothing was done again.
    Duplicate,
    /// Invalid: not ingested (see `error`).
    Rejected,
}

/// The outcome of one call of a batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchItemResult {
    /// The call's position in `batch` (from 0).
    pub index: usize,
    /// What became of the call.
    pub status: BatchItemStatus,
    /// Why the call was rejected: its first problem, with a JSON pointer into the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ProblemItem>,
    /// For an accepted track: ids of the runs it started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub started_runs: Vec<String>,
}

/// What a batch did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    /// Calls ingested.
    pub accepted: usize,
    /// Tracks whose `messageId` was seen before.
    pub duplicates: usize,
    /// Invalid calls, not ingested.
    pub rejected: usize,
    /// One result per call, in order.
    pub results: Vec<BatchItemResult>,
}

// ----- Domain values -----

/// A checked identify call.
#[derive(Debug, Clone, PartialEq)]
pub struct Identify {
    pub user_id: ContactId,
    /// Traits to merge; `null` values remove attributes.
    pub traits: Map<String, Value>,
}

/// A checked track call.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub user_id: ContactId,
    pub event: String,
    pub properties: Map<String, Value>,
    pub message_id: Option<String>,
    /// `None`: when it is received.
    pub timestamp: Option<DateTime<Utc>>,
}

impl Identify {
    fn into_item(self) -> IngestItem {
        IngestItem::Identify { contact_id: self.user_id.into_string(), traits: self.traits }
    }
}

impl Track {
    fn into_incoming(self, now: DateTime<Utc>) -> Incoming {
        Incoming {
            contact_id: self.user_id.into_string(),
            event: Event {
                name: self.event,
                properties: self.properties,
                timestamp: self.timestamp.unwrap_or(now),
                message_id: self.message_id,
            },
        }
    }
}

/// Collects the problems of one call.
#[derive(Default)]
struct Checks(Vec<FieldError>);

impl Checks {
    fn take<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, FieldErrors> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(FieldErrors(self.0)),
        }
    }
}

fn check_type(kind: Option<Value>, expected: &str) -> Result<(), FieldError> {
    match kind {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s == expected => Ok(()),
        Some(other) => Err(FieldError::new(
            "/type",
            "type_mismatch",
            format!("this is an `{expected}` call, so `type` must be `{expected}` (or left out), not {other}"),
        )),
    }
}

fn parse_user_id(value: Option<Value>, anonymous_id: Option<Value>) -> Result<ContactId, FieldError> {
    let invalid = |message: String| FieldError::new("/userId", "invalid_user_id", message);
    match value {
        None | Some(Value::Null) => {
            let message = if anonymous_id.is_some_and(|a| !a.is_null()) {
                "`userId` is required: Kairos keeps contacts by user id, and `anonymousId` alone is not enough"
            } else {
                "`userId` is required"
            };
            Err(FieldError::new("/userId", "user_id_required", message))
        }
        Some(Value::String(s)) => ContactId::parse(&s).map_err(|m| invalid(format!("`userId` is not valid: {m}"))),
        Some(Value::Number(n)) => {
            ContactId::parse(&n.to_string()).map_err(|m| invalid(format!("`userId` is not valid: {m}")))
        }
        Some(other) => Err(invalid(format!("`userId` must be a string (or a number), not {}", json_kind(&other)))),
    }
}

fn parse_event_name(value: Option<Value>) -> Result<String, FieldError> {
    let invalid = |message: String| FieldError::new("/event", "invalid_event", message);
    match value {
        None | Some(Value::Null) => {
            Err(FieldError::new("/event", "event_required", "`event` (the event's name) is required"))
        }
        Some(Value::String(s)) if is_blank(&s) => Err(invalid("`event` must not be empty or only spaces".into())),
        Some(Value::String(s)) if s.chars().count() > MAX_ID_CHARS => {
            Err(invalid(format!("`event` has at most {MAX_ID_CHARS} characters; this one has {}", s.chars().count())))
        }
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(invalid(format!("`event` must be a string, not {}", json_kind(&other)))),
    }
}

fn parse_message_id(value: Option<Value>) -> Result<Option<String>, FieldError> {
    let invalid = |message: String| FieldError::new("/messageId", "invalid_message_id", message);
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() || s.chars().count() > MAX_ID_CHARS => {
            Err(invalid(format!("`messageId` must be a non-empty string of at most {MAX_ID_CHARS} characters")))
        }
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(format!("`messageId` must be a string, not {}", json_kind(&other)))),
    }
}

fn parse_timestamp(value: Option<Value>) -> Result<Option<DateTime<Utc>>, FieldError> {
    let invalid = |message: String| FieldError::new("/timestamp", "invalid_timestamp", message);
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(&s).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| {
            invalid(format!("`timestamp` must be an RFC 3339 time such as `2026-03-02T10:00:00Z`, not `{s}`"))
        }),
        Some(other) => Err(invalid(format!("`timestamp` must be an RFC 3339 string, not {}", json_kind(&other)))),
    }
}

impl TryFrom<IdentifyRequest> for Identify {
    type Error = FieldErrors;

    fn try_from(dto: IdentifyRequest) -> Result<Self, Self::Error> {
        let mut checks = Checks::default();
        checks.take(check_type(dto.kind, "identify"));
        let user_id = checks.take(parse_user_id(dto.user_id, dto.anonymous_id));
        let traits = checks.take(object_field(dto.traits, "/traits", "invalid_traits", "`traits`"));
        checks.take(parse_message_id(dto.message_id));
        checks.take(parse_timestamp(dto.timestamp));
        let value = user_id.zip(traits).map(|(user_id, traits)| Identify { user_id, traits });
        checks.finish(value)
    }
}

impl TryFrom<TrackRequest> for Track {
    type Error = FieldErrors;

    fn try_from(dto: TrackRequest) -> Result<Self, Self::Error> {
        let mut checks = Checks::default();
        checks.take(check_type(dto.kind, "track"));
        let user_id = checks.take(parse_user_id(dto.user_id, dto.anonymous_id));
        let event = checks.take(parse_event_name(dto.event));
        let properties = checks.take(object_field(dto.properties, "/properties", "invalid_properties", "`properties`"));
        let message_id = checks.take(parse_message_id(dto.message_id));
        let timestamp = checks.take(parse_timestamp(dto.timestamp));
        let value = (|| {
            Some(Track {
                user_id: user_id?,
                event: event?,
                properties: properties?,
                message_id: message_id?,
                timestamp: timestamp?,
            })
        })();
        checks.finish(value)
    }
}

/// A checked call of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Identify(Identify),
    Track(Track),
}

impl Call {
    /// Check one item of a batch; problems point into the item (`/type`, `/userId`, ...).
    fn parse(item: Value) -> Result<Call, FieldErrors> {
        let one = |e: FieldError| FieldErrors(vec![e]);
        let Value::Object(map) = &item else {
            return Err(one(FieldError::new(
                "",
                "invalid_item",
                format!("each batch item must be an object, not {}", json_kind(&item)),
            )));
        };
        match map.get("type") {
            Some(Value::String(t)) if t == "identify" => {
                let dto = serde_json::from_value::<IdentifyRequest>(item).map_err(|e| one(shape_error(&e)))?;
                Ok(Call::Identify(dto.try_into()?))
            }
            Some(Value::String(t)) if t == "track" => {
                let dto = serde_json::from_value::<TrackRequest>(item).map_err(|e| one(shape_error(&e)))?;
                Ok(Call::Track(dto.try_into()?))
            }
            Some(Value::String(t)) => Err(one(FieldError::new(
                "/type",
                "unsupported_type",
                format!("`{t}` calls are not supported; a batch item's `type` must be `identify` or `track`"),
            ))),
            None | Some(Value::Null) => {
                Err(one(FieldError::new("/type", "type_required", "a batch item needs `type`: `identify` or `track`")))
            }
            Some(other) => Err(one(FieldError::new(
                "/type",
                "unsupported_type",
                format!("`type` must be the string `identify` or `track`, not {}", json_kind(other)),
            ))),
        }
    }
}

/// An item that does not fit its DTO: with lenient field types this is an unknown (or
/// repeated) field, which is named.
fn shape_error(e: &serde_json::Error) -> FieldError {
    let text = e.to_string();
    let named = |prefix: &str| {
        text.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('`')).and_then(|rest| rest.split('`').next())
    };
    if let Some(field) = named("unknown field ") {
        let pointer = format!("/{}", crate::routes::contacts::pointer_segment(field));
        return FieldError::new(pointer, "unknown_field", text);
    }
    FieldError::new("", "invalid_item", text)
}

// ----- Errors -----

#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("the identify call could not be stored")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for IdentifyError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code(),
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(e) => e.items(),
            Self::Unexpected(_) => vec![],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("the track call could not be stored")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for TrackError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code(),
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(e) => e.items(),
            Self::Unexpected(_) => vec![],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("`batch` is required: an array of 1–{MAX_BATCH} identify or track calls")]
    Missing,
    #[error("`batch` must be an array of identify or track calls, not {0}")]
    NotAnArray(&'static str),
    #[error("`batch` is empty: send 1–{MAX_BATCH} calls")]
    Empty,
    #[error("`batch` has {0} calls; at most {MAX_BATCH} are accepted at once: split it")]
    TooLarge(usize),
    #[error("the batch could not be stored")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for BatchError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::NotAnArray(_) | Self::Empty => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Missing => "batch_required",
            Self::NotAnArray(_) => "invalid_batch",
            Self::Empty => "empty_batch",
            Self::TooLarge(_) => "batch_too_large",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Unexpected(_) => vec![],
            other => vec![FieldError::new("/batch", other.code(), other.to_string()).item()],
        }
    }
}

crate::problem_response!(IdentifyError, TrackError, BatchError);

// ----- Handlers -----

/// Segment `identify`: create or update a contact, merging the traits into its
/// attributes (`null` removes one).
#[utoipa::path(tag = "ingest", request_body = IdentifyRequest, responses(
    (status = 200, description = "The contact as stored now", body = IdentifyResponse),
    (status = 400, description = "`user_id_required`, `invalid_user_id`, `invalid_traits`, `invalid_message_id`, `invalid_timestamp`, `type_mismatch` (every problem with its pointer in `errors`; the code is the first one's), `malformed_json`, `invalid_body` (e.g. an unknown field, named)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 413, description = "`body_too_large`: the body is over 1 MiB", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[post("/identify")]
pub async fn identify(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<IdentifyRequest>>,
) -> Result<web::Json<IdentifyResponse>, IdentifyError> {
    let call = Identify::try_from(body.into_inner().into_inner()).map_err(IdentifyError::Invalid)?;
    let outcome = state.scheduler.ingest_items(vec![call.into_item()]).await?;
    match outcome.into_iter().next() {
        Some(IngestOutcome::Identified { contact, created }) => {
            Ok(web::Json(IdentifyResponse { contact: contact.into(), created }))
        }
        _ => Err(IdentifyError::Unexpected(store::Error::Corrupt {
            what: "ingestion outcome",
            detail: "an identify call did not report its contact".into(),
        })),
    }
}

/// Segment `track`: store an event (once per `messageId`), deliver it to the runs
/// waiting for it and start the live journeys it triggers, in one transaction.
#[utoipa::path(tag = "ingest", request_body = TrackRequest, responses(
    (status = 200, description = "What the event did", body = TrackResponse),
    (status = 400, description = "`user_id_required`, `invalid_user_id`, `event_required`, `invalid_event`, `invalid_properties`, `invalid_message_id`, `invalid_timestamp`, `type_mismatch` (every problem with its pointer in `errors`; the code is the first one's), `malformed_json`, `invalid_body` (e.g. an unknown field, named)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 413, description = "`body_too_large`: the body is over 1 MiB", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[post("/track")]
pub async fn track(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<TrackRequest>>,
) -> Result<web::Json<TrackResponse>, TrackError> {
    let call = Track::try_from(body.into_inner().into_inner()).map_err(TrackError::Invalid)?;
    let incoming = call.into_incoming(state.scheduler.now());
    let ingested = state.scheduler.ingest(vec![incoming]).await?.into_iter().next().unwrap_or_default();
    Ok(web::Json(TrackResponse {
        duplicate: ingested.duplicate,
        started_runs: ingested.started,
        delivered_to: ingested.delivered,
    }))
}

/// Segment `batch`: up to 1000 identify and track calls. Each call is checked on its own
/// and an invalid one is rejected with its problem (the others go on); the valid calls
/// are ingested in order, all in one transaction.
#[utoipa::path(tag = "ingest", request_body = BatchRequest, responses(
    (status = 200, description = "One result per call, with counts", body = BatchResponse),
    (status = 400, description = "`batch_required`, `invalid_batch` (not an array), `empty_batch`, `malformed_json`, `invalid_body` (e.g. an unknown top-level field, named)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 413, description = "`batch_too_large`: more than 1000 calls; `body_too_large`: the body is over 1 MiB", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[post("/batch")]
pub async fn batch(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<BatchRequest>>,
) -> Result<web::Json<BatchResponse>, BatchError> {
    let items = match body.into_inner().into_inner().batch {
        None | Some(Value::Null) => return Err(BatchError::Missing),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(BatchError::NotAnArray(json_kind(&other))),
    };
    if items.is_empty() {
        return Err(BatchError::Empty);
    }
    if items.len() > MAX_BATCH {
        return Err(BatchError::TooLarge(items.len()));
    }
    let now = state.scheduler.now();
    let mut results = Vec::with_capacity(items.len());
    let mut calls = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match Call::parse(item) {
            Ok(call) => {
                calls.push(match call {
                    Call::Identify(i) => i.into_item(),
                    Call::Track(t) => IngestItem::Track(t.into_incoming(now)),
                });
                results.push(BatchItemResult {
                    index,
                    status: BatchItemStatus::Accepted,
                    error: None,
                    started_runs: vec![],
                });
            }
            Err(errors) => {
                let error = errors.0.into_iter().next().map(|e| e.within(&format!("/batch/{index}")).item());
                results.push(BatchItemResult { index, status: BatchItemStatus::Rejected, error, started_runs: vec![] });
            }
        }
    }
    if !calls.is_empty() {
        let accepted: Vec<usize> =
            results.iter().filter(|r| r.status == BatchItemStatus::Accepted).map(|r| r.index).collect();
        let outcomes = state.scheduler.ingest_items(calls).await?;
        for (index, outcome) in accepted.into_iter().zip(outcomes) {
            if let IngestOutcome::Tracked(t) = outcome {
                let result = &mut results[index];
                if t.duplicate {
                    result.status = BatchItemStatus::Duplicate;
                }
                result.started_runs = t.started;
            }
        }
    }
    let count = |s: BatchItemStatus| results.iter().filter(|r| r.status == s).count();
    Ok(web::Json(BatchResponse {
        accepted: count(BatchItemStatus::Accepted),
        duplicates: count(BatchItemStatus::Duplicate),
        rejected: count(BatchItemStatus::Rejected),
        results,
    }))
}
