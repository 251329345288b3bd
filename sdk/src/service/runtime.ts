/**
 * The service's composition root: it loads the feature modules of `modules.ts` into one
 * inversify container, brings capacity groups and unfinished frames back, starts the
 * servers (gRPC, and HTTP for the status page and `/metrics`), and closes everything in
 * order. Every executable that runs a service calls `startService` once; nothing else
 * touches the container.
 */
import * as fs from 'node:fs';
import { Container } from 'inversify';
import type { RegisteredBackend } from '../compute/registry';
import { BackendRegistry } from '../compute/registry';
import type { ServiceConfig } from '../config';
import { readSecretFile } from '../config';
import { SpillwayError } from '../errors';
import { CapacityGroupSpec } from '../gen/spillway/v1/capacity';
import { BurstMode } from '../gen/spillway/v1/common';
import type { Logger } from '../logging';
import type { Planner } from './burst/planner';
import type { FrameStore } from './frames/store';
import { checkListenSecurity, type ListenOptions, type RunningServer, type ServerTls } from './grpc/server';
import { ServiceMetrics } from './http/metrics';
import { startHttpServer, type RunningHttpServer } from './http/server';
import { readStatus } from './http/status';
import {
  assetsModule,
  capacityModule,
  Closers,
  costModule,
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
  /** @default the planner `burst.planner` names (the burst policy unless configured `greedy`) */
  readonly planner?: Planner;
}

/** A running service. */
export interface RunningService {
  readonly address: string;
  readonly port: number;
  readonly server: RunningServer;
  readonly store: FrameStore;
  /** The status page's URL (`http://127.0.0.1:7480/`), unless `http.listen` is off. */
  readonly httpUrl?: string;
  /** Stops serving, stops dispatching, closes backends and storage. State stays on disk. */
  close(): Promise<void>;
}

/** How long start-up waits for a backend to answer before it gives up. */
const STARTUP_TIMEOUT_MS = 60_000;

/** A backend the configuration requires did not answer at start. */
export class BackendUnavailableError extends SpillwayError {
  constructor(what: string, cause: unknown) {
    super(
      `${what} could not be reached at start: ${cause instanceof Error ? cause.message : String(cause)}`,
      'UNAVAILABLE',
      { cause },
    );
  }
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
 * Starts the service. Every executable that runs a service calls this once. A start that
 * fails closes what it opened (an Azurite child, an engine, an open journal), so the
 * process can exit, and says why.
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
  // Refuse an insecure listener (gRPC or HTTP) before anything is started.
  checkListenSecurity(listen);
  if (config.http.listen) checkListenSecurity({ ...listen, listen: config.http.listen });

  const closers = new Closers();
  try {
    return await startIn(config, providers, logger, listen, closers);
  } catch (err) {
    await closers.closeAll(logger);
    throw err;
  }
}

async function startIn(
  config: ServiceConfig,
  providers: RuntimeProviders,
  logger: Logger,
  listen: ListenOptions,
  closers: Closers,
): Promise<RunningService> {
  // Every backend call is counted (and its failures by code) for /metrics.
  const metrics = new ServiceMetrics();
  const container = new Container();
  await container.load(
    outsideWorldModule({
      config,
      logger,
      listen,
      closers,
      metrics,
      ...(providers.planner ? { planner: providers.planner } : {}),
      backends: async () =>
        new BackendRegistry(
          (await providers.backends(config, logger)).map((e): RegisteredBackend =>
            e.mode === 'frame-offload'
              ? { ...e, backend: metrics.instrumentBackend(e.backend, e.backend.kind) }
              : { ...e, backend: metrics.instrumentBackend(e.backend, e.backend.kind) },
          ),
        ),
      storage: () => providers.storage(config, logger),
    }),
    framesModule,
    capacityModule,
    costModule,
    serverModule,
  );
  const get = <T>(service: Token<T>): Promise<T> => container.getAsync<T>(service);
  // The AssetService is there when storage can serve it.
  const storage = await get(TYPES.ServiceStorage);
  if (storage.containers) await container.load(assetsModule);

  const store = await get(TYPES.FrameStore);
  const capacity = await get(TYPES.CapacityManager);
  const compute = await get(TYPES.ComputeBackend);
  metrics.watchTaskEvents(compute);
  metrics.attach({
    store,
    capacity,
    currency: config.budget.currency,
    maxSpendPerHour: config.budget.maxSpendPerHour,
  });
  closers.add('metrics', () => metrics.close());

  logger.debug('restoring capacity groups');
  // The compute backend must answer now: a service that cannot reach it says so and stops,
  // instead of listening with nothing behind it.
  const abortSignal = AbortSignal.timeout(STARTUP_TIMEOUT_MS);
  const backend = `the compute backend (${config.compute.backend}${config.compute.batch ? ` at ${config.compute.batch.accountUrl}` : ''})`;
  try {
    await capacity.reconcileAll({ abortSignal });
    if (!capacity.specOf(config.compute.defaultGroup)) {
      await capacity.ensure(defaultGroupSpec(config), { abortSignal });
    }
    if (config.compute.local.nodes > 0) {
      await capacity.resize(
        config.compute.defaultGroup,
        { dedicated: config.compute.local.nodes, spot: 0 },
        { abortSignal },
      );
    }
    // Restoring logs a group its backend refused: the default group must answer.
    await capacity.get(config.compute.defaultGroup, { abortSignal });
  } catch (err) {
    throw new BackendUnavailableError(
      backend,
      abortSignal.aborted ? new Error(`no answer within ${STARTUP_TIMEOUT_MS / 1000} s`) : err,
    );
  }
  const ledger = await get(TYPES.CostLedger);
  await ledger.start();
  const dispatcher = await get(TYPES.FrameDispatcher);
  logger.debug('reconciling unfinished frames with the backend', { frames: store.unfinishedFrames().length });
  await dispatcher.start();
  logger.debug('frames reconciled');
  const burst = await get(TYPES.BurstManager);
  const server = await get(TYPES.RunningServer);

  let http: RunningHttpServer | undefined;
  if (config.http.listen) {
    const logs = await get(TYPES.FrameLogService);
    http = await startHttpServer(
      {
        status: (o) => readStatus(store, capacity, burst, o),
        onChange: (listener) => {
          const offFrames = store.onEvents(listener);
          const offCapacity = capacity.onEvents(listener);
          return () => {
            offFrames();
            offCapacity();
          };
        },
        logs,
        metrics,
      },
      { ...listen, listen: config.http.listen, logger },
    );
    closers.add('HTTP server', () => http?.close());
  }

  let closed = false;
  return {
    address: server.address,
    port: server.port,
    server,
    store,
    ...(http ? { httpUrl: http.url } : {}),
    async close() {
      if (closed) return;
      closed = true;
      await closers.closeAll(logger);
    },
  };
}
