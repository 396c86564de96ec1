// Settings → Delivery providers: list, add, change and remove the workspace's providers.
// Settings and secrets are forms generated from each kind's JSON Schema; secrets are
// write-only (the server only says which are set), so their fields start empty and a
// field left empty keeps the stored secret.
import { useCallback, useEffect, useMemo, useState } from 'react';
import {
  createProvider, deleteProvider, errorText, listProviderKinds, listProviders, updateProvider,
  type Provider, type ProviderInput, type ProviderKind,
} from '../api';
import { fieldsOf, jsonToValues, valuesToJson, type Field, type FormValues } from '../model/providerForm';

function FieldInputs({ prefix, fields, values, onChange, secret, setNames }: {
  prefix: string; fields: Field[]; values: FormValues; onChange: (v: FormValues) => void; secret?: boolean; setNames?: string[];
}) {
  return (
    <>
      {fields.map((f) => {
        const id = `${prefix}-${f.name}`;
        const set = (v: string) => onChange({ ...values, [f.name]: v });
        const label = `${f.name}${f.required ? '' : ' (optional)'}`;
        if (f.type === 'boolean') {
          return <label key={f.name} className="check"><input type="checkbox" data-testid={id} checked={values[f.name] === 'true'} onChange={(e) => set(e.target.checked ? 'true' : '')} /> {label}</label>;
        }
        return (
          <div key={f.name} className="field">
            <label htmlFor={id}>{label}</label>
            {f.type === 'enum' ? (
              <select id={id} data-testid={id} value={values[f.name] ?? ''} onChange={(e) => set(e.target.value)}>
                {!f.required && <option value="">(default)</option>}
                {f.options?.map((o) => <option key={o} value={o}>{o}</option>)}
              </select>
            ) : (
              <input id={id} data-testid={id} type={secret ? 'password' : f.type === 'string' ? 'text' : 'number'} autoComplete="off"
                value={values[f.name] ?? ''} placeholder={secret && setNames?.includes(f.name) ? 'set (leave empty to keep)' : ''}
                onChange={(e) => set(e.target.value)} />
            )}
            {f.description && <small>{f.description}</small>}
          </div>
        );
      })}
    </>
  );
}

function ProviderForm({ kinds, editing, onDone }: { kinds: ProviderKind[]; editing: Provider | null; onDone: () => void }) {
  const [kind, setKind] = useState(editing?.kind ?? kinds[0]?.kind ?? '');
  const spec = kinds.find((k) => k.kind === kind);
  const settingFields = useMemo(() => (spec ? fieldsOf(spec.settings_schema) : []), [spec]);
  const secretFields = useMemo(() => (spec ? fieldsOf(spec.secrets_schema) : []), [spec]);
  const [id, setId] = useState(editing?.id ?? '');
  const [name, setName] = useState(editing?.name ?? '');
  const [isDefault, setDefault] = useState(editing?.default ?? true);
  const [atMostOnce, setAtMostOnce] = useState(editing?.guarantee === 'at_most_once');
  const [rate, setRate] = useState(editing?.rate_limit ? String(editing.rate_limit.per_second) : '');
  const [burst, setBurst] = useState(editing?.rate_limit ? String(editing.rate_limit.burst) : '');
  const [settings, setSettings] = useState<FormValues>(() => jsonToValues(settingFields, editing?.settings ?? {}));
  const [secrets, setSecrets] = useState<FormValues>({});
  const [error, setError] = useState<string | null>(null);

  const submit = async () => {
    setError(null);
    const s = valuesToJson(settingFields, settings);
    // Secrets: only what was typed is sent; on an edit the others are kept.
    const typed = secretFields.filter((f) => (secrets[f.name] ?? '').trim() !== '' || (!editing && f.required));
    const sec = valuesToJson(typed, secrets);
    const problems = { ...s.errors, ...Object.fromEntries(Object.entries(sec.errors).map(([k, v]) => [`secret ${k}`, v])) };
    if (Object.keys(problems).length) { setError(Object.entries(problems).map(([k, v]) => `${k}: ${v}`).join('; ')); return; }
    const rateLimit = rate.trim() ? { per_second: Number(rate), burst: Number(burst || '1') } : null;
    const body: ProviderInput = {
      name, default: isDefault, guarantee: atMostOnce ? 'at_most_once' : 'at_least_once', rate_limit: rateLimit,
      settings: s.value, secrets: sec.value,
    };
    try {
      if (editing) await updateProvider(editing.id, body);
      else await createProvider({ ...body, id, kind });
      onDone();
    } catch (e) { setError(errorText(e)); }
  };

  return (
    <form className="provider-form" data-testid="provider-form" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
      {!editing && (
        <>
          <div className="field">
            <label htmlFor="provider-kind">Kind</label>
            <select id="provider-kind" data-testid="provider-kind" value={kind} onChange={(e) => { setKind(e.target.value); setSettings({}); setSecrets({}); }}>
              {kinds.map((k) => <option key={k.kind} value={k.kind}>{k.kind} ({k.channel})</option>)}
            </select>
            {spec && <small>{spec.description}</small>}
          </div>
          <div className="field">
            <label htmlFor="provider-id">Id (send nodes name it)</label>
            <input id="provider-id" data-testid="provider-id" value={id} placeholder="e.g. postmark-main" onChange={(e) => setId(e.target.value)} />
          </div>
        </>
      )}
      <div className="field">
        <label htmlFor="provider-name">Name</label>
        <input id="provider-name" data-testid="provider-name" value={name} onChange={(e) => setName(e.target.value)} />
      </div>
      <label className="check"><input type="checkbox" data-testid="provider-default" checked={isDefault} onChange={(e) => setDefault(e.target.checked)} /> Default for {spec?.channel ?? 'its channel'}</label>
      <FieldInputs prefix="setting" fields={settingFields} values={settings} onChange={setSettings} />
      {secretFields.length > 0 && <h3>Secrets</h3>}
      <FieldInputs prefix="secret" fields={secretFields} values={secrets} onChange={setSecrets} secret setNames={editing?.secrets_set} />
      <div className="row">
        <label htmlFor="provider-rate">Rate limit (messages/second, optional)</label>
        <input id="provider-rate" type="number" min="0" step="any" value={rate} onChange={(e) => setRate(e.target.value)} />
        <label htmlFor="provider-burst">Burst</label>
        <input id="provider-burst" type="number" min="1" value={burst} onChange={(e) => setBurst(e.target.value)} />
      </div>
      <label className="check"><input type="checkbox" checked={atMostOnce} onChange={(e) => setAtMostOnce(e.target.checked)} /> At most once{spec && !spec.idempotent ? ' (recommended: this kind cannot deduplicate)' : ''}</label>
      {error && <div className="inline-error" role="alert">{error}</div>}
      <div className="row">
        <button type="submit" className="primary" data-testid="provider-save">{editing ? 'Save' : 'Add provider'}</button>
        <button type="button" className="link" onClick={onDone}>Cancel</button>
      </div>
    </form>
  );
}

