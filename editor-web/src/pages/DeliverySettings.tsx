// The workspace's quiet hours and frequency caps (GET/PUT /v1/settings/delivery), a
// section of the settings page. Saving sends the version the form was loaded at: if
// someone else saved meanwhile, the server refuses (409) and nothing is overwritten.
import { useCallback, useEffect, useState } from 'react';
import { ApiError, errorText, getDeliverySettings, putDeliverySettings } from '../api';
import { Checkbox, DurationField, Field, NumberField, SelectField, TimezoneSelect } from '../forms/fields';
import { type DeliverySettings, describeWindow, isTimeOfDay, toPutBody } from '../model/delivery';
import { BEHAVIOURS, CHANNELS, type Behaviour, type Channel } from '../model/types';

const BEHAVIOUR_LABELS: Record<Behaviour, string> = {
  wait: 'wait, then send',
  skip: 'skip the message',
};

/** A local time of day, `HH:MM`. */
export function TimeInput(props: { label: string; value: string; onChange: (v: string) => void; testid?: string; error?: string | null }) {
  const bad = props.error ?? (props.value && !isTimeOfDay(props.value) ? 'expected HH:MM, e.g. 21:00' : null);
  return (
    <Field label={props.label} error={bad}>
      {(id) => <input id={id} type="time" value={props.value} data-testid={props.testid} onChange={(e) => props.onChange(e.target.value)} />}
    </Field>
  );
}

