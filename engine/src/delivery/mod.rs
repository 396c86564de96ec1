//! Real delivery: the channels that send outside the store, and the [`Router`] that
//! picks, per message channel, a configured deliverer or the built-in inbox.
//!
//! Providers are configured per workspace ([`provider::Config`], stored with sealed
//! secrets, loaded by the [`Registry`]). A message goes through the provider its send
//! node names, else its channel's default provider, else the built-in inbox
//! ([`crate::scheduler::Inbox`]). `kairos serve --deliver-webhooks` makes [`Webhook`]
//! the webhook channel's default without any configuration.
//!
//! Providers, one file each, with non-secret `Settings`, `Secrets` and a deliverer built
//! by `new(settings, secrets, &options)`: [`smtp`], [`postmark`], [`resend`], [`sendgrid`]
//! (email), [`twilio`], [`vonage`] (SMS), [`fcm`] (push), [`slack`] (team notifications).

pub mod email;
pub mod fcm;
pub mod http;
pub mod limit;
pub mod postmark;
pub mod provider;
pub mod resend;
pub mod sendgrid;
pub mod slack;
pub mod smtp;
pub mod twilio;
pub mod vonage;
pub mod webhook;

pub use webhook::{Webhook, WebhookConfig};

pub mod registry;

pub use registry::Registry;

use crate::nodes::send::{Channel, Rendered};
use crate::scheduler::Deliver;
use crate::store::Lane;
use limit::TokenBucket;
use provider::{Config, Guarantee};
use std::sync::Arc;

/// How a provider's deliverer runs, whatever the provider.
#[derive(Debug, Clone)]
pub struct Options {
    /// Longest a request may take, connection to the end of the response.
    pub timeout: std::time::Duration,
    /// Requests in flight at once (also the most messages leased together).
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { timeout: std::time::Duration::from_secs(10), concurrency: 16 }
    }
}

/// A provider configuration that cannot work: the field (`settings/from`,
/// `secrets/api_key`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { field: field.into(), message: message.into() }
    }
}

