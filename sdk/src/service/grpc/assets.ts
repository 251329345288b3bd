import type { ServerReadableStream, ServerWritableStream } from '@grpc/grpc-js';
import { FailedPreconditionError, ValidationError } from '../../errors';
import * as w from '../../gen/spillway/v1/assets';
import type { ManifestEntry as WireManifestEntry } from '../../gen/spillway/v1/common';
import { durationFromWire, durationToWire } from '../../model/wire-mapping';
import { normaliseRelativePath, type ManifestEntry } from '../../storage';
import type { AssetLifecycle } from '../assets/lifecycle';
import { MAX_CONTENT_BYTES, type AssetStore } from '../assets/store';
import { abortOf, clientStream, drained, serverStream, unary, type HandlerContext } from './handlers';

/** Limits of the AssetService. */
export interface AssetServiceLimits {
  /** Entries of one manifest (PlanAssetSync, CommitManifest). @default 100000 */
  readonly maxEntries?: number;
}

/** What the AssetService handlers call. */
export interface AssetServiceDeps {
  /** Content, manifests and frame outputs in Blob Storage. */
  readonly assets: AssetStore;
  /** Garbage collection and fetch marks; without it CollectGarbage answers FAILED_PRECONDITION. */
  readonly lifecycle?: AssetLifecycle;
  readonly limits?: AssetServiceLimits;
}

const SHA256 = /^[0-9a-f]{64}$/;
const MAX_NAME_LENGTH = 1024;

/** The AssetService handlers: validate, call the asset store, map errors. Nothing else. */
export function assetServiceHandlers(ctx: HandlerContext, deps: AssetServiceDeps): w.AssetServiceServer {
  const { assets } = deps;
  const maxEntries = deps.limits?.maxEntries ?? 100_000;

  return {
    planAssetSync: unary(ctx, async (req: w.PlanAssetSyncRequest, call) => {
      const entries = entriesFromWire(req.entries, maxEntries);
      const plan = await assets.plan(entries, {
        wantUploadUrl: req.wantUploadUrl,
        abortSignal: abortOf(call),
      });
      ctx.logger.debug('asset sync planned', {
        files: entries.length,
        missing: plan.missingSha256.length,
        missingBytes: plan.missingBytes,
        uploadUrl: plan.upload ? 'issued' : 'not asked',
      });
      return {
        missingSha256: [...plan.missingSha256],
        missingBytes: plan.missingBytes,
        presentBytes: plan.presentBytes,
        uploadUrl: plan.upload?.url ?? '',
        uploadUrlExpiresAt: plan.upload?.expiresOn,
      };
    }),

    uploadContent: clientStream(
      ctx,
      async (call: ServerReadableStream<w.UploadContentRequest, w.UploadContentResponse>) => {
        const signal = abortOf(call);
        const messages = call[Symbol.asyncIterator]() as AsyncIterator<w.UploadContentRequest>;
        const first = await messages.next();
        const payload = first.done ? undefined : first.value.payload;
        if (payload?.$case !== 'header') {
          throw new ValidationError(
            'header',
            payload?.$case ?? null,
            'must be the first message of the stream',
          );
        }
        const header = headerFromWire(payload.value);
        async function* chunks(): AsyncGenerator<Uint8Array> {
          for (let n = 1; ; n++) {
            const next = await messages.next();
            if (next.done) return;
            const p = next.value.payload;
            if (p?.$case !== 'chunk') {
              throw new ValidationError(
                `messages[${n}]`,
                p?.$case ?? null,
                'must be a chunk: the header comes once',
              );
            }
            yield p.value;
          }
        }
        const stored = await assets.upload(header, chunks(), signal);
        ctx.logger.debug('content uploaded', { ...stored });
        return { ...stored };
      },
    ),

    commitManifest: unary(ctx, async (req: w.CommitManifestRequest, call) => {
      const entries = entriesFromWire(req.entries, maxEntries);
      // eslint-disable-next-line no-control-regex
      if (req.name.length > MAX_NAME_LENGTH || /[\u0000-\u001f]/.test(req.name)) {
        throw new ValidationError(
          'name',
          req.name,
          `must be at most ${MAX_NAME_LENGTH} characters, no control characters`,
        );
      }
      const committed = await assets.commit(entries, req.name, abortOf(call));
      ctx.logger.info('manifest committed', { ...committed, name: req.name });
      return committed;
    }),

    getManifest: unary(ctx, async (req: w.GetManifestRequest, call) => {
      if (!SHA256.test(req.manifestId)) {
        throw new ValidationError('manifest_id', req.manifestId, 'must be 64 lower-case hex digits');
      }
      const m = await assets.get(req.manifestId, abortOf(call));
      return {
        manifestId: m.manifestId,
        name: m.name,
        entries: m.entries.map((e) => ({
          path: e.path,
          sizeBytes: e.sizeBytes,
          sha256: e.sha256,
          executable: false,
        })),
      };
    }),

    fetchOutput: serverStream(
      ctx,
      async (call: ServerWritableStream<w.FetchOutputRequest, w.FetchOutputResponse>) => {
        const req = call.request;
        if (!req.frameId) throw new ValidationError('frame_id', req.frameId, 'is required');
        if (!req.path) throw new ValidationError('path', req.path, 'is required');
        if (!Number.isSafeInteger(req.offset) || req.offset < 0) {
          throw new ValidationError('offset', req.offset, 'must be a non-negative integer');
        }
        const signal = abortOf(call);
        const output = await assets.openOutput(req.frameId, req.path, req.offset, signal);
        if (!call.write({ payload: { $case: 'header', value: output.file } })) await drained(call);
        for await (const chunk of output.chunks) {
          if (call.cancelled) return;
          if (!call.write({ payload: { $case: 'chunk', value: chunk } })) await drained(call);
        }
        // Streamed to its end: the output may expire (storage.outputsExpireAfterMs) from now.
        if (!call.cancelled && deps.lifecycle && output.blobName) {
          await deps.lifecycle.markFetched(output.blobName).catch((e: unknown) =>
            ctx.logger.warn('could not mark an output fetched', {
              frameId: req.frameId,
              error: (e as Error).message,
            }),
          );
        }
      },
    ),

    collectGarbage: unary(ctx, async (req: w.CollectGarbageRequest, call) => {
      if (!deps.lifecycle) {
        throw new FailedPreconditionError(
          'this service does not manage its asset storage; nothing to collect',
        );
      }
      const d = req.olderThan;
      if (d && (d.seconds < 0 || d.nanos < 0 || !Number.isSafeInteger(d.seconds))) {
        throw new ValidationError('older_than', `${d.seconds}s`, 'must be a duration of 0 or more');
      }
      const olderThanMs = d ? Math.round(durationFromWire(d)) : 0;
      const r = await deps.lifecycle.collectGarbage({
        olderThanMs,
        dryRun: req.dryRun,
        abortSignal: abortOf(call),
      });
      ctx.logger.info(r.dryRun ? 'garbage collection (dry run)' : 'garbage collection', {
        olderThanMs,
        manifestsDeleted: r.manifestsDeleted.length,
        manifestsPinned: r.manifestsPinned.length,
        contentDeleted: r.contentDeleted,
        bytesDeleted: r.bytesDeleted,
      });
      return {
        dryRun: r.dryRun,
        cutoff: r.cutoff,
        manifestsDeleted: [...r.manifestsDeleted],
        manifestsKept: r.manifestsKept,
        manifestsPinned: [...r.manifestsPinned],
        contentDeleted: r.contentDeleted,
        contentKept: r.contentKept,
        bytesDeleted: r.bytesDeleted,
        contentSkipped: r.contentSkipped ?? '',
        duration: durationToWire(r.durationMs),
      };
    }),
  };
}

