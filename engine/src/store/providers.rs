//! Delivery providers: configurations with their secrets sealed under the workspace key
//! ([`crate::secrets::Key`], bound to the provider id), so the database alone never
//! gives them away.

use super::entity::provider;
use super::{Error, from_millis, millis};
use crate::delivery::provider::{Config, Guarantee, Kind, RateLimit};
use crate::secrets::Key;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde_json::{Map, Value};

/// A stored provider as it may be shown: everything but the secrets' values.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRecord {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub is_default: bool,
    pub rate_limit: Option<RateLimit>,
    pub guarantee: Guarantee,
    pub settings: Value,
    /// The names of the secrets that are set.
    pub secrets_set: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What changes a stored provider: the fields given replace the stored ones; each secret
/// given replaces that secret (`null` removes it), the others are kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderPatch {
    pub name: Option<String>,
    pub is_default: Option<bool>,
    pub rate_limit: Option<Option<RateLimit>>,
    pub guarantee: Option<Guarantee>,
    pub settings: Option<Value>,
    pub secrets: Map<String, Value>,
}

fn context(id: &str) -> String {
    format!("provider:{id}")
}

fn seal(key: &Key, id: &str, secrets: &Map<String, Value>) -> Vec<u8> {
    let plain = serde_json::to_vec(secrets).unwrap_or_default();
    key.seal(&context(id), &plain)
}

fn open(key: &Key, id: &str, sealed: &[u8]) -> Result<Map<String, Value>, Error> {
    let plain = key
        .open(&context(id), sealed)
        .map_err(|e| Error::Corrupt { what: "provider secrets", detail: format!("provider `{id}`: {e}") })?;
    serde_json::from_slice(&plain).map_err(|e| Error::Corrupt { what: "provider secrets", detail: e.to_string() })
}

fn record(m: provider::Model, secrets_set: Vec<String>) -> Result<ProviderRecord, Error> {
    let kind = Kind::parse(&m.kind).ok_or_else(|| Error::Corrupt { what: "provider kind", detail: m.kind.clone() })?;
    let guarantee = Guarantee::parse(&m.guarantee)
        .ok_or_else(|| Error::Corrupt { what: "provider guarantee", detail: m.guarantee.clone() })?;
    let settings = serde_json::from_str(&m.settings)
        .map_err(|e| Error::Corrupt { what: "provider settings", detail: e.to_string() })?;
    Ok(ProviderRecord {
        id: m.id,
        name: m.name,
        kind,
        is_default: m.is_default,
        rate_limit: m.rate_per_second.map(|per_second| RateLimit { per_second, burst: m.burst.max(1) as u32 }),
        guarantee,
        settings,
        secrets_set,
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    })
}

fn secret_names(secrets: &Map<String, Value>) -> Vec<String> {
    secrets.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.clone()).collect()
}

