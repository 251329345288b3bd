import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient, silentLogger } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { BatchComputeBackend, type GroupSpec } from '@spillway/sdk/compute';
import { DEFAULT_BATCH_QUOTA, startBatchEmulator, type BatchEmulator } from '@spillway/sdk/emulate';
import { embeddedProviders, startService, type RunningService } from '@spillway/sdk/service';

// Batch allows 100-300 active jobs per account, and a job stays active until terminated:
// a job left active when its frames are done, or when its pool is deleted, is lost quota.

const IMAGE = {
  publisher: 'canonical',
  offer: '0001-com-ubuntu-server-jammy',
  sku: '22_04-lts',
  nodeAgentSkuId: 'batch.node.ubuntu 22.04',
};
const group = (name: string): GroupSpec => ({
  name,
  vmSize: 'Standard_D2as_v5',
  taskSlotsPerNode: 4,
  maxDedicatedNodes: 2,
  maxSpotNodes: 0,
  image: IMAGE,
});

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const backendFor = (emu: BatchEmulator): BatchComputeBackend =>
  new BatchComputeBackend({
    accountUrl: emu.url,
    credential: { accountName: emu.accountName, accountKey: emu.accountKey },
    pollIntervalMs: 200,
    retry: { maxAttempts: 6, initialIntervalMs: 10, maxIntervalMs: 100 },
  });

describe('Batch jobs end: the backend', () => {
  let emu: BatchEmulator;
  let backend: BatchComputeBackend;
  beforeAll(async () => {
    emu = await startBatchEmulator({ engine: { bootDelayMs: 100, resizeTimeMs: 100 } });
    backend = backendFor(emu);
  });
  afterAll(async () => {
    await backend?.close();
    await emu?.close();
  });

  it('GIVEN a job that was terminated WHEN it is created again and given tasks THEN a new job replaces it and runs them', async () => {
    await backend.ensureGroup(group('again'));
    await backend.resizeGroup('again', { dedicated: 1, spot: 0 });
    await backend.createJob({ id: 'reopened', group: 'again' });
    await backend.addTasks('reopened', [{ id: 'first', commandLine: 'true' }]);
    await until('the first task', () => emu.engine.getTask('reopened', 'first')?.state === 'completed');
    await backend.terminateJob('reopened');
    await until('the job to end', () => emu.engine.getJob('reopened')?.state === 'completed');

    await backend.createJob({ id: 'reopened', group: 'again' });
    expect(emu.engine.getJob('reopened')?.state).toBe('active');
    expect(emu.engine.getTask('reopened', 'first')).toBeUndefined();
    expect(await backend.addTasks('reopened', [{ id: 'second', commandLine: 'true' }])).toEqual({
      added: ['second'],
      alreadyExisted: [],
    });
    await until('the second task', () => emu.engine.getTask('reopened', 'second')?.result === 'success');
    expect(emu.records.byOperation.get('Job_Delete')).toBe(1);
  });

  it('GIVEN two groups with active jobs WHEN one group is deleted THEN its jobs are terminated, the other group’s stay active', async () => {
    await backend.ensureGroup(group('doomed'));
    await backend.ensureGroup(group('kept'));
    for (const id of ['d1', 'd2']) await backend.createJob({ id, group: 'doomed' });
    await backend.createJob({ id: 'k1', group: 'kept' });
    await backend.deleteGroup('doomed');
    await until('the doomed jobs to end', () =>
      ['d1', 'd2'].every((id) => emu.engine.getJob(id)?.state === 'completed'),
    );
    expect(emu.engine.getJob('k1')?.state).toBe('active');
    expect(emu.engine.getPool('doomed')?.state ?? 'gone').not.toBe('active');
  });

  it('GIVEN a watched job WHEN it is terminated THEN monitoring stops polling it once its last changes are seen', async () => {
    // Its own backend, polled only by hand here: the only job it watches is this one.
    const own = new BatchComputeBackend({
      accountUrl: emu.url,
      credential: { accountName: emu.accountName, accountKey: emu.accountKey },
      pollIntervalMs: 3_600_000,
    });
    const counts = (): number => emu.records.byOperation.get('Job_GetTaskCounts') ?? 0;
    const unsubscribe = own.onTaskEvent(() => undefined);
    try {
      await own.ensureGroup(group('polled'));
      await own.createJob({ id: 'watched', group: 'polled' });
      await own.addTasks('watched', [{ id: 't', commandLine: 'true' }]);
      await new Promise((r) => setTimeout(r, 50)); // the first, automatic poll is done
      let before = counts();
      await own.pollOnce();
      expect(counts() - before).toBe(1); // watched: one task-count request a poll

      await own.terminateJob('watched');
      await until('the job to end', () => emu.engine.getJob('watched')?.state === 'completed');
      await own.pollOnce(); // its last changes
      await own.pollOnce(); // nothing moved: dropped
      before = counts();
      for (let i = 0; i < 3; i++) await own.pollOnce();
      expect(counts() - before).toBe(0);
    } finally {
      unsubscribe();
      await own.close();
    }
  });
});

describe('Batch jobs end: the service on the Batch backend', () => {
  let dir: string;
  let emu: BatchEmulator;
  let service: RunningService;
  let client: BurstClient;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-jobs-end-'));
    // An account that allows 3 active jobs: the fourth job's frames run only if finished jobs end.
    emu = await startBatchEmulator({
      engine: { bootDelayMs: 100, resizeTimeMs: 100, quota: { ...DEFAULT_BATCH_QUOTA, activeJobs: 3 } },
    });
    fs.writeFileSync(path.join(dir, 'batch.key'), emu.accountKey);
    const config = loadConfig({
      env: {},
      overrides: {
        listen: '127.0.0.1:0',
        dataDir: path.join(dir, 'data'),
        'compute.backend': 'batch',
        'compute.local.nodes': 1,
        'compute.local.slotsPerNode': 4,
        'compute.batch.accountUrl': emu.url,
        'compute.batch.accountName': emu.accountName,
        'compute.batch.accountKeyFile': path.join(dir, 'batch.key'),
      },
    });
    const providers = embeddedProviders(config);
    service = await startService(
      config,
      {
        ...providers,
        backends: async () => [{ name: 'batch', mode: 'frame-offload', backend: backendFor(emu) }],
      },
      silentLogger,
    );
    client = new BurstClient(service.address);
  });

  afterAll(async () => {
    client?.close();
    await service?.close();
    await emu?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GIVEN an active-job quota of 3 WHEN 8 one-frame jobs are submitted THEN all succeed and no Batch job is left active', async () => {
    const jobIds: string[] = [];
    for (let i = 1; i <= 8; i++) {
      const { jobId } = await client.submitFrames(
        { source: 'test:jobs-end', sourceJobId: `shot${i}`, commandTemplate: 'true' },
        [{ sourceTaskId: '1', frameStart: i, frameEnd: i }],
      );
      jobIds.push(jobId);
    }
    for (const jobId of jobIds) {
      await until(`job ${jobId} to succeed`, async () => (await client.getJob(jobId)).counts.succeeded === 1);
    }
    await until('every Batch job to end', () => emu.engine.activeJobCount() === 0);
    expect(emu.engine.listJobs().map((j) => j.state)).toEqual(jobIds.map(() => 'completed'));
    expect(emu.engine.listJobs().map((j) => j.terminateReason)).toEqual(jobIds.map(() => 'UserTerminate'));
  });
});
