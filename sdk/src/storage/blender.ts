/**
 * What a Blender scene needs besides itself: images, linked libraries, sounds, fonts,
 * caches. Blender answers that itself (`bpy.utils.blend_paths`), run in the background on
 * the scene; the files that exist are synced with it, the missing ones are reported.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FailedPreconditionError, NotFoundError } from '../errors';
import { relativeToRoot } from './paths';

/** Options of `blendDependencies`. */
export interface BlendDependencyOptions {
  /** The Blender executable. @default 'blender' on the PATH */
  readonly blender?: string;
  /** @default 120000 */
  readonly timeoutMs?: number;
  readonly abortSignal?: AbortSignal;
}

/** The external files of a scene, absolute. */
export interface BlendDependencies {
  /** Files and directories that exist (a cache directory counts whole). */
  readonly files: string[];
  /** Referenced, but not on disk (Blender renders without them). */
  readonly missing: string[];
}

const MARKER = 'SPILLWAY_BLEND_PATHS ';

/** The Python expression Blender runs on the scene: prints its external paths as JSON. */
export const BLEND_PATHS_SCRIPT = [
  'import bpy, json, os',
  'paths = bpy.utils.blend_paths(absolute=True, packed=False, local=False)',
  'out = sorted(set(os.path.normpath(bpy.path.abspath(p)) for p in paths))',
  `print(${JSON.stringify(MARKER)} + json.dumps(out), flush=True)`,
].join('\n');

/** Asks Blender which external files `blendFile` references. */
export function blendDependencies(
  blendFile: string,
  options: BlendDependencyOptions = {},
): Promise<BlendDependencies> {
  const scene = path.resolve(blendFile);
  if (!fs.existsSync(scene)) {
    return Promise.reject(new NotFoundError(`scene ${scene} does not exist`));
  }
  const blender = options.blender ?? 'blender';
  return new Promise((resolve, reject) => {
    execFile(
      blender,
      ['-b', '--factory-startup', scene, '--python-expr', BLEND_PATHS_SCRIPT],
      {
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        ...(options.abortSignal ? { signal: options.abortSignal } : {}),
      },
      (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
        if (!line) {
          const why =
            (err as NodeJS.ErrnoException | null)?.code === 'ENOENT'
              ? `${blender} is not installed`
              : stderr.trim().split('\n').slice(-3).join(' | ') || err?.message || 'no answer';
          return reject(new FailedPreconditionError(`could not list what ${scene} references: ${why}`));
        }
        let paths: string[];
        try {
          paths = JSON.parse(line.slice(MARKER.length)) as string[];
        } catch {
          return reject(new FailedPreconditionError(`Blender's answer for ${scene} is not JSON`));
        }
        const files: string[] = [];
        const missing: string[] = [];
        for (const p of paths) {
          if (p === scene) continue;
          (fs.existsSync(p) ? files : missing).push(p);
        }
        resolve({ files, missing });
      },
    );
  });
}

/** Splits absolute paths into manifest paths below `root` and the paths outside it. */
export function pathsBelow(
  root: string,
  absolutes: readonly string[],
): { readonly inside: string[]; readonly outside: string[] } {
  const inside: string[] = [];
  const outside: string[] = [];
  for (const p of absolutes) {
    try {
      inside.push(relativeToRoot(root, p));
    } catch {
      outside.push(p);
    }
  }
  return { inside, outside };
}
