//! The HTTP email providers (Postmark, Resend, SendGrid) against local receivers that behave like
//! their APIs (actix-web on 127.0.0.1:0): each checks the credential and the request the
//! way the real API does, answers with the real API's errors, records what it received,
//! and can be told to fail with 500s, 429 + Retry-After or to hang past the timeout. The
//! deliverers run under the real dispatcher, so outbox rows end `sent` or `failed`.

mod email_support;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, TimeDelta, Utc};
use email_support::*;
use kairos_engine::clock::Clock;
use kairos_engine::delivery::{postmark, resend, sendgrid};
use kairos_engine::scheduler::Deliver;
use kairos_engine::store::OutboxStatus;
use kairos_engine::time::parse_timestamp;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ----- The receivers -----

#[derive(Debug, Clone, Copy, PartialEq)]
enum Api {
    Postmark,
    Resend,
    Sendgrid,
}

/// How the receiver answers one request (before the API's own checks).
#[derive(Debug, Clone)]
enum Reply {
    /// This status and body, whatever the request.
    Status(u16, String),
    /// 429 with this `Retry-After`.
    TooMany(String),
    /// 429 with this `X-RateLimit-Reset` (a Unix time) and no `Retry-After`, as SendGrid answers.
    RateLimitReset(i64),
    /// Handle the request as the API does (the email is sent), but answer only after
    /// this long: past the client's timeout.
    SendThenHang(Duration),
}

#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Value,
}

struct Mock {
    api: Api,
    secret: String,
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Received>>,
    /// Emails the API accepted for sending (a repeated idempotency key sends nothing).
    sent: Mutex<Vec<Value>>,
    /// Resend: idempotency key → the id answered for it.
    keys: Mutex<BTreeMap<String, String>>,
}

