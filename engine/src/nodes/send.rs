//! `send`: render a message with handlebars and hand it to delivery.

use crate::library::{Body, MessageContent};
use crate::nodes::Build;
use crate::problem::Kind;
use crate::template::{Escape, Templates};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Send one message. Every text field is a handlebars template over `contact` (its
/// attributes, `id`, `tags`), `trigger` and `event` (`name`, `properties`, `timestamp`),
/// `journey` (`id`, `name`, `run_id`, `entry`) and `unsubscribe_url` (a signed link that
/// unsubscribes the contact from this message's channel, or from its topic), and may use
/// the library's partials (`{{> footer}}`), layouts (`{{#> brand}}…{{/brand}}`) and the
/// helpers `format_date`, `format_number`, `default` and `url_encode`. The message is
/// written here, or taken from a `message` template of the library:
/// `{"channel": "email", "template": "welcome"}`.
///
/// A marketing message (the default) is skipped, on the run's timeline, for a contact
/// who unsubscribed from its channel or opted out of its topic; no email at all goes to
/// an address suppressed by a hard bounce or a spam complaint.
///
/// ```json
/// { "id": "send_reminder", "type": "send",
///   "message": { "channel": "email", "subject": "You left something behind, {{contact.first_name}}",
///                "body": "<p>Your cart {{trigger.properties.cart_id}} is waiting.</p>{{> footer}}" },
///   "next": "wait_a_day" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// Stable, human-readable node id. Deliveries are deduplicated by run, node and visit.
    pub id: String,
    /// What to send, on which channel: written here, or a template of the library.
    pub message: MessageSpec,
    /// The provider to send through, by its id (`GET /v1/providers`); it must serve the
    /// message's channel. Without it the channel's default provider is used (or, when the
    /// channel has none, the built-in inbox). Checked when the journey is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// A transactional message (a receipt, a password reset) is one the contact must get:
    /// it ignores marketing opt-outs, quiet hours and frequency caps, and does not count
    /// towards the caps. Marketing messages (the default) respect all three.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transactional: bool,
    /// The topic of a marketing message: the id of one of the workspace's topics
    /// (marketing categories such as `newsletter`, managed under Settings → Topics).
    /// Contacts who opted out of it do not get the message, and its `{{unsubscribe_url}}`
    /// opts out of this topic only. Email, SMS and push only; not for transactional
    /// messages, which ignore opt-outs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Webhook only: values to keep from the webhook's JSON response, as run data: each
    /// name maps to a JSON pointer into the response body (`""` for all of it), e.g.
    /// `{"crm_id": "/id"}`. Later templates use `{{data.crm_id}}`, branches the path
    /// `data.crm_id`. The run waits at this node until the webhook has answered.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub save_response: BTreeMap<String, String>,
    /// The node to continue with.
    pub next: String,
    /// The node to continue with when the message is not delivered: a permanent failure,
    /// the retries ran out, or an at-most-once provider cannot tell. With it the run waits
    /// at this node for the outcome; without it a failure shows on the timeline and in the
    /// outbox, and the run has already gone on through `next`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// A status code, or a class of them, that a webhook's answer counts as success: `201`
/// or `"2xx"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusRule {
    /// One status code, 100–599.
    Code(u16),
    /// A class: `"2xx"`, `"3xx"` (redirects are not followed) or `"4xx"`.
    Class(StatusClass),
}

/// A class of status codes that may count as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StatusClass {
    #[serde(rename = "2xx")]
    Success,
    #[serde(rename = "3xx")]
    Redirection,
    #[serde(rename = "4xx")]
    ClientError,
}

/// A number is a code, a text a class; anything else is named in the error.
impl<'de> Deserialize<'de> for StatusRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        let bad = || {
            D::Error::custom(format!(
                "`{value}` is not a success status: write a status code such as 201, or \"2xx\", \"3xx\" or \"4xx\""
            ))
        };
        match &value {
            Value::Number(n) => n.as_u64().and_then(|c| u16::try_from(c).ok()).map(StatusRule::Code).ok_or_else(bad),
            Value::String(_) => StatusClass::deserialize(value.clone()).map(StatusRule::Class).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl StatusRule {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusRule::Code(c) => c == status,
            StatusRule::Class(class) => {
                let hundreds = match class {
                    StatusClass::Success => 2,
                    StatusClass::Redirection => 3,
                    StatusClass::ClientError => 4,
                };
                status / 100 == hundreds
            }
        }
    }
}

impl std::fmt::Display for StatusRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusRule::Code(c) => write!(f, "{c}"),
            StatusRule::Class(class) => f.write_str(match class {
                StatusClass::Success => "2xx",
                StatusClass::Redirection => "3xx",
                StatusClass::ClientError => "4xx",
            }),
        }
    }
}

/// A send node's message: a template of the library, or written in the journey.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MessageSpec {
    Template(TemplateRef),
    Inline(Message),
}

/// An object with `template` is a reference; any other is a message written out.
impl<'de> Deserialize<'de> for MessageSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        if value.get("template").is_some() {
            TemplateRef::deserialize(value).map(MessageSpec::Template).map_err(D::Error::custom)
        } else {
            Message::deserialize(value).map(MessageSpec::Inline).map_err(D::Error::custom)
        }
    }
}

impl MessageSpec {
    pub fn channel(&self) -> Channel {
        match self {
            MessageSpec::Template(r) => r.channel,
            MessageSpec::Inline(m) => m.channel(),
        }
    }
}

/// A `message` template of the library (`workflows/templates/<id>.json`, `/v1/templates`).
///
/// ```json
/// { "channel": "email", "template": "welcome" }
/// ```
///
/// Publishing pins the version it uses: `version` when given, else the template's latest
/// version at that moment. Editing the template later changes what the journey sends
/// only once it is published again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    /// The channel: the template's (`email`, `sms` or `push`).
    pub channel: Channel,
    /// The id of a `message` template of the library.
    pub template: String,
    /// A version of the template to send (1, 2, …); without it, the latest when published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub version: Option<u32>,
}

