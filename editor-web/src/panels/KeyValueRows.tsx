// Key/value rows for attributes and event properties. Values are read as JSON when
// they parse (`2`, `true`, `["a"]`), else as text.
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

export function KeyValueRows({ rows, onChange, label, testid }: { rows: Row[]; onChange: (r: Row[]) => void; label: string; testid: string }) {
  return (
    <fieldset className="kv" data-testid={testid}>
      <legend>{label}</legend>
      {rows.map((r, i) => (
        <div className="row" key={i}>
          <input aria-label={`${label} ${i + 1} name`} placeholder="name" value={r.key} data-testid={`${testid}-${i}-key`}
            onChange={(e) => onChange(rows.map((x, j) => (j === i ? { ...x, key: e.target.value } : x)))} />
          <input aria-label={`${label} ${i + 1} value`} placeholder="value" value={r.value} data-testid={`${testid}-${i}-value`}
            onChange={(e) => onChange(rows.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))} />
          <button type="button" className="icon" aria-label={`Remove ${label} ${i + 1}`} onClick={() => onChange(rows.filter((_, j) => j !== i))}>✕</button>
        </div>
      ))}
      <button type="button" data-testid={`${testid}-add`} onClick={() => onChange([...rows, { key: '', value: '' }])}>+ {label}</button>
    </fieldset>
  );
}
