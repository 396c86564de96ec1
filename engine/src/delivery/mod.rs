//! Real delivery: the channels that send outside the store, and the [`Router`] that
//! picks, per message channel, a configured deliverer or the built-in inbox.
//!
//! Nothing is configured by default: every channel delivers to the inbox
//! ([`crate::scheduler::Inbox`]). `kairos serve --deliver-webhooks` routes the webhook
//! channel to [`Webhook`] (HTTP with reqwest); email, SMS and push stay in the inbox.

pub mod http;
mod webhook;

pub use webhook::{Webhook, WebhookConfig};

use crate::nodes::send::{Channel, Rendered};
use crate::scheduler::Deliver;
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

/// Which deliverer each channel uses; channels without one go to the built-in inbox.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<(Channel, Arc<dyn Deliver>)>,
}

impl Router {
    /// Every channel to the inbox.
    pub fn inbox() -> Router {
        Router::default()
    }

    /// Send `channel`'s messages through `deliverer` (replacing an earlier route).
    pub fn route(mut self, channel: Channel, deliverer: Arc<dyn Deliver>) -> Router {
        self.routes.retain(|(c, _)| *c != channel);
        self.routes.push((channel, deliverer));
        self
    }

    /// The channels with a deliverer of their own, and those deliverers.
    pub fn routes(&self) -> &[(Channel, Arc<dyn Deliver>)] {
        &self.routes
    }

    /// The channels with a deliverer of their own.
    pub fn routed_channels(&self) -> Vec<Channel> {
        self.routes.iter().map(|(c, _)| *c).collect()
    }

    /// Whether `channel`'s messages leave through a real deliverer (else the inbox).
    pub fn is_routed(&self, channel: Channel) -> bool {
        self.routes.iter().any(|(c, _)| *c == channel)
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
        Rendered::Webhook { method, url, headers, body } => Rendered::Webhook {
            method: *method,
            url: redact_url(url),
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), if is_secret_header(k) { REDACTED.to_string() } else { v.clone() }))
                .collect(),
            body: body.clone(),
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
        };
        let Rendered::Webhook { url, headers, .. } = redacted(&m) else { unreachable!() };
        assert!(!url.contains("hunter2"), "{url}");
        assert_eq!(headers["Authorization"], REDACTED);
        assert_eq!(headers["X-Api-Key"], REDACTED);
        assert_eq!(headers["X-Auth-Token"], REDACTED);
        assert_eq!(headers["Content-Type"], "application/json");
    }
}
