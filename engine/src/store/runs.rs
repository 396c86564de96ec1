//! Runs: committing transitions, claiming due runs, finding waiting runs.

use super::entity::{frequency_log, outbox, run, run_history, run_variant, subscription};
use super::{Error, from_millis, millis};
use crate::nodes::update_contact::Change;
use crate::run::{Effect, Entry, Run, Status, Wait, What};
use crate::workflow::{Goal, Workflow};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use std::collections::{BTreeSet, HashMap};

/// A run as stored, with its version counter.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub run: Run,
    /// Bumped by every committed transition; a commit names the one it started from.
    pub rev: i64,
}

/// One step's worth of changes, committed atomically: the run's next state, its history,
/// its event subscriptions, the outbox rows of its sends and its contact changes.
#[derive(Debug, Clone)]
pub struct Transition {
    pub run: Run,
    /// The revision the step started from; `None` inserts a new run.
    pub prev_rev: Option<i64>,
    /// For new runs: the client's idempotency key (unique).
    pub start_key: Option<String>,
    pub history: Vec<Entry>,
    pub effects: Vec<Effect>,
    /// Event names the run must hear about next (see [`subscriptions_of`]).
    pub subscriptions: BTreeSet<String>,
    /// The names it listened for before the step, when known: subscription rows are
    /// rewritten only when the set changes (unknown: always).
    pub prev_subscriptions: Option<BTreeSet<String>>,
}

/// What came of committing a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    Ok,
    /// Another transition committed first (or the run was cancelled); nothing was written.
    Stale,
    /// A new run whose start key exists already; nothing was written.
    DuplicateStart,
}

/// The events a run listens for in its state: the awaited event, `exit_when` events and
/// an event goal not reached yet. None once it has ended.
pub fn subscriptions_of(run: &Run, workflow: &Workflow) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if run.status.is_ended() {
        return out;
    }
    if let Some(Wait::Event { event, .. }) = &run.wait {
        out.insert(event.clone());
    }
    out.extend(workflow.settings.exit_when.iter().map(|m| m.event.clone()));
    if let Some(Goal::Event { event, .. }) = &workflow.settings.goal
        && run.converted_at.is_none()
    {
        out.insert(event.clone());
    }
    out
}

pub(crate) fn status_name(s: Status) -> &'static str {
    match s {
        Status::Active => "active",
        Status::Waiting => "waiting",
        Status::Completed => "completed",
        Status::Exited => "exited",
        Status::Cancelled => "cancelled",
    }
}

fn decode(model: run::Model) -> Result<StoredRun, Error> {
    let run: Run = serde_json::from_str(&model.state)
        .map_err(|e| Error::Corrupt { what: "run state", detail: format!("run {}: {e}", model.id) })?;
    Ok(StoredRun { run, rev: model.rev })
}

fn active_model(r: &Run, rev: i64, start_key: Option<String>, now: i64) -> Result<run::ActiveModel, Error> {
    let state = serde_json::to_string(r).map_err(|e| Error::Corrupt { what: "run state", detail: e.to_string() })?;
    Ok(run::ActiveModel {
        id: Set(r.id.clone()),
        workflow_id: Set(r.journey.clone()),
        version: Set(r.version as i32),
        contact_id: Set(r.contact.clone()),
        entry: Set(r.entry as i32),
        correlation: Set(r.correlation.clone()),
        status: Set(status_name(r.status).to_string()),
        node: Set(r.node.clone()),
        wake_at: Set(r.wake_at().map(millis)),
        rev: Set(rev),
        state: Set(state),
        start_key: Set(start_key),
        started_at: Set(millis(r.started_at)),
        updated_at: Set(now),
        ended_at: Set(r.ended_at.map(millis)),
        converted_at: Set(r.converted_at.map(millis)),
    })
}

