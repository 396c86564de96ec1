// Conversion figures of `GET /v1/workflows/{id}/stats` (api/src/routes/workflows.rs:
// `conversion`, `versions`, `splits`) in words for the canvas and the live panel, and the
// goal's conversion window (`settings.goal.within`) as a number of days for the form.

/** Runs that entered, how many converted, and the rate (0 to 1; null when nobody entered). */
export interface Conversion { entered: number; converted: number; rate: number | null }
export interface VersionConversion extends Conversion { version: number }
export interface VariantConversion extends Conversion {
  name: string;
  /** (rate − holdout rate) / holdout rate; null without a holdout or when it converted nobody. */
  lift: number | null;
  /** (rate − holdout rate) × 100, in percentage points; null without a holdout. */
  lift_points: number | null;
}
export interface SplitConversion { node: string; variants: VariantConversion[]; holdout: Conversion | null }

/** A number with at most one decimal, without a trailing `.0`. */
function oneDecimal(n: number): string {
  const r = Math.round(n * 10) / 10;
  return (Object.is(r, -0) ? 0 : r).toFixed(1).replace(/\.0$/, '');
}

/** A rate as a percentage (`41.7%`); `—` when there is none. */
export function formatRate(rate: number | null | undefined): string {
  return rate === null || rate === undefined || !Number.isFinite(rate) ? '—' : `${oneDecimal(rate * 100)}%`;
}

function signed(text: string): string {
  return text.startsWith('-') ? `−${text.slice(1)}` : text === '0' ? '±0' : `+${text}`;
}

/** The relative lift over the holdout as a signed percentage (`+50%`, `−37.5%`); `—`
 *  when there is none (no holdout, or it converted nobody). */
export function formatRelativeLift(lift: number | null): string {
  return lift === null || !Number.isFinite(lift) ? '—' : `${signed(oneDecimal(lift * 100))}%`;
}

/** The difference from the holdout in percentage points (`+20 pts`); `—` without one. */
export function formatPoints(points: number | null): string {
  return points === null || !Number.isFinite(points) ? '—' : `${signed(oneDecimal(points))} pts`;
}

/** A variant's lift over the holdout: `+50% (+20 pts)`, `+100 pts` when the holdout
 *  converted nobody, `—` without a holdout. */
export function formatLift(lift: number | null, points: number | null): string {
  if (points === null || !Number.isFinite(points)) return '—';
  if (lift === null || !Number.isFinite(lift)) return formatPoints(points);
  return `${formatRelativeLift(lift)} (${formatPoints(points)})`;
}

/** A variant's lift for the canvas, short: the relative lift (`+50%`), or the points when
 *  the holdout converted nobody (`+100 pts`); `—` without a holdout. */
export function formatLiftShort(lift: number | null, points: number | null): string {
  return lift !== null && Number.isFinite(lift) ? formatRelativeLift(lift) : formatPoints(points);
}

/** `3 of 5 (60%)`. */
export function formatConversion(c: Conversion): string {
  return `${c.converted} of ${c.entered} (${formatRate(c.rate)})`;
}

/** One line per group of a split for the canvas: each variant's rate and short lift (the
 *  full figures in `title`), then the holdout's rate, which the lifts are measured against. */
export function splitLines(split: SplitConversion): { name: string; rate: string; lift: string | null; title: string }[] {
  const lines = split.variants.map((v) => ({
    name: v.name,
    rate: formatRate(v.rate),
    lift: split.holdout ? formatLiftShort(v.lift, v.lift_points) : null,
    title: `${v.name}: ${formatConversion(v)} converted${split.holdout ? `; lift over the holdout ${formatLift(v.lift, v.lift_points)}` : ''}`,
  }));
  if (split.holdout) {
    lines.push({ name: 'holdout', rate: formatRate(split.holdout.rate), lift: null, title: `holdout: ${formatConversion(split.holdout)} converted` });
  }
  return lines;
}

/** `settings.goal.within` as whole days (`7d`, `P7D`, `1w`, `168h`), or null when it is
 *  not a whole number of days (or absent). */
export function windowDays(within: unknown): number | null {
  if (typeof within !== 'string') return null;
  const t = within.trim().toLowerCase();
  let m = /^(\d+)\s*(d|days?)$/.exec(t);
  if (m) return Number(m[1]);
  m = /^(\d+)\s*(w|weeks?)$/.exec(t);
  if (m) return Number(m[1]) * 7;
  m = /^p(\d+)d$/.exec(t);
  if (m) return Number(m[1]);
  m = /^p(\d+)w$/.exec(t);
  if (m) return Number(m[1]) * 7;
  m = /^(\d+)\s*(h|hours?)$/.exec(t);
  if (m && Number(m[1]) % 24 === 0) return Number(m[1]) / 24;
  return null;
}

/** The `within` value for a number of days typed in the form: `7d`; undefined (no
 *  window) when empty; null when it is not a whole number of days above zero. */
export function withinFromDays(text: string): string | undefined | null {
  const t = text.trim();
  if (t === '') return undefined;
  if (!/^\d+$/.test(t) || Number(t) < 1) return null;
  return `${Number(t)}d`;
}
