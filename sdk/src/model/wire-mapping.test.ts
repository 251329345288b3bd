import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import type { BurstPlan, BurstStatus, FarmReport } from './burst';
import type { Frame, FrameEvent, FrameSubmission, Job } from './frames';
import * as m from './wire-mapping';

// GIVEN an SDK value with every field set (to a value that is not the wire default)
// WHEN it goes SDK -> wire -> SDK through the one mapping module
// THEN it comes back equal, AND every field of the wire message (checked against the .proto
// descriptors, so a field added to the .proto but not mapped fails here) was set.

const protoRoot = path.resolve(__dirname, '../../../proto');

function loadDescriptors(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) =>
    target.startsWith('google/') ? target : path.join(protoRoot, target);
  root.loadSync(
    ['common', 'burst', 'frames'].map((f) => `spillway/v1/${f}.proto`),
    { keepCase: false },
  );
  root.resolveAll();
  return root;
}

const root = loadDescriptors();

/** Wire fields (dotted paths) left at their default in `value` of message type `type`. */
function unsetFields(type: protobuf.Type, value: unknown, at = ''): string[] {
  const out: string[] = [];
  const obj = value as Record<string, unknown>;
  for (const field of type.fieldsArray) {
    const name = field.name;
    const where = at ? `${at}.${name}` : name;
    if (field.partOf && field.partOf.oneof.length > 1) continue; // one member of a oneof is set at a time
    const v = obj[name];
    const resolved = field.resolvedType;
    if (field.map) {
      if (!v || Object.keys(v as object).length === 0) out.push(where);
      continue;
    }
    if (field.repeated) {
      const list = v as unknown[] | undefined;
      if (!list || list.length === 0) out.push(where);
      else if (resolved instanceof protobuf.Type && !resolved.fullName.startsWith('.google.'))
        list.forEach((item, i) => out.push(...unsetFields(resolved, item, `${where}[${i}]`)));
      continue;
    }
    if (resolved instanceof protobuf.Type) {
      if (v === undefined || v === null) out.push(where);
      else if (!resolved.fullName.startsWith('.google.')) out.push(...unsetFields(resolved, v, where));
      continue;
    }
    if (v === undefined || v === null || v === '' || v === 0 || v === false) out.push(where);
  }
  return out;
}

const type = (name: string): protobuf.Type => root.lookupType(`spillway.v1.${name}`);
const t = (s: string): Date => new Date(s);

const report: FarmReport = {
  source: 'deadline:studio-a',
  sourceKind: 'deadline',
  observedAt: t('2026-11-22T10:11:12.345Z'),
  jobs: [
    {
      sourceJobId: 'job-1',
      name: 'shot 10',
      priority: 70,
      group: 'gpu',
      pool: 'fx',
      queuedFrames: 12,
      renderingFrames: 2,
      offloadedFrames: 3,
      completedFrames: 4,
      submittedAt: t('2026-11-22T09:00:00.000Z'),
      deadline: t('2026-11-22T12:00:00.000Z'),
      frameTimeMs: 61_500.25,
      localFrameTime: { meanMs: 62_000.5, stdevMs: 3_000.125, samples: 4 },
      cloudFrameTime: { meanMs: 70_000, stdevMs: 2_500, samples: 2 },
      rendering: [
        { sourceTaskId: '7', startedAt: t('2026-11-22T10:10:00.000Z'), progress: 0.25 },
        { sourceTaskId: '8', startedAt: t('2026-11-22T10:11:00.000Z'), progress: 0.5 },
      ],
      burstable: true,
      capacityGroup: 'batch-east',
    },
  ],
  workers: [{ group: 'gpu', idle: 1, busy: 2, offline: 3, capacityGroup: 'burst-workers' }],
};

const plan: BurstPlan = {
  planId: 'p-1',
  createdAt: t('2026-11-22T10:11:13.000Z'),
  planner: 'greedy',
  offload: [{ sourceJobId: 'job-1', frameCount: 5, capacityGroup: 'batch-east' }],
  recall: [{ sourceJobId: 'job-2', frameCount: 1 }],
  targets: [
    {
      capacityGroup: 'batch-east',
      dedicatedNodes: 1,
      spotNodes: 4,
      costPerHour: 1.25,
      reasons: ['scale out: 4 spot nodes'],
    },
  ],
  jobs: [
    {
      sourceJobId: 'job-1',
      capacityGroup: 'batch-east',
      dueAt: t('2026-11-22T12:00:00.000Z'),
      projectedLocalFinishAt: t('2026-11-22T12:30:00.000Z'),
      cloudFrames: 9,
      offloadFrames: 5,
      recallFrames: 1,
      reason: '9 frames would finish locally too late',
    },
  ],
  projectedCostPerHour: 1.25,
  reasons: ['job-1: offload 5 now'],
  reportIntervalMs: 2500.5,
};

const param = (value: number, source: 'configured' | 'observed', samples: number) => ({
  value,
  source,
  samples,
});
const status: BurstStatus = {
  maxSpendPerHour: 10,
  costPerHour: 2.5,
  spentTotal: 7.25,
  currency: 'EUR',
  groups: [
    { capacityGroup: 'batch-east', dedicatedNodes: 1, spotNodes: 2, costPerHour: 2.5, reasons: ['steady'] },
  ],
  sources: [
    {
      source: 'deadline:studio-a',
      sourceKind: 'opencue',
      lastReportAt: t('2026-11-22T10:11:12.000Z'),
      queuedFrames: 12,
      cloudFrames: 3,
      lastPlan: plan,
    },
  ],
  parameters: [
    {
      capacityGroup: 'batch-east',
      nodeBootSeconds: param(385.5, 'observed', 4),
      cloudFrameTimeRatio: param(1.25, 'observed', 12),
      transferSecondsPerFrame: param(10, 'configured', 1),
      spotEvictionsPerNodeHour: param(0.05, 'configured', 2),
      billingGranularitySeconds: param(60, 'configured', 3),
      turnaroundTargetSeconds: 3600,
    },
  ],
  planner: 'greedy',
};