/// The message, by channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "channel", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// An email to the contact's `email` attribute.
    Email {
        /// Subject line (template).
        subject: String,
        /// HTML body (template; inserted values are HTML-escaped, use `{{{ }}}` for raw HTML).
        body: String,
        /// Sender address (template); the channel default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// Reply-to address (template).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        /// Plain-text body (template) sent beside the HTML for mail clients that show text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Extra email headers (values are templates), e.g. `X-Campaign`.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// A text message to the contact's `phone` attribute.
    Sms {
        /// Text (template).
        body: String,
    },
    /// A push notification to the contact's `push_token` attribute.
    Push {
        /// Title (template).
        title: String,
        /// Text (template).
        body: String,
        /// Link opened on tap (template).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// An HTTP request, e.g. to notify a team or another system.
    Webhook {
        /// HTTP method.
        #[serde(default)]
        method: Method,
        /// URL (template).
        url: String,
        /// Request headers (values are templates).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        /// JSON body; every string inside is a template. A string that is exactly one
        /// variable, such as `"{{contact.lead_score}}"`, inserts the value with its JSON type
        /// (a number stays a number; a missing value becomes `null`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
        /// The answers that count as delivered: status codes (`201`) or classes (`"2xx"`).
        /// Without it any 2xx does. Any other answer is a failure; 429 and 5xx are still
        /// retried, the rest are not.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        success: Vec<StatusRule>,
    },
    /// A message to a team's Slack channel through the workspace's incoming webhook (not
    /// to the contact), e.g. "notify sales when a lead is hot". It never skips for a
    /// missing address.
    Slack {
        /// Text in Slack `mrkdwn` (template; inserted values have `&`, `<` and `>`
        /// escaped, so a contact's value cannot mention `@channel`; `{{{ }}}` inserts raw).
        /// With `blocks` it is the notification's fallback text.
        text: String,
        /// Block Kit blocks (a JSON array of block objects); every string inside is a
        /// template that renders to a string, and the `text` of a `mrkdwn` text object is
        /// escaped like `text`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocks: Option<Value>,
    },
}

/// Most blocks Slack accepts in one message.
pub const SLACK_MAX_BLOCKS: usize = 50;

/// HTTP method of a webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

/// Channel names, as written in `message.channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
    Webhook,
    Slack,
}

/// `c` as written in `message.channel` (and stored in the outbox's `channel` column).
pub fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::Sms => "sms",
        Channel::Push => "push",
        Channel::Webhook => "webhook",
        Channel::Slack => "slack",
    }
}

/// Headers an email's own fields set; a journey's extra headers may not set them.
const RESERVED_HEADERS: &[(&str, &str)] = &[
    ("from", "message.from"),
    ("reply-to", "message.reply_to"),
    ("subject", "message.subject"),
    ("to", "the contact's `email`"),
    ("cc", "a journey sends to one contact"),
    ("bcc", "a journey sends to one contact"),
    ("sender", "the provider's settings"),
    ("date", "the time of sending"),
    ("message-id", "the message's idempotency key"),
    ("mime-version", "the message body"),
    ("content-type", "the message body"),
    ("content-transfer-encoding", "the message body"),
    ("return-path", "the provider's settings"),
];

/// Why `name` cannot be an extra email header, or `None` when it can: a field name of
/// RFC 5322 (printable ASCII but `:`, at most 76 characters) not set by the email itself.
pub fn header_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the header name is empty".into());
    }
    if name.len() > 76 {
        return Some(format!("the header name `{name}` is longer than 76 characters"));
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic() || *c == ':') {
        return Some(format!(
            "the header name `{name}` has `{}`; use letters, digits and `-` (e.g. `X-Campaign`)",
            c.escape_default()
        ));
    }
    let lower = name.to_ascii_lowercase();
    RESERVED_HEADERS
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, by)| format!("the header `{name}` is set by {by}, not as an extra header"))
}

/// A message rendered for one contact, ready for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Rendered {
    Email {
        to: String,
        subject: String,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        /// The signed one-click unsubscribe link (`List-Unsubscribe`), for marketing email.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unsubscribe_url: Option<String>,
    },
    Sms {
        to: String,
        body: String,
    },
    Push {
        to: String,
        title: String,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    Webhook {
        method: Method,
        url: String,
        headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        success: Vec<StatusRule>,
    },
    Slack {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocks: Option<Value>,
    },
}

impl Rendered {
    pub fn channel(&self) -> Channel {
        match self {
            Rendered::Email { .. } => Channel::Email,
            Rendered::Sms { .. } => Channel::Sms,
            Rendered::Push { .. } => Channel::Push,
            Rendered::Webhook { .. } => Channel::Webhook,
            Rendered::Slack { .. } => Channel::Slack,
        }
    }
}

/// Why a message could not be rendered for a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The contact lacks the address attribute of the channel.
    NoAddress(&'static str),
    /// A template failed at render time: the field (e.g. `message/body`) and why.
    Render { field: String, message: String },
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NoAddress(attr) => write!(f, "the contact has no `{attr}` attribute"),
            Skip::Render { field, message } => write!(f, "the message could not be rendered ({field}): {message}"),
        }
    }
}

impl Message {
    pub fn channel(&self) -> Channel {
        match self {
            Message::Email { .. } => Channel::Email,
            Message::Sms { .. } => Channel::Sms,
            Message::Push { .. } => Channel::Push,
            Message::Webhook { .. } => Channel::Webhook,
            Message::Slack { .. } => Channel::Slack,
        }
    }

