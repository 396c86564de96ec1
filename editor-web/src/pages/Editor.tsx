// The journey editor: palette, canvas, side panel (step form, journey settings,
// problems, versions, test, live, JSON), autosave with validation, publish.
import { useCallback, useEffect, useRef, useState } from 'react';
import { ReactFlowProvider, useReactFlow } from '@xyflow/react';
import {
  errorText, getVersion, getWorkflow, listVersions, pauseWorkflow, publishWorkflow, resumeWorkflow, saveWorkflow, workflowStats,
  type VersionSummary, type WorkflowDetail, type WorkflowStats,
} from '../api';
import { FlowCanvas } from '../canvas/FlowCanvas';
import { Palette } from '../canvas/Palette';
import { autoLayout, NODE_WIDTH } from '../canvas/layout';
import { NodeInspector } from '../forms/NodeForms';
import { JourneySettings } from '../forms/JourneySettings';
import { ProblemsPanel } from '../panels/ProblemsPanel';
import { TestPanel } from '../panels/TestPanel';
import { LivePanel } from '../panels/LivePanel';
import { isDirty, useEditor } from '../store';
import { useCatalog } from '../catalog';
import { toCanonicalText } from '../model/canonical';
import type { NodeType } from '../model/types';
import { navigate } from '../router';

type Tab = 'step' | 'journey' | 'problems' | 'versions' | 'test' | 'live' | 'json';
const AUTOSAVE_MS = 700;

export function EditorPage({ id }: { id: string }) {
  return (
    <ReactFlowProvider>
      <Editor id={id} />
    </ReactFlowProvider>
  );
}

