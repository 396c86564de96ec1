// The trigger types of a journey: labels, what a newly chosen type starts with, the
// problems of each field (by field name, shown next to it), and the one-line summary on
// the canvas box.

import { isObject, MATCHER_OPS, OP_LABELS, type Json, type MatcherOp, type TriggerType } from './types';
import { isTimeZone, parseCron } from './cron';

export const TRIGGER_TYPES: { value: TriggerType; label: string }[] = [
  { value: 'event', label: 'when they perform an event' },
  { value: 'api', label: 'when started through the API' },
  { value: 'segment_entered', label: 'when they enter a segment' },
  { value: 'segment_exited', label: 'when they leave a segment' },
  { value: 'schedule', label: 'on a schedule (the members of a segment)' },
  { value: 'date_property', label: 'on a date of theirs (birthday, renewal…)' },
  { value: 'attribute_changed', label: 'when one of their attributes changes' },
  { value: 'stage_changed', label: 'when their lifecycle stage changes' },
];

export function isTriggerType(t: unknown): t is TriggerType {
  return TRIGGER_TYPES.some((x) => x.value === t);
}

/** What a trigger of `type` starts with (without `next`, which is a connection). */
export function defaultTrigger(type: TriggerType, ctx: { timezone?: string } = {}): Record<string, unknown> {
  switch (type) {
    case 'event': return { type, event: '' };
    case 'api': return { type };
    case 'segment_entered': case 'segment_exited': return { type, segment: '' };
    case 'schedule': return { type, cron: '0 9 * * MON', timezone: ctx.timezone || 'UTC', segment: '' };
    case 'date_property': return { type, attribute: '', offset_days: 0, at: '09:00', repeat: 'yearly' };
    case 'attribute_changed': return { type, attribute: '' };
    case 'stage_changed': return { type };
  }
}

/** Changes the trigger's type, keeping its connection (`next`) and fields both types share. */
export function changeTriggerType(config: Record<string, unknown>, type: TriggerType, ctx: { timezone?: string } = {}): Record<string, unknown> {
  const out = defaultTrigger(type, ctx);
  for (const k of Object.keys(out)) if (k !== 'type' && config[k] !== undefined && typeof config[k] === typeof out[k]) out[k] = config[k];
  if (config.next !== undefined) out.next = config.next;
  return out;
}

export const MATCHER_NO_RIGHT: MatcherOp[] = ['exists', 'not_exists'];
export const MATCHER_LIST: MatcherOp[] = ['in', 'not_in'];

/** Sets a matcher's operator, keeping (or converting) the value. */
export function withMatcherOp(m: Record<string, unknown>, op: MatcherOp): Record<string, unknown> {
  const out: Record<string, unknown> = { op };
  if (MATCHER_NO_RIGHT.includes(op)) return out;
  const r = m.right;
  if (MATCHER_LIST.includes(op)) out.right = Array.isArray(r) ? r : r === undefined || r === '' ? [] : [r as Json];
  else out.right = Array.isArray(r) ? (r[0] ?? '') : r ?? '';
  return out;
}

/** Text typed into a value box: a number when it reads as one, else the text. */
export function parseValue(s: string): Json {
  const t = s.trim();
  if (t !== '' && !Number.isNaN(Number(t)) && /^-?\d/.test(t)) return Number(t);
  if (t === 'true' || t === 'false') return t === 'true';
  return s;
}

function matcherProblem(m: unknown): string | null {
  if (!isObject(m)) return 'choose how the value is matched';
  if (!(MATCHER_OPS as readonly string[]).includes(String(m.op))) return `“${String(m.op)}” is not an operator here`;
  const op = m.op as MatcherOp;
  if (MATCHER_NO_RIGHT.includes(op)) return m.right === undefined ? null : 'no value is compared here';
  if (MATCHER_LIST.includes(op)) return Array.isArray(m.right) && m.right.length > 0 ? null : 'list at least one value';
  if (['gt', 'gte', 'lt', 'lte'].includes(op) && typeof m.right !== 'number') return 'enter a number';
  if (m.right === undefined || m.right === '') return 'enter a value';
  return null;
}

/** The problems of a trigger, by field name (`segment`, `cron`, `offset_days`, …). `stages`,
 * `segments`: the known ones, when loaded (an unknown one is a problem). */
