//! Retention: ended runs leave the hot tables for the archive, and the archive is emptied
//! of runs older than the retention period.
//!
//! The scheduler scans and writes `runs`, `run_history` and `subscriptions` all day (claims
//! by `wake_at`, fenced updates, history inserts). A run that ended is never claimed or
//! stepped again, so some time after it ended ([`archive_batch`]) it moves with its
//! timeline to `archived_runs` and `archived_run_history`, and its subscription rows (none
//! are left once a run ends, but a stray one would wake nothing) are deleted. A run moves
//! only once none of its messages is still pending in the outbox: an outcome recorded
//! later writes to the run's timeline, which must still be hot then.
//!
//! What stays where it was, and why: `run_variants` (written once per run and split,
//! never updated, read only by the statistics, which join it with either table),
//! `node_counts` (aggregates), the outbox rows of the run (the dispatcher claims through
//! its `outbox_due` index, which sent rows leave; the failed ones are the dead letters
//! operators list) and the built-in inbox's `messages` (the contacts' messages, not the
//! run's bookkeeping). When the retention period has passed ([`delete_batch`]), the
//! archived run, its timeline, its variants and its outbox rows are deleted.
//!
//! Each batch is one transaction: a run is either hot or archived with all of its rows,
//! whatever happens. On PostgreSQL a batch locks the rows it takes with
//! `FOR UPDATE SKIP LOCKED`, so several workers sweeping at once never take the same run.
//! Times come from the caller (the engine's clock), never `now()` in SQL.
//!
//! The readers of runs read both tables: a run by id or start key and its timeline fall
//! back to the archive ([`archived_run`], [`archived_timeline`], [`archived_run_by_start_key`]),
//! lists and counts add the archive's rows.

use super::entity::{archived_run, archived_run_history, run, run_history};
use super::runs::{RunFilter, placeholder, skip_locked, status_name};
use super::{Error, millis};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement};
use std::collections::HashSet;

/// The columns `runs` and `archived_runs` share, in the order both inserts name them.
const RUN_COLUMNS: &str = "id, workflow_id, version, contact_id, entry, correlation, status, node, rev, state, \
                           start_key, started_at, updated_at, ended_at, converted_at";

/// The columns of `run_history` and `archived_run_history`.
const HISTORY_COLUMNS: &str = "id, run_id, workflow_id, version, at, node, kind, data";

/// `(p1, p2, …)` for `n` parameters starting after `first`.
fn marks(backend: sea_orm::DbBackend, first: usize, n: usize) -> String {
    let marks: Vec<String> = (first + 1..=first + n).map(|i| placeholder(backend, i)).collect();
    format!("({})", marks.join(", "))
}

/// The ids of up to `limit` rows of `from_where` (`<table> WHERE …`, `$1` standing for
/// `ended_before`), those that ended first, locked for this transaction; on PostgreSQL
/// rows another worker's batch holds are skipped.
async fn take<C: ConnectionTrait>(
    db: &C,
    from_where: &str,
    ended_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<String>, Error> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT id FROM {} ORDER BY ended_at, id LIMIT {}{}",
        from_where.replace("$1", &placeholder(backend, 1)),
        placeholder(backend, 2),
        skip_locked(backend)
    );
    let values: Vec<sea_orm::Value> = vec![millis(ended_before).into(), (limit as i64).into()];
    db.query_all(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "id").map_err(Error::from))
        .collect()
}

/// Run `sql` for `ids`: its `$1`, `$2`, … are `values`, and `{ids}` the list of ids.
async fn for_ids<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: &[sea_orm::Value],
    ids: &[String],
) -> Result<u64, Error> {
    let backend = db.get_database_backend();
    let mut sql = sql.replace("{ids}", &marks(backend, values.len(), ids.len()));
    for n in 1..=values.len() {
        sql = sql.replace(&format!("${n}"), &placeholder(backend, n));
    }
    let mut all = values.to_vec();
    all.extend(ids.iter().map(|id| sea_orm::Value::from(id.clone())));
    Ok(db.execute(Statement::from_sql_and_values(backend, sql, all)).await?.rows_affected())
}

