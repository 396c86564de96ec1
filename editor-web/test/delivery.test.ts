import { describe, expect, it } from 'vitest';
import { toCanonicalText } from '../src/model/canonical';
import { DEFAULT_DELIVERY, capsValue, describeWindow, isTimeOfDay, quietMode, quietValue, toPutBody, withWindow } from '../src/model/delivery';

const doc = (settings: Record<string, unknown>) => ({
  id: 'a', name: 'A', trigger: { type: 'api', next: 'x' }, settings, nodes: [{ id: 'x', type: 'exit' }],
});

describe("a journey's quiet hours and caps in the canonical file", () => {
  it('leaves the defaults out, as kairos fmt does', () => {
    const text = toCanonicalText(doc({ quiet_hours: 'inherit', frequency_caps: 'apply', timezone: 'UTC' }));
    expect(text).toContain('"settings": {\n    "reentry": "once",\n    "timezone": "UTC"\n  }');
  });
  it('writes an own window after the time zone, in the Rust field order, without behaviour: wait', () => {
    const text = toCanonicalText(doc({ frequency_caps: 'ignore', quiet_hours: { behaviour: 'wait', end: '08:00', start: '21:00' }, timezone: 'America/New_York' }));
    expect(text).toContain('"settings": {\n    "reentry": "once",\n    "timezone": "America/New_York",\n'
      + '    "quiet_hours": {\n      "start": "21:00",\n      "end": "08:00"\n    },\n    "frequency_caps": "ignore"\n  }');
    const skip = toCanonicalText(doc({ quiet_hours: { start: '22:00', end: '07:00', behaviour: 'skip' } }));
    expect(skip).toContain('"quiet_hours": {\n      "start": "22:00",\n      "end": "07:00",\n      "behaviour": "skip"\n    }');
    expect(toCanonicalText(doc({ quiet_hours: 'off' }))).toContain('"timezone": "UTC",\n    "quiet_hours": "off"\n');
  });
});

describe('the journey settings form helpers', () => {
  it('switches between inherit, off and an own window, keeping a window that was there', () => {
    expect(quietMode(undefined)).toBe('inherit');
    expect(quietMode('inherit')).toBe('inherit');
    expect(quietMode('off')).toBe('off');
    expect(quietMode({ start: '21:00', end: '08:00' })).toBe('own');
    expect(quietValue('inherit', 'off')).toBeUndefined();
    expect(quietValue('off', undefined)).toBe('off');
    expect(quietValue('own', undefined)).toEqual({ start: '21:00', end: '08:00' });
    expect(quietValue('own', { start: '23:00', end: '06:00' })).toEqual({ start: '23:00', end: '06:00' });
    expect(withWindow({ start: '21:00', end: '08:00' }, { behaviour: 'skip' })).toEqual({ start: '21:00', end: '08:00', behaviour: 'skip' });
    expect(withWindow({ start: '21:00', end: '08:00', behaviour: 'skip' }, { behaviour: 'wait' })).toEqual({ start: '21:00', end: '08:00' });
    expect(capsValue('apply')).toBeUndefined();
    expect(capsValue('ignore')).toBe('ignore');
  });
  it('describes windows and checks times as the server does', () => {
    expect(describeWindow('21:00', '08:00')).toBe('21:00–08:00 (overnight)');
    expect(describeWindow('12:00', '14:00')).toBe('12:00–14:00');
    expect(describeWindow('08:00', '08:00')).toContain('must differ');
    expect(isTimeOfDay('07:30')).toBe(true);
    expect(isTimeOfDay('24:00')).toBe(false);
    expect(isTimeOfDay('9pm')).toBe(false);
  });
});

describe('the workspace delivery settings', () => {
  it('turns what GET answers into the PUT body, with the version it was loaded at', () => {
    const stored = { ...DEFAULT_DELIVERY, frequency_caps: { behaviour: 'skip' as const, limits: [{ channel: 'email' as const, max: 3, period: '7d' }] }, version: 4, updated_at: '2026-03-02T10:00:00Z' };
    const body = toPutBody(stored);
    expect(body).toEqual({ quiet_hours: DEFAULT_DELIVERY.quiet_hours, frequency_caps: stored.frequency_caps, version: 4 });
    expect('updated_at' in body).toBe(false);
    body.frequency_caps.limits[0].max = 1;
    expect(stored.frequency_caps.limits[0].max).toBe(3);
  });
});
