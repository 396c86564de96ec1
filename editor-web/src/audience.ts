// Small stores of what the audience pages and the trigger form share: the segments
// (GET /v1/segments, for the trigger's segment select) and the lifecycle stages
// (GET /v1/audience, for the stage lists). Loaded once, reloaded after a change.
import { create } from 'zustand';
import { getAudience, listSegments, type AudienceSettings, type Segment } from './api';
import { LIFECYCLE_STAGES } from './model/types';

interface SegmentsState {
  segments: Segment[];
  loaded: boolean;
  error: string | null;
  load(force?: boolean): Promise<void>;
}

export const useSegments = create<SegmentsState>()((set, get) => ({
  segments: [], loaded: false, error: null,
  async load(force = false) {
    if (get().loaded && !force) return;
    set({ loaded: true });
    try { set({ segments: (await listSegments()).segments, error: null }); } catch { set({ error: 'the segments could not be loaded' }); }
  },
}));

interface AudienceState {
  audience: AudienceSettings | null;
  loaded: boolean;
  error: string | null;
  load(force?: boolean): Promise<void>;
  set(a: AudienceSettings): void;
}

export const useAudience = create<AudienceState>()((set, get) => ({
  audience: null, loaded: false, error: null,
  async load(force = false) {
    if (get().loaded && !force) return;
    set({ loaded: true });
    try { set({ audience: await getAudience(), error: null }); } catch { set({ error: 'the lifecycle stages could not be loaded' }); }
  },
  set(a) { set({ audience: a, loaded: true, error: null }); },
}));

/** The workspace's stages, or the default ones until they are loaded. */
export function useStages(): string[] {
  const a = useAudience((s) => s.audience);
  return a?.stages ?? [...LIFECYCLE_STAGES];
}
