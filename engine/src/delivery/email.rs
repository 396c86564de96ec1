//! What every email provider shares: reading the rendered email of an outbox item into
//! checked addresses and headers, the provider defaults (`from`, `reply_to`), the
//! one-click unsubscribe headers (RFC 8058) and a `Message-ID` stable per idempotency key.
//!
//! A message that cannot be sent as it is (an address that is not one, a header that
//! is not valid) is a permanent failure naming what is wrong; nothing is sent.

use super::{ConfigError, http};
use crate::nodes::send::Rendered;
use crate::scheduler::Delivery;
use crate::store::OutboxItem;
use lettre::message::Mailbox;
use std::str::FromStr;

/// `List-Unsubscribe` (RFC 2369), sent as `<url>` when the message has an unsubscribe link.
pub const LIST_UNSUBSCRIBE: &str = "List-Unsubscribe";
/// `List-Unsubscribe-Post` (RFC 8058): one-click unsubscribing with a POST to the link.
pub const LIST_UNSUBSCRIBE_POST: &str = "List-Unsubscribe-Post";
/// The only value `List-Unsubscribe-Post` has.
pub const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

pub use crate::nodes::send::header_name_problem;

/// `value` read as a mailbox (`ann@example.com` or `Ann <ann@example.com>`), or why not;
/// `what` names it in the error (`settings/from`, `the message's from`).
pub fn mailbox(what: &str, value: &str) -> Result<Mailbox, String> {
    let value = value.trim();
    let bad = || {
        format!("{what} `{value}` is not an email address (expected `name@example.com` or `Name <name@example.com>`)")
    };
    // The parser stops at the first mailbox of a list; a list is not one address.
    if value.is_empty() || value.chars().any(char::is_control) || (value.contains([',', ';']) && !value.contains('"')) {
        return Err(bad());
    }
    let parsed = Mailbox::from_str(value).map_err(|_| bad())?;
    // And it ignores what follows an address; only a whole match is one.
    let address = parsed.email.to_string();
    let whole = value == address
        || value
            .strip_suffix('>')
            .is_some_and(|v| v.ends_with(&address) && v[..v.len() - address.len()].ends_with('<'));
    if !whole {
        return Err(bad());
    }
    Ok(parsed)
}

/// The sender and reply-to address of a provider, used when a message sets none.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
}

impl Defaults {
    /// Check the provider's `settings/from` and `settings/reply_to`.
    pub fn new(from: &str, reply_to: Option<&str>) -> Result<Defaults, ConfigError> {
        let from = mailbox("the sender", from).map_err(|e| ConfigError::new("settings/from", e))?;
        let reply_to = reply_to
            .map(|r| mailbox("the reply-to address", r).map_err(|e| ConfigError::new("settings/reply_to", e)))
            .transpose()?;
        Ok(Defaults { from, reply_to })
    }
}

/// An outbox email with its addresses checked and its headers complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Email<'a> {
    pub to: Mailbox,
    /// The message's `from`, else the provider's.
    pub from: Mailbox,
    /// The message's `reply_to`, else the provider's.
    pub reply_to: Option<Mailbox>,
    pub subject: &'a str,
    /// The HTML body.
    pub html: &'a str,
    /// The plain-text body, when the message has one (not empty).
    pub text: Option<&'a str>,
    /// The extra headers in name order, then `List-Unsubscribe` and
    /// `List-Unsubscribe-Post` when the message has an unsubscribe link (they replace
    /// the journey's own). Headers whose value renders empty are left out.
    pub headers: Vec<(String, String)>,
    /// The idempotency key, for providers that record it.
    pub key: &'a str,
}

impl Email<'_> {
    /// `<kairos.…@domain-of-from>`: the same for every attempt of one message, so a
    /// re-sent copy is recognisable (and threads with the first).
    pub fn message_id(&self) -> String {
        message_id(self.key, self.from.email.domain())
    }
}

