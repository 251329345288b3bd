import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import * as storage from '@spillway/sdk/storage';

export { run } from '../support/process';

/** A temp dir removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `spillway-${prefix}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Writes files (relative path -> content) under root. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
}

export const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
export const random = (n: number): Buffer => randomBytes(n);

/** A fresh container on the Azurite. */
export async function freshContainer(azurite: storage.Azurite, name: string): Promise<ContainerClient> {
  const svc = BlobServiceClient.fromConnectionString(azurite.connectionString, storage.pipelineOptions());
  const c = svc.getContainerClient(`${name}-${randomBytes(4).toString('hex')}`);
  await c.createIfNotExists();
  return c;
}

/** Names under a prefix. */
export async function names(c: ContainerClient, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const b of c.listBlobsFlat({ prefix })) out.push(b.name);
  return out.sort();
}

/** The last non-empty line of a text, parsed as JSON. */
export function lastJson<T = Record<string, unknown>>(text: string): T {
  const lines = text.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

/** True when the process is gone. */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** The containers of a test service's embedded Azurite (read from its data directory). */
export function serviceContainers(
  dataDir: string,
  base = 'spillway',
): { assets: ContainerClient; outputs: ContainerClient; connectionString: string } {
  const port = fs.readFileSync(path.join(dataDir, 'azurite', 'port'), 'utf8').trim();
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${storage.AZURITE_ACCOUNT_NAME};` +
    `AccountKey=${storage.AZURITE_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:${port}/${storage.AZURITE_ACCOUNT_NAME};`;
  const svc = BlobServiceClient.fromConnectionString(connectionString, storage.pipelineOptions());
  const layout = storage.storageLayout(base);
  return {
    assets: svc.getContainerClient(layout.assets),
    outputs: svc.getContainerClient(layout.outputs),
    connectionString,
  };
}

/** Polls `check` until it returns a value (not undefined), or fails after `ms`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The frames of a job once none is queued or running. */
export async function finishedFrames(
  client: import('@spillway/sdk').BurstClient,
  jobId: string,
  ms = 90_000,
): Promise<import('@spillway/sdk').Frame[]> {
  return eventually(
    `job ${jobId} to finish`,
    async () => {
      const frames: import('@spillway/sdk').Frame[] = [];
      for await (const f of client.listFrames(jobId)) frames.push(f);
      return frames.length > 0 &&
        frames.every((f) => ['succeeded', 'failed', 'cancelled', 'recalled'].includes(f.state))
        ? frames
        : undefined;
    },
    ms,
  );
}

/** Whether a blob exists. */
export async function blobExists(c: ContainerClient, name: string): Promise<boolean> {
  return c.getBlobClient(name).exists();
}
