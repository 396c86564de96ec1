// What a node dropped from the palette starts with, and fresh node ids.
import type { NodeType } from './types';

export function defaultConfig(type: NodeType | 'trigger'): Record<string, unknown> {
  switch (type) {
    case 'trigger': return { type: 'event', event: '' };
    case 'delay': return { duration: '1d' };
    case 'wait_until': return { until: { type: 'time_window', start: '09:00', end: '17:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] } };
    case 'wait_for_event': return { event: '', timeout: '1d' };
    case 'branch': return { rules: [{ name: 'rule_1', condition: { left: 'contact.email', op: 'exists' } }] };
    case 'split': return { variants: [{ name: 'A', weight: 50 }, { name: 'B', weight: 50 }] };
    case 'send': return { message: { channel: 'email', subject: '', body: '' } };
    case 'update_contact': return { updates: [{ op: 'add_tag', tag: '' }] };
    case 'exit': return {};
  }
}

/** The empty message of `channel`, when a send node switches to it. */
export function defaultMessage(channel: string): Record<string, unknown> {
  switch (channel) {
    case 'email': return { channel, subject: '', body: '' };
    case 'sms': return { channel, body: '' };
    case 'push': return { channel, title: '', body: '' };
    case 'slack': return { channel, text: '' };
    default: return { channel: 'webhook', method: 'POST', url: 'https://', body: {} };
  }
}

/** A slug node id for `type` not in `taken`: `send_1`, `send_2`, ... */
export function freshId(type: string, taken: Set<string>): string {
  for (let i = 1; ; i++) {
    const id = `${type}_${i}`;
    if (!taken.has(id)) return id;
  }
}

/** Node ids the format accepts: lowercase letters, digits, `_`, `-`. */
export const NODE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
