//! `/v1/templates`: the template library. A template is a whole `message` for one channel,
//! a `partial` (`{{> footer}}`) or an email `layout` (`{{#> brand}}…{{/brand}}`); its
//! document is the format of `workflows/templates/<id>.json`. Every save that changes
//! something is a new immutable version (1, 2, …); publishing a journey pins the versions
//! it uses, so editing a template changes a live journey only when it is published again.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::{JsonObject, page_limit};
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use kairos_engine::library::{self, Body, Library, Template};
use kairos_engine::nodes::Build;
use kairos_engine::nodes::send::{MessageSpec, Rendered, Send, Skip, TemplateRef};
use kairos_engine::store::{self, TemplateSave, TemplateVersionRecord};
use kairos_engine::template::{Escape, Templates};
use kairos_engine::{Contact, Event, Problem};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

/// Register the template routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_templates)
        .service(create_template)
        .service(get_template)
        .service(update_template)
        .service(delete_template)
        .service(list_template_versions)
        .service(get_template_version)
        .service(preview_template);
}

/// The largest version number there can be (versions are stored as 32-bit integers).
const MAX_VERSION: u32 = i32::MAX as u32;

// ----- Shared pieces -----

/// What a template is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    /// A whole message for one channel (email, SMS or push), used by send nodes.
    Message,
    /// A snippet inserted into any text with `{{> id}}`.
    Partial,
    /// An email layout: `{{#> id}}body{{/id}}` puts the body where it says `{{> @partial-block}}`.
    Layout,
}

impl From<library::TemplateKind> for TemplateKind {
    fn from(k: library::TemplateKind) -> Self {
        match k {
            library::TemplateKind::Message => TemplateKind::Message,
            library::TemplateKind::Partial => TemplateKind::Partial,
            library::TemplateKind::Layout => TemplateKind::Layout,
        }
    }
}

impl From<TemplateKind> for library::TemplateKind {
    fn from(k: TemplateKind) -> Self {
        match k {
            TemplateKind::Message => library::TemplateKind::Message,
            TemplateKind::Partial => library::TemplateKind::Partial,
            TemplateKind::Layout => library::TemplateKind::Layout,
        }
    }
}

/// A template document: the JSON of `workflows/templates/<id>.json`, described by
/// `/template.schema.json` in a folder of journeys.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct TemplateDocument(Map<String, Value>);

const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";

impl utoipa::PartialSchema for TemplateDocument {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let string = |description: &str| ObjectBuilder::new().schema_type(Type::String).description(Some(description));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A template: the JSON of `workflows/templates/<id>.json` (`kairos schema` writes its JSON Schema, \
                 `template.schema.json`). A `message` template has `message` (`channel` `email` with `subject`, \
                 `body`, `text`?, `from`?, `reply_to`?, `layout`?; `sms` with `body`; `push` with `title`, `body`, \
                 `url`?); a `partial` or `layout` has `content`. Every text is a handlebars template.",
            ))
            .property("$schema", string("Path of the JSON Schema (ignored)."))
            .property(
                "id",
                string("Stable slug: lowercase letters, digits, `-`, `_`; at most 64.").pattern(Some(SLUG_PATTERN)),
            )
            .property("name", string("Display name (not blank).").pattern(Some("\\S")))
            .property("description", string("What the template is for."))
            .property(
                "kind",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["message", "partial", "layout"]))
                    .description(Some("`message`, `partial` or `layout`; it cannot change once saved.")),
            )
            .property(
                "message",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("The message of a `message` template, with its `channel`.")),
            )
            .property("content", string("The handlebars text of a `partial` or `layout`."))
            .required("id")
            .required("name")
            .required("kind")
            .build()
            .into()
    }
}

impl utoipa::ToSchema for TemplateDocument {}

impl TryFrom<TemplateDocument> for Template {
    type Error = Vec<Problem>;

    /// Every problem of the document at once, each at its JSON pointer: its structure,
    /// and that every text compiles and renders (partials it uses are checked at publish).
    fn try_from(doc: TemplateDocument) -> Result<Template, Vec<Problem>> {
        library::validate_value(Value::Object(doc.0))
    }
}

