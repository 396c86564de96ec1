//! Sends a run waits for: a webhook whose answer is kept as run data (`save_response`)
//! under the node's success rules, and the `failed` port. Real HTTP to a receiver
//! started by each test (actix-web on port 0), the scheduler on a SQLite file, a manual
//! clock: the run waits at the send, delivery wakes it in the transaction that records
//! the outcome, and it goes on through `next` (with the data) or `failed`.

use chrono::TimeDelta;
use kairos_engine::clock::{Clock, ManualClock};
use kairos_engine::delivery::{Router, Webhook, WebhookConfig};
use kairos_engine::nodes::send::{Channel, Rendered};
use kairos_engine::run::{Status, Wait, What};
use kairos_engine::scheduler::{Config, Scheduler};
use kairos_engine::store::{self, OutboxStatus, Store};
use kairos_engine::time::parse_timestamp;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod support;

use support::{MockApi, Reply, publish_journey};

/// A receiver that answers `replies` in order, then 200 `{}`.
async fn receiver(replies: Vec<(u16, Value)>) -> (MockApi, String) {
    let replies = Mutex::new(VecDeque::from(replies));
    let api = MockApi::start(move |_| {
        let (status, body) = replies.lock().unwrap().pop_front().unwrap_or((200, json!({})));
        Reply::json(status, body)
    })
    .await;
    let url = format!("{}/crm/leads", api.base);
    (api, url)
}

// ----- The engine -----

struct Harness {
    dir: tempfile::TempDir,
    clock: ManualClock,
    scheduler: Arc<Scheduler>,
    router: Router,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/kairos.db", dir.path().display());
    harness_on(&url, dir).await
}

async fn harness_on(url: &str, dir: tempfile::TempDir) -> Harness {
    let clock = ManualClock::new(parse_timestamp("2026-03-02T10:00:00Z").unwrap());
    let (scheduler, router) = engine_on(url, &clock).await;
    Harness { dir, clock, scheduler, router }
}

/// A scheduler and router on the database in `dir` (a second one is a restart).
async fn engine(dir: &tempfile::TempDir, clock: &ManualClock) -> (Arc<Scheduler>, Router) {
    engine_on(&format!("sqlite://{}/kairos.db", dir.path().display()), clock).await
}

async fn engine_on(url: &str, clock: &ManualClock) -> (Arc<Scheduler>, Router) {
    let store = Store::connect(url).await.unwrap();
    let config = Config { max_attempts: 3, ..Config::default() };
    let scheduler = Scheduler::new(store, Arc::new(clock.clone()), config).await.unwrap();
    let webhook = WebhookConfig { timeout: Duration::from_millis(500), ..WebhookConfig::default() };
    let router = Router::inbox().route(Channel::Webhook, Arc::new(Webhook::new(webhook).unwrap()));
    (scheduler, router)
}

