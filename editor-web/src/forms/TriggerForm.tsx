// The trigger box's form: how contacts enter the journey. One small form per trigger
// type (event, API, segment entered/left, schedule, date of the contact, attribute
// changed, lifecycle stage changed), problems shown next to each field: the form's own
// checks (src/model/triggers.ts) and the server's (`/trigger/<field>`).
import { useEffect, useId, useMemo, useState } from 'react';
import { ConditionBuilder } from './ConditionBuilder';
import { Checkbox, EventPicker, Field, NumberField, SelectField, TextField, TimezoneSelect } from './fields';
import type { FormProps } from './NodeForms';
import { useCatalog } from '../catalog';
import { useAudience, useSegments, useStages } from '../audience';
import { useEditor } from '../store';
import { isObject, MATCHER_OPS, OP_LABELS, type Json, type MatcherOp, type TriggerType } from '../model/types';
import {
  changeTriggerType, isTriggerType, MATCHER_LIST, MATCHER_NO_RIGHT, parseValue, triggerProblems, TRIGGER_TYPES, withMatcherOp,
} from '../model/triggers';
import { CRON_PRESETS, nextFires, parseCron } from '../model/cron';

type Config = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : '');

export function TriggerForm({ config, onChange }: FormProps) {
  const segments = useSegments((s) => s.segments);
  const segmentsLoaded = useSegments((s) => s.loaded && !s.error);
  const stages = useStages();
  const audienceLoaded = useAudience((s) => s.audience !== null);
  const timezone = useEditor((s) => (isObject(s.meta.settings) && typeof s.meta.settings.timezone === 'string' ? s.meta.settings.timezone : 'UTC'));
  const serverProblems = useEditor((s) => s.problems);
  const type: TriggerType = isTriggerType(config.type) ? config.type : 'event';
  useEffect(() => {
    if (['segment_entered', 'segment_exited', 'schedule'].includes(type)) void useSegments.getState().load();
    if (type === 'stage_changed') void useAudience.getState().load();
  }, [type]);
  const own = triggerProblems(config, {
    segments: segmentsLoaded && segments.length ? segments.map((s) => s.id) : undefined,
    stages: audienceLoaded ? stages : undefined,
  });
  const problem = (field: string): string | null => {
    const server = serverProblems.filter((p) => p.pointer === `/trigger/${field}` || p.pointer.startsWith(`/trigger/${field}/`)).map((p) => p.message);
    const all = [...(own[field] ? [own[field]] : []), ...server.filter((m) => m !== own[field])];
    return all.length ? all.join('; ') : null;
  };
  const set = (patch: Config) => {
    const c = { ...config, ...patch };
    for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
    onChange(c);
  };
  const props: SubProps = { config, set, problem };
  return (
    <>
      <SelectField label="Contacts enter" value={type} testid="trigger-type" options={TRIGGER_TYPES}
        onChange={(t) => onChange(changeTriggerType(config, t, { timezone }))} />
      {type === 'event' && <EventTriggerFields {...props} />}
      {(type === 'segment_entered' || type === 'segment_exited') && <SegmentSelect {...props} />}
      {type === 'schedule' && <ScheduleFields {...props} />}
      {type === 'date_property' && <DatePropertyFields {...props} />}
      {type === 'attribute_changed' && <AttributeChangedFields {...props} />}
      {type === 'stage_changed' && <StageChangedFields {...props} stages={stages} />}
    </>
  );
}

interface SubProps { config: Config; set: (patch: Config) => void; problem: (field: string) => string | null }

function EventTriggerFields({ config, set, problem }: SubProps) {
  const events = useCatalog((s) => s.events);
  const event = str(config.event);
  const props = events.find((e) => e.name === event)?.properties ?? [];
  return (
    <>
      <EventPicker label="Event" value={event} onChange={(v) => set({ event: v })} testid="trigger-event" />
      {/* A blank event is reported with the journey's problems; other problems show here. */}
      {event !== '' && problem('event') && <div className="inline-error" role="alert">{problem('event')}</div>}
      <ConditionBuilder label="Only when" value={config.conditions} optional scope={{ trigger: event, event }} testid="trigger-conditions"
        onChange={(c) => set({ conditions: c })} />
      <TextField label="One run per (event property, optional)" value={str(config.correlation_key)} placeholder="cart_id" list="trigger-props" testid="trigger-correlation"
        onChange={(v) => set({ correlation_key: v || undefined })} />
      <datalist id="trigger-props">{props.map((p) => <option key={p.path} value={p.path} />)}</datalist>
    </>
  );
}

