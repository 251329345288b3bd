import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ContainerClient, newPipeline, StorageSharedKeyCredential } from '@azure/storage-blob';
import { BurstServiceError, type Frame, type GarbageCollection } from '@spillway/sdk';
import * as storage from '@spillway/sdk/storage';
import { startTestService, type TestService } from '../support/service';
import {
  blobExists,
  lastJson,
  run,
  eventually,
  finishedFrames,
  random,
  serviceContainers,
  sha,
  tempDir,
  writeTree,
} from './helpers';

// Issue #24: content garbage collection that never deletes what a job or a sync needs.
// GIVEN a real service (local engine, its embedded Azurite), syncs with the SDK as
// `spillway assets sync` does them, and a collection through the AssetService.

const bin = path.join(__dirname, '../../sdk/bin/spillway.js');
// Real services whose tasks run at the engine's render niceness (19): slow on a busy machine.
jest.setTimeout(300_000);
const dirs: (() => void)[] = [];
const tmp = (p: string): string => {
  const t = tempDir(p);
  dirs.push(t.remove);
  return t.dir;
};
afterAll(() => {
  for (const r of dirs) r();
});

/** Syncs a tree into the service's assets container as the CLI does (hash cache off). */
async function sync(
  assets: import('@azure/storage-blob').ContainerClient,
  root: string,
  onProgress?: (p: storage.SyncProgress) => void,
): Promise<storage.SyncResult> {
  return storage.syncAssets(root, {
    containerClient: assets,
    hashCacheFile: false,
    ...(onProgress ? { onProgress, progressIntervalMs: 0 } : {}),
  });
}

const manifestBlob = (id: string): string => `manifests/${id}.json`;
const contentBlob = (s: string): string => `content/${s}`;

async function frameIn(client: TestService['client'], jobId: string, state: Frame['state']): Promise<Frame> {
  return eventually(`a frame of ${jobId} to be ${state}`, async () => {
    for await (const f of client.listFrames(jobId)) if (f.state === state) return f;
    return undefined;
  });
}