/// Sync the lead to the CRM (201 is success), keep its id and tier; gold leads get a
/// thank-you email naming the CRM id, others end; a failed sync alerts by email.
async fn publish(h: &Harness, url: &str, with_failed_port: bool) {
    let mut sync = json!({ "id": "sync", "type": "send",
        "message": { "channel": "webhook", "url": url, "body": { "email": "{{contact.email}}" }, "success": [201] },
        "save_response": { "crm_id": "/id", "tier": "/account/tier" },
        "next": "check" });
    if with_failed_port {
        sync["failed"] = json!("alert");
    }
    let mut doc = json!({
        "id": "crm", "name": "CRM sync",
        "trigger": { "type": "api", "next": "sync" },
        "nodes": [
            sync,
            { "id": "check", "type": "branch",
              "rules": [ { "name": "gold", "condition": { "left": "data.tier", "op": "eq", "right": "gold" }, "next": "thanks" } ],
              "else": "done" },
            { "id": "thanks", "type": "send",
              "message": { "channel": "email", "subject": "Welcome, gold member {{data.crm_id}}", "body": "<p>Hi</p>" },
              "next": "done" },
            { "id": "alert", "type": "send",
              "message": { "channel": "email", "subject": "CRM sync failed for {{contact.id}}", "body": "<p>!</p>" },
              "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    if !with_failed_port {
        // Nothing leads to the alert then.
        doc["nodes"].as_array_mut().unwrap().retain(|n| n["id"] != "alert");
    }
    publish_journey(&h.scheduler, doc, h.clock.now()).await;
}

async fn start(h: &Harness) -> String {
    let mut attrs = serde_json::Map::new();
    attrs.insert("email".into(), "ann@example.com".into());
    h.scheduler.start_run("crm", "ann", attrs, Default::default(), None).await.unwrap().run.id
}

/// Deliver what is due, then step the runs delivery woke.
async fn settle(h: &Harness) {
    h.scheduler.dispatch_routed(&h.router).await.unwrap();
    h.scheduler.run_due().await.unwrap();
}

async fn run(h: &Harness, id: &str) -> kairos_engine::run::Run {
    store::get_run(h.scheduler.store().reader(), id).await.unwrap().unwrap().run
}

async fn timeline(h: &Harness, id: &str) -> Vec<(Option<String>, What)> {
    store::history(h.scheduler.store().reader(), id).await.unwrap().into_iter().map(|e| (e.node, e.what)).collect()
}

/// The subjects of the emails delivered to the inbox, in order.
async fn emails(h: &Harness) -> Vec<String> {
    let rows = store::list_outbox(h.scheduler.store().reader(), None, None, None, None, 100).await.unwrap();
    rows.into_iter()
        .filter_map(|r| match r.message {
            Rendered::Email { subject, .. } => Some(subject),
            _ => None,
        })
        .collect()
}

fn entered(timeline: &[(Option<String>, What)]) -> Vec<String> {
    timeline.iter().filter(|(_, w)| matches!(w, What::NodeEntered { .. })).filter_map(|(n, _)| n.clone()).collect()
}

// ----- The tests -----

#[tokio::test]
async fn the_run_waits_for_the_webhook_and_branches_on_the_saved_answer() {
    waits_and_branches_on_the_answer(harness().await).await;
}

#[tokio::test]
async fn the_run_waits_for_the_webhook_and_branches_on_the_saved_answer_on_postgresql() {
    let Some(pg) = support::TempPostgres::create().await else { return };
    let url = pg.url.clone();
    let result = tokio::spawn(async move {
        waits_and_branches_on_the_answer(harness_on(&url, tempfile::tempdir().unwrap()).await).await;
    })
    .await;
    pg.drop_now().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn waits_and_branches_on_the_answer(h: Harness) {
    let (rx, url) = receiver(vec![(201, json!({ "id": "crm-77", "account": { "tier": "gold" } }))]).await;
    publish(&h, &url, true).await;
    let id = start(&h).await;

    // Before delivery the run waits at the send for the outcome.
    let r = run(&h, &id).await;
    assert_eq!((r.status, r.node.as_deref()), (Status::Waiting, Some("sync")));
    assert!(matches!(&r.wait, Some(Wait::Delivery { key, .. }) if key == &format!("{id}:sync:1")), "{:?}", r.wait);
    assert_eq!(entered(&timeline(&h, &id).await), ["sync"]);

    settle(&h).await;
    assert_eq!(rx.requests().len(), 1);
    let r = run(&h, &id).await;
    assert_eq!(r.status, Status::Completed, "{:?}", timeline(&h, &id).await);
    assert_eq!(r.data.get("crm_id"), Some(&json!("crm-77")));
    assert_eq!(r.data.get("tier"), Some(&json!("gold")));
    let t = timeline(&h, &id).await;
    assert_eq!(entered(&t), ["sync", "check", "thanks", "done"]);
    assert!(
        t.iter().any(|(n, w)| n.as_deref() == Some("sync")
            && matches!(w, What::Delivered { status: Some(201), saved, .. } if saved == &["crm_id", "tier"])),
        "{t:?}"
    );
    // The woken run's own email is queued; the inbox delivers it on the next pass.
    settle(&h).await;
    assert_eq!(emails(&h).await, ["Welcome, gold member crm-77"]);
    rx.stop().await;
}

#[tokio::test]
async fn an_answer_outside_the_success_rules_takes_the_failed_port_without_retrying() {
    // 200 is a 2xx, but this node counts only 201 as success.
    let (rx, url) = receiver(vec![(200, json!({ "id": "crm-1" }))]).await;
    let h = harness().await;
    publish(&h, &url, true).await;
    let id = start(&h).await;
    settle(&h).await;
    assert_eq!(rx.requests().len(), 1);

    let r = run(&h, &id).await;
    assert_eq!(r.status, Status::Completed);
    assert!(r.data.is_empty(), "nothing is saved from a failure: {:?}", r.data);
    let t = timeline(&h, &id).await;
    assert_eq!(entered(&t), ["sync", "alert", "done"]);
    let failed = t.iter().find_map(|(_, w)| match w {
        What::DeliveryFailed { error, attempts, .. } => Some((error.clone(), *attempts)),
        _ => None,
    });
    let (error, attempts) = failed.expect("a delivery_failed entry");
    assert_eq!(attempts, 1, "not retried");
    assert!(error.contains("200") && error.contains("success is 201"), "{error}");
    settle(&h).await;
    assert_eq!(emails(&h).await, ["CRM sync failed for ann"]);
    // More time changes nothing: the outcome was taken once.
    h.clock.advance(TimeDelta::days(1));
    settle(&h).await;
    assert_eq!(rx.requests().len(), 1);
    assert_eq!(emails(&h).await.len(), 1);
    rx.stop().await;
}

#[tokio::test]
async fn a_run_waits_through_retries_and_goes_on_when_the_webhook_succeeds() {
    let (rx, url) =
        receiver(vec![(503, json!({})), (201, json!({ "id": "crm-9", "account": { "tier": "silver" } }))]).await;
    let h = harness().await;
    publish(&h, &url, true).await;
    let id = start(&h).await;
    settle(&h).await;
    // A 503 is retried later: the run still waits.
    let r = run(&h, &id).await;
    assert_eq!((r.status, r.node.as_deref()), (Status::Waiting, Some("sync")));
    let row = store::list_outbox(h.scheduler.store().reader(), None, None, None, None, 10).await.unwrap();
    assert_eq!(row[0].status, OutboxStatus::Pending);

    h.clock.advance(TimeDelta::minutes(5));
    settle(&h).await;
    assert_eq!(rx.requests().len(), 2);
    let r = run(&h, &id).await;
    assert_eq!(r.status, Status::Completed);
    assert_eq!(r.data.get("crm_id"), Some(&json!("crm-9")));
    // Silver: the branch's else.
    assert_eq!(entered(&timeline(&h, &id).await), ["sync", "check", "done"]);
    rx.stop().await;
}

#[tokio::test]
async fn without_a_failed_port_a_failure_is_on_the_timeline_and_the_run_goes_on_through_next() {
    // The node still waits (it saves the answer), but has no failed port.
    let (rx, url) = receiver(vec![(422, json!({ "error": "bad email" }))]).await;
    let h = harness().await;
    publish(&h, &url, false).await;
    let id = start(&h).await;
    settle(&h).await;
    let t = timeline(&h, &id).await;
    assert_eq!(entered(&t), ["sync", "check", "done"]);
    assert!(t.iter().any(|(_, w)| matches!(w, What::DeliveryFailed { .. })), "{t:?}");
    assert!(run(&h, &id).await.data.is_empty());
    rx.stop().await;
}

#[tokio::test]
async fn a_waiting_run_survives_a_restart_and_takes_an_outcome_recorded_without_its_wake() {
    let (rx, url) = receiver(vec![(201, json!({ "id": "crm-5", "account": { "tier": "gold" } }))]).await;
    let h = harness().await;
    publish(&h, &url, true).await;
    let id = start(&h).await;
    // The worker stops before delivering; a new one starts on the same database.
    let Harness { dir, clock, scheduler, router: _ } = h;
    drop(scheduler);
    let (scheduler, router) = engine(&dir, &clock).await;
    let h = Harness { dir, clock, scheduler, router };
    h.scheduler.reload_live().await.unwrap();
    assert_eq!(run(&h, &id).await.status, Status::Waiting);

    // Deliver, then undo the wake (as a concurrent step overwriting it would): the run
    // looks again by itself when its wait's check comes due.
    h.scheduler.dispatch_routed(&h.router).await.unwrap();
    let check_at = match run(&h, &id).await.wait {
        Some(Wait::Delivery { check_at, .. }) => check_at,
        other => panic!("still waiting for the delivery: {other:?}"),
    };
    let far = kairos_engine::store::millis(check_at);
    let rid = id.clone();
    h.scheduler
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                use sea_orm::ConnectionTrait;
                let sql = format!("UPDATE runs SET wake_at = {far} WHERE id = '{rid}'");
                tx.execute_unprepared(&sql).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    h.scheduler.run_due().await.unwrap();
    assert_eq!(run(&h, &id).await.status, Status::Waiting, "not yet due");
    h.clock.advance(TimeDelta::minutes(1));
    h.scheduler.run_due().await.unwrap();
    let r = run(&h, &id).await;
    assert_eq!(r.status, Status::Completed, "{:?}", timeline(&h, &id).await);
    assert_eq!(r.data.get("crm_id"), Some(&json!("crm-5")));
    assert_eq!(rx.requests().len(), 1, "sent once");
    rx.stop().await;
}

#[test]
fn save_response_success_and_failed_are_checked_where_they_are_written() {
    let problems = |node: Value| -> Vec<(String, String)> {
        let doc = json!({ "id": "j", "name": "J", "trigger": { "type": "api", "next": "s" },
            "nodes": [ node, { "id": "done", "type": "exit" } ] });
        match kairos_engine::validate(&doc.to_string()) {
            Ok(_) => vec![],
            Err(p) => p.into_iter().map(|p| (p.pointer, p.message)).collect(),
        }
    };
    let hook = json!({ "channel": "webhook", "url": "https://crm.example/x" });
    // Valid: a webhook saving its answer, success rules, a failed port.
    let ok = problems(
        json!({ "id": "s", "type": "send", "message": { "channel": "webhook", "url": "https://crm.example/x",
        "success": [201, "3xx"] }, "save_response": { "crm_id": "/id", "all": "" }, "next": "done", "failed": "done" }),
    );
    assert!(ok.is_empty(), "{ok:?}");

    let got = problems(json!({ "id": "s", "type": "send",
        "message": { "channel": "email", "subject": "x", "body": "y" }, "save_response": { "id": "/id" }, "next": "done" }));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "/nodes/0/save_response");
    assert!(got[0].1.contains("only a webhook"), "{got:?}");

    let got = problems(
        json!({ "id": "s", "type": "send", "message": hook, "save_response": { "CrmId": "/id" }, "next": "done" }),
    );
    assert_eq!(got[0].0, "/nodes/0/save_response/CrmId");
    let got = problems(
        json!({ "id": "s", "type": "send", "message": hook, "save_response": { "crm_id": "id" }, "next": "done" }),
    );
    assert_eq!(got[0].0, "/nodes/0/save_response/crm_id");
    assert!(got[0].1.contains("starts with `/`"), "{got:?}");

    let got = problems(json!({ "id": "s", "type": "send",
        "message": { "channel": "webhook", "url": "https://crm.example/x", "success": [201, 99] }, "next": "done" }));
    assert_eq!(got[0].0, "/nodes/0/message/success/1");
    let got = problems(json!({ "id": "s", "type": "send",
        "message": { "channel": "webhook", "url": "https://crm.example/x", "success": ["6xx"] }, "next": "done" }));
    assert!(
        got.iter().any(|(p, m)| p.starts_with("/nodes/0/message") && m.contains("`\"6xx\"` is not a success status")),
        "{got:?}"
    );

    let got = problems(json!({ "id": "s", "type": "send", "message": hook, "next": "done", "failed": "nowhere" }));
    assert!(got.iter().any(|(p, m)| p == "/nodes/0/failed" && m.contains("nowhere")), "{got:?}");
}
