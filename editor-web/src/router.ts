// A very small client-side router: the path is the state; links push history entries.
import { useSyncExternalStore } from 'react';

const listeners = new Set<() => void>();
function emit() { for (const l of listeners) l(); }

export function navigate(path: string, replace = false) {
  if (path === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  emit();
}

export function usePath(): string {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      window.addEventListener('popstate', l);
      return () => { listeners.delete(l); window.removeEventListener('popstate', l); };
    },
    () => window.location.pathname,
  );
}

export type Page = 'login' | 'settings' | 'templates' | 'template' | 'segments' | 'segment' | 'lifecycle' | 'journey' | 'list' | 'notfound';

/** Route `path` to a page: `/login`, `/settings`, `/templates`, `/templates/{id}`, `/segments`,
 * `/segments/{id}` (`/segments/new`: a new one), `/lifecycle`, `/journeys/{id}`, `/`. */
export function matchRoute(path: string): { page: Page; id?: string } {
  if (path === '/login') return { page: 'login' };
  if (path === '/settings') return { page: 'settings' };
  if (path === '/lifecycle' || path === '/lifecycle/') return { page: 'lifecycle' };
  if (path === '/segments' || path === '/segments/') return { page: 'segments' };
  const s = /^\/segments\/([^/]+)\/?$/.exec(path);
  if (s) return { page: 'segment', id: decodeURIComponent(s[1]) };
  if (path === '/templates' || path === '/templates/') return { page: 'templates' };
  const t = /^\/templates\/([^/]+)\/?$/.exec(path);
  if (t) return { page: 'template', id: decodeURIComponent(t[1]) };
  const m = /^\/journeys\/([^/]+)\/?$/.exec(path);
  if (m) return { page: 'journey', id: decodeURIComponent(m[1]) };
  if (path === '/' || path === '') return { page: 'list' };
  return { page: 'notfound' };
}
