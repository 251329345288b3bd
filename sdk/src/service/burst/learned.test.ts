import type { ComputeNode } from '../../compute/backend';
import { GROUP_FIGURE_DEFAULTS, type GroupFigures } from '../../policy/config';
import { fitLine, GroupLearner, LEARNING_THRESHOLDS } from './learned';

const T0 = Date.UTC(2026, 10, 22, 10);
const at = (s: number): Date => new Date(T0 + s * 1000);
const configured: GroupFigures = { ...GROUP_FIGURE_DEFAULTS, turnaroundTargetSeconds: 3600 };
const node = (
  id: string,
  state: ComputeNode['state'],
  createdAt: number,
  priority: 'spot' | 'dedicated' = 'spot',
): ComputeNode => ({
  id,
  group: 'g',
  state,
  priority,
  runningTasks: state === 'running' ? 1 : 0,
  createdAt: at(createdAt),
});
const key = { source: 'deadline:a', sourceJobId: 'job' };
const frame = (learner: GroupLearner, id: string, start: number, end: number, sourceJobId = 'job'): void => {
  learner.observeFrameEvent(
    { type: 'started', frameId: id, time: at(start), key: { ...key, sourceJobId } },
    'g',
  );
  learner.observeFrameEvent(
    { type: 'succeeded', frameId: id, time: at(end), key: { ...key, sourceJobId } },
    'g',
  );
};
const local = (meanSeconds: number, samples = 5) => ({ meanMs: meanSeconds * 1000, stdevMs: 0, samples });

