/**
 * The service's composition root: it loads the feature modules of `modules.ts` into one
 * inversify container, brings capacity groups and unfinished frames back, starts the
 * server, and closes everything in order. Every executable that runs a service calls
 * `startService` once; nothing else touches the container.
 */
import * as fs from 'node:fs';
import { Container } from 'inversify';
import type { RegisteredBackend } from '../compute/registry';
import { BackendRegistry } from '../compute/registry';
import type { ServiceConfig } from '../config';
import { readSecretFile } from '../config';
import { CapacityGroupSpec } from '../gen/spillway/v1/capacity';
import { BurstMode } from '../gen/spillway/v1/common';
import type { Logger } from '../logging';
import type { Planner } from './burst/planner';
import type { FrameStore } from './frames/store';
import { checkListenSecurity, type RunningServer, type ServerTls } from './grpc/server';
import {
  assetsModule,
  capacityModule,
  framesModule,
  outsideWorldModule,
  serverModule,
  TYPES,
  type ServiceStorage,
  type Token,
} from './modules';

export { TYPES, type ServiceStorage } from './modules';

/** Builds the parts that touch the outside world, from configuration. */
export interface RuntimeProviders {
  /**
   * The backends capacity groups live on, each under its own name: any number of each kind.
   * The first one for a burst mode is where that mode's groups go unless their spec names
   * a backend kind; the first frame-offload one carries the default group.
   */
  backends(config: ServiceConfig, logger: Logger): Promise<readonly RegisteredBackend[]>;
  /** Blob storage (Azurite when none is configured). */
  storage(config: ServiceConfig, logger: Logger): Promise<ServiceStorage>;
  /** @default the interim simple rule */
  readonly planner?: Planner;
}

/** A running service. */
export interface RunningService {
  readonly address: string;
  readonly port: number;
  readonly server: RunningServer;
  readonly store: FrameStore;
  /** Stops serving, stops dispatching, closes backends and storage. State stays on disk. */
  close(): Promise<void>;
}

/** The embedded default's capacity group: the local engine's nodes, always on. */
function defaultGroupSpec(config: ServiceConfig): CapacityGroupSpec {
  return CapacityGroupSpec.fromPartial({
    name: config.compute.defaultGroup,
    mode: BurstMode.BURST_MODE_FRAME_OFFLOAD,
    vmSize: config.compute.backend === 'local' ? 'local' : 'Standard_D4as_v5',
    taskSlotsPerNode: config.compute.local.slotsPerNode,
    maxDedicatedNodes: Math.max(1, config.compute.local.nodes),
    maxSpotNodes: Math.max(1, config.compute.local.nodes),
    // Batch needs an image; the local engine ignores it.
    image: {
      publisher: 'canonical',
      offer: '0001-com-ubuntu-server-jammy',
      sku: '22_04-lts',
      version: 'latest',
      nodeAgentSkuId: 'batch.node.ubuntu 22.04',
    },
  });
}

/**
 * Starts the service. Every executable that runs a service calls this once.
 */
export async function startService(
  config: ServiceConfig,
  providers: RuntimeProviders,
  logger: Logger,
): Promise<RunningService> {
  const token = config.tokenFile ? readSecretFile(config.tokenFile, 'tokenFile') : undefined;
  const tls: ServerTls | undefined = config.tls
    ? {
        certChain: fs.readFileSync(config.tls.certFile),
        privateKey: fs.readFileSync(config.tls.keyFile),
        ...(config.tls.clientCaFile ? { clientCa: fs.readFileSync(config.tls.clientCaFile) } : {}),
      }
    : undefined;
  const listen = { listen: config.listen, ...(tls ? { tls } : {}), ...(token ? { token } : {}) };
  // Refuse an insecure listener before anything is started.
  checkListenSecurity(listen);

  const container = new Container();
  await container.load(
    outsideWorldModule({
      config,
      logger,
      listen,
      ...(providers.planner ? { planner: providers.planner } : {}),
      backends: async () => new BackendRegistry(await providers.backends(config, logger)),
      storage: () => providers.storage(config, logger),
    }),
    framesModule,
    capacityModule,
    serverModule,
  );
  const get = <T>(service: Token<T>): Promise<T> => container.getAsync<T>(service);
  // The AssetService is there when storage can serve it.
  const storage = await get(TYPES.ServiceStorage);
  if (storage.containers) await container.load(assetsModule);

  const registry = await get(TYPES.BackendRegistry);
  const store = await get(TYPES.FrameStore);
  const capacity = await get(TYPES.CapacityManager);
  logger.debug('restoring capacity groups');
  await capacity.reconcileAll();
  if (!capacity.specOf(config.compute.defaultGroup)) {
    await capacity.ensure(defaultGroupSpec(config));
  }
  if (config.compute.local.nodes > 0) {
    await capacity.resize(config.compute.defaultGroup, { dedicated: config.compute.local.nodes, spot: 0 });
  }
  const dispatcher = await get(TYPES.FrameDispatcher);
  logger.debug('reconciling unfinished frames with the backend', { frames: store.unfinishedFrames().length });
  await dispatcher.start();
  logger.debug('frames reconciled');
  const burst = await get(TYPES.BurstManager);
  const server = await get(TYPES.RunningServer);

  let closed = false;
  return {
    address: server.address,
    port: server.port,
    server,
    store,
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      await dispatcher.stop();
      await burst.close();
      capacity.close();
      await registry.close();
      await storage.close();
      await store.close();
    },
  };
}
