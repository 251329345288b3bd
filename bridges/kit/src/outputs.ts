/**
 * Outputs back into the render manager's output folder: a succeeded cloud frame's outputs are
 * fetched (from Blob Storage through the service, each checked against the size and SHA-256
 * its node recorded) into a staging folder INSIDE the output folder
 * (`.spillway-staging/<key>/`), so that placing is a same-filesystem rename (atomic per file,
 * never a half-written output). Before placing, the staged files are verified: at least one,
 * none empty, and every frame of the task named by some file when the renderer names outputs
 * by frame. The verified list is handed to the caller to record before anything moves, so a
 * rerun after a crash finishes the moves. When done, the staging folder is removed, and its
 * parent too when no other task is staging: the output folder holds only the outputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BurstServiceError, SpillwayError, type BurstClient, type OutputFile } from '@spillway/sdk';
import * as storage from '@spillway/sdk/storage';

/** The staging folder name inside an output folder. */
export const STAGING_DIR_NAME = '.spillway-staging';

/** Staged outputs are missing or wrong: the frame cannot be completed from them. */
export class OutputVerificationError extends SpillwayError {
  constructor(message: string) {
    super(message, 'OUTPUT_VERIFICATION');
  }
}

/**
 * True for the errors that mean "these outputs are bad" (verification, integrity, a path
 * escaping the folder): the frame goes back to the local farm. Anything else (the service
 * unreachable, a full disk) is a fault to retry.
 */
export function isBadOutputError(err: unknown): boolean {
  return (
    err instanceof OutputVerificationError ||
    err instanceof storage.IntegrityError ||
    err instanceof storage.PathEscapeError
  );
}

/** The staging folder of one task (`key` names it uniquely, e.g. `<job>-<task>`). */
export function stagingDirOf(outputDir: string, key: string): string {
  return path.join(outputDir, STAGING_DIR_NAME, key.replace(/[/\\]/g, '_'));
}

function walk(dir: string, rel = ''): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, r));
    else if (e.isFile() && !e.name.endsWith('.part')) out.push(r);
  }
  return out.sort();
}

/**
 * The staged files of a task, verified: at least one, none empty, and each frame of
 * `frameStart..frameEnd` named by some file (as `0007` or `7` between non-digits) when
 * `expectFrameNumbers` holds.
 */
export function verifyStaged(
  staging: string,
  frameStart: number,
  frameEnd: number,
  expectFrameNumbers: boolean,
): string[] {
  const files = walk(staging);
  if (files.length === 0) throw new OutputVerificationError(`no outputs in ${staging}`);
  for (const f of files) {
    if (fs.statSync(path.join(staging, f)).size === 0)
      throw new OutputVerificationError(`output ${f} is empty`);
  }
  if (expectFrameNumbers) {
    for (let n = frameStart; n <= frameEnd; n++) {
      const re = new RegExp(`(^|[^0-9])0*${n}([^0-9]|$)`);
      if (!files.some((f) => re.test(path.basename(f))))
        throw new OutputVerificationError(
          `no output names frame ${n} in ${staging} (have ${files.join(', ')})`,
        );
    }
  }
  return files;
}

/** Removes a task's staging folder, and the `.spillway-staging` folder above it when empty. */
export function removeStaging(staging: string): void {
  fs.rmSync(staging, { recursive: true, force: true });
  const parent = path.dirname(staging);
  if (path.basename(parent) !== STAGING_DIR_NAME) return;
  try {
    fs.rmdirSync(parent);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Another task is staging (ENOTEMPTY/EEXIST), or it is gone already.
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw err;
  }
}

/**
 * Moves verified staged files into `outputDir` (same relative paths), then removes the
 * staging folder. Files already moved by an earlier, interrupted run are skipped.
 */
export function placeStaged(staging: string, outputDir: string, files: readonly string[]): void {
  for (const f of files) {
    const from = path.join(staging, f);
    const to = path.join(outputDir, f);
    if (!fs.existsSync(from)) {
      if (fs.existsSync(to)) continue; // moved before a crash
      throw new OutputVerificationError(`output ${f} vanished from ${staging} before it was placed`);
    }
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.renameSync(from, to);
  }
  removeStaging(staging);
}

/** True when every file of `files` is in `outputDir` and non-empty. */
export function allPlaced(outputDir: string, files: readonly string[]): boolean {
  return files.every((f) => {
    try {
      return fs.statSync(path.join(outputDir, f)).size > 0;
    } catch {
      return false;
    }
  });
}

/** One succeeded frame's outputs, written by its node to a share the output folder is on. */
export interface InPlaceCheck {
  /** The service's frame id (for messages). */
  readonly frameId: string;
  /** The outputs its node recorded (paths relative to the output folder). */
  readonly outputs: readonly OutputFile[];
  /** The output folder as this host sees the share. */
  readonly outputDir: string;
  readonly frameStart: number;
  readonly frameEnd: number;
  /** Every frame of the task must be named by an output. */
  readonly expectFrameNumbers: boolean;
  readonly abortSignal?: AbortSignal;
}

