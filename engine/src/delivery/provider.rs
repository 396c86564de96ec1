//! Providers as a workspace configures them: which kind (SMTP, Postmark, Twilio, …),
//! its settings and secrets, whether it is its channel's default, its rate limit and its
//! delivery guarantee; and the one place that turns a configuration into a deliverer.

use super::{ConfigError, Options, fcm, postmark, resend, sendgrid, slack, smtp, twilio, vonage, webhook};
use crate::nodes::send::Channel;
use crate::scheduler::Deliver;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The kinds of provider Kairos can deliver through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Email over SMTP (STARTTLS or TLS).
    Smtp,
    /// Email through Postmark's API.
    Postmark,
    /// Email through Resend's API.
    Resend,
    /// Email through SendGrid's v3 API.
    Sendgrid,
    /// SMS through Twilio's Messages API.
    Twilio,
    /// SMS through Vonage's SMS API.
    Vonage,
    /// Push notifications through Firebase Cloud Messaging HTTP v1.
    Fcm,
    /// Team notifications to a Slack-compatible incoming webhook.
    Slack,
    /// HTTP requests as the journey's webhook node describes them.
    Webhook,
}

impl Kind {
    /// Every kind, in the order the editor lists them.
    pub const ALL: &'static [Kind] = &[
        Kind::Smtp,
        Kind::Postmark,
        Kind::Resend,
        Kind::Sendgrid,
        Kind::Twilio,
        Kind::Vonage,
        Kind::Fcm,
        Kind::Slack,
        Kind::Webhook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Smtp => smtp::KIND,
            Kind::Postmark => postmark::KIND,
            Kind::Resend => resend::KIND,
            Kind::Sendgrid => sendgrid::KIND,
            Kind::Twilio => twilio::KIND,
            Kind::Vonage => vonage::KIND,
            Kind::Fcm => fcm::KIND,
            Kind::Slack => slack::KIND,
            Kind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// The channel this kind delivers.
    pub fn channel(self) -> Channel {
        match self {
            Kind::Smtp => smtp::CHANNEL,
            Kind::Postmark => postmark::CHANNEL,
            Kind::Resend => resend::CHANNEL,
            Kind::Sendgrid => sendgrid::CHANNEL,
            Kind::Twilio => twilio::CHANNEL,
            Kind::Vonage => vonage::CHANNEL,
            Kind::Fcm => fcm::CHANNEL,
            Kind::Slack => slack::CHANNEL,
            Kind::Webhook => Channel::Webhook,
        }
    }

