//! The HTTP routes. `/v1` routes need an API key or the editor's session; each family
//! lives in its own file. The editor's files are served at `/` ([`editor`]); the
//! unsubscribe page ([`unsubscribe`]) and the email providers' webhooks ([`email_hooks`])
//! are public, authenticated by the signed token in their URL.

pub mod api_keys;
pub mod audience;
pub mod catalog;
pub mod contacts;
pub mod delivery_settings;
pub mod editor;
pub mod email_hooks;
pub mod fallback;
pub mod health;
pub mod ingest;
pub mod journey_tests;
pub mod messages;
pub mod outbox;
pub mod providers;
pub mod runs;
pub mod segments;
pub mod session;
pub mod simulate;
pub mod subscriptions;
pub mod suppressions;
pub mod templates;
pub mod topics;
pub mod unsubscribe;
pub mod workflows;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Every route, for the app and for the OpenAPI document.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz).service(health::metrics);
    // Before the `/v1` scope: signing in needs no credentials, and these read the cookie themselves.
    session::configure(cfg);
    // Public: the signed token in the URL is the credential.
    unsubscribe::configure(cfg);
    email_hooks::configure(cfg);
    cfg.service(scope::scope("/v1").wrap(actix_web::middleware::from_fn(crate::auth::require_auth)).configure(v1));
}

fn v1(cfg: &mut ServiceConfig) {
    ingest::configure(cfg);
    contacts::configure(cfg);
    messages::configure(cfg);
    outbox::configure(cfg);
    workflows::configure(cfg);
    runs::configure(cfg);
    api_keys::configure(cfg);
    catalog::configure(cfg);
    simulate::configure(cfg);
    journey_tests::configure(cfg);
    providers::configure(cfg);
    delivery_settings::configure(cfg);
    topics::configure(cfg);
    segments::configure(cfg);
    audience::configure(cfg);
    subscriptions::configure(cfg);
    suppressions::configure(cfg);
    templates::configure(cfg);
}

/// Default and largest page sizes of list routes.
pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 500;

/// A request body that must be a JSON object. Derived `Deserialize` impls also accept
/// an array of the fields in order (`["ann", {}]`); this wrapper refuses anything but an
/// object before reading the DTO `T` from it.
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        T::deserialize(Value::Object(map)).map(JsonObject).map_err(serde::de::Error::custom)
    }
}

/// The page size of a list route: `limit` defaults to [`DEFAULT_LIMIT`] and must be
/// 1–[`MAX_LIMIT`].
pub fn page_limit(limit: Option<u64>) -> Result<u64, String> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(format!("`limit` must be between 1 and {MAX_LIMIT}; it is {n}")),
    }
}
