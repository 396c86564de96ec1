// The send form: the message written here (channel, content fields, handlebars variable
// and partial insertion into the field last focused) or a message template of the
// library (with an optional version to pin), and a live preview rendered by the server
// for a chosen contact. A webhook also names the statuses that count as success and the
// values of its JSON response to save as run data (`data.<name>` in later steps).
import { useEffect, useRef, useState } from 'react';
import { CHANNELS, HTTP_METHODS, isObject } from '../model/types';
import { defaultMessage } from '../model/defaults';
import { Checkbox, SelectField, TextField } from './fields';
import type { FormProps } from './NodeForms';
import { useCatalog } from '../catalog';
import { useEditor, useSavedDataNames } from '../store';
import { errorText, getTemplate, listTemplateVersions, listTemplates, preview, type Preview, type TemplateSummary } from '../api';
import { TEMPLATE_CHANNELS, inlineOf, isTemplateRef, templateChoices, templateRef } from '../model/templates';
import { KeyValueRows, type Row } from '../panels/KeyValueRows';
import { headerProblems, headerRows, headersOf, withHeaders } from './emailHeaders';
import { useTopics } from '../topics';
import { topicAllowed, topicOptions, withMessage, withTopic, withTransactional } from '../model/consent';
import {
  formatSuccess, parseSuccess, saveResponseOf, saveResponseProblems, saveResponseRows, withSaveResponse, withSuccess,
  withoutSaveResponseOffWebhook,
} from '../model/webhook';

type Config = Record<string, unknown>;

const FIELDS: Record<string, { key: string; label: string; multiline?: boolean; optional?: boolean }[]> = {
  email: [
    { key: 'subject', label: 'Subject' }, { key: 'body', label: 'Body (HTML)', multiline: true },
    { key: 'text', label: 'Plain-text body (optional)', multiline: true, optional: true },
    { key: 'from', label: 'From (optional)', optional: true }, { key: 'reply_to', label: 'Reply-to (optional)', optional: true },
  ],
  sms: [{ key: 'body', label: 'Text', multiline: true }],
  push: [{ key: 'title', label: 'Title' }, { key: 'body', label: 'Text', multiline: true }, { key: 'url', label: 'Link (optional)', optional: true }],
  webhook: [{ key: 'url', label: 'URL' }],
  slack: [{ key: 'text', label: 'Text (Slack mrkdwn: *bold*, _italic_, <https://…|link>)', multiline: true }],
};

/** The library's templates, read once per form. */
function useLibrary(): TemplateSummary[] | null {
  const [templates, setTemplates] = useState<TemplateSummary[] | null>(null);
  useEffect(() => {
    let on = true;
    listTemplates().then((t) => on && setTemplates(t)).catch(() => on && setTemplates([]));
    return () => { on = false; };
  }, []);
  return templates;
}

