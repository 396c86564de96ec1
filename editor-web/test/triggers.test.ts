import { describe, expect, it } from 'vitest';
import { changeTriggerType, defaultTrigger, describeTrigger, parseValue, triggerProblems, TRIGGER_TYPES, withMatcherOp } from '../src/model/triggers';
import { describeNode } from '../src/model/summary';

describe('trigger types', () => {
  it('offers the eight types', () => {
    expect(TRIGGER_TYPES.map((t) => t.value)).toEqual(['event', 'api', 'segment_entered', 'segment_exited', 'schedule', 'date_property', 'attribute_changed', 'stage_changed']);
  });

  it('a newly chosen type starts with its fields; only the blanks are problems', () => {
    expect(defaultTrigger('schedule', { timezone: 'Europe/Berlin' })).toEqual({ type: 'schedule', cron: '0 9 * * MON', timezone: 'Europe/Berlin', segment: '' });
    expect(triggerProblems(defaultTrigger('schedule'))).toEqual({ segment: 'choose a segment' });
    expect(triggerProblems(defaultTrigger('date_property'))).toEqual({ attribute: 'choose the contact attribute holding the date' });
    expect(triggerProblems(defaultTrigger('segment_exited'))).toEqual({ segment: 'choose a segment' });
    expect(triggerProblems(defaultTrigger('attribute_changed'))).toEqual({ attribute: 'choose the attribute' });
    expect(defaultTrigger('stage_changed')).toEqual({ type: 'stage_changed' });
    expect(triggerProblems(defaultTrigger('stage_changed'))).toEqual({});
    expect(triggerProblems({ type: 'stage_changed', to: [] }).to).toMatch(/^an empty list matches no stage/);
    expect(triggerProblems(defaultTrigger('api'))).toEqual({});
  });

  it('changing the type keeps the connection and shared fields', () => {
    const t = changeTriggerType({ type: 'segment_entered', segment: 'vip', next: 'n1' }, 'schedule');
    expect(t).toEqual({ type: 'schedule', cron: '0 9 * * MON', timezone: 'UTC', segment: 'vip', next: 'n1' });
    expect(changeTriggerType(t, 'api')).toEqual({ type: 'api', next: 'n1' });
  });

  it('reports field problems in words', () => {
    expect(triggerProblems({ type: 'schedule', cron: '0 9 * *', timezone: 'Berlin', segment: 'x' }, { segments: ['vip'] })).toEqual({
      cron: 'a schedule has 5 parts (minute hour day-of-month month day-of-week), this has 4',
      timezone: '“Berlin” is not a time zone name like Europe/Berlin',
      segment: 'there is no segment “x”',
    });
    expect(triggerProblems({ type: 'date_property', attribute: 'renewal_date', offset_days: -400, at: '9am', repeat: 'monthly' })).toEqual({
      offset_days: 'at most 365 days before or after', at: 'HH:MM on a 24-hour clock, e.g. 09:00', repeat: 'every year or once',
    });
    expect(triggerProblems({ type: 'date_property', attribute: 'renewal_date', offset_days: 1.5, at: '09:00', repeat: 'once' }).offset_days).toBe('a whole number of days');
    expect(triggerProblems({ type: 'attribute_changed', attribute: 'plan', from: { op: 'in', right: [] }, to: { op: 'gt', right: 'x' } })).toEqual({
      from: 'list at least one value', to: 'enter a number',
    });
    expect(triggerProblems({ type: 'stage_changed', from: ['lapsed'], to: ['gold'] }, { stages: ['lapsed', 'reactivated'] })).toEqual({ to: 'unknown stage: gold' });
    expect(triggerProblems({ type: 'stage_changed', from: ['lapsed'], to: ['lapsed'] }).to).toMatch(/must come from another stage/);
  });

  it('matchers keep their value when the operator changes', () => {
    expect(withMatcherOp({ op: 'eq', right: 'pro' }, 'in')).toEqual({ op: 'in', right: ['pro'] });
    expect(withMatcherOp({ op: 'in', right: ['pro', 'team'] }, 'ne')).toEqual({ op: 'ne', right: 'pro' });
    expect(withMatcherOp({ op: 'eq', right: 'pro' }, 'exists')).toEqual({ op: 'exists' });
    expect(parseValue('42')).toBe(42);
    expect(parseValue('pro')).toBe('pro');
  });

  it('summarises each type for the canvas box', () => {
    expect(describeNode('trigger', { type: 'segment_entered', segment: 'inactive-30' })).toBe('Enters segment inactive-30');
    expect(describeTrigger({ type: 'schedule', cron: '0 9 * * MON', timezone: 'Europe/Berlin', segment: 'engaged' })).toBe('engaged at 0 9 * * MON (Europe/Berlin)');
    expect(describeTrigger({ type: 'date_property', attribute: 'renewal_date', offset_days: -30, at: '09:00', repeat: 'yearly' })).toBe('30 days before contact.renewal_date at 09:00, every year');
    expect(describeTrigger({ type: 'date_property', attribute: 'birthday', offset_days: 0, at: '09:00', repeat: 'yearly' })).toBe('On contact.birthday at 09:00, every year');
    expect(describeTrigger({ type: 'attribute_changed', attribute: 'plan', from: { op: 'in', right: ['pro', 'team'] }, to: { op: 'eq', right: 'starter' } })).toBe('contact.plan changes from is one of pro, team to equals starter');
    expect(describeTrigger({ type: 'stage_changed', from: ['lapsed', 'inactive'], to: ['reactivated'] })).toBe('Stage lapsed / inactive → reactivated');
    expect(describeNode('trigger', { type: 'event', event: 'signed_up' })).toBe('When signed_up');
  });
});
