import { describe, expect, it } from 'vitest';
import { conditionProblems, describeHistory, historyProblems, newHistoryLeaf, withMeasure, withOp } from '../src/model/history';
import { problemsAt, problemsUnder } from '../src/model/pointers';

describe('event-history leaf', () => {
  it('starts as "performed at least once in the last 30 days", with only the event missing', () => {
    expect(newHistoryLeaf()).toEqual({ performed: '', measure: 'count', within_last: '30d', op: 'gte', right: 1 });
    expect(historyProblems(newHistoryLeaf())).toEqual({ performed: 'choose the event' });
    expect(historyProblems(newHistoryLeaf('purchase'))).toEqual({});
  });

  it('asks for a property when the measure needs one, and drops it when not', () => {
    const sum = withMeasure(newHistoryLeaf('purchase'), 'sum');
    expect(sum).toEqual({ performed: 'purchase', measure: 'sum', property: '', within_last: '30d', op: 'gte', right: 1 });
    expect(historyProblems(sum)).toEqual({ property: 'choose a property to sum' });
    expect(historyProblems({ ...withMeasure(sum, 'avg') })).toEqual({ property: 'choose a property to average' });
    expect(historyProblems({ ...sum, property: 'order total' }).property).toBe('a property of the event, like amount or order.total');
    expect(historyProblems({ ...sum, property: 'order.total' })).toEqual({});
    expect(withMeasure({ ...sum, property: 'amount' }, 'count')).not.toHaveProperty('property');
  });

  it('switches to a time operator for first/last time, and back', () => {
    const last = withMeasure(newHistoryLeaf('login'), 'last_at');
    expect(last).toMatchObject({ measure: 'last_at', op: 'within_last', right: '30d' });
    expect(withOp(last, 'more_than_ago')).toMatchObject({ op: 'more_than_ago', right: '30d' });
    expect(withOp(last, 'not_exists')).not.toHaveProperty('right');
    expect(withOp(last, 'before')).toMatchObject({ op: 'before', right: '' });
    expect(withMeasure(last, 'count')).toMatchObject({ op: 'gte', right: 1 });
  });

  it('reports operators and values that do not fit the measure', () => {
    expect(historyProblems({ performed: 'login', measure: 'last_at', op: 'gte', right: 3 }).op).toBe('“is at least” does not apply to the last time');
    expect(historyProblems({ performed: 'login', measure: 'count', op: 'eq', right: 1.5 }).right).toBe('a number of times is a whole number, 0 or more');
    expect(historyProblems({ performed: 'login', measure: 'count', op: 'eq', right: '3' }).right).toBe('enter a number');
    expect(historyProblems({ performed: 'login', measure: 'last_at', op: 'more_than_ago', right: 'a month' }).right).toBe('a period like 30d, 12h or 2w');
    expect(historyProblems({ performed: 'login', measure: 'first_at', op: 'after', right: '2026-01-31' })).toEqual({});
    expect(historyProblems({ performed: 'login', measure: 'count', within_last: 'ninety days', op: 'eq', right: 0 }).within_last).toBe('a period like 90d, 12h or 2w');
  });

  it('checks that the where-filter reads event properties', () => {
    const leaf = { performed: 'purchase', measure: 'first_at', op: 'within_last', right: '7d', where: { left: 'contact.plan', op: 'eq', right: 'web' } };
    expect(historyProblems(leaf).where).toBe("the filter reads the event's properties (event.properties.…), not contact.plan");
    expect(historyProblems({ ...leaf, where: { left: 'event.properties.channel', op: 'eq', right: 'web' } })).toEqual({});
  });

  it('the contract examples have no problems', () => {
    for (const c of [
      { performed: 'purchase', measure: 'count', within_last: '90d', op: 'gte', right: 3 },
      { performed: 'purchase', measure: 'sum', property: 'amount', op: 'gte', right: 500 },
      { performed: 'login', measure: 'last_at', op: 'more_than_ago', right: '30d' },
      { performed: 'login', measure: 'count', within_last: '30d', op: 'eq', right: 0 },
      { performed: 'purchase', measure: 'first_at', op: 'within_last', right: '7d', where: { left: 'event.properties.channel', op: 'eq', right: 'web' } },
    ]) expect(conditionProblems(c, { allowHistory: true })).toEqual([]);
  });

  it('describes a leaf in words', () => {
    expect(describeHistory({ performed: 'purchase', measure: 'count', within_last: '90d', op: 'gte', right: 3 })).toBe('purchase: number of times in the last 90d is at least 3');
    expect(describeHistory({ performed: 'purchase', measure: 'sum', property: 'amount', op: 'gte', right: 500 })).toBe('purchase: total of amount is at least 500');
    expect(describeHistory({ performed: 'login', measure: 'last_at', op: 'more_than_ago', right: '30d' })).toBe('login: last time was more than 30d ago');
  });
});

describe('conditionProblems', () => {
  const cond = { all: [
    { left: 'contact.lifecycle_stage', op: 'eq', right: 'customer' },
    { not: { performed: 'purchase', measure: 'sum', op: 'gte', right: 5 } },
    { any: [] },
  ] };
  it('reports by pointer, as the server does', () => {
    expect(conditionProblems(cond, { allowHistory: true })).toEqual([
      { pointer: '/all/1/not/property', message: 'choose a property to sum' },
      { pointer: '/all/2', message: 'add something to “any of these”' },
    ]);
  });
  it('refuses event history where it is not allowed (journeys)', () => {
    expect(conditionProblems(cond)[0]).toEqual({ pointer: '/all/1/not', message: 'event history can be used in segments and lifecycle rules, not in journeys' });
  });
  it('server problems are found under a prefix and at a pointer', () => {
    const server = [{ pointer: '/condition/all/0/right', message: 'unknown stage' }, { pointer: '/name', message: 'required' }];
    expect(problemsUnder(server, '/condition')).toEqual([{ pointer: '/all/0/right', message: 'unknown stage' }]);
    expect(problemsAt(server, '/name')).toEqual(['required']);
  });
});