/// A provider's API address: `configured` (the `field` of its settings) or `default`,
/// an `http` or `https` URL ending in `/`, so that API paths join below it.
pub fn base_url(configured: Option<&str>, default: &str, field: &str) -> Result<reqwest::Url, ConfigError> {
    let raw = configured.map(str::trim).filter(|s| !s.is_empty()).unwrap_or(default);
    let mut url = reqwest::Url::parse(raw)
        .map_err(|e| ConfigError::new(field, format!("is not a web address ({e}); expected e.g. `{default}`")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(field, format!("must be an http:// or https:// address such as `{default}`")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(field, "must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Where one provider's messages go, and how fast and how safely.
#[derive(Clone)]
pub struct Route {
    /// The configured provider's id; none for a channel default set up in code (the
    /// `--deliver-webhooks` flag, tests).
    pub provider: Option<String>,
    pub channel: Channel,
    /// Messages of the channel that name no provider go here.
    pub is_default: bool,
    pub deliverer: Arc<dyn Deliver>,
    pub limiter: Option<Arc<TokenBucket>>,
    pub guarantee: Guarantee,
}

impl Route {
    /// Which outbox messages this route takes.
    pub fn lane(&self) -> Lane {
        Lane::Route { channel: self.channel, provider: self.provider.clone(), default: self.is_default }
    }

    /// A name for logs.
    pub fn name(&self) -> String {
        match &self.provider {
            Some(p) => format!("provider:{p}"),
            None => format!("channel:{}", crate::store::channel_name(self.channel)),
        }
    }
}

/// Which deliverer each message uses: the provider it names, else its channel's default
/// provider, else the built-in inbox.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
    /// Configured provider ids (from the store); a message naming another is failed.
    known: Vec<String>,
}

impl Router {
    /// Every channel to the inbox.
    pub fn inbox() -> Router {
        Router::default()
    }

    /// Send `channel`'s messages that name no provider through `deliverer` (replacing the
    /// channel's earlier default).
    pub fn route(mut self, channel: Channel, deliverer: Arc<dyn Deliver>) -> Router {
        for r in &mut self.routes {
            if r.channel == channel {
                r.is_default = false;
            }
        }
        self.routes.retain(|r| r.provider.is_some() || r.channel != channel);
        self.routes.push(Route {
            provider: None,
            channel,
            is_default: true,
            deliverer,
            limiter: None,
            guarantee: Guarantee::AtLeastOnce,
        });
        self
    }

    /// Add a configured provider (a default one replaces the channel's earlier default).
    pub fn provider(mut self, config: &Config, deliverer: Arc<dyn Deliver>) -> Router {
        let channel = config.channel();
        if config.is_default {
            for r in &mut self.routes {
                if r.channel == channel {
                    r.is_default = false;
                }
            }
            self.routes.retain(|r| r.provider.is_some() || r.channel != channel);
        }
        self.routes.retain(|r| r.provider.as_deref() != Some(config.id.as_str()));
        self.known.push(config.id.clone());
        self.routes.push(Route {
            provider: Some(config.id.clone()),
            channel,
            is_default: config.is_default,
            deliverer,
            limiter: config.rate_limit.map(|l| Arc::new(TokenBucket::new(l))),
            guarantee: config.guarantee,
        });
        self
    }

    /// A stored provider that cannot be read: its messages wait and are retried, so
    /// fixing it (or the key) still sends them.
    pub fn misconfigured(mut self, p: &crate::store::UnreadableProvider) -> Router {
        self.known.push(p.id.clone());
        let Some(kind) = p.kind else { return self };
        let config = Config {
            id: p.id.clone(),
            name: p.id.clone(),
            kind,
            is_default: p.is_default,
            rate_limit: None,
            guarantee: Guarantee::AtLeastOnce,
            settings: serde_json::Value::Null,
            secrets: Default::default(),
        };
        self.provider(&config, Arc::new(Misconfigured { provider: p.id.clone(), error: p.error.clone() }))
    }

    /// Every route.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The channels with a default deliverer of their own (the others go to the inbox).
    pub fn routed_channels(&self) -> Vec<Channel> {
        self.routes.iter().filter(|r| r.is_default).map(|r| r.channel).collect()
    }

    /// Whether `channel`'s messages that name no provider leave through a real deliverer.
    pub fn is_routed(&self, channel: Channel) -> bool {
        self.routes.iter().any(|r| r.channel == channel && r.is_default)
    }

    /// The messages for the built-in inbox: no provider named, no default for the channel.
    pub fn inbox_lane(&self) -> Lane {
        Lane::Inbox { defaulted: self.routed_channels() }
    }

    /// The messages naming a provider that is not configured.
    pub fn orphan_lane(&self, created_before: chrono::DateTime<chrono::Utc>) -> Lane {
        Lane::Orphans { known: self.known.clone(), created_before }
    }
}

/// A deliverer for a provider whose configuration cannot work (say, its secrets cannot be
/// decrypted): its messages are retried, so fixing the configuration still sends them.
pub struct Misconfigured {
    pub provider: String,
    pub error: String,
}

#[async_trait::async_trait]
impl Deliver for Misconfigured {
    async fn deliver(
        &self,
        _store: &crate::store::Store,
        items: &[crate::store::OutboxItem],
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<crate::scheduler::Delivery> {
        items
            .iter()
            .map(|i| http::retry(i, format!("provider `{}` is misconfigured: {}", self.provider, self.error)))
            .collect()
    }
}

/// What replaces a secret in what Kairos shows or logs.
pub const REDACTED: &str = "[redacted]";

/// Whether a header's value is a secret: credentials, cookies, tokens, keys, signatures.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(n.as_str(), "authorization" | "proxy-authorization" | "cookie" | "set-cookie")
        || ["token", "secret", "password", "api-key", "apikey", "api_key", "signature", "auth"]
            .iter()
            .any(|w| n.contains(w))
}

/// A message as it may be shown in the API or logs: the values of secret webhook headers
/// and a password in the URL are replaced by [`REDACTED`].
pub fn redacted(message: &Rendered) -> Rendered {
    match message {
        Rendered::Webhook { method, url, headers, body, success } => Rendered::Webhook {
            method: *method,
            url: redact_url(url),
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), if is_secret_header(k) { REDACTED.to_string() } else { v.clone() }))
                .collect(),
            body: body.clone(),
            success: success.clone(),
        },
        other => other.clone(),
    }
}

/// A URL with the password of its user info (`https://user:secret@host`) redacted.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some(REDACTED));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// What every provider's unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    /// The JSON example in the doc comment that starts with `heading` in `source`.
    pub fn doc_example<T: serde::de::DeserializeOwned>(source: &str, heading: &str) -> T {
        let block = &source[source.find(heading).unwrap_or_else(|| panic!("no `{heading}`"))..];
        let start = block.find("/// ```json\n").expect("a JSON example") + "/// ```json\n".len();
        let end = block[start..].find("/// ```").expect("the end of the example");
        let json: String = block[start..start + end]
            .lines()
            .map(|l| l.trim_start().trim_start_matches("///"))
            .collect::<Vec<_>>()
            .join("\n");
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("the example of `{heading}` does not parse: {e}"))
    }

    /// An outbox item of `message` on its first attempt.
    pub fn item(message: crate::nodes::send::Rendered) -> crate::store::OutboxItem {
        crate::store::OutboxItem {
            id: 1,
            key: "run-1:send:1".into(),
            run_id: "run-1".into(),
            workflow_id: "notify".into(),
            contact_id: "ann".into(),
            node: "send".into(),
            message,
            attempts: 1,
            recorded_attempts: 0,
            provider: None,
            awaited: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::send::Method;
    use std::collections::BTreeMap;

    #[test]
    fn secret_headers_and_url_passwords_are_redacted() {
        let headers: BTreeMap<String, String> = [
            ("Authorization", "Bearer s3cret"),
            ("X-Api-Key", "k"),
            ("X-Auth-Token", "t"),
            ("Content-Type", "application/json"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = Rendered::Webhook {
            method: Method::Post,
            url: "https://bob:hunter2@hooks.example.com/x".into(),
            headers,
            body: None,
            success: vec![],
        };
        let Rendered::Webhook { url, headers, .. } = redacted(&m) else { unreachable!() };
        assert!(!url.contains("hunter2"), "{url}");
        assert_eq!(headers["Authorization"], REDACTED);
        assert_eq!(headers["X-Api-Key"], REDACTED);
        assert_eq!(headers["X-Auth-Token"], REDACTED);
        assert_eq!(headers["Content-Type"], "application/json");
    }
}
