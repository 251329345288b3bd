/**
 * Pieces the compute backend uses to run the node side of asset and output movement on a
 * stock Batch Linux image (python3, no Node.js): the fetcher script as a resource file, the
 * job preparation command that materialises a manifest, and the wrapper that hashes a
 * frame's outputs into `outputs.json` after it renders.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import type { CommandSpec } from '../compute/backend';
import { ValidationError } from '../errors';
import { toStorageError } from './errors';
import { NODE_DIRS, nodeAssetsDir } from './layout';
import { normaliseRelativePath } from './paths';
import { sha256Hex } from './manifest';
import { shellQuote } from '../template/shell';

/** Quotes a string for `/bin/sh`: the one quoting function, from `template`. */
export { shellQuote };

/** The node-side script, shipped in the package (`sdk/assets/node/spillway_fetch.py`). */
export const NODE_SCRIPT_PATH = path.join(__dirname, '..', '..', 'assets', 'node', 'spillway_fetch.py');

/** Where the preparation task keeps the script for the job's tasks. */
export const NODE_SCRIPT_ON_NODE = `${NODE_DIRS.script}/spillway_fetch.py`;

/**
 * The interpreter of the node script: `$SPILLWAY_PYTHON` where the node sets it (the embedded
 * engine points it at the system's `/usr/bin/python3`, past version-manager shims that cost
 * a tenth of a second per call), else `python3` from PATH, as on a stock Batch image. `-S`
 * skips site packages: the script uses the standard library only.
 */
const PYTHON = '"${SPILLWAY_PYTHON:-python3}" -S';

/**
 * Uploads the node script as `tools/spillway_fetch-<sha256 prefix>.py` (once per version)
 * and returns the blob name; issue a read SAS for it to use as a resource file.
 */
export async function uploadNodeScript(
  container: ContainerClient,
  options: { readonly abortSignal?: AbortSignal } = {},
): Promise<string> {
  const body = fs.readFileSync(NODE_SCRIPT_PATH);
  const name = `tools/spillway_fetch-${sha256Hex(body).slice(0, 16)}.py`;
  const blob = container.getBlockBlobClient(name);
  try {
    if (!(await blob.exists({ abortSignal: options.abortSignal }))) {
      await blob.upload(body, body.length, {
        blobHTTPHeaders: { blobContentType: 'text/x-python' },
        abortSignal: options.abortSignal,
      });
    }
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 409) throw toStorageError(e, 'upload', blob.url);
  }
  return name;
}

/** Options of `buildPreparationCommand`. */
export interface PreparationCommandOptions {
  /** URL (with read SAS) of the node script blob, from `uploadNodeScript` + `issueSas`. */
  readonly scriptUrl: string;
  /** URL (with read SAS) of the manifest blob. Without a manifest only the script is installed (for the output collector). */
  readonly manifestUrl?: string;
  /** The manifest id: the fetcher checks the manifest bytes hash to it. */
  readonly manifestId?: string;
  /** URL (with read + list SAS) of the content container. */
  readonly contentContainerUrl?: string;
  /** The node cache. @default `$AZ_BATCH_NODE_SHARED_DIR/spillway-cache` */
  readonly cacheDir?: string;
  /** Where the tree is laid out. @default `$AZ_BATCH_NODE_SHARED_DIR/spillway-assets/<manifest id>` */
  readonly targetDir?: string;
  /** Copy from the cache instead of hard-linking. @default false */
  readonly copy?: boolean;
  /** The node cache's limit. @default half of the cache's disk */
  readonly cacheLimit?: NodeCacheLimit;
}

/** How much content a node's cache may hold: bytes, or a share of the disk it is on (the node's temporary disk). */
export type NodeCacheLimit = { readonly bytes: number } | { readonly fraction: number };

/** The fetcher flags of a cache limit. */
function limitFlags(limit: NodeCacheLimit | undefined): string {
  if (!limit) return '';
  if ('bytes' in limit) {
    if (!Number.isSafeInteger(limit.bytes) || limit.bytes <= 0) {
      throw new ValidationError('cacheLimit.bytes', limit.bytes, 'must be a positive whole number of bytes');
    }
    return ` --cache-limit-bytes ${limit.bytes}`;
  }
  if (!(limit.fraction > 0 && limit.fraction <= 1)) {
    throw new ValidationError('cacheLimit.fraction', limit.fraction, 'must be more than 0 and at most 1');
  }
  return ` --cache-limit-fraction ${limit.fraction}`;
}

