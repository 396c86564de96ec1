//! Resend: email over its HTTP API, one `POST /emails` per message.
//!
//! API: <https://resend.com/docs/api-reference/emails/send-email> (`Authorization: Bearer`,
//! JSON `from`, `to`, `subject`, `html`, `text`, `reply_to`, `headers`),
//! <https://resend.com/docs/dashboard/emails/idempotency-keys> (`Idempotency-Key`, up to
//! 256 characters, remembered 24 hours) and <https://resend.com/docs/api-reference/errors>
//! (errors are `{statusCode, name, message}`).
//!
//! Outcomes: 200 delivered; a 409 `concurrent_idempotent_requests` (the same key still in
//! flight) is retried; other 4xx fail at once with Resend's `name` and `message`; 429, 5xx,
//! timeouts and connection errors as for every HTTP provider ([`http::answer`]). Resend
//! deduplicates by the outbox key sent as `Idempotency-Key`, so [`Deliver::idempotent`]
//! is true: a re-sent message is not delivered twice.

use super::email::{self, Defaults};
use super::{ConfigError, Options, http};
use crate::nodes::send::Channel;
use crate::scheduler::{Deliver, Delivery};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The provider's name in configuration and errors.
pub const KIND: &str = "resend";
/// The channel it delivers.
pub const CHANNEL: Channel = Channel::Email;
/// Resend's API.
pub const DEFAULT_BASE_URL: &str = "https://api.resend.com";
/// Longest `Idempotency-Key` Resend takes.
const MAX_KEY: usize = 256;

/// Email through Resend.
///
/// ```json
/// { "from": "Acme <news@acme.example>", "reply_to": "help@acme.example" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The API's address; defaults to `https://api.resend.com`; set it for a compatible
    /// service or a local test receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The sender when a message sets no `from`: an address of a domain verified in
    /// Resend (`news@acme.example` or `Acme <news@acme.example>`).
    pub from: String,
    /// The reply-to address when a message sets no `reply_to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// Resend's credential.
///
/// ```json
/// { "api_key": "re_123456789" }
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// An API key with sending access (Resend: API Keys), sent as `Authorization: Bearer`.
    pub api_key: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("api_key", &super::REDACTED).finish()
    }
}

/// Delivers email through Resend's API.
pub struct Resend {
    client: reqwest::Client,
    url: String,
    defaults: Defaults,
    api_key: String,
    options: Options,
}

impl Resend {
    /// Check the configuration (naming the field at fault) and build the HTTP client.
    pub fn new(settings: Settings, secrets: Secrets, options: &Options) -> Result<Resend, ConfigError> {
        let base = email::base_url(settings.base_url.as_deref(), DEFAULT_BASE_URL)?;
        let defaults = Defaults::new(&settings.from, settings.reply_to.as_deref())?;
        email::secret("api_key", &secrets.api_key)?;
        let client = http::provider_client(options)?;
        Ok(Resend {
            client,
            url: format!("{base}/emails"),
            defaults,
            api_key: secrets.api_key,
            options: Options { concurrency: options.concurrency.max(1), ..options.clone() },
        })
    }

    /// The `POST /emails` request for one email, with the outbox key as `Idempotency-Key`.
    fn request(&self, email: &email::Email<'_>) -> reqwest::RequestBuilder {
        let body = Body {
            from: email.from.to_string(),
            to: [email.to.to_string()],
            subject: email.subject,
            html: email.html,
            text: email.text,
            reply_to: email.reply_to.as_ref().map(ToString::to_string),
            headers: email.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(),
        };
        self.client
            .post(&self.url)
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", idempotency_key(email.key))
            .json(&body)
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let email = match email::prepare(item, &self.defaults) {
            Ok(e) => e,
            Err(failure) => return failure,
        };
        let result = self.request(&email).send().await;
        let outcome = match email::answer(KIND, item, result, now, |status, body| rejected(item, status, body)).await {
            Ok(_) => Delivery::Delivered,
            Err(failure) => failure,
        };
        email::without_secret(outcome, &self.api_key)
    }
}

/// The outbox key, or (past Resend's 256 characters) its SHA-256: one key per message.
fn idempotency_key(key: &str) -> String {
    if key.len() <= MAX_KEY { key.to_string() } else { format!("kairos-{:x}", Sha256::digest(key.as_bytes())) }
}

/// A 4xx answer (not 429): Resend's `name` and `message` when it sent them.
fn rejected(item: &OutboxItem, status: reqwest::StatusCode, body: &str) -> Delivery {
    let Ok(ErrorBody { name, message }) = serde_json::from_str::<ErrorBody>(body) else {
        return Delivery::Failed { error: http::failure_text(KIND, status, body) };
    };
    let error = format!("{KIND} answered {status}: {name}: {}", email::clip(&message, 300));
    if name == "concurrent_idempotent_requests" {
        // The first request with this key is still being handled: ask again later.
        http::retry(item, error)
    } else {
        Delivery::Failed { error }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    from: String,
    to: [String; 1],
    subject: &'a str,
    html: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize)]
