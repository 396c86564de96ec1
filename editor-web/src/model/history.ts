// The event-history leaf of a condition (segments, lifecycle stage rules, scoring rules;
// the server refuses it inside journey nodes):
//   {"performed": "purchase", "measure": "count", "within_last": "90d", "op": "gte", "right": 3}
// Pure helpers: defaults, what a change of measure or operator does to the other fields,
// the problems of a leaf by field, and the problems of a whole condition by pointer.

import { isObject, isRef, OP_LABELS, type Json, type Measure, type Op } from './types';
import { pointerOf, type PointerProblem } from './pointers';

export type { HistoryCondition, Measure } from './types';
export const MEASURES: readonly Measure[] = ['count', 'sum', 'avg', 'min', 'max', 'first_at', 'last_at'];
/** Measures over a numeric event property: they need `property`. */
export const PROPERTY_MEASURES: Measure[] = ['sum', 'avg', 'min', 'max'];
/** Measures that are a time (of the first / last such event). */
export const TIME_MEASURES: Measure[] = ['first_at', 'last_at'];
export const NUMBER_OPS: Op[] = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'];
export const TIME_OPS: Op[] = ['before', 'after', 'within_last', 'more_than_ago', 'exists', 'not_exists'];

export const MEASURE_LABELS: Record<Measure, string> = {
  count: 'number of times',
  sum: 'total of a property',
  avg: 'average of a property',
  min: 'smallest value of a property',
  max: 'largest value of a property',
  first_at: 'first time',
  last_at: 'last time',
};

/** How the operators read after a time measure ("last time … is more than 30d ago"). */
export const TIME_OP_LABELS: Partial<Record<Op, string>> = {
  before: 'was before', after: 'was after', within_last: 'was within the last', more_than_ago: 'was more than',
  exists: 'ever happened', not_exists: 'never happened',
};

/** Whether a condition node is an event-history leaf. */
export function isHistoryLeaf(c: unknown): c is Record<string, unknown> & { performed: unknown } {
  return isObject(c) && 'performed' in c;
}

export function opsFor(measure: unknown): Op[] {
  return TIME_MEASURES.includes(measure as Measure) ? TIME_OPS : NUMBER_OPS;
}

/** A new leaf: "performed <event> at least once in the last 30 days". */
export function newHistoryLeaf(event = ''): Record<string, unknown> {
  return { performed: event, measure: 'count', within_last: '30d', op: 'gte', right: 1 };
}

/** The value an operator starts with. */
function defaultRight(op: Op): Json | undefined {
  if (op === 'exists' || op === 'not_exists') return undefined;
  if (op === 'within_last' || op === 'more_than_ago') return '30d';
  if (op === 'before' || op === 'after') return '';
  return op === 'gte' || op === 'gt' ? 1 : 0;
}

/** Sets the operator, keeping the value when it still fits, else the operator's default. */
export function withOp(leaf: Record<string, unknown>, op: Op): Record<string, unknown> {
  const out: Record<string, unknown> = { ...leaf, op };
  const fits = (v: unknown) => {
    if (op === 'exists' || op === 'not_exists') return v === undefined;
    if (op === 'within_last' || op === 'more_than_ago') return typeof v === 'string' && isDuration(v);
    if (op === 'before' || op === 'after') return typeof v === 'string' && !isDuration(v);
    return typeof v === 'number';
  };
  if (!fits(leaf.right)) {
    const r = defaultRight(op);
    if (r === undefined) delete out.right; else out.right = r;
  }
  return out;
}

/** Sets the measure: a property measure keeps (or asks for) `property`, the others drop it;
 * the operator changes to one that applies (count ≥ 1, last time within the last 30d). */
export function withMeasure(leaf: Record<string, unknown>, measure: Measure): Record<string, unknown> {
  let out: Record<string, unknown> = { ...leaf, measure };
  if (PROPERTY_MEASURES.includes(measure)) out.property = typeof leaf.property === 'string' ? leaf.property : '';
  else delete out.property;
  const ops = opsFor(measure);
  if (!ops.includes(leaf.op as Op)) out = withOp(out, TIME_MEASURES.includes(measure) ? 'within_last' : 'gte');
  return out;
}

/** `90d`, `12h`, `2w`, `30m`, `45s` (several parts allowed: `1d 12h`). */
export function isDuration(v: string): boolean {
  return /^\s*(\d+\s*[smhdw]\s*)+$/.test(v) && /\d/.test(v);
}

/** A date the server can compare with: RFC 3339 or a plain `YYYY-MM-DD`. */
export function isDateText(v: string): boolean {
  return /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) && !Number.isNaN(Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v));
}

/** An event property path: `amount`, `order.total`, `items.0.price`. */
export function isPropertyPath(v: string): boolean {
  return /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(v);
}

const VERB: Record<string, string> = { sum: 'sum', avg: 'average', min: 'take the smallest value of', max: 'take the largest value of' };

