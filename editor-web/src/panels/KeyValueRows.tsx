// Key/value rows for attributes and event properties (also email headers and a webhook's
// saved response values). Values are read as JSON when they parse (`2`, `true`, `["a"]`),
// else as text.
import { Fragment } from 'react';

export type Row = { key: string; value: string };

export function toRows(obj: Record<string, unknown>): Row[] {
  return Object.entries(obj).map(([key, v]) => ({ key, value: typeof v === 'string' ? v : JSON.stringify(v) }));
}

export function parseValue(text: string): unknown {
  const t = text.trim();
  if (t === '') return '';
  if (/^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)$/.test(t) || t.startsWith('[') || t.startsWith('{')) {
    try { return JSON.parse(t); } catch { return text; }
  }
  return text;
}

export function fromRows(rows: Row[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of rows) if (r.key.trim() !== '') out[r.key.trim()] = parseValue(r.value);
  return out;
}

/**
 * Editable name/value rows. `label` names each row's inputs ("Header 1 name") and the add
 * button; `legend` (default: `label`) heads the fieldset; `problems` puts each row's
 * problem under it (testid `<testid>-<i>-problem`).
 */
export function KeyValueRows({ rows, onChange, label, testid, legend, placeholders = ['name', 'value'], problems }: {
  rows: Row[]; onChange: (r: Row[]) => void; label: string; testid: string;
  legend?: string; placeholders?: [string, string]; problems?: (string | null)[];
}) {
  return (
    <fieldset className="kv" data-testid={testid}>
      <legend>{legend ?? label}</legend>
      {rows.map((r, i) => (
        <Fragment key={i}>
          <div className="row">
            <input aria-label={`${label} ${i + 1} name`} placeholder={placeholders[0]} value={r.key} data-testid={`${testid}-${i}-key`}
              aria-invalid={problems?.[i] ? true : undefined}
              onChange={(e) => onChange(rows.map((x, j) => (j === i ? { ...x, key: e.target.value } : x)))} />
            <input aria-label={`${label} ${i + 1} value`} placeholder={placeholders[1]} value={r.value} data-testid={`${testid}-${i}-value`}
              onChange={(e) => onChange(rows.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))} />
            <button type="button" className="icon" aria-label={`Remove ${label} ${i + 1}`} onClick={() => onChange(rows.filter((_, j) => j !== i))}>✕</button>
          </div>
          {problems?.[i] && <div className="inline-error" role="alert" data-testid={`${testid}-${i}-problem`}>{problems[i]}</div>}
        </Fragment>
      ))}
      <button type="button" data-testid={`${testid}-add`} onClick={() => onChange([...rows, { key: '', value: '' }])}>+ {label}</button>
    </fieldset>
  );
}
