import * as path from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import type { ContainerClient } from '@azure/storage-blob';
import { ValidationError } from '../../errors';
import type { SyncProgress } from '../../storage';
import { parseDurationText } from '../../storage/gc';
import {
  exits,
  jsonOption,
  oneOf,
  printJson,
  typedOption,
  UsageError,
  wholeNumber,
  withConnection,
} from '../command';
import { connect } from '../connect';
import { bytes, mib } from '../format';
import { progressBar } from '../progress';

/** `spillway assets sync DIR`, `spillway assets gc`. */
export function register(program: Command): void {
  const assets = program
    .command('assets')
    .summary('project assets in Blob Storage: sync a tree (content-addressed), collect garbage')
    .description('project assets in Blob Storage: content-addressed sync, and garbage collection');

  withConnection(
    assets
      .command('gc')
      .summary('delete unused manifests, then content no manifest lists (through the service)')
      .description(
        "collect garbage in the service's asset storage: delete manifests last synced or committed more than DURATION ago that no unfinished job uses, then content that no remaining manifest lists (and that is itself older than DURATION). The service waits for running syncs first; syncs and job submissions that arrive meanwhile wait for it. Prints what was removed (or, with --dry-run, what would be)",
      )
      .addOption(
        typedOption(
          '--older-than <DURATION>',
          'how old an unused blob must be: 0s, 90m, 12h, 30d, 1h30m',
          (v) => parseDurationText(v, '--older-than'),
        ).default(30 * 86_400_000, '30d'),
      )
      .option('--dry-run', 'only report what would be deleted')
      .addHelpText('after', '\nExample:\n  spillway assets gc --older-than 7d --dry-run'),
  ).action(
    exits(async (opts) => {
      const client = connect(opts);
      try {
        const r = await client.assets.collectGarbage({
          olderThanMs: opts.olderThan,
          dryRun: opts.dryRun ?? false,
        });
        if (opts.json) {
          printJson({ ...r, cutoff: r.cutoff.toISOString() });
          return 0;
        }
        const verb = r.dryRun ? 'would delete' : 'deleted';
        console.log(
          `${verb} ${r.manifestsDeleted.length} manifest(s) and ${r.contentDeleted} content blob(s), ${bytes(r.bytesDeleted)}` +
            ` (unused since before ${r.cutoff.toISOString()}); kept ${r.manifestsKept} manifest(s), ${r.contentKept} content blob(s)` +
            (r.manifestsPinned.length > 0
              ? `; ${r.manifestsPinned.length} old manifest(s) kept for unfinished jobs`
              : ''),
        );
        if (r.contentSkipped) console.log(`no content deleted: ${r.contentSkipped}`);
        return 0;
      } finally {
        client.close();
      }
    }),
  );

  assets
    .command('sync')
    .summary('sync a project tree into Blob Storage (content-addressed)')
    .description(
      'sync a project tree into Blob Storage, content-addressed: every distinct file content is stored once as content/<sha256>, plus one manifest blob per sync (manifests/<id>.json). Only content the container lacks is uploaded; hashes are cached by (path, size, mtime, inode) so an unchanged tree is not re-read. Ends with files and bytes uploaded and skipped; with --json the last line is a JSON object',
    )
    .argument('<DIR>', 'the project tree')
    .option(
      '--scene <FILE.blend>',
      'sync only this Blender scene and the files it references (Blender lists them, run in the background); every one must be inside DIR; missing ones are reported',
    )
    .option('--blender <PATH>', 'the Blender to ask (default: blender on the PATH)')
    .option(
      '--container <NAME|URL>',
      'container name (default: spillway, the one the service reads), or URL with SAS',
    )
    .option(
      '--connection-string-file <FILE>',
      'file holding a storage connection string (default: $SPILLWAY_STORAGE_CONNECTION_STRING, else an Azurite started for this run)',
    )
    .option('--verify', 're-hash every file, ignoring the hash cache')
    .addOption(
      typedOption(
        '--existence-check <HOW>',
        'how to find content already there: auto, list or head',
        oneOf(['auto', 'list', 'head'] as const),
      ).default('auto' as const),
    )
    .addOption(
      typedOption('--concurrency <N>', 'content blobs uploaded at once', wholeNumber({ min: 1 })).default(16),
    )
    .option(
      '--data-dir <DIR>',
      'Spillway data directory: hash cache, embedded Azurite (default: $SPILLWAY_DATA_DIR or ~/.spillway)',
    )
    .option(...jsonOption)
    .addHelpText('after', '\nExample:\n  spillway assets sync ./shot010 --scene ./shot010/shot.blend --json')
    .action(
      exits(async (dir, opts) => {
        const storage = require('../../storage') as typeof import('../../storage');
        // A scene: it and what it references, each inside DIR.
        let selection: { files: string[]; missing: string[] } | undefined;
        if (opts.scene !== undefined) {
          const root = path.resolve(dir);
          const scene = path.resolve(opts.scene);
          const [sceneRel] = storage.pathsBelow(root, [scene]).inside;
          if (!sceneRel)
            throw new UsageError(`--scene ${JSON.stringify(opts.scene)}: must be inside ${dir}`, '--scene');
          const deps = await storage.blendDependencies(scene, opts.blender ? { blender: opts.blender } : {});
          const { inside, outside } = storage.pathsBelow(root, deps.files);
          if (outside.length > 0) {
            throw new ValidationError(
              '--scene',
              opts.scene,
              `references files outside ${dir}: ${outside.join(', ')}; sync a directory that holds them all`,
            );
          }
          selection = { files: [sceneRel, ...inside], missing: deps.missing };
          if (!opts.json) {
            process.stderr.write(
              `scene ${opts.scene}: ${deps.files.length} referenced file(s) to sync` +
                (deps.missing.length > 0 ? `; missing, not synced: ${deps.missing.join(', ')}` : '') +
                '\n',
            );
          }
        }
        const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : storage.defaultDataDir();
        const containerArg = opts.container ?? storage.DEFAULT_ASSET_CONTAINER;
        const isUrl = /^https?:\/\//i.test(containerArg);
        const configured =
          opts.connectionStringFile !== undefined || !!process.env[storage.STORAGE_CONNECTION_STRING_ENV];

        const abort = new AbortController();
        const onSignal = (): void => abort.abort(new Error('interrupted'));
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let bar: ReturnType<typeof progressBar> | undefined;
        let phase: SyncProgress['phase'] | undefined;
        // A container URL (with its SAS) needs no account; otherwise open the configured one,
        // or start Azurite for this run.
        const open =
          isUrl && !configured
            ? undefined
            : await storage.openStorage({
                connectionStringFile: opts.connectionStringFile,
                azurite: { dataDir: path.join(dataDir, 'azurite') },
                abortSignal: abort.signal,
              });
        try {
          const container = isUrl
            ? (open?.container(containerArg) ?? sdkContainerFromUrl(containerArg))
            : open!.container(containerArg);
          if (!opts.json) {
            const where =
              open?.source === 'embedded Azurite'
                ? ` (embedded Azurite, data in ${open.azurite?.dataDir})`
                : '';
            process.stderr.write(`syncing ${dir} into ${storage.withoutQuery(container.url)}${where}\n`);
          }
          const onProgress = (p: SyncProgress): void => {
            if (p.phase !== phase) {
              bar?.stop();
              phase = p.phase;
              bar =
                p.phase === 'done'
                  ? undefined
                  : progressBar({
                      disabled: opts.json,
                      total: p.bytesTotal,
                      format: '{phase} [{bar}] {files} files {done}{of} {rate}/s{etaText}',
                      payload: barPayload(p),
                    });
            }
            bar?.setTotal(p.bytesTotal);
            bar?.update(p.bytesDone, barPayload(p));
          };
          const result = await storage.syncAssets(dir, {
            containerClient: container,
            createContainer: !isUrl,
            verify: opts.verify ?? false,
            existenceCheck: opts.existenceCheck,
            uploadConcurrency: opts.concurrency,
            abortSignal: abort.signal,
            ...(selection ? { files: selection.files } : {}),
            onProgress,
            ...(opts.dataDir ? { hashCacheFile: hashCachePath(dataDir, dir, storage) } : {}),
          });
          bar?.stop();
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
          if (opts.json) printJson(summary);
          else {
            console.log(
              `uploaded ${result.filesUploaded} files (${mib(result.bytesUploaded)}), ` +
                `skipped ${result.filesSkipped} files (${mib(result.bytesSkipped)}) in ${(result.durationMs / 1000).toFixed(1)} s\n` +
                `manifest ${result.manifestId} (${result.manifestBlobName})`,
            );
          }
          return 0;
        } finally {
          bar?.stop();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await open?.close();
        }
      }),
    );
}

/** The tokens of the sync progress bar. */
function barPayload(p: SyncProgress): Record<string, string> {
  return {
    phase: p.phase,
    files: p.filesTotal > 0 ? `${p.filesDone}/${p.filesTotal}` : `${p.filesDone}`,
    done: mib(p.bytesDone),
    of: p.bytesTotal > 0 ? `/${mib(p.bytesTotal)}` : '',
    rate: mib(p.bytesPerSecond),
    etaText: p.etaMs === undefined ? '' : ` ETA ${Math.ceil(p.etaMs / 1000)} s`,
  };
}

function sdkContainerFromUrl(url: string): ContainerClient {
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
