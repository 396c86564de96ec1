//! Providers in the dispatcher: each message goes through the provider its send node
//! names, else its channel's default, else the inbox; a message naming a provider that
//! is not configured is given up; a provider's rate limit holds on the scheduler's
//! clock; an at-most-once provider reports uncertain or vanished attempts as `unknown`
//! instead of sending twice; provider secrets are stored sealed.

use chrono::{DateTime, TimeDelta, Utc};
use kairos_engine::clock::{Clock, ManualClock};
use kairos_engine::delivery::provider::{Config as ProviderConfig, Guarantee, Kind, RateLimit};
use kairos_engine::delivery::{Options, Registry, Router};
use kairos_engine::run::What;
use kairos_engine::scheduler::{Config, Deliver, Delivery, Scheduler};
use kairos_engine::secrets::Key;
use kairos_engine::store::{self, OutboxItem, OutboxStatus, Store};
use kairos_engine::time::parse_timestamp;

mod support;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A deliverer that records what it gets and answers from a script (then `Delivered`).
#[derive(Default)]
struct Scripted {
    script: Mutex<VecDeque<Delivery>>,
    got: Mutex<Vec<OutboxItem>>,
}

impl Scripted {
    fn answering(script: Vec<Delivery>) -> Arc<Scripted> {
        Arc::new(Scripted { script: Mutex::new(script.into()), got: Mutex::default() })
    }
    fn got(&self) -> Vec<OutboxItem> {
        self.got.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Deliver for Scripted {
    async fn deliver(&self, _: &Store, items: &[OutboxItem], _: DateTime<Utc>) -> Vec<Delivery> {
        self.got.lock().unwrap().extend(items.iter().cloned());
        items.iter().map(|_| self.script.lock().unwrap().pop_front().unwrap_or(Delivery::Delivered)).collect()
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    scheduler: Arc<Scheduler>,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/kairos.db", dir.path().display());
    harness_on(&url, dir).await
}

async fn harness_on(url: &str, dir: tempfile::TempDir) -> Harness {
    let store = Store::connect(url).await.unwrap();
    let clock = ManualClock::new(parse_timestamp("2026-03-02T10:00:00Z").unwrap());
    let config = Config { max_attempts: 4, ..Config::default() };
    let scheduler = Scheduler::new(store, Arc::new(clock.clone()), config).await.unwrap();
    Harness { _dir: dir, clock, scheduler }
}

fn provider(id: &str, is_default: bool) -> ProviderConfig {
    ProviderConfig {
        id: id.into(),
        name: id.into(),
        kind: Kind::Webhook,
        is_default,
        rate_limit: None,
        guarantee: Guarantee::AtLeastOnce,
        settings: json!({}),
        secrets: Default::default(),
    }
}

/// Publish a journey of webhook sends, one per `(node id, provider)`.
async fn publish(h: &Harness, sends: &[(&str, Option<&str>)]) {
    let mut nodes: Vec<Value> = sends
        .iter()
        .enumerate()
        .map(|(i, (id, provider))| {
            let next = sends.get(i + 1).map_or("done", |(n, _)| n);
            let mut node = json!({ "id": id, "type": "send",
                "message": { "channel": "webhook", "url": format!("https://hooks.example.com/{id}") }, "next": next });
            if let Some(p) = provider {
                node["provider"] = json!(p);
            }
            node
        })
        .collect();
    nodes.push(json!({ "id": "done", "type": "exit" }));
    let text =
        json!({ "id": "notify", "name": "Notify", "trigger": { "type": "api", "next": sends[0].0 }, "nodes": nodes })
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

async fn start(h: &Harness, contact: &str) -> String {
    h.scheduler.start_run("notify", contact, Default::default(), Default::default(), None).await.unwrap().run.id
}

async fn outbox(h: &Harness) -> Vec<store::OutboxRecord> {
    store::list_outbox(h.scheduler.store().reader(), None, None, None, None, 500).await.unwrap()
}

fn nodes(items: &[OutboxItem]) -> Vec<String> {
    items.iter().map(|i| i.node.clone()).collect()
}

#[tokio::test]
async fn a_message_goes_through_its_named_provider_else_the_channel_default_else_the_inbox() {
    let h = harness().await;
    publish(&h, &[("named", Some("crm")), ("plain", None)]).await;
    start(&h, "ann").await;

    // No default for webhooks: the plain one goes to the inbox, the named one to `crm`.
    let crm = Scripted::answering(vec![]);
    let router = Router::inbox().provider(&provider("crm", false), crm.clone());
    assert_eq!(h.scheduler.dispatch_routed(&router).await.unwrap(), 2);
    assert_eq!(nodes(&crm.got()), ["named"]);
    let inbox = store::list_messages(h.scheduler.store().reader(), None, None, None, 10).await.unwrap();
    assert_eq!(inbox.iter().map(|m| m.node.as_str()).collect::<Vec<_>>(), ["plain"]);

    // With a default provider, the plain one goes there; the named one still to `crm`.
    start(&h, "bob").await;
    let crm = Scripted::answering(vec![]);
    let main = Scripted::answering(vec![]);
    let router =
        Router::inbox().provider(&provider("crm", false), crm.clone()).provider(&provider("main", true), main.clone());
    assert_eq!(h.scheduler.dispatch_routed(&router).await.unwrap(), 2);
    assert_eq!(nodes(&crm.got()), ["named"]);
    assert_eq!(nodes(&main.got()), ["plain"]);
    assert!(crm.got()[0].key.ends_with(":named:1") && crm.got()[0].provider.as_deref() == Some("crm"));
    assert!(outbox(&h).await.iter().all(|r| r.status == OutboxStatus::Sent));
}

#[tokio::test]
async fn a_message_naming_a_provider_that_is_not_configured_is_given_up_on_the_timeline() {
    let h = harness().await;
    publish(&h, &[("named", Some("gone"))]).await;
    let run = start(&h, "ann").await;
    let router = Router::inbox();
    h.scheduler.dispatch_routed(&router).await.unwrap();
    assert_eq!(outbox(&h).await[0].status, OutboxStatus::Pending, "a provider added a moment ago elsewhere gets time");
    h.clock.advance(TimeDelta::seconds(31));
    h.scheduler.dispatch_routed(&router).await.unwrap();
    let entry = &outbox(&h).await[0];
    assert_eq!(entry.status, OutboxStatus::Failed);
    assert!(entry.last_error.as_deref().unwrap().contains("provider `gone` is not configured"), "{entry:?}");
    let history = store::history(h.scheduler.store().reader(), &run).await.unwrap();
    assert!(history.iter().any(|e| matches!(&e.what, What::DeliveryFailed { error, .. } if error.contains("gone"))));
}

#[tokio::test]
async fn a_rate_limited_provider_sends_no_faster_than_its_token_bucket() {
    let h = harness().await;
    publish(&h, &[("hook", None)]).await;
    for i in 0..25 {
        start(&h, &format!("c{i}")).await;
    }
    let main = Scripted::answering(vec![]);
    let mut config = provider("main", true);
    config.rate_limit = Some(RateLimit { per_second: 10.0, burst: 5 });
    let router = Router::inbox().provider(&config, main.clone());
    let count = || main.got().len();
    h.scheduler.dispatch_routed(&router).await.unwrap();
    assert_eq!(count(), 5, "the burst at once");
    h.scheduler.dispatch_routed(&router).await.unwrap();
    assert_eq!(count(), 5, "no more without time passing");
    h.clock.advance(TimeDelta::milliseconds(300));
    h.scheduler.dispatch_routed(&router).await.unwrap();
    assert_eq!(count(), 8, "10 a second: 3 in 300 ms");
    h.clock.advance(TimeDelta::seconds(60));
    h.scheduler.dispatch_routed(&router).await.unwrap();
    assert_eq!(count(), 13, "a long pause refills to the burst, no more");
    let pending = outbox(&h).await.iter().filter(|r| r.status == OutboxStatus::Pending).count();
    assert_eq!(pending, 12, "the rest wait in the outbox, not leased and not failed");
    assert!(outbox(&h).await.iter().all(|r| r.attempts <= 1), "held messages were not attempted");
}

#[tokio::test]
async fn two_workers_together_keep_to_the_providers_rate_limit() {
    two_workers_share_the_rate_limit(harness().await).await;
}

#[tokio::test]
async fn two_workers_together_keep_to_the_providers_rate_limit_on_postgresql() {
    let Some(pg) = support::TempPostgres::create().await else { return };
    let url = pg.url.clone();
    let result = tokio::spawn(async move {
        two_workers_share_the_rate_limit(harness_on(&url, tempfile::tempdir().unwrap()).await).await;
    })
    .await;
    pg.drop_now().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn two_workers_share_the_rate_limit(h: Harness) {
    publish(&h, &[("hook", None)]).await;
    for i in 0..40 {
        start(&h, &format!("c{i}")).await;
    }
    // A second worker on the same database, with its own router (and so its own bucket).
    let other =
        Scheduler::new(h.scheduler.store().clone(), Arc::new(h.clock.clone()), Config::default()).await.unwrap();
    let main = Scripted::answering(vec![]);
    let mut config = provider("main", true);
    config.rate_limit = Some(RateLimit { per_second: 10.0, burst: 5 });
    let (first, second) =
        (Router::inbox().provider(&config, main.clone()), Router::inbox().provider(&config, main.clone()));
    let count = || main.got().len();
    h.scheduler.dispatch_routed(&first).await.unwrap();
    other.dispatch_routed(&second).await.unwrap();
    assert_eq!(count(), 5, "one burst for both workers, not one each");
    for _ in 0..10 {
        h.clock.advance(TimeDelta::milliseconds(100));
        h.scheduler.dispatch_routed(&first).await.unwrap();
        other.dispatch_routed(&second).await.unwrap();
    }
    assert_eq!(count(), 15, "10 a second for both together: 10 more in one second");
    let keys: std::collections::BTreeSet<String> = main.got().iter().map(|i| i.key.clone()).collect();
    assert_eq!(keys.len(), 15, "no message leased by both");
}

#[tokio::test]
async fn an_uncertain_attempt_is_retried_with_the_same_key_at_least_once_and_reported_unknown_at_most_once() {
    let uncertain = || Delivery::Uncertain { after: TimeDelta::seconds(2), error: "timed out".into() };
    for guarantee in [Guarantee::AtLeastOnce, Guarantee::AtMostOnce] {
        let h = harness().await;
        publish(&h, &[("hook", None)]).await;
        let run = start(&h, "ann").await;
        let main = Scripted::answering(vec![uncertain()]);
        let mut config = provider("main", true);
        config.guarantee = guarantee;
        let router = Router::inbox().provider(&config, main.clone());
        h.scheduler.dispatch_routed(&router).await.unwrap();
        h.clock.advance(TimeDelta::seconds(5));
        h.scheduler.dispatch_routed(&router).await.unwrap();
        let entry = &outbox(&h).await[0];
        let history = store::history(h.scheduler.store().reader(), &run).await.unwrap();
        match guarantee {
            Guarantee::AtLeastOnce => {
                assert_eq!(main.got().len(), 2);
                assert_eq!(main.got()[0].key, main.got()[1].key, "the retry carries the same idempotency key");
                assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 2));
            }
            Guarantee::AtMostOnce => {
                assert_eq!(main.got().len(), 1, "never attempted again");
                assert_eq!((entry.status, entry.attempts), (OutboxStatus::Unknown, 1));
                assert_eq!(entry.last_error.as_deref(), Some("timed out"));
                assert!(
                    history
                        .iter()
                        .any(|e| matches!(&e.what, What::DeliveryUnknown { error, .. } if error == "timed out"))
                );
            }
        }
    }
}

#[tokio::test]
async fn an_attempt_that_vanished_in_a_crash_is_resent_with_its_key_or_reported_unknown_at_most_once() {
    for guarantee in [Guarantee::AtLeastOnce, Guarantee::AtMostOnce] {
        let h = harness().await;
        publish(&h, &[("hook", None)]).await;
        start(&h, "ann").await;
        // A worker leases the message, hands it to the provider, and dies before recording the outcome.
        let now = h.clock.now();
        let leased = h
            .scheduler
            .store()
            .writer()
            .run(move |tx| {
                Box::pin(async move {
                    store::claim_outbox_of(tx, now, TimeDelta::seconds(10), 10, store::Channels::All).await
                })
            })
            .await
            .unwrap();
        assert_eq!(leased.len(), 1);
        assert!(!leased[0].has_vanished_attempt(), "a first attempt has nothing behind it");
        let main = Scripted::answering(vec![]);
        let mut config = provider("main", true);
        config.guarantee = guarantee;
        let router = Router::inbox().provider(&config, main.clone());
        h.scheduler.dispatch_routed(&router).await.unwrap();
        assert!(main.got().is_empty(), "still leased");
        h.clock.advance(TimeDelta::seconds(11));
        h.scheduler.dispatch_routed(&router).await.unwrap();
        let entry = &outbox(&h).await[0];
        match guarantee {
            Guarantee::AtLeastOnce => {
                assert_eq!(nodes(&main.got()), ["hook"]);
                assert_eq!(main.got()[0].key, leased[0].key, "the re-send carries the same idempotency key");
                assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 2));
            }
            Guarantee::AtMostOnce => {
                assert!(main.got().is_empty(), "an at-most-once provider never gets it twice");
                assert_eq!(entry.status, OutboxStatus::Unknown);
                assert!(entry.last_error.as_deref().unwrap().contains("without an outcome"), "{entry:?}");
            }
        }
    }
}

#[tokio::test]
async fn provider_secrets_are_stored_sealed_and_read_back_only_with_the_key() {
    let h = harness().await;
    let key = Key::generate();
    let mut config = provider("mail", true);
    config.secrets.insert("api_key".into(), json!("sk-live-0123456789"));
    let now = h.clock.now();
    let (k, c) = (key.clone(), config.clone());
    let record = h
        .scheduler
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::insert_provider(tx, &k, &c, now).await }))
        .await
        .unwrap();
    assert_eq!(record.secrets_set, ["api_key"]);
    // The database file never holds the secret in the clear.
    let dir = h._dir.path().to_path_buf();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(18).any(|w| w == b"sk-live-0123456789"), "the secret is in a database file");
    }
    let reader = h.scheduler.store().reader();
    let back = store::get_provider_config(reader, &key, "mail").await.unwrap().unwrap();
    assert_eq!(back, config);
    assert!(store::get_provider_config(reader, &Key::generate(), "mail").await.is_err(), "another key opens nothing");
    let loaded = store::load_provider_configs(reader, None).await.unwrap();
    assert!(matches!(&loaded[0], Err(u) if u.id == "mail" && u.error.contains("KAIROS_SECRET_KEY")));

    // The registry picks the provider up, and notices changes.
    let registry = Registry::new(Router::inbox(), Some(key.clone()), Options::default());
    registry.reload(h.scheduler.store()).await.unwrap();
    assert!(registry.current().routes().iter().any(|r| r.provider.as_deref() == Some("mail") && r.is_default));
    assert!(!registry.refresh(h.scheduler.store()).await.unwrap(), "nothing changed");
    h.scheduler
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::delete_provider(tx, "mail").await.map(|_| ()) }))
        .await
        .unwrap();
    assert!(registry.refresh(h.scheduler.store()).await.unwrap());
    assert!(registry.current().routes().is_empty());
}
