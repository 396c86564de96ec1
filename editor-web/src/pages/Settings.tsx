// Settings: API keys (list, create: the secret is shown once, revoke), delivery
// providers, the workspace's quiet hours and frequency caps, and topics (the marketing
// categories sends name and contacts opt out of: list, create, delete).
import { useCallback, useEffect, useState } from 'react';
import { createApiKey, createTopic, deleteTopic, errorText, listApiKeys, revokeApiKey, type ApiKey } from '../api';
import { isTopicId, topicIdFrom } from '../model/consent';
import { useTopics } from '../topics';
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
      <TopicsSection />
    </main>
  );
}

function TopicsSection() {
  const topics = useTopics((s) => s.topics);
  const loadError = useTopics((s) => s.error);
  const [name, setName] = useState('');
  const [id, setId] = useState('');
  const [idEdited, setIdEdited] = useState(false);
  const [description, setDescription] = useState('');
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(() => useTopics.getState().load(true), []);
  useEffect(() => { void refresh(); }, [refresh]);
  const topicId = idEdited ? id : topicIdFrom(name);
  const idProblem = topicId && !isTopicId(topicId) ? 'lowercase letters, digits, - and _ (at most 64)' : null;
  return (
    <section aria-label="Topics">
      <h2>Topics</h2>
      <p className="hint">Marketing categories such as a newsletter or product updates. A send names one; contacts who opt out of it
        (with the unsubscribe link of its messages) stop getting it, and keep getting the others.</p>
      <form className="topic-form" onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        try {
          await createTopic({ id: topicId, name: name.trim(), description: description.trim() });
          setName(''); setId(''); setIdEdited(false); setDescription('');
          await refresh();
        } catch (err) { setError(errorText(err)); }
      }}>
        <label htmlFor="topic-name">Name</label>
        <input id="topic-name" value={name} placeholder="e.g. Weekly newsletter" onChange={(e) => setName(e.target.value)} data-testid="topic-name" />
        <label htmlFor="topic-id">Id (what sends name)</label>
        <input id="topic-id" value={topicId} placeholder="weekly-newsletter" onChange={(e) => { setIdEdited(true); setId(e.target.value); }} data-testid="topic-id" />
        <label htmlFor="topic-description">Description (optional)</label>
        <input id="topic-description" value={description} placeholder="What contacts get" onChange={(e) => setDescription(e.target.value)} data-testid="topic-description" />
        <button type="submit" className="primary" data-testid="topic-create" disabled={!name.trim() || !topicId || idProblem !== null}>Create topic</button>
      </form>
      {idProblem && <div className="inline-error" role="alert">Topic id: {idProblem}</div>}
      {(error ?? loadError) && <div className="inline-error" role="alert">{error ?? loadError}</div>}
      {topics.length === 0 ? <p className="muted" data-testid="topic-empty">No topics yet.</p> : (
        <table data-testid="topic-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Description</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {topics.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td><td><code>{t.id}</code></td><td>{t.description}</td>
                <td>
                  <button type="button" className="danger" aria-label={`Delete topic ${t.name}`} onClick={async () => {
                    if (!confirm(`Delete the topic “${t.name}”? Contacts' opt-outs of it are forgotten.`)) return;
                    setError(null);
                    try { await deleteTopic(t.id); await refresh(); } catch (err) { setError(errorText(err)); }
                  }}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
