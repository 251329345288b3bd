/**
 * `@spillway/bridge-deadline`: overflow frames from a Thinkbox Deadline farm into Spillway
 * and back. The testing harness (fake Web Service, simulated workers, a Blender scene
 * generator) is `@spillway/bridge-deadline/testing`.
 * @packageDocumentation
 */
export * from './webservice';
export * from './commands';
export * from './bridge';
export { main as runCli, HELP as CLI_HELP } from './cli/main';
