import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  documentOf, fieldOfPointer, formOf, inlineOf, isTemplateRef, newTemplate, problemsByField, slugify, templateChoices, templateRef,
  withChannel,
} from '../src/model/templates';
import { toCanonicalText } from '../src/model/canonical';
import { describeNode } from '../src/model/summary';
import { matchRoute } from '../src/router';

const library = join(__dirname, '..', '..', 'workflows', 'templates');

describe('template documents', () => {
  for (const file of readdirSync(library)) {
    it(`${file}: the form writes back the same document (without $schema)`, () => {
      const doc = JSON.parse(readFileSync(join(library, file), 'utf8'));
      const { $schema, ...rest } = doc;
      expect($schema).toBe('../template.schema.json');
      const form = formOf({ ...rest, message: rest.message ?? null, content: rest.content ?? null });
      expect(JSON.stringify(documentOf(form))).toBe(JSON.stringify(rest));
    });
  }

  it('leaves empty optional fields out and keeps the format’s key order', () => {
    const form = { ...newTemplate('message', 'Welcome mail'), fields: { body: '<p>Hi</p>', subject: 'Hi', text: '  ', layout: 'brand' } };
    expect(form.id).toBe('welcome-mail');
    expect(JSON.stringify(documentOf(form))).toBe(JSON.stringify({
      id: 'welcome-mail', name: 'Welcome mail', kind: 'message',
      message: { channel: 'email', subject: 'Hi', body: '<p>Hi</p>', layout: 'brand' },
    }));
    const layout = newTemplate('layout', 'Brand');
    expect(documentOf(layout)).toEqual({ id: 'brand', name: 'Brand', kind: 'layout', content: '<div>{{> @partial-block}}</div>' });
    expect(slugify('  Spring Sale! 2026 ')).toBe('spring-sale-2026');
  });

  it('changing the channel keeps only the fields the new channel has', () => {
    const email = { ...newTemplate('message', 'x'), fields: { subject: 'S', body: 'B', from: 'f@x' } };
    const sms = withChannel(email, 'sms');
    expect(sms.fields).toEqual({ body: 'B' });
    expect(documentOf(sms).message).toEqual({ channel: 'sms', body: 'B' });
    const push = withChannel(sms, 'push');
    expect(documentOf(push).message).toEqual({ channel: 'push', title: '', body: 'B' });
  });

  it('puts each problem of the server on its field', () => {
    expect(fieldOfPointer('/message/subject')).toBe('subject');
    expect(fieldOfPointer('/message')).toBe('channel');
    expect(fieldOfPointer('/content')).toBe('content');
    expect(fieldOfPointer('/name')).toBe('name');
    expect(fieldOfPointer('')).toBe(null);
    expect(fieldOfPointer('/colour')).toBe(null);
    expect(problemsByField([
      { pointer: '/message/body', message: 'does not compile' },
      { pointer: '/message/body', message: 'also this' },
      { pointer: '/extra', message: 'unknown field' },
    ])).toEqual({ body: ['does not compile', 'also this'], '': ['unknown field'] });
  });
});

describe('send nodes and library templates', () => {
  const templates = [
    { id: 'welcome', name: 'Welcome', kind: 'message', channel: 'email' },
    { id: 'sms-hi', name: 'sms-hi', kind: 'message', channel: 'sms' },
    { id: 'footer', name: 'Footer', kind: 'partial', channel: null },
  ];

  it('offers the message templates of the node’s channel', () => {
    expect(templateChoices(templates, 'email')).toEqual([{ value: 'welcome', label: 'Welcome (welcome)' }]);
    expect(templateChoices(templates, 'sms')).toEqual([{ value: 'sms-hi', label: 'sms-hi' }]);
    expect(templateChoices(templates, 'push')).toEqual([]);
  });

  it('a reference pins a version only when one is chosen', () => {
    expect(templateRef('email', 'welcome')).toEqual({ channel: 'email', template: 'welcome' });
    expect(templateRef('email', 'welcome', null)).toEqual({ channel: 'email', template: 'welcome' });
    expect(templateRef('email', 'welcome', 3)).toEqual({ channel: 'email', template: 'welcome', version: 3 });
    expect(isTemplateRef({ channel: 'email', template: 'welcome' })).toBe(true);
    expect(isTemplateRef({ channel: 'email', subject: 'x', body: 'y' })).toBe(false);
  });

  it('writing a template’s message out in the journey wraps the body in its layout', () => {
    expect(inlineOf({ channel: 'email', subject: 'Hi', body: '<p>x</p>', layout: 'brand' }))
      .toEqual({ channel: 'email', subject: 'Hi', body: '{{#> brand}}<p>x</p>{{/brand}}' });
    expect(inlineOf({ channel: 'sms', body: 'Hi' })).toEqual({ channel: 'sms', body: 'Hi' });
  });

  it('a send node with a template reference is written in the canonical order and summarised', () => {
    const doc = {
      $schema: './schema.json', id: 'j', name: 'J',
      trigger: { type: 'api', next: 's' },
      nodes: [
        { next: 'e', message: { version: 2, template: 'welcome', channel: 'email' }, id: 's', type: 'send' },
        { id: 'e', type: 'exit' },
      ],
    };
    const text = toCanonicalText(doc);
    expect(text).toContain('"message": {\n        "channel": "email",\n        "template": "welcome",\n        "version": 2\n      }');
    expect(describeNode('send', { message: { channel: 'email', template: 'welcome', version: 2 } })).toBe('email: template welcome v2');
    expect(describeNode('send', { message: { channel: 'sms', template: 'sms-hi' } })).toBe('sms: template sms-hi');
  });
});

describe('routes', () => {
  it('has a templates page and a page per template', () => {
    expect(matchRoute('/templates')).toEqual({ page: 'templates' });
    expect(matchRoute('/templates/welcome-email')).toEqual({ page: 'template', id: 'welcome-email' });
    expect(matchRoute('/templates/a/b')).toEqual({ page: 'notfound' });
  });
});
