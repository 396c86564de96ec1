//! `/v1/contacts`: list, read, replace (`PUT`), merge (`PATCH`) and erase (`DELETE`)
//! contacts.
//!
//! Also the pieces the ingestion routes share: [`ContactId`], [`ContactDto`], field
//! errors ([`FieldError`], [`FieldErrors`]).

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::{JsonObject, page_limit};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, put, web};
use chrono::{DateTime, Utc};
use kairos_engine::store::{self, ContactRecord, Merge};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_contacts).service(get_contact).service(put_contact).service(patch_contact).service(delete_contact);
}

// ----- Shared domain values -----

/// Longest contact id, event name, message id and tag, in characters.
pub const MAX_ID_CHARS: usize = 200;

/// What a contact id matches, as a JSON Schema (ECMA 262) pattern: not only spaces, no
/// control characters (the length is checked apart).
pub const CONTACT_ID_PATTERN: &str =
    r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

/// A contact id (the `userId` of ingestion): a non-empty string of at most
/// [`MAX_ID_CHARS`] characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactId(String);

impl ContactId {
    /// Check a contact id; the error says what is wrong with it.
    pub fn parse(id: &str) -> Result<ContactId, String> {
        if is_blank(id) {
            return Err("a contact id must not be empty or only spaces".into());
        }
        let chars = id.chars().count();
        if chars > MAX_ID_CHARS {
            return Err(format!("a contact id has at most {MAX_ID_CHARS} characters; this one has {chars}"));
        }
        if id.chars().any(char::is_control) {
            return Err("a contact id must not contain control characters".into());
        }
        Ok(ContactId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether a text is empty or only white space (as the `\s` of the OpenAPI patterns:
/// ECMA 262 white space and line terminators).
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(
            c,
            '\u{9}'..='\u{D}'
                | ' '
                | '\u{A0}'
                | '\u{1680}'
                | '\u{2000}'..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
        )
    })
}

/// One problem with one field of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer to the field.
    pub pointer: String,
    /// Stable code, e.g. `user_id_required`.
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, code: &'static str, message: impl Into<String>) -> FieldError {
        FieldError { pointer: pointer.into(), code, message: message.into() }
    }

    /// The same problem inside a larger document (`/batch/3` + `/userId`).
    pub fn within(mut self, prefix: &str) -> FieldError {
        self.pointer = format!("{prefix}{}", self.pointer);
        self
    }

    pub fn item(&self) -> ProblemItem {
        ProblemItem { pointer: self.pointer.clone(), node: None, message: self.message.clone(), code: self.code.into() }
    }
}

/// Every problem found in a request body (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// The code of the first problem: the code of the whole response.
    pub fn code(&self) -> &'static str {
        self.0.first().map_or("invalid_body", |e| e.code)
    }

    pub fn items(&self) -> Vec<ProblemItem> {
        self.0.iter().map(FieldError::item).collect()
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| format!("{}: {}", e.pointer, e.message)).collect();
        write!(f, "the body is not valid: {}", parts.join("; "))
    }
}

/// A key as a JSON pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// An optional JSON object field (`null` counts as absent); `what` names it in messages.
pub fn object_field(
    value: Option<Value>,
    pointer: &str,
    code: &'static str,
    what: &str,
) -> Result<Map<String, Value>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(other) => {
            Err(FieldError::new(pointer, code, format!("{what} must be a JSON object, not {}", json_kind(&other))))
        }
    }
}

/// "a string", "an array", ... for messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ----- DTOs -----

/// A contact.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactDto {
    /// The contact's id (the `userId` of the ingestion routes).
    pub id: String,
    /// Free-form attributes (Segment traits): `email`, `phone`, `first_name`, `timezone`, ...
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Tags, sorted and unique.
    pub tags: Vec<String>,
    /// The `lifecycle_stage` attribute when it is a string (journeys set it with
    /// `update_contact`), else `null`. Read-only: set it through `attributes`.
    pub lifecycle_stage: Option<String>,
    /// When the contact was created (RFC 3339).
    pub created_at: DateTime<Utc>,
    /// When the contact was last changed (RFC 3339).
    pub updated_at: DateTime<Utc>,
}

impl From<ContactRecord> for ContactDto {
    fn from(r: ContactRecord) -> Self {
        let lifecycle_stage = r.contact.attributes.get("lifecycle_stage").and_then(Value::as_str).map(str::to_string);
        ContactDto {
            id: r.contact.id,
            attributes: r.contact.attributes,
            tags: r.contact.tags.into_iter().collect(),
            lifecycle_stage,
            // The store keeps milliseconds: answer with what a later read returns.
            created_at: store::from_millis(store::millis(r.created_at)),
            updated_at: store::from_millis(store::millis(r.updated_at)),
        }
    }
}

/// A page of contacts, by id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactList {
    /// The contacts of this page, ordered by id.
    pub data: Vec<ContactDto>,
    /// Cursor of the next page (pass it as `after`), or `null` on the last page.
    pub next: Option<String>,
}

/// Query of `GET /v1/contacts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListContactsQuery {
    /// Cursor: the `next` of the previous page. Contacts whose id sorts after it are listed.
    after: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
}

