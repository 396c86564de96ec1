// Every problem of the draft; clicking one selects and centres its node.
import { useEditor } from '../store';
import { TRIGGER_ID } from '../model/types';

export function ProblemsPanel() {
  const problems = useEditor((s) => s.problems);
  const local = useEditor((s) => s.convertErrors);
  const select = useEditor((s) => s.select);
  const items = [
    ...problems.map((p) => ({ node: p.node ?? (p.pointer.startsWith('/trigger') ? TRIGGER_ID : undefined), message: p.message, where: p.pointer })),
    ...local.filter((e) => ['dangling_edge', 'unknown_port', 'duplicate_edge', 'invalid_node', 'duplicate_id'].includes(e.code)).map((e) => ({ node: e.node, message: e.message, where: '' })),
  ];
  if (items.length === 0) return <p className="ok" data-testid="problems-none">No problems: the journey can be published.</p>;
  return (
    <ul className="problems" data-testid="problems-list" aria-label="Problems">
      {items.map((p, i) => (
        <li key={i}>
          <button type="button" className="problem" data-testid="problem-item" data-node={p.node ?? ''}
            onClick={() => p.node && select(p.node, true)} disabled={!p.node}>
            {p.node && <b>{p.node}: </b>}{p.message}
            {p.where && <span className="muted"> ({p.where})</span>}
          </button>
        </li>
      ))}
    </ul>
  );
}
