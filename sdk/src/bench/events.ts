/**
 * `npm run bench:events`: frame-event latency from task completion to watchers, with 50
 * concurrent watchers on a 10,000-frame job of no-op tasks (BENCH_COMMAND sets another
 * command), and the service's peak memory.
 *
 * The service runs as its own process (`spillway serve`, embedded engine with
 * BENCH_NODES x BENCH_SLOTS task slots, 2 x 4 by default: eight tasks at once on this
 * two-core machine, beside the service, Azurite and the watchers). A task's completion time
 * is when the engine recorded it completed, its outputs uploaded, as Batch reports a task
 * completed: the mtime of the outcome record it writes at that moment. Latency is from then
 * until each watcher holds the `succeeded` event: it covers checking the outputs in Blob
 * Storage, the journal's fsync and the fan-out.
 */
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient } from '../client';
import { jobIdOf } from '../service/frames/store';
import { resultsDir } from '../compute/local';
import { sleep } from '../retry';

const FRAMES = Number(process.env.BENCH_FRAMES ?? 10_000);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 50);
const NODES = Number(process.env.BENCH_NODES ?? 2);
const SLOTS = Number(process.env.BENCH_SLOTS ?? 4);
/** Each frame's command: no-op by default; e.g. `echo #IFRAME# > out/f.txt` for one output per frame. */
const COMMAND = process.env.BENCH_COMMAND ?? ':';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-bench-events-'));
  const dataDir = path.join(dir, 'data');
  const addressFile = path.join(dir, 'address');
  const bin = path.resolve(__dirname, '../../bin/spillway.js');
  const service = spawn(
    process.execPath,
    [
      // e.g. BENCH_SERVICE_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the service
      ...(process.env.BENCH_SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      bin,
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
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  try {
    while (!fs.existsSync(addressFile) || fs.readFileSync(addressFile, 'utf8') === '') {
      if (service.exitCode !== null) throw new Error('spillway serve exited');
      await sleep(50);
    }
    const address = fs.readFileSync(addressFile, 'utf8');
    const source = 'bench:events';
    const sourceJobId = `events-${FRAMES}`;
    const jobId = jobIdOf(source, sourceJobId);

    // Watchers first, so every one sees every event live.
    const received = new Map<string, number[]>(); // frameId -> receive times (ms, epoch)
    const abort = new AbortController();
    setMaxListeners(0, abort.signal); // one signal for every watcher
    const clients = Array.from({ length: WATCHERS }, () => new BurstClient(address));
    let done = 0;
    const finished = new Promise<void>((resolve) => {
      clients.forEach(async (client) => {
        let succeeded = 0;
        for await (const e of client.watchFrames({ jobId, abortSignal: abort.signal })) {
          if (e.type !== 'succeeded') continue;
          const now = Date.now() + Number(process.hrtime.bigint() % 1_000_000n) / 1e6;
          const list = received.get(e.frameId) ?? [];
          list.push(now);
          received.set(e.frameId, list);
          if (++succeeded === FRAMES) {
            if (++done === WATCHERS) resolve();
            break;
          }
        }
      });
    });

    const submitter = new BurstClient(address, { callTimeoutMs: 120_000 });
    const started = Date.now();
    const frames = Array.from({ length: FRAMES }, (_, i) => ({
      sourceTaskId: String(i),
      frameStart: i,
      frameEnd: i,
    }));
    await submitter.submitFrames({ source, sourceJobId, commandTemplate: COMMAND }, frames);
    await finished;
    const elapsed = (Date.now() - started) / 1000;
    abort.abort();

    // Completion times: the mtime of each task's exit-code record.
    const latencies: number[] = [];
    const results = path.join(resultsDir(path.join(dataDir, 'engine')), jobId);
    for (const [frameId, times] of received) {
      const completed = fs.statSync(path.join(results, frameId)).mtimeMs;
      for (const t of times) latencies.push(Math.max(0, t - completed));
    }
    latencies.sort((a, b) => a - b);
    const status = fs.readFileSync(`/proc/${service.pid}/status`, 'utf8');
    const peakKb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);

    console.log(
      `frame events: ${FRAMES} frames of \`${COMMAND}\`, ${WATCHERS} watchers, ${received.size} frames seen by all`,
    );
    console.log(
      `  job wall time           ${elapsed.toFixed(1)} s (${(FRAMES / elapsed).toFixed(0)} frames/s)`,
    );
    console.log(`  events delivered        ${latencies.length} succeeded events (${WATCHERS} x ${FRAMES})`);
    console.log(
      `  latency p50             ${percentile(latencies, 50).toFixed(1)} ms  (task exit -> watcher)`,
    );
    console.log(`  latency p99             ${percentile(latencies, 99).toFixed(1)} ms`);
    console.log(`  latency max             ${latencies[latencies.length - 1]!.toFixed(1)} ms`);
    console.log(`  service peak RSS        ${(peakKb / 1024).toFixed(0)} MB`);
    submitter.close();
    for (const c of clients) c.close();
  } finally {
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
