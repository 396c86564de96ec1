//! The `slack` channel through a Slack incoming webhook played by a local server that
//! behaves as Slack documents: `200 ok`, `400 invalid_payload` / `no_text`, `404
//! no_service` for an unknown (revoked) webhook, `410 channel_is_archived`, `429` with
//! `Retry-After`, `500 rollup_error`; driven by the real dispatcher on a manual clock.

mod support;

use chrono::TimeDelta;
use kairos_engine::delivery::slack::{self, Secrets, Settings, Slack};
use kairos_engine::nodes::send::Rendered;
use kairos_engine::scheduler::{Deliver, Delivery};
use kairos_engine::store::{self, OutboxItem, OutboxStatus};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{Fault, Harness, MockApi, Received, Reply};

/// The webhook's path; its last segment is the secret part of the URL.
const HOOK: &str = "/services/T0KAIROS/B0SALES/s3cretHookToken42";
const SECRET: &str = "s3cretHookToken42";

/// Slack's incoming webhook: only the one URL exists; the payload must be JSON with
/// `text` (or `blocks`), and `blocks` an array.
fn slack_api(r: &Received) -> Reply {
    if r.path != HOOK {
        return Reply::text(404, "no_service");
    }
    if r.method != "POST" {
        return Reply::text(405, "invalid_method");
    }
    if r.header("content-type") != Some("application/json") {
        return Reply::text(400, "invalid_payload");
    }
    let Value::Object(body) = r.json() else { return Reply::text(400, "invalid_payload") };
    match (body.get("text"), body.get("blocks")) {
        (None, None) => Reply::text(400, "no_text"),
        (_, Some(b)) if !b.is_array() => Reply::text(400, "invalid_blocks"),
        _ => Reply::text(200, "ok"),
    }
}

fn message() -> Value {
    json!({
        "channel": "slack",
        "text": "Hot lead: {{contact.name}} reached {{contact.lead_score}}",
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": "*{{contact.name}}* ({{contact.email}}) scored {{contact.lead_score}}" } },
            { "type": "actions", "elements": [ { "type": "button", "text": { "type": "plain_text", "text": "Open in CRM" },
              "url": "https://crm.example.com/contacts/{{contact.id}}" } ] }
        ]
    })
}

fn lead() -> Value {
    json!({ "name": "Ann <Acme>", "email": "ann@acme.example", "lead_score": 55 })
}

async fn setup(url: String) -> (Harness, Arc<Slack>) {
    let slack = Arc::new(Slack::new(Settings {}, Secrets { webhook_url: url }, &support::options()).unwrap());
    let h = Harness::new(slack::CHANNEL, slack.clone(), message()).await;
    (h, slack)
}

#[tokio::test]
async fn a_slack_message_is_posted_to_the_webhook_with_its_text_and_blocks() {
    let api = MockApi::start(slack_api).await;
    let (h, _) = setup(format!("{}{HOOK}", api.base)).await;
    // A Slack message needs no contact address.
    let run = h.start(lead()).await;

    assert_eq!(h.dispatch().await, 1);
    let got = api.requests();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].method.as_str(), got[0].path.as_str()), ("POST", HOOK));
    assert_eq!(
        got[0].json(),
        json!({
            "text": "Hot lead: Ann &lt;Acme&gt; reached 55",
            "blocks": [
                { "type": "section", "text": { "type": "mrkdwn", "text": "*Ann &lt;Acme&gt;* (ann@acme.example) scored 55" } },
                { "type": "actions", "elements": [ { "type": "button", "text": { "type": "plain_text", "text": "Open in CRM" },
                  "url": "https://crm.example.com/contacts/ann" } ] }
            ]
        })
    );
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts, entry.last_error), (OutboxStatus::Sent, 1, None));
    let inbox = store::list_messages(h.scheduler.store().reader(), None, None, None, 10).await.unwrap();
    assert!(inbox.is_empty(), "the Slack message did not go to the inbox");
    // Never twice.
    assert_eq!(h.advance(TimeDelta::hours(1)).await, 0);
    assert_eq!(api.requests().len(), 1);
    assert!(!h.everything_recorded(&run).await.contains(SECRET));
    api.stop().await;
}

#[tokio::test]
async fn a_rollup_error_is_retried_after_the_backoff_then_delivered() {
    let api = MockApi::start(slack_api).await;
    api.fail_next(HOOK, Fault::Reply(Reply::text(500, "rollup_error")));
    let (h, _) = setup(format!("{}{HOOK}", api.base)).await;
    h.start(lead()).await;

    assert_eq!(h.dispatch().await, 0);
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 1));
    let error = entry.last_error.unwrap();
    assert!(error.contains("500") && error.contains("rollup_error"), "{error}");
    let wait = entry.next_attempt_at.unwrap() - h.now();
    assert!(wait >= TimeDelta::seconds(2) && wait <= TimeDelta::milliseconds(2800), "{wait}");

    assert_eq!(h.advance(TimeDelta::seconds(1)).await, 0, "not before the backoff");
    assert_eq!(api.requests().len(), 1);
    assert_eq!(h.advance(TimeDelta::seconds(2)).await, 1);
    assert_eq!(api.requests().len(), 2);
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts, entry.last_error), (OutboxStatus::Sent, 2, None));
    api.stop().await;
}

