//! The audience: segments and their members, lifecycle stage changes, the audience
//! settings, the queue of contact changes and events not processed yet, and schedule ticks.

use super::entity::{
    audience_queue, audience_settings, contact, event, schedule_tick, segment, segment_change, segment_member,
    stage_change,
};
use super::{Error, from_millis, millis};
use crate::audience::{Segment, Settings};
use crate::contact::{Contact, Event};
use crate::history::Events;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

// ----- The queue -----

/// What a queued item says happened to a contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// Attributes changed (name → [old, new], `null` for missing) or tags changed; `created`
    /// for a new contact.
    Changed {
        #[serde(default)]
        attributes: BTreeMap<String, (Value, Value)>,
        #[serde(default)]
        created: bool,
        cause: String,
    },
    /// An event arrived.
    Event { event: Event },
}

/// A queued item.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub contact_id: String,
    pub arrival: Arrival,
}

/// How `before` became `after`, as a queue item (`None` when nothing changed).
pub fn diff(before: Option<&Contact>, after: &Contact, cause: &str) -> Option<Arrival> {
    let empty = Map::new();
    let old = before.map_or(&empty, |c| &c.attributes);
    let mut attributes = BTreeMap::new();
    for (k, v) in &after.attributes {
        if old.get(k) != Some(v) {
            attributes.insert(k.clone(), (old.get(k).cloned().unwrap_or(Value::Null), v.clone()));
        }
    }
    for (k, v) in old {
        if !after.attributes.contains_key(k) {
            attributes.insert(k.clone(), (v.clone(), Value::Null));
        }
    }
    let tags_changed = before.is_some_and(|b| b.tags != after.tags);
    if attributes.is_empty() && !tags_changed && before.is_some() {
        return None;
    }
    Some(Arrival::Changed { attributes, created: before.is_none(), cause: cause.to_string() })
}

fn queue_row(contact_id: &str, arrival: &Arrival, now: DateTime<Utc>) -> audience_queue::ActiveModel {
    let kind = match arrival {
        Arrival::Changed { .. } => "changed",
        Arrival::Event { .. } => "event",
    };
    audience_queue::ActiveModel {
        id: NotSet,
        contact_id: Set(contact_id.to_string()),
        kind: Set(kind.into()),
        data: Set(serde_json::to_string(arrival).unwrap_or_default()),
        at: Set(millis(now)),
    }
}

