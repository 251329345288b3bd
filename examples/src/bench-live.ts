// `npm run bench:live`: two of the shared scenarios, scaled down and time-compressed,
// through the real service (embedded: local engine + Azurite), the real Deadline bridge and
// the testing Deadline farm, each frame a `sleep` of its scenario time. Prints the live
// cloud cost and deadlines met beside `simulate`'s prediction for the same scaled scenario.
//
// Scaling ("consistently"): workers, cloud quota, frames per job and the spend cap are
// divided by `size`; every duration (submission, deadline, frame times, boot, billing
// interval, transfer) by `time`; prices per node-hour stay. Spot evictions are off in both
// (the embedded engine evicts only on demand). The simulator decides at the bridge's poll
// interval. Frame times are the simulator's own draws for the scaled scenario's seed: the
// farm's workers and the cloud nodes sleep exactly them (cloud frames × nodeSpeed), so live
// and simulated runs render the same frames.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { BurstClient, createLogger, sleep } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import {
  loadScenario,
  sampleFrameTimes,
  simulate,
  spillwayController,
  type Scenario,
} from '@spillway/sdk/policy';
import { embeddedProviders, startService } from '@spillway/sdk/service';

/** The scenarios replayed, with their scale. */
const RUNS: readonly { readonly file: string; readonly size: number; readonly time: number }[] = [
  { file: 'long-frames-deadline.json', size: 4, time: 300 },
  { file: 'overnight-crunch.json', size: 10, time: 200 },
];
/** The bridge reports every this many milliseconds (the simulator decides as often). */
const POLL_MS = 1000;

const ROOT = path.resolve(__dirname, '../..');

/** The scenario scaled down by `size` and compressed by `time` (see the top of this file). */
export function scaleScenario(sc: Scenario, size: number, time: number): Scenario {
  const n = (x: number): number => Math.max(1, Math.round(x / size));
  return {
    ...sc,
    name: `${sc.name} ÷${size} ×1/${time}`,
    horizonSeconds: sc.horizonSeconds / time,
    localFarm: { ...sc.localFarm, workers: n(sc.localFarm.workers) },
    cloud: {
      ...sc.cloud,
      maxNodes: n(sc.cloud.maxNodes),
      nodeBootSeconds: sc.cloud.nodeBootSeconds / time,
      billingGranularitySeconds: sc.cloud.billingGranularitySeconds / time,
      transferSecondsPerFrame: sc.cloud.transferSecondsPerFrame / time,
      spotEvictionsPerNodeHour: 0,
    },
    ...(sc.budget?.maxSpendPerHour === undefined
      ? {}
      : { budget: { maxSpendPerHour: sc.budget.maxSpendPerHour / size } }),
    jobs: sc.jobs.map((j) => ({
      ...j,
      submitAtSeconds: j.submitAtSeconds / time,
      frames: n(j.frames),
      frameSeconds: { mean: j.frameSeconds.mean / time, stdev: j.frameSeconds.stdev / time },
      ...(j.deadlineAtSeconds === undefined ? {} : { deadlineAtSeconds: j.deadlineAtSeconds / time }),
    })),
  };
}

/** The frame script: sleeps its frame's scenario time (× nodeSpeed on a cloud node). */
const SLEEP_FRAME = `'use strict';
const fs = require('node:fs');
const [table, job, frame] = process.argv.slice(2);
const t = JSON.parse(fs.readFileSync(table, 'utf8'));
const seconds = t.times[job][Number(frame)] * (process.env.AZ_BATCH_NODE_ID ? t.nodeSpeed : t.localSpeed);
setTimeout(() => {}, Math.max(0, Math.round(seconds * 1000)));
`;

interface LiveResult {
  readonly cost: number;
  readonly deadlinesMet: number;
  readonly deadlinesTotal: number;
  readonly framesInCloud: number;
  readonly wallSeconds: number;
}

