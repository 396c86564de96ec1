//! `Authorization: Bearer <api key>` on every `/v1` route.

use crate::problem::problem;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;
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

pub async fn require_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let header = req.headers().get("authorization").and_then(|h| h.to_str().ok()).map(str::to_string);
    let Some(key) = header.as_deref().and_then(|h| h.strip_prefix("Bearer ")).map(str::trim).filter(|k| !k.is_empty())
    else {
        let response =
            problem(StatusCode::UNAUTHORIZED, "unauthorized", "send an API key as `Authorization: Bearer <key>`");
        return Ok(req.into_response(response));
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.into_response(problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server is misconfigured",
        )));
    };
    if !state.keys.fresh(key) {
        match kairos_engine::store::verify_key(state.scheduler.store().reader(), key).await {
            Ok(Some(_)) => state.keys.remember(key),
            Ok(None) => {
                let response =
                    problem(StatusCode::UNAUTHORIZED, "invalid_api_key", "the API key is unknown or revoked");
                return Ok(req.into_response(response));
            }
            Err(e) => {
                tracing::error!(error = %e, "Checking an API key failed");
                let response =
                    problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the key could not be checked; try again");
                return Ok(req.into_response(response));
            }
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