struct Receiver {
    base_url: String,
    mock: Arc<Mock>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start(api: Api, secret: &str, script: Vec<Reply>) -> Receiver {
        let mock = Arc::new(Mock {
            api,
            secret: secret.to_string(),
            script: Mutex::new(script.into()),
            requests: Mutex::default(),
            sent: Mutex::default(),
            keys: Mutex::default(),
        });
        let data = web::Data::from(mock.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
            .workers(1)
            .shutdown_timeout(0)
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver { base_url: format!("http://127.0.0.1:{port}"), mock, server: handle }
    }

    fn requests(&self) -> Vec<Received> {
        self.mock.requests.lock().unwrap().clone()
    }

    fn sent(&self) -> Vec<Value> {
        self.mock.sent.lock().unwrap().clone()
    }

    async fn stop(self) {
        self.server.stop(false).await;
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, mock: web::Data<Mock>) -> HttpResponse {
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    mock.requests.lock().unwrap().push(Received {
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers: headers.clone(),
        body: json.clone(),
    });
    let scripted = mock.script.lock().unwrap().pop_front();
    let hang = match scripted {
        Some(Reply::Status(code, body)) => {
            return HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                .content_type("application/json")
                .body(body);
        }
        Some(Reply::TooMany(after)) => {
            return HttpResponse::TooManyRequests().insert_header(("Retry-After", after)).finish();
        }
        Some(Reply::RateLimitReset(at)) => {
            return HttpResponse::TooManyRequests()
                .insert_header(("X-RateLimit-Reset", at.to_string()))
                .json(json!({ "errors": [{ "field": null, "message": "too many requests" }] }));
        }
        Some(Reply::SendThenHang(d)) => Some(d),
        None => None,
    };
    let response = match mock.api {
        Api::Postmark => postmark_api(&mock, &req, &headers, &json),
        Api::Resend => resend_api(&mock, &req, &headers, &json),
        Api::Sendgrid => sendgrid_api(&mock, &req, &headers, &json),
    };
    if let Some(d) = hang {
        tokio::time::sleep(d).await;
    }
    response
}

fn reply(status: u16, body: Value) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}

/// `POST /email` as Postmark answers it.
fn postmark_api(mock: &Mock, req: &HttpRequest, headers: &BTreeMap<String, String>, body: &Value) -> HttpResponse {
    if (req.method().as_str(), req.path()) != ("POST", "/email") {
        return reply(404, json!({ "ErrorCode": 404, "Message": "Not found" }));
    }
    match headers.get("x-postmark-server-token") {
        None => {
            return reply(
                401,
                json!({ "ErrorCode": 10, "Message": "No Account or Server API tokens were supplied in the HTTP headers. Please add a header for either X-Postmark-Server-Token or X-Postmark-Account-Token." }),
            );
        }
        Some(t) if *t != mock.secret => {
            return reply(
                401,
                json!({ "ErrorCode": 10, "Message": "The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token." }),
            );
        }
        Some(_) => {}
    }
    if !headers.get("content-type").is_some_and(|c| c.starts_with("application/json")) {
        return reply(415, json!({ "ErrorCode": 409, "Message": "JSON Required" }));
    }
    let text = |f: &str| body.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
    if text("From").is_empty() || text("To").is_empty() || text("HtmlBody").is_empty() && text("TextBody").is_empty() {
        return reply(422, json!({ "ErrorCode": 300, "Message": "Invalid email request" }));
    }
    let to = text("To");
    if to.contains("inactive@") {
        return reply(
            422,
            json!({ "ErrorCode": 406, "Message": format!("You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: {to}. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.") }),
        );
    }
    mock.sent.lock().unwrap().push(body.clone());
    let id = uuid::Uuid::new_v4().to_string();
    reply(
        200,
        json!({ "To": to, "SubmittedAt": "2026-03-02T10:00:00.0000000Z", "MessageID": id, "ErrorCode": 0, "Message": "OK" }),
    )
}

/// `POST /emails` as Resend answers it, deduplicating by `Idempotency-Key`.
fn resend_api(mock: &Mock, req: &HttpRequest, headers: &BTreeMap<String, String>, body: &Value) -> HttpResponse {
    let error = |status: u16, name: &str, message: &str| {
        reply(status, json!({ "statusCode": status, "name": name, "message": message }))
    };
    if (req.method().as_str(), req.path()) != ("POST", "/emails") {
        return error(404, "not_found", "The requested endpoint does not exist.");
    }
    match headers.get("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
        None => return error(401, "missing_api_key", "Missing API key in the authorization header."),
        Some(k) if k != mock.secret => return error(403, "invalid_api_key", "API key is invalid"),
        Some(_) => {}
    }
    let has = |f: &str| body.get(f).is_some_and(|v| !v.is_null());
    for field in ["from", "to", "subject"] {
        if !has(field) {
            return error(422, "missing_required_field", &format!("Missing `{field}` field."));
        }
    }
    let to = body["to"].to_string();
    if to.contains("@resend.dev") {
        return error(
            403,
            "validation_error",
            "You can only send testing emails to your own email address. To send emails to other recipients, please verify a domain.",
        );
    }
    if let Some(key) = headers.get("idempotency-key") {
        if key.is_empty() || key.len() > 256 {
            return error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.");
        }
        if let Some(id) = mock.keys.lock().unwrap().get(key) {
            return reply(200, json!({ "id": id }));
        }
    }
    mock.sent.lock().unwrap().push(body.clone());
    let id = uuid::Uuid::new_v4().to_string();
    if let Some(key) = headers.get("idempotency-key") {
        mock.keys.lock().unwrap().insert(key.clone(), id.clone());
    }
    reply(200, json!({ "id": id }))
}

/// `POST /v3/mail/send` as SendGrid answers it.
fn sendgrid_api(mock: &Mock, req: &HttpRequest, headers: &BTreeMap<String, String>, body: &Value) -> HttpResponse {
    let errors = |status: u16, list: Value| reply(status, json!({ "errors": list }));
    if (req.method().as_str(), req.path()) != ("POST", "/v3/mail/send") {
        return errors(404, json!([{ "field": null, "message": "resource not found" }]));
    }
    match headers.get("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
        Some(k) if k == mock.secret => {}
        _ => {
            return errors(
                401,
                json!([{ "field": null, "message": "The provided authorization grant is invalid, expired, or revoked", "help": null }]),
            );
        }
    }
    let to = &body["personalizations"][0]["to"][0]["email"];
    if !to.is_string() {
        return errors(
            400,
            json!([{ "field": "personalizations.0.to", "message": "The to parameter is required for all personalization objects, and must have at least one email object with a valid email address.", "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to" }]),
        );
    }
    let types: Vec<&str> =
        body["content"].as_array().into_iter().flatten().filter_map(|c| c["type"].as_str()).collect();
    if types.len() > 1 && types[0] != "text/plain" {
        return errors(
            400,
            json!([{ "field": "content", "message": "If present, text/plain content must be first, followed by text/html, then any other types." }]),
        );
    }
    if body["from"]["email"].as_str().is_some_and(|f| !f.ends_with("@acme.example")) {
        return errors(
            403,
            json!([{ "field": "from", "message": "The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements", "help": null }]),
        );
    }
    mock.sent.lock().unwrap().push(body.clone());
    HttpResponse::Accepted().finish()
}

// ----- The deliverers -----

const POSTMARK_TOKEN: &str = "pm-7f3c-server-token-0042";
const RESEND_KEY: &str = "re_live_9b8a7c6d5e4f";
const SENDGRID_KEY: &str = "SG.kairos-test.0123456789abcdef";

fn postmark_at(receiver: &Receiver, token: &str) -> Arc<postmark::Postmark> {
    let settings: postmark::Settings = serde_json::from_value(json!({
        "base_url": receiver.base_url, "from": "Acme <news@acme.example>", "message_stream": "outbound"
    }))
    .unwrap();
    let secrets = postmark::Secrets { server_token: token.to_string() };
    Arc::new(postmark::Postmark::new(settings, secrets, &options()).unwrap())
}

fn resend_at(receiver: &Receiver, key: &str) -> Arc<resend::Resend> {
    let settings: resend::Settings =
        serde_json::from_value(json!({ "base_url": receiver.base_url, "from": "Acme <news@acme.example>" })).unwrap();
    let secrets = resend::Secrets { api_key: key.to_string() };
    Arc::new(resend::Resend::new(settings, secrets, &options()).unwrap())
}

fn sendgrid_at(receiver: &Receiver, key: &str, from: &str) -> Arc<sendgrid::Sendgrid> {
    let settings: sendgrid::Settings =
        serde_json::from_value(json!({ "base_url": receiver.base_url, "from": from })).unwrap();
    let secrets = sendgrid::Secrets { api_key: key.to_string() };
    Arc::new(sendgrid::Sendgrid::new(settings, secrets, &options()).unwrap())
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

// ----- Postmark -----

#[tokio::test]
async fn postmark_sends_the_email_with_its_token_fields_and_unsubscribe_headers() {
    let receiver = Receiver::start(Api::Postmark, POSTMARK_TOKEN, vec![]).await;
    let h = harness(postmark_at(&receiver, POSTMARK_TOKEN)).await;
    let run = start(&h, "ann", "Ann Lee <ann@example.com>").await;
    set_unsubscribe_url(&h, &run, "https://kairos.example/u/ann-signed").await;

    assert_eq!(dispatch(&h).await, 1);
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/email"));
    assert_eq!(r.headers["x-postmark-server-token"], POSTMARK_TOKEN);
    assert_eq!(r.headers["accept"], "application/json");
    assert_eq!(
        r.body,
        json!({
            "From": "Acme <news@acme.example>",
            "To": "Ann Lee <ann@example.com>",
            "Subject": "Welcome, Ann",
            "HtmlBody": "<p>Hello Ann, your plan is <b>pro</b>.</p>",
            "TextBody": "Hello Ann, your plan is pro.",
            "ReplyTo": "Support <support@acme.example>",
            "Headers": [
                { "Name": "X-Campaign", "Value": "welcome-pro" },
                { "Name": "List-Unsubscribe", "Value": "<https://kairos.example/u/ann-signed>" },
                { "Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click" }
            ],
            "MessageStream": "outbound"
        })
    );
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts, row.last_error), (OutboxStatus::Sent, 1, None));
    // Nothing is sent twice.
    assert_eq!(advance(&h, TimeDelta::hours(1)).await, 0);
    assert_eq!(receiver.sent().len(), 1);
    receiver.stop().await;
}