function Editor({ id }: { id: string }) {
  const [detail, setDetail] = useState<WorkflowDetail | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [tab, setTab] = useState<Tab>('journey');
  const [viewing, setViewing] = useState<number | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [stats, setStats] = useState<WorkflowStats | null>(null);
  const [waitingNode, setWaitingNode] = useState<string | null>(null);
  const testOpened = useSticky(tab === 'test');
  const revision = useEditor((s) => s.revision);
  const dirty = useEditor(isDirty);
  const saving = useEditor((s) => s.saving);
  const saveError = useEditor((s) => s.saveError);
  const problems = useEditor((s) => s.problems);
  const selectedId = useEditor((s) => s.selectedId);
  const readOnly = useEditor((s) => s.readOnly);
  const canUndo = useEditor((s) => s.past.length > 0);
  const canRedo = useEditor((s) => s.future.length > 0);
  const rf = useReactFlow();
  const saveChain = useRef<Promise<void>>(Promise.resolve());

  /** Fit a journey just opened into view. Not an empty one: React Flow would keep the
   * fit queued until the first step is dropped and then jump to centre it. */
  const fitOpened = useCallback(() => {
    if (useEditor.getState().nodes.length > 0) setTimeout(() => rf.fitView({ padding: 0.2, maxZoom: 1 }), 50);
  }, [rf]);

  const loadDraft = useCallback(async () => {
    try {
      const d = await getWorkflow(id);
      setDetail(d);
      setViewing(null);
      useEditor.getState().load(id, d.draft, { problems: d.problems });
      fitOpened();
    } catch (e) { setLoadError(errorText(e)); }
  }, [id, fitOpened]);

  useEffect(() => { void loadDraft(); void useCatalog.getState().load(); }, [loadDraft]);

  /** Save the draft now (the server validates it and answers with its problems). */
  const save = useCallback(() => {
    saveChain.current = saveChain.current.then(async () => {
      const s = useEditor.getState();
      if (s.readOnly || s.workflowId !== id || !isDirty(s)) return;
      const rev = s.revision;
      s.setSaving(true);
      try {
        const d = await saveWorkflow(id, s.document().doc);
        setDetail(d);
        useEditor.getState().markSaved(rev, d.problems);
      } catch (e) {
        useEditor.getState().setSaving(false, errorText(e));
      }
    });
    return saveChain.current;
  }, [id]);

  // Autosave, debounced.
  useEffect(() => {
    if (!dirty || readOnly) return;
    const t = setTimeout(() => { void save(); }, AUTOSAVE_MS);
    return () => clearTimeout(t);
  }, [revision, dirty, readOnly, save]);

  // Warn before leaving with unsaved changes.
  useEffect(() => {
    const h = (e: BeforeUnloadEvent) => { if (isDirty(useEditor.getState())) e.preventDefault(); };
    window.addEventListener('beforeunload', h);
    return () => window.removeEventListener('beforeunload', h);
  }, []);

  // Live counts every 5 s once the journey has been published.
  const published = !!detail?.latest_version;
  useEffect(() => {
    if (!published) { useEditor.getState().setStats(null); return; }
    let stop = false;
    const tick = async () => {
      try {
        const st = await workflowStats(id);
        if (!stop) { setStats(st); useEditor.getState().setStats(st.nodes, st.splits); }
      } catch { /* keep the last counts */ }
    };
    void tick();
    const t = setInterval(tick, 5000);
    return () => { stop = true; clearInterval(t); };
  }, [id, published]);

  // The counts on a node ask for the contacts waiting there.
  useEffect(() => {
    const h = (e: Event) => { setWaitingNode((e as CustomEvent<string>).detail); setTab('live'); };
    window.addEventListener('kairos:waiting', h);
    return () => window.removeEventListener('kairos:waiting', h);
  }, []);

  useEffect(() => { if (selectedId) setTab('step'); }, [selectedId]);

  // Keyboard shortcuts (not while typing in a field).
  useEffect(() => {
    const h = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
      const mod = e.ctrlKey || e.metaKey;
      if (mod && e.key.toLowerCase() === 's') { e.preventDefault(); void save(); return; }
      if (typing) return;
      if (mod && e.key.toLowerCase() === 'z' && !e.shiftKey) { e.preventDefault(); useEditor.getState().undo(); }
      else if (mod && ((e.key.toLowerCase() === 'z' && e.shiftKey) || e.key.toLowerCase() === 'y')) { e.preventDefault(); useEditor.getState().redo(); }
      else if (e.key === 'Escape') useEditor.getState().select(null);
      else if (!mod && e.key.toLowerCase() === 'l' && e.shiftKey) { e.preventDefault(); doLayout(); }
    };
    window.addEventListener('keydown', h);
    return () => window.removeEventListener('keydown', h);
  });

  const doLayout = () => {
    const s = useEditor.getState();
    s.setPositions(autoLayout(s.nodes, s.edges));
    setTimeout(() => rf.fitView({ padding: 0.2, maxZoom: 1, duration: 300 }), 30);
  };

  const addAtCentre = (type: NodeType | 'trigger') => {
    const el = document.querySelector('.canvas');
    const r = el?.getBoundingClientRect();
    const p = rf.screenToFlowPosition({ x: (r?.left ?? 0) + (r?.width ?? 800) / 2, y: (r?.top ?? 0) + (r?.height ?? 600) / 2 });
    const n = useEditor.getState().nodes.length;
    useEditor.getState().addNode(type, { x: p.x - NODE_WIDTH / 2 + (n % 5) * 12, y: p.y + (n % 5) * 12 });
  };

  const publish = async () => {
    setMessage(null);
    await save();
    try {
      const before = detail?.latest_version ?? null;
      const v = await publishWorkflow(id);
      // Publishing an unchanged draft gives back the latest version (no new one).
      setMessage(v.version === before ? `Nothing changed since version ${v.version}; it is live.` : `Published version ${v.version}; it is live.`);
      setDetail(await getWorkflow(id));
    } catch (e) { setMessage(errorText(e)); }
  };

  const pauseResume = async () => {
    if (!detail) return;
    try {
      const s = detail.status === 'live' ? await pauseWorkflow(id) : await resumeWorkflow(id);
      setDetail({ ...detail, ...s });
    } catch (e) { setMessage(errorText(e)); }
  };

  const openVersion = async (n: number) => {
    try {
      await save();
      const v = await getVersion(id, n);
      useEditor.getState().load(id, v.definition, { readOnly: true });
      setViewing(n);
      fitOpened();
      const st = await workflowStats(id, n).catch(() => null);
      if (st) { setStats(st); useEditor.getState().setStats(st.nodes, st.splits); }
    } catch (e) { setMessage(errorText(e)); }
  };

  if (loadError) return <main className="page"><p className="inline-error" role="alert">{loadError}</p><button type="button" onClick={() => navigate('/')}>Back to journeys</button></main>;
  if (!detail) return <main className="page"><p>Loading…</p></main>;

  const hasErrors = problems.length > 0;
  const status = saving ? 'Saving…' : saveError ? `Not saved: ${saveError}` : dirty ? 'Unsaved changes' : 'All changes saved';
  const tabs: { id: Tab; label: string }[] = [
    { id: 'step', label: 'Step' }, { id: 'journey', label: 'Journey' }, { id: 'problems', label: `Problems (${problems.length})` },
    { id: 'versions', label: 'Versions' }, { id: 'test', label: 'Test' }, { id: 'live', label: 'Live' }, { id: 'json', label: 'JSON' },
  ];

  return (
    <div className="editor">
      <header className="editor-bar">
        <button type="button" className="link" onClick={() => navigate('/')} aria-label="Back to journeys">← Journeys</button>
        <h1 data-testid="journey-title">{detail.name}</h1>
        <span className={`badge status-${detail.status}`} data-testid="journey-status">{detail.status}{detail.live_version ? ` · v${detail.live_version}` : ''}</span>
        {viewing !== null && <span className="badge" data-testid="viewing-version">viewing v{viewing} (read-only)</span>}
        <span className={`save-state${saveError ? ' inline-error' : ''}`} role="status" data-testid="save-state">{viewing === null ? status : ''}</span>
        <div className="spacer" />
        {viewing !== null ? (
          <button type="button" data-testid="back-to-draft" onClick={() => void loadDraft()}>Back to draft</button>
        ) : (
          <>
            <button type="button" onClick={() => useEditor.getState().undo()} disabled={!canUndo || readOnly} aria-label="Undo (Ctrl+Z)" data-testid="undo">↶ Undo</button>
            <button type="button" onClick={() => useEditor.getState().redo()} disabled={!canRedo || readOnly} aria-label="Redo (Ctrl+Shift+Z)" data-testid="redo">↷ Redo</button>
            <button type="button" onClick={doLayout} disabled={readOnly} data-testid="auto-layout" aria-label="Auto-layout (Shift+L)">Auto-layout</button>
            <button type="button" onClick={() => void save()} disabled={readOnly || !dirty} data-testid="save" aria-label="Save (Ctrl+S)">Save</button>
            {(detail.status === 'live' || detail.status === 'paused') && (
              <button type="button" onClick={pauseResume} data-testid="pause-resume">{detail.status === 'live' ? 'Pause' : 'Resume'}</button>
            )}
            <button type="button" className="primary" onClick={publish} disabled={readOnly || hasErrors || saving || !!saveError} data-testid="publish"
              title={hasErrors ? 'Fix the problems before publishing' : undefined} aria-label="Publish">Publish</button>
          </>
        )}
      </header>
      {message && <div className="banner" role="status" data-testid="editor-message">{message} <button type="button" className="link" onClick={() => setMessage(null)} aria-label="Dismiss">✕</button></div>}
      <div className="editor-body">
        <Palette onAdd={addAtCentre} />
        <FlowCanvas onNodeClick={() => setTab('step')} />
        <aside className="side" aria-label="Side panel">
          <div className="tabs" role="tablist">
            {tabs.map((t) => (
              <button key={t.id} type="button" role="tab" aria-selected={tab === t.id} data-testid={`tab-${t.id}`}
                className={`${tab === t.id ? 'active' : ''}${t.id === 'problems' && hasErrors ? ' has-errors' : ''}`} onClick={() => setTab(t.id)}>{t.label}</button>
            ))}
          </div>
          <div className="side-body" role="tabpanel">
            {tab === 'step' && (selectedId ? <NodeInspector id={selectedId} /> : <p className="muted">Select a step on the canvas to edit it.</p>)}
            {tab === 'journey' && <JourneySettings />}
            {tab === 'problems' && <ProblemsPanel />}
            {tab === 'versions' && <VersionsPanel id={id} viewing={viewing} onOpen={openVersion} onDraft={() => void loadDraft()} />}
            {/* The test panel keeps its scenario and result while other tabs are open. */}
            {testOpened && <div hidden={tab !== 'test'}><TestPanel /></div>}
            {tab === 'live' && <LivePanel stats={stats} node={waitingNode} onNode={setWaitingNode} />}
            {tab === 'json' && <JsonTab />}
          </div>
        </aside>
      </div>
    </div>
  );
}

