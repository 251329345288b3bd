/**
 * Compute backends: the contract, the local engine (`local`, the embedded
 * default), Azure Batch (`batch`) and VM Scale Sets (`scaleset`, also
 * `@spillway/sdk/compute/scaleset`).
 */
export * from './backend';
export {
  BackendRegistry,
  backendQueryOf,
  RoutedComputeBackend,
  type BackendQuery,
  type BurstModeName,
  type RegisteredBackend,
} from './registry';
export {
  EngineError,
  LocalComputeBackend,
  LocalEngine,
  RENDER_NICENESS,
  shellCommand,
  type LocalComputeBackendOptions,
  type LocalEngineOptions,
} from './local';
export {
  BatchComputeBackend,
  BatchError,
  frameOutputFiles,
  type BatchComputeBackendOptions,
  type BatchSharedKey,
} from './batch';
export * as scaleset from './scaleset';
export {
  ArmBatchQuotaSource,
  BATCH_MANAGEMENT_API_VERSION,
  fixedBatchQuotas,
  QuotaExceededError,
  QuotaReadError,
  type ArmBatchQuotaSourceOptions,
  type BatchAccountQuotas,
  type BatchQuotaSource,
  type QuotaName,
} from './quota';
export { vmSizeCores } from './vm-sizes';
