//! SMS through Twilio and Vonage, each against a local server that plays the provider's
//! API as documented (authentication, the request's fields, the real error bodies), driven
//! by the real dispatcher on a manual clock: delivered with the right content, 5xx and
//! throttling retried, `Retry-After` honoured, a hang is uncertain, a permanent refusal
//! fails at once with the provider's words, and the secret is never in an error.

mod support;

use chrono::TimeDelta;
use kairos_engine::delivery::{twilio, vonage};
use kairos_engine::nodes::send::Rendered;
use kairos_engine::scheduler::{Deliver, Delivery};
use kairos_engine::store::{OutboxItem, OutboxStatus};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{Fault, Harness, MockApi, Received, Reply};

fn sms_message() -> Value {
    json!({ "channel": "sms", "body": "Hi {{contact.first_name}}, your cart is waiting: 10% off with WELCOME10" })
}

fn contact(phone: &str) -> Value {
    json!({ "first_name": "Ann", "phone": phone })
}

fn sms_item(to: &str) -> OutboxItem {
    OutboxItem {
        id: 0,
        key: "run-1:send:1".into(),
        run_id: "run-1".into(),
        workflow_id: "notify".into(),
        contact_id: "ann".into(),
        node: "send".into(),
        message: Rendered::Sms { to: to.into(), body: "hi".into() },
        attempts: 1,
        recorded_attempts: 0,
        provider: None,
        awaited: false,
    }
}

// ----- Twilio -----

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";
const TWILIO_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

fn twilio_error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        json!({ "code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status }),
    )
}

/// Twilio's Messages resource: Basic auth with the account's SID and token, a form with
/// `To`, `From` or `MessagingServiceSid`, and `Body`; the real error codes.
fn twilio_api(r: &Received) -> Reply {
    if r.path != TWILIO_PATH || r.method != "POST" {
        return twilio_error(404, 20404, "The requested resource was not found");
    }
    if r.basic_auth() != Some((SID.into(), TOKEN.into())) {
        return twilio_error(401, 20003, "Authenticate");
    }
    if r.header("content-type") != Some("application/x-www-form-urlencoded") {
        return twilio_error(400, 21602, "Message body is required.");
    }
    let Some(to) = r.form_field("To") else { return twilio_error(400, 21604, "A 'To' phone number is required.") };
    if r.form_field("From").is_none() && r.form_field("MessagingServiceSid").is_none() {
        return twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.");
    }
    let Some(body) = r.form_field("Body") else { return twilio_error(400, 21602, "Message body is required.") };
    let valid = to.strip_prefix('+').is_some_and(|d| d.len() >= 8 && d.chars().all(|c| c.is_ascii_digit()));
    if !valid {
        return twilio_error(400, 21211, &format!("The 'To' number {to} is not a valid phone number."));
    }
    Reply::json(
        201,
        json!({ "sid": "SM0123456789abcdef0123456789abcdef", "account_sid": SID, "to": to, "body": body, "status": "queued" }),
    )
}

fn twilio_with(api: &MockApi, token: &str) -> Arc<twilio::Twilio> {
    let settings = twilio::Settings {
        account_sid: SID.into(),
        from: Some("+15005550006".into()),
        messaging_service_sid: None,
        base_url: Some(api.base.clone()),
    };
    Arc::new(twilio::Twilio::new(settings, twilio::Secrets { auth_token: token.into() }, &support::options()).unwrap())
}

async fn twilio_harness(api: &MockApi) -> Harness {
    Harness::new(twilio::CHANNEL, twilio_with(api, TOKEN), sms_message()).await
}

#[tokio::test]
async fn twilio_delivers_an_sms_with_to_from_and_body() {
    let api = MockApi::start(twilio_api).await;
    let h = twilio_harness(&api).await;
    h.start(contact("+447700900123")).await;

    assert_eq!(h.dispatch().await, 1);
    let got = api.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].form(),
        [
            ("To".to_string(), "+447700900123".to_string()),
            ("From".into(), "+15005550006".into()),
            ("Body".into(), "Hi Ann, your cart is waiting: 10% off with WELCOME10".into()),
        ]
    );
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts, entry.last_error), (OutboxStatus::Sent, 1, None));
    assert_eq!(h.advance(TimeDelta::hours(1)).await, 0);
    assert_eq!(api.requests().len(), 1, "sent once");
    api.stop().await;
}

