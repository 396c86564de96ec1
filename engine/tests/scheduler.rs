//! The durable scheduler on a real SQLite file with a manual clock.

use chrono::TimeDelta;
use kairos_engine::clock::{Clock, ManualClock};
use kairos_engine::contact::Event;
use kairos_engine::run::Status;
use kairos_engine::scheduler::{Config, Inbox, Incoming, Scheduler};
use kairos_engine::store::{self, Store};
use kairos_engine::time::parse_timestamp;
use std::sync::Arc;

struct Harness {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    scheduler: Arc<Scheduler>,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    harness_on(&format!("sqlite://{}/kairos.db", dir.path().display()), dir).await
}

async fn harness_on(url: &str, dir: tempfile::TempDir) -> Harness {
    let store = Store::connect(url).await.unwrap();
    let clock = ManualClock::new(parse_timestamp("2026-03-02T10:00:00Z").unwrap());
    let scheduler = Scheduler::new(store, Arc::new(clock.clone()), Config::default()).await.unwrap();
    Harness { _dir: dir, clock, scheduler }
}

async fn publish(h: &Harness, file: &str) {
    publish_text(h, &std::fs::read_to_string(format!("{}/../workflows/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap())
        .await;
}

async fn publish_text(h: &Harness, text: &str) {
    let journey = kairos_engine::validate(text).unwrap();
    let wf = journey.workflow().clone();
    let now = h.clock.now();
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
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

fn cart(h: &Harness, contact: &str, cart: &str, message_id: &str) -> Incoming {
    let mut e = Event::new("cart_updated", h.clock.now()).with_property("cart_id", cart).with_property("item_count", 2);
    e.message_id = Some(message_id.into());
    Incoming { contact_id: contact.into(), event: e }
}

async fn tick(h: &Harness) {
    h.scheduler.run_due().await.unwrap();
    h.scheduler.dispatch_due(&Inbox).await.unwrap();
}

async fn identify(h: &Harness, id: &str) {
    let now = h.clock.now();
    let id = id.to_string();
    h.scheduler
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                let mut attrs = serde_json::Map::new();
                attrs.insert("email".into(), format!("{id}@example.com").into());
                store::upsert_contact(tx, &id, attrs, None, store::Merge::Merge, "test", now).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn abandoned_cart_reminds_after_an_hour_exactly_once() {
    let h = harness().await;
    publish(&h, "abandoned-cart.json").await;
    identify(&h, "ann").await;
    let r = h.scheduler.ingest(vec![cart(&h, "ann", "c-1", "m-1")]).await.unwrap();
    assert_eq!(r[0].started.len(), 1);
    // A retried delivery of the same message does nothing.
    let again = h.scheduler.ingest(vec![cart(&h, "ann", "c-1", "m-1")]).await.unwrap();
    assert!(again[0].duplicate);

    h.clock.advance(TimeDelta::minutes(59));
    tick(&h).await;
    let reader = h.scheduler.store().reader();
    assert_eq!(store::count_messages(reader).await.unwrap(), 0);

    h.clock.advance(TimeDelta::minutes(1));
    tick(&h).await;
    tick(&h).await;
    let messages = store::list_messages(reader, Some("ann"), None, None, 10).await.unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].node, "send_reminder");
    let run = store::get_run(reader, &r[0].started[0]).await.unwrap().unwrap();
    assert_eq!(run.run.status, Status::Waiting);
    assert_eq!(run.run.node.as_deref(), Some("wait_a_day"));

    // An order in time for this cart ends the run and converts it.
    let mut order = Event::new("order_completed", h.clock.now()).with_property("cart_id", "c-1");
    order.message_id = Some("m-2".into());
    let r2 = h.scheduler.ingest(vec![Incoming { contact_id: "ann".into(), event: order }]).await.unwrap();
    assert_eq!(r2[0].delivered, 1);
    let run = store::get_run(reader, &r[0].started[0]).await.unwrap().unwrap();
    assert_eq!(run.run.status, Status::Completed);
    assert!(run.run.converted_at.is_some());
    let history = store::history(reader, &run.run.id).await.unwrap();
    assert!(history.len() > 5);
    h.clock.advance(TimeDelta::days(2));
    tick(&h).await;
    assert_eq!(store::count_messages(reader).await.unwrap(), 1, "no SMS after the order");
}

/// One ingestion call is processed in groups of distinct contacts; an event must still see
/// what the events before it in the same call did (its own contact's runs), and message
/// ids repeated within the call are duplicates.
#[tokio::test]
async fn one_ingest_call_sees_its_own_earlier_events() {
    let h = harness().await;
    publish(&h, "abandoned-cart.json").await;
    let order = |contact: &str, cart: &str, message_id: &str| {
        let mut e = Event::new("order_completed", h.clock.now()).with_property("cart_id", cart);
        e.message_id = Some(message_id.into());
        Incoming { contact_id: contact.into(), event: e }
    };
    let r = h
        .scheduler
        .ingest(vec![
            cart(&h, "ann", "c-1", "m-1"),
            cart(&h, "bob", "c-2", "m-2"),
            order("ann", "c-1", "m-3"),
            cart(&h, "ann", "c-1", "m-1"),
            cart(&h, "ann", "c-3", "m-4"),
            cart(&h, "cat", "c-4", "m-4"),
        ])
        .await
        .unwrap();
    assert_eq!(r.iter().map(|i| i.started.len()).collect::<Vec<_>>(), [1, 1, 0, 0, 1, 0], "{r:?}");
    assert_eq!(r.iter().map(|i| i.duplicate).collect::<Vec<_>>(), [false, false, false, true, false, true]);
    assert_eq!(r[2].delivered, 1, "the order reaches the run its cart started in the same call");

    let reader = h.scheduler.store().reader();
    let first = store::get_run(reader, &r[0].started[0]).await.unwrap().unwrap();
    assert_eq!(first.run.status, Status::Completed);
    assert!(first.run.converted_at.is_some());
    // After the first run ended, the contact may enter again (re-entry `after_exit`).
    let again = store::get_run(reader, &r[4].started[0]).await.unwrap().unwrap();
    assert_eq!((again.run.status, again.run.entry), (Status::Waiting, 2));
    let bob = store::get_run(reader, &r[1].started[0]).await.unwrap().unwrap();
    assert_eq!(bob.run.status, Status::Waiting);
    assert!(store::get_contact(reader, "cat").await.unwrap().is_none(), "a duplicate writes nothing");

    // The statistics count each node entered once per run.
    let stats = store::node_stats(reader, "abandoned-cart", None).await.unwrap();
    assert_eq!(stats["wait_for_order"].entered, 3, "{stats:?}");
    assert_eq!(stats["wait_for_order"].waiting, 2);
    assert_eq!(stats["exit_ordered"].entered, 1);
    assert_eq!(stats.values().map(|s| s.converted).sum::<u64>(), 1, "{stats:?}");
}

#[tokio::test]
async fn a_thirty_day_delay_resolves_by_advancing_the_clock() {
    let h = harness().await;
    let text = r#"{ "id": "slow", "name": "Slow", "trigger": { "type": "event", "event": "signed_up", "next": "wait" },
      "nodes": [ { "id": "wait", "type": "delay", "duration": "30d", "next": "hello" },
                 { "id": "hello", "type": "send", "message": { "channel": "email", "subject": "A month", "body": "in" }, "next": "done" },
                 { "id": "done", "type": "exit" } ] }"#;
    publish_text(&h, text).await;
    identify(&h, "bob").await;
    let now = h.clock.now();
    let mut e = Event::new("signed_up", now);
    e.message_id = Some("s-1".into());
    h.scheduler.ingest(vec![Incoming { contact_id: "bob".into(), event: e }]).await.unwrap();
    h.clock.advance(TimeDelta::days(30) - TimeDelta::seconds(1));
    tick(&h).await;
    assert_eq!(store::count_messages(h.scheduler.store().reader()).await.unwrap(), 0);
    h.clock.advance(TimeDelta::seconds(1));
    tick(&h).await;
    assert_eq!(store::count_messages(h.scheduler.store().reader()).await.unwrap(), 1);
}

const NUDGE: &str = r#"{
  "id": "nudge", "name": "Nudge",
  "trigger": { "type": "event", "event": "signed_up", "next": "pause" },
  "nodes": [
    { "id": "pause", "type": "delay", "duration": "1h", "next": "wait_click" },
    { "id": "wait_click", "type": "wait_for_event", "event": "clicked", "timeout": "1d",
      "received": "thanks", "timed_out": "gave_up" },
    { "id": "thanks", "type": "exit" },
    { "id": "gave_up", "type": "exit" }
  ]
}"#;

fn event(h: &Harness, contact: &str, name: &str) -> Incoming {
    let mut e = Event::new(name, h.clock.now());
    e.message_id = Some(format!("{contact}-{name}-{}", uuid::Uuid::new_v4()));
    Incoming { contact_id: contact.into(), event: e }
}

/// The node each contact's `nudge` run ended at.
async fn endings(h: &Harness, contacts: &[String]) -> Vec<(String, Option<String>)> {
    let reader = h.scheduler.store().reader();
    let mut out = Vec::new();
    for c in contacts {
        let filter = store::RunFilter {
            workflow: Some("nudge".into()),
            contact: Some(c.clone()),
            status: None,
            node: None,
            after: None,
            limit: 10,
        };
        let runs = store::list_runs(reader, &filter).await.unwrap();
        assert_eq!(runs.len(), 1, "{c}: {runs:?}");
        out.push((c.clone(), if runs[0].run.status.is_ended() { runs[0].run.node.clone() } else { None }));
    }
    out
}

/// A run stepped from a delay into `wait_for_event` begins listening at the step's time;
/// an event stored between the claim and the commit of that step found no subscription
/// when it arrived, and must be delivered by the commit (not lost until the timeout). An
/// event from before the wait does not count. Then the same race, concurrently.
async fn no_wake_up_is_lost(h: &Harness) {
    publish_text(h, NUDGE).await;
    let contacts: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    let early = "early".to_string();
    let signups: Vec<Incoming> = contacts.iter().chain([&early]).map(|c| event(h, c, "signed_up")).collect();
    h.scheduler.ingest(signups).await.unwrap();
    h.clock.advance(TimeDelta::minutes(59));
    // Before the wait: not heard, and not counted later.
    let r = h.scheduler.ingest(vec![event(h, &early, "clicked")]).await.unwrap();
    assert_eq!(r[0].delivered, 0);
    h.clock.advance(TimeDelta::minutes(1));
    // Due now, not yet stepped: the clicks arrive in the window and find no subscription.
    let clicks: Vec<Incoming> = contacts.iter().map(|c| event(h, c, "clicked")).collect();
    let r = h.scheduler.ingest(clicks).await.unwrap();
    assert!(r.iter().all(|r| r.delivered == 0), "{r:?}");
    let caught0 = h.scheduler.metrics.caught_up.load(std::sync::atomic::Ordering::Relaxed);
    tick(h).await;
    let caught = h.scheduler.metrics.caught_up.load(std::sync::atomic::Ordering::Relaxed) - caught0;
    assert_eq!(caught, 20);
    for (c, end) in endings(h, &contacts).await {
        assert_eq!(end.as_deref(), Some("thanks"), "{c}");
    }
    assert_eq!(endings(h, std::slice::from_ref(&early)).await[0].1, None, "the early click is not the answer");
    h.clock.advance(TimeDelta::days(1));
    tick(h).await;
    assert_eq!(endings(h, std::slice::from_ref(&early)).await[0].1.as_deref(), Some("gave_up"));

    // Concurrently: the run loop steps 300 due runs while their clicks are ingested in
    // batches; whichever way each race goes, every run hears its click once.
    let many: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    h.scheduler.ingest(many.iter().map(|c| event(h, c, "signed_up")).collect()).await.unwrap();
    h.clock.advance(TimeDelta::hours(1));
    let clicks: Vec<Vec<Incoming>> =
        many.chunks(10).map(|c| c.iter().map(|c| event(h, c, "clicked")).collect()).collect();
    let scheduler = h.scheduler.clone();
    let ingest = tokio::spawn(async move {
        let mut delivered = 0;
        for batch in clicks {
            delivered += scheduler.ingest(batch).await.unwrap().iter().map(|r| r.delivered).sum::<usize>();
            tokio::task::yield_now().await;
        }
        delivered
    });
    let steps = {
        let s = h.scheduler.clone();
        tokio::spawn(async move {
            let mut n = 0;
            for _ in 0..20 {
                n += s.run_due().await.unwrap();
                tokio::task::yield_now().await;
            }
            n
        })
    };
    let (delivered, _) = (ingest.await.unwrap(), steps.await.unwrap());
    tick(h).await;
    let caught = h.scheduler.metrics.caught_up.load(std::sync::atomic::Ordering::Relaxed) - caught0 - 20;
    let ends = endings(h, &many).await;
    let lost: Vec<&String> = ends.iter().filter(|(_, e)| e.as_deref() != Some("thanks")).map(|(c, _)| c).collect();
    assert!(lost.is_empty(), "{} runs missed their click: {lost:?}", lost.len());
    assert_eq!(
        delivered as u64 + caught,
        300,
        "each click delivered once: {delivered} at ingestion, {caught} at commit"
    );
}

#[tokio::test]
async fn an_event_arriving_while_its_run_is_stepped_into_the_wait_is_not_lost() {
    no_wake_up_is_lost(&harness().await).await;
}

/// PostgreSQL at 127.0.0.1:5432 (user `postgres`, trust auth), where the machine has one.
/// The test creates and drops its own database. Unreachable: a failure under `CI=true`,
/// a printed skip elsewhere.
mod postgres {
    use super::*;
    use sea_orm::{ConnectionTrait, Database};

    const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

    async fn admin() -> Option<sea_orm::DatabaseConnection> {
        match Database::connect(ADMIN_URL).await {
            Ok(db) => Some(db),
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("PostgreSQL is needed in CI but unreachable: {e}")
            }
            Err(e) => {
                eprintln!("skipped: PostgreSQL at 127.0.0.1:5432 is unreachable ({e})");
                None
            }
        }
    }

    #[tokio::test]
    async fn the_same_migrations_and_scheduler_run_on_postgresql() {
        let Some(admin) = admin().await else { return };
        let name = format!("kairos_test_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let result = async move {
            let h = harness_on(&url, tempfile::tempdir().unwrap()).await;
            publish(&h, "abandoned-cart.json").await;
            identify(&h, "ann").await;
            let r = h.scheduler.ingest(vec![cart(&h, "ann", "c-1", "m-1")]).await.unwrap();
            assert!(h.scheduler.ingest(vec![cart(&h, "ann", "c-1", "m-1")]).await.unwrap()[0].duplicate);
            h.clock.advance(TimeDelta::hours(1));
            tick(&h).await;
            tick(&h).await;
            let reader = h.scheduler.store().reader();
            let messages = store::list_messages(reader, Some("ann"), None, None, 10).await.unwrap();
            assert_eq!(messages.iter().map(|m| m.node.as_str()).collect::<Vec<_>>(), ["send_reminder"]);
            let stats = store::node_stats(reader, "abandoned-cart", Some(1)).await.unwrap();
            assert_eq!(stats["send_reminder"].entered, 1);
            assert_eq!(stats["wait_a_day"].waiting, 1);
            let run = store::get_run(reader, &r[0].started[0]).await.unwrap().unwrap();
            assert!(store::history(reader, &run.run.id).await.unwrap().len() > 4);
            let deleted = h.scheduler.store().writer().run(move |tx| {
                let now = chrono::Utc::now();
                Box::pin(async move { store::delete_contact(tx, "ann", now).await })
            });
            assert!(deleted.await.unwrap());
            assert!(store::history(reader, &run.run.id).await.is_ok(), "a scrubbed timeline still reads");
        };
        let outcome = tokio::spawn(result).await;
        admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_wake_up_is_lost_on_postgresql() {
        let Some(admin) = admin().await else { return };
        let name = format!("kairos_test_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let result = async move { no_wake_up_is_lost(&harness_on(&url, tempfile::tempdir().unwrap()).await).await };
        let outcome = tokio::spawn(result).await;
        admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// While the scheduler is behind, other writes wait for its jobs, but never for long.
#[tokio::test]
async fn a_scheduler_backlog_delays_other_writes_only_briefly() {
    let h = harness().await;
    let writer = h.scheduler.store().writer().clone();
    writer.set_backlog(true);
    let t = std::time::Instant::now();
    writer.run_urgent(|_| Box::pin(async { Ok(()) })).await.unwrap();
    assert!(t.elapsed() < std::time::Duration::from_millis(500), "urgent jobs go at once");
    let t = std::time::Instant::now();
    writer.run(|_| Box::pin(async { Ok(()) })).await.unwrap();
    let held = t.elapsed();
    assert!(held < std::time::Duration::from_secs(3), "a normal job was held {held:?}");
    writer.set_backlog(false);
    let t = std::time::Instant::now();
    writer.run(|_| Box::pin(async { Ok(()) })).await.unwrap();
    assert!(t.elapsed() < std::time::Duration::from_millis(500), "no backlog, no wait");
}

/// A channel outside the store: the first attempt at each key fails transiently (or, for
/// `fail_for`, permanently); records what it delivered.
struct Flaky {
    attempts: std::sync::Mutex<Vec<(String, u32)>>,
    delivered: std::sync::Mutex<Vec<String>>,
    fail_for: String,
}

#[async_trait::async_trait]
impl kairos_engine::scheduler::Deliver for Flaky {
    async fn deliver(
        &self,
        _store: &Store,
        items: &[store::OutboxItem],
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<kairos_engine::scheduler::Delivery> {
        use kairos_engine::scheduler::Delivery;
        items
            .iter()
            .map(|i| {
                self.attempts.lock().unwrap().push((i.contact_id.clone(), i.attempts));
                if i.contact_id == self.fail_for {
                    Delivery::Failed { error: "400 bad address".into() }
                } else if i.attempts == 1 {
                    Delivery::Retry { after: TimeDelta::minutes(1), error: "503".into() }
                } else {
                    self.delivered.lock().unwrap().push(i.key.clone());
                    Delivery::Delivered
                }
            })
            .collect()
    }
}

/// The leased dispatch path (every channel but the inbox): transient failures retry after
/// their delay with the attempt counted, permanent ones stop.
#[tokio::test]
async fn a_channel_outside_the_store_retries_transient_failures_and_stops_on_permanent_ones() {
    let h = harness().await;
    publish(&h, "abandoned-cart.json").await;
    identify(&h, "ann").await;
    identify(&h, "bob").await;
    h.scheduler.ingest(vec![cart(&h, "ann", "c-1", "m-1"), cart(&h, "bob", "c-2", "m-2")]).await.unwrap();
    h.clock.advance(TimeDelta::hours(1));
    h.scheduler.run_due().await.unwrap();
    let channel = Flaky { attempts: Default::default(), delivered: Default::default(), fail_for: "bob".into() };
    let reader = h.scheduler.store().reader();

    assert_eq!(h.scheduler.dispatch_due(&channel).await.unwrap(), 0);
    assert_eq!(store::outbox_backlog(reader).await.unwrap(), 1, "ann's reminder waits for its retry");
    // Not before its time.
    h.clock.advance(TimeDelta::seconds(30));
    assert_eq!(h.scheduler.dispatch_due(&channel).await.unwrap(), 0);
    h.clock.advance(TimeDelta::seconds(31));
    assert_eq!(h.scheduler.dispatch_due(&channel).await.unwrap(), 1);
    assert_eq!(store::outbox_backlog(reader).await.unwrap(), 0);
    h.clock.advance(TimeDelta::hours(1));
    assert_eq!(h.scheduler.dispatch_due(&channel).await.unwrap(), 0, "bob's failure is not retried");

    let mut attempts = channel.attempts.lock().unwrap().clone();
    attempts.sort();
    assert_eq!(attempts, [("ann".to_string(), 1), ("ann".to_string(), 2), ("bob".to_string(), 1)]);
    assert_eq!(channel.delivered.lock().unwrap().len(), 1);
    assert_eq!(store::count_messages(reader).await.unwrap(), 0, "the inbox was not used");
}