fn items(problems: &[Problem]) -> Vec<ProblemItem> {
    problems.iter().map(ProblemItem::from).collect()
}

fn channel_of(t: &Template) -> Option<String> {
    match &t.body {
        Body::Message(m) => Some(store::channel_name(m.channel()).to_string()),
        _ => None,
    }
}

/// A template as lists show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateSummary {
    /// The template's slug id, e.g. `welcome-email`.
    pub id: String,
    /// Display name (of the latest version).
    pub name: String,
    pub kind: TemplateKind,
    /// A message template's channel (`email`, `sms`, `push`).
    pub channel: Option<String>,
    /// The latest version (every save that changes something adds one).
    pub latest_version: u32,
    pub created_at: DateTime<Utc>,
    /// When the latest version was saved.
    pub updated_at: DateTime<Utc>,
}

/// Why a published journey keeps a template in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UseReason {
    /// The live version of a live journey.
    Live,
    /// The live version of a paused journey.
    Paused,
    /// A version with runs still going.
    ActiveRuns,
}

/// A published journey version that uses the template.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateUse {
    pub workflow_id: String,
    pub workflow_version: u32,
    /// The template version that journey version pinned.
    pub template_version: u32,
    pub reason: UseReason,
    /// For `active_runs`: how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_runs: Option<u64>,
}

impl From<store::TemplateUse> for TemplateUse {
    fn from(u: store::TemplateUse) -> Self {
        let (reason, active_runs) = match u.reason {
            store::UseReason::Live => (UseReason::Live, None),
            store::UseReason::Paused => (UseReason::Paused, None),
            store::UseReason::ActiveRuns(n) => (UseReason::ActiveRuns, Some(n)),
        };
        TemplateUse {
            workflow_id: u.workflow_id,
            workflow_version: u.workflow_version,
            template_version: u.template_version,
            reason,
            active_runs,
        }
    }
}

/// One version of a template with its content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateVersionDetail {
    pub id: String,
    /// This version's number.
    pub version: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub kind: TemplateKind,
    /// A message template's channel.
    pub channel: Option<String>,
    /// The message of a `message` template (`channel` and its texts, as in the file).
    #[schema(value_type = Option<Object>)]
    pub message: Option<Value>,
    /// The text of a `partial` or `layout`.
    pub content: Option<String>,
    /// When this version was saved.
    pub created_at: DateTime<Utc>,
}

impl From<&TemplateVersionRecord> for TemplateVersionDetail {
    fn from(r: &TemplateVersionRecord) -> Self {
        let t = &r.template;
        let (message, content) = match &t.body {
            Body::Message(m) => (serde_json::to_value(m).ok(), None),
            Body::Partial(c) | Body::Layout(c) => (None, Some(c.clone())),
        };
        TemplateVersionDetail {
            id: t.id.clone(),
            version: r.version(),
            name: t.name.clone(),
            description: t.description.clone(),
            kind: t.kind().into(),
            channel: channel_of(t),
            message,
            content,
            created_at: r.created_at,
        }
    }
}

/// A template: its latest version, and the published journeys that use it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateDetail {
    #[serde(flatten)]
    pub latest: TemplateVersionDetail,
    /// When the template was first created.
    pub template_created_at: DateTime<Utc>,
    /// Published journey versions using it now; while there are any it cannot be deleted.
    pub used_by: Vec<TemplateUse>,
}

async fn detail_of(state: &AppState, id: &str) -> Result<Option<TemplateDetail>, store::Error> {
    let reader = state.store().reader();
    let Some(record) = store::get_template(reader, id).await? else { return Ok(None) };
    let Some(latest) = store::get_template_version(reader, id, record.latest_version).await? else {
        return Ok(None);
    };
    let used_by = store::template_uses(reader, id).await?.into_iter().map(TemplateUse::from).collect();
    Ok(Some(TemplateDetail {
        latest: TemplateVersionDetail::from(&latest),
        template_created_at: record.created_at,
        used_by,
    }))
}

// ----- GET /v1/templates -----

