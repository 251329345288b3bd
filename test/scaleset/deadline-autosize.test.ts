import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger } from '@spillway/sdk';
import {
  DEADLINE_WORKER_IMAGE,
  eventually,
  eventuallyPlanned,
  liveInstances,
  POLICY_PLANNING,
  startWorkerBurstRig,
  workerGroup,
  type WorkerBurstRig,
} from './farm';

// Worker burst sized by the burst policy (#15, #14), Deadline, end to end. GIVEN a 2-worker
// testing farm serving the Deadline group `cloud`, a real service planning with the policy,
// a worker-burst group whose instances join that group, and the Deadline bridge serving it
// WHEN a job of that group arrives that the farm alone would finish after its deadline
// THEN the plan grows the group (nobody resizes it by hand), the new workers register and
// render, and once the queue drains the plan shrinks the group to 0 by draining: every task
// Completed exactly once, none requeued. Needs `npx tsc -b`.

const GROUP = 'auto-workers';

describe('worker burst sized by the burst policy', () => {
  let rig: WorkerBurstRig;
  let farm: FakeDeadline;
  let bridge: DeadlineBridge | undefined;
  const logs: string[] = [];

  beforeAll(async () => {
    farm = await FakeDeadline.start({
      workers: [
        { name: 'local-1', groups: ['cloud'] },
        { name: 'local-2', groups: ['cloud'] },
      ],
      pollIntervalMs: 100,
      stallTimeoutMs: 300_000,
    });
    rig = await startWorkerBurstRig({
      config: POLICY_PLANNING,
      emulator: DEADLINE_WORKER_IMAGE,
    });
  }, 60_000);

  afterAll(async () => {
    await bridge?.close();
    await rig?.close();
    await farm?.close();
  });

  // The job names no output directory, so it could not be offloaded (frame offload): worker
  // burst must grow for it anyway (its frames never leave the farm).
  it('grows the group for a job too big for its deadline and shrinks it to 0 when the queue drains', async () => {
    const farmAddress = new URL(farm.url).host;
    await rig.client.capacity.ensure(
      workerGroup(GROUP, { renderManager: 'deadline', farmAddress, groups: ['cloud'] }),
    );
    bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: farm.url,
        service: rig.address,
        name: 'auto',
        stateDir: path.join(rig.dir, 'bridge'),
        pollIntervalMs: 500,
        workerGroups: [GROUP],
      }),
      { logger: createLogger({ name: 'bridge', write: (line) => logs.push(line) }) },
    );
    // GIVEN 30 tasks of 4 s on 2 workers (60 s), due in 45 s
    const jobId = farm.submitJob(
      {
        Plugin: 'CommandLine',
        Name: 'too-late',
        Frames: '1-30',
        Group: 'cloud',
        ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + 45_000).toISOString()}`,
      },
      { Executable: '/bin/sleep', Arguments: '4' },
    );

    // THEN the plan grows the group and its workers render tasks
    await eventuallyPlanned(rig, GROUP, 'the plan grows the group', (spot) => spot > 0, 40_000, logs);
    const owner = (await rig.client.capacity.get(GROUP)).targetOwner;
    await eventually(
      'a cloud worker rendering',
      () => {
        const cloud = new Set(liveInstances(rig.emulator, GROUP).map((i) => i.host));
        return farm.tasks(jobId).some((t) => t.state === 'rendering' && cloud.has(t.worker));
      },
      40_000,
    );
    const cloudWorkers = new Set(liveInstances(rig.emulator, GROUP).map((i) => i.host));
    await eventually('the job complete', () => farm.summary(jobId).completed === 30, 120_000);

    // AND once the queue drains, the plan shrinks the group to 0 by draining
    await eventuallyPlanned(
      rig,
      GROUP,
      'the plan shrinks the group to 0',
      (spot) => spot === 0,
      60_000,
      logs,
    );
    await eventually('the scale set at 0', () => liveInstances(rig.emulator, GROUP).length === 0, 60_000);

    // THEN every task was rendered to success exactly once, some by cloud workers, none requeued
    const renders = farm.renders.filter((r) => r.jobId === jobId);
    expect(renders.filter((r) => r.exitCode !== 0)).toEqual([]);
    expect(renders.map((r) => r.taskId).sort((a, b) => a - b)).toEqual([...Array(30).keys()]);
    expect(renders.some((r) => cloudWorkers.has(r.worker))).toBe(true);
    expect(farm.taskCommands.filter((c) => c.command === 'requeue')).toEqual([]);
    expect(owner).toBe('plan');
  }, 300_000);
});
