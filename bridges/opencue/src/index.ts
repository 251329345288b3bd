/**
 * `@spillway/bridge-opencue`: Azure capacity as a virtual render host in an OpenCue farm.
 * @packageDocumentation
 */
export * from './proto';
export * from './cuebot';
export { serveRqd, type RqdHandlers } from './rqd';