/// Query of `GET /v1/templates`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTemplatesQuery {
    /// Only templates of this kind.
    #[param(inline)]
    pub kind: Option<TemplateKind>,
    /// Cursor: the `next` of the previous page (templates are ordered by id).
    pub after: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// A page of templates.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplatePage {
    pub data: Vec<TemplateSummary>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next: Option<String>,
}

/// Errors of `GET /v1/templates`.
#[derive(Debug, thiserror::Error)]
pub enum ListTemplatesError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListTemplatesError {
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

/// List the templates (by id, paginated), optionally of one kind.
#[utoipa::path(
    tag = "templates",
    params(ListTemplatesQuery),
    responses(
        (status = 200, description = "A page of templates", body = TemplatePage),
        (status = 400, description = "Bad query (`invalid_query`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/templates")]
pub async fn list_templates(
    state: web::Data<AppState>,
    query: web::Query<ListTemplatesQuery>,
) -> Result<web::Json<TemplatePage>, ListTemplatesError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit).map_err(ListTemplatesError::InvalidQuery)?;
    let reader = state.store().reader();
    let mut rows = store::list_templates(reader, q.after.as_deref(), q.kind.map(Into::into), limit + 1).await?;
    let next = (rows.len() as u64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|t| t.id.clone())
    });
    let mut data = Vec::with_capacity(rows.len());
    for t in rows {
        let channel = match t.kind {
            library::TemplateKind::Message => store::get_template_version(reader, &t.id, t.latest_version)
                .await?
                .and_then(|v| channel_of(&v.template)),
            _ => None,
        };
        data.push(TemplateSummary {
            id: t.id,
            name: t.name,
            kind: t.kind.into(),
            channel,
            latest_version: t.latest_version,
            created_at: t.created_at,
            updated_at: t.updated_at,
        });
    }
    Ok(web::Json(TemplatePage { data, next: next.flatten() }))
}

// ----- POST /v1/templates -----

/// Errors of `POST /v1/templates`.
#[derive(Debug, thiserror::Error)]
pub enum CreateTemplateError {
    #[error("the template has {} problem(s); nothing was saved", .0.len())]
    Invalid(Vec<Problem>),
    #[error("a template with id `{0}` exists already; save a new version with PUT /v1/templates/{0}")]
    Exists(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for CreateTemplateError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Exists(_) => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_template",
            Self::Exists(_) => "template_exists",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(p) => items(p),
            _ => vec![],
        }
    }
}

/// Create a template as version 1 (a template deleted before comes back with its next
/// version). Every text must compile and render for a sample contact; partials and
/// layouts it uses may be added later (publishing a journey checks they exist).
#[utoipa::path(
    tag = "templates",
    request_body(content = TemplateDocument, description = "The template document"),
    responses(
        (status = 201, description = "Created", body = TemplateDetail,
            headers(("Location" = String, description = "The template's URL"))),
        (status = 400, description = "Not JSON (`malformed_json`) or not an object (`invalid_body`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken (`template_exists`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The template is not valid (`invalid_template`); `errors` has every problem with its pointer", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/templates")]
pub async fn create_template(
    state: web::Data<AppState>,
    body: web::Json<TemplateDocument>,
) -> Result<HttpResponse, CreateTemplateError> {
    let template = Template::try_from(body.into_inner()).map_err(CreateTemplateError::Invalid)?;
    let id = template.id.clone();
    let now = state.scheduler.now();
    let saved = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::create_template(tx, &template, now).await }))
        .await?;
    match saved {
        TemplateSave::Created(v) => {
            tracing::info!(template = %id, version = v.version(), "Template created");
        }
        _ => return Err(CreateTemplateError::Exists(id)),
    }
    let detail = detail_of(&state, &id).await?.ok_or_else(|| CreateTemplateError::Exists(id.clone()))?;
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/v1/templates/{id}"))).json(detail))
}

// ----- GET /v1/templates/{id} -----

/// Errors of `GET /v1/templates/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum GetTemplateError {
    #[error("there is no template `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetTemplateError {
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

