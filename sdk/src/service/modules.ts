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
import { backendQueryOf, RoutedComputeBackend, type BackendRegistry } from '../compute/registry';
import type { ServiceConfig } from '../config';
import { AssetServiceService } from '../gen/spillway/v1/assets';
import { BurstServiceService } from '../gen/spillway/v1/burst';
import { CapacityServiceService } from '../gen/spillway/v1/capacity';
import type { Logger } from '../logging';
import { AssetStore } from './assets/store';
import { BurstManager } from './burst/manager';
import type { Planner } from './burst/planner';
import { simpleRule } from './burst/simple-rule';
import { CapacityManager } from './capacity/manager';
import { FrameDispatcher, type OutputResolver, type TaskFactory } from './frames/dispatcher';
import { FrameManager } from './frames/manager';
import { FrameStore } from './frames/store';
import { createTaskFactory, outputPrefix, type TaskLocations } from './frames/task-factory';
import { assetServiceHandlers } from './grpc/assets';
import { burstServiceHandlers } from './grpc/burst';
import { capacityServiceHandlers } from './grpc/capacity';
import { frameServiceHandlers, watchFramesService } from './grpc/frames';
import type { HandlerContext } from './grpc/handlers';
import { handlerContext, startServer, type ListenOptions, type RunningServer } from './grpc/server';
import { grpcService, type GrpcService } from './grpc/service';

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

/** A token standing for an interface; `T` is only for the compiler. */
export type Token<T> = symbol & { readonly __type?: T };
const token = <T>(name: string): Token<T> => Symbol.for(`spillway.${name}`) as Token<T>;

/** inversify tokens, named like the interface they stand for. */
export const TYPES = {
  ServiceConfig: token<ServiceConfig>('ServiceConfig'),
  Logger: token<Logger>('Logger'),
  ListenOptions: token<ListenOptions>('ListenOptions'),
  Planner: token<Planner>('Planner'),
  BackendRegistry: token<BackendRegistry>('BackendRegistry'),
  /** Every frame-offload backend as one, each job routed to its group's backend. */
  ComputeBackend: token<ComputeBackend>('ComputeBackend'),
  ServiceStorage: token<ServiceStorage>('ServiceStorage'),
  TaskFactory: token<TaskFactory>('TaskFactory'),
  FrameStore: token<FrameStore>('FrameStore'),
  FrameDispatcher: token<FrameDispatcher>('FrameDispatcher'),
  FrameManager: token<FrameManager>('FrameManager'),
  CapacityManager: token<CapacityManager>('CapacityManager'),
  BurstManager: token<BurstManager>('BurstManager'),
  AssetStore: token<AssetStore>('AssetStore'),
  HandlerContext: token<HandlerContext>('HandlerContext'),
  /** Multi-bound: every gRPC service the server carries. */
  GrpcService: token<GrpcService>('GrpcService'),
  RunningServer: token<RunningServer>('RunningServer'),
} as const;

type Tokens<A extends unknown[]> = { [K in keyof A]: Token<A[K]> };

/**
 * Binds `service` to what `build` returns, built once from the dependencies named by
 * `deps` (checked by the compiler against `build`'s parameters).
 */
function provide<T, A extends unknown[]>(
  options: ContainerModuleLoadOptions,
  service: Token<T>,
  deps: Tokens<A>,
  build: (...args: A) => T | Promise<T>,
): void {
  options
    .bind<T>(service)
    .toResolvedValue(build as (...args: unknown[]) => T | Promise<T>, deps as never)
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
    options.bind(TYPES.Planner).toConstantValue(world.planner ?? simpleRule);
    provide(options, TYPES.BackendRegistry, [], () => world.backends());
    provide(options, TYPES.ServiceStorage, [], () => world.storage());
  });
}

