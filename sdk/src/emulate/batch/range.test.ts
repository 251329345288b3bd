import { resolveOcpRange } from './range';

describe('resolveOcpRange', () => {
  // GIVEN an ocp-range header and a file size WHEN resolved THEN the bytes served, or why not
  it.each([
    [undefined, 10, { ok: true, start: 0, end: 9 }],
    ['', 10, { ok: true, start: 0, end: 9 }],
    ['bytes=0-3', 10, { ok: true, start: 0, end: 3 }],
    ['bytes=4-', 10, { ok: true, start: 4, end: 9 }],
    ['bytes=4-100', 10, { ok: true, start: 4, end: 9 }],
    ['bytes=9-9', 10, { ok: true, start: 9, end: 9 }],
  ] as const)('%j of %d bytes serves %j', (header, size, expected) => {
    expect(resolveOcpRange(header, size)).toEqual(expected);
  });

  it.each([
    ['bytes=10-', 10, /starts past the end of the 10-byte file/],
    ['bytes=5-2', 10, /ends before it starts/],
    ['items=0-1', 10, /not bytes=startRange-endRange/],
    ['bytes=-5', 10, /not bytes=startRange-endRange/],
  ] as const)('refuses %j of %d bytes', (header, size, reason) => {
    const r = resolveOcpRange(header, size);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });
});