/// A template: its latest version and the published journeys that use it.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 200, description = "The template", body = TemplateDetail),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/templates/{id}")]
pub async fn get_template(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<TemplateDetail>, GetTemplateError> {
    let id = path.into_inner();
    detail_of(&state, &id).await?.map(web::Json).ok_or(GetTemplateError::NotFound(id))
}

// ----- PUT /v1/templates/{id} -----

/// Errors of `PUT /v1/templates/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum UpdateTemplateError {
    #[error("the template has {} problem(s); nothing was saved", .0.len())]
    Invalid(Vec<Problem>),
    #[error(
        "the document's id `{body}` does not match the template `{path}` in the URL; a template's id cannot change"
    )]
    IdMismatch { path: String, body: String },
    #[error("there is no template `{0}`; create it with POST /v1/templates")]
    NotFound(String),
    #[error("`{id}` is a {from} template and cannot become a {to}; create a new template instead")]
    KindChanged { id: String, from: &'static str, to: &'static str },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for UpdateTemplateError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdMismatch { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::KindChanged { .. } => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_template",
            Self::IdMismatch { .. } => "id_mismatch",
            Self::NotFound(_) => "not_found",
            Self::KindChanged { .. } => "kind_changed",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid(p) => items(p),
            Self::IdMismatch { path, .. } => vec![ProblemItem {
                pointer: "/id".into(),
                node: None,
                message: format!("must be `{path}`"),
                code: "id_mismatch".into(),
            }],
            Self::KindChanged { from, .. } => vec![ProblemItem {
                pointer: "/kind".into(),
                node: None,
                message: format!("must stay `{from}`"),
                code: "kind_changed".into(),
            }],
            _ => vec![],
        }
    }
}

/// Save the template as its next version. A save that changes nothing creates no
/// version (the answer's `version` is the latest one). Published journeys keep the
/// version they pinned until they are published again.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    request_body(content = TemplateDocument, description = "The whole template document; its `id` must be the one in the URL"),
    responses(
        (status = 200, description = "Saved (as a new version when something changed)", body = TemplateDetail),
        (status = 400, description = "Not JSON (`malformed_json`), not an object (`invalid_body`), or another id than the URL's (`id_mismatch`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Another kind than the template's (`kind_changed`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The template is not valid (`invalid_template`); `errors` has every problem with its pointer", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[put("/templates/{id}")]
pub async fn update_template(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<TemplateDocument>,
) -> Result<web::Json<TemplateDetail>, UpdateTemplateError> {
    let id = path.into_inner();
    let body = body.into_inner();
    if let Some(Value::String(body_id)) = body.0.get("id")
        && *body_id != id
    {
        return Err(UpdateTemplateError::IdMismatch { path: id, body: body_id.clone() });
    }
    let template = Template::try_from(body).map_err(UpdateTemplateError::Invalid)?;
    let now = state.scheduler.now();
    let kind = template.kind();
    let saved = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::update_template(tx, &template, now).await }))
        .await?;
    match saved {
        TemplateSave::NotFound => return Err(UpdateTemplateError::NotFound(id)),
        TemplateSave::KindChanged { from } => {
            return Err(UpdateTemplateError::KindChanged { id, from: from.name(), to: kind.name() });
        }
        TemplateSave::NewVersion(v) => tracing::info!(template = %id, version = v.version(), "Template saved"),
        _ => {}
    }
    detail_of(&state, &id).await?.map(web::Json).ok_or(UpdateTemplateError::NotFound(id))
}

// ----- DELETE /v1/templates/{id} -----

/// Errors of `DELETE /v1/templates/{id}`.
#[derive(Debug, thiserror::Error)]
pub enum DeleteTemplateError {
    #[error("there is no template `{0}`")]
    NotFound(String),
    #[error(
        "the template `{id}` is used by {}; publish those journeys without it (or archive them and let their runs finish) first",
        uses_in_words(.uses)
    )]
    InUse { id: String, uses: Vec<store::TemplateUse> },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

