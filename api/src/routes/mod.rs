//! The HTTP routes. `/v1` routes need an API key; each family lives in its own file.

pub mod contacts;
pub mod fallback;
pub mod health;
pub mod ingest;
pub mod messages;
pub mod runs;
pub mod workflows;

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Every route, for the app and for the OpenAPI document.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz).service(health::metrics);
    cfg.service(scope::scope("/v1").wrap(actix_web::middleware::from_fn(crate::auth::require_key)).configure(v1));
}

fn v1(cfg: &mut ServiceConfig) {
    ingest::configure(cfg);
    contacts::configure(cfg);
    messages::configure(cfg);
    workflows::configure(cfg);
    runs::configure(cfg);
}

/// Default and largest page sizes of list routes.
pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 500;