/// Move up to `limit` runs that ended at or before `ended_before` (and have no message
/// pending) with their timelines to the archive, in the caller's transaction. Returns how
/// many moved: fewer than `limit` means none is left to move.
pub async fn archive_batch<C: ConnectionTrait>(
    db: &C,
    ended_before: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<u64, Error> {
    let ended = "runs WHERE ended_at IS NOT NULL AND ended_at <= $1 AND wake_at IS NULL \
                 AND status IN ('completed', 'exited', 'cancelled') \
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.run_id = runs.id AND o.status = 'pending')";
    let ids = take(db, ended, ended_before, limit).await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let moved = for_ids(
        db,
        &format!(
            "INSERT INTO archived_runs ({RUN_COLUMNS}, archived_at) SELECT {RUN_COLUMNS}, $1 FROM runs WHERE id IN {{ids}}"
        ),
        &[millis(now).into()],
        &ids,
    )
    .await?;
    for_ids(
        db,
        &format!(
            "INSERT INTO archived_run_history ({HISTORY_COLUMNS}) SELECT {HISTORY_COLUMNS} FROM run_history \
             WHERE run_id IN {{ids}}"
        ),
        &[],
        &ids,
    )
    .await?;
    for_ids(db, "DELETE FROM run_history WHERE run_id IN {ids}", &[], &ids).await?;
    for_ids(db, "DELETE FROM subscriptions WHERE run_id IN {ids}", &[], &ids).await?;
    for_ids(db, "DELETE FROM runs WHERE id IN {ids}", &[], &ids).await?;
    Ok(moved)
}

/// Delete up to `limit` archived runs that ended before `ended_before`, with their
/// timelines, split variants and outbox rows, in the caller's transaction. Returns how
/// many runs were deleted.
pub async fn delete_batch<C: ConnectionTrait>(db: &C, ended_before: DateTime<Utc>, limit: u64) -> Result<u64, Error> {
    let ids = take(db, "archived_runs WHERE ended_at < $1", ended_before, limit).await?;
    if ids.is_empty() {
        return Ok(0);
    }
    for table in ["archived_run_history", "run_variants", "outbox"] {
        for_ids(db, &format!("DELETE FROM {table} WHERE run_id IN {{ids}}"), &[], &ids).await?;
    }
    for_ids(db, "DELETE FROM archived_runs WHERE id IN {ids}", &[], &ids).await
}

/// How many rows the hot tables and the archive hold (for tests and measurements).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableSizes {
    pub runs: u64,
    pub run_history: u64,
    pub subscriptions: u64,
    pub archived_runs: u64,
    pub archived_run_history: u64,
}

pub async fn table_sizes<C: ConnectionTrait>(db: &C) -> Result<TableSizes, Error> {
    let backend = db.get_database_backend();
    let mut n = [0u64; 5];
    for (i, table) in
        ["runs", "run_history", "subscriptions", "archived_runs", "archived_run_history"].iter().enumerate()
    {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        if let Some(row) = db.query_one(Statement::from_string(backend, sql)).await? {
            n[i] = row.try_get::<i64>("", "n")?.max(0) as u64;
        }
    }
    Ok(TableSizes {
        runs: n[0],
        run_history: n[1],
        subscriptions: n[2],
        archived_runs: n[3],
        archived_run_history: n[4],
    })
}

// ----- Reading the archive -----

/// An archived run in the shape of a `runs` row (it waits for nothing).
fn as_run(m: archived_run::Model) -> run::Model {
    run::Model {
        id: m.id,
        workflow_id: m.workflow_id,
        version: m.version,
        contact_id: m.contact_id,
        entry: m.entry,
        correlation: m.correlation,
        status: m.status,
        node: m.node,
        wake_at: None,
        rev: m.rev,
        state: m.state,
        start_key: m.start_key,
        started_at: m.started_at,
        updated_at: m.updated_at,
        ended_at: Some(m.ended_at),
        converted_at: m.converted_at,
    }
}

