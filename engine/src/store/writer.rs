//! The writer task: group commit of write jobs.

use super::{Backend, Error};
use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

type Work = Box<dyn for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, ()> + Send>;

struct Job {
    work: Work,
    /// Told whether the transaction that ran the job committed.
    committed: oneshot::Sender<Result<(), String>>,
}

/// Most jobs one transaction takes.
const MAX_BATCH: usize = 256;

/// A statement that writes nothing but takes SQLite's write lock (see [`Writer`]).
const TAKE_WRITE_LOCK: &str = "UPDATE contacts SET updated_at = updated_at WHERE 0 = 1";

/// Runs write jobs in as few transactions as possible.
///
/// SQLite: sea-orm begins transactions with a deferred `BEGIN`, which takes the write
/// lock only at the first write and can then fail with `SQLITE_BUSY` that the busy
/// timeout does not cure. Each transaction therefore starts with a statement that
/// writes nothing but takes the write lock at once (`UPDATE … WHERE 0 = 1`): that is what
/// `BEGIN IMMEDIATE` does (checked: another connection's `BEGIN IMMEDIATE` then waits).
///
/// Jobs sent with [`Writer::run_urgent`] (the scheduler's claims and commits) go first:
/// each transaction takes every urgent job waiting and at most [`MAX_NORMAL`] others, so
/// a burst of ingestion never holds resuming runs back by more than a few jobs.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    urgent: mpsc::Sender<Job>,
    db: DatabaseConnection,
}

/// Most normal jobs one transaction takes.
const MAX_NORMAL: usize = 4;

impl Writer {
    pub(super) fn start(db: DatabaseConnection, backend: Backend) -> Writer {
        let (jobs, mut rx) = mpsc::channel::<Job>(4096);
        let (urgent, mut urgent_rx) = mpsc::channel::<Job>(4096);
        let conn = db.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            loop {
                let first = tokio::select! {
                    biased;
                    job = urgent_rx.recv() => job,
                    job = rx.recv() => job,
                };
                let Some(first) = first else { break };
                batch.push(first);
                // Whatever else is waiting: urgent jobs first, then a few normal ones.
                while batch.len() < MAX_BATCH
                    && let Ok(job) = urgent_rx.try_recv()
                {
                    batch.push(job);
                }
                let normal_room = MAX_NORMAL.saturating_sub(batch.len());
                for _ in 0..normal_room {
                    match rx.try_recv() {
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
        });
        Writer { jobs, urgent, db }
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
        self.submit(&self.jobs, job).await
    }

    /// Like [`Writer::run`], ahead of normal jobs (the scheduler's claims and commits).
    pub async fn run_urgent<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, Result<T, Error>> + Send + 'static,
    {
        self.submit(&self.urgent, job).await
    }

    async fn submit<T, F>(&self, queue: &mpsc::Sender<Job>, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, Result<T, Error>> + Send + 'static,
    {
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
        queue.send(Job { work, committed }).await.map_err(|_| Error::Closed)?;
        let commit = commit_rx.await.map_err(|_| Error::Closed)?;
        let result = slot.lock().ok().and_then(|mut s| s.take()).unwrap_or(Err(Error::Closed));
        match (result, commit) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(Error::Db(DbErr::Custom(format!("the transaction did not commit: {e}")))),
            (Err(e), _) => Err(e),
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
