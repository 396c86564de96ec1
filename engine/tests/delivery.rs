//! Webhook delivery over real HTTP to a receiver started by each test (actix-web on port
//! 0), with the scheduler on a real SQLite file and a manual clock: the idempotency key
//! and body arrive, 5xx / 429 / timeouts retry, 4xx does not, and after the last attempt
//! the message is dead-lettered and shows on the run's timeline.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, TimeDelta, Utc};
use kairos_engine::clock::{Clock, ManualClock};
use kairos_engine::delivery::{Router, Webhook, WebhookConfig};
use kairos_engine::nodes::send::Channel;
use kairos_engine::scheduler::{Config, Scheduler};
use kairos_engine::store::{self, OutboxStatus, Store};
use kairos_engine::time::parse_timestamp;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ----- The receiver -----

/// How the receiver answers one request.
#[derive(Debug, Clone)]
enum Reply {
    Status(u16, &'static str),
    /// 429 with this `Retry-After`.
    TooMany(String),
    /// Answer 200 only after this long (past the client's timeout).
    Hang(Duration),
}

/// A request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Value,
}

#[derive(Default)]
struct Recorder {
    script: Mutex<VecDeque<Reply>>,
    /// The answer once the script is used up.
    then: Mutex<Option<Reply>>,
    requests: Mutex<Vec<Received>>,
}

struct Receiver {
    url: String,
    recorder: Arc<Recorder>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Answers `script` in order, then `then` (200 when `None`).
    async fn start(script: Vec<Reply>, then: Option<Reply>) -> Receiver {
        let recorder = Arc::new(Recorder {
            script: Mutex::new(script.into()),
            then: Mutex::new(then),
            requests: Mutex::default(),
        });
        let data = web::Data::from(recorder.clone());
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
        Receiver { url: format!("http://127.0.0.1:{port}/hooks/lead"), recorder, server: handle }
    }

    fn requests(&self) -> Vec<Received> {
        self.recorder.requests.lock().unwrap().clone()
    }