fn uses_in_words(uses: &[store::TemplateUse]) -> String {
    uses.iter()
        .map(|u| {
            let why = match u.reason {
                store::UseReason::Live => "live".to_string(),
                store::UseReason::Paused => "paused".to_string(),
                store::UseReason::ActiveRuns(n) => format!("{n} run(s) still going"),
            };
            format!("`{}` version {} ({why})", u.workflow_id, u.workflow_version)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl ApiProblem for DeleteTemplateError {
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
            Self::InUse { .. } => "template_in_use",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// Delete a template, unless a published journey uses it (the live version of a live or
/// paused journey, or a version with runs still going). Its versions are kept for the
/// journeys that pinned them; creating the id again continues its version numbers.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Published journeys use it (`template_in_use`); `detail` names them", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[delete("/templates/{id}")]
pub async fn delete_template(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, DeleteTemplateError> {
    let id = path.into_inner();
    let now = state.scheduler.now();
    let tid = id.clone();
    let outcome = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::delete_template(tx, &tid, now).await }))
        .await?;
    match outcome {
        store::TemplateDelete::NotFound => Err(DeleteTemplateError::NotFound(id)),
        store::TemplateDelete::InUse(uses) => Err(DeleteTemplateError::InUse { id, uses }),
        store::TemplateDelete::Deleted => {
            tracing::info!(template = %id, "Template deleted");
            Ok(HttpResponse::NoContent().finish())
        }
    }
}

// ----- Versions -----

/// A saved version, without its content.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateVersionSummary {
    pub version: u32,
    /// The template's name in this version.
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A page of versions, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateVersionPage {
    pub data: Vec<TemplateVersionSummary>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next: Option<u32>,
}

/// Query of `GET /v1/templates/{id}/versions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTemplateVersionsQuery {
    /// Cursor: the `next` of the previous page.
    #[param(minimum = 0, maximum = 2147483647)]
    pub after: Option<u32>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// Errors of `GET /v1/templates/{id}/versions`.
#[derive(Debug, thiserror::Error)]
pub enum ListTemplateVersionsError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error("there is no template `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for ListTemplateVersionsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidQuery(_) => "invalid_query",
            Self::NotFound(_) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// The saved versions of a template, oldest first.
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id"), ListTemplateVersionsQuery),
    responses(
        (status = 200, description = "A page of versions", body = TemplateVersionPage),
        (status = 400, description = "Bad query (`invalid_query`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/templates/{id}/versions")]
pub async fn list_template_versions(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListTemplateVersionsQuery>,
) -> Result<web::Json<TemplateVersionPage>, ListTemplateVersionsError> {
    let id = path.into_inner();
    let q = query.into_inner();
    let limit = page_limit(q.limit).map_err(ListTemplateVersionsError::InvalidQuery)?;
    if q.after.is_some_and(|a| a > MAX_VERSION) {
        return Err(ListTemplateVersionsError::InvalidQuery(format!("`after` must be at most {MAX_VERSION}")));
    }
    let reader = state.store().reader();
    if store::get_template(reader, &id).await?.is_none() {
        return Err(ListTemplateVersionsError::NotFound(id));
    }
    let mut rows = store::list_template_versions(reader, &id, q.after, limit + 1).await?;
    let next = (rows.len() as u64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|v| v.version)
    });
    let data = rows
        .into_iter()
        .map(|v| TemplateVersionSummary { version: v.version, name: v.name, created_at: v.created_at })
        .collect();
    Ok(web::Json(TemplateVersionPage { data, next: next.flatten() }))
}

/// Errors of `GET /v1/templates/{id}/versions/{version}`.
#[derive(Debug, thiserror::Error)]
pub enum GetTemplateVersionError {
    #[error("the template `{0}` has no version {1}")]
    NotFound(String, u32),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for GetTemplateVersionError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(..) => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(..) => "not_found",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// One saved version of a template, with its content. Versions of a deleted template
/// stay readable: journeys may have pinned them.
#[utoipa::path(
    tag = "templates",
    params(
        ("id" = String, Path, description = "Template id"),
        ("version" = u32, Path, description = "Version number (1, 2, ...)", minimum = 1, maximum = 2147483647),
    ),
    responses(
        (status = 200, description = "The version", body = TemplateVersionDetail),
        (status = 400, description = "The version is not a number (`invalid_path`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template or version (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/templates/{id}/versions/{version}")]
pub async fn get_template_version(
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<web::Json<TemplateVersionDetail>, GetTemplateVersionError> {
    let (id, n) = path.into_inner();
    let v = store::get_template_version(state.store().reader(), &id, n)
        .await?
        .ok_or(GetTemplateVersionError::NotFound(id, n))?;
    Ok(web::Json(TemplateVersionDetail::from(&v)))
}

// ----- POST /v1/templates/{id}/preview -----

/// The trigger event a preview renders with (`trigger.*` and `event.*` in templates).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePreviewTrigger {
    /// Event name (default `preview`).
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
}

/// What to render the template for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePreviewRequest {
    /// A version to render (default the latest).
    #[schema(minimum = 1, maximum = 2147483647)]
    pub version: Option<u32>,
    /// A template document to render instead of the stored one (unsaved edits); its id
    /// must be the one in the URL.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub template: Option<Map<String, Value>>,
    /// A stored contact to render for.
    pub contact_id: Option<String>,
    /// Attributes to render with: alone, or over the stored contact's.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    /// The trigger event to render with (default an event `preview` without properties).
    pub trigger: Option<TemplatePreviewTrigger>,
}

/// A template rendered for a contact. A partial is rendered alone; a layout around a
/// sample body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplatePreview {
    pub kind: TemplateKind,
    /// The version rendered; `null` for unsaved content.
    pub version: Option<u32>,
    /// A message template's channel.
    pub channel: Option<String>,
    /// The contact's address for the channel; `null` if it has none (a real send would be skipped).
    pub to: Option<String>,
    /// Email subject.
    pub subject: Option<String>,
    /// Push title.
    pub title: Option<String>,
    /// Push link.
    pub url: Option<String>,
    /// The message's text or HTML body; a partial's or layout's rendered text.
    pub body: String,
    /// Email plain-text body.
    pub text: Option<String>,
    /// Email sender.
    pub from: Option<String>,
    /// Email reply-to.
    pub reply_to: Option<String>,
    /// Why a real send to this contact would be skipped, if it would.
    pub warning: Option<String>,
}

