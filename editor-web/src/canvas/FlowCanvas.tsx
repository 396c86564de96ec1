// The canvas: React Flow with our node types; drop from the palette, connect ports,
// delete, undo/redo, auto-layout, zoom/fit/minimap, the test path highlighted.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  Background, Controls, MiniMap, ReactFlow, useReactFlow, type Connection, type Edge, type Node, MarkerType,
} from '@xyflow/react';
import { nodeTypes } from './nodes';
import { DRAG_TYPE } from './Palette';
import { problemsByNode, useEditor } from '../store';
import type { NodeType } from '../model/types';
import { NODE_WIDTH } from './layout';

/** `onNodeClick`: a step was clicked (also when it was selected already), to open its form. */
export function FlowCanvas({ onNodeClick }: { onNodeClick?: (id: string) => void } = {}) {
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const readOnly = useEditor((s) => s.readOnly);
  const highlight = useEditor((s) => s.highlight);
  const focus = useEditor((s) => s.focus);
  const problems = useEditor((s) => s.problems);
  const { onNodesChange, onEdgesChange, connect, addNode, beginDrag } = useEditor.getState();
  const rf = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);
  // Fit the journey into view when it opens, but not an empty canvas: there the first
  // step dropped would otherwise make the view jump to centre it.
  const [fitOnOpen] = useState(() => useEditor.getState().nodes.length > 0);

  const shownEdges = useMemo(() => {
    const onPath = new Set<string>();
    for (let i = 0; i + 1 < highlight.length; i++) onPath.add(`${highlight[i]}>${highlight[i + 1]}`);
    return edges.map((e) => {
      const hot = onPath.has(`${e.source}>${e.target}`);
      return {
        ...e,
        label: e.sourceHandle === 'next' ? undefined : e.sourceHandle,
        className: [hot ? 'edge-path' : '', e.sourceHandle === 'failed' ? 'edge-failed' : ''].filter(Boolean).join(' ') || undefined,
        animated: hot,
        markerEnd: { type: MarkerType.ArrowClosed },
      } as Edge;
    });
  }, [edges, highlight]);

  useEffect(() => {
    if (!focus) return;
    const n = rf.getNode(focus.id);
    if (!n) return;
    const w = n.measured?.width ?? NODE_WIDTH;
    const h = n.measured?.height ?? 80;
    void rf.setCenter(n.position.x + w / 2, n.position.y + h / 2, { zoom: Math.max(rf.getZoom(), 1), duration: 300 });
  }, [focus, rf]);

  const onDrop = useCallback((e: React.DragEvent) => {
    e.preventDefault();
    const type = (e.dataTransfer.getData(DRAG_TYPE) || e.dataTransfer.getData('text/plain')) as NodeType | 'trigger';
    if (!type) return;
    const p = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
    addNode(type, { x: p.x - NODE_WIDTH / 2, y: p.y - 20 });
  }, [rf, addNode]);

  const onConnect = useCallback((c: Connection) => {
    if (c.source && c.target && c.sourceHandle) connect(c.source, c.sourceHandle, c.target);
  }, [connect]);

  const errorNodes = problemsByNode(problems);
  return (
    <div className="canvas" ref={wrapper} data-testid="canvas" onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'move'; }} onDrop={onDrop}>
      <ReactFlow
        nodes={nodes as Node[]}
        edges={shownEdges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onNodeClick={(_, n) => onNodeClick?.(n.id)}
        onNodeDragStart={() => beginDrag()}
        isValidConnection={(c) => c.source !== c.target && c.target !== 'trigger'}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        elementsSelectable
        deleteKeyCode={readOnly ? null : ['Delete', 'Backspace']}
        fitView={fitOnOpen}
        fitViewOptions={{ padding: 0.2, maxZoom: 1 }}
        minZoom={0.2}
        maxZoom={2}
        proOptions={{ hideAttribution: true }}
        ariaLabelConfig={{ 'node.a11yDescription.default': 'Press Enter or Space to select the step; arrow keys move it.' }}
      >
        <Background gap={20} />
        <Controls showInteractive={!readOnly} />
        <MiniMap pannable zoomable ariaLabel="Mini map" nodeClassName={(n) => (errorNodes.has(n.id) ? 'mm-error' : `mm-${n.type}`)} />
      </ReactFlow>
    </div>
  );
}
