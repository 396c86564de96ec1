//! The audience side of the scheduler: it keeps scores, lifecycle stages and segment
//! memberships up to date, records every change, and starts the journeys those changes
//! trigger (`segment_entered` / `segment_exited`, `attribute_changed`, `stage_changed`),
//! plus the time-driven triggers (`schedule`, `date_property`).
//!
//! - **Incrementally** ([`Scheduler::run_audience`]): every contact change and event is
//!   queued in the transaction that made it (`audience_queue`); a batch of the queue is
//!   processed in one transaction that writes the new score, stage and memberships, the
//!   stage and segment history, the runs it starts, and removes the batch from the queue.
//!   A crash before the commit leaves the batch queued; nothing is half done.
//! - **On a schedule** ([`Scheduler::audience_tick`]): conditions that depend on time
//!   ("no login for 30 days", score decay, "lapsed after 60 days") are evaluated again for
//!   every contact, page by page; RFM quintiles are recomputed; due schedule ticks and
//!   date triggers fire.
//!
//! On PostgreSQL each of these transactions first takes one advisory lock, so the
//! audience work of several workers never overlaps, then locks the rows of the contacts
//! it reads (as ingestion and the run loop do), so a run it starts cannot miss an event.

use super::{LiveJourney, Scheduler};
use crate::audience::{self, STAGE_ATTRIBUTE, Segment};
use crate::contact::{Contact, Event};
use crate::history::Events;
use crate::nodes::trigger::Trigger;
use crate::store::{self, Arrival, Queued, StageChange};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Queue items processed per transaction.
const QUEUE_BATCH: u64 = 500;
/// Contacts re-evaluated per transaction by the periodic pass.
const PAGE: u64 = 500;
/// The most past ticks of one schedule fired after downtime (the latest ones).
const MAX_CATCH_UP: usize = 1;

/// What the audience pass did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AudienceReport {
    /// Queue items or contacts processed.
    pub processed: usize,
    /// Segment entries and exits recorded.
    pub segment_changes: usize,
    /// Stage changes recorded.
    pub stage_changes: usize,
    /// Runs started.
    pub runs_started: usize,
}

impl AudienceReport {
    fn add(&mut self, other: &AudienceReport) {
        self.processed += other.processed;
        self.segment_changes += other.segment_changes;
        self.stage_changes += other.stage_changes;
        self.runs_started += other.runs_started;
    }
}

/// What happened to one contact that triggers may react to.
#[derive(Default)]
struct Changes {
    attributes: Vec<(String, Value, Value)>,
    stages: Vec<StageChange>,
    segments: Vec<(String, bool)>,
}

impl Scheduler {
    /// Process the audience queue until it is empty. Returns what was done.
    pub async fn run_audience(self: &Arc<Self>) -> Result<AudienceReport, store::Error> {
        let mut total = AudienceReport::default();
        loop {
            if store::queued(self.store.reader(), 1).await?.is_empty() {
                break;
            }
            let now = self.now();
            let this = self.clone();
            let live = self.live_journeys();
            let report = self
                .store
                .writer()
                .run(move |tx| {
                    Box::pin(async move {
                        store::audience_lock(tx).await?;
                        let items = store::queued(tx, QUEUE_BATCH).await?;
                        if items.is_empty() {
                            return Ok(AudienceReport::default());
                        }
                        let ids: Vec<i64> = items.iter().map(|q| q.id).collect();
                        let mut by_contact: BTreeMap<String, Vec<Queued>> = BTreeMap::new();
                        for q in items {
                            by_contact.entry(q.contact_id.clone()).or_default().push(q);
                        }
                        let mut report = this.process(tx, by_contact, &live, now).await?;
                        report.processed = ids.len();
                        store::dequeue(tx, &ids).await?;
                        Ok(report)
                    })
                })
                .await?;
            if report.processed == 0 {
                break;
            }
            total.add(&report);
        }
        if total.runs_started > 0 {
            self.nudge();
        }
        Ok(total)
    }

