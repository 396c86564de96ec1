import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canvasToDefinition, definitionToCanvas, edgeId } from '../src/convert';
import { toCanonicalText, formatNumber, prettyPrint } from '../src/model/canonical';
import { getPort, portsOf } from '../src/model/ports';

const dir = join(__dirname, '..', '..', 'workflows');
const journeys = readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.test.json') && !f.endsWith('schema.json'));

describe('round trip of every example journey', () => {
  it('finds the example journeys', () => {
    expect(journeys.length).toBeGreaterThanOrEqual(6);
  });
  for (const file of journeys) {
    it(`${file}: definition → canvas → definition gives identical bytes`, () => {
      const text = readFileSync(join(dir, file), 'utf8');
      const canvas = definitionToCanvas(JSON.parse(text));
      expect(canvas.errors).toEqual([]);
      // Every port the document sets became an edge (an optional port may be absent).
      const doc = JSON.parse(text);
      const ports = doc.nodes.reduce((n: number, node: Record<string, unknown>) =>
        n + portsOf(String(node.type), node).filter((p) => !p.optional || getPort(node, p.path) !== undefined).length, 1);
      expect(canvas.edges.length).toBe(ports);
      const back = canvasToDefinition({ nodes: canvas.nodes, edges: canvas.edges }, canvas.meta);
      expect(back.errors).toEqual([]);
      expect(toCanonicalText(back.doc)).toBe(text);
    });
    it(`${file}: keys in any order (as the API returns drafts) give the same canonical bytes`, () => {
      const text = readFileSync(join(dir, file), 'utf8');
      const shuffled = JSON.parse(JSON.stringify(JSON.parse(text), (_k, v) =>
        v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));
      const canvas = definitionToCanvas(shuffled);
      expect(toCanonicalText(canvasToDefinition(canvas, canvas.meta).doc)).toBe(text);
    });
  }
});

const base = () => ({
  $schema: './schema.json',
  id: 'mini',
  name: 'Mini',
  trigger: { type: 'event', event: 'signed_up', next: 'wait' },
  nodes: [
    { type: 'delay', id: 'wait', duration: '1h', next: 'check' },
    {
      type: 'branch', id: 'check',
      rules: [{ name: 'vip', condition: { left: 'contact.plan', op: 'eq', right: 'vip' }, next: 'done' }],
      else: 'done',
    },
    { type: 'exit', id: 'done' },
  ],
});

describe('definitionToCanvas', () => {
  it('makes one edge per port, with the port name as handle', () => {
    const c = definitionToCanvas(base());
    expect(c.edges.map((e) => [e.source, e.sourceHandle, e.target])).toEqual([
      ['trigger', 'next', 'wait'], ['wait', 'next', 'check'], ['check', 'vip', 'done'], ['check', 'else', 'done'],
    ]);
    expect(c.nodes.find((n) => n.id === 'check')!.data.config).toEqual({
      type: 'branch', id: 'check', rules: [{ name: 'vip', condition: { left: 'contact.plan', op: 'eq', right: 'vip' } }],
    });
  });

  it('reports a port pointing at a missing node by node id, and keeps it', () => {
    const doc = base();
    doc.nodes[0].next = 'nowhere';
    const c = definitionToCanvas(doc);
    expect(c.errors).toEqual([expect.objectContaining({ node: 'wait', code: 'dangling_port' })]);
    expect(c.errors[0].message).toContain('nowhere');
    const back = canvasToDefinition(c, c.meta);
    expect((back.doc.nodes as Record<string, unknown>[])[0].next).toBe('nowhere');
    expect(back.errors).toEqual([expect.objectContaining({ node: 'wait', code: 'dangling_port' })]);
  });

  it('reports an unknown node type by node id and keeps the node unchanged', () => {
    const doc = base() as ReturnType<typeof base> & { nodes: Record<string, unknown>[] };
    doc.nodes.push({ type: 'teleport', id: 'beam', to: 'mars' });
    const c = definitionToCanvas(doc);
    expect(c.errors).toEqual([expect.objectContaining({ node: 'beam', code: 'unknown_type' })]);
    expect(c.nodes.find((n) => n.id === 'beam')!.type).toBe('unknown');
    const back = canvasToDefinition(c, c.meta);
    expect((back.doc.nodes as unknown[])[3]).toEqual({ type: 'teleport', id: 'beam', to: 'mars' });
  });

  it('reports a missing port by node id', () => {
    const doc = base() as { nodes: Record<string, unknown>[] };
    delete doc.nodes[1].else;
    const c = definitionToCanvas(doc);
    expect(c.errors).toEqual([expect.objectContaining({ node: 'check', code: 'missing_port' })]);
    expect(c.errors[0].message).toContain('else');
  });

  it('reports duplicate ids and nodes without an id', () => {
    const doc = base() as { nodes: unknown[] };
    doc.nodes.push({ type: 'exit', id: 'done' }, { type: 'exit' });
    const c = definitionToCanvas(doc);
    expect(c.errors.map((e) => [e.node, e.code])).toEqual([['done', 'duplicate_id'], [undefined, 'invalid_node']]);
    expect(c.nodes.filter((n) => n.id === 'done')).toHaveLength(1);
  });

  it('places nodes without a layout entry and does not write them back until moved', () => {
    const c = definitionToCanvas(base());
    expect(c.nodes.every((n) => n.data.placed === false)).toBe(true);
    const back = canvasToDefinition(c, c.meta);
    expect(back.doc.layout).toBeUndefined();
    const moved = c.nodes.map((n) => (n.id === 'wait' ? { ...n, position: { x: 10.5, y: -2.5 }, data: { ...n.data, placed: true } } : n));
    expect(canvasToDefinition({ nodes: moved, edges: c.edges }, c.meta).doc.layout).toEqual({ wait: { x: 11, y: -3 } });
  });
});

