// Audience settings (GET/PUT /v1/audience) as forms: the lifecycle stages in order, the
// rules that move contacts between stages (on an event, or when a condition starts to
// hold), lead scoring rules with decay, and the RFM purchase event. Problems show by
// the field they belong to: the form's own checks and the server's, by pointer.
import { useEffect, useState } from 'react';
import { ApiError, errorText, getAudience, putAudience, type AudienceSettings, type ScoringRule, type StageRule } from '../api';
import { useAudience } from '../audience';
import { useCatalog } from '../catalog';
import { ConditionBuilder } from '../forms/ConditionBuilder';
import { Checkbox, DurationField, EventPicker, NumberField, SelectField, TextField } from '../forms/fields';
import { StageList } from '../forms/TriggerForm';
import { audienceProblems, defaultScoring, move, removeStage, renameStage, ruleKind, withRuleKind, type RuleKind } from '../model/audience';
import { problemsAt, problemsUnder, type PointerProblem } from '../model/pointers';

export function AudienceSettingsSection() {
  const [saved, setSaved] = useState<AudienceSettings | null>(null);
  const [draft, setDraft] = useState<AudienceSettings | null>(null);
  const [server, setServer] = useState<PointerProblem[]>([]);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [newStage, setNewStage] = useState('');
  useEffect(() => {
    void useCatalog.getState().load();
    getAudience().then((a) => { setSaved(a); setDraft(a); useAudience.getState().set(a); }).catch((e) => setMessage({ kind: 'error', text: errorText(e) }));
  }, []);
  if (!draft) {
    return <section aria-label="Audience settings" data-testid="audience-settings"><h2>Audience settings</h2>{message ? <div className="inline-error" role="alert">{message.text}</div> : <p>Loading…</p>}</section>;
  }
  const own = audienceProblems(draft);
  const all = [...own, ...server];
  const err = (pointer: string) => { const m = [...new Set(problemsAt(all, pointer))]; return m.length ? m.join('; ') : null; };
  const dirty = JSON.stringify(draft) !== JSON.stringify(saved);
  const set = (a: AudienceSettings) => { setDraft(a); setMessage(null); };
  const setRule = (i: number, r: StageRule) => set({ ...draft, stage_rules: draft.stage_rules.map((x, j) => (j === i ? r : x)) });
  const scoring = draft.scoring;
  const setScoring = (patch: Partial<NonNullable<AudienceSettings['scoring']>>) => set({ ...draft, scoring: { ...(scoring ?? defaultScoring()), ...patch } });

  const save = async () => {
    setMessage(null);
    if (own.length) { setMessage({ kind: 'error', text: `Fix the ${own.length} problem(s) shown in red first.` }); return; }
    try {
      const stored = await putAudience(draft);
      setSaved(stored); setDraft(stored); setServer([]);
      useAudience.getState().set(stored);
      setMessage({ kind: 'ok', text: 'Saved: stage rules and scores apply from now on.' });
    } catch (e) {
      if (e instanceof ApiError) setServer(e.errors.map((i) => ({ pointer: i.pointer, message: i.message })));
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };

  return (
    <section aria-label="Audience settings" data-testid="audience-settings">
      <h2>Audience settings</h2>

      <fieldset data-testid="audience-stages">
        <legend>Lifecycle stages, in order</legend>
        {err('/stages') && <div className="inline-error" role="alert">{err('/stages')}</div>}
        {draft.stages.map((s, i) => (
          <div className="row" key={i}>
            <TextField label={`Stage ${i + 1}`} value={s} testid={`stage-${i}`} error={err(`/stages/${i}`)} onChange={(v) => set(renameStage(draft, i, v))} />
            <button type="button" aria-label={`Move stage ${s} up`} disabled={i === 0} onClick={() => set({ ...draft, stages: move(draft.stages, i, -1) })}>↑</button>
            <button type="button" aria-label={`Move stage ${s} down`} disabled={i === draft.stages.length - 1} onClick={() => set({ ...draft, stages: move(draft.stages, i, 1) })}>↓</button>
            <button type="button" aria-label={`Remove stage ${s}`} onClick={() => set(removeStage(draft, i))}>Remove</button>
          </div>
        ))}
        <form className="row" onSubmit={(e) => { e.preventDefault(); if (newStage.trim()) { set({ ...draft, stages: [...draft.stages, newStage.trim()] }); setNewStage(''); } }}>
          <TextField label="New stage" value={newStage} placeholder="e.g. champion" testid="stage-new" onChange={setNewStage} />
          <button type="submit" data-testid="stage-add">+ Add stage</button>
        </form>
      </fieldset>

      <fieldset data-testid="audience-stage-rules">
        <legend>Stage rules</legend>
        <p className="hint">Each rule moves a contact to a stage when they perform an event, or when a condition starts to hold (checked over time, so “no purchase for 60 days” works).</p>
        {draft.stage_rules.map((r, i) => (
          <div className="audience-rule" key={i} data-testid={`stage-rule-${i}`}>
            {err(`/stage_rules/${i}`) && <div className="inline-error" role="alert">{err(`/stage_rules/${i}`)}</div>}
            <div className="row">
              <SelectField label="Move to" value={r.to} testid={`stage-rule-${i}-to`}
                options={[{ value: '', label: '— choose a stage —' }, ...(!r.to || draft.stages.includes(r.to) ? [] : [{ value: r.to, label: `${r.to} (unknown)` }]), ...draft.stages.map((s) => ({ value: s, label: s.replace(/_/g, ' ') }))]}
                onChange={(v) => setRule(i, { ...r, to: v })} />
              <RuleKindSelect value={ruleKind(r)} testid={`stage-rule-${i}-kind`} onChange={(k) => setRule(i, withRuleKind(r, k))} />
            </div>
            {err(`/stage_rules/${i}/to`) && <div className="inline-error" role="alert">{err(`/stage_rules/${i}/to`)}</div>}
            <RuleBody rule={r} at={`/stage_rules/${i}`} testid={`stage-rule-${i}`} problems={all} err={err} onChange={(x) => setRule(i, x as StageRule)} />
            <StageList label="Only from (none ticked: any stage)" value={r.from} stages={draft.stages} testid={`stage-rule-${i}-from`} error={err(`/stage_rules/${i}/from`)}
              onChange={(v) => { const { from: _f, ...rest } = r; setRule(i, v ? { ...rest, from: v } : rest); }} />
            <div className="row">
              <button type="button" aria-label={`Move rule ${i + 1} up`} disabled={i === 0} onClick={() => set({ ...draft, stage_rules: move(draft.stage_rules, i, -1) })}>↑</button>
              <button type="button" aria-label={`Move rule ${i + 1} down`} disabled={i === draft.stage_rules.length - 1} onClick={() => set({ ...draft, stage_rules: move(draft.stage_rules, i, 1) })}>↓</button>
              <button type="button" aria-label={`Remove rule ${i + 1}`} onClick={() => set({ ...draft, stage_rules: draft.stage_rules.filter((_, j) => j !== i) })}>Remove</button>
            </div>
          </div>
        ))}
        <button type="button" data-testid="stage-rule-add" onClick={() => set({ ...draft, stage_rules: [...draft.stage_rules, { to: draft.stages[0] ?? '', event: '' }] })}>+ Add stage rule</button>
      </fieldset>

      <fieldset data-testid="audience-scoring">
        <legend>Lead scoring</legend>
        <Checkbox label="Score contacts" checked={!!scoring} testid="scoring-enabled" onChange={(on) => set({ ...draft, scoring: on ? (saved?.scoring ?? defaultScoring()) : null })} />
        {scoring && (
          <>
            <TextField label="Contact attribute holding the score" value={scoring.attribute} testid="scoring-attribute" error={err('/scoring/attribute')} onChange={(v) => setScoring({ attribute: v })} />
            {scoring.rules.map((r, i) => (
              <div className="audience-rule" key={i} data-testid={`scoring-rule-${i}`}>
                {err(`/scoring/rules/${i}`) && <div className="inline-error" role="alert">{err(`/scoring/rules/${i}`)}</div>}
                <div className="row">
                  <NumberField label="Points" value={r.points} step={1} testid={`scoring-rule-${i}-points`} error={err(`/scoring/rules/${i}/points`)}
                    onChange={(v) => setScoring({ rules: scoring.rules.map((x, j) => (j === i ? { ...x, points: v } : x)) })} />
                  <RuleKindSelect value={ruleKind(r)} testid={`scoring-rule-${i}-kind`} onChange={(k) => setScoring({ rules: scoring.rules.map((x, j) => (j === i ? withRuleKind(x, k) : x)) })} />
                </div>
                <RuleBody rule={r} at={`/scoring/rules/${i}`} testid={`scoring-rule-${i}`} problems={all} err={err}
                  onChange={(x) => setScoring({ rules: scoring.rules.map((y, j) => (j === i ? (x as ScoringRule) : y)) })} />
                <button type="button" aria-label={`Remove scoring rule ${i + 1}`} onClick={() => setScoring({ rules: scoring.rules.filter((_, j) => j !== i) })}>Remove</button>
              </div>
            ))}
            <button type="button" data-testid="scoring-rule-add" onClick={() => setScoring({ rules: [...scoring.rules, { points: 10, event: '' }] })}>+ Add scoring rule</button>
            <Checkbox label="Scores fade over time (decay)" checked={!!scoring.decay} testid="scoring-decay-enabled"
              onChange={(on) => setScoring({ decay: on ? { every: '30d', percent: 50 } : null })} />
            {scoring.decay && (
              <div className="row">
                <DurationField label="Every" value={scoring.decay.every} testid="scoring-decay-every" error={err('/scoring/decay/every')}
                  onChange={(v) => setScoring({ decay: { ...scoring.decay!, every: v } })} />
                <NumberField label="Lose percent of the score" value={scoring.decay.percent} min={1} max={100} testid="scoring-decay-percent" error={err('/scoring/decay/percent')}
                  onChange={(v) => setScoring({ decay: { ...scoring.decay!, percent: v } })} />
              </div>
            )}
          </>
        )}
      </fieldset>

      <fieldset data-testid="audience-rfm">
        <legend>RFM (recency, frequency, monetary)</legend>
        <p className="hint">Puts each buyer in quintiles 1–5 (<code>contact.rfm.recency</code>, <code>.frequency</code>, <code>.monetary</code>) for segments and branches; also drives the retention report.</p>
        <Checkbox label="Compute RFM" checked={!!draft.rfm} testid="rfm-enabled" onChange={(on) => set({ ...draft, rfm: on ? (saved?.rfm ?? { event: 'purchase', amount_property: 'amount' }) : null })} />
        {draft.rfm && (
          <div className="row">
            <div className="field"><EventPicker label="Purchase event" value={draft.rfm.event} testid="rfm-event" onChange={(v) => set({ ...draft, rfm: { ...draft.rfm!, event: v } })} />
              {err('/rfm/event') && <div className="inline-error" role="alert">{err('/rfm/event')}</div>}</div>
            <TextField label="Amount property of the event" value={draft.rfm.amount_property} placeholder="amount" testid="rfm-amount-property" error={err('/rfm/amount_property')}
              onChange={(v) => set({ ...draft, rfm: { ...draft.rfm!, amount_property: v } })} />
          </div>
        )}
      </fieldset>

      <div className="row">
        <button type="button" className="primary" data-testid="audience-save" disabled={!dirty} onClick={() => void save()}>Save audience settings</button>
        {dirty && <button type="button" onClick={() => { setDraft(saved); setServer([]); setMessage(null); }}>Discard changes</button>}
      </div>
      {message && <div className={message.kind === 'ok' ? 'banner' : 'inline-error'} role={message.kind === 'ok' ? 'status' : 'alert'} data-testid="audience-message">{message.text}</div>}
    </section>
  );
}

function RuleKindSelect({ value, onChange, testid }: { value: RuleKind; onChange: (k: RuleKind) => void; testid: string }) {
  return (
    <SelectField label="When" value={value} testid={testid} onChange={onChange}
      options={[{ value: 'event', label: 'they perform an event' }, { value: 'condition', label: 'a condition starts to hold' }]} />
  );
}

/** The event (+ optional filter) or the condition of a stage or scoring rule. */
function RuleBody({ rule, at, testid, problems, err, onChange }: {
  rule: StageRule | ScoringRule; at: string; testid: string; problems: PointerProblem[]; err: (p: string) => string | null;
  onChange: (r: StageRule | ScoringRule) => void;
}) {
  if (ruleKind(rule) === 'event') {
    const event = rule.event ?? '';
    return (
      <>
        <EventPicker label="Event" value={event} testid={`${testid}-event`} onChange={(v) => onChange({ ...rule, event: v })} />
        {err(`${at}/event`) && <div className="inline-error" role="alert">{err(`${at}/event`)}</div>}
        <ConditionBuilder label="Only when" optional value={rule.where} scope={{ event }} testid={`${testid}-where`} problems={problemsUnder(problems, `${at}/where`)}
          onChange={(c) => { const { where: _w, ...rest } = rule; onChange(c ? { ...rest, where: c } : rest); }} />
      </>
    );
  }
  return (
    <ConditionBuilder label="Condition" value={rule.condition} allowHistory scope={{ contactOnly: true }} testid={`${testid}-condition`} problems={problemsUnder(problems, `${at}/condition`)}
      onChange={(c) => onChange({ ...rule, condition: c ?? { left: '', op: 'exists' } })} />
  );
}
