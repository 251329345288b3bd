/** The service's configuration: file plus environment, validated at start. */
export {
  loadConfig,
  readSecretFile,
  didYouMean,
  type BudgetConfig,
  type ComputeConfig,
  type ServiceConfig,
  type StorageConfig,
  type WorkerBurstConfig,
} from './config';
