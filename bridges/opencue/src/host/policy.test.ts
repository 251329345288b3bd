import { shouldOpen, type OpenInput } from './open';
import { cloudJobId, coreDetail, jobDeadline } from './policy';
import { farmReport, finishedFramesOf, layerGroupOf, renderingFramesOf } from './report';

const busy: OpenInput = {
  burstableWaiting: 10,
  planOffload: 4,
  bookedUnits: 0,
  totalUnits: 800,
};

describe('shouldOpen', () => {
  // The plan decides how many frames leave (the burst policy has counted the farm's idle
  // cores); the host offers one core per frame it offloads, within its free cores.
  it.each<[string, Partial<OpenInput>, boolean, number]>([
    ['plan offloads 4, burst frames wait', {}, true, 400],
    ['nothing burstable waits', { burstableWaiting: 0 }, false, 0],
    ['plan offloads nothing', { planOffload: 0 }, false, 0],
    ['host fully booked', { bookedUnits: 800 }, false, 0],
    ['more offloaded than the host has free', { planOffload: 9, bookedUnits: 300 }, true, 500],
  ])('GIVEN %s WHEN deciding THEN open is %p, offering %p units', (_name, over, open, units) => {
    const d = shouldOpen({ ...busy, ...over });
    expect(d.open).toBe(open);
    expect(d.offerUnits).toBe(units);
  });
});

describe('coreDetail', () => {
  it.each([
    [400, 100, true, { total_cores: 400, idle_cores: 300, locked_cores: 0, booked_cores: 100 }],
    [400, 100, false, { total_cores: 400, idle_cores: 0, locked_cores: 400, booked_cores: 100 }],
    [400, 500, true, { total_cores: 400, idle_cores: 0, locked_cores: 0, booked_cores: 400 }],
  ])('GIVEN %p units, %p booked, open %p WHEN reported THEN %p', (total, booked, open, detail) => {
    expect(coreDetail(total, booked, open)).toEqual(detail);
  });

  it("GIVEN an open host offering the plan's 2 frames WHEN reported THEN 2 cores idle, the rest locked", () => {
    expect(coreDetail(800, 100, true, 200)).toEqual({
      total_cores: 800,
      idle_cores: 200,
      locked_cores: 500,
      booked_cores: 100,
    });
  });
});

describe('jobDeadline', () => {
  it.each<[string, Record<string, string>, string]>([
    ['no deadline carried', {}, '2026-01-01T02:00:00.000Z'],
    ['an ISO deadline', { SPILLWAY_DEADLINE: '2026-01-01T00:30:00Z' }, '2026-01-01T00:30:00.000Z'],
    ['an epoch deadline', { SPILLWAY_DEADLINE: '1767229200' }, '2026-01-01T01:00:00.000Z'],
    ['an unreadable deadline', { SPILLWAY_DEADLINE: 'soon' }, '2026-01-01T02:00:00.000Z'],
  ])('GIVEN %s WHEN resolved THEN %s', (_name, env, iso) => {
    const submitted = Date.parse('2026-01-01T00:00:00Z') / 1000;
    expect(jobDeadline(submitted, 7200, env).toISOString()).toBe(iso);
  });
});

describe('cloudJobId', () => {
  it('GIVEN a relaunch WHEN named THEN it differs from the first launch', () => {
    expect(cloudJobId('j', 'f', 1)).not.toBe(cloudJobId('j', 'f', 2));
  });
});

