// The workspace's topics (GET /v1/topics), loaded once per editor visit for the send
// form's topic select, and reloaded by the settings page after a change.
import { create } from 'zustand';
import { listTopics, type Topic } from './api';

interface TopicsState {
  topics: Topic[];
  loaded: boolean;
  error: string | null;
  load(force?: boolean): Promise<void>;
}

export const useTopics = create<TopicsState>()((set, get) => ({
  topics: [], loaded: false, error: null,
  async load(force = false) {
    if (get().loaded && !force) return;
    set({ loaded: true });
    try {
      set({ topics: (await listTopics()).data, error: null });
    } catch {
      set({ error: 'the topics could not be loaded' });
    }
  },
}));