describe('spillway assets gc (through the AssetService)', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService({ nodes: 1 });
  });
  afterAll(async () => {
    await service?.close();
  });

  test('GIVEN two syncs of a changing tree and a long-running job on the second WHEN collected with --older-than 0s THEN the first manifest and its unique content go, the second and its content stay, and the job completes with its assets', async () => {
    // GIVEN two syncs of a changing tree
    const { assets } = serviceContainers(service.dataDir);
    const tree = tmp('gc-tree');
    const sharedTex = random(20_000);
    writeTree(tree, { 'scene.txt': 'scene v1\n', 'tex/shared.bin': sharedTex, 'old-only.bin': random(5000) });
    const v1 = await sync(assets, tree);
    fs.rmSync(path.join(tree, 'old-only.bin'));
    const newBin = random(7000);
    writeTree(tree, { 'scene.txt': 'scene v2, longer\n', 'new.bin': newBin });
    const v2 = await sync(assets, tree);
    expect(v2.filesUploaded).toBe(2);
    const v1Size = (await assets.getBlobClient(manifestBlob(v1.manifestId)).getProperties()).contentLength!;
    const goneContent = [
      sha('scene v1\n'),
      v1.built.manifest.files.find((f) => f.path === 'old-only.bin')!.sha256,
    ];
    const keptContent = v2.built.manifest.files.map((f) => f.sha256);

    // ... and a long-running job on the second manifest (it waits for a file before it
    // reads its assets, so the collection runs while it is running)
    const go = path.join(tmp('gc-go'), 'go');
    const { jobId } = await service.client.submitFrames(
      {
        source: 'test',
        sourceJobId: 'gc-long',
        assetManifestId: v2.manifestId,
        commandTemplate:
          `while [ ! -f ${go} ]; do sleep 0.05; done; ` +
          'cd "$SPILLWAY_ASSETS_DIR" && sha256sum scene.txt tex/shared.bin new.bin > "$AZ_BATCH_TASK_WORKING_DIR/out/sums.txt"',
      },
      [{ sourceTaskId: 'f1', frameStart: 1, frameEnd: 1 }],
    );
    const running = await frameIn(service.client, jobId, 'running');

    // WHEN a dry run, then the collection: `spillway assets gc --older-than 0s`
    const gcCli = async (...extra: string[]): Promise<GarbageCollection> => {
      const r = await run(process.execPath, [
        bin,
        'assets',
        'gc',
        '--older-than',
        '0s',
        '--json',
        '--address',
        service.address,
        ...extra,
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return lastJson<GarbageCollection>(r.stdout);
    };
    const dry = await gcCli('--dry-run');
    const report = await gcCli();
    // (and without --json, a line a person reads)
    const human = await run(process.execPath, [
      bin,
      'assets',
      'gc',
      '--older-than',
      '0s',
      '--dry-run',
      '--address',
      service.address,
    ]);
    expect(human.stdout).toMatch(
      /^would delete 0 manifest\(s\) and 0 content blob\(s\), 0 B .*1 old manifest\(s\) kept for unfinished jobs/,
    );

    // THEN the dry run said exactly what the collection did, and deleted nothing itself
    for (const r of [dry, report]) {
      expect(r.manifestsDeleted).toEqual([v1.manifestId]);
      expect(r.manifestsPinned).toEqual([v2.manifestId]);
      expect(r.contentDeleted).toBe(2);
      expect(r.bytesDeleted).toBe(v1Size + 'scene v1\n'.length + 5000);
      expect(r.manifestsKept).toBe(1);
      expect(r.contentKept).toBe(keptContent.length);
    }
    expect(dry.dryRun).toBe(true);
    expect(report.dryRun).toBe(false);
    // The first manifest and its unique content are gone; the second and all it lists stay.
    expect(await blobExists(assets, manifestBlob(v1.manifestId))).toBe(false);
    for (const s of goneContent) expect(await blobExists(assets, contentBlob(s))).toBe(false);
    expect(await blobExists(assets, manifestBlob(v2.manifestId))).toBe(true);
    for (const s of keptContent) expect(await blobExists(assets, contentBlob(s))).toBe(true);
    // A job naming the collected manifest is refused at once, naming it.
    const refused = await service.client
      .submitFrames(
        { source: 'test', sourceJobId: 'gc-late', assetManifestId: v1.manifestId, commandTemplate: 'true' },
        [{ sourceTaskId: 'f1', frameStart: 1, frameEnd: 1 }],
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(refused).toBeInstanceOf(BurstServiceError);
    expect((refused as BurstServiceError).status).toBe(grpc.status.NOT_FOUND);
    expect((refused as Error).message).toContain(v1.manifestId);

    // ... and the running job completes with its assets.
    fs.writeFileSync(go, '');
    const [frame] = await finishedFrames(service.client, jobId);
    expect(frame!.frameId).toBe(running.frameId);
    expect(frame!.state).toBe('succeeded');
    const out = path.join(tmp('gc-out'), 'sums.txt');
    await service.client.assets.fetchOutput(frame!.frameId, 'sums.txt', out);
    expect(fs.readFileSync(out, 'utf8')).toBe(
      `${sha('scene v2, longer\n')}  scene.txt\n${sha(sharedTex)}  tex/shared.bin\n${sha(newBin)}  new.bin\n`,
    );
  });

  test('GIVEN a sync in progress that relies on content only an old manifest lists WHEN a collection starts THEN it waits for the sync, and nothing the new manifest lists is lost', async () => {
    // GIVEN an old manifest (unused, older than the cutoff) listing x and y
    const { assets } = serviceContainers(service.dataDir);
    const tree = tmp('gc-race');
    const x = random(3000);
    const y = random(4000);
    writeTree(tree, { 'x.bin': x, 'y.bin': y });
    const old = await sync(assets, tree);
    // ... and a sync of a tree with x, y and a large new file, which finds x and y present
    // and relies on them. Its first block upload is held (a pipeline policy on the real
    // client) until the collection has had every chance to delete.
    writeTree(tree, { 'big.bin': random(9 << 20) });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let uploadStarted!: () => void;
    const uploading = new Promise<void>((r) => (uploadStarted = r));
    const pipeline = newPipeline(
      new StorageSharedKeyCredential(storage.AZURITE_ACCOUNT_NAME, storage.AZURITE_ACCOUNT_KEY),
    );
    pipeline.factories.unshift({
      create: (next) => ({
        sendRequest: async (req) => {
          if (req.method === 'PUT' && /[?&]comp=block(&|$)/.test(req.url)) {
            uploadStarted();
            await held;
          }
          return next.sendRequest(req);
        },
      }),
    });
    const slow = new ContainerClient(assets.url, pipeline);
    const syncing = sync(slow, tree);
    await uploading;
    // WHEN a collection starts while the sync uploads
    let gcDone = false;
    const gc = service.client.assets.collectGarbage({ olderThanMs: 0 }).finally(() => (gcDone = true));
    await new Promise((r) => setTimeout(r, 2000));
    // THEN it has not run: the old manifest and the content the sync relies on are there.
    expect(gcDone).toBe(false);
    expect(await blobExists(assets, manifestBlob(old.manifestId))).toBe(true);
    expect(await blobExists(assets, contentBlob(sha(x)))).toBe(true);
    release();
    const synced = await syncing;
    const report = await gc;
    expect(synced.existenceCheck).not.toBe('manifest');
    expect(synced.filesSkipped).toBe(2);
    // It ran after the sync: the old manifest went, the new one (written after the
    // collection began) stayed, and every content it lists is there, whole.
    expect(report.manifestsDeleted).toContain(old.manifestId);
    expect(report.manifestsDeleted).not.toContain(synced.manifestId);
    expect(await blobExists(assets, manifestBlob(synced.manifestId))).toBe(true);
    for (const f of synced.built.manifest.files) {
      const props = await assets.getBlobClient(contentBlob(f.sha256)).getProperties();
      expect(props.contentLength).toBe(f.sizeBytes);
    }
    expect(sha(await assets.getBlobClient(contentBlob(sha(x))).downloadToBuffer())).toBe(sha(x));
  });

  test('GIVEN a collection holding the container WHEN a sync starts THEN the sync waits for it, then completes', async () => {
    const { assets } = serviceContainers(service.dataDir);
    const tree = tmp('gc-wait');
    writeTree(tree, { 'a.bin': random(1000) });
    const lock = await storage.acquireGcLock(assets, { pollMs: 50 });
    let done = false;
    const syncing = storage
      .syncAssets(tree, { containerClient: assets, hashCacheFile: false, lock: { pollMs: 50 } })
      .then((r) => {
        done = true;
        return r;
      });
    await new Promise((r) => setTimeout(r, 1500));
    expect(done).toBe(false);
    expect(await blobExists(assets, 'content/' + sha(fs.readFileSync(path.join(tree, 'a.bin'))))).toBe(false);
    await lock.release();
    const r = await syncing;
    expect(r.filesUploaded).toBe(1);
    // The sync let go of its lock: none is left behind.
    expect((await storage.listLocks(assets)).map((l) => l.name)).toEqual([]);
  });

  test('GIVEN a manifest committed in the same second a collection with --older-than 0s is asked for THEN the collection (and its dry run) deletes it', async () => {
    // GIVEN a storage clock that has just moved to a new second (blob times are whole
    // seconds), and a sync committed at once, in that second
    const { assets } = serviceContainers(service.dataDir);
    const second = async (): Promise<number> => (await assets.getProperties()).date!.getTime();
    const before = await second();
    while ((await second()) === before) await new Promise((r) => setTimeout(r, 10));
    const tree = tmp('gc-same-second');
    writeTree(tree, { 'same.bin': random(1000) });
    const synced = await sync(assets, tree);
    const committed = (await assets.getBlobClient(manifestBlob(synced.manifestId)).getProperties())
      .lastModified!;
    // WHEN a collection of everything older than 0s is asked for right after
    const dry = await service.client.assets.collectGarbage({ olderThanMs: 0, dryRun: true });
    const report = await service.client.assets.collectGarbage({ olderThanMs: 0 });
    // THEN the manifest, committed before the collection was asked for, is older than its
    // cutoff, and goes with its content
    for (const r of [dry, report]) {
      expect(r.cutoff.getTime()).toBeGreaterThan(committed.getTime());
      expect(r.manifestsDeleted).toContain(synced.manifestId);
    }
    expect(await blobExists(assets, manifestBlob(synced.manifestId))).toBe(false);
    expect(await blobExists(assets, contentBlob(synced.built.manifest.files[0]!.sha256))).toBe(false);
  });

  test('GIVEN a collection running WHEN a second one is asked for THEN it is refused with FAILED_PRECONDITION', async () => {
    const { assets } = serviceContainers(service.dataDir);
    // A sync lock held here keeps the first collection waiting.
    const held = await storage.acquireSyncLock(assets);
    const first = service.client.assets.collectGarbage({ olderThanMs: 0 });
    await new Promise((r) => setTimeout(r, 300));
    const second = await service.client.assets.collectGarbage({ olderThanMs: 0 }).then(
      () => undefined,
      (e: unknown) => e as BurstServiceError,
    );
    await held.release();
    await first;
    expect(second?.status).toBe(grpc.status.FAILED_PRECONDITION);
    expect(second?.message).toContain('already running');
  });
});

describe('scheduled collection and output expiry (service configuration)', () => {
  test('GIVEN storage.gc.intervalMs WHEN an unused manifest is older than storage.gc.olderThanMs THEN the service collects it on its own', async () => {
    const service = await startTestService({
      nodes: 1,
      config: { 'storage.gc.intervalMs': 300, 'storage.gc.olderThanMs': 0 },
    });
    try {
      const { assets } = serviceContainers(service.dataDir);
      const tree = tmp('gc-sched');
      writeTree(tree, { 'a.bin': random(100) });
      const r = await sync(assets, tree);
      await eventually(
        'the scheduled collection',
        async () => ((await blobExists(assets, manifestBlob(r.manifestId))) ? undefined : true),
        30_000,
      );
      expect(await blobExists(assets, contentBlob(r.built.manifest.files[0]!.sha256))).toBe(false);
    } finally {
      await service.close();
    }
  });

  test('GIVEN storage.outputsExpireAfterMs WHEN one frame’s outputs were fetched THEN they expire and the other frame’s stay', async () => {
    const service = await startTestService({ nodes: 1, config: { 'storage.outputsExpireAfterMs': 1000 } });
    try {
      const { outputs } = serviceContainers(service.dataDir);
      const { jobId } = await service.client.submitFrames(
        { source: 'test', sourceJobId: 'expire', commandTemplate: 'echo frame #FRAME# > out/f#FRAME#.txt' },
        [
          { sourceTaskId: 't1', frameStart: 1, frameEnd: 1 },
          { sourceTaskId: 't2', frameStart: 2, frameEnd: 2 },
        ],
      );
      const frames = await finishedFrames(service.client, jobId);
      expect(frames.map((f) => f.state)).toEqual(['succeeded', 'succeeded']);
      const [one, two] = frames as [Frame, Frame];
      const dest = tmp('expire-out');
      const f1 = one.outputs[0]!.path;
      const f2 = two.outputs[0]!.path;
      await service.client.assets.fetchOutput(one.frameId, f1, path.join(dest, 'f1.txt'));
      expect(fs.readFileSync(path.join(dest, 'f1.txt'), 'utf8')).toBe('frame 0001\n');
      // The fetched frame's outputs (and outputs.json) go; its log stays.
      await eventually(
        'the fetched outputs to expire',
        async () => ((await blobExists(outputs, `${jobId}/${one.frameId}/${f1}`)) ? undefined : true),
        30_000,
      );
      expect(await blobExists(outputs, `${jobId}/${one.frameId}/outputs.json`)).toBe(false);
      expect(await blobExists(outputs, `logs/${jobId}/${one.frameId}/stdout.txt`)).toBe(true);
      // The frame nobody fetched keeps its outputs.
      expect(await blobExists(outputs, `${jobId}/${two.frameId}/${f2}`)).toBe(true);
      // Fetching an expired output says so.
      const err = await service.client.assets
        .fetchOutput(one.frameId, f1, path.join(dest, 'again.txt'), { maxAttempts: 1 })
        .then(
          () => undefined,
          (e: unknown) => e as BurstServiceError,
        );
      expect(err?.status).toBe(grpc.status.NOT_FOUND);
      expect(err?.message).toContain('expired');
    } finally {
      await service.close();
    }
  });
});

describe('spillway assets gc (usage)', () => {
  test.each([
    ['soon', '--older-than "soon": must be a duration such as 0s, 90m, 12h, 30d or 1h30m'],
    ['-1d', '--older-than "-1d": must be a duration'],
  ])(
    'GIVEN --older-than %j THEN it is refused with exit 2, naming the flag and the value',
    async (value, message) => {
      const r = await run(process.execPath, [
        bin,
        'assets',
        'gc',
        '--older-than',
        value,
        '--address',
        '127.0.0.1:9',
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    },
  );
});