/// Commit transitions in the caller's transaction. Each is fenced by its run's revision:
/// a stale one writes nothing at all.
///
/// Set-based: new runs are inserted many rows a statement, updates are one fenced
/// `UPDATE … FROM (VALUES …) RETURNING id` per chunk, and only the rows the applied
/// transitions imply are written after that (history, outbox, changed subscriptions).
pub async fn commit<C: ConnectionTrait>(
    db: &C,
    transitions: &[Transition],
    now: DateTime<Utc>,
) -> Result<Vec<Committed>, Error> {
    let now_ms = millis(now);
    let mut results = vec![Committed::Stale; transitions.len()];

    // New runs: those with a client key one by one (the key may exist, also in the
    // archive), the rest together.
    let keys: Vec<String> =
        transitions.iter().filter(|t| t.prev_rev.is_none()).filter_map(|t| t.start_key.clone()).collect();
    let archived_keys = super::retention::archived_start_keys(db, &keys).await?;
    let mut fresh = Vec::new();
    for (i, t) in transitions.iter().enumerate().filter(|(_, t)| t.prev_rev.is_none()) {
        let model = active_model(&t.run, 1, t.start_key.clone(), now_ms)?;
        if t.start_key.as_ref().is_some_and(|k| archived_keys.contains(k)) {
            results[i] = Committed::DuplicateStart;
        } else if t.start_key.is_some() {
            let inserted = run::Entity::insert(model)
                .on_conflict(OnConflict::column(run::Column::StartKey).do_nothing().to_owned())
                .exec_without_returning(db)
                .await?;
            results[i] = if inserted == 1 { Committed::Ok } else { Committed::DuplicateStart };
        } else {
            fresh.push(model);
            results[i] = Committed::Ok;
        }
    }
    insert_chunked(db, fresh, run::Entity::insert_many).await?;

    // Updates, fenced, in chunks in which each run appears once (a later transition of the
    // same run starts from the revision the earlier one writes).
    let updates: Vec<usize> = (0..transitions.len()).filter(|&i| transitions[i].prev_rev.is_some()).collect();
    let mut chunk: Vec<usize> = Vec::new();
    let mut ids_in_chunk = std::collections::HashSet::new();
    for i in updates {
        if chunk.len() >= UPDATE_CHUNK || !ids_in_chunk.insert(transitions[i].run.id.as_str()) {
            update_fenced(db, transitions, &chunk, &mut results, now_ms).await?;
            chunk.clear();
            ids_in_chunk.clear();
            ids_in_chunk.insert(transitions[i].run.id.as_str());
        }
        chunk.push(i);
    }
    update_fenced(db, transitions, &chunk, &mut results, now_ms).await?;

    // What the applied transitions imply.
    let mut history = Vec::new();
    let mut outbox_rows = Vec::new();
    let mut ledger_rows = Vec::new();
    let mut subs = Vec::new();
    let mut resubscribe = Vec::new();
    let mut contact_changes: Vec<(String, Vec<Change>, String)> = Vec::new();
    let mut variants = Vec::new();
    let mut counts: HashMap<(&str, u32, &str), (i64, i64)> = HashMap::new();
    for (t, applied) in transitions.iter().zip(&results) {
        if *applied != Committed::Ok {
            continue;
        }
        let r = &t.run;
        for e in &t.history {
            if let Some(node) = &e.node {
                match &e.what {
                    What::NodeEntered { .. } => counts.entry((&r.journey, r.version, node)).or_default().0 += 1,
                    What::Converted { .. } => counts.entry((&r.journey, r.version, node)).or_default().1 += 1,
                    What::Variant { variant, .. } => variants.push(run_variant::ActiveModel {
                        run_id: Set(r.id.clone()),
                        node: Set(node.clone()),
                        workflow_id: Set(r.journey.clone()),
                        version: Set(r.version as i32),
                        variant: Set(variant.clone()),
                    }),
                    _ => {}
                }
            }
            let (kind, data) = history_parts(e)?;
            history.push(run_history::ActiveModel {
                id: sea_orm::ActiveValue::NotSet,
                run_id: Set(r.id.clone()),
                workflow_id: Set(r.journey.clone()),
                version: Set(r.version as i32),
                at: Set(millis(e.at)),
                node: Set(e.node.clone()),
                kind: Set(kind),
                data: Set(data),
            });
        }
        for effect in &t.effects {
            match effect {
                Effect::Send { key, node, message, provider, transactional, topic, awaited } => {
                    if !transactional {
                        ledger_rows.push(super::delivery::ledger_row(key, &r.contact, message.channel(), now_ms));
                    }
                    let payload = serde_json::to_string(message)
                        .map_err(|e| Error::Corrupt { what: "message", detail: e.to_string() })?;
                    // What delivery checks again against the suppression list.
                    let address = match message {
                        crate::nodes::send::Rendered::Email { to, .. } => Some(crate::consent::normalize_email(to)),
                        _ => None,
                    };
                    outbox_rows.push(outbox::ActiveModel {
                        id: sea_orm::ActiveValue::NotSet,
                        key: Set(key.clone()),
                        run_id: Set(r.id.clone()),
                        workflow_id: Set(r.journey.clone()),
                        contact_id: Set(r.contact.clone()),
                        node: Set(node.clone()),
                        channel: Set(super::outbox::channel_name(message.channel()).to_string()),
                        payload: Set(payload),
                        status: Set("pending".into()),
                        attempts: Set(0),
                        next_attempt_at: Set(Some(now_ms)),
                        created_at: Set(now_ms),
                        sent_at: Set(None),
                        last_error: Set(None),
                        provider: Set(provider.clone()),
                        recorded_attempts: Set(0),
                        transactional: Set(*transactional),
                        topic: Set(topic.clone()),
                        address: Set(address),
                        awaited: Set(*awaited),
                        response: Set(None),
                    });
                }
                Effect::UpdateContact { node, changes } => contact_changes.push((
                    r.contact.clone(),
                    changes.clone(),
                    format!("journey `{}` node `{node}` (run {})", r.journey, r.id),
                )),
            }
        }
        // Subscriptions are rewritten only when the set changes.
        let before = match (&t.prev_rev, &t.prev_subscriptions) {
            (None, _) => Some(BTreeSet::new()),
            (Some(_), known) => known.clone(),
        };
        if before.as_ref() == Some(&t.subscriptions) {
            continue;
        }
        if before.is_none_or(|b| !b.is_empty()) {
            resubscribe.push(r.id.clone());
        }
        for event in &t.subscriptions {
            subs.push(subscription::ActiveModel {
                run_id: Set(r.id.clone()),
                event: Set(event.clone()),
                contact_id: Set(r.contact.clone()),
            });
        }
    }
    for chunk in resubscribe.chunks(500) {
        subscription::Entity::delete_many().filter(subscription::Column::RunId.is_in(chunk.to_vec())).exec(db).await?;
    }
    insert_chunked(db, subs, |rows| {
        subscription::Entity::insert_many(rows).on_conflict(
            OnConflict::columns([subscription::Column::RunId, subscription::Column::Event]).do_nothing().to_owned(),
        )
    })
    .await?;
    insert_chunked(db, history, run_history::Entity::insert_many).await?;
    // A run that loops through a split keeps the variant it was drawn first (the same one).
    insert_chunked(db, variants, |rows| {
        run_variant::Entity::insert_many(rows).on_conflict(
            OnConflict::columns([run_variant::Column::RunId, run_variant::Column::Node]).do_nothing().to_owned(),
        )
    })
    .await?;
    insert_chunked(db, outbox_rows, |rows| {
        outbox::Entity::insert_many(rows).on_conflict(OnConflict::column(outbox::Column::Key).do_nothing().to_owned())
    })
    .await?;
    insert_chunked(db, ledger_rows, |rows| {
        frequency_log::Entity::insert_many(rows)
            .on_conflict(OnConflict::column(frequency_log::Column::Key).do_nothing().to_owned())
    })
    .await?;
    add_node_counts(db, counts).await?;
    for (id, changes, cause) in contact_changes {
        super::contacts::apply_changes(db, &id, &changes, &cause, now).await?;
    }
    Ok(results)
}

