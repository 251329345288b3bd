import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import type { ServiceConfig } from '../config';
import { readSecretFile } from '../config';
import type { Logger } from '../logging';
import { sleep } from '../retry';
import { issueSas, openStorage, uploadNodeScript, type OpenStorage } from '../storage';
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
  // The embedded Azurite keeps its port across restarts: SAS URLs handed to tasks before a
  // restart stay good. Waiting for the port also waits for a killed service's Azurite to go.
  const azuriteDir = path.join(config.dataDir, 'azurite');
  const portFile = path.join(azuriteDir, 'port');
  const port = config.storage.connectionStringFile ? 0 : await previousPort(portFile, logger);
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
    azurite: { dataDir: azuriteDir, port },
    env: {},
  });
  if (storage.azurite) fs.writeFileSync(portFile, new URL(storage.azurite.blobEndpoint).port);
  logger.info('storage', { source: storage.source });
  const assets = storage.container(config.storage.container);
  const outputs = storage.container(`${config.storage.container}-outputs`);
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
    outputs: blobOutputResolver(outputs),
    close: () => storage.close(),
  };
}

/** The port the embedded Azurite had last time, once it is free again (0 if none or still taken after 10 s). */
async function previousPort(file: string, logger: Logger): Promise<number> {
  let port: number;
  try {
    port = Number(fs.readFileSync(file, 'utf8'));
  } catch {
    return 0;
  }
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return 0;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
    if (Date.now() > deadline) {
      logger.warn('the embedded Azurite port is still taken; using another', { port });
      return 0;
    }
    await sleep(200);
  }
}
