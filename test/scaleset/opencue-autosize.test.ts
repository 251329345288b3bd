import * as path from 'node:path';
import { resolveConfig, startOpenCueBridge, type OpenCueBridge } from '@spillway/bridge-opencue';
import { FakeCuebot, SimulatedRqdHost } from '@spillway/bridge-opencue/testing';
import { createLogger } from '@spillway/sdk';
import { freePort } from '../opencue/ports';
import {
  eventually,
  eventuallyPlanned,
  liveInstances,
  OPENCUE_WORKER_IMAGE,
  POLICY_PLANNING,
  startWorkerBurstRig,
  workerGroup,
  type WorkerBurstRig,
} from './farm';

// Worker burst sized by the burst policy (#15, #14), OpenCue, end to end. GIVEN a testing
// Cuebot with 2 local 1-core RQD hosts taking `general` frames, a real service planning with
// the policy, a worker-burst group whose instances run RQD against that Cuebot with the tag
// `general` (the default OpenCue start-up), and the OpenCue bridge serving the group (the
// virtual host reports the farm with the group's RQD hosts apart; its agent drains them)
// WHEN a job tagged `general` arrives that the 2 hosts alone would finish after its deadline
// THEN the plan grows the group (nobody resizes it by hand), the RQD hosts join Cuebot and
// render, and once the queue drains the plan shrinks the group to 0 by draining: every frame
// SUCCEEDED exactly once on its first run, none killed, the cloud hosts removed from Cuebot.
// Needs `npx tsc -b` (the instances run the built testing bin).

const GROUP = 'auto-cue-workers';
const HOST = 'azure-burst';

describe('OpenCue worker burst sized by the burst policy', () => {
  let rig: WorkerBurstRig;
  let cuebot: FakeCuebot;
  const locals: SimulatedRqdHost[] = [];
  let bridge: OpenCueBridge | undefined;
  const logs: string[] = [];

  beforeAll(async () => {
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 100, maxRetries: 1 });
    cuebot.subscribe('pipe', 'local.general', 10, 10);
    for (const name of ['local-1', 'local-2'])
      locals.push(await SimulatedRqdHost.start({ name, cuebot: cuebot.address, reportIntervalMs: 300 }));
    rig = await startWorkerBurstRig({
      config: POLICY_PLANNING,
      emulator: OPENCUE_WORKER_IMAGE,
    });
  }, 60_000);

  afterAll(async () => {
    await bridge?.close();
    await rig?.close();
    for (const h of locals) await h.close();
    await cuebot?.close();
  });

  it('grows the group for a job too big for its deadline and shrinks it to 0 when the queue drains', async () => {
    await rig.client.capacity.ensure(
      workerGroup(GROUP, {
        renderManager: 'opencue',
        farmAddress: cuebot.address,
        facility: 'local',
        groups: ['general'],
      }),
    );
    const rqdPort = await freePort();
    cuebot.mapHost(HOST, `127.0.0.1:${rqdPort}`);
    bridge = await startOpenCueBridge(
      resolveConfig(
        {},
        {
          cuebot: cuebot.address,
          service: rig.address,
          hostName: HOST,
          rqdPort,
          rqdListenHost: '127.0.0.1',
          reportIntervalMs: 500,
          // A job's deadline: its start + 45 s (OpenCue jobs carry none).
          turnaroundSeconds: 45,
          stateDir: path.join(rig.dir, 'bridge'),
          workerGroups: [GROUP],
        },
      ),
      createLogger({ name: 'bridge', write: (line) => logs.push(line) }),
    );
    // GIVEN 30 frames of 4 s on 2 one-core hosts (60 s), due in 45 s; its layer is not tagged
    // `burst`, so no frame is offloaded through the virtual host: only cloud RQD hosts help
    const job = cuebot.launchJob({
      name: 'too-late',
      show: 'pipe',
      layers: [{ name: 'sleep', range: '1-30', tags: ['general'], command: 'sleep 4' }],
    });

    // THEN the plan grows the group and its RQD hosts render frames
    await eventuallyPlanned(rig, GROUP, 'the plan grows the group', (spot) => spot > 0, 40_000, logs);
    const owner = (await rig.client.capacity.get(GROUP)).targetOwner;
    const cloud = new Set<string>();
    await eventually(
      'a cloud host rendering',
      () => {
        for (const i of liveInstances(rig.emulator, GROUP)) cloud.add(i.host);
        return cuebot
          .getFrames(job.id)
          .some((f) => f.state === 'RUNNING' && cloud.has(cuebot.hostOf(f.id) ?? ''));
      },
      40_000,
    );
    await eventually(
      'the job done',
      () => {
        for (const i of liveInstances(rig.emulator, GROUP)) cloud.add(i.host);
        return cuebot.getFrames(job.id).every((f) => f.state === 'SUCCEEDED');
      },
      120_000,
    );

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
    await eventually(
      'the cloud hosts removed from Cuebot',
      () => !cuebot.getHosts().some((h) => cloud.has(h.name)),
      30_000,
    );

    // THEN every frame succeeded once, on its first run, some on cloud hosts, none killed
    const frames = cuebot.getFrames(job.id);
    expect(frames.filter((f) => f.retry_count !== 0)).toEqual([]);
    const done = cuebot.completions.filter((c) => frames.some((f) => f.id === c.frameId));
    expect(done.filter((c) => c.exitStatus !== 0 || c.exitSignal !== 0)).toEqual([]);
    expect(done.filter((c) => c.accepted)).toHaveLength(30);
    expect(done.some((c) => cloud.has(c.host))).toBe(true);
    expect(owner).toBe('plan');
    // AND the bridge reported the cloud hosts apart: the virtual host never opened for the job
    expect(bridge.host.status.running).toBe(0);
    expect(done.some((c) => c.host === HOST)).toBe(false);
  }, 300_000);
});
