import { useEffect, useState } from 'react';
import { getSession, setCsrfToken, setUnauthorizedHandler, signOut, type Session } from './api';
import { matchRoute, navigate, usePath } from './router';
import { LoginPage } from './pages/Login';
import { JourneyListPage } from './pages/JourneyList';
import { SettingsPage } from './pages/Settings';
import { EditorPage } from './pages/Editor';
import { TemplateListPage, TemplatePage } from './pages/Templates';
import { SegmentListPage, SegmentPage } from './pages/Segments';
import { LifecyclePage } from './pages/Lifecycle';

/** The sign-in page, remembering the page to come back to. */
function loginPath(): string {
  const here = window.location.pathname + window.location.search;
  return here === '/' ? '/login' : `/login?next=${encodeURIComponent(here)}`;
}

/** Where to go once signed in: the page remembered (same origin paths only), else the journeys. */
function afterLogin(): string {
  const next = new URLSearchParams(window.location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/';
}

export function App() {
  const path = usePath();
  const route = matchRoute(path);
  const [session, setSession] = useState<Session | null | undefined>(undefined);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setSession(null);
      setCsrfToken(null);
      if (window.location.pathname !== '/login') navigate(loginPath());
    });
    getSession()
      .then((s) => { setCsrfToken(s.csrf_token); setSession(s); })
      .catch(() => { setSession(null); if (window.location.pathname !== '/login') navigate(loginPath(), true); });
  }, []);

  if (session === undefined) return <p className="page">Loading…</p>;
  if (route.page === 'login' || session === null) {
    return <LoginPage onSignedIn={(s) => { setSession(s); navigate(afterLogin(), true); }} />;
  }
  return (
    <div className="app">
      {route.page !== 'journey' && (
        <header className="topnav">
          <a href="/" className="brand" onClick={(e) => { e.preventDefault(); navigate('/'); }}>Kairos</a>
          <nav aria-label="Main">
            <a href="/" aria-current={route.page === 'list' ? 'page' : undefined} onClick={(e) => { e.preventDefault(); navigate('/'); }}>Journeys</a>
            <a href="/templates" aria-current={route.page === 'templates' || route.page === 'template' ? 'page' : undefined} onClick={(e) => { e.preventDefault(); navigate('/templates'); }} data-testid="nav-templates">Templates</a>
            <a href="/segments" aria-current={route.page === 'segments' || route.page === 'segment' ? 'page' : undefined} onClick={(e) => { e.preventDefault(); navigate('/segments'); }} data-testid="nav-segments">Segments</a>
            <a href="/lifecycle" aria-current={route.page === 'lifecycle' ? 'page' : undefined} onClick={(e) => { e.preventDefault(); navigate('/lifecycle'); }} data-testid="nav-lifecycle">Lifecycle</a>
            <a href="/settings" aria-current={route.page === 'settings' ? 'page' : undefined} onClick={(e) => { e.preventDefault(); navigate('/settings'); }} data-testid="nav-settings">Settings</a>
          </nav>
          <div className="spacer" />
          <span className="muted">{session.email}</span>
          <button type="button" data-testid="sign-out" onClick={async () => { await signOut().catch(() => {}); setCsrfToken(null); setSession(null); navigate('/login'); }}>Sign out</button>
        </header>
      )}
      {route.page === 'list' && <JourneyListPage />}
      {route.page === 'settings' && <SettingsPage />}
      {route.page === 'templates' && <TemplateListPage />}
      {route.page === 'template' && route.id && <TemplatePage key={route.id} id={route.id} />}
      {route.page === 'segments' && <SegmentListPage />}
      {route.page === 'segment' && route.id && <SegmentPage key={route.id} id={route.id} />}
      {route.page === 'lifecycle' && <LifecyclePage />}
      {route.page === 'journey' && route.id && <EditorPage key={route.id} id={route.id} />}
      {route.page === 'notfound' && <main className="page"><h1>Not found</h1><a href="/" onClick={(e) => { e.preventDefault(); navigate('/'); }}>Journeys</a></main>}
    </div>
  );
}