/// Add to the per-node counters (entered, converted) of each (workflow, version, node).
///
/// A counter row stays locked until the transaction commits, so on PostgreSQL each
/// transaction adds to one of [`NODE_COUNT_SHARDS`] rows per node, picked by its
/// transaction id: concurrent commits (workers, pipelined batches) rarely wait on each
/// other, and all of one transaction's additions go to the same shard. SQLite has one
/// writer and uses shard 0. Readers sum the shards.
async fn add_node_counts<C: ConnectionTrait>(
    db: &C,
    counts: HashMap<(&str, u32, &str), (i64, i64)>,
) -> Result<(), Error> {
    let backend = db.get_database_backend();
    let shard = match backend {
        sea_orm::DbBackend::Postgres => format!("CAST(txid_current() % {NODE_COUNT_SHARDS} AS INTEGER)"),
        _ => "0".to_string(),
    };
    // In key order: concurrent transactions update shared counters without deadlocking.
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for chunk in counts.chunks(500) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 5);
        let mut rows = Vec::with_capacity(chunk.len());
        for ((workflow, version, node), (entered, converted)) in chunk {
            let first = values.len();
            values.extend([
                (*workflow).to_string().into(),
                (*version as i32).into(),
                (*node).to_string().into(),
                (*entered).into(),
                (*converted).into(),
            ]);
            let marks: Vec<String> = (first + 1..=first + 5).map(|n| placeholder(backend, n)).collect();
            rows.push(format!("({}, {shard})", marks.join(", ")));
        }
        let sql = format!(
            "INSERT INTO node_counts (workflow_id, version, node, entered, converted, shard) VALUES {} \
             ON CONFLICT (workflow_id, version, node, shard) DO UPDATE SET \
             entered = node_counts.entered + excluded.entered, converted = node_counts.converted + excluded.converted",
            rows.join(", ")
        );
        db.execute(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    Ok(())
}

