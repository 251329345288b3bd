import { ValidationError } from '../errors';
import { chunkFrames, framesOf, parseFrameRange } from './frames';

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
