//! Retention on the real store with a manual clock: ended runs move from the hot tables
//! to the archive `archive_after` after they ended and are deleted after the retention
//! period; everything that reads runs still sees archived ones; a run still waiting or
//! with a message still pending never moves; a failed batch loses nothing; two workers
//! on PostgreSQL never move a run twice.

use chrono::{DateTime, TimeDelta, Utc};
use kairos_engine::clock::{Clock, ManualClock};
use kairos_engine::contact::Event;
use kairos_engine::run::Status;
use kairos_engine::scheduler::{Config, Inbox, Incoming, IngestItem, Retention, Scheduler};
use kairos_engine::store::retention::{TableSizes, table_sizes};
use kairos_engine::store::{self, RunFilter, Store};
use kairos_engine::time::parse_timestamp;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use std::sync::Arc;

mod support;

struct Harness {
    _dir: tempfile::TempDir,
    url: String,
    clock: ManualClock,
    scheduler: Arc<Scheduler>,
}

/// An hour in the hot tables, 30 days in all; 4 runs a batch, so sweeps take several.
fn policy() -> Retention {
    Retention {
        archive_after: Some(TimeDelta::hours(1)),
        keep: Some(TimeDelta::days(30)),
        batch: 4,
        ..Retention::default()
    }
}

async fn worker(url: &str, clock: &ManualClock, retention: Retention) -> Arc<Scheduler> {
    let store = Store::connect(url).await.unwrap();
    Scheduler::new(store, Arc::new(clock.clone()), Config { retention, ..Config::default() }).await.unwrap()
}

async fn harness_on(url: String, dir: tempfile::TempDir, retention: Retention) -> Harness {
    let clock = ManualClock::new(parse_timestamp("2026-03-02T10:00:00Z").unwrap());
    let scheduler = worker(&url, &clock, retention).await;
    Harness { _dir: dir, url, clock, scheduler }
}

async fn sqlite(retention: Retention) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/kairos.db", dir.path().display());
    harness_on(url, dir, retention).await
}

/// Sign-up → split a/b → email → wait a day for a purchase (the goal) → exit; `once`.
fn trial() -> Value {
    json!({
        "id": "trial", "name": "Trial",
        "trigger": {"type": "event", "event": "signed_up", "next": "pick"},
        "settings": {"reentry": "once", "goal": {"type": "event", "event": "purchased"}},
        "nodes": [
            {"type": "split", "id": "pick", "variants": [
                {"name": "a", "weight": 50, "next": "hello"}, {"name": "b", "weight": 50, "next": "hello"}]},
            {"type": "send", "id": "hello", "message": {"channel": "email", "subject": "Hi", "body": "<p>Hi</p>"}, "next": "wait"},
            {"type": "wait_for_event", "id": "wait", "event": "purchased", "timeout": "1d", "received": "done", "timed_out": "done"},
            {"type": "exit", "id": "done"}
        ]
    })
}

impl Harness {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn reader(&self) -> &sea_orm::DatabaseConnection {
        self.scheduler.store().reader()
    }

    async fn identify(&self, ids: &[String]) {
        let items = ids
            .iter()
            .map(|id| {
                let Value::Object(traits) = json!({"email": format!("{id}@example.com")}) else { unreachable!() };
                IngestItem::Identify { contact_id: id.clone(), traits }
            })
            .collect();
        self.scheduler.ingest_items(items).await.unwrap();
    }

    /// Track `name` for each contact; the runs each event started.
    async fn track(&self, ids: &[String], name: &str) -> Vec<Vec<String>> {
        let events =
            ids.iter().map(|id| Incoming { contact_id: id.clone(), event: Event::new(name, self.now()) }).collect();
        self.scheduler.ingest(events).await.unwrap().into_iter().map(|r| r.started).collect()
    }

    async fn sizes(&self) -> TableSizes {
        table_sizes(self.reader()).await.unwrap()
    }

