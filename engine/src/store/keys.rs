//! API keys. Only a SHA-256 hash of each key is stored; the key itself is shown once.

use super::entity::api_key;
use super::{Error, from_millis, millis};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use sha2::{Digest, Sha256};

/// A stored key (without its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn decode(m: api_key::Model) -> ApiKeyRecord {
    ApiKeyRecord {
        id: m.id,
        name: m.name,
        prefix: m.prefix,
        created_at: from_millis(m.created_at),
        revoked_at: m.revoked_at.map(from_millis),
    }
}

/// A new random secret: `kairos_` and 64 hex digits (256 random bits).
pub fn new_secret() -> String {
    format!("kairos_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Store a key for `secret` (idempotent: an existing key with that secret is returned).
pub async fn insert_key<C: ConnectionTrait>(
    db: &C,
    name: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<ApiKeyRecord, Error> {
    let h = hash(secret);
    if let Some(existing) = api_key::Entity::find().filter(api_key::Column::Hash.eq(h.clone())).one(db).await? {
        return Ok(decode(existing));
    }
    let model = api_key::Model {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_string(),
        prefix: secret.chars().take(12).collect(),
        hash: h,
        created_at: millis(now),
        revoked_at: None,
    };
    api_key::Entity::insert(api_key::ActiveModel {
        id: Set(model.id.clone()),
        name: Set(model.name.clone()),
        prefix: Set(model.prefix.clone()),
        hash: Set(model.hash.clone()),
        created_at: Set(model.created_at),
        revoked_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(decode(model))
}

/// The live key with this secret, if any.
pub async fn verify_key<C: ConnectionTrait>(db: &C, secret: &str) -> Result<Option<ApiKeyRecord>, Error> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::Hash.eq(hash(secret)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .map(decode))
}

pub async fn list_keys<C: ConnectionTrait>(db: &C) -> Result<Vec<ApiKeyRecord>, Error> {
    Ok(api_key::Entity::find()
        .order_by_asc(api_key::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(decode)
        .collect())
}

pub async fn count_live_keys<C: ConnectionTrait>(db: &C) -> Result<u64, Error> {
    Ok(api_key::Entity::find().filter(api_key::Column::RevokedAt.is_null()).count(db).await?)
}

/// Revoke a key by id or prefix. Returns the key, or `None` if unknown.
pub async fn revoke_key<C: ConnectionTrait>(
    db: &C,
    id_or_prefix: &str,
    now: DateTime<Utc>,
) -> Result<Option<ApiKeyRecord>, Error> {
    let found = api_key::Entity::find()
        .filter(api_key::Column::Id.eq(id_or_prefix).or(api_key::Column::Prefix.eq(id_or_prefix)))
        .one(db)
        .await?;
    let Some(m) = found else { return Ok(None) };
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, millis(now).into())
        .filter(api_key::Column::Id.eq(m.id.clone()))
        .exec(db)
        .await?;
    Ok(api_key::Entity::find_by_id(m.id).one(db).await?.map(decode))
}
