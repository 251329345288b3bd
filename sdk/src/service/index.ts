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
export { SUBMIT_LIMITS, validateSubmission } from '../model/validate';
export type { FarmReport, PlanInput, PlanOutput, Planner, PlannerGroup, ReportedJob } from './burst/planner';
export { simpleRule } from './burst/simple-rule';
export { embeddedProviders, EmbeddedComputeBackend, localCompute, scaleSetBackend } from './embedded';
export { blobStorage, outputPrefix, type BlobStorageOptions } from './blob-storage';
