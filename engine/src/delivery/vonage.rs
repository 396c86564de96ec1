//! SMS through the Vonage (formerly Nexmo) SMS API, the second SMS provider.
//!
//! `POST {base_url}/sms/json` with the form fields `api_key`, `api_secret`, `from`, `to`
//! (international digits without `+`), `text` and, when the text has characters outside
//! the GSM 7-bit alphabet (emoji, Cyrillic, CJK…), `type=unicode` so it is not mangled.
//! Vonage answers `200` even when it refuses: each part of the (possibly split) message
//! has a `status`, `"0"` for accepted, else an `error-text`:
//!
//! - `1` (throttled), `5` (internal error), `9` (out of credit: "top up and retry") and
//!   `10` (too many connections: "back off and retry") are retried with backoff;
//! - every other status is permanent (`2`/`3` bad parameters, `4` bad credentials, `6`
//!   unroutable number, `7` barred number, `15` sender not allowed, `29` non-whitelisted
//!   destination, …), with Vonage's own words;
//! - if some parts were accepted and another refused, the message is reported failed (a
//!   retry would send the accepted parts twice).
//!
//! HTTP errors follow the shared rules (429 `Retry-After`, 5xx retried, other 4xx
//! permanent). Vonage does not deduplicate, so the channel is not idempotent.
//!
//! Chosen as the second SMS provider because its SMS API is one form POST with a key and
//! secret (no OAuth, no JSON Web Tokens), and it reaches countries where Twilio numbers are
//! hard to get.
//!
//! - Send an SMS: <https://developer.vonage.com/en/api/sms#send-an-sms>
//! - Status codes: <https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms>
//! - Encoding: <https://developer.vonage.com/en/messaging/sms/guides/concatenation-and-encoding>

use super::{ConfigError, Options, http};
use crate::nodes::send::{Channel, Rendered};
use crate::scheduler::{Deliver, Delivery};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The provider's name in configuration and errors.
pub const KIND: &str = "vonage";
/// The message channel it delivers.
pub const CHANNEL: Channel = Channel::Sms;

/// The SMS API's address.
pub const DEFAULT_BASE_URL: &str = "https://rest.nexmo.com";

/// Statuses Vonage asks to retry.
const TRANSIENT_STATUSES: &[&str] = &["1", "5", "9", "10"];

/// Vonage settings.
///
/// ```json
/// { "api_key": "a1b2c3d4", "from": "Acme" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The account's API key, from the Vonage API Dashboard (it names the account; the
    /// secret goes in the secrets).
    pub api_key: String,
    /// The sender: a Vonage virtual number in international form (`447700900000` or
    /// `+447700900000`) or an alphanumeric sender ID (`Acme`, up to 11 letters, digits and
    /// spaces, where the destination country allows one).
    pub from: String,
    /// The API's address; defaults to `https://rest.nexmo.com`. Set it for a compatible
    /// service or a local test receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

/// Vonage secrets.
///
/// ```json
/// { "api_secret": "Abcdef0123456789" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// The account's API secret, from the Vonage API Dashboard.
    pub api_secret: String,
}

/// Delivers SMS through one Vonage account.
pub struct Vonage {
    client: reqwest::Client,
    url: reqwest::Url,
    api_key: String,
    api_secret: String,
    from: String,
    concurrency: usize,
    timeout: std::time::Duration,
}

