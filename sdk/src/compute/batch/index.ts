/** The Azure Batch backend over `@azure/batch`. */
export { BatchComputeBackend, type BatchComputeBackendOptions, type BatchSharedKey } from './backend';
export { BatchError, isRetryable, toBatchError } from './errors';
export { backoffMs, mapLimit, withRetry, type RetryOptions } from './retry';
export {
  MAX_BODY_BYTES,
  MAX_COMMAND_LINE,
  MAX_NODES_PER_REMOVE,
  MAX_TASKS_PER_CALL,
  validateGroupSpec,
  validateId,
  validateJobSpec,
  validateResizeTarget,
  validateTasks,
} from './validate';
export {
  chunkTasks,
  isoDuration,
  sameTask,
  taskInfoFromWire,
  toWireJob,
  toWirePool,
  toWireTask,
} from './wire';
export { frameOutputFiles } from './outputs';
