/**
 * `@spillway/sdk`: the client of the Spillway burst-capacity service, its model and its
 * errors. Importing it loads no server, DI container, compute backend or emulator.
 *
 * The rest are subpaths, each loaded only when imported: `@spillway/sdk/service` (the gRPC
 * server and its composition), `/compute` (the backend contract, `local`, `batch`,
 * `scaleset`), `/storage`, `/policy`, `/config`, `/logging`, `/template`, `/state`,
 * `/retry`, `/wire`, `/emulate` (local Batch and ARM endpoints) and `/testing`.
 * @packageDocumentation
 */
export * from './client';
export * from './model';
export * from './errors';
export * as wire from './wire';
export { createLogger, redact, silentLogger, type Logger, type LogLevel } from './logging';
export { backoffMs, DEFAULT_BACKOFF, retry, sleep, type BackoffOptions, type RetryOptions } from './retry';
// Types the client's API speaks (type-only: nothing behind them is loaded).
export type { GroupStatus, NodeCounts, NodePriority, NodeState } from './compute/backend';
