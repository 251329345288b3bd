import { nodeCacheLimitOf } from './lifecycle';

describe('nodeCacheLimitOf', () => {
  const nodeCache = { maxBytes: 0, fraction: 0.5, groups: { nightly: 2_000_000 } };
  test.each([
    ['GIVEN a group with its own limit THEN its bytes', nodeCache, 'nightly', { bytes: 2_000_000 }],
    [
      'GIVEN a group without one and no service limit THEN the share of the disk',
      nodeCache,
      'default',
      { fraction: 0.5 },
    ],
    [
      'GIVEN a service byte limit THEN it, for groups without their own',
      { ...nodeCache, maxBytes: 9_000 },
      'default',
      { bytes: 9_000 },
    ],
  ])('%s', (_n, config, group, want) => {
    expect(nodeCacheLimitOf(config, group)).toEqual(want);
  });
});
