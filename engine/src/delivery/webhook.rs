//! The webhook channel over HTTP: the rendered request (method, URL, headers, JSON body)
//! with the outbox idempotency key as `Idempotency-Key`.
//!
//! Outcomes as for every HTTP provider ([`http::answer`]); a bad URL or header is a
//! permanent failure.

use super::http;
use crate::nodes::send::{Method, Rendered, StatusRule};
use crate::scheduler::{Deliver, Delivery};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;

/// A webhook provider's settings: none; each webhook node names its own URL, method and
/// headers.
///
/// ```json
/// {}
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

/// A webhook provider's secrets: none; put credentials in the node's headers (they are
/// redacted wherever the message is shown).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {}

/// Tuning of the webhook channel.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Longest a request may take, connection to the end of the response.
    pub timeout: Duration,
    /// Requests in flight at once (also the most messages leased together).
    pub concurrency: usize,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: TimeDelta,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig { timeout: Duration::from_secs(10), concurrency: 16, max_retry_after: http::MAX_RETRY_AFTER }
    }
}

/// Delivers webhook messages over HTTP.
pub struct Webhook {
    client: reqwest::Client,
    config: WebhookConfig,
}

impl Webhook {
    /// A webhook channel with its own HTTP client (no redirects are followed: a 3xx is
    /// reported as a failure, so a request is never silently re-sent elsewhere).
    pub fn new(config: WebhookConfig) -> Result<Webhook, reqwest::Error> {
        let client = http::client(config.timeout)?;
        Ok(Webhook { client, config: WebhookConfig { concurrency: config.concurrency.max(1), ..config } })
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let Rendered::Webhook { method, url, headers, body, success } = &item.message else {
            return Delivery::Failed { error: "the webhook channel got a message of another channel".into() };
        };
        let url = match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(u) => {
                return Delivery::Failed { error: format!("webhook URL scheme `{}` is not http or https", u.scheme()) };
            }
            Err(e) => return Delivery::Failed { error: format!("webhook URL is not valid: {e}") },
        };
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let Ok(n) = HeaderName::try_from(name.as_str()) else {
                return Delivery::Failed { error: format!("webhook header name `{name}` is not valid") };
            };
            let Ok(v) = HeaderValue::try_from(value.as_str()) else {
                return Delivery::Failed { error: format!("webhook header `{name}` has a value that is not valid") };
            };
            map.insert(n, v);
        }
        // The outbox key, as `Idempotency-Key` (it replaces one the journey sets).
        match HeaderValue::try_from(item.key.as_str()) {
            Ok(v) => {
                map.insert(HeaderName::from_static("idempotency-key"), v);
            }
            Err(_) => return Delivery::Failed { error: "the idempotency key is not a valid header value".into() },
        }
        let method = match method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut request = self.client.request(method, url).headers(map);
        if let Some(b) = body {
            // Sets `Content-Type: application/json` unless the journey set one.
            request = request.json(b);
        }
        let answer = match http::read("webhook", item, request.send().await).await {
            Ok(a) => a,
            Err(failure) => return failure,
        };
        outcome(item, success, answer, now, self.config.max_retry_after)
    }
}

/// Most bytes of an answer kept for `save_response`.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What an answer means under the node's success rules (any 2xx without them). A
/// success of an awaited message keeps the answer (`{"status", "body"}`: the body as
/// JSON, or as text when it is not JSON); any other answer fails as for every HTTP
/// provider: 429 and 5xx are retried, the rest permanent.
fn outcome(
    item: &OutboxItem,
    success: &[StatusRule],
    answer: http::Answer,
    now: DateTime<Utc>,
    max_retry_after: TimeDelta,
) -> Delivery {
    let code = answer.status.as_u16();
    let ok = if success.is_empty() { answer.status.is_success() } else { success.iter().any(|r| r.matches(code)) };
    if ok {
        if !item.awaited {
            return Delivery::Delivered;
        }
        let body = if answer.body.len() > MAX_RESPONSE_BYTES {
            serde_json::Value::String(format!("(an answer of {} bytes is too long to keep)", answer.body.len()))
        } else {
            serde_json::from_str(&answer.body).unwrap_or(serde_json::Value::String(answer.body))
        };
        return Delivery::Responded { response: serde_json::json!({ "status": code, "body": body }) };
    }
    let mut error = http::failure_text("webhook", answer.status, &answer.body);
    if !success.is_empty() {
        let rules: Vec<String> = success.iter().map(ToString::to_string).collect();
        error.push_str(&format!(" (success is {})", rules.join(", ")));
    }
    http::failure(item, &answer, error, now, max_retry_after)
}

#[async_trait::async_trait]
impl Deliver for Webhook {
    async fn deliver(&self, _store: &Store, items: &[OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let sends: Vec<_> = items.iter().map(|i| self.send(i, now)).collect();
        futures::stream::iter(sends).buffered(self.config.concurrency).collect().await
    }

    /// Receivers get the key as `Idempotency-Key`.
    fn idempotent(&self) -> bool {
        true
    }

    fn batch(&self) -> u64 {
        self.config.concurrency as u64
    }

    fn batch_time(&self) -> TimeDelta {
        TimeDelta::from_std(self.config.timeout * 2).unwrap_or(TimeDelta::minutes(1))
    }
}