    /// What a user reads about this kind.
    pub fn description(self) -> &'static str {
        match self {
            Kind::Smtp => "Email over SMTP (STARTTLS or TLS) with lettre; Message-ID from the idempotency key",
            Kind::Postmark => "Email through Postmark's API (POST /email)",
            Kind::Resend => "Email through Resend's API (POST /emails) with its Idempotency-Key",
            Kind::Sendgrid => "Email through SendGrid's v3 Mail Send API",
            Kind::Twilio => "SMS through Twilio's Messages API",
            Kind::Vonage => "SMS through Vonage's SMS API",
            Kind::Fcm => "Push notifications through Firebase Cloud Messaging HTTP v1 (a service account key)",
            Kind::Slack => "Team notifications (the slack channel) to a Slack-compatible incoming webhook",
            Kind::Webhook => "HTTP requests to the URL each webhook node names, with its Idempotency-Key",
        }
    }

    /// Whether the provider deduplicates by the idempotency key Kairos sends, so a
    /// re-send after a crash is harmless.
    pub fn idempotent(self) -> bool {
        matches!(self, Kind::Resend | Kind::Webhook)
    }

    /// JSON Schemas of the settings and the secrets.
    pub fn schemas(self) -> (Value, Value) {
        fn of<T: JsonSchema>() -> Value {
            serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
        }
        match self {
            Kind::Smtp => (of::<smtp::Settings>(), of::<smtp::Secrets>()),
            Kind::Postmark => (of::<postmark::Settings>(), of::<postmark::Secrets>()),
            Kind::Resend => (of::<resend::Settings>(), of::<resend::Secrets>()),
            Kind::Sendgrid => (of::<sendgrid::Settings>(), of::<sendgrid::Secrets>()),
            Kind::Twilio => (of::<twilio::Settings>(), of::<twilio::Secrets>()),
            Kind::Vonage => (of::<vonage::Settings>(), of::<vonage::Secrets>()),
            Kind::Fcm => (of::<fcm::Settings>(), of::<fcm::Secrets>()),
            Kind::Slack => (of::<slack::Settings>(), of::<slack::Secrets>()),
            Kind::Webhook => (of::<webhook::Settings>(), of::<webhook::Secrets>()),
        }
    }

    /// The names of the secret fields (the API says which are set, never their values).
    pub fn secret_fields(self) -> Vec<String> {
        let (_, secrets) = self.schemas();
        secrets.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default()
    }

    /// Check settings and secrets, and build the deliverer.
    pub fn build(
        self,
        settings: &Value,
        secrets: &Map<String, Value>,
        options: &Options,
    ) -> Result<Arc<dyn Deliver>, ConfigError> {
        let secrets = Value::Object(secrets.clone());
        macro_rules! build {
            ($m:ident, $t:ty) => {{
                let settings: $m::Settings = parse("settings", settings)?;
                let secrets: $m::Secrets = parse("secrets", &secrets)?;
                Ok(Arc::new(<$t>::new(settings, secrets, options)?) as Arc<dyn Deliver>)
            }};
        }
        match self {
            Kind::Smtp => build!(smtp, smtp::Smtp),
            Kind::Postmark => build!(postmark, postmark::Postmark),
            Kind::Resend => build!(resend, resend::Resend),
            Kind::Sendgrid => build!(sendgrid, sendgrid::Sendgrid),
            Kind::Twilio => build!(twilio, twilio::Twilio),
            Kind::Vonage => build!(vonage, vonage::Vonage),
            Kind::Fcm => build!(fcm, fcm::Fcm),
            Kind::Slack => build!(slack, slack::Slack),
            Kind::Webhook => {
                let _: webhook::Settings = parse("settings", settings)?;
                let _: webhook::Secrets = parse("secrets", &secrets)?;
                let w = webhook::Webhook::new(webhook::WebhookConfig {
                    timeout: options.timeout,
                    concurrency: options.concurrency,
                    ..Default::default()
                })
                .map_err(|e| ConfigError::new("settings", format!("the HTTP client cannot be built: {e}")))?;
                Ok(Arc::new(w))
            }
        }
    }
}

/// Parse `value` as `T`, naming the field that is wrong (`settings/from`).
pub fn parse<T: DeserializeOwned>(part: &str, value: &Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            part.to_string()
        } else {
            format!("{part}/{}", path.replace('.', "/"))
        };
        let mut message = e.into_inner().to_string();
        // serde quotes the offending value in these; a secret's value must never be echoed.
        if part == "secrets"
            && ["invalid type", "invalid value", "invalid length"].iter().any(|p| message.starts_with(p))
        {
            message = "is not of the expected type (a secret is written as a string)".to_string();
        }
        ConfigError::new(field, message)
    })
}

/// What a provider promises about duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// Retry until delivered, re-sending with the same idempotency key after a crash or
    /// an uncertain attempt (a timeout): right for providers that deduplicate by key.
    #[default]
    AtLeastOnce,
    /// Never send twice: a message whose attempt may have reached the provider (a timeout,
    /// or a crash before the outcome was recorded) becomes `unknown` and is reported
    /// instead of retried. For providers without idempotency keys.
    AtMostOnce,
}

impl Guarantee {
    pub fn name(self) -> &'static str {
        match self {
            Guarantee::AtLeastOnce => "at_least_once",
            Guarantee::AtMostOnce => "at_most_once",
        }
    }

    pub fn parse(s: &str) -> Option<Guarantee> {
        match s {
            "at_least_once" => Some(Guarantee::AtLeastOnce),
            "at_most_once" => Some(Guarantee::AtMostOnce),
            _ => None,
        }
    }
}

