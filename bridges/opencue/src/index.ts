/**
 * `@spillway/bridge-opencue`: Azure capacity as a virtual render host in an OpenCue farm.
 * The testing harness (fake Cuebot, simulated hosts) is `@spillway/bridge-opencue/testing`.
 * @packageDocumentation
 */
export * from './proto';
export * from './cuebot';
export * from './host';
export { serveRqd, type RqdHandlers } from './rqd';
export { main as runCli, HELP as CLI_HELP } from './cli/main';
export * from './workers';
export { startOpenCueBridge, type OpenCueBridge } from './bridge';
