import { describe, expect, it } from 'vitest';
import { describeRunEntry, kindLabel, TIMELINE_KINDS } from '../src/model/timeline';

describe('timeline entries in words', () => {
  it('labels every kind the simulate endpoint sends (api/src/routes/simulate.rs TimelineKind)', () => {
    const server = ['event', 'entered', 'node_entered', 'decision', 'variant', 'waiting', 'no_wait', 'resumed', 'timed_out',
      'sent', 'skipped', 'contact_updated', 'converted', 'completed', 'exited'];
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
    expect(describeRunEntry({ at: 'x', node: 'n', type: 'brand_new', extra: 1 })).toEqual({ label: 'brand new', detail: '{"extra":1}' });
  });
});
