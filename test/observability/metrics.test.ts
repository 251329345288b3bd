import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import parsePrometheusTextFormat, {
  type ParsedFamily,
  type ParsedMetric,
} from 'parse-prometheus-text-format';
import { BurstClient, silentLogger } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { startBatchEmulator } from '@spillway/sdk/emulate';
import { embeddedProviders, startService, type RunningService } from '@spillway/sdk/service';
import { waitForEvent } from './support';

const OUTPUT_BYTES = 1000;
const DEDICATED_PRICE = 3.6;
const SPOT_PRICE = 1.2;
const BUDGET = 20;

/** Every metric the issue lists, by the name it is exported under. */
const REQUIRED = [
  'spillway_frames',
  'spillway_nodes',
  'spillway_frames_offloaded_total',
  'spillway_frames_recalled_total',
  'spillway_frame_evictions_total',
  'spillway_plan_cost_per_hour',
  'spillway_cost_per_hour',
  'spillway_spend_total',
  'spillway_budget_per_hour',
  'spillway_budget_left_per_hour',
  'spillway_frame_event_latency_seconds',
  'spillway_storage_bytes_total',
  'spillway_backend_calls_total',
  'spillway_backend_errors_total',
];

function family(families: readonly ParsedFamily[], name: string): ParsedFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`metric ${name} is missing from /metrics`);
  return f;
}

function sample(f: ParsedFamily, labels: Record<string, string>): number {
  const m = f.metrics.find((x: ParsedMetric) =>
    Object.entries(labels).every(([k, v]) => x.labels?.[k] === v),
  );
  if (!m) throw new Error(`${f.name}${JSON.stringify(labels)} is missing`);
  return Number(m.value);
}

