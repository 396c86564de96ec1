//! Postmark: email over its HTTP API, one `POST /email` per message.
//!
//! API: <https://postmarkapp.com/developer/user-guide/send-email-with-api> (the request:
//! `X-Postmark-Server-Token`, JSON `From`, `To`, `Subject`, `HtmlBody`, `TextBody`,
//! `ReplyTo`, `Headers: [{Name, Value}]`, `MessageStream`) and
//! <https://postmarkapp.com/developer/api/overview#error-codes> (errors are
//! `{ErrorCode, Message}`: 401 a bad server token, 422 a message Postmark will not send,
//! e.g. `ErrorCode` 406 for an inactive recipient, 429 and 5xx transient).
//!
//! Outcomes: 200 delivered; 422 and other 4xx fail at once with Postmark's `ErrorCode`
//! and `Message`; 429, 5xx, timeouts and connection errors as for every HTTP provider
//! ([`http::answer`]). Postmark does not deduplicate by a key, so a re-sent message (after
//! an uncertain attempt) may arrive twice: [`Deliver::idempotent`] is false.

use super::email::{self, Defaults};
use super::{ConfigError, Options, http};
use crate::nodes::send::Channel;
use crate::scheduler::{Deliver, Delivery};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The provider's name in configuration and errors.
pub const KIND: &str = "postmark";
/// The channel it delivers.
pub const CHANNEL: Channel = Channel::Email;
/// Postmark's API.
pub const DEFAULT_BASE_URL: &str = "https://api.postmarkapp.com";
/// The stream of transactional email every Postmark server has.
pub const DEFAULT_MESSAGE_STREAM: &str = "outbound";

/// Email through Postmark.
///
/// ```json
/// { "from": "Acme <news@acme.example>", "reply_to": "help@acme.example", "message_stream": "outbound" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The API's address; defaults to `https://api.postmarkapp.com`; set it for a
    /// compatible service or a local test receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The sender when a message sets no `from`: an address of a domain verified in
    /// Postmark, or a confirmed sender signature (`news@acme.example` or
    /// `Acme <news@acme.example>`).
    pub from: String,
    /// The reply-to address when a message sets no `reply_to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The message stream to send through: `outbound` (the default transactional
    /// stream) or the id of another stream of the server, e.g. a broadcast stream for
    /// marketing email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_stream: Option<String>,
}

/// Postmark's credential.
///
/// ```json
/// { "server_token": "00000000-0000-0000-0000-000000000000" }
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// The server's API token (Postmark: the server → API Tokens), sent as
    /// `X-Postmark-Server-Token`.
    pub server_token: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("server_token", &super::REDACTED).finish()
    }
}

/// Delivers email through Postmark's API.
pub struct Postmark {
    client: reqwest::Client,
    url: String,
    defaults: Defaults,
    stream: String,
    token: String,
    options: Options,
}

impl Postmark {
    /// Check the configuration (naming the field at fault) and build the HTTP client.
    pub fn new(settings: Settings, secrets: Secrets, options: &Options) -> Result<Postmark, ConfigError> {
        let base = email::base_url(settings.base_url.as_deref(), DEFAULT_BASE_URL)?;
        let defaults = Defaults::new(&settings.from, settings.reply_to.as_deref())?;
        let stream = match settings.message_stream.as_deref().map(str::trim) {
            None => DEFAULT_MESSAGE_STREAM.to_string(),
            Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => {
                s.to_string()
            }
            Some(s) => {
                return Err(ConfigError::new(
                    "settings/message_stream",
                    format!("`{s}` is not a message stream id (letters, digits, `-` and `_`, e.g. `outbound`)"),
                ));
            }
        };
        email::secret("server_token", &secrets.server_token)?;
        let client = http::provider_client(options)?;
        Ok(Postmark {
            client,
            url: format!("{base}/email"),
            defaults,
            stream,
            token: secrets.server_token,
            options: Options { concurrency: options.concurrency.max(1), ..options.clone() },
        })
    }

    /// The `POST /email` request for one email.
    fn request(&self, email: &email::Email<'_>) -> reqwest::RequestBuilder {
        let body = Body {
            from: email.from.to_string(),
            to: email.to.to_string(),
            subject: email.subject,
            html_body: email.html,
            text_body: email.text,
            reply_to: email.reply_to.as_ref().map(ToString::to_string),
            headers: email.headers.iter().map(|(name, value)| Header { name, value }).collect(),
            message_stream: &self.stream,
        };
        self.client
            .post(&self.url)
            .header("Accept", "application/json")
            .header("X-Postmark-Server-Token", &self.token)
            .json(&body)
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let email = match email::prepare(item, &self.defaults) {
            Ok(e) => e,
            Err(failure) => return failure,
        };
        let result = self.request(&email).send().await;
        let outcome = match email::answer(KIND, item, result, now, |status, body| rejected(item, status, body)).await {
            // Postmark answers 200 with `ErrorCode` 0; anything else is not a send.
            Ok(answer) => match serde_json::from_str::<ErrorBody>(&answer.body) {
                Ok(ErrorBody { error_code: Some(code), message }) if code != 0 => Delivery::Failed {
                    error: format!("{KIND} did not send the email: ErrorCode {code}: {}", email::clip(&message, 300)),
                },
                _ => Delivery::Delivered,
            },
            Err(failure) => failure,
        };
        email::without_secret(outcome, &self.token)
    }
}

