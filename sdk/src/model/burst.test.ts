import { frameTimeStats, localWorkers, planReasonsKey } from './burst';

describe('planReasonsKey', () => {
  it('is the same when only counts and times change, and differs when what the plan does changes', () => {
    // GIVEN the reasons of three plans a cycle apart
    const a = planReasonsKey([
      'shot: 32 frames would finish locally too late (local finish in 1m22s, due in 31s): offload 4 now',
    ]);
    const b = planReasonsKey([
      'shot: 28 frames would finish locally too late (local finish in 1m15s, due in 30s): offload 3 now',
    ]);
    const c = planReasonsKey([
      'shot: 28 frames would finish locally too late (local finish in 1m15s, due in 30s): 5 stay local',
    ]);
    // THEN the first two are one plan (logged once), the third a change
    expect(a).toBe(b);
    expect(c).not.toBe(b);
  });
});

describe('localWorkers', () => {
  it.each([
    ['no workers', [], { idle: 0, busy: 0 }],
    [
      'local workers of two groups',
      [
        { group: 'a', idle: 1, busy: 2 },
        { group: 'b', idle: 3, busy: 4, offline: 5 },
      ],
      { idle: 4, busy: 6 },
    ],
    [
      'cloud workers that joined are left out',
      [
        { group: 'a', idle: 1, busy: 2 },
        { group: 'a', idle: 7, busy: 8, capacityGroup: 'cloud-workers' },
      ],
      { idle: 1, busy: 2 },
    ],
  ] as const)('%s', (_name, workers, want) => {
    expect(localWorkers({ workers })).toEqual(want);
  });
});

describe('frameTimeStats', () => {
  it.each([
    ['none', [], undefined],
    ['one frame: no spread', [12], { meanMs: 12_000, stdevMs: 0, samples: 1 }],
    ['three frames: the sample deviation', [10, 12, 14], { meanMs: 12_000, stdevMs: 2000, samples: 3 }],
  ] as const)('%s', (_name, seconds, want) => {
    expect(frameTimeStats(seconds)).toEqual(want);
  });
});
