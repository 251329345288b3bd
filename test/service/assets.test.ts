import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import * as storage from '@spillway/sdk/storage';
import {
  type BurstClient,
  BurstServiceError,
  createLogger,
  type Frame,
  type JobSpec,
  wire,
} from '@spillway/sdk';
import { run } from '../support/process';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service (local engine, embedded Azurite, gRPC on an ephemeral loopback port)
// WHEN a client syncs assets over the AssetService (plan, upload, commit, get), runs jobs
// that use the manifest and write outputs, and fetches the outputs back (client and CLI)
// THEN content is stored only when it matches its hash, manifests are stored exactly as
// `spillway assets sync` stores them and reach the task, outputs come back verified and
// resumable, and every refusal names what was wrong; no SAS reaches a log line.

const spillway = path.resolve(__dirname, '../../sdk/bin/spillway.js');
const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

/** The typed error a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<BurstServiceError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BurstServiceError);
  return e as BurstServiceError;
}

/** Waits until every frame of the job is finished; returns its frames. */
async function finished(client: BurstClient, jobId: string): Promise<Frame[]> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const job = await client.getJob(jobId);
    if (job.state !== 'active') {
      const frames: Frame[] = [];
      for await (const f of client.listFrames(jobId)) frames.push(f);
      return frames;
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} still active: ${JSON.stringify(job.counts)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function runCli(args: string[]): ReturnType<typeof run> {
  return run(process.execPath, [spillway, ...args]);
}

describe('AssetService', () => {
  let service: TestService;
  let dir: string;
  let blobs: BlobServiceClient;
  let assets: ContainerClient;
  let raw: wire.assets.AssetServiceClient;
  const lines: string[] = [];

  // The asset tree the tests sync: a duplicate (same content at two paths) and one file
  // large enough to go through staged blocks.
  const a = Buffer.from('scene description v1\n');
  const b = randomBytes(5 * 1024 * 1024 + 123);
  const entries = [
    { path: 'scene/a.txt', sizeBytes: a.length, sha256: sha(a) },
    { path: 'tex/b.bin', sizeBytes: b.length, sha256: sha(b) },
    { path: 'scene/copy-of-a.txt', sizeBytes: a.length, sha256: sha(a) },
  ];
  let manifestId: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-assets-'));
    service = await startTestService({
      nodes: 1,
      slotsPerNode: 2,
      logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }),
    });
    // The service's own storage, for checking what it stored (Azurite's well-known account).
    const port = fs.readFileSync(path.join(service.dataDir, 'azurite', 'port'), 'utf8').trim();
    const cs =
      `DefaultEndpointsProtocol=http;AccountName=${storage.AZURITE_ACCOUNT_NAME};` +
      `AccountKey=${storage.AZURITE_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:${port}/${storage.AZURITE_ACCOUNT_NAME};`;
    blobs = BlobServiceClient.fromConnectionString(cs, storage.pipelineOptions());
    assets = blobs.getContainerClient('spillway');
    raw = new wire.assets.AssetServiceClient(service.address, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    raw?.close();
    await service?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('plans, refuses content that does not match its header, uploads, commits and gets a manifest', async () => {
    const client = service.client.assets;

    // Nothing is there yet: each missing content is listed once.
    const plan = await client.planAssetSync(entries);
    expect(plan.missingSha256).toEqual([sha(a), sha(b)]);
    expect(plan.missingBytes).toBe(a.length + b.length);
    expect(plan.presentBytes).toBe(0);
    expect(plan.upload).toBeUndefined();

    // Bad manifests are refused with the field path.
    const bad = [
      { entries: [entries[0]!, { ...entries[1]!, sha256: 'ABC' }], field: 'entries[1].sha256' },
      { entries: [{ ...entries[0]!, path: '/etc/passwd' }], field: 'entries[0].path' },
      { entries: [{ ...entries[0]!, path: 'scene/../../x' }], field: 'entries[0].path' },
      { entries: [entries[0]!, { ...entries[1]!, path: 'scene/a.txt' }], field: 'entries[1].path' },
      { entries: [entries[0]!, { ...entries[2]!, sizeBytes: 1 }], field: 'entries[1].size_bytes' },
    ];
    for (const { entries: e, field } of bad) {
      const err = await failure(client.planAssetSync(e));
      expect(err.status).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.field).toBe(field);
      expect(err.message).toContain(field);
    }

    // Committing before uploading names the first missing content.
    const early = await failure(client.commitManifest(entries));
    expect(early.status).toBe(grpc.status.FAILED_PRECONDITION);
    expect(early.message).toContain(sha(a));
    expect(early.message).toContain('entries[0]');

    // Bytes that do not hash to the header's sha256: DATA_LOSS, nothing stored (small content
    // in memory, large content as staged blocks that are never committed).
    const tampered = Buffer.from(b);
    tampered[b.length - 1] = tampered[b.length - 1]! ^ 0xff;
    for (const [bytes, claimed] of [
      [Buffer.from('not the scene\n'), sha(a)],
      [tampered, sha(b)],
    ] as const) {
      const err = await failure(client.uploadContent(bytes, { sha256: claimed }));
      expect(err.status).toBe(grpc.status.DATA_LOSS);
      expect(err.message).toContain(claimed);
      expect(await assets.getBlobClient(`content/${claimed}`).exists()).toBe(false);
    }
    // A size that is not the header's: DATA_LOSS too (raw stream: header, then one byte short).
    const short = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = raw.uploadContent((err) => resolve(err));
      call.write({ payload: { $case: 'header', value: { sha256: sha(a), sizeBytes: a.length + 1 } } });
      call.write({ payload: { $case: 'chunk', value: a } });
      call.end();
    });
    expect(short?.code).toBe(grpc.status.DATA_LOSS);
    // A chunk before the header is refused, naming the header.
    const headless = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = raw.uploadContent((err) => resolve(err));
      call.write({ payload: { $case: 'chunk', value: a } });
      call.end();
    });
    expect(headless?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(headless?.metadata.get('spillway-field')).toEqual(['header']);
    expect((await client.planAssetSync(entries)).missingSha256).toEqual([sha(a), sha(b)]);

    // Real uploads: from a file and from bytes; a second upload is acknowledged at once.
    const aFile = path.join(dir, 'a.txt');
    fs.writeFileSync(aFile, a);
    expect(await client.uploadContent(aFile)).toEqual({
      sha256: sha(a),
      bytesStored: a.length,
      alreadyPresent: false,
    });
    expect(await client.uploadContent(b)).toEqual({
      sha256: sha(b),
      bytesStored: b.length,
      alreadyPresent: false,
    });
    expect(await client.uploadContent(b)).toEqual({ sha256: sha(b), bytesStored: 0, alreadyPresent: true });
    // (Large buffers are compared by hash: jest's deep equality walks them byte by byte.)
    expect(sha(await assets.getBlobClient(`content/${sha(b)}`).downloadToBuffer())).toBe(sha(b));

    const again = await client.planAssetSync(entries);
    expect(again.missingSha256).toEqual([]);
    expect(again.missingBytes).toBe(0);
    expect(again.presentBytes).toBe(a.length + b.length);

    // Commit: the id is the SHA-256 of the canonical manifest, stored where sync stores it.
    const committed = await client.commitManifest(entries, { name: 'shot010 – lighting' });
    const canonical = storage.canonicalManifestJson({ version: 1, files: entries });
    manifestId = committed.manifestId;
    expect(committed).toEqual({
      manifestId: sha(canonical),
      fileCount: 3,
      totalBytes: 2 * a.length + b.length,
    });
    expect((await assets.getBlobClient(`manifests/${manifestId}.json`).downloadToBuffer()).toString()).toBe(
      canonical,
    );
    // `spillway assets sync` of the same tree into the same container finds the very same manifest.
    const tree = path.join(dir, 'tree');
    for (const e of entries) {
      fs.mkdirSync(path.dirname(path.join(tree, e.path)), { recursive: true });
      fs.writeFileSync(path.join(tree, e.path), e.sha256 === sha(a) ? a : b);
    }
    const synced = await storage.syncAssets(tree, { containerClient: assets, hashCacheFile: false });
    expect(synced.manifestId).toBe(manifestId);
    expect(synced.manifestUploaded).toBe(false);
    expect(synced.filesUploaded).toBe(0);

    const got = await client.getManifest(manifestId);
    expect(got.manifestId).toBe(manifestId);
    expect(got.name).toBe('shot010 – lighting');
    expect(got.entries).toEqual([...entries].sort((x, y) => (x.path < y.path ? -1 : 1)));

    const unknown = 'f'.repeat(64);
    const missing = await failure(client.getManifest(unknown));
    expect(missing.status).toBe(grpc.status.NOT_FOUND);
    expect(missing.message).toContain(unknown);
    const malformed = await failure(client.getManifest('nope'));
    expect(malformed.status).toBe(grpc.status.INVALID_ARGUMENT);
    expect(malformed.field).toBe('manifest_id');
  });

  it('issues a short-lived create/write-only upload SAS, and never logs it', async () => {
    const before = Date.now();
    const plan = await service.client.assets.planAssetSync(entries, { wantUploadUrl: true });
    expect(plan.upload).toBeDefined();
    const url = new URL(plan.upload!.url);
    expect(url.searchParams.get('sp')).toBe('cw');
    const expiresOn = plan.upload!.expiresOn.getTime();
    expect(expiresOn).toBeGreaterThan(before);
    expect(expiresOn).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    expect(new Date(url.searchParams.get('se')!).getTime()).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);

    // It can create content/<sha256> (which the service then counts as present), not read it.
    const c = Buffer.from(`direct upload ${Date.now()}\n`);
    const direct = new ContainerClient(plan.upload!.url).getBlockBlobClient(`content/${sha(c)}`);
    await direct.upload(c, c.length);
    await expect(direct.downloadToBuffer()).rejects.toMatchObject({ statusCode: 403 });
    const withC = await service.client.assets.planAssetSync([
      { path: 'c.txt', sizeBytes: c.length, sha256: sha(c) },
    ]);
    expect(withC.missingSha256).toEqual([]);

    const sig = url.searchParams.get('sig')!;
    expect(sig.length).toBeGreaterThan(10);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(sig);
  });

  it('runs a job on a manifest committed over gRPC: the task sees its files in $SPILLWAY_ASSETS_DIR', async () => {
    const client = service.client;
    const job: JobSpec = {
      source: 'test:assets',
      sourceJobId: 'uses-manifest',
      assetManifestId: manifestId,
      commandTemplate:
        'cp "$SPILLWAY_ASSETS_DIR/scene/copy-of-a.txt" out/seen.txt && ' +
        'sha256sum "$SPILLWAY_ASSETS_DIR/tex/b.bin" | cut -c1-64 > out/b.sha256',
    };
    const { jobId } = await client.submitFrames(job, [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }]);
    const [frame] = await finished(client, jobId);
    expect(frame).toMatchObject({ state: 'succeeded' }); // on failure, shows the frame's message
    const dest = path.join(dir, 'manifest-job');
    await client.assets.fetchOutput(frame!.frameId, 'seen.txt', path.join(dest, 'seen.txt'));
    await client.assets.fetchOutput(frame!.frameId, 'b.sha256', path.join(dest, 'b.sha256'));
    expect(fs.readFileSync(path.join(dest, 'seen.txt'))).toEqual(a);
    expect(fs.readFileSync(path.join(dest, 'b.sha256'), 'utf8').trim()).toBe(sha(b));
  });

  describe('outputs', () => {
    let jobId: string;
    let frames: Frame[];
    const big = 'sub/big_0001.bin';
    beforeAll(async () => {
      const { jobId: id } = await service.client.submitFrames(
        {
          source: 'test:assets',
          sourceJobId: 'outputs',
          commandTemplate:
            'echo rendering #IFRAME#; echo warning #IFRAME# >&2; ' +
            'test #IFRAME# -le 2 || exit 3; echo frame #IFRAME# > out/frame_#ZFRAME#.txt && ' +
            'mkdir -p out/sub && head -c $(( 2500000 + #IFRAME# )) /dev/urandom > out/sub/big_#ZFRAME#.bin',
        },
        [1, 2, 3].map((n) => ({ sourceTaskId: String(n), frameStart: n, frameEnd: n })),
      );
      jobId = id;
      frames = await finished(service.client, jobId);
      expect(frames.map((f) => f.state)).toEqual(['succeeded', 'succeeded', 'failed']);
    });
    const frame = (n: number): Frame => frames[n - 1]!;

    it("keeps one log per frame, stderr interleaved with stdout, and the agent's stderr only on failure", async () => {
      const logs = blobs.getContainerClient('spillway-outputs');
      const blob = (n: number, name: string): Promise<string | undefined> =>
        logs
          .getBlobClient(`logs/${jobId}/${frame(n).frameId}/${name}`)
          .downloadToBuffer()
          .then(
            (b) => b.toString('utf8'),
            (e: unknown) => {
              if ((e as { statusCode?: number }).statusCode === 404) return undefined;
              throw e;
            },
          );
      // The render's lines in the order written, then the node script's summary of its outputs.
      expect(await blob(1, 'stdout.txt')).toMatch(
        /^rendering 1\nwarning 1\n\{"files": 2, .*"outputs\.json"\}\n$/,
      );
      expect(await blob(1, 'stderr.txt')).toBeUndefined();
      expect(await blob(3, 'stdout.txt')).toBe('rendering 3\nwarning 3\n');
      expect(await blob(3, 'stderr.txt')).toBeDefined();
    });

    it('fetches a verified output, resumes from a .part file, and never places a partial file', async () => {
      const client = service.client.assets;
      const out = path.join(dir, 'fetch');
      const recorded = frame(1).outputs.find((o) => o.path === big)!;
      expect(recorded.sizeBytes).toBe(2_500_001);

      const first = await client.fetchOutput(frame(1).frameId, big, path.join(out, 'whole.bin'));
      const whole = fs.readFileSync(path.join(out, 'whole.bin'));
      expect(sha(whole)).toBe(recorded.sha256);
      expect(first).toMatchObject({ sizeBytes: whole.length, bytesReceived: whole.length, resumedFrom: 0 });
      expect(fs.existsSync(path.join(out, 'whole.bin.part'))).toBe(false);

      // An interrupted fetch left 1,000,000 good bytes: only the rest comes over the wire.
      const target = path.join(out, 'resumed.bin');
      fs.writeFileSync(`${target}.part`, whole.subarray(0, 1_000_000));
      const resumed = await client.fetchOutput(frame(1).frameId, big, target, { resume: true });
      expect(resumed).toMatchObject({ resumedFrom: 1_000_000, bytesReceived: whole.length - 1_000_000 });
      expect(sha(fs.readFileSync(target))).toBe(sha(whole));

      // A .part that is not a prefix of the file is caught by the hash and fetched again.
      const wrong = path.join(out, 'wrong-prefix.bin');
      fs.writeFileSync(`${wrong}.part`, randomBytes(4096));
      const refetched = await client.fetchOutput(frame(1).frameId, big, wrong);
      expect(refetched.resumedFrom).toBe(4096);
      expect(sha(fs.readFileSync(wrong))).toBe(sha(whole));
      // resume: false starts over whatever is there.
      fs.writeFileSync(`${wrong}.part`, whole.subarray(0, 10));
      expect((await client.fetchOutput(frame(1).frameId, big, wrong, { resume: false })).resumedFrom).toBe(0);

      // The raw stream: a header with the whole file's size and hash, then the bytes from the offset.
      const messages = await new Promise<wire.assets.FetchOutputResponse[]>((resolve, reject) => {
        const got: wire.assets.FetchOutputResponse[] = [];
        const call = raw.fetchOutput({ frameId: frame(1).frameId, path: big, offset: 2_000_000 });
        call.on('data', (m: wire.assets.FetchOutputResponse) => got.push(m));
        call.on('error', reject);
        call.on('end', () => resolve(got));
      });
      expect(messages[0]!.payload).toEqual({
        $case: 'header',
        value: { path: big, sizeBytes: whole.length, sha256: recorded.sha256 },
      });
      const chunks = messages
        .slice(1)
        .map((m) => (m.payload?.$case === 'chunk' ? m.payload.value : Buffer.alloc(0)));
      expect(chunks.every((c) => c.length > 0 && c.length <= 1 << 20)).toBe(true);
      expect(sha(Buffer.concat(chunks))).toBe(sha(whole.subarray(2_000_000)));

      // Refusals name what was wrong; nothing appears at the destination.
      const nowhere = path.join(out, 'never.bin');
      const notOutput = await failure(client.fetchOutput(frame(1).frameId, 'frame_0002.txt', nowhere));
      expect(notOutput.status).toBe(grpc.status.NOT_FOUND);
      expect(notOutput.message).toContain('"frame_0002.txt"');
      const failed = await failure(client.fetchOutput(frame(3).frameId, 'frame_0003.txt', nowhere));
      expect(failed.status).toBe(grpc.status.FAILED_PRECONDITION);
      expect(failed.message).toContain(frame(3).frameId);
      expect(failed.message).toContain('failed');
      const noFrame = await failure(client.fetchOutput('f-nosuchframe', 'frame_0001.txt', nowhere));
      expect(noFrame.status).toBe(grpc.status.NOT_FOUND);
      expect(noFrame.message).toContain('f-nosuchframe');
      const beyond = await new Promise<grpc.ServiceError>((resolve) => {
        const call = raw.fetchOutput({ frameId: frame(1).frameId, path: big, offset: whole.length + 1 });
        call.on('data', () => undefined);
        call.on('error', resolve);
      });
      expect(beyond.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(beyond.metadata.get('spillway-field')).toEqual(['offset']);
      expect(fs.existsSync(nowhere)).toBe(false);
    });

    it("spillway outputs fetch brings every succeeded frame's outputs, then skips what is there", async () => {
      const dest = path.join(dir, 'cli');
      const args = ['outputs', 'fetch', jobId, '--dest', dest, '--address', service.address];
      const run1 = await runCli([...args, '--json']);
      expect(run1.stderr).toBe('');
      expect(run1.code).toBe(0);
      const summary = JSON.parse(run1.stdout.trim().split('\n').pop()!) as {
        frames: number;
        framesNotSucceeded: number;
        files: number;
        fetched: number;
        skipped: number;
      };
      expect(summary).toMatchObject({ frames: 2, framesNotSucceeded: 1, files: 4, fetched: 4, skipped: 0 });
      for (const f of [frame(1), frame(2)]) {
        for (const o of f.outputs) expect(sha(fs.readFileSync(path.join(dest, o.path)))).toBe(o.sha256);
      }
      expect(fs.readFileSync(path.join(dest, 'frame_0002.txt'), 'utf8')).toBe('frame 2\n');

      // Again, with one file damaged: only that one comes back; a progress line per file.
      fs.writeFileSync(path.join(dest, 'frame_0001.txt'), 'damaged\n');
      const run2 = await runCli(args);
      expect(run2.code).toBe(0);
      const progress = run2.stdout.trim().split('\n');
      expect(progress.filter((l) => / fetched frame_0001\.txt /.test(l))).toHaveLength(1);
      expect(progress.filter((l) => /skipped \(already there\)/.test(l))).toHaveLength(3);
      expect(progress.pop()).toMatch(
        /^1 fetched, 3 skipped .* from 2 succeeded frame\(s\).*1 frame\(s\) of the job have not succeeded$/,
      );
      expect(fs.readFileSync(path.join(dest, 'frame_0001.txt'), 'utf8')).toBe('frame 1\n');

      // One frame only; and a frame that did not succeed is refused.
      const one = path.join(dir, 'cli-one');
      const run3 = await runCli([
        ...args.slice(0, 3),
        '--dest',
        one,
        '--frame',
        frame(2).frameId,
        '--address',
        service.address,
        '--json',
      ]);
      expect(run3.code).toBe(0);
      expect(fs.readdirSync(one).sort()).toEqual(['frame_0002.txt', 'sub']);
      const run4 = await runCli([
        ...args.slice(0, 3),
        '--dest',
        one,
        '--frame',
        frame(3).frameId,
        '--address',
        service.address,
      ]);
      expect(run4.code).toBe(1);
      expect(run4.stderr).toContain(`frame ${frame(3).frameId} is failed, not succeeded`);
    });
  });
});
