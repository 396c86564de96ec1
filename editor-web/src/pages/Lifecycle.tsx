// Lifecycle: contacts per stage now, stage changes per period, purchase retention by
// cohort, goal conversion per journey, for a chosen range; one contact's stage history;
// and the audience settings (stages, stage rules, lead scoring, RFM) below.
import { useEffect, useState } from 'react';
import { contactStages, errorText, lifecycleReport, type Interval, type LifecycleReport, type StageChange } from '../api';
import { useStages } from '../audience';
import { BarChart, StackedBarChart } from '../charts/Charts';
import { heatColor, heatText } from '../charts/scale';
import { Field, SelectField } from '../forms/fields';
import { goalRows, lastDays, percent, periodLabel, reportRange, retentionRows, stageBars, transitionSeries, transitionTable } from '../model/lifecycle';
import { AudienceSettingsSection } from './AudienceSettings';
import { navigate } from '../router';

export function LifecyclePage() {
  const stages = useStages();
  const [range, setRange] = useState(() => lastDays(new Date(), 84));
  const [interval, setStep] = useState<Interval>('week');
  const [report, setReport] = useState<LifecycleReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const r = reportRange(range.from, range.to, interval);
  const query = r.query ? JSON.stringify(r.query) : null;
  useEffect(() => {
    if (!query) return;
    let live = true;
    lifecycleReport(JSON.parse(query)).then((x) => { if (live) { setReport(x); setError(null); } }).catch((e) => live && setError(errorText(e)));
    return () => { live = false; };
  }, [query]);

  return (
    <main className="page" data-testid="lifecycle-page">
      <div className="page-head">
        <h1>Lifecycle</h1>
        <div className="range" role="group" aria-label="Report period">
          <Field label="From">{(id) => <input id={id} type="date" value={range.from} data-testid="report-from" onChange={(e) => setRange({ ...range, from: e.target.value })} />}</Field>
          <Field label="To">{(id) => <input id={id} type="date" value={range.to} data-testid="report-to" onChange={(e) => setRange({ ...range, to: e.target.value })} />}</Field>
          <SelectField label="Per" value={interval} testid="report-interval" options={[{ value: 'day', label: 'day' }, { value: 'week', label: 'week' }]} onChange={setStep} />
        </div>
      </div>
      {r.problem && <div className="inline-error" role="alert" data-testid="report-range-problem">{r.problem}</div>}
      {error && <div className="inline-error" role="alert" data-testid="report-error">{error}</div>}
      {!report ? (!error && <p>Loading…</p>) : <Report report={report} stages={stages} />}
      <StageHistory />
      <AudienceSettingsSection />
    </main>
  );
}

function Report({ report, stages }: { report: LifecycleReport; stages: string[] }) {
  const bars = stageBars(report, stages);
  const series = transitionSeries(report, stages);
  const table = transitionTable(report);
  const retention = retentionRows(report);
  const goals = goalRows(report);
  return (
    <>
      <section aria-label="Contacts per stage">
        <h2>Contacts per stage now</h2>
        <BarChart bars={bars} label="Contacts per stage" testid="lifecycle-stages" />
      </section>
      <section aria-label="Stage changes" data-testid="lifecycle-transitions">
        <h2>Stage changes</h2>
        {series.periods.length === 0 ? <p className="muted">No contact changed stage in this period.</p> : (
          <>
            <StackedBarChart {...series} label="Contacts entering each stage per period" periodLabel={periodLabel} testid="lifecycle-transitions-chart" />
            <details>
              <summary>From → to, per period</summary>
              <table data-testid="lifecycle-transitions-table">
                <thead><tr><th scope="col">From</th><th scope="col">To</th>{table.periods.map((p) => <th scope="col" key={p} className="num">{periodLabel(p)}</th>)}<th scope="col" className="num">Total</th></tr></thead>
                <tbody>
                  {table.rows.map((row) => (
                    <tr key={`${row.from}-${row.to}`}>
                      <td>{row.from}</td><td>{row.to}</td>{row.counts.map((c, i) => <td key={i} className="num">{c || ''}</td>)}<td className="num">{row.total}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          </>
        )}
      </section>
      <section aria-label="Retention" data-testid="lifecycle-retention">
        <h2>Retention{report.retention ? ` (${report.retention.event} again)` : ''}</h2>
        {retention.rows.length === 0 ? <p className="muted">No cohorts in this period{report.retention ? '' : ' (set the purchase event under RFM below)'}.</p> : (
          <>
            <p className="hint">Each row: the contacts whose first {report.retention?.event ?? 'purchase'} was in that week; each column: the share who did it again that many weeks later.</p>
            <table className="heat" data-testid="lifecycle-retention-table">
              <thead><tr><th scope="col">First week</th><th scope="col" className="num">Contacts</th>{Array.from({ length: retention.weeks }, (_, i) => <th scope="col" key={i} className="num">+{i + 1}w</th>)}</tr></thead>
              <tbody>
                {retention.rows.map((row) => (
                  <tr key={row.week}>
                    <th scope="row">{row.week}</th><td className="num">{row.size}</td>
                    {row.cells.map((c, i) => (
                      <td key={i} className="heat-cell" style={c === null ? undefined : { background: heatColor(c, retention.max), color: heatText(c, retention.max) }}>{c === null ? '' : percent(c)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
      <section aria-label="Goal conversion" data-testid="lifecycle-goals">
        <h2>Goal conversion per journey</h2>
        {goals.length === 0 ? <p className="muted">No journey with a goal had contacts in this period.</p> : (
          <table>
            <thead><tr><th scope="col">Journey</th><th scope="col" className="num">Entered</th><th scope="col" className="num">Converted</th><th scope="col">Rate</th></tr></thead>
            <tbody>
              {goals.map((g) => (
                <tr key={g.workflow} data-testid={`goal-row-${g.workflow}`}>
                  <td><a href={`/journeys/${encodeURIComponent(g.workflow)}`} onClick={(e) => { e.preventDefault(); navigate(`/journeys/${encodeURIComponent(g.workflow)}`); }}>{g.name}</a></td>
                  <td className="num">{g.entered.toLocaleString('en-US')}</td><td className="num">{g.converted.toLocaleString('en-US')}</td>
                  <td><meter min={0} max={1} value={g.rate} aria-label={`${g.name} conversion`} /> {percent(g.rate)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function StageHistory() {
  const [contact, setContact] = useState('');
  const [changes, setChanges] = useState<StageChange[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  return (
    <section aria-label="A contact's stages" data-testid="stage-history">
      <h2>A contact's stage history</h2>
      <form className="row" onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        try { setChanges((await contactStages(contact.trim())).changes); } catch (err) { setChanges(null); setError(errorText(err)); }
      }}>
        <label htmlFor="stage-contact" className="sr-only">Contact id</label>
        <input id="stage-contact" value={contact} placeholder="contact id" data-testid="stage-history-contact" onChange={(e) => setContact(e.target.value)} />
        <button type="submit" disabled={!contact.trim()} data-testid="stage-history-load">Show</button>
      </form>
      {error && <div className="inline-error" role="alert">{error}</div>}
      {changes && (changes.length === 0 ? <p className="muted">This contact never changed stage.</p> : (
        <table data-testid="stage-history-table">
          <thead><tr><th scope="col">When</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Why</th></tr></thead>
          <tbody>{changes.map((c, i) => <tr key={i}><td>{new Date(c.at).toLocaleString()}</td><td>{c.from ?? '(first stage)'}</td><td>{c.to}</td><td>{c.cause}</td></tr>)}</tbody>
        </table>
      ))}
    </section>
  );
}