function SegmentSelect({ config, set, problem, label = 'Segment' }: SubProps & { label?: string }) {
  const segments = useSegments((s) => s.segments);
  const error = useSegments((s) => s.error);
  const value = str(config.segment);
  const known = segments.some((s) => s.id === value);
  return (
    <Field label={label} error={problem('segment') ?? error} hint={segments.length === 0 && !error ? 'No segments yet: create one on the Segments page.' : undefined}>
      {(id) => (
        <select id={id} value={value} data-testid="trigger-segment" onChange={(e) => set({ segment: e.target.value })}>
          <option value="">— choose a segment —</option>
          {!known && value && <option value={value}>{value} (unknown)</option>}
          {segments.map((s) => <option key={s.id} value={s.id}>{s.name} ({s.size.toLocaleString()} contacts)</option>)}
        </select>
      )}
    </Field>
  );
}

function ScheduleFields(props: SubProps) {
  const { config, set, problem } = props;
  const cron = str(config.cron);
  const tz = str(config.timezone) || 'UTC';
  const preset = CRON_PRESETS.find((p) => p.cron === cron);
  const [custom, setCustom] = useState(!preset);
  const fires = useMemo(() => {
    const { spec } = parseCron(cron);
    if (!spec) return [];
    try { return nextFires(spec, tz, new Date(), 3); } catch { return []; }
  }, [cron, tz]);
  const fmt = (d: Date) => {
    try { return d.toLocaleString(undefined, { timeZone: tz, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }); } catch { return d.toISOString(); }
  };
  return (
    <>
      <SegmentSelect {...props} label="Who enters: the members of" />
      <SelectField label="Runs" value={custom ? 'custom' : cron} testid="trigger-schedule-preset"
        options={[...CRON_PRESETS.map((p) => ({ value: p.cron, label: p.label })), { value: 'custom', label: 'custom (cron: minute hour day month weekday)' }]}
        onChange={(v) => { if (v === 'custom') setCustom(true); else { setCustom(false); set({ cron: v }); } }} />
      {custom && (
        <TextField label="Schedule (5 parts: minute hour day-of-month month day-of-week)" value={cron} placeholder="0 9 * * MON" testid="trigger-cron"
          error={problem('cron')} onChange={(v) => set({ cron: v })} />
      )}
      {!custom && problem('cron') && <div className="inline-error" role="alert">{problem('cron')}</div>}
      <TimezoneSelect label="Time zone" value={tz} testid="trigger-timezone" onChange={(z) => set({ timezone: z ?? 'UTC' })} />
      {problem('timezone') && <div className="inline-error" role="alert">{problem('timezone')}</div>}
      {fires.length > 0 && (
        <div className="hint" data-testid="trigger-next-fires">
          Next: {fires.map((d, i) => <span key={i} className="fire">{fmt(d)}</span>)}
        </div>
      )}
    </>
  );
}

function DatePropertyFields({ config, set, problem }: SubProps) {
  const attributes = useCatalog((s) => s.attributes);
  const listId = useId();
  const offset = typeof config.offset_days === 'number' ? config.offset_days : 0;
  const direction = offset < 0 ? 'before' : offset > 0 ? 'after' : 'on';
  const days = Math.abs(offset);
  return (
    <>
      <TextField label="Contact attribute holding the date" value={str(config.attribute)} placeholder="birthday" list={listId} testid="trigger-attribute"
        error={problem('attribute')} onChange={(v) => set({ attribute: v })} />
      <datalist id={listId}>{attributes.filter((a) => a.type === 'string').map((a) => <option key={a.path} value={a.path} />)}</datalist>
      <div className="row">
        <SelectField label="When" value={direction} testid="trigger-offset-direction"
          options={[{ value: 'on', label: 'on the day' }, { value: 'before', label: 'days before' }, { value: 'after', label: 'days after' }]}
          onChange={(d) => set({ offset_days: d === 'on' ? 0 : (d === 'before' ? -1 : 1) * (days || 1) })} />
        {direction !== 'on' && (
          <NumberField label="Days" value={days} min={1} max={365} testid="trigger-offset-days" error={problem('offset_days')}
            onChange={(n) => set({ offset_days: (direction === 'before' ? -1 : 1) * Math.trunc(Math.abs(n)) })} />
        )}
      </div>
      {direction === 'on' && problem('offset_days') && <div className="inline-error" role="alert">{problem('offset_days')}</div>}
      <Field label="At (the contact's local time; else the journey's time zone)" error={problem('at')}>
        {(id) => <input id={id} type="time" value={str(config.at)} data-testid="trigger-at" onChange={(e) => set({ at: e.target.value })} />}
      </Field>
      <SelectField label="Repeat" value={config.repeat === 'once' ? 'once' : 'yearly'} testid="trigger-repeat"
        options={[{ value: 'yearly', label: 'every year (birthdays, anniversaries)' }, { value: 'once', label: 'once (a single date, e.g. a renewal)' }]}
        onChange={(r) => set({ repeat: r })} />
      {problem('repeat') && <div className="inline-error" role="alert">{problem('repeat')}</div>}
    </>
  );
}