    async fn count(&self, sql: &str) -> i64 {
        let backend = self.reader().get_database_backend();
        let row = self.reader().query_one(Statement::from_string(backend, sql)).await.unwrap().unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    async fn timeline(&self, run: &str) -> Vec<Value> {
        store::timeline(self.reader(), run).await.unwrap()
    }
}

fn contacts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:02}")).collect()
}

/// 20 contacts sign up; 15 buy and their runs end, 5 wait. The 15 move after an hour (once
/// their emails are out), every reader still sees them, `once` still refuses them; after
/// 30 days they are gone.
async fn lifecycle(h: Harness) {
    support::publish_journey(&h.scheduler, trial(), h.now()).await;
    let all = contacts("c", 20);
    let (buyers, waiting) = all.split_at(15);
    h.identify(&all).await;
    let runs: Vec<String> = h.track(&all, "signed_up").await.into_iter().flatten().collect();
    assert_eq!(runs.len(), 20);
    h.track(buyers, "purchased").await;
    let ended: Vec<String> = runs[..15].to_vec();

    // Ended a moment ago: nothing moves.
    assert_eq!(h.scheduler.sweep_runs().await.unwrap().archived, 0);
    // Two hours on, their emails are still pending in the outbox: still nothing moves.
    h.clock.advance(TimeDelta::hours(2));
    assert_eq!(h.scheduler.sweep_runs().await.unwrap().archived, 0);
    h.scheduler.dispatch_due(&Inbox).await.unwrap();
    let mut before: Vec<Vec<Value>> = Vec::new();
    for id in &ended {
        before.push(h.timeline(id).await);
    }
    assert!(before.iter().all(|t| t.len() >= 5), "entered, variant, send, wait, converted, exit: {:?}", before[0]);
    let hot_before = h.sizes().await;
    let swept = h.scheduler.sweep_runs().await.unwrap();
    let hot_after = h.sizes().await;
    eprintln!("20 runs, 15 ended: hot tables before the sweep {hot_before:?}, after {hot_after:?}");
    assert_eq!(swept.archived, 15);
    assert_eq!((hot_before.runs, hot_after.runs, hot_after.archived_runs), (20, 5, 15));
    let ended_history: u64 = before.iter().map(|t| t.len() as u64).sum();
    assert_eq!(hot_after.archived_run_history, ended_history);
    assert_eq!(hot_after.run_history, hot_before.run_history - ended_history);
    // Only the waiting runs listen for anything.
    assert_eq!(hot_after.subscriptions, 5);
    for id in &ended {
        let hot = h.count(&format!("SELECT COUNT(*) FROM run_history WHERE run_id = '{id}'")).await
            + h.count(&format!("SELECT COUNT(*) FROM runs WHERE id = '{id}'")).await;
        assert_eq!(hot, 0, "run {id} left rows in the hot tables");
    }

    // The readers see archived runs as before.
    let reader = h.reader();
    for (id, timeline) in ended.iter().zip(&before) {
        let run = store::get_run(reader, id).await.unwrap().expect("an archived run is found");
        assert_eq!(run.run.status, Status::Completed);
        assert!(run.run.converted_at.is_some());
        assert_eq!(&h.timeline(id).await, timeline, "an archived run's timeline is unchanged");
        assert_eq!(store::history(reader, id).await.unwrap().len(), timeline.len());
    }
    let list =
        |status: Option<Status>| RunFilter { workflow: Some("trial".into()), status, limit: 100, ..Default::default() };
    let listed = store::list_runs(reader, &list(None)).await.unwrap();
    let ids: Vec<String> = listed.iter().map(|r| r.run.id.clone()).collect();
    let mut expected = runs.clone();
    expected.sort();
    assert_eq!(ids, expected, "listed once each, by id");
    assert_eq!(store::list_runs(reader, &list(Some(Status::Completed))).await.unwrap().len(), 15);
    assert_eq!(store::list_runs(reader, &list(Some(Status::Waiting))).await.unwrap().len(), 5);
    let page = RunFilter { limit: 7, after: Some(expected[3].clone()), ..list(None) };
    let page: Vec<String> = store::list_runs(reader, &page).await.unwrap().into_iter().map(|r| r.run.id).collect();
    assert_eq!(page, expected[4..11], "a page after a cursor mixes both tables in id order");
    assert!(store::contact_has_runs(reader, "c00").await.unwrap());
    let counts = store::count_runs(reader, "trial", None).await.unwrap();
    assert_eq!((counts.by_status["completed"], counts.by_status["waiting"], counts.converted), (15, 5, 15));
    let stats = store::node_stats(reader, "trial", Some(1)).await.unwrap();
    assert_eq!((stats["done"].ended, stats["wait"].waiting, stats["hello"].entered), (15, 5, 20));
    let conversions = store::conversions(reader, "trial", None).await.unwrap();
    assert_eq!((conversions.versions[&1].entered, conversions.versions[&1].converted), (20, 15));
    let by_variant = conversions.variants["pick"].values().fold((0, 0), |(e, c), v| (e + v.entered, c + v.converted));
    assert_eq!(by_variant, (20, 15));
    let goals = store::goal_conversions(reader, h.now() - TimeDelta::days(1), h.now()).await.unwrap();
    assert_eq!((goals["trial"].entered, goals["trial"].converted), (20, 15));

    // `once` still refuses a contact whose run is archived (and one whose run is waiting).
    let again = h.track(&["c00".to_string(), waiting[0].clone()], "signed_up").await;
    assert_eq!(again, vec![Vec::<String>::new(), vec![]]);

    // Erasing a contact scrubs its archived run too.
    let erased = ended[1].clone();
    let now = h.now();
    let deleted = h
        .scheduler
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::delete_contact(tx, "c01", now).await }));
    assert!(deleted.await.unwrap());
    let entered = h.timeline(&erased).await.into_iter().find(|e| e["type"] == "entered").unwrap();
    assert_eq!(entered["trigger"], "(erased)");

    // A day later the waiting runs time out, end and move in turn.
    h.clock.advance(TimeDelta::days(1));
    h.scheduler.run_due().await.unwrap();
    h.clock.advance(TimeDelta::hours(2));
    let swept = h.scheduler.sweep_runs().await.unwrap();
    assert_eq!((swept.archived, swept.deleted), (5, 0));
    assert_eq!((h.sizes().await.runs, h.sizes().await.run_history, h.sizes().await.subscriptions), (0, 0, 0));

    // 30 days after they ended, the first 15 are deleted with everything of theirs; the
    // last 5 ended a day later and stay a day longer.
    h.clock.set(parse_timestamp("2026-04-01T10:00:00Z").unwrap() + TimeDelta::minutes(1));
    let swept = h.scheduler.sweep_runs().await.unwrap();
    assert_eq!((swept.archived, swept.deleted), (0, 15));
    for id in &ended {
        assert!(store::get_run(reader, id).await.unwrap().is_none());
        assert!(h.timeline(id).await.is_empty());
        for table in ["run_variants", "outbox", "archived_run_history"] {
            assert_eq!(h.count(&format!("SELECT COUNT(*) FROM {table} WHERE run_id = '{id}'")).await, 0, "{table}");
        }
    }
    assert_eq!(h.sizes().await.archived_runs, 5);
    assert_eq!(store::count_runs(reader, "trial", None).await.unwrap().by_status["completed"], 5);
    // With its earlier run gone, `once` no longer knows the contact: it enters again.
    assert_eq!(h.track(&["c00".to_string()], "signed_up").await[0].len(), 1);
    h.clock.advance(TimeDelta::days(2));
    assert_eq!(h.scheduler.sweep_runs().await.unwrap().deleted, 5);
}