describe('farmReport', () => {
  it('GIVEN observed jobs WHEN reported THEN source kind, names, local frame times and rendering starts go to the service', () => {
    // GIVEN a job whose burst layer had 3 frames finish on local hosts (10, 12 and 14 s), one
    // finish on this host (the cloud's, left out), and one rendering locally since 1,000 s
    const frames = [
      { id: 'f1', state: 'SUCCEEDED', start_time: 100, stop_time: 110, last_resource: 'local-1/1.00/0' },
      { id: 'f2', state: 'SUCCEEDED', start_time: 100, stop_time: 112, last_resource: 'local-2/1.00/0' },
      { id: 'f3', state: 'SUCCEEDED', start_time: 120, stop_time: 134, last_resource: 'local-1/1.00/0' },
      { id: 'f4', state: 'SUCCEEDED', start_time: 100, stop_time: 200, last_resource: 'azure/1.00/0' },
      {
        id: 'f5',
        name: '0005-render',
        state: 'RUNNING',
        start_time: 1000,
        stop_time: 0,
        last_resource: 'local-2/1',
      },
    ];
    const here = new Set(['f4']);
    const r = farmReport({
      source: 'opencue:h',
      now: new Date(2_000_000),
      jobs: [
        {
          id: 'j1',
          name: 'shot-lighting',
          priority: 150,
          startTime: 0,
          waitingFrames: 4,
          runningFrames: 2,
          offloadedFrames: 1,
          succeededFrames: 4,
          burstable: true,
          finished: finishedFramesOf(frames, here),
          rendering: renderingFramesOf(frames, here),
        },
      ],
      hosts: [
        { name: 'local-1', cores: 1.5, idleCores: 0.5, usable: true },
        { name: 'local-2', cores: 1, idleCores: 0, usable: true },
      ],
      turnaroundSeconds: 3600,
    });
    // THEN
    expect(r.sourceKind).toBe('opencue');
    expect(r.jobs[0]).toMatchObject({
      name: 'shot-lighting',
      priority: 100,
      group: '',
      queuedFrames: 4,
      renderingFrames: 1,
      completedFrames: 4,
      localFrameTime: { meanMs: 12_000, stdevMs: 2000, samples: 3 },
      rendering: [{ sourceTaskId: '0005-render', startedAt: new Date(1_000_000) }],
    });
    expect(r.workers).toEqual([{ group: '', idle: 0, busy: 2 }]);
  });

  it('GIVEN RQD hosts that joined from a worker-burst group WHEN reported THEN they and their frames are apart from the farm', () => {
    // GIVEN 2 local 1-core hosts (one idle, one rendering f3 since 1,000 s), 2 cloud RQD hosts of
    // group `cue-workers` rendering f4 and f5, an idle locked local host, and finished frames:
    // 10 and 12 s locally, 30 s on a cloud host
    const frames = [
      { id: 'f1', state: 'SUCCEEDED', start_time: 100, stop_time: 110, last_resource: 'local-1/1.00/0' },
      { id: 'f2', state: 'SUCCEEDED', start_time: 100, stop_time: 112, last_resource: 'local-2/1.00/0' },
      { id: 'f6', state: 'SUCCEEDED', start_time: 100, stop_time: 130, last_resource: 'Cloud-0/1.00/0' },
      {
        id: 'f3',
        name: '0003-sleep',
        state: 'RUNNING',
        start_time: 1000,
        stop_time: 0,
        last_resource: 'local-2/1',
      },
      {
        id: 'f4',
        name: '0004-sleep',
        state: 'RUNNING',
        start_time: 1001,
        stop_time: 0,
        last_resource: 'cloud-0/1',
      },
      {
        id: 'f5',
        name: '0005-sleep',
        state: 'RUNNING',
        start_time: 1002,
        stop_time: 0,
        last_resource: 'cloud-1/1',
      },
    ];
    const r = farmReport({
      source: 'opencue:h',
      now: new Date(2_000_000),
      jobs: [
        {
          id: 'j1',
          priority: 50,
          startTime: 0,
          group: 'general',
          waitingFrames: 10,
          runningFrames: 3,
          offloadedFrames: 0,
          burstable: false,
          finished: finishedFramesOf(frames, new Set()),
          rendering: renderingFramesOf(frames, new Set()),
        },
      ],
      hosts: [
        { name: 'local-1', cores: 1, idleCores: 1, usable: true, tags: ['general'] },
        { name: 'local-2', cores: 1, idleCores: 0, usable: true, tags: ['general', 'linux'] },
        { name: 'local-3', cores: 2, idleCores: 2, usable: false, tags: ['general'] },
        { name: 'gpu-1', cores: 4, idleCores: 4, usable: true, tags: ['gpu'] },
        { name: 'cloud-0', cores: 1, idleCores: 0, usable: true, tags: ['general'] },
        { name: 'cloud-1', cores: 1, idleCores: 0, usable: true, tags: ['general'] },
      ],
      turnaroundSeconds: 60,
      cloudHosts: new Map([
        ['cloud-0', 'cue-workers'],
        ['cloud-1', 'cue-workers'],
      ]),
    });
    // THEN the job needs `general`, 1 frame renders locally (the 2 on cloud hosts are the group's), and
    // its local frame time leaves the cloud host's 30 s out
    expect(r.jobs[0]).toMatchObject({
      group: 'general',
      queuedFrames: 10,
      renderingFrames: 1,
      localFrameTime: { meanMs: 11_000, samples: 2 },
      rendering: [{ sourceTaskId: '0003-sleep', startedAt: new Date(1_000_000) }],
    });
    // AND the hosts are counted by their first tag, the cloud hosts apart, as the group's
    expect(r.workers).toEqual([
      { group: 'general', idle: 1, busy: 1, offline: 2 },
      { group: 'gpu', idle: 4, busy: 0 },
      { group: 'general', idle: 0, busy: 2, capacityGroup: 'cue-workers' },
    ]);
  });

  it.each<[string, string, string[][]]>([
    ['a layer tagged general and burst', 'general', [['general', 'burst']]],
    ['burst only', '', [['burst']]],
    ['the first layer with a tag of its own', 'gpu', [['burst'], ['gpu'], ['general']]],
    ['no tags', '', [[]]],
  ])('layerGroupOf: GIVEN %s THEN %p', (_what, want, tags) => {
    expect(
      layerGroupOf(
        tags.map((t) => ({ tags: t })),
        ['burst'],
      ),
    ).toBe(want);
  });
});
