//! The outbox (messages waiting for delivery) and the built-in inbox channel.

use super::entity::{message, outbox, run, run_history};
use super::{Error, from_millis, millis};
use crate::nodes::send::{Channel, Rendered};
use crate::run::{Entry, What};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

pub use crate::nodes::send::channel_name;

/// Which channels' messages an outbox query takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channels {
    All,
    Only(Vec<Channel>),
    Except(Vec<Channel>),
}

impl Channels {
    /// The SQL condition (channel names are fixed words, never user input).
    fn condition(&self) -> String {
        let list = |cs: &[Channel]| cs.iter().map(|c| format!("'{}'", channel_name(*c))).collect::<Vec<_>>().join(", ");
        match self {
            Channels::All => String::new(),
            Channels::Only(cs) if cs.is_empty() => " AND 1 = 0".into(),
            Channels::Only(cs) => format!(" AND channel IN ({})", list(cs)),
            Channels::Except(cs) if cs.is_empty() => String::new(),
            Channels::Except(cs) => format!(" AND channel NOT IN ({})", list(cs)),
        }
    }
}

/// Which outbox messages a dispatcher lane takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lane {
    /// By channel only (whatever provider they name).
    Channels(Channels),
    /// One route's: of `channel`, naming `provider`, or naming none when it is the default.
    Route { channel: Channel, provider: Option<String>, default: bool },
    /// The inbox's: naming no provider, on a channel without a default provider.
    Inbox { defaulted: Vec<Channel> },
    /// Naming a provider not in `known`, queued before `created_before` (so a provider
    /// another worker has just added is not mistaken for a missing one).
    Orphans { known: Vec<String>, created_before: DateTime<Utc> },
}

impl From<Channels> for Lane {
    fn from(c: Channels) -> Lane {
        Lane::Channels(c)
    }
}

/// A SQL string literal (provider ids are checked slugs; quotes are doubled regardless).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Lane {
    fn condition(&self) -> String {
        match self {
            Lane::Channels(c) => c.condition(),
            Lane::Route { channel, provider, default } => {
                let c = channel_name(*channel);
                match (provider, default) {
                    (Some(p), true) => {
                        format!(" AND channel = '{c}' AND (provider = {} OR provider IS NULL)", literal(p))
                    }
                    (Some(p), false) => format!(" AND channel = '{c}' AND provider = {}", literal(p)),
                    (None, true) => format!(" AND channel = '{c}' AND provider IS NULL"),
                    (None, false) => " AND 1 = 0".into(),
                }
            }
            Lane::Inbox { defaulted } => {
                format!(" AND provider IS NULL{}", Channels::Except(defaulted.clone()).condition())
            }
            Lane::Orphans { known, created_before } => {
                let mut c = format!(" AND provider IS NOT NULL AND created_at < {}", millis(*created_before));
                if !known.is_empty() {
                    let list: Vec<String> = known.iter().map(|k| literal(k)).collect();
                    c.push_str(&format!(" AND provider NOT IN ({})", list.join(", ")));
                }
                c
            }
        }
    }
}

/// A message to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub key: String,
    pub run_id: String,
    pub workflow_id: String,
    pub contact_id: String,
    pub node: String,
    pub message: Rendered,
    /// Delivery attempts so far, this one included.
    pub attempts: u32,
    /// Earlier attempts whose outcome was recorded: fewer than `attempts - 1` means an
    /// attempt vanished in a crash (it may or may not have reached the provider).
    pub recorded_attempts: u32,
    /// The provider named by the send node.
    pub provider: Option<String>,
    /// A run waits for the outcome (it keeps a webhook's response).
    pub awaited: bool,
}

impl OutboxItem {
    /// Whether an earlier attempt ended without a recorded outcome (a crash or a lease
    /// that ran out mid-delivery).
    pub fn has_vanished_attempt(&self) -> bool {
        self.attempts.saturating_sub(1) > self.recorded_attempts
    }
}

/// A delivered message in the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: i64,
    pub key: String,
    pub run_id: String,
    pub workflow_id: String,
    pub contact_id: String,
    pub node: String,
    pub message: Rendered,
    pub created_at: DateTime<Utc>,
}

/// Whether an outbox row's message may still go out, by consent: [`BLOCKED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Messages that may be delivered.
    Allowed,
    /// Messages that may not: to be skipped.
    Blocked,
}