#[tokio::test]
async fn ended_runs_move_to_the_archive_stay_readable_and_go_after_the_retention_period() {
    lifecycle(sqlite(policy()).await).await;
}

#[tokio::test]
async fn ended_runs_move_to_the_archive_on_postgres() {
    let Some(pg) = support::TempPostgres::create().await else { return };
    let url = pg.url.clone();
    let result = tokio::spawn(async move {
        lifecycle(harness_on(url, tempfile::tempdir().unwrap(), policy()).await).await;
    })
    .await;
    pg.drop_now().await;
    result.unwrap();
}

/// `n` contacts run a journey that ends at once.
async fn finished_runs(h: &Harness, n: usize) -> Vec<String> {
    let doc = json!({
        "id": "quick", "name": "Quick", "trigger": {"type": "event", "event": "ping", "next": "tag"},
        "settings": {"reentry": "always"},
        "nodes": [
            {"type": "update_contact", "id": "tag", "updates": [{"op": "add_tag", "tag": "pinged"}], "next": "done"},
            {"type": "exit", "id": "done"}
        ]
    });
    support::publish_journey(&h.scheduler, doc, h.now()).await;
    let ids = contacts("p", n);
    let mut runs = Vec::new();
    for chunk in ids.chunks(500) {
        runs.extend(h.track(chunk, "ping").await.into_iter().flatten());
    }
    assert_eq!(runs.len(), n);
    runs
}

