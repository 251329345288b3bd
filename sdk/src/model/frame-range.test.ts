import { ValidationError } from '../errors';
import { chunkFrames, countChunks, framesOf, iterateChunks, parseFrameRange } from './frame-range';

describe('parseFrameRange', () => {
  it.each([
    ['1-5', [1, 2, 3, 4, 5]],
    ['1-10:3', [1, 4, 7, 10]],
    ['1-10x3', [1, 4, 7, 10]],
    ['7', [7]],
    ['1,3,5-7', [1, 3, 5, 6, 7]],
    ['-3--1', [-3, -2, -1]],
    [' 1 - 3 ', [1, 2, 3]],
    ['1-3,2-4', [1, 2, 3, 4]],
  ])('%s -> %j', (spec, frames) => {
    expect(framesOf(parseFrameRange(spec))).toEqual(frames);
  });

  // GIVEN a bad range WHEN parsed THEN a ValidationError names the field and quotes the range
  it.each([
    ['', /is empty/],
    ['10-1', /reversed range "10-1"/],
    ['1-10:0', /step 0/],
    ['a-b', /"a-b", which is not/],
    ['1,,2', /"", which is not/],
  ])('refuses %j', (spec, reason) => {
    let error: unknown;
    try {
      parseFrameRange(spec, 'frames');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('frames');
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).toContain(JSON.stringify(spec));
  });
});

describe('chunkFrames', () => {
  it.each([
    [
      '1-10',
      4,
      [
        [1, 4],
        [5, 8],
        [9, 10],
      ],
    ],
    [
      '1-10:2',
      2,
      [
        [1, 3],
        [5, 7],
        [9, 9],
      ],
    ],
    [
      '1-3,10-11',
      5,
      [
        [1, 3],
        [10, 11],
      ],
    ],
    [
      '1-3',
      1,
      [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
    ],
  ])('%s in chunks of %d', (spec, size, expected) => {
    expect(chunkFrames(parseFrameRange(spec), size).map((c) => [c.start, c.end])).toEqual(expected);
  });

  it('refuses a chunk size of 0', () => {
    expect(() => chunkFrames(parseFrameRange('1-3'), 0)).toThrow(/chunk_size: .*\(got 0\)/);
  });
});

describe('iterateChunks and countChunks', () => {
  it.each([
    ['1-10', 4],
    ['1-10:2', 2],
    ['1-3,10-11', 5],
    ['1-3', 1],
    ['2-17:3', 2],
    ['-5-5:5', 1],
  ])('%s in chunks of %d: the chunks of chunkFrames, and their number', (spec, size) => {
    const runs = parseFrameRange(spec);
    const lazy = [...iterateChunks(runs, size)];
    expect(lazy).toEqual(chunkFrames(runs, size).map(({ start, end, step }) => ({ start, end, step })));
    expect(countChunks(runs, size)).toBe(lazy.length);
  });

  it('counts and starts a 100-million-frame range without making it', () => {
    const runs = parseFrameRange('1-99999999');
    expect(countChunks(runs)).toBe(99_999_999);
    expect(countChunks(runs, 7)).toBe(Math.ceil(99_999_999 / 7));
    const it = iterateChunks(runs, 10);
    expect(it.next().value).toEqual({ start: 1, end: 10, step: 1 });
    expect(it.next().value).toEqual({ start: 11, end: 20, step: 1 });
  });

  it('refuses a chunk size of 0', () => {
    expect(() => countChunks(parseFrameRange('1-3'), 0)).toThrow(/chunk_size: .*\(got 0\)/);
    expect(() => iterateChunks(parseFrameRange('1-3'), 0).next()).toThrow(/chunk_size/);
  });
});
