//! Who may call `/v1`: an API key (`Authorization: Bearer <key>`) or the editor's
//! session cookie (`kairos_session`). A request authorised by the cookie that changes
//! something (POST, PUT, PATCH, DELETE) must repeat the session's CSRF token in
//! `X-CSRF-Token`: a page of another site can make the browser send the cookie, but it
//! cannot read the token.

use crate::problem::problem;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use chrono::{DateTime, TimeDelta, Utc};
use kairos_engine::store::{self, SessionRecord};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Verified keys are remembered briefly so that busy clients do not cost a lookup per request.
#[derive(Default)]
pub struct KeyCache {
    seen: Mutex<HashMap<String, Instant>>,
}

const CACHE_FOR: Duration = Duration::from_secs(5);

impl KeyCache {
    fn fresh(&self, key: &str) -> bool {
        self.seen.lock().ok().and_then(|s| s.get(key).copied()).is_some_and(|t| t.elapsed() < CACHE_FOR)
    }

    fn remember(&self, key: &str) {
        if let Ok(mut s) = self.seen.lock() {
            if s.len() > 10_000 {
                s.clear();
            }
            s.insert(key.to_string(), Instant::now());
        }
    }

    /// Forget every key (after a revocation).
    pub fn clear(&self) {
        if let Ok(mut s) = self.seen.lock() {
            s.clear();
        }
    }
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "kairos_session";
/// The header that must repeat the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends this long after its last use (sliding expiry)...
pub const SESSION_IDLE: TimeDelta = TimeDelta::days(7);
/// ...and at the latest this long after sign-in.
pub const SESSION_MAX: TimeDelta = TimeDelta::days(30);
/// The expiry is pushed forward at most this often (it costs a write).
const RENEW_EVERY: TimeDelta = TimeDelta::hours(1);

/// Who made a request; handlers may read it from the request's extensions.
#[derive(Debug, Clone)]
pub enum Caller {
    ApiKey,
    Session(SessionRecord),
}

/// The session of the request's cookie, if it has a live one: (token, session).
pub async fn session_of(state: &AppState, req: &HttpRequest) -> Result<Option<(String, SessionRecord)>, store::Error> {
    let Some(token) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let now = state.scheduler.now();
    let Some(session) = store::session_by_token(state.store().reader(), &token, now).await? else { return Ok(None) };
    Ok(Some((token, session)))
}

/// Push a session's expiry forward if it was last pushed more than [`RENEW_EVERY`] ago.
pub async fn renew(state: &AppState, token: &str, session: &SessionRecord) -> Result<DateTime<Utc>, store::Error> {
    let now = state.scheduler.now();
    let wanted = (now + SESSION_IDLE).min(session.created_at + SESSION_MAX);
    if wanted - session.expires_at < RENEW_EVERY {
        return Ok(session.expires_at);
    }
    let token = token.to_string();
    state
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::touch_session(tx, &token, wanted).await }))
        .await?;
    Ok(wanted)
}

/// The session cookie: HttpOnly, SameSite=Strict, Path=/, and Secure when the request
/// came over HTTPS (directly or, per `Forwarded` / `X-Forwarded-Proto`, through a proxy).
pub fn session_cookie(req: &HttpRequest, token: &str, lifetime: TimeDelta) -> Cookie<'static> {
    let secure = req.connection_info().scheme() == "https";
    Cookie::build(SESSION_COOKIE, token.to_string())
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::seconds(lifetime.num_seconds().max(0)))
        .finish()
}

/// A cookie that removes the session cookie.
pub fn removal_cookie(req: &HttpRequest) -> Cookie<'static> {
    let mut cookie = session_cookie(req, "", TimeDelta::zero());
    cookie.make_removal();
    cookie
}

/// Whether the method changes something (and so needs the CSRF token with a cookie).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Compare secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request repeats the session's CSRF token.
pub fn csrf_ok(req: &HttpRequest, session: &SessionRecord) -> bool {
    req.headers().get(CSRF_HEADER).and_then(|h| h.to_str().ok()).is_some_and(|t| same_secret(t, &session.csrf_token))
}

/// The `/v1` middleware: an API key or a session cookie (with the CSRF token on unsafe methods).
pub async fn require_auth(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.into_response(problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server is misconfigured",
        )));
    };
    let header = req.headers().get("authorization").and_then(|h| h.to_str().ok()).map(str::to_string);
    if let Some(header) = header {
        let Some(key) = header.strip_prefix("Bearer ").map(str::trim).filter(|k| !k.is_empty()) else {
            let response =
                problem(StatusCode::UNAUTHORIZED, "unauthorized", "send an API key as `Authorization: Bearer <key>`");
            return Ok(req.into_response(response));
        };
        if !state.keys.fresh(key) {
            match store::verify_key(state.store().reader(), key).await {
                Ok(Some(_)) => state.keys.remember(key),
                Ok(None) => {
                    let response =
                        problem(StatusCode::UNAUTHORIZED, "invalid_api_key", "the API key is unknown or revoked");
                    return Ok(req.into_response(response));
                }
                Err(e) => {
                    tracing::error!(error = %e, "Checking an API key failed");
                    return Ok(req.into_response(unavailable()));
                }
            }
        }
        req.extensions_mut().insert(Caller::ApiKey);
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let session = match session_of(&state, req.request()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "Checking a session failed");
            return Ok(req.into_response(unavailable()));
        }
    };
    let Some((token, session)) = session else {
        let detail = if req.cookie(SESSION_COOKIE).is_some() {
            "the session has ended; sign in again"
        } else {
            "send an API key as `Authorization: Bearer <key>`, or sign in (POST /v1/session)"
        };
        return Ok(req.into_response(problem(StatusCode::UNAUTHORIZED, "unauthorized", detail)));
    };
    if is_unsafe(req.method()) && !csrf_ok(req.request(), &session) {
        let response = problem(
            StatusCode::FORBIDDEN,
            "csrf",
            "a request signed in by the session cookie must send the session's CSRF token in `X-CSRF-Token`",
        );
        return Ok(req.into_response(response));
    }
    if let Err(e) = renew(&state, &token, &session).await {
        // The request may go on: the session is valid, only its extension failed.
        tracing::warn!(error = %e, "Extending a session failed");
    }
    req.extensions_mut().insert(Caller::Session(session));
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn unavailable() -> actix_web::HttpResponse {
    problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the credentials could not be checked; try again")
}
