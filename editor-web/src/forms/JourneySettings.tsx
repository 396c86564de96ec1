// Journey-wide settings: name, description, re-entry, exit_when, goal, time zone, and the
// journey's quiet hours and frequency caps (over the workspace's).
import { useEffect, useState } from 'react';
import { ConditionBuilder } from './ConditionBuilder';
import { Checkbox, EventPicker, SelectField, TextField, TimezoneSelect } from './fields';
import { isObject, REENTRY, BEHAVIOURS, type Behaviour, type CapsOverride } from '../model/types';
import { capsValue, describeWindow, quietMode, quietValue, withWindow } from '../model/delivery';
import { windowDays, withinFromDays } from '../model/conversion';
import { TimeInput } from '../pages/DeliverySettings';
import { useEditor } from '../store';

type Config = Record<string, unknown>;

export function JourneySettings() {
  const meta = useEditor((s) => s.meta);
  const readOnly = useEditor((s) => s.readOnly);
  const triggerEvent = useEditor((s) => {
    const t = s.nodes.find((n) => n.type === 'trigger');
    return t && typeof t.data.config.event === 'string' ? t.data.config.event : undefined;
  });
  const { updateMeta } = useEditor.getState();
  const settings: Config = isObject(meta.settings) ? meta.settings : {};
  const setSettings = (patch: Config) => {
    const next = { ...settings, ...patch };
    for (const k of Object.keys(next)) if (next[k] === undefined) delete next[k];
    updateMeta({ settings: next });
  };
  const exitWhen = Array.isArray(settings.exit_when) ? (settings.exit_when as Config[]) : [];
  const goal = isObject(settings.goal) ? settings.goal : null;
  return (
    <section className="journey-settings" aria-label="Journey settings" data-testid="journey-settings">
      <fieldset disabled={readOnly} className="plain">
        <TextField label="Journey name" value={String(meta.name ?? '')} testid="journey-name" onChange={(v) => updateMeta({ name: v })} />
        <TextField label="Description" multiline value={String(meta.description ?? '')} testid="journey-description" onChange={(v) => updateMeta({ description: v || undefined })} />
        <SelectField label="Re-entry" value={String(settings.reentry ?? 'once')} testid="journey-reentry"
          options={REENTRY.map((r) => ({ value: r, label: r === 'once' ? 'once: enter at most once' : r === 'after_exit' ? 'after exit: again once the previous run ended' : 'always: every time the trigger fires' }))}
          onChange={(v) => setSettings({ reentry: v })} />
        <TimezoneSelect label="Default time zone" value={String(settings.timezone ?? 'UTC')} testid="journey-timezone" onChange={(z) => setSettings({ timezone: z ?? 'UTC' })} />
        <fieldset data-testid="journey-delivery">
          <legend>Quiet hours and frequency caps</legend>
          <SelectField label="Quiet hours" value={quietMode(settings.quiet_hours)} testid="journey-quiet-hours"
            options={[{ value: 'inherit', label: "the workspace's (Settings)" }, { value: 'off', label: 'none: send at any hour' }, { value: 'own', label: 'this journey’s own' }]}
            onChange={(m) => setSettings({ quiet_hours: quietValue(m, settings.quiet_hours) })} />
          {isObject(settings.quiet_hours) && (() => {
            const w = settings.quiet_hours;
            const start = String(w.start ?? '');
            const end = String(w.end ?? '');
            return (
              <>
                <div className="row">
                  <TimeInput label="From" value={start} testid="journey-quiet-start" onChange={(v) => setSettings({ quiet_hours: withWindow(w, { start: v }) })} />
                  <TimeInput label="Until" value={end} testid="journey-quiet-end" onChange={(v) => setSettings({ quiet_hours: withWindow(w, { end: v }) })} />
                </div>
                <div className="hint">{describeWindow(start, end)}, in the contact's time zone (else the default time zone above).</div>
                <SelectField label="A message that falls inside" value={(w.behaviour as Behaviour | undefined) ?? 'wait'} testid="journey-quiet-behaviour"
                  options={BEHAVIOURS.map((b) => ({ value: b, label: b === 'wait' ? 'waits until quiet hours end, then is sent' : 'is skipped' }))}
                  onChange={(b) => setSettings({ quiet_hours: withWindow(w, { behaviour: b }) })} />
              </>
            );
          })()}
          <SelectField label="Frequency caps" value={(settings.frequency_caps as CapsOverride | undefined) ?? 'apply'} testid="journey-frequency-caps"
            options={[{ value: 'apply', label: "apply the workspace's caps" }, { value: 'ignore', label: 'ignore them for this journey' }]}
            onChange={(v) => setSettings({ frequency_caps: capsValue(v) })} />
          <div className="hint">Transactional send steps ignore quiet hours and caps.</div>
        </fieldset>
        <fieldset>
          <legend>Exit when the contact performs</legend>
          {exitWhen.map((m, i) => (
            <div key={i} className="exit-when" data-testid={`exit-when-${i}`}>
              <EventPicker label={`Exit event ${i + 1}`} value={String(m.event ?? '')} testid={`exit-when-${i}-event`}
                onChange={(v) => setSettings({ exit_when: exitWhen.map((x, j) => (j === i ? { ...x, event: v } : x)) })} />
              <ConditionBuilder label="Only when" optional value={m.conditions} scope={{ trigger: triggerEvent, event: String(m.event ?? '') }} testid={`exit-when-${i}-conditions`}
                onChange={(c) => setSettings({ exit_when: exitWhen.map((x, j) => { if (j !== i) return x; const y = { ...x }; if (c) y.conditions = c; else delete y.conditions; return y; }) })} />
              <button type="button" aria-label={`Remove exit event ${i + 1}`} onClick={() => setSettings({ exit_when: exitWhen.filter((_, j) => j !== i) })}>Remove</button>
            </div>
          ))}
          <button type="button" data-testid="exit-when-add" onClick={() => setSettings({ exit_when: [...exitWhen, { event: '' }] })}>+ Exit event</button>
        </fieldset>
        <fieldset>
          <legend>Goal (conversion)</legend>
          <SelectField label="Converted when" value={goal ? String(goal.type) : 'none'} testid="goal-type"
            options={[{ value: 'none', label: 'no goal' }, { value: 'event', label: 'the contact performs an event' }, { value: 'condition', label: 'a condition holds' }]}
            onChange={(t) => setSettings({ goal: t === 'none' ? undefined : t === 'event' ? { type: 'event', event: '' } : { type: 'condition', condition: { left: 'contact.lifecycle_stage', op: 'eq', right: 'customer' } } })} />
          {goal?.type === 'event' && (
            <>
              <EventPicker label="Goal event" value={String(goal.event ?? '')} testid="goal-event" onChange={(v) => setSettings({ goal: { ...goal, event: v } })} />
              <ConditionBuilder label="Only when" optional value={goal.conditions} scope={{ trigger: triggerEvent, event: String(goal.event ?? '') }} testid="goal-conditions"
                onChange={(c) => { const g = { ...goal }; if (c) g.conditions = c; else delete g.conditions; setSettings({ goal: g }); }} />
            </>
          )}
          {goal?.type === 'condition' && (
            <ConditionBuilder label="Condition" value={goal.condition} scope={{ trigger: triggerEvent }} testid="goal-condition"
              onChange={(c) => setSettings({ goal: { ...goal, condition: c ?? { left: '', op: 'exists' } } })} />
          )}
          {goal && <GoalWindow goal={goal} onChange={(g) => setSettings({ goal: g })} />}
          {goal && <Checkbox label="End the run when the goal is reached" checked={goal.exit === true} testid="goal-exit"
            onChange={(on) => { const g = { ...goal }; if (on) g.exit = true; else delete g.exit; setSettings({ goal: g }); }} />}
        </fieldset>
      </fieldset>
    </section>
  );
}

/** "Counts within N days of entering": `settings.goal.within` as whole days. A window
 *  written another way (`36h`) is shown as it is until a number of days replaces it. */
function GoalWindow({ goal, onChange }: { goal: Config; onChange: (goal: Config) => void }) {
  const days = windowDays(goal.within);
  const other = typeof goal.within === 'string' && days === null ? goal.within : null;
  const [text, setText] = useState(days === null ? '' : String(days));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => { setText(days === null ? '' : String(days)); setError(null); }, [days]);
  return (
    <TextField label="Counts as converted within (days of entering)" value={text} testid="goal-within" placeholder="any time"
      error={error}
      hint={other ? `Now ${other}; type a number of days to replace it.` : 'Empty: the goal counts whenever the run reaches it. A goal reached later is not counted and does not end the run.'}
      onChange={(v) => {
        setText(v);
        const within = withinFromDays(v);
        if (within === null) { setError('A whole number of days, 1 or more (or empty for no limit).'); return; }
        setError(null);
        const g = { ...goal };
        if (within) g.within = within; else delete g.within;
        onChange(g);
      }} />
  );
}
