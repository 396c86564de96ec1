//! Team notifications (the `slack` channel) through a Slack incoming webhook, or a
//! Slack-compatible one (Mattermost and Rocket.Chat take the same payload).
//!
//! The message is posted as JSON `{"text": …, "blocks": […]}` to the webhook's URL, which
//! is the secret: whoever holds it can post to the channel, so it never appears in logs,
//! errors or API answers. Slack answers `200 ok`; `400 invalid_payload` (or `no_text`,
//! `invalid_blocks`), `403 action_prohibited`, `404 channel_not_found` / `no_service` (the
//! webhook was removed) and `410 channel_is_archived` are permanent; `429` waits for its
//! `Retry-After`; `500 rollup_error` and other 5xx are retried. Slack does not deduplicate
//! webhook posts, so the channel is not idempotent.
//!
//! - Incoming webhooks: <https://api.slack.com/messaging/webhooks>
//! - Their errors: <https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks>
//! - Rate limits (about one message a second per webhook, then 429):
//!   <https://api.slack.com/apis/rate-limits>

use super::{ConfigError, Options, http};
use crate::nodes::send::{Channel, Rendered};
use crate::scheduler::{Deliver, Delivery};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The provider's name in configuration and errors.
pub const KIND: &str = "slack";
/// The message channel it delivers.
pub const CHANNEL: Channel = Channel::Slack;

/// Slack settings: there are none. An incoming webhook posts as the app that created it,
/// to the channel chosen when it was installed; Slack documents that the channel, user
/// name and icon cannot be overridden per message, so Kairos offers no such setting (use
/// one webhook per channel).
///
/// ```json
/// {}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

/// Slack secrets.
///
/// ```json
/// { "webhook_url": "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// The incoming webhook's URL (`https://hooks.slack.com/services/…`), from the Slack
    /// app's "Incoming Webhooks" page. Anyone with it can post to the channel: it is a secret.
    pub webhook_url: String,
}

/// Delivers `slack` messages to one incoming webhook.
pub struct Slack {
    client: reqwest::Client,
    url: reqwest::Url,
    concurrency: usize,
    timeout: std::time::Duration,
}

impl Slack {
    /// A Slack deliverer; the webhook URL must be an `https` (or, for a local receiver,
    /// `http`) address.
    pub fn new(settings: Settings, secrets: Secrets, options: &Options) -> Result<Self, ConfigError> {
        let Settings {} = settings;
        // The URL is the secret: the errors say what is wrong, never what it is.
        let field = "secrets/webhook_url";
        let raw = secrets.webhook_url.trim();
        if raw.is_empty() {
            return Err(ConfigError::new(field, "is empty; paste the incoming webhook's URL from the Slack app"));
        }
        let url = reqwest::Url::parse(raw).map_err(|_| {
            ConfigError::new(field, "is not a web address; it should look like https://hooks.slack.com/services/…")
        })?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::new(
                field,
                "must be an https:// address such as https://hooks.slack.com/services/…",
            ));
        }
        let client = http::provider_client(options)?;
        Ok(Slack { client, url, concurrency: options.concurrency.max(1), timeout: options.timeout })
    }

    /// The JSON Slack receives for a rendered message.
    pub fn payload(text: &str, blocks: Option<&Value>) -> Value {
        let mut body = Map::new();
        body.insert("text".into(), Value::String(text.to_string()));
        if let Some(b) = blocks {
            body.insert("blocks".into(), b.clone());
        }
        Value::Object(body)
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let Rendered::Slack { text, blocks } = &item.message else {
            return Delivery::Failed {
                error: format!(
                    "the slack provider delivers slack messages, not {}",
                    crate::store::channel_name(item.message.channel())
                ),
            };
        };
        let request = self.client.post(self.url.clone()).json(&Self::payload(text, blocks.as_ref()));
        let outcome = match http::answer(KIND, item, request.send().await, now, http::MAX_RETRY_AFTER).await {
            Ok(_) => Delivery::Delivered,
            Err(failure) => failure,
        };
        self.scrub(outcome)
    }

    /// The webhook URL out of an error text, should a library ever put it there.
    fn scrub(&self, delivery: Delivery) -> Delivery {
        let url = self.url.as_str();
        let path = self.url.path();
        let clean = |e: String| {
            let e = e.replace(url, super::REDACTED);
            if path.len() > 1 { e.replace(path, super::REDACTED) } else { e }
        };
        match delivery {
            d @ (Delivery::Delivered | Delivery::Responded { .. }) => d,
            Delivery::Retry { after, error } => Delivery::Retry { after, error: clean(error) },
            Delivery::Uncertain { after, error } => Delivery::Uncertain { after, error: clean(error) },
            Delivery::Failed { error } => Delivery::Failed { error: clean(error) },
        }
    }
}

#[async_trait::async_trait]
impl Deliver for Slack {
    async fn deliver(&self, _store: &Store, items: &[OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let sends: Vec<_> = items.iter().map(|i| self.send(i, now)).collect();
        futures::stream::iter(sends).buffered(self.concurrency).collect().await
    }

    /// Slack does not deduplicate webhook posts.
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
    use serde_json::json;

    #[test]
    fn the_doc_examples_parse_and_build() {
        let source = include_str!("slack.rs");
        let settings: Settings = doc_example(source, "/// Slack settings");
        let secrets: Secrets = doc_example(source, "/// Slack secrets");
        assert!(Slack::new(settings, secrets, &Options::default()).is_ok());
        assert!(serde_json::from_value::<Settings>(json!({ "username": "Kairos" })).is_err(), "no overrides");
    }

    #[test]
    fn a_bad_webhook_url_is_refused_without_repeating_it() {
        for bad in ["", "hooks.slack.com/services/T0/B0/sekrit", "ftp://hooks.slack.com/sekrit", "https://"] {
            let Err(e) = Slack::new(Settings {}, Secrets { webhook_url: bad.into() }, &Options::default()) else {
                panic!("{bad} was accepted")
            };
            assert_eq!(e.field, "secrets/webhook_url");
            assert!(!e.to_string().contains("sekrit"), "{e}");
        }
    }

    #[test]
    fn the_payload_is_text_and_blocks() {
        assert_eq!(Slack::payload("Hi *all*", None), json!({ "text": "Hi *all*" }));
        let blocks = json!([{ "type": "divider" }]);
        assert_eq!(Slack::payload("Hi", Some(&blocks)), json!({ "text": "Hi", "blocks": [{ "type": "divider" }] }));
    }
}
