import { ValidationError } from '../errors';
import { decodePageToken, encodePageToken, pageOf } from './paging';

const items = Array.from({ length: 250 }, (_, i) => i);

describe('pageOf', () => {
  it.each<[string, { pageSize?: number; pageToken?: string }, number, number, boolean]>([
    ['the first page, default size', {}, 0, 100, true],
    ['the first page of 10', { pageSize: 10 }, 0, 10, true],
    ['from a token', { pageSize: 100, pageToken: encodePageToken(200) }, 200, 50, false],
    ['exactly to the end', { pageSize: 250 }, 0, 250, false],
    ['past the end', { pageToken: encodePageToken(300) }, 300, 0, false],
  ])(
    'GIVEN %s THEN the right slice and a next token while items remain',
    (_what, options, from, count, more) => {
      const page = pageOf(items, options);
      expect(page.items).toEqual(items.slice(from, from + count));
      expect(page.nextPageToken !== '').toBe(more);
      if (more) expect(decodePageToken(page.nextPageToken)).toBe(from + count);
    },
  );

  it('GIVEN pages followed token by token THEN every item once, in order', () => {
    const seen: number[] = [];
    let pageToken = '';
    do {
      const page = pageOf(items, { pageSize: 33, pageToken });
      seen.push(...page.items);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(items);
  });

  it.each<[string, { pageSize?: number; pageToken?: string }, string]>([
    ['a page size over 1000', { pageSize: 1001 }, 'page_size'],
    ['a fractional page size', { pageSize: 2.5 }, 'page_size'],
    ['a negative page size', { pageSize: -1 }, 'page_size'],
    ['a token of garbage', { pageToken: 'garbage' }, 'page_token'],
    ['a token without its prefix', { pageToken: Buffer.from('5').toString('base64url') }, 'page_token'],
    ['a token of another prefix', { pageToken: Buffer.from('x5').toString('base64url') }, 'page_token'],
    ['a negative offset', { pageToken: Buffer.from('o-5').toString('base64url') }, 'page_token'],
    ['a bare prefix', { pageToken: Buffer.from('o').toString('base64url') }, 'page_token'],
    ['a token with padding', { pageToken: encodePageToken(5) + '=' }, 'page_token'],
  ])('GIVEN %s THEN a ValidationError names the field', (_what, options, field) => {
    let error: unknown;
    try {
      pageOf(items, options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  });
});
