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
