//! SendGrid (Twilio SendGrid): email over its v3 HTTP API, one `POST /v3/mail/send` per
//! message.
//!
//! API: <https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send>
//! (`Authorization: Bearer`, JSON `personalizations[{to}]`, `from`/`reply_to` as
//! `{email, name}`, `subject`, `content` with `text/plain` before `text/html`, `headers`;
//! `202 Accepted`) and <https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors>
//! (errors are `{errors: [{message, field, help}]}`; 429 carries `X-RateLimit-Reset`).
//!
//! Outcomes: 2xx delivered; 4xx other than 429 fail at once with SendGrid's messages;
//! 429 waits for `Retry-After`, else for `X-RateLimit-Reset`; 5xx, timeouts and connection
//! errors as for every HTTP provider ([`http::answer`]). SendGrid does not deduplicate by
//! a key, so [`Deliver::idempotent`] is false.

use super::email::{self, Defaults};
use super::{ConfigError, Options, http};
use crate::nodes::send::Channel;
use crate::scheduler::{Deliver, Delivery};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use lettre::message::Mailbox;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The provider's name in configuration and errors.
pub const KIND: &str = "sendgrid";
/// The channel it delivers.
pub const CHANNEL: Channel = Channel::Email;
/// SendGrid's API (`https://api.eu.sendgrid.com` for an EU subuser).
pub const DEFAULT_BASE_URL: &str = "https://api.sendgrid.com";

/// Email through SendGrid.
///
/// ```json
/// { "from": "Acme <news@acme.example>", "reply_to": "help@acme.example" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The API's address; defaults to `https://api.sendgrid.com` (`https://api.eu.sendgrid.com`
    /// for EU data residency); set it for a compatible service or a local test receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The sender when a message sets no `from`: a verified sender identity or an
    /// address of an authenticated domain (`news@acme.example` or `Acme <news@acme.example>`).
    pub from: String,
    /// The reply-to address when a message sets no `reply_to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// SendGrid's credential.
///
/// ```json
/// { "api_key": "SG.xxxxxxxx.yyyyyyyy" }
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// An API key with the Mail Send permission, sent as `Authorization: Bearer`.
    pub api_key: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("api_key", &super::REDACTED).finish()
    }
}

/// Delivers email through SendGrid's v3 API.
pub struct Sendgrid {
    client: reqwest::Client,
    url: String,
    defaults: Defaults,
    api_key: String,
    options: Options,
}

impl Sendgrid {
    /// Check the configuration (naming the field at fault) and build the HTTP client.
    pub fn new(settings: Settings, secrets: Secrets, options: &Options) -> Result<Sendgrid, ConfigError> {
        let base = email::base_url(settings.base_url.as_deref(), DEFAULT_BASE_URL)?;
        let defaults = Defaults::new(&settings.from, settings.reply_to.as_deref())?;
        email::secret("api_key", &secrets.api_key)?;
        let client = http::provider_client(options)?;
        Ok(Sendgrid {
            client,
            url: format!("{base}/v3/mail/send"),
            defaults,
            api_key: secrets.api_key,
            options: Options { concurrency: options.concurrency.max(1), ..options.clone() },
        })
    }

    /// The `POST /v3/mail/send` request for one email.
    fn request(&self, email: &email::Email<'_>) -> reqwest::RequestBuilder {
        let mut content = Vec::with_capacity(2);
        if let Some(text) = email.text {
            content.push(Content { kind: "text/plain", value: text });
        }
        content.push(Content { kind: "text/html", value: email.html });
        let body = Body {
            personalizations: [Personalization { to: [Address::of(&email.to)] }],
            from: Address::of(&email.from),
            reply_to: email.reply_to.as_ref().map(Address::of),
            subject: email.subject,
            content,
            headers: email.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(),
        };
        self.client.post(&self.url).bearer_auth(&self.api_key).json(&body)
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let email = match email::prepare(item, &self.defaults) {
            Ok(e) => e,
            Err(failure) => return failure,
        };
        let result = self.request(&email).send().await;
        // A 429 without `Retry-After` says when the limit resets.
        let reset = match &result {
            Ok(r)
                if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS && !r.headers().contains_key("retry-after") =>
            {
                r.headers()
                    .get("x-ratelimit-reset")
                    .and_then(|v| v.to_str().ok()?.trim().parse::<i64>().ok())
                    .and_then(|at| DateTime::from_timestamp(at, 0))
            }
            _ => None,
        };
        let outcome = match email::answer(KIND, item, result, now, rejected).await {
            Ok(_) => Delivery::Delivered,
            Err(Delivery::Retry { error, .. }) if reset.is_some() => {
                let after = (reset.unwrap_or(now) - now).clamp(TimeDelta::seconds(1), http::MAX_RETRY_AFTER);
                Delivery::Retry { after, error }
            }
            Err(failure) => failure,
        };
        email::without_secret(outcome, &self.api_key)
    }
}

