// Journeys: status, live version, contacts in the journey now, converted; create,
// duplicate, pause/resume, archive, import a file, download the canonical file.
import { useCallback, useEffect, useRef, useState } from 'react';
import {
  archiveWorkflow, createWorkflow, errorText, exportWorkflow, listWorkflows, pauseWorkflow, resumeWorkflow, workflowStats,
  type WorkflowSummary,
} from '../api';
import { navigate } from '../router';

function slugify(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64) || 'journey';
}

export function JourneyListPage() {
  const [rows, setRows] = useState<WorkflowSummary[] | null>(null);
  const [converted, setConverted] = useState<Record<string, number>>({});
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState('');
  const fileInput = useRef<HTMLInputElement>(null);

  const refresh = useCallback(async () => {
    try {
      const all: WorkflowSummary[] = [];
      let after: string | undefined;
      do {
        const page = await listWorkflows(after);
        all.push(...page.data);
        after = page.next ?? undefined;
      } while (after);
      setRows(all);
      const counts: Record<string, number> = {};
      await Promise.all(all.filter((w) => w.latest_version).map(async (w) => {
        try { counts[w.id] = (await workflowStats(w.id)).runs.converted; } catch { /* leave empty */ }
      }));
      setConverted(counts);
    } catch (e) { setError(errorText(e)); }
  }, []);
  useEffect(() => { void refresh(); }, [refresh]);

  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try { await fn(); await refresh(); } catch (e) { setError(errorText(e)); }
  };

  const uniqueId = (base: string) => {
    const taken = new Set((rows ?? []).map((r) => r.id));
    if (!taken.has(base)) return base;
    for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`.slice(0, 64))) return `${base}-${i}`.slice(0, 64);
  };

  const create = async () => {
    const n = name.trim() || 'New journey';
    const id = uniqueId(slugify(n));
    try {
      // An empty canvas: the trigger comes from the palette like every other step.
      await createWorkflow({ $schema: './schema.json', id, name: n, settings: { reentry: 'once', timezone: 'UTC' }, nodes: [] });
      navigate(`/journeys/${encodeURIComponent(id)}`);
    } catch (e) { setError(errorText(e)); }
  };

  const duplicate = (w: WorkflowSummary) => act(async () => {
    const doc = JSON.parse(await exportWorkflow(w.id));
    doc.id = uniqueId(`${w.id}-copy`);
    doc.name = `${w.name} (copy)`;
    await createWorkflow(doc);
  });

  const download = async (w: WorkflowSummary) => {
    try {
      const text = await exportWorkflow(w.id);
      const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
      const a = document.createElement('a');
      a.href = url; a.download = `${w.id}.json`;
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) { setError(errorText(e)); }
  };

  const importFile = async (file: File) => {
    await act(async () => {
      let doc: unknown;
      try { doc = JSON.parse(await file.text()); } catch (e) { throw new Error(`${file.name} is not JSON: ${(e as Error).message}`); }
      await createWorkflow(doc);
    });
  };

  return (
    <main className="page">
      <div className="page-head">
        <h1>Journeys</h1>
        <form className="row" onSubmit={(e) => { e.preventDefault(); void create(); }}>
          <label htmlFor="new-name" className="sr-only">New journey name</label>
          <input id="new-name" placeholder="New journey name" value={name} onChange={(e) => setName(e.target.value)} data-testid="new-journey-name" />
          <button type="submit" className="primary" data-testid="create-journey">Create journey</button>
          <button type="button" onClick={() => fileInput.current?.click()} data-testid="import-journey">Import JSON…</button>
          <input ref={fileInput} type="file" accept="application/json,.json" className="sr-only" aria-label="Journey file to import" data-testid="import-file"
            onChange={(e) => { const f = e.target.files?.[0]; if (f) void importFile(f); e.target.value = ''; }} />
        </form>
      </div>
      {error && <div className="inline-error" role="alert" data-testid="list-error">{error}</div>}
      {rows === null ? <p>Loading…</p> : rows.length === 0 ? <p className="muted">No journeys yet: create one, or import a journey file.</p> : (
        <table className="journeys" data-testid="journey-table">
          <thead>
            <tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Live version</th><th scope="col">In journey now</th><th scope="col">Converted</th><th scope="col"><span className="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            {rows.map((w) => (
              <tr key={w.id} data-testid={`journey-row-${w.id}`}>
                <td><a href={`/journeys/${encodeURIComponent(w.id)}`} onClick={(e) => { e.preventDefault(); navigate(`/journeys/${encodeURIComponent(w.id)}`); }}>{w.name}</a><div className="muted">{w.id}</div></td>
                <td><span className={`badge status-${w.status}`}>{w.status}</span></td>
                <td>{w.live_version ?? '—'}</td>
                <td>{w.active_runs}</td>
                <td>{converted[w.id] ?? '—'}</td>
                <td className="actions">
                  <div>
                    <button type="button" onClick={() => void duplicate(w)} aria-label={`Duplicate ${w.name}`}>Duplicate</button>
                    {w.status === 'live' && <button type="button" onClick={() => void act(() => pauseWorkflow(w.id))} aria-label={`Pause ${w.name}`}>Pause</button>}
                    {w.status === 'paused' && <button type="button" onClick={() => void act(() => resumeWorkflow(w.id))} aria-label={`Resume ${w.name}`}>Resume</button>}
                    {w.status !== 'archived' && <button type="button" onClick={() => { if (confirm(`Archive “${w.name}”? No new contacts will enter.`)) void act(() => archiveWorkflow(w.id)); }} aria-label={`Archive ${w.name}`}>Archive</button>}
                    <button type="button" onClick={() => void download(w)} aria-label={`Download ${w.name} as a journey file`}>Download</button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
