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
  const results: { mode: string; calls: number; ms: number }[] = [];
  try {
    for (const [mode, perCall] of [
      ['add-collection (100 per call)', 100],
      ['one task per call', 1],
    ] as const) {
      const backend = new BatchComputeBackend({
        accountUrl: emulator.url,
        credential: { accountName: emulator.accountName, accountKey: emulator.accountKey },
        maxTasksPerCall: perCall,
        maxConcurrentCalls: CONCURRENCY,
      });
      const job = perCall === 1 ? 'single' : 'batched';
      await backend.ensureGroup({
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
      const specs = tasks(job);
      await emulator.reset();
      const start = process.hrtime.bigint();
      await backend.createJob({ id: job, group: 'bench' });
      const result = await backend.addTasks(job, specs);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (result.added.length !== TASKS)
        throw new Error(`${mode}: ${result.added.length} of ${TASKS} tasks added`);
      results.push({ mode, calls: await emulator.requests(), ms });
      await backend.close();
    }
  } finally {
    child.send('stop');
  }
  console.log(
    `Submitting ${TASKS} tasks through BatchComputeBackend to the Batch emulator (${CONCURRENCY} calls in flight)`,
  );
  console.log('');
  console.log(
    `${'mode'.padEnd(32)}${'HTTP calls'.padStart(12)}${'seconds'.padStart(10)}${'tasks/s'.padStart(10)}`,
  );
  for (const r of results) {
    console.log(
      `${r.mode.padEnd(32)}${String(r.calls).padStart(12)}${(r.ms / 1000).toFixed(2).padStart(10)}${Math.round(
        (TASKS * 1000) / r.ms,
      )
        .toString()
        .padStart(10)}`,
    );
  }
  const [batched, single] = results as [(typeof results)[0], (typeof results)[0]];
  console.log('');
  console.log(
    `calls: ${batched.calls} vs ${single.calls} (job add included); throughput ratio: ${(single.ms / batched.ms).toFixed(1)}x`,
  );
}

(process.argv.includes('--serve-emulator') ? serve() : main()).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
