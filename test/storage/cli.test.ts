import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { AnonymousCredential, BlobServiceClient, ContainerClient, newPipeline } from '@azure/storage-blob';
import * as storage from '@spillway/sdk/storage';
import { createLogger } from '@spillway/sdk';
import { freshContainer, isGone, lastJson, random, run, tempDir, writeTree } from './helpers';

const bin = path.join(__dirname, '../../sdk/bin/spillway.js');
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

/** Processes whose command line mentions `needle` (read from /proc; nothing is signalled). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

interface Summary {
  filesUploaded: number;
  bytesUploaded: number;
  filesSkipped: number;
  bytesSkipped: number;
  manifestId: string;
}

describe('spillway assets sync (the CLI, as a child process)', () => {
  test('GIVEN no storage configured WHEN run twice THEN it starts its own Azurite, keeps data, and leaves no process', async () => {
    // GIVEN
    const dataDir = tmp('cli-data');
    const root = tmp('cli-tree');
    writeTree(root, { 'a.bin': random(3000), 'b/c.bin': random(2000) });
    const env = { ...process.env, SPILLWAY_DATA_DIR: dataDir, SPILLWAY_STORAGE_CONNECTION_STRING: '' };
    // WHEN
    const first = await run(process.execPath, [bin, 'assets', 'sync', root, '--json'], { env });
    const second = await run(process.execPath, [bin, 'assets', 'sync', root, '--json'], { env });
    // THEN
    expect(first.code).toBe(0);
    const s1 = lastJson<Summary>(first.stdout);
    expect(s1).toMatchObject({ filesUploaded: 2, bytesUploaded: 5000, filesSkipped: 0, bytesSkipped: 0 });
    expect(s1.manifestId).toMatch(/^[0-9a-f]{64}$/);
    const s2 = lastJson<Summary>(second.stdout);
    expect(s2).toMatchObject({
      filesUploaded: 0,
      bytesUploaded: 0,
      filesSkipped: 2,
      bytesSkipped: 5000,
      manifestId: s1.manifestId,
    });
    expect(fs.readdirSync(path.join(dataDir, 'azurite')).length).toBeGreaterThan(0);
    expect(processesMentioning(dataDir)).toEqual([]);
    expect(first.stdout + first.stderr).not.toContain(storage.AZURITE_ACCOUNT_KEY);
  });

  test('GIVEN a connection string in the environment WHEN run without --json THEN it reports uploads and never the key', async () => {
    const root = tmp('cli-env');
    writeTree(root, { 'x.bin': random(1234) });
    const r = await run(process.execPath, [bin, 'assets', 'sync', root, '--container', 'cli-env'], {
      env: {
        ...process.env,
        SPILLWAY_STORAGE_CONNECTION_STRING: azurite.connectionString,
        SPILLWAY_DATA_DIR: tmp('d'),
      },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/uploaded 1 files \(0\.0 MiB\), skipped 0 files/);
    expect(r.stdout + r.stderr).not.toContain(azurite.accountKey);
  });

  test('GIVEN bad usage WHEN run THEN exit 2 naming the problem', async () => {
    const r = await run(process.execPath, [bin, 'assets', 'sync', '.', '--existence-check', 'guess']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--existence-check "guess": expected one of auto, list, head');
  });
});

describe('secrets', () => {
  test('GIVEN a wrong account key WHEN syncing THEN the error names the blob and status, never the key', async () => {
    const wrongKey = Buffer.from('definitely-not-the-key-0123456789').toString('base64');
    const cs = azurite.connectionString.replace(azurite.accountKey, wrongKey);
    const svc = BlobServiceClient.fromConnectionString(cs, storage.pipelineOptions({ maxTries: 1 }));
    const root = tmp('wrong');
    writeTree(root, { 'f.bin': random(10) });
    const err = await storage
      .syncAssets(root, { containerClient: svc.getContainerClient('wrongkey'), hashCacheFile: false })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(storage.StorageError);
    expect((err as storage.StorageError).statusCode).toBe(403);
    const text = `${(err as Error).message}\n${(err as Error).stack}\n${inspect(err, { depth: 10 })}`;
    expect(text).toMatch(
      /create container http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/wrongkey failed: status 403/,
    );
    expect(text).not.toContain(wrongKey);
    expect(text).not.toContain(azurite.accountKey);
  });

  test('GIVEN a read-only SAS WHEN used to write THEN the errors and logs carry no sig=', async () => {
    const container = await freshContainer(azurite, 'sas');
    const read = await storage.issueSas(container, { access: 'read' });
    expect(read.url).toContain('sig=');
    const viaSas = new ContainerClient(
      read.url,
      newPipeline(new AnonymousCredential(), storage.pipelineOptions({ maxTries: 1 })),
    );
    const root = tmp('sas');
    writeTree(root, { 'f.bin': random(10) });
    const err = await storage
      .syncAssets(root, { containerClient: viaSas, hashCacheFile: false, createContainer: false })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(storage.StorageError);
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.error('sync failed', { error: (err as Error).message, url: read.url });
    const text = `${(err as Error).message}\n${(err as Error).stack}\n${inspect(err, { depth: 10 })}\n${lines.join('\n')}`;
    // A read-only SAS cannot even take the sync lock: refused before any content is sent.
    expect(text).toMatch(
      /write lock .*\/locks\/sync-[0-9a-z-]+ failed: status 403 AuthorizationPermissionMismatch/,
    );
    expect(await storage.listContent(container)).toEqual(new Map());
    expect(text).not.toContain('sig=' + new URL(read.url).searchParams.get('sig'));
    expect(text).not.toMatch(/sig=(?!REDACTED)/);

    // The CLI with that SAS URL as --container fails without printing it.
    const r = await run(process.execPath, [bin, 'assets', 'sync', root, '--container', read.url], {
      env: { ...process.env, SPILLWAY_DATA_DIR: tmp('d2') },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/status 403/);
    expect(r.stdout + r.stderr).not.toContain('sig=');
  });

  test('GIVEN a bad SAS WHEN the node fetcher runs THEN its error names the blob without the SAS', async () => {
    const container = await freshContainer(azurite, 'badsas');
    const read = await storage.issueSas(container, { access: 'read' });
    const forged = read.url.replace(/sig=[^&]+/, 'sig=Zm9yZ2VkLXNpZ25hdHVyZQ%3D%3D');
    const base = tmp('badsas');
    const r = await run(
      '/usr/bin/python3',
      [storage.NODE_SCRIPT_PATH, 'fetch', '--cache', `${base}/c`, '--target', `${base}/t`, '--tries', '1'],
      {
        env: {
          SPILLWAY_MANIFEST_URL: forged.replace('?', '/manifests/x.json?'),
          SPILLWAY_CONTENT_URL: forged,
        },
      },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /GET http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/badsas-[0-9a-f]+\/manifests\/x\.json answered 403/,
    );
    expect(r.stderr).not.toContain('sig=');
    expect(r.stderr).not.toContain('Zm9yZ2Vk');
  });
});

describe('embedded Azurite lifetime', () => {
  test('GIVEN a process that started Azurite WHEN it is killed with SIGKILL THEN Azurite exits too (no orphan)', async () => {
    // GIVEN: a real parent process running startAzurite (the built SDK)
    const entry = path.join(__dirname, '../../sdk/dist/storage/index.js');
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(entry)}).startAzurite({ inMemory: true }).then((a) => console.log(a.pid))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const azuritePid = await new Promise<number>((resolve, reject) => {
      parent.stdout.on('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      parent.once('exit', (code) => reject(new Error(`parent exited ${code}`)));
    });
    expect(isGone(azuritePid)).toBe(false);
    // WHEN
    parent.kill('SIGKILL');
    // THEN
    const deadline = Date.now() + 10_000;
    while (!isGone(azuritePid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(isGone(azuritePid)).toBe(true);
  });
});