pub(super) async fn archived_run<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<run::Model>, Error> {
    Ok(archived_run::Entity::find_by_id(id.to_string()).one(db).await?.map(as_run))
}

pub(super) async fn archived_run_by_start_key<C: ConnectionTrait>(
    db: &C,
    key: &str,
) -> Result<Option<run::Model>, Error> {
    Ok(archived_run::Entity::find().filter(archived_run::Column::StartKey.eq(key)).one(db).await?.map(as_run))
}

/// Which of `keys` archived runs were started with (a start key stays taken).
pub(super) async fn archived_start_keys<C: ConnectionTrait>(db: &C, keys: &[String]) -> Result<HashSet<String>, Error> {
    let mut out = HashSet::new();
    for chunk in keys.chunks(500) {
        let rows: Vec<Option<String>> = archived_run::Entity::find()
            .select_only()
            .column(archived_run::Column::StartKey)
            .filter(archived_run::Column::StartKey.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows.into_iter().flatten());
    }
    Ok(out)
}

/// An archived run's timeline rows, oldest first, in the shape of `run_history` rows.
pub(super) async fn archived_timeline<C: ConnectionTrait>(
    db: &C,
    run_id: &str,
) -> Result<Vec<run_history::Model>, Error> {
    Ok(archived_run_history::Entity::find()
        .filter(archived_run_history::Column::RunId.eq(run_id))
        .order_by_asc(archived_run_history::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|h| run_history::Model {
            id: h.id,
            run_id: h.run_id,
            workflow_id: h.workflow_id,
            version: h.version,
            at: h.at,
            node: h.node,
            kind: h.kind,
            data: h.data,
        })
        .collect())
}

/// The archived runs matching `f` (at most its limit, by id); none when it asks for runs
/// still going.
pub(super) async fn archived_runs<C: ConnectionTrait>(db: &C, f: &RunFilter) -> Result<Vec<run::Model>, Error> {
    if f.status.is_some_and(|s| !s.is_ended()) {
        return Ok(Vec::new());
    }
    let mut q = archived_run::Entity::find();
    if let Some(w) = &f.workflow {
        q = q.filter(archived_run::Column::WorkflowId.eq(w.clone()));
    }
    if let Some(c) = &f.contact {
        q = q.filter(archived_run::Column::ContactId.eq(c.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(archived_run::Column::Status.eq(status_name(s)));
    }
    if let Some(n) = &f.node {
        q = q.filter(archived_run::Column::Node.eq(n.clone()));
    }
    if let Some(a) = &f.after {
        q = q.filter(archived_run::Column::Id.gt(a.clone()));
    }
    Ok(q.order_by_asc(archived_run::Column::Id).limit(f.limit).all(db).await?.into_iter().map(as_run).collect())
}

/// Archived runs of `contacts` in `workflows`: (id, contact, workflow, correlation).
pub(super) async fn archived_prior_runs<C: ConnectionTrait>(
    db: &C,
    contacts: &[String],
    workflows: &[String],
) -> Result<Vec<(String, String, String, Option<String>)>, Error> {
    Ok(archived_run::Entity::find()
        .select_only()
        .column(archived_run::Column::Id)
        .column(archived_run::Column::ContactId)
        .column(archived_run::Column::WorkflowId)
        .column(archived_run::Column::Correlation)
        .filter(archived_run::Column::ContactId.is_in(contacts.to_vec()))
        .filter(archived_run::Column::WorkflowId.is_in(workflows.to_vec()))
        .into_tuple()
        .all(db)
        .await?)
}

/// Whether a contact has an archived run.
pub(super) async fn contact_has_archived_runs<C: ConnectionTrait>(db: &C, contact: &str) -> Result<bool, Error> {
    let first: Option<String> = archived_run::Entity::find()
        .select_only()
        .column(archived_run::Column::Id)
        .filter(archived_run::Column::ContactId.eq(contact))
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(first.is_some())
}

/// The tables runs are read from: the hot one and the archive.
pub(super) const RUN_TABLES: [&str; 2] = ["runs", "archived_runs"];
