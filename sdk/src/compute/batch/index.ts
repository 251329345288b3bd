/** The Azure Batch backend over `@azure/batch`. */
export { BatchComputeBackend, type BatchComputeBackendOptions, type BatchSharedKey } from './backend';
export { BATCH_BACKOFF, BatchError, isRetryable, toBatchError } from './errors';
export { mapLimit } from './limit';
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