export function ProvidersSection() {
  const [kinds, setKinds] = useState<ProviderKind[]>([]);
  const [providers, setProviders] = useState<Provider[] | null>(null);
  const [editing, setEditing] = useState<Provider | 'new' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(() => listProviders().then((r) => setProviders(r.data)).catch((e) => setError(errorText(e))), []);
  useEffect(() => {
    void refresh();
    listProviderKinds().then((r) => setKinds(r.data)).catch((e) => setError(errorText(e)));
  }, [refresh]);
  return (
    <section aria-label="Delivery providers">
      <h2>Delivery providers</h2>
      <p>Messages go through the provider their send node names, else the channel's default, else the built-in inbox.</p>
      {error && <div className="inline-error" role="alert">{error}</div>}
      {editing ? (
        <ProviderForm key={editing === 'new' ? 'new' : editing.id} kinds={kinds} editing={editing === 'new' ? null : editing}
          onDone={() => { setEditing(null); void refresh(); }} />
      ) : (
        <button type="button" className="primary" data-testid="provider-add" disabled={!kinds.length} onClick={() => setEditing('new')}>Add provider</button>
      )}
      {providers === null ? <p>Loading…</p> : providers.length === 0 ? <p>No providers yet: every channel delivers to the inbox.</p> : (
        <table data-testid="provider-table">
          <thead><tr><th scope="col">Id</th><th scope="col">Kind</th><th scope="col">Channel</th><th scope="col">Default</th><th scope="col">Rate limit</th><th scope="col">Secrets set</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {providers.map((p) => (
              <tr key={p.id}>
                <td>{p.name} <code>{p.id}</code></td><td>{p.kind}</td><td>{p.channel}</td><td>{p.default ? 'yes' : ''}</td>
                <td>{p.rate_limit ? `${p.rate_limit.per_second}/s (burst ${p.rate_limit.burst})` : '—'}</td>
                <td>{p.secrets_set.join(', ') || '—'}</td>
                <td>
                  <button type="button" onClick={() => setEditing(p)} aria-label={`Edit ${p.name}`}>Edit</button>
                  <button type="button" className="danger" aria-label={`Remove ${p.name}`} onClick={async () => {
                    if (!confirm(`Remove “${p.name}”?`)) return;
                    try { await deleteProvider(p.id); await refresh(); } catch (e) { setError(errorText(e)); }
                  }}>Remove</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