describe('canvasToDefinition', () => {
  const canvasOf = () => definitionToCanvas(base());

  it('reports an edge to a node that is not on the canvas by its source node id', () => {
    const c = canvasOf();
    const edges = [...c.edges.filter((e) => e.id !== edgeId('check', 'else')), { id: 'x', source: 'check', sourceHandle: 'else', target: 'ghost' }];
    const r = canvasToDefinition({ nodes: c.nodes, edges }, c.meta);
    expect(r.errors).toEqual([
      expect.objectContaining({ node: 'check', code: 'dangling_edge' }),
      expect.objectContaining({ node: 'check', code: 'missing_port' }),
    ]);
  });

  it('reports an edge from a node that is not on the canvas by its target node id', () => {
    const c = canvasOf();
    const r = canvasToDefinition({ nodes: c.nodes, edges: [...c.edges, { id: 'y', source: 'ghost', sourceHandle: 'next', target: 'done' }] }, c.meta);
    expect(r.errors).toEqual([expect.objectContaining({ node: 'done', code: 'dangling_edge' })]);
  });

  it('reports an unconnected port by node id and leaves the field out', () => {
    const c = canvasOf();
    const r = canvasToDefinition({ nodes: c.nodes, edges: c.edges.filter((e) => e.source !== 'wait') }, c.meta);
    expect(r.errors).toEqual([expect.objectContaining({ node: 'wait', code: 'missing_port' })]);
    expect((r.doc.nodes as Record<string, unknown>[])[0]).toEqual({ type: 'delay', id: 'wait', duration: '1h' });
  });

  it('reports an edge from a port the node does not have', () => {
    const c = canvasOf();
    const r = canvasToDefinition({ nodes: c.nodes, edges: [...c.edges, { id: 'z', source: 'check', sourceHandle: 'gold', target: 'done' }] }, c.meta);
    expect(r.errors).toEqual([expect.objectContaining({ node: 'check', code: 'unknown_port' })]);
  });

  it('reports an unknown node type by node id', () => {
    const c = canvasOf();
    const nodes = [...c.nodes, { id: 'odd', type: 'teleport', position: { x: 0, y: 0 }, data: { config: {} } }];
    const r = canvasToDefinition({ nodes, edges: c.edges }, c.meta);
    expect(r.errors).toEqual([expect.objectContaining({ node: 'odd', code: 'unknown_type' })]);
  });

  it('writes nodes added on the canvas in canonical order with their ports', () => {
    const c = canvasOf();
    const nodes = [...c.nodes, { id: 'ping', type: 'send', position: { x: 1, y: 2 }, data: { config: { message: { channel: 'sms', body: 'Hi' } } } }];
    const edges = c.edges.filter((e) => e.id !== edgeId('check', 'else')).concat([
      { id: edgeId('check', 'else'), source: 'check', sourceHandle: 'else', target: 'ping' },
      { id: edgeId('ping', 'next'), source: 'ping', sourceHandle: 'next', target: 'done' },
    ]);
    const r = canvasToDefinition({ nodes, edges }, c.meta);
    expect(r.errors).toEqual([]);
    const text = toCanonicalText(r.doc);
    expect(text).toContain('{\n      "type": "send",\n      "id": "ping",\n      "message": {\n        "channel": "sms",\n        "body": "Hi"\n      },\n      "next": "done"\n    }');
    expect(text).toContain('"else": "ping"');
    expect(text.endsWith('}\n')).toBe(true);
  });
});