/** The problems of a leaf by field (`performed`, `measure`, `property`, `within_last`, `op`, `right`, `where`). */
export function historyProblems(leaf: Record<string, unknown>): Record<string, string> {
  const p: Record<string, string> = {};
  const measure = leaf.measure as Measure;
  if (typeof leaf.performed !== 'string' || leaf.performed.trim() === '') p.performed = 'choose the event';
  if (!MEASURES.includes(measure)) p.measure = 'choose what to measure';
  if (PROPERTY_MEASURES.includes(measure)) {
    if (typeof leaf.property !== 'string' || leaf.property.trim() === '') p.property = `choose a property to ${VERB[measure]}`;
    else if (!isPropertyPath(leaf.property)) p.property = 'a property of the event, like amount or order.total';
  } else if (leaf.property !== undefined && MEASURES.includes(measure)) {
    p.property = 'only a total, average, smallest or largest value reads a property';
  }
  if (leaf.within_last !== undefined && (typeof leaf.within_last !== 'string' || !isDuration(leaf.within_last))) {
    p.within_last = 'a period like 90d, 12h or 2w';
  }
  const op = leaf.op as Op;
  if (MEASURES.includes(measure)) {
    if (!opsFor(measure).includes(op)) {
      p.op = `“${OP_LABELS[op] ?? String(op)}” does not apply to the ${MEASURE_LABELS[measure]}`;
    } else if (op === 'exists' || op === 'not_exists') {
      if (leaf.right !== undefined) p.right = 'no value is compared here';
    } else if (op === 'within_last' || op === 'more_than_ago') {
      if (typeof leaf.right !== 'string' || !isDuration(leaf.right)) p.right = 'a period like 30d, 12h or 2w';
    } else if (op === 'before' || op === 'after') {
      if (typeof leaf.right !== 'string' || !isDateText(leaf.right)) p.right = 'a date like 2026-01-31 or 2026-01-31T09:00:00Z';
    } else if (typeof leaf.right !== 'number' || !Number.isFinite(leaf.right)) {
      p.right = 'enter a number';
    } else if (measure === 'count' && (leaf.right < 0 || !Number.isInteger(leaf.right))) {
      p.right = 'a number of times is a whole number, 0 or more';
    }
  }
  if (leaf.where !== undefined) {
    if (!isObject(leaf.where)) p.where = 'the filter is not a condition';
    else {
      const bad = leavesOf(leaf.where).find((l) => isHistoryLeaf(l) || (typeof l.left === 'string' && !l.left.startsWith('event.')));
      if (bad) p.where = isHistoryLeaf(bad) ? 'a filter cannot look at event history again' : `the filter reads the event's properties (event.properties.…), not ${String(bad.left)}`;
    }
  }
  return p;
}

function leavesOf(c: Record<string, unknown>): Record<string, unknown>[] {
  if (Array.isArray(c.all)) return (c.all as unknown[]).filter(isObject).flatMap(leavesOf);
  if (Array.isArray(c.any)) return (c.any as unknown[]).filter(isObject).flatMap(leavesOf);
  if ('not' in c) return isObject(c.not) ? leavesOf(c.not) : [];
  return [c];
}

/** Every problem of a condition, by pointer relative to the condition (`/all/0/property`).
 * Without `allowHistory` (journeys), an event-history leaf is itself a problem. */
export function conditionProblems(c: unknown, opts: { allowHistory?: boolean } = {}, at: (string | number)[] = []): PointerProblem[] {
  const here = pointerOf(at);
  if (!isObject(c)) return [{ pointer: here, message: 'add a condition' }];
  for (const mode of ['all', 'any'] as const) {
    if (Array.isArray(c[mode])) {
      const items = c[mode] as unknown[];
      if (items.length === 0) return [{ pointer: here, message: `add something to “${mode === 'all' ? 'all of these' : 'any of these'}”` }];
      return items.flatMap((x, i) => conditionProblems(x, opts, [...at, mode, i]));
    }
  }
  if ('not' in c) return conditionProblems(c.not, opts, [...at, 'not']);
  if (isHistoryLeaf(c)) {
    if (!opts.allowHistory) return [{ pointer: here, message: 'event history can be used in segments and lifecycle rules, not in journeys' }];
    return Object.entries(historyProblems(c)).map(([field, message]) => ({ pointer: pointerOf([...at, field]), message }));
  }
  if (typeof c.left !== 'string' || c.left.trim() === '') return [{ pointer: pointerOf([...at, 'left']), message: 'choose what to compare' }];
  return [];
}

/** One line in words: "purchase: number of times in the last 90d is at least 3". */
export function describeHistory(c: Record<string, unknown>): string {
  const measure = c.measure as Measure;
  const what = PROPERTY_MEASURES.includes(measure) ? `${MEASURE_LABELS[measure].replace('a property', String(c.property || '…'))}` : MEASURE_LABELS[measure] ?? String(c.measure);
  const within = typeof c.within_last === 'string' ? ` in the last ${c.within_last}` : '';
  const where = isObject(c.where) ? ' (filtered)' : '';
  const op = c.op as Op;
  const opText = TIME_MEASURES.includes(measure) ? TIME_OP_LABELS[op] ?? OP_LABELS[op] : OP_LABELS[op] ?? String(op);
  const right = c.right === undefined ? '' : ` ${isRef(c.right) ? c.right.ref : typeof c.right === 'string' ? c.right : JSON.stringify(c.right)}`;
  if (op === 'more_than_ago' && TIME_MEASURES.includes(measure)) return `${String(c.performed || '…')}${where}: ${what}${within} was more than${right} ago`;
  return `${String(c.performed || '…')}${where}: ${what}${within} ${opText}${right}`;
}
