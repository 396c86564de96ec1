// Quiet hours and frequency caps: the workspace's settings (GET/PUT /v1/settings/delivery,
// api/src/routes/delivery_settings.rs) and a journey's override (settings.quiet_hours,
// settings.frequency_caps; engine/src/pressure.rs). Pure helpers for the forms.

import type { Behaviour, CapsOverride, Channel, QuietHoursOverride, QuietWindow } from './types';
import { isObject } from './types';

export interface QuietHours { enabled: boolean; start: string; end: string; timezone: string; behaviour: Behaviour }
export interface FrequencyLimit { channel: Channel; max: number; period: string }
export interface FrequencyCaps { behaviour: Behaviour; limits: FrequencyLimit[] }
/** The body of `PUT /v1/settings/delivery`. */
export interface DeliverySettings { quiet_hours: QuietHours; frequency_caps: FrequencyCaps; version?: number }
/** The answer of `GET /v1/settings/delivery`. */
export interface StoredDeliverySettings { quiet_hours: QuietHours; frequency_caps: FrequencyCaps; version: number; updated_at: string | null }

/** The defaults the server answers before the settings are first saved. */
export const DEFAULT_DELIVERY: DeliverySettings = {
  quiet_hours: { enabled: false, start: '21:00', end: '08:00', timezone: 'UTC', behaviour: 'wait' },
  frequency_caps: { behaviour: 'wait', limits: [] },
};

/** The PUT body for stored settings as edited (with the version they were loaded at). */
export function toPutBody(s: StoredDeliverySettings | DeliverySettings): DeliverySettings {
  return {
    quiet_hours: { ...s.quiet_hours },
    frequency_caps: { behaviour: s.frequency_caps.behaviour, limits: s.frequency_caps.limits.map((l) => ({ ...l })) },
    ...(s.version !== undefined ? { version: s.version } : {}),
  };
}

const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** Whether `t` is a local time the server accepts (`HH:MM`, 24-hour clock). */
export function isTimeOfDay(t: string): boolean {
  return HHMM.test(t);
}

/** The window in words: `21:00–08:00 (overnight)`. */
export function describeWindow(start: string, end: string): string {
  if (!isTimeOfDay(start) || !isTimeOfDay(end)) return `${start}–${end}`;
  if (start === end) return `${start}–${end} (empty: start and end must differ)`;
  return end < start ? `${start}–${end} (overnight)` : `${start}–${end}`;
}

/** Which of the three forms a journey's `quiet_hours` takes (absent: inherit). */
export function quietMode(v: unknown): 'inherit' | 'off' | 'own' {
  if (v === 'off') return 'off';
  if (isObject(v)) return 'own';
  return 'inherit';
}

/** The value to store when the journey's quiet hours switch to `mode`. */
export function quietValue(mode: 'inherit' | 'off' | 'own', current: unknown): QuietHoursOverride | undefined {
  if (mode === 'inherit') return undefined;
  if (mode === 'off') return 'off';
  return isObject(current) ? (current as unknown as QuietWindow) : { start: '21:00', end: '08:00' };
}

/** A journey's window with one field changed; `behaviour: wait` is the default and left out. */
export function withWindow(current: unknown, patch: Partial<QuietWindow>): QuietWindow {
  const base: QuietWindow = isObject(current) ? { ...(current as unknown as QuietWindow) } : { start: '21:00', end: '08:00' };
  const next: QuietWindow = { ...base, ...patch };
  if (next.behaviour === 'wait') delete next.behaviour;
  return next;
}

/** The value to store for the journey's frequency caps (absent: apply). */
export function capsValue(v: CapsOverride): CapsOverride | undefined {
  return v === 'apply' ? undefined : v;
}
