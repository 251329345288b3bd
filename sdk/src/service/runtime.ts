import 'reflect-metadata';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { Container, ContainerModule } from 'inversify';
import type { CapacityBackend, ComputeBackend } from '../compute/backend';
import type { ServiceConfig } from '../config';
import { readSecretFile } from '../config';
import { BurstMode } from '../gen/spillway/v1/common';
import { BackendKind, CapacityGroupSpec } from '../gen/spillway/v1/capacity';
import { SpillwayError } from '../errors';
import type { Logger } from '../logging';
import { BurstManager } from './burst/manager';
import type { Planner } from './burst/planner';
import { simpleRule } from './burst/simple-rule';
import { CapacityManager } from './capacity/manager';
import { GroupPreflight } from './capacity/preflight';
import { AssetLifecycle, nodeCacheLimitOf } from './assets/lifecycle';
import { AssetStore } from './assets/store';
import { FrameDispatcher, type OutputResolver } from './frames/dispatcher';
import { FrameManager } from './frames/manager';
import { FrameStore } from './frames/store';
import { createTaskFactory, outputPrefix, type TaskLocations } from './frames/task-factory';
import { assetServiceHandlers } from './grpc/assets';
import { burstServiceHandlers } from './grpc/burst';
import { capacityServiceHandlers } from './grpc/capacity';
import { frameLogHandlers } from './grpc/frame-logs';
import { frameServiceHandlers } from './grpc/frames';
import { CostLedger } from './cost/ledger';
import { costServiceHandlers } from './grpc/cost';
import { ServiceMetrics } from './http/metrics';
import { startHttpServer, type RunningHttpServer } from './http/server';
import { readStatus } from './http/status';
import { blobLogReader, FrameLogService } from './logs';
import {
  checkListenSecurity,
  startServer,
  type ListenOptions,
  type RunningServer,
  type ServerTls,
} from './grpc/server';

/** Storage as the service uses it: where tasks fetch assets and put outputs, and reading them back. */
export interface ServiceStorage {
  /** The URLs (with SAS) tasks read assets from and write outputs to, current now. */
  taskLocations(): Promise<TaskLocations>;
  /** Reads a succeeded frame's outputs. */
  readonly outputs: OutputResolver;
  /** The containers behind the AssetService, when storage offers one. @default no AssetService */
  readonly containers?: { readonly assets: ContainerClient; readonly outputs: ContainerClient };
  close(): Promise<void>;
}

/** Builds the parts that touch the outside world, from configuration. */
export interface RuntimeProviders {
  /** The frame-offload backend (local engine or Azure Batch). */
  compute(config: ServiceConfig, logger: Logger): Promise<ComputeBackend>;
  /** The worker-burst backend (VM Scale Sets), if configured. */
  workerBurst?(config: ServiceConfig, logger: Logger): Promise<CapacityBackend | undefined>;
  /** Blob storage (Azurite when none is configured). */
  storage(config: ServiceConfig, logger: Logger): Promise<ServiceStorage>;
  /** @default the interim simple rule */
  readonly planner?: Planner;
}

/** inversify tokens, named like the interface they stand for. */
export const TYPES = {
  ServiceConfig: Symbol.for('ServiceConfig'),
  Logger: Symbol.for('Logger'),
  ComputeBackend: Symbol.for('ComputeBackend'),
  WorkerBurstBackend: Symbol.for('WorkerBurstBackend'),
  ServiceStorage: Symbol.for('ServiceStorage'),
  Planner: Symbol.for('Planner'),
  FrameStore: Symbol.for('FrameStore'),
  FrameDispatcher: Symbol.for('FrameDispatcher'),
  FrameManager: Symbol.for('FrameManager'),
  CapacityManager: Symbol.for('CapacityManager'),
  BurstManager: Symbol.for('BurstManager'),
  GroupPreflight: Symbol.for('GroupPreflight'),
  AssetLifecycle: Symbol.for('AssetLifecycle'),
  FrameLogService: Symbol.for('FrameLogService'),
  ServiceMetrics: Symbol.for('ServiceMetrics'),
  CostLedger: Symbol.for('CostLedger'),
} as const;

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

