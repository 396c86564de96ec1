import { describe, expect, it } from 'vitest';
import { audienceProblems, defaultAudience, removeStage, renameStage, ruleKind, withRuleKind } from '../src/model/audience';
import { canPreview, newSegmentDraft, segmentBody, segmentIdFrom, segmentProblems, sizeSeries, sizeText } from '../src/model/segments';
import type { AudienceSettings } from '../src/api';

const contract: AudienceSettings = {
  stages: ['subscriber', 'lead', 'customer', 'repeat_customer', 'loyal_advocate', 'lapsed', 'inactive', 'reactivated'],
  stage_rules: [
    { to: 'customer', event: 'purchase', from: ['subscriber', 'lead'] },
    { to: 'lapsed', condition: { performed: 'purchase', measure: 'last_at', op: 'more_than_ago', right: '60d' }, from: ['customer', 'repeat_customer', 'loyal_advocate', 'reactivated'] },
    { to: 'reactivated', event: 'purchase', from: ['lapsed', 'inactive'] },
  ],
  scoring: {
    attribute: 'lead_score',
    rules: [
      { points: 10, event: 'page_viewed', where: { left: 'event.properties.path', op: 'starts_with', right: '/pricing' } },
      { points: 20, condition: { left: 'contact.job_title', op: 'contains', right: 'VP' } },
    ],
    decay: { every: '30d', percent: 50 },
  },
  rfm: { event: 'purchase', amount_property: 'amount' },
};

describe('audience settings', () => {
  it('the contract example has no problems', () => {
    expect(audienceProblems(contract)).toEqual([]);
    expect(audienceProblems(defaultAudience())).toEqual([]);
  });

  it('reports problems by the pointers the server uses', () => {
    const a: AudienceSettings = {
      stages: ['lead', 'Lead Magnet', 'lead', ''],
      stage_rules: [
        { to: 'gold', event: '' },
        { to: 'lead', event: 'x', condition: { left: 'contact.a', op: 'exists' } },
        { to: 'lead', condition: { performed: 'purchase', measure: 'sum', op: 'gte', right: 5 }, from: ['nope'] },
      ],
      scoring: { attribute: '', rules: [{ points: 0, event: 'x' }, { points: 2.5, condition: { performed: 'login', measure: 'count', op: 'gte', right: 1 } }], decay: { every: 'monthly', percent: 0 } },
      rfm: { event: '', amount_property: 'order total' },
    };
    expect(audienceProblems(a)).toEqual([
      { pointer: '/stages/1', message: 'lowercase letters, digits and _ (e.g. repeat_customer)' },
      { pointer: '/stages/2', message: '“lead” is listed twice' },
      { pointer: '/stages/3', message: 'name the stage' },
      { pointer: '/stage_rules/0/to', message: '“gold” is not one of the stages' },
      { pointer: '/stage_rules/0/event', message: 'choose the event' },
      { pointer: '/stage_rules/1', message: 'a rule has an event or a condition, not both' },
      { pointer: '/stage_rules/2/condition/property', message: 'choose a property to sum' },
      { pointer: '/stage_rules/2/from', message: 'not a stage: nope' },
      { pointer: '/scoring/attribute', message: 'name the contact attribute that holds the score' },
      { pointer: '/scoring/rules/0/points', message: 'a rule worth 0 points changes nothing' },
      { pointer: '/scoring/rules/1/points', message: 'a whole number of points (negative to subtract)' },
      { pointer: '/scoring/decay/every', message: 'a period like 30d or 2w' },
      { pointer: '/scoring/decay/percent', message: 'a percentage from 1 to 100' },
      { pointer: '/rfm/event', message: 'choose the purchase event' },
      { pointer: '/rfm/amount_property', message: 'a property of the event, like amount or order.total' },
    ]);
  });

  it('renaming a stage renames it in the rules; removing drops it from `from`', () => {
    const renamed = renameStage(contract, 5, 'dormant');
    expect(renamed.stages[5]).toBe('dormant');
    expect(renamed.stage_rules[1].to).toBe('dormant');
    expect(renamed.stage_rules[2].from).toEqual(['dormant', 'inactive']);
    const removed = removeStage(contract, 0);
    expect(removed.stage_rules[0].from).toEqual(['lead']);
    const gone = removeStage({ ...contract, stage_rules: [{ to: 'lead', event: 'x', from: ['subscriber'] }] }, 0);
    expect(gone.stage_rules[0]).toEqual({ to: 'lead', event: 'x' });
  });

  it('switches a rule between event and condition', () => {
    expect(ruleKind(contract.stage_rules[1])).toBe('condition');
    const asEvent = withRuleKind({ to: 'lapsed', condition: { left: 'x', op: 'exists' }, from: ['customer'] }, 'event');
    expect(asEvent).toEqual({ to: 'lapsed', from: ['customer'], event: '' });
    expect(withRuleKind({ points: 5, event: 'login', where: { left: 'event.properties.a', op: 'exists' } }, 'condition')).toEqual({
      points: 5, condition: { performed: 'login', measure: 'last_at', op: 'more_than_ago', right: '60d' },
    });
  });
});

describe('segments', () => {
  it('derives an id from the name', () => {
    expect(segmentIdFrom('Inactive for 30 days!')).toBe('inactive-for-30-days');
    expect(segmentIdFrom('Ünïcode VIPs')).toBe('unicode-vips');
  });
  it('a new draft needs an event, a name and an id', () => {
    const d = newSegmentDraft();
    expect(segmentProblems(d, true)).toEqual([
      { pointer: '/id', message: 'give the segment an id (it is filled in from the name)' },
      { pointer: '/name', message: 'name the segment' },
      { pointer: '/condition/all/0/performed', message: 'choose the event' },
    ]);
    expect(canPreview(d.condition)).toBe(false);
    const ok = { ...d, id: 'buyers', name: 'Buyers', condition: { all: [{ performed: 'purchase', measure: 'count', within_last: '30d', op: 'gte', right: 1 }] } };
    expect(segmentProblems(ok, true)).toEqual([]);
    expect(canPreview(ok.condition)).toBe(true);
    expect(segmentProblems({ ...ok, id: 'new' }, true)[0].pointer).toBe('/id');
    expect(segmentProblems({ ...ok, id: 'Bad Id' }, false)).toEqual([]);
  });
  it('the body has the id only when creating, and no empty description', () => {
    const d = { id: 'vip', name: ' VIP ', description: ' ', condition: { left: 'contact.rfm.monetary', op: 'gte', right: 5 } };
    expect(segmentBody(d, true)).toEqual({ id: 'vip', name: 'VIP', condition: d.condition });
    expect(segmentBody({ ...d, description: 'Top spenders' }, false)).toEqual({ name: 'VIP', description: 'Top spenders', condition: d.condition });
  });
  it('sizes are sorted by time; the count reads as words', () => {
    expect(sizeSeries([{ at: '2026-11-02T00:00:00Z', size: 5, entered: 1, exited: 0 }, { at: '2026-11-01T00:00:00Z', size: 4, entered: 4, exited: 0 }]).map((p) => p.size)).toEqual([4, 5]);
    expect(sizeText(1234)).toBe('≈ 1,234 contacts');
    expect(sizeText(1)).toBe('≈ 1 contact');
  });
});
