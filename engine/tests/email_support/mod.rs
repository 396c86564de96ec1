//! The engine side of the email provider tests: a scheduler on a fresh SQLite file with a
//! manual clock, a published journey that sends one email, and the real dispatcher
//! (`dispatch_routed`) with the email channel routed to the deliverer under test.
#![allow(dead_code)]

use chrono::TimeDelta;
use kairos_engine::clock::{Clock, ManualClock};
use kairos_engine::delivery::{Options, Router};
use kairos_engine::nodes::send::{Channel, Rendered};
use kairos_engine::scheduler::{Config, Deliver, Scheduler};
use kairos_engine::store::{self, OutboxRecord, Store};
use kairos_engine::time::parse_timestamp;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub struct Harness {
    _dir: tempfile::TempDir,
    pub clock: ManualClock,
    pub scheduler: Arc<Scheduler>,
    pub router: Router,
}

/// Attempts before a message is given up, in these tests.
pub const MAX_ATTEMPTS: u32 = 4;

/// Options for deliverers under test: a short timeout, so a hung server costs little.
pub fn options() -> Options {
    Options { timeout: Duration::from_millis(400), concurrency: 4 }
}

/// A scheduler whose email channel goes to `deliverer`.
pub async fn harness(deliverer: Arc<dyn Deliver>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/kairos.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let clock = ManualClock::new(parse_timestamp("2026-03-02T10:00:00Z").unwrap());
    let config = Config { max_attempts: MAX_ATTEMPTS, ..Config::default() };
    let scheduler = Scheduler::new(store, Arc::new(clock.clone()), config).await.unwrap();
    let router = Router::inbox().route(Channel::Email, deliverer);
    let h = Harness { _dir: dir, clock, scheduler, router };
    publish(&h).await;
    h
}

/// The journey every test runs: started by the API, one email, then the end.
async fn publish(h: &Harness) {
    let text = json!({
        "id": "welcome", "name": "Welcome",
        "trigger": { "type": "api", "next": "welcome_email" },
        "nodes": [
            { "id": "welcome_email", "type": "send",
              "message": { "channel": "email",
                           "subject": "Welcome, {{contact.first_name}}",
                           "body": "<p>Hello {{contact.first_name}}, your plan is <b>{{contact.plan}}</b>.</p>",
                           "text": "Hello {{contact.first_name}}, your plan is {{contact.plan}}.",
                           "reply_to": "Support <support@acme.example>",
                           "headers": { "X-Campaign": "welcome-{{contact.plan}}" } },
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

/// Start a run for contact `id` with address `email`; returns the run id.
pub async fn start(h: &Harness, id: &str, email: &str) -> String {
    let mut attrs = serde_json::Map::new();
    attrs.insert("email".into(), email.into());
    attrs.insert("first_name".into(), "Ann".into());
    attrs.insert("plan".into(), "pro".into());
    h.scheduler.start_run("welcome", id, attrs, Default::default(), None).await.unwrap().run.id
}

/// Deliver what is due now; returns how many were delivered.
pub async fn dispatch(h: &Harness) -> usize {
    h.scheduler.dispatch_routed(&h.router).await.unwrap()
}

/// Move the clock on, then deliver what is due.
pub async fn advance(h: &Harness, by: TimeDelta) -> usize {
    h.clock.advance(by);
    dispatch(h).await
}

/// The outbox row of `run`'s email.
pub async fn entry(h: &Harness, run: &str) -> OutboxRecord {
    let rows = store::list_outbox(h.scheduler.store().reader(), None, None, Some(run), None, 10).await.unwrap();
    rows.into_iter().next().expect("the run's email is in the outbox")
}

/// Every outbox row and the timelines of `runs`, as one text (to look for secrets).
pub async fn everything_shown(h: &Harness, runs: &[&str]) -> String {
    let reader = h.scheduler.store().reader();
    let rows = store::list_outbox(reader, None, None, None, None, 100).await.unwrap();
    let mut text = format!("{rows:?}");
    for run in runs {
        text.push_str(&serde_json::to_string(&store::timeline(reader, run).await.unwrap()).unwrap());
    }
    text
}

/// The `delivery_failed` entries of `run`'s timeline.
pub async fn failures_on_timeline(h: &Harness, run: &str) -> Vec<Value> {
    let timeline = store::timeline(h.scheduler.store().reader(), run).await.unwrap();
    timeline.into_iter().filter(|e| e["type"] == "delivery_failed").collect()
}

/// Give `run`'s queued email a one-click unsubscribe link, as the consent step does
/// when it renders a marketing email.
pub async fn set_unsubscribe_url(h: &Harness, run: &str, url: &str) {
    let row = entry(h, run).await;
    let Rendered::Email { to, subject, body, from, reply_to, text, headers, .. } = row.message else {
        panic!("not an email")
    };
    let message =
        Rendered::Email { to, subject, body, from, reply_to, text, headers, unsubscribe_url: Some(url.to_string()) };
    let payload = serde_json::to_string(&message).unwrap().replace('\'', "''");
    let key = row.key.replace('\'', "''");
    h.scheduler
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                use sea_orm::ConnectionTrait;
                tx.execute_unprepared(&format!("UPDATE outbox SET payload = '{payload}' WHERE key = '{key}'")).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
}

/// The seconds until `row`'s next attempt.
pub fn wait_of(h: &Harness, row: &OutboxRecord) -> TimeDelta {
    row.next_attempt_at.expect("a next attempt") - h.clock.now()
}
