// Live: totals of the journey's runs; contacts waiting at a node (click a node's
// counts on the canvas); a run's timeline.
import { useEffect, useState } from 'react';
import { errorText, getRun, listRuns, type RunDetail, type RunSummary, type WorkflowStats } from '../api';
import { useEditor } from '../store';
import { describeRunEntry } from '../model/timeline';
import { formatConversion, formatPoints, formatRate, formatRelativeLift } from '../model/conversion';

export function LivePanel({ stats, node, onNode }: { stats: WorkflowStats | null; node: string | null; onNode: (n: string | null) => void }) {
  const workflowId = useEditor((s) => s.workflowId);
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [run, setRun] = useState<RunDetail | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setRuns(null); setRun(null);
    if (!workflowId || !node) return;
    listRuns({ workflow: workflowId, node, status: 'waiting', limit: 100 })
      .then((p) => setRuns(p.data)).catch((e) => setError(errorText(e)));
  }, [workflowId, node]);

  const open = async (id: string) => {
    try { setRun(await getRun(id)); } catch (e) { setError(errorText(e)); }
  };

  return (
    <section className="live-panel" aria-label="Live" data-testid="live-panel">
      {stats ? (
        <dl className="totals" data-testid="live-totals">
          <div><dt>Started</dt><dd>{stats.runs.started}</dd></div>
          <div><dt>In journey now</dt><dd>{stats.runs.active + stats.runs.waiting}</dd></div>
          <div><dt>Completed</dt><dd>{stats.runs.completed}</dd></div>
          <div><dt>Exited</dt><dd>{stats.runs.exited}</dd></div>
          <div><dt>Converted</dt><dd>{stats.runs.converted}</dd></div>
        </dl>
      ) : <p className="muted">No statistics yet.</p>}
      {stats && (
        <div className="live-conversion" data-testid="live-conversion">
          <h3>Conversion</h3>
          <p>
            <b data-testid="live-conversion-total">{formatConversion(stats.conversion)}</b> converted
            {stats.goal_within ? <> within {stats.goal_within} of entering</> : null}.
          </p>
          {stats.versions.length > 0 && (
            <table className="version-conversion" data-testid="live-conversion-versions">
              <thead><tr><th>Version</th><th>Entered</th><th>Converted</th><th>Rate</th></tr></thead>
              <tbody>
                {stats.versions.map((v) => (
                  <tr key={v.version} data-testid={`live-conversion-v${v.version}`}>
                    <td>v{v.version}</td><td>{v.entered}</td><td>{v.converted}</td><td>{formatRate(v.rate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {stats.splits.map((split) => (
            <table key={split.node} className="version-conversion" data-testid={`live-conversion-split-${split.node}`}>
              <caption>Split {split.node}</caption>
              <thead><tr><th>Group</th><th title="runs the split assigned to it">In</th><th title="converted">Conv.</th><th>Rate</th>{split.holdout && <><th title="relative lift over the holdout's rate">Lift</th><th title="difference from the holdout's rate, in percentage points">Pts</th></>}</tr></thead>
              <tbody>
                {split.variants.map((v) => (
                  <tr key={v.name}>
                    <td>{v.name}</td><td>{v.entered}</td><td>{v.converted}</td><td>{formatRate(v.rate)}</td>
                    {split.holdout && <><td>{formatRelativeLift(v.lift)}</td><td>{formatPoints(v.lift_points)}</td></>}
                  </tr>
                ))}
                {split.holdout && (
                  <tr className="muted"><td>holdout</td><td>{split.holdout.entered}</td><td>{split.holdout.converted}</td><td>{formatRate(split.holdout.rate)}</td><td /><td /></tr>
                )}
              </tbody>
            </table>
          ))}
          {stats.splits.length > 0 && (
            <p className="hint">Each split step on the canvas shows its variants' conversion rates and lift over the holdout, with the holdout's rate last. A run counts in the variant it was drawn, converted before or after the split.</p>
          )}
        </div>
      )}
      <p className="hint">Each step shows how many entered (in), are waiting there now, and converted (conv.) (refreshed every 5 s). Click the counts to list the contacts waiting there.</p>
      {error && <div className="inline-error" role="alert">{error}</div>}
      {node && (
        <div data-testid="waiting-list">
          <h3>Waiting at {node} <button type="button" className="link" onClick={() => onNode(null)}>close</button></h3>
          {runs === null ? <p>Loading…</p> : runs.length === 0 ? <p className="muted">Nobody is waiting here.</p> : (
            <ul>
              {runs.map((r) => (
                <li key={r.id}>
                  <button type="button" className="link" data-testid="waiting-run" onClick={() => open(r.id)}>{r.contact_id}</button>
                  {r.wait && <span className="muted"> until {new Date(r.wait.until).toLocaleString()}{r.wait.event ? ` or ${r.wait.event}` : ''}</span>}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {run && (
        <div className="run-detail" data-testid="run-timeline">
          <h3>Run of {run.contact_id} <span className="muted">(v{run.version}, {run.status})</span></h3>
          <ol className="timeline">
            {run.timeline.map((t, i) => {
              const { label, detail } = describeRunEntry(t);
              return (
                <li key={i}>
                  <span className="tl-at">{new Date(String(t.at)).toLocaleString()}</span> <span className="tl-kind">{label}</span>
                  {t.node ? <b> {String(t.node)}</b> : null} <span className="muted">{detail}</span>
                </li>
              );
            })}
          </ol>
        </div>
      )}
    </section>
  );
}
