import { describe, expect, it } from 'vitest';
import { formatConversion, formatLift, formatLiftShort, formatPoints, formatRate, formatRelativeLift, splitLines, windowDays, withinFromDays, type SplitConversion } from '../src/model/conversion';
import { toCanonicalText } from '../src/model/canonical';

describe('conversion figures in words', () => {
  it('writes rates as percentages with at most one decimal', () => {
    expect(formatRate(0.6)).toBe('60%');
    expect(formatRate(5 / 12)).toBe('41.7%');
    expect(formatRate(0)).toBe('0%');
    expect(formatRate(1)).toBe('100%');
    expect(formatRate(null)).toBe('—');
    expect(formatRate(undefined)).toBe('—');
  });

  it('writes lift relative and in points, signed', () => {
    expect(formatLift(0.5, 20)).toBe('+50% (+20 pts)');
    expect(formatLift(-0.375, -15)).toBe('−37.5% (−15 pts)');
    expect(formatLift(0, 0)).toBe('±0% (±0 pts)');
    // The holdout converted nobody: no relative lift, still the points.
    expect(formatLift(null, 100)).toBe('+100 pts');
    expect(formatLift(null, null)).toBe('—');
  });

  it('writes the relative lift and the points apart, for the live panel', () => {
    expect(formatRelativeLift(0.0769)).toBe('+7.7%');
    expect(formatRelativeLift(null)).toBe('—');
    expect(formatPoints(1.923)).toBe('+1.9 pts');
    expect(formatPoints(-0.04)).toBe('±0 pts');
    expect(formatPoints(null)).toBe('—');
  });

  it('writes a short lift for the canvas', () => {
    expect(formatLiftShort(0.5, 20)).toBe('+50%');
    expect(formatLiftShort(-0.375, -15)).toBe('−37.5%');
    expect(formatLiftShort(null, 100)).toBe('+100 pts');
    expect(formatLiftShort(null, null)).toBe('—');
  });

  it('summarises a group', () => {
    expect(formatConversion({ entered: 5, converted: 3, rate: 0.6 })).toBe('3 of 5 (60%)');
    expect(formatConversion({ entered: 0, converted: 0, rate: null })).toBe('0 of 0 (—)');
  });

  it('lists a split: each variant with its rate and lift, the holdout last', () => {
    const split: SplitConversion = {
      node: 'offer',
      variants: [
        { name: 'A', entered: 5, converted: 3, rate: 0.6, lift: 0.5, lift_points: 20 },
        { name: 'B', entered: 0, converted: 0, rate: null, lift: null, lift_points: null },
      ],
      holdout: { entered: 5, converted: 2, rate: 0.4 },
    };
    const lines = splitLines(split);
    expect(lines.map((l) => [l.name, l.rate, l.lift])).toEqual([
      ['A', '60%', '+50%'],
      ['B', '—', '—'],
      ['holdout', '40%', null],
    ]);
    expect(lines[0].title).toBe('A: 3 of 5 (60%) converted; lift over the holdout +50% (+20 pts)');
    // Without a holdout there is no lift to show.
    const plain = splitLines({ ...split, holdout: null });
    expect(plain.map((l) => [l.name, l.lift])).toEqual([['A', null], ['B', null]]);
  });
});

describe('the goal window as days', () => {
  it('reads whole days from the duration forms the engine accepts', () => {
    expect(windowDays('7d')).toBe(7);
    expect(windowDays('14 days')).toBe(14);
    expect(windowDays('1 day')).toBe(1);
    expect(windowDays('2w')).toBe(14);
    expect(windowDays('P10D')).toBe(10);
    expect(windowDays('48h')).toBe(2);
    expect(windowDays('36h')).toBeNull();
    expect(windowDays(undefined)).toBeNull();
    expect(windowDays(7)).toBeNull();
  });

  it('turns typed days into `within`', () => {
    expect(withinFromDays('7')).toBe('7d');
    expect(withinFromDays(' 30 ')).toBe('30d');
    expect(withinFromDays('')).toBeUndefined();
    expect(withinFromDays('0')).toBeNull();
    expect(withinFromDays('1.5')).toBeNull();
    expect(withinFromDays('-2')).toBeNull();
    expect(withinFromDays('a week')).toBeNull();
  });

  it('writes `within` after `exit` in the canonical file, as kairos fmt does', () => {
    const doc = { id: 'a', name: 'A', trigger: { type: 'api', next: 'x' }, nodes: [{ id: 'x', type: 'exit' }],
      settings: { goal: { within: '7d', exit: true, event: 'purchase', type: 'event' } } };
    expect(toCanonicalText(doc)).toContain('"goal": {\n      "type": "event",\n      "event": "purchase",\n      "exit": true,\n      "within": "7d"\n    }');
  });
});