#[tokio::test]
async fn twilio_5xx_and_a_full_queue_are_retried_then_delivered() {
    let api = MockApi::start(twilio_api).await;
    api.fail_next("Messages", Fault::Reply(Reply::text(503, "Service Unavailable")));
    api.fail_next(
        "Messages",
        Fault::Reply(twilio_error(400, 21611, "This 'From' number has exceeded the maximum number of queued messages")),
    );
    let h = twilio_harness(&api).await;
    h.start(contact("+447700900123")).await;

    assert_eq!(h.dispatch().await, 0);
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 1));
    assert!(entry.last_error.unwrap().contains("503"));
    assert_eq!(h.advance(TimeDelta::seconds(3)).await, 0);
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 2));
    assert!(entry.last_error.unwrap().contains("error 21611"), "a full queue is worth retrying");
    assert_eq!(h.advance(TimeDelta::seconds(6)).await, 1);
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 3));
    api.stop().await;
}

#[tokio::test]
async fn twilio_429_waits_for_its_retry_after() {
    let api = MockApi::start(twilio_api).await;
    api.fail_next(
        "Messages",
        Fault::Reply(twilio_error(429, 20429, "Too Many Requests").with_header("Retry-After", "20")),
    );
    let h = twilio_harness(&api).await;
    h.start(contact("+447700900123")).await;

    assert_eq!(h.dispatch().await, 0);
    assert!(h.entry().await.last_error.unwrap().contains("error 20429: Too Many Requests"));
    assert_eq!(h.advance(TimeDelta::seconds(19)).await, 0);
    assert_eq!(api.requests().len(), 1, "not before Retry-After: 20");
    assert_eq!(h.advance(TimeDelta::seconds(1)).await, 1);
    assert_eq!(h.entry().await.status, OutboxStatus::Sent);
    api.stop().await;
}

#[tokio::test]
async fn twilio_past_the_timeout_is_uncertain() {
    let api = MockApi::start(twilio_api).await;
    let h = twilio_harness(&api).await;
    let provider = twilio_with(&api, TOKEN);
    api.fail_next("Messages", Fault::Hang(Duration::from_secs(1)));
    let began = std::time::Instant::now();
    let outcome = provider.deliver(h.scheduler.store(), &[sms_item("+447700900123")], h.now()).await;
    assert!(began.elapsed() < Duration::from_millis(900));
    let [Delivery::Uncertain { error, .. }] = outcome.as_slice() else { panic!("{outcome:?}") };
    assert!(error.contains("twilio timed out"), "{error}");

    api.fail_next("Messages", Fault::Hang(Duration::from_secs(1)));
    h.start(contact("+447700900123")).await;
    assert_eq!(h.dispatch().await, 0);
    assert_eq!(h.entry().await.status, OutboxStatus::Pending);
    assert_eq!(h.advance(TimeDelta::seconds(3)).await, 1);
    api.stop().await;
}

#[tokio::test]
async fn twilio_refusing_the_number_fails_at_once_with_its_code_and_message() {
    let api = MockApi::start(twilio_api).await;
    let h = twilio_harness(&api).await;
    let run = h.start(contact("555-1234")).await;

    h.dispatch().await;
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts, entry.next_attempt_at), (OutboxStatus::Failed, 1, None));
    assert_eq!(
        entry.last_error.as_deref(),
        Some(
            "twilio answered 400 Bad Request: error 21211: The 'To' number 555-1234 is not a valid phone number. \
             (https://www.twilio.com/docs/errors/21211)"
        )
    );
    assert_eq!(h.advance(TimeDelta::days(1)).await, 0);
    assert_eq!(api.requests().len(), 1, "not retried");
    let timeline = h.timeline(&run).await;
    assert!(timeline.iter().any(|e| e["type"] == "delivery_failed" && e["channel"] == "sms"), "{timeline:?}");
    api.stop().await;
}

