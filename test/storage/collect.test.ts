import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME } from '@spillway/sdk/storage';
import { startTestService, type TestService } from '../support/service';

// GIVEN the embedded default (local engine, embedded Azurite) and a frame whose out/ holds a
//   dot-file, a link to a file outside the task, a link to a directory outside, and a link
//   to one of its own outputs
// WHEN the frame succeeds
// THEN the dot-file is an output (listed, uploaded), nothing behind a link is listed or
//   uploaded, and the frame's log names each skipped path with why.

jest.setTimeout(120_000);

describe('the output collector on the embedded default', () => {
  let service: TestService;
  let outside: string;
  beforeAll(async () => {
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-outside-'));
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'studio-secret');
    fs.mkdirSync(path.join(outside, 'tree'));
    fs.writeFileSync(path.join(outside, 'tree', 'more.txt'), 'studio-secret-2');
    service = await startTestService({ nodes: 1 });
  });
  afterAll(async () => {
    await service.close();
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it('collects dot-files, follows no link, and names each skip in the frame log', async () => {
    const { jobId } = await service.client.submitFrames(
      {
        source: 'test:collect',
        sourceJobId: 'collect-1',
        commandTemplate: [
          'mkdir -p out',
          'echo #IFRAME# > out/f_#IFRAME#.txt',
          'echo meta > out/.f_#IFRAME#.meta',
          `ln -s ${outside}/secret.txt out/escape.txt`,
          `ln -s ${outside}/tree out/tree`,
          'ln -s f_#IFRAME#.txt out/alias.txt',
        ].join(' && '),
      },
      [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
    );
    const abort = new AbortController();
    for await (const e of service.client.watchFrames({ jobId, abortSignal: abort.signal })) {
      if (e.type === 'succeeded') break;
      if (e.type === 'failed') throw new Error(e.message);
    }
    abort.abort();
    const frames = [];
    for await (const f of service.client.listFrames(jobId)) frames.push(f);
    const frame = frames[0]!;
    expect(frame.outputs.map((o) => o.path).sort()).toEqual(['.f_1.meta', 'f_1.txt']);

    // What reached storage: the two outputs (and outputs.json), nothing from behind a link.
    const port = fs.readFileSync(path.join(service.dataDir, 'azurite', 'port'), 'utf8').trim();
    const blobs = BlobServiceClient.fromConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${AZURITE_ACCOUNT_KEY};` +
        `BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT_NAME};`,
    );
    const uploaded: string[] = [];
    for await (const container of blobs.listContainers()) {
      if (!container.name.endsWith('-outputs')) continue;
      const c = blobs.getContainerClient(container.name);
      for await (const b of c.listBlobsFlat({ prefix: `${jobId}/${frame.frameId}/` }))
        uploaded.push(b.name.slice(`${jobId}/${frame.frameId}/`.length));
    }
    expect(uploaded).toEqual(expect.arrayContaining(['.f_1.meta', 'f_1.txt', 'outputs.json']));
    expect(uploaded.some((n) => /escape|tree|alias/.test(n))).toBe(false);

    // The frame's log names each skipped path and why.
    const log: Buffer[] = [];
    for await (const c of service.client.followFrameLog(jobId, frame.frameId)) log.push(c.data);
    const text = Buffer.concat(log).toString();
    expect(text).toContain(
      'spillway_fetch: collect: skipped alias.txt: symlink inside the output directory: not followed',
    );
    expect(text).toContain(
      'spillway_fetch: collect: skipped escape.txt: symlink to outside the output directory: never followed, removed',
    );
    expect(text).toContain(
      'spillway_fetch: collect: skipped tree: symlink to outside the output directory: never followed, removed',
    );
    expect(text).not.toContain('studio-secret');
  });
});
