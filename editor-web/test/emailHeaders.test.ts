import { describe, expect, it } from 'vitest';
import { headerProblem, headerProblems, headerRows, withHeaders } from '../src/forms/emailHeaders';

describe('email headers in the send form', () => {
  const message = { channel: 'email', subject: 'Hi', body: '<p>Hi</p>' };

  it('edits message.headers from rows, keeping values as typed text', () => {
    const rows = [{ key: ' X-Campaign ', value: 'spring-{{contact.plan}}' }, { key: 'X-Count', value: '2' }, { key: '', value: 'ignored' }];
    expect(withHeaders(message, rows)).toEqual({ ...message, headers: { 'X-Campaign': 'spring-{{contact.plan}}', 'X-Count': '2' } });
    expect(headerRows({ 'X-Campaign': 'spring' })).toEqual([{ key: 'X-Campaign', value: 'spring' }]);
    expect(headerRows(undefined)).toEqual([]);
  });

  it('drops the headers field when no named row is left', () => {
    const m = withHeaders({ ...message, headers: { 'X-A': '1' } }, [{ key: ' ', value: 'x' }]);
    expect(m).toEqual(message);
    expect('headers' in m).toBe(false);
  });

  it('flags names the server refuses', () => {
    expect(headerProblem('X-Campaign')).toBeNull();
    expect(headerProblem('List-Unsubscribe')).toBeNull();
    expect(headerProblem('')).toBeNull();
    expect(headerProblem('X Campaign')).toContain('a space');
    expect(headerProblem('X:Y')).toContain('":"');
    expect(headerProblem('Zoë')).toContain('"ë"');
    expect(headerProblem('reply-to')).toContain('Reply-to field');
    expect(headerProblem('Subject')).toContain('Subject field');
    expect(headerProblems([{ key: 'X-A', value: '1' }, { key: 'x-a', value: '2' }])).toEqual(['The header "x-a" is given twice.']);
  });
});