#[tokio::test]
async fn postmark_500_is_retried_after_the_backoff_then_delivered() {
    let error = r#"{"ErrorCode":100,"Message":"Maintenance"}"#.to_string();
    let receiver = Receiver::start(Api::Postmark, POSTMARK_TOKEN, vec![Reply::Status(500, error)]).await;
    let h = harness(postmark_at(&receiver, POSTMARK_TOKEN)).await;
    let run = start(&h, "ann", "ann@example.com").await;

    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
    let error = row.last_error.clone().unwrap();
    assert!(error.contains("postmark answered 500") && error.contains("Maintenance"), "{error}");
    // The first backoff: 2 s plus up to 40 % jitter.
    let wait = wait_of(&h, &row);
    assert!(wait >= TimeDelta::seconds(2) && wait <= TimeDelta::milliseconds(2800), "{wait}");
    assert_eq!(advance(&h, TimeDelta::seconds(1)).await, 0, "not before the backoff");
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(advance(&h, TimeDelta::seconds(2)).await, 1);
    assert_eq!(receiver.sent().len(), 1);
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts, row.last_error), (OutboxStatus::Sent, 2, None));
    receiver.stop().await;
}

#[tokio::test]
async fn postmark_429_waits_for_its_retry_after() {
    let receiver = Receiver::start(Api::Postmark, POSTMARK_TOKEN, vec![Reply::TooMany("120".into())]).await;
    let h = harness(postmark_at(&receiver, POSTMARK_TOKEN)).await;
    let run = start(&h, "ann", "ann@example.com").await;

    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!(wait_of(&h, &row), TimeDelta::seconds(120));
    assert!(row.last_error.unwrap().contains("429"));
    assert_eq!(advance(&h, TimeDelta::seconds(119)).await, 0);
    assert_eq!(receiver.requests().len(), 1, "not before Retry-After");
    assert_eq!(advance(&h, TimeDelta::seconds(1)).await, 1);
    assert_eq!(entry(&h, &run).await.status, OutboxStatus::Sent);
    receiver.stop().await;
}