/// A 4xx answer (not 429): Postmark's `ErrorCode` and `Message` when it sent them.
fn rejected(item: &OutboxItem, status: reqwest::StatusCode, body: &str) -> Delivery {
    let Ok(ErrorBody { error_code: Some(code), message }) = serde_json::from_str::<ErrorBody>(body) else {
        return Delivery::Failed { error: http::failure_text(KIND, status, body) };
    };
    let message = email::clip(&message, 300);
    match code {
        // Maintenance, and the rate limit said with another status.
        100 | 429 => http::retry(item, format!("{KIND} answered {status}: ErrorCode {code}: {message}")),
        10 => {
            Delivery::Failed { error: format!("{KIND} refused the server token ({status}): ErrorCode 10: {message}") }
        }
        _ => Delivery::Failed { error: format!("{KIND} answered {status}: ErrorCode {code}: {message}") },
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Body<'a> {
    from: String,
    to: String,
    subject: &'a str,
    html_body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text_body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    headers: Vec<Header<'a>>,
    message_stream: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Header<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    message: String,
}

#[async_trait::async_trait]
impl Deliver for Postmark {
    async fn deliver(&self, _store: &Store, items: &[OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let sends: Vec<_> = items.iter().map(|i| self.send(i, now)).collect();
        futures::stream::iter(sends).buffered(self.options.concurrency).collect().await
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
        serde_json::from_str(
            r#"{ "from": "Acme <news@acme.example>", "reply_to": "help@acme.example", "message_stream": "outbound" }"#,
        )
        .unwrap()
    }

    fn secrets() -> Secrets {
        serde_json::from_str(r#"{ "server_token": "00000000-0000-0000-0000-000000000000" }"#).unwrap()
    }

    #[test]
    fn the_documented_examples_parse_and_build() {
        let s = settings();
        assert_eq!(s.message_stream.as_deref(), Some("outbound"));
        assert!(Postmark::new(s, secrets(), &Options::default()).is_ok());
        let unknown = serde_json::from_str::<Settings>(r#"{ "from": "a@b.example", "api_key": "x" }"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown field `api_key`"), "{unknown}");
        assert!(!format!("{:?}", secrets()).contains("0000-0000"), "Debug hides the token");
    }

    #[test]
    fn bad_configuration_is_refused_naming_the_field() {
        let field = |s: Settings, k: Secrets| Postmark::new(s, k, &Options::default()).err().unwrap().field;
        assert_eq!(field(Settings { from: "Acme".into(), ..settings() }, secrets()), "settings/from");
        assert_eq!(field(Settings { reply_to: Some("nope".into()), ..settings() }, secrets()), "settings/reply_to");
        assert_eq!(
            field(Settings { base_url: Some("api.postmarkapp.com".into()), ..settings() }, secrets()),
            "settings/base_url"
        );
        assert_eq!(
            field(Settings { message_stream: Some("my stream".into()), ..settings() }, secrets()),
            "settings/message_stream"
        );
        assert_eq!(field(settings(), Secrets { server_token: "".into() }), "secrets/server_token");
    }

    #[test]
    fn the_request_is_postmarks_send_email() {
        let p = Postmark::new(
            Settings {
                base_url: Some("http://127.0.0.1:9/".into()),
                message_stream: Some("broadcast".into()),
                ..settings()
            },
            secrets(),
            &Options::default(),
        )
        .unwrap();
        let item = crate::delivery::email::tests::item(Rendered::Email {
            to: "Ann <ann@example.com>".into(),
            subject: "Welcome".into(),
            body: "<p>Hi</p>".into(),
            from: None,
            reply_to: None,
            text: Some("Hi".into()),
            headers: [("X-Campaign".to_string(), "spring".to_string())].into(),
            unsubscribe_url: Some("https://kairos.example/u/abc".into()),
        });
        let email = email::prepare(&item, &p.defaults).unwrap();
        let request = p.request(&email).build().unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(request.url().as_str(), "http://127.0.0.1:9/email");
        assert_eq!(request.headers()["x-postmark-server-token"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(request.headers()["content-type"], "application/json");
        assert_eq!(request.headers()["accept"], "application/json");
        let body: Value = serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "From": "Acme <news@acme.example>", "To": "Ann <ann@example.com>", "Subject": "Welcome",
                "HtmlBody": "<p>Hi</p>", "TextBody": "Hi", "ReplyTo": "help@acme.example",
                "Headers": [
                    { "Name": "X-Campaign", "Value": "spring" },
                    { "Name": "List-Unsubscribe", "Value": "<https://kairos.example/u/abc>" },
                    { "Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click" }
                ],
                "MessageStream": "broadcast"
            })
        );
    }

    #[test]
    fn postmark_errors_are_read_by_their_code() {
        let item = crate::delivery::email::tests::item(Rendered::Sms { to: "x".into(), body: "x".into() });
        let inactive =
            r#"{"ErrorCode":406,"Message":"You tried to send to recipient(s) that have been marked as inactive."}"#;
        let Delivery::Failed { error } = rejected(&item, reqwest::StatusCode::UNPROCESSABLE_ENTITY, inactive) else {
            panic!()
        };
        assert_eq!(
            error,
            "postmark answered 422 Unprocessable Entity: ErrorCode 406: You tried to send to recipient(s) that have been marked as inactive."
        );
        let maintenance = r#"{"ErrorCode":100,"Message":"Maintenance"}"#;
        assert!(matches!(
            rejected(&item, reqwest::StatusCode::UNPROCESSABLE_ENTITY, maintenance),
            Delivery::Retry { .. }
        ));
        let Delivery::Failed { error } = rejected(&item, reqwest::StatusCode::NOT_FOUND, "not json") else { panic!() };
        assert_eq!(error, "postmark answered 404 Not Found: not json");
    }
}