/// Make `id` the only default of `channel` (the caller's transaction).
async fn clear_other_defaults<C: ConnectionTrait>(db: &C, channel: &str, id: &str) -> Result<(), Error> {
    provider::Entity::update_many()
        .col_expr(provider::Column::IsDefault, Expr::value(false))
        .filter(provider::Column::Channel.eq(channel))
        .filter(provider::Column::Id.ne(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Whether a provider with this id exists.
pub async fn provider_exists<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, Error> {
    Ok(provider::Entity::find_by_id(id.to_string())
        .select_only()
        .column(provider::Column::Id)
        .into_tuple::<String>()
        .one(db)
        .await?
        .is_some())
}

/// Store a new provider (the caller has checked it, and that the id is free).
pub async fn insert_provider<C: ConnectionTrait>(
    db: &C,
    key: &Key,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<ProviderRecord, Error> {
    let channel = super::channel_name(config.channel());
    if config.is_default {
        clear_other_defaults(db, channel, &config.id).await?;
    }
    let m = provider::ActiveModel {
        id: Set(config.id.clone()),
        name: Set(config.name.clone()),
        kind: Set(config.kind.name().to_string()),
        channel: Set(channel.to_string()),
        settings: Set(config.settings.to_string()),
        secrets: Set(seal(key, &config.id, &config.secrets)),
        is_default: Set(config.is_default),
        rate_per_second: Set(config.rate_limit.map(|r| r.per_second)),
        burst: Set(config.rate_limit.map_or(1, |r| r.burst.min(i32::MAX as u32) as i32)),
        guarantee: Set(config.guarantee.name().to_string()),
        created_at: Set(millis(now)),
        updated_at: Set(millis(now)),
    }
    .insert(db)
    .await?;
    record(m, secret_names(&config.secrets))
}

/// A provider's whole configuration, secrets decrypted.
pub async fn get_provider_config<C: ConnectionTrait>(db: &C, key: &Key, id: &str) -> Result<Option<Config>, Error> {
    let Some(m) = provider::Entity::find_by_id(id.to_string()).one(db).await? else { return Ok(None) };
    Ok(Some(config_of(key, m)?))
}

fn config_of(key: &Key, m: provider::Model) -> Result<Config, Error> {
    let secrets = open(key, &m.id, &m.secrets)?;
    let r = record(m, vec![])?;
    Ok(Config {
        id: r.id,
        name: r.name,
        kind: r.kind,
        is_default: r.is_default,
        rate_limit: r.rate_limit,
        guarantee: r.guarantee,
        settings: r.settings,
        secrets,
    })
}

/// Apply `patch` to the stored `config` (as [`get_provider_config`] read it): the new
/// configuration, for the caller to check before [`replace_provider`].
pub fn patched(mut config: Config, patch: ProviderPatch) -> Config {
    if let Some(n) = patch.name {
        config.name = n;
    }
    if let Some(d) = patch.is_default {
        config.is_default = d;
    }
    if let Some(r) = patch.rate_limit {
        config.rate_limit = r;
    }
    if let Some(g) = patch.guarantee {
        config.guarantee = g;
    }
    if let Some(s) = patch.settings {
        config.settings = s;
    }
    for (k, v) in patch.secrets {
        if v.is_null() {
            config.secrets.remove(&k);
        } else {
            config.secrets.insert(k, v);
        }
    }
    config
}

/// Replace a stored provider's configuration (same id and kind).
pub async fn replace_provider<C: ConnectionTrait>(
    db: &C,
    key: &Key,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<ProviderRecord, Error> {
    let channel = super::channel_name(config.channel());
    if config.is_default {
        clear_other_defaults(db, channel, &config.id).await?;
    }
    let Some(existing) = provider::Entity::find_by_id(config.id.clone()).one(db).await? else {
        return Err(Error::Corrupt { what: "provider", detail: format!("`{}` vanished during its update", config.id) });
    };
    let mut m: provider::ActiveModel = existing.into();
    m.name = Set(config.name.clone());
    m.settings = Set(config.settings.to_string());
    m.secrets = Set(seal(key, &config.id, &config.secrets));
    m.is_default = Set(config.is_default);
    m.rate_per_second = Set(config.rate_limit.map(|r| r.per_second));
    m.burst = Set(config.rate_limit.map_or(1, |r| r.burst.min(i32::MAX as u32) as i32));
    m.guarantee = Set(config.guarantee.name().to_string());
    m.updated_at = Set(millis(now));
    let m = m.update(db).await?;
    record(m, secret_names(&config.secrets))
}

/// Delete a provider; false when there was none.
pub async fn delete_provider<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, Error> {
    Ok(provider::Entity::delete_by_id(id.to_string()).exec(db).await?.rows_affected > 0)
}

/// One provider as it may be shown (secret names, no values).
pub async fn get_provider<C: ConnectionTrait>(db: &C, key: &Key, id: &str) -> Result<Option<ProviderRecord>, Error> {
    let Some(m) = provider::Entity::find_by_id(id.to_string()).one(db).await? else { return Ok(None) };
    let names = secret_names(&open(key, &m.id, &m.secrets)?);
    Ok(Some(record(m, names)?))
}

/// Every provider as it may be shown, by id. A provider whose secrets cannot be opened
/// (the key changed) is listed with no secrets set.
pub async fn list_providers<C: ConnectionTrait>(db: &C, key: &Key) -> Result<Vec<ProviderRecord>, Error> {
    let rows = provider::Entity::find().order_by_asc(provider::Column::Id).all(db).await?;
    rows.into_iter()
        .map(|m| {
            let names = open(key, &m.id, &m.secrets).map(|s| secret_names(&s)).unwrap_or_default();
            record(m, names)
        })
        .collect()
}

/// A stored provider that cannot be used as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadableProvider {
    pub id: String,
    pub kind: Option<Kind>,
    pub is_default: bool,
    pub error: String,
}

/// Every provider's configuration, secrets decrypted; a provider that cannot be read
/// comes back with the reason, so the others still work.
pub async fn load_provider_configs<C: ConnectionTrait>(
    db: &C,
    key: Option<&Key>,
) -> Result<Vec<Result<Config, UnreadableProvider>>, Error> {
    let rows = provider::Entity::find().order_by_asc(provider::Column::Id).all(db).await?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let unreadable = |error: String| UnreadableProvider {
                id: m.id.clone(),
                kind: Kind::parse(&m.kind),
                is_default: m.is_default,
                error,
            };
            match key {
                None => Err(unreadable("KAIROS_SECRET_KEY is not set, so its secrets cannot be read".to_string())),
                Some(k) => config_of(k, m.clone()).map_err(|e| unreadable(e.to_string())),
            }
        })
        .collect())
}

/// A stamp that changes whenever a provider is added, changed or removed.
pub async fn providers_stamp<C: ConnectionTrait>(db: &C) -> Result<(i64, i64), Error> {
    let rows: Vec<(String, i64)> = provider::Entity::find()
        .select_only()
        .column(provider::Column::Id)
        .column(provider::Column::UpdatedAt)
        .into_tuple()
        .all(db)
        .await?;
    let sum = rows.iter().fold(0i64, |acc, (id, at)| {
        acc.wrapping_add(at.wrapping_mul(31))
            .wrapping_add(id.bytes().fold(0i64, |h, b| h.wrapping_mul(131).wrapping_add(b as i64)))
    });
    Ok((rows.len() as i64, sum))
}

/// Every provider's id and the channel it delivers (for checking send nodes).
pub async fn provider_channels<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, String)>, Error> {
    Ok(provider::Entity::find()
        .select_only()
        .column(provider::Column::Id)
        .column(provider::Column::Channel)
        .order_by_asc(provider::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

/// [`super::claim_outbox_of`] under `provider`'s rate limit, shared by every worker
/// through its `rate_buckets` row, in the caller's transaction: the row is locked
/// (PostgreSQL `FOR UPDATE`; SQLite has one writer), refilled at `limit.per_second` up to
/// `limit.burst` since it was last counted, at most as many messages as there are whole
/// tokens are leased, and only those leased are taken off. Returns the leased messages
/// and the bucket after them (tokens, counted at).
pub async fn claim_outbox_limited<C: ConnectionTrait>(
    db: &C,
    provider: &str,
    limit: RateLimit,
    now: DateTime<Utc>,
    lease: chrono::TimeDelta,
    wanted: u64,
    lane: super::Lane,
) -> Result<(Vec<super::OutboxItem>, f64, DateTime<Utc>), Error> {
    let backend = db.get_database_backend();
    let p = |n| super::runs::placeholder(backend, n);
    let burst = f64::from(limit.burst.max(1));
    db.execute(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO rate_buckets (provider, tokens, at) VALUES ({}, {}, {}) ON CONFLICT (provider) DO NOTHING",
            p(1),
            p(2),
            p(3)
        ),
        [provider.into(), burst.into(), millis(now).into()],
    ))
    .await?;
    let lock = if backend == sea_orm::DbBackend::Postgres { " FOR UPDATE" } else { "" };
    let row = db
        .query_one(Statement::from_sql_and_values(
            backend,
            format!("SELECT tokens, at FROM rate_buckets WHERE provider = {}{lock}", p(1)),
            [provider.into()],
        ))
        .await?
        .ok_or_else(|| Error::Corrupt { what: "rate bucket", detail: format!("no row for `{provider}`") })?;
    let (tokens, at): (f64, i64) = (row.try_get("", "tokens")?, row.try_get("", "at")?);
    let (mut tokens, at) = crate::delivery::limit::refill(limit, tokens, from_millis(at), now);
    let allowed = (tokens.floor().max(0.0) as u64).min(wanted);
    let claimed = if allowed == 0 { Vec::new() } else { super::claim_outbox_of(db, now, lease, allowed, lane).await? };
    tokens -= claimed.len() as f64;
    db.execute(Statement::from_sql_and_values(
        backend,
        format!("UPDATE rate_buckets SET tokens = {}, at = {} WHERE provider = {}", p(1), p(2), p(3)),
        [tokens.into(), millis(at).into(), provider.into()],
    ))
    .await?;
    Ok((claimed, tokens, at))
}

/// What still sends through `provider`: the published versions (`<journey> v<version>`)
/// that are live or still have unfinished runs and whose send nodes name it, and how
/// many of its messages are queued. Any of these makes deleting it lose messages.
pub async fn provider_uses<C: ConnectionTrait>(db: &C, provider: &str) -> Result<(Vec<String>, u64), Error> {
    let backend = db.get_database_backend();
    let sql = "SELECT v.workflow_id, v.version, v.definition FROM workflow_versions v \
               WHERE EXISTS (SELECT 1 FROM workflows w WHERE w.id = v.workflow_id AND w.status = 'live' \
                             AND w.live_version = v.version) \
               OR EXISTS (SELECT 1 FROM runs r WHERE r.workflow_id = v.workflow_id AND r.version = v.version \
                          AND r.status IN ('active', 'waiting')) \
               ORDER BY v.workflow_id, v.version";
    let mut journeys = Vec::new();
    for row in db.query_all(Statement::from_string(backend, sql)).await? {
        let (id, version, definition): (String, i32, String) =
            (row.try_get("", "workflow_id")?, row.try_get("", "version")?, row.try_get("", "definition")?);
        let doc: Value = serde_json::from_str(&definition)
            .map_err(|e| Error::Corrupt { what: "workflow version", detail: e.to_string() })?;
        let names = doc["nodes"]
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|n| n["type"] == "send" && n["provider"].as_str() == Some(provider)));
        if names {
            journeys.push(format!("{id} v{version}"));
        }
    }
    let queued = super::entity::outbox::Entity::find()
        .filter(super::entity::outbox::Column::Provider.eq(provider))
        .filter(super::entity::outbox::Column::Status.eq("pending"))
        .count(db)
        .await?;
    Ok((journeys, queued))
}
