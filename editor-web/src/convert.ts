// Pure conversion between a journey document and the canvas (React Flow nodes and
// edges). Ports are edges (sourceHandle = port handle); everything else of a node stays
// in `data.config`. Positions come from and go to the document's `layout`. Errors name
// the node they belong to.

import { NODE_TYPES, TRIGGER_ID, isObject } from './model/types';
import { getPort, portsOf, setPort } from './model/ports';
import { roundHalfAway } from './model/canonical';

export interface CanvasNodeData extends Record<string, unknown> {
  /** The node's fields without its ports (for the trigger: the trigger object without `next`). */
  config: Record<string, unknown>;
  /** Ports that point at no node on the canvas, by handle: kept so nothing is lost. */
  dangling?: Record<string, string>;
  /** False when the document had no layout entry for this node (it is not written back until moved). */
  placed?: boolean;
}

export interface CanvasNode {
  id: string;
  /** `trigger`, a node type, or `unknown`. */
  type: string;
  position: { x: number; y: number };
  data: CanvasNodeData;
  selected?: boolean;
  measured?: { width?: number; height?: number };
}

export interface CanvasEdge {
  id: string;
  source: string;
  sourceHandle: string;
  target: string;
  selected?: boolean;
}

export interface Canvas {
  nodes: CanvasNode[];
  edges: CanvasEdge[];
}

/** The document apart from the trigger, nodes and layout: `$schema`, `id`, `name`, `description`, `settings`, unknown fields. */
export type Meta = Record<string, unknown> & { orphanLayout?: Record<string, unknown> };

export interface ConvertError {
  /** The node id the problem belongs to (`trigger` for the trigger); absent for the whole document. */
  node?: string;
  code: 'not_an_object' | 'invalid_node' | 'duplicate_id' | 'unknown_type' | 'dangling_port' | 'missing_port' | 'dangling_edge' | 'unknown_port' | 'duplicate_edge' | 'invalid_position';
  message: string;
}

export function edgeId(source: string, handle: string): string {
  return `${source}->${handle}`;
}

const DEFAULT_GAP = 140;

/** Document → canvas. Never throws; what cannot be placed on the canvas is reported. */
export function definitionToCanvas(doc: unknown): Canvas & { meta: Meta; errors: ConvertError[] } {
  const errors: ConvertError[] = [];
  const nodes: CanvasNode[] = [];
  const edges: CanvasEdge[] = [];
  if (!isObject(doc)) {
    return { nodes, edges, meta: {}, errors: [{ code: 'not_an_object', message: 'the journey document is not a JSON object' }] };
  }
  const { trigger, nodes: rawNodes, layout, ...rest } = doc;
  const meta: Meta = { ...rest };
  const layoutMap = isObject(layout) ? layout : {};

  // Collect (id, type, config) first, so ports can be checked against every id.
  const items: { id: string; type: string; config: Record<string, unknown> }[] = [];
  if (isObject(trigger)) items.push({ id: TRIGGER_ID, type: 'trigger', config: trigger });
  else if (trigger !== undefined) meta.trigger = trigger;
  const seen = new Set<string>([TRIGGER_ID]);
  const rawList = Array.isArray(rawNodes) ? rawNodes : [];
  if (rawNodes !== undefined && !Array.isArray(rawNodes)) meta.nodes = rawNodes;
  rawList.forEach((raw, i) => {
    if (!isObject(raw) || typeof raw.id !== 'string') {
      errors.push({ code: 'invalid_node', message: `node ${i + 1} has no text \`id\`; it is left out of the canvas` });
      return;
    }
    const id = raw.id;
    if (seen.has(id)) {
      errors.push({ node: id, code: 'duplicate_id', message: `the id \`${id}\` is used by another node${id === TRIGGER_ID ? ' (it is reserved for the trigger)' : ''}; this node is left out` });
      return;
    }
    seen.add(id);
    let type = typeof raw.type === 'string' ? raw.type : '';
    if (!(NODE_TYPES as string[]).includes(type)) {
      errors.push({ node: id, code: 'unknown_type', message: `node \`${id}\` has an unknown type \`${type}\`; expected one of ${NODE_TYPES.join(', ')}` });
      type = 'unknown';
    }
    items.push({ id, type, config: raw });
  });

  let unplacedRow = 0;
  for (const item of items) {
    let config = item.config;
    const dangling: Record<string, string> = {};
    for (const port of portsOf(item.type, config)) {
      const target = getPort(config, port.path);
      if (target === undefined) {
        if (port.optional) continue;
        errors.push({ node: item.id, code: 'missing_port', message: `port \`${port.name}\` of \`${item.id}\` is not connected` });
        continue;
      }
      config = setPort(config, port.path, undefined);
      if (target !== TRIGGER_ID && seen.has(target)) {
        edges.push({ id: edgeId(item.id, port.handle), source: item.id, sourceHandle: port.handle, target });
      } else {
        dangling[port.handle] = target;
        errors.push({ node: item.id, code: 'dangling_port', message: `port \`${port.name}\` of \`${item.id}\` points at \`${target}\`, which is not a node` });
      }
    }
    const pos = layoutMap[item.id];
    let position = { x: 0, y: 0 };
    let placed = true;
    if (isObject(pos) && typeof pos.x === 'number' && typeof pos.y === 'number') position = { x: pos.x, y: pos.y };
    else {
      if (pos !== undefined) errors.push({ node: item.id, code: 'invalid_position', message: `the layout of \`${item.id}\` is not {x, y}` });
      placed = false;
      position = { x: 0, y: unplacedRow++ * DEFAULT_GAP };
    }
    const data: CanvasNodeData = { config };
    if (Object.keys(dangling).length > 0) data.dangling = dangling;
    if (!placed) data.placed = false;
    nodes.push({ id: item.id, type: item.type, position, data });
  }
  const orphan: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(layoutMap)) if (!items.some((n) => n.id === k)) orphan[k] = v;
  if (Object.keys(orphan).length > 0) meta.orphanLayout = orphan;
  if (layout !== undefined && !isObject(layout)) meta.layout = layout;
  return { nodes, edges, meta, errors };
}

