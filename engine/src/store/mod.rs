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
pub mod retention;
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
    /// The URL it was opened with (a leader opens a connection of its own).
    url: String,
}

/// The default database: a SQLite file under `./kairos-data/`.
pub const DEFAULT_URL: &str = "sqlite://kairos-data/kairos.db";

pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The database server's clock (`clock_timestamp()` on PostgreSQL, which moves within a
/// transaction; SQLite's is the host's own). [`crate::clock::DatabaseClock`] reads it.
pub async fn database_time<C: sea_orm::ConnectionTrait>(db: &C) -> Result<DateTime<Utc>, Error> {
    let sql = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint AS us",
        _ => "SELECT CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) AS us",
    };
    let row = db
        .query_one(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| Error::Corrupt { what: "database time", detail: "the query returned no row".into() })?;
    let us: i64 = row.try_get("", "us")?;
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| Error::Corrupt { what: "database time", detail: format!("{us} µs is not a time") })
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
        Ok(Store {
            read,
            writer: Writer::start(write, Backend::Sqlite),
            backend: Backend::Sqlite,
            url: url.to_string(),
        })
    }

    async fn postgres(url: &str) -> Result<Store, Error> {
        let mut options = ConnectOptions::new(url.to_string());
        options.max_connections(16).sqlx_logging(false);
        // Every statement is planned with its parameters and the statistics of the moment.
        // Statements are prepared once per connection, and after five runs PostgreSQL may
        // keep a generic plan for good: one chosen while the tables were nearly empty (a
        // fresh server) turned the outbox's claim into a nested loop that ran for 14 minutes
        // once the outbox held 100,000 rows. Planning costs well under a millisecond here.
        options.map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
        let db = Database::connect(options).await?;
        Ok(Store {
            read: db.clone(),
            writer: Writer::start(db, Backend::Postgres),
            backend: Backend::Postgres,
            url: url.to_string(),
        })
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

    /// Leadership of the work one worker at a time should do (the audience's periodic
    /// pass: schedule ticks, date triggers, segment re-evaluation). See [`Leadership`].
    pub fn leadership(&self) -> Leadership {
        Leadership { url: self.url.clone(), backend: self.backend, held: None }
    }
}

/// Which worker leads, decided by the database: on PostgreSQL a session advisory lock held
/// on a connection of the leader's own. When the leader dies, its connection closes, the lock
/// is free, and the next worker that asks takes over. On SQLite every process leads (its
/// writes are serialised anyway).
pub struct Leadership {
    url: String,
    backend: Backend,
    held: Option<DatabaseConnection>,
}

/// The advisory lock key of the leader (the audience's per-transaction lock is another).
const LEADER_LOCK: i64 = 7_263_402_472;

impl Leadership {
    /// Whether this worker leads now: keeps the lock while its connection lives, else tries
    /// to take it.
    pub async fn hold(&mut self) -> bool {
        use sea_orm::ConnectionTrait;
        if self.backend == Backend::Sqlite {
            return true;
        }
        if let Some(conn) = &self.held {
            if conn.execute_unprepared("SELECT 1").await.is_ok() {
                return true;
            }
            tracing::warn!("Lost the leader's database connection; trying to lead again");
            self.held = None;
        }
        let mut options = ConnectOptions::new(self.url.clone());
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(Duration::from_secs(365 * 24 * 3600))
            .max_lifetime(Duration::from_secs(365 * 24 * 3600))
            .sqlx_logging(false);
        let Ok(conn) = Database::connect(options).await else { return false };
        let sql = format!("SELECT pg_try_advisory_lock({LEADER_LOCK}) AS led");
        let led = match conn.query_one(sea_orm::Statement::from_string(conn.get_database_backend(), sql)).await {
            Ok(Some(row)) => row.try_get::<bool>("", "led").unwrap_or(false),
            _ => false,
        };
        if led {
            tracing::info!("This worker leads the audience's periodic pass");
            self.held = Some(conn);
        } else {
            let _ = conn.close().await;
        }
        led
    }

    /// Give up leading (the lock goes with the connection).
    pub async fn release(&mut self) {
        if let Some(conn) = self.held.take() {
            let _ = conn.close().await;
        }
    }
}