/// The SQL condition over an `outbox` row that its message may no longer go out: its
/// email address is suppressed, or it is a marketing message and its contact has since
/// unsubscribed from its channel or opted out of its topic. The same rules as
/// [`crate::consent::Subscriptions::check`], which says why when a row is skipped.
const BLOCKED: &str = "(EXISTS (SELECT 1 FROM suppressions s WHERE s.address = outbox.address) \
     OR (outbox.transactional = FALSE AND EXISTS (SELECT 1 FROM contact_consents c \
     WHERE c.contact_id = outbox.contact_id AND c.status = 'unsubscribed' \
     AND (c.scope = 'channel:' || outbox.channel OR c.scope = 'topic:' || outbox.topic))))";

/// The subquery of the messages among the oldest parameter-3 pending messages of
/// `channels` due at parameter 2 that `gate` lets through (parameter 1 is the caller's).
/// Consent is checked on that batch only, so the work per call is bounded by its size
/// however many messages are queued; a blocked message in it is skipped by
/// [`skip_blocked`] first, and an allowed one beyond it waits for the next call.
fn due_ids(backend: sea_orm::DbBackend, channels: &Lane, gate: Gate) -> String {
    let p = |n| super::runs::placeholder(backend, n);
    let consent = match gate {
        Gate::Allowed => format!("NOT {BLOCKED}"),
        Gate::Blocked => BLOCKED.to_string(),
    };
    // Joined by id, so the batch's rows are looked up by key rather than the table scanned.
    format!(
        "(SELECT outbox.id FROM (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= {}{} \
         ORDER BY next_attempt_at LIMIT {}{}) AS due JOIN outbox ON outbox.id = due.id WHERE {consent})",
        p(2),
        channels.condition(),
        p(3),
        super::runs::skip_locked(backend)
    )
}

/// Skip up to `limit` due messages of `channels` that consent no longer lets out: each
/// is marked `skipped` with the reason, and its run's timeline gets a
/// `delivery_skipped` entry, in the caller's transaction. Returns how many.
pub async fn skip_blocked<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
    channels: &Lane,
) -> Result<usize, Error> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT * FROM outbox WHERE next_attempt_at <= {} AND id IN {}",
        super::runs::placeholder(backend, 1),
        due_ids(backend, channels, Gate::Blocked)
    );
    let values: [sea_orm::Value; 3] = [millis(now).into(), millis(now).into(), (limit as i64).into()];
    let rows =
        outbox::Entity::find().from_raw_sql(Statement::from_sql_and_values(backend, sql, values)).all(db).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // Why, by the engine's own rules: the contacts' statuses and the addresses' records.
    let contacts: Vec<&str> = rows.iter().map(|r| r.contact_id.as_str()).collect();
    let subscriptions = super::consent::subscriptions_of_contacts(db, &contacts).await?;
    let addresses: Vec<String> = rows.iter().filter_map(|r| r.address.clone()).collect();
    let suppressed = super::consent::suppressions_of(db, &addresses).await?;
    let versions = run_versions(db, rows.iter().map(|r| r.run_id.clone()).collect()).await?;
    let mut skipped = 0;
    for row in rows {
        let message: Rendered = serde_json::from_str(&row.payload)
            .map_err(|e| Error::Corrupt { what: "outbox payload", detail: e.to_string() })?;
        let suppression = row.address.as_ref().and_then(|a| suppressed.get(a));
        let mut subs = subscriptions.get(&row.contact_id).cloned().unwrap_or_default();
        subs.email_suppressed = suppression.is_some();
        let Err(blocked) = subs.check(message.channel(), row.transactional, row.topic.as_deref()) else { continue };
        let reason = match (&blocked, suppression) {
            (crate::consent::Blocked::Suppressed, Some(s)) => format!(
                "the address {} is suppressed since {} ({} reported by {}); no email goes to it, not even transactional",
                s.address,
                s.created_at.to_rfc3339(),
                s.reason.describe(),
                s.provider
            ),
            _ => format!("{blocked} (since the message was queued)"),
        };
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("skipped"))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(Option::<i64>::None))
            .col_expr(outbox::Column::LastError, Expr::value(reason.clone()))
            .filter(outbox::Column::Id.eq(row.id))
            .filter(outbox::Column::Status.eq("pending"))
            .exec(db)
            .await?;
        tracing::info!(key = %row.key, channel = %row.channel, "Delivery skipped: consent changed or the address is suppressed");
        skipped += 1;
        if row.awaited {
            wake_awaiting(db, &[row.id], now).await?;
        }
        // A run erased with its contact has no timeline left to tell.
        let Some(version) = versions.get(&row.run_id) else { continue };
        let what = What::DeliverySkipped { key: row.key.clone(), channel: message.channel(), reason };
        let (kind, data) = super::runs::history_parts(&Entry { at: now, node: Some(row.node.clone()), what })?;
        run_history::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            run_id: Set(row.run_id),
            workflow_id: Set(row.workflow_id),
            version: Set(*version),
            at: Set(millis(now)),
            node: Set(Some(row.node)),
            kind: Set(kind),
            data: Set(data),
        }
        .insert(db)
        .await?;
    }
    Ok(skipped)
}