function outsideWorld(config: ServiceConfig, logger: Logger, providers: RuntimeProviders): ContainerModule {
  return new ContainerModule(async ({ bind }) => {
    // Every backend call is counted (and its failures by code) for /metrics.
    const metrics = new ServiceMetrics();
    bind<ServiceMetrics>(TYPES.ServiceMetrics).toConstantValue(metrics);
    bind<ServiceConfig>(TYPES.ServiceConfig).toConstantValue(config);
    bind<Logger>(TYPES.Logger).toConstantValue(logger);
    bind<Planner>(TYPES.Planner).toConstantValue(providers.planner ?? simpleRule);
    const compute = await providers.compute(config, logger);
    metrics.watchTaskEvents(compute);
    bind<ComputeBackend>(TYPES.ComputeBackend).toConstantValue(
      metrics.instrumentBackend(compute, compute.kind),
    );
    const workerBurst = await providers.workerBurst?.(config, logger);
    bind<CapacityBackend | undefined>(TYPES.WorkerBurstBackend).toConstantValue(
      workerBurst && metrics.instrumentBackend(workerBurst, workerBurst.kind),
    );
    bind<ServiceStorage>(TYPES.ServiceStorage).toConstantValue(await providers.storage(config, logger));
  });
}

const framesModule = new ContainerModule(({ bind }) => {
  // Garbage collection, job admission against it, output expiry: where storage has containers.
  bind<AssetLifecycle | undefined>(TYPES.AssetLifecycle)
    .toDynamicValue((ctx) => {
      const containers = ctx.get<ServiceStorage>(TYPES.ServiceStorage).containers;
      const config = ctx.get<ServiceConfig>(TYPES.ServiceConfig);
      return containers
        ? new AssetLifecycle({
            ...containers,
            logger: ctx.get(TYPES.Logger),
            gc: config.storage.gc,
            outputsExpireAfterMs: config.storage.outputsExpireAfterMs,
          })
        : undefined;
    })
    .inSingletonScope();
  bind(TYPES.FrameStore)
    .toDynamicValue((ctx) =>
      FrameStore.open(path.join(ctx.get<ServiceConfig>(TYPES.ServiceConfig).dataDir, 'state'), {
        pricing: ctx.get<CapacityManager>(TYPES.CapacityManager),
      }),
    )
    .inSingletonScope();
  bind(TYPES.FrameDispatcher)
    .toDynamicValue((ctx) => {
      const storage = ctx.get<ServiceStorage>(TYPES.ServiceStorage);
      const config = ctx.get<ServiceConfig>(TYPES.ServiceConfig);
      const capacity = ctx.get<CapacityManager>(TYPES.CapacityManager);
      const preflight = ctx.get<GroupPreflight>(TYPES.GroupPreflight);
      return new FrameDispatcher(
        ctx.get(TYPES.FrameStore),
        ctx.get(TYPES.ComputeBackend),
        createTaskFactory(() => storage.taskLocations(), {
          cacheLimit: (group) =>
            nodeCacheLimitOf(config.storage.nodeCache, group ?? config.compute.defaultGroup),
          mounts: (group) => capacity.mountsOf(group ?? config.compute.defaultGroup),
          groupEnvironment: (group) => capacity.environmentOf(group),
        }),
        storage.outputs,
        {
          defaultGroup: ctx.get<ServiceConfig>(TYPES.ServiceConfig).compute.defaultGroup,
          logger: ctx.get(TYPES.Logger),
          gate: {
            verdict: (group) => capacity.dispatchVerdict(group),
            onChange: (listener) => preflight.onChange(listener),
          },
        },
      );
    })
    .inSingletonScope();
  bind(TYPES.FrameManager)
    .toDynamicValue((ctx) => {
      const lifecycle = ctx.get<AssetLifecycle | undefined>(TYPES.AssetLifecycle);
      return new FrameManager(
        ctx.get(TYPES.FrameStore),
        ctx.get(TYPES.FrameDispatcher),
        ctx.get(TYPES.CapacityManager),
        lifecycle ? { admit: lifecycle.admitJob.bind(lifecycle) } : {},
      );
    })
    .inSingletonScope();
});

