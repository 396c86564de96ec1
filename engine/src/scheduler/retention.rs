//! The retention sweep's loop: ended runs move to the archive `archive_after` after they
//! ended, and archived runs are deleted `keep` after they ended (see
//! [`crate::store::retention`]). Every worker may sweep: each batch locks the rows it takes
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so no run is moved or deleted twice.

use super::Scheduler;
use crate::store;
use chrono::TimeDelta;
use std::sync::Arc;

/// How long ended runs stay in the hot tables and in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long after it ended a run moves to the archive; `None`: never (the sweep is off).
    pub archive_after: Option<TimeDelta>,
    /// How long after it ended an archived run is deleted; `None`: kept forever.
    pub keep: Option<TimeDelta>,
    /// Runs moved or deleted per transaction.
    pub batch: u64,
    /// How often the sweep looks for runs to move (it goes on at once while batches come
    /// back full).
    pub every: TimeDelta,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { archive_after: Some(TimeDelta::hours(1)), keep: None, batch: 500, every: TimeDelta::minutes(1) }
    }
}

impl Retention {
    /// The policy `kairos serve --archive-after A --retention R` asks for: each a duration
    /// (`1h`, `180d`, `PT1H`) or `off`; a retention of `0` is `off` too (kept forever). The
    /// other fields keep their defaults. An error names the option.
    pub fn parse(archive_after: &str, retention: &str) -> Result<Retention, String> {
        let period = |name: &str, text: &str, zero_is_off: bool| -> Result<Option<TimeDelta>, String> {
            let text = text.trim();
            if text.eq_ignore_ascii_case("off") || (zero_is_off && text == "0") {
                return Ok(None);
            }
            let d = crate::time::parse_duration(text).map_err(|e| format!("{name}: {e}, or `off`"))?;
            Ok(if zero_is_off && d.is_zero() { None } else { Some(d) })
        };
        let (after_text, keep_text) = (archive_after, retention);
        let archive_after = period("--archive-after", after_text, false)?;
        let keep = period("--retention", keep_text, true)?;
        match (archive_after, keep) {
            (None, Some(_)) => {
                return Err("--retention needs --archive-after: it deletes runs from the archive, and with \
                            `--archive-after off` none are moved there"
                    .into());
            }
            (Some(a), Some(k)) if k <= a => {
                return Err(format!(
                    "--retention ({keep_text}) must be longer than --archive-after ({after_text}): \
                     runs would be deleted as soon as they are archived"
                ));
            }
            _ => {}
        }
        Ok(Retention { archive_after, keep, ..Retention::default() })
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Runs moved to the archive.
    pub archived: u64,
    /// Archived runs deleted.
    pub deleted: u64,
}

impl Scheduler {
    /// Move every run that ended `archive_after` ago to the archive and delete the archived
    /// runs older than `keep`, batch by batch, each batch one transaction. An error stops
    /// the sweep; the batches committed before it stay done, the failed one changed nothing.
    pub async fn sweep_runs(&self) -> Result<SweepReport, store::Error> {
        let Retention { archive_after, keep, batch, .. } = self.config.retention;
        let now = self.now();
        let mut report = SweepReport::default();
        if let Some(after) = archive_after {
            let ended_before = now - after;
            report.archived = self
                .in_batches(batch, move |tx| Box::pin(store::retention::archive_batch(tx, ended_before, now, batch)))
                .await?;
        }
        if let Some(keep) = keep {
            let ended_before = now - keep;
            report.deleted = self
                .in_batches(batch, move |tx| Box::pin(store::retention::delete_batch(tx, ended_before, batch)))
                .await?;
        }
        Ok(report)
    }

    /// Run `job` (one batch, one transaction) until a batch comes back short of `batch`
    /// rows; returns the sum.
    async fn in_batches<F>(&self, batch: u64, job: F) -> Result<u64, store::Error>
    where
        F: for<'a> Fn(&'a sea_orm::DatabaseTransaction) -> futures::future::BoxFuture<'a, Result<u64, store::Error>>
            + Copy
            + Send
            + 'static,
    {
        let mut total = 0;
        loop {
            let done = self.store.writer().run(job).await?;
            total += done;
            if done < batch {
                return Ok(total);
            }
        }
    }

    /// The loop that sweeps every [`Retention::every`], until `shutdown` turns true.
    pub async fn retention_loop(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let policy = self.config.retention;
        if policy.archive_after.is_none() && policy.keep.is_none() {
            return;
        }
        let mut next = self.now();
        while !*shutdown.borrow() {
            if self.now() >= next {
                next = self.now() + policy.every;
                match self.sweep_runs().await {
                    Ok(r) if r.archived + r.deleted > 0 => {
                        tracing::info!(archived = r.archived, deleted = r.deleted, "Swept ended runs");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "Sweeping ended runs failed; retrying"),
                }
            }
            tokio::select! {
                _ = self.clock.sleep_until(next, self.config.max_idle) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_with_clear_errors() {
        let r = Retention::parse("1h", "180d").unwrap();
        assert_eq!((r.archive_after, r.keep), (Some(TimeDelta::hours(1)), Some(TimeDelta::days(180))));
        let r = Retention::parse("0s", "off").unwrap();
        assert_eq!((r.archive_after, r.keep), (Some(TimeDelta::zero()), None));
        assert_eq!(Retention::parse("PT30M", "0").unwrap().keep, None);
        assert_eq!(Retention::parse("OFF", "off").unwrap().archive_after, None);
        let e = Retention::parse("soon", "off").unwrap_err();
        assert!(e.starts_with("--archive-after: `soon` is not a duration") && e.ends_with("or `off`"), "{e}");
        let e = Retention::parse("1h", "-5d").unwrap_err();
        assert!(e.starts_with("--retention:") && e.contains("negative"), "{e}");
        let e = Retention::parse("1h", "6 months").unwrap_err();
        assert!(e.contains("months"), "{e}");
        let e = Retention::parse("2d", "1d").unwrap_err();
        assert!(e.contains("must be longer than --archive-after (2d)"), "{e}");
        let e = Retention::parse("off", "30d").unwrap_err();
        assert!(e.starts_with("--retention needs --archive-after"), "{e}");
    }
}
