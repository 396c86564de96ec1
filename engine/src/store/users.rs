//! Users who sign in to the editor, and their sessions.
//!
//! A user's password is stored as the PHC string the caller hashed it to (argon2 in the
//! server); a session is stored as the SHA-256 of its token, so a copy of the database
//! does not let anyone sign in. Sessions expire; [`touch_session`] slides the expiry.

use super::entity::{session, user};
use super::{Error, from_millis, millis};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sha2::{Digest, Sha256};

/// A user (with the hash of their password, to verify a sign-in).
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    /// Lowercase email address; unique.
    pub email: String,
    /// The password's hash as a PHC string (`$argon2id$...`).
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn decode_user(m: user::Model) -> UserRecord {
    UserRecord {
        id: m.id,
        email: m.email,
        password_hash: m.password_hash,
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    }
}

pub async fn count_users<C: ConnectionTrait>(db: &C) -> Result<u64, Error> {
    Ok(user::Entity::find().count(db).await?)
}

pub async fn user_by_email<C: ConnectionTrait>(db: &C, email: &str) -> Result<Option<UserRecord>, Error> {
    Ok(user::Entity::find().filter(user::Column::Email.eq(email)).one(db).await?.map(decode_user))
}

/// Create a user. `None` if the email is taken.
pub async fn create_user<C: ConnectionTrait>(
    db: &C,
    email: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<UserRecord>, Error> {
    if user_by_email(db, email).await?.is_some() {
        return Ok(None);
    }
    let model = user::Model {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.to_string(),
        password_hash: password_hash.to_string(),
        created_at: millis(now),
        updated_at: millis(now),
    };
    user::Entity::insert(user::ActiveModel {
        id: Set(model.id.clone()),
        email: Set(model.email.clone()),
        password_hash: Set(model.password_hash.clone()),
        created_at: Set(model.created_at),
        updated_at: Set(model.updated_at),
    })
    .exec_without_returning(db)
    .await?;
    Ok(Some(decode_user(model)))
}

/// Replace a user's password hash and end their sessions. False if there is no such user.
pub async fn set_password<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let n = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, password_hash.into())
        .col_expr(user::Column::UpdatedAt, millis(now).into())
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?
        .rows_affected;
    session::Entity::delete_many().filter(session::Column::UserId.eq(user_id)).exec(db).await?;
    Ok(n > 0)
}

/// A signed-in session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub user_id: String,
    pub email: String,
    /// The token a request authenticated by this session must repeat in `X-CSRF-Token`.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Store a new session for `token` (only its hash is kept). Expired sessions are removed
/// at the same time.
pub async fn create_session<C: ConnectionTrait>(
    db: &C,
    user: &UserRecord,
    token: &str,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<SessionRecord, Error> {
    session::Entity::delete_many().filter(session::Column::ExpiresAt.lte(millis(now))).exec(db).await?;
    session::Entity::insert(session::ActiveModel {
        token_hash: Set(token_hash(token)),
        user_id: Set(user.id.clone()),
        csrf_token: Set(csrf_token.to_string()),
        created_at: Set(millis(now)),
        expires_at: Set(millis(expires_at)),
    })
    .exec_without_returning(db)
    .await?;
    Ok(SessionRecord {
        user_id: user.id.clone(),
        email: user.email.clone(),
        csrf_token: csrf_token.to_string(),
        created_at: now,
        expires_at,
    })
}

/// The live (not expired) session of `token`, with its user's email.
pub async fn session_by_token<C: ConnectionTrait>(
    db: &C,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<SessionRecord>, Error> {
    let Some(s) = session::Entity::find_by_id(token_hash(token))
        .filter(session::Column::ExpiresAt.gt(millis(now)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(u) = user::Entity::find_by_id(s.user_id.clone()).one(db).await? else { return Ok(None) };
    Ok(Some(SessionRecord {
        user_id: s.user_id,
        email: u.email,
        csrf_token: s.csrf_token,
        created_at: from_millis(s.created_at),
        expires_at: from_millis(s.expires_at),
    }))
}

/// Move a session's expiry to `expires_at` (sliding expiry).
pub async fn touch_session<C: ConnectionTrait>(db: &C, token: &str, expires_at: DateTime<Utc>) -> Result<(), Error> {
    session::Entity::update_many()
        .col_expr(session::Column::ExpiresAt, millis(expires_at).into())
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .exec(db)
        .await?;
    Ok(())
}

/// End a session. False if there was none for `token`.
pub async fn delete_session<C: ConnectionTrait>(db: &C, token: &str) -> Result<bool, Error> {
    let n = session::Entity::delete_many()
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .exec(db)
        .await?
        .rows_affected;
    Ok(n > 0)
}
