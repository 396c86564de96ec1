// An email's extra headers (`message.headers`) as editable rows, and the same rules the
// server's validation applies to their names, so a bad name is flagged while typing.
import type { Row } from '../panels/KeyValueRows';
import { isObject } from '../model/types';

type Config = Record<string, unknown>;

/** The rows for `headers` (values are templates, kept as typed). */
export function headerRows(headers: unknown): Row[] {
  if (!isObject(headers)) return [];
  return Object.entries(headers).map(([key, value]) => ({ key, value: typeof value === 'string' ? value : String(value) }));
}

/** The headers the rows hold: named rows only, names trimmed, values as text. */
export function headersOf(rows: Row[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of rows) if (r.key.trim() !== '') out[r.key.trim()] = r.value;
  return out;
}

/** `message` with the rows as its headers (none: no `headers` field at all). */
export function withHeaders(message: Config, rows: Row[]): Config {
  const headers = headersOf(rows);
  const next: Config = { ...message, headers };
  if (Object.keys(headers).length === 0) delete next.headers;
  return next;
}

// Headers the email's own fields set (as in engine/src/delivery/email.rs).
const RESERVED: Record<string, string> = {
  from: 'the From field', 'reply-to': 'the Reply-to field', subject: 'the Subject field', to: "the contact's email",
  cc: 'nothing (a journey sends to one contact)', bcc: 'nothing (a journey sends to one contact)', sender: 'the email provider',
  date: 'the time of sending', 'message-id': 'Kairos', 'mime-version': 'the body', 'content-type': 'the body',
  'content-transfer-encoding': 'the body', 'return-path': 'the email provider',
};

/** Why `name` cannot be an extra email header, or null when it can. */
export function headerProblem(name: string): string | null {
  const n = name.trim();
  if (n === '') return null; // an unnamed row is ignored
  if (n.length > 76) return `The header name "${n}" is longer than 76 characters.`;
  const bad = [...n].find((c) => c < '!' || c > '~' || c === ':');
  if (bad !== undefined) return `The header name "${n}" has "${bad === ' ' ? 'a space' : bad}"; use letters, digits and "-" (e.g. X-Campaign).`;
  const by = RESERVED[n.toLowerCase()];
  return by ? `"${n}" is set by ${by}, not as an extra header.` : null;
}

/** Every problem of the rows: bad names, and a name given twice. */
export function headerProblems(rows: Row[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    const p = headerProblem(r.key);
    if (p) problems.push(p);
    const lower = r.key.trim().toLowerCase();
    if (lower !== '' && seen.has(lower)) problems.push(`The header "${r.key.trim()}" is given twice.`);
    seen.add(lower);
  }
  return problems;
}