describe('the failed port of a send node', () => {
  const withSend = (failed?: string) => {
    const doc = base() as ReturnType<typeof base> & { nodes: Record<string, unknown>[] };
    doc.nodes[0].next = 'notify';
    doc.nodes.push(
      { type: 'send', id: 'notify', message: { channel: 'webhook', method: 'POST', url: 'https://crm.example/hook' }, next: 'check', ...(failed ? { failed } : {}) },
      { type: 'exit', id: 'alert_ops' },
    );
    return doc;
  };

  it('send nodes have the ports next and an optional failed', () => {
    expect(portsOf('send', {}).map((p) => [p.handle, !!p.optional])).toEqual([['next', false], ['failed', true]]);
  });

  it('becomes an edge and comes back after next, in canonical order', () => {
    const c = definitionToCanvas(withSend('alert_ops'));
    expect(c.errors).toEqual([]);
    expect(c.edges.filter((e) => e.source === 'notify').map((e) => [e.sourceHandle, e.target])).toEqual([['next', 'check'], ['failed', 'alert_ops']]);
    expect(c.nodes.find((n) => n.id === 'notify')!.data.config).not.toHaveProperty('failed');
    const back = canvasToDefinition(c, c.meta);
    expect(back.errors).toEqual([]);
    const notify = (back.doc.nodes as Record<string, unknown>[]).find((n) => n.id === 'notify');
    expect(notify).toMatchObject({ next: 'check', failed: 'alert_ops' });
    expect(toCanonicalText(back.doc)).toContain('      "next": "check",\n      "failed": "alert_ops"\n    }');
  });

  it('is no problem when unconnected, and is left out of the document', () => {
    const c = definitionToCanvas(withSend());
    expect(c.errors).toEqual([]);
    const back = canvasToDefinition(c, c.meta);
    expect(back.errors).toEqual([]);
    expect((back.doc.nodes as Record<string, unknown>[]).find((n) => n.id === 'notify')).not.toHaveProperty('failed');
  });

  it('removing its connection removes failed from the node, without a problem', () => {
    const c = definitionToCanvas(withSend('alert_ops'));
    const back = canvasToDefinition({ nodes: c.nodes, edges: c.edges.filter((e) => e.id !== edgeId('notify', 'failed')) }, c.meta);
    expect(back.errors).toEqual([]);
    expect((back.doc.nodes as Record<string, unknown>[]).find((n) => n.id === 'notify')).toEqual({
      type: 'send', id: 'notify', message: { channel: 'webhook', method: 'POST', url: 'https://crm.example/hook' }, next: 'check',
    });
  });

  it('pointing at a missing node is kept and reported, like any port', () => {
    const c = definitionToCanvas(withSend('nowhere'));
    expect(c.errors).toEqual([expect.objectContaining({ node: 'notify', code: 'dangling_port' })]);
    const back = canvasToDefinition(c, c.meta);
    expect((back.doc.nodes as Record<string, unknown>[]).find((n) => n.id === 'notify')!.failed).toBe('nowhere');
  });
});