    /// Evaluate contacts again: score, stage rules, segments; record the changes and start
    /// the journeys they trigger. `arrivals` holds, per contact, what the queue says happened
    /// (empty for the periodic pass).
    async fn process(
        &self,
        tx: &DatabaseTransaction,
        arrivals: BTreeMap<String, Vec<Queued>>,
        live: &[LiveJourney],
        now: DateTime<Utc>,
    ) -> Result<AudienceReport, store::Error> {
        let settings = store::get_audience_settings(tx).await?;
        let segments: Vec<Segment> = store::list_segments(tx).await?.into_iter().map(|r| r.segment).collect();
        let ids: Vec<String> = arrivals.keys().cloned().collect();
        store::lock_contacts(tx, &ids).await?;
        let mut contacts = store::get_contacts(tx, &ids).await?;
        let mut names = settings.event_names();
        for s in &segments {
            names.extend(s.event_names());
        }
        let histories = store::histories(tx, &ids, &names).await?;
        let memberships = store::memberships(tx, &ids).await?;
        let empty_history = Events::default();
        let empty_set = BTreeSet::new();
        let mut report = AudienceReport::default();
        for (id, queued) in arrivals {
            let Some(contact) = contacts.get_mut(&id) else { continue };
            let history = histories.get(&id).unwrap_or(&empty_history);
            let mut changes = Changes::default();
            let mut events: Vec<Event> = Vec::new();
            for q in queued {
                match q.arrival {
                    Arrival::Changed { attributes, cause, .. } => {
                        for (name, (old, new)) in attributes {
                            if name == STAGE_ATTRIBUTE {
                                if let Some(to) = new.as_str() {
                                    changes.stages.push(StageChange {
                                        contact_id: id.clone(),
                                        from: old.as_str().map(str::to_owned),
                                        to: to.to_string(),
                                        at: now,
                                        cause: cause.clone(),
                                    });
                                }
                            } else {
                                changes.attributes.push((name, old, new));
                            }
                        }
                    }
                    Arrival::Event { event } => events.push(event),
                }
            }
            let mut dirty = false;
            if let (Some(score), Some(scoring)) = (settings.score(contact, history, now), &settings.scoring) {
                let new = json!(score);
                let old = contact.attributes.get(&scoring.attribute).cloned().unwrap_or(Value::Null);
                if !same_number(&old, &new) {
                    contact.attributes.insert(scoring.attribute.clone(), new.clone());
                    changes.attributes.push((scoring.attribute.clone(), old, new));
                    dirty = true;
                }
            }
            let arrived: Vec<&Event> = events.iter().collect();
            if let Some((to, rule)) = settings.next_stage(contact, history, &arrived, now) {
                let from = audience::stage_of(contact);
                contact.attributes.insert(STAGE_ATTRIBUTE.into(), Value::String(to.clone()));
                changes.stages.push(StageChange {
                    contact_id: id.clone(),
                    from,
                    to,
                    at: now,
                    cause: settings.stage_rules[rule].describe(rule),
                });
                dirty = true;
            }
            for s in &changes.stages {
                store::record_stage_change(tx, s).await?;
            }
            let member_of = memberships.get(&id).unwrap_or(&empty_set);
            for segment in &segments {
                let now_in = segment.contains(contact, history, now);
                if now_in != member_of.contains(&segment.id)
                    && store::set_member(tx, &segment.id, &id, now_in, now).await?
                {
                    changes.segments.push((segment.id.clone(), now_in));
                }
            }
            if dirty {
                store::save_computed(tx, contact, now).await?;
            }
            report.segment_changes += changes.segments.len();
            report.stage_changes += changes.stages.len();
            report.runs_started += self.trigger(tx, live, contact, &changes, now).await?;
        }
        Ok(report)
    }