#[tokio::test]
async fn postmark_hanging_past_the_timeout_is_uncertain_and_retried() {
    let receiver =
        Receiver::start(Api::Postmark, POSTMARK_TOKEN, vec![Reply::SendThenHang(Duration::from_secs(3))]).await;
    let deliverer = postmark_at(&receiver, POSTMARK_TOKEN);
    assert!(!deliverer.idempotent(), "Postmark has no idempotency key: a re-send may arrive twice");
    let h = harness(deliverer).await;
    let run = start(&h, "ann", "ann@example.com").await;

    let began = std::time::Instant::now();
    assert_eq!(dispatch(&h).await, 0);
    assert!(began.elapsed() < Duration::from_secs(2), "the 400 ms timeout cut the request");
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
    assert!(row.last_error.as_deref().unwrap().contains("postmark timed out"), "{row:?}");
    assert_eq!(advance(&h, TimeDelta::seconds(3)).await, 1);
    assert_eq!(entry(&h, &run).await.status, OutboxStatus::Sent);
    receiver.stop().await;
}

#[tokio::test]
async fn postmark_inactive_recipient_fails_at_once_with_postmarks_message() {
    let receiver = Receiver::start(Api::Postmark, POSTMARK_TOKEN, vec![]).await;
    let h = harness(postmark_at(&receiver, POSTMARK_TOKEN)).await;
    let run = start(&h, "ann", "inactive@example.com").await;

    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts, row.next_attempt_at), (OutboxStatus::Failed, 1, None));
    let error = row.last_error.unwrap();
    assert!(
        error.starts_with("postmark answered 422 Unprocessable Entity: ErrorCode 406: You tried to send to recipient(s) that have been marked as inactive."),
        "{error}"
    );
    assert_eq!(advance(&h, TimeDelta::days(1)).await, 0);
    assert_eq!(receiver.requests().len(), 1, "a rejection is not retried");
    let failures = failures_on_timeline(&h, &run).await;
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0]["channel"].as_str(), failures[0]["attempts"].as_u64()), (Some("email"), Some(1)));
    receiver.stop().await;
}

