import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger } from '@spillway/sdk';
import {
  DEADLINE_WORKER_IMAGE,
  eventually,
  liveInstances,
  startWorkerBurstRig,
  workerGroup,
  type WorkerBurstRig,
} from './farm';

// Worker burst, Deadline, end to end (#15). GIVEN a 2-worker testing Deadline farm, a real
// Spillway service whose worker-burst backend drives the ARM emulator over HTTPS (instances
// run the testing farm's Deadline client from the group's WorkerStartup: the default
// template, `deadlinecommand -ChangeRepository` then `deadlineworker`), and the Deadline
// bridge serving the worker-burst group
// WHEN a job too big for the farm arrives and the group is grown through the service
// THEN the new instances' workers register with the Web Service and render tasks;
// AND WHEN the group is sized to 0 while its workers render THEN the bridge disables them,
// each finishes its task, and only then is its instance deleted and its worker removed from
// Deadline: no task is interrupted, every task is Completed exactly once, the scale set ends
// at 0 instances. Needs `npx tsc -b` (the instances run the built testing bin).

const GROUP = 'cloud-workers';

describe('worker burst on a Deadline farm', () => {
  let rig: WorkerBurstRig;
  let farm: FakeDeadline;
  let bridge: DeadlineBridge | undefined;
  let logs = '';

  beforeAll(async () => {
    farm = await FakeDeadline.start({
      workers: [{ name: 'local-1' }, { name: 'local-2' }],
      pollIntervalMs: 100,
      stallTimeoutMs: 300_000,
    });
    rig = await startWorkerBurstRig({
      emulator: DEADLINE_WORKER_IMAGE,
    });
  }, 60_000);

  afterAll(async () => {
    await bridge?.close();
    await rig?.close();
    await farm?.close();
  });

  it('grows, the cloud workers join and render, then the group drains to 0 without interrupting a task', async () => {
    const farmAddress = new URL(farm.url).host;
    await rig.client.capacity.ensure(workerGroup(GROUP, { renderManager: 'deadline', farmAddress }));
    bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: farm.url,
        service: rig.address,
        name: 'wb',
        stateDir: path.join(rig.dir, 'bridge'),
        pollIntervalMs: 400,
        workerGroups: [GROUP],
      }),
      { logger: createLogger({ name: 'bridge', write: (line) => (logs += `${line}\n`) }) },
    );
    // A job of 16 two-second tasks: 16 s on the farm alone. No output folder: it is not offloaded.
    const jobId = farm.submitJob(
      { Plugin: 'CommandLine', Name: 'too-big', Frames: '1-16' },
      { Executable: '/bin/sleep', Arguments: '2' },
    );

    // WHEN the group is grown through the service
    await rig.client.capacity.resize(GROUP, { dedicated: 0, spot: 2 });
    // THEN two workers named after their instances register and render
    const instances = liveInstances(rig.emulator, GROUP);
    expect(instances).toHaveLength(2);
    const cloud = new Set(instances.map((i) => i.host));
    await eventually(
      'both cloud workers rendering a task',
      () => farm.tasks(jobId).filter((t) => t.state === 'rendering' && cloud.has(t.worker)).length === 2,
      30_000,
    );
    // AND a busy worker's instance is protected from scale-in
    let sawProtected = false;
    await eventually(
      'a busy cloud worker protected',
      () => (sawProtected = liveInstances(rig.emulator, GROUP).some((i) => i.protected)),
      15_000,
    );

    // WHEN the group is sized to 0 while its workers render
    await rig.client.capacity.resize(GROUP, { dedicated: 0, spot: 0 });
    // THEN the bridge disables them (no new task reaches them)...
    await eventually(
      'the cloud workers disabled',
      () =>
        farm.workerList().filter((w) => cloud.has(w.name) && !w.enabled).length === 2 ||
        liveInstances(rig.emulator, GROUP).length < 2,
      20_000,
    );
    // ...and the instances leave once their workers are idle; the workers' records go
    await eventually('the scale set at 0', () => liveInstances(rig.emulator, GROUP).length === 0, 60_000);
    await eventually(
      'the cloud workers removed from Deadline',
      () => !farm.workerList().some((w) => cloud.has(w.name)),
      20_000,
    );
    await eventually('the job complete', () => farm.summary(jobId).completed === 16, 90_000);

    // THEN every task was rendered to success exactly once, and nothing was interrupted
    const renders = farm.renders.filter((r) => r.jobId === jobId);
    expect(renders.filter((r) => r.exitCode !== 0)).toEqual([]);
    expect(renders.map((r) => r.taskId).sort((a, b) => a - b)).toEqual([...Array(16).keys()]);
    const byCloud = renders.filter((r) => cloud.has(r.worker));
    expect(new Set(byCloud.map((r) => r.worker)).size).toBe(2);
    expect(sawProtected).toBe(true);
    expect(farm.taskCommands.filter((c) => c.command === 'requeue')).toEqual([]);
    expect(bridge.workerBurst.counters.disabled).toBeGreaterThanOrEqual(2);
    const group = await rig.client.capacity.get(GROUP);
    expect(group.target.spot).toBe(0);
  }, 240_000);
});
