import { describe, expect, it } from 'vitest';
import { bands, heatColor, heatText, linearScale, linePath, niceMax, stack, ticks } from '../src/charts/scale';

describe('chart geometry', () => {
  it('maps linearly, flat domains to the start', () => {
    const y = linearScale(0, 200, 100, 0);
    expect([y(0), y(50), y(200)]).toEqual([100, 75, 0]);
    expect(linearScale(5, 5, 10, 20)(5)).toBe(10);
  });
  it('rounds the axis up to a nice number', () => {
    expect([0, 0.3, 1, 7, 12, 23, 180, 4100].map(niceMax)).toEqual([1, 0.5, 1, 10, 20, 25, 200, 5000]);
    expect(ticks(23)).toEqual([0, 6.25, 12.5, 18.75, 25]);
    expect(ticks(180)).toEqual([0, 50, 100, 150, 200]);
  });
  it('lays bands out evenly with gaps', () => {
    expect(bands(2, 100, 0.2)).toEqual([{ x: 5, width: 40 }, { x: 55, width: 40 }]);
    expect(bands(0, 100)).toEqual([]);
  });
  it('stacks rows bottom-up, ignoring negatives', () => {
    expect(stack([[3, 2, 0], [1, -4, 5]])).toEqual([[[0, 3], [3, 5], [5, 5]], [[0, 1], [1, 1], [1, 6]]]);
  });
  it('draws a line path', () => {
    expect(linePath([{ x: 0, y: 10 }, { x: 12.345, y: 0.06 }])).toBe('M0 10 L12.3 0.1');
    expect(linePath([])).toBe('');
  });
  it('colours heat cells by share of the largest', () => {
    expect(heatColor(0)).toBe('rgba(37, 99, 235, 0.06)');
    expect(heatColor(0.25, 0.25)).toBe('rgba(37, 99, 235, 0.9)');
    expect(heatColor(2)).toBe('rgba(37, 99, 235, 0.9)');
    expect(heatText(0.2, 0.25)).toBe('#fff');
    expect(heatText(0.05, 0.25)).toBe('inherit');
  });
});
