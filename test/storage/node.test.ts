import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContainerClient } from '@azure/storage-blob';
import * as storage from '@spillway/sdk/storage';
import { freshContainer, lastJson, random, run, sha, tempDir, writeTree } from './helpers';

const PYTHON = '/usr/bin/python3';
let azurite: storage.Azurite;
const dirs: (() => void)[] = [];
const tmp = (p: string): string => {
  const t = tempDir(p);
  dirs.push(t.remove);
  return t.dir;
};

beforeAll(async () => {
  azurite = await storage.startAzurite({ inMemory: true });
});
afterAll(async () => {
  await azurite?.stop();
  for (const r of dirs) r();
});

interface FetchSummary {
  filesDownloaded: number;
  bytesDownloaded: number;
  filesCached: number;
  bytesCached: number;
  filesPlaced: number;
}

/** Runs the job preparation command as the node would: resource file downloaded into a work dir, then /bin/sh -c. */
async function runPreparation(
  spec: ReturnType<typeof storage.buildPreparationCommand>,
  sharedDir: string,
): Promise<FetchSummary> {
  const work = tmp('prep-work');
  for (const rf of spec.resourceFiles ?? []) {
    const res = await fetch(rf.httpUrl!);
    expect(res.status).toBe(200);
    fs.writeFileSync(path.join(work, rf.filePath!), Buffer.from(await res.arrayBuffer()));
  }
  const env = {
    PATH: `${path.dirname(PYTHON)}:/bin`,
    AZ_BATCH_NODE_SHARED_DIR: sharedDir,
    ...spec.environment,
  };
  const r = await run('/bin/sh', ['-c', spec.commandLine], { cwd: work, env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return lastJson<FetchSummary>(r.stdout);
}

describe('node side', () => {
  test('GIVEN a warm node cache WHEN a second manifest is materialised THEN only the difference is downloaded', async () => {
    // GIVEN: tree A synced, with read SAS for the manifest, the content and the script
    const container = await freshContainer(azurite, 'node');
    const rootA = tmp('a');
    const shared = random(30_000);
    const filesA: Record<string, Buffer> = {
      'scene.blend': random(40_000),
      'tex/a.png': shared,
      'tex/b.png': random(20_000),
    };
    writeTree(rootA, { ...filesA, 'copy/a.png': shared });
    const a = await storage.syncAssets(rootA, { containerClient: container, hashCacheFile: false });
    const scriptBlob = await storage.uploadNodeScript(container);
    const read = (blobName?: string): Promise<storage.IssuedSas> =>
      storage.issueSas(container, { access: 'read', blobName, expiresInMs: 3600_000 });
    const content = await read();
    expect(content.permissions).toBe('rl');
    const prep = async (id: string, blob: string) =>
      storage.buildPreparationCommand({
        scriptUrl: (await read(scriptBlob)).url,
        manifestUrl: (await read(blob)).url,
        manifestId: id,
        contentContainerUrl: content.url,
      });
    const sharedDir = tmp('node-shared');

    // WHEN: the first manifest is materialised (cold cache)
    const specA = await prep(a.manifestId, a.manifestBlobName);
    expect(specA.commandLine).not.toContain('sig=');
    const first = await runPreparation(specA, sharedDir);
    // THEN: every distinct content downloaded once; the tree laid out by path
    expect(first).toMatchObject({
      filesDownloaded: 3,
      bytesDownloaded: 90_000,
      filesCached: 0,
      filesPlaced: 4,
    });
    const targetA = path.join(sharedDir, 'spillway-assets', a.manifestId);
    for (const [rel, body] of Object.entries({ ...filesA, 'copy/a.png': shared })) {
      expect(fs.readFileSync(path.join(targetA, rel)).equals(body)).toBe(true);
    }

    // WHEN: rerun (a reboot re-runs job preparation)
    const rerun = await runPreparation(specA, sharedDir);
    // THEN: idempotent, nothing fetched or placed again
    expect(rerun).toMatchObject({ filesDownloaded: 0, bytesDownloaded: 0, filesPlaced: 0 });

    // WHEN: a second manifest with mostly the same content
    const rootB = tmp('b');
    const changed = random(12_345);
    const added = random(6_789);
    writeTree(rootB, { ...filesA, 'tex/b.png': changed, 'tex/new.png': added });
    const b = await storage.syncAssets(rootB, { containerClient: container, hashCacheFile: false });
    expect(b.bytesUploaded).toBe(12_345 + 6_789);
    const second = await runPreparation(await prep(b.manifestId, b.manifestBlobName), sharedDir);
    // THEN: only the difference comes down
    expect(second).toMatchObject({
      filesDownloaded: 2,
      bytesDownloaded: 12_345 + 6_789,
      filesCached: 2,
      bytesCached: 70_000,
    });
    const targetB = path.join(sharedDir, 'spillway-assets', b.manifestId);
    expect(fs.readFileSync(path.join(targetB, 'tex/b.png')).equals(changed)).toBe(true);
    expect(fs.readFileSync(path.join(targetB, 'tex/new.png')).equals(added)).toBe(true);
    expect(fs.readFileSync(path.join(targetA, 'tex/b.png')).equals(filesA['tex/b.png']!)).toBe(true);
  });

  test('GIVEN --copy WHEN materialised twice THEN real copies (not links to the cache) and the rerun places nothing', async () => {
    const container = await freshContainer(azurite, 'copy');
    const root = tmp('copy-tree');
    const body = random(5000);
    writeTree(root, { 'a/b.bin': body });
    const r = await storage.syncAssets(root, { containerClient: container, hashCacheFile: false });
    const read = (blobName?: string) => storage.issueSas(container, { access: 'read', blobName });
    const spec = storage.buildPreparationCommand({
      scriptUrl: (await read(await storage.uploadNodeScript(container))).url,
      manifestUrl: (await read(r.manifestBlobName)).url,
      manifestId: r.manifestId,
      contentContainerUrl: (await read()).url,
      copy: true,
    });
    const sharedDir = tmp('copy-shared');
    expect(await runPreparation(spec, sharedDir)).toMatchObject({ filesDownloaded: 1, filesPlaced: 1 });
    const placed = path.join(sharedDir, 'spillway-assets', r.manifestId, 'a', 'b.bin');
    expect(fs.statSync(placed).nlink).toBe(1);
    expect(fs.readFileSync(placed).equals(body)).toBe(true);
    expect(await runPreparation(spec, sharedDir)).toMatchObject({ filesDownloaded: 0, filesPlaced: 0 });
  });

  test('GIVEN a manifest with an escaping path or a corrupted blob WHEN fetched THEN refused, nothing laid out', async () => {
    const container = await freshContainer(azurite, 'evil');
    const script = storage.NODE_SCRIPT_PATH;
    const good = Buffer.from('good');
    const evil = { version: 1, files: [{ path: '../escape.txt', sizeBytes: 4, sha256: sha(good) }] };
    await container
      .getBlockBlobClient('manifests/evil.json')
      .upload(JSON.stringify(evil), JSON.stringify(evil).length);
    await container.getBlockBlobClient(`content/${sha(good)}`).upload('evil', 4); // wrong bytes under the name
    const bad = { version: 1, files: [{ path: 'ok.txt', sizeBytes: 4, sha256: sha(good) }] };
    await container
      .getBlockBlobClient('manifests/bad.json')
      .upload(JSON.stringify(bad), JSON.stringify(bad).length);
    const content = await storage.issueSas(container, { access: 'read' });
    const base = tmp('evil-node');
    const fetchWith = (manifest: string) =>
      run(
        PYTHON,
        [
          script,
          'fetch',
          '--cache',
          path.join(base, 'cache'),
          '--target',
          path.join(base, 'target'),
          '--tries',
          '1',
        ],
        {
          env: {
            SPILLWAY_MANIFEST_URL: `${container.url}/manifests/${manifest}?${content.query}`,
            SPILLWAY_CONTENT_URL: content.url,
          },
        },
      );

    const escaped = await fetchWith('evil.json');
    expect(escaped.code).toBe(1);
    expect(escaped.stderr).toMatch(
      /manifest\.files\[0\]\.path: must stay below the root \(got '\.\.\/escape\.txt'\)/,
    );
    const corrupted = await fetchWith('bad.json');
    expect(corrupted.code).toBe(1);
    expect(corrupted.stderr).toMatch(/content\/[0-9a-f]{64}: got 4 bytes with sha256/);
    expect(fs.existsSync(path.join(base, 'escape.txt'))).toBe(false);
    expect(fs.readdirSync(path.join(base, 'target'))).toEqual([]);
    expect(`${escaped.stderr}${corrupted.stderr}`).not.toContain('sig=');
  });
});

describe('node bookkeeping (fetch --job, enter, release)', () => {
  test('GIVEN two jobs on one manifest and a stale task lease WHEN released and evicted THEN the tree goes with the last job, and a dead task pins nothing', async () => {
    // GIVEN a manifest materialised for two jobs of one node
    const container = await freshContainer(azurite, 'bookkeeping');
    const root = tmp('bk-tree');
    const body = random(50_000);
    writeTree(root, { 'a.bin': body });
    const m = await storage.syncAssets(root, { containerClient: container, hashCacheFile: false });
    const other = tmp('bk-tree2');
    const otherBody = random(50_000);
    writeTree(other, { 'b.bin': otherBody });
    const m2 = await storage.syncAssets(other, { containerClient: container, hashCacheFile: false });
    const content = await storage.issueSas(container, { access: 'read' });
    const node = tmp('bk-node');
    const cache = path.join(node, 'cache');
    const py = (args: string[], manifest?: storage.SyncResult) =>
      run(PYTHON, [storage.NODE_SCRIPT_PATH, ...args], {
        env: manifest
          ? {
              SPILLWAY_MANIFEST_URL: `${container.url}/${manifest.manifestBlobName}?${content.query}`,
              SPILLWAY_CONTENT_URL: content.url,
            }
          : {},
      });
    const tree = (r: storage.SyncResult) => path.join(node, 'assets', r.manifestId);
    const fetchFor = (job: string, r: storage.SyncResult, limit: string[] = []) =>
      py(
        [
          'fetch',
          '--manifest-id',
          r.manifestId,
          '--cache',
          cache,
          '--target',
          tree(r),
          '--job',
          job,
          ...limit,
        ],
        r,
      );
    expect((await fetchFor('j1', m)).code).toBe(0);
    expect((await fetchFor('j2', m)).code).toBe(0);

    // WHEN the first job ends THEN the tree stays for the second; WHEN the second ends THEN it goes
    expect(lastJson((await py(['release', '--cache', cache, '--job', 'j1'])).stdout)).toMatchObject({
      treesRemoved: 0,
    });
    expect(fs.existsSync(path.join(tree(m), 'a.bin'))).toBe(true);
    expect(lastJson((await py(['release', '--cache', cache, '--job', 'j2'])).stdout)).toMatchObject({
      treesRemoved: 1,
    });
    expect(fs.existsSync(tree(m))).toBe(false);
    // ... and the shared cache keeps the content
    expect(fs.existsSync(path.join(cache, sha(body).slice(0, 2), sha(body)))).toBe(true);

    // GIVEN a task lease left by a process that is gone (killed without its trap running)
    const entered = await py(
      [
        'enter',
        '--manifest-id',
        m.manifestId,
        '--cache',
        cache,
        '--target',
        tree(m),
        '--lease-pid',
        '999999999',
      ],
      m,
    );
    expect(entered.code).toBe(0);
    expect(fs.existsSync(path.join(cache, '.spillway', 'leases', '999999999'))).toBe(true);
    // WHEN another manifest needs the room (a limit of one file)
    const second = await fetchFor('j3', m2, ['--cache-limit-bytes', '60000']);
    // THEN the dead task pinned nothing: the first content and its idle tree were evicted
    expect(second.code).toBe(0);
    expect(lastJson(second.stdout)).toMatchObject({ filesEvicted: 1, bytesEvicted: 50_000, treesRemoved: 1 });
    expect(fs.existsSync(path.join(cache, sha(body).slice(0, 2), sha(body)))).toBe(false);
    expect(fs.existsSync(path.join(cache, '.spillway', 'leases', '999999999'))).toBe(false);
    expect(fs.readFileSync(path.join(tree(m2), 'b.bin')).equals(otherBody)).toBe(true);
  });
});

describe('outputs back', () => {
  async function renderFrame(outDir: string, frame: string): Promise<void> {
    // A render command wrapped so that its outputs are hashed into outputs.json after it.
    const shared = tmp('task-shared');
    fs.mkdirSync(path.join(shared, 'spillway'));
    fs.copyFileSync(storage.NODE_SCRIPT_PATH, path.join(shared, 'spillway', 'spillway_fetch.py'));
    const render = `mkdir -p out && printf 'pixels-${frame}' > out/frame_${frame}.png && printf 'log' > out/render.log`;
    const cmd = storage.wrapRenderCommand(render, { outputDir: 'out', patterns: ['*.png'] });
    const r = await run('/bin/sh', ['-c', cmd], {
      cwd: outDir,
      env: { PATH: `${path.dirname(PYTHON)}:/bin:/usr/bin`, AZ_BATCH_NODE_SHARED_DIR: shared },
    });
    expect(r.code).toBe(0);
  }

  /** Uploads a task's out/ directory as Batch output files would, with a create/write-only SAS. */
  async function uploadOutputs(
    writeUrl: string,
    dir: string,
    prefix: string,
    corrupt?: string,
  ): Promise<void> {
    const c = new ContainerClient(writeUrl);
    for (const name of fs.readdirSync(dir)) {
      const body = name === corrupt ? Buffer.from('tampered') : fs.readFileSync(path.join(dir, name));
      await c.getBlockBlobClient(`${prefix}${name}`).upload(body, body.length);
    }
  }

  test('GIVEN a rendered frame WHEN placed THEN verified and renamed into place; a corrupted blob places nothing', async () => {
    const container = await freshContainer(azurite, 'outputs');
    const write = await storage.issueSas(container, { access: 'write' });
    const read = await storage.issueSas(container, { access: 'read' });
    expect(write.permissions).toBe('cw');

    // GIVEN: frame 1 rendered, hashed and uploaded
    const task1 = tmp('task1');
    await renderFrame(task1, '0001');
    const index = JSON.parse(
      fs.readFileSync(path.join(task1, 'out', 'outputs.json'), 'utf8'),
    ) as storage.Manifest;
    expect(index.files).toEqual([{ path: 'frame_0001.png', sizeBytes: 11, sha256: sha('pixels-0001') }]);
    await uploadOutputs(write.url, path.join(task1, 'out'), 'job-1/frame-0001/');
    // The write SAS cannot read back.
    await expect(
      new ContainerClient(write.url).getBlobClient('job-1/frame-0001/outputs.json').downloadToBuffer(),
    ).rejects.toMatchObject({
      statusCode: 403,
    });

    // WHEN: placed (from the frame-completed event)
    const dest = tmp('dest');
    const placed = await storage.placeOutputs({
      container: read.url,
      prefix: 'job-1/frame-0001',
      destination: dest,
    });
    // THEN
    expect(placed.map((p) => p.path)).toEqual(['frame_0001.png']);
    expect(fs.readFileSync(path.join(dest, 'frame_0001.png'), 'utf8')).toBe('pixels-0001');
    expect(fs.readdirSync(dest)).toEqual(['frame_0001.png']);

    // GIVEN: frame 2 whose blob was corrupted in storage
    const task2 = tmp('task2');
    await renderFrame(task2, '0002');
    await uploadOutputs(write.url, path.join(task2, 'out'), 'job-1/frame-0002/', 'frame_0002.png');
    // WHEN / THEN: a typed error, and nothing new in the destination (no temp files either)
    const err = await storage
      .placeOutputs({ container: read.url, prefix: 'job-1/frame-0002/', destination: dest })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(storage.IntegrityError);
    expect((err as Error).message).toMatch(/frame_0002\.png: downloaded 8 bytes .* nothing was placed/);
    expect((err as Error).message).not.toContain('sig=');
    expect(fs.readdirSync(dest)).toEqual(['frame_0001.png']);
  });

  test('GIVEN dot-files, symlinks and a FIFO in out/ WHEN collected THEN dot-files are outputs, no link is followed, and each skip is named with why', async () => {
    const task = tmp('task-links');
    const secret = tmp('outside');
    fs.writeFileSync(path.join(secret, 'passwd'), 'not yours');
    fs.mkdirSync(path.join(secret, 'tree'));
    fs.writeFileSync(path.join(secret, 'tree', 'key.png'), 'not yours either');
    const shared = tmp('task-shared-links');
    fs.mkdirSync(path.join(shared, 'spillway'));
    fs.copyFileSync(storage.NODE_SCRIPT_PATH, path.join(shared, 'spillway', 'spillway_fetch.py'));
    const render = [
      'mkdir -p out/sub',
      "printf 'pixels' > out/frame.png",
      "printf 'cache' > out/.frame.png.meta",
      "printf 'deep' > out/sub/.hidden.png",
      `ln -s ${secret}/passwd out/escape.png`,
      `ln -s ${secret}/tree out/linked`,
      'ln -s frame.png out/alias.png',
      'mkfifo out/pipe.png',
      "printf 'stale' > out/.spillway-outputs-old",
    ].join(' && ');
    const cmd = storage.wrapRenderCommand(render, { outputDir: 'out', patterns: ['**'] });
    const r = await run('/bin/sh', ['-c', `exec 2>&1\n${cmd}`], {
      cwd: task,
      env: { PATH: `${path.dirname(PYTHON)}:/bin:/usr/bin`, AZ_BATCH_NODE_SHARED_DIR: shared },
    });
    expect(r.code).toBe(0);
    const index = JSON.parse(fs.readFileSync(path.join(task, 'out', 'outputs.json'), 'utf8')) as {
      files: storage.ManifestEntry[];
      skipped: { path: string; reason: string }[];
    };
    // Dot-files are outputs; Spillway's own bookkeeping (outputs.json, .spillway-*) is not.
    expect(index.files.map((f) => f.path)).toEqual(['.frame.png.meta', 'frame.png', 'sub/.hidden.png']);
    expect(index.files[0]).toEqual({ path: '.frame.png.meta', sizeBytes: 5, sha256: sha('cache') });
    expect(index.skipped).toEqual([
      {
        path: 'alias.png',
        reason: expect.stringMatching(/^symlink inside the output directory: not followed/),
      },
      {
        path: 'escape.png',
        reason: expect.stringMatching(/^symlink to outside the output directory: never followed, removed/),
      },
      {
        path: 'linked',
        reason: expect.stringMatching(/^symlink to outside the output directory: never followed, removed/),
      },
      { path: 'pipe.png', reason: 'not a regular file' },
    ]);
    // The frame's log names each skipped path and why.
    for (const s of index.skipped)
      expect(r.stdout).toContain(`spillway_fetch: collect: skipped ${s.path}: ${s.reason}`);
    // Links leading out are gone from out/, so no uploader can follow them; the outside is untouched.
    expect(fs.existsSync(path.join(task, 'out', 'escape.png'))).toBe(false);
    expect(fs.existsSync(path.join(task, 'out', 'linked'))).toBe(false);
    expect(fs.lstatSync(path.join(task, 'out', 'alias.png')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(path.join(secret, 'passwd'), 'utf8')).toBe('not yours');
    expect(r.stdout).not.toContain('not yours');
  });

  test('GIVEN outputs.json naming a path outside the destination WHEN placed THEN refused before any download', async () => {
    const container = await freshContainer(azurite, 'outesc');
    const body = JSON.stringify({
      version: 1,
      files: [{ path: '../../etc/x', sizeBytes: 1, sha256: sha('x') }],
    });
    await container.getBlockBlobClient('p/outputs.json').upload(body, body.length);
    const dest = tmp('dest-esc');
    await expect(storage.placeOutputs({ container, prefix: 'p/', destination: dest })).rejects.toThrow(
      /p\/outputs\.json\.files\[0\]\.path: must not contain "\.\."/,
    );
    expect(fs.readdirSync(dest)).toEqual([]);
  });
});
