//! The durable store (sea-orm): SQLite by default, PostgreSQL for scale-out.
//!
//! Every write goes through one [`Writer`] task that group-commits: jobs that arrive
//! together share one transaction (each in its own savepoint, so one failing job does
//! not undo the others). On SQLite the writer is the only writing connection, WAL mode
//! with `synchronous=NORMAL`, and each transaction takes the write lock at once (see
//! [`Writer`]); reads use a separate pool. Times are milliseconds since the epoch,
//! passed in from the engine's clock, never `now()` in SQL.

mod audience;
mod catalog;
mod consent;
mod contacts;
mod conversions;
mod delivery;
pub mod entity;
mod journey_tests;
mod keys;
mod outbox;
mod providers;
mod runs;
mod templates;
mod users;
mod workflows;
mod writer;

pub use audience::*;
pub use catalog::*;
pub use consent::*;
pub use contacts::*;
pub use conversions::*;
pub use delivery::*;
pub use journey_tests::*;
pub use keys::*;
pub use outbox::*;
pub use providers::*;
pub use runs::*;
pub use templates::*;
pub use users::*;
pub use workflows::*;
pub use writer::Writer;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlxSqliteConnector};
use sea_orm_migration::MigratorTrait;
use std::str::FromStr;
use std::time::Duration;

/// Failure of a store operation that the caller did not anticipate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("the database file cannot be created at {path}: {source}")]
    Path { path: String, source: std::io::Error },
    #[error("stored data is corrupt ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("the store is shutting down")]
    Closed,
}

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connections to the database: a writer task and a read pool.
#[derive(Clone)]
pub struct Store {
    read: DatabaseConnection,
    writer: Writer,
    backend: Backend,
}

/// The default database: a SQLite file under `./kairos-data/`.
pub const DEFAULT_URL: &str = "sqlite://kairos-data/kairos.db";

pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Store {
    /// Connect to `url` (`sqlite://path/to/file.db`, `sqlite::memory:` or `postgres://…`)
    /// and run the migrations.
    pub async fn connect(url: &str) -> Result<Store, Error> {
        let store = if url.starts_with("sqlite:") { Self::sqlite(url).await? } else { Self::postgres(url).await? };
        kairos_migrations::Migrator::up(&store.writer.connection(), None).await?;
        Ok(store)
    }

    async fn sqlite(url: &str) -> Result<Store, Error> {
        use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbErr::Custom(format!("bad SQLite URL `{url}`: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let filename = options.get_filename().to_path_buf();
        let in_memory = url.contains(":memory:") || filename.as_os_str().is_empty();
        if !in_memory && let Some(dir) = filename.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Path { path: dir.display().to_string(), source })?;
        }
        let conn_err = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("cannot open {url}: {e}"));
        // One writing connection: SQLite has one writer anyway, and this way it never waits on itself.
        let write_pool =
            SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        let write = write_pool.connect_with(options.clone()).await.map_err(conn_err)?;
        let write = SqlxSqliteConnector::from_sqlx_sqlite_pool(write);
        // An in-memory database is private to its connection: read through the writer then.
        let read = if in_memory {
            write.clone()
        } else {
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await
                .map_err(conn_err)?;
            SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
        };
        Ok(Store { read, writer: Writer::start(write, Backend::Sqlite), backend: Backend::Sqlite })
    }

    async fn postgres(url: &str) -> Result<Store, Error> {
        let mut options = ConnectOptions::new(url.to_string());
        options.max_connections(8).sqlx_logging(false);
        let db = Database::connect(options).await?;
        Ok(Store { read: db.clone(), writer: Writer::start(db, Backend::Postgres), backend: Backend::Postgres })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// The read pool.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.read
    }
}