describe('canonical writer', () => {
  it('fills in the defaults kairos fmt writes', () => {
    const text = toCanonicalText({ id: 'a', name: 'A', trigger: { type: 'api', next: 'x' }, nodes: [{ id: 'x', type: 'send', message: { url: 'https://e.x', channel: 'webhook' }, next: 'y' }] });
    expect(text).toContain('"settings": {\n    "reentry": "once",\n    "timezone": "UTC"\n  }');
    expect(text).toContain('"channel": "webhook",\n        "method": "POST",\n        "url": "https://e.x"');
  });
  it("writes a send's keys in the engine's order: save_response before next, failed last; success last in a webhook", () => {
    const text = toCanonicalText({
      id: 'a', name: 'A', trigger: { type: 'api', next: 'x' },
      nodes: [{
        failed: 'y', next: 'y', save_response: { tier: '/account/tier', crm_id: '/id' }, topic: undefined, transactional: true, provider: 'crm',
        message: { success: [200, 201, '3xx'], body: { a: 1 }, headers: { 'X-A': 'b' }, url: 'https://e.x', channel: 'webhook' }, id: 'x', type: 'send',
      }, { type: 'exit', id: 'y' }],
    });
    const node = text.slice(text.indexOf('"type": "send"'), text.indexOf('"type": "exit"'));
    const keys = [...node.matchAll(/^ {6}"(\w+)":/gm)].map((m) => m[1]);
    expect(keys).toEqual(['id', 'message', 'provider', 'transactional', 'save_response', 'next', 'failed']);
    const messageKeys = [...node.matchAll(/^ {8}"(\w+)":/gm)].map((m) => m[1]);
    expect(messageKeys).toEqual(['channel', 'method', 'url', 'headers', 'body', 'success', 'crm_id', 'tier']);
    expect(node).toContain('"success": [\n          200,\n          201,\n          "3xx"\n        ]');
    expect(node).toContain('"save_response": {\n        "crm_id": "/id",\n        "tier": "/account/tier"\n      }');
  });
  it('formats numbers as serde_json does', () => {
    expect(formatNumber(3)).toBe('3');
    expect(formatNumber(84.5)).toBe('84.5');
    expect(formatNumber(-0.25)).toBe('-0.25');
    expect(formatNumber(1e-7)).toBe('1e-7');
    expect(formatNumber(0.0001)).toBe('0.0001');
    expect(formatNumber(1.5e300)).toBe('1.5e300');
  });
  it('sorts literal JSON objects by key and prints empty containers inline', () => {
    expect(prettyPrint({ b: [], a: {} })).toBe('{\n  "a": {},\n  "b": []\n}');
  });
});

describe('the trigger types of segments, schedules, dates, attributes and stages', () => {
  const triggers: Record<string, unknown>[] = [
    { type: 'segment_entered', segment: 'inactive-30', next: 'n1' },
    { type: 'segment_exited', segment: 'vip', next: 'n1' },
    { type: 'schedule', cron: '0 9 * * MON', timezone: 'Europe/Berlin', segment: 'engaged-subscribers', next: 'n1' },
    { type: 'date_property', attribute: 'birthday', offset_days: 0, at: '09:00', repeat: 'yearly', next: 'n1' },
    { type: 'date_property', attribute: 'renewal_date', offset_days: -30, at: '08:30', repeat: 'once', next: 'n1' },
    { type: 'attribute_changed', attribute: 'plan', from: { op: 'in', right: ['pro', 'team'] }, to: { op: 'eq', right: 'starter' }, next: 'n1' },
    { type: 'attribute_changed', attribute: 'email', to: { op: 'exists' }, next: 'n1' },
    { type: 'stage_changed', from: ['lapsed', 'inactive'], to: ['reactivated'], next: 'n1' },
    { type: 'stage_changed', to: ['customer'], next: 'n1' },
  ];
  const docWith = (trigger: Record<string, unknown>) => ({
    $schema: './schema.json', id: 'aud', name: 'Audience', trigger,
    settings: { reentry: 'always', timezone: 'Europe/Berlin' },
    nodes: [{ type: 'exit', id: 'n1' }],
    layout: { n1: { x: 0, y: 140 }, trigger: { x: 0, y: 0 } },
  });
  for (const trigger of triggers) {
    it(`${trigger.type} ${JSON.stringify(trigger).slice(0, 60)}: round trip to identical bytes`, () => {
      const text = JSON.stringify(docWith(trigger), null, 2) + '\n';
      // The contract's field order is the canonical order.
      expect(toCanonicalText(JSON.parse(text))).toBe(text);
      const c = definitionToCanvas(JSON.parse(text));
      expect(c.errors).toEqual([]);
      expect(c.edges).toEqual([{ id: edgeId('trigger', 'next'), source: 'trigger', sourceHandle: 'next', target: 'n1' }]);
      const { next: _next, ...config } = trigger;
      expect(c.nodes.find((n) => n.id === 'trigger')!.data.config).toEqual(config);
      const back = canvasToDefinition(c, c.meta);
      expect(back.errors).toEqual([]);
      expect(toCanonicalText(back.doc)).toBe(text);
    });
  }
  it('writes the fields of a trigger in the contract order whatever order they come in', () => {
    const shuffled = { next: 'n1', repeat: 'yearly', at: '09:00', offset_days: -30, attribute: 'renewal_date', type: 'date_property' };
    expect(toCanonicalText(docWith(shuffled))).toContain('"trigger": {\n    "type": "date_property",\n    "attribute": "renewal_date",\n    "offset_days": -30,\n    "at": "09:00",\n    "repeat": "yearly",\n    "next": "n1"\n  }');
  });
});