export function DeliverySettingsSection() {
  const [saved, setSaved] = useState<DeliverySettings | null>(null);
  const [draft, setDraft] = useState<DeliverySettings | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string; conflict?: boolean } | null>(null);
  const load = useCallback(() => getDeliverySettings()
    .then((s) => { const body = toPutBody(s); setSaved(body); setDraft(toPutBody(body)); setErrors({}); })
    .catch((e) => setMessage({ kind: 'error', text: errorText(e) })), []);
  useEffect(() => { void load(); }, [load]);

  if (!draft) return <section aria-label="Quiet hours and frequency caps"><h2>Quiet hours and frequency caps</h2><p>Loading…</p>{message && <div className="inline-error" role="alert">{message.text}</div>}</section>;
  const q = draft.quiet_hours;
  const caps = draft.frequency_caps;
  const dirty = JSON.stringify(draft) !== JSON.stringify(saved);
  const setQuiet = (patch: Partial<DeliverySettings['quiet_hours']>) => setDraft({ ...draft, quiet_hours: { ...q, ...patch } });
  const setCaps = (patch: Partial<DeliverySettings['frequency_caps']>) => setDraft({ ...draft, frequency_caps: { ...caps, ...patch } });
  const setLimit = (i: number, patch: Partial<DeliverySettings['frequency_caps']['limits'][number]>) =>
    setCaps({ limits: caps.limits.map((l, j) => (j === i ? { ...l, ...patch } : l)) });
  const err = (pointer: string) => errors[pointer] ?? null;

  const save = async () => {
    setMessage(null);
    setErrors({});
    try {
      const stored = await putDeliverySettings(draft);
      const body = toPutBody(stored);
      setSaved(body);
      setDraft(toPutBody(body));
      setMessage({ kind: 'ok', text: `Saved (version ${stored.version}); sends from now on follow these rules.` });
    } catch (e) {
      if (e instanceof ApiError) {
        setErrors(Object.fromEntries(e.errors.map((i) => [i.pointer, i.message])));
        setMessage({ kind: 'error', text: errorText(e), conflict: e.status === 409 });
      } else setMessage({ kind: 'error', text: errorText(e) });
    }
  };

  return (
    <section aria-label="Quiet hours and frequency caps" data-testid="delivery-settings">
      <h2>Quiet hours and frequency caps</h2>
      <p className="hint">For marketing messages of every journey. Transactional sends (receipts, password resets) ignore both; a journey can set its own quiet hours or ignore the caps in its settings.</p>
      <fieldset>
        <legend>Quiet hours</legend>
        <Checkbox label="No marketing messages during quiet hours" checked={q.enabled} testid="quiet-enabled" onChange={(on) => setQuiet({ enabled: on })} />
        <div className="row">
          <TimeInput label="From" value={q.start} testid="quiet-start" error={err('/quiet_hours/start')} onChange={(v) => setQuiet({ start: v })} />
          <TimeInput label="Until" value={q.end} testid="quiet-end" error={err('/quiet_hours/end')} onChange={(v) => setQuiet({ end: v })} />
        </div>
        <p className="hint" data-testid="quiet-window">{describeWindow(q.start, q.end)}, in each contact's time zone (their <code>timezone</code> attribute).</p>
        <TimezoneSelect label="Time zone of contacts without one" value={q.timezone} testid="quiet-timezone" onChange={(z) => setQuiet({ timezone: z ?? 'UTC' })} />
        {err('/quiet_hours/timezone') && <div className="inline-error" role="alert">{err('/quiet_hours/timezone')}</div>}
        <SelectField label="A message that falls inside" value={q.behaviour} testid="quiet-behaviour"
          options={BEHAVIOURS.map((b) => ({ value: b, label: b === 'wait' ? 'waits until quiet hours end, then is sent' : BEHAVIOUR_LABELS[b] }))}
          onChange={(b) => setQuiet({ behaviour: b })} />
      </fieldset>
      <fieldset>
        <legend>Frequency caps (per contact, across all journeys)</legend>
        {caps.limits.length === 0 && <p className="hint">No caps: any number of marketing messages.</p>}
        {caps.limits.map((l, i) => (
          <div key={i} className="row" data-testid={`cap-${i}`}>
            <NumberField label={`At most (cap ${i + 1})`} value={l.max} min={1} max={1000} testid={`cap-${i}-max`} error={err(`/frequency_caps/limits/${i}/max`)} onChange={(v) => setLimit(i, { max: v })} />
            <SelectField label="messages on" value={l.channel} testid={`cap-${i}-channel`} options={CHANNELS} onChange={(c) => setLimit(i, { channel: c as Channel })} />
            <DurationField label="per" value={l.period} testid={`cap-${i}-period`} error={err(`/frequency_caps/limits/${i}/period`) ?? err(`/frequency_caps/limits/${i}`)} onChange={(v) => setLimit(i, { period: v })} />
            <button type="button" aria-label={`Remove cap ${i + 1}`} onClick={() => setCaps({ limits: caps.limits.filter((_, j) => j !== i) })}>Remove</button>
          </div>
        ))}
        <button type="button" data-testid="cap-add" onClick={() => setCaps({ limits: [...caps.limits, { channel: 'email', max: 3, period: '7d' }] })}>+ Cap</button>
        <SelectField label="A capped message" value={caps.behaviour} testid="caps-behaviour"
          options={BEHAVIOURS.map((b) => ({ value: b, label: b === 'wait' ? 'waits until it fits under the cap, then is sent' : BEHAVIOUR_LABELS[b] }))}
          onChange={(b) => setCaps({ behaviour: b })} />
      </fieldset>
      <div className="row">
        <button type="button" className="primary" disabled={!dirty} data-testid="delivery-save" onClick={() => void save()}>Save</button>
        {dirty && <button type="button" className="link" onClick={() => { setDraft(saved && toPutBody(saved)); setErrors({}); setMessage(null); }}>Discard changes</button>}
      </div>
      {message && (
        <div className={message.kind === 'ok' ? 'banner' : 'inline-error'} role={message.kind === 'ok' ? 'status' : 'alert'} data-testid="delivery-message">
          {message.text}
          {message.conflict && <button type="button" className="link" onClick={() => { setMessage(null); void load(); }}>Load the saved settings</button>}
        </div>
      )}
    </section>
  );
}
