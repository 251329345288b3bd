import type { ContainerClient } from '@azure/storage-blob';
import { FailedPreconditionError } from '../../errors';
import type { OutputFile } from '../../model/frames';
import { blobSize, forEachLimited, OUTPUTS_FILE, parseManifest } from '../../storage';
import type { OutputResolver } from './dispatcher';
import { OUT_DIR, outputPrefix } from './task-factory';

/**
 * A succeeded frame's outputs, from the outputs container its task uploaded to (the layout of
 * `task-factory.ts`): the manifest the node hashed (`out/outputs.json`), and every output it
 * lists present with its size, and (with `durable`) made durable in storage. A frame counts
 * as succeeded only then.
 */
export function blobOutputResolver(
  outputs: ContainerClient,
  /**
   * Makes what storage acknowledged survive a kill of storage itself (the embedded Azurite
   * keeps which blobs exist in memory for a few seconds; see `storage/durability`).
   * @default nothing to do (a storage account is durable on acknowledgement)
   */
  durable?: () => Promise<void>,
): OutputResolver {
  return {
    async outputsOf(jobId, frameId, opts = {}) {
      const prefix = outputPrefix(jobId, frameId);
      // The node's copy when the backend serves task files (no storage round trip), else the
      // uploaded one. Either way every output it lists is checked in the container below.
      const onNode = await opts.readTaskFile?.(`wd/${OUT_DIR}/${OUTPUTS_FILE}`).catch(() => undefined);
      let text: string;
      if (onNode) {
        text = onNode.toString('utf8');
      } else {
        try {
          const buffer = await outputs
            .getBlobClient(`${prefix}${OUTPUTS_FILE}`)
            .downloadToBuffer(undefined, undefined, {
              abortSignal: opts.abortSignal,
            });
          text = buffer.toString('utf8');
        } catch (e) {
          throw new FailedPreconditionError(
            `${OUTPUTS_FILE} of frame ${frameId} is not in the outputs container (${(e as { code?: string }).code ?? 'error'})`,
          );
        }
      }
      const manifest = parseManifest(text, OUTPUTS_FILE);
      // Each listed output by name, not a listing of the prefix: a lookup by name stays cheap
      // however many blobs the container holds (Azurite scans the container to list a prefix).
      const files: OutputFile[] = manifest.files.map((f) => ({
        path: f.path,
        sizeBytes: f.sizeBytes,
        sha256: f.sha256,
      }));
      // Written to a share: nothing was uploaded; the bridge checks them where they are.
      if (opts.onShare) return files;
      await forEachLimited(
        files,
        8,
        async (f) => {
          const size = await blobSize(outputs.getBlobClient(prefix + f.path), opts.abortSignal);
          if (size !== f.sizeBytes) {
            throw new FailedPreconditionError(
              `output ${f.path} of frame ${frameId} is missing or has the wrong size (${size ?? 'missing'} != ${f.sizeBytes})`,
            );
          }
        },
        opts.abortSignal,
      );
      // So a SIGKILL of everything cannot take outputs of a frame reported done.
      if (files.length > 0) await durable?.();
      return files;
    },
  };
}
