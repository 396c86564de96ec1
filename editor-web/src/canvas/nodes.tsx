// Canvas boxes: one component per node type (a `nodeTypes` map), each with a target
// handle (except the trigger) and one labelled source handle per output port.
import { memo, useEffect } from 'react';
import { Handle, Position, useUpdateNodeInternals, type NodeProps, type NodeTypes } from '@xyflow/react';
import { splitLines } from '../model/conversion';
import { portsOf } from '../model/ports';
import { describeNode } from '../model/summary';
import { NODE_LABELS, type NodeType } from '../model/types';
import type { CanvasNodeData } from '../convert';
import { problemsByNode, useEditor } from '../store';

function NodeBox({ id, type, data, selected }: NodeProps & { data: CanvasNodeData }) {
  const problems = useEditor((s) => s.problems);
  const highlighted = useEditor((s) => s.highlight.includes(id));
  const counts = useEditor((s) => s.stats?.[id]);
  const conversion = useEditor((s) => (type === 'split' ? s.splitStats?.[id] : undefined));
  const own = problemsByNode(problems).get(id) ?? [];
  const ports = portsOf(type, data.config);
  // React Flow measures handles once: when a port appears, goes or is renamed (a branch
  // rule, a split variant), measure again, else the new handle cannot start a connection.
  const updateNodeInternals = useUpdateNodeInternals();
  const handles = ports.map((p) => p.handle).join('\n');
  useEffect(() => { updateNodeInternals(id); }, [id, handles, updateNodeInternals]);
  const label = NODE_LABELS[type as NodeType] ?? 'Unknown';
  const classes = ['kn', `kn-${type}`];
  if (own.length > 0) classes.push('kn-error');
  if (selected) classes.push('kn-selected');
  if (highlighted) classes.push('kn-path');
  return (
    <div className={classes.join(' ')} data-testid={`node-${id}`} aria-label={`${label} ${id}`} title={own.map((p) => p.message).join('\n') || undefined}>
      {type !== 'trigger' && <Handle type="target" position={Position.Top} className="kn-target" aria-label={`into ${id}`} />}
      <div className="kn-head">
        <span className="kn-type">{label}</span>
        <span className="kn-id" title={id}>{id}</span>
      </div>
      <div className="kn-body">{describeNode(type, data.config)}</div>
      {own.length > 0 && (
        <div className="kn-problem" data-testid={`node-problem-${id}`} role="alert">{own[0].message}{own.length > 1 ? ` (+${own.length - 1})` : ''}</div>
      )}
      {counts && (
        <button
          type="button"
          className="kn-stats nodrag"
          data-testid={`node-stats-${id}`}
          aria-label={`${id}: ${counts.entered} entered, ${counts.waiting} waiting now, ${counts.converted} converted; list contacts waiting`}
          onClick={(e) => { e.stopPropagation(); window.dispatchEvent(new CustomEvent('kairos:waiting', { detail: id })); }}
        >
          <span title="entered">in {counts.entered}</span>
          <span title="waiting now">waiting {counts.waiting}</span>
          <span title="converted">conv. {counts.converted}</span>
        </button>
      )}
      {conversion && (
        <table className="kn-conversion" data-testid={`node-conversion-${id}`} aria-label={`${id}: conversion by variant`}>
          <thead>
            <tr><th scope="col">variant</th><th scope="col" title="converted within the goal's window">conv.</th><th scope="col" title="over the holdout">{conversion.holdout ? 'lift' : ''}</th></tr>
          </thead>
          <tbody>
            {splitLines(conversion).map((l) => (
              <tr key={l.name} title={l.title} className={l.name === 'holdout' ? 'kn-holdout' : undefined}>
                <th scope="row">{l.name}</th>
                <td>{l.rate}</td>
                <td className="kn-lift">{l.lift ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {ports.length > 0 && (
        <div className="kn-ports">
          {ports.map((p, i) => (
            <div className={`kn-port${p.optional ? ' kn-port-optional' : ''}${p.handle === 'failed' ? ' kn-port-failed' : ''}`} key={p.handle}
              style={{ left: `${((i + 0.5) / ports.length) * 100}%` }}
              title={p.handle === 'failed' ? 'failed (optional): where the run goes when the message is not delivered' : undefined}>
              <span className="kn-port-label">{p.name}</span>
              <Handle
                type="source"
                id={p.handle}
                position={Position.Bottom}
                className="kn-source"
                aria-label={`${id} port ${p.name}${p.optional ? ' (optional)' : ''}`}
                data-testid={`handle-${id}-${p.handle}`}
                style={{ left: '50%' }}
              />
            </div>
          ))}
        </div>
      )}
    </div>
  );
}

const Box = memo(NodeBox as unknown as (p: NodeProps) => React.JSX.Element);

export const nodeTypes: NodeTypes = {
  trigger: Box,
  delay: Box,
  wait_until: Box,
  wait_for_event: Box,
  branch: Box,
  split: Box,
  send: Box,
  update_contact: Box,
  exit: Box,
  unknown: Box,
};
