/**
 * `npm run bench:events`: frame-event latency from each task's real exit to 50 concurrent
 * watchers, on a 10,000-frame job of no-op tasks (BENCH_COMMAND sets another command), the
 * job's speed per tenth of the run and the memory of the service and its Azurite.
 *
 * The service runs as its own process (`spillway serve`, BENCH_NODES x BENCH_SLOTS task
 * slots, 2 x 4 by default). The job is submitted through the SDK client, which splits it
 * into calls the service takes (BENCH_FRAMES may exceed one call's limit). Rounds
 * (BENCH_ROUNDS, default 1) each start a fresh service and data directory; every figure is
 * printed per round and as min–max over rounds.
 *
 * Where a latency starts, by backend (BENCH_BACKEND):
 * - `local` (the embedded default): the task's real exit, the mtime of the exit record its
 *   own shell writes the moment the command ends (`results/<job>/<task>.exit.json`). The
 *   figure covers everything after: output and log uploads, the outputs check in Blob
 *   Storage, the journal's fsync and the fan-out.
 * - `batch`: the service against `spillway emulate batch` in its own process, over the real
 *   `@azure/batch` client. Latency starts at the task's `endTime` as Batch reports it (after
 *   the node's uploads, as in Azure): it measures the completion polling path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { BurstClient } from '../client';
import { BatchComputeBackend } from '../compute/batch';
import { resultsDir } from '../compute/local';
import { sleep } from '../retry';
import { jobIdOf } from '../service/frames/store';
import { descendants, percentile, processMemory, range, tenths, type Tenth } from './stats';

const FRAMES = Number(process.env.BENCH_FRAMES ?? 10_000);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 50);
const NODES = Number(process.env.BENCH_NODES ?? 2);
const SLOTS = Number(process.env.BENCH_SLOTS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const BACKEND = process.env.BENCH_BACKEND ?? 'local';
/** Each frame's command: no-op by default; e.g. `echo #IFRAME# > out/f.txt` for one output per frame. */
const COMMAND = process.env.BENCH_COMMAND ?? ':';
const BIN = path.resolve(__dirname, '../../bin/spillway.js');

/** What one round measured. */
interface Round {
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** p99 of the frames after the first tenth. */
  readonly p99Rest: number;
  readonly tenths: Tenth[];
  readonly servicePeakMb: number;
  /** The service's resident memory once every frame was submitted. */
  readonly serviceSubmittedMb: number;
  readonly azuritePeakMb: number;
  readonly events: number;
}

/** The Batch emulator, in its own process; resolves once it listens. */
async function startEmulator(
  dir: string,
): Promise<{ proc: ChildProcess; url: string; account: string; key: string }> {
  const proc = spawn(
    process.execPath,
    [
      BIN,
      'emulate',
      'batch',
      '--port',
      '0',
      '--json',
      '--boot-delay-ms',
      '0',
      '--root-dir',
      path.join(dir, 'batch'),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  started.add(proc);
  const line = await new Promise<string>((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.stdout! });
    rl.once('line', resolve);
    proc.once('exit', () => reject(new Error('spillway emulate batch exited')));
  });
  const hello = JSON.parse(line) as { url: string; account: string; key: string };
  return { proc, ...hello };
}

/** Processes this bench started and has not stopped yet: stopped on SIGINT or SIGTERM too. */
const started = new Set<ChildProcess>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const p of started) p.kill('SIGTERM');
    process.exit(130);
  });
}

async function stop(proc: ChildProcess): Promise<void> {
  started.delete(proc);
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/** When each task of `jobId` exited: frame id (task id) -> ms since the epoch. */
async function exitTimes(
  jobId: string,
  frameIds: Iterable<string>,
  dataDir: string,
  batch?: { url: string; account: string; key: string },
): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  if (!batch) {
    const results = path.join(resultsDir(path.join(dataDir, 'engine')), jobId);
    for (const id of frameIds) times.set(id, fs.statSync(path.join(results, `${id}.exit.json`)).mtimeMs);
    return times;
  }
  const backend = new BatchComputeBackend({
    accountUrl: batch.url,
    credential: { accountName: batch.account, accountKey: batch.key },
  });
  try {
    for await (const t of backend.listTasks(jobId)) if (t.endTime) times.set(t.taskId, t.endTime.getTime());
  } finally {
    await backend.close();
  }
  return times;
}

