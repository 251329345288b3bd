import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient, silentLogger } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { embeddedProviders, type RunningService, startService } from '@spillway/sdk/service';
import { startBatchEmulator } from '@spillway/sdk/emulate';

// GIVEN the service configured with `compute.backend: batch`, against the Batch emulator
// (the real @azure/batch client over HTTP, shared-key auth) and the embedded Azurite
// WHEN frames are submitted over gRPC
// THEN they run as Batch tasks, their outputs come back through Blob Storage, and each
// frame succeeds once with its output listed.

describe('the service on the Azure Batch backend', () => {
  let dir: string;
  let emulator: Awaited<ReturnType<typeof startBatchEmulator>>;
  let service: RunningService;
  let client: BurstClient;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-svc-batch-'));
    emulator = await startBatchEmulator({ port: 0 });
    fs.writeFileSync(path.join(dir, 'batch.key'), emulator.accountKey);
    const config = loadConfig({
      env: {},
      overrides: {
        listen: '127.0.0.1:0',
        dataDir: path.join(dir, 'data'),
        'compute.backend': 'batch',
        'compute.local.nodes': 2,
        'compute.batch.accountUrl': emulator.url,
        'compute.batch.accountName': emulator.accountName,
        'compute.batch.accountKeyFile': path.join(dir, 'batch.key'),
      },
    });
    service = await startService(config, embeddedProviders(config), silentLogger);
    client = new BurstClient(service.address);
  });

  afterAll(async () => {
    client?.close();
    await service?.close();
    await emulator?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs frames as Batch tasks and brings their outputs back', async () => {
    const frames = Array.from({ length: 8 }, (_, i) => ({
      sourceTaskId: String(i + 1),
      frameStart: i + 1,
      frameEnd: i + 1,
    }));
    const { jobId } = await client.submitFrames(
      {
        source: 'test:batch',
        sourceJobId: 'b1',
        commandTemplate: 'echo frame #IFRAME# > out/frame_#ZFRAME#.txt',
      },
      frames,
    );
    const done = new Map<string, number>();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 90_000);
    for await (const e of client.watchFrames({ jobId, abortSignal: abort.signal })) {
      expect(e.type).not.toBe('failed');
      if (e.type === 'succeeded') {
        done.set(e.key.sourceTaskId, (done.get(e.key.sourceTaskId) ?? 0) + 1);
        const n = e.key.sourceTaskId.padStart(4, '0');
        expect(e.outputs).toEqual([
          {
            path: `frame_${n}.txt`,
            sizeBytes: `frame ${e.key.sourceTaskId}\n`.length,
            sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
          },
        ]);
        if (done.size === frames.length) break;
      }
    }
    clearTimeout(timer);
    expect([...done.values()]).toEqual(frames.map(() => 1));
  });
});