/// A batch that fails half-way (a row in its way in the archive) changes nothing: the
/// batches before it stay moved, its runs stay hot with their whole timelines, and the
/// next sweep moves them.
#[tokio::test]
async fn a_batch_that_fails_half_way_loses_nothing() {
    let h = sqlite(policy()).await;
    let mut runs = finished_runs(&h, 10).await;
    runs.sort();
    let mut before = Vec::new();
    for id in &runs {
        before.push(h.timeline(id).await);
    }
    // The 6th run (in the second batch of 4) cannot have its timeline archived: an entry
    // with the id of its first one is there already.
    let victim = &runs[5];
    let first = h.count(&format!("SELECT MIN(id) FROM run_history WHERE run_id = '{victim}'")).await;
    let writer = h.scheduler.store().writer();
    let obstacle = format!(
        "INSERT INTO archived_run_history (id, run_id, workflow_id, version, at, node, kind, data) \
         VALUES ({first}, 'someone-else', 'quick', 1, 0, NULL, 'entered', '{{}}')"
    );
    writer
        .run(move |tx| Box::pin(async move { Ok(tx.execute_unprepared(&obstacle).await.map(|_| ())?) }))
        .await
        .unwrap();
    h.clock.advance(TimeDelta::hours(2));
    let err = h.scheduler.sweep_runs().await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("unique"), "{err}");
    let sizes = h.sizes().await;
    assert_eq!((sizes.runs, sizes.archived_runs), (6, 4), "the first batch moved, the failed one did not");
    for (id, timeline) in runs.iter().zip(&before) {
        assert_eq!(&h.timeline(id).await, timeline, "run {id} is whole");
        assert!(store::get_run(h.reader(), id).await.unwrap().is_some());
    }
    let second_batch = format!("SELECT COUNT(*) FROM runs WHERE id IN ('{}')", runs[4..8].join("', '"));
    assert_eq!(h.count(&second_batch).await, 4);
    writer
        .run(|tx| {
            Box::pin(async move {
                Ok(tx
                    .execute_unprepared("DELETE FROM archived_run_history WHERE run_id = 'someone-else'")
                    .await
                    .map(|_| ())?)
            })
        })
        .await
        .unwrap();
    assert_eq!(h.scheduler.sweep_runs().await.unwrap().archived, 6);
    for (id, timeline) in runs.iter().zip(&before) {
        assert_eq!(&h.timeline(id).await, timeline);
    }
    assert_eq!(h.sizes().await.runs, 0);
}

