import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient, type FrameEvent } from '@spillway/sdk';
import { spawnService, type ServiceProcess } from '../support/service';

// GIVEN a real `spillway serve` child process on the local engine
// WHEN a 200-frame job runs and the service is killed with SIGKILL twice mid-run and restarted
// THEN every frame completes exactly once, and a watcher sees every event once, in order.

jest.setTimeout(180_000);

describe('service durability under SIGKILL', () => {
  let dir: string;
  let service: ServiceProcess | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-durable-'));
  });
  afterEach(async () => {
    // Graceful at the end, so the service stops its Azurite before the directory goes.
    await service?.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });

  it('loses nothing and runs nothing twice', async () => {
    const dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir);
    const completions = path.join(dir, 'completions.log');
    service = await spawnService({ dataDir, nodes: 4, slotsPerNode: 2 });
    const address = service.address;
    const client = new BurstClient(address, { callTimeoutMs: 10_000, maxAttempts: 20 });

    const frames = Array.from({ length: 200 }, (_, i) => ({
      sourceTaskId: String(i + 1),
      frameStart: i + 1,
      frameEnd: i + 1,
    }));
    // Each frame takes 50-250 ms, writes its output, and as its very last act records that it completed.
    const { jobId } = await client.submitFrames(
      {
        source: 'test:durability',
        sourceJobId: 'job-200',
        commandTemplate: `sleep 0.$(( (#IFRAME# % 5) * 5 + 5 )); echo #IFRAME# > out/frame.txt; echo #IFRAME# >> '${completions}'`,
      },
      frames,
    );

    const seen: FrameEvent[] = [];
    const abort = new AbortController();
    let reconnects = 0;
    const watching = (async () => {
      for await (const e of client.watchFrames({
        jobId,
        abortSignal: abort.signal,
        maxBackoffMs: 200,
        onReconnect: () => reconnects++,
      })) {
        seen.push(e);
        if (seen.filter((x) => x.type === 'succeeded').length === 200) abort.abort();
      }
    })();

    const succeeded = () => seen.filter((e) => e.type === 'succeeded').length;
    const waitFor = async (n: number): Promise<void> => {
      const deadline = Date.now() + 120_000;
      while (succeeded() < n) {
        if (Date.now() > deadline) {
          const failed = seen.filter((e) => e.type === 'failed').slice(0, 3);
          throw new Error(
            `only ${succeeded()} of ${n} frames succeeded; failures: ${JSON.stringify(failed)}\nservice log:\n${service!.output()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    for (const threshold of [40, 110]) {
      await waitFor(threshold);
      await service.kill('SIGKILL');
      service = await spawnService({ dataDir, listen: address, nodes: 4, slotsPerNode: 2 });
    }
    await waitFor(200);
    await watching;
    client.close();

    // Every frame completed exactly once (its command ran to the end once).
    const lines = fs.readFileSync(completions, 'utf8').trim().split('\n').map(Number);
    expect(lines).toHaveLength(200);
    expect(new Set(lines).size).toBe(200);

    // The watcher saw every event once, in cursor order, with one success per frame.
    const cursors = seen.map((e) => Number(e.cursor));
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
    expect(new Set(cursors).size).toBe(cursors.length);
    const succeededIds = seen.filter((e) => e.type === 'succeeded').map((e) => e.frameId);
    expect(succeededIds).toHaveLength(200);
    expect(new Set(succeededIds).size).toBe(200);
    // No frame is done without its output, hashed on the node.
    for (const e of seen.filter((x) => x.type === 'succeeded')) {
      expect(e.outputs?.map((o) => [o.path, o.sizeBytes])).toEqual([
        ['frame.txt', e.key.sourceTaskId.length + 1],
      ]);
    }
    expect(seen.filter((e) => e.type === 'failed')).toEqual([]);
    expect(reconnects).toBeGreaterThanOrEqual(2);

    // A fresh watch from the start replays the same log, event for event.
    const verify = new BurstClient(address);
    const replay: string[] = [];
    const stop = new AbortController();
    for await (const e of verify.watchFrames({ jobId, abortSignal: stop.signal })) {
      replay.push(`${e.cursor}:${e.frameId}:${e.type}`);
      if (replay.length === seen.length) stop.abort();
    }
    verify.close();
    expect(replay).toEqual(seen.map((e) => `${e.cursor}:${e.frameId}:${e.type}`));
  });
});