/// Counter rows per node on PostgreSQL (see [`add_node_counts`]).
pub const NODE_COUNT_SHARDS: u32 = 16;

/// Runs updated by one statement (10 parameters each).
const UPDATE_CHUNK: usize = 500;

/// One fenced `UPDATE … FROM (VALUES …)` for the transitions at `chunk` (each run once):
/// a row is written only where its revision is still the one the step started from and
/// it was not cancelled; `results` learns which were.
async fn update_fenced<C: ConnectionTrait>(
    db: &C,
    transitions: &[Transition],
    chunk: &[usize],
    results: &mut [Committed],
    now_ms: i64,
) -> Result<(), Error> {
    if chunk.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 10);
    let mut rows = Vec::with_capacity(chunk.len());
    for &i in chunk {
        let t = &transitions[i];
        let r = &t.run;
        let state =
            serde_json::to_string(r).map_err(|e| Error::Corrupt { what: "run state", detail: e.to_string() })?;
        let rev = t.prev_rev.unwrap_or_default();
        let first = values.len();
        values.extend([
            r.id.clone().into(),
            rev.into(),
            status_name(r.status).to_string().into(),
            r.node.clone().into(),
            r.wake_at().map(millis).into(),
            (rev + 1).into(),
            state.into(),
            now_ms.into(),
            r.ended_at.map(millis).into(),
            r.converted_at.map(millis).into(),
        ]);
        let marks: Vec<String> = (first + 1..=first + 10).map(|n| placeholder(backend, n)).collect();
        rows.push(format!("({})", marks.join(", ")));
    }
    let sql = format!(
        "UPDATE runs SET status = v.column3, node = v.column4, wake_at = v.column5, rev = v.column6, \
         state = v.column7, updated_at = v.column8, ended_at = v.column9, converted_at = v.column10 \
         FROM (VALUES {}) AS v \
         WHERE runs.id = v.column1 AND runs.rev = v.column2 AND runs.status <> 'cancelled' RETURNING id",
        rows.join(", ")
    );
    let written: std::collections::HashSet<String> = db
        .query_all(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "id"))
        .collect::<Result<_, _>>()?;
    for &i in chunk {
        results[i] = if written.contains(&transitions[i].run.id) { Committed::Ok } else { Committed::Stale };
    }
    Ok(())
}

/// Where several workers claim from the same table at once (PostgreSQL), each skips the
/// rows another has locked; SQLite has one writer and no such clause.
pub(crate) fn skip_locked(backend: sea_orm::DbBackend) -> &'static str {
    if backend == sea_orm::DbBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" }
}

/// The `n`-th (1-based) statement parameter in the backend's syntax.
pub(crate) fn placeholder(backend: sea_orm::DbBackend, n: usize) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

async fn insert_chunked<C, A, I>(db: &C, rows: Vec<A>, make: impl Fn(Vec<A>) -> sea_orm::Insert<A>) -> Result<(), Error>
where
    C: ConnectionTrait,
    A: sea_orm::ActiveModelTrait<Entity = I> + Clone,
    I: EntityTrait,
    I::Model: sea_orm::IntoActiveModel<A>,
{
    let mut rows = rows;
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(1000));
        make(rows).exec_without_returning(db).await?;
        rows = rest;
    }
    Ok(())
}