    async fn stop(self) {
        self.server.stop(false).await;
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, rec: web::Data<Recorder>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    rec.requests.lock().unwrap().push(Received {
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = rec.script.lock().unwrap().pop_front().or_else(|| rec.then.lock().unwrap().clone());
    match reply {
        None => HttpResponse::Ok().json(json!({ "ok": true })),
        Some(Reply::Status(code, text)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).body(text)
        }
        Some(Reply::TooMany(after)) => HttpResponse::TooManyRequests().insert_header(("Retry-After", after)).finish(),
        Some(Reply::Hang(d)) => {
            tokio::time::sleep(d).await;
            HttpResponse::Ok().finish()
        }
    }
}

// ----- The engine -----

struct Harness {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    scheduler: Arc<Scheduler>,
    router: Router,
}

const MAX_ATTEMPTS: u32 = 4;

async fn harness(webhooks: bool) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/kairos.db", dir.path().display());
    harness_on(&url, dir, webhooks).await
}

async fn harness_on(url: &str, dir: tempfile::TempDir, webhooks: bool) -> Harness {
    let store = Store::connect(url).await.unwrap();
    let clock = ManualClock::new(parse_timestamp("2026-03-02T10:00:00Z").unwrap());
    let config = Config { max_attempts: MAX_ATTEMPTS, ..Config::default() };
    let scheduler = Scheduler::new(store, Arc::new(clock.clone()), config).await.unwrap();
    let webhook = WebhookConfig { timeout: Duration::from_millis(300), ..WebhookConfig::default() };
    let router = if webhooks {
        Router::inbox().route(Channel::Webhook, Arc::new(Webhook::new(webhook).unwrap()))
    } else {
        Router::inbox()
    };
    Harness { _dir: dir, clock, scheduler, router }
}

/// An API-started journey: a welcome email, then a webhook to `url`.
async fn publish(h: &Harness, url: &str) {
    let text = json!({
        "id": "notify", "name": "Notify",
        "trigger": { "type": "api", "next": "welcome" },
        "nodes": [
            { "id": "welcome", "type": "send",
              "message": { "channel": "email", "subject": "Hi {{contact.first_name}}", "body": "<p>Hello</p>" },
              "next": "hook" },
            { "id": "hook", "type": "send",
              "message": { "channel": "webhook", "method": "POST", "url": url,
                           "headers": { "Authorization": "Bearer s3cret-token", "X-Source": "kairos" },
                           "body": { "contact": "{{contact.id}}", "score": "{{contact.lead_score}}" } },
              "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
    .to_string();
    let journey = kairos_engine::validate(&text).unwrap();
    let wf = journey.workflow().clone();
    let now = h.clock.now();
    let doc: Value = serde_json::from_str(&text).unwrap();
    h.scheduler
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                store::create_workflow(tx, &wf.id, &wf.name, &doc, now).await?;
                store::publish(tx, &wf.id, &wf.to_canonical(), now).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    h.scheduler.reload_live().await.unwrap();
}

/// Start a run for `ann`; returns its id.
async fn start(h: &Harness) -> String {
    let mut attrs = serde_json::Map::new();
    attrs.insert("email".into(), "ann@example.com".into());
    attrs.insert("first_name".into(), "Ann".into());
    attrs.insert("lead_score".into(), 55.into());
    let started = h.scheduler.start_run("notify", "ann", attrs, Default::default(), None).await.unwrap();
    started.run.id
}

async fn dispatch(h: &Harness) -> usize {
    h.scheduler.dispatch_routed(&h.router).await.unwrap()
}

async fn advance(h: &Harness, by: TimeDelta) -> usize {
    h.clock.advance(by);
    dispatch(h).await
}

async fn webhook_entry(h: &Harness) -> store::OutboxRecord {
    let rows = store::list_outbox(h.scheduler.store().reader(), None, None, None, None, 10).await.unwrap();
    rows.into_iter().find(|r| r.message.channel() == Channel::Webhook).expect("a webhook in the outbox")
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

// ----- The tests -----

#[tokio::test]
async fn a_webhook_is_delivered_over_http_with_its_idempotency_key_headers_and_body() {
    let receiver = Receiver::start(vec![], None).await;
    let h = harness(true).await;
    publish(&h, &receiver.url).await;
    let run = start(&h).await;

    assert_eq!(dispatch(&h).await, 2, "the email to the inbox, the webhook over HTTP");
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hooks/lead"));
    assert_eq!(r.headers["idempotency-key"], format!("{run}:hook:1"));
    assert_eq!(r.headers["authorization"], "Bearer s3cret-token", "the receiver gets the real header");
    assert_eq!(r.headers["x-source"], "kairos");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.body, json!({ "contact": "ann", "score": 55 }));

    let entry = webhook_entry(&h).await;
    assert_eq!((entry.status, entry.attempts, entry.last_error), (OutboxStatus::Sent, 1, None));
    // The email went to the inbox; the webhook did not.
    let reader = h.scheduler.store().reader();
    let inbox = store::list_messages(reader, None, None, None, 10).await.unwrap();
    assert_eq!(inbox.iter().map(|m| m.node.as_str()).collect::<Vec<_>>(), ["welcome"]);
    // Nothing is sent twice.
    assert_eq!(advance(&h, TimeDelta::hours(1)).await, 0);
    assert_eq!(receiver.requests().len(), 1);
    receiver.stop().await;
}

#[tokio::test]
async fn without_a_webhook_route_webhooks_stay_in_the_inbox() {
    let receiver = Receiver::start(vec![], None).await;
    let h = harness(false).await;
    publish(&h, &receiver.url).await;
    start(&h).await;
    assert_eq!(dispatch(&h).await, 2);
    assert!(receiver.requests().is_empty(), "nothing is called over HTTP");
    let reader = h.scheduler.store().reader();
    let inbox = store::list_messages(reader, None, None, None, 10).await.unwrap();
    assert_eq!(inbox.iter().map(|m| m.node.as_str()).collect::<Vec<_>>(), ["welcome", "hook"]);
    receiver.stop().await;
}

#[tokio::test]
async fn a_500_is_retried_after_the_backoff_with_the_same_idempotency_key() {
    let receiver = Receiver::start(vec![Reply::Status(500, "database down")], None).await;
    let h = harness(true).await;
    publish(&h, &receiver.url).await;
    start(&h).await;

    assert_eq!(dispatch(&h).await, 1, "only the email");
    let entry = webhook_entry(&h).await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 1));
    let error = entry.last_error.unwrap();
    assert!(error.contains("500") && error.contains("database down"), "{error}");
    // Backoff for the first attempt: 2 s plus up to 40 % jitter.
    let wait = entry.next_attempt_at.unwrap() - h.clock.now();
    assert!(wait >= TimeDelta::seconds(2) && wait <= TimeDelta::milliseconds(2800), "{wait}");

    assert_eq!(advance(&h, TimeDelta::seconds(1)).await, 0, "not before the backoff");
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(advance(&h, TimeDelta::seconds(2)).await, 1);
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].headers["idempotency-key"], got[1].headers["idempotency-key"]);
    let entry = webhook_entry(&h).await;
    assert_eq!((entry.status, entry.attempts, entry.last_error), (OutboxStatus::Sent, 2, None));
    receiver.stop().await;
}

#[tokio::test]
async fn a_429_waits_for_its_retry_after_in_seconds_or_as_a_date() {
    let h = harness(true).await;
    let date = http_date(h.clock.now() + TimeDelta::seconds(120 + 300));
    let receiver = Receiver::start(vec![Reply::TooMany("120".into()), Reply::TooMany(date)], None).await;
    publish(&h, &receiver.url).await;
    start(&h).await;

    dispatch(&h).await;
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(advance(&h, TimeDelta::seconds(119)).await, 0);
    assert_eq!(receiver.requests().len(), 1, "not before Retry-After: 120");
    assert_eq!(advance(&h, TimeDelta::seconds(1)).await, 0);
    assert_eq!(receiver.requests().len(), 2);
    assert!(webhook_entry(&h).await.last_error.unwrap().contains("429"));
    assert_eq!(advance(&h, TimeDelta::seconds(299)).await, 0);
    assert_eq!(receiver.requests().len(), 2, "not before the Retry-After date");
    assert_eq!(advance(&h, TimeDelta::seconds(1)).await, 1);
    assert_eq!(receiver.requests().len(), 3);
    assert_eq!(webhook_entry(&h).await.status, OutboxStatus::Sent);
    receiver.stop().await;
}

#[tokio::test]
async fn a_receiver_that_hangs_past_the_timeout_is_retried() {
    let receiver = Receiver::start(vec![Reply::Hang(Duration::from_secs(3))], None).await;
    let h = harness(true).await;
    publish(&h, &receiver.url).await;
    start(&h).await;

    let began = std::time::Instant::now();
    assert_eq!(dispatch(&h).await, 1, "only the email");
    assert!(began.elapsed() < Duration::from_secs(2), "the 300 ms timeout cut the request");
    let entry = webhook_entry(&h).await;
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert!(entry.last_error.as_deref().unwrap().contains("timed out"), "{entry:?}");
    assert_eq!(advance(&h, TimeDelta::seconds(3)).await, 1);
    assert_eq!(webhook_entry(&h).await.status, OutboxStatus::Sent);
    receiver.stop().await;
}

#[tokio::test]
async fn a_refused_connection_is_retried() {
    let h = harness(true).await;
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    publish(&h, &format!("http://127.0.0.1:{port}/hook")).await;
    start(&h).await;
    dispatch(&h).await;
    let entry = webhook_entry(&h).await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 1));
    assert!(entry.last_error.as_deref().unwrap().contains("connection failed"), "{entry:?}");
}