    /// Every template field: (field pointer below the node, source, escaping).
    pub(crate) fn fields(&self) -> Vec<(String, &str, Escape)> {
        let mut out = Vec::new();
        let text = Escape::None;
        match self {
            Message::Email { subject, body, from, reply_to, text: plain, headers } => {
                out.push(("message/subject".into(), subject.as_str(), text));
                out.push(("message/body".into(), body.as_str(), Escape::Html));
                if let Some(t) = plain {
                    out.push(("message/text".into(), t.as_str(), text));
                }
                for (name, value) in headers {
                    out.push((format!("message/headers/{}", escape_segment(name)), value.as_str(), text));
                }
                if let Some(f) = from {
                    out.push(("message/from".into(), f.as_str(), text));
                }
                if let Some(r) = reply_to {
                    out.push(("message/reply_to".into(), r.as_str(), text));
                }
            }
            Message::Sms { body } => out.push(("message/body".into(), body.as_str(), text)),
            Message::Push { title, body, url } => {
                out.push(("message/title".into(), title.as_str(), text));
                out.push(("message/body".into(), body.as_str(), text));
                if let Some(u) = url {
                    out.push(("message/url".into(), u.as_str(), text));
                }
            }
            Message::Webhook { url, headers, body, .. } => {
                out.push(("message/url".into(), url.as_str(), text));
                for (name, value) in headers {
                    out.push((format!("message/headers/{}", escape_segment(name)), value.as_str(), text));
                }
                if let Some(b) = body {
                    json_strings(b, "message/body".into(), false, &mut out);
                }
            }
            Message::Slack { text: mrkdwn, blocks } => {
                out.push(("message/text".into(), mrkdwn.as_str(), Escape::Slack));
                if let Some(b) = blocks {
                    json_strings(b, "message/blocks".into(), true, &mut out);
                }
            }
        }
        out
    }
}

/// A message template as the message it sends; an email `layout` wraps the body.
impl From<&MessageContent> for Message {
    fn from(content: &MessageContent) -> Message {
        match content.clone() {
            MessageContent::Email { subject, body, text, from, reply_to, layout } => Message::Email {
                subject,
                body: match layout {
                    Some(l) => format!("{{{{#> {l}}}}}{body}{{{{/{l}}}}}"),
                    None => body,
                },
                from,
                reply_to,
                text,
                headers: BTreeMap::new(),
            },
            MessageContent::Sms { body } => Message::Sms { body },
            MessageContent::Push { title, body, url } => Message::Push { title, body, url },
        }
    }
}

fn escape_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Every string of a JSON template, with its pointer and escaping. In Slack blocks
/// (`slack`), the `text` of a `{"type": "mrkdwn"}` object is escaped as Slack text.
fn json_strings<'a>(value: &'a Value, at: String, slack: bool, out: &mut Vec<(String, &'a str, Escape)>) {
    match value {
        Value::String(s) => out.push((at, s.as_str(), Escape::None)),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                json_strings(v, format!("{at}/{i}"), slack, out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let at = format!("{at}/{}", escape_segment(k));
                match v {
                    Value::String(s) if slack && is_mrkdwn(map, k) => out.push((at, s.as_str(), Escape::Slack)),
                    _ => json_strings(v, at, slack, out),
                }
            }
        }
        _ => {}
    }
}

/// Whether `map[key]` is the text of a Slack `mrkdwn` text object.
fn is_mrkdwn(map: &serde_json::Map<String, Value>, key: &str) -> bool {
    key == "text" && map.get("type").and_then(Value::as_str) == Some("mrkdwn")
}

/// Block Kit's shape: an array of at most [`SLACK_MAX_BLOCKS`] objects, each with a
/// `type`. The first problem: (pointer below the node, what is wrong).
fn check_blocks(blocks: &Value) -> Option<(String, String)> {
    let Value::Array(items) = blocks else {
        return Some(("message/blocks".into(), "blocks must be a JSON array of Block Kit blocks".into()));
    };
    if items.len() > SLACK_MAX_BLOCKS {
        return Some((
            "message/blocks".into(),
            format!("Slack takes at most {SLACK_MAX_BLOCKS} blocks in a message; this has {}", items.len()),
        ));
    }
    for (i, block) in items.iter().enumerate() {
        match block.get("type") {
            _ if !block.is_object() => {
                return Some((format!("message/blocks/{i}"), "a block must be a JSON object with a `type`".into()));
            }
            Some(Value::String(t)) if !t.trim().is_empty() => {}
            found => {
                // A missing `type` is reported at the block: the pointer must exist.
                let at =
                    if found.is_some() { format!("message/blocks/{i}/type") } else { format!("message/blocks/{i}") };
                return Some((
                    at,
                    "a block needs a `type`, such as `section`, `header`, `divider`, `context` or `actions`".into(),
                ));
            }
        }
    }
    None
}

impl Send {
    /// Whether the run waits at this node for the message's outcome: it has a `failed`
    /// port or keeps part of the webhook's answer.
    pub fn awaits(&self) -> bool {
        self.failed.is_some() || !self.save_response.is_empty()
    }

