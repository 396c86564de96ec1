// The palette: every node type, dragged onto the canvas (HTML5 drag and drop), or
// added at the centre of the view with Enter / Space for keyboard users.
import { NODE_LABELS, NODE_TYPES, type NodeType } from '../model/types';
import { useEditor } from '../store';

export const DRAG_TYPE = 'application/x-kairos-node';

const HINTS: Record<NodeType | 'trigger', string> = {
  trigger: 'How contacts enter',
  delay: 'Wait a fixed time',
  wait_until: 'Wait for a date or time window',
  wait_for_event: 'Wait for an event, or time out',
  branch: 'If / else by conditions',
  split: 'A/B test by percentage',
  send: 'Email, SMS, push, webhook or Slack',
  update_contact: 'Set attributes, tags, stage',
  exit: 'End the journey',
};

export function Palette({ onAdd }: { onAdd: (type: NodeType | 'trigger') => void }) {
  const hasTrigger = useEditor((s) => s.nodes.some((n) => n.type === 'trigger'));
  const readOnly = useEditor((s) => s.readOnly);
  const types: (NodeType | 'trigger')[] = hasTrigger ? NODE_TYPES : ['trigger', ...NODE_TYPES];
  return (
    <nav className="palette" aria-label="Node palette">
      <h2>Steps</h2>
      <ul>
        {types.map((t) => (
          <li key={t}>
            <div
              className={`palette-item kn-${t}`}
              data-testid={`palette-${t}`}
              role="button"
              tabIndex={readOnly ? -1 : 0}
              aria-disabled={readOnly}
              aria-label={`Add ${NODE_LABELS[t]}: ${HINTS[t]} (drag onto the canvas, or press Enter)`}
              draggable={!readOnly}
              onDragStart={(e) => {
                e.dataTransfer.setData(DRAG_TYPE, t);
                e.dataTransfer.setData('text/plain', t);
                e.dataTransfer.effectAllowed = 'move';
              }}
              onKeyDown={(e) => {
                if (!readOnly && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); onAdd(t); }
              }}
            >
              <span className="palette-name">{NODE_LABELS[t]}</span>
              <span className="palette-hint">{HINTS[t]}</span>
            </div>
          </li>
        ))}
      </ul>
    </nav>
  );
}
