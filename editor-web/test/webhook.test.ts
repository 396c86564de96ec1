import { describe, expect, it } from 'vitest';
import {
  formatSuccess, parseSuccess, saveResponseOf, saveResponseProblems, saveResponseRows, savedDataNames, withSaveResponse, withSuccess,
  withoutSaveResponseOffWebhook,
} from '../src/model/webhook';
import { withMessage } from '../src/model/consent';
import { defaultMessage } from '../src/model/defaults';
import { operandOptions } from '../src/catalog';

describe("a webhook's success statuses", () => {
  it('parses codes and classes, separated by commas or spaces', () => {
    expect(parseSuccess('200, 2xx')).toEqual({ rules: [200, '2xx'], problems: [] });
    expect(parseSuccess(' 201,3xx  4XX 100 599 ')).toEqual({ rules: [201, '3xx', '4xx', 100, 599], problems: [] });
    expect(parseSuccess('')).toEqual({ rules: [], problems: [] });
    expect(parseSuccess(' , ')).toEqual({ rules: [], problems: [] });
  });

  it('names each entry that is neither a code 100–599 nor 2xx/3xx/4xx, and keeps the others', () => {
    expect(parseSuccess('99')).toEqual({ rules: [], problems: ['`99` is not a status code (100–599) or a class like 2xx'] });
    expect(parseSuccess('6xx').problems).toEqual(['`6xx` is not a status code (100–599) or a class like 2xx']);
    expect(parseSuccess('abc').problems).toEqual(['`abc` is not a status code (100–599) or a class like 2xx']);
    expect(parseSuccess('200, 600, 5xx, 20.5, 0200').problems.map((p) => p.split(' ')[0])).toEqual(['`600`', '`5xx`', '`20.5`', '`0200`']);
    expect(parseSuccess('201, abc, 3xx')).toEqual({ rules: [201, '3xx'], problems: ['`abc` is not a status code (100–599) or a class like 2xx'] });
  });

  it('drops a rule given twice', () => {
    expect(parseSuccess('200, 200, 2xx, 2XX').rules).toEqual([200, '2xx']);
  });

  it('formats the rules back to the text it parses', () => {
    expect(formatSuccess([200, 201, '3xx'])).toBe('200, 201, 3xx');
    expect(formatSuccess(undefined)).toBe('');
    for (const text of ['200, 2xx', '201', '3xx, 4xx, 418', '']) expect(formatSuccess(parseSuccess(text).rules)).toBe(text);
  });

  it('writes the valid rules into the message, and no success key for none', () => {
    const m = { channel: 'webhook', method: 'POST', url: 'https://x', success: [200] };
    expect(withSuccess(m, '201, 3xx')).toEqual({ ...m, success: [201, '3xx'] });
    expect(withSuccess(m, '201, nope')).toEqual({ ...m, success: [201] });
    expect(withSuccess(m, '')).toEqual({ channel: 'webhook', method: 'POST', url: 'https://x' });
    expect(withSuccess(m, 'nope')).not.toHaveProperty('success');
  });
});

describe("a webhook's save_response", () => {
  it('turns rows into the map, names trimmed, unnamed rows ignored', () => {
    const rows = [{ key: 'crm_id', value: '/id' }, { key: ' tier ', value: '/account/tier' }, { key: '', value: '/x' }, { key: 'whole', value: '' }];
    expect(saveResponseOf(rows)).toEqual({ crm_id: '/id', tier: '/account/tier', whole: '' });
    expect(saveResponseProblems(rows)).toEqual([null, null, null, null]);
    expect(saveResponseRows({ crm_id: '/id', tier: '/account/tier' })).toEqual([{ key: 'crm_id', value: '/id' }, { key: 'tier', value: '/account/tier' }]);
    expect(saveResponseRows(undefined)).toEqual([]);
  });

  it('reports a bad name, a pointer without /, a name given twice; rows with a problem are not written', () => {
    const rows = [
      { key: 'CrmId', value: '/id' }, { key: '9lives', value: '/x' }, { key: 'crm-id', value: '/x' }, { key: 'a'.repeat(65), value: '/x' },
      { key: 'tier', value: 'account/tier' }, { key: 'ok', value: '/a' }, { key: 'ok', value: '/b' },
    ];
    const problems = saveResponseProblems(rows);
    expect(problems).toHaveLength(7);
    expect(problems[0]).toBe('`CrmId` is not a data name: use lowercase letters, digits and _ (at most 64), not starting with a digit');
    expect(problems[1]).toContain('`9lives` is not a data name');
    expect(problems[2]).toContain('`crm-id` is not a data name');
    expect(problems[3]).toContain('is not a data name');
    expect(problems[4]).toBe('the pointer of `tier` must start with / (e.g. /id or /account/tier), or be empty for the whole body');
    expect(problems[5]).toBeNull();
    expect(problems[6]).toBe('`ok` is given twice; the last row counts');
    expect(saveResponseOf(rows)).toEqual({ ok: '/b' });
  });

  it('sets save_response on the node config, or removes it for no rows', () => {
    const config = { message: { channel: 'webhook', url: 'https://x' }, save_response: { old: '/old' } };
    expect(withSaveResponse(config, [{ key: 'crm_id', value: '/id' }])).toEqual({ ...config, save_response: { crm_id: '/id' } });
    expect(withSaveResponse(config, [])).toEqual({ message: config.message });
    expect(withSaveResponse(config, [{ key: 'Bad', value: '/id' }])).toEqual({ message: config.message });
  });

  it('is removed when the channel switches away from webhook (or to a library template)', () => {
    const config = { message: { channel: 'webhook', url: 'https://x' }, save_response: { crm_id: '/id' }, transactional: true };
    expect(withoutSaveResponseOffWebhook(config)).toBe(config);
    expect(withoutSaveResponseOffWebhook(withMessage(config, defaultMessage('sms')))).toEqual({ message: { channel: 'sms', body: '' }, transactional: true });
    expect(withoutSaveResponseOffWebhook({ ...config, message: { channel: 'email', template: 'welcome' } })).not.toHaveProperty('save_response');
    const plain = { message: { channel: 'email', subject: '', body: '' } };
    expect(withoutSaveResponseOffWebhook(plain)).toBe(plain);
  });

  it("lists the data names the journey's webhook sends save, for data.<name> suggestions", () => {
    const nodes = [
      { type: 'send', id: 'a', message: { channel: 'webhook', url: 'https://x' }, save_response: { tier: '/t', crm_id: '/id' } },
      { type: 'send', id: 'b', message: { channel: 'webhook', url: 'https://y' }, save_response: { crm_id: '/other', Bad: '/b' } },
      { type: 'send', id: 'c', message: { channel: 'sms', body: '' }, save_response: { stray: '/s' } },
      { type: 'delay', id: 'd', duration: '1d', save_response: { nope: '/n' } },
      null,
    ];
    expect(savedDataNames(nodes)).toEqual(['crm_id', 'tier']);
    expect(savedDataNames([])).toEqual([]);
  });

  it('offers data.<name> operands in conditions (branches), after the events', () => {
    const values = operandOptions([], [], { data: ['crm_id', 'tier'] }).map((o) => o.value);
    expect(values.slice(-3)).toEqual(['data.crm_id', 'data.tier', 'now']);
    expect(operandOptions([], [], {}).some((o) => o.value.startsWith('data.'))).toBe(false);
  });
});
