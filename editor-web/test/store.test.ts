import { beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useEditor, isDirty, problemsByNode } from '../src/store';
import { toCanonicalText } from '../src/model/canonical';

const text = readFileSync(join(__dirname, '..', '..', 'workflows', 'abandoned-cart.json'), 'utf8');
const st = () => useEditor.getState();

describe('editor store', () => {
  beforeEach(() => st().load('abandoned-cart', JSON.parse(text)));

  it('loads a journey and writes it back unchanged', () => {
    expect(st().nodes).toHaveLength(8);
    expect(toCanonicalText(st().document().doc)).toBe(text);
    expect(isDirty(st())).toBe(false);
  });

  it('adds a node, connects it, and undo/redo restore each step', () => {
    const id = st().addNode('delay', { x: 5, y: 6 })!;
    expect(id).toBe('delay_1');
    expect(st().selectedId).toBe('delay_1');
    st().connect('delay_1', 'next', 'exit_ordered');
    expect(isDirty(st())).toBe(true);
    const nodes = st().document().doc.nodes as Record<string, unknown>[];
    expect(nodes[nodes.length - 1]).toEqual({ type: 'delay', id: 'delay_1', duration: '1d', next: 'exit_ordered' });
    st().undo();
    expect(st().edges.some((e) => e.source === 'delay_1')).toBe(false);
    st().undo();
    expect(st().nodes.some((n) => n.id === 'delay_1')).toBe(false);
    expect(toCanonicalText(st().document().doc)).toBe(text);
    st().redo();
    st().redo();
    expect(st().edges.find((e) => e.source === 'delay_1')?.target).toBe('exit_ordered');
  });

  it('renaming a branch rule keeps its connection; renaming a node rewires edges', () => {
    const branch = st().nodes.find((n) => n.id === 'has_phone')!;
    const rules = (branch.data.config.rules as Record<string, unknown>[]).map((r) => ({ ...r, name: 'has_sms' }));
    st().updateConfig('has_phone', { ...branch.data.config, rules });
    expect(st().edges.find((e) => e.source === 'has_phone' && e.sourceHandle === 'has_sms')?.target).toBe('send_coupon_sms');
    expect(st().renameNode('send_coupon_sms', 'send_sms')).toBeNull();
    expect(st().edges.find((e) => e.sourceHandle === 'has_sms')?.target).toBe('send_sms');
    expect(st().renameNode('send_sms', 'Bad Id')).toMatch(/lowercase/);
    expect(st().renameNode('send_sms', 'exit_ordered')).toMatch(/taken/);
    const doc = st().document();
    expect(doc.errors).toEqual([]);
    expect(JSON.stringify(doc.doc)).toContain('"layout"');
    expect((doc.doc.layout as Record<string, unknown>).send_sms).toEqual({ x: 120, y: 640 });
  });

  it('deleting a node removes its edges and reports the ports left open', () => {
    st().deleteNode('wait_a_day');
    expect(st().edges.some((e) => e.target === 'wait_a_day')).toBe(false);
    expect(st().document().errors).toEqual([expect.objectContaining({ node: 'send_reminder', code: 'missing_port' })]);
  });

  it("a send's failed port: connected, then gone with its target node or its edge, never a problem", () => {
    const send = () => (st().document().doc.nodes as Record<string, unknown>[]).find((n) => n.id === 'send_reminder')!;
    expect(st().edges.some((e) => e.source === 'send_reminder' && e.sourceHandle === 'failed')).toBe(false);
    expect(send()).not.toHaveProperty('failed');
    st().connect('send_reminder', 'failed', 'exit_ordered');
    expect(send().failed).toBe('exit_ordered');
    expect(st().document().errors).toEqual([]);
    st().deleteNode('exit_ordered');
    expect(send()).not.toHaveProperty('failed');
    st().undo();
    expect(send().failed).toBe('exit_ordered');
    st().onEdgesChange([{ type: 'remove', id: 'send_reminder->failed' }]);
    expect(send()).not.toHaveProperty('failed');
    expect(st().document().errors.filter((e) => e.node === 'send_reminder')).toEqual([]);
  });

  it('groups server problems by node id', () => {
    const m = problemsByNode([
      { pointer: '/nodes/0/timeout', node: 'wait_for_order', message: 'bad', code: 'invalid_duration' },
      { pointer: '/trigger/event', message: 'empty', code: 'invalid_value' },
      { pointer: '/name', message: 'empty', code: 'invalid_value' },
    ]);
    expect(m.get('wait_for_order')).toHaveLength(1);
    expect(m.get('trigger')).toHaveLength(1);
    expect(m.get('')).toHaveLength(1);
  });

  it('refuses edits when read-only', () => {
    st().load('abandoned-cart', JSON.parse(text), { readOnly: true });
    expect(st().addNode('exit', { x: 0, y: 0 })).toBeNull();
    st().deleteNode('exit_ordered');
    expect(st().nodes).toHaveLength(8);
  });
});