/// Errors of `POST /v1/templates/{id}/preview`.
#[derive(Debug, thiserror::Error)]
pub enum PreviewTemplateError {
    #[error("there is no template `{0}`")]
    NotFound(String),
    #[error("the template `{0}` has no version {1}")]
    VersionNotFound(String, u32),
    #[error("the template document's id `{body}` is not `{path}`")]
    IdMismatch { path: String, body: String },
    #[error("the template cannot be rendered until its problems are fixed ({} problem(s))", .0.len())]
    Invalid(Vec<Problem>),
    #[error("there is no contact `{0}`")]
    UnknownContact(String),
    #[error("the template cannot be rendered for this contact: {message}")]
    RenderFailed { pointer: String, message: String },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PreviewTemplateError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) | Self::VersionNotFound(..) => StatusCode::NOT_FOUND,
            Self::IdMismatch { .. } => StatusCode::BAD_REQUEST,
            Self::Invalid(_) | Self::UnknownContact(_) | Self::RenderFailed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) | Self::VersionNotFound(..) => "not_found",
            Self::IdMismatch { .. } => "id_mismatch",
            Self::Invalid(_) => "invalid_template",
            Self::UnknownContact(_) => "unknown_contact",
            Self::RenderFailed { .. } => "render_failed",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        let item = |pointer: &str, message: String, code: &str| ProblemItem {
            pointer: pointer.into(),
            node: None,
            message,
            code: code.into(),
        };
        match self {
            Self::Invalid(p) => items(p),
            Self::IdMismatch { path, .. } => vec![item("/template/id", format!("must be `{path}`"), "id_mismatch")],
            Self::UnknownContact(_) => vec![item("/contact_id", self.to_string(), "unknown_contact")],
            Self::RenderFailed { pointer, message } => vec![item(pointer, message.clone(), "render_failed")],
            _ => vec![],
        }
    }
}

