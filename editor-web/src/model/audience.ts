// The audience settings form (GET/PUT /v1/audience): lifecycle stages in order, the
// rules that move contacts between them, lead scoring with decay, and RFM. Pure helpers
// for the form's edits and its problems by pointer (the server's pointers look the same:
// `/stage_rules/1/condition/right`).
import type { AudienceSettings, ScoringRule, StageRule } from '../api';
import { conditionProblems, isDuration, isPropertyPath } from './history';
import { pointerOf, type PointerProblem } from './pointers';
import { LIFECYCLE_STAGES } from './types';

export const STAGE_PATTERN = /^[a-z0-9][a-z0-9_]{0,63}$/;

export function defaultAudience(): AudienceSettings {
  return { stages: [...LIFECYCLE_STAGES], stage_rules: [], scoring: null, rfm: null };
}

export function defaultScoring(): NonNullable<AudienceSettings['scoring']> {
  return { attribute: 'lead_score', rules: [], decay: null };
}

/** A rule moves a contact on an event, or when a condition starts to hold. */
export type RuleKind = 'event' | 'condition';
export function ruleKind(r: { event?: unknown; condition?: unknown }): RuleKind {
  return r.condition !== undefined && r.event === undefined ? 'condition' : 'event';
}

/** Switches a stage or scoring rule between an event (+ where) and a condition. */
export function withRuleKind<T extends StageRule | ScoringRule>(r: T, kind: RuleKind): T {
  const out = { ...r };
  delete out.event; delete out.where; delete out.condition;
  if (kind === 'event') out.event = r.event ?? '';
  else out.condition = r.condition ?? { performed: r.event ?? '', measure: 'last_at', op: 'more_than_ago', right: '60d' };
  return out;
}

/** Renames stage `i`, and every rule that names it. */
export function renameStage(a: AudienceSettings, i: number, name: string): AudienceSettings {
  const old = a.stages[i];
  const swap = (s: string) => (s === old ? name : s);
  return {
    ...a,
    stages: a.stages.map((s, j) => (j === i ? name : s)),
    stage_rules: a.stage_rules.map((r) => ({ ...r, to: swap(r.to), ...(r.from ? { from: r.from.map(swap) } : {}) })),
  };
}

/** Removes stage `i`; rules no longer list it in `from` (a rule moving *to* it keeps it, and is a problem). */
export function removeStage(a: AudienceSettings, i: number): AudienceSettings {
  const old = a.stages[i];
  return {
    ...a,
    stages: a.stages.filter((_, j) => j !== i),
    stage_rules: a.stage_rules.map((r) => {
      if (!r.from) return r;
      const from = r.from.filter((s) => s !== old);
      const { from: _from, ...rest } = r;
      return from.length ? { ...rest, from } : rest;
    }),
  };
}

export function move<T>(list: T[], i: number, d: number): T[] {
  const j = i + d;
  if (j < 0 || j >= list.length) return list;
  const out = [...list];
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

function ruleProblems(r: StageRule | ScoringRule, at: (string | number)[], out: PointerProblem[]) {
  const has = (k: 'event' | 'condition') => r[k] !== undefined;
  if (has('event') && has('condition')) out.push({ pointer: pointerOf(at), message: 'a rule has an event or a condition, not both' });
  else if (!has('event') && !has('condition')) out.push({ pointer: pointerOf(at), message: 'choose an event or a condition' });
  if (has('event') && !String(r.event).trim()) out.push({ pointer: pointerOf([...at, 'event']), message: 'choose the event' });
  if (r.where !== undefined) {
    if (!has('event')) out.push({ pointer: pointerOf([...at, 'where']), message: 'only an event rule filters events' });
    for (const p of conditionProblems(r.where)) out.push({ pointer: pointerOf([...at, 'where']) + p.pointer, message: p.message });
  }
  if (has('condition')) for (const p of conditionProblems(r.condition, { allowHistory: true })) out.push({ pointer: pointerOf([...at, 'condition']) + p.pointer, message: p.message });
}

export function audienceProblems(a: AudienceSettings): PointerProblem[] {
  const out: PointerProblem[] = [];
  if (a.stages.length === 0) out.push({ pointer: '/stages', message: 'add at least one stage' });
  a.stages.forEach((s, i) => {
    if (!s.trim()) out.push({ pointer: `/stages/${i}`, message: 'name the stage' });
    else if (!STAGE_PATTERN.test(s)) out.push({ pointer: `/stages/${i}`, message: 'lowercase letters, digits and _ (e.g. repeat_customer)' });
    else if (a.stages.indexOf(s) !== i) out.push({ pointer: `/stages/${i}`, message: `“${s}” is listed twice` });
  });
  a.stage_rules.forEach((r, i) => {
    if (!r.to) out.push({ pointer: `/stage_rules/${i}/to`, message: 'choose the stage the rule moves contacts to' });
    else if (!a.stages.includes(r.to)) out.push({ pointer: `/stage_rules/${i}/to`, message: `“${r.to}” is not one of the stages` });
    ruleProblems(r, ['stage_rules', i], out);
    if (r.from) {
      const unknown = r.from.filter((s) => !a.stages.includes(s));
      if (unknown.length) out.push({ pointer: `/stage_rules/${i}/from`, message: `not a stage: ${unknown.join(', ')}` });
      else if (r.from.length === 1 && r.from[0] === r.to) out.push({ pointer: `/stage_rules/${i}/from`, message: 'contacts already in that stage cannot move to it' });
    }
  });
  if (a.scoring) {
    const s = a.scoring;
    if (!s.attribute.trim()) out.push({ pointer: '/scoring/attribute', message: 'name the contact attribute that holds the score' });
    else if (!isPropertyPath(s.attribute)) out.push({ pointer: '/scoring/attribute', message: 'an attribute name like lead_score' });
    s.rules.forEach((r, i) => {
      if (typeof r.points !== 'number' || !Number.isInteger(r.points)) out.push({ pointer: `/scoring/rules/${i}/points`, message: 'a whole number of points (negative to subtract)' });
      else if (r.points === 0) out.push({ pointer: `/scoring/rules/${i}/points`, message: 'a rule worth 0 points changes nothing' });
      ruleProblems(r, ['scoring', 'rules', i], out);
    });
    if (s.decay) {
      if (!isDuration(s.decay.every)) out.push({ pointer: '/scoring/decay/every', message: 'a period like 30d or 2w' });
      if (!(s.decay.percent > 0 && s.decay.percent <= 100)) out.push({ pointer: '/scoring/decay/percent', message: 'a percentage from 1 to 100' });
    }
  }
  if (a.rfm) {
    if (!a.rfm.event.trim()) out.push({ pointer: '/rfm/event', message: 'choose the purchase event' });
    if (!a.rfm.amount_property.trim()) out.push({ pointer: '/rfm/amount_property', message: 'choose the property holding the amount' });
    else if (!isPropertyPath(a.rfm.amount_property)) out.push({ pointer: '/rfm/amount_property', message: 'a property of the event, like amount or order.total' });
  }
  return out;
}
