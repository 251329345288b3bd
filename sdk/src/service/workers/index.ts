/** Worker burst in the service: cloud workers join, drain and leave; evictions are metered. */
export {
  WorkerBurstCoordinator,
  isWorkerBurstBackend,
  type EvictedWorkSink,
  type WorkerBurstBackend,
  type WorkerBurstCoordinatorOptions,
} from './coordinator';
export {
  planWorkers,
  type LeftNode,
  type WorkerDisposition,
  type WorkerOrder,
  type WorkerPlan,
  type WorkerPlanInput,
  type WorkerView,
} from './plan';