    /// Resolve the message (from the library for a template reference) and compile every
    /// template field into `templates`, reporting each one that fails at its pointer.
    pub fn build(&self, cx: &mut Build, templates: &mut Templates) {
        let resolved;
        let message = match &self.message {
            MessageSpec::Inline(m) => m,
            MessageSpec::Template(r) => match resolve(r, templates) {
                Ok(m) => {
                    resolved = m;
                    &resolved
                }
                Err((field, kind, message)) => {
                    cx.error(kind, field, message);
                    return;
                }
            },
        };
        let from_library = matches!(self.message, MessageSpec::Template(_));
        if from_library {
            templates.set_message(&self.id, message.clone());
        }
        for (field, source, escape) in message.fields() {
            if let Err(e) = templates.add(&format!("{}/{field}", self.id), source, escape) {
                let p = match &self.message {
                    // Field pointers are already escaped segment by segment.
                    MessageSpec::Inline(_) => {
                        crate::problem::Problem::new(e.kind, format!("{}/{field}", cx.pointer), e.message)
                    }
                    MessageSpec::Template(r) => {
                        let label = label(r, templates);
                        let what = field.trim_start_matches("message/");
                        let message = format!("the template {label} cannot be used: its `{what}`: {}", e.message);
                        crate::problem::Problem::new(e.kind, cx.at("message/template"), message)
                    }
                };
                cx.push(p);
            }
        }
        if let Some(topic) = &self.topic {
            if !crate::validate::is_slug(topic) {
                cx.error(
                    Kind::InvalidValue,
                    "topic",
                    format!("`{topic}` is not a topic id; topic ids are lowercase letters, digits, `-` and `_` (at most 64), e.g. `newsletter`"),
                );
            } else if crate::consent::Channel::of(message.channel()).is_none() {
                let channel = channel_name(message.channel());
                cx.error(
                    Kind::InvalidValue,
                    "topic",
                    format!("a {channel} message goes to a system or a team, not to the contact, so it has no topic; remove `topic`"),
                );
            } else if self.transactional {
                cx.error(
                    Kind::InvalidValue,
                    "topic",
                    "a transactional message ignores topic opt-outs; remove `topic`, or make the message marketing (`transactional: false`)",
                );
            }
        }
        if !self.save_response.is_empty() && message.channel() != Channel::Webhook {
            cx.error(
                Kind::InvalidValue,
                "save_response",
                format!(
                    "only a webhook has a response to save; this is a {} message: remove `save_response`",
                    channel_word(message.channel())
                ),
            );
        }
        for (name, pointer) in &self.save_response {
            let at = format!("save_response/{}", escape_segment(name));
            if !is_data_name(name) {
                cx.error(
                    Kind::InvalidValue,
                    &at,
                    format!("`{name}` is not a data name; use lowercase letters, digits and `_`, starting with a letter or `_` (at most 64), e.g. `crm_id`"),
                );
            } else if !(pointer.is_empty() || pointer.starts_with('/')) {
                cx.error(
                    Kind::InvalidValue,
                    &at,
                    format!("`{pointer}` is not a JSON pointer into the response; it starts with `/`, e.g. `/id` or `/account/tier` (`\"\"` keeps the whole body)"),
                );
            }
        }
        if from_library {
            // The template's own fields were checked when it was saved.
            return;
        }
        if let Message::Webhook { success, .. } = message {
            for (i, rule) in success.iter().enumerate() {
                if let StatusRule::Code(code) = rule
                    && !(100..=599).contains(code)
                {
                    cx.error(
                        Kind::InvalidValue,
                        &format!("message/success/{i}"),
                        format!("{code} is not an HTTP status; a status is 100–599, or a class such as \"2xx\""),
                    );
                }
            }
        }
        if let Message::Webhook { url, .. } = message
            && !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("{{"))
        {
            cx.error(
                Kind::InvalidValue,
                "message/url",
                format!("`{url}` is not a web address; it must start with `https://` or `http://`"),
            );
        }
        if let Message::Email { headers, .. } = message {
            for name in headers.keys() {
                if let Some(problem) = header_name_problem(name) {
                    let pointer = format!("{}/message/headers/{}", cx.pointer, escape_segment(name));
                    let mut p = crate::problem::Problem::new(Kind::InvalidValue, pointer, problem);
                    p.node = cx.node.clone();
                    cx.problems.push(p);
                }
            }
        }
        if let Message::Slack { blocks: Some(blocks), .. } = message
            && let Some((field, message)) = check_blocks(blocks)
        {
            cx.error(Kind::InvalidValue, &field, message);
        }
        for (field, source, _) in message.fields() {
            let required = matches!(field.as_str(), "message/subject" | "message/body" | "message/title")
                || (field == "message/text" && message.channel() == Channel::Slack);
            if required && source.trim().is_empty() {
                cx.error(Kind::InvalidValue, &field, "this field is empty; write the text to send");
            }
        }
    }

    /// What this message's `{{unsubscribe_url}}` unsubscribes `contact` from: its topic
    /// when it has one, else its channel (a webhook's or Slack message's link is about email).
    pub fn unsubscribe_target(&self, contact: &str) -> crate::consent::Unsubscribe {
        crate::consent::Unsubscribe {
            contact: contact.to_string(),
            channel: crate::consent::Channel::of(self.message.channel()).unwrap_or(crate::consent::Channel::Email),
            topic: self.topic.clone(),
        }
    }

    /// Render for one contact. `data` holds `contact`, `trigger`, `event`, `journey` and
    /// `unsubscribe_url`; a marketing email carries that link for the provider's
    /// `List-Unsubscribe` header.
    pub fn render(&self, templates: &Templates, data: &Value) -> Result<Rendered, Skip> {
        self.render_as(templates, data, true)
    }

    /// Render exactly as [`Send::render`] does, for a preview: a contact without the
    /// channel's address gets an empty `to` instead of a skip.
    pub fn preview(&self, templates: &Templates, data: &Value) -> Result<Rendered, Skip> {
        self.render_as(templates, data, false)
    }

    /// The message this node sends: its own, or the library template it was built with.
    fn message<'a>(&'a self, templates: &'a Templates) -> Result<&'a Message, Skip> {
        match &self.message {
            MessageSpec::Inline(m) => Ok(m),
            MessageSpec::Template(r) => templates.message(&self.id).ok_or_else(|| Skip::Render {
                field: "message/template".into(),
                message: format!("the template `{}` was not resolved when the journey was built", r.template),
            }),
        }
    }

    fn render_as(&self, templates: &Templates, data: &Value, need_address: bool) -> Result<Rendered, Skip> {
        let message = self.message(templates)?;
        let r = |field: &str, escape: Escape| {
            templates
                .render(&format!("{}/{field}", self.id), data, escape)
                .map_err(|message| Skip::Render { field: field.to_string(), message })
        };
        let address = |attr: &'static str| -> Result<String, Skip> {
            match data.pointer(&format!("/contact/{attr}")) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                _ if !need_address => Ok(String::new()),
                _ => Err(Skip::NoAddress(attr)),
            }
        };
        let text = Escape::None;
        Ok(match message {
            Message::Email { from, reply_to, text: plain, headers, .. } => Rendered::Email {
                to: address("email")?,
                subject: r("message/subject", text)?,
                body: r("message/body", Escape::Html)?,
                from: from.as_ref().map(|_| r("message/from", text)).transpose()?,
                reply_to: reply_to.as_ref().map(|_| r("message/reply_to", text)).transpose()?,
                text: plain.as_ref().map(|_| r("message/text", text)).transpose()?,
                headers: render_headers(headers, &r)?,
                unsubscribe_url: match data.get("unsubscribe_url") {
                    Some(Value::String(url)) if !self.transactional => Some(url.clone()),
                    _ => None,
                },
            },
            Message::Sms { .. } => Rendered::Sms { to: address("phone")?, body: r("message/body", text)? },
            Message::Push { url, .. } => Rendered::Push {
                to: address("push_token")?,
                title: r("message/title", text)?,
                body: r("message/body", text)?,
                url: url.as_ref().map(|_| r("message/url", text)).transpose()?,
            },
            Message::Webhook { method, headers, body, success, .. } => {
                let rendered_headers = render_headers(headers, &r)?;
                let body = match body {
                    Some(b) => Some(render_json(b, "message/body".into(), data, &r)?),
                    None => None,
                };
                Rendered::Webhook {
                    method: *method,
                    url: r("message/url", text)?,
                    headers: rendered_headers,
                    body,
                    success: success.clone(),
                }
            }
            Message::Slack { blocks, .. } => Rendered::Slack {
                text: r("message/text", Escape::Slack)?,
                blocks: match blocks {
                    Some(b) => Some(render_json_as(b, "message/blocks".into(), data, true, &r)?),
                    None => None,
                },
            },
        })
    }
}

