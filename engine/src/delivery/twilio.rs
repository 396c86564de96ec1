//! SMS through Twilio's Programmable Messaging API.
//!
//! `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json` with HTTP Basic auth
//! (account SID : auth token) and the form fields `To` (the contact's `phone`), `From` or
//! `MessagingServiceSid`, and `Body`. Twilio answers `201 Created` with the message
//! resource, or an error `{"code", "message", "more_info", "status"}`:
//!
//! - `429` (code 20429) waits for `Retry-After` when Twilio sends one, else backs off;
//!   5xx are retried; code 21611 (the sender's queue is full) is retried too.
//! - Every other 4xx is permanent, e.g. 21211 (invalid `To`), 21610 (the recipient replied
//!   STOP), 21408 (no permission for the region), 20003 (wrong credentials); the error
//!   keeps Twilio's code, message and link.
//!
//! Twilio does not deduplicate message creation, so the channel is not idempotent.
//!
//! - Create a Message: <https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>
//! - Error format: <https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions>
//! - Error codes: <https://www.twilio.com/docs/api/errors>

use super::{ConfigError, Options, http};
use crate::nodes::send::{Channel, Rendered};
use crate::scheduler::{Deliver, Delivery};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The provider's name in configuration and errors.
pub const KIND: &str = "twilio";
/// The message channel it delivers.
pub const CHANNEL: Channel = Channel::Sms;

/// Twilio's API address.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Error codes that are worth retrying although Twilio answers them with a 4xx.
const TRANSIENT_CODES: &[u64] = &[
    20429, // Too many requests.
    21611, // This 'From' number has exceeded the maximum number of queued messages.
];

/// Twilio settings: the account and the sender, `from` or `messaging_service_sid` (exactly one).
///
/// ```json
/// { "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "from": "+15005550006" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The Account SID (`AC` and 32 hexadecimal characters), from the Twilio Console.
    pub account_sid: String,
    /// The sender: a Twilio phone number in E.164 form (`+15005550006`), a short code
    /// (`12345`) or an alphanumeric sender ID (`Acme`, up to 11 letters, digits and spaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A Messaging Service (`MG` and 32 hexadecimal characters) that picks the sender
    /// from its pool, instead of `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<String>,
    /// The API's address; defaults to `https://api.twilio.com`. Set it for a compatible
    /// service or a local test receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

/// Twilio secrets.
///
/// ```json
/// { "auth_token": "0123456789abcdef0123456789abcdef" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// The account's Auth Token, from the Twilio Console.
    pub auth_token: String,
}

/// Who the message is from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sender {
    From(String),
    Service(String),
}

/// Delivers SMS through one Twilio account.
pub struct Twilio {
    client: reqwest::Client,
    url: reqwest::Url,
    account_sid: String,
    auth_token: String,
    sender: Sender,
    concurrency: usize,
    timeout: std::time::Duration,
}

