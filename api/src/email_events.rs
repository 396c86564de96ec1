//! The email providers' bounce and complaint events, read into what suppresses an
//! address. Only permanent failures suppress: a hard bounce (the address does not exist
//! or is refused for good) and a spam complaint. Soft bounces (a full mailbox, a server
//! that is busy or blocks for a while), deliveries, opens and every other event are
//! counted as ignored.
//!
//! - **Postmark**: one record per request: `RecordType: "Bounce"` with `Type`
//!   `HardBounce` or `BadEmailAddress`, or `RecordType: "SpamComplaint"`; the address is `Email`.
//! - **Resend**: `type: "email.bounced"` (a permanent rejection, unless `data.bounce.type`
//!   says `Transient` or `Undetermined`) or `email.complained`; the addresses are `data.to`.
//! - **SendGrid** (Event Webhook): an array of events: `bounce` of `type: "bounce"` (not
//!   `blocked`), `spamreport`, and `dropped` because of an earlier bounce, an invalid
//!   address or a spam report; the address is `email`.

use kairos_engine::store::SuppressionReason;
use serde_json::Value;

/// An email provider that reports bounces and complaints to Kairos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Postmark,
    Resend,
    Sendgrid,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Postmark, Provider::Resend, Provider::Sendgrid];

    pub fn name(self) -> &'static str {
        match self {
            Provider::Postmark => "postmark",
            Provider::Resend => "resend",
            Provider::Sendgrid => "sendgrid",
        }
    }

    pub fn parse(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.name() == name)
    }

    /// What to turn on in the provider's webhook settings.
    pub fn events_to_enable(self) -> &'static str {
        match self {
            Provider::Postmark => "a webhook on the message stream with the Bounce and Spam Complaint events",
            Provider::Resend => "a webhook with the email.bounced and email.complained events",
            Provider::Sendgrid => "the Event Webhook with the Bounced, Dropped and Spam Reports events",
        }
    }
}

/// An address to suppress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub address: String,
    pub reason: SuppressionReason,
    /// The provider's words about it.
    pub detail: Option<String>,
}

/// What a request reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Events {
    pub suppress: Vec<Report>,
    /// Events that suppress nothing (soft bounces, deliveries, ...).
    pub ignored: usize,
}

/// Why a request's body is not the provider's events; the pointer names the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct PayloadError {
    pub pointer: String,
    pub message: String,
}

fn error(pointer: impl Into<String>, message: impl Into<String>) -> PayloadError {
    PayloadError { pointer: pointer.into(), message: message.into() }
}

/// The string at `pointer` below `at` in `value`.
fn text<'a>(value: &'a Value, at: &str, pointer: &str, provider: Provider) -> Result<&'a str, PayloadError> {
    match value.pointer(pointer) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(error(format!("{at}{pointer}"), "expected a string")),
        None => Err(error(
            format!("{at}{pointer}"),
            format!("missing; this is not a {} event (see GET /v1/email-webhooks)", provider.name()),
        )),
    }
}

fn address(raw: &str, pointer: String) -> Result<String, PayloadError> {
    let a = kairos_engine::consent::normalize_email(raw);
    if a.is_empty() || !a.contains('@') {
        return Err(error(pointer, format!("`{raw}` is not an email address")));
    }
    Ok(a)
}

fn detail(value: &Value, pointers: &[&str]) -> Option<String> {
    let parts: Vec<&str> = pointers
        .iter()
        .filter_map(|p| value.pointer(p).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" — ").chars().take(500).collect())
}

/// Read a provider's request body.
pub fn parse(provider: Provider, body: &[u8]) -> Result<Events, PayloadError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| error("", format!("the body is not JSON: {e}")))?;
    match provider {
        Provider::Postmark => postmark(&value),
        Provider::Resend => resend(&value),
        Provider::Sendgrid => sendgrid(&value),
    }
}

fn postmark(v: &Value) -> Result<Events, PayloadError> {
    if !v.is_object() {
        return Err(error("", "expected one Postmark webhook record (a JSON object)"));
    }
    let p = Provider::Postmark;
    let reason = match text(v, "", "/RecordType", p)? {
        "SpamComplaint" => Some(SuppressionReason::SpamComplaint),
        "Bounce" => match text(v, "", "/Type", p)? {
            "HardBounce" | "BadEmailAddress" => Some(SuppressionReason::HardBounce),
            "SpamComplaint" => Some(SuppressionReason::SpamComplaint),
            _ => None,
        },
        _ => None,
    };
    let Some(reason) = reason else { return Ok(Events { suppress: vec![], ignored: 1 }) };
    let address = address(text(v, "", "/Email", p)?, "/Email".into())?;
    Ok(Events {
        suppress: vec![Report { address, reason, detail: detail(v, &["/Description", "/Details"]) }],
        ignored: 0,
    })
}

fn resend(v: &Value) -> Result<Events, PayloadError> {
    let p = Provider::Resend;
    let reason = match text(v, "", "/type", p)? {
        "email.complained" => SuppressionReason::SpamComplaint,
        "email.bounced" => match v.pointer("/data/bounce/type").and_then(Value::as_str) {
            Some("Transient" | "Undetermined") => return Ok(Events { suppress: vec![], ignored: 1 }),
            _ => SuppressionReason::HardBounce,
        },
        _ => return Ok(Events { suppress: vec![], ignored: 1 }),
    };
    let to: Vec<&str> = match v.pointer("/data/to") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| item.as_str().ok_or_else(|| error(format!("/data/to/{i}"), "expected a string")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(error("/data/to", "expected a list of addresses")),
        None => return Err(error("/data/to", "missing; this is not a resend event (see GET /v1/email-webhooks)")),
    };
    let detail = detail(v, &["/data/bounce/message"]);
    let suppress = to
        .iter()
        .enumerate()
        .map(|(i, raw)| Ok(Report { address: address(raw, format!("/data/to/{i}"))?, reason, detail: detail.clone() }))
        .collect::<Result<_, PayloadError>>()?;
    Ok(Events { suppress, ignored: 0 })
}

