// Consent in the send form and on the settings page: a send is marketing (respects
// opt-outs) or transactional (ignores them), and a marketing email, SMS or push may name
// a topic. The server refuses a topic on a webhook, a Slack message or a transactional send, so the
// editor never writes one there.

type Config = Record<string, unknown>;

/** A topic id as the server accepts it (`is_slug`): lowercase letters, digits, `-`, `_`, at most 64, not starting with `-`/`_`. */
export function isTopicId(id: string): boolean {
  return /^[a-z0-9][a-z0-9_-]{0,63}$/.test(id);
}

/** A topic id suggested from its name: "Weekly Newsletter!" → "weekly-newsletter". */
export function topicIdFrom(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/g, '');
}

/** Whether a send on `channel` may name a topic: only messages to the contact (not a webhook or a team's Slack). */
export function topicAllowed(channel: string, transactional: boolean): boolean {
  return ['email', 'sms', 'push'].includes(channel) && !transactional;
}

/** The send node's config with `transactional` set (false is left out, as the canonical form does); a transactional send loses its topic. */
export function withTransactional(config: Config, on: boolean): Config {
  const next: Config = { ...config };
  if (on) {
    next.transactional = true;
    delete next.topic;
  } else {
    delete next.transactional;
  }
  return next;
}

/** The send node's config with `topic` set, or without one for `''`. */
export function withTopic(config: Config, topic: string): Config {
  const next: Config = { ...config };
  if (topic) next.topic = topic;
  else delete next.topic;
  return next;
}

/** The send node's config with a new message; a webhook has no topic. */
export function withMessage(config: Config, message: Config): Config {
  const next: Config = { ...config, message };
  if (!topicAllowed(String(message.channel ?? ''), next.transactional === true)) delete next.topic;
  return next;
}

/** Options of the topic select: none, every topic, and the current one if the workspace no longer has it. */
export function topicOptions(topics: { id: string; name: string }[], current: string | undefined): { value: string; label: string }[] {
  const out = [{ value: '', label: 'No topic' }, ...topics.map((t) => ({ value: t.id, label: `${t.name} (${t.id})` }))];
  if (current && !topics.some((t) => t.id === current)) out.push({ value: current, label: `${current} (no such topic)` });
  return out;
}
