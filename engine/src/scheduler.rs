//! The durable step-scheduler: it resumes each run after its delays, delivers events to
//! the runs waiting for them, starts runs for triggers, and hands sends to the outbox.
//!
//! - Due runs are **claimed** in batches by `wake_at` under a lease (the claim pushes
//!   `wake_at` forward, so a run whose worker dies becomes due again by itself), stepped
//!   with the pure [`crate::step::step`], and **committed** fenced by their revision: a
//!   stale commit writes nothing.
//! - Every transition commits in one transaction with its history, subscriptions, outbox
//!   rows and contact changes ([`crate::store::commit`]); the writer group-commits.
//! - An in-process signal wakes the loop when a commit writes an earlier `wake_at`;
//!   otherwise it sleeps until the next `wake_at` (at most [`Config::max_idle`]).

use crate::clock::Clock;
use crate::consent::Links;
use crate::contact::{Contact, Event};
use crate::delivery::limit::TokenBucket;
use crate::delivery::provider::Guarantee;
use crate::delivery::{Registry, Route, Router};
use crate::journey::Journey;
use crate::nodes::trigger::Trigger;
use crate::pressure::{Context, RecentSend, Rules};
use crate::run::{DeliveryResult, DeliveryStatus, Input, NewRun, Outcome, PriorRun, Refusal, Run, Wait, admit};
use crate::step::step_with;
use crate::store::{self, Committed, Store, StoredRun, Transition, VersionRecord};
use crate::store::{Channels, Lane};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{Notify, watch};

mod audience;
mod retention;
pub use audience::AudienceReport;
pub use retention::{Retention, SweepReport};

/// Most events ingested together (one commit for all).
const GROUP_MAX: usize = 500;
/// Longest a delivery lane waits before looking for due messages again.
const LANE_IDLE: TimeDelta = TimeDelta::seconds(1);
/// Claimed batches being stepped and committed at once by one process on PostgreSQL.
const PIPELINE_POSTGRES: usize = 3;

/// Tuning of the scheduler.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most runs claimed at once.
    pub batch: u64,
    /// How long a claimed run is reserved for its worker.
    pub lease: TimeDelta,
    /// Longest sleep between checks when nothing is due.
    pub max_idle: std::time::Duration,
    /// Delivery attempts before a message is given up.
    pub max_attempts: u32,
    /// Signs the links messages carry (`{{unsubscribe_url}}`): the server's public
    /// address and the workspace key. [`Links::offline`] by default.
    pub links: Links,
    /// How often the audience's periodic pass runs (time-relative segments and stage rules,
    /// score decay, RFM, schedule and date triggers).
    pub audience_every: TimeDelta,
    /// When ended runs move to the archive and when the archive forgets them.
    pub retention: Retention,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batch: 500,
            lease: TimeDelta::seconds(10),
            max_idle: std::time::Duration::from_millis(500),
            max_attempts: 8,
            links: Links::offline(),
            audience_every: TimeDelta::minutes(1),
            retention: Retention::default(),
        }
    }
}

/// Counters for `/metrics` and `kairos bench`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub transitions: AtomicU64,
    pub node_steps: AtomicU64,
    pub runs_started: AtomicU64,
    pub events_ingested: AtomicU64,
    pub messages_delivered: AtomicU64,
    pub stale_commits: AtomicU64,
    /// Events delivered at commit to runs that began listening for them while stepped
    /// (see `Scheduler::catch_up`).
    pub caught_up: AtomicU64,
    /// Resume lateness samples in milliseconds (capped).
    lateness: Mutex<Vec<u32>>,
}

const MAX_LATENESS_SAMPLES: usize = 2_000_000;

impl Metrics {
    fn record_lateness(&self, ms: i64) {
        if let Ok(mut v) = self.lateness.lock()
            && v.len() < MAX_LATENESS_SAMPLES
        {
            v.push(ms.clamp(0, i64::from(u32::MAX)) as u32);
        }
    }

    /// The `p`-th percentile (0–100) of resume lateness in ms, and how many samples.
    pub fn lateness_percentile(&self, p: f64) -> (Option<u32>, usize) {
        let (values, n) = self.lateness_percentiles(&[p]);
        (values[0], n)
    }

    /// Several percentiles of resume lateness (one sort of the samples), and how many samples.
    pub fn lateness_percentiles(&self, ps: &[f64]) -> (Vec<Option<u32>>, usize) {
        let sorted = match self.lateness.lock() {
            Ok(v) if !v.is_empty() => {
                let mut sorted = v.clone();
                drop(v);
                sorted.sort_unstable();
                sorted
            }
            _ => return (vec![None; ps.len()], 0),
        };
        let at = |p: f64| {
            let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
            Some(sorted[i.min(sorted.len() - 1)])
        };
        (ps.iter().map(|&p| at(p)).collect(), sorted.len())
    }

    pub fn reset_lateness(&self) {
        if let Ok(mut v) = self.lateness.lock() {
            v.clear();
        }
    }
}

/// An event from a contact, as ingested.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub contact_id: String,
    pub event: Event,
}

/// What an ingested event did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingested {
    /// The event's `message_id` was seen before: nothing was done again.
    pub duplicate: bool,
    /// Runs started (ids).
    pub started: Vec<String>,
    /// Runs the event was delivered to.
    pub delivered: usize,
}

/// One item of an ingestion call (Segment `identify` or `track`).
#[derive(Debug, Clone)]
pub enum IngestItem {
    /// Create or update a contact: the traits are merged into its attributes, and a
    /// `null` trait removes that attribute.
    Identify { contact_id: String, traits: Map<String, Value> },
    /// An event performed by a contact.
    Track(Incoming),
}

/// What one [`IngestItem`] did.
#[derive(Debug, Clone)]
pub enum IngestOutcome {
    /// The contact as stored after the identify, and whether it was created by it.
    Identified {
        contact: store::ContactRecord,
        created: bool,
    },
    Tracked(Ingested),
}