/// A name of run data: `[a-z_][a-z0-9_]{0,63}`.
fn is_data_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && name.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// `` `welcome` `` or `` `welcome` (version 3) ``, as resolved.
fn label(r: &TemplateRef, templates: &Templates) -> String {
    match templates.library().get(&r.template, r.version) {
        Ok(t) => t.label(),
        Err(_) => format!("`{}`", r.template),
    }
}

/// The message a template reference sends, or (field below the node, kind, why not).
fn resolve(r: &TemplateRef, templates: &mut Templates) -> Result<Message, (&'static str, Kind, String)> {
    if r.version == Some(0) {
        return Err((
            "message/version",
            Kind::InvalidValue,
            "versions start at 1; leave `version` out to use the latest".into(),
        ));
    }
    if matches!(r.channel, Channel::Webhook | Channel::Slack) {
        return Err((
            "message/channel",
            Kind::InvalidValue,
            "library templates are for email, SMS and push; write a webhook's or Slack message in the journey".into(),
        ));
    }
    let template = match templates.library().get(&r.template, r.version) {
        Ok(t) => t.clone(),
        Err(e @ crate::library::Missing::Version { .. }) => {
            return Err(("message/version", Kind::MissingTemplate, e.to_string()));
        }
        Err(e) => return Err(("message/template", Kind::MissingTemplate, e.to_string())),
    };
    let label = template.label();
    let content = match &template.body {
        Body::Message(m) => m,
        other => {
            let (kind, id) = (template.kind().name(), &template.id);
            let how = match other {
                Body::Layout(_) => format!("wrap an email body with it: `{{{{#> {id}}}}}…{{{{/{id}}}}}`"),
                _ => format!("insert it into a text with `{{{{> {id}}}}}`"),
            };
            return Err((
                "message/template",
                Kind::InvalidValue,
                format!("{label} is a {kind}, not a message template; {how}"),
            ));
        }
    };
    if content.channel() != r.channel {
        let (want, have) = (channel_word(r.channel), channel_word(content.channel()));
        return Err((
            "message/channel",
            Kind::InvalidValue,
            format!(
                "the template {label} is for {have}, and this node sends {want}; set `channel` to `{}` or choose another template",
                channel_name(content.channel())
            ),
        ));
    }
    if let MessageContent::Email { layout: Some(layout), .. } = content {
        match templates.library().get(layout, None) {
            Ok(l) if l.kind() == crate::library::TemplateKind::Layout => {}
            Ok(l) => {
                return Err((
                    "message/template",
                    Kind::InvalidValue,
                    format!("the template {label} uses `{layout}` as its layout, but it is a {}", l.kind().name()),
                ));
            }
            Err(e) => {
                return Err((
                    "message/template",
                    Kind::MissingTemplate,
                    format!("the template {label} uses the layout `{layout}`: {e}"),
                ));
            }
        }
    }
    templates.record_use(&template);
    Ok(Message::from(content))
}

fn channel_word(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::Sms => "SMS",
        Channel::Push => "push",
        Channel::Webhook => "webhook",
        Channel::Slack => "Slack",
    }
}