/// The email of `item` with `defaults` applied, or the permanent failure that keeps it
/// from being sent (another channel's message, an address or header that is not valid).
pub fn prepare<'a>(item: &'a OutboxItem, defaults: &Defaults) -> Result<Email<'a>, Delivery> {
    let failed = |error: String| Delivery::Failed { error };
    let Rendered::Email { to, subject, body, from, reply_to, text, headers, unsubscribe_url } = &item.message else {
        return Err(failed(format!(
            "the email channel got a {} message",
            crate::store::channel_name(item.message.channel())
        )));
    };
    let to = mailbox("the contact's email", to).map_err(failed)?;
    let from = match from.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => mailbox("the message's from", f).map_err(failed)?,
        None => defaults.from.clone(),
    };
    let reply_to = match reply_to.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => Some(mailbox("the message's reply_to", r).map_err(failed)?),
        None => defaults.reply_to.clone(),
    };
    let unsubscribe = unsubscribe_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let mut extra = Vec::with_capacity(headers.len() + 2);
    for (name, value) in headers {
        if let Some(problem) = header_name_problem(name) {
            return Err(failed(problem));
        }
        if value.contains(['\r', '\n']) {
            return Err(failed(format!("the header `{name}` has a line break in its value")));
        }
        let lower = name.to_ascii_lowercase();
        let replaced = unsubscribe.is_some() && (lower == "list-unsubscribe" || lower == "list-unsubscribe-post");
        if !replaced && !value.trim().is_empty() {
            extra.push((name.clone(), value.trim().to_string()));
        }
    }
    if let Some(url) = unsubscribe {
        if url.contains(['\r', '\n', '<', '>', ' ']) || !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(failed(format!("the unsubscribe link `{url}` is not an http(s) URL")));
        }
        extra.push((LIST_UNSUBSCRIBE.to_string(), format!("<{url}>")));
        extra.push((LIST_UNSUBSCRIBE_POST.to_string(), ONE_CLICK.to_string()));
    }
    Ok(Email {
        to,
        from,
        reply_to,
        subject,
        html: body,
        text: text.as_deref().filter(|t| !t.is_empty()),
        headers: extra,
        key: &item.key,
    })
}

/// `<kairos.<key>@<domain>>`, the key's characters that cannot be in a Message-ID
/// written as `=XX` (hex), so distinct keys give distinct ids.
pub fn message_id(key: &str, domain: &str) -> String {
    let mut local = String::from("kairos.");
    for c in key.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => local.push(c),
            ':' => local.push('.'),
            other => {
                let mut buf = [0; 4];
                for b in other.encode_utf8(&mut buf).bytes() {
                    local.push_str(&format!("={b:02X}"));
                }
            }
        }
    }
    format!("<{local}@{domain}>")
}

/// `delivery` with every occurrence of `secret` in its error replaced: a provider that
/// echoes a credential in an error must not put it in the outbox, logs or the timeline.
pub fn without_secret(delivery: Delivery, secret: &str) -> Delivery {
    let scrub = |error: String| {
        if secret.len() >= 4 && error.contains(secret) { error.replace(secret, super::REDACTED) } else { error }
    };
    match delivery {
        d @ (Delivery::Delivered | Delivery::Responded { .. }) => d,
        Delivery::Retry { after, error } => Delivery::Retry { after, error: scrub(error) },
        Delivery::Failed { error } => Delivery::Failed { error: scrub(error) },
        Delivery::Uncertain { after, error } => Delivery::Uncertain { after, error: scrub(error) },
    }
}

/// The result of an HTTP email API request, as [`http::answer`] classifies it, except
/// that a 4xx other than 429 (the provider refused this message, or the credentials) is
/// read by `rejected` from its status and body, since each provider explains it its own way.
pub async fn answer(
    provider: &str,
    item: &OutboxItem,
    result: Result<reqwest::Response, reqwest::Error>,
    now: chrono::DateTime<chrono::Utc>,
    rejected: impl FnOnce(reqwest::StatusCode, &str) -> Delivery,
) -> Result<http::Answer, Delivery> {
    match result {
        Ok(response)
            if response.status().is_client_error() && response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS =>
        {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            Err(rejected(status, &body))
        }
        other => http::answer(provider, item, other, now, http::MAX_RETRY_AFTER).await,
    }
}