/// The body a layout preview wraps.
const SAMPLE_BODY: &str = "<p>The message body goes here.</p>";

/// Render a template (its latest version, a given `version`, or unsaved content in
/// `template`) for a stored contact (`contact_id`), for attributes given, or both, with
/// the library's current partials and layouts, exactly as a send would: the same
/// escaping, helpers and data (`contact`, `trigger`, `event`, `journey`). A render error
/// names the field (`errors[0].pointer`, e.g. `/message/body`).
#[utoipa::path(
    tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    request_body = TemplatePreviewRequest,
    responses(
        (status = 200, description = "The rendered template", body = TemplatePreview),
        (status = 400, description = "Not JSON (`malformed_json`), not the expected fields (`invalid_body`), or unsaved content with another id (`id_mismatch`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template or version (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The template has problems with the library as it is (`invalid_template`: a partial or layout missing or of the wrong kind; `errors` points into the template), no such contact (`unknown_contact`), or it fails for this contact (`render_failed`; `errors` names the field)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/templates/{id}/preview")]
pub async fn preview_template(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<TemplatePreviewRequest>>,
) -> Result<web::Json<TemplatePreview>, PreviewTemplateError> {
    let id = path.into_inner();
    let request = body.into_inner().into_inner();
    let reader = state.store().reader();
    let wanted: Vec<(String, u32)> = request.version.map(|v| (id.clone(), v)).into_iter().collect();
    let mut library = store::template_library(reader, &wanted).await?;
    let template = match request.template {
        Some(doc) => {
            if let Some(Value::String(body_id)) = doc.get("id")
                && *body_id != id
            {
                return Err(PreviewTemplateError::IdMismatch { path: id, body: body_id.clone() });
            }
            let t = library::validate_value(Value::Object(doc)).map_err(PreviewTemplateError::Invalid)?;
            library = with_current(&library, t.clone());
            t
        }
        None => match (library.get(&id, request.version), request.version) {
            (Ok(t), _) => t.clone(),
            (Err(_), Some(v)) if store::get_template(reader, &id).await?.is_some() => {
                return Err(PreviewTemplateError::VersionNotFound(id, v));
            }
            (Err(_), _) => return Err(PreviewTemplateError::NotFound(id)),
        },
    };
    let problems = Templates::check_in(&template, &library);
    if !problems.is_empty() {
        return Err(PreviewTemplateError::Invalid(problems));
    }
    let mut contact = match &request.contact_id {
        Some(cid) => {
            store::get_contact(reader, cid)
                .await?
                .ok_or_else(|| PreviewTemplateError::UnknownContact(cid.clone()))?
                .contact
        }
        None => Contact::new("preview"),
    };
    contact.attributes.extend(request.attributes.unwrap_or_default());
    let trigger = request.trigger.unwrap_or(TemplatePreviewTrigger { name: None, properties: Map::new() });
    let mut event = Event::new(trigger.name.unwrap_or_else(|| "preview".into()), state.scheduler.now());
    event.properties = trigger.properties;
    let data = json!({
        "contact": contact.template_data(),
        "trigger": event.template_data(),
        "event": event.template_data(),
        "journey": { "id": "preview", "name": "Preview", "version": 0, "run_id": "preview", "entry": 1 },
        // A preview's link unsubscribes nobody: it is an offline one, to the whole channel.
        "unsubscribe_url": template_unsubscribe_url(&template, &contact.id),
    });
    render(&template, library, &data)
}

/// The offline unsubscribe link a preview of `template` shows (a partial or layout has no
/// channel of its own: its link is an email's).
fn template_unsubscribe_url(template: &Template, contact_id: &str) -> String {
    let channel = match &template.body {
        Body::Message(m) => m.channel(),
        Body::Partial(_) | Body::Layout(_) => kairos_engine::nodes::send::Channel::Email,
    };
    let target = kairos_engine::consent::Unsubscribe {
        contact: contact_id.to_string(),
        channel: kairos_engine::consent::Channel::of(channel).unwrap_or(kairos_engine::consent::Channel::Email),
        topic: None,
    };
    kairos_engine::consent::Links::offline().unsubscribe_url(&target)
}

