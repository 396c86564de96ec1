// The lifecycle report (GET /v1/reports/lifecycle) as chart series: stage counts in the
// workspace's stage order, transitions per period stacked by the stage entered, the
// retention cohorts as heat-table rows, goal conversion per journey; and the report's
// date range.
import type { Interval, LifecycleReport } from '../api';

export interface Bar { label: string; value: number }

/** The bar of the contacts without a stage (a stage name has no spaces, so it cannot clash). */
export const NO_STAGE = 'no stage';

/** Contacts per stage, in `order` (the workspace's stages), then any other stage the report
 * has, then the contacts without a stage (the report's `stage: null`). */
export function stageBars(report: Pick<LifecycleReport, 'stages'>, order: string[]): Bar[] {
  const counts = new Map(report.stages.map((s) => [s.stage, s.contacts]));
  const others = report.stages.map((s) => s.stage).filter((s): s is string => s !== null && !order.includes(s));
  const bars = [...order, ...others].map((s) => ({ label: s, value: counts.get(s) ?? 0 }));
  const none = counts.get(null);
  return none === undefined ? bars : [...bars, { label: NO_STAGE, value: none }];
}

export interface StackedSeries {
  /** Period starts, sorted. */
  periods: string[];
  /** One series per stage entered, in stage order. */
  keys: string[];
  /** values[period][key]. */
  values: number[][];
}

/** Transitions per period, summed by the stage entered (`to`). */
export function transitionSeries(report: Pick<LifecycleReport, 'transitions'>, order: string[]): StackedSeries {
  const periods = [...new Set(report.transitions.map((t) => t.period))].sort();
  const present = new Set(report.transitions.map((t) => t.to));
  const keys = [...order.filter((s) => present.has(s)), ...[...present].filter((s) => !order.includes(s)).sort()];
  const values = periods.map(() => keys.map(() => 0));
  for (const t of report.transitions) values[periods.indexOf(t.period)][keys.indexOf(t.to)] += t.count;
  return { periods, keys, values };
}

export interface TransitionRow { from: string; to: string; counts: number[]; total: number }

/** One row per from → to pair with its count in each period (`(new)` for a first stage), busiest first. */
export function transitionTable(report: Pick<LifecycleReport, 'transitions'>): { periods: string[]; rows: TransitionRow[] } {
  const periods = [...new Set(report.transitions.map((t) => t.period))].sort();
  const rows = new Map<string, TransitionRow>();
  for (const t of report.transitions) {
    const from = t.from ?? '(new)';
    const key = `${from}\u0000${t.to}`;
    let row = rows.get(key);
    if (!row) { row = { from, to: t.to, counts: periods.map(() => 0), total: 0 }; rows.set(key, row); }
    row.counts[periods.indexOf(t.period)] += t.count;
    row.total += t.count;
  }
  return { periods, rows: [...rows.values()].sort((a, b) => b.total - a.total || a.from.localeCompare(b.from) || a.to.localeCompare(b.to)) };
}

export interface CohortRow { week: string; size: number; cells: (number | null)[] }

/** Cohort rows padded to the longest, with the largest share (for the colour scale). */
export function retentionRows(report: Pick<LifecycleReport, 'retention'>): { weeks: number; rows: CohortRow[]; max: number } {
  const cohorts = report.retention?.cohorts ?? [];
  const weeks = cohorts.reduce((m, c) => Math.max(m, c.weeks.length), 0);
  let max = 0;
  const rows = [...cohorts].sort((a, b) => a.week.localeCompare(b.week)).map((c) => ({
    week: c.week, size: c.size,
    cells: Array.from({ length: weeks }, (_, i) => {
      const v = c.weeks[i];
      if (typeof v !== 'number') return null;
      max = Math.max(max, v);
      return v;
    }),
  }));
  return { weeks, rows, max };
}

export interface GoalRow { workflow: string; name: string; entered: number; converted: number; rate: number }

/** Goals, best rate first; the rate is computed when the report leaves it out. */
export function goalRows(report: Pick<LifecycleReport, 'goals'>): GoalRow[] {
  return report.goals
    .map((g) => ({ ...g, rate: typeof g.rate === 'number' ? g.rate : g.entered > 0 ? g.converted / g.entered : 0 }))
    .sort((a, b) => b.rate - a.rate || a.name.localeCompare(b.name));
}

export function percent(share: number): string {
  return `${Math.round(share * 1000) / 10}%`;
}

/** The query of a report from two calendar dates (`YYYY-MM-DD`, both included), or a problem. */
export function reportRange(from: string, to: string, interval: Interval): { query?: { from: string; to: string; interval: Interval }; problem?: string } {
  const d = /^\d{4}-\d{2}-\d{2}$/;
  if (!d.test(from) || !d.test(to)) return { problem: 'choose both dates' };
  const start = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`) + 86_400_000;
  if (Number.isNaN(start) || Number.isNaN(end)) return { problem: 'choose both dates' };
  if (end <= start) return { problem: 'the start must be on or before the end' };
  const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');
  return { query: { from: iso(start), to: iso(end), interval } };
}

/** The default range: the `days` days up to and including `today` (`YYYY-MM-DD`). */
export function lastDays(today: Date, days: number): { from: string; to: string } {
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const end = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  return { from: day(end - (days - 1) * 86_400_000), to: day(end) };
}

/** A short label of a period start: `16 Nov` (UTC). */
export function periodLabel(at: string): string {
  const t = Date.parse(at.length === 10 ? `${at}T00:00:00Z` : at);
  if (Number.isNaN(t)) return at;
  return new Date(t).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
}
