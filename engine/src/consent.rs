//! Consent: what a contact agreed to receive, and the links that let them change it.
//!
//! - Each contact is **subscribed** to every messaging channel (email, SMS, push) until
//!   they unsubscribe from it, and to every **topic** (a workspace-defined marketing
//!   category, such as `newsletter` or `product-updates`) until they opt out of it.
//! - An email **address** is suppressed by a hard bounce or a spam complaint reported by
//!   the email provider: nothing more is sent to it, not even transactional email.
//! - A **marketing** send (the default) goes only to a contact subscribed to its channel
//!   and its topic, at an address not suppressed; a **transactional** send ignores
//!   channel and topic opt-outs, but never goes to a suppressed address.
//!
//! The contact snapshot the step function sees carries its [`Subscriptions`], so the
//! step decides purely ([`Subscriptions::check`]); the dispatcher checks the same rules
//! again against the store just before delivery, so an unsubscribe that arrives while a
//! message waits in the outbox still wins.
//!
//! [`Links`] signs what the public pages accept: unsubscribe links (per contact, channel
//! and topic) and the email providers' bounce and complaint webhook URLs.

use crate::nodes::send;
use crate::secrets::Key;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A channel a contact can subscribe to: the channels that message the contact (a
/// webhook calls a system and Slack notifies a team, not the contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

    /// The channel a send's consent is about; a webhook's or Slack message's is none.
    pub fn of(channel: send::Channel) -> Option<Channel> {
        match channel {
            send::Channel::Email => Some(Channel::Email),
            send::Channel::Sms => Some(Channel::Sms),
            send::Channel::Push => Some(Channel::Push),
            send::Channel::Webhook | send::Channel::Slack => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == s)
    }

    /// How people call the channel's messages: "email", "text messages", "push notifications".
    pub fn messages(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "text messages",
            Channel::Push => "push notifications",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a contact receives a channel's or a topic's marketing messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Receives them (the default).
    #[default]
    Subscribed,
    /// Unsubscribed (from a channel) or opted out (of a topic): receives only
    /// transactional messages there.
    Unsubscribed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Subscribed => "subscribed",
            Status::Unsubscribed => "unsubscribed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "subscribed" => Some(Status::Subscribed),
            "unsubscribed" => Some(Status::Unsubscribed),
            _ => None,
        }
    }
}

/// What a contact agreed to receive: per channel and per topic, subscribed unless
/// listed as `unsubscribed`; and whether their email address is suppressed.
///
/// ```json
/// { "channels": { "email": "unsubscribed" }, "topics": { "newsletter": "unsubscribed" } }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscriptions {
    /// Status per channel (`email`, `sms`, `push`); a channel not listed is subscribed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<Channel, Status>,
    /// Status per topic id; a topic not listed is subscribed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub topics: BTreeMap<String, Status>,
    /// The contact's email address is on the suppression list (it hard-bounced, or a
    /// message to it was reported as spam): no email goes to it, transactional or not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub email_suppressed: bool,
}

impl Subscriptions {
    pub fn is_empty(&self) -> bool {
        *self == Subscriptions::default()
    }

    pub fn channel(&self, channel: Channel) -> Status {
        self.channels.get(&channel).copied().unwrap_or_default()
    }

    pub fn topic(&self, topic: &str) -> Status {
        self.topics.get(topic).copied().unwrap_or_default()
    }

    /// May a message on `channel` (transactional or marketing, about `topic`) go to this
    /// contact? The first rule that refuses it says why.
    pub fn check(&self, channel: send::Channel, transactional: bool, topic: Option<&str>) -> Result<(), Blocked> {
        if channel == send::Channel::Email && self.email_suppressed {
            return Err(Blocked::Suppressed);
        }
        if transactional {
            return Ok(());
        }
        if let Some(c) = Channel::of(channel)
            && self.channel(c) == Status::Unsubscribed
        {
            return Err(Blocked::Unsubscribed(c));
        }
        match topic {
            Some(t) if self.topic(t) == Status::Unsubscribed => Err(Blocked::OptedOut(t.to_string())),
            _ => Ok(()),
        }
    }
}

/// Why a message may not go to a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The email address is suppressed (a hard bounce or a spam complaint).
    Suppressed,
    /// The contact unsubscribed from the channel (a marketing message).
    Unsubscribed(Channel),
    /// The contact opted out of the topic (a marketing message).
    OptedOut(String),
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocked::Suppressed => f.write_str(
                "the contact's email address is suppressed (it hard-bounced or a message was reported as spam); \
                 no email goes to it, not even transactional",
            ),
            Blocked::Unsubscribed(c) => write!(
                f,
                "the contact unsubscribed from {}; only transactional messages go to them there",
                c.messages()
            ),
            Blocked::OptedOut(t) => write!(f, "the contact opted out of the topic `{t}`"),
        }
    }
}

