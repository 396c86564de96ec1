//! Lifecycle reports, computed from what the store holds: stage transitions per period,
//! purchase retention by first-purchase cohort, and segment sizes over time. Pure
//! functions over rows, so tests can compute the same figures independently.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use std::collections::{BTreeMap, HashMap};

/// The length of a report's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// Calendar days (UTC).
    Day,
    /// Weeks from Monday 00:00 UTC.
    Week,
}

impl Interval {
    pub fn parse(text: &str) -> Result<Interval, String> {
        match text {
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            other => Err(format!("`{other}` is not an interval; expected `day` or `week`")),
        }
    }

    fn length(self) -> TimeDelta {
        match self {
            Interval::Day => TimeDelta::days(1),
            Interval::Week => TimeDelta::weeks(1),
        }
    }

    /// The start of the period `t` falls in.
    pub fn start_of(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let day = t.date_naive();
        let day = match self {
            Interval::Day => day,
            Interval::Week => day - TimeDelta::days(i64::from(day.weekday().num_days_from_monday())),
        };
        day.and_hms_opt(0, 0, 0).map_or(t, |d| d.and_utc())
    }

    /// The starts of the periods that overlap `[from, to)`.
    pub fn periods(self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut p = self.start_of(from);
        while p < to && out.len() < 10_000 {
            out.push(p);
            p += self.length();
        }
        out
    }
}

/// Stage changes counted per period and (from, to).
pub fn transitions(
    changes: &[(DateTime<Utc>, Option<String>, String)],
    interval: Interval,
) -> Vec<(DateTime<Utc>, Option<String>, String, u64)> {
    let mut counts: BTreeMap<(DateTime<Utc>, Option<String>, String), u64> = BTreeMap::new();
    for (at, from, to) in changes {
        *counts.entry((interval.start_of(*at), from.clone(), to.clone())).or_default() += 1;
    }
    counts.into_iter().map(|((p, f, t), n)| (p, f, t, n)).collect()
}

/// One first-purchase cohort: the week (Monday) of their first purchase, how many, and the
/// share of them purchasing again in each following week (`weeks[0]` is the next week).
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    pub week: NaiveDate,
    pub size: u64,
    pub weeks: Vec<f64>,
}

/// Retention of the cohorts whose first purchase falls in `[from, to)`; following weeks are
/// counted while they start before `to`.
pub fn retention(
    purchases: &HashMap<String, Vec<DateTime<Utc>>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Cohort> {
    let week = Interval::Week;
    // Per cohort week: per contact, the weeks they purchased in.
    let mut cohorts: BTreeMap<DateTime<Utc>, Vec<Vec<DateTime<Utc>>>> = BTreeMap::new();
    for times in purchases.values() {
        let Some(first) = times.iter().min() else { continue };
        if *first < from || *first >= to {
            continue;
        }
        let mut weeks: Vec<DateTime<Utc>> = times.iter().map(|t| week.start_of(*t)).collect();
        weeks.sort();
        weeks.dedup();
        cohorts.entry(week.start_of(*first)).or_default().push(weeks);
    }
    cohorts
        .into_iter()
        .map(|(start, members)| {
            let size = members.len() as u64;
            let mut shares = Vec::new();
            let mut k = 1;
            while start + TimeDelta::weeks(k) < to && k <= 520 {
                let w = start + TimeDelta::weeks(k);
                let again = members.iter().filter(|weeks| weeks.contains(&w)).count();
                shares.push(again as f64 / size as f64);
                k += 1;
            }
            Cohort { week: start.date_naive(), size, weeks: shares }
        })
        .collect()
}

/// A segment's size per period: at the end of each period (or `now` for the current one),
/// with the entries and exits within it. `size_now` is its size at `now`; `changes` are all
/// entries (`true`) and exits since `from`.
pub fn sizes(
    size_now: i64,
    changes: &[(DateTime<Utc>, bool)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    interval: Interval,
) -> Vec<(DateTime<Utc>, i64, u64, u64)> {
    interval
        .periods(from, to.min(now + TimeDelta::milliseconds(1)))
        .into_iter()
        .map(|p| {
            // The size just before `end`: today's size without what happened from `end` on. The
            // current period ends now, and what happened at `now` is in it.
            let end = (p + interval.length()).min(now + TimeDelta::milliseconds(1));
            let after: i64 = changes.iter().filter(|(t, _)| *t >= end).map(|(_, e)| if *e { 1 } else { -1 }).sum();
            let within = changes.iter().filter(|(t, _)| *t >= p && *t < p + interval.length());
            let (mut entered, mut exited) = (0, 0);
            for (_, e) in within {
                if *e {
                    entered += 1;
                } else {
                    exited += 1;
                }
            }
            (p, size_now - after, entered, exited)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(Interval::Week.start_of(at("2026-11-22T23:00:00Z")), at("2026-11-16T00:00:00Z"));
        assert_eq!(Interval::Week.start_of(at("2026-11-23T00:00:00Z")), at("2026-11-23T00:00:00Z"));
        assert_eq!(Interval::Day.periods(at("2026-11-01T12:00:00Z"), at("2026-11-03T00:00:00Z")).len(), 2);
    }

    #[test]
    fn retention_by_cohort() {
        let mut p: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
        // Cohort of 2026-11-02: a buys again the next week, b two weeks later.
        p.insert("a".into(), vec![at("2026-11-02T10:00:00Z"), at("2026-11-10T10:00:00Z")]);
        p.insert("b".into(), vec![at("2026-11-04T10:00:00Z"), at("2026-11-18T10:00:00Z"), at("2026-11-19T10:00:00Z")]);
        // Cohort of 2026-11-09.
        p.insert("c".into(), vec![at("2026-11-12T10:00:00Z")]);
        // Before the report: left out.
        p.insert("d".into(), vec![at("2026-10-01T10:00:00Z"), at("2026-11-03T10:00:00Z")]);
        let r = retention(&p, at("2026-11-01T00:00:00Z"), at("2026-11-23T00:00:00Z"));
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            Cohort { week: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), size: 2, weeks: vec![0.5, 0.5] }
        );
        assert_eq!(r[1], Cohort { week: NaiveDate::from_ymd_opt(2026, 11, 9).unwrap(), size: 1, weeks: vec![0.0] });
    }

    #[test]
    fn sizes_walk_back_from_now() {
        let changes = vec![
            (at("2026-11-01T10:00:00Z"), true),
            (at("2026-11-01T11:00:00Z"), true),
            (at("2026-11-02T09:00:00Z"), false),
        ];
        let s = sizes(
            1,
            &changes,
            at("2026-11-01T00:00:00Z"),
            at("2026-11-04T00:00:00Z"),
            at("2026-11-02T12:00:00Z"),
            Interval::Day,
        );
        assert_eq!(s, vec![(at("2026-11-01T00:00:00Z"), 2, 2, 0), (at("2026-11-02T00:00:00Z"), 1, 0, 1)]);
    }
}
