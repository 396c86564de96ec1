//! The audience end to end on the real store with a manual clock: segments that contacts
//! drift into without any new event, lifecycle stage rules, lead scores that decay, and
//! the journeys their changes trigger; schedule ticks that fire once across DST and across
//! two workers; birthdays in the contact's time zone.

use chrono::{DateTime, TimeDelta, Utc};
use kairos_engine::audience::{Segment, Settings};
use kairos_engine::clock::ManualClock;
use kairos_engine::contact::Event;
use kairos_engine::run::Run;
use kairos_engine::scheduler::{Config, Incoming, IngestItem, Scheduler};
use kairos_engine::store::{self, RunFilter, Store};
use kairos_engine::time::parse_timestamp;
use serde_json::{Map, Value, json};
use std::sync::Arc;

mod support;

use support::publish_journey;

fn at(s: &str) -> DateTime<Utc> {
    parse_timestamp(s).unwrap()
}

struct Harness {
    _dir: tempfile::TempDir,
    url: String,
    clock: ManualClock,
    scheduler: Arc<Scheduler>,
}

async fn harness(start: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/kairos.db", dir.path().display());
    harness_on(start, url, dir).await
}

async fn harness_on(start: &str, url: String, dir: tempfile::TempDir) -> Harness {
    let clock = ManualClock::new(at(start));
    let scheduler = worker(&url, &clock).await;
    Harness { _dir: dir, url, clock, scheduler }
}

async fn worker(url: &str, clock: &ManualClock) -> Arc<Scheduler> {
    let store = Store::connect(url).await.unwrap();
    Scheduler::new(store, Arc::new(clock.clone()), Config::default()).await.unwrap()
}

impl Harness {
    fn now(&self) -> DateTime<Utc> {
        kairos_engine::clock::Clock::now(&self.clock)
    }

    async fn identify(&self, id: &str, traits: Value) {
        let Value::Object(traits) = traits else { panic!() };
        self.scheduler.ingest_items(vec![IngestItem::Identify { contact_id: id.into(), traits }]).await.unwrap();
    }

    async fn track(&self, id: &str, name: &str, properties: Value) {
        let Value::Object(properties) = properties else { panic!() };
        let event = Event { name: name.into(), properties, timestamp: self.now(), message_id: None };
        self.scheduler.ingest(vec![Incoming { contact_id: id.into(), event }]).await.unwrap();
    }

    async fn save_segment(&self, segment: Value) {
        let segment = Segment::from_value(segment).unwrap();
        let now = self.now();
        self.scheduler
            .store()
            .writer()
            .run(move |tx| Box::pin(async move { store::save_segment(tx, &segment, true, now).await }))
            .await
            .unwrap();
    }

    async fn save_settings(&self, settings: Value) {
        let settings = Settings::from_value(settings).unwrap();
        let now = self.now();
        self.scheduler
            .store()
            .writer()
            .run(move |tx| Box::pin(async move { store::put_audience_settings(tx, &settings, now).await }))
            .await
            .unwrap();
    }

    async fn runs(&self, workflow: &str) -> Vec<Run> {
        let filter = RunFilter { workflow: Some(workflow.into()), limit: 1000, ..RunFilter::default() };
        store::list_runs(self.scheduler.store().reader(), &filter).await.unwrap().into_iter().map(|s| s.run).collect()
    }

    async fn members(&self, segment: &str) -> Vec<String> {
        store::segment_member_ids(self.scheduler.store().reader(), segment).await.unwrap()
    }

    async fn attribute(&self, id: &str, name: &str) -> Option<Value> {
        let c = store::get_contact(self.scheduler.store().reader(), id).await.unwrap().unwrap();
        c.contact.attributes.get(name).cloned()
    }
}