// GIVEN the service on the Batch backend (against the emulator), with a priced group of one
// dedicated and one spot node and a budget
// WHEN a small burst runs: frames with outputs, a recall, a spot eviction, a backend fault
// THEN /metrics, parsed as Prometheus text, has every metric with values that add up.
describe('/metrics after a small burst', () => {
  let dir: string;
  let emulator: Awaited<ReturnType<typeof startBatchEmulator>>;
  let service: RunningService;
  let client: BurstClient;
  const started = Date.now();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-metrics-'));
    emulator = await startBatchEmulator({ port: 0 });
    fs.writeFileSync(path.join(dir, 'batch.key'), emulator.accountKey);
    const config = loadConfig({
      env: {},
      overrides: {
        listen: '127.0.0.1:0',
        'http.listen': '127.0.0.1:0',
        dataDir: path.join(dir, 'data'),
        'compute.backend': 'batch',
        'compute.local.nodes': 0,
        'compute.batch.accountUrl': emulator.url,
        'compute.batch.accountName': emulator.accountName,
        'compute.batch.accountKeyFile': path.join(dir, 'batch.key'),
        'budget.maxSpendPerHour': BUDGET,
      },
    });
    service = await startService(config, embeddedProviders(config), silentLogger);
    client = new BurstClient(service.address);
    await client.capacity.ensure({
      name: 'burst',
      mode: 'frame-offload',
      backend: 'batch',
      vmSize: 'Standard_D4as_v5',
      maxDedicatedNodes: 1,
      maxSpotNodes: 1,
      cost: { dedicated: DEDICATED_PRICE, spot: SPOT_PRICE },
      advanced: {
        image: {
          publisher: 'canonical',
          offer: '0001-com-ubuntu-server-jammy',
          sku: '22_04-lts',
          version: 'latest',
          virtualMachineImageId: '',
          nodeAgentSkuId: 'batch.node.ubuntu 22.04',
        },
      },
    });
    await client.capacity.resize('burst', { dedicated: 1, spot: 1 });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await service?.close();
    await emulator?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('exports every metric with sane values', async () => {
    // Two nodes up.
    for (let i = 0; ; i++) {
      const nodes = await client.capacity.nodes('burst');
      if (nodes.filter((n) => n.state === 'idle').length === 2) break;
      if (i > 300) throw new Error('the pool did not get its two nodes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const spot = (await client.capacity.nodes('burst')).find((n) => n.priority === 'spot')!;
    const { jobId } = await client.submitFrames(
      {
        source: 'test:metrics',
        sourceJobId: 'a',
        capacityGroup: 'burst',
        commandTemplate: `sleep 2; head -c ${OUTPUT_BYTES} /dev/zero > out/f_#ZFRAME#.bin`,
      },
      Array.from({ length: 4 }, (_, i) => ({
        sourceTaskId: String(i + 1),
        frameStart: i + 1,
        frameEnd: i + 1,
      })),
    );
    // A second job behind it, recalled before it runs.
    const second = await client.submitFrames(
      { source: 'test:metrics', sourceJobId: 'b', capacityGroup: 'burst', commandTemplate: 'sleep 1' },
      Array.from({ length: 3 }, (_, i) => ({
        sourceTaskId: String(i + 1),
        frameStart: i + 1,
        frameEnd: i + 1,
      })),
    );
    const recall = await client.recallFrames({
      jobId: second.jobId,
      maxFrames: 3,
      reason: 'local farm is free',
    });
    expect(recall.recalled.length).toBeGreaterThan(0);

    // A spot eviction under a running frame.
    await waitForEvent(client, jobId, (e) => e.type === 'started' && e.nodeId === spot.nodeId);
    emulator.engine.preemptNode('burst', spot.nodeId);
    await waitForEvent(client, jobId, (e) => e.type === 'preempted');

    // A backend fault that outlasts the backend's retries.
    emulator.setFaults({ serverBusyRate: 1, operations: ['Pool_Get'] });
    await expect(client.capacity.get('burst')).rejects.toThrow();
    emulator.setFaults({});

    const done = new Set<string>();
    await waitForEvent(
      client,
      jobId,
      (e) => {
        if (e.type === 'succeeded') done.add(e.frameId);
        return done.size === 4;
      },
      180_000,
    );
    // Read one finished frame's log (from storage).
    let logBytes = 0;
    for await (const c of client.followFrameLog(jobId, 1)) logBytes += c.data.length;
    expect(logBytes).toBeGreaterThan(0);

    const res = await fetch(`${service.httpUrl}metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(await res.text());
    for (const name of REQUIRED) expect(family(families, name).metrics.length).toBeGreaterThan(0);

    const source = 'test:metrics';
    const frames = family(families, 'spillway_frames');
    expect(sample(frames, { state: 'succeeded', source })).toBe(4);
    expect(sample(frames, { state: 'recalled', source })).toBe(recall.recalled.length);
    expect(sample(frames, { state: 'failed', source })).toBe(0);
    expect(sample(family(families, 'spillway_frames_offloaded_total'), { source })).toBe(7);
    expect(sample(family(families, 'spillway_frames_recalled_total'), { source })).toBe(
      recall.recalled.length,
    );
    expect(sample(family(families, 'spillway_frame_evictions_total'), { source })).toBe(1);

    const nodes = family(families, 'spillway_nodes').metrics.filter((m) => m.labels?.group === 'burst');
    expect(nodes.length).toBeGreaterThan(0);
    for (const m of nodes) expect(Number(m.value)).toBeGreaterThanOrEqual(0);
    const dedicated = nodes
      .filter((m) => m.labels?.priority === 'dedicated')
      .reduce((n, m) => n + Number(m.value), 0);
    expect(dedicated).toBe(1);

    const usd = { currency: 'USD' };
    const plan = sample(family(families, 'spillway_plan_cost_per_hour'), usd);
    expect(plan).toBeCloseTo(DEDICATED_PRICE + SPOT_PRICE, 9);
    const now = sample(family(families, 'spillway_cost_per_hour'), usd);
    expect(now).toBeGreaterThanOrEqual(DEDICATED_PRICE - 1e-9);
    expect(now).toBeLessThanOrEqual(DEDICATED_PRICE + SPOT_PRICE + 1e-9);
    expect(sample(family(families, 'spillway_budget_per_hour'), usd)).toBe(BUDGET);
    expect(sample(family(families, 'spillway_budget_left_per_hour'), usd)).toBeCloseTo(BUDGET - plan, 9);
    const spent = sample(family(families, 'spillway_spend_total'), usd);
    const hours = (Date.now() - started) / 3_600_000;
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual((DEDICATED_PRICE + SPOT_PRICE) * hours);

    const latency = family(families, 'spillway_frame_event_latency_seconds');
    expect(latency.type).toBe('HISTOGRAM');
    // One series (the parser keeps no labels on histograms): every frame event a task change caused.
    const [all] = latency.metrics;
    // At least 4 starts (5 with the evicted frame's second) and 4 successes, and the eviction.
    expect(Number(all!.count)).toBeGreaterThanOrEqual(9);
    const buckets = Object.entries(all!.buckets!)
      .map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), Number(n)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]);
    expect(buckets[buckets.length - 1]).toEqual([Infinity, Number(all!.count)]);
    expect(Number(all!.sum)).toBeGreaterThanOrEqual(0);
    // Under a minute per event on average, on a shared machine.
    expect(Number(all!.sum) / Number(all!.count)).toBeLessThan(60);

    const storage = family(families, 'spillway_storage_bytes_total');
    expect(sample(storage, { direction: 'up', kind: 'outputs' })).toBe(4 * OUTPUT_BYTES);
    expect(sample(storage, { direction: 'down', kind: 'logs' })).toBe(logBytes);

    const errors = family(families, 'spillway_backend_errors_total');
    expect(
      sample(errors, { backend: 'batch', operation: 'getGroup', code: 'ServerBusy' }),
    ).toBeGreaterThanOrEqual(1);
    const calls = family(families, 'spillway_backend_calls_total');
    expect(sample(calls, { backend: 'batch', operation: 'addTasks' })).toBeGreaterThanOrEqual(1);

    expect(family(families, 'process_cpu_user_seconds_total').metrics.length).toBe(1);
  }, 300_000);
});