/** True from the first time `on` is true. */
function useSticky(on: boolean): boolean {
  const [was, setWas] = useState(on);
  if (on && !was) setWas(true);
  return was || on;
}

function VersionsPanel({ id, viewing, onOpen, onDraft }: { id: string; viewing: number | null; onOpen: (n: number) => void; onDraft: () => void }) {
  const [versions, setVersions] = useState<VersionSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => { listVersions(id).then((p) => setVersions(p.data)).catch((e) => setError(errorText(e))); }, [id]);
  if (error) return <p className="inline-error" role="alert">{error}</p>;
  if (!versions) return <p>Loading…</p>;
  return (
    <section aria-label="Versions" data-testid="versions-panel">
      {viewing !== null && <button type="button" onClick={onDraft}>Back to the draft</button>}
      {versions.length === 0 ? <p className="muted">Not published yet.</p> : (
        <ul className="versions">
          {[...versions].sort((a, b) => b.version - a.version).map((v) => (
            <li key={v.version}>
              <button type="button" className="link" data-testid={`version-${v.version}`} onClick={() => onOpen(v.version)} aria-label={`Open version ${v.version} read-only`}>
                Version {v.version}
              </button>{' '}
              <span className="muted">{new Date(v.published_at).toLocaleString()}</span>
              {v.live && <span className="badge status-live">live</span>}
              {viewing === v.version && <span className="badge">open</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function JsonTab() {
  const text = useEditor((s) => toCanonicalText(s.document().doc));
  return (
    <section aria-label="Journey file (read-only)">
      <p className="hint">The journey file as it will be exported (read-only).</p>
      <pre className="json" data-testid="json-view" tabIndex={0}>{text}</pre>
    </section>
  );
}
