// What the server has seen: event names with their properties, contact attributes.
// Loaded once per editor visit; the forms offer them as suggestions (free text is allowed).
import { create } from 'zustand';
import { catalogAttributes, catalogEvents, type CatalogEvent, type CatalogProperty } from './api';

interface CatalogState {
  events: CatalogEvent[];
  attributes: CatalogProperty[];
  loaded: boolean;
  error: string | null;
  load(force?: boolean): Promise<void>;
}

export const useCatalog = create<CatalogState>()((set, get) => ({
  events: [], attributes: [], loaded: false, error: null,
  async load(force = false) {
    if (get().loaded && !force) return;
    set({ loaded: true });
    const [ev, at] = await Promise.allSettled([catalogEvents(), catalogAttributes()]);
    set({
      events: ev.status === 'fulfilled' ? ev.value.data : [],
      attributes: at.status === 'fulfilled' ? at.value.data : [],
      error: ev.status === 'rejected' || at.status === 'rejected' ? 'the event and attribute catalog could not be loaded' : null,
    });
  },
}));

export interface OperandOption { value: string; type?: string; group: string }

/** Operands a condition can read, with their JSON type when known; `data`: run data names saved from webhook responses. */
export function operandOptions(events: CatalogEvent[], attributes: CatalogProperty[], eventNames: { trigger?: string; event?: string; data?: string[]; contactOnly?: boolean }): OperandOption[] {
  const out: OperandOption[] = [
    { value: 'contact.id', type: 'string', group: 'Contact' },
    { value: 'contact.tags', type: 'array', group: 'Contact' },
  ];
  for (const a of attributes) out.push({ value: `contact.${a.path}`, type: a.type, group: 'Contact' });
  if (!attributes.some((a) => a.path === 'lifecycle_stage')) out.push({ value: 'contact.lifecycle_stage', type: 'string', group: 'Contact' });
  // What the audience settings compute: the lead score and the RFM quintiles (1–5).
  for (const [path, label] of [['lead_score', 'Score'], ['rfm.recency', 'RFM (1–5)'], ['rfm.frequency', 'RFM (1–5)'], ['rfm.monetary', 'RFM (1–5)']]) {
    if (!attributes.some((a) => a.path === path)) out.push({ value: `contact.${path}`, type: 'number', group: label });
  }
  if (eventNames.contactOnly) {
    out.push({ value: 'now', type: 'string', group: 'Time' });
    return out;
  }
  const propsOf = (name?: string) => {
    const list = name ? events.filter((e) => e.name === name) : events;
    const seen = new Map<string, string>();
    for (const e of list) for (const p of e.properties) if (!seen.has(p.path)) seen.set(p.path, p.type);
    return [...seen.entries()];
  };
  out.push({ value: 'trigger.name', type: 'string', group: 'Trigger event' }, { value: 'trigger.timestamp', type: 'string', group: 'Trigger event' });
  for (const [p, t] of propsOf(eventNames.trigger)) out.push({ value: `trigger.properties.${p}`, type: t, group: 'Trigger event' });
  out.push({ value: 'event.name', type: 'string', group: 'Event' }, { value: 'event.timestamp', type: 'string', group: 'Event' });
  for (const [p, t] of propsOf(eventNames.event)) out.push({ value: `event.properties.${p}`, type: t, group: 'Event' });
  for (const name of eventNames.data ?? []) out.push({ value: `data.${name}`, group: 'Saved from a webhook' });
  out.push({ value: 'now', type: 'string', group: 'Time' });
  return out;
}
