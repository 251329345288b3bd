/** The service's configuration: file plus environment, validated at start. */
export {
  loadConfig,
  configurationKeys,
  readSecretFile,
  didYouMean,
  type BudgetConfig,
  type ComputeConfig,
  type ServiceConfig,
  type StorageConfig,
  type WorkerBurstConfig,
} from './config';
