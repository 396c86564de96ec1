//! Errors as `application/problem+json` (RFC 9457): a stable `code`, a human `detail`,
//! and for validation a list of `{pointer, node, message}`.
//!
//! Each operation has its own error enum; [`problem_response!`] maps it to statuses.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error response (RFC 9457 problem details).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemDetails {
    /// A URI naming the kind of problem: `/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this case, in words.
    pub detail: String,
    /// Stable machine-readable code, e.g. `not_found`, `invalid_workflow`.
    pub code: String,
    /// For validation problems: every problem with its place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemItem>,
}

/// One problem in a request body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemItem {
    /// JSON pointer into the request body.
    pub pointer: String,
    /// The workflow node, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
    /// Stable code of the problem kind (e.g. `missing_node`).
    pub code: String,
}

impl From<&kairos_engine::Problem> for ProblemItem {
    fn from(p: &kairos_engine::Problem) -> Self {
        ProblemItem {
            pointer: p.pointer.clone(),
            node: p.node.clone(),
            message: p.message.clone(),
            code: p.code.code().to_string(),
        }
    }
}

/// A problem+json response.
pub fn problem(status: StatusCode, code: &str, detail: impl Into<String>) -> HttpResponse {
    problem_with(status, code, detail, vec![])
}

pub fn problem_with(
    status: StatusCode,
    code: &str,
    detail: impl Into<String>,
    errors: Vec<ProblemItem>,
) -> HttpResponse {
    let body = ProblemDetails {
        kind: format!("/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail: detail.into(),
        code: code.to_string(),
        errors,
    };
    HttpResponse::build(status).content_type("application/problem+json").json(body)
}

/// An operation's error: its status, code and (for validation) items.
pub trait ApiProblem: std::error::Error {
    fn status(&self) -> StatusCode;
    fn code(&self) -> &'static str;
    fn items(&self) -> Vec<ProblemItem> {
        vec![]
    }
}

/// Implement `ResponseError` for an error enum that implements [`ApiProblem`]. Server
/// errors are logged with their cause and answered without internals.
#[macro_export]
macro_rules! problem_response {
    ($($t:ty),+ $(,)?) => {$(
        impl actix_web::ResponseError for $t {
            fn status_code(&self) -> actix_web::http::StatusCode {
                $crate::problem::ApiProblem::status(self)
            }
            fn error_response(&self) -> actix_web::HttpResponse {
                use $crate::problem::ApiProblem;
                let status = self.status();
                if status.is_server_error() {
                    tracing::error!(error = %self, source = ?std::error::Error::source(self), "Request failed");
                    return $crate::problem::problem(status, self.code(), "an unexpected error occurred; it has been logged");
                }
                $crate::problem::problem_with(status, self.code(), self.to_string(), self.items())
            }
        }
    )+};
}

/// Errors every operation can have beyond its own.
#[derive(Debug, thiserror::Error)]
pub enum Unexpected {
    #[error("storage failed: {0}")]
    Store(#[from] kairos_engine::store::Error),
}

/// Bodies that are not the JSON the operation expects.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let response = match &err {
        E::OverflowKnownLength { length, limit } => problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is {length} bytes; at most {limit} are accepted"),
        ),
        E::Overflow { limit } => problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than the {limit} bytes accepted"),
        ),
        E::ContentType => problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        E::Deserialize(e) if e.is_syntax() || e.is_eof() => {
            problem(StatusCode::BAD_REQUEST, "malformed_json", format!("the body is not valid JSON: {e}"))
        }
        E::Deserialize(e) => {
            problem(StatusCode::BAD_REQUEST, "invalid_body", format!("the body does not have the expected shape: {e}"))
        }
        other => problem(StatusCode::BAD_REQUEST, "invalid_body", other.to_string()),
    };
    actix_web::error::InternalError::from_response(err, response).into()
}

pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let response = problem(StatusCode::BAD_REQUEST, "invalid_query", format!("the query string is not valid: {err}"));
    actix_web::error::InternalError::from_response(err, response).into()
}

pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    let response = problem(StatusCode::BAD_REQUEST, "invalid_path", format!("the path is not valid: {err}"));
    actix_web::error::InternalError::from_response(err, response).into()
}