#[tokio::test]
async fn a_429_waits_for_its_retry_after() {
    let api = MockApi::start(slack_api).await;
    api.fail_next(HOOK, Fault::Reply(Reply::text(429, "rate_limited").with_header("Retry-After", "30")));
    let (h, _) = setup(format!("{}{HOOK}", api.base)).await;
    h.start(lead()).await;

    assert_eq!(h.dispatch().await, 0);
    assert!(h.entry().await.last_error.unwrap().contains("429"));
    assert_eq!(h.advance(TimeDelta::seconds(29)).await, 0);
    assert_eq!(api.requests().len(), 1, "not before Retry-After: 30");
    assert_eq!(h.advance(TimeDelta::seconds(1)).await, 1);
    assert_eq!(api.requests().len(), 2);
    assert_eq!(h.entry().await.status, OutboxStatus::Sent);
    api.stop().await;
}

#[tokio::test]
async fn a_webhook_that_hangs_past_the_timeout_is_uncertain_and_retried() {
    let api = MockApi::start(slack_api).await;
    let (h, slack) = setup(format!("{}{HOOK}", api.base)).await;

    // The deliverer's own answer: the post may have reached Slack.
    api.fail_next(HOOK, Fault::Hang(Duration::from_secs(1)));
    let item = OutboxItem {
        id: 0,
        key: "run-1:send:1".into(),
        run_id: "run-1".into(),
        workflow_id: "notify".into(),
        contact_id: "ann".into(),
        node: "send".into(),
        message: Rendered::Slack { text: "hi".into(), blocks: None },
        attempts: 1,
        recorded_attempts: 0,
        provider: None,
        awaited: false,
    };
    let began = std::time::Instant::now();
    let outcome = slack.deliver(h.scheduler.store(), &[item], h.now()).await;
    assert!(began.elapsed() < Duration::from_millis(900), "the timeout cut the request");
    let [Delivery::Uncertain { error, .. }] = outcome.as_slice() else { panic!("{outcome:?}") };
    assert!(error.contains("timed out") && !error.contains(SECRET), "{error}");

    // Through the dispatcher: pending, then delivered on the next attempt.
    api.fail_next(HOOK, Fault::Hang(Duration::from_secs(1)));
    h.start(lead()).await;
    assert_eq!(h.dispatch().await, 0);
    let entry = h.entry().await;
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert!(entry.last_error.as_deref().unwrap().contains("timed out"), "{entry:?}");
    assert_eq!(h.advance(TimeDelta::seconds(3)).await, 1);
    assert_eq!(h.entry().await.status, OutboxStatus::Sent);
    api.stop().await;
}

#[tokio::test]
async fn an_archived_channel_fails_at_once_with_slacks_reason() {
    let api = MockApi::start(slack_api).await;
    api.fail_next(HOOK, Fault::Reply(Reply::text(410, "channel_is_archived")));
    let (h, _) = setup(format!("{}{HOOK}", api.base)).await;
    let run = h.start(lead()).await;

    h.dispatch().await;
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts, entry.next_attempt_at), (OutboxStatus::Failed, 1, None));
    let error = entry.last_error.unwrap();
    assert!(error.contains("410") && error.contains("channel_is_archived"), "{error}");
    assert_eq!(h.advance(TimeDelta::days(1)).await, 0);
    assert_eq!(api.requests().len(), 1, "not retried");
    let timeline = h.timeline(&run).await;
    let failed = timeline.iter().find(|e| e["type"] == "delivery_failed").expect("on the timeline");
    assert_eq!(failed["channel"], "slack");
    assert!(failed["error"].as_str().unwrap().contains("channel_is_archived"));
    api.stop().await;
}

#[tokio::test]
async fn a_revoked_webhook_fails_with_no_service_and_the_url_is_never_shown() {
    let api = MockApi::start(slack_api).await;
    let revoked = "/services/T0KAIROS/B0SALES/s3cretHookToken42-old";
    let (h, _) = setup(format!("{}{revoked}", api.base)).await;
    let run = h.start(lead()).await;

    h.dispatch().await;
    let entry = h.entry().await;
    assert_eq!(entry.status, OutboxStatus::Failed);
    let error = entry.last_error.clone().unwrap();
    assert!(error.contains("404") && error.contains("no_service"), "{error}");
    let recorded = h.everything_recorded(&run).await;
    assert!(!recorded.contains(SECRET) && !recorded.contains("B0SALES"), "{recorded}");

    // A webhook nobody answers: the connection error does not carry the URL either.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (h, _) = setup(format!("http://127.0.0.1:{port}{HOOK}")).await;
    let run = h.start(lead()).await;
    h.dispatch().await;
    let entry = h.entry().await;
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert!(entry.last_error.as_deref().unwrap().contains("connection failed"), "{entry:?}");
    assert!(!h.everything_recorded(&run).await.contains(SECRET));
    api.stop().await;
}
