//! Time comes from a [`Clock`]: the system clock with SQLite, the database's clock
//! ([`DatabaseClock`]) with PostgreSQL, a [`ManualClock`] in tests, so a 30-day wait
//! takes milliseconds.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A source of "now", and a way to sleep until a moment of that clock.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Sleep until `deadline` (by this clock), or at most `max` of real time.
    fn sleep_until(&self, deadline: DateTime<Utc>, max: std::time::Duration)
    -> futures::future::BoxFuture<'static, ()>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(
        &self,
        deadline: DateTime<Utc>,
        max: std::time::Duration,
    ) -> futures::future::BoxFuture<'static, ()> {
        let wait = (deadline - Utc::now()).to_std().unwrap_or_default().min(max);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// PostgreSQL's clock, so that every worker of one database agrees on `now` whatever
/// the clocks of their hosts say: `clock_timestamp()` is read at start and every
/// `resync`, and in between (or when a reading fails) `now` is extrapolated from the last
/// reading with the monotonic clock ([`Instant`]). A jump of the host's wall clock
/// therefore changes nothing, and `now` never goes backwards.
#[derive(Debug)]
pub struct DatabaseClock {
    anchor: Arc<Mutex<Anchor>>,
}

/// A reading of the database's clock and the monotonic instant it was taken at.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    time: DateTime<Utc>,
    at: Instant,
    /// The latest `now` handed out: a later reading never moves the clock before it.
    last: DateTime<Utc>,
}

/// A reading whose round trip took longer than this is too vague to correct the clock.
const MAX_ROUND_TRIP: Duration = Duration::from_secs(1);

impl DatabaseClock {
    /// Read the database's clock (an error if it cannot be read) and keep reading it
    /// every `resync` in the background, for as long as the clock lives.
    pub async fn start(store: &crate::store::Store, resync: Duration) -> Result<DatabaseClock, crate::store::Error> {
        let (time, at, _) = read(store).await?;
        let offset = time - Utc::now();
        tracing::info!(
            host_offset_ms = offset.num_milliseconds(),
            "Time comes from the database's clock (the host's clock is not used)"
        );
        let anchor = Arc::new(Mutex::new(Anchor { time, at, last: time }));
        tokio::spawn(resync_loop(Arc::downgrade(&anchor), store.clone(), resync));
        Ok(DatabaseClock { anchor })
    }
}

/// The database's time and the instant it was read at (the middle of the round trip), and
/// how long the round trip took.
async fn read(store: &crate::store::Store) -> Result<(DateTime<Utc>, Instant, Duration), crate::store::Error> {
    let before = Instant::now();
    let time = crate::store::database_time(store.reader()).await?;
    let round_trip = before.elapsed();
    Ok((time, before + round_trip / 2, round_trip))
}

async fn resync_loop(anchor: Weak<Mutex<Anchor>>, store: crate::store::Store, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let reading = read(&store).await;
        let Some(anchor) = anchor.upgrade() else { return };
        match reading {
            Ok((time, at, round_trip)) if round_trip <= MAX_ROUND_TRIP => {
                let mut a = anchor.lock().unwrap_or_else(|e| e.into_inner());
                let drift = time - (a.time + TimeDelta::from_std(at - a.at).unwrap_or_default());
                if drift.abs() > TimeDelta::milliseconds(100) {
                    tracing::warn!(
                        drift_ms = drift.num_milliseconds(),
                        "The database's clock moved against the monotonic clock"
                    );
                }
                *a = Anchor { time, at, last: a.last };
            }
            Ok((_, _, round_trip)) => tracing::debug!(
                round_trip_ms = round_trip.as_millis() as u64,
                "The database's clock answered too slowly to resynchronise; extrapolating"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "Reading the database's clock failed; extrapolating from the last reading")
            }
        }
    }
}

impl Clock for DatabaseClock {
    fn now(&self) -> DateTime<Utc> {
        let mut a = self.anchor.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = TimeDelta::from_std(a.at.elapsed()).unwrap_or_default();
        let now = (a.time + elapsed).max(a.last);
        a.last = now;
        now
    }

    fn sleep_until(&self, deadline: DateTime<Utc>, max: Duration) -> futures::future::BoxFuture<'static, ()> {
        let wait = (deadline - self.now()).to_std().unwrap_or_default().min(max);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told to. Sleepers wake as soon as it passes their deadline.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    tick: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        let (tick, _) = watch::channel(start);
        ManualClock { now: Arc::new(Mutex::new(start)), tick: Arc::new(tick) }
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
        self.tick.send_replace(*now);
    }

    /// Set the clock (it may go backwards, to test clock jumps).
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
        self.tick.send_replace(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep_until(
        &self,
        deadline: DateTime<Utc>,
        max: std::time::Duration,
    ) -> futures::future::BoxFuture<'static, ()> {
        let mut rx = self.tick.subscribe();
        Box::pin(async move {
            let reached = rx.wait_for(|now| *now >= deadline);
            let _ = tokio::time::timeout(max, reached).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_database_clock_follows_the_database_and_never_goes_back() {
        // SQLite's clock is the host's: the database clock must agree with it.
        let store = crate::store::Store::connect("sqlite::memory:").await.unwrap();
        let clock = DatabaseClock::start(&store, Duration::from_millis(20)).await.unwrap();
        let mut last = clock.now();
        assert!((last - Utc::now()).abs() < TimeDelta::seconds(1), "{last} against {}", Utc::now());
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = clock.now();
            assert!(now >= last, "{now} before {last}");
            last = now;
        }
        let start = std::time::Instant::now();
        clock.sleep_until(clock.now() + TimeDelta::milliseconds(50), Duration::from_secs(5)).await;
        assert!(start.elapsed() >= Duration::from_millis(45));
    }

    #[tokio::test]
    async fn manual_sleepers_wake_when_the_clock_passes_their_deadline() {
        let start = Utc::now();
        let clock = ManualClock::new(start);
        let sleeper = clock.sleep_until(start + TimeDelta::days(30), std::time::Duration::from_secs(30));
        let handle = tokio::spawn(sleeper);
        tokio::task::yield_now().await;
        assert!(!handle.is_finished());
        clock.advance(TimeDelta::days(30));
        tokio::time::timeout(std::time::Duration::from_secs(1), handle).await.unwrap().unwrap();
        assert_eq!(clock.now(), start + TimeDelta::days(30));
    }
}