impl Vonage {
    pub fn new(settings: Settings, secrets: Secrets, options: &Options) -> Result<Self, ConfigError> {
        let api_key = settings.api_key.trim().to_string();
        if api_key.is_empty() || !api_key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError::new(
                "settings/api_key",
                "expected the API key shown in the Vonage API Dashboard (letters and digits)",
            ));
        }
        let from = settings.from.trim();
        let from = match from.strip_prefix('+') {
            Some(number) if is_number(number) => number.to_string(),
            _ if is_number(from) => from.to_string(),
            _ if is_sender_id(from) => from.to_string(),
            _ => {
                return Err(ConfigError::new(
                    "settings/from",
                    "expected a Vonage number in international form (`447700900000`) or a sender ID of up to 11 letters, digits and spaces",
                ));
            }
        };
        let api_secret = secrets.api_secret.trim().to_string();
        if api_secret.is_empty() || api_secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new(
                "secrets/api_secret",
                "expected the API secret from the Vonage API Dashboard",
            ));
        }
        let base = super::base_url(settings.base_url.as_deref(), DEFAULT_BASE_URL, "settings/base_url")?;
        let url = base
            .join("sms/json")
            .map_err(|e| ConfigError::new("settings/base_url", format!("cannot be joined with the API path: {e}")))?;
        let client = http::provider_client(options)?;
        Ok(Vonage {
            client,
            url,
            api_key,
            api_secret,
            from,
            concurrency: options.concurrency.max(1),
            timeout: options.timeout,
        })
    }

    /// The form Vonage receives for an SMS to `to`.
    fn form<'a>(&'a self, to: &'a str, text: &'a str) -> Vec<(&'static str, &'a str)> {
        let to = to.trim();
        let to = to.strip_prefix('+').or_else(|| to.strip_prefix("00")).unwrap_or(to);
        let mut form = vec![
            ("api_key", self.api_key.as_str()),
            ("api_secret", self.api_secret.as_str()),
            ("from", self.from.as_str()),
            ("to", to),
            ("text", text),
        ];
        if !is_gsm7(text) {
            form.push(("type", "unicode"));
        }
        form
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let Rendered::Sms { to, body } = &item.message else {
            return Delivery::Failed {
                error: format!(
                    "the vonage provider delivers sms messages, not {}",
                    crate::store::channel_name(item.message.channel())
                ),
            };
        };
        let request = self.client.post(self.url.clone()).form(&self.form(to, body));
        let answer = match http::answer(KIND, item, request.send().await, now, http::MAX_RETRY_AFTER).await {
            Ok(a) => a,
            Err(failure) => return failure,
        };
        match serde_json::from_str::<Response>(&answer.body) {
            Ok(response) => response.outcome(item),
            // Vonage took the request but its answer cannot be read: the message may be sent.
            Err(_) => Delivery::Uncertain {
                after: crate::scheduler::backoff(item.attempts, &item.key),
                error: format!("{KIND} answered {} with a body that is not its JSON answer", answer.status),
            },
        }
    }
}

/// The SMS API's answer: one entry per part of the message.
#[derive(Debug, Deserialize)]
struct Response {
    messages: Vec<Part>,
}

#[derive(Debug, Deserialize)]
struct Part {
    status: String,
    #[serde(rename = "error-text", default)]
    error_text: Option<String>,
}

impl Response {
    fn outcome(&self, item: &OutboxItem) -> Delivery {
        let refused: Vec<(usize, &Part)> =
            self.messages.iter().enumerate().filter(|(_, p)| p.status.trim() != "0").collect();
        let Some((index, part)) = refused.first() else {
            return if self.messages.is_empty() {
                Delivery::Uncertain {
                    after: crate::scheduler::backoff(item.attempts, &item.key),
                    error: format!("{KIND} answered without a message status"),
                }
            } else {
                Delivery::Delivered
            };
        };
        let reason = match part.error_text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => format!("status {}: {text}", part.status.trim()),
            None => format!("status {}", part.status.trim()),
        };
        let total = self.messages.len();
        let accepted = total - refused.len();
        if accepted > 0 {
            return Delivery::Failed {
                error: format!(
                    "{KIND} sent {accepted} of {total} parts and refused part {} ({reason}); not retried, so the sent parts are not sent twice",
                    index + 1
                ),
            };
        }
        let error = format!("{KIND} refused the message: {reason}");
        if TRANSIENT_STATUSES.contains(&part.status.trim()) {
            http::retry(item, error)
        } else {
            Delivery::Failed { error }
        }
    }
}

fn is_number(s: &str) -> bool {
    (7..=15).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit()) && !s.starts_with('0')
}

fn is_sender_id(s: &str) -> bool {
    (1..=11).contains(&s.chars().count())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && s.chars().any(|c| c.is_ascii_alphabetic())
}

/// Whether every character is in the GSM 03.38 alphabet (its basic set or extension
/// table), which Vonage sends as `type=text`; anything else needs `type=unicode`.
pub fn is_gsm7(text: &str) -> bool {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "\u{c}^{}\\[~]|€";
    text.chars().all(|c| BASIC.contains(c) || EXTENSION.contains(c))
}

