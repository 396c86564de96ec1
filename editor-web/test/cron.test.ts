import { describe, expect, it } from 'vitest';
import { nextFires, parseCron, zonedTime, isTimeZone } from '../src/model/cron';

const iso = (ds: Date[]) => ds.map((d) => d.toISOString());

describe('parseCron', () => {
  it('parses lists, ranges, steps and names', () => {
    const { spec, problems } = parseCron('*/15 9-17/4 1,15 JAN-MAR mon-fri');
    expect(problems).toEqual([]);
    expect(spec).toMatchObject({ minutes: [0, 15, 30, 45], hours: [9, 13, 17], days: [1, 15], months: [1, 2, 3], weekdays: [1, 2, 3, 4, 5], anyDay: false, anyWeekday: false });
  });
  it('treats 7 as Sunday', () => {
    expect(parseCron('0 0 * * 7').spec!.weekdays).toEqual([0]);
  });
  it('reports the field that is wrong', () => {
    expect(parseCron('0 9 * *').problems).toEqual(['a schedule has 5 parts (minute hour day-of-month month day-of-week), this has 4']);
    expect(parseCron('0 25 * * *').problems).toEqual(['hour: 25 is outside 0–23']);
    expect(parseCron('0 9 * * FUN').problems[0]).toMatch(/^day of week: “FUN” is not a number or a name like MON/);
    expect(parseCron('0 9 10-2 * *').problems).toEqual(['day of month: the range 10-2 runs backwards']);
  });
});

describe('nextFires', () => {
  it('every day at 09:00 UTC', () => {
    const { spec } = parseCron('0 9 * * *');
    expect(iso(nextFires(spec!, 'UTC', new Date('2026-03-10T09:00:00Z')))).toEqual([
      '2026-03-11T09:00:00.000Z', '2026-03-12T09:00:00.000Z', '2026-03-13T09:00:00.000Z',
    ]);
  });
  it('every Monday at 09:00 in Berlin, across the switch to summer time', () => {
    const { spec } = parseCron('0 9 * * MON');
    // 2026-03-29 is the last Sunday of March: CET (+1) before, CEST (+2) after.
    expect(iso(nextFires(spec!, 'Europe/Berlin', new Date('2026-03-18T00:00:00Z')))).toEqual([
      '2026-03-23T08:00:00.000Z', '2026-03-30T07:00:00.000Z', '2026-04-06T07:00:00.000Z',
    ]);
  });
  it('the first of the month, in New York', () => {
    const { spec } = parseCron('0 9 1 * *');
    expect(iso(nextFires(spec!, 'America/New_York', new Date('2026-12-15T00:00:00Z')))).toEqual([
      '2027-01-01T14:00:00.000Z', '2027-02-01T14:00:00.000Z', '2027-03-01T14:00:00.000Z',
    ]);
  });
  it('day of month or day of week when both are restricted', () => {
    const { spec } = parseCron('0 0 13 * FRI');
    // 2026-02: Fri 6, Fri 13 (both), Fri 20; the 13th of March is a Friday too.
    expect(iso(nextFires(spec!, 'UTC', new Date('2026-02-01T00:00:00Z'), 4))).toEqual([
      '2026-02-06T00:00:00.000Z', '2026-02-13T00:00:00.000Z', '2026-02-20T00:00:00.000Z', '2026-02-27T00:00:00.000Z',
    ]);
  });
  it('fires a skipped wall-clock time (DST gap) when the clock jumps, as the server does, and finds none for 30 February', () => {
    expect(zonedTime(2026, 3, 29, 2, 30, 'Europe/Berlin')).toBeNull();
    // 02:30 Berlin: 01:30Z in winter; on 29 March the clock jumps from 02:00 to 03:00 (01:00Z).
    expect(iso(nextFires(parseCron('30 2 * * *').spec!, 'Europe/Berlin', new Date('2026-03-27T12:00:00Z'), 3))).toEqual([
      '2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z',
    ]);
    expect(nextFires(parseCron('0 0 30 2 *').spec!, 'UTC', new Date('2026-01-01T00:00:00Z'))).toEqual([]);
  });
  it('knows IANA zone names', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});
