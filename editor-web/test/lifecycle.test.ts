import { describe, expect, it } from 'vitest';
import { goalRows, lastDays, percent, reportRange, retentionRows, stageBars, transitionSeries, transitionTable } from '../src/model/lifecycle';
import type { LifecycleReport } from '../src/api';

const report: LifecycleReport = {
  stages: [{ stage: 'customer', contacts: 12 }, { stage: 'lead', contacts: 30 }, { stage: 'vip', contacts: 2 }],
  transitions: [
    { period: '2026-11-23T00:00:00Z', from: 'lead', to: 'customer', count: 2 },
    { period: '2026-11-16T00:00:00Z', from: 'lead', to: 'customer', count: 3 },
    { period: '2026-11-16T00:00:00Z', from: null, to: 'lead', count: 7 },
    { period: '2026-11-16T00:00:00Z', from: 'subscriber', to: 'customer', count: 1 },
    { period: '2026-11-23T00:00:00Z', from: 'customer', to: 'lapsed', count: 4 },
  ],
  retention: { event: 'purchase', cohorts: [
    { week: '2026-10-12', size: 10, weeks: [0.3] },
    { week: '2026-10-05', size: 40, weeks: [0.25, 0.1, 0.05] },
  ] },
  goals: [
    { workflow: 'welcome', name: 'Welcome series', entered: 100, converted: 23, rate: 0.23 },
    { workflow: 'winback', name: 'Win-back', entered: 50, converted: 20, rate: 0.4 },
  ],
};
const order = ['subscriber', 'lead', 'customer', 'lapsed'];

describe('lifecycle report → charts', () => {
  it('stage bars follow the workspace order, zero for empty stages, unknown stages last', () => {
    expect(stageBars(report, order)).toEqual([
      { label: 'subscriber', value: 0 }, { label: 'lead', value: 30 }, { label: 'customer', value: 12 }, { label: 'lapsed', value: 0 }, { label: 'vip', value: 2 },
    ]);
  });
  it('contacts without a stage (stage: null) are a last bar of their own', () => {
    const withNone = { stages: [{ stage: 'lead', contacts: 3 }, { stage: null, contacts: 7 }] };
    expect(stageBars(withNone, ['lead', 'customer'])).toEqual([
      { label: 'lead', value: 3 }, { label: 'customer', value: 0 }, { label: 'no stage', value: 7 },
    ]);
  });
  it('transitions are summed per period by the stage entered', () => {
    expect(transitionSeries(report, order)).toEqual({
      periods: ['2026-11-16T00:00:00Z', '2026-11-23T00:00:00Z'],
      keys: ['lead', 'customer', 'lapsed'],
      values: [[7, 4, 0], [0, 2, 4]],
    });
  });
  it('the transition table has one row per pair, busiest first, new contacts as (new)', () => {
    const t = transitionTable(report);
    expect(t.rows.map((r) => [r.from, r.to, r.counts, r.total])).toEqual([
      ['(new)', 'lead', [7, 0], 7], ['lead', 'customer', [3, 2], 5], ['customer', 'lapsed', [0, 4], 4], ['subscriber', 'customer', [1, 0], 1],
    ]);
  });
  it('retention rows are sorted by week and padded', () => {
    expect(retentionRows(report)).toEqual({
      weeks: 3, max: 0.3,
      rows: [{ week: '2026-10-05', size: 40, cells: [0.25, 0.1, 0.05] }, { week: '2026-10-12', size: 10, cells: [0.3, null, null] }],
    });
    expect(retentionRows({ retention: null })).toEqual({ weeks: 0, rows: [], max: 0 });
  });
  it('goals best rate first; a missing rate is computed', () => {
    expect(goalRows(report).map((g) => g.workflow)).toEqual(['winback', 'welcome']);
    expect(goalRows({ goals: [{ workflow: 'x', name: 'X', entered: 8, converted: 2 } as never] })[0].rate).toBe(0.25);
    expect(percent(0.2345)).toBe('23.5%');
  });
  it('the date range includes both days', () => {
    expect(reportRange('2026-11-01', '2026-11-30', 'week')).toEqual({ query: { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', interval: 'week' } });
    expect(reportRange('2026-11-30', '2026-11-01', 'day').problem).toBe('the start must be on or before the end');
    expect(reportRange('', '2026-11-01', 'day').problem).toBe('choose both dates');
    expect(lastDays(new Date('2026-11-30T15:00:00Z'), 30)).toEqual({ from: '2026-11-01', to: '2026-11-30' });
  });
});
