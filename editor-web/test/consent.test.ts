import { describe, expect, it } from 'vitest';
import { isTopicId, topicAllowed, topicIdFrom, topicOptions, withMessage, withTopic, withTransactional } from '../src/model/consent';

describe('consent in the send form', () => {
  const send = { id: 's', message: { channel: 'email', subject: 'Hi', body: 'x' }, next: 'done' };

  it('a transactional send has no topic, and false is left out as in the canonical form', () => {
    const topical = withTopic(send, 'newsletter');
    expect(topical.topic).toBe('newsletter');
    const transactional = withTransactional(topical, true);
    expect(transactional).toEqual({ ...send, transactional: true });
    expect(withTransactional(transactional, false)).toEqual(send);
    expect(withTopic(topical, '')).toEqual(send);
  });

  it('switching to a webhook drops the topic; other channels keep it', () => {
    const topical = withTopic(send, 'newsletter');
    expect(withMessage(topical, { channel: 'sms', body: '' }).topic).toBe('newsletter');
    expect(withMessage(topical, { channel: 'webhook', url: 'https://' })).not.toHaveProperty('topic');
    expect(topicAllowed('push', false)).toBe(true);
    expect(topicAllowed('webhook', false)).toBe(false);
    expect(topicAllowed('slack', false)).toBe(false);
    expect(topicAllowed('email', true)).toBe(false);
  });

  it('offers every topic, and keeps a topic the workspace no longer has visible', () => {
    const topics = [{ id: 'tips', name: 'Tips' }];
    expect(topicOptions(topics, undefined)).toEqual([{ value: '', label: 'No topic' }, { value: 'tips', label: 'Tips (tips)' }]);
    expect(topicOptions(topics, 'gone').at(-1)).toEqual({ value: 'gone', label: 'gone (no such topic)' });
  });

  it('suggests topic ids the server accepts', () => {
    expect(topicIdFrom('Weekly Newsletter!')).toBe('weekly-newsletter');
    expect(topicIdFrom('  Café — Offers ')).toBe('cafe-offers');
    expect(topicIdFrom('x'.repeat(80))).toHaveLength(64);
    for (const name of ['Weekly Newsletter!', 'Café — Offers', 'A/B tests 2026']) expect(isTopicId(topicIdFrom(name))).toBe(true);
    expect(isTopicId('Big News')).toBe(false);
    expect(isTopicId('-news')).toBe(false);
    expect(isTopicId('news_2026')).toBe(true);
    expect(isTopicId('')).toBe(false);
  });
});