async function runLive(sc: Scenario, work: string): Promise<LiveResult> {
  const farm = path.join(work, 'farm');
  fs.mkdirSync(farm, { recursive: true });
  const times = sampleFrameTimes(sc);
  const table = path.join(farm, 'frames.json');
  fs.writeFileSync(
    table,
    JSON.stringify({
      times: Object.fromEntries(sc.jobs.map((j, i) => [j.id, times[i]])),
      localSpeed: sc.localFarm.speed,
      nodeSpeed: sc.cloud.nodeSpeed,
    }),
  );
  const script = path.join(farm, 'sleep-frame.js');
  fs.writeFileSync(script, SLEEP_FRAME);
  const logLines: string[] = [];
  const quiet = createLogger({ level: 'warn', write: (l) => logLines.push(l) });

  const group = 'burst';
  const config = loadConfig({
    env: {},
    overrides: {
      listen: '127.0.0.1:0',
      dataDir: path.join(work, 'spillway'),
      'compute.local.nodes': 0,
      'compute.local.bootDelayMs': Math.round(sc.cloud.nodeBootSeconds * 1000),
      ...(sc.budget?.maxSpendPerHour ? { 'budget.maxSpendPerHour': sc.budget.maxSpendPerHour } : {}),
      'burst.reportIntervalMs': POLL_MS,
      'burst.groups': {
        [group]: {
          nodeBootSeconds: sc.cloud.nodeBootSeconds,
          cloudFrameTimeRatio: sc.cloud.nodeSpeed / sc.localFarm.speed,
          transferSecondsPerFrame: sc.cloud.transferSecondsPerFrame,
          spotEvictionsPerNodeHour: 0,
          billingGranularitySeconds: sc.cloud.billingGranularitySeconds,
        },
      },
    },
  });
  const service = await startService(config, embeddedProviders(config), quiet);
  const client = new BurstClient(service.address);
  await client.capacity.ensure({
    name: group,
    mode: 'frame-offload',
    vmSize: 'local',
    maxDedicatedNodes: sc.cloud.maxNodes,
    maxSpotNodes: sc.cloud.maxNodes,
    cost: { dedicated: sc.cloud.dedicatedPricePerHour, spot: sc.cloud.spotPricePerHour },
  });
  const deadline = await FakeDeadline.start({
    workers: Array.from({ length: sc.localFarm.workers }, (_, i) => ({
      name: `w${String(i).padStart(3, '0')}`,
    })),
  });
  const bridge = await DeadlineBridge.start(
    resolveConfig({
      webservice: deadline.url,
      service: service.address,
      name: 'live',
      stateDir: path.join(work, 'bridge'),
      pollIntervalMs: POLL_MS,
      capacityGroup: group,
    }),
    { logger: quiet },
  );

  // Node billing, as the simulator counts it: from request (the node's creation) to its
  // last sighting, per started billing interval.
  const nodes = new Map<string, { created: number; last: number; spot: boolean }>();
  const stop = new AbortController();
  const meter = (async () => {
    while (!stop.signal.aborted) {
      for (const n of await client.capacity.nodes(group).catch(() => []))
        nodes.set(n.nodeId, {
          created: nodes.get(n.nodeId)?.created ?? n.createdAt?.getTime() ?? Date.now(),
          last: Date.now(),
          spot: n.priority === 'spot',
        });
      await sleep(100);
    }
  })();

  const start = Date.now();
  const ids = new Map<string, string>();
  const due = new Map<string, number>();
  const pending = [...sc.jobs].sort((a, b) => a.submitAtSeconds - b.submitAtSeconds);
  const finished = new Map<string, number>();
  for (;;) {
    const now = (Date.now() - start) / 1000;
    while (pending.length > 0 && pending[0]!.submitAtSeconds <= now) {
      const j = pending.shift()!;
      const id = deadline.submitJob(
        {
          Plugin: 'CommandLine',
          Name: j.id,
          Frames: `0-${j.frames - 1}`,
          ChunkSize: 1,
          Priority: j.priority,
          OutputDirectory0: farm,
          ...(j.deadlineAtSeconds === undefined
            ? {}
            : {
                ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(start + j.deadlineAtSeconds * 1000).toISOString()}`,
              }),
        },
        { Executable: process.execPath, Arguments: `${script} ${table} ${j.id} <STARTFRAME>` },
      );
      ids.set(j.id, id);
      if (j.deadlineAtSeconds !== undefined) due.set(j.id, start + j.deadlineAtSeconds * 1000);
    }
    for (const [name, id] of ids) {
      const s = deadline.summary(id);
      if (!finished.has(name) && s.completed === s.total) finished.set(name, Date.now());
    }
    if (pending.length === 0 && finished.size === sc.jobs.length) break;
    if (now > sc.horizonSeconds) throw new Error(`${sc.name}: not done by the horizon`);
    await sleep(100);
  }
  // Let the policy release the nodes (idle release after a billing interval).
  const settle = Date.now() + Math.max(5000, sc.cloud.billingGranularitySeconds * 3000);
  while (Date.now() < settle && (await client.capacity.nodes(group)).length > 0) await sleep(200);
  stop.abort();
  await meter;
  const gran = sc.cloud.billingGranularitySeconds;
  let cost = 0;
  for (const n of nodes.values()) {
    const billed = Math.ceil((n.last - n.created) / 1000 / gran - 1e-9) * gran;
    cost += (billed / 3600) * (n.spot ? sc.cloud.spotPricePerHour : sc.cloud.dedicatedPricePerHour);
  }
  let met = 0;
  for (const [name, at] of due) if ((finished.get(name) ?? Infinity) <= at) met++;
  let cloudFrames = 0;
  for await (const job of client.listJobs({ source: 'deadline:live' })) cloudFrames += job.counts.succeeded;
  const wallSeconds = (Date.now() - start) / 1000;
  client.close();
  await bridge.close();
  await deadline.close();
  await service.close();
  return { cost, deadlinesMet: met, deadlinesTotal: due.size, framesInCloud: cloudFrames, wallSeconds };
}

async function main(): Promise<void> {
  console.log(
    'spillway bench:live — scaled shared scenarios through the service, the Deadline bridge and a testing farm',
  );
  const rows: string[][] = [
    [
      'scenario',
      'simulated cost',
      'live cost',
      'live ÷ simulated',
      'deadlines (simulated)',
      'deadlines (live)',
      'cloud frames (sim / live)',
      'wall',
    ],
  ];
  for (const run of RUNS) {
    const sc = scaleScenario(loadScenario(path.join(ROOT, 'scenarios', run.file)), run.size, run.time);
    const predicted = simulate(sc, spillwayController(), { decisionIntervalSeconds: POLL_MS / 1000 });
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-bench-live-'));
    try {
      const live = await runLive(sc, work);
      rows.push([
        sc.name,
        predicted.cost.toFixed(4),
        live.cost.toFixed(4),
        predicted.cost > 0 ? (live.cost / predicted.cost).toFixed(2) : '–',
        `${predicted.deadlinesMet}/${predicted.deadlinesTotal}`,
        `${live.deadlinesMet}/${live.deadlinesTotal}`,
        `${predicted.framesOffloaded} / ${live.framesInCloud}`,
        `${live.wallSeconds.toFixed(0)} s`,
      ]);
      console.log(rows.at(-1)!.join('  '));
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`\n${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')}`);
}

if (require.main === module)
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
