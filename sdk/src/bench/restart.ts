/**
 * `npm run bench:restart`: how long `spillway serve` (embedded default) takes to listen,
 * cold and after a SIGKILL of the service and its Azurite while frames are rendering.
 *
 * Each round: a cold start on a fresh data directory; BENCH_RUNNING frames (3 s each, more
 * than the task slots, so some are running and some queued) are submitted; once they are
 * rendering the service and its Azurite are SIGKILLed together and the service is started
 * again on the same directory; the time until it listens is the restart time. The frames
 * must then all succeed, each having run once (the restarted service adopts the tasks that
 * were rendering instead of waiting for or killing them).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient } from '../client';
import { sleep } from '../retry';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RUNNING = Number(process.env.BENCH_RUNNING ?? 6);
const bin = path.resolve(__dirname, '../../bin/spillway.js');

async function serve(
  dataDir: string,
  listen: string,
): Promise<{ child: ChildProcess; address: string; ms: number }> {
  const addressFile = path.join(dataDir, `address-${Date.now()}`);
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      bin,
      'serve',
      '--listen',
      listen,
      '--data-dir',
      dataDir,
      '--nodes',
      '2',
      '--slots',
      '2',
      '--address-file',
      addressFile,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  while (!fs.existsSync(addressFile) || fs.readFileSync(addressFile, 'utf8') === '') {
    if (child.exitCode !== null) throw new Error('spillway serve exited');
    await sleep(10);
  }
  return { child, address: fs.readFileSync(addressFile, 'utf8'), ms: Date.now() - started };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const cold: number[] = [];
  const restart: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-bench-restart-'));
    const dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir);
    const completions = path.join(dir, 'completions');
    let service = await serve(dataDir, '127.0.0.1:0');
    cold.push(service.ms);
    const client = new BurstClient(service.address, { maxAttempts: 30 });
    try {
      const { jobId } = await client.submitFrames(
        {
          source: 'bench:restart',
          sourceJobId: `round-${round}`,
          commandTemplate: `sleep 3; echo #IFRAME# >> '${completions}'`,
        },
        Array.from({ length: RUNNING }, (_, i) => ({ sourceTaskId: String(i), frameStart: i, frameEnd: i })),
      );
      // Once frames are rendering, SIGKILL the service and its Azurite together.
      while ((await client.getJob(jobId)).counts.running === 0) await sleep(50);
      const azurite = execFileSync('pgrep', ['-P', String(service.child.pid), '-f', 'azurite'], {
        encoding: 'utf8',
      })
        .trim()
        .split('\n')
        .map(Number);
      for (const pid of azurite) process.kill(pid, 'SIGKILL');
      service.child.kill('SIGKILL');
      await new Promise((r) => service.child.once('exit', r));
      service = await serve(dataDir, service.address);
      restart.push(service.ms);
      // Every frame succeeds, each having run once.
      while ((await client.getJob(jobId)).counts.succeeded < RUNNING) await sleep(100);
      const runs = fs.readFileSync(completions, 'utf8').trim().split('\n');
      if (runs.length !== RUNNING) throw new Error(`${runs.length} runs of ${RUNNING} frames`);
    } finally {
      client.close();
      service.child.kill('SIGTERM');
      await new Promise((r) => service.child.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
    }
    console.log(`round ${round}: cold start ${cold.at(-1)} ms, restart after SIGKILL ${restart.at(-1)} ms`);
  }
  console.log(`service start until listening, ${ROUNDS} rounds, ${RUNNING} frames rendering at each kill:`);
  console.log(`  cold start                 median ${median(cold)} ms`);
  console.log(`  restart after SIGKILL      median ${median(restart)} ms (every frame ran once)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
