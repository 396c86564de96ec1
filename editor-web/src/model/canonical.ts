// The canonical bytes of a journey, as `kairos fmt` and the API's export write them:
// serde_json's pretty printer (two spaces, `"key": value`), keys in the order of the
// Rust structs, maps (`layout`, webhook `headers`, a send's `save_response`, literal
// JSON values) sorted by key, defaults filled in (settings, webhook method), a trailing
// newline.
//
// Drafts may hold fields the format does not know; they are kept (after the known
// ones, sorted) so that saving never silently drops what a user wrote.

import { isObject } from './types';

/** An object whose keys are written in insertion order (a Rust struct). */
export class Ordered {
  constructor(public readonly entries: [string, unknown][]) {}
}

/** Compare strings as Rust does (UTF-8 bytes = code point order). */
export function compareKeys(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** A number as serde_json writes it: integers as integers, other numbers like ryu. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return 'null';
  if (Number.isInteger(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER) return String(n === 0 ? 0 : n);
  // Shortest round-trip digits and exponent, then ryu's layout.
  const [mant, expText] = Math.abs(n).toExponential().split('e');
  const digits = mant.replace('.', '');
  const sign = n < 0 ? '-' : '';
  const length = digits.length;
  const kk = Number(expText) + 1; // position of the decimal point
  const k = kk - length; // exponent of the last digit
  let out: string;
  if (k >= 0 && kk <= 16) out = digits + '0'.repeat(k) + '.0';
  else if (kk > 0 && kk <= 16) out = digits.slice(0, kk) + '.' + digits.slice(kk);
  else if (kk > -5 && kk <= 0) out = '0.' + '0'.repeat(-kk) + digits;
  else if (length === 1) out = digits + 'e' + (kk - 1);
  else out = digits[0] + '.' + digits.slice(1) + 'e' + (kk - 1);
  return sign + out;
}

/** serde_json's `to_string_pretty` of a value built from `Ordered`, arrays, plain objects (sorted) and primitives. */
export function prettyPrint(value: unknown, indent = ''): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return '[\n' + value.map((v) => inner + prettyPrint(v, inner)).join(',\n') + '\n' + indent + ']';
  }
  let entries: [string, unknown][];
  if (value instanceof Ordered) entries = value.entries.filter(([, v]) => v !== undefined);
  else if (isObject(value)) {
    entries = Object.keys(value).sort(compareKeys).map((k) => [k, value[k]] as [string, unknown]).filter(([, v]) => v !== undefined);
  } else return 'null';
  if (entries.length === 0) return '{}';
  return '{\n' + entries.map(([k, v]) => inner + JSON.stringify(k) + ': ' + prettyPrint(v, inner)).join(',\n') + '\n' + indent + '}';
}

type Writer = (v: unknown) => unknown;
type Field = string | [string, Writer];

/** The struct `obj` with `fields` first, in order, then any unknown fields, sorted. */
function struct(obj: unknown, fields: Field[]): unknown {
  if (!isObject(obj)) return obj;
  const entries: [string, unknown][] = [];
  const known = new Set<string>();
  for (const f of fields) {
    const [name, write] = typeof f === 'string' ? [f, (v: unknown) => v] : f;
    known.add(name);
    if (obj[name] !== undefined) entries.push([name, write(obj[name])]);
  }
  for (const k of Object.keys(obj).sort(compareKeys)) {
    if (!known.has(k) && obj[k] !== undefined) entries.push([k, obj[k]]);
  }
  return new Ordered(entries);
}

const list = (w: Writer): Writer => (v) => (Array.isArray(v) ? v.map(w) : v);

export const writeCondition: Writer = (c) => {
  if (!isObject(c)) return c;
  // An event-history leaf (segments, lifecycle rules) as the contract writes it:
  // performed, measure, property, within_last, op, right, where.
  return struct(c, [
    ['all', list(writeCondition)], ['any', list(writeCondition)], ['not', writeCondition],
    'performed', 'measure', 'property', 'within_last', 'left', 'op', 'right', ['where', writeCondition],
  ]);
};

const writeEventMatch: Writer = (m) => struct(m, ['event', ['conditions', writeCondition]]);

function skipFalse(o: Record<string, unknown>): Record<string, unknown> {
  return o.exit === false ? { ...o, exit: undefined } : o;
}

const writeGoal: Writer = (g) => {
  if (!isObject(g)) return g;
  const o = skipFalse(g);
  if (g.type === 'condition') return struct(o, ['type', ['condition', writeCondition], 'exit', 'within']);
  return struct(o, ['type', 'event', ['conditions', writeCondition], 'exit', 'within']);
};

const writeQuietHours: Writer = (q) => {
  if (!isObject(q)) return q;
  return struct(q.behaviour === 'wait' ? { ...q, behaviour: undefined } : q, ['start', 'end', 'behaviour']);
};

const writeSettings: Writer = (s) => {
  if (s !== undefined && !isObject(s)) return s;
  const o: Record<string, unknown> = { reentry: 'once', timezone: 'UTC', ...(s ?? {}) };
  if (Array.isArray(o.exit_when) && o.exit_when.length === 0) o.exit_when = undefined;
  // The defaults are left out, as serde skips them.
  if (o.quiet_hours === 'inherit') o.quiet_hours = undefined;
  if (o.frequency_caps === 'apply') o.frequency_caps = undefined;
  return struct(o, [
    'reentry', ['exit_when', list(writeEventMatch)], ['goal', writeGoal], 'timezone',
    ['quiet_hours', writeQuietHours], 'frequency_caps',
  ]);
};