#[async_trait::async_trait]
impl Deliver for Vonage {
    async fn deliver(&self, _store: &Store, items: &[OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let sends: Vec<_> = items.iter().map(|i| self.send(i, now)).collect();
        futures::stream::iter(sends).buffered(self.concurrency).collect().await
    }

    /// Vonage does not deduplicate.
    fn idempotent(&self) -> bool {
        false
    }

    fn batch(&self) -> u64 {
        self.concurrency as u64
    }

    fn batch_time(&self) -> TimeDelta {
        TimeDelta::from_std(self.timeout * 2).unwrap_or(TimeDelta::minutes(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testing::{doc_example, item};

    fn settings() -> Settings {
        Settings { api_key: "a1b2c3d4".into(), from: "Acme".into(), base_url: None }
    }

    fn secrets() -> Secrets {
        Secrets { api_secret: "Abcdef0123456789".into() }
    }

    fn refused(settings: Settings, secrets: Secrets) -> ConfigError {
        match Vonage::new(settings, secrets, &Options::default()) {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        }
    }

    fn sms() -> OutboxItem {
        item(Rendered::Sms { to: "+447700900123".into(), body: "hi".into() })
    }

    #[test]
    fn the_doc_examples_parse_and_build() {
        let source = include_str!("vonage.rs");
        let settings: Settings = doc_example(source, "/// Vonage settings");
        let secrets: Secrets = doc_example(source, "/// Vonage secrets");
        assert_eq!(settings, self::settings());
        assert!(Vonage::new(settings, secrets, &Options::default()).is_ok());
    }

    #[test]
    fn bad_settings_are_refused_naming_the_field() {
        assert_eq!(refused(Settings { api_key: "".into(), ..settings() }, secrets()).field, "settings/api_key");
        assert_eq!(refused(Settings { api_key: "a b".into(), ..settings() }, secrets()).field, "settings/api_key");
        for bad in ["", "Acme Corporation", "+44 7700", "0447700900123", "Acme!"] {
            assert_eq!(refused(Settings { from: bad.into(), ..settings() }, secrets()).field, "settings/from", "{bad}");
        }
        assert_eq!(
            refused(Settings { base_url: Some("ftp://rest.nexmo.com".into()), ..settings() }, secrets()).field,
            "settings/base_url"
        );
        assert_eq!(refused(settings(), Secrets { api_secret: "".into() }).field, "secrets/api_secret");
        assert!(serde_json::from_str::<Secrets>(r#"{ "api_secret": "x", "api_key": "y" }"#).is_err());
    }

    #[test]
    fn the_request_is_the_sms_apis_form() {
        let v = Vonage::new(Settings { from: "+447700900000".into(), ..settings() }, secrets(), &Options::default())
            .unwrap();
        assert_eq!(v.url.as_str(), "https://rest.nexmo.com/sms/json");
        assert_eq!(
            v.form("+447700900123", "Hi Ann, 10% off!"),
            [
                ("api_key", "a1b2c3d4"),
                ("api_secret", "Abcdef0123456789"),
                ("from", "447700900000"),
                ("to", "447700900123"),
                ("text", "Hi Ann, 10% off!"),
            ]
        );
        assert_eq!(v.form("0033612345678", "x")[3], ("to", "33612345678"));
        assert_eq!(v.form("447700900123", "Привет 👋").last(), Some(&("type", "unicode")));
        assert!(is_gsm7("Grüße, Ann! {50% off} €5 @ café"));
        assert!(!is_gsm7("Ciao 🎉"));
    }

    #[test]
    fn part_statuses_decide_the_outcome() {
        let outcome = |body: &str| serde_json::from_str::<Response>(body).unwrap().outcome(&sms());
        assert_eq!(
            outcome(r#"{"message-count":"1","messages":[{"to":"447700900123","message-id":"0A","status":"0"}]}"#),
            Delivery::Delivered
        );
        let Delivery::Retry { error, .. } = outcome(
            r#"{"message-count":"1","messages":[{"status":"1","error-text":"Throughput Rate Exceeded - please wait [ 30 ] and retry"}]}"#,
        ) else {
            panic!()
        };
        assert!(error.contains("status 1: Throughput Rate Exceeded"), "{error}");
        assert_eq!(
            outcome(
                r#"{"message-count":"1","messages":[{"status":"6","error-text":"Unroutable message - rejected"}]}"#
            ),
            Delivery::Failed { error: "vonage refused the message: status 6: Unroutable message - rejected".into() }
        );
        let Delivery::Failed { error } = outcome(
            r#"{"message-count":"2","messages":[{"status":"0","message-id":"0A"},{"status":"1","error-text":"Throttled"}]}"#,
        ) else {
            panic!()
        };
        assert!(error.contains("sent 1 of 2 parts") && error.contains("part 2"), "{error}");
        assert!(matches!(outcome(r#"{"message-count":"0","messages":[]}"#), Delivery::Uncertain { .. }));
    }
}
