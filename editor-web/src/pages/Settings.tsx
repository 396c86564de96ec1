// Settings: API keys (list, create: the secret is shown once, revoke), delivery
// providers, and the workspace's quiet hours and frequency caps.
import { useCallback, useEffect, useState } from 'react';
import { createApiKey, errorText, listApiKeys, revokeApiKey, type ApiKey } from '../api';
import { DeliverySettingsSection } from './DeliverySettings';
import { ProvidersSection } from './Providers';

export function SettingsPage() {
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [name, setName] = useState('');
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(() => listApiKeys().then((r) => setKeys(r.data)).catch((e) => setError(errorText(e))), []);
  useEffect(() => { void refresh(); }, [refresh]);
  return (
    <main className="page">
      <h1>Settings</h1>
      <section aria-label="API keys">
        <h2>API keys</h2>
        <form className="row" onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            const k = await createApiKey(name.trim() || 'key');
            setSecret({ name: k.name, key: k.key });
            setName('');
            await refresh();
          } catch (err) { setError(errorText(err)); }
        }}>
          <label htmlFor="key-name">Key name</label>
          <input id="key-name" value={name} placeholder="e.g. website" onChange={(e) => setName(e.target.value)} data-testid="api-key-name" />
          <button type="submit" className="primary" data-testid="api-key-create">Create key</button>
        </form>
        {secret && (
          <div className="banner" role="status" data-testid="api-key-secret">
            <p>The key <b>{secret.name}</b> is shown only now; copy it:</p>
            <code className="secret">{secret.key}</code>
            <button type="button" onClick={() => void navigator.clipboard?.writeText(secret.key)}>Copy</button>
            <button type="button" className="link" onClick={() => setSecret(null)}>Done</button>
          </div>
        )}
        {error && <div className="inline-error" role="alert">{error}</div>}
        {keys === null ? <p>Loading…</p> : (
          <table data-testid="api-key-table">
            <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Created</th><th scope="col">Status</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.id}>
                  <td>{k.name}</td><td><code>{k.prefix}…</code></td><td>{new Date(k.created_at).toLocaleString()}</td>
                  <td>{k.revoked_at ? `revoked ${new Date(k.revoked_at).toLocaleString()}` : 'active'}</td>
                  <td>{!k.revoked_at && (
                    <button type="button" className="danger" aria-label={`Revoke ${k.name}`} onClick={async () => {
                      if (!confirm(`Revoke “${k.name}”? Clients using it stop working.`)) return;
                      try { await revokeApiKey(k.id); await refresh(); } catch (err) { setError(errorText(err)); }
                    }}>Revoke</button>
                  )}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <ProvidersSection />
      <DeliverySettingsSection />
    </main>
  );
}
