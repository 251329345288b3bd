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
  checkListenSecurity,
  isLoopback,
  parseListen,
  type ListenOptions,
  type ServerTls,
} from './grpc/server';
export { FrameDispatcher, taskIdOf, type OutputResolver, type TaskFactory } from './frames/dispatcher';
export { FrameStore, frameIdOf, jobIdOf } from './frames/store';
export { SUBMIT_LIMITS, validateSubmission } from './frames/validate';
export { PLANNERS, type PlanInput, type Planner } from './burst/planner';
export { BurstManager, type BurstManagerOptions } from './burst/manager';
export { GroupLearner, LEARNING_THRESHOLDS } from './burst/learned';
export { embeddedProviders, EmbeddedComputeBackend, localCompute, scaleSetBackend } from './embedded';
export { blobStorage, outputPrefix, type BlobStorageOptions } from './blob-storage';
export { writeFileAtomic } from './state/atomic-file';