impl Twilio {
    pub fn new(settings: Settings, secrets: Secrets, options: &Options) -> Result<Self, ConfigError> {
        let account_sid = settings.account_sid.trim().to_string();
        if !is_sid(&account_sid, "AC") {
            return Err(ConfigError::new(
                "settings/account_sid",
                "expected `AC` followed by 32 hexadecimal characters, as shown in the Twilio Console",
            ));
        }
        let sender =
            match (settings.from.as_deref().map(str::trim), settings.messaging_service_sid.as_deref().map(str::trim)) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        "settings/messaging_service_sid",
                        "set either `from` or `messaging_service_sid`, not both",
                    ));
                }
                (None, None) => {
                    return Err(ConfigError::new(
                        "settings/from",
                        "set the sender: `from` (a Twilio number, short code or sender ID) or `messaging_service_sid`",
                    ));
                }
                (Some(from), None) => {
                    if let Some(problem) = sender_problem(from) {
                        return Err(ConfigError::new("settings/from", problem));
                    }
                    Sender::From(from.to_string())
                }
                (None, Some(sid)) => {
                    if !is_sid(sid, "MG") {
                        return Err(ConfigError::new(
                            "settings/messaging_service_sid",
                            "expected `MG` followed by 32 hexadecimal characters",
                        ));
                    }
                    Sender::Service(sid.to_string())
                }
            };
        let auth_token = secrets.auth_token.trim().to_string();
        if auth_token.is_empty() || auth_token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new("secrets/auth_token", "expected the Auth Token from the Twilio Console"));
        }
        let base = super::base_url(settings.base_url.as_deref(), DEFAULT_BASE_URL, "settings/base_url")?;
        let url = base
            .join(&format!("2010-04-01/Accounts/{account_sid}/Messages.json"))
            .map_err(|e| ConfigError::new("settings/base_url", format!("cannot be joined with the API path: {e}")))?;
        let client = http::provider_client(options)?;
        Ok(Twilio {
            client,
            url,
            account_sid,
            auth_token,
            sender,
            concurrency: options.concurrency.max(1),
            timeout: options.timeout,
        })
    }

    /// The form Twilio receives for an SMS to `to`.
    fn form<'a>(&'a self, to: &'a str, body: &'a str) -> Vec<(&'static str, &'a str)> {
        let sender = match &self.sender {
            Sender::From(from) => ("From", from.as_str()),
            Sender::Service(sid) => ("MessagingServiceSid", sid.as_str()),
        };
        vec![("To", to), sender, ("Body", body)]
    }

    fn request(&self, to: &str, body: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&self.form(to, body))
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let Rendered::Sms { to, body } = &item.message else {
            return Delivery::Failed {
                error: format!(
                    "the twilio provider delivers sms messages, not {}",
                    crate::store::channel_name(item.message.channel())
                ),
            };
        };
        let answer = match http::read(KIND, item, self.request(to, body).send().await).await {
            Ok(a) => a,
            Err(failure) => return failure,
        };
        if answer.status.is_success() {
            return Delivery::Delivered;
        }
        let error = TwilioError::parse(&answer.body);
        let text = match &error {
            Some(e) => format!("{KIND} answered {}: {}", answer.status, e.describe()),
            None => http::failure_text(KIND, answer.status, &answer.body),
        };
        match error {
            Some(e) if answer.status.is_client_error() && TRANSIENT_CODES.contains(&e.code) => Delivery::Retry {
                after: http::retry_after(item, &answer.headers, now, http::MAX_RETRY_AFTER),
                error: text,
            },
            _ => http::failure(item, &answer, text, now, http::MAX_RETRY_AFTER),
        }
    }
}

/// Twilio's error body.
#[derive(Debug, Deserialize)]
struct TwilioError {
    code: u64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    more_info: Option<String>,
}

impl TwilioError {
    fn parse(body: &str) -> Option<TwilioError> {
        serde_json::from_str(body).ok()
    }

    /// `error 21211: The 'To' number … is not a valid phone number. (https://www.twilio.com/docs/errors/21211)`
    fn describe(&self) -> String {
        let mut text = format!("error {}: {}", self.code, self.message.trim());
        if let Some(link) = self.more_info.as_deref().filter(|l| !l.is_empty()) {
            text.push_str(&format!(" ({link})"));
        }
        text
    }
}

