import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient, createLogger } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { DEFAULT_BATCH_QUOTA, startBatchEmulator, type BatchEmulator } from '@spillway/sdk/emulate';
import { embeddedProviders, startService, type RunningService } from '@spillway/sdk/service';
import { resolveConfig, VirtualHost } from '@spillway/bridge-opencue';
import { FakeCuebot } from '@spillway/bridge-opencue/testing';

// GIVEN a Batch account (the emulator) that allows 100 active jobs, the service on the Batch
// backend (the real @azure/batch client, as `compute.backend: batch` configures it), a fake
// Cuebot with no free local host, and the OpenCue virtual host (160 cores) in its burst
// allocation, which makes one cloud job per frame
// WHEN 300 one-frame OpenCue jobs (`sleep 1`) are launched, more at once than the quota allows
// THEN every frame ends SUCCEEDED on the virtual host, each cloud frame once, and no Batch job
// is left active: each ended when its frame settled, so 300 jobs fit a quota of 100.

const JOBS = 300;
const QUOTA = 100;
const HOST = 'azure-300';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

describe('OpenCue: 300 one-frame jobs through the Batch backend under an active-job quota of 100', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-300-'));
  let emu: BatchEmulator;
  let service: RunningService;
  let client: BurstClient;
  let cuebot: FakeCuebot;
  let host: VirtualHost | undefined;
  const log: string[] = [];

  beforeAll(async () => {
    emu = await startBatchEmulator({
      engine: { bootDelayMs: 200, resizeTimeMs: 200, quota: { ...DEFAULT_BATCH_QUOTA, activeJobs: QUOTA } },
    });
    fs.writeFileSync(path.join(work, 'batch.key'), emu.accountKey);
    const config = loadConfig({
      env: {},
      overrides: {
        listen: '127.0.0.1:0',
        dataDir: path.join(work, 'data'),
        'compute.backend': 'batch',
        'compute.local.nodes': 4,
        'compute.local.slotsPerNode': 16,
        'compute.batch.accountUrl': emu.url,
        'compute.batch.accountName': emu.accountName,
        'compute.batch.accountKeyFile': path.join(work, 'batch.key'),
        // The quota's mechanics, not the policy's judgement: the greedy baseline offloads every
        // frame no local host can take, up to the group's maximum (8 nodes x 16 slots, more than
        // the quota has jobs), and the virtual host takes no more frames than the plan offloads.
        'burst.planner': 'greedy',
      },
    });
    // The service's log, shown when the test fails.
    service = await startService(
      config,
      embeddedProviders(config),
      createLogger({ level: 'info', write: (l) => log.push(l) }),
    );
    client = new BurstClient(service.address);
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 200 });
    // The show renders on its local allocation, which has no free host: every frame waits.
    cuebot.subscribe('pipe', 'local.general', 0, 0);
    const rqdPort = await freePort();
    cuebot.mapHost(HOST, `127.0.0.1:${rqdPort}`);
    host = await VirtualHost.start(
      resolveConfig(
        {},
        {
          cuebot: cuebot.address,
          service: service.address,
          hostName: HOST,
          rqdPort,
          rqdListenHost: '127.0.0.1',
          // More cores than the quota has jobs: more cloud jobs are wanted at once than Batch allows.
          cores: 160,
          reportIntervalMs: 500,
          stateDir: path.join(work, 'host-state'),
          subscribeShows: ['pipe'],
        },
      ),
    );
  });

  afterAll(async () => {
    await host?.close();
    await cuebot?.close();
    client?.close();
    await service?.close();
    await emu?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('completes every frame and leaves no active Batch job', async () => {
    const jobs = Array.from({ length: JOBS }, (_, i) =>
      cuebot.launchJob({
        name: `pipe-sh${String(i + 1).padStart(3, '0')}-comp`,
        show: 'pipe',
        priority: 50,
        layers: [{ name: 'comp', range: '1', tags: ['burst'], command: 'sleep 1' }],
      }),
    );
    const frames = () => jobs.flatMap((j) => cuebot.getFrames(j.id));
    let peakActive = 0;
    const sampler = setInterval(() => (peakActive = Math.max(peakActive, emu.engine.activeJobCount())), 20);
    try {
      await cuebot.waitFor(() => frames().every((f) => f.state === 'SUCCEEDED' || f.state === 'DEAD'), {
        what: 'every frame to finish',
        timeoutMs: 600_000,
      });
    } finally {
      clearInterval(sampler);
    }
    // The quota was really reached: Batch refused jobs, and the service waited instead of failing them.
    expect(peakActive).toBe(QUOTA);
    expect(emu.records.byOperation.get('Job_Add')).toBeGreaterThan(JOBS);
    expect(log.filter((l) => l.includes('quota of active jobs; the job waits')).length).toBeGreaterThan(0);
    expect(
      frames()
        .filter((f) => f.state !== 'SUCCEEDED')
        .map((f) => `${f.name}:${f.state}`),
    ).toEqual([]);
    // Every frame ran on the virtual host, i.e. as a Batch task, and succeeded once.
    const ok = cuebot.completions.filter((c) => c.accepted && c.state === 'SUCCEEDED');
    expect(ok).toHaveLength(JOBS);
    expect(new Set(ok.map((c) => c.frameId)).size).toBe(JOBS);
    expect(ok.every((c) => c.host === HOST)).toBe(true);
    // One successful Batch task per job: the extra ones named.
    const byJob = new Map<string, string[]>();
    for (const [key, n] of emu.records.taskSuccesses) {
      const [jobId, taskId] = key.split('/') as [string, string];
      byJob.set(jobId, [...(byJob.get(jobId) ?? []), `${taskId}x${n}`]);
    }
    const extra = [...byJob].filter(([, tasks]) => tasks.length !== 1 || !tasks[0]!.endsWith('x1'));
    expect(
      extra.map(([jobId, tasks]) => ({ jobId, tasks, log: log.filter((l) => l.includes(jobId)) })),
    ).toEqual([]);
    expect(byJob.size).toBe(JOBS);

    // 300 Batch jobs were made in an account that allows 100 active ones, and none is left active.
    await cuebot.waitFor(() => emu.engine.activeJobCount() === 0, {
      what: 'the last Batch jobs to end',
      timeoutMs: 60_000,
    });
    expect(emu.engine.listJobs()).toHaveLength(JOBS);
    expect(emu.engine.listJobs().filter((j) => j.state !== 'completed')).toEqual([]);
    let cloudJobs = 0;
    for await (const job of client.listJobs({ source: `opencue:${HOST}` })) {
      expect(job.counts.succeeded).toBe(1);
      cloudJobs += 1;
    }
    expect(cloudJobs).toBe(JOBS);
  }, 700_000);
});
