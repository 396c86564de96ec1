//! `/v1/topics`: the workspace's topics, the marketing categories (`newsletter`,
//! `product-updates`) a send names with `topic` and contacts opt out of one by one.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::JsonObject;
use crate::routes::contacts::{FieldError, FieldErrors, is_blank};
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use kairos_engine::store::{self, TopicRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_topics).service(create_topic).service(get_topic).service(update_topic).service(delete_topic);
}

/// Longest topic name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest topic description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

// ----- Domain values -----

/// A topic id: what a journey's send names (a slug: lowercase letters, digits, `-`, `_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicId(String);

impl TopicId {
    pub fn parse(id: &str) -> Result<TopicId, String> {
        if kairos_engine::validate::is_slug(id) {
            Ok(TopicId(id.to_string()))
        } else {
            Err(format!(
                "`{id}` is not a topic id; use lowercase letters, digits, `-` and `_` (at most 64), starting with a letter or digit, e.g. `newsletter`"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A topic's name and description, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicText {
    pub name: String,
    pub description: String,
}

fn parse_text(name: &str, description: &str, errors: &mut Vec<FieldError>) -> TopicText {
    if is_blank(name) || name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError::new(
            "/name",
            "invalid_topic_name",
            format!("a topic's name is 1–{MAX_NAME_CHARS} characters, not only spaces; contacts see it when they unsubscribe"),
        ));
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.push(FieldError::new(
            "/description",
            "invalid_topic_description",
            format!("a topic's description has at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    TopicText { name: name.trim().to_string(), description: description.trim().to_string() }
}

/// A new topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub id: TopicId,
    pub text: TopicText,
}

// ----- DTOs -----

/// A topic: a marketing category contacts can opt out of.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TopicDto {
    /// What a send's `topic` names, e.g. `newsletter`.
    pub id: String,
    /// What contacts see on the unsubscribe page, e.g. "Weekly newsletter".
    pub name: String,
    /// What it is about (may be empty).
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TopicRecord> for TopicDto {
    fn from(t: TopicRecord) -> Self {
        TopicDto {
            id: t.id,
            name: t.name,
            description: t.description,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Every topic, by id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopicList {
    pub data: Vec<TopicDto>,
}

/// Body of `POST /v1/topics`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopicRequest {
    /// The id sends name: lowercase letters, digits, `-` and `_` (at most 64). It cannot change later.
    #[schema(example = "newsletter", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    id: String,
    /// The name contacts see, 1–100 characters.
    #[schema(example = "Weekly newsletter", min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
    /// What the topic is about, at most 1,000 characters.
    #[serde(default)]
    description: String,
}

impl TryFrom<CreateTopicRequest> for NewTopic {
    type Error = FieldErrors;

    fn try_from(body: CreateTopicRequest) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        let id = TopicId::parse(&body.id).map_err(|e| errors.push(FieldError::new("/id", "invalid_topic_id", e)));
        let text = parse_text(&body.name, &body.description, &mut errors);
        match id {
            Ok(id) if errors.is_empty() => Ok(NewTopic { id, text }),
            _ => Err(FieldErrors(errors)),
        }
    }
}

/// Body of `PUT /v1/topics/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTopicRequest {
    /// The name contacts see, 1–100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
    /// What the topic is about, at most 1,000 characters (omitted: empty).
    #[serde(default)]
    description: String,
}

impl TryFrom<UpdateTopicRequest> for TopicText {
    type Error = FieldErrors;

    fn try_from(body: UpdateTopicRequest) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        let text = parse_text(&body.name, &body.description, &mut errors);
        if errors.is_empty() { Ok(text) } else { Err(FieldErrors(errors)) }
    }
}

/// The path of one topic's routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TopicPath {
    /// The topic's id.
    id: String,
}

// ----- Errors -----

#[derive(Debug, thiserror::Error)]
pub enum ListTopicsError {
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListTopicsError {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    fn code(&self) -> &'static str {
        "internal"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateTopicError {
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("there is a topic `{0}` already")]
    Exists(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for CreateTopicError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Exists(_) => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code(),
            Self::Exists(_) => "topic_exists",
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
pub enum GetTopicError {
    #[error("there is no topic `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetTopicError {
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
pub enum UpdateTopicError {
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("there is no topic `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for UpdateTopicError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
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

#[derive(Debug, thiserror::Error)]
pub enum DeleteTopicError {
    #[error("there is no topic `{0}`")]
    NotFound(String),
    #[error("the topic `{topic}` is used by published journeys ({}); remove `topic` from those sends and publish them first", list(.users))]
    InUse { topic: String, users: Vec<(String, String)> },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

fn list(users: &[(String, String)]) -> String {
    users.iter().map(|(w, n)| format!("`{w}` node `{n}`")).collect::<Vec<_>>().join(", ")
}

impl ApiProblem for DeleteTopicError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InUse { .. } => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InUse { .. } => "topic_in_use",
            Self::Unexpected(_) => "internal",
        }
    }
}

crate::problem_response!(ListTopicsError, CreateTopicError, GetTopicError, UpdateTopicError, DeleteTopicError);

// ----- Handlers -----

/// List the topics, by id.
#[utoipa::path(tag = "topics", responses(
    (status = 200, description = "Every topic", body = TopicList),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/topics")]
pub async fn list_topics(state: web::Data<AppState>) -> Result<web::Json<TopicList>, ListTopicsError> {
    let topics = store::list_topics(state.store().reader()).await?;
    Ok(web::Json(TopicList { data: topics.into_iter().map(Into::into).collect() }))
}

/// Create a topic. Journeys' sends can then name it with `topic`.
#[utoipa::path(tag = "topics", request_body = CreateTopicRequest, responses(
    (status = 201, description = "The topic was created", body = TopicDto,
        headers(("Location" = String, description = "The topic's URL"))),
    (status = 400, description = "`invalid_topic_id`, `invalid_topic_name`, `invalid_topic_description` (each with its pointer in `errors`), `malformed_json`, `invalid_body`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 409, description = "`topic_exists`: the id is taken", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[post("/topics")]
pub async fn create_topic(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<CreateTopicRequest>>,
) -> Result<HttpResponse, CreateTopicError> {
    let topic = NewTopic::try_from(body.into_inner().into_inner()).map_err(CreateTopicError::Invalid)?;
    let now = state.scheduler.now();
    let t = topic.clone();
    let created = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(
                async move { store::insert_topic(tx, t.id.as_str(), &t.text.name, &t.text.description, now).await },
            )
        })
        .await?
        .ok_or_else(|| CreateTopicError::Exists(topic.id.as_str().to_string()))?;
    tracing::info!(topic = %created.id, "Topic created");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/topics/{}", created.id)))
        .json(TopicDto::from(created)))
}

/// Read one topic.
#[utoipa::path(tag = "topics", params(TopicPath), responses(
    (status = 200, description = "The topic", body = TopicDto),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such topic", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/topics/{id}")]
pub async fn get_topic(
    state: web::Data<AppState>,
    path: web::Path<TopicPath>,
) -> Result<web::Json<TopicDto>, GetTopicError> {
    let id = path.into_inner().id;
    let topic = store::get_topic(state.store().reader(), &id).await?.ok_or(GetTopicError::NotFound(id))?;
    Ok(web::Json(topic.into()))
}

/// Rename a topic or change its description (its id stays).
#[utoipa::path(tag = "topics", params(TopicPath), request_body = UpdateTopicRequest, responses(
    (status = 200, description = "The topic as changed", body = TopicDto),
    (status = 400, description = "`invalid_topic_name`, `invalid_topic_description` (with pointers in `errors`), `malformed_json`, `invalid_body`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such topic", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[put("/topics/{id}")]
pub async fn update_topic(
    state: web::Data<AppState>,
    path: web::Path<TopicPath>,
    body: web::Json<JsonObject<UpdateTopicRequest>>,
) -> Result<web::Json<TopicDto>, UpdateTopicError> {
    let id = path.into_inner().id;
    let text = TopicText::try_from(body.into_inner().into_inner()).map_err(UpdateTopicError::Invalid)?;
    let now = state.scheduler.now();
    let key = id.clone();
    let topic = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::update_topic(tx, &key, &text.name, &text.description, now).await }))
        .await?
        .ok_or(UpdateTopicError::NotFound(id))?;
    Ok(web::Json(topic.into()))
}

/// Delete a topic and every contact's opt-out of it. Refused while the live version of a
/// journey (not archived) has a send with this topic.
#[utoipa::path(tag = "topics", params(TopicPath), responses(
    (status = 204, description = "The topic was deleted"),
    (status = 401, description = "`unauthorized` / `invalid_api_key`: no valid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: there is no such topic", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 409, description = "`topic_in_use`: a published journey's send names it (the journeys and nodes are listed)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    (status = 500, description = "`internal`: unexpected failure (logged)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[delete("/topics/{id}")]
pub async fn delete_topic(
    state: web::Data<AppState>,
    path: web::Path<TopicPath>,
) -> Result<HttpResponse, DeleteTopicError> {
    let id = path.into_inner().id;
    let key = id.clone();
    // Checked and deleted in one transaction: a journey published meanwhile cannot slip in.
    let outcome = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                let users = store::topic_users(tx, &key).await?;
                if !users.is_empty() {
                    return Ok(Err(users));
                }
                Ok(Ok(store::delete_topic(tx, &key).await?))
            })
        })
        .await?;
    match outcome {
        Err(users) => Err(DeleteTopicError::InUse { topic: id, users }),
        Ok(false) => Err(DeleteTopicError::NotFound(id)),
        Ok(true) => {
            tracing::info!(topic = %id, "Topic deleted");
            Ok(HttpResponse::NoContent().finish())
        }
    }
}