/// The version of each of these runs that still exists.
async fn run_versions<C: ConnectionTrait>(
    db: &C,
    mut ids: Vec<String>,
) -> Result<std::collections::HashMap<String, i32>, Error> {
    ids.sort();
    ids.dedup();
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, i32)> = run::Entity::find()
            .select_only()
            .column(run::Column::Id)
            .column(run::Column::Version)
            .filter(run::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// Lease up to `limit` pending messages of `channels` whose attempt time has come; each
/// attempt counts. Messages consent no longer lets out are skipped first ([`skip_blocked`])
/// and never leased.
pub async fn claim_outbox_of<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: u64,
    channels: impl Into<Lane>,
) -> Result<Vec<OutboxItem>, Error> {
    let channels = channels.into();
    skip_blocked(db, now, limit, &channels).await?;
    let backend = db.get_database_backend();
    let sql = format!(
        "UPDATE outbox SET next_attempt_at = {}, attempts = attempts + 1 WHERE id IN {} RETURNING *",
        super::runs::placeholder(backend, 1),
        due_ids(backend, &channels, Gate::Allowed)
    );
    let values: [sea_orm::Value; 3] = [millis(now + lease).into(), millis(now).into(), (limit as i64).into()];
    let mut rows =
        outbox::Entity::find().from_raw_sql(Statement::from_sql_and_values(backend, sql, values)).all(db).await?;
    rows.sort_by_key(|r| r.id);
    rows.into_iter()
        .map(|r| {
            let message = serde_json::from_str(&r.payload)
                .map_err(|e| Error::Corrupt { what: "outbox payload", detail: e.to_string() })?;
            Ok(OutboxItem {
                id: r.id,
                key: r.key,
                run_id: r.run_id,
                workflow_id: r.workflow_id,
                contact_id: r.contact_id,
                node: r.node,
                message,
                attempts: r.attempts as u32,
                recorded_attempts: r.recorded_attempts.max(0) as u32,
                provider: r.provider,
                awaited: r.awaited,
            })
        })
        .collect()
}

/// Deliver to the built-in inbox: store each message once per idempotency key and mark
/// it sent, in the caller's transaction (so a crash can neither lose nor double it).
pub async fn deliver_to_inbox<C: ConnectionTrait>(
    db: &C,
    items: &[OutboxItem],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if items.is_empty() {
        return Ok(());
    }
    let rows: Vec<message::ActiveModel> = items
        .iter()
        .map(|i| message::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            key: Set(i.key.clone()),
            run_id: Set(i.run_id.clone()),
            workflow_id: Set(i.workflow_id.clone()),
            contact_id: Set(i.contact_id.clone()),
            node: Set(i.node.clone()),
            channel: Set(channel_name(i.message.channel()).to_string()),
            payload: Set(serde_json::to_string(&i.message).unwrap_or_default()),
            created_at: Set(millis(now)),
        })
        .collect();
    for chunk in rows.chunks(1000) {
        message::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::column(message::Column::Key).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
    }
    let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
    for chunk in ids.chunks(1000) {
        mark(db, chunk, "sent", Some(millis(now)), None, None).await?;
    }
    let awaited: Vec<i64> = items.iter().filter(|i| i.awaited).map(|i| i.id).collect();
    wake_awaiting(db, &awaited, now).await
}

/// The inbox's own dispatch: take up to `limit` due messages, store them in the inbox (once
/// per idempotency key) and mark them sent, all in the caller's transaction, so no lease
/// is needed. Returns how many were delivered.
pub async fn deliver_due_to_inbox<C: ConnectionTrait>(db: &C, now: DateTime<Utc>, limit: u64) -> Result<usize, Error> {
    deliver_due_to_inbox_of(db, now, limit, Channels::All).await
}

