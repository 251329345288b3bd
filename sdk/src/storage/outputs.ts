/**
 * Outputs back: when a frame completes, its outputs (under a blob prefix, with the
 * `outputs.json` the node wrote) are downloaded beside their destination, verified against
 * the recorded SHA-256 and size, fsync'ed, and only then renamed into place. A mismatch
 * leaves nothing in the destination and raises an `IntegrityError`.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { ValidationError } from '../errors';
import { pipelineOptions } from './client';
import { IntegrityError, toStorageError } from './errors';
import { parseManifest, type ManifestEntry } from './manifest';
import { OUTPUTS_FILE } from './node';
import { resolveInside } from './paths';
import { forEachLimited } from './pool';

type StorageBlob = typeof import('@azure/storage-blob');
const blobSdk = (): StorageBlob => require('@azure/storage-blob') as StorageBlob;

/** Options of `placeOutputs`. */
export interface PlaceOutputsOptions {
  /** The outputs container: a client, or a container URL with a read SAS. */
  readonly container: ContainerClient | string;
  /** Blob prefix of the frame's outputs (where `outputs.json` is), e.g. `job-1/frame-0007/`. */
  readonly prefix: string;
  /** The render manager's output path for the frame. */
  readonly destination: string;
  /** Name of the hash file under the prefix. @default 'outputs.json' */
  readonly outputsFile?: string;
  /** Files downloaded at once. @default 4 */
  readonly concurrency?: number;
  readonly abortSignal?: AbortSignal;
}

/** One placed file. */
export interface PlacedOutput extends ManifestEntry {
  /** Its absolute local path. */
  readonly localPath: string;
}

/** Makes a rename in `dir` durable (best effort: some filesystems refuse it). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on a directory; the rename is still atomic
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Downloads, verifies and atomically places one frame's outputs. Every file is first
 * written to a hidden temp file in its destination directory and checked; only when all
 * are good are they renamed into place. Call it from the frame-completed event.
 */
export async function placeOutputs(options: PlaceOutputsOptions): Promise<PlacedOutput[]> {
  const signal = options.abortSignal;
  const sdk = blobSdk();
  const container =
    typeof options.container === 'string'
      ? new sdk.ContainerClient(
          options.container,
          sdk.newPipeline(new sdk.AnonymousCredential(), pipelineOptions()),
        )
      : options.container;
  if (typeof options.destination !== 'string' || !options.destination) {
    throw new ValidationError('destination', options.destination, 'must be a directory path');
  }
  const prefix =
    options.prefix === '' || options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`;
  if (prefix.startsWith('/') || prefix.split('/').includes('..')) {
    throw new ValidationError('prefix', options.prefix, 'must be a relative blob prefix without ".."');
  }
  const outputsName = `${prefix}${options.outputsFile ?? OUTPUTS_FILE}`;
  const index = container.getBlobClient(outputsName);
  let text: string;
  try {
    text = (await index.downloadToBuffer(undefined, undefined, { abortSignal: signal })).toString('utf8');
  } catch (e) {
    throw toStorageError(e, 'download', index.url);
  }
  const { files } = parseManifest(text, outputsName);
  const destination = path.resolve(options.destination);
  // Check every path before touching the disk.
  const plan = files.map((f, i) => ({
    entry: f,
    local: resolveInside(destination, f.path, `${outputsName}.files[${i}].path`),
  }));

  const temps: { tmp: string; local: string }[] = [];
  const cleanup = (): void => {
    for (const t of temps) fs.rmSync(t.tmp, { force: true });
  };
  try {
    await forEachLimited(
      plan,
      options.concurrency ?? 4,
      async ({ entry, local }) => {
        fs.mkdirSync(path.dirname(local), { recursive: true });
        const tmp = path.join(
          path.dirname(local),
          `.spillway-${randomBytes(6).toString('hex')}-${path.basename(local)}`,
        );
        temps.push({ tmp, local });
        const blob = container.getBlobClient(`${prefix}${entry.path}`);
        const fh = await fs.promises.open(tmp, 'wx', 0o644);
        const hash = createHash('sha256');
        let size = 0;
        try {
          let res;
          try {
            res = await blob.download(0, undefined, { abortSignal: signal, maxRetryRequests: 3 });
          } catch (e) {
            throw toStorageError(e, 'download', blob.url);
          }
          for await (const chunk of res.readableStreamBody as AsyncIterable<Buffer>) {
            hash.update(chunk);
            size += chunk.length;
            await fh.write(chunk);
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        const sha = hash.digest('hex');
        if (size !== entry.sizeBytes || sha !== entry.sha256) {
          throw new IntegrityError(
            `${prefix}${entry.path}: downloaded ${size} bytes with sha256 ${sha}, but ${options.outputsFile ?? OUTPUTS_FILE} ` +
              `records ${entry.sizeBytes} bytes with sha256 ${entry.sha256}; nothing was placed`,
            entry.path,
          );
        }
      },
      signal,
    );
  } catch (e) {
    cleanup();
    throw e;
  }
  for (const { tmp, local } of temps) fs.renameSync(tmp, local);
  for (const dir of new Set(temps.map((t) => path.dirname(t.local)))) fsyncDir(dir);
  return plan.map(({ entry, local }) => ({ ...entry, localPath: local }));
}