/// A 4xx answer (not 429): SendGrid's error messages (and the field each is about).
fn rejected(status: reqwest::StatusCode, body: &str) -> Delivery {
    let Ok(ErrorBody { errors }) = serde_json::from_str::<ErrorBody>(body) else {
        return Delivery::Failed { error: http::failure_text(KIND, status, body) };
    };
    let messages: Vec<String> = errors
        .iter()
        .map(|e| match e.field.as_deref() {
            Some(f) if !f.is_empty() => format!("{} ({f})", e.message.trim()),
            _ => e.message.trim().to_string(),
        })
        .collect();
    if messages.is_empty() {
        return Delivery::Failed { error: http::failure_text(KIND, status, body) };
    }
    Delivery::Failed { error: format!("{KIND} answered {status}: {}", email::clip(&messages.join("; "), 300)) }
}

#[derive(Serialize)]
struct Body<'a> {
    personalizations: [Personalization; 1],
    from: Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<Address>,
    subject: &'a str,
    content: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
struct Personalization {
    to: [Address; 1],
}

#[derive(Serialize)]
struct Address {
    email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl Address {
    fn of(mailbox: &Mailbox) -> Address {
        Address {
            email: mailbox.email.to_string(),
            name: mailbox.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(String::from),
        }
    }
}

#[derive(Serialize)]
struct Content<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'a str,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    message: String,
    #[serde(default)]
    field: Option<String>,
}

#[async_trait::async_trait]
impl Deliver for Sendgrid {
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
        serde_json::from_str(r#"{ "from": "Acme <news@acme.example>", "reply_to": "help@acme.example" }"#).unwrap()
    }

    fn secrets() -> Secrets {
        serde_json::from_str(r#"{ "api_key": "SG.xxxxxxxx.yyyyyyyy" }"#).unwrap()
    }

    #[test]
    fn the_documented_examples_parse_and_build() {
        assert!(Sendgrid::new(settings(), secrets(), &Options::default()).is_ok());
        assert!(serde_json::from_str::<Settings>(r#"{ "from": "a@b.example", "sender": "x" }"#).is_err());
        assert!(!format!("{:?}", secrets()).contains("SG."), "Debug hides the key");
    }

    #[test]
    fn bad_configuration_is_refused_naming_the_field() {
        let field = |s: Settings, k: Secrets| Sendgrid::new(s, k, &Options::default()).err().unwrap().field;
        assert_eq!(field(Settings { from: "".into(), ..settings() }, secrets()), "settings/from");
        assert_eq!(field(Settings { reply_to: Some("help".into()), ..settings() }, secrets()), "settings/reply_to");
        assert_eq!(
            field(Settings { base_url: Some("not a url".into()), ..settings() }, secrets()),
            "settings/base_url"
        );
        assert_eq!(field(settings(), Secrets { api_key: "".into() }), "secrets/api_key");
    }

    #[test]
    fn the_request_is_sendgrids_mail_send() {
        let s = Sendgrid::new(
            Settings { base_url: Some("http://127.0.0.1:9".into()), ..settings() },
            secrets(),
            &Options::default(),
        )
        .unwrap();
        let item = crate::delivery::email::tests::item(Rendered::Email {
            to: "Ann Lee <ann@example.com>".into(),
            subject: "Welcome".into(),
            body: "<p>Hi</p>".into(),
            from: None,
            reply_to: None,
            text: Some("Hi".into()),
            headers: [("X-Campaign".to_string(), "spring".to_string())].into(),
            unsubscribe_url: Some("https://kairos.example/u/abc".into()),
        });
        let email = email::prepare(&item, &s.defaults).unwrap();
        let request = s.request(&email).build().unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(request.url().as_str(), "http://127.0.0.1:9/v3/mail/send");
        assert_eq!(request.headers()["authorization"], "Bearer SG.xxxxxxxx.yyyyyyyy");
        assert_eq!(request.headers()["content-type"], "application/json");
        let body: Value = serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "personalizations": [{ "to": [{ "email": "ann@example.com", "name": "Ann Lee" }] }],
                "from": { "email": "news@acme.example", "name": "Acme" },
                "reply_to": { "email": "help@acme.example" },
                "subject": "Welcome",
                "content": [{ "type": "text/plain", "value": "Hi" }, { "type": "text/html", "value": "<p>Hi</p>" }],
                "headers": {
                    "X-Campaign": "spring",
                    "List-Unsubscribe": "<https://kairos.example/u/abc>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"
                }
            })
        );
    }

    #[test]
    fn sendgrid_errors_list_their_messages() {
        let body = r#"{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":"https://sendgrid.com/docs/for-developers/sending-email/sender-identity/"}]}"#;
        let Delivery::Failed { error } = rejected(reqwest::StatusCode::FORBIDDEN, body) else { panic!() };
        assert_eq!(
            error,
            "sendgrid answered 403 Forbidden: The from address does not match a verified Sender Identity. (from)"
        );
        let Delivery::Failed { error } = rejected(reqwest::StatusCode::BAD_REQUEST, "oops") else { panic!() };
        assert_eq!(error, "sendgrid answered 400 Bad Request: oops");
    }
}
