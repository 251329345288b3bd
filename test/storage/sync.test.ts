import * as fs from 'node:fs';
import * as path from 'node:path';
import * as storage from '@spillway/sdk/storage';
import { freshContainer, isGone, names, random, sha, tempDir, writeTree } from './helpers';

let azurite: storage.Azurite;
const dirs: (() => void)[] = [];
const tmp = (p: string): string => {
  const t = tempDir(p);
  dirs.push(t.remove);
  return t.dir;
};

beforeAll(async () => {
  azurite = await storage.startAzurite({ dataDir: path.join(tmp('azurite'), 'data') });
});
afterAll(async () => {
  const pid = azurite?.pid;
  await azurite?.stop();
  if (pid) expect(isGone(pid)).toBe(true);
  for (const r of dirs) r();
});

describe('startAzurite', () => {
  test('GIVEN a data dir WHEN started THEN it serves on a loopback port and keeps its data there', async () => {
    expect(azurite.blobEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
    expect(azurite.blobEndpoint).not.toMatch(/:10000\//);
    const c = await freshContainer(azurite, 'probe');
    await c.getBlockBlobClient('x').upload('hello', 5);
    expect(fs.readdirSync(azurite.dataDir!).length).toBeGreaterThan(0);
  });

  test('GIVEN an aborted signal WHEN starting THEN it refuses and leaves no process', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(storage.startAzurite({ inMemory: true, abortSignal: ac.signal })).rejects.toThrow('stop');
  });
});

describe('syncAssets', () => {
  test('GIVEN a tree WHEN synced, resynced, touched, changed THEN only new content is uploaded', async () => {
    // GIVEN
    const root = tmp('tree');
    const cacheFile = path.join(tmp('cache'), 'hashes.json');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 20; i++) files[`tex/t${i}.png`] = random(1000 + i);
    files['scene.blend'] = random(50_000);
    writeTree(root, files);
    const wholeSecond = new Date(1_700_000_000_000); // so the mtime can be restored exactly below
    fs.utimesSync(path.join(root, 'tex/t7.png'), wholeSecond, wholeSecond);
    const container = await freshContainer(azurite, 'sync');
    const total = Object.values(files).reduce((s, b) => s + b.length, 0);
    const events: storage.SyncProgress[] = [];

    // WHEN: initial sync
    const first = await storage.syncAssets(root, {
      containerClient: container,
      hashCacheFile: cacheFile,
      onProgress: (p) => events.push(p),
    });
    // THEN
    expect(first).toMatchObject({
      filesUploaded: 21,
      bytesUploaded: total,
      filesSkipped: 0,
      bytesSkipped: 0,
    });
    expect(first.manifestUploaded).toBe(true);
    expect(await names(container, 'content/')).toEqual(
      Object.values(files)
        .map((b) => `content/${sha(b)}`)
        .sort(),
    );
    const manifestText = (
      await container.getBlobClient(first.manifestBlobName).downloadToBuffer()
    ).toString();
    expect(sha(manifestText)).toBe(first.manifestId);
    expect(storage.parseManifest(manifestText).files.find((f) => f.path === 'scene.blend')?.sha256).toBe(
      sha(files['scene.blend']!),
    );
    expect(events.at(-1)).toMatchObject({ phase: 'done', bytesDone: total });
    expect(events.some((e) => e.phase === 'uploading')).toBe(true);

    // WHEN: no-op resync
    const again = await storage.syncAssets(root, { containerClient: container, hashCacheFile: cacheFile });
    // THEN: nothing re-read, nothing sent
    expect(again).toMatchObject({
      filesUploaded: 0,
      bytesUploaded: 0,
      filesSkipped: 21,
      bytesSkipped: total,
    });
    expect(again.manifestId).toBe(first.manifestId);
    expect(again.manifestUploaded).toBe(false);
    expect(again.built.filesHashed).toBe(0);

    // WHEN: a file is touched but unchanged
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(root, 'tex/t3.png'), later, later);
    const touched = await storage.syncAssets(root, { containerClient: container, hashCacheFile: cacheFile });
    // THEN: re-hashed, not uploaded
    expect(touched).toMatchObject({ filesUploaded: 0, bytesUploaded: 0 });
    expect(touched.built.filesHashed).toBe(1);

    // WHEN: one file changes
    const changed = random(4321);
    fs.writeFileSync(path.join(root, 'tex/t5.png'), changed);
    const one = await storage.syncAssets(root, { containerClient: container, hashCacheFile: cacheFile });
    // THEN: only it uploads
    expect(one).toMatchObject({ filesUploaded: 1, bytesUploaded: 4321, filesSkipped: 20 });
    expect(one.manifestId).not.toBe(first.manifestId);
    expect(await names(container, `content/${sha(changed)}`)).toHaveLength(1);

    // WHEN: a file changes keeping its size and mtime (the cache cannot see it)
    const p7 = path.join(root, 'tex/t7.png');
    const st = fs.statSync(p7);
    const sneaky = random(st.size);
    fs.writeFileSync(p7, sneaky);
    fs.utimesSync(p7, wholeSecond, wholeSecond);
    const cached = await storage.syncAssets(root, { containerClient: container, hashCacheFile: cacheFile });
    const verified = await storage.syncAssets(root, {
      containerClient: container,
      hashCacheFile: cacheFile,
      verify: true,
    });
    // THEN: without verify the stale hash is trusted (and its upload is skipped); with verify it is caught
    expect(cached.bytesUploaded).toBe(0);
    expect(verified).toMatchObject({ filesUploaded: 1, bytesUploaded: st.size });
    expect(verified.built.filesHashed).toBe(21);
    expect(await names(container, `content/${sha(sneaky)}`)).toHaveLength(1);
  });

  test('GIVEN a cold tree WHEN uploads overlap hashing THEN only missing content is sent, once', async () => {
    // GIVEN: content A already synced; tree B shares some of it, duplicates new content, adds more
    const container = await freshContainer(azurite, 'overlap');
    const rootA = tmp('overlap-a');
    const shared = random(3000);
    writeTree(rootA, { 'a.bin': shared, 'b.bin': random(1000) });
    await storage.syncAssets(rootA, { containerClient: container, hashCacheFile: false });
    const rootB = tmp('overlap-b');
    const fresh: Record<string, Buffer> = {};
    for (let i = 0; i < 30; i++) fresh[`n/${i}.bin`] = random(2000 + i);
    const dup = random(4444);
    writeTree(rootB, { 'same.bin': shared, ...fresh, 'x/dup1.bin': dup, 'y/dup2.bin': dup });
    const freshBytes = Object.values(fresh).reduce((s, b) => s + b.length, 0);
    // WHEN: overlap from the first hashed byte
    const r = await storage.syncAssets(rootB, {
      containerClient: container,
      hashCacheFile: false,
      overlapAfterBytes: 1,
    });
    // (every upload was started by the early check, not after the existence-check phase)
    expect(r.uploadsStartedEarly).toBe(31);
    // THEN
    expect(r).toMatchObject({ existenceCheck: 'list', filesUploaded: 31, bytesUploaded: freshBytes + 4444 });
    expect(r).toMatchObject({ filesSkipped: 2, bytesSkipped: 3000 + 4444, manifestUploaded: true });
    expect(await names(container, 'content/')).toHaveLength(2 + 30 + 1);
    expect(await names(container, r.manifestBlobName)).toEqual([r.manifestBlobName]);
  });

  test('GIVEN the same content under two paths WHEN synced THEN it is stored once', async () => {
    const root = tmp('dup');
    const same = random(7777);
    writeTree(root, { 'a/wood.png': same, 'b/wood_copy.png': same, 'c.txt': 'other' });
    const container = await freshContainer(azurite, 'dup');
    const r = await storage.syncAssets(root, { containerClient: container, hashCacheFile: false });
    expect(r).toMatchObject({
      filesUploaded: 2,
      bytesUploaded: 7777 + 5,
      filesSkipped: 1,
      bytesSkipped: 7777,
    });
    expect(await names(container, 'content/')).toEqual(
      [`content/${sha('other')}`, `content/${sha(same)}`].sort(),
    );
    expect(r.built.manifest.files.map((f) => f.path)).toEqual(['a/wood.png', 'b/wood_copy.png', 'c.txt']);
  });

  test.each(['list', 'head'] as const)(
    'GIVEN existence check %s WHEN resyncing THEN both find what is there',
    async (existenceCheck) => {
      const root = tmp('exist');
      writeTree(root, { 'x.bin': random(100), 'y.bin': random(200) });
      const container = await freshContainer(azurite, 'exist');
      await storage.syncAssets(root, { containerClient: container, hashCacheFile: false, existenceCheck });
      fs.writeFileSync(path.join(root, 'z.bin'), random(300));
      const r = await storage.syncAssets(root, {
        containerClient: container,
        hashCacheFile: false,
        existenceCheck,
      });
      expect(r).toMatchObject({ existenceCheck, filesUploaded: 1, bytesUploaded: 300 });
    },
  );

  test('GIVEN a sync aborted mid-way WHEN rerun THEN only the rest is sent and partial content is invisible', async () => {
    // GIVEN: a large file (8 blocks of 256 KiB) first, then small files; one upload at a time
    const root = tmp('resume');
    const big = random(8 * 256 * 1024);
    const smalls: Record<string, Buffer> = {};
    for (let i = 0; i < 10; i++) smalls[`s/${i}.bin`] = random(5000);
    writeTree(root, { 'a-big.bin': big, ...smalls });
    const total = big.length + 10 * 5000;
    const container = await freshContainer(azurite, 'resume');
    const opts = {
      containerClient: container,
      hashCacheFile: false as const,
      blockSizeBytes: 256 * 1024,
      singleShotLimitBytes: 256 * 1024,
      blockConcurrency: 1,
      uploadConcurrency: 1,
      progressIntervalMs: 0,
    };
    // WHEN: aborted after three blocks
    const ac = new AbortController();
    let sentBeforeAbort = 0;
    await expect(
      storage.syncAssets(root, {
        ...opts,
        abortSignal: ac.signal,
        onProgress: (p) => {
          if (p.phase === 'uploading' && p.bytesDone >= 3 * 256 * 1024 && !ac.signal.aborted) {
            sentBeforeAbort = p.bytesDone;
            ac.abort(new Error('interrupted by test'));
          }
        },
      }),
    ).rejects.toThrow();
    // THEN: the large content is not visible, though blocks are staged
    const bigBlob = container.getBlockBlobClient(`content/${sha(big)}`);
    expect(await bigBlob.exists()).toBe(false);
    expect(await names(container, 'content/')).toEqual([]);
    const staged = (await bigBlob.getBlockList('uncommitted')).uncommittedBlocks ?? [];
    expect(staged.length).toBeGreaterThanOrEqual(3);
    expect(sentBeforeAbort).toBeGreaterThan(0);

    // WHEN: rerun
    const r = await storage.syncAssets(root, opts);
    // THEN: the staged blocks are not resent; everything is there
    const stagedBytes = staged.reduce((s, b) => s + b.size, 0);
    expect(r.bytesUploaded).toBe(total - stagedBytes);
    expect(r.filesUploaded).toBe(11);
    expect((await bigBlob.downloadToBuffer()).equals(big)).toBe(true);
    expect(await names(container, 'content/')).toHaveLength(11);
  });

  test('GIVEN paths escaping the root WHEN synced THEN refused naming the path, before any upload', async () => {
    const root = tmp('escape');
    const outside = tmp('outside');
    writeTree(root, { 'ok.txt': 'ok' });
    writeTree(outside, { 'secret.txt': 'nope' });
    const container = await freshContainer(azurite, 'escape');
    const sync = (files?: string[]): Promise<storage.SyncResult> =>
      storage.syncAssets(root, { containerClient: container, hashCacheFile: false, files });

    await expect(sync(['../outside/secret.txt'])).rejects.toThrow(/files\[0\]: must not contain "\.\."/);
    await expect(sync(['ok.txt', '/etc/passwd'])).rejects.toThrow(
      /files\[1\]: must be inside the root .*"\/etc\/passwd"/,
    );
    await expect(sync(['C:\\Windows\\win.ini'])).rejects.toThrow(
      /files\[0\]: is an absolute Windows path that no pathMapping rule maps/,
    );
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'link.txt'));
    await expect(sync()).rejects.toThrow(storage.PathEscapeError);
    await expect(sync()).rejects.toThrow(/link\.txt: is a symbolic link to .*outside the root/);
    expect(await names(container, '')).toEqual([]);
  });

  test('GIVEN Windows paths and a mapping rule WHEN synced from a file list THEN mapped into the root', async () => {
    const root = tmp('mapped');
    writeTree(root, { 'shot/a.blend': 'blend', 'shot/tex/w.png': 'png' });
    const container = await freshContainer(azurite, 'mapped');
    const r = await storage.syncAssets(root, {
      containerClient: container,
      hashCacheFile: false,
      files: ['Z:\\projects\\shot\\a.blend', 'shot/tex'],
      pathMapping: [{ from: 'Z:\\projects', to: root }],
    });
    expect(r.built.manifest.files.map((f) => f.path)).toEqual(['shot/a.blend', 'shot/tex/w.png']);
  });

  test('GIVEN a file changed between hashing and upload WHEN synced THEN refused and nothing is visible', async () => {
    const root = tmp('race');
    writeTree(root, { 'f.bin': random(1000) });
    const container = await freshContainer(azurite, 'race');
    await expect(
      storage.syncAssets(root, {
        containerClient: container,
        hashCacheFile: false,
        onHashed: () => fs.writeFileSync(path.join(root, 'f.bin'), random(1000)),
      }),
    ).rejects.toThrow(storage.IntegrityError);
    expect(await names(container, 'content/')).toEqual([]);
  });
});