async function round(n: number): Promise<Round> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-bench-events-'));
  const dataDir = path.join(dir, 'data');
  const addressFile = path.join(dir, 'address');
  const emulator = BACKEND === 'batch' ? await startEmulator(dir) : undefined;
  const env = { ...process.env };
  if (emulator) {
    fs.writeFileSync(path.join(dir, 'batch.key'), emulator.key);
    Object.assign(env, {
      SPILLWAY_COMPUTE_BACKEND: 'batch',
      SPILLWAY_BATCH_URL: emulator.url,
      SPILLWAY_BATCH_ACCOUNT: emulator.account,
      SPILLWAY_BATCH_KEY_FILE: path.join(dir, 'batch.key'),
    });
  }
  const service = spawn(
    process.execPath,
    [
      // e.g. BENCH_SERVICE_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the service
      ...(process.env.BENCH_SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      BIN,
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--nodes',
      String(NODES),
      '--slots',
      String(SLOTS),
      '--address-file',
      addressFile,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env },
  );
  started.add(service);
  const clients: BurstClient[] = [];
  try {
    while (!fs.existsSync(addressFile) || fs.readFileSync(addressFile, 'utf8') === '') {
      if (service.exitCode !== null) throw new Error('spillway serve exited');
      await sleep(50);
    }
    const address = fs.readFileSync(addressFile, 'utf8');
    const source = 'bench:events';
    const sourceJobId = `events-${FRAMES}-${n}`;
    const jobId = jobIdOf(source, sourceJobId);

    // Azurite's peak is sampled: it may be a grandchild that outlives nothing we wait on.
    let azuritePeakMb = 0;
    const sampler = setInterval(() => {
      for (const pid of descendants(service.pid!, 'azurite'))
        azuritePeakMb = Math.max(azuritePeakMb, processMemory(pid).peakMb);
    }, 1000);

    // Watchers first, so every one sees every event live.
    const received = new Map<string, number[]>(); // frameId -> receive times (ms, epoch)
    const abort = new AbortController();
    setMaxListeners(0, abort.signal); // one signal for every watcher
    for (let i = 0; i < WATCHERS; i++) clients.push(new BurstClient(address));
    let done = 0;
    const finished = new Promise<void>((resolve, reject) => {
      clients.forEach((client) => {
        void (async () => {
          let succeeded = 0;
          for await (const e of client.watchFrames({ jobId, abortSignal: abort.signal })) {
            if (e.type === 'failed') throw new Error(`frame ${e.frameId} failed`);
            if (e.type !== 'succeeded') continue;
            const now = performance.timeOrigin + performance.now();
            const list = received.get(e.frameId) ?? [];
            list.push(now);
            received.set(e.frameId, list);
            if (++succeeded === FRAMES) {
              if (++done === WATCHERS) resolve();
              break;
            }
          }
        })().catch(reject);
      });
    });

    const submitter = new BurstClient(address, { callTimeoutMs: 300_000 });
    clients.push(submitter);
    const startedAt = Date.now();
    function* frames(): Generator<{ sourceTaskId: string; frameStart: number; frameEnd: number }> {
      for (let i = 0; i < FRAMES; i++) yield { sourceTaskId: String(i), frameStart: i, frameEnd: i };
    }
    // The client splits the job into calls the service takes.
    for await (const _ of submitter.submitFramesInBatches(
      { source, sourceJobId, commandTemplate: COMMAND },
      frames(),
    ));
    const serviceSubmittedMb = processMemory(service.pid!).rssMb;
    await finished;
    const seconds = (Date.now() - startedAt) / 1000;
    abort.abort();
    clearInterval(sampler);
    const servicePeakMb = processMemory(service.pid!).peakMb;

    const exits = await exitTimes(jobId, received.keys(), dataDir, emulator);
    const perFrame = [...received].map(([frameId, times]) => {
      const exit = exits.get(frameId);
      if (exit === undefined) throw new Error(`no exit time for frame ${frameId}`);
      return { doneAt: Math.max(...times), latencies: times.map((t) => Math.max(0, t - exit)) };
    });
    const all = perFrame.flatMap((f) => f.latencies).sort((a, b) => a - b);
    const parts = tenths(perFrame, startedAt);
    const firstTenth = Math.floor(perFrame.length / 10);
    const rest = [...perFrame]
      .sort((a, b) => a.doneAt - b.doneAt)
      .slice(firstTenth)
      .flatMap((f) => f.latencies)
      .sort((a, b) => a - b);
    return {
      seconds,
      p50: percentile(all, 50),
      p99: percentile(all, 99),
      max: all[all.length - 1]!,
      p99Rest: percentile(rest, 99),
      tenths: parts,
      servicePeakMb,
      serviceSubmittedMb,
      azuritePeakMb,
      events: all.length,
    };
  } finally {
    for (const c of clients) c.close();
    await stop(service);
    if (emulator) await stop(emulator.proc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const from = BACKEND === 'batch' ? 'from Batch-reported task end' : 'from real exit';
  console.log(
    `frame events: ${FRAMES} frames of \`${COMMAND}\`, ${WATCHERS} watchers, backend ${BACKEND}, ` +
      `${NODES} x ${SLOTS} slots, ${ROUNDS} round(s)`,
  );
  const rounds: Round[] = [];
  for (let n = 0; n < ROUNDS; n++) {
    const r = await round(n);
    rounds.push(r);
    console.log(`round ${n + 1}: ${r.events} succeeded events (${WATCHERS} x ${FRAMES})`);
    console.log('  tenth   frames/s   p50 ms   p99 ms');
    r.tenths.forEach((t, i) =>
      console.log(
        `  ${String(i + 1).padStart(5)}${t.framesPerSecond.toFixed(1).padStart(11)}${t.p50.toFixed(0).padStart(9)}${t.p99.toFixed(0).padStart(9)}`,
      ),
    );
  }
  const of = (f: (r: Round) => number, digits = 0): string => range(rounds.map(f), digits);
  const first = (r: Round): number => r.tenths[0]?.framesPerSecond ?? 0;
  const last = (r: Round): number => r.tenths[r.tenths.length - 1]?.framesPerSecond ?? 0;
  console.log(`summary (min–max over ${ROUNDS} round(s)):`);
  console.log(
    `  job wall time            ${of((r) => r.seconds, 1)} s (${of((r) => FRAMES / r.seconds)} frames/s)`,
  );
  console.log(`  frames/s first tenth     ${of(first, 1)}`);
  console.log(`  frames/s last tenth      ${of(last, 1)} (last/first ${of((r) => last(r) / first(r), 2)})`);
  console.log(`  latency p50              ${of((r) => r.p50)} ms  (${from} -> watcher)`);
  console.log(`  latency p99              ${of((r) => r.p99)} ms  (${from} -> watcher)`);
  console.log(`  latency p99 first tenth  ${of((r) => r.tenths[0]?.p99 ?? 0)} ms`);
  console.log(`  latency p99 after it     ${of((r) => r.p99Rest)} ms`);
  console.log(`  latency max              ${of((r) => r.max)} ms`);
  console.log(`  service RSS submitted    ${of((r) => r.serviceSubmittedMb)} MB (all frames submitted)`);
  console.log(`  service peak RSS         ${of((r) => r.servicePeakMb)} MB`);
  console.log(`  Azurite peak RSS         ${of((r) => r.azuritePeakMb)} MB`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
