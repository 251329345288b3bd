import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { BurstServiceError, createLogger } from '@spillway/sdk';
import {
  DEADLINE_WORKER_IMAGE,
  eventually,
  liveInstances,
  startWorkerBurstRig,
  workerGroup,
  type WorkerBurstRig,
} from './farm';

// Both burst modes on one farm under one budget (#15). GIVEN one Deadline farm (a local
// worker in group "offload"), one service with a 1.00/h budget, a frame-offload group
// "cloud-frames" (the local engine, 0.20/h per spot node) and a worker-burst group
// "cloud-workers" (scale sets over the ARM emulator, 0.25/h per spot node) whose workers join
// Deadline group "cloud", and one bridge serving both
// WHEN a job of group "offload" overflows the local worker while a job of group "cloud" waits
// for cloud workers
// THEN the budget is one: with the offload group pinned at 2 nodes (0.40/h), growing the
// worker-burst group to 3 (0.75/h) is refused naming the cap, 2 (0.50/h) is accepted;
// the first job's overflow is offloaded as frames and comes back Completed, the second job
// is rendered by the cloud workers that joined, every task of both is Completed exactly
// once, and the worker-burst group drains to 0 at the end.

describe('frame offload and worker burst on one farm, one budget', () => {
  let rig: WorkerBurstRig;
  let farm: FakeDeadline;
  let bridge: DeadlineBridge | undefined;
  let logs = '';

  beforeAll(async () => {
    farm = await FakeDeadline.start({
      workers: [{ name: 'local-1', groups: ['offload'] }],
      pollIntervalMs: 100,
      stallTimeoutMs: 300_000,
    });
    rig = await startWorkerBurstRig({
      config: { 'budget.maxSpendPerHour': 1 },
      emulator: DEADLINE_WORKER_IMAGE,
    });
  }, 60_000);

  afterAll(async () => {
    await bridge?.close();
    await rig?.close();
    await farm?.close();
  });

  it('offloads one job, bursts workers for the other, and keeps both under the one cap', async () => {
    await rig.client.capacity.ensure({
      name: 'cloud-frames',
      mode: 'frame-offload',
      vmSize: 'local-2',
      maxDedicatedNodes: 0,
      maxSpotNodes: 2,
      cost: { dedicated: 0.3, spot: 0.2 },
    });
    await rig.client.capacity.ensure(
      workerGroup(
        'cloud-workers',
        { renderManager: 'deadline', farmAddress: new URL(farm.url).host, groups: ['cloud'] },
        { cost: { dedicated: 0.5, spot: 0.25 } },
      ),
    );
    // One budget: the offload group's nodes count against the worker-burst group's growth.
    await rig.client.capacity.resize('cloud-frames', { dedicated: 0, spot: 2 });
    const refused = await rig.client.capacity.resize('cloud-workers', { dedicated: 0, spot: 3 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(BurstServiceError);
    expect(refused).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect((refused as Error).message).toContain('over budget.maxSpendPerHour of 1.00 USD/h');
    await rig.client.capacity.resize('cloud-workers', { dedicated: 0, spot: 2 });
    expect((await rig.client.capacity.budget()).projectedCostPerHour).toBeCloseTo(0.9, 6);

    const out = path.join(rig.dir, 'offload-out');
    fs.mkdirSync(out, { recursive: true });
    bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: farm.url,
        service: rig.address,
        name: 'both',
        stateDir: path.join(rig.dir, 'bridge'),
        pollIntervalMs: 400,
        capacityGroup: 'cloud-frames',
        workerGroups: ['cloud-workers'],
      }),
      { logger: createLogger({ name: 'bridge', write: (line) => (logs += `${line}\n`) }) },
    );
    const offloadJob = farm.submitJob(
      { Plugin: 'CommandLine', Name: 'offloaded', Frames: '1-6', Group: 'offload', OutputDirectory0: out },
      { Executable: '/bin/sleep', Arguments: '2' },
    );
    const burstJob = farm.submitJob(
      { Plugin: 'CommandLine', Name: 'on-cloud-workers', Frames: '1-6', Group: 'cloud' },
      { Executable: '/bin/sleep', Arguments: '1' },
    );

    await eventually(
      'both jobs complete',
      () => farm.summary(offloadJob).completed === 6 && farm.summary(burstJob).completed === 6,
      120_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(farm.tasks(offloadJob))}\n${logs}`);
    });
    // The first job's overflow went out as frames and came back; the second ran on cloud workers.
    expect(bridge.counters.offloaded).toBeGreaterThan(0);
    expect(bridge.counters.completed).toBe(bridge.counters.offloaded);
    const cloudHosts = new Set(liveInstances(rig.emulator, 'cloud-workers').map((i) => i.host));
    const burstRenders = farm.renders.filter((r) => r.jobId === burstJob);
    expect(burstRenders.every((r) => cloudHosts.has(r.worker) && r.exitCode === 0)).toBe(true);
    expect(burstRenders.map((r) => r.taskId).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    // Every offload-job task Completed once: locally by a render, or from the cloud by the bridge.
    const localOk = farm.renders
      .filter((r) => r.jobId === offloadJob && r.exitCode === 0)
      .map((r) => r.taskId);
    expect(new Set(localOk).size).toBe(localOk.length);
    expect(localOk.length + bridge.counters.completed).toBe(6);
    expect((await rig.client.capacity.budget()).projectedCostPerHour).toBeLessThanOrEqual(1 + 1e-9);

    await rig.client.capacity.resize('cloud-workers', { dedicated: 0, spot: 0 });
    await eventually(
      'the worker-burst group at 0',
      () => liveInstances(rig.emulator, 'cloud-workers').length === 0,
      60_000,
    );
  }, 240_000);
});
