//! The workspace's delivery settings (quiet hours, frequency caps) and the ledger of
//! marketing messages the caps count.

use super::entity::{delivery_settings, frequency_log};
use super::{Error, from_millis, millis};
use crate::nodes::send::Channel;
use crate::pressure::{DeliverySettings, RecentSend};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use std::collections::HashMap;

/// The one row's id.
const ROW: i32 = 1;

/// The delivery settings as stored (by default: the defaults, never saved).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeliveryRecord {
    pub settings: DeliverySettings,
    /// Bumped by every change; 0 until the settings are first saved.
    pub version: i64,
    /// When they were last changed; `None` until then.
    pub updated_at: Option<DateTime<Utc>>,
}

fn decode(model: delivery_settings::Model) -> Result<DeliveryRecord, Error> {
    let settings = serde_json::from_str(&model.document)
        .map_err(|e| Error::Corrupt { what: "delivery settings", detail: e.to_string() })?;
    Ok(DeliveryRecord {
        settings,
        version: model.version,
        updated_at: (model.version > 0).then(|| from_millis(model.updated_at)),
    })
}

/// The version of the stored settings (0 when never saved): a cheap check whether the
/// settings a worker compiled are still current.
pub async fn delivery_settings_version<C: ConnectionTrait>(db: &C) -> Result<i64, Error> {
    let backend = db.get_database_backend();
    let row = db
        .query_one(Statement::from_string(backend, format!("SELECT version FROM delivery_settings WHERE id = {ROW}")))
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<i64>("", "version")?,
        None => 0,
    })
}

/// The workspace's delivery settings (the defaults, version 0, when never saved).
pub async fn get_delivery_settings<C: ConnectionTrait>(db: &C) -> Result<DeliveryRecord, Error> {
    match delivery_settings::Entity::find_by_id(ROW).one(db).await? {
        Some(model) => decode(model),
        None => Ok(DeliveryRecord::default()),
    }
}

/// Another change was saved first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionConflict {
    /// The version stored now.
    pub current: i64,
}

/// Replace the delivery settings. With `expected`, only if the stored version is still
/// that one (0: never saved); the check and the write are one statement, so two workers
/// saving at once cannot both win.
pub async fn put_delivery_settings<C: ConnectionTrait>(
    db: &C,
    settings: &DeliverySettings,
    expected: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Result<DeliveryRecord, VersionConflict>, Error> {
    let backend = db.get_database_backend();
    let p = |n| super::runs::placeholder(backend, n);
    let defaults = serde_json::to_string(&DeliverySettings::default())
        .map_err(|e| Error::Corrupt { what: "delivery settings", detail: e.to_string() })?;
    db.execute(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO delivery_settings (id, version, document, updated_at) VALUES ({ROW}, 0, {}, {}) \
             ON CONFLICT (id) DO NOTHING",
            p(1),
            p(2)
        ),
        [defaults.into(), millis(now).into()],
    ))
    .await?;
    let document = serde_json::to_string(settings)
        .map_err(|e| Error::Corrupt { what: "delivery settings", detail: e.to_string() })?;
    let mut values: Vec<sea_orm::Value> = vec![document.into(), millis(now).into()];
    let fence = match expected {
        Some(v) => {
            values.push(v.into());
            format!(" AND version = {}", p(3))
        }
        None => String::new(),
    };
    let sql = format!(
        "UPDATE delivery_settings SET version = version + 1, document = {}, updated_at = {} \
         WHERE id = {ROW}{fence} RETURNING version",
        p(1),
        p(2)
    );
    let row = db.query_one(Statement::from_sql_and_values(backend, sql, values)).await?;
    match row {
        Some(r) => Ok(Ok(DeliveryRecord {
            settings: settings.clone(),
            version: r.try_get::<i64>("", "version")?,
            updated_at: Some(now),
        })),
        None => Ok(Err(VersionConflict { current: delivery_settings_version(db).await? })),
    }
}

/// The marketing messages queued for each of `contacts` after `since`, across all
/// journeys (dead letters do not count), oldest first.
pub async fn recent_marketing_sends<C: ConnectionTrait>(
    db: &C,
    contacts: &[String],
    since: DateTime<Utc>,
) -> Result<HashMap<String, Vec<RecentSend>>, Error> {
    let backend = db.get_database_backend();
    let mut ids: Vec<&String> = contacts.iter().collect();
    ids.sort();
    ids.dedup();
    let mut out: HashMap<String, Vec<RecentSend>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let mut values: Vec<sea_orm::Value> = vec![millis(since).into()];
        let marks: Vec<String> = (0..chunk.len()).map(|i| super::runs::placeholder(backend, i + 2)).collect();
        values.extend(chunk.iter().map(|id| (*id).clone().into()));
        let sql = format!(
            "SELECT l.contact_id, l.channel, l.at FROM frequency_log l \
             WHERE l.at > {} AND l.contact_id IN ({}) \
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.key = l.key AND o.status = 'failed') \
             ORDER BY l.at",
            super::runs::placeholder(backend, 1),
            marks.join(", ")
        );
        for row in db.query_all(Statement::from_sql_and_values(backend, sql, values)).await? {
            let contact: String = row.try_get("", "contact_id")?;
            let channel: String = row.try_get("", "channel")?;
            let at: i64 = row.try_get("", "at")?;
            // A channel this version does not know cannot be capped by it.
            let Ok(channel) = serde_json::from_value::<Channel>(serde_json::Value::String(channel)) else { continue };
            out.entry(contact).or_default().push(RecentSend { channel, at: from_millis(at) });
        }
    }
    Ok(out)
}

/// Lock the rows of `contacts` until the transaction ends (PostgreSQL; SQLite has one
/// writer), in id order so that two transactions cannot deadlock on them: a worker that
/// counts a contact's recent sends and then sends waits for another worker doing the same.
pub async fn lock_contacts<C: ConnectionTrait>(db: &C, contacts: &[String]) -> Result<(), Error> {
    let backend = db.get_database_backend();
    if backend != sea_orm::DbBackend::Postgres || contacts.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&String> = contacts.iter().collect();
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| super::runs::placeholder(backend, i)).collect();
        let sql = format!("SELECT id FROM contacts WHERE id IN ({}) ORDER BY id FOR UPDATE", marks.join(", "));
        let values: Vec<sea_orm::Value> = chunk.iter().map(|id| (*id).clone().into()).collect();
        db.query_all(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    Ok(())
}

/// A ledger row for a marketing message queued at `now` (written by [`super::commit`]).
pub(super) fn ledger_row(key: &str, contact: &str, channel: Channel, now_ms: i64) -> frequency_log::ActiveModel {
    use sea_orm::ActiveValue::Set;
    frequency_log::ActiveModel {
        key: Set(key.to_string()),
        contact_id: Set(contact.to_string()),
        channel: Set(super::outbox::channel_name(channel).to_string()),
        at: Set(now_ms),
    }
}