const logsModule = new ContainerModule(({ bind }) => {
  bind(TYPES.FrameLogService)
    .toDynamicValue((ctx) => {
      const outputs = ctx.get<ServiceStorage>(TYPES.ServiceStorage).containers?.outputs;
      const metrics = ctx.get<ServiceMetrics>(TYPES.ServiceMetrics);
      return new FrameLogService(
        ctx.get(TYPES.FrameStore),
        ctx.get(TYPES.ComputeBackend),
        outputs ? blobLogReader(outputs) : undefined,
        { onStorageRead: (bytes) => metrics.countStorage('down', 'logs', bytes) },
      );
    })
    .inSingletonScope();
});

const costModule = new ContainerModule(({ bind }) => {
  bind(TYPES.CostLedger)
    .toDynamicValue((ctx) => {
      const config = ctx.get<ServiceConfig>(TYPES.ServiceConfig);
      return new CostLedger(ctx.get(TYPES.CapacityManager), ctx.get(TYPES.FrameStore), {
        dir: path.join(config.dataDir, 'state'),
        defaultGroup: config.compute.defaultGroup,
        currency: config.budget.currency,
        logger: ctx.get(TYPES.Logger),
      });
    })
    .inSingletonScope();
});

const capacityModule = new ContainerModule(({ bind }) => {
  bind(TYPES.GroupPreflight)
    .toDynamicValue((ctx) => new GroupPreflight(ctx.get(TYPES.ComputeBackend), ctx.get(TYPES.Logger)))
    .inSingletonScope();
  bind(TYPES.CapacityManager)
    .toDynamicValue((ctx) => {
      const config = ctx.get<ServiceConfig>(TYPES.ServiceConfig);
      const workerBurst = ctx.get<CapacityBackend | undefined>(TYPES.WorkerBurstBackend);
      return new CapacityManager(
        { offload: ctx.get(TYPES.ComputeBackend), ...(workerBurst ? { workerBurst } : {}) },
        path.join(config.dataDir, 'state', 'groups.json'),
        ctx.get(TYPES.Logger),
        {
          budget: config.budget,
          defaultGroup: config.compute.defaultGroup,
          scaleSetDefaults: {
            ...(config.workerBurst?.resourceGroup ? { resourceGroup: config.workerBurst.resourceGroup } : {}),
            ...(config.workerBurst?.location ? { location: config.workerBurst.location } : {}),
          },
          preflight: ctx.get<GroupPreflight>(TYPES.GroupPreflight),
        },
      );
    })
    .inSingletonScope();
  bind(TYPES.BurstManager)
    .toDynamicValue((ctx) => {
      const config = ctx.get<ServiceConfig>(TYPES.ServiceConfig);
      return new BurstManager(ctx.get(TYPES.CapacityManager), ctx.get(TYPES.FrameStore), {
        planner: ctx.get(TYPES.Planner),
        defaultGroup: config.compute.defaultGroup,
        maxSpendPerHour: config.budget.maxSpendPerHour,
        currency: config.budget.currency,
        logger: ctx.get(TYPES.Logger),
      });
    })
    .inSingletonScope();
});

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
 * Starts the service: the composition root (inversify) wires configuration, backends,
 * storage, the frame and capacity domains and the gRPC server. Every executable that runs
 * a service calls this once.
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

  const container = new Container();
  try {
    return await startIn(container, config, providers, logger, listen);
  } catch (err) {
    // Nothing half-started stays behind (an Azurite child, an engine, an open journal): the
    // process can exit, and says why.
    await closeStarted(container, logger);
    throw err;
  }
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

/** Closes what a failed start opened, each part on its own (a failure to close is logged). */
async function closeStarted(container: Container, logger: Logger): Promise<void> {
  const close = async (token: symbol, how: (x: never) => unknown): Promise<void> => {
    try {
      if (!container.isBound(token)) return;
      const part = container.get(token);
      if (part) await how(part as never);
    } catch (err) {
      logger.warn('closing after a failed start', {
        error: err instanceof Error ? err.message : String(err),
      });
    }
  };
  await close(TYPES.FrameDispatcher, (d: FrameDispatcher) => d.stop());
  await close(TYPES.BurstManager, (b: BurstManager) => b.close());
  await close(TYPES.CapacityManager, (c: CapacityManager) => c.close());
  await close(TYPES.ComputeBackend, (c: ComputeBackend) => c.close());
  await close(TYPES.WorkerBurstBackend, (c: CapacityBackend | undefined) => c?.close());
  await close(TYPES.ServiceStorage, (s: ServiceStorage) => s.close());
  await close(TYPES.FrameStore, (s: FrameStore) => s.close());
}