#[tokio::test]
async fn postmark_wrong_token_fails_and_no_token_shows_anywhere() {
    // A receiver that echoes the token it got in its error, unlike Postmark: the
    // deliverer still keeps it out of the outbox and the timeline.
    let echo = format!(r#"{{"ErrorCode":10,"Message":"Server token {POSTMARK_TOKEN} is not valid"}}"#);
    let receiver = Receiver::start(Api::Postmark, "the-real-token", vec![Reply::Status(401, echo)]).await;
    let h = harness(postmark_at(&receiver, POSTMARK_TOKEN)).await;
    let echoed = start(&h, "ann", "ann@example.com").await;
    let plain = start(&h, "bob", "bob@example.com").await;

    assert_eq!(dispatch(&h).await, 0);
    assert_eq!(receiver.requests().len(), 2);
    let row = entry(&h, &plain).await;
    assert_eq!(row.status, OutboxStatus::Failed);
    let error = row.last_error.unwrap();
    assert!(error.starts_with("postmark refused the server token (401 Unauthorized): ErrorCode 10:"), "{error}");
    let row = entry(&h, &echoed).await;
    assert_eq!(row.status, OutboxStatus::Failed);
    assert!(row.last_error.as_deref().unwrap().contains("Server token [redacted] is not valid"), "{row:?}");
    let shown = everything_shown(&h, &[&echoed, &plain]).await;
    assert!(!shown.contains(POSTMARK_TOKEN), "the token leaked: {shown}");
    receiver.stop().await;
}

// ----- Resend -----

#[tokio::test]
async fn resend_sends_the_email_with_its_key_fields_and_idempotency_key() {
    let receiver = Receiver::start(Api::Resend, RESEND_KEY, vec![]).await;
    let h = harness(resend_at(&receiver, RESEND_KEY)).await;
    let run = start(&h, "ann", "ann@example.com").await;
    set_unsubscribe_url(&h, &run, "https://kairos.example/u/ann-signed").await;

    assert_eq!(dispatch(&h).await, 1);
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/emails"));
    assert_eq!(r.headers["authorization"], format!("Bearer {RESEND_KEY}"));
    let row = entry(&h, &run).await;
    assert_eq!(r.headers["idempotency-key"], row.key);
    assert_eq!(
        r.body,
        json!({
            "from": "Acme <news@acme.example>",
            "to": ["ann@example.com"],
            "subject": "Welcome, Ann",
            "html": "<p>Hello Ann, your plan is <b>pro</b>.</p>",
            "text": "Hello Ann, your plan is pro.",
            "reply_to": "Support <support@acme.example>",
            "headers": {
                "X-Campaign": "welcome-pro",
                "List-Unsubscribe": "<https://kairos.example/u/ann-signed>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"
            }
        })
    );
    assert_eq!((row.status, row.attempts, row.last_error), (OutboxStatus::Sent, 1, None));
    receiver.stop().await;
}

#[tokio::test]
async fn resend_timeout_after_sending_is_uncertain_and_the_retry_is_not_sent_twice() {
    let receiver = Receiver::start(Api::Resend, RESEND_KEY, vec![Reply::SendThenHang(Duration::from_secs(3))]).await;
    let deliverer = resend_at(&receiver, RESEND_KEY);
    assert!(deliverer.idempotent());
    let h = harness(deliverer).await;
    let run = start(&h, "ann", "ann@example.com").await;

    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!(row.status, OutboxStatus::Pending);
    assert!(row.last_error.as_deref().unwrap().contains("resend timed out"), "{row:?}");
    assert_eq!(receiver.sent().len(), 1, "Resend accepted it before the client gave up");

    assert_eq!(advance(&h, TimeDelta::seconds(3)).await, 1);
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].headers["idempotency-key"], got[1].headers["idempotency-key"]);
    assert_eq!(receiver.sent().len(), 1, "the same key is not sent again");
    assert_eq!(entry(&h, &run).await.status, OutboxStatus::Sent);
    receiver.stop().await;
}

