/**
 * Output placement for cloud frames: a frame's outputs are fetched (from Blob Storage,
 * through the service, each checked against its node's SHA-256) into a staging directory
 * INSIDE the job's output directory (`.spillway-staging/<task>`), so that placing is a
 * same-filesystem rename (atomic per file, never a half-written output). Before placing,
 * the staged files are verified: each non-empty, and every frame of the task present when
 * the output name carries a frame number. Placement is idempotent: a rerun after a crash
 * finishes the moves it had not done.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SpillwayError } from '@spillway/sdk';

/** The staging folder name inside an output directory. */
export const STAGING_DIR_NAME = '.spillway-staging';

/** Staged outputs are missing or wrong: the frame cannot be completed from them. */
export class OutputVerificationError extends SpillwayError {
  constructor(message: string) {
    super(message, 'OUTPUT_VERIFICATION');
  }
}

/** The staging directory of a task. */
export function stagingDirOf(outputDir: string, jobId: string, taskId: number): string {
  return path.join(outputDir, STAGING_DIR_NAME, `${jobId}-${taskId}`);
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
    else if (e.isFile()) out.push(r);
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

/**
 * Moves verified staged files into `outputDir` (same relative paths), then removes the
 * staging directory. Files already moved by an earlier, interrupted run are skipped.
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
  fs.rmSync(staging, { recursive: true, force: true });
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
