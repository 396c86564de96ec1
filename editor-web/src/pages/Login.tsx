import { useState } from 'react';
import { errorText, signIn, setCsrfToken, type Session } from '../api';

export function LoginPage({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="login">
      <form
        aria-label="Sign in"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true); setError(null);
          try {
            const s = await signIn(email, password);
            setCsrfToken(s.csrf_token);
            onSignedIn(s);
          } catch (err) {
            setError((err as { status?: number }).status === 401 ? 'Wrong email or password.' : errorText(err));
          } finally { setBusy(false); }
        }}
      >
        <h1>Kairos</h1>
        <p className="muted">Sign in to build and watch your journeys.</p>
        <label htmlFor="login-email">Email</label>
        <input id="login-email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} data-testid="login-email" />
        <label htmlFor="login-password">Password</label>
        <input id="login-password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} data-testid="login-password" />
        {error && <div className="inline-error" role="alert" data-testid="login-error">{error}</div>}
        <button type="submit" className="primary" disabled={busy} data-testid="login-submit">{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
