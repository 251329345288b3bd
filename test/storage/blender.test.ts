import * as path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import * as storage from '@spillway/sdk/storage';
import * as testing from '@spillway/sdk/testing';
import { lastJson, run, tempDir, writeTree } from './helpers';

// GIVEN a Blender scene that uses one texture on disk and one that is missing, beside an
// unrelated file, and a scene whose texture lives outside the directory to sync
// WHEN Blender is asked what the scene references, and `spillway assets sync DIR --scene`
// runs (a real child process, against Azurite)
// THEN the texture on disk is found and synced with the scene, nothing else is, the missing
// one is reported; a reference outside DIR refuses the sync, naming the file.

const bin = path.join(__dirname, '../../sdk/bin/spillway.js');
const blender = testing.hasBlender();

(blender ? describe : describe.skip)('Blender scene dependencies', () => {
  let azurite: storage.Azurite;
  const work = tempDir('blend-deps');
  const root = path.join(work.dir, 'shot');
  const scene = path.join(root, 'shot.blend');

  beforeAll(async () => {
    azurite = await storage.startAzurite({ inMemory: true });
    writeTree(root, { 'notes.txt': 'not part of the scene' });
    await testing.makeBlenderScene(scene, {
      frames: 2,
      textures: [path.join(root, 'tex', 'wood.png')],
      missingTextures: [path.join(root, 'tex', 'gone.png')],
    });
    await testing.makeBlenderScene(path.join(root, 'outside.blend'), {
      frames: 2,
      textures: [path.join(work.dir, 'elsewhere', 'metal.png')],
    });
  }, 120_000);
  afterAll(async () => {
    await azurite?.stop();
    work.remove();
  });

  it('lists the files a scene references, and the missing ones apart', async () => {
    const deps = await storage.blendDependencies(scene);
    expect(deps).toEqual({
      files: [path.join(root, 'tex', 'wood.png')],
      missing: [path.join(root, 'tex', 'gone.png')],
    });
    await expect(storage.blendDependencies(path.join(root, 'none.blend'))).rejects.toThrow(/does not exist/);
  }, 60_000);

  it('syncs the scene and what it needs, nothing else', async () => {
    const env = {
      ...process.env,
      SPILLWAY_STORAGE_CONNECTION_STRING: azurite.connectionString,
      SPILLWAY_DATA_DIR: path.join(work.dir, 'd'),
    };
    const r = await run(
      process.execPath,
      [bin, 'assets', 'sync', root, '--scene', scene, '--container', 'blend', '--json'],
      { env },
    );
    expect(r.code).toBe(0);
    const summary = lastJson<{ manifestId: string; files: number; filesUploaded: number; missing: string[] }>(
      r.stdout,
    );
    expect(summary).toMatchObject({
      files: 2,
      filesUploaded: 2,
      missing: [path.join(root, 'tex', 'gone.png')],
    });
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      'blend',
    );
    const manifest = storage.parseManifest(
      (
        await container.getBlobClient(storage.manifestBlobName(summary.manifestId)).downloadToBuffer()
      ).toString('utf8'),
    );
    expect(manifest.files.map((f) => f.path)).toEqual(['shot.blend', 'tex/wood.png']);

    const refused = await run(
      process.execPath,
      [bin, 'assets', 'sync', root, '--scene', path.join(root, 'outside.blend'), '--container', 'blend'],
      { env },
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `references files outside ${root}: ${path.join(work.dir, 'elsewhere', 'metal.png')}`,
    );
  }, 120_000);
});
