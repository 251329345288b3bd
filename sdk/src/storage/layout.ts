/**
 * Where everything lives in Blob Storage and on a node: ONE place for container names,
 * blob name prefixes and node directories, used by `spillway assets sync`, the SDK, the
 * service, the node fetcher's command lines and garbage collection. A container named here
 * and one named anywhere else cannot drift apart again (issue #20: the CLI synced into
 * `spillway-assets` while the service read `spillway`).
 */
import { ValidationError } from '../errors';

/** The default base container: assets in `spillway`, outputs in `spillway-outputs`. */
export const DEFAULT_CONTAINER = 'spillway';

/** The containers of one Spillway installation. */
export interface StorageLayout {
  /** Content (`content/<sha256>`), manifests (`manifests/<id>.json`), the node script (`tools/`), locks (`locks/`). */
  readonly assets: string;
  /** Frame outputs (`<job>/<frame>/...`) and frame logs (`logs/<job>/<frame>/...`). */
  readonly outputs: string;
}

/**
 * The containers for a base name (the service's `storage.container`, the CLI's
 * `--container`): assets in the base container itself, outputs in `<base>-outputs`.
 * A name that is not a valid container name (or whose outputs container would not be)
 * is refused, naming `field`.
 */
export function storageLayout(base: string = DEFAULT_CONTAINER, field = 'storage.container'): StorageLayout {
  validContainerName(base, field);
  const outputs = `${base}${OUTPUTS_SUFFIX}`;
  if (outputs.length > 63) {
    throw new ValidationError(
      field,
      base,
      `must be at most ${63 - OUTPUTS_SUFFIX.length} characters: outputs go to "<name>${OUTPUTS_SUFFIX}"`,
    );
  }
  return { assets: base, outputs };
}

/** Suffix of the outputs container. */
export const OUTPUTS_SUFFIX = '-outputs';

/** Checks a container name against Azure's rules (3-63 of `[a-z0-9-]`, no `--`, letter or digit at each end). */
export function validContainerName(name: string, field = 'container'): string {
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(name)) {
    throw new ValidationError(
      field,
      name,
      'must be 3-63 characters of a-z, 0-9 and single hyphens, starting and ending with a letter or digit',
    );
  }
  return name;
}

// ---------------------------------------------------------------- blob names (assets container)

/** Blob name prefix of content blobs. */
export const CONTENT_PREFIX = 'content/';
/** Blob name prefix of manifest blobs. */
export const MANIFEST_PREFIX = 'manifests/';
/** Blob name prefix of the node scripts. */
export const TOOLS_PREFIX = 'tools/';
/** Blob name prefix of sync and garbage-collection locks. */
export const LOCKS_PREFIX = 'locks/';

/** The blob name of a content hash. */
export const contentBlobName = (sha256: string): string => `${CONTENT_PREFIX}${sha256}`;
/** The blob name of a manifest id. */
export const manifestBlobName = (id: string): string => `${MANIFEST_PREFIX}${id}.json`;
/** The manifest id of a manifest blob name, or undefined for any other name. */
export function manifestIdOf(blobName: string): string | undefined {
  const m = /^manifests\/([0-9a-f]{64})\.json$/.exec(blobName);
  return m?.[1];
}
/** The content hash of a content blob name, or undefined for any other name. */
export function contentHashOf(blobName: string): string | undefined {
  const m = /^content\/([0-9a-f]{64})$/.exec(blobName);
  return m?.[1];
}

// ---------------------------------------------------------------- blob names (outputs container)

/** Where a frame's outputs live in the outputs container (`outputs.json` included). */
export function outputPrefix(jobId: string, frameId: string): string {
  return `${jobId}/${frameId}/`;
}

/** Where a frame's logs live in the outputs container. */
export function logPrefix(jobId: string, frameId: string): string {
  return `logs/${jobId}/${frameId}/`;
}

// ---------------------------------------------------------------- on a node

/**
 * Node directories, as shell words expanded on the node (`$AZ_BATCH_NODE_SHARED_DIR` is
 * the node's shared directory on its temporary disk, in Batch and in the embedded engine).
 */
export const NODE_DIRS = {
  /** The fetcher script, for every task of every job. */
  script: '$AZ_BATCH_NODE_SHARED_DIR/spillway',
  /** The node cache: `<sha[:2]>/<sha>`, bounded, shared by every job; its bookkeeping in `.spillway/`. */
  cache: '$AZ_BATCH_NODE_SHARED_DIR/spillway-cache',
  /** Laid-out trees, one per manifest: `<manifest id>/...` (hard links into the cache). */
  assets: '$AZ_BATCH_NODE_SHARED_DIR/spillway-assets',
} as const;

/** Where a manifest's tree is laid out on a node (`SPILLWAY_ASSETS_DIR` of a task). */
export function nodeAssetsDir(manifestId: string): string {
  return `${NODE_DIRS.assets}/${manifestId}`;
}