struct ErrorBody {
    name: String,
    #[serde(default)]
    message: String,
}

#[async_trait::async_trait]
impl Deliver for Resend {
    async fn deliver(&self, _store: &Store, items: &[OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let sends: Vec<_> = items.iter().map(|i| self.send(i, now)).collect();
        futures::stream::iter(sends).buffered(self.options.concurrency).collect().await
    }

    /// Resend sends one email per `Idempotency-Key` (within 24 hours).
    fn idempotent(&self) -> bool {
        true
    }

    fn batch(&self) -> u64 {
        self.options.concurrency as u64
    }

    fn batch_time(&self) -> TimeDelta {
        TimeDelta::from_std(self.options.timeout * 2).unwrap_or(TimeDelta::minutes(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::send::Rendered;
    use serde_json::{Value, json};

    fn settings() -> Settings {
        serde_json::from_str(r#"{ "from": "Acme <news@acme.example>", "reply_to": "help@acme.example" }"#).unwrap()
    }

    fn secrets() -> Secrets {
        serde_json::from_str(r#"{ "api_key": "re_123456789" }"#).unwrap()
    }

    #[test]
    fn the_documented_examples_parse_and_build() {
        assert!(Resend::new(settings(), secrets(), &Options::default()).is_ok());
        assert!(serde_json::from_str::<Secrets>(r#"{ "api_key": "re_1", "token": "x" }"#).is_err());
        assert!(!format!("{:?}", secrets()).contains("re_123"), "Debug hides the key");
    }

    #[test]
    fn bad_configuration_is_refused_naming_the_field() {
        let field = |s: Settings, k: Secrets| Resend::new(s, k, &Options::default()).err().unwrap().field;
        assert_eq!(field(Settings { from: "news".into(), ..settings() }, secrets()), "settings/from");
        assert_eq!(field(Settings { reply_to: Some("a@".into()), ..settings() }, secrets()), "settings/reply_to");
        assert_eq!(field(Settings { base_url: Some("ftp://x".into()), ..settings() }, secrets()), "settings/base_url");
        assert_eq!(field(settings(), Secrets { api_key: " re_1".into() }), "secrets/api_key");
    }

    #[test]
    fn the_request_is_resends_send_email_with_the_idempotency_key() {
        let r = Resend::new(
            Settings { base_url: Some("http://127.0.0.1:9".into()), ..settings() },
            secrets(),
            &Options::default(),
        )
        .unwrap();
        let item = crate::delivery::email::tests::item(Rendered::Email {
            to: "ann@example.com".into(),
            subject: "Welcome".into(),
            body: "<p>Hi</p>".into(),
            from: Some("Bea <bea@shop.example>".into()),
            reply_to: None,
            text: None,
            headers: [("X-Campaign".to_string(), "spring".to_string())].into(),
            unsubscribe_url: Some("https://kairos.example/u/abc".into()),
        });
        let email = email::prepare(&item, &r.defaults).unwrap();
        let request = r.request(&email).build().unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(request.url().as_str(), "http://127.0.0.1:9/emails");
        assert_eq!(request.headers()["authorization"], "Bearer re_123456789");
        assert_eq!(request.headers()["idempotency-key"], item.key.as_str());
        let body: Value = serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "from": "Bea <bea@shop.example>", "to": ["ann@example.com"], "subject": "Welcome",
                "html": "<p>Hi</p>", "reply_to": "help@acme.example",
                "headers": {
                    "X-Campaign": "spring",
                    "List-Unsubscribe": "<https://kairos.example/u/abc>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"
                }
            })
        );
    }

    #[test]
    fn long_keys_are_hashed_to_fit_and_stay_distinct() {
        let long = "k".repeat(300);
        let a = idempotency_key(&long);
        assert!(a.len() <= MAX_KEY && a.starts_with("kairos-"), "{a}");
        assert_eq!(a, idempotency_key(&long));
        assert_ne!(a, idempotency_key(&"k".repeat(301)));
        assert_eq!(idempotency_key("r:n:1"), "r:n:1");
    }

    #[test]
    fn resend_errors_are_read_by_their_name() {
        let item = crate::delivery::email::tests::item(Rendered::Sms { to: "x".into(), body: "x".into() });
        let body = r#"{"statusCode":403,"name":"validation_error","message":"You can only send testing emails to your own email address."}"#;
        let Delivery::Failed { error } = rejected(&item, reqwest::StatusCode::FORBIDDEN, body) else { panic!() };
        assert_eq!(
            error,
            "resend answered 403 Forbidden: validation_error: You can only send testing emails to your own email address."
        );
        let busy = r#"{"statusCode":409,"name":"concurrent_idempotent_requests","message":"Same idempotency key used while original request is still in progress."}"#;
        assert!(matches!(rejected(&item, reqwest::StatusCode::CONFLICT, busy), Delivery::Retry { .. }));
        let reused = r#"{"statusCode":409,"name":"invalid_idempotent_request","message":"Same idempotency key used with a different request payload."}"#;
        assert!(matches!(rejected(&item, reqwest::StatusCode::CONFLICT, reused), Delivery::Failed { .. }));
    }
}