/// The `kind` column and the JSON data of a history entry.
pub(super) fn history_parts(e: &Entry) -> Result<(String, String), Error> {
    let mut value =
        serde_json::to_value(&e.what).map_err(|err| Error::Corrupt { what: "history", detail: err.to_string() })?;
    let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or("unknown").to_string();
    if let Some(map) = value.as_object_mut() {
        map.remove("type");
    }
    Ok((kind, value.to_string()))
}

/// Take up to `limit` runs due at `now`, oldest first, and lease them: their `wake_at`
/// moves to `now + lease`, so no one else takes them meanwhile, and a worker that dies
/// leaves them to become due again by themselves.
pub async fn claim_due<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: u64,
) -> Result<Vec<StoredRun>, Error> {
    let backend = db.get_database_backend();
    // On PostgreSQL, workers claiming at the same time skip each other's rows.
    let lock = skip_locked(backend);
    let sql = format!(
        "UPDATE runs SET wake_at = {} WHERE id IN \
         (SELECT id FROM runs WHERE wake_at <= {} ORDER BY wake_at LIMIT {}{lock}) RETURNING *",
        placeholder(backend, 1),
        placeholder(backend, 2),
        placeholder(backend, 3),
    );
    let values: [sea_orm::Value; 3] = [millis(now + lease).into(), millis(now).into(), (limit as i64).into()];
    let claimed =
        run::Entity::find().from_raw_sql(Statement::from_sql_and_values(backend, sql, values)).all(db).await?;
    let mut runs: Vec<StoredRun> = claimed.into_iter().map(decode).collect::<Result<_, _>>()?;
    runs.sort_by_key(|r| r.run.wake_at());
    Ok(runs)
}

/// The earliest `wake_at` of any run, for the scheduler's sleep.
pub async fn next_wake<C: ConnectionTrait>(db: &C) -> Result<Option<DateTime<Utc>>, Error> {
    let row = run::Entity::find()
        .select_only()
        .column(run::Column::WakeAt)
        .filter(run::Column::WakeAt.is_not_null())
        .order_by_asc(run::Column::WakeAt)
        .limit(1)
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?;
    Ok(row.flatten().map(from_millis))
}

/// Earlier runs of a contact in a journey, for re-entry: (correlation, still active).
pub async fn prior_runs<C: ConnectionTrait>(db: &C, contact: &str, workflow: &str) -> Result<Vec<PriorRunRow>, Error> {
    let mut all = prior_runs_many(db, &[contact.to_string()], &[workflow.to_string()]).await?;
    Ok(all.remove(&(contact.to_string(), workflow.to_string())).unwrap_or_default())
}

/// A run by id, hot or archived.
pub async fn get_run<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<StoredRun>, Error> {
    let hot = run::Entity::find_by_id(id.to_string()).one(db).await?;
    let found = match hot {
        Some(m) => Some(m),
        None => super::retention::archived_run(db, id).await?,
    };
    found.map(decode).transpose()
}

/// The run started with a start key, hot or archived.
pub async fn run_by_start_key<C: ConnectionTrait>(db: &C, key: &str) -> Result<Option<StoredRun>, Error> {
    let hot = run::Entity::find().filter(run::Column::StartKey.eq(key)).one(db).await?;
    let found = match hot {
        Some(m) => Some(m),
        None => super::retention::archived_run_by_start_key(db, key).await?,
    };
    found.map(decode).transpose()
}

/// Filters for listing runs.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub workflow: Option<String>,
    pub contact: Option<String>,
    pub status: Option<Status>,
    /// Waiting at this node.
    pub node: Option<String>,
    /// Only runs whose id sorts after this one (cursor).
    pub after: Option<String>,
    pub limit: u64,
}

