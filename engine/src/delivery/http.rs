//! What every HTTP provider shares: one way to build a client and one way to turn a
//! request's result into a [`Delivery`].
//!
//! - 2xx: delivered (the caller gets the status, headers and body to read more).
//! - 429: retry after its `Retry-After` (seconds or an HTTP date), else [`backoff`].
//! - 5xx and connection failures: retry with [`backoff`].
//! - A timeout or an error after the request may have left: [`Delivery::Uncertain`],
//!   retried with the same idempotency key unless the provider is at-most-once.
//! - Any other status (4xx, an unfollowed 3xx): a permanent failure.

use crate::scheduler::{Delivery, backoff};
use crate::store::OutboxItem;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;

/// Most characters of a response body kept in an error.
const ERROR_BODY_CHARS: usize = 300;

/// Longest `Retry-After` honoured by default; a longer one is cut to this.
pub const MAX_RETRY_AFTER: TimeDelta = TimeDelta::hours(1);

/// An HTTP client for a provider: a timeout for the whole request, no redirects (a 3xx
/// is reported, so a request is never silently re-sent elsewhere), Kairos's user agent.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kairos/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// [`client`] for a configured provider with `options`, its failure reported as the
/// configuration's.
pub fn provider_client(options: &super::Options) -> Result<reqwest::Client, super::ConfigError> {
    client(options.timeout)
        .map_err(|e| super::ConfigError::new("options", format!("the HTTP client cannot be built: {e}")))
}

/// A response, read whole (a 2xx one from [`answer`], any one from [`read`]).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// The result of sending `item` to `provider` (a name used in errors, e.g. `postmark`):
/// the 2xx answer, or the [`Delivery`] that records a failure.
pub async fn answer(
    provider: &str,
    item: &OutboxItem,
    result: Result<reqwest::Response, reqwest::Error>,
    now: DateTime<Utc>,
    max_retry_after: TimeDelta,
) -> Result<Answer, Delivery> {
    let answer = read(provider, item, result).await?;
    if answer.status.is_success() {
        return Ok(answer);
    }
    let error = failure_text(provider, answer.status, &answer.body);
    Err(failure(item, &answer, error, now, max_retry_after))
}

/// The response to a request, whatever its status, for a provider that words its errors
/// from its own error body; or the [`Delivery`] of a request that got no answer.
pub async fn read(
    provider: &str,
    item: &OutboxItem,
    result: Result<reqwest::Response, reqwest::Error>,
) -> Result<Answer, Delivery> {
    let response = match result {
        Ok(r) => r,
        Err(e) => return Err(request_failed(provider, item, &e)),
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body = match response.text().await {
        Ok(b) => b,
        // The provider answered, so the status stands even if the body broke off.
        Err(_) if status.is_success() => String::new(),
        Err(e) => return Err(request_failed(provider, item, &e)),
    };
    Ok(Answer { status, headers, body })
}

/// A non-2xx `answer` as a [`Delivery`] with `error` as its text: 429 after its
/// `Retry-After` (else [`backoff`]), 5xx with [`backoff`], anything else permanent.
pub fn failure(
    item: &OutboxItem,
    answer: &Answer,
    error: String,
    now: DateTime<Utc>,
    max_retry_after: TimeDelta,
) -> Delivery {
    if answer.status == StatusCode::TOO_MANY_REQUESTS {
        return Delivery::Retry { after: retry_after(item, &answer.headers, now, max_retry_after), error };
    }
    if answer.status.is_server_error() {
        return retry(item, error);
    }
    Delivery::Failed { error }
}

/// The delay a 429 asks for in `Retry-After` (at least a second, at most
/// `max_retry_after`), else the backoff of `item`'s attempt.
pub fn retry_after(
    item: &OutboxItem,
    headers: &HeaderMap,
    now: DateTime<Utc>,
    max_retry_after: TimeDelta,
) -> TimeDelta {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
        .map(|d| d.clamp(TimeDelta::seconds(1), max_retry_after))
        .unwrap_or_else(|| backoff(item.attempts, &item.key))
}

/// `<provider> answered <status>: <start of the body>`.
pub fn failure_text(provider: &str, status: StatusCode, body: &str) -> String {
    let mut error = format!("{provider} answered {status}");
    let snippet: String = body.trim().chars().take(ERROR_BODY_CHARS).collect();
    if !snippet.is_empty() {
        error.push_str(": ");
        error.push_str(&snippet);
    }
    error
}

/// A transient failure of `item`: retry after the backoff of its attempt.
pub fn retry(item: &OutboxItem, error: String) -> Delivery {
    Delivery::Retry { after: backoff(item.attempts, &item.key), error }
}

/// A request that got no answer. A connection that could not be made never reached the
/// provider (retry); a timeout or a broken exchange may have (uncertain).
pub fn request_failed(provider: &str, item: &OutboxItem, e: &reqwest::Error) -> Delivery {
    let error = describe(provider, e);
    if e.is_connect() || e.is_builder() {
        retry(item, error)
    } else {
        Delivery::Uncertain { after: backoff(item.attempts, &item.key), error }
    }
}

/// A request error in words, without the URL (it may hold a secret).
pub fn describe(provider: &str, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { format!("{provider} {what}") } else { format!("{provider} {what}: {detail}") }
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
