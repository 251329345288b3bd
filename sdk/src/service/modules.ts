/**
 * The service's composition: one inversify `ContainerModule` per feature, each binding
 * declaring what it is built from (constructor injection by token, with no decorators on
 * the domain classes, which stay plain). Only `runtime.ts` loads these into a container.
 *
 * A feature with a gRPC face binds a {@link GrpcService} under `TYPES.GrpcService`; the
 * server adds every one bound, so a new service is a new module, not an edit of the server.
 */
import * as path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { ContainerModule, type ContainerModuleLoadOptions } from 'inversify';
import type { ComputeBackend } from '../compute/backend';
import {
  backendQueryOf,
  RoutedComputeBackend,
  type BackendQuery,
  type BackendRegistry,
} from '../compute/registry';
import type { ServiceConfig } from '../config';
import { AssetServiceService } from '../gen/spillway/v1/assets';
import { BurstServiceService } from '../gen/spillway/v1/burst';
import { CapacityServiceService } from '../gen/spillway/v1/capacity';
import { CostServiceService } from '../gen/spillway/v1/cost';
import type { Logger } from '../logging';
import { AssetLifecycle, nodeCacheLimitOf } from './assets/lifecycle';
import { AssetStore } from './assets/store';
import { BurstManager } from './burst/manager';
import { PLANNERS, type Planner } from './burst/planner';
import { figuresOf } from '../policy/config';
import { CapacityManager } from './capacity/manager';
import { GroupPreflight } from './capacity/preflight';
import { CostLedger } from './cost/ledger';
import { FrameDispatcher, type OutputResolver, type TaskFactory } from './frames/dispatcher';
import { FrameManager } from './frames/manager';
import { FrameStore } from './frames/store';
import { createTaskFactory, outputPrefix, type TaskLocations } from './frames/task-factory';
import { assetServiceHandlers } from './grpc/assets';
import { burstServiceHandlers } from './grpc/burst';
import { capacityServiceHandlers } from './grpc/capacity';
import { costServiceHandlers } from './grpc/cost';
import { frameLogHandlers } from './grpc/frame-logs';
import { frameServiceHandlers, watchFramesService } from './grpc/frames';
import type { HandlerContext } from './grpc/handlers';
import { handlerContext, startServer, type ListenOptions, type RunningServer } from './grpc/server';
import { grpcService, type GrpcService } from './grpc/service';
import type { ServiceMetrics } from './http/metrics';
import { blobLogReader, FrameLogService } from './logs';
import { isWorkerBurstBackend, WorkerBurstCoordinator } from './workers';

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

/** How the router finds a job's backend: its group, and what that group's spec asks for. */
export interface GroupRoutes {
  backendOfGroup(group: string): Pick<BackendQuery, 'kind' | 'name'> | undefined;
  groupOfJob(jobId: string): string | undefined;
}

/** A token standing for an interface; `T` is only for the compiler. */
export type Token<T> = symbol & { readonly __type?: T };
const token = <T>(name: string): Token<T> => Symbol.for(`spillway.${name}`) as Token<T>;

/**
 * What the service opened, to close in the reverse order: each part closes before anything
 * it was built from. A start that fails half-way closes what it opened, and nothing else.
 */
export class Closers {
  private readonly closers: { readonly what: string; readonly close: () => unknown }[] = [];

  /** Registers how to close a part just opened. */
  add(what: string, close: () => unknown): void {
    this.closers.push({ what, close });
  }