export function triggerProblems(t: Record<string, unknown>, ctx: { stages?: string[]; segments?: string[] } = {}): Record<string, string> {
  const p: Record<string, string> = {};
  const blank = (v: unknown) => typeof v !== 'string' || v.trim() === '';
  const checkSegment = () => {
    if (blank(t.segment)) p.segment = 'choose a segment';
    else if (ctx.segments && !ctx.segments.includes(String(t.segment))) p.segment = `there is no segment “${String(t.segment)}”`;
  };
  switch (t.type) {
    case 'event':
      if (blank(t.event)) p.event = 'choose the event';
      break;
    case 'api':
      break;
    case 'segment_entered': case 'segment_exited':
      checkSegment();
      break;
    case 'schedule': {
      if (blank(t.cron)) p.cron = 'choose when it runs';
      else {
        const c = parseCron(String(t.cron));
        if (c.problems.length) p.cron = c.problems.join('; ');
      }
      if (blank(t.timezone)) p.timezone = 'choose a time zone';
      else if (!isTimeZone(String(t.timezone))) p.timezone = `“${String(t.timezone)}” is not a time zone name like Europe/Berlin`;
      checkSegment();
      break;
    }
    case 'date_property': {
      if (blank(t.attribute)) p.attribute = 'choose the contact attribute holding the date';
      const o = t.offset_days;
      if (typeof o !== 'number' || !Number.isInteger(o)) p.offset_days = 'a whole number of days';
      else if (o < -365 || o > 365) p.offset_days = 'at most 365 days before or after';
      if (typeof t.at !== 'string' || !/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(t.at)) p.at = 'HH:MM on a 24-hour clock, e.g. 09:00';
      if (t.repeat !== 'yearly' && t.repeat !== 'once') p.repeat = 'every year or once';
      break;
    }
    case 'attribute_changed': {
      if (blank(t.attribute)) p.attribute = 'choose the attribute';
      for (const k of ['from', 'to'] as const) {
        if (t[k] === undefined) continue;
        const m = matcherProblem(t[k]);
        if (m) p[k] = m;
      }
      break;
    }
    case 'stage_changed': {
      for (const k of ['from', 'to'] as const) {
        const v = t[k];
        if (v === undefined) continue;
        if (!Array.isArray(v)) { p[k] = 'a list of stages'; continue; }
        if (v.length === 0) { p[k] = 'an empty list matches no stage: tick stages, or none for any stage'; continue; }
        const unknown = ctx.stages ? v.filter((s) => !ctx.stages!.includes(String(s))) : [];
        if (unknown.length) p[k] = `unknown stage${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`;
      }
      if (Array.isArray(t.from) && Array.isArray(t.to) && t.from.length > 0 && t.to.length > 0 && t.to.every((s) => (t.from as unknown[]).includes(s))) {
        p.to = 'a contact moving to one of these must come from another stage: pick different stages';
      }
      break;
    }
    default:
      p.type = `unknown trigger type “${String(t.type)}”`;
  }
  return p;
}

function describeMatcher(m: unknown): string {
  if (!isObject(m)) return '';
  const op = OP_LABELS[m.op as MatcherOp] ?? String(m.op);
  if (m.right === undefined) return op;
  return `${op} ${Array.isArray(m.right) ? m.right.join(', ') : String(m.right)}`;
}

/** "3 days before contact.renewal_date at 09:00" and the like. */
export function describeTrigger(t: Record<string, unknown>): string {
  const s = (v: unknown) => (typeof v === 'string' && v !== '' ? v : '…');
  switch (t.type) {
    case 'api': return 'Started through the API';
    case 'segment_entered': return `Enters segment ${s(t.segment)}`;
    case 'segment_exited': return `Leaves segment ${s(t.segment)}`;
    case 'schedule': return `${s(t.segment)} at ${s(t.cron)} (${s(t.timezone)})`;
    case 'date_property': {
      const o = typeof t.offset_days === 'number' ? t.offset_days : 0;
      const when = o === 0 ? 'On' : `${Math.abs(o)} day${Math.abs(o) === 1 ? '' : 's'} ${o < 0 ? 'before' : 'after'}`;
      return `${when} contact.${s(t.attribute)} at ${s(t.at)}${t.repeat === 'once' ? ', once' : ', every year'}`;
    }
    case 'attribute_changed': {
      const from = t.from ? ` from ${describeMatcher(t.from)}` : '';
      const to = t.to ? ` to ${describeMatcher(t.to)}` : '';
      return `contact.${s(t.attribute)} changes${from}${to}`;
    }
    case 'stage_changed': {
      const list = (v: unknown) => (Array.isArray(v) && v.length ? v.join(' / ') : 'any stage');
      return `Stage ${list(t.from)} → ${list(t.to)}`;
    }
    default: return `When ${s(t.event)}${t.correlation_key ? ` (per ${String(t.correlation_key)})` : ''}`;
  }
}