/**
 * Verifies outputs a node wrote to a share, where they are (nothing is downloaded): at least
 * one, each present in `outputDir` with the size and SHA-256 its node recorded, and each frame
 * named when the renderer names outputs by frame. Resolves to the files and their bytes;
 * throws an `OutputVerificationError` (or a path-escape error) naming what is wrong.
 */
export async function verifyInPlace(c: InPlaceCheck): Promise<{ files: string[]; bytes: number }> {
  if (c.outputs.length === 0)
    throw new OutputVerificationError(`frame ${c.frameId} reported no outputs in ${c.outputDir}`);
  let bytes = 0;
  for (const o of c.outputs) {
    const file = storage.resolveInside(c.outputDir, o.path, 'output path');
    let size: number;
    try {
      size = (await fs.promises.stat(file)).size;
    } catch {
      throw new OutputVerificationError(
        `output ${o.path} of frame ${c.frameId} is not on the share at ${file}`,
      );
    }
    if (size !== o.sizeBytes || size === 0)
      throw new OutputVerificationError(
        `output ${o.path} of frame ${c.frameId} on the share is ${size} bytes, its node wrote ${o.sizeBytes}`,
      );
    const sha = await storage.hashFile(file, c.abortSignal);
    if (sha !== o.sha256)
      throw new OutputVerificationError(
        `output ${o.path} of frame ${c.frameId} on the share does not hash to what its node wrote (${sha.slice(0, 12)}… != ${o.sha256.slice(0, 12)}…)`,
      );
    bytes += size;
  }
  const files = c.outputs.map((o) => o.path).sort();
  if (c.expectFrameNumbers)
    for (let n = c.frameStart; n <= c.frameEnd; n++) {
      const re = new RegExp(`(^|[^0-9])0*${n}([^0-9]|$)`);
      if (!files.some((f) => re.test(path.basename(f))))
        throw new OutputVerificationError(
          `no output names frame ${n} in ${c.outputDir} (have ${files.join(', ')})`,
        );
    }
  return { files, bytes };
}

/** One succeeded frame's outputs to bring back. */
export interface OutputReturn {
  /** The service's frame id. */
  readonly frameId: string;
  /** The outputs its node recorded (paths relative to the task's output folder). */
  readonly outputs: readonly OutputFile[];
  /** The render manager's output folder (as this host sees it). */
  readonly outputDir: string;
  /** The task's staging folder (`stagingDirOf`). */
  readonly staging: string;
  readonly frameStart: number;
  readonly frameEnd: number;
  /** Every frame of the task must be named by an output (renderers that name outputs by frame). */
  readonly expectFrameNumbers: boolean;
  /** Files recorded as verified by an earlier, interrupted run: only their moves are finished. @default none */
  readonly placed?: readonly string[];
  /** Records the verified list durably before anything moves. */
  readonly onVerified: (files: string[]) => void;
}

/** Fetches, verifies and places outputs (`BurstClient.assets.fetchOutput` does the fetching). */
export class OutputReturner {
  constructor(
    private readonly client: Pick<BurstClient, 'assets'>,
    private readonly abortSignal?: AbortSignal,
  ) {}

  /**
   * Brings one frame's outputs into its output folder; resolves to the placed files
   * (relative to the folder). Idempotent: with `placed` it only finishes the moves. Throws an
   * error `isBadOutputError` recognises when the outputs are wrong (the staging folder is
   * then removed), any other error for a fault worth another attempt.
   */
  async bringBack(r: OutputReturn): Promise<string[]> {
    try {
      let files = r.placed ? [...r.placed] : undefined;
      if (!files) {
        await this.fetch(r.frameId, r.outputs, r.staging);
        files = verifyStaged(r.staging, r.frameStart, r.frameEnd, r.expectFrameNumbers);
        r.onVerified(files);
      }
      if (!allPlaced(r.outputDir, files) || fs.existsSync(r.staging))
        placeStaged(r.staging, r.outputDir, files);
      if (!allPlaced(r.outputDir, files))
        throw new OutputVerificationError(`outputs of frame ${r.frameId} are not all in ${r.outputDir}`);
      return files;
    } catch (err) {
      if (isBadOutputError(err)) removeStaging(r.staging);
      throw err;
    }
  }

  /** Fetches a frame's outputs (paths relative to its output folder) into `dir`. */
  private async fetch(frameId: string, outputs: readonly OutputFile[], dir: string): Promise<void> {
    for (const o of outputs) {
      const dest = storage.resolveInside(dir, o.path, 'output path');
      try {
        await this.client.assets.fetchOutput(frameId, o.path, dest, {
          ...(this.abortSignal ? { abortSignal: this.abortSignal } : {}),
        });
      } catch (err) {
        // The service has no such output, or its bytes do not match what the node recorded:
        // these outputs will not come back, whatever the number of attempts.
        if (err instanceof BurstServiceError && (err.code === 'NOT_FOUND' || err.code === 'DATA_LOSS'))
          throw new OutputVerificationError(
            `output ${o.path} of frame ${frameId} cannot be fetched: ${err.message}`,
          );
        throw err;
      }
    }
  }
}
