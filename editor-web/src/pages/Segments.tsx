// Segments: the list (sizes, new), and the builder of one segment: name, id, description,
// the condition (with "performed an event" rows), a live "≈ N contacts" preview while it is
// edited, save / delete with the server's problems shown where they belong, the members
// (paged) and the size over time.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  ApiError, createSegment, deleteSegment, errorText, getSegment, listSegments, previewSegment, saveSegment, segmentContacts, segmentSizes,
  type Interval, type Segment, type SegmentMember, type SizePoint,
} from '../api';
import { navigate } from '../router';
import { useCatalog } from '../catalog';
import { useSegments } from '../audience';
import { ConditionBuilder } from '../forms/ConditionBuilder';
import { Field, SelectField, TextField } from '../forms/fields';
import { LineChart } from '../charts/Charts';
import { describeCondition } from '../model/summary';
import { problemsAt, problemsUnder, type PointerProblem } from '../model/pointers';
import { canPreview, newSegmentDraft, segmentBody, segmentIdFrom, segmentProblems, sizeSeries, sizeText, type SegmentDraft } from '../model/segments';
import { lastDays, periodLabel, reportRange } from '../model/lifecycle';

function link(path: string) {
  return { href: path, onClick: (e: React.MouseEvent) => { e.preventDefault(); navigate(path); } };
}