export function SendForm(props: FormProps) {
  const { id, config, onChange } = props;
  const message = isObject(config.message) ? config.message : defaultMessage('email');
  const library = useLibrary();
  const fromLibrary = isTemplateRef(message);
  const channel = String(message.channel ?? 'email');
  // Another channel (or a library template) has no response to save: the server refuses save_response there.
  const setMessage = (m: Config) => onChange(withoutSaveResponseOffWebhook(withMessage(config, m)));
  const transactional = config.transactional === true;
  const topic = typeof config.topic === 'string' ? config.topic : undefined;
  const topics = useTopics((s) => s.topics);
  useEffect(() => { void useTopics.getState().load(); }, []);
  const switchSource = async (source: string) => {
    if (source === 'library') {
      const ch = (TEMPLATE_CHANNELS as readonly string[]).includes(channel) ? channel : 'email';
      setMessage({ ...templateRef(ch, templateChoices(library ?? [], ch)[0]?.value ?? '') });
      return;
    }
    // Written here: start from the template's text, when it can be read.
    try {
      const t = isTemplateRef(message) && message.template ? await getTemplate(message.template) : null;
      setMessage(t?.message ? inlineOf(t.message) : defaultMessage(channel));
    } catch { setMessage(defaultMessage(channel)); }
  };
  return (
    <>
      <SelectField label="Content" value={fromLibrary ? 'library' : 'inline'} testid="send-source"
        options={[{ value: 'inline', label: 'Written here' }, { value: 'library', label: 'A template of the library' }]}
        onChange={(v) => void switchSource(v)} />
      {fromLibrary
        ? <LibraryMessage message={message} library={library} onChange={setMessage} />
        : <InlineMessage {...props} message={message} library={library} onChange={setMessage} />}
      {!fromLibrary && channel === 'webhook' && (
        <WebhookResponse key={id} config={config} message={message} onMessage={setMessage} onChange={onChange} />
      )}
      <Checkbox label="Transactional: sent even to contacts who unsubscribed (receipts, password resets)" checked={transactional}
        testid="send-transactional" onChange={(on) => onChange(withTransactional(config, on))} />
      {topicAllowed(channel, transactional) && (
        <SelectField label="Topic (contacts who opted out of it do not get this message)" value={topic ?? ''}
          options={topicOptions(topics, topic)} testid="send-topic" onChange={(t) => onChange(withTopic(config, t))} />
      )}
      <p className="hint" data-testid="send-failed-hint">
        Connect <b>failed</b> to react when the message cannot be delivered; the run then waits at this step for the outcome.
        Unconnected, a failed message only shows on the run&apos;s timeline and the run goes on through <b>next</b>.
      </p>
      <PreviewBox nodeId={id} message={message} />
    </>
  );
}

/** A send node's message taken from the library: channel, template, version to pin. */
function LibraryMessage({ message, library, onChange }: { message: Config; library: TemplateSummary[] | null; onChange: (m: Config) => void }) {
  const channel = String(message.channel ?? 'email');
  const template = String(message.template ?? '');
  const [versions, setVersions] = useState<number[]>([]);
  useEffect(() => {
    let on = true;
    setVersions([]);
    if (template) listTemplateVersions(template).then((v) => on && setVersions(v.data.map((x) => x.version))).catch(() => {});
    return () => { on = false; };
  }, [template]);
  const choices = templateChoices(library ?? [], channel);
  const known = choices.some((c) => c.value === template);
  const options = [...(known || !template ? [] : [{ value: template, label: `${template} (not in the library)` }]), ...choices];
  const version = typeof message.version === 'number' ? String(message.version) : '';
  const versionOptions = [
    { value: '', label: 'The latest when the journey is published' },
    ...(versions.includes(Number(version)) || !version ? [] : [{ value: version, label: `version ${version} (not found)` }]),
    ...versions.map((v) => ({ value: String(v), label: `version ${v}` })),
  ];
  return (
    <>
      <SelectField label="Channel" value={channel} options={TEMPLATE_CHANNELS} testid="send-channel"
        onChange={(c) => onChange(templateRef(c, templateChoices(library ?? [], c)[0]?.value ?? ''))} />
      {library === null ? <p className="muted">Loading the library…</p> : options.length === 0 ? (
        <p className="hint" data-testid="send-no-templates">The library has no {channel} template yet: <a href="/templates" target="_blank" rel="noreferrer">create one</a>.</p>
      ) : (
        <SelectField label="Template" value={template} options={options} testid="send-template"
          onChange={(t) => onChange(templateRef(channel, t))} />
      )}
      {template && (
        <>
          <SelectField label="Version" value={version} options={versionOptions} testid="send-template-version"
            onChange={(v) => onChange(templateRef(channel, template, v ? Number(v) : null))} />
          <p className="hint">Publishing pins the version: editing the template changes this journey only when it is published again. <a href={`/templates/${encodeURIComponent(template)}`} target="_blank" rel="noreferrer" data-testid="send-open-template">Open the template</a></p>
        </>
      )}
    </>
  );
}