#[tokio::test]
async fn resend_500_and_429_are_retried_as_they_say() {
    let receiver = Receiver::start(Api::Resend, RESEND_KEY, vec![]).await;
    let h = harness(resend_at(&receiver, RESEND_KEY)).await;
    let date = http_date(h.clock.now() + TimeDelta::seconds(300));
    receiver.mock.script.lock().unwrap().extend([
        Reply::Status(
            500,
            r#"{"statusCode":500,"name":"internal_server_error","message":"An unexpected error occurred."}"#.into(),
        ),
        Reply::TooMany(date),
    ]);
    let run = start(&h, "ann", "ann@example.com").await;

    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert!(row.last_error.as_deref().unwrap().contains("resend answered 500"), "{row:?}");
    let wait = wait_of(&h, &row);
    assert!(wait >= TimeDelta::seconds(2) && wait <= TimeDelta::milliseconds(2800), "{wait}");
    assert_eq!(advance(&h, TimeDelta::seconds(3)).await, 0, "the 429");
    let row = entry(&h, &run).await;
    assert_eq!(row.attempts, 2);
    assert_eq!(row.next_attempt_at.unwrap(), parse_timestamp("2026-03-02T10:05:00Z").unwrap(), "the Retry-After date");
    assert_eq!(advance(&h, TimeDelta::seconds(290)).await, 0);
    assert_eq!(receiver.requests().len(), 2, "not before the Retry-After date");
    assert_eq!(advance(&h, TimeDelta::seconds(10)).await, 1);
    assert_eq!(receiver.sent().len(), 1);
    receiver.stop().await;
}

#[tokio::test]
async fn resend_rejection_fails_at_once_and_a_wrong_key_never_shows() {
    let receiver = Receiver::start(Api::Resend, RESEND_KEY, vec![]).await;
    let h = harness(resend_at(&receiver, RESEND_KEY)).await;
    let run = start(&h, "ann", "ann@resend.dev").await;
    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts), (OutboxStatus::Failed, 1));
    assert_eq!(
        row.last_error.unwrap(),
        "resend answered 403 Forbidden: validation_error: You can only send testing emails to your own email address. To send emails to other recipients, please verify a domain."
    );
    assert_eq!(advance(&h, TimeDelta::days(1)).await, 0);
    assert_eq!(receiver.requests().len(), 1, "a rejection is not retried");
    receiver.stop().await;

    let receiver = Receiver::start(Api::Resend, RESEND_KEY, vec![]).await;
    let wrong = "re_wrong_1234567890";
    let h = harness(resend_at(&receiver, wrong)).await;
    let run = start(&h, "ann", "ann@example.com").await;
    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!(row.status, OutboxStatus::Failed);
    assert_eq!(row.last_error.unwrap(), "resend answered 403 Forbidden: invalid_api_key: API key is invalid");
    assert!(!everything_shown(&h, &[&run]).await.contains(wrong));
    assert!(receiver.sent().is_empty());
    receiver.stop().await;
}

// ----- SendGrid -----