    /// Start the journeys `changes` trigger for `contact`.
    async fn trigger(
        &self,
        tx: &DatabaseTransaction,
        live: &[LiveJourney],
        contact: &Contact,
        changes: &Changes,
        now: DateTime<Utc>,
    ) -> Result<usize, store::Error> {
        let mut started = 0;
        for LiveJourney { version, journey, .. } in live {
            let trigger = &journey.workflow().trigger;
            let mut entries: Vec<Map<String, Value>> = Vec::new();
            match trigger {
                Trigger::AttributeChanged(t) => {
                    for (name, old, new) in &changes.attributes {
                        let (o, n) = (Some(old).filter(|v| !v.is_null()), Some(new).filter(|v| !v.is_null()));
                        if t.matches(name, o, n, now) {
                            entries.push(props(json!({"attribute": name, "from": old, "to": new})));
                        }
                    }
                }
                Trigger::StageChanged(t) => {
                    for s in &changes.stages {
                        if t.matches(s.from.as_deref(), &s.to) {
                            entries.push(props(json!({"from": s.from, "to": s.to, "cause": s.cause})));
                        }
                    }
                }
                Trigger::SegmentEntered(t) | Trigger::SegmentExited(t) => {
                    let entering = matches!(trigger, Trigger::SegmentEntered(_));
                    for (segment, entered) in &changes.segments {
                        if *segment == t.segment && *entered == entering {
                            entries.push(props(json!({"segment": segment})));
                        }
                    }
                }
                _ => {}
            }
            for properties in entries {
                let event = trigger.entry_event(properties, now);
                if self.enter(tx, journey, *version, contact, None, event, None, now).await?.is_some() {
                    started += 1;
                }
            }
        }
        Ok(started)
    }

    /// The periodic pass: RFM, every contact evaluated again (time-relative segments, stage
    /// rules and score decay), due schedule ticks and date triggers. Returns what was done.
    pub async fn audience_tick(self: &Arc<Self>) -> Result<AudienceReport, store::Error> {
        // What the queue holds is older than this pass: process it first.
        let mut report = self.run_audience().await?;
        let settings = store::get_audience_settings(self.store.reader()).await?;
        if let Some(rfm) = &settings.rfm {
            self.update_rfm(rfm).await?;
            report.add(&self.run_audience().await?);
        }
        let segments = store::list_segments(self.store.reader()).await?;
        let timed = segments.iter().any(|s| crate::history::is_time_relative(&s.segment.condition))
            || settings.has_time_rules()
            || settings.scoring.as_ref().is_some_and(|s| s.decay.is_some());
        if timed {
            report.add(&self.reevaluate_all().await?);
        }
        report.add(&self.fire_schedules().await?);
        report.add(&self.fire_dates().await?);
        if report.runs_started > 0 {
            self.nudge();
        }
        Ok(report)
    }

    /// Evaluate every contact again, page by page, each page in its own transaction.
    pub async fn reevaluate_all(self: &Arc<Self>) -> Result<AudienceReport, store::Error> {
        let mut report = AudienceReport::default();
        let mut after: Option<String> = None;
        loop {
            let page = store::contact_ids_after(self.store.reader(), after.as_deref(), PAGE).await?;
            let Some(last) = page.last().cloned() else { break };
            let now = self.now();
            let live = self.live_journeys();
            let this = self.clone();
            let r = self
                .store
                .writer()
                .run(move |tx| {
                    Box::pin(async move {
                        store::audience_lock(tx).await?;
                        let arrivals = page.into_iter().map(|id| (id, Vec::new())).collect();
                        let mut r = this.process(tx, arrivals, &live, now).await?;
                        r.processed = 0;
                        Ok(r)
                    })
                })
                .await?;
            report.add(&r);
            after = Some(last);
        }
        Ok(report)
    }

    /// Recompute every contact's RFM quintiles; changed values are saved (and queued, so
    /// segments and triggers see them).
    async fn update_rfm(self: &Arc<Self>, rfm: &audience::Rfm) -> Result<(), store::Error> {
        let figures = store::purchase_figures(self.store.reader(), &rfm.event, &rfm.amount_property).await?;
        let scores = audience::rfm_scores(&figures);
        let ids: Vec<String> = scores.keys().cloned().collect();
        for chunk in ids.chunks(PAGE as usize) {
            let chunk = chunk.to_vec();
            let scores: HashMap<String, Value> = chunk.iter().map(|id| (id.clone(), scores[id].clone())).collect();
            let now = self.now();
            self.store
                .writer()
                .run(move |tx| {
                    Box::pin(async move {
                        let contacts = store::get_contacts(tx, &chunk).await?;
                        for (id, score) in scores {
                            let Some(c) = contacts.get(&id) else { continue };
                            if c.attributes.get(audience::RFM_ATTRIBUTE) == Some(&score) {
                                continue;
                            }
                            let mut attrs = Map::new();
                            attrs.insert(audience::RFM_ATTRIBUTE.into(), score);
                            store::upsert_contact(tx, &id, attrs, None, store::Merge::Merge, "RFM", now).await?;
                        }
                        Ok(())
                    })
                })
                .await?;
        }
        Ok(())
    }