export function SegmentListPage() {
  const [rows, setRows] = useState<Segment[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    listSegments().then((r) => { setRows(r.segments); useSegments.setState({ segments: r.segments, loaded: true, error: null }); })
      .catch((e) => setError(errorText(e)));
  }, []);
  return (
    <main className="page">
      <div className="page-head">
        <h1>Segments</h1>
        <button type="button" className="primary" data-testid="new-segment" onClick={() => navigate('/segments/new')}>New segment</button>
      </div>
      <p className="hint">A segment is a group of contacts that match a condition, kept up to date as they act. Journeys can start when a contact enters or leaves one, or on a schedule for its members.</p>
      {error && <div className="inline-error" role="alert" data-testid="segment-list-error">{error}</div>}
      {rows === null ? <p>Loading…</p> : rows.length === 0 ? <p className="muted" data-testid="segment-empty">No segments yet.</p> : (
        <table data-testid="segment-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Who</th><th scope="col" className="num">Contacts</th><th scope="col">Updated</th></tr></thead>
          <tbody>
            {rows.map((s) => (
              <tr key={s.id} data-testid={`segment-row-${s.id}`}>
                <td><a {...link(`/segments/${encodeURIComponent(s.id)}`)}>{s.name}</a><div className="muted">{s.id}</div></td>
                <td className="muted">{s.description || describeCondition(s.condition)}</td>
                <td className="num" data-testid={`segment-size-${s.id}`}>{s.size.toLocaleString('en-US')}</td>
                <td>{new Date(s.updated_at).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}

/** The message to show once the page of a just-created segment opens. */
let flash: { id: string; text: string } | null = null;

type Preview = { state: 'idle' | 'incomplete' | 'loading' } | { state: 'done'; size: number; sample: string[] } | { state: 'error'; text: string };

export function SegmentPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const [draft, setDraft] = useState<SegmentDraft>(newSegmentDraft);
  const [saved, setSaved] = useState<Segment | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [idEdited, setIdEdited] = useState(false);
  const [tried, setTried] = useState(false);
  const [server, setServer] = useState<PointerProblem[]>([]);
  const [previewProblems, setPreviewProblems] = useState<PointerProblem[]>([]);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(() => {
    const f = flash && flash.id === id ? { kind: 'ok' as const, text: flash.text } : null;
    flash = null;
    return f;
  });
  const [preview, setPreview] = useState<Preview>({ state: 'idle' });
  const [busy, setBusy] = useState(false);

  useEffect(() => { void useCatalog.getState().load(); }, []);
  useEffect(() => {
    if (isNew) return;
    getSegment(id).then((s) => {
      setSaved(s);
      setDraft({ id: s.id, name: s.name, description: s.description ?? '', condition: s.condition });
    }).catch((e) => setLoadError(errorText(e)));
  }, [id, isNew]);

  // The live preview: debounced, the previous request cancelled.
  const conditionText = JSON.stringify(draft.condition ?? null);
  useEffect(() => {
    if (!isNew && !saved) return;
    const condition = JSON.parse(conditionText);
    if (!canPreview(condition)) { setPreview({ state: 'incomplete' }); setPreviewProblems([]); return; }
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      setPreview({ state: 'loading' });
      previewSegment(condition, { signal: ctl.signal })
        .then((r) => { setPreview({ state: 'done', size: r.size, sample: r.sample }); setPreviewProblems([]); })
        .catch((e) => {
          if (ctl.signal.aborted) return;
          if (e instanceof ApiError && e.status === 422) setPreviewProblems(e.errors.map((i) => ({ pointer: i.pointer.startsWith('/condition') ? i.pointer : `/condition${i.pointer}`, message: i.message })));
          setPreview({ state: 'error', text: errorText(e) });
        });
    }, 600);
    return () => { clearTimeout(timer); ctl.abort(); };
  }, [conditionText, isNew, saved]);

  const own = segmentProblems(draft, isNew);
  const shown = (pointer: string) => {
    const list = [...(tried ? problemsAt(own, pointer) : []), ...problemsAt(server, pointer)];
    return list.length ? [...new Set(list)].join('; ') : null;
  };
  const conditionServerProblems = useMemo(() => problemsUnder([...server, ...previewProblems], '/condition'), [server, previewProblems]);

  const save = async () => {
    setTried(true);
    setMessage(null);
    if (own.length > 0) { setMessage({ kind: 'error', text: 'Fix the problems shown in red first.' }); return; }
    setBusy(true);
    try {
      const body = segmentBody(draft, isNew);
      const s = isNew ? await createSegment(body as never) : await saveSegment(id, body as never);
      setServer([]);
      setSaved(s);
      void useSegments.getState().load(true);
      setMessage({ kind: 'ok', text: `Saved. ${sizeText(s.size)} now.` });
      if (isNew) {
        flash = { id: s.id, text: `Created. ${sizeText(s.size)} now.` };
        navigate(`/segments/${encodeURIComponent(s.id)}`, true);
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && isNew) setServer([{ pointer: '/id', message: `a segment with the id “${draft.id}” already exists` }]);
      else if (e instanceof ApiError) setServer(e.errors.map((i) => ({ pointer: i.pointer, message: i.message })));
      setMessage({ kind: 'error', text: errorText(e) });
    } finally { setBusy(false); }
  };

  const remove = async () => {
    if (!confirm(`Delete the segment “${draft.name || id}”?`)) return;
    setMessage(null);
    try {
      await deleteSegment(id);
      void useSegments.getState().load(true);
      navigate('/segments');
    } catch (e) {
      const inUse = e instanceof ApiError && e.status === 409;
      setMessage({ kind: 'error', text: inUse ? `It cannot be deleted while a live journey uses it: ${errorText(e)}` : errorText(e) });
    }
  };

  if (loadError) return <main className="page"><h1>Segment</h1><div className="inline-error" role="alert">{loadError}</div><a {...link('/segments')}>All segments</a></main>;
  if (!isNew && !saved) return <main className="page"><p>Loading…</p></main>;
  const dirty = isNew || !saved || JSON.stringify(segmentBody(draft, false)) !== JSON.stringify(segmentBody({ id: saved.id, name: saved.name, description: saved.description ?? '', condition: saved.condition }, false));

  return (
    <main className="page" data-testid="segment-page">
      <div className="page-head">
        <h1><a {...link('/segments')}>Segments</a> / {isNew ? 'New segment' : saved?.name}</h1>
        <div className="row">
          {!isNew && <button type="button" className="danger" data-testid="segment-delete" onClick={() => void remove()}>Delete</button>}
          <button type="button" className="primary" data-testid="segment-save" disabled={busy || !dirty} onClick={() => void save()}>{isNew ? 'Create segment' : 'Save'}</button>
        </div>
      </div>
      {message && <div className={message.kind === 'ok' ? 'banner' : 'inline-error'} role={message.kind === 'ok' ? 'status' : 'alert'} data-testid="segment-message">{message.text}</div>}
      <div className="segment-layout">
        <section aria-label="Definition">
          <TextField label="Name" value={draft.name} testid="segment-name" placeholder="e.g. Lapsed buyers" error={shown('/name')}
            onChange={(v) => setDraft({ ...draft, name: v, id: isNew && !idEdited ? segmentIdFrom(v) : draft.id })} />
          {isNew ? (
            <TextField label="Id (what journeys name; cannot change later)" value={draft.id} testid="segment-id" placeholder="lapsed-buyers" error={shown('/id')}
              onChange={(v) => { setIdEdited(true); setDraft({ ...draft, id: v }); }} />
          ) : <p className="muted">Id: <code data-testid="segment-id">{id}</code></p>}
          <TextField label="Description (optional)" value={draft.description} testid="segment-description" multiline error={shown('/description')}
            onChange={(v) => setDraft({ ...draft, description: v })} />
          <ConditionBuilder label="Contacts who match" value={draft.condition} allowHistory scope={{ contactOnly: true }} testid="segment-condition"
            problems={conditionServerProblems} onChange={(c) => setDraft({ ...draft, condition: c })} />
          {tried && problemsAt(own, '/condition').map((m) => <div key={m} className="inline-error" role="alert">{m}</div>)}
        </section>
        <aside className="panel-box" aria-label="Preview" data-testid="segment-preview">
          <h2>Preview</h2>
          <PreviewView preview={preview} />
        </aside>
      </div>
      {!isNew && saved && <SizesSection id={id} />}
      {!isNew && saved && <MembersSection id={id} key={saved.updated_at} />}
    </main>
  );
}

function PreviewView({ preview }: { preview: Preview }) {
  switch (preview.state) {
    case 'idle': case 'loading':
      return <p className="muted" data-testid="segment-preview-status" aria-live="polite">Counting…</p>;
    case 'incomplete':
      return <p className="muted" data-testid="segment-preview-status" aria-live="polite">Complete the conditions to see how many contacts match.</p>;
    case 'error':
      return <div className="inline-error" role="alert" data-testid="segment-preview-status">{preview.text}</div>;
    case 'done':
      return (
        <>
          <p className="preview-count" data-testid="segment-preview-count" data-count={preview.size} aria-live="polite">{sizeText(preview.size)}</p>
          {preview.sample.length > 0 && (
            <>
              <div className="hint">For example:</div>
              <ul className="plain-list" data-testid="segment-preview-sample">{preview.sample.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
            </>
          )}
        </>
      );
  }
}

function SizesSection({ id }: { id: string }) {
  const [range, setRange] = useState(() => lastDays(new Date(), 30));
  const [interval, setStep] = useState<Interval>('day');
  const [points, setPoints] = useState<SizePoint[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const r = reportRange(range.from, range.to, interval);
  const query = r.query ? JSON.stringify(r.query) : null;
  useEffect(() => {
    if (!query) return;
    let live = true;
    segmentSizes(id, JSON.parse(query)).then((x) => { if (live) { setPoints(sizeSeries(x.points)); setError(null); } }).catch((e) => live && setError(errorText(e)));
    return () => { live = false; };
  }, [id, query]);
  return (
    <section aria-label="Size over time" data-testid="segment-sizes">
      <h2>Size over time</h2>
      <div className="range">
        <Field label="From">{(fid) => <input id={fid} type="date" value={range.from} data-testid="segment-sizes-from" onChange={(e) => setRange({ ...range, from: e.target.value })} />}</Field>
        <Field label="To">{(fid) => <input id={fid} type="date" value={range.to} data-testid="segment-sizes-to" onChange={(e) => setRange({ ...range, to: e.target.value })} />}</Field>
        <SelectField label="Every" value={interval} testid="segment-sizes-interval" options={[{ value: 'day', label: 'day' }, { value: 'week', label: 'week' }]} onChange={(v) => setStep(v)} />
      </div>
      {r.problem && <div className="inline-error" role="alert">{r.problem}</div>}
      {error && <div className="inline-error" role="alert">{error}</div>}
      {points && (points.length === 0 ? <p className="muted">No sizes recorded in this period.</p> : (
        <>
          <LineChart label="Contacts in the segment" testid="segment-sizes-chart" points={points.map((p) => ({ label: periodLabel(p.at), value: p.size }))} />
          <div className="hint">In this period: {points.reduce((s, p) => s + p.entered, 0).toLocaleString('en-US')} entered, {points.reduce((s, p) => s + p.exited, 0).toLocaleString('en-US')} left.</div>
        </>
      ))}
    </section>
  );
}

function MembersSection({ id }: { id: string }) {
  const [members, setMembers] = useState<SegmentMember[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const loading = useRef(false);
  const more = useCallback(async (after?: string) => {
    if (loading.current) return;
    loading.current = true;
    try {
      const page = await segmentContacts(id, after);
      setMembers((m) => (after ? [...m, ...page.contacts] : page.contacts));
      setNext(page.next);
      setLoaded(true);
    } catch (e) { setError(errorText(e)); } finally { loading.current = false; }
  }, [id]);
  useEffect(() => { void more(); }, [more]);
  return (
    <section aria-label="Members" data-testid="segment-members">
      <h2>Members</h2>
      {error && <div className="inline-error" role="alert">{error}</div>}
      {!loaded ? <p>Loading…</p> : members.length === 0 ? <p className="muted">No contacts are in this segment now.</p> : (
        <table data-testid="segment-members-table">
          <thead><tr><th scope="col">Contact</th><th scope="col">In the segment since</th></tr></thead>
          <tbody>{members.map((m) => <tr key={m.id}><td><code>{m.id}</code></td><td>{new Date(m.entered_at).toLocaleString()}</td></tr>)}</tbody>
        </table>
      )}
      {next && <button type="button" data-testid="segment-members-more" onClick={() => void more(next)}>Show more</button>}
    </section>
  );
}