/** Canvas → document. The document is written even with errors (a draft may be incomplete). */
export function canvasToDefinition(canvas: Canvas, meta: Meta): { doc: Record<string, unknown>; errors: ConvertError[] } {
  const errors: ConvertError[] = [];
  const byId = new Map(canvas.nodes.map((n) => [n.id, n]));
  const outgoing = new Map<string, Map<string, string>>();
  for (const e of canvas.edges) {
    const source = byId.get(e.source);
    if (!source) {
      errors.push({ node: e.target, code: 'dangling_edge', message: `a connection into \`${e.target}\` comes from \`${e.source}\`, which is not on the canvas` });
      continue;
    }
    if (!byId.has(e.target) || e.target === TRIGGER_ID) {
      errors.push({ node: e.source, code: 'dangling_edge', message: `a connection from \`${e.source}\` goes to \`${e.target}\`, which is not a node` });
      continue;
    }
    if (!portsOf(source.type, source.data.config).some((p) => p.handle === e.sourceHandle)) {
      errors.push({ node: e.source, code: 'unknown_port', message: `\`${e.source}\` has no port \`${e.sourceHandle}\`` });
      continue;
    }
    const ports = outgoing.get(e.source) ?? new Map<string, string>();
    if (ports.has(e.sourceHandle)) {
      errors.push({ node: e.source, code: 'duplicate_edge', message: `port \`${e.sourceHandle}\` of \`${e.source}\` has two connections; only one is kept` });
      continue;
    }
    ports.set(e.sourceHandle, e.target);
    outgoing.set(e.source, ports);
  }

  const { orphanLayout, nodes: rawNodes, layout: rawLayout, ...docMeta } = meta;
  const doc: Record<string, unknown> = { ...docMeta };
  const nodes: unknown[] = [];
  const layout: Record<string, unknown> = { ...(orphanLayout ?? {}) };
  for (const n of canvas.nodes) {
    let config = n.data.config;
    const connected = outgoing.get(n.id);
    if (n.type !== 'trigger' && n.type !== 'unknown' && !(NODE_TYPES as string[]).includes(n.type)) {
      errors.push({ node: n.id, code: 'unknown_type', message: `node \`${n.id}\` has an unknown type \`${n.type}\`` });
    }
    for (const port of portsOf(n.type, config)) {
      const target = connected?.get(port.handle) ?? n.data.dangling?.[port.handle];
      if (target !== undefined) {
        config = setPort(config, port.path, target);
        if (!connected?.has(port.handle)) {
          errors.push({ node: n.id, code: 'dangling_port', message: `port \`${port.name}\` of \`${n.id}\` points at \`${target}\`, which is not a node` });
        }
      } else if (getPort(config, port.path) === undefined && !port.optional) {
        errors.push({ node: n.id, code: 'missing_port', message: `port \`${port.name}\` of \`${n.id}\` is not connected` });
      }
    }
    if (n.data.placed !== false) layout[n.id] = { x: roundHalfAway(n.position.x), y: roundHalfAway(n.position.y) };
    if (n.type === 'trigger') doc.trigger = config;
    else nodes.push(n.type === 'unknown' ? config : { ...config, type: n.type, id: n.id });
  }
  doc.nodes = nodes.length === 0 && rawNodes !== undefined ? rawNodes : nodes;
  if (Object.keys(layout).length > 0) doc.layout = layout;
  else if (rawLayout !== undefined) doc.layout = rawLayout;
  return { doc, errors };
}