    /// Fire the due ticks of every live `schedule` journey: each tick once, whichever worker,
    /// entering every member of its segment (a tick cut short by a crash is finished later).
    async fn fire_schedules(self: &Arc<Self>) -> Result<AudienceReport, store::Error> {
        let mut report = AudienceReport::default();
        for l in self.live_journeys() {
            let Trigger::Schedule(t) = &l.journey.workflow().trigger else { continue };
            let id = l.journey.id().to_string();
            let now = self.now();
            let reader = self.store.reader();
            let mut ticks = store::unfinished_ticks(reader, &id).await?;
            let after = store::last_tick(reader, &id).await?.unwrap_or(l.since).max(l.since);
            let due = t.ticks(after, now, 10_000);
            ticks.extend(due.iter().rev().take(MAX_CATCH_UP).rev());
            for tick in ticks {
                // Recorded as started (runs -1) unless it is already; ours to fire while unfinished.
                let claimed = {
                    let id = id.clone();
                    self.store
                        .writer()
                        .run(move |tx| {
                            Box::pin(async move {
                                store::audience_lock(tx).await?;
                                store::claim_tick(tx, &id, tick, -1, now).await?;
                                Ok(store::unfinished_ticks(tx, &id).await?.contains(&tick))
                            })
                        })
                        .await?
                };
                if !claimed {
                    continue;
                }
                let members = store::segment_member_ids(reader, &t.segment).await?;
                let mut entered = 0i64;
                for chunk in members.chunks(PAGE as usize) {
                    let props = props(json!({"tick": tick.to_rfc3339(), "segment": t.segment}));
                    let entries = chunk
                        .iter()
                        .map(|cid| {
                            let key = format!("{}{cid}", schedule_key_prefix(&id, tick));
                            (cid.clone(), key, l.journey.workflow().trigger.entry_event(props.clone(), tick))
                        })
                        .collect();
                    entered += self.enter_keyed(&l, entries, now).await? as i64;
                }
                report.runs_started += entered as usize;
                let key_id = id.clone();
                let total = self
                    .store
                    .writer()
                    .run(move |tx| {
                        Box::pin(async move {
                            // Counted from the runs, so a tick resumed after a crash counts both attempts.
                            let count = store::runs_with_key_prefix(tx, &schedule_key_prefix(&key_id, tick)).await?;
                            store::finish_tick(tx, &key_id, tick, count as i64).await?;
                            Ok(count)
                        })
                    })
                    .await?;
                tracing::info!(workflow = %id, tick = %tick, entered, total, "Schedule tick fired");
            }
        }
        Ok(report)
    }

    /// Enter contacts into `l`, each with its start key (an entry whose key started a run
    /// before is not entered again) and trigger event; one transaction. Returns how many entered.
    async fn enter_keyed(
        self: &Arc<Self>,
        l: &LiveJourney,
        entries: Vec<(String, String, Event)>,
        now: DateTime<Utc>,
    ) -> Result<usize, store::Error> {
        let (this, journey, version) = (self.clone(), l.journey.clone(), l.version);
        self.store
            .writer()
            .run(move |tx| {
                Box::pin(async move {
                    store::audience_lock(tx).await?;
                    let ids: Vec<String> = entries.iter().map(|e| e.0.clone()).collect();
                    store::lock_contacts(tx, &ids).await?;
                    let contacts = store::get_contacts(tx, &ids).await?;
                    let mut n = 0;
                    for (cid, key, event) in entries {
                        let Some(contact) = contacts.get(&cid) else { continue };
                        if this.enter(tx, &journey, version, contact, None, event, Some(key), now).await?.is_some() {
                            n += 1;
                        }
                    }
                    Ok(n)
                })
            })
            .await
    }

