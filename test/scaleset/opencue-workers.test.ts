import { CloudWorkers } from '@spillway/bridge-opencue';
import { FakeCuebot, SimulatedRqdHost } from '@spillway/bridge-opencue/testing';
import { createLogger } from '@spillway/sdk';
import { RESOURCE_GROUP } from './support';
import {
  eventually,
  liveInstances,
  OPENCUE_WORKER_IMAGE,
  startWorkerBurstRig,
  workerGroup,
  type WorkerBurstRig,
} from './farm';

// Worker burst, OpenCue, end to end (#15). GIVEN a testing Cuebot with 2 local RQD hosts, a
// real Spillway service whose worker-burst backend drives the ARM emulator (instances run the
// group's WorkerStartup with the default OpenCue template: rqd.conf with OVERRIDE_CUEBOT,
// CUEBOT_GRPC_PORT, DEFAULT_FACILITY, RQD_TAGS, then `rqd -c`, here the testing farm's RQD),
// and the OpenCue bridge's cloud-worker agent serving the group
// WHEN a job too big for the farm arrives and the group is grown through the service
// THEN RQD hosts named after the instances join Cuebot and render frames;
// AND WHEN the group is sized to 0 while they render THEN the agent locks them, each
// finishes its frame, and only then is its instance deleted and its host removed from
// Cuebot: no frame is killed, every frame SUCCEEDED once with no retry, the scale set ends at
// 0. Needs `npx tsc -b` (the instances run the built testing bin).

const GROUP = 'cue-workers';
const NOTICE_MS = 10_000;