  /** Closes every part, newest first; a failure to close one is logged and the rest close. */
  async closeAll(logger: Logger): Promise<void> {
    for (let c = this.closers.pop(); c; c = this.closers.pop()) {
      try {
        await c.close();
      } catch (err) {
        logger.warn('closing a part of the service failed', {
          part: c.what,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }
}

/** inversify tokens, named like the interface they stand for. */
export const TYPES = {
  ServiceConfig: token<ServiceConfig>('ServiceConfig'),
  Logger: token<Logger>('Logger'),
  Closers: token<Closers>('Closers'),
  /** Counts backend calls, storage bytes and frames for `/metrics`. */
  ServiceMetrics: token<ServiceMetrics>('ServiceMetrics'),
  ListenOptions: token<ListenOptions>('ListenOptions'),
  Planner: token<Planner>('Planner'),
  BackendRegistry: token<BackendRegistry>('BackendRegistry'),
  /** Which backend a group lives on, which group a job belongs to (looked up when routing). */
  GroupRoutes: token<GroupRoutes>('GroupRoutes'),
  /** Every frame-offload backend as one, each job routed to its group's backend. */
  ComputeBackend: token<ComputeBackend>('ComputeBackend'),
  ServiceStorage: token<ServiceStorage>('ServiceStorage'),
  TaskFactory: token<TaskFactory>('TaskFactory'),
  FrameStore: token<FrameStore>('FrameStore'),
  FrameDispatcher: token<FrameDispatcher>('FrameDispatcher'),
  FrameManager: token<FrameManager>('FrameManager'),
  CapacityManager: token<CapacityManager>('CapacityManager'),
  BurstManager: token<BurstManager>('BurstManager'),
  /** Drains, protects and meters worker-burst groups; undefined without a scale-set backend. */
  WorkerBurstCoordinator: token<WorkerBurstCoordinator | undefined>('WorkerBurstCoordinator'),
  AssetStore: token<AssetStore>('AssetStore'),
  /** Garbage collection, job admission against it, output expiry; undefined without containers. */
  AssetLifecycle: token<AssetLifecycle | undefined>('AssetLifecycle'),
  GroupPreflight: token<GroupPreflight>('GroupPreflight'),
  FrameLogService: token<FrameLogService>('FrameLogService'),
  CostLedger: token<CostLedger>('CostLedger'),
  HandlerContext: token<HandlerContext>('HandlerContext'),
  /** Multi-bound: every gRPC service the server carries. */
  GrpcService: token<GrpcService>('GrpcService'),
  RunningServer: token<RunningServer>('RunningServer'),
} as const;

type Tokens<A extends unknown[]> = { [K in keyof A]: Token<A[K]> };

/**
 * Binds `service` to what `build` returns, built once from the dependencies named by
 * `deps` (checked by the compiler against `build`'s parameters). `close`, when given, is
 * registered with {@link Closers} as soon as the part is built (with the same dependencies,
 * which close after it).
 */
function provide<T, A extends unknown[]>(
  options: ContainerModuleLoadOptions,
  service: Token<T>,
  deps: Tokens<A>,
  build: (...args: A) => T | Promise<T>,
  close?: (part: T, ...deps: A) => unknown,
): void {
  options
    .bind<T>(service)
    .toResolvedValue(
      async (closers: Closers, ...args: unknown[]) => {
        const part = await (build as (...a: unknown[]) => T | Promise<T>)(...args);
        if (close) closers.add(service.description ?? 'part', () => close(part, ...(args as A)));
        return part;
      },
      [TYPES.Closers, ...deps] as never,
    )
    .inSingletonScope();
}

/** Adds one gRPC service, built from `deps`. */
function provideGrpc<A extends unknown[]>(
  options: ContainerModuleLoadOptions,
  deps: Tokens<A>,
  build: (...args: A) => GrpcService,
): void {
  options
    .bind<GrpcService>(TYPES.GrpcService)
    .toResolvedValue(build as (...args: unknown[]) => GrpcService, deps as never)
    .inSingletonScope();
}

/** What the outside world gives the service: configuration, logger, backends, storage, planner. */
export interface OutsideWorld {
  readonly config: ServiceConfig;
  readonly logger: Logger;
  readonly listen: ListenOptions;
  readonly closers: Closers;
  readonly metrics: ServiceMetrics;
  readonly planner?: Planner;
  backends(): Promise<BackendRegistry>;
  storage(): Promise<ServiceStorage>;
}

/** The edges: each built on first use, once. */
export function outsideWorldModule(world: OutsideWorld): ContainerModule {
  return new ContainerModule((options) => {
    options.bind(TYPES.ServiceConfig).toConstantValue(world.config);
    options.bind(TYPES.Logger).toConstantValue(world.logger);
    options.bind(TYPES.ListenOptions).toConstantValue(world.listen);
    options.bind(TYPES.Closers).toConstantValue(world.closers);
    options.bind(TYPES.ServiceMetrics).toConstantValue(world.metrics);
    options.bind(TYPES.Planner).toConstantValue(world.planner ?? PLANNERS[world.config.burst.planner]);
    provide(
      options,
      TYPES.BackendRegistry,
      [],
      () => world.backends(),
      (registry) => registry.close(),
    );
    provide(
      options,
      TYPES.ServiceStorage,
      [],
      () => world.storage(),
      (storage) => storage.close(),
    );
  });
}

/**
 * Frames: the journal-backed store, the dispatcher over the routed backends (gated per group
 * by capacity and the group preflight: mounts, licence servers), frame logs, and the FrameService.
 */
export const framesModule = new ContainerModule((options) => {
  provide(
    options,
    TYPES.FrameStore,
    [TYPES.ServiceConfig, TYPES.CapacityManager],
    (config, pricing) => FrameStore.open(path.join(config.dataDir, 'state'), { pricing }),
    (store) => store.close(),
  );
  // Capacity asks the group preflight for verdicts, and the preflight probes a group on its
  // backend through this router: a real cycle, so a job's route is looked up when it is
  // routed (capacity and the store are built by then), not when the router is built.
  options
    .bind(TYPES.GroupRoutes)
    .toDynamicValue((ctx): GroupRoutes => ({
      backendOfGroup: (group) => {
        const spec = ctx.get<CapacityManager>(TYPES.CapacityManager).specOf(group);
        return spec ? backendQueryOf(spec) : undefined;
      },
      groupOfJob: (jobId) => {
        const job = ctx.get<FrameStore>(TYPES.FrameStore).getJob(jobId);
        return job
          ? (job.spec.capacityGroup ?? ctx.get<ServiceConfig>(TYPES.ServiceConfig).compute.defaultGroup)
          : undefined;
      },
    }))
    .inSingletonScope();
  provide(
    options,
    TYPES.ComputeBackend,
    [TYPES.BackendRegistry, TYPES.GroupRoutes],
    (registry, routes) =>
      new RoutedComputeBackend(
        registry,
        (group) => routes.backendOfGroup(group),
        (jobId) => routes.groupOfJob(jobId),
      ),
  );
  // Garbage collection, job admission against it, output expiry: where storage has containers.
  provide(
    options,
    TYPES.AssetLifecycle,
    [TYPES.ServiceStorage, TYPES.FrameStore, TYPES.ServiceConfig, TYPES.Logger],
    (storage, store, config, logger) => {
      if (!storage.containers) return undefined;
      const lifecycle = new AssetLifecycle({
        ...storage.containers,
        logger,
        gc: config.storage.gc,
        outputsExpireAfterMs: config.storage.outputsExpireAfterMs,
      });
      lifecycle.attach(store);
      return lifecycle;
    },
    (lifecycle) => lifecycle?.close(),
  );
  provide(
    options,
    TYPES.TaskFactory,
    [TYPES.ServiceStorage, TYPES.ServiceConfig, TYPES.CapacityManager],
    (storage, config, capacity) =>
      createTaskFactory(() => storage.taskLocations(), {
        cacheLimit: (group) =>
          nodeCacheLimitOf(config.storage.nodeCache, group ?? config.compute.defaultGroup),
        mounts: (group) => capacity.mountsOf(group ?? config.compute.defaultGroup),
        groupEnvironment: (group) => capacity.environmentOf(group),
      }),
  );
  provide(
    options,
    TYPES.FrameDispatcher,
    [
      TYPES.FrameStore,
      TYPES.ComputeBackend,
      TYPES.TaskFactory,
      TYPES.ServiceStorage,
      TYPES.CapacityManager,
      TYPES.GroupPreflight,
      TYPES.ServiceConfig,
      TYPES.Logger,
    ],
    (store, compute, tasks, storage, capacity, preflight, config, logger) =>
      new FrameDispatcher(store, compute, tasks, storage.outputs, {
        defaultGroup: config.compute.defaultGroup,
        logger,
        gate: {
          verdict: (group) => capacity.dispatchVerdict(group),
          onChange: (listener) => preflight.onChange(listener),
        },
      }),
    (dispatcher) => dispatcher.stop(),
  );
  provide(
    options,
    TYPES.FrameManager,
    [TYPES.FrameStore, TYPES.FrameDispatcher, TYPES.CapacityManager, TYPES.AssetLifecycle],
    (store, dispatcher, capacity, lifecycle) =>
      new FrameManager(
        store,
        dispatcher,
        capacity,
        lifecycle ? { admit: lifecycle.admitJob.bind(lifecycle) } : {},
      ),
  );
  provide(
    options,
    TYPES.FrameLogService,
    [TYPES.FrameStore, TYPES.ComputeBackend, TYPES.ServiceStorage, TYPES.ServiceMetrics],
    (store, compute, storage, metrics) => {
      const outputs = storage.containers?.outputs;
      return new FrameLogService(store, compute, outputs ? blobLogReader(outputs) : undefined, {
        onStorageRead: (bytes) => metrics.countStorage('down', 'logs', bytes),
      });
    },
  );
  provideGrpc(
    options,
    [TYPES.HandlerContext, TYPES.FrameManager, TYPES.FrameStore, TYPES.FrameLogService],
    (ctx, frames, store, logs) =>
      grpcService('spillway.v1.FrameService', watchFramesService, {
        ...frameServiceHandlers(ctx, frames, store),
        ...frameLogHandlers(ctx, logs),
      }),
  );
});

/** Capacity and the burst plan: groups on the registered backends, the planner, their services. */
export const capacityModule = new ContainerModule((options) => {
  // Mounts and licence servers are checked from a node of the group (one task on its backend).
  provide(
    options,
    TYPES.GroupPreflight,
    [TYPES.ComputeBackend, TYPES.Logger],
    (compute, logger) => new GroupPreflight(compute, logger),
    (preflight) => preflight.close(),
  );
  // Worker-burst groups (on the first worker-burst backend registered) shrink by draining:
  // their busy workers are never removed.
  provide(
    options,
    TYPES.WorkerBurstCoordinator,
    [TYPES.BackendRegistry, TYPES.Logger],
    (registry, logger) => {
      const entry = registry.list().find((e) => e.mode === 'worker-burst');
      return entry && isWorkerBurstBackend(entry.backend)
        ? new WorkerBurstCoordinator(entry.backend, { logger })
        : undefined;
    },
    (workers) => workers?.close(),
  );
  provide(
    options,
    TYPES.CapacityManager,
    [
      TYPES.BackendRegistry,
      TYPES.GroupPreflight,
      TYPES.WorkerBurstCoordinator,
      TYPES.ServiceConfig,
      TYPES.Logger,
    ],
    (registry, preflight, workers, config, logger) => {
      const capacity = new CapacityManager(
        registry,
        path.join(config.dataDir, 'state', 'groups.json'),
        logger,
        {
          preflight,
          budget: config.budget,
          defaultGroup: config.compute.defaultGroup,
          scaleSetDefaults: {
            ...(config.workerBurst?.resourceGroup ? { resourceGroup: config.workerBurst.resourceGroup } : {}),
            ...(config.workerBurst?.location ? { location: config.workerBurst.location } : {}),
          },
          ...(workers ? { workerBurstResizer: workers } : {}),
        },
      );
      workers?.attach(capacity);
      return capacity;
    },
    (capacity) => capacity.close(),
  );
  provide(
    options,
    TYPES.BurstManager,
    [TYPES.CapacityManager, TYPES.FrameStore, TYPES.Planner, TYPES.ServiceConfig, TYPES.Logger],
    (capacity, store, planner, config, logger) =>
      new BurstManager(capacity, store, {
        planner,
        plannerName: config.burst.planner,
        reportIntervalMs: config.burst.reportIntervalMs,
        figures: (group) => {
          const f = figuresOf(config.burst, group);
          // The embedded engine's nodes boot in its configured delay unless the group says otherwise.
          return group === config.compute.defaultGroup &&
            config.compute.backend === 'local' &&
            config.burst.groups[group]?.nodeBootSeconds === undefined
            ? { ...f, nodeBootSeconds: config.compute.local.bootDelayMs / 1000 }
            : f;
        },
        defaultGroup: config.compute.defaultGroup,
        maxSpendPerHour: config.budget.maxSpendPerHour,
        currency: config.budget.currency,
        logger,
      }),
    (burst) => burst.close(),
  );
  provideGrpc(
    options,
    [TYPES.HandlerContext, TYPES.CapacityManager, TYPES.WorkerBurstCoordinator],
    (ctx, capacity, workers) =>
      grpcService(
        'spillway.v1.CapacityService',
        CapacityServiceService,
        capacityServiceHandlers(ctx, capacity, workers),
      ),
  );
  provideGrpc(options, [TYPES.HandlerContext, TYPES.BurstManager], (ctx, burst) =>
    grpcService('spillway.v1.BurstService', BurstServiceService, burstServiceHandlers(ctx, burst)),
  );
});

/** Assets over gRPC: content, manifests and outputs in storage's containers. Loaded when storage has them. */
export const assetsModule = new ContainerModule((options) => {
  provide(options, TYPES.AssetStore, [TYPES.ServiceStorage, TYPES.FrameStore], (storage, store) => {
    if (!storage.containers) throw new Error('the AssetService needs storage with containers');
    return new AssetStore({
      ...storage.containers,
      frames: store,
      outputBlobName: (jobId, frameId, file) => `${outputPrefix(jobId, frameId)}${file}`,
    });
  });
  provideGrpc(
    options,
    [TYPES.HandlerContext, TYPES.AssetStore, TYPES.AssetLifecycle, TYPES.ServiceMetrics],
    (ctx, assets, lifecycle, metrics) =>
      grpcService(
        'spillway.v1.AssetService',
        AssetServiceService,
        metrics.meterAssetHandlers(
          assetServiceHandlers(ctx, { assets, ...(lifecycle ? { lifecycle } : {}) }),
        ),
      ),
  );
});

/** Cost: the ledger of node hours and spend per group and job, and the CostService. */
export const costModule = new ContainerModule((options) => {
  provide(
    options,
    TYPES.CostLedger,
    [TYPES.CapacityManager, TYPES.FrameStore, TYPES.BackendRegistry, TYPES.ServiceConfig, TYPES.Logger],
    (capacity, store, _registry, config, logger) =>
      new CostLedger(capacity, store, {
        dir: path.join(config.dataDir, 'state'),
        defaultGroup: config.compute.defaultGroup,
        currency: config.budget.currency,
        logger,
      }),
    // The local engine's nodes end with the service (Batch pools and scale sets do not): the
    // ledger closes their node hours.
    async (ledger, capacity, _store, registry) =>
      ledger.close(
        (await capacity.list().catch(() => [])).flatMap((v) => {
          try {
            return registry.resolve(backendQueryOf(v.spec)).backend.kind === 'local' ? [v.spec.name] : [];
          } catch {
            return [];
          }
        }),
      ),
  );
  provideGrpc(options, [TYPES.HandlerContext, TYPES.CostLedger], (ctx, ledger) =>
    grpcService('spillway.v1.CostService', CostServiceService, costServiceHandlers(ctx, ledger)),
  );
});

/** The gRPC server: authentication and logging for handlers, and every bound service. */
export const serverModule = new ContainerModule((options) => {
  provide(options, TYPES.HandlerContext, [TYPES.ListenOptions, TYPES.Logger], handlerContext);
  options
    .bind<RunningServer>(TYPES.RunningServer)
    .toResolvedValue(
      async (services: GrpcService[], listen: ListenOptions, logger: Logger, closers: Closers) => {
        const server = await startServer(services, listen, logger);
        closers.add('gRPC server', () => server.close());
        return server;
      },
      [
        { serviceIdentifier: TYPES.GrpcService, isMultiple: true },
        TYPES.ListenOptions,
        TYPES.Logger,
        TYPES.Closers,
      ],
    )
    .inSingletonScope();
});
