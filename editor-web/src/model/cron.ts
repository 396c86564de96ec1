// 5-field cron expressions (minute hour day-of-month month day-of-week) of a schedule
// trigger: parse with problems in words, and the next fire times in an IANA time zone,
// computed with Intl only (no library). Day-of-month and day-of-week follow classic
// cron: when both are restricted, a day matching either fires.

export interface CronSpec {
  minutes: number[]; hours: number[]; days: number[]; months: number[]; weekdays: number[];
  /** Whether day-of-month / day-of-week are `*` (unrestricted). */
  anyDay: boolean; anyWeekday: boolean;
}

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
] as const;

export const CRON_PRESETS: { cron: string; label: string }[] = [
  { cron: '0 9 * * *', label: 'every day at 09:00' },
  { cron: '0 9 * * MON', label: 'every Monday at 09:00' },
  { cron: '0 9 1 * *', label: 'the first of every month at 09:00' },
];

function parseField(text: string, f: (typeof FIELDS)[number]): { values?: number[]; problem?: string } {
  const names: readonly string[] = 'names' in f ? f.names : [];
  const value = (s: string): number | null => {
    if (/^\d+$/.test(s)) return Number(s);
    const i = names.indexOf(s.toUpperCase());
    if (i < 0) return null;
    return f.name === 'month' ? i + 1 : i;
  };
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(part);
    if (!m) return { problem: `${f.name}: “${part}” is not a number, a range (1-5), a list (1,15) or a step (*/15)` };
    const step = m[2] === undefined ? 1 : Number(m[2]);
    if (step < 1) return { problem: `${f.name}: the step must be 1 or more` };
    let lo: number, hi: number;
    if (m[1] === '*') { lo = f.min; hi = f.name === 'day of week' ? 6 : f.max; }
    else {
      const [a, b] = m[1].split('-');
      const va = value(a);
      const vb = b === undefined ? (m[2] !== undefined ? (f.name === 'day of week' ? 6 : f.max) : va) : value(b);
      if (va === null || vb === null) return { problem: `${f.name}: “${va === null ? a : b}” is not a number${names.length ? ' or a name like ' + names[1] : ''}` };
      lo = va; hi = vb;
      for (const v of [lo, hi]) if (v < f.min || v > f.max) return { problem: `${f.name}: ${v} is outside ${f.min}–${f.max}` };
      if (lo > hi) return { problem: `${f.name}: the range ${a}-${b} runs backwards` };
    }
    for (let v = lo; v <= hi; v += step) out.add(f.name === 'day of week' && v === 7 ? 0 : v);
  }
  return { values: [...out].sort((x, y) => x - y) };
}

/** Parses `0 9 * * MON`; `problems` name the field. */
export function parseCron(text: string): { spec: CronSpec | null; problems: string[] } {
  const parts = text.trim().split(/\s+/).filter(Boolean);
  if (parts.length !== 5) {
    return { spec: null, problems: [`a schedule has 5 parts (minute hour day-of-month month day-of-week), this has ${parts.length}`] };
  }
  const problems: string[] = [];
  const values = parts.map((p, i) => {
    const r = parseField(p, FIELDS[i]);
    if (r.problem) problems.push(r.problem);
    return r.values ?? [];
  });
  if (problems.length) return { spec: null, problems };
  const [minutes, hours, days, months, weekdays] = values;
  return { spec: { minutes, hours, days, months, weekdays, anyDay: parts[2] === '*', anyWeekday: parts[4] === '*' }, problems };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function partsIn(t: number, timeZone: string) {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formatters.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const x of f.formatToParts(new Date(t))) if (x.type !== 'literal') p[x.type] = Number(x.value);
  return { y: p.year, mo: p.month, d: p.day, h: p.hour % 24, mi: p.minute };
}

/** The instant of a wall-clock time in `timeZone`, or null when that time does not exist there (a DST gap). */
export function zonedTime(y: number, mo: number, d: number, h: number, mi: number, timeZone: string): number | null {
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  const offsetAt = (t: number) => { const p = partsIn(t, timeZone); return Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi) - t; };
  let t = wall - offsetAt(wall);
  const o2 = offsetAt(t);
  if (wall - o2 !== t) t = wall - o2;
  const p = partsIn(t, timeZone);
  return p.y === y && p.mo === mo && p.d === d && p.h === h && p.mi === mi ? t : null;
}

/** Whether `timeZone` is an IANA name this browser knows. */
export function isTimeZone(timeZone: string): boolean {
  try { new Intl.DateTimeFormat('en-US', { timeZone }); return timeZone !== ''; } catch { return false; }
}

/** The next `count` fire times strictly after `after`, in `timeZone` (looks up to 8 years ahead). */
export function nextFires(spec: CronSpec, timeZone: string, after: Date, count = 3): Date[] {
  const out: Date[] = [];
  const start = partsIn(after.getTime(), timeZone);
  for (let day = 0; day < 366 * 8 && out.length < count; day++) {
    const date = new Date(Date.UTC(start.y, start.mo - 1, start.d + day));
    const y = date.getUTCFullYear(), mo = date.getUTCMonth() + 1, d = date.getUTCDate(), wd = date.getUTCDay();
    if (!spec.months.includes(mo)) continue;
    const domOk = spec.days.includes(d), dowOk = spec.weekdays.includes(wd);
    const dayOk = spec.anyDay && spec.anyWeekday ? true : spec.anyDay ? dowOk : spec.anyWeekday ? domOk : domOk || dowOk;
    if (!dayOk) continue;
    for (const h of spec.hours) {
      for (const mi of spec.minutes) {
        let t = zonedTime(y, mo, d, h, mi, timeZone);
        // A time the clock skips (spring forward) fires when the clock jumps past it, as the
        // server does for a schedule at fixed hours; once, however many minutes fall in the gap.
        if (t === null && spec.hours.length < 24) t = zonedTime(y, mo, d, h + 1, 0, timeZone);
        if (t !== null && t > after.getTime() && !out.some((o) => o.getTime() === t)) {
          out.push(new Date(t));
          if (out.length === count) return out;
        }
      }
    }
  }
  return out;
}