/// Start keys stay taken once their runs are archived: a retried API start gets its
/// archived run back, and a keyed start committed directly is a duplicate.
#[tokio::test]
async fn a_start_key_stays_taken_in_the_archive() {
    let h = sqlite(policy()).await;
    let doc = json!({
        "id": "api-started", "name": "API", "trigger": {"type": "api", "next": "done"},
        "settings": {"reentry": "always"},
        "nodes": [{"type": "exit", "id": "done"}]
    });
    support::publish_journey(&h.scheduler, doc, h.now()).await;
    let start =
        || h.scheduler.start_run("api-started", "ann", Default::default(), Default::default(), Some("k-1".into()));
    let first = start().await.unwrap();
    assert!(!first.existing);
    h.clock.advance(TimeDelta::hours(2));
    assert_eq!(h.scheduler.sweep_runs().await.unwrap().archived, 1);
    let again = start().await.unwrap();
    assert!(again.existing);
    assert_eq!(again.run.id, first.run.id);
    let by_key = store::run_by_start_key(h.reader(), "api-started:k-1").await.unwrap().unwrap();
    assert_eq!(by_key.run.id, first.run.id);
    // Committed with the same key (as a resumed schedule tick would): refused.
    let mut run = first.run.clone();
    run.id = "another".into();
    let t = store::Transition {
        run,
        prev_rev: None,
        start_key: Some("api-started:k-1".into()),
        history: vec![],
        effects: vec![],
        subscriptions: Default::default(),
        prev_subscriptions: None,
    };
    let now = h.now();
    let committed = h
        .scheduler
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::commit(tx, &[t], now).await }))
        .await
        .unwrap();
    assert_eq!(committed, vec![store::Committed::DuplicateStart]);
    assert!(store::get_run(h.reader(), "another").await.unwrap().is_none());
}

/// The measurement: rows in the hot tables after 2,000 runs finish, before and after one
/// sweep (default batch of 500).
#[tokio::test]
async fn the_hot_tables_hold_no_finished_runs_after_a_sweep() {
    let h = sqlite(Retention { batch: 500, ..policy() }).await;
    finished_runs(&h, 2_000).await;
    h.clock.advance(TimeDelta::hours(2));
    let before = h.sizes().await;
    let t = std::time::Instant::now();
    let swept = h.scheduler.sweep_runs().await.unwrap();
    let took = t.elapsed();
    let after = h.sizes().await;
    eprintln!("2,000 finished runs: before the sweep {before:?}; after {after:?}; the sweep took {took:?}");
    assert_eq!(swept.archived, 2_000);
    assert_eq!((before.runs, after.runs, after.run_history, after.subscriptions), (2_000, 0, 0, 0));
    assert_eq!((after.archived_runs, after.archived_run_history), (before.runs, before.run_history));
}

/// Two workers sweeping the same PostgreSQL database at once move each run exactly once.
#[tokio::test]
async fn two_workers_sweeping_at_once_move_each_run_once_on_postgres() {
    let Some(pg) = support::TempPostgres::create().await else { return };
    let url = pg.url.clone();
    let result = tokio::spawn(async move {
        let h = harness_on(url, tempfile::tempdir().unwrap(), Retention { batch: 25, ..policy() }).await;
        let second = worker(&h.url, &h.clock, Retention { batch: 25, ..policy() }).await;
        finished_runs(&h, 400).await;
        let before = h.sizes().await;
        h.clock.advance(TimeDelta::hours(2));
        let (a, b) = tokio::join!(h.scheduler.sweep_runs(), second.sweep_runs());
        let (a, b) = (a.unwrap(), b.unwrap());
        // One may stop early when the other holds the last rows; a second pass finds none.
        let rest = h.scheduler.sweep_runs().await.unwrap().archived + second.sweep_runs().await.unwrap().archived;
        assert_eq!(a.archived + b.archived + rest, 400);
        let after = h.sizes().await;
        assert_eq!((after.runs, after.archived_runs, after.archived_run_history), (0, 400, before.run_history));
    })
    .await;
    pg.drop_now().await;
    result.unwrap();
}