/// A journey with `trigger` that tags the contact `entered-<id>`; contacts may enter again
/// once their run ended.
fn tagging_journey(id: &str, trigger: Value) -> Value {
    json!({
        "id": id, "name": id, "trigger": trigger, "settings": {"reentry": "after_exit"},
        "nodes": [
            { "id": "tag", "type": "update_contact", "updates": [ { "op": "add_tag", "tag": format!("entered-{id}") } ], "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

fn trigger_props(run: &Run) -> Map<String, Value> {
    run.trigger.properties.clone()
}

#[tokio::test]
async fn a_contact_drifts_into_inactive_30_days_without_any_event_and_enters_the_journey() {
    let h = harness("2026-03-02T10:00:00Z").await;
    h.save_segment(json!({ "id": "inactive-30", "name": "Inactive for 30 days", "condition": { "all": [
        { "left": "contact.email", "op": "exists" },
        { "performed": "session_started", "measure": "count", "within_last": "30d", "op": "eq", "right": 0 } ] } }))
        .await;
    publish_journey(
        &h.scheduler,
        tagging_journey("we-miss-you", json!({"type": "segment_entered", "segment": "inactive-30", "next": "tag"})),
        h.now(),
    )
    .await;
    h.identify("ann", json!({"email": "ann@example.com"})).await;
    h.track("ann", "session_started", json!({})).await;
    h.identify("bob", json!({"email": "bob@example.com"})).await;
    h.track("bob", "session_started", json!({})).await;
    let r = h.scheduler.run_audience().await.unwrap();
    assert_eq!(r.segment_changes, 0, "{r:?}");
    assert!(h.members("inactive-30").await.is_empty());

    // Day 20: Bob comes back; nobody is inactive yet.
    h.clock.advance(TimeDelta::days(20));
    h.track("bob", "session_started", json!({})).await;
    h.scheduler.audience_tick().await.unwrap();
    assert!(h.members("inactive-30").await.is_empty());

    // Day 31: Ann has had no session for 31 days: no event arrives, the periodic pass finds her.
    h.clock.advance(TimeDelta::days(11));
    let r = h.scheduler.audience_tick().await.unwrap();
    assert_eq!(h.members("inactive-30").await, ["ann"]);
    assert_eq!(r.runs_started, 1, "{r:?}");
    let runs = h.runs("we-miss-you").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].contact, "ann");
    assert_eq!(trigger_props(&runs[0])["segment"], "inactive-30");
    // The run stepped in the same transaction: the tag is on the contact.
    h.scheduler.run_due().await.unwrap();
    let ann = store::get_contact(h.scheduler.store().reader(), "ann").await.unwrap().unwrap();
    assert!(ann.contact.tags.contains("entered-we-miss-you"), "{:?}", ann.contact.tags);

    // A second pass does not enter her again; a session takes her out (recorded as an exit).
    h.clock.advance(TimeDelta::hours(1));
    let r = h.scheduler.audience_tick().await.unwrap();
    assert_eq!(r.runs_started, 0);
    h.track("ann", "session_started", json!({})).await;
    let r = h.scheduler.run_audience().await.unwrap();
    assert_eq!(r.segment_changes, 1);
    assert!(h.members("inactive-30").await.is_empty());
    let changes = store::segment_changes(
        h.scheduler.store().reader(),
        "inactive-30",
        at("2026-01-01T00:00:00Z"),
        h.now() + TimeDelta::seconds(1),
    )
    .await
    .unwrap();
    assert_eq!(changes.iter().map(|c| c.1).collect::<Vec<_>>(), [true, false]);
    assert_eq!(changes[0].0, at("2026-04-02T10:00:00Z"));
}

#[tokio::test]
async fn stage_rules_record_every_change_and_trigger_stage_journeys() {
    let h = harness("2026-03-02T10:00:00Z").await;
    h.save_settings(json!({"stage_rules": [
        {"to": "customer", "event": "purchase", "from": [null, "subscriber", "lead"]},
        {"to": "reactivated", "event": "purchase", "from": ["lapsed", "inactive"]},
        {"to": "lapsed", "from": ["customer", "repeat_customer", "reactivated"],
         "condition": {"performed": "purchase", "measure": "last_at", "op": "more_than_ago", "right": "60d"}}]}))
        .await;
    publish_journey(
        &h.scheduler,
        tagging_journey(
            "welcome-back",
            json!({"type": "stage_changed", "from": ["lapsed"], "to": ["reactivated"], "next": "tag"}),
        ),
        h.now(),
    )
    .await;
    h.identify("cat", json!({"email": "cat@example.com", "lifecycle_stage": "lead"})).await;
    h.scheduler.run_audience().await.unwrap();
    h.track("cat", "purchase", json!({"amount": 40})).await;
    h.scheduler.run_audience().await.unwrap();
    assert_eq!(h.attribute("cat", "lifecycle_stage").await, Some(json!("customer")));
    // 61 days without a purchase: lapsed, found by the periodic pass.
    h.clock.advance(TimeDelta::days(61));
    h.scheduler.audience_tick().await.unwrap();
    assert_eq!(h.attribute("cat", "lifecycle_stage").await, Some(json!("lapsed")));
    assert!(h.runs("welcome-back").await.is_empty());
    // A purchase while lapsed: reactivated, and the journey starts.
    h.track("cat", "purchase", json!({"amount": 25})).await;
    let r = h.scheduler.run_audience().await.unwrap();
    assert_eq!(r.runs_started, 1, "{r:?}");
    let runs = h.runs("welcome-back").await;
    assert_eq!(trigger_props(&runs[0])["from"], "lapsed");
    assert_eq!(trigger_props(&runs[0])["to"], "reactivated");
    let history = store::stage_changes_of(h.scheduler.store().reader(), "cat").await.unwrap();
    let steps: Vec<(Option<&str>, &str)> = history.iter().map(|c| (c.from.as_deref(), c.to.as_str())).collect();
    assert_eq!(
        steps,
        [(None, "lead"), (Some("lead"), "customer"), (Some("customer"), "lapsed"), (Some("lapsed"), "reactivated")]
    );
    assert_eq!(history[0].cause, "identify");
    assert!(history[1].cause.contains("stage rule 0"), "{}", history[1].cause);
    assert!(history[2].cause.contains("stage rule 2"), "{}", history[2].cause);
    assert_eq!(history[2].at, at("2026-05-02T10:00:00Z"));
}

#[tokio::test]
async fn a_lead_score_decays_and_crossing_50_notifies_sales_once() {
    let h = harness("2026-03-02T10:00:00Z").await;
    h.save_settings(json!({"scoring": {"rules": [
        {"points": 20, "event": "demo_requested"},
        {"points": 10, "event": "page_viewed", "where": {"left": "event.properties.path", "op": "starts_with", "right": "/pricing"}}],
        "decay": {"every": "30d", "percent": 50}}}))
    .await;
    publish_journey(
        &h.scheduler,
        tagging_journey(
            "notify-sales",
            json!({"type": "attribute_changed", "attribute": "lead_score",
        "from": {"op": "lt", "right": 50}, "to": {"op": "gte", "right": 50}, "next": "tag"}),
        ),
        h.now(),
    )
    .await;
    h.identify("dan", json!({"email": "dan@example.com"})).await;
    h.track("dan", "demo_requested", json!({})).await;
    h.track("dan", "page_viewed", json!({"path": "/pricing"})).await;
    h.track("dan", "page_viewed", json!({"path": "/blog"})).await;
    h.scheduler.run_audience().await.unwrap();
    assert_eq!(h.attribute("dan", "lead_score").await, Some(json!(30.0)));
    // 31 days later the points are worth half: 15.
    h.clock.advance(TimeDelta::days(31));
    h.scheduler.audience_tick().await.unwrap();
    assert_eq!(h.attribute("dan", "lead_score").await, Some(json!(15.0)));
    assert!(h.runs("notify-sales").await.is_empty());
    // Two demo requests: 15 + 40 = 55 crosses 50: sales are notified, once.
    h.track("dan", "demo_requested", json!({})).await;
    h.track("dan", "demo_requested", json!({})).await;
    h.scheduler.run_audience().await.unwrap();
    assert_eq!(h.attribute("dan", "lead_score").await, Some(json!(55.0)));
    let runs = h.runs("notify-sales").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(trigger_props(&runs[0])["from"], json!(15.0));
    assert_eq!(trigger_props(&runs[0])["to"], json!(55.0));
    // Another view keeps it above 50: no second notification.
    h.track("dan", "page_viewed", json!({"path": "/pricing/team"})).await;
    h.scheduler.run_audience().await.unwrap();
    assert_eq!(h.attribute("dan", "lead_score").await, Some(json!(65.0)));
    assert_eq!(h.runs("notify-sales").await.len(), 1);
}

#[tokio::test]
async fn a_weekly_schedule_fires_once_per_tick_across_dst_and_two_workers() {
    weekly_schedule(harness("2026-03-22T12:00:00Z").await).await;
}

#[tokio::test]
async fn a_weekly_schedule_fires_once_per_tick_across_two_workers_on_postgres() {
    let Some(pg) = support::TempPostgres::create().await else { return };
    let url = pg.url.clone();
    let result = tokio::spawn(async move {
        weekly_schedule(harness_on("2026-03-22T12:00:00Z", url, tempfile::tempdir().unwrap()).await).await;
    })
    .await;
    pg.drop_now().await;
    result.unwrap();
}

/// Sunday 2026-03-22, Berlin; clocks go forward on 2026-03-29.
async fn weekly_schedule(h: Harness) {
    let second = worker(&h.url, &h.clock).await;
    h.save_segment(json!({"id": "engaged", "name": "Engaged", "condition": {"left": "contact.tags", "op": "contains", "right": "engaged"}})).await;
    publish_journey(
        &h.scheduler,
        tagging_journey(
            "digest",
            json!({"type": "schedule", "cron": "0 9 * * MON",
        "timezone": "Europe/Berlin", "segment": "engaged", "next": "tag"}),
        ),
        h.now(),
    )
    .await;
    second.reload_live().await.unwrap();
    for id in ["a", "b", "c"] {
        let traits: Map<String, Value> = Map::new();
        h.scheduler.ingest_items(vec![IngestItem::Identify { contact_id: id.into(), traits }]).await.unwrap();
    }
    // Tags through the contacts API's store function (a PUT replaces the tags).
    for id in ["a", "b"] {
        let now = h.now();
        h.scheduler
            .store()
            .writer()
            .run(move |tx| {
                Box::pin(async move {
                    let tags = Some(["engaged".to_string()].into_iter().collect());
                    store::upsert_contact(tx, id, Map::new(), tags, store::Merge::Merge, "test", now).await
                })
            })
            .await
            .unwrap();
    }
    h.scheduler.run_audience().await.unwrap();
    assert_eq!(h.members("engaged").await, ["a", "b"]);

    // Monday 2026-03-23 09:00 Berlin is 08:00Z; both workers look at 08:00Z.
    h.clock.set(at("2026-03-23T07:59:00Z"));
    assert_eq!(h.scheduler.audience_tick().await.unwrap().runs_started, 0);
    h.clock.set(at("2026-03-23T08:00:00Z"));
    let (one, two) = tokio::join!(h.scheduler.audience_tick(), second.audience_tick());
    assert_eq!(one.unwrap().runs_started + two.unwrap().runs_started, 2);
    assert_eq!(h.runs("digest").await.len(), 2);
    // The next Monday is summer time: 09:00 Berlin is 07:00Z.
    h.clock.set(at("2026-03-30T06:59:00Z"));
    assert_eq!(second.audience_tick().await.unwrap().runs_started, 0);
    h.clock.set(at("2026-03-30T07:00:00Z"));
    let (one, two) = tokio::join!(second.audience_tick(), h.scheduler.audience_tick());
    assert_eq!(one.unwrap().runs_started + two.unwrap().runs_started, 2);
    let runs = h.runs("digest").await;
    assert_eq!(runs.len(), 4);
    let mut ticks: Vec<String> = runs.iter().map(|r| trigger_props(r)["tick"].as_str().unwrap().to_string()).collect();
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks, ["2026-03-23T08:00:00+00:00", "2026-03-30T07:00:00+00:00"]);
    let recorded = store::ticks_of(h.scheduler.store().reader(), "digest", 10).await.unwrap();
    assert_eq!(recorded, [(at("2026-03-30T07:00:00Z"), 2), (at("2026-03-23T08:00:00Z"), 2)]);
}

#[tokio::test]
async fn a_birthday_fires_at_nine_in_the_contacts_time_zone_once_a_year() {
    let h = harness("2026-05-11T12:00:00Z").await;
    publish_journey(
        &h.scheduler,
        tagging_journey(
            "birthday",
            json!({"type": "date_property", "attribute": "birthday",
        "offset_days": 0, "at": "09:00", "repeat": "yearly", "next": "tag"}),
        ),
        h.now(),
    )
    .await;
    h.identify("eve", json!({"birthday": "1990-05-12", "timezone": "America/Los_Angeles"})).await;
    h.identify("fay", json!({"birthday": "1985-05-12", "timezone": "Asia/Tokyo"})).await;
    h.identify("gus", json!({"birthday": "not a date"})).await;
    // 09:00 on 12 May in Tokyo is 00:00Z; in Los Angeles 16:00Z.
    h.clock.set(at("2026-05-12T00:00:00Z"));
    h.scheduler.audience_tick().await.unwrap();
    let runs = h.runs("birthday").await;
    assert_eq!(runs.iter().map(|r| r.contact.as_str()).collect::<Vec<_>>(), ["fay"]);
    h.clock.set(at("2026-05-12T15:59:00Z"));
    h.scheduler.audience_tick().await.unwrap();
    assert_eq!(h.runs("birthday").await.len(), 1);
    h.clock.set(at("2026-05-12T16:00:00Z"));
    h.scheduler.audience_tick().await.unwrap();
    let runs = h.runs("birthday").await;
    assert_eq!(runs.len(), 2);
    let eve = runs.iter().find(|r| r.contact == "eve").unwrap();
    assert_eq!(trigger_props(eve)["date"], "2026-05-12");
    // Ticks later the same day change nothing; a year later it fires again.
    h.clock.set(at("2026-05-13T12:00:00Z"));
    h.scheduler.audience_tick().await.unwrap();
    assert_eq!(h.runs("birthday").await.len(), 2);
    h.clock.set(at("2027-05-12T16:00:00Z"));
    h.scheduler.audience_tick().await.unwrap();
    assert_eq!(h.runs("birthday").await.len(), 4);
}

#[tokio::test]
async fn rfm_quintiles_become_attributes_and_the_best_customers_enter_the_vip_segment() {
    let h = harness("2026-03-02T10:00:00Z").await;
    h.save_settings(json!({"rfm": {"event": "purchase", "amount_property": "order.total"}})).await;
    h.save_segment(json!({"id": "vip", "name": "VIP", "condition": {"all": [
        {"left": "contact.rfm.recency", "op": "gte", "right": 4},
        {"left": "contact.rfm.frequency", "op": "gte", "right": 4},
        {"left": "contact.rfm.monetary", "op": "gte", "right": 4}]}}))
        .await;
    publish_journey(
        &h.scheduler,
        tagging_journey("vip-welcome", json!({"type": "segment_entered", "segment": "vip", "next": "tag"})),
        h.now(),
    )
    .await;
    // Ten customers: p<i> buys on days 0..=i (i+1 purchases, the latest on day i), 10·(i+1)
    // each time; so p9 is the most recent, most frequent and biggest spender.
    for i in 0..10i64 {
        h.identify(&format!("p{i}"), json!({"email": format!("p{i}@example.com")})).await;
    }
    for day in 0..10i64 {
        for i in day..10i64 {
            h.track(&format!("p{i}"), "purchase", json!({"order": {"total": 10 * (i + 1)}})).await;
        }
        h.clock.advance(TimeDelta::days(1));
    }
    h.scheduler.audience_tick().await.unwrap();
    // p9 ranks top in all three; p0 bottom in all three.
    assert_eq!(
        h.attribute("p9", "rfm").await,
        Some(json!({"recency": 5, "frequency": 5, "monetary": 5, "score": "555"}))
    );
    assert_eq!(
        h.attribute("p0", "rfm").await,
        Some(json!({"recency": 1, "frequency": 1, "monetary": 1, "score": "111"}))
    );
    // Quintiles of ten: p8 and p9 are 5s, p6 and p7 are 4s.
    assert_eq!(h.members("vip").await, ["p6", "p7", "p8", "p9"]);
    let runs = h.runs("vip-welcome").await;
    let mut entered: Vec<&str> = runs.iter().map(|r| r.contact.as_str()).collect();
    entered.sort();
    assert_eq!(entered, ["p6", "p7", "p8", "p9"]);
    // Another pass with nothing new changes nothing.
    let r = h.scheduler.audience_tick().await.unwrap();
    assert_eq!((r.segment_changes, r.runs_started), (0, 0));
}

#[tokio::test]
async fn one_worker_leads_the_periodic_pass_and_another_takes_over_when_it_dies() {
    let Some(pg) = support::TempPostgres::create().await else { return };
    let url = pg.url.clone();
    let result = tokio::spawn(async move {
        let (a, b) = (Store::connect(&url).await.unwrap(), Store::connect(&url).await.unwrap());
        let (mut first, mut second) = (a.leadership(), b.leadership());
        assert!(first.hold().await, "the first to ask leads");
        assert!(!second.hold().await, "one leader at a time");
        assert!(first.hold().await, "the leader keeps leading");
        // The leader dies: its connection closes, and the next to ask takes over.
        first.release().await;
        assert!(second.hold().await);
        assert!(!first.hold().await);
        second.release().await;
    })
    .await;
    pg.drop_now().await;
    result.unwrap();
}

#[tokio::test]
async fn on_sqlite_every_process_leads() {
    let h = harness("2026-03-02T10:00:00Z").await;
    assert!(h.scheduler.store().leadership().hold().await);
}
