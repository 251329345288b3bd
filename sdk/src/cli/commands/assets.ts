import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { SyncProgress } from '../../storage';
import type { Command } from '../command';
import { subcommandOperand, UsageError, wholeNumberFlag } from '../command';
import { ValidationError } from '../../errors';

const help = `Usage: spillway assets sync DIR [--scene FILE.blend] [options]

Syncs a project tree into Blob Storage, content-addressed: every distinct file content is
stored once as content/<sha256>, plus one manifest blob per sync (manifests/<id>.json).
Only content the container lacks is uploaded; hashes are cached by (path, size, mtime,
inode) so an unchanged tree is not re-read. Ends with files and bytes uploaded and
skipped; with --json the last line is a JSON object.

Storage: --connection-string-file, else env SPILLWAY_STORAGE_CONNECTION_STRING, else a
container URL with a SAS in --container, else an Azurite started for this run (data under
$SPILLWAY_DATA_DIR/azurite, default ~/.spillway/azurite) and stopped at exit.

  --scene FILE.blend              sync only this Blender scene and the files it references
                                  (Blender lists them, run in the background); every one
                                  must be inside DIR; missing ones are reported
  --blender PATH                  the Blender to ask (default: blender on the PATH)
  --container NAME|URL            container name (default spillway: the one the service reads),
                                  or URL with SAS
  --connection-string-file FILE   file holding a storage connection string
  --verify                        re-hash every file, ignoring the hash cache
  --existence-check auto|list|head  how to find content already there (default auto)
  --concurrency N                 content blobs uploaded at once (default 16)
  --data-dir DIR                  Spillway data directory (hash cache, embedded Azurite)
  --json                          machine-readable output (last line is the summary)

Example: spillway assets sync ./shot010 --json`;

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