fn sendgrid(v: &Value) -> Result<Events, PayloadError> {
    let Some(items) = v.as_array() else {
        return Err(error("", "expected the SendGrid Event Webhook's array of events"));
    };
    let p = Provider::Sendgrid;
    let mut out = Events::default();
    for (i, e) in items.iter().enumerate() {
        let at = format!("/{i}");
        let reason = match text(e, &at, "/event", p)? {
            "spamreport" => Some(SuppressionReason::SpamComplaint),
            // `blocked` is SendGrid's soft bounce.
            "bounce" => {
                (e.get("type").and_then(Value::as_str) != Some("blocked")).then_some(SuppressionReason::HardBounce)
            }
            // Dropped because of what already suppresses it at SendGrid.
            "dropped" => match e.get("reason").and_then(Value::as_str).unwrap_or_default() {
                "Bounced Address" | "Invalid" => Some(SuppressionReason::HardBounce),
                "Spam Reporting Address" => Some(SuppressionReason::SpamComplaint),
                _ => None,
            },
            _ => None,
        };
        match reason {
            Some(reason) => out.suppress.push(Report {
                address: address(text(e, &at, "/email", p)?, format!("{at}/email"))?,
                reason,
                detail: detail(e, &["/reason", "/bounce_classification"]),
            }),
            None => out.ignored += 1,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../tests/fixtures/email-events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn suppressed(provider: Provider, name: &str) -> Vec<(String, SuppressionReason)> {
        parse(provider, &fixture(name)).unwrap().suppress.into_iter().map(|r| (r.address, r.reason)).collect()
    }

    #[test]
    fn postmark_hard_bounces_and_complaints_suppress_and_soft_bounces_do_not() {
        use SuppressionReason::*;
        assert_eq!(
            suppressed(Provider::Postmark, "postmark-hard-bounce.json"),
            [("ann@example.com".into(), HardBounce)]
        );
        let hard = parse(Provider::Postmark, &fixture("postmark-hard-bounce.json")).unwrap();
        assert!(hard.suppress[0].detail.as_deref().unwrap().contains("does not exist"));
        assert_eq!(
            suppressed(Provider::Postmark, "postmark-spam-complaint.json"),
            [("cat@example.com".into(), SpamComplaint)]
        );
        let soft = parse(Provider::Postmark, &fixture("postmark-soft-bounce.json")).unwrap();
        assert_eq!((soft.suppress.len(), soft.ignored), (0, 1));
        let delivery = parse(Provider::Postmark, &fixture("postmark-delivery.json")).unwrap();
        assert_eq!((delivery.suppress.len(), delivery.ignored), (0, 1));
    }

    #[test]
    fn resend_bounces_and_complaints_suppress_unless_the_bounce_is_transient() {
        use SuppressionReason::*;
        assert_eq!(suppressed(Provider::Resend, "resend-bounced.json"), [("ann@example.com".into(), HardBounce)]);
        assert_eq!(suppressed(Provider::Resend, "resend-complained.json"), [("cat@example.com".into(), SpamComplaint)]);
        assert!(suppressed(Provider::Resend, "resend-transient-bounce.json").is_empty());
        let sent = parse(Provider::Resend, br#"{"type": "email.delivered", "data": {"to": ["a@b.c"]}}"#).unwrap();
        assert_eq!(sent.ignored, 1);
    }

    #[test]
    fn sendgrid_hard_bounces_complaints_and_drops_for_them_suppress() {
        use SuppressionReason::*;
        let got = parse(Provider::Sendgrid, &fixture("sendgrid-events.json")).unwrap();
        let addresses: Vec<(&str, SuppressionReason)> =
            got.suppress.iter().map(|r| (r.address.as_str(), r.reason)).collect();
        assert_eq!(
            addresses,
            [("ann@example.com", HardBounce), ("cat@example.com", SpamComplaint), ("dan@example.com", HardBounce)]
        );
        assert_eq!(got.ignored, 3, "the blocked bounce, the drop for content, the delivery");
    }

    #[test]
    fn bodies_that_are_not_the_providers_events_say_where() {
        let e = parse(Provider::Postmark, b"not json").unwrap_err();
        assert!(e.message.contains("not JSON"));
        let e = parse(Provider::Postmark, br#"{"Type": "HardBounce"}"#).unwrap_err();
        assert_eq!(e.pointer, "/RecordType");
        let e = parse(Provider::Postmark, br#"{"RecordType": "Bounce", "Type": "HardBounce"}"#).unwrap_err();
        assert_eq!(e.pointer, "/Email");
        let e = parse(Provider::Postmark, br#"{"RecordType": "Bounce", "Type": "HardBounce", "Email": "nobody"}"#)
            .unwrap_err();
        assert!(e.message.contains("not an email address"), "{e}");
        let e = parse(Provider::Resend, br#"{"type": "email.bounced", "data": {"to": [1]}}"#).unwrap_err();
        assert_eq!(e.pointer, "/data/to/0");
        let e = parse(Provider::Sendgrid, br#"{"event": "bounce"}"#).unwrap_err();
        assert_eq!(e.pointer, "");
        let e = parse(Provider::Sendgrid, br#"[{"event": "spamreport"}]"#).unwrap_err();
        assert_eq!(e.pointer, "/0/email");
    }
}