/// At most `n` characters of a provider's explanation, trimmed.
pub fn clip(text: &str, n: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Check a provider's `base_url` (`settings/base_url`): an absolute http(s) URL without a
/// query, returned without its trailing `/`; `default` when absent.
pub fn base_url(base_url: Option<&str>, default: &str) -> Result<String, ConfigError> {
    let Some(url) = base_url else { return Ok(default.to_string()) };
    let field = "settings/base_url";
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| ConfigError::new(field, format!("`{url}` is not a URL ({e}); expected e.g. `{default}`")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::new(field, format!("`{url}` must start with `https://` (or `http://`)")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(ConfigError::new(
            field,
            format!("`{url}` must be the API's address only, without user, query or fragment"),
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// Check a required secret (`secrets/<field>`): present, not blank, one line.
pub fn secret(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::new(format!("secrets/{field}"), "is empty; paste the credential from the provider"));
    }
    if value.chars().any(|c| c.is_control()) || value.trim() != value {
        return Err(ConfigError::new(
            format!("secrets/{field}"),
            "has spaces, line breaks or control characters around or inside it; paste the credential alone",
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub(crate) fn item(message: Rendered) -> OutboxItem {
        OutboxItem {
            id: 1,
            key: "0190c1d2-aaaa-7bbb-8ccc-000000000001:welcome:1".into(),
            run_id: "r".into(),
            workflow_id: "w".into(),
            contact_id: "ann".into(),
            node: "welcome".into(),
            message,
            attempts: 1,
            recorded_attempts: 0,
            provider: None,
            awaited: false,
        }
    }

    fn email(headers: &[(&str, &str)], unsubscribe: Option<&str>) -> Rendered {
        Rendered::Email {
            to: "ann@example.com".into(),
            subject: "Hi".into(),
            body: "<p>Hi</p>".into(),
            from: None,
            reply_to: None,
            text: Some(String::new()),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            unsubscribe_url: unsubscribe.map(String::from),
        }
    }

    #[test]
    fn addresses_are_whole_mailboxes() {
        assert_eq!(mailbox("x", "ann@example.com").unwrap().to_string(), "ann@example.com");
        let named = mailbox("x", " Ann Lee <ann@example.com> ").unwrap();
        assert_eq!((named.name.as_deref(), named.email.to_string().as_str()), (Some("Ann Lee"), "ann@example.com"));
        assert_eq!(mailbox("x", "\"Lee, Ann\" <ann@example.com>").unwrap().name.as_deref(), Some("Lee, Ann"));
        for bad in
            ["", "ann", "ann@", "@example.com", "ann@example.com, bob@example.com", "ann@example.com junk", "a b@c.d"]
        {
            let e = mailbox("settings/from", bad).unwrap_err();
            assert!(e.starts_with("settings/from `") && e.contains("is not an email address"), "{bad}: {e}");
        }
    }

    #[test]
    fn header_names_follow_rfc_5322_and_leave_the_emails_own_fields_alone() {
        assert_eq!(header_name_problem("X-Campaign"), None);
        assert_eq!(header_name_problem("List-Unsubscribe"), None);
        assert!(header_name_problem("X Campaign").unwrap().contains("`X Campaign`"));
        assert!(header_name_problem("X:Y").is_some());
        assert!(header_name_problem("").is_some());
        assert!(header_name_problem("Ünïcode").is_some());
        assert!(header_name_problem(&"X".repeat(77)).is_some());
        let p = header_name_problem("reply-to").unwrap();
        assert!(p.contains("message.reply_to"), "{p}");
        assert!(header_name_problem("Message-ID").is_some());
    }

    #[test]
    fn prepare_applies_defaults_headers_and_the_unsubscribe_link() {
        let defaults = Defaults::new("Acme <news@acme.test>", Some("help@acme.test")).unwrap();
        let i = item(email(
            &[("X-Campaign", "spring"), ("X-Empty", "  "), ("list-unsubscribe", "<mailto:u@acme.test>")],
            None,
        ));
        let e = prepare(&i, &defaults).unwrap();
        assert_eq!(e.from.to_string(), "Acme <news@acme.test>");
        assert_eq!(e.reply_to.unwrap().to_string(), "help@acme.test");
        assert_eq!(e.text, None, "an empty text is no text part");
        assert_eq!(
            e.headers,
            [("X-Campaign".into(), "spring".into()), ("list-unsubscribe".into(), "<mailto:u@acme.test>".into())]
        );

        let i = item(email(
            &[("X-Campaign", "spring"), ("list-unsubscribe", "<mailto:u@acme.test>")],
            Some("https://k.test/u/abc"),
        ));
        let e = prepare(&i, &defaults).unwrap();
        assert_eq!(
            e.headers,
            [
                ("X-Campaign".into(), "spring".into()),
                ("List-Unsubscribe".into(), "<https://k.test/u/abc>".into()),
                ("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()),
            ],
            "the signed link replaces the journey's own"
        );
        assert_eq!(e.message_id(), "<kairos.0190c1d2-aaaa-7bbb-8ccc-000000000001.welcome.1@acme.test>");

        let mut m = email(&[], None);
        if let Rendered::Email { from, reply_to, .. } = &mut m {
            *from = Some("Bea <bea@shop.test>".into());
            *reply_to = Some("support@shop.test".into());
        }
        let i = item(m);
        let e = prepare(&i, &defaults).unwrap();
        assert_eq!(
            (e.from.to_string(), e.reply_to.unwrap().to_string()),
            ("Bea <bea@shop.test>".into(), "support@shop.test".into())
        );
    }

    #[test]
    fn prepare_refuses_what_cannot_be_sent_and_says_why() {
        let defaults = Defaults::new("news@acme.test", None).unwrap();
        let error = |m: Rendered| match prepare(&item(m), &defaults) {
            Err(Delivery::Failed { error }) => error,
            other => panic!("{other:?}"),
        };
        let mut m = email(&[], None);
        if let Rendered::Email { to, .. } = &mut m {
            *to = "not-an-address".into();
        }
        assert!(error(m).contains("the contact's email `not-an-address` is not an email address"));
        let mut m = email(&[], None);
        if let Rendered::Email { from, .. } = &mut m {
            *from = Some("Acme".into());
        }
        assert!(error(m).contains("the message's from `Acme`"));
        assert!(error(email(&[("X-A", "one\r\nBcc: evil@x.test")], None)).contains("line break"));
        assert!(error(email(&[("Subject", "x")], None)).contains("message.subject"));
        assert!(error(email(&[], Some("javascript:alert(1)"))).contains("unsubscribe link"));
        assert!(error(Rendered::Sms { to: "+1".into(), body: "x".into() }).contains("sms message"));
    }

    #[test]
    fn message_ids_are_stable_and_distinct_per_key() {
        assert_eq!(message_id("r1:n_1:2", "a.test"), "<kairos.r1.n_1.2@a.test>");
        assert_eq!(message_id("r1:n.1:2", "a.test"), "<kairos.r1.n=2E1.2@a.test>");
        assert_ne!(message_id("r1:n.1:2", "a.test"), message_id("r1:n:1:2", "a.test"));
    }

    #[test]
    fn secrets_are_scrubbed_from_errors() {
        let d = without_secret(Delivery::Failed { error: "bad token tok-123 given".into() }, "tok-123");
        assert_eq!(d, Delivery::Failed { error: "bad token [redacted] given".into() });
    }

    #[test]
    fn base_urls_and_secrets_are_checked() {
        assert_eq!(base_url(None, "https://api.test").unwrap(), "https://api.test");
        assert_eq!(base_url(Some("http://127.0.0.1:9/x/"), "https://api.test").unwrap(), "http://127.0.0.1:9/x");
        for bad in ["api.test", "ftp://api.test", "https://api.test/?k=1", "https://u:p@api.test"] {
            assert_eq!(base_url(Some(bad), "https://api.test").unwrap_err().field, "settings/base_url", "{bad}");
        }
        assert!(secret("api_key", "re_123").is_ok());
        assert_eq!(secret("api_key", " ").unwrap_err().field, "secrets/api_key");
        assert_eq!(secret("api_key", "re_123\n").unwrap_err().field, "secrets/api_key");
    }
}