function InlineMessage({ triggerEvent, message, library, onChange }: FormProps & { message: Config; library: TemplateSummary[] | null; onChange: (m: Config) => void }) {
  const channel = String(message.channel ?? 'email');
  const setMessage = onChange;
  const attributes = useCatalog((s) => s.attributes);
  const events = useCatalog((s) => s.events);
  const saved = useSavedDataNames();
  const lastField = useRef<{ key: string; el: HTMLInputElement | HTMLTextAreaElement } | null>(null);

  const variables = [
    'contact.id', 'contact.first_name', 'contact.email', 'unsubscribe_url',
    ...saved.map((name) => `data.${name}`),
    ...attributes.map((a) => `contact.${a.path}`),
    ...(events.find((e) => e.name === triggerEvent)?.properties ?? []).map((p) => `trigger.properties.${p.path}`),
    'journey.name',
  ].filter((v, i, all) => all.indexOf(v) === i).slice(0, 24);

  const partials = (library ?? []).filter((t) => t.kind === 'partial').map((t) => t.id);
  const insert = (variable: string, text = `{{${variable}}}`) => {
    const target = lastField.current ?? { key: FIELDS[channel]?.[0]?.key ?? 'body', el: null as unknown as HTMLInputElement };
    const current = typeof message[target.key] === 'string' ? (message[target.key] as string) : '';
    const at = target.el && document.activeElement !== undefined ? target.el.selectionStart ?? current.length : current.length;
    setMessage({ ...message, [target.key]: current.slice(0, at) + text + current.slice(at) });
    // Back to the field, after the variable — unless focus has moved on meanwhile (to
    // another field), which must not lose what is typed there.
    const clicked = document.activeElement;
    requestAnimationFrame(() => {
      const still = document.activeElement === clicked || document.activeElement === document.body;
      if (target.el && still) { target.el.focus(); target.el.setSelectionRange(at + text.length, at + text.length); }
    });
  };

  return (
    <>
      <SelectField label="Channel" value={channel} options={CHANNELS} testid="send-channel" onChange={(c) => setMessage(defaultMessage(c))} />
      {channel === 'webhook' && (
        <SelectField label="Method" value={String(message.method ?? 'POST')} options={HTTP_METHODS} testid="send-method" onChange={(m) => setMessage({ ...message, method: m })} />
      )}
      {(FIELDS[channel] ?? []).map((f) => (
        <TextField key={f.key} label={f.label} multiline={f.multiline} value={typeof message[f.key] === 'string' ? (message[f.key] as string) : ''}
          testid={`send-${f.key}`}
          onFocus={(el) => { lastField.current = { key: f.key, el }; }}
          onChange={(v) => {
            const m = { ...message, [f.key]: v };
            if (f.optional && v === '') delete m[f.key];
            setMessage(m);
          }} />
      ))}
      {channel === 'email' && <EmailHeaders message={message} onChange={setMessage} />}
      {channel === 'webhook' && <WebhookExtras message={message} onChange={setMessage} />}
      {channel === 'slack' && <SlackBlocks message={message} onChange={setMessage} />}
      {channel !== 'webhook' && (
        <div className="variables" role="group" aria-label="Insert a variable">
          <div className="hint">Insert a variable into the field you last selected:</div>
          {variables.map((v) => (
            <button type="button" key={v} className="chip" aria-label={`Insert ${v}`} data-testid={`insert-${v}`} onClick={() => insert(v)}>{`{{${v}}}`}</button>
          ))}
          {partials.map((p) => (
            <button type="button" key={`> ${p}`} className="chip" aria-label={`Insert the partial ${p}`} data-testid={`insert-partial-${p}`}
              onClick={() => insert(p, `{{> ${p}}}`)}>{`{{> ${p}}}`}</button>
          ))}
        </div>
      )}
    </>
  );
}

