import { describe, expect, it } from 'vitest';
import { matchRoute } from '../src/router';

describe('routes of the audience pages', () => {
  it('maps segments, a segment, a new segment and lifecycle', () => {
    expect(matchRoute('/segments')).toEqual({ page: 'segments' });
    expect(matchRoute('/segments/inactive-30')).toEqual({ page: 'segment', id: 'inactive-30' });
    expect(matchRoute('/segments/new')).toEqual({ page: 'segment', id: 'new' });
    expect(matchRoute('/segments/a%2Fb/')).toEqual({ page: 'segment', id: 'a/b' });
    expect(matchRoute('/lifecycle')).toEqual({ page: 'lifecycle' });
    expect(matchRoute('/journeys/x')).toEqual({ page: 'journey', id: 'x' });
    expect(matchRoute('/segments/a/b')).toEqual({ page: 'notfound' });
  });
});