/// Why an API start did not start a run.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("workflow `{0}` is not live (it is {1}); publish or resume it first")]
    NotLive(String, &'static str),
    #[error("workflow `{id}` is started by the event `{event}`, not through the API; send that event instead")]
    NotApiTriggered { id: String, event: String },
    #[error("the contact may not enter again: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// The result of an API start.
#[derive(Debug, Clone)]
pub struct Started {
    pub run: Run,
    /// True when the idempotency key had started this run before.
    pub existing: bool,
}

/// The live version of a workflow, compiled.
#[derive(Clone)]
struct LiveJourney {
    version: u32,
    journey: Arc<Journey>,
    /// When this version was published (time-driven triggers fire from then on).
    since: DateTime<Utc>,
}

/// The scheduler, shared by the API and the background loops.
pub struct Scheduler {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Config,
    journeys: RwLock<HashMap<(String, u32), Arc<Journey>>>,
    /// The live version of each live workflow.
    live: RwLock<Vec<LiveJourney>>,
    wake: Notify,
    /// Bumped when messages may be due: every delivery lane watches it.
    outbox_wake: watch::Sender<u64>,
    pub metrics: Metrics,
    draining: AtomicBool,
    /// The workspace's delivery rules, compiled, with the version they were read at.
    delivery: RwLock<Option<(i64, Arc<Rules>)>>,
}

impl Scheduler {
    pub async fn new(store: Store, clock: Arc<dyn Clock>, config: Config) -> Result<Arc<Scheduler>, store::Error> {
        let s = Arc::new(Scheduler {
            store,
            clock,
            config,
            journeys: RwLock::new(HashMap::new()),
            live: RwLock::new(Vec::new()),
            wake: Notify::new(),
            outbox_wake: watch::channel(0).0,
            metrics: Metrics::default(),
            draining: AtomicBool::new(false),
            delivery: RwLock::new(None),
        });
        s.reload_live().await?;
        Ok(s)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The links messages carry, as this server signs them.
    pub fn links(&self) -> &Links {
        &self.config.links
    }

    /// Re-read which versions are live (after publish, pause, resume, archive).
    pub async fn reload_live(&self) -> Result<(), store::Error> {
        let versions = store::live_versions(self.store.reader()).await?;
        let mut live = Vec::with_capacity(versions.len());
        for v in versions {
            let (version, since) = (v.version, v.published_at);
            if let Some(journey) = self.compile(self.store.reader(), v).await? {
                live.push(LiveJourney { version, journey, since });
            }
        }
        if let Ok(mut l) = self.live.write() {
            *l = live;
        }
        Ok(())
    }

    /// A published version compiled with the template versions it pinned, from the cache
    /// or (the first time) built and cached.
    async fn compile<C: ConnectionTrait>(
        &self,
        db: &C,
        v: VersionRecord,
    ) -> Result<Option<Arc<Journey>>, store::Error> {
        let key = (v.workflow_id.clone(), v.version);
        if let Some(j) = self.journeys.read().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(Some(j));
        }
        let library = store::pinned_library(db, &v.workflow_id, v.version).await?;
        Ok(match crate::validate::validate_published(&v.definition, &library) {
            Ok(j) => {
                let j = Arc::new(j.with_links(self.config.links.clone()));
                if let Ok(mut cache) = self.journeys.write() {
                    cache.insert(key, j.clone());
                }
                Some(j)
            }
            Err(problems) => {
                let first = problems.first().map(ToString::to_string).unwrap_or_default();
                tracing::error!(workflow = %v.workflow_id, version = v.version, problems = problems.len(), first = %first, "Published version no longer validates; its runs cannot step");
                None
            }
        })
    }

    /// A published version, from the cache or the store.
    async fn journey<C: ConnectionTrait>(
        &self,
        db: &C,
        workflow: &str,
        version: u32,
    ) -> Result<Option<Arc<Journey>>, store::Error> {
        if let Some(j) = self.journeys.read().ok().and_then(|c| c.get(&(workflow.to_string(), version)).cloned()) {
            return Ok(Some(j));
        }
        match store::get_version(db, workflow, version).await? {
            Some(v) => self.compile(db, v).await,
            None => Ok(None),
        }
    }

    fn live_journeys(&self) -> Vec<LiveJourney> {
        self.live.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// The workspace's quiet hours and frequency caps as stored now. Read again for every
    /// batch (one row), compiled again only when their version changed: a change saved
    /// through any worker sharing the database applies to every worker's next batch.
    pub async fn delivery_rules<C: ConnectionTrait>(&self, db: &C) -> Result<Arc<Rules>, store::Error> {
        let record = store::get_delivery_settings(db).await?;
        if let Some((version, rules)) = self.delivery.read().ok().and_then(|d| d.clone())
            && version == record.version
        {
            return Ok(rules);
        }
        let rules = match record.settings.compile("") {
            Ok(rules) => Arc::new(rules),
            Err(problems) => {
                // Saving validates them, so only a hand-edited database gets here.
                tracing::error!(version = record.version, problems = problems.len(), first = %problems[0], "Stored delivery settings are not valid; sending without quiet hours and caps");
                Arc::new(Rules::NONE)
            }
        };
        if let Ok(mut d) = self.delivery.write() {
            *d = Some((record.version, rules.clone()));
        }
        Ok(rules)
    }

    /// The marketing messages of `contacts` that the caps of `rules` count, and a lock on
    /// those contacts until the transaction ends (PostgreSQL), so that no other worker
    /// sends to them meanwhile. Nothing is read without caps.
    async fn recent_sends<C: ConnectionTrait>(
        db: &C,
        rules: &Rules,
        contacts: &[String],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, Vec<RecentSend>>, store::Error> {
        let Some(lookback) = rules.lookback() else { return Ok(HashMap::new()) };
        store::lock_contacts(db, contacts).await?;
        store::recent_marketing_sends(db, contacts, now - lookback).await
    }

    /// Tell the loops that something may be due earlier than they think.
    pub fn nudge(&self) {
        self.wake.notify_one();
        self.outbox_wake.send_modify(|v| *v = v.wrapping_add(1));
    }

    // ----- Event ingestion -----

    /// Store events and act on them, all in one transaction: wake the runs waiting for
    /// them (and end those whose `exit_when` matches, record goals), and start runs for
    /// live journeys whose trigger matches. An event whose `message_id` was seen before is
    /// reported as a duplicate and does nothing.
    pub async fn ingest(self: &Arc<Self>, events: Vec<Incoming>) -> Result<Vec<Ingested>, store::Error> {
        let outcomes = self.ingest_items(events.into_iter().map(IngestItem::Track).collect()).await?;
        Ok(outcomes
            .into_iter()
            .filter_map(|o| match o {
                IngestOutcome::Tracked(i) => Some(i),
                IngestOutcome::Identified { .. } => None,
            })
            .collect())
    }

    /// Ingest identify and track items in order, all in one transaction (a Segment batch):
    /// an identify merges traits into the contact (creating it; `null` removes a trait),
    /// a track is handled as by [`Scheduler::ingest`] and sees the traits identified
    /// before it. One outcome per item, in the same order.
    pub async fn ingest_items(self: &Arc<Self>, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, store::Error> {
        let this = self.clone();
        let tracks = items.iter().filter(|i| matches!(i, IngestItem::Track(_))).count();
        let live = if tracks > 0 { self.live_journeys() } else { Vec::new() };
        let result = self
            .store
            .writer()
            .run(move |tx| {
                Box::pin(async move {
                    // These contacts' runs are read and written by this transaction alone (on
                    // PostgreSQL; SQLite has one writer), and the events are stamped with the
                    // time it runs: a run stepped since with an earlier `now` finds them (see
                    // `Scheduler::catch_up`), one stepped later sees them as before its wait.
                    let ids: Vec<String> = items
                        .iter()
                        .map(|i| match i {
                            IngestItem::Identify { contact_id, .. } => contact_id.clone(),
                            IngestItem::Track(t) => t.contact_id.clone(),
                        })
                        .collect();
                    store::lock_contacts(tx, &ids).await?;
                    let now = this.now();
                    let mut out = Vec::with_capacity(items.len());
                    let mut rest = items.as_slice();
                    let mut rules: Option<Arc<Rules>> = None;
                    while let Some(first) = rest.first() {
                        if let IngestItem::Identify { contact_id, traits } = first {
                            let (contact, created) = store::upsert_contact(
                                tx,
                                contact_id,
                                traits.clone(),
                                None,
                                store::Merge::Merge,
                                "identify",
                                now,
                            )
                            .await?;
                            out.push(IngestOutcome::Identified { contact, created });
                            rest = &rest[1..];
                            continue;
                        }
                        // The longest run of tracks by distinct contacts goes in together: runs
                        // and contacts belong to one contact, so they cannot affect each other.
                        let mut group: Vec<&Incoming> = Vec::new();
                        let mut contacts = std::collections::HashSet::new();
                        for item in rest.iter().take(GROUP_MAX) {
                            match item {
                                IngestItem::Track(i) if contacts.insert(i.contact_id.as_str()) => group.push(i),
                                _ => break,
                            }
                        }
                        rest = &rest[group.len()..];
                        let rules = match &rules {
                            Some(r) => r.clone(),
                            None => rules.insert(this.delivery_rules(tx).await?).clone(),
                        };
                        let reports = this.ingest_group(tx, &group, &live, &rules, now).await?;
                        out.extend(reports.into_iter().map(IngestOutcome::Tracked));
                    }
                    Ok(out)
                })
            })
            .await?;
        if tracks > 0 {
            self.metrics.events_ingested.fetch_add(tracks as u64, Ordering::Relaxed);
            self.nudge();
        }
        Ok(result)
    }

    /// Ingest events of distinct contacts together: store them, deliver them to the runs
    /// listening for them, start the journeys they trigger; one commit for all.
    async fn ingest_group(
        &self,
        tx: &DatabaseTransaction,
        group: &[&Incoming],
        live: &[LiveJourney],
        rules: &Rules,
        now: DateTime<Utc>,
    ) -> Result<Vec<Ingested>, store::Error> {
        let mut reports = vec![Ingested::default(); group.len()];
        let pairs: Vec<(&str, &Event)> = group.iter().map(|i| (i.contact_id.as_str(), &i.event)).collect();
        let fresh = store::insert_events(tx, &pairs, now).await?;
        let ids: Vec<String> =
            group.iter().zip(&fresh).filter(|(_, new)| **new).map(|(i, _)| i.contact_id.clone()).collect();
        if ids.is_empty() {
            for r in &mut reports {
                r.duplicate = true;
            }
            return Ok(reports);
        }
        let mut contacts = store::ensure_contacts(tx, &ids, now).await?;
        // Each contact's marketing sends, those of this group's steps added as they are made.
        let mut recent = Self::recent_sends(tx, rules, &ids, now).await?;
        let mut subscribed = store::subscribed_runs_many(tx, &ids).await?;
        // Earlier runs of the journeys these events may start (for re-entry).
        let names: std::collections::HashSet<&str> = group.iter().map(|i| i.event.name.as_str()).collect();
        let triggered: Vec<String> = live
            .iter()
            .filter(|l| matches!(&l.journey.workflow().trigger, Trigger::Event(t) if names.contains(t.event.as_str())))
            .map(|l| l.journey.id().to_string())
            .collect();
        let prior = store::prior_runs_many(tx, &ids, &triggered).await?;

        let mut transitions = Vec::new();
        // Per transition: the item it came of, and whether it starts a run.
        let mut owners: Vec<(usize, bool)> = Vec::new();
        // Runs stepped here: whether they are still active (re-entry must see that).
        let mut stepped: HashMap<String, bool> = HashMap::new();
        for (k, incoming) in group.iter().enumerate() {
            if !fresh[k] {
                reports[k].duplicate = true;
                continue;
            }
            let key = (incoming.contact_id.clone(), incoming.event.name.clone());
            let Some(contact) = contacts.get_mut(&incoming.contact_id) else { continue };
            let sent = recent.entry(incoming.contact_id.clone()).or_default();
            for stored in subscribed.remove(&key).unwrap_or_default() {
                let Some(journey) = self.journey(tx, &stored.run.journey, stored.run.version).await? else { continue };
                let ctx = Context { rules, recent: sent };
                let outcome = step_with(&journey, &stored.run, contact, Input::Event(&incoming.event), now, &ctx);
                if outcome.is_noop() {
                    continue;
                }
                sent.extend(outcome.marketing_sends(now));
                reports[k].delivered += 1;
                *contact = outcome.contact.clone();
                stepped.insert(stored.run.id.clone(), !outcome.run.status.is_ended());
                transitions.push(self.transition(&journey, Some(&stored), None, outcome));
                owners.push((k, false));
            }
            for LiveJourney { version, journey, .. } in live {
                let Ok(correlation) = journey.workflow().trigger.matches(&incoming.event, contact) else { continue };
                let rows = prior.get(&(contact.id.clone(), journey.id().to_string()));
                let rows = rows.map(Vec::as_slice).unwrap_or_default();
                let prior_runs = rows.iter().map(|r| PriorRun {
                    correlation: r.correlation.as_deref(),
                    active: stepped.get(&r.id).copied().unwrap_or(r.active),
                });
                if admit(&journey.workflow().settings, correlation.as_deref(), prior_runs).is_err() {
                    continue;
                }
                let entry = rows.len() as u32 + 1;
                let ctx = Context { rules, recent: sent };
                let (t, after) =
                    self.begin(journey, *version, contact, entry, correlation, incoming.event.clone(), None, now, &ctx);
                *contact = after;
                sent.extend(crate::run::marketing_sends(&t.effects, now));
                transitions.push(t);
                owners.push((k, true));
            }
        }
        let results = self.commit(tx, &transitions, now).await?;
        for (((k, new), result), t) in owners.into_iter().zip(results).zip(transitions) {
            if new && result == Committed::Ok {
                self.metrics.runs_started.fetch_add(1, Ordering::Relaxed);
                reports[k].started.push(t.run.id);
            }
        }
        Ok(reports)
    }

    /// A new run's first transition (entering and stepping it until it waits or ends), and
    /// the contact as that step leaves it.
    #[allow(clippy::too_many_arguments)]
    fn begin(
        &self,
        journey: &Journey,
        version: u32,
        contact: &Contact,
        entry: u32,
        correlation: Option<String>,
        trigger: Event,
        start_key: Option<String>,
        now: DateTime<Utc>,
        ctx: &Context<'_>,
    ) -> (Transition, Contact) {
        let new = NewRun {
            id: uuid::Uuid::now_v7().to_string(),
            version,
            contact: contact.id.clone(),
            entry,
            correlation,
            trigger,
        };
        let run = Run::new(journey.id(), new, now);
        let outcome = step_with(journey, &run, contact, Input::Start, now, ctx);
        let after = outcome.contact.clone();
        (self.transition(journey, None, start_key, outcome), after)
    }

    /// Admit and start a run; `None` when re-entry refuses it.
    #[allow(clippy::too_many_arguments)]
    async fn enter(
        &self,
        tx: &DatabaseTransaction,
        journey: &Journey,
        version: u32,
        contact: &Contact,
        correlation: Option<String>,
        trigger: Event,
        start_key: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<Run>, store::Error> {
        let prior = store::prior_runs(tx, &contact.id, journey.id()).await?;
        let prior_runs = prior.iter().map(|r| PriorRun { correlation: r.correlation.as_deref(), active: r.active });
        if admit(&journey.workflow().settings, correlation.as_deref(), prior_runs).is_err() {
            return Ok(None);
        }
        let rules = self.delivery_rules(tx).await?;
        let recent = Self::recent_sends(tx, &rules, std::slice::from_ref(&contact.id), now).await?;
        let ctx = Context { rules: &rules, recent: recent.get(&contact.id).map(Vec::as_slice).unwrap_or_default() };
        let entry = prior.len() as u32 + 1;
        let (t, _) = self.begin(journey, version, contact, entry, correlation, trigger, start_key, now, &ctx);
        let run = t.run.clone();
        let committed = self.commit(tx, std::slice::from_ref(&t), now).await?;
        if committed.first() != Some(&Committed::Ok) {
            return Ok(None);
        }
        self.metrics.runs_started.fetch_add(1, Ordering::Relaxed);
        Ok(Some(run))
    }

    fn transition(
        &self,
        journey: &Journey,
        prev: Option<&StoredRun>,
        start_key: Option<String>,
        o: Outcome,
    ) -> Transition {
        let workflow = journey.workflow();
        Transition {
            subscriptions: store::subscriptions_of(&o.run, workflow),
            prev_subscriptions: prev.map(|p| store::subscriptions_of(&p.run, workflow)),
            prev_rev: prev.map(|p| p.rev),
            run: o.run,
            start_key,
            history: o.history,
            effects: o.effects,
        }
    }

    async fn commit(
        &self,
        tx: &DatabaseTransaction,
        transitions: &[Transition],
        now: DateTime<Utc>,
    ) -> Result<Vec<Committed>, store::Error> {
        if transitions.is_empty() {
            return Ok(vec![]);
        }
        let results = store::commit(tx, transitions, now).await?;
        let mut ok = 0;
        let mut steps = 0;
        for (t, c) in transitions.iter().zip(&results) {
            if *c == Committed::Ok {
                ok += 1;
                steps +=
                    t.history.iter().filter(|e| matches!(e.what, crate::run::What::NodeEntered { .. })).count() as u64;
            }
        }
        self.metrics.transitions.fetch_add(ok, Ordering::Relaxed);
        self.metrics.node_steps.fetch_add(steps, Ordering::Relaxed);
        self.metrics.stale_commits.fetch_add(results.len() as u64 - ok, Ordering::Relaxed);
        Ok(results)
    }

    // ----- API starts -----

    /// Start a run of an `api`-triggered workflow for a contact, creating or updating the
    /// contact with `attributes`. With an idempotency key, a second call returns the run
    /// the first one started.
    pub async fn start_run(
        self: &Arc<Self>,
        workflow: &str,
        contact_id: &str,
        attributes: Map<String, Value>,
        data: Map<String, Value>,
        idempotency_key: Option<String>,
    ) -> Result<Started, StartError> {
        let start_key = idempotency_key.map(|k| format!("{workflow}:{k}"));
        // A retried request gets its run back, whatever happened to the workflow since.
        if let Some(k) = &start_key
            && let Some(existing) = store::run_by_start_key(self.store.reader(), k).await?
        {
            return Ok(Started { run: existing.run, existing: true });
        }
        let record = store::get_workflow(self.store.reader(), workflow)
            .await?
            .ok_or_else(|| StartError::NotFound(workflow.into()))?;
        let (Some(version), store::WorkflowStatus::Live) = (record.live_version, record.status) else {
            return Err(StartError::NotLive(workflow.into(), record.status.name()));
        };
        let journey = self
            .journey(self.store.reader(), workflow, version)
            .await?
            .ok_or_else(|| StartError::NotFound(workflow.into()))?;
        if let Trigger::Event(t) = &journey.workflow().trigger {
            return Err(StartError::NotApiTriggered { id: workflow.into(), event: t.event.clone() });
        }
        let now = self.now();
        let this = self.clone();
        let (contact_id, key) = (contact_id.to_string(), start_key.clone());
        let result = self
            .store
            .writer()
            .run(move |tx| {
                Box::pin(async move {
                    store::lock_contacts(tx, std::slice::from_ref(&contact_id)).await?;
                    if let Some(k) = &key
                        && let Some(existing) = store::run_by_start_key(tx, k).await?
                    {
                        return Ok(Ok(Started { run: existing.run, existing: true }));
                    }
                    // Refused entries change nothing, not even the contact.
                    let prior = store::prior_runs(tx, &contact_id, journey.id()).await?;
                    let refusal = admit(
                        &journey.workflow().settings,
                        None,
                        prior.iter().map(|r| PriorRun { correlation: r.correlation.as_deref(), active: r.active }),
                    );
                    if let Err(r) = refusal {
                        return Ok(Err(r));
                    }
                    let (contact, _) =
                        store::upsert_contact(tx, &contact_id, attributes, None, store::Merge::Merge, "API start", now)
                            .await?;
                    let trigger = Event { name: "api".into(), properties: data, timestamp: now, message_id: None };
                    let run = this.enter(tx, &journey, version, &contact.contact, None, trigger, key, now).await?;
                    Ok(run.map(|run| Started { run, existing: false }).ok_or(Refusal::StillActive))
                })
            })
            .await?;
        self.nudge();
        result.map_err(StartError::Refused)
    }

    /// Cancel a run. `Ok(None)` if there is no such run; the run otherwise (ended or not).
    pub async fn cancel_run(&self, id: &str) -> Result<Option<Run>, store::Error> {
        let now = self.now();
        let id = id.to_string();
        self.store
            .writer()
            .run(move |tx| {
                Box::pin(async move {
                    let Some(mut stored) = store::get_run(tx, &id).await? else { return Ok(None) };
                    store::cancel(tx, &mut stored, now).await?;
                    Ok(store::get_run(tx, &id).await?.map(|s| s.run))
                })
            })
            .await
    }

    // ----- The due-run loop -----

    /// Step every run due now, batch by batch. Returns how many transitions committed.
    ///
    /// Pipelined: the next batch is claimed while the last one is stepped and committed,
    /// so the writer always has the scheduler's next job waiting while runs are due.
    pub async fn run_due(self: &Arc<Self>) -> Result<usize, store::Error> {
        type Stepping = tokio::task::JoinHandle<Result<usize, store::Error>>;
        async fn finish(h: Stepping) -> Result<usize, store::Error> {
            h.await.map_err(|e| store::Error::Db(sea_orm::DbErr::Custom(e.to_string())))?
        }
        // Batches stepped and committed while the next is claimed: one on SQLite (one
        // writer), several on PostgreSQL, where each commits in a transaction of its own.
        let depth = match self.store.backend() {
            store::Backend::Postgres => PIPELINE_POSTGRES,
            _ => 1,
        };
        let mut total = 0;
        let mut in_flight: std::collections::VecDeque<Stepping> = std::collections::VecDeque::new();
        loop {
            let now = self.now();
            let (batch, lease) = (self.config.batch, self.config.lease);
            let claimed = self
                .store
                .writer()
                .run_urgent(move |tx| Box::pin(async move { store::claim_due(tx, now, lease, batch).await }));
            let claimed = match claimed.await {
                Ok(c) => c,
                Err(e) => {
                    self.store.writer().set_backlog(false);
                    for h in in_flight {
                        let _ = h.await;
                    }
                    return Err(e);
                }
            };
            while in_flight.len() >= depth
                && let Some(h) = in_flight.pop_front()
            {
                total += finish(h).await?;
            }
            let full = claimed.len() as u64 >= self.config.batch;
            if !claimed.is_empty() {
                let this = self.clone();
                in_flight.push_back(tokio::spawn(async move { this.step_claimed(claimed, now).await }));
            }
            if !full {
                self.store.writer().set_backlog(false);
                let mut first_error = None;
                for h in in_flight {
                    match finish(h).await {
                        Ok(n) => total += n,
                        Err(e) => first_error = first_error.or(Some(e)),
                    }
                }
                return first_error.map_or(Ok(total), Err);
            }
            self.store.writer().set_backlog(true);
        }
    }

    async fn step_claimed(
        self: &Arc<Self>,
        claimed: Vec<StoredRun>,
        now: DateTime<Utc>,
    ) -> Result<usize, store::Error> {
        let rules = self.delivery_rules(self.store.reader()).await?;
        let this = self.clone();
        let contacts: Vec<String> = claimed.iter().map(|s| s.run.contact.clone()).collect();
        let results = if rules.lookback().is_none() {
            // Stepped outside the write transaction, so the writer is busy only committing.
            let transitions = self.step_batch(self.store.reader(), claimed, &rules, now).await?;
            self.store
                .writer()
                .run_urgent(move |tx| {
                    Box::pin(async move {
                        store::lock_contacts(tx, &contacts).await?;
                        let results = this.commit(tx, &transitions, now).await?;
                        this.catch_up(tx, &transitions, &results, &rules, now).await?;
                        Ok(results)
                    })
                })
                .await?
        } else {
            // With caps, the recent sends are counted, the runs stepped and the sends
            // committed in one transaction: nothing else can send to these contacts meanwhile.
            self.store
                .writer()
                .run_urgent(move |tx| {
                    Box::pin(async move {
                        store::lock_contacts(tx, &contacts).await?;
                        let transitions = this.step_batch(tx, claimed, &rules, now).await?;
                        let results = this.commit(tx, &transitions, now).await?;
                        this.catch_up(tx, &transitions, &results, &rules, now).await?;
                        Ok(results)
                    })
                })
                .await?
        };
        self.outbox_wake.send_modify(|v| *v = v.wrapping_add(1));
        Ok(results.iter().filter(|c| **c == Committed::Ok).count())
    }

    /// Deliver the events a run missed because it was stepped with a `now` from before the
    /// transaction that commits the step (claimed earlier, stepped outside it): an event
    /// stored since that `now`, of a name the run did not listen for before the step but
    /// does after, found no subscription when it arrived. Delivered in order, in the same
    /// transaction, each as a transition of its own. Ingestion stamps events inside its
    /// transaction and locks the contacts first, so every event is delivered either there
    /// or here, never both.
    async fn catch_up(
        &self,
        tx: &DatabaseTransaction,
        transitions: &[Transition],
        results: &[Committed],
        rules: &Rules,
        now: DateTime<Utc>,
    ) -> Result<(), store::Error> {
        let mut listening: Vec<(&Transition, &std::collections::BTreeSet<String>)> = Vec::new();
        for (t, c) in transitions.iter().zip(results) {
            let Some(before) = &t.prev_subscriptions else { continue };
            if *c == Committed::Ok && !t.run.status.is_ended() && !t.subscriptions.is_subset(before) {
                listening.push((t, before));
            }
        }
        if listening.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = listening.iter().map(|(t, _)| t.run.contact.clone()).collect();
        let missed = store::events_received_since(tx, &ids, now).await?;
        if missed.is_empty() {
            return Ok(());
        }
        let mut contacts = store::get_contacts(tx, &ids).await?;
        let mut recent = Self::recent_sends(tx, rules, &ids, now).await?;
        for (t, before) in listening {
            let Some(events) = missed.get(&t.run.contact) else { continue };
            let Some(journey) = self.journey(tx, &t.run.journey, t.run.version).await? else { continue };
            let Some(mut stored) = store::get_run(tx, &t.run.id).await? else { continue };
            for event in events {
                // A name it listened for already heard the event when it arrived.
                if before.contains(&event.name)
                    || !store::subscriptions_of(&stored.run, journey.workflow()).contains(&event.name)
                {
                    continue;
                }
                let Some(contact) = contacts.get_mut(&t.run.contact) else { break };
                let sent = recent.entry(contact.id.clone()).or_default();
                let ctx = Context { rules, recent: sent };
                let outcome = step_with(&journey, &stored.run, contact, Input::Event(event), now, &ctx);
                if outcome.is_noop() {
                    continue;
                }
                sent.extend(outcome.marketing_sends(now));
                *contact = outcome.contact.clone();
                let next = self.transition(&journey, Some(&stored), None, outcome);
                if self.commit(tx, std::slice::from_ref(&next), now).await?.first() != Some(&Committed::Ok) {
                    break;
                }
                tracing::debug!(run = %stored.run.id, event = %event.name, "Delivered an event that arrived while the run was stepped");
                self.metrics.caught_up.fetch_add(1, Ordering::Relaxed);
                match store::get_run(tx, &t.run.id).await? {
                    Some(s) if !s.run.status.is_ended() => stored = s,
                    _ => break,
                }
            }
        }
        Ok(())
    }

    /// Step claimed runs with [`Input::Timer`]. Runs of one contact see each other's
    /// contact changes and marketing sends, in claim order: two runs of a contact in one
    /// batch cannot both slip under a frequency cap.
    async fn step_batch<C: ConnectionTrait>(
        &self,
        db: &C,
        claimed: Vec<StoredRun>,
        rules: &Rules,
        now: DateTime<Utc>,
    ) -> Result<Vec<Transition>, store::Error> {
        let ids: Vec<String> = claimed.iter().map(|s| s.run.contact.clone()).collect();
        let mut recent = Self::recent_sends(db, rules, &ids, now).await?;
        let mut contacts: HashMap<String, Contact> = store::get_contacts(db, &ids).await?;
        // Runs waiting for a message's outcome take it from the outbox.
        let awaited: Vec<String> = claimed
            .iter()
            .filter_map(|s| match &s.run.wait {
                Some(Wait::Delivery { key, .. }) => Some(key.clone()),
                _ => None,
            })
            .collect();
        let results = if awaited.is_empty() { HashMap::new() } else { store::delivery_results(db, &awaited).await? };
        let mut transitions = Vec::with_capacity(claimed.len());
        for stored in claimed {
            if let Some(wake) = stored.run.wake_at() {
                self.metrics.record_lateness((now - wake).num_milliseconds());
            }
            let Some(journey) = self.journey(db, &stored.run.journey, stored.run.version).await? else { continue };
            let contact =
                contacts.get(&stored.run.contact).cloned().unwrap_or_else(|| Contact::new(&stored.run.contact));
            let sent = recent.entry(contact.id.clone()).or_default();
            // Always commit, even a no-op: the claim moved `wake_at` to the lease's end.
            let missing;
            let input = match &stored.run.wait {
                Some(Wait::Delivery { key, .. }) => Input::Delivery(match results.get(key) {
                    Some(r) => r,
                    None => {
                        // Not in the outbox (it can only have been erased): not delivered.
                        missing = DeliveryResult {
                            key: key.clone(),
                            status: DeliveryStatus::Failed,
                            http_status: None,
                            response: None,
                        };
                        &missing
                    }
                }),
                _ => Input::Timer,
            };
            let outcome = step_with(&journey, &stored.run, &contact, input, now, &Context { rules, recent: sent });
            sent.extend(outcome.marketing_sends(now));
            contacts.insert(contact.id.clone(), outcome.contact.clone());
            transitions.push(self.transition(&journey, Some(&stored), None, outcome));
        }
        Ok(transitions)
    }

    /// The loop that resumes runs, until `shutdown` turns true.
    pub async fn run_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = std::time::Duration::from_millis(50);
        while !*shutdown.borrow() {
            match self.run_due().await {
                Ok(_) => backoff = std::time::Duration::from_millis(50),
                Err(e) => {
                    tracing::error!(error = %e, "Stepping due runs failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                    continue;
                }
            }
            let next = store::next_wake(self.store.reader()).await.ok().flatten();
            let deadline = next.unwrap_or_else(|| self.now() + TimeDelta::days(1));
            if deadline <= self.now() {
                continue;
            }
            tokio::select! {
                _ = self.clock.sleep_until(deadline, self.config.max_idle) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        self.draining.store(true, Ordering::Relaxed);
        tracing::info!("Scheduler stopped claiming runs");
    }

    // ----- The outbox -----

    /// Deliver every message due now through `channel`. Returns how many were delivered.
    pub async fn dispatch_due(&self, channel: &dyn Deliver) -> Result<usize, store::Error> {
        if channel.in_store() {
            return self.dispatch_in_store(Channels::All.into()).await;
        }
        self.dispatch_leased(channel, Channels::All.into(), None, Guarantee::AtLeastOnce).await
    }

    /// Deliver every message due now through the router: each provider's messages through
    /// it, the others to the built-in inbox, and messages naming a provider that is not
    /// configured given up. The lanes run side by side, so a slow provider does not hold
    /// up the others.
    pub async fn dispatch_routed(&self, router: &Router) -> Result<usize, store::Error> {
        let mut jobs: Vec<futures::future::BoxFuture<'_, Result<usize, store::Error>>> = Vec::new();
        for route in router.routes() {
            jobs.push(Box::pin(self.dispatch_route(route)));
        }
        jobs.push(Box::pin(self.dispatch_in_store(router.inbox_lane())));
        jobs.push(Box::pin(self.dispatch_orphans(router)));
        let mut delivered = 0;
        let mut failure = None;
        for result in futures::future::join_all(jobs).await {
            match result {
                Ok(n) => delivered += n,
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(delivered),
        }
    }

    async fn dispatch_route(&self, route: &Route) -> Result<usize, store::Error> {
        if route.deliverer.in_store() {
            self.dispatch_in_store(route.lane()).await
        } else {
            let limit = route.limiter.as_deref().zip(route.provider.as_deref());
            self.dispatch_leased(route.deliverer.as_ref(), route.lane(), limit, route.guarantee).await
        }
    }

    /// Delivery by a channel outside the store: lease a batch (no more than the rate limit
    /// allows), deliver it, record the outcomes (sent, retry later, failed, unknown), until
    /// nothing is due or the rate limit is reached.
    async fn dispatch_leased(
        &self,
        channel: &dyn Deliver,
        lane: Lane,
        limit: Option<(&TokenBucket, &str)>,
        guarantee: Guarantee,
    ) -> Result<usize, store::Error> {
        let batch = channel.batch().max(1);
        let at_most_once = guarantee == Guarantee::AtMostOnce;
        let mut delivered = 0;
        loop {
            let now = self.now();
            let lease = self.config.lease + channel.batch_time();
            let lane = lane.clone();
            // A provider's limit holds for all workers together: its bucket is a row,
            // charged in the leasing transaction (a limit exists only on a provider's route).
            let claimed = match limit {
                Some((bucket, provider)) => {
                    let (rate, provider) = (bucket.limit(), provider.to_string());
                    let (claimed, tokens, at) = self
                        .store
                        .writer()
                        .run(move |tx| {
                            Box::pin(async move {
                                store::claim_outbox_limited(tx, &provider, rate, now, lease, batch, lane).await
                            })
                        })
                        .await?;
                    bucket.sync(tokens, at);
                    claimed
                }
                None => {
                    self.store
                        .writer()
                        .run(move |tx| {
                            Box::pin(async move { store::claim_outbox_of(tx, now, lease, batch, lane).await })
                        })
                        .await?
                }
            };
            if claimed.is_empty() {
                return Ok(delivered);
            }
            let n = claimed.len() as u64;
            // At most once: an attempt that vanished (a crash after sending, before the
            // outcome was recorded) may have been delivered; do not send it again.
            let (vanished, items): (Vec<_>, Vec<_>) =
                claimed.into_iter().partition(|i| at_most_once && i.has_vanished_attempt());
            let outcomes = if items.is_empty() { Vec::new() } else { channel.deliver(&self.store, &items, now).await };
            let max_attempts = self.config.max_attempts;
            let mut sent = Vec::new();
            let mut responses = Vec::new();
            let mut awaited = false;
            let mut retries = Vec::new();
            let mut failed = Vec::new();
            let mut unknown: Vec<(store::OutboxItem, String)> = vanished
                .into_iter()
                .map(|i| (i, "an earlier attempt ended without an outcome (a crash or an expired lease); the provider is at-most-once, so it is not sent again".to_string()))
                .collect();
            for (item, outcome) in items.into_iter().zip(outcomes) {
                let channel = store::channel_name(item.message.channel());
                awaited |= item.awaited;
                match outcome {
                    Delivery::Delivered => sent.push(item.id),
                    Delivery::Responded { response } => {
                        responses.push((item.id, response));
                        sent.push(item.id)
                    }
                    Delivery::Uncertain { error, .. } if at_most_once => {
                        tracing::error!(key = %item.key, channel, attempts = item.attempts, error = %error, "Delivery outcome unknown; not retrying (at most once)");
                        unknown.push((item, error))
                    }
                    Delivery::Retry { after, error } | Delivery::Uncertain { after, error }
                        if item.attempts < max_attempts =>
                    {
                        tracing::warn!(key = %item.key, channel, attempts = item.attempts, retry_in_ms = after.num_milliseconds(), error = %error, "Delivery failed; retrying later");
                        retries.push((item.id, now + after, error))
                    }
                    Delivery::Retry { error, .. } | Delivery::Uncertain { error, .. } | Delivery::Failed { error } => {
                        tracing::error!(key = %item.key, channel, attempts = item.attempts, error = %error, "Delivery failed; giving up");
                        failed.push((item, error))
                    }
                }
            }
            let done = sent.len();
            self.store
                .writer()
                .run(move |tx| {
                    Box::pin(async move {
                        for (id, response) in responses {
                            store::record_response(tx, id, &response).await?;
                        }
                        store::mark_sent(tx, &sent, now).await?;
                        for (id, at, error) in retries {
                            store::retry_later(tx, id, at, &error).await?;
                        }
                        for (item, error) in failed {
                            store::give_up(tx, &item, &error, now).await?;
                        }
                        for (item, error) in unknown {
                            store::mark_unknown(tx, &item, &error, now).await?;
                        }
                        Ok(())
                    })
                })
                .await?;
            delivered += done;
            self.metrics.messages_delivered.fetch_add(done as u64, Ordering::Relaxed);
            if awaited {
                // Runs waiting for these outcomes are due now.
                self.wake.notify_one();
            }
            if n < batch {
                return Ok(delivered);
            }
        }
    }

    /// Give up the due messages that name a provider the router does not know (removed,
    /// or never configured), each with a timeline entry saying so.
    async fn dispatch_orphans(&self, router: &Router) -> Result<usize, store::Error> {
        loop {
            let now = self.now();
            // A provider added on another worker a moment ago may not be loaded here yet.
            let lane = router.orphan_lane(now - TimeDelta::seconds(30));
            let lease = self.config.lease;
            let items = self
                .store
                .writer()
                .run(move |tx| Box::pin(async move { store::claim_outbox_of(tx, now, lease, 500, lane).await }))
                .await?;
            let n = items.len();
            if n == 0 {
                return Ok(0);
            }
            self.store
                .writer()
                .run(move |tx| {
                    Box::pin(async move {
                        for item in items {
                            let provider = item.provider.clone().unwrap_or_default();
                            tracing::error!(key = %item.key, provider = %provider, "Message names a provider that is not configured; giving up");
                            let error = format!("provider `{provider}` is not configured (was it removed?)");
                            store::give_up(tx, &item, &error, now).await?;
                        }
                        Ok(())
                    })
                })
                .await?;
            if n < 500 {
                return Ok(0);
            }
        }
    }

    /// Delivery by a channel that writes to the store (the inbox): claim and deliver in
    /// one transaction per 1,000 messages.
    async fn dispatch_in_store(&self, lane: Lane) -> Result<usize, store::Error> {
        let mut delivered = 0;
        loop {
            let now = self.now();
            let lane = lane.clone();
            let n = self
                .store
                .writer()
                .run(move |tx| Box::pin(async move { store::deliver_due_to_inbox_of(tx, now, 1000, lane).await }))
                .await?;
            delivered += n;
            self.metrics.messages_delivered.fetch_add(n as u64, Ordering::Relaxed);
            if n > 0 {
                // Some of them may be awaited by their runs, woken in that transaction.
                self.wake.notify_one();
            }
            if n < 1000 {
                return Ok(delivered);
            }
        }
    }

    /// The loops that deliver messages through the registry's routes, until `shutdown`
    /// turns true: one per route, one for the inbox and one for messages naming unknown
    /// providers, so a slow provider or a long backlog on one does not hold up the others.
    /// When the providers change (here or, within seconds, on another worker) the lanes
    /// are rebuilt.
    pub async fn dispatch_loop(self: Arc<Self>, registry: Arc<Registry>, mut shutdown: watch::Receiver<bool>) {
        if let Err(e) = registry.reload(&self.store).await {
            tracing::error!(error = %e, "Loading the delivery providers failed; retrying");
        }
        let mut changed = registry.subscribe();
        while !*shutdown.borrow() {
            let router = registry.current();
            let (stop_lanes, lanes_stop) = watch::channel(false);
            let lanes = self.lanes(router, lanes_stop);
            let watcher = async {
                let mut check = tokio::time::interval(std::time::Duration::from_secs(5));
                check.tick().await;
                loop {
                    tokio::select! {
                        _ = check.tick() => {
                            if let Err(e) = registry.refresh(&self.store).await {
                                tracing::error!(error = %e, "Checking the delivery providers failed");
                            }
                        }
                        r = changed.changed() => { if r.is_err() { futures::future::pending::<()>().await } else { break } }
                        _ = shutdown.changed() => break,
                    }
                }
                let _ = stop_lanes.send(true);
            };
            futures::future::join(lanes, watcher).await;
        }
    }

    async fn lanes(&self, router: Arc<Router>, stop: watch::Receiver<bool>) {
        let mut lanes: Vec<futures::future::BoxFuture<'_, ()>> = Vec::new();
        for route in router.routes().iter().cloned() {
            let limiter = route.limiter.clone();
            let name = route.name();
            let route = Arc::new(route);
            lanes.push(Box::pin(self.lane(name, stop.clone(), limiter, LANE_IDLE, true, move || {
                let route = route.clone();
                Box::pin(async move { self.dispatch_route(&route).await })
            })));
        }
        let inbox = router.inbox_lane();
        lanes.push(Box::pin(self.lane("inbox".into(), stop.clone(), None, LANE_IDLE, true, move || {
            let inbox = inbox.clone();
            Box::pin(async move { self.dispatch_in_store(inbox).await })
        })));
        let orphans = router.clone();
        // Only messages 30 s old count as orphans, so a look every 10 s is soon enough; the
        // look reads every pending message, so it does not run on each new one.
        lanes.push(Box::pin(self.lane(
            "unknown providers".into(),
            stop.clone(),
            None,
            TimeDelta::seconds(10),
            false,
            move || {
                let router = orphans.clone();
                Box::pin(async move { self.dispatch_orphans(&router).await })
            },
        )));
        futures::future::join_all(lanes).await;
    }

    /// One delivery loop: `dispatch`, then wait for the next message (when `on_new`), the
    /// rate limit's next token, or `idle`.
    #[allow(clippy::too_many_arguments)]
    async fn lane<'a>(
        &'a self,
        name: String,
        mut stop: watch::Receiver<bool>,
        limiter: Option<Arc<TokenBucket>>,
        idle: TimeDelta,
        on_new: bool,
        dispatch: impl Fn() -> futures::future::BoxFuture<'a, Result<usize, store::Error>>,
    ) {
        let mut wake = self.outbox_wake.subscribe();
        while !*stop.borrow() {
            wake.borrow_and_update();
            if let Err(e) = dispatch().await {
                tracing::error!(lane = %name, error = %e, "Delivering messages failed; retrying");
            }
            let now = self.now();
            let soon = now + idle;
            match limiter.as_ref().map(|l| l.next_token_at(now)).filter(|t| *t > now) {
                // Out of tokens: new messages cannot go before the next one anyway.
                Some(token) => tokio::select! {
                    _ = self.clock.sleep_until(token.min(soon), self.config.max_idle) => {}
                    _ = stop.changed() => {}
                },
                None => tokio::select! {
                    _ = self.clock.sleep_until(soon, self.config.max_idle) => {}
                    _ = wake.changed(), if on_new => {}
                    _ = stop.changed() => {}
                },
            }
        }
    }

    /// Whether the due-run loop has stopped (graceful shutdown).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Runs by status (for metrics).
    pub async fn runs_by_status(&self) -> Result<Vec<(String, i64)>, store::Error> {
        store::count_runs_by_status(self.store.reader()).await
    }

    /// How late the earliest due run is now (0 when none is overdue), for metrics.
    pub async fn lag(&self) -> Result<TimeDelta, store::Error> {
        let now = self.now();
        Ok(store::next_wake(self.store.reader()).await?.map_or(TimeDelta::zero(), |w| (now - w).max(TimeDelta::zero())))
    }
}

/// What came of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Delivered, with the answer its run waits for (an awaited webhook's
    /// `{"status", "body"}`), kept on the outbox row.
    Responded {
        response: serde_json::Value,
    },
    /// A transient failure: try again after a while (until the attempts run out).
    Retry {
        after: TimeDelta,
        error: String,
    },
    /// A permanent failure: do not try again.
    Failed {
        error: String,
    },
    /// The request may have reached the recipient (a timeout, a connection broken after
    /// sending): retried with the same idempotency key like [`Delivery::Retry`], unless
    /// the provider is at-most-once.
    Uncertain {
        after: TimeDelta,
        error: String,
    },
}

/// A delivery channel. Deliveries carry the message's idempotency key, and a channel must
/// deliver each key at most once to the recipient. The dispatcher records the outcomes:
/// delivered messages are marked sent, transient failures retried after their delay
/// (until [`Config::max_attempts`]), permanent ones given up.
#[async_trait::async_trait]
pub trait Deliver: Send + Sync {
    async fn deliver(&self, store: &Store, items: &[store::OutboxItem], now: DateTime<Utc>) -> Vec<Delivery>;

    /// True for a channel that delivers by writing to the store itself (the inbox): the
    /// dispatcher then takes and delivers messages in one transaction, without a lease.
    fn in_store(&self) -> bool {
        false
    }

    /// Most messages leased and handed over at once.
    fn batch(&self) -> u64 {
        1000
    }

    /// True when the recipient deduplicates by the idempotency key (a re-send after a
    /// crash or an uncertain attempt is harmless); else the provider may be set to
    /// at-most-once.
    fn idempotent(&self) -> bool {
        false
    }

    /// Longest [`Deliver::deliver`] may take for one batch: added to the lease, so a
    /// batch still in flight is not taken again.
    fn batch_time(&self) -> TimeDelta {
        TimeDelta::zero()
    }
}

/// The built-in inbox: messages are stored and shown by the API, once per key.
pub struct Inbox;

#[async_trait::async_trait]
impl Deliver for Inbox {
    fn in_store(&self) -> bool {
        true
    }

    async fn deliver(&self, store: &Store, items: &[store::OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let batch = items.to_vec();
        match store
            .writer()
            .run(move |tx| Box::pin(async move { store::deliver_to_inbox(tx, &batch, now).await }))
            .await
        {
            Ok(()) => vec![Delivery::Delivered; items.len()],
            Err(e) => items
                .iter()
                .map(|i| Delivery::Retry { after: backoff(i.attempts, &i.key), error: e.to_string() })
                .collect(),
        }
    }
}

/// Exponential backoff with jitter for attempt `n` (1-based): about 2ⁿ seconds, at most an hour.
pub fn backoff(attempt: u32, key: &str) -> TimeDelta {
    let base = 2u64.saturating_pow(attempt.min(12)).min(3600);
    let jitter = crate::nodes::split::bucket(key, "", attempt, "backoff") % 400; // 0–40% extra
    TimeDelta::milliseconds((base * 1000 * (1000 + jitter) / 1000) as i64)
}
