/**
 * `@spillway/sdk`: burst a Deadline or OpenCue render farm into Azure and back.
 * @packageDocumentation
 */
export * as wire from './wire';
export * from './service';
export * from './compute';
export * from './model';
export * from './errors';
export * from './client';
export * from './template';
export { loadConfig, readSecretFile, type ServiceConfig } from './config';
export { createLogger, redact, silentLogger, type Logger, type LogLevel } from './logging';
export * as scaleset from './compute/scaleset';
export {
  startBatchEmulator,
  type BatchEmulator,
  type BatchEmulatorOptions,
  type BatchFaultOptions,
} from './emulate/batch';
export * as storage from './storage';
export * as policy from './policy';
export * as testing from './testing';
export { backoffMs, DEFAULT_BACKOFF, retry, sleep, type BackoffOptions, type RetryOptions } from './retry';