const writeTrigger: Writer = (t) => {
  if (!isObject(t)) return t;
  const matcher: Writer = (m) => struct(m, ['op', 'right']);
  switch (t.type) {
    case 'api': return struct(t, ['type', 'next']);
    case 'segment_entered': case 'segment_exited': return struct(t, ['type', 'segment', 'next']);
    case 'schedule': return struct(t, ['type', 'cron', 'timezone', 'segment', 'next']);
    case 'date_property': return struct(t, ['type', 'attribute', 'offset_days', 'at', 'repeat', 'next']);
    case 'attribute_changed': return struct(t, ['type', 'attribute', ['from', matcher], ['to', matcher], 'next']);
    case 'stage_changed': return struct(t, ['type', 'from', 'to', 'next']);
  }
  return struct(t, ['type', 'event', ['conditions', writeCondition], 'correlation_key', 'next']);
};

const writeUntil: Writer = (u) => {
  if (!isObject(u)) return u;
  switch (u.type) {
    case 'timestamp': return struct(u, ['type', 'at']);
    case 'attribute': return struct(u, ['type', 'attribute', 'offset', 'time_of_day']);
    case 'time_window': return struct(u, ['type', 'start', 'end', 'days', 'timezone']);
    default: return struct(u, ['type']);
  }
};

const writeMessage: Writer = (m) => {
  if (!isObject(m)) return m;
  // A library template: `send::TemplateRef`.
  if ('template' in m) return struct(m, ['channel', 'template', 'version']);
  switch (m.channel) {
    case 'email': return struct(m, ['channel', 'subject', 'body', 'from', 'reply_to', 'text', 'headers']);
    case 'sms': return struct(m, ['channel', 'body']);
    case 'push': return struct(m, ['channel', 'title', 'body', 'url']);
    case 'webhook': {
      const o: Record<string, unknown> = { method: 'POST', ...m };
      if (isObject(o.headers) && Object.keys(o.headers).length === 0) o.headers = undefined;
      return struct(o, ['channel', 'method', 'url', 'headers', 'body', 'success']);
    }
    case 'slack': return struct(m, ['channel', 'text', 'blocks']);
    default: return struct(m, ['channel']);
  }
};

const writeUpdate: Writer = (u) => {
  if (!isObject(u)) return u;
  switch (u.op) {
    case 'set': return struct(u, ['op', 'attribute', 'value']);
    case 'unset': return struct(u, ['op', 'attribute']);
    case 'increment': return struct(u, ['op', 'attribute', 'by']);
    case 'set_lifecycle_stage': return struct(u, ['op', 'stage']);
    case 'add_tag': case 'remove_tag': return struct(u, ['op', 'tag']);
    default: return struct(u, ['op']);
  }
};

/** Field order of each node type (`type` first: serde's internal tag). */
export const NODE_FIELDS: Record<string, Field[]> = {
  delay: ['type', 'id', 'duration', 'next'],
  wait_until: ['type', 'id', ['until', writeUntil], 'next'],
  wait_for_event: ['type', 'id', 'event', ['conditions', writeCondition], 'timeout', 'received', 'timed_out'],
  branch: ['type', 'id', ['rules', list((r) => struct(r, ['name', ['condition', writeCondition], 'next']))], 'else'],
  split: ['type', 'id', ['variants', list((v) => struct(v, ['name', 'weight', 'next']))], ['holdout', (h) => struct(h, ['weight', 'next'])]],
  send: ['type', 'id', ['message', writeMessage], 'provider', 'transactional', 'topic', 'save_response', 'next', 'failed'],
  update_contact: ['type', 'id', ['updates', list(writeUpdate)], 'next'],
  exit: ['type', 'id'],
};

export const writeNode: Writer = (n) => {
  if (!isObject(n)) return n;
  return struct(n, NODE_FIELDS[String(n.type)] ?? ['type', 'id']);
};

/** Rust's `f64::round` (half away from zero). */
export function roundHalfAway(f: number): number {
  return f < 0 ? -Math.round(-f) : Math.round(f);
}

const writeLayout: Writer = (l) => {
  if (!isObject(l)) return l;
  const keys = Object.keys(l).sort(compareKeys);
  if (keys.length === 0) return undefined;
  return new Ordered(keys.map((k) => {
    const p = l[k];
    if (!isObject(p)) return [k, p];
    const q = { ...p };
    if (typeof q.x === 'number') q.x = roundHalfAway(q.x);
    if (typeof q.y === 'number') q.y = roundHalfAway(q.y);
    return [k, struct(q, ['x', 'y'])];
  }));
};

/** The ordered form of a journey document. */
export function orderWorkflow(doc: unknown): unknown {
  if (!isObject(doc)) return doc;
  const o = { ...doc };
  if (o.description === '') o.description = undefined;
  if (o.settings === undefined) o.settings = {};
  return struct(o, [
    '$schema', 'id', 'name', 'description', ['trigger', writeTrigger], ['settings', writeSettings],
    ['nodes', list(writeNode)], ['layout', writeLayout],
  ]);
}

/** The canonical text of a journey document (with its trailing newline). */
export function toCanonicalText(doc: unknown): string {
  return prettyPrint(orderWorkflow(doc)) + '\n';
}