fn render_headers(
    headers: &BTreeMap<String, String>,
    r: &dyn Fn(&str, Escape) -> Result<String, Skip>,
) -> Result<BTreeMap<String, String>, Skip> {
    headers
        .keys()
        .map(|name| Ok((name.clone(), r(&format!("message/headers/{}", escape_segment(name)), Escape::None)?)))
        .collect()
}

fn render_json(
    value: &Value,
    at: String,
    data: &Value,
    r: &dyn Fn(&str, Escape) -> Result<String, Skip>,
) -> Result<Value, Skip> {
    render_json_as(value, at, data, false, r)
}

/// A JSON template rendered; in Slack blocks (`slack`) every string stays a string and
/// the `text` of a `mrkdwn` object is rendered as escaped Slack text.
fn render_json_as(
    value: &Value,
    at: String,
    data: &Value,
    slack: bool,
    r: &dyn Fn(&str, Escape) -> Result<String, Skip>,
) -> Result<Value, Skip> {
    Ok(match value {
        // Block Kit takes strings only: a lone variable in Slack blocks stays text.
        Value::String(s) => match lone_variable(s).filter(|_| !slack) {
            Some(path) => match path.split('.').try_fold(data, |v, key| v.get(key)) {
                Some(Value::String(_)) => Value::String(r(&at, Escape::None)?),
                Some(v) => v.clone(),
                None => Value::Null,
            },
            None => Value::String(r(&at, Escape::None)?),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| render_json_as(v, format!("{at}/{i}"), data, slack, r))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let at = format!("{at}/{}", escape_segment(k));
                    let value = match v {
                        Value::String(_) if slack && is_mrkdwn(map, k) => Value::String(r(&at, Escape::Slack)?),
                        _ => render_json_as(v, at, data, slack, r)?,
                    };
                    Ok((k.clone(), value))
                })
                .collect::<Result<_, Skip>>()?,
        ),
        other => other.clone(),
    })
}

