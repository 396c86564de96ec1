// A webhook send's extras, as the send form edits them: the statuses that count as
// success (`message.success`: codes 100–599 and the classes 2xx, 3xx, 4xx), and
// `save_response` (run data name → JSON pointer into the response body), which the
// server accepts on webhooks only. Later steps read saved values as `data.<name>`.
import type { Row } from '../panels/KeyValueRows';
import { isObject, type StatusRule } from './types';

type Config = Record<string, unknown>;

/** The status classes a webhook's `success` may name. */
export const STATUS_CLASSES = ['2xx', '3xx', '4xx'] as const;

/** A run data name (`save_response` key, `data.<name>`): lowercase letters, digits, `_`, at most 64. */
export const DATA_NAME = /^[a-z_][a-z0-9_]{0,63}$/;

/** `"200, 201 3xx"` → the rules, and the entries that are neither a code nor a class. */
export function parseSuccess(text: string): { rules: StatusRule[]; problems: string[] } {
  const rules: StatusRule[] = [];
  const problems: string[] = [];
  for (const entry of text.split(/[\s,;]+/).filter((e) => e !== '')) {
    let rule: StatusRule | null = null;
    if (/^\d{3}$/.test(entry) && Number(entry) >= 100 && Number(entry) <= 599) rule = Number(entry);
    else if ((STATUS_CLASSES as readonly string[]).includes(entry.toLowerCase())) rule = entry.toLowerCase() as StatusRule;
    if (rule === null) problems.push(`\`${entry}\` is not a status code (100–599) or a class like 2xx`);
    else if (!rules.includes(rule)) rules.push(rule);
  }
  return { rules, problems };
}

/** The rules as the text field shows them: `200, 201, 3xx` (empty for none). */
export function formatSuccess(success: unknown): string {
  return Array.isArray(success) ? success.map((r) => String(r)).join(', ') : '';
}

/** The webhook message with the valid rules of `text` as `success` (none: no `success` at all). */
export function withSuccess(message: Config, text: string): Config {
  const { rules } = parseSuccess(text);
  const next: Config = { ...message, success: rules };
  if (rules.length === 0) delete next.success;
  return next;
}

/** The rows of a `save_response` map. */
export function saveResponseRows(saveResponse: unknown): Row[] {
  if (!isObject(saveResponse)) return [];
  return Object.entries(saveResponse).map(([key, value]) => ({ key, value: typeof value === 'string' ? value : String(value) }));
}

/** Why a row cannot be saved, or null (an unnamed row is still being typed: no problem). */
export function saveResponseRowProblem(row: Row): string | null {
  const name = row.key.trim();
  if (name === '') return null;
  if (!DATA_NAME.test(name)) {
    return `\`${name}\` is not a data name: use lowercase letters, digits and _ (at most 64), not starting with a digit`;
  }
  if (row.value !== '' && !row.value.startsWith('/')) {
    return `the pointer of \`${name}\` must start with / (e.g. /id or /account/tier), or be empty for the whole body`;
  }
  return null;
}

/** The problem of each row (null for none): a bad name, a bad pointer, a name given again. */
export function saveResponseProblems(rows: Row[]): (string | null)[] {
  const seen = new Set<string>();
  return rows.map((r) => {
    const name = r.key.trim();
    const problem = saveResponseRowProblem(r) ?? (name !== '' && seen.has(name) ? `\`${name}\` is given twice; the last row counts` : null);
    seen.add(name);
    return problem;
  });
}

/** The `save_response` map of the rows: named rows without a problem (names trimmed). */
export function saveResponseOf(rows: Row[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of rows) if (r.key.trim() !== '' && saveResponseRowProblem(r) === null) out[r.key.trim()] = r.value;
  return out;
}

/** The send node's config with the rows as `save_response` (none: no `save_response` at all). */
export function withSaveResponse(config: Config, rows: Row[]): Config {
  const map = saveResponseOf(rows);
  const next: Config = { ...config, save_response: map };
  if (Object.keys(map).length === 0) delete next.save_response;
  return next;
}

/** Whether a send node's message is an inline webhook (the only one that may save its response). */
export function isWebhook(message: unknown): boolean {
  return isObject(message) && message.channel === 'webhook' && !('template' in message);
}

/** The send node's config without `save_response` unless its message is a webhook (the server refuses it elsewhere). */
export function withoutSaveResponseOffWebhook(config: Config): Config {
  if (isWebhook(config.message) || !('save_response' in config)) return config;
  const next: Config = { ...config };
  delete next.save_response;
  return next;
}

/**
 * The run data names the journey's webhook sends save (`save_response` keys), sorted and
 * unique: `nodes` are the document's nodes (`type`, `message`, `save_response`).
 */
export function savedDataNames(nodes: unknown[]): string[] {
  const names = new Set<string>();
  for (const n of nodes) {
    if (!isObject(n) || n.type !== 'send' || !isWebhook(n.message) || !isObject(n.save_response)) continue;
    for (const k of Object.keys(n.save_response)) if (DATA_NAME.test(k)) names.add(k);
  }
  return [...names].sort();
}
