//! `/v1/session`: the editor signs in with an email and a password and gets the
//! `kairos_session` cookie (HttpOnly, SameSite=Strict) and a CSRF token to repeat in
//! `X-CSRF-Token` on every request that changes something.
//!
//! These routes sit outside the `/v1` authentication: signing in needs no credentials,
//! and the others read the cookie themselves.

use crate::auth::{self, SESSION_IDLE};
use crate::problem::ApiProblem;
use crate::routes::JsonObject;
use crate::state::AppState;
use crate::users::{Email, Password, decoy_hash, verify_blocking};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use kairos_engine::store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(sign_in).service(current_session).service(sign_out);
}

/// Body of `POST /v1/session`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The user's email address (case does not matter).
    #[schema(example = "admin@localhost")]
    pub email: String,
    #[schema(min_length = 1)]
    pub password: String,
}

/// A signed-in session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// Who is signed in.
    pub email: String,
    /// Send it as `X-CSRF-Token` with every POST, PUT, PATCH and DELETE made with the cookie.
    pub csrf_token: String,
}

// ----- POST /v1/session -----

/// Errors of `POST /v1/session`.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("{0}")]
    InvalidBody(String),
    /// Deliberately the same whether the email is unknown or the password wrong.
    #[error("the email or the password is wrong")]
    InvalidCredentials,
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for SignInError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidBody(_) => StatusCode::BAD_REQUEST,
            Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody(_) => "invalid_body",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// Sign in: sets the `kairos_session` cookie (HttpOnly, SameSite=Strict, Path=/, Secure
/// over HTTPS; it lasts 7 days after the last use, 30 days at most) and returns the
/// CSRF token. A wrong password and an unknown email get the same answer.
#[utoipa::path(
    tag = "session",
    security(()),
    request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionInfo,
            headers(("Set-Cookie" = String, description = "`kairos_session=…; HttpOnly; SameSite=Strict; Path=/`"))),
        (status = 400, description = "Not JSON (`malformed_json`) or not the expected fields (`invalid_body`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/v1/session")]
pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<JsonObject<SignInRequest>>,
) -> Result<HttpResponse, SignInError> {
    let body = body.into_inner().into_inner();
    let email = Email::parse(&body.email).map_err(|e| SignInError::InvalidBody(format!("email: {e}")))?;
    let password = Password::parse(&body.password).map_err(|e| SignInError::InvalidBody(format!("password: {e}")))?;
    let user = store::user_by_email(state.store().reader(), email.as_str()).await?;
    let hash = user.as_ref().map_or_else(|| decoy_hash().to_string(), |u| u.password_hash.clone());
    let verified = verify_blocking(password, hash).await;
    let Some(user) = user.filter(|_| verified) else {
        tracing::info!(email = %email.as_str(), "A sign-in was refused");
        return Err(SignInError::InvalidCredentials);
    };
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let csrf = uuid::Uuid::new_v4().simple().to_string();
    let now = state.scheduler.now();
    let expires = now + SESSION_IDLE;
    let t = token.clone();
    let session = state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::create_session(tx, &user, &t, &csrf, now, expires).await }))
        .await?;
    Ok(HttpResponse::Ok()
        .cookie(auth::session_cookie(&req, &token, SESSION_IDLE))
        .json(SessionInfo { email: session.email, csrf_token: session.csrf_token }))
}

// ----- GET /v1/session -----

/// Errors of `GET /v1/session`.
#[derive(Debug, thiserror::Error)]
pub enum CurrentSessionError {
    #[error("not signed in (or the session has ended); sign in with POST /v1/session")]
    NotSignedIn,
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for CurrentSessionError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotSignedIn => StatusCode::UNAUTHORIZED,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotSignedIn => "unauthorized",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// The session of the `kairos_session` cookie: who is signed in and the CSRF token (the
/// editor asks at load). It also renews the cookie.
#[utoipa::path(
    tag = "session",
    security(()),
    responses(
        (status = 200, description = "Signed in", body = SessionInfo),
        (status = 401, description = "No live session (`unauthorized`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/v1/session")]
pub async fn current_session(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, CurrentSessionError> {
    let (token, session) = auth::session_of(&state, &req).await?.ok_or(CurrentSessionError::NotSignedIn)?;
    let expires = auth::renew(&state, &token, &session).await?;
    Ok(HttpResponse::Ok()
        .cookie(auth::session_cookie(&req, &token, expires - state.scheduler.now()))
        .json(SessionInfo { email: session.email, csrf_token: session.csrf_token }))
}

// ----- DELETE /v1/session -----

/// Errors of `DELETE /v1/session`.
#[derive(Debug, thiserror::Error)]
pub enum SignOutError {
    #[error("signing out with the session cookie needs the session's CSRF token in `X-CSRF-Token`")]
    Csrf,
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for SignOutError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Csrf => "csrf",
            Self::Unexpected(_) => "internal",
        }
    }
}

/// Sign out: the session ends and the cookie is removed. Without a live session there
/// is nothing to end, and the answer is the same.
#[utoipa::path(
    tag = "session",
    security(()),
    responses(
        (status = 204, description = "Signed out; the cookie is removed"),
        (status = 403, description = "The CSRF token is missing or wrong (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/session")]
pub async fn sign_out(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, SignOutError> {
    if let Some((token, session)) = auth::session_of(&state, &req).await? {
        if !auth::csrf_ok(&req, &session) {
            return Err(SignOutError::Csrf);
        }
        state.store().writer().run(move |tx| Box::pin(async move { store::delete_session(tx, &token).await })).await?;
    }
    Ok(HttpResponse::NoContent().cookie(auth::removal_cookie(&req)).finish())
}

crate::problem_response!(SignInError, CurrentSessionError, SignOutError);