/** Validated manifest entries: relative normalised paths, unique; hashes; sizes consistent per hash. */
export function entriesFromWire(entries: readonly WireManifestEntry[], maxEntries: number): ManifestEntry[] {
  if (entries.length > maxEntries) {
    throw new ValidationError('entries', `${entries.length} entries`, `must have at most ${maxEntries}`);
  }
  const paths = new Map<string, number>();
  const sizes = new Map<string, { sizeBytes: number; index: number }>();
  return entries.map((e, i) => {
    const field = `entries[${i}]`;
    const p = normaliseRelativePath(e.path, `${field}.path`);
    const twin = paths.get(p);
    if (twin !== undefined)
      throw new ValidationError(`${field}.path`, e.path, `appears twice (also entries[${twin}])`);
    paths.set(p, i);
    if (!SHA256.test(e.sha256)) {
      throw new ValidationError(
        `${field}.sha256`,
        e.sha256,
        'must be 64 lower-case hex digits (the SHA-256 of the content)',
      );
    }
    if (!Number.isSafeInteger(e.sizeBytes) || e.sizeBytes < 0) {
      throw new ValidationError(`${field}.size_bytes`, e.sizeBytes, 'must be a non-negative integer');
    }
    const same = sizes.get(e.sha256);
    if (same && same.sizeBytes !== e.sizeBytes) {
      throw new ValidationError(
        `${field}.size_bytes`,
        e.sizeBytes,
        `differs from entries[${same.index}], which has the same sha256 and ${same.sizeBytes} bytes`,
      );
    }
    if (!same) sizes.set(e.sha256, { sizeBytes: e.sizeBytes, index: i });
    if (e.executable) {
      // Stored manifests (and the node fetcher) carry path, size and hash only.
      throw new ValidationError(
        `${field}.executable`,
        e.executable,
        'is not supported yet: manifests store path, size and hash only; make the file executable in the task command',
      );
    }
    return { path: p, sizeBytes: e.sizeBytes, sha256: e.sha256 };
  });
}

function headerFromWire(h: w.ContentHeader): { sha256: string; sizeBytes: number } {
  if (!SHA256.test(h.sha256)) {
    throw new ValidationError(
      'header.sha256',
      h.sha256,
      'must be 64 lower-case hex digits (the SHA-256 of the content)',
    );
  }
  if (!Number.isSafeInteger(h.sizeBytes) || h.sizeBytes < 0 || h.sizeBytes > MAX_CONTENT_BYTES) {
    throw new ValidationError(
      'header.size_bytes',
      h.sizeBytes,
      `must be an integer from 0 to ${MAX_CONTENT_BYTES}; sync larger files with spillway assets sync`,
    );
  }
  return { sha256: h.sha256, sizeBytes: h.sizeBytes };
}
