// Plain SVG charts (no chart library): horizontal bars, stacked columns, a line over
// time. The geometry is in scale.ts (tested); these only draw it. Each chart is an image
// with a text label for screen readers, and a <title> per mark.
import { bands, colorOf, linearScale, linePath, niceMax, stack, ticks } from './scale';

export function BarChart({ bars, label, testid, format = (v) => v.toLocaleString('en-US') }: {
  bars: { label: string; value: number }[]; label: string; testid?: string; format?: (v: number) => string;
}) {
  const row = 26, labelW = 140, valueW = 70, width = 640;
  const height = Math.max(row, bars.length * row);
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value)));
  const x = linearScale(0, max, 0, width - labelW - valueW);
  return (
    <svg className="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${label}: ${bars.map((b) => `${b.label} ${format(b.value)}`).join(', ')}`} data-testid={testid}>
      {bars.map((b, i) => (
        <g key={b.label} transform={`translate(0 ${i * row})`}>
          <text x={labelW - 8} y={row / 2 + 4} textAnchor="end" className="chart-label">{b.label.replace(/_/g, ' ')}</text>
          <rect x={labelW} y={4} width={Math.max(b.value > 0 ? 2 : 0, x(b.value))} height={row - 8} rx={3} fill={colorOf(i)}>
            <title>{`${b.label}: ${format(b.value)}`}</title>
          </rect>
          <text x={labelW + x(b.value) + 6} y={row / 2 + 4} className="chart-value">{format(b.value)}</text>
        </g>
      ))}
    </svg>
  );
}

export function StackedBarChart({ periods, keys, values, label, periodLabel, testid }: {
  periods: string[]; keys: string[]; values: number[][]; label: string; periodLabel: (p: string) => string; testid?: string;
}) {
  const width = 640, height = 220, left = 40, bottom = 24, top = 8;
  const totals = values.map((r) => r.reduce((s, v) => s + Math.max(0, v), 0));
  const max = niceMax(Math.max(0, ...totals));
  const y = linearScale(0, max, height - bottom, top);
  const cols = bands(periods.length, width - left);
  const stacked = stack(values);
  const every = Math.max(1, Math.ceil(periods.length / 10));
  return (
    <figure className="chart-figure" data-testid={testid}>
      <svg className="chart" viewBox={`0 0 ${width} ${height}`} role="img"
        aria-label={`${label}: ${periods.map((p, i) => `${periodLabel(p)} ${totals[i]}`).join(', ')}`}>
        {ticks(max).map((t) => (
          <g key={t}>
            <line x1={left} x2={width} y1={y(t)} y2={y(t)} className="chart-grid" />
            <text x={left - 6} y={y(t) + 4} textAnchor="end" className="chart-axis">{t}</text>
          </g>
        ))}
        {cols.map((c, i) => (
          <g key={periods[i]} transform={`translate(${left} 0)`}>
            {stacked[i].map(([y0, y1], k) => (y1 > y0 ? (
              <rect key={keys[k]} x={c.x} width={c.width} y={y(y1)} height={y(y0) - y(y1)} fill={colorOf(k)}>
                <title>{`${periodLabel(periods[i])}: ${values[i][k]} entered ${keys[k]}`}</title>
              </rect>
            ) : null))}
            {i % every === 0 && <text x={c.x + c.width / 2} y={height - 6} textAnchor="middle" className="chart-axis">{periodLabel(periods[i])}</text>}
          </g>
        ))}
      </svg>
      <figcaption className="legend">
        {keys.map((k, i) => <span key={k}><i style={{ background: colorOf(i) }} />{k.replace(/_/g, ' ')}</span>)}
      </figcaption>
    </figure>
  );
}

export function LineChart({ points, label, testid }: { points: { label: string; value: number }[]; label: string; testid?: string }) {
  const width = 640, height = 180, left = 48, bottom = 24, top = 10, right = 10;
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const y = linearScale(0, max, height - bottom, top);
  const x = linearScale(0, Math.max(1, points.length - 1), left, width - right);
  const xy = points.map((p, i) => ({ x: points.length === 1 ? (left + width - right) / 2 : x(i), y: y(p.value) }));
  const every = Math.max(1, Math.ceil(points.length / 8));
  return (
    <svg className="chart" viewBox={`0 0 ${width} ${height}`} role="img" data-testid={testid}
      aria-label={`${label}: ${points.map((p) => `${p.label} ${p.value}`).join(', ')}`}>
      {ticks(max).map((t) => (
        <g key={t}>
          <line x1={left} x2={width - right} y1={y(t)} y2={y(t)} className="chart-grid" />
          <text x={left - 6} y={y(t) + 4} textAnchor="end" className="chart-axis">{t.toLocaleString('en-US')}</text>
        </g>
      ))}
      <path d={linePath(xy)} className="chart-line" />
      {xy.map((p, i) => (
        <g key={i}>
          <circle cx={p.x} cy={p.y} r={3} className="chart-dot"><title>{`${points[i].label}: ${points[i].value}`}</title></circle>
          {i % every === 0 && <text x={p.x} y={height - 6} textAnchor="middle" className="chart-axis">{points[i].label}</text>}
        </g>
      ))}
    </svg>
  );
}
