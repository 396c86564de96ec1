//! `/v1/catalog`: what the editor's pickers offer — event names with their property
//! paths, and contact attribute paths — learnt from recent data. Read-only and bounded:
//! the most recent [`EVENT_WINDOW`] events and at most [`CONTACT_SAMPLE`] contacts.

use crate::problem::ApiProblem;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use kairos_engine::store::{self, JsonType, PathType};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(event_catalog).service(attribute_catalog);
}

/// How many of the most recent events the catalogs read.
pub const EVENT_WINDOW: u64 = 10_000;
/// How many contacts the attribute catalog reads at most.
pub const CONTACT_SAMPLE: u64 = 1_000;

/// A JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    String,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

impl From<JsonType> for ValueType {
    fn from(t: JsonType) -> Self {
        match t {
            JsonType::String => ValueType::String,
            JsonType::Number => ValueType::Number,
            JsonType::Boolean => ValueType::Boolean,
            JsonType::Object => ValueType::Object,
            JsonType::Array => ValueType::Array,
            JsonType::Null => ValueType::Null,
        }
    }
}

/// A dotted path into an object (`address.city`, as conditions write it) and its type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PathInfo {
    #[schema(example = "cart_id")]
    pub path: String,
    /// The type seen most often at the path (`null` only if nothing else was seen).
    #[serde(rename = "type")]
    pub value_type: ValueType,
}

impl From<PathType> for PathInfo {
    fn from(p: PathType) -> Self {
        PathInfo { path: p.path, value_type: p.json_type.into() }
    }
}

/// An event name seen recently.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventInfo {
    #[schema(example = "cart_updated")]
    pub name: String,
    /// How many of the examined events have this name.
    pub count: u64,
    /// When the most recent one was received.
    pub last_seen: DateTime<Utc>,
    /// Property paths and types, by path.
    pub properties: Vec<PathInfo>,
}

/// The event catalog.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventCatalog {
    /// Event names, alphabetically.
    pub data: Vec<EventInfo>,
    /// How many events were examined (the most recent ones, at most 10,000).
    pub examined: u64,
}

/// The attribute catalog.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttributeCatalog {
    /// Attribute paths, alphabetically.
    pub data: Vec<PathInfo>,
    /// How many contacts were examined (at most 1,000).
    pub examined: u64,
}

/// Errors that only the unexpected can cause.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for CatalogError {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    fn code(&self) -> &'static str {
        "internal"
    }
}

/// Event names with their count, last arrival and property paths with JSON types, from
/// the most recent 10,000 stored events.
#[utoipa::path(
    tag = "catalog",
    responses(
        (status = 200, description = "The event catalog", body = EventCatalog),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/catalog/events")]
pub async fn event_catalog(state: web::Data<AppState>) -> Result<web::Json<EventCatalog>, CatalogError> {
    let c = store::event_catalog(state.store().reader(), EVENT_WINDOW).await?;
    let data = c
        .events
        .into_iter()
        .map(|e| EventInfo {
            name: e.name,
            count: e.count,
            last_seen: e.last_seen,
            properties: e.properties.into_iter().map(Into::into).collect(),
        })
        .collect();
    Ok(web::Json(EventCatalog { data, examined: c.examined }))
}

/// Contact attribute paths with JSON types, from up to 1,000 contacts: those behind the
/// most recent 10,000 events first, then others by id.
#[utoipa::path(
    tag = "catalog",
    responses(
        (status = 200, description = "The attribute catalog", body = AttributeCatalog),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/catalog/attributes")]
pub async fn attribute_catalog(state: web::Data<AppState>) -> Result<web::Json<AttributeCatalog>, CatalogError> {
    let c = store::attribute_catalog(state.store().reader(), EVENT_WINDOW, CONTACT_SAMPLE).await?;
    Ok(web::Json(AttributeCatalog { data: c.attributes.into_iter().map(Into::into).collect(), examined: c.examined }))
}

crate::problem_response!(CatalogError);
