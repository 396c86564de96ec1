//! The writer task: group commit of write jobs.

use super::{Backend, Error};
use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

type Work = Box<dyn for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, ()> + Send>;

struct Job {
    work: Work,
    urgent: bool,
    queued: Instant,
    /// Told whether the transaction that ran the job committed.
    committed: oneshot::Sender<Result<(), String>>,
}

/// Most jobs one transaction takes.
const MAX_BATCH: usize = 256;

/// A statement that writes nothing but takes SQLite's write lock (see [`Writer`]).
const TAKE_WRITE_LOCK: &str = "UPDATE contacts SET updated_at = updated_at WHERE 0 = 1";

/// Runs write jobs: on SQLite in as few transactions as possible, on PostgreSQL each in a
/// transaction of its own, side by side.
///
/// PostgreSQL: every job runs at once in its own transaction on a pooled connection, so
/// the jobs of one process proceed in parallel as those of several processes do (the
/// database groups their commits itself). Jobs that read and then write a contact's runs
/// lock the contact rows first ([`super::lock_contacts`], in id order).
///
/// SQLite: sea-orm begins transactions with a deferred `BEGIN`, which takes the write
/// lock only at the first write and can then fail with `SQLITE_BUSY` that the busy
/// timeout does not cure. Each transaction therefore starts with a statement that
/// writes nothing but takes the write lock at once (`UPDATE … WHERE 0 = 1`): that is what
/// `BEGIN IMMEDIATE` does (checked: another connection's `BEGIN IMMEDIATE` then waits).
///
/// Jobs sent with [`Writer::run_urgent`] (the scheduler's claims and commits) go first:
/// each transaction takes every urgent job waiting and at most one other (at most
/// [`MAX_NORMAL`] when none is urgent). While the scheduler is behind (it took a full
/// batch of due runs, see [`Writer::set_backlog`]), normal jobs such as ingestion wait
/// for its jobs to go first, up to [`MAX_HOLD`]: resuming runs on time comes first.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    urgent: mpsc::Sender<Job>,
    db: DatabaseConnection,
    backend: Backend,
    backlog: Arc<AtomicBool>,
}

/// How long a normal job waits, while the scheduler is behind, for the scheduler's next
/// job (it sends one every few milliseconds while runs are due).
const URGENT_GRACE: Duration = Duration::from_millis(25);

/// The longest a normal job is held back while the scheduler is behind.
const MAX_HOLD: Duration = Duration::from_secs(1);

/// Most normal jobs one transaction takes.
const MAX_NORMAL: usize = 8;

