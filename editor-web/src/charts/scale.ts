// The pure geometry of the SVG charts: linear scales, "nice" axis maxima and ticks,
// bands for bars, stacking, line paths, and the colour of a heat-table cell.

/** A linear map from [d0, d1] to [r0, r1] (a flat domain maps to r0). */
export function linearScale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0;
  return (v) => (span === 0 ? r0 : r0 + ((v - d0) / span) * (r1 - r0));
}

/** The smallest 1, 2, 2.5, 5 × 10^k at or above `max` (1 for 0 or less). */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= max - 1e-9 * mag) return m * mag;
  return 10 * mag;
}

/** `count` + 1 evenly spaced ticks from 0 to niceMax(max), whole numbers when the step allows. */
export function ticks(max: number, count = 4): number[] {
  const top = niceMax(max);
  const step = top / count;
  return Array.from({ length: count + 1 }, (_, i) => Math.round(i * step * 1000) / 1000);
}

export interface Band { x: number; width: number }

/** `n` bands across `width`, with `gap` (a share of a band's slot) between them. */
export function bands(n: number, width: number, gap = 0.2): Band[] {
  if (n <= 0) return [];
  const slot = width / n;
  const w = slot * (1 - gap);
  return Array.from({ length: n }, (_, i) => ({ x: i * slot + (slot - w) / 2, width: w }));
}

/** Stacks each row's values: `[y0, y1]` per cell, bottom-up in key order. */
export function stack(rows: number[][]): [number, number][][] {
  return rows.map((row) => {
    let acc = 0;
    return row.map((v) => { const y0 = acc; acc += Math.max(0, v); return [y0, acc] as [number, number]; });
  });
}

/** An SVG path through the points (`M x y L x y …`), coordinates rounded to 0.1. */
export function linePath(points: { x: number; y: number }[]): string {
  const r = (v: number) => Math.round(v * 10) / 10;
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${r(p.x)} ${r(p.y)}`).join(' ');
}

/** A heat-table cell's background for a share 0..1 of `max` (darker = more). */
export function heatColor(share: number, max = 1): string {
  const t = max > 0 ? Math.min(1, Math.max(0, share / max)) : 0;
  const alpha = Math.round((0.06 + t * 0.84) * 100) / 100;
  return `rgba(37, 99, 235, ${alpha})`;
}

/** Readable text on a heat cell: white on the dark ones. */
export function heatText(share: number, max = 1): string {
  return max > 0 && share / max > 0.55 ? '#fff' : 'inherit';
}

/** A fixed, distinguishable colour per series index. */
export const PALETTE = ['#2563eb', '#059669', '#d97706', '#7c3aed', '#dc2626', '#0891b2', '#65a30d', '#db2777', '#6b7280', '#b45309'];
export function colorOf(i: number): string { return PALETTE[i % PALETTE.length]; }
