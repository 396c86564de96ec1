// The editor's state: the journey on the canvas (nodes, edges, the rest of the
// document), the selection, undo/redo history, the dirty flag for autosave, the
// server's validation problems keyed by node id, and overlays (test path, live stats).

import { useMemo } from 'react';
import { create } from 'zustand';
import { applyEdgeChanges, applyNodeChanges, type EdgeChange, type NodeChange } from '@xyflow/react';
import { canvasToDefinition, definitionToCanvas, edgeId, type CanvasEdge, type CanvasNode, type ConvertError, type Meta } from './convert';
import { portsOf } from './model/ports';
import { defaultConfig, freshId, NODE_ID_PATTERN } from './model/defaults';
import { TRIGGER_ID, type NodeType } from './model/types';
import { savedDataNames } from './model/webhook';
import type { NodeCounts, ProblemItem, SimRun, SplitConversion } from './api';

interface Snapshot { nodes: CanvasNode[]; edges: CanvasEdge[]; meta: Meta }

const HISTORY_LIMIT = 100;

export interface EditorState extends Snapshot {
  workflowId: string | null;
  /** Viewing a published version (or an archived journey): no edits. */
  readOnly: boolean;
  selectedId: string | null;
  past: Snapshot[];
  future: Snapshot[];
  /** Bumped on every change of the document; autosave compares it with what it saved. */
  revision: number;
  savedRevision: number;
  saving: boolean;
  saveError: string | null;
  /** Problems from the server's validation of the last saved draft. */
  problems: ProblemItem[];
  /** Problems found converting between the document and the canvas. */
  convertErrors: ConvertError[];
  /** Node ids of the simulated path, to highlight. */
  highlight: string[];
  simRuns: SimRun[] | null;
  stats: Record<string, NodeCounts> | null;
  /** Conversion by split node id (variants, holdout, lift), shown on split boxes beside the counts. */
  splitStats: Record<string, SplitConversion> | null;
  /** A node to centre the view on (set by the problems list), with a counter to re-trigger. */
  focus: { id: string; seq: number } | null;

  load(workflowId: string, doc: unknown, opts?: { readOnly?: boolean; problems?: ProblemItem[] }): void;
  document(): { doc: Record<string, unknown>; errors: ConvertError[] };
  onNodesChange(changes: NodeChange[]): void;
  onEdgesChange(changes: EdgeChange[]): void;
  /** Start of a drag: remember the positions for undo. */
  beginDrag(): void;
  connect(source: string, handle: string, target: string): void;
  addNode(type: NodeType | 'trigger', position: { x: number; y: number }): string | null;
  deleteSelected(): void;
  deleteNode(id: string): void;
  updateConfig(id: string, config: Record<string, unknown>): void;
  renameNode(id: string, newId: string): string | null;
  updateMeta(patch: Record<string, unknown>): void;
  setPositions(positions: Record<string, { x: number; y: number }>): void;
  select(id: string | null, focus?: boolean): void;
  undo(): void;
  redo(): void;
  markSaved(revision: number, problems: ProblemItem[]): void;
  setSaving(saving: boolean, error?: string | null): void;
  setProblems(problems: ProblemItem[]): void;
  setHighlight(path: string[], runs: SimRun[] | null): void;
  setStats(stats: Record<string, NodeCounts> | null, splits?: SplitConversion[] | null): void;
}

function snapshot(s: Snapshot): Snapshot {
  return { nodes: s.nodes, edges: s.edges, meta: s.meta };
}

