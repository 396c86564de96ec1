//! Editor users: email addresses, passwords hashed with argon2id, and the admin user
//! created at the first start.

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use kairos_engine::scheduler::Scheduler;
use kairos_engine::store;
use std::sync::OnceLock;

/// The admin's email when `KAIROS_ADMIN_EMAIL` is not set.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";
/// Shortest password accepted for the admin from the environment.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (hashing is deliberately costly).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// An email address as users sign in with it: trimmed, lowercase, `local@domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Email, String> {
        let email = text.trim().to_lowercase();
        let valid = email.chars().count() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
        if valid { Ok(Email(email)) } else { Err(format!("`{}` is not an email address", text.trim())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as given (never stored or logged).
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    /// A password to sign in with: not empty, at most [`MAX_PASSWORD_CHARS`].
    pub fn parse(text: &str) -> Result<Password, String> {
        let n = text.chars().count();
        if n == 0 {
            return Err("the password is empty".into());
        }
        if n > MAX_PASSWORD_CHARS {
            return Err(format!("a password has at most {MAX_PASSWORD_CHARS} characters"));
        }
        Ok(Password(text.to_string()))
    }

    /// A password to set: also at least [`MIN_PASSWORD_CHARS`].
    pub fn parse_new(text: &str) -> Result<Password, String> {
        let p = Password::parse(text)?;
        if text.chars().count() < MIN_PASSWORD_CHARS {
            return Err(format!("a password needs at least {MIN_PASSWORD_CHARS} characters"));
        }
        Ok(p)
    }

    /// A random password: 32 hex digits (122 random bits).
    pub fn generate() -> Password {
        Password(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The argon2id PHC string of a password (run it off the async threads: it takes a while on purpose).
pub fn hash_password(password: &Password) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.expose().as_bytes(), &salt)?.to_string())
}

/// Whether `password` matches the PHC string `hash`. A hash that does not parse matches nothing.
pub fn verify_password(password: &Password, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.expose().as_bytes(), &h).is_ok())
}

/// A hash of a random password: signing in with an unknown email verifies against it, so
/// that the answer takes as long as for a known email with a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password(&Password::generate()).unwrap_or_default())
}

/// Hash on the blocking pool.
pub async fn hash_blocking(password: Password) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .context("the password hashing task failed")?
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Verify on the blocking pool.
pub async fn verify_blocking(password: Password, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false)
}

/// Make sure the admin user exists. With `email` / `password` (from `KAIROS_ADMIN_EMAIL` /
/// `KAIROS_ADMIN_PASSWORD`), that user is created, or given that password if it has
/// another. Without a password, a user is created only when there is none yet, with a
/// generated password: the answer is then `(email, password)` to print once.
pub async fn ensure_admin(
    scheduler: &Scheduler,
    email: Option<&str>,
    password: Option<&str>,
) -> anyhow::Result<Option<(String, String)>> {
    let email =
        Email::parse(email.unwrap_or(DEFAULT_ADMIN_EMAIL)).map_err(anyhow::Error::msg).context("KAIROS_ADMIN_EMAIL")?;
    let password =
        password.map(Password::parse_new).transpose().map_err(anyhow::Error::msg).context("KAIROS_ADMIN_PASSWORD")?;
    let reader = scheduler.store().reader();
    let existing = store::user_by_email(reader, email.as_str()).await?;
    let now = scheduler.now();
    let writer = scheduler.store().writer();
    match (existing, password) {
        (Some(user), Some(password)) => {
            if !verify_blocking(password.clone(), user.password_hash.clone()).await {
                let hash = hash_blocking(password).await?;
                writer
                    .run(move |tx| Box::pin(async move { store::set_password(tx, &user.id, &hash, now).await }))
                    .await?;
                tracing::info!(email = %email.as_str(), "The admin's password was changed from KAIROS_ADMIN_PASSWORD");
            }
            Ok(None)
        }
        (Some(_), None) => Ok(None),
        (None, Some(password)) => {
            let hash = hash_blocking(password).await?;
            let e = email.as_str().to_string();
            writer.run(move |tx| Box::pin(async move { store::create_user(tx, &e, &hash, now).await })).await?;
            Ok(None)
        }
        (None, None) => {
            if store::count_users(reader).await? > 0 {
                return Ok(None);
            }
            let password = Password::generate();
            let hash = hash_blocking(password.clone()).await?;
            let e = email.as_str().to_string();
            writer.run(move |tx| Box::pin(async move { store::create_user(tx, &e, &hash, now).await })).await?;
            Ok(Some((email.as_str().to_string(), password.expose().to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        assert_eq!(Email::parse("admin@localhost").unwrap().as_str(), "admin@localhost");
        for bad in ["", "ann", "@x", "ann@", "a b@x"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let p = Password::parse("correct horse").unwrap();
        let hash = hash_password(&p).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&p, &hash));
        assert!(!verify_password(&Password::parse("wrong horse").unwrap(), &hash));
        assert!(!verify_password(&p, "not a hash"));
        assert!(Password::parse_new("short").is_err());
    }
}