#[tokio::test]
async fn a_400_fails_at_once_and_is_not_retried() {
    let receiver = Receiver::start(vec![Reply::Status(400, "unknown field `score`")], None).await;
    let h = harness(true).await;
    publish(&h, &receiver.url).await;
    let run = start(&h).await;

    dispatch(&h).await;
    let entry = webhook_entry(&h).await;
    assert_eq!((entry.status, entry.attempts, entry.next_attempt_at), (OutboxStatus::Failed, 1, None));
    let error = entry.last_error.unwrap();
    assert!(error.contains("400") && error.contains("unknown field"), "{error}");
    assert_eq!(advance(&h, TimeDelta::days(1)).await, 0);
    assert_eq!(receiver.requests().len(), 1, "no retry after a 4xx");
    let timeline = store::timeline(h.scheduler.store().reader(), &run).await.unwrap();
    let failed: Vec<&Value> = timeline.iter().filter(|e| e["type"] == "delivery_failed").collect();
    assert_eq!(failed.len(), 1, "{timeline:?}");
    assert_eq!(failed[0]["attempts"], 1);
    receiver.stop().await;
}

#[tokio::test]
async fn after_the_last_attempt_the_message_is_dead_lettered_and_on_the_timeline() {
    let receiver = Receiver::start(vec![], Some(Reply::Status(503, "maintenance"))).await;
    let h = harness(true).await;
    publish(&h, &receiver.url).await;
    let run = start(&h).await;

    dispatch(&h).await;
    for _ in 1..MAX_ATTEMPTS {
        advance(&h, TimeDelta::hours(1)).await;
    }
    assert_eq!(receiver.requests().len(), MAX_ATTEMPTS as usize);
    let entry = webhook_entry(&h).await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Failed, MAX_ATTEMPTS));
    assert!(entry.last_error.as_deref().unwrap().contains("503"));
    // Given up: no more attempts, and it stays listed as failed.
    advance(&h, TimeDelta::days(1)).await;
    assert_eq!(receiver.requests().len(), MAX_ATTEMPTS as usize);
    let reader = h.scheduler.store().reader();
    let failed = store::list_outbox(reader, Some(OutboxStatus::Failed), None, None, None, 10).await.unwrap();
    assert_eq!(failed.len(), 1);

    let timeline = store::timeline(reader, &run).await.unwrap();
    let entry = timeline.iter().find(|e| e["type"] == "delivery_failed").expect("the failure is on the timeline");
    assert_eq!(entry["node"], "hook");
    assert_eq!(entry["channel"], "webhook");
    assert_eq!(entry["key"], format!("{run}:hook:1"));
    assert_eq!(entry["attempts"], MAX_ATTEMPTS);
    assert!(entry["error"].as_str().unwrap().contains("503 Service Unavailable: maintenance"), "{entry}");
    assert!(!serde_json::to_string(&timeline).unwrap().contains("s3cret"), "no secret on the timeline");
    // The engine's own reading of the history knows the entry.
    assert!(store::history(reader, &run).await.is_ok());
    receiver.stop().await;
}

