// One form component per node type. Each edits the node's config (its fields without
// ports: connections are made on the canvas).
import { useEffect, useState, type ComponentType } from 'react';
import { ConditionBuilder } from './ConditionBuilder';
import { Checkbox, DurationField, EventPicker, NumberField, SelectField, TextField, TimezoneSelect } from './fields';
import { SendForm } from './SendForm';
import { TriggerForm } from './TriggerForm';
import { isObject, LIFECYCLE_STAGES, NODE_LABELS, UPDATE_OPS, WEEKDAYS, type NodeType } from '../model/types';
import { useEditor, useSavedDataNames } from '../store';
import { portsOf } from '../model/ports';
import { edgeId } from '../convert';

type Config = Record<string, unknown>;
export interface FormProps { id: string; config: Config; onChange: (c: Config) => void; triggerEvent?: string }

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const arr = (v: unknown): Config[] => (Array.isArray(v) ? (v as Config[]) : []);
function without(c: Config, key: string): Config { const o = { ...c }; delete o[key]; return o; }

export function DelayForm({ config, onChange }: FormProps) {
  return <DurationField label="Wait for" value={str(config.duration)} onChange={(v) => onChange({ ...config, duration: v })} testid="delay-duration" />;
}

export function WaitUntilForm({ config, onChange }: FormProps) {
  const until = isObject(config.until) ? config.until : { type: 'timestamp', at: '' };
  const set = (u: Config) => onChange({ ...config, until: u });
  const mode = String(until.type);
  const days = Array.isArray(until.days) ? (until.days as string[]) : [];
  return (
    <>
      <SelectField label="Wait until" value={mode} testid="until-type"
        options={[{ value: 'timestamp', label: 'a fixed date and time' }, { value: 'attribute', label: 'a date on the contact' }, { value: 'time_window', label: 'a time window (e.g. business hours)' }]}
        onChange={(t) => set(t === 'timestamp' ? { type: t, at: '' } : t === 'attribute' ? { type: t, attribute: '' } : { type: t, start: '09:00', end: '17:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] })} />
      {mode === 'timestamp' && (
        <TextField label="Date and time (with UTC offset)" value={str(until.at)} placeholder="2026-12-01T09:00:00Z" testid="until-at" onChange={(v) => set({ ...until, at: v })} />
      )}
      {mode === 'attribute' && (
        <>
          <TextField label="Contact attribute holding the date" value={str(until.attribute)} placeholder="renewal_date" testid="until-attribute" onChange={(v) => set({ ...until, attribute: v })} />
          <DurationField label="Offset" signed value={str(until.offset)} testid="until-offset" onChange={(v) => set(v ? { ...until, offset: v } : without(until, 'offset'))} />
          <Field24 label="At local time of day (optional)" value={str(until.time_of_day)} testid="until-time" onChange={(v) => set(v ? { ...until, time_of_day: v } : without(until, 'time_of_day'))} />
        </>
      )}
      {mode === 'time_window' && (
        <>
          <div className="row">
            <Field24 label="Opens at" value={str(until.start)} testid="window-start" onChange={(v) => set({ ...until, start: v })} />
            <Field24 label="Closes at" value={str(until.end)} testid="window-end" allow24 onChange={(v) => set({ ...until, end: v })} />
          </div>
          <fieldset className="weekdays">
            <legend>On</legend>
            {WEEKDAYS.map((d) => (
              <Checkbox key={d} label={d} checked={days.includes(d)} testid={`window-day-${d}`}
                onChange={(on) => set({ ...until, days: WEEKDAYS.filter((x) => (x === d ? on : days.includes(x))) })} />
            ))}
          </fieldset>
          {days.length === 0 && <div className="inline-error" role="alert">pick at least one day</div>}
          <TimezoneSelect label="Time zone" value={until.timezone as string | undefined} allowNone="the contact's time zone" testid="window-timezone"
            onChange={(z) => set(z ? { ...until, timezone: z } : without(until, 'timezone'))} />
        </>
      )}
    </>
  );
}

function Field24({ label, value, onChange, testid, allow24 }: { label: string; value: string; onChange: (v: string) => void; testid?: string; allow24?: boolean }) {
  const ok = value === '' || /^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(value) || (allow24 && value === '24:00');
  return <TextField label={label} value={value} placeholder="09:00" testid={testid} onChange={onChange} error={ok ? null : 'HH:MM on a 24-hour clock'} />;
}

export function WaitForEventForm({ config, onChange, triggerEvent }: FormProps) {
  const event = str(config.event);
  return (
    <>
      <EventPicker label="Event to wait for" value={event} onChange={(v) => onChange({ ...config, event: v })} testid="wait-event" />
      <ConditionBuilder label="Only when" value={config.conditions} optional scope={{ trigger: triggerEvent, event }} testid="wait-conditions"
        onChange={(c) => onChange(c ? { ...config, conditions: c } : without(config, 'conditions'))} />
      <DurationField label="Give up after" value={str(config.timeout)} onChange={(v) => onChange({ ...config, timeout: v })} testid="wait-timeout" />
      <p className="hint">Ports: <b>received</b> when the event arrives in time, <b>timed_out</b> otherwise.</p>
    </>
  );
}

function move<T>(list: T[], i: number, d: number): T[] {
  const j = i + d;
  if (j < 0 || j >= list.length) return list;
  const out = [...list];
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

export function BranchForm({ config, onChange, triggerEvent }: FormProps) {
  const rules = arr(config.rules);
  const set = (r: Config[]) => onChange({ ...config, rules: r });
  const names = rules.map((r) => str(r.name));
  const data = useSavedDataNames();
  return (
    <>
      <p className="hint">Rules are tried in order; the first that holds decides the port. Otherwise <b>else</b>.</p>
      {rules.map((rule, i) => {
        const dup = names.indexOf(names[i]) !== i || names[i] === 'else';
        return (
          <fieldset className="rule" key={i} data-testid={`rule-${i}`}>
            <legend>Rule {i + 1}</legend>
            <TextField label="Rule name (port)" value={names[i]} testid={`rule-${i}-name`} error={!names[i].trim() ? 'name the rule' : dup ? 'names must be unique (and not `else`)' : null}
              onChange={(v) => set(rules.map((r, j) => (j === i ? { ...r, name: v } : r)))} />
            <ConditionBuilder label="When" value={rule.condition} scope={{ trigger: triggerEvent, data }} testid={`rule-${i}-condition`}
              onChange={(c) => set(rules.map((r, j) => (j === i ? (c ? { ...r, condition: c } : without(r, 'condition')) : r)))} />
            <div className="row">
              <button type="button" aria-label={`Move rule ${i + 1} up`} disabled={i === 0} onClick={() => set(move(rules, i, -1))}>↑</button>
              <button type="button" aria-label={`Move rule ${i + 1} down`} disabled={i === rules.length - 1} onClick={() => set(move(rules, i, 1))}>↓</button>
              <button type="button" aria-label={`Remove rule ${i + 1}`} onClick={() => set(rules.filter((_, j) => j !== i))}>Remove</button>
            </div>
          </fieldset>
        );
      })}
      <button type="button" data-testid="rule-add" onClick={() => {
        let n = rules.length + 1;
        while (names.includes(`rule_${n}`)) n++;
        set([...rules, { name: `rule_${n}`, condition: { left: '', op: 'eq', right: '' } }]);
      }}>+ Add rule</button>
    </>
  );
}

export function SplitForm({ config, onChange }: FormProps) {
  const variants = arr(config.variants);
  const holdout = isObject(config.holdout) ? config.holdout : null;
  const total = variants.reduce((s, v) => s + (Number(v.weight) || 0), 0) + (holdout ? Number(holdout.weight) || 0 : 0);
  const set = (v: Config[]) => onChange({ ...config, variants: v });
  return (
    <>
      {variants.map((v, i) => (
        <div className="row variant" key={i} data-testid={`variant-${i}`}>
          <TextField label={`Variant ${i + 1} name`} value={str(v.name)} testid={`variant-${i}-name`} onChange={(x) => set(variants.map((w, j) => (j === i ? { ...w, name: x } : w)))} />
          <NumberField label="Percent" value={Number(v.weight)} min={0} max={100} testid={`variant-${i}-weight`} onChange={(x) => set(variants.map((w, j) => (j === i ? { ...w, weight: Math.round(x) } : w)))} />
          <button type="button" className="icon" aria-label={`Remove variant ${i + 1}`} onClick={() => set(variants.filter((_, j) => j !== i))}>✕</button>
        </div>
      ))}
      <button type="button" data-testid="variant-add" onClick={() => {
        const names = variants.map((v) => str(v.name));
        let c = 65;
        while (names.includes(String.fromCharCode(c))) c++;
        set([...variants, { name: String.fromCharCode(c), weight: 0 }]);
      }}>+ Add variant</button>
      <Checkbox label="Holdout (control group)" checked={!!holdout} testid="split-holdout"
        onChange={(on) => onChange(on ? { ...config, holdout: { weight: 10 } } : without(config, 'holdout'))} />
      {holdout && <NumberField label="Holdout percent" value={Number(holdout.weight)} min={1} max={100} testid="split-holdout-weight" onChange={(x) => onChange({ ...config, holdout: { ...holdout, weight: Math.round(x) } })} />}
      <div className={total === 100 ? 'ok' : 'inline-error'} role={total === 100 ? undefined : 'alert'} data-testid="split-total">
        Total: {total}%{total === 100 ? '' : ' — the percentages must add up to 100'}
      </div>
    </>
  );
}

export function UpdateContactForm({ config, onChange, triggerEvent }: FormProps) {
  const updates = arr(config.updates);
  const set = (u: Config[]) => onChange({ ...config, updates: u });
  const setAt = (i: number, u: Config) => set(updates.map((x, j) => (j === i ? u : x)));
  return (
    <>
      {updates.map((u, i) => {
        const op = String(u.op);
        const isRefValue = isObject(u.value) && typeof u.value.ref === 'string';
        return (
          <fieldset key={i} className="update" data-testid={`update-${i}`}>
            <legend>Update {i + 1}</legend>
            <SelectField label="Change" value={op} testid={`update-${i}-op`}
              options={UPDATE_OPS.map((o) => ({ value: o, label: o.replace(/_/g, ' ') }))}
              onChange={(o) => setAt(i, o === 'set' ? { op: o, attribute: str(u.attribute), value: '' } : o === 'unset' ? { op: o, attribute: str(u.attribute) }
                : o === 'increment' ? { op: o, attribute: str(u.attribute), by: 1 } : o === 'set_lifecycle_stage' ? { op: o, stage: 'lead' } : { op: o, tag: str(u.tag) })} />
            {(op === 'set' || op === 'unset' || op === 'increment') && (
              <TextField label="Attribute" value={str(u.attribute)} placeholder="plan" testid={`update-${i}-attribute`} onChange={(v) => setAt(i, { ...u, attribute: v })} />
            )}
            {op === 'set' && (
              <>
                <SelectField label="Value from" value={isRefValue ? 'ref' : typeof u.value === 'number' ? 'number' : typeof u.value === 'boolean' ? 'boolean' : 'text'}
                  options={[{ value: 'text', label: 'text' }, { value: 'number', label: 'number' }, { value: 'boolean', label: 'true/false' }, { value: 'ref', label: 'a value of the run' }]}
                  onChange={(k) => setAt(i, { ...u, value: k === 'ref' ? { ref: triggerEvent ? 'trigger.properties.' : 'event.properties.' } : k === 'number' ? 0 : k === 'boolean' ? true : '' })} />
                {isRefValue ? (
                  <TextField label="Value of the run" value={str((u.value as Config).ref)} placeholder="event.properties.plan" testid={`update-${i}-ref`} onChange={(v) => setAt(i, { ...u, value: { ref: v } })} />
                ) : typeof u.value === 'number' ? (
                  <NumberField label="Value" value={u.value} step={0.01} testid={`update-${i}-value`} onChange={(v) => setAt(i, { ...u, value: v })} />
                ) : typeof u.value === 'boolean' ? (
                  <SelectField label="Value" value={String(u.value)} options={['true', 'false']} onChange={(v) => setAt(i, { ...u, value: v === 'true' })} />
                ) : (
                  <TextField label="Value" value={typeof u.value === 'string' ? u.value : JSON.stringify(u.value ?? '')} testid={`update-${i}-value`} onChange={(v) => setAt(i, { ...u, value: v })} />
                )}
              </>
            )}
            {op === 'increment' && <NumberField label="By" value={Number(u.by)} step={1} testid={`update-${i}-by`} onChange={(v) => setAt(i, { ...u, by: v })} />}
            {op === 'set_lifecycle_stage' && <SelectField label="Stage" value={str(u.stage)} options={[...LIFECYCLE_STAGES]} testid={`update-${i}-stage`} onChange={(v) => setAt(i, { ...u, stage: v })} />}
            {(op === 'add_tag' || op === 'remove_tag') && <TextField label="Tag" value={str(u.tag)} testid={`update-${i}-tag`} onChange={(v) => setAt(i, { ...u, tag: v })} />}
            <button type="button" aria-label={`Remove update ${i + 1}`} onClick={() => set(updates.filter((_, j) => j !== i))}>Remove</button>
          </fieldset>
        );
      })}
      <button type="button" data-testid="update-add" onClick={() => set([...updates, { op: 'add_tag', tag: '' }])}>+ Add update</button>
    </>
  );
}

export function ExitForm() {
  return <p className="hint">The run ends here. Use several exits to tell outcomes apart in the stats.</p>;
}

export function UnknownForm({ config }: FormProps) {
  return (
    <>
      <p className="inline-error">This node has a type the editor does not know; fix it in the file.</p>
      <pre className="json">{JSON.stringify(config, null, 2)}</pre>
    </>
  );
}

export const nodeForms: Record<string, ComponentType<FormProps>> = {
  trigger: TriggerForm,
  delay: DelayForm,
  wait_until: WaitUntilForm,
  wait_for_event: WaitForEventForm,
  branch: BranchForm,
  split: SplitForm,
  send: SendForm,
  update_contact: UpdateContactForm,
  exit: ExitForm,
  unknown: UnknownForm,
};

/** The side panel form of the selected node: its id, its fields, delete. */
export function NodeInspector({ id }: { id: string }) {
  const node = useEditor((s) => s.nodes.find((n) => n.id === id));
  const readOnly = useEditor((s) => s.readOnly);
  const trigger = useEditor((s) => s.nodes.find((n) => n.type === 'trigger'));
  const allProblems = useEditor((s) => s.problems);
  const problems = allProblems.filter((p) => p.node === id || (id === 'trigger' && !p.node && p.pointer.startsWith('/trigger')));
  const { updateConfig, renameNode, deleteNode } = useEditor.getState();
  const [idText, setIdText] = useState(id);
  const [idError, setIdError] = useState<string | null>(null);
  useEffect(() => { setIdText(id); setIdError(null); }, [id]);
  if (!node) return null;
  const Form = nodeForms[node.type] ?? UnknownForm;
  const triggerEvent = trigger && typeof trigger.data.config.event === 'string' ? trigger.data.config.event : undefined;
  return (
    <section className="inspector" aria-label={`${NODE_LABELS[node.type as NodeType] ?? 'Node'} ${id}`} data-testid="node-form">
      <h2>{NODE_LABELS[node.type as NodeType] ?? 'Unknown node'}</h2>
      {problems.length > 0 && (
        <ul className="node-problems" data-testid="node-form-problems">
          {problems.map((p, i) => <li key={i} role="alert">{p.message}</li>)}
        </ul>
      )}
      <fieldset disabled={readOnly} className="plain">
        {node.type !== 'trigger' && (
          <TextField label="Node id" value={idText} testid="node-id" error={idError}
            onChange={(v) => {
              setIdText(v);
              const err = renameNode(id, v);
              setIdError(err);
            }} />
        )}
        <Form id={id} config={node.data.config} triggerEvent={triggerEvent} onChange={(c) => updateConfig(id, c)} />
        <Connections id={id} type={node.type} config={node.data.config} />
        <div className="row danger-row">
          <button type="button" className="danger" data-testid="node-delete" onClick={() => deleteNode(id)}>Delete {node.type === 'trigger' ? 'trigger' : 'node'}</button>
        </div>
      </fieldset>
    </section>
  );
}

/** Each output port and the step it goes to: the keyboard's way to connect (the canvas
 * connects by dragging from a port to a step). */
function Connections({ id, type, config }: { id: string; type: string; config: Config }) {
  const ports = portsOf(type, config);
  const edges = useEditor((s) => s.edges);
  const ids = useEditor((s) => s.nodes.map((n) => n.id).filter((n) => n !== id && n !== 'trigger').join('\n'));
  if (ports.length === 0) return null;
  const targets = ids ? ids.split('\n').sort() : [];
  const NONE = '';
  return (
    <fieldset className="connections" data-testid="node-connections">
      <legend>Connections</legend>
      {ports.map((p) => {
        const target = edges.find((e) => e.source === id && e.sourceHandle === p.handle)?.target ?? NONE;
        return (
          <SelectField key={p.handle} label={`${p.name} goes to`} value={target} testid={`port-${p.handle}`}
            options={[{ value: NONE, label: '— not connected —' }, ...targets.map((t) => ({ value: t, label: t }))]}
            onChange={(t) => {
              const { connect, onEdgesChange } = useEditor.getState();
              if (t === NONE) onEdgesChange([{ type: 'remove', id: edgeId(id, p.handle) }]);
              else connect(id, p.handle, t);
            }} />
        );
      })}
    </fieldset>
  );
}