describe('GroupLearner', () => {
  it('plans with the configured figures until it has observed anything', () => {
    // GIVEN a learner that saw nothing WHEN asked THEN every figure is the configured one
    const p = new GroupLearner().parameters('g', configured);
    expect(p).toEqual({
      capacityGroup: 'g',
      nodeBootSeconds: { value: 420, source: 'configured', samples: 0 },
      cloudFrameTimeRatio: { value: 1, source: 'configured', samples: 0 },
      transferSecondsPerFrame: { value: 10, source: 'configured', samples: 0 },
      spotEvictionsPerNodeHour: { value: 0.05, source: 'configured', samples: 0 },
      billingGranularitySeconds: { value: 60, source: 'configured', samples: 0 },
      turnaroundTargetSeconds: 3600,
    });
  });

  it('learns the boot time from nodeReady events, and from listings when no event comes', () => {
    const learner = new GroupLearner();
    // GIVEN node a created at 0, seen booting, ready by event at 300 s
    learner.observeNodes('g', [node('a', 'starting', 0), node('b', 'creating', 10)], at(20));
    learner.observeCapacityEvent({ type: 'nodeReady', group: 'g', nodeId: 'a', time: at(300) });
    // AND node b seen ready at a listing at 510 s with no event
    learner.observeNodes('g', [node('a', 'idle', 0), node('b', 'idle', 10)], at(510));
    // AND node c ready before we ever saw it booting: no boot counted for it
    learner.observeNodes('g', [node('a', 'idle', 0), node('b', 'idle', 10), node('c', 'idle', 400)], at(600));
    // THEN the boot time is the mean of the two boots seen (300 s and 500 s)
    expect(learner.parameters('g', configured).nodeBootSeconds).toEqual({
      value: 400,
      source: 'observed',
      samples: 2,
    });
    expect(LEARNING_THRESHOLDS.bootSamples).toBe(2);
  });

  it('an event before the node is listed still counts once the node shows up', () => {
    const learner = new GroupLearner();
    learner.observeCapacityEvent({ type: 'nodeReady', group: 'g', nodeId: 'a', time: at(250) });
    learner.observeNodes('g', [node('a', 'idle', 0)], at(260));
    learner.observeCapacityEvent({ type: 'nodeReady', group: 'g', nodeId: 'b', time: at(350) });
    learner.observeNodes('g', [node('a', 'idle', 0), node('b', 'running', 0)], at(400));
    expect(learner.parameters('g', configured).nodeBootSeconds).toEqual({
      value: 300,
      source: 'observed',
      samples: 2,
    });
  });

  it('learns evictions per spot node-hour once an hour of spot nodes was observed', () => {
    const learner = new GroupLearner();
    // GIVEN 2 spot nodes running for 30 minutes, then 1 preemption: half an hour of data
    learner.observeNodes(
      'g',
      [node('a', 'running', 0), node('b', 'running', 0), node('d', 'running', 0, 'dedicated')],
      at(0),
    );
    learner.observeCapacityEvent({ type: 'nodePreempted', group: 'g', nodeId: 'a', time: at(1700) });
    learner.observeNodes('g', [node('b', 'running', 0)], at(900));
    // THEN still configured (0.5 spot node-hours)
    expect(learner.parameters('g', configured).spotEvictionsPerNodeHour.source).toBe('configured');
    // WHEN one more spot node-hour passes (b alone for an hour)
    learner.observeNodes('g', [node('b', 'running', 0)], at(900 + 3600));
    // THEN 1 eviction over 1.5 node-hours (dedicated nodes do not count)
    const e = learner.parameters('g', configured).spotEvictionsPerNodeHour;
    expect(e.source).toBe('observed');
    expect(e.value).toBeCloseTo(1 / 1.5, 5);
  });

  it('fits cloud = ratio × local + transfer over jobs with different frame times', () => {
    const learner = new GroupLearner();
    // GIVEN two jobs: 100 s local frames take 130 s in the cloud, 200 s ones take 230 s
    frame(learner, 'f1', 0, 130, 'short');
    frame(learner, 'f2', 0, 130, 'short');
    frame(learner, 'f3', 0, 230, 'long');
    frame(learner, 'f4', 0, 230, 'long');
    const localTimes = new Map([
      ['deadline:a\0short', local(100)],
      ['deadline:a\0long', local(200)],
    ]);
    // WHEN asked THEN ratio 1 and transfer 30 s per frame, observed
    const p = learner.parameters('g', configured, localTimes);
    expect(p.cloudFrameTimeRatio.source).toBe('observed');
    expect(p.cloudFrameTimeRatio.value).toBeCloseTo(1, 6);
    expect(p.transferSecondsPerFrame.value).toBeCloseTo(30, 6);
    expect(learner.cloudFrameTime('g', 'deadline:a', 'short')).toEqual({
      meanMs: 130_000,
      stdevMs: 0,
      samples: 2,
    });
  });

  it('with one frame time, keeps the configured transfer and learns the ratio', () => {
    const learner = new GroupLearner();
    // GIVEN 3 cloud frames of 130 s for a job whose local frames take 100 s
    for (const id of ['a', 'b', 'c']) frame(learner, id, 0, 130);
    const p = learner.parameters('g', configured, new Map([['deadline:a\0job', local(100)]]));
    // THEN ratio (130 - 10) / 100, transfer still the configured 10 s
    expect(p.cloudFrameTimeRatio).toEqual({ value: 1.2, source: 'observed', samples: 3 });
    expect(p.transferSecondsPerFrame).toEqual({ value: 10, source: 'configured', samples: 0 });
  });

  it('ignores frames that never succeeded, and needs local times of the same job', () => {
    const learner = new GroupLearner();
    learner.observeFrameEvent({ type: 'started', frameId: 'x', time: at(0), key }, 'g');
    learner.observeFrameEvent({ type: 'failed', frameId: 'x', time: at(50), key }, 'g');
    learner.observeFrameEvent({ type: 'succeeded', frameId: 'x', time: at(90), key }, 'g');
    for (const id of ['a', 'b', 'c']) frame(learner, id, 0, 130);
    // No local frame times of that job: nothing to compare with
    expect(learner.parameters('g', configured).cloudFrameTimeRatio.source).toBe('configured');
    expect(learner.cloudFrameTime('g', 'deadline:a', 'job')!.samples).toBe(3);
  });
});

describe('fitLine', () => {
  it.each([
    [
      'a line',
      [
        { local: 1, cloud: 3, w: 1 },
        { local: 2, cloud: 5, w: 1 },
      ],
      { slope: 2, intercept: 1 },
    ],
    [
      'one local time: no line',
      [
        { local: 1, cloud: 3, w: 1 },
        { local: 1, cloud: 5, w: 1 },
      ],
      undefined,
    ],
    ['no data', [], undefined],
  ] as const)('%s', (_name, pairs, expected) => {
    const fit = fitLine(pairs);
    if (expected === undefined) expect(fit).toBeUndefined();
    else {
      expect(fit!.slope).toBeCloseTo(expected.slope, 9);
      expect(fit!.intercept).toBeCloseTo(expected.intercept, 9);
    }
  });
});
