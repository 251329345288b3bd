import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { type Frame } from '@spillway/sdk';
import * as storage from '@spillway/sdk/storage';
import { startTestService } from '../support/service';
import { isGone, lastJson, run, tempDir, writeTree } from './helpers';

// Issue #20: `spillway assets sync` stored into `spillway-assets` while the service read
// `spillway` (a job with that manifest waited forever), and the CLI started a second Azurite
// on the service's data directory, whose metadata save then lost the service's writes (or
// the service's lost the CLI's). One layout and one Azurite per data directory fix both.

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

async function waitGone(pid: number, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!isGone(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

const containers = async (cs: string): Promise<string[]> => {
  const out: string[] = [];
  for await (const c of BlobServiceClient.fromConnectionString(
    cs,
    storage.pipelineOptions(),
  ).listContainers())
    out.push(c.name);
  return out.sort();
};

describe('one storage layout', () => {
  test.each([
    ['the default', undefined, { assets: 'spillway', outputs: 'spillway-outputs' }],
    ['a studio container', 'studio-a', { assets: 'studio-a', outputs: 'studio-a-outputs' }],
  ])('GIVEN %s WHEN laid out THEN assets and outputs containers follow from it', (_, base, want) => {
    expect(storage.storageLayout(base)).toEqual(want);
  });

  test('GIVEN the CLI default WHEN compared with the service default THEN they are the same container', () => {
    expect(storage.DEFAULT_ASSET_CONTAINER).toBe(storage.storageLayout().assets);
  });

  test.each([
    ['Spillway', 'must be 3-63 characters'],
    ['a'.repeat(60), 'at most 55 characters'],
  ])('GIVEN the base %j WHEN laid out THEN it is refused naming storage.container', (base, reason) => {
    expect(() => storage.storageLayout(base)).toThrow(/storage\.container/);
    expect(() => storage.storageLayout(base)).toThrow(reason);
  });
});

describe('one Azurite per data directory', () => {
  test('GIVEN an Azurite on a directory WHEN a second start asks for the same directory THEN it joins, and Azurite outlives the starter while the joiner uses it', async () => {
    // GIVEN
    const dataDir = path.join(tmp('az-lock'), 'azurite');
    const first = await storage.startAzurite({ dataDir });
    // WHEN
    const second = await storage.startAzurite({ dataDir });
    // THEN one process, one endpoint
    expect(first.owned).toBe(true);
    expect(second.owned).toBe(false);
    expect(second.pid).toBe(first.pid);
    expect(second.blobEndpoint).toBe(first.blobEndpoint);
    const svc = BlobServiceClient.fromConnectionString(second.connectionString, storage.pipelineOptions());
    await svc.getContainerClient('written-by-joiner').create();
    // The starter lets go first: the joiner still has its Azurite.
    await first.stop();
    expect(isGone(first.pid)).toBe(false);
    expect(await containers(second.connectionString)).toContain('written-by-joiner');
    // The last user lets go: it stops, having saved what both wrote.
    await second.stop();
    expect(await waitGone(first.pid)).toBe(true);
    const third = await storage.startAzurite({ dataDir });
    try {
      expect(third.owned).toBe(true);
      expect(third.pid).not.toBe(first.pid);
      // The same port again (SAS URLs handed out before keep working).
      expect(third.blobEndpoint).toBe(first.blobEndpoint);
      expect(await containers(third.connectionString)).toContain('written-by-joiner');
    } finally {
      await third.stop();
    }
    expect(await waitGone(third.pid)).toBe(true);
  });

  test('GIVEN a process that started a directory’s Azurite and wrote to it WHEN it is killed with SIGKILL THEN Azurite saves and exits, and the next start owns the directory with the data', async () => {
    // GIVEN a real parent process (the built SDK) that starts Azurite and creates a container
    const dataDir = path.join(tmp('az-kill'), 'azurite');
    const entry = path.join(__dirname, '../../sdk/dist/storage/index.js');
    const script = `
      const s = require(${JSON.stringify(entry)});
      const { BlobServiceClient } = require('@azure/storage-blob');
      s.startAzurite({ dataDir: ${JSON.stringify(dataDir)} }).then(async (a) => {
        await BlobServiceClient.fromConnectionString(a.connectionString).getContainerClient('before-kill').create();
        console.log(a.pid);
      });`;
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const azuritePid = await new Promise<number>((resolve, reject) => {
      parent.stdout.on('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      parent.once('exit', (code) => reject(new Error(`parent exited ${code}`)));
    });
    expect(isGone(azuritePid)).toBe(false);
    // WHEN
    parent.kill('SIGKILL');
    // THEN no orphan, no lock left, and what it acknowledged was saved
    expect(await waitGone(azuritePid)).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'spillway-owner.json'))).toBe(false);
    const next = await storage.startAzurite({ dataDir });
    try {
      expect(next.owned).toBe(true);
      expect(await containers(next.connectionString)).toContain('before-kill');
    } finally {
      await next.stop();
    }
  });

  test('GIVEN a lock left by processes that are gone WHEN started THEN the lock is taken over', async () => {
    const dataDir = path.join(tmp('az-stale'), 'azurite');
    fs.mkdirSync(dataDir, { recursive: true });
    // A pid that is certainly gone: a child that has exited.
    const dead = await new Promise<number>((resolve) => {
      const c = spawn(process.execPath, ['-e', '0']);
      c.once('exit', () => resolve(c.pid!));
    });
    fs.writeFileSync(
      path.join(dataDir, 'spillway-owner.json'),
      JSON.stringify({
        token: 'old',
        ownerPid: dead,
        pid: dead,
        blobEndpoint: 'http://127.0.0.1:9/x',
        startedAt: '',
      }),
    );
    const az = await storage.startAzurite({ dataDir });
    try {
      expect(az.owned).toBe(true);
      const lock = JSON.parse(fs.readFileSync(path.join(dataDir, 'spillway-owner.json'), 'utf8')) as {
        pid: number;
      };
      expect(lock.pid).toBe(az.pid);
    } finally {
      await az.stop();
    }
  });

  test('GIVEN a live holder that does not answer WHEN started THEN it refuses, naming the directory and the process', async () => {
    const dataDir = path.join(tmp('az-hung'), 'azurite');
    fs.mkdirSync(dataDir, { recursive: true });
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      fs.writeFileSync(
        path.join(dataDir, 'spillway-owner.json'),
        JSON.stringify({
          token: 'hung',
          ownerPid: holder.pid,
          pid: holder.pid,
          blobEndpoint: 'http://127.0.0.1:9/devstoreaccount1',
          startedAt: '',
        }),
      );
      const err = await storage.startAzurite({ dataDir, startTimeoutMs: 1500 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(storage.AzuriteLockedError);
      expect((err as Error).message).toContain(dataDir);
      expect((err as Error).message).toContain(String(holder.pid));
      expect((err as Error).message).toContain('--data-dir');
      // Nothing was started on the directory.
      expect(fs.readdirSync(dataDir).filter((f) => f.startsWith('__'))).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('the CLI beside a running service (the README quick start)', () => {
  test('GIVEN a service on a data directory WHEN `assets sync` runs with the same directory THEN it joins its Azurite, stores where the service reads, and a job with the manifest gets its assets', async () => {
    // GIVEN
    const dataDir = tmp('cli-svc');
    const tree = tmp('cli-svc-tree');
    writeTree(tree, { 'scene/shot.txt': 'frame data v1\n', 'tex/a.bin': Buffer.alloc(3000, 7) });
    let service = await startTestService({ dataDir, nodes: 1 });
    try {
      const azuritePid = (
        JSON.parse(fs.readFileSync(path.join(dataDir, 'azurite', 'spillway-owner.json'), 'utf8')) as {
          pid: number;
        }
      ).pid;
      // WHEN
      const r = await run(process.execPath, [bin, 'assets', 'sync', tree, '--data-dir', dataDir, '--json'], {
        env: { ...process.env, SPILLWAY_STORAGE_CONNECTION_STRING: '', SPILLWAY_DATA_DIR: '' },
      });
      // THEN
      expect(r.code).toBe(0);
      const summary = lastJson<{ manifestId: string; container: string }>(r.stdout);
      expect(summary.container).toMatch(/\/spillway$/);
      // The service's Azurite is still the only one, and still running.
      expect(isGone(azuritePid)).toBe(false);
      const lock = JSON.parse(
        fs.readFileSync(path.join(dataDir, 'azurite', 'spillway-owner.json'), 'utf8'),
      ) as {
        pid: number;
      };
      expect(lock.pid).toBe(azuritePid);

      const { jobId } = await service.client.submitFrames(
        {
          source: 'test',
          sourceJobId: 'layout',
          commandTemplate: 'cat "$SPILLWAY_ASSETS_DIR/scene/shot.txt" > out/shot.txt',
          assetManifestId: summary.manifestId,
        },
        [{ sourceTaskId: 't1', frameStart: 1, frameEnd: 1 }],
      );
      const frame = await finishedFrame(service.client, jobId);
      expect(frame.state).toBe('succeeded');
      expect(frame.outputs.map((o) => o.sizeBytes)).toEqual([14]);

      // Restarted, the service still has the manifest the CLI wrote (no save overwrote it).
      await service.close();
      service = await startTestService({ dataDir, nodes: 1 });
      const m = await service.client.assets.getManifest(summary.manifestId);
      expect(m.entries.map((e) => e.path)).toEqual(['scene/shot.txt', 'tex/a.bin']);
    } finally {
      await service.close();
    }
  });
});

async function finishedFrame(client: import('@spillway/sdk').BurstClient, jobId: string): Promise<Frame> {
  // Tasks run at niceness 19 (the engine's render niceness): on a busy machine a frame takes a while.
  const deadline = Date.now() + 120_000;
  for (;;) {
    const frames: Frame[] = [];
    for await (const f of client.listFrames(jobId)) frames.push(f);
    const f = frames[0];
    if (f && ['succeeded', 'failed', 'cancelled', 'recalled'].includes(f.state)) return f;
    if (Date.now() > deadline) throw new Error(`frame of ${jobId} still ${f?.state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
