/** The Azure Batch backend over `@azure/batch`. */
export { BatchComputeBackend, type BatchComputeBackendOptions, type BatchSharedKey } from './backend';
export { BATCH_BACKOFF, BatchError, isRetryable, toBatchError } from './errors';
export { mapLimit } from './limit';
/** Batch's limits, validators, node states and durations (shared with the local engine). */
export * from '../batch-vocabulary';
export { chunkTasks, sameTask, taskInfoFromWire, toWireJob, toWirePool, toWireTask } from './wire';
export { frameOutputFiles } from './outputs';
