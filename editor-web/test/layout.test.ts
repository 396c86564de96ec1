import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { definitionToCanvas } from '../src/convert';
import { autoLayout } from '../src/canvas/layout';

describe('auto-layout', () => {
  it('puts every node below the nodes that lead to it, without overlaps', () => {
    const text = readFileSync(join(__dirname, '..', '..', 'workflows', 'abandoned-cart.json'), 'utf8');
    const c = definitionToCanvas(JSON.parse(text));
    const pos = autoLayout(c.nodes, c.edges);
    expect(Object.keys(pos).sort()).toEqual(c.nodes.map((n) => n.id).sort());
    for (const e of c.edges) expect(pos[e.target].y).toBeGreaterThan(pos[e.source].y);
    const ids = Object.keys(pos);
    for (const a of ids) for (const b of ids) {
      if (a < b) {
        const overlap = Math.abs(pos[a].x - pos[b].x) < 220 && Math.abs(pos[a].y - pos[b].y) < 90;
        expect(overlap, `${a} overlaps ${b}`).toBe(false);
      }
    }
  });
});
