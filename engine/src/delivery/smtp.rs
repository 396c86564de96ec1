//! SMTP: email to any mail server or relay (lettre), over STARTTLS, implicit TLS or,
//! for a relay beside Kairos, plain text.
//!
//! The protocol: RFC 5321 (<https://www.rfc-editor.org/rfc/rfc5321>; replies 4xx are
//! transient, 5xx permanent), the message format RFC 5322, one-click unsubscribe RFC 8058
//! (<https://www.rfc-editor.org/rfc/rfc8058>), STARTTLS RFC 3207 and implicit TLS on
//! port 465 RFC 8314; lettre's client: <https://docs.rs/lettre/0.11/lettre/transport/smtp/>.
//!
//! Each message is one SMTP transaction (`MAIL FROM`, `RCPT TO`, `DATA`) on a connection
//! kept open for the next (at most [`Options::concurrency`] at once, closed after a minute
//! unused). The email is `multipart/alternative` (the text part, then the HTML) when the
//! message has a text, else HTML alone, with `From`, `Reply-To` (the message's, else the
//! settings'), `Subject`, the message's extra headers, `List-Unsubscribe` with
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click` when it has an unsubscribe link, and
//! a `Message-ID` made from the idempotency key, so every attempt carries the same one.
//!
//! Outcomes: the final `250` after the data delivers. A 4xx reply, a refused or broken
//! connection or a timeout before the data is sent is retried with backoff; a 5xx reply
//! (e.g. `550` no such user, `535` authentication failed) fails at once; a timeout or a
//! broken connection after the data was sent is uncertain (the server may have accepted
//! the message) and retried: SMTP has no idempotency key, so [`Deliver::idempotent`] is
//! false, and receivers that deduplicate do it by the stable `Message-ID`.

use super::email::{self, Defaults};
use super::{ConfigError, Options, http};
use crate::nodes::send::Channel;
use crate::scheduler::{Deliver, Delivery, backoff};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The provider's name in configuration and errors.
pub const KIND: &str = "smtp";
/// The channel it delivers.
pub const CHANNEL: Channel = Channel::Email;
/// An open connection unused this long is closed rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(60);
/// SMTP exchanges of one message, each bounded by the timeout: connecting (with
/// STARTTLS and sign-in), the envelope, and the data.
const STEPS: u32 = 6;

/// Email through an SMTP server.
///
/// ```json
/// { "host": "smtp.example.com", "port": 587, "security": "starttls",
///   "from": "Acme <news@acme.example>", "reply_to": "help@acme.example", "username": "kairos" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The server's host name (`smtp.example.com`) or IP address; with TLS, its
    /// certificate must be valid for this name.
    pub host: String,
    /// The server's port; defaults to 587 with `starttls`, 465 with `tls` and 25 with `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// How the connection is protected: `starttls` (the default; the server must offer
    /// STARTTLS, else nothing is sent), `tls` (TLS from the start, usually port 465) or
    /// `none` (plain text: only for a relay on the same machine or private network; never
    /// with a password unless the server is this machine).
    #[serde(default)]
    pub security: Security,
    /// The sender when a message sets no `from` (`news@acme.example` or
    /// `Acme <news@acme.example>`); also the envelope sender of those messages.
    pub from: String,
    /// The reply-to address when a message sets no `reply_to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The user to sign in as (SMTP AUTH, PLAIN or LOGIN), with `password` from the
    /// secrets; absent: no sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain text, never encrypted.
    None,
    /// Plain text upgraded with STARTTLS before anything is sent; required.
    #[default]
    Starttls,
    /// TLS from the first byte (implicit TLS, "SMTPS").
    Tls,
}

impl Security {
    fn default_port(self) -> u16 {
        match self {
            Security::None => 25,
            Security::Starttls => 587,
            Security::Tls => 465,
        }
    }
}

/// The SMTP server's credential.
///
/// ```json
/// { "password": "app-password-from-the-mail-provider" }
/// ```
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// The password of `username`; needed exactly when `username` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("password", &self.password.as_ref().map(|_| super::REDACTED)).finish()
    }
}