/// [`deliver_due_to_inbox`] for some channels only (the others have real deliverers).
/// Messages consent no longer lets out are skipped ([`skip_blocked`]), not delivered.
pub async fn deliver_due_to_inbox_of<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
    channels: impl Into<Lane>,
) -> Result<usize, Error> {
    let channels = channels.into();
    skip_blocked(db, now, limit, &channels).await?;
    let backend = db.get_database_backend();
    let sql = format!(
        "UPDATE outbox SET status = 'sent', sent_at = {}, next_attempt_at = NULL, attempts = attempts + 1, \
         recorded_attempts = attempts + 1, last_error = NULL WHERE id IN {} RETURNING *",
        super::runs::placeholder(backend, 1),
        due_ids(backend, &channels, Gate::Allowed)
    );
    let values: [sea_orm::Value; 3] = [millis(now).into(), millis(now).into(), (limit as i64).into()];
    let mut sent =
        outbox::Entity::find().from_raw_sql(Statement::from_sql_and_values(backend, sql, values)).all(db).await?;
    sent.sort_by_key(|r| r.id);
    let n = sent.len();
    let awaited: Vec<i64> = sent.iter().filter(|r| r.awaited).map(|r| r.id).collect();
    wake_awaiting(db, &awaited, now).await?;
    let rows: Vec<message::ActiveModel> = sent
        .into_iter()
        .map(|r| message::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            key: Set(r.key),
            run_id: Set(r.run_id),
            workflow_id: Set(r.workflow_id),
            contact_id: Set(r.contact_id),
            node: Set(r.node),
            channel: Set(r.channel),
            payload: Set(r.payload),
            created_at: Set(millis(now)),
        })
        .collect();
    for chunk in rows.chunks(1000) {
        message::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::column(message::Column::Key).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
    }
    Ok(n)
}

/// Record an outcome on the messages among `ids` that have none yet (still `pending`):
/// a worker that stalled past its lease must not overwrite what another worker recorded
/// meanwhile (its `sent` with a retry, say). Returns how many were recorded.
async fn mark<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    status: &str,
    sent_at: Option<i64>,
    next: Option<i64>,
    error: Option<&str>,
) -> Result<u64, Error> {
    let done = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(status))
        .col_expr(outbox::Column::SentAt, Expr::value(sent_at))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(next))
        .col_expr(outbox::Column::LastError, Expr::value(error.map(str::to_string)))
        .col_expr(outbox::Column::RecordedAttempts, Expr::col(outbox::Column::Attempts).into())
        .filter(outbox::Column::Id.is_in(ids.to_vec()))
        .filter(outbox::Column::Status.eq("pending"))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// Delivered by a channel outside the store: done. Runs waiting for one of these
/// messages are woken.
pub async fn mark_sent<C: ConnectionTrait>(db: &C, ids: &[i64], now: DateTime<Utc>) -> Result<(), Error> {
    for chunk in ids.chunks(1000) {
        mark(db, chunk, "sent", Some(millis(now)), None, None).await?;
        wake_awaiting(db, chunk, now).await?;
    }
    Ok(())
}

/// Keep the answer of an awaited webhook (`{"status": 201, "body": …}`) for its run.
pub async fn record_response<C: ConnectionTrait>(db: &C, id: i64, response: &serde_json::Value) -> Result<(), Error> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Response, Expr::value(response.to_string()))
        .filter(outbox::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Make the runs waiting for the awaited messages among `ids` due now, so they take the
/// outcome at once: in the transaction that records it. (A run whose wake is lost to a
/// concurrent step still looks again by itself at its wait's `check_at`.)
pub async fn wake_awaiting<C: ConnectionTrait>(db: &C, ids: &[i64], now: DateTime<Utc>) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    let sql = format!(
        "UPDATE runs SET wake_at = {} WHERE status = 'waiting' AND id IN \
         (SELECT run_id FROM outbox WHERE awaited = {} AND id IN ({}))",
        super::runs::placeholder(backend, 1),
        super::runs::placeholder(backend, 2),
        list.join(", ")
    );
    db.execute(Statement::from_sql_and_values(backend, sql, [millis(now).into(), true.into()])).await?;
    Ok(())
}