/// `library` with `template` as the current version of its id.
fn with_current(library: &Library, template: Template) -> Library {
    let mut out = Library::new();
    for t in library.templates().filter(|t| t.id != template.id) {
        out.insert(t.clone());
    }
    out.insert(template);
    out
}

/// Render a checked template for `data`.
fn render(
    template: &Template,
    library: Library,
    data: &Value,
) -> Result<web::Json<TemplatePreview>, PreviewTemplateError> {
    let mut templates = Templates::with_library(library);
    let failed = |pointer: String, message: String| PreviewTemplateError::RenderFailed { pointer, message };
    let preview = |body: String| TemplatePreview {
        kind: template.kind().into(),
        version: template.version,
        channel: None,
        to: None,
        subject: None,
        title: None,
        url: None,
        body,
        text: None,
        from: None,
        reply_to: None,
        warning: None,
    };
    let id = &template.id;
    let content_source = match &template.body {
        Body::Partial(_) => Some(format!("{{{{> {id}}}}}")),
        Body::Layout(_) => Some(format!("{{{{#> {id}}}}}{SAMPLE_BODY}{{{{/{id}}}}}")),
        Body::Message(_) => None,
    };
    if let Some(source) = content_source {
        let name = "preview/content";
        templates.add(name, &source, Escape::Html).map_err(|e| failed("/content".into(), e.message))?;
        let body = templates.render(name, data, Escape::Html).map_err(|m| failed("/content".into(), m))?;
        return Ok(web::Json(preview(body)));
    }
    let Body::Message(content) = &template.body else { return Err(failed(String::new(), "not a message".into())) };
    let send = Send {
        id: "preview".into(),
        message: MessageSpec::Template(TemplateRef {
            channel: content.channel(),
            template: id.clone(),
            version: template.version,
        }),
        provider: None,
        transactional: false,
        topic: None,
        save_response: Default::default(),
        next: "preview".into(),
        failed: None,
    };
    let mut problems = Vec::new();
    send.build(&mut Build::new("", Some("preview".into()), &mut problems), &mut templates);
    if let Some(p) = problems.into_iter().next() {
        return Err(failed("/message".into(), p.message));
    }
    let rendered = send.preview(&templates, data).map_err(|skip| match skip {
        Skip::Render { field, message } => {
            let what = field.trim_start_matches("message/").to_string();
            failed(format!("/{field}"), format!("{what}: {message}"))
        }
        other => failed("/message".into(), other.to_string()),
    })?;
    let warning = match send.render(&templates, data) {
        Err(skip @ Skip::NoAddress(_)) => Some(format!("a real send would be skipped: {skip}")),
        _ => None,
    };
    let to = |s: String| (!s.is_empty()).then_some(s);
    let mut out = preview(String::new());
    out.channel = Some(store::channel_name(content.channel()).to_string());
    out.warning = warning;
    match rendered {
        Rendered::Email { to: address, subject, body, from, reply_to, text, .. } => {
            out.to = to(address);
            out.subject = Some(subject);
            out.body = body;
            out.text = text;
            out.from = from;
            out.reply_to = reply_to;
        }
        Rendered::Sms { to: address, body } => {
            out.to = to(address);
            out.body = body;
        }
        Rendered::Push { to: address, title, body, url } => {
            out.to = to(address);
            out.title = Some(title);
            out.body = body;
            out.url = url;
        }
        Rendered::Webhook { .. } | Rendered::Slack { .. } => {}
    }
    Ok(web::Json(out))
}

crate::problem_response!(
    ListTemplatesError,
    CreateTemplateError,
    GetTemplateError,
    UpdateTemplateError,
    DeleteTemplateError,
    ListTemplateVersionsError,
    GetTemplateVersionError,
    PreviewTemplateError,
);

/// The library a journey document is checked against: the latest version of every
/// template, and the versions its send nodes ask for by number.
pub async fn library_for(state: &AppState, doc: &Value) -> Result<Library, store::Error> {
    store::template_library(state.store().reader(), &library::referenced_versions(doc)).await
}
