import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { DEADLINE_TESTING_BIN, FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger } from '@spillway/sdk';
import { eventually, liveInstances, startWorkerBurstRig, workerGroup, type WorkerBurstRig } from './farm';
import { RESOURCE_GROUP } from './support';

// Spot eviction mid-frame (#15). GIVEN a Deadline farm whose worker-burst group has two
// cloud workers rendering, through the service and the bridge
// WHEN Azure evicts one of them, injected through the ARM emulator (`simulateEviction`: a
// Preempt scheduled event, the eviction NOTICE_MS later)
// THEN its frame is back in Deadline's queue within seconds of the notice (the start-up's
// watcher stops the worker, which gives the frame back; Deadline's stall timeout is never
// reached), it completes exactly once on another worker, the evicted worker's record is
// removed, and the eviction and the render time it interrupted show in the group's status
// (evictions, lost work and what it cost) and in the cost report.

const GROUP = 'spot-workers';
const NOTICE_MS = 10_000;

describe('worker burst: a Spot eviction mid-frame', () => {
  let rig: WorkerBurstRig;
  let farm: FakeDeadline;
  let bridge: DeadlineBridge | undefined;
  let logs = '';

  beforeAll(async () => {
    farm = await FakeDeadline.start({ workers: [], pollIntervalMs: 100, stallTimeoutMs: 300_000 });
    rig = await startWorkerBurstRig({
      emulator: {
        lroDelayMs: 20,
        bootDelayMs: 300,
        killGraceMs: 1000,
        evictionNoticeMs: NOTICE_MS,
        imagePath: [DEADLINE_TESTING_BIN],
        instanceEnvironment: { DEADLINE_BIN: DEADLINE_TESTING_BIN, SPILLWAY_NOTICE_POLL_SECONDS: '0.5' },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await bridge?.close();
    await rig?.close();
    await farm?.close();
  });

  it("requeues the evicted worker's frame at once; it completes once elsewhere; the loss is metered", async () => {
    await rig.client.capacity.ensure(
      workerGroup(GROUP, { renderManager: 'deadline', farmAddress: new URL(farm.url).host }),
    );
    bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: farm.url,
        service: rig.address,
        name: 'spot',
        stateDir: path.join(rig.dir, 'bridge'),
        pollIntervalMs: 400,
        workerGroups: [GROUP],
      }),
      { logger: createLogger({ name: 'bridge', write: (line) => (logs += `${line}\n`) }) },
    );
    const jobId = farm.submitJob(
      { Plugin: 'CommandLine', Name: 'spot-shot', Frames: '1-4' },
      { Executable: '/bin/sleep', Arguments: '5' },
    );
    await rig.client.capacity.resize(GROUP, { dedicated: 0, spot: 2 });
    await eventually(
      'two cloud workers rendering',
      () => farm.tasks(jobId).filter((t) => t.state === 'rendering').length === 2,
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1500)); // the frames are well under way
    const victim = farm.tasks(jobId).find((t) => t.state === 'rendering')!;
    const node = liveInstances(rig.emulator, GROUP).find((i) => i.host === victim.worker)!;

    // WHEN Azure gives its eviction notice
    const noticeAt = Date.now();
    rig.emulator.simulateEviction(RESOURCE_GROUP, GROUP, node.id);
    // THEN the frame is back in the queue within seconds, long before the eviction
    await eventually(
      'the frame given back',
      () =>
        farm.renders.some(
          (r) => r.taskId === victim.taskId && r.worker === victim.worker && r.exitCode === null,
        ),
      NOTICE_MS - 2000,
    );
    const requeuedAfterMs = Date.now() - noticeAt;
    expect(requeuedAfterMs).toBeLessThan(NOTICE_MS);
    // AND it completes exactly once, on another worker; every task completes once
    await eventually('the job done', () => farm.summary(jobId).completed === 4, 60_000);
    const ok = farm.renders.filter((r) => r.jobId === jobId && r.exitCode === 0);
    expect(ok.map((r) => r.taskId).sort()).toEqual([0, 1, 2, 3]);
    expect(ok.find((r) => r.taskId === victim.taskId)!.worker).not.toBe(victim.worker);
    expect(farm.stallRequeues).toBe(0);
    // AND once the instance is evicted, its worker's record goes and the loss is metered
    await eventually(
      'the eviction metered',
      async () => (await rig.client.capacity.get(GROUP)).evictedWork.evictions === 1,
      NOTICE_MS + 20_000,
    );
    await eventually(
      'the evicted worker removed',
      () => !farm.workerList().some((w) => w.name === victim.worker),
      20_000,
    );
    const group = await rig.client.capacity.get(GROUP);
    expect(group.evictedWork.lostMs).toBeGreaterThan(1000);
    expect(group.evictedWork.lostCost).toBeCloseTo((group.evictedWork.lostMs / 3_600_000) * 0.1, 10);
    expect(group.evictedWork.lostCost).toBeGreaterThan(0);
    // AND in the cost report: the group's eviction, the render it interrupted and its cost
    const report = await rig.client.costReport();
    const cost = report.groups.find((g) => g.capacityGroup === GROUP)!;
    expect(cost.evictions.nodes).toBe(1);
    expect(cost.evictions.lostAttempts).toBe(1);
    expect(cost.evictions.lostNodeHours).toBeCloseTo(group.evictedWork.lostMs / 3_600_000, 10);
    expect(cost.evictions.lostCost).toBeCloseTo(group.evictedWork.lostCost, 10);

    // Clean up through the service: the group drains to 0.
    await rig.client.capacity.resize(GROUP, { dedicated: 0, spot: 0 });
    await eventually('the scale set at 0', () => liveInstances(rig.emulator, GROUP).length === 0, 60_000);
  }, 180_000);
});
