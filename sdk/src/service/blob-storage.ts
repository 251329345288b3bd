import * as path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import type { ServiceConfig } from '../config';
import { readSecretFile } from '../config';
import type { Logger } from '../logging';
import { issueSas, openStorage, storageLayout, uploadNodeScript, type OpenStorage } from '../storage';
import { blobOutputResolver } from './frames/outputs';
import type { TaskLocations } from './frames/task-factory';
import type { ServiceStorage } from './runtime';

/** SAS lifetimes: tasks may wait in a queue for hours before they run. */
const TASK_SAS_MS = 12 * 3600_000;

/** Blob Storage as the service uses it: the containers, and SAS URLs for tasks. */
export interface BlobServiceStorage extends ServiceStorage {
  readonly storage: OpenStorage;
  readonly containers: { readonly assets: ContainerClient; readonly outputs: ContainerClient };
}

/**
 * Blob Storage as the service uses it (a storage account, or Azurite started embedded):
 * - the assets container holds content (`content/<sha256>`), manifests and the node script;
 *   tasks get a read SAS for it;
 * - the outputs container receives each frame's `out/` directory and log (see
 *   `frames/task-factory.ts` for the layout) through a create/write-only SAS;
 * - SAS are renewed at half their life, so a URL handed to a queued task stays good for
 *   hours.
 * It builds no tasks and no handlers: the task factory and the AssetService use what it
 * hands out.
 */
export async function blobStorage(config: ServiceConfig, logger: Logger): Promise<BlobServiceStorage> {
  // One Azurite per data directory (its owner lock): the CLI run beside the service joins
  // it. It keeps its port across restarts, so SAS URLs handed to tasks before a restart stay good.
  const storage = await openStorage({
    ...(config.storage.connectionStringFile
      ? {
          connectionString: readSecretFile(
            config.storage.connectionStringFile,
            'storage.connectionStringFile',
          ),
        }
      : {}),
    embedded: true,
    azurite: { dataDir: path.join(config.dataDir, 'azurite') },
    env: {},
  });
  logger.info('storage', {
    source: storage.source,
    ...(storage.azurite ? { azurite: storage.azurite.owned ? 'started' : 'joined' } : {}),
  });
  const layout = storageLayout(config.storage.container);
  const assets = storage.container(layout.assets);
  const outputs = storage.container(layout.outputs);
  await assets.createIfNotExists();
  await outputs.createIfNotExists();
  const scriptBlob = await uploadNodeScript(assets);

  let current: { locations: TaskLocations; at: number } | undefined;
  return {
    storage,
    containers: { assets, outputs },
    async taskLocations() {
      if (!current || Date.now() - current.at > TASK_SAS_MS / 2) {
        const expiresInMs = TASK_SAS_MS;
        current = {
          locations: {
            outputsUrl: (await issueSas(outputs, { access: 'write', expiresInMs })).url,
            assetsUrl: (await issueSas(assets, { access: 'read', expiresInMs })).url,
            nodeScriptUrl: (await issueSas(assets, { access: 'read', blobName: scriptBlob, expiresInMs }))
              .url,
          },
          at: Date.now(),
        };
      }
      return current.locations;
    },
    outputs: blobOutputResolver(outputs, storage.azurite ? () => storage.azurite!.flush() : undefined),
    close: () => storage.close(),
  };
}
