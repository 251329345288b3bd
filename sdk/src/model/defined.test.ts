import { dropUndefined } from './defined';

describe('dropUndefined', () => {
  it.each([
    [{ a: 1, b: undefined, c: 'x' }, ['a', 'c']],
    [{ a: undefined }, []],
    [{ a: 0, b: '', c: null, d: false }, ['a', 'b', 'c', 'd']],
  ])('keeps the defined keys of %j in order', (input, keys) => {
    const out = dropUndefined(input as Record<string, unknown>);
    expect(Object.keys(out)).toEqual(keys);
    for (const k of keys) expect(out[k]).toBe((input as Record<string, unknown>)[k]);
  });

  it('returns a new object and leaves its input alone', () => {
    const input = { a: 1, b: undefined };
    expect(dropUndefined(input)).not.toBe(input);
    expect(Object.keys(input)).toEqual(['a', 'b']);
  });
});
