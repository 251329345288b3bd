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
// and simulated runs render the same frames. Each run also prints what the live parts add
// per frame that the scaled scenario does not have (process start, a worker's wait for its
// next task, the embedded engine's round trip through Azurite) and the group figures the
// service learned: where live and simulated cost part, those say why.
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

/**
 * The frame script: sleeps its frame's scenario time, read from a file of one time per
 * line (`<job>.local`, or `<job>.cloud` on a cloud node, already × its speed). `/bin/sh`
 * and `sleep` start in milliseconds: a `node` script's start took about 0.5 s of every
 * 4.5 s frame on this machine, a per-frame cost the time-compressed scenario does not have.
 */
const SLEEP_FRAME = `if [ -n "$AZ_BATCH_NODE_ID" ]; then kind=cloud; else kind=local; fi
exec sleep "$(sed -n "$(($3 + 1))p" "$1/$2.$kind")"
`;

interface LiveResult {
  readonly cost: number;
  readonly deadlinesMet: number;
  readonly deadlinesTotal: number;
  readonly framesInCloud: number;
  readonly wallSeconds: number;
  /** Local frames: mean of (wall time on the worker − the frame's drawn time), seconds. */
  readonly localOverheadSeconds: number;
  /** Cloud frames: mean of (start to success in the service − the frame's drawn time × node speed), seconds. */
  readonly cloudOverheadSeconds: number;
  /** Mean wait of a local worker between one frame and its next, seconds. */
  readonly localGapSeconds: number;
  /** The group figures the service planned with at the end (value and source). */
  readonly learned: string;
  readonly finishedAt: Readonly<Record<string, number>>;
}

async function runLive(sc: Scenario, work: string): Promise<LiveResult> {
  const farm = path.join(work, 'farm');
  fs.mkdirSync(farm, { recursive: true });
  const times = sampleFrameTimes(sc);
  const table = path.join(farm, 'times');
  fs.mkdirSync(table);
  sc.jobs.forEach((j, i) => {
    const lines = (speed: number): string => times[i]!.map((t) => (t * speed).toFixed(3)).join('\n') + '\n';
    fs.writeFileSync(path.join(table, `${j.id}.local`), lines(sc.localFarm.speed));
    fs.writeFileSync(path.join(table, `${j.id}.cloud`), lines(sc.cloud.nodeSpeed));
  });
  const script = path.join(farm, 'sleep-frame.sh');
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
    // Workers take a queued task within 10 ms (a worker gap is a per-frame cost too).
    pollIntervalMs: 10,
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
        { Executable: '/bin/sh', Arguments: `${script} ${table} ${j.id} <STARTFRAME>` },
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
  const jobName = new Map([...ids].map(([name, id]) => [id, name]));
  const jobIndex = new Map(sc.jobs.map((j, i) => [j.id, i]));
  let cloudFrames = 0;
  let cloudOver = 0;
  let cloudOverN = 0;
  for await (const job of client.listJobs({ source: 'deadline:live' })) {
    cloudFrames += job.counts.succeeded;
    const i = jobIndex.get(jobName.get(job.spec.sourceJobId) ?? '');
    if (i === undefined) continue;
    for await (const f of client.listFrames(job.jobId, { states: ['succeeded'] })) {
      const drawn = times[i]![Number(f.key.sourceTaskId)];
      if (drawn === undefined || !f.startedAt || !f.finishedAt) continue;
      cloudOver += (f.finishedAt.getTime() - f.startedAt.getTime()) / 1000 - drawn * sc.cloud.nodeSpeed;
      cloudOverN++;
    }
  }
  const wallSeconds = (Date.now() - start) / 1000;
  let over = 0;
  let overN = 0;
  for (const r of deadline.renders) {
    if (r.exitCode !== 0) continue;
    const drawn = times[jobIndex.get(jobName.get(r.jobId)!)!]![r.taskId]! * sc.localFarm.speed;
    over += (r.finishedAt.getTime() - r.startedAt.getTime()) / 1000 - drawn;
    overN++;
  }
  const byWorker = new Map<string, { s: number; f: number }[]>();
  for (const r of deadline.renders)
    byWorker.set(r.worker, [
      ...(byWorker.get(r.worker) ?? []),
      { s: r.startedAt.getTime(), f: r.finishedAt.getTime() },
    ]);
  let gap = 0;
  let gapN = 0;
  for (const list of byWorker.values()) {
    list.sort((a, b) => a.s - b.s);
    for (let i = 1; i < list.length; i++) {
      gap += (list[i]!.s - list[i - 1]!.f) / 1000;
      gapN++;
    }
  }
  const status = await client.burstStatus();
  const p = status.parameters.find((g) => g.capacityGroup === group);
  const fig = (name: string, v: { value: number; source: string } | undefined): string =>
    v ? `${name} ${v.value.toFixed(3)} (${v.source})` : `${name} –`;
  const learned = [
    fig('boot s', p?.nodeBootSeconds),
    fig('cloud:local', p?.cloudFrameTimeRatio),
    fig('transfer s', p?.transferSecondsPerFrame),
  ].join(', ');
  client.close();
  await bridge.close();
  await deadline.close();
  await service.close();
  return {
    cost,
    deadlinesMet: met,
    deadlinesTotal: due.size,
    framesInCloud: cloudFrames,
    wallSeconds,
    localOverheadSeconds: overN > 0 ? over / overN : 0,
    cloudOverheadSeconds: cloudOverN > 0 ? cloudOver / cloudOverN : 0,
    localGapSeconds: gapN > 0 ? gap / gapN : 0,
    learned,
    finishedAt: Object.fromEntries([...finished].map(([k, v]) => [k, (v - start) / 1000])),
  };
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
  const only = process.env.BENCH_LIVE_ONLY;
  for (const run of RUNS.filter((r) => !only || r.file.startsWith(only))) {
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
      console.log(
        `  local frame overhead ${live.localOverheadSeconds.toFixed(3)} s (frames average ${(
          sc.jobs[0]!.frameSeconds.mean * sc.localFarm.speed
        ).toFixed(
          2,
        )} s), worker gap ${live.localGapSeconds.toFixed(3)} s; cloud frame overhead ${live.cloudOverheadSeconds.toFixed(3)} s (simulated transfer ${sc.cloud.transferSecondsPerFrame.toFixed(3)} s); ${live.learned}`,
      );
      console.log(
        `  jobs finished at (s): live ${Object.entries(live.finishedAt)
          .map(([id, t]) => `${id} ${t.toFixed(1)}`)
          .join(', ')}; simulated ${predicted.jobs
          .map((j) => `${j.id} ${j.finishedAtSeconds?.toFixed(1) ?? 'never'}`)
          .join(
            ', ',
          )}; due ${sc.jobs.map((j) => `${j.id} ${j.deadlineAtSeconds?.toFixed(1) ?? '–'}`).join(', ')}`,
      );
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
