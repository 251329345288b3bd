import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient, type FrameEvent } from '@spillway/sdk';
import { spawnService, type ServiceProcess } from '../support/service';

// GIVEN `spillway serve` on the embedded default (local engine, Azurite started by the service)
// WHEN a 120-frame job runs and the service and its Azurite are SIGKILLed together 3 times
//   mid-run (Azurite holding unsaved metadata each time), the service restarted each time
// THEN every frame runs to completion once, every SUCCEEDED frame's output can be fetched
//   (byte for byte what the frame wrote), and a watcher sees every event once, in order.
// (The render tasks are the "cloud": they run on, as on a Batch node, and are adopted.)

jest.setTimeout(300_000);

const FRAMES = 120;

describe('outputs survive SIGKILL', () => {
  let dir: string;
  let service: ServiceProcess | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-sigkill-'));
  });
  afterEach(async () => {
    await service?.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });

  it('loses no output, runs no frame twice, and tells watchers exactly', async () => {
    const dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir);
    const completions = path.join(dir, 'completions.log');
    const restarts: number[] = [];
    service = await spawnService({ dataDir, nodes: 4, slotsPerNode: 2 });
    const address = service.address;
    const client = new BurstClient(address, { callTimeoutMs: 15_000, maxAttempts: 30 });

    const frames = Array.from({ length: FRAMES }, (_, i) => ({
      sourceTaskId: String(i + 1),
      frameStart: i + 1,
      frameEnd: i + 1,
    }));
    // Each frame writes an output that names it, and as its very last act records that it completed.
    const { jobId } = await client.submitFrames(
      {
        source: 'test:sigkill',
        sourceJobId: 'job-120',
        name: 'shot 120',
        commandTemplate: `sleep 0.$(( (#IFRAME# % 4) * 2 + 1 )); echo "frame #IFRAME# of #JOB#" > out/f_#ZFRAME#.txt; echo #IFRAME# >> '${completions}'`,
      },
      frames,
    );

    const seen: FrameEvent[] = [];
    const abort = new AbortController();
    const watching = (async () => {
      for await (const e of client.watchFrames({ jobId, abortSignal: abort.signal, maxBackoffMs: 200 })) {
        seen.push(e);
        if (seen.filter((x) => x.type === 'succeeded').length === FRAMES) abort.abort();
      }
    })();

    const succeeded = (): number => seen.filter((e) => e.type === 'succeeded').length;
    const waitFor = async (n: number): Promise<void> => {
      const deadline = Date.now() + 200_000;
      while (succeeded() < n) {
        if (Date.now() > deadline) {
          throw new Error(`only ${succeeded()} of ${n} frames succeeded\nservice log:\n${service!.output()}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    /** The service's Azurite (a child process of its own). */
    const azuriteOf = (pid: number): number[] => {
      try {
        return execFileSync('pgrep', ['-P', String(pid), '-f', 'azurite'], { encoding: 'utf8' })
          .trim()
          .split('\n')
          .map(Number);
      } catch {
        return [];
      }
    };
    for (const threshold of [8, 45, 90]) {
      await waitFor(threshold);
      const storage = azuriteOf(service.child.pid!);
      expect(storage).toHaveLength(1);
      for (const pid of storage) process.kill(pid, 'SIGKILL');
      await service.kill('SIGKILL');
      const t0 = Date.now();
      service = await spawnService({ dataDir, listen: address, nodes: 4, slotsPerNode: 2 });
      restarts.push(Date.now() - t0);
    }
    await waitFor(FRAMES);
    await watching;

    // Every frame ran to the end exactly once.
    const lines = fs.readFileSync(completions, 'utf8').trim().split('\n').map(Number);
    expect(lines.sort((a, b) => a - b)).toEqual(frames.map((f) => f.frameStart));

    // Watchers exact: every event once, in cursor order, one success per frame, no failure.
    const cursors = seen.map((e) => Number(e.cursor));
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
    expect(new Set(cursors).size).toBe(cursors.length);
    const done = seen.filter((e) => e.type === 'succeeded');
    expect(new Set(done.map((e) => e.frameId)).size).toBe(FRAMES);
    expect(seen.filter((e) => e.type === 'failed')).toEqual([]);

    // Every output of every SUCCEEDED frame is there, as the frame wrote it.
    const fetched = path.join(dir, 'fetched');
    const missing: string[] = [];
    for (const e of done) {
      expect(e.outputs).toHaveLength(1);
      const out = e.outputs![0]!;
      const n = Number(e.key.sourceTaskId);
      try {
        const got = await client.assets.fetchOutput(e.frameId, out.path, path.join(fetched, out.path));
        expect(fs.readFileSync(got.localPath, 'utf8')).toBe(`frame ${n} of shot 120\n`);
      } catch (err) {
        missing.push(`${n}: ${(err as Error).message}`);
      }
    }
    expect(missing).toEqual([]);
    client.close();
    // For the record (a benchmark, not a bound: the machine is shared).
    console.log(`restart after SIGKILL, until listening (ms): ${restarts.join(', ')}`);
  });
});
