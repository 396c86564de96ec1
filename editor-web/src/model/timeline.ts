// Timeline entries in words: the kinds of a simulation's timeline (POST …/simulate) and
// the entries of a run's timeline (GET /v1/runs/{id}, the engine's `Entry`: `at`,
// `node`, `type` and the fields of that type).

/** The `kind` of a simulated timeline entry, as the server names it, with a label. */
export const TIMELINE_KINDS = {
  event: 'event',
  entered: 'entered',
  node_entered: 'step',
  decision: 'decision',
  variant: 'variant',
  waiting: 'waiting',
  no_wait: 'no wait',
  resumed: 'received',
  timed_out: 'timed out',
  sent: 'sent',
  delivered: 'delivered',
  skipped: 'skipped',
  quiet_hours: 'quiet hours',
  frequency_capped: 'capped',
  contact_updated: 'contact updated',
  converted: 'converted',
  completed: 'completed',
  exited: 'exited',
  delivery_failed: 'delivery failed',
  delivery_unknown: 'delivery unknown',
  delivery_skipped: 'not delivered',
} as const;

export type TimelineKind = keyof typeof TIMELINE_KINDS;

export function kindLabel(kind: string): string {
  return (TIMELINE_KINDS as Record<string, string>)[kind] ?? kind.replace(/_/g, ' ');
}

type Entry = Record<string, unknown>;

const text = (v: unknown) => (v === undefined || v === null ? 'missing' : typeof v === 'string' ? v : JSON.stringify(v));

/** Label and description of a run's timeline entry (the engine's `What`, tagged by `type`). */
export function describeRunEntry(e: Entry): { label: string; detail: string } {
  const when = (v: unknown) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v).toLocaleString() : text(v));
  switch (e.type) {
    case 'entered':
      return { label: 'entered', detail: `on ${text(e.trigger)}${e.correlation ? ` (${text(e.correlation)})` : ''}` };
    case 'node_entered':
      return { label: 'step', detail: text(e.node_type).replace(/_/g, ' ') };
    case 'decision': {
      const compared = Array.isArray(e.compared) ? (e.compared as Entry[]) : [];
      const values = compared.map((c) => `${text(c.left)} (${text(c.left_value)}) ${text(c.op)} ${c.right_value === undefined ? '' : text(c.right_value)} → ${text(c.result)}`);
      return { label: 'decision', detail: `took ${text(e.port)}${values.length ? ` [${values.join('; ')}]` : ''}` };
    }
    case 'variant':
      return { label: 'variant', detail: `${text(e.variant)}${e.holdout ? ' (holdout)' : ''}` };
    case 'waiting_until':
      return { label: 'waiting', detail: `until ${when(e.until)}` };
    case 'waiting_for_event':
      return { label: 'waiting', detail: `for ${text(e.event)} until ${when(e.timeout_at)}` };
    case 'no_wait':
      return { label: 'no wait', detail: text(e.reason) };
    case 'event_received':
      return { label: 'received', detail: text(e.event) };
    case 'timed_out':
      return { label: 'timed out', detail: `waiting for ${text(e.event)}` };
    case 'sent':
      return { label: 'sent', detail: `${text(e.channel)} (${text(e.key)})` };
    case 'waiting_for_delivery':
      // A send with a `failed` port or `save_response` waits for the outcome of its message.
      return { label: 'waiting', detail: 'for the delivery outcome' };
    case 'delivered': {
      const saved = Array.isArray(e.saved) ? e.saved.map((n) => text(n)) : [];
      const status = typeof e.status === 'number' ? ` (HTTP ${e.status})` : '';
      return { label: 'delivered', detail: `delivery confirmed${status}${saved.length ? `, saved ${saved.join(', ')}` : ''}` };
    }
    case 'send_skipped':
      return { label: 'skipped', detail: text(e.reason) };
    case 'delivery_failed':
      return { label: 'delivery failed', detail: `${text(e.channel)} (${text(e.key)}) after ${text(e.attempts)} attempts: ${text(e.error)}` };
    case 'delivery_unknown':
      return { label: 'delivery unknown', detail: `${text(e.channel)} (${text(e.key)}) after ${text(e.attempts)} attempts: ${text(e.error)}` };
    case 'quiet_hours':
      return {
        label: 'quiet hours',
        detail: e.skipped
          ? `${text(e.channel)} skipped: quiet hours in ${text(e.timezone)} until ${when(e.until)}`
          : `${text(e.channel)} waits until quiet hours end in ${text(e.timezone)}: ${when(e.until)}`,
      };
    case 'frequency_capped': {
      const cap = `at most ${text(e.max)} ${text(e.channel)} per ${text(e.period)}`;
      return {
        label: 'capped',
        detail: e.skipped ? `${text(e.channel)} skipped: frequency cap (${cap})` : `${text(e.channel)} waits until ${when(e.until)}: frequency cap (${cap})`,
      };
    }
    case 'delivery_skipped':
      return { label: 'not delivered', detail: `${text(e.channel)} (${text(e.key)}): ${text(e.reason)}` };
    case 'contact_updated':
      return { label: 'contact updated', detail: text(e.changes) };
    case 'converted':
      return { label: 'converted', detail: e.event ? `goal ${text(e.event)}` : 'goal condition' };
    case 'completed':
      return { label: 'completed', detail: '' };
    case 'exited':
      return { label: 'exited', detail: text(e.reason) };
    default: {
      const { at: _at, node: _node, type, ...rest } = e;
      return { label: text(type ?? 'entry').replace(/_/g, ' '), detail: Object.keys(rest).length ? JSON.stringify(rest) : '' };
    }
  }
}