#[tokio::test]
async fn twilio_with_a_wrong_token_fails_and_never_shows_it() {
    let api = MockApi::start(twilio_api).await;
    let wrong = "badbadbadbadbadbadbadbadbadbad00";
    let h = Harness::new(twilio::CHANNEL, twilio_with(&api, wrong), sms_message()).await;
    let run = h.start(contact("+447700900123")).await;

    h.dispatch().await;
    let entry = h.entry().await;
    assert_eq!(entry.status, OutboxStatus::Failed);
    assert!(entry.last_error.as_deref().unwrap().contains("401 Unauthorized: error 20003: Authenticate"), "{entry:?}");
    let recorded = h.everything_recorded(&run).await;
    assert!(!recorded.contains(wrong) && !recorded.contains(TOKEN), "{recorded}");
    api.stop().await;
}

// ----- Vonage -----

const API_KEY: &str = "a1b2c3d4";
const API_SECRET: &str = "Sup3rS3cretVonage";

fn vonage_status(status: &str, error_text: &str) -> Reply {
    Reply::json(200, json!({ "message-count": "1", "messages": [ { "status": status, "error-text": error_text } ] }))
}

/// Vonage's SMS API: key and secret in the form; `200` with a status per part, also
/// for refusals; a long text is split in parts of 153 (GSM) or 67 (unicode) characters.
fn vonage_api(r: &Received) -> Reply {
    if r.path != "/sms/json" || r.method != "POST" {
        return Reply::text(404, "Not Found");
    }
    let field = |name: &str| r.form_field(name).unwrap_or_default();
    if field("api_key") != API_KEY || field("api_secret") != API_SECRET {
        return vonage_status("4", "Bad Credentials");
    }
    let (to, text) = (field("to"), field("text"));
    if field("from").is_empty() || to.is_empty() || text.is_empty() {
        return vonage_status("2", "Missing from param");
    }
    if !to.chars().all(|c| c.is_ascii_digit()) {
        return vonage_status("3", "Invalid to address");
    }
    if to.starts_with("999") {
        return vonage_status("6", "Unroutable message - rejected");
    }
    let per_part = if field("type") == "unicode" { 67 } else { 153 };
    let parts = text.chars().count().div_ceil(per_part).max(1);
    let messages: Vec<Value> = (0..parts)
        .map(|i| json!({ "to": to, "message-id": format!("0A00000{i}"), "status": "0", "remaining-balance": "3.14", "message-price": "0.03", "network": "23410" }))
        .collect();
    Reply::json(200, json!({ "message-count": parts.to_string(), "messages": messages }))
}

fn vonage_with(api: &MockApi, secret: &str) -> Arc<vonage::Vonage> {
    let settings = vonage::Settings { api_key: API_KEY.into(), from: "Acme".into(), base_url: Some(api.base.clone()) };
    Arc::new(vonage::Vonage::new(settings, vonage::Secrets { api_secret: secret.into() }, &support::options()).unwrap())
}

async fn vonage_harness(api: &MockApi, message: Value) -> Harness {
    Harness::new(vonage::CHANNEL, vonage_with(api, API_SECRET), message).await
}

#[tokio::test]
async fn vonage_delivers_an_sms_in_unicode_when_the_text_needs_it() {
    let api = MockApi::start(vonage_api).await;
    let h = vonage_harness(&api, json!({ "channel": "sms", "body": "Привет {{contact.first_name}} 👋" })).await;
    h.start(contact("+447700900123")).await;

    assert_eq!(h.dispatch().await, 1);
    let got = api.requests();
    assert_eq!(got.len(), 1);
    let field = |name: &str| got[0].form_field(name);
    assert_eq!(field("from").as_deref(), Some("Acme"));
    assert_eq!(field("to").as_deref(), Some("447700900123"), "international digits without +");
    assert_eq!(field("text").as_deref(), Some("Привет Ann 👋"));
    assert_eq!(field("type").as_deref(), Some("unicode"));
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts, entry.last_error), (OutboxStatus::Sent, 1, None));
    api.stop().await;
}