/// Runs matching `f`, hot and archived, by id.
pub async fn list_runs<C: ConnectionTrait>(db: &C, f: &RunFilter) -> Result<Vec<StoredRun>, Error> {
    let mut q = run::Entity::find();
    if let Some(w) = &f.workflow {
        q = q.filter(run::Column::WorkflowId.eq(w.clone()));
    }
    if let Some(c) = &f.contact {
        q = q.filter(run::Column::ContactId.eq(c.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(run::Column::Status.eq(status_name(s)));
    }
    if let Some(n) = &f.node {
        q = q.filter(run::Column::Node.eq(n.clone()));
    }
    if let Some(a) = &f.after {
        q = q.filter(run::Column::Id.gt(a.clone()));
    }
    let mut rows = q.order_by_asc(run::Column::Id).limit(f.limit).all(db).await?;
    rows.extend(super::retention::archived_runs(db, f).await?);
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows.truncate(f.limit as usize);
    rows.into_iter().map(decode).collect()
}

/// A run's timeline, oldest first, as typed entries.
pub async fn history<C: ConnectionTrait>(db: &C, run_id: &str) -> Result<Vec<Entry>, Error> {
    timeline(db, run_id)
        .await?
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(|e| Error::Corrupt { what: "history", detail: e.to_string() }))
        .collect()
}

/// Cancel every active run of a contact (when the contact is deleted). Returns how many.
pub async fn cancel_contact_runs<C: ConnectionTrait>(
    db: &C,
    contact_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let active = run::Entity::find()
        .filter(run::Column::ContactId.eq(contact_id))
        .filter(run::Column::Status.is_in(["active", "waiting"]))
        .all(db)
        .await?;
    let mut n = 0;
    for m in active {
        let mut stored = decode(m)?;
        if cancel(db, &mut stored, now).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// Cancel one run (fenced by its revision). True if it was cancelled now.
pub async fn cancel<C: ConnectionTrait>(db: &C, stored: &mut StoredRun, now: DateTime<Utc>) -> Result<bool, Error> {
    if stored.run.status.is_ended() {
        return Ok(false);
    }
    let mut r = stored.run.clone();
    r.status = Status::Cancelled;
    r.wait = None;
    r.ended_at = Some(now);
    let entry = Entry {
        at: now,
        node: r.node.clone(),
        what: crate::run::What::Exited { reason: crate::run::ExitReason::Cancelled },
    };
    let t = Transition {
        run: r,
        prev_rev: Some(stored.rev),
        start_key: None,
        history: vec![entry],
        effects: vec![],
        subscriptions: BTreeSet::new(),
        prev_subscriptions: None,
    };
    let ok = commit(db, std::slice::from_ref(&t), now).await?[0] == Committed::Ok;
    Ok(ok)
}

/// Per-node counts for a journey (optionally one version): entered, waiting now,
/// ended there, converted there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub entered: u64,
    pub waiting: u64,
    pub ended: u64,
    pub converted: u64,
    /// Messages of this (send) node given up (the outbox's dead letters).
    pub failed_deliveries: u64,
}

fn sum(row: &sea_orm::QueryResult, column: &str) -> Result<u64, Error> {
    Ok(row.try_get::<i64>("", column)?.max(0) as u64)
}

pub async fn node_stats<C: ConnectionTrait>(
    db: &C,
    workflow: &str,
    version: Option<u32>,
) -> Result<HashMap<String, NodeStats>, Error> {
    let backend = db.get_database_backend();
    let version_filter = if version.is_some() { " AND version = $2" } else { "" };
    let mut stats: HashMap<String, NodeStats> = HashMap::new();
    let values = |extra: Option<u32>| {
        let mut v: Vec<sea_orm::Value> = vec![workflow.into()];
        if let Some(n) = extra {
            v.push((n as i32).into());
        }
        v
    };
    let sql = format!(
        "SELECT node, CAST(SUM(entered) AS BIGINT) AS entered, CAST(SUM(converted) AS BIGINT) AS converted FROM node_counts WHERE workflow_id = $1{version_filter} GROUP BY node"
    );
    for row in db.query_all(Statement::from_sql_and_values(backend, fix(&sql, backend), values(version))).await? {
        let node: String = row.try_get("", "node")?;
        let (entered, converted) = (sum(&row, "entered")?, sum(&row, "converted")?);
        let s = stats.entry(node).or_default();
        s.entered = entered;
        s.converted = converted;
    }
    for table in super::retention::RUN_TABLES {
        let sql = format!(
            "SELECT node, status, COUNT(*) AS n FROM {table} WHERE workflow_id = $1{version_filter} AND node IS NOT NULL GROUP BY node, status"
        );
        for row in db.query_all(Statement::from_sql_and_values(backend, fix(&sql, backend), values(version))).await? {
            let node: String = row.try_get("", "node")?;
            let status: String = row.try_get("", "status")?;
            let n: i64 = row.try_get("", "n")?;
            let s = stats.entry(node).or_default();
            match status.as_str() {
                "waiting" | "active" => s.waiting += n as u64,
                _ => s.ended += n as u64,
            }
        }
    }
    let version_filter = if version.is_some() {
        " AND (EXISTS (SELECT 1 FROM runs WHERE runs.id = outbox.run_id AND runs.version = $2) \
         OR EXISTS (SELECT 1 FROM archived_runs a WHERE a.id = outbox.run_id AND a.version = $2))"
    } else {
        ""
    };
    let sql = format!(
        "SELECT node, COUNT(*) AS n FROM outbox WHERE workflow_id = $1 AND status = 'failed'{version_filter} GROUP BY node"
    );
    for row in db.query_all(Statement::from_sql_and_values(backend, fix(&sql, backend), values(version))).await? {
        let node: String = row.try_get("", "node")?;
        let n: i64 = row.try_get("", "n")?;
        stats.entry(node).or_default().failed_deliveries = n.max(0) as u64;
    }
    Ok(stats)
}

/// `$1` placeholders for PostgreSQL, `?` for SQLite.
pub(super) fn fix(sql: &str, backend: sea_orm::DatabaseBackend) -> String {
    match backend {
        sea_orm::DatabaseBackend::Postgres => sql.to_string(),
        // SQLite: `?NNN` names the parameter, so one may be used twice.
        _ => sql.replace("$1", "?1").replace("$2", "?2"),
    }
}

/// Count runs by status (for metrics): the hot table only (ended runs leave it when they
/// are archived; counting the whole archive on every scrape would not scale).
pub async fn count_runs_by_status<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, i64)>, Error> {
    Ok(run::Entity::find()
        .select_only()
        .column(run::Column::Status)
        .column_as(run::Column::Id.count(), "n")
        .group_by(run::Column::Status)
        .into_tuple()
        .all(db)
        .await?)
}

/// How many runs of each workflow are still going (active or waiting).
pub async fn count_active_runs<C: ConnectionTrait>(
    db: &C,
    workflows: &[String],
) -> Result<HashMap<String, u64>, Error> {
    let mut out = HashMap::new();
    for chunk in workflows.chunks(500) {
        let rows: Vec<(String, i64)> = run::Entity::find()
            .select_only()
            .column(run::Column::WorkflowId)
            .column_as(run::Column::Id.count(), "n")
            .filter(run::Column::WorkflowId.is_in(chunk.to_vec()))
            .filter(run::Column::Status.is_in(["active", "waiting"]))
            .group_by(run::Column::WorkflowId)
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|(w, n)| (w, n as u64)));
    }
    Ok(out)
}

