//! Contacts and events.

use super::entity::{contact, event, frequency_log, message, outbox, subscription};
use super::{Error, from_millis, millis};
use crate::contact::{Contact, Event};
use crate::nodes::update_contact::Change;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A stored contact.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRecord {
    pub contact: Contact,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn decode(m: contact::Model) -> Result<ContactRecord, Error> {
    let corrupt = |e: serde_json::Error| Error::Corrupt { what: "contact", detail: format!("{}: {e}", m.id) };
    let attributes: Map<String, Value> = serde_json::from_str(&m.attributes).map_err(corrupt)?;
    let tags: BTreeSet<String> = serde_json::from_str(&m.tags).map_err(corrupt)?;
    Ok(ContactRecord {
        contact: Contact { id: m.id, attributes, tags, ..Contact::default() },
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    })
}

fn encode(c: &Contact, created: i64, updated: i64) -> contact::ActiveModel {
    contact::ActiveModel {
        id: Set(c.id.clone()),
        attributes: Set(Value::Object(c.attributes.clone()).to_string()),
        tags: Set(serde_json::to_string(&c.tags).unwrap_or_else(|_| "[]".into())),
        created_at: Set(created),
        updated_at: Set(updated),
    }
}

/// A contact's row, without its subscriptions.
async fn get_row<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<ContactRecord>, Error> {
    contact::Entity::find_by_id(id.to_string()).one(db).await?.map(decode).transpose()
}

/// A contact with its subscriptions (what the step function sees).
pub async fn get_contact<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<ContactRecord>, Error> {
    let Some(mut record) = get_row(db, id).await? else { return Ok(None) };
    super::consent::load_subscriptions(db, [&mut record.contact]).await?;
    Ok(Some(record))
}

/// Several contacts by id with their subscriptions, in one query each per 500 ids.
pub async fn get_contacts<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Contact>, Error> {
    let mut unique: Vec<&String> = ids.iter().collect();
    unique.sort();
    unique.dedup();
    let mut out = std::collections::HashMap::with_capacity(unique.len());
    for chunk in unique.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(|s| (*s).clone()).collect();
        for m in contact::Entity::find().filter(contact::Column::Id.is_in(chunk)).all(db).await? {
            let r = decode(m)?;
            out.insert(r.contact.id.clone(), r.contact);
        }
    }
    super::consent::load_subscriptions(db, out.values_mut()).await?;
    Ok(out)
}

/// Contacts by id, after the cursor `after`.
pub async fn list_contacts<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<ContactRecord>, Error> {
    let mut q = contact::Entity::find();
    if let Some(a) = after {
        q = q.filter(contact::Column::Id.gt(a));
    }
    q.order_by_asc(contact::Column::Id).limit(limit).all(db).await?.into_iter().map(decode).collect()
}

/// How attributes given for a contact combine with what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Set the given attributes, keep the others (`identify`, `PATCH`); `null` removes one.
    Merge,
    /// Replace all attributes and tags (`PUT`).
    Replace,
}