/// `"{{ contact.lead_score }}"` → `contact.lead_score`: a string that is one plain variable.
fn lone_variable(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let plain = !inner.is_empty()
        && !inner.starts_with(['#', '/', '>', '!', '{', '^', '~', '&'])
        && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    plain.then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(send: &Send) -> (Templates, Vec<crate::problem::Problem>) {
        let mut templates = Templates::default();
        let mut problems = vec![];
        send.build(&mut Build::new("/nodes/1", Some(send.id.clone()), &mut problems), &mut templates);
        (templates, problems)
    }

    #[test]
    fn example_is_valid_and_renders() {
        let send: Send = serde_json::from_str(
            r#"{ "id": "send_reminder",
                 "message": { "channel": "email", "subject": "You left something behind, {{contact.first_name}}",
                              "body": "<p>Your cart {{trigger.properties.cart_id}} is waiting.</p>" },
                 "next": "wait_a_day" }"#,
        )
        .unwrap();
        let (templates, problems) = build(&send);
        assert!(problems.is_empty(), "{problems:?}");
        let data = json!({ "contact": { "email": "a@example.com", "first_name": "Ann" },
                           "trigger": { "properties": { "cart_id": "k<1>" } } });
        let Rendered::Email { to, subject, body, .. } = send.render(&templates, &data).unwrap() else { panic!() };
        assert_eq!(to, "a@example.com");
        assert_eq!(subject, "You left something behind, Ann");
        assert_eq!(body, "<p>Your cart k&lt;1&gt; is waiting.</p>");
        let no_email = json!({ "contact": {} });
        assert_eq!(send.render(&templates, &no_email), Err(Skip::NoAddress("email")));
        // A preview renders the same text, with no address rather than a skip.
        let Rendered::Email { to, subject, .. } = send.preview(&templates, &no_email).unwrap() else { panic!() };
        assert_eq!((to.as_str(), subject.as_str()), ("", "You left something behind, "));
        let Rendered::Email { subject, body, .. } = send.preview(&templates, &data).unwrap() else { panic!() };
        assert_eq!(
            (subject.as_str(), body.as_str()),
            ("You left something behind, Ann", "<p>Your cart k&lt;1&gt; is waiting.</p>")
        );
    }

    #[test]
    fn webhook_json_body_strings_are_templates() {
        let send: Send = serde_json::from_str(
            r#"{ "id": "notify", "message": { "channel": "webhook", "url": "https://hooks.example.com/{{contact.id}}",
                 "headers": { "X-Score": "{{contact.lead_score}}" },
                 "body": { "text": "Lead {{contact.email}} is hot", "score": "{{contact.lead_score}}", "vip": "{{ contact.vip }}",
                           "plan": "{{contact.plan}}", "missing": "{{contact.nope}}", "fixed": 50, "tags": ["{{contact.id}}"] } }, "next": "x" }"#,
        )
        .unwrap();
        let (templates, problems) = build(&send);
        assert!(problems.is_empty(), "{problems:?}");
        let data = json!({ "contact": { "id": "c1", "email": "a\"b@example.com", "lead_score": 55, "vip": true, "plan": "pro" } });
        let Rendered::Webhook { method, url, headers, body, .. } = send.render(&templates, &data).unwrap() else {
            panic!()
        };
        assert_eq!(method, Method::Post);
        assert_eq!(url, "https://hooks.example.com/c1");
        assert_eq!(headers["X-Score"], "55");
        assert_eq!(
            body.unwrap(),
            json!({ "text": "Lead a\"b@example.com is hot", "score": 55, "vip": true, "plan": "pro", "missing": null,
                    "fixed": 50, "tags": ["c1"] })
        );
    }

    #[test]
    fn email_header_names_must_be_header_names_the_email_does_not_set_itself() {
        let send: Send = serde_json::from_str(
            r#"{ "id": "s", "message": { "channel": "email", "subject": "Hi", "body": "<p>Hi</p>",
                 "headers": { "X-Campaign": "spring", "X Bad": "1", "Reply-To": "a@b.example", "A/B": "x" } }, "next": "x" }"#,
        )
        .unwrap();
        let (_, problems) = build(&send);
        let found: Vec<_> = problems.iter().map(|p| (p.code, p.pointer.as_str(), p.message.as_str())).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].1, "/nodes/1/message/headers/Reply-To");
        assert!(found[0].2.contains("set by message.reply_to"), "{found:?}");
        assert_eq!(found[1].1, "/nodes/1/message/headers/X Bad");
        assert!(found[1].2.contains("has ` `"), "{found:?}");
        assert!(found.iter().all(|f| f.0 == Kind::InvalidValue));
    }

    #[test]
    fn a_slack_message_renders_text_and_blocks_without_an_address() {
        let send: Send = serde_json::from_str(
            r#"{ "id": "tell_sales", "next": "x", "message": { "channel": "slack",
                 "text": "Hot lead: {{contact.name}} ({{contact.lead_score}})",
                 "blocks": [
                   { "type": "section", "text": { "type": "mrkdwn", "text": "*{{contact.name}}* reached {{contact.lead_score}}" } },
                   { "type": "header", "text": { "type": "plain_text", "text": "{{contact.name}}" } },
                   { "type": "actions", "elements": [ { "type": "button", "text": { "type": "plain_text", "text": "Open" },
                     "url": "https://crm.example.com/{{contact.id}}", "value": "{{contact.lead_score}}" } ] } ] } }"#,
        )
        .unwrap();
        let (templates, problems) = build(&send);
        assert!(problems.is_empty(), "{problems:?}");
        let data = json!({ "contact": { "id": "c&1", "name": "<!channel> Ann", "lead_score": 55 } });
        let rendered = send.render(&templates, &data).unwrap();
        assert_eq!(rendered.channel(), Channel::Slack);
        let Rendered::Slack { text, blocks } = rendered else { panic!() };
        assert_eq!(text, "Hot lead: &lt;!channel&gt; Ann (55)", "inserted values cannot mention @channel");
        assert_eq!(
            blocks.unwrap(),
            json!([
                { "type": "section", "text": { "type": "mrkdwn", "text": "*&lt;!channel&gt; Ann* reached 55" } },
                { "type": "header", "text": { "type": "plain_text", "text": "<!channel> Ann" } },
                { "type": "actions", "elements": [ { "type": "button", "text": { "type": "plain_text", "text": "Open" },
                  "url": "https://crm.example.com/c&1", "value": "55" } ] }
            ])
        );
        // Slack messages go to the team, not to a contact address.
        assert!(matches!(send.render(&templates, &json!({ "contact": {} })), Ok(Rendered::Slack { .. })));
    }

    #[test]
    fn slack_blocks_must_be_block_kit_and_text_is_required() {
        let problems = |message: Value| {
            let send: Send = serde_json::from_value(json!({ "id": "s", "message": message, "next": "x" })).unwrap();
            build(&send).1.into_iter().map(|p| (p.pointer, p.message)).collect::<Vec<_>>()
        };
        let got = problems(json!({ "channel": "slack", "text": " ", "blocks": { "type": "section" } }));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "/nodes/1/message/blocks");
        assert!(got[0].1.contains("JSON array"), "{got:?}");
        assert_eq!(got[1].0, "/nodes/1/message/text");
        let got =
            problems(json!({ "channel": "slack", "text": "hi", "blocks": [ { "type": "divider" }, { "text": "x" } ] }));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "/nodes/1/message/blocks/1", "a missing `type` points at the block, which exists");
        let got = problems(json!({ "channel": "slack", "text": "hi", "blocks": [ "section" ] }));
        assert_eq!(got[0].0, "/nodes/1/message/blocks/0");
        let many: Vec<Value> = (0..51).map(|_| json!({ "type": "divider" })).collect();
        let got = problems(json!({ "channel": "slack", "text": "hi", "blocks": many }));
        assert!(got[0].1.contains("at most 50"), "{got:?}");
        let got = problems(json!({ "channel": "slack", "text": "hi {{#if}}" }));
        assert_eq!(got[0].0, "/nodes/1/message/text");
        // Unknown fields are refused, as for every message.
        assert!(
            serde_json::from_value::<Send>(
                json!({ "id": "s", "message": { "channel": "slack", "text": "hi", "to": "#sales" }, "next": "x" })
            )
            .is_err()
        );
    }

    #[test]
    fn every_broken_template_is_reported_with_its_pointer() {
        let send: Send = serde_json::from_str(
            r#"{ "id": "s", "message": { "channel": "webhook", "url": "ftp://x",
                 "body": { "a": "{{#each}}", "b": ["ok", "{{oops"] } }, "next": "x" }"#,
        )
        .unwrap();
        let (_, problems) = build(&send);
        let pointers: Vec<_> = problems.iter().map(|p| (p.code, p.pointer.as_str())).collect();
        assert_eq!(
            pointers,
            [
                (Kind::InvalidTemplate, "/nodes/1/message/body/a"),
                (Kind::InvalidTemplate, "/nodes/1/message/body/b/1"),
                (Kind::InvalidValue, "/nodes/1/message/url"),
            ]
        );
    }

    fn library() -> crate::library::Library {
        let mut lib = crate::library::Library::new();
        for text in [
            r#"{ "id": "footer", "name": "Footer", "kind": "partial", "content": "<p>Bye {{default contact.first_name \"friend\"}}</p>" }"#,
            r#"{ "id": "brand", "name": "Brand", "kind": "layout", "content": "<main>{{> @partial-block}}</main>{{> footer}}" }"#,
            r#"{ "id": "welcome", "name": "Welcome", "kind": "message",
                 "message": { "channel": "email", "subject": "Welcome, {{contact.first_name}}", "body": "<p>Hi</p>", "layout": "brand" } }"#,
            r#"{ "id": "sms-hi", "name": "Hi", "kind": "message", "message": { "channel": "sms", "body": "Hi {{contact.first_name}}" } }"#,
            r#"{ "id": "broken", "name": "Broken", "kind": "partial", "content": "{{> nowhere}}" }"#,
        ] {
            let mut t = crate::library::validate(text).unwrap();
            t.version = Some(2);
            lib.insert(t);
        }
        lib
    }

    fn build_in(send: &Send, library: crate::library::Library) -> (Templates, Vec<crate::problem::Problem>) {
        let mut templates = Templates::new(library, chrono_tz::Tz::UTC);
        let mut problems = vec![];
        send.build(&mut Build::new("/nodes/4", Some(send.id.clone()), &mut problems), &mut templates);
        (templates, problems)
    }

    #[test]
    fn a_template_reference_renders_the_library_message_with_its_layout_and_partials() {
        let send: Send = serde_json::from_str(
            r#"{ "id": "hello", "message": { "channel": "email", "template": "welcome" }, "next": "x" }"#,
        )
        .unwrap();
        let (templates, problems) = build_in(&send, library());
        assert!(problems.is_empty(), "{problems:?}");
        let data = json!({ "contact": { "email": "a@example.com", "first_name": "Ann" } });
        let Rendered::Email { subject, body, .. } = send.render(&templates, &data).unwrap() else { panic!() };
        assert_eq!(subject, "Welcome, Ann");
        assert_eq!(body, "<main><p>Hi</p></main><p>Bye Ann</p>");
        let mut pins: Vec<_> = templates.used().collect();
        pins.sort();
        assert_eq!(pins, [("brand", Some(2)), ("footer", Some(2)), ("welcome", Some(2))]);
        // The reference round-trips as written.
        assert_eq!(serde_json::to_value(&send.message).unwrap(), json!({ "channel": "email", "template": "welcome" }));
    }

    #[test]
    fn template_problems_are_reported_at_the_node_when_building() {
        let cases = [
            (
                r#"{ "channel": "email", "template": "nope" }"#,
                Kind::MissingTemplate,
                "/nodes/4/message/template",
                "no template `nope`",
            ),
            (
                r#"{ "channel": "email", "template": "welcome", "version": 7 }"#,
                Kind::MissingTemplate,
                "/nodes/4/message/version",
                "has no version 7; its latest is version 2",
            ),
            (
                r#"{ "channel": "email", "template": "welcome", "version": 0 }"#,
                Kind::InvalidValue,
                "/nodes/4/message/version",
                "versions start at 1",
            ),
            (
                r#"{ "channel": "sms", "template": "welcome" }"#,
                Kind::InvalidValue,
                "/nodes/4/message/channel",
                "is for email, and this node sends SMS",
            ),
            (
                r#"{ "channel": "email", "template": "footer" }"#,
                Kind::InvalidValue,
                "/nodes/4/message/template",
                "is a partial, not a message template",
            ),
            (
                r#"{ "channel": "webhook", "template": "welcome" }"#,
                Kind::InvalidValue,
                "/nodes/4/message/channel",
                "write a webhook's or Slack message in the journey",
            ),
            (
                r#"{ "channel": "email", "subject": "Hi", "body": "{{> broken}}" }"#,
                Kind::MissingTemplate,
                "/nodes/4/message/body",
                "the partial `broken`: `{{> nowhere}}` uses the partial `nowhere`",
            ),
            (
                r#"{ "channel": "email", "subject": "{{> welcome}}", "body": "x" }"#,
                Kind::InvalidTemplate,
                "/nodes/4/message/subject",
                "`welcome` is a message template",
            ),
            (
                r#"{ "channel": "email", "subject": "x", "body": "{{> footer}}", "text": "{{> gone}}" }"#,
                Kind::MissingTemplate,
                "/nodes/4/message/text",
                "`gone`, which is not in the template library",
            ),
        ];
        for (message, kind, pointer, words) in cases {
            let send: Send =
                serde_json::from_str(&format!(r#"{{ "id": "s", "message": {message}, "next": "x" }}"#)).unwrap();
            let (_, problems) = build_in(&send, library());
            assert_eq!(problems.len(), 1, "{message}: {problems:?}");
            let p = &problems[0];
            assert_eq!((p.code, p.pointer.as_str(), p.node.as_deref()), (kind, pointer, Some("s")), "{message}");
            assert!(p.message.contains(words), "{message}: {}", p.message);
        }
        // A message template whose partial fails for the sample contact names the template and the field.
        let mut lib = library();
        // (Saving refuses such a template; a version stored by an older Kairos may still hold one.)
        lib.insert(crate::library::Template {
            id: "misused".into(),
            name: "M".into(),
            description: String::new(),
            version: Some(1),
            body: crate::library::Body::Message(MessageContent::Sms {
                body: "{{format_number contact.first_name}}".into(),
            }),
        });
        let send: Send = serde_json::from_str(
            r#"{ "id": "s", "message": { "channel": "sms", "template": "misused" }, "next": "x" }"#,
        )
        .unwrap();
        let (_, problems) = build_in(&send, lib);
        assert_eq!(problems[0].pointer, "/nodes/4/message/template");
        assert!(
            problems[0].message.contains(
                "the template `misused` (version 1) cannot be used: its `body`: the template cannot be rendered"
            ) && problems[0].message.contains("format_number needs a number"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn a_template_reference_refuses_unknown_fields() {
        let err = serde_json::from_str::<Send>(
            r#"{ "id": "s", "message": { "channel": "email", "template": "w", "subject": "x" }, "next": "x" }"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `subject`"), "{err}");
    }
}
