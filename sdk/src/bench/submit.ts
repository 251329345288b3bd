/**
 * `npm run bench:submit`: submits 10,000 tasks through the Batch backend (the real
 * `@azure/batch` client) to the local Batch emulator, once in add-collection batches and
 * once one task per call, in the same run, and prints the HTTP calls the emulator counted,
 * tasks per second, and the ratio. The pool has no nodes: this measures submission only.
 * The emulator runs in its own process, as a real endpoint would.
 */
import { fork } from 'node:child_process';
import { BatchComputeBackend } from '../compute/batch';
import type { ComputeTaskSpec } from '../compute/backend';
import { startBatchEmulator } from '../emulate/batch';

const TASKS = Number(process.env.SPILLWAY_BENCH_TASKS ?? 10_000);
const CONCURRENCY = 4;
const ROUNDS = Number(process.env.SPILLWAY_BENCH_ROUNDS ?? 3);

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
    { mode: 'add-collection (100 per call)', perCall: 100 },
    { mode: 'one task per call', perCall: 1 },
  ];
  const runs = new Map<string, { calls: number; ms: number }[]>();
  try {
    const backends = modes.map(
      (m) =>
        new BatchComputeBackend({
          accountUrl: emulator.url,
          credential: { accountName: emulator.accountName, accountKey: emulator.accountKey },
          maxTasksPerCall: m.perCall,
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
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const results = modes.map((m) => {
    const r = runs.get(m.mode)!;
    return { mode: m.mode, calls: r[0]!.calls, ms: median(r.map((x) => x.ms)) };
  });
  console.log(
    `Submitting ${TASKS} tasks through BatchComputeBackend to the Batch emulator in its own process`,
  );
  console.log(`(${CONCURRENCY} calls in flight; median of ${ROUNDS} alternating rounds after a warm-up)`);
  console.log('');
  console.log(
    `${'mode'.padEnd(32)}${'HTTP calls'.padStart(12)}${'seconds'.padStart(10)}${'tasks/s'.padStart(10)}`,
  );
  for (const r of results) {
    const rate = Math.round((TASKS * 1000) / r.ms).toString();
    console.log(
      `${r.mode.padEnd(32)}${String(r.calls).padStart(12)}${(r.ms / 1000).toFixed(2).padStart(10)}${rate.padStart(10)}`,
    );
  }
  const [batched, single] = results as [(typeof results)[0], (typeof results)[0]];
  console.log('');
  console.log(
    `HTTP calls: ${batched.calls} vs ${single.calls} (the job add included); throughput ratio: ${(single.ms / batched.ms).toFixed(1)}x`,
  );
}

(process.argv.includes('--serve-emulator') ? serve() : main()).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
