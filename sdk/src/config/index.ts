/** The service's configuration: file plus environment, validated at start. */
export {
  loadConfig,
  readSecretFile,
  type ComputeConfig,
  type ServiceConfig,
  type StorageConfig,
  type WorkerBurstConfig,
} from './config';
