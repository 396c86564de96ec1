import { describe, expect, it } from 'vitest';
import { describeRunEntry, kindLabel, TIMELINE_KINDS } from '../src/model/timeline';

describe('timeline entries in words', () => {
  it('labels every kind the simulate endpoint sends (api/src/routes/simulate.rs TimelineKind)', () => {
    const server = ['event', 'entered', 'node_entered', 'decision', 'variant', 'waiting', 'no_wait', 'resumed', 'timed_out',
      'sent', 'delivered', 'skipped', 'quiet_hours', 'frequency_capped', 'contact_updated', 'converted', 'completed', 'exited', 'delivery_failed',
      'delivery_unknown', 'delivery_skipped'];
    expect(Object.keys(TIMELINE_KINDS).sort()).toEqual([...server].sort());
    expect(kindLabel('timed_out')).toBe('timed out');
    expect(kindLabel('node_entered')).toBe('step');
    expect(kindLabel('something_new')).toBe('something new');
  });

  it('describes the entries of a run (the engine `Entry`, tagged by `type`)', () => {
    expect(describeRunEntry({ at: '2026-01-05T09:00:00Z', type: 'entered', trigger: 'cart_updated', correlation: 'c-1' }))
      .toEqual({ label: 'entered', detail: 'on cart_updated (c-1)' });
    expect(describeRunEntry({ at: '2026-01-05T09:00:00Z', node: 'has_phone', type: 'decision', port: 'sms_ok',
      compared: [{ left: 'contact.phone', left_value: '+1555', op: 'exists', result: true }] }))
      .toEqual({ label: 'decision', detail: 'took sms_ok [contact.phone (+1555) exists  → true]' });
    expect(describeRunEntry({ at: 'x', node: 'w', type: 'timed_out', event: 'order_completed' }).detail).toBe('waiting for order_completed');
    expect(describeRunEntry({ at: 'x', node: 's', type: 'sent', key: 'r:s:1', channel: 'email' })).toEqual({ label: 'sent', detail: 'email (r:s:1)' });
    expect(describeRunEntry({ at: 'x', type: 'completed' })).toEqual({ label: 'completed', detail: '' });
    const until = '2026-03-08T12:00:00Z';
    const local = new Date(until).toLocaleString();
    expect(describeRunEntry({ at: 'x', node: 'offer', type: 'quiet_hours', channel: 'email', until, timezone: 'America/New_York', skipped: false }))
      .toEqual({ label: 'quiet hours', detail: `email waits until quiet hours end in America/New_York: ${local}` });
    expect(describeRunEntry({ at: 'x', node: 'offer', type: 'quiet_hours', channel: 'sms', until, timezone: 'UTC', skipped: true }).detail)
      .toBe(`sms skipped: quiet hours in UTC until ${local}`);
    expect(describeRunEntry({ at: 'x', node: 'remind', type: 'frequency_capped', channel: 'email', max: 2, period: '1d', until, skipped: false }))
      .toEqual({ label: 'capped', detail: `email waits until ${local}: frequency cap (at most 2 email per 1d)` });
    expect(describeRunEntry({ at: 'x', node: 'remind', type: 'frequency_capped', channel: 'email', max: 2, period: '1d', until, skipped: true }).detail)
      .toBe('email skipped: frequency cap (at most 2 email per 1d)');
    expect(kindLabel('quiet_hours')).toBe('quiet hours');
    expect(kindLabel('frequency_capped')).toBe('capped');
    expect(describeRunEntry({ at: 'x', node: 's', type: 'delivery_skipped', key: 'r:s:1', channel: 'email', reason: 'the contact unsubscribed from email' }))
      .toEqual({ label: 'not delivered', detail: 'email (r:s:1): the contact unsubscribed from email' });
    expect(describeRunEntry({ at: 'x', node: 'n', type: 'brand_new', extra: 1 })).toEqual({ label: 'brand new', detail: '{"extra":1}' });
  });

  it('describes waiting for a delivery outcome and a confirmed delivery (a send with a failed port or save_response)', () => {
    expect(describeRunEntry({ at: 'x', node: 'notify_crm', type: 'waiting_for_delivery', key: 'r:notify_crm:1' }))
      .toEqual({ label: 'waiting', detail: 'for the delivery outcome' });
    expect(describeRunEntry({ at: 'x', node: 'notify_crm', type: 'delivered', key: 'r:notify_crm:1', status: 201, saved: ['crm_id'] }))
      .toEqual({ label: 'delivered', detail: 'delivery confirmed (HTTP 201), saved crm_id' });
    expect(describeRunEntry({ at: 'x', node: 'notify_crm', type: 'delivered', key: 'k', status: 200, saved: ['crm_id', 'tier'] }).detail)
      .toBe('delivery confirmed (HTTP 200), saved crm_id, tier');
    // `status` is optional, `saved` may be empty or left out.
    expect(describeRunEntry({ at: 'x', node: 'mail', type: 'delivered', key: 'k', saved: [] }).detail).toBe('delivery confirmed');
    expect(describeRunEntry({ at: 'x', node: 'mail', type: 'delivered', key: 'k' }).detail).toBe('delivery confirmed');
    expect(describeRunEntry({ at: 'x', node: 'hook', type: 'delivered', key: 'k', status: 204 }).detail).toBe('delivery confirmed (HTTP 204)');
  });
});
