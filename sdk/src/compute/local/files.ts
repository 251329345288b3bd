import * as fs from 'node:fs';
import * as path from 'node:path';
import { retry } from '../../retry';
import type { OutputFileSpec, ResourceFile } from '../backend';

/** Options of the file transfers a task does. */
export interface TransferOptions {
  /** Per-request timeout. @default 60 seconds */
  readonly timeoutMs?: number;
  /** Attempts per file for retryable failures. @default 3 */
  readonly maxTries?: number;
  readonly abortSignal?: AbortSignal;
}

type StorageBlob = typeof import('@azure/storage-blob');
let storageBlob: StorageBlob | undefined;
/** Loaded on first use: a run without resource or output files never pays for it. */
function blobSdk(): StorageBlob {
  storageBlob ??= require('@azure/storage-blob') as StorageBlob;
  return storageBlob;
}

/**
 * A file of a task's directory (`filePath` relative to it, as Batch's Get File From Task
 * takes it: `stdout.txt`, `wd/out/...`); undefined when it is not there or the path leaves
 * the directory.
 */
export async function readTaskDirFile(taskDir: string, filePath: string): Promise<Buffer | undefined> {
  const rel = path.posix.normalize(filePath);
  if (path.posix.isAbsolute(rel) || rel === '..' || rel.startsWith('../')) return undefined;
  try {
    return await fs.promises.readFile(path.join(taskDir, rel));
  } catch {
    return undefined; // not there (yet, or any more)
  }
}

/**
 * At most `maxBytes` of a task directory's file from `offset`, and the file's size; undefined
 * when it is not there or the path leaves the directory (see `readTaskDirFile`).
 */
export async function readTaskDirFileRange(
  taskDir: string,
  filePath: string,
  offset: number,
  maxBytes: number,
): Promise<{ data: Buffer; size: number } | undefined> {
  const rel = path.posix.normalize(filePath);
  if (path.posix.isAbsolute(rel) || rel === '..' || rel.startsWith('../')) return undefined;
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(path.join(taskDir, rel), 'r');
  } catch {
    return undefined; // not there (yet, or any more)
  }
  try {
    const { size } = await handle.stat();
    const length = Math.max(0, Math.min(maxBytes, size - offset));
    const data = Buffer.alloc(length);
    const { bytesRead } = length > 0 ? await handle.read(data, 0, length, offset) : { bytesRead: 0 };
    return { data: data.subarray(0, bytesRead), size };
  } finally {
    await handle.close();
  }
}