/// The path of one contact's routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ContactPath {
    /// The contact's id: 1–200 characters, not only spaces, no control characters.
    // The pattern is `CONTACT_ID_PATTERN` (an attribute needs a literal).
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    id: String,
}

/// Body of `PUT /v1/contacts/{id}`: the contact's whole state.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutContactRequest {
    /// Every attribute of the contact; attributes not listed are removed (`null` values
    /// are dropped). Omitted: no attributes.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    attributes: Option<Value>,
    /// Every tag of the contact (non-empty strings of at most 200 characters). Omitted: no tags.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Tag>>)]
    tags: Option<Value>,
}

/// Body of `PATCH /v1/contacts/{id}`: changes merged into the contact (JSON merge patch).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchContactRequest {
    /// Attributes to set; other attributes are kept, and a `null` value removes that attribute.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    attributes: Option<Value>,
    /// When given, the contact's new set of tags (it replaces the old one); omitted, the tags are kept.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Tag>>)]
    tags: Option<Value>,
}

/// A tag: 1–200 characters, not only spaces.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 200, pattern = r"\S")]
#[allow(dead_code)] // Only documents tags.
pub struct Tag(String);

/// Attribute and tag changes, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactChanges {
    pub attributes: Map<String, Value>,
    /// `None`: keep the tags (PATCH without `tags`).
    pub tags: Option<BTreeSet<String>>,
}

fn parse_tags(value: Option<Value>, errors: &mut Vec<FieldError>) -> Option<BTreeSet<String>> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut tags = BTreeSet::new();
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(t) if !is_blank(&t) && t.chars().count() <= MAX_ID_CHARS => {
                        tags.insert(t);
                    }
                    Value::String(_) => errors.push(FieldError::new(
                        format!("/tags/{i}"),
                        "invalid_tags",
                        format!("a tag must be a string of 1–{MAX_ID_CHARS} characters, not only spaces"),
                    )),
                    other => errors.push(FieldError::new(
                        format!("/tags/{i}"),
                        "invalid_tags",
                        format!("a tag must be a string, not {}", json_kind(&other)),
                    )),
                }
            }
            Some(tags)
        }
        Some(other) => {
            errors.push(FieldError::new(
                "/tags",
                "invalid_tags",
                format!("`tags` must be an array of strings, not {}", json_kind(&other)),
            ));
            None
        }
    }
}

fn parse_changes(attributes: Option<Value>, tags: Option<Value>) -> Result<ContactChanges, FieldErrors> {
    let mut errors = Vec::new();
    let attributes = object_field(attributes, "/attributes", "invalid_attributes", "`attributes`")
        .map_err(|e| errors.push(e))
        .unwrap_or_default();
    let tags = parse_tags(tags, &mut errors);
    if errors.is_empty() { Ok(ContactChanges { attributes, tags }) } else { Err(FieldErrors(errors)) }
}

impl TryFrom<PutContactRequest> for ContactChanges {
    type Error = FieldErrors;

    fn try_from(body: PutContactRequest) -> Result<Self, Self::Error> {
        let changes = parse_changes(body.attributes, body.tags)?;
        Ok(ContactChanges { tags: Some(changes.tags.unwrap_or_default()), ..changes })
    }
}

impl TryFrom<PatchContactRequest> for ContactChanges {
    type Error = FieldErrors;

    fn try_from(body: PatchContactRequest) -> Result<Self, Self::Error> {
        parse_changes(body.attributes, body.tags)
    }
}

// ----- Errors -----