/// Where each of the messages `keys` stands, for the runs waiting for them.
pub async fn delivery_results<C: ConnectionTrait>(
    db: &C,
    keys: &[String],
) -> Result<std::collections::HashMap<String, crate::run::DeliveryResult>, Error> {
    use crate::run::{DeliveryResult, DeliveryStatus};
    let mut out = std::collections::HashMap::new();
    for chunk in keys.chunks(500) {
        let rows: Vec<(String, String, Option<String>)> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Key)
            .column(outbox::Column::Status)
            .column(outbox::Column::Response)
            .filter(outbox::Column::Key.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        for (key, status, response) in rows {
            let status = match status.as_str() {
                "sent" => DeliveryStatus::Sent,
                "failed" => DeliveryStatus::Failed,
                "unknown" => DeliveryStatus::Unknown,
                "skipped" => DeliveryStatus::Skipped,
                _ => DeliveryStatus::Pending,
            };
            let response: Option<serde_json::Value> = response.and_then(|r| serde_json::from_str(&r).ok());
            let http_status = response
                .as_ref()
                .and_then(|r| r.get("status"))
                .and_then(serde_json::Value::as_u64)
                .and_then(|s| u16::try_from(s).ok());
            let body = response.and_then(|mut r| r.get_mut("body").map(serde_json::Value::take));
            out.insert(key.clone(), DeliveryResult { key, status, http_status, response: body });
        }
    }
    Ok(out)
}

/// A transient failure: try again at `at`.
pub async fn retry_later<C: ConnectionTrait>(db: &C, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), Error> {
    mark(db, &[id], "pending", None, Some(millis(at)), Some(error)).await.map(drop)
}

/// A permanent failure (or too many attempts): give up. The message stays in the outbox
/// as `failed` with its error (the dead letter), and the run's timeline gets a
/// `delivery_failed` entry.
pub async fn give_up<C: ConnectionTrait>(
    db: &C,
    item: &OutboxItem,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if mark(db, &[item.id], "failed", None, None, Some(error)).await? == 0 {
        return Ok(()); // another worker recorded its outcome meanwhile
    }
    wake_awaiting(db, &[item.id], now).await?;
    let what = What::DeliveryFailed {
        key: item.key.clone(),
        channel: item.message.channel(),
        attempts: item.attempts,
        error: error.to_string(),
    };
    record_on_timeline(db, item, what, now).await
}

/// An at-most-once provider's message whose attempt may or may not have reached the
/// provider: not sent again. It stays in the outbox as `unknown` with why, and the run's
/// timeline gets a `delivery_unknown` entry.
pub async fn mark_unknown<C: ConnectionTrait>(
    db: &C,
    item: &OutboxItem,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if mark(db, &[item.id], "unknown", None, None, Some(error)).await? == 0 {
        return Ok(()); // another worker recorded its outcome meanwhile
    }
    wake_awaiting(db, &[item.id], now).await?;
    let what = What::DeliveryUnknown {
        key: item.key.clone(),
        channel: item.message.channel(),
        attempts: item.attempts,
        error: error.to_string(),
    };
    record_on_timeline(db, item, what, now).await
}

async fn record_on_timeline<C: ConnectionTrait>(
    db: &C,
    item: &OutboxItem,
    what: What,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let version: Option<i32> = run::Entity::find_by_id(item.run_id.clone())
        .select_only()
        .column(run::Column::Version)
        .into_tuple()
        .one(db)
        .await?;
    // A run erased with its contact has no timeline left to tell.
    let Some(version) = version else { return Ok(()) };
    let (kind, data) = super::runs::history_parts(&Entry { at: now, node: Some(item.node.clone()), what })?;
    run_history::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        run_id: Set(item.run_id.clone()),
        workflow_id: Set(item.workflow_id.clone()),
        version: Set(version),
        at: Set(millis(now)),
        node: Set(Some(item.node.clone())),
        kind: Set(kind),
        data: Set(data),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Pending messages (for metrics).
pub async fn outbox_backlog<C: ConnectionTrait>(db: &C) -> Result<u64, Error> {
    Ok(outbox::Entity::find().filter(outbox::Column::Status.eq("pending")).count(db).await?)
}

/// Inbox messages, oldest first, optionally for one contact or run, after a cursor id.
pub async fn list_messages<C: ConnectionTrait>(
    db: &C,
    contact: Option<&str>,
    run: Option<&str>,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<MessageRecord>, Error> {
    let mut q = message::Entity::find();
    if let Some(c) = contact {
        q = q.filter(message::Column::ContactId.eq(c));
    }
    if let Some(r) = run {
        q = q.filter(message::Column::RunId.eq(r));
    }
    if let Some(a) = after {
        q = q.filter(message::Column::Id.gt(a));
    }
    q.order_by_asc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            let message = serde_json::from_str(&m.payload)
                .map_err(|e| Error::Corrupt { what: "message", detail: e.to_string() })?;
            Ok(MessageRecord {
                id: m.id,
                key: m.key,
                run_id: m.run_id,
                workflow_id: m.workflow_id,
                contact_id: m.contact_id,
                node: m.node,
                message,
                created_at: from_millis(m.created_at),
            })
        })
        .collect()
}