export const useEditor = create<EditorState>()((set, get) => {
  /** Apply a change to the document, recording the previous state for undo. */
  function change(fn: (s: EditorState) => Partial<Snapshot> | null) {
    const s = get();
    if (s.readOnly) return;
    const patch = fn(s);
    if (!patch) return;
    set({
      ...patch,
      past: [...s.past, snapshot(s)].slice(-HISTORY_LIMIT),
      future: [],
      revision: s.revision + 1,
    });
  }

  return {
    nodes: [], edges: [], meta: {},
    workflowId: null, readOnly: false, selectedId: null, past: [], future: [],
    revision: 0, savedRevision: 0, saving: false, saveError: null, problems: [], convertErrors: [],
    highlight: [], simRuns: null, stats: null, splitStats: null, focus: null,

    load(workflowId, doc, opts = {}) {
      const c = definitionToCanvas(doc);
      set({
        workflowId, nodes: c.nodes, edges: c.edges, meta: c.meta, convertErrors: c.errors,
        readOnly: !!opts.readOnly, selectedId: null, past: [], future: [], revision: 0, savedRevision: 0,
        saving: false, saveError: null, problems: opts.problems ?? [], highlight: [], simRuns: null, stats: null, splitStats: null, focus: null,
      });
    },

    document() {
      const s = get();
      return canvasToDefinition({ nodes: s.nodes, edges: s.edges }, s.meta);
    },

    onNodesChange(changes) {
      const s = get();
      // Removals go through deleteNode so that edges and history follow.
      const removals = changes.filter((c) => c.type === 'remove');
      const rest = changes.filter((c) => c.type !== 'remove' && (!s.readOnly || c.type === 'select' || c.type === 'dimensions'));
      if (rest.length > 0) {
        const moved = rest.some((c) => c.type === 'position' && c.position);
        let nodes = applyNodeChanges(rest, s.nodes as never) as unknown as CanvasNode[];
        if (moved) {
          const ids = new Set(rest.filter((c) => c.type === 'position').map((c) => (c as { id: string }).id));
          nodes = nodes.map((n) => (ids.has(n.id) && n.data.placed === false ? { ...n, data: { ...n.data, placed: true } } : n));
        }
        const selected = nodes.find((n) => n.selected);
        const selectionChanged = rest.some((c) => c.type === 'select');
        set({
          nodes,
          ...(moved ? { revision: s.revision + 1 } : {}),
          ...(selectionChanged ? { selectedId: selected ? selected.id : null } : {}),
        });
      }
      if (removals.length > 0 && !s.readOnly) {
        const ids = new Set(removals.map((c) => (c as { id: string }).id));
        change((st) => ({
          nodes: st.nodes.filter((n) => !ids.has(n.id)),
          edges: st.edges.filter((e) => !ids.has(e.source) && !ids.has(e.target)),
        }));
        if (ids.has(get().selectedId ?? '')) set({ selectedId: null });
      }
    },

    onEdgesChange(changes) {
      const s = get();
      const removals = changes.filter((c) => c.type === 'remove');
      const selects = changes.filter((c) => c.type === 'select');
      if (selects.length > 0) set({ edges: applyEdgeChanges(selects, s.edges as never) as unknown as CanvasEdge[] });
      if (removals.length > 0) {
        change((st) => ({ edges: applyEdgeChanges(removals, st.edges as never) as unknown as CanvasEdge[] }));
      }
    },

    beginDrag() {
      const s = get();
      if (s.readOnly) return;
      set({ past: [...s.past, snapshot(s)].slice(-HISTORY_LIMIT), future: [] });
    },

    connect(source, handle, target) {
      if (source === target || target === TRIGGER_ID) return;
      change((s) => {
        if (!s.nodes.some((n) => n.id === target)) return null;
        const src = s.nodes.find((n) => n.id === source);
        if (!src) return null;
        const edges = s.edges.filter((e) => !(e.source === source && e.sourceHandle === handle));
        edges.push({ id: edgeId(source, handle), source, sourceHandle: handle, target });
        // A dangling port that is now connected is no longer dangling.
        let nodes = s.nodes;
        if (src.data.dangling?.[handle] !== undefined) {
          const dangling = { ...src.data.dangling };
          delete dangling[handle];
          nodes = s.nodes.map((n) => (n.id === source ? { ...n, data: { ...n.data, dangling } } : n));
        }
        return { edges, nodes };
      });
    },

    addNode(type, position) {
      const s = get();
      if (s.readOnly) return null;
      const taken = new Set(s.nodes.map((n) => n.id));
      if (type === 'trigger' && taken.has(TRIGGER_ID)) return null;
      const id = type === 'trigger' ? TRIGGER_ID : freshId(type, taken);
      const node: CanvasNode = { id, type, position: { x: Math.round(position.x), y: Math.round(position.y) }, data: { config: defaultConfig(type) } };
      change((st) => ({ nodes: [...st.nodes.map((n) => ({ ...n, selected: false })), { ...node, selected: true }] }));
      set({ selectedId: id });
      return id;
    },

    deleteSelected() {
      const s = get();
      const nodeIds = new Set(s.nodes.filter((n) => n.selected).map((n) => n.id));
      const edgeIds = new Set(s.edges.filter((e) => e.selected).map((e) => e.id));
      if (nodeIds.size === 0 && edgeIds.size === 0) return;
      change((st) => ({
        nodes: st.nodes.filter((n) => !nodeIds.has(n.id)),
        edges: st.edges.filter((e) => !edgeIds.has(e.id) && !nodeIds.has(e.source) && !nodeIds.has(e.target)),
      }));
      if (nodeIds.has(s.selectedId ?? '')) set({ selectedId: null });
    },

    deleteNode(id) {
      change((st) => ({
        nodes: st.nodes.filter((n) => n.id !== id),
        edges: st.edges.filter((e) => e.source !== id && e.target !== id),
      }));
      if (get().selectedId === id) set({ selectedId: null });
    },

    updateConfig(id, config) {
      change((s) => {
        const node = s.nodes.find((n) => n.id === id);
        if (!node) return null;
        const before = portsOf(node.type, node.data.config).map((p) => p.handle);
        const after = portsOf(node.type, config).map((p) => p.handle);
        let edges = s.edges;
        const same = before.length === after.length && before.every((h) => after.includes(h));
        if (!same) {
          // A renamed rule or variant keeps its connection; a removed one loses it.
          const remap = new Map<string, string>();
          if (before.length === after.length) before.forEach((h, i) => remap.set(h, after[i]));
          else for (const h of before) if (after.includes(h)) remap.set(h, h);
          edges = s.edges.flatMap((e) => {
            if (e.source !== id) return [e];
            const h = remap.get(e.sourceHandle);
            return h === undefined ? [] : [{ ...e, sourceHandle: h, id: edgeId(id, h) }];
          });
        }
        return { nodes: s.nodes.map((n) => (n.id === id ? { ...n, data: { ...n.data, config } } : n)), edges };
      });
    },

    renameNode(id, newId) {
      const s = get();
      if (id === newId) return null;
      if (id === TRIGGER_ID) return 'the trigger keeps its id';
      if (!NODE_ID_PATTERN.test(newId)) return 'use lowercase letters, digits, `_` and `-` (at most 64), starting with a letter or digit';
      if (newId === TRIGGER_ID || s.nodes.some((n) => n.id === newId)) return `\`${newId}\` is taken`;
      change((st) => ({
        nodes: st.nodes.map((n) => (n.id === id ? { ...n, id: newId } : n)),
        edges: st.edges.map((e) => {
          const source = e.source === id ? newId : e.source;
          return { ...e, source, target: e.target === id ? newId : e.target, id: edgeId(source, e.sourceHandle) };
        }),
      }));
      set({ selectedId: newId });
      return null;
    },

    updateMeta(patch) {
      change((s) => {
        const meta = { ...s.meta };
        for (const [k, v] of Object.entries(patch)) {
          if (v === undefined) delete meta[k];
          else meta[k] = v;
        }
        return { meta };
      });
    },

    setPositions(positions) {
      change((s) => ({
        nodes: s.nodes.map((n) => (positions[n.id] ? { ...n, position: positions[n.id], data: n.data.placed === false ? { ...n.data, placed: true } : n.data } : n)),
      }));
    },

    select(id, focus = false) {
      const s = get();
      set({
        selectedId: id,
        nodes: s.nodes.map((n) => (n.selected === (n.id === id) ? n : { ...n, selected: n.id === id })),
        ...(focus && id ? { focus: { id, seq: (s.focus?.seq ?? 0) + 1 } } : {}),
      });
    },

    undo() {
      const s = get();
      const prev = s.past[s.past.length - 1];
      if (!prev || s.readOnly) return;
      set({ ...prev, past: s.past.slice(0, -1), future: [snapshot(s), ...s.future], revision: s.revision + 1, selectedId: prev.nodes.some((n) => n.id === s.selectedId) ? s.selectedId : null });
    },

    redo() {
      const s = get();
      const next = s.future[0];
      if (!next || s.readOnly) return;
      set({ ...next, past: [...s.past, snapshot(s)], future: s.future.slice(1), revision: s.revision + 1, selectedId: next.nodes.some((n) => n.id === s.selectedId) ? s.selectedId : null });
    },

    markSaved(revision, problems) {
      set({ savedRevision: revision, problems, saving: false, saveError: null });
    },
    setSaving(saving, error = null) { set({ saving, saveError: error }); },
    setProblems(problems) { set({ problems }); },
    setHighlight(path, runs) { set({ highlight: path, simRuns: runs }); },
    setStats(stats, splits) {
      set({ stats, splitStats: stats && splits ? Object.fromEntries(splits.map((s) => [s.node, s])) : null });
    },
  };
});

export function isDirty(s: EditorState): boolean {
  return s.revision !== s.savedRevision;
}

/** Problems by node id (`trigger` for the trigger); document-level ones under `''`. */
export function problemsByNode(problems: ProblemItem[]): Map<string, ProblemItem[]> {
  const out = new Map<string, ProblemItem[]>();
  for (const p of problems) {
    let node = p.node ?? '';
    if (!node && p.pointer.startsWith('/trigger')) node = TRIGGER_ID;
    const list = out.get(node) ?? [];
    list.push(p);
    out.set(node, list);
  }
  return out;
}

/** The run data names the journey's webhook sends save (`save_response`): `data.<name>` for suggestions. */
export function useSavedDataNames(): string[] {
  const key = useEditor((s) => savedDataNames(s.nodes.map((n) => ({ ...n.data.config, type: n.type }))).join('\n'));
  return useMemo(() => (key ? key.split('\n') : []), [key]);
}
