import { BATCH_FOREVER, formatIsoDuration, limitMs, parseIsoDuration } from './duration';

describe('ISO 8601 durations as Batch speaks them', () => {
  it.each([
    ['PT15M', 900_000],
    ['PT1.5S', 1500],
    ['PT90S', 90_000],
    ['P1DT2H', 93_600_000],
    ['PT0S', 0],
    ['P7D', 604_800_000],
  ])('GIVEN %s WHEN parsed THEN %d ms and it formats back to the same duration', (text, ms) => {
    expect(parseIsoDuration(text)).toBe(ms);
    expect(parseIsoDuration(formatIsoDuration(ms))).toBe(ms);
  });

  it.each([
    [60_000, 'PT1M'],
    [1500, 'PT1.5S'],
    [93_600_000, 'P1DT2H'],
    [0, 'PT0S'],
    [-5, 'PT0S'],
    [Number.MAX_SAFE_INTEGER, BATCH_FOREVER],
  ])('GIVEN %d ms WHEN formatted THEN %s', (ms, text) => {
    expect(formatIsoDuration(ms)).toBe(text);
  });

  it.each([['15M'], ['PT'], ['P'], ['PTxS'], ['']])(
    'GIVEN the malformed %j WHEN parsed THEN undefined',
    (text) => {
      expect(parseIsoDuration(text)).toBeUndefined();
    },
  );

  it.each<[string | undefined, number | undefined]>([
    ['PT1M', 60_000],
    [BATCH_FOREVER, undefined],
    [undefined, undefined],
    ['nonsense', undefined],
  ])('GIVEN the limit %j THEN %j ms', (text, ms) => {
    expect(limitMs(text)).toBe(ms);
  });
});