#[tokio::test]
async fn vonage_throttling_and_5xx_are_retried_then_delivered() {
    let api = MockApi::start(vonage_api).await;
    api.fail_next(
        "/sms/json",
        Fault::Reply(vonage_status("1", "Throughput Rate Exceeded - please wait [ 1 ] and retry")),
    );
    api.fail_next("/sms/json", Fault::Reply(Reply::text(500, "Internal Server Error")));
    let h = vonage_harness(&api, sms_message()).await;
    h.start(contact("447700900123")).await;

    assert_eq!(h.dispatch().await, 0);
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 1));
    assert!(entry.last_error.unwrap().contains("status 1: Throughput Rate Exceeded"));
    assert_eq!(h.advance(TimeDelta::seconds(3)).await, 0);
    assert!(h.entry().await.last_error.unwrap().contains("500"));
    assert_eq!(h.advance(TimeDelta::seconds(6)).await, 1);
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 3));
    assert_eq!(api.requests()[2].form_field("type"), None, "plain GSM text is sent as text");
    api.stop().await;
}

#[tokio::test]
async fn vonage_429_waits_for_its_retry_after_and_a_hang_is_uncertain() {
    let api = MockApi::start(vonage_api).await;
    api.fail_next("/sms/json", Fault::Reply(Reply::text(429, "Too Many Requests").with_header("Retry-After", "15")));
    let h = vonage_harness(&api, sms_message()).await;
    h.start(contact("447700900123")).await;
    assert_eq!(h.dispatch().await, 0);
    assert_eq!(h.advance(TimeDelta::seconds(14)).await, 0);
    assert_eq!(api.requests().len(), 1, "not before Retry-After: 15");
    assert_eq!(h.advance(TimeDelta::seconds(1)).await, 1);

    let provider = vonage_with(&api, API_SECRET);
    api.fail_next("/sms/json", Fault::Hang(Duration::from_secs(1)));
    let outcome = provider.deliver(h.scheduler.store(), &[sms_item("447700900123")], h.now()).await;
    let [Delivery::Uncertain { error, .. }] = outcome.as_slice() else { panic!("{outcome:?}") };
    assert!(error.contains("vonage timed out"), "{error}");
    api.stop().await;
}

#[tokio::test]
async fn vonage_refusing_the_number_fails_at_once_with_its_error_text() {
    let api = MockApi::start(vonage_api).await;
    let h = vonage_harness(&api, sms_message()).await;
    let run = h.start(contact("+999123456789")).await;

    h.dispatch().await;
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Failed, 1));
    assert_eq!(
        entry.last_error.as_deref(),
        Some("vonage refused the message: status 6: Unroutable message - rejected")
    );
    assert_eq!(h.advance(TimeDelta::days(1)).await, 0);
    assert_eq!(api.requests().len(), 1, "not retried");
    assert!(h.timeline(&run).await.iter().any(|e| e["type"] == "delivery_failed"));
    api.stop().await;
}

#[tokio::test]
async fn vonage_with_a_wrong_secret_fails_and_never_shows_it() {
    let api = MockApi::start(vonage_api).await;
    let wrong = "WrongS3cretVonage";
    let h = Harness::new(vonage::CHANNEL, vonage_with(&api, wrong), sms_message()).await;
    let run = h.start(contact("447700900123")).await;

    h.dispatch().await;
    let entry = h.entry().await;
    assert_eq!(entry.status, OutboxStatus::Failed);
    assert_eq!(entry.last_error.as_deref(), Some("vonage refused the message: status 4: Bad Credentials"));
    let recorded = h.everything_recorded(&run).await;
    assert!(!recorded.contains(wrong) && !recorded.contains(API_SECRET), "{recorded}");
    api.stop().await;
}