/// A token bucket: at most `per_second` messages a second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Messages per second on average (e.g. 100; 0.5 is one message every two seconds).
    pub per_second: f64,
    /// Most messages sent at once after a quiet spell (at least 1).
    pub burst: u32,
}

/// A provider's whole configuration, secrets included (in memory only: stored sealed,
/// never returned by the API).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Its id: lowercase letters, digits, `-` and `_` (send nodes name it).
    pub id: String,
    pub name: String,
    pub kind: Kind,
    /// The channel's default provider: messages that name none go through it.
    pub is_default: bool,
    pub rate_limit: Option<RateLimit>,
    pub guarantee: Guarantee,
    pub settings: Value,
    pub secrets: Map<String, Value>,
}

impl Config {
    pub fn channel(&self) -> Channel {
        self.kind.channel()
    }

    /// Every problem with the configuration that can be seen without sending: the id,
    /// the rate limit, and the kind's settings and secrets.
    pub fn check(&self, options: &Options) -> Result<Arc<dyn Deliver>, ConfigError> {
        check_id(&self.id)?;
        if self.name.trim().is_empty() {
            return Err(ConfigError::new("name", "give the provider a name"));
        }
        if let Some(r) = &self.rate_limit {
            if !(r.per_second.is_finite() && r.per_second > 0.0) {
                return Err(ConfigError::new("rate_limit/per_second", "must be a number above 0"));
            }
            if r.burst == 0 {
                return Err(ConfigError::new("rate_limit/burst", "must be at least 1"));
            }
            // The store keeps it as a 32-bit signed integer: larger was silently cut down.
            if r.burst > i32::MAX as u32 {
                return Err(ConfigError::new("rate_limit/burst", format!("must be at most {}", i32::MAX)));
            }
        }
        self.kind.build(&self.settings, &self.secrets, options)
    }
}

/// A provider id: 1–64 of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
pub fn check_id(id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            "id",
            format!("`{id}` is not a provider id: use 1 to 64 lowercase letters, digits, `-` or `_`"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(settings: Value, secrets: Value) -> Config {
        Config {
            id: "hooks".into(),
            name: "Hooks".into(),
            kind: Kind::Webhook,
            is_default: true,
            rate_limit: Some(RateLimit { per_second: 10.0, burst: 5 }),
            guarantee: Guarantee::AtLeastOnce,
            settings,
            secrets: secrets.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn configurations_are_checked_field_by_field() {
        let options = Options::default();
        assert!(config(json!({}), json!({})).check(&options).is_ok());
        let e = config(json!({ "nope": 1 }), json!({})).check(&options).err().unwrap();
        assert!(e.field.starts_with("settings"), "{e}");
        assert!(e.message.contains("nope"), "{e}");
        let mut c = config(json!({}), json!({}));
        c.id = "Bad Id".into();
        assert_eq!(c.check(&options).err().unwrap().field, "id");
        let mut c = config(json!({}), json!({}));
        c.rate_limit = Some(RateLimit { per_second: 0.0, burst: 1 });
        assert_eq!(c.check(&options).err().unwrap().field, "rate_limit/per_second");
        c.rate_limit = Some(RateLimit { per_second: 1.0, burst: 0 });
        assert_eq!(c.check(&options).err().unwrap().field, "rate_limit/burst");
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_named_but_never_echoed() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            port: u16,
        }
        let e = parse::<S>("secrets", &json!({ "port": "sk-live-123" })).unwrap_err();
        assert_eq!(e.field, "secrets/port");
        assert!(!e.message.contains("sk-live-123"), "{e}");
        let e = parse::<S>("settings", &json!({ "port": "x" })).unwrap_err();
        assert!(e.message.contains("invalid type"), "settings keep serde's words: {e}");
    }

    #[test]
    fn every_kind_has_schemas_and_a_name_that_round_trips() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.name()), Some(*k));
            let (settings, secrets) = k.schemas();
            assert!(settings.is_object() && secrets.is_object());
        }
        assert_eq!(Kind::parse("carrier_pigeon"), None);
    }
}
