import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEADLINE_TESTING_BIN, FakeDeadline } from '@spillway/bridge-deadline/testing';
import { ScaleSetBackend } from '@spillway/sdk/compute/scaleset';
import { startArmEmulator, type ArmEmulator } from '@spillway/sdk/emulate';
import { fixedTokenCredential, RESOURCE_GROUP, spotSpec, SUBSCRIPTION, waitFor } from './support';

// Join (#15). GIVEN the ARM emulator whose instances have the testing farm's Deadline client
// (deadlinecommand, deadlineworker) on their image, and a Spot scale set rendered from the
// group's WorkerStartup with the default Deadline template (no custom command) pointing at
// the testing Web Service WHEN the set grows THEN each instance runs the real start-up:
// `-ChangeRepository Proxy`, `-SetGroupsForSlave`, `deadlineworker -name $(hostname)`, so a
// worker named after the instance's host name registers with its groups and renders tasks.
// AND WHEN Azure gives a busy instance its eviction notice (`simulateEviction`, a Preempt
// scheduled event) THEN the start-up's watcher stops the worker, which gives its task back
// at once (long before the eviction and the farm's stall timeout), and the task completes
// once on another worker. Needs `npx tsc -b` (the testing bin runs the built package).

const NOTICE_MS = 8000;

describe('worker burst: instances join the testing Deadline farm', () => {
  let dir: string;
  let emulator: ArmEmulator;
  let farm: FakeDeadline;
  let backend: ScaleSetBackend;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-join-'));
    farm = await FakeDeadline.start({ workers: [], pollIntervalMs: 100, stallTimeoutMs: 120_000 });
    emulator = await startArmEmulator({
      lroDelayMs: 20,
      killGraceMs: 1000,
      evictionNoticeMs: NOTICE_MS,
      workDir: path.join(dir, 'arm'),
      imagePath: [DEADLINE_TESTING_BIN],
      instanceEnvironment: { DEADLINE_BIN: DEADLINE_TESTING_BIN, SPILLWAY_NOTICE_POLL_SECONDS: '0.5' },
    });
    backend = new ScaleSetBackend({
      credential: fixedTokenCredential('emulator-token-0123456789'),
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      resourceGroup: RESOURCE_GROUP,
      pollIntervalMs: 20,
      watchIntervalMs: 0,
    });
  }, 60_000);

  afterAll(async () => {
    await backend?.close();
    await emulator?.close();
    await farm?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('workers register under their host names with their groups, render, and give a frame back on eviction notice', async () => {
    const farmAddress = new URL(farm.url).host;
    await backend.ensureGroup(
      spotSpec('joiners', {
        workerStartup: { renderManager: 'deadline', farmAddress, groups: ['cloud'], pools: ['burst'] },
      }),
    );
    await backend.resizeGroup('joiners', { dedicated: 0, spot: 2 });
    const nodes = await backend.listNodes('joiners');
    const hostNames = nodes.map((n) => n.hostName).sort();
    expect(hostNames).toEqual(['joiners000000', 'joiners000001']);

    // THEN both workers register, named after their instances, with the group's groups and pools
    await waitFor(
      'two workers registered',
      () => farm.workerList().filter((w) => w.remote && w.state === 2).length === 2,
      30_000,
    );
    const workers = farm.workerList().filter((w) => w.remote);
    expect(workers.map((w) => w.name).sort()).toEqual(hostNames);
    expect(workers.every((w) => w.groups.includes('cloud') && w.pools.includes('burst'))).toBe(true);

    // WHEN a job for group "cloud" arrives THEN the cloud workers render it
    const jobId = farm.submitJob(
      { Plugin: 'CommandLine', Name: 'cloud-shot', Frames: '1-4', Group: 'cloud' },
      { Executable: '/bin/sh', Arguments: '-c "sleep 3"' },
    );
    await waitFor(
      'both workers rendering',
      () => farm.tasks(jobId).filter((t) => t.state === 'rendering').length === 2,
      20_000,
    );
    const victim = farm.tasks(jobId).find((t) => t.state === 'rendering')!;
    const victimNode = nodes.find((n) => n.hostName === victim.worker)!;

    // WHEN Azure announces the eviction of the instance rendering it
    const noticeAt = Date.now();
    await backend.simulateEviction('joiners', victimNode.id);
    // THEN its task is back in the queue within seconds, well before the eviction
    await waitFor(
      'the task given back',
      () =>
        farm.renders.some(
          (r) => r.taskId === victim.taskId && r.worker === victim.worker && r.exitCode === null,
        ),
      NOTICE_MS - 1000,
    );
    expect(Date.now() - noticeAt).toBeLessThan(NOTICE_MS);
    expect(farm.stallRequeues).toBe(0);
    // AND every task completes exactly once, the given-back one on the other worker
    await waitFor('the job done', () => farm.summary(jobId).completed === 4, 60_000);
    const ok = farm.renders.filter((r) => r.jobId === jobId && r.exitCode === 0);
    expect(ok.map((r) => r.taskId).sort()).toEqual([0, 1, 2, 3]);
    expect(ok.find((r) => r.taskId === victim.taskId)!.worker).not.toBe(victim.worker);
    // AND the instance is then evicted (Delete policy: gone)
    await waitFor(
      'the eviction',
      () => !emulator.scaleSets()[0]!.instances.some((i) => i.instanceId === victimNode.id),
      NOTICE_MS + 10_000,
    );
    await backend.deleteGroup('joiners');
  }, 120_000);
});