/// Delivers email over SMTP.
pub struct Smtp {
    host: String,
    port: u16,
    security: Security,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    password: Option<String>,
    defaults: Defaults,
    hello: ClientId,
    options: Options,
    /// Connections that delivered their last message and may deliver the next.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

/// How far a message got when its attempt failed: before the data nothing can have been
/// delivered; once the data is sent, the server may have accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connect,
    Envelope,
    Data,
}

/// Why an attempt failed.
#[derive(Debug)]
enum Failure {
    Smtp(lettre::transport::smtp::Error),
    Timeout,
    /// The server cannot take this message as configured (no STARTTLS, no UTF-8, …).
    Unsupported(String),
}

impl From<lettre::transport::smtp::Error> for Failure {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        Failure::Smtp(e)
    }
}

impl Smtp {
    /// Check the configuration, naming the field at fault. Nothing is connected yet.
    pub fn new(settings: Settings, secrets: Secrets, options: &Options) -> Result<Smtp, ConfigError> {
        let host = settings.host.trim().to_string();
        let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        let is_name = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if ip.is_none() && !is_name {
            return Err(ConfigError::new(
                "settings/host",
                format!(
                    "`{host}` is not a host name or IP address (expected e.g. `smtp.example.com`, without `smtp://` or a port)"
                ),
            ));
        }
        if settings.port == Some(0) {
            return Err(ConfigError::new("settings/port", "0 is not a port; leave it out for the default"));
        }
        let defaults = Defaults::new(&settings.from, settings.reply_to.as_deref())?;
        let username = settings.username.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let credentials = match (username, &secrets.password) {
            (Some(user), Some(password)) => {
                email::secret("password", password)?;
                Some(Credentials::new(user.to_string(), password.clone()))
            }
            (Some(_), None) => {
                return Err(ConfigError::new("secrets/password", "is missing; `settings/username` signs in with it"));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "settings/username",
                    "is missing; the password in the secrets needs the user it belongs to",
                ));
            }
            (None, None) => None,
        };
        let loopback = ip.is_some_and(|ip| ip.is_loopback()) || host.eq_ignore_ascii_case("localhost");
        if settings.security == Security::None && credentials.is_some() && !loopback {
            return Err(ConfigError::new(
                "settings/security",
                "`none` would send the password unencrypted; use `starttls` or `tls`",
            ));
        }
        let tls =
            match settings.security {
                Security::None => None,
                _ => Some(TlsParameters::new(host.trim_start_matches('[').trim_end_matches(']').to_string()).map_err(
                    |e| ConfigError::new("settings/host", format!("TLS cannot be set up for `{host}`: {e}")),
                )?),
            };
        Ok(Smtp {
            port: settings.port.unwrap_or(settings.security.default_port()),
            host,
            security: settings.security,
            tls,
            credentials,
            password: secrets.password,
            defaults,
            hello: ClientId::default(),
            options: Options { concurrency: options.concurrency.max(1), ..options.clone() },
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The message as it goes over the wire (RFC 5322), and its envelope.
    fn message(&self, email: &email::Email<'_>, now: DateTime<Utc>) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(email.from.clone())
            .to(email.to.clone())
            .subject(email.subject)
            .date(now.into())
            .message_id(Some(email.message_id()));
        if let Some(reply_to) = &email.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        for (name, value) in &email.headers {
            let header = HeaderName::new_from_ascii(name.clone())
                .map_err(|_| format!("the header name `{name}` is not valid"))?;
            builder = builder.raw_header(HeaderValue::new(header, value.clone()));
        }
        let built = match email.text {
            Some(text) => {
                builder.multipart(MultiPart::alternative_plain_html(text.to_string(), email.html.to_string()))
            }
            None => builder.singlepart(SinglePart::html(email.html.to_string())),
        };
        built.map_err(|e| format!("the email could not be built: {e}"))
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let email = match email::prepare(item, &self.defaults) {
            Ok(e) => e,
            Err(failure) => return failure,
        };
        let message = match self.message(&email, now) {
            Ok(m) => m,
            Err(error) => return Delivery::Failed { error },
        };
        let outcome = match self.connection().await {
            Ok(mut conn) => match self.transaction(&mut conn, &message).await {
                Ok(()) => {
                    self.park(conn);
                    Delivery::Delivered
                }
                Err((stage, failure)) => {
                    if matches!(failure, Failure::Smtp(ref e) if e.status().is_some()) {
                        // The server answered; leave politely (and do not wait for it).
                        let timeout = self.options.timeout;
                        tokio::spawn(async move {
                            let _ = tokio::time::timeout(timeout, conn.abort()).await;
                        });
                    }
                    self.outcome(item, stage, failure)
                }
            },
            Err(failure) => self.outcome(item, Stage::Connect, failure),
        };
        match &self.password {
            Some(password) => email::without_secret(outcome, password),
            None => outcome,
        }
    }

    /// An open connection: an idle one that still answers, else a new one (connected,
    /// secured, signed in).
    async fn connection(&self) -> Result<AsyncSmtpConnection, Failure> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((mut conn, since)) = idle else { break };
            if since.elapsed() < MAX_IDLE
                && tokio::time::timeout(self.options.timeout, conn.test_connected()).await == Ok(true)
            {
                return Ok(conn);
            }
        }
        tokio::time::timeout(self.options.timeout, self.connect()).await.map_err(|_| Failure::Timeout)?
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let implicit = if self.security == Security::Tls { self.tls.clone() } else { None };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.trim_start_matches('[').trim_end_matches(']'), self.port),
            Some(self.options.timeout),
            &self.hello,
            implicit,
            None,
        )
        .await?;
        if self.security == Security::Starttls {
            if !conn.server_info().supports_feature(Extension::StartTls) {
                return Err(Failure::Unsupported(format!(
                    "{KIND} server {}:{} does not offer STARTTLS; set `security` to `tls` for implicit TLS, or `none` for a relay that cannot encrypt",
                    self.host, self.port
                )));
            }
            let Some(tls) = self.tls.clone() else {
                return Err(Failure::Unsupported(format!("{KIND} has no TLS parameters for {}", self.host)));
            };
            conn.starttls(tls, &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            if conn.server_info().get_auth_mechanism(&[Mechanism::Plain, Mechanism::Login]).is_none() {
                return Err(Failure::Unsupported(format!(
                    "{KIND} server {}:{} does not offer sign-in (AUTH PLAIN or LOGIN); remove `username` if it needs none",
                    self.host, self.port
                )));
            }
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials).await?;
        }
        Ok(conn)
    }

    /// One SMTP transaction: `MAIL FROM`, `RCPT TO`, `DATA` and the message.
    async fn transaction(&self, conn: &mut AsyncSmtpConnection, message: &Message) -> Result<(), (Stage, Failure)> {
        let envelope = message.envelope();
        let bytes = message.formatted();
        let mut parameters = Vec::new();
        let mut addresses = envelope.from().into_iter().chain(envelope.to());
        if addresses.any(|a| !a.to_string().is_ascii()) {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                let error = format!("{KIND} server does not take addresses with non-ASCII characters (no SMTPUTF8)");
                return Err((Stage::Envelope, Failure::Unsupported(error)));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !bytes.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let timeout = self.options.timeout;
        step(timeout, Stage::Envelope, conn.command(Mail::new(envelope.from().cloned(), parameters))).await?;
        for to in envelope.to() {
            step(timeout, Stage::Envelope, conn.command(Rcpt::new(to.clone(), vec![]))).await?;
        }
        step(timeout, Stage::Envelope, conn.command(Data)).await?;
        step(timeout, Stage::Data, conn.message(&bytes)).await
    }

    /// Keep a connection for the next message (unless enough are kept already).
    fn park(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.options.concurrency {
            idle.push((conn, Instant::now()));
        }
    }

    /// What a failed attempt means for the message.
    fn outcome(&self, item: &OutboxItem, stage: Stage, failure: Failure) -> Delivery {
        let after = backoff(item.attempts, &item.key);
        let server = format!("{}:{}", self.host, self.port);
        match failure {
            Failure::Unsupported(error) => Delivery::Failed { error },
            Failure::Timeout if stage == Stage::Data => Delivery::Uncertain {
                after,
                error: format!(
                    "{KIND} server {server} timed out after the message was sent; it may have been delivered"
                ),
            },
            Failure::Timeout => {
                let when = if stage == Stage::Connect { "connecting" } else { "before the message was sent" };
                http::retry(item, format!("{KIND} server {server} timed out {when}"))
            }
            Failure::Smtp(e) => {
                let detail = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default();
                let detail = email::clip(&detail, 300);
                if let Some(code) = e.status() {
                    let error = format!("{KIND} server answered {code}: {detail}");
                    if e.is_permanent() { Delivery::Failed { error } } else { http::retry(item, error) }
                } else if e.is_client() {
                    Delivery::Failed { error: format!("{KIND} could not send the message: {detail}") }
                } else if e.is_tls() {
                    http::retry(item, format!("{KIND} TLS with {server} failed: {detail}"))
                } else if stage == Stage::Data {
                    Delivery::Uncertain {
                        after,
                        error: format!(
                            "{KIND} connection to {server} broke after the message was sent; it may have been delivered: {detail}"
                        ),
                    }
                } else {
                    http::retry(item, format!("{KIND} connection to {server} failed: {detail}"))
                }
            }
        }
    }
}

