import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME } from '@spillway/sdk/storage';
import { run } from '../support/process';
import { startTestService, type TestService } from '../support/service';

// GIVEN a job whose frames succeeded, and a destination DIR where one sub-directory is a
//   symbolic link to somewhere else, and one output has gone from storage
// WHEN `spillway outputs fetch JOB --dest DIR` runs
// THEN every other output is fetched, the two it could not return are each reported (and the
//   exit code says so), nothing is written through the link, and no `.part` file is left.

jest.setTimeout(180_000);

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

describe('spillway outputs fetch with files it cannot return', () => {
  let service: TestService;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-fetch-'));
    service = await startTestService({ nodes: 2 });
  });
  afterAll(async () => {
    await service.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports each, fetches the rest, and never writes through a link', async () => {
    const { jobId } = await service.client.submitFrames(
      {
        source: 'test:fetch',
        sourceJobId: 'fetch-1',
        commandTemplate:
          'mkdir -p out/sub && echo #IFRAME# > out/f_#IFRAME#.txt && echo s#IFRAME# > out/sub/s_#IFRAME#.txt',
      },
      [1, 2, 3].map((n) => ({ sourceTaskId: String(n), frameStart: n, frameEnd: n })),
    );
    const abort = new AbortController();
    let done = 0;
    for await (const e of service.client.watchFrames({ jobId, abortSignal: abort.signal })) {
      if (e.type === 'succeeded' && ++done === 3) break;
      if (e.type === 'failed') throw new Error(e.message);
    }
    const frames = [];
    for await (const f of service.client.listFrames(jobId)) frames.push(f);
    const third = frames.find((f) => f.key.sourceTaskId === '3')!;

    // One output of frame 3 is gone from storage.
    const port = fs.readFileSync(path.join(service.dataDir, 'azurite', 'port'), 'utf8').trim();
    const blobs = BlobServiceClient.fromConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${AZURITE_ACCOUNT_KEY};` +
        `BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT_NAME};`,
    );
    let deleted = 0;
    for await (const container of blobs.listContainers()) {
      if (!container.name.endsWith('-outputs')) continue;
      const c = blobs.getContainerClient(container.name);
      for await (const b of c.listBlobsFlat({ prefix: `${jobId}/${third.frameId}/` })) {
        if (b.name.endsWith('/f_3.txt')) {
          await c.deleteBlob(b.name);
          deleted++;
        }
      }
    }
    expect(deleted).toBe(1);

    // DIR/sub is a link to a directory outside DIR.
    const dest = path.join(dir, 'renders');
    const elsewhere = path.join(dir, 'elsewhere');
    fs.mkdirSync(dest);
    fs.mkdirSync(elsewhere);
    fs.symlinkSync(elsewhere, path.join(dest, 'sub'));

    const result = await run(process.execPath, [
      bin,
      'outputs',
      'fetch',
      jobId,
      '--dest',
      dest,
      '--address',
      service.address,
      '--json',
    ]);
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout) as {
      fetched: number;
      failed: { path: string; error: string }[];
    };
    expect(summary.failed.map((f) => f.path).sort()).toEqual([
      'f_3.txt',
      'sub/s_1.txt',
      'sub/s_2.txt',
      'sub/s_3.txt',
    ]);
    expect(summary.failed.find((f) => f.path === 'sub/s_1.txt')!.error).toMatch(/symbolic link/);
    expect(summary.fetched).toBe(2);
    expect(fs.readFileSync(path.join(dest, 'f_1.txt'), 'utf8')).toBe('1\n');
    expect(fs.readFileSync(path.join(dest, 'f_2.txt'), 'utf8')).toBe('2\n');
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    expect(fs.readdirSync(dest).filter((f) => f.endsWith('.part'))).toEqual([]);
  });
});