/// The address form suppression compares: what is inside `<…>` if anything, trimmed and
/// lowercased (`Ann <Ann@Example.com>` → `ann@example.com`).
pub fn normalize_email(address: &str) -> String {
    let a = address.trim();
    let inner = match (a.rfind('<'), a.rfind('>')) {
        (Some(open), Some(close)) if open < close => &a[open + 1..close],
        _ => a,
    };
    inner.trim().to_lowercase()
}

/// A problem at each send of `journey` whose `topic` is not one of the workspace's
/// (`known`, by id), at that node's `/topic`.
pub fn unknown_topics(journey: &crate::Journey, known: &std::collections::HashSet<String>) -> Vec<crate::Problem> {
    let mut list: Vec<&String> = known.iter().collect();
    list.sort();
    let choices = match list.as_slice() {
        [] => "the workspace has no topics yet".to_string(),
        ids => format!("the topics are {}", ids.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")),
    };
    journey
        .workflow()
        .nodes
        .iter()
        .filter_map(|node| match node {
            crate::nodes::Node::Send(s) => s.topic.as_ref().filter(|t| !known.contains(*t)).map(|t| (s, t)),
            _ => None,
        })
        .map(|(send, topic)| {
            let pointer = format!("{}/topic", journey.pointer_of(&send.id).unwrap_or_default());
            crate::Problem::new(
                crate::problem::Kind::InvalidValue,
                pointer,
                format!("there is no topic `{topic}` ({choices}); create it under Settings → Topics or name another"),
            )
            .at_node(&send.id)
        })
        .collect()
}

// ----- Signed links -----

/// What an unsubscribe link unsubscribes: a contact from a channel, or from one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub contact: String,
    pub channel: Channel,
    /// The send's topic: the link opts out of it alone.
    pub topic: Option<String>,
}

/// Signs and checks the links Kairos hands out, under the server's public address
/// (`KAIROS_PUBLIC_URL`) with the workspace key. Pure: the step function renders
/// `{{unsubscribe_url}}` with it.
#[derive(Clone, Debug)]
pub struct Links {
    base: String,
    key: Key,
}

/// Signing purpose of unsubscribe links.
const UNSUBSCRIBE: &str = "unsubscribe";
/// Signing purpose of the email providers' webhook URLs.
const EMAIL_EVENTS: &str = "email-events";

impl Links {
    /// Links under `public_url` (e.g. `https://kairos.example.com`), signed with `key`.
    pub fn new(public_url: &str, key: Key) -> Links {
        Links { base: public_url.trim().trim_end_matches('/').to_string(), key }
    }

    /// The links of simulations, previews without a server and `kairos test`: stable,
    /// under `https://kairos.invalid` (a name that never resolves), signed with a fixed key
    /// no server uses.
    pub fn offline() -> Links {
        let key = Key::parse(&"00".repeat(crate::secrets::KEY_LEN)).expect("a valid constant key");
        Links::new("https://kairos.invalid", key)
    }

    /// The public address links start with.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token of an unsubscribe link: the target (base64url JSON) and its signature.
    pub fn unsubscribe_token(&self, target: &Unsubscribe) -> String {
        let payload = serde_json::json!([target.contact, target.channel.name(), target.topic]).to_string();
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let signature = self.key.sign(UNSUBSCRIBE, &payload);
        format!("{payload}.{signature}")
    }

    /// `<public url>/unsubscribe/<token>`.
    pub fn unsubscribe_url(&self, target: &Unsubscribe) -> String {
        format!("{}/unsubscribe/{}", self.base, self.unsubscribe_token(target))
    }