/// The background loop: webhooks and the inbox each have their own lane, and both deliver.
#[tokio::test]
async fn the_dispatch_loop_delivers_webhooks_and_the_inbox_side_by_side() {
    let receiver = Receiver::start(vec![], None).await;
    let h = harness(true).await;
    publish(&h, &receiver.url).await;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let lanes = tokio::spawn(h.scheduler.clone().dispatch_loop(
        Arc::new(kairos_engine::delivery::Registry::new(h.router.clone(), None, Default::default())),
        shutdown,
    ));
    start(&h).await;
    h.scheduler.nudge();
    let reader = h.scheduler.store().reader();
    let began = std::time::Instant::now();
    while (receiver.requests().is_empty() || store::count_messages(reader).await.unwrap() == 0)
        && began.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receiver.requests().len(), 1, "the webhook lane delivered");
    assert_eq!(store::count_messages(reader).await.unwrap(), 1, "the inbox lane delivered the email");
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), lanes).await.expect("the lanes stop").unwrap();
    receiver.stop().await;
}

/// The same on PostgreSQL at 127.0.0.1:5432 (user `postgres`, trust auth), where the
/// machine has one: the channel-filtered claim, the retry, the dead letter with its
/// timeline entry and the statistics. Unreachable: a failure under `CI=true`, a printed
/// skip elsewhere.
#[tokio::test]
async fn retries_and_dead_letters_work_on_postgresql() {
    use sea_orm::{ConnectionTrait, Database};
    let admin = match Database::connect("postgres://postgres@127.0.0.1:5432/postgres").await {
        Ok(db) => db,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL is needed in CI but unreachable: {e}")
        }
        Err(e) => {
            eprintln!("skipped: PostgreSQL at 127.0.0.1:5432 is unreachable ({e})");
            return;
        }
    };
    let name = format!("kairos_test_{}", uuid::Uuid::new_v4().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let receiver = Receiver::start(vec![Reply::Status(500, "busy"), Reply::Status(400, "no")], None).await;
    let target = receiver.url.clone();
    let result = tokio::spawn(async move {
        let h = harness_on(&url, tempfile::tempdir().unwrap(), true).await;
        publish(&h, &target).await;
        let run = start(&h).await;
        assert_eq!(dispatch(&h).await, 1, "the email to the inbox");
        assert_eq!(webhook_entry(&h).await.status, OutboxStatus::Pending);
        advance(&h, TimeDelta::minutes(1)).await;
        let entry = webhook_entry(&h).await;
        assert_eq!((entry.status, entry.attempts), (OutboxStatus::Failed, 2));
        let reader = h.scheduler.store().reader();
        let timeline = store::timeline(reader, &run).await.unwrap();
        assert!(timeline.iter().any(|e| e["type"] == "delivery_failed"), "{timeline:?}");
        let stats = store::node_stats(reader, "notify", Some(1)).await.unwrap();
        assert_eq!(stats["hook"].failed_deliveries, 1);
        assert_eq!(store::count_messages(reader).await.unwrap(), 1);
    })
    .await;
    receiver.stop().await;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    result.unwrap();
}

