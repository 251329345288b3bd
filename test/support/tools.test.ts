import { underCi } from './tools';

// GIVEN the CI variable as CI systems set it WHEN read THEN only a set, non-false value is CI
// (under CI a test whose tool is missing fails instead of being skipped).
describe('underCi', () => {
  it.each<[string | undefined, boolean]>([
    ['true', true],
    ['1', true],
    ['TRUE', true],
    [undefined, false],
    ['', false],
    ['false', false],
    ['0', false],
  ])('CI=%j is %j', (value, expected) => {
    expect(underCi(value === undefined ? {} : { CI: value })).toBe(expected);
  });
});