impl Writer {
    pub(super) fn start(db: DatabaseConnection, backend: Backend) -> Writer {
        let (jobs, mut rx) = mpsc::channel::<Job>(4096);
        let (urgent, mut urgent_rx) = mpsc::channel::<Job>(4096);
        let conn = db.clone();
        let backlog = Arc::new(AtomicBool::new(false));
        let behind = backlog.clone();
        if backend == Backend::Postgres {
            return Writer { jobs, urgent, db, backend, backlog };
        }
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            // A normal job held back while the scheduler has runs due.
            let mut held: Option<Job> = None;
            loop {
                let first = match held.take() {
                    Some(job) if behind.load(Ordering::Relaxed) && job.queued.elapsed() < MAX_HOLD => {
                        match tokio::time::timeout(URGENT_GRACE, urgent_rx.recv()).await {
                            Ok(Some(urgent)) => {
                                held = Some(job);
                                urgent
                            }
                            Ok(None) => break,
                            Err(_) => job,
                        }
                    }
                    Some(job) => job,
                    None => {
                        let job = tokio::select! {
                            biased;
                            job = urgent_rx.recv() => job,
                            job = rx.recv() => job,
                        };
                        let Some(job) = job else { break };
                        if !job.urgent && behind.load(Ordering::Relaxed) {
                            held = Some(job);
                            continue;
                        }
                        job
                    }
                };
                batch.push(first);
                // Whatever else is waiting: urgent jobs first, then normal ones if there is room.
                while batch.len() < MAX_BATCH
                    && let Ok(job) = urgent_rx.try_recv()
                {
                    batch.push(job);
                }
                let normal_room = match (batch.iter().any(|j| j.urgent), behind.load(Ordering::Relaxed)) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, _) => MAX_NORMAL.saturating_sub(batch.len()),
                };
                for _ in 0..normal_room {
                    match held.take().map(Ok).unwrap_or_else(|| rx.try_recv()) {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let outcome = run_batch(&conn, backend, &mut batch).await;
                if let Err(e) = &outcome {
                    tracing::error!(error = %e, jobs = batch.len(), "Write transaction failed");
                }
                let outcome = outcome.map_err(|e| e.to_string());
                for job in batch.drain(..) {
                    let _ = job.committed.send(outcome.clone());
                }
            }
            // Closing: whatever was held back still runs.
            if let Some(mut job) = held.take() {
                let outcome = run_batch(&conn, backend, std::slice::from_mut(&mut job)).await;
                let _ = job.committed.send(outcome.map_err(|e| e.to_string()));
            }
        });
        Writer { jobs, urgent, db, backend, backlog }
    }

    /// The scheduler says whether it has more runs due than it has taken: while it does,
    /// normal jobs wait (at most [`MAX_HOLD`]) for the scheduler's jobs to go first.
    pub fn set_backlog(&self, behind: bool) {
        self.backlog.store(behind, Ordering::Relaxed);
    }

    /// The writing connection, for migrations at start-up only.
    pub(super) fn connection(&self) -> DatabaseConnection {
        self.db.clone()
    }

    /// Run `job` inside a write transaction, in its own savepoint: if it fails, only
    /// its own writes are undone. Returns once the transaction has committed.
    pub async fn run<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, Result<T, Error>> + Send + 'static,
    {
        self.submit(false, job).await
    }

    /// Like [`Writer::run`], ahead of normal jobs (the scheduler's claims and commits).
    pub async fn run_urgent<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, Result<T, Error>> + Send + 'static,
    {
        self.submit(true, job).await
    }

    async fn submit<T, F>(&self, urgent: bool, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, Result<T, Error>> + Send + 'static,
    {
        if self.backend == Backend::Postgres {
            let txn = self.db.begin().await?;
            return match job(&txn).await {
                Ok(v) => txn.commit().await.map(|()| v).map_err(Error::Db),
                Err(e) => {
                    let _ = txn.rollback().await;
                    Err(e)
                }
            };
        }
        let slot: Arc<Mutex<Option<Result<T, Error>>>> = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let work: Work = Box::new(move |txn: &DatabaseTransaction| {
            Box::pin(async move {
                let result = match txn.begin().await {
                    Ok(savepoint) => match job(&savepoint).await {
                        Ok(v) => savepoint.commit().await.map(|()| v).map_err(Error::Db),
                        Err(e) => {
                            let _ = savepoint.rollback().await;
                            Err(e)
                        }
                    },
                    Err(e) => Err(Error::Db(e)),
                };
                if let Ok(mut s) = out.lock() {
                    *s = Some(result);
                }
            })
        });
        let (committed, commit_rx) = oneshot::channel();
        let queue = if urgent { &self.urgent } else { &self.jobs };
        queue.send(Job { work, committed, urgent, queued: Instant::now() }).await.map_err(|_| Error::Closed)?;
        let commit = commit_rx.await.map_err(|_| Error::Closed)?;
        // No result: the job never ran, because the transaction could not begin (the
        // database is unreachable) or the writer stopped.
        let result = slot.lock().ok().and_then(|mut s| s.take());
        match (result, commit) {
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Ok(_)) | None, Err(e)) => {
                Err(Error::Db(DbErr::Custom(format!("the transaction did not commit: {e}"))))
            }
            (Some(Err(e)), _) => Err(e),
            (None, Ok(())) => Err(Error::Closed),
        }
    }
}

async fn run_batch(db: &DatabaseConnection, backend: Backend, batch: &mut [Job]) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    if backend == Backend::Sqlite {
        txn.execute_unprepared(TAKE_WRITE_LOCK).await?;
    }
    for job in batch.iter_mut() {
        let work = std::mem::replace(&mut job.work, Box::new(|_| Box::pin(async {})));
        work(&txn).await;
    }
    txn.commit().await
}