/// Count of inbox messages (all, for tests and benchmarks).
pub async fn count_messages<C: ConnectionTrait>(db: &C) -> Result<u64, Error> {
    Ok(message::Entity::find().count(db).await?)
}

/// Distinct idempotency keys among inbox messages.
pub async fn count_distinct_message_keys<C: ConnectionTrait>(db: &C) -> Result<u64, Error> {
    let keys: Vec<String> =
        message::Entity::find().select_only().column(message::Column::Key).distinct().into_tuple().all(db).await?;
    Ok(keys.len() as u64)
}

/// Where a message stands in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Delivered.
    Sent,
    /// Given up: a permanent failure or too many attempts (the dead letter).
    Failed,
    /// An at-most-once provider's message that may or may not have been delivered (an
    /// attempt timed out or vanished in a crash): reported, never sent again.
    Unknown,
    /// Not delivered: before it went out, its contact unsubscribed (or opted out of its
    /// topic) or its address was suppressed.
    Skipped,
}

impl OutboxStatus {
    pub fn name(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Unknown => "unknown",
            OutboxStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxStatus> {
        match s {
            "pending" => Some(OutboxStatus::Pending),
            "sent" => Some(OutboxStatus::Sent),
            "failed" => Some(OutboxStatus::Failed),
            "unknown" => Some(OutboxStatus::Unknown),
            "skipped" => Some(OutboxStatus::Skipped),
            _ => None,
        }
    }
}

/// A message in the outbox, with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    pub id: i64,
    pub key: String,
    pub run_id: String,
    pub workflow_id: String,
    pub contact_id: String,
    pub node: String,
    pub message: Rendered,
    pub status: OutboxStatus,
    /// Whether the message is transactional (delivery ignores opt-outs).
    pub transactional: bool,
    /// The topic of a marketing message.
    pub topic: Option<String>,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Outbox messages, oldest first, optionally by status, contact or run, after a cursor id.
pub async fn list_outbox<C: ConnectionTrait>(
    db: &C,
    status: Option<OutboxStatus>,
    contact: Option<&str>,
    run: Option<&str>,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<OutboxRecord>, Error> {
    let mut q = outbox::Entity::find();
    if let Some(s) = status {
        q = q.filter(outbox::Column::Status.eq(s.name()));
    }
    if let Some(c) = contact {
        q = q.filter(outbox::Column::ContactId.eq(c));
    }
    if let Some(r) = run {
        q = q.filter(outbox::Column::RunId.eq(r));
    }
    if let Some(a) = after {
        q = q.filter(outbox::Column::Id.gt(a));
    }
    q.order_by_asc(outbox::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            let message = serde_json::from_str(&m.payload)
                .map_err(|e| Error::Corrupt { what: "outbox payload", detail: e.to_string() })?;
            let status = OutboxStatus::parse(&m.status)
                .ok_or_else(|| Error::Corrupt { what: "outbox status", detail: m.status.clone() })?;
            Ok(OutboxRecord {
                id: m.id,
                key: m.key,
                run_id: m.run_id,
                workflow_id: m.workflow_id,
                contact_id: m.contact_id,
                node: m.node,
                message,
                status,
                transactional: m.transactional,
                topic: m.topic,
                attempts: m.attempts.max(0) as u32,
                next_attempt_at: m.next_attempt_at.map(from_millis),
                created_at: from_millis(m.created_at),
                sent_at: m.sent_at.map(from_millis),
                last_error: m.last_error,
            })
        })
        .collect()
}