/// One exchange with the server, bounded by `timeout`.
async fn step<T>(
    timeout: Duration,
    stage: Stage,
    exchange: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<(), (Stage, Failure)> {
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err((stage, Failure::Smtp(e))),
        Err(_) => Err((stage, Failure::Timeout)),
    }
}

#[async_trait::async_trait]
impl Deliver for Smtp {
    async fn deliver(&self, _store: &Store, items: &[OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let sends: Vec<_> = items.iter().map(|i| self.send(i, now)).collect();
        futures::stream::iter(sends).buffered(self.options.concurrency).collect().await
    }

    fn batch(&self) -> u64 {
        self.options.concurrency as u64
    }

    /// Every exchange of one message may take the whole timeout.
    fn batch_time(&self) -> TimeDelta {
        TimeDelta::from_std(self.options.timeout * STEPS).unwrap_or(TimeDelta::minutes(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::send::Rendered;

    fn settings() -> Settings {
        serde_json::from_str(
            r#"{ "host": "smtp.example.com", "port": 587, "security": "starttls",
                 "from": "Acme <news@acme.example>", "reply_to": "help@acme.example", "username": "kairos" }"#,
        )
        .unwrap()
    }

    fn secrets() -> Secrets {
        serde_json::from_str(r#"{ "password": "app-password-from-the-mail-provider" }"#).unwrap()
    }

    fn new(s: Settings, k: Secrets) -> Result<Smtp, ConfigError> {
        Smtp::new(s, k, &Options::default())
    }

    #[test]
    fn the_documented_examples_parse_and_build() {
        let smtp = new(settings(), secrets()).unwrap();
        assert_eq!((smtp.port, smtp.security), (587, Security::Starttls));
        assert!(!format!("{:?}", secrets()).contains("app-password"), "Debug hides the password");
        let minimal: Settings = serde_json::from_str(r#"{ "host": "mail.internal", "from": "a@b.example" }"#).unwrap();
        assert_eq!(new(minimal, Secrets::default()).unwrap().port, 587, "starttls on 587 by default");
        let tls: Settings =
            serde_json::from_str(r#"{ "host": "mail.internal", "security": "tls", "from": "a@b.example" }"#).unwrap();
        assert_eq!(new(tls, Secrets::default()).unwrap().port, 465);
        let e = serde_json::from_str::<Settings>(r#"{ "host": "h", "from": "a@b.example", "security": "ssl" }"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown variant `ssl`"), "{e}");
    }

    #[test]
    fn bad_configuration_is_refused_naming_the_field() {
        let field = |s: Settings, k: Secrets| new(s, k).err().unwrap().field;
        for host in ["", "smtp://smtp.example.com", "smtp.example.com:587", "smtp example.com", "-bad.example"] {
            assert_eq!(field(Settings { host: host.into(), ..settings() }, secrets()), "settings/host", "{host}");
        }
        assert_eq!(field(Settings { port: Some(0), ..settings() }, secrets()), "settings/port");
        assert_eq!(field(Settings { from: "Acme".into(), ..settings() }, secrets()), "settings/from");
        assert_eq!(field(Settings { reply_to: Some("x".into()), ..settings() }, secrets()), "settings/reply_to");
        assert_eq!(field(settings(), Secrets { password: None }), "secrets/password");
        assert_eq!(field(settings(), Secrets { password: Some("".into()) }), "secrets/password");
        assert_eq!(field(Settings { username: None, ..settings() }, secrets()), "settings/username");
        let e = new(Settings { security: Security::None, ..settings() }, secrets()).err().unwrap();
        assert_eq!(e.field, "settings/security");
        assert!(!e.to_string().contains("app-password"), "{e}");
        // A relay on this machine may take a password in plain text.
        let local = Settings { host: "127.0.0.1".into(), port: None, security: Security::None, ..settings() };
        assert_eq!(new(local, secrets()).unwrap().port, 25);
    }

    #[test]
    fn the_message_is_multipart_with_headers_and_a_stable_message_id() {
        let smtp = new(settings(), secrets()).unwrap();
        let item = crate::delivery::email::tests::item(Rendered::Email {
            to: "Ann Lee <ann@example.com>".into(),
            subject: "Welcome, Ann".into(),
            body: "<p>Hi Ann</p>".into(),
            from: None,
            reply_to: Some("Bea <bea@shop.example>".into()),
            text: Some("Hi Ann".into()),
            headers: [("X-Campaign".to_string(), "spring".to_string())].into(),
            unsubscribe_url: Some("https://kairos.example/u/abc".into()),
        });
        let email = email::prepare(&item, &smtp.defaults).unwrap();
        let now = crate::time::parse_timestamp("2026-03-02T10:00:00Z").unwrap();
        let message = smtp.message(&email, now).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        for line in [
            "From: Acme <news@acme.example>\r\n",
            "To: \"Ann Lee\" <ann@example.com>\r\n",
            "Reply-To: Bea <bea@shop.example>\r\n",
            "Subject: Welcome, Ann\r\n",
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n",
            "Message-ID: <kairos.0190c1d2-aaaa-7bbb-8ccc-000000000001.welcome.1@acme.example>\r\n",
            "X-Campaign: spring\r\n",
            "List-Unsubscribe: <https://kairos.example/u/abc>\r\n",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            "Content-Type: multipart/alternative;",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "Content-Type: text/html; charset=utf-8\r\n",
        ] {
            assert!(raw.contains(line), "missing {line:?} in\n{raw}");
        }
        assert!(raw.find("text/plain").unwrap() < raw.find("text/html").unwrap(), "the preferred (HTML) part is last");
        let envelope = message.envelope();
        assert_eq!(envelope.from().unwrap().to_string(), "news@acme.example");
        assert_eq!(envelope.to().iter().map(ToString::to_string).collect::<Vec<_>>(), ["ann@example.com"]);
        // Another attempt of the same message: the same Message-ID.
        let again = String::from_utf8(smtp.message(&email, now + TimeDelta::hours(1)).unwrap().formatted()).unwrap();
        assert!(again.contains("Message-ID: <kairos.0190c1d2-aaaa-7bbb-8ccc-000000000001.welcome.1@acme.example>"));

        // A long signed link stays one word (folded lines would break it for some clients).
        let long = format!("https://kairos.example/u/{}", "a1B2c3D4e5".repeat(20));
        let mut linked = item.clone();
        if let Rendered::Email { unsubscribe_url, subject, .. } = &mut linked.message {
            *unsubscribe_url = Some(long.clone());
            *subject = "Bienvenue, Zoë — votre essai commence".into();
        }
        let email = email::prepare(&linked, &smtp.defaults).unwrap();
        let raw = String::from_utf8(smtp.message(&email, now).unwrap().formatted()).unwrap();
        assert!(raw.contains(&format!("List-Unsubscribe: <{long}>\r\n")), "{raw}");
        assert!(raw.contains("Subject: Bienvenue, =?utf-8?b?"), "non-ASCII is encoded (RFC 2047): {raw}");
        assert!(raw.is_ascii());

        // Without a text: HTML alone.
        let mut html_only = item.clone();
        if let Rendered::Email { text, .. } = &mut html_only.message {
            *text = None;
        }
        let email = email::prepare(&html_only, &smtp.defaults).unwrap();
        let raw = String::from_utf8(smtp.message(&email, now).unwrap().formatted()).unwrap();
        assert!(raw.contains("Content-Type: text/html; charset=utf-8") && !raw.contains("multipart"), "{raw}");
    }
}