/**
 * The job preparation step for a manifest: the script comes as a resource file, is copied
 * (atomically) to the node's shared directory for the tasks, and materialises the tree.
 * SAS URLs travel in the environment, not the command line. Idempotent, as Batch requires.
 * `cacheDir`/`targetDir` are inserted between double quotes so `$AZ_BATCH_...` expands;
 * they must not contain `"`, `` ` `` or `\`.
 */
export function buildPreparationCommand(options: PreparationCommandOptions): CommandSpec {
  const install = [
    'mkdir -p "$AZ_BATCH_NODE_SHARED_DIR/spillway"',
    `cp spillway_fetch.py "${NODE_SCRIPT_ON_NODE}.$$"`,
    `mv -f "${NODE_SCRIPT_ON_NODE}.$$" "${NODE_SCRIPT_ON_NODE}"`,
  ];
  const script = { httpUrl: options.scriptUrl, filePath: 'spillway_fetch.py', fileMode: '0755' };
  if (
    options.manifestId === undefined &&
    options.manifestUrl === undefined &&
    options.contentContainerUrl === undefined
  ) {
    if (!/^https?:\/\//.test(options.scriptUrl)) {
      throw new ValidationError('scriptUrl', options.scriptUrl.split('?')[0], 'must be an http(s) URL');
    }
    return { commandLine: install.join(' && '), resourceFiles: [script] };
  }
  if (!/^[0-9a-f]{64}$/.test(options.manifestId ?? '')) {
    throw new ValidationError('manifestId', options.manifestId ?? '', 'must be 64 lower-case hex digits');
  }
  for (const field of ['scriptUrl', 'manifestUrl', 'contentContainerUrl'] as const) {
    const value = options[field] ?? '';
    if (!/^https?:\/\//.test(value)) {
      throw new ValidationError(field, value.split('?')[0], 'must be an http(s) URL');
    }
  }
  const { cache, target } = nodeDirs(options.manifestId!, options.cacheDir, options.targetDir);
  // The job is recorded on the node (its release removes the tree). A manifest that cannot
  // fit does not fail the preparation (which would keep the job off the node for good):
  // each task then tries again at its start, and fails naming the sizes (`buildEnterCommand`).
  const commandLine = [
    ...install,
    `${PYTHON} "${NODE_SCRIPT_ON_NODE}" fetch --manifest-id ${options.manifestId} --cache "${cache}" --target "${target}"` +
      `${options.copy ? ' --copy' : ''}${limitFlags(options.cacheLimit)} --job "$AZ_BATCH_JOB_ID" --defer-space-errors`,
  ].join(' && ');
  return {
    commandLine,
    environment: {
      SPILLWAY_MANIFEST_URL: options.manifestUrl!,
      SPILLWAY_CONTENT_URL: options.contentContainerUrl!,
      SPILLWAY_ASSETS_DIR: target,
    },
    resourceFiles: [script],
  };
}