/// `prefix` and 32 hexadecimal characters.
fn is_sid(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| rest.len() == 32 && rest.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What is wrong with a `From`, if anything: it must be an E.164 number, a short code or
/// an alphanumeric sender ID.
fn sender_problem(from: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if let Some(number) = from.strip_prefix('+') {
        return (!(digits(number) && (7..=15).contains(&number.len()) && !number.starts_with('0'))).then(|| {
            "a phone number must be in E.164 form: `+`, the country code and the number, 7 to 15 digits, no spaces"
                .into()
        });
    }
    if digits(from) {
        return (!(3..=8).contains(&from.len()))
            .then(|| "a short code has 3 to 8 digits; write a phone number as `+` and the country code".into());
    }
    let alphanumeric = (1..=11).contains(&from.chars().count())
        && from.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && from.chars().any(|c| c.is_ascii_alphabetic());
    (!alphanumeric).then(|| {
        "expected a Twilio phone number (`+15005550006`), a short code, or a sender ID of up to 11 letters, digits and spaces"
            .into()
    })
}

#[async_trait::async_trait]
impl Deliver for Twilio {
    async fn deliver(&self, _store: &Store, items: &[OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let sends: Vec<_> = items.iter().map(|i| self.send(i, now)).collect();
        futures::stream::iter(sends).buffered(self.concurrency).collect().await
    }

    /// Twilio does not deduplicate message creation.
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
    use crate::delivery::testing::doc_example;

    const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn settings() -> Settings {
        Settings {
            account_sid: SID.into(),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
            base_url: None,
        }
    }

    fn secrets() -> Secrets {
        Secrets { auth_token: "0123456789abcdef0123456789abcdef".into() }
    }

    fn refused(settings: Settings, secrets: Secrets) -> ConfigError {
        match Twilio::new(settings, secrets, &Options::default()) {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn the_doc_examples_parse_and_build() {
        let source = include_str!("twilio.rs");
        let settings: Settings = doc_example(source, "/// Twilio settings");
        let secrets: Secrets = doc_example(source, "/// Twilio secrets");
        assert_eq!(settings, self::settings());
        assert!(Twilio::new(settings, secrets, &Options::default()).is_ok());
    }

    #[test]
    fn bad_settings_are_refused_naming_the_field() {
        let e = refused(Settings { account_sid: "AC123".into(), ..settings() }, secrets());
        assert_eq!(e.field, "settings/account_sid");
        let e =
            refused(Settings { messaging_service_sid: Some(format!("MG{}", "b".repeat(32))), ..settings() }, secrets());
        assert_eq!(e.field, "settings/messaging_service_sid");
        assert!(e.message.contains("not both"), "{e}");
        let e = refused(Settings { from: None, ..settings() }, secrets());
        assert_eq!(e.field, "settings/from");
        for bad in ["+1 500 555 0006", "+0123456789", "15", "Acme Corporation", "Acme!", "+"] {
            let e = refused(Settings { from: Some(bad.into()), ..settings() }, secrets());
            assert_eq!(e.field, "settings/from", "{bad}");
        }
        for good in ["+447700900123", "12345", "Acme", "ACME Shop 1"] {
            assert!(
                Twilio::new(Settings { from: Some(good.into()), ..settings() }, secrets(), &Options::default()).is_ok()
            );
        }
        let e = refused(Settings { from: None, messaging_service_sid: Some("MGnope".into()), ..settings() }, secrets());
        assert_eq!(e.field, "settings/messaging_service_sid");
        let e = refused(Settings { base_url: Some("api.twilio.com".into()), ..settings() }, secrets());
        assert_eq!(e.field, "settings/base_url");
        let e = refused(settings(), Secrets { auth_token: " ".into() });
        assert_eq!(e.field, "secrets/auth_token");
        assert!(serde_json::from_str::<Settings>(r#"{ "account_sid": "AC", "sender": "x" }"#).is_err());
    }

    #[test]
    fn the_request_is_twilios_create_message() {
        let twilio = Twilio::new(
            Settings { base_url: Some("https://twilio.example.com/".into()), ..settings() },
            secrets(),
            &Options::default(),
        )
        .unwrap();
        let request = twilio.request("+447700900123", "Hi Ann & co: 10% off").build().unwrap();
        assert_eq!(request.method(), reqwest::Method::POST);
        assert_eq!(
            request.url().as_str(),
            format!("https://twilio.example.com/2010-04-01/Accounts/{SID}/Messages.json")
        );
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:0123456789abcdef0123456789abcdef"));
        assert_eq!(request.headers()["authorization"], format!("Basic {basic}").as_str());
        assert_eq!(request.headers()["content-type"], "application/x-www-form-urlencoded");
        let body = std::str::from_utf8(request.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body, "To=%2B447700900123&From=%2B15005550006&Body=Hi+Ann+%26+co%3A+10%25+off");

        let service = format!("MG{}", "c".repeat(32));
        let twilio = Twilio::new(
            Settings { from: None, messaging_service_sid: Some(service.clone()), ..settings() },
            secrets(),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(twilio.url.as_str(), format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"));
        assert_eq!(
            twilio.form("+1555", "x"),
            [("To", "+1555"), ("MessagingServiceSid", service.as_str()), ("Body", "x")]
        );
    }

    #[tokio::test]
    async fn a_message_of_another_channel_fails_without_a_request() {
        let twilio = Twilio::new(settings(), secrets(), &Options::default()).unwrap();
        let push = Rendered::Push { to: "tok".into(), title: "t".into(), body: "b".into(), url: None };
        let outcome = twilio.send(&crate::delivery::testing::item(push), Utc::now()).await;
        assert_eq!(outcome, Delivery::Failed { error: "the twilio provider delivers sms messages, not push".into() });
    }

    #[test]
    fn twilio_errors_read_as_code_message_and_link() {
        let e = TwilioError::parse(
            r#"{"code": 21211, "message": "The 'To' number 5551234 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
        )
        .unwrap();
        assert_eq!(
            e.describe(),
            "error 21211: The 'To' number 5551234 is not a valid phone number. (https://www.twilio.com/docs/errors/21211)"
        );
        assert!(TwilioError::parse("<html>Bad gateway</html>").is_none());
    }
}