// The email's extra headers (values are templates), e.g. X-Campaign. Rows live here so a
// row being typed (still unnamed) is kept; a change from outside (undo) resets them.
function EmailHeaders({ message, onChange }: { message: Config; onChange: (m: Config) => void }) {
  const [rows, setRows] = useState<Row[]>(() => headerRows(message.headers));
  const external = JSON.stringify(isObject(message.headers) ? message.headers : {});
  useEffect(() => {
    if (JSON.stringify(headersOf(rows)) !== external) setRows(headerRows(message.headers));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [external]);
  const problems = headerProblems(rows);
  return (
    <>
      <KeyValueRows label="Header" rows={rows} testid="send-email-headers"
        onChange={(next) => { setRows(next); onChange(withHeaders(message, next)); }} />
      {problems.map((p) => <div key={p} className="inline-error" role="alert" data-testid="send-email-header-problem">{p}</div>)}
    </>
  );
}

function WebhookExtras({ message, onChange }: { message: Config; onChange: (m: Config) => void }) {
  const headers = isObject(message.headers) ? (message.headers as Record<string, string>) : {};
  const entries = Object.entries(headers);
  const [bodyText, setBodyText] = useState(() => (message.body === undefined ? '' : JSON.stringify(message.body, null, 2)));
  const [bodyError, setBodyError] = useState<string | null>(null);
  return (
    <>
      <fieldset>
        <legend>Headers</legend>
        {entries.map(([k, v], i) => (
          <div className="row" key={i}>
            <input aria-label={`Header ${i + 1} name`} value={k} onChange={(e) => {
              const next = Object.fromEntries(entries.map(([a, b], j) => (j === i ? [e.target.value, b] : [a, b])));
              onChange({ ...message, headers: next });
            }} />
            <input aria-label={`Header ${i + 1} value`} value={v} onChange={(e) => onChange({ ...message, headers: { ...headers, [k]: e.target.value } })} />
            <button type="button" className="icon" aria-label={`Remove header ${i + 1}`} onClick={() => {
              const next = { ...headers }; delete next[k];
              const m: Config = { ...message, headers: next };
              if (Object.keys(next).length === 0) delete m.headers;
              onChange(m);
            }}>✕</button>
          </div>
        ))}
        <button type="button" onClick={() => onChange({ ...message, headers: { ...headers, [`X-Header-${entries.length + 1}`]: '' } })}>+ Header</button>
      </fieldset>
      <TextField label="JSON body (strings are templates)" multiline value={bodyText} error={bodyError} testid="send-webhook-body"
        onChange={(v) => {
          setBodyText(v);
          if (v.trim() === '') { setBodyError(null); const m = { ...message }; delete m.body; onChange(m); return; }
          try { onChange({ ...message, body: JSON.parse(v) }); setBodyError(null); } catch (e) { setBodyError(`not JSON yet: ${(e as Error).message}`); }
        }} />
    </>
  );
}

/**
 * A webhook's success statuses (`message.success`) and the values of its JSON response
 * saved as run data (`save_response` on the node). What is typed is kept here, so an entry
 * being typed or a row with a problem stays on screen; only valid ones are written, and a
 * change from outside (undo) resets the fields.
 */
function WebhookResponse({ config, message, onMessage, onChange }: {
  config: Config; message: Config; onMessage: (m: Config) => void; onChange: (c: Config) => void;
}) {
  const [successText, setSuccessText] = useState(() => formatSuccess(message.success));
  const externalSuccess = JSON.stringify(message.success ?? null);
  useEffect(() => {
    if (JSON.stringify(withSuccess(message, successText).success ?? null) !== externalSuccess) setSuccessText(formatSuccess(message.success));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [externalSuccess]);
  const successProblems = parseSuccess(successText).problems;

  const [rows, setRows] = useState<Row[]>(() => saveResponseRows(config.save_response));
  const externalSaved = JSON.stringify(isObject(config.save_response) ? config.save_response : {});
  useEffect(() => {
    if (JSON.stringify(saveResponseOf(rows)) !== externalSaved) setRows(saveResponseRows(config.save_response));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [externalSaved]);
  const names = Object.keys(saveResponseOf(rows));

  return (
    <>
      <TextField label="Success statuses (optional; default: any 2xx)" value={successText} placeholder="200, 201, 3xx" testid="send-webhook-success"
        error={successProblems.length > 0 ? successProblems.join('; ') : null}
        hint="Status codes and classes (2xx, 3xx, 4xx) that count as delivered, separated by commas. Any other status is a failure; 429 and 5xx are still retried."
        onChange={(v) => { setSuccessText(v); onMessage(withSuccess(message, v)); }} />
      <KeyValueRows label="Saved value" legend="Save from the response (run data name → JSON pointer)" rows={rows} testid="send-save-response"
        placeholders={['crm_id', '/id']} problems={saveResponseProblems(rows)}
        onChange={(next) => { setRows(next); onChange(withSaveResponse(config, next)); }} />
      <p className="hint">
        After the webhook succeeds, later steps read a saved value as <code>{'{{data.'}{names[0] ?? 'crm_id'}{'}}'}</code> in
        templates and <code>data.{names[0] ?? 'crm_id'}</code> in branch conditions. An empty pointer saves the whole body.
        Saving makes the run wait at this step for the outcome.
      </p>
    </>
  );
}

/** Optional Block Kit blocks, typed as JSON; the message keeps the last valid array. */
function SlackBlocks({ message, onChange }: { message: Config; onChange: (m: Config) => void }) {
  const [text, setText] = useState(() => (message.blocks === undefined ? '' : JSON.stringify(message.blocks, null, 2)));
  const [error, setError] = useState<string | null>(null);
  return (
    <TextField label="Block Kit blocks (optional JSON array; strings are templates)" multiline value={text} error={error}
      testid="send-slack-blocks"
      onChange={(v) => {
        setText(v);
        if (v.trim() === '') { setError(null); const m = { ...message }; delete m.blocks; onChange(m); return; }
        let parsed: unknown;
        try { parsed = JSON.parse(v); } catch (e) { setError(`not JSON yet: ${(e as Error).message}`); return; }
        if (!Array.isArray(parsed)) { setError('blocks are a JSON array: [ { "type": "section", … } ]'); return; }
        setError(null);
        onChange({ ...message, blocks: parsed });
      }} />
  );
}

function PreviewBox({ nodeId, message }: { nodeId: string; message: Config }) {
  const workflowId = useEditor((s) => s.workflowId);
  const [contactId, setContactId] = useState('');
  const [result, setResult] = useState<Preview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const key = JSON.stringify(message);

  const run = async () => {
    if (!workflowId) return;
    setError(null);
    try {
      const doc = useEditor.getState().document().doc;
      setResult(await preview(workflowId, { definition: doc, node: nodeId, ...(contactId ? { contact_id: contactId } : { attributes: {} }) }));
    } catch (e) {
      setResult(null);
      setError(errorText(e));
    }
  };
  useEffect(() => {
    if (!live) return;
    const t = setTimeout(run, 500);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, contactId, live]);

  return (
    <fieldset className="preview" data-testid="send-preview">
      <legend>Preview</legend>
      <div className="row">
        <TextField label="For contact id" value={contactId} placeholder="ann" testid="preview-contact" onChange={setContactId} />
        <button type="button" data-testid="preview-run" onClick={() => { setLive(true); void run(); }}>Preview</button>
      </div>
      {error && <div className="inline-error" role="alert">{error}</div>}
      {result && (
        <div className="preview-out" data-testid="preview-output">
          {result.warning && <div className="inline-error" role="status" data-testid="preview-warning">{result.warning}</div>}
          {result.channel !== 'webhook' && result.channel !== 'slack' && <div><b>To:</b> {result.to ?? <span className="muted">no address</span>}</div>}
          {result.method && <div><b>{result.method}</b> {result.url}</div>}
          {result.headers && Object.entries(result.headers).map(([k, v]) => <div key={k} className="muted">{k}: {v}</div>)}
          {typeof result.subject === 'string' && <div><b>Subject:</b> {result.subject}</div>}
          {typeof result.title === 'string' && <div><b>Title:</b> {result.title}</div>}
          {result.channel !== 'webhook' && typeof result.url === 'string' && <div><b>Link:</b> {result.url}</div>}
          {result.channel === 'email' ? (
            <iframe title="Email preview" sandbox="" srcDoc={result.body} className="preview-frame" />
          ) : (
            <pre className="json">{result.body}</pre>
          )}
          {result.blocks && <pre className="json" data-testid="preview-blocks">{JSON.stringify(result.blocks, null, 2)}</pre>}
        </div>
      )}
    </fieldset>
  );
}