/// Create or update a contact. Returns it as stored and whether it was created.
/// `cause` says who changed it (`api`, `identify`, ...), for the lifecycle stage history.
pub async fn upsert_contact<C: ConnectionTrait>(
    db: &C,
    id: &str,
    attributes: Map<String, Value>,
    tags: Option<BTreeSet<String>>,
    merge: Merge,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<(ContactRecord, bool), Error> {
    let existing = get_row(db, id).await?;
    let created = existing.is_none();
    let before = existing.as_ref().map(|r| r.contact.clone());
    let (mut contact, created_at) = match existing {
        Some(r) => (r.contact, millis(r.created_at)),
        None => (Contact::new(id), millis(now)),
    };
    match merge {
        Merge::Replace => {
            contact.attributes = attributes.into_iter().filter(|(_, v)| !v.is_null()).collect();
            contact.tags = tags.unwrap_or_default();
        }
        Merge::Merge => {
            for (k, v) in attributes {
                if v.is_null() {
                    contact.attributes.remove(&k);
                } else {
                    contact.attributes.insert(k, v);
                }
            }
            if let Some(t) = tags {
                contact.tags = t;
            }
        }
    }
    save(db, &contact, created_at, now).await?;
    if let Some(arrival) = super::audience::diff(before.as_ref(), &contact, cause) {
        super::audience::enqueue(db, &[(id, arrival)], now).await?;
    }
    super::consent::load_subscriptions(db, [&mut contact]).await?;
    Ok((ContactRecord { contact, created_at: from_millis(created_at), updated_at: now }, created))
}

/// Save attributes the audience computed (score, stage, RFM) without queueing them for
/// the audience again. False when the contact no longer exists.
pub async fn save_computed<C: ConnectionTrait>(db: &C, contact: &Contact, now: DateTime<Utc>) -> Result<bool, Error> {
    let Some(record) = get_row(db, &contact.id).await? else { return Ok(false) };
    save(db, contact, millis(record.created_at), now).await?;
    Ok(true)
}

async fn save<C: ConnectionTrait>(db: &C, contact: &Contact, created_at: i64, now: DateTime<Utc>) -> Result<(), Error> {
    contact::Entity::insert(encode(contact, created_at, millis(now)))
        .on_conflict(
            OnConflict::column(contact::Column::Id)
                .update_columns([contact::Column::Attributes, contact::Column::Tags, contact::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Apply a run's contact changes to the stored contact. Increments add to the stored
/// value (not the value the run computed), so concurrent runs never lose points.
pub async fn apply_changes<C: ConnectionTrait>(
    db: &C,
    id: &str,
    changes: &[Change],
    cause: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let Some(record) = get_row(db, id).await? else { return Ok(()) };
    let before = record.contact.clone();
    let mut c = record.contact;
    for change in changes {
        match change {
            Change::Set { attribute, value } => {
                c.attributes.insert(attribute.clone(), value.clone());
            }
            Change::Unset { attribute } => {
                c.attributes.remove(attribute);
            }
            Change::Increment { attribute, by, .. } => {
                if let Ok(sum) = crate::nodes::update_contact::add(c.attributes.get(attribute), by) {
                    c.attributes.insert(attribute.clone(), sum);
                }
            }
            Change::AddTag { tag } => {
                c.tags.insert(tag.clone());
            }
            Change::RemoveTag { tag } => {
                c.tags.remove(tag);
            }
            Change::Skipped { .. } => {}
        }
    }
    save(db, &c, millis(record.created_at), now).await?;
    if let Some(arrival) = super::audience::diff(Some(&before), &c, cause) {
        super::audience::enqueue(db, &[(id, arrival)], now).await?;
    }
    Ok(())
}

/// Erase a contact: its attributes, events and messages are deleted; its runs are
/// cancelled and their stored data scrubbed (their counts stay in the journey's stats).
/// Returns false if there was no such contact.
pub async fn delete_contact<C: ConnectionTrait>(db: &C, id: &str, now: DateTime<Utc>) -> Result<bool, Error> {
    let existed = contact::Entity::delete_by_id(id.to_string()).exec(db).await?.rows_affected > 0;
    super::runs::cancel_contact_runs(db, id, now).await?;
    event::Entity::delete_many().filter(event::Column::ContactId.eq(id)).exec(db).await?;
    message::Entity::delete_many().filter(message::Column::ContactId.eq(id)).exec(db).await?;
    outbox::Entity::delete_many().filter(outbox::Column::ContactId.eq(id)).exec(db).await?;
    frequency_log::Entity::delete_many().filter(frequency_log::Column::ContactId.eq(id)).exec(db).await?;
    subscription::Entity::delete_many().filter(subscription::Column::ContactId.eq(id)).exec(db).await?;
    super::consent::clear_consents(db, id).await?;
    super::audience::erase_audience(db, id).await?;
    // The hot tables first, then the archive: a run the sweep moved meanwhile is scrubbed
    // there (on PostgreSQL the hot statements wait for the sweep's transaction).
    for (runs, history) in [("runs", "run_history"), ("archived_runs", "archived_run_history")] {
        scrub_runs(db, id, runs, history).await?;
    }
    Ok(existed)
}

/// Scrub personal values from the runs of contact `id` in `runs_table` and their timelines
/// in `history_table`, keeping each entry readable.
async fn scrub_runs<C: ConnectionTrait>(db: &C, id: &str, runs_table: &str, history_table: &str) -> Result<(), Error> {
    let backend = db.get_database_backend();
    let p = |n| super::runs::placeholder(backend, n);
    let rows = db
        .query_all(Statement::from_sql_and_values(
            backend,
            format!("SELECT id, state FROM {runs_table} WHERE contact_id = {}", p(1)),
            [id.into()],
        ))
        .await?;
    let mut runs: Vec<(String, String)> = Vec::with_capacity(rows.len());
    for row in rows {
        runs.push((row.try_get("", "id")?, row.try_get("", "state")?));
    }
    let run_ids: Vec<String> = runs.iter().map(|(id, _)| id.clone()).collect();
    let in_list = |first: usize, n: usize| (first + 1..=first + n).map(p).collect::<Vec<_>>().join(", ");
    for chunk in run_ids.chunks(500) {
        let ids = chunk.iter().map(|id| sea_orm::Value::from(id.clone()));
        for (kind, scrubbed) in [
            ("decision", r#"{"port":"(erased)","compared":[]}"#),
            ("contact_updated", r#"{"changes":[]}"#),
            ("entered", r#"{"trigger":"(erased)"}"#),
        ] {
            let sql = format!(
                "UPDATE {history_table} SET data = {} WHERE kind = {} AND run_id IN ({})",
                p(1),
                p(2),
                in_list(2, chunk.len())
            );
            let mut values: Vec<sea_orm::Value> = vec![scrubbed.into(), kind.into()];
            values.extend(ids.clone());
            db.execute(Statement::from_sql_and_values(backend, sql, values)).await?;
        }
        // A failed delivery's error may quote the receiver's answer about the contact, and a
        // skipped delivery's reason names the contact's address.
        let sql = format!(
            "SELECT id, kind, data FROM {history_table} WHERE kind IN ('delivery_failed', 'delivery_skipped') \
             AND run_id IN ({})",
            in_list(0, chunk.len())
        );
        for row in db.query_all(Statement::from_sql_and_values(backend, sql, ids.collect::<Vec<_>>())).await? {
            let (entry, kind, data): (i64, String, String) =
                (row.try_get("", "id")?, row.try_get("", "kind")?, row.try_get("", "data")?);
            let mut data: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
            let field = if kind == "delivery_failed" { "error" } else { "reason" };
            if let Some(map) = data.as_object_mut() {
                map.insert(field.into(), "(erased)".into());
            }
            let sql = format!("UPDATE {history_table} SET data = {} WHERE id = {}", p(1), p(2));
            db.execute(Statement::from_sql_and_values(backend, sql, [data.to_string().into(), entry.into()])).await?;
        }
    }
    for (run_id, state) in runs {
        if let Ok(mut state) = serde_json::from_str::<crate::run::Run>(&state) {
            state.trigger.properties.clear();
            state.event = None;
            let text = serde_json::to_string(&state).unwrap_or_default();
            let sql = format!("UPDATE {runs_table} SET state = {} WHERE id = {}", p(1), p(2));
            db.execute(Statement::from_sql_and_values(backend, sql, [text.into(), run_id.into()])).await?;
        }
    }
    Ok(())
}

/// Store many events in as few statements as the database allows. One flag per event:
/// false when its `message_id` was stored already or came earlier in `events` (a retried
/// delivery), in which case that event was not written.
pub async fn insert_events<C: ConnectionTrait>(
    db: &C,
    events: &[(&str, &Event)],
    now: DateTime<Utc>,
) -> Result<Vec<bool>, Error> {
    let mut fresh = vec![true; events.len()];
    let mut seen = std::collections::HashSet::new();
    let mut keyed: Vec<usize> = Vec::new();
    let mut plain = Vec::new();
    for (i, (contact_id, e)) in events.iter().enumerate() {
        match &e.message_id {
            Some(id) if !seen.insert(id.as_str()) => fresh[i] = false,
            Some(_) => keyed.push(i),
            None => plain.push(event::ActiveModel {
                seq: sea_orm::ActiveValue::NotSet,
                message_id: Set(None),
                contact_id: Set((*contact_id).to_string()),
                name: Set(e.name.clone()),
                properties: Set(Value::Object(e.properties.clone()).to_string()),
                timestamp: Set(millis(e.timestamp)),
                received_at: Set(millis(now)),
            }),
        }
    }
    for chunk in plain.chunks(1000) {
        event::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    // Events with a message id: `ON CONFLICT DO NOTHING RETURNING` tells which were new.
    let backend = db.get_database_backend();
    for chunk in keyed.chunks(1000) {
        let mut insert = sea_orm::sea_query::Query::insert();
        insert
            .into_table(event::Entity)
            .columns([
                event::Column::MessageId,
                event::Column::ContactId,
                event::Column::Name,
                event::Column::Properties,
                event::Column::Timestamp,
                event::Column::ReceivedAt,
            ])
            .on_conflict(OnConflict::column(event::Column::MessageId).do_nothing().to_owned())
            .returning_col(event::Column::MessageId);
        for &i in chunk {
            let (contact_id, e) = events[i];
            let row: [sea_orm::Value; 6] = [
                e.message_id.clone().into(),
                contact_id.to_string().into(),
                e.name.clone().into(),
                Value::Object(e.properties.clone()).to_string().into(),
                millis(e.timestamp).into(),
                millis(now).into(),
            ];
            insert
                .values(row.into_iter().map(|v| Expr::val(v).into()))
                .map_err(|e| Error::Db(sea_orm::DbErr::Custom(e.to_string())))?;
        }
        let stored: std::collections::HashSet<String> = db
            .query_all(backend.build(&insert))
            .await?
            .into_iter()
            .map(|row| row.try_get::<String>("", "message_id"))
            .collect::<Result<_, _>>()?;
        for &i in chunk {
            fresh[i] = events[i].1.message_id.as_ref().is_some_and(|id| stored.contains(id));
        }
    }
    // The audience (segments, stages, scores) sees every new event.
    let arrivals: Vec<(&str, super::audience::Arrival)> = events
        .iter()
        .zip(&fresh)
        .filter(|(_, new)| **new)
        .map(|((contact_id, e), _)| {
            let mut e = (*e).clone();
            e.message_id = None;
            (*contact_id, super::audience::Arrival::Event { event: e })
        })
        .collect();
    super::audience::enqueue(db, &arrivals, now).await?;
    Ok(fresh)
}

/// Make sure contacts exist (events may come before `identify`); returns them all.
pub async fn ensure_contacts<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<std::collections::HashMap<String, Contact>, Error> {
    let mut found = get_contacts(db, ids).await?;
    let mut missing: Vec<&String> = ids.iter().filter(|id| !found.contains_key(*id)).collect();
    missing.sort();
    missing.dedup();
    let rows: Vec<contact::ActiveModel> =
        missing.iter().map(|id| encode(&Contact::new(id.as_str()), millis(now), millis(now))).collect();
    for chunk in rows.chunks(1000) {
        contact::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::column(contact::Column::Id).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
    }
    for id in missing {
        found.insert(id.clone(), Contact::new(id.as_str()));
    }
    Ok(found)
}

/// The events the given contacts sent that were stored at or after `since`, in the order
/// they were stored: what a run of theirs that started listening at `since` may have missed.
pub async fn events_received_since<C: ConnectionTrait>(
    db: &C,
    contacts: &[String],
    since: DateTime<Utc>,
) -> Result<std::collections::HashMap<String, Vec<Event>>, Error> {
    let mut out: std::collections::HashMap<String, Vec<Event>> = std::collections::HashMap::new();
    for chunk in contacts.chunks(500) {
        let rows = event::Entity::find()
            .filter(event::Column::ContactId.is_in(chunk.to_vec()))
            .filter(event::Column::ReceivedAt.gte(millis(since)))
            .order_by_asc(event::Column::Seq)
            .all(db)
            .await?;
        for m in rows {
            out.entry(m.contact_id).or_default().push(Event {
                name: m.name,
                properties: serde_json::from_str(&m.properties).unwrap_or_default(),
                timestamp: from_millis(m.timestamp),
                message_id: m.message_id,
            });
        }
    }
    Ok(out)
}
