// The template library: the list of templates (create one), and a template's page: edit
// its content (every save is a new version), see and restore its versions, preview it
// for a contact, see which published journeys use it, delete it.
import { useCallback, useEffect, useState } from 'react';
import {
  ApiError, createTemplate, deleteTemplate, errorText, getTemplate, getTemplateVersion, listTemplateVersions, listTemplates,
  previewTemplate, saveTemplate, type TemplateDetail, type TemplatePreview, type TemplateSummary,
} from '../api';
import { navigate } from '../router';
import { SelectField, TextField } from '../forms/fields';
import {
  TEMPLATE_CHANNELS, TEMPLATE_FIELDS, TEMPLATE_KINDS, documentOf, formOf, newTemplate, problemsByField, slugify, withChannel,
  type TemplateForm, type TemplateKind,
} from '../model/templates';

const link = (path: string) => (e: React.MouseEvent) => { e.preventDefault(); navigate(path); };
const templatePath = (id: string) => `/templates/${encodeURIComponent(id)}`;

export function TemplateListPage() {
  const [rows, setRows] = useState<TemplateSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState<TemplateForm | null>(null);
  const [name, setName] = useState('');
  const [kind, setKind] = useState<TemplateKind>('message');
  useEffect(() => { listTemplates().then(setRows).catch((e) => setError(errorText(e))); }, []);

  const start = () => {
    const n = name.trim() || 'New template';
    const taken = new Set((rows ?? []).map((r) => r.id));
    let id = slugify(n);
    for (let i = 2; taken.has(id); i++) id = `${slugify(n)}-${i}`.slice(0, 64);
    setCreating(newTemplate(kind, n, id));
  };

  return (
    <main className="page">
      <div className="page-head">
        <h1>Templates</h1>
        <form className="row" onSubmit={(e) => { e.preventDefault(); start(); }}>
          <label htmlFor="new-template-name" className="sr-only">New template name</label>
          <input id="new-template-name" placeholder="New template name" value={name} onChange={(e) => setName(e.target.value)} data-testid="new-template-name" />
          <label htmlFor="new-template-kind" className="sr-only">Kind</label>
          <select id="new-template-kind" value={kind} onChange={(e) => setKind(e.target.value as TemplateKind)} data-testid="new-template-kind">
            {TEMPLATE_KINDS.map((k) => <option key={k.value} value={k.value}>{k.label}</option>)}
          </select>
          <button type="submit" className="primary" data-testid="new-template">New template</button>
        </form>
      </div>
      <p className="muted">Send nodes use message templates; any text can insert a partial with <code>{'{{> id}}'}</code>, and an email body can be wrapped in a layout with <code>{'{{#> id}}…{{/id}}'}</code>. Publishing a journey pins the versions it uses.</p>
      {error && <div className="inline-error" role="alert">{error}</div>}
      {creating && (
        <section aria-label="New template" className="panel-box">
          <h2>New template</h2>
          <TemplateEditor initial={creating} isNew onSaved={(t) => navigate(templatePath(t.id))} onCancel={() => setCreating(null)} />
        </section>
      )}
      {rows === null ? <p>Loading…</p> : rows.length === 0 ? <p className="muted">No templates yet.</p> : (
        <table data-testid="template-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Latest version</th><th scope="col">Saved</th></tr></thead>
          <tbody>
            {rows.map((t) => (
              <tr key={t.id} data-testid={`template-row-${t.id}`}>
                <td><a href={templatePath(t.id)} onClick={link(templatePath(t.id))}>{t.name}</a><div className="muted">{t.id}</div></td>
                <td>{t.kind}{t.channel ? ` (${t.channel})` : ''}</td>
                <td>{t.latest_version}</td>
                <td>{new Date(t.updated_at).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}

export function TemplatePage({ id }: { id: string }) {
  const [detail, setDetail] = useState<TemplateDetail | null>(null);
  const [versions, setVersions] = useState<{ version: number; name: string; created_at: string }[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [initial, setInitial] = useState<{ form: TemplateForm; key: string } | null>(null);
  const [note, setNote] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const d = await getTemplate(id);
      setDetail(d);
      setInitial({ form: formOf(d), key: `v${d.version}` });
      setVersions((await listTemplateVersions(id)).data);
    } catch (e) { setError(errorText(e)); }
  }, [id]);
  useEffect(() => { void load(); }, [load]);

  const restore = async (version: number) => {
    try {
      const v = await getTemplateVersion(id, version);
      setInitial({ form: formOf(v), key: `restore-${version}-${Date.now()}` });
      setNote(`Version ${version} is in the form; save to make it the next version.`);
    } catch (e) { setError(errorText(e)); }
  };

  const remove = async () => {
    if (!confirm(`Delete the template “${detail?.name ?? id}”? Journeys must not use it any more.`)) return;
    try { await deleteTemplate(id); navigate('/templates'); } catch (e) { setError(errorText(e)); }
  };

  return (
    <main className="page">
      <div className="page-head">
        <div>
          <a href="/templates" onClick={link('/templates')}>Templates</a>
          <h1>{detail?.name ?? id}</h1>
          {detail && <div className="muted" data-testid="template-version">{detail.kind}{detail.channel ? ` · ${detail.channel}` : ''} · version {detail.version}</div>}
        </div>
        {detail && <button type="button" className="danger" onClick={() => void remove()} data-testid="template-delete">Delete</button>}
      </div>
      {error && <div className="inline-error" role="alert" data-testid="template-error">{error}</div>}
      {note && <div className="banner" role="status">{note}</div>}
      {initial && (
        <TemplateEditor key={initial.key} initial={initial.form} isNew={false}
          onSaved={(d) => { setNote(d.version === detail?.version ? 'Nothing changed: no new version.' : `Saved as version ${d.version}.`); void load(); }} />
      )}
      {detail && (
        <div className="two-columns">
          <section aria-label="Versions">
            <h2>Versions</h2>
            <ul className="plain-list" data-testid="template-versions">
              {[...versions].reverse().map((v) => (
                <li key={v.version}>
                  version {v.version} · {new Date(v.created_at).toLocaleString()}
                  {v.version !== detail.version && <button type="button" className="link" onClick={() => void restore(v.version)} data-testid={`template-restore-${v.version}`}>Restore into the form</button>}
                </li>
              ))}
            </ul>
          </section>
          <section aria-label="Used by">
            <h2>Used by published journeys</h2>
            {detail.used_by.length === 0 ? <p className="muted">No published journey uses it now.</p> : (
              <ul className="plain-list" data-testid="template-used-by">
                {detail.used_by.map((u) => (
                  <li key={`${u.workflow_id}-${u.workflow_version}`}>
                    <a href={`/journeys/${encodeURIComponent(u.workflow_id)}`} onClick={link(`/journeys/${encodeURIComponent(u.workflow_id)}`)}>{u.workflow_id}</a>
                    {' '}version {u.workflow_version} pins version {u.template_version} ({u.reason === 'active_runs' ? `${u.active_runs} run(s) going` : u.reason})
                  </li>
                ))}
              </ul>
            )}
          </section>
        </div>
      )}
    </main>
  );
}

/** The form of one template, with its save and its preview. */
function TemplateEditor({ initial, isNew, onSaved, onCancel }: { initial: TemplateForm; isNew: boolean; onSaved: (t: TemplateDetail) => void; onCancel?: () => void }) {
  const [form, setForm] = useState<TemplateForm>(initial);
  const [problems, setProblems] = useState<Record<string, string[]>>({});
  const [saving, setSaving] = useState(false);
  const err = (field: string) => problems[field]?.join('; ') ?? null;

  const save = async () => {
    setSaving(true);
    setProblems({});
    try {
      const doc = documentOf(form);
      onSaved(isNew ? await createTemplate(doc) : await saveTemplate(form.id, doc));
    } catch (e) {
      setProblems(e instanceof ApiError && e.errors.length ? problemsByField(e.errors) : { '': [errorText(e)] });
    } finally { setSaving(false); }
  };

  return (
    <form className="template-form" onSubmit={(e) => { e.preventDefault(); void save(); }}>
      <div className="two-columns">
        <div>
          <div className="row">
            <TextField label="Name" value={form.name} testid="template-name" error={err('name')} onChange={(v) => setForm({ ...form, name: v })} />
            <TextField label="Id" value={form.id} testid="template-id" error={err('id')} readOnly={!isNew} onChange={(v) => setForm({ ...form, id: v })} />
          </div>
          <TextField label="Description (optional)" value={form.description} testid="template-description" onChange={(v) => setForm({ ...form, description: v })} />
          <div className="row">
            <SelectField label="Kind" value={form.kind} options={TEMPLATE_KINDS} testid="template-kind" disabled={!isNew}
              onChange={(k) => setForm({ ...newTemplate(k, form.name, form.id), description: form.description })} />
            {form.kind === 'message' && (
              <SelectField label="Channel" value={form.channel} options={TEMPLATE_CHANNELS} testid="template-channel"
                onChange={(c) => setForm(withChannel(form, c))} />
            )}
          </div>
          {err('kind') && <div className="inline-error" role="alert">{err('kind')}</div>}
          {err('channel') && <div className="inline-error" role="alert">{err('channel')}</div>}
          {form.kind === 'message'
            ? TEMPLATE_FIELDS[form.channel].map((f) => (
              <TextField key={f.key} label={f.label} multiline={f.multiline} value={form.fields[f.key] ?? ''} testid={`template-field-${f.key}`} error={err(f.key)}
                onChange={(v) => setForm({ ...form, fields: { ...form.fields, [f.key]: v } })} />
            ))
            : (
              <TextField label={form.kind === 'layout' ? 'Layout (HTML; {{> @partial-block}} is where the body goes)' : 'Content'} multiline value={form.content}
                testid="template-content" error={err('content')} onChange={(v) => setForm({ ...form, content: v })} />
            )}
          <p className="hint">Helpers: <code>{'{{format_date contact.renewal_at "%B %-d, %Y"}}'}</code>, <code>{'{{format_number trigger.properties.total 2}}'}</code>, <code>{'{{default contact.first_name "there"}}'}</code>, <code>{'{{url_encode contact.email}}'}</code>.</p>
          {err('') && <div className="inline-error" role="alert" data-testid="template-problems">{err('')}</div>}
          <div className="row">
            <button type="submit" className="primary" disabled={saving} data-testid="template-save">{isNew ? 'Create template' : 'Save as a new version'}</button>
            {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
          </div>
        </div>
        <TemplatePreviewBox form={form} />
      </div>
    </form>
  );
}

/** Render the form's content (saved or not) for a contact, with the library's partials and layouts. */
function TemplatePreviewBox({ form }: { form: TemplateForm }) {
  const [contactId, setContactId] = useState('');
  const [result, setResult] = useState<TemplatePreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async () => {
    setError(null);
    try {
      setResult(await previewTemplate(form.id, { template: documentOf(form), ...(contactId ? { contact_id: contactId } : { attributes: {} }) }));
    } catch (e) { setResult(null); setError(errorText(e)); }
  };
  const html = result && (result.channel === 'email' || result.kind !== 'message');
  return (
    <fieldset className="preview" data-testid="template-preview">
      <legend>Preview</legend>
      <div className="row">
        <TextField label="For contact id" value={contactId} placeholder="ann" testid="template-preview-contact" onChange={setContactId} />
        <button type="button" data-testid="template-preview-run" onClick={() => void run()}>Preview</button>
      </div>
      {error && <div className="inline-error" role="alert" data-testid="template-preview-error">{error}</div>}
      {result && (
        <div className="preview-out" data-testid="template-preview-output">
          {result.warning && <div className="inline-error" role="status">{result.warning}</div>}
          {result.kind === 'message' && <div><b>To:</b> {result.to ?? <span className="muted">no address</span>}</div>}
          {typeof result.subject === 'string' && <div><b>Subject:</b> {result.subject}</div>}
          {typeof result.title === 'string' && <div><b>Title:</b> {result.title}</div>}
          {typeof result.url === 'string' && <div><b>Link:</b> {result.url}</div>}
          {html ? <iframe title="Template preview" sandbox="" srcDoc={result.body} className="preview-frame" /> : <pre className="json">{result.body}</pre>}
          {typeof result.text === 'string' && <pre className="json">{result.text}</pre>}
        </div>
      )}
    </fieldset>
  );
}
