import { describe, expect, it } from 'vitest';
import { buildCase } from '../src/panels/testcase';
import { fromRows, parseValue } from '../src/panels/KeyValueRows';

describe('journey test case from a simulation', () => {
  it('expects the actual sends and run ends', () => {
    const c = buildCase('reminder', { id: 'ann', attributes: { email: 'a@x' } }, [{ at: '0s', name: 'cart_updated', properties: { cart_id: 'c-1' } }], {
      // As the server answers (api/src/routes/simulate.rs): no variant is `null`.
      start: '2026-01-05T09:00:00Z',
      runs: [{ run: 1, path: ['wait_for_order', 'send_reminder'], status: 'waiting', node: 'wait_a_day', converted: false, variant: null, ended_at: null }],
      timeline: [],
      sends: [{ run: 1, node: 'send_reminder', channel: 'email', to: 'a@x', subject: 'Hi', title: null, url: null, body: 'x', at: '2026-01-05T10:00:00Z', offset: '1h' }],
      contact: { id: 'ann', attributes: { email: 'a@x' }, tags: [] },
    });
    expect(c.expect).toEqual({
      sends: [{ node: 'send_reminder', channel: 'email', at: '1h' }],
      runs: [{ path: ['wait_for_order', 'send_reminder'], end: { status: 'waiting', node: 'wait_a_day' }, converted: false }],
    });
    expect(c.events[0].name).toBe('cart_updated');
  });
  it('reads typed values from key/value rows', () => {
    expect(parseValue('2')).toBe(2);
    expect(parseValue('c-1')).toBe('c-1');
    expect(parseValue('true')).toBe(true);
    expect(fromRows([{ key: 'item_count', value: '2' }, { key: '', value: 'x' }, { key: 'tags', value: '["a"]' }])).toEqual({ item_count: 2, tags: ['a'] });
  });
});
