/** The burst-capacity gRPC server and its building blocks. */
export { addIntrospection, type Introspection } from './introspection';
export {
  startService,
  TYPES,
  type RunningService,
  type RuntimeProviders,
  type ServiceStorage,
} from './runtime';
export {
  assetsModule,
  capacityModule,
  framesModule,
  outsideWorldModule,
  serverModule,
  type OutsideWorld,
  type Token,
} from './modules';
export {
  checkListenSecurity,
  isLoopback,
  parseListen,
  startServer,
  type ListenOptions,
  type RunningServer,
  type ServerTls,
} from './grpc/server';
export { grpcService, type GrpcService } from './grpc/service';
export { FrameDispatcher, taskIdOf, type OutputResolver, type TaskFactory } from './frames/dispatcher';
export { FrameStore, frameIdOf, jobIdOf, type FramePricing, type FrameStoreOptions } from './frames/store';
export * from './capacity';
export { SUBMIT_LIMITS, validateSubmission } from '../model/validate';
export { PLANNERS, type PlanInput, type Planner } from './burst/planner';
export { BurstManager, type BurstManagerOptions } from './burst/manager';
export { GroupLearner, LEARNING_THRESHOLDS } from './burst/learned';
export { batchCompute, embeddedProviders, localCompute, scaleSetBackend } from './embedded';
export { blobStorage, type BlobServiceStorage } from './blob-storage';
export { blobOutputResolver } from './frames/outputs';
export {
  backendJob,
  backendTask,
  blobUrl,
  createTaskFactory,
  frameCommand,
  frameLogBlob,
  OUT_DIR,
  outputPrefix,
  type FrameTaskInput,
  type TaskLocations,
} from './frames/task-factory';