/// Queue what happened to contacts, for the audience to process.
pub async fn enqueue<C: ConnectionTrait>(db: &C, items: &[(&str, Arrival)], now: DateTime<Utc>) -> Result<(), Error> {
    let rows: Vec<audience_queue::ActiveModel> = items.iter().map(|(id, a)| queue_row(id, a, now)).collect();
    for chunk in rows.chunks(500) {
        audience_queue::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// The oldest queued items, at most `limit`.
pub async fn queued<C: ConnectionTrait>(db: &C, limit: u64) -> Result<Vec<Queued>, Error> {
    let rows = audience_queue::Entity::find().order_by_asc(audience_queue::Column::Id).limit(limit).all(db).await?;
    rows.into_iter()
        .map(|r| {
            let arrival = serde_json::from_str(&r.data)
                .map_err(|e| Error::Corrupt { what: "audience queue item", detail: format!("{}: {e}", r.id) })?;
            Ok(Queued { id: r.id, contact_id: r.contact_id, arrival })
        })
        .collect()
}

/// How many items wait in the queue.
pub async fn queue_len<C: ConnectionTrait>(db: &C) -> Result<u64, Error> {
    Ok(audience_queue::Entity::find().count(db).await?)
}

/// Remove processed items.
pub async fn dequeue<C: ConnectionTrait>(db: &C, ids: &[i64]) -> Result<(), Error> {
    for chunk in ids.chunks(500) {
        audience_queue::Entity::delete_many().filter(audience_queue::Column::Id.is_in(chunk.to_vec())).exec(db).await?;
    }
    Ok(())
}

// ----- Settings -----

/// The audience settings, or the defaults when none were saved.
pub async fn get_audience_settings<C: ConnectionTrait>(db: &C) -> Result<Settings, Error> {
    match audience_settings::Entity::find_by_id(1).one(db).await? {
        Some(row) => serde_json::from_str(&row.data)
            .map_err(|e| Error::Corrupt { what: "audience settings", detail: e.to_string() }),
        None => Ok(Settings::default()),
    }
}

/// Save the audience settings (checked by the caller).
pub async fn put_audience_settings<C: ConnectionTrait>(
    db: &C,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let row = audience_settings::ActiveModel {
        id: Set(1),
        data: Set(serde_json::to_string(settings).unwrap_or_default()),
        updated_at: Set(millis(now)),
    };
    audience_settings::Entity::insert(row)
        .on_conflict(
            OnConflict::column(audience_settings::Column::Id)
                .update_columns([audience_settings::Column::Data, audience_settings::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

// ----- Segments -----

/// A stored segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRecord {
    pub segment: Segment,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn decode_segment(m: segment::Model) -> Result<SegmentRecord, Error> {
    let condition = serde_json::from_str(&m.definition)
        .map_err(|e| Error::Corrupt { what: "segment", detail: format!("{}: {e}", m.id) })?;
    Ok(SegmentRecord {
        segment: Segment { id: m.id, name: m.name, description: m.description, condition },
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    })
}

pub async fn list_segments<C: ConnectionTrait>(db: &C) -> Result<Vec<SegmentRecord>, Error> {
    segment::Entity::find().order_by_asc(segment::Column::Id).all(db).await?.into_iter().map(decode_segment).collect()
}

pub async fn get_segment<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<SegmentRecord>, Error> {
    segment::Entity::find_by_id(id.to_string()).one(db).await?.map(decode_segment).transpose()
}

/// Create (`created` true) or replace a segment. Returns false when creating an id that exists.
pub async fn save_segment<C: ConnectionTrait>(
    db: &C,
    s: &Segment,
    create: bool,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let existing = segment::Entity::find_by_id(s.id.clone()).one(db).await?;
    if create && existing.is_some() {
        return Ok(false);
    }
    let row = segment::ActiveModel {
        id: Set(s.id.clone()),
        name: Set(s.name.clone()),
        description: Set(s.description.clone()),
        definition: Set(serde_json::to_string(&s.condition).unwrap_or_default()),
        created_at: Set(existing.map_or(millis(now), |e| e.created_at)),
        updated_at: Set(millis(now)),
    };
    segment::Entity::insert(row)
        .on_conflict(
            OnConflict::column(segment::Column::Id)
                .update_columns([
                    segment::Column::Name,
                    segment::Column::Description,
                    segment::Column::Definition,
                    segment::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(true)
}

/// Delete a segment with its members and history. False when there was none.
pub async fn delete_segment<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, Error> {
    let existed = segment::Entity::delete_by_id(id.to_string()).exec(db).await?.rows_affected > 0;
    segment_member::Entity::delete_many().filter(segment_member::Column::SegmentId.eq(id)).exec(db).await?;
    segment_change::Entity::delete_many().filter(segment_change::Column::SegmentId.eq(id)).exec(db).await?;
    Ok(existed)
}

/// Members per segment now.
pub async fn segment_sizes<C: ConnectionTrait>(db: &C) -> Result<HashMap<String, i64>, Error> {
    let rows: Vec<(String, i64)> = segment_member::Entity::find()
        .select_only()
        .column(segment_member::Column::SegmentId)
        .column_as(Expr::col(segment_member::Column::ContactId).count(), "n")
        .group_by(segment_member::Column::SegmentId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// A page of a segment's members, by contact id after `after`.
pub async fn segment_members<C: ConnectionTrait>(
    db: &C,
    segment_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<(String, DateTime<Utc>)>, Error> {
    let mut q = segment_member::Entity::find().filter(segment_member::Column::SegmentId.eq(segment_id));
    if let Some(a) = after {
        q = q.filter(segment_member::Column::ContactId.gt(a));
    }
    Ok(q.order_by_asc(segment_member::Column::ContactId)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.contact_id, from_millis(m.entered_at)))
        .collect())
}

/// Entries into and exits from a segment in `[from, to)`: (time, entered).
pub async fn segment_changes<C: ConnectionTrait>(
    db: &C,
    segment_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, bool)>, Error> {
    let rows: Vec<(i64, bool)> = segment_change::Entity::find()
        .select_only()
        .column(segment_change::Column::At)
        .column(segment_change::Column::Entered)
        .filter(segment_change::Column::SegmentId.eq(segment_id))
        .filter(segment_change::Column::At.gte(millis(from)))
        .filter(segment_change::Column::At.lt(millis(to)))
        .order_by_asc(segment_change::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(at, e)| (from_millis(at), e)).collect())
}

/// The segments each contact is in.
pub async fn memberships<C: ConnectionTrait>(
    db: &C,
    contact_ids: &[String],
) -> Result<HashMap<String, BTreeSet<String>>, Error> {
    let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
    for chunk in contact_ids.chunks(500) {
        for m in segment_member::Entity::find()
            .filter(segment_member::Column::ContactId.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            out.entry(m.contact_id).or_default().insert(m.segment_id);
        }
    }
    Ok(out)
}

/// Record a contact entering (`entered`) or leaving a segment. False when the membership
/// was already so (another worker recorded it).
pub async fn set_member<C: ConnectionTrait>(
    db: &C,
    segment_id: &str,
    contact_id: &str,
    entered: bool,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let changed = if entered {
        let row = segment_member::ActiveModel {
            segment_id: Set(segment_id.into()),
            contact_id: Set(contact_id.into()),
            entered_at: Set(millis(now)),
        };
        segment_member::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([segment_member::Column::SegmentId, segment_member::Column::ContactId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?
            == 1
    } else {
        segment_member::Entity::delete_many()
            .filter(segment_member::Column::SegmentId.eq(segment_id))
            .filter(segment_member::Column::ContactId.eq(contact_id))
            .exec(db)
            .await?
            .rows_affected
            == 1
    };
    if changed {
        segment_change::Entity::insert(segment_change::ActiveModel {
            id: NotSet,
            segment_id: Set(segment_id.into()),
            contact_id: Set(contact_id.into()),
            entered: Set(entered),
            at: Set(millis(now)),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(changed)
}

/// Every member's id of a segment.
pub async fn segment_member_ids<C: ConnectionTrait>(db: &C, segment_id: &str) -> Result<Vec<String>, Error> {
    Ok(segment_member::Entity::find()
        .select_only()
        .column(segment_member::Column::ContactId)
        .filter(segment_member::Column::SegmentId.eq(segment_id))
        .order_by_asc(segment_member::Column::ContactId)
        .into_tuple()
        .all(db)
        .await?)
}

// ----- Contacts and events for the audience -----

/// A page of contact ids, in id order, after `after`.
pub async fn contact_ids_after<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<String>, Error> {
    let mut q = contact::Entity::find().select_only().column(contact::Column::Id);
    if let Some(a) = after {
        q = q.filter(contact::Column::Id.gt(a));
    }
    Ok(q.order_by_asc(contact::Column::Id).limit(limit).into_tuple().all(db).await?)
}

/// The events called one of `names` of each contact.
pub async fn histories<C: ConnectionTrait>(
    db: &C,
    contact_ids: &[String],
    names: &BTreeSet<String>,
) -> Result<HashMap<String, Events>, Error> {
    let mut out: HashMap<String, Events> = HashMap::new();
    if names.is_empty() {
        return Ok(out);
    }
    let names: Vec<String> = names.iter().cloned().collect();
    for chunk in contact_ids.chunks(500) {
        let rows: Vec<(String, String, String, i64)> = event::Entity::find()
            .select_only()
            .column(event::Column::ContactId)
            .column(event::Column::Name)
            .column(event::Column::Properties)
            .column(event::Column::Timestamp)
            .filter(event::Column::ContactId.is_in(chunk.to_vec()))
            .filter(event::Column::Name.is_in(names.clone()))
            .into_tuple()
            .all(db)
            .await?;
        for (contact_id, name, properties, timestamp) in rows {
            let properties = serde_json::from_str(&properties).unwrap_or_default();
            out.entry(contact_id).or_default().push(Event {
                name,
                properties,
                timestamp: from_millis(timestamp),
                message_id: None,
            });
        }
    }
    Ok(out)
}

/// Every event called `name`, oldest stored first, page by page: `f(contact, properties, time)`.
async fn scan_events<C: ConnectionTrait>(
    db: &C,
    name: &str,
    with_properties: bool,
    mut f: impl FnMut(String, Option<String>, DateTime<Utc>),
) -> Result<(), Error> {
    let mut after = 0i64;
    loop {
        let mut q = event::Entity::find().select_only().column(event::Column::Seq).column(event::Column::ContactId);
        q = q.column(event::Column::Timestamp);
        if with_properties {
            q = q.column(event::Column::Properties);
        } else {
            q = q.column_as(Expr::value(Option::<String>::None), "properties");
        }
        let rows: Vec<(i64, String, i64, Option<String>)> = q
            .filter(event::Column::Name.eq(name))
            .filter(event::Column::Seq.gt(after))
            .order_by_asc(event::Column::Seq)
            .limit(5000)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = last.0;
        for (_, contact_id, timestamp, properties) in rows {
            f(contact_id, properties, from_millis(timestamp));
        }
    }
}

/// Per contact with at least one `name` event: the last time, how many, and the sum of the
/// number at `amount` (dotted path).
pub async fn purchase_figures<C: ConnectionTrait>(
    db: &C,
    name: &str,
    amount: &str,
) -> Result<HashMap<String, crate::audience::Purchases>, Error> {
    let path: Vec<String> = amount.split('.').map(str::to_owned).collect();
    let mut out: HashMap<String, crate::audience::Purchases> = HashMap::new();
    scan_events(db, name, true, |contact_id, properties, timestamp| {
        let props: Map<String, Value> = properties.and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default();
        let e = Event { name: name.into(), properties: props, timestamp, message_id: None };
        let value = e.property(&path).and_then(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        });
        let p = out.entry(contact_id).or_insert(crate::audience::Purchases { last: timestamp, count: 0, amount: 0.0 });
        p.last = p.last.max(timestamp);
        p.count += 1;
        p.amount += value.unwrap_or(0.0);
    })
    .await?;
    Ok(out)
}

// ----- Lifecycle stages -----

/// A recorded stage change.
#[derive(Debug, Clone, PartialEq)]
pub struct StageChange {
    pub contact_id: String,
    pub from: Option<String>,
    pub to: String,
    pub at: DateTime<Utc>,
    pub cause: String,
}

pub async fn record_stage_change<C: ConnectionTrait>(db: &C, c: &StageChange) -> Result<(), Error> {
    stage_change::Entity::insert(stage_change::ActiveModel {
        id: NotSet,
        contact_id: Set(c.contact_id.clone()),
        from_stage: Set(c.from.clone()),
        to_stage: Set(c.to.clone()),
        at: Set(millis(c.at)),
        cause: Set(c.cause.clone()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

fn decode_stage(m: stage_change::Model) -> StageChange {
    StageChange { contact_id: m.contact_id, from: m.from_stage, to: m.to_stage, at: from_millis(m.at), cause: m.cause }
}

/// A contact's stage changes, oldest first.
pub async fn stage_changes_of<C: ConnectionTrait>(db: &C, contact_id: &str) -> Result<Vec<StageChange>, Error> {
    Ok(stage_change::Entity::find()
        .filter(stage_change::Column::ContactId.eq(contact_id))
        .order_by_asc(stage_change::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(decode_stage)
        .collect())
}

/// Every stage change in `[from, to)`, oldest first.
pub async fn stage_changes_between<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<StageChange>, Error> {
    Ok(stage_change::Entity::find()
        .filter(stage_change::Column::At.gte(millis(from)))
        .filter(stage_change::Column::At.lt(millis(to)))
        .order_by_asc(stage_change::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(decode_stage)
        .collect())
}

/// Forget a contact's audience data (erasure).
pub async fn erase_audience<C: ConnectionTrait>(db: &C, contact_id: &str) -> Result<(), Error> {
    segment_member::Entity::delete_many().filter(segment_member::Column::ContactId.eq(contact_id)).exec(db).await?;
    segment_change::Entity::delete_many().filter(segment_change::Column::ContactId.eq(contact_id)).exec(db).await?;
    stage_change::Entity::delete_many().filter(stage_change::Column::ContactId.eq(contact_id)).exec(db).await?;
    audience_queue::Entity::delete_many().filter(audience_queue::Column::ContactId.eq(contact_id)).exec(db).await?;
    Ok(())
}

// ----- Schedule ticks -----

/// The latest tick recorded for a workflow (schedule ticks, and how far date triggers were checked).
pub async fn last_tick<C: ConnectionTrait>(db: &C, workflow_id: &str) -> Result<Option<DateTime<Utc>>, Error> {
    let t: Option<i64> = schedule_tick::Entity::find()
        .select_only()
        .column_as(Expr::col(schedule_tick::Column::TickAt).max(), "t")
        .filter(schedule_tick::Column::WorkflowId.eq(workflow_id))
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(t.map(from_millis))
}

/// Record a tick as fired. False when it was recorded before (it fires once).
pub async fn claim_tick<C: ConnectionTrait>(
    db: &C,
    workflow_id: &str,
    tick: DateTime<Utc>,
    runs: i64,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let row = schedule_tick::ActiveModel {
        workflow_id: Set(workflow_id.into()),
        tick_at: Set(millis(tick)),
        fired_at: Set(millis(now)),
        runs: Set(runs),
    };
    Ok(schedule_tick::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([schedule_tick::Column::WorkflowId, schedule_tick::Column::TickAt])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?
        == 1)
}

/// Set how many contacts a tick entered (`-1` while it is still entering them).
pub async fn finish_tick<C: ConnectionTrait>(
    db: &C,
    workflow_id: &str,
    tick: DateTime<Utc>,
    runs: i64,
) -> Result<(), Error> {
    schedule_tick::Entity::update_many()
        .col_expr(schedule_tick::Column::Runs, Expr::value(runs))
        .filter(schedule_tick::Column::WorkflowId.eq(workflow_id))
        .filter(schedule_tick::Column::TickAt.eq(millis(tick)))
        .exec(db)
        .await?;
    Ok(())
}

/// Ticks of a workflow that started entering contacts but did not finish (a crash).
pub async fn unfinished_ticks<C: ConnectionTrait>(db: &C, workflow_id: &str) -> Result<Vec<DateTime<Utc>>, Error> {
    Ok(schedule_tick::Entity::find()
        .filter(schedule_tick::Column::WorkflowId.eq(workflow_id))
        .filter(schedule_tick::Column::Runs.lt(0))
        .all(db)
        .await?
        .into_iter()
        .map(|t| from_millis(t.tick_at))
        .collect())
}

/// Remember only the latest check of a date trigger (earlier rows are not needed).
pub async fn prune_ticks<C: ConnectionTrait>(db: &C, workflow_id: &str, before: DateTime<Utc>) -> Result<(), Error> {
    schedule_tick::Entity::delete_many()
        .filter(schedule_tick::Column::WorkflowId.eq(workflow_id))
        .filter(schedule_tick::Column::TickAt.lt(millis(before)))
        .exec(db)
        .await?;
    Ok(())
}

/// The ticks a schedule fired, newest first, with how many contacts entered.
pub async fn ticks_of<C: ConnectionTrait>(
    db: &C,
    workflow_id: &str,
    limit: u64,
) -> Result<Vec<(DateTime<Utc>, i64)>, Error> {
    Ok(schedule_tick::Entity::find()
        .filter(schedule_tick::Column::WorkflowId.eq(workflow_id))
        .order_by_desc(schedule_tick::Column::TickAt)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|t| (from_millis(t.tick_at), t.runs))
        .collect())
}

/// How many runs have a start key beginning with `prefix` (a schedule tick's runs).
pub async fn runs_with_key_prefix<C: ConnectionTrait>(db: &C, prefix: &str) -> Result<u64, Error> {
    use super::entity::{archived_run, run};
    let hot = run::Entity::find().filter(run::Column::StartKey.starts_with(prefix)).count(db).await?;
    let archived =
        archived_run::Entity::find().filter(archived_run::Column::StartKey.starts_with(prefix)).count(db).await?;
    Ok(hot + archived)
}

/// On PostgreSQL: wait for the audience's advisory lock, held until the transaction ends,
/// so the audience work of several workers never overlaps. SQLite has one writer anyway.
pub async fn audience_lock<C: ConnectionTrait>(db: &C) -> Result<(), Error> {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        db.execute_unprepared("SELECT pg_advisory_xact_lock(7263402471)").await?;
    }
    Ok(())
}

// ----- Reports -----

/// Contacts per lifecycle stage now (`None`: no stage), read page by page.
pub async fn stage_counts<C: ConnectionTrait>(db: &C) -> Result<BTreeMap<Option<String>, u64>, Error> {
    let mut out: BTreeMap<Option<String>, u64> = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let mut q =
            contact::Entity::find().select_only().column(contact::Column::Id).column(contact::Column::Attributes);
        if let Some(a) = &after {
            q = q.filter(contact::Column::Id.gt(a.clone()));
        }
        let rows: Vec<(String, String)> = q.order_by_asc(contact::Column::Id).limit(5000).into_tuple().all(db).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.0.clone());
        for (_, attributes) in rows {
            let attrs: Map<String, Value> = serde_json::from_str(&attributes).unwrap_or_default();
            let stage = attrs.get(crate::audience::STAGE_ATTRIBUTE).and_then(Value::as_str).map(str::to_owned);
            *out.entry(stage).or_default() += 1;
        }
    }
    Ok(out)
}

/// When each contact performed `name`.
pub async fn event_times<C: ConnectionTrait>(db: &C, name: &str) -> Result<HashMap<String, Vec<DateTime<Utc>>>, Error> {
    let mut out: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    scan_events(db, name, false, |contact_id, _, t| out.entry(contact_id).or_default().push(t)).await?;
    Ok(out)
}

/// Per workflow: runs started in `[from, to)` and how many of them converted.
pub async fn goal_conversions<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<String, super::Converted>, Error> {
    let backend = db.get_database_backend();
    let mut out: HashMap<String, super::Converted> = HashMap::new();
    // Runs still hot and those archived (a run is in exactly one of the two).
    for table in super::retention::RUN_TABLES {
        let sql = format!(
            "SELECT workflow_id, COUNT(*) AS entered, COUNT(converted_at) AS converted FROM {table} \
             WHERE started_at >= $1 AND started_at < $2 GROUP BY workflow_id"
        );
        let values: Vec<sea_orm::Value> = vec![millis(from).into(), millis(to).into()];
        for row in db
            .query_all(sea_orm::Statement::from_sql_and_values(backend, super::runs::fix(&sql, backend), values))
            .await?
        {
            let c = out.entry(row.try_get("", "workflow_id")?).or_default();
            c.entered += row.try_get::<i64>("", "entered")?.max(0) as u64;
            c.converted += row.try_get::<i64>("", "converted")?.max(0) as u64;
        }
    }
    Ok(out)
}

/// The published journeys (not archived) whose trigger names `segment`.
pub async fn segment_users<C: ConnectionTrait>(db: &C, segment: &str) -> Result<Vec<String>, Error> {
    Ok(super::published_definitions(db)
        .await?
        .into_iter()
        .filter(|(_, doc)| doc.pointer("/trigger/segment").and_then(Value::as_str) == Some(segment))
        .map(|(id, _)| id)
        .collect())
}