async function startIn(
  container: Container,
  config: ServiceConfig,
  providers: RuntimeProviders,
  logger: Logger,
  listen: ListenOptions,
): Promise<RunningService> {
  await container.load(
    outsideWorld(config, logger, providers),
    framesModule,
    capacityModule,
    logsModule,
    costModule,
  );

  const store = container.get<FrameStore>(TYPES.FrameStore);
  const dispatcher = container.get<FrameDispatcher>(TYPES.FrameDispatcher);
  const capacity = container.get<CapacityManager>(TYPES.CapacityManager);
  const burst = container.get<BurstManager>(TYPES.BurstManager);
  const frames = container.get<FrameManager>(TYPES.FrameManager);
  const compute = container.get<ComputeBackend>(TYPES.ComputeBackend);
  const storage = container.get<ServiceStorage>(TYPES.ServiceStorage);
  const workerBurst = container.get<CapacityBackend | undefined>(TYPES.WorkerBurstBackend);
  const lifecycle = container.get<AssetLifecycle | undefined>(TYPES.AssetLifecycle);
  lifecycle?.attach(store);
  const logs = container.get<FrameLogService>(TYPES.FrameLogService);
  const metrics = container.get<ServiceMetrics>(TYPES.ServiceMetrics);
  metrics.attach({
    store,
    capacity,
    currency: config.budget.currency,
    maxSpendPerHour: config.budget.maxSpendPerHour,
  });

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
  const ledger = container.get<CostLedger>(TYPES.CostLedger);
  await ledger.start();
  logger.debug('reconciling unfinished frames with the backend', { frames: store.unfinishedFrames().length });
  await dispatcher.start();
  logger.debug('frames reconciled');

  const server = await startServer(
    (ctx) => ({
      frames: { ...frameServiceHandlers(ctx, frames, store), ...frameLogHandlers(ctx, logs) },
      capacity: capacityServiceHandlers(ctx, capacity),
      burst: burstServiceHandlers(ctx, burst),
      cost: costServiceHandlers(ctx, ledger),
      ...(storage.containers
        ? {
            assets: metrics.meterAssetHandlers(
              assetServiceHandlers(ctx, {
                assets: new AssetStore({
                  ...storage.containers,
                  frames: store,
                  outputBlobName: (jobId, frameId, file) => `${outputPrefix(jobId, frameId)}${file}`,
                }),
                ...(lifecycle ? { lifecycle } : {}),
              }),
            ),
          }
        : {}),
    }),
    listen,
    logger,
  );

  let http: RunningHttpServer | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await http?.close();
    metrics.close();
    await server.close();
    await dispatcher.stop();
    await burst.close();
    container.get<GroupPreflight>(TYPES.GroupPreflight).close();
    // The embedded engine's nodes end with the service; Batch pools and scale sets do not.
    await ledger.close(
      compute.kind === 'local'
        ? (await capacity.list().catch(() => []))
            .filter(
              (v) =>
                v.spec.backend === BackendKind.BACKEND_KIND_LOCAL ||
                v.spec.backend === BackendKind.BACKEND_KIND_UNSPECIFIED,
            )
            .map((v) => v.spec.name)
        : [],
    );
    capacity.close();
    await compute.close();
    await workerBurst?.close();
    await lifecycle?.close();
    await storage.close();
    await store.close();
  };
  if (config.http.listen) {
    try {
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
    } catch (err) {
      await close(); // the HTTP port is taken, say: nothing stays running
      throw err;
    }
  }
  return {
    address: server.address,
    port: server.port,
    server,
    store,
    ...(http ? { httpUrl: http.url } : {}),
    close,
  };
}