const frame: Frame = {
  key: { source: 'deadline:studio-a', sourceJobId: 'job-1', sourceTaskId: '7' },
  frameId: 'f-1',
  jobId: 'j-1',
  state: 'running',
  frameStart: 7,
  frameEnd: 9,
  attempts: 2,
  preemptions: 1,
  nodeId: 'node-3',
  exitCode: 3,
  message: 'retrying',
  submittedAt: t('2026-11-22T10:00:00.000Z'),
  startedAt: t('2026-11-22T10:01:00.000Z'),
  finishedAt: t('2026-11-22T10:02:00.000Z'),
  outputs: [{ path: 'out/0007.png', sizeBytes: 1234, sha256: 'ab'.repeat(32) }],
  cost: 0.5,
};

const job: Job = {
  jobId: 'j-1',
  spec: {
    source: 'deadline:studio-a',
    sourceKind: 'deadline',
    sourceJobId: 'job-1',
    name: 'shot 10',
    capacityGroup: 'batch-east',
    commandTemplate: 'blender -b scene.blend -f #FRAME#',
    assetManifestId: 'm-1',
    outputPatterns: ['out/*.png'],
    outputDestination: '/mnt/out',
    sharedOutput: { mount: 'renders', path: 'shot10/out' },
    environment: { A: 'b' },
    maxRetries: 2,
    priority: 70,
    deadline: t('2026-11-22T12:00:00.000Z'),
    frameTimeoutMs: 3_600_000.5,
    gpus: 2,
  },
  state: 'completed',
  counts: { queued: 1, running: 2, succeeded: 3, failed: 4, recalled: 5, cancelled: 6 },
  createdAt: t('2026-11-22T10:00:00.000Z'),
  updatedAt: t('2026-11-22T10:05:00.000Z'),
  cost: 1.5,
};

const event: FrameEvent = {
  cursor: '42',
  time: t('2026-11-22T10:02:00.000Z'),
  type: 'succeeded',
  key: frame.key,
  frameId: 'f-1',
  jobId: 'j-1',
  state: 'succeeded',
  attempt: 2,
  nodeId: 'node-3',
  exitCode: 4,
  message: 'done',
  outputs: frame.outputs,
};

const submission: FrameSubmission = { key: frame.key, frameId: 'f-1', created: true, state: 'recalled' };

const cases = [
  ['FarmState', report, m.farmReportToWire, (w: never) => m.farmReportFromWire(w)],
  ['BurstPlan', plan, m.burstPlanToWire, (w: never) => m.burstPlanFromWire(w)],
  ['GetBurstStatusResponse', status, m.burstStatusToWire, m.burstStatusFromWire],
  ['Frame', frame, m.frameToWire, m.frameFromWire],
  ['Job', job, m.jobToWire, m.jobFromWire],
  ['FrameEvent', event, m.eventToWire, m.eventFromWire],
  ['FrameSubmission', submission, m.submissionToWire, m.submissionFromWire],
] as const;

describe('wire mapping: SDK -> wire -> SDK', () => {
  it.each(cases)('%s: every field comes back, and every wire field is set', (name, sdk, toWire, fromWire) => {
    // GIVEN the SDK value WHEN it is mapped to the wire
    const wire = (toWire as (x: unknown) => unknown)(sdk);
    // THEN no wire field is left at its default (a field the mapping forgets shows here)
    expect(unsetFields(type(name), wire)).toEqual([]);
    // AND mapped back it equals what went in
    expect((fromWire as (x: unknown) => unknown)(wire)).toEqual(sdk);
  });

  it('leaves unset what the report does not say (no deadline, progress, frame times, start)', () => {
    // GIVEN a job that reports only counts
    const bare: FarmReport = {
      source: 's',
      observedAt: t('2026-11-22T10:00:00.000Z'),
      jobs: [
        {
          sourceJobId: 'j',
          priority: 0,
          group: '',
          queuedFrames: 1,
          renderingFrames: 1,
          offloadedFrames: 0,
          completedFrames: 0,
          rendering: [{}],
          burstable: false,
        },
      ],
      workers: [{ group: '', idle: 0, busy: 1 }],
    };
    // WHEN it goes to the wire and back THEN nothing was invented on the way
    expect(m.farmReportFromWire(m.farmReportToWire(bare))).toEqual({ ...bare, sourceKind: 'client' });
    // AND a progress of 0 is kept (it says "just started"), distinct from unset
    const zero = m.renderingFrameFromWire(m.renderingFrameToWire({ progress: 0 }));
    expect(zero).toEqual({ progress: 0 });
  });

  it('an unset report time becomes the time the service received it', () => {
    const received = t('2026-11-22T10:00:00.000Z');
    const wire = { ...m.farmReportToWire(report), observedAt: undefined };
    expect(m.farmReportFromWire(wire, received).observedAt).toEqual(received);
  });

  it.each([
    // ms, seconds, nanos
    [0, 0, 0],
    [1, 0, 1_000_000],
    [1500, 1, 500_000_000],
    [0.000001, 0, 1],
    [61_500.25, 61, 500_250_000],
    [-1500, -1, -500_000_000],
  ])('a duration of %p ms is %p s + %p ns on the wire, and back', (ms, seconds, nanos) => {
    expect(m.durationToWire(ms)).toEqual({ seconds, nanos });
    expect(m.durationFromWire({ seconds, nanos })).toBeCloseTo(ms, 9);
  });
});
