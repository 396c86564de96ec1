//! The webhook channel over HTTP: the rendered request (method, URL, headers, JSON body)
//! with the outbox idempotency key as `Idempotency-Key`.
//!
//! 2xx is delivered; 429 retries after its `Retry-After` (seconds or an HTTP date);
//! 5xx, timeouts and connection errors retry with [`backoff`]; any other status (4xx,
//! an unfollowed 3xx), a bad URL or header is a permanent failure.

use crate::nodes::send::{Method, Rendered};
use crate::scheduler::{Deliver, Delivery, backoff};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use std::time::Duration;

/// Most characters of a response body kept in an error.
const ERROR_BODY_CHARS: usize = 200;

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
        WebhookConfig { timeout: Duration::from_secs(10), concurrency: 16, max_retry_after: TimeDelta::hours(1) }
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
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kairos/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Webhook { client, config: WebhookConfig { concurrency: config.concurrency.max(1), ..config } })
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let Rendered::Webhook { method, url, headers, body } = &item.message else {
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
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return transient(item, describe(&e)),
        };
        let status = response.status();
        if status.is_success() {
            return Delivery::Delivered;
        }
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = response.text().await.unwrap_or_default();
        let mut error = format!("webhook answered {status}");
        let snippet: String = text.trim().chars().take(ERROR_BODY_CHARS).collect();
        if !snippet.is_empty() {
            error.push_str(": ");
            error.push_str(&snippet);
        }
        if status.as_u16() == 429 {
            let after = retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now))
                .map(|d| d.clamp(TimeDelta::seconds(1), self.config.max_retry_after))
                .unwrap_or_else(|| backoff(item.attempts, &item.key));
            return Delivery::Retry { after, error };
        }
        if status.is_server_error() {
            return transient(item, error);
        }
        Delivery::Failed { error }
    }
}

fn transient(item: &OutboxItem, error: String) -> Delivery {
    Delivery::Retry { after: backoff(item.attempts, &item.key), error }
}

/// A request error in words, without the URL (it may hold a secret).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "webhook timed out"
    } else if e.is_connect() {
        "webhook connection failed"
    } else {
        "webhook request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { what.to_string() } else { format!("{what}: {detail}") }
}

/// `Retry-After` as a delay from `now`: whole seconds, or an HTTP date (a past date is no delay).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<TimeDelta> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(TimeDelta::seconds(secs.min(i64::MAX as u64 / 1000) as i64));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((at - now).max(TimeDelta::zero()))
}

#[async_trait::async_trait]
impl Deliver for Webhook {
    async fn deliver(&self, _store: &Store, items: &[OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let sends: Vec<_> = items.iter().map(|i| self.send(i, now)).collect();
        futures::stream::iter(sends).buffered(self.config.concurrency).collect().await
    }

    fn batch(&self) -> u64 {
        self.config.concurrency as u64
    }

    fn batch_time(&self) -> TimeDelta {
        TimeDelta::from_std(self.config.timeout * 2).unwrap_or(TimeDelta::minutes(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_timestamp;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = parse_timestamp("2026-03-02T10:00:00Z").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(TimeDelta::seconds(120)));
        assert_eq!(parse_retry_after("Mon, 02 Mar 2026 10:05:00 GMT", now), Some(TimeDelta::minutes(5)));
        assert_eq!(parse_retry_after("Mon, 02 Mar 2026 09:00:00 GMT", now), Some(TimeDelta::zero()));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