/// Runs of a workflow (optionally one version) by status, and how many converted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// `active`, `waiting`, `completed`, `exited`, `cancelled` → how many.
    pub by_status: HashMap<String, u64>,
    pub converted: u64,
}

pub async fn count_runs<C: ConnectionTrait>(db: &C, workflow: &str, version: Option<u32>) -> Result<RunCounts, Error> {
    let backend = db.get_database_backend();
    let only = if version.is_some() { " AND version = $2" } else { "" };
    let mut values: Vec<sea_orm::Value> = vec![workflow.into()];
    if let Some(v) = version {
        values.push((v as i32).into());
    }
    let mut out = RunCounts::default();
    for table in super::retention::RUN_TABLES {
        let sql = format!(
            "SELECT status, COUNT(*) AS n, COUNT(converted_at) AS converted FROM {table} \
             WHERE workflow_id = $1{only} GROUP BY status"
        );
        for row in db.query_all(Statement::from_sql_and_values(backend, fix(&sql, backend), values.clone())).await? {
            let status: String = row.try_get("", "status")?;
            *out.by_status.entry(status).or_default() += sum(&row, "n")?;
            out.converted += sum(&row, "converted")?;
        }
    }
    Ok(out)
}

/// A run's timeline as JSON objects (`{at, node?, type, ...}`), oldest first, as the API
/// shows it; [`history`] decodes the same objects into typed entries.
pub async fn timeline<C: ConnectionTrait>(db: &C, run_id: &str) -> Result<Vec<serde_json::Value>, Error> {
    let mut rows = run_history::Entity::find()
        .filter(run_history::Column::RunId.eq(run_id))
        .order_by_asc(run_history::Column::Id)
        .all(db)
        .await?;
    // A run moves to the archive with its whole timeline, in one transaction.
    if rows.is_empty() {
        rows = super::retention::archived_timeline(db, run_id).await?;
    }
    rows.into_iter()
        .map(|h| {
            let data: serde_json::Value =
                serde_json::from_str(&h.data).map_err(|e| Error::Corrupt { what: "history", detail: e.to_string() })?;
            let mut map = serde_json::Map::new();
            map.insert("at".into(), serde_json::to_value(from_millis(h.at)).unwrap_or_default());
            if let Some(node) = h.node {
                map.insert("node".into(), node.into());
            }
            map.insert("type".into(), h.kind.into());
            if let serde_json::Value::Object(fields) = data {
                map.extend(fields);
            }
            Ok(serde_json::Value::Object(map))
        })
        .collect()
}

