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
import { normaliseRelativePath } from './paths';
import { sha256Hex } from './manifest';
import { shellQuote } from '../template/shell';

/** Quotes a string for `/bin/sh`: the one quoting function, from `template`. */
export { shellQuote };

/** The node-side script, shipped in the package (`sdk/assets/node/spillway_fetch.py`). */
export const NODE_SCRIPT_PATH = path.join(__dirname, '..', '..', 'assets', 'node', 'spillway_fetch.py');

/** Where the preparation task keeps the script for the job's tasks. */
export const NODE_SCRIPT_ON_NODE = '$AZ_BATCH_NODE_SHARED_DIR/spillway/spillway_fetch.py';

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
  const cache = options.cacheDir ?? '$AZ_BATCH_NODE_SHARED_DIR/spillway-cache';
  const target = options.targetDir ?? `$AZ_BATCH_NODE_SHARED_DIR/spillway-assets/${options.manifestId}`;
  for (const [field, v] of [
    ['cacheDir', cache],
    ['targetDir', target],
  ] as const) {
    if (/["`\\]/.test(v)) throw new ValidationError(field, v, 'must not contain ", ` or \\');
  }
  const commandLine = [
    ...install,
    `${PYTHON} "${NODE_SCRIPT_ON_NODE}" fetch --manifest-id ${options.manifestId} --cache "${cache}" --target "${target}"${options.copy ? ' --copy' : ''}`,
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
    ` --output ${shellQuote(outputs)}`;
  return `( ${command}\n); rc=$?; if [ "$rc" -eq 0 ]; then ${collect} || exit $?; fi; exit $rc`;
}