#[derive(Debug, thiserror::Error)]
pub enum ListContactsError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error("listing contacts failed")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListContactsError {
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
pub enum GetContactError {
    #[error("{0}")]
    InvalidId(String),
    #[error("there is no contact `{0}`")]
    NotFound(String),
    #[error("reading the contact failed")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetContactError {
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
pub enum PutContactError {
    #[error("{0}")]
    InvalidId(String),
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("saving the contact failed")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PutContactError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidId(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidId(_) => "invalid_contact_id",
            Self::Invalid(e) => e.code(),
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

#[derive(Debug, thiserror::Error)]
pub enum PatchContactError {
    #[error("{0}")]
    InvalidId(String),
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("saving the contact failed")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PatchContactError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidId(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidId(_) => "invalid_contact_id",
            Self::Invalid(e) => e.code(),
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

#[derive(Debug, thiserror::Error)]
pub enum DeleteContactError {
    #[error("{0}")]
    InvalidId(String),
    #[error("there is no contact `{0}`")]
    NotFound(String),
    #[error("erasing the contact failed")]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for DeleteContactError {
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

crate::problem_response!(ListContactsError, GetContactError, PutContactError, PatchContactError, DeleteContactError);

// ----- Handlers -----

/// List contacts, ordered by id, a page at a time.
#[utoipa::path(tag = "contacts", params(ListContactsQuery), responses(
    (status = 200, description = "A page of contacts", body = ContactList),
    (status = 400, description = "`invalid_query`: `limit` out of 1–500, an unknown or malformed parameter", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/contacts")]
pub async fn list_contacts(
    state: web::Data<AppState>,
    query: web::Query<ListContactsQuery>,
) -> Result<web::Json<ContactList>, ListContactsError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit).map_err(ListContactsError::InvalidQuery)?;
    let mut rows = store::list_contacts(state.store().reader(), query.after.as_deref(), limit + 1).await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.contact.id.clone())
    } else {
        None
    };
    Ok(web::Json(ContactList { data: rows.into_iter().map(ContactDto::from).collect(), next }))
}

/// Read one contact.
#[utoipa::path(tag = "contacts", params(ContactPath), responses(
    (status = 200, description = "The contact", body = ContactDto),
    (status = 400, description = "`invalid_contact_id`: the id is empty, too long or has control characters", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such contact", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/contacts/{id}")]
pub async fn get_contact(
    state: web::Data<AppState>,
    path: web::Path<ContactPath>,
) -> Result<web::Json<ContactDto>, GetContactError> {
    let id = ContactId::parse(&path.id).map_err(GetContactError::InvalidId)?;
    let record = store::get_contact(state.store().reader(), id.as_str())
        .await?
        .ok_or_else(|| GetContactError::NotFound(id.into_string()))?;
    Ok(web::Json(record.into()))
}

/// Replace a contact's attributes and tags, creating the contact if it does not exist.
#[utoipa::path(tag = "contacts", params(ContactPath), request_body = PutContactRequest, responses(
    (status = 200, description = "The contact was replaced", body = ContactDto),
    (status = 201, description = "The contact was created", body = ContactDto),
    (status = 400, description = "`invalid_contact_id`, `invalid_attributes`, `invalid_tags` (each problem with its pointer in `errors`), `malformed_json`, `invalid_body` (e.g. an unknown field, named)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 413, description = "`body_too_large`: the body is over 1 MiB", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[put("/contacts/{id}")]
pub async fn put_contact(
    state: web::Data<AppState>,
    path: web::Path<ContactPath>,
    body: web::Json<JsonObject<PutContactRequest>>,
) -> Result<HttpResponse, PutContactError> {
    let id = ContactId::parse(&path.id).map_err(PutContactError::InvalidId)?;
    let changes = ContactChanges::try_from(body.into_inner().into_inner()).map_err(PutContactError::Invalid)?;
    let (record, created) = save(&state, id, changes, Merge::Replace).await?;
    Ok(created_or_ok(created).json(ContactDto::from(record)))
}

/// Merge changes into a contact: listed attributes are set (`null` removes one), the
/// others are kept; `tags`, when given, replaces the tags. A contact that does not exist
/// is created, as `identify` does.
#[utoipa::path(tag = "contacts", params(ContactPath), request_body = PatchContactRequest, responses(
    (status = 200, description = "The contact was updated", body = ContactDto),
    (status = 201, description = "The contact did not exist and was created", body = ContactDto),
    (status = 400, description = "`invalid_contact_id`, `invalid_attributes`, `invalid_tags` (each problem with its pointer in `errors`), `malformed_json`, `invalid_body` (e.g. an unknown field, named)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 413, description = "`body_too_large`: the body is over 1 MiB", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[patch("/contacts/{id}")]
pub async fn patch_contact(
    state: web::Data<AppState>,
    path: web::Path<ContactPath>,
    body: web::Json<JsonObject<PatchContactRequest>>,
) -> Result<HttpResponse, PatchContactError> {
    let id = ContactId::parse(&path.id).map_err(PatchContactError::InvalidId)?;
    let changes = ContactChanges::try_from(body.into_inner().into_inner()).map_err(PatchContactError::Invalid)?;
    let (record, created) = save(&state, id, changes, Merge::Merge).await?;
    Ok(created_or_ok(created).json(ContactDto::from(record)))
}

/// Erase a contact: its attributes, events and messages are deleted and its active runs
/// cancelled (their stored data scrubbed; the counts stay in the journeys' stats).
#[utoipa::path(tag = "contacts", params(ContactPath), responses(
    (status = 204, description = "The contact was erased"),
    (status = 400, description = "`invalid_contact_id`: the id is empty, too long or has control characters", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid API key", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such contact", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[delete("/contacts/{id}")]
pub async fn delete_contact(
    state: web::Data<AppState>,
    path: web::Path<ContactPath>,
) -> Result<HttpResponse, DeleteContactError> {
    let id = ContactId::parse(&path.id).map_err(DeleteContactError::InvalidId)?;
    let now = state.scheduler.now();
    let key = id.as_str().to_string();
    let existed = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::delete_contact(tx, &key, now).await }))
        .await?;
    if !existed {
        return Err(DeleteContactError::NotFound(id.into_string()));
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn save(
    state: &AppState,
    id: ContactId,
    changes: ContactChanges,
    merge: Merge,
) -> Result<(ContactRecord, bool), store::Error> {
    let now = state.scheduler.now();
    state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                store::upsert_contact(tx, id.as_str(), changes.attributes, changes.tags, merge, "API", now).await
            })
        })
        .await
}

fn created_or_ok(created: bool) -> actix_web::HttpResponseBuilder {
    if created { HttpResponse::Created() } else { HttpResponse::Ok() }
}