function MatcherFields({ label, value, onChange, error, testid }: { label: string; value: unknown; onChange: (m: Config | undefined) => void; error: string | null; testid: string }) {
  const m = isObject(value) ? value : null;
  const op = m && (MATCHER_OPS as readonly string[]).includes(String(m.op)) ? (m.op as MatcherOp) : 'eq';
  const right = m?.right;
  return (
    <fieldset className="matcher" data-testid={testid}>
      <legend>{label}</legend>
      <Checkbox label="only when it matches" checked={!!m} testid={`${testid}-on`} onChange={(on) => onChange(on ? { op: 'eq', right: '' } : undefined)} />
      {m && (
        <div className="row">
          <SelectField label="Value" value={op} testid={`${testid}-op`} options={MATCHER_OPS.map((o) => ({ value: o, label: OP_LABELS[o] }))}
            onChange={(o) => onChange(withMatcherOp(m, o))} />
          {!MATCHER_NO_RIGHT.includes(op) && (
            <TextField label={MATCHER_LIST.includes(op) ? 'Values (separated by commas)' : 'Compared with'} testid={`${testid}-right`}
              value={Array.isArray(right) ? right.map(String).join(', ') : right === undefined ? '' : String(right)}
              placeholder={MATCHER_LIST.includes(op) ? 'pro, team' : 'starter'}
              onChange={(v) => onChange({ op, right: MATCHER_LIST.includes(op) ? v.split(',').map((s) => s.trim()).filter(Boolean).map(parseValue) as Json[] : parseValue(v) })} />
          )}
        </div>
      )}
      {error && <div className="inline-error" role="alert">{error}</div>}
    </fieldset>
  );
}

function AttributeChangedFields({ config, set, problem }: SubProps) {
  const attributes = useCatalog((s) => s.attributes);
  const listId = useId();
  return (
    <>
      <TextField label="Contact attribute" value={str(config.attribute)} placeholder="plan" list={listId} testid="trigger-attribute"
        error={problem('attribute')} onChange={(v) => set({ attribute: v })} />
      <datalist id={listId}>{attributes.map((a) => <option key={a.path} value={a.path}>{a.type}</option>)}</datalist>
      <MatcherFields label="Old value" value={config.from} testid="trigger-from" error={problem('from')} onChange={(m) => set({ from: m })} />
      <MatcherFields label="New value" value={config.to} testid="trigger-to" error={problem('to')} onChange={(m) => set({ to: m })} />
    </>
  );
}

export function StageList({ label, value, stages, onChange, error, testid }: { label: string; value: unknown; stages: string[]; onChange: (v: string[] | undefined) => void; error: string | null; testid: string }) {
  const list = Array.isArray(value) ? (value as string[]) : [];
  const all = [...stages, ...list.filter((s) => !stages.includes(s))];
  return (
    <fieldset className="stage-list" data-testid={testid}>
      <legend>{label}</legend>
      {all.map((s) => (
        <Checkbox key={s} label={s.replace(/_/g, ' ')} checked={list.includes(s)} testid={`${testid}-${s}`}
          onChange={(on) => { const next = all.filter((x) => (x === s ? on : list.includes(x))); onChange(next.length ? next : undefined); }} />
      ))}
      <div className="hint">{list.length === 0 ? 'None ticked: any stage.' : list.join(', ')}</div>
      {error && <div className="inline-error" role="alert">{error}</div>}
    </fieldset>
  );
}

function StageChangedFields({ config, set, problem, stages }: SubProps & { stages: string[] }) {
  return (
    <div className="two-stage-lists">
      <StageList label="From" value={config.from} stages={stages} testid="trigger-stage-from" error={problem('from')} onChange={(v) => set({ from: v })} />
      <StageList label="To" value={config.to} stages={stages} testid="trigger-stage-to" error={problem('to')} onChange={(v) => set({ to: v })} />
    </div>
  );
}

