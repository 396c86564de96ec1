//! Per-provider rate limits: a token bucket on the scheduler's clock, so a
//! 100,000-contact journey is delivered at the provider's pace (and tests can advance
//! time instead of waiting).

use super::provider::RateLimit;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Mutex;

/// A bucket of `tokens` counted at `at`, refilled at `limit.per_second` up to
/// `limit.burst` by `now`: the tokens and when they are now counted (never earlier than
/// `at`). The one rule for the in-memory bucket and the shared one in the store.
pub fn refill(limit: RateLimit, tokens: f64, at: DateTime<Utc>, now: DateTime<Utc>) -> (f64, DateTime<Utc>) {
    if now <= at {
        return (tokens, at);
    }
    let secs = (now - at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    ((tokens + secs * limit.per_second).min(f64::from(limit.burst.max(1))), now)
}

/// A token bucket: `burst` tokens at most, refilled at `per_second`.
#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    at: Option<DateTime<Utc>>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> TokenBucket {
        TokenBucket { limit, state: Mutex::new(State { tokens: f64::from(limit.burst.max(1)), at: None }) }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    fn refill(&self, s: &mut State, now: DateTime<Utc>) {
        let (tokens, at) = refill(self.limit, s.tokens, s.at.unwrap_or(now), now);
        (s.tokens, s.at) = (tokens, Some(at));
    }

    /// Take up to `wanted` whole tokens at `now`; returns how many were taken.
    pub fn take(&self, now: DateTime<Utc>, wanted: u64) -> u64 {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.refill(&mut s, now);
        let n = (s.tokens.floor().max(0.0) as u64).min(wanted);
        s.tokens -= n as f64;
        n
    }

    /// The bucket as the store last counted it (shared by every worker): `tokens` at `at`.
    /// The lane's wait for the next token is estimated from it.
    pub fn sync(&self, tokens: f64, at: DateTime<Utc>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.tokens = tokens;
        s.at = Some(at);
    }

    /// Return tokens taken but not used (fewer messages were due than taken).
    pub fn give_back(&self, n: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.tokens = (s.tokens + n as f64).min(f64::from(self.limit.burst.max(1)));
    }

    /// When the next whole token is there (now, if one is).
    pub fn next_token_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.refill(&mut s, now);
        if s.tokens >= 1.0 {
            return now;
        }
        let secs = (1.0 - s.tokens) / self.limit.per_second;
        now + TimeDelta::microseconds((secs * 1e6).ceil() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_timestamp;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let t0 = parse_timestamp("2026-03-02T10:00:00Z").unwrap();
        let b = TokenBucket::new(RateLimit { per_second: 10.0, burst: 5 });
        assert_eq!(b.take(t0, 100), 5, "the burst at once");
        assert_eq!(b.take(t0, 100), 0, "then nothing without time");
        assert_eq!(b.next_token_at(t0), t0 + TimeDelta::milliseconds(100));
        assert_eq!(b.take(t0 + TimeDelta::milliseconds(250), 100), 2, "10 a second");
        b.give_back(2);
        assert_eq!(b.take(t0 + TimeDelta::milliseconds(250), 1), 1);
        // A long quiet spell refills to the burst, no more.
        assert_eq!(b.take(t0 + TimeDelta::hours(1), 100), 5);
        // A clock that goes back never adds tokens.
        assert_eq!(b.take(t0, 100), 0);
        let slow = TokenBucket::new(RateLimit { per_second: 0.5, burst: 1 });
        assert_eq!(slow.take(t0, 10), 1);
        assert_eq!(slow.next_token_at(t0), t0 + TimeDelta::seconds(2));
    }
}