#[tokio::test]
async fn sendgrid_sends_the_email_with_its_key_and_fields() {
    let receiver = Receiver::start(Api::Sendgrid, SENDGRID_KEY, vec![]).await;
    let h = harness(sendgrid_at(&receiver, SENDGRID_KEY, "Acme <news@acme.example>")).await;
    let run = start(&h, "ann", "Ann Lee <ann@example.com>").await;
    set_unsubscribe_url(&h, &run, "https://kairos.example/u/ann-signed").await;

    assert_eq!(dispatch(&h).await, 1);
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v3/mail/send"));
    assert_eq!(r.headers["authorization"], format!("Bearer {SENDGRID_KEY}"));
    assert_eq!(
        r.body,
        json!({
            "personalizations": [{ "to": [{ "email": "ann@example.com", "name": "Ann Lee" }] }],
            "from": { "email": "news@acme.example", "name": "Acme" },
            "reply_to": { "email": "support@acme.example", "name": "Support" },
            "subject": "Welcome, Ann",
            "content": [
                { "type": "text/plain", "value": "Hello Ann, your plan is pro." },
                { "type": "text/html", "value": "<p>Hello Ann, your plan is <b>pro</b>.</p>" }
            ],
            "headers": {
                "X-Campaign": "welcome-pro",
                "List-Unsubscribe": "<https://kairos.example/u/ann-signed>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"
            }
        })
    );
    assert_eq!(receiver.sent().len(), 1);
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts, row.last_error), (OutboxStatus::Sent, 1, None));
    receiver.stop().await;
}

#[tokio::test]
async fn sendgrid_429_waits_for_the_rate_limit_reset_and_500_for_the_backoff() {
    let receiver = Receiver::start(Api::Sendgrid, SENDGRID_KEY, vec![]).await;
    let h = harness(sendgrid_at(&receiver, SENDGRID_KEY, "news@acme.example")).await;
    let reset = (h.clock.now() + TimeDelta::seconds(90)).timestamp();
    receiver.mock.script.lock().unwrap().extend([
        Reply::RateLimitReset(reset),
        Reply::Status(503, r#"{"errors":[{"message":"service unavailable"}]}"#.into()),
    ]);
    let run = start(&h, "ann", "ann@example.com").await;

    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!(wait_of(&h, &row), TimeDelta::seconds(90), "until X-RateLimit-Reset");
    assert!(row.last_error.unwrap().contains("sendgrid answered 429"));
    assert_eq!(advance(&h, TimeDelta::seconds(89)).await, 0);
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(advance(&h, TimeDelta::seconds(1)).await, 0, "the 503");
    let row = entry(&h, &run).await;
    let wait = wait_of(&h, &row);
    assert!(wait >= TimeDelta::seconds(4) && wait <= TimeDelta::milliseconds(5600), "the second backoff: {wait}");
    assert_eq!(advance(&h, TimeDelta::seconds(6)).await, 1);
    assert_eq!(entry(&h, &run).await.status, OutboxStatus::Sent);
    assert_eq!(receiver.sent().len(), 1);
    receiver.stop().await;
}

#[tokio::test]
async fn sendgrid_rejection_fails_at_once_and_a_wrong_key_never_shows() {
    let receiver = Receiver::start(Api::Sendgrid, SENDGRID_KEY, vec![]).await;
    let h = harness(sendgrid_at(&receiver, SENDGRID_KEY, "news@unverified.example")).await;
    let run = start(&h, "ann", "ann@example.com").await;
    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts), (OutboxStatus::Failed, 1));
    let error = row.last_error.unwrap();
    assert!(
        error.starts_with(
            "sendgrid answered 403 Forbidden: The from address does not match a verified Sender Identity."
        ),
        "{error}"
    );
    assert!(error.ends_with("(from)"), "{error}");
    assert_eq!(advance(&h, TimeDelta::days(1)).await, 0);
    assert_eq!(receiver.requests().len(), 1, "a rejection is not retried");
    receiver.stop().await;

    let receiver = Receiver::start(Api::Sendgrid, SENDGRID_KEY, vec![]).await;
    let wrong = "SG.wrong.key-000111222";
    let h = harness(sendgrid_at(&receiver, wrong, "news@acme.example")).await;
    let run = start(&h, "ann", "ann@example.com").await;
    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!(row.status, OutboxStatus::Failed);
    assert_eq!(
        row.last_error.as_deref(),
        Some("sendgrid answered 401 Unauthorized: The provided authorization grant is invalid, expired, or revoked")
    );
    assert!(!everything_shown(&h, &[&run]).await.contains(wrong));
    receiver.stop().await;
}
