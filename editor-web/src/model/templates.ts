// The template library in the editor: the form of a template being edited and the
// document it saves (the format of `workflows/templates/<id>.json`), and how a send
// node's message refers to a library template. Pure functions, tested in test/templates.test.ts.
import { isObject } from './types';

export type TemplateKind = 'message' | 'partial' | 'layout';
export const TEMPLATE_KINDS: { value: TemplateKind; label: string }[] = [
  { value: 'message', label: 'Message (a whole email, SMS or push)' },
  { value: 'partial', label: 'Partial (a snippet: {{> id}})' },
  { value: 'layout', label: 'Email layout (wraps a body: {{#> id}}…{{/id}})' },
];

/** Channels a message template can have (webhooks are written in the journey). */
export const TEMPLATE_CHANNELS = ['email', 'sms', 'push'] as const;
export type TemplateChannel = (typeof TEMPLATE_CHANNELS)[number];

export interface FieldSpec { key: string; label: string; multiline?: boolean; optional?: boolean }

/** The fields of a message template, by channel, in the format's order. */
export const TEMPLATE_FIELDS: Record<TemplateChannel, FieldSpec[]> = {
  email: [
    { key: 'subject', label: 'Subject' },
    { key: 'body', label: 'Body (HTML)', multiline: true },
    { key: 'text', label: 'Plain-text body (optional)', multiline: true, optional: true },
    { key: 'from', label: 'From (optional)', optional: true },
    { key: 'reply_to', label: 'Reply-to (optional)', optional: true },
    { key: 'layout', label: 'Layout (optional: a layout template id)', optional: true },
  ],
  sms: [{ key: 'body', label: 'Text', multiline: true }],
  push: [
    { key: 'title', label: 'Title' },
    { key: 'body', label: 'Text', multiline: true },
    { key: 'url', label: 'Link (optional)', optional: true },
  ],
};

/** A template as the form edits it. */
export interface TemplateForm {
  id: string;
  name: string;
  description: string;
  kind: TemplateKind;
  channel: TemplateChannel;
  /** The message template's fields by key (empty optional fields are left out when saved). */
  fields: Record<string, string>;
  /** A partial's or layout's text. */
  content: string;
}

/** A lowercase slug from a name, as template and journey ids are. */
export function slugify(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64) || 'template';
}

/** A new template of `kind`: a message starts as an email with empty texts; a layout has its body slot. */
export function newTemplate(kind: TemplateKind, name: string, id = slugify(name)): TemplateForm {
  return {
    id, name, description: '', kind, channel: 'email', fields: {},
    content: kind === 'layout' ? '<div>{{> @partial-block}}</div>' : '',
  };
}

function isChannel(c: unknown): c is TemplateChannel {
  return typeof c === 'string' && (TEMPLATE_CHANNELS as readonly string[]).includes(c);
}

/** The form of a template read from the API (`GET /v1/templates/{id}` or a version). */
export function formOf(t: { id: string; name: string; description?: string; kind: TemplateKind; message: Record<string, unknown> | null; content: string | null }): TemplateForm {
  const message = isObject(t.message) ? t.message : {};
  const channel = isChannel(message.channel) ? message.channel : 'email';
  const fields: Record<string, string> = {};
  for (const f of TEMPLATE_FIELDS[channel]) if (typeof message[f.key] === 'string') fields[f.key] = message[f.key] as string;
  return { id: t.id, name: t.name, description: t.description ?? '', kind: t.kind, channel, fields, content: t.content ?? '' };
}

/** The document the API and the file hold, keys in the format's order; empty optional fields are left out. */
export function documentOf(form: TemplateForm): Record<string, unknown> {
  const doc: Record<string, unknown> = { id: form.id, name: form.name };
  if (form.description.trim() !== '') doc.description = form.description;
  doc.kind = form.kind;
  if (form.kind === 'message') {
    const message: Record<string, unknown> = { channel: form.channel };
    for (const f of TEMPLATE_FIELDS[form.channel]) {
      const v = form.fields[f.key] ?? '';
      if (f.optional && v.trim() === '') continue;
      message[f.key] = v;
    }
    doc.message = message;
  } else {
    doc.content = form.content;
  }
  return doc;
}

/** Change a message template's channel, keeping the texts both channels have (`body`). */
export function withChannel(form: TemplateForm, channel: TemplateChannel): TemplateForm {
  const keep = new Set(TEMPLATE_FIELDS[channel].map((f) => f.key));
  return { ...form, channel, fields: Object.fromEntries(Object.entries(form.fields).filter(([k]) => keep.has(k))) };
}

// ----- send nodes and library templates -----

/** A send node's message that uses a library template: `{channel, template, version?}`. */
export type TemplateRef = { channel: string; template: string; version?: number } & Record<string, unknown>;

export function isTemplateRef(message: unknown): message is TemplateRef {
  return isObject(message) && typeof message.template === 'string';
}

/** The reference a send node stores; without a version, publishing pins the latest. */
export function templateRef(channel: string, template: string, version?: number | null): TemplateRef {
  return version ? { channel, template, version } : { channel, template };
}

/** The message templates a send node on `channel` can use, as select options. */
export function templateChoices(templates: { id: string; name: string; kind: string; channel: string | null }[], channel: string) {
  return templates
    .filter((t) => t.kind === 'message' && t.channel === channel)
    .map((t) => ({ value: t.id, label: t.name === t.id ? t.id : `${t.name} (${t.id})` }));
}

/**
 * The message a library template sends, written out in the journey (when a send node
 * switches from the library to its own text): an email `layout` becomes the partial
 * block `{{#> layout}}…{{/layout}}` around the body, as the server does.
 */
export function inlineOf(message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message)) if (k !== 'layout') out[k] = v;
  if (message.channel === 'email' && typeof message.layout === 'string' && message.layout !== '') {
    out.body = `{{#> ${message.layout}}}${String(message.body ?? '')}{{/${message.layout}}}`;
  }
  return out;
}

/** One line for the canvas box of a send node that uses a template. */
export function describeTemplateRef(m: TemplateRef): string {
  return `${m.channel}: template ${m.template}${m.version ? ` v${m.version}` : ''}`;
}

/**
 * The form field a problem of the template document belongs to, from its JSON pointer:
 * `/message/subject` → `subject`, `/message/channel` → `channel`, `/content` → `content`,
 * `/name` → `name`; anything else (the whole document) → `null`.
 */
export function fieldOfPointer(pointer: string): string | null {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (parts.length === 0 || parts[0] === '') return null;
  if (parts[0] === 'message') return parts[1] ?? 'channel';
  return ['id', 'name', 'description', 'kind', 'content'].includes(parts[0]) ? parts[0] : null;
}

/** Problems by form field (those of no field under `''`). */
export function problemsByField(items: { pointer: string; message: string }[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const i of items) (out[fieldOfPointer(i.pointer) ?? ''] ??= []).push(i.message);
  return out;
}
