import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient, silentLogger, type CostReport } from '@spillway/sdk';
import type { LocalComputeBackend } from '@spillway/sdk/compute/local';
import { loadConfig } from '@spillway/sdk/config';
import { embeddedProviders, startService, type RunningService } from '@spillway/sdk/service';
import { run } from '../support/process';
import { slowLinesCommand, spillwayBin, waitForEvent } from './support';

const DEDICATED_PRICE = 3.6;
const SPOT_PRICE = 1.2;

// GIVEN a service whose group has a dedicated and a spot node, priced, and a burst of frames
// WHEN the spot node is evicted while it renders one of them, and the burst then finishes
// THEN `spillway cost --json` shows the eviction, the attempt it lost and that attempt's
// node-time and cost, node-hours by priority, spend and the cost per cloud frame; and a
// window that starts after the burst shows none of it.
describe('spillway cost after a burst with a spot eviction', () => {
  let dir: string;
  let service: RunningService;
  let client: BurstClient;
  let backend: LocalComputeBackend;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-cost-'));
    const config = loadConfig({
      env: {},
      overrides: { listen: '127.0.0.1:0', 'http.listen': 'off', dataDir: dir, 'compute.local.nodes': 0 },
    });
    const providers = embeddedProviders(config);
    service = await startService(
      config,
      {
        ...providers,
        backends: async (c, l) => {
          const backends = await providers.backends(c, l);
          backend = backends[0]!.backend as LocalComputeBackend;
          return backends;
        },
      },
      silentLogger,
    );
    client = new BurstClient(service.address);
    await client.capacity.ensure({
      name: 'burst',
      mode: 'frame-offload',
      vmSize: 'Standard_D16as_v5',
      maxDedicatedNodes: 1,
      maxSpotNodes: 1,
      cost: { dedicated: DEDICATED_PRICE, spot: SPOT_PRICE },
    });
    await client.capacity.resize('burst', { dedicated: 1, spot: 1 });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await service?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows the eviction and its lost node-time', async () => {
    const nodes = await client.capacity.nodes('burst');
    const spot = nodes.find((n) => n.priority === 'spot')!;
    expect(spot).toBeDefined();
    const { jobId } = await client.submitFrames(
      {
        source: 'test:cost',
        sourceJobId: 'evicted',
        capacityGroup: 'burst',
        commandTemplate: slowLinesCommand(3, 1),
      },
      Array.from({ length: 4 }, (_, i) => ({
        sourceTaskId: String(i + 1),
        frameStart: i + 1,
        frameEnd: i + 1,
      })),
    );
    const onSpot = await waitForEvent(client, jobId, (e) => e.type === 'started' && e.nodeId === spot.nodeId);
    await new Promise((r) => setTimeout(r, 1500)); // let it render for a while: that work is lost
    backend.engine.preemptNode('burst', spot.nodeId);
    const evicted = await waitForEvent(client, jobId, (e) => e.type === 'preempted');
    expect(evicted.frameId).toBe(onSpot.frameId);
    const lostAtLeastH = (evicted.time.getTime() - onSpot.time.getTime()) / 3_600_000;
    // Every frame succeeds in the end (the evicted one on another attempt).
    const done = new Set<string>();
    await waitForEvent(
      client,
      jobId,
      (e) => {
        if (e.type === 'succeeded') done.add(e.frameId);
        return done.size === 4;
      },
      120_000,
    );
    const afterBurst = new Date();

    const r = await run(process.execPath, [spillwayBin, 'cost', '--json', '--address', service.address]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as CostReport;
    expect(report.currency).toBe('USD');

    const group = report.groups.find((g) => g.capacityGroup === 'burst')!;
    expect(group.evictions.nodes).toBe(1);
    expect(group.evictions.lostAttempts).toBe(1);
    expect(group.evictions.lostNodeHours).toBeGreaterThanOrEqual(lostAtLeastH * 0.99);
    expect(group.evictions.lostNodeHours).toBeLessThan(lostAtLeastH + 30 / 3600);
    expect(group.evictions.lostCost).toBeGreaterThan(0);
    // Priced by the service when it recorded the eviction (a few ms from the event's time).
    expect(group.evictions.lostCost / (group.evictions.lostNodeHours * SPOT_PRICE)).toBeCloseTo(1, 1);
    expect(group.nodeHours.dedicated).toBeGreaterThan(0);
    expect(group.nodeHours.spot).toBeGreaterThan(0);
    expect(group.cloudFrames).toBe(4);
    expect(group.spend).toBeCloseTo(
      group.nodeHours.dedicated * DEDICATED_PRICE + group.nodeHours.spot * SPOT_PRICE,
      9,
    );
    expect(group.costPerCloudFrame).toBeCloseTo(group.spend / 4, 12);

    const job = report.jobs.find((j) => j.jobId === jobId)!;
    expect(job).toMatchObject({ cloudFrames: 4, failedFrames: 0, recalledFrames: 0, capacityGroup: 'burst' });
    expect(job.evictions).toMatchObject({ nodes: 1, lostAttempts: 1 });
    expect(job.evictions.lostNodeHours).toBeCloseTo(group.evictions.lostNodeHours, 12);
    expect(job.nodeHours.spot).toBeGreaterThanOrEqual(job.evictions.lostNodeHours);
    expect(job.nodeHours.dedicated).toBeGreaterThan(0);
    expect(job.nodeHours.unknown).toBe(0);
    // The job's spend is its frames' cost, as the service priced them.
    const served = await client.getJob(jobId);
    expect(job.spend).toBeCloseTo(served.cost, 9);
    expect(job.costPerCloudFrame).toBeCloseTo(job.spend / 4, 12);
    // The frames' share of what the group cost cannot exceed it.
    expect(job.spend).toBeLessThanOrEqual(group.spend + 1e-9);

    // The human table names the eviction too.
    const text = await run(process.execPath, [spillwayBin, 'cost', '--address', service.address]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/burst .*1 node\(s\), 1 attempt\(s\) lost/);

    // A window that starts after the burst: no eviction, no job.
    const later = await client.costReport({ since: afterBurst });
    expect(later.evictions.nodes).toBe(0);
    expect(later.jobs).toHaveLength(0);

    // A bad --since is a usage error naming the flag and the value.
    const bad = await run(process.execPath, [
      spillwayBin,
      'cost',
      '--since',
      'yesterday',
      '--address',
      service.address,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since.*yesterday/);
  }, 240_000);
});
