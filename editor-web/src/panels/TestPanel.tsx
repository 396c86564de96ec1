// The test panel: a contact and a timeline of events, simulated on the draft by the
// server; the path is highlighted on the canvas and the timeline listed. The scenario
// and its actual result can be saved as a journey test case.
import { useEffect, useRef, useState } from 'react';
import { errorText, getContact, getTests, putTests, simulate, type ScenarioEvent, type Simulation } from '../api';
import { useEditor } from '../store';
import { KeyValueRows, fromRows, toRows, type Row } from './KeyValueRows';
import { TextField } from '../forms/fields';
import { buildCase } from './testcase';
import { TRIGGER_ID } from '../model/types';
import { kindLabel } from '../model/timeline';

interface EventRow { at: string; name: string; props: Row[] }

export function TestPanel() {
  const workflowId = useEditor((s) => s.workflowId);
  const triggerEvent = useEditor((s) => {
    const t = s.nodes.find((n) => n.type === 'trigger');
    return t && typeof t.data.config.event === 'string' ? t.data.config.event : '';
  });
  const [contactId, setContactId] = useState('test-contact');
  const [attrs, setAttrs] = useState<Row[]>([{ key: 'email', value: 'test@example.com' }]);
  const [events, setEvents] = useState<EventRow[]>(() => [{ at: '0s', name: triggerEvent, props: [] }]);
  // The first event follows the trigger's event while it has not been edited.
  const lastTrigger = useRef(triggerEvent);
  useEffect(() => {
    const previous = lastTrigger.current;
    lastTrigger.current = triggerEvent;
    setEvents((evs) => (evs.length > 0 && (evs[0].name === '' || evs[0].name === previous) ? [{ ...evs[0], name: triggerEvent }, ...evs.slice(1)] : evs));
  }, [triggerEvent]);
  const [result, setResult] = useState<Simulation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [caseName, setCaseName] = useState('');
  const [saved, setSaved] = useState<string | null>(null);
  const setHighlight = useEditor((s) => s.setHighlight);
  const select = useEditor((s) => s.select);

  const scenarioEvents = (): ScenarioEvent[] => events.filter((e) => e.name.trim()).map((e) => ({ at: e.at || '0s', name: e.name.trim(), properties: fromRows(e.props) }));
  const contact = () => ({ id: contactId, attributes: fromRows(attrs) });

  const load = async () => {
    setError(null);
    try {
      const c = await getContact(contactId);
      setAttrs(toRows(c.attributes));
    } catch (e) { setError(errorText(e)); }
  };

  const run = async () => {
    if (!workflowId) return;
    setBusy(true); setError(null); setSaved(null);
    try {
      const sim = await simulate(workflowId, { definition: useEditor.getState().document().doc, contact: contact(), events: scenarioEvents() });
      setResult(sim);
      const path = [TRIGGER_ID, ...sim.runs.flatMap((r) => r.path)];
      setHighlight(path, sim.runs);
    } catch (e) {
      setResult(null); setHighlight([], null); setError(errorText(e));
    } finally { setBusy(false); }
  };

  const save = async () => {
    if (!workflowId || !result) return;
    setError(null);
    try {
      const file = await getTests(workflowId);
      const name = caseName.trim() || `case ${file.tests.length + 1}`;
      const tests = [...file.tests, buildCase(name, contact(), scenarioEvents(), result)];
      await putTests(workflowId, { ...file, tests });
      setSaved(`Saved “${name}” (${tests.length} test case(s) in the journey's test file).`);
    } catch (e) { setError(errorText(e)); }
  };

  return (
    <section className="test-panel" aria-label="Test the journey" data-testid="test-panel">
      <fieldset>
        <legend>Contact</legend>
        <div className="row">
          <TextField label="Contact id" value={contactId} testid="test-contact-id" onChange={setContactId} />
          <button type="button" data-testid="test-load-contact" onClick={load}>Load existing</button>
        </div>
        <KeyValueRows label="Attribute" rows={attrs} onChange={setAttrs} testid="test-attr" />
      </fieldset>
      <fieldset>
        <legend>Events</legend>
        {events.map((ev, i) => (
          <div className="test-event" key={i} data-testid={`test-event-${i}`}>
            <div className="row">
              <TextField label="At (offset)" value={ev.at} placeholder="0s, 2h, 1d 1h" testid={`test-event-${i}-at`} onChange={(v) => setEvents(events.map((x, j) => (j === i ? { ...x, at: v } : x)))} />
              <TextField label="Event name" value={ev.name} testid={`test-event-${i}-name`} onChange={(v) => setEvents(events.map((x, j) => (j === i ? { ...x, name: v } : x)))} />
              <button type="button" className="icon" aria-label={`Remove event ${i + 1}`} onClick={() => setEvents(events.filter((_, j) => j !== i))}>✕</button>
            </div>
            <KeyValueRows label="Property" rows={ev.props} testid={`test-event-${i}-prop`} onChange={(p) => setEvents(events.map((x, j) => (j === i ? { ...x, props: p } : x)))} />
          </div>
        ))}
        <button type="button" data-testid="test-event-add" onClick={() => setEvents([...events, { at: '1h', name: '', props: [] }])}>+ Event</button>
      </fieldset>
      <div className="row">
        <button type="button" className="primary" data-testid="run-test" disabled={busy || !workflowId} onClick={run}>{busy ? 'Running…' : 'Run test'}</button>
        {result && <button type="button" onClick={() => { setResult(null); setHighlight([], null); }}>Clear</button>}
      </div>
      {error && <div className="inline-error" role="alert" data-testid="test-error">{error}</div>}
      {result && (
        <div className="test-result" data-testid="test-result">
          <h3>Runs</h3>
          {result.runs.length === 0 ? (
            <p className="muted" data-testid="test-runs">No run: the contact did not enter the journey (check the trigger event, its conditions and properties).</p>
          ) : (
            <ul data-testid="test-runs">
              {result.runs.map((r) => (
                <li key={r.run}>Run {r.run}: <b>{r.status}</b>{r.node ? ` at ${r.node}` : ''}{r.converted ? ', converted' : ''}{r.variant ? `, variant ${r.variant}` : ''}
                  <div className="muted">{r.path.join(' → ')}</div></li>
              ))}
            </ul>
          )}
          <h3>Sends ({result.sends.length})</h3>
          <ul data-testid="test-sends">
            {result.sends.map((s, i) => (
              <li key={i}><b>{s.offset}</b> {s.node} · {s.channel}{s.to ? ` to ${s.to}` : ''}{s.subject ? `: ${s.subject}` : ''}{s.title ? `: ${s.title}` : ''}{s.url ? ` (${s.url})` : ''}</li>
            ))}
          </ul>
          <h3>Timeline</h3>
          <ol className="timeline" data-testid="test-timeline">
            {result.timeline.map((t, i) => (
              <li key={i} className={`tl-${t.kind}`}>
                <span className="tl-at">{t.offset}</span>{' '}
                <span className="tl-kind">{kindLabel(t.kind)}</span>{' '}
                {result.runs.length > 1 && t.run !== null && <span className="muted">run {t.run} </span>}
                {t.node && <button type="button" className="link" onClick={() => select(t.node!, true)} aria-label={`Show step ${t.node}`}>{t.node}</button>}{' '}
                <span>{t.detail}</span>
              </li>
            ))}
          </ol>
          <fieldset>
            <legend>Save as journey test</legend>
            <TextField label="Test name" value={caseName} placeholder="what this case shows" testid="test-case-name" onChange={setCaseName} />
            <button type="button" data-testid="save-test" onClick={save}>Save as journey test</button>
            {saved && <div className="ok" role="status" data-testid="test-saved">{saved}</div>}
          </fieldset>
        </div>
      )}
    </section>
  );
}
