import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, createSegment, deleteSegment, lifecycleReport, previewSegment, putAudience, segmentContacts, segmentSizes, setCsrfToken } from '../src/api';

function mockFetch(status: number, body?: unknown) {
  const calls: { url: string; init: RequestInit }[] = [];
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  });
  return calls;
}

afterEach(() => { vi.unstubAllGlobals(); setCsrfToken(null); });

describe('the audience API client', () => {
  it('previews a condition with the CSRF token', async () => {
    setCsrfToken('tok');
    const calls = mockFetch(200, { size: 42, sample: ['c1'] });
    const cond = { performed: 'purchase', measure: 'count', op: 'gte', right: 1 };
    expect(await previewSegment(cond)).toEqual({ size: 42, sample: ['c1'] });
    expect(calls[0].url).toBe('/v1/segments/preview');
    expect(calls[0].init.method).toBe('POST');
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ condition: cond });
    expect((calls[0].init.headers as Record<string, string>)['X-CSRF-Token']).toBe('tok');
  });

  it('a 422 carries the problems by pointer', async () => {
    mockFetch(422, { title: 'invalid segment', status: 422, errors: [{ pointer: '/condition/property', message: 'required for sum', code: 'required' }] });
    const err = await createSegment({ id: 'x', name: 'X', condition: {} }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.errors).toEqual([{ pointer: '/condition/property', message: 'required for sum', code: 'required' }]);
  });

  it('a 409 segment_in_use on delete keeps its code; 204 is no body', async () => {
    mockFetch(409, { title: 'segment in use', status: 409, code: 'segment_in_use', detail: 'the live journey win-back uses it' });
    const err = await deleteSegment('vip').catch((e) => e);
    expect(err.problem.code).toBe('segment_in_use');
    expect(err.message).toBe('the live journey win-back uses it');
    mockFetch(204);
    expect(await deleteSegment('vip')).toBeUndefined();
  });

  it('pages members and asks for sizes and the report with the query the contract names', async () => {
    const calls = mockFetch(200, { contacts: [], next: null, points: [] });
    await segmentContacts('a b', 'c/1');
    await segmentSizes('vip', { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', interval: 'day' });
    await lifecycleReport({ from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', interval: 'week' });
    await putAudience({ stages: ['lead'], stage_rules: [], scoring: null, rfm: null });
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'GET /v1/segments/a%20b/contacts?limit=50&after=c%2F1',
      'GET /v1/segments/vip/sizes?from=2026-11-01T00%3A00%3A00Z&to=2026-12-01T00%3A00%3A00Z&interval=day',
      'GET /v1/reports/lifecycle?from=2026-11-01T00%3A00%3A00Z&to=2026-12-01T00%3A00%3A00Z&interval=week',
      'PUT /v1/audience',
    ]);
  });
});
