import { describe, expect, it } from 'vitest';
import { canvasToDefinition, definitionToCanvas } from '../src/convert';
import { toCanonicalText } from '../src/model/canonical';
import { defaultMessage } from '../src/model/defaults';
import { describeNode } from '../src/model/summary';
import { CHANNELS } from '../src/model/types';

// Exactly what `kairos fmt` writes for this journey (its output, pasted).
const canonical = `{
  "$schema": "./schema.json",
  "id": "hot-lead",
  "name": "Hot lead",
  "trigger": {
    "type": "api",
    "next": "tell_sales"
  },
  "settings": {
    "reentry": "once",
    "timezone": "UTC"
  },
  "nodes": [
    {
      "type": "send",
      "id": "tell_sales",
      "message": {
        "channel": "slack",
        "text": "Hot lead: *{{contact.first_name}}* scored {{contact.lead_score}}",
        "blocks": [
          {
            "text": {
              "text": "*{{contact.first_name}}* ({{contact.email}})",
              "type": "mrkdwn"
            },
            "type": "section"
          },
          {
            "type": "divider"
          }
        ]
      },
      "next": "done"
    },
    {
      "type": "exit",
      "id": "done"
    }
  ]
}
`;

describe('the slack channel', () => {
  it('is offered, starts with an empty text and is summed up by its text', () => {
    expect(CHANNELS).toContain('slack');
    expect(defaultMessage('slack')).toEqual({ channel: 'slack', text: '' });
    expect(describeNode('send', { message: { channel: 'slack', text: 'Hot lead: {{contact.email}}' } }))
      .toBe('slack: Hot lead: {{contact.email}}');
  });

  it('round-trips a slack message with blocks to the canonical bytes, whatever the key order', () => {
    const shuffled = {
      layout: {},
      nodes: [
        {
          next: 'done', type: 'send', id: 'tell_sales',
          message: {
            blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*{{contact.first_name}}* ({{contact.email}})' } }, { type: 'divider' }],
            text: 'Hot lead: *{{contact.first_name}}* scored {{contact.lead_score}}',
            channel: 'slack',
          },
        },
        { type: 'exit', id: 'done' },
      ],
      trigger: { next: 'tell_sales', type: 'api' },
      name: 'Hot lead', id: 'hot-lead', $schema: './schema.json',
    };
    const canvas = definitionToCanvas(shuffled);
    expect(canvas.errors).toEqual([]);
    const back = canvasToDefinition({ nodes: canvas.nodes, edges: canvas.edges }, canvas.meta);
    expect(back.errors).toEqual([]);
    expect(toCanonicalText(back.doc)).toBe(canonical);
    // And the canonical text reads back to itself.
    const again = definitionToCanvas(JSON.parse(canonical));
    expect(toCanonicalText(canvasToDefinition({ nodes: again.nodes, edges: again.edges }, again.meta).doc)).toBe(canonical);
  });
});