    /// What a token unsubscribes, if this key signed it; `None` for anything forged,
    /// tampered with or malformed.
    pub fn verify_unsubscribe(&self, token: &str) -> Option<Unsubscribe> {
        let (payload, signature) = token.split_once('.')?;
        if !self.key.verify(UNSUBSCRIBE, payload, signature) {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let (contact, channel, topic): (String, String, Option<String>) = serde_json::from_slice(&bytes).ok()?;
        Some(Unsubscribe { contact, channel: Channel::parse(&channel)?, topic })
    }

    /// The secret part of an email provider's webhook URL.
    pub fn email_events_token(&self, provider: &str) -> String {
        self.key.sign(EMAIL_EVENTS, provider)
    }

    /// `<public url>/hooks/email/<provider>/<token>`: where the provider posts bounces and complaints.
    pub fn email_events_url(&self, provider: &str) -> String {
        format!("{}/hooks/email/{provider}/{}", self.base, self.email_events_token(provider))
    }

    pub fn verify_email_events(&self, provider: &str, token: &str) -> bool {
        self.key.verify(EMAIL_EVENTS, provider, token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use send::Channel as Send;

    fn subs(json: serde_json::Value) -> Subscriptions {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn everyone_is_subscribed_until_they_unsubscribe() {
        let s = Subscriptions::default();
        for c in [Send::Email, Send::Sms, Send::Push, Send::Webhook] {
            assert_eq!(s.check(c, false, Some("newsletter")), Ok(()));
        }
        assert!(s.is_empty());
    }

    #[test]
    fn marketing_respects_channel_and_topic_opt_outs_and_transactional_ignores_them() {
        let s = subs(serde_json::json!({ "channels": { "email": "unsubscribed", "sms": "subscribed" },
                                         "topics": { "newsletter": "unsubscribed", "tips": "subscribed" } }));
        assert_eq!(s.check(Send::Email, false, None), Err(Blocked::Unsubscribed(Channel::Email)));
        assert_eq!(s.check(Send::Email, true, None), Ok(()));
        assert_eq!(s.check(Send::Sms, false, None), Ok(()));
        assert_eq!(s.check(Send::Sms, false, Some("newsletter")), Err(Blocked::OptedOut("newsletter".into())));
        assert_eq!(s.check(Send::Sms, true, Some("newsletter")), Ok(()));
        assert_eq!(s.check(Send::Push, false, Some("tips")), Ok(()));
        // A webhook is not a message to the contact: no channel opt-out applies.
        assert_eq!(s.check(Send::Webhook, false, None), Ok(()));
        assert!(Blocked::Unsubscribed(Channel::Email).to_string().contains("unsubscribed from email"));
        assert!(Blocked::OptedOut("newsletter".into()).to_string().contains("`newsletter`"));
    }

    #[test]
    fn a_suppressed_address_gets_no_email_at_all_but_other_channels_still_go() {
        let s = subs(serde_json::json!({ "email_suppressed": true }));
        assert_eq!(s.check(Send::Email, false, None), Err(Blocked::Suppressed));
        assert_eq!(s.check(Send::Email, true, None), Err(Blocked::Suppressed));
        assert_eq!(s.check(Send::Sms, false, None), Ok(()));
        assert!(Blocked::Suppressed.to_string().contains("not even transactional"));
    }

    #[test]
    fn unknown_fields_and_statuses_are_refused() {
        assert!(serde_json::from_value::<Subscriptions>(serde_json::json!({ "chanels": {} })).is_err());
        assert!(
            serde_json::from_value::<Subscriptions>(serde_json::json!({ "channels": { "fax": "subscribed" } }))
                .is_err()
        );
        assert!(
            serde_json::from_value::<Subscriptions>(serde_json::json!({ "channels": { "email": "maybe" } })).is_err()
        );
    }

    #[test]
    fn addresses_compare_by_their_mailbox_in_lowercase() {
        assert_eq!(normalize_email(" Ann@Example.COM "), "ann@example.com");
        assert_eq!(normalize_email("Ann Lee <Ann@Example.com>"), "ann@example.com");
    }

    #[test]
    fn unsubscribe_tokens_round_trip_and_refuse_forgeries() {
        let links = Links::new("https://k.example.com/", Key::generate());
        let target = Unsubscribe { contact: "ann/é:1".into(), channel: Channel::Email, topic: Some("news".into()) };
        let url = links.unsubscribe_url(&target);
        assert!(url.starts_with("https://k.example.com/unsubscribe/"), "{url}");
        let token = url.rsplit('/').next().unwrap();
        assert_eq!(links.verify_unsubscribe(token), Some(target.clone()));
        // Another key, another target with this signature, garbage: refused.
        assert_eq!(Links::new("https://k.example.com", Key::generate()).verify_unsubscribe(token), None);
        let other = links.unsubscribe_token(&Unsubscribe { contact: "bob".into(), ..target.clone() });
        let forged = format!("{}.{}", other.split_once('.').unwrap().0, token.split_once('.').unwrap().1);
        assert_eq!(links.verify_unsubscribe(&forged), None);
        assert_eq!(links.verify_unsubscribe("nope"), None);
        assert_eq!(links.verify_unsubscribe("a.b.c"), None);
        // The same target always gets the same link (a recomputed step renders the same message).
        assert_eq!(links.unsubscribe_url(&target), url);
    }

    #[test]
    fn email_webhook_urls_are_signed_per_provider() {
        let links = Links::new("http://127.0.0.1:8080", Key::generate());
        let url = links.email_events_url("postmark");
        let token = url.rsplit('/').next().unwrap();
        assert!(url.starts_with("http://127.0.0.1:8080/hooks/email/postmark/"));
        assert!(links.verify_email_events("postmark", token));
        assert!(!links.verify_email_events("resend", token));
        assert!(!links.verify_email_events("postmark", "forged"));
    }
}
