/**
 * `npm run bench:submit`: submits 10,000 tasks to the local Batch emulator three ways, in
 * the same run, rounds alternating: through the Batch backend (the real `@azure/batch`
 * client) in add-collection batches; through Microsoft's `az batch task create --json-file`
 * (the peer a real client uses: its SDK adds 100 tasks per call), timed from the command's
 * start to its exit; and through the Batch backend one task per call (a floor, not a peer).
 * It prints the HTTP calls the emulator counted, seconds and tasks per second (median and
 * min–max over rounds) and the ratios. The pool has no nodes: this measures submission only.
 * The emulator runs in its own process, as a real endpoint would. Set SPILLWAY_BENCH_AZ=0 to
 * leave `az` out (it must be on PATH).
 */
import { execFile, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { BatchComputeBackend } from '../compute/batch';
import type { ComputeTaskSpec } from '../compute/backend';
import { startBatchEmulator } from '../emulate/batch';
import { range } from './stats';

const TASKS = Number(process.env.SPILLWAY_BENCH_TASKS ?? 10_000);
const CONCURRENCY = 4;
const ROUNDS = Number(process.env.SPILLWAY_BENCH_ROUNDS ?? 3);
const AZ = process.env.SPILLWAY_BENCH_AZ !== '0';

/** A task in the Batch REST shape `az batch task create --json-file` reads. */
function restTask(t: ComputeTaskSpec): object {
  return {
    id: t.id,
    commandLine: t.commandLine,
    environmentSettings: Object.entries(t.environment ?? {}).map(([name, value]) => ({ name, value })),
    outputFiles: (t.outputFiles ?? []).map((f) => ({
      filePattern: f.filePattern,
      destination: { container: { containerUrl: f.containerUrl, path: f.path } },
      uploadOptions: { uploadCondition: f.uploadCondition },
    })),
  };
}

function tasks(prefix: string): ComputeTaskSpec[] {
  return Array.from({ length: TASKS }, (_, i) => {
    const frame = i + 1;
    return {
      id: `${prefix}-${String(frame).padStart(5, '0')}`,
      commandLine: `blender -b "$AZ_BATCH_JOB_PREP_WORKING_DIR/scene.blend" -o out/frame_#### -s ${frame} -e ${frame} -a`,
      environment: { SPILLWAY_FRAME: String(frame) },
      outputFiles: [
        {
          filePattern: 'out/*',
          containerUrl: 'http://127.0.0.1:10000/devstoreaccount1/frames?sv=2021-08-06&sig=REDACTED',
          path: `bench/${frame}`,
          uploadCondition: 'taskSuccess',
        },
      ],
    };
  });
}

type Reply = { url: string; accountName: string; accountKey: string } | { requests: number };

/** The emulator process: answers `reset` and `count` over IPC. */
async function serve(): Promise<void> {
  const emulator = await startBatchEmulator();
  process.on('message', (m: string) => {
    if (m === 'reset') emulator.resetCounters();
    if (m === 'stop') void emulator.close().then(() => process.exit(0));
    process.send?.({ requests: emulator.records.requests });
  });
  process.send?.({ url: emulator.url, accountName: emulator.accountName, accountKey: emulator.accountKey });
}

async function main(): Promise<void> {
  const child = fork(__filename, ['--serve-emulator'], { stdio: 'inherit' });
  const replies: ((r: Reply) => void)[] = [];
  child.on('message', (r: Reply) => replies.shift()?.(r));
  const ask = (m?: string): Promise<Reply> =>
    new Promise((resolve) => {
      replies.push(resolve);
      if (m) child.send(m);
    });
  const hello = (await ask()) as { url: string; accountName: string; accountKey: string };
  const emulator = {
    ...hello,
    reset: () => ask('reset'),
    requests: async () => ((await ask('count')) as { requests: number }).requests,
  };
  const modes = [
    { mode: 'spillway add-collection (100 per call)', perCall: 100 },
    ...(AZ ? [{ mode: 'az batch task create --json-file', perCall: 0 }] : []),
    { mode: 'spillway one task per call', perCall: 1 },
  ];
  const azDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-bench-submit-'));
  const runs = new Map<string, { calls: number; ms: number }[]>();
  try {
    const backends = modes.map(
      (m) =>
        new BatchComputeBackend({
          accountUrl: emulator.url,
          credential: { accountName: emulator.accountName, accountKey: emulator.accountKey },
          maxTasksPerCall: m.perCall || 100,
          maxConcurrentCalls: CONCURRENCY,
        }),
    );
    await backends[0]!.ensureGroup({
      name: 'bench',
      vmSize: 'Standard_D2as_v5',
      maxDedicatedNodes: 0,
      maxSpotNodes: 0,
      image: {
        publisher: 'canonical',
        offer: 'ubuntu',
        sku: '22_04',
        nodeAgentSkuId: 'batch.node.ubuntu 22.04',
      },
    });
    /** One submission: a job, then every task; returns the calls the emulator counted and the time. */
    const submit = async (i: number, job: string, count: number): Promise<{ calls: number; ms: number }> => {
      const backend = backends[i]!;
      const specs = tasks(job).slice(0, count);
      if (modes[i]!.perCall === 0) {
        // az: the job is made first (not timed), the tasks file written before the clock starts.
        await backend.createJob({ id: job, group: 'bench' });
        const file = path.join(azDir, `${job}.json`);
        fs.writeFileSync(file, JSON.stringify(specs.map(restTask)));
        await emulator.reset();
        const start = process.hrtime.bigint();
        await promisify(execFile)(
          'az',
          [
            'batch',
            'task',
            'create',
            '--job-id',
            job,
            '--json-file',
            file,
            '--account-endpoint',
            emulator.url,
            '--account-name',
            emulator.accountName,
            '--account-key',
            emulator.accountKey,
            '--output',
            'none',
            '--only-show-errors',
          ],
          {
            env: {
              ...process.env,
              AZURE_CONFIG_DIR: path.join(azDir, 'az'),
              AZURE_CORE_COLLECT_TELEMETRY: 'no',
            },
          },
        );
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        const calls = await emulator.requests();
        const added = (await backend.getTaskCounts(job)).active;
        if (added !== count) throw new Error(`${job}: ${added} of ${count} tasks added by az`);
        return { calls, ms };
      }
      await emulator.reset();
      const start = process.hrtime.bigint();
      await backend.createJob({ id: job, group: 'bench' });
      const result = await backend.addTasks(job, specs);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (result.added.length !== count)
        throw new Error(`${job}: ${result.added.length} of ${count} tasks added`);
      return { calls: await emulator.requests(), ms };
    };
    // Warm both paths up (JIT, connections), then alternate the modes so a noisy neighbour hits both.
    for (let i = 0; i < modes.length; i++) await submit(i, `warm${i}`, 500);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < modes.length; i++) {
        const r = await submit(i, `m${i}r${round}`, TASKS);
        runs.set(modes[i]!.mode, [...(runs.get(modes[i]!.mode) ?? []), r]);
      }
    }
    await Promise.all(backends.map((b) => b.close()));
  } finally {
    child.send('stop');
    fs.rmSync(azDir, { recursive: true, force: true });
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const results = modes.map((m) => {
    const r = runs.get(m.mode)!;
    const ms = r.map((x) => x.ms);
    return {
      mode: m.mode,
      calls: r[0]!.calls,
      ms: median(ms),
      seconds: range(
        ms.map((x) => x / 1000),
        2,
      ),
      rate: range(ms.map((x) => (TASKS * 1000) / x)),
    };
  });
  console.log(`Submitting ${TASKS} tasks to the Batch emulator in its own process`);
  console.log(
    `(spillway: ${CONCURRENCY} calls in flight; median and min–max of ${ROUNDS} alternating rounds after a warm-up)`,
  );
  console.log('');
  console.log(
    `${'mode'.padEnd(40)}${'HTTP calls'.padStart(11)}${'median s'.padStart(10)}${'seconds'.padStart(14)}${'tasks/s'.padStart(14)}`,
  );
  for (const r of results) {
    console.log(
      `${r.mode.padEnd(40)}${String(r.calls).padStart(11)}${(r.ms / 1000).toFixed(2).padStart(10)}${r.seconds.padStart(14)}${r.rate.padStart(14)}`,
    );
  }
  const batched = results[0]!;
  console.log('');
  for (const other of results.slice(1)) {
    console.log(
      `vs ${other.mode}: HTTP calls ${batched.calls} vs ${other.calls}; throughput ratio ${(other.ms / batched.ms).toFixed(1)}x (median)`,
    );
  }
}

(process.argv.includes('--serve-emulator') ? serve() : main()).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