/** Frames: the journal-backed store, the dispatcher over the routed backends, the FrameService. */
export const framesModule = new ContainerModule((options) => {
  provide(options, TYPES.FrameStore, [TYPES.ServiceConfig, TYPES.CapacityManager], (config, pricing) =>
    FrameStore.open(path.join(config.dataDir, 'state'), { pricing }),
  );
  provide(
    options,
    TYPES.ComputeBackend,
    [TYPES.BackendRegistry, TYPES.CapacityManager, TYPES.FrameStore, TYPES.ServiceConfig],
    (registry, capacity, store, config) =>
      new RoutedComputeBackend(
        registry,
        (group) => {
          const spec = capacity.specOf(group);
          return spec ? backendQueryOf(spec) : undefined;
        },
        (jobId) => {
          const job = store.getJob(jobId);
          return job ? (job.spec.capacityGroup ?? config.compute.defaultGroup) : undefined;
        },
      ),
  );
  provide(options, TYPES.TaskFactory, [TYPES.ServiceStorage], (storage) =>
    createTaskFactory(() => storage.taskLocations()),
  );
  provide(
    options,
    TYPES.FrameDispatcher,
    [
      TYPES.FrameStore,
      TYPES.ComputeBackend,
      TYPES.TaskFactory,
      TYPES.ServiceStorage,
      TYPES.ServiceConfig,
      TYPES.Logger,
    ],
    (store, compute, tasks, storage, config, logger) =>
      new FrameDispatcher(store, compute, tasks, storage.outputs, {
        defaultGroup: config.compute.defaultGroup,
        logger,
      }),
  );
  provide(
    options,
    TYPES.FrameManager,
    [TYPES.FrameStore, TYPES.FrameDispatcher, TYPES.CapacityManager],
    (store, dispatcher, capacity) => new FrameManager(store, dispatcher, capacity),
  );
  provideGrpc(options, [TYPES.HandlerContext, TYPES.FrameManager, TYPES.FrameStore], (ctx, frames, store) =>
    grpcService('spillway.v1.FrameService', watchFramesService, frameServiceHandlers(ctx, frames, store)),
  );
});

/** Capacity and the burst plan: groups on the registered backends, the planner, their services. */
export const capacityModule = new ContainerModule((options) => {
  provide(
    options,
    TYPES.CapacityManager,
    [TYPES.BackendRegistry, TYPES.ServiceConfig, TYPES.Logger],
    (registry, config, logger) =>
      new CapacityManager(registry, path.join(config.dataDir, 'state', 'groups.json'), logger, {
        budget: config.budget,
        defaultGroup: config.compute.defaultGroup,
        scaleSetDefaults: {
          ...(config.workerBurst?.resourceGroup ? { resourceGroup: config.workerBurst.resourceGroup } : {}),
          ...(config.workerBurst?.location ? { location: config.workerBurst.location } : {}),
        },
      }),
  );
  provide(
    options,
    TYPES.BurstManager,
    [TYPES.CapacityManager, TYPES.FrameStore, TYPES.Planner, TYPES.ServiceConfig, TYPES.Logger],
    (capacity, store, planner, config, logger) =>
      new BurstManager(capacity, store, {
        planner,
        defaultGroup: config.compute.defaultGroup,
        maxSpendPerHour: config.budget.maxSpendPerHour,
        currency: config.budget.currency,
        logger,
      }),
  );
  provideGrpc(options, [TYPES.HandlerContext, TYPES.CapacityManager], (ctx, capacity) =>
    grpcService(
      'spillway.v1.CapacityService',
      CapacityServiceService,
      capacityServiceHandlers(ctx, capacity),
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
  provideGrpc(options, [TYPES.HandlerContext, TYPES.AssetStore], (ctx, assets) =>
    grpcService('spillway.v1.AssetService', AssetServiceService, assetServiceHandlers(ctx, { assets })),
  );
});

/** The gRPC server: authentication and logging for handlers, and every bound service. */
export const serverModule = new ContainerModule((options) => {
  provide(options, TYPES.HandlerContext, [TYPES.ListenOptions, TYPES.Logger], handlerContext);
  options
    .bind<RunningServer>(TYPES.RunningServer)
    .toResolvedValue(
      (services: GrpcService[], listen: ListenOptions, logger: Logger) =>
        startServer(services, listen, logger),
      [{ serviceIdentifier: TYPES.GrpcService, isMultiple: true }, TYPES.ListenOptions, TYPES.Logger],
    )
    .inSingletonScope();
});