/** The node cache and tree directories, checked for what may sit between double quotes. */
function nodeDirs(
  manifestId: string,
  cacheDir: string | undefined,
  targetDir: string | undefined,
): { cache: string; target: string } {
  const cache = cacheDir ?? NODE_DIRS.cache;
  const target = targetDir ?? nodeAssetsDir(manifestId);
  for (const [field, v] of [
    ['cacheDir', cache],
    ['targetDir', target],
  ] as const) {
    if (/["`\\]/.test(v)) throw new ValidationError(field, v, 'must not contain ", ` or \\');
  }
  return { cache, target };
}

/** Options of `buildEnterCommand`. */
export interface EnterCommandOptions {
  readonly manifestId: string;
  /** @default as `buildPreparationCommand` */
  readonly cacheDir?: string;
  /** @default as `buildPreparationCommand` */
  readonly targetDir?: string;
  readonly copy?: boolean;
  readonly cacheLimit?: NodeCacheLimit;
}

/**
 * The first lines of a task's command when its job has assets: exports
 * `SPILLWAY_ASSETS_DIR`, records that this task (its shell's pid) uses the manifest, so no
 * other job's fetch evicts its content while it runs (the record goes when the shell exits),
 * and lays the tree out again if it is not on the node (evicted while the job was idle
 * there; `SPILLWAY_MANIFEST_URL` and `SPILLWAY_CONTENT_URL` must then be in the task's
 * environment). A manifest that cannot fit fails the task at once, naming its size and the
 * free space. Ends with a newline; put the render command after it.
 */
export function buildEnterCommand(options: EnterCommandOptions): string {
  if (!/^[0-9a-f]{64}$/.test(options.manifestId)) {
    throw new ValidationError('manifestId', options.manifestId, 'must be 64 lower-case hex digits');
  }
  const { cache, target } = nodeDirs(options.manifestId, options.cacheDir, options.targetDir);
  return [
    `export SPILLWAY_ASSETS_DIR="${target}"`,
    `trap 'rm -f "${cache}/.spillway/leases/$$"' EXIT`,
    `${PYTHON} "${NODE_SCRIPT_ON_NODE}" enter --manifest-id ${options.manifestId} --cache "${cache}" --target "${target}"` +
      `${options.copy ? ' --copy' : ''}${limitFlags(options.cacheLimit)} --job "$AZ_BATCH_JOB_ID" --lease-pid $$ || exit $?`,
    '',
  ].join('\n');
}

/**
 * The job release step: forgets the job on the node and removes its laid-out tree when no
 * other job or running task uses it. The shared cache stays (it is bounded, and evicted by
 * least recent use). Runs where the preparation ran, so the script is there.
 */
export function buildReleaseCommand(options: { readonly cacheDir?: string } = {}): CommandSpec {
  const cache = options.cacheDir ?? NODE_DIRS.cache;
  if (/["`\\]/.test(cache)) throw new ValidationError('cacheDir', cache, 'must not contain ", ` or \\');
  return {
    commandLine: `if [ -f "${NODE_SCRIPT_ON_NODE}" ]; then ${PYTHON} "${NODE_SCRIPT_ON_NODE}" release --cache "${cache}" --job "$AZ_BATCH_JOB_ID"; fi`,
  };
}

/** The name of the hash file a wrapped render writes beside its outputs, unless told otherwise. */
export const OUTPUTS_FILE = 'outputs.json';

/** Options of `wrapRenderCommand`. */
export interface WrapRenderOptions {
  /** Output directory, relative to the task's working directory. @default '.' (the working directory) */
  readonly outputDir?: string;
  /** Globs relative to `outputDir` (e.g. `out_*.png`, `**\/*.exr`). */
  readonly patterns: readonly string[];
  /** Name of the hash file written in `outputDir`. @default 'outputs.json' */
  readonly outputsFile?: string;
  /**
   * Also write the outputs below this directory (a mounted share), each under a temporary name
   * and then renamed; a shell word, e.g. `"$SPILLWAY_MOUNT_PROJECTS"/'shot/renders'`.
   * @default none (outputs stay in `outputDir` for upload)
   */
  readonly publishTo?: string;
}

/**
 * Wraps a frame's render command so that, when it succeeds, its outputs are hashed into
 * `outputs.json` beside them (the downloader verifies against it). The render's exit code
 * is kept; a failure to hash fails the task.
 */
export function wrapRenderCommand(command: string, options: WrapRenderOptions): string {
  if (!command.trim()) throw new ValidationError('command', command, 'must not be empty');
  if (options.patterns.length === 0)
    throw new ValidationError('patterns', options.patterns, 'must name at least one glob');
  const dir =
    options.outputDir === undefined || options.outputDir === '.'
      ? '.'
      : normaliseRelativePath(options.outputDir, 'outputDir');
  const patterns = options.patterns.map((p, i) => normaliseRelativePath(p, `patterns[${i}]`));
  const outputs = normaliseRelativePath(options.outputsFile ?? OUTPUTS_FILE, 'outputsFile');
  const collect =
    `${PYTHON} "${NODE_SCRIPT_ON_NODE}" collect --dir ${shellQuote(dir)}` +
    patterns.map((p) => ` --pattern ${shellQuote(p)}`).join('') +
    ` --output ${shellQuote(outputs)}` +
    (options.publishTo !== undefined ? ` --publish-to ${options.publishTo}` : '');
  return `( ${command}\n); rc=$?; if [ "$rc" -eq 0 ]; then ${collect} || exit $?; fi; exit $rc`;
}