    /// Enter contacts whose date trigger came due since the last check (each occurrence
    /// once: the run's start key names it).
    async fn fire_dates(self: &Arc<Self>) -> Result<AudienceReport, store::Error> {
        let mut report = AudienceReport::default();
        for l in self.live_journeys() {
            let Trigger::DateProperty(t) = &l.journey.workflow().trigger else { continue };
            let id = l.journey.id().to_string();
            let now = self.now();
            let after = store::last_tick(self.store.reader(), &id).await?.unwrap_or(l.since).max(l.since);
            if after >= now {
                continue;
            }
            let tz = crate::time::parse_timezone(&l.journey.workflow().settings.timezone).unwrap_or(chrono_tz::UTC);
            let mut page_after: Option<String> = None;
            loop {
                let page = store::contact_ids_after(self.store.reader(), page_after.as_deref(), PAGE).await?;
                let Some(last) = page.last().cloned() else { break };
                let contacts = store::get_contacts(self.store.reader(), &page).await?;
                let mut entries = Vec::new();
                for cid in &page {
                    let Some(contact) = contacts.get(cid) else { continue };
                    for (date, fire) in t.due(contact, tz, after, now) {
                        let props =
                            props(json!({"attribute": t.attribute, "date": date.to_string(), "at": fire.to_rfc3339()}));
                        let event = l.journey.workflow().trigger.entry_event(props, fire);
                        entries.push((cid.clone(), format!("date:{id}:{cid}:{date}"), event));
                    }
                }
                let n = if entries.is_empty() { 0 } else { self.enter_keyed(&l, entries, now).await? };
                report.runs_started += n;
                page_after = Some(last);
            }
            self.store
                .writer()
                .run(move |tx| {
                    Box::pin(async move {
                        store::claim_tick(tx, &id, now, 0, now).await?;
                        store::prune_ticks(tx, &id, now).await
                    })
                })
                .await?;
        }
        Ok(report)
    }

    /// How many contacts a segment condition holds for now, and the first `sample` of them
    /// by id (read from the read pool, page by page; nothing is written).
    pub async fn preview_segment(
        &self,
        condition: &crate::condition::Condition,
        sample: usize,
    ) -> Result<(u64, Vec<String>), store::Error> {
        let names = crate::history::event_names(condition);
        let segment = Segment {
            id: "preview".into(),
            name: String::new(),
            description: String::new(),
            condition: condition.clone(),
        };
        let reader = self.store.reader();
        let now = self.now();
        let (mut count, mut ids, mut after) = (0u64, Vec::new(), None::<String>);
        let empty = Events::default();
        loop {
            let page = store::contact_ids_after(reader, after.as_deref(), PAGE).await?;
            let Some(last) = page.last().cloned() else { break };
            let contacts = store::get_contacts(reader, &page).await?;
            let histories = store::histories(reader, &page, &names).await?;
            for id in &page {
                let Some(c) = contacts.get(id) else { continue };
                if segment.contains(c, histories.get(id).unwrap_or(&empty), now) {
                    count += 1;
                    if ids.len() < sample {
                        ids.push(id.clone());
                    }
                }
            }
            after = Some(last);
        }
        Ok((count, ids))
    }

    /// The loop that runs the audience: the queue every `max_idle`, the periodic pass every
    /// [`super::Config::audience_every`]; until `shutdown` turns true.
    pub async fn audience_loop(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut next_tick = self.now();
        // The periodic pass runs on the leader only; every worker processes the queue.
        let mut leadership = self.store.leadership();
        while !*shutdown.borrow() {
            let due = self.now() >= next_tick;
            if due {
                next_tick = self.now() + self.config.audience_every;
            }
            let result =
                if due && leadership.hold().await { self.audience_tick().await } else { self.run_audience().await };
            match result {
                Ok(r) if r.runs_started + r.segment_changes + r.stage_changes > 0 => {
                    tracing::debug!(
                        processed = r.processed,
                        segment_changes = r.segment_changes,
                        stage_changes = r.stage_changes,
                        runs_started = r.runs_started,
                        "Audience updated"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "Updating the audience failed; retrying"),
            }
            let idle = TimeDelta::from_std(self.config.max_idle).unwrap_or(TimeDelta::seconds(1));
            let wait = (next_tick - self.now()).clamp(TimeDelta::zero(), idle);
            tokio::select! {
                _ = self.clock.sleep_until(self.now() + wait, self.config.max_idle) => {}
                _ = shutdown.changed() => {}
            }
        }
        leadership.release().await;
    }
}

/// The start key of a schedule tick's runs, without the contact id.
fn schedule_key_prefix(workflow: &str, tick: DateTime<Utc>) -> String {
    format!("schedule:{workflow}:{}:", tick.timestamp_millis())
}

fn props(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Scores compare as numbers (`50` and `50.0` are the same score).
fn same_number(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}
