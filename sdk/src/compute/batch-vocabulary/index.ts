/**
 * Azure Batch's vocabulary, shared by everything that speaks it: the Batch backend, the
 * local engine (which behaves as Batch does) and the Batch emulator. Batch's limits and the
 * validators that enforce them, and its node states with their mapping to the contract's.
 */
export {
  BATCH_ID,
  GROUP_NAME,
  MAX_BODY_BYTES,
  MAX_COMMAND_LINE,
  MAX_NODES_PER_REMOVE,
  MAX_TASK_SLOTS,
  MAX_TASKS_PER_CALL,
  validateGroupSpec,
  validateId,
  validateJobSpec,
  validateResizeTarget,
  validateTasks,
} from './validate';
export { nodeStateOf, type BatchNodeState } from './states';
export { BATCH_FOREVER, BATCH_FOREVER_MS, formatIsoDuration, limitMs, parseIsoDuration } from './duration';