/// A dispatcher's first half: lease the due webhooks for `lease`.
async fn lease_webhooks(h: &Harness, lease: TimeDelta) -> Vec<store::OutboxItem> {
    let now = h.clock.now();
    h.scheduler
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                store::claim_outbox_of(tx, now, lease, 16, store::Channels::Only(vec![Channel::Webhook])).await
            })
        })
        .await
        .unwrap()
}

/// A dispatcher that dies after the receiver accepted a webhook but before the outbox
/// recorded it: once the lease runs out the message is sent again, with the same key.
#[tokio::test]
async fn a_send_lost_between_the_receiver_and_the_outbox_is_resent_with_the_same_key() {
    use kairos_engine::scheduler::{Deliver, Delivery};
    let receiver = Receiver::start(vec![], None).await;
    let h = harness(true).await;
    publish(&h, &receiver.url).await;
    start(&h).await;
    let webhook =
        Webhook::new(WebhookConfig { timeout: Duration::from_millis(300), ..WebhookConfig::default() }).unwrap();
    // The dispatcher's first half: lease the webhook and send it; then it "crashes".
    let now = h.clock.now();
    let lease = Config::default().lease + webhook.batch_time();
    let claimed = lease_webhooks(&h, lease).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(webhook.deliver(h.scheduler.store(), &claimed, now).await, [Delivery::Delivered]);
    assert_eq!(webhook_entry(&h).await.status, OutboxStatus::Pending, "never recorded");

    // A new dispatcher: nothing while the lease holds, then the same key again.
    assert_eq!(advance(&h, lease - TimeDelta::seconds(1)).await, 1, "only the email");
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(advance(&h, TimeDelta::seconds(1)).await, 1);
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].headers["idempotency-key"], got[1].headers["idempotency-key"]);
    assert_eq!(webhook_entry(&h).await.status, OutboxStatus::Sent);
    receiver.stop().await;
}

/// A dispatcher frozen past its lease (SIGSTOP, a long pause) wakes up and records what
/// its attempt came to: another dispatcher has delivered the message meanwhile, and that
/// outcome stands (no retry, no dead letter, nothing on the timeline).
#[tokio::test]
async fn a_stale_outcome_does_not_overwrite_the_one_recorded_meanwhile() {
    let receiver = Receiver::start(vec![], None).await;
    let h = harness(true).await;
    publish(&h, &receiver.url).await;
    let run = start(&h).await;
    let lease = Config::default().lease;
    let claimed = lease_webhooks(&h, lease).await;
    assert_eq!(claimed.len(), 1);
    // The lease runs out; another dispatcher delivers it.
    assert_eq!(advance(&h, lease + TimeDelta::seconds(1)).await, 2, "the email and the webhook");
    assert_eq!(webhook_entry(&h).await.status, OutboxStatus::Sent);
    let history_before = store::history(h.scheduler.store().reader(), &run).await.unwrap().len();
    // The frozen one resumes: its attempt timed out, so it would retry, or give up.
    let now = h.clock.now();
    let item = claimed[0].clone();
    h.scheduler
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                store::retry_later(tx, item.id, now + TimeDelta::seconds(30), "timed out").await?;
                store::give_up(tx, &item, "timed out", now).await
            })
        })
        .await
        .unwrap();
    let entry = webhook_entry(&h).await;
    assert_eq!(entry.status, OutboxStatus::Sent, "the delivery stands");
    assert_eq!(store::history(h.scheduler.store().reader(), &run).await.unwrap().len(), history_before);
    h.clock.advance(TimeDelta::minutes(5));
    assert_eq!(dispatch(&h).await, 0, "nothing is sent again");
    assert_eq!(receiver.requests().len(), 1);
    receiver.stop().await;
}
