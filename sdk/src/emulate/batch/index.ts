/** A local Azure Batch endpoint over the local engine: `spillway emulate batch`. */
export {
  BATCH_API_VERSION,
  DEFAULT_BATCH_ACCOUNT,
  DEFAULT_BATCH_KEY,
  DEFAULT_BATCH_QUOTA,
  DEFAULT_RESIZE_TIME_MS,
  MAX_COLLECTION_BYTES,
  MAX_TASKS_PER_COLLECTION,
  startBatchEmulator,
  type BatchEmulator,
  type BatchEmulatorOptions,
  type BatchEmulatorRecords,
} from './server';
export { FaultPlan, type BatchFaultOptions, type FaultDecision, type ScriptedFault } from './faults';
export {
  checkAuthorization,
  parseQuery,
  stringToSign,
  type AuthResult,
  type SignedRequest,
  type SigningVariant,
} from './auth';
export { ODataSyntaxError, applySelect, parseFilter, parseSelect, type Filter } from './odata';
export {
  AutoScaleEvaluationError,
  AutoScaleSyntaxError,
  evaluateFormula,
  parseFormula,
  type AutoScaleInputs,
  type AutoScaleOutcome,
} from './autoscale';
export { Router, type Route, type RouteMatch, type RouteRequest } from './router';