describe('worker burst on an OpenCue farm', () => {
  let rig: WorkerBurstRig;
  let cuebot: FakeCuebot;
  const locals: SimulatedRqdHost[] = [];
  let agent: CloudWorkers | undefined;
  let logs = '';

  beforeAll(async () => {
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 100, maxRetries: 1 });
    cuebot.subscribe('pipe', 'local.general', 10, 10);
    for (const name of ['local-1', 'local-2']) {
      const host = await SimulatedRqdHost.start({ name, cuebot: cuebot.address, reportIntervalMs: 300 });
      locals.push(host);
    }
    rig = await startWorkerBurstRig({
      emulator: {
        ...OPENCUE_WORKER_IMAGE,
        evictionNoticeMs: NOTICE_MS,
        instanceEnvironment: {
          ...OPENCUE_WORKER_IMAGE.instanceEnvironment,
          SPILLWAY_NOTICE_POLL_SECONDS: '0.5',
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await agent?.close();
    await rig?.close();
    for (const h of locals) await h.close();
    await cuebot?.close();
  });

  it('grows, RQD hosts join and render, then the group drains to 0 without killing a frame', async () => {
    await rig.client.capacity.ensure(
      workerGroup(GROUP, {
        renderManager: 'opencue',
        farmAddress: cuebot.address,
        facility: 'local',
        groups: ['general'],
      }),
    );
    agent = new CloudWorkers({
      cuebot: cuebot.address,
      service: rig.address,
      groups: [GROUP],
      intervalMs: 400,
      logger: createLogger({ name: 'agent', write: (line) => (logs += `${line}\n`) }),
    }).start();
    const job = cuebot.launchJob({
      name: 'too-big',
      show: 'pipe',
      layers: [{ name: 'sleep', range: '1-16', command: 'sleep 2' }],
    });

    // WHEN the group is grown through the service
    await rig.client.capacity.resize(GROUP, { dedicated: 0, spot: 2 });
    const instances = liveInstances(rig.emulator, GROUP);
    expect(instances).toHaveLength(2);
    const cloud = new Set(instances.map((i) => i.host));
    // THEN RQD hosts named after the instances join Cuebot and render
    await eventually(
      'both cloud hosts rendering',
      () =>
        cuebot.getFrames(job.id).filter((f) => f.state === 'RUNNING' && cloud.has(cuebot.hostOf(f.id) ?? ''))
          .length === 2,
      30_000,
    );
    expect(
      cuebot
        .getHosts()
        .filter((h) => cloud.has(h.name))
        .every((h) => h.tags.includes('general')),
    ).toBe(true);

    // WHEN the group is sized to 0 while they render
    await rig.client.capacity.resize(GROUP, { dedicated: 0, spot: 0 });
    // THEN the hosts are locked, drain, and the instances leave; the hosts' records go
    await eventually('the scale set at 0', () => liveInstances(rig.emulator, GROUP).length === 0, 60_000);
    await eventually(
      'the cloud hosts removed from Cuebot',
      () => !cuebot.getHosts().some((h) => cloud.has(h.name)),
      30_000,
    );
    await eventually(
      'the job done',
      () => cuebot.getFrames(job.id).every((f) => f.state === 'SUCCEEDED'),
      90_000,
    );

    // THEN every frame succeeded once, on its first run, and nothing was killed
    const frames = cuebot.getFrames(job.id);
    expect(frames.every((f) => f.retry_count === 0)).toBe(true);
    const done = cuebot.completions.filter((c) => frames.some((f) => f.id === c.frameId));
    expect(done.filter((c) => c.exitStatus !== 0 || c.exitSignal !== 0)).toEqual([]);
    expect(done.filter((c) => c.accepted)).toHaveLength(16);
    expect(new Set(done.filter((c) => cloud.has(c.host)).map((c) => c.host)).size).toBe(2);
    expect(agent.counters.locked).toBeGreaterThanOrEqual(2);
    expect(agent.counters.deleted).toBe(2);
  }, 240_000);

  it('a Spot eviction mid-frame: the RQD host gives its frame back at notice; it completes once elsewhere', async () => {
    // GIVEN the group back at 2 cloud hosts rendering a new job
    const job = cuebot.launchJob({
      name: 'evicted',
      show: 'pipe',
      layers: [{ name: 'sleep', range: '1-4', command: 'sleep 4' }],
    });
    await rig.client.capacity.resize(GROUP, { dedicated: 0, spot: 2 });
    const cloud = new Set(liveInstances(rig.emulator, GROUP).map((i) => i.host));
    await eventually(
      'a cloud host rendering',
      () =>
        cuebot.getFrames(job.id).some((f) => f.state === 'RUNNING' && cloud.has(cuebot.hostOf(f.id) ?? '')),
      30_000,
    );
    const frame = cuebot
      .getFrames(job.id)
      .find((f) => f.state === 'RUNNING' && cloud.has(cuebot.hostOf(f.id) ?? ''))!;
    const victim = cuebot.hostOf(frame.id)!;
    const node = liveInstances(rig.emulator, GROUP).find((i) => i.host === victim)!;

    // WHEN Azure gives its eviction notice (injected through the emulator)
    const noticeAt = Date.now();
    rig.emulator.simulateEviction(RESOURCE_GROUP, GROUP, node.id);
    // THEN the RQD, stopped by the start-up's watcher, reports the frame killed and Cuebot
    // requeues it at once, long before the eviction and before Cuebot would give up on the host
    await eventually(
      'the frame given back',
      () => cuebot.completions.some((c) => c.frameId === frame.id && c.host === victim && c.exitSignal !== 0),
      NOTICE_MS - 2000,
    );
    expect(Date.now() - noticeAt).toBeLessThan(NOTICE_MS);
    expect(cuebot.downHostClears).toBe(0);
    // AND it completes exactly once, elsewhere
    await eventually(
      'the job done',
      () => cuebot.getFrames(job.id).every((f) => f.state === 'SUCCEEDED'),
      60_000,
    );
    const ok = cuebot.completions.filter((c) => c.frameId === frame.id && c.exitStatus === 0 && c.accepted);
    expect(ok).toHaveLength(1);
    expect(ok[0]!.host).not.toBe(victim);
    // AND the eviction shows on the group, and the evicted host's record goes
    await eventually(
      'the eviction metered',
      async () => (await rig.client.capacity.get(GROUP)).evictedWork.evictions === 1,
      NOTICE_MS + 20_000,
    );
    await eventually(
      'the evicted host removed',
      () => !cuebot.getHosts().some((h) => h.name === victim),
      20_000,
    );
    await rig.client.capacity.resize(GROUP, { dedicated: 0, spot: 0 });
    await eventually('the scale set at 0', () => liveInstances(rig.emulator, GROUP).length === 0, 60_000);
  }, 180_000);
});
