//! Time comes from a [`Clock`]: the system clock in production, a [`ManualClock`] in
//! tests, so a 30-day wait takes milliseconds.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::{Arc, Mutex};
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
