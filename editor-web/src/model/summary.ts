// One-line descriptions of nodes and conditions for the canvas boxes.
import { isObject, isRef, OP_LABELS, type Op } from './types';
import { describeTemplateRef, isTemplateRef } from './templates';
import { describeHistory, isHistoryLeaf } from './history';
import { describeTrigger } from './triggers';

export function describeCondition(c: unknown, depth = 0): string {
  if (!isObject(c)) return '—';
  if (Array.isArray(c.all)) return c.all.length === 0 ? 'all of ()' : (depth ? '(' : '') + c.all.map((x) => describeCondition(x, depth + 1)).join(' and ') + (depth ? ')' : '');
  if (Array.isArray(c.any)) return c.any.length === 0 ? 'any of ()' : (depth ? '(' : '') + c.any.map((x) => describeCondition(x, depth + 1)).join(' or ') + (depth ? ')' : '');
  if ('not' in c) return 'not ' + describeCondition(c.not, depth + 1);
  if (isHistoryLeaf(c)) return describeHistory(c);
  const op = OP_LABELS[c.op as Op] ?? String(c.op ?? '?');
  if (!('right' in c)) return `${String(c.left ?? '?')} ${op}`;
  const right = isRef(c.right) ? c.right.ref : JSON.stringify(c.right);
  return `${String(c.left ?? '?')} ${op} ${right}`;
}

export function describeNode(type: string, config: Record<string, unknown>): string {
  const s = (v: unknown) => (typeof v === 'string' && v !== '' ? v : '…');
  switch (type) {
    case 'trigger':
      return describeTrigger(config);
    case 'delay': return `Wait ${s(config.duration)}`;
    case 'wait_until': {
      const u = isObject(config.until) ? config.until : {};
      if (u.type === 'timestamp') return `Until ${s(u.at)}`;
      if (u.type === 'attribute') return `Until contact.${s(u.attribute)}${u.offset ? ` ${String(u.offset)}` : ''}${u.time_of_day ? ` at ${String(u.time_of_day)}` : ''}`;
      if (u.type === 'time_window') return `Between ${s(u.start)}–${s(u.end)} ${Array.isArray(u.days) ? u.days.join(' ') : ''}`;
      return 'Until …';
    }
    case 'wait_for_event': return `${s(config.event)}, at most ${s(config.timeout)}`;
    case 'branch': return `${Array.isArray(config.rules) ? config.rules.length : 0} rule(s) + else`;
    case 'split': {
      const v = Array.isArray(config.variants) ? config.variants : [];
      return v.map((x) => (isObject(x) ? `${String(x.name)} ${String(x.weight)}%` : '?')).join(' · ') + (isObject(config.holdout) ? ` · holdout ${String(config.holdout.weight)}%` : '');
    }
    case 'send': {
      if (isTemplateRef(config.message)) return describeTemplateRef(config.message);
      const m = isObject(config.message) ? config.message : {};
      const what = m.channel === 'email' ? m.subject : m.channel === 'push' ? m.title : m.channel === 'webhook' ? m.url
        : m.channel === 'slack' ? m.text : m.body;
      return `${String(m.channel ?? '?')}: ${s(what)}`;
    }
    case 'update_contact': {
      const u = Array.isArray(config.updates) ? config.updates : [];
      return u.map((x) => (isObject(x) ? `${String(x.op)} ${String(x.attribute ?? x.tag ?? x.stage ?? '')}` : '?')).join(', ') || 'no updates';
    }
    case 'exit': return 'End of the journey';
    default: return 'Unknown node type';
  }
}