/** Strips the query (SAS) from a URL, so it can be named in an error without the secret. */
export function withoutQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?<redacted>`;
}

function inside(root: string, rel: string, field: string): string {
  const target = path.resolve(root, rel);
  if (target !== root && !target.startsWith(root + path.sep)) {
    throw new Error(`${field} "${rel}" points outside the task directory`);
  }
  return target;
}

/** An HTTP answer worth another try: 408, 429 and 5xx. */
class RetryableStatus extends Error {}

async function fetchToFile(url: string, dest: string, options: TransferOptions): Promise<void> {
  try {
    await retry(
      async () => {
        const signals = [AbortSignal.timeout(options.timeoutMs ?? 60_000)];
        if (options.abortSignal) signals.push(options.abortSignal);
        const res = await fetch(url, { signal: AbortSignal.any(signals) });
        if (!res.ok) {
          await res.body?.cancel();
          const message = `GET ${withoutQuery(url)} answered ${res.status}`;
          const again = res.status >= 500 || res.status === 408 || res.status === 429;
          throw again ? new RetryableStatus(message) : Object.assign(new Error(message), { final: true });
        }
        await fs.promises.writeFile(dest, Buffer.from(await res.arrayBuffer()));
      },
      {
        maxAttempts: options.maxTries ?? 3,
        initialIntervalMs: 400,
        maxIntervalMs: 10_000,
        maxJitter: 0.5,
        retryable: (e) => !(e as { final?: boolean }).final,
        ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
      },
    );
  } catch (e) {
    // The SAS never reaches the message: only the status, or the error's name.
    if ((e as { final?: boolean }).final || e instanceof RetryableStatus)
      throw new Error((e as Error).message);
    throw new Error(`GET ${withoutQuery(url)} failed: ${(e as Error).name}`);
  }
}

/**
 * Downloads resource files into `workDir`, as the Batch node agent does: an `httpUrl` to
 * `filePath`; a `storageContainerUrl` (with SAS) copies every blob under `blobPrefix` into
 * the directory `filePath`. Errors never carry the SAS.
 */
export async function downloadResourceFiles(
  files: readonly ResourceFile[],
  workDir: string,
  options: TransferOptions = {},
): Promise<void> {
  for (const f of files) {
    if (f.httpUrl) {
      const rel = f.filePath ?? path.basename(new URL(f.httpUrl).pathname);
      const dest = inside(workDir, rel, 'resourceFiles.filePath');
      await fs.promises.mkdir(path.dirname(dest), { recursive: true });
      await fetchToFile(f.httpUrl, dest, options);
      if (f.fileMode) await fs.promises.chmod(dest, parseInt(f.fileMode, 8));
    } else if (f.storageContainerUrl) {
      const { ContainerClient } = blobSdk();
      const container = new ContainerClient(f.storageContainerUrl, undefined, {
        retryOptions: { maxTries: options.maxTries ?? 3, tryTimeoutInMs: options.timeoutMs ?? 60_000 },
      });
      const base = inside(workDir, f.filePath ?? '.', 'resourceFiles.filePath');
      try {
        for await (const blob of container.listBlobsFlat({
          ...(f.blobPrefix ? { prefix: f.blobPrefix } : {}),
          abortSignal: options.abortSignal,
        })) {
          const dest = inside(base, blob.name, 'blob name');
          await fs.promises.mkdir(path.dirname(dest), { recursive: true });
          await container.getBlobClient(blob.name).downloadToFile(dest, 0, undefined, {
            abortSignal: options.abortSignal,
          });
          if (f.fileMode) await fs.promises.chmod(dest, parseInt(f.fileMode, 8));
        }
      } catch (e) {
        throw new Error(
          `downloading ${withoutQuery(f.storageContainerUrl)} failed: ${(e as { code?: string }).code ?? (e as Error).name}`,
        );
      }
    }
  }
}

const GLOB_CHARS = /[*?[]/;

/** Turns a glob (`*`, `?`, `**`) into a regular expression over `/`-separated paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function walk(dir: string, rel = ''): Promise<string[]> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(dir, r)));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

/** Files matching `pattern` (relative to `workDir`, `..` allowed) and the blob name each gets. */
export async function matchOutputFiles(
  spec: OutputFileSpec,
  workDir: string,
): Promise<{ file: string; blobName: string }[]> {
  const parts = spec.filePattern.split('/');
  const firstGlob = parts.findIndex((p) => GLOB_CHARS.test(p));
  if (firstGlob < 0) {
    const file = path.resolve(workDir, spec.filePattern);
    return fs.existsSync(file) && fs.statSync(file).isFile() ? [{ file, blobName: spec.path }] : [];
  }
  const baseDir = path.resolve(workDir, parts.slice(0, firstGlob).join('/') || '.');
  const re = globToRegExp(parts.slice(firstGlob).join('/'));
  const prefix = spec.path.replace(/\/+$/, '');
  return (await walk(baseDir))
    .filter((r) => re.test(r))
    .map((r) => ({ file: path.join(baseDir, r), blobName: prefix ? `${prefix}/${r}` : r }));
}

/**
 * Uploads a task's output files whose `uploadCondition` matches the outcome, as Batch does.
 * Returns the number of files uploaded; throws (without the SAS) when an upload fails.
 */
export async function uploadOutputFiles(
  specs: readonly OutputFileSpec[],
  workDir: string,
  succeeded: boolean,
  options: TransferOptions = {},
): Promise<number> {
  let count = 0;
  for (const spec of specs) {
    const wanted =
      spec.uploadCondition === 'taskCompletion' ||
      (spec.uploadCondition === 'taskSuccess' && succeeded) ||
      (spec.uploadCondition === 'taskFailure' && !succeeded);
    if (!wanted) continue;
    const matches = await matchOutputFiles(spec, workDir);
    if (matches.length === 0) continue;
    const { ContainerClient } = blobSdk();
    const container = new ContainerClient(spec.containerUrl, undefined, {
      retryOptions: { maxTries: options.maxTries ?? 3, tryTimeoutInMs: options.timeoutMs ?? 60_000 },
    });
    for (const m of matches) {
      try {
        await container
          .getBlockBlobClient(m.blobName)
          .uploadFile(m.file, { abortSignal: options.abortSignal });
      } catch (e) {
        throw new Error(
          `uploading ${m.blobName} to ${withoutQuery(spec.containerUrl)} failed: ${(e as { code?: string }).code ?? (e as Error).name}`,
        );
      }
      count++;
    }
  }
  return count;
}
