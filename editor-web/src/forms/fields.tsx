// Small labelled inputs shared by the forms.
import { useId, useMemo, useState, type ReactNode } from 'react';
import { useCatalog } from '../catalog';

export function Field({ label, children, error, hint }: { label: string; children: (id: string) => ReactNode; error?: string | null; hint?: string }) {
  const id = useId();
  return (
    <div className={`field${error ? ' field-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children(id)}
      {hint && <div className="hint">{hint}</div>}
      {error && <div className="inline-error" role="alert">{error}</div>}
    </div>
  );
}

export function TextField(props: { label: string; value: string; onChange: (v: string) => void; placeholder?: string; list?: string; error?: string | null; hint?: string; testid?: string; multiline?: boolean; readOnly?: boolean; onFocus?: (el: HTMLInputElement | HTMLTextAreaElement) => void }) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(id) => props.multiline ? (
        <textarea id={id} value={props.value} placeholder={props.placeholder} readOnly={props.readOnly} rows={4}
          data-testid={props.testid} onChange={(e) => props.onChange(e.target.value)} onFocus={(e) => props.onFocus?.(e.currentTarget)} />
      ) : (
        <input id={id} type="text" value={props.value} placeholder={props.placeholder} list={props.list} readOnly={props.readOnly}
          data-testid={props.testid} onChange={(e) => props.onChange(e.target.value)} onFocus={(e) => props.onFocus?.(e.currentTarget)} />
      )}
    </Field>
  );
}

export function SelectField<T extends string>(props: { label: string; value: T; options: readonly T[] | { value: T; label: string }[]; onChange: (v: T) => void; testid?: string; disabled?: boolean }) {
  const opts = (props.options as readonly unknown[]).map((o) => (typeof o === 'string' ? { value: o as T, label: o } : (o as { value: T; label: string })));
  return (
    <Field label={props.label}>
      {(id) => (
        <select id={id} value={props.value} data-testid={props.testid} disabled={props.disabled} onChange={(e) => props.onChange(e.target.value as T)}>
          {opts.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
        </select>
      )}
    </Field>
  );
}

export function NumberField(props: { label: string; value: number | undefined; onChange: (v: number) => void; min?: number; max?: number; step?: number; error?: string | null; testid?: string }) {
  return (
    <Field label={props.label} error={props.error}>
      {(id) => (
        <input id={id} type="number" value={props.value ?? ''} min={props.min} max={props.max} step={props.step ?? 1} data-testid={props.testid}
          onChange={(e) => props.onChange(e.target.value === '' ? 0 : Number(e.target.value))} />
      )}
    </Field>
  );
}

export function Checkbox(props: { label: string; checked: boolean; onChange: (v: boolean) => void; testid?: string }) {
  const id = useId();
  return (
    <div className="checkbox">
      <input id={id} type="checkbox" checked={props.checked} data-testid={props.testid} onChange={(e) => props.onChange(e.target.checked)} />
      <label htmlFor={id}>{props.label}</label>
    </div>
  );
}

const UNITS = [
  { value: 's', label: 'seconds' }, { value: 'm', label: 'minutes' }, { value: 'h', label: 'hours' },
  { value: 'd', label: 'days' }, { value: 'w', label: 'weeks' },
];

/** A duration (`2d`, `90m`): a number and a unit; other forms (`1h 30m`, `PT2H`) as text. */
export function DurationField(props: { label: string; value: string; onChange: (v: string) => void; signed?: boolean; testid?: string; error?: string | null }) {
  const m = /^(-?)(\d+)\s*([smhdw])$/.exec(props.value.trim());
  const [custom, setCustom] = useState(!m && props.value !== '');
  const id = useId();
  if (custom) {
    return (
      <div className="field duration">
        <label htmlFor={id}>{props.label}</label>
        <div className="row">
          <input id={id} type="text" value={props.value} data-testid={props.testid} onChange={(e) => props.onChange(e.target.value)} placeholder="1h 30m, PT2H" />
          <button type="button" className="link" onClick={() => { setCustom(false); props.onChange('1d'); }}>units</button>
        </div>
        {props.error && <div className="inline-error" role="alert">{props.error}</div>}
      </div>
    );
  }
  const sign = m?.[1] ?? '';
  const amount = m ? m[2] : '';
  const unit = m ? m[3] : 'd';
  return (
    <div className="field duration">
      <label htmlFor={id}>{props.label}</label>
      <div className="row">
        {props.signed && (
          <select aria-label={`${props.label}: before or after`} value={sign} onChange={(e) => props.onChange(amount ? `${e.target.value}${amount}${unit}` : '')}>
            <option value="">after</option>
            <option value="-">before</option>
          </select>
        )}
        <input id={id} type="number" min={0} value={amount} data-testid={props.testid}
          onChange={(e) => props.onChange(e.target.value === '' ? '' : `${sign}${e.target.value}${unit}`)} />
        <select aria-label={`${props.label} unit`} data-testid={props.testid ? `${props.testid}-unit` : undefined} value={unit}
          onChange={(e) => props.onChange(`${sign}${amount || '1'}${e.target.value}`)}>
          {UNITS.map((u) => <option key={u.value} value={u.value}>{u.label}</option>)}
        </select>
        <button type="button" className="link" onClick={() => setCustom(true)} aria-label={`${props.label}: write as text`}>text</button>
      </div>
      {props.error && <div className="inline-error" role="alert">{props.error}</div>}
    </div>
  );
}

/** An event name: suggestions from the events the server has seen, free text allowed. */
export function EventPicker(props: { label: string; value: string; onChange: (v: string) => void; testid?: string }) {
  const events = useCatalog((s) => s.events);
  const listId = useId();
  return (
    <>
      <TextField label={props.label} value={props.value} onChange={props.onChange} list={listId} placeholder="e.g. cart_updated" testid={props.testid}
        hint={events.length ? `${events.length} event name(s) seen` : undefined} />
      <datalist id={listId}>
        {events.map((e) => <option key={e.name} value={e.name}>{`${e.count} seen`}</option>)}
      </datalist>
    </>
  );
}

export function timezones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  const list = intl.supportedValuesOf ? intl.supportedValuesOf('timeZone') : [];
  return ['UTC', ...list.filter((z) => z !== 'UTC')];
}

export function TimezoneSelect(props: { label: string; value: string | undefined; onChange: (v: string | undefined) => void; allowNone?: string; testid?: string }) {
  const zones = useMemo(timezones, []);
  const all = props.value && !zones.includes(props.value) ? [props.value, ...zones] : zones;
  return (
    <Field label={props.label}>
      {(id) => (
        <select id={id} value={props.value ?? ''} data-testid={props.testid} onChange={(e) => props.onChange(e.target.value || undefined)}>
          {props.allowNone && <option value="">{props.allowNone}</option>}
          {all.map((z) => <option key={z} value={z}>{z}</option>)}
        </select>
      )}
    </Field>
  );
}
