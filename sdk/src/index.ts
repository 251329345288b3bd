/**
 * `@spillway/sdk`: burst a Deadline or OpenCue render farm into Azure and back.
 * @packageDocumentation
 */
export * as wire from './wire';
export * from './service';
export * from './compute';