/// Whether a contact has any run (kept after the contact is deleted).
pub async fn contact_has_runs<C: ConnectionTrait>(db: &C, contact: &str) -> Result<bool, Error> {
    let first: Option<String> = run::Entity::find()
        .select_only()
        .column(run::Column::Id)
        .filter(run::Column::ContactId.eq(contact))
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(first.is_some() || super::retention::contact_has_archived_runs(db, contact).await?)
}

/// For each contact, the runs that listen for each event name: `(contact, event) → runs`,
/// each list in start order. One query for the subscriptions and one for the runs per
/// 500 contacts.
pub async fn subscribed_runs_many<C: ConnectionTrait>(
    db: &C,
    contacts: &[String],
) -> Result<HashMap<(String, String), Vec<StoredRun>>, Error> {
    let mut out: HashMap<(String, String), Vec<StoredRun>> = HashMap::new();
    for chunk in contacts.chunks(500) {
        let subs: Vec<(String, String, String)> = subscription::Entity::find()
            .select_only()
            .column(subscription::Column::RunId)
            .column(subscription::Column::ContactId)
            .column(subscription::Column::Event)
            .filter(subscription::Column::ContactId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        if subs.is_empty() {
            continue;
        }
        let mut ids: Vec<String> = subs.iter().map(|s| s.0.clone()).collect();
        ids.sort();
        ids.dedup();
        let mut runs: HashMap<String, StoredRun> = HashMap::with_capacity(ids.len());
        for ids in ids.chunks(500) {
            for m in run::Entity::find().filter(run::Column::Id.is_in(ids.to_vec())).all(db).await? {
                let r = decode(m)?;
                runs.insert(r.run.id.clone(), r);
            }
        }
        for (run_id, contact, event) in subs {
            if let Some(r) = runs.get(&run_id) {
                out.entry((contact, event)).or_default().push(r.clone());
            }
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|r| (r.run.started_at, r.run.entry));
    }
    Ok(out)
}

/// An earlier run of a contact in a journey, for re-entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorRunRow {
    pub id: String,
    pub correlation: Option<String>,
    pub active: bool,
}

/// Earlier runs of each contact in each of `workflows`: `(contact, workflow) → runs`.
pub async fn prior_runs_many<C: ConnectionTrait>(
    db: &C,
    contacts: &[String],
    workflows: &[String],
) -> Result<HashMap<(String, String), Vec<PriorRunRow>>, Error> {
    let mut out: HashMap<(String, String), Vec<PriorRunRow>> = HashMap::new();
    if workflows.is_empty() {
        return Ok(out);
    }
    for chunk in contacts.chunks(500) {
        let rows: Vec<(String, String, String, Option<String>, String)> = run::Entity::find()
            .select_only()
            .column(run::Column::Id)
            .column(run::Column::ContactId)
            .column(run::Column::WorkflowId)
            .column(run::Column::Correlation)
            .column(run::Column::Status)
            .filter(run::Column::ContactId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        // Filtered by contact only: the planner then has one good index (contact,
        // workflow), never the workflow's index with a 500-value filter on each of its
        // runs (seconds, when the statistics were stale); a contact has few runs.
        for (id, contact, workflow, correlation, status) in rows {
            if !workflows.contains(&workflow) {
                continue;
            }
            let active = matches!(status.as_str(), "active" | "waiting");
            out.entry((contact, workflow)).or_default().push(PriorRunRow { id, correlation, active });
        }
        // Archived runs ended: they count for `once` until the retention period deletes them.
        for (id, contact, workflow, correlation) in super::retention::archived_prior_runs(db, chunk, workflows).await? {
            out.entry((contact, workflow)).or_default().push(PriorRunRow { id, correlation, active: false });
        }
    }
    Ok(out)
}