export const assetsCommand: Command = {
  name: 'assets',
  summary: 'sync a project tree into Blob Storage (content-addressed)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        container: { type: 'string' },
        'connection-string-file': { type: 'string' },
        verify: { type: 'boolean' },
        'existence-check': { type: 'string' },
        concurrency: { type: 'string' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean' },
        scene: { type: 'string' },
        blender: { type: 'string' },
      },
    });
    const dir = subcommandOperand(positionals, 'sync', 'sync needs a directory: spillway assets sync DIR');
    const check = values['existence-check'] ?? 'auto';
    if (check !== 'auto' && check !== 'list' && check !== 'head') {
      throw new UsageError(`--existence-check: must be auto, list or head (got ${JSON.stringify(check)})`);
    }
    const concurrency = wholeNumberFlag('--concurrency', values.concurrency, { min: 1, fallback: 16 });
    const storage = require('../../storage') as typeof import('../../storage');
    // A scene: it and what it references, each inside DIR.
    let selection: { files: string[]; missing: string[] } | undefined;
    if (values.scene !== undefined) {
      const root = path.resolve(dir);
      const scene = path.resolve(values.scene);
      const [sceneRel] = storage.pathsBelow(root, [scene]).inside;
      if (!sceneRel) throw new UsageError(`--scene ${JSON.stringify(values.scene)}: must be inside ${dir}`);
      const deps = await storage.blendDependencies(scene, values.blender ? { blender: values.blender } : {});
      const { inside, outside } = storage.pathsBelow(root, deps.files);
      if (outside.length > 0) {
        throw new ValidationError(
          '--scene',
          values.scene,
          `references files outside ${dir}: ${outside.join(', ')}; sync a directory that holds them all`,
        );
      }
      selection = { files: [sceneRel, ...inside], missing: deps.missing };
      if (!values.json) {
        process.stderr.write(
          `scene ${values.scene}: ${deps.files.length} referenced file(s) to sync` +
            (deps.missing.length > 0 ? `; missing, not synced: ${deps.missing.join(', ')}` : '') +
            '\n',
        );
      }
    }
    const dataDir = values['data-dir'] ? path.resolve(values['data-dir']) : storage.defaultDataDir();
    const containerArg = values.container ?? storage.DEFAULT_ASSET_CONTAINER;
    const isUrl = /^https?:\/\//i.test(containerArg);
    const configured =
      values['connection-string-file'] !== undefined || !!process.env[storage.STORAGE_CONNECTION_STRING_ENV];

    const abort = new AbortController();
    const onSignal = (): void => abort.abort(new Error('interrupted'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // A container URL (with its SAS) needs no account; otherwise open the configured one,
    // or start Azurite for this run.
    const open =
      isUrl && !configured
        ? undefined
        : await storage.openStorage({
            connectionStringFile: values['connection-string-file'],
            azurite: { dataDir: path.join(dataDir, 'azurite') },
            abortSignal: abort.signal,
          });
    const tty = !values.json && process.stderr.isTTY === true;
    try {
      const container = isUrl
        ? (open?.container(containerArg) ?? sdkContainerFromUrl(containerArg))
        : open!.container(containerArg);
      if (!values.json) {
        const where =
          open?.source === 'embedded Azurite' ? ` (embedded Azurite, data in ${open.azurite?.dataDir})` : '';
        process.stderr.write(`syncing ${dir} into ${storage.withoutQuery(container.url)}${where}\n`);
      }
      const result = await storage.syncAssets(dir, {
        containerClient: container,
        createContainer: !isUrl,
        verify: values.verify ?? false,
        existenceCheck: check,
        uploadConcurrency: concurrency,
        abortSignal: abort.signal,
        ...(selection ? { files: selection.files } : {}),
        onProgress: tty ? (p) => process.stderr.write(`\r${progressLine(p)}\x1b[K`) : undefined,
        ...(values['data-dir'] ? { hashCacheFile: hashCachePath(dataDir, dir, storage) } : {}),
      });
      if (tty) process.stderr.write('\n');
      const summary = {
        manifestId: result.manifestId,
        manifestBlob: result.manifestBlobName,
        container: storage.withoutQuery(container.url),
        files: result.built.manifest.files.length,
        filesUploaded: result.filesUploaded,
        bytesUploaded: result.bytesUploaded,
        filesSkipped: result.filesSkipped,
        bytesSkipped: result.bytesSkipped,
        filesHashed: result.built.filesHashed,
        existenceCheck: result.existenceCheck,
        durationMs: result.durationMs,
        ...(selection ? { missing: selection.missing } : {}),
      };
      if (values.json) console.log(JSON.stringify(summary));
      else {
        console.log(
          `uploaded ${result.filesUploaded} files (${mib(result.bytesUploaded)}), ` +
            `skipped ${result.filesSkipped} files (${mib(result.bytesSkipped)}) in ${(result.durationMs / 1000).toFixed(1)} s\n` +
            `manifest ${result.manifestId} (${result.manifestBlobName})`,
        );
      }
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await open?.close();
    }
  },
};

function sdkContainerFromUrl(url: string): import('@azure/storage-blob').ContainerClient {
  const sdk = require('@azure/storage-blob') as typeof import('@azure/storage-blob');
  const storage = require('../../storage') as typeof import('../../storage');
  return new sdk.ContainerClient(
    url,
    sdk.newPipeline(new sdk.AnonymousCredential(), storage.pipelineOptions()),
  );
}

function hashCachePath(dataDir: string, dir: string, storage: typeof import('../../storage')): string {
  const fs = require('node:fs') as typeof import('node:fs');
  let real = path.resolve(dir);
  try {
    real = fs.realpathSync(real);
  } catch {
    // buildManifest reports a missing root with a proper error
  }
  return path.join(dataDir, 'hash-cache', `${storage.sha256Hex(real).slice(0, 32)}.json`);
}

/** One progress line: phase, files, bytes, rate, ETA. */
export function progressLine(p: SyncProgress): string {
  const eta = p.etaMs === undefined ? '' : ` ETA ${Math.ceil(p.etaMs / 1000)} s`;
  const of = p.bytesTotal > 0 ? `/${mib(p.bytesTotal)}` : '';
  const files = p.filesTotal > 0 ? `${p.filesDone}/${p.filesTotal}` : `${p.filesDone}`;
  return `${p.phase} ${files} files ${mib(p.bytesDone)}${of} ${mib(p.bytesPerSecond)}/s${eta}`;
}
